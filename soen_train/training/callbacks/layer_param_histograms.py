"""``LayerParamHistogramCallback``: histograms of trainable layer parameters and their gradients.

Every ``every_n_steps`` optimiser steps, just before the step (gradients final, before
clipping), each trainable ``layers.<id>.<param>`` of the model (bias currents, gamma
rates, flux offsets, ...) is logged as the TensorBoard histogram
``layer_params/layer<id>/<param>`` and its gradient as ``layer_gradients/layer<id>/<param>``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from soen_train.training.callbacks.log_writers import tensorboard_writers
from soen_train.training.callbacks.model_refs import unwrap_model
from soen_train.training.losses.param_checks import check_number


def trainable_layer_params(model: Any) -> dict[tuple[int, str], torch.Tensor]:
    """``{(layer_id, param): Parameter}`` for every trainable ``layers.<id>.<param>`` entry."""
    out: dict[tuple[int, str], torch.Tensor] = {}
    for key, param in model.parameters_by_name().items():
        parts = key.split(".", 2)
        if len(parts) == 3 and parts[0] == "layers" and param.requires_grad:
            out[(int(parts[1]), parts[2])] = param
    return out


class LayerParamHistogramCallback(pl.Callback):
    """Writes layer-parameter and gradient histograms to TensorBoard every N optimiser steps."""

    def __init__(
        self, every_n_steps: int = 50, setting: str = "LayerParamHistogramCallback"
    ) -> None:
        self.every_n_steps = int(
            check_number(setting, "every_n_steps", every_n_steps, minimum=1, integer=True)
        )

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        if trainer.global_step % self.every_n_steps != 0:
            return
        writers = tensorboard_writers(trainer)
        if not writers:
            return
        for (layer_id, name), param in trainable_layer_params(unwrap_model(pl_module)).items():
            values = param.detach().float().cpu()
            grad = None if param.grad is None else param.grad.detach().float().cpu()
            for writer in writers:
                writer.add_histogram(
                    f"layer_params/layer{layer_id}/{name}", values, trainer.global_step
                )
                if grad is not None:
                    writer.add_histogram(
                        f"layer_gradients/layer{layer_id}/{name}", grad, trainer.global_step
                    )
