"""Fused forward-Euler time scan of a SingleDendrite layer with a hand-written backward.

The recurrence, for t = 0..T-1 (all arrays [B, D] per step, tensors time-major [T, B, D]):

    phi_t   = X_t + bias + s_t @ J^T              (bias: phi_offset; J: internal connection)
    g_t     = source(phi_t, IB_t - s_t)           (phi-only sources ignore the current)
    s_{t+1} = a * s_t + c * (g_t + Gn_t) + Sn_t   (a = 1 - dt*gamma_minus, c = dt*gamma_plus)

X holds the external flux and any phi noise, bias the per-node flux offset; Gn and Sn are
optional additive noise samples (treated as constants). Recording this with autograd costs ~15
graph nodes per step; here the forward runs without a graph, writing each step straight
into preallocated histories, and the backward walks the adjoint recursion once:

    lam_t     = dL/ds_{t+1} (total),  u_t = lam_t * c + dL/dg_t,  p_t = u_t * dg/dphi_t + dL/dphi_t
    lam_{t-1} = dL/ds_t(direct) + lam_t * a - u_t * dg/di_t + p_t @ J

Parameter gradients are reductions over all steps done once at the end. Outputs: the state
history H [T+1, B, D] (H[0] = s_0), the flux history PHI [T, B, D] (empty when J is None:
the flux is X + bias) and the drive history G [T, B, D] (g_t + Gn_t). On CPU the loop runs
in the compiled kernel of ``native_scan`` when it is available; this module's PyTorch loop
is the reference and the fallback.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import native_scan
from .source_functions import SourceFunction


def _steps(tensor: Tensor | None, steps: int) -> list[Tensor | None]:
    """Per-step slices of a [T, B, D] tensor; [D] / [B, D] tensors repeat unchanged."""
    if tensor is None:
        return [None] * steps
    if tensor.dim() == 3:
        return list(tensor.unbind(0))
    return [tensor] * steps


def _chunk_steps(width: int, steps: int) -> int:
    """Steps per planning chunk: about 64k values, so a chunk stays in cache."""
    return max(1, min(steps, 65536 // max(1, width)))


def _sum_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """Sum a [T, B, D] gradient down to a [D] or [B, D] coefficient."""
    return grad.sum(dim=(0, 1)) if len(shape) == 1 else grad.sum(dim=0)


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
    def forward(ctx, X: Tensor, bias: Tensor | None, s0: Tensor, J: Tensor | None, a: Tensor,
                c: Tensor, IB: Tensor | None, g_noise: Tensor | None, s_noise: Tensor | None,
                source: SourceFunction, need_grad: bool, phi_y: Tensor | None = None,
                record: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """Run the scan without a graph, keeping what the adjoint recursion needs.

        Args:
            ctx: autograd's context; saves the histories and slopes for ``backward``.
            X: external flux [T, B, D] (Phi0), phi noise included.
            bias: per-node flux offset [D] or [B, D] (Phi0), or None.
            s0: initial state [B, D].
            J: internal connection [D, D], or None.
            a: state decay per step [D] or [B, D] (1 - dt*gamma_minus).
            c: drive gain per step [D] or [B, D] (dt*gamma_plus).
            IB: bias current [D], [B, D] or [T, B, D] (Ic), None for phi-only sources.
            g_noise: additive drive noise [T, B, D], or None.
            s_noise: additive state noise [T, B, D], or None.
            source: the source function g(phi, i).
            need_grad: whether any input needs a gradient (slopes are kept only then).
            phi_y: a MultiplierWICC's weight flux [D] or [B, D] (Phi0), or None.
            record: False lets a run without gradients return PHI and G empty.

        Returns:
            (H [T+1, B, D], PHI [T, B, D] or empty, G [T, B, D]), as ``dendrite_scan``.
        """
        ctx.set_materialize_grads(False)
        steps, batch, dim = X.shape
        uses_current = source.uses_current
        if uses_current and IB is None:
            raise ValueError(f"{type(source).__name__} needs a bias current")
        ctx.source = source
        ctx.has_j = J is not None
        ctx.uses_current = uses_current
        ctx.a_shape, ctx.c_shape = a.shape, c.shape
        ctx.ib_shape = IB.shape if IB is not None else None
        ctx.bias_shape = bias.shape if bias is not None else None
        ctx.native = native_scan.supports(X, source, recurrent=J is not None)
        ctx.phi_y_shape = phi_y.shape if phi_y is not None else None
        if phi_y is not None and not ctx.native:
            raise ValueError("dendrite_scan: the multiplier drive (phi_y) runs on the compiled scan "
                             "only; check native_scan.supports first")
        if ctx.native:
            return _native_forward(ctx, X, bias, s0, J, a, c, IB, g_noise, s_noise, source, need_grad,
                                   phi_y, record or need_grad)
        X = (X + bias) if bias is not None else X.contiguous()
        x_steps = _steps(X, steps)
        ib_steps = _steps(IB, steps)
        gn_steps = _steps(g_noise, steps)
        sn_steps = _steps(s_noise, steps)
        jt = J.t().contiguous() if J is not None else None
        stepper = source.stepper((batch, dim), X, need_grad)
        slopes = stepper.writes_slopes
        H = X.new_empty(steps + 1, batch, dim)
        G = X.new_empty(steps, batch, dim)
        PHI = X.new_empty(steps, batch, dim) if jt is not None else X.new_empty(0)
        DPHI = X.new_empty(steps, batch, dim) if slopes else None
        DI = X.new_empty(steps, batch, dim) if (slopes and uses_current) else None
        h_steps, g_steps = H.unbind(0), G.unbind(0)
        phi_steps = PHI.unbind(0) if jt is not None else None
        dphi_steps = _steps(DPHI, steps)
        di_steps = _steps(DI, steps)
        current = X.new_empty(batch, dim) if uses_current else None
        decayed = X.new_empty(batch, dim)
        h_steps[0].copy_(s0)
        chunk = steps if jt is not None else _chunk_steps(batch * dim, steps)
        for start in range(0, steps, chunk):
            plan = stepper.plan(X[start:start + chunk]) if jt is None else None
            for t in range(start, min(steps, start + chunk)):
                s, g = h_steps[t], g_steps[t]
                if uses_current:
                    torch.sub(ib_steps[t], s, out=current)
                if plan is None:
                    torch.addmm(x_steps[t], s, jt, out=phi_steps[t])
                    stepper.step_flux(phi_steps[t], current, g, dphi_steps[t], di_steps[t])
                else:
                    stepper.step(plan[t - start], current, g, dphi_steps[t], di_steps[t])
                if gn_steps[t] is not None:
                    g.add_(gn_steps[t])
                torch.mul(s, a, out=decayed)
                torch.addcmul(decayed, c, g, out=h_steps[t + 1])
                if sn_steps[t] is not None:
                    h_steps[t + 1].add_(sn_steps[t])
        ctx.has_slopes = slopes
        flux = PHI if jt is not None else X
        ctx.save_for_backward(H, flux, G, J, a, c, IB,
                              DPHI if ctx.has_slopes else None, DI if ctx.has_slopes else None)
        return H, PHI, G

    @staticmethod
    def backward(ctx, gH: Tensor | None, gPHI: Tensor | None, gG: Tensor | None):
        """Walk the adjoint recursion once (module docstring) and reduce parameter gradients.

        Args:
            ctx: the context ``forward`` filled.
            gH: dL/dH [T+1, B, D], or None when H does not reach the loss.
            gPHI: dL/dPHI [T, B, D], or None.
            gG: dL/dG [T, B, D], or None.

        Returns:
            One gradient (or None) per ``forward`` input, in its order.
        """
        if ctx.native:
            return _native_backward(ctx, gH, gPHI, gG)
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
        lam_steps, u_steps, p_steps = LAM.unbind(0), U.unbind(0), P.unbind(0)
        if gh_steps[steps] is not None:
            lam_steps[steps - 1].copy_(gh_steps[steps])
        else:
            lam_steps[steps - 1].zero_()
        for t in range(steps - 1, -1, -1):
            lam = lam_steps[t]
            u = torch.mul(lam, c, out=u_steps[t])
            if gg_steps[t] is not None:
                u.add_(gg_steps[t])
            p = torch.mul(u, dphi_steps[t], out=p_steps[t])
            if gphi_steps[t] is not None:
                p.add_(gphi_steps[t])
            target = lam_steps[t - 1] if t > 0 else grad_s0
            torch.mul(lam, a, out=target)
            if di_steps[t] is not None:
                target.addcmul_(u, di_steps[t], value=-1.0)
            if has_j:
                target.addmm_(p, J)
            if gh_steps[t] is not None:
                target.add_(gh_steps[t])

        needs = ctx.needs_input_grad
        grad_J = P.reshape(-1, dim).t() @ s_prev.reshape(-1, dim) if (has_j and needs[3]) else None
        grad_a = _reduce_product(LAM, s_prev, ctx.a_shape) if needs[4] else None
        grad_c = _reduce_product(LAM, G, ctx.c_shape) if needs[5] else None
        grad_ib = None
        if ctx.uses_current and needs[6] and di is not None:
            grad_ib = _reduce_product(U, di, ctx.ib_shape)
        grad_bias = _sum_to(P, ctx.bias_shape) if (ctx.bias_shape is not None and needs[1]) else None
        return (P if needs[0] else None, grad_bias, grad_s0, grad_J, grad_a, grad_c, grad_ib,
                None, None, None, None, None, None)


def _optional_contiguous(tensor: Tensor | None) -> Tensor | None:
    return None if tensor is None else tensor.contiguous()


def _native_forward(ctx, X: Tensor, bias: Tensor | None, s0: Tensor, J: Tensor | None, a: Tensor,
                    c: Tensor, IB: Tensor | None, g_noise: Tensor | None, s_noise: Tensor | None,
                    source: SourceFunction, need_grad: bool, phi_y: Tensor | None, record: bool
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """Forward through the compiled kernel (same outputs as the PyTorch loop); with ``phi_y``
    the multiplier drive g(phi + phi_y, IB - s) - g(phi - phi_y, IB + s). Without ``record``
    PHI and G come back empty."""
    H, PHI, G, DPHI, DI, DPY, DIB = native_scan.forward(
        X.contiguous(), bias, s0.contiguous(), _optional_contiguous(J), a, c,
        IB if ctx.uses_current else None, _optional_contiguous(g_noise), _optional_contiguous(s_noise),
        source, need_grad, phi_y=phi_y, phi_y_slopes=need_grad, record=record)
    ctx.has_slopes = need_grad
    ctx.save_for_backward(H, G, J, a, c, DPHI, DI, DPY, DIB)
    return H, PHI, G


def _native_backward(ctx, gH: Tensor | None, gPHI: Tensor | None, gG: Tensor | None):
    """Adjoint pass through the compiled kernel; parameter sums finished here."""
    H, G, J, a, c, DPHI, DI, DPY, DIB = ctx.saved_tensors
    dim = H.shape[-1]
    multiplier = ctx.phi_y_shape is not None
    full_ib = ctx.ib_shape is not None and len(ctx.ib_shape) == 3 and not multiplier
    P, grad_s0, lam_s, lam_g, u_di, u_di_full, p_sum, U = native_scan.backward(
        H, G, DPHI, DI, _optional_contiguous(J), a, c, _optional_contiguous(gH), _optional_contiguous(gG),
        _optional_contiguous(gPHI) if ctx.has_j else None, full_ib, want_u=multiplier)
    needs = ctx.needs_input_grad

    def shaped(per_row: Tensor, shape: torch.Size) -> Tensor:
        return per_row.sum(0) if len(shape) == 1 else per_row

    grad_J = P.reshape(-1, dim).t() @ H[:-1].reshape(-1, dim) if (ctx.has_j and needs[3]) else None
    grad_a = shaped(lam_s, ctx.a_shape) if needs[4] else None
    grad_c = shaped(lam_g, ctx.c_shape) if needs[5] else None
    grad_ib = None
    if ctx.uses_current and needs[6]:
        if multiplier:  # dG/dIB differs from -dG/ds for the two-branch drive
            grad_ib = _reduce_product(U, DIB, ctx.ib_shape)
        else:
            grad_ib = u_di_full if full_ib else shaped(u_di, ctx.ib_shape)
    grad_bias = shaped(p_sum, ctx.bias_shape) if (ctx.bias_shape is not None and needs[1]) else None
    grad_py = _reduce_product(U, DPY, ctx.phi_y_shape) if (multiplier and needs[11]) else None
    return (P if needs[0] else None, grad_bias, grad_s0, grad_J, grad_a, grad_c, grad_ib,
            None, None, None, None, grad_py, None)


def dendrite_scan(X: Tensor, s0: Tensor, J: Tensor | None, a: Tensor, c: Tensor,
                  IB: Tensor | None, source: SourceFunction,
                  g_noise: Tensor | None = None,
                  s_noise: Tensor | None = None,
                  bias: Tensor | None = None,
                  phi_y: Tensor | None = None, record: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Run the fused SingleDendrite FE scan on time-major tensors.

    X [T, B, D]; s0 [B, D]; J [D, D] or None; a, c, bias [D] or [B, D]; IB [D], [B, D] or
    [T, B, D] (None for phi-only sources); g_noise / s_noise optional [T, B, D] additive
    samples. Returns (H [T+1, B, D], PHI [T, B, D] or empty when J is None, G [T, B, D]);
    gradients flow to X, bias, s0, J, a, c and IB. ``phi_y`` ([D] or [B, D], weight flux
    [Phi0]) turns the drive into a MultiplierWICC's g(phi + phi_y, IB - s) -
    g(phi - phi_y, IB + s) (gradients flow to phi_y too); it needs the compiled scan
    (``native_scan.supports``), which the multiplier layer checks before calling. With
    ``record`` False, a run that needs no gradients may return PHI and G empty (the compiled
    scan then keeps them in scratch rows instead of writing [T, B, D] histories).

    Args:
        X: external flux [T, B, D] (Phi0), phi noise included.
        s0: initial state [B, D].
        J: internal connection [D, D], or None.
        a: state decay per step (1 - dt*gamma_minus).
        c: drive gain per step (dt*gamma_plus).
        IB: bias current (Ic), None for phi-only sources.
        source: the source function g(phi, i).
        g_noise: additive drive noise samples, or None.
        s_noise: additive state noise samples, or None.
        bias: per-node flux offset (Phi0), or None.
        phi_y: a MultiplierWICC's weight flux (Phi0), or None.
        record: False lets a run without gradients return PHI and G empty.
    """
    if X.dim() != 3:
        raise ValueError(f"dendrite_scan: X must be [T, B, D], got {tuple(X.shape)}")
    tensors = (X, bias, s0, J, a, c, IB, phi_y)
    need_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    return DendriteScan.apply(X, bias, s0, J, a, c, IB, g_noise, s_noise, source, need_grad, phi_y,
                              record)
