"""`pip install .` from a clean copy of the repository gives a `soen-train` that finds its
config groups from any folder, and the wheel leaves a user's conf/local/ files out.

The fresh venv reuses this environment's installed dependencies (a ``.pth`` file naming its
site-packages: ``venv --system-site-packages`` would give the base interpreter's, not this
venv's) and installs soen-train alone, without network or build isolation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _clean_copy(target: Path) -> None:
    """The files a fresh clone of the working tree holds (tracked and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _run(args: list, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_pip_install_from_a_clean_clone_runs_from_any_folder(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout of the repository")
    source = tmp_path / "clone"
    _clean_copy(source)
    local = source / "conf" / "local" / "experiment" / "mine.yaml"
    local.parent.mkdir(parents=True)
    local.write_text("# @package _global_\n# soen-train experiment=mine\nseed: 7\n")

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path).stdout.strip())
    (site / "_host_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                      "--no-deps", "--no-build-isolation", "--no-index", str(source)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([str(python), "-c", "import soen_train.config.conf_dir as c; print(c.CONF_DIR)"],
                 cwd=elsewhere)
    conf = Path(where.stdout.strip())
    assert conf == site / "soen_train" / "conf", where.stderr
    assert (conf / "experiment" / "pulses.yaml").is_file()
    assert not (conf / "local").exists()  # the user's overlay is not shipped

    job = _run([str(venv / "bin" / "soen-train"), "--cfg", "job", "+experiment=pulses"], cwd=elsewhere)
    assert job.returncode == 0, job.stderr
    cfg = yaml.safe_load(job.stdout)
    assert cfg["data"]["dataset"] == "pulses" and cfg["model"]["architecture"]["layers"]
    assert not list(elsewhere.iterdir())  # --cfg job writes nothing
