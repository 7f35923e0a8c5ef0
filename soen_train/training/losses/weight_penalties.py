"""``reg_J_loss``: keep connection weights J under the hardware coupling limit.

Couplings beyond |J| = 0.24 cannot be fabricated, so weights past ``threshold`` are
penalised exponentially (close to a hard wall for large ``scale``). J is dimensionless.
"""

from __future__ import annotations

import torch

from soen_train.catalog.losses import LOSS_CATALOG
from soen_train.training.losses.context import LossContext
from soen_train.training.losses.model_access import connection_weights, select_connections


@LOSS_CATALOG.torch("reg_J_loss")
def reg_J_loss(
    ctx: LossContext, threshold: float = 0.24, scale: float = 1.0, factor: float = 0.01
) -> torch.Tensor:
    """factor * sum over learnable weights with |w| > threshold of (exp(scale (|w| - threshold)) - 1).

    A sum (not a mean) over every learnable connection, as in the original toolkit, so the
    penalty grows with the number of offending weights.
    """
    model = ctx.require_model("reg_J_loss")
    weights = select_connections(connection_weights(model, "reg_J_loss"), None, "reg_J_loss")
    total = None
    for w in weights.values():
        excess = torch.relu(w.abs() - threshold)
        term = torch.expm1(scale * excess).sum()
        total = term if total is None else total + term
    return factor * total
