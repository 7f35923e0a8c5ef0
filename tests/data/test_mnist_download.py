"""MNIST on first use: downloads from a real HTTP server on 127.0.0.1 serving generated IDX files.

Covers good files, a wrong checksum (refused, the next mirror used), an unreachable mirror
followed by a good one, and no reachable mirror at all (one error naming URLs and folder).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from soen_train.data.errors import DataError
from soen_train.data.makers import build_dataset
from soen_train.data.mnist_download import download_mnist


def read_splits(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with h5py.File(path) as f:
        return {s: (f[s]["data"][()], f[s]["labels"][()]) for s in ("train", "val", "test")}


def test_download_good_files_then_cached(tmp_path, mnist_mirror):
    url, md5, hits, served = mnist_mirror
    dest = tmp_path / "cache"
    paths = download_mnist(dest, [url], md5, progress=False)
    assert [p.name for p in paths] == list(md5)
    for name in md5:
        assert (dest / name).read_bytes() == (served / name).read_bytes()
    assert len(hits) == 4
    download_mnist(dest, [url], md5, progress=False)  # cached: no new request
    assert len(hits) == 4


def test_wrong_checksum_is_refused_and_nothing_kept(tmp_path, mnist_mirror):
    url, md5, _, _ = mnist_mirror
    bad = dict(md5, **{"train-images-idx3-ubyte.gz": "0" * 32})
    with pytest.raises(DataError) as info:
        download_mnist(tmp_path / "cache", [url], bad, progress=False)
    assert "train-images-idx3-ubyte.gz" in str(info.value) and url in str(info.value)
    assert not (tmp_path / "cache" / "train-images-idx3-ubyte.gz").exists()


def test_unreachable_mirror_then_a_good_one(tmp_path, mnist_mirror, dead_url):
    url, md5, hits, _ = mnist_mirror
    dead = dead_url
    download_mnist(tmp_path / "cache", [dead, url], md5, progress=False)
    assert len(hits) == 4 and all((tmp_path / "cache" / n).is_file() for n in md5)


def test_offline_names_urls_and_folder(tmp_path, dead_url):
    dead = dead_url
    with pytest.raises(DataError) as info:
        build_dataset("mnist", tmp_path / "m.h5", source_dir=tmp_path / "raw", mirrors=[dead])
    message = str(info.value)
    assert dead + "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "raw") in message
    assert not (tmp_path / "raw").exists()  # no empty folder left behind


def test_build_dataset_downloads_on_first_use_and_converts_once(tmp_path, mnist_mirror):
    url, md5, hits, served = mnist_mirror
    out = build_dataset(
        "mnist", tmp_path / "m.h5", source_dir=tmp_path / "raw", mirrors=[url], md5=md5,
        val_fraction=0.25,
    )
    splits = read_splits(out)
    assert splits["train"][0].shape == (30, 28, 28) and splits["test"][0].shape == (20, 28, 28)
    assert len(hits) == 4
    stamp = out.stat().st_mtime_ns
    build_dataset("mnist", out, source_dir=tmp_path / "raw", mirrors=[url], md5=md5,
                  val_fraction=0.25)
    assert out.stat().st_mtime_ns == stamp and len(hits) == 4
