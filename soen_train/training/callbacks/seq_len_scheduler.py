"""``TargetSeqLenScheduler``: grow (or shrink) the data's sequence length over epochs.

Curriculum on time: short sequences first, long ones later. For epoch e the length is
``start_len`` (e <= start_epoch), ``end_len`` (e >= end_epoch, default the last epoch) or
``start_len + (e - start_epoch) / (end_epoch - start_epoch) * (end_len - start_len)``
rounded half up. The data module resamples every split with
``SOENDataModule.set_target_seq_len`` (cached splits are rebuilt in place).

Timing (the original applied each length one epoch late for training): the length of epoch
e is set before epoch e's first training batch is drawn: at setup for the first epoch, at
the end of epoch e-1 (so loaders that Lightning reloads between epochs see it), and again at
the start of epoch e (after a resume). Validation inside epoch e uses epoch e's length.
With ``num_workers > 0`` the trainer must recreate its loaders every epoch
(``reload_dataloaders_every_n_epochs=1``, see ``factory.trainer_settings``), otherwise the
workers would keep the old data; this is checked at setup.

``scale_dt``: dt becomes ``dt_0 * start_len / length`` so that the simulated duration
T * dt (in units of 1/omega_c) stays what it was at ``start_len``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from soen_train.config.errors import ConfigError
from soen_train.loop_policy.epoch_schedules import EpochRamp, check_epoch_window
from soen_train.training.callbacks.model_refs import unwrap_model
from soen_train.training.losses.param_checks import check_bool, check_number

TAG_LENGTH = "callbacks/target_seq_len"
TAG_DT = "callbacks/seq_len_scheduler/dt"


class TargetSeqLenScheduler(pl.Callback):
    """Changes the data module's ``target_seq_len`` (and optionally the model's dt) per epoch."""

    def __init__(
        self,
        start_len: int,
        end_len: int,
        start_epoch: int = 0,
        end_epoch: int | None = None,
        scale_dt: bool = False,
        setting: str = "TargetSeqLenScheduler",
    ) -> None:
        self.start_len = int(check_number(setting, "start_len", start_len, minimum=1, integer=True))
        self.end_len = int(check_number(setting, "end_len", end_len, minimum=1, integer=True))
        check_epoch_window(setting, start_epoch, end_epoch)
        self.start_epoch = start_epoch
        self.end_epoch = end_epoch
        self.scale_dt = check_bool(setting, "scale_dt", scale_dt)
        self.setting = setting
        self.ramp = EpochRamp(self.start_len, self.end_len, start_epoch, end_epoch)
        self.base_dt: float | None = None
        self.current_len: int | None = None

    def length_at(self, epoch: int, max_epochs: int | None) -> int:
        """Sequence length (time steps) for epoch ``epoch`` of a ``max_epochs``-epoch run."""
        return self.ramp.length_at(epoch, max_epochs)

    def dt_for(self, length: int) -> float:
        """dt that keeps length * dt equal to start_len * dt_0 (dimensionless, 1/omega_c)."""
        assert self.base_dt is not None
        return self.base_dt * self.start_len / length

    # ---------------------------------------------------------------- checks
    def check_datamodule(self, datamodule: Any) -> None:
        """Fail now if the data module cannot change its sequence length."""
        if datamodule is None or not callable(getattr(datamodule, "set_target_seq_len", None)):
            raise ConfigError(
                f"{self.setting}: needs a data module with set_target_seq_len() (SOENDataModule); "
                f"got {type(datamodule).__name__}"
            )

    def check_model(self, model: Any) -> None:
        """Fail now if ``scale_dt`` is asked of a model without ``dt`` / ``set_dt``."""
        if self.scale_dt and not (
            hasattr(model, "dt") and callable(getattr(model, "set_dt", None))
        ):
            raise ConfigError(f"{self.setting}: scale_dt needs a model with dt and set_dt()")

    def _check_reload(self, trainer: Any, datamodule: Any) -> None:
        options = getattr(datamodule, "options", None)
        workers = int(getattr(options, "num_workers", 0) or 0)
        if workers > 0 and trainer.reload_dataloaders_every_n_epochs != 1:
            raise ConfigError(
                f"{self.setting}: with training.num_workers={workers} the data loaders must be rebuilt "
                "every epoch to see a new sequence length; build the Trainer with "
                "reload_dataloaders_every_n_epochs=1 (factory.trainer_settings) or set "
                "training.num_workers=0"
            )

    # ---------------------------------------------------------------- apply
    def _apply(self, trainer: Any, pl_module: Any, epoch: int) -> int:
        length = self.length_at(epoch, trainer.max_epochs)
        trainer.datamodule.set_target_seq_len(length)
        if self.scale_dt:
            unwrap_model(pl_module).set_dt(self.dt_for(length))
        self.current_len = length
        return length

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self.check_datamodule(trainer.datamodule)
        self._check_reload(trainer, trainer.datamodule)
        model = unwrap_model(pl_module)
        self.check_model(model)
        if self.scale_dt and self.base_dt is None:
            self.base_dt = float(model.dt)
        self._apply(trainer, pl_module, trainer.current_epoch)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._apply(trainer, pl_module, trainer.current_epoch)
        pl_module.log(TAG_LENGTH, float(self.current_len), on_step=False, on_epoch=True)
        if self.scale_dt:
            pl_module.log(TAG_DT, self.dt_for(self.current_len), on_step=False, on_epoch=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Next epoch's length, in place before Lightning (re)creates the loaders for it.
        if trainer.current_epoch + 1 < (trainer.max_epochs or 0):
            self._apply(trainer, pl_module, trainer.current_epoch + 1)

    def state_dict(self) -> dict[str, Any]:
        return {"base_dt": self.base_dt, "current_len": self.current_len}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        base = state_dict.get("base_dt")
        self.base_dt = None if base is None else float(base)
        current = state_dict.get("current_len")
        self.current_len = None if current is None else int(current)
