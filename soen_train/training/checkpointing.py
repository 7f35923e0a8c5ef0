"""Checkpoints written atomically, with a `.soen` of the best weights beside them.

Names carry no '/' (the original's `val_loss/total` made sub-directories): files are
`epoch=NN-val_loss=0.1234.ckpt`, `last.ckpt` and `best.soen`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint


def atomic_replace_write(path: Path, write: Any) -> None:
    """Write through `write(tmp_path)` then rename over `path`: a crash leaves the old file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that never leaves a half-written .ckpt behind."""

    def save_checkpoint(
        self, checkpoint: Dict[str, Any], path: Any, storage_options: Optional[Any] = None
    ) -> None:
        atomic_replace_write(Path(path), lambda tmp: torch.save(checkpoint, tmp))


class SOENModelCheckpoint(ModelCheckpoint):
    """Top-k/last checkpoints by a monitored metric, plus `.soen` exports of the weights.

    `best.soen` always holds the best weights so far; with `soen_sidecars` every `.ckpt` gets a
    `<stem>.soen` twin that disappears with it.
    """

    def __init__(self, *args: Any, soen_sidecars: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.soen_sidecars = soen_sidecars

    def _export_soen(self, trainer: pl.Trainer, target: Path) -> None:
        model = trainer.lightning_module.model
        if trainer.is_global_zero:
            atomic_replace_write(target, lambda tmp: model.save(tmp))

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        path = Path(filepath)
        if self.soen_sidecars:
            self._export_soen(trainer, path.with_suffix(".soen"))
        if self.best_model_path and Path(self.best_model_path) == path:
            self._export_soen(trainer, path.parent / "best.soen")

    def _remove_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        super()._remove_checkpoint(trainer, filepath)
        sidecar = Path(filepath).with_suffix(".soen")
        if self.soen_sidecars and trainer.is_global_zero and sidecar.exists():
            sidecar.unlink()


class InitialStateSaver(pl.Callback):
    """Writes `initial.ckpt` (and `initial.soen`) before the first optimiser step."""

    def __init__(self, dirpath: Path, soen_sidecar: bool) -> None:
        self.dirpath = Path(dirpath)
        self.soen_sidecar = soen_sidecar

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step > 0:
            return  # resumed run: the initial state is long gone
        trainer.save_checkpoint(self.dirpath / "initial.ckpt")
        if self.soen_sidecar and trainer.is_global_zero:
            target = self.dirpath / "initial.soen"
            atomic_replace_write(target, lambda tmp: pl_module.model.save(tmp))


class PreemptionCheckpoint(pl.Callback):
    """On SIGTERM/SIGINT (a cluster pre-empting the job) writes a resumable `last.ckpt`."""

    def __init__(self, dirpath: Path) -> None:
        self.dirpath = Path(dirpath)
        self.saved_path: Optional[Path] = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)) and trainer.global_step > 0:
            self.saved_path = self.dirpath / "last.ckpt"
            trainer.save_checkpoint(self.saved_path)
