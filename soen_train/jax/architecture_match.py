"""Does a checkpoint's architecture match a model's? (resume and ``verify`` use this).

Two specs match when they define the same parameters and the same dynamics: layer ids,
types, widths, solvers and source functions, the connection list, the evaluation method
and the input type. Values that training may change (dt when learnable, weights) and
initialisation recipes are not compared.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple


def architecture_signature(spec: Mapping[str, Any]) -> Dict[str, Any]:
    """The structural part of an architecture dict (``SOENModel.spec`` vocabulary)."""
    layers: List[Tuple[Any, ...]] = []
    for layer in sorted(spec.get("layers", []), key=lambda e: int(e["layer_id"])):
        params = layer.get("params") or {}
        layers.append(
            (
                int(layer["layer_id"]),
                str(layer["layer_type"]),
                int(params.get("dim", 0)),
                str(params.get("solver", "FE")),
                str(params.get("source_func", "")),
            )
        )
    conns = sorted((int(c["from_layer"]), int(c["to_layer"])) for c in spec.get("connections", []))
    sim = spec.get("simulation", {}) or {}
    return {
        "layers": layers,
        "connections": conns,
        "network_evaluation_method": str(sim.get("network_evaluation_method", "layerwise")),
        "input_type": str(sim.get("input_type", "state")),
    }


def same_architecture(a: Mapping[str, Any], b: Mapping[str, Any]) -> Optional[str]:
    """None when ``a`` and ``b`` match, else a sentence saying where they differ."""
    sa, sb = architecture_signature(a), architecture_signature(b)
    for key in sa:
        if sa[key] != sb[key]:
            return f"{key} differ: {sa[key]} vs {sb[key]}"
    return None
