"""Resolve the layer ids and connection names a callback setting refers to, against a model.

Callbacks reach the SOEN model only through its public API (``layer_ids``,
``connection_weights()``, ``parameters_by_name()``). A name that matches nothing is an
error naming the setting, the bad value, the valid values and the closest one, so a typo
fails at start-up instead of silently doing nothing (as the original toolkit did).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch

from soen_train.config.errors import ConfigError
from soen_train.registry import closest

#: ``internal_<id>`` is the original toolkit's name for the recurrent connection ``<id>_to_<id>``.
_INTERNAL = re.compile(r"internal_(-?\d+)$")


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


def resolve_layer_ids(
    requested: Iterable[Any] | None, model: Any, setting: str
) -> list[int] | None:
    """``requested`` as ints if every id is a layer of ``model`` (None stays None = all layers)."""
    if requested is None:
        return None
    valid = model_layer_ids(model)
    wanted = [int(r) for r in requested]
    if not wanted:
        raise ConfigError(
            f"{setting}: layer_ids is an empty list; omit it (null) to mean all layers"
        )
    bad = [r for r in wanted if r not in valid]
    if bad:
        raise ConfigError(
            f"{setting}: layer_ids {bad} are not layers of the model; valid layer ids: "
            f"{', '.join(map(str, valid))}"
        )
    return wanted


def canonical_connection_name(name: str) -> str:
    """``"<from>_to_<to>"`` for a connection name; accepts ``internal_<id>`` and a ``J_`` prefix."""
    text = str(name).strip()
    match = _INTERNAL.fullmatch(text)
    if match:
        return f"{match.group(1)}_to_{match.group(1)}"
    text = text.removeprefix("J_")
    return text


def connection_tensors(model: Any, learnable_only: bool) -> dict[str, torch.Tensor]:
    """``{"<from>_to_<to>": masked weight}`` of the model's (learnable) connections."""
    getter = getattr(model, "connection_weights", None)
    if getter is None:
        raise ConfigError(
            f"{type(model).__name__} has no connection_weights(); callbacks need a SOENModel"
        )
    return dict(getter(learnable_only=learnable_only))


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
