"""Mean squared error with the output/target alignment rules of the trainer."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.training.losses.context import LossContext


def align_for_mse(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring outputs and targets to one shape, or raise naming both shapes.

    Rules, in order:
    - both [B, T, K] with one of them a step longer: drop step 0 of the longer one (a
      history that still holds its initial state, e.g. teacher trajectories [B, T+1, K]);
    - outputs [B, T, 1] and targets [B, T]: give targets a trailing axis;
    - outputs [B, K] and targets [B, T, K]: compare with the target mean over time;
    - outputs [B, T, K] and targets [B, K]: compare the output mean over time;
    - outputs [B, 1] and targets [B]: give targets a trailing axis.
    """
    out, tgt = outputs, targets
    if out.dim() == 3 and tgt.dim() == 3 and out.shape[0] == tgt.shape[0]:
        if out.shape[1] == tgt.shape[1] + 1:
            out = out[:, 1:]
        elif tgt.shape[1] == out.shape[1] + 1:
            tgt = tgt[:, 1:]
    elif out.dim() == 3 and tgt.dim() == 2 and out.shape[2] == 1 and tgt.shape == out.shape[:2]:
        tgt = tgt.unsqueeze(-1)
    elif out.dim() == 2 and tgt.dim() == 3:
        tgt = tgt.mean(dim=1)
    elif out.dim() == 3 and tgt.dim() == 2:
        out = out.mean(dim=1)
    elif out.dim() == 2 and out.shape[1] == 1 and tgt.dim() == 1:
        tgt = tgt.unsqueeze(-1)
    if out.shape != tgt.shape:
        raise ValueError(
            f"loss 'mse': outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} "
            "cannot be aligned; expected equal shapes, [B, K] vs [B, T, K], or histories that "
            "differ by the initial step"
        )
    return out, tgt.to(out.dtype)


@LOSS_CATALOG.torch("mse")
def mse(ctx: LossContext) -> torch.Tensor:
    """Mean squared error between aligned outputs and targets (see ``align_for_mse``)."""
    out, tgt = align_for_mse(ctx.outputs, ctx.require_targets("mse"))
    return F.mse_loss(out, tgt)
