"""Built-in dataset makers: shapes, determinism, class balance, reuse, MNIST from local files."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from soen_train.data import (
    DATASETS,
    DataError,
    SOENDataModule,
    build_dataset,
    read_idx,
    write_idx,
    write_split_file,
)
from soen_train.data.makers.stratify import stratified_split, stratified_subset

SMALL_PULSES = {"n_train": 40, "n_val": 10, "n_test": 11, "seq_len": 32}


def read_splits(path):
    with h5py.File(path) as f:
        arrays = {
            name: (f[name]["data"][()], f[name]["labels"][()]) for name in ("train", "val", "test")
        }
        attrs = dict(f.attrs)
    return arrays, attrs


def test_registry_lists_the_makers():
    assert {"pulses", "digits", "mnist"} <= set(DATASETS.names())
    with pytest.raises(DataError, match="did you mean 'pulses'"):
        build_dataset("pulse", "x.h5")


def test_pulses_shapes_balance_and_attrs(tmp_path):
    path = build_dataset("pulses", tmp_path / "p.h5", seed=3, **SMALL_PULSES)
    arrays, attrs = read_splits(path)
    for name, n in (("train", 40), ("val", 10), ("test", 11)):
        data, labels = arrays[name]
        assert data.shape == (n, 32, 1) and data.dtype == np.float32
        assert labels.dtype == np.int64 and set(labels.tolist()) <= {0, 1}
        counts = np.bincount(labels, minlength=2)
        assert abs(int(counts[0]) - int(counts[1])) <= 1  # balanced within one sample
    assert attrs["n_classes"] == 2 and attrs["seq_length"] == 32 and attrs["maker"] == "pulses"
    assert json.loads(attrs["maker_params"])["seed"] == 3
    dm = SOENDataModule(path)
    dm.setup()
    assert (dm.num_classes, dm.input_dim, dm.seq_len) == (2, 1, 32)


def test_pulses_are_two_bumps_or_one_and_separable_by_area(tmp_path):
    params = dict(SMALL_PULSES, noise_std=0.0)
    arrays, _ = read_splits(build_dataset("pulses", tmp_path / "p.h5", **params))
    data, labels = arrays["train"]
    signal = data[:, :, 0]
    # without noise, count local maxima above half the smallest amplitude
    peaks = (
        (signal[:, 1:-1] > signal[:, :-2])
        & (signal[:, 1:-1] >= signal[:, 2:])
        & (signal[:, 1:-1] > 0.6)
    ).sum(1)
    np.testing.assert_array_equal(peaks, labels + 1)
    assert signal.max() <= 1.8 + 1e-6
    # areas: A * width * sqrt(2 pi) per pulse, A in [1.2, 1.8] -> the classes do not overlap
    area = signal.sum(1)
    assert area[labels == 0].max() < area[labels == 1].min()
    noisy, _ = read_splits(build_dataset("pulses", tmp_path / "n.h5", **SMALL_PULSES))
    x, y = noisy["test"]
    # midway between the largest one-pulse area (1.8 w sqrt(2 pi)) and the smallest two-pulse
    # area (2 * 1.2 w sqrt(2 pi)), width w = 1.5
    threshold = (1.8 + 2.4) / 2 * 1.5 * np.sqrt(2 * np.pi)
    assert ((x[:, :, 0].sum(1) > threshold) == (y == 1)).mean() >= 0.95


def test_pulses_are_deterministic_and_seeded(tmp_path):
    a, _ = read_splits(build_dataset("pulses", tmp_path / "a.h5", seed=1, **SMALL_PULSES))
    b, _ = read_splits(build_dataset("pulses", tmp_path / "b.h5", seed=1, **SMALL_PULSES))
    c, _ = read_splits(build_dataset("pulses", tmp_path / "c.h5", seed=2, **SMALL_PULSES))
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(a[name][0], b[name][0])
        np.testing.assert_array_equal(a[name][1], b[name][1])
        assert not np.array_equal(a[name][0], c[name][0])


def test_build_skips_an_up_to_date_file_and_rebuilds_on_new_params(tmp_path):
    path = tmp_path / "p.h5"
    build_dataset("pulses", path, **SMALL_PULSES)
    stamp = os.stat(path).st_mtime_ns
    assert build_dataset("one_or_two_pulses", path, **SMALL_PULSES) == path  # alias, same params
    assert os.stat(path).st_mtime_ns == stamp
    build_dataset("pulses", path, **dict(SMALL_PULSES, n_val=12))
    assert read_splits(path)[0]["val"][0].shape[0] == 12
    other = tmp_path / "other.h5"
    other.write_bytes(b"garbage")  # a file no maker wrote is never replaced
    with pytest.raises(DataError, match="not written by a soen_train dataset maker"):
        build_dataset("pulses", other, **SMALL_PULSES)
    assert other.read_bytes() == b"garbage"
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"n_trian": 5}, "did you mean 'n_train'"),
        ({"n_train": 1}, "n_train=1"),
        ({"noise_std": "lots"}, "noise_std='lots'"),
        ({"seq_len": 10}, "leaves"),
        ({"amplitude_min": 3.0}, "above amplitude_max"),
    ],
)
def test_bad_maker_params(tmp_path, params, expected):
    with pytest.raises(DataError, match=expected):
        build_dataset("pulses", tmp_path / "p.h5", **params)


def test_digits_rows_as_sequences_stratified(tmp_path):
    from sklearn.datasets import load_digits

    path = build_dataset("digits", tmp_path / "d.h5", seed=5)
    arrays, attrs = read_splits(path)
    total = sum(len(arrays[s][1]) for s in arrays)
    assert total == 1797 and attrs["n_classes"] == 10
    images = load_digits().images
    for name in ("train", "val", "test"):
        data, labels = arrays[name]
        assert data.shape[1:] == (8, 8) and 0.0 <= data.min() and data.max() <= 1.0
        # every class shows up in proportion (within 2 samples of the expected count)
        expected = np.bincount(load_digits().target) * len(labels) / 1797
        assert np.abs(np.bincount(labels, minlength=10) - expected).max() <= 2
    # a stored sequence is an image read row by row, pixels / 16
    data, labels = arrays["val"]
    match = np.flatnonzero(np.all(np.isclose(images / 16.0, data[0]), axis=(1, 2)))
    assert len(match) >= 1 and load_digits().target[match[0]] == labels[0]
    again, _ = read_splits(build_dataset("digits", tmp_path / "e.h5", seed=5))
    np.testing.assert_array_equal(again["test"][1], arrays["test"][1])
    other, _ = read_splits(build_dataset("digits", tmp_path / "f.h5", seed=6))
    assert not np.array_equal(other["test"][0], arrays["test"][0])


def test_stratified_helpers():
    labels = np.repeat(np.arange(4), [40, 20, 20, 20])
    subset = stratified_subset(labels, 10, seed=0)
    assert np.bincount(labels[subset]).tolist() == [4, 2, 2, 2]
    train, val, test = stratified_split(labels, 20, 10, seed=1)
    assert np.bincount(labels[val]).tolist() == [8, 4, 4, 4]
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))


def fake_mnist(n_train=40, n_test=20, seed=0):
    """Tiny MNIST-like arrays: uint8 images [N, 28, 28], labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }


IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    for array in (
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        np.linspace(-1, 1, 5).astype(np.float32),
    ):
        path = write_idx(tmp_path / f"a-idx{suffix}", array)
        back = read_idx(path)
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)
    raw = tmp_path / f"a-idx{suffix}"
    if not suffix:  # the standard header: 0, 0, type 0x0D (float32), 1 dimension, size 5
        assert raw.read_bytes()[:8] == bytes([0, 0, 0x0D, 1, 0, 0, 0, 5])


def test_truncated_idx_is_an_error(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


@pytest.mark.parametrize("compressed", [False, True])
def test_mnist_from_idx_files(tmp_path, compressed):
    arrays = fake_mnist()
    src = tmp_path / "raw"
    for key, name in IDX_NAMES.items():
        write_idx(src / (name + (".gz" if compressed else "")), arrays[key])
    path = build_dataset("mnist", tmp_path / "mnist.h5", source_dir=src, val_fraction=0.25)
    out, _ = read_splits(path)
    assert out["train"][0].shape == (30, 28, 28) and out["val"][0].shape == (10, 28, 28)
    assert out["test"][0].shape == (20, 28, 28) and out["test"][0].dtype == np.float32
    np.testing.assert_allclose(out["test"][0], arrays["x_test"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(out["test"][1], arrays["y_test"])
    assert np.bincount(out["val"][1], minlength=10).tolist() == [1] * 10  # stratified
    # train + val are exactly the training images, scaled
    merged = np.concatenate([out["train"][0], out["val"][0]]).reshape(40, -1)
    pixels = np.round(merged * 255).astype(np.uint8)
    assert sorted(map(bytes, pixels)) == sorted(map(bytes, arrays["x_train"].reshape(40, -1)))
    dm = SOENDataModule(path, num_classes=10)
    dm.setup()
    assert (dm.seq_len, dm.input_dim, dm.num_classes) == (28, 28, 10)


def test_mnist_from_npz_with_limits(tmp_path):
    arrays = fake_mnist(n_train=60, n_test=30, seed=1)
    np.savez(tmp_path / "mnist.npz", **arrays)
    path = build_dataset(
        "mnist",
        tmp_path / "out" / "m.h5",
        source_dir=tmp_path,
        limit_train=20,
        limit_test=10,
        seed=4,
    )
    out, _ = read_splits(path)
    assert len(out["train"][1]) + len(out["val"][1]) == 20 and len(out["val"][1]) == 2
    assert np.bincount(out["test"][1], minlength=10).tolist() == [1] * 10
    # the npz may also be given as the source itself; the output beside the npz is the default
    same = build_dataset("mnist", tmp_path / "m2.h5", limit_train=20, limit_test=10, seed=4)
    again, _ = read_splits(same)
    np.testing.assert_array_equal(again["val"][0], out["val"][0])


def test_mnist_npz_named_directly_and_built_file_outlives_its_sources(tmp_path):
    np.savez(tmp_path / "digits-src.npz", **fake_mnist(n_train=30, n_test=10, seed=2))
    out = tmp_path / "m.h5"
    build_dataset("mnist", out, source_dir=tmp_path / "digits-src.npz")
    stamp = os.stat(out).st_mtime_ns
    (tmp_path / "digits-src.npz").unlink()
    assert build_dataset("mnist", out, source_dir=tmp_path / "digits-src.npz") == out
    assert os.stat(out).st_mtime_ns == stamp
    with pytest.raises(DataError, match="does not exist"):  # other params need the sources
        build_dataset("mnist", out, source_dir=tmp_path / "digits-src.npz", seed=9)


def test_mnist_without_files_and_downloads_off_says_what_to_put_where(tmp_path):
    with pytest.raises(DataError) as info:
        build_dataset("mnist", tmp_path / "m.h5", mirrors=[])
    message = str(info.value)
    assert str(tmp_path) in message and "train-images-idx3-ubyte" in message
    assert "mnist.npz" in message
    with pytest.raises(DataError, match="does not exist"):
        build_dataset("mnist", tmp_path / "m.h5", source_dir=tmp_path / "absent", mirrors=[])


def test_mnist_bad_npz_contents(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(DataError, match="missing array"):
        build_dataset("mnist", tmp_path / "m.h5")
    arrays = fake_mnist(n_train=10, n_test=5)
    arrays["y_train"][0] = 12
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(DataError, match="labels outside 0..9"):
        build_dataset("mnist", tmp_path / "m.h5")


def test_gz_idx_is_really_gzip(tmp_path):
    path = write_idx(tmp_path / "y-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    with gzip.open(path, "rb") as f:
        assert f.read()[:4] == bytes([0, 0, 0x08, 1])


def test_dataset_catalog_imports_without_torch():
    """Config validation can list datasets and their params without loading torch/Lightning."""
    code = (
        "import sys, soen_train.data.makers as m; "
        "print(m.DATASETS.names(), 'torch' in sys.modules, 'lightning' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['digits', 'mnist', 'mnist1d', 'pulses'] False False"


def test_write_split_file_checks_its_input(tmp_path):
    good = (np.zeros((2, 3, 1), np.float32), np.zeros(2, np.int64))
    with pytest.raises(DataError, match="expected exactly train, val, test"):
        write_split_file(tmp_path / "w.h5", {"train": good, "val": good})
    with pytest.raises(DataError, match="2 samples but 1 labels"):
        write_split_file(
            tmp_path / "w.h5", {"train": good, "val": good, "test": (good[0], good[1][:1])}
        )
    path = write_split_file(
        tmp_path / "w.h5", {"train": good, "val": good, "test": good}, {"task": "t"}
    )
    arrays, attrs = read_splits(path)
    assert attrs["task"] == "t" and arrays["test"][0].shape == (2, 3, 1)
