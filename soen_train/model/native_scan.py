"""Optional compiled fast path for the SingleDendrite time scan (C, built on first use).

The PyTorch scan in ``dendrite_scan`` spends most of its time dispatching ~20 small
tensor ops per time step. This module holds the same recurrence as a few dozen lines of C
(``_C_SOURCE``): every neuron's time loop runs in one call, with the source function
evaluated inline. It is compiled once per machine with the system C compiler (about a
second: ``cc -O3 -shared``, no Python or torch headers), cached under
``$XDG_CACHE_HOME/soen_train`` (default ``~/.cache/soen_train``), loaded with ctypes and
called on raw tensor memory, split over the batch across ``torch.get_num_threads()``
threads (ctypes releases the GIL).

Nothing depends on it: without a C compiler, or with ``SOEN_TRAIN_NATIVE=0``, the
simulator uses the PyTorch scan (same equations; tests check both agree). Only CPU
float32/float64 tensors and the built-in source functions take this path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch import Tensor

from .source_functions import (
    HeavisideFitStateDep,
    RateArray,
    ReLUSource,
    SimpleGELUSource,
    SourceFunction,
    TanhGauss1p7IBFit,
    TanhSource,
    TeluSource,
)

ENV_SWITCH = "SOEN_TRAIN_NATIVE"

#: Source-function classes the C kernel evaluates inline, with their codes.
SOURCE_CODES: dict[type, int] = {
    RateArray: 0, HeavisideFitStateDep: 1, TanhSource: 2, ReLUSource: 3, SimpleGELUSource: 4,
    TeluSource: 5, TanhGauss1p7IBFit: 6,
}

_C_TEMPLATE = r"""
/* ---- source functions over one row of n points (simple loops the compiler vectorises) ---- */

static void rate_array_SUF(int64_t n, const REAL* restrict phi, const REAL* restrict cur,
                           REAL* restrict g, REAL* restrict dp, REAL* restrict di,
                           int slopes, const REAL* restrict table, int64_t Ht, int64_t Wt,
                           REAL inv_dphi, REAL inv_dib, REAL phi0, REAL ib0) {
    const REAL x_off = ((REAL)0.5 - phi0) * inv_dphi, y_off = -ib0 * inv_dib;
    const REAL x_hi = (REAL)(Wt - 1), y_hi = (REAL)(Ht - 1);
    const int32_t ix_hi = (int32_t)(Wt - 2), iy_hi = (int32_t)(Ht - 2), stride = (int32_t)(Wt - 1);
    /* Branch-free bodies (two loops: with and without slopes) so the compiler vectorises them. */
#define RATE_ARRAY_BODY                                                                    \
        REAL p = phi[k];                                                                  \
        REAL centred = M_FLOOR(p) + (REAL)0.5 - p;        /* 0.5 - (phi mod 1) */         \
        REAL ac = centred < 0 ? -centred : centred;                                       \
        REAL x = x_off - ac * inv_dphi;                                                   \
        x = x < 0 ? 0 : x;                                                                \
        x = x > x_hi ? x_hi : x;                                                          \
        int32_t ix = (int32_t)x;                          /* x >= 0: truncation = floor */ \
        ix = ix > ix_hi ? ix_hi : ix;                                                     \
        REAL fx = x - (REAL)ix;                                                           \
        REAL i_k = cur[k];                                                                \
        REAL mag = i_k < 0 ? -i_k : i_k;                                                  \
        REAL y_raw = y_off + inv_dib * mag;                                               \
        REAL y = y_raw < 0 ? 0 : y_raw;                                                   \
        y = y > y_hi ? y_hi : y;                                                          \
        int32_t iy = (int32_t)y;                                                          \
        iy = iy > iy_hi ? iy_hi : iy;                                                     \
        REAL fy = y - (REAL)iy;                                                           \
        int32_t cell = 4 * (iy * stride + ix);                                            \
        REAL c0 = table[cell], cx = table[cell + 1], cy = table[cell + 2], cxy = table[cell + 3]; \
        REAL upper = cy + fx * cxy;                                                       \
        g[k] = (c0 + fx * cx) + fy * upper;
    const int count = (int)n;  /* a 32-bit index lets the compiler vectorise the gathers */
    if (slopes) {
        for (int k = 0; k < count; ++k) {
            RATE_ARRAY_BODY
            dp[k] = (cx + fy * cxy) * (signbit(centred) ? -inv_dphi : inv_dphi);
            di[k] = upper * (signbit(i_k) ? -inv_dib : inv_dib) * (REAL)(y == y_raw);
        }
    } else {
        for (int k = 0; k < count; ++k) {
            RATE_ARRAY_BODY
        }
    }
#undef RATE_ARRAY_BODY
}

