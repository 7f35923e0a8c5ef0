"""Run one model in torch and in JAX on the same weights: histories and parameter gradients."""

from __future__ import annotations

from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import torch


def torch_run(
    model: Any, x: torch.Tensor, readout: Dict[int, np.ndarray], initial_states: Any = None
) -> Tuple[Dict[int, np.ndarray], Dict[str, np.ndarray]]:
    """Histories and d(sum_l readout_l * history_l)/d(param) of a torch SOENModel."""
    model.zero_grad(set_to_none=True)
    sim = model.simulate(x, initial_states=initial_states)
    loss = sum((torch.from_numpy(readout[lid]) * h).sum() for lid, h in sim.states.items())
    loss.backward()
    states = {lid: h.detach().numpy() for lid, h in sim.states.items()}
    grads = {}
    for name, p in model.parameters_by_name().items():
        if p.requires_grad:
            grads[name] = (
                p.grad.numpy() if p.grad is not None else np.zeros(tuple(p.shape), np.float32)
            )
    return states, grads


def jax_run(
    jax_model: Any,
    params: Dict[str, Any],
    x: np.ndarray,
    readout: Dict[int, np.ndarray],
    initial_states: Any = None,
) -> Tuple[Dict[int, np.ndarray], Dict[str, np.ndarray]]:
    """The same as ``torch_run`` for the JAX twin (one jit compile for states and gradients)."""
    trainable, frozen = jax_model.split(params)
    weights = {lid: jnp.asarray(r) for lid, r in readout.items()}

    def objective(tr, fr, xx):
        states = jax_model.simulate_traced({**tr, **fr}, xx, initial_states).states
        return sum(jnp.sum(weights[lid] * h) for lid, h in states.items()), states

    (_, states), grads = jax.jit(jax.value_and_grad(objective, has_aux=True))(
        trainable, frozen, jnp.asarray(x)
    )
    return (
        {lid: np.asarray(h) for lid, h in states.items()},
        {k: np.asarray(v) for k, v in grads.items()},
    )


def random_readout(model: Any, batch: int, steps: int, seed: int = 0) -> Dict[int, np.ndarray]:
    """A fixed random weighting of every layer history (so every state enters the loss)."""
    rng = np.random.default_rng(seed)
    spec = {int(layer["layer_id"]): int(layer["params"]["dim"]) for layer in model.spec["layers"]}
    return {
        lid: rng.normal(size=(batch, steps + 1, dim)).astype(np.float32)
        for lid, dim in spec.items()
    }
