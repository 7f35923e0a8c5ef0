"""Layer types as the original toolkit defines them: equations by hand, the spec's checks, init,
noise order, internal connections, original-state import, gradients (float32 and float64).

Numbers marked "check" were computed by running the original toolkit (spec
original_model_extras.md sections 2 and 3); the hand references below are plain NumPy.
"""

import math

import numpy as np
import pytest
import torch
from soen_model_builders import arch, conn, layer

from soen_train.model import SOENModel
from soen_train.model.layers import LAYER_TYPES, OriginalStateError, soft_abs
from soen_train.model.source_functions import build_source_function
from soen_train.model.validation import ArchitectureError

DTYPES = [torch.float32, torch.float64]
X_CHECK = [[[0.1, 0.2], [0.3, -0.1], [0.0, 0.4]]]


def identity_net(layer_type, dim=2, internal=None, seed=0, method="layerwise", **params):
    """Input(dim) -> layer 1 through one_to_one J = 1 (so phi = x), optional internal J."""
    conns = [conn(0, 1, "one_to_one", init="constant", value=1.0)]
    if internal is not None:
        conns.append(conn(1, 1, init="constant", value=internal))
    spec = arch([layer(0, "Input", dim), layer(1, layer_type, dim, **params)], conns,
                network_evaluation_method=method)
    return SOENModel.from_yaml(spec, seed=seed)


def fill_check_weights(model, bias=None):
    """Every weight tensor of layer 1 filled row-major with 0.1*((k mod 7) - 3); biases = ``bias``."""
    lay = model.layer(1)
    with torch.no_grad():
        for name, p in lay.named_parameters():
            if name in lay.param_names():
                continue
            if bias is not None and "bias" in name:
                p.fill_(bias)
            else:
                k = torch.arange(p.numel(), dtype=torch.float64)
                p.copy_((0.1 * ((k % 7) - 3)).reshape(p.shape))


