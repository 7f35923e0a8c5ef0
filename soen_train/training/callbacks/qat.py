"""``QATStraightThroughCallback``: quantisation-aware training with a straight-through estimator.

While it is active, every forward pass (training, validation and test) uses the targeted
connections' weights snapped to the codebook, ``w + (snap(w) - w).detach()``: the network
sees hardware levels, the optimiser keeps updating the full-precision weights (the gradient
of the snap is taken as 1). The stored weights, checkpoints and ``.soen`` files keep the
full-precision values. ``stochastic_rounding`` rounds to a neighbouring level at random in
training (unbiased, from a seeded generator) and to the nearest level in evaluation.
The transform is installed at setup and removed at teardown of each fit/validate/test run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from soen_train.training.callbacks.model_refs import resolve_connections, unwrap_model
from soen_train.training.callbacks.quantization import (
    make_codebook,
    nearest_code,
    stochastic_code,
    straight_through,
)
from soen_train.training.callbacks.weight_transforms import ORDER_QUANTIZE, transform_stack
from soen_train.training.losses.param_checks import check_bool


class QATStraightThroughCallback(pl.Callback):
    """Snaps the selected learnable connections to a codebook in every forward pass (STE)."""

    owner = "qat"

    def __init__(
        self,
        bits: int | None = None,
        levels: int | None = None,
        min_val: float = -0.24,
        max_val: float = 0.24,
        connections: Sequence[str] | None = None,
        stochastic_rounding: bool = False,
        seed: int | None = None,
        codebook: Sequence[float] | None = None,
        setting: str = "QATStraightThroughCallback",
    ) -> None:
        self.codebook = make_codebook(setting, min_val, max_val, bits, levels, codebook)
        self.requested = None if connections is None else list(connections)
        self.connections: list[str] | None = None
        self.stochastic_rounding = check_bool(setting, "stochastic_rounding", stochastic_rounding)
        self.seed = int(seed if seed is not None else torch.initial_seed() % (2**63))
        self._generator = torch.Generator().manual_seed(self.seed)
        self.setting = setting
        self._model: Any = None

    def check_model(self, model: Any) -> list[str]:
        """Resolve the names against ``model``'s learnable connections (error if unknown)."""
        self.connections = resolve_connections(
            self.requested, model, self.setting, learnable_only=True
        )
        return self.connections

    def quantize(self, w: Tensor, training: bool) -> Tensor:
        """The codebook value the forward pass uses for ``w`` (no grad)."""
        if self.stochastic_rounding and training:
            return stochastic_code(w, self.codebook, self._generator)
        return nearest_code(w, self.codebook)

    def attach(self, model: Any) -> None:
        """Install the straight-through quantiser on the model's selected connections."""
        names = self.check_model(model)

        def ste(weight: Tensor) -> Tensor:
            return straight_through(weight, self.quantize(weight, model.training))

        transform_stack(model).add(self.owner, ORDER_QUANTIZE, ste, names)
        self._model = model

    def detach(self) -> None:
        """Remove the quantiser; forward passes use the full-precision weights again."""
        if self._model is not None:
            transform_stack(self._model).remove(self.owner)
            self._model = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.attach(unwrap_model(pl_module))

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.detach()
