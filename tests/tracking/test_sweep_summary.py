"""soen-train-summary on a multirun dir made of real overrides.yaml and soen_result.json files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
import yaml
from PIL import Image

from soen_train.tracking.sweep_jobs import JobResult, load_job
from soen_train.tracking.sweep_stats import (
    group_settings,
    is_seed_override,
    metric_stats,
    summarise,
)
from soen_train.tracking.sweep_summary import main

LRS = ("0.01", "0.1")
SEEDS = (1, 2)
REPEATS = (0, 1)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def val_loss(a: int, seed: int, r: int) -> float:
    return 0.3 + 0.2 * a + 0.05 * seed + 0.01 * r


def val_accuracy(a: int, seed: int, r: int) -> float:
    return 0.9 - 0.1 * a - 0.02 * seed + 0.005 * r


def write_job(
    root: Path,
    name: str,
    overrides: List[str],
    result: Optional[Dict[str, object]],
) -> Path:
    """A Hydra job dir: .hydra/overrides.yaml and (unless None) soen_result.json."""
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "config.yaml").write_text("seed: 0\n")
    if result is not None:
        (job / "soen_result.json").write_text(json.dumps(result))
    return job


def completed_result(a: int, seed: int) -> Dict[str, object]:
    repeats = [
        {
            "repeat": r,
            "seed": seed + r,
            "metrics": {"val_loss": val_loss(a, seed, r), "val_accuracy": val_accuracy(a, seed, r)},
        }
        for r in REPEATS
    ]
    objective = float(np.mean([rep["metrics"]["val_loss"] for rep in repeats]))
    return {
        "objective": objective,
        "objective_metric": "val_loss",
        "direction": "minimize",
        "status": "completed",
        "error": None,
        "repeats": repeats,
    }


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    """2 learning rates x 2 seeds x 2 repeats, plus a failed, a crashed and a pruned job."""
    root = tmp_path / "multirun" / "2025-01-01" / "12-00-00"
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    n = 0
    for a, lr in enumerate(LRS):
        for seed in SEEDS:
            write_job(
                root,
                str(n),
                ["+experiment=pulses", f"training.optimizer.lr={lr}", f"seed={seed}"],
                completed_result(a, seed),
            )
            n += 1
    failed = {
        "objective": None,
        "objective_metric": "val_loss",
        "direction": "minimize",
        "status": "failed",
        "error": "loss became NaN at step 3",
        "repeats": [],
    }
    common = "+experiment=pulses"
    write_job(root, str(n), [common, "training.optimizer.lr=1.0", "seed=1"], failed)
    write_job(root, str(n + 1), [common, "training.optimizer.lr=1.0", "seed=2"], None)
    pruned = dict(completed_result(1, 1), status="pruned")
    write_job(root, str(n + 2), [common, "training.optimizer.lr=0.1", "seed=3"], pruned)
    return root


def expected_stats(a: int, metric) -> tuple:
    values = [metric(a, s, r) for s in SEEDS for r in REPEATS]
    return float(np.mean(values)), float(np.std(values, ddof=1))


def stats_text(mean: float, std: float, n: int = 4) -> str:
    return f"{mean:.4g} ± {std:.4g} (n={n})"


def read_csv(path: Path) -> List[Dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 200 and image.size[1] > 100


def test_main_prints_pooled_mean_std_and_writes_files(
    multirun: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(multirun)]) == 0
    out = capsys.readouterr().out
    lines = {}
    for a, lr in enumerate(LRS):
        loss_mean, loss_std = expected_stats(a, val_loss)
        acc_mean, acc_std = expected_stats(a, val_accuracy)
        row = next(line for line in out.splitlines() if f"│ training.optimizer.lr={lr} " in line)
        assert stats_text(loss_mean, loss_std) in row
        assert stats_text(acc_mean, acc_std) in row
        lines[lr] = out.index(row)
    # pooled over seeds 1 and 2 (two repeats each): lr=0.01 has the lower loss, so it comes first
    assert lines["0.01"] < lines["0.1"]
    assert "sorted by val_loss (minimize)" in out
    assert "common overrides: +experiment=pulses\n" in out  # printed once, not in every row
    assert "│ training.optimizer.lr=1.0 seed=2 " in out  # failed job: its own overrides and seed
    assert "loss became NaN at step 3" in out
    assert "no soen_result.json" in out
    assert "pruned" in out

    rows = read_csv(multirun / "summary.csv")
    assert [r["setting"] for r in rows] == [
        "training.optimizer.lr=0.01",
        "training.optimizer.lr=0.1",
        "training.optimizer.lr=1.0",
    ]
    for a, row in enumerate(rows[:2]):
        loss_mean, loss_std = expected_stats(a, val_loss)
        assert float(row["val_loss_mean"]) == pytest.approx(loss_mean, rel=1e-12)
        assert float(row["val_loss_std"]) == pytest.approx(loss_std, rel=1e-12)
        assert row["val_loss_n"] == "4" and row["val_accuracy_n"] == "4"
        acc_mean, acc_std = expected_stats(a, val_accuracy)
        assert float(row["val_accuracy_mean"]) == pytest.approx(acc_mean, rel=1e-12)
        assert float(row["val_accuracy_std"]) == pytest.approx(acc_std, rel=1e-12)
    assert rows[0]["jobs"] == "0;1" and rows[0]["jobs_completed"] == "2"
    assert (rows[1]["jobs_completed"], rows[1]["jobs_pruned"]) == ("2", "1")  # pruned: not pooled
    assert (rows[2]["jobs_failed"], rows[2]["val_loss_n"], rows[2]["val_loss_mean"]) == (
        "2",
        "0",
        "",
    )
    assert rows[0]["rank"] == "1"
    assert rows[0]["overrides"] == "+experiment=pulses training.optimizer.lr=0.01"

    failed = read_csv(multirun / "failed_jobs.csv")
    assert [(f["job"], f["status"]) for f in failed] == [
        ("4", "failed"),
        ("5", "failed"),
        ("6", "pruned"),
    ]
    assert failed[0]["reason"] == "loss became NaN at step 3"
    assert failed[1]["reason"].startswith("no soen_result.json")
    assert failed[0]["setting"] == "training.optimizer.lr=1.0"
    assert failed[0]["overrides"] == "+experiment=pulses training.optimizer.lr=1.0 seed=1"
    assert_valid_png(multirun / "summary.png")


def test_console_script_with_metric_and_out(multirun: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "soen-train-summary"
    out_dir = tmp_path / "report"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONIOENCODING="utf-8")
    proc = subprocess.run(
        [str(script), str(multirun), "--metric", "val_accuracy", "--out", str(out_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        encoding="utf-8",
    )
    assert proc.returncode == 0, proc.stderr
    best_mean, best_std = expected_stats(0, val_accuracy)
    other_mean, other_std = expected_stats(1, val_accuracy)
    assert stats_text(best_mean, best_std) in proc.stdout
    assert stats_text(other_mean, other_std) in proc.stdout
    # accuracy is maximised: lr=0.01 (higher accuracy) first
    assert proc.stdout.index(stats_text(best_mean, best_std)) < proc.stdout.index(
        stats_text(other_mean, other_std)
    )
    assert "val_loss" not in read_csv(out_dir / "summary.csv")[0]
    assert float(read_csv(out_dir / "summary.csv")[0]["val_accuracy_mean"]) == pytest.approx(
        best_mean
    )
    assert_valid_png(out_dir / "summary.png")
    assert not (multirun / "summary.csv").exists()


def test_direction_flag_reverses_order(multirun: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(multirun), "--direction", "maximize", "--out", str(multirun / "rep")]) == 0
    rows = read_csv(multirun / "rep" / "summary.csv")
    assert [r["setting"] for r in rows][:2] == [
        "training.optimizer.lr=0.1",
        "training.optimizer.lr=0.01",
    ]
    assert "sorted by val_loss (maximize)" in capsys.readouterr().out


def test_seed_like_overrides_pool_regardless_of_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "mr"
    write_job(
        root, "0", ["model=tiny", "training.seed=1", "data.batch_size=8"], completed_result(0, 1)
    )
    write_job(
        root, "1", ["data.batch_size=8", "+training.seed=2", "model=tiny"], completed_result(0, 2)
    )
    write_job(root, "2", ["data.batch_size=16", "seed=1", "model=tiny"], completed_result(1, 1))
    write_job(
        root, "3", ["model.sizes=[4,8]", "note=[/x]$a$"], {"status": "failed", "error": "[b]"}
    )
    summary = summarise(root)
    assert [s.label for s in summary.settings] == [
        "model=tiny data.batch_size=8",
        "data.batch_size=16 model=tiny",
        "model.sizes=[4,8] note=[/x]$a$",
    ]
    assert main([str(root)]) == 0  # brackets in overrides and errors are printed, not markup
    out = capsys.readouterr().out
    assert "│ model.sizes=[4,8] note=[/x]$a$ " in out and "│ [b] " in out
    assert_valid_png(root / "summary.png")
    pooled = summary.settings[0].stats["val_loss"]
    assert pooled.n == 4 and pooled.mean == pytest.approx(expected_stats(0, val_loss)[0])
    single_seed = summary.settings[1].stats["val_loss"]
    assert single_seed.n == 2
    assert single_seed.std == pytest.approx(np.std([val_loss(1, 1, r) for r in REPEATS], ddof=1))
    assert summary.metrics == ["val_loss", "val_accuracy"]  # objective metric first


def test_is_seed_override() -> None:
    assert is_seed_override("seed=3")
    assert is_seed_override("training.seed=3")
    assert is_seed_override("++seed=3")
    assert not is_seed_override("data.split_seed=3")
    assert not is_seed_override("seeds=3")
    assert not is_seed_override("model=seed")


def test_metric_stats_formula_and_nonfinite() -> None:
    stats = metric_stats([1.0, 2.0, 4.0, float("nan"), float("inf")])
    assert stats.n == 3 and stats.n_nonfinite == 2
    assert stats.mean == pytest.approx(7 / 3)
    assert stats.std == pytest.approx(
        np.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    )
    one = metric_stats([0.5])
    assert one.mean == 0.5 and np.isnan(one.std)


def test_result_file_problems_become_failed_jobs(tmp_path: Path) -> None:
    root = tmp_path / "mr"
    write_job(root, "0", ["a=1"], None)
    (root / "0" / "soen_result.json").write_text("{not json")
    write_job(root, "1", ["a=2"], {"status": "done", "repeats": []})
    write_job(
        root, "2", ["a=3"], {"status": "completed", "repeats": [{"metrics": {"val_loss": "low"}}]}
    )
    write_job(
        root,
        "3",
        ["a=4"],
        {
            "objective": 0.25,
            "objective_metric": "val_loss",
            "direction": "minimize",
            "status": "completed",
            "repeats": [],
        },
    )
    reasons = {d.name: load_job(d).error for d in sorted(root.iterdir())}
    assert "not valid JSON" in reasons["0"]
    assert "status must be one of completed, failed, pruned, running, got 'done'" in reasons["1"]
    assert "repeats[0].metrics.val_loss must be a number, got 'low'" in reasons["2"]
    objective_only = load_job(root / "3")
    assert objective_only.status == "completed" and objective_only.repeats == [{"val_loss": 0.25}]
    (root / "4" / ".hydra").mkdir(parents=True)  # Hydra started the job, nothing else is known
    summary = summarise(root)
    assert [s.label for s in summary.settings] == ["a=4", "a=1", "a=2", "a=3"]
    unknown = summary.unsuccessful[-1]
    assert (unknown.name, unknown.overrides) == ("4", None)
    assert unknown.error == "no .hydra/overrides.yaml (and no overrides in soen_result.json)"


def test_all_failed_returns_1_without_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "mr"
    write_job(root, "0", ["a=1", "seed=1"], None)
    write_job(root, "1", ["a=1", "seed=2"], {"status": "failed", "error": "OOM"})
    (root / "summary.png").write_bytes(b"stale plot of an earlier summary")
    assert main([str(root)]) == 1
    captured = capsys.readouterr()
    assert "OOM" in captured.out and "no completed job" in captured.err
    assert not (root / "summary.png").exists()
    assert len(read_csv(root / "failed_jobs.csv")) == 2
    assert read_csv(root / "summary.csv")[0]["jobs_failed"] == "2"


def test_not_a_multirun_dir_errors(
    multirun: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "is not a Hydra multirun directory" in err and "overrides.yaml" in err
    assert main([str(multirun / "0")]) == 2
    assert "single Hydra job directory" in capsys.readouterr().err
    assert main([str(multirun.parent)]) == 2
    assert "found one level down, in: 12-00-00" in capsys.readouterr().err
    assert main([str(multirun), "--metric", "val_acc"]) == 2
    err = capsys.readouterr().err
    assert "'val_acc' not found" in err and "available: val_accuracy, val_loss" in err


def test_trainer_payload_shape_running_jobs_and_overrides_fallback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trainer's own payload: extra keys, NaN objective, 'running' between repeats, and the
    overrides it records (used when .hydra/overrides.yaml is absent)."""
    root = tmp_path / "mr"

    def payload(seed: int, status: str, n_repeats: int, loss: float) -> Dict[str, object]:
        reps = [
            {
                "repeat": r,
                "seed": seed + r,
                "best_checkpoint": None,
                "train_seconds": 1.5,
                "metrics": {
                    "val_loss": loss + r,
                    "final_val_loss": loss + r + 0.5,
                    "epochs_trained": 2.0,
                },
            }
            for r in range(n_repeats)
        ]
        return {
            "objective": float("nan"),
            "objective_metric": "val_loss",
            "direction": "minimize",
            "status": status,
            "error": None,
            "overrides": ["model=a", f"seed={seed}"],
            "repeats": reps,
        }

    write_job(root, "0", ["model=a", "seed=1"], payload(1, "completed", 2, 1.0))
    write_job(root, "1", ["model=a", "seed=2"], payload(2, "running", 1, 5.0))
    bare = root / "2"
    bare.mkdir()
    (bare / "soen_result.json").write_text(json.dumps(payload(3, "completed", 2, 3.0)))
    assert main([str(root)]) == 0
    out = capsys.readouterr().out
    assert (
        "unfinished: still running, or stopped without a final status (1 repeat(s) recorded)" in out
    )
    rows = read_csv(root / "summary.csv")
    assert len(rows) == 1 and rows[0]["setting"] == "model=a"
    assert (rows[0]["jobs_completed"], rows[0]["jobs_running"], rows[0]["jobs"]) == (
        "2",
        "1",
        "0;1;2",
    )
    assert float(rows[0]["val_loss_mean"]) == pytest.approx(np.mean([1.0, 2.0, 3.0, 4.0]))
    assert float(rows[0]["val_loss_std"]) == pytest.approx(np.std([1.0, 2.0, 3.0, 4.0], ddof=1))
    assert float(rows[0]["final_val_loss_mean"]) == pytest.approx(3.0)
    assert list(rows[0])[8:12] == [
        "val_loss_mean",
        "val_loss_std",
        "val_loss_n",
        "val_loss_nonfinite",
    ]
    assert stats_text(2.5, float(np.std([1.0, 2.0, 3.0, 4.0], ddof=1))) in out


