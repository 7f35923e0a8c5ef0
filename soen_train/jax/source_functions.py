"""Source functions g(phi, i) in JAX, numerically matching the torch simulator's catalog.

Each entry maps a flux ``phi`` [Phi0] and, when state dependent, the SQUID current ``i``
[Ic] (``i = bias_current - s`` in a SingleDendrite) to a dimensionless rate ``g``. The
formulas, constants and clamping rules are those of ``soen_train.model.source_functions``;
clamps pass the gradient at their bounds (as ``torch.clamp`` does) so gradients agree too.

Each registers against its declaration in ``soen_train.catalog.source_functions`` (which
says whether g needs the current). Look one up with ``jax_source_function(name)``; the name
may be any declared spelling (aliases resolve through the declarations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from soen_train.catalog.source_functions import SOURCE_CATALOG
from soen_train.registry import Registry

from .errors import JaxUnsupportedError

Array = jax.Array

#: The SQUID rate table shipped with the torch simulator (arrays ib, phi, g[ib, phi]).
RATE_TABLE_PATH = Path(__file__).resolve().parent.parent / "model" / "data" / "rate_array.npz"


def clamp(x: Array, lo: Optional[float] = None, hi: Optional[float] = None) -> Array:
    """Clamp with torch's gradient rule: slope 1 inside [lo, hi] including the bounds."""
    if lo is not None:
        x = jnp.where(x < lo, jnp.asarray(lo, x.dtype), x)
    if hi is not None:
        x = jnp.where(x > hi, jnp.asarray(hi, x.dtype), x)
    return x


@dataclass(frozen=True)
class JaxSourceFunction:
    """A rate function g(phi, i) split into a flux part and a combination with the current.

    ``g(phi, i) = combine(flux_part(phi), i)``: when a whole flux sequence is known before
    the time loop (no internal connection), ``flux_part`` runs once over all steps and only
    ``combine`` stays inside the loop, as the torch scan's ``plan`` does. ``uses_current``
    says whether g depends on i (and so on the state).
    """

    name: str
    uses_current: bool
    flux_part: Callable[[Array], Any]
    combine: Callable[[Any, Optional[Array]], Array]

    def __call__(self, phi: Array, current: Optional[Array] = None) -> Array:
        """Rate g (dimensionless) for flux ``phi`` [Phi0] and SQUID current ``current`` [Ic]."""
        if self.uses_current and current is None:
            raise ValueError(
                f"source function {self.name} needs the SQUID current i = bias_current - s"
            )
        return self.combine(self.flux_part(phi), current)


#: Catalog of JAX source functions, keyed by the declared names.
JAX_SOURCE_FUNCTIONS: Registry[JaxSourceFunction] = SOURCE_CATALOG.registry("jax")


def _register(
    name: str,
    uses_current: bool,
    flux_part: Callable[[Array], Any],
    combine: Callable[[Any, Optional[Array]], Array],
) -> None:
    SOURCE_CATALOG.jax(name)(JaxSourceFunction(name, uses_current, flux_part, combine))


def _phi_only(name: str, fn: Callable[[Array], Array]) -> None:
    """Register g = fn(phi): the flux part is the rate itself."""
    _register(name, False, fn, lambda part, current: part)


# ----------------------------------------------------------------------------------------
# RateArray: bilinear lookup in the measured SQUID table
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateGrid:
    """The rate table as per-cell bilinear coefficients (c0, cx, cy, cxy), float32."""

    cells: np.ndarray  # [(H-1)*(W-1), 4]
    height: int  # points on the ib axis
    width: int  # points on the phi axis
    ib_min: float
    inv_dib: float
    phi_min: float
    inv_dphi: float


@lru_cache(maxsize=1)
def rate_grid(path: str = str(RATE_TABLE_PATH)) -> RateGrid:
    """Load the rate table (no pickle) and build the same cell coefficients as torch does."""
    with np.load(path, allow_pickle=False) as data:
        ib = np.asarray(data["ib"], dtype=np.float64)
        phi = np.asarray(data["phi"], dtype=np.float64)
        g = np.asarray(data["g"], dtype=np.float64)
    c0 = g[:-1, :-1]
    cx = g[:-1, 1:] - g[:-1, :-1]
    cy = g[1:, :-1] - g[:-1, :-1]
    cxy = g[1:, 1:] - g[1:, :-1] - g[:-1, 1:] + g[:-1, :-1]
    cells = np.stack([c0, cx, cy, cxy], axis=-1).reshape(-1, 4).astype(np.float32)
    ib_step = float((ib[-1] - ib[0]) / (ib.size - 1))
    phi_step = float((phi[-1] - phi[0]) / (phi.size - 1))
    return RateGrid(
        cells=cells,
        height=int(ib.size),
        width=int(phi.size),
        ib_min=float(ib[0]),
        inv_dib=1.0 / ib_step,
        phi_min=float(phi[0]),
        inv_dphi=1.0 / phi_step,
    )


def _rate_flux_part(phi: Array) -> Tuple[Array, Array]:
    """(cell column x0 as int32, fraction fx) of phi folded into [0, 0.5]."""
    grid = rate_grid()
    wrapped = jnp.remainder(phi, 1.0)
    phi_eff = jnp.minimum(wrapped, 1.0 - wrapped)
    x = clamp((phi_eff - grid.phi_min) * grid.inv_dphi, 0.0, grid.width - 1)
    x0 = jnp.minimum(jnp.floor(jax.lax.stop_gradient(x)), grid.width - 2)
    return x0.astype(jnp.int32), x - x0


