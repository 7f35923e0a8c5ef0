"""The configured list of loss terms, validated once and the same for every backend.

Config form (``training.loss.losses``): a list of ``{name, weight=1.0, params={}}``. Every
name, param name and param value is checked against ``LOSS_CATALOG``, so a typo fails before
the first batch. Each term has a key (the loss name, with ``_2``, ``_3``... for repeats)
used for logging and for changing its weight. ``LossTerms`` holds no arrays: the torch
``WeightedLoss`` and the JAX ``JaxWeightedLoss`` evaluate its terms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from soen_train.catalog.losses import LOSS_CATALOG, loss_needs, validate_loss_params
from soen_train.registry import UnknownNameError, did_you_mean

#: Keys allowed in one entry of the loss list.
ITEM_KEYS = ("name", "weight", "params")

#: Where the list lives in the config, used in error messages.
CONFIG_PATH = "training.loss.losses"


@dataclass(frozen=True)
class LossTerm:
    """One validated entry: its key, the registered loss name, and its params."""

    key: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)


def _item_fields(item: Any, where: str) -> tuple[Any, Any, Any]:
    """(name, weight, params) of a config entry given as a mapping or an object with attributes."""
    if isinstance(item, Mapping):
        extra = [k for k in item if k not in ITEM_KEYS]
        if extra:
            raise ValueError(
                f"{where}: unknown key(s) {extra}; an entry has {', '.join(ITEM_KEYS)}"
            )
        if "name" not in item:
            raise ValueError(f"{where}: entry has no 'name'")
        return item["name"], item.get("weight", 1.0), item.get("params", None)
    if hasattr(item, "name"):
        return item.name, getattr(item, "weight", 1.0), getattr(item, "params", None)
    raise ValueError(f"{where}: expected a mapping {{name, weight, params}}, got {item!r}")


def check_weight(weight: Any, where: str) -> float:
    """``weight`` as a float, or an error when it is not a finite number."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise ValueError(f"{where}: weight = {weight!r} must be a finite number")
    return float(weight)


class LossTerms:
    """The validated terms of a loss list and their current weights (by term key)."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._terms: list[LossTerm] = []
        self._weights: dict[str, float] = {}
        counts: dict[str, int] = {}
        for index, item in enumerate(items):
            where = f"{CONFIG_PATH}[{index}]"
            raw_name, weight, params = _item_fields(item, where)
            try:
                name = LOSS_CATALOG.canonical(str(raw_name))
            except UnknownNameError as err:
                raise UnknownNameError(f"{where}: {err}") from None
            where = f"{where} ('{name}')"
            if params is not None and not isinstance(params, Mapping):
                raise ValueError(f"{where}: params = {params!r} must be a mapping")
            try:
                checked = validate_loss_params(name, params)
            except ValueError as err:
                raise type(err)(f"{where}: {err}") from None
            counts[name] = counts.get(name, 0) + 1
            key = name if counts[name] == 1 else f"{name}_{counts[name]}"
            self._terms.append(LossTerm(key=key, name=name, params=checked))
            self._weights[key] = check_weight(weight, where)
        if not self._terms:
            raise ValueError(f"{CONFIG_PATH} is empty: configure at least one loss")

    @property
    def terms(self) -> list[LossTerm]:
        """The validated terms in config order."""
        return list(self._terms)

    @property
    def term_names(self) -> list[str]:
        """Term keys in config order (loss names, ``_2``... for repeats)."""
        return [t.key for t in self._terms]

    @property
    def weights(self) -> dict[str, float]:
        """Current weight of each term, by key (a copy)."""
        return dict(self._weights)

    @property
    def needs(self) -> frozenset[str]:
        """Union of what the terms need from the trainer (see ``NEEDS_VOCABULARY``)."""
        out: frozenset[str] = frozenset()
        for term in self._terms:
            out = out | loss_needs(term.name)
        return out

    def resolve_key(self, name: str) -> str:
        """The term key that ``name`` designates: a key, or a loss name/alias with one term."""
        if name in self._weights:
            return name
        if name in LOSS_CATALOG:
            canonical = LOSS_CATALOG.canonical(name)
            if canonical in self._weights:
                return canonical
        raise UnknownNameError(
            f"no configured loss named '{name}'{did_you_mean(name, self.term_names)}; "
            f"configured losses: {', '.join(self.term_names)}"
        )

    def set_weight(self, name: str, weight: float) -> None:
        """Change the weight of one term (by key or loss name); unknown names are an error."""
        key = self.resolve_key(name)
        self._weights[key] = check_weight(weight, f"loss '{key}'")
