"""Losses follow the original's definitions: branching_loss counts a layer's internal
connection as outbound; the original's parameter names are accepted."""

from __future__ import annotations

import math

import pytest
import torch

from soen_train.training.losses import LossContext, call_loss, validate_loss_params
from soen_train.training.losses.weighted import WeightedLoss


class _Sim:
    def __init__(self, states):
        self.states = states


class RecurrentEnd:
    """Input(0, dim 1) -> layer 1 (dim 2) with an internal connection and no other outbound one."""

    def __init__(self):
        self.spec = {"layers": [{"layer_id": 0, "layer_type": "Input"}, {"layer_id": 1, "layer_type": "SingleDendrite"}]}
        self.layer_ids = [0, 1]
        self.J = {"0_to_1": torch.tensor([[1.0], [2.0]]), "1_to_1": torch.tensor([[0.0, 0.5], [-0.25, 0.0]])}

    def connection_weights(self, learnable_only=True):
        return dict(self.J)

    def parameters_by_name(self):
        return {}


def test_branching_loss_counts_the_internal_connection_as_outbound():
    states = {0: torch.tensor([[[0.0], [2.0]]]), 1: torch.tensor([[[0.0, 0.0], [3.0, -4.0]]])}
    ctx = LossContext(outputs=torch.zeros(1, 1), model=RecurrentEnd(), sim=_Sim(states))
    # phi_in = s0 J01^T + s1 J11^T = [2, 4] + [-2, -0.75] = [0, 3.25]
    # phi_out_i = softabs(s_i) * column sums of |J11| = [3 * 0.25, 4 * 0.5]
    soft_in = [math.sqrt(0.0 + 1e-8), math.sqrt(3.25**2 + 1e-8)]
    soft_s = [math.sqrt(9 + 1e-8), math.sqrt(16 + 1e-8)]
    eps = 1e-6 * max(sum(soft_in) / 2, 3.5, 1e-6)
    sigma = (soft_s[0] * 0.25 + eps + soft_s[1] * 0.5 + eps) / (sum(soft_in) + 2 * eps)
    value = call_loss("branching_loss", ctx).item()
    assert value == pytest.approx(math.log(min(sigma, 10.0)) ** 2, rel=1e-5)


def test_original_parameter_names_are_accepted():
    lam = {"λ_gap": 2.0, "λ_noise": 0.0, "λ_entropy": 0.5, "λ_consistency": 0.1, "λ_diversity": 0.3}
    assert validate_loss_params("rich_margin_loss", lam) == {
        "lambda_gap": 2.0, "lambda_noise": 0.0, "lambda_entropy": 0.5, "lambda_consistency": 0.1,
        "lambda_diversity": 0.3}
    assert validate_loss_params("gravity_quantization_loss", {"num_levels": 5, "min_val": -0.24, "max_val": 0.24}) == {
        "levels": 5, "min_val": -0.24, "max_val": 0.24}
    assert validate_loss_params("ensure_post_sample_decay", {"num_zero_steps": 3}) == {"zero_input_steps": 3}
    loss = WeightedLoss([{"name": "rich_margin_loss", "params": {"λ_gap": 2.0}}])
    assert loss.terms[0].params == {"lambda_gap": 2.0}


def test_old_and_new_name_together_is_an_error():
    with pytest.raises(ValueError, match="given twice"):
        validate_loss_params("gravity_quantization_loss", {"num_levels": 5, "levels": 5, "min_val": -1, "max_val": 1})


def test_gravity_loss_with_num_levels_matches_levels():
    class M:
        def connection_weights(self, learnable_only=True):
            return {"0_to_1": torch.tensor([[0.05, -0.2], [0.13, 0.24]])}

    ctx = LossContext(outputs=torch.zeros(1, 1), model=M())
    base = {"min_val": -0.24, "max_val": 0.24}
    old = call_loss("gravity_quantization_loss", ctx, {**base, "num_levels": 5}).item()
    new = call_loss("gravity_quantization_loss", ctx, {**base, "levels": 5}).item()
    # codebook -0.24, -0.12, 0, 0.12, 0.24: distances 0.05, 0.04, 0.01, 0
    assert old == new == pytest.approx((0.05 + 0.04 + 0.01 + 0.0) / 4, rel=1e-5)
