"""Strict reading of architecture values: coercion with clear errors, unknown-key checks.

Architecture YAMLs written by hand or by older tools carry booleans as strings ('True'),
numbers as strings ('1e-3', which YAML does not parse as a float) and occasional typos.
These helpers accept the harmless variants and reject everything else with a message that
names where the value sits (``where``), what it was and what would be valid.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from soen_train.errors import ArchitectureError
from soen_train.registry import closest

#: Marker for a required entry in a table of defaults.
REQUIRED = object()

_TRUE_STRINGS = {"true", "yes", "on", "1"}
_FALSE_STRINGS = {"false", "no", "off", "0"}


class IgnoredKeysWarning(UserWarning):
    """Keys of an architecture that the original toolkit accepts and does not use."""


# ----------------------------------------------------------------------------------------
# Ignored keys: the original toolkit silently skips many keys (an init's unused kwargs, GUI
# residue such as `description`). We accept the same files, build the same model, and say
# once per file which keys had no effect.
# ----------------------------------------------------------------------------------------


class IgnoredKeys:
    """Collects the notes about keys that were accepted but have no effect."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def add(self, note: str) -> None:
        """Record one note (``'<where>: <keys> (<why>)'``); duplicates are kept once."""
        if note not in self.notes:
            self.notes.append(note)

    def warn(self, label: str, stacklevel: int = 2) -> None:
        """Emit one warning line for ``label`` (the file) listing every note."""
        if self.notes:
            warnings.warn(f"{label}: accepted but without effect, as in the original toolkit: "
                          + "; ".join(self.notes), IgnoredKeysWarning, stacklevel=stacklevel + 1)


_ACTIVE: contextvars.ContextVar[IgnoredKeys | None] = contextvars.ContextVar(
    "soen_ignored_keys", default=None)


@contextlib.contextmanager
def collect_ignored_keys(label: str, stacklevel: int = 4) -> Iterator[IgnoredKeys]:
    """Gather every ``note_ignored`` made inside the block; warn once at its end.

    A nested block adds its notes to the outer one (one line per file). ``stacklevel``
    counts from the function that opened the block (4 = its caller's caller).
    """
    outer = _ACTIVE.get()
    report = outer if outer is not None else IgnoredKeys()
    token = _ACTIVE.set(report)
    try:
        yield report
    finally:
        _ACTIVE.reset(token)
    if outer is None:
        report.warn(label, stacklevel=stacklevel)


def note_ignored(where: str, keys: Iterable[str], why: str) -> None:
    """Report keys that are accepted but unused (one warning per file when collected)."""
    names = [str(k) for k in keys]
    if not names:
        return
    note = f"{where}: {', '.join(names)} ({why})"
    report = _ACTIVE.get()
    if report is None:
        warnings.warn(f"accepted but without effect, as in the original toolkit: {note}",
                      IgnoredKeysWarning, stacklevel=3)
    else:
        report.add(note)


def check_keys_tolerant(given: Iterable[str], used: Iterable[str], known: Iterable[str],
                        where: str, why: str) -> list[str]:
    """Split ``given`` keys into used ones and ignored ones, the way the original reads them.

    ``used``: keys that take effect here. ``known``: keys that the original reads elsewhere
    (another pattern's or initialiser's parameter, GUI residue) and skips here: they are
    noted as ignored (``why`` says why). A key in neither set that is close to a key that
    takes effect here is a typo: ``ArchitectureError`` naming that key (a near miss of a
    key that would have no effect anyway changes nothing, so it is only noted). Any other
    key the original skips as well: noted as ignored. Returns the ignored keys.

    Args:
        given: the keys of the block.
        used: keys that take effect here.
        known: keys the original reads elsewhere and skips here.
        where: position in the architecture, for messages.
        why: why the ignored keys have no effect (for the note).
    """
    used_set, known_set = set(used), set(known)
    ignored: list[str] = []
    for key in given:
        if key in used_set:
            continue
        if key not in known_set:
            hint = closest(str(key), sorted(used_set))
            if hint:
                raise ArchitectureError(
                    f"{where}: unknown key '{key}' (did you mean '{hint}'?); valid keys here: "
                    f"{', '.join(sorted(used_set)) if used_set else '(none)'}")
        ignored.append(str(key))
    if ignored:
        note_ignored(where, ignored, why)
    return ignored


def original_truth(value: Any, where: str) -> bool:
    """A flag read with Python ``bool()`` like the original does (any non-empty string is true).

    The original toolkit converts e.g. ``allow_self_connections`` with ``bool(value)``, so the
    string 'False' means TRUE there. We build the same model and say so when a string that
    looks false was read as true.
    """
    if isinstance(value, str):
        result = bool(value)
        if value.strip().lower() in _FALSE_STRINGS or not result:
            note_ignored(where, [repr(value)], "a string; the original reads it with bool(), so "
                         f"it counts as {result}")
        return result
    return bool(value)


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


def _number(value: Any, where: str, expected: str) -> float:
    """``value`` (a number or a numeric string, never a bool) as a float; ``expected`` names
    what the caller wants ('a number', 'an integer') in the error."""
    if isinstance(value, bool):
        raise ArchitectureError(f"{where}: expected {expected}, got the boolean {value!r}")
    try:
        return float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ArchitectureError(f"{where}: expected {expected}, got {value!r}") from None


def as_float(value: Any, where: str, *, minimum: float | None = None,
             maximum: float | None = None, allow_none: bool = False) -> float | None:
    """A finite float from a number or numeric string, optionally range-checked.

    Args:
        value: the raw value (a bool is refused, '1e-3' accepted).
        where: position in the architecture, for messages.
        minimum: smallest allowed value (inclusive), or None.
        maximum: largest allowed value (inclusive), or None.
        allow_none: return None for None instead of refusing it.
    """
    if value is None and allow_none:
        return None
    number = _number(value, where, "a number")
    if not math.isfinite(number):
        raise ArchitectureError(f"{where}: expected a finite number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ArchitectureError(f"{where}: must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ArchitectureError(f"{where}: must be <= {maximum}, got {number}")
    return number


def as_int(value: Any, where: str, *, minimum: int | None = None) -> int:
    """An integer from an int, an integral float or a numeric string."""
    number = _number(value, where, "an integer")
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


def require_keys(data: Mapping[str, Any], keys: Iterable[str], where: str) -> None:
    """Error on the first of ``keys`` missing from ``data`` (a block's required entries)."""
    for key in keys:
        if key not in data:
            raise ArchitectureError(f"{where}: missing required key '{key}'")


def merge_defaults(given: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> dict:
    """``defaults`` with the values of ``given`` over them; keys not in ``defaults`` are dropped.

    A default of ``REQUIRED`` has no value: leaving it out of ``given`` is an error.
    """
    require_keys(given, [k for k, default in defaults.items() if default is REQUIRED], where)
    return {key: given.get(key, default) for key, default in defaults.items()}


def resolve_options(given: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> dict:
    """Merge ``given`` over ``defaults``: unknown keys and missing required ones are errors."""
    check_keys(given.keys(), defaults.keys(), where)
    return merge_defaults(given, defaults, where)


def plain(value: Any) -> Any:
    """Convert numpy scalars/arrays and tuples into plain Python values (YAML/JSON safe)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
