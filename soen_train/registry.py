"""One registry class for every catalog (layers, source functions, losses, poolings, ...).

A catalog is a ``Registry``; entries join it with the ``@REGISTRY.register("name", "alias")``
decorator. Looking up an unknown name raises ``UnknownNameError`` that lists the valid names
and the closest match, so a typo in a config never fails silently. ``signature_params`` and
``check_params`` are the one rule for which keyword arguments a catalog entry accepts (read from
its signature) and for refusing any other.

An entry may carry a ``validator`` (checks a config's use of the entry before any work, see
``soen_train.config.validate``); ``register`` also records the entry's keyword parameters
(``Registry.params``), read once from its signature with the registry's ``skip``/``exclude``.
"""

from __future__ import annotations

import difflib
import inspect
from typing import (
    Any,
    Callable,
    Collection,
    Dict,
    Generic,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    TypeVar,
)

from soen_train.errors import UnknownNameError, UnknownParameterError

T = TypeVar("T")


def closest(name: str, candidates: Iterable[str]) -> Optional[str]:
    """The candidate most similar to ``name`` (case-insensitive), or None if none is close."""
    cands = list(candidates)
    lowered = {c.lower(): c for c in cands}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def did_you_mean(name: str, candidates: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string when none is close.

    ``prefix`` goes before the hint, for a key shown with its full path (``training.``).
    """
    hint = closest(name, candidates)
    return f" (did you mean '{prefix}{hint}'?)" if hint else ""


class Registry(Generic[T]):
    """A named catalog of factories or functions, filled by a decorator.

    Args:
        kind: what an entry is, as messages name it (``loss``, ``callback``).
        skip: leading parameters of an entry's signature that the caller supplies (the tensor
            a loss receives, an optimiser's ``params``); a class's ``self`` is never counted.
        exclude: parameter names the caller supplies (trainer context).
    """

    def __init__(self, kind: str, skip: int = 0, exclude: Collection[str] = ()) -> None:
        self.kind = kind
        self._skip = skip
        self._exclude = tuple(exclude)
        self._entries: Dict[str, T] = {}
        self._aliases: Dict[str, str] = {}
        self._params: Dict[str, Optional[Dict[str, Any]]] = {}
        self._validators: Dict[str, Callable[..., None]] = {}

    def register(
        self, name: str, *aliases: str, validator: Optional[Callable[..., None]] = None
    ) -> Callable[[T], T]:
        """Decorator: add the decorated object under ``name`` (and optional aliases).

        ``validator``: checks a config's use of this entry before any work (raises a one-line
        user error); ``validator_of(name)`` returns it.
        """

        def deco(obj: T) -> T:
            for key in (name, *aliases):
                if key in self._entries or key in self._aliases:
                    raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[name] = obj
            for alias in aliases:
                self._aliases[alias] = name
            self._params[name] = _read_params(obj, self._skip, self._exclude)
            if validator is not None:
                self._validators[name] = validator
            return obj

        return deco

    def params(self, name: str) -> Dict[str, Any]:
        """Keyword parameters of entry ``name`` with their defaults, recorded at ``register``
        (``inspect.Parameter.empty`` for one without a default)."""
        params = self._params[self.canonical(name)]
        if params is None:
            raise TypeError(f"{self.kind} '{name}' has no readable signature")
        return dict(params)

    def validator_of(self, name: str) -> Optional[Callable[..., None]]:
        """The validator registered with entry ``name``, or None."""
        return self._validators.get(self.canonical(name))

    def items(self) -> List[Tuple[str, T]]:
        """(name, entry) pairs in registration order (the order a table of entries runs in)."""
        return list(self._entries.items())

    def register_named(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Class decorator like ``register`` that also sets the class's ``name`` attribute to its
        catalog name (for classes whose messages and checkpoints name themselves)."""

        def deco(cls: T) -> T:
            cls.name = name  # type: ignore[attr-defined]
            return self.register(name, *aliases)(cls)

        return deco

    def canonical(self, name: str) -> str:
        """The registered name behind ``name`` (resolving aliases); error if unknown."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        valid = self.names(with_aliases=True)
        raise UnknownNameError(
            f"unknown {self.kind} '{name}'{did_you_mean(name, valid)}; valid names: {', '.join(valid)}"
        )

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


def signature_params(
    fn: Callable[..., Any], skip: int = 0, exclude: Collection[str] = ()
) -> Dict[str, Any]:
    """Keyword parameters of ``fn`` with their defaults, read from its signature.

    Args:
        fn: a function, or a class's ``__init__`` (then ``skip=1`` drops ``self``).
        skip: leading parameters to drop (``self``, the tensor a loss or pooling receives, ...).
        exclude: names supplied by the caller rather than by the config (trainer context).

    Returns:
        name -> default, in signature order; a parameter without a default maps to
        ``inspect.Parameter.empty``. ``*args`` / ``**kwargs`` are not parameters.
    """
    out: Dict[str, Any] = {}
    for p in list(inspect.signature(fn).parameters.values())[skip:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in exclude:
            continue
        out[p.name] = p.default
    return out


def _read_params(obj: Any, skip: int, exclude: Collection[str]) -> Optional[Dict[str, Any]]:
    """An entry's keyword parameters (``signature_params``), None when it has no signature."""
    try:
        return signature_params(obj, skip=skip, exclude=exclude)
    except (TypeError, ValueError):  # a builtin or an object that is not callable
        return None


def check_params(
    owner: str, given: Iterable[str], accepted: Iterable[str], noun: str = "parameter"
) -> None:
    """Refuse a parameter name outside ``accepted`` (names only; values are each entry's job).

    Args:
        owner: what the names belong to, as the message should start (``loss 'mse'``).
        given: the names the config gives (a mapping's keys).
        accepted: the valid names, usually ``signature_params(...)``.
        noun: what a name is called in the message (``parameter``, ``option``).

    Raises:
        UnknownParameterError: naming the first unknown name, the closest valid one and all
            valid ones.
    """
    valid = sorted(accepted)
    for key in given:
        if key not in valid:
            raise UnknownParameterError(
                f"{owner}: unknown {noun} '{key}'{did_you_mean(str(key), valid)}; "
                f"valid {noun}s: {', '.join(valid) if valid else '(none)'}"
            )
