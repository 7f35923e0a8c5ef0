"""Learning-rate schedules and the Lightning callback that applies them every optimiser step.

``constant``, ``linear``, ``cosine`` and ``rex`` are pure functions of the optimiser step:
``lr_at(step)`` with step 0 the first batch (no one-batch lag). ``greedy`` and ``adaptive``
react to validation metrics (``on_validation_end``) and carry state that is saved in
checkpoints. Epoch-valued params (warm-up, cycle length) are converted to optimiser steps
with ``steps_per_epoch``. Every schedule describes the base LR; parameter groups keep their
ratio to it (``lr_scale``).
"""

from __future__ import annotations

# imported to register the schedules
from soen_train.training.lr_schedules import curves, metric_driven  # noqa: F401
from soen_train.training.lr_schedules.base import (
    CONFIG_PATH,
    CONTEXT_ARGS,
    LR_SCHEDULES,
    LRSchedule,
    register_lr_schedule,
)
from soen_train.training.lr_schedules.building import (
    build_lr_schedule,
    schedule_parameters,
    validate_lr_schedule,
)
from soen_train.training.lr_schedules.callback import (
    LRSchedulerHooks,
    lazy_callback_getattr,
    make_lightning_callback,
    optimizer_steps_per_epoch,
    set_optimizer_lr,
)

__all__ = [
    "CONFIG_PATH",
    "CONTEXT_ARGS",
    "LR_SCHEDULES",
    "LRSchedule",
    "LRSchedulerHooks",
    "build_lr_schedule",
    "lazy_callback_getattr",
    "make_lightning_callback",
    "optimizer_steps_per_epoch",
    "register_lr_schedule",
    "schedule_parameters",
    "set_optimizer_lr",
    "validate_lr_schedule",
]


#: Creates ``LRSchedulerCallback`` lazily (importing Lightning only when it is used).
__getattr__ = lazy_callback_getattr(globals(), "LRSchedulerCallback", LRSchedulerHooks)
