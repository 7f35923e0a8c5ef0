"""Tiny architectures (original YAML vocabulary) that exercise every layer type and source.

Parameters are chosen so that every layer is active (states of order 0.01-1 within a few
steps) and every parameter is learnable, so the parity tests compare non-trivial values
and every gradient path. Dims stay at 2-4 and T at 12 to keep compile and run time small.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List

LEARNABLE = True


def _const(value: float) -> Dict[str, Any]:
    return {"distribution": "constant", "params": {"value": value}}


def _uniform(lo: float, hi: float) -> Dict[str, Any]:
    return {"distribution": "uniform", "params": {"min": lo, "max": hi}}


def _learnable(names: List[str]) -> Dict[str, bool]:
    return {n: LEARNABLE for n in names}


def dendrite(
    lid: int, dim: int, source: str, solver: str = "FE", bias: float = 2.0
) -> Dict[str, Any]:
    """A SingleDendrite layer with fast enough gammas to move within a few steps."""
    return {
        "layer_id": lid,
        "layer_type": "SingleDendrite",
        "params": {
            "dim": dim,
            "solver": solver,
            "source_func": source,
            "phi_offset": _uniform(0.2, 0.45),
            "bias_current": _uniform(bias - 0.1, bias + 0.1),
            "gamma_plus": _uniform(0.05, 0.1),
            "gamma_minus": _uniform(0.01, 0.03),
            "learnable_params": _learnable(
                ["phi_offset", "bias_current", "gamma_plus", "gamma_minus"]
            ),
        },
    }


def wicc(lid: int, dim: int, source: str, solver: str = "FE") -> Dict[str, Any]:
    """A MultiplierWICC layer."""
    return {
        "layer_id": lid,
        "layer_type": "MultiplierWICC",
        "params": {
            "dim": dim,
            "solver": solver,
            "source_func": source,
            "phi_y": _uniform(0.05, 0.2),
            "bias_current": _uniform(1.9, 2.2),
            "gamma_plus": _uniform(0.05, 0.1),
            "gamma_minus": _uniform(0.01, 0.03),
            "learnable_params": _learnable(["phi_y", "bias_current", "gamma_plus", "gamma_minus"]),
        },
    }


def nocc(lid: int, dim: int, source: str) -> Dict[str, Any]:
    """A MultiplierNOCC layer with a small beta so that its states move at dt = 5."""
    return {
        "layer_id": lid,
        "layer_type": "MultiplierNOCC",
        "params": {
            "dim": dim,
            "source_func": source,
            "phi_y": _uniform(0.05, 0.2),
            "bias_current": _uniform(2.0, 2.2),
            "alpha": _uniform(1.5, 1.7),
            "beta": _uniform(20.0, 30.0),
            "beta_out": _uniform(5.0, 8.0),
            "learnable_params": _learnable(["phi_y", "bias_current", "alpha", "beta", "beta_out"]),
        },
    }


def virtual(
    lid: int, dim: int, layer_type: str, solver: str = "FE", source: str = "Tanh"
) -> Dict[str, Any]:
    """RNN, LeakyGRU, MinGRU or NonLinear (their parameters are learnable by default)."""
    params: Dict[str, Any] = {"dim": dim, "solver": solver}
    if layer_type == "NonLinear":
        params.update(
            source_func=source,
            phi_offset=_uniform(0.1, 0.3),
            bias_current=_uniform(1.2, 1.6),
            learnable_params=_learnable(["phi_offset", "bias_current"]),
        )
    if layer_type == "LeakyGRU":
        params.update(decay_bias=_uniform(0.5, 1.5))
    if layer_type == "MinGRU":
        params.update(gate_scale=_uniform(0.5, 1.5), gate_bias=_uniform(-0.5, 0.5))
    return {"layer_id": lid, "layer_type": layer_type, "params": params}


def linear(lid: int, dim: int) -> Dict[str, Any]:
    """A plain Input/Linear layer (read-out or first layer)."""
    return {"layer_id": lid, "layer_type": "Input", "params": {"dim": dim}}


def dense(src: int, dst: int, lo: float = -0.3, hi: float = 0.3, **extra: Any) -> Dict[str, Any]:
    """An all-to-all learnable connection with uniform init."""
    params: Dict[str, Any] = {"init": "uniform", "min": lo, "max": hi}
    params.update(extra)
    return {
        "from_layer": src,
        "to_layer": dst,
        "connection_type": "all_to_all",
        "params": params,
        "learnable": True,
    }


def arch(
    layers: List[Dict[str, Any]],
    connections: List[Dict[str, Any]],
    method: str = "layerwise",
    input_type: str = "state",
    dt: float = 5.0,
) -> Dict[str, Any]:
    """Assemble an architecture dict."""
    return copy.deepcopy(
        {
            "simulation": {"dt": dt, "input_type": input_type, "network_evaluation_method": method},
            "layers": layers,
            "connections": connections,
        }
    )


def every_layer_fe(method: str = "layerwise") -> Dict[str, Any]:
    """A chain through every layer type (FE), with internal connections and a sparse mask.

    Sources: RateArray, Heaviside_fit_state_dep, TanhGauss1p7IBFit. Layer 1 is a dendrite
    with an internal connection, layer 8 one without (the known-flux scan). Stepwise
    methods also get a feedback edge (layer 5 -> layer 2).
    """
    layers = [
        linear(0, 3),
        dendrite(1, 4, "RateArray"),
        wicc(2, 3, "Heaviside_fit_state_dep"),
        nocc(3, 3, "RateArray"),
        virtual(4, 3, "RNN"),
        virtual(5, 3, "LeakyGRU"),
        virtual(6, 3, "MinGRU"),
        virtual(7, 3, "NonLinear", source="TanhGauss1p7IBFit"),
        dendrite(8, 3, "Heaviside_fit_state_dep", bias=2.3),
        linear(9, 2),
    ]
    conns = [
        dense(0, 1, 0.0, 0.3),
        dense(1, 1, -0.1, 0.1, allow_self_connections=False),
        dense(1, 2, -0.3, 0.3),
        {
            "from_layer": 1,
            "to_layer": 3,
            "connection_type": "sparse",
            "params": {"init": "uniform", "min": -0.3, "max": 0.3, "sparsity": 0.5},
            "learnable": True,
        },
        dense(2, 3, -0.3, 0.3),
        dense(3, 4, -2.0, 2.0),
        dense(4, 4, -0.5, 0.5),
        dense(4, 5, -1.0, 1.0),
        dense(5, 6, -1.0, 1.0),
        dense(6, 6, -0.5, 0.5),
        dense(6, 7, -0.3, 0.3),
        dense(7, 8, -0.3, 0.3, constraints={"min": -0.24, "max": 0.24}),
        dense(8, 9, -1.0, 1.0),
        dense(0, 9, -0.5, 0.5),
    ]
    if method != "layerwise":
        conns.append(dense(5, 2, -0.2, 0.2))
    return arch(layers, conns, method=method)


def every_layer_ps(method: str = "layerwise") -> Dict[str, Any]:
    """Layers on the PS (parallel-scan) solver; phi-only sources Tanh, ReLU, SimpleGELU, Telu."""
    layers = [
        linear(0, 2),
        dendrite(1, 3, "Tanh", solver="PS"),
        wicc(2, 3, "SimpleGELU", solver="PS"),
        virtual(3, 3, "RNN"),
        virtual(4, 3, "LeakyGRU"),
        virtual(5, 3, "MinGRU", solver="PS"),
        virtual(6, 3, "NonLinear", solver="PS", source="Telu"),
        dendrite(7, 2, "ReLU", solver="PS"),
    ]
    conns = [
        dense(0, 1, 0.0, 1.0),
        dense(1, 2),
        dense(2, 3, -2.0, 2.0),
        dense(3, 4, -1.0, 1.0),
        dense(4, 5, -1.0, 1.0),
        dense(5, 6, -1.0, 1.0),
        dense(6, 7, -1.0, 1.0),
    ]
    return arch(layers, conns, method=method)


def flux_input(method: str = "layerwise") -> Dict[str, Any]:
    """``input_type: flux``: the input drives the first (physical) layer directly.

    Layer 0 is a RateArray dendrite without internal connection (the known-flux scan),
    layer 1 a Tanh dendrite (phi-only source on the same path).
    """
    layers = [
        dendrite(0, 2, "RateArray"),
        dendrite(1, 2, "Tanh"),
        virtual(2, 2, "NonLinear", source="ReLU"),
        linear(3, 2),
    ]
    conns = [dense(0, 1, -1.0, 1.0), dense(1, 2, -1.0, 1.0), dense(2, 3, -1.0, 1.0)]
    return arch(layers, conns, method=method, input_type="flux")


def pulse_net(method: str = "layerwise", dt_learnable: bool = False) -> Dict[str, Any]:
    """The 1 -> 5 -> 2 Heaviside network of the pulses experiment (hardware-like values)."""
    a = arch(
        [
            linear(0, 1),
            dendrite(1, 5, "Heaviside_fit_state_dep", bias=1.95),
            dendrite(2, 2, "Heaviside_fit_state_dep", bias=1.95),
        ],
        [
            dense(0, 1, 0.0, 0.24, constraints={"min": -0.24, "max": 0.24}),
            dense(
                1,
                1,
                -0.1,
                0.1,
                allow_self_connections=False,
                constraints={"min": -0.24, "max": 0.24},
            ),
            dense(1, 2, -0.24, 0.24, constraints={"min": -0.24, "max": 0.24}),
        ],
        method=method,
    )
    a["simulation"]["dt_learnable"] = dt_learnable
    return a


def _edge(src: int, dst: int, mode: str, lo: float, hi: float, **circuit: Any) -> Dict[str, Any]:
    """A dense dynamic (WICC / NOCC) connection with its circuit parameters."""
    return {
        "from_layer": src,
        "to_layer": dst,
        "connection_type": "dense",
        "params": {
            "init": "uniform",
            "min": lo,
            "max": hi,
            "mode": mode,
            "connection_params": dict(circuit),
        },
        "learnable": True,
    }


WICC_FAST = {"source_func": "TanhGauss1p7IBFit", "gamma_plus": 0.02, "gamma_minus": 0.02,
             "bias_current": 1.9}
NOCC_FAST = {"source_func": "TanhGauss1p7IBFit", "beta": 40.0, "beta_out": 5.0, "alpha": 1.6,
             "bias_current": 2.05}


def dynamic_edges(method: str = "layerwise") -> Dict[str, Any]:
    """WICC and NOCC edges between layers and inside them.

    Layer 1 (dendrite) is fed by a WICC edge and has an internal NOCC edge; layer 2
    (NOCC multiplier) is fed by a NOCC edge with half_flux_offset and has an internal WICC
    edge; layer 3 reads layer 2 through a fixed and layer 1 through a WICC Tanh edge with a
    given j_out. Stepwise methods add a WICC feedback edge 2 -> 1. The edges use the smooth
    current-dependent TanhGauss1p7IBFit: with RateArray's piecewise-bilinear table (or the
    steep Heaviside fit) this network's float32 gradients already differ from float64 by
    ~1e-4 in torch itself, too close to the tolerance (RateArray edges are checked against
    the original's numbers in test_jax_edges).
    """
    layers = [linear(0, 2), dendrite(1, 3, "TanhGauss1p7IBFit"), nocc(2, 2, "RateArray"),
              linear(3, 2)]
    conns = [
        _edge(0, 1, "WICC", 0.1, 0.4, **WICC_FAST),
        _edge(1, 1, "NOCC", -0.2, 0.2, **NOCC_FAST),
        _edge(1, 2, "NOCC", -0.3, 0.3, **{**NOCC_FAST, "half_flux_offset": True, "j_in": 0.6}),
        _edge(2, 2, "WICC", -0.2, 0.2, **WICC_FAST),
        dense(2, 3, -1.0, 1.0),
        _edge(1, 3, "WICC", -0.3, 0.3, **{**WICC_FAST, "source_func": "Tanh", "j_out": 0.5}),
    ]
    if method != "layerwise":
        conns.append(_edge(2, 1, "WICC", -0.2, 0.2, **WICC_FAST))
    return arch(layers, conns, method=method)
