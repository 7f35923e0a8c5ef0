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
    assert [t.number for t in trials] == list(range(6))  # 6 in all, not 3 + 6
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") + states.count("FAIL") == 6
    # The only possible FAIL is the trial the kill interrupted, marked when the sweep resumed.
    for trial in trials:
        if trial.state.name == "FAIL":
            assert "interrupted sweep" in trial.user_attrs["fail_reason"]
            assert trial.number == completed_before
    # Job dirs are numbered by trial, so the resumed jobs did not overwrite the first ones.
    assert {str(t.number) for t in trials if t.state.name == "COMPLETE"} <= {
        d.name for d in job_dirs(sweep_dir)
    }
    for trial in trials:
        if trial.state.name == "COMPLETE":
            result = job_result(sweep_dir / str(trial.number))
            assert result["status"] == "completed"
            assert trial.value == result["objective"]


def test_a_trial_that_raises_is_fail_and_the_search_goes_on(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    run_cli(
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
    )

    study = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}", "with_failure")
    by_choice = {t.params["model.time_pooling.name"]: t for t in study.get_trials()}
    assert sorted(by_choice) == ["final", "max", "no_such_pooling"]
    failed = by_choice["no_such_pooling"]
    assert failed.state.name == "FAIL" and failed.value is None
    assert "unknown time pooling 'no_such_pooling'" in failed.user_attrs["fail_reason"]
    for name in ("final", "max"):
        trial = by_choice[name]
        assert trial.state.name == "COMPLETE"
        assert trial.value == job_result(Path(trial.user_attrs["job_dir"]))["objective"]
    # The summary names the failed trial too.
    text = (sweep_dir / "optimization_results.yaml").read_text()
    assert "FAIL: 1" in text and "COMPLETE: 2" in text
