"""A full disk or a read-only folder under a run: one Error line, earlier checkpoints intact.

The disk is real: a small tmpfs mounted as the run's project folder (root only), filled to the
last byte before a resumed run tries to write its next checkpoint.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from sweep_cli import run_cli, tiny_job_args

from soen_train.training.storage_faults import StorageError, storage_fault


def test_storage_fault_names_the_file_or_the_folder() -> None:
    folder = Path("/runs")
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/x/last.ckpt.tmp")
    fault = storage_fault(full, folder)
    assert isinstance(fault, StorageError)
    assert "cannot write to /runs/x/last.ckpt.tmp: no space left on the device" in str(fault)
    wrapped = RuntimeError("checkpoint failed")
    wrapped.__cause__ = OSError(errno.EROFS, "Read-only file system")
    assert "cannot write to /runs: the file system is read-only" in str(storage_fault(wrapped, folder))
    torch_style = RuntimeError("[enforce fail] PytorchStreamWriter failed writing file data/0: file write failed")
    assert "cannot write to /runs: a checkpoint write failed" in str(storage_fault(torch_style, Path("/runs")))
    assert storage_fault(FileNotFoundError(errno.ENOENT, "missing", "/data/x.h5"), folder) is None
    assert storage_fault(ValueError("bad value"), folder) is None


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs at tmp_path/disk (unmounted afterwards)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16M", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _args(root: Path, disk: Path, mlflow: bool = False) -> list[str]:
    args = tiny_job_args(root, mlflow=mlflow)
    return [a for a in args if not a.startswith("logging.project_dir=")] + [
        f"logging.project_dir={disk / 'experiments'}"
    ]


def _fill(disk: Path, leave: int = 0) -> None:
    """Fill the disk, then free ``leave`` bytes again (room to start, not to checkpoint)."""
    with open(disk / "filler", "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC
    size = (disk / "filler").stat().st_size
    os.truncate(disk / "filler", max(0, size - leave))


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_full_disk_mid_run_is_one_line_and_keeps_the_last_checkpoint(tmp_path: Path, tmpfs: Path) -> None:
    # The MLflow store on another disk (as a team's server would be) records how the run ended.
    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    mlflow = [f"logging.mlflow_tracking_uri={store}"]
    run_cli([*_args(tmp_path, tmpfs, mlflow=True), *mlflow, "training.max_epochs=1"], cwd=tmp_path)
    (last,) = tmpfs.rglob("last.ckpt")
    before = hashlib.sha256(last.read_bytes()).hexdigest()
    _fill(tmpfs, leave=20 * 1024)  # the resumed run starts, then its checkpoints fill the disk

    out = run_cli([*_args(tmp_path, tmpfs, mlflow=True), *mlflow, "training.max_epochs=3",
                   f"training.train_from_checkpoint={last}"], cwd=tmp_path, expect_ok=False)
    assert out.returncode == 2, out.stderr[-3000:]
    (line,) = _error_lines(out.stderr)
    assert f"cannot write to {tmpfs}" in line and "no space left on the device" in line
    assert "Traceback" not in out.stderr
    assert hashlib.sha256(last.read_bytes()).hexdigest() == before  # the earlier state is intact
    # The job folder (Hydra's, on the roomy disk) records the failure with the same line.
    results = sorted((tmp_path / "outputs").rglob("soen_result.json"), key=lambda p: p.stat().st_mtime)
    result = json.loads(results[-1].read_text())
    assert result["status"] == "failed" and "no space left on the device" in result["error"]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store)
    (experiment,) = [e for e in client.search_experiments() if e.name == "pulses"]
    statuses = [r.info.status for r in client.search_runs([experiment.experiment_id])]
    assert statuses == ["FAILED"]  # the resume continued the first run, and ended it FAILED


def test_read_only_project_folder_is_refused_before_any_work(tmp_path: Path, tmpfs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    out = run_cli(_args(tmp_path, tmpfs), cwd=tmp_path, expect_ok=False)
    assert out.returncode == 2
    (line,) = _error_lines(out.stderr)
    assert str(tmpfs) in line and "Traceback" not in out.stderr
    assert list(tmpfs.iterdir()) == []
