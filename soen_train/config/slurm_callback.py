"""Hydra callback of `launcher=slurm`: refuse a job request the cluster cannot satisfy.

Before the sweeper submits anything it compares the launcher's request (CPUs, memory, GPUs,
nodes, time, partition) with what the partition offers and stops with one ``Error:`` line
(exit 2). While the sweep runs, a watcher thread looks every ``POLL_S`` seconds for this
sweep's jobs pending for a reason that will not clear (``PartitionConfig``, ``InvalidQOS``...),
prints one ``Error:`` line, cancels them and ends the sweep (exit 2) instead of waiting forever.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from soen_train.sweeps.slurm_request import (
    JobRequest,
    SlurmRequestError,
    check_request,
    hopeless_pending_jobs,
)

#: Seconds between two looks at the sweep's pending jobs.
POLL_S = 10.0


def job_request(launcher: Any) -> JobRequest:
    """The per-job request of a submitit_slurm launcher config."""
    return JobRequest(
        partition=launcher.get("partition"), nodes=int(launcher.get("nodes") or 1),
        tasks_per_node=int(launcher.get("tasks_per_node") or 1),
        cpus_per_task=int(launcher.get("cpus_per_task") or 1),
        mem_gb=None if launcher.get("mem_gb") is None else float(launcher.get("mem_gb")),
        gpus_per_node=None if launcher.get("gpus_per_node") is None else int(launcher.get("gpus_per_node")),
        timeout_min=None if launcher.get("timeout_min") is None else int(launcher.get("timeout_min")),
    )


def _watch_pending(job_name: str, work_dir: str, offer_text: str, stop: threading.Event) -> None:
    while not stop.wait(POLL_S):
        stuck = hopeless_pending_jobs(job_name, work_dir)
        if stuck:
            ids = [job["job_id"] for job in stuck]
            reasons = sorted({job["reason"] for job in stuck})
            print(f"Error: launcher=slurm: job(s) {', '.join(ids)} pending for a reason that will not "
                  f"clear ({', '.join(reasons)}); {offer_text}; cancelled them, fix the request in "
                  f"hydra.launcher.*", file=sys.stderr, flush=True)
            subprocess.run(["scancel", *ids], check=False)
            os._exit(2)  # the launcher thread is blocked waiting on these jobs


class SlurmRequestCheck(Callback):
    """Check the request at the start of a multirun; watch for hopeless pending jobs."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def __getstate__(self) -> dict:
        # submitit pickles the launcher for each job, and with it Hydra's callbacks; the job
        # needs no watcher, and an Event (a lock) cannot be pickled.
        return {}

    def __setstate__(self, state: dict) -> None:
        self._stop = threading.Event()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = config.hydra.launcher
        if not str(launcher.get("_target_", "")).endswith("SlurmLauncher"):
            return
        try:
            offer = check_request(job_request(launcher))
        except SlurmRequestError as err:
            print(f"Error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)
        name = str(launcher.get("name") or config.hydra.job.name)
        threading.Thread(target=_watch_pending, args=(name, os.getcwd(), offer.describe(), self._stop),
                         daemon=True, name="slurm-pending-watch").start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._stop.set()
