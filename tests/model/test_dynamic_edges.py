"""Dynamic connections (WICC / NOCC edges): mode resolution, parameters, equations, timing.

Expected histories marked "original" were computed by running the original SOEN toolkit
(float32, dt 37); the hand-computed checks re-derive one or two steps from the equations.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from soen_train.model import SOENModel
from soen_train.model.architecture import parse_connection, read_architecture
from soen_train.model.dynamic_edges import (
    EdgeIndex,
    resolve_edge_mode,
    soft_abs,
    wicc_auto_j_out,
)
from soen_train.model.source_functions import build_source_function
from soen_train.model.validation import ArchitectureError, IgnoredKeysWarning

METHODS = ("layerwise", "stepwise_gauss_seidel", "stepwise_jacobi")
#: The original's SingleDendrite default gamma_plus (stored as log_gamma_plus = -5.0233984).
SD_GAMMA_PLUS = 0.00658212


def edge_net(mode: str | None, *, method: str = "layerwise", n_in: int = 1, n_out: int = 1,
             value: float = 0.2, connection_params: dict | None = None, **extra) -> dict:
    """Input(n_in) -> Linear(n_out) through one dense connection of constant J (Linear state = flux)."""
    params: dict = {"init": "constant", "value": value, **extra}
    if mode is not None:
        params["mode"] = mode
    if connection_params is not None:
        params["connection_params"] = connection_params
    return {
        "simulation": {"dt": 37, "network_evaluation_method": method},
        "layers": [{"layer_id": 0, "layer_type": "Input", "params": {"dim": n_in}},
                   {"layer_id": 1, "layer_type": "Linear", "params": {"dim": n_out}}],
        "connections": [{"from_layer": 0, "to_layer": 1, "connection_type": "dense", "params": params}],
    }


def run(spec: dict, x: torch.Tensor) -> torch.Tensor:
    model = SOENModel.from_yaml(spec, seed=0).eval()
    with torch.no_grad():
        return model(x)


def constant_input(value, steps: int) -> torch.Tensor:
    row = torch.as_tensor(value, dtype=torch.float32).reshape(1, 1, -1)
    return row.expand(1, steps, row.shape[-1]).contiguous()


# ----------------------------------------------------------------------------------------
# Numbers of the original (section 1.9 checks)
# ----------------------------------------------------------------------------------------

ORIGINAL_1_TO_1 = {
    ("WICC", "layerwise"): [0, 0.00815181, 0.0152539, 0.0214788, 0.0269551],
    ("WICC", "stepwise_gauss_seidel"): [0, 0.00815181, 0.0152539, 0.0214788, 0.0269551],
    ("WICC", "stepwise_jacobi"): [0, 0, 7.35e-10, 0.00815181, 0.0152539],
    ("NOCC", "layerwise"): [0, 0.00675519, 0.0131836, 0.0191684, 0.0246115],
    ("NOCC", "stepwise_gauss_seidel"): [0, 0.00675519, 0.0131836, 0.0191684, 0.0246115],
    ("NOCC", "stepwise_jacobi"): [0, 0, 0, 0.00835614, 0.0156518],
}


@pytest.mark.parametrize("mode,method", sorted(ORIGINAL_1_TO_1))
def test_one_edge_history_matches_the_original(mode, method):
    out = run(edge_net(mode, method=method), constant_input(0.3, 4))
    expected = torch.tensor(ORIGINAL_1_TO_1[(mode, method)])
    assert torch.allclose(out[0, :, 0], expected, atol=2e-7, rtol=0)


def test_half_flux_offset_adds_half_a_flux_quantum_to_phi_y():
    out = run(edge_net("WICC", connection_params={"half_flux_offset": True}), constant_input(0.3, 4))
    expected = torch.tensor([0, -0.004578, -0.0087458, -0.0125421, -0.0160006])
    assert torch.allclose(out[0, :, 0], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode,expected", [
    ("WICC", [0, 0.0201373, 0.0350123, 0.0470349]),  # j_out = 0.549451 from N = 3
    ("NOCC", [0, 0.00852362, 0.0170159, 0.0251743]),  # N_i = 3 in beta_eff
])
def test_three_sources_into_two_destinations(mode, expected):
    out = run(edge_net(mode, n_in=3, n_out=2, value=0.1), constant_input([0.1, 0.2, 0.3], 3))
    want = torch.tensor(expected).view(-1, 1).expand(-1, 2)
    assert torch.allclose(out[0], want, atol=1e-6, rtol=0)


def internal_net(method: str, mode: str | None) -> dict:
    """Input(1) -> SingleDendrite(1) (J = 0.5) with an internal 1x1 connection J = 0.2."""
    connections = [{"from_layer": 0, "to_layer": 1, "connection_type": "dense",
                    "params": {"init": "constant", "value": 0.5}}]
    if mode is not None:
        connections.append({"from_layer": 1, "to_layer": 1, "connection_type": "dense",
                            "params": {"init": "constant", "value": 0.2, "mode": mode}})
    return {"simulation": {"dt": 37, "network_evaluation_method": method},
            "layers": [{"layer_id": 0, "layer_type": "Input", "params": {"dim": 1}},
                       {"layer_id": 1, "layer_type": "SingleDendrite",
                        "params": {"dim": 1, "gamma_plus": SD_GAMMA_PLUS}}],
            "connections": connections}


@pytest.mark.parametrize("method", ["layerwise", "stepwise_gauss_seidel"])
def test_internal_wicc_edge_keeps_its_state_over_the_sequence(method):
    # Original layerwise numbers. The original's stepwise methods restart the internal edge
    # from zero at every step (a bug); we keep the layerwise behaviour in every method.
    out = run(internal_net(method, "WICC"), constant_input(0.3, 4))
    expected = torch.tensor([0, 0.1113328, 0.2020199, 0.2747654, 0.3320586])
    assert torch.allclose(out[0, :, 0], expected, atol=2e-6, rtol=0)
    plain = run(internal_net(method, None), constant_input(0.3, 4))
    original_without_edge = torch.tensor([0, 0.1113328, 0.2012573, 0.2713031, 0.3221341])
    assert torch.allclose(plain[0, :, 0], original_without_edge, atol=2e-6, rtol=0)


# ----------------------------------------------------------------------------------------
# Hand-computed steps
# ----------------------------------------------------------------------------------------


def test_wicc_two_steps_by_hand_with_a_phi_only_source():
    cp = {"source_func": "Tanh", "gamma_plus": 0.01, "gamma_minus": 0.002, "j_in": 0.5, "j_out": 0.7}
    x = constant_input([0.4, -0.2], 2)
    out = run(edge_net("WICC", n_in=2, n_out=1, value=0.3, connection_params=cp), x)
    g = build_source_function("Tanh")
    dt = 37.0
    s = torch.zeros(2)
    expected = [0.0]
    for _ in range(2):
        u = 0.5 * torch.tensor([0.4, -0.2])
        ds = 0.01 * (g.value(u + 0.3, None) - g.value(u - 0.3, None)) - 0.002 * s
        s = s + dt * ds
        expected.append(0.7 * float(s.sum()))
    assert torch.allclose(out[0, :, 0], torch.tensor(expected), atol=1e-7, rtol=0)


def test_nocc_one_step_by_hand_with_state_dependent_currents():
    cp = {"alpha": 2.0, "beta": 300.0, "beta_out": 90.0, "bias_current": 2.0, "j_in": 0.4, "j_out": 0.5}
    x = constant_input([0.3, 0.1], 2)
    out = run(edge_net("NOCC", n_in=2, n_out=1, value=0.25, connection_params=cp), x)
    g = build_source_function("RateArray")
    dt = 37.0
    s1 = s2 = torch.zeros(2)
    m = torch.zeros(1)
    expected = [0.0]
    for _ in range(2):
        u = 0.4 * torch.tensor([0.3, 0.1])
        g1 = g.value(u + 0.25, torch.sqrt((2.0 - s1) ** 2 + 0.01))
        g2 = g.value(u - 0.25, torch.sqrt((s2 - 2.0) ** 2 + 0.01))
        dm = ((g1 - g2).sum() - 2.0 * m) / (300.0 + 2 * 2 * 90.0)
        ds1 = (g1 - 90.0 * dm - 2.0 * s1) / 300.0
        ds2 = (g2 - 90.0 * dm - 2.0 * s2) / 300.0
        s1, s2, m = s1 + dt * ds1, s2 + dt * ds2, m + dt * dm
        expected.append(0.5 * float(m))
    assert torch.allclose(out[0, :, 0], torch.tensor(expected), atol=1e-7, rtol=0)


def test_soft_abs_and_auto_j_out_values():
    assert soft_abs(torch.tensor(2.1)).item() == pytest.approx(2.102380, abs=1e-6)
    assert soft_abs(torch.tensor(0.0)).item() == pytest.approx(0.1, abs=1e-7)
    j_out = wicc_auto_j_out(torch.tensor([1.0, 3.0, 0.0]))
    assert torch.allclose(j_out, torch.tensor([0.666667, 0.549451, 0.746269]), atol=1e-6)


def test_auto_j_out_follows_each_destination_fan_in_and_the_mask():
    model = SOENModel.from_yaml(edge_net("WICC", n_in=3, n_out=3, value=0.2), seed=0).eval()
    conn = model.connection("0_to_1")
    with torch.no_grad():
        conn.mask.copy_(torch.tensor([[1.0, 0, 0], [1, 1, 1], [0, 0, 0]]))
        conn.enforce_constraints()
    index = conn.edge_index()
    assert index.dst.tolist() == [0, 1, 1, 1] and index.src.tolist() == [0, 0, 1, 2]
    runner = conn.edge_runner(1, torch.tensor(37.0), torch.zeros(1))
    assert torch.allclose(runner.j_out, torch.tensor([0.666667, 0.549451, 0.746269]), atol=1e-6)
    with torch.no_grad():
        out = model(constant_input([0.3, 0.3, 0.3], 2))
    one = run(edge_net("WICC"), constant_input(0.3, 2))  # a single J = 0.2 edge with N = 1
    assert torch.allclose(out[0, :, 0], one[0, :, 0], atol=1e-7)
    assert torch.all(out[0, :, 2] == 0)  # no edge into node 2


def test_edge_list_is_destination_major():
    mask = torch.tensor([[0.0, 1, 1], [1, 0, 0]])
    index = EdgeIndex.from_mask(mask)
    assert list(zip(index.dst.tolist(), index.src.tolist())) == [(0, 1), (0, 2), (1, 0)]
    assert index.fan_in.tolist() == [2.0, 1.0]


def test_connection_without_edges_contributes_zero():
    spec = edge_net("NOCC", n_in=2, n_out=2)
    spec["connections"][0]["connection_type"] = "one_to_one"
    model = SOENModel.from_yaml(spec, seed=0).eval()
    with torch.no_grad():
        model.connection("0_to_1").mask.zero_()
        assert torch.equal(model(constant_input([0.3, 0.2], 3)), torch.zeros(1, 4, 2))


# ----------------------------------------------------------------------------------------
# Mode resolution and parameters
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("params,expected", [
    ({}, "fixed"),
    ({"mode": "fixed"}, "fixed"),
    ({"mode": "WICC"}, "WICC"),
    ({"mode": "NOCC"}, "NOCC"),
    ({"mode": "programmable"}, "WICC"),
    ({"mode": "Dynamic_V1"}, "WICC"),
    ({"mode": "v1"}, "WICC"),
    ({"mode": "dynamic_v2"}, "NOCC"),
    ({"mode": "multiplier_v2"}, "NOCC"),
    ({"mode": "V2"}, "NOCC"),
    ({"mode": "dynamic"}, "fixed"),  # ambiguous alias with an empty block
    ({"mode": "multiplier", "connection_params": {}}, "fixed"),
    ({"mode": "dynamic", "connection_params": {"gamma_plus": 0.002}}, "WICC"),
    ({"mode": "dynamic", "connection_params": {"beta": 300.0}}, "NOCC"),
    ({"mode": "dynamic", "connection_params": {"gamma_plus": 0.002, "bias_current": 2.0}}, "NOCC"),
    ({"mode": "dynamic", "connection_params": {"j_in": 0.3}}, "NOCC"),
    ({"connection_params": {"gamma_plus": 0.002}}, "WICC"),  # a block alone makes it dynamic
    ({"connection_params": {"alpha": 1.5}}, "NOCC"),
    ({"connection_params": {}}, "fixed"),
    ({"connection_mode": "WICC"}, "WICC"),  # legacy key
    ({"mode": "fixed", "connection_mode": "NOCC"}, "fixed"),  # mode wins
    ({"mode": "WICC", "connection_params": {"alpha": 1.0}}, "WICC"),  # explicit mode wins
])
def test_mode_resolution_table(params, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert resolve_edge_mode(params, "c")[0] == expected
        conn = parse_connection({"from_layer": 0, "to_layer": 1, "params": params}, "c")
    assert conn.mode == expected


def test_legacy_blocks_are_read_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="'dynamic' block is a legacy spelling"):
        conn = parse_connection({"from_layer": 0, "to_layer": 1,
                                 "params": {"dynamic": {"gamma_plus": 0.003}}}, "c")
    assert conn.mode == "WICC" and conn.connection_params == {"gamma_plus": 0.003}
    with pytest.warns(DeprecationWarning, match="'multiplier' block"):
        conn = parse_connection({"from_layer": 0, "to_layer": 1,
                                 "params": {"multiplier": {"beta_out": 80.0}}}, "c")
    assert conn.mode == "NOCC"


@pytest.mark.parametrize("params,message", [
    ({"mode": "wicc"}, r"invalid connection mode 'wicc' \(did you mean 'WICC'\?\); valid modes: fixed, WICC, NOCC"),
    ({"mode": "Fixed"}, r"invalid connection mode 'Fixed'"),
    ({"connection_mode": "diagonal"}, r"connection_mode: invalid connection mode 'diagonal'"),
    ({"mode": "WICC", "connection_params": {"gama_plus": 0.1}},
     r"unknown key 'gama_plus' \(did you mean 'gamma_plus'\?\); valid keys here: bias_current, "
     r"gamma_minus, gamma_plus, half_flux_offset, j_in, j_out, source_func"),
    ({"mode": "NOCC", "connection_params": {"beta": "big"}}, r"connection_params.beta: expected a number"),
])
def test_invalid_modes_and_parameters_are_clear_errors(params, message):
    with pytest.raises(ArchitectureError, match=message):
        parse_connection({"from_layer": 0, "to_layer": 1, "params": params}, "connection 0->1")


BLOCKS = {"block_count": 2, "within_block_density": 1.0, "cross_block_density": 0.0}


def test_block_structure_flat_form_keeps_its_own_connection_mode():
    # The original reads this connection_mode as an edge mode and fails; we leave it to the
    # block_structure pattern, where it means diagonal blocks.
    conn = parse_connection({"from_layer": 0, "to_layer": 1, "connection_type": "block_structure",
                             "params": {**BLOCKS, "connection_mode": "diagonal"}}, "c")
    assert conn.mode == "fixed"
    assert conn.pattern_params["connection_mode"] == "diagonal"
    conn = parse_connection({"from_layer": 0, "to_layer": 1, "connection_type": "block_structure",
                             "params": {**BLOCKS, "mode": "WICC", "connection_mode": "diagonal"}}, "c")
    assert conn.mode == "WICC" and conn.pattern_params["connection_mode"] == "diagonal"


def test_keys_of_the_other_mode_are_ignored_with_one_warning():
    with pytest.warns(IgnoredKeysWarning, match=r"connection_params: alpha, GUI_note \(not read by a WICC edge\)"):
        out = run(edge_net("WICC", connection_params={"alpha": 5.0, "GUI_note": "x"}), constant_input(0.3, 4))
    assert torch.allclose(out[0, :, 0], torch.tensor(ORIGINAL_1_TO_1[("WICC", "layerwise")]), atol=2e-7)


def test_unknown_source_function_falls_back_to_rate_array_with_a_warning():
    with pytest.warns(IgnoredKeysWarning, match="source_func='Rate' \\(not a source function; the edge uses RateArray\\)"):
        out = run(edge_net("NOCC", connection_params={"source_func_type": "Rate"}), constant_input(0.3, 4))
    assert torch.allclose(out[0, :, 0], torch.tensor(ORIGINAL_1_TO_1[("NOCC", "layerwise")]), atol=2e-7)


def test_dynamic_modes_refuse_source_polarity():
    spec = edge_net("WICC", n_in=2)
    spec["layers"][0]["params"]["polarity"] = [1, -1]
    with pytest.raises(ArchitectureError, match="mode WICC cannot be combined with the polarity of source layer 0"):
        SOENModel.from_yaml(spec)


def test_edge_parameters_live_in_the_spec_not_in_the_state_dict(tmp_path):
    cp = {"gamma_plus": 0.002, "bias_current": 1.9, "j_out": 0.5}
    spec = edge_net("dynamic_v1", n_in=2, n_out=2, connection_params=cp)
    model = SOENModel.from_yaml(spec, seed=3).eval()
    fixed = SOENModel.from_yaml(edge_net("fixed", n_in=2, n_out=2), seed=3)
    assert sorted(model.state_dict()) == sorted(fixed.state_dict())
    written = model.spec["connections"][0]["params"]
    assert written["mode"] == "WICC" and written["connection_params"] == cp
    again = read_architecture(model.spec).connections[0]
    assert again.mode == "WICC" and again.connection_params == cp
    x = torch.rand(2, 5, 2, generator=torch.Generator().manual_seed(0))
    loaded = SOENModel.load(model.save(tmp_path / "edges.soen")).eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


# ----------------------------------------------------------------------------------------
# Gradients, noise, timing
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode,source", [("WICC", "RateArray"), ("NOCC", "RateArray"),
                                         ("WICC", "Heaviside_fit_state_dep"), ("NOCC", "Tanh")])
def test_gradients_reach_the_weights_through_phi_y(mode, source):
    spec = edge_net(mode, n_in=2, n_out=2, value=0.2, connection_params={"source_func": source})
    model = SOENModel.from_yaml(spec, seed=0)
    x = torch.rand(3, 6, 2, generator=torch.Generator().manual_seed(1))
    model(x).sum().backward()
    grad = model.connection("0_to_1").weight.grad
    assert grad is not None and torch.all(grad.abs() > 0)
    # finite-difference check of one entry (float64)
    model = model.double()
    conn = model.connection("0_to_1")
    conn.weight.grad = None
    xd = x.double()
    model(xd).sum().backward()
    analytic = conn.weight.grad[0, 1].item()
    eps = 1e-6
    with torch.no_grad():
        conn.weight[0, 1] += eps
        up = model(xd).sum().item()
        conn.weight[0, 1] -= 2 * eps
        down = model(xd).sum().item()
    assert analytic == pytest.approx((up - down) / (2 * eps), rel=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_connection_j_noise_feeds_the_edges_phi_y_per_step(method):
    spec = edge_net("WICC", method=method)
    spec["connections"][0]["noise"] = {"j": 1e-9}
    model = SOENModel.from_yaml(spec, seed=0).train()
    with torch.no_grad():
        noisy = model(constant_input(0.3, 4))
    # The edges stay dynamic (the original would fall back to x*J = 0.06 in layerwise).
    expected = torch.tensor(ORIGINAL_1_TO_1[("WICC", method)])
    assert torch.allclose(noisy[0, :, 0], expected, atol=1e-6)
    spec["connections"][0]["noise"] = {"j": 0.05}
    model = SOENModel.from_yaml(spec, seed=0).train()
    torch.manual_seed(0)
    with torch.no_grad():
        first, second = model(constant_input(0.3, 4)), model(constant_input(0.3, 4))
    assert not torch.equal(first, second)


def test_edge_states_restart_at_zero_in_every_forward():
    model = SOENModel.from_yaml(edge_net("NOCC", method="stepwise_gauss_seidel"), seed=0).eval()
    with torch.no_grad():
        first = model(constant_input(0.3, 4))
        second = model(constant_input(0.3, 4))
    assert torch.equal(first, second)


def test_jacobi_adds_one_step_of_delay_per_dynamic_edge():
    x = torch.rand(2, 8, 1, generator=torch.Generator().manual_seed(2)) * 0.4
    gauss = run(edge_net("WICC", method="stepwise_gauss_seidel"), x)
    jacobi = run(edge_net("WICC", method="stepwise_jacobi"), x)
    # Jacobi sees the input one step late (fixed part) and the edge output one step late.
    shifted = run(edge_net("WICC", method="stepwise_gauss_seidel"), torch.cat([torch.zeros(2, 1, 1), x[:, :-1]], 1))
    assert torch.allclose(jacobi[:, 2:], shifted[:, 1:-1], atol=1e-6)
    assert not torch.allclose(jacobi, gauss)


def feedback_net(method: str) -> dict:
    """Input -> SD(1) -> SD(1) (J = 0.5 each) plus a feedback 2 -> 1 of J = 0.1."""
    sd = {"dim": 1, "gamma_plus": SD_GAMMA_PLUS}

    def dense(a, b, value):
        return {"from_layer": a, "to_layer": b, "connection_type": "dense",
                "params": {"init": "constant", "value": value}}
    return {"simulation": {"dt": 37, "network_evaluation_method": method},
            "layers": [{"layer_id": 0, "layer_type": "Input", "params": {"dim": 1}},
                       {"layer_id": 1, "layer_type": "SingleDendrite", "params": dict(sd)},
                       {"layer_id": 2, "layer_type": "SingleDendrite", "params": dict(sd)}],
            "connections": [dense(0, 1, 0.5), dense(1, 2, 0.5), dense(2, 1, 0.1)]}


def test_layerwise_with_feedback_switches_to_gauss_seidel_like_the_original():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = SOENModel.from_yaml(feedback_net("layerwise"), seed=0).eval()
    switch = [w for w in caught if "feedback" in str(w.message)]
    assert len(switch) == 1
    assert "feedback connection 2->1 cannot run layerwise" in str(switch[0].message)
    assert model.architecture.simulation.network_evaluation_method == "stepwise_gauss_seidel"
    with torch.no_grad():
        result = model.simulate(constant_input(0.3, 4))
    layer1 = torch.tensor([0, 0.1113328, 0.2033361, 0.278488, 0.3388287])
    layer2 = torch.tensor([0, 0.08105978, 0.1613795, 0.2369186, 0.305611])
    assert torch.allclose(result.states[1][0, :, 0], layer1, atol=2e-6, rtol=0)
    assert torch.allclose(result.states[2][0, :, 0], layer2, atol=2e-6, rtol=0)
    assert math.isclose(model.spec["simulation"]["dt"], 37.0)
    assert model.spec["simulation"]["network_evaluation_method"] == "stepwise_gauss_seidel"


def test_internal_edge_by_hand_in_a_dendrite_with_a_phi_only_source():
    cp = {"source_func": "Tanh", "gamma_plus": 0.02, "gamma_minus": 0.001, "j_in": 1.0, "j_out": 0.8}
    spec = internal_net("layerwise", "WICC")
    spec["layers"][1]["params"].update(source_func="Tanh", gamma_plus=0.002, gamma_minus=0.001,
                                       phi_offset=0.1)
    spec["connections"][1]["params"]["connection_params"] = cp
    out = run(spec, constant_input(0.3, 3))
    g = build_source_function("Tanh")
    dt = 37.0
    s = edge = 0.0
    expected = [0.0]
    for _ in range(3):
        # the edge advances with the layer's state before its update; its new output joins phi
        phi_a, phi_b = torch.tensor(s + 0.2), torch.tensor(s - 0.2)
        edge = edge + dt * (0.02 * float(g.value(phi_a, None) - g.value(phi_b, None)) - 0.001 * edge)
        phi = 0.5 * 0.3 + 0.8 * edge + 0.1
        s = s + dt * (0.002 * float(g.value(torch.tensor(phi), None)) - 0.001 * s)
        expected.append(s)
    assert torch.allclose(out[0, :, 0], torch.tensor(expected), atol=1e-6, rtol=0)
    gauss = run({**spec, "simulation": {"dt": 37, "network_evaluation_method": "stepwise_gauss_seidel"}},
                constant_input(0.3, 3))
    assert torch.allclose(gauss, out, atol=1e-7)


def test_dynamic_internal_connection_needs_a_layer_that_integrates_it():
    spec = internal_net("layerwise", "NOCC")
    spec["layers"][1] = {"layer_id": 1, "layer_type": "RNN", "params": {"dim": 1}}
    with pytest.raises(ArchitectureError, match="a NOCC internal connection needs a layer of type "
                                                "SingleDendrite, MultiplierWICC, MultiplierNOCC; layer 1 is RNN"):
        SOENModel.from_yaml(spec)


def test_multiplier_nocc_layer_drives_an_internal_nocc_edge_with_its_output_m():
    spec = internal_net("layerwise", "NOCC")
    spec["layers"][1] = {"layer_id": 1, "layer_type": "MultiplierNOCC", "params": {"dim": 1}}
    model = SOENModel.from_yaml(spec, seed=0).eval()
    with torch.no_grad():
        layerwise = model(constant_input(0.3, 5))
    spec["simulation"]["network_evaluation_method"] = "stepwise_gauss_seidel"
    gauss = run(spec, constant_input(0.3, 5))
    spec["connections"].pop()  # no internal connection
    plain = run(spec, constant_input(0.3, 5))
    assert torch.allclose(layerwise, gauss, atol=1e-7)
    assert not torch.allclose(layerwise, plain, atol=1e-6)  # the edge acts from step 2 on
    assert torch.allclose(layerwise[:, :2], plain[:, :2], atol=1e-7)  # m = 0 before step 1


def test_j_out_may_be_given_per_destination():
    cp = {"j_out": [0.666667, 0.3]}
    out = run(edge_net("WICC", n_in=1, n_out=2, connection_params=cp), constant_input(0.3, 4))
    one = torch.tensor(ORIGINAL_1_TO_1[("WICC", "layerwise")])
    assert torch.allclose(out[0, :, 0], one, atol=1e-6)
    assert torch.allclose(out[0, :, 1], one * 0.3 / 0.666667, atol=1e-6)
    with pytest.raises(ArchitectureError, match=r"j_out: 2 values given, but layer 1 has 3 nodes"):
        SOENModel.from_yaml(edge_net("WICC", n_in=1, n_out=3, connection_params=cp))


def test_a_parameter_block_on_a_fixed_connection_is_noted_as_ignored():
    with pytest.warns(IgnoredKeysWarning, match=r"connection_params \(the connection is fixed\)"):
        conn = parse_connection({"from_layer": 0, "to_layer": 1,
                                 "params": {"mode": "fixed", "connection_params": {"j_in": 0.5}}}, "c")
    assert conn.mode == "fixed" and conn.connection_params == {}
