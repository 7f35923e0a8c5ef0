"""Torch DataLoader batches as numpy arrays for the JAX loop, read as Lightning reads them."""

from __future__ import annotations

from typing import Any, Iterator, Optional, Tuple

import numpy as np

Batch = Tuple[np.ndarray, Optional[np.ndarray]]


def numpy_batches(loader: Any, limit: Optional[int] = None) -> Iterator[Batch]:
    """(x float32 [B, T, D], y or None) numpy pairs from a torch DataLoader."""
    for index, batch in enumerate(loader):
        if limit is not None and index >= limit:
            return
        x = batch[0].detach().cpu().numpy().astype(np.float32)
        y = None
        if len(batch) > 1 and batch[1] is not None:
            y = batch[1].detach().cpu().numpy()
            y = y.astype(np.int32) if np.issubdtype(y.dtype, np.integer) else y.astype(np.float32)
        yield x, y


def set_loader_epoch(loader: Any, epoch: int) -> None:
    """Give the loader's sampler the epoch (its shuffle order depends on it), as Lightning does."""
    for sampler in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if sampler is not None and callable(getattr(sampler, "set_epoch", None)):
            sampler.set_epoch(epoch)


def batch_limit(value: Optional[float], total: int) -> Optional[int]:
    """Batches to use from ``total``: a count (> 1) or a fraction (<= 1) as Lightning reads it."""
    if value is None:
        return None
    if value > 1:
        return min(int(value), total)
    return max(1, int(total * float(value)))
