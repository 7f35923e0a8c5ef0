"""Decide what a finished job means for its Optuna trial: COMPLETE, PRUNED or FAIL.

A job's return value is the objective: a number (single objective) or a sequence of numbers
(one per study direction). A job that raises ``optuna.TrialPruned`` was pruned; any other
exception, a NaN/inf objective or a value of the wrong shape fails the trial. None of these
stop the search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from hydra.core.utils import JobReturn, JobStatus
from optuna import TrialPruned
from optuna.trial import TrialState


@dataclass(frozen=True)
class TrialOutcome:
    """The state to tell the study, the objective value(s), and why a trial failed."""

    state: TrialState
    values: Optional[List[float]] = None
    reason: Optional[str] = None
    error: Optional[BaseException] = None


def objective_values(value: Any, n_objectives: int) -> List[float]:
    """The job's return value as ``n_objectives`` finite floats, or ValueError saying why not."""
    if n_objectives == 1 and not _is_sequence(value):
        items: Sequence[Any] = [value]
    elif _is_sequence(value):
        items = list(value)
    else:
        raise ValueError(
            f"the study has {n_objectives} directions, so the job must return a sequence of "
            f"{n_objectives} numbers; it returned {value!r}"
        )
    if len(items) != n_objectives:
        raise ValueError(
            f"the job returned {len(items)} objective value(s) {list(items)!r} but the study "
            f"has {n_objectives} direction(s)"
        )
    numbers: List[float] = []
    for item in items:
        try:
            number = float(item)
        except (TypeError, ValueError):
            raise ValueError(f"the job returned {value!r}, which is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"the objective is {number} (not finite)")
        numbers.append(number)
    return numbers


def outcome_of(job: JobReturn, n_objectives: int) -> TrialOutcome:
    """Classify one finished Hydra job for the trial it evaluated."""
    if job.status == JobStatus.COMPLETED:
        try:
            return TrialOutcome(
                TrialState.COMPLETE, objective_values(job._return_value, n_objectives)
            )
        except ValueError as err:
            return TrialOutcome(TrialState.FAIL, reason=str(err))
    error = job._return_value
    if isinstance(error, TrialPruned):
        return TrialOutcome(TrialState.PRUNED, reason=str(error) or "pruned", error=error)
    if isinstance(error, BaseException):
        return TrialOutcome(TrialState.FAIL, reason=f"{type(error).__name__}: {error}", error=error)
    return TrialOutcome(TrialState.FAIL, reason=f"job ended with status {job.status.name}")


def _is_sequence(value: Any) -> bool:
    """Lists, tuples and 1-d arrays count as several objectives; strings and scalars do not."""
    if isinstance(value, (str, bytes)):
        return False
    if hasattr(value, "ndim"):  # numpy arrays and torch tensors
        return int(value.ndim) > 0
    return isinstance(value, Sequence)
