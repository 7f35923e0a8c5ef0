"""The few lines printed at the end of a run: test metrics, where the outputs are, how to open them.

A pure formatter (no torch, no Lightning): the runner hands it plain values, so the text can
be tested on its own and stays the same for the torch and JAX backends.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

#: Metrics shown in the end-of-run table, in this order, when the run logged them.
REPORTED_METRICS = ("test_accuracy", "test_loss", "final_val_accuracy", "val_loss")


@dataclass
class RepeatOutputs:
    """What one repeat left behind: its metrics and the files and folders it wrote."""

    repeat: int
    metrics: Mapping[str, float]
    run_dir: Path  # the repeat's checkpoint folder
    logs_dir: Path
    best_checkpoint: Optional[str] = None
    best_soen: Optional[Path] = None


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def metrics_table(repeats: Sequence[RepeatOutputs]) -> list[str]:
    """One row per repeat with the reported metrics it has (a mean row for several repeats)."""
    names = [m for m in REPORTED_METRICS if any(m in r.metrics for r in repeats)]
    if not names:
        return []
    width = max(len(n) for n in names)
    header = "  " + "repeat".ljust(8) + "  ".join(n.rjust(width) for n in names)
    rows = [header]
    for r in repeats:
        cells = "  ".join(_fmt(r.metrics.get(n, math.nan)).rjust(width) for n in names)
        rows.append("  " + str(r.repeat).ljust(8) + cells)
    if len(repeats) > 1:
        means = []
        for n in names:
            values = [r.metrics[n] for r in repeats if n in r.metrics]
            means.append(_fmt(sum(values) / len(values)).rjust(width))
        rows.append("  " + "mean".ljust(8) + "  ".join(means))
    return rows


def format_run_report(
    repeats: Sequence[RepeatOutputs],
    job_dir: Path,
    mlflow_uri: Optional[str] = None,
) -> str:
    """The end-of-run text: metrics, output paths, and the two commands that open the logs.

    Args:
        repeats: every repeat of the job, in order.
        job_dir: Hydra's folder of the job (its composed config and result file).
        mlflow_uri: the MLflow tracking URI the runs went to (None when MLflow was off).
    """
    lines = ["", "Run finished."]
    table = metrics_table(repeats)
    if table:
        lines += ["Test metrics:", *table]
    lines.append("Outputs:")
    lines.append(f"  job folder        {job_dir}")
    for r in repeats:
        tag = f" (repeat {r.repeat})" if len(repeats) > 1 else ""
        lines.append(f"  checkpoints{tag:<7}{r.run_dir}")
        if r.best_checkpoint:
            lines.append(f"  best checkpoint   {r.best_checkpoint}")
        if r.best_soen is not None and Path(r.best_soen).exists():
            lines.append(f"  best.soen         {r.best_soen}")
    logs_root = _common_parent([r.logs_dir for r in repeats])
    lines.append(f"  TensorBoard logs  {logs_root}")
    if mlflow_uri:
        lines.append(f"  MLflow store      {mlflow_uri}")
    lines.append("Open them with:")
    lines.append(f"  tensorboard --logdir {shlex.quote(str(logs_root))}")
    if mlflow_uri and not mlflow_uri.startswith(("http://", "https://")):
        lines.append(f"  mlflow ui --backend-store-uri {shlex.quote(mlflow_uri)}")
    elif mlflow_uri:
        lines.append(f"  open {mlflow_uri} in a browser")
    return "\n".join(lines)


def _common_parent(paths: Sequence[Path]) -> Path:
    """The deepest folder holding every path (the logs folder of a one-repeat run itself)."""
    if len(paths) == 1:
        return Path(paths[0])
    parts = [Path(p).resolve().parts for p in paths]
    common = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return Path(*common) if common else Path("/")
