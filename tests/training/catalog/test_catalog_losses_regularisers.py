"""Weight, quantisation, output-state and state-history regularisers against their formulas."""

import math

import pytest
import torch
from catalog_standin_model import TinySimulation, TinySOEN

from soen_train.training.losses import (
    DEFAULT_CODEBOOK,
    LossContext,
    call_loss,
    nearest_code,
    uniform_codebook,
)

J01 = [[0.3, -0.1], [0.0, 0.5], [-0.24, 0.2]]
J12 = [[0.25, 0.0, 0.0], [0.0, 0.0, -1.0]]


def model_with_known_weights():
    model = TinySOEN()
    with torch.no_grad():
        model.J["0_to_1"].copy_(torch.tensor(J01))
        model.J["1_to_2"].copy_(torch.tensor(J12))
        model.J["1_to_1"].fill_(0.9)  # not learnable: never penalised
    return model


def model_ctx(model):
    return LossContext(outputs=torch.zeros(1, 2), model=model)


def test_reg_j_loss_sums_exponential_excess_of_learnable_weights():
    model = model_with_known_weights()
    excess = [0.3 - 0.24, 0.5 - 0.24, 0.25 - 0.24, 1.0 - 0.24]
    expected = 0.01 * sum(math.exp(e) - 1 for e in excess)
    assert call_loss("reg_J_loss", model_ctx(model)).item() == pytest.approx(expected, rel=1e-5)
    expected2 = 2.0 * sum(math.exp(3 * (e - 0.06)) - 1 for e in excess if e > 0.06)
    params = {"threshold": 0.3, "scale": 3.0, "factor": 2.0}
    assert call_loss("reg_J_loss", model_ctx(model), params).item() == pytest.approx(expected2, rel=1e-5)
    # the lower-case spelling finds the same loss (the original skipped it silently)
    assert call_loss("reg_j_loss", model_ctx(model)).item() == pytest.approx(expected, rel=1e-5)


def test_reg_j_loss_gradient_only_on_offending_weights():
    model = model_with_known_weights()
    call_loss("reg_J_loss", model_ctx(model)).backward()
    grad = model.J["0_to_1"].grad
    assert grad[0, 0] == pytest.approx(0.01 * math.exp(0.06), rel=1e-5)
    assert grad[0, 1] == 0.0 and grad[2, 0] == 0.0


