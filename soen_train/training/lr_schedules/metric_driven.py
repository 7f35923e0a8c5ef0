"""Metric-driven LR schedules: ``greedy`` and ``adaptive`` (state saved in checkpoints)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from soen_train.registry import did_you_mean
from soen_train.training.losses.param_checks import (
    check_choice,
    check_number,
)
from soen_train.training.lr_schedules.base import LRSchedule, register_lr_schedule


class MetricDrivenSchedule(LRSchedule):
    """Shared logic of ``greedy`` and ``adaptive``: grow the LR while a metric improves.

    After warm-up (linear from warmup_start_lr to max_lr over warmup_epochs) the LR starts at
    max_lr. At each validation end the monitored metric is compared with the best so far
    (better: v < best (1 - threshold) for min mode / v > best (1 + threshold) for max mode,
    or best -/+ threshold in abs mode). ``patience_increase`` consecutive improvements
    multiply the LR by ``increase_factor`` (capped at max_lr); ``patience_decrease``
    consecutive non-improvements multiply it by ``decrease_factor`` (floored at min_lr).
    After a change, ``cooldown`` evaluations are skipped.
    """

    stateful = True

    def _setup(
        self, *, available_metrics: Iterable[str], monitor_metric: str, mode: str, min_lr: float,
        max_lr: float, warmup_epochs: float, warmup_start_lr: float, increase_factor: float,
        decrease_factor: float, patience_increase: int, patience_decrease: int,
        threshold: float, threshold_mode: str, cooldown: int, names: Mapping[str, str],
    ) -> None:
        """Validate and store settings; ``names`` maps setting -> config key for messages."""
        o = self.owner
        available = sorted(str(m) for m in available_metrics)
        if not isinstance(monitor_metric, str) or monitor_metric not in available:
            raise ValueError(
                f"{o}: monitor_metric '{monitor_metric}' is not a logged metric"
                f"{did_you_mean(str(monitor_metric), available)}; "
                f"available: {', '.join(available) or '(none)'}"
            )
        self.monitor_metric = monitor_metric
        check_choice(o, "mode", mode, ("auto", "min", "max"))
        if mode == "auto":
            lowered = monitor_metric.lower()
            mode = "min" if ("loss" in lowered or "error" in lowered) else "max"
        self.mode = mode
        self.max_lr = check_number(o, "max_lr", max_lr, minimum=0.0, min_inclusive=False)
        self.min_lr = check_number(o, "min_lr", min_lr, minimum=0.0, maximum=self.max_lr)
        self.warmup_steps = check_number(o, "warmup_epochs", warmup_epochs, minimum=0.0) * self.steps_per_epoch
        self.warmup_start_lr = check_number(o, "warmup_start_lr", warmup_start_lr, minimum=0.0)
        self.increase_factor = check_number(o, names["increase_factor"], increase_factor, minimum=1.0)
        self.decrease_factor = check_number(
            o, names["decrease_factor"], decrease_factor, minimum=0.0, maximum=1.0, min_inclusive=False
        )
        self.patience_increase = int(check_number(o, names["patience_increase"], patience_increase, minimum=1, integer=True))
        self.patience_decrease = int(check_number(o, names["patience_decrease"], patience_decrease, minimum=1, integer=True))
        self.threshold = check_number(o, "threshold", threshold, minimum=0.0)
        self.threshold_mode = check_choice(o, "threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = int(check_number(o, "cooldown", cooldown, minimum=0, integer=True))
        self.current_lr = self.max_lr
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_good = 0
        self.num_bad = 0
        self.cooldown_left = 0

    def lr_at(self, step: int) -> float:
        s = max(0, int(step))
        if s < self.warmup_steps:
            return self.warmup_start_lr + (self.max_lr - self.warmup_start_lr) * s / self.warmup_steps
        return self.current_lr

    def is_better(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by the threshold."""
        if math.isinf(self.best):
            return True
        if self.threshold_mode == "rel":
            if self.mode == "min":
                return value < self.best * (1.0 - self.threshold)
            return value > self.best * (1.0 + self.threshold)
        if self.mode == "min":
            return value < self.best - self.threshold
        return value > self.best + self.threshold

    def on_validation_end(self, metrics: Mapping[str, Any], step: int | None = None) -> None:  # noqa: B027
        """Update counters from ``metrics[monitor_metric]`` and change the LR when patience runs out.

        ``step`` (the optimiser step) lets the schedule ignore evaluations during warm-up
        apart from recording the best value.
        """
        if self.monitor_metric not in metrics:
            raise KeyError(
                f"{self.owner}: metric '{self.monitor_metric}' was not logged at validation end; "
                f"logged: {', '.join(sorted(metrics)) or '(none)'}"
            )
        value = float(metrics[self.monitor_metric])
        if math.isnan(value):
            return
        if step is not None and step < self.warmup_steps:
            if self.is_better(value):
                self.best = value
            return
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            return
        if self.is_better(value):
            self.best = value
            self.num_good += 1
            self.num_bad = 0
        else:
            self.num_bad += 1
            self.num_good = 0
        if self.num_good >= self.patience_increase:
            self.current_lr = min(self.current_lr * self.increase_factor, self.max_lr)
            self.num_good = 0
            self.cooldown_left = self.cooldown
        elif self.num_bad >= self.patience_decrease:
            self.current_lr = max(self.current_lr * self.decrease_factor, self.min_lr)
            self.num_bad = 0
            self.cooldown_left = self.cooldown

    def state_dict(self) -> dict[str, Any]:
        return {
            "current_lr": self.current_lr, "best": self.best, "num_good": self.num_good,
            "num_bad": self.num_bad, "cooldown_left": self.cooldown_left,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027
        self.current_lr = float(state["current_lr"])
        self.best = float(state["best"])
        self.num_good = int(state["num_good"])
        self.num_bad = int(state["num_bad"])
        self.cooldown_left = int(state["cooldown_left"])


@register_lr_schedule("greedy")
class GreedySchedule(MetricDrivenSchedule):
    """Raise the LR by factor_increase after every improvement of the monitored metric
    (val_loss by default), lower it by factor_decrease after ``patience`` evaluations
    without one; clamped to [min_lr, max_lr], starting at max_lr."""

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *,
        available_metrics: Sequence[str], factor_increase: float = 1.1,
        factor_decrease: float = 0.9, patience: int = 3, min_lr: float = 1e-6,
        max_lr: float = 0.01, warmup_epochs: float = 0, warmup_start_lr: float = 1e-6,
        monitor_metric: str = "val_loss", threshold: float = 0.0,
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        self._setup(
            available_metrics=available_metrics, monitor_metric=monitor_metric, mode="auto",
            min_lr=min_lr, max_lr=max_lr, warmup_epochs=warmup_epochs,
            warmup_start_lr=warmup_start_lr, increase_factor=factor_increase,
            decrease_factor=factor_decrease, patience_increase=1, patience_decrease=patience,
            threshold=threshold, threshold_mode="rel", cooldown=0,
            names={"increase_factor": "factor_increase", "decrease_factor": "factor_decrease",
                   "patience_increase": "patience", "patience_decrease": "patience"},
        )


@register_lr_schedule("adaptive")
class AdaptiveSchedule(MetricDrivenSchedule):
    """Metric-driven LR with separate patience for increases and decreases, thresholds and cooldown."""

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *,
        available_metrics: Sequence[str], monitor_metric: str = "val_loss", mode: str = "auto",
        max_lr: float = 1e-3, min_lr: float = 1e-6, warmup_epochs: float = 3,
        warmup_start_lr: float = 1e-7, increase_factor: float = 1.2, decrease_factor: float = 0.7,
        patience_increase: int = 3, patience_decrease: int = 5, threshold: float = 1e-4,
        threshold_mode: str = "rel", cooldown: int = 0,
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        self._setup(
            available_metrics=available_metrics, monitor_metric=monitor_metric, mode=mode,
            min_lr=min_lr, max_lr=max_lr, warmup_epochs=warmup_epochs,
            warmup_start_lr=warmup_start_lr, increase_factor=increase_factor,
            decrease_factor=decrease_factor, patience_increase=patience_increase,
            patience_decrease=patience_decrease, threshold=threshold,
            threshold_mode=threshold_mode, cooldown=cooldown,
            names={k: k for k in ("increase_factor", "decrease_factor", "patience_increase",
                                  "patience_decrease")},
        )


