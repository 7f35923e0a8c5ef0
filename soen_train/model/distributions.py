"""Initial-value distributions for per-node layer parameters (bias_current, gamma_plus, ...).

A layer parameter in an architecture YAML is a number (every node gets it), ``{value: x}``,
or ``{distribution: <name>, params: {...}}``. Names and defaults are the original toolkit's,
and every draw makes the same float32 torch calls as the original (``torch.normal``,
``Tensor.uniform_``), so with the same generator state the values are bit-identical.

Any distribution takes ``block_size`` (default 1) and ``block_mode``: ``shared`` draws one
value per block of ``block_size`` consecutive nodes, ``tiled`` draws ``block_size`` values and
repeats the pattern across the layer. The layer width must be a multiple of ``block_size``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from soen_train.registry import Registry

from .physics import beta_l
from .validation import ArchitectureError, as_float, as_int, as_str, check_keys_tolerant

Gen = torch.Generator | None

#: Floor of log-scaled distributions and of log-stored parameters (the original's epsilon).
LOG_EPS = 1e-10
#: Keys every distribution accepts (blocking).
BLOCK_KEYS: tuple[str, ...] = ("block_size", "block_mode")
BLOCK_MODES: tuple[str, ...] = ("shared", "tiled")


@dataclass(frozen=True)
class Distribution:
    """A named way to draw ``width`` initial values; ``defaults`` lists its parameters.

    A default of ``None`` means "filled in elsewhere": the layer's own default for
    ``constant.value``, the model's outgoing masks for ``fan_out.node_fan_outs``.
    """

    defaults: Mapping[str, object]
    draw: Callable[[int, Mapping[str, Any], Gen], Tensor]
    doc: str


#: Catalog of parameter initialisers, keyed by the ``distribution`` names of the YAML.
PARAM_DISTRIBUTIONS: Registry[Distribution] = Registry("parameter distribution")


def beta_from_inductance(inductance: float) -> float:
    """Dimensionless beta_L of an inductance L in henries (see physics.beta_l)."""
    return beta_l(inductance)


def _constant(width: int, p: Mapping[str, Any], gen: Gen) -> Tensor:
    return torch.full((width,), float(p["value"]))


def _normal(width: int, p: Mapping[str, Any], gen: Gen) -> Tensor:
    return torch.normal(float(p["mean"]), float(p["std"]), size=(width,), generator=gen)


def _uniform(width: int, p: Mapping[str, Any], gen: Gen) -> Tensor:
    return torch.empty(width).uniform_(float(p["min"]), float(p["max"]), generator=gen)


def _lognormal(width: int, p: Mapping[str, Any], gen: Gen) -> Tensor:
    return torch.exp(_normal(width, p, gen))


def _log_bounds(p: Mapping[str, Any], *, linear: bool) -> tuple[float, float]:
    """ln(min), ln(max) with the original's floors (min >= 1e-10, max above min)."""
    low = max(float(p["min"]), LOG_EPS)
    high = float(p["max"])
    if linear:
        high = high if high > low else low * (1.0 + 1e-9)
    else:
        high = max(high, low + LOG_EPS)
    return math.log(low), math.log(high)


def _loguniform(width: int, p: Mapping[str, Any], gen: Gen) -> Tensor:
    low, high = _log_bounds(p, linear=False)
    return torch.exp(torch.empty(width).uniform_(low, high, generator=gen))


def _linear(width: int, p: Mapping[str, Any], gen: Gen) -> Tensor:
    return torch.linspace(float(p["min"]), float(p["max"]), width)


def _loglinear(width: int, p: Mapping[str, Any], gen: Gen) -> Tensor:
    low, high = _log_bounds(p, linear=True)
    return torch.exp(torch.linspace(low, high, width))


