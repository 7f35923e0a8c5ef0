"""Connection patterns (which entries of J exist) and weight initialisers (their values).

A connection from a layer with ``n_from`` nodes to one with ``n_to`` nodes has a weight
matrix J of shape [n_to, n_from] and a 0/1 mask of the same shape. Patterns build masks,
initialisers fill the unmasked entries. Random patterns and inits draw from the model's
seeded ``torch.Generator``, so the same seed reproduces masks and weights bit for bit.
Files (``custom`` masks and weights) are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from soen_train.registry import Registry

from .validation import REQUIRED, ArchitectureError, as_float, as_int, as_str, resolve_options

Gen = torch.Generator | None


@dataclass(frozen=True)
class Pattern:
    """A mask builder ``build(n_from, n_to, params, generator) -> [n_to, n_from]``."""

    defaults: Mapping[str, object]
    build: Callable[[int, int, Mapping[str, object], Gen], Tensor]
    doc: str


@dataclass(frozen=True)
class WeightInit:
    """A weight initialiser ``init(mask, params, generator) -> [n_to, n_from]`` (masked)."""

    defaults: Mapping[str, object]
    init: Callable[[Tensor, Mapping[str, object], Gen], Tensor]
    doc: str


#: Catalog of connection patterns (``connection_type`` in the YAML).
CONNECTION_PATTERNS: Registry[Pattern] = Registry("connection pattern")
#: Catalog of weight initialisers (``params.init`` in the YAML).
WEIGHT_INITS: Registry[WeightInit] = Registry("weight init")


def _rand(shape, gen: Gen) -> Tensor:
    return torch.rand(shape, generator=gen, dtype=torch.float64)


def _read_array(path_value: object, key: str, where: str) -> np.ndarray:
    """Load an array from .npy or .npz (key ``key``) without unpickling."""
    path = Path(as_str(path_value, where))
    if not path.is_file():
        raise ArchitectureError(f"{where}: file not found: {path}")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if key not in data.files:
                raise ArchitectureError(f"{where}: {path} has no array '{key}' (has {data.files})")
            return np.asarray(data[key])
    if path.suffix == ".npy":
        return np.asarray(np.load(path, allow_pickle=False))
    raise ArchitectureError(f"{where}: {path} must be a .npy or .npz file")


# ----------------------------------------------------------------------------------------
# Patterns
# ----------------------------------------------------------------------------------------


def _dense(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    return torch.ones(n_to, n_from)


def _one_to_one(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    start = as_int(p["source_start_node_id"], "one_to_one.source_start_node_id", minimum=0)
    end_raw = p["source_end_node_id"]
    end = (min(n_from, n_to + start) - 1) if end_raw is None else as_int(
        end_raw, "one_to_one.source_end_node_id", minimum=start)
    if end >= n_from or end - start + 1 > n_to:
        raise ArchitectureError(
            f"one_to_one: source nodes {start}..{end} do not fit a {n_from} -> {n_to} connection"
        )
    mask = torch.zeros(n_to, n_from)
    for k in range(end - start + 1):
        mask[k, start + k] = 1.0
    return mask


def _inverse_one_to_one(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    mask = torch.ones(n_to, n_from)
    k = min(n_from, n_to)
    mask[torch.arange(k), torch.arange(k)] = 0.0
    return mask


def _chain(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    mask = torch.zeros(n_to, n_from)
    for j in range(n_from):
        if j + 1 < n_to:
            mask[j + 1, j] = 1.0
    return mask


def _sparse(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    prob_raw = p["connection_probability"] if p["connection_probability"] is not None else p["sparsity"]
    prob = as_float(prob_raw, "sparse: connection probability", minimum=0.0, maximum=1.0)
    return (_rand((n_to, n_from), gen) < prob).to(torch.float32)


def _block_bounds(n: int, count: int) -> list:
    base, extra = divmod(n, count)
    bounds, start = [], 0
    for k in range(count):
        size = base + (1 if k < extra else 0)
        bounds.append((start, start + size))
        start += size
    return bounds


def _block_structure(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    count = as_int(p["block_count"], "block_structure.block_count", minimum=1)
    if count > min(n_from, n_to):
        raise ArchitectureError(
            f"block_structure: block_count {count} exceeds the layer sizes ({n_from}, {n_to})"
        )
    mode = as_str(p["connection_mode"], "block_structure.connection_mode")
    if mode not in ("diagonal", "full"):
        raise ArchitectureError(
            f"block_structure.connection_mode: '{mode}' is not valid; use 'diagonal' or 'full'"
        )
    within = as_float(p["within_block_density"], "block_structure.within_block_density",
                      minimum=0.0, maximum=1.0)
    cross = as_float(p["cross_block_density"], "block_structure.cross_block_density",
                     minimum=0.0, maximum=1.0)
    draws = _rand((n_to, n_from), gen)
    density = torch.zeros(n_to, n_from, dtype=torch.float64)
    rows, cols = _block_bounds(n_to, count), _block_bounds(n_from, count)
    for bi, (r0, r1) in enumerate(rows):
        for bj, (c0, c1) in enumerate(cols):
            if bi == bj:
                density[r0:r1, c0:c1] = within
            elif mode == "full":
                density[r0:r1, c0:c1] = cross
    return (draws < density).to(torch.float32)


def _grid(n: int) -> Tensor:
    """Unit-spaced square-grid coordinates [n, 2] of n nodes, filled row by row."""
    side = max(1, math.ceil(math.sqrt(n)))
    k = torch.arange(n, dtype=torch.float64)
    return torch.stack([torch.remainder(k, side), torch.floor(k / side)], dim=1)


def _distance(n_from: int, n_to: int) -> Tensor:
    """Distances [n_to, n_from]; the target grid is scaled onto the source grid's extent."""
    src, dst = _grid(n_from), _grid(n_to)
    side_src = max(1, math.ceil(math.sqrt(n_from))) - 1
    side_dst = max(1, math.ceil(math.sqrt(n_to))) - 1
    if side_dst > 0 and side_src != side_dst:
        dst = dst * (side_src / side_dst)
    return torch.cdist(dst, src)


