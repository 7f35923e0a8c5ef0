"""Helpers for the SLURM service tests: the launcher overrides that fit the one-node cluster,
and this test's jobs as SLURM itself recorded them (the job-completion file)."""

from __future__ import annotations

import re
import time
from pathlib import Path


def jobcomp_records(path: str) -> list[dict[str, str]]:
    """Every record of the job-completion file as a dict of its key=value fields."""
    if not Path(path).is_file():
        return []
    records = []
    for line in Path(path).read_text().splitlines():
        fields = {}
        for word in line.split():
            if "=" in word:
                key, value = word.split("=", 1)
                fields[key] = value
        if "JobId" in fields:
            records.append(fields)
    return records


#: Fits a 2-CPU node twice over, so two array tasks run at once.
FITTING_REQUEST = [
    "launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
    "hydra.launcher.array_parallelism=2",
]


def jobs_of(jobcomp: str, work_dir: Path) -> list[dict[str, str]]:
    """The finished SLURM jobs submitted from ``work_dir`` (each test has its own), oldest first."""
    return [r for r in jobcomp_records(jobcomp) if r.get("WorkDir") == str(work_dir)]


def wait_for_jobs(jobcomp: str, work_dir: Path, count: int, timeout: float = 60) -> list[dict[str, str]]:
    """Wait until SLURM recorded ``count`` finished jobs from ``work_dir``; return them."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = jobs_of(jobcomp, work_dir)
        if len(jobs) >= count or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def array_tasks(sweep_dir: Path) -> list[str]:
    """The job ids submitit made folders for, in submission order: ``<array id>_<index>`` for
    the tasks of an array, ``<job id>`` for a batch of one job (submitted as a plain job)."""
    folder = sweep_dir / ".submitit"
    if not folder.is_dir():
        return []
    names = [p.name for p in folder.iterdir() if re.fullmatch(r"\d+(_\d+)?", p.name)]
    arrays = {name.split("_")[0] for name in names if "_" in name}
    ids = [name for name in names if "_" in name or name not in arrays]  # not an array's own folder
    return sorted(ids, key=lambda i: tuple(int(x) for x in i.split("_")))
