"""The backend-neutral loop rules, in numbers: which epoch stops, which checkpoints stay, which
is best, what an Optuna trial is told, what the history summarises, where a ramp stands."""

from __future__ import annotations

import math

import optuna
import pytest

from soen_train.loop_policy.checkpoint_rule import (
    TOP_K_FILENAME,
    best_path,
    checkpoint_due,
    enters_top_k,
    offer_to_top_k,
)
from soen_train.loop_policy.early_stopping import (
    StoppingState,
    early_stopping_check,
    improves,
    initial_best,
)
from soen_train.loop_policy.epoch_schedules import EpochRamp, epoch_progress, schedule_progress
from soen_train.loop_policy.metric_history import (
    lower_is_better,
    summarise_history,
    validation_row,
)
from soen_train.loop_policy.optuna_report import (
    monitored_value,
    prunable,
    pruned_error,
    report_and_ask,
)


def stopping_epoch(values, patience):
    """Run the rule over per-epoch values: (epoch that stopped or None, final state, improved)."""
    state, improved = StoppingState(), []
    for epoch, value in enumerate(values):
        decision = early_stopping_check(state, value, patience)
        state = decision.state
        improved.append(decision.improved)
        if decision.stop:
            return epoch, state, improved
    return None, state, improved


# ---------------------------------------------------------------- early stopping
def test_patience_two_stops_at_the_second_epoch_without_improvement():
    epoch, state, improved = stopping_epoch([1.0, 0.8, 0.9, 0.8, 0.7], patience=2)
    assert epoch == 3  # 0.9 and 0.8 (a tie is no improvement) after the best 0.8
    assert state == StoppingState(best=0.8, wait=2)
    assert improved == [True, True, False, False]


def test_an_improvement_resets_the_wait():
    epoch, state, _ = stopping_epoch([1.0, 1.1, 0.9, 1.0, 0.95, 0.96], patience=3)
    assert epoch == 5 and state == StoppingState(best=0.9, wait=3)


def test_no_patience_never_stops_but_still_tracks_the_best():
    epoch, state, improved = stopping_epoch([0.5, 0.6, 0.7, 0.8], patience=None)
    assert epoch is None and state == StoppingState(best=0.5, wait=3)
    assert improved == [True, False, False, False]


def test_a_non_finite_value_stops_at_once_and_keeps_the_state():
    decision = early_stopping_check(StoppingState(best=0.4, wait=1), math.nan, patience=5)
    assert decision.stop and not decision.improved
    assert decision.state == StoppingState(best=0.4, wait=1)
    assert "not finite" in decision.reason


def test_max_mode_and_the_initial_best():
    assert initial_best("min") == math.inf and initial_best("max") == -math.inf
    assert improves(0.9, 0.8, "max") and not improves(0.9, 0.8, "min")
    state = StoppingState(best=initial_best("max"))
    decision = early_stopping_check(state, 0.3, patience=1, mode="max")
    assert decision.improved and decision.state.best == 0.3
    assert early_stopping_check(decision.state, 0.2, patience=1, mode="max").stop
    with pytest.raises(ValueError, match="mode"):
        initial_best("lowest")


# ---------------------------------------------------------------- checkpoints
def test_due_epochs():
    assert [e for e in range(7) if checkpoint_due(e, 3)] == [2, 5]
    assert all(checkpoint_due(e, 1) for e in range(4))
    assert checkpoint_due(0, 0)  # 0 reads as every epoch


def test_top_two_keeps_the_two_lowest_and_drops_the_pushed_out():
    kept, dropped = [], []
    for epoch, value in enumerate([0.9, 0.7, 0.8, 0.6, 0.75]):
        update = offer_to_top_k(kept, value, f"e{epoch}", k=2)
        kept, dropped = update.keep, dropped + update.drop
    assert kept == [(0.6, "e3"), (0.7, "e1")]
    assert dropped == ["e0", "e2"]  # e4 (0.75) never entered: 0.75 > 0.7
    assert best_path(kept) == "e3" and best_path([]) is None


