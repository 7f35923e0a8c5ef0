"""Fused forward-Euler time scan of a SingleDendrite layer with a hand-written backward.

The recurrence, for t = 0..T-1 (all arrays [B, D] per step, tensors time-major [T, B, D]):

    phi_t   = X_t + s_t @ J^T                     (J: internal connection, optional)
    g_t     = source(phi_t, IB_t - s_t)           (phi-only sources ignore the current)
    s_{t+1} = a * s_t + c * (g_t + Gn_t) + Sn_t   (a = 1 - dt*gamma_minus, c = dt*gamma_plus)

X already holds the external flux, phi_offset and any phi noise; Gn and Sn are optional
additive noise samples (treated as constants). Recording this with autograd costs ~15
graph nodes per step; here the forward runs without a graph, writing each step straight
into preallocated histories, and the backward walks the adjoint recursion once:

    lam_t     = dL/ds_{t+1} (total),  u_t = lam_t * c + dL/dg_t,  p_t = u_t * dg/dphi_t + dL/dphi_t
    lam_{t-1} = dL/ds_t(direct) + lam_t * a - u_t * dg/di_t + p_t @ J

Parameter gradients are reductions over all steps done once at the end. Outputs: the state
history H [T+1, B, D] (H[0] = s_0), the flux history PHI [T, B, D] (empty when J is None:
the flux is X) and the drive history G [T, B, D] (g_t + Gn_t).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor

from .source_functions import SourceFunction


def _steps(tensor: Optional[Tensor], steps: int) -> List[Optional[Tensor]]:
    """Per-step slices of a [T, B, D] tensor; [D] / [B, D] tensors repeat unchanged."""
    if tensor is None:
        return [None] * steps
    if tensor.dim() == 3:
        return list(tensor.unbind(0))
    return [tensor] * steps


def _chunk_steps(width: int, steps: int) -> int:
    """Steps per planning chunk: about 64k values, so a chunk stays in cache."""
    return max(1, min(steps, 65536 // max(1, width)))


def _reduce_product(left: Tensor, right: Tensor, shape: torch.Size) -> Tensor:
    """sum of left*right over [T, B, D] down to ``shape`` ([D], [B, D] or [T, B, D])."""
    if len(shape) == 1:
        return torch.einsum("tbd,tbd->d", left, right)
    if len(shape) == 2:
        return torch.einsum("tbd,tbd->bd", left, right)
    return left * right


class DendriteScan(torch.autograd.Function):
    """autograd.Function for the whole FE time scan of one SingleDendrite layer."""

    @staticmethod
    def forward(ctx, X: Tensor, s0: Tensor, J: Optional[Tensor], a: Tensor, c: Tensor,
                IB: Optional[Tensor], g_noise: Optional[Tensor], s_noise: Optional[Tensor],
                source: SourceFunction, need_grad: bool) -> Tuple[Tensor, Tensor, Tensor]:
        ctx.set_materialize_grads(False)
        steps, batch, dim = X.shape
        uses_current = source.uses_current
        if uses_current and IB is None:
            raise ValueError(f"{type(source).__name__} needs a bias current")
        x_steps = _steps(X.contiguous(), steps)
        ib_steps = _steps(IB, steps)
        gn_steps = _steps(g_noise, steps)
        sn_steps = _steps(s_noise, steps)
        jt = J.t().contiguous() if J is not None else None
        H = X.new_empty(steps + 1, batch, dim)
        G = X.new_empty(steps, batch, dim)
        PHI = X.new_empty(steps, batch, dim) if jt is not None else X.new_empty(0)
        DPHI = X.new_empty(steps, batch, dim) if (need_grad and source.forward_slopes) else None
        DI = X.new_empty(steps, batch, dim) if (DPHI is not None and uses_current) else None
        slopes = need_grad and source.forward_slopes
        H[0].copy_(s0)
        chunk = steps if jt is not None else _chunk_steps(batch * dim, steps)
        for start in range(0, steps, chunk):
            plan = source.plan(X[start:start + chunk], slopes) if jt is None else None
            for t in range(start, min(steps, start + chunk)):
                s = H[t]
                current = torch.sub(ib_steps[t], s) if uses_current else None
                g = G[t]
                dphi_out = DPHI[t] if slopes else None
                di_out = DI[t] if (slopes and DI is not None) else None
                if plan is None:
                    phi = torch.addmm(x_steps[t], s, jt, out=PHI[t])
                    source.step_into(phi, current, g, dphi_out, di_out)
                else:
                    source.step_planned(plan, t - start, current, g, dphi_out, di_out)
                if gn_steps[t] is not None:
                    g.add_(gn_steps[t])
                torch.addcmul(torch.mul(s, a), c, g, out=H[t + 1])
                if sn_steps[t] is not None:
                    H[t + 1].add_(sn_steps[t])
        ctx.source = source
        ctx.has_j = J is not None
        ctx.uses_current = uses_current
        ctx.a_shape, ctx.c_shape = a.shape, c.shape
        ctx.ib_shape = IB.shape if IB is not None else None
        ctx.has_slopes = bool(slopes)
        flux = PHI if jt is not None else X
        ctx.save_for_backward(H, flux, G, J, a, c, IB,
                              DPHI if ctx.has_slopes else None, DI if ctx.has_slopes else None)
        return H, PHI, G

    @staticmethod
    def backward(ctx, gH: Optional[Tensor], gPHI: Optional[Tensor], gG: Optional[Tensor]):
        H, flux, G, J, a, c, IB, DPHI, DI = ctx.saved_tensors
        source: SourceFunction = ctx.source
        steps_p1, batch, dim = H.shape
        steps = steps_p1 - 1
        has_j = ctx.has_j
        if not has_j:
            gPHI = None
        s_prev = H[:-1]  # s_t for t = 0..T-1
        if ctx.has_slopes:
            dphi, di = DPHI, DI
        else:
            current = (IB - s_prev) if ctx.uses_current else None
            dphi, di = source.derivatives(flux, current)
        dphi_steps = _steps(dphi, steps)
        di_steps = _steps(di, steps)
        gh_steps = _steps(gH.contiguous(), steps_p1) if gH is not None else [None] * steps_p1
        gg_steps = _steps(gG.contiguous(), steps) if gG is not None else [None] * steps
        gphi_steps = _steps(gPHI.contiguous(), steps) if gPHI is not None else [None] * steps

        LAM = H.new_empty(steps, batch, dim)  # LAM[t] = dL/ds_{t+1}
        U = H.new_empty(steps, batch, dim)  # dL/dg_t
        P = H.new_empty(steps, batch, dim)  # dL/dphi_t
        grad_s0 = H.new_empty(batch, dim)
        if gh_steps[steps] is not None:
            LAM[steps - 1].copy_(gh_steps[steps])
        else:
            LAM[steps - 1].zero_()
        for t in range(steps - 1, -1, -1):
            lam = LAM[t]
            u = torch.mul(lam, c, out=U[t])
            if gg_steps[t] is not None:
                u.add_(gg_steps[t])
            p = torch.mul(u, dphi_steps[t], out=P[t])
            if gphi_steps[t] is not None:
                p.add_(gphi_steps[t])
            target = LAM[t - 1] if t > 0 else grad_s0
            torch.mul(lam, a, out=target)
            if di_steps[t] is not None:
                target.addcmul_(u, di_steps[t], value=-1.0)
            if has_j:
                target.addmm_(p, J)
            if gh_steps[t] is not None:
                target.add_(gh_steps[t])

        needs = ctx.needs_input_grad
        grad_J = P.reshape(-1, dim).t() @ s_prev.reshape(-1, dim) if (has_j and needs[2]) else None
        grad_a = _reduce_product(LAM, s_prev, ctx.a_shape) if needs[3] else None
        grad_c = _reduce_product(LAM, G, ctx.c_shape) if needs[4] else None
        grad_ib = None
        if ctx.uses_current and needs[5] and di is not None:
            grad_ib = _reduce_product(U, di, ctx.ib_shape)
        return P if needs[0] else None, grad_s0, grad_J, grad_a, grad_c, grad_ib, None, None, None, None


def dendrite_scan(X: Tensor, s0: Tensor, J: Optional[Tensor], a: Tensor, c: Tensor,
                  IB: Optional[Tensor], source: SourceFunction,
                  g_noise: Optional[Tensor] = None,
                  s_noise: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """Run the fused SingleDendrite FE scan on time-major tensors.

    X [T, B, D]; s0 [B, D]; J [D, D] or None; a, c [D] or [B, D]; IB [D], [B, D] or
    [T, B, D] (None for phi-only sources); g_noise / s_noise optional [T, B, D] additive
    samples. Returns (H [T+1, B, D], PHI [T, B, D] or empty when J is None, G [T, B, D]);
    gradients flow to X, s0, J, a, c and IB.
    """
    if X.dim() != 3:
        raise ValueError(f"dendrite_scan: X must be [T, B, D], got {tuple(X.shape)}")
    tensors = (X, s0, J, a, c, IB)
    need_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    return DendriteScan.apply(X, s0, J, a, c, IB, g_noise, s_noise, source, need_grad)
