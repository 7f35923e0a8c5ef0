"""``NoiseAnnealingCallback``: ramp one noise or perturbation std of the model's layers.

Hardware-realistic training often starts noisy and quiets down (or the reverse). The std
for ``key`` (``phi``, ``g``, ``s``, ``bias_current``, ``j`` or a layer parameter name) is
``start_value + p (end_value - start_value)`` with p the ramp progress (per optimiser step
or per epoch, see ``schedule_math``), written with ``model.set_noise``. ``target`` picks
``noise`` (a fresh draw every time step) or ``perturb`` (one offset per forward pass).

The model applies noise only in training mode, so validation and test see the noiseless
network (the original kept noise on during evaluation). Stds are dimensionless, in the
units of the quantity they perturb.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl

from soen_train.config.errors import ConfigError
from soen_train.training.callbacks.model_refs import resolve_layer_ids, unwrap_model
from soen_train.training.callbacks.schedule_math import check_epoch_window, lerp, ramp_progress
from soen_train.training.losses.param_checks import check_bool, check_choice, check_number

NOISE_TARGETS = ("noise", "perturb")


class NoiseAnnealingCallback(pl.Callback):
    """Linearly anneal the std of one noise/perturbation key on the selected layers."""

    def __init__(
        self,
        key: str,
        target: str = "noise",
        start_value: float = 0.0,
        end_value: float = 0.0,
        start_epoch: int = 0,
        end_epoch: int | None = None,
        per_step: bool = True,
        layer_ids: Sequence[int] | None = None,
        setting: str = "NoiseAnnealingCallback",
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(
                f"{setting}: key = {key!r} must name a noise key (phi, g, s, bias_current, j or a parameter)"
            )
        self.key = key
        self.target = check_choice(setting, "target", target, NOISE_TARGETS)
        self.start_value = check_number(setting, "start_value", start_value, minimum=0.0)
        self.end_value = check_number(setting, "end_value", end_value, minimum=0.0)
        check_epoch_window(setting, start_epoch, end_epoch)
        self.start_epoch = start_epoch
        self.end_epoch = end_epoch
        self.per_step = check_bool(setting, "per_step", per_step)
        self.layer_ids: list[int] | None = (
            None if layer_ids is None else [int(i) for i in layer_ids]
        )
        self.setting = setting
        self.current_value: float | None = None

    @property
    def tag(self) -> str:
        """Logged tag: ``callbacks/noise/<key>_<target>`` (plus the layers when restricted)."""
        base = f"callbacks/noise/{self.key}_{self.target}"
        if self.layer_ids is None:
            return base
        return f"{base}/layers_{'_'.join(map(str, self.layer_ids))}"

    def check_model(self, model: Any) -> None:
        """Fail now if the layer ids or the key do not exist on ``model`` (writes start_value)."""
        self.layer_ids = resolve_layer_ids(self.layer_ids, model, self.setting)
        try:
            model.set_noise(self.target, self.key, self.start_value, layer_ids=self.layer_ids)
        except (KeyError, ValueError) as err:
            raise ConfigError(f"{self.setting}: {err}") from None

    def value_at(self, trainer: Any, pl_module: Any) -> float:
        """The annealed std at the trainer's current step or epoch."""
        p = ramp_progress(trainer, pl_module, self.start_epoch, self.end_epoch, self.per_step)
        return lerp(self.start_value, self.end_value, p)

    def _apply(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = self.value_at(trainer, pl_module)
        unwrap_model(pl_module).set_noise(self.target, self.key, value, layer_ids=self.layer_ids)
        self.current_value = value
        pl_module.log(self.tag, value, on_step=self.per_step, on_epoch=not self.per_step)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self.check_model(unwrap_model(pl_module))

    @property
    def uses_batch_hooks(self) -> bool:
        """Whether the value changes per step (a per-epoch ramp leaves the fast loop usable)."""
        return self.per_step

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.per_step:
            self._apply(trainer, pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.per_step:
            self._apply(trainer, pl_module)
