"""What the labels of a dataset are, checked against the task's mapping and paradigm.

Label kinds:
- ``class``: seq2static classification, integer ``[N]``;
- ``regression``: seq2static regression, float ``[N, K]`` (float ``[N]`` is read as K = 1);
- ``seq_class``: seq2seq classification, integer ``[N, T]``, ``-100`` marks padding;
- ``seq_regression``: seq2seq regression, float ``[N, T, K]`` (float ``[N, T]`` -> K = 1), and
  distillation targets (teacher histories ``[N, T+1, C]`` or ``[N, T, C]``);
- ``none``: self-supervised reconstruction, the target is the input itself.
Integer (or bool) dtypes mean class labels, float dtypes mean regression targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soen_train.data.errors import DataError
from soen_train.data.hdf5_source import ArrayInfo
from soen_train.data.input_checks import check_finite, file_row

PADDING_LABEL = -100  # ignored by cross entropy; only meaningful for seq2seq labels

CLASS_KINDS = ("class", "seq_class")
SEQUENCE_KINDS = ("seq_class", "seq_regression")


@dataclass(frozen=True)
class LabelLayout:
    """How a split's stored labels map to training targets."""

    kind: str
    extra_steps: int = 0  # label steps minus input steps: 1 for histories that include t = 0
    add_feature_axis: bool = False  # float [N] or [N, T] targets get a trailing axis of size 1
    feature_dim: int | None = None  # K for regression kinds

    @property
    def is_class(self) -> bool:
        """True for integer class labels (seq2static or seq2seq)."""
        return self.kind in CLASS_KINDS

    @property
    def is_sequence(self) -> bool:
        """True when labels have a time axis that follows the inputs' resampling."""
        return self.kind in SEQUENCE_KINDS


def _shape_text(shape: tuple) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _class_or_regression(prefix: str, shape: tuple, is_int: bool) -> LabelLayout | None:
    """The layout of labels whose ``shape`` starts at the axis with one label per output.

    That axis is the sample axis N for seq2static (``prefix`` "") and the time axis T for
    seq2seq (``prefix`` "seq_"); one rule serves both: integer labels without a feature axis
    are classes, float ones regression targets that get a feature axis of size 1, float
    labels with a feature axis K are K-dim targets. None when the shape fits neither.
    """
    if len(shape) == 1:
        if is_int:
            return LabelLayout(prefix + "class")
        return LabelLayout(prefix + "regression", add_feature_axis=True, feature_dim=1)
    if len(shape) == 2 and not is_int:
        return LabelLayout(prefix + "regression", feature_dim=shape[1])
    return None


def label_layout(
    info: ArrayInfo, n_samples: int, seq_len: int, mapping: str, paradigm: str, path: Path
) -> LabelLayout:
    """Classify stored labels ``info`` for a split of ``n_samples`` sequences of ``seq_len`` steps.

    Args:
        info: shape and dtype of the stored labels.
        n_samples: input sequences in the split (one label entry each).
        seq_len: time steps per input sequence.
        mapping: ``seq2static`` (one label per sequence) or ``seq2seq`` (one per step).
        paradigm: the training paradigm; ``distillation`` expects teacher state histories.
        path: the data file, for messages.

    Returns:
        The layout; a shape that fits none is a ``DataError`` saying what was expected.
    """
    shape, is_int = info.shape, info.dtype.kind in "biu"
    where = f"{path}: '{info.key}'"
    if not shape or shape[0] != n_samples:
        raise DataError(
            f"{where} has {shape[0] if shape else 'no'} labels {_shape_text(shape)} but there are "
            f"{n_samples} input samples; there must be one label entry per sample"
        )
    rank = len(shape)
    if paradigm == "distillation":
        if is_int or rank != 3 or shape[1] not in (seq_len, seq_len + 1):
            raise DataError(
                f"{where} has shape {_shape_text(shape)} dtype {info.dtype}; distillation targets "
                f"are teacher state histories, float [N, T+1, C] or [N, T, C] with T = {seq_len}"
            )
        return LabelLayout("seq_regression", extra_steps=shape[1] - seq_len, feature_dim=shape[2])
    if mapping == "seq2static":
        layout = _class_or_regression("", shape, is_int)
        if layout is not None:
            return layout
        hint = (
            "; they look like per-step labels: set training.mapping=seq2seq"
            if rank in (2, 3) and shape[1] == seq_len
            else ""
        )
        raise DataError(
            f"{where} has shape {_shape_text(shape)} dtype {info.dtype}, which does not fit "
            "mapping 'seq2static': expected integer class labels [N] or float targets [N] / "
            f"[N, K]{hint}"
        )
    # seq2seq: one label per time step
    if rank == 1:
        raise DataError(
            f"{where} has one label per sequence {_shape_text(shape)}, which does not fit mapping "
            "'seq2seq' (expected [N, T] class labels or [N, T, K] float targets); set "
            "training.mapping=seq2static"
        )
    if shape[1] != seq_len:
        raise DataError(
            f"{where} has {shape[1]} time steps {_shape_text(shape)} but the inputs have "
            f"{seq_len}; seq2seq labels need one entry per input step (pad with -100)"
        )
    layout = _class_or_regression("seq_", shape[1:], is_int)
    if layout is not None:
        return layout
    raise DataError(
        f"{where} has shape {_shape_text(shape)} dtype {info.dtype}, which does not fit mapping "
        "'seq2seq': expected integer class labels [N, T] or float targets [N, T, K]"
    )


