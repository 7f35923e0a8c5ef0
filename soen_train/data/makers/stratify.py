"""Seeded, class-proportional selection of samples (for splits and size limits).

All samples are put in one order in which every class is spread evenly: each sample's key is
its (rank + 0.5) / count within its own class after a seeded shuffle. Any leading stretch of
that order then holds the classes in (almost exactly) their overall proportions.
"""

from __future__ import annotations

import numpy as np


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded permutation of the sample indices that interleaves classes proportionally."""
    labels = np.asarray(labels)
    perm = np.random.default_rng(seed).permutation(len(labels))
    shuffled = labels[perm]
    key = np.empty(len(labels), dtype=np.float64)
    for value in np.unique(shuffled):
        where = np.flatnonzero(shuffled == value)
        key[where] = (np.arange(len(where)) + 0.5) / len(where)
    return perm[np.argsort(key, kind="stable")]


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices (increasing) of ``size`` samples with the classes in their overall proportions."""
    return np.sort(stratified_order(labels, seed)[:size])


def stratified_split(
    labels: np.ndarray, n_val: int, n_test: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Increasing (train, val, test) index arrays; val and test are class-proportional.

    Args:
        labels: class label of every sample [N].
        n_val: samples in the validation split.
        n_test: samples in the test split (the rest is training).
        seed: seed of the stratified order.
    """
    order = stratified_order(labels, seed)
    val = np.sort(order[:n_val])
    test = np.sort(order[n_val : n_val + n_test])
    train = np.sort(order[n_val + n_test :])
    return train, val, test


def holdout_splits(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, n_val: int, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{train, val, test} splits: a class-proportional ``n_val`` of (x, y) held out for
    validation, the given test set kept as is (for datasets published with a test split).

    Args:
        x, y: the published training samples [N, ...] and their labels [N].
        x_test, y_test: the published test samples and labels.
        n_val: how many training samples become the validation split.
        seed: seed of the stratified choice.
    """
    train, val, _ = stratified_split(y, n_val, 0, seed)
    return {"train": (x[train], y[train]), "val": (x[val], y[val]), "test": (x_test, y_test)}