static inline REAL sgn_SUF(REAL v) { return (REAL)((v > 0) - (v < 0)); }

static void heaviside_SUF(int64_t n, const REAL* phi, const REAL* cur, REAL* g, REAL* dp, REAL* di,
                          int slopes) {
    const REAL A = (REAL)0.37091212, B = (REAL)0.31903101, C = (REAL)1.06435066;
    const REAL K = (REAL)1.92138556, M = (REAL)2.50322787, N = (REAL)2.62706077;
    const REAL EPS = (REAL)1e-6, PI = (REAL)3.14159265358979323846;
    for (int64_t k = 0; k < n; ++k) {
        REAL excess = cur[k] - C;
        REAL bi = excess > EPS ? excess : EPS;
        REAL cs = M_COS(PI * phi[k]);
        REAL bp = (cs < 0 ? -cs : cs) + EPS;
        REAL d = A * M_POW(bi, K) - B * M_POW(bp, M);
        REAL sig = (REAL)1 / ((REAL)1 + M_EXP(-(REAL)100 * d));
        REAL dc = d > EPS ? d : EPS;
        REAL root = M_POW(dc, (REAL)1 / N);
        g[k] = sig * root;
        if (slopes) {
            REAL dg_dd = (REAL)100 * sig * ((REAL)1 - sig) * root + sig * (root / dc) * (REAL)(d >= EPS) / N;
            REAL dd_di = A * K * M_POW(bi, K - 1) * (REAL)(excess >= EPS);
            REAL dabs = -sgn_SUF(cs) * M_SIN(PI * phi[k]) * PI;
            dp[k] = dg_dd * (-B * M * M_POW(bp, M - 1) * dabs);
            di[k] = dg_dd * dd_di;
        }
    }
}

static void phi_only_SUF(int kind, int64_t n, const REAL* phi, REAL* g, REAL* dp, int slopes) {
    for (int64_t k = 0; k < n; ++k) {
        REAL p = phi[k], v, s;
        if (kind == 2) { REAL t = M_TANH(p); v = t; s = (REAL)1 - t * t; }
        else if (kind == 3) { v = p > 0 ? p : 0; s = (REAL)(p > 0); }
        else if (kind == 4) {
            REAL t = M_TANH((REAL)0.8 * p);
            v = (REAL)0.5 * p * t + (REAL)0.5 * p;
            s = (REAL)0.5 * t + (REAL)0.4 * p * ((REAL)1 - t * t) + (REAL)0.5;
        } else { REAL e = M_EXP(p), t = M_TANH(e); v = p * t; s = t + p * e * ((REAL)1 - t * t); }
        g[k] = v;
        if (slopes) dp[k] = s;
    }
}

static void tanh_gauss_SUF(int64_t n, const REAL* phi, const REAL* cur, REAL* g, REAL* dp, REAL* di,
                           int slopes) {
    const REAL SIG = (REAL)0.126327336, P = (REAL)2.548409700, AMP = (REAL)0.784536839;
    for (int64_t k = 0; k < n; ++k) {
        REAL off = phi[k] - M_FLOOR(phi[k]) - (REAL)0.5;
        REAL gauss = M_EXP(-(off * off) / ((REAL)2 * SIG * SIG));
        REAL t = M_TANH(gauss);
        REAL i_k = cur[k];
        REAL lifted = i_k < (REAL)0.7 ? (REAL)0 : (i_k > (REAL)1.7 ? (REAL)1 : i_k - (REAL)0.7);
        REAL cterm = M_POW(lifted, P);
        g[k] = cterm * AMP * t;
        if (slopes) {
            dp[k] = cterm * AMP * ((REAL)1 - t * t) * gauss * (-off / (SIG * SIG));
            REAL window = (REAL)(i_k >= (REAL)0.7 && i_k <= (REAL)1.7);
            di[k] = P * M_POW(lifted, P - 1) * window * AMP * t;
        }
    }
}

