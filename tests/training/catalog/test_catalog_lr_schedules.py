"""LR schedule curves at chosen steps against hand-computed values, and metric-driven state."""

import math

import pytest

from soen_train.registry import UnknownNameError
from soen_train.training.lr_schedules import (
    LR_SCHEDULES,
    build_lr_schedule,
    schedule_parameters,
    validate_lr_schedule,
)

CTX = {"base_lr": 1e-3, "steps_per_epoch": 10, "max_epochs": 10}  # 100 optimiser steps


def curve(kind, params, steps, **ctx):
    schedule = build_lr_schedule(kind, params, **{**CTX, **ctx})
    return [schedule.lr_at(s) for s in steps]


def test_catalog_names():
    assert LR_SCHEDULES.names() == ["adaptive", "constant", "cosine", "greedy", "linear", "rex"]


def test_constant():
    assert curve("constant", {}, [0, 57, 1000]) == [1e-3] * 3
    assert curve("constant", {"lr": 0.02}, [0, 99]) == [0.02] * 2


def test_linear():
    got = curve("linear", {"max_lr": 1e-3, "min_lr": 1e-5}, [0, 50, 100, 150])
    assert got == pytest.approx([1e-3, 1e-3 - 0.5 * 9.9e-4, 1e-5, 1e-5])
    got = curve("linear", {"max_lr": 1e-3, "min_lr": 1e-5, "log_space": True}, [0, 50, 100])
    assert got == pytest.approx([1e-3, 1e-4, 1e-5])


COS = {"max_lr": 1e-3, "min_lr": 1e-6, "warmup_epochs": 2, "cycle_epochs": 3}  # W = 20, L0 = 30


def half(amplitude, p, full=False):
    return 1e-6 + amplitude * (1 + math.cos((2 if full else 1) * math.pi * p)) / 2


def test_cosine_warmup_cycle_and_restart():
    a0 = 1e-3 - 1e-6
    got = curve("cosine", COS, [0, 10, 20, 35, 49, 50, 65])
    expected = [1e-6, 1e-6 + a0 * 0.5, 1e-3, half(a0, 0.5), half(a0, 29 / 30), 1e-3, half(a0, 0.5)]
    assert got == pytest.approx(expected)


def test_cosine_decays():
    a0 = 1e-3 - 1e-6
    got = curve("cosine", {**COS, "restart_decay": 0.5}, [50, 65])
    assert got == pytest.approx([half(5e-4 - 1e-6, 0.0), half(5e-4 - 1e-6, 0.5)])
    got = curve("cosine", {**COS, "period_decay": 2.0}, [50, 80, 109, 110])  # L1 = 60
    assert got == pytest.approx([1e-3, half(a0, 0.5), half(a0, 59 / 60), 1e-3], rel=1e-9)
    got = curve("cosine", {**COS, "amplitude_decay": 0.5}, [50, 65])
    assert got == pytest.approx([half(a0 * 0.5, 0.0), half(a0 * 0.5, 0.5)])
    # both decays compound: peak 5e-4, then amplitude halved again
    got = curve("cosine", {**COS, "restart_decay": 0.5, "amplitude_decay": 0.5}, [50])
    assert got == pytest.approx([half((5e-4 - 1e-6) * 0.5, 0.0)])


def test_cosine_without_restarts_stays_at_min_after_one_cycle():
    a0 = 1e-3 - 1e-6
    got = curve("cosine", {**COS, "enable_restarts": False}, [35, 50, 99])
    assert got == pytest.approx([half(a0, 0.5), 1e-6, 1e-6])


def test_cosine_soft_restart():
    a0 = 1e-3 - 1e-6
    got = curve("cosine", {**COS, "soft_restart": True}, [20, 27, 35, 50])
    assert got == pytest.approx([1e-3, half(a0, 7 / 30, full=True), 1e-6, 1e-3])
    a1 = a0 * 0.5
    got = curve("cosine", {**COS, "soft_restart": True, "amplitude_decay": 0.5}, [26])
    assert got == pytest.approx([half(a0 * 0.8 + a1 * 0.2, 0.2, full=True)])


