"""Fixtures of the callback tests; the helpers live in callbacks_testkit.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from callbacks_testkit import BATCH, write_dataset

from soen_train.data import SOENDataModule


@pytest.fixture(autouse=True)
def _single_threaded() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Path of the tiny split dataset."""
    return write_dataset(tmp_path / "tiny.h5")


@pytest.fixture
def datamodule(dataset: Path) -> SOENDataModule:
    """The tiny dataset's data module (batches of 4, fixed shuffle seed)."""
    return SOENDataModule(dataset, batch_size=BATCH, shuffle_seed=0)
