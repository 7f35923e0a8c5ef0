"""`soen-train` on a damaged HDF5 file: one line naming the file, no traceback, nothing trained."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import all_files


def _write_valid(path):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as fh:
        for split, n in (("train", 32), ("val", 8), ("test", 8)):
            grp = fh.create_group(split)
            grp.create_dataset("data", data=rng.random((n, 12, 1), dtype=np.float32))
            grp.create_dataset("labels", data=rng.integers(0, 2, n))
    return path


def _truncate(path):
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _garble(path):
    raw = bytearray(path.read_bytes())
    raw[:8] = b"NOTHDF5!"
    path.write_bytes(bytes(raw))


def _nan_inputs(path):
    with h5py.File(path, "r+") as fh:
        fh["train/data"][3, 5, 0] = np.nan


def _labels_out_of_range(path):
    with h5py.File(path, "r+") as fh:
        fh["train/labels"][0] = 7


@pytest.mark.parametrize("damage", [_truncate, _garble, _nan_inputs, _labels_out_of_range])
def test_damaged_hdf5_gives_one_line_naming_the_file(cli_here, tmp_path, damage):
    path = _write_valid(tmp_path / "my_data.h5")
    damage(path)
    res = cli_here("+experiment=pulses", "data.dataset=null", f"data.data_path={path}", "data.num_classes=2",
                   "logger=tensorboard", "training.max_epochs=1", "logging.progress_bar=false", "hydra.run.dir=job")
    assert res.code == 2, res.text[-3000:]
    assert "Traceback" not in res.text
    (line,) = [ln for ln in res.err.splitlines() if ln.startswith("Error: ")]
    assert "my_data.h5" in line, line
    assert not [p for p in all_files(tmp_path) if p.suffix == ".ckpt"]
