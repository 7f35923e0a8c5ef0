"""Which way a metric improves: the one rule shared by the runner (objective of a job, Optuna's
direction) and the sweep summaries (ordering, arrows, best trial).

A metric improves downwards when its name says it is a loss or an error, upwards otherwise,
and not at all when it is bookkeeping (epochs trained, seconds, the seed).
"""

from __future__ import annotations

from typing import Optional

#: Name parts of metrics that are better when smaller.
LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "perplexity", "bits_per")
#: Names of recorded numbers that are not better either way.
NO_DIRECTION = ("epochs_trained", "train_seconds", "seed", "epoch", "step", "lr")

DIRECTIONS = ("minimize", "maximize")


def metric_direction(metric: str, direction: str = "auto") -> Optional[str]:
    """``minimize``, ``maximize``, or None for bookkeeping numbers.

    Args:
        metric: a logged metric name (``val_loss``, ``test_accuracy``, ``train_loss/reg_J_loss``).
        direction: an explicit choice wins; ``auto`` infers it from the name.
    """
    if direction != "auto":
        return direction
    name = metric.lower().rsplit("/", 1)[-1] if "/" in metric else metric.lower()
    if name in NO_DIRECTION or any(name.endswith("_" + n) for n in NO_DIRECTION):
        return None
    lowered = metric.lower()
    return "minimize" if any(part in lowered for part in LOWER_IS_BETTER) else "maximize"
