"""Physics of the layers and the network solvers against closed forms and each other."""

import math

import pytest
import torch
from soen_model_builders import arch, conn, feed_forward, layer, with_simulation

from soen_train.model import ArchitectureError, SOENModel
from soen_train.model.source_functions import build_source_function


def single_dendrite_driven(solver="FE", method="layerwise", gamma_minus=0.002, source="Tanh"):
    """One SingleDendrite layer fed with flux directly (input_type flux)."""
    spec = arch([layer(0, "SingleDendrite", 3, source_func=source, solver=solver, phi_offset=0.1,
                       gamma_plus=0.003, gamma_minus=gamma_minus, bias_current=1.8)], [],
                input_type="flux", network_evaluation_method=method, dt=20.0)
    return SOENModel.from_yaml(spec, seed=0).double()


@pytest.mark.parametrize("solver,method", [("FE", "layerwise"), ("PS", "layerwise"),
                                           ("FE", "stepwise_gauss_seidel"), ("FE", "stepwise_jacobi")])
def test_constant_drive_matches_closed_form(solver, method):
    model = single_dendrite_driven(solver, method)
    flux = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    steps = 40
    x = flux.expand(2, steps, 3).clone()
    s0 = torch.tensor([0.05, 0.0, 0.3], dtype=torch.float64)
    out = model(x, initial_states={0: s0})
    a = 1 - 20.0 * 0.002
    c = 20.0 * 0.003
    g = torch.tanh(flux + 0.1)
    fixed = c * g / (1 - a)
    t = torch.arange(steps + 1, dtype=torch.float64).view(-1, 1)
    expected = fixed + (s0 - fixed) * a**t
    assert torch.allclose(out[0], expected, atol=1e-12)
    assert torch.allclose(out[1], expected, atol=1e-12)


