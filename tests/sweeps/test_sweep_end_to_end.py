"""The Optuna sweeper driving real multiruns of the toy app (subprocesses, SQLite storage)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import yaml
from optuna.trial import TrialState
from sweep_toy_runner import load_trials, run_toy, toy_command, toy_env, toy_objective

STEPS = 3  # intermediate values the toy app reports per trial (toy_conf/toy.yaml)


def job_infos(sweep_dir: Path) -> Dict[int, dict]:
    """Trial number -> the toy job's own record (pid, start, end) from each job dir."""
    infos = [json.loads(p.read_text()) for p in sweep_dir.glob("*/job_info.json")]
    return {info["number"]: info for info in infos}


#: Hydra's joblib launcher, and soen_train's persistent worker pool (``launcher=joblib``).
PARALLEL_LAUNCHERS = ["joblib", "soen_joblib"]


@pytest.mark.parametrize("launcher", PARALLEL_LAUNCHERS)
def test_parallel_search_on_sqlite_records_every_trial(tmp_path: Path, launcher: str) -> None:
    sweep_dir = tmp_path / "parallel"
    run_toy(
        sweep_dir,
        f"hydra/launcher={launcher}",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/sampler=grid",
        "x=range(0,6)",  # the grid visits x = 0..5 once each
        "raise_at_x=1",
        "nan_at_x=4",
        "sleep_s=0.1",
        expect_rc=1,  # trials failed: the sweep says so and exits non-zero
    )
    trials = load_trials(sweep_dir)
    assert [t.number for t in trials] == list(range(6))
    by_x = {t.params["x"]: t for t in trials}
    assert sorted(by_x) == [0, 1, 2, 3, 4, 5]

    assert by_x[1].state == TrialState.FAIL
    assert by_x[1].user_attrs["fail_reason"] == "RuntimeError: toy failure requested at x=1.0"
    assert by_x[4].state == TrialState.FAIL and "nan" in by_x[4].user_attrs["fail_reason"]
    for x in (0, 2, 3, 5):
        trial = by_x[x]
        assert trial.state == TrialState.COMPLETE
        assert trial.value == toy_objective(x)
        expected = {k: toy_objective(x) * (1 + 1 / (k + 1)) for k in range(STEPS)}
        assert trial.intermediate_values == pytest.approx(expected)
        assert trial.user_attrs["overrides"][-1] == f"x={x}"

    # Job dirs are named by trial number, and each job saw its own trial.
    infos = job_infos(sweep_dir)
    assert sorted(infos) == list(range(6))
    for trial in trials:
        assert trial.user_attrs["job_dir"] == str(sweep_dir / str(trial.number))
    # Two joblib workers: the jobs of a batch ran in different processes at the same time.
    first, second = infos[0], infos[1]
    assert first["pid"] != second["pid"]
    assert first["start"] < second["end"] and second["start"] < first["end"]

    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best_params"] == {"x": 2} and results["best_value"] == 0.0
    assert results["trials_by_state"] == {"COMPLETE": 4, "FAIL": 2}
    assert results["n_trials"] == 6


def test_killed_sweep_resumes_to_n_trials_not_more(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "resume"
    args = ("hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=1", "x=interval(-4,4)",
            "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=2")
    # The job of trial 3 SIGKILLs its process (the sweeper itself: basic launcher).
    killed = run_toy(sweep_dir, *args, extra_env={"TOY_KILL_AT_TRIAL": "3"}, expect_rc=None)
    assert killed.returncode == -signal.SIGKILL
    states = [t.state for t in load_trials(sweep_dir)]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING]

    time.sleep(3.5)  # past the grace period: trial 3's heartbeat is stale
    resumed = run_toy(sweep_dir, *args)
    assert "3 of 6 trials already finished" in resumed.stdout  # the cut-off trial does not count
    trials = load_trials(sweep_dir)
    assert len(trials) == 7  # 6 counted + the cut-off one, whose parameters ran again as #4
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 + [TrialState.FAIL] + [
        TrialState.COMPLETE
    ] * 3
    assert "interrupted sweep" in trials[3].user_attrs["fail_reason"]
    assert trials[4].params == trials[3].params and trials[4].user_attrs["soen_retry_of"] == 3
    assert sorted(job_infos(sweep_dir)) == [0, 1, 2, 4, 5, 6]  # trial 3 died before writing

    again = run_toy(sweep_dir, *args)  # a finished study runs nothing more
    assert len(load_trials(sweep_dir)) == 7
    assert "Launching" not in again.stdout


def finished_trials(db: Path) -> int:
    """Finished trials in a study database, read with plain SQL while the sweep writes."""
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            row = conn.execute(
                "SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'FAIL', 'PRUNED')"
            ).fetchone()
        except sqlite3.OperationalError:  # tables not created yet
            return 0
    return int(row[0])


