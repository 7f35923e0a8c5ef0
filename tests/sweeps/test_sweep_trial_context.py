"""current_trial(): finding the job's trial in a real SQLite study, reporting, and pruning."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution

from soen_train.sweeps.storage import open_storage
from soen_train.sweeps.study_setup import open_study
from soen_train.sweeps.trial_context import (
    ENV_STORAGE,
    ENV_STUDY,
    ENV_TRIAL,
    PRUNER_ATTR,
    TrialContextError,
    current_trial,
)

MEDIAN = {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 3, "n_warmup_steps": 0}


def study_with_history(url: str, pruner_cfg=None, directions=("minimize",)) -> optuna.Study:
    """A study (made by the sweeper's own helper) whose 3 finished trials reported 1.0, 2.0, 3.0."""
    study = open_study(
        open_storage(url), "s", list(directions), optuna.samplers.RandomSampler(0), pruner_cfg
    )
    if len(directions) == 1:
        for value in (1.0, 2.0, 3.0):
            trial = study.ask({"x": FloatDistribution(0, 1)})
            trial.report(value, 0)
            study.tell(trial, value)
    return study


def enter_trial(monkeypatch: pytest.MonkeyPatch, url: str, number: int, study: str = "s") -> None:
    monkeypatch.setenv(ENV_STORAGE, url)
    monkeypatch.setenv(ENV_STUDY, study)
    monkeypatch.setenv(ENV_TRIAL, str(number))


def test_outside_a_sweep_there_is_no_trial() -> None:
    assert current_trial() is None


def test_handle_reports_to_the_storage_and_the_pruner_decides(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = study_with_history(sqlite_url, MEDIAN)
    running = study.ask({"x": FloatDistribution(0, 1)})
    enter_trial(monkeypatch, sqlite_url, running.number)

    handle = current_trial()
    assert handle is not None and handle.number == 3
    assert handle.params == {"x": running.params["x"]}
    assert handle.directions == ["minimize"] and not handle.is_multi_objective
    assert isinstance(handle.pruner, optuna.pruners.MedianPruner)

    handle.report(1.5, 0)  # median of 1, 2, 3 is 2: better, keep going
    assert handle.should_prune() is False
    handle.report(2.5, 0)  # same step again replaces the value: now worse than the median
    assert handle.intermediate_values() == {0: 2.5}
    assert handle.should_prune() is True
    # The value went to the database: another process (a fresh load) sees it.
    reloaded = optuna.load_study(study_name="s", storage=sqlite_url)
    assert reloaded.trials[3].intermediate_values == {0: 2.5}

    handle.set_user_attr("note", "hello")
    assert reloaded.trials[3].user_attrs == {"note": "hello"}


def test_without_a_pruner_config_nothing_is_pruned(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = study_with_history(sqlite_url, None)
    running = study.ask({"x": FloatDistribution(0, 1)})
    enter_trial(monkeypatch, sqlite_url, running.number)
    handle = current_trial()
    handle.report(100.0, 0)
    assert isinstance(handle.pruner, optuna.pruners.NopPruner)
    assert handle.should_prune() is False


def test_multi_objective_trials_refuse_reports(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = study_with_history(sqlite_url, MEDIAN, directions=("minimize", "maximize"))
    running = study.ask({"x": FloatDistribution(0, 1)})
    enter_trial(monkeypatch, sqlite_url, running.number)
    handle = current_trial()
    assert handle.is_multi_objective
    with pytest.raises(TrialContextError, match="single-objective"):
        handle.report(1.0, 0)
    with pytest.raises(TrialContextError, match="single-objective"):
        handle.should_prune()


def _hostile_pruner_configs(marker: str) -> list:
    """Study attrs a tampered database could hold; each would write ``marker`` if called."""
    touch = f"open({marker!r}, 'w').write('called')"
    return [
        ("os.system", {"_target_": "os.system", "command": f"touch {marker}"}),
        ("builtins.eval", {"_target_": "builtins.eval", "source": touch}),
        ("builtins.exec", {"_target_": "optuna.pruners.PatientPruner", "patience": 1,
                           "wrapped_pruner": {"_target_": "builtins.exec", "source": touch}}),
        ("optuna.samplers.TPESampler", {"_target_": "optuna.samplers.TPESampler"}),
        ("optuna.storages.RDBStorage", {"_target_": "optuna.storages.RDBStorage", "url": f"sqlite:///{marker}"}),
    ]


@pytest.mark.parametrize("case", range(5), ids=["os.system", "eval", "nested-exec", "sampler", "storage"])
def test_only_allow_listed_pruners_are_built_from_the_database(
    case: int, sqlite_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "called"
    name, config = _hostile_pruner_configs(str(marker))[case]
    study = study_with_history(sqlite_url)
    study.set_user_attr(PRUNER_ATTR, config)
    enter_trial(monkeypatch, sqlite_url, study.ask().number)
    with pytest.raises(TrialContextError, match=f"{name!r} is not an allowed Optuna class") as err:
        current_trial()
    assert "optuna.pruners.MedianPruner" in str(err.value)  # the valid choices are listed
    assert not marker.exists()  # refused by name: nothing was imported or called


def test_bad_reports_are_rejected(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    study = study_with_history(sqlite_url)
    enter_trial(monkeypatch, sqlite_url, study.ask().number)
    handle = current_trial()
    with pytest.raises(ValueError, match="step"):
        handle.report(1.0, -1)
    with pytest.raises(ValueError, match="step"):
        handle.report(1.0, 1.5)
    with pytest.raises(TypeError, match="number"):
        handle.report("low", 0)


def test_incomplete_or_wrong_environment_is_explained(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_with_history(sqlite_url)
    monkeypatch.setenv(ENV_STORAGE, sqlite_url)
    with pytest.raises(TrialContextError, match="SOEN_OPTUNA_STUDY"):
        current_trial()
    enter_trial(monkeypatch, sqlite_url, 99)
    with pytest.raises(TrialContextError, match="no trial with that number"):
        current_trial()
    enter_trial(monkeypatch, sqlite_url, 0, study="nope")
    with pytest.raises(TrialContextError, match="no such study"):
        current_trial()
    monkeypatch.setenv(ENV_TRIAL, "three")
    with pytest.raises(TrialContextError, match="not a trial number"):
        current_trial()
