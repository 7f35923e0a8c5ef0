"""The ready search `hparams_search=optuna_pruned` (TPE + Hyperband) runs through soen-train."""

from __future__ import annotations

from pathlib import Path

import yaml
from sweep_cli import job_result, load_study, run_cli, tiny_job_args


def test_optuna_pruned_search_runs_with_hyperband(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    run_cli(
        [
            "-m",
            *tiny_job_args(tmp_path),
            "hparams_search=optuna_pruned",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.n_jobs=1",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        cwd=tmp_path,
    )

    study = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}", "hparams_optuna_pruned")
    pruner = study.user_attrs["soen_pruner"]
    assert pruner == {
        "_target_": "optuna.pruners.HyperbandPruner",
        "min_resource": 1,
        "max_resource": "auto",
        "reduction_factor": 3,
        "bootstrap_count": 0,
    }
    trials = study.get_trials()
    assert len(trials) == 2
    assert set(trials[0].params) == {"training.lr", "optimizer", "model.time_pooling.name"}
    for trial in trials:
        assert trial.params["optimizer"] in ("adamw", "adam", "lion")
        assert 1e-4 <= trial.params["training.lr"] <= 1e-1
        # every epoch reported for the pruner (2 epochs in the tiny settings)
        assert sorted(trial.intermediate_values) in ([0], [0, 1])
        if trial.state.name == "COMPLETE":
            result = job_result(Path(trial.user_attrs["job_dir"]))
            assert trial.value == result["objective"]
            assert f"optimizer={trial.params['optimizer']}" in result["overrides"]
    summary = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert summary["study_name"] == "hparams_optuna_pruned" and summary["n_trials"] == 2