def test_unwritable_out_dir_is_a_clear_error(
    multirun: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "report"
    blocker.write_text("a file where the output folder should go")
    assert main([str(multirun), "--out", str(blocker)]) == 2
    assert f"cannot write to '{blocker}'" in capsys.readouterr().err


def test_settings_are_named_by_what_differs() -> None:
    def job(name: str, overrides: List[str]) -> JobResult:
        return JobResult(name=name, path=Path(name), overrides=overrides, status="completed")

    settings = group_settings(
        [
            job("0", ["x=1", "seed=1"]),
            job("1", ["x=1", "y=2", "seed=1"]),
            job("2", ["x=1", "seed=2"]),
        ]
    )
    assert [(s.label, s.overrides, [j.name for j in s.jobs]) for s in settings] == [
        ("(common overrides only)", ("x=1",), ["0", "2"]),
        ("y=2", ("x=1", "y=2"), ["1"]),
    ]
    (alone,) = group_settings([job("0", ["x=1", "seed=1"])])
    assert alone.label == "x=1"


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_width_never_drops_a_setting(multirun: Path, width: int) -> None:
    """On a real (narrow) terminal every setting and metric stays readable in full."""
    from io import StringIO

    from rich.console import Console

    from soen_train.tracking.sweep_render import print_summary

    root = multirun
    long = "model.architecture.layers.1.params.bias_current.params.max=2.0"
    for i, lr in enumerate(LRS):  # two more settings told apart only by a long override
        write_job(root, f"9{i}", ["+experiment=pulses", long, f"training.optimizer.lr={lr}", "seed=7"],
                  completed_result(i, 7))
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, width=width, color_system=None)
    summary = summarise(root, None, None)
    print_summary(summary, console)
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    # the setting column's pieces joined (a folded label continues on the next rows), or the
    # stacked layout's lines: every override of every setting must be there whole
    column = "".join(ln.split("│")[2].strip() for ln in text.splitlines() if ln.count("│") > 3)
    stacked = "".join(ln.strip() for ln in text.splitlines() if "│" not in ln)
    for setting in summary.settings:
        for part in setting.label.split():
            assert part in column or part in stacked, part


