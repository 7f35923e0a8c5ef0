"""Helpers for end-to-end tests that run the real `soen-train` command on tiny data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

SOEN_TRAIN = str(Path(sys.executable).with_name("soen-train"))


class CliRun:
    """Runs soen-train in a temporary project folder and keeps what it printed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project_dir = root / "experiments"

    def __call__(
        self, *args: str, expect_ok: bool = True, timeout: int = 300
    ) -> subprocess.CompletedProcess:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        cmd: List[str] = [SOEN_TRAIN, *args]
        out = subprocess.run(
            cmd, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout
        )
        if expect_ok and out.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
            )
        return out


@pytest.fixture
def cli(tmp_path: Path) -> CliRun:
    return CliRun(tmp_path)


# Small, fast settings shared by the end-to-end runs (a few seconds of training each).
TINY_PULSES_ARGS = [
    "data.dataset_params.n_train=96",
    "data.dataset_params.n_val=32",
    "data.dataset_params.n_test=32",
    "data.dataset_params.seq_len=32",
    "training.max_epochs=2",
    "logging.progress_bar=false",
    "logging.log_freq=1",
]


@pytest.fixture
def tiny_pulses() -> List[str]:
    """Overrides that shrink the pulses experiment to a few seconds."""
    return list(TINY_PULSES_ARGS)


@pytest.fixture(scope="module")
def module_cli(tmp_path_factory) -> CliRun:
    """One project folder shared by the tests of a module (for a run several tests read)."""
    return CliRun(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def tiny_pulses_args() -> tuple:
    """TINY_PULSES_ARGS for module-scoped fixtures (a tuple: it cannot be changed in place)."""
    return tuple(TINY_PULSES_ARGS)
