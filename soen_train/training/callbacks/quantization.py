"""Codebook rounding shared by QAT and quantised-accuracy evaluation.

Hardware couplings take a few discrete values: a uniform codebook of ``2**bits + 1`` levels
(``bits`` counts the non-zero levels) or ``levels`` levels on [min_val, max_val], always
holding exactly one 0 (``uniform_codebook`` of the loss catalog). Weights are rounded to the
nearest level, or stochastically to one of the two neighbouring levels with probabilities
that make the rounding unbiased (E[q] = w inside the codebook's range).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from soen_train.config.errors import ConfigError
from soen_train.training.losses.quantization import codebook_from_params, nearest_code

__all__ = ["make_codebook", "nearest_code", "stochastic_code", "straight_through"]


def make_codebook(
    setting: str,
    min_val: float | None,
    max_val: float | None,
    bits: int | None = None,
    levels: int | None = None,
    codebook: Sequence[float] | None = None,
) -> Tensor:
    """The sorted codebook for a callback's settings; a bad combination is a ConfigError
    naming ``setting``."""
    if codebook is None and bits is None and levels is None:
        raise ConfigError(
            f"{setting}: give bits (2**bits + 1 levels including 0) or levels; e.g. bits=3"
        )
    if codebook is not None:
        min_val = max_val = None
    try:
        return codebook_from_params(codebook, min_val, max_val, bits, levels, setting)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def stochastic_code(
    w: Tensor, codebook: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Round each element of ``w`` to its lower or upper neighbouring level (no grad).

    P(upper) = (w - lower) / (upper - lower); values outside the codebook go to its ends.
    """
    book = codebook.to(device=w.device, dtype=w.dtype).sort().values
    flat = w.detach().reshape(-1).clamp(book[0], book[-1])
    upper_idx = torch.bucketize(flat, book).clamp(max=book.numel() - 1)
    lower_idx = (upper_idx - 1).clamp(min=0)
    lower, upper = book[lower_idx], book[upper_idx]
    gap = upper - lower
    p_upper = torch.where(
        gap > 0,
        (flat - lower) / torch.where(gap > 0, gap, torch.ones_like(gap)),
        torch.zeros_like(gap),
    )
    u = torch.rand(flat.shape, generator=generator, dtype=torch.float64).to(
        device=w.device, dtype=w.dtype
    )
    return torch.where(u < p_upper, upper, lower).reshape(w.shape)


def straight_through(w: Tensor, quantized: Tensor) -> Tensor:
    """``w + (q - w).detach()``: the forward value is q, the gradient flows to w unchanged."""
    return w + (quantized - w).detach()
