"""Weight initialisers: the values of a connection's weight matrix J, given its mask.

Each initialiser of ``WEIGHT_INITS`` fills a [n_to, n_from] matrix from its parameters and
multiplies it by the 0/1 mask (fans, where an initialiser uses them, are counted from the
mask). ``init_weights`` looks one up and fills in its defaults.

As in the original SOEN toolkit, the draw covers the FULL [to, from] matrix with the same
float32 torch call, so with the original's generator state the weights are bit-identical.
``custom`` weights are read with ``allow_pickle=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from soen_train.registry import Registry

from .array_files import read_array
from .connection_patterns import Gen
from .validation import REQUIRED, ArchitectureError, as_float, as_int, as_str, merge_defaults


@dataclass(frozen=True)
class WeightInit:
    """A weight initialiser ``init(mask, params, generator) -> [n_to, n_from]`` (masked)."""

    defaults: Mapping[str, object]
    init: Callable[[Tensor, Mapping[str, Any], Gen], Tensor]
    doc: str


#: Catalog of weight initialisers (``params.init`` in the YAML).
WEIGHT_INITS: Registry[WeightInit] = Registry("weight init")


def mask_fans(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per-target fan-in [to] and per-source fan-out [from] counted from the mask (>= 1)."""
    return mask.sum(dim=1).float().clamp(min=1.0), mask.sum(dim=0).float().clamp(min=1.0)


def kaiming_gain(nonlinearity: str, a: float) -> float:
    """The original's gain table: relu sqrt(2), leaky_relu sqrt(2/(1+a^2)), tanh 5/3, else 1."""
    if nonlinearity == "relu":
        return 2.0**0.5
    if nonlinearity == "leaky_relu":
        return (2.0 / (1 + a**2)) ** 0.5
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    return 1.0


