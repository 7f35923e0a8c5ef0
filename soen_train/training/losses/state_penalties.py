"""Losses on the internal state histories: aliveness, decay after a sample, zero final output.

They read the full simulation result (``ctx.sim``): ``states[layer_id]`` histories
[B, T+1, D] with step 0 the initial state, and ``g[layer_id]`` [B, T, D] when g is tracked.
States and g are dimensionless.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.catalog.param_checks import check_int_list
from soen_train.training.losses.context import LossContext
from soen_train.training.losses.model_access import check_layer_ids, layer_types

#: Layer type whose g (dendritic drive) must vanish after a sample.
DENDRITE_TYPE = "SingleDendrite"


def _histories(sim: Any, loss: str) -> dict[int, torch.Tensor]:
    states = getattr(sim, "states", None)
    if not states:
        raise ValueError(f"loss '{loss}' needs the layer histories in ctx.sim.states")
    return {int(k): v for k, v in states.items()}


@LOSS_CATALOG.torch("average_state_magnitude_loss")
def average_state_magnitude_loss(
    ctx: LossContext,
    target_magnitude: float = 0.5,
    loss_type: str = "mse",
    factor: float = 1.0,
    layer_ids: Iterable[int] | None = None,
) -> torch.Tensor:
    """factor * (m - target)^2 (mse/l2) or factor * |m - target| (mae/l1).

    m = mean |s| over every element (batch, steps 1..T, nodes) of the selected layers'
    histories, pooled together; default all layers.
    """
    loss = "average_state_magnitude_loss"
    histories = _histories(ctx.require_sim(loss), loss)
    ids = list(histories) if layer_ids is None else check_layer_ids(
        check_int_list(f"loss '{loss}'", "layer_ids", layer_ids), histories, loss, "in the simulation"
    )
    flat = [(h[:, 1:] if h.shape[1] > 1 else h).abs().reshape(-1) for h in (histories[i] for i in ids)]
    magnitude = torch.cat(flat).mean()
    diff = magnitude - target_magnitude
    return factor * (diff.pow(2) if loss_type in ("mse", "l2") else diff.abs())


@LOSS_CATALOG.torch("final_timestep_zero_mse")
def final_timestep_zero_mse(ctx: LossContext) -> torch.Tensor:
    """Mean square of the raw output layer's state at the last step: outputs should return to 0."""
    sim = ctx.require_sim("final_timestep_zero_mse")
    return sim.output[:, -1, :].pow(2).mean()


def _dendrite_layers(model: Any, layer_ids: Iterable[int] | None, loss: str) -> list[int]:
    types = layer_types(model)
    dendrites = [lid for lid, kind in types.items() if kind.lower() == DENDRITE_TYPE.lower()]
    if layer_ids is not None:
        return check_layer_ids(
            check_int_list(f"loss '{loss}'", "layer_ids", layer_ids), dendrites, loss,
            f"{DENDRITE_TYPE} layers",
        )
    if not dendrites:
        raise ValueError(f"loss '{loss}': the model has no {DENDRITE_TYPE} layer to act on")
    return dendrites


def _tracked_g(sim: Any, layer_id: int, loss: str) -> torch.Tensor:
    g = getattr(sim, "g", None) or {}
    if layer_id not in g:
        raise ValueError(
            f"loss '{loss}' needs g of layer {layer_id}; simulate with track_g=True "
            "(the trainer does so when a loss declares needs 'track_g')"
        )
    return g[layer_id]


@LOSS_CATALOG.torch("ensure_post_sample_decay")
def ensure_post_sample_decay(
    ctx: LossContext, zero_input_steps: int = 0, layer_ids: Iterable[int] | None = None
) -> torch.Tensor:
    """Mean |g| of the SingleDendrite layers at the sample's final step (states should then decay).

    With ``zero_input_steps`` = n > 0 the model continues from its final states for n steps
    of zero input, and the mean runs over the final step plus those n steps. A mean, not the
    original's sum over batch and nodes, so the value does not grow with the batch size.
    """
    loss = "ensure_post_sample_decay"
    sim = ctx.require_sim(loss)
    model = ctx.require_model(loss)
    ids = _dendrite_layers(model, layer_ids, loss)
    parts = [_tracked_g(sim, lid, loss)[:, -1, :].abs().reshape(-1) for lid in ids]
    if zero_input_steps > 0:
        x = ctx.require_inputs(loss)
        zeros = x.new_zeros(x.shape[0], int(zero_input_steps), x.shape[2])
        after = model.simulate(zeros, initial_states=sim.final_states(), track_g=True)
        parts += [_tracked_g(after, lid, loss).abs().reshape(-1) for lid in ids]
    return torch.cat(parts).mean()
