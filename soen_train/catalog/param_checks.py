"""Validation of catalog parameter values (losses, poolings, schedules) with messages that name the owner.

Config values arrive from YAML/OmegaConf, so a number can be a string, a list can be a
``ListConfig``, and a typo can hide a parameter. These checks turn every such problem into a
``ValueError`` that says which entry, which key, which value, and what would be valid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from soen_train.errors import ParameterTypeError


def check_number(
    owner: str,
    key: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    integer: bool = False,
) -> float:
    """Return ``value`` as a finite number inside the given bounds, or raise ``ValueError``."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterTypeError(f"{owner}: parameter '{key}' = {value!r} must be {kind}")
    if integer and not float(value).is_integer():
        raise ValueError(f"{owner}: parameter '{key}' = {value!r} must be an integer")
    if not math.isfinite(float(value)):
        raise ValueError(f"{owner}: parameter '{key}' = {value!r} must be finite")
    low_ok = minimum is None or (value >= minimum if min_inclusive else value > minimum)
    high_ok = maximum is None or (value <= maximum if max_inclusive else value < maximum)
    if not (low_ok and high_ok):
        lo = "-inf" if minimum is None else repr(minimum)
        hi = "inf" if maximum is None else repr(maximum)
        lb = "[" if (minimum is not None and min_inclusive) else "("
        rb = "]" if (maximum is not None and max_inclusive) else ")"
        raise ValueError(f"{owner}: parameter '{key}' = {value!r} must lie in {lb}{lo}, {hi}{rb}")
    return int(value) if integer else float(value)


def check_choice(owner: str, key: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (strings), else raise ``ValueError``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{owner}: parameter '{key}' = {value!r} is not valid; choose one of {', '.join(choices)}"
        )
    return value


def check_bool(owner: str, key: str, value: Any) -> bool:
    """Return ``value`` if it is a real boolean (not a string such as 'false'), else raise."""
    if not isinstance(value, bool):
        raise ParameterTypeError(f"{owner}: parameter '{key}' = {value!r} must be true or false")
    return value


def as_list(owner: str, key: str, value: Any) -> list[Any]:
    """Turn a list-like config value (list, tuple, ListConfig) into a list, or raise."""
    if isinstance(value, (str, bytes, Mapping)):
        raise ParameterTypeError(f"{owner}: parameter '{key}' = {value!r} must be a list")
    if not isinstance(value, Sequence):
        try:
            return list(value)
        except TypeError:
            raise ValueError(f"{owner}: parameter '{key}' = {value!r} must be a list") from None
    return list(value)


def check_int_list(owner: str, key: str, value: Any) -> list[int]:
    """Return a non-empty list of integers (e.g. layer ids), or raise ``ValueError``."""
    items = as_list(owner, key, value)
    if not items:
        raise ValueError(f"{owner}: parameter '{key}' must not be an empty list")
    return [int(check_number(owner, key, v, integer=True)) for v in items]
