"""``SOENDataModule``: HDF5 sequences -> checked, preprocessed train/val/test data loaders.

Built once per module instance (``setup`` may be called any number of times): the file is
opened, every array checked (shapes, dtypes, finite values, label ranges), scaling statistics
taken from the training split, and the splits cached as tensors (or read per item when
``cache_data`` is false). Errors are ``DataError`` with the file, key and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from soen_train.data.datasets import CachedSplit, LazySplit
from soen_train.data.device_batches import DeviceEpochBatches
from soen_train.data.errors import DataError
from soen_train.data.hdf5_source import SPLITS
from soen_train.data.inspection import SplitRef, inspect_data_file
from soen_train.data.labels import LabelLayout
from soen_train.data.options import DataOptions
from soen_train.data.preprocessing import MinMaxScaling, Preprocessor
from soen_train.data.sampling import EpochBatchSampler

STATE_VERSION = 1

# what the *_dataloader methods return: device batches of cached splits, else a DataLoader
Batches = DataLoader | DeviceEpochBatches


class SOENDataModule(L.LightningDataModule):
    """Lightning data module for SOEN sequence datasets stored as HDF5.

    Arguments are named like the keys of the ``data`` config section (plus ``num_workers``,
    ``mapping``, ``paradigm`` and ``shuffle_seed`` from ``training``). Items are
    ``(x float32 [T, D], y)``: y int64 class labels, float32 regression targets, or x itself
    for self-supervised reconstruction.
    """

    def __init__(
        self,
        data_path: str | os.PathLike,
        batch_size: int = 32,
        cache_data: bool = True,
        target_seq_len: int | None = None,
        min_scale: float | None = None,
        max_scale: float | None = None,
        input_encoding: str = "raw",
        vocab_size: int | None = None,
        num_classes: int | None = None,
        val_split: float = 0.2,
        test_split: float = 0.1,
        split_seed: int = 42,
        num_workers: int = 0,
        mapping: str = "seq2static",
        paradigm: str = "supervised",
        shuffle_seed: int | None = None,
    ) -> None:
        super().__init__()
        self.options = DataOptions(
            data_path=data_path,
            batch_size=batch_size,
            cache_data=cache_data,
            target_seq_len=target_seq_len,
            min_scale=min_scale,
            max_scale=max_scale,
            input_encoding=input_encoding,
            vocab_size=vocab_size,
            num_classes=num_classes,
            val_split=val_split,
            test_split=test_split,
            split_seed=split_seed,
            num_workers=num_workers,
            mapping=mapping,
            paradigm=paradigm,
            shuffle_seed=shuffle_seed,
        )
        self.path = Path(os.fspath(data_path)).expanduser()
        self._target_seq_len = target_seq_len
        self._scaling: MinMaxScaling | None = None
        self._restored_scaling: MinMaxScaling | None = None
        self._refs: dict[str, SplitRef] = {}
        self._raw: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        self._datasets: dict[str, Dataset] = {}
        self._num_classes: int | None = None
        self._input_dim: int | None = None
        self._label_layout: LabelLayout | None = None
        self._shuffle_seed: int | None = None
        self._built = False

    # ------------------------------------------------------------------ setup
    def setup(self, stage: str | None = None) -> None:
        """Read, check and prepare every split once; later calls do nothing."""
        if self._built:
            return
        found = inspect_data_file(self.path, self.options, self._target_seq_len)
        self._refs = found.refs
        self._raw = found.raw
        self._input_dim = found.input_dim
        self._label_layout = found.label_layout
        self._num_classes = found.num_classes
        self._scaling = self._choose_scaling(found.train_range)
        seed = self.options.shuffle_seed
        self._shuffle_seed = int(seed if seed is not None else torch.initial_seed() % (2**62))
        self._build_datasets()
        self._built = True

    def _choose_scaling(self, train_range: tuple[float, float]) -> MinMaxScaling | None:
        """Scaling restored from a checkpoint, else taken from the training split's min/max."""
        opts = self.options
        if not opts.scaling_requested:
            return None
        if self._restored_scaling is not None:
            return self._restored_scaling
        assert opts.min_scale is not None and opts.max_scale is not None
        return MinMaxScaling(
            lo=train_range[0],
            hi=train_range[1],
            min_scale=opts.min_scale,
            max_scale=opts.max_scale,
        )

    def _preprocessor(self) -> Preprocessor:
        return Preprocessor(
            target_seq_len=self._target_seq_len,
            scaling=self._scaling,
            tokens=self.options.input_encoding == "one_hot",
            labels=self._label_layout,
        )

    def _build_datasets(self) -> None:
        """(Re)build the split datasets from the raw arrays or file with current settings."""
        prep = self._preprocessor()
        vocab = self.options.vocab_size if prep.tokens else None
        for name, ref in self._refs.items():
            if self.options.cache_data:
                raw_x, raw_y = self._raw[name]
                inputs = prep.inputs(raw_x)
                targets = prep.targets(raw_y) if raw_y is not None else None
                self._datasets[name] = CachedSplit(inputs, targets, vocab)
            else:
                self._datasets[name] = LazySplit(
                    self.path, ref.data_key, ref.label_key, ref.rows, ref.n, prep, vocab
                )

    # ------------------------------------------------------------- properties
    def _require_setup(self, what: str) -> None:
        if not self._built:
            raise DataError(
                f"SOENDataModule.{what} is known only after setup(); call setup() first"
            )

    @property
    def num_classes(self) -> int | None:
        """Number of classes for class labels (None for regression/self-supervised data)."""
        self._require_setup("num_classes")
        return self._num_classes

    @property
    def input_dim(self) -> int:
        """Features per time step the model receives (vocab_size for one_hot inputs)."""
        self._require_setup("input_dim")
        assert self._input_dim is not None
        return self._input_dim

    @property
    def seq_len(self) -> int:
        """Time steps per sequence after resampling."""
        self._require_setup("seq_len")
        return (
            self._target_seq_len if self._target_seq_len is not None else self._refs["train"].steps
        )

    @property
    def label_kind(self) -> str:
        """class | regression | seq_class | seq_regression | none (target = input)."""
        self._require_setup("label_kind")
        return "none" if self._label_layout is None else self._label_layout.kind

    @property
    def target_dim(self) -> int:
        """Size of the model output the targets need: classes, K, or input_dim (reconstruction)."""
        self._require_setup("target_dim")
        layout = self._label_layout
        if layout is None:
            return self.input_dim
        if layout.is_class:
            assert self._num_classes is not None
            return self._num_classes
        assert layout.feature_dim is not None
        return layout.feature_dim

    @property
    def scaling(self) -> tuple[float, float] | None:
        """(lo, hi) input statistics used for min/max scaling, or None when not scaling."""
        if self._scaling is None:
            return None
        return (self._scaling.lo, self._scaling.hi)

    @property
    def splits(self) -> dict[str, int]:
        """Number of samples in each split."""
        self._require_setup("splits")
        return {name: ref.n for name, ref in self._refs.items()}

    def dataset(self, split: str) -> Dataset:
        """The prepared dataset of ``split`` (train, val or test)."""
        self._require_setup("dataset()")
        if split not in self._datasets:
            raise DataError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._datasets[split]

    # ------------------------------------------------------------ dataloaders
    def _loader(self, split: str, shuffle: bool, sharded: bool = True) -> Batches:
        """Batches of ``split``; with ``sharded``, only this process's share under DDP."""
        self._require_setup(f"{split}_dataloader()")
        ds = self._datasets[split]
        assert self._shuffle_seed is not None
        cached = isinstance(ds, CachedSplit)
        trainer = self.trainer if sharded else None  # set while a Trainer runs this module
        if trainer is not None and split != "train" and 0 < len(ds) < trainer.world_size:
            # a process without a batch would skip the evaluation its peers wait for
            raise DataError(
                f"the {split} split has {len(ds)} sample(s), fewer than the {trainer.world_size} "
                f"processes of training.devices x training.num_nodes; give it at least "
                f"{trainer.world_size} or train on fewer devices"
            )
        sampler = EpochBatchSampler(
            len(ds),
            self.options.batch_size,
            shuffle,
            self._shuffle_seed,
            as_tensor=cached,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
            equal_steps=split == "train",
        )
        if cached:
            # whole batches cut from the split's tensors on the training device: no per-item
            # calls, no collate, no host-to-device copy per step
            device = trainer.strategy.root_device if trainer is not None else None
            return DeviceEpochBatches(ds, sampler, device)
        workers = self.options.num_workers
        return DataLoader(
            ds, batch_sampler=sampler, num_workers=workers, persistent_workers=workers > 0
        )

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Moves the ``(x, y)`` tensors of a batch (a no-op for device batches) without
        Lightning's generic walk over the batch, which costs about as much per step as a tiny
        SOEN's forward pass."""
        if isinstance(batch, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in batch):
            return tuple(t.to(device) for t in batch)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def ordered_dataloader(self, split: str) -> Batches:
        """Batches of any split in file order (evaluation and prediction)."""
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._loader(split, shuffle=False, sharded=False)

    def train_dataloader(self) -> Batches:
        """Shuffled training batches (order fixed by shuffle_seed and the epoch)."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> Batches:
        """Validation batches in file order."""
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> Batches:
        """Test batches in file order."""
        return self._loader("test", shuffle=False)

    def teardown(self, stage: str | None = None) -> None:
        """Close per-item file handles (they reopen on demand)."""
        for ds in self._datasets.values():
            if isinstance(ds, LazySplit):
                ds.close()

    # ------------------------------------------------------------- run state
    def set_target_seq_len(self, length: int | None) -> None:
        """Resample every split to ``length`` steps from now on (None: the stored length).

        Used by the sequence-length scheduler. Cached splits are rebuilt in place; loaders that
        run worker processes see the change only when they are recreated.
        """
        _check_seq_len(length)
        if length == self._target_seq_len:
            return
        self._target_seq_len = length
        if self._built:
            self._rebuild()

    def _rebuild(self) -> None:
        """Re-apply resampling/scaling after a change, keeping the dataset objects."""
        prep = self._preprocessor()
        for name, ds in self._datasets.items():
            if isinstance(ds, CachedSplit):
                raw_x, raw_y = self._raw[name]
                # Assign into the existing objects so loaders already handed out see the change.
                ds.inputs = prep.inputs(raw_x)
                ds.targets = prep.targets(raw_y) if raw_y is not None else None
            elif isinstance(ds, LazySplit):
                ds.preprocessor = prep

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep so inference prepares inputs like training did."""
        scaling = self._scaling or self._restored_scaling
        return {
            "version": STATE_VERSION,
            "scaling": None if scaling is None else asdict(scaling),
            "target_seq_len": self._target_seq_len,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the scaling statistics (and current target_seq_len) saved by ``state_dict``.

        Works before or after ``setup``; after it, the cached splits are re-processed.
        """
        if not isinstance(state_dict, Mapping) or state_dict.get("version") != STATE_VERSION:
            raise DataError(
                f"cannot restore the data module state {state_dict!r}: expected a mapping with "
                f"version {STATE_VERSION} written by SOENDataModule.state_dict()"
            )
        restored = self._saved_scaling(state_dict.get("scaling"))
        length = state_dict.get("target_seq_len")
        _check_seq_len(length)
        changed = restored != self._scaling or length != self._target_seq_len
        self._restored_scaling = restored
        self._target_seq_len = length
        if self._built and changed:
            self._scaling = restored
            self._rebuild()

    def _saved_scaling(self, saved: Any) -> MinMaxScaling | None:
        """The checkpoint's scaling, checked against this module's min_scale/max_scale."""
        opts = self.options
        if (saved is None) != (not opts.scaling_requested):
            raise DataError(
                "the checkpoint's data scaling does not match the config: the checkpoint was "
                f"trained with scaling {saved}, the config has min_scale={opts.min_scale}, "
                f"max_scale={opts.max_scale}"
            )
        if saved is None:
            return None
        try:
            scaling = MinMaxScaling(
                **{k: float(saved[k]) for k in ("lo", "hi", "min_scale", "max_scale")}
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"the checkpoint's data scaling {saved!r} is malformed; expected numbers lo, hi, "
                "min_scale, max_scale"
            ) from exc
        if (scaling.min_scale, scaling.max_scale) != (opts.min_scale, opts.max_scale):
            raise DataError(
                f"the checkpoint scaled inputs into [{scaling.min_scale}, {scaling.max_scale}] "
                f"but the config asks for [{opts.min_scale}, {opts.max_scale}]; use the same "
                "data.min_scale/max_scale to resume"
            )
        return scaling


def _check_seq_len(length: object) -> None:
    """A DataError unless ``length`` is None or an integer >= 1."""
    if length is not None and (
        isinstance(length, bool) or not isinstance(length, int) or length < 1
    ):
        raise DataError(f"target_seq_len={length!r} is not valid; expected an integer >= 1")
