"""A job request the one-node cluster can never run is refused in one line, before any sbatch:
the offer is read from the real slurmctld (`scontrol`), compared here with what `sinfo` says."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from slurm_jobs_cli import FITTING_REQUEST, jobs_of
from sweep_cli import run_cli, tiny_job_args

from soen_train.sweeps.slurm_request import partition_offer


def test_the_offer_is_what_sinfo_reports(slurm: dict) -> None:
    out = subprocess.run(["sinfo", "-h", "-o", "%R %c %m %G %a"], capture_output=True, text=True,
                         check=True)
    [line] = out.stdout.splitlines()  # one partition on this cluster
    name, cpus, mem_mb, gres, avail = line.split()
    offer = partition_offer(None)  # the default partition
    assert (offer.name, offer.nodes, offer.state) == (name, 1, avail.upper())
    assert offer.cpus_per_node == int(cpus) == os.cpu_count()
    assert offer.mem_mb_per_node == int(mem_mb)
    assert gres == "(null)" and offer.gpus_per_node == 0


def _refused(tmp_path: Path, slurm: dict, *request: str) -> str:
    sweep_dir = tmp_path / "sweep"
    out = run_cli(["-m", *tiny_job_args(tmp_path), *FITTING_REQUEST, *request,
                   "training.lr=1e-2,3e-2", f"hydra.sweep.dir={sweep_dir}"],
                  cwd=tmp_path, expect_ok=False, timeout=120)
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), out.stderr
    # nothing was submitted: no submitit folder, no job of this folder queued or finished
    assert not (sweep_dir / ".submitit").exists()
    queued = subprocess.run(["squeue", "-h", "-o", "%Z"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in queued.split() and jobs_of(slurm["jobcomp"], tmp_path) == []
    return lines[0]


def test_cpus_memory_and_gpus_beyond_the_node_are_one_line(tmp_path: Path, slurm: dict) -> None:
    offer = partition_offer(None)
    line = _refused(tmp_path, slurm, f"hydra.launcher.cpus_per_task={offer.cpus_per_node + 1}",
                    "hydra.launcher.mem_gb=4096", "hydra.launcher.gpus_per_node=1")
    assert f"hydra.launcher.cpus_per_task={offer.cpus_per_node + 1}" in line
    assert "hydra.launcher.mem_gb=4096" in line and "hydra.launcher.gpus_per_node=1" in line
    # and what the partition offers instead
    assert offer.describe() in line
    assert f"at most {offer.cpus_per_node} CPUs" in line and "0 GPUs per node" in line


def test_an_unknown_partition_names_the_valid_ones(tmp_path: Path, slurm: dict) -> None:
    line = _refused(tmp_path, slurm, "hydra.launcher.partition=gpu")
    assert "hydra.launcher.partition=gpu: no such partition; valid: " + slurm["partition"] in line
