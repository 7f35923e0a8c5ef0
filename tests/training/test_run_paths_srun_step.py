"""The tasks of one `srun` step (DDP ranks SLURM started, no environment passed between them)
share the repeat folder rank 0 claimed; a later step claims a folder of its own.
(Real SLURM: tests/services/test_slurm_ddp.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from soen_train.training.run_paths import SHARED_FOLDER_ENV, RunPaths


def _as_task(monkeypatch: pytest.MonkeyPatch, step: str, rank: int) -> None:
    """The environment srun gives task `rank` of step `step` of job 77 (2 tasks)."""
    monkeypatch.delenv(f"{SHARED_FOLDER_ENV}_0", raising=False)
    for key in ("RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_STEP_ID", step)
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_PROCID", str(rank))


def test_ranks_of_a_step_share_one_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "project_p/experiment_e/group_g/checkpoints/repeat_0").mkdir(parents=True)  # earlier run
    args = (str(tmp_path), "p", "e", "g", 0)
    _as_task(monkeypatch, "0", 0)
    rank0 = RunPaths.create(*args)
    _as_task(monkeypatch, "0", 1)
    rank1 = RunPaths.create(*args)
    assert rank0.name == rank1.name == "repeat_0_1"
    _as_task(monkeypatch, "1", 0)  # the next srun step is a new run
    assert RunPaths.create(*args).name == "repeat_0_2"
    folders = sorted(p.name for p in (rank0.group_dir / "checkpoints").iterdir() if p.is_dir())
    assert folders == ["repeat_0", "repeat_0_1", "repeat_0_2"]
