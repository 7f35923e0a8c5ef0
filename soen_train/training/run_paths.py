"""The guide's directory layout for one repeat of one job.

    <project_dir>/project_<p>/experiment_<e>/group_<g>/{checkpoints,logs}/repeat_<k>/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    """Where a repeat writes its checkpoints and TensorBoard events."""

    group_dir: Path
    repeat: int

    @classmethod
    def create(cls, project_dir: str, project: str, experiment: str, group: str, repeat: int) -> "RunPaths":
        """Build the layout (creating the folders) under project_dir."""
        group_dir = (
            Path(project_dir).expanduser().resolve()
            / f"project_{project}"
            / f"experiment_{experiment}"
            / f"group_{group}"
        )
        paths = cls(group_dir=group_dir, repeat=repeat)
        paths.checkpoints.mkdir(parents=True, exist_ok=True)
        paths.logs.mkdir(parents=True, exist_ok=True)
        return paths

    @property
    def name(self) -> str:
        return f"repeat_{self.repeat}"

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
