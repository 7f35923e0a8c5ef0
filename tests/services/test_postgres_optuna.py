"""Two `soen-train -m` Optuna sweeps started at once share one study in PostgreSQL.

The study lives on the real server (`make services`); what is asserted is what PostgreSQL
holds, read back with `optuna.load_study` and the heartbeat table Optuna keeps there.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy
from sweep_cli import job_dirs, job_result, kill_group, load_study, start_cli, tiny_job_args

N_TRIALS = 4


def _sweep_args(root: Path, url: str, study: str, sweep_dir: Path) -> list[str]:
    return [
        "-m",
        *tiny_job_args(root),
        "hydra/sweeper=optuna",
        f"hydra.sweeper.n_trials={N_TRIALS}",
        "hydra.sweeper.n_jobs=1",
        f"hydra.sweeper.storage={url}",
        f"hydra.sweeper.study_name={study}",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=30",
        f"hydra.sweep.dir={sweep_dir}",
        "training.lr=tag(log, interval(1e-3, 1e-1))",
    ]


def test_two_sweeps_share_one_postgres_study(tmp_path: Path, postgres_url: str) -> None:
    study_name = f"shared_{uuid.uuid4().hex[:8]}"  # the database outlives the test
    sweeps = [tmp_path / "sweep_a", tmp_path / "sweep_b"]
    procs = [
        start_cli(_sweep_args(tmp_path, postgres_url, study_name, d), tmp_path, tmp_path / f"{d.name}.log")
        for d in sweeps
    ]
    try:
        deadline = time.monotonic() + 150
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                kill_group(proc)
    for proc, d in zip(procs, sweeps):
        log = (tmp_path / f"{d.name}.log").read_text()
        assert proc.returncode == 0, log[-4000:]

    # PostgreSQL's record: exactly N_TRIALS trials, all COMPLETE, each with its own params.
    study = load_study(postgres_url, study_name)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(N_TRIALS))
    assert [t.state.name for t in trials] == ["COMPLETE"] * N_TRIALS
    lrs = [t.params["training.lr"] for t in trials]
    assert len(set(lrs)) == N_TRIALS

    # Each trial ran in exactly one job of one of the two sweeps, and its value is that job's.
    ran = [j.resolve() for d in sweeps for j in job_dirs(d) if (j / "soen_result.json").is_file()]
    assert sorted(ran) == sorted(Path(t.user_attrs["job_dir"]).resolve() for t in trials)
    for trial in trials:
        result = job_result(Path(trial.user_attrs["job_dir"]))
        assert result["status"] == "completed"
        lr = [float(o.split("=", 1)[1]) for o in result["overrides"] if o.startswith("training.lr=")]
        assert lr == [pytest.approx(trial.params["training.lr"], rel=1e-12)]
        val = [r["metrics"]["val_loss"] for r in result["repeats"]]
        assert trial.value == pytest.approx(sum(val) / len(val), rel=1e-9)
    # both sweepers took trials: each sweep dir holds at least one of the study's jobs
    owners = {Path(t.user_attrs["job_dir"]).resolve().parent for t in trials}
    assert owners == {d.resolve() for d in sweeps}

    # Heartbeats: every trial was beaten in PostgreSQL while it ran.
    with sqlalchemy.create_engine(postgres_url).connect() as conn:
        beaten = conn.execute(sqlalchemy.text(
            "select t.number from trial_heartbeats h join trials t on t.trial_id = h.trial_id "
            "join studies s on s.study_id = t.study_id where s.study_name = :name"
        ), {"name": study_name}).scalars().all()
    assert sorted(beaten) == list(range(N_TRIALS))
