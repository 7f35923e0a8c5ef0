"""What an Optuna trial is told after each validation, and when the trial is pruned.

After a validation the monitored metric (``training.objective_metric``) is reported as the
trial's intermediate value at ``step`` (the epoch by default); then the study's pruner is
asked. A multi-objective trial is never reported to (Optuna cannot prune those).
"""

from __future__ import annotations

from typing import Any, Mapping

#: What the reported ``step`` counts: finished epochs or optimiser steps.
STEP_UNITS = ("epoch", "global_step")


def monitored_value(monitor: str, metrics: Mapping[str, Any], where: str) -> float:
    """The value of ``monitor`` among a validation's ``metrics``; KeyError naming what was logged."""
    if monitor not in metrics:
        raise KeyError(
            f"{where}={monitor!r} was not logged during validation; logged metrics: "
            f"{sorted(metrics)}"
        )
    return float(metrics[monitor])


def prunable(trial: Any) -> bool:
    """True when ``trial`` exists and belongs to a single-objective study."""
    return trial is not None and not getattr(trial, "is_multi_objective", False)


def report_and_ask(trial: Any, value: float, step: int) -> bool:
    """Report ``value`` at ``step`` to ``trial``; True when its pruner says stop."""
    trial.report(float(value), int(step))
    return bool(trial.should_prune())


def pruned_error(trial: Any, step_unit: str, step: int, monitor: str, value: float) -> Exception:
    """The ``optuna.TrialPruned`` that ends a pruned trial (the sweeper records it PRUNED)."""
    import optuna

    return optuna.TrialPruned(
        f"trial {trial.number} pruned at {step_unit} {step} ({monitor}={value:.6g})"
    )
