"""A dataset maker never writes over a file it did not make: the user's file is read, not replaced."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
from sweep_cli import TINY_PULSES_ARGS, run_cli

from soen_train.data import write_split_file
from soen_train.data.makers.building import OWNER_ATTR


def _user_file(path: Path) -> Path:
    """A user's own pulses-shaped file (7 train samples etc.), written without a maker mark."""
    rng = np.random.default_rng(0)
    splits = {
        name: (rng.normal(size=(n, 32, 1)).astype(np.float32), np.arange(n) % 2)
        for name, n in (("train", 70), ("val", 20), ("test", 10))
    }
    return write_split_file(path, splits, {"description": "the user's data"})


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_experiment_with_a_users_file_is_one_error_and_the_file_is_untouched(tmp_path: Path) -> None:
    data = _user_file(tmp_path / "mine.h5")
    before = _digest(data)
    base = ["+experiment=pulses", *TINY_PULSES_ARGS, "logger=tensorboard",
            f"logging.project_dir={tmp_path / 'exp'}", f"data.data_path={data}"]
    out = run_cli([*base, f"hydra.run.dir={tmp_path / 'job'}"], cwd=tmp_path, expect_ok=False)
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert str(data) in errors[0] and "data.dataset=null" in errors[0]
    assert _digest(data) == before

    # data.dataset=null: the same file is read as it is (70 training samples, not rebuilt)
    run_cli([*base, "data.dataset=null", f"hydra.run.dir={tmp_path / 'job2'}"], cwd=tmp_path)
    assert _digest(data) == before
    result = json.loads((tmp_path / "job2" / "soen_result.json").read_text())
    assert result["status"] == "completed"
    with h5py.File(data, "r") as f:
        assert f["train"]["data"].shape == (70, 32, 1) and OWNER_ATTR not in f.attrs


def test_a_maker_file_carries_its_mark_and_is_rebuilt_for_new_params(tmp_path: Path) -> None:
    from soen_train.data import build_dataset

    path = build_dataset("pulses", tmp_path / "p.h5", n_train=8, n_val=4, n_test=4, seq_len=32)
    with h5py.File(path, "r") as f:
        mark = json.loads(f.attrs[OWNER_ATTR])
    assert mark["maker"] == "pulses" and mark["params"]["n_train"] == 8
    build_dataset("pulses", path, n_train=10, n_val=4, n_test=4, seq_len=32)  # its own file: rebuilt
    with h5py.File(path, "r") as f:
        assert f["train"]["data"].shape[0] == 10
