"""Read one entry of an architecture's ``connections`` into a validated ``ConnectionSpec``.

A connection names its source and target layers, a pattern (which entries of J exist,
``CONNECTION_PATTERNS``) and an initialiser (their values, ``WEIGHT_INITS``) with their
parameters, in the flat or the structure form the original toolkit reads, plus its edge
mode (fixed or dynamic), constraints, learnability and noise on J.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .connection_patterns import CONNECTION_PATTERNS, PATTERN_KEYS
from .dynamic_edges import (
    EDGE_PARAM_KEYS,
    edge_settings,
    pattern_owns_connection_mode,
    resolve_edge_mode,
)
from .noise_parsing import parse_noise, parse_perturb
from .spec_types import CORE_NOISE_KEYS, ConnectionSpec
from .validation import (
    REQUIRED,
    ArchitectureError,
    as_bool,
    as_float,
    as_int,
    as_mapping,
    as_str,
    check_keys,
    check_keys_tolerant,
    note_ignored,
    original_truth,
    plain,
    require_keys,
)
from .weight_inits import INIT_KEYS, WEIGHT_INITS

CONNECTION_KEYS = ("from_layer", "to_layer", "connection_type", "params", "learnable", "noise",
                   "perturb", "description", "visualization_metadata")


def _split_connection_params(pattern: str, params: Mapping[str, Any], where: str
                             ) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """(pattern, pattern params, init name, init params) from the flat or structured form."""
    params = _without_edge_keys(params, pattern)
    return resolve_pattern_and_init(pattern, params, where)


#: Connection ``params`` keys that are neither pattern nor init parameters.
CONNECTION_PARAM_CONTROL = ("structure", "init", "constraints", "learnable",
                            "allow_self_connections")
#: Connection ``params`` keys the original skips (GUI residue, the unused legacy ``J``).
CONNECTION_RESIDUE_KEYS = ("description", "J", "visualization_metadata", "connection_scope")


def _name_of(registry, name: Any, where: str) -> str:
    try:
        return registry.canonical(as_str(name, where))
    except KeyError as exc:
        raise ArchitectureError(f"{where}: {exc}") from None


def resolve_pattern_and_init(pattern: str, params: Mapping[str, Any], where: str
                             ) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """Which pattern and init a connection uses, and the parameters each reads, as the original.

    Structure form (``structure: {type, params}``): the pattern and the initialiser both
    read their keys from ``structure.params`` merged with ``init.params`` (a string ``init``
    has no parameters); other keys beside ``structure`` are not read at all. Flat form:
    both read their keys from the flat ``params`` (an ``init: {name, params}`` mapping, which
    the original cannot read here, adds its params). No ``init`` means normal(0, 0.1).
    ``uniform`` takes ``a``/``b`` for ``min``/``max``. Keys nothing reads are noted as
    ignored; a misspelt key is an error naming the closest valid one. (Edge-mode keys are
    removed before.)
    """
    structure = params.get("structure")
    structured = isinstance(structure, Mapping)
    init_raw = params.get("init")
    if isinstance(init_raw, Mapping):
        check_keys_tolerant(init_raw.keys(), ("name", "params"), (), f"{where}.init",
                            "an init block has only name and params")
        init_name = _name_of(WEIGHT_INITS, init_raw.get("name", "normal"), f"{where}.init.name")
        init_params = as_mapping(init_raw.get("params"), f"{where}.init.params")
    else:
        init_name = _name_of(WEIGHT_INITS, "normal" if init_raw is None else init_raw, f"{where}.init")
        init_params = {}
    sources: list[tuple[str, Mapping[str, Any]]] = []  # (where, mapping) in override order
    if structured:
        check_keys_tolerant(structure.keys(), ("type", "params"), (), f"{where}.structure",
                            "a structure block has only type and params")
        pattern = _name_of(CONNECTION_PATTERNS, structure.get("type", pattern), f"{where}.structure.type")
        struct_params = as_mapping(structure.get("params"), f"{where}.structure.params")
        if "allow_self_connections" in struct_params:
            note_ignored(f"{where}.structure.params", ["allow_self_connections"],
                         "the original reads allow_self_connections beside 'structure'")
            struct_params = {k: v for k, v in struct_params.items() if k != "allow_self_connections"}
        sources.append((f"{where}.structure.params", struct_params))
        outside = [k for k in params if k not in CONNECTION_PARAM_CONTROL]
        if outside:
            note_ignored(where, outside, "beside 'structure': the original reads pattern and init "
                         "parameters only from structure.params and init.params")
    else:
        pattern = _name_of(CONNECTION_PATTERNS, pattern, f"{where} connection_type")
        flat = {k: v for k, v in params.items() if k not in CONNECTION_PARAM_CONTROL}
        if structure is not None:
            note_ignored(where, ["structure"], "not a {type, params} mapping")
        sources.append((where, flat))
    sources.append((f"{where}.init.params", init_params))
    pattern_keys = list(CONNECTION_PATTERNS.get(pattern).defaults)
    init_keys = list(WEIGHT_INITS.get(init_name).defaults) + (["a", "b"] if init_name == "uniform" else [])
    known = [*PATTERN_KEYS, *INIT_KEYS, *CONNECTION_RESIDUE_KEYS]
    merged: dict[str, Any] = {}
    for place, mapping in sources:
        if "connection_probability" in mapping:
            raise ArchitectureError(
                f"{place}: unknown key 'connection_probability'; the sparse pattern's "
                "probability that an entry exists is called 'sparsity' (0 < sparsity <= 1)")
        check_keys_tolerant(mapping.keys(), pattern_keys + init_keys, known, place,
                            f"not read by pattern '{pattern}' or init '{init_name}'")
        merged.update(mapping)
    pattern_params = {k: merged[k] for k in pattern_keys if k in merged}
    init_params_out = {k: merged[k] for k in init_keys if k in merged}
    if init_name == "uniform":
        for alias, key in (("a", "min"), ("b", "max")):
            value = init_params_out.pop(alias, None)
            if value is not None and key not in init_params_out:
                init_params_out[key] = value
    for key, default in CONNECTION_PATTERNS.get(pattern).defaults.items():
        if default is REQUIRED and key not in pattern_params:
            raise ArchitectureError(f"{where}: pattern '{pattern}' needs '{key}'")
    for key, default in WEIGHT_INITS.get(init_name).defaults.items():
        if default is REQUIRED and key not in init_params_out:
            raise ArchitectureError(f"{where}: init '{init_name}' needs '{key}'")
    return pattern, plain(pattern_params), init_name, plain(init_params_out)


def _allow_self(params: Mapping[str, Any], where: str) -> bool:
    """``allow_self_connections`` (default true) read with bool(), as the original reads it."""
    if "allow_self_connections" not in params:
        return True
    return original_truth(params["allow_self_connections"], f"{where}.allow_self_connections")


def _pattern_of(pattern: str, params: Mapping[str, Any]) -> str:
    """The pattern name a connection's params select (``structure.type`` wins), or as given."""
    structure = params.get("structure")
    if isinstance(structure, Mapping) and structure.get("type") is not None:
        pattern = str(structure["type"])
    try:
        return CONNECTION_PATTERNS.canonical(pattern)
    except KeyError:
        return pattern


