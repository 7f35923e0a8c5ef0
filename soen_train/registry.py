"""One registry class for every catalog (layers, source functions, losses, poolings, ...).

A catalog is a ``Registry``; entries join it with the ``@REGISTRY.register("name", "alias")``
decorator. Looking up an unknown name raises ``UnknownNameError`` that lists the valid names
and the closest match, so a typo in a config never fails silently.
"""

from __future__ import annotations

import difflib
from typing import Callable, Dict, Generic, Iterable, Iterator, List, Optional, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name that is not in a registry; the message lists what is."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


def closest(name: str, candidates: Iterable[str]) -> Optional[str]:
    """The candidate most similar to ``name`` (case-insensitive), or None if none is close."""
    cands = list(candidates)
    lowered = {c.lower(): c for c in cands}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


class Registry(Generic[T]):
    """A named catalog of factories or functions, filled by a decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: Dict[str, T] = {}
        self._aliases: Dict[str, str] = {}

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator: add the decorated object under ``name`` (and optional aliases)."""

        def deco(obj: T) -> T:
            for key in (name, *aliases):
                if key in self._entries or key in self._aliases:
                    raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[name] = obj
            for alias in aliases:
                self._aliases[alias] = name
            return obj

        return deco

    def canonical(self, name: str) -> str:
        """The registered name behind ``name`` (resolving aliases); error if unknown."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        valid = self.names(with_aliases=True)
        hint = closest(name, valid)
        msg = f"unknown {self.kind} '{name}'"
        if hint:
            msg += f" (did you mean '{hint}'?)"
        msg += f"; valid names: {', '.join(valid)}"
        raise UnknownNameError(msg)

    def get(self, name: str) -> T:
        """The entry registered as ``name`` or one of its aliases."""
        return self._entries[self.canonical(name)]

    def names(self, with_aliases: bool = False) -> List[str]:
        """Registered names, sorted; aliases included on request."""
        keys = list(self._entries)
        if with_aliases:
            keys += list(self._aliases)
        return sorted(keys)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
