"""Declared parameters of a dataset maker: defaults, types and ranges, checked up front.

An unknown parameter name is an error naming the closest valid one, so a typo in
``data.dataset_params`` never silently falls back to a default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soen_train.data.errors import DataError
from soen_train.registry import UnknownParameterError, check_params


@dataclass(frozen=True)
class Param:
    """One maker parameter: its default, kind and allowed range.

    Kinds: ``int``, ``float``, ``path``, ``str_list`` (a list of strings, e.g. mirror URLs) and
    ``str_map`` (a mapping of string to string, e.g. file name to checksum).
    """

    default: Any
    kind: str
    minimum: float | None = None
    maximum: float | None = None
    allow_none: bool = False
    help: str = ""

    def check(self, maker: str, name: str, value: Any) -> Any:
        """``value`` converted to this parameter's kind; a DataError if it does not fit."""
        if value is None:
            if self.allow_none:
                return None
            raise DataError(f"dataset '{maker}' parameter {name}=None is not valid; {self._want()}")
        if self.kind == "path":
            if not isinstance(value, (str, os.PathLike)):
                raise DataError(
                    f"dataset '{maker}' parameter {name}={value!r} is not valid; expected a path"
                )
            return str(Path(os.fspath(value)).expanduser())
        if self.kind == "str_list":
            if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(
                isinstance(v, str) for v in value
            ):
                raise DataError(
                    f"dataset '{maker}' parameter {name}={value!r} is not valid; {self._want()}"
                )
            return [str(v) for v in value]
        if self.kind == "str_map":
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise DataError(
                    f"dataset '{maker}' parameter {name}={value!r} is not valid; {self._want()}"
                )
            return {str(k): str(v) for k, v in value.items()}
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.kind == "int" and not (is_number and float(value).is_integer()):
            raise DataError(
                f"dataset '{maker}' parameter {name}={value!r} is not valid; {self._want()}"
            )
        if self.kind == "float" and not (is_number and math.isfinite(value)):
            raise DataError(
                f"dataset '{maker}' parameter {name}={value!r} is not valid; {self._want()}"
            )
        number = int(value) if self.kind == "int" else float(value)
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise DataError(
                f"dataset '{maker}' parameter {name}={value!r} is not valid; {self._want()}"
            )
        return number

    def _want(self) -> str:
        what = {
            "int": "an integer",
            "float": "a number",
            "path": "a path",
            "str_list": "a list of strings",
            "str_map": "a mapping of names to strings",
        }[self.kind]
        if self.minimum is not None and self.maximum is not None:
            what += f" in [{self.minimum}, {self.maximum}]"
        elif self.minimum is not None:
            what += f" >= {self.minimum}"
        return "expected " + what + (" or null" if self.allow_none else "")


def resolve_params(
    maker: str, declared: Mapping[str, Param], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Defaults overlaid with ``given``, each value checked; unknown names are errors."""
    try:
        check_params(f"dataset '{maker}'", given, declared)
    except UnknownParameterError as err:
        raise DataError(str(err)) from None
    return {
        name: spec.check(maker, name, given.get(name, spec.default))
        for name, spec in declared.items()
    }
