"""The compiled pieces of JAX training: loss + gradients of one batch, and the optimiser update.

``StepFunctions`` holds two ``jax.jit`` functions built from a ``JaxSOEN``, the loss list
and the output alignment (mapping, paradigm, time pooling):

- ``loss_and_grads(trainable, frozen, x, y, weights, scale)`` -> (grads, total, terms,
  outputs, targets): outputs/targets are the aligned arrays the metrics need;
- ``evaluate(trainable, frozen, x, y, weights, scale)`` -> (total, terms, outputs, targets);
- ``apply_update(trainable, opt_state, grads, lr)`` -> (trainable, opt_state): the
  optimiser direction scaled by -lr, then the model's constraints (clamps, masks).

Loss-term weights and the pooling scale are traced arguments, so schedules that change
them never trigger a recompilation; a new batch shape (e.g. a smaller last batch) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from .losses import JaxLossContext, JaxWeightedLoss
from .pooling import pool_time_jax
from .simulator import JaxSOEN

Array = jax.Array
Params = Dict[str, Array]


@dataclass(frozen=True)
class Alignment:
    """How the output history meets the targets (the torch ``align`` rules)."""

    mapping: str  # seq2static | seq2seq
    paradigm: str  # supervised | self_supervised | distillation
    pooling_name: str
    pooling_params: Tuple[Tuple[str, Any], ...]  # without ``scale`` (that one is traced)

    def __call__(
        self, history: Array, targets: Optional[Array], inputs: Array, scale: Array
    ) -> Tuple[Array, Optional[Array], Optional[Array]]:
        """(outputs, targets, pooled) from a history [B, T+1, C]."""
        steps = history[:, 1:, :]
        if self.paradigm == "self_supervised":
            targets = inputs
        if self.mapping == "seq2static":
            pooled = pool_time_jax(
                steps, self.pooling_name, {**dict(self.pooling_params), "scale": scale}
            )
            return pooled, targets, pooled
        if targets is not None and targets.ndim >= 2 and targets.shape[1] != steps.shape[1]:
            raise ValueError(
                f"seq2seq targets have {targets.shape[1]} steps but the model output has "
                f"{steps.shape[1]}; set data.target_seq_len so inputs and labels have the same "
                "length"
            )
        return steps, targets, None


class StepFunctions:
    """jit-compiled loss/gradient and update functions for one model and config."""

    def __init__(
        self,
        jax_model: JaxSOEN,
        loss: JaxWeightedLoss,
        alignment: Alignment,
        optimizer: optax.GradientTransformation,
    ) -> None:
        self.jax_model = jax_model
        self.loss = loss
        self.alignment = alignment
        self.optimizer = optimizer
        self.loss_and_grads = jax.jit(self._loss_and_grads)
        self.evaluate = jax.jit(self._evaluate)
        self.apply_update = jax.jit(self._apply_update)

    def _objective(
        self,
        trainable: Params,
        frozen: Params,
        x: Array,
        y: Optional[Array],
        weights: Mapping[str, Array],
        scale: Array,
    ):
        params = {**trainable, **frozen}
        sim = self.jax_model.simulate_traced(params, x)
        history = sim.states[self.jax_model.output_layer]
        outputs, targets, pooled = self.alignment(history, y, x, scale)
        ctx = JaxLossContext(
            outputs=outputs,
            targets=targets,
            pooled=pooled,
            pooling_scale=scale,
            weights=self.jax_model.connection_weights(params),
            states=sim.states,
            output_layer=self.jax_model.output_layer,
            inputs=x,
        )
        total, terms = self.loss(ctx, weights)
        return total, (terms, outputs, targets)

    def _loss_and_grads(
        self,
        trainable: Params,
        frozen: Params,
        x: Array,
        y: Optional[Array],
        weights: Mapping[str, Array],
        scale: Array,
    ):
        (total, (terms, outputs, targets)), grads = jax.value_and_grad(
            self._objective, has_aux=True
        )(trainable, frozen, x, y, weights, scale)
        return grads, total, terms, outputs, targets

    def _evaluate(
        self,
        trainable: Params,
        frozen: Params,
        x: Array,
        y: Optional[Array],
        weights: Mapping[str, Array],
        scale: Array,
    ):
        total, (terms, outputs, targets) = self._objective(trainable, frozen, x, y, weights, scale)
        return total, terms, outputs, targets

    def _apply_update(self, trainable: Params, opt_state: Any, grads: Params, lr: Array):
        direction, opt_state = self.optimizer.update(grads, opt_state, trainable)
        stepped = jax.tree_util.tree_map(lambda p, d: p - lr * d, trainable, direction)
        return self.jax_model.enforce_constraints(stepped), opt_state


def tree_mean(trees: list) -> Params:
    """Element-wise mean of a list of equally shaped pytrees (gradient accumulation)."""
    total = jax.tree_util.tree_map(lambda *leaves: sum(leaves[1:], leaves[0]), *trees)
    return jax.tree_util.tree_map(lambda leaf: leaf / len(trees), total)


def as_weight_arrays(weights: Mapping[str, float]) -> Dict[str, Array]:
    """Loss-term weights as float32 scalars (traced, so changing them does not recompile)."""
    return {k: jnp.asarray(v, dtype=jnp.float32) for k, v in weights.items()}
