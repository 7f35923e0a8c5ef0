"""What the trainer relies on: named parameters, masks, constraints, noise, transforms, dt."""

import pytest
import torch
from soen_model_builders import arch, conn, feed_forward, layer

from soen_train.model import SOENModel


def sparse_constrained():
    spec = feed_forward(internal=True)
    spec["connections"][0] = conn(0, 1, "sparse", sparsity=0.5, init="uniform", min=-0.3,
                                  max=0.3, constraints={"min": -0.1, "max": 0.2})
    spec["layers"][1]["params"]["learnable_params"] = {"bias_current": True, "gamma_plus": True}
    spec["layers"][1]["params"]["polarity"] = [1, -1, 0, 1]
    return spec


def test_masks_stay_zero_and_constraints_hold_after_optimiser_steps():
    model = SOENModel.from_yaml(sparse_constrained(), seed=3)
    masks = {name: conn.mask.clone() for name, conn in model.connections.items()}
    assert 0 < masks["0_to_1"].sum() < masks["0_to_1"].numel()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.5,
                                  weight_decay=0.1)
    x = torch.rand(4, 6, 3, generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        optimiser.zero_grad()
        (-model(x).sum() - model.simulate(x).states[1].sum()).backward()
        grad = model.connection("0_to_1").weight.grad
        assert torch.all(grad[masks["0_to_1"] == 0] == 0)
        optimiser.step()
        model.enforce_constraints()
    for name, connection in model.connections.items():
        assert torch.all(connection.weight[masks[name] == 0] == 0), name
        assert torch.equal(connection.mask, masks[name])
    w01 = model.connection("0_to_1").weight
    assert w01.min() >= -0.1 and w01.max() <= 0.2
    internal = model.connection("1_to_1").weight
    assert torch.all(internal.diagonal() == 0)
    assert torch.all(internal[:, 0] >= 0) and torch.all(internal[:, 1] <= 0)  # polarity of sources
    assert torch.all(model.layer(1).bias_current >= 0) and torch.all(model.layer(1).gamma_plus >= 0)
    w12 = model.connection("1_to_2").weight
    assert torch.all(w12[:, 0] >= 0) and torch.all(w12[:, 1] <= 0)


def test_user_constraints_on_layer_parameters():
    spec = feed_forward()
    spec["layers"][1]["params"]["gamma_plus"] = {"value": 0.002, "learnable": True,
                                                 "constraints": {"min": 0.001, "max": 0.003}}
    model = SOENModel.from_yaml(spec, seed=0)
    with torch.no_grad():
        model.layer(1).gamma_plus.copy_(torch.tensor([-1.0, 0.0015, 0.5, 0.004]))
    model.enforce_constraints()
    assert torch.allclose(model.layer(1).gamma_plus, torch.tensor([0.001, 0.0015, 0.003, 0.003]))


def test_parameters_by_name_reads_and_writes_the_simulated_values():
    model = SOENModel.from_yaml(feed_forward(internal=True), seed=0)
    named = model.parameters_by_name()
    assert set(named) == {
        *(f"layers.{lid}.{p}" for lid in (1, 2) for p in ("phi_offset", "bias_current", "gamma_plus",
                                                            "gamma_minus")),
        "connections.0_to_1", "connections.1_to_2", "connections.2_to_3", "connections.1_to_1"}
    x = torch.rand(2, 4, 3)
    before = model(x)
    with torch.no_grad():
        named["layers.2.gamma_plus"].mul_(2.0)
    assert not torch.allclose(model(x), before)
    with torch.no_grad():
        named["connections.2_to_3"].mul_(3.0)
    assert torch.allclose(model.simulate(x).states[3], 3.0 * model.simulate(x).states[2])


def test_connection_weights_are_masked_and_carry_gradients():
    model = SOENModel.from_yaml(sparse_constrained(), seed=1)
    weights = model.connection_weights()
    assert set(weights) == {"0_to_1", "1_to_2", "1_to_1"}
    assert set(model.connection_weights(learnable_only=False)) == set(weights) | {"2_to_3"}
    mask = model.connection("0_to_1").mask
    assert torch.equal(weights["0_to_1"], model.connection("0_to_1").weight * mask)
    weights["0_to_1"].pow(2).sum().backward()
    grad = model.connection("0_to_1").weight.grad
    assert torch.equal(grad, 2 * model.connection("0_to_1").weight.detach() * mask)


def test_dt_accessors_and_learnable_dt():
    model = SOENModel.from_yaml(feed_forward(), seed=0)
    assert model.dt == 37.0 and model.input_dim == 3 and model.output_dim == 2
    assert model.layer_ids == [0, 1, 2, 3]
    x = torch.rand(2, 5, 3)
    slow = model(x)
    model.set_dt(74.0)
    assert model.dt == 74.0 and model.spec["simulation"]["dt"] == 74.0
    assert not torch.allclose(model(x), slow)
    with pytest.raises(ValueError, match="> 0"):
        model.set_dt(0.0)
    learn = SOENModel.from_yaml(feed_forward(dt_learnable=True), seed=0)
    assert "dt" in learn.parameters_by_name()
    learn(x).sum().backward()
    assert learn.dt_parameter.grad is not None and learn.dt_parameter.grad.abs() > 0


def noisy_relay(**noise):
    spec = arch([layer(0, "Input", 2), layer(1, "Input", 2)],
                [conn(0, 1, "one_to_one", init="constant", value=1.0)])
    if noise:
        spec["layers"][1].update(noise)
    return SOENModel.from_yaml(spec, seed=0)


def test_noise_acts_only_in_training():
    model = noisy_relay(noise={"phi": 0.1})
    x = torch.zeros(3, 50, 2)
    model.eval()
    assert torch.equal(model(x), torch.zeros(3, 51, 2))
    model.train()
    out = model(x)[:, 1:]
    assert 0.07 < out.std().item() < 0.13
    assert not torch.allclose(out[:, 0], out[:, 1])  # fresh draw every step


def test_perturbation_is_fixed_over_time_and_differs_per_sample():
    model = noisy_relay(perturb={"phi_mean": 0.5, "phi_std": 0.1})
    out = model.train()(torch.zeros(64, 10, 2))[:, 1:]
    assert torch.allclose(out, out[:, :1].expand_as(out))
    assert abs(out.mean().item() - 0.5) < 0.05 and 0.05 < out[:, 0].std().item() < 0.15


def test_set_noise_by_name_updates_the_run_and_the_spec():
    model = SOENModel.from_yaml(feed_forward(), seed=0).train()
    changed = model.set_noise("noise", "bias_current", 0.05)
    assert changed == [1, 2]
    assert model.spec["layers"][1]["noise"]["bias_current"] == 0.05
    assert model.set_noise("perturb", "gamma_plus", 1e-4, layer_ids=[2]) == [2]
    assert model.spec["layers"][2]["perturb"]["extras_std"] == {"gamma_plus": 1e-4}
    x = torch.rand(2, 5, 3)
    assert not torch.allclose(model(x), model(x))
    model.set_noise("noise", "bias_current", 0.0)
    model.set_noise("perturb", "gamma_plus", 0.0, layer_ids=[2])
    assert torch.equal(model(x), model(x))


def test_set_noise_errors_list_valid_choices():
    model = SOENModel.from_yaml(feed_forward(), seed=0)
    with pytest.raises(ValueError, match="valid targets: \\['noise', 'perturb'\\]"):
        model.set_noise("jitter", "phi", 0.1)
    with pytest.raises(ValueError, match="did you mean 'bias_current'"):
        model.set_noise("noise", "bias_curent", 0.1)
    with pytest.raises(ValueError, match="layer 0 \\(Input\\) has no noise key 'gamma_plus'"):
        model.set_noise("noise", "gamma_plus", 0.1, layer_ids=[0])
    with pytest.raises(KeyError, match="no layer 7"):
        model.set_noise("noise", "phi", 0.1, layer_ids=[7])
    with pytest.raises(ValueError, match=">= 0"):
        model.set_noise("noise", "phi", -1.0)
    assert "j" in SOENModel.from_yaml(feed_forward(internal=True)).noise_keys(1)


def test_connection_noise_draws_once_per_forward():
    model = noisy_relay().train()
    model.set_connection_noise("0_to_1", 0.5)
    x = torch.ones(1, 20, 2)
    out = model(x)[0, 1:]
    assert torch.allclose(out, out[:1].expand_as(out))  # same J at every step
    assert not torch.allclose(out, torch.ones_like(out))
    model.eval()
    assert torch.equal(model(x)[0, 1:], torch.ones(20, 2))
    with pytest.raises(KeyError, match="did you mean '0_to_1'"):
        model.set_connection_noise("0_to_2", 0.1)


def test_weight_transform_is_a_straight_through_quantiser():
    model = SOENModel.from_yaml(feed_forward(), seed=0)
    levels = torch.linspace(-0.3, 0.3, 7)

    def snap(weight):
        nearest = levels[(weight.unsqueeze(-1) - levels).abs().argmin(-1)]
        return weight + (nearest - weight).detach()

    x = torch.rand(2, 6, 3)
    model.set_weight_transform(snap)
    quantised = model.simulate(x).states[1]
    weight = model.connection("0_to_1").weight
    manual = SOENModel.from_yaml(feed_forward(), seed=0)
    with torch.no_grad():
        manual.connection("0_to_1").weight.copy_(snap(weight.detach()))
        manual.connection("1_to_2").weight.copy_(snap(model.connection("1_to_2").weight.detach()))
    assert torch.allclose(quantised, manual.simulate(x).states[1])
    quantised.sum().backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    model.set_weight_transform(None)
    assert model.connection("0_to_1").transform is None
