"""The loss registry and the decorator that declares what each loss needs from the trainer.

A loss is ``fn(ctx: LossContext, **params) -> scalar Tensor``; its params are keyword
arguments with defaults, so the accepted names and defaults are read from the signature.
``needs`` tells the trainer what to prepare (a full simulation result, tracked g, a second
forward pass); the entry's validator (``check=``) checks param values before training starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from soen_train.registry import Registry, check_params
from soen_train.training.losses.context import LossContext
from soen_train.training.losses.param_aliases import canonical_params

LossFn = Callable[..., torch.Tensor]
ParamCheck = Callable[..., None]

#: Catalog of losses: ``fn(ctx, **params) -> scalar``.
LOSSES: Registry[LossFn] = Registry("loss", skip=1)  # the LossContext

#: What a loss can ask of the trainer:
#: ``targets`` labels in ``ctx.targets``; ``pooled`` seq2static pooled outputs in ``ctx.pooled``;
#: ``model`` the model in ``ctx.model``; ``sim`` a SimulationResult (all layer histories) in
#: ``ctx.sim``; ``track_g`` that result with g tracked; ``forward`` a callable for a second pass.
NEEDS_VOCABULARY: frozenset[str] = frozenset(
    {"targets", "pooled", "model", "sim", "track_g", "forward"}
)


def register_loss(
    name: str,
    *aliases: str,
    needs: Iterable[str] = (),
    check: ParamCheck | None = None,
) -> Callable[[LossFn], LossFn]:
    """Decorator: add a loss to ``LOSSES`` with its ``needs`` and its value check (the entry's
    validator, ``LOSSES.validator_of``)."""
    need_set = frozenset(needs)
    unknown = need_set - NEEDS_VOCABULARY
    if unknown:
        raise ValueError(
            f"loss '{name}' declares unknown needs {sorted(unknown)}; "
            f"valid: {', '.join(sorted(NEEDS_VOCABULARY))}"
        )

    def deco(fn: LossFn) -> LossFn:
        fn.needs = need_set  # type: ignore[attr-defined]
        fn.loss_name = name  # type: ignore[attr-defined]
        return LOSSES.register(name, *aliases, validator=check)(fn)

    return deco


def loss_parameters(name: str) -> dict[str, Any]:
    """Accepted params of loss ``name`` (or an alias) with their defaults."""
    return LOSSES.params(name)


def loss_needs(name: str) -> frozenset[str]:
    """What loss ``name`` needs from the trainer (a subset of ``NEEDS_VOCABULARY``)."""
    return frozenset(getattr(LOSSES.get(name), "needs", frozenset()))


def validate_loss_params(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check names and values of ``params`` for loss ``name``; return them as a plain dict.

    Unknown names raise an error naming the loss and listing its valid params; value checks
    (ranges, choices, incomplete codebook settings) run with the defaults filled in. The
    original toolkit's param names (``param_aliases.py``) are accepted and returned as ours.
    """
    canonical = LOSSES.canonical(name)
    given = canonical_params(canonical, dict(params or {}))
    defaults = loss_parameters(canonical)
    check_params(f"loss '{canonical}'", given, defaults)
    check = LOSSES.validator_of(canonical)
    if check is not None:
        check(**{**defaults, **given})
    return given


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
