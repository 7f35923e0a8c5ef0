"""``GradientNormCallback``: L2 norms of the gradients, per parameter and in total.

Every ``every_n_steps`` optimiser steps, just before the step (after backward and gradient
accumulation, before clipping, so the logged norm is what ``gradient_clip_val`` compares
with), logs ``grad_norm/<param>`` = ||dL/dp||_2 for every trainable parameter with a
gradient (named like ``parameters_by_name()``: ``layers.<id>.<param>``,
``connections.<from>_to_<to>``) and ``grad_norm/total`` = sqrt(sum of their squares).
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch

from soen_train.training.callbacks.log_writers import log_scalars_now
from soen_train.training.callbacks.model_refs import unwrap_model
from soen_train.training.losses.param_checks import check_number


def named_trainable_parameters(pl_module: Any) -> dict[str, torch.Tensor]:
    """Trainable parameters by readable name: ``parameters_by_name()`` first, then the rest."""
    model = unwrap_model(pl_module)
    named: dict[str, torch.Tensor] = {}
    seen = set()
    getter = getattr(model, "parameters_by_name", None)
    if callable(getter):
        for name, param in getter().items():
            if param.requires_grad and id(param) not in seen:
                named[name] = param
                seen.add(id(param))
    for name, param in pl_module.named_parameters():
        if param.requires_grad and id(param) not in seen:
            named[name.removeprefix("model.")] = param
            seen.add(id(param))
    return named


def gradient_norms(params: dict[str, torch.Tensor]) -> dict[str, float]:
    """``{name: ||grad||_2}`` for parameters that have a gradient, plus ``total``."""
    norms = {
        name: float(p.grad.detach().float().norm(2))
        for name, p in params.items()
        if p.grad is not None
    }
    norms["total"] = math.sqrt(sum(v * v for v in norms.values()))
    return norms


class GradientNormCallback(pl.Callback):
    """Logs per-parameter and total gradient L2 norms every N optimiser steps."""

    def __init__(self, every_n_steps: int = 50, setting: str = "GradientNormCallback") -> None:
        self.every_n_steps = int(
            check_number(setting, "every_n_steps", every_n_steps, minimum=1, integer=True)
        )
        self.last_norms: dict[str, float] = {}

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        if trainer.global_step % self.every_n_steps != 0:
            return
        norms = gradient_norms(named_trainable_parameters(pl_module))
        self.last_norms = norms
        log_scalars_now(
            trainer, {f"grad_norm/{k}": v for k, v in norms.items()}, trainer.global_step
        )
