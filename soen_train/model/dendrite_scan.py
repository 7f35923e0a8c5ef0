"""Fused forward-Euler time scan of a SingleDendrite layer with a hand-written backward.

The recurrence, for t = 0..T-1 (all arrays [B, D] per step):

    phi_t   = X_t + s_t @ J^T                     (J: internal connection, optional)
    g_t     = source(phi_t, IB_t - s_t)           (phi-only sources ignore the current)
    s_{t+1} = a * s_t + c * (g_t + Gn_t) + Sn_t   (a = 1 - dt*gamma_minus, c = dt*gamma_plus)

X already holds the external flux, phi_offset and any phi noise; Gn and Sn are optional
additive noise samples (treated as constants). Running this as ordinary autograd ops
records ~15 graph nodes per step; here the forward runs without a graph and the backward
walks the adjoint recursion once:

    lam_{t}   = dL/ds_{t+1} (total),  u_t = lam_t * c + dL/dg_t,  p_t = u_t * dg/dphi_t + dL/dphi_t
    lam_{t-1} = dL/ds_t(direct) + lam_t * a - u_t * dg/di_t + p_t @ J

Everything that is not inherently sequential (source derivatives, parameter gradients) is
computed for all steps at once. Output: the state history H [B, T+1, D] (H[:, 0] = s_0),
the flux history PHI [B, T, D] and the rate history G [B, T, D] (g_t + Gn_t).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor

from .source_functions import SourceFunction


def _reduce_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """Sum a [B, T, D] gradient down to a coefficient's shape ([D], [B, D] or [B, T, D])."""
    if grad.shape == shape:
        return grad
    if len(shape) == 1:
        return grad.reshape(-1, grad.shape[-1]).sum(0)
    if len(shape) == 2:
        return grad.sum(1)
    raise ValueError(f"cannot reduce gradient of shape {tuple(grad.shape)} to {tuple(shape)}")


def _over_time(coeff: Tensor) -> Tensor:
    """View a [D], [B, D] or [B, T, D] coefficient so it broadcasts against [B, T, D]."""
    return coeff.unsqueeze(1) if coeff.dim() == 2 else coeff


def _per_step(tensor: Optional[Tensor], steps: int) -> List[Optional[Tensor]]:
    """Step slices of a [B, T, D] tensor (contiguous); [D] / [B, D] tensors repeat as-is."""
    if tensor is None:
        return [None] * steps
    if tensor.dim() == 3:
        return list(tensor.transpose(0, 1).contiguous().unbind(0))
    return [tensor] * steps


