"""Early stopping: the run stops once the monitored value has not improved for ``patience`` checks.

One check per validation (per epoch). A value improves when it is strictly better than the
best so far (lower for ``mode="min"``); the first finite value always improves (best starts
at +inf for min, -inf for max). A non-finite value stops the run at once (nothing can improve
after a NaN); ``patience`` None or 0 never stops for lack of improvement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

MODES = ("min", "max")


def initial_best(mode: str) -> float:
    """Best value before any check: +inf when lower is better, -inf otherwise."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}; valid: {list(MODES)}")
    return math.inf if mode == "min" else -math.inf


def improves(value: float, best: float, mode: str = "min") -> bool:
    """True when ``value`` is strictly better than ``best``."""
    return value < best if mode == "min" else value > best


@dataclass(frozen=True)
class StoppingState:
    """Where the rule stands: the best value so far and the checks since it (``wait``)."""

    best: float = math.inf
    wait: int = 0


@dataclass(frozen=True)
class StoppingDecision:
    """The outcome of one check: the new state, whether it improved, whether to stop and why."""

    state: StoppingState
    improved: bool
    stop: bool
    reason: Optional[str] = None


def early_stopping_check(
    state: StoppingState, value: float, patience: Optional[int], mode: str = "min",
    monitor: str = "val_loss",
) -> StoppingDecision:
    """Apply one validation's ``value`` of ``monitor`` to ``state``.

    Args:
        state: the best value and wait count before this check.
        value: this validation's value of the monitored metric.
        patience: checks without improvement that stop the run (None/0: never).
        mode: ``"min"`` (lower is better) or ``"max"``.
        monitor: the metric's name, for the reason text.

    Returns:
        The decision; ``decision.state`` replaces ``state`` for the next check.
    """
    initial_best(mode)  # checks the mode
    if not math.isfinite(value):
        reason = (f"Monitored metric {monitor} = {value} is not finite. Previous best value was "
                  f"{state.best:.3f}. Signaling Trainer to stop.")
        return StoppingDecision(state, improved=False, stop=True, reason=reason)
    if improves(value, state.best, mode):
        return StoppingDecision(StoppingState(best=value, wait=0), improved=True, stop=False)
    wait = state.wait + 1
    stop = bool(patience) and wait >= int(patience)
    reason = (f"Monitored metric {monitor} did not improve in the last {wait} records. Best score: "
              f"{state.best:.3f}. Signaling Trainer to stop.") if stop else None
    return StoppingDecision(StoppingState(best=state.best, wait=wait), improved=False, stop=stop,
                            reason=reason)
