"""Gradients are finite through RateArray and Heaviside, also at their kinks and clamps."""

import pytest
import torch
from soen_model_builders import arch, feed_forward, layer

from soen_train.model import SOENModel


@pytest.mark.parametrize("source", ["RateArray", "Heaviside_fit_state_dep"])
@pytest.mark.parametrize("method", ["layerwise", "stepwise_jacobi"])
def test_all_parameter_gradients_are_finite(source, method):
    spec = feed_forward(source, internal=True, network_evaluation_method=method, dt_learnable=True)
    for lid in (1, 2):
        spec["layers"][lid]["params"]["learnable_params"] = {
            "phi_offset": True, "bias_current": True, "gamma_plus": True, "gamma_minus": True}
    model = SOENModel.from_yaml(spec, seed=0)
    gen = torch.Generator().manual_seed(0)
    # Inputs that drive fluxes across fold points (multiples of 0.5) and currents past the table.
    x = torch.cat([torch.rand(2, 8, 3, generator=gen) * 4.0 - 2.0, torch.full((1, 8, 3), 0.5)], dim=0)
    out = model(x)
    assert torch.isfinite(out).all()
    (out[:, 1:].pow(2).mean() + model.simulate(x).states[1].mean()).backward()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name
    assert model.layer(1).bias_current.grad.abs().sum() > 0
    assert model.connection("0_to_1").weight.grad.abs().sum() > 0


@pytest.mark.parametrize("source", ["RateArray", "Heaviside_fit_state_dep"])
def test_gradients_at_clamped_currents_and_cosine_zero(source):
    # bias 0.5 (below the table and the fit threshold) and phi exactly 0.5 (|cos| = 0).
    spec = arch([layer(0, "SingleDendrite", 2, source_func=source, phi_offset=0.0,
                       bias_current={"value": 0.5, "learnable": True})], [], input_type="flux")
    model = SOENModel.from_yaml(spec, seed=0)
    x = torch.full((1, 5, 2), 0.5, requires_grad=True)
    model(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.isfinite(model.layer(0).bias_current.grad).all()


def test_input_gradient_matches_finite_differences_in_float64():
    model = SOENModel.from_yaml(feed_forward("RateArray"), seed=3).double()
    x = torch.rand(1, 6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.4
    x.requires_grad_(True)
    model(x).sum().backward()
    eps = 1e-6
    probe = torch.zeros_like(x)
    probe[0, 2, 1] = eps
    with torch.no_grad():
        numeric = (model(x + probe).sum() - model(x - probe).sum()) / (2 * eps)
    assert x.grad[0, 2, 1].item() == pytest.approx(numeric.item(), rel=1e-5, abs=1e-9)
