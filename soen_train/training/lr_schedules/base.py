"""The LR schedule interface (:class:`LRSchedule`) and its catalog ``LR_SCHEDULES``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from soen_train.registry import Registry
from soen_train.training.losses.param_checks import check_number

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
LR_SCHEDULES: Registry[type[LRSchedule]] = Registry("lr scheduler", exclude=CONTEXT_ARGS)


#: Class decorator: name the schedule and add it to ``LR_SCHEDULES``.
register_lr_schedule = LR_SCHEDULES.register_named

