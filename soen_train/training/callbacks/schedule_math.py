"""Where a callback's linear ramp stands: progress through an epoch window and the ramped value.

All dynamic callbacks share one rule (the original toolkit's): a ramp runs over epochs
``start_epoch .. end_epoch`` (both included; ``end_epoch`` None = the last epoch), either
per optimiser step or per epoch (``schedule_progress``, shared with the loss-weight
schedules). Epoch-only ramps (sequence length, pooling scale) reach their end value at
``end_epoch``.
"""

from __future__ import annotations

import math
from typing import Any

from soen_train.training.loss_weight_schedules import schedule_progress
from soen_train.training.lr_schedules import optimizer_steps_per_epoch

__all__ = [
    "check_epoch_window",
    "epoch_progress",
    "last_epoch",
    "lerp",
    "ramp_progress",
    "round_half_up",
    "schedule_progress",
]


def check_epoch_window(setting: str, start_epoch: Any, end_epoch: Any) -> None:
    """Raise ``ValueError`` naming ``setting`` unless 0 <= start_epoch <= end_epoch (or None)."""
    if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) or start_epoch < 0:
        raise ValueError(f"{setting}: start_epoch = {start_epoch!r} must be an integer >= 0")
    if end_epoch is None:
        return
    if isinstance(end_epoch, bool) or not isinstance(end_epoch, int) or end_epoch < start_epoch:
        raise ValueError(
            f"{setting}: end_epoch = {end_epoch!r} must be an integer >= start_epoch ({start_epoch}) "
            "or null (= the last epoch)"
        )


def last_epoch(trainer: Any) -> int:
    """Index of the trainer's last epoch (max_epochs - 1; 0 when unbounded or unknown)."""
    max_epochs = getattr(trainer, "max_epochs", None)
    if max_epochs is None or max_epochs < 1:
        return 0
    return int(max_epochs) - 1


def epoch_progress(epoch: int, start_epoch: int, end_epoch: int) -> float:
    """0 up to start_epoch, 1 from end_epoch on, linear in between (epoch granularity)."""
    return schedule_progress(epoch, start_epoch, end_epoch, 1, per_step=False)


def ramp_progress(
    trainer: Any, pl_module: Any, start_epoch: int, end_epoch: int | None, per_step: bool
) -> float:
    """Progress p in [0, 1] of a ramp at the trainer's current step (per_step) or epoch."""
    end = last_epoch(trainer) if end_epoch is None else end_epoch
    if per_step:
        spe = optimizer_steps_per_epoch(trainer, pl_module)
        return schedule_progress(trainer.global_step, start_epoch, end, spe, per_step=True)
    return schedule_progress(trainer.current_epoch, start_epoch, end, 1, per_step=False)


def lerp(start: float, end: float, p: float) -> float:
    """start + p (end - start)."""
    return start + p * (end - start)


def round_half_up(value: float) -> int:
    """Nearest integer, halves rounded up (not Python's round-half-to-even)."""
    return math.floor(value + 0.5)
