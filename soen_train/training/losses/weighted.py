"""``WeightedLoss``: the configured loss terms (``soen_train.catalog.loss_terms``) summed with weights.

Config form (``training.loss.losses``): a list of ``{name, weight=1.0, params={}}``, checked
at construction (names, params, values, weights) so a typo fails before the first batch.
"""

from __future__ import annotations

import torch

from soen_train.catalog.loss_terms import (  # noqa: F401  (LossTerm etc. re-exported)
    CONFIG_PATH,
    ITEM_KEYS,
    LossTerm,
    LossTerms,
)
from soen_train.training.losses.catalog import LOSSES, checked_scalar
from soen_train.training.losses.context import LossContext


class WeightedLoss(LossTerms):
    """Sum of weighted loss terms: ``total = sum_i weight_i * loss_i(ctx, **params_i)``.

    The terms are validated by ``LossTerms`` (shared with the JAX backend).
    """

    def __call__(
        self, ctx: LossContext, only: str | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total, {term name: unweighted value}) for one batch.

        ``only`` (a term name or loss name) evaluates that single term, e.g. to alternate
        between losses from batch to batch; the total is then its weighted value alone.
        """
        selected = self._terms
        if only is not None:
            key = self.resolve_key(only)
            selected = [t for t in self._terms if t.key == key]
        total = None
        values: dict[str, torch.Tensor] = {}
        for term in selected:
            value = checked_scalar(term.key, LOSSES.get(term.name)(ctx, **term.params))
            values[term.key] = value
            weight = self._weights[term.key]
            # x 1.0 changes no bit of the value or its gradient; skipping it saves two kernels
            weighted = value if weight == 1.0 else weight * value
            total = weighted if total is None else total + weighted
        assert total is not None  # the constructor guarantees at least one term
        return total, values

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}*{self._weights[k]:g}" for k in self.term_names)
        return f"WeightedLoss({parts})"
