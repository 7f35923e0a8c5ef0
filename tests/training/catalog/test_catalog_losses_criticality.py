"""branching_loss and local_expansion_loss against hand computations."""

import math

import pytest
import torch
from catalog_standin_model import TinySimulation, TinySOEN

from soen_train.training.losses import LossContext, call_loss


class ChainModel:
    """Input(0, dim 1) -> layer 1 (dim 2) -> layer 2 (dim 1), fixed weights, no phi_offset."""

    def __init__(self):
        self.spec = {"layers": [
            {"layer_id": 0, "layer_type": "Input"},
            {"layer_id": 1, "layer_type": "SingleDendrite"},
            {"layer_id": 2, "layer_type": "SingleDendrite"},
        ]}
        self.layer_ids = [0, 1, 2]
        self.J = {"0_to_1": torch.tensor([[1.0], [2.0]]), "1_to_2": torch.tensor([[0.5, -1.0]])}

    def connection_weights(self, learnable_only=True):
        return dict(self.J)

    def parameters_by_name(self):
        return {}


def branching_ctx():
    states = {
        0: torch.tensor([[[0.0], [2.0]]]),
        1: torch.tensor([[[0.0, 0.0], [3.0, -4.0]]]),
        2: torch.tensor([[[0.0], [1.0]]]),
    }
    return LossContext(outputs=torch.zeros(1, 1), model=ChainModel(), sim=TinySimulation(states=states))


def expected_sigma():
    # phi_in = [2, 4]; phi_out = |s| * column sums of |J_1->2| = [3 * 0.5, 4 * 1.0]
    soft = [math.sqrt(4 + 1e-8), math.sqrt(16 + 1e-8)]
    eps = 1e-6 * max(sum(soft) / 2, 3.5, 1e-6)
    num = (math.sqrt(9 + 1e-8) * 0.5 + eps) + (math.sqrt(16 + 1e-8) * 1.0 + eps)
    return num / (sum(soft) + 2 * eps)


def test_branching_loss_log_domain_honours_target_sigma():
    sigma = expected_sigma()
    assert sigma == pytest.approx(5.5 / 6, rel=1e-5)
    ctx = branching_ctx()
    assert call_loss("branching_loss", ctx).item() == pytest.approx(math.log(sigma) ** 2, rel=1e-5)
    value = call_loss("branching_loss", ctx, {"target_sigma": 2.0, "factor": 3.0}).item()
    assert value == pytest.approx(3.0 * (math.log(sigma) - math.log(2.0)) ** 2, rel=1e-5)


def test_branching_loss_linear_domain_and_clamp():
    sigma = expected_sigma()
    ctx = branching_ctx()
    value = call_loss("branching_loss", ctx, {"use_log_domain": False, "target_sigma": 2.0}).item()
    assert value == pytest.approx((sigma - 2.0) ** 2, rel=1e-5)
    clamped = call_loss("branching_loss", ctx, {"clamp_min": 1.5, "clamp_max": 3.0}).item()
    assert clamped == pytest.approx(math.log(1.5) ** 2, rel=1e-5)


def test_branching_loss_layer_selection_errors():
    with pytest.raises(ValueError, match=r"layer_ids \[2\] are not layers with both inbound and outbound connections; valid layer ids: 1"):
        call_loss("branching_loss", branching_ctx(), {"layer_ids": [2]})
    with pytest.raises(ValueError, match=r"'target_sigma' = 0 must lie in \(0.0, inf\)"):
        call_loss("branching_loss", branching_ctx(), {"target_sigma": 0})


def test_branching_loss_trains_the_standin_weights():
    model = TinySOEN()
    x = torch.rand(2, 5, 2)
    ctx = LossContext(outputs=torch.zeros(2, 2), model=model, sim=model.simulate(x), inputs=x)
    value = call_loss("branching_loss", ctx)
    value.backward()
    assert torch.isfinite(value) and model.J["1_to_2"].grad.abs().sum() > 0


class PerturbationEcho:
    """forward(x') = clean histories + c_t * sum(x' - x) on layers 1 and 2 (float64)."""

    def __init__(self, x, clean, c1, c2):
        self.x, self.clean, self.c1, self.c2 = x, clean, torch.tensor(c1), torch.tensor(c2)

    def __call__(self, xp):
        shift = (xp - self.x).sum()
        states = dict(self.clean)
        states[0] = torch.cat([self.clean[0][:, :1], xp], 1)  # the input layer holds the input
        states[1] = self.clean[1] + torch.cat([torch.zeros(1), self.c1]).view(1, -1, 1) * shift
        states[2] = self.clean[2] + torch.cat([torch.zeros(1), self.c2]).view(1, -1, 1) * shift
        return TinySimulation(states=states)


