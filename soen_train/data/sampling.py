"""Batch sampler whose shuffle order is a pure function of (seed, epoch).

Lightning calls ``set_epoch`` before every epoch, so a run resumed at epoch k sees exactly the
batches an uninterrupted run sees at epoch k. Without ``set_epoch`` calls the epoch counter
advances by one per pass, so plain loops get a new order each time too.

Under multi-process training (DDP) each process passes its ``rank`` and the ``world_size`` and
gets its own share (Lightning's own distributed sampler is switched off: it would repeat
samples to even out the shards, so metrics would count some samples twice):

- training (``equal_steps=True``): whole batches of the epoch order are dealt out in turn;
  when the batch count does not divide evenly, the first batches are dealt again, so every
  process takes the same number of optimiser steps (their gradients are averaged each step);
- evaluation: each process gets a contiguous block of samples, no sample twice and none left
  out, so sums over all processes equal a single-process pass.
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
        self,
        n: int,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        as_tensor: bool = False,
        rank: int = 0,
        world_size: int = 1,
        equal_steps: bool = False,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1} (world_size {world_size})")
        self.n = n
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.as_tensor = as_tensor
        self.rank = rank
        self.world_size = world_size
        self.equal_steps = equal_steps
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
        for batch in self._my_batches(order):
            yield batch if self.as_tensor else batch.tolist()

    def _my_batches(self, order: torch.Tensor) -> list[torch.Tensor]:
        """This process's batches of one pass over ``order`` (all of them in one process)."""
        if self.world_size > 1 and not self.equal_steps:
            order = torch.tensor_split(order, self.world_size)[self.rank]
        batches = list(torch.split(order, self.batch_size)) if len(order) else []
        if self.world_size == 1 or not self.equal_steps:
            return batches
        per_rank = -(-len(batches) // self.world_size)
        dealt = [batches[i % len(batches)] for i in range(per_rank * self.world_size)]
        return dealt[self.rank :: self.world_size]

    def __len__(self) -> int:
        if self.world_size > 1 and not self.equal_steps:
            mine = len(torch.tensor_split(torch.arange(self.n), self.world_size)[self.rank])
            return -(-mine // self.batch_size)
        batches = -(-self.n // self.batch_size)
        return batches if self.world_size == 1 else -(-batches // self.world_size)
