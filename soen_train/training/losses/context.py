"""``LossContext``: everything a loss may read, handed over explicitly by the trainer.

Losses never read attributes cached on the Lightning module; the trainer builds one context
per step with the aligned outputs, targets, pooled outputs, the model, its inputs and (when a
loss asks for it) the full simulation result and a callable for a second forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class LossContext:
    """Inputs to every loss for one batch.

    outputs: aligned model outputs, pooled and scaled [B, C] (seq2static) or the output
        history without step 0 [B, T, C] (seq2seq).
    targets: labels aligned with ``outputs`` (class ids or regression values), or None.
    pooled: pooled and scaled outputs [B, C], or None when nothing was pooled (seq2seq).
    pooling_scale: the pooling ``scale`` used, so raw pooled values are ``pooled / scale``.
    model: the SOEN model (``connection_weights``, ``spec``, ``layer_ids``, ``simulate``...).
    inputs: the batch inputs [B, T, D_in].
    sim: the SimulationResult of this forward pass (all layer histories), or None.
    forward: ``x -> SimulationResult`` for losses that need a second forward pass, or None.
    """

    outputs: torch.Tensor
    targets: torch.Tensor | None = None
    pooled: torch.Tensor | None = None
    pooling_scale: float = 1.0
    model: Any = None
    inputs: torch.Tensor | None = None
    sim: Any = None
    forward: Callable[[torch.Tensor], Any] | None = None

    def require_targets(self, loss: str) -> torch.Tensor:
        """Targets, or an error saying that ``loss`` needs labels."""
        if self.targets is None:
            raise ValueError(f"loss '{loss}' needs targets, but this batch has none")
        return self.targets

    def require_pooled(self, loss: str) -> torch.Tensor:
        """Pooled outputs, or an error saying that ``loss`` needs the seq2static mapping."""
        if self.pooled is None:
            raise ValueError(
                f"loss '{loss}' works on pooled outputs [B, C]; use mapping seq2static "
                "(with a time pooling) to use it"
            )
        return self.pooled

    def require_model(self, loss: str) -> Any:
        """The model, or an error saying that ``loss`` needs it."""
        if self.model is None:
            raise ValueError(f"loss '{loss}' needs the model in its context (ctx.model is None)")
        return self.model

    def require_sim(self, loss: str) -> Any:
        """The simulation result, or an error saying that ``loss`` needs all layer histories."""
        if self.sim is None:
            raise ValueError(
                f"loss '{loss}' needs the simulation result (all layer histories) in ctx.sim"
            )
        return self.sim

    def require_inputs(self, loss: str) -> torch.Tensor:
        """The batch inputs, or an error saying that ``loss`` needs them."""
        if self.inputs is None:
            raise ValueError(f"loss '{loss}' needs the batch inputs in ctx.inputs")
        return self.inputs

    def require_forward(self, loss: str) -> Callable[[torch.Tensor], Any]:
        """The second-pass forward callable, or an error saying that ``loss`` needs it."""
        if self.forward is None:
            raise ValueError(
                f"loss '{loss}' runs a second forward pass and needs ctx.forward (x -> SimulationResult)"
            )
        return self.forward

    def output_states(self) -> torch.Tensor:
        """The states output regularisers act on: pooled outputs if any, else the output history."""
        return self.pooled if self.pooled is not None else self.outputs
