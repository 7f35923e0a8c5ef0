"""``mnist1d``: the MNIST-1D benchmark (Greydanus 2020), generated offline by the ``mnist1d`` package.

Ten 1-D digit templates are padded, translated, scaled, sheared and noised into sequences of
40 steps with one feature each, then standardised over the whole set (mean 0, std 1). The
package's own generator is used with its published defaults (5000 samples, 80/20
train/test split, seed 42), so the data equal the published benchmark; the validation part
is taken class-proportionally from the training part. Nothing is downloaded.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from soen_train.data.makers.catalog import DATASETS, DIGIT_CLASS_NAMES, DatasetMaker, MadeDataset
from soen_train.data.makers.params import Param
from soen_train.data.makers.stratify import holdout_splits


class Mnist1dMaker(DatasetMaker):
    """MNIST-1D as [N, 40 steps, 1 feature] float32 sequences, 10 classes."""

    name = "mnist1d"
    version = 1
    params: ClassVar[Mapping[str, Param]] = {
        "num_samples": Param(5000, "int", minimum=100, help="samples generated (train + test)"),
        "train_split": Param(
            0.8, "float", minimum=0.1, maximum=0.95, help="share of the samples for train + val"
        ),
        "val_fraction": Param(
            0.1, "float", minimum=0.01, maximum=0.5, help="share of train used for validation"
        ),
        "seed": Param(42, "int", minimum=0, help="generator seed (42 = the published set)"),
    }

    def make(self, params: Mapping[str, Any], out_path: Path) -> MadeDataset:
        """Generate with the package's defaults for the other settings, then split."""
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples = params["num_samples"]
        args.train_split = params["train_split"]
        args.seed = params["seed"]
        # the package seeds Python's and NumPy's global generators: leave them as they were
        saved_np, saved_py = np.random.get_state(), random.getstate()
        try:
            made = make_dataset(args)
        finally:
            np.random.set_state(saved_np)
            random.setstate(saved_py)
        x = np.asarray(made["x"], dtype=np.float32)[:, :, None]
        y = np.asarray(made["y"], dtype=np.int64)
        x_test = np.asarray(made["x_test"], dtype=np.float32)[:, :, None]
        y_test = np.asarray(made["y_test"], dtype=np.int64)
        n_val = max(10, int(params["val_fraction"] * len(y)))
        splits = holdout_splits(x, y, x_test, y_test, n_val, params["seed"] + 1)
        return MadeDataset.classification(
            splits,
            task="mnist1d",
            description="MNIST-1D digits (40 steps x 1 feature), standardised",
            class_names=DIGIT_CLASS_NAMES,
            seed=params["seed"],
        )


DATASETS.register("mnist1d")(Mnist1dMaker())
