"""SOENDataModule on both file layouts: items, properties, splits, label kinds, lazy mode."""

from __future__ import annotations

import h5py
import numpy as np
import torch

from soen_train.data import SOENDataModule
from soen_train.data.datasets import CachedSplit
from soen_train.data.device_batches import DeviceEpochBatches
from soen_train.data.sampling import EpochBatchSampler


def all_batches(loader):
    xs, ys = zip(*list(loader))
    return torch.cat(xs), torch.cat(ys)


def test_split_layout_items_and_properties(split_file):
    dm = SOENDataModule(split_file, batch_size=4)
    dm.setup()
    assert dm.splits == {"train": 10, "val": 4, "test": 5}
    assert (dm.num_classes, dm.input_dim, dm.seq_len, dm.label_kind) == (3, 2, 6, "class")
    assert dm.scaling is None and dm.target_dim == 3
    x, y = dm.dataset("train")[3]
    assert x.shape == (6, 2) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.item() == 3 % 3
    with h5py.File(split_file) as f:
        expected_val = f["val/data"][()]
        expected_labels = f["val/labels"][()]
    # val/test keep file order; batches of 4 then the remainder, no drop_last
    sizes = [len(b[0]) for b in dm.test_dataloader()]
    assert sizes == [4, 1]
    xv, yv = all_batches(dm.val_dataloader())
    np.testing.assert_array_equal(xv.numpy(), expected_val)
    np.testing.assert_array_equal(yv.numpy(), expected_labels)


def test_train_loader_covers_every_sample_once_per_epoch_and_reshuffles(split_file):
    dm = SOENDataModule(split_file, batch_size=3, shuffle_seed=7)
    dm.setup()
    loader = dm.train_dataloader()
    x0, _ = all_batches(loader)
    x1, _ = all_batches(loader)
    ref = dm.dataset("train").inputs
    # each epoch is a permutation of the training split ...
    for xs in (x0, x1):
        assert sorted(map(float, xs[:, 0, 0])) == sorted(map(float, ref[:, 0, 0]))
    # ... and the order differs between epochs
    assert not torch.equal(x0, x1)


def test_shuffle_order_depends_only_on_seed_and_epoch(split_file):
    """A resumed run (new loader, set_epoch(k)) sees the batches an uninterrupted run sees."""

    def epoch_order(seed, epochs):
        dm = SOENDataModule(split_file, batch_size=4, shuffle_seed=seed)
        dm.setup()
        loader = dm.train_dataloader()
        orders = []
        for _ in range(epochs):
            orders.append(all_batches(loader)[0][:, 0, 0])
        return orders, dm

    straight, dm = epoch_order(5, 3)
    resumed = dm.train_dataloader()
    resumed.sampler.set_epoch(2)
    assert torch.equal(all_batches(resumed)[0][:, 0, 0], straight[2])
    other, _ = epoch_order(6, 1)
    assert not torch.equal(other[0], straight[0])


def test_cached_loader_fetches_whole_batches_by_tensor_index(split_file):
    dm = SOENDataModule(split_file, batch_size=4)
    dm.setup()
    loader = dm.train_dataloader()
    assert isinstance(loader, DeviceEpochBatches) and isinstance(loader.split, CachedSplit)
    x, y = loader.split[[0, 2, 5]]
    assert x.shape == (3, 6, 2) and y.tolist() == [0, 2, 2]
    # each batch is the split indexed with one batch of the sampler's order
    orders = list(EpochBatchSampler(len(loader.split), 4, True, dm._shuffle_seed, as_tensor=True))
    batches = list(loader)
    assert len(batches) == len(orders) == len(loader)
    for (bx, by), order in zip(batches, orders):
        ex, ey = loader.split[order]
        assert torch.equal(bx, ex) and torch.equal(by, ey)


def test_setup_twice_does_not_reread_the_file(split_file):
    dm = SOENDataModule(split_file, batch_size=4)
    dm.setup("fit")
    first = dm.dataset("train")
    split_file.unlink()  # a second read would now fail
    dm.setup("test")
    assert dm.dataset("train") is first
    assert len(list(dm.test_dataloader())) == 2


def test_flat_layout_split_sizes_seeded_and_disjoint(h5file):
    n = 50
    data = np.arange(n * 4 * 1, dtype=np.float32).reshape(n, 4, 1)
    path = h5file({"data": data, "labels": (np.arange(n) % 2).astype(np.int64)})

    def split_ids(seed):
        dm = SOENDataModule(path, val_split=0.2, test_split=0.1, split_seed=seed, batch_size=64)
        dm.setup()
        ids = {}
        for name in ("train", "val", "test"):
            ds = dm.dataset(name)
            ids[name] = sorted(int(v) // 4 for v in ds.inputs[:, 0, 0])
        return dm, ids

    dm, ids = split_ids(3)
    assert dm.splits == {"train": 50 - 10 - 5, "val": int(0.2 * 50), "test": int(0.1 * 50)}
    assert sorted(ids["train"] + ids["val"] + ids["test"]) == list(range(n))
    assert split_ids(3)[1] == ids  # same seed, same split
    assert split_ids(4)[1]["val"] != ids["val"]  # the seed matters


def test_flat_layout_float_labels_stay_float(h5file):
    """The original cast flat-file labels to long, truncating regression targets."""
    n = 20
    targets = np.linspace(0.25, 9.75, n * 2).reshape(n, 2).astype(np.float32)
    path = h5file({"data": np.zeros((n, 3, 1), np.float32), "labels": targets})
    dm = SOENDataModule(path)
    dm.setup()
    assert dm.label_kind == "regression" and dm.num_classes is None and dm.target_dim == 2
    y = dm.dataset("train").targets
    assert y.dtype == torch.float32
    assert set(np.round(y.numpy().ravel(), 4)) <= set(np.round(targets.ravel(), 4))
    assert not np.allclose(y.numpy(), np.round(y.numpy()))


def test_float_rank1_regression_targets_get_a_feature_axis(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2})
    for name in ("train", "val", "test"):
        arrays[f"{name}/labels"] = np.full(len(arrays[f"{name}/data"]), 0.5, np.float32)
    dm = SOENDataModule(h5file(arrays))
    dm.setup()
    _, y = dm.dataset("val")[0]
    assert dm.label_kind == "regression" and y.shape == (1,) and y.item() == 0.5


