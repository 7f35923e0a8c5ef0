"""`launcher=slurm` on a real one-node SLURM cluster: job arrays run by slurmd, final states read
back from SLURM's job-completion log, results, the Optuna study and the MLflow runs checked as
with the local launchers. `scancel` of a job fails only its trial; a rerun runs what is missing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from slurm_jobs_cli import FITTING_REQUEST, array_tasks, wait_for_jobs
from sweep_cli import (
    job_dirs,
    job_result,
    kill_group,
    load_study,
    run_cli,
    start_cli,
    tiny_job_args,
    wait_for,
)


def test_grid_sweep_runs_as_a_job_array(tmp_path: Path, slurm: dict) -> None:
    sweep_dir = tmp_path / "sweep"
    run_cli(["-m", *tiny_job_args(tmp_path, mlflow=True), *FITTING_REQUEST,
             "training.lr=1e-2,3e-2", f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path)

    # one array of two tasks, both COMPLETED in SLURM's own record
    tasks = array_tasks(sweep_dir)
    assert len(tasks) == 2 and {t.split("_")[0] for t in tasks} == {tasks[0].split("_")[0]}
    jobs = wait_for_jobs(slurm["jobcomp"], tmp_path, 2)
    assert [j["JobState"] for j in jobs] == ["COMPLETED", "COMPLETED"]
    assert {j["Partition"] for j in jobs} == {slurm["partition"]}
    assert all(j["ProcCnt"] == "1" for j in jobs)  # cpus_per_task=1 was what SLURM gave

    lrs = []
    for job in job_dirs(sweep_dir):
        result = job_result(job)
        assert result["status"] == "completed" and result["objective"] > 0
        lrs += [float(o.split("=")[1]) for o in result["overrides"] if o.startswith("training.lr=")]
    assert sorted(lrs) == [0.01, 0.03]

    # MLflow: one parent run of the sweep, the two jobs nested under it, finished
    from mlflow.tracking import MlflowClient

    db = tmp_path / "experiments" / "project_soen" / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    runs = client.search_runs([client.get_experiment_by_name("pulses").experiment_id])
    [parent] = [r for r in runs if r.data.tags.get("soen.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2 and len(runs) == 3
    assert all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.data.tags["job"] for c in children) == ["0", "1"]
    for child in children:
        result = job_result(sweep_dir / child.data.tags["job"])
        assert child.data.metrics["val_loss"] == pytest.approx(
            result["repeats"][0]["metrics"]["final_val_loss"], rel=1e-6)


def _optuna_args(tmp_path: Path, n_trials: int, study: str) -> list[str]:
    return ["-m", *tiny_job_args(tmp_path), *FITTING_REQUEST, "hydra/sweeper=optuna",
            f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.n_jobs=2",
            f"hydra.sweeper.study_name={study}", "hydra.sweeper.sampler.seed=5",
            "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3",
            f"hydra.sweep.dir={tmp_path / 'sweep'}", "training.lr=tag(log, interval(1e-3, 1e-1))"]


def test_optuna_search_runs_as_job_arrays(tmp_path: Path, slurm: dict) -> None:
    sweep_dir = tmp_path / "sweep"
    run_cli(_optuna_args(tmp_path, 3, "arrays3"), cwd=tmp_path)

    study = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}", "arrays3")
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    for trial in trials:
        assert trial.value == job_result(Path(trial.user_attrs["job_dir"]))["objective"]
    # n_jobs=2: an array of two tasks, then the last trial alone; all COMPLETED in SLURM's record
    tasks = array_tasks(sweep_dir)
    assert [t.count("_") for t in tasks] == [1, 1, 0] and tasks[0].endswith("_0")
    jobs = wait_for_jobs(slurm["jobcomp"], tmp_path, 3)
    assert [j["JobState"] for j in jobs] == ["COMPLETED"] * 3


def test_scancel_fails_one_trial_and_a_rerun_runs_only_what_is_missing(
        tmp_path: Path, slurm: dict) -> None:
    sweep_dir = tmp_path / "sweep"
    args = _optuna_args(tmp_path, 5, "cancel5")
    proc = start_cli(args, tmp_path, tmp_path / "first.log")
    try:
        # trial 0's job has started (Hydra made its job dir): cancel it mid-run
        wait_for(lambda: (sweep_dir / "0" / ".hydra").is_dir(), 120, proc, "trial 0's job to start")
        first_task = array_tasks(sweep_dir)[0]
        assert first_task.endswith("_0")
        subprocess.run(["scancel", first_task], check=True)
        # the sweep goes on: the second array (trials 2 and 3) starts; then the command dies
        # (SIGKILL, like a lost login node) while its jobs run on
        wait_for(lambda: all((sweep_dir / n / ".hydra").is_dir() for n in ("2", "3")), 120, proc,
                 "trials 2 and 3 to start")
    finally:
        kill_group(proc)
    first = wait_for_jobs(slurm["jobcomp"], tmp_path, 4)
    assert sorted(j["JobState"] for j in first) == ["CANCELLED", "COMPLETED", "COMPLETED", "COMPLETED"]

    out = run_cli(args, cwd=tmp_path, expect_ok=False)  # the same command again
    assert out.returncode == 1  # a failed trial: the sweep says so
    [error] = [ln for ln in out.stderr.splitlines() if ln.startswith("Error:")]
    assert "1 of 5 trials failed" in error and "#0:" in error

    study = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}", "cancel5")
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL"] + ["COMPLETE"] * 4
    assert "CANCELLED" in trials[0].user_attrs["fail_reason"]
    assert first_task in trials[0].user_attrs["fail_reason"]
    # trials 2 and 3 finished while no sweeper ran: the rerun took their results from their jobs
    assert [t.user_attrs.get("soen_recovered", False) for t in trials[2:4]] == [True, True]
    for trial in trials[1:]:
        assert trial.value == job_result(sweep_dir / str(trial.number))["objective"]
    # the rerun submitted one job (trial 4): SLURM ran 5 jobs in all, none twice
    jobs = wait_for_jobs(slurm["jobcomp"], tmp_path, 5)
    assert len(jobs) == 5 and len(array_tasks(sweep_dir)) == 5
    assert [j["JobState"] for j in jobs].count("COMPLETED") == 4
