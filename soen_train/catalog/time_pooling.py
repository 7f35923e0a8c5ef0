"""The time-pooling catalog, declared once: methods that reduce a history [B, T, D] to [B, D].

seq2static tasks need one vector per sequence: the output layer's history *without* its
initial step 0 is pooled by one of these methods, then multiplied by ``scale`` (default 1.0).
States are dimensionless, so pooled values are too. The torch methods
(``soen_train.training.time_pooling``) and the JAX methods (``soen_train.jax.pooling``)
register against ``POOLING_CATALOG``; ``validate_pooling`` is the one config check of both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soen_train.catalog.declaration import Catalog, entry
from soen_train.catalog.param_checks import check_number
from soen_train.registry import check_params

#: Every method accepts this multiplier, applied after pooling.
SCALE_PARAM = "scale"

#: Epsilon under the square root of ``rms`` so that its gradient is finite at zero.
RMS_EPS = 1e-8

#: Every pooling method; ``scale`` is accepted by all of them besides their own params.
POOLING_CATALOG = Catalog(
    "time pooling",
    [
        entry("max", summary="largest value over time"),
        entry("mean", summary="average over time"),
        entry("rms", summary="sqrt(mean_t h² + 1e-8)"),
        entry("final", summary="last step"),
        entry(
            "mean_last_n",
            params={"n": 1},
            summary="average of the last n steps (n > T uses all T)",
            param_notes="`n` integer >= 1",
        ),
        entry(
            "mean_range",
            params={"range_start": None, "range_end": None},
            summary=(
                "average over steps [range_start, range_end), 0 = first step after the initial "
                "state; bounds are clamped so at least one step is used"
            ),
            param_notes="null `range_start` = T - min(50, T), null `range_end` = T",
        ),
        entry(
            "ewa",
            params={"min_weight": 0.2},
            summary=(
                "sum_i w_i h_i with w_i ∝ m^(1 - τ_i), τ = linspace(0, 1, T), normalised; "
                "oldest step weighs m = `min_weight`, newest 1"
            ),
            param_notes="`min_weight` in [0, 1]; values below 1e-6 act as 1e-6",
        ),
    ],
)


def pooling_parameters(name: str) -> dict[str, Any]:
    """Accepted params of a pooling method with their defaults (``scale`` included)."""
    defaults = dict(POOLING_CATALOG.declaration(name).params)
    defaults[SCALE_PARAM] = 1.0
    return defaults


def _check_values(name: str, params: Mapping[str, Any]) -> None:
    """Range checks for the values of one method's params (names are already known to be valid)."""
    owner = f"time pooling '{name}'"
    if SCALE_PARAM in params:
        scale = check_number(owner, SCALE_PARAM, params[SCALE_PARAM])
        if scale == 0.0:
            raise ValueError(f"{owner}: parameter 'scale' must be non-zero (it divides raw outputs)")
    if name == "mean_last_n" and "n" in params:
        check_number(owner, "n", params["n"], minimum=1, integer=True)
    if name == "mean_range":
        for key in ("range_start", "range_end"):
            if params.get(key) is not None:
                check_number(owner, key, params[key], minimum=0, integer=True)
        start, end = params.get("range_start"), params.get("range_end")
        if start is not None and end is not None and int(end) <= int(start):
            raise ValueError(
                f"{owner}: range_end ({end}) must be greater than range_start ({start})"
            )
    if name == "ewa" and "min_weight" in params:
        check_number(owner, "min_weight", params["min_weight"], minimum=0.0, maximum=1.0)


def validate_pooling(name: str, params: Mapping[str, Any] | None = None) -> str:
    """Raise a clear error for an unknown method, an unknown param or an out-of-range value.

    Returns:
        The canonical method name.
    """
    canonical = POOLING_CATALOG.canonical(name)
    given = dict(params or {})
    check_params(f"time pooling '{canonical}'", given, pooling_parameters(canonical))
    _check_values(canonical, given)
    return canonical
