"""The data-config values the data module accepts, checked once when it is constructed.

Names match the keys of the ``data`` config section (plus ``mapping``, ``paradigm``,
``num_workers`` and ``shuffle_seed`` that the trainer passes from ``training``), so a bad value
is reported under the key the user typed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from soen_train.data.errors import DataError
from soen_train.registry import did_you_mean

MAPPINGS = ("seq2static", "seq2seq")
PARADIGMS = ("supervised", "self_supervised", "distillation")
INPUT_ENCODINGS = ("raw", "one_hot")


def _choice(key: str, value: object, valid: tuple) -> str:
    """``value`` if it is one of ``valid``; otherwise a DataError listing the choices."""
    if isinstance(value, str) and value in valid:
        return value
    hint = did_you_mean(value, valid) if isinstance(value, str) else ""
    raise DataError(f"data option {key}={value!r} is not valid{hint}; valid values: {', '.join(valid)}")


def _int(key: str, value: object, minimum: int, allow_none: bool = False) -> int | None:
    """``value`` as an int >= ``minimum`` (or None when allowed); bools are refused."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        want = f"an integer >= {minimum}" + (" or null" if allow_none else "")
        raise DataError(f"data option {key}={value!r} is not valid; expected {want}")
    return value


def _float(key: str, value: object, allow_none: bool = True) -> float | None:
    """``value`` as a finite float (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"data option {key}={value!r} is not valid; expected a finite number")
    return float(value)


@dataclass(frozen=True)
class DataOptions:
    """Validated settings of ``SOENDataModule`` (see the constructor for their meaning)."""

    data_path: str
    batch_size: int = 32
    cache_data: bool = True
    target_seq_len: int | None = None
    min_scale: float | None = None
    max_scale: float | None = None
    input_encoding: str = "raw"
    vocab_size: int | None = None
    num_classes: int | None = None
    val_split: float = 0.2
    test_split: float = 0.1
    split_seed: int = 42
    num_workers: int = 0
    mapping: str = "seq2static"
    paradigm: str = "supervised"
    shuffle_seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data_path, (str, bytes)) and not hasattr(
            self.data_path, "__fspath__"
        ):
            raise DataError(
                f"data option data_path={self.data_path!r} is not valid; expected the path of an "
                "HDF5 file"
            )
        if not isinstance(self.cache_data, bool):
            raise DataError(
                f"data option cache_data={self.cache_data!r} is not valid; expected true or false"
            )
        _int("batch_size", self.batch_size, 1)
        _int("target_seq_len", self.target_seq_len, 1, allow_none=True)
        _int("vocab_size", self.vocab_size, 1, allow_none=True)
        _int("num_classes", self.num_classes, 1, allow_none=True)
        _int("split_seed", self.split_seed, 0)
        _int("num_workers", self.num_workers, 0)
        _int("shuffle_seed", self.shuffle_seed, 0, allow_none=True)
        _choice("input_encoding", self.input_encoding, INPUT_ENCODINGS)
        _choice("mapping", self.mapping, MAPPINGS)
        _choice("paradigm", self.paradigm, PARADIGMS)
        self._check_scaling()
        self._check_split_fractions()
        if self.input_encoding == "one_hot" and self.vocab_size is None:
            raise DataError(
                "data option input_encoding='one_hot' needs data.vocab_size (the number of "
                "distinct tokens, so tokens 0..vocab_size-1 become one-hot vectors); it is not set"
            )
        if self.input_encoding != "one_hot" and self.vocab_size is not None:
            raise DataError(
                f"data option vocab_size={self.vocab_size} is only used with "
                f"input_encoding='one_hot', but input_encoding={self.input_encoding!r}; remove "
                "vocab_size or set input_encoding='one_hot'"
            )

    def _check_scaling(self) -> None:
        lo = _float("min_scale", self.min_scale)
        hi = _float("max_scale", self.max_scale)
        if (lo is None) != (hi is None):
            raise DataError(
                f"data options min_scale={self.min_scale!r} and max_scale={self.max_scale!r}: set "
                "both (to scale inputs into [min_scale, max_scale]) or neither"
            )
        if lo is not None and hi is not None and not lo < hi:
            raise DataError(
                f"data options min_scale={lo} and max_scale={hi}: min_scale must be below max_scale"
            )
        if lo is not None and self.input_encoding == "one_hot":
            raise DataError(
                "data options min_scale/max_scale cannot be combined with "
                "input_encoding='one_hot' (inputs are integer tokens); remove the scaling"
            )

    def _check_split_fractions(self) -> None:
        val = _float("val_split", self.val_split, allow_none=False)
        test = _float("test_split", self.test_split, allow_none=False)
        for key, value in (("val_split", val), ("test_split", test)):
            if not 0.0 < value < 1.0:
                raise DataError(
                    f"data option {key}={value} is not valid; expected a fraction in (0, 1) "
                    "(flat files are split into non-empty train/val/test parts)"
                )
        if val + test >= 1.0:
            raise DataError(
                f"data options val_split={val} and test_split={test} leave no training samples; "
                "their sum must be below 1"
            )

    @property
    def scaling_requested(self) -> bool:
        """True when inputs are to be min/max scaled into [min_scale, max_scale]."""
        return self.min_scale is not None
