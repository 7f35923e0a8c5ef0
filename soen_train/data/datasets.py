"""The two kinds of split dataset: all tensors in memory, or one HDF5 read per item.

Both return ``(x float32 [T, D], y)`` for an integer index. ``CachedSplit`` also accepts a
list/tensor of indices and returns the whole batch by tensor indexing, which the data module's
batch sampler uses so that a cached epoch costs almost nothing beyond the model itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from soen_train.data.hdf5_source import reading
from soen_train.data.preprocessing import Preprocessor, expand_one_hot

Index = int | Sequence[int] | Tensor


class CachedSplit(Dataset):
    """One split held as tensors: processed inputs (or tokens) and processed targets."""

    def __init__(
        self,
        inputs: Tensor,
        targets: Tensor | None,
        vocab_size: int | None = None,
    ) -> None:
        self.inputs = inputs  # float32 [N, T, D], or long tokens [N, T] when vocab_size is set
        self.targets = targets  # None: the target is the input (self-supervised)
        self.vocab_size = vocab_size

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def __getitem__(self, index: Index) -> tuple[Tensor, Tensor]:
        if not isinstance(index, (int, np.integer)):
            index = torch.as_tensor(index, dtype=torch.long)
        x = self.inputs[index]
        if self.vocab_size is not None:
            x = expand_one_hot(x, self.vocab_size)
        y = x if self.targets is None else self.targets[index]
        return x, y


class LazySplit(Dataset):
    """One split read item by item from the HDF5 file (for data that does not fit in memory).

    Each worker process opens its own file handle on first use; the handle is not pickled.
    """

    def __init__(
        self,
        path: Path,
        data_key: str,
        label_key: str | None,
        rows: np.ndarray | None,
        length: int,
        preprocessor: Preprocessor,
        vocab_size: int | None = None,
    ) -> None:
        self.path = path
        self.data_key = data_key
        self.label_key = label_key  # None: the target is the input
        self.rows = rows  # file rows of this split (flat files) or None for all rows
        self.length = length
        self.preprocessor = preprocessor
        self.vocab_size = vocab_size
        self._file: h5py.File | None = None
        self._arrays: tuple[h5py.Dataset | None, h5py.Dataset | None] = (None, None)
        self._pid: int | None = None

    def __len__(self) -> int:
        return self.length

    def _open(self) -> tuple[h5py.Dataset | None, h5py.Dataset | None]:
        """This process's (data, labels) dataset handles, opened on first use."""
        if self._file is None or self._pid != os.getpid():
            with reading(self.path, self.data_key):
                self._file = h5py.File(self.path, "r", locking=False)
                labels = self._file[self.label_key] if self.label_key is not None else None
                self._arrays = (self._file[self.data_key], labels)
            self._pid = os.getpid()
        return self._arrays

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if index < 0 or index >= self.length:
            raise IndexError(f"index {index} out of range for a split of {self.length} samples")
        row = int(index if self.rows is None else self.rows[index])
        data, labels = self._open()
        with reading(self.path, self.data_key):
            raw_x = data[row : row + 1]
        x = self.preprocessor.inputs(raw_x)[0]
        if self.vocab_size is not None:
            x = expand_one_hot(x, self.vocab_size)
        if labels is None:
            return x, x
        with reading(self.path, self.label_key or ""):
            raw_y = labels[row : row + 1]
        return x, self.preprocessor.targets(raw_y)[0]

    def close(self) -> None:
        """Close this process's file handle (a new one opens on the next item)."""
        self._arrays = (None, None)
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"] = None
        state["_arrays"] = (None, None)
        state["_pid"] = None
        return state
