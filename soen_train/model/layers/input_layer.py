"""Input (alias Linear): a layer without dynamics whose state is the flux it receives.

Used as the first layer (its states are the input sequence when ``input_type: state``)
and as a plain linear read-out: s_{t+1} = phi_t, the weighted sum of its sources.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import InternalWeight, LayerHistory, LayerRunContext, SOENLayer


class InputLayer(SOENLayer):
    """State = received flux (plus optional phi/s noise); no parameters, no memory."""

    layer_type = "Input"

    def parallel_scan_blocker(self) -> str | None:
        """Without an internal connection every step is independent."""
        return "it has an internal connection" if self.has_internal else None

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """s_{t+1} = phi_t (+ s noise); the drive g equals the flux."""
        phi = self.flux(phi_ext_t, state["s"], weight_t, values, ctx)
        return {"s": ctx.noise.apply_step("s", phi)}, phi, phi

    def run_sequence(self, phi_ext: Tensor, state0: dict[str, Tensor],
                     internal: InternalWeight | None, ctx: LayerRunContext) -> LayerHistory:
        """Without an internal connection the whole history is one vectorised expression."""
        if internal is not None:
            return self.run_steps(phi_ext, state0, internal, self.prepare(ctx), ctx)
        phi = ctx.noise.apply_step("phi", phi_ext)
        states = ctx.noise.apply_step("s", phi)
        history = torch.cat([state0["s"].unsqueeze(0), states], dim=0)
        return LayerHistory(states=history, phi=phi if ctx.track_phi else None,
                            g=phi if ctx.track_g else None)
