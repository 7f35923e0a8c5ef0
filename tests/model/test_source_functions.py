"""Source functions: formulas at chosen points, the RateArray table, derivatives, errors."""

import math

import numpy as np
import pytest
import torch

from soen_train.model import SOURCE_FUNCTIONS, build_source_function
from soen_train.model.rate_table import RATE_TABLE_PATH, default_rate_table

F64 = torch.float64


def t(*values):
    return torch.tensor(values, dtype=F64)


def test_catalog_and_unknown_name():
    assert set(SOURCE_FUNCTIONS.names()) == {
        "RateArray", "Heaviside_fit_state_dep", "Tanh", "ReLU", "SimpleGELU", "Telu", "TanhGauss1p7IBFit"}
    with pytest.raises(KeyError) as err:
        build_source_function("Heavyside_fit_state_dep")
    message = str(err.value)
    assert "did you mean 'Heaviside_fit_state_dep'" in message and "RateArray" in message


def test_analytic_functions_at_points():
    phi = t(-1.0, 0.0, 0.3, 2.0)
    assert torch.allclose(build_source_function("Tanh").value(phi, None), torch.tanh(phi))
    assert torch.equal(build_source_function("ReLU").value(phi, None), t(0.0, 0.0, 0.3, 2.0))
    gelu = build_source_function("SimpleGELU").value(phi, None)
    expected = [0.5 * p * math.tanh(0.8 * p) + 0.5 * p for p in phi.tolist()]
    assert torch.allclose(gelu, t(*expected))
    telu = build_source_function("Telu").value(phi, None)
    assert torch.allclose(telu, t(*[p * math.tanh(math.exp(p)) for p in phi.tolist()]))


def test_heaviside_formula_by_hand():
    src = build_source_function("Heaviside_fit_state_dep")
    a, b, c, k, m, n = 0.37091212, 0.31903101, 1.06435066, 1.92138556, 2.50322787, 2.62706077
    phi, i = 0.45, 2.0
    d = a * (i - c) ** k - b * (abs(math.cos(math.pi * phi)) + 1e-6) ** m
    expected = 1.0 / (1.0 + math.exp(-100.0 * d)) * d ** (1.0 / n)
    assert src.value(t(phi), t(i)).item() == pytest.approx(expected, rel=1e-12)
    # Below the current threshold the fit is (numerically) zero.
    assert src.value(t(0.0), t(0.5)).item() < 1e-6


def test_tanh_gauss_fit_formula_and_current_window():
    src = build_source_function("TanhGauss1p7IBFit")
    sigma, p, amp = 0.126327336, 2.548409700, 0.784536839
    phi, i = 1.4, 1.2
    u = min(max(1.7 - min(max(i, 0.7), 1.7), 0.0), 1.0)
    expected = amp * (1 - u) ** p * math.tanh(math.exp(-((phi % 1.0) - 0.5) ** 2 / (2 * sigma**2)))
    assert src.value(t(phi), t(i)).item() == pytest.approx(expected, rel=1e-12)
    assert src.value(t(0.5), t(0.6)).item() == 0.0  # i <= 0.7: no rate
    assert src.value(t(0.5), t(3.0)).item() == src.value(t(0.5), t(1.7)).item()  # saturates


def test_rate_array_hits_table_nodes_and_interpolates():
    table = default_rate_table()
    src = build_source_function("RateArray")
    rows = [0, 37, 200]
    cols = [0, 91, 200]
    phi = t(*[table.phi[c] for c in cols])
    ib = t(*[table.ib[r] for r in rows])
    assert torch.allclose(src.value(phi, ib), t(*[table.g[r, c] for r, c in zip(rows, cols)]), atol=1e-12)
    # Midpoint of a cell is the mean of its four corners (bilinear).
    r, c = 50, 60
    mid = src.value(t((table.phi[c] + table.phi[c + 1]) / 2), t((table.ib[r] + table.ib[r + 1]) / 2))
    corners = table.g[r, c] + table.g[r, c + 1] + table.g[r + 1, c] + table.g[r + 1, c + 1]
    assert mid.item() == pytest.approx(corners / 4, abs=1e-12)


