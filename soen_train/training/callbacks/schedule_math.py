"""Where a callback's linear ramp stands: progress through an epoch window and the ramped value.

All dynamic callbacks share one rule (the original toolkit's): a ramp runs over epochs
``start_epoch .. end_epoch`` (both included; ``end_epoch`` None = the last epoch), either
per optimiser step or per epoch (``schedule_progress``, shared with the loss-weight
schedules). Epoch-only ramps (sequence length, pooling scale) reach their end value at
``end_epoch``.
"""

from __future__ import annotations

from typing import Any

from soen_train.loop_policy.epoch_schedules import (
    check_epoch_window,
    epoch_progress,
    last_epoch_index,
    lerp,
    round_half_up,
    schedule_progress,
)
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


def last_epoch(trainer: Any) -> int:
    """Index of the trainer's last epoch (max_epochs - 1; 0 when unbounded or unknown)."""
    return last_epoch_index(getattr(trainer, "max_epochs", None))


def ramp_progress(
    trainer: Any, pl_module: Any, start_epoch: int, end_epoch: int | None, per_step: bool
) -> float:
    """Progress p in [0, 1] of a ramp at the trainer's current step (per_step) or epoch."""
    end = last_epoch(trainer) if end_epoch is None else end_epoch
    if per_step:
        spe = optimizer_steps_per_epoch(trainer, pl_module)
        return schedule_progress(trainer.global_step, start_epoch, end, spe, per_step=True)
    return schedule_progress(trainer.current_epoch, start_epoch, end, 1, per_step=False)
