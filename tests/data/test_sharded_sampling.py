"""How EpochBatchSampler shares a split among DDP processes (rank, world_size)."""

from __future__ import annotations

import pytest
import torch

from soen_train.data.sampling import EpochBatchSampler


def _batches(n: int, rank: int, world: int, train: bool) -> list:
    sampler = EpochBatchSampler(
        n, 4, shuffle=train, seed=3, as_tensor=True, rank=rank, world_size=world, equal_steps=train
    )
    sampler.set_epoch(1)
    out = list(sampler)
    assert len(out) == len(sampler)
    return out


@pytest.mark.parametrize("n", [1, 7, 9, 13, 16])
def test_evaluation_shards_hold_every_sample_once(n: int) -> None:
    shards = [
        torch.cat(_batches(n, r, 3, train=False) or [torch.empty(0, dtype=torch.long)])
        for r in range(3)
    ]
    assert sorted(torch.cat(shards).tolist()) == list(range(n))
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("n", [5, 9, 13, 16])
def test_training_shards_take_equal_steps_and_cover_the_epoch(n: int) -> None:
    per_rank = [_batches(n, r, 2, train=True) for r in range(2)]
    assert len(per_rank[0]) == len(per_rank[1])  # same optimiser steps on both processes
    seen = torch.cat([b for batches in per_rank for b in batches]).tolist()
    assert set(seen) == set(range(n))
    # the single-process order of the epoch, dealt batch by batch
    whole = _batches(n, 0, 1, train=True)
    assert [b.tolist() for b in per_rank[0]] == [b.tolist() for b in whole[0::2]]


def test_a_rank_outside_the_world_is_refused() -> None:
    with pytest.raises(ValueError, match="rank 2 is not in 0..1"):
        EpochBatchSampler(10, 4, False, rank=2, world_size=2)