def test_rate_array_folds_phi_and_clamps_current():
    src = build_source_function("RateArray")
    i = t(1.8, 1.8, 1.8, 1.8, 1.8)
    phi = t(0.17, -0.17, 0.83, 1.17, 3.83)  # all fold onto phi_eff = 0.17
    values = src.value(phi, i)
    assert torch.allclose(values, values[0].expand(5), atol=1e-12)
    # Outside [0.95, 2.5] the lookup holds the border; negative currents use |i|.
    border_hi = src.value(t(0.3), t(2.5))
    assert src.value(t(0.3), t(4.0)).item() == pytest.approx(border_hi.item(), abs=1e-15)
    assert src.value(t(0.3), t(0.2)).item() == pytest.approx(src.value(t(0.3), t(0.95)).item(), abs=1e-15)
    assert src.value(t(0.3), t(-2.1)).item() == pytest.approx(src.value(t(0.3), t(2.1)).item(), abs=1e-15)


@pytest.mark.parametrize("name", sorted(SOURCE_FUNCTIONS.names()))
def test_closed_form_derivatives_match_autograd(name):
    src = build_source_function(name)
    gen = torch.Generator().manual_seed(3)
    phi = (torch.rand(200, generator=gen, dtype=F64) * 3 - 1.5).requires_grad_(True)
    cur = (torch.rand(200, generator=gen, dtype=F64) * 2.4 + 0.3).requires_grad_(True)
    g = src.value(phi, cur if src.uses_current else None)
    grads = torch.autograd.grad(g.sum(), [phi, cur], allow_unused=True)
    dphi, di = src.derivatives(phi.detach(), cur.detach() if src.uses_current else None)
    assert torch.allclose(dphi, grads[0], atol=1e-9)
    if src.uses_current:
        assert torch.allclose(di, grads[1], atol=1e-9)
    else:
        assert di is None


@pytest.mark.parametrize("name", sorted(SOURCE_FUNCTIONS.names()))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scan_stepper_matches_value_and_derivatives(name, dtype):
    src = build_source_function(name)
    gen = torch.Generator().manual_seed(5)
    phi = (torch.rand(3, 8, 5, generator=gen) * 2 - 1).to(dtype)
    cur = (torch.rand(3, 8, 5, generator=gen) * 2 + 0.5).to(dtype) if src.uses_current else None
    expected = src.value(phi, cur)
    dphi_ref, di_ref = src.derivatives(phi, cur)
    stepper = src.stepper((8, 5), phi, True)
    assert stepper.writes_slopes == src.forward_slopes
    plan = stepper.plan(phi.clone())
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for k in range(3):
        g, dphi, di = (torch.empty(8, 5, dtype=dtype) for _ in range(3))
        current = None if cur is None else cur[k].clone()
        stepper.step(plan[k], current, g, dphi, di)
        assert torch.allclose(g, expected[k], atol=tol)
        if current is not None:
            assert torch.equal(current, cur[k])  # the stepper leaves its inputs alone
        if stepper.writes_slopes:
            assert torch.allclose(dphi, dphi_ref[k], atol=tol * 400, rtol=1e-4)
            if di_ref is not None:
                assert torch.allclose(di, di_ref[k], atol=tol * 200, rtol=1e-4)
        g_flux = torch.empty(8, 5, dtype=dtype)
        stepper.step_flux(phi[k].clone(), current, g_flux, dphi, di)
        assert torch.allclose(g_flux, expected[k], atol=tol)


def test_missing_current_is_a_clear_error():
    for name in ("RateArray", "Heaviside_fit_state_dep", "TanhGauss1p7IBFit"):
        with pytest.raises(ValueError, match="current"):
            build_source_function(name).value(t(0.1), None)


def test_rate_table_file_is_plain_arrays():
    with np.load(RATE_TABLE_PATH, allow_pickle=False) as data:
        assert data["g"].shape == (201, 201)
        assert data["ib"][0] == pytest.approx(0.95) and data["ib"][-1] == pytest.approx(2.5)
        assert data["phi"][0] == 0.0 and data["phi"][-1] == pytest.approx(0.5)
