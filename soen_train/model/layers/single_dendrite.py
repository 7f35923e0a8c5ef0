"""SingleDendrite: the basic physical SOEN neuron (a dendritic integration loop).

    ds/dt = gamma_plus * g(phi, i) - gamma_minus * s,   i = bias_current - s,
    phi   = incoming flux + s @ J_int^T + phi_offset,

integrated with forward Euler: s_{t+1} = (1 - dt*gamma_minus) * s_t + dt*gamma_plus * g_t.
Layerwise evaluation runs the whole sequence through the fused scan in
``dendrite_scan`` (hand-written backward); noise settings it cannot fuse fall back to the
generic step loop. With a phi-only source and no internal connection the update is linear
in s, so the PS (parallel scan) solver applies.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..dendrite_scan import dendrite_scan
from .base import (
    InternalWeight,
    LayerHistory,
    LayerRunContext,
    ParamDef,
    SOENLayer,
    source_func_option,
)

_STATE_KEYS = ("phi", "g", "s", "bias_current")


class SingleDendriteLayer(SOENLayer):
    """Physical dendrite layer with a pluggable source function."""

    layer_type = "SingleDendrite"
    PHYSICAL = True
    PARAMS = (
        ParamDef("phi_offset", 0.23, doc="flux bias added to the input flux [Phi0]"),
        ParamDef("bias_current", 1.7, minimum=0.0, doc="SQUID bias; sets the threshold [Ic]"),
        ParamDef("gamma_plus", 0.001, minimum=0.0, doc="drive gain (dimensionless rate)"),
        ParamDef("gamma_minus", 0.001, minimum=0.0, doc="leak rate (dimensionless rate)"),
    )
    OPTIONS = SOENLayer.OPTIONS + (source_func_option("RateArray"),)

    def parallel_scan_blocker(self) -> str | None:
        """PS needs an update that is linear in s."""
        if self.has_internal:
            return "it has an internal connection (the flux depends on the state)"
        if self.source.uses_current:
            return (f"source function {self.options.get('source_func')} depends on the state "
                    "through i = bias_current - s")
        return None

    def _coefficients(self, values: dict[str, Tensor], ctx: LayerRunContext) -> tuple[Tensor, Tensor]:
        gamma_minus = self.step_param(values, "gamma_minus", ctx)
        gamma_plus = self.step_param(values, "gamma_plus", ctx)
        return 1.0 - ctx.dt * gamma_minus, ctx.dt * gamma_plus

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """One forward-Euler step of ds/dt = gamma_plus*g - gamma_minus*s."""
        s = state["s"]
        phi = self.flux(phi_ext_t, s, weight_t, values, ctx)
        current = None
        if self.source.uses_current:
            current = self.step_param(values, "bias_current", ctx) - s
        g = ctx.noise.apply_step("g", self.source.value(phi, current))
        a, c = self._coefficients(values, ctx)
        s_new = ctx.noise.apply_step("s", torch.addcmul(s * a, c, g))
        return {"s": s_new}, phi, g

    def linear_coefficients(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext
                            ) -> tuple[Tensor, Tensor, Tensor]:
        """PS form: a = 1 - dt*gamma_minus, b = dt*gamma_plus*g(phi)."""
        g = ctx.noise.apply_step("g", self.source.value(phi, None))
        gamma_minus = values["gamma_minus"]
        gamma_plus = values["gamma_plus"]
        if ctx.noise.has_step_noise("gamma_minus"):
            gamma_minus = gamma_minus + ctx.noise.step_sample("gamma_minus", gamma_minus.expand_as(phi))
        if ctx.noise.has_step_noise("gamma_plus"):
            gamma_plus = gamma_plus + ctx.noise.step_sample("gamma_plus", gamma_plus.expand_as(phi))
        return 1.0 - ctx.dt * gamma_minus, ctx.dt * gamma_plus * g, g

    def _fusable(self, internal: InternalWeight | None, ctx: LayerRunContext) -> bool:
        """True when the fused scan reproduces the configured noise exactly."""
        if internal is not None and not internal.is_static:  # per-step noise or dynamic edges
            return False
        if ctx.noise.relative and ctx.noise.any_step_noise(_STATE_KEYS):
            return False
        return not self.param_step_noise_active(ctx)

    def run_sequence(self, phi_ext: Tensor, state0: dict[str, Tensor],
                     internal: InternalWeight | None, ctx: LayerRunContext) -> LayerHistory:
        """Layerwise run: fused scan when possible, PS when asked, else the step loop."""
        values = self.prepare(ctx)
        if self.solver == "PS":
            return self.run_parallel(phi_ext, state0, values, ctx)
        if not self._fusable(internal, ctx):
            return self.run_steps(phi_ext, state0, internal, values, ctx)
        noise = ctx.noise
        offset = noise.perturbed("phi", values["phi_offset"])  # [D], or [B, D] when perturbed
        flux = phi_ext
        sample = noise.step_sample("phi", flux)
        if sample is not None:
            flux = flux + sample
        bias = values["bias_current"]
        if noise.has_step_noise("bias_current"):
            bias = bias.expand_as(flux)
            bias = bias + noise.step_sample("bias_current", bias)
        a = 1.0 - ctx.dt * values["gamma_minus"]
        c = ctx.dt * values["gamma_plus"]
        g_noise = self._additive(noise, "g", flux)
        s_noise = self._additive(noise, "s", flux)
        weight = internal.base if internal is not None else None
        history, phi_hist, g_hist = dendrite_scan(
            flux, state0["s"], weight, a, c, bias if self.source.uses_current else None,
            self.source, g_noise=g_noise, s_noise=s_noise, bias=offset)
        if weight is None and ctx.track_phi:
            phi_hist = flux + offset
        return LayerHistory(states=history, phi=phi_hist if ctx.track_phi else None,
                            g=g_hist if ctx.track_g else None)

    @staticmethod
    def _additive(noise, key: str, like: Tensor) -> Tensor | None:
        """Offset + fresh samples of ``key`` as one [T, B, D] tensor (None when off)."""
        total = None
        offset = noise.offset(key)
        if offset is not None:
            total = offset.expand_as(like)
        sample = noise.step_sample(key, like)
        if sample is not None:
            total = sample if total is None else total + sample
        return total
