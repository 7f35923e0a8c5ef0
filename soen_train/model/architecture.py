"""Read the original toolkit's architecture YAML into a validated ``ArchitectureSpec``.

Accepted input: a path to a ``.yaml``/``.yml``/``.json`` file, or the already-loaded dict,
with the blocks ``simulation`` (alias ``sim_config``), ``layers``, ``connections`` and an
optional ``seed``. Booleans may arrive as strings ('True'), numbers as strings ('1e-3').
Every unknown key is an error that names the closest valid key; values are range-checked.
``architecture_to_dict`` writes a spec back out in the same vocabulary, and parsing that
output gives the same spec again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .connectivity import CONNECTION_PATTERNS, INIT_KEYS, PATTERN_KEYS, WEIGHT_INITS
from .distributions import KNOWN_DISTRIBUTION_KEYS, canonical_distribution, validate_distribution
from .dynamic_edges import (
    EDGE_PARAM_KEYS,
    edge_settings,
    pattern_owns_connection_mode,
    resolve_edge_mode,
)
from .evaluation import switch_feedback_to_stepwise
from .layers import LAYER_TYPES, SOLVERS
from .source_functions import SOURCE_FUNCTIONS
from .spec_types import (
    CORE_NOISE_KEYS,
    EVALUATION_METHODS,
    INPUT_TYPES,
    ArchitectureSpec,
    ConnectionSpec,
    LayerSpec,
    NoiseSpec,
    ParamInit,
    PerturbSpec,
    PolaritySpec,
    SimulationSpec,
)
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
    collect_ignored_keys,
    note_ignored,
    original_truth,
)

ArchitectureSource = str | Path | Mapping[str, Any]

TOP_KEYS = ("simulation", "sim_config", "layers", "connections", "seed", "description")
LAYER_KEYS = ("layer_id", "layer_type", "params", "noise", "perturb", "description", "model_id")
CONNECTION_KEYS = ("from_layer", "to_layer", "connection_type", "params", "learnable", "noise",
                   "perturb", "description", "visualization_metadata")
NOISE_KEYS = CORE_NOISE_KEYS + ("relative", "extras")
PERTURB_KEYS = tuple(f"{k}_{suffix}" for k in CORE_NOISE_KEYS for suffix in ("mean", "std")) + (
    "extras_mean", "extras_std")
POLARITY_KEYS = ("polarity", "polarity_init", "polarity_file")
#: Layer-param keys the original's layer builder skips (GUI residue and internal bookkeeping).
LAYER_RESIDUE_KEYS = ("description", "node_fan_outs", "connectivity", "connectivity_spec",
                      "connectivity_constraints", "learnable_connectivity", "internal_J",
                      "connectivity_mode", "connectivity_multiplier", "source_func_type")


def plain(value: Any) -> Any:
    """Convert numpy scalars/arrays and tuples into plain Python values (YAML/JSON safe)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


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


# ----------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------


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


def parse_noise(raw: Any, where: str) -> NoiseSpec:
    """A ``noise`` block: std per core key, ``relative`` and ``extras`` {param: std}."""
    data = as_mapping(raw, where)
    check_keys(data.keys(), NOISE_KEYS, where)
    spec = NoiseSpec()
    for key in CORE_NOISE_KEYS:
        if key in data:
            setattr(spec, key, as_float(data[key], f"{where}.{key}", minimum=0.0))
    if "relative" in data:
        spec.relative = as_bool(data["relative"], f"{where}.relative")
    extras = as_mapping(data.get("extras"), f"{where}.extras")
    spec.extras = {str(k): as_float(v, f"{where}.extras.{k}", minimum=0.0) for k, v in extras.items()}
    return spec


def parse_perturb(raw: Any, where: str) -> PerturbSpec:
    """A ``perturb`` block: ``<key>_mean``/``<key>_std`` plus ``extras_mean``/``extras_std``."""
    data = as_mapping(raw, where)
    check_keys(data.keys(), PERTURB_KEYS, where)
    spec = PerturbSpec()
    for key in CORE_NOISE_KEYS:
        if f"{key}_mean" in data:
            spec.means[key] = as_float(data[f"{key}_mean"], f"{where}.{key}_mean")
        if f"{key}_std" in data:
            spec.stds[key] = as_float(data[f"{key}_std"], f"{where}.{key}_std", minimum=0.0)
    for name, value in as_mapping(data.get("extras_mean"), f"{where}.extras_mean").items():
        spec.means[str(name)] = as_float(value, f"{where}.extras_mean.{name}")
    for name, value in as_mapping(data.get("extras_std"), f"{where}.extras_std").items():
        spec.stds[str(name)] = as_float(value, f"{where}.extras_std.{name}", minimum=0.0)
    return spec