static void source_row_SUF(int kind, int64_t n, const REAL* phi, const REAL* cur, REAL* g, REAL* dp,
                           REAL* di, int slopes, const REAL* table, int64_t Ht, int64_t Wt,
                           REAL inv_dphi, REAL inv_dib, REAL phi0, REAL ib0) {
    if (kind == 0) rate_array_SUF(n, phi, cur, g, dp, di, slopes, table, Ht, Wt, inv_dphi, inv_dib, phi0, ib0);
    else if (kind == 1) heaviside_SUF(n, phi, cur, g, dp, di, slopes);
    else if (kind == 6) tanh_gauss_SUF(n, phi, cur, g, dp, di, slopes);
    else phi_only_SUF(kind, n, phi, g, dp, slopes);
}

/* ---- out_r = base_r + s_r M for a block of nb <= SOEN_RB rows ----
   M is [D, ldm] row-major with ldm a multiple of SOEN_DB and zeros beyond column D, so every
   column strip is full; rows past nb repeat row 0 and are discarded. Each output element
   sums over k in order 0..D-1 starting from its base value (the blocking never changes the
   result). The accumulators (SOEN_RB x SOEN_DB) stay in registers and each value of M is
   read once for all rows. */
static void matvec_rows_SUF(int nb, int64_t D, int64_t ldm, const REAL* const* S_in,
                            const REAL* restrict M, REAL* const* OUT, const REAL* const* BASE) {
    const REAL* s0 = S_in[0];
    const REAL* s1 = nb > 1 ? S_in[1] : s0;
    const REAL* s2 = nb > 2 ? S_in[2] : s0;
    const REAL* s3 = nb > 3 ? S_in[3] : s0;
    for (int64_t d0 = 0; d0 < D; d0 += SOEN_DB) {
        const int w = (int)(D - d0 < SOEN_DB ? D - d0 : SOEN_DB);
        REAL acc0[SOEN_DB], acc1[SOEN_DB], acc2[SOEN_DB], acc3[SOEN_DB];
        for (int j = 0; j < SOEN_DB; ++j) { acc0[j] = 0; acc1[j] = 0; acc2[j] = 0; acc3[j] = 0; }
        if (BASE) {
            for (int j = 0; j < w; ++j) acc0[j] = BASE[0][d0 + j];
            if (nb > 1) for (int j = 0; j < w; ++j) acc1[j] = BASE[1][d0 + j];
            if (nb > 2) for (int j = 0; j < w; ++j) acc2[j] = BASE[2][d0 + j];
            if (nb > 3) for (int j = 0; j < w; ++j) acc3[j] = BASE[3][d0 + j];
        }
        for (int64_t k = 0; k < D; ++k) {
            const REAL* restrict m = M + k * ldm + d0;
            const REAL v0 = s0[k], v1 = s1[k], v2 = s2[k], v3 = s3[k];
            for (int j = 0; j < SOEN_DB; ++j) {
                acc0[j] += v0 * m[j]; acc1[j] += v1 * m[j];
                acc2[j] += v2 * m[j]; acc3[j] += v3 * m[j];
            }
        }
        for (int j = 0; j < w; ++j) OUT[0][d0 + j] = acc0[j];
        if (nb > 1) for (int j = 0; j < w; ++j) OUT[1][d0 + j] = acc1[j];
        if (nb > 2) for (int j = 0; j < w; ++j) OUT[2][d0 + j] = acc2[j];
        if (nb > 3) for (int j = 0; j < w; ++j) OUT[3][d0 + j] = acc3[j];
    }
}

/* ---- the scan: s_{t+1} = a*s_t + c*(G_t + gn_t) + sn_t ----
   SingleDendrite: G_t = g(phi_t, IB_t - s_t). Multiplier (py != NULL, the weight flux phi_y):
   G_t = g(phi_t + py, IB_t - s_t) - g(phi_t - py, IB_t + s_t). phi_t = X_t + bias (+ s_t J^T).
   Rows b in [b0, b1), in blocks of SOEN_RB rows; time is the outer loop so every array
   streams through memory once. a, c, bias, py: [B, D] rows with row stride *_sb (0 = one
   shared row); IB: row (t, b) at t*ib_st + b*ib_sb; last dimensions are contiguous. JT is
   the internal weight transposed and padded (JT[k*ldm + d] = J[d, k], see matvec_rows). Slopes written when asked:
   DPHI = dG/dphi, DI = -dG/ds (the current's slope), and for a multiplier DPY = dG/dpy and
   DIB = dG/dIB. work: (SOEN_RB + 14)*D scratch values. */
