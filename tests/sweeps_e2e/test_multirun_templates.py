"""Every shipped sweep template (config group `sweep`) runs, as its `# command:` line says, with a tiny budget;
`soen-train-summary` on the repeats x seeds template prints mean ± std per setting."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
import yaml
from sweep_cli import (
    SOEN_TRAIN_SUMMARY,
    TEMPLATES_DIR,
    job_dirs,
    job_result,
    load_study,
    run_cli,
    template_budget,
    template_command,
    template_lines,
    tiny_job_args,
)

TEMPLATES = sorted((TEMPLATES_DIR / "sweep").glob("*.yaml"))
#: Templates whose run is checked in another module (with launcher-specific assertions).
RUN_ELSEWHERE = {
    "slurm_array": "test_launchers.py::test_slurm_array_template_runs_through_submitit_local"
}


def run_template(name: str, root: Path) -> Path:
    """Run template `name` as its `# command:` says, plus its budget and the tiny settings, in
    `root`; returns the sweep dir."""
    path = TEMPLATES_DIR / "sweep" / f"{name}.yaml"
    args = [*template_command(path), *template_budget(path), *tiny_job_args(root)[1:]]
    given = [a.split("=", 1)[1] for a in args if a.startswith("hydra.sweep.dir=")]
    if not given:
        args.append(f"hydra.sweep.dir={root / 'sweep'}")
    run_cli(args, cwd=root)
    return root / (given[0] if given else "sweep")


def test_every_template_says_how_to_run_it() -> None:
    names = [p.stem for p in TEMPLATES]
    assert {
        "lr_grid",
        "repeats_seeds",
        "optuna_tpe_pruned",
        "multiobjective",
        "slurm_array",
    } <= set(names)
    for path in TEMPLATES:
        args = template_command(path)
        assert args[:2] == ["-m", "experiment=pulses"], path.name  # no --config-dir, no "+"
        assert f"sweep={path.stem}" in args, path.name
        assert template_budget(path), path.name
        assert path.read_text().startswith("# @package _global_\n"), path.name
    assert set(RUN_ELSEWHERE) <= set(names)
    readme = (TEMPLATES_DIR / "sweep" / "README.md").read_text()
    assert all(f"{name}.yaml" in readme for name in names)


def test_lr_grid_template(tmp_path: Path) -> None:
    sweep_dir = run_template("lr_grid", tmp_path)
    results = [job_result(d) for d in job_dirs(sweep_dir)]
    lrs = [
        float(o.split("=")[1])
        for r in results
        for o in r["overrides"]
        if o.startswith("training.lr=")
    ]
    assert lrs == [0.01, 0.03]  # the budget's two values, in order
    assert all(r["status"] == "completed" for r in results)
    assert [r["objective"] for r in results] == [
        r["repeats"][0]["metrics"]["val_loss"] for r in results
    ]


def test_optuna_tpe_pruned_template(tmp_path: Path) -> None:
    path = TEMPLATES_DIR / "sweep" / "optuna_tpe_pruned.yaml"
    assert any(a.startswith("hydra.sweep.dir=") for a in template_command(path))  # resumable
    sweep_dir = run_template("optuna_tpe_pruned", tmp_path)
    study = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}", "tpe_pruned")
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)
    assert set(trials[0].params) == {
        "training.lr",
        "training.batch_size",
        "model.time_pooling.name",
        "model.time_pooling.params.scale",
    }
    pruner = study.user_attrs["soen_pruner"]
    assert pruner["_target_"] == "optuna.pruners.MedianPruner" and pruner["n_startup_trials"] == 3
    summary = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert summary["best_value"] == min(t.value for t in trials)


def test_multiobjective_template(tmp_path: Path) -> None:
    sweep_dir = run_template("multiobjective", tmp_path)
    summary = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert summary["directions"] == ["maximize", "minimize"]
    assert summary["trials_by_state"] == {"COMPLETE": 2}
    assert summary["best_trials"] and all(len(t["values"]) == 2 for t in summary["best_trials"])
    results = [json.loads(p.read_text()) for p in sweep_dir.glob("*/soen_result.json")]
    assert len(results) == 2
    for r in results:
        assert r["objective_metrics"] == ["final_val_accuracy", "final_val_loss/reg_J_loss"]
        assert r["objectives"][0] == r["repeats"][0]["metrics"]["final_val_accuracy"]


# ------------------------------------------------------------------ repeats x seeds + summary
@pytest.fixture(scope="module")
def repeats_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repeats x seeds template run once: 2 poolings x 2 seeds x 2 repeats."""
    return run_template("repeats_seeds", tmp_path_factory.mktemp("repeats"))


