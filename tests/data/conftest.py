"""Helpers for the data tests: write small real HDF5 files in the layouts the loader reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import h5py
import numpy as np
import pytest


def write_h5_file(
    path: Path, arrays: Mapping[str, np.ndarray], attrs: Mapping | None = None
) -> Path:
    """Write ``{"group/name": array}`` to ``path`` (groups created as needed)."""
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
    return path


def make_split_arrays(
    n: dict[str, int], steps: int = 6, features: int = 2, seed: int = 0, classes: int = 3
) -> dict[str, np.ndarray]:
    """Random float32 inputs [n, steps, features] and int64 labels 0..classes-1 per split."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, count in n.items():
        out[f"{name}/data"] = rng.normal(size=(count, steps, features)).astype(np.float32)
        out[f"{name}/labels"] = (np.arange(count) % classes).astype(np.int64)
    return out


@pytest.fixture
def h5file(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``h5file(arrays, attrs=None, name="d.h5")`` writes a file under tmp_path."""

    def make(
        arrays: Mapping[str, np.ndarray], attrs: Mapping | None = None, name: str = "d.h5"
    ) -> Path:
        return write_h5_file(tmp_path / name, arrays, attrs)

    return make


@pytest.fixture
def split_file(h5file: Callable[..., Path]) -> Path:
    """A split file: train 10, val 4, test 5 samples of [6 steps, 2 features], 3 classes."""
    return h5file(make_split_arrays({"train": 10, "val": 4, "test": 5}))


@pytest.fixture
def split_arrays() -> Callable[..., dict[str, np.ndarray]]:
    """The ``make_split_arrays`` helper, as a fixture (tests need no import of this file)."""
    return make_split_arrays


@pytest.fixture
def write_h5() -> Callable[..., Path]:
    """The ``write_h5_file`` helper, as a fixture."""
    return write_h5_file
