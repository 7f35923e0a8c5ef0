"""``pulses``: tell one pulse from two in a noisy single-channel sequence (label 1 = two pulses).

Each sequence has ``seq_len`` steps of Gaussian baseline noise (std ``noise_std``) plus one or
two Gaussian bumps A exp(-((t - c) / width)^2 / 2), amplitude A ~ U[amplitude_min,
amplitude_max], centres c kept 3 widths from the ends; two pulses are at least ``min_gap``
steps apart. Classes are exactly balanced in every split (within one sample). The defaults
keep the one- and two-pulse areas apart (amplitude range narrower than a factor of two), so a
small SOEN that integrates its input can learn the task.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from soen_train.data.errors import DataError
from soen_train.data.makers.catalog import DATASETS, DatasetMaker, MadeDataset
from soen_train.data.makers.params import Param


def _pulse_centres(
    rng: np.random.Generator, labels: np.ndarray, lo: float, hi: float, min_gap: float
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (first, second) per sample; the second is NaN for one-pulse samples."""
    n = len(labels)
    first = rng.uniform(lo, hi, size=n)
    gap = rng.uniform(min_gap, hi - lo, size=n)
    start = rng.uniform(0.0, 1.0, size=n) * (hi - lo - gap) + lo
    two = labels == 1
    first = np.where(two, start, first)
    second = np.where(two, start + gap, np.nan)
    return first, second


def make_pulse_split(
    n: int, params: Mapping[str, Any], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One split: data float32 [n, seq_len, 1] and balanced int64 labels [n]."""
    seq_len, width = params["seq_len"], params["pulse_width"]
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    lo, hi = 3.0 * width, seq_len - 1 - 3.0 * width
    first, second = _pulse_centres(rng, labels, lo, hi, params["min_gap"])
    amp = rng.uniform(params["amplitude_min"], params["amplitude_max"], size=(n, 2))
    t = np.arange(seq_len, dtype=np.float64)[None, :]

    def bump(centre: np.ndarray, a: np.ndarray) -> np.ndarray:
        shape = np.exp(-0.5 * ((t - centre[:, None]) / width) ** 2)
        return np.where(np.isnan(centre)[:, None], 0.0, a[:, None] * shape)

    signal = bump(first, amp[:, 0]) + bump(second, amp[:, 1])
    signal += rng.normal(0.0, params["noise_std"], size=signal.shape)
    return signal[:, :, None].astype(np.float32), labels


class PulsesMaker(DatasetMaker):
    """Generated one-or-two-pulse detection data, deterministic for a seed."""

    name = "pulses"
    version = 1
    params: ClassVar[Mapping[str, Param]] = {
        "n_train": Param(1000, "int", minimum=2, help="training sequences"),
        "n_val": Param(200, "int", minimum=2, help="validation sequences"),
        "n_test": Param(200, "int", minimum=2, help="test sequences"),
        "seq_len": Param(64, "int", minimum=8, help="time steps per sequence"),
        "seed": Param(42, "int", minimum=0, help="random seed"),
        "amplitude_min": Param(1.2, "float", minimum=0.0, help="smallest pulse amplitude"),
        "amplitude_max": Param(1.8, "float", minimum=0.0, help="largest pulse amplitude"),
        "pulse_width": Param(1.5, "float", minimum=0.1, help="Gaussian width (std) in steps"),
        "min_gap": Param(8.0, "float", minimum=0.0, help="smallest distance of two pulses, steps"),
        "noise_std": Param(0.03, "float", minimum=0.0, help="baseline noise std"),
    }

    def make(self, params: Mapping[str, Any], out_path: Path) -> MadeDataset:
        """Generate train/val/test with independent seeded streams per split."""
        if params["amplitude_min"] > params["amplitude_max"]:
            raise DataError(
                f"dataset 'pulses': amplitude_min={params['amplitude_min']} is above "
                f"amplitude_max={params['amplitude_max']}"
            )
        span = params["seq_len"] - 1 - 6.0 * params["pulse_width"]
        if span < params["min_gap"]:
            raise DataError(
                f"dataset 'pulses': seq_len={params['seq_len']} leaves {span:.1f} steps for pulse "
                f"centres (3 widths kept from each end), less than min_gap={params['min_gap']}; "
                "raise seq_len or lower pulse_width/min_gap"
            )
        streams = np.random.SeedSequence(params["seed"]).spawn(3)
        splits = {
            name: make_pulse_split(params[f"n_{name}"], params, np.random.default_rng(stream))
            for name, stream in zip(("train", "val", "test"), streams)
        }
        return MadeDataset.classification(
            splits,
            task="one_or_two_pulses",
            description="one (label 0) or two (label 1) Gaussian pulses on a noisy baseline",
            class_names=["one_pulse", "two_pulses"],
            seed=params["seed"],
        )


DATASETS.register("pulses", "one_or_two_pulses")(PulsesMaker())
