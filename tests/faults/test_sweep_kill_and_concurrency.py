"""Sweeps and first runs lose nothing under SIGKILL and concurrency, through the real command.

- a 2-worker Optuna sweep (joblib) killed with SIGKILL mid-trial, then the same command again;
- two sweeps started at once on one SQLite study;
- two first runs started at once on a project folder whose MLflow store does not exist yet.

Waits are on the study's state (never fixed sleeps), so the tests hold on a slow machine.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import List

from sweep_cli import (
    count_trials,
    job_result,
    kill_group,
    load_study,
    run_cli,
    start_cli,
    tiny_job_args,
    wait_for,
)

#: Short Optuna heartbeats so a rerun finds the killed sweeper's trials stale within seconds.
FAST_HEARTBEAT = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3"]
LR_SEARCH = "training.lr=tag(log, interval(1e-3, 1e-1))"


def _running_trials_in_a_job(db_file: Path) -> int:
    """RUNNING trials whose job has started (the job wrote its folder into the trial)."""
    if not db_file.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(
                "SELECT count(*) FROM trials t JOIN trial_user_attributes a "
                "ON a.trial_id = t.trial_id WHERE t.state = 'RUNNING' AND a.key = 'job_dir'"
            ).fetchone()
    except sqlite3.OperationalError:  # tables not there yet
        return 0
    return int(row[0])


def _mlflow_runs(db: Path, experiment: str = "pulses") -> List:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {db}"
    return client.search_runs([exp.experiment_id], max_results=1000)


def test_sigkill_of_a_two_worker_sweep_then_rerun_loses_nothing(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    db_file = sweep_dir / "optuna.db"
    n_trials = 5  # batches of 2, 2, 1: the last batch has less room than workers
    args = [
        "-m",
        *tiny_job_args(tmp_path, mlflow=True),
        "hydra/sweeper=optuna",
        "launcher=joblib",
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.study_name=kill2",
        "hydra.sweeper.sampler.seed=4",
        *FAST_HEARTBEAT,
        f"hydra.sweep.dir={sweep_dir}",
        LR_SEARCH,
    ]
    proc = start_cli(args, tmp_path, tmp_path / "first.log")
    try:  # kill while a job trains, after at least one batch has finished
        wait_for(
            lambda: count_trials(db_file, "COMPLETE") >= 2 and _running_trials_in_a_job(db_file),
            timeout=200,
            proc=proc,
            what="2 finished trials and a job in training",
        )
    finally:
        kill_group(proc)
    before = count_trials(db_file, "COMPLETE")
    assert 2 <= before < n_trials

    out = run_cli(args, cwd=tmp_path)  # the same command again
    assert "UpdateFinishedTrialError" not in out.stdout + out.stderr

    trials = load_study(f"sqlite:///{db_file}", "kill2").get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == n_trials
    assert len({t.params["training.lr"] for t in complete}) == n_trials  # nothing repeated
    assert not [t for t in trials if t.state.name == "RUNNING"]
    for trial in trials:  # a FAIL is only a trial the kill cut off (not counted)
        if trial.state.name == "FAIL":
            assert trial.user_attrs.get("soen_interrupted") is True, trial.user_attrs
    for trial in complete:  # each job's result file kept, and it is the trial's value
        result = job_result(sweep_dir / str(trial.number))
        assert result["status"] == "completed"
        assert trial.value == result["objective"]

    runs = _mlflow_runs(tmp_path / "experiments" / "project_soen" / "mlflow.db")
    assert [r.info.run_id for r in runs if r.info.status == "RUNNING"] == []
    finished = Counter(
        int(r.data.tags["optuna.trial"])
        for r in runs
        if "optuna.trial" in r.data.tags and r.info.status == "FINISHED"
    )
    assert all(finished[t.number] == 1 for t in complete), finished  # one run per trial
    # (a job killed after its run ended but before its result file was written ran again)
    interrupted = {t.number for t in trials if t.user_attrs.get("soen_interrupted")}
    assert set(finished) - {t.number for t in complete} <= interrupted


def _run_two_at_once(arg_sets: list[list[str]], tmp_path: Path) -> tuple[list[int], list[str]]:
    """Start one `soen-train` per argument list at the same moment; their exit codes and logs."""
    procs = [start_cli(args, tmp_path, tmp_path / f"{k}.log") for k, args in enumerate(arg_sets)]
    try:
        rcs = [p.wait(timeout=240) for p in procs]
    finally:
        for proc in procs:
            kill_group(proc)
    return rcs, [(tmp_path / f"{k}.log").read_text() for k in range(len(arg_sets))]


def test_two_sweeps_on_one_study_share_its_trials(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    n_trials = 4
    common = [
        "-m",
        *tiny_job_args(tmp_path),
        "hydra/sweeper=optuna",
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.n_jobs=1",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=shared",
        "hydra.sweeper.sampler.seed=2",
        LR_SEARCH,
    ]
    rcs, logs = _run_two_at_once([[*common, f"hydra.sweep.dir={tmp_path / f'sweep_{k}'}"] for k in (0, 1)],
                                 tmp_path)
    assert rcs == [0, 0], logs
    assert not any("UpdateFinishedTrialError" in text for text in logs)

    trials = load_study(storage, "shared").get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * n_trials
    assert len({t.params["training.lr"] for t in trials}) == n_trials
    assert not [t for t in trials if t.user_attrs.get("soen_interrupted")]
    ran_in = {Path(t.user_attrs["job_dir"]).parent.name for t in trials}
    assert ran_in == {"sweep_0", "sweep_1"}  # both sweeps ran trials of the one study
    for trial in trials:
        assert trial.value == job_result(Path(trial.user_attrs["job_dir"]))["objective"]


def test_two_first_runs_at_once_create_one_mlflow_store(tmp_path: Path) -> None:
    db = tmp_path / "experiments" / "project_soen" / "mlflow.db"
    assert not db.parent.exists()
    run_args = [*tiny_job_args(tmp_path, mlflow=True), "training.max_epochs=1"]
    # a new folder: both runs also race to write the dataset file
    rcs, logs = _run_two_at_once([[*run_args, f"hydra.run.dir={tmp_path / f'run_{k}'}"] for k in (0, 1)],
                                 tmp_path)
    assert rcs == [0, 0], logs
    assert not any("already exists" in text for text in logs), logs

    results = [json.loads((tmp_path / f"run_{k}" / "soen_result.json").read_text()) for k in (0, 1)]
    assert all(r["status"] == "completed" for r in results)
    runs = _mlflow_runs(db)
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
