"""Shared pieces of the callback tests: a tiny real SOEN model, HDF5 dataset and Trainer.

Everything is real (SOENModel, SOENDataModule on an HDF5 file written here, the Lightning
module, TensorBoard event files) and tiny: 2 inputs -> 3 dendrites -> 2 NOCC multipliers,
6 time steps, 16/8/8 samples, batches of 4, so each Trainer run takes about a second.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.loggers import TensorBoardLogger

from soen_train.data import write_split_file
from soen_train.model import SOENModel
from soen_train.training.module import SOENLightningModule

TINY_ARCH: dict[str, Any] = {
    "simulation": {"dt": 50.0, "input_type": "state", "network_evaluation_method": "layerwise"},
    "layers": [
        {"layer_id": 0, "layer_type": "Input", "params": {"dim": 2}},
        {
            "layer_id": 1,
            "layer_type": "SingleDendrite",
            "params": {
                "dim": 3,
                "solver": "FE",
                "source_func": "Heaviside_fit_state_dep",
                "bias_current": {"distribution": "uniform", "params": {"min": 1.7, "max": 2.0}},
                "gamma_plus": {"distribution": "constant", "params": {"value": 1e-3}},
                "gamma_minus": {"distribution": "constant", "params": {"value": 1e-3}},
                "learnable_params": {
                    "bias_current": True,
                    "phi_offset": False,
                    "gamma_plus": False,
                    "gamma_minus": False,
                },
            },
        },
        {"layer_id": 2, "layer_type": "MultiplierNOCC", "params": {"dim": 2}},
    ],
    "connections": [
        {
            "from_layer": 0,
            "to_layer": 1,
            "connection_type": "all_to_all",
            "learnable": True,
            "params": {
                "init": "uniform",
                "min": -0.2,
                "max": 0.2,
                "constraints": {"min": -0.24, "max": 0.24},
            },
        },
        {
            "from_layer": 1,
            "to_layer": 1,
            "connection_type": "all_to_all",
            "learnable": True,
            "params": {"init": "uniform", "min": -0.1, "max": 0.1, "allow_self_connections": False},
        },
        {
            "from_layer": 1,
            "to_layer": 2,
            "connection_type": "all_to_all",
            "learnable": True,
            "params": {"init": "uniform", "min": -0.2, "max": 0.2},
        },
    ],
}

STEPS, FEATURES, CLASSES = 6, 2, 2
SPLIT_SIZES = {"train": 16, "val": 8, "test": 8}
BATCH = 4


def make_model(seed: int = 3) -> SOENModel:
    """The tiny 2 -> 3 -> 2 model with a fixed seed."""
    return SOENModel.from_yaml(copy.deepcopy(TINY_ARCH), seed=seed)


def make_module(model: SOENModel, **kwargs: Any) -> SOENLightningModule:
    """A cross-entropy SOENLightningModule with max pooling (scale 1) and Adam lr 1e-2."""
    settings: dict[str, Any] = {
        "losses": [{"name": "cross_entropy", "weight": 1.0, "params": {}}],
        "mapping": "seq2static",
        "pooling_name": "max",
        "pooling_params": {"scale": 1.0},
        "optimizer": {"name": "adam", "lr": 1e-2},
        "metrics": ["accuracy"],
        "log_freq": 1,
    }
    settings.update(kwargs)
    return SOENLightningModule(model, **settings)


def write_dataset(path: Path, steps: int = STEPS, seed: int = 0) -> Path:
    """A split HDF5 file: inputs in [0, 1) [N, steps, 2], labels = (first feature mean > 0.5)."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in SPLIT_SIZES.items():
        x = rng.random((n, steps, FEATURES)).astype(np.float32)
        y = (x[:, :, 0].mean(axis=1) > 0.5).astype(np.int64)
        splits[name] = (x, y)
    return write_split_file(path, splits)


def make_trainer(
    tmp_path: Path, callbacks: list[pl.Callback], max_epochs: int = 1, **kwargs: Any
) -> pl.Trainer:
    """A CPU Trainer logging to TensorBoard under tmp_path/tb, no progress bar or checkpoints."""
    settings: dict[str, Any] = {
        "max_epochs": max_epochs,
        "accelerator": "cpu",
        "devices": 1,
        "logger": TensorBoardLogger(save_dir=str(tmp_path), name="tb", version="run"),
        "callbacks": callbacks,
        "enable_progress_bar": False,
        "enable_checkpointing": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,
    }
    settings.update(kwargs)
    return pl.Trainer(**settings)


def event_accumulator(tmp_path: Path) -> Any:
    """TensorBoard's own reader over the run's event files, with nothing sampled away."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(
        str(tmp_path / "tb" / "run"), size_guidance={"scalars": 0, "histograms": 0, "images": 0}
    )
    acc.Reload()
    return acc


def scalar_values(tmp_path: Path, tag: str) -> list[float]:
    """Values of scalar ``tag`` in step order, read back from the event files."""
    return [e.value for e in event_accumulator(tmp_path).Scalars(tag)]


class Probe(pl.Callback):
    """Calls ``fn(hook, trainer, module, *args)`` from the listed hooks (list it after the callback)."""

    def __init__(self, fn: Callable[..., None], hooks: list[str]) -> None:
        self.fn = fn
        for hook in hooks:
            setattr(self, hook, self._forward(hook))

    def _forward(self, hook: str) -> Callable[..., None]:
        def call(
            trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
        ) -> None:
            self.fn(hook, trainer, pl_module, *args)

        return call
