"""Builders of tiny architecture dicts shared by the simulator tests."""

from __future__ import annotations

import copy
from typing import Any


def layer(layer_id: int, layer_type: str, dim: int, **params: Any) -> dict[str, Any]:
    """One layer entry of an architecture dict."""
    return {"layer_id": layer_id, "layer_type": layer_type, "params": {"dim": dim, **params}}


def conn(src: int, dst: int, pattern: str = "dense", learnable: bool = True, **params: Any) -> dict[str, Any]:
    """One connection entry of an architecture dict."""
    return {"from_layer": src, "to_layer": dst, "connection_type": pattern, "learnable": learnable,
            "params": params}


def arch(layers: list[dict[str, Any]], connections: list[dict[str, Any]], seed: int | None = None,
         **simulation: Any) -> dict[str, Any]:
    """A complete architecture dict."""
    out = {"simulation": {"dt": 37.0, **simulation}, "layers": layers, "connections": connections}
    if seed is not None:
        out["seed"] = seed
    return out


def feed_forward(source: str = "RateArray", internal: bool = False, **simulation: Any) -> dict[str, Any]:
    """3 -> 4 SingleDendrite (optionally recurrent) -> 2 SingleDendrite -> 2 Input read-out."""
    layers = [
        layer(0, "Input", 3),
        layer(1, "SingleDendrite", 4, source_func=source,
              bias_current={"distribution": "uniform", "params": {"min": 1.7, "max": 2.0}},
              gamma_plus=0.002, gamma_minus=0.001),
        layer(2, "SingleDendrite", 2, source_func=source, gamma_plus=0.002, gamma_minus=0.001),
        layer(3, "Input", 2),
    ]
    conns = [conn(0, 1, init="uniform", min=0.0, max=0.3), conn(1, 2, init="uniform", min=0.0, max=0.3),
             conn(2, 3, "one_to_one", learnable=False, init="constant", value=1.0)]
    if internal:
        conns.append(conn(1, 1, init="normal", mean=0.0, std=0.1, allow_self_connections=False))
    return arch(layers, conns, **simulation)


def with_simulation(spec: dict[str, Any], **simulation: Any) -> dict[str, Any]:
    """A copy of ``spec`` with simulation settings changed."""
    out = copy.deepcopy(spec)
    out["simulation"].update(simulation)
    return out
