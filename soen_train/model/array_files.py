"""Read a NumPy array named in an architecture (custom masks, weights) without unpickling.

``.npz`` files are opened with ``allow_pickle=False`` and must hold the named array; ``.npy``
files (where allowed) are read the same way. A missing file, a missing array or another
suffix is an ``ArchitectureError`` naming where the path was given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .validation import ArchitectureError, as_str


def read_array(path_value: object, key: str, where: str, *, npy: bool = True) -> np.ndarray:
    """Load an array from .npz (key ``key``) or .npy without unpickling.

    Args:
        path_value: the file path as given in the architecture.
        key: the array's name inside a ``.npz``.
        where: position in the architecture, for messages.
        npy: whether a ``.npy`` file is accepted too.
    """
    path = Path(as_str(path_value, where))
    if not path.is_file():
        raise ArchitectureError(f"{where}: file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if key not in data.files:
                raise ArchitectureError(f"{where}: {path} has no array '{key}' (has {data.files})")
            return np.asarray(data[key])
    if suffix == ".npy" and npy:
        return np.asarray(np.load(path, allow_pickle=False))
    raise ArchitectureError(f"{where}: {path} must be a {'.npy or ' if npy else ''}.npz file")