def _check_extras(layer_type: str, names: list[str], noise: NoiseSpec, perturb: PerturbSpec,
                  where: str) -> None:
    """Noise/perturb extras must name parameters the layer type has."""
    extra_keys = set(noise.extras) | {k for k in perturb.means if k not in CORE_NOISE_KEYS} | {
        k for k in perturb.stds if k not in CORE_NOISE_KEYS}
    for key in sorted(extra_keys):
        check_keys([key], names, f"{where} extras of a {layer_type} layer")


#: Keys of a per-node parameter mapping that the original reads.
PARAM_SPEC_KEYS = ("distribution", "params", "value", "learnable", "constraints")


def _parse_param(definition, raw: Any, learnable_override: bool | None, where: str) -> ParamInit:
    """One per-node parameter entry: number, {value}, or {distribution, params}.

    As in the original: ``distribution`` wins over ``value``; distribution parameters are
    read only from ``params`` (e.g. a ``min`` beside ``distribution`` has no effect); a key
    a distribution does not read is ignored (noted), a misspelt one is an error.
    """
    learnable = definition.learnable
    minimum, maximum = definition.minimum, definition.maximum
    default = float(definition.default)
    if raw is None:
        distribution, params = "constant", {"value": default}
    elif isinstance(raw, Mapping):
        check_keys_tolerant(raw.keys(), PARAM_SPEC_KEYS, KNOWN_DISTRIBUTION_KEYS, where,
                            "beside 'distribution': the original reads distribution parameters "
                            "only from 'params'")
        if "distribution" in raw:
            if "value" in raw:
                note_ignored(where, ["value"], "'distribution' is given, which wins")
            distribution = as_str(raw["distribution"], f"{where}.distribution")
            params = as_mapping(raw.get("params"), f"{where}.params")
        elif "value" in raw:
            distribution, params = "constant", {"value": raw["value"]}
        else:
            distribution, params = "constant", {"value": default}
        if "learnable" in raw:
            learnable = as_bool(raw["learnable"], f"{where}.learnable")
            if learnable_override is not None and learnable_override != learnable:
                note_ignored(where, [f"learnable={learnable}"],
                             f"learnable_params says {learnable_override}, which wins as in the original")
        if "constraints" in raw:
            cons = as_mapping(raw["constraints"], f"{where}.constraints")
            check_keys(cons.keys(), ("min", "max"), f"{where}.constraints")
            if "min" in cons:
                minimum = as_float(cons["min"], f"{where}.constraints.min", allow_none=True)
            if "max" in cons:
                maximum = as_float(cons["max"], f"{where}.constraints.max", allow_none=True)
    else:
        distribution, params = "constant", {"value": as_float(raw, where)}
    if learnable_override is not None:
        learnable = learnable_override
    distribution = canonical_distribution(distribution, f"{where}.distribution")
    values = validate_distribution(distribution, params, where, default_value=default)
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ArchitectureError(f"{where}: constraint min {minimum} is larger than max {maximum}")
    return ParamInit(distribution=distribution, params=values, learnable=learnable,
                     minimum=minimum, maximum=maximum)


def _parse_option(option, raw: Mapping[str, Any], where: str) -> Any:
    """A layer option (solver / source function), accepting its aliases."""
    given = [k for k in (option.name, *option.aliases) if k in raw]
    if len(given) > 1:
        raise ArchitectureError(f"{where}: both {given[0]} and {given[1]} are given; keep one")
    if not given:
        return option.default
    at = f"{where}.{given[0]}"
    value = raw[given[0]]
    if option.parse is not None:  # layer-specific option kinds (e.g. LeakyGRU's tau_init)
        return option.parse(value, at)
    if option.kind == "solver":
        solver = as_str(value, at).upper()
        if solver not in SOLVERS:
            raise ArchitectureError(f"{at}: solver '{value}' is not valid; use one of {list(SOLVERS)}")
        return solver
    if option.kind == "source":
        try:
            return SOURCE_FUNCTIONS.canonical(as_str(value, at))
        except KeyError as exc:
            raise ArchitectureError(f"{at}: {exc}") from None
    return as_float(value, at)


