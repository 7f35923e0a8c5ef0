"""generate_teacher_trajectories: labels = teacher history without step 0, cached, readable."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from callbacks_testkit import SPLIT_SIZES, make_model

from soen_train.data import SOENDataModule
from soen_train.training.alignment import align
from soen_train.training.distillation import DistillationError, generate_teacher_trajectories


@pytest.fixture
def teacher_file(tmp_path):
    return make_model(seed=5).save(tmp_path / "teacher.soen")


def test_labels_are_teacher_histories_and_line_up_with_seq2seq_mse(tmp_path, dataset, teacher_file):
    out = generate_teacher_trajectories(
        teacher_file,
        dataset,
        tmp_path / "distill.h5",
        batch_size=3,
        target_seq_len=5,
        min_scale=0.0,
        max_scale=2.0,
    )
    teacher = make_model(seed=5).eval()
    with h5py.File(out, "r") as f:
        for split, n in SPLIT_SIZES.items():
            data, labels = f[f"{split}/data"][()], f[f"{split}/labels"][()]
            assert data.shape == (n, 5, 2) and labels.shape == (n, 5, 2)
            with torch.no_grad():
                expected = teacher(torch.from_numpy(data))[:, 1:]
            np.testing.assert_allclose(labels, expected.numpy(), rtol=1e-6, atol=1e-7)
            # the inputs are prepared exactly as a data module with the same options prepares them
            prepared = SOENDataModule(
                dataset,
                target_seq_len=5,
                min_scale=0.0,
                max_scale=2.0,
                mapping="seq2seq",
                paradigm="self_supervised",
            )
            prepared.setup()
            ds = prepared.dataset(split)
            np.testing.assert_array_equal(data, ds[list(range(n))][0].numpy())

    # the student's data module reads the file; the teacher's own seq2seq mse against it is 0
    dm = SOENDataModule(out, batch_size=4, mapping="seq2seq", paradigm="distillation")
    dm.setup()
    x, y = next(iter(dm.val_dataloader()))
    with torch.no_grad():
        aligned = align(teacher(x), y, x, "seq2seq", "distillation", "max", {"scale": 1.0})
    assert aligned.outputs.shape == y.shape
    assert float(F.mse_loss(aligned.outputs, aligned.targets)) == pytest.approx(0.0, abs=1e-12)


def test_cached_file_is_reused_until_the_teacher_changes(tmp_path, dataset, teacher_file):
    out = tmp_path / "distill.h5"
    generate_teacher_trajectories(teacher_file, dataset, out, max_samples=4)
    first = os.stat(out).st_mtime_ns
    with h5py.File(out, "r") as f:
        assert f["train/labels"].shape[0] == 4
    generate_teacher_trajectories(teacher_file, dataset, out, max_samples=4)
    assert os.stat(out).st_mtime_ns == first  # up to date: not rewritten

    make_model(seed=6).save(teacher_file)  # a different teacher
    generate_teacher_trajectories(teacher_file, dataset, out, max_samples=4)
    assert os.stat(out).st_mtime_ns != first
    with h5py.File(out, "r") as f, torch.no_grad():
        x = torch.from_numpy(f["train/data"][()])
        np.testing.assert_allclose(
            f["train/labels"][()], make_model(seed=6).eval()(x)[:, 1:].numpy(), rtol=1e-6, atol=1e-7
        )


def test_bad_inputs_are_clear_errors(tmp_path, dataset, teacher_file):
    with pytest.raises(DistillationError, match="teacher model not found"):
        generate_teacher_trajectories(tmp_path / "none.soen", dataset, tmp_path / "o.h5")
    with pytest.raises(DistillationError, match="device 'gpu0'"):
        generate_teacher_trajectories(teacher_file, dataset, tmp_path / "o.h5", device="gpu0")
    (tmp_path / "junk.soen").write_bytes(b"not a model")
    with pytest.raises(DistillationError, match="junk.soen"):
        generate_teacher_trajectories(tmp_path / "junk.soen", dataset, tmp_path / "o.h5")
