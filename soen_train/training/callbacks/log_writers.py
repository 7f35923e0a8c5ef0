"""Where callbacks write what ``LightningModule.log`` cannot: histograms, images, exact steps.

``LightningModule.log`` aggregates and throttles (``log_every_n_steps``); a callback that has
already chosen its own cadence writes its scalars straight to every logger at the current
optimiser step. Histograms and images only exist in TensorBoard, so they go to each
``TensorBoardLogger``'s SummaryWriter. Only the rank-0 process writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_global_zero(trainer: Any) -> bool:
    """True on the process that writes logs (rank 0)."""
    return bool(getattr(trainer, "is_global_zero", True))


def tensorboard_writers(trainer: Any) -> list[Any]:
    """The SummaryWriter of every TensorBoardLogger attached to ``trainer`` (may be empty)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    if not is_global_zero(trainer):
        return []
    return [
        lg.experiment for lg in getattr(trainer, "loggers", []) if isinstance(lg, TensorBoardLogger)
    ]


def log_scalars_now(trainer: Any, values: Mapping[str, float], step: int) -> None:
    """Write ``values`` to every logger of ``trainer`` at ``step``, unthrottled (rank 0 only)."""
    if not values or not is_global_zero(trainer):
        return
    for logger in getattr(trainer, "loggers", []):
        logger.log_metrics(dict(values), step=step)
