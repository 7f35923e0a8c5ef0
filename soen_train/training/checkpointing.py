"""Checkpoints written atomically, with a `.soen` of the best weights beside them.

Names carry no '/' (the original's `val_loss/total` made sub-directories): files are
`epoch=NN-val_loss=0.1234.ckpt`, `last.ckpt` and `best.soen`.

`last.ckpt` is the latest state after every epoch (Lightning alone rewrites it only when a
top-k checkpoint is saved, so a run whose val_loss got worse kept an old `last.ckpt`) and on
SIGTERM/SIGINT. Every checkpoint carries the run's identity (`soen_run_identity`: MLflow run id
and the flattened config), so a resume continues the same MLflow run and names changed keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from soen_train.loop_policy.checkpoint_rule import enters_top_k


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

    def check_monitor_top_k(self, trainer: pl.Trainer, current: Optional[torch.Tensor] = None) -> bool:
        """Whether ``current`` enters the top k: the rule of ``loop_policy.checkpoint_rule``
        (the JAX loop's too); every rank agrees under DDP."""
        kept = [float(v) for v in self.best_k_models.values()]
        value = None if current is None else float(current)
        enters = enters_top_k(value, kept, self.save_top_k, self.mode)
        if current is None or self.save_top_k < 0 or len(kept) < self.save_top_k:
            return enters
        return bool(trainer.strategy.reduce_boolean_decision(bool(enters)))

    def _save_last_checkpoint(self, trainer: pl.Trainer, monitor_candidates: Dict[str, Any]) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        if self.save_last:
            self._last_written_step = trainer.global_step

    def _refresh_last(self, trainer: pl.Trainer) -> None:
        """Write `last.ckpt` when this epoch's state is not in it yet (no top-k save happened)."""
        if not self.save_last or trainer.sanity_checking or trainer.fast_dev_run:
            return
        if getattr(self, "_last_written_step", None) == trainer.global_step:
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

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

        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            return
        for lgr in trainer.loggers:  # the MLflow run ends KILLED, not FAILED
            lgr.soen_final_status = "KILLED"
        if trainer.global_step > 0:
            self.saved_path = self.dirpath / "last.ckpt"
            trainer.save_checkpoint(self.saved_path)


#: Checkpoint key holding the run identity written by `RunIdentity`.
IDENTITY_KEY = "soen_run_identity"


class RunIdentity(pl.Callback):
    """Puts the MLflow run id and the flattened config (values as strings) in every checkpoint.

    A resume reads them back (`read_run_identity`) to continue the same MLflow run and to say
    which config keys differ from those the checkpoint was trained with.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = {str(k): str(v) for k, v in config.items()}

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: Dict[str, Any]
    ) -> None:
        run_id = next(
            (getattr(lgr, "run_id", None) for lgr in trainer.loggers if getattr(lgr, "run_id", None)),
            None,
        )
        checkpoint[IDENTITY_KEY] = {"mlflow_run_id": run_id, "config": self.config}


def read_run_identity(path: Any) -> Dict[str, Any]:
    """The `RunIdentity` record of a checkpoint ({} for checkpoints written before it existed).

    Loaded with ``weights_only=True``: reading it can never run code."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    identity = ckpt.get(IDENTITY_KEY) if isinstance(ckpt, dict) else None
    return dict(identity) if isinstance(identity, dict) else {}


#: Config keys whose change makes a checkpoint's optimiser or model state unusable.
STATE_SHAPING_KEYS = (
    "training.optimizer.name", "model.architecture", "model.architecture_yaml",
    "model.base_model_path", "training.paradigm", "training.mapping", "training.backend",
)
#: Keys expected to differ on every resume (not worth reporting).
RESUME_KEYS = ("training.train_from_checkpoint", "training.max_epochs")


def changed_keys(stored: Mapping[str, str], current: Mapping[str, Any]) -> List[str]:
    """Config keys whose value differs between a checkpoint's config and the current one."""
    now = {str(k): str(v) for k, v in current.items()}
    keys = sorted(set(stored) | set(now))
    return [k for k in keys if stored.get(k) != now.get(k) and not k.startswith(RESUME_KEYS)]


def describe_changes(stored: Mapping[str, str], current: Mapping[str, Any], keys: List[str]) -> str:
    """`key: old -> new` for each key, for one error or log line."""
    now = {str(k): str(v) for k, v in current.items()}
    return ", ".join(f"{k}: {stored.get(k, '<unset>')} -> {now.get(k, '<unset>')}" for k in keys)


def state_shaping(keys: List[str]) -> List[str]:
    """The keys among ``keys`` that make the checkpoint's state unusable when they change."""
    return [k for k in keys if k.startswith(STATE_SHAPING_KEYS)]
