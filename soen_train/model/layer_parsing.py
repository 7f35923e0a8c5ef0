"""Read one entry of an architecture's ``layers`` into a validated ``LayerSpec``.

A layer names its type (a ``LAYER_TYPES`` entry), its ``dim`` (nodes), its options (solver,
source function), its per-node parameters (a number, ``{value}`` or ``{distribution,
params}``, with ``learnable``/``constraints``), an optional polarity and noise/perturb blocks.
Keys the original toolkit skips are noted as ignored; misspelt keys are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .array_files import read_array
from .distributions import KNOWN_DISTRIBUTION_KEYS, canonical_distribution, validate_distribution
from .layers import LAYER_TYPES, SOLVERS
from .noise_parsing import parse_noise, parse_perturb
from .source_functions import SOURCE_FUNCTIONS
from .spec_types import CORE_NOISE_KEYS, LayerSpec, NoiseSpec, ParamInit, PerturbSpec, PolaritySpec
from .validation import (
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

LAYER_KEYS = ("layer_id", "layer_type", "params", "noise", "perturb", "description", "model_id")
POLARITY_KEYS = ("polarity", "polarity_init", "polarity_file")
#: Layer-param keys the original's layer builder skips (GUI residue and internal bookkeeping).
LAYER_RESIDUE_KEYS = ("description", "node_fan_outs", "connectivity", "connectivity_spec",
                      "connectivity_constraints", "learnable_connectivity", "internal_J",
                      "connectivity_mode", "connectivity_multiplier", "source_func_type")


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
        signs = [int(v) for v in read_array(value, "polarity", at).reshape(-1)]
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
    require_keys(data, ("layer_id", "layer_type"), where)
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
    require_keys(params, ["dim"], f"{where}.params")
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
