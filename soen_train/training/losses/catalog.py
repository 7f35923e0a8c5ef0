"""The torch loss registry and the helpers that evaluate a loss with checked params.

Each loss is declared once in ``soen_train.catalog.losses`` (name, params with defaults,
needs, value check); the torch functions join it with ``@LOSS_CATALOG.torch(name)``, which
refuses a signature that differs from the declaration. A loss is
``fn(ctx: LossContext, **params) -> scalar Tensor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from soen_train.catalog.losses import (  # noqa: F401  (re-exported: the old import paths)
    LOSS_CATALOG,
    NEEDS_VOCABULARY,
    loss_needs,
    loss_parameters,
    validate_loss_params,
)
from soen_train.registry import Registry
from soen_train.training.losses.context import LossContext

LossFn = Callable[..., torch.Tensor]

#: Catalog of torch losses: ``fn(ctx, **params) -> scalar``, keyed by the declared names.
LOSSES: Registry[LossFn] = LOSS_CATALOG.registry("torch")


def checked_scalar(name: str, value: object) -> torch.Tensor:
    """``value`` if it is a 0-dim tensor, else an error naming loss ``name`` and what it returned."""
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise RuntimeError(f"loss '{name}' returned {shape}, expected a scalar tensor")
    return value


def call_loss(name: str, ctx: LossContext, params: Mapping[str, Any] | None = None) -> torch.Tensor:
    """Validate ``params`` and evaluate loss ``name`` on ``ctx``; the result must be a scalar."""
    given = validate_loss_params(name, params)
    return checked_scalar(name, LOSSES.get(name)(ctx, **given))
