"""Every bad file, key, shape, dtype, value and option gives a DataError that says where and why."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from soen_train.data import DataError, SOENDataModule
from soen_train.errors import SOENError


def setup_error(path: Path, **kwargs) -> str:
    """The message of the DataError raised while setting up a module on ``path``."""
    dm = SOENDataModule(path, **kwargs)
    with pytest.raises(DataError) as info:
        dm.setup()
    message = str(info.value)
    assert "\n" not in message  # one line, printable by the CLI as is
    assert str(path) in message  # names the file
    return message


def test_data_error_is_a_soen_error_and_a_value_error():
    assert issubclass(DataError, SOENError) and issubclass(DataError, ValueError)


def test_missing_file(tmp_path):
    message = setup_error(tmp_path / "nope.h5")
    assert "data file not found" in message and "nope.h5" in message


def test_directory_instead_of_file(tmp_path):
    assert "is a directory" in setup_error(tmp_path)


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("these are not the arrays you are looking for\n" * 20)
    message = setup_error(path)
    assert str(path) in message and "not an HDF5 file" in message


def test_truncated_hdf5_file(tmp_path, split_arrays, write_h5):
    path = write_h5(tmp_path / "full.h5", split_arrays({"train": 200, "val": 50, "test": 50}))
    raw = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(raw[: len(raw) // 2])
    message = setup_error(cut)
    assert str(cut) in message and ("truncated" in message or "damaged" in message)


def test_only_some_split_groups(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2})
    message = setup_error(h5file(arrays))
    assert "train, val" in message and "not test" in message


def test_flat_file_without_data(h5file):
    message = setup_error(h5file({"inputs": np.zeros((4, 3, 1), np.float32)}))
    assert "root 'data'" in message


@pytest.mark.parametrize("drop", ["val/labels", "test/data"])
def test_missing_key_in_split_group(h5file, drop, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    del arrays[drop]
    message = setup_error(h5file(arrays))
    assert f"'{drop}'" in message and "missing" in message


def test_group_where_an_array_is_expected(tmp_path, split_arrays, write_h5):
    path = write_h5(tmp_path / "g.h5", split_arrays({"train": 4, "val": 2, "test": 2}))
    with h5py.File(path, "a") as f:
        del f["val/data"]
        f.create_group("val/data")
    assert "'val/data' is a group" in setup_error(path)


def test_wrong_rank_inputs(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["train/data"] = arrays["train/data"][:, :, 0]
    message = setup_error(h5file(arrays))
    assert "'train/data' has rank 2" in message and "[N, T, D]" in message


def test_ragged_inputs(tmp_path, split_arrays, write_h5):
    path = write_h5(tmp_path / "r.h5", split_arrays({"train": 4, "val": 2, "test": 2}))
    with h5py.File(path, "a") as f:
        del f["test/data"]
        ds = f.create_dataset("test/data", (2,), dtype=h5py.vlen_dtype(np.float32))
        ds[0] = np.arange(3, dtype=np.float32)
        ds[1] = np.arange(5, dtype=np.float32)
    assert "'test/data' holds variable-length (ragged)" in setup_error(path)


def test_splits_with_different_lengths_or_features(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["val/data"] = arrays["val/data"][:, :4]
    message = setup_error(h5file(arrays))
    assert "train T=6, val T=4" in message and "target_seq_len" in message
    # with resampling requested the lengths may differ
    dm = SOENDataModule(h5file(arrays, name="ok.h5"), target_seq_len=5)
    dm.setup()
    assert dm.seq_len == 5
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["test/data"] = np.zeros((2, 6, 3), np.float32)
    assert "test D=3" in setup_error(h5file(arrays, name="d.h5"))


def test_non_numeric_inputs_and_labels(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["val/data"] = np.array([[[b"a"]] * 6] * 2)
    assert "'val/data' has non-numeric dtype" in setup_error(h5file(arrays))
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["train/labels"] = np.array([b"cat", b"dog", b"cat", b"dog"])
    assert "'train/labels' has non-numeric dtype" in setup_error(h5file(arrays, name="l.h5"))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("cache", [True, False])
def test_nan_or_inf_inputs(h5file, bad, cache, split_arrays):
    arrays = split_arrays({"train": 4, "val": 3, "test": 2})
    arrays["val/data"][2, 1, 0] = bad
    message = setup_error(h5file(arrays), cache_data=cache)
    assert "'val/data' has NaN/Inf inputs (first at sample 2)" in message


@pytest.mark.parametrize("cache", [True, False])
def test_nan_in_a_flat_file_names_the_file_row(h5file, cache):
    data = np.zeros((20, 3, 1), np.float32)
    data[13, 1, 0] = np.nan
    labels = np.zeros(20, np.int64)
    labels[17] = -2
    message = setup_error(h5file({"data": data, "labels": labels}), cache_data=cache)
    assert "'data' has NaN/Inf inputs (first at sample 13)" in message
    data[13, 1, 0] = 0.0
    message = setup_error(h5file({"data": data, "labels": labels}, name="l.h5"), cache_data=cache)
    assert "'labels' has label -2 at sample 17" in message


def test_float64_inputs_beyond_float32_range(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["train/data"] = arrays["train/data"].astype(np.float64)
    arrays["train/data"][1, 0, 0] = 1e300
    assert "beyond the float32 range (first at sample 1)" in setup_error(h5file(arrays))


def test_nan_regression_targets(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    for name, n in (("train", 4), ("val", 2), ("test", 2)):
        arrays[f"{name}/labels"] = np.ones((n, 2), np.float32)
    arrays["test/labels"][1, 0] = np.nan
    assert "'test/labels' has NaN/Inf targets (first at sample 1)" in setup_error(h5file(arrays))


def test_negative_class_label(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["train/labels"][3] = -1
    message = setup_error(h5file(arrays))
    assert "'train/labels' has label -1 at sample 3" in message and "[0, num_classes)" in message


def test_padding_label_only_allowed_for_seq2seq(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["val/labels"][0] = -100
    assert "label -100 at sample 0" in setup_error(h5file(arrays))


def test_seq2seq_labels_outside_padding(h5file, split_arrays):
    arrays = split_arrays({"train": 2, "val": 2, "test": 2}, steps=3)
    for name in ("train", "val", "test"):
        arrays[f"{name}/labels"] = np.array([[0, 1, -100], [1, -5, 0]])
    message = setup_error(h5file(arrays), mapping="seq2seq")
    assert "label -5 at sample 1" in message and "-100 for padding" in message


def test_labels_beyond_given_num_classes(h5file, split_arrays):
    message = setup_error(h5file(split_arrays({"train": 4, "val": 2, "test": 2})), num_classes=2)
    assert "class label 2, outside [0, 2) for num_classes=2" in message


def test_num_classes_larger_than_labels_is_a_mismatch(h5file, split_arrays):
    message = setup_error(h5file(split_arrays({"train": 4, "val": 2, "test": 2})), num_classes=10)
    assert "data.num_classes=10" in message and "3 classes" in message


def test_declared_class_count_below_the_labels(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    message = setup_error(h5file(arrays, attrs={"n_classes": 2}))
    assert "declares n_classes=2" in message and "up to 2" in message


def test_num_classes_for_regression_labels(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    for name, n in (("train", 4), ("val", 2), ("test", 2)):
        arrays[f"{name}/labels"] = np.ones((n, 2), np.float32)
    assert "only for class labels" in setup_error(h5file(arrays), num_classes=2)


def test_label_count_differs_from_sample_count(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["train/labels"] = arrays["train/labels"][:3]
    message = setup_error(h5file(arrays))
    assert "'train/labels' has 3 labels" in message and "4 input samples" in message
    flat = {"data": np.zeros((20, 3, 1), np.float32), "labels": np.zeros(19, np.int64)}
    assert "'labels' has 19 labels" in setup_error(h5file(flat, name="flat.h5"))


def test_label_shapes_that_do_not_fit_the_mapping(h5file, split_arrays):
    per_step = split_arrays({"train": 4, "val": 2, "test": 2})
    for name, n in (("train", 4), ("val", 2), ("test", 2)):
        per_step[f"{name}/labels"] = np.zeros((n, 6), np.int64)
    assert "training.mapping=seq2seq" in setup_error(h5file(per_step))
    per_sequence = split_arrays({"train": 4, "val": 2, "test": 2})
    message = setup_error(h5file(per_sequence, name="b.h5"), mapping="seq2seq")
    assert "one label per sequence" in message and "'train/labels'" in message
    wrong_len = split_arrays({"train": 4, "val": 2, "test": 2})
    for name, n in (("train", 4), ("val", 2), ("test", 2)):
        wrong_len[f"{name}/labels"] = np.zeros((n, 5), np.int64)
    message = setup_error(h5file(wrong_len, name="c.h5"), mapping="seq2seq")
    assert "has 5 time steps" in message and "inputs have 6" in message


def test_distillation_targets_must_be_histories(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    message = setup_error(h5file(arrays), paradigm="distillation", mapping="seq2seq")
    assert "teacher state histories" in message


def test_empty_splits(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    arrays["test/data"] = np.zeros((0, 6, 2), np.float32)
    arrays["test/labels"] = np.zeros((0,), np.int64)
    assert "the test split is empty" in setup_error(h5file(arrays))
    flat = {"data": np.zeros((4, 3, 1), np.float32), "labels": np.zeros(4, np.int64)}
    message = setup_error(h5file(flat, name="flat.h5"))
    assert "empty val/test split" in message


def test_missing_labels_for_supervised_training(h5file, split_arrays):
    arrays = {
        k: v
        for k, v in split_arrays({"train": 4, "val": 2, "test": 2}).items()
        if k.endswith("data")
    }
    message = setup_error(h5file(arrays))
    assert "missing dataset 'train/labels'" in message and "self_supervised" in message


def test_one_hot_errors(h5file, split_arrays):
    with pytest.raises(DataError, match="needs data.vocab_size"):
        SOENDataModule("x.h5", input_encoding="one_hot")
    tokens = {}
    for name, n in (("train", 3), ("val", 2), ("test", 2)):
        tokens[f"{name}/data"] = np.ones((n, 4), np.int64)
        tokens[f"{name}/labels"] = np.zeros(n, np.int64)
    tokens["val/data"][1, 2] = 7
    message = setup_error(h5file(tokens), input_encoding="one_hot", vocab_size=5)
    assert "'val/data' has token 7 at sample 1" in message and "vocab_size=5" in message
    tokens["val/data"][1, 2] = 1
    tokens["train/data"] = tokens["train/data"].astype(np.float32) + 0.5
    message = setup_error(h5file(tokens, name="f.h5"), input_encoding="one_hot", vocab_size=5)
    assert "non-integer token" in message
    raw = split_arrays({"train": 3, "val": 2, "test": 2})
    message = setup_error(h5file(raw, name="raw.h5"), input_encoding="one_hot", vocab_size=5)
    assert "[N, T] or [N, T, 1]" in message


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        ({"mapping": "seq2sec"}, "did you mean 'seq2seq'"),
        ({"paradigm": "unsupervised"}, "valid values: supervised, self_supervised, distillation"),
        ({"input_encoding": "onehot"}, "did you mean 'one_hot'"),
        ({"min_scale": 0.0}, "set both"),
        ({"min_scale": 1.0, "max_scale": 1.0}, "must be below max_scale"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"target_seq_len": -3}, "target_seq_len=-3"),
        ({"val_split": 1.0}, "val_split=1.0"),
        ({"val_split": 0.6, "test_split": 0.5}, "sum must be below 1"),
        ({"vocab_size": 4}, "only used with input_encoding='one_hot'"),
        (
            {"input_encoding": "one_hot", "vocab_size": 4, "min_scale": 0, "max_scale": 1},
            "cannot be combined",
        ),
        ({"cache_data": "yes"}, "cache_data='yes'"),
        ({"num_classes": True}, "num_classes=True"),
    ],
)
def test_bad_options_are_rejected_at_construction(kwargs, expected):
    with pytest.raises(DataError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        SOENDataModule("anything.h5", **kwargs)


def test_properties_before_setup(split_file):
    dm = SOENDataModule(split_file)
    with pytest.raises(DataError, match="call setup"):
        _ = dm.num_classes
    with pytest.raises(DataError, match="call setup"):
        dm.train_dataloader()
