"""Read what losses need from a SOEN model through its public API only.

The model contract gives ``connection_weights(learnable_only)`` keyed ``"<from>_to_<to>"``,
``spec`` (layers with ``layer_id`` and ``layer_type``), ``layer_ids`` and
``parameters_by_name()``. These helpers turn that into connection endpoints, layer types
and selections, with errors that list what exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch

from soen_train.catalog.connection_selection import select_connections  # noqa: F401  (old path)

_ENDPOINTS = re.compile(r"(-?\d+)_to_(-?\d+)$")


def connection_endpoints(name: str) -> tuple[int, int]:
    """(from_layer, to_layer) of a connection named ``"<from>_to_<to>"`` (a prefix is allowed)."""
    match = _ENDPOINTS.search(name)
    if match is None:
        raise ValueError(f"connection name '{name}' does not end in '<from>_to_<to>'")
    return int(match.group(1)), int(match.group(2))


def connection_weights(model: Any, loss: str, learnable_only: bool = True) -> dict[str, torch.Tensor]:
    """The model's (masked) connection weight tensors; gradients flow through them."""
    if not hasattr(model, "connection_weights"):
        raise ValueError(f"loss '{loss}' needs a model with connection_weights()")
    return dict(model.connection_weights(learnable_only=learnable_only))


def layer_types(model: Any) -> dict[int, str]:
    """{layer_id: layer_type} from ``model.spec['layers']``."""
    spec = getattr(model, "spec", None) or {}
    return {int(layer["layer_id"]): str(layer["layer_type"]) for layer in spec.get("layers", [])}


def check_layer_ids(requested: Iterable[int], available: Iterable[int], loss: str, what: str) -> list[int]:
    """Return ``requested`` if every id is in ``available``, else raise listing the valid ids."""
    avail = sorted(int(a) for a in available)
    req = [int(r) for r in requested]
    bad = [r for r in req if r not in avail]
    if bad:
        raise ValueError(
            f"loss '{loss}': layer_ids {bad} are not {what}; valid layer ids: "
            f"{', '.join(map(str, avail)) or '(none)'}"
        )
    return req


def layer_parameter(model: Any, layer_id: int, param: str) -> torch.Tensor | None:
    """The tensor ``layers.<id>.<param>`` from ``parameters_by_name()``, or None if absent."""
    getter = getattr(model, "parameters_by_name", None)
    if getter is None:
        return None
    return getter().get(f"layers.{layer_id}.{param}")
