"""Quantisation codebooks and ``gravity_quantization_loss`` (pull weights onto the codebook).

Hardware couplings take a few discrete values. ``uniform_codebook`` builds those values
(shared with QAT and quantised-accuracy evaluation); ``nearest_code`` snaps weights to them;
the gravity loss penalises the distance of each learnable weight to its nearest level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from soen_train.catalog.codebooks import (  # noqa: F401  (DEFAULT_CODEBOOK re-exported)
    DEFAULT_CODEBOOK,
    codebook_values,
    uniform_codebook_values,
)
from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.catalog.param_checks import as_list
from soen_train.training.losses.context import LossContext
from soen_train.training.losses.model_access import connection_weights, select_connections


def uniform_codebook(
    min_val: float,
    max_val: float,
    bits: int | None = None,
    levels: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``uniform_codebook_values`` (the one rule, in ``soen_train.catalog.codebooks``) as a tensor."""
    return torch.tensor(uniform_codebook_values(min_val, max_val, bits, levels), dtype=dtype)


def nearest_code(w: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The codebook level nearest to each element of ``w`` (ties go to the lower level); no grad."""
    book = codebook.to(device=w.device, dtype=w.dtype).sort().values
    flat = w.detach().reshape(-1)
    upper_idx = torch.bucketize(flat, book).clamp(max=book.numel() - 1)
    lower_idx = (upper_idx - 1).clamp(min=0)
    lower, upper = book[lower_idx], book[upper_idx]
    pick_lower = (flat - lower).abs() <= (upper - flat).abs()
    return torch.where(pick_lower, lower, upper).reshape(w.shape)


def codebook_from_params(
    codebook: Sequence[float] | None,
    min_val: float | None,
    max_val: float | None,
    bits: int | None,
    levels: int | None,
    owner: str,
) -> torch.Tensor:
    """``codebook_values`` (explicit list, uniform range or default) as a float32 tensor."""
    values = codebook_values(codebook, min_val, max_val, bits, levels, owner)
    return torch.tensor(values, dtype=torch.float32)


@LOSS_CATALOG.torch("gravity_quantization_loss")
def gravity_quantization_loss(
    ctx: LossContext,
    codebook: Sequence[float] | None = None,
    min_val: float | None = None,
    max_val: float | None = None,
    bits: int | None = None,
    levels: int | None = None,
    factor: float = 1.0,
    connections: Iterable[str] | None = None,
    mode: str = "mae",
) -> torch.Tensor:
    """factor * mean over every element of the selected learnable connections of d(w, nearest level).

    d is |w - c| (mode mae/l1) or (w - c)^2 (mse/l2). ``connections`` restricts the loss to
    the named connections ("<from>_to_<to>"); default all learnable ones. Masked-out
    entries (exact zeros) sit on the zero level and count as zero distance.
    """
    owner = "loss 'gravity_quantization_loss'"
    book = codebook_from_params(codebook, min_val, max_val, bits, levels, owner)
    model = ctx.require_model("gravity_quantization_loss")
    names = None if connections is None else as_list(owner, "connections", connections)
    weights = select_connections(
        connection_weights(model, "gravity_quantization_loss"), names, "gravity_quantization_loss"
    )
    flat = torch.cat([w.reshape(-1) for w in weights.values()])
    diff = flat - nearest_code(flat, book)
    dist = diff.abs() if mode in ("mae", "l1") else diff.pow(2)
    return factor * dist.mean()
