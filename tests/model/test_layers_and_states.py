"""Layer equations by hand, carried-over states (incl. NOCC s1/s2), tracking and input checks."""

import pytest
import torch
from soen_model_builders import arch, conn, layer

from soen_train.model import SOENModel
from soen_train.model.source_functions import build_source_function

F64 = torch.float64


def one_layer(layer_type, dim=3, method="layerwise", **params):
    """A single layer driven directly by the input flux."""
    spec = arch([layer(0, layer_type, dim, **params)], [], input_type="flux", dt=25.0,
                network_evaluation_method=method)
    return SOENModel.from_yaml(spec, seed=0).double()


def test_multiplier_wicc_step_by_hand():
    model = one_layer("MultiplierWICC", phi_y=0.12, bias_current=2.0, gamma_plus=0.002, gamma_minus=0.001)
    src = build_source_function("RateArray")
    x = torch.tensor([[[0.05, 0.1, -0.08], [0.02, 0.2, 0.1]]], dtype=F64)
    out = model(x)[0]
    s = torch.zeros(3, dtype=F64)
    for step in range(2):
        phi = x[0, step]
        g = src.value(phi + 0.12, 2.0 - s) - src.value(phi - 0.12, 2.0 + s)
        s = s + 25.0 * (0.002 * g - 0.001 * s)
        assert torch.allclose(out[step + 1], s, atol=1e-12)


def nocc_reference(x, fan_in, steps):
    src = build_source_function("RateArray")
    alpha, beta, beta_out, ib, phi_y, dt = 1.64053, 303.85, 91.156, 2.1, 0.1, 25.0
    m = s1 = s2 = torch.zeros(x.shape[-1], dtype=F64)
    history = [m]
    for step in range(steps):
        phi = x[0, step]
        g1 = src.value(phi + phi_y, torch.sqrt((ib - s1) ** 2 + 0.01))  # smooth |i| of the original
        g2 = src.value(phi - phi_y, torch.sqrt((s2 - ib) ** 2 + 0.01))
        dm = (g1 - g2 - alpha * m) / (beta + 2 * fan_in * beta_out)
        ds1 = (g1 - beta_out * dm - alpha * s1) / beta
        ds2 = (g2 - beta_out * dm - alpha * s2) / beta
        m, s1, s2 = m + dt * dm, s1 + dt * ds1, s2 + dt * ds2
        history.append(m)
    return torch.stack(history), s1, s2


@pytest.mark.parametrize("method", ["layerwise", "stepwise_gauss_seidel", "stepwise_jacobi"])
def test_multiplier_nocc_by_hand_with_fan_in(method):
    spec = arch([layer(0, "Input", 2), layer(1, "MultiplierNOCC", 3)],
                [conn(0, 1, "one_to_one", init="constant", value=1.0)], dt=25.0,
                network_evaluation_method=method, input_type="state")
    model = SOENModel.from_yaml(spec, seed=0).double()  # no internal connection: N = 1
    x = torch.tensor([[[0.1, -0.05], [0.15, 0.02], [0.12, 0.3]]], dtype=F64)
    result = model.simulate(x)
    flux = torch.zeros(1, 3, 3, dtype=F64)
    if method == "stepwise_jacobi":
        flux[0, 1:, :2] = x[0, :-1]  # the input reaches layer 1 one step later
    else:
        flux[0, :, :2] = x[0]
    history, s1, s2 = nocc_reference(flux, torch.ones(3, dtype=F64), 3)
    assert torch.allclose(result.states[1][0], history, atol=1e-12)
    final = result.final_states()
    assert torch.allclose(final[(1, "s1")][0], s1, atol=1e-12)
    assert torch.allclose(final[(1, "s2")][0], s2, atol=1e-12)


ALL_TYPES = ["SingleDendrite", "MultiplierWICC", "MultiplierNOCC", "RNN", "GRU", "LeakyGRU", "MinGRU",
             "NonLinear", "Input", "ScalingLayer", "Softmax", "DendriteReadout"]