def test_self_supervised_without_labels_yields_input_as_target(h5file, split_arrays):
    arrays = {
        k: v
        for k, v in split_arrays({"train": 4, "val": 2, "test": 2}).items()
        if k.endswith("data")
    }
    dm = SOENDataModule(h5file(arrays), paradigm="self_supervised", mapping="seq2seq")
    dm.setup()
    assert dm.label_kind == "none" and dm.num_classes is None and dm.target_dim == 2
    x, y = next(iter(dm.val_dataloader()))
    assert torch.equal(x, y)


def test_seq2seq_class_labels_keep_minus100_padding(h5file, split_arrays):
    arrays = split_arrays({"train": 3, "val": 2, "test": 2}, steps=5)
    labels = np.array([[0, 1, 2, -100, -100], [1, 1, -100, -100, -100], [2, 0, 1, 1, 0]])
    for name in ("train", "val", "test"):
        arrays[f"{name}/labels"] = labels[: len(arrays[f"{name}/data"])]
    dm = SOENDataModule(h5file(arrays), mapping="seq2seq")
    dm.setup()
    assert dm.label_kind == "seq_class" and dm.num_classes == 3
    _, y = dm.dataset("train")[[0, 1, 2]]
    assert y.dtype == torch.int64
    np.testing.assert_array_equal(y.numpy(), labels)


def test_seq2seq_regression_and_distillation_targets(h5file, split_arrays):
    arrays = split_arrays({"train": 3, "val": 2, "test": 2}, steps=5, features=1)
    rng = np.random.default_rng(1)
    for name in ("train", "val", "test"):
        arrays[f"{name}/labels"] = rng.normal(size=(len(arrays[f"{name}/data"]), 6, 4)).astype(
            np.float32
        )
    path = h5file(arrays)
    dm = SOENDataModule(path, paradigm="distillation", mapping="seq2seq")
    dm.setup()
    assert dm.label_kind == "seq_regression" and dm.target_dim == 4
    x, y = dm.dataset("val")[0]
    assert x.shape == (5, 1) and y.shape == (6, 4)  # teacher history keeps t = 0
    np.testing.assert_allclose(y.numpy(), arrays["val/labels"][0])


def test_integer_declared_class_count_from_file_attribute(h5file, split_arrays):
    arrays = split_arrays({"train": 4, "val": 2, "test": 2}, classes=2)
    dm = SOENDataModule(h5file(arrays, attrs={"n_classes": 5}), num_classes=5)
    dm.setup()
    assert dm.num_classes == 5


def test_lazy_mode_gives_the_same_items_as_cached(h5file, split_arrays):
    arrays = split_arrays({"train": 6, "val": 3, "test": 3}, steps=8, features=2)
    seq = np.tile(np.array([0, 1, 2, 2, 1, 0, -100, -100]), (6, 1))
    for name in ("train", "val", "test"):
        arrays[f"{name}/labels"] = seq[: len(arrays[f"{name}/data"])]
    path = h5file(arrays)
    kwargs = {
        "mapping": "seq2seq",
        "target_seq_len": 5,
        "min_scale": -1.0,
        "max_scale": 1.0,
        "batch_size": 4,
        "shuffle_seed": 3,
    }
    cached = SOENDataModule(path, cache_data=True, **kwargs)
    lazy = SOENDataModule(path, cache_data=False, **kwargs)
    cached.setup()
    lazy.setup()
    assert cached.scaling == lazy.scaling and lazy.seq_len == 5
    for split in ("train", "val", "test"):
        for a, b in zip(cached.dataset(split), lazy.dataset(split)):
            torch.testing.assert_close(a[0], b[0])
            assert torch.equal(a[1], b[1])
    for (xa, ya), (xb, yb) in zip(cached.train_dataloader(), lazy.train_dataloader()):
        torch.testing.assert_close(xa, xb)
        assert torch.equal(ya, yb)


def test_lazy_flat_file_with_workers(h5file):
    n = 30
    data = np.arange(n * 2, dtype=np.float32).reshape(n, 2, 1)
    path = h5file({"data": data, "labels": (np.arange(n) % 3).astype(np.int64)})
    dm = SOENDataModule(path, cache_data=False, num_workers=1, batch_size=8)
    dm.setup()
    xs, ys = all_batches(dm.val_dataloader())
    rows = (xs[:, 0, 0] / 2).long()
    assert torch.equal(ys, rows % 3)
    dm.teardown()
