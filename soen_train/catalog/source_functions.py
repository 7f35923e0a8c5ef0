"""The source-function catalog, declared once: the rate functions g(phi, i) a layer can use.

Each maps a flux ``phi`` [Phi0] and, when it ``needs`` the ``current``, the SQUID current
``i`` [Ic] (``i = bias_current - s`` in a SingleDendrite) to a dimensionless rate ``g``. They
take no config params. The torch classes (``soen_train.model.source_functions``) and the JAX
functions (``soen_train.jax.source_functions``) register against ``SOURCE_CATALOG``; both
must agree with the declaration on whether g depends on the current.
"""

from __future__ import annotations

from typing import Any

from soen_train.catalog.declaration import Catalog, CatalogMismatchError, Declaration, entry

#: The one thing a source function can need: the SQUID current (so g depends on the state).
CURRENT = "current"


def _check_uses_current(decl: Declaration, impl: Any, backend: str) -> None:
    """The implementation's ``uses_current`` must be what the declaration says."""
    declared = CURRENT in decl.needs
    if bool(getattr(impl, "uses_current", False)) != declared:
        raise CatalogMismatchError(
            f"{backend} source function '{decl.name}': uses_current = {not declared}, but the "
            f"declaration says {declared}"
        )


#: Every source function an architecture YAML can name (``source_func``).
SOURCE_CATALOG = Catalog(
    "source function",
    [
        entry(
            "RateArray", "rate_array",
            needs={CURRENT},
            summary=(
                "bilinear lookup in the measured SQUID rate table g[ib, phi] (the physical "
                "default); phi folded into [0, 0.5], |i| clamped to the table"
            ),
        ),
        entry(
            "Heaviside_fit_state_dep", "Heaviside_state_dep",
            needs={CURRENT},
            summary=(
                "smooth fit of the SQUID response: d = A max(i − C, ε)^K − B (|cos πphi| + ε)^M; "
                "g = sigmoid(100 d) max(d, ε)^(1/N)"
            ),
        ),
        entry("Tanh", "tanh", summary="g = tanh(phi)"),
        entry("ReLU", "relu", "Relu", summary="g = max(phi, 0)"),
        entry(
            "SimpleGELU", "simple_gelu",
            summary="g = 0.5 phi tanh(0.8 phi) + 0.5 phi (a cheap GELU-like curve)",
        ),
        entry("Telu", "telu", "TeLU", summary="g = phi tanh(exp(phi))"),
        entry(
            "TanhGauss1p7IBFit", "tanh_gauss_1p7_ib_fit",
            needs={CURRENT},
            summary=(
                "g = amp (1 − u)^p tanh(exp(−((phi mod 1) − 0.5)² / (2σ²))), "
                "u = clamp(1.7 − clamp(i, 0.7, 1.7), 0, 1)"
            ),
        ),
    ],
    read_params={"torch": lambda cls: {}, "jax": lambda fn: {}},
    check_impl=_check_uses_current,
    needs_vocabulary={CURRENT},
)
