"""Several callbacks sharing the model's single per-connection weight-transform slot.

``SOENModel.set_weight_transform(fn, connections)`` installs one function per connection
that maps the masked weight J to the J used in the forward pass. QAT (snap to a codebook)
and connection noise (a seeded Gaussian draw) both need that slot, possibly on the same
connection. ``WeightTransformStack`` keeps, per model and connection, an ordered set of named
transforms and installs their composition: lower ``order`` runs first, so weights are
quantised before noise is added (a fabricated coupling varies around its nominal level).
Code that calls ``set_weight_transform`` itself on a connection managed here is overwritten
by the next change of the stack; go through ``transform_stack(model)`` instead.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

from torch import Tensor

Transform = Callable[[Tensor], Tensor]

#: Transform order: quantisation first, then noise.
ORDER_QUANTIZE = 0
ORDER_NOISE = 10


class WeightTransformStack:
    """The named transforms installed on one model's connections."""

    def __init__(self, model: Any) -> None:
        self._model = weakref.ref(model)
        self._by_connection: dict[str, dict[str, tuple[int, Transform]]] = {}

    def add(self, owner: str, order: int, fn: Transform, connections: Iterable[str]) -> None:
        """Install ``fn`` (named ``owner``) on ``connections``, composed with what is there."""
        touched = []
        for name in connections:
            self._by_connection.setdefault(name, {})[owner] = (order, fn)
            touched.append(name)
        self._install(touched)

    def remove(self, owner: str) -> None:
        """Take ``owner``'s transform off every connection it was on."""
        touched = [
            name for name, entries in self._by_connection.items() if entries.pop(owner, None)
        ]
        self._install(touched)
        for name in touched:
            if not self._by_connection[name]:
                del self._by_connection[name]

    def owners(self, connection: str) -> list[str]:
        """Names of the transforms on ``connection``, in the order they run."""
        entries = self._by_connection.get(connection, {})
        return [owner for owner, _ in sorted(entries.items(), key=lambda kv: kv[1][0])]

    def _install(self, connections: Iterable[str]) -> None:
        model = self._model()
        if model is None:
            return
        for name in connections:
            entries = self._by_connection.get(name, {})
            fns = [fn for _, (_, fn) in sorted(entries.items(), key=lambda kv: kv[1][0])]
            model.set_weight_transform(_compose(fns) if fns else None, connections=[name])


def _compose(fns: list[Transform]) -> Transform:
    if len(fns) == 1:
        return fns[0]

    def composed(weight: Tensor) -> Tensor:
        for fn in fns:
            weight = fn(weight)
        return weight

    return composed


_STACKS: weakref.WeakKeyDictionary[Any, WeightTransformStack] = weakref.WeakKeyDictionary()


def transform_stack(model: Any) -> WeightTransformStack:
    """The (one) transform stack of ``model``, created on first use."""
    stack = _STACKS.get(model)
    if stack is None:
        if not callable(getattr(model, "set_weight_transform", None)):
            raise TypeError(
                f"{type(model).__name__} has no set_weight_transform(); a SOENModel is needed"
            )
        stack = WeightTransformStack(model)
        _STACKS[model] = stack
    return stack