void scan_forward_SUF(int64_t T, int64_t B, int64_t D, int64_t b0, int64_t b1,
                      const REAL* X, const REAL* bias, int64_t bias_sb, const REAL* s0, const REAL* JT,
                      int64_t ldm, const REAL* a, int64_t a_sb, const REAL* c, int64_t c_sb,
                      const REAL* ib, int64_t ib_st, int64_t ib_sb,
                      const REAL* gn, const REAL* sn, const REAL* py, int64_t py_sb,
                      int kind, const REAL* table, int64_t Ht, int64_t Wt,
                      double inv_dphi, double inv_dib, double phi0, double ib0, int slopes,
                      REAL* Hout, REAL* Gout, REAL* PHIout, REAL* DPHI, REAL* DI,
                      REAL* DPY, REAL* DIB, REAL* work) {
    REAL* flux_rows = work;                     /* SOEN_RB rows of X + bias */
    REAL* cur = work + SOEN_RB * D;
    REAL* dp_scratch = cur + D;
    REAL* di_scratch = cur + 2 * D;
    REAL* f_p = cur + 3 * D; REAL* f_m = cur + 4 * D; REAL* c_p = cur + 5 * D; REAL* c_m = cur + 6 * D;
    REAL* g_p = cur + 7 * D; REAL* g_m = cur + 8 * D; REAL* dp_p = cur + 9 * D; REAL* dp_m = cur + 10 * D;
    REAL* di_p = cur + 11 * D; REAL* di_m = cur + 12 * D;
    const REAL fi_dphi = (REAL)inv_dphi, fi_dib = (REAL)inv_dib, f_phi0 = (REAL)phi0, f_ib0 = (REAL)ib0;
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t d = 0; d < D; ++d) Hout[b * D + d] = s0[b * D + d];
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t bb = b0; bb < b1; bb += SOEN_RB) {
            const int nb = (int)(b1 - bb < SOEN_RB ? b1 - bb : SOEN_RB);
            const REAL* phis[SOEN_RB];
            for (int r = 0; r < nb; ++r) {
                const int64_t row = (t * B + bb + r) * D;
                phis[r] = X + row;
                if (bias) {
                    const REAL* bias_row = bias + (bb + r) * bias_sb;
                    REAL* flux = flux_rows + r * D;
                    for (int64_t d = 0; d < D; ++d) flux[d] = X[row + d] + bias_row[d];
                    phis[r] = flux;
                }
            }
            if (JT) {
                const REAL* S[SOEN_RB];
                REAL* OUT[SOEN_RB];
                for (int r = 0; r < nb; ++r) {
                    const int64_t row = (t * B + bb + r) * D;
                    S[r] = Hout + row;
                    OUT[r] = PHIout + row;
                }
                matvec_rows_SUF(nb, D, ldm, S, JT, OUT, phis);
                for (int r = 0; r < nb; ++r) phis[r] = OUT[r];
            }
            for (int r = 0; r < nb; ++r) {
                const int64_t b = bb + r;
                const int64_t row = (t * B + b) * D;
                const REAL* s = Hout + row;
                REAL* s_next = Hout + row + B * D;
                const REAL* phi = phis[r];
                const REAL* ib_row = ib ? ib + t * ib_st + b * ib_sb : 0;
                REAL* g = Gout + row;
                if (!py) {
                    if (ib) for (int64_t d = 0; d < D; ++d) cur[d] = ib_row[d] - s[d];
                    source_row_SUF(kind, D, phi, cur, g, slopes ? DPHI + row : dp_scratch,
                                   (slopes && DI) ? DI + row : di_scratch, slopes, table, Ht, Wt,
                                   fi_dphi, fi_dib, f_phi0, f_ib0);
                } else {
                    const REAL* py_row = py + b * py_sb;
                    for (int64_t d = 0; d < D; ++d) { f_p[d] = phi[d] + py_row[d]; f_m[d] = phi[d] - py_row[d]; }
                    if (ib) for (int64_t d = 0; d < D; ++d) { c_p[d] = ib_row[d] - s[d]; c_m[d] = ib_row[d] + s[d]; }
                    source_row_SUF(kind, D, f_p, c_p, g_p, dp_p, di_p, slopes, table, Ht, Wt,
                                   fi_dphi, fi_dib, f_phi0, f_ib0);
                    source_row_SUF(kind, D, f_m, c_m, g_m, dp_m, di_m, slopes, table, Ht, Wt,
                                   fi_dphi, fi_dib, f_phi0, f_ib0);
                    for (int64_t d = 0; d < D; ++d) g[d] = g_p[d] - g_m[d];
                    if (slopes) {
                        for (int64_t d = 0; d < D; ++d) {
                            DPHI[row + d] = dp_p[d] - dp_m[d];
                            if (DPY) DPY[row + d] = dp_p[d] + dp_m[d];
                        }
                        if (DI) for (int64_t d = 0; d < D; ++d) {
                            DI[row + d] = di_p[d] + di_m[d];
                            DIB[row + d] = di_p[d] - di_m[d];
                        }
                    }
                }
                if (gn) for (int64_t d = 0; d < D; ++d) g[d] += gn[row + d];
                const REAL* a_row = a + b * a_sb;
                const REAL* c_row = c + b * c_sb;
                for (int64_t d = 0; d < D; ++d) {
                    REAL decayed = s[d] * a_row[d];
                    s_next[d] = decayed + c_row[d] * g[d];
                }
                if (sn) for (int64_t d = 0; d < D; ++d) s_next[d] += sn[row + d];
            }
        }
    }
}

