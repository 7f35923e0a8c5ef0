"""A 6-trial Optuna search with 2 parallel joblib workers, one SQLite study, one MLflow store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sweep_cli import job_result, load_study, run_cli, tiny_job_args

STUDY = "parallel6"


def test_parallel_search_loses_no_trial_and_no_mlflow_run(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    sweep_dir = tmp_path / "sweep"
    run_cli(
        [
            "-m",
            *tiny_job_args(tmp_path, mlflow=True),
            "hydra/sweeper=optuna",
            "launcher=joblib",
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.n_jobs=2",
            f"hydra.sweeper.storage={storage}",
            f"hydra.sweeper.study_name={STUDY}",
            "hydra.sweeper.sampler.seed=3",
            f"hydra.sweep.dir={sweep_dir}",
            "training.lr=tag(log, interval(1e-3, 1e-1))",
            # jobs of about 2 s of training: long enough that the two of a batch overlap even
            # when a worker is still closing its previous job
            "data.dataset_params.n_train=768",
            "data.dataset_params.seq_len=96",
            "training.max_epochs=6",
        ],
        cwd=tmp_path,
    )

    # The study: 6 finished trials, each value = the mean val_loss its job wrote.
    study = load_study(storage, STUDY)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(6))
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    for trial in trials:
        result = job_result(Path(trial.user_attrs["job_dir"]))
        assert result["status"] == "completed"
        val_losses = [r["metrics"]["val_loss"] for r in result["repeats"]]
        assert trial.value == pytest.approx(sum(val_losses) / len(val_losses), rel=1e-9)
        lr = [
            float(o.split("=", 1)[1]) for o in result["overrides"] if o.startswith("training.lr=")
        ]
        assert lr == [pytest.approx(trial.params["training.lr"], rel=1e-12)]

    # The 6 jobs ran in the same 2 persistent worker processes, each with cores // 2 torch
    # threads (1 on a 2-core machine), so the workers do not oversubscribe the cores.
    workers = [job_result(Path(t.user_attrs["job_dir"]))["worker"] for t in trials]
    assert len({w["pid"] for w in workers}) == 2
    assert {w["torch_threads"] for w in workers} == {max(1, len(os.sched_getaffinity(0)) // 2)}

    # The two jobs of each batch ran at the same time (their start-to-result spans overlap).
    spans = {}
    for trial in trials:
        job_dir = Path(trial.user_attrs["job_dir"])
        spans[trial.number] = (
            (job_dir / ".hydra" / "hydra.yaml").stat().st_mtime,
            (job_dir / "soen_result.json").stat().st_mtime,
        )
    for a, b in ((0, 1), (2, 3), (4, 5)):
        assert spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1], spans

    # MLflow: one parent run for the sweep, the 6 jobs nested under it with their trial tags.
    from mlflow.tracking import MlflowClient

    db = tmp_path / "experiments" / "project_soen" / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("pulses")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("soen.role") == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    assert (sweep_dir / "mlflow_parent_run_id").read_text().strip() == parent.info.run_id
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 6 and len(runs) == 7
    assert sorted(int(c.data.tags["optuna.trial"]) for c in children) == list(range(6))
    assert {c.data.tags["optuna.study"] for c in children} == {STUDY}
    assert all(c.info.status == "FINISHED" for c in children)
    assert all(c.data.tags["soen.state"] == "COMPLETE" for c in children)
    for child in children:
        trial = trials[int(child.data.tags["optuna.trial"])]
        assert float(child.data.tags["optuna.param.training.lr"]) == pytest.approx(
            trial.params["training.lr"], rel=1e-12
        )

    # The best job is marked on the parent and on exactly one child: the study's best trial.
    best = study.best_trial
    marked = [c for c in children if c.data.tags.get("soen.best") == "true"]
    assert [int(c.data.tags["optuna.trial"]) for c in marked] == [best.number]
    assert float(parent.data.tags["best_objective"]) == pytest.approx(best.value, rel=1e-9)
    assert parent.data.tags["best_job"] == str(best.number)
