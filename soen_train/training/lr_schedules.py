"""Learning-rate schedules and the Lightning callback that applies them every optimiser step.

``constant``, ``linear``, ``cosine`` and ``rex`` are pure functions of the optimiser step:
``lr_at(step)`` with step 0 the first batch (no one-batch lag). ``greedy`` and ``adaptive``
react to validation metrics (``on_validation_end``) and carry state that is saved in
checkpoints. Epoch-valued params (warm-up, cycle length) are converted to optimiser steps
with ``steps_per_epoch``. Every schedule describes the base LR; parameter groups keep their
ratio to it (``lr_scale``).
"""

from __future__ import annotations

import inspect
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from soen_train.registry import Registry, UnknownNameError, closest
from soen_train.training.losses.param_checks import (
    check_bool,
    check_choice,
    check_known_params,
    check_number,
)

#: Constructor arguments that come from the trainer, not from the config.
CONTEXT_ARGS = ("base_lr", "steps_per_epoch", "max_epochs", "available_metrics")

#: Where the scheduler lives in the config, used in error messages.
CONFIG_PATH = "callbacks.lr_scheduler"


class LRSchedule(ABC):
    """Base class: the LR (base group) for any optimiser step."""

    name = "base"
    #: True for schedules driven by validation metrics (state saved in checkpoints).
    stateful = False

    def __init__(self, base_lr: float, steps_per_epoch: float, max_epochs: int) -> None:
        owner = f"lr schedule '{self.name}'"
        self.base_lr = check_number(owner, "base_lr", base_lr, minimum=0.0, min_inclusive=False)
        self.steps_per_epoch = check_number(
            owner, "steps_per_epoch", steps_per_epoch, minimum=0.0, min_inclusive=False
        )
        self.max_epochs = int(check_number(owner, "max_epochs", max_epochs, minimum=1, integer=True))
        self.total_steps = self.max_epochs * self.steps_per_epoch

    @property
    def owner(self) -> str:
        return f"{CONFIG_PATH} '{self.name}'"

    @abstractmethod
    def lr_at(self, step: int) -> float:
        """LR (base group) for optimiser step ``step`` (0 = first batch)."""

    def on_validation_end(self, metrics: Mapping[str, Any], step: int | None = None) -> None:  # noqa: B027
        """React to end-of-validation metrics (only metric-driven schedules do)."""

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (empty for pure schedules: the step determines the LR)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027
        """Restore what ``state_dict`` returned."""


#: Catalog of LR schedule classes.
LR_SCHEDULES: Registry[type[LRSchedule]] = Registry("lr scheduler")


def _register(name: str, *aliases: str):
    def deco(cls: type[LRSchedule]) -> type[LRSchedule]:
        cls.name = name
        return LR_SCHEDULES.register(name, *aliases)(cls)

    return deco


@_register("constant")
class ConstantSchedule(LRSchedule):
    """A fixed LR: ``lr``, or the optimiser's LR when ``lr`` is not given."""

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *, lr: float | None = None
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        if lr is not None:
            check_number(self.owner, "lr", lr, minimum=0.0, min_inclusive=False)
        self.lr = float(lr) if lr is not None else self.base_lr

    def lr_at(self, step: int) -> float:
        return self.lr


@_register("linear")
class LinearSchedule(LRSchedule):
    """From max_lr at step 0 towards min_lr at the end of training.

    p = min(1, step / N) with N = max_epochs * steps_per_epoch; lr = max_lr - p (max_lr -
    min_lr), or with ``log_space`` lr = exp(ln max_lr - p (ln max_lr - ln min_lr)).
    """

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *,
        max_lr: float = 1e-3, min_lr: float = 1e-6, log_space: bool = False,
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        self.max_lr = check_number(self.owner, "max_lr", max_lr, minimum=0.0, min_inclusive=False)
        self.log_space = check_bool(self.owner, "log_space", log_space)
        self.min_lr = check_number(
            self.owner, "min_lr", min_lr, minimum=0.0, maximum=self.max_lr,
            min_inclusive=not self.log_space,
        )

    def lr_at(self, step: int) -> float:
        p = min(1.0, max(0, step) / self.total_steps)
        if self.log_space:
            lr = math.exp(math.log(self.max_lr) - p * (math.log(self.max_lr) - math.log(self.min_lr)))
        else:
            lr = self.max_lr - p * (self.max_lr - self.min_lr)
        return max(lr, self.min_lr)