/* Adjoint recursion for rows b in [b0, b1): P = dL/dphi plus per-row sums for a, c, IB and bias.
   grad_s0 holds dL/ds_{t+1} while time runs backwards and ends as dL/ds_0. U (optional) gets
   u_t = dL/dG_t per step. work: 2*SOEN_RB*D values. */
void scan_backward_SUF(int64_t T, int64_t B, int64_t D, int64_t b0, int64_t b1,
                       const REAL* Hs, const REAL* G, const REAL* DPHI, const REAL* DI, const REAL* J,
                       int64_t ldm, const REAL* a, int64_t a_sb, const REAL* c, int64_t c_sb,
                       const REAL* gH, const REAL* gG, const REAL* gPHI,
                       REAL* P, REAL* grad_s0, REAL* lam_s, REAL* lam_g, REAL* u_di, REAL* u_di_full,
                       REAL* p_sum, REAL* U, REAL* work) {
    REAL* nxt_rows = work;
    REAL* acc_rows = work + SOEN_RB * D;
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t d = 0; d < D; ++d) {
            grad_s0[b * D + d] = gH ? gH[(T * B + b) * D + d] : 0;
            lam_s[b * D + d] = 0; lam_g[b * D + d] = 0; u_di[b * D + d] = 0; p_sum[b * D + d] = 0;
        }
    for (int64_t t = T - 1; t >= 0; --t) {
        for (int64_t bb = b0; bb < b1; bb += SOEN_RB) {
            const int nb = (int)(b1 - bb < SOEN_RB ? b1 - bb : SOEN_RB);
            for (int r = 0; r < nb; ++r) {
                const int64_t b = bb + r;
                const int64_t row = (t * B + b) * D;
                const REAL* lam = grad_s0 + b * D;
                const REAL* a_row = a + b * a_sb;
                const REAL* c_row = c + b * c_sb;
                REAL* p_row = P + row;
                REAL* ls = lam_s + b * D;
                REAL* lg = lam_g + b * D;
                REAL* ps = p_sum + b * D;
                REAL* nxt = nxt_rows + r * D;
                for (int64_t d = 0; d < D; ++d) {
                    REAL l = lam[d];
                    REAL u = l * c_row[d] + (gG ? gG[row + d] : 0);
                    if (U) U[row + d] = u;
                    REAL p = u * DPHI[row + d] + (gPHI ? gPHI[row + d] : 0);
                    p_row[d] = p;
                    ps[d] += p;
                    ls[d] += l * Hs[row + d];
                    lg[d] += l * G[row + d];
                    REAL n = l * a_row[d] + (gH ? gH[row + d] : 0);
                    if (DI) {
                        REAL udi = u * DI[row + d];
                        u_di[b * D + d] += udi;
                        if (u_di_full) u_di_full[row + d] = udi;
                        n -= udi;
                    }
                    nxt[d] = n;
                }
            }
            if (J) {
                const REAL* S[SOEN_RB];
                REAL* OUT[SOEN_RB];
                for (int r = 0; r < nb; ++r) {
                    S[r] = P + (t * B + bb + r) * D;
                    OUT[r] = acc_rows + r * D;
                }
                matvec_rows_SUF(nb, D, ldm, S, J, OUT, 0);
                for (int r = 0; r < nb; ++r)
                    for (int64_t d = 0; d < D; ++d) nxt_rows[r * D + d] += acc_rows[r * D + d];
            }
            for (int r = 0; r < nb; ++r)
                for (int64_t d = 0; d < D; ++d) grad_s0[(bb + r) * D + d] = nxt_rows[r * D + d];
        }
    }
}
"""

_MATH = ("POW", "COS", "SIN", "EXP", "TANH", "FLOOR")


def _instantiate(real: str, suffix: str, math_suffix: str) -> str:
    """The template for one float type: REAL, function suffix and libm variants (powf / pow)."""
    defines = "".join(f"#define M_{name}(...) {name.lower()}{math_suffix}(__VA_ARGS__)\n" for name in _MATH)
    undefs = "".join(f"#undef M_{name}\n" for name in _MATH)
    return defines + _C_TEMPLATE.replace("REAL", real).replace("_SUF", suffix) + undefs


_C_SOURCE = "#include <math.h>\n#include <stdint.h>\n#define SOEN_RB 4\n#define SOEN_DB 16\n" + _instantiate("float", "_f32", "f") + _instantiate(
    "double", "_f64", "")
_CFLAGS = ["-O3", "-march=native", "-fPIC", "-shared", "-std=c99", "-ffp-contract=off", "-fno-trapping-math"]

_lock = threading.Lock()
_state: dict[str, object] = {"lib": None, "tried": False, "error": None}
_pool: dict[str, object] = {"executor": None, "pid": None}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "soen_train"


def _cpu_signature() -> str:
    """CPU model and feature flags (Linux) or the platform string elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.platform() + platform.processor()
    keep = [line for line in text.splitlines() if line.startswith(("flags", "model name"))]
    return "\n".join(sorted(set(keep)))


