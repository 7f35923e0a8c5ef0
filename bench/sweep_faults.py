"""Does a long parallel sweep lose anything when it is killed? Trials/min and what was lost.

An Optuna sweep of tiny pulses jobs (`launcher=joblib`, `--workers` parallel jobs, MLflow on)
is run by the real `soen-train -m` command. `--kills` times, while a job is training, the whole
sweep is killed with SIGKILL (its process group, as a lost node would be) and then started again
with the same command; the last start runs to the end. Printed: trials per minute over all the
commands' wall time, and what was lost:

- trials: n_trials minus the COMPLETE trials; trials left RUNNING; finished parameters repeated;
- MLflow runs: COMPLETE trials without a FINISHED run; runs left RUNNING;
- result files: COMPLETE trials whose `soen_result.json` is missing or holds another value.

    python bench/sweep_faults.py [--trials 100] [--workers 2] [--kills 2] [--epochs 1]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sweep import SOEN_TRAIN, TINY_JOB, run

#: Trial user attribute a job writes when it starts (soen_train/sweeps/recovery.py).
JOB_DIR_ATTR = "job_dir"


def _query(db_file: Path, sql: str) -> int:
    """One count from the study database (0 before its tables exist)."""
    if not db_file.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _complete(db_file: Path) -> int:
    return _query(db_file, "SELECT count(*) FROM trials WHERE state = 'COMPLETE'")


def _training(db_file: Path) -> int:
    """RUNNING trials whose job has started."""
    return _query(
        db_file,
        "SELECT count(*) FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
        f"WHERE t.state = 'RUNNING' AND a.key = '{JOB_DIR_ATTR}'",
    )


def kill_midway(args: list[str], cwd: Path, env: dict, db_file: Path, at_complete: int) -> float:
    """Start the sweep, SIGKILL its process group once `at_complete` trials are COMPLETE and a
    job is training; returns the seconds it ran."""
    started = time.perf_counter()
    with open(cwd / "killed.log", "a") as log:
        proc = subprocess.Popen(
            [SOEN_TRAIN, *args],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while not (_complete(db_file) >= at_complete and _training(db_file)):
                if proc.poll() is not None:
                    raise RuntimeError(f"the sweep ended (rc={proc.returncode}) before the kill")
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return time.perf_counter() - started


def losses(root: Path, sweep_dir: Path, study: str, n_trials: int) -> dict[str, int]:
    """What the study, the MLflow store and the job folders lost (all 0 when nothing was)."""
    import json

    import optuna
    from mlflow.tracking import MlflowClient

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(
        study_name=study, storage=f"sqlite:///{sweep_dir / 'optuna.db'}"
    ).get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'experiments/project_soen/mlflow.db'}")
    exp = client.get_experiment_by_name("pulses")
    runs = client.search_runs([exp.experiment_id], max_results=10000)
    finished = {r.data.tags.get("optuna.trial") for r in runs if r.info.status == "FINISHED"}
    bad_results = 0
    for trial in complete:
        try:
            result = json.loads((sweep_dir / str(trial.number) / "soen_result.json").read_text())
            bad_results += result.get("objective") != trial.value
        except (OSError, ValueError):
            bad_results += 1
    return {
        "trials lost (n_trials - COMPLETE)": n_trials - len(complete),
        "trials left RUNNING": sum(t.state.name == "RUNNING" for t in trials),
        "finished parameters repeated": len(complete)
        - len({tuple(sorted(t.params.items())) for t in complete}),
        "COMPLETE trials without a FINISHED MLflow run": sum(
            str(t.number) not in finished for t in complete
        ),
        "MLflow runs left RUNNING": sum(r.info.status == "RUNNING" for r in runs),
        "result files lost or not the trial's value": bad_results,
        "(trials cut off by a kill and run again)": sum(
            bool(t.user_attrs.get("soen_interrupted")) for t in trials
        ),
        "(trials recovered from their result file)": sum(
            bool(t.user_attrs.get("soen_recovered")) for t in trials
        ),
    }


def main(argv: list[str] | None = None) -> None:
    """Run the killed-and-resumed sweep and print trials/min and the losses."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--kills", type=int, default=2, help="SIGKILLs of the sweep before it may finish"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--heartbeat", type=int, default=2, help="hydra.sweeper.heartbeat_interval (s)"
    )
    parser.add_argument("--grace", type=int, default=6, help="hydra.sweeper.grace_period (s)")
    opts = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for name in ("SOEN_OPTUNA_STORAGE", "SOEN_OPTUNA_STUDY", "SOEN_OPTUNA_TRIAL"):
        env.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="soen_sweep_faults_") as tmp:
        root = Path(tmp)
        base = [
            *TINY_JOB,
            f"training.max_epochs={opts.epochs}",
            "logger=mlflow",
            f"logging.project_dir={root / 'experiments'}",
            f"data.data_path={root / 'pulses.h5'}",
        ]
        run([*base, f"hydra.run.dir={root / 'warmup'}"], root, env)  # dataset + MLflow store
        sweep_dir = root / "sweep"
        study = "faults"
        args = [
            "-m",
            *base,
            "hydra/sweeper=optuna",
            "launcher=joblib",
            f"hydra.launcher.n_jobs={opts.workers}",
            f"hydra.sweeper.n_jobs={opts.workers}",
            f"hydra.sweeper.n_trials={opts.trials}",
            "hydra.sweeper.sampler.seed=0",
            f"hydra.sweeper.heartbeat_interval={opts.heartbeat}",
            f"hydra.sweeper.grace_period={opts.grace}",
            f"hydra.sweeper.study_name={study}",
            f"hydra.sweep.dir={sweep_dir}",
            "training.lr=tag(log, interval(1e-4, 1e-1))",
        ]
        db_file = sweep_dir / "optuna.db"
        wall = 0.0
        for k in range(1, opts.kills + 1):
            wall += kill_midway(args, root, env, db_file, k * opts.trials // (opts.kills + 1))
            print(f"kill {k}: SIGKILL with {_complete(db_file)} trials COMPLETE", flush=True)
        wall += run(args, root, env)
        found = losses(root, sweep_dir, study, opts.trials)
    print(
        f"cpu cores: {os.cpu_count()}, {opts.workers} workers, {opts.epochs} epoch(s)/trial, "
        f"{opts.kills} SIGKILL(s) + reruns, heartbeat {opts.heartbeat} s / grace {opts.grace} s"
    )
    print(
        f"{opts.trials} trials in {wall:.1f} s of commands -> {60 * opts.trials / wall:.1f} trials/min"
    )
    for what, count in found.items():
        print(f"  {what:<50} {count}")


if __name__ == "__main__":
    sys.exit(main())
