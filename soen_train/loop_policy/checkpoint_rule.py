"""Which epochs write a checkpoint, which checkpoints stay in the top k, and which is best.

Both backends keep checkpoints by ``val_loss`` (lower is better):

- an epoch is *due* every ``checkpoint_every_n_epochs`` epochs (epochs 0-based: epoch e is
  due when ``(e + 1) % n == 0``);
- with ``checkpoint_save_all_epochs`` every due epoch is kept (``epoch=NN``);
- otherwise a due epoch with a finite ``val_loss`` is saved when it enters the top
  ``checkpoint_save_top_k`` (-1 keeps all, 0 none) and pushes out the worst one
  (``epoch=NN-val_loss=0.1234``); ties keep the older checkpoint;
- the best checkpoint is the first of the ranked top k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

#: The metric checkpoints are ranked by, and which way is better.
MONITOR = "val_loss"
MODE = "min"
#: File-name patterns (``str.format`` fields ``epoch`` and ``val_loss``), without suffix.
ALL_EPOCHS_FILENAME = "epoch={epoch:02d}"
TOP_K_FILENAME = "epoch={epoch:02d}-val_loss={val_loss:.4f}"

Ranked = List[Tuple[float, str]]  # (value, path), best first


def checkpoint_due(epoch: int, every_n_epochs: int) -> bool:
    """True when 0-based ``epoch`` is one that writes checkpoints (every n-th epoch)."""
    return (epoch + 1) % max(1, int(every_n_epochs)) == 0


def enters_top_k(value: Optional[float], kept: Sequence[float], k: int, mode: str = MODE) -> bool:
    """Whether a checkpoint with ``value`` is saved, given the values already ``kept``.

    Args:
        value: the new checkpoint's monitored value (None: not logged, never saved).
        kept: the values of the checkpoints kept so far (any order).
        k: ``save_top_k`` (-1 keeps all, 0 none).
        mode: ``"min"`` or ``"max"``.
    """
    if value is None or k == 0:
        return False
    if k < 0 or len(kept) < k:
        return True
    worst = max(kept) if mode == "min" else min(kept)
    return value < worst if mode == "min" else value > worst


@dataclass
class TopKUpdate:
    """The outcome of offering one checkpoint to the top k."""

    saved: bool
    keep: Ranked = field(default_factory=list)  # best first
    drop: List[str] = field(default_factory=list)  # paths pushed out (to delete)


def offer_to_top_k(kept: Ranked, value: float, path: str, k: int, mode: str = MODE) -> TopKUpdate:
    """Rank ``(value, path)`` among ``kept``; what to keep and which paths to delete.

    Non-finite values are never saved. Ties rank the older checkpoint first.
    """
    if not math.isfinite(value) or not enters_top_k(value, [v for v, _ in kept], k, mode):
        return TopKUpdate(saved=False, keep=list(kept))
    sign = 1.0 if mode == "min" else -1.0
    ranked = sorted([*kept, (value, path)], key=lambda item: sign * item[0])
    if k < 0:
        return TopKUpdate(saved=True, keep=ranked)
    return TopKUpdate(saved=True, keep=ranked[:k], drop=[p for _, p in ranked[k:]])


def best_path(kept: Ranked) -> Optional[str]:
    """The best checkpoint of a ranked top k (None when empty)."""
    return kept[0][1] if kept else None
