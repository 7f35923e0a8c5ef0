"""Killing and restarting an Optuna sweep, and a trial that raises, through the real command."""

from __future__ import annotations

from pathlib import Path

from sweep_cli import (
    count_trials,
    job_dirs,
    job_result,
    kill_group,
    load_study,
    run_cli,
    start_cli,
    tiny_job_args,
    wait_for,
)


def test_killed_sweep_resumes_to_n_trials_not_more(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    db_file = sweep_dir / "optuna.db"  # the default storage: sqlite in the sweep dir
    args = [
        "-m",
        *tiny_job_args(tmp_path),
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.study_name=resume6",
        "hydra.sweeper.sampler.seed=1",
        f"hydra.sweep.dir={sweep_dir}",
        "training.lr=tag(log, interval(1e-3, 1e-1))",
    ]

    proc = start_cli(args, tmp_path, tmp_path / "first.log")
    try:
        wait_for(
            lambda: count_trials(db_file, "COMPLETE") >= 3,
            timeout=150,
            proc=proc,
            what="3 finished trials",
        )
    finally:
        kill_group(proc)  # SIGKILL: nothing gets to clean up, like a lost node
    completed_before = count_trials(db_file, "COMPLETE")
    assert 3 <= completed_before < 6

    run_cli(args, cwd=tmp_path)  # the same command again

    study = load_study(f"sqlite:///{db_file}", "resume6")
    trials = study.get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 6  # 6 in all, not 3 + 6
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 6  # no finished params again
    assert all(t.state.name in ("COMPLETE", "FAIL") for t in trials)  # nothing left RUNNING
    # The only possible FAIL is the trial the kill cut off; its parameters ran again (unless
    # the kill came between Optuna's ask and the first suggestion: then it had none to repeat).
    for trial in trials:
        if trial.state.name == "FAIL":
            assert trial.number == completed_before
            retries = [t for t in trials if t.user_attrs.get("soen_retry_of") == trial.number]
            if trial.params:
                assert len(retries) == 1 and retries[0].params == trial.params
            else:
                assert retries == []
    # Job dirs are numbered by trial, so the resumed jobs did not overwrite the first ones.
    assert {str(t.number) for t in trials if t.state.name == "COMPLETE"} <= {
        d.name for d in job_dirs(sweep_dir)
    }
    for trial in trials:
        if trial.state.name == "COMPLETE":
            result = job_result(sweep_dir / str(trial.number))
            assert result["status"] == "completed"
            assert trial.value == result["objective"]


def test_a_bad_choice_is_refused_before_any_trial_runs(tmp_path: Path) -> None:
    """Every discrete choice of a search is checked before the sweep starts: one Error line,
    exit 2, no study written. (A trial that fails while training becomes FAIL and the search
    goes on: tests/sweeps/test_sweep_end_to_end.py, on the real sweeper.)"""
    sweep_dir = tmp_path / "sweep"
    out = run_cli(
        [
            "-m",
            *tiny_job_args(tmp_path),
            "hydra/sweeper=optuna",
            "hydra/sweeper/sampler=grid",
            "hydra.sweeper.sampler.seed=0",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.n_jobs=1",
            "hydra.sweeper.study_name=with_failure",
            f"hydra.sweep.dir={sweep_dir}",
            "model.time_pooling.name=choice(final, no_such_pooling, max)",
        ],
        cwd=tmp_path,
        expect_ok=False,
    )
    assert out.returncode == 2
    (line,) = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert line.startswith("Error:") and "unknown time pooling 'no_such_pooling'" in line
    assert not (sweep_dir / "optuna.db").exists()