def _parse_polarity(raw: Mapping[str, Any], dim: int, where: str) -> PolaritySpec | None:
    """Neuron polarity from an explicit list, a named scheme or a file."""
    method = raw.get("polarity_enforcement_method", "sign_flip")
    if method != "sign_flip":
        raise ArchitectureError(
            f"{where}.polarity_enforcement_method: '{method}' is not available; soen_train "
            "enforces polarity by sign flip (|J| for excitatory, -|J| for inhibitory sources), "
            "the original's default: use 'sign_flip'")
    given = [k for k in POLARITY_KEYS if k in raw and raw[k] is not None]
    if not given:
        return None
    if len(given) > 1:
        raise ArchitectureError(f"{where}: give only one of {list(POLARITY_KEYS)}, got {given}")
    key = given[0]
    at = f"{where}.{key}"
    value = raw[key]
    if key == "polarity":
        if not isinstance(value, (list, tuple)):
            raise ArchitectureError(f"{at}: expected a list of {dim} values in {{-1, 0, 1}}")
        signs = [as_int(v, f"{at}[{i}]") for i, v in enumerate(value)]
    elif key == "polarity_file":
        path = Path(as_str(value, at))
        if not path.is_file():
            raise ArchitectureError(f"{at}: file not found: {path}")
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                if "polarity" not in data.files:
                    raise ArchitectureError(f"{at}: {path} has no array 'polarity'")
                array = np.asarray(data["polarity"])
        else:
            array = np.asarray(np.load(path, allow_pickle=False))
        signs = [int(v) for v in array.reshape(-1)]
    else:
        signs = _named_polarity(value, dim, at)
    if len(signs) != dim or any(s not in (-1, 0, 1) for s in signs):
        raise ArchitectureError(f"{at}: need {dim} values, each -1, 0 or 1; got {signs}")
    return PolaritySpec(signs=signs, source={key: plain(value)})


def _named_polarity(value: Any, dim: int, where: str) -> list[int]:
    if isinstance(value, Mapping):
        check_keys(value.keys(), ("excitatory_ratio", "seed"), where)
        ratio = as_float(value.get("excitatory_ratio", 0.8), f"{where}.excitatory_ratio",
                         minimum=0.0, maximum=1.0)
        # As the original: int(dim * (1 - ratio)) inhibitory nodes, chosen by NumPy's legacy
        # generator seeded with `seed` (without a seed the original uses NumPy's global
        # state; we use seed 0 so the file alone fixes the polarity).
        rng = np.random.RandomState(as_int(value.get("seed", 0), f"{where}.seed", minimum=0))
        signs = np.ones(dim, dtype=np.int64)
        inhibitory = int(dim * (1 - ratio))
        if inhibitory > 0:
            signs[rng.choice(dim, size=inhibitory, replace=False)] = -1
        return [int(v) for v in signs]
    name = as_str(value, where)
    if name in ("alternating", "50_50"):
        return [1 if i % 2 == 0 else -1 for i in range(dim)]
    if name == "excitatory":
        return [1] * dim
    if name == "inhibitory":
        return [-1] * dim
    raise ArchitectureError(
        f"{where}: '{name}' is not valid; use excitatory, inhibitory, alternating, 50_50 "
        "or {excitatory_ratio, seed}"
    )


