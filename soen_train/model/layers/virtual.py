"""Virtual (non-hardware) layers for comparison and hybrid models.

They read the flux phi exactly like physical layers (incoming connections, plus the
internal connection as the recurrent weight) and produce [B, T+1, D] histories. They are
discrete-time cells: dt does not enter their update.

- RNN (Elman):   s_{t+1} = tanh(phi_t + bias)
- LeakyGRU:      z = sigmoid(decay_bias);  s_{t+1} = z*s_t + (1 - z)*tanh(phi_t + candidate_bias)
- MinGRU:        z_t = sigmoid(gate_scale*phi_t + gate_bias);
                 s_{t+1} = (1 - z_t)*s_t + z_t*(phi_t + candidate_bias)
- NonLinear:     s_{t+1} = f(phi_t + phi_offset, bias_current) with a source function f
                 (no memory)
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import LayerRunContext, ParamDef, SOENLayer, source_func_option


class _LinearInStateIfNoInternal(SOENLayer):
    """Virtual cells whose update is linear in s once the flux is known."""

    def parallel_scan_blocker(self) -> str | None:
        """PS applies when no internal (recurrent) connection feeds the state back."""
        return "it has an internal connection (the flux depends on the state)" if self.has_internal else None

    def _finish(self, state: dict[str, Tensor], s_new: Tensor, phi: Tensor, g: Tensor,
                ctx: LayerRunContext) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        return {"s": ctx.noise.apply_step("s", s_new)}, phi, g


class RNNLayer(_LinearInStateIfNoInternal):
    """Elman tanh cell; the recurrent weight is the layer's internal connection."""

    layer_type = "RNN"
    PARAMS = (ParamDef("bias", 0.0, learnable=True, doc="pre-activation bias"),)

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """s_{t+1} = tanh(phi_t + bias)."""
        phi = self.flux(phi_ext_t, state["s"], weight_t, values, ctx)
        g = ctx.noise.apply_step("g", torch.tanh(phi + self.step_param(values, "bias", ctx)))
        return self._finish(state, g, phi, g, ctx)

    def linear_coefficients(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext
                            ) -> tuple[Tensor, Tensor, Tensor]:
        """Memoryless: a = 0, b = tanh(phi + bias)."""
        g = ctx.noise.apply_step("g", torch.tanh(phi + values["bias"]))
        return torch.zeros_like(g), g, g


class LeakyGRULayer(_LinearInStateIfNoInternal):
    """Leaky integrator with a learnable per-node retention z = sigmoid(decay_bias)."""

    layer_type = "LeakyGRU"
    PARAMS = (
        ParamDef("decay_bias", 4.0, learnable=True, doc="retention logit: z = sigmoid(decay_bias)"),
        ParamDef("candidate_bias", 0.0, learnable=True, doc="bias of the tanh candidate"),
    )

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """s_{t+1} = z*s_t + (1 - z)*tanh(phi_t + candidate_bias)."""
        s = state["s"]
        phi = self.flux(phi_ext_t, s, weight_t, values, ctx)
        z = torch.sigmoid(self.step_param(values, "decay_bias", ctx))
        g = ctx.noise.apply_step("g", torch.tanh(phi + self.step_param(values, "candidate_bias", ctx)))
        return self._finish(state, z * s + (1.0 - z) * g, phi, g, ctx)

    def linear_coefficients(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext
                            ) -> tuple[Tensor, Tensor, Tensor]:
        """a = z, b = (1 - z)*tanh(phi + candidate_bias)."""
        z = torch.sigmoid(values["decay_bias"])
        g = ctx.noise.apply_step("g", torch.tanh(phi + values["candidate_bias"]))
        return z.expand_as(g), (1.0 - z) * g, g


class MinGRULayer(_LinearInStateIfNoInternal):
    """Minimal GRU: a flux-driven gate mixes the state with a linear candidate."""

    layer_type = "MinGRU"
    PARAMS = (
        ParamDef("gate_scale", 1.0, learnable=True, doc="gate slope on the flux"),
        ParamDef("gate_bias", 0.0, learnable=True, doc="gate offset"),
        ParamDef("candidate_bias", 0.0, learnable=True, doc="candidate offset"),
    )

    @staticmethod
    def _gate(phi: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
        return torch.sigmoid(phi * scale + bias)

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """s_{t+1} = (1 - z_t)*s_t + z_t*(phi_t + candidate_bias)."""
        s = state["s"]
        phi = self.flux(phi_ext_t, s, weight_t, values, ctx)
        z = self._gate(phi, self.step_param(values, "gate_scale", ctx),
                       self.step_param(values, "gate_bias", ctx))
        g = ctx.noise.apply_step("g", phi + self.step_param(values, "candidate_bias", ctx))
        return self._finish(state, (1.0 - z) * s + z * g, phi, g, ctx)

    def linear_coefficients(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext
                            ) -> tuple[Tensor, Tensor, Tensor]:
        """a_t = 1 - z_t, b_t = z_t*(phi_t + candidate_bias)."""
        z = self._gate(phi, values["gate_scale"], values["gate_bias"])
        g = ctx.noise.apply_step("g", phi + values["candidate_bias"])
        return 1.0 - z, z * g, g


class NonLinearLayer(_LinearInStateIfNoInternal):
    """Memoryless map s_{t+1} = f(phi_t + phi_offset) through a source function."""

    layer_type = "NonLinear"
    PARAMS = (
        ParamDef("phi_offset", 0.0, learnable=True, doc="flux offset"),
        ParamDef("bias_current", 1.7, minimum=0.0,
                 doc="current fed to state-dependent source functions [Ic]"),
    )
    OPTIONS = SOENLayer.OPTIONS + (source_func_option("Tanh", doc="the non-linearity f"),)

    def _evaluate(self, phi: Tensor, bias: Tensor) -> Tensor:
        return self.source.value(phi, bias.expand_as(phi) if self.source.uses_current else None)

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """s_{t+1} = f(phi_t) with the offset already inside phi_t."""
        phi = self.flux(phi_ext_t, state["s"], weight_t, values, ctx)
        bias = self.step_param(values, "bias_current", ctx)
        g = ctx.noise.apply_step("g", self._evaluate(phi, bias))
        return self._finish(state, g, phi, g, ctx)

    def linear_coefficients(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext
                            ) -> tuple[Tensor, Tensor, Tensor]:
        """Memoryless: a = 0, b = f(phi)."""
        g = ctx.noise.apply_step("g", self._evaluate(phi, values["bias_current"]))
        return torch.zeros_like(g), g, g