def test_cosine_adjustment_granularity():
    a0 = 1e-3 - 1e-6
    got = curve("cosine", {**COS, "adjust_on_batch": False}, [25, 31, 39])
    assert got == pytest.approx([1e-3, half(a0, 1 / 3), half(a0, 1 / 3)])
    got = curve("cosine", {**COS, "batches_per_adjustment": 4}, [23, 27])
    assert got == pytest.approx([1e-3, half(a0, 4 / 30)])


def test_cosine_reproduces_the_tutorial_value_without_the_one_batch_lag():
    # The original's LR after 220 batches (9.96112599e-4) is its curve at 219 steps; ours
    # gives that value one step earlier because step 0 is the first batch.
    # Tutorial settings: 110 batches per epoch.
    params = {"max_lr": 1e-3, "min_lr": 5e-6, "warmup_epochs": 0, "cycle_epochs": 50,
              "period_decay": 1.2, "amplitude_decay": 0.9}
    got = curve("cosine", params, [0, 1, 219], steps_per_epoch=110, max_epochs=10)
    assert got[0] == 1e-3
    assert got[2] == pytest.approx(9.96112599e-4, rel=1e-8)


def test_rex():
    got = curve("rex", {}, [0, 50, 100])
    assert got == pytest.approx([1e-3, 1e-3 * (0.5 / 0.75), 0.0])
    params = {"warmup_epochs": 2, "warmup_start_lr": 1e-6, "min_lr": 1e-5, "max_lr": 2e-3}
    got = curve("rex", params, [0, 10, 20, 60, 100])
    expected = [1e-6, 1e-6 + (2e-3 - 1e-6) * 0.5, 2e-3, 1e-5 + (2e-3 - 1e-5) * (0.5 / 0.75), 1e-5]
    assert got == pytest.approx(expected)


METRICS = ["val_loss", "val_accuracy", "train_loss"]


def test_greedy_transitions():
    s = build_lr_schedule(
        "greedy", {"patience": 2, "factor_decrease": 0.5, "max_lr": 0.01, "min_lr": 1e-4},
        available_metrics=METRICS, **CTX,
    )
    lrs = []
    for v in [1.0, 0.9, 0.95, 0.96, 0.8, 0.85, 0.85]:
        s.on_validation_end({"val_loss": v, "val_accuracy": 0.0})
        lrs.append(s.lr_at(500))
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.0055, 0.0055, 0.00275])
    for _ in range(20):
        s.on_validation_end({"val_loss": 5.0})
    assert s.lr_at(500) == 1e-4  # floored at min_lr


def test_adaptive_transitions_warmup_cooldown_and_state():
    params = {
        "monitor_metric": "val_accuracy", "patience_increase": 2, "patience_decrease": 2,
        "increase_factor": 2.0, "decrease_factor": 0.5, "max_lr": 1e-2, "min_lr": 1e-4,
        "warmup_epochs": 1, "warmup_start_lr": 0.0, "threshold": 0.1, "cooldown": 1,
    }
    s = build_lr_schedule("adaptive", params, available_metrics=METRICS, **CTX)
    assert s.mode == "max"
    assert s.lr_at(5) == pytest.approx(5e-3)  # linear warm-up over 10 steps
    s.on_validation_end({"val_accuracy": 0.5}, step=5)  # during warm-up: best only
    assert (s.best, s.num_bad, s.lr_at(10)) == (0.5, 0, 1e-2)
    s.on_validation_end({"val_accuracy": 0.52}, step=10)  # not > 0.55: bad 1
    s.on_validation_end({"val_accuracy": 0.53}, step=20)  # bad 2 -> halve, cooldown 1
    assert s.lr_at(20) == pytest.approx(5e-3) and s.cooldown_left == 1
    s.on_validation_end({"val_accuracy": 0.9}, step=30)  # skipped by cooldown
    assert s.best == 0.5 and s.num_good == 0
    s.on_validation_end({"val_accuracy": 0.6}, step=40)  # good 1
    state = s.state_dict()
    s.on_validation_end({"val_accuracy": 0.7}, step=50)  # good 2 -> double
    assert s.lr_at(50) == pytest.approx(1e-2)
    restored = build_lr_schedule("adaptive", params, available_metrics=METRICS, **CTX)
    restored.load_state_dict(state)
    assert (restored.lr_at(45), restored.best, restored.num_good) == (pytest.approx(5e-3), 0.6, 1)
    restored.on_validation_end({"val_accuracy": 0.7}, step=50)
    assert restored.lr_at(50) == pytest.approx(1e-2)