def _distance_sampled(weight: Tensor, fan_out: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    """Bernoulli mask with per-source expected fan-out ``fan_out`` and relative weights."""
    if not bool(p.get("_allow_self", True)) and weight.shape[0] == weight.shape[1]:
        weight = weight * (1.0 - torch.eye(weight.shape[0], dtype=weight.dtype))
    norm = weight.sum(dim=0, keepdim=True).clamp_min(1e-300)
    prob = (fan_out * weight / norm).clamp(max=1.0)
    return (_rand(weight.shape, gen) < prob).to(torch.float32)


def _power_law(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    alpha = as_float(p["alpha"], "power_law.alpha", minimum=0.0)
    fan_out = as_int(p["expected_fan_out"], "power_law.expected_fan_out", minimum=1)
    weight = (1.0 + _distance(n_from, n_to)) ** (-alpha)
    return _distance_sampled(weight, fan_out, p, gen)


def _exponential(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    d0 = as_float(p["d_0"], "exponential.d_0", minimum=1e-12)
    fan_out = as_int(p["expected_fan_out"], "exponential.expected_fan_out", minimum=1)
    weight = torch.exp(-_distance(n_from, n_to) / d0)
    return _distance_sampled(weight, fan_out, p, gen)


def _constant_fan_out(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    fan_out = as_int(p["expected_fan_out"], "constant.expected_fan_out", minimum=1)
    if fan_out > n_to:
        raise ArchitectureError(f"constant: expected_fan_out {fan_out} exceeds the {n_to} targets")
    mask = torch.zeros(n_to, n_from)
    for j in range(n_from):
        order = torch.argsort(_rand(n_to, gen))
        mask[order[:fan_out], j] = 1.0
    return mask


def _hierarchical_blocks(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    levels = as_int(p["levels"], "hierarchical_blocks.levels", minimum=1)
    base = as_int(p["base_size"], "hierarchical_blocks.base_size", minimum=2)
    n = base**levels
    if n_from != n or n_to != n:
        raise ArchitectureError(
            f"hierarchical_blocks: levels={levels}, base_size={base} needs {n} nodes on both "
            f"sides, got {n_from} -> {n_to}"
        )
    fractions = p["tier_fractions"]
    if fractions is None:
        fractions = [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125][:levels]
    if not isinstance(fractions, (list, tuple)) or len(fractions) < levels:
        raise ArchitectureError(
            f"hierarchical_blocks.tier_fractions: need {levels} values (one per tier), got {fractions!r}"
        )
    idx = torch.arange(n)
    density = torch.zeros(n, n, dtype=torch.float64)
    for tier in range(levels):
        same_outer = (idx[:, None] // base ** (tier + 1)) == (idx[None, :] // base ** (tier + 1))
        same_inner = (idx[:, None] // base**tier) == (idx[None, :] // base**tier)
        frac = as_float(fractions[tier], f"hierarchical_blocks.tier_fractions[{tier}]",
                        minimum=0.0, maximum=1.0)
        density[same_outer & ~same_inner] = frac
    return (_rand((n, n), gen) < density).to(torch.float32)


def _custom_mask(n_from: int, n_to: int, p: Mapping[str, object], gen: Gen) -> Tensor:
    array = _read_array(p["mask_file"], "mask", "custom.mask_file")
    if array.shape != (n_to, n_from):
        raise ArchitectureError(
            f"custom.mask_file: mask has shape {array.shape}, expected [to, from] = ({n_to}, {n_from})"
        )
    return torch.as_tensor(array != 0, dtype=torch.float32)


_DISTANCE_DEFAULTS = {"expected_fan_out": 4}

CONNECTION_PATTERNS.register("dense", "all_to_all")(Pattern({}, _dense, "every entry"))
CONNECTION_PATTERNS.register("one_to_one")(Pattern(
    {"source_start_node_id": 0, "source_end_node_id": None}, _one_to_one,
    "identity on the first min(from, to) nodes (or a source range)"))
CONNECTION_PATTERNS.register("inverse_one_to_one")(Pattern(
    {}, _inverse_one_to_one, "every entry except the matching-index diagonal"))
CONNECTION_PATTERNS.register("chain")(Pattern({}, _chain, "source j -> target j + 1"))
CONNECTION_PATTERNS.register("sparse")(Pattern(
    {"sparsity": None, "connection_probability": None}, _sparse,
    "each entry exists with probability `connection_probability` (alias `sparsity`)"))
CONNECTION_PATTERNS.register("block_structure")(Pattern(
    {"block_count": 4, "connection_mode": "diagonal", "within_block_density": 1.0,
     "cross_block_density": 0.0}, _block_structure,
    "contiguous blocks; matching blocks at within density, others at cross density (full mode)"))
CONNECTION_PATTERNS.register("power_law")(Pattern(
    {"alpha": 2.0, **_DISTANCE_DEFAULTS}, _power_law,
    "grid-distance sampling with weight (1 + d)^-alpha"))
CONNECTION_PATTERNS.register("exponential")(Pattern(
    {"d_0": 2.0, **_DISTANCE_DEFAULTS}, _exponential,
    "grid-distance sampling with weight exp(-d / d_0)"))
CONNECTION_PATTERNS.register("constant")(Pattern(
    dict(_DISTANCE_DEFAULTS), _constant_fan_out, "each source reaches exactly expected_fan_out targets"))
CONNECTION_PATTERNS.register("hierarchical_blocks")(Pattern(
    {"levels": 3, "base_size": 4, "tier_fractions": None}, _hierarchical_blocks,
    "nested blocks with one density per tier"))
CONNECTION_PATTERNS.register("custom")(Pattern(
    {"mask_file": REQUIRED}, _custom_mask, "mask [to, from] from a .npy or .npz ('mask')"))


# ----------------------------------------------------------------------------------------
# Weight initialisers
# ----------------------------------------------------------------------------------------


def _fans(mask: Tensor) -> tuple:
    """Per-target fan-in [n_to, 1] and per-source fan-out [1, n_from] (at least 1)."""
    fan_in = mask.sum(dim=1, keepdim=True).clamp_min(1.0).to(torch.float64)
    fan_out = mask.sum(dim=0, keepdim=True).clamp_min(1.0).to(torch.float64)
    return fan_in, fan_out


def _init_uniform(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    lo = as_float(p["min"] if p["a"] is None else p["a"], "init uniform.min")
    hi = as_float(p["max"] if p["b"] is None else p["b"], "init uniform.max")
    if lo > hi:
        raise ArchitectureError(f"init uniform: min ({lo}) is larger than max ({hi})")
    return lo + (hi - lo) * _rand(mask.shape, gen)


def _init_normal(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    mean = as_float(p["mean"], "init normal.mean")
    std = as_float(p["std"], "init normal.std", minimum=0.0)
    return mean + std * torch.randn(mask.shape, generator=gen, dtype=torch.float64)


def _init_constant(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    return torch.full(mask.shape, as_float(p["value"], "init constant.value"), dtype=torch.float64)


def _init_linear(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    lo = as_float(p["min"], "init linear.min")
    hi = as_float(p["max"], "init linear.max")
    return torch.linspace(lo, hi, mask.numel(), dtype=torch.float64).reshape(mask.shape)


def _init_xavier_uniform(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    gain = as_float(p["gain"], "init xavier_uniform.gain", minimum=0.0)
    fan_in, fan_out = _fans(mask)
    limit = gain * torch.sqrt(6.0 / (fan_in + fan_out))
    return (2.0 * _rand(mask.shape, gen) - 1.0) * limit


def _init_xavier_normal(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    gain = as_float(p["gain"], "init xavier_normal.gain", minimum=0.0)
    fan_in, fan_out = _fans(mask)
    std = gain * torch.sqrt(2.0 / (fan_in + fan_out))
    return torch.randn(mask.shape, generator=gen, dtype=torch.float64) * std


def _kaiming_gain(p: Mapping[str, object]) -> float:
    nonlinearity = as_str(p["nonlinearity"], "init kaiming.nonlinearity")
    slope = as_float(p["a"], "init kaiming.a")
    try:
        return torch.nn.init.calculate_gain(nonlinearity, slope)
    except ValueError as exc:
        raise ArchitectureError(f"init kaiming.nonlinearity: {exc}") from None


def _init_kaiming_normal(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    fan_in, _ = _fans(mask)
    std = _kaiming_gain(p) / torch.sqrt(fan_in)
    return torch.randn(mask.shape, generator=gen, dtype=torch.float64) * std


def _init_kaiming_uniform(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    fan_in, _ = _fans(mask)
    bound = _kaiming_gain(p) * torch.sqrt(3.0 / fan_in)
    return (2.0 * _rand(mask.shape, gen) - 1.0) * bound


def _init_orthogonal(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    gain = as_float(p["gain"], "init orthogonal.gain", minimum=0.0)
    rows, cols = mask.shape
    flat = torch.randn(max(rows, cols), min(rows, cols), generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(flat)
    q = q * torch.sign(torch.diagonal(r))
    if rows < cols:
        q = q.t()
    return gain * q[:rows, :cols]


def _init_custom(mask: Tensor, p: Mapping[str, object], gen: Gen) -> Tensor:
    array = _read_array(p["weights_file"], "weights", "init custom.weights_file")
    if tuple(array.shape) != tuple(mask.shape):
        raise ArchitectureError(
            f"init custom.weights_file: weights have shape {array.shape}, expected [to, from] = "
            f"{tuple(mask.shape)}"
        )
    return torch.as_tensor(array, dtype=torch.float64)


WEIGHT_INITS.register("uniform")(WeightInit(
    {"min": -0.24, "max": 0.24, "a": None, "b": None}, _init_uniform, "uniform on [min, max)"))
WEIGHT_INITS.register("normal")(WeightInit(
    {"mean": 0.0, "std": 0.1}, _init_normal, "Gaussian(mean, std)"))
WEIGHT_INITS.register("constant")(WeightInit(
    {"value": 1.0}, _init_constant, "every entry = value"))
WEIGHT_INITS.register("linear")(WeightInit(
    {"min": 0.0, "max": 1.0}, _init_linear, "evenly spaced over all entries, row-major"))
WEIGHT_INITS.register("xavier_uniform")(WeightInit(
    {"gain": 1.0}, _init_xavier_uniform, "Glorot uniform with per-node masked fans"))
WEIGHT_INITS.register("xavier_normal")(WeightInit(
    {"gain": 1.0}, _init_xavier_normal, "Glorot normal with per-node masked fans"))
WEIGHT_INITS.register("kaiming", "kaiming_normal")(WeightInit(
    {"nonlinearity": "relu", "a": 0.0}, _init_kaiming_normal, "He normal with masked fan-in"))
WEIGHT_INITS.register("kaiming_uniform")(WeightInit(
    {"nonlinearity": "relu", "a": 0.0}, _init_kaiming_uniform, "He uniform with masked fan-in"))
WEIGHT_INITS.register("orthogonal")(WeightInit(
    {"gain": 1.0}, _init_orthogonal, "(semi-)orthogonal matrix times gain"))
WEIGHT_INITS.register("custom")(WeightInit(
    {"weights_file": REQUIRED}, _init_custom, "weights [to, from] from a .npy or .npz ('weights')"))


def pattern_defaults(name: str) -> Mapping[str, object]:
    """Parameter table of the pattern ``name`` (error lists valid names)."""
    return CONNECTION_PATTERNS.get(name).defaults


def init_defaults(name: str) -> Mapping[str, object]:
    """Parameter table of the weight initialiser ``name`` (error lists valid names)."""
    return WEIGHT_INITS.get(name).defaults


def build_mask(pattern: str, n_from: int, n_to: int, params: Mapping[str, object],
               *, allow_self: bool, generator: Gen) -> Tensor:
    """0/1 float mask [n_to, n_from]; ``allow_self=False`` clears the diagonal of square masks."""
    entry = CONNECTION_PATTERNS.get(pattern)
    merged = resolve_options(params, entry.defaults, f"connection pattern '{pattern}'")
    merged["_allow_self"] = allow_self
    mask = entry.build(n_from, n_to, merged, generator).to(torch.float32)
    if not allow_self and n_from == n_to:
        mask = mask * (1.0 - torch.eye(n_from))
    return mask


def init_weights(init: str, mask: Tensor, params: Mapping[str, object], generator: Gen) -> Tensor:
    """float32 weights [n_to, n_from] from initialiser ``init``, zero where the mask is zero."""
    entry = WEIGHT_INITS.get(init)
    merged = resolve_options(params, entry.defaults, f"weight init '{init}'")
    weights = entry.init(mask, merged, generator)
    return (weights * mask.to(weights.dtype)).to(torch.float32)
