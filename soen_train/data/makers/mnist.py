"""``mnist``: real MNIST from local files, fed row by row ([N, 28 steps, 28 features] in [0, 1]).

Reads, from ``source_dir`` (default: the folder of the output HDF5 file), either the four IDX
files of the MNIST distribution (train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; each may be .gz) or one ``mnist.npz`` with
arrays x_train, y_train, x_test, y_test. When neither is there, the four ``.gz`` files are
downloaded into ``source_dir`` from ``mirrors`` (each checked against ``md5``; see
``soen_train.data.mnist_download``); an empty ``mirrors`` list turns downloading off. ``limit_train`` /
``limit_test`` keep a seeded class-proportional subset for quick runs; the validation part
is taken (class-proportionally, seeded) from the training images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from soen_train.data.errors import DataError
from soen_train.data.idx_format import read_idx
from soen_train.data.makers.catalog import DATASETS, DIGIT_CLASS_NAMES, DatasetMaker, MadeDataset
from soen_train.data.makers.params import Param
from soen_train.data.makers.stratify import holdout_splits, stratified_subset
from soen_train.data.mnist_download import DEFAULT_MD5, DEFAULT_MIRRORS, download_mnist

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
NPZ_NAME = "mnist.npz"
PIXEL_MAX = 255.0


@dataclass(frozen=True)
class MnistFiles:
    """The located source: four IDX files, or one npz (same four arrays inside)."""

    idx: dict[str, Path] | None
    npz: Path | None

    def paths(self) -> list:
        """Every file the dataset is read from."""
        return sorted(self.idx.values()) if self.idx else [self.npz]


def _find_idx(directory: Path, base: str) -> Path | None:
    dotted = base.replace("-idx", ".idx")  # some mirrors name them train-images.idx3-ubyte
    for name in (base, base + ".gz", dotted, dotted + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def locate_mnist(source: Path) -> MnistFiles:
    """Find the MNIST files in ``source`` (a folder, or an .npz file); clear error if absent."""
    if source.is_file() and source.suffix == ".npz":
        return MnistFiles(idx=None, npz=source)
    if not source.is_dir():
        raise DataError(
            f"MNIST source {source} does not exist; create that folder and put the MNIST files "
            f"there: {', '.join(IDX_FILES.values())} (each may be .gz), or one {NPZ_NAME} with "
            "x_train, y_train, x_test, y_test"
        )
    found = {key: _find_idx(source, base) for key, base in IDX_FILES.items()}
    if all(found.values()):
        return MnistFiles(idx={k: v for k, v in found.items() if v is not None}, npz=None)
    if (source / NPZ_NAME).is_file():
        return MnistFiles(idx=None, npz=source / NPZ_NAME)
    missing = [IDX_FILES[k] for k, v in found.items() if v is None]
    raise DataError(
        f"MNIST files not found in {source} (missing {', '.join(missing)}); put the four MNIST "
        f"IDX files {', '.join(IDX_FILES.values())} (plain or .gz) or one {NPZ_NAME} with "
        "arrays x_train, y_train, x_test, y_test in that folder (or name another folder with "
        "the dataset parameter source_dir)."
    )


def _load_arrays(files: MnistFiles) -> dict[str, np.ndarray]:
    if files.idx is not None:
        return {key: read_idx(path) for key, path in files.idx.items()}
    assert files.npz is not None
    try:
        with np.load(files.npz, allow_pickle=False) as npz:
            missing = [k for k in IDX_FILES if k not in npz.files]
            if missing:
                raise DataError(
                    f"{files.npz}: missing array(s) {', '.join(missing)}; an MNIST npz needs "
                    f"x_train, y_train, x_test, y_test (it has {', '.join(npz.files)})"
                )
            return {key: np.asarray(npz[key]) for key in IDX_FILES}
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{files.npz}: cannot read as an .npz archive ({exc})") from exc


def _images_in_unit_range(images: np.ndarray, where: str) -> np.ndarray:
    """[N, H, W] pixels -> float32 in [0, 1] (integer 0..255, or floats already in [0, 1])."""
    if images.ndim != 3:
        raise DataError(f"{where}: images have shape {list(images.shape)}; expected [N, 28, 28]")
    if images.dtype.kind in "iu":
        if images.size and (images.min() < 0 or images.max() > PIXEL_MAX):
            raise DataError(f"{where}: pixel values outside 0..255")
        return images.astype(np.float32) / np.float32(PIXEL_MAX)
    if images.dtype.kind == "f":
        if images.size and not (
            np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
        ):
            raise DataError(f"{where}: float pixels must be finite and in [0, 1]")
        return images.astype(np.float32)
    raise DataError(f"{where}: images have dtype {images.dtype}; expected uint8 pixels")


def _checked_labels(labels: np.ndarray, n: int, where: str) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind not in "iu":
        raise DataError(f"{where}: labels have dtype {labels.dtype}; expected integers 0..9")
    if len(labels) != n:
        raise DataError(f"{where}: {len(labels)} labels for {n} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels outside 0..9")
    return labels.astype(np.int64)


class MnistMaker(DatasetMaker):
    """MNIST converted from the user's local IDX or npz files."""

    name = "mnist"
    version = 1
    params: ClassVar[Mapping[str, Param]] = {
        "source_dir": Param(
            None,
            "path",
            allow_none=True,
            help="folder with the MNIST files (default: the output file's folder)",
        ),
        "limit_train": Param(
            None,
            "int",
            minimum=2,
            allow_none=True,
            help="keep this many training images (train + val)",
        ),
        "limit_test": Param(
            None, "int", minimum=1, allow_none=True, help="keep this many test images"
        ),
        "val_fraction": Param(
            0.1,
            "float",
            minimum=0.01,
            maximum=0.5,
            help="share of the training images used for validation",
        ),
        "seed": Param(42, "int", minimum=0, help="seed of the subsets and the val split"),
        "mirrors": Param(
            list(DEFAULT_MIRRORS),
            "str_list",
            help="base URLs tried in order when the files are missing ([] = never download)",
        ),
        "md5": Param(
            dict(DEFAULT_MD5),
            "str_map",
            help="file name -> MD5 of each downloaded .gz file (override for other mirrors)",
        ),
    }

    def _source(self, params: Mapping[str, Any], out_path: Path) -> Path:
        given = params["source_dir"]
        return Path(given) if given is not None else out_path.parent

    def fetch(self, params: Mapping[str, Any], out_path: Path) -> None:
        """Download the four IDX files into ``source_dir`` unless they (or an npz) are there."""
        source = self._source(params, out_path)
        try:
            locate_mnist(source)
            return
        except DataError:
            if not params["mirrors"] or (source.suffix == ".npz" and not source.is_dir()):
                raise
        download_mnist(source, params["mirrors"], params["md5"])

    def sources(self, params: Mapping[str, Any], out_path: Path) -> dict[str, Any]:
        """Names, sizes and modification times of the source files (a change forces a rebuild)."""
        files = locate_mnist(self._source(params, out_path))
        return {str(p): [p.stat().st_size, p.stat().st_mtime_ns] for p in files.paths()}

    def make(self, params: Mapping[str, Any], out_path: Path) -> MadeDataset:
        """Read, check, subset and split the MNIST arrays."""
        files = locate_mnist(self._source(params, out_path))
        arrays = _load_arrays(files)
        where = {k: str(files.idx[k]) if files.idx else f"{files.npz}[{k}]" for k in IDX_FILES}
        x_train = _images_in_unit_range(arrays["x_train"], where["x_train"])
        x_test = _images_in_unit_range(arrays["x_test"], where["x_test"])
        y_train = _checked_labels(arrays["y_train"], len(x_train), where["y_train"])
        y_test = _checked_labels(arrays["y_test"], len(x_test), where["y_test"])
        if x_train.shape[1:] != x_test.shape[1:]:
            raise DataError(
                f"MNIST train images are {list(x_train.shape[1:])} but test images are "
                f"{list(x_test.shape[1:])}"
            )
        seed = params["seed"]
        x_train, y_train = self._limit(x_train, y_train, params["limit_train"], seed)
        x_test, y_test = self._limit(x_test, y_test, params["limit_test"], seed + 1)
        n_val = max(1, int(params["val_fraction"] * len(y_train)))
        if n_val >= len(y_train):
            raise DataError(
                f"dataset 'mnist': {len(y_train)} training images leave none for training after "
                f"taking {n_val} for validation; raise limit_train"
            )
        splits = holdout_splits(x_train, y_train, x_test, y_test, n_val, seed + 2)
        return MadeDataset.classification(
            splits,
            task="mnist",
            description="MNIST digits, one image row per time step, pixels / 255",
            class_names=DIGIT_CLASS_NAMES,
            seed=seed,
            source=";".join(str(p) for p in files.paths()),
        )

    @staticmethod
    def _limit(
        x: np.ndarray, y: np.ndarray, limit: int | None, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if limit is None or limit >= len(y):
            return x, y
        keep = stratified_subset(y, limit, seed)
        return x[keep], y[keep]


DATASETS.register("mnist")(MnistMaker())
