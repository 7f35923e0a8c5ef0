"""Multiplier layers: circuits whose steady state approximates phi_in * phi_w.

MultiplierWICC (alias Multiplier), one state s per node:
    ds/dt = gamma_plus*g(phi + phi_y, ib - s) - gamma_plus*g(phi - phi_y, ib + s) - gamma_minus*s
Layerwise FE runs it through the compiled fused scan (``dendrite_scan`` with ``phi_y``,
hand-written backward) when that kernel is available and no noise is configured; otherwise
(no C compiler, CUDA, noise) through the step loop, the reference the fused scan is tested
against. MultiplierNOCC takes the same decision (``fused_multiplier_applies``) and fuses its
three states in ``native_scan_nocc``.

MultiplierNOCC, per node i: output m and two branch states s1, s2 (auxiliary states that
stateful training must carry):
    g1 = g(phi + phi_y, |ib - s1|~),  g2 = g(phi - phi_y, |s2 - ib|~)   |v|~ = sqrt(v^2 + 0.01)
    beta_eff = beta + 2*N*beta_out
    dm/dt  = (g1 - g2 - alpha*m) / beta_eff
    ds1/dt = (g1 - beta_out*dm/dt - alpha*s1) / beta
    ds2/dt = (g2 - beta_out*dm/dt - alpha*s2) / beta
evaluated in that order each step, then all three states are advanced with forward Euler.
Layerwise FE without noise runs the three states fused over time in the compiled kernel
(``native_scan_nocc``, hand-written adjoint); this step loop is its reference.
The smooth absolute value applies to every state-dependent source function (phi-only ones
ignore the current). N, as in the original toolkit, counts only the layer's OWN internal
connection: the entries with |w| > 0 in node i's row of the current internal weight (an
entry trained to exactly 0 stops counting); without an internal connection N = 1.
Connections from other layers never count. The internal term uses m: phi += m J^T.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import native_scan
from ..dynamic_edges import EdgeStep
from ..native_scan_nocc import nocc_scan
from ..physics import DEFAULT_LOOP_GAMMA
from .base import (
    InternalWeight,
    LayerHistory,
    LayerRunContext,
    ParamDef,
    SOENLayer,
    source_func_option,
)
from .fused_fe import fused_fe_history

#: Added under the square root of the smooth absolute value of the NOCC branch currents.
SOFT_ABS_EPS = 0.01


class MultiplierWICCLayer(SOENLayer):
    """Multiplier with a collection coil (WICC): one state per node."""

    layer_type = "MultiplierWICC"
    PHYSICAL = True
    PARAMS = (
        ParamDef("phi_y", 0.1, doc="weight flux phi_w applied to both branches [Phi0]"),
        ParamDef("bias_current", 2.0, minimum=0.0, doc="branch bias [Ic]"),
        ParamDef("gamma_plus", DEFAULT_LOOP_GAMMA, minimum=0.0,
                 doc="drive gain (default 1/beta_L of a 0.5 nH loop)"),
        ParamDef("gamma_minus", DEFAULT_LOOP_GAMMA, minimum=0.0,
                 doc="leak rate (default 1/beta_L of a 0.5 nH loop)"),
    )
    OPTIONS = SOENLayer.OPTIONS + (source_func_option("RateArray"),)

    def parallel_scan_blocker(self) -> str | None:
        """PS needs both branch rates to be independent of s."""
        if self.has_internal:
            return "it has an internal connection (the flux depends on the state)"
        if self.source.uses_current:
            return (f"source function {self.options.get('source_func')} depends on the state "
                    "through the branch currents")
        return None

    def run_sequence(self, phi_ext: Tensor, state0: dict[str, Tensor],
                     internal: InternalWeight | None, ctx: LayerRunContext) -> LayerHistory:
        """Layerwise run: the compiled fused scan when it applies, else PS or the step loop."""
        values = self.prepare(ctx)
        if self.solver == "PS":
            return self.run_parallel(phi_ext, state0, values, ctx)
        if not fused_multiplier_applies(self, phi_ext, internal, ctx):
            return self.run_steps(phi_ext, state0, internal, values, ctx)
        return fused_fe_history(phi_ext, state0["s"], internal, values, values["bias_current"],
                                self.source, ctx, phi_without_internal=lambda: phi_ext,
                                phi_y=values["phi_y"])

    def _drive(self, phi: Tensor, s: Tensor | None, values: dict[str, Tensor],
               ctx: LayerRunContext, stepwise: bool) -> Tensor:
        phi_y = self.step_param(values, "phi_y", ctx) if stepwise else values["phi_y"]
        if self.source.uses_current:
            bias = self.step_param(values, "bias_current", ctx)
            g_plus = self.source.value(phi + phi_y, bias - s)
            g_minus = self.source.value(phi - phi_y, bias + s)
        else:
            g_plus = self.source.value(phi + phi_y, None)
            g_minus = self.source.value(phi - phi_y, None)
        return ctx.noise.apply_step("g", g_plus - g_minus)

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """One forward-Euler step; the recorded drive g is g(+) - g(-)."""
        s = state["s"]
        phi = self.flux(phi_ext_t, s, weight_t, values, ctx)
        g = self._drive(phi, s, values, ctx, stepwise=True)
        a = 1.0 - ctx.dt * self.step_param(values, "gamma_minus", ctx)
        c = ctx.dt * self.step_param(values, "gamma_plus", ctx)
        s_new = ctx.noise.apply_step("s", torch.addcmul(s * a, c, g))
        return {"s": s_new}, phi, g

    def linear_coefficients(self, phi: Tensor, values: dict[str, Tensor], ctx: LayerRunContext
                            ) -> tuple[Tensor, Tensor, Tensor]:
        """PS form for phi-only sources: a = 1 - dt*gamma_minus, b = dt*gamma_plus*(g+ - g-)."""
        g = self._drive(phi, None, values, ctx, stepwise=False)
        a = 1.0 - ctx.dt * values["gamma_minus"]
        return a, ctx.dt * values["gamma_plus"] * g, g


def fused_multiplier_applies(layer: SOENLayer, phi_ext: Tensor, internal: InternalWeight | None,
                             ctx: LayerRunContext) -> bool:
    """True when a multiplier layer's compiled fused scan reproduces its step loop exactly:
    the kernel runs this dtype/device/source, the internal weight is static and no noise is
    configured (per-step samples or offsets on phi, g or s).

    Args:
        layer: the MultiplierWICC or MultiplierNOCC layer.
        phi_ext: external flux [T, B, D] (Phi0); its dtype and device decide.
        internal: the layer's internal connection, or None.
        ctx: the run's context (its noise settings decide).
    """
    return (native_scan.supports(phi_ext, layer.source)
            and (internal is None or internal.is_static)
            and not ctx.noise.any_step_noise(layer.noise_keys())
            and all(ctx.noise.offset(key) is None for key in ("phi", "g", "s")))


def soft_abs(value: Tensor) -> Tensor:
    """Smooth |v| = sqrt(v^2 + 0.01) of a SQUID branch current [Ic] (0.1 at v = 0)."""
    return torch.sqrt(value * value + SOFT_ABS_EPS)


def nocc_fan_in(weight_t: Tensor | EdgeStep | None, like: Tensor) -> Tensor | float:
    """N per node: entries with |w| > 0 in each row of the internal weight, 1 without one."""
    if weight_t is None:
        return 1.0
    weight = weight_t.weight if isinstance(weight_t, EdgeStep) else weight_t
    return (weight.detach() != 0).sum(dim=1).to(like.dtype)


class MultiplierNOCCLayer(SOENLayer):
    """Multiplier without a collection coil (NOCC): output m plus branch states s1, s2."""

    layer_type = "MultiplierNOCC"
    PHYSICAL = True
    AUX_STATES = ("s1", "s2")
    PARAMS = (
        ParamDef("phi_y", 0.1, doc="weight flux phi_w [Phi0]"),
        ParamDef("bias_current", 2.1, minimum=0.0, doc="branch bias i_b [Ic]"),
        ParamDef("alpha", 1.64053, minimum=0.0, doc="damping (dimensionless)"),
        ParamDef("beta", 303.85, minimum=0.0, doc="branch inductance (dimensionless)"),
        ParamDef("beta_out", 91.156, minimum=0.0, doc="output inductance (dimensionless)"),
    )
    OPTIONS = SOENLayer.OPTIONS + (source_func_option("RateArray"),)

    def parallel_scan_blocker(self) -> str | None:
        """Three coupled states: no scalar linear recurrence."""
        return "its three coupled states (m, s1, s2) have no scalar parallel-scan form"

    def run_sequence(self, phi_ext: Tensor, state0: dict[str, Tensor],
                     internal: InternalWeight | None, ctx: LayerRunContext) -> LayerHistory:
        """Layerwise run: the compiled fused scan of the three states when it applies, else
        the step loop (its reference).

        Args:
            phi_ext: external flux [T, B, D] (Phi0).
            state0: initial states ``m``, ``s1``, ``s2`` [B, D].
            internal: the layer's internal connection, or None.
            ctx: the run's context (dt, noise, what to track).

        Returns:
            The layer's history (states [T+1, B, D]; phi and g when tracked).
        """
        values = self.prepare(ctx)
        if not fused_multiplier_applies(self, phi_ext, internal, ctx):
            return self.run_steps(phi_ext, state0, internal, values, ctx)
        weight = internal.base if internal is not None else None
        beta, beta_out, alpha, dt = values["beta"], values["beta_out"], values["alpha"], ctx.dt
        beta_eff = beta + 2.0 * nocc_fan_in(weight, phi_ext) * beta_out
        shape = torch.broadcast_shapes(*(v.shape for v in values.values()), (self.dim,))
        # A phi-only source never reads the bias current: no gradient for it (as in the step loop).
        bias = values["bias_current"] if self.source.uses_current else values["bias_current"].detach()
        coeffs = {"py": values["phi_y"], "ib": bias, "kg": dt / beta_eff,
                  "km": dt * alpha / beta_eff, "ks": dt * alpha / beta, "k1": dt / beta,
                  "ko": beta_out / beta}
        coeffs = {name: value.expand(shape) for name, value in coeffs.items()}
        M, S1, S2, PHI, G1, G2 = nocc_scan(phi_ext, state0["s"], state0["s1"], state0["s2"], weight,
                                           coeffs, self.source, SOFT_ABS_EPS,
                                           record=ctx.track_phi or ctx.track_g)
        phi = (PHI if weight is not None else phi_ext) if ctx.track_phi else None
        return LayerHistory(states=M, aux_final={"s1": S1[-1], "s2": S2[-1]}, phi=phi,
                            g=G1 - G2 if ctx.track_g else None)

    def step(self, phi_ext_t: Tensor, state: dict[str, Tensor], weight_t: Tensor | EdgeStep | None,
             values: dict[str, Tensor], ctx: LayerRunContext
             ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """g1, g2 -> dm/dt -> ds1/dt, ds2/dt -> advance m, s1, s2 together."""
        m, s1, s2 = state["s"], state["s1"], state["s2"]
        phi = self.flux(phi_ext_t, m, weight_t, values, ctx)
        phi_y = self.step_param(values, "phi_y", ctx)
        alpha = self.step_param(values, "alpha", ctx)
        beta = self.step_param(values, "beta", ctx)
        beta_out = self.step_param(values, "beta_out", ctx)
        if self.source.uses_current:
            bias = self.step_param(values, "bias_current", ctx)
            g1 = self.source.value(phi + phi_y, soft_abs(bias - s1))
            g2 = self.source.value(phi - phi_y, soft_abs(s2 - bias))
        else:
            g1 = self.source.value(phi + phi_y, None)
            g2 = self.source.value(phi - phi_y, None)
        g1 = ctx.noise.apply_step("g", g1)
        g2 = ctx.noise.apply_step("g", g2)
        beta_eff = beta + 2.0 * nocc_fan_in(weight_t, m) * beta_out
        dm = (g1 - g2 - alpha * m) / beta_eff
        ds1 = (g1 - beta_out * dm - alpha * s1) / beta
        ds2 = (g2 - beta_out * dm - alpha * s2) / beta
        m_new = ctx.noise.apply_step("s", m + ctx.dt * dm)
        new_state = {"s": m_new, "s1": s1 + ctx.dt * ds1, "s2": s2 + ctx.dt * ds2}
        return new_state, phi, g1 - g2