def _parse_edge_mode(pattern: str, params: Mapping[str, Any], where: str
                     ) -> tuple[str, dict[str, Any]]:
    """(edge mode, edge parameter block) of a connection; validates the block's values.

    ``connection_mode`` is the legacy spelling of ``mode``, except in a block_structure
    connection where it is that pattern's option (``pattern_owns_connection_mode``).
    """
    has_modes = _pattern_of(pattern, params) == "block_structure"
    mode, block = resolve_edge_mode(params, where, pattern_has_modes=has_modes)
    if mode != "fixed":
        edge_settings(mode, block, f"{where}.connection_params")  # value checks, ignored-key notes
    elif block:
        note_ignored(where, ["connection_params"], "the connection is fixed")
    return mode, block


def _without_edge_keys(params: Mapping[str, Any], pattern: str) -> dict[str, Any]:
    """``params`` minus the keys read by the edge mode (pattern and init keys remain)."""
    keep_mode = pattern_owns_connection_mode(params, _pattern_of(pattern, params) == "block_structure")
    return {k: v for k, v in params.items()
            if k not in EDGE_PARAM_KEYS or (k == "connection_mode" and keep_mode)}


def parse_connection(raw: Any, where: str) -> ConnectionSpec:
    """One entry of ``connections``."""
    data = as_mapping(raw, where, allow_none=False)
    check_keys(data.keys(), CONNECTION_KEYS, where)
    require_keys(data, ("from_layer", "to_layer"), where)
    src = as_int(data["from_layer"], f"{where}.from_layer")
    dst = as_int(data["to_layer"], f"{where}.to_layer")
    where = f"connection {src}->{dst}"
    params = as_mapping(data.get("params"), f"{where}.params")
    pattern_name = as_str(data.get("connection_type", "dense"), f"{where}.connection_type")
    mode, edge_block = _parse_edge_mode(pattern_name, params, f"{where}.params")
    pattern, pattern_params, init, init_params = _split_connection_params(
        pattern_name, params, f"{where}.params")
    learnable = as_bool(data.get("learnable", True), f"{where}.learnable")
    if "learnable" in params:
        learnable = as_bool(params["learnable"], f"{where}.params.learnable")
    minimum = maximum = None
    if params.get("constraints") is not None:
        cons = as_mapping(params["constraints"], f"{where}.params.constraints")
        check_keys(cons.keys(), ("min", "max"), f"{where}.params.constraints")
        minimum = as_float(cons.get("min"), f"{where}.params.constraints.min", allow_none=True)
        maximum = as_float(cons.get("max"), f"{where}.params.constraints.max", allow_none=True)
        if minimum is not None and maximum is not None and minimum > maximum:
            raise ArchitectureError(f"{where}.params.constraints: min {minimum} > max {maximum}")
    metadata = data.get("visualization_metadata")
    return ConnectionSpec(
        from_layer=src, to_layer=dst, pattern=pattern, pattern_params=pattern_params, init=init,
        init_params=init_params, learnable=learnable,
        allow_self_connections=_allow_self(params, f"{where}.params"),
        minimum=minimum, maximum=maximum,
        noise=parse_noise(data.get("noise"), f"{where}.noise"),
        perturb=parse_perturb(data.get("perturb"), f"{where}.perturb"),
        description=str(data.get("description") or ""),
        visualization_metadata=plain(metadata) if metadata is not None else None,
        mode=mode, connection_params=plain(edge_block) if mode != "fixed" else {},
    )


def check_connection_noise(conn: ConnectionSpec) -> None:
    """Connection noise acts on J only: other keys would silently do nothing."""
    where = f"connection {conn.from_layer}->{conn.to_layer}"
    for key in ("phi", "g", "s", "bias_current"):
        if conn.noise.std(key) != 0.0:
            raise ArchitectureError(f"{where}.noise.{key}: connections only take noise on 'j'")
        if conn.perturb.mean(key) != 0.0 or conn.perturb.std(key) != 0.0:
            raise ArchitectureError(f"{where}.perturb.{key}_*: connections only take 'j_mean'/'j_std'")
    if conn.noise.extras or any(k not in CORE_NOISE_KEYS for k in (*conn.perturb.means, *conn.perturb.stds)):
        raise ArchitectureError(f"{where}: connections take no noise extras (only 'j')")
