"""Seeded train/val/test split of a flat (unsplit) dataset file.

``n_val = int(val_split * N)``, ``n_test = int(test_split * N)``, the rest is training data.
The rows are assigned by a permutation drawn from ``split_seed`` (the original always used 42
whatever the user asked); within a split the rows are kept in file order so reads stay
sequential.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from soen_train.data.errors import DataError


def flat_split_rows(
    n: int, val_split: float, test_split: float, seed: int, path: Path
) -> dict[str, np.ndarray]:
    """Row indices (increasing) of the train, val and test parts of an N-sample flat file.

    A seeded random permutation, cut by the fractions (val and test rounded down, train the
    rest); an empty split is a ``DataError``.

    Args:
        n: samples in the file.
        val_split: fraction of the samples for validation.
        test_split: fraction of the samples for testing.
        seed: seed of the permutation.
        path: the data file, for messages.
    """
    n_val = int(val_split * n)
    n_test = int(test_split * n)
    n_train = n - n_val - n_test
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    empty = [name for name, size in sizes.items() if size <= 0]
    if empty:
        raise DataError(
            f"{path}: splitting {n} samples with val_split={val_split}, test_split={test_split} "
            f"gives an empty {'/'.join(empty)} split (sizes train={n_train}, val={n_val}, "
            f"test={n_test}); add samples or raise the split fractions"
        )
    order = np.random.default_rng(seed).permutation(n)
    val_rows = np.sort(order[:n_val])
    test_rows = np.sort(order[n_val : n_val + n_test])
    train_rows = np.sort(order[n_val + n_test :])
    return {"train": train_rows, "val": val_rows, "test": test_rows}
