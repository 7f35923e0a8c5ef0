"""Framework overhead: one training epoch through soen-train vs. a bare PyTorch loop.

Both train the same model (same seed, same architecture) on the same cached data with the same
batch order size, loss and optimiser. The soen-train epoch runs through the real runner pieces
(data module, Lightning module, callbacks, loggers, Trainer) as `soen-train experiment=pulses`
assembles them. Runs the default pulses net (5 recurrent nodes) and the same net with 64 nodes,
alternating the two loops over ``--rounds`` so load from other processes hits both alike, and
prints seconds per epoch and the ratio (aim: <= 1.10) by wall clock and by process CPU time
(all threads; the steadier figure on a shared machine).

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


class EpochTimer(pl.Callback):
    """Wall and CPU time of each training epoch, from its start to the start of its validation
    (the bare loop does not validate either)."""

    def __init__(self) -> None:
        self.times: List[Clock] = []
        self._t0: Clock = (0.0, 0.0)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t0 = _now()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.times.append(_since(self._t0))


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


#: which loop trained the last soen-train run ("fast", or "lightning: <why>")
LOOP_USED: List[str] = []


def soen_train_epochs(cfg, epochs: int) -> List[Clock]:
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
    LOOP_USED[:] = [module.training_loop]
    return timer.times


def bare_epochs(cfg, epochs: int) -> List[Clock]:
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
        t0 = _now()
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            out = pool_time(model(x)[:, 1:], pooling.name, dict(pooling.params))
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            model.enforce_constraints()
        times.append(_since(t0))
    return times


NETS: Dict[str, List[str]] = {
    "default pulses net (1 -> 5 -> 2)": [],
    "64-node net (1 -> 64 -> 2)": ["model.architecture.layers.1.params.dim=64"],
}


def _report(name: str, n: int, bare: List[Clock], ours: List[Clock]) -> None:
    """Median and best s/epoch of both loops and their ratios, by wall clock and CPU time."""
    print(f"{name}, {n} training sequences, {len(bare)} timed epochs per loop; "
          f"soen-train's training loop: {LOOP_USED[0]}")
    for index, clock in ((0, "wall"), (1, "cpu ")):
        b = [t[index] for t in bare]
        o = [t[index] for t in ours]
        bm, om = statistics.median(b), statistics.median(o)
        print(
            f"  {clock}: bare {bm:.3f} s/epoch ({n / bm:.0f} samples/s), soen-train {om:.3f} "
            f"s/epoch; ratio median {om / bm:.3f}, best-of {min(o) / min(b):.3f}  (target <= 1.10)"
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
            bare: List[Clock] = []
            ours: List[Clock] = []
            # alternate the two loops so that load from other processes hits both alike
            for round_ in range(args.rounds):
                folder = Path(tmp) / f"{len(overrides)}-{round_}"
                cfg = _config(folder, args.n_train, args.epochs, [*overrides, *args.override])
                bare += bare_epochs(cfg, args.epochs)[1:]  # the first epoch warms caches
                ours += soen_train_epochs(cfg, args.epochs)[1:]
            _report(net, args.n_train, bare, ours)


if __name__ == "__main__":
    main()
