"""Connection patterns: which entries of a connection's weight matrix J exist (its 0/1 mask).

A connection from a layer with ``n_from`` nodes to one with ``n_to`` nodes has a mask of
shape [n_to, n_from] (row = target, column = source). Each pattern of ``CONNECTION_PATTERNS``
builds one from its parameters; ``build_mask`` looks it up, fills in its defaults and clears
the diagonal when self connections are not allowed.

The rules follow the original SOEN toolkit exactly, and so do the random draws: the same
float32 torch calls in the same order (``torch.rand`` for sparse, one ``torch.multinomial``
per source column for power_law/exponential, one ``torch.randperm`` per source for
constant). With a generator in the state the original's global generator is in, masks are
bit-identical to the original's. ``custom`` masks are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from soen_train.registry import Registry, closest

from .array_files import read_array
from .validation import REQUIRED, ArchitectureError, as_float, as_int, as_str, merge_defaults

#: A torch random generator, or None for torch's global one.
Gen = torch.Generator | None


@dataclass(frozen=True)
class Pattern:
    """A mask builder ``build(n_from, n_to, params, allow_self, generator) -> [n_to, n_from]``.

    ``defaults`` lists the parameters it reads (``REQUIRED`` = no default).
    """

    defaults: Mapping[str, object]
    build: Callable[[int, int, Mapping[str, Any], bool, Gen], Tensor]
    doc: str


#: Catalog of connection patterns (``connection_type`` / ``structure.type`` in the YAML).
CONNECTION_PATTERNS: Registry[Pattern] = Registry("connection pattern")

#: Scopes that decide the distance geometry of power_law / exponential.
SCOPES: tuple[str, ...] = ("internal", "external")
#: block_structure connection modes.
BLOCK_MODES: tuple[str, ...] = ("diagonal", "full", "none")


def _dense(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool, gen: Gen) -> Tensor:
    return torch.ones(n_to, n_from)


def _one_to_one(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool, gen: Gen) -> Tensor:
    """Diagonal on the first min(from, to) nodes, or source nodes start..end -> targets 0.."""
    mask = torch.zeros(n_to, n_from)
    start_raw, end_raw = p["source_start_node_id"], p["source_end_node_id"]
    if start_raw is None and end_raw is None:
        k = min(n_from, n_to)
        mask[torch.arange(k), torch.arange(k)] = 1.0
        return mask
    if start_raw is None or end_raw is None:
        raise ArchitectureError("one_to_one: give both source_start_node_id and source_end_node_id, "
                                "or neither")
    start = as_int(start_raw, "one_to_one.source_start_node_id", minimum=0)
    end = as_int(end_raw, "one_to_one.source_end_node_id")
    if end >= n_from or start > end or end - start + 1 > n_to:
        raise ArchitectureError(
            f"one_to_one: source nodes {start}..{end} do not fit a {n_from} -> {n_to} connection "
            f"(need 0 <= start <= end < {n_from} and at most {n_to} nodes)")
    for k in range(end - start + 1):
        mask[k, start + k] = 1.0
    return mask


def _inverse_one_to_one(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool,
                        gen: Gen) -> Tensor:
    if n_from != n_to:
        raise ArchitectureError(f"inverse_one_to_one: needs equal sizes, got {n_from} -> {n_to}")
    return 1.0 - torch.eye(n_to)


def _chain(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool, gen: Gen) -> Tensor:
    """Source j -> target j + 1 for j = 0 .. from-2 (where the target exists)."""
    mask = torch.zeros(n_to, n_from)
    for j in range(n_from - 1):
        if j + 1 < n_to:
            mask[j + 1, j] = 1.0
    return mask


def _sparse(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool, gen: Gen) -> Tensor:
    """Each entry exists with probability `sparsity`: one torch.rand(to, from) < p."""
    prob = as_float(p["sparsity"], "sparse.sparsity")
    if not 0.0 < prob <= 1.0:
        raise ArchitectureError(f"sparse.sparsity: the probability that an entry exists must be in "
                                f"(0, 1], got {prob}")
    return (torch.rand(n_to, n_from, generator=gen) < prob).float()


def _stride_pattern(height: int, width: int, density: float) -> Tensor:
    """Deterministic block fill: round(h*w*d) entries, every stride-th in row-major order."""
    block = torch.zeros(height, width)
    density = min(1.0, max(0.0, float(density)))
    total = height * width
    if density <= 0.0 or total == 0:
        return block
    target = round(total * density)
    if target <= 0:
        return block
    stride = max(1, total // target)
    placed = 0
    for k in range(total):
        if placed >= target:
            break
        if k % stride == 0:
            block[k // width, k % width] = 1.0
            placed += 1
    return block


def _block_structure(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool,
                     gen: Gen) -> Tensor:
    """Contiguous blocks; nodes past block_count * block size stay unconnected.

    Block i covers target rows [i*bt, (i+1)*bt) and source columns [i*bf, (i+1)*bf) with
    bt = to // block_count, bf = from // block_count. Within blocks get the stride pattern
    at within_block_density; cross blocks (cross_block_density > 0): `full` fills every
    off-diagonal block pair, `diagonal` fills source block i -> every later target block,
    `none` adds none. Later assignments overwrite earlier ones.
    """
    count = as_int(p["block_count"], "block_structure.block_count", minimum=1)
    mode = as_str(p["connection_mode"], "block_structure.connection_mode")
    if mode not in BLOCK_MODES:
        hint = closest(mode, BLOCK_MODES)
        raise ArchitectureError(
            f"block_structure.connection_mode: '{mode}' is not valid"
            + (f" (did you mean '{hint}'?)" if hint else "") + f"; use one of {list(BLOCK_MODES)}")
    within = as_float(p["within_block_density"], "block_structure.within_block_density")
    cross = as_float(p["cross_block_density"], "block_structure.cross_block_density")
    bf, bt = n_from // count, n_to // count
    if bf < 1 or bt < 1:
        count = min(n_from, n_to)
        bf, bt = max(1, n_from // count), max(1, n_to // count)

    def rows(i: int) -> tuple[int, int]:
        return i * bt, min((i + 1) * bt, n_to)

    def cols(i: int) -> tuple[int, int]:
        return i * bf, min((i + 1) * bf, n_from)

    mask = torch.zeros(n_to, n_from)
    for i in range(count):
        r0, r1 = rows(i)
        c0, c1 = cols(i)
        if within > 0:
            mask[r0:r1, c0:c1] = _stride_pattern(r1 - r0, c1 - c0, within)
        if cross > 0 and mode != "none":
            others = range(count) if mode == "full" else range(i + 1, count)
            for j in others:
                if j == i:
                    continue
                q0, q1 = rows(j)
                mask[q0:q1, c0:c1] = _stride_pattern(q1 - q0, c1 - c0, cross)
                if mode == "full":
                    d0, d1 = cols(j)
                    mask[r0:r1, d0:d1] = _stride_pattern(r1 - r0, d1 - d0, cross)
    return mask


def _grid(n: int) -> tuple[Tensor, Tensor]:
    """(x, y) of n nodes on a ceil(sqrt(n))-wide grid, filled row by row (float32)."""
    side = math.ceil(math.sqrt(n))
    k = torch.arange(n, dtype=torch.float32)
    return k % side, torch.floor(k / side)


def _distances(n_from: int, n_to: int, scope: str) -> Tensor:
    """Distances [to, from] of the original's geometry.

    internal: both layers on their own grid, Euclidean distance. external: sources on the
    column x = 0, targets on the column x = max(ceil(sqrt(from)), ceil(sqrt(to))), one node per
    unit of y; Manhattan distance.
    """
    if scope == "internal":
        sx, sy = _grid(n_from)
        tx, ty = _grid(n_to)
        dx = tx.view(-1, 1) - sx.view(1, -1)
        dy = ty.view(-1, 1) - sy.view(1, -1)
        return torch.sqrt(dx * dx + dy * dy)
    offset = float(max(math.ceil(math.sqrt(n_from)), math.ceil(math.sqrt(n_to))))
    sx = torch.zeros(n_from)
    sy = torch.linspace(0.0, max(0.0, float(n_from - 1)), n_from)
    tx = torch.full((n_to,), offset)
    ty = torch.linspace(0.0, max(0.0, float(n_to - 1)), n_to)
    dx = tx.view(-1, 1) - sx.view(1, -1)
    dy = torch.abs(ty.view(-1, 1) - sy.view(1, -1))
    return dx.abs() + dy


def _scope(p: Mapping[str, Any], where: str) -> str:
    scope = as_str(p["connection_scope"], f"{where}.connection_scope").lower()
    return scope if scope == "internal" else "external"


def _sample_targets(weight: Tensor, fan_out: int, gen: Gen) -> Tensor:
    """Exactly min(k, available) distinct targets per source column, weighted, in column order."""
    n_to, n_from = weight.shape
    mask = torch.zeros(n_to, n_from)
    for j in range(n_from):
        column = weight[:, j]
        positive = column > 0
        available = int(positive.sum().item())
        if available == 0:
            continue
        probs = column[positive]
        probs = probs / probs.sum()
        chosen = torch.multinomial(probs, num_samples=min(fan_out, available), replacement=False,
                                   generator=gen)
        mask[positive.nonzero(as_tuple=False).view(-1)[chosen], j] = 1.0
    return mask


def _distance_mask(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool, gen: Gen,
                   kernel: Callable[[Tensor], Tensor], where: str) -> Tensor:
    fan_out = max(0, as_int(p["expected_fan_out"], f"{where}.expected_fan_out"))
    if fan_out == 0:
        return torch.zeros(n_to, n_from)
    scope = _scope(p, where)
    weight = kernel(_distances(n_from, n_to, scope))
    if n_to == n_from and scope == "internal" and not allow_self:
        idx = torch.arange(n_to)
        weight[idx, idx] = 0.0
    return _sample_targets(weight, fan_out, gen)


def _power_law(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool, gen: Gen) -> Tensor:
    """Weight 1 / max(d, 1e-6)^alpha (a self entry weighs 1e12 for alpha 2: always chosen)."""
    alpha = as_float(p["alpha"], "power_law.alpha")
    return _distance_mask(n_from, n_to, p, allow_self, gen,
                          lambda d: 1.0 / (torch.clamp(d, min=1e-6) ** alpha), "power_law")


def _exponential(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool, gen: Gen) -> Tensor:
    """Weight exp(-d / max(d_0, 1e-6))."""
    d0 = as_float(p["d_0"], "exponential.d_0")
    return _distance_mask(n_from, n_to, p, allow_self, gen,
                          lambda d: torch.exp(-d / max(d0, 1e-6)), "exponential")


def _constant_fan_out(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool,
                      gen: Gen) -> Tensor:
    """Each source reaches min(k, available) targets: the first ones of a torch.randperm."""
    fan_out = max(0, as_int(p["expected_fan_out"], "constant.expected_fan_out"))
    mask = torch.zeros(n_to, n_from)
    if fan_out == 0:
        return mask
    for j in range(n_from):
        available = [i for i in range(n_to) if allow_self or i != j]
        if not available:
            continue
        chosen = torch.randperm(len(available), generator=gen)[: min(fan_out, len(available))]
        mask[[available[int(i)] for i in chosen], j] = 1.0
    return mask


def hierarchical_mask(levels: int, base_size: int, tier_fractions: list[float] | None = None
                      ) -> Tensor:
    """Symmetric nested-block mask of base_size**levels nodes (diagonal included).

    Tier t groups the nodes into blocks of base_size**(t+1). In each block,
    n = ceil(fraction_t * size) "interneurons" are connected all to all: at tier 0 the
    first n nodes of the block; above, n is split evenly over the base_size child blocks
    (the first n mod base_size children take one more), taking the first nodes of each.
    Tiers are OR-ed together. Default fractions: 1, 0.5, 0.25, 0.125.
    """
    fractions = list(tier_fractions) if tier_fractions is not None else [1.0, 0.5, 0.25, 0.125][:levels]
    n = base_size**levels
    mask = torch.zeros(n, n)
    for tier in range(levels):
        size = base_size ** (tier + 1)
        fraction = float(fractions[tier])
        for block in range(n // size):
            start = block * size
            if fraction <= 0:
                continue
            count = max(0, min(math.ceil(fraction * size), size))
            if tier == 0:
                chosen = list(range(start, start + count))
            else:
                child = size // base_size
                each, extra = divmod(count, base_size)
                chosen = []
                for c in range(base_size):
                    take = min(each + (1 if c < extra else 0), child)
                    chosen.extend(range(start + c * child, start + c * child + take))
            if chosen:
                idx = torch.tensor(chosen)
                mask[idx.view(-1, 1), idx.view(1, -1)] = 1.0
    return mask


def _hierarchical_blocks(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool,
                         gen: Gen) -> Tensor:
    levels = as_int(p["levels"], "hierarchical_blocks.levels")
    base = as_int(p["base_size"], "hierarchical_blocks.base_size")
    if not 1 <= levels <= 4:
        raise ArchitectureError(f"hierarchical_blocks.levels: must be 1..4, got {levels}")
    if base < 2:
        raise ArchitectureError(f"hierarchical_blocks.base_size: must be >= 2, got {base}")
    if n_from != n_to or n_from != base**levels:
        raise ArchitectureError(
            f"hierarchical_blocks: levels={levels}, base_size={base} needs a square "
            f"{base**levels} x {base**levels} connection, got {n_from} -> {n_to}")
    fractions = p["tier_fractions"]
    if fractions is not None and not isinstance(fractions, (list, tuple)):
        fractions = None  # the original falls back to the defaults for a non-list value
    if fractions is not None:
        if len(fractions) != levels:
            raise ArchitectureError(f"hierarchical_blocks.tier_fractions: need {levels} values "
                                    f"(one per tier), got {len(fractions)}")
        fractions = [as_float(v, f"hierarchical_blocks.tier_fractions[{i}]")
                     for i, v in enumerate(fractions)]
    return hierarchical_mask(levels, base, fractions)


def _custom_mask(n_from: int, n_to: int, p: Mapping[str, Any], allow_self: bool, gen: Gen) -> Tensor:
    source = p["mask_file"] or p["file_path"]
    if not source:
        raise ArchitectureError("custom: missing required key 'mask_file' (.npz with array 'mask')")
    array = read_array(source, "mask", "custom.mask_file")
    if array.shape != (n_to, n_from):
        raise ArchitectureError(
            f"custom.mask_file: mask has shape {array.shape}, expected [to, from] = ({n_to}, {n_from})")
    mask = torch.as_tensor(np.asarray(array, dtype=np.float32))
    if not torch.all((mask == 0) | (mask == 1)):
        raise ArchitectureError(f"custom.mask_file: the mask must hold only 0 and 1, found "
                                f"{sorted(set(torch.unique(mask).tolist()))}")
    return mask


_DISTANCE = {"expected_fan_out": REQUIRED, "connection_scope": "internal"}

CONNECTION_PATTERNS.register("dense", "all_to_all")(Pattern({}, _dense, "every entry"))
CONNECTION_PATTERNS.register("one_to_one")(Pattern(
    {"source_start_node_id": None, "source_end_node_id": None}, _one_to_one,
    "identity on the first min(from, to) nodes, or source nodes start..end -> targets 0.."))
CONNECTION_PATTERNS.register("inverse_one_to_one")(Pattern(
    {}, _inverse_one_to_one, "every entry except the diagonal (square connections)"))
CONNECTION_PATTERNS.register("chain")(Pattern({}, _chain, "source j -> target j + 1"))
CONNECTION_PATTERNS.register("sparse")(Pattern(
    {"sparsity": REQUIRED}, _sparse, "each entry exists with probability `sparsity` (0 < p <= 1)"))
CONNECTION_PATTERNS.register("block_structure")(Pattern(
    {"block_count": REQUIRED, "connection_mode": REQUIRED, "within_block_density": REQUIRED,
     "cross_block_density": REQUIRED}, _block_structure,
    "contiguous blocks filled by a deterministic stride pattern; diagonal / full / none cross mode"))
CONNECTION_PATTERNS.register("power_law")(Pattern(
    {**_DISTANCE, "alpha": 2.0}, _power_law,
    "exactly k targets per source, drawn with weight 1 / d^alpha"))
CONNECTION_PATTERNS.register("exponential")(Pattern(
    {**_DISTANCE, "d_0": 2.0}, _exponential,
    "exactly k targets per source, drawn with weight exp(-d / d_0)"))
CONNECTION_PATTERNS.register("constant")(Pattern(
    {"expected_fan_out": REQUIRED}, _constant_fan_out,
    "exactly k uniformly random targets per source"))
CONNECTION_PATTERNS.register("hierarchical_blocks")(Pattern(
    {"levels": REQUIRED, "base_size": REQUIRED, "tier_fractions": None}, _hierarchical_blocks,
    "nested blocks, interneurons of each tier connected all to all (square, base_size^levels)"))
CONNECTION_PATTERNS.register("custom")(Pattern(
    {"mask_file": None, "file_path": None}, _custom_mask,
    "0/1 mask [to, from] from a .npz (array 'mask') or .npy file"))

#: Every key some pattern reads (for telling unused keys from typos).
PATTERN_KEYS: tuple[str, ...] = tuple(sorted(
    {k for n in CONNECTION_PATTERNS.names() for k in CONNECTION_PATTERNS.get(n).defaults}))


def build_mask(pattern: str, n_from: int, n_to: int, params: Mapping[str, Any], *,
               allow_self: bool, generator: Gen) -> Tensor:
    """0/1 float32 mask [n_to, n_from] of ``pattern``; keys it does not read are ignored.

    ``allow_self=False`` clears the diagonal of every square mask afterwards (inter-layer
    connections of equal size included, as in the original).

    Args:
        pattern: pattern name or alias (``CONNECTION_PATTERNS``).
        n_from: nodes of the source layer.
        n_to: nodes of the target layer.
        params: the pattern's parameters (missing ones take their defaults).
        allow_self: keep the diagonal of a square mask.
        generator: torch generator for random patterns (None: torch's global one).
    """
    name = CONNECTION_PATTERNS.canonical(pattern)
    entry = CONNECTION_PATTERNS.get(name)
    merged = merge_defaults(params, entry.defaults, f"connection pattern '{name}'")
    mask = entry.build(int(n_from), int(n_to), merged, bool(allow_self), generator).float()
    if not allow_self and n_from == n_to:
        mask = mask * (1 - torch.eye(n_to))
    return mask


def pattern_defaults(name: str) -> Mapping[str, object]:
    """Parameter table of the pattern ``name`` (error lists valid names)."""
    return CONNECTION_PATTERNS.get(name).defaults

