"""The folders a job will write (its run folder, the project folder, a made dataset) must be
creatable and writable, checked before Hydra creates the run folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from soen_train.config.errors import ConfigError


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_writable_folder(folder: Optional[str], key: str) -> None:
    """A ConfigError naming ``key`` when ``folder`` cannot be created or written."""
    if not folder:
        return
    target = Path(folder)
    base = _nearest_existing(target)
    if not base.is_dir():
        raise ConfigError(
            f"{key}={folder}: cannot create the folder: {base} is a file, not a folder"
        )
    if not os.access(base, os.W_OK | os.X_OK) or _read_only_mount(base):
        raise ConfigError(
            f"{key}={folder}: cannot write there: {base} is read-only; choose a writable "
            "folder (or run from a writable working directory)"
        )
