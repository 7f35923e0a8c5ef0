"""How training code (losses and callbacks) reaches into a SOEN model: one module for both.

Only the model's public API is used: ``layer_ids`` (simulation order), ``spec`` (layers with
``layer_id`` and ``layer_type``), ``connection_weights(learnable_only)`` keyed
``"<from>_to_<to>"`` and ``parameters_by_name()`` (``layers.<id>.<param>``,
``connections.<from>_to_<to>``). A layer id or connection name that matches nothing is a
``ConfigError`` (also a ``ValueError``) naming who asked (a loss or a callback setting), the
bad value and the valid ones, so a typo fails at start-up instead of silently doing nothing.

Losses import these through ``soen_train.training.losses.model_access`` and callbacks through
``soen_train.training.callbacks.model_refs``; both names stay valid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch

from soen_train.errors import ConfigError
from soen_train.registry import closest

_ENDPOINTS = re.compile(r"(-?\d+)_to_(-?\d+)$")
#: ``internal_<id>`` is the original toolkit's name for the recurrent connection ``<id>_to_<id>``.
_INTERNAL = re.compile(r"internal_(-?\d+)$")


# ---------------------------------------------------------------------------------------
# The model and its layers
# ---------------------------------------------------------------------------------------


def unwrap_model(module: Any) -> Any:
    """The SOEN model behind a Lightning module (``module.model``), or ``module`` itself."""
    return getattr(module, "model", module)


def model_layer_ids(model: Any) -> list[int]:
    """The model's layer ids in simulation order."""
    ids = getattr(model, "layer_ids", None)
    if ids is None:
        raise ConfigError(f"{type(model).__name__} has no layer_ids; callbacks need a SOENModel")
    return [int(i) for i in ids]


def output_layer_id(model: Any) -> int:
    """Id of the layer whose history is the model output (the last layer)."""
    return model_layer_ids(model)[-1]


def layer_types(model: Any) -> dict[int, str]:
    """{layer_id: layer_type} from ``model.spec['layers']``."""
    spec = getattr(model, "spec", None) or {}
    return {int(layer["layer_id"]): str(layer["layer_type"]) for layer in spec.get("layers", [])}


def require_layer_ids(requested: Iterable[Any], available: Iterable[int], who: str, what: str) -> list[int]:
    """``requested`` as ints when every id is in ``available`` (listed in the given order).

    Args:
        who: who asks, first in the error (``"loss 'reg_J'"``, ``"callbacks.noise_annealers[0]"``).
        what: what the valid ids are, for the error (``"layers of the model"``).

    Raises:
        ConfigError: listing the ids that are not ``what`` and the valid ones.
    """
    valid = [int(a) for a in available]
    wanted = [int(r) for r in requested]
    bad = [r for r in wanted if r not in valid]
    if bad:
        raise ConfigError(
            f"{who}: layer_ids {bad} are not {what}; valid layer ids: "
            f"{', '.join(map(str, valid)) or '(none)'}"
        )
    return wanted


def check_layer_ids(requested: Iterable[int], available: Iterable[int], loss: str, what: str) -> list[int]:
    """``require_layer_ids`` for loss ``loss`` (the losses' form)."""
    return require_layer_ids(requested, sorted(int(a) for a in available), f"loss '{loss}'", what)


def resolve_layer_ids(
    requested: Iterable[Any] | None, model: Any, setting: str
) -> list[int] | None:
    """``requested`` as ints if every id is a layer of ``model`` (None stays None = all layers)."""
    if requested is None:
        return None
    valid = model_layer_ids(model)
    wanted = list(requested)
    if not wanted:
        raise ConfigError(
            f"{setting}: layer_ids is an empty list; omit it (null) to mean all layers"
        )
    return require_layer_ids(wanted, valid, setting, "layers of the model")


def layer_parameter(model: Any, layer_id: int, param: str) -> torch.Tensor | None:
    """The tensor ``layers.<id>.<param>`` from ``parameters_by_name()``, or None if absent."""
    getter = getattr(model, "parameters_by_name", None)
    if getter is None:
        return None
    return getter().get(f"layers.{layer_id}.{param}")


# ---------------------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------------------


def connection_endpoints(name: str) -> tuple[int, int]:
    """(from_layer, to_layer) of a connection named ``"<from>_to_<to>"`` (a prefix is allowed)."""
    match = _ENDPOINTS.search(name)
    if match is None:
        raise ValueError(f"connection name '{name}' does not end in '<from>_to_<to>'")
    return int(match.group(1)), int(match.group(2))


def canonical_connection_name(name: str) -> str:
    """``"<from>_to_<to>"`` for a connection name; accepts ``internal_<id>`` and a ``J_`` prefix."""
    text = str(name).strip()
    match = _INTERNAL.fullmatch(text)
    if match:
        return f"{match.group(1)}_to_{match.group(1)}"
    return text.removeprefix("J_")


def model_connection_weights(model: Any, who: str, learnable_only: bool = True) -> dict[str, torch.Tensor]:
    """``{"<from>_to_<to>": masked weight}`` of the model's (learnable) connections; gradients
    flow through them. ``who`` (a loss, ``"a callback"``) is named when the model has none."""
    getter = getattr(model, "connection_weights", None)
    if getter is None:
        raise ConfigError(
            f"{who} needs a model with connection_weights() (a SOENModel), got {type(model).__name__}"
        )
    return dict(getter(learnable_only=learnable_only))


def connection_weights(model: Any, loss: str, learnable_only: bool = True) -> dict[str, torch.Tensor]:
    """``model_connection_weights`` for loss ``loss`` (the losses' form)."""
    return model_connection_weights(model, f"loss '{loss}'", learnable_only)


def connection_tensors(model: Any, learnable_only: bool) -> dict[str, torch.Tensor]:
    """``model_connection_weights`` for a callback (the callbacks' form)."""
    return model_connection_weights(model, "a callback", learnable_only)


def resolve_connections(
    requested: Iterable[Any] | None, model: Any, setting: str, learnable_only: bool
) -> list[str]:
    """Canonical names of ``requested`` connections (None = every (learnable) connection).

    Raises ``ConfigError`` naming ``setting`` when a name matches no connection, or when the
    selection is empty.
    """
    kind = "learnable connections" if learnable_only else "connections"
    valid = sorted(connection_tensors(model, learnable_only))
    if requested is None:
        if not valid:
            raise ConfigError(f"{setting}: the model has no {kind} to act on")
        return valid
    wanted = [canonical_connection_name(n) for n in requested]
    if not wanted:
        raise ConfigError(
            f"{setting}: connections is an empty list; name at least one of {', '.join(valid)}"
        )
    for original, name in zip(requested, wanted):
        if name not in valid:
            hint = closest(name, valid)
            msg = f"{setting}: '{original}' is not one of the model's {kind}"
            if hint:
                msg += f" (did you mean '{hint}'?)"
            msg += f"; valid names: {', '.join(valid) or '(none)'}"
            raise ConfigError(msg)
    return list(dict.fromkeys(wanted))


def connection_parameter(model: Any, name: str) -> torch.nn.Parameter:
    """The stored (full-precision) weight Parameter of connection ``name``."""
    params = model.parameters_by_name()
    key = f"connections.{name}"
    if key not in params:
        raise ConfigError(
            f"connection '{name}' has no parameter '{key}' in parameters_by_name(); "
            f"known: {', '.join(k for k in params if k.startswith('connections.'))}"
        )
    return params[key]