def parse_layer(raw: Any, where: str) -> LayerSpec:
    """One entry of ``layers``."""
    data = as_mapping(raw, where, allow_none=False)
    check_keys(data.keys(), LAYER_KEYS, where)
    for key in ("layer_id", "layer_type"):
        if key not in data:
            raise ArchitectureError(f"{where}: missing required key '{key}'")
    layer_id = as_int(data["layer_id"], f"{where}.layer_id")
    where = f"layer {layer_id}"
    try:
        layer_type = LAYER_TYPES.canonical(as_str(data["layer_type"], f"{where}.layer_type"))
    except KeyError as exc:
        raise ArchitectureError(f"{where}.layer_type: {exc}") from None
    cls = LAYER_TYPES.get(layer_type)
    params = as_mapping(data.get("params"), f"{where}.params")
    params = _drop_layer_source_func_type(cls, params, f"{where}.params")
    option_keys = [k for opt in cls.OPTIONS for k in (opt.name, *opt.aliases)]
    valid = ["dim", "learnable_params", *POLARITY_KEYS, "polarity_enforcement_method", *option_keys,
             *cls.param_names()]
    check_keys_tolerant(params.keys(), valid, LAYER_RESIDUE_KEYS, f"{where}.params ({layer_type})",
                        f"not read by layer type {layer_type}")
    if "dim" not in params:
        raise ArchitectureError(f"{where}.params: missing required key 'dim'")
    dim = as_int(params["dim"], f"{where}.params.dim", minimum=1)
    options = {opt.name: _parse_option(opt, params, f"{where}.params") for opt in cls.OPTIONS}
    learnable = as_mapping(params.get("learnable_params"), f"{where}.params.learnable_params")
    check_keys(learnable.keys(), cls.param_names(), f"{where}.params.learnable_params")
    # read with bool() as the original does ('False' as a string means true there)
    learnable = {k: original_truth(v, f"{where}.params.learnable_params.{k}")
                 for k, v in learnable.items()}
    param_inits = {
        d.name: _parse_param(d, params.get(d.name), learnable.get(d.name), f"{where}.params.{d.name}")
        for d in cls.PARAMS
    }
    # The original draws the parameters named in `params` in the order they appear there.
    param_order = [key for key in params if key in param_inits]
    noise = parse_noise(data.get("noise"), f"{where}.noise")
    perturb = parse_perturb(data.get("perturb"), f"{where}.perturb")
    _check_extras(layer_type, cls.param_names(), noise, perturb, where)
    return LayerSpec(
        layer_id=layer_id, layer_type=layer_type, dim=dim, params=param_inits, options=options,
        noise=noise, perturb=perturb, polarity=_parse_polarity(params, dim, f"{where}.params"),
        description=str(data.get("description") or ""),
        model_id=as_int(data.get("model_id", 0), f"{where}.model_id"),
        param_order=param_order,
    )


def _drop_layer_source_func_type(cls: type, params: dict[str, Any], where: str) -> dict[str, Any]:
    """Layer params without ``source_func_type``: the original reads only ``source_func`` there.

    The original's layer builder passes ``source_func`` to the layer and skips
    ``source_func_type``, so a layer given only ``source_func_type`` runs with its class
    default (RateArray for physical layers, Tanh for NonLinear). We do the same and say so.
    """
    if "source_func_type" not in params:
        return params
    source = next((o for o in getattr(cls, "OPTIONS", ()) if o.name == "source_func"), None)
    if "source_func" in params or source is None:
        why = "the original reads only 'source_func' in layer params"
    else:
        why = (f"the original reads only 'source_func' in layer params, so the default "
               f"'{source.default}' is used")
    note_ignored(where, [f"source_func_type={params['source_func_type']!r}"], why)
    return {k: v for k, v in params.items() if k != "source_func_type"}


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
    for key in ("from_layer", "to_layer"):
        if key not in data:
            raise ArchitectureError(f"{where}: missing required key '{key}'")
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


def _check_connection_noise(conn: ConnectionSpec) -> None:
    """Connection noise acts on J only: other keys would silently do nothing."""
    where = f"connection {conn.from_layer}->{conn.to_layer}"
    for key in ("phi", "g", "s", "bias_current"):
        if conn.noise.std(key) != 0.0:
            raise ArchitectureError(f"{where}.noise.{key}: connections only take noise on 'j'")
        if conn.perturb.mean(key) != 0.0 or conn.perturb.std(key) != 0.0:
            raise ArchitectureError(f"{where}.perturb.{key}_*: connections only take 'j_mean'/'j_std'")
    if conn.noise.extras or any(k not in CORE_NOISE_KEYS for k in (*conn.perturb.means, *conn.perturb.stds)):
        raise ArchitectureError(f"{where}: connections take no noise extras (only 'j')")


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
        _check_connection_noise(conn)
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


# ----------------------------------------------------------------------------------------
# Writing back
# ----------------------------------------------------------------------------------------


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
