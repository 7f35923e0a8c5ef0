"""Time pooling: reduce an output-state history [B, T, D] to one value per node [B, D].

seq2static tasks need one vector per sequence. ``pool_time`` applies one of the methods in
``POOLINGS`` to the output layer's history *without* its initial step 0, then multiplies by
``scale`` (default 1.0). States are dimensionless SOEN states, so pooled values are too.
Each method is declared in ``soen_train.catalog.time_pooling`` (params, defaults, checks);
a signature that differs from its declaration, or a declared method missing here, fails at
import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from soen_train.catalog.time_pooling import (  # noqa: F401  (re-exported: old import paths)
    POOLING_CATALOG,
    RMS_EPS,
    SCALE_PARAM,
    pooling_parameters,
    validate_pooling,
)
from soen_train.registry import Registry

PoolingFn = Callable[..., torch.Tensor]

#: Catalog of torch pooling methods: ``fn(h [B, T, D], **params) -> [B, D]`` (before ``scale``).
POOLINGS: Registry[PoolingFn] = POOLING_CATALOG.registry("torch")


@POOLING_CATALOG.torch("max")
def pool_max(h: torch.Tensor) -> torch.Tensor:
    """Largest state of each node over time."""
    return h.amax(dim=1)


@POOLING_CATALOG.torch("mean")
def pool_mean(h: torch.Tensor) -> torch.Tensor:
    """Average state of each node over time."""
    return h.mean(dim=1)


@POOLING_CATALOG.torch("rms")
def pool_rms(h: torch.Tensor) -> torch.Tensor:
    """Root mean square over time: sqrt(mean_t h^2 + 1e-8)."""
    return torch.sqrt(h.pow(2).mean(dim=1) + RMS_EPS)


@POOLING_CATALOG.torch("final")
def pool_final(h: torch.Tensor) -> torch.Tensor:
    """State at the last time step."""
    return h[:, -1, :]


@POOLING_CATALOG.torch("mean_last_n")
def pool_mean_last_n(h: torch.Tensor, n: int = 1) -> torch.Tensor:
    """Average of the last ``n`` steps; ``n`` larger than T uses the whole sequence."""
    steps = min(int(n), h.shape[1])
    return h[:, -steps:, :].mean(dim=1)


@POOLING_CATALOG.torch("mean_range")
def pool_mean_range(
    h: torch.Tensor, range_start: int | None = None, range_end: int | None = None
) -> torch.Tensor:
    """Average over steps [range_start, range_end) (index 0 = first step after the initial state).

    Defaults: the last min(50, T) steps. Bounds are clamped to the sequence so that a window
    configured for a longer sequence still selects at least one step.
    """
    length = h.shape[1]
    start = length - min(50, length) if range_start is None else int(range_start)
    end = length if range_end is None else int(range_end)
    start = min(max(start, 0), length - 1)
    end = min(max(end, start + 1), length)
    return h[:, start:end, :].mean(dim=1)


@POOLING_CATALOG.torch("ewa")
def pool_ewa(h: torch.Tensor, min_weight: float = 0.2) -> torch.Tensor:
    """Exponentially weighted average favouring late steps.

    Weight of step i is m^(1 - tau_i) with tau = linspace(0, 1, T) and m = min_weight clamped
    to [1e-6, 1]: the oldest step weighs m, the newest 1; weights are normalised to sum 1.
    """
    m = min(max(float(min_weight), 1e-6), 1.0)
    tau = torch.linspace(0.0, 1.0, h.shape[1], device=h.device, dtype=h.dtype)
    weights = torch.pow(torch.as_tensor(m, dtype=h.dtype, device=h.device), 1.0 - tau)
    weights = weights / weights.sum()
    return torch.einsum("btd,t->bd", h, weights)


def pool_time(
    h: torch.Tensor, name: str, params: Mapping[str, Any] | None = None
) -> torch.Tensor:
    """Pool an output history without step 0 ([B, T, D]) to [B, D], then multiply by ``scale``."""
    validate_pooling(name, params)
    if h.dim() != 3:
        raise ValueError(
            f"time pooling '{name}' expects a history of shape [B, T, D], got {tuple(h.shape)}"
        )
    if h.shape[1] < 1:
        raise ValueError(f"time pooling '{name}' needs at least one time step, got T = 0")
    kwargs = dict(params or {})
    scale = float(kwargs.pop(SCALE_PARAM, 1.0))
    pooled = POOLINGS.get(name)(h, **kwargs)
    return pooled * scale if scale != 1.0 else pooled


POOLING_CATALOG.check_complete("torch")
