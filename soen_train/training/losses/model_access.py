"""Read what losses need from a SOEN model through its public API only.

The helpers live in ``soen_train.training.model_access`` (one module for losses and
callbacks); this module keeps the losses' import path, and ``select_connections``, which the
JAX backend's losses share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from soen_train.training.model_access import (
    check_layer_ids,
    connection_endpoints,
    connection_weights,
    layer_parameter,
    layer_types,
)

__all__ = [
    "check_layer_ids",
    "connection_endpoints",
    "connection_weights",
    "layer_parameter",
    "layer_types",
    "select_connections",
]


def select_connections(
    weights: Mapping[str, Any], names: Iterable[str] | None, loss: str
) -> dict[str, Any]:
    """Restrict ``weights`` to ``names`` (all when None); an unknown name lists the valid ones.

    Works for any array type (torch tensors here, JAX arrays in the JAX backend)."""
    if names is None:
        selected = dict(weights)
    else:
        wanted = [str(n) for n in names]
        missing = [n for n in wanted if n not in weights]
        if missing:
            raise ValueError(
                f"loss '{loss}': connections {missing} are not learnable connections of the model; "
                f"valid: {', '.join(sorted(weights)) or '(none)'}"
            )
        selected = {n: weights[n] for n in wanted}
    if not selected:
        raise ValueError(f"loss '{loss}': the model has no learnable connections to act on")
    return selected
