"""Where the original toolkit's JAX ``.pkl`` keeps each tensor, and the architecture its
``jax_model`` describes (``../shared/spec/original_model_extras.md`` 6.2).

``params.layer_params`` holds one entry per layer, in layer order:

- per-node layers: one ``[R, D]`` array whose rows are the layer's parameters
  (``LAYER_ROWS``; SingleDendrite ``phi_offset, bias_current, gamma_plus, gamma_minus`` ...);
- MinGRU: ``[2, D, D]`` = (W_hidden, W_gate), our ``hidden_proj.weight``, ``gate_proj.weight``;
- GRU / LSTM (and the one-gate RNN): the 4-tuple (W_ih ``[G, D, D]``, W_hh ``[G, D, D]``,
  b_ih ``[G, D]``, b_hh ``[G, D]``) with the gates stacked on the first axis (GRU r, z, n;
  LSTM i, f, g, o), which are torch's ``weight_ih_l0`` ``[G*D, D]`` ... rows gate by gate.

A connection's ``mode`` (fixed / WICC / NOCC) and its circuit parameters (``source_key``,
``gamma_plus``, ``bias_current``, ``j_in``, ``j_out`` (a number or one per destination),
``alpha``, ``beta``, ``beta_out``, ``half_flux_offset``) sit in ``jax_model.connections``; a
layer's dynamic internal connection has ``internal_mode`` and ``internal_dynamic_params``.
Both become our ``params.mode`` + ``params.connection_params``. The original's entries carry
no WICC ``gamma_minus`` unless its serialiser wrote one; then our default (0.001) applies.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from .errors import JaxCheckpointError

#: Per-node layers: kind -> the rows of its ``[R, D]`` entry (our parameter names).
LAYER_ROWS: Dict[str, Tuple[str, ...]] = {
    "SingleDendrite": ("phi_offset", "bias_current", "gamma_plus", "gamma_minus"),
    "MultiplierWICC": ("phi_y", "bias_current", "gamma_plus", "gamma_minus"),
    "Multiplier": ("phi_y", "bias_current", "gamma_plus", "gamma_minus"),
    "MultiplierNOCC": ("phi_y", "bias_current", "alpha", "beta", "beta_out"),
    "NonLinear": ("phi_offset", "bias_current"),
    "DendriteReadout": ("phi_offset", "bias_current"),
    "Readout": ("phi_offset", "bias_current"),
    "ScalingLayer": ("scale_factor",),
    "Softmax": ("beta",),
    "Linear": (),
    "Input": (),
}

#: Kinds whose rows may be absent (``[0, D]``: the JAX port keeps no parameter for them).
ROWS_OPTIONAL = ("Softmax",)

#: Matrix-stack layers: kind -> our tensor names of its ``[K, D, D]`` entry.
MATRIX_STACKS: Dict[str, Tuple[str, ...]] = {"MinGRU": ("hidden_proj.weight", "gate_proj.weight")}

#: torch-cell layers: kind -> number of gates G of its (W_ih, W_hh, b_ih, b_hh) tuple.
GATED_CELLS: Dict[str, int] = {"RNN": 1, "GRU": 3, "LSTM": 4}
CELL_TENSORS = ("module.weight_ih_l0", "module.weight_hh_l0", "module.bias_ih_l0", "module.bias_hh_l0")

KNOWN_KINDS = tuple(sorted(set(LAYER_ROWS) | set(MATRIX_STACKS) | set(GATED_CELLS)))

#: Circuit parameters each edge mode reads (as the pkl names them), our connection_params keys.
EDGE_KEYS: Dict[str, Tuple[str, ...]] = {
    "WICC": ("gamma_plus", "gamma_minus", "bias_current", "j_in", "j_out", "half_flux_offset"),
    "NOCC": ("alpha", "beta", "beta_out", "bias_current", "j_in", "j_out", "half_flux_offset"),
}


def as_float_array(value: Any) -> np.ndarray:
    """``value`` as a float64 NumPy array (nested lists of the pkl included)."""
    return np.asarray(value, dtype=np.float64)


def layer_tensors(kind: str, entry: Any, dim: int, where: str) -> Dict[str, np.ndarray]:
    """{our tensor name (relative to the layer): array} of one ``layer_params`` entry."""
    if kind in GATED_CELLS:
        gates = GATED_CELLS[kind]
        if not isinstance(entry, (tuple, list)) or len(entry) != 4:
            raise JaxCheckpointError(f"{where}: a {kind} entry is the tuple (W_ih, W_hh, b_ih, b_hh), got "
                                     f"{type(entry).__name__}")
        expected = [(gates, dim, dim), (gates, dim, dim), (gates, dim), (gates, dim)]
        out = {}
        for name, value, shape in zip(CELL_TENSORS, entry, expected):
            arr = as_float_array(value)
            if arr.shape != shape:
                raise JaxCheckpointError(f"{where}: {kind} {name.split('.')[-1]} has shape {arr.shape}, "
                                         f"expected {shape}")
            out[name] = arr.reshape(gates * dim, *shape[2:])  # gate blocks stacked row-wise
        return out
    if isinstance(entry, (tuple, list)):
        raise JaxCheckpointError(f"{where}: a {kind} entry is one array, got a {len(entry)}-tuple")
    arr = as_float_array(entry)
    if kind in MATRIX_STACKS:
        names = MATRIX_STACKS[kind]
        if arr.shape != (len(names), dim, dim):
            raise JaxCheckpointError(f"{where}: {kind} params have shape {arr.shape}, expected "
                                     f"({len(names)}, {dim}, {dim}) for {', '.join(names)}")
        return dict(zip(names, arr))
    names = LAYER_ROWS[kind]
    if arr.size == 0 and (not names or kind in ROWS_OPTIONAL):
        return {}
    if arr.ndim != 2 or arr.shape != (len(names), dim):
        raise JaxCheckpointError(f"{where}: params have shape {arr.shape}, expected ({len(names)}, {dim}) "
                                 f"for rows {list(names)}")
    return dict(zip(names, arr))


def _edge_params(mode: str, entry: Mapping[str, Any]) -> Dict[str, Any]:
    """Our ``connection_params`` of a dynamic edge from the pkl's circuit fields."""
    out: Dict[str, Any] = {}
    source = entry.get("source_key", entry.get("source_func"))
    if source:
        out["source_func"] = str(source)
    for key in EDGE_KEYS[mode]:
        value = entry.get(key)
        if value is None:
            continue
        if key == "half_flux_offset":
            out[key] = bool(value)
        elif isinstance(value, (list, tuple, np.ndarray)):
            out[key] = [float(v) for v in np.asarray(value, dtype=np.float64).ravel()]
        else:
            out[key] = float(value)
    return out