def test_adaptive_loss_metric_is_minimised_with_abs_threshold():
    s = build_lr_schedule(
        "adaptive", {"warmup_epochs": 0, "patience_decrease": 1, "threshold": 0.5, "threshold_mode": "abs"},
        available_metrics=METRICS, **CTX,
    )
    assert s.mode == "min"
    s.on_validation_end({"val_loss": 2.0})
    s.on_validation_end({"val_loss": 1.6})  # not below 2.0 - 0.5
    assert s.lr_at(0) == pytest.approx(1e-3 * 0.7)


def test_parameters_listing():
    assert schedule_parameters("rex") == {"warmup_epochs": 0, "warmup_start_lr": 1e-6, "min_lr": 0.0, "max_lr": None}
    assert "available_metrics" not in schedule_parameters("greedy")


@pytest.mark.parametrize(
    "kind, params, metrics, error, message",
    [
        ("cosin", {}, None, UnknownNameError, r"callbacks.lr_scheduler.type: unknown lr scheduler 'cosin' \(did you mean 'cosine'\?\); valid names: adaptive, constant, cosine, greedy, linear, rex"),
        ("cosine", {"warmup_epoch": 1}, None, ValueError, r"callbacks.lr_scheduler 'cosine': unknown parameter 'warmup_epoch' \(did you mean 'warmup_epochs'\?\); valid parameters: adjust_on_batch"),
        ("cosine", {"soft_restart": True, "enable_restarts": False}, None, ValueError, "soft_restart needs enable_restarts: true"),
        ("cosine", {"restart_decay": 1.5}, None, ValueError, r"'restart_decay' = 1.5 must lie in \[0.0, 1.0\]"),
        ("linear", {"max_lr": 1e-4, "min_lr": 1e-3}, None, ValueError, r"'min_lr' = 0.001 must lie in \[0.0, 0.0001\]"),
        ("linear", {"log_space": True, "min_lr": 0.0}, None, ValueError, r"'min_lr' = 0.0 must lie in \(0.0, 0.001\]"),
        ("linear", {"log_space": "yes"}, None, ValueError, r"'log_space' = 'yes' must be true or false"),
        ("greedy", {}, None, ValueError, "monitors a metric: pass the list of available metrics"),
        ("adaptive", {"monitor_metric": "val_los"}, METRICS, ValueError, r"monitor_metric 'val_los' is not a logged metric \(did you mean 'val_loss'\?\); available: train_loss, val_accuracy, val_loss"),
        ("greedy", {}, ["val_accuracy"], ValueError, r"monitor_metric 'val_loss' is not a logged metric"),
        ("adaptive", {"threshold_mode": "relative"}, METRICS, ValueError, r"'threshold_mode' = 'relative' is not valid; choose one of rel, abs"),
    ],
)
def test_errors(kind, params, metrics, error, message):
    with pytest.raises(error, match=message):
        validate_lr_schedule(kind, params, metrics)


def test_missing_metric_at_validation_end():
    s = build_lr_schedule("greedy", {}, available_metrics=METRICS, **CTX)
    with pytest.raises(KeyError, match="metric 'val_loss' was not logged at validation end; logged: val_accuracy"):
        s.on_validation_end({"val_accuracy": 1.0})
