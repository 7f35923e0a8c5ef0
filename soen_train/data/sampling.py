"""Batch sampler whose shuffle order is a pure function of (seed, epoch).

Lightning calls ``set_epoch`` before every epoch, so a run resumed at epoch k sees exactly the
batches an uninterrupted run sees at epoch k. Without ``set_epoch`` calls the epoch counter
advances by one per pass, so plain loops get a new order each time too.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """A permutation of range(n) determined only by ``seed`` and ``epoch``."""
    mixed = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator().manual_seed(int(mixed[0]) << 31 | int(mixed[1]) >> 1)
    return torch.randperm(n, generator=generator)


class EpochBatchSampler(Sampler[list[int] | torch.Tensor]):
    """Yields the indices of one batch at a time; the last batch may be smaller (no drop_last).

    With ``as_tensor`` the indices come as one int64 tensor (for datasets that index a cached
    tensor with it), otherwise as a list of ints (for per-item datasets).
    """

    def __init__(
        self, n: int, batch_size: int, shuffle: bool, seed: int = 0, as_tensor: bool = False
    ) -> None:
        self.n = n
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.as_tensor = as_tensor
        self._next_epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` for the next pass (Lightning calls this every epoch)."""
        self._next_epoch = int(epoch)

    def __iter__(self) -> Iterator[list[int] | torch.Tensor]:
        epoch = self._next_epoch
        self._next_epoch = epoch + 1
        order = (
            epoch_permutation(self.n, self.seed, epoch) if self.shuffle else torch.arange(self.n)
        )
        for start in range(0, self.n, self.batch_size):
            batch = order[start : start + self.batch_size]
            yield batch if self.as_tensor else batch.tolist()

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size