class LabelChecker:
    """Checks label blocks as they are read and remembers the largest class label seen."""

    def __init__(
        self, layout: LabelLayout, path: Path, key: str, rows: np.ndarray | None = None
    ) -> None:
        self.layout = layout
        self.path = path
        self.key = key
        self.rows = rows  # file rows of the split's samples (flat files), for error messages
        self.max_label = -1

    def check(self, block: np.ndarray, offset: int) -> None:
        """Validate ``block`` (rows ``offset``.. of the split's labels)."""
        if self.layout.is_class:
            self._check_classes(block, offset)
        else:
            check_finite(block, offset, self.rows, f"{self.path}: '{self.key}'", "targets")

    def _check_classes(self, block: np.ndarray, offset: int) -> None:
        if block.size == 0:
            return
        values = block.astype(np.int64, copy=False)
        allowed_pad = self.layout.kind == "seq_class"
        bad = (values < 0) & ~(allowed_pad & (values == PADDING_LABEL))
        if bad.any():
            row = file_row(self.rows, offset + int(np.argwhere(bad)[0][0]))
            first = int(values[bad][0])
            valid = "[0, num_classes) or -100 for padding" if allowed_pad else "[0, num_classes)"
            raise DataError(
                f"{self.path}: '{self.key}' has label {first} at sample {row}; class labels "
                f"must be in {valid}"
            )
        self.max_label = max(self.max_label, int(values.max()))

    def check_below(self, num_classes: int) -> None:
        """A DataError if any label seen is >= ``num_classes``."""
        if self.max_label >= num_classes:
            raise DataError(
                f"{self.path}: '{self.key}' has class label {self.max_label}, outside "
                f"[0, {num_classes}) for num_classes={num_classes}"
            )


def declared_num_classes(value: object, path: Path) -> int | None:
    """The class count a file declares in its ``num_classes``/``n_classes`` root attribute."""
    if value is None:
        return None
    try:
        count = int(np.asarray(value).item())
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{path}: root attribute n_classes/num_classes={value!r} is not an integer"
        ) from exc
    if count < 1:
        raise DataError(f"{path}: root attribute n_classes/num_classes={count} must be >= 1")
    return count


def resolve_num_classes(given: int | None, max_label: int, declared: int | None, path: Path) -> int:
    """The number of classes: the file's declared count, else max label + 1; must match ``given``.

    The original counted distinct labels (labels {0, 2} gave 2) and silently replaced the
    user's value; here the count is max + 1 and a disagreement is an error naming both numbers.

    Args:
        given: ``data.num_classes`` as configured, or None.
        max_label: the largest class label in the file.
        declared: the file's ``n_classes`` attribute, or None.
        path: the data file, for messages.
    """
    if max_label < 0:
        raise DataError(f"{path}: the labels hold no class (every entry is -100 padding)")
    inferred = max_label + 1
    if declared is not None:
        if declared < inferred:
            raise DataError(
                f"{path}: the file declares n_classes={declared} but its labels go up to "
                f"{max_label} (so at least {inferred} classes)"
            )
        inferred = declared
    if given is not None and given != inferred:
        source = "the file declares" if declared is not None else "the labels (max label + 1) give"
        raise DataError(
            f"data.num_classes={given} does not match {path}: {source} {inferred} classes; "
            f"set data.num_classes={inferred} or leave it null to infer it"
        )
    return inferred


# Losses that index the outputs by class id, so they need integer class labels.
CLASS_LABEL_LOSSES = frozenset(
    {"cross_entropy", "autoregressive_cross_entropy", "top_gap_loss", "gap_loss", "rich_margin_loss"}
)


def check_label_values(
    labels: np.ndarray,
    key: str,
    layout: LabelLayout,
    path: Path,
    class_losses: tuple = (),
    given_classes: int | None = None,
    declared_classes: int | None = None,
) -> None:
    """Checks on a split's label values that the layout alone cannot make.

    - float labels read as regression targets while the loss needs class ids;
    - a single class in the training labels (nothing to tell apart);
    - uint8 labels holding 255, the usual "no label" marker, which would mean 256 classes.

    Args:
        labels: the split's label values.
        key: the labels' dataset key in the file, for messages.
        layout: how the labels are read (``label_layout``).
        path: the data file, for messages.
        class_losses: the configured losses that need integer class labels.
        given_classes: ``data.num_classes`` as configured, or None.
        declared_classes: the file's ``n_classes`` attribute, or None.
    """
    where = f"{path}: '{key}'"
    if not layout.is_class:
        if class_losses and layout.kind in ("regression", "seq_regression"):
            whole = bool(np.all(labels == np.round(labels))) if labels.size else False
            fix = (
                "they are whole numbers: store them as integers (e.g. labels.astype('int64'))"
                if whole
                else "for real-valued targets use a regression loss (loss=mse)"
            )
            raise DataError(
                f"{where} holds float labels ({labels.dtype}) but training.loss uses "
                f"{', '.join(class_losses)}, which needs integer class labels; {fix}"
            )
        return
    values = labels[labels != PADDING_LABEL] if layout.kind == "seq_class" else labels
    distinct = np.unique(values)
    if distinct.size == 1:
        raise DataError(
            f"{where} holds a single class (every label is {int(distinct[0])}); a classifier "
            "needs at least 2 classes in its training labels"
        )
    if (
        labels.dtype == np.uint8
        and distinct.size
        and int(distinct[-1]) == 255
        and given_classes is None
        and declared_classes is None
    ):
        raise DataError(
            f"{where} is uint8 and holds label 255, which would make 256 classes; 255 usually "
            "marks a missing label: relabel or drop those samples, or set data.num_classes=256 "
            "if 256 classes are meant"
        )
