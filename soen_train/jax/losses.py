"""Losses in JAX, registered against the declarations of ``soen_train.catalog.losses``.

Each loss is ``fn(ctx: JaxLossContext, **params) -> scalar`` and computes the same number
as its torch namesake (same alignment rules, defaults and reductions). Names, params and
values are checked by the shared declarations (``LossTerms``), so a config means the same on
both backends; a signature that differs from its declaration fails when this module is
imported. A loss the JAX backend does not implement is a ``JaxUnsupportedError`` naming its
place in ``training.loss.losses`` and the declared reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from soen_train.catalog.codebooks import codebook_values
from soen_train.catalog.connection_selection import select_connections
from soen_train.catalog.loss_checks import PADDING_LABEL
from soen_train.catalog.loss_terms import CONFIG_PATH, LossTerm, LossTerms
from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.registry import Registry, UnknownNameError

from .errors import JaxUnsupportedError

Array = jax.Array

#: Catalog of JAX losses, keyed by the declared names.
JAX_LOSSES: Registry[Callable[..., Array]] = LOSS_CATALOG.registry("jax")


@dataclass
class JaxLossContext:
    """What a loss may read for one batch (the JAX twin of ``LossContext``).

    outputs: pooled and scaled [B, C] (seq2static) or the output history without step 0
        [B, T, C] (seq2seq). targets: aligned labels or None. pooled: [B, C] or None.
    pooling_scale: the pooling ``scale``. weights: masked learnable connection weights
        {'<a>_to_<b>': [to, from]}. states: every layer's history {id: [B, T+1, D]}.
    """

    outputs: Array
    targets: Optional[Array] = None
    pooled: Optional[Array] = None
    pooling_scale: Any = 1.0
    weights: Dict[str, Array] = field(default_factory=dict)
    states: Dict[int, Array] = field(default_factory=dict)
    output_layer: int = -1
    inputs: Optional[Array] = None

    def require_targets(self, loss: str) -> Array:
        """Targets, or an error saying that ``loss`` needs labels."""
        if self.targets is None:
            raise ValueError(f"loss '{loss}' needs targets, but this batch has none")
        return self.targets

    def require_pooled(self, loss: str) -> Array:
        """Pooled outputs, or an error saying that ``loss`` needs mapping seq2static."""
        if self.pooled is None:
            raise ValueError(
                f"loss '{loss}' works on pooled outputs [B, C]; use mapping seq2static to use it"
            )
        return self.pooled

    def output_states(self) -> Array:
        """Pooled outputs if any, else the output history (what output penalties act on)."""
        return self.pooled if self.pooled is not None else self.outputs


def _masked_mean_ce(logits: Array, labels: Array, ignore_index: int) -> Array:
    """Mean cross entropy over labels != ignore_index (NaN when none is valid, as torch)."""
    labels = labels.astype(jnp.int32)
    valid = labels != ignore_index
    safe = jnp.where(valid, labels, 0)
    logp = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(logp, safe[:, None], axis=-1)[:, 0]
    return -jnp.sum(jnp.where(valid, picked, 0.0)) / jnp.sum(valid)


@LOSS_CATALOG.jax("cross_entropy")
def cross_entropy(ctx: JaxLossContext, ignore_index: int = PADDING_LABEL) -> Array:
    """Mean cross entropy: [B, C] vs [B] (seq2static) or [B, T, C] vs [B, T] (flattened)."""
    targets = ctx.require_targets("cross_entropy")
    logits = ctx.outputs
    if logits.ndim == 2 and targets.ndim == 1 and targets.shape[0] == logits.shape[0]:
        return _masked_mean_ce(logits, targets, int(ignore_index))
    if logits.ndim == 3 and targets.ndim == 2 and tuple(targets.shape) == tuple(logits.shape[:2]):
        return _masked_mean_ce(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), int(ignore_index)
        )
    raise ValueError(
        f"loss 'cross_entropy': outputs {tuple(logits.shape)} and targets "
        f"{tuple(targets.shape)} do "
        "not align; expected [B, C] with [B] (seq2static) or [B, T, C] with [B, T] (seq2seq)"
    )


@LOSS_CATALOG.jax("autoregressive_cross_entropy")
def autoregressive_cross_entropy(ctx: JaxLossContext, ignore_index: int = PADDING_LABEL) -> Array:
    """Next-token cross entropy: the output at step t is scored against the token at t+1."""
    logits = ctx.outputs
    if ctx.targets is not None:
        tokens = ctx.targets
    elif ctx.inputs is not None and ctx.inputs.ndim == 3:
        x = ctx.inputs
        tokens = x[..., 0] if x.shape[-1] == 1 else jnp.argmax(x, axis=-1)
    else:
        raise ValueError(
            "loss 'autoregressive_cross_entropy' found no token ids (targets or one-hot inputs)"
        )
    if logits.ndim != 3 or tuple(tokens.shape) != tuple(logits.shape[:2]) or tokens.shape[1] < 2:
        raise ValueError(
            "loss 'autoregressive_cross_entropy' needs outputs [B, T, V] and tokens [B, T] "
            "with T >= 2, "
            f"got {tuple(logits.shape)} and {tuple(tokens.shape)}"
        )
    step_logits = logits[:, :-1, :].reshape(-1, logits.shape[-1])
    return _masked_mean_ce(step_logits, tokens[:, 1:].reshape(-1), int(ignore_index))


def align_for_mse(outputs: Array, targets: Array) -> Tuple[Array, Array]:
    """The torch ``align_for_mse`` rules on JAX arrays (shapes are static)."""
    out, tgt = outputs, targets
    if out.ndim == 3 and tgt.ndim == 3 and out.shape[0] == tgt.shape[0]:
        if out.shape[1] == tgt.shape[1] + 1:
            out = out[:, 1:]
        elif tgt.shape[1] == out.shape[1] + 1:
            tgt = tgt[:, 1:]
    elif (
        out.ndim == 3
        and tgt.ndim == 2
        and out.shape[2] == 1
        and tuple(tgt.shape) == tuple(out.shape[:2])
    ):
        tgt = tgt[..., None]
    elif out.ndim == 2 and tgt.ndim == 3:
        tgt = jnp.mean(tgt, axis=1)
    elif out.ndim == 3 and tgt.ndim == 2:
        out = jnp.mean(out, axis=1)
    elif out.ndim == 2 and out.shape[1] == 1 and tgt.ndim == 1:
        tgt = tgt[:, None]
    if tuple(out.shape) != tuple(tgt.shape):
        raise ValueError(
            f"loss 'mse': outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} "
            "cannot be "
            "aligned; expected equal shapes, [B, K] vs [B, T, K], or histories that differ by the "
            "initial step"
        )
    return out, tgt.astype(out.dtype)


@LOSS_CATALOG.jax("mse")
def mse(ctx: JaxLossContext) -> Array:
    """Mean squared error between aligned outputs and targets."""
    out, tgt = align_for_mse(ctx.outputs, ctx.require_targets("mse"))
    return jnp.mean((out - tgt) ** 2)


def _learnable_weights(
    ctx: JaxLossContext, loss: str, names: Optional[Iterable[str]] = None
) -> Dict[str, Array]:
    """The selected learnable connection weights (all when ``names`` is None)."""
    return select_connections(ctx.weights, names, loss)


@LOSS_CATALOG.jax("reg_J_loss")
def reg_j_loss(
    ctx: JaxLossContext, threshold: float = 0.24, scale: float = 1.0, factor: float = 0.01
) -> Array:
    """factor * sum over learnable weights of (exp(scale * max(0, |w| - threshold)) - 1)."""
    total = 0.0
    for w in _learnable_weights(ctx, "reg_J_loss").values():
        total = total + jnp.sum(jnp.expm1(scale * jax.nn.relu(jnp.abs(w) - threshold)))
    return factor * total


def _logits_labels(ctx: JaxLossContext, loss: str) -> Tuple[Array, Array]:
    z = ctx.require_pooled(loss)
    y = ctx.require_targets(loss)
    if z.ndim != 2 or y.ndim != 1 or y.shape[0] != z.shape[0]:
        raise ValueError(
            f"loss '{loss}' needs pooled logits [B, C] and class ids [B], got {tuple(z.shape)} "
            f"and {tuple(y.shape)}"
        )
    return z, y.astype(jnp.int32)


@LOSS_CATALOG.jax("top_gap_loss")
def top_gap_loss(
    ctx: JaxLossContext,
    separation_threshold: float = 0.1,
    max_penalty_offset: float = 1.0,
    factor: float = 1.0,
) -> Array:
    """On raw pooled outputs z = pooled / scale: wrong top-1 -> max_penalty_offset, correct ->
    max_penalty_offset * max(0, sep - (z1 - z2)) / sep; factor * mean."""
    z, y = _logits_labels(ctx, "top_gap_loss")
    z = z / ctx.pooling_scale
    if z.shape[0] == 0 or z.shape[1] < 2:
        return jnp.sum(z) * 0.0
    values, indices = jax.lax.top_k(z, 2)
    correct = indices[:, 0] == y
    gap = values[:, 0] - values[:, 1]
    shortfall = jax.nn.relu(separation_threshold - gap) / separation_threshold
    penalty = jnp.where(correct, max_penalty_offset * shortfall, max_penalty_offset)
    return factor * jnp.mean(penalty)


@LOSS_CATALOG.jax("gap_loss")
def gap_loss(ctx: JaxLossContext, margin: float = 1.0) -> Array:
    """mean_b sum_{c != y} relu(z_c - z_y + margin) on pooled (scaled) logits."""
    z, y = _logits_labels(ctx, "gap_loss")
    z_true = jnp.take_along_axis(z, y[:, None], axis=1)
    hinge = jax.nn.relu(z - z_true + margin)
    wrong = jnp.arange(z.shape[1])[None, :] != y[:, None]
    return jnp.mean(jnp.sum(jnp.where(wrong, hinge, 0.0), axis=1))


def nearest_code(w: Array, book: np.ndarray) -> Array:
    """The codebook level nearest to each entry of ``w`` (ties to the lower level), no gradient."""
    levels = jnp.asarray(np.sort(book), dtype=w.dtype)
    flat = jax.lax.stop_gradient(w).reshape(-1)
    upper_idx = jnp.minimum(jnp.searchsorted(levels, flat, side="left"), levels.shape[0] - 1)
    lower_idx = jnp.maximum(upper_idx - 1, 0)
    lower, upper = levels[lower_idx], levels[upper_idx]
    pick_lower = jnp.abs(flat - lower) <= jnp.abs(upper - flat)
    return jnp.where(pick_lower, lower, upper).reshape(w.shape)


@LOSS_CATALOG.jax("gravity_quantization_loss")
def gravity_quantization_loss(
    ctx: JaxLossContext,
    codebook: Optional[Sequence[float]] = None,
    min_val: Optional[float] = None,
    max_val: Optional[float] = None,
    bits: Optional[int] = None,
    levels: Optional[int] = None,
    factor: float = 1.0,
    connections: Optional[Iterable[str]] = None,
    mode: str = "mae",
) -> Array:
    """factor * mean over selected learnable weights of |w - nearest level| (or its square)."""
    owner = "loss 'gravity_quantization_loss'"
    book = np.asarray(codebook_values(codebook, min_val, max_val, bits, levels, owner), np.float32)
    names = None if connections is None else list(connections)
    weights = _learnable_weights(ctx, "gravity_quantization_loss", names)
    flat = jnp.concatenate([w.reshape(-1) for w in weights.values()])
    diff = flat - nearest_code(flat, book)
    dist = jnp.abs(diff) if mode in ("mae", "l1") else diff * diff
    return factor * jnp.mean(dist)


@LOSS_CATALOG.jax("get_off_the_ground_loss")
def get_off_the_ground_loss(
    ctx: JaxLossContext,
    threshold: float = 0.01,
    min_penalty_offset: float = 0.5,
    max_penalty_offset: float = 10.0,
    factor: float = 1.0,
) -> Array:
    """Ramp penalty for |s| <= threshold (max at 0, min at the threshold, clipped at 0).

    Result: factor * mean.
    """
    a = jnp.abs(ctx.output_states())
    ramp = max_penalty_offset + (min_penalty_offset - max_penalty_offset) * a / threshold
    return factor * jnp.mean(jnp.where(a <= threshold, jax.nn.relu(ramp), 0.0))


@LOSS_CATALOG.jax("exp_high_state_penalty")
def exp_high_state_penalty(
    ctx: JaxLossContext, threshold: float = 1.0, scale: float = 1.0, factor: float = 1.0
) -> Array:
    """factor * mean(exp(scale * max(0, |s| - threshold)) - 1)."""
    excess = jax.nn.relu(jnp.abs(ctx.output_states()) - threshold)
    return factor * jnp.mean(jnp.expm1(scale * excess))


@LOSS_CATALOG.jax("average_state_magnitude_loss")
def average_state_magnitude_loss(
    ctx: JaxLossContext,
    target_magnitude: float = 0.5,
    loss_type: str = "mse",
    factor: float = 1.0,
    layer_ids: Optional[Iterable[int]] = None,
) -> Array:
    """factor * (mean |s| over the selected layers' steps 1..T - target)^2 (or its abs)."""
    ids = list(ctx.states) if layer_ids is None else [int(i) for i in layer_ids]
    bad = [i for i in ids if i not in ctx.states]
    if bad:
        raise ValueError(
            f"loss 'average_state_magnitude_loss': layer_ids {bad} are not layers; "
            f"valid: {sorted(ctx.states)}"
        )
    parts = [
        jnp.abs(h[:, 1:] if h.shape[1] > 1 else h).reshape(-1) for h in (ctx.states[i] for i in ids)
    ]
    diff = jnp.mean(jnp.concatenate(parts)) - target_magnitude
    return factor * (diff * diff if loss_type in ("mse", "l2") else jnp.abs(diff))


@LOSS_CATALOG.jax("final_timestep_zero_mse")
def final_timestep_zero_mse(ctx: JaxLossContext) -> Array:
    """Mean square of the output layer's state at the last step."""
    out = ctx.states[ctx.output_layer]
    return jnp.mean(out[:, -1, :] ** 2)


#: One validated loss term (the shared ``LossTerm``: key, name, params).
JaxLossTerm = LossTerm


class JaxWeightedLoss:
    """total = sum_i weight_i * loss_i, validated by the shared ``LossTerms`` rules."""

    def __init__(self, items: Iterable[Any], where: str = CONFIG_PATH) -> None:
        checked = LossTerms(list(items))  # names, params and weights: the declared rules
        self.terms: List[JaxLossTerm] = []
        for index, term in enumerate(checked.terms):
            if term.name not in JAX_LOSSES:
                raise JaxUnsupportedError(
                    f"{where}[{index}]: {LOSS_CATALOG.unavailable('jax', term.name)}; remove it "
                    "or use training.backend=torch"
                )
            self.terms.append(term)
        self.weights: Dict[str, float] = checked.weights
        self._checked = checked

    @property
    def term_keys(self) -> List[str]:
        """Keys of the terms in config order."""
        return [t.key for t in self.terms]

    @property
    def needs_states(self) -> bool:
        """True when a term reads layer histories other than the output."""
        return any(t.name in ("average_state_magnitude_loss",) for t in self.terms)

    def resolve_key(self, name: str) -> str:
        """The term key ``name`` designates (a key, or a loss name with one term); else an error."""
        return self._checked.resolve_key(name)

    def set_weight(self, name: str, weight: float) -> None:
        """Change a term's weight (by key or loss name); unknown names are an error."""
        self._checked.set_weight(name, weight)
        self.weights = self._checked.weights

    def __call__(
        self, ctx: JaxLossContext, weights: Mapping[str, Any]
    ) -> Tuple[Array, Dict[str, Array]]:
        """(total, {key: unweighted value}); ``weights`` may be traced (scheduled weights)."""
        values: Dict[str, Array] = {}
        total = 0.0
        for term in self.terms:
            value = JAX_LOSSES.get(term.name)(ctx, **term.params)
            values[term.key] = value
            total = total + weights[term.key] * value
        return total, values


def jax_loss_names() -> List[str]:
    """Names of the losses the JAX backend implements."""
    return JAX_LOSSES.names()


LOSS_CATALOG.check_complete("jax")

__all__ = [
    "JAX_LOSSES",
    "JaxLossContext",
    "JaxWeightedLoss",
    "UnknownNameError",
    "align_for_mse",
    "jax_loss_names",
    "nearest_code",
]