def test_metric_direction_is_one_rule() -> None:
    from soen_train.tracking.metric_direction import metric_direction
    from soen_train.tracking.sweep_stats import infer_direction
    from soen_train.training.runner import objective_direction

    cases = {"val_loss": "minimize", "test_mse": "minimize", "val_mae": "minimize",
             "bits_per_character": "minimize", "val_accuracy": "maximize", "epochs_trained": None,
             "train_loss/reg_J_loss": "minimize"}
    for metric, expected in cases.items():
        assert metric_direction(metric) == expected, metric
        assert infer_direction(metric) == (expected or "none")
        if expected:
            assert objective_direction(metric, "auto") == expected
    assert metric_direction("val_loss", "maximize") == "maximize"  # an explicit choice wins


def test_sweep_report_names_best_job_and_its_command(multirun: Path) -> None:
    from soen_train.tracking.sweep_report import find_best_job, format_sweep_report

    best = find_best_job(multirun)
    results = [json.loads(p.read_text()) for p in multirun.glob("*/soen_result.json")]
    done = [r for r in results if r["status"] == "completed"]
    assert best.objective == min(r["objective"] for r in done)
    text = format_sweep_report(multirun)
    overrides = yaml.safe_load((best.folder / ".hydra" / "overrides.yaml").read_text())
    assert "soen-train " + " ".join(overrides) in text or str(best.folder) in text
    assert f"{len(done)} of" in text and str(best.folder) in text