def _compiler() -> str | None:
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def _build() -> ctypes.CDLL:
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler found (set CC, or install cc/gcc)")
    # -march=native: the build is keyed by this CPU's feature flags, so a shared cache
    # directory never hands one machine another machine's instructions.
    key = _C_SOURCE + " ".join(_CFLAGS) + compiler + _cpu_signature()
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    target = _cache_dir() / f"soen_scan_{digest}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            source = Path(tmp) / "soen_scan.c"
            source.write_text(_C_SOURCE)
            built = Path(tmp) / target.name
            # Compilers without -march=native (some non-x86 toolchains) get a portable build.
            for flags in (_CFLAGS, [f for f in _CFLAGS if f != "-march=native"]):
                result = subprocess.run([compiler, *flags, "-o", str(built), str(source), "-lm"],
                                        capture_output=True, text=True, timeout=120, check=False)
                if result.returncode == 0:
                    break
            if result.returncode != 0:
                raise RuntimeError(f"{compiler} failed: {result.stderr.strip()[:500]}")
            os.replace(built, target)
    lib = ctypes.CDLL(str(target))
    for suffix in ("_f32", "_f64"):
        getattr(lib, "scan_forward" + suffix).restype = None
        getattr(lib, "scan_backward" + suffix).restype = None
    return lib


