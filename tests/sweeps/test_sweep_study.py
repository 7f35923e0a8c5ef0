"""Job outcomes -> trial states, study creation/resume helpers, sampler/pruner configs, results."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.utils import instantiate
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.soen_optuna_sweeper.config import PRUNERS, SAMPLERS
from soen_train.sweeps.results import RESULTS_FILE, summarize, write_results
from soen_train.sweeps.search_space import build_search_space
from soen_train.sweeps.storage import open_storage
from soen_train.sweeps.study_setup import (
    SweeperConfigError,
    build_pruner,
    build_sampler,
    count_finished,
    directions_from_config,
    open_study,
    pruner_config,
)
from soen_train.sweeps.trial_outcome import objective_values, outcome_of


def job(status: JobStatus, value) -> JobReturn:
    ret = JobReturn(status=status)
    ret._return_value = value
    return ret


@pytest.mark.parametrize(
    "value, n, expected",
    [
        (0.25, 1, [0.25]),
        (np.float32(0.5), 1, [0.5]),
        ([0.5], 1, [0.5]),
        ((1, 2.5), 2, [1.0, 2.5]),
        (np.array([3.0, 4.0]), 2, [3.0, 4.0]),
    ],
)
def test_objective_values_accepts_numbers_and_sequences(value, n, expected) -> None:
    assert objective_values(value, n) == expected


@pytest.mark.parametrize(
    "value, n, message",
    [
        (float("nan"), 1, "not finite"),
        (math.inf, 1, "not finite"),
        ([1.0, 2.0], 1, "2 objective"),
        (1.0, 2, "sequence of 2"),
        ("0.5x", 1, "not a number"),
        (None, 1, "not a number"),
        ([1.0, float("nan")], 2, "not finite"),
    ],
)
def test_bad_objectives_fail_the_trial(value, n, message) -> None:
    outcome = outcome_of(job(JobStatus.COMPLETED, value), n)
    assert outcome.state == TrialState.FAIL and message in outcome.reason


def test_raised_and_pruned_jobs() -> None:
    failed = outcome_of(job(JobStatus.FAILED, RuntimeError("boom")), 1)
    assert failed.state == TrialState.FAIL and failed.reason == "RuntimeError: boom"
    pruned = outcome_of(job(JobStatus.FAILED, optuna.TrialPruned("at epoch 2")), 1)
    assert (
        pruned.state == TrialState.PRUNED
        and pruned.reason == "at epoch 2"
        and pruned.values is None
    )


def test_directions() -> None:
    assert directions_from_config("Maximize") == ["maximize"]
    assert directions_from_config(["minimize", "maximize"]) == ["minimize", "maximize"]
    with pytest.raises(SweeperConfigError, match="'up' is not valid"):
        directions_from_config(["minimize", "up"])
    with pytest.raises(SweeperConfigError, match="empty"):
        directions_from_config([])


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_option_builds_its_sampler(name: str) -> None:
    space = build_search_space({"n": "range(0, 3)", "c": "choice(a, b)"}, [])
    if name == "cmaes" and not _installed("cmaes"):
        with pytest.raises(SweeperConfigError, match="pip install cmaes"):
            build_sampler(SAMPLERS[name], space)
        return
    sampler = build_sampler(dict(SAMPLERS[name], seed=1), space)
    assert type(sampler).__name__ == SAMPLERS[name]["_target_"].rsplit(".", 1)[1]


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_every_pruner_option_builds_its_pruner(name: str) -> None:
    pruner = instantiate(pruner_config(PRUNERS[name]))
    assert type(pruner).__name__ == PRUNERS[name]["_target_"].rsplit(".", 1)[1]


def test_grid_sampler_gets_the_sweep_grid() -> None:
    space = build_search_space({"n": "range(0, 3)", "c": "choice(a, b)"}, [])
    sampler = build_sampler({"_target_": "optuna.samplers.GridSampler", "seed": 0}, space)
    study = optuna.create_study(sampler=sampler)
    seen = set()
    for _ in range(6):
        trial = study.ask(space.distributions)
        seen.add((trial.params["n"], trial.params["c"]))
        try:
            study.tell(trial, 0.0)
        except RuntimeError:  # GridSampler asks the study to stop after the last point
            pass
    assert seen == {(n, c) for n in range(3) for c in "ab"}


def test_sampler_and_pruner_configs_need_a_target() -> None:
    space = build_search_space({"x": "interval(0, 1)"}, [])
    assert isinstance(build_sampler(None, space), optuna.samplers.TPESampler)
    assert pruner_config(None) is None
    with pytest.raises(SweeperConfigError, match="_target_"):
        build_sampler({"seed": 3}, space)
    with pytest.raises(SweeperConfigError, match="not an allowed Optuna class"):
        build_sampler({"_target_": "collections.OrderedDict"}, space)
    with pytest.raises(SweeperConfigError, match="_target_"):
        pruner_config({"n_startup_trials": 3})
    # Jobs rebuild the pruner from the database, so only Optuna classes are accepted there.
    with pytest.raises(SweeperConfigError, match="not allowed Optuna classes"):
        pruner_config({"_target_": "os.system", "command": "true"})
    with pytest.raises(SweeperConfigError, match="not allowed Optuna classes"):  # prefix is not enough
        pruner_config({"_target_": "optuna.storages.run_grpc_proxy_server"})
    nested = {
        "_target_": "optuna.pruners.PatientPruner",
        "patience": 2,
        "wrapped_pruner": {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 1},
    }
    assert isinstance(build_pruner(pruner_config(nested)), optuna.pruners.PatientPruner)


def test_resume_settles_only_stale_trials_and_keeps_finished_results(
    sqlite_url: str, tmp_path: Path
) -> None:
    import json
    import time

    from soen_train.sweeps.recovery import (
        INTERRUPTED_REASON,
        JOB_DIR_ATTR,
        RETRY_OF_ATTR,
        record_heartbeat,
        recover_stale_trials,
    )

    storage = open_storage(sqlite_url, 1, 2)
    study = open_study(storage, "s", ["minimize"], optuna.samplers.RandomSampler(0), None)
    for value in (3.0, 1.0):
        trial = study.ask({"x": IntDistribution(0, 9)})
        study.tell(trial, value)
    finished_job = study.ask({"x": IntDistribution(0, 9)})  # job done, sweeper killed before tell
    (tmp_path / "job2").mkdir()
    (tmp_path / "job2" / "soen_result.json").write_text(
        json.dumps({"status": "completed", "objective": 0.5})
    )
    finished_job.set_user_attr(JOB_DIR_ATTR, str(tmp_path / "job2"))
    cut_off = study.ask({"x": IntDistribution(0, 9)})  # killed mid-training
    before_params = study.ask()  # killed between ask and the first suggestion: no parameters
    for trial in (finished_job, cut_off, before_params):
        record_heartbeat(storage, trial._trial_id)
    time.sleep(3.5)  # both heartbeats are now older than the grace period
    live = study.ask({"x": IntDistribution(0, 9)})  # another sweeper's trial, beating
    record_heartbeat(storage, live._trial_id)

    again = open_study(storage, "s", ["minimize"], optuna.samplers.RandomSampler(1), None)
    assert count_finished(again) == 2
    done = recover_stale_trials(again)
    assert done["complete"] == [finished_job.number]
    assert done["interrupted"] == [cut_off.number, before_params.number]
    assert count_finished(again) == 3  # the cut-off trial does not count: it runs again
    trials = again.get_trials()
    assert trials[finished_job.number].value == 0.5
    frozen = trials[cut_off.number]
    assert frozen.state == TrialState.FAIL and frozen.user_attrs["fail_reason"] == INTERRUPTED_REASON
    assert trials[live.number].state == TrialState.RUNNING  # a live trial is never touched
    (queued,) = [t for t in trials if t.state == TrialState.WAITING]  # none for before_params
    assert queued.user_attrs[RETRY_OF_ATTR] == cut_off.number
    assert queued.system_attrs["fixed_params"] == cut_off.params
    assert recover_stale_trials(again)["complete"] == []  # settled once
    with pytest.raises(SweeperConfigError, match="already exists with directions"):
        open_study(storage, "s", ["maximize"], optuna.samplers.RandomSampler(), None)


def test_seeded_samplers_draw_per_trial_number() -> None:
    """Two sweepers (or a restarted one) with the same seed never draw the same trial twice."""
    space = build_search_space({"x": "interval(0, 1)"}, [])
    study = optuna.create_study(sampler=build_sampler(dict(SAMPLERS["tpe"], seed=7), space))
    first = [study.ask(space.distributions).params["x"] for _ in range(3)]
    restarted = optuna.create_study(sampler=build_sampler(dict(SAMPLERS["tpe"], seed=7), space))
    for trial in study.get_trials():
        restarted.add_trial(trial)
    later = [restarted.ask(space.distributions).params["x"] for _ in range(3)]
    assert len(set(first + later)) == 6  # the restart does not replay trials 0, 1, 2
    again = optuna.create_study(sampler=build_sampler(dict(SAMPLERS["tpe"], seed=7), space))
    assert [again.ask(space.distributions).params["x"] for _ in range(3)] == first  # still seeded


def test_results_file_single_objective(sqlite_url: str, tmp_path: Path) -> None:
    study = open_study(
        open_storage(sqlite_url), "s", ["maximize"], optuna.samplers.RandomSampler(0), None
    )
    for x, state in (
        (1.0, TrialState.COMPLETE),
        (4.0, TrialState.COMPLETE),
        (9.0, TrialState.FAIL),
        (2.0, TrialState.PRUNED),
    ):
        trial = study.ask({"x": FloatDistribution(0, 10)})
        study.tell(trial, x if state == TrialState.COMPLETE else None, state=state)
    written = yaml.safe_load(write_results(summarize(study, "db"), tmp_path).read_text())
    assert (tmp_path / RESULTS_FILE).exists()
    assert written["best_value"] == 4.0 and written["best_trial"] == 1  # maximize: the larger
    assert written["best_params"] == {"x": study.trials[1].params["x"]}
    assert written["trials_by_state"] == {"COMPLETE": 2, "PRUNED": 1, "FAIL": 1}
    assert written["n_trials"] == 4 and written["directions"] == ["maximize"]


def test_results_file_multi_objective_is_the_pareto_front(sqlite_url: str, tmp_path: Path) -> None:
    study = open_study(
        open_storage(sqlite_url),
        "m",
        ["minimize", "maximize"],
        optuna.samplers.RandomSampler(0),
        None,
    )
    points = [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (0.5, 0.5)]  # (3,2) is dominated by (2,3)
    for values in points:
        study.tell(study.ask({"x": FloatDistribution(0, 1)}), list(values))
    written = yaml.safe_load(write_results(summarize(study, "db"), tmp_path).read_text())
    front = {item["number"]: item["values"] for item in written["best_trials"]}
    assert front == {0: [1.0, 1.0], 1: [2.0, 3.0], 3: [0.5, 0.5]}


def test_empty_study_summary(sqlite_url: str) -> None:
    study = open_study(
        open_storage(sqlite_url), "e", ["minimize"], optuna.samplers.RandomSampler(0), None
    )
    summary = summarize(study, "db")
    assert summary["best_value"] is None and summary["n_trials"] == 0


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