def test_uniform_codebook_examples():
    assert torch.allclose(uniform_codebook(-0.24, 0.24, bits=2), torch.tensor([-0.24, -0.12, 0.0, 0.12, 0.24]))
    assert torch.allclose(uniform_codebook(-1.0, 1.0, levels=4), torch.tensor([-1.0, 0.0, 0.5, 1.0]))
    assert torch.allclose(uniform_codebook(0.0, 1.0, levels=3), torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(uniform_codebook(0.1, 0.5, levels=5), torch.tensor([0.0, 0.1, 0.7 / 3, 1.1 / 3, 0.5]))
    assert uniform_codebook(-0.24, 0.24, bits=4).numel() == 17
    with pytest.raises(ValueError, match="exactly one of bits or levels"):
        uniform_codebook(-1, 1)
    with pytest.raises(ValueError, match=r"min_val \(1.0\) must be smaller than max_val \(-1.0\)"):
        uniform_codebook(1, -1, bits=2)


def test_nearest_code():
    book = torch.tensor([-0.24, -0.12, 0.0, 0.12, 0.24])
    w = torch.tensor([0.3, -0.1, 0.06, -0.5, 0.13, -0.06])
    assert torch.allclose(nearest_code(w, book), torch.tensor([0.24, -0.12, 0.0, -0.24, 0.12, -0.12]))


def test_gravity_quantization_loss_distances():
    model = model_with_known_weights()
    params = {"min_val": -0.24, "max_val": 0.24, "bits": 2}
    # distances: J01 -> 0.06, 0.02, 0, 0.26, 0, 0.04 ; J12 -> 0.01, 0, 0, 0, 0, 0.76
    d = [0.06, 0.02, 0.0, 0.26, 0.0, 0.04, 0.01, 0.0, 0.0, 0.0, 0.0, 0.76]
    mae = call_loss("gravity_quantization_loss", model_ctx(model), params).item()
    assert mae == pytest.approx(sum(d) / 12, rel=1e-5)
    mse = call_loss("gravity_quantization_loss", model_ctx(model), {**params, "mode": "mse", "factor": 3.0}).item()
    assert mse == pytest.approx(3.0 * sum(v * v for v in d) / 12, rel=1e-5)
    only = call_loss("gravity_quantization_loss", model_ctx(model), {**params, "connections": ["1_to_2"]}).item()
    assert only == pytest.approx(0.77 / 6, rel=1e-5)
    explicit = call_loss("gravity_quantization_loss", model_ctx(model), {"codebook": [0.0, 0.5, -1.0]}).item()
    d_explicit = [0.2, 0.1, 0.0, 0.0, 0.24, 0.2, 0.25, 0, 0, 0, 0, 0.0]
    assert explicit == pytest.approx(sum(d_explicit) / 12, rel=1e-5)


def test_gravity_default_codebook():
    assert DEFAULT_CODEBOOK == (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
    model = model_with_known_weights()
    d = [0.05, 0.1, 0.0, 0.0, 0.01, 0.05, 0.0, 0, 0, 0, 0, 0.0]
    assert call_loss("gravity_quantization_loss", model_ctx(model)).item() == pytest.approx(sum(d) / 12, rel=1e-5)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"min_val": -0.24}, r"needs min_val, max_val and bits or levels; missing \['max_val', 'bits or levels'\]"),
        ({"codebook": [0.0], "bits": 2}, r"give either 'codebook' or \['bits'\], not both"),
        ({"min_val": -1, "max_val": 1, "bits": 2, "levels": 3}, "give bits or levels, not both"),
        ({"mode": "huber"}, r"'mode' = 'huber' is not valid; choose one of mae, l1, mse, l2"),
        ({"connections": ["9_to_9"]}, r"connections \['9_to_9'\] are not learnable connections.*valid: 0_to_1, 1_to_2"),
        ({"num_level": 4}, r"unknown parameter 'num_level'.*valid parameters: bits, codebook"),
    ],
)
def test_gravity_errors(params, message):
    with pytest.raises(ValueError, match=message):
        call_loss("gravity_quantization_loss", model_ctx(model_with_known_weights()), params)


def pooled_ctx(values):
    pooled = torch.tensor(values)
    return LossContext(outputs=pooled, pooled=pooled)


def test_get_off_the_ground_loss_ramp():
    ctx = pooled_ctx([[0.0, 0.005, 0.01, 0.02, -0.005]])
    # 10, 10 + (0.5 - 10) * 0.5 = 5.25, 0.5, 0, 5.25
    assert call_loss("get_off_the_ground_loss", ctx).item() == pytest.approx(21.0 / 5, rel=1e-6)
    with pytest.raises(ValueError, match=r"min_penalty_offset \(2.0\) must not exceed max_penalty_offset \(1.0\)"):
        call_loss("get_off_the_ground_loss", ctx, {"min_penalty_offset": 2.0, "max_penalty_offset": 1.0})
    with pytest.raises(ValueError, match=r"'threshold' = 0 must lie in \(0.0, inf\)"):
        call_loss("get_off_the_ground_loss", ctx, {"threshold": 0})


def test_exp_high_state_penalty():
    ctx = pooled_ctx([[0.5, 1.5, -2.0]])
    expected = (0.0 + math.expm1(2 * 0.5) + math.expm1(2 * 1.0)) / 3
    assert call_loss("exp_high_state_penalty", ctx, {"scale": 2.0}).item() == pytest.approx(expected, rel=1e-6)
    # without pooling (seq2seq) it acts on the output history
    hist = torch.tensor([[[0.5], [3.0]]])
    seq = LossContext(outputs=hist)
    assert call_loss("exp_high_state_penalty", seq).item() == pytest.approx(math.expm1(2.0) / 2, rel=1e-6)


