"""Resampling, train-split scaling, one-hot encoding and their checkpointed state."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from soen_train.data import DataError, SOENDataModule
from soen_train.data.preprocessing import nearest_indices, resample_linear, resample_nearest


def linear_reference(x: np.ndarray, length: int) -> np.ndarray:
    """align_corners=False linear resampling of x [T, D], written out from its definition."""
    steps = x.shape[0]
    out = np.empty((length, x.shape[1]))
    for j in range(length):
        s = max((j + 0.5) * steps / length - 0.5, 0.0)
        i0 = min(math.floor(s), steps - 1)
        i1 = min(i0 + 1, steps - 1)
        w = s - i0
        out[j] = (1 - w) * x[i0] + w * x[i1]
    return out


@pytest.mark.parametrize("steps,length", [(7, 3), (5, 12), (6, 6), (1, 4)])
def test_linear_resampling_matches_the_formula(steps, length):
    x = np.random.default_rng(steps).normal(size=(2, steps, 3)).astype(np.float32)
    y = resample_linear(torch.from_numpy(x), length).numpy()
    assert y.shape == (2, length, 3)
    for n in range(2):
        np.testing.assert_allclose(y[n], linear_reference(x[n], length), rtol=1e-5, atol=1e-6)


def test_nearest_resampling_of_integer_labels():
    labels = torch.tensor([[0, 1, 2, 3, -100, -100]])
    assert nearest_indices(6, 3).tolist() == [1, 3, 5]  # floor((j + 0.5) * 6 / 3)
    assert resample_nearest(labels, 3).tolist() == [[1, 3, -100]]
    assert resample_nearest(labels, 12).tolist() == [
        [0, 0, 1, 1, 2, 2, 3, 3, -100, -100, -100, -100]
    ]


def test_datamodule_resamples_inputs_and_seq_labels(h5file, split_arrays):
    arrays = split_arrays({"train": 3, "val": 2, "test": 2}, steps=6, features=2)
    for name in ("train", "val", "test"):
        n = len(arrays[f"{name}/data"])
        arrays[f"{name}/labels"] = np.tile(np.array([0, 1, 2, 1, 0, -100]), (n, 1))
    dm = SOENDataModule(h5file(arrays), mapping="seq2seq", target_seq_len=4)
    dm.setup()
    assert dm.seq_len == 4
    x, y = dm.dataset("train")[[0, 1, 2]]
    assert x.shape == (3, 4, 2) and y.shape == (3, 4) and y.dtype == torch.int64
    np.testing.assert_allclose(
        x[1].numpy(), linear_reference(arrays["train/data"][1], 4), rtol=1e-5, atol=1e-6
    )
    idx = [int((j + 0.5) * 6 / 4) for j in range(4)]
    assert y[0].tolist() == [[0, 1, 2, 1, 0, -100][i] for i in idx]


def test_scaling_uses_train_statistics_for_every_split(h5file):
    rng = np.random.default_rng(0)
    arrays = {
        "train/data": rng.uniform(-2.0, 3.0, size=(8, 5, 2)).astype(np.float32),
        "val/data": rng.uniform(-6.0, 9.0, size=(3, 5, 2)).astype(np.float32),
        "test/data": rng.uniform(0.0, 1.0, size=(4, 5, 2)).astype(np.float32),
    }
    for name, n in (("train", 8), ("val", 3), ("test", 4)):
        arrays[f"{name}/labels"] = np.arange(n) % 2
    dm = SOENDataModule(h5file(arrays), min_scale=0.0, max_scale=2.0)
    dm.setup()
    lo, hi = float(arrays["train/data"].min()), float(arrays["train/data"].max())
    assert dm.scaling == (lo, hi)
    for name in ("train", "val", "test"):
        expected = 0.0 + (2.0 - 0.0) * (arrays[f"{name}/data"] - lo) / (hi - lo + 1e-8)
        np.testing.assert_allclose(dm.dataset(name).inputs.numpy(), expected, rtol=1e-5, atol=1e-5)
    train = dm.dataset("train").inputs
    assert train.min().item() == pytest.approx(0.0, abs=1e-6)
    assert train.max().item() == pytest.approx(2.0, abs=1e-6)
    # val values beyond the training range map outside [min_scale, max_scale]: no leakage
    assert dm.dataset("val").inputs.min().item() < 0.0


def test_scaling_state_restores_into_a_new_module(h5file, tmp_path, split_arrays):
    rng = np.random.default_rng(1)
    arrays = split_arrays({"train": 6, "val": 3, "test": 3}, seed=2)
    path = h5file(arrays)
    trained = SOENDataModule(path, min_scale=-1.0, max_scale=1.0)
    trained.setup()
    state = trained.state_dict()
    torch.save(state, tmp_path / "state.pt")

    # inference on different data: the stored statistics, not the new file's, are used
    other = split_arrays({"train": 6, "val": 3, "test": 3}, seed=9)
    other["train/data"] = other["train/data"] * 10 + rng.normal()
    other_path = h5file(other, name="other.h5")
    fresh = SOENDataModule(other_path, min_scale=-1.0, max_scale=1.0)
    fresh.load_state_dict(torch.load(tmp_path / "state.pt"))
    fresh.setup()
    assert fresh.scaling == trained.scaling
    lo, hi = trained.scaling
    expected = -1.0 + 2.0 * (other["val/data"] - lo) / (hi - lo + 1e-8)
    np.testing.assert_allclose(fresh.dataset("val").inputs.numpy(), expected, rtol=1e-5, atol=1e-5)

    # restoring after setup (Lightning's order on resume) re-scales the cached splits
    late = SOENDataModule(other_path, min_scale=-1.0, max_scale=1.0)
    late.setup()
    assert late.scaling != trained.scaling
    late.load_state_dict(state)
    assert late.scaling == trained.scaling
    np.testing.assert_allclose(late.dataset("val").inputs.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_restoring_scaling_into_a_module_configured_differently_is_an_error(split_file):
    dm = SOENDataModule(split_file, min_scale=0.0, max_scale=1.0)
    dm.setup()
    with pytest.raises(DataError, match=r"\[0.0, 1.0\].*\[0.0, 2.0\]"):
        SOENDataModule(split_file, min_scale=0.0, max_scale=2.0).load_state_dict(dm.state_dict())
    with pytest.raises(DataError, match="scaling does not match"):
        SOENDataModule(split_file).load_state_dict(dm.state_dict())


def test_set_target_seq_len_rebuilds_the_cache_seen_by_existing_loaders(split_file):
    dm = SOENDataModule(split_file, batch_size=16)
    dm.setup()
    loader = dm.val_dataloader()
    assert next(iter(loader))[0].shape[1] == 6
    dm.set_target_seq_len(3)
    assert dm.seq_len == 3 and next(iter(loader))[0].shape[1] == 3
    assert dm.state_dict()["target_seq_len"] == 3
    dm.set_target_seq_len(None)
    assert next(iter(loader))[0].shape[1] == 6
    with pytest.raises(DataError, match="target_seq_len=0"):
        dm.set_target_seq_len(0)


def test_one_hot_tokens(h5file):
    tokens = np.array([[0, 3, 1], [2, 2, 0], [1, 0, 3], [3, 3, 3]], dtype=np.int32)
    arrays = {}
    for name, rows in (("train", tokens), ("val", tokens[:2]), ("test", tokens[2:, :, None])):
        arrays[f"{name}/data"] = rows
        arrays[f"{name}/labels"] = np.arange(len(rows)) % 2
    dm = SOENDataModule(h5file(arrays), input_encoding="one_hot", vocab_size=5)
    dm.setup()
    assert dm.input_dim == 5 and dm.seq_len == 3
    x, _ = dm.dataset("train")[[0, 1, 2, 3]]
    assert x.shape == (4, 3, 5) and x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), np.eye(5, dtype=np.float32)[tokens])
    xt, _ = dm.dataset("test")[1]  # [N, T, 1] tokens are accepted too
    np.testing.assert_array_equal(xt.numpy(), np.eye(5, dtype=np.float32)[tokens[3]])
    # resampling tokens picks the nearest token, never a blend
    dm2 = SOENDataModule(
        h5file(arrays, name="t2.h5"), input_encoding="one_hot", vocab_size=5, target_seq_len=6
    )
    dm2.setup()
    x2, _ = dm2.dataset("train")[0]
    assert x2.sum(-1).tolist() == [1.0] * 6
    assert x2.argmax(-1).tolist() == [0, 0, 3, 3, 1, 1]