def _init_normal(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    mean = as_float(p["mean"], "init normal.mean")
    std = as_float(p["std"], "init normal.std", minimum=0.0)
    return torch.normal(mean, std, size=tuple(mask.shape), generator=gen) * mask


def _init_uniform(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    lo = as_float(p["min"], "init uniform.min")
    hi = as_float(p["max"], "init uniform.max")
    if lo > hi:
        raise ArchitectureError(f"init uniform: min ({lo}) is larger than max ({hi})")
    return torch.empty(tuple(mask.shape)).uniform_(lo, hi, generator=gen) * mask


def _init_linear(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    lo = as_float(p["min"], "init linear.min")
    hi = as_float(p["max"], "init linear.max")
    return torch.linspace(lo, hi, mask.numel()).reshape(mask.shape) * mask


def _init_constant(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    return torch.full(tuple(mask.shape), as_float(p["value"], "init constant.value")) * mask


def _init_xavier_normal(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    gain = as_float(p["gain"], "init xavier_normal.gain")
    fan_in, fan_out = mask_fans(mask)
    std = gain * (2.0 / (fan_in.unsqueeze(1) + fan_out.unsqueeze(0))).sqrt()
    return torch.randn(tuple(mask.shape), generator=gen) * std * mask


def _init_xavier_uniform(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    gain = as_float(p["gain"], "init xavier_uniform.gain")
    fan_in, fan_out = mask_fans(mask)
    limit = gain * (6.0 / (fan_in.unsqueeze(1) + fan_out.unsqueeze(0))).sqrt()
    return (torch.rand(tuple(mask.shape), generator=gen) * 2 - 1) * limit * mask


def _init_kaiming_normal(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    gain = kaiming_gain(as_str(p["nonlinearity"], "init kaiming_normal.nonlinearity"),
                        as_float(p["a"], "init kaiming_normal.a"))
    fan_in, _ = mask_fans(mask)
    std = (gain / fan_in.sqrt()).unsqueeze(1).expand(tuple(mask.shape))
    return torch.randn(tuple(mask.shape), generator=gen) * std * mask


def _init_kaiming_uniform(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    gain = kaiming_gain(as_str(p["nonlinearity"], "init kaiming_uniform.nonlinearity"),
                        as_float(p["a"], "init kaiming_uniform.a"))
    fan_in, _ = mask_fans(mask)
    limit = (gain * (3.0 / fan_in).sqrt()).unsqueeze(1).expand(tuple(mask.shape))
    return (torch.rand(tuple(mask.shape), generator=gen) * 2 - 1) * limit * mask


def _init_orthogonal(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    weights = torch.empty(tuple(mask.shape))
    torch.nn.init.orthogonal_(weights, gain=as_float(p["gain"], "init orthogonal.gain"),
                              generator=gen)
    return weights * mask


def _init_flux_balanced(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    """J_ij = phi_exc_target / (num_input_sources * fan_in_i * mean_state) (+ noise), masked.

    With upstream states at ``mean_state`` every target then receives ``phi_exc_target``
    of external flux in total, split evenly over its ``num_input_sources`` connections.
    """
    target = as_float(p["phi_exc_target"], "init flux_balanced.phi_exc_target")
    mean_state = as_float(p["mean_state"], "init flux_balanced.mean_state")
    sources = as_int(p["num_input_sources"], "init flux_balanced.num_input_sources", minimum=1)
    noise = as_float(p["noise_std"], "init flux_balanced.noise_std", minimum=0.0)
    fan_in, _ = mask_fans(mask)
    per_row = target / (sources * fan_in * mean_state)
    weights = per_row.unsqueeze(1).expand(tuple(mask.shape)).clone()
    if noise > 0:
        weights = weights + torch.randn(tuple(mask.shape), generator=gen) * noise
    return weights * mask


def _init_custom(mask: Tensor, p: Mapping[str, Any], gen: Gen) -> Tensor:
    array = read_array(p["weights_file"], "weights", "init custom.weights_file")
    if tuple(array.shape) != tuple(mask.shape):
        raise ArchitectureError(
            f"init custom.weights_file: weights have shape {array.shape}, expected [to, from] = "
            f"{tuple(mask.shape)}")
    return torch.as_tensor(np.asarray(array)).float() * mask


WEIGHT_INITS.register("normal")(WeightInit(
    {"mean": 0.0, "std": 0.1}, _init_normal, "N(mean, std) (the default init)"))
WEIGHT_INITS.register("uniform")(WeightInit(
    {"min": -0.24, "max": 0.24}, _init_uniform, "U(min, max); `a`/`b` are accepted for min/max"))
WEIGHT_INITS.register("linear")(WeightInit(
    {"min": 0.0, "max": 1.0}, _init_linear, "evenly spaced over all entries, row-major"))
WEIGHT_INITS.register("constant")(WeightInit(
    {"value": 1.0}, _init_constant, "every entry = value"))
WEIGHT_INITS.register("xavier_normal")(WeightInit(
    {"gain": 1.0}, _init_xavier_normal, "N(0,1) * gain * sqrt(2 / (fan_in_i + fan_out_j)), fans from the mask"))
WEIGHT_INITS.register("xavier_uniform")(WeightInit(
    {"gain": 1.0}, _init_xavier_uniform, "U(-1,1) * gain * sqrt(6 / (fan_in_i + fan_out_j)), fans from the mask"))
WEIGHT_INITS.register("kaiming_normal")(WeightInit(
    {"nonlinearity": "relu", "a": 0.0}, _init_kaiming_normal, "N(0,1) * gain / sqrt(fan_in_i)"))
WEIGHT_INITS.register("kaiming_uniform")(WeightInit(
    {"nonlinearity": "relu", "a": 0.0}, _init_kaiming_uniform, "U(-1,1) * gain * sqrt(3 / fan_in_i)"))
WEIGHT_INITS.register("orthogonal")(WeightInit(
    {"gain": 1.0}, _init_orthogonal, "torch orthogonal_ on [to, from] times gain, then masked"))
WEIGHT_INITS.register("flux_balanced")(WeightInit(
    {"phi_exc_target": 0.27, "mean_state": 1.0, "num_input_sources": 1, "noise_std": 0.0},
    _init_flux_balanced,
    "phi_exc_target / (num_input_sources * fan_in_i * mean_state); num_input_sources = the "
    "target's incoming connections unless given"))
WEIGHT_INITS.register("custom")(WeightInit(
    {"weights_file": REQUIRED}, _init_custom, "weights [to, from] from a .npy or .npz ('weights')"))

#: Every key some initialiser reads, with uniform's aliases a/b (for telling unused keys from typos).
INIT_KEYS: tuple[str, ...] = tuple(sorted(
    {k for n in WEIGHT_INITS.names() for k in WEIGHT_INITS.get(n).defaults} | {"a", "b"}))


def init_weights(init: str, mask: Tensor, params: Mapping[str, Any], generator: Gen) -> Tensor:
    """float32 weights [n_to, n_from] from initialiser ``init``, times the mask.

    Args:
        init: initialiser name or alias (``WEIGHT_INITS``).
        mask: the connection's 0/1 mask [n_to, n_from].
        params: the initialiser's parameters (missing ones take their defaults; ``uniform``
            takes ``a``/``b`` for ``min``/``max``).
        generator: torch generator (None: torch's global one).
    """
    name = WEIGHT_INITS.canonical(init)
    entry = WEIGHT_INITS.get(name)
    given = dict(params)
    if name == "uniform":  # a/b are the original's aliases of min/max
        if "a" in given and "min" not in given:
            given["min"] = given["a"]
        if "b" in given and "max" not in given:
            given["max"] = given["b"]
    merged = merge_defaults(given, entry.defaults, f"weight init '{name}'")
    return entry.init(mask.float(), merged, generator).float()


def init_defaults(name: str) -> Mapping[str, object]:
    """Parameter table of the weight initialiser ``name`` (error lists valid names)."""
    return WEIGHT_INITS.get(name).defaults
