"""The fused SingleDendrite scan equals the plain step-by-step recurrence, values and gradients."""

import itertools

import pytest
import torch

from soen_train.model.dendrite_scan import dendrite_scan
from soen_train.model.source_functions import build_source_function

F64 = torch.float64
T, B, D = 6, 3, 4


def reference(X, s0, J, a, c, IB, src, gn, sn, bias=None):
    """s_{t+1} = a*s_t + c*(g(X_t + bias + s_t J^T, IB_t - s_t) + gn_t) + sn_t with autograd ops."""
    s, states, phis, rates = s0, [s0], [], []
    for step in range(X.shape[0]):
        phi = X[step] + (bias if bias is not None else 0.0) + (s @ J.t() if J is not None else 0.0)
        current = None
        if src.uses_current:
            current = (IB[step] if IB.dim() == 3 else IB) - s
        g = src.value(phi, current)
        if gn is not None:
            g = g + gn[step]
        s = a * s + c * g
        if sn is not None:
            s = s + sn[step]
        states.append(s)
        phis.append(phi)
        rates.append(g)
    return torch.stack(states), torch.stack(phis), torch.stack(rates)


CASES = list(itertools.product(
    ["RateArray", "Heaviside_fit_state_dep", "Tanh", "TanhGauss1p7IBFit", "ReLU"],
    [False, True], ["D", "BD"], ["D", "TBD"], [False, True]))


@pytest.fixture(params=["native", "torch"])
def scan_path(request, monkeypatch):
    """Run a test through the compiled kernel and through the PyTorch loop."""
    from soen_train.model import native_scan

    monkeypatch.setenv(native_scan.ENV_SWITCH, "1" if request.param == "native" else "0")
    if request.param == "native" and native_scan.library() is None:
        pytest.skip("no C compiler: the compiled scan is unavailable")
    return request.param


@pytest.mark.parametrize("name,with_j,coef_shape,ib_shape,noisy", CASES)
def test_fused_scan_matches_reference(name, with_j, coef_shape, ib_shape, noisy, scan_path):
    gen = torch.Generator().manual_seed(hash((name, with_j, coef_shape, ib_shape, noisy)) % 2**31)
    src = build_source_function(name)

    def rand(*shape, scale=1.0, shift=0.0):
        return (torch.rand(*shape, generator=gen, dtype=F64) * scale + shift).requires_grad_(True)

    X = rand(T, B, D, scale=0.6)
    s0 = rand(B, D, scale=0.2)
    J = rand(D, D, scale=0.4, shift=-0.2) if with_j else None
    shape = (D,) if coef_shape == "D" else (B, D)
    a, c = rand(*shape, scale=0.1, shift=0.9), rand(*shape, scale=0.5)
    IB = rand(*((D,) if ib_shape == "D" else (T, B, D)), scale=1.0, shift=1.5)
    gn = torch.randn(T, B, D, generator=gen, dtype=F64) * 0.01 if noisy else None
    sn = torch.randn(T, B, D, generator=gen, dtype=F64) * 0.01 if noisy else None
    bias = rand(*shape, scale=0.2)  # flux offset, same shape as the coefficients

    H, PHI, G = dendrite_scan(X, s0, J, a, c, IB if src.uses_current else None, src, gn, sn, bias=bias)
    Hr, Pr, Gr = reference(X, s0, J, a, c, IB, src, gn, sn, bias)
    assert torch.allclose(H, Hr, atol=1e-12)
    assert torch.allclose(G, Gr, atol=1e-12)
    phi_out = PHI if with_j else X + bias
    assert torch.allclose(phi_out, Pr, atol=1e-12)

    weights = [torch.randn(x.shape, generator=gen, dtype=F64) for x in (H, Pr, G)]
    inputs = [X, s0, a, c, bias] + ([J] if with_j else []) + ([IB] if src.uses_current else [])
    loss = sum((w * v).sum() for w, v in zip(weights, (H, phi_out, G)))
    loss_ref = sum((w * v).sum() for w, v in zip(weights, (Hr, Pr, Gr)))
    ours = torch.autograd.grad(loss, inputs)
    ref = torch.autograd.grad(loss_ref, inputs)
    for got, want in zip(ours, ref):
        assert torch.allclose(got, want, atol=1e-10), (got - want).abs().max()


