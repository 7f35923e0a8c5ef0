"""Checks on input values as blocks are read: finite numbers, valid tokens, exact min/max."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from soen_train.data.errors import DataError

FLOAT32_MAX = float(np.finfo(np.float32).max)


def file_row(rows: np.ndarray | None, position: int) -> int:
    """The file row of the split's ``position``-th sample (the same number for split files)."""
    return position if rows is None else int(rows[position])


def check_finite(block: np.ndarray, offset: int, rows: np.ndarray | None, where: str,
                 what: str) -> None:
    """Raise a ``DataError`` naming the first sample of ``block`` that holds NaN or Inf.

    Args:
        block: float values of samples ``offset``.. of a split (samples along axis 0).
        offset: the split position of the block's first sample.
        rows: file rows of the split's samples (flat files), or None for split files.
        where: file and dataset key, for the message.
        what: what the values are ('inputs', 'targets'), for the message.
    """
    bad = ~np.isfinite(block)
    if bad.any():
        row = file_row(rows, offset + int(np.argwhere(bad)[0][0]))
        raise DataError(
            f"{where} has NaN/Inf {what} (first at sample {row}); {what} must be finite numbers"
        )


class InputChecker:
    """Validates blocks of one split's inputs and tracks their exact minimum and maximum."""

    def __init__(
        self, path: Path, key: str, vocab_size: int | None, rows: np.ndarray | None = None
    ) -> None:
        self.path = path
        self.key = key
        self.vocab_size = vocab_size  # set: the inputs are integer tokens for one_hot
        self.rows = rows  # file rows of the split's samples (flat files), for error messages
        self.lo = math.inf
        self.hi = -math.inf

    def check(self, block: np.ndarray, offset: int) -> None:
        """Validate ``block`` (samples ``offset``.. of the split) and update min/max."""
        if block.size == 0:
            return
        if block.dtype.kind == "f":
            check_finite(block, offset, self.rows, f"{self.path}: '{self.key}'", "inputs")
            if block.dtype.itemsize > 4 and np.abs(block).max() > FLOAT32_MAX:
                row = file_row(
                    self.rows, offset + int(np.argwhere(np.abs(block) > FLOAT32_MAX)[0][0])
                )
                raise DataError(
                    f"{self.path}: '{self.key}' has inputs beyond the float32 range (first at "
                    f"sample {row}); inputs are used as float32"
                )
        if self.vocab_size is not None:
            self._check_tokens(block, offset)
        self.lo = min(self.lo, float(block.min()))
        self.hi = max(self.hi, float(block.max()))

    def _check_tokens(self, block: np.ndarray, offset: int) -> None:
        if block.dtype.kind == "f":
            fractional = block != np.round(block)
            if fractional.any():
                row = file_row(self.rows, offset + int(np.argwhere(fractional)[0][0]))
                raise DataError(
                    f"{self.path}: '{self.key}' has a non-integer token at sample {row}; "
                    "input_encoding='one_hot' needs integer token ids"
                )
        outside = (block < 0) | (block >= self.vocab_size)
        if outside.any():
            row = file_row(self.rows, offset + int(np.argwhere(outside)[0][0]))
            value = block[outside].flat[0]
            raise DataError(
                f"{self.path}: '{self.key}' has token {value} at sample {row}, outside "
                f"[0, vocab_size) for data.vocab_size={self.vocab_size}"
            )
