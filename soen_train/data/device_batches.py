"""Batches of a cached split cut straight from its tensors on the training device.

For data held in memory a DataLoader only adds cost: per step it asks the sampler, indexes the
dataset on the host and Lightning then copies the batch to the device. ``DeviceEpochBatches``
keeps each split's tensors on the device once (copied again only when the split is rebuilt,
e.g. by the sequence-length scheduler), sends the epoch's whole index order there in one copy
and yields each batch as one ``index_select``. Order, batch sizes and the DDP share are the
``EpochBatchSampler``'s, so the batches are exactly those of the DataLoader it replaces.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from soen_train.data.datasets import CachedSplit
from soen_train.data.preprocessing import expand_one_hot
from soen_train.data.sampling import EpochBatchSampler


class DeviceEpochBatches:
    """Iterable of ``(x, y)`` batches of a ``CachedSplit`` on ``device``.

    ``sampler`` is public so that Lightning (and the JAX loop) call its ``set_epoch`` as they
    do for a DataLoader's sampler.
    """

    # read by Lightning's DataLoader checks: the batches come from ``sampler`` alone
    batch_sampler = None

    def __init__(
        self, split: CachedSplit, sampler: EpochBatchSampler, device: torch.device | None = None
    ) -> None:
        self.split = split
        self.sampler = sampler
        self.device = torch.device("cpu") if device is None else torch.device(device)
        # (host tensor the copy was made from, its device copy), per field
        self._copies: dict[str, tuple[Tensor, Tensor]] = {}

    def __len__(self) -> int:
        return len(self.sampler)

    def _on_device(self, name: str, host: Tensor | None) -> Tensor | None:
        """``host`` on the device, copied once per host tensor (a rebuilt split is re-copied)."""
        if host is None:
            return None
        kept = self._copies.get(name)
        if kept is None or kept[0] is not host:
            kept = (host, host.to(self.device))
            self._copies[name] = kept
        return kept[1]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        batches = list(self.sampler)  # advances the sampler's epoch like a DataLoader pass
        if not batches:
            return
        inputs = self._on_device("inputs", self.split.inputs)
        targets = self._on_device("targets", self.split.targets)
        assert inputs is not None
        order = torch.cat(batches).to(self.device)
        vocab = self.split.vocab_size
        start = 0
        for batch in batches:
            index = order[start : start + len(batch)]
            start += len(batch)
            x = inputs.index_select(0, index)
            if vocab is not None:
                x = expand_one_hot(x, vocab)
            yield x, (x if targets is None else targets.index_select(0, index))