def test_gradcheck_heaviside_with_internal_connection(scan_path):
    gen = torch.Generator().manual_seed(0)
    src = build_source_function("Heaviside_fit_state_dep")
    X = (torch.rand(4, 2, 3, generator=gen, dtype=F64) * 0.4).requires_grad_(True)
    s0 = torch.zeros(2, 3, dtype=F64)
    J = (torch.rand(3, 3, generator=gen, dtype=F64) * 0.2).requires_grad_(True)
    a = torch.full((3,), 0.95, dtype=F64, requires_grad=True)
    c = torch.full((3,), 0.3, dtype=F64, requires_grad=True)
    IB = torch.full((3,), 2.0, dtype=F64, requires_grad=True)

    def run(X, J, a, c, IB):
        H, _, G = dendrite_scan(X, s0, J, a, c, IB, src)
        return H, G

    assert torch.autograd.gradcheck(run, (X, J, a, c, IB), eps=1e-6, atol=1e-6)


def test_float32_paths_agree(monkeypatch):
    from soen_train.model import native_scan

    if native_scan.library() is None:
        pytest.skip("no C compiler: the compiled scan is unavailable")
    gen = torch.Generator().manual_seed(9)
    for name in ("RateArray", "Heaviside_fit_state_dep", "Tanh"):
        src = build_source_function(name)
        X = (torch.rand(20, 8, 16, generator=gen) * 0.8).requires_grad_(True)
        J = (torch.rand(16, 16, generator=gen) * 0.05).requires_grad_(True)
        a, c = torch.full((16,), 0.97), torch.full((16,), 0.05, requires_grad=True)
        IB = torch.full((16,), 1.9, requires_grad=True) if src.uses_current else None
        results = []
        for switch in ("1", "0"):
            monkeypatch.setenv(native_scan.ENV_SWITCH, switch)
            H, _, G = dendrite_scan(X, torch.zeros(8, 16), J, a, c, IB, src)
            grads = torch.autograd.grad(H.square().sum() + G.sum(), [X, J, c])
            results.append((H.detach(), G.detach(), grads))
        (h1, g1, d1), (h0, g0, d0) = results
        assert torch.allclose(h1, h0, atol=1e-5) and torch.allclose(g1, g0, atol=1e-5)
        for got, want in zip(d1, d0):
            # float32 rounding differs between libm and PyTorch's kernels; the steep
            # sigmoid(100 d) of the Heaviside fit amplifies it to ~1e-4 relative.
            assert (got - want).norm() <= 1e-3 * want.norm(), name


def test_no_graph_is_recorded_without_grad(scan_path):
    src = build_source_function("RateArray")
    X = torch.rand(5, 2, 3)
    with torch.no_grad():
        H, _, _ = dendrite_scan(X, torch.zeros(2, 3), None, torch.full((3,), 0.9),
                                torch.full((3,), 0.1), torch.full((3,), 1.8), src)
    assert H.grad_fn is None and H.shape == (6, 2, 3)


def test_whole_models_agree_on_both_scan_paths(monkeypatch):
    from soen_train.model import SOENModel, native_scan

    if native_scan.library() is None:
        pytest.skip("no C compiler: the compiled scan is unavailable")
    from soen_model_builders import feed_forward

    x = torch.rand(3, 12, 3, generator=torch.Generator().manual_seed(4), dtype=F64)
    outputs, grads = [], []
    for switch in ("1", "0"):
        monkeypatch.setenv(native_scan.ENV_SWITCH, switch)
        model = SOENModel.from_yaml(feed_forward("RateArray", internal=True), seed=2).double()
        out = model(x)
        out.square().sum().backward()
        outputs.append(out.detach())
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert torch.allclose(outputs[0], outputs[1], atol=1e-12)
    for got, want in zip(*grads):
        assert torch.allclose(got, want, atol=1e-10)


def test_missing_compiler_falls_back_with_a_warning(monkeypatch):
    from soen_train.model import native_scan, native_scan_build

    monkeypatch.setenv(native_scan.ENV_SWITCH, "1")
    monkeypatch.setattr(native_scan_build, "_compiler", lambda: None)
    monkeypatch.setitem(native_scan_build._state, "tried", False)
    monkeypatch.setitem(native_scan_build._state, "lib", None)
    monkeypatch.setitem(native_scan_build._state, "error", None)
    monkeypatch.setattr(native_scan_build, "_cache_dir", lambda: __import__("pathlib").Path("/nonexistent/soen"))
    monkeypatch.setattr(native_scan_build, "C_SOURCE", native_scan_build.C_SOURCE + "/* fallback test */")
    with pytest.warns(RuntimeWarning, match="using the PyTorch scan"):
        assert native_scan.library() is None
    assert "no C compiler" in native_scan.build_error()
    src = build_source_function("RateArray")
    H, _, _ = dendrite_scan(torch.rand(4, 2, 3), torch.zeros(2, 3), None, torch.full((3,), 0.9),
                            torch.full((3,), 0.1), torch.full((3,), 1.8), src)
    assert H.shape == (5, 2, 3)
