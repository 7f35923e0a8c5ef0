"""Penalties on output-state magnitudes: too small (dead outputs) or too large (out of fit range).

They act on the pooled, scaled outputs [B, C] (seq2static) or, when nothing is pooled, on
the output history [B, T, C]. States are dimensionless.
"""

from __future__ import annotations

import torch

from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.training.losses.context import LossContext


@LOSS_CATALOG.torch("get_off_the_ground_loss")
def get_off_the_ground_loss(
    ctx: LossContext,
    threshold: float = 0.01,
    min_penalty_offset: float = 0.5,
    max_penalty_offset: float = 10.0,
    factor: float = 1.0,
) -> torch.Tensor:
    """Penalise outputs stuck near zero: factor * mean over values of a ramp penalty.

    For |s| <= threshold the penalty falls linearly from max_penalty_offset at 0 to
    min_penalty_offset at the threshold (clipped at 0); above the threshold it is 0.
    """
    a = ctx.output_states().abs()
    ramp = max_penalty_offset + (min_penalty_offset - max_penalty_offset) * a / threshold
    penalty = torch.where(a <= threshold, torch.relu(ramp), torch.zeros_like(a))
    return factor * penalty.mean()


@LOSS_CATALOG.torch("exp_high_state_penalty")
def exp_high_state_penalty(
    ctx: LossContext, threshold: float = 1.0, scale: float = 1.0, factor: float = 1.0
) -> torch.Tensor:
    """factor * mean(exp(scale * max(0, |s| - threshold)) - 1): zero below the threshold."""
    excess = torch.relu(ctx.output_states().abs() - threshold)
    return factor * torch.expm1(scale * excess).mean()
