"""Write an ``ArchitectureSpec`` back out as a plain dict in the architecture YAML vocabulary.

``architecture_to_dict`` gives YAML/JSON-safe data (no tensors) that ``parse_architecture``
reads back into the same spec; ``.soen`` files store it as their ``spec``.
"""

from __future__ import annotations

from typing import Any

from .layers import LAYER_TYPES
from .spec_types import ArchitectureSpec, ConnectionSpec, LayerSpec, ParamInit
from .validation import plain


def layer_to_dict(layer: LayerSpec) -> dict[str, Any]:
    """One layer in the YAML vocabulary."""
    params: dict[str, Any] = {"dim": layer.dim}
    params.update(layer.options)
    defaults = {d.name: d for d in LAYER_TYPES.get(layer.layer_type).PARAMS}
    # Written in the order they were given (the draw order); a parameter never given and
    # still at its plain default is left out, so a rebuild computes the layer's own default
    # (which may depend on dt, e.g. LeakyGRU's decay_bias) rather than a frozen constant.
    names = [n for n in layer.param_order if n in layer.params]
    names += [n for n in layer.params if n not in names
              and not _is_plain_default(layer.params[n], defaults.get(n))]
    for name in names:
        params[name] = layer.params[name].to_dict()
    rest = {n: init.learnable for n, init in layer.params.items()
            if n not in names and n in defaults and init.learnable != defaults[n].learnable}
    if rest:
        params["learnable_params"] = rest
    if layer.polarity is not None:
        params["polarity"] = list(layer.polarity.signs)
    out: dict[str, Any] = {"layer_id": layer.layer_id, "layer_type": layer.layer_type, "params": params,
                           "noise": layer.noise.to_dict(), "perturb": layer.perturb.to_dict()}
    if layer.description:
        out["description"] = layer.description
    if layer.model_id:
        out["model_id"] = layer.model_id
    return out


def _is_plain_default(init: ParamInit, definition: Any) -> bool:
    """True when ``init`` is exactly what an unnamed parameter gets (its constant default)."""
    if definition is None:
        return False
    return (init.distribution == "constant" and init.params.get("value") == float(definition.default)
            and len(init.params) == 1 and init.minimum == definition.minimum
            and init.maximum == definition.maximum)


def connection_to_dict(conn: ConnectionSpec) -> dict[str, Any]:
    """One connection in the YAML vocabulary (structure form, as the original writes it).

    The structure form keeps pattern and init parameters apart (the flat form would mix
    e.g. block_structure's ``connection_mode`` with the edge-mode key of the same name).
    """
    params: dict[str, Any] = {
        "structure": {"type": conn.pattern, "params": dict(conn.pattern_params)},
        "init": {"name": conn.init, "params": dict(conn.init_params)},
    }
    params["allow_self_connections"] = conn.allow_self_connections
    if conn.minimum is not None or conn.maximum is not None:
        params["constraints"] = {"min": conn.minimum, "max": conn.maximum}
    if conn.is_dynamic:
        params["mode"] = conn.mode
        params["connection_params"] = dict(conn.connection_params)
    out: dict[str, Any] = {
        "from_layer": conn.from_layer, "to_layer": conn.to_layer, "connection_type": conn.pattern,
        "learnable": conn.learnable, "params": params, "noise": conn.noise.to_dict(),
        "perturb": conn.perturb.to_dict(),
    }
    if conn.description:
        out["description"] = conn.description
    if conn.visualization_metadata is not None:
        out["visualization_metadata"] = conn.visualization_metadata
    return out


def architecture_to_dict(spec: ArchitectureSpec) -> dict[str, Any]:
    """The whole spec as a plain dict (YAML/JSON compatible, no tensors)."""
    out: dict[str, Any] = {
        "simulation": spec.simulation.to_dict(),
        "layers": [layer_to_dict(layer) for layer in spec.layers],
        "connections": [connection_to_dict(conn) for conn in spec.connections],
    }
    if spec.seed is not None:
        out["seed"] = spec.seed
    if spec.description:
        out["description"] = spec.description
    return plain(out)