def _pooling(result: dict) -> str:
    return next(
        o.split("=")[1] for o in result["overrides"] if o.startswith("model.time_pooling.name=")
    )


def _val_losses_by_setting(sweep_dir: Path) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for job in job_dirs(sweep_dir):
        result = job_result(job)
        values.setdefault(_pooling(result), []).extend(
            r["metrics"]["val_loss"] for r in result["repeats"]
        )
    return values


def test_repeats_seeds_template(repeats_sweep: Path) -> None:
    jobs = [job_result(d) for d in job_dirs(repeats_sweep)]
    assert len(jobs) == 4 and all(j["status"] == "completed" for j in jobs)
    for job in jobs:
        seed = int(next(o.split("=")[1] for o in job["overrides"] if o.startswith("seed=")))
        assert [r["seed"] for r in job["repeats"]] == [seed, seed + 1]  # repeat k: seed + k
        assert job["objective"] == pytest.approx(
            statistics.mean(r["metrics"]["val_loss"] for r in job["repeats"])
        )
    assert sorted({_pooling(j) for j in jobs}) == ["final", "max"]


def test_summary_prints_mean_and_std_per_setting(repeats_sweep: Path) -> None:
    out = run_cli([str(repeats_sweep)], cwd=repeats_sweep, program=SOEN_TRAIN_SUMMARY, timeout=120)
    expected = _val_losses_by_setting(repeats_sweep)
    assert sorted(expected) == ["final", "max"]
    rows = {
        line.split("model.time_pooling.name=")[1].split()[0]: line
        for line in out.stdout.splitlines()
        if "model.time_pooling.name=" in line and "(n=" in line  # table rows, not the re-run line
    }
    for pooling, values in expected.items():
        assert len(values) == 4  # 2 seeds x 2 repeats pooled
        mean, std = statistics.mean(values), statistics.stdev(values)
        assert f"{mean:.4g} ± {std:.4g} (n=4)" in rows[pooling], out.stdout
    best = min((job_result(d) for d in job_dirs(repeats_sweep)), key=lambda j: j["objective"])
    rerun = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith("soen-train "))
    assert rerun.split() == ["soen-train", *best["overrides"]]  # the best job's command
    with (repeats_sweep / "summary.csv").open() as handle:
        table = {row["setting"].split("=")[-1]: row for row in csv.DictReader(handle)}
    for pooling, values in expected.items():
        assert float(table[pooling]["val_loss_mean"]) == pytest.approx(
            statistics.mean(values), rel=1e-12
        )
        assert float(table[pooling]["val_loss_std"]) == pytest.approx(
            statistics.stdev(values), rel=1e-12
        )
        assert int(table[pooling]["val_loss_n"]) == 4
    assert (repeats_sweep / "summary.png").stat().st_size > 1000


def test_templates_listed_in_run_elsewhere_exist() -> None:
    for name, where in RUN_ELSEWHERE.items():
        module, func = where.split("::")
        assert func in (Path(__file__).with_name(module)).read_text()
        assert template_lines(TEMPLATES_DIR / "sweep" / f"{name}.yaml", "local")
