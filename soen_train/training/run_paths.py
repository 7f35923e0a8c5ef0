"""The guide's directory layout for one repeat of one job.

<project_dir>/project_<p>/experiment_<e>/group_<g>/{checkpoints,logs}/repeat_<k>/
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

SHARED_FOLDER_ENV = "SOEN_TRAIN_REPEAT_FOLDER"
#: Seconds a rank > 0 of an srun step waits for rank 0 to name the repeat folder.
STEP_FOLDER_WAIT_S = 300.0


def distributed_rank() -> int:
    """This process's global rank in a multi-process (DDP) run; 0 otherwise."""
    for key in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


@dataclass(frozen=True)
class RunPaths:
    """Where a repeat writes its checkpoints and TensorBoard events."""

    group_dir: Path
    repeat: int
    folder: str = ""  # repeat_<k>, or repeat_<k>_<n> when an earlier run holds repeat_<k>

    @classmethod
    def create(
        cls,
        project_dir: str,
        project: str,
        experiment: str,
        group: str,
        repeat: int,
        resume_from: Optional[str] = None,
    ) -> "RunPaths":
        """Claim this repeat's folders under project_dir.

        A fresh run never writes into folders of an earlier run: when `repeat_<k>` is taken it
        becomes `repeat_<k>_1`, `repeat_<k>_2`, ... (claimed atomically, so parallel jobs of a
        sweep cannot collide). Resuming from a checkpoint inside a repeat folder continues there.
        """
        group_dir = (
            Path(project_dir).expanduser().resolve()
            / f"project_{project}"
            / f"experiment_{experiment}"
            / f"group_{group}"
        )
        (group_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        base = f"repeat_{repeat}"
        # DDP worker processes (rank > 0) write into the folder rank 0 claimed: Lightning's own
        # launcher passes its name in the environment, tasks of one srun step through a file
        step_file = _step_folder_file(group_dir, repeat)
        name = None
        if distributed_rank() > 0:
            name = os.environ.get(f"{SHARED_FOLDER_ENV}_{repeat}")
            if name is None and step_file is not None:
                name = _wait_for_step_folder(step_file)
        name = name or _resumed_name(group_dir, resume_from, base)
        if name is None:
            name = _claim(group_dir / "checkpoints", base)
        os.environ[f"{SHARED_FOLDER_ENV}_{repeat}"] = name
        if step_file is not None and distributed_rank() == 0:
            tmp = step_file.with_suffix(".tmp")
            tmp.write_text(name)
            tmp.replace(step_file)
        paths = cls(group_dir=group_dir, repeat=repeat, folder=name)
        paths.checkpoints.mkdir(parents=True, exist_ok=True)
        paths.logs.mkdir(parents=True, exist_ok=True)
        return paths

    @property
    def name(self) -> str:
        """Folder name of this repeat: `repeat_<k>` or, for a later run, `repeat_<k>_<n>`."""
        return self.folder or f"repeat_{self.repeat}"

    @property
    def checkpoints(self) -> Path:
        return self.group_dir / "checkpoints" / self.name

    @property
    def logs(self) -> Path:
        return self.group_dir / "logs" / self.name

    @property
    def project_root(self) -> Path:
        """The `project_<p>` folder (home of the embedded MLflow store)."""
        return self.group_dir.parent.parent


def _step_folder_file(group_dir: Path, repeat: int) -> Optional[Path]:
    """Where rank 0 of a multi-task SLURM step (``srun -n 2``) names the repeat folder for the
    other tasks, which SLURM started themselves (no environment passed from rank 0); None
    outside such a step."""
    ntasks = os.environ.get("SLURM_NTASKS", "1")
    job = os.environ.get("SLURM_JOB_ID")
    if not job or not ntasks.isdigit() or int(ntasks) < 2:
        return None
    step = os.environ.get("SLURM_STEP_ID", "batch")
    return group_dir / "checkpoints" / f".slurm_{job}.{step}_repeat_{repeat}"


def _wait_for_step_folder(step_file: Path) -> str:
    """The folder name rank 0 of this SLURM step wrote (waits for it)."""
    deadline = time.monotonic() + STEP_FOLDER_WAIT_S
    while not step_file.is_file():
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank {distributed_rank()}: rank 0 of this SLURM step did not name "
                               f"its repeat folder in {step_file} within {STEP_FOLDER_WAIT_S:g} s")
        time.sleep(0.2)
    return step_file.read_text().strip()


def _resumed_name(group_dir: Path, resume_from: Optional[str], base: str) -> Optional[str]:
    """The repeat folder a resumed checkpoint lives in, if it is one of this group's."""
    if not resume_from:
        return None
    ckpt = Path(resume_from).expanduser().resolve()
    folder = ckpt.parent
    if folder.parent == group_dir / "checkpoints" and folder.name.startswith(base):
        return folder.name
    return None


def _claim(checkpoints: Path, base: str) -> str:
    """Create and return the first free `base`, `base_1`, `base_2`, ... folder."""
    n = 0
    while True:
        name = base if n == 0 else f"{base}_{n}"
        try:
            (checkpoints / name).mkdir(exist_ok=False)
            return name
        except FileExistsError:
            n += 1
