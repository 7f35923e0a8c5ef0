"""Writes the bad files of the bad-input table (HDF5, .ckpt, .soen, YAML, folders) into one
folder. Needs numpy, h5py and safetensors only (no torch), so the table stays fast."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
from safetensors.numpy import save_file

PULSE_ARCH = Path(__file__).resolve().parents[2] / "conf" / "arch" / "pulse_net.yaml"


def _h5(path: Path, data: np.ndarray, labels: np.ndarray | None, **attrs: object) -> None:
    with h5py.File(path, "w") as f:
        f["data"] = data
        if labels is not None:
            f["labels"] = labels
        for k, v in attrs.items():
            f.attrs[k] = v


def _checkpoint_bytes() -> bytes:
    """A small zip laid out like a torch.save archive (data.pkl plus a tensor blob)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("last/data.pkl", b"\x80\x02}q\x00." + b"\x00" * 64)
        z.writestr("last/data/0", np.arange(4096, dtype=np.float32).tobytes())
        z.writestr("last/version", b"3\n")
    return buf.getvalue()


def _soen(path: Path, spec_dim: int) -> None:
    """A .soen (safetensors) of a 1 -> 5 -> 2 model whose spec gives layer 1 ``spec_dim``."""
    tensors = {
        "connections.0_to_1.weight": np.zeros((5, 1), np.float32),
        "connections.0_to_1.mask": np.ones((5, 1), np.float32),
        "connections.1_to_2.weight": np.zeros((2, 5), np.float32),
        "connections.1_to_2.mask": np.ones((2, 5), np.float32),
        "layers.1.bias_current": np.full(5, 1.9, np.float32),
    }
    spec = {
        "simulation": {"dt": 200.0},
        "layers": [
            {"layer_id": 0, "layer_type": "Input", "params": {"dim": 1}},
            {"layer_id": 1, "layer_type": "SingleDendrite", "params": {"dim": spec_dim, "bias_current": {}}},
            {"layer_id": 2, "layer_type": "Input", "params": {"dim": 2}},
        ],
        "connections": [],
    }
    save_file(tensors, str(path), metadata={"format": "soen_train/1", "spec": json.dumps(spec),
                                             "dtype": "torch.float32"})


def make_inputs(root: Path) -> Path:
    """Every bad file of the table under ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 24, 1)).astype(np.float32)
    y = np.arange(40) % 2
    _h5(root / "float_labels.h5", x, rng.normal(size=40).astype(np.float32))
    _h5(root / "whole_float_labels.h5", x, y.astype(np.float32))
    _h5(root / "single_class.h5", x, np.zeros(40, np.int64))
    _h5(root / "uint8_255.h5", x, np.where(np.arange(40) % 5 == 0, 255, y).astype(np.uint8))
    _h5(root / "good.h5", x, y.astype(np.int64))
    _h5(root / "negative_label.h5", x, np.where(np.arange(40) == 7, -3, y))
    _h5(root / "no_labels.h5", x, None)
    _h5(root / "rank2.h5", x[:, :, 0], y)
    _h5(root / "declares_3.h5", x, y, num_classes=2)
    (root / "not_hdf5.h5").write_text("time,value\n0,1\n")
    (root / "empty.h5").write_bytes(b"")
    (root / "a_folder.h5").mkdir(exist_ok=True)

    ckpt = _checkpoint_bytes()
    (root / "empty.ckpt").write_bytes(b"")
    (root / "truncated.ckpt").write_bytes(ckpt[: len(ckpt) // 2])
    corrupt = bytearray(ckpt)
    corrupt[len(ckpt) // 3] ^= 0xFF
    (root / "corrupt.ckpt").write_bytes(bytes(corrupt))
    (root / "text.ckpt").write_text("not a checkpoint\n")
    (root / "folder.ckpt").mkdir(exist_ok=True)
    with zipfile.ZipFile(root / "no_pickle.ckpt", "w") as z:
        z.writestr("readme.txt", "hello")

    _soen(root / "good.soen", 5)
    _soen(root / "dim15000.soen", 15000)
    raw = (root / "good.soen").read_bytes()
    (root / "truncated.soen").write_bytes(raw[: len(raw) - 40])
    (root / "random.soen").write_bytes(rng.integers(0, 255, 512, dtype=np.uint8).tobytes())
    (root / "empty.soen").write_bytes(b"")

    arch = PULSE_ARCH.read_text().split("\n", 1)[1]  # without its `# @package` line
    (root / "dup_key_arch.yaml").write_text(arch.replace("  dt: 200.0\n", "  dt: 200.0\n  dt: 50.0\n"))
    (root / "python_tag_arch.yaml").write_text(
        arch.replace("  dt: 200.0\n", "  dt: !!python/object/apply:os.system ['echo hi']\n"))
    (root / "bad_syntax_arch.yaml").write_text("layers: [\n  - {layer_id: 0\n")
    (root / "list_arch.yaml").write_text("- 1\n- 2\n")

    for name, text in {
        "dup_cfg": "# @package _global_\ntraining:\n  max_epochs: 2\n  max_epochs: 3\n",
        "tag_cfg": "# @package _global_\ntraining:\n  lr: !!python/object/apply:os.system ['echo hi']\n",
        "unknown_key_cfg": "# @package _global_\ntraining:\n  max_epochz: 3\n",
    }.items():
        folder = root / name / "experiment"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "mine.yaml").write_text(text)
    search = root / "search_cfg" / "hparams_search"
    search.mkdir(parents=True, exist_ok=True)
    (search / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna\n"
        "hydra:\n  sweeper:\n    n_trials: 2\n    params:\n      training.lrr: interval(0.001, 0.1)\n")
    (root / "a_file").write_text("a file, not a folder\n")
    read_only = root / "read_only"
    read_only.mkdir(exist_ok=True)
    read_only.chmod(0o555)
    return root
