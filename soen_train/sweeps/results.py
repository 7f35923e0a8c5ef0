"""Summarise a finished Optuna sweep: log the best trial(s), write ``optimization_results.yaml``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Union

import optuna
import yaml

from soen_train.sweeps.study_setup import count_by_state

RESULTS_FILE = "optimization_results.yaml"


def summarize(study: optuna.Study, storage_display: str) -> Dict[str, Any]:
    """Plain-data summary of a study: best params and value(s), trial counts per state.

    Single objective: ``best_trial``, ``best_params``, ``best_value``. Several objectives:
    ``best_trials``, the Pareto front as ``{number, params, values}`` items. Both are empty
    (None / []) when no trial completed.
    """
    directions = [d.name.lower() for d in study.directions]
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    summary: Dict[str, Any] = {
        "name": "optuna",
        "study_name": study.study_name,
        "storage": storage_display,
        "directions": directions,
        "n_trials": len(study.get_trials(deepcopy=False)),
        "trials_by_state": {k: v for k, v in count_by_state(study).items() if v},
    }
    if len(directions) == 1:
        best = study.best_trial if completed else None
        summary["best_trial"] = best.number if best else None
        summary["best_params"] = dict(best.params) if best else None
        summary["best_value"] = float(best.value) if best else None
    else:
        front = study.best_trials if completed else []
        summary["best_trials"] = [
            {"number": t.number, "params": dict(t.params), "values": [float(v) for v in t.values]}
            for t in sorted(front, key=lambda t: t.number)
        ]
    return summary


def write_results(summary: Dict[str, Any], sweep_dir: Union[str, Path]) -> Path:
    """Write the summary as YAML into the sweep directory; returns the file path."""
    path = Path(sweep_dir) / RESULTS_FILE
    path.write_text(yaml.safe_dump(summary, sort_keys=False, default_flow_style=False))
    return path


def log_best(summary: Dict[str, Any], logger: logging.Logger) -> None:
    """Print the best trial(s) and the state counts through ``logger`` (INFO)."""
    logger.info(
        "Optuna study %r: %d trials %s",
        summary["study_name"],
        summary["n_trials"],
        summary["trials_by_state"],
    )
    if "best_trials" in summary:
        if not summary["best_trials"]:
            logger.info("No trial completed, so there is no Pareto front")
        for item in summary["best_trials"]:
            logger.info(
                "Pareto-optimal trial #%d: values=%s params=%s",
                item["number"],
                item["values"],
                item["params"],
            )
    elif summary["best_trial"] is None:
        logger.info("No trial completed, so there is no best trial")
    else:
        logger.info(
            "Best trial #%d: value=%s params=%s",
            summary["best_trial"],
            summary["best_value"],
            summary["best_params"],
        )


def format_values(values: List[float]) -> str:
    """Objective values for a log line: one number, or a bracketed list for several."""
    return (
        f"{values[0]:.6g}"
        if len(values) == 1
        else "[" + ", ".join(f"{v:.6g}" for v in values) + "]"
    )
