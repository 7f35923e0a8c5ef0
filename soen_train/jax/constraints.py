"""Parameter constraints in JAX: the clamps and masks ``SOENModel.enforce_constraints`` applies.

After every optimiser step the torch trainer clamps each layer parameter to its
``constraints: {min, max}``, clamps each connection weight to its bounds (narrowed by the
source layer's polarity: excitatory sources keep J >= 0, inhibitory J <= 0), re-zeroes the
masked entries and keeps a learnable ``dt`` positive. ``JaxConstraints.apply`` does the
same to a parameter pytree, so both backends keep identical hardware limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

#: Smallest dt a learnable dt is clamped to (as in the torch model).
MIN_DT = 1e-9


@dataclass(frozen=True)
class JaxConstraints:
    """Bounds per parameter: scalars for layer parameters, arrays (with mask) for weights."""

    scalar_bounds: Dict[str, Tuple[Optional[float], Optional[float]]]
    weight_bounds: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]]  # lower, upper, mask

    def apply(self, params: Mapping[str, Array]) -> Dict[str, Array]:
        """A new pytree with every parameter inside its bounds and masks re-applied."""
        out = dict(params)
        for name, (lo, hi) in self.scalar_bounds.items():
            if name in out and (lo is not None or hi is not None):
                out[name] = jnp.clip(out[name], lo, hi)
        for name, (lower, upper, mask) in self.weight_bounds.items():
            if name in out:
                w = out[name]
                out[name] = jnp.maximum(jnp.minimum(w, upper), lower) * mask
        return out


def _bound(value: Any) -> Optional[float]:
    return None if value is None else float(value)


def constraints_from_spec(
    spec: Mapping[str, Any], connections: Iterable[Any], named: Mapping[str, Any]
) -> JaxConstraints:
    """Build the constraints of a model from its spec dict and connection masks.

    ``connections`` are ``JaxConnection`` objects (name, endpoints, mask); ``named`` is
    ``parameters_by_name()`` (used to find a learnable ``dt``).
    """
    scalar: Dict[str, Tuple[Optional[float], Optional[float]]] = {}
    polarity: Dict[int, np.ndarray] = {}
    for layer in spec.get("layers", []):
        lid = int(layer["layer_id"])
        params = layer.get("params") or {}
        for name, entry in params.items():
            if isinstance(entry, Mapping) and "constraints" in entry:
                cons = entry["constraints"] or {}
                scalar[f"layers.{lid}.{name}"] = (_bound(cons.get("min")), _bound(cons.get("max")))
        if params.get("polarity") is not None:
            polarity[lid] = np.asarray(params["polarity"], dtype=np.float32)
    if "dt" in named:
        scalar["dt"] = (MIN_DT, None)
    bounds_by_name = {
        f"{int(c['from_layer'])}_to_{int(c['to_layer'])}": (c.get("params") or {}).get(
            "constraints"
        )
        or {}
        for c in spec.get("connections", [])
    }
    weights: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for conn in connections:
        cons = bounds_by_name.get(conn.name, {})
        shape = conn.mask.shape
        lower = np.full(shape, -np.inf, dtype=np.float32)
        upper = np.full(shape, np.inf, dtype=np.float32)
        if cons.get("min") is not None:
            lower[...] = float(cons["min"])
        if cons.get("max") is not None:
            upper[...] = float(cons["max"])
        signs = polarity.get(conn.from_layer)
        if signs is not None:
            cols = np.broadcast_to(signs.reshape(1, -1), shape)
            lower = np.where(cols > 0, np.maximum(lower, 0.0), lower).astype(np.float32)
            upper = np.where(cols < 0, np.minimum(upper, 0.0), upper).astype(np.float32)
        weights[f"connections.{conn.name}"] = (lower, upper, conn.mask.astype(np.float32))
    return JaxConstraints(scalar_bounds=scalar, weight_bounds=weights)