@pytest.mark.parametrize("launcher", PARALLEL_LAUNCHERS)
def test_externally_killed_parallel_sweep_resumes(tmp_path: Path, launcher: str) -> None:
    sweep_dir = tmp_path / "kill"
    sweep_dir.mkdir()
    args = (
        f"hydra/launcher={launcher}",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=6",
        "x=interval(-4,4)",
        "sleep_s=0.15",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=2",
    )
    proc = subprocess.Popen(
        toy_command(sweep_dir, *args),
        cwd=tmp_path,
        env=toy_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 90
    while finished_trials(sweep_dir / "optuna.db") < 2 and time.time() < deadline:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweeper and its joblib workers
    proc.wait(timeout=30)
    before = load_trials(sweep_dir)
    assert 2 <= len([t for t in before if t.state.is_finished()]) < 6

    run_toy(sweep_dir, *args)
    trials = load_trials(sweep_dir)
    cut_off = [t for t in trials if t.user_attrs.get("soen_interrupted")]
    assert len(trials) == 6 + len(cut_off)
    assert all(t.state.is_finished() for t in trials)
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 6
    for old in before:
        if old.state == TrialState.RUNNING:
            assert trials[old.number].state == TrialState.FAIL


def test_median_pruner_prunes_bad_trials(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "pruned"
    run_toy(sweep_dir, "--config-name", "pruned_search")  # MedianPruner, 8 trials, x in [-10, 10]
    trials = load_trials(sweep_dir)
    assert len(trials) == 8
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and complete and len(pruned) + len(complete) == 8
    steps = 4  # pruned_search.yaml sets steps: 4
    for trial in complete:
        assert len(trial.intermediate_values) == steps
        assert trial.value == pytest.approx(toy_objective(trial.params["x"], trial.params["y"]))
    for trial in pruned:
        step = max(trial.intermediate_values)
        assert len(trial.intermediate_values) == step + 1 < steps  # stopped early
        # Median rule (minimise): the trial's best value so far is worse than the median, at
        # that step, of the trials that completed before it (at least n_startup_trials=2).
        earlier = [
            t.intermediate_values[step]
            for t in trials
            if t.number < trial.number and t.state == TrialState.COMPLETE
        ]
        assert len(earlier) >= 2
        best_so_far = min(trial.intermediate_values.values())
        assert best_so_far > float(np.median(earlier))
        assert trial.value == trial.intermediate_values[step]  # Optuna keeps the last report
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["trials_by_state"]["PRUNED"] == len(pruned)
    best = min(complete, key=lambda t: t.value)
    assert results["best_trial"] == best.number and results["best_value"] == best.value


def test_multi_objective_search(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "multi"
    run_toy(
        sweep_dir,
        "hydra/sweeper/sampler=nsgaii",
        "hydra.sweeper.sampler.seed=0",
        "hydra.sweeper.direction=[minimize,maximize]",
        "hydra.sweeper.n_trials=5",
        "objectives=2",
        "x=interval(-4,4)",
        "y=range(0,3)",
    )
    trials = load_trials(sweep_dir)
    assert len(trials) == 5 and all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        x, y = t.params["x"], t.params["y"]
        assert t.values == pytest.approx([toy_objective(x, y), abs(x)])

    # Pareto front by hand: minimise v0, maximise v1.
    def dominated(a, b):  # b dominates a
        return b.values[0] <= a.values[0] and b.values[1] >= a.values[1] and b.values != a.values

    front = sorted(t.number for t in trials if not any(dominated(t, o) for o in trials))
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert [item["number"] for item in results["best_trials"]] == front
    assert results["directions"] == ["minimize", "maximize"]


def test_config_errors_stop_before_any_trial(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "bad"
    proc = run_toy(sweep_dir, "hydra.sweeper.direction=upwards", "x=interval(0,1)", expect_rc=1)
    assert (
        "'upwards' is not valid" in proc.stderr + proc.stdout
        and "minimize" in proc.stderr + proc.stdout
    )
    proc = run_toy(sweep_dir, "x=tag(log, interval(0, 1))", expect_rc=1)
    assert "start > 0" in proc.stderr + proc.stdout
    assert not (sweep_dir / "optuna.db").exists() or load_trials(sweep_dir) == []


def test_max_failure_rate_stops_the_search_and_still_writes_results(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "failing"
    proc = run_toy(
        sweep_dir,
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.max_failure_rate=0.5",
        "mode=raise",
        "x=interval(0,1)",
        expect_rc=1,
    )
    assert "more than hydra.sweeper.max_failure_rate=0.5" in proc.stderr + proc.stdout
    trials = load_trials(sweep_dir)
    assert [t.state for t in trials] == [TrialState.FAIL]  # 1 of 1 failed > 0.5: stop at once
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["trials_by_state"] == {"FAIL": 1} and results["best_value"] is None
