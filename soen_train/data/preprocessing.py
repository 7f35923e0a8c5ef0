"""Per-sample transforms shared by cached and lazy datasets, so both give identical items.

Order: resample the time axis (``target_seq_len``), then min/max scale (raw float inputs),
and for ``one_hot`` inputs expand integer tokens to vectors when a batch is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from soen_train.data.labels import LabelLayout

SCALE_EPS = 1e-8  # keeps x' finite when every training value is equal (hi == lo)


def resample_linear(x: Tensor, length: int) -> Tensor:
    """Resample ``x`` [N, T, D] to [N, length, D] by linear interpolation, align_corners=False.

    Output step j samples the input at s = (j + 0.5) * T / length - 0.5 (clamped to [0, T-1]),
    i.e. sample centres are aligned, not end points.
    """
    if x.shape[1] == length:
        return x
    dtype = x.dtype
    y = F.interpolate(
        x.transpose(1, 2).to(torch.float32), size=length, mode="linear", align_corners=False
    )
    return y.transpose(1, 2).contiguous().to(dtype)


def nearest_indices(steps: int, length: int) -> Tensor:
    """Source step for each of ``length`` output steps: floor((j + 0.5) * steps / length)."""
    j = torch.arange(length, dtype=torch.float64)
    idx = torch.floor((j + 0.5) * steps / length).to(torch.long)
    return idx.clamp_(0, steps - 1)


def resample_nearest(x: Tensor, length: int) -> Tensor:
    """Resample ``x`` [N, T, ...] along axis 1 by nearest sample (for integer labels/tokens)."""
    if x.shape[1] == length:
        return x
    return x.index_select(1, nearest_indices(x.shape[1], length))


@dataclass(frozen=True)
class MinMaxScaling:
    """x' = min_scale + (max_scale - min_scale) (x - lo) / (hi - lo + 1e-8).

    ``lo``/``hi`` are the exact minimum and maximum of the raw training inputs; the same
    values scale every split and are stored with checkpoints for inference.
    """

    lo: float
    hi: float
    min_scale: float
    max_scale: float

    def apply(self, x: Tensor) -> Tensor:
        """Scale a float tensor of inputs (any shape)."""
        factor = (self.max_scale - self.min_scale) / (self.hi - self.lo + SCALE_EPS)
        return (x - self.lo) * factor + self.min_scale


@dataclass(frozen=True)
class Preprocessor:
    """Turns raw arrays read from the file into model-ready tensors (minus one-hot expansion)."""

    target_seq_len: int | None
    scaling: MinMaxScaling | None
    tokens: bool  # inputs are integer tokens (input_encoding one_hot)
    labels: LabelLayout | None  # None: no stored labels are used (self-supervised)

    def inputs(self, raw: np.ndarray) -> Tensor:
        """Raw inputs [n, T, D] (or tokens [n, T] / [n, T, 1]) -> float32 [n, T', D] or long [n, T']."""
        if self.tokens:
            tokens = torch.as_tensor(np.asarray(raw).reshape(raw.shape[0], raw.shape[1]))
            tokens = tokens.to(torch.long)
            if self.target_seq_len is not None:
                tokens = resample_nearest(tokens, self.target_seq_len)
            return tokens
        x = torch.as_tensor(np.asarray(raw, dtype=np.float32))
        if self.target_seq_len is not None:
            x = resample_linear(x, self.target_seq_len)
        if self.scaling is not None:
            x = self.scaling.apply(x)
        return x

    def targets(self, raw: np.ndarray) -> Tensor:
        """Raw labels -> int64 class labels or float32 targets, resampled with the inputs."""
        layout = self.labels
        if layout is None:
            raise ValueError("Preprocessor.targets called without a label layout")
        if layout.is_class:
            y = torch.as_tensor(np.asarray(raw).astype(np.int64, copy=False))
        else:
            y = torch.as_tensor(np.asarray(raw, dtype=np.float32))
            if layout.add_feature_axis:
                y = y.unsqueeze(-1)
        if layout.is_sequence and self.target_seq_len is not None:
            length = self.target_seq_len + layout.extra_steps
            y = resample_nearest(y, length) if layout.is_class else resample_linear(y, length)
        return y


def expand_one_hot(tokens: Tensor, vocab_size: int) -> Tensor:
    """Integer tokens [..., T] -> float32 one-hot vectors [..., T, vocab_size]."""
    return F.one_hot(tokens, vocab_size).to(torch.float32)
