"""WeightedLoss: validation up front, weighted total, term values, set_weight, needs."""

import pytest
import torch
from catalog_standin_model import TinySOEN

from soen_train.registry import UnknownNameError
from soen_train.training.losses import (
    LOSSES,
    LossContext,
    WeightedLoss,
    loss_needs,
    loss_parameters,
)


def ctx():
    out = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    return LossContext(outputs=out, pooled=out, targets=torch.tensor([0, 0]), model=TinySOEN())


def test_registry_lists_every_loss_of_the_catalog():
    expected = {
        "cross_entropy", "autoregressive_cross_entropy", "mse", "reg_J_loss", "top_gap_loss",
        "gravity_quantization_loss", "get_off_the_ground_loss", "exp_high_state_penalty",
        "branching_loss", "local_expansion_loss", "average_state_magnitude_loss",
        "ensure_post_sample_decay", "gap_loss", "rich_margin_loss", "final_timestep_zero_mse",
    }
    assert set(LOSSES.names()) == expected


def test_total_is_the_weighted_sum_of_unweighted_terms():
    c = ctx()
    wl = WeightedLoss([
        {"name": "cross_entropy"},
        {"name": "reg_J_loss", "weight": 0.5, "params": {"threshold": 0.1}},
        {"name": "gap_loss", "weight": 2.0, "params": {"margin": 0.5}},
    ])
    total, terms = wl(c)
    assert list(terms) == ["cross_entropy", "reg_J_loss", "gap_loss"]
    expected = terms["cross_entropy"] + 0.5 * terms["reg_J_loss"] + 2.0 * terms["gap_loss"]
    assert total.item() == pytest.approx(expected.item())
    assert terms["gap_loss"].item() == pytest.approx((0.0 + 1.5) / 2)
    assert wl.weights == {"cross_entropy": 1.0, "reg_J_loss": 0.5, "gap_loss": 2.0}


def test_duplicate_names_get_distinct_keys_and_set_weight():
    wl = WeightedLoss([
        {"name": "gap_loss", "params": {"margin": 0.0}},
        {"name": "gap_loss", "weight": 3.0, "params": {"margin": 1.0}},
    ])
    assert wl.term_names == ["gap_loss", "gap_loss_2"]
    total, terms = wl(ctx())
    assert terms["gap_loss"].item() == pytest.approx(0.5)
    assert total.item() == pytest.approx(0.5 + 3.0 * terms["gap_loss_2"].item())
    wl.set_weight("gap_loss_2", 0.0)
    total, _ = wl(ctx())
    assert total.item() == pytest.approx(0.5)
    with pytest.raises(UnknownNameError, match=r"no configured loss named 'gap_los' \(did you mean 'gap_loss'\?\); configured losses: gap_loss, gap_loss_2"):
        wl.set_weight("gap_los", 1.0)


def test_alias_resolves_for_set_weight():
    wl = WeightedLoss([{"name": "reg_j_loss"}])
    assert wl.term_names == ["reg_J_loss"]
    wl.set_weight("reg_j_loss", 0.25)
    assert wl.weights == {"reg_J_loss": 0.25}


def test_needs_union():
    wl = WeightedLoss([{"name": "cross_entropy"}, {"name": "ensure_post_sample_decay"}, {"name": "local_expansion_loss"}])
    assert wl.needs == {"targets", "sim", "track_g", "model", "forward"}
    assert loss_needs("mse") == {"targets"}
    assert loss_parameters("reg_J_loss") == {"threshold": 0.24, "scale": 1.0, "factor": 0.01}


@pytest.mark.parametrize(
    "items, error, message",
    [
        ([{"name": "cross_entropyy"}], UnknownNameError,
         r"training.loss.losses\[0\]: unknown loss 'cross_entropyy' \(did you mean 'cross_entropy'\?\); valid names: autoregressive_cross_entropy"),
        ([{"name": "mse"}, {"name": "reg_J_loss", "params": {"treshold": 0.2}}], ValueError,
         r"training.loss.losses\[1\] \('reg_J_loss'\): loss 'reg_J_loss': unknown parameter 'treshold' \(did you mean 'threshold'\?\); valid parameters: factor, scale, threshold"),
        ([{"name": "mse", "weight": "high"}], ValueError, r"training.loss.losses\[0\] \('mse'\): weight = 'high' must be a finite number"),
        ([{"name": "mse", "wieght": 2}], ValueError, r"training.loss.losses\[0\]: unknown key\(s\) \['wieght'\]; an entry has name, weight, params"),
        ([{"weight": 2}], ValueError, r"training.loss.losses\[0\]: entry has no 'name'"),
        ([], ValueError, r"training.loss.losses is empty"),
        ([{"name": "gravity_quantization_loss", "params": {"bits": 2}}], ValueError, r"missing \['min_val', 'max_val'\]"),
        ([{"name": "mse", "params": [1, 2]}], ValueError, r"params = \[1, 2\] must be a mapping"),
    ],
)
def test_construction_errors(items, error, message):
    with pytest.raises(error, match=message):
        WeightedLoss(items)


def test_gradient_reaches_the_model():
    c = ctx()
    wl = WeightedLoss([{"name": "reg_J_loss", "params": {"threshold": 0.0}}])
    total, _ = wl(c)
    total.backward()
    assert c.model.J["0_to_1"].grad.abs().sum() > 0


def test_only_evaluates_a_single_term():
    wl = WeightedLoss([{"name": "cross_entropy"}, {"name": "gap_loss", "weight": 2.0, "params": {"margin": 0.5}}])
    total, terms = wl(ctx(), only="gap_loss")
    assert list(terms) == ["gap_loss"]
    assert total.item() == pytest.approx(2.0 * 0.75)
    with pytest.raises(UnknownNameError, match="no configured loss named 'mse'"):
        wl(ctx(), only="mse")
