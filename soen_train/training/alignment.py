"""One rule for turning a model's output history into what the losses compare with targets.

Used by the training, validation and test steps alike, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import torch
from torch import Tensor

from soen_train.training.time_pooling import pool_time


@dataclass
class AlignedBatch:
    """Model outputs and targets ready for the losses and metrics."""

    outputs: Tensor  # [B, C] (seq2static, pooled and scaled) or [B, T, C] (seq2seq)
    targets: Optional[Tensor]
    pooled: Optional[Tensor]  # pooled and scaled output, seq2static only


def align(
    history: Tensor,
    targets: Optional[Tensor],
    inputs: Tensor,
    mapping: str,
    paradigm: str,
    pooling_name: str,
    pooling_params: Mapping[str, Any],
) -> AlignedBatch:
    """Drop step 0 of the output history, pool it (seq2static) and pick the matching targets.

    history: [B, T+1, C]; targets: labels from the batch; inputs: [B, T, D].
    """
    steps = history[:, 1:, :]
    if paradigm == "self_supervised":
        targets = inputs
    if mapping == "seq2static":
        pooled = pool_time(steps, pooling_name, pooling_params)
        return AlignedBatch(outputs=pooled, targets=targets, pooled=pooled)
    if targets is not None and targets.dim() >= 2 and targets.shape[1] != steps.shape[1]:
        raise ValueError(
            f"seq2seq targets have {targets.shape[1]} steps but the model output has "
            f"{steps.shape[1]}; set data.target_seq_len so inputs and labels have the same length"
        )
    return AlignedBatch(outputs=steps, targets=targets, pooled=None)


def detach_cpu(t: Optional[Tensor]) -> Optional[Tensor]:
    """A detached CPU copy for epoch-level metric accumulation."""
    return None if t is None else t.detach().to("cpu", copy=False)


def cat_or_none(parts: list) -> Optional[Tensor]:
    """Concatenate a list of batch tensors along dim 0 (None if empty)."""
    parts = [p for p in parts if p is not None]
    return torch.cat(parts, dim=0) if parts else None