def enabled() -> bool:
    """False when ``SOEN_TRAIN_NATIVE`` is set to 0/false/off."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "off", "no")


def library() -> ctypes.CDLL | None:
    """The compiled kernel, building it on first use; None when unavailable or disabled."""
    if not enabled():
        return None
    if _state["tried"]:
        return _state["lib"]  # type: ignore[return-value]
    with _lock:
        if not _state["tried"]:
            try:
                _state["lib"] = _build()
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                _state["error"] = str(exc)
                warnings.warn(f"soen_train: compiled scan unavailable, using the PyTorch scan ({exc})",
                              RuntimeWarning, stacklevel=3)
            _state["tried"] = True
    return _state["lib"]  # type: ignore[return-value]


def supports(tensor: Tensor, source: SourceFunction, recurrent: bool = False) -> bool:
    """True when the compiled scan can run this dtype/device/source (any width; ``recurrent``
    is accepted for callers that name it: the blocked product handles any internal weight)."""
    del recurrent
    return (tensor.device.type == "cpu" and tensor.dtype in (torch.float32, torch.float64)
            and type(source) in SOURCE_CODES and library() is not None)


def source_table(source: SourceFunction, ref: Tensor) -> tuple:
    """(table tensor or None, geometry) the kernel needs for ``source``."""
    if isinstance(source, RateArray):
        return source.table.cell_coefficients(ref.device, ref.dtype), source.geometry
    return None, (0.0, 0.0, 0.0, 0.0, 0, 0)


#: Column strip of the blocked internal-weight product (SOEN_DB in the C source).
COLUMN_BLOCK = 16


def padded_rows(matrix: Tensor) -> Tensor:
    """A contiguous copy of a [D, D] matrix with its rows zero-padded to a multiple of
    ``COLUMN_BLOCK`` columns (the layout the blocked product reads)."""
    rows, cols = matrix.shape
    width = -(-cols // COLUMN_BLOCK) * COLUMN_BLOCK
    out = matrix.new_zeros(rows, width)
    out[:, :cols] = matrix.detach()
    return out


def _ptr(tensor: Tensor | None) -> ctypes.c_void_p | None:
    return None if tensor is None else ctypes.c_void_p(tensor.data_ptr())


def _rows(batch: int, work: int) -> list[Sequence[int]]:
    """Batch row ranges, one per thread when the work is large enough to split."""
    threads = max(1, torch.get_num_threads())
    if threads == 1 or batch < 2 or work < 20_000:
        return [(0, batch)]
    parts = min(threads, batch)
    edges = [round(i * batch / parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts) if edges[i + 1] > edges[i]]


def _executor() -> ThreadPoolExecutor:
    """The worker threads (recreated in a forked child, whose copy of the pool has no threads)."""
    if _pool["executor"] is None or _pool["pid"] != os.getpid():
        _pool["executor"] = ThreadPoolExecutor(max_workers=8, thread_name_prefix="soen-scan")
        _pool["pid"] = os.getpid()
    return _pool["executor"]  # type: ignore[return-value]


def _run(fn, ranges: list[Sequence[int]], make_args) -> None:
    if len(ranges) == 1:
        fn(*make_args(*ranges[0]))
        return
    futures = [_executor().submit(fn, *make_args(lo, hi)) for lo, hi in ranges]
    for future in futures:
        future.result()


def _i(value: int) -> ctypes.c_int64:
    return ctypes.c_int64(int(value))


def _rows_of(coeff: Tensor, batch: int, dim: int) -> tuple:
    """(contiguous tensor, row stride) for a [D] or [B, D] coefficient (stride 0 = shared row)."""
    coeff = coeff.contiguous()
    return coeff, (0 if coeff.dim() == 1 else dim)


def forward(X: Tensor, bias: Tensor | None, s0: Tensor, J: Tensor | None, a: Tensor, c: Tensor,
            IB: Tensor | None, g_noise: Tensor | None, s_noise: Tensor | None,
            source: SourceFunction, slopes: bool, phi_y: Tensor | None = None,
            phi_y_slopes: bool = False) -> tuple:
    """Compiled forward scan with the arguments of ``dendrite_scan`` (X [T,B,D]; bias, a, c [D] or
    [B,D]; IB [D], [B,D] or [T,B,D]); X, s0, J and the noise tensors must be contiguous.
    ``phi_y`` ([D] or [B,D], weight flux [Phi0]) selects the multiplier drive
    g(phi + phi_y, IB - s) - g(phi - phi_y, IB + s).

    Returns (H [T+1,B,D], PHI [T,B,D] or empty, G, DPHI or None, DI or None, DPY or None,
    DIB or None); DI is -dG/ds, DPY = dG/dphi_y and DIB = dG/dIB (multiplier only).
    """
    lib = library()
    table, geometry = source_table(source, X)
    steps, batch, dim = X.shape
    suffix = "_f32" if X.dtype == torch.float32 else "_f64"
    fn = getattr(lib, "scan_forward" + suffix)
    H = X.new_empty(steps + 1, batch, dim)
    G = X.new_empty(steps, batch, dim)
    PHI = X.new_empty(steps, batch, dim) if J is not None else X.new_empty(0)
    DPHI = X.new_empty(steps, batch, dim) if slopes else None
    DI = X.new_empty(steps, batch, dim) if (slopes and IB is not None) else None
    multiplier = phi_y is not None
    DPY = X.new_empty(steps, batch, dim) if (slopes and multiplier and phi_y_slopes) else None
    DIB = X.new_empty(steps, batch, dim) if (DI is not None and multiplier) else None
    JT = padded_rows(J.t()) if J is not None else None
    ranges = _rows(batch, steps * batch * dim * (dim if J is not None else 1))
    work_iter = iter([X.new_empty((4 + 14) * dim) for _ in ranges])
    inv_dphi, inv_dib, phi0, ib0, h, w = geometry
    bias_rows, bias_sb = _rows_of(bias, batch, dim) if bias is not None else (None, 0)
    a_rows, a_sb = _rows_of(a, batch, dim)
    c_rows, c_sb = _rows_of(c, batch, dim)
    py_rows, py_sb = _rows_of(phi_y, batch, dim) if multiplier else (None, 0)
    ib_rows, ib_st, ib_sb = None, 0, 0
    if IB is not None:
        ib_rows = IB.contiguous()
        ib_st = batch * dim if IB.dim() == 3 else 0
        ib_sb = dim if IB.dim() >= 2 else 0

    def args(lo, hi):
        return (_i(steps), _i(batch), _i(dim), _i(lo), _i(hi), _ptr(X), _ptr(bias_rows), _i(bias_sb),
                _ptr(s0), _ptr(JT), _i(JT.shape[1] if JT is not None else 0),
                _ptr(a_rows), _i(a_sb), _ptr(c_rows), _i(c_sb), _ptr(ib_rows), _i(ib_st), _i(ib_sb),
                _ptr(g_noise), _ptr(s_noise), _ptr(py_rows), _i(py_sb),
                ctypes.c_int(SOURCE_CODES[type(source)]), _ptr(table),
                _i(h), _i(w), ctypes.c_double(inv_dphi), ctypes.c_double(inv_dib),
                ctypes.c_double(phi0), ctypes.c_double(ib0), ctypes.c_int(int(slopes)),
                _ptr(H), _ptr(G), _ptr(PHI) if J is not None else None, _ptr(DPHI), _ptr(DI),
                _ptr(DPY), _ptr(DIB), _ptr(next(work_iter)))

    _run(fn, ranges, args)
    return H, PHI, G, DPHI, DI, DPY, DIB


def backward(H: Tensor, G: Tensor, DPHI: Tensor, DI: Tensor | None, J: Tensor | None, a: Tensor,
             c: Tensor, gH: Tensor | None, gG: Tensor | None, gPHI: Tensor | None,
             full_ib: bool, want_u: bool = False) -> tuple:
    """Compiled adjoint pass; returns (P, grad_s0, sum lam*s, sum lam*G, sum u*di, u*di per step,
    sum P, U) with the sums per batch row [B, D] and U = dL/dG per step (None unless
    ``want_u``)."""
    lib = library()
    steps, batch, dim = G.shape
    suffix = "_f32" if G.dtype == torch.float32 else "_f64"
    fn = getattr(lib, "scan_backward" + suffix)
    P = G.new_empty(steps, batch, dim)
    grad_s0, lam_s, lam_g, u_di, p_sum = (G.new_empty(batch, dim) for _ in range(5))
    u_di_full = G.new_empty(steps, batch, dim) if (full_ib and DI is not None) else None
    U = G.new_empty(steps, batch, dim) if want_u else None
    ranges = _rows(batch, steps * batch * dim * (dim if J is not None else 1))
    work_iter = iter([G.new_empty(2 * 4 * dim) for _ in ranges])
    a_rows, a_sb = _rows_of(a, batch, dim)
    c_rows, c_sb = _rows_of(c, batch, dim)
    JP = padded_rows(J) if J is not None else None

    def args(lo, hi):
        return (_i(steps), _i(batch), _i(dim), _i(lo), _i(hi), _ptr(H), _ptr(G), _ptr(DPHI), _ptr(DI),
                _ptr(JP), _i(JP.shape[1] if JP is not None else 0), _ptr(a_rows), _i(a_sb), _ptr(c_rows), _i(c_sb), _ptr(gH), _ptr(gG),
                _ptr(gPHI), _ptr(P), _ptr(grad_s0), _ptr(lam_s), _ptr(lam_g), _ptr(u_di),
                _ptr(u_di_full), _ptr(p_sum), _ptr(U), _ptr(next(work_iter)))

    _run(fn, ranges, args)
    return P, grad_s0, lam_s, lam_g, u_di, u_di_full, p_sum, U
