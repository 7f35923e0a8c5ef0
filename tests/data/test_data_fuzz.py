"""Fuzz: damaged or oddly shaped HDF5 files either load or raise DataError, nothing else."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soen_train.data import DataError, SOENDataModule

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def file_image(arrays) -> bytes:
    """The bytes of an HDF5 file holding ``arrays``, built in memory."""
    with h5py.File("fuzz-image.h5", "w", driver="core", backing_store=False) as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
        f.flush()
        return f.id.get_file_image()


def good_arrays() -> dict:
    """A small valid split file's arrays: [n, 4, 2] float inputs, 3 classes."""
    rng = np.random.default_rng(0)
    arrays = {}
    for name, n in (("train", 6), ("val", 3), ("test", 3)):
        arrays[f"{name}/data"] = rng.normal(size=(n, 4, 2)).astype(np.float32)
        arrays[f"{name}/labels"] = (np.arange(n) % 3).astype(np.int64)
    return arrays


_GOOD_BYTES = file_image(good_arrays())


def load_everything(path: Path, **kwargs) -> bool:
    """Set up cached and lazy modules and read every batch; True if it all loaded."""
    for cache in (True, False):
        dm = SOENDataModule(path, cache_data=cache, batch_size=4, **kwargs)
        dm.setup()
        for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
            for x, y in loader:
                assert x.dtype.is_floating_point and len(x) == len(y)
        dm.teardown()
    return True


damage = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, len(_GOOD_BYTES) - 1)),
    st.tuples(
        st.just("flip"),
        st.lists(
            st.tuples(st.integers(0, len(_GOOD_BYTES) - 1), st.integers(0, 255)),
            min_size=1,
            max_size=8,
        ),
    ),
)


@FUZZ
@given(damage=damage)
def test_damaged_bytes_load_or_raise_data_error(tmp_path, damage):
    kind, what = damage
    raw = bytearray(_GOOD_BYTES)
    if kind == "truncate":
        raw = raw[:what]
    else:
        for offset, value in what:
            raw[offset] = value
    path = tmp_path / "damaged.h5"
    path.write_bytes(bytes(raw))
    try:
        load_everything(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)


SHAPES = {
    "data": [(5, 4, 2), (5, 4), (5,), (5, 4, 2, 1), (0, 4, 2), (5, 3, 2)],
    "labels": [(5,), (5, 4), (5, 4, 3), (4,), (5, 3), (5, 5, 2)],
}
DTYPES = [np.float32, np.float64, np.int64, np.int8, np.uint8, np.bool_, "S3"]


@st.composite
def odd_split_file(draw):
    arrays = {}
    for name in ("train", "val", "test"):
        for key in ("data", "labels"):
            if draw(st.integers(0, 9)) == 0:
                continue  # sometimes a key is missing
            shape = draw(st.sampled_from(SHAPES[key]))
            dtype = np.dtype(draw(st.sampled_from(DTYPES)))
            if dtype.kind == "f":
                fill = draw(st.sampled_from([0.0, 1.0, -1.0, 7.5, np.nan, np.inf]))
            elif dtype.kind == "S":
                fill = b"abc"
            else:
                fill = draw(st.sampled_from([0, 1, 2, -1, -100, 9]))
                fill = bool(fill) if dtype.kind == "b" else np.array(fill).astype(dtype)
            array = np.zeros(shape, dtype=dtype)
            if array.size:
                array.flat[draw(st.integers(0, array.size - 1))] = fill
            arrays[f"{name}/{key}"] = array
    options = draw(
        st.fixed_dictionaries(
            {
                "mapping": st.sampled_from(["seq2static", "seq2seq"]),
                "paradigm": st.sampled_from(["supervised", "self_supervised", "distillation"]),
                "target_seq_len": st.sampled_from([None, 3]),
                "num_classes": st.sampled_from([None, 2, 3]),
            }
        )
    )
    return arrays, options


@FUZZ
@given(case=odd_split_file())
def test_odd_shapes_dtypes_and_values_load_or_raise_data_error(tmp_path, case):
    arrays, options = case
    path = tmp_path / "odd.h5"
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    try:
        load_everything(path, **options)
    except DataError as exc:
        assert "\n" not in str(exc)