def _fan_out(width: int, p: Mapping[str, Any], gen: Gen) -> Tensor:
    """gamma_plus_i = 1 / (beta_L * max(1, fan_out_i)); beta_L from the inductance per fan-out."""
    beta = beta_from_inductance(float(p["inductance_per_fan"]))
    fans = p.get("node_fan_outs")
    if fans is None or len(fans) != width:
        fans = [1] * width  # the original's fallback: fan-out 1 for every node
    values = torch.empty(width)
    for i, fan in enumerate(fans):
        values[i] = 1.0 / (beta * max(1, int(fan)))
    return values


PARAM_DISTRIBUTIONS.register("constant")(Distribution(
    {"value": None}, _constant, "every node gets `value` (default: the parameter's own default)"))
PARAM_DISTRIBUTIONS.register("normal")(Distribution(
    {"mean": 0.0, "std": 0.01}, _normal, "Gaussian N(mean, std)"))
PARAM_DISTRIBUTIONS.register("uniform")(Distribution(
    {"min": 0.0, "max": 1.0}, _uniform, "uniform on [min, max)"))
PARAM_DISTRIBUTIONS.register("lognormal")(Distribution(
    {"mean": 0.0, "std": 1.0}, _lognormal, "exp(N(mean, std))"))
PARAM_DISTRIBUTIONS.register("loguniform")(Distribution(
    {"min": LOG_EPS, "max": 1.0}, _loguniform, "exp(U(ln min, ln max)); min floored at 1e-10"))
PARAM_DISTRIBUTIONS.register("linear")(Distribution(
    {"min": 0.0, "max": 1.0}, _linear, "evenly spaced from min (node 0) to max (last node)"))
PARAM_DISTRIBUTIONS.register("loglinear")(Distribution(
    {"min": LOG_EPS, "max": 1.0}, _loglinear, "geometrically spaced from min to max"))
PARAM_DISTRIBUTIONS.register("fan_out")(Distribution(
    {"inductance_per_fan": 5e-10, "node_fan_outs": None}, _fan_out,
    "1 / (beta_L * fan_out) per node; beta_L = 2 pi Ic L / Phi0 of `inductance_per_fan` "
    "(henries, default 0.5 nH); fan-outs counted from the model's outgoing masks (gamma_plus only)"))

#: Every parameter key some distribution reads (an unused one is ignored, not a typo).
KNOWN_DISTRIBUTION_KEYS: tuple[str, ...] = tuple(sorted(
    {k for name in PARAM_DISTRIBUTIONS.names() for k in PARAM_DISTRIBUTIONS.get(name).defaults}
    | set(BLOCK_KEYS)))


def canonical_distribution(name: str, where: str) -> str:
    """The registered name of a distribution (names are case-insensitive, as in the original)."""
    try:
        return PARAM_DISTRIBUTIONS.canonical(as_str(name, where).lower())
    except KeyError as exc:
        raise ArchitectureError(f"{where}: {exc}") from None


def validate_distribution(name: str, params: Mapping[str, object], where: str,
                          default_value: float | None = None) -> dict[str, Any]:
    """Check a distribution's parameters; returns them with defaults filled in.

    Keys the distribution does not read are ignored (with a note, as the original skips
    them); a misspelt key is an error naming the closest one. ``default_value`` is the
    parameter's own default, used by ``constant`` without a value.

    Args:
        name: canonical distribution name (``PARAM_DISTRIBUTIONS``).
        params: the distribution's parameters as given.
        where: position in the architecture, for messages.
        default_value: the parameter's own default (``constant`` without ``value``).
    """
    canonical = canonical_distribution(name, where)
    dist = PARAM_DISTRIBUTIONS.get(canonical)
    used = [*dist.defaults, *BLOCK_KEYS]
    check_keys_tolerant(params.keys(), used, KNOWN_DISTRIBUTION_KEYS, f"{where}.params",
                        f"not read by distribution '{canonical}'")
    out: dict[str, Any] = {}
    for key, default in dist.defaults.items():
        value = params.get(key, default)
        if key == "node_fan_outs":
            if value is not None:
                if not isinstance(value, (list, tuple)):
                    raise ArchitectureError(f"{where}.params.node_fan_outs: expected a list of "
                                            f"integers, got {value!r}")
                value = [as_int(v, f"{where}.params.node_fan_outs[{i}]", minimum=0)
                         for i, v in enumerate(value)]
            out[key] = value
            continue
        if key == "value" and value is None:
            value = default_value
        out[key] = None if value is None else as_float(value, f"{where}.params.{key}")
    size = as_int(params.get("block_size", 1), f"{where}.params.block_size")
    if size < 1:
        raise ArchitectureError(f"{where}.params.block_size: must be >= 1, got {size}")
    mode = as_str(params.get("block_mode", "shared"), f"{where}.params.block_mode")
    if mode not in BLOCK_MODES:
        raise ArchitectureError(f"{where}.params.block_mode: '{mode}' is not valid; use one of "
                                f"{list(BLOCK_MODES)}")
    if size != 1:
        out["block_size"], out["block_mode"] = size, mode
    if canonical in ("uniform", "linear") and out["min"] > out["max"]:
        raise ArchitectureError(f"{where}: min ({out['min']}) is larger than max ({out['max']})")
    if canonical in ("normal", "lognormal") and out["std"] < 0:
        raise ArchitectureError(f"{where}: std must be >= 0, got {out['std']}")
    if canonical == "constant" and out["value"] is None:
        raise ArchitectureError(f"{where}: constant needs a value")
    return out