@pytest.mark.parametrize("layer_type", ALL_TYPES)
@pytest.mark.parametrize("method", ["layerwise", "stepwise_gauss_seidel"])
def test_final_states_continue_a_split_sequence_exactly(layer_type, method):
    spec = arch([layer(0, "Input", 2), layer(1, layer_type, 3), layer(2, "SingleDendrite", 2)],
                [conn(0, 1, init="uniform", min=0.0, max=0.5), conn(1, 1, init="normal", std=0.1),
                 conn(1, 2, init="uniform", min=0.0, max=0.5)], network_evaluation_method=method)
    model = SOENModel.from_yaml(spec, seed=5).double()
    x = torch.rand(2, 12, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    full = model.simulate(x)
    first = model.simulate(x[:, :5])
    second = model.simulate(x[:, 5:], initial_states=first.final_states())
    for lid in (0, 1, 2):
        joined = torch.cat([first.states[lid], second.states[lid][:, 1:]], dim=1)
        assert torch.allclose(joined, full.states[lid], atol=1e-12), lid


def test_one_dimensional_initial_states_broadcast_over_the_batch():
    model = one_layer("SingleDendrite", dim=2)
    x = torch.rand(4, 3, 2, dtype=F64)
    vector = torch.tensor([0.1, 0.2], dtype=F64)
    out_vec = model(x, initial_states={0: vector})
    out_mat = model(x, initial_states={"0": vector.expand(4, 2)})
    assert torch.equal(out_vec, out_mat) and torch.equal(out_vec[:, 0], vector.expand(4, 2))


def test_a_forward_follows_the_model_to_another_dtype_and_back():
    """The dtype a forward casts its input to is read from the model's own tensors each call:
    ``.float()``, ``.double()`` and ``load_state_dict(assign=True)`` are all followed, and the
    cached dt constant made under inference mode still trains."""
    model = one_layer("SingleDendrite", dim=2)  # float64
    for param in model.parameters():
        param.requires_grad_(True)  # so that the backward saves dt * gamma's factors
    x = torch.rand(4, 3, 2)
    assert model(x).dtype == F64
    with torch.inference_mode():
        assert model.float()(x).dtype == torch.float32
    model(x).sum().backward()  # the float32 dt made under inference mode can be saved
    assert model.layer(0).gamma_plus.grad is not None
    state = {k: v.double() for k, v in model.state_dict().items()}
    model.load_state_dict(state, assign=True)
    assert model(x).dtype == F64


def test_bad_inputs_and_states_are_clear_errors():
    model = one_layer("SingleDendrite", dim=2)
    with pytest.raises(ValueError, match="input has 3 features but the first layer \\(id 0\\) has dim 2"):
        model(torch.rand(1, 4, 3))
    with pytest.raises(ValueError, match="\\[batch, steps, 2\\]"):
        model(torch.rand(4, 2))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model([[0.1, 0.2]])
    with pytest.raises(ValueError, match="expected \\[1, 2\\] or \\[2\\]"):
        model(torch.rand(1, 4, 2), initial_states={0: torch.zeros(3)})
    with pytest.raises(KeyError, match="no layer 5"):
        model(torch.rand(1, 4, 2), initial_states={5: torch.zeros(2)})
    with pytest.raises(KeyError, match="has states \\['s'\\]"):
        model(torch.rand(1, 4, 2), initial_states={(0, "s1"): torch.zeros(2)})


def test_tracking_returns_flux_and_drive_histories():
    spec = arch([layer(0, "Input", 2), layer(1, "SingleDendrite", 3, source_func="Tanh", phi_offset=0.2)],
                [conn(0, 1, init="constant", value=0.5)], track_g=True)
    model = SOENModel.from_yaml(spec, seed=0)
    x = torch.rand(2, 4, 2)
    result = model.simulate(x, track_phi=True)
    phi = result.phi[1]
    assert phi.shape == (2, 4, 3)
    assert torch.allclose(phi, (x @ torch.full((3, 2), 0.5).t()) + 0.2)
    assert torch.allclose(result.g[1], torch.tanh(phi))
    assert result.output.shape == (2, 5, 3) and result.steps == 4
    untracked = SOENModel.from_yaml(arch([layer(0, "Input", 2)], []), seed=0).simulate(x)
    assert dict(untracked.phi) == {} and dict(untracked.g) == {}
    assert list(untracked.states) == [0]


@pytest.mark.parametrize("source", ["RateArray", "Heaviside_fit_state_dep", "Tanh"])
@pytest.mark.parametrize("internal", [False, True])
def test_fused_layer_run_equals_the_generic_step_loop(source, internal):
    spec = arch([layer(0, "Input", 3), layer(1, "SingleDendrite", 4, source_func=source,
                                              bias_current={"distribution": "uniform",
                                                            "params": {"min": 1.6, "max": 2.2}})],
                [conn(0, 1, init="uniform", min=0.0, max=0.4)] + ([conn(1, 1, std=0.1)] if internal else []))
    model = SOENModel.from_yaml(spec, seed=1).double()
    x = torch.rand(2, 9, 3, generator=torch.Generator().manual_seed(3), dtype=F64)
    plan = model._plan(x, None, True, True)
    dendrite = model.layer(1)
    phi_ext = (x @ model.connection("0_to_1").masked_weight().t()).transpose(0, 1)
    fused = dendrite.run_sequence(phi_ext, plan.initial[1], plan.internal[1], plan.contexts[1])
    generic = dendrite.run_steps(phi_ext, plan.initial[1], plan.internal[1],
                                 dendrite.prepare(plan.contexts[1]), plan.contexts[1])
    for a, b in ((fused.states, generic.states), (fused.phi, generic.phi), (fused.g, generic.g)):
        assert torch.allclose(a, b, atol=1e-12)


def test_relative_noise_uses_the_step_loop_and_stays_finite():
    spec = arch([layer(0, "Input", 2), layer(1, "SingleDendrite", 3)], [conn(0, 1)])
    spec["layers"][1]["noise"] = {"g": 0.1, "s": 0.05, "relative": True}
    model = SOENModel.from_yaml(spec, seed=0)
    x = torch.rand(2, 6, 2)
    noisy = model.train()(x)
    clean = model.eval()(x)
    assert torch.isfinite(noisy).all() and not torch.allclose(noisy, clean)


def test_state_input_to_a_dynamic_first_layer_warns():
    spec = arch([layer(0, "SingleDendrite", 2)], [], input_type="state")
    with pytest.warns(UserWarning, match="dynamics are not simulated"):
        model = SOENModel.from_yaml(spec)
    x = torch.rand(1, 3, 2)
    assert torch.equal(model(x)[:, 1:], x)
