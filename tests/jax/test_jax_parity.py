"""Parity: the JAX simulator gives the torch model's histories (1e-5) and gradients (1e-4).

Every layer type, every source function, both solvers (FE, PS), both input types and all
three network evaluation methods run on the same weights in torch and JAX. Gradients are
compared entry by entry relative to the tensor's largest torch gradient (at least 1).
"""

from __future__ import annotations

import model_zoo as zoo
import numpy as np
import pytest
import torch
from parity_runs import jax_run, random_readout, torch_run

from soen_train.jax.simulator import JaxSOEN
from soen_train.model.network import SOENModel

METHODS = ["layerwise", "stepwise_gauss_seidel", "stepwise_jacobi"]
BATCH, STEPS = 3, 12
STATE_TOL = 1e-5
GRAD_TOL = 1e-4
PHI_ONLY_SOURCES = {"Tanh", "ReLU", "SimpleGELU", "Telu"}


def _unused_params(arch: dict) -> set:
    """Parameters a phi-only source never reads (their gradient is legitimately zero)."""
    return {
        f"layers.{layer['layer_id']}.bias_current"
        for layer in arch["layers"]
        if layer["params"].get("source_func") in PHI_ONLY_SOURCES
    }


def _compare(arch: dict, seed: int = 3) -> None:
    model = SOENModel.from_yaml(arch, seed=seed)
    torch.manual_seed(seed)
    x = torch.rand(BATCH, STEPS, model.input_dim)
    readout = random_readout(model, BATCH, STEPS, seed)
    t_states, t_grads = torch_run(model, x, readout)
    jax_model, params = JaxSOEN.from_torch(model)
    j_states, j_grads = jax_run(jax_model, params, x.numpy(), readout)
    assert sorted(j_states) == sorted(t_states)
    for lid, hist in t_states.items():
        assert j_states[lid].shape == hist.shape == (BATCH, STEPS + 1, hist.shape[2])
        assert np.abs(hist[:, 1:]).max() > 1e-3, (
            f"layer {lid} stays at zero: the test would prove nothing"
        )
        np.testing.assert_allclose(
            j_states[lid], hist, rtol=0, atol=STATE_TOL, err_msg=f"layer {lid}"
        )
    assert sorted(j_grads) == sorted(t_grads)
    for name, grad in t_grads.items():
        if name not in _unused_params(arch):
            assert np.abs(grad).max() > 0, f"{name} gets no gradient in torch"
        scale = max(1.0, float(np.abs(grad).max()))
        np.testing.assert_allclose(
            j_grads[name] / scale, grad / scale, rtol=0, atol=GRAD_TOL, err_msg=name
        )


@pytest.mark.parametrize("method", METHODS)
def test_every_layer_type_forward_euler(method: str) -> None:
    """Input, SingleDendrite, WICC, NOCC, RNN, LeakyGRU, MinGRU, NonLinear with internal
    connections, a sparse mask and (stepwise) a feedback edge; RateArray, Heaviside and
    TanhGauss1p7IBFit sources."""
    _compare(zoo.every_layer_fe(method))


@pytest.mark.parametrize("method", METHODS)
def test_parallel_scan_solver(method: str) -> None:
    """PS layers (dendrite, WICC, the virtual cells) with Tanh, SimpleGELU, Telu, ReLU sources."""
    _compare(zoo.every_layer_ps(method))


@pytest.mark.parametrize("method", METHODS)
def test_dynamic_edges(method: str) -> None:
    """WICC and NOCC edges between layers and as internal connections (auto and given j_out,
    half_flux_offset, phi-only and current-dependent sources), feedback edges stepwise."""
    _compare(zoo.dynamic_edges(method))


@pytest.mark.parametrize("method", ["layerwise", "stepwise_jacobi"])
def test_flux_input(method: str) -> None:
    """``input_type: flux``: the input is added to the first layer's flux."""
    _compare(zoo.flux_input(method))


def test_learnable_dt_gets_the_same_gradient() -> None:
    arch = zoo.pulse_net(dt_learnable=True)
    for layer in arch["layers"][1:]:
        layer["params"]["gamma_plus"] = {"distribution": "constant", "params": {"value": 0.05}}
    _compare(arch)


