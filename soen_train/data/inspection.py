"""Open a dataset file and check everything in it before any training starts.

Decides each split's keys and rows (split or flat layout), checks ranks, sizes, dtypes and
that all splits agree, reads every value once to reject NaN/Inf inputs, bad tokens and
out-of-range labels, infers the class count and measures the training inputs' exact range.
With caching the raw arrays read on the way are kept, so the file is read only once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from soen_train.data.errors import DataError
from soen_train.data.hdf5_source import SPLITS, ArrayInfo, HDF5Source
from soen_train.data.input_checks import InputChecker
from soen_train.data.labels import (
    LabelChecker,
    LabelLayout,
    check_label_values,
    declared_num_classes,
    label_layout,
    resolve_num_classes,
)
from soen_train.data.options import DataOptions
from soen_train.data.splitting import flat_split_rows


@dataclass
class SplitRef:
    """Where one split lives in the file and what its arrays look like."""

    name: str
    data_key: str
    label_key: str | None
    rows: np.ndarray | None  # flat files: the rows of this split; split files: None (all)
    n: int
    steps: int  # T as stored
    layout: LabelLayout | None = None


@dataclass
class InspectedData:
    """What a checked file holds: split locations, shapes, labels and training-input range."""

    refs: dict[str, SplitRef]
    input_dim: int
    label_layout: LabelLayout | None  # None: no labels used (self-supervised)
    num_classes: int | None  # class labels only
    train_range: tuple[float, float]  # exact (min, max) of the raw training inputs
    raw: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)


def inspect_data_file(
    path: Path, options: DataOptions, target_seq_len: int | None
) -> InspectedData:
    """Check ``path`` against ``options``; raw arrays are kept when ``options.cache_data``."""
    inspector = _FileInspector(path, options, target_seq_len)
    with contextlib.closing(HDF5Source(path)) as source:
        refs = inspector.plan(source)
        inspector.check_shapes(source, refs)
        train = inspector.scan(source, refs)["train"]
        inspector.resolve_classes(source)
    assert inspector.input_dim is not None
    return InspectedData(
        refs=refs,
        input_dim=inspector.input_dim,
        label_layout=inspector.label_layout,
        num_classes=inspector.num_classes,
        train_range=(train.lo, train.hi),
        raw=inspector.raw,
    )


class _FileInspector:
    """The individual checks; collects what they learn on the way."""

    def __init__(self, path: Path, options: DataOptions, target_seq_len: int | None) -> None:
        self.path = path
        self.options = options
        self.target_seq_len = target_seq_len
        self.input_dim: int | None = None
        self.label_layout: LabelLayout | None = None
        self.num_classes: int | None = None
        self.label_checkers: dict[str, LabelChecker] = {}
        self.raw: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}

    def plan(self, source: HDF5Source) -> dict[str, SplitRef]:
        """Keys and rows of each split, per the file's layout."""
        wants_labels = self.options.paradigm != "self_supervised"
        if source.layout == "split":
            refs = {}
            for name in SPLITS:
                info = source.info(f"{name}/data")
                refs[name] = SplitRef(
                    name=name,
                    data_key=info.key,
                    label_key=f"{name}/labels" if wants_labels else None,
                    rows=None,
                    n=info.shape[0] if info.shape else 0,
                    steps=0,
                )
            return refs
        if not source.has("data"):
            raise DataError(
                f"{self.path}: has neither train/val/test groups nor a root 'data' dataset; "
                "expected groups train, val, test each with 'data' and 'labels', or root 'data' "
                "[N, T, D] and 'labels'"
            )
        info = source.info("data")
        n = info.shape[0] if info.shape else 0
        if n == 0:
            raise DataError(f"{self.path}: 'data' holds no samples")
        rows = flat_split_rows(
            n, self.options.val_split, self.options.test_split, self.options.split_seed, self.path
        )
        return {
            name: SplitRef(
                name=name,
                data_key="data",
                label_key="labels" if wants_labels else None,
                rows=rows[name],
                n=len(rows[name]),
                steps=0,
            )
            for name in SPLITS
        }

    def check_shapes(self, source: HDF5Source, refs: dict[str, SplitRef]) -> None:
        """Ranks, sizes and label layouts of every split; all splits must agree."""
        tokens = self.options.input_encoding == "one_hot"
        features: dict[str, int] = {}
        for ref in refs.values():
            info = source.info(ref.data_key)
            self.check_input_rank(info, tokens)
            if ref.n == 0:
                raise DataError(
                    f"{self.path}: '{ref.data_key}' has no samples: the {ref.name} split is empty"
                )
            ref.steps = info.shape[1]
            if ref.steps == 0:
                raise DataError(f"{self.path}: '{ref.data_key}' has sequences of length 0")
            features[ref.name] = 1 if tokens else info.shape[2]
        if len(set(features.values())) > 1:
            sizes = ", ".join(f"{k} D={v}" for k, v in features.items())
            raise DataError(
                f"{self.path}: the splits have different feature sizes ({sizes}); every split "
                "needs the same number of input features"
            )
        steps = {ref.name: ref.steps for ref in refs.values()}
        if len(set(steps.values())) > 1 and self.target_seq_len is None:
            sizes = ", ".join(f"{k} T={v}" for k, v in steps.items())
            raise DataError(
                f"{self.path}: the splits have different sequence lengths ({sizes}); set "
                "data.target_seq_len to resample them all to one length"
            )
        self.input_dim = self.options.vocab_size if tokens else features["train"]
        if self.options.paradigm != "self_supervised":
            self.label_layout = self.check_labels(source, refs)

    def check_input_rank(self, info: ArrayInfo, tokens: bool) -> None:
        """Raw inputs must be [N, T, D]; one_hot tokens [N, T] or [N, T, 1]."""
        shape = info.shape
        if tokens:
            if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1):
                if info.dtype.kind == "b":
                    raise DataError(
                        f"{self.path}: '{info.key}' is boolean; one_hot inputs are integer tokens"
                    )
                return
            raise DataError(
                f"{self.path}: '{info.key}' has shape {list(shape)}; input_encoding='one_hot' "
                "expects integer tokens [N, T] or [N, T, 1]"
            )
        if len(shape) != 3:
            raise DataError(
                f"{self.path}: '{info.key}' has rank {len(shape)} (shape {list(shape)}); inputs "
                "must be [N, T, D] (samples, time steps, features); add a feature axis of size 1 "
                "for single-channel sequences"
            )

    def check_labels(self, source: HDF5Source, refs: dict[str, SplitRef]) -> LabelLayout:
        """Every split's labels exist, fit the mapping/paradigm and are of one kind."""
        layouts = {}
        for ref in refs.values():
            assert ref.label_key is not None
            if not source.has(ref.label_key):
                raise DataError(
                    f"{self.path}: missing dataset '{ref.label_key}' (labels for the {ref.name} "
                    f"split); paradigm '{self.options.paradigm}' needs labels (use "
                    "training.paradigm=self_supervised for unlabelled data)"
                )
            info = source.info(ref.label_key)
            # A flat file's labels are checked against all its rows, a split's against the split.
            n_rows = ref.n if ref.rows is None else source.info(ref.data_key).shape[0]
            layout = label_layout(
                info, n_rows, ref.steps, self.options.mapping, self.options.paradigm, self.path
            )
            ref.layout = layout
            layouts[ref.name] = layout
        first = layouts["train"]
        for name, layout in layouts.items():
            if (layout.kind, layout.feature_dim, layout.extra_steps) != (
                first.kind,
                first.feature_dim,
                first.extra_steps,
            ):
                raise DataError(
                    f"{self.path}: the {name} labels ({layout.kind}, K={layout.feature_dim}) differ "
                    f"from the train labels ({first.kind}, K={first.feature_dim}); every split "
                    "needs the same kind of labels"
                )
        return first

    def scan(self, source: HDF5Source, refs: dict[str, SplitRef]) -> dict[str, InputChecker]:
        """Check every value; keep the raw arrays when caching. Returns per-split input stats."""
        vocab = self.options.vocab_size if self.options.input_encoding == "one_hot" else None
        checkers: dict[str, InputChecker] = {}
        for ref in refs.values():
            x_check = InputChecker(self.path, ref.data_key, vocab, ref.rows)
            y_check = (
                LabelChecker(ref.layout, self.path, ref.label_key, ref.rows)
                if ref.layout is not None and ref.label_key is not None
                else None
            )
            if self.options.cache_data:
                raw_x = source.read(ref.data_key, ref.rows)
                x_check.check(raw_x, 0)
                raw_y = None
                if y_check is not None:
                    raw_y = source.read(ref.label_key, ref.rows)
                    y_check.check(raw_y, 0)
                self.raw[ref.name] = (raw_x, raw_y)
            else:
                for offset, block in source.iter_chunks(ref.data_key, ref.rows):
                    x_check.check(block, offset)
                if y_check is not None:
                    for offset, block in source.iter_chunks(ref.label_key, ref.rows):
                        y_check.check(block, offset)
            checkers[ref.name] = x_check
            if y_check is not None:
                self.label_checkers[ref.name] = y_check
        return checkers

    def resolve_classes(self, source: HDF5Source) -> None:
        """The class count from labels/file attribute, checked against data.num_classes."""
        given = self.options.num_classes
        layout = self.label_layout
        if layout is None or not layout.is_class:
            if given is not None:
                what = (
                    "self-supervised (the target is the input)"
                    if layout is None
                    else f"float {layout.kind} targets"
                )
                raise DataError(
                    f"data.num_classes={given} is only for class labels, but {self.path} gives "
                    f"{what}; leave data.num_classes null"
                )
            return
        if given is not None:
            for checker in self.label_checkers.values():
                checker.check_below(given)
        declared = source.root_attr("num_classes")
        if declared is None:
            declared = source.root_attr("n_classes")
        max_label = max(c.max_label for c in self.label_checkers.values())
        self.num_classes = resolve_num_classes(
            given, max_label, declared_num_classes(declared, self.path), self.path
        )


