"""SingleDendrite: the basic physical SOEN neuron (a dendritic integration loop).

    ds/dt = gamma_plus * g(phi, i) - gamma_minus * s,   i = bias_current - s,
    phi   = incoming flux + s @ J_int^T + phi_offset,

integrated with forward Euler: s_{t+1} = (1 - dt*gamma_minus) * s_t + dt*gamma_plus * g_t.
Layerwise evaluation runs the whole sequence through the fused scan in
``dendrite_scan`` (hand-written backward); noise settings it cannot fuse fall back to the
generic step loop. With a phi-only source and no internal connection the update is linear
in s, so the PS (parallel scan) solver applies.

Solver PARARNN (the original's third solver) solves the same FE recurrence s_{t+1} = F_t(s_t)
in parallel over time by Newton's method: linearise every step at the current guess,
A_t = dF_t/ds, and solve s_{t+1} = A_t s_t + (F_t(guess_t) - A_t guess_t) with one parallel
scan; repeat until the largest change is below 1e-6 (at most 15 iterations). A last scan at
the converged guess, with A held constant, carries the gradients (exact at the fixed
point). Its result equals FE to float32 rounding. An internal connection must be diagonal
(each node feeds back only to itself), as in the original. Relative noise or per-step noise
on a parameter other than bias_current runs the (numerically equal) FE step loop instead.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..parallel_scan import linear_scan
from ..physics import DEFAULT_LOOP_GAMMA
from ..validation import ArchitectureError
from .base import (
    InternalWeight,
    LayerHistory,
    LayerRunContext,
    ParamDef,
    SOENLayer,
    source_func_option,
)
from .fused_fe import fused_fe_history

_STATE_KEYS = ("phi", "g", "s", "bias_current")
#: Newton iterations of the PARARNN solver: at most this many, until max |change| < tol.
PARARNN_MAX_ITER = 15
PARARNN_TOL = 1e-6


class SingleDendriteLayer(SOENLayer):
    """Physical dendrite layer with a pluggable source function."""

    layer_type = "SingleDendrite"
    PHYSICAL = True
    PARAMS = (
        ParamDef("phi_offset", 0.23, doc="flux bias added to the input flux [Phi0]"),
        ParamDef("bias_current", 1.7, minimum=0.0, doc="SQUID bias; sets the threshold [Ic]"),
        ParamDef("gamma_plus", DEFAULT_LOOP_GAMMA, minimum=0.0,
                 doc="drive gain (dimensionless rate; default 1/beta_L of a 0.5 nH loop)"),
        ParamDef("gamma_minus", 0.001, minimum=0.0, doc="leak rate (dimensionless rate)"),
    )
    OPTIONS = SOENLayer.OPTIONS + (source_func_option("RateArray"),)

    def solver_blocker(self, solver: str) -> str | None:
        """FE and PARARNN always (PARARNN checks at run time that J_int is diagonal); PS below."""
        return None if solver == "PARARNN" else super().solver_blocker(solver)

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
        if self.solver == "PARARNN" and self._newton_applies(internal, ctx):
            return self.run_newton(phi_ext, state0, internal, values, ctx)
        if not self._fusable(internal, ctx):
            return self.run_steps(phi_ext, state0, internal, values, ctx)
        flux, offset, bias, g_noise, s_noise = self._noisy_inputs(phi_ext, values, ctx)
        return fused_fe_history(flux, state0["s"], internal, values, bias, self.source, ctx,
                                phi_without_internal=lambda: flux + offset,
                                g_noise=g_noise, s_noise=s_noise, bias=offset)

    def _noisy_inputs(self, phi_ext: Tensor, values: dict[str, Tensor], ctx: LayerRunContext
                      ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
        """What both whole-sequence solvers (fused FE scan, PARARNN) feed the recurrence, with
        the noise drawn in one fixed order: the phi offset ([D], or [B, D] when perturbed),
        the flux with its per-step phi noise [T, B, D], the bias current (noisy per step when
        asked) and the additive g and s noise (None when off)."""
        noise = ctx.noise
        offset = noise.perturbed("phi", values["phi_offset"])
        flux = phi_ext
        sample = noise.step_sample("phi", flux)
        if sample is not None:
            flux = flux + sample
        bias = values["bias_current"]
        if noise.has_step_noise("bias_current"):
            bias = bias.expand_as(flux)
            bias = bias + noise.step_sample("bias_current", bias)
        return flux, offset, bias, self._additive(noise, "g", flux), self._additive(noise, "s", flux)

    def _newton_applies(self, internal: InternalWeight | None, ctx: LayerRunContext) -> bool:
        """PARARNN needs fixed per-step noise samples and a diagonal, static internal weight."""
        if internal is not None:
            weight = internal.base
            if (weight - torch.diag_embed(torch.diagonal(weight))).abs().max() > 0:
                raise ArchitectureError(
                    f"layer {self.layer_id} (SingleDendrite): solver PARARNN accepts only a diagonal "
                    "internal connection (each node feeding back to itself); use solver: FE"
                )
            if not internal.is_static:
                return False
        return self._fusable(internal, ctx)

    def run_newton(self, phi_ext: Tensor, state0: dict[str, Tensor], internal: InternalWeight | None,
                   values: dict[str, Tensor], ctx: LayerRunContext) -> LayerHistory:
        """PARARNN: Newton iterations on the FE recurrence, each solved by a parallel scan."""
        flux, offset, bias, g_noise, s_noise = self._noisy_inputs(phi_ext, values, ctx)
        flux = flux + offset
        a = 1.0 - ctx.dt * values["gamma_minus"]
        c = ctx.dt * values["gamma_plus"]
        feedback = torch.diagonal(internal.base) if internal is not None else None
        s0 = state0["s"]

        def step_map(s_prev: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            """F_t(s_t) for all t at once, plus the flux and drive, from s_prev = [s_0..s_{T-1}]."""
            phi = flux if feedback is None else flux + s_prev * feedback
            current = bias - s_prev if self.source.uses_current else None
            g = self.source.value(phi, current)
            if g_noise is not None:
                g = g + g_noise
            s_next = a * s_prev + c * g
            if s_noise is not None:
                s_next = s_next + s_noise
            return s_next, phi, g

        def slope(s_prev: Tensor) -> Tensor:
            """dF_t/ds_t (no autograd)."""
            phi = flux if feedback is None else flux + s_prev * feedback
            current = bias - s_prev if self.source.uses_current else None
            dg_dphi, dg_di = self.source.derivatives(phi, current)
            total = dg_dphi * feedback if feedback is not None else torch.zeros_like(dg_dphi)
            if dg_di is not None:
                total = total - dg_di
            return a + c * total

        with torch.no_grad():
            guess = s0.detach().unsqueeze(0).expand_as(flux).contiguous()  # s_0 .. s_{T-1}
            previous = None
            for _ in range(PARARNN_MAX_ITER):
                a_t = slope(guess)
                history = linear_scan(a_t, step_map(guess)[0] - a_t * guess, s0.detach())
                converged = previous is not None and float((history - previous).abs().max()) < PARARNN_TOL
                previous, guess = history, history[:-1].contiguous()
                if converged:
                    break
            a_t = slope(guess)
        f_val, phi, g = step_map(guess)  # differentiable at the converged guess
        history = linear_scan(a_t, f_val - a_t * guess, s0)
        return LayerHistory(states=history, phi=phi if ctx.track_phi else None,
                            g=g if ctx.track_g else None)

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
