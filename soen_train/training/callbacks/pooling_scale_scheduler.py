"""``TimePoolingScaleScheduler``: ramp the time-pooling ``scale`` over epochs.

The pooled output is ``scale * pool(h)``; a growing scale sharpens the softmax of a
classifier as training proceeds. At the start of every training epoch e the scale becomes
``start`` (e <= start_epoch), ``end`` (e >= end_epoch) or the linear value in between, and is
written into the Lightning module's live ``pooling_params`` dict. The current scale is kept
in checkpoints, so a resumed run continues with the scale it stopped at.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from soen_train.config.errors import ConfigError
from soen_train.loop_policy.epoch_schedules import EpochRamp, check_epoch_window
from soen_train.training.losses.param_checks import check_number

TAG = "callbacks/time_pooling_scale"


class TimePoolingScaleScheduler(pl.Callback):
    """Sets ``pl_module.pooling_params['scale']`` each epoch from a linear ramp."""

    def __init__(
        self,
        start_scale: float,
        end_scale: float,
        start_epoch: int = 0,
        end_epoch: int | None = None,
        setting: str = "TimePoolingScaleScheduler",
    ) -> None:
        self.start_scale = check_number(
            setting, "start_scale", start_scale, minimum=0.0, min_inclusive=False
        )
        self.end_scale = check_number(
            setting, "end_scale", end_scale, minimum=0.0, min_inclusive=False
        )
        check_epoch_window(setting, start_epoch, end_epoch)
        self.start_epoch = start_epoch
        self.end_epoch = end_epoch
        self.setting = setting
        self.ramp = EpochRamp(float(self.start_scale), float(self.end_scale), start_epoch, end_epoch)
        self.current_scale: float | None = None

    def scale_at(self, epoch: int, max_epochs: int | None) -> float:
        """Scale for training epoch ``epoch`` of a run of ``max_epochs`` epochs."""
        return self.ramp.value_at(epoch, max_epochs)

    def check_module(self, pl_module: Any) -> None:
        """Fail now if the module has no live ``pooling_params`` dict to write into."""
        params = getattr(pl_module, "pooling_params", None)
        if not isinstance(params, dict):
            raise ConfigError(
                f"{self.setting}: the Lightning module has no pooling_params dict; the pooling-scale "
                "schedule needs a SOENLightningModule with mapping seq2static"
            )

    def _write(self, pl_module: Any, scale: float) -> None:
        pl_module.pooling_params["scale"] = float(scale)
        self.current_scale = float(scale)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.check_module(pl_module)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs after a checkpoint is restored: validation before the first epoch uses that scale.
        if self.current_scale is None:
            self.current_scale = self.scale_at(trainer.current_epoch, trainer.max_epochs)
        self._write(pl_module, self.current_scale)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(pl_module, self.scale_at(trainer.current_epoch, trainer.max_epochs))
        pl_module.log(TAG, self.current_scale, on_step=False, on_epoch=True)

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.current_scale}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("scale")
        self.current_scale = None if saved is None else float(saved)
