"""MinGRU: a gated cell whose gate and candidate see only the step's flux (no biases).

    z_t = sigmoid(W_g phi_t),  h~_t = tanh(W_h phi_t),  h_t = (1 - z_t) * h_{t-1} + z_t * h~_t

``hidden_proj.weight`` = W_h and ``gate_proj.weight`` = W_g (both [H, H], the original's
names), torch Linear's default init U(-1/sqrt(H), 1/sqrt(H)), hidden_proj first. The update
is linear in h, so without an internal connection the PS solver solves it with one
associative scan; the per-step loop (FE) is the reference. Step order and noise: ``recurrent``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..parallel_scan import linear_scan
from .base import InternalWeight, LayerHistory, LayerRunContext
from .recurrent import RecurrentCellLayer, cell_init_scope, uniform_, zero_


class MinGRULayer(RecurrentCellLayer):
    """Minimal GRU with full input projections."""

    layer_type = "MinGRU"

    def build_tensors(self, generator: torch.Generator | None, materialize: bool) -> None:
        """hidden_proj then gate_proj, each U(-1/sqrt(H), 1/sqrt(H))."""
        with cell_init_scope(generator, materialize):
            self.hidden_proj = nn.Linear(self.dim, self.dim, bias=False)
            self.gate_proj = nn.Linear(self.dim, self.dim, bias=False)
        if not materialize:
            zero_(self)
        elif generator is not None:
            bound = 1.0 / math.sqrt(self.dim)
            uniform_(self.hidden_proj.weight, bound, generator)
            uniform_(self.gate_proj.weight, bound, generator)

    def parallel_scan_blocker(self) -> str | None:
        """PS applies when no internal connection feeds the output back into the flux."""
        return "it has an internal connection (the flux depends on the state)" if self.has_internal else None

    def _gate_and_candidate(self, phi: Tensor) -> tuple[Tensor, Tensor]:
        return torch.sigmoid(self.gate_proj(phi)), torch.tanh(self.hidden_proj(phi))

    def cell(self, phi: Tensor, hidden: dict[str, Tensor], values: dict[str, Tensor],
             ctx: LayerRunContext) -> dict[str, Tensor]:
        """h' = (1 - z) h + z h~."""
        z, candidate = self._gate_and_candidate(phi)
        h = hidden["h"]
        return {"h": h + z * (candidate - h)}

    def run_sequence(self, phi_ext: Tensor, state0: dict[str, Tensor],
                     internal: InternalWeight | None, ctx: LayerRunContext) -> LayerHistory:
        """FE: the step loop. PS: gates for all steps at once, then a scan over h, then s noise."""
        values = self.prepare(ctx)
        if self.solver != "PS":
            return self.run_steps(phi_ext, state0, internal, values, ctx)
        phi = ctx.noise.apply_step("phi", phi_ext)
        z, candidate = self._gate_and_candidate(phi)
        hidden = linear_scan(1.0 - z, z * candidate, state0["s"])
        states = torch.cat([state0["s"].unsqueeze(0), ctx.noise.apply_step("s", hidden[1:])], dim=0)
        return LayerHistory(states=states, phi=phi if ctx.track_phi else None,
                            g=hidden[1:] if ctx.track_g else None)

    def original_state_keys(self) -> list[str]:
        """The two projection matrices."""
        return ["hidden_proj.weight", "gate_proj.weight"]

    def _load_original_tensors(self, remaining: dict[str, Tensor]
                               ) -> list[tuple[Tensor, Tensor, str]]:
        return self._take(remaining, self.original_state_keys(),
                          [self.hidden_proj.weight, self.gate_proj.weight], ("",))
