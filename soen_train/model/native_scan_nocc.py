"""MultiplierNOCC's three-state recurrence fused over time in the compiled kernel.

The layer (``layers/multiplier.py``) folds its parameters into seven coefficients, each [D]
or [B, D] (``NOCC_COEFFICIENTS``):

    py = phi_y, ib = bias_current, kg = dt/beta_eff, km = dt*alpha/beta_eff,
    ks = dt*alpha/beta, k1 = dt/beta, ko = beta_out/beta       (beta_eff = beta + 2*N*beta_out)

and the kernel (``nocc_forward`` / ``nocc_backward`` in ``native_scan_ckernels``) runs

    phi = X_t + m J^T;  c1 = |ib - s1|~,  c2 = |s2 - ib|~   (|v|~ = sqrt(v^2 + eps))
    g1 = g(phi + py, c1),  g2 = g(phi - py, c2),  dm = kg*(g1 - g2) - km*m
    m' = m + dm,  s1' = s1 - ks*s1 + k1*g1 - ko*dm,  s2' = s2 - ks*s2 + k1*g2 - ko*dm

which is the layer's step (dm/dt, then ds1/dt and ds2/dt, forward Euler) with the same
parameters. ``NOCCScan`` is its autograd Function: the forward keeps no graph, the backward is
one adjoint pass in C; gradients reach X, the initial states, J and the seven coefficients
(autograd carries them on to dt, alpha, beta, beta_out, phi_y and bias_current).
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from . import native_scan
from .native_scan import SOURCE_CODES, library, padded_rows, source_table
from .source_functions import SourceFunction

#: The coefficient rows in the kernel's order.
NOCC_COEFFICIENTS = ("py", "ib", "kg", "km", "ks", "k1", "ko")


def _coefficient_rows(coeffs: list[Tensor], batch: int, dim: int) -> tuple:
    """(kept tensors, pointer array, row-stride array) of the seven [D] / [B, D] coefficients."""
    kept = [coeff.contiguous() for coeff in coeffs]
    pointers = (ctypes.c_void_p * 7)(*[t.data_ptr() for t in kept])
    strides = (ctypes.c_int64 * 7)(*[0 if t.dim() == 1 else dim for t in kept])
    return kept, pointers, strides


def nocc_forward(X: Tensor, m0: Tensor, s10: Tensor, s20: Tensor, J: Tensor | None,
                 coeffs: list[Tensor], source: SourceFunction, eps: float, slopes: bool,
                 record: bool) -> tuple:
    """Compiled forward of the three-state scan.

    Args:
        X: external flux [T, B, D] (Phi0), contiguous.
        m0, s10, s20: initial states m, s1, s2 [B, D] (Ic).
        J: internal connection [D, D], or None.
        coeffs: the seven ``NOCC_COEFFICIENTS`` in order, each [D] or [B, D].
        source: the source function g(phi, i) (one the kernel knows).
        eps: the smooth-|v| constant (Ic^2).
        slopes: keep dg/dphi (and dg/di) of both branches for the adjoint.
        record: write PHI, G1 and G2 histories (False keeps them in scratch rows).

    Returns:
        (M, S1, S2 [T+1, B, D], PHI [T, B, D] or empty, G1, G2 [T, B, D] or empty,
        DP1, DP2, DI1, DI2 [T, B, D] or None).
    """
    steps, batch, dim = X.shape
    suffix = "_f32" if X.dtype == torch.float32 else "_f64"
    fn = getattr(library(), "nocc_forward" + suffix)
    table, (inv_dphi, inv_dib, phi0, ib0, h, w) = source_table(source, X)
    state_dep = source.uses_current
    M, S1, S2 = (X.new_empty(steps + 1, batch, dim) for _ in range(3))
    PHI = X.new_empty(steps, batch, dim) if (J is not None and record) else X.new_empty(0)
    G1, G2 = ((X.new_empty(steps, batch, dim) if record else X.new_empty(0)) for _ in range(2))
    DP1, DP2 = ((X.new_empty(steps, batch, dim) if slopes else None) for _ in range(2))
    DI1, DI2 = ((X.new_empty(steps, batch, dim) if (slopes and state_dep) else None) for _ in range(2))
    JT = padded_rows(J.t()) if J is not None else None
    kept, pointers, strides = _coefficient_rows(coeffs, batch, dim)
    ranges = native_scan._rows(batch, steps * batch * dim * (dim if J is not None else 2))
    works = iter([X.new_empty((4 + 12 + hi - lo) * dim) for lo, hi in ranges])
    gemm, blas_threads = native_scan.blas_pointers(X.dtype == torch.float64)
    ptr, i64 = native_scan._ptr, native_scan._i

    def args(lo, hi):
        return (i64(steps), i64(batch), i64(dim), i64(lo), i64(hi), ptr(X), ptr(m0), ptr(s10), ptr(s20),
                ptr(JT), i64(JT.shape[1] if JT is not None else 0), pointers, strides,
                ctypes.c_int(int(state_dep)), ctypes.c_double(eps),
                ctypes.c_int(SOURCE_CODES[type(source)]), ptr(table), i64(h), i64(w),
                ctypes.c_double(inv_dphi), ctypes.c_double(inv_dib), ctypes.c_double(phi0),
                ctypes.c_double(ib0), ctypes.c_int(int(slopes)), ptr(M), ptr(S1), ptr(S2),
                ptr(PHI) if PHI.numel() else None, ptr(G1) if record else None,
                ptr(G2) if record else None, ptr(DP1), ptr(DP2), ptr(DI1), ptr(DI2), ptr(next(works)),
                native_scan._addr(gemm), native_scan._addr(blas_threads))

    native_scan._run(fn, ranges, args)
    del kept
    return M, S1, S2, PHI, G1, G2, DP1, DP2, DI1, DI2


def _contiguous(tensor: Tensor | None) -> Tensor | None:
    return None if tensor is None else tensor.contiguous()


class NOCCScan(torch.autograd.Function):
    """autograd.Function for the whole FE time scan of one MultiplierNOCC layer."""

    @staticmethod
    def forward(ctx, X: Tensor, m0: Tensor, s10: Tensor, s20: Tensor, J: Tensor | None,
                source: SourceFunction, eps: float, need_grad: bool, record: bool, *coeffs: Tensor):
        """Run the scan without a graph, keeping what the adjoint needs.

        Args:
            ctx: autograd's context; saves the histories and slopes for ``backward``.
            X, m0, s10, s20, J, source, eps: as ``nocc_forward``.
            need_grad: whether any input needs a gradient (slopes are kept only then).
            record: write the PHI/G histories even without gradients.
            coeffs: the seven ``NOCC_COEFFICIENTS`` in order, each [D] or [B, D].
        """
        ctx.set_materialize_grads(False)
        record = record or need_grad
        M, S1, S2, PHI, G1, G2, DP1, DP2, DI1, DI2 = nocc_forward(
            X.contiguous(), m0.contiguous(), s10.contiguous(), s20.contiguous(), _contiguous(J),
            list(coeffs), source, eps, need_grad, record)
        ctx.source, ctx.eps, ctx.has_j = source, eps, J is not None
        ctx.coeff_shapes = [coeff.shape for coeff in coeffs]
        if need_grad:
            ctx.save_for_backward(M, S1, S2, G1, G2, DP1, DP2, DI1, DI2, J, *coeffs)
        return M, S1, S2, PHI, G1, G2

    @staticmethod
    def backward(ctx, gM, gS1, gS2, gPHI, gG1, gG2):
        """One adjoint pass in C: from the outputs' gradients to those of X, the initial
        states, J and the seven coefficients.

        Args:
            ctx: what ``forward`` saved.
            gM, gS1, gS2: gradients of the state histories [T+1, B, D], or None.
            gPHI: gradient of the flux history [T, B, D], or None.
            gG1, gG2: gradients of the two branches' rate histories [T, B, D], or None.
        """
        M, S1, S2, G1, G2, DP1, DP2, DI1, DI2, J, *coeffs = ctx.saved_tensors
        steps, batch, dim = G1.shape
        suffix = "_f32" if G1.dtype == torch.float32 else "_f64"
        fn = getattr(library(), "nocc_backward" + suffix)
        P = G1.new_empty(steps, batch, dim)
        LM, L1, L2 = (G1.new_empty(batch, dim) for _ in range(3))
        sums = G1.new_empty(7, batch, dim)
        JP = padded_rows(J) if J is not None else None
        kept, pointers, strides = _coefficient_rows(coeffs, batch, dim)
        grads = [_contiguous(g) for g in (gM, gS1, gS2, gPHI if ctx.has_j else None, gG1, gG2)]
        ranges = native_scan._rows(batch, steps * batch * dim * (dim if J is not None else 2))
        works = iter([G1.new_empty((4 + hi - lo) * dim) for lo, hi in ranges])
        gemm, blas_threads = native_scan.blas_pointers(G1.dtype == torch.float64)
        ptr, i64 = native_scan._ptr, native_scan._i

        def args(lo, hi):
            return (i64(steps), i64(batch), i64(dim), i64(lo), i64(hi), ptr(M), ptr(S1), ptr(S2),
                    ptr(G1), ptr(G2), ptr(DP1), ptr(DP2), ptr(DI1), ptr(DI2),
                    ptr(JP), i64(JP.shape[1] if JP is not None else 0), pointers, strides,
                    ctypes.c_int(int(ctx.source.uses_current)), ctypes.c_double(ctx.eps),
                    *[ptr(g) for g in grads], ptr(P), ptr(LM), ptr(L1), ptr(L2), ptr(sums),
                    ptr(next(works)), native_scan._addr(gemm), native_scan._addr(blas_threads))

        native_scan._run(fn, ranges, args)
        del kept
        needs = ctx.needs_input_grad
        grad_J = P.reshape(-1, dim).t() @ M[:-1].reshape(-1, dim) if (ctx.has_j and needs[4]) else None
        coeff_grads = [(per_row.sum(0) if len(shape) == 1 else per_row) if needs[9 + i] else None
                       for i, (per_row, shape) in enumerate(zip(sums.unbind(0), ctx.coeff_shapes))]
        return (P if needs[0] else None, LM, L1, L2, grad_J, None, None, None, None, *coeff_grads)


def nocc_scan(X: Tensor, m0: Tensor, s10: Tensor, s20: Tensor, J: Tensor | None,
              coeffs: dict[str, Tensor], source: SourceFunction, eps: float, record: bool = True
              ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Run the fused MultiplierNOCC scan (compiled kernel; check ``native_scan.supports``).

    Args:
        X: external flux [T, B, D] (Phi0).
        m0, s10, s20: initial states [B, D] (Ic).
        J: internal connection [D, D], or None.
        coeffs: the seven ``NOCC_COEFFICIENTS`` by name, each [D] or [B, D].
        source: the source function g(phi, i).
        eps: the smooth-|v| constant (Ic^2).
        record: False lets a run without gradients return PHI, G1 and G2 empty.

    Returns:
        (M, S1, S2 [T+1, B, D], PHI [T, B, D] (empty without J), G1, G2 [T, B, D]).
    """
    ordered = [coeffs[name] for name in NOCC_COEFFICIENTS]
    tensors = (X, m0, s10, s20, J, *ordered)
    need_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    return NOCCScan.apply(X, m0, s10, s20, J, source, eps, need_grad, record, *ordered)
