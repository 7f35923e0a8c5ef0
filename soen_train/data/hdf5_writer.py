"""Write datasets in the split HDF5 layout that ``SOENDataModule`` reads.

Layout: root groups ``train``, ``val``, ``test``, each holding ``data`` [N, T, D] (float32)
and ``labels`` [N] / [N, T] / [N, K] / [N, T, K], with descriptive root attributes. The file
is written under a temporary name and renamed into place, so an interrupted write never
leaves a half-written file at ``path``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from soen_train.data.errors import DataError
from soen_train.data.hdf5_source import SPLITS

# Arrays larger than this are stored gzip-compressed (small ones read faster uncompressed).
COMPRESS_ABOVE_BYTES = 16 * 1024 * 1024

AttrValue = str | int | float | bool


def _store(group: h5py.Group, name: str, array: np.ndarray) -> None:
    if array.nbytes > COMPRESS_ABOVE_BYTES:
        group.create_dataset(
            name, data=array, compression="gzip", compression_opts=4, shuffle=True, chunks=True
        )
    else:
        group.create_dataset(name, data=array)


def write_split_file(
    path: str | os.PathLike,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    attrs: Mapping[str, AttrValue] | None = None,
) -> Path:
    """Write ``{split: (data, labels)}`` for train/val/test to ``path``; returns the path.

    ``data`` is stored as float32 [N, T, D]; ``labels`` keep their dtype (int64 for classes).
    """
    path = Path(path)
    if sorted(splits) != sorted(SPLITS):
        raise DataError(
            f"write_split_file({path}): got splits {sorted(splits)}; expected exactly "
            f"{', '.join(SPLITS)}"
        )
    for name, (data, labels) in splits.items():
        if np.asarray(data).ndim != 3:
            raise DataError(
                f"write_split_file({path}): {name} data has shape {np.shape(data)}; expected "
                "[N, T, D]"
            )
        if len(labels) != len(data):
            raise DataError(
                f"write_split_file({path}): {name} has {len(data)} samples but {len(labels)} labels"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
            for name in SPLITS:
                data, labels = splits[name]
                group = f.create_group(name)
                _store(group, "data", np.ascontiguousarray(data, dtype=np.float32))
                _store(group, "labels", np.ascontiguousarray(labels))
                group.attrs["num_samples"] = len(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
