"""Loss-weight schedule formulas, the shared progress rule, and configuration errors."""

import math

import pytest

from soen_train.registry import UnknownNameError
from soen_train.training.loss_weight_schedules import (
    LOSS_WEIGHT_SCHEDULES,
    LossWeightSchedule,
    LossWeightSchedulerHooks,
    cosine_decay_weight,
    cycles_elapsed,
    exponential_decay_weight,
    linear_weight,
    schedule_progress,
    sinusoidal_weight,
)
from soen_train.training.losses import WeightedLoss


def test_progress_per_step_and_per_epoch():
    # epochs 1..2 with 10 steps each: s0 = 10, s1 = 2 * 10 + 9 = 29
    assert [schedule_progress(s, 1, 2, 10, True) for s in (0, 10, 19, 29, 40)] == pytest.approx(
        [0.0, 0.0, 9 / 19, 1.0, 1.0]
    )
    assert [schedule_progress(e, 1, 3, 10, False) for e in (0, 1, 2, 3, 4)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert schedule_progress(5, 2, 2, 1, False) == 1.0  # empty window: done after the start


def test_formulas():
    assert linear_weight(0.25, 0.01, 0.1) == pytest.approx(0.0325)
    assert exponential_decay_weight(0.5, 1.0, 2.0) == pytest.approx(math.exp(-1.0))
    assert cosine_decay_weight(0.5, 1.0, 0.2) == pytest.approx(0.6)
    assert cosine_decay_weight(0.0, 1.0, 0.2) == pytest.approx(1.0)
    assert [sinusoidal_weight(p, 0.0, 1.0, window=100) for p in (0.0, 0.25, 0.5)] == pytest.approx([1.0, 0.5, 0.0])
    assert sinusoidal_weight(0.1, 0.0, 1.0, window=100, period=20) == pytest.approx(0.0)
    # period_decay 2 from P0 = 10: e = 15 lies a quarter into cycle 1 (10..30) -> c = 1.25
    assert cycles_elapsed(15, 10, 2.0) == pytest.approx(1.25)
    assert sinusoidal_weight(0.15, 0.0, 1.0, window=100, period=10, period_decay=2.0) == pytest.approx(0.5)
    # amplitude_decay ln 2 halves the swing after one cycle
    assert sinusoidal_weight(0.1, 0.0, 1.0, window=100, period=10, amplitude_decay=math.log(2)) == pytest.approx(0.75)
    assert sinusoidal_weight(0.25, 0.01, 1.0, window=4, scale="log") == pytest.approx(0.1)


def test_shrinking_periods_stop_at_one_unit():
    # P0 = 8, r = 0.5: cycles of 8, 4, 2, then one unit each from e = 14 on
    assert cycles_elapsed(13, 8, 0.5) == pytest.approx(2.5)
    assert cycles_elapsed(14, 8, 0.5) == pytest.approx(3.0)
    assert cycles_elapsed(16.5, 8, 0.5) == pytest.approx(5.5)


def test_schedule_objects():
    s = LossWeightSchedule("reg_J_loss", "linear", {"min_weight": 0.0, "max_weight": 1.0})
    # end_epoch defaults to max_epochs - 1 = 3: steps 0..39 with 10 per epoch
    assert s.weight_at(0, 0, 10, 4) == 0.0
    assert s.weight_at(13, 1, 10, 4) == pytest.approx(13 / 39)
    assert s.weight_at(39, 3, 10, 4) == 1.0
    e = LossWeightSchedule("x", "exp_decay", {"initial_weight": 1.0, "final_weight": 0.01},
                           start_epoch=1, end_epoch=3, per_step=False)
    assert e.scheduler_type == "exponential_decay"
    assert [e.weight_at(0, ep, 10, 10) for ep in (1, 2, 3)] == pytest.approx([1.0, 0.1, 0.01])
    sin = LossWeightSchedule("x", "sinisoidal", {"min_weight": 0.0, "max_weight": 1.0, "period_epochs": 1})
    # per step, spe 4: the period is 4 steps
    assert [sin.weight_at(st, 0, 4, 3) for st in (0, 1, 2, 4)] == pytest.approx([1.0, 0.5, 0.0, 1.0], abs=1e-12)
    assert set(LOSS_WEIGHT_SCHEDULES.names()) == {"linear", "exponential_decay", "cosine_decay", "sinusoidal"}


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"scheduler_type": "linaer", "params": {}}, UnknownNameError, r"unknown loss weight scheduler 'linaer' \(did you mean 'linear'\?\)"),
        ({"scheduler_type": "linear", "params": {"min_weight": 0.0}}, ValueError, r"missing required params \['max_weight'\]"),
        ({"scheduler_type": "linear", "params": {"min_weight": 0, "max_weight": 1, "steps": 3}}, ValueError, r"unknown parameter 'steps'; valid parameters: max_weight, min_weight"),
        ({"scheduler_type": "exponential_decay", "params": {"initial_weight": 1.0}}, ValueError, "give exactly one of decay_rate or final_weight"),
        ({"scheduler_type": "sinusoidal", "params": {"min_weight": 0.0, "max_weight": 1.0, "scale": "log"}}, ValueError, r"'min_weight' = 0.0 must lie in \(0.0, inf\)"),
        ({"scheduler_type": "sinusoidal", "params": {"min_weight": 1, "max_weight": 2, "period_steps": 3, "period_epochs": 1}}, ValueError, "give period_steps or period_epochs, not both"),
        ({"scheduler_type": "linear", "params": {"min_weight": 0, "max_weight": 1}, "per_step": "no"}, ValueError, r"'per_step' = 'no' must be true or false"),
    ],
)
def test_schedule_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        LossWeightSchedule(loss_name="mse", **kwargs)


def test_callback_rejects_a_loss_that_is_not_configured():
    wl = WeightedLoss([{"name": "cross_entropy"}, {"name": "reg_J_loss"}])
    entry = {"loss_name": "reg_J_los", "scheduler_type": "linear", "params": {"min_weight": 0, "max_weight": 1}}
    with pytest.raises(UnknownNameError, match=r"loss_weight_schedulers\[0\]: no configured loss named 'reg_J_los' \(did you mean 'reg_J_loss'\?\); configured losses: cross_entropy, reg_J_loss"):
        LossWeightSchedulerHooks([entry], wl)
    with pytest.raises(ValueError, match=r"loss_weight_schedulers\[0\]: unknown key\(s\) \['verbose'\]"):
        LossWeightSchedulerHooks([{**entry, "loss_name": "reg_J_loss", "verbose": True}], wl)
    ok = {**entry, "loss_name": "reg_J_loss"}
    with pytest.raises(ValueError, match=r"\[1\]: loss 'reg_J_loss' already has a weight schedule"):
        LossWeightSchedulerHooks([ok, ok], wl)
