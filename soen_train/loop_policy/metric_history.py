"""The validation metrics of every epoch, and a run's summary: best and final value of each.

A row holds the ``val_*`` metrics of one validation and its ``epoch``. The summary gives,
per metric, the best value over epochs (min for losses, perplexity and bits-per-x, max
otherwise) and ``final_<metric>`` (the last finite value), plus ``epochs_trained``.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Mapping

Row = Dict[str, float]


def lower_is_better(metric: str) -> bool:
    """True for the metrics a run minimises in its summary (losses, perplexity, bits-per-x)."""
    return "loss" in metric or "perplexity" in metric or "bits_per" in metric


def validation_row(metrics: Mapping[str, float], epoch: int) -> Row:
    """This validation's ``val_*`` metrics and its ``epoch`` (what the history keeps)."""
    row = {k: float(v) for k, v in metrics.items() if k.startswith("val_")}
    row["epoch"] = float(epoch)
    return row


def summarise_history(epochs: Iterable[Mapping[str, float]]) -> Dict[str, float]:
    """Best and final value of every metric over the rows, and ``epochs_trained``."""
    rows: List[Mapping[str, float]] = list(epochs)
    out: Dict[str, float] = {}
    keys = {k for row in rows for k in row if k != "epoch"}
    for key in keys:
        vals = [row[key] for row in rows if key in row and math.isfinite(row[key])]
        if not vals:
            continue
        out[key] = min(vals) if lower_is_better(key) else max(vals)
        out[f"final_{key}"] = vals[-1]
    out["epochs_trained"] = float(len(rows))
    return out
