"""Shared setup of the JAX backend tests: skip without JAX, cheap XLA compiles, a tiny data file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Cheaper XLA compilation for these tiny test programs (results stay within float32 rounding);
# set before JAX is first imported. Users' own XLA_FLAGS win.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
)

pytest.importorskip("jax")
pytest.importorskip("optax")

sys.path.insert(0, str(Path(__file__).resolve().parent))  # model_zoo, parity_runs, run_setup


@pytest.fixture(scope="session")
def pulses_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pulses dataset (HDF5, train/val/test) shared by the training tests."""
    from soen_train.data import build_dataset

    target = tmp_path_factory.mktemp("jax_data") / "pulses.h5"
    return build_dataset("pulses", target, n_train=64, n_val=32, n_test=32, seq_len=32, seed=0)
