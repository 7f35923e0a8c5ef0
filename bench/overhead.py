"""Framework overhead: one training epoch through soen-train vs. a bare PyTorch loop.

Both train the same model (same seed, same architecture) on the same cached data with the same
batch order size, loss and optimiser. The soen-train epoch runs through the real runner pieces
(data module, Lightning module, callbacks, loggers, Trainer) as `soen-train experiment=pulses`
assembles them. Prints seconds per epoch and the ratio (aim: <= 1.10).

    python bench/overhead.py [--epochs 3] [--n-train 2048] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import List

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.loading import to_job_config
from soen_train.config.store import register_configs
from soen_train.training.model_factory import build_model
from soen_train.training.run_paths import RunPaths
from soen_train.training.runner import build_datamodule, build_module, flat_hparams
from soen_train.training.time_pooling import pool_time
from soen_train.training.trainer_factory import build_callbacks, build_loggers, build_trainer


class EpochTimer(pl.Callback):
    """Wall time of each training epoch, from its start to the start of its validation
    (the bare loop does not validate either)."""

    def __init__(self) -> None:
        self.times: List[float] = []
        self._t0 = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.times.append(time.perf_counter() - self._t0)


def _config(tmp: Path, n_train: int, epochs: int, extra: List[str] = ()):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "+experiment=pulses",
                f"data.data_path={tmp / 'pulses.h5'}",
                f"data.dataset_params.n_train={n_train}",
                f"training.max_epochs={epochs}",
                f"logging.project_dir={tmp / 'experiments'}",
                "logging.progress_bar=false",
                "logger=tensorboard",
                *extra,
            ],
        )
    return to_job_config(cfg)


def soen_train_epochs(cfg, epochs: int) -> List[float]:
    """Seconds per training epoch through the soen-train runner pieces."""
    pl.seed_everything(cfg.seed, verbose=False)
    paths = RunPaths.create(cfg.logging.project_dir, "bench", "overhead", "g", 0)
    dm = build_datamodule(cfg, cfg.seed)
    dm.setup("fit")
    model = build_model(None, False, None, cfg.model.architecture, seed=cfg.seed)
    module = build_module(cfg, model)
    callbacks, _, _ = build_callbacks(cfg, paths, module)
    timer = EpochTimer()
    loggers = build_loggers(cfg, paths, cfg.seed, None, flat_hparams(cfg))
    trainer = build_trainer(cfg, paths, [*callbacks, timer], loggers)
    trainer.fit(module, datamodule=dm)
    return timer.times


def bare_epochs(cfg, epochs: int) -> List[float]:
    """Seconds per epoch of a hand-written loop: forward, pool, CE, backward, step, clamp."""
    torch.manual_seed(cfg.seed)
    dm = build_datamodule(cfg, cfg.seed)
    dm.setup("fit")
    model = build_model(None, False, None, cfg.model.architecture, seed=cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.training.lr, **cfg.training.optimizer.kwargs)
    pooling = cfg.model.time_pooling
    loader = dm.train_dataloader()
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            out = pool_time(model(x)[:, 1:], pooling.name, dict(pooling.params))
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            model.enforce_constraints()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    """Parse arguments, time both loops, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--override", action="append", default=[],
                        help="extra soen-train override, e.g. model.architecture.layers.1.params.dim=64")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bare: List[float] = []
    ours: List[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        # alternate the two loops so that load from other processes hits both alike
        for round_ in range(args.rounds):
            cfg = _config(Path(tmp) / f"r{round_}", args.n_train, args.epochs, args.override)
            bare += bare_epochs(cfg, args.epochs)[1:]  # the first epoch warms caches
            ours += soen_train_epochs(cfg, args.epochs)[1:]
    b, o = min(bare), min(ours)
    print(
        f"median s/epoch: bare {statistics.median(bare):.3f}, soen-train {statistics.median(ours):.3f}"
    )
    n = args.n_train
    print(f"pulses experiment, {n} training sequences, overrides: {args.override or 'none'}")
    print(f"best of {len(bare)} epochs each:")
    print(f"bare PyTorch loop : {b:.3f} s/epoch  ({n / b:.0f} samples/s)")
    print(f"soen-train epoch  : {o:.3f} s/epoch  ({n / o:.0f} samples/s)")
    print(f"overhead ratio    : {o / b:.3f}  (soen-train / bare; target <= 1.10)")


if __name__ == "__main__":
    main()