def test_ties_keep_the_older_checkpoint():
    update = offer_to_top_k([(0.5, "old")], 0.5, "new", k=1)
    assert not update.saved and update.keep == [(0.5, "old")]
    assert offer_to_top_k([(0.5, "old")], 0.5, "new", k=2).keep == [(0.5, "old"), (0.5, "new")]


def test_keep_all_none_and_non_finite():
    assert offer_to_top_k([(0.1, "a")], 0.9, "b", k=-1).keep == [(0.1, "a"), (0.9, "b")]
    assert not offer_to_top_k([], 0.1, "a", k=0).saved
    assert not offer_to_top_k([], math.nan, "a", k=3).saved
    assert enters_top_k(0.5, [0.1, 0.2], k=3)  # room left
    assert not enters_top_k(None, [], k=3)
    assert enters_top_k(0.9, [0.5, 0.8], k=2, mode="max") and not enters_top_k(0.4, [0.5], 1, "max")


def test_file_name_pattern():
    assert TOP_K_FILENAME.format(epoch=3, val_loss=0.123456) == "epoch=03-val_loss=0.1235"


# ---------------------------------------------------------------- Optuna
def test_each_report_reaches_the_trial_and_the_pruner_decides():
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.5))
    trial = study.ask()
    assert prunable(trial)
    assert report_and_ask(trial, 0.4, 0) is False
    assert report_and_ask(trial, 0.7, 1) is True  # above the threshold: prune
    frozen = study._storage.get_trial(trial._trial_id)
    assert frozen.intermediate_values == {0: 0.4, 1: 0.7}
    error = pruned_error(trial, "epoch", 1, "val_loss", 0.7)
    assert isinstance(error, optuna.TrialPruned)
    assert str(error) == f"trial {trial.number} pruned at epoch 1 (val_loss=0.7)"


def test_the_monitored_value_must_have_been_logged():
    assert monitored_value("val_loss", {"val_loss": 0.25, "epoch": 1.0}, "x") == 0.25
    with pytest.raises(KeyError, match="training.objective_metric='val_accuracy'.*val_loss"):
        monitored_value("val_accuracy", {"val_loss": 0.25}, "training.objective_metric")


def test_multi_objective_or_absent_trials_are_not_pruned():
    class MultiObjectiveHandle:  # the attribute TrialHandle carries
        is_multi_objective = True

    assert not prunable(None) and not prunable(MultiObjectiveHandle())


# ---------------------------------------------------------------- history
def test_summary_is_best_and_final_of_each_metric():
    rows = [validation_row({"val_loss": 0.9, "val_accuracy": 0.5, "train_loss": 1.0}, 0),
            validation_row({"val_loss": 0.6, "val_accuracy": 0.7}, 1),
            validation_row({"val_loss": 0.8, "val_accuracy": math.nan}, 2)]
    assert rows[0] == {"val_loss": 0.9, "val_accuracy": 0.5, "epoch": 0.0}
    assert summarise_history(rows) == {
        "val_loss": 0.6, "final_val_loss": 0.8,
        "val_accuracy": 0.7, "final_val_accuracy": 0.7,  # the NaN is skipped
        "epochs_trained": 3.0,
    }
    assert summarise_history([]) == {"epochs_trained": 0.0}


def test_which_metrics_are_minimised():
    assert [m for m in ("val_loss/mse", "val_perplexity", "val_bits_per_char", "val_accuracy")
            if lower_is_better(m)] == ["val_loss/mse", "val_perplexity", "val_bits_per_char"]


# ---------------------------------------------------------------- ramps
def test_ramp_values_and_rounding():
    ramp = EpochRamp(10, 20, start_epoch=1, end_epoch=5)
    assert [ramp.length_at(e, 10) for e in range(7)] == [10, 10, 13, 15, 18, 20, 20]
    to_last = EpochRamp(1.0, 3.0)  # end_epoch None: the last epoch (max_epochs - 1)
    assert [to_last.value_at(e, 5) for e in range(5)] == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert epoch_progress(5, 2, 2) == 1.0
    assert schedule_progress(10, 1, 2, 10, True) == 0.0 and schedule_progress(29, 1, 2, 10, True) == 1.0
