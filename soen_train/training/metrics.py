"""Epoch metrics on concatenated predictions: accuracy, perplexity, bits per character.

The trainer concatenates the aligned outputs and targets of a whole epoch and calls
``compute_metrics`` once, so each value is the exact epoch figure, not a mean of batch
means. Labels equal to -100 mark padding in sequence labels and are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from soen_train.catalog.metrics import (  # noqa: F401  (re-exported: old import path)
    METRIC_CATALOG,
    validate_metric_names,
)
from soen_train.registry import Registry

MetricFn = Callable[[torch.Tensor, torch.Tensor], float]

#: Catalog of metrics: ``fn(outputs, targets) -> float``, declared in ``soen_train.catalog``.
METRICS: Registry[MetricFn] = METRIC_CATALOG.registry("torch")

#: Label marking padding positions in sequence labels.
PADDING_LABEL = -100


def _check_class_targets(metric: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Integer class targets whose shape matches ``outputs`` minus its class axis."""
    if targets.is_floating_point() and not torch.equal(targets, targets.round()):
        raise ValueError(f"metric '{metric}' needs integer class labels, got non-integer values")
    if outputs.dim() not in (2, 3) or tuple(targets.shape) != tuple(outputs.shape[:-1]):
        raise ValueError(
            f"metric '{metric}': outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} "
            "do not align; expected [B, C] with [B] or [B, T, C] with [B, T]"
        )
    return targets.long()


@METRIC_CATALOG.torch("accuracy")
def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of correct top-1 predictions.

    [B, C] outputs: mean(argmax == y). [B, T, C] outputs: over positions with 0 <= y < C only
    (padding excluded); 0.0 when no position is valid.
    """
    y = _check_class_targets("accuracy", outputs, targets)
    pred = outputs.argmax(dim=-1)
    if outputs.dim() == 2:
        return float((pred == y).float().mean()) if y.numel() else 0.0
    valid = (y >= 0) & (y < outputs.shape[-1])
    count = int(valid.sum())
    if count == 0:
        return 0.0
    return float(((pred == y) & valid).sum()) / count


def mean_cross_entropy(outputs: torch.Tensor, targets: torch.Tensor, metric: str) -> float:
    """Mean cross entropy in nats over non-padding positions (sequences flattened)."""
    y = _check_class_targets(metric, outputs, targets)
    logits = outputs.reshape(-1, outputs.shape[-1]).float()
    return float(F.cross_entropy(logits, y.reshape(-1), ignore_index=PADDING_LABEL))


@METRIC_CATALOG.torch("perplexity")
def perplexity(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """exp(mean cross entropy in nats)."""
    return math.exp(mean_cross_entropy(outputs, targets, "perplexity"))


@METRIC_CATALOG.torch("bits_per_character")
def bits_per_character(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cross entropy in bits: CE / ln 2."""
    return mean_cross_entropy(outputs, targets, "bits_per_character") / math.log(2.0)


def compute_metrics(
    names: Iterable[str], outputs: torch.Tensor, targets: torch.Tensor
) -> dict[str, float]:
    """{name: value} of each requested metric on epoch tensors (computed without gradients)."""
    names = list(names)
    validate_metric_names(names)
    with torch.no_grad():
        return {name: METRICS.get(name)(outputs.detach(), targets.detach()) for name in names}


METRIC_CATALOG.check_complete("torch")