CHECKS = {  # spec 2.11: layer-1 history rows 1..3
    "RNN": (0.05, [[0.029991, 0.089758], [0.003051, 0.066901], [0.005704, 0.099366]]),
    "GRU": (0.05, [[0.016357, 0.046238], [0.018640, 0.056038], [0.023935, 0.087809]]),
    "LSTM": (0.05, [[0.016567, 0.031626], [0.020374, 0.041582], [0.026116, 0.057820]]),
    "LeakyGRU": (None, [[-0.033693, 0.016853], [-0.048817, -0.005777], [-0.040882, 0.032784]]),
    "MinGRU": (None, [[-0.033720, -0.004975], [-0.051171, -0.017295], [-0.064927, -0.008648]]),
    "DendriteReadout": (None, [[5.885267e-06, 3.454103e-05], [0.3600575, 5.885146e-06], [0.0, 0.4715565]]),
    "Softmax": (None, [[0.475021, 0.524979], [0.598688, 0.401312], [0.401312, 0.598688]]),
    "ScalingLayer": (None, X_CHECK[0]),
    "NonLinear": (None, np.tanh(X_CHECK[0]).tolist()),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer_type", sorted(CHECKS))
@pytest.mark.parametrize("method", ["layerwise", "stepwise_gauss_seidel"])
def test_check_table_of_the_original(layer_type, dtype, method):
    bias, expected = CHECKS[layer_type]
    model = identity_net(layer_type, method=method).to(dtype)
    fill_check_weights(model, bias)
    out = model(torch.tensor(X_CHECK, dtype=dtype))[0]
    assert torch.allclose(out[1:], torch.tensor(expected, dtype=dtype), atol=1.5e-6, rtol=1e-5)
    assert torch.equal(out[0], torch.zeros(2, dtype=dtype))


# ---------------------------------------------------------------------------------------
# Hand references (NumPy) for the cells, with an internal connection and an initial state
# ---------------------------------------------------------------------------------------

def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def numpy_cell(layer_type, lay, phi, h, c):
    """One step of the cell in NumPy from the layer's current tensors."""
    if layer_type in ("RNN", "GRU", "LSTM"):
        w_ih, w_hh, b_ih, b_hh = (getattr(lay.module, n).detach().double().numpy()
                                  for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
        gi, gh = w_ih @ phi + b_ih, w_hh @ h + b_hh
        if layer_type == "RNN":
            return np.tanh(gi + gh), c
        H = h.shape[0]
        if layer_type == "GRU":
            r = sigmoid(gi[:H] + gh[:H])
            z = sigmoid(gi[H:2 * H] + gh[H:2 * H])
            n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
            return (1 - z) * n + z * h, c
        a = gi + gh
        i, f, g, o = sigmoid(a[:H]), sigmoid(a[H:2 * H]), np.tanh(a[2 * H:3 * H]), sigmoid(a[3 * H:])
        c = f * c + i * g
        return o * np.tanh(c), c
    if layer_type == "MinGRU":
        z = sigmoid(lay.gate_proj.weight.detach().double().numpy() @ phi)
        cand = np.tanh(lay.hidden_proj.weight.detach().double().numpy() @ phi)
        return (1 - z) * h + z * cand, c
    H = h.shape[0]  # LeakyGRU, candidate_diag zero
    w_in = lay.core.weight_ih.detach().double().numpy()[2 * H:]
    w_hn = lay.core.weight_hh.detach().double().numpy()[2 * H:].copy()
    np.fill_diagonal(w_hn, 0.0)
    z = sigmoid(lay.decay_bias.detach().double().numpy())
    r = sigmoid(float(lay.options["reset_bias"]))
    n = np.tanh(w_in @ phi + lay.candidate_bias.detach().double().numpy() + r * (w_hn @ h))
    return z * h + (1 - z) * n, c


def recurrent_net(layer_type, internal, method="layerwise", seed=3, **params):
    conns = [conn(0, 1, init="uniform", min=-0.6, max=0.6)]
    if internal:
        conns.append(conn(1, 1, init="normal", std=0.3))
    spec = arch([layer(0, "Input", 2), layer(1, layer_type, 3, **params)], conns,
                network_evaluation_method=method)
    return SOENModel.from_yaml(spec, seed=seed).double()


CELLS = ["RNN", "GRU", "LSTM", "MinGRU", "LeakyGRU"]


@pytest.mark.parametrize("layer_type", CELLS)
@pytest.mark.parametrize("internal", [False, True])
@pytest.mark.parametrize("method", ["layerwise", "stepwise_gauss_seidel"])
def test_cells_step_by_hand(layer_type, internal, method):
    model = recurrent_net(layer_type, internal, method)
    lay = model.layer(1)
    with torch.no_grad():  # make the leak moderate so every term matters
        if layer_type == "LeakyGRU":
            lay.decay_bias.copy_(torch.tensor([-1.0, 0.0, 1.0]))
            lay.candidate_bias.copy_(torch.tensor([0.1, -0.2, 0.05]))
    x = torch.rand(1, 6, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64) - 0.3
    s0 = torch.tensor([0.2, -0.1, 0.3], dtype=torch.float64)
    out = model(x, initial_states={1: s0})[0].detach().numpy()
    J = model.connection("0_to_1").masked_weight().detach().numpy()
    J_int = model.connection("1_to_1").masked_weight().detach().numpy() if internal else None
    h, c = s0.numpy().copy(), np.zeros(3)
    for t in range(6):
        phi = J @ x[0, t].numpy()
        if internal:
            phi = phi + J_int @ h  # no noise: s_{t-1} = h_{t-1}
        h, c = numpy_cell(layer_type, lay, phi, h, c)
        assert np.allclose(out[t + 1], h, atol=1e-12), t


@pytest.mark.parametrize("layer_type", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_torch_module_equals_the_step_loop(layer_type, dtype):
    model = recurrent_net(layer_type, internal=False).to(dtype)
    lay = model.layer(1)
    x = torch.rand(4, 9, 2, generator=torch.Generator().manual_seed(5), dtype=dtype)
    s0 = torch.rand(4, 3, generator=torch.Generator().manual_seed(6), dtype=dtype)
    fused = model(x, initial_states={1: s0})
    phi = (x @ model.connection("0_to_1").masked_weight().t()).transpose(0, 1)
    from soen_train.model.layers import LayerRunContext
    from soen_train.model.noise import NoiseRuntime
    ctx = LayerRunContext(dt=torch.tensor(37.0, dtype=dtype), training=False, noise=NoiseRuntime.inactive(),
                          batch=4, steps=9)
    steps = lay.run_steps(phi, {"s": s0}, None, lay.prepare(ctx), ctx).states.transpose(0, 1)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert torch.allclose(fused, steps, atol=tol)


def test_lstm_cell_state_restarts_at_zero_in_every_forward():
    model = recurrent_net("LSTM", internal=False)
    x = torch.rand(1, 8, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    full = model.simulate(x)
    first = model.simulate(x[:, :4])
    second = model.simulate(x[:, 4:], initial_states=first.final_states())
    # h carries over; c does not (it is zero at the start of the second forward), as in the original
    lay = model.layer(1)
    h, c = first.states[1][0, -1].detach().numpy(), np.zeros(3)
    J = model.connection("0_to_1").masked_weight().detach().numpy()
    for t in range(4):
        h, c = numpy_cell("LSTM", lay, J @ x[0, 4 + t].numpy(), h, c)
        assert np.allclose(second.states[1][0, t + 1].detach().numpy(), h, atol=1e-12)
    assert not torch.allclose(second.states[1][0, 1:], full.states[1][0, 5:], atol=1e-6)


@pytest.mark.parametrize("layer_type", CELLS)
def test_noise_order_output_noise_is_seen_by_the_internal_term_not_by_the_hidden_state(layer_type):
    """With an s offset (perturb s_mean, std 0), s_t = h_t + 0.1 and phi_t uses s_{t-1}; h continues."""
    spec = arch([layer(0, "Input", 2), layer(1, layer_type, 3)],
                [conn(0, 1, init="uniform", min=-0.6, max=0.6), conn(1, 1, init="normal", std=0.3)])
    spec["layers"][1]["perturb"] = {"s_mean": 0.1}
    model = SOENModel.from_yaml(spec, seed=2).double().train()
    x = torch.rand(1, 5, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = model(x)[0].detach().numpy()
    lay = model.layer(1)
    J = model.connection("0_to_1").masked_weight().detach().numpy()
    J_int = model.connection("1_to_1").masked_weight().detach().numpy()
    h, c, s = np.zeros(3), np.zeros(3), np.zeros(3)
    for t in range(5):
        phi = J @ x[0, t].numpy() + J_int @ s
        h, c = numpy_cell(layer_type, lay, phi, h, c)
        s = h + 0.1
        assert np.allclose(out[t + 1], s, atol=1e-12), t


@pytest.mark.parametrize("layer_type", ["MinGRU"])
def test_min_gru_parallel_scan_equals_the_step_loop(layer_type):
    def build(solver):
        spec = arch([layer(0, "Input", 2), layer(1, layer_type, 3, solver=solver)],
                    [conn(0, 1, init="uniform", min=-0.6, max=0.6)])
        return SOENModel.from_yaml(spec, seed=8).double()

    x = torch.rand(2, 13, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(build("FE")(x), build("PS")(x), atol=1e-12)


# ---------------------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------------------

def test_leaky_gru_default_decay_from_dt_and_tau():
    lay = identity_net("LeakyGRU", dim=4).layer(1)
    assert torch.allclose(lay.decay_bias, torch.full((4,), -1.678930), atol=1e-6)
    assert torch.allclose(torch.sigmoid(lay.decay_bias), torch.full((4,), 0.157237), atol=1e-6)
    assert torch.equal(lay.candidate_bias, torch.zeros(4))
    assert lay.decay_bias.requires_grad and lay.core.weight_ih.requires_grad
    w_ih, w_hh = lay.core.weight_ih.detach(), lay.core.weight_hh.detach()
    assert w_ih.shape == (12, 4) and w_hh.shape == (12, 4)
    assert torch.equal(w_ih[:8], torch.zeros(8, 4)) and torch.equal(w_hh[:8], torch.zeros(8, 4))
    bound = math.sqrt(6.0 / (4 + 12))  # xavier over the full [3H, H]
    assert 0 < w_ih[8:].abs().max() <= bound
    assert (w_hh[8:].norm(dim=1) <= 1.0 + 1e-6).all()  # rows of an orthogonal [3H, H] matrix


def test_leaky_gru_tau_options():
    def decay(**params):
        return identity_net("LeakyGRU", dim=3, **params).layer(1).decay_bias.double()

    def logit(tau, dt=37.0):
        keep = np.clip(np.exp(-dt / np.asarray(tau, dtype=np.float64)), 1e-6, 1 - 1e-6)
        return torch.tensor(np.log(keep / (1 - keep)))

    assert torch.allclose(decay(tau_init=[10.0, 1000.0]), logit([10.0, 100.0, 1000.0]), atol=1e-5)
    assert torch.allclose(decay(tau_init=[10.0, 30.0], tau_spacing="linear"), logit([10.0, 20.0, 30.0]), atol=1e-5)
    assert torch.allclose(decay(tau_init=0.0, tau_eps=5.0), logit([5.0] * 3), atol=1e-5)
    assert torch.allclose(decay(tau_init=1e-9), logit([1e-3] * 3), atol=1e-5)  # clamped at 1e-6
    given = identity_net("LeakyGRU", dim=3, decay_bias=4.0, tau_init=7.0).layer(1).decay_bias
    assert torch.equal(given.detach(), torch.full((3,), 4.0))  # a YAML value wins over the tau default
    frozen = identity_net("LeakyGRU", dim=3, train_alpha=False).layer(1)
    assert not frozen.decay_bias.requires_grad and frozen.candidate_bias.requires_grad


@pytest.mark.parametrize("mode,diag", [("zero", 0.0), ("one", 1.0), ("free", None)])
def test_leaky_gru_candidate_diag_and_reset_bias(mode, diag):
    model = identity_net("LeakyGRU", dim=2, candidate_diag=mode, reset_bias=0.5).double()
    lay = model.layer(1)
    with torch.no_grad():
        lay.core.weight_hh[4:] = torch.tensor([[0.7, 0.2], [-0.3, 0.9]])
        lay.core.weight_ih[4:] = torch.tensor([[0.5, -0.4], [0.1, 0.6]])
    x = torch.tensor([[[0.3, -0.2], [0.1, 0.4]]], dtype=torch.float64)
    out = model(x)[0].detach().numpy()
    w_hn = np.array([[0.7, 0.2], [-0.3, 0.9]])
    if diag is not None:
        np.fill_diagonal(w_hn, diag)
    z, r = sigmoid(lay.decay_bias.detach().numpy()), sigmoid(0.5)
    h = np.zeros(2)
    for t in range(2):
        n = np.tanh(np.array([[0.5, -0.4], [0.1, 0.6]]) @ x[0, t].numpy() + r * (w_hn @ h))
        h = z * h + (1 - z) * n
        assert np.allclose(out[t + 1], h, atol=1e-12)


@pytest.mark.parametrize("key,value,message", [
    ("candidate_diag", "diagonal", "candidate_diag: 'diagonal' is not valid"),
    ("tau_spacing", "log", "tau_spacing: 'log' is not valid"),
    ("tau_init", [1.0, 2.0, 3.0], r"tau_init: expected a number or \[tau_min, tau_max\]"),
    ("train_alpha", "maybe", "train_alpha: expected a boolean"),
])
def test_leaky_gru_bad_options_are_named(key, value, message):
    with pytest.raises(ArchitectureError, match=message):
        identity_net("LeakyGRU", **{key: value})


@pytest.mark.parametrize("layer_type,shapes", [
    ("RNN", {"module.weight_ih_l0": (3, 3), "module.bias_hh_l0": (3,)}),
    ("GRU", {"module.weight_ih_l0": (9, 3), "module.weight_hh_l0": (9, 3), "module.bias_ih_l0": (9,)}),
    ("LSTM", {"module.weight_hh_l0": (12, 3), "module.bias_hh_l0": (12,)}),
    ("MinGRU", {"hidden_proj.weight": (3, 3), "gate_proj.weight": (3, 3)}),
])
def test_cell_tensor_names_shapes_and_seeded_torch_init(layer_type, shapes):
    a, b = (identity_net(layer_type, dim=3, seed=11).layer(1) for _ in range(2))
    state = a.state_dict()
    for name, shape in shapes.items():
        assert tuple(state[name].shape) == shape
    bound = 1.0 / math.sqrt(3)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name  # same seed, same values
        assert p.abs().max() <= bound and p.abs().max() > 0.1 * bound


# ---------------------------------------------------------------------------------------
# MultiplierNOCC
# ---------------------------------------------------------------------------------------

def nocc_net(din, dim, source="RateArray", internal=None, J=1.0, method="layerwise"):
    conns = [conn(0, 1, init="constant", value=J)]
    if internal is not None:
        conns.append(conn(1, 1, init="constant", value=internal))
    spec = arch([layer(0, "Input", din), layer(1, "MultiplierNOCC", dim, source_func=source)], conns,
                network_evaluation_method=method)
    return SOENModel.from_yaml(spec, seed=0)


def test_soft_abs():
    assert torch.allclose(soft_abs(torch.tensor([2.1, 0.0, -2.1])), torch.tensor([2.102380, 0.1, 2.102380]),
                          atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("source,m,s1,s2", [
    ("RateArray", [0.0156751, 0.0306318, 0.0445973], 0.164487, 0.0983061),
    ("Heaviside_fit_state_dep", [0.0153349, 0.0297831, 0.0433928], 0.167227, 0.102839),
])
def test_nocc_checks_of_the_original(source, m, s1, s2, dtype):
    result = nocc_net(1, 1, source).to(dtype).simulate(torch.full((1, 3, 1), 0.2, dtype=dtype))
    assert torch.allclose(result.states[1][0, 1:, 0], torch.tensor(m, dtype=dtype), atol=1e-6)
    final = result.final_states()
    assert final[(1, "s1")].item() == pytest.approx(s1, abs=1e-6)
    assert final[(1, "s2")].item() == pytest.approx(s2, abs=1e-6)


@pytest.mark.parametrize("method", ["layerwise", "stepwise_gauss_seidel"])
@pytest.mark.parametrize("internal,expected", [
    (None, [0.0116476, 0.0228431, 0.0331924]),  # N = 1: inter-layer fan-in (3) does not count
    (0.05, [0.0084709, 0.0170761, 0.0254849]),  # N = 2 from the internal 2x2, plus m J^T
])
def test_nocc_fan_in_comes_from_the_internal_connection_only(internal, expected, method):
    model = nocc_net(3, 2, internal=internal, J=0.1, method=method)
    out = model(torch.tensor([0.1, 0.2, 0.3]).expand(1, 3, 3))[0, 1:]
    assert torch.allclose(out, torch.tensor(expected).unsqueeze(1).expand(3, 2), atol=1e-6)


def nocc_numpy(x, J, J_int, params, source, dt=37.0):
    """The NOCC equations of the original, with N = |w| > 0 per row of J_int (1 without)."""
    src = build_source_function(source)
    phi_y, ib, alpha, beta, beta_out = params
    dim = J.shape[0]
    N = (np.abs(J_int) > 0).sum(axis=1) if J_int is not None else np.ones(dim)
    m, s1, s2 = np.zeros(dim), np.zeros(dim), np.zeros(dim)
    out = []
    for t in range(x.shape[0]):
        phi = J @ x[t] + (J_int @ m if J_int is not None else 0.0)
        cur1 = torch.tensor(np.sqrt((ib - s1) ** 2 + 0.01))
        cur2 = torch.tensor(np.sqrt((s2 - ib) ** 2 + 0.01))
        g1 = src.value(torch.tensor(phi + phi_y), cur1).numpy()
        g2 = src.value(torch.tensor(phi - phi_y), cur2).numpy()
        dm = (g1 - g2 - alpha * m) / (beta + 2 * N * beta_out)
        ds1 = (g1 - beta_out * dm - alpha * s1) / beta
        ds2 = (g2 - beta_out * dm - alpha * s2) / beta
        m, s1, s2 = m + dt * dm, s1 + dt * ds1, s2 + dt * ds2
        out.append(m)
    return np.stack(out)


@pytest.mark.parametrize("source", ["RateArray", "Heaviside_fit_state_dep", "TanhGauss1p7IBFit", "Tanh"])
def test_nocc_weight_trained_to_zero_stops_counting(source):
    spec = arch([layer(0, "Input", 2), layer(1, "MultiplierNOCC", 3, source_func=source, phi_y=0.15)],
                [conn(0, 1, init="uniform", min=0.0, max=0.4), conn(1, 1, init="normal", std=0.2)])
    model = SOENModel.from_yaml(spec, seed=1).double()
    with torch.no_grad():
        model.connection("1_to_1").weight[0, 1] = 0.0  # row 0 now has N = 2, rows 1-2 have N = 3
    x = torch.rand(1, 6, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 0.3
    out = model(x)[0, 1:].detach().numpy()
    J = model.connection("0_to_1").masked_weight().detach().numpy()
    J_int = model.connection("1_to_1").masked_weight().detach().numpy()
    ref = nocc_numpy(x[0].numpy(), J, J_int, (0.15, 2.1, 1.64053, 303.85, 91.156), source)
    assert np.allclose(out, ref, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Stateless layers ignore an internal connection
# ---------------------------------------------------------------------------------------

STATELESS = ["Input", "Linear", "NonLinear", "ScalingLayer", "Softmax", "DendriteReadout", "Readout"]


@pytest.mark.parametrize("layer_type", STATELESS)
@pytest.mark.parametrize("method", ["layerwise", "stepwise_gauss_seidel", "stepwise_jacobi"])
def test_stateless_layers_ignore_their_internal_connection(layer_type, method):
    x = torch.tensor([[[0.1, 0.2], [0.3, 0.4]]])
    with pytest.warns(UserWarning, match="internal connection"):  # the loader says it is ignored
        with_internal = identity_net(layer_type, internal=0.5, method=method)
    plain = identity_net(layer_type, method=method)
    assert not LAYER_TYPES.get(layer_type).accepts_internal_connection
    assert torch.equal(with_internal(x), plain(x))
    if layer_type == "Linear" and method != "stepwise_jacobi":  # spec 2.1 check
        assert torch.allclose(with_internal(x)[0], torch.tensor([[0.0, 0.0], [0.1, 0.2], [0.3, 0.4]]))
    out = with_internal(x)
    out.sum().backward()
    assert with_internal.connection("1_to_1").weight.grad is None  # never enters the forward


def test_recurrent_and_physical_layers_accept_an_internal_connection():
    for name in ("SingleDendrite", "MultiplierWICC", "MultiplierNOCC", "RNN", "GRU", "LSTM", "MinGRU", "LeakyGRU"):
        assert LAYER_TYPES.get(name).accepts_internal_connection, name


def test_dendrite_readout_history_starts_at_zero_whatever_the_initial_state():
    model = identity_net("DendriteReadout")
    out = model(torch.tensor(X_CHECK), initial_states={1: torch.tensor([0.5, 0.5])})
    assert torch.equal(out[0, 0], torch.zeros(2))


# ---------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------

def test_registry_has_the_original_names():
    original = ["DendriteReadout", "GRU", "Input", "LSTM", "LeakyGRU", "Linear", "MinGRU", "Multiplier",
                "MultiplierNOCC", "MultiplierWICC", "NonLinear", "RNN", "Readout", "ScalingLayer",
                "SingleDendrite", "Softmax", "leakyGRU"]
    assert sorted(LAYER_TYPES.names(with_aliases=True)) == sorted(original)


@pytest.mark.parametrize("name,message", [
    ("Soma", "layer type 'Soma' is a placeholder in the original toolkit too"),
    ("Synapse", "layer type 'Synapse' is a placeholder in the original toolkit too"),
    ("MultiplierV2", "unknown layer type 'MultiplierV2'"),
])
def test_placeholder_and_unknown_layer_types_are_refused_by_name(name, message):
    with pytest.raises(ArchitectureError, match=message):
        identity_net(name)


# ---------------------------------------------------------------------------------------
# Original state_dict entries -> layer tensors
# ---------------------------------------------------------------------------------------

def test_load_original_state_of_a_torch_cell_takes_both_copies():
    lay = identity_net("GRU", dim=2).layer(1)
    rng = torch.Generator().manual_seed(0)
    tensors = {"weight_ih_l0": torch.randn(6, 2, generator=rng), "weight_hh_l0": torch.randn(6, 2, generator=rng),
               "bias_ih_l0": torch.randn(6, generator=rng), "bias_hh_l0": torch.randn(6, generator=rng)}
    entries = {"_dt": torch.tensor(37.0)}
    for name, value in tensors.items():
        entries[f"module.{name}"] = value
        entries[f"core.{name}"] = value.clone()
    assert lay.load_original_state(entries) == set(entries)
    for name, value in tensors.items():
        assert torch.equal(getattr(lay.module, name).detach(), value)
    entries["core.bias_hh_l0"] = entries["core.bias_hh_l0"] + 1.0
    with pytest.raises(OriginalStateError, match="'module.bias_hh_l0' and 'core.bias_hh_l0' should be the same"):
        lay.load_original_state(entries)


def test_load_original_state_of_per_node_params_and_log_params():
    lay = identity_net("MultiplierWICC", dim=2).layer(1)
    entries = {"phi_y": torch.tensor([0.2, 0.3]), "bias_current": torch.tensor([1.9, 2.0]),
               "log_gamma_plus": torch.log(torch.tensor([0.002, 0.003])),
               "log_gamma_minus": torch.log(torch.tensor([0.001, 0.004])), "_dt": torch.tensor(37.0)}
    assert lay.load_original_state(entries) == set(entries)
    assert torch.allclose(lay.gamma_plus.detach(), torch.tensor([0.002, 0.003]))
    assert torch.allclose(lay.gamma_minus.detach(), torch.tensor([0.001, 0.004]))
    before = lay.phi_y.detach().clone()
    with pytest.raises(OriginalStateError, match=r"cannot place original tensor\(s\) \['extra_table'\]"):
        lay.load_original_state({**entries, "phi_y": torch.tensor([9.0, 9.0]), "extra_table": torch.zeros(3)})
    assert torch.equal(lay.phi_y.detach(), before)  # unchanged on error
    with pytest.raises(OriginalStateError, match=r"no value for parameter\(s\) \['phi_y'\]"):
        lay.load_original_state({k: v for k, v in entries.items() if k != "phi_y"})
    with pytest.raises(OriginalStateError, match=r"'phi_y' has shape \(3,\), expected \(2,\)"):
        lay.load_original_state({**entries, "phi_y": torch.zeros(3)})


def test_load_original_state_of_leaky_gru_checks_its_fixed_buffers():
    lay = identity_net("LeakyGRU", dim=2).layer(1)
    w_ih, w_hh = torch.randn(6, 2), torch.randn(6, 2)
    rows = torch.zeros(6, 2)
    rows[4:] = 1.0
    entries = {"decay_bias": torch.tensor([-1.0, 0.5]), "candidate_bias": torch.tensor([0.1, 0.2]),
               "core.weight_ih": w_ih, "core.weight_hh": w_hh, "core.bias_z": torch.tensor([-1.0, 0.5]),
               "core.bias_n": torch.tensor([0.1, 0.2]), "core.bias_r_fixed": torch.full((2,), 10.0),
               "core.mask_ih": rows, "core.mask_hh": rows, "core.eyeH": torch.eye(2)}
    assert lay.load_original_state(entries) == set(entries)
    assert torch.equal(lay.core.weight_hh.detach(), w_hh)
    assert torch.equal(lay.decay_bias.detach(), torch.tensor([-1.0, 0.5]))
    with pytest.raises(OriginalStateError, match="'core.bias_r_fixed' differs"):
        lay.load_original_state({**entries, "core.bias_r_fixed": torch.full((2,), 3.0)})
    only_core = {k: v for k, v in entries.items() if k not in ("decay_bias", "candidate_bias")}
    assert lay.load_original_state(only_core) == set(only_core)


def test_load_original_state_checks_the_rate_table():
    lay = identity_net("DendriteReadout", dim=2).layer(1)
    table = torch.as_tensor(lay.source.table.g, dtype=torch.float32).reshape(1, 1, *lay.source.table.shape)
    entries = {"phi_offset": torch.zeros(2), "bias_current": torch.full((2,), 1.7),
               "_source_function.g_table": table}
    assert lay.load_original_state(entries) == set(entries)
    with pytest.raises(OriginalStateError, match="differs from soen_train's packaged RateArray table"):
        lay.load_original_state({**entries, "_source_function.g_table": table * 1.1})


# ---------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer_type", ["RNN", "GRU", "LSTM", "MinGRU", "LeakyGRU", "ScalingLayer", "Softmax",
                                        "NonLinear", "DendriteReadout", "MultiplierNOCC"])
def test_gradients_reach_every_learnable_tensor(layer_type, dtype):
    params = {"learnable_params": {"bias_current": True, "phi_offset": True}} if layer_type == "DendriteReadout" else {}
    if layer_type == "MultiplierNOCC":
        params = {"learnable_params": {"phi_y": True, "alpha": True}}
    spec = arch([layer(0, "Input", 2), layer(1, layer_type, 3, **params)],
                [conn(0, 1, init="uniform", min=0.05, max=0.5)]
                + ([conn(1, 1, init="normal", std=0.2)] if LAYER_TYPES.get(layer_type).accepts_internal_connection else []))
    model = SOENModel.from_yaml(spec, seed=4).to(dtype)
    x = torch.rand(2, 5, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)
    out = model(x)
    (out[:, 1:] * torch.linspace(0.5, 2.0, 3, dtype=dtype)).sum().backward()
    lay = model.layer(1)
    grads = {n: p.grad for n, p in lay.named_parameters() if p.requires_grad}
    assert grads
    for name, grad in grads.items():
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
        assert grad.dtype == dtype
    if layer_type == "LeakyGRU":  # masked rows never train
        assert torch.equal(lay.core.weight_ih.grad[:6], torch.zeros(6, 3, dtype=dtype))


# ---------------------------------------------------------------------------------------
# Solver PARARNN (SingleDendrite): Newton iterations on the FE recurrence
# ---------------------------------------------------------------------------------------

def dendrite_net(source, solver, internal=None, seed=6, **params):
    conns = [conn(0, 1, init="uniform", min=0.0, max=0.5)]
    if internal is not None:
        conns.append(conn(1, 1, "one_to_one", init="constant", value=internal))
    spec = arch([layer(0, "Input", 2), layer(1, "SingleDendrite", 3, source_func=source, solver=solver,
                       gamma_plus=0.004, **params)], conns)
    return SOENModel.from_yaml(spec, seed=seed).double()


@pytest.mark.parametrize("source", ["RateArray", "Heaviside_fit_state_dep", "Tanh", "TanhGauss1p7IBFit"])
@pytest.mark.parametrize("internal", [None, 0.3])
def test_pararnn_equals_forward_euler_values_and_gradients(source, internal):
    fe, pr = dendrite_net(source, "FE", internal), dendrite_net(source, "PARARNN", internal)
    x = torch.rand(2, 40, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    s0 = {1: torch.tensor([0.05, 0.1, 0.0], dtype=torch.float64)}
    y_fe, y_pr = fe(x, initial_states=s0), pr(x, initial_states=s0)
    assert torch.allclose(y_fe, y_pr, atol=1e-9)
    weights = torch.linspace(-1.0, 1.0, 41, dtype=torch.float64).view(1, 41, 1)
    (y_fe * weights).sum().backward()
    (y_pr * weights).sum().backward()
    for (name, p_fe), p_pr in zip(fe.named_parameters(), pr.parameters()):
        if p_fe.grad is not None:
            assert torch.allclose(p_fe.grad, p_pr.grad, atol=1e-8, rtol=1e-6), name


def test_pararnn_with_noise_offsets_equals_forward_euler():
    def run(solver):
        model = dendrite_net("RateArray", solver, internal=0.2)
        model.layer(1).spec.perturb.means.update({"g": 0.05, "s": -0.01, "phi": 0.02})
        torch.manual_seed(0)
        return model.train()(torch.rand(1, 12, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64))

    noisy = run("PARARNN")
    assert torch.allclose(run("FE"), noisy, atol=1e-9)
    clean = dendrite_net("RateArray", "PARARNN", internal=0.2).eval()
    assert not torch.allclose(clean(torch.rand(1, 12, 2, generator=torch.Generator().manual_seed(1),
                                               dtype=torch.float64)), noisy, atol=1e-3)


def test_pararnn_refuses_a_non_diagonal_internal_connection_and_other_layers():
    spec = arch([layer(0, "Input", 2), layer(1, "SingleDendrite", 3, solver="PARARNN")],
                [conn(0, 1), conn(1, 1, init="normal", std=0.1)])
    with pytest.raises(ValueError, match="PARARNN accepts only a diagonal internal connection"):
        SOENModel.from_yaml(spec, seed=0)(torch.rand(1, 3, 2))
    with pytest.raises(ValueError, match="solver PARARNN is not available: PARARNN is a solver of SingleDendrite"):
        identity_net("MultiplierWICC", solver="PARARNN")
