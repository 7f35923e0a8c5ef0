"""`soen_result.json`: what a job reports (status, objective, repeats), read by sweeps and summaries."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict

from soen_train.tracking.sweep_jobs import RESULT_FILE  # one name for the file, read there
from soen_train.training.checkpointing import atomic_replace_write
from soen_train.training.run_paths import distributed_rank

log = logging.getLogger(__name__)


def write_result(job_dir: Path, payload: Dict[str, Any]) -> None:
    """`soen_result.json` in the job dir, written atomically (read by soen-train-summary).

    Only the main process writes it; DDP worker processes return their objective silently.
    It also names the process that ran the job (``worker``: a parallel sweep's workers are
    persistent, so several jobs name the same one)."""
    if distributed_rank() > 0:
        return
    text = json.dumps({**payload, "worker": worker_info()}, indent=2, default=str)
    atomic_replace_write(job_dir / RESULT_FILE, lambda tmp: Path(tmp).write_text(text))


def worker_info() -> Dict[str, int]:
    """The process running this job: its pid and its torch intra-op threads."""
    import torch

    return {"pid": os.getpid(), "torch_threads": torch.get_num_threads()}


def write_result_if_possible(job_dir: Path, payload: Dict[str, Any]) -> None:
    """`write_result` for a failing run: a second failure (full disk) must not hide the first."""
    try:
        write_result(job_dir, payload)
    except OSError as err:
        log.warning("could not write %s (%s)", job_dir / RESULT_FILE, err)