def _mode_block(mode: Any, entry: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """``{"mode": ..., "connection_params": ...}`` for a dynamic mode, {} for a fixed one."""
    if mode in (None, "fixed"):
        return {}
    name = str(mode)
    if name not in EDGE_KEYS:
        return {"mode": name}  # an alias: the architecture reader resolves or refuses it by name
    return {"mode": name, "connection_params": _edge_params(name, entry or {})}


def _connection(src: int, dst: int, learnable: bool, mode: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "from_layer": src, "to_layer": dst, "connection_type": "all_to_all", "learnable": learnable,
        "params": {"init": "constant", "value": 0.0, "allow_self_connections": True, **mode},
    }


def _flag(value: Any, default: bool = True) -> bool:
    return value if isinstance(value, bool) else default


def architecture_from_jax_model(jax_model: Mapping[str, Any], topology: Mapping[str, Any],
                                source: str) -> Dict[str, Any]:
    """Our architecture dict from the original's serialised ``jax_model`` and ``topology``."""
    layers: List[Dict[str, Any]] = []
    connections: List[Dict[str, Any]] = []
    internal_learnable = topology.get("internal_learnable") or {}
    for entry in jax_model.get("layers", []):
        kind, lid = str(entry.get("kind")), int(entry["layer_id"])
        if kind not in KNOWN_KINDS:
            raise JaxCheckpointError(
                f"{source}: layer {lid} of kind '{kind}' is not a layer the original's JAX checkpoints "
                f"hold; migratable kinds: {', '.join(KNOWN_KINDS)}"
            )
        params: Dict[str, Any] = {"dim": int(entry["dim"])}
        if entry.get("source_key") and LAYER_ROWS.get(kind):
            params["source_func"] = str(entry["source_key"])
        layers.append({"layer_id": lid, "layer_type": "Input" if kind == "Linear" else kind, "params": params})
        if entry.get("internal_J") is not None:
            learnable = _flag(internal_learnable.get(lid, internal_learnable.get(str(lid))))
            mode = _mode_block(entry.get("internal_mode"), entry.get("internal_dynamic_params"))
            connections.append(_connection(lid, lid, learnable, mode))
    external = sorted(jax_model.get("connections", []), key=lambda c: int(c.get("index", 0)))
    learnable_flags = topology.get("learnable_connections")
    if not isinstance(learnable_flags, (list, tuple)) or len(learnable_flags) != len(external):
        learnable_flags = [True] * len(external)
    for entry, learnable in zip(external, learnable_flags):
        connections.append(_connection(int(entry["from_layer"]), int(entry["to_layer"]), _flag(learnable),
                                       _mode_block(entry.get("mode"), entry)))
    simulation = {
        "dt": float(jax_model.get("dt", 37.0)),
        "network_evaluation_method": str(jax_model.get("network_evaluation_method", "layerwise")),
        "input_type": str(jax_model.get("input_type", "state")),
    }
    return {"simulation": simulation, "layers": layers, "connections": connections}
