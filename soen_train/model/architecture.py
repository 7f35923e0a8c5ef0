"""Read the original toolkit's architecture YAML into a validated ``ArchitectureSpec``.

Accepted input: a path to a ``.yaml``/``.yml``/``.json`` file, or the already-loaded dict,
with the blocks ``simulation`` (alias ``sim_config``), ``layers``, ``connections`` and an
optional ``seed``. Booleans may arrive as strings ('True'), numbers as strings ('1e-3').
Every unknown key is an error that names the closest valid key; values are range-checked.
``architecture_to_dict`` writes a spec back out in the same vocabulary, and parsing that
output gives the same spec again.

This module reads the file and the top level (simulation block, cross-checks between layers
and connections); one layer is read by ``layer_parsing``, one connection by
``connection_parsing``, noise blocks by ``noise_parsing``, and ``architecture_writer`` writes
a spec back. Their public names are importable from here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from .architecture_writer import architecture_to_dict, connection_to_dict, layer_to_dict
from .connection_parsing import (
    CONNECTION_KEYS,
    CONNECTION_PARAM_CONTROL,
    CONNECTION_RESIDUE_KEYS,
    check_connection_noise,
    parse_connection,
    resolve_pattern_and_init,
)
from .connection_patterns import CONNECTION_PATTERNS
from .evaluation import switch_feedback_to_stepwise
from .layer_parsing import (
    LAYER_KEYS,
    LAYER_RESIDUE_KEYS,
    PARAM_SPEC_KEYS,
    POLARITY_KEYS,
    parse_layer,
)
from .layers import LAYER_TYPES
from .noise_parsing import NOISE_KEYS, PERTURB_KEYS, parse_noise, parse_perturb
from .spec_types import (
    EVALUATION_METHODS,
    INPUT_TYPES,
    ArchitectureSpec,
    ConnectionSpec,
    LayerSpec,
    SimulationSpec,
)
from .validation import (
    ArchitectureError,
    as_bool,
    as_float,
    as_int,
    as_mapping,
    as_str,
    check_keys,
    collect_ignored_keys,
    note_ignored,
    plain,
)

__all__ = [
    "CONNECTION_KEYS", "CONNECTION_PARAM_CONTROL", "CONNECTION_RESIDUE_KEYS", "LAYER_KEYS",
    "LAYER_RESIDUE_KEYS", "NOISE_KEYS", "PARAM_SPEC_KEYS", "PERTURB_KEYS", "POLARITY_KEYS",
    "TOP_KEYS", "ArchitectureSource", "architecture_to_dict", "connection_to_dict",
    "layer_to_dict", "load_architecture_source", "parse_architecture", "parse_connection",
    "parse_layer", "parse_noise", "parse_perturb", "parse_simulation", "plain",
    "read_architecture", "resolve_pattern_and_init",
]

ArchitectureSource = str | Path | Mapping[str, Any]

TOP_KEYS = ("simulation", "sim_config", "layers", "connections", "seed", "description")


def load_architecture_source(source: ArchitectureSource) -> tuple[dict[str, Any], str]:
    """The raw architecture mapping and a label for error messages (file name or 'dict')."""
    if isinstance(source, Mapping):
        return plain(dict(source)), "architecture"
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"architecture file not found: {path}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ArchitectureError(f"{path}: cannot parse: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ArchitectureError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return plain(dict(data)), str(path)


def parse_simulation(raw: Mapping[str, Any], where: str) -> tuple[SimulationSpec, int | None]:
    """The ``simulation`` block, plus a seed if the block carries one."""
    valid = [f.name for f in fields(SimulationSpec)] + ["seed"]
    check_keys(raw.keys(), valid, where)
    sim = SimulationSpec()
    for key, value in raw.items():
        at = f"{where}.{key}"
        if key == "seed":
            continue
        if key in ("dt",):
            sim.dt = as_float(value, at)
            if sim.dt <= 0:
                raise ArchitectureError(f"{at}: dt must be > 0, got {sim.dt}")
        elif key in ("dt_learnable", "track_phi", "track_g", "track_s", "track_power",
                     "early_stopping_forward_pass"):
            setattr(sim, key, as_bool(value, at))
        elif key == "input_type":
            kind = as_str(value, at).lower()
            if kind not in INPUT_TYPES:
                raise ArchitectureError(f"{at}: '{value}' is not valid; use one of {list(INPUT_TYPES)}")
            sim.input_type = kind
        elif key == "network_evaluation_method":
            method = as_str(value, at).lower()
            if method not in EVALUATION_METHODS:
                raise ArchitectureError(
                    f"{at}: '{value}' is not valid; use one of "
                    f"{sorted(set(EVALUATION_METHODS.values()))}"
                )
            sim.network_evaluation_method = EVALUATION_METHODS[method]
        elif key in ("early_stopping_patience", "early_stopping_min_steps", "steady_window_min"):
            setattr(sim, key, as_int(value, at, minimum=0))
        else:
            setattr(sim, key, as_float(value, at, minimum=0.0))
    if sim.track_power:
        raise ArchitectureError(
            f"{where}.track_power: power tracking is not available in soen_train; set it to false"
        )
    if sim.early_stopping_patience < 1:
        raise ArchitectureError(f"{where}.early_stopping_patience: must be >= 1")
    seed = raw.get("seed")
    return sim, (None if seed is None else as_int(seed, f"{where}.seed"))


def parse_architecture(raw: Mapping[str, Any], where: str = "architecture") -> ArchitectureSpec:
    """Validate a loaded architecture mapping into an ``ArchitectureSpec``.

    Keys the original toolkit accepts without using them are accepted too; one
    ``IgnoredKeysWarning`` line for the whole architecture (``where``, e.g. the file) lists
    them all.
    """
    with collect_ignored_keys(where):
        return _parse_architecture(raw, where)


def _parse_architecture(raw: Mapping[str, Any], where: str) -> ArchitectureSpec:
    check_keys(raw.keys(), TOP_KEYS, where)
    if "simulation" in raw and "sim_config" in raw:
        raise ArchitectureError(f"{where}: give 'simulation' or its alias 'sim_config', not both")
    sim_raw = as_mapping(raw.get("simulation", raw.get("sim_config")), f"{where}.simulation")
    simulation, sim_seed = parse_simulation(sim_raw, f"{where}.simulation")
    layers_raw = raw.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise ArchitectureError(f"{where}.layers: expected a non-empty list of layers")
    layers = [parse_layer(item, f"{where}.layers[{i}]") for i, item in enumerate(layers_raw)]
    ids = [layer.layer_id for layer in layers]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ArchitectureError(f"{where}.layers: duplicate layer_id {duplicates}")
    layers.sort(key=lambda layer: layer.layer_id)
    conns_raw = raw.get("connections") or []
    if not isinstance(conns_raw, list):
        raise ArchitectureError(f"{where}.connections: expected a list")
    connections = [parse_connection(item, f"{where}.connections[{i}]") for i, item in enumerate(conns_raw)]
    seen = set()
    for conn in connections:
        for end in (conn.from_layer, conn.to_layer):
            if end not in ids:
                raise ArchitectureError(
                    f"connection {conn.from_layer}->{conn.to_layer}: layer {end} does not exist; "
                    f"layers are {sorted(ids)}"
                )
        if (conn.from_layer, conn.to_layer) in seen:
            raise ArchitectureError(f"connection {conn.from_layer}->{conn.to_layer} is given twice")
        seen.add((conn.from_layer, conn.to_layer))
        check_connection_noise(conn)
    switch_feedback_to_stepwise(simulation, connections)
    if simulation.early_stopping_forward_pass and simulation.network_evaluation_method == "layerwise":
        raise ArchitectureError(
            f"{where}.simulation.early_stopping_forward_pass: early stopping needs a stepwise "
            "network_evaluation_method (stepwise_gauss_seidel or stepwise_jacobi)"
        )
    for layer in layers:
        wants_j = layer.noise.j != 0.0 or layer.perturb.mean("j") != 0.0 or layer.perturb.std("j") != 0.0
        if wants_j and (layer.layer_id, layer.layer_id) not in seen:
            note_ignored(f"layer {layer.layer_id}.noise/perturb", ["j"],
                         "it acts on the internal connection, and this layer has none")
    _complete_connections(layers, connections)
    seed = raw.get("seed")
    seed = as_int(seed, f"{where}.seed") if seed is not None else sim_seed
    return ArchitectureSpec(simulation=simulation, layers=layers, connections=connections, seed=seed,
                            description=str(raw.get("description") or ""))


def _complete_connections(layers: list[LayerSpec], connections: list[ConnectionSpec]) -> None:
    """Fill in what the original's model builder adds to each connection's parameters.

    - ``connection_scope`` of power_law / exponential: internal for L->L, else external
      (decides the distance geometry), unless given;
    - ``num_input_sources`` of flux_balanced: the number of connections into the target
      layer (internal and feedback ones included), unless given;
    - an internal connection on a layer type that never applies one (Linear, NonLinear, ...)
      is built and saved, as in the original, and noted as having no effect.
    """
    by_id = {layer.layer_id: layer for layer in layers}
    into: dict[int, int] = {}
    for conn in connections:
        into[conn.to_layer] = into.get(conn.to_layer, 0) + 1
    for conn in connections:
        internal = conn.from_layer == conn.to_layer
        if "connection_scope" in CONNECTION_PATTERNS.get(conn.pattern).defaults:
            conn.pattern_params.setdefault("connection_scope", "internal" if internal else "external")
        if conn.init == "flux_balanced":
            conn.init_params.setdefault("num_input_sources", max(1, into.get(conn.to_layer, 1)))
        layer = by_id[conn.to_layer]
        cls = LAYER_TYPES.get(layer.layer_type)
        if internal and not getattr(cls, "accepts_internal_connection", True):
            note_ignored(f"connection {conn.from_layer}->{conn.to_layer}", ["internal connection"],
                         f"layer type {layer.layer_type} never applies one; it is built and saved "
                         "only")


def read_architecture(source: ArchitectureSource) -> ArchitectureSpec:
    """Load (path or dict) and validate an architecture."""
    raw, where = load_architecture_source(source)
    return parse_architecture(raw, where)
