"""Memoryless layers: the state of step t is a function of that step's flux only.

- NonLinear:       s_t = f(phi_t + phi_offset, i = bias_current)   (source function f, default Tanh)
- DendriteReadout: s_t = g(phi_t + phi_offset, i = bias_current)   (default RateArray; alias Readout)
- ScalingLayer:    s_t = scale_factor * phi_t
- Softmax:         s_t = softmax(beta * phi_t) over the nodes

As in the original toolkit these layers take no internal connection: an L->L connection in
the architecture is built (and saved) but never applied (``accepts_internal_connection``).
For a state-dependent source function the current is the constant ``bias_current`` (there
is no state to subtract). Noise order: phi (after the offset), then g on the mapped value,
then s on the output.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor

from .base import (
    InternalWeight,
    LayerHistory,
    LayerRunContext,
    ParamDef,
    SOENLayer,
    source_func_option,
)


class StatelessLayer(SOENLayer):
    """Common time loop of memoryless layers: one vectorised map over all steps."""

    accepts_internal_connection = False

    def parallel_scan_blocker(self) -> str | None:
        """Every step is independent, so PS is the same vectorised evaluation."""
        return None

    @abstractmethod
    def mapped(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext) -> Tensor:
        """The layer's map of an already offset and noised flux (before g noise)."""

    def _evaluate(self, phi_ext: Tensor, values: dict[str, Tensor], ctx: LayerRunContext
                  ) -> tuple[Tensor, Tensor, Tensor]:
        """(flux, drive g, new state) for one step [B, D] or for all steps [T, B, D]."""
        phi = phi_ext
        if "phi_offset" in values:
            phi = phi + self.step_param(values, "phi_offset", ctx)
        phi = ctx.noise.apply_step("phi", phi)
        g = ctx.noise.apply_step("g", self.mapped(phi, values, ctx))
        return phi, g, ctx.noise.apply_step("s", g)

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """s_t = map(phi_t); an internal weight is ignored (see the module docstring)."""
        phi, g, s = self._evaluate(phi_ext_t, values, ctx)
        return {"s": s}, phi, g

    def run_sequence(self, phi_ext: Tensor, state0: dict[str, Tensor],
                     internal: InternalWeight | None, ctx: LayerRunContext) -> LayerHistory:
        """All steps at once, unless a parameter gets fresh per-step noise (then step by step)."""
        values = self.prepare(ctx)
        if any(ctx.noise.has_step_noise(p) for p in self.param_names()):
            return self.run_steps(phi_ext, state0, None, values, ctx)
        phi, g, s = self._evaluate(phi_ext, values, ctx)
        history = torch.cat([state0["s"].unsqueeze(0), s], dim=0)
        return LayerHistory(states=history, phi=phi if ctx.track_phi else None,
                            g=g if ctx.track_g else None)


class _SourceMapLayer(StatelessLayer):
    """s_t = f(phi_t + phi_offset, i = bias_current) through the layer's source function."""

    def mapped(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext) -> Tensor:
        """f(phi, bias_current) (the current is ignored by phi-only functions)."""
        if not self.source.uses_current:
            return self.source.value(phi, None)
        bias = self.step_param(values, "bias_current", ctx)
        return self.source.value(phi, bias.expand_as(phi))


class NonLinearLayer(_SourceMapLayer):
    """Memoryless non-linearity (default Tanh)."""

    layer_type = "NonLinear"
    PARAMS = (
        ParamDef("phi_offset", 0.0, learnable=True, doc="flux offset [Phi0]"),
        ParamDef("bias_current", 1.7, minimum=0.0,
                 doc="current fed to state-dependent source functions [Ic]"),
    )
    OPTIONS = SOENLayer.OPTIONS + (source_func_option("Tanh", doc="the non-linearity f"),)


class DendriteReadoutLayer(_SourceMapLayer):
    """Memoryless physical read-out of a dendrite: the rate g at the constant bias current.

    Its history starts at 0 whatever initial state is supplied (as in the original, the
    layer takes no initial state; being memoryless, steps 1..T do not depend on one).
    """

    layer_type = "DendriteReadout"
    PHYSICAL = True
    PARAMS = (
        ParamDef("phi_offset", 0.0, doc="flux offset [Phi0]"),
        ParamDef("bias_current", 1.7, minimum=0.0, doc="SQUID bias current (constant, not bias - s) [Ic]"),
    )
    OPTIONS = SOENLayer.OPTIONS + (source_func_option("RateArray"),)

    def initial_state(self, s0: Tensor, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        """Always zeros (see the class docstring)."""
        return {"s": torch.zeros_like(s0)}


class ScalingLayer(StatelessLayer):
    """Per-node gain: s_t = scale_factor * phi_t."""

    layer_type = "ScalingLayer"
    PARAMS = (ParamDef("scale_factor", 1.0, learnable=True, doc="per-node gain"),)

    def mapped(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext) -> Tensor:
        """scale_factor * phi."""
        return self.step_param(values, "scale_factor", ctx) * phi


class SoftmaxLayer(StatelessLayer):
    """Softmax over the nodes with per-node inverse temperature beta."""

    layer_type = "Softmax"
    PARAMS = (ParamDef("beta", 1.0, minimum=0.01, learnable=True, doc="inverse temperature per node"),)

    def mapped(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext) -> Tensor:
        """softmax(beta * phi) over the last (node) axis."""
        return torch.softmax(self.step_param(values, "beta", ctx) * phi, dim=-1)