class DendriteScan(torch.autograd.Function):
    """autograd.Function for the whole FE time scan of one SingleDendrite layer."""

    @staticmethod
    def forward(ctx, X: Tensor, s0: Tensor, J: Optional[Tensor], a: Tensor, c: Tensor,
                IB: Optional[Tensor], g_noise: Optional[Tensor], s_noise: Optional[Tensor],
                source: SourceFunction) -> Tuple[Tensor, Tensor, Tensor]:
        ctx.set_materialize_grads(False)
        steps = X.shape[1]
        uses_current = source.uses_current
        if uses_current and IB is None:
            raise ValueError(f"{type(source).__name__} needs a bias current")
        x_steps = _per_step(X, steps)
        ib_steps = _per_step(IB, steps) if uses_current else [None] * steps
        gn_steps = _per_step(g_noise, steps)
        sn_steps = _per_step(s_noise, steps)
        plan = source.plan(x_steps) if J is None else None
        jt = J.t().contiguous() if J is not None else None

        s = s0.contiguous()
        states = [s]
        phis: List[Tensor] = []
        rates: List[Tensor] = []
        for t in range(steps):
            current = None
            if jt is not None:
                phi = torch.addmm(x_steps[t], s, jt)
                phis.append(phi)
                if uses_current:
                    current = ib_steps[t] - s
                g = source.value(phi, current)
            else:
                if uses_current:
                    current = ib_steps[t] - s
                g = source.planned_value(plan[t], current)
            if gn_steps[t] is not None:
                g = g + gn_steps[t]
            rates.append(g)
            s = torch.addcmul(s * a, c, g)
            if sn_steps[t] is not None:
                s = s + sn_steps[t]
            states.append(s)

        H = torch.stack(states, dim=1)
        G = torch.stack(rates, dim=1)
        if jt is not None:
            PHI = torch.stack(phis, dim=1)
            flux = PHI
        else:
            PHI = X.new_empty(0)  # the flux is X itself; the caller uses X
            flux = X
        ctx.source = source
        ctx.has_j = J is not None
        ctx.uses_current = uses_current
        ctx.a_shape, ctx.c_shape = a.shape, c.shape
        ctx.ib_shape = IB.shape if IB is not None else None
        ctx.save_for_backward(H, flux, G, J, a, c, IB)
        return H, PHI, G

    @staticmethod
    def backward(ctx, gH: Optional[Tensor], gPHI: Optional[Tensor], gG: Optional[Tensor]):
        H, flux, G, J, a, c, IB = ctx.saved_tensors
        source: SourceFunction = ctx.source
        batch, steps_p1, dim = H.shape
        steps = steps_p1 - 1
        has_j = ctx.has_j
        if not has_j:
            gPHI = None
        s_prev = H[:, :-1]  # s_t for t = 0..T-1
        a_t, c_t = _over_time(a), _over_time(c)
        current = (_over_time(IB) - s_prev) if ctx.uses_current else None
        dphi, di = source.derivatives(flux, current)

        # A_t = a - c * dg/di : the state-to-state factor of the adjoint recursion.
        A = (a_t - c_t * di) if di is not None else a_t.expand(batch, steps, dim)
        A_steps = _per_step(A.expand(batch, steps, dim), steps)
        cphi_steps = _per_step((c_t * dphi).expand(batch, steps, dim), steps) if has_j else None
        gh_steps = _per_step(gH, steps_p1) if gH is not None else None
        gg_di = _per_step(gG * di, steps) if (gG is not None and di is not None) else None
        gg_dphi = _per_step(gG * dphi, steps) if (gG is not None and has_j) else None
        gphi_steps = _per_step(gPHI, steps) if gPHI is not None else None

        lam = gh_steps[steps] if gh_steps is not None else H.new_zeros(batch, dim)
        lams: List[Tensor] = [lam] * steps  # lam_t = dL/ds_{t+1}
        for t in range(steps - 1, -1, -1):
            lams[t] = lam
            nxt = lam * A_steps[t]
            if gg_di is not None:
                nxt = nxt - gg_di[t]
            if has_j:
                p = lam * cphi_steps[t]
                if gg_dphi is not None:
                    p = p + gg_dphi[t]
                if gphi_steps is not None:
                    p = p + gphi_steps[t]
                nxt = torch.addmm(nxt, p, J)
            if gh_steps is not None:
                nxt = nxt + gh_steps[t]
            lam = nxt
        grad_s0 = lam

        LAM = torch.stack(lams, dim=1)  # [B, T, D]
        U = LAM * c_t
        if gG is not None:
            U = U + gG
        P = U * dphi
        if gPHI is not None:
            P = P + gPHI

        grad_X = P if ctx.needs_input_grad[0] else None
        grad_J = None
        if has_j and ctx.needs_input_grad[2]:
            grad_J = P.reshape(-1, dim).t() @ s_prev.reshape(-1, dim)
        grad_a = _reduce_to(LAM * s_prev, ctx.a_shape) if ctx.needs_input_grad[3] else None
        grad_c = _reduce_to(LAM * G, ctx.c_shape) if ctx.needs_input_grad[4] else None
        grad_ib = None
        if ctx.uses_current and ctx.needs_input_grad[5]:
            grad_ib = _reduce_to(U * di, ctx.ib_shape)
        return grad_X, grad_s0, grad_J, grad_a, grad_c, grad_ib, None, None, None


def dendrite_scan(X: Tensor, s0: Tensor, J: Optional[Tensor], a: Tensor, c: Tensor,
                  IB: Optional[Tensor], source: SourceFunction,
                  g_noise: Optional[Tensor] = None,
                  s_noise: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """Run the fused SingleDendrite FE scan; returns (H [B,T+1,D], PHI, G [B,T,D]).

    PHI is the flux history [B, T, D] when ``J`` is given and an empty tensor otherwise
    (then the flux is ``X`` itself). ``a`` and ``c`` are [D] or [B, D]; ``IB`` is [D],
    [B, D] or [B, T, D] (None for phi-only sources); ``g_noise``/``s_noise`` are optional
    additive [B, T, D] samples. Gradients flow to X, s0, J, a, c and IB.
    """
    if X.dim() != 3:
        raise ValueError(f"dendrite_scan: X must be [B, T, D], got {tuple(X.shape)}")
    return DendriteScan.apply(X, s0, J, a, c, IB, g_noise, s_noise, source)