def hand_sim():
    # layer 0: steps 1..2 -> |s| = 1, 3 ; layer 1: -> |s| = 0.5, 0.5, 2, 0 (step 0 ignored)
    states = {
        0: torch.tensor([[[9.0], [1.0], [-3.0]]]),
        1: torch.tensor([[[9.0, 9.0], [0.5, -0.5], [2.0, 0.0]]]),
    }
    return TinySimulation(states=states)


def test_average_state_magnitude_loss():
    ctx = LossContext(outputs=torch.zeros(1, 2), sim=hand_sim())
    m_all = (1 + 3 + 0.5 + 0.5 + 2 + 0) / 6
    assert call_loss("average_state_magnitude_loss", ctx).item() == pytest.approx((m_all - 0.5) ** 2)
    m1 = 3.0 / 4
    params = {"layer_ids": [1], "loss_type": "mae", "target_magnitude": 1.0, "factor": 2.0}
    assert call_loss("average_state_magnitude_loss", ctx, params).item() == pytest.approx(2.0 * 0.25)
    with pytest.raises(ValueError, match=r"layer_ids \[5\] are not in the simulation; valid layer ids: 0, 1"):
        call_loss("average_state_magnitude_loss", ctx, {"layer_ids": [5]})
    assert m1 == 0.75


def test_final_timestep_zero_mse():
    ctx = LossContext(outputs=torch.zeros(1, 2), sim=hand_sim())
    assert call_loss("final_timestep_zero_mse", ctx).item() == pytest.approx((4.0 + 0.0) / 2)


def test_ensure_post_sample_decay_mean_of_final_g():
    model = TinySOEN()
    g = {
        1: torch.tensor([[[5.0, 5.0, 5.0], [0.1, 0.2, 0.3]], [[5.0, 5.0, 5.0], [0.0, 0.0, 0.6]]]),
        2: torch.tensor([[[5.0, 5.0], [0.4, 0.0]], [[5.0, 5.0], [0.2, 0.2]]]),
    }
    sim = TinySimulation(states={2: torch.zeros(2, 3, 2)}, g=g)
    ctx = LossContext(outputs=torch.zeros(2, 2), model=model, sim=sim)
    expected = (0.1 + 0.2 + 0.3 + 0.0 + 0.0 + 0.6 + 0.4 + 0.0 + 0.2 + 0.2) / 10
    assert call_loss("ensure_post_sample_decay", ctx).item() == pytest.approx(expected)
    # a mean: doubling the batch with the same samples leaves the value unchanged
    g2 = {k: torch.cat([v, v]) for k, v in g.items()}
    ctx2 = LossContext(outputs=torch.zeros(4, 2), model=model, sim=TinySimulation(states={}, g=g2))
    assert call_loss("ensure_post_sample_decay", ctx2).item() == pytest.approx(expected)
    only1 = call_loss("ensure_post_sample_decay", ctx, {"layer_ids": [1]}).item()
    assert only1 == pytest.approx(1.2 / 6)
    with pytest.raises(ValueError, match=r"layer_ids \[0\] are not SingleDendrite layers; valid layer ids: 1, 2"):
        call_loss("ensure_post_sample_decay", ctx, {"layer_ids": [0]})


def test_ensure_post_sample_decay_with_zero_input_steps():
    model = TinySOEN()
    x = torch.rand(2, 4, 2)
    sim = model.simulate(x, track_g=True)
    ctx = LossContext(outputs=sim.output[:, 1:], model=model, sim=sim, inputs=x)
    after = model.simulate(torch.zeros(2, 3, 2), initial_states=sim.final_states(), track_g=True)
    parts = [sim.g[1][:, -1].reshape(-1), sim.g[2][:, -1].reshape(-1), after.g[1].reshape(-1), after.g[2].reshape(-1)]
    expected = torch.cat(parts).abs().mean().item()
    value = call_loss("ensure_post_sample_decay", ctx, {"zero_input_steps": 3}).item()
    assert value == pytest.approx(expected, rel=1e-6)
    no_g = LossContext(outputs=sim.output, model=model, sim=model.simulate(x))
    with pytest.raises(ValueError, match="simulate with track_g=True"):
        call_loss("ensure_post_sample_decay", no_g)
