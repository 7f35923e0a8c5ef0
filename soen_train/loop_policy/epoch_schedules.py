"""Linear ramps over an epoch window: the rule of every epoch schedule (sequence length, pooling scale).

``schedule_progress`` is the progress through such a window, per optimiser step or per
epoch (shared with the loss-weight schedules and the annealing callbacks). A ramp runs over epochs ``start_epoch .. end_epoch`` (both included; ``end_epoch`` None = the
last epoch of the run, ``max_epochs - 1``): the value is ``start`` up to ``start_epoch``,
``end`` from ``end_epoch`` on, linear in between. Lengths are rounded half up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional


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


def last_epoch_index(max_epochs: Optional[int]) -> int:
    """Index of a run's last epoch: ``max_epochs - 1`` (0 when unbounded or unknown)."""
    if max_epochs is None or max_epochs < 1:
        return 0
    return int(max_epochs) - 1


def schedule_progress(
    position: float, start_epoch: int, end_epoch: int, steps_per_epoch: int, per_step: bool
) -> float:
    """Progress p in [0, 1] of a schedule over epochs [start_epoch, end_epoch], both included.

    Per step (``position`` = optimiser step): s0 = start * spe, s1 = max(end, start) * spe +
    spe - 1. Per epoch (``position`` = epoch): s0 = start, s1 = max(end, start). p = 0 up to
    s0, 1 from s1 on, (position - s0) / max(1, s1 - s0) in between.
    """
    end = max(end_epoch, start_epoch)
    if per_step:
        s0 = start_epoch * steps_per_epoch
        s1 = end * steps_per_epoch + steps_per_epoch - 1
    else:
        s0, s1 = start_epoch, end
    if position <= s0:
        return 0.0
    if position >= s1:
        return 1.0
    return (position - s0) / max(1, s1 - s0)


def epoch_progress(epoch: int, start_epoch: int, end_epoch: int) -> float:
    """0 up to ``start_epoch``, 1 from ``end_epoch`` on, linear in between (epoch granularity)."""
    return schedule_progress(epoch, start_epoch, end_epoch, 1, per_step=False)


def lerp(start: float, end: float, p: float) -> float:
    """start + p (end - start)."""
    return start + p * (end - start)


def round_half_up(value: float) -> int:
    """Nearest integer, halves rounded up (not Python's round-half-to-even)."""
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class EpochRamp:
    """A linear ramp from ``start`` to ``end`` over epochs ``start_epoch .. end_epoch``."""

    start: float
    end: float
    start_epoch: int = 0
    end_epoch: Optional[int] = None  # None: the run's last epoch

    def progress(self, epoch: int, max_epochs: Optional[int]) -> float:
        """Progress p in [0, 1] at ``epoch`` of a ``max_epochs``-epoch run."""
        end = self.end_epoch if self.end_epoch is not None else last_epoch_index(max_epochs)
        return epoch_progress(epoch, self.start_epoch, end)

    def value_at(self, epoch: int, max_epochs: Optional[int]) -> float:
        """The ramped value at ``epoch``."""
        return lerp(self.start, self.end, self.progress(epoch, max_epochs))

    def length_at(self, epoch: int, max_epochs: Optional[int]) -> int:
        """The ramped value at ``epoch`` as a whole number (a sequence length), halves up."""
        return round_half_up(self.value_at(epoch, max_epochs))
