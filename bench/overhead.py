"""Framework overhead: one training epoch through soen-train vs. a bare PyTorch loop.

Both train the same model (same seed, same architecture) on the same cached data with the same
batch order size, loss and optimiser. The soen-train epoch runs through the real runner pieces
(data module, Lightning module, callbacks, loggers, Trainer) as `soen-train experiment=pulses`
assembles them. Runs the default pulses net (5 recurrent nodes) and the same net with 64 nodes.
Every soen-train epoch is followed by one epoch of the bare loop (from a callback, right after
the validation), so the two epochs of a pair see the same load on a shared machine; prints seconds
per epoch and the median and quartiles of the per-pair ratios (aim: <= 1.10), by wall clock and
by process CPU time (all threads).

    python bench/overhead.py [--epochs 3] [--n-train 2048] [--threads 2] [--rounds 3]
    python bench/overhead.py --override training.fast_loop=false   # Lightning's own loop
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.loading import to_job_config
from soen_train.config.store import register_configs
from soen_train.training.datamodule_factory import build_datamodule
from soen_train.training.model_factory import build_model
from soen_train.training.run_paths import RunPaths
from soen_train.training.runner import build_module
from soen_train.training.time_pooling import pool_time
from soen_train.training.trainer_factory import (
    build_callbacks,
    build_loggers,
    build_trainer,
    flat_hparams,
)

Clock = Tuple[float, float]  # (wall seconds, process CPU seconds)


def _now() -> Clock:
    return time.perf_counter(), time.process_time()


def _since(t0: Clock) -> Clock:
    wall, cpu = _now()
    return wall - t0[0], cpu - t0[1]


class BareLoop:
    """A hand-written loop over the same cached batches: forward, pool, CE, backward, step,
    clamp (its own model and optimiser, same seed and settings)."""

    def __init__(self, cfg) -> None:
        torch.manual_seed(cfg.seed)
        dm = build_datamodule(cfg, cfg.seed)
        dm.setup("fit")
        self.model = build_model(None, False, None, cfg.model.architecture, seed=cfg.seed)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.training.lr,
                                     **cfg.training.optimizer.kwargs)
        self.pooling = cfg.model.time_pooling
        self.loader = dm.train_dataloader()

    def epoch(self) -> Clock:
        """Wall and CPU seconds of one epoch."""
        t0 = _now()
        for x, y in self.loader:
            self.opt.zero_grad(set_to_none=True)
            out = pool_time(self.model(x)[:, 1:], self.pooling.name, dict(self.pooling.params))
            loss = F.cross_entropy(out, y)
            loss.backward()
            self.opt.step()
            self.model.enforce_constraints()
        return _since(t0)


class PairedEpochTimer(pl.Callback):
    """Times each soen-train training epoch (from its start to the start of its validation:
    the bare loop does not validate either), then, right after the validation, one epoch of
    the bare loop, so the two epochs of a pair see the same load on the machine."""

    def __init__(self, bare: BareLoop) -> None:
        self.bare = bare
        self.pairs: List[Tuple[Clock, Clock]] = []  # (soen-train, bare)
        self._t0: Clock = (0.0, 0.0)
        self._ours: Clock = (0.0, 0.0)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0 = _now()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._ours = _since(self._t0)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after the (short) validation, outside its no-grad context
        self.pairs.append((self._ours, self.bare.epoch()))


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


def paired_epochs(cfg) -> Tuple[List[Tuple[Clock, Clock]], str]:
    """(soen-train, bare) seconds of each training epoch, soen-train's through the runner
    pieces, each followed by an epoch of the bare loop; and which loop soen-train ran ("fast",
    or "lightning: <why>")."""
    pl.seed_everything(cfg.seed, verbose=False)
    paths = RunPaths.create(cfg.logging.project_dir, "bench", "overhead", "g", 0)
    dm = build_datamodule(cfg, cfg.seed)
    dm.setup("fit")
    model = build_model(None, False, None, cfg.model.architecture, seed=cfg.seed)
    module = build_module(cfg, model)
    callbacks, _, _ = build_callbacks(cfg, paths, module)
    timer = PairedEpochTimer(BareLoop(cfg))
    loggers = build_loggers(cfg, paths, cfg.seed, None, flat_hparams(cfg))
    trainer = build_trainer(cfg, paths, [*callbacks, timer], loggers)
    trainer.fit(module, datamodule=dm)
    return timer.pairs, module.training_loop


NETS: Dict[str, List[str]] = {
    "default pulses net (1 -> 5 -> 2)": [],
    "64-node net (1 -> 64 -> 2)": ["model.architecture.layers.1.params.dim=64"],
}


def _report(name: str, n: int, pairs: List[Tuple[Clock, Clock]], loop: str) -> None:
    """Median s/epoch of both loops and the median of the per-pair ratios (each soen-train
    epoch over the bare epoch right after it), by wall clock and CPU time."""
    print(f"{name}, {n} training sequences, {len(pairs)} timed epoch pairs; "
          f"soen-train's training loop: {loop}")
    for index, clock in ((0, "wall"), (1, "cpu ")):
        o = [ours[index] for ours, _ in pairs]
        b = [bare[index] for _, bare in pairs]
        ratios = sorted(x / y for x, y in zip(o, b))
        bm, om = statistics.median(b), statistics.median(o)
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(
            f"  {clock}: bare {bm:.3f} s/epoch ({n / bm:.0f} samples/s), soen-train {om:.3f} "
            f"s/epoch; ratio median {statistics.median(ratios):.3f} (quartiles "
            f"{quartiles[0]:.3f}-{quartiles[2]:.3f})  (target <= 1.10)"
        )


def main() -> None:
    """Parse arguments, time both loops on both nets, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--override", action="append", default=[],
                        help="extra soen-train override for both nets, e.g. training.batch_size=64")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        for net, overrides in NETS.items():
            pairs: List[Tuple[Clock, Clock]] = []
            for round_ in range(args.rounds):
                folder = Path(tmp) / f"{len(overrides)}-{round_}"
                cfg = _config(folder, args.n_train, args.epochs, [*overrides, *args.override])
                timed, loop = paired_epochs(cfg)
                pairs += timed[1:]  # the first pair warms caches
            _report(net, args.n_train, pairs, loop)


if __name__ == "__main__":
    main()