def draw_values(name: str, params: Mapping[str, Any], dim: int, generator: Gen) -> Tensor:
    """``dim`` float32 values from distribution ``name`` (params from ``validate_distribution``).

    Blocking: ``shared`` draws dim/block_size values and repeats each block_size times;
    ``tiled`` draws block_size values and tiles them dim/block_size times.

    Args:
        name: canonical distribution name.
        params: its parameters, checked and completed by ``validate_distribution``.
        dim: how many values (the layer's nodes).
        generator: torch generator to draw from (None: torch's global one).
    """
    dist = PARAM_DISTRIBUTIONS.get(PARAM_DISTRIBUTIONS.canonical(name.lower()))
    size = int(params.get("block_size", 1))
    if size == 1:
        return dist.draw(dim, params, generator).to(torch.float32)
    if dim % size != 0:
        raise ArchitectureError(f"distribution {name}: layer width {dim} is not a multiple of "
                                f"block_size {size}")
    blocks = dim // size
    if params.get("block_mode", "shared") == "shared":
        return dist.draw(blocks, params, generator).repeat_interleave(size).to(torch.float32)
    return dist.draw(size, params, generator).tile((blocks,)).to(torch.float32)


def node_fan_outs(layer_dims: Mapping[int, int], masks: Mapping[tuple[int, int], Tensor]
                  ) -> dict[int, list[int]]:
    """Per layer, per node: existing outgoing entries summed over every connection leaving it.

    ``masks`` maps (from_layer, to_layer) to the [to, from] mask (internal ones included).
    Zeros become 1, as in the original.
    """
    counts = {lid: [0] * dim for lid, dim in layer_dims.items()}
    for (src, _dst), mask in masks.items():
        per_node = (mask > 0).sum(dim=0).tolist()
        row = counts.get(src)
        if row is None:
            continue
        for i in range(min(len(row), len(per_node))):
            row[i] += int(per_node[i])
    return {lid: [c if c != 0 else 1 for c in row] for lid, row in counts.items()}


def fill_fan_outs(arch: Any, masks: Mapping[tuple[int, int], Tensor]) -> None:
    """Write ``node_fan_outs`` into every ``gamma_plus*`` parameter drawn from ``fan_out``.

    Called after the connections are built and before the layers are (the original does
    the same, in place on the layer config). Other parameters drawn from fan_out keep
    fan-out 1, as in the original.
    """
    fans = node_fan_outs({layer.layer_id: layer.dim for layer in arch.layers}, masks)
    for layer in arch.layers:
        for name, init in layer.params.items():
            if name.startswith("gamma_plus") and init.distribution == "fan_out":
                init.params["node_fan_outs"] = list(fans[layer.layer_id])
