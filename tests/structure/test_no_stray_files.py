"""The repository tracks sources, docs, configs and test fixtures only: no run outputs or
leftovers (a ``trial_number.txt``, a checkpoint), and .gitignore keeps them out."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL = {".ci", ".gitignore", "Makefile", "README.md", "pyproject.toml", "setup.py",
             "bench", "conf", "docs", "hydra_plugins", "soen_train", "tests"}
STRAY = ["*.txt", "*.ckpt", "*.log", "*.pyc", "*.egg-info/*", "outputs/*", "multirun/*",
         "mlruns/*", "lightning_logs/*", "conf/local/*", "*/__pycache__/*"]
IGNORED = ["outputs/", "multirun/", "mlruns/", "/conf/local/"]


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [name for name in out.stdout.decode().split("\0") if name]


def test_only_known_top_level_entries_are_tracked():
    assert {name.split("/", 1)[0] for name in _tracked()} <= TOP_LEVEL


def test_no_run_outputs_or_leftovers_are_tracked():
    stray = [n for n in _tracked() if any(fnmatch.fnmatch(n, p) or fnmatch.fnmatch("/" + n, "*/" + p)
                                          for p in STRAY)]
    assert not stray, f"stray tracked files: {stray}"


def test_gitignore_keeps_outputs_and_the_local_overlay_out():
    lines = (REPO / ".gitignore").read_text().split()
    assert set(IGNORED) <= set(lines)
