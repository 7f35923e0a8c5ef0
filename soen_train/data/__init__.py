"""HDF5 sequence data for SOEN training: the Lightning data module and built-in datasets.

    from soen_train.data import SOENDataModule, build_dataset
    path = build_dataset("pulses", "data/pulses.h5", n_train=200)
    dm = SOENDataModule(path, batch_size=32); dm.setup()
    dm.num_classes, dm.input_dim, dm.seq_len, dm.label_kind, dm.scaling

Names are imported on first use, so ``soen_train.data.makers`` (dataset names and params,
used by config validation) can be imported without loading torch or Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, visible to type checkers and IDEs
    from soen_train.data.datamodule import SOENDataModule
    from soen_train.data.errors import DataError
    from soen_train.data.hdf5_writer import write_split_file
    from soen_train.data.idx_format import read_idx, write_idx
    from soen_train.data.makers import DATASETS, build_dataset
    from soen_train.data.preprocessing import MinMaxScaling

# public name -> module that defines it
_EXPORTS = {
    "SOENDataModule": "soen_train.data.datamodule",
    "DataError": "soen_train.data.errors",
    "MinMaxScaling": "soen_train.data.preprocessing",
    "write_split_file": "soen_train.data.hdf5_writer",
    "read_idx": "soen_train.data.idx_format",
    "write_idx": "soen_train.data.idx_format",
    "DATASETS": "soen_train.data.makers",
    "build_dataset": "soen_train.data.makers",
}

__all__ = [
    "DATASETS",
    "DataError",
    "MinMaxScaling",
    "SOENDataModule",
    "build_dataset",
    "read_idx",
    "write_idx",
    "write_split_file",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'soen_train.data' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