@_register("cosine")
class CosineSchedule(LRSchedule):
    """Linear warm-up from min_lr to max_lr, then cosine cycles with optional restarts.

    Warm-up: lr = min + (max - min) n / W for n < W = warmup_epochs * steps_per_epoch.
    Cycle k lasts L_k = cycle_epochs * period_decay^k epochs (at least one step); its peak is
    M_k = max_lr * restart_decay^k and amplitude A_k = max(0, (M_k - min_lr) amplitude_decay^k).
    With p the progress in the cycle: lr = min_lr + A_k (1 + cos(pi p)) / 2, or with
    ``soft_restart`` a full period (1 + cos(2 pi p)) / 2 whose amplitude slides from A_k to
    A_{k+1} when amplitude_decay < 1. Without restarts one cycle runs, then lr stays at
    min_lr. ``adjust_on_batch: false`` changes the LR only at epoch starts;
    ``batches_per_adjustment`` a holds it for blocks of a steps.
    """

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *,
        max_lr: float = 1e-3, min_lr: float = 1e-6, warmup_epochs: float = 5,
        cycle_epochs: float = 50, enable_restarts: bool = True, restart_decay: float = 1.0,
        period_decay: float = 1.0, amplitude_decay: float = 1.0, soft_restart: bool = False,
        adjust_on_batch: bool = True, batches_per_adjustment: int = 1,
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        o = self.owner
        self.max_lr = check_number(o, "max_lr", max_lr, minimum=0.0, min_inclusive=False)
        self.min_lr = check_number(o, "min_lr", min_lr, minimum=0.0, maximum=self.max_lr)
        self.warmup_epochs = check_number(o, "warmup_epochs", warmup_epochs, minimum=0.0)
        self.cycle_epochs = check_number(o, "cycle_epochs", cycle_epochs, minimum=0.0, min_inclusive=False)
        self.enable_restarts = check_bool(o, "enable_restarts", enable_restarts)
        self.restart_decay = check_number(o, "restart_decay", restart_decay, minimum=0.0, maximum=1.0)
        self.period_decay = check_number(o, "period_decay", period_decay, minimum=0.0, min_inclusive=False)
        self.amplitude_decay = check_number(o, "amplitude_decay", amplitude_decay, minimum=0.0, maximum=1.0)
        self.soft_restart = check_bool(o, "soft_restart", soft_restart)
        self.adjust_on_batch = check_bool(o, "adjust_on_batch", adjust_on_batch)
        self.batches_per_adjustment = int(
            check_number(o, "batches_per_adjustment", batches_per_adjustment, minimum=1, integer=True)
        )
        if self.soft_restart and not self.enable_restarts:
            raise ValueError(f"{o}: soft_restart needs enable_restarts: true (it rises back to a restart)")
        self.warmup_steps = self.warmup_epochs * self.steps_per_epoch
        self.first_cycle_steps = max(self.cycle_epochs * self.steps_per_epoch, 1.0)

    def _adjusted_step(self, step: int) -> float:
        """The step whose LR applies: the start of the current epoch or adjustment block."""
        step = max(0, int(step))
        if not self.adjust_on_batch:
            return math.floor(step / self.steps_per_epoch) * self.steps_per_epoch
        return (step // self.batches_per_adjustment) * self.batches_per_adjustment

    def cycle_position(self, u: float) -> tuple[int, float]:
        """(cycle index k, progress p in [0, 1]) for u steps after warm-up."""
        first = self.first_cycle_steps
        if not self.enable_restarts:
            return 0, min(u / first, 1.0)
        decay = self.period_decay
        if decay == 1.0:
            k = int(u // first)
            return k, (u - k * first) / first
        k, start = 0, 0.0
        while True:
            length = first * decay**k
            if length <= 1.0 and decay < 1.0:
                # Cycles no longer shrink below one step: the rest is one-step cycles.
                extra = math.floor(u - start)
                return k + extra, (u - start) - extra
            if u < start + length:
                return k, (u - start) / length
            start += length
            k += 1

    def amplitude(self, k: int) -> float:
        """A_k = max(0, (max_lr restart_decay^k - min_lr) amplitude_decay^k)."""
        peak = self.max_lr * self.restart_decay**k
        return max(0.0, (peak - self.min_lr) * self.amplitude_decay**k)

    def lr_at(self, step: int) -> float:
        n = self._adjusted_step(step)
        if n < self.warmup_steps:
            return self.min_lr + (self.max_lr - self.min_lr) * n / self.warmup_steps
        k, p = self.cycle_position(n - self.warmup_steps)
        if self.soft_restart:
            shape = (1.0 + math.cos(2.0 * math.pi * p)) / 2.0
            amp = self.amplitude(k)
            if self.amplitude_decay < 1.0:
                amp = amp * (1.0 - p) + self.amplitude(k + 1) * p
        else:
            shape = (1.0 + math.cos(math.pi * p)) / 2.0
            amp = self.amplitude(k)
        return max(self.min_lr + amp * shape, self.min_lr)


@_register("rex")
class RexSchedule(LRSchedule):
    """REX decay after an optional cosine-shaped warm-up.

    eta0 = max_lr, or the optimiser's LR when max_lr is not given. Warm-up (step <= W):
    lr = warmup_start_lr + (eta0 - warmup_start_lr) (1 - cos(pi step / W)) / 2. Then with
    z = clamp((step - W) / (N - W), 0, 1): lr = min_lr + (eta0 - min_lr) (1 - z) / (0.5 + 0.5 (1 - z)).
    """

    def __init__(
        self, base_lr: float, steps_per_epoch: float, max_epochs: int, *,
        warmup_epochs: float = 0, warmup_start_lr: float = 1e-6, min_lr: float = 0.0,
        max_lr: float | None = None,
    ) -> None:
        super().__init__(base_lr, steps_per_epoch, max_epochs)
        o = self.owner
        self.warmup_epochs = check_number(o, "warmup_epochs", warmup_epochs, minimum=0.0)
        self.warmup_start_lr = check_number(o, "warmup_start_lr", warmup_start_lr, minimum=0.0)
        if max_lr is not None:
            check_number(o, "max_lr", max_lr, minimum=0.0, min_inclusive=False)
        self.peak_lr = float(max_lr) if max_lr is not None else self.base_lr
        self.min_lr = check_number(o, "min_lr", min_lr, minimum=0.0, maximum=self.peak_lr)
        self.warmup_steps = self.warmup_epochs * self.steps_per_epoch

    def lr_at(self, step: int) -> float:
        s = max(0, int(step))
        w = self.warmup_steps
        if w > 0 and s <= w:
            ramp = (1.0 - math.cos(math.pi * s / w)) / 2.0
            return self.warmup_start_lr + (self.peak_lr - self.warmup_start_lr) * ramp
        span = self.total_steps - w
        z = 1.0 if span <= 0 else min(max((s - w) / span, 0.0), 1.0)
        factor = (1.0 - z) / (0.5 + 0.5 * (1.0 - z))
        return self.min_lr + (self.peak_lr - self.min_lr) * factor


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
            hint = closest(str(monitor_metric), available)
            msg = f"{o}: monitor_metric '{monitor_metric}' is not a logged metric"
            if hint:
                msg += f" (did you mean '{hint}'?)"
            msg += f"; available: {', '.join(available) or '(none)'}"
            raise ValueError(msg)
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


@_register("greedy")
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


@_register("adaptive")
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


def schedule_parameters(schedule_type: str) -> dict[str, Any]:
    """Config params of a schedule type with their defaults (trainer-supplied args excluded)."""
    cls = LR_SCHEDULES.get(schedule_type)
    out: dict[str, Any] = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.name in CONTEXT_ARGS:
            continue
        out[p.name] = p.default
    return out


def build_lr_schedule(
    schedule_type: str,
    params: Mapping[str, Any] | None = None,
    *,
    base_lr: float,
    steps_per_epoch: float,
    max_epochs: int,
    available_metrics: Iterable[str] | None = None,
) -> LRSchedule:
    """Construct schedule ``schedule_type`` with config ``params`` and the trainer's context.

    Unknown types or params raise errors listing the valid ones; metric-driven schedules
    need ``available_metrics`` (the metric names the trainer logs at validation end).
    """
    try:
        canonical = LR_SCHEDULES.canonical(str(schedule_type))
    except UnknownNameError as err:
        raise UnknownNameError(f"{CONFIG_PATH}.type: {err}") from None
    given = dict(params or {})
    check_known_params(f"{CONFIG_PATH} '{canonical}'", given, schedule_parameters(canonical))
    cls = LR_SCHEDULES.get(canonical)
    context: dict[str, Any] = {"base_lr": base_lr, "steps_per_epoch": steps_per_epoch, "max_epochs": max_epochs}
    if issubclass(cls, MetricDrivenSchedule):
        if available_metrics is None:
            raise ValueError(
                f"{CONFIG_PATH} '{canonical}' monitors a metric: pass the list of available metrics"
            )
        context["available_metrics"] = list(available_metrics)
    return cls(**context, **given)


def validate_lr_schedule(
    schedule_type: str,
    params: Mapping[str, Any] | None = None,
    available_metrics: Iterable[str] | None = None,
) -> None:
    """Check a scheduler config before training (type, param names and values, metric name)."""
    build_lr_schedule(
        schedule_type, params, base_lr=1e-3, steps_per_epoch=1, max_epochs=1,
        available_metrics=available_metrics,
    )


def optimizer_steps_per_epoch(trainer: Any, pl_module: Any = None) -> int:
    """Optimiser steps in one training epoch as the trainer will run it.

    Batches per epoch (after ``limit_train_batches``) divided by gradient accumulation,
    times ``pl_module.optimizer_steps_per_batch`` when a module steps several times per
    batch (e.g. truncated BPTT). Falls back to ``estimated_stepping_batches / max_epochs``.
    """
    batches = trainer.num_training_batches
    if isinstance(batches, (int, float)) and math.isfinite(batches) and batches > 0:
        steps = math.ceil(batches / max(1, int(getattr(trainer, "accumulate_grad_batches", 1))))
    else:
        estimated = trainer.estimated_stepping_batches
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 1
        steps = int(estimated // epochs) if math.isfinite(estimated) else 1
    per_batch = int(getattr(pl_module, "optimizer_steps_per_batch", 1) or 1)
    return max(1, steps * per_batch)


def set_optimizer_lr(optimizer: Any, lr: float) -> None:
    """Write ``lr`` (the base LR) into every param group, keeping each group's ratio to it.

    A group's LR is ``lr * lr_scale`` when it has ``lr_scale`` (set by ``build_optimizer``),
    else ``lr * initial_lr / initial_lr of group 0``, else ``lr``.
    """
    groups = optimizer.param_groups
    reference = groups[0].get("initial_lr") if groups else None
    for group in groups:
        if "lr_scale" in group:
            group["lr"] = lr * float(group["lr_scale"])
        elif reference and "initial_lr" in group:
            group["lr"] = lr * float(group["initial_lr"]) / float(reference)
        else:
            group["lr"] = lr


class LRSchedulerHooks:
    """Apply an LR schedule before every optimiser step and log it as ``lr``.

    The hooks of ``LRSchedulerCallback``, kept free of Lightning so that importing the pure
    schedules does not import Lightning (about 3 s); the callback class mixes them into
    ``lightning.pytorch.Callback`` on first use.

    The schedule is built at train start from the trainer (optimiser LR, steps per epoch,
    max_epochs); its state is saved in and restored from checkpoints so a resumed run
    continues the same curve. Metric-driven schedules update at each validation end
    (not during the sanity check).
    """

    def __init__(
        self,
        schedule_type: str = "constant",
        params: Mapping[str, Any] | None = None,
        available_metrics: Iterable[str] | None = None,
        log_name: str = "lr",
    ) -> None:
        self.params = dict(params or {})
        self.available_metrics = None if available_metrics is None else list(available_metrics)
        validate_lr_schedule(str(schedule_type), self.params, self.available_metrics)
        self.schedule_type = LR_SCHEDULES.canonical(str(schedule_type))
        self.log_name = log_name
        self.schedule: LRSchedule | None = None
        self._pending_state: dict[str, Any] | None = None

    def build(self, base_lr: float, steps_per_epoch: float, max_epochs: int) -> LRSchedule:
        """Construct the schedule for a given training length (also usable without a trainer)."""
        self.schedule = build_lr_schedule(
            self.schedule_type, self.params, base_lr=base_lr, steps_per_epoch=steps_per_epoch,
            max_epochs=max_epochs, available_metrics=self.available_metrics,
        )
        if self._pending_state is not None:
            self._restore(self._pending_state)
            self._pending_state = None
        return self.schedule

    def _restore(self, state: Mapping[str, Any]) -> None:
        assert self.schedule is not None
        saved_type = state.get("type")
        if saved_type != self.schedule_type:
            warnings.warn(
                f"{CONFIG_PATH}: checkpoint holds a '{saved_type}' schedule, the config asks for "
                f"'{self.schedule_type}'; starting the new schedule's state fresh",
                stacklevel=2,
            )
            return
        self.schedule.load_state_dict(state.get("state", {}))

    def apply(self, trainer: Any) -> float:
        """Set the LR of every optimiser for the current ``trainer.global_step``; return it."""
        assert self.schedule is not None, "LRSchedulerCallback.apply before the schedule was built"
        lr = self.schedule.lr_at(trainer.global_step)
        for optimizer in trainer.optimizers:
            set_optimizer_lr(optimizer, lr)
        return lr

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.optimizers:
            raise RuntimeError(f"{CONFIG_PATH}: the trainer has no optimiser to schedule")
        max_epochs = trainer.max_epochs
        if not max_epochs or max_epochs < 1:
            raise ValueError(
                f"{CONFIG_PATH} '{self.schedule_type}' needs a finite training.max_epochs, got {max_epochs}"
            )
        base_lr = float(trainer.optimizers[0].defaults["lr"])
        self.build(base_lr, optimizer_steps_per_epoch(trainer, pl_module), max_epochs)
        self.apply(trainer)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.apply(trainer)

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        lr = self.apply(trainer)
        # straight to the loggers at the logging cadence: `pl_module.log` costs about a
        # millisecond per call in Lightning, as much as a whole SOEN training step
        step = trainer.global_step
        if step % max(1, int(trainer.log_every_n_steps or 1)) == 0:
            for logger in trainer.loggers:
                logger.log_metrics({self.log_name: lr}, step=step)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or self.schedule is None or not self.schedule.stateful:
            return
        metrics = {
            k: float(v) for k, v in trainer.callback_metrics.items()
            if not hasattr(v, "numel") or v.numel() == 1
        }
        self.schedule.on_validation_end(metrics, step=trainer.global_step)

    def state_dict(self) -> dict[str, Any]:
        if self.schedule is None:
            return dict(self._pending_state or {"type": self.schedule_type, "state": {}})
        return {"type": self.schedule_type, "state": self.schedule.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.schedule is None:
            self._pending_state = dict(state_dict)
        else:
            self._restore(state_dict)


def make_lightning_callback(name: str, hooks: type) -> type:
    """A ``lightning.pytorch.Callback`` subclass named ``name`` with the hooks of ``hooks``.

    Lightning is imported here, on first use, not when the schedules are imported.
    """
    from lightning.pytorch import Callback

    return type(name, (hooks, Callback), {"__doc__": hooks.__doc__, "__module__": hooks.__module__})


def __getattr__(name: str) -> Any:
    """Create ``LRSchedulerCallback`` lazily (importing Lightning only when it is used)."""
    if name == "LRSchedulerCallback":
        cls = make_lightning_callback(name, LRSchedulerHooks)
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
