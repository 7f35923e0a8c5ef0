"""``launcher=joblib`` (hydra_plugins/soen_joblib_launcher): a pool of worker processes that
lives for the whole sweep, each worker running many trials with cores // n_jobs threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState
from sweep_toy_runner import load_trials, run_toy, toy_command, toy_env, toy_objective

from hydra_plugins.soen_joblib_launcher.pool_launcher import (
    adopt_environment,
    pool_start_method,
    usable_cores,
    worker_threads,
)
from soen_train.config.errors import ConfigError
from soen_train.sweeps.worker_preload import (
    MLFLOW_MODULES,
    MLFLOW_SQL_STORE_MODULES,
    TRAINING_MODULES,
    job_modules,
)


def test_threads_per_worker_default_to_cores_over_workers() -> None:
    assert worker_threads(2, None) == max(1, usable_cores() // 2)
    assert worker_threads(10_000, None) == 1  # never 0
    assert worker_threads(2, 3) == 3  # an explicit count wins


def test_auto_forks_single_thread_workers_only() -> None:
    assert pool_start_method("auto", 1) == "fork"
    assert pool_start_method("auto", 2) == "loky"  # OpenMP in a forked child may hang
    assert pool_start_method("loky", 1) == "loky"
    with pytest.raises(ConfigError, match="start_method='spawn': expected one of auto, fork, loky"):
        pool_start_method("spawn", 1)


def test_workers_preload_the_training_stack_and_only_the_loggers_turned_on() -> None:
    from omegaconf import OmegaConf

    job = OmegaConf.create({"training": {}, "logging": {"tensorboard_active": False,
                                                       "mlflow_active": True}})
    # the default store is a local SQLite file: its SQLAlchemy layer too
    assert job_modules(job) == [*TRAINING_MODULES, *MLFLOW_MODULES, *MLFLOW_SQL_STORE_MODULES]
    job.logging.mlflow_tracking_uri = "http://127.0.0.1:5000"  # a server: no local store
    assert job_modules(job) == [*TRAINING_MODULES, *MLFLOW_MODULES]
    assert job_modules(OmegaConf.create({"x": 1})) == []  # not a soen-train job


def test_a_job_sees_the_sweepers_environment_at_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    # the sweeper exports SOEN_OPTUNA_STORAGE (a URL with a password) after the workers started
    monkeypatch.setenv("SOEN_TEST_GONE", "1")
    monkeypatch.delenv("SOEN_TEST_NEW", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sweeper = {k: v for k, v in os.environ.items() if k != "SOEN_TEST_GONE"}
    sweeper.update(SOEN_TEST_NEW="postgresql://u:secret@db/optuna", OMP_NUM_THREADS="8")
    adopt_environment(sweeper)
    assert os.environ["SOEN_TEST_NEW"] == "postgresql://u:secret@db/optuna"
    assert "SOEN_TEST_GONE" not in os.environ
    assert os.environ["OMP_NUM_THREADS"] == "1"  # the worker keeps its own thread count


@pytest.mark.parametrize("start_method", ["fork", "loky"])
def test_two_workers_run_all_trials_in_two_processes(tmp_path: Path, start_method: str) -> None:
    sweep_dir = tmp_path / start_method
    run_toy(
        sweep_dir,
        "hydra/launcher=soen_joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.launcher.start_method={start_method}",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/sampler=grid",
        "x=range(0,6)",
        "sleep_s=0.05",
    )
    trials = load_trials(sweep_dir)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert sorted(t.value for t in trials) == sorted(toy_objective(x) for x in range(6))
    infos = [json.loads(p.read_text()) for p in sweep_dir.glob("*/job_info.json")]
    assert sorted(i["number"] for i in infos) == list(range(6))
    # 6 trials in 3 batches, all in the same 2 worker processes
    assert len({i["pid"] for i in infos}) == 2
    # 2 workers share the cores: cores // 2 threads each (1 on a 2-core machine)
    assert {i["omp_threads"] for i in infos} == {str(max(1, usable_cores() // 2))}


def _alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_workers_die_with_a_sigkilled_sweeper(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "orphans"
    sweep_dir.mkdir()
    proc = subprocess.Popen(
        toy_command(sweep_dir, "hydra/launcher=soen_joblib", "hydra.launcher.n_jobs=2",
                    "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=40", "x=interval(-4,4)",
                    "sleep_s=0.2"),
        cwd=tmp_path, env=toy_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 90
        while len(list(sweep_dir.glob("*/job_info.json"))) < 2 and time.time() < deadline:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.05)
        pids = {json.loads(p.read_text())["pid"] for p in sweep_dir.glob("*/job_info.json")}
        assert pids and all(_alive(pid) for pid in pids)  # the workers outlive their jobs
    finally:
        proc.kill()  # the sweeper alone, not its process group
        proc.wait(timeout=30)
    deadline = time.time() + 20
    while any(_alive(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)], "workers outlived the sweeper"
