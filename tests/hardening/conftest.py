"""Runs the real `soen-train` entry point on tiny data, in this process (fast) or as a child.

In-process runs call `soen_train.cli.main` exactly as the console script does (Hydra
composition, validation, training, the one-line `Error: ...` on user errors); only the
interpreter start-up and imports are shared between runs, which keeps this suite short.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest

SOEN_TRAIN = str(Path(sys.executable).with_name("soen-train"))

TINY = [
    "+experiment=pulses",
    "data.dataset_params.n_train=64",
    "data.dataset_params.n_val=32",
    "data.dataset_params.n_test=32",
    "data.dataset_params.seq_len=24",
    "training.max_epochs=2",
    "logging.progress_bar=false",
    "logging.log_freq=1",
]


@dataclass
class CliResult:
    """Exit code and what a run printed."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def _drop_stream_handlers() -> None:
    """Forget console handlers a previous in-process run attached to streams pytest has closed."""
    for logger in [logging.getLogger(), *[logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]]:
        for handler in list(getattr(logger, "handlers", [])):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                logger.removeHandler(handler)


class InProcessCli:
    """Calls the CLI's `main(argv)` inside pytest, in a temporary working folder."""

    def __init__(self, root: Path, capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.capfd = capfd
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str) -> CliResult:
        from soen_train.cli import main

        self.monkeypatch.chdir(self.root)
        self.monkeypatch.setattr(sys, "argv", ["soen-train", *args])
        self.capfd.readouterr()
        _drop_stream_handlers()
        code = 0
        try:
            main(list(args))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        out, err = self.capfd.readouterr()
        return CliResult(code, out, err)


@pytest.fixture
def cli_here(tmp_path: Path, capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> InProcessCli:
    """The CLI, run in-process in tmp_path; the environment is restored afterwards."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for name in [k for k in os.environ if k.startswith(("SOEN_SECRET_", "MLFLOW_"))]:
        monkeypatch.delenv(name)
    return InProcessCli(tmp_path, capfd, monkeypatch)


def child_env(**extra: str) -> dict:
    """Environment of a child soen-train process: one thread, unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOEN_SECRET_", "MLFLOW_"))}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def run_child(root: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run the installed `soen-train` script as a separate process in ``root``."""
    return subprocess.run([SOEN_TRAIN, *args], cwd=root, env=child_env(), capture_output=True,
                          text=True, timeout=timeout)


def run_dir(root: Path, project: str = "experiments", experiment: str = "pulses") -> Path:
    """The group folder of a pulses run under ``root``."""
    return root / project / "project_soen" / f"experiment_{experiment}" / "group_default_group"


def all_files(root: Path) -> Iterator[Path]:
    """Every regular file below ``root``."""
    return (p for p in root.rglob("*") if p.is_file())


def tiny(*extra: str) -> List[str]:
    """The tiny pulses arguments plus ``extra``."""
    return [*TINY, *extra]
