"""DDP across two SLURM tasks: `srun` starts both processes, Lightning takes the ranks from
SLURM (its SLURMEnvironment, gloo on CPU). One run, one repeat folder, and the metrics it logged
are those of one process evaluating the same weights on the same data. (Lightning's own
2-process launcher without SLURM: tests/faults/test_ddp_uneven_shards.py.)"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from slurm_jobs_cli import wait_for_jobs
from sweep_cli import SOEN_TRAIN, _env, job_result, tiny_job_args


def _eval(checkpoint: Path, split: str, out: Path) -> dict:
    """`soen-train-eval` (one process, no SLURM) of a checkpoint on a split."""
    program = str(Path(SOEN_TRAIN).with_name("soen-train-eval"))
    subprocess.run([program, str(checkpoint), "--split", split, "--output", str(out)], env=_env(),
                   check=True, capture_output=True, timeout=120)
    return json.loads(out.read_text())


def test_srun_with_ntasks_only_is_one_error_line_per_task(tmp_path: Path, slurm: dict) -> None:
    """Lightning needs --ntasks-per-node; `srun -n 2` alone is refused before any work."""
    out = subprocess.run(
        ["srun", "--ntasks=2", "--cpus-per-task=1", "--mem=2G", "--time=5", "--label", SOEN_TRAIN,
         *tiny_job_args(tmp_path), "training.strategy=ddp", "training.devices=2",
         "training.accelerator=cpu", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode != 0
    errors = sorted(ln for ln in out.stderr.splitlines() if ": Error:" in ln)
    assert [e.split(":")[0] for e in errors] == ["0", "1"]  # one line from each task
    assert "--ntasks-per-node=2" in errors[0] and "training.strategy=ddp" in errors[0]
    assert not (tmp_path / "experiments").exists()  # no run folder claimed


def test_ddp_over_two_srun_tasks_is_one_run_with_single_process_metrics(
        tmp_path: Path, slurm: dict) -> None:
    run_dir = tmp_path / "run"
    command = [
        "srun", "--nodes=1", "--ntasks=2", "--ntasks-per-node=2", "--cpus-per-task=1",
        "--mem=2G", "--time=10", "--label", "--job-name=soen-ddp",
        SOEN_TRAIN, *tiny_job_args(tmp_path), "training.strategy=ddp", "training.devices=2",
        "training.accelerator=cpu", "training.test_checkpoint=best", f"hydra.run.dir={run_dir}",
    ]
    out = subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                         timeout=240, check=False)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    # srun's task k is Lightning's global rank k (no process started by Lightning itself)
    ranks = re.findall(r"^(\d): .*Initializing distributed: GLOBAL_RANK: (\d), MEMBER: \d/2", text,
                       re.MULTILINE)
    assert sorted(ranks) == [("0", "0"), ("1", "1")]
    assert "distributed_backend=gloo" in text
    [job] = wait_for_jobs(slurm["jobcomp"], tmp_path, 1)
    assert (job["JobState"], job["ProcCnt"], job["Name"]) == ("COMPLETED", "2", "soen-ddp")

    # one run: one result, one repeat folder holding every checkpoint
    assert list(tmp_path.rglob("soen_result.json")) == [run_dir / "soen_result.json"]
    [repeat] = job_result(run_dir)["repeats"]
    assert repeat["metrics"]["epochs_trained"] == 2.0
    group = tmp_path / "experiments" / "project_soen" / "experiment_pulses" / "group_default_group"
    assert [p.name for p in (group / "checkpoints").iterdir() if p.is_dir()] == ["repeat_0"]
    assert [p.name for p in (group / "logs").iterdir()] == ["repeat_0"]

    logged = repeat["metrics"]
    best = Path(repeat["best_checkpoint"])
    test = _eval(best, "test", tmp_path / "test.json")
    assert logged["test_loss"] == pytest.approx(test["test_loss"], rel=1e-5)
    assert logged["test_accuracy"] == pytest.approx(test["test_accuracy"], abs=1e-6)
    val = _eval(best.parent / "last.ckpt", "val", tmp_path / "val.json")
    assert logged["final_val_loss"] == pytest.approx(val["val_loss"], rel=1e-5)
    assert logged["final_val_accuracy"] == pytest.approx(val["val_accuracy"], abs=1e-6)
