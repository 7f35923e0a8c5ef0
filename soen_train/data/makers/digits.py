"""``digits``: scikit-learn's bundled 8x8 handwritten digits, fed to the model row by row.

Each image becomes a sequence of 8 steps (rows) with 8 features (pixels of the row), values
scaled from 0..16 to [0, 1]. Val and test parts are drawn class-proportionally with a seed.
The data ships inside scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from soen_train.data.makers.catalog import DATASETS, DIGIT_CLASS_NAMES, DatasetMaker, MadeDataset
from soen_train.data.makers.params import Param
from soen_train.data.makers.stratify import stratified_split

DIGIT_MAX = 16.0  # pixel values of load_digits are integers 0..16


class DigitsMaker(DatasetMaker):
    """The 1797 sklearn digits as [N, 8, 8] row sequences, 10 classes."""

    name = "digits"
    version = 1
    params: ClassVar[Mapping[str, Param]] = {
        "seed": Param(42, "int", minimum=0, help="seed of the stratified split"),
        "val_fraction": Param(0.15, "float", minimum=0.01, maximum=0.5, help="share for val"),
        "test_fraction": Param(0.15, "float", minimum=0.01, maximum=0.5, help="share for test"),
    }

    def make(self, params: Mapping[str, Any], out_path: Path) -> MadeDataset:
        """Load the bundled digits and split them."""
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = (np.asarray(bunch.images, dtype=np.float32) / DIGIT_MAX).reshape(-1, 8, 8)
        labels = np.asarray(bunch.target, dtype=np.int64)
        n = len(labels)
        n_val = int(params["val_fraction"] * n)
        n_test = int(params["test_fraction"] * n)
        train, val, test = stratified_split(labels, n_val, n_test, params["seed"])
        splits = {
            name: (images[idx], labels[idx])
            for name, idx in (("train", train), ("val", val), ("test", test))
        }
        return MadeDataset.classification(
            splits,
            task="digits",
            description="sklearn 8x8 digits, one image row per time step, pixels / 16",
            class_names=DIGIT_CLASS_NAMES,
            seed=params["seed"],
        )


DATASETS.register("digits", "sklearn_digits")(DigitsMaker())