def test_no_leak_integrates_linearly():
    model = single_dendrite_driven(gamma_minus=0.0)
    x = torch.full((1, 25, 3), 0.4, dtype=torch.float64)
    out = model(x)[0]
    increment = 20.0 * 0.003 * math.tanh(0.5)
    assert torch.allclose(out[:, 0], increment * torch.arange(26, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("source", ["RateArray", "Heaviside_fit_state_dep"])
def test_state_dependent_first_steps_by_hand(source):
    model = single_dendrite_driven(source=source)
    src = build_source_function(source)
    x = torch.tensor([[[0.2, 0.35, 0.6], [0.25, 0.1, 0.45]]], dtype=torch.float64)
    out = model(x)[0]
    s = torch.zeros(3, dtype=torch.float64)
    for step in range(2):
        g = src.value(x[0, step] + 0.1, 1.8 - s)
        s = (1 - 20 * 0.002) * s + 20 * 0.003 * g
        assert torch.allclose(out[step + 1], s, atol=1e-12)


@pytest.mark.parametrize("source", ["RateArray", "Heaviside_fit_state_dep"])
def test_gauss_seidel_equals_layerwise_on_feed_forward(source):
    spec = feed_forward(source, internal=True)
    layerwise = SOENModel.from_yaml(spec, seed=4).double()
    stepwise = SOENModel.from_yaml(with_simulation(spec, network_evaluation_method="stepwise_gauss_seidel"),
                                   seed=4).double()
    x = torch.rand(3, 15, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y_l, y_s = layerwise(x), stepwise(x)
    assert torch.allclose(y_l, y_s, atol=1e-12)
    y_l.pow(2).sum().backward()
    y_s.pow(2).sum().backward()
    for (name, p_l), p_s in zip(layerwise.named_parameters(), stepwise.parameters()):
        if p_l.grad is not None:
            assert torch.allclose(p_l.grad, p_s.grad, atol=1e-10), name


def relay_chain(method):
    layers = [layer(0, "Input", 2), layer(1, "Input", 2), layer(2, "Input", 2)]
    conns = [conn(0, 1, "one_to_one", init="constant", value=1.0),
             conn(1, 2, "one_to_one", init="constant", value=1.0)]
    return SOENModel.from_yaml(arch(layers, conns, network_evaluation_method=method), seed=0)


def test_jacobi_delays_each_edge_by_one_step():
    x = torch.arange(1.0, 17.0).view(1, 8, 2)
    for method in ("layerwise", "stepwise_gauss_seidel"):
        out = relay_chain(method)(x)
        assert torch.equal(out[:, 1:], x)
    out = relay_chain("stepwise_jacobi")(x)
    assert torch.equal(out[:, :3], torch.zeros(1, 3, 2))
    assert torch.equal(out[:, 3:], x[:, :-2])  # two edges -> two steps late


def feedback_net(method):
    layers = [layer(0, "Input", 1), layer(1, "Input", 1), layer(2, "Input", 1)]
    conns = [conn(0, 1, "one_to_one", init="constant", value=1.0),
             conn(1, 2, "one_to_one", init="constant", value=1.0),
             conn(2, 1, "one_to_one", init="constant", value=0.5)]
    return SOENModel.from_yaml(arch(layers, conns, network_evaluation_method=method), seed=0)


def test_feedback_edges_see_the_previous_step():
    x = torch.tensor([1.0, 2.0, -1.0, 0.5, 0.0]).view(1, 5, 1)
    result = feedback_net("stepwise_gauss_seidel").simulate(x)
    s1 = result.states[1][0, :, 0]
    expected = [0.0]
    for step in range(5):
        expected.append(x[0, step, 0].item() + 0.5 * expected[-1])  # s2[t] = s1[t]
    assert torch.allclose(s1, torch.tensor(expected))
    assert torch.equal(result.states[2], result.states[1])
    jac = feedback_net("stepwise_jacobi").simulate(x)
    s0, j1, j2 = (jac.states[k][0, :, 0] for k in (0, 1, 2))
    for step in range(5):
        assert j1[step + 1].item() == pytest.approx(s0[step].item() + 0.5 * j2[step].item())
        assert j2[step + 1].item() == pytest.approx(j1[step].item())


def test_layerwise_with_feedback_edges_runs_as_gauss_seidel():
    layers = [layer(0, "Input", 1), layer(1, "Input", 1)]
    with pytest.warns(UserWarning, match="feedback connection 1->0 cannot run layerwise.*stepwise_gauss_seidel"):
        model = SOENModel.from_yaml(arch(layers, [conn(0, 1), conn(1, 0)]))
    assert model.architecture.simulation.network_evaluation_method == "stepwise_gauss_seidel"


def settling_net(**simulation):
    spec = arch([layer(0, "Input", 2),
                 layer(1, "SingleDendrite", 3, source_func="Tanh", gamma_plus=0.02, gamma_minus=0.02)],
                [conn(0, 1, init="constant", value=0.3)], dt=20.0,
                network_evaluation_method="stepwise_gauss_seidel", **simulation)
    return SOENModel.from_yaml(spec, seed=0).double()


def predicted_stop(deltas, levels, *, patience=None, tol=None, window=None, abs_tol=None, rel_tol=None,
                   min_steps=1):
    calm = 0
    for step, delta in enumerate(deltas):
        if step + 1 < min_steps:
            continue
        if window:
            if step + 1 >= window:
                recent = slice(step + 1 - window, step + 1)
                if max(deltas[recent]) <= abs_tol + rel_tol * max(max(levels[recent]), 1e-12):
                    return step + 1
        else:
            calm = calm + 1 if delta <= tol else 0
            if calm >= patience:
                return step + 1
    return len(deltas)


def test_early_stop_patience_mode():
    x = torch.full((2, 200, 2), 0.5, dtype=torch.float64)
    full = settling_net().simulate(x)
    states = torch.cat([full.states[k] for k in (0, 1)], dim=2)
    deltas = (states[:, 1:] - states[:, :-1]).abs().amax(dim=(0, 2)).tolist()
    levels = states[:, 1:].abs().amax(dim=(0, 2)).tolist()
    stop = predicted_stop(deltas, levels, patience=3, tol=1e-4, min_steps=5)
    assert 5 < stop < 200
    early = settling_net(early_stopping_forward_pass=True, early_stopping_tolerance=1e-4,
                         early_stopping_patience=3, early_stopping_min_steps=5, steady_window_min=0)
    result = early.simulate(x)
    assert result.steps == stop
    assert torch.allclose(result.output, full.output[:, : stop + 1])


def test_early_stop_window_mode():
    x = torch.full((2, 200, 2), 0.5, dtype=torch.float64)
    full = settling_net().simulate(x)
    states = torch.cat([full.states[k] for k in (0, 1)], dim=2)
    deltas = (states[:, 1:] - states[:, :-1]).abs().amax(dim=(0, 2)).tolist()
    levels = states[:, 1:].abs().amax(dim=(0, 2)).tolist()
    stop = predicted_stop(deltas, levels, window=10, abs_tol=1e-5, rel_tol=1e-3)
    assert 10 <= stop < 200
    early = settling_net(early_stopping_forward_pass=True, steady_window_min=10, steady_tol_abs=1e-5,
                         steady_tol_rel=1e-3)
    assert early.simulate(x).steps == stop


def test_early_stop_needs_a_stepwise_method():
    spec = arch([layer(0, "Input", 1)], [], early_stopping_forward_pass=True)
    with pytest.raises(ArchitectureError, match="stepwise"):
        SOENModel.from_yaml(spec)


PS_LAYERS = [("SingleDendrite", {"source_func": "Tanh"}), ("SingleDendrite", {"source_func": "SimpleGELU"}),
             ("MultiplierWICC", {"source_func": "Tanh"}), ("MinGRU", {}),
             ("NonLinear", {"source_func": "Telu"}), ("Input", {}), ("Softmax", {}), ("ScalingLayer", {})]


@pytest.mark.parametrize("layer_type,params", PS_LAYERS)
def test_parallel_scan_equals_forward_euler(layer_type, params):
    def build(solver):
        spec = arch([layer(0, "Input", 3), layer(1, layer_type, 4, solver=solver, **params)],
                    [conn(0, 1, init="uniform", min=-0.5, max=0.8)], dt=30.0)
        return SOENModel.from_yaml(spec, seed=2).double()

    fe, ps = build("FE"), build("PS")
    x = torch.rand(2, 37, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    s0 = {1: torch.rand(4, dtype=torch.float64)}
    y_fe, y_ps = fe(x, initial_states=s0), ps(x, initial_states=s0)
    assert torch.allclose(y_fe, y_ps, atol=1e-12)
    y_fe.sum().backward()
    y_ps.sum().backward()
    for p_fe, p_ps in zip(fe.parameters(), ps.parameters()):
        if p_fe.grad is not None:
            assert torch.allclose(p_fe.grad, p_ps.grad, atol=1e-9)


@pytest.mark.parametrize("layer_type,params,internal,reason", [
    ("SingleDendrite", {"source_func": "RateArray"}, False, "depends on the state"),
    ("SingleDendrite", {"source_func": "Tanh"}, True, "internal connection"),
    ("MultiplierNOCC", {"source_func": "Tanh"}, False, "coupled states"),
    ("LeakyGRU", {}, False, "non-linear recurrence"),
    ("LSTM", {}, False, "non-linear recurrence"),
    ("MinGRU", {}, True, "internal connection"),
])
def test_parallel_scan_refuses_ineligible_layers(layer_type, params, internal, reason):
    conns = [conn(0, 1)] + ([conn(1, 1)] if internal else [])
    spec = arch([layer(0, "Input", 2), layer(1, layer_type, 3, solver="PS", **params)], conns)
    with pytest.raises(ValueError, match=f"solver PS is not available: .*{reason}"):
        SOENModel.from_yaml(spec)
