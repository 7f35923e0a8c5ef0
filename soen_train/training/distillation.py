"""Teacher trajectories for the ``distillation`` paradigm: a student learns to move like a teacher.

``generate_teacher_trajectories`` runs a trained teacher SOEN model (a ``.soen`` file) over
every split of a dataset and writes a split-layout HDF5 file the student trains on with
``training.paradigm=distillation``, ``mapping=seq2seq`` and an ``mse`` loss:

- ``<split>/data``   the inputs exactly as the teacher saw them [N, T, D] float32, i.e. after
  the data preparation given here (resampling to ``target_seq_len``, min/max scaling with
  the *training split's* statistics, one-hot expansion). Train the student on this file
  with those data options left unset: the inputs are already prepared.
- ``<split>/labels`` the teacher's output-layer history **without step 0**, [N, T, C]
  float32: ``teacher(x)[:, 1:]``. Step 0 is the initial state (the same rest state for
  teacher and student), and the trainer's seq2seq alignment compares the student's
  ``history[:, 1:]`` with labels of T steps, so labels line up step for step.

The file is a cache: when it exists and was made from the same teacher file (SHA-256), the
same data file (path, size, modification time) and the same options, it is returned as is.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from soen_train.errors import DistillationError

#: Version of the file layout written here; a change invalidates older caches.
FORMAT_VERSION = 1

#: Root attribute holding the cache key (JSON).
CACHE_ATTR = "distillation_cache_key"

PathLike = str | os.PathLike


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_teacher(path: Path) -> Any:
    """The teacher model from a ``.soen`` file (our safe format, else an original toolkit file)."""
    from soen_train.model import SOENModel

    try:
        return SOENModel.load(path)
    except Exception as ours:  # noqa: BLE001 - try the original toolkit's format next
        try:
            return SOENModel.import_original(path)
        except Exception as original:  # noqa: BLE001
            raise DistillationError(
                f"distillation teacher {path}: not a readable .soen model ({ours}); "
                f"as an original toolkit file: {original}"
            ) from None


def _cache_key(teacher: Path, data: Path, options: dict[str, Any]) -> str:
    stat = data.stat()
    return json.dumps(
        {
            "format_version": FORMAT_VERSION,
            "teacher_sha256": file_sha256(teacher),
            "data_path": str(data.resolve()),
            "data_size": stat.st_size,
            "data_mtime_ns": stat.st_mtime_ns,
            "options": options,
        },
        sort_keys=True,
    )


def _cached(out: Path, key: str) -> bool:
    if not out.is_file():
        return False
    try:
        with h5py.File(out, "r") as f:
            stored = f.attrs.get(CACHE_ATTR)
    except OSError:
        return False
    if isinstance(stored, bytes):
        stored = stored.decode()
    return stored == key


def _device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DistillationError(
            f"distillation device {device!r} is not a torch device; use cpu, cuda, cuda:<n> or mps"
        ) from None
    return dev


def _teacher_outputs(
    teacher: Any, inputs: torch.Tensor, batch_size: int, device: torch.device
) -> np.ndarray:
    chunks = []
    with torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            x = inputs[start : start + batch_size].to(device)
            chunks.append(teacher(x)[:, 1:].float().cpu())
    return torch.cat(chunks).numpy()


def generate_teacher_trajectories(
    teacher_path: PathLike,
    data_path: PathLike,
    out_path: PathLike,
    batch_size: int = 64,
    *,
    target_seq_len: int | None = None,
    min_scale: float | None = None,
    max_scale: float | None = None,
    input_encoding: str = "raw",
    vocab_size: int | None = None,
    val_split: float = 0.2,
    test_split: float = 0.1,
    split_seed: int = 42,
    max_samples: int | None = None,
    device: str = "cpu",
    force: bool = False,
) -> Path:
    """Write (or reuse) the distillation file of ``teacher_path`` on ``data_path``; return its path.

    Data options are those of the ``data`` config section and prepare the inputs as the
    student's data module would. ``max_samples`` keeps the first N samples of each split.
    ``force`` regenerates even when the cached file is up to date.
    """
    teacher_file, data_file, out = Path(teacher_path), Path(data_path), Path(out_path)
    for what, p in (("teacher model", teacher_file), ("data file", data_file)):
        if not p.is_file():
            raise DistillationError(f"distillation {what} not found: {p}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DistillationError(f"distillation batch_size = {batch_size!r} must be an integer >= 1")
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1
    ):
        raise DistillationError(
            f"distillation max_samples = {max_samples!r} must be an integer >= 1 or null"
        )
    dev = _device(device)
    options = {
        "target_seq_len": target_seq_len,
        "min_scale": min_scale,
        "max_scale": max_scale,
        "input_encoding": input_encoding,
        "vocab_size": vocab_size,
        "val_split": val_split,
        "test_split": test_split,
        "split_seed": split_seed,
        "max_samples": max_samples,
    }
    key = _cache_key(teacher_file, data_file, options)
    if not force and _cached(out, key):
        return out

    from soen_train.data import SOENDataModule, write_split_file

    dm = SOENDataModule(
        data_file,
        batch_size=batch_size,
        cache_data=True,
        target_seq_len=target_seq_len,
        min_scale=min_scale,
        max_scale=max_scale,
        input_encoding=input_encoding,
        vocab_size=vocab_size,
        val_split=val_split,
        test_split=test_split,
        split_seed=split_seed,
        mapping="seq2seq",
        paradigm="self_supervised",
    )
    dm.setup()
    teacher = load_teacher(teacher_file).to(dev)
    teacher.eval()
    if int(teacher.input_dim) != dm.input_dim:
        raise DistillationError(
            f"distillation teacher {teacher_file} takes {teacher.input_dim} input features but "
            f"{data_file} provides {dm.input_dim}"
        )
    splits = {}
    for split, n in dm.splits.items():
        count = n if max_samples is None else min(n, max_samples)
        inputs = dm.dataset(split)[list(range(count))][0]
        labels = _teacher_outputs(teacher, inputs, batch_size, dev)
        splits[split] = (inputs.numpy().astype(np.float32), labels.astype(np.float32))
    attrs = {
        CACHE_ATTR: key,
        "paradigm": "distillation",
        "labels": "teacher output history without step 0, [N, T, C]",
        "teacher": str(teacher_file),
    }
    return write_split_file(out, splits, attrs)
