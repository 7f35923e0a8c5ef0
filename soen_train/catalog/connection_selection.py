"""Pick the connections a weight loss acts on, for any array type (torch tensors, JAX arrays).

Connections are named ``"<from>_to_<to>"`` as the model's ``connection_weights`` keys them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


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
