"""Resuming JAX training from the original toolkit's `.pkl` checkpoints through the real
`soen-train` command: migrated to .jax.npz + .soen first, or named directly as the guide does.

The original checkpoint (original_pickles.py) has finished epoch 4 at step 250; its optimiser
state is optax's and is not carried over, so the run warns once and starts fresh moments."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from original_pickles import J01, J12, write_original_pickle

from soen_train.data.hdf5_writer import write_split_file
from soen_train.jax.checkpoint import load_checkpoint

BIN = Path(sys.executable).parent
LR = 0.002
GROUP = Path("experiments/project_soen_training/experiment_resumed/group_default_group/checkpoints/repeat_0")


def _run(root: Path, tool: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    out = subprocess.run([str(BIN / tool), *args], cwd=root, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, f"{tool} {' '.join(args)}:\n{out.stdout[-3000:]}\n{out.stderr[-4000:]}"
    return out


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two-channel sequences (the checkpoint's model reads 2 inputs, 2 classes) and last.pkl."""
    rng = np.random.default_rng(1)

    def split(n):
        return rng.uniform(0.0, 1.0, (n, 16, 2)).astype(np.float32), rng.integers(0, 2, n).astype(np.int64)

    write_split_file(tmp_path / "data.h5", {"train": split(32), "val": split(16), "test": split(16)})
    write_original_pickle(tmp_path / "last.pkl")
    return tmp_path


def _resume(root: Path, checkpoint: str, model: str) -> subprocess.CompletedProcess:
    """One more epoch (epoch index 5) from ``checkpoint``; the model file only gives the structure
    (load_exact_model_state=false: its weights are redrawn from the seed)."""
    return _run(root, "soen-train", "data.data_path=data.h5", f"model.base_model_path={model}",
                "training.backend=jax", "training.max_epochs=6", "training.batch_size=16",
                f"training.lr={LR}", f"training.train_from_checkpoint={checkpoint}",
                "logging.experiment_name=resumed", "logger=tensorboard", "logging.progress_bar=false",
                "hydra.run.dir=run")


def _assert_continued(root: Path, out: subprocess.CompletedProcess, checkpoint: str) -> None:
    text = out.stdout + out.stderr
    warned = [line for line in text.splitlines() if "holds no optimiser state" in line]
    assert len(warned) == 1, text[-3000:]
    assert f"{checkpoint} holds no optimiser state" in warned[0]
    assert "epoch 5 and step 250 restored, optimiser adamw freshly initialised" in warned[0]
    ckpt_dir = root / GROUP
    assert sorted(p.name for p in ckpt_dir.glob("epoch=*.jax.npz"))[0].startswith("epoch=05-")
    last = load_checkpoint(ckpt_dir / "last.jax.npz")
    assert (last.epoch, last.global_step) == (6, 252)  # epoch 5 trained: 2 batches of 16
    assert [row["epoch"] for row in last.trainer_state["history"]] == [5.0]
    assert last.opt_leaves  # our optimiser state from now on
    # Starting weights were the checkpoint's: the frozen connection kept them exactly, the
    # trained one moved by at most a few Adam steps of size LR (a redrawn init is ~0.1 away).
    np.testing.assert_allclose(last.params["connections.1_to_2"], J12, rtol=1e-6)
    moved = np.abs(last.params["connections.0_to_1"] - J01)
    assert 0.0 < moved.max() <= 3 * LR


def test_resume_from_a_migrated_original_checkpoint(folder):
    _run(folder, "soen-train-jax", "migrate", "last.pkl")
    out = _resume(folder, "last.jax.npz", "last.soen")
    _assert_continued(folder, out, "last.jax.npz")


@pytest.mark.parametrize("with_model", [True, False], ids=["v1.0.0", "params-only"])
def test_resume_from_the_original_pickle_itself(folder, with_model):
    """As the guide writes it; a params-only pickle takes its structure from the configured model."""
    _run(folder, "soen-train-jax", "migrate", "last.pkl", "-o", "model")  # the model file only
    if not with_model:
        write_original_pickle(folder / "last.pkl", with_model=False)
    out = _resume(folder, "last.pkl", "model.soen")
    _assert_continued(folder, out, "last.pkl")


def test_a_crafted_pickle_to_resume_from_is_refused_before_any_work(folder):
    marker = folder / "pwned"

    class RunsShell:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (folder / "evil.pkl").write_bytes(pickle.dumps({"params": {"layer_params": ()}, "opt_state": RunsShell()}))
    _run(folder, "soen-train-jax", "migrate", "last.pkl")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([str(BIN / "soen-train"), "data.data_path=data.h5", "training.backend=jax",
                          "model.base_model_path=last.soen", "training.train_from_checkpoint=evil.pkl", "hydra.run.dir=run"],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "Error: training.train_from_checkpoint: evil.pkl: refused to unpickle 'posix.system': an original "
        "JAX checkpoint holds only NumPy arrays, plain containers and optimiser-state classes; nothing in "
        "the file was run"]
    assert not marker.exists() and not (folder / "run").exists()


def test_a_pickle_under_the_torch_backend_names_the_jax_backend(folder):
    _run(folder, "soen-train-jax", "migrate", "last.pkl")
    out = subprocess.run([str(BIN / "soen-train"), "data.data_path=data.h5", "model.base_model_path=last.soen",
                          "training.train_from_checkpoint=last.pkl", "hydra.run.dir=run"],
                         cwd=folder, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: training.train_from_checkpoint=last.pkl: a .pkl is")
    assert "training.backend=jax" in err[0] and not (folder / "run").exists()
