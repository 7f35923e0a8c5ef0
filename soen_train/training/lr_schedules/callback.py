"""Applying a schedule in training: the hooks of ``LRSchedulerCallback`` (Lightning-free) and
the optimiser helpers they share with the loss-weight schedules."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from soen_train.loop_policy.step_logging import logs_step
from soen_train.training.lr_schedules.base import CONFIG_PATH, LR_SCHEDULES, LRSchedule
from soen_train.training.lr_schedules.building import build_lr_schedule, validate_lr_schedule


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
        if logs_step(step, trainer.log_every_n_steps or 1):
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


def lazy_callback_getattr(namespace: dict[str, Any], name: str, hooks: type) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that creates callback ``name`` from ``hooks`` on first
    access and caches it in ``namespace`` (the module's globals), so Lightning is imported only
    when the callback is used."""

    def __getattr__(attr: str) -> Any:
        if attr == name:
            cls = make_lightning_callback(name, hooks)
            namespace[name] = cls
            return cls
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {attr!r}")

    return __getattr__


