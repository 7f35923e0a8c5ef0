"""Read-only access to a dataset HDF5 file, turning every h5py failure into a ``DataError``.

The file is either split (root groups ``train``/``val``/``test``, each with ``data`` and
``labels``) or flat (root ``data`` and ``labels``). This module knows the layout, checks that
each array exists, is a dense numeric dataset, and reads whole arrays, chosen rows or chunks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from soen_train.data.errors import DataError

SPLITS = ("train", "val", "test")

# Rows read at a time when a whole array is scanned without caching it (lazy mode).
SCAN_CHUNK_ROWS = 4096


@dataclass(frozen=True)
class ArrayInfo:
    """Shape and dtype of one dataset in the file; ``key`` is its HDF5 path (e.g. train/data)."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype


@contextlib.contextmanager
def reading(path: Path, key: str) -> Iterator[None]:
    """Translate h5py/HDF5 failures while touching ``key`` into a DataError naming file and key."""
    try:
        yield
    except DataError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise DataError(
            f"{path}: cannot read '{key}' ({type(exc).__name__}: {exc}); the file is damaged or "
            "truncated, or was written by an incompatible tool: re-create it"
        ) from exc


def open_hdf5(path: Path) -> h5py.File:
    """Open ``path`` read-only, with a clear error if it is missing, a folder or not HDF5."""
    if not path.exists():
        raise DataError(
            f"data file not found: {path} (data.data_path); give the path of an HDF5 file, or set "
            "data.dataset to build one of the built-in datasets (pulses, digits, mnist)"
        )
    if path.is_dir():
        raise DataError(f"data.data_path {path} is a directory; expected an HDF5 file")
    try:
        return h5py.File(path, "r", locking=False)
    except (OSError, RuntimeError, ValueError) as exc:
        signature_ok = False
        with contextlib.suppress(OSError):
            signature_ok = h5py.is_hdf5(path)
        reason = (
            "it is damaged or truncated (the HDF5 signature is there but the file cannot be read)"
            if signature_ok
            else "it is not an HDF5 file"
        )
        raise DataError(f"{path}: cannot open the data file: {reason} ({exc})") from exc


def _check_numeric(path: Path, key: str, dataset: h5py.Dataset) -> np.dtype:
    """The dataset's dtype if it is a dense real number/bool type; otherwise a DataError."""
    dtype = dataset.dtype
    if h5py.check_vlen_dtype(dtype) is not None and h5py.check_string_dtype(dtype) is None:
        raise DataError(
            f"{path}: '{key}' holds variable-length (ragged) rows; store one dense array with "
            "equal lengths (pad shorter sequences, e.g. with -100 for seq2seq labels)"
        )
    kind = dtype.kind
    if kind not in "biuf":
        what = {
            "S": "bytes/strings",
            "U": "strings",
            "O": "objects/strings",
            "V": "compound records",
            "c": "complex numbers",
        }.get(kind, f"dtype {dtype}")
        raise DataError(
            f"{path}: '{key}' has non-numeric dtype {dtype} ({what}); expected integer or float "
            "numbers"
        )
    return dtype


class HDF5Source:
    """An opened dataset file: its layout and checked access to its arrays."""

    def __init__(self, path: os.PathLike | str) -> None:
        self.path = Path(path)
        self._file = open_hdf5(self.path)
        with reading(self.path, "/"):
            present = [name for name in SPLITS if name in self._file]
        if present and len(present) < len(SPLITS):
            missing = [name for name in SPLITS if name not in present]
            raise DataError(
                f"{self.path}: has group(s) {', '.join(present)} but not {', '.join(missing)}; a "
                "split file needs all of train/val/test (or use a flat file with root 'data' and "
                "'labels', split by data.val_split/test_split)"
            )
        for name in present:
            with reading(self.path, name):
                if not isinstance(self._file[name], h5py.Group):
                    raise DataError(f"{self.path}: '{name}' is a dataset; expected a group")
        self.layout = "split" if present else "flat"

    def close(self) -> None:
        """Release the file handle."""
        with contextlib.suppress(Exception):
            self._file.close()

    def has(self, key: str) -> bool:
        """True when ``key`` exists in the file."""
        with reading(self.path, key):
            return key in self._file

    def info(self, key: str) -> ArrayInfo:
        """Shape and dtype of dataset ``key``; a DataError if absent, a group or non-numeric."""
        with reading(self.path, key):
            if key not in self._file:
                where = key.rsplit("/", 1)
                parent = f"group '{where[0]}'" if len(where) == 2 else "the file root"
                raise DataError(
                    f"{self.path}: missing dataset '{key}' ({parent} has: "
                    f"{', '.join(self._members(where[0] if len(where) == 2 else '/')) or 'nothing'})"
                )
            node = self._file[key]
            if not isinstance(node, h5py.Dataset):
                raise DataError(f"{self.path}: '{key}' is a group; expected a dataset (array)")
            dtype = _check_numeric(self.path, key, node)
            return ArrayInfo(key=key, shape=tuple(int(s) for s in node.shape), dtype=dtype)

    def _members(self, group: str) -> list:
        node = self._file[group]
        return sorted(node.keys()) if isinstance(node, h5py.Group) else []

    def read(self, key: str, rows: np.ndarray | None = None) -> np.ndarray:
        """The whole dataset ``key``, or the given increasing row indices of it."""
        with reading(self.path, key):
            node = self._file[key]
            if rows is None:
                return node[()]
            return self._read_rows(node, rows)

    @staticmethod
    def _read_rows(node: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
        # One contiguous read covering the rows, then a numpy selection: much faster than
        # h5py point selection for the scattered rows of a seeded split.
        if len(rows) == 0:
            return np.empty((0,) + node.shape[1:], dtype=node.dtype)
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        return node[lo:hi][rows - lo]

    def iter_chunks(
        self, key: str, rows: np.ndarray | None, chunk_rows: int = SCAN_CHUNK_ROWS
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(position, block)`` over the dataset's rows (or the given rows) in order."""
        with reading(self.path, key):
            node = self._file[key]
            total = node.shape[0] if rows is None else len(rows)
            for start in range(0, total, chunk_rows):
                stop = min(start + chunk_rows, total)
                if rows is None:
                    block = node[start:stop]
                else:
                    block = self._read_rows(node, rows[start:stop])
                yield start, block

    def root_attr(self, name: str) -> object:
        """A root attribute of the file, or None if absent."""
        with reading(self.path, f"attribute {name}"):
            return self._file.attrs.get(name)