def test_initial_states_and_tracked_signals_match() -> None:
    """Carried-over states (incl. NOCC s1/s2) and tracked phi/g agree with torch (the g of
    a recurrent cell is its new output h)."""
    model = SOENModel.from_yaml(zoo.every_layer_fe("stepwise_gauss_seidel"), seed=5)
    x = torch.rand(2, 6, model.input_dim)
    first = model.simulate(x)
    carry = first.final_states()
    assert (3, "s1") in carry and (3, "s2") in carry
    second = model.simulate(x, initial_states=carry, track_phi=True, track_g=True)
    jax_model, params = JaxSOEN.from_torch(model)
    sim = jax_model.simulate(
        params,
        x.numpy(),
        initial_states={k: v.detach().numpy() for k, v in carry.items()},
        track_phi=True,
        track_g=True,
    )
    for lid in model.layer_ids:
        np.testing.assert_allclose(
            np.asarray(sim.states[lid]), second.states[lid].detach().numpy(), atol=STATE_TOL
        )
        np.testing.assert_allclose(
            np.asarray(sim.phi[lid]), second.phi[lid].detach().numpy(), atol=STATE_TOL
        )
        np.testing.assert_allclose(
            np.asarray(sim.g[lid]), second.g[lid].detach().numpy(), atol=STATE_TOL
        )
    for name in ("s1", "s2"):
        np.testing.assert_allclose(
            np.asarray(sim.aux_final[3][name]),
            second.aux_final[3][name].detach().numpy(),
            atol=STATE_TOL,
        )
    # a [D] initial state broadcasts over the batch, as in torch
    s0 = np.full(model.layer(1).dim, 0.1, dtype=np.float32)
    out = jax_model.apply(params, x.numpy(), initial_states={1: s0})
    ref = model.simulate(x, initial_states={1: torch.from_numpy(s0)})
    np.testing.assert_allclose(np.asarray(out[1][:, 0]), np.broadcast_to(s0, (2, s0.size)))
    np.testing.assert_allclose(np.asarray(out[9]), ref.states[9].detach().numpy(), atol=STATE_TOL)


def test_params_round_trip_to_torch() -> None:
    """params are keyed like parameters_by_name(); to_torch_state/write_to_torch give them back."""
    model = SOENModel.from_yaml(zoo.pulse_net(), seed=1)
    jax_model, params = JaxSOEN.from_torch(model)
    assert sorted(params) == sorted(model.parameters_by_name())
    assert jax_model.trainable == frozenset(
        n for n, p in model.parameters_by_name().items() if p.requires_grad
    )
    shifted = {k: v + 0.01 for k, v in params.items()}
    state = jax_model.to_torch_state(shifted)
    for name, p in model.parameters_by_name().items():
        np.testing.assert_allclose(state[name].numpy(), p.detach().numpy() + 0.01, rtol=1e-6)
    other = SOENModel.from_yaml(zoo.pulse_net(), seed=2)
    jax_model.write_to_torch(shifted, other)
    for name, p in other.parameters_by_name().items():
        np.testing.assert_array_equal(p.detach().numpy(), np.asarray(shifted[name]))


def test_constraints_match_torch_enforce() -> None:
    """Clamps, polarity and masks after a step: JAX enforce == torch enforce_constraints."""
    arch = zoo.pulse_net()
    arch["layers"][1]["params"]["polarity"] = [1, -1, 0, 1, -1]
    arch["layers"][1]["params"]["bias_current"] = {
        "distribution": "constant",
        "params": {"value": 1.9},
        "constraints": {"min": 1.8, "max": 2.0},
    }
    arch["connections"][2]["connection_type"] = "sparse"
    arch["connections"][2]["params"]["sparsity"] = 0.5
    model = SOENModel.from_yaml(arch, seed=4)
    jax_model, params = JaxSOEN.from_torch(model)
    rng = np.random.default_rng(0)
    wild = {
        k: np.asarray(v) + rng.normal(scale=0.5, size=np.shape(v)).astype(np.float32)
        for k, v in params.items()
    }
    with torch.no_grad():
        for name, p in model.parameters_by_name().items():
            p.copy_(torch.from_numpy(wild[name]))
    model.enforce_constraints()
    clamped = jax_model.enforce_constraints({k: np.asarray(v) for k, v in wild.items()})
    for name, p in model.parameters_by_name().items():
        np.testing.assert_allclose(
            np.asarray(clamped[name]), p.detach().numpy(), atol=1e-7, err_msg=name
        )
    w = np.asarray(clamped["connections.1_to_2"])
    assert np.all(w[:, [0, 3]] >= 0) and np.all(w[:, [1, 4]] <= 0)
    assert np.all(np.abs(w) <= 0.24 + 1e-7)
