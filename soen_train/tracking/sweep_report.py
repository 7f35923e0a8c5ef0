"""The few lines printed at the end of a sweep: the best job, its objective, its folder and the
one command that re-runs it. Read from the jobs' `soen_result.json` files only."""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from soen_train.tracking.sweep_jobs import RESULT_FILE, find_job_dirs


@dataclass
class BestJob:
    """The sweep's best completed job by its own objective and direction."""

    folder: Path
    objective_metric: str
    objective: float
    direction: str
    overrides: List[str]
    completed: int
    total: int


def find_best_job(multirun_dir: Path) -> Optional[BestJob]:
    """The completed job with the best finite objective (None when no job completed)."""
    best: Optional[BestJob] = None
    folders = find_job_dirs(multirun_dir)
    completed = 0
    for folder in folders:
        try:
            data = json.loads((folder / RESULT_FILE).read_text())
        except (OSError, ValueError):
            continue
        value = data.get("objective")
        if data.get("status") != "completed" or not isinstance(value, (int, float)):
            continue
        completed += 1
        if not math.isfinite(value):
            continue
        direction = data.get("direction") or "minimize"
        better = best is None or (value < best.objective if direction == "minimize" else value > best.objective)
        if better:
            best = BestJob(folder=folder, objective_metric=str(data.get("objective_metric")),
                           objective=float(value), direction=direction,
                           overrides=[str(o) for o in data.get("overrides") or []],
                           completed=0, total=0)
    if best is not None:
        best.completed, best.total = completed, len(folders)
    return best


def rerun_command(overrides: List[str]) -> str:
    """The single-run command line that repeats a job (shell-quoted)."""
    return shlex.join(["soen-train", *overrides])


def format_sweep_report(multirun_dir: Path) -> str:
    """The end-of-sweep text (also printed by `soen-train-summary`)."""
    best = find_best_job(multirun_dir)
    if best is None:
        return f"\nSweep finished: no job of {multirun_dir} completed."
    return "\n".join([
        "",
        f"Sweep finished: {best.completed} of {best.total} job(s) completed.",
        f"  best job          {best.folder}",
        f"  {best.objective_metric:<18}{best.objective:.6g} ({best.direction})",
        "Re-run it with:",
        f"  {rerun_command(best.overrides)}",
    ])