def expansion_ctx():
    torch.manual_seed(0)
    x = torch.rand(1, 4, 1, dtype=torch.float64) + 0.5
    clean = {
        0: torch.cat([torch.zeros(1, 1, 1, dtype=torch.float64), x], 1),
        1: torch.rand(1, 5, 1, dtype=torch.float64),
        2: torch.rand(1, 5, 1, dtype=torch.float64),
    }
    forward = PerturbationEcho(x, clean, [1.0, 2.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0])
    return LossContext(outputs=clean[2][:, 1:], model=ChainModel(), sim=TinySimulation(states=clean),
                       inputs=x, forward=forward)


def test_local_expansion_loss_pooled_over_layers():
    params = {"perturbation_scale": 1e-3, "layer_ids": [1, 2]}
    value = call_loss("local_expansion_loss", expansion_ctx(), params).item()
    # norms per layer: layer 1 sigma = 2, 1, 0.5; layer 2 sigma = 1, 1, 1; the six ratios pooled
    expected = 2 * math.log(2.0) ** 2 / 6
    assert value == pytest.approx(expected, rel=1e-4)


def test_local_expansion_loss_default_layers_include_the_input():
    params = {"perturbation_scale": 1e-3}
    torch.manual_seed(3)
    default = call_loss("local_expansion_loss", expansion_ctx(), params).item()
    torch.manual_seed(3)
    every = call_loss("local_expansion_loss", expansion_ctx(), {**params, "layer_ids": [0, 1, 2]}).item()
    torch.manual_seed(3)
    hidden = call_loss("local_expansion_loss", expansion_ctx(), {**params, "layer_ids": [1, 2]}).item()
    assert default == pytest.approx(every, rel=1e-12) and default != pytest.approx(hidden, rel=1e-3)


def test_local_expansion_loss_per_layer_and_linear():
    value = call_loss("local_expansion_loss", expansion_ctx(), {"perturbation_scale": 1e-3, "per_layer": True, "layer_ids": [1, 2]}).item()
    # layer 1: sigma = 2, 1, 0.5 ; layer 2: sigma = 1, 1, 1
    assert value == pytest.approx((2 * math.log(2.0) ** 2 / 3 + 0.0) / 2, rel=1e-4)
    params = {"perturbation_scale": 1e-3, "use_log_loss": False, "target_value": 2.0, "layer_ids": [1]}
    value = call_loss("local_expansion_loss", expansion_ctx(), params).item()
    assert value == pytest.approx((0.0 + 1.0 + 2.25) / 3, rel=1e-4)


def test_local_expansion_loss_needs_a_forward_callable():
    ctx = expansion_ctx()
    ctx.forward = None
    with pytest.raises(ValueError, match="runs a second forward pass and needs ctx.forward"):
        call_loss("local_expansion_loss", ctx)


def test_local_expansion_loss_gradient_through_the_standin():
    model = TinySOEN()
    x = torch.rand(2, 6, 2)
    sim = model.simulate(x)
    ctx = LossContext(outputs=sim.output[:, 1:], model=model, sim=sim, inputs=x, forward=model.simulate)
    value = call_loss("local_expansion_loss", ctx, {"perturbation_scale": 1e-2})
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(model.J["0_to_1"].grad).all()


def test_local_expansion_detach_clean_changes_only_the_gradient():
    model = TinySOEN()
    x = torch.rand(2, 6, 2)
    values, grads = [], []
    for detach in (True, False):
        model.J["0_to_1"].grad = None
        sim = model.simulate(x)
        ctx = LossContext(outputs=sim.output[:, 1:], model=model, sim=sim, inputs=x, forward=model.simulate)
        torch.manual_seed(5)
        value = call_loss("local_expansion_loss", ctx, {"perturbation_scale": 1e-3, "detach_clean": detach})
        value.backward()
        values.append(value.item())
        grads.append(model.J["0_to_1"].grad.abs().max().item())
    assert values[0] == pytest.approx(values[1])
    # detached clean histories inflate the gradient by about 1 / perturbation_scale
    assert grads[0] > 20 * grads[1]
