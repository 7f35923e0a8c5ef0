"""Launchers beyond the basic one: submitit (local executor, SLURM job script) and Lightning DDP."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from sweep_cli import (
    TEMPLATES_DIR,
    job_dirs,
    job_result,
    run_cli,
    template_budget,
    template_command,
    tiny_job_args,
)

SLURM_TEMPLATE = TEMPLATES_DIR / "sweep" / "slurm_array.yaml"


def test_slurm_array_template_runs_through_submitit_local(tmp_path: Path) -> None:
    """`launcher=submitit_local` runs a 2-job grid: each job pickled, run in its own process."""
    sweep_dir = tmp_path / "sweep"
    args = template_command(SLURM_TEMPLATE, "local")
    assert "launcher=submitit_local" in args
    budget = template_budget(SLURM_TEMPLATE)  # 2 lr values x 1 pooling
    run_cli(
        [*args, *budget, *tiny_job_args(tmp_path)[1:], f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path
    )

    jobs = job_dirs(sweep_dir)
    assert [d.name for d in jobs] == ["0", "1"]
    lrs = []
    for job in jobs:
        result = job_result(job)
        assert result["status"] == "completed" and result["objective"] > 0
        lrs += [float(o.split("=")[1]) for o in result["overrides"] if o.startswith("training.lr=")]
    assert sorted(lrs) == [0.01, 0.03]
    # Each job went through submitit: its own folder with the pickled job, logs and result.
    submitted = [p for p in (sweep_dir / ".submitit").iterdir() if p.name.isdigit()]
    assert len(submitted) == 2
    pids = set()
    for folder in submitted:
        names = {p.name for p in folder.iterdir()}
        job_id = folder.name
        assert {f"{job_id}_submitted.pkl", f"{job_id}_0_result.pkl", f"{job_id}_0_log.out"} <= names
        pids.add(job_id)  # the local executor's job id is the process id
    assert len(pids) == 2 and str(os.getpid()) not in pids


def _hydra_config(args: list, cwd: Path) -> dict[str, Any]:
    out = run_cli([*args, "--cfg", "hydra"], cwd=cwd, timeout=120)
    return yaml.safe_load(out.stdout)["hydra"]


def test_slurm_template_makes_a_valid_job_array_script(tmp_path: Path, monkeypatch) -> None:
    """launcher=slurm: submitit accepts every launcher key and writes the sbatch array script."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf
    from submitit.slurm.slurm import _make_sbatch_string

    args = [a for a in template_command(SLURM_TEMPLATE) if a != "-m"]
    launcher = _hydra_config(args, tmp_path)["launcher"]
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert launcher["partition"] == "gpu" and launcher["mem_gb"] == 8

    # submitit looks for `srun` only to decide that it runs on a SLURM cluster.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")

    # The same split into executor arguments as hydra_submitit_launcher's launch().
    params = {k: v for k, v in launcher.items() if k != "_target_"}
    params["submitit_folder"] = str(tmp_path / "submitit" / "%j")
    params["name"] = "soen"
    executor = submitit.AutoExecutor(
        folder=params.pop("submitit_folder"),
        cluster="slurm",
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    generic = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(
        **{k if k in generic else f"slurm_{k}": v for k, v in params.items()}
    )
    script = _make_sbatch_string(
        command="python -u -m submitit.core._submit x",
        folder=executor._executor.folder,
        map_count=6,
        **executor._executor.parameters,
    )
    lines = set(script.splitlines())
    for expected in (
        "--array=0-5%6",
        "--partition=gpu",
        "--time=60",
        "--cpus-per-task=2",
        "--mem=8GB",
        "--nodes=1",
        "--ntasks-per-node=1",
        "--signal=USR2@120",
    ):
        assert f"#SBATCH {expected}" in lines, script


def test_ddp_on_cpu_with_two_processes_trains_and_writes_one_result(tmp_path: Path) -> None:
    """Lightning re-launches `soen-train` for rank 1 (its Hydra-aware subprocess launcher)."""
    run_dir = tmp_path / "run"
    out = run_cli(
        [
            *tiny_job_args(tmp_path),
            "training.strategy=ddp",
            "training.devices=2",
            "training.accelerator=cpu",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
    )
    text = out.stdout + out.stderr
    assert "distributed_backend=gloo" in text
    assert "Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2" in text
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in text
    assert list(tmp_path.rglob("soen_result.json")) == [run_dir / "soen_result.json"]
    result = job_result(run_dir)
    assert result["status"] == "completed"
    [repeat] = result["repeats"]
    assert repeat["metrics"]["epochs_trained"] == 2.0
    assert result["objective"] == repeat["metrics"]["val_loss"] > 0
    # Only rank 0 saves: every checkpoint is in the one repeat folder the result points to,
    # and the worker process claimed no folder of its own.
    ckpts = list((tmp_path / "experiments").rglob("*.ckpt"))
    assert ckpts and {c.parent for c in ckpts} == {Path(repeat["best_checkpoint"]).parent}
    folders = [p.name for p in (tmp_path / "experiments").rglob("checkpoints/repeat_*")]
    assert folders == ["repeat_0"]


def test_local_ddp_inside_a_multirun_is_refused_with_the_reason(tmp_path: Path) -> None:
    out = run_cli(
        ["-m", *tiny_job_args(tmp_path), "training.strategy=ddp", "training.devices=2",
         "training.accelerator=cpu", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=tmp_path, expect_ok=False,
    )
    assert out.returncode != 0
    assert "cannot run inside a local multirun" in out.stdout + out.stderr
