"""Strict reading of architecture values: coercion with clear errors, unknown-key checks.

Architecture YAMLs written by hand or by older tools carry booleans as strings ('True'),
numbers as strings ('1e-3', which YAML does not parse as a float) and occasional typos.
These helpers accept the harmless variants and reject everything else with a message that
names where the value sits (``where``), what it was and what would be valid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from soen_train.errors import SOENError
from soen_train.registry import closest

#: Marker for a required entry in a table of defaults.
REQUIRED = object()

_TRUE_STRINGS = {"true", "yes", "on", "1"}
_FALSE_STRINGS = {"false", "no", "off", "0"}


class ArchitectureError(SOENError, ValueError):
    """An architecture description (YAML, dict or .soen spec) is invalid."""


def as_bool(value: Any, where: str) -> bool:
    """A boolean from bool, 0/1 or strings like 'True'/'false'/'yes'; error otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE_STRINGS:
            return True
        if low in _FALSE_STRINGS:
            return False
    raise ArchitectureError(f"{where}: expected a boolean (true/false), got {value!r}")


def as_float(value: Any, where: str, *, minimum: float | None = None,
             maximum: float | None = None, allow_none: bool = False) -> float | None:
    """A finite float from a number or numeric string, optionally range-checked."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise ArchitectureError(f"{where}: expected a number, got the boolean {value!r}")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ArchitectureError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ArchitectureError(f"{where}: expected a finite number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ArchitectureError(f"{where}: must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ArchitectureError(f"{where}: must be <= {maximum}, got {number}")
    return number


def as_int(value: Any, where: str, *, minimum: int | None = None) -> int:
    """An integer from an int, an integral float or a numeric string."""
    if isinstance(value, bool):
        raise ArchitectureError(f"{where}: expected an integer, got the boolean {value!r}")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ArchitectureError(f"{where}: expected an integer, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise ArchitectureError(f"{where}: expected an integer, got {value!r}")
    result = int(number)
    if minimum is not None and result < minimum:
        raise ArchitectureError(f"{where}: must be >= {minimum}, got {result}")
    return result


def as_str(value: Any, where: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ArchitectureError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def as_mapping(value: Any, where: str, *, allow_none: bool = True) -> dict:
    """A dict (None becomes {} when allowed)."""
    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        raise ArchitectureError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
    return dict(value)


def check_keys(given: Iterable[str], valid: Iterable[str], where: str) -> None:
    """Error on the first key not in ``valid``, naming the closest valid key."""
    valid_list = sorted(set(valid))
    for key in given:
        if key not in valid_list:
            hint = closest(str(key), valid_list)
            msg = f"{where}: unknown key '{key}'"
            if hint:
                msg += f" (did you mean '{hint}'?)"
            msg += f"; valid keys: {', '.join(valid_list) if valid_list else '(none)'}"
            raise ArchitectureError(msg)


def resolve_options(given: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> dict:
    """Merge ``given`` over ``defaults``: unknown keys and missing required ones are errors."""
    check_keys(given.keys(), defaults.keys(), where)
    merged = {}
    for key, default in defaults.items():
        if key in given:
            merged[key] = given[key]
        elif default is REQUIRED:
            raise ArchitectureError(f"{where}: missing required key '{key}'")
        else:
            merged[key] = default
    return merged