def _rate_combine(part: Tuple[Array, Array], current: Optional[Array]) -> Array:
    """Bilinear interpolation in the cell of (|i|, phi); |i| clamped to the table."""
    grid = rate_grid()
    x0, fx = part
    x0, fx, current = jnp.broadcast_arrays(x0, fx, current)
    y = clamp((jnp.abs(current) - grid.ib_min) * grid.inv_dib, 0.0, grid.height - 1)
    y0 = jnp.minimum(jnp.floor(jax.lax.stop_gradient(y)), grid.height - 2)
    fy = y - y0
    index = x0 + y0.astype(jnp.int32) * (grid.width - 1)
    picked = jnp.take(jnp.asarray(grid.cells, dtype=fx.dtype), index, axis=0, mode="clip")
    c0, cx, cy, cxy = picked[..., 0], picked[..., 1], picked[..., 2], picked[..., 3]
    return c0 + fx * cx + fy * (cy + fx * cxy)


_register("RateArray", True, _rate_flux_part, _rate_combine)


# ----------------------------------------------------------------------------------------
# Heaviside_fit_state_dep: smooth state-dependent fit of the table
# ----------------------------------------------------------------------------------------

HEAVISIDE_A = 0.37091212
HEAVISIDE_B = 0.31903101
HEAVISIDE_C = 1.06435066
HEAVISIDE_K = 1.92138556
HEAVISIDE_M = 2.50322787
HEAVISIDE_N = 2.62706077
HEAVISIDE_EPS = 1e-6
HEAVISIDE_SHARPNESS = 100.0


def _heaviside_flux_part(phi: Array) -> Array:
    """B (|cos(pi phi)| + eps)^M."""
    return HEAVISIDE_B * (jnp.abs(jnp.cos(math.pi * phi)) + HEAVISIDE_EPS) ** HEAVISIDE_M


def _heaviside_combine(flux: Array, current: Optional[Array]) -> Array:
    """d = A max(i - C, eps)^K - flux; g = sigmoid(100 d) max(d, eps)^(1/N)."""
    d = HEAVISIDE_A * clamp(current - HEAVISIDE_C, HEAVISIDE_EPS) ** HEAVISIDE_K - flux
    return jax.nn.sigmoid(HEAVISIDE_SHARPNESS * d) * clamp(d, HEAVISIDE_EPS) ** (1.0 / HEAVISIDE_N)


_register("Heaviside_fit_state_dep", True, _heaviside_flux_part, _heaviside_combine)


# ----------------------------------------------------------------------------------------
# Analytic phi-only functions
# ----------------------------------------------------------------------------------------

_phi_only("Tanh", jnp.tanh)
_phi_only(
    "ReLU", lambda phi: jnp.where(phi > 0, phi, jnp.zeros_like(phi))
)  # slope 0 at 0, as torch
_phi_only("SimpleGELU", lambda phi: 0.5 * phi * jnp.tanh(0.8 * phi) + 0.5 * phi)
_phi_only("Telu", lambda phi: phi * jnp.tanh(jnp.exp(phi)))


# ----------------------------------------------------------------------------------------
# TanhGauss1p7IBFit: analytic fit with a current window
# ----------------------------------------------------------------------------------------

TANH_GAUSS_SIGMA = 0.126327336
TANH_GAUSS_P = 2.548409700
TANH_GAUSS_AMP = 0.784536839
TANH_GAUSS_I_LOW = 0.7
TANH_GAUSS_I_HIGH = 1.7


def _tanh_gauss_flux_part(phi: Array) -> Array:
    """amp tanh(exp(-((phi mod 1) - 0.5)^2 / (2 sigma^2)))."""
    offset = jnp.remainder(phi, 1.0) - 0.5
    return TANH_GAUSS_AMP * jnp.tanh(jnp.exp(-(offset * offset) / (2.0 * TANH_GAUSS_SIGMA**2)))


def _tanh_gauss_combine(flux: Array, current: Optional[Array]) -> Array:
    """(1 - u)^p * flux with u = clamp(1.7 - clamp(i, 0.7, 1.7), 0, 1)."""
    u = clamp(TANH_GAUSS_I_HIGH - clamp(current, TANH_GAUSS_I_LOW, TANH_GAUSS_I_HIGH), 0.0, 1.0)
    return (1.0 - u) ** TANH_GAUSS_P * flux


_register("TanhGauss1p7IBFit", True, _tanh_gauss_flux_part, _tanh_gauss_combine)


def jax_source_function(name: str) -> JaxSourceFunction:
    """The JAX implementation of source function ``name`` (aliases resolve via the declarations)."""
    canonical = SOURCE_CATALOG.canonical(str(name))
    if canonical not in JAX_SOURCE_FUNCTIONS:
        raise JaxUnsupportedError(
            f"{SOURCE_CATALOG.unavailable('jax', canonical)}; use training.backend=torch"
        )
    return JAX_SOURCE_FUNCTIONS.get(canonical)


SOURCE_CATALOG.check_complete("jax")