@dataclass
class LabelSummary:
    """What the labels of a file are, found without reading its inputs (for pre-flight checks)."""

    layout: LabelLayout | None
    num_classes: int | None
    seq_len: int  # time steps of the training inputs as stored


def inspect_labels(
    path: Path, options: DataOptions, target_seq_len: int | None, class_losses: tuple = ()
) -> LabelSummary:
    """The shape, label and class-count checks of ``inspect_data_file`` on the labels alone.

    Labels are small next to inputs, so this runs before any setup; the inputs' values are
    checked when the data module reads them.

    Args:
        path: the HDF5 data file.
        options: the data settings (mapping, paradigm, splits, num_classes).
        target_seq_len: the sequence length the inputs are resampled to, or None for theirs.
        class_losses: the configured losses that need integer class labels.
    """
    inspector = _FileInspector(path, options, target_seq_len)
    with contextlib.closing(HDF5Source(path)) as source:
        refs = inspector.plan(source)
        inspector.check_shapes(source, refs)
        declared = source.root_attr("num_classes")
        if declared is None:
            declared = source.root_attr("n_classes")
        for ref in refs.values():
            if ref.layout is None or ref.label_key is None:
                continue
            checker = LabelChecker(ref.layout, path, ref.label_key, ref.rows)
            labels = source.read(ref.label_key, ref.rows)
            checker.check(labels, 0)
            if ref.name == "train":
                check_label_values(
                    labels, ref.label_key, ref.layout, path, class_losses,
                    options.num_classes, declared_num_classes(declared, path),
                )
            inspector.label_checkers[ref.name] = checker
        inspector.resolve_classes(source)
    return LabelSummary(
        layout=inspector.label_layout, num_classes=inspector.num_classes, seq_len=refs["train"].steps
    )
