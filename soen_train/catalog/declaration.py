"""A catalog entry declared once, and the rule that each backend's implementation matches it.

A ``Declaration`` says what an entry is independently of any array library: its name and
aliases, its config params with their defaults, what it needs from the trainer, a value
check, and which backend does not have it and why. A ``Catalog`` holds the declarations of
one kind (losses, poolings, ...) and one ``Registry`` of implementations per backend. A
backend joins with ``@CATALOG.torch("name")`` / ``@CATALOG.jax("name")``; the decorator
compares the implementation's params (read from its signature) with the declaration and
raises ``CatalogMismatchError`` on any difference, and the backend module ends with
``CATALOG.check_complete(backend)``, which raises for a declared entry that has no twin. So
a drift between the backends fails when the backend is imported, not in some later test.

This module imports neither torch nor jax.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from soen_train.errors import CatalogMismatchError
from soen_train.registry import Registry, signature_params

#: Default of a declared param that has none (the config must give it).
REQUIRED = inspect.Parameter.empty

#: The backends an entry can be implemented in.
BACKENDS: Tuple[str, ...] = ("torch", "jax")


@dataclass(frozen=True)
class Declaration:
    """One catalog entry as the config sees it, the same for every backend.

    name: the canonical name; aliases: other accepted spellings.
    params: config param -> default (``REQUIRED`` when there is none), in signature order.
    needs: what the entry asks of the trainer or its caller (a catalog-specific vocabulary).
    summary: what it computes, one paragraph (the ``value`` column of docs/catalog.md).
    param_notes: extra words for the params column (ranges, accepted alternatives).
    missing: backend -> why that backend does not implement this entry (shown to the user).
    check: value check ``check(**params_with_defaults)`` raising ``ValueError``, or None.
    """

    name: str
    aliases: Tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    needs: frozenset = frozenset()
    summary: str = ""
    param_notes: str = ""
    missing: Mapping[str, str] = field(default_factory=dict)
    check: Optional[Callable[..., None]] = None


def entry(
    name: str,
    *aliases: str,
    params: Optional[Mapping[str, Any]] = None,
    needs: Iterable[str] = (),
    summary: str = "",
    param_notes: str = "",
    no_jax: Optional[str] = None,
    check: Optional[Callable[..., None]] = None,
) -> Declaration:
    """Shorthand for a ``Declaration``; ``no_jax`` is the reason the JAX backend lacks it."""
    return Declaration(
        name=name,
        aliases=tuple(aliases),
        params=dict(params or {}),
        needs=frozenset(needs),
        summary=summary,
        param_notes=param_notes,
        missing={"jax": no_jax} if no_jax else {},
        check=check,
    )


def _signature_after_first(obj: Any) -> Dict[str, Any]:
    """Params of a function that receives one positional input first (ctx, history, ...)."""
    return signature_params(obj, skip=1)


class Catalog:
    """The declarations of one kind of entry and each backend's implementations of them.

    Args:
        kind: what an entry is called in messages (``loss``, ``time pooling``).
        declarations: the entries, each declared once.
        backends: the backends that implement this catalog.
        read_params: implementation -> its config params with defaults, per backend (default:
            the signature after the first positional parameter); a reader returning None
            leaves the check to ``check_impl``.
        check_impl: optional ``(declaration, implementation, backend) -> None`` raising
            ``CatalogMismatchError`` for catalog-specific properties (e.g. needs a current).
        needs_vocabulary: the words ``needs`` may use; any other is an error here.
    """

    def __init__(
        self,
        kind: str,
        declarations: Iterable[Declaration],
        backends: Tuple[str, ...] = BACKENDS,
        read_params: Optional[Mapping[str, Callable[[Any], Dict[str, Any]]]] = None,
        check_impl: Optional[Callable[[Declaration, Any, str], None]] = None,
        needs_vocabulary: Optional[Iterable[str]] = None,
    ) -> None:
        self.kind = kind
        self.backends = tuple(backends)
        self._declarations: Registry[Declaration] = Registry(kind)
        self._read_params = dict(read_params or {})
        self._check_impl = check_impl
        self._impls: Dict[str, Registry[Any]] = {}
        vocabulary = None if needs_vocabulary is None else frozenset(needs_vocabulary)
        for decl in declarations:
            if vocabulary is not None and not decl.needs <= vocabulary:
                raise CatalogMismatchError(
                    f"{kind} '{decl.name}' declares unknown needs {sorted(decl.needs - vocabulary)}; "
                    f"valid: {', '.join(sorted(vocabulary))}"
                )
            unknown = [b for b in decl.missing if b not in self.backends]
            if unknown:
                raise CatalogMismatchError(f"{kind} '{decl.name}': unknown backends {unknown}")
            self._declarations.register(decl.name, *decl.aliases)(decl)

    # ------------------------------------------------------------------------ declarations
    def declaration(self, name: str) -> Declaration:
        """The declaration of ``name`` or one of its aliases (``UnknownNameError`` otherwise)."""
        return self._declarations.get(name)

    def canonical(self, name: str) -> str:
        """The declared name behind ``name`` (aliases resolved); error listing valid names."""
        return self._declarations.canonical(name)

    def declarations(self) -> list[Declaration]:
        """Every declaration, sorted by name."""
        return [self._declarations.get(n) for n in self._declarations.names()]

    def names(self, with_aliases: bool = False) -> list[str]:
        """Declared names, sorted; aliases included on request."""
        return self._declarations.names(with_aliases=with_aliases)

    def __contains__(self, name: object) -> bool:
        return name in self._declarations

    def missing_reason(self, backend: str, name: str) -> Optional[str]:
        """Why ``backend`` does not implement entry ``name``, or None when it does."""
        return self.declaration(name).missing.get(backend)

    def unavailable(self, backend: str, name: str) -> str:
        """The one wording for "``backend`` lacks entry ``name``": its reason and what it has.

        Callers prefix the config key and append the way out, e.g.
        ``"source function 'X' has no JAX implementation (reason); JAX supports A, B"``.
        """
        label = backend.upper() if backend != "torch" else "PyTorch"
        canonical = self.canonical(name)
        return (
            f"{self.kind} '{canonical}' has no {label} implementation "
            f"({self.missing_reason(backend, canonical)}); {label} supports "
            f"{', '.join(self.registry(backend).names())}"
        )

    # ---------------------------------------------------------------------- implementations
    def bind(self, backend: str, registry: Registry[Any]) -> Registry[Any]:
        """Use ``registry`` (e.g. a subclass with its own errors) for ``backend``'s entries."""
        self._check_backend(backend)
        if backend in self._impls:
            raise CatalogMismatchError(f"{self.kind}: the {backend} registry is bound twice")
        self._impls[backend] = registry
        return registry

    def registry(self, backend: str) -> Registry[Any]:
        """The registry that holds ``backend``'s implementations (created on first use)."""
        self._check_backend(backend)
        if backend not in self._impls:
            label = self.kind if backend == "torch" else f"{backend.upper()} {self.kind}"
            self._impls[backend] = Registry(label)
        return self._impls[backend]

    def implements(
        self, backend: str, name: str, params: Optional[Iterable[str]] = None
    ) -> Callable[[Any], Any]:
        """Decorator: register ``backend``'s implementation of the declared entry ``name``.

        Args:
            backend: ``torch`` or ``jax``.
            name: the entry's canonical name (an alias is refused: one name per entry).
            params: names of the params the implementation honours, when they cannot be read
                from its signature (a JAX optimiser reads an options dict); they must be
                declared, and take the declared defaults.

        Raises:
            CatalogMismatchError: the name is not declared, the declaration says this backend
                lacks it, or the params (names or defaults) differ from the declaration.
        """
        decl = self._declared(name)
        if backend in decl.missing:
            raise CatalogMismatchError(
                f"{self.kind} '{name}' is declared missing in {backend} ({decl.missing[backend]}) "
                "but an implementation is registered; remove one of the two"
            )

        def deco(obj: Any) -> Any:
            where = f"{backend} {self.kind} '{name}'"
            if params is not None:
                extra = [k for k in params if k not in decl.params]
                if extra:
                    raise CatalogMismatchError(f"{where}: params {extra} are not declared")
            else:
                reader = self._read_params.get(backend, _signature_after_first)
                actual = reader(obj)
                if actual is not None:  # None: this backend's params are checked by check_impl
                    _compare(where, actual, decl.params)
            if self._check_impl is not None:
                self._check_impl(decl, obj, backend)
            return self.registry(backend).register(decl.name, *decl.aliases)(obj)

        return deco

    def torch(self, name: str, params: Optional[Iterable[str]] = None) -> Callable[[Any], Any]:
        """``implements("torch", name, params)``."""
        return self.implements("torch", name, params)

    def jax(self, name: str, params: Optional[Iterable[str]] = None) -> Callable[[Any], Any]:
        """``implements("jax", name, params)``."""
        return self.implements("jax", name, params)

    def check_complete(self, backend: str) -> None:
        """Raise ``CatalogMismatchError`` for a declared entry that ``backend`` neither
        implements nor declares missing (call it at the end of the backend's module)."""
        have = self.registry(backend)
        absent = [
            d.name for d in self.declarations() if d.name not in have and backend not in d.missing
        ]
        if absent:
            raise CatalogMismatchError(
                f"{backend} backend: {self.kind} entries {absent} are declared in "
                "soen_train.catalog but not implemented; implement them or declare them missing "
                "with a reason"
            )

    def _declared(self, name: str) -> Declaration:
        if name not in self._declarations or self._declarations.canonical(name) != name:
            raise CatalogMismatchError(
                f"{self.kind} '{name}' is not a declared name; declared: "
                f"{', '.join(self._declarations.names())}"
            )
        return self._declarations.get(name)

    def _check_backend(self, backend: str) -> None:
        if backend not in self.backends:
            raise CatalogMismatchError(
                f"{self.kind}: backend '{backend}' is not one of {', '.join(self.backends)}"
            )


def _compare(where: str, actual: Mapping[str, Any], declared: Mapping[str, Any]) -> None:
    """Raise unless ``actual`` has exactly the declared param names and defaults."""
    extra = [k for k in actual if k not in declared]
    absent = [k for k in declared if k not in actual]
    if extra or absent:
        raise CatalogMismatchError(
            f"{where}: params differ from the declaration (not declared: {extra}; declared but "
            f"not accepted: {absent})"
        )
    wrong = {k: (actual[k], declared[k]) for k in declared if not _same(actual[k], declared[k])}
    if wrong:
        detail = "; ".join(f"{k} = {a!r}, declared {d!r}" for k, (a, d) in wrong.items())
        raise CatalogMismatchError(f"{where}: defaults differ from the declaration: {detail}")


def _same(a: Any, b: Any) -> bool:
    """Equal defaults: same value and both or neither None/required (0 and 0.0 are equal)."""
    if a is REQUIRED or b is REQUIRED or a is None or b is None:
        return a is b
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:  # an array-valued default: compare by identity only
        return a is b
