"""Lightning's early stopping driven by the shared rule of ``loop_policy.early_stopping``.

Lightning's ``EarlyStopping`` keeps its hooks, DDP agreement and checkpointed state
(``wait_count``, ``best_score``); only the decision is the backend-neutral rule, the one the
JAX loop applies too.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason

from soen_train.loop_policy.early_stopping import StoppingState, early_stopping_check


class SOENEarlyStopping(EarlyStopping):
    """Stops when ``monitor`` has not improved for ``patience`` validations (or is not finite)."""

    @property
    def state_key(self) -> str:
        """Lightning's own key (``EarlyStopping{...}``): checkpoints of either class resume."""
        return "EarlyStopping" + repr({"monitor": self.monitor, "mode": self.mode})

    def _evaluate_stopping_criteria(self, current: torch.Tensor) -> Tuple[bool, Optional[str]]:
        state = StoppingState(best=float(self.best_score), wait=int(self.wait_count))
        decision = early_stopping_check(state, float(current), self.patience, self.mode, self.monitor)
        self.wait_count = decision.state.wait
        if decision.improved:
            self.best_score = current.detach().clone()
        if decision.stop:
            finite = bool(torch.isfinite(current))
            self.stopping_reason = (EarlyStoppingReason.PATIENCE_EXHAUSTED if finite
                                    else EarlyStoppingReason.NON_FINITE_METRIC)
        return decision.stop, decision.reason
