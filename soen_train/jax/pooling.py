"""Time pooling in JAX: the methods declared in ``soen_train.catalog.time_pooling`` on [B, T, D].

Same names, parameters, defaults and validation as the torch methods (both register against
``POOLING_CATALOG`` and ``validate_pooling`` checks the config), so a ``model.time_pooling``
section means the same on both backends. Input is the output history without step 0; the result [B, D] is
multiplied by ``scale``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp

from soen_train.catalog.time_pooling import POOLING_CATALOG, RMS_EPS, validate_pooling
from soen_train.registry import Registry

Array = jax.Array

#: Catalog of JAX pooling methods, keyed by the declared names.
JAX_POOLINGS: Registry[Callable[..., Array]] = POOLING_CATALOG.registry("jax")


@POOLING_CATALOG.jax("max")
def pool_max(h: Array) -> Array:
    """Largest state of each node over time."""
    return jnp.max(h, axis=1)


@POOLING_CATALOG.jax("mean")
def pool_mean(h: Array) -> Array:
    """Average state of each node over time."""
    return jnp.mean(h, axis=1)


@POOLING_CATALOG.jax("rms")
def pool_rms(h: Array) -> Array:
    """sqrt(mean_t h^2 + 1e-8)."""
    return jnp.sqrt(jnp.mean(h * h, axis=1) + RMS_EPS)


@POOLING_CATALOG.jax("final")
def pool_final(h: Array) -> Array:
    """State at the last step."""
    return h[:, -1, :]


@POOLING_CATALOG.jax("mean_last_n")
def pool_mean_last_n(h: Array, n: int = 1) -> Array:
    """Average of the last ``n`` steps (the whole sequence when n > T)."""
    steps = min(int(n), h.shape[1])
    return jnp.mean(h[:, -steps:, :], axis=1)


@POOLING_CATALOG.jax("mean_range")
def pool_mean_range(
    h: Array, range_start: Optional[int] = None, range_end: Optional[int] = None
) -> Array:
    """Average over [range_start, range_end) (default: the last min(50, T) steps), clamped to T."""
    length = h.shape[1]
    start = length - min(50, length) if range_start is None else int(range_start)
    end = length if range_end is None else int(range_end)
    start = min(max(start, 0), length - 1)
    end = min(max(end, start + 1), length)
    return jnp.mean(h[:, start:end, :], axis=1)


@POOLING_CATALOG.jax("ewa")
def pool_ewa(h: Array, min_weight: float = 0.2) -> Array:
    """Weights m^(1 - tau), tau = linspace(0, 1, T), m = clamp(min_weight, 1e-6, 1), normalised."""
    m = min(max(float(min_weight), 1e-6), 1.0)
    tau = jnp.linspace(0.0, 1.0, h.shape[1], dtype=h.dtype)
    weights = jnp.power(jnp.asarray(m, dtype=h.dtype), 1.0 - tau)
    weights = weights / jnp.sum(weights)
    return jnp.einsum("btd,t->bd", h, weights)


def pool_time_jax(h: Array, name: str, params: Optional[Mapping[str, Any]] = None) -> Array:
    """Pool a history without step 0 ([B, T, D]) to [B, D], then multiply by ``scale``.

    The config is validated by the declared rules (unknown method, parameter or
    out-of-range value -> a clear error). ``scale`` may be a traced value (schedulers).
    """
    kwargs: Dict[str, Any] = dict(params or {})
    scale = kwargs.pop("scale", 1.0)
    canonical = validate_pooling(name, kwargs)
    if h.ndim != 3:
        raise ValueError(
            f"time pooling '{name}' expects a history of shape [B, T, D], got {tuple(h.shape)}"
        )
    if h.shape[1] < 1:
        raise ValueError(f"time pooling '{name}' needs at least one time step, got T = 0")
    pooled = JAX_POOLINGS.get(canonical)(h, **kwargs)
    return pooled * scale


POOLING_CATALOG.check_complete("jax")
