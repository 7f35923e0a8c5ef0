"""Read and write the IDX array format of the MNIST distribution files (optionally gzipped).

Header: two zero bytes, a type code, the number of dimensions, then each dimension as a
big-endian uint32; then the values, big-endian, in C order.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from soen_train.data.errors import DataError

# IDX type code -> numpy dtype (big-endian where it matters)
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _code_for(dtype: np.dtype) -> int:
    for code, idx_dtype in IDX_TYPES.items():
        if idx_dtype.kind == dtype.kind and idx_dtype.itemsize == dtype.itemsize:
            return code
    raise DataError(
        f"write_idx: dtype {dtype} cannot be stored in IDX; use uint8, int8, int16, int32, "
        "float32 or float64"
    )


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in .gz)."""
    path = Path(path)
    array = np.asarray(array)
    if array.ndim < 1 or array.ndim > 255:
        raise DataError(
            f"write_idx({path}): an IDX array needs 1..255 dimensions, got {array.ndim}"
        )
    code = _code_for(array.dtype)
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in IDX file ``path`` (.gz handled); a DataError if malformed."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(
            f"{path}: not an IDX file (bad header {raw[:4]!r}); expected the MNIST distribution "
            "format"
        )
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path}: IDX header is truncated")
    shape = tuple(int(s) for s in np.frombuffer(raw[4:start], dtype=">u4"))
    dtype = IDX_TYPES[raw[2]]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - start != expected:
        raise DataError(
            f"{path}: IDX body has {len(raw) - start} bytes but shape {list(shape)} needs "
            f"{expected}; the file is truncated or damaged"
        )
    values = np.frombuffer(raw, dtype=dtype, offset=start).reshape(shape)
    return values.astype(dtype.newbyteorder("="), copy=True)
