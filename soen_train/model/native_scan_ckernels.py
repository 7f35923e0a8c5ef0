"""C text of the compiled time scans (forward and adjoint): the dendrite recurrence and the
three-state MultiplierNOCC recurrence.

Uses the source functions and ``matvec_rows`` of ``native_scan_csource``; written over
``REAL`` / ``_SUF`` like them (instantiated per float type by ``native_scan_build``). The Python
side that calls these functions is ``native_scan``.
"""

from __future__ import annotations

#: scan_forward / scan_backward of s_{t+1} = a*s_t + c*(G_t + gn_t) + sn_t (SingleDendrite, MultiplierWICC).
C_DENDRITE_SCAN = r"""
/* ---- the scan: s_{t+1} = a*s_t + c*(G_t + gn_t) + sn_t ----
   SingleDendrite: G_t = g(phi_t, IB_t - s_t). Multiplier (py != NULL, the weight flux phi_y):
   G_t = g(phi_t + py, IB_t - s_t) - g(phi_t - py, IB_t + s_t). phi_t = X_t + bias (+ s_t J^T).

   A step's rows b0..b1 lie end to end in every [T, B, D] and [B, D] array, so the
   elementwise work of a step runs over one stretch of (b1 - b0)*D values (in chunks of
   SOEN_CH) whatever the width: a 10-node layer costs what a 10*B-node row costs. */

/* n consecutive values of a step: the drive G from phi and the state s, then the next state.
   Pointers are at the stretch's first value; ib NULL = phi-only source, py NULL = not a
   multiplier, gn/sn NULL = no noise. dphi (and di when ib is set; dpy, dib for a multiplier
   when not NULL) get the slopes when `slopes` is set, else they point at scratch.
   sc: 11 scratch vectors of n values. */
static void dendrite_values_SUF(int64_t n, int kind, const REAL* phi, const REAL* s, REAL* s_next,
                                const REAL* ib, const REAL* a, const REAL* c, const REAL* py,
                                const REAL* gn, const REAL* sn, REAL* g, REAL* dphi, REAL* di,
                                REAL* dpy, REAL* dib, int slopes, REAL* sc, const REAL* table,
                                int64_t Ht, int64_t Wt, REAL inv_dphi, REAL inv_dib, REAL phi0, REAL ib0) {
    REAL* cur = sc;
    if (!py) {
        if (ib) for (int64_t k = 0; k < n; ++k) cur[k] = ib[k] - s[k];
        source_row_SUF(kind, n, phi, cur, g, dphi, di, slopes, table, Ht, Wt, inv_dphi, inv_dib, phi0, ib0);
    } else {
        REAL *f_p = sc + n, *f_m = sc + 2 * n, *c_p = sc + 3 * n, *c_m = sc + 4 * n, *g_p = sc + 5 * n;
        REAL *g_m = sc + 6 * n, *dp_p = sc + 7 * n, *dp_m = sc + 8 * n, *di_p = sc + 9 * n, *di_m = sc + 10 * n;
        for (int64_t k = 0; k < n; ++k) { f_p[k] = phi[k] + py[k]; f_m[k] = phi[k] - py[k]; }
        if (ib) for (int64_t k = 0; k < n; ++k) { c_p[k] = ib[k] - s[k]; c_m[k] = ib[k] + s[k]; }
        source_row_SUF(kind, n, f_p, c_p, g_p, dp_p, di_p, slopes, table, Ht, Wt, inv_dphi, inv_dib, phi0, ib0);
        source_row_SUF(kind, n, f_m, c_m, g_m, dp_m, di_m, slopes, table, Ht, Wt, inv_dphi, inv_dib, phi0, ib0);
        for (int64_t k = 0; k < n; ++k) g[k] = g_p[k] - g_m[k];
        if (slopes) {
            for (int64_t k = 0; k < n; ++k) dphi[k] = dp_p[k] - dp_m[k];
            if (dpy) for (int64_t k = 0; k < n; ++k) dpy[k] = dp_p[k] + dp_m[k];
            if (ib && dib) for (int64_t k = 0; k < n; ++k) { di[k] = di_p[k] + di_m[k]; dib[k] = di_p[k] - di_m[k]; }
        }
    }
    if (gn) for (int64_t k = 0; k < n; ++k) g[k] += gn[k];
    for (int64_t k = 0; k < n; ++k) {
        REAL decayed = s[k] * a[k];
        s_next[k] = decayed + c[k] * g[k];
    }
    if (sn) for (int64_t k = 0; k < n; ++k) s_next[k] += sn[k];
}

/* Forward scan for rows b in [b0, b1). a, c, bias, py: [B, D] (bias, py may be NULL); IB:
   row (t, b) at t*ib_st + b*D ([B, D] or [T, B, D]; NULL for phi-only sources). JT is the
   internal weight transposed and padded (JT[k*ldm + d] = J[d, k], see matvec_rows). Slopes
   written when asked: DPHI = dG/dphi, DI = -dG/ds (the current's slope), and for a
   multiplier DPY = dG/dpy and DIB = dG/dIB. PHIout and Gout may be NULL (histories not
   kept: a forward without gradients). gemm (optional, see gemm_rows) computes the internal
   term for all rows of a step at once. work: 14*max(D, SOEN_CH) + (b1 - b0)*D values. */
void scan_forward_SUF(int64_t T, int64_t B, int64_t D, int64_t b0, int64_t b1,
                      const REAL* X, const REAL* bias, const REAL* s0, const REAL* JT, int64_t ldm,
                      const REAL* a, const REAL* c, const REAL* ib, int64_t ib_st,
                      const REAL* gn, const REAL* sn, const REAL* py,
                      int kind, const REAL* table, int64_t Ht, int64_t Wt,
                      double inv_dphi, double inv_dib, double phi0, double ib0, int slopes,
                      REAL* Hout, REAL* Gout, REAL* PHIout, REAL* DPHI, REAL* DI,
                      REAL* DPY, REAL* DIB, REAL* work, const void* gemm, const void* blas_threads) {
    const int64_t W = D > SOEN_CH ? D : SOEN_CH;  /* chunk length: at least one row */
    REAL* g_scratch = work;                       /* drive chunk when Gout is NULL */
    REAL* dp_scratch = work + W;                  /* slope chunks without slopes */
    REAL* di_scratch = work + 2 * W;
    REAL* sc = work + 3 * W;                      /* 11 vectors for dendrite_values */
    REAL* phi_all = work + 14 * W;                /* the step's flux when PHIout is NULL */
    const int blas_prev = blas_threads_SUF(blas_threads, 1);
    const REAL fi_dphi = (REAL)inv_dphi, fi_dib = (REAL)inv_dib, f_phi0 = (REAL)phi0, f_ib0 = (REAL)ib0;
    const int64_t BD = B * D, n = (b1 - b0) * D, part = b0 * D;
    for (int64_t k = 0; k < n; ++k) Hout[part + k] = s0[part + k];
    for (int64_t t = 0; t < T; ++t) {
        const int64_t first = t * BD + part;      /* the stretch's start in [T, B, D] arrays */
        const REAL* phi = X + first;
        if (JT && gemm) {
            phi = step_flux_gemm_SUF(gemm, t, B, D, b0, b1, X, bias, D, Hout, JT, ldm, PHIout, phi_all);
        } else if (JT || bias) {
            REAL* flux = (JT && PHIout) ? PHIout + first : phi_all;
            if (bias) for (int64_t k = 0; k < n; ++k) flux[k] = X[first + k] + bias[part + k];
            else for (int64_t k = 0; k < n; ++k) flux[k] = X[first + k];
            for (int64_t bb = b0; JT && bb < b1; bb += SOEN_RB) {  /* += s_t JT, in place */
                const int nb = (int)(b1 - bb < SOEN_RB ? b1 - bb : SOEN_RB);
                const REAL* S[SOEN_RB];
                REAL* OUT[SOEN_RB];
                for (int r = 0; r < nb; ++r) {
                    S[r] = Hout + first + (bb - b0 + r) * D;
                    OUT[r] = flux + (bb - b0 + r) * D;
                }
                matvec_rows_SUF(nb, D, ldm, S, JT, OUT, (const REAL* const*)OUT);
            }
            phi = flux;
        }
        const REAL* ib_step = ib ? ib + t * ib_st + part : 0;
        for (int64_t k0 = 0; k0 < n; k0 += W) {
            const int64_t len = n - k0 < W ? n - k0 : W, at = first + k0, in_row = part + k0;
            dendrite_values_SUF(len, kind, phi + k0, Hout + at, Hout + at + BD,
                                ib_step ? ib_step + k0 : 0, a + in_row, c + in_row, py ? py + in_row : 0,
                                gn ? gn + at : 0, sn ? sn + at : 0, Gout ? Gout + at : g_scratch,
                                slopes ? DPHI + at : dp_scratch, (slopes && DI) ? DI + at : di_scratch,
                                DPY ? DPY + at : 0, DIB ? DIB + at : 0, slopes, sc,
                                table, Ht, Wt, fi_dphi, fi_dib, f_phi0, f_ib0);
        }
    }
    blas_threads_SUF(blas_threads, blas_prev);
}

/* Adjoint recursion for rows b in [b0, b1): P = dL/dphi plus per-row sums for a, c, IB and bias.
   a, c: [B, D]. grad_s0 holds dL/ds_{t+1} while time runs backwards and ends as dL/ds_0. U
   (optional) gets u_t = dL/dG_t per step. gemm as in scan_forward; without it the internal
   term runs in blocks of SOEN_RB rows. work: (SOEN_RB + b1 - b0)*D values. */
void scan_backward_SUF(int64_t T, int64_t B, int64_t D, int64_t b0, int64_t b1,
                       const REAL* Hs, const REAL* G, const REAL* DPHI, const REAL* DI, const REAL* J,
                       int64_t ldm, const REAL* a, const REAL* c,
                       const REAL* gH, const REAL* gG, const REAL* gPHI,
                       REAL* P, REAL* grad_s0, REAL* lam_s, REAL* lam_g, REAL* u_di, REAL* u_di_full,
                       REAL* p_sum, REAL* U, REAL* work, const void* gemm, const void* blas_threads) {
    REAL* acc_rows = work;
    REAL* nxt_all = work + SOEN_RB * D;         /* dL/ds_t of rows b0..b1 while step t is done */
    const int blas_prev = blas_threads_SUF(blas_threads, 1);
    const int64_t BD = B * D, part = b0 * D;
    const int64_t rows_per_block = (J && !gemm) ? SOEN_RB : b1 - b0;
    for (int64_t k = part; k < b1 * D; ++k) {
        grad_s0[k] = gH ? gH[T * BD + k] : 0;
        lam_s[k] = 0; lam_g[k] = 0; u_di[k] = 0; p_sum[k] = 0;
    }
    for (int64_t t = T - 1; t >= 0; --t) {
        for (int64_t bb = b0; bb < b1; bb += rows_per_block) {
            const int nb = (int)(b1 - bb < rows_per_block ? b1 - bb : rows_per_block);
            const int64_t r0 = bb * D, at0 = t * BD + r0;   /* block start in [B, D] and [T, B, D] */
            REAL* nxt = nxt_all + (bb - b0) * D;
            for (int64_t k = 0; k < nb * D; ++k) {
                const int64_t rk = r0 + k, at = at0 + k;
                REAL l = grad_s0[rk];
                REAL u = l * c[rk] + (gG ? gG[at] : 0);
                if (U) U[at] = u;
                REAL p = u * DPHI[at] + (gPHI ? gPHI[at] : 0);
                P[at] = p;
                p_sum[rk] += p;
                lam_s[rk] += l * Hs[at];
                lam_g[rk] += l * G[at];
                REAL nx = l * a[rk] + (gH ? gH[at] : 0);
                if (DI) {
                    REAL udi = u * DI[at];
                    u_di[rk] += udi;
                    if (u_di_full) u_di_full[at] = udi;
                    nx -= udi;
                }
                nxt[k] = nx;
            }
            if (J && !gemm)
                adjoint_internal_rows_SUF(nb, P + at0, D, ldm, J, acc_rows, nxt);
        }
        adjoint_finish_step_SUF(gemm, b1 - b0, D, ldm, P + (t * B + b0) * D, J, nxt_all, grad_s0 + b0 * D);
    }
    blas_threads_SUF(blas_threads, blas_prev);
}
"""

#: nocc_forward / nocc_backward: MultiplierNOCC's output m and branch states s1, s2.
C_NOCC_SCAN = r"""
/* ---- MultiplierNOCC: three coupled states per node ----
   phi_t = X_t (+ m_t J^T); c1 = sqrt((ib - s1)^2 + eps), c2 = sqrt((s2 - ib)^2 + eps)
   (state-dependent sources only); g1 = g(phi + py, c1), g2 = g(phi - py, c2);
   dm = kg*(g1 - g2) - km*m;  m' = m + dm;  s1' = s1 - ks*s1 + k1*g1 - ko*dm  (s2 likewise with g2).
   The layer folds dt, alpha, beta, beta_out and the fan-in into kg = dt/beta_eff,
   km = dt*alpha/beta_eff, ks = dt*alpha/beta, k1 = dt/beta, ko = beta_out/beta.
   K holds 7 coefficient rows (py, ib, kg, km, ks, k1, ko), each [B, D] with row stride K_sb[i]
   (0 = one shared row). Histories M, S1, S2 are [T+1, B, D]; PHIout, G1, G2 and the slopes
   (DP = dg/dphi, DI = dg/dcurrent) [T, B, D]. PHIout, G1 and G2 may be NULL (not kept).
   gemm as in scan_forward. work: (SOEN_RB + 12 + b1 - b0)*D values. */
void nocc_forward_SUF(int64_t T, int64_t B, int64_t D, int64_t b0, int64_t b1, const REAL* X,
                      const REAL* m0, const REAL* s10, const REAL* s20, const REAL* JT, int64_t ldm,
                      const REAL* const* K, const int64_t* K_sb, int state_dep, double eps,
                      int kind, const REAL* table, int64_t Ht, int64_t Wt,
                      double inv_dphi, double inv_dib, double phi0, double ib0, int slopes,
                      REAL* M, REAL* S1, REAL* S2, REAL* PHIout, REAL* G1, REAL* G2,
                      REAL* DP1, REAL* DP2, REAL* DI1, REAL* DI2, REAL* work, const void* gemm,
                      const void* blas_threads) {
    REAL* phi_rows = work;
    REAL* f_p = work + SOEN_RB * D; REAL* f_m = f_p + D; REAL* c_1 = f_p + 2 * D; REAL* c_2 = f_p + 3 * D;
    REAL* g1s = f_p + 4 * D; REAL* g2s = f_p + 5 * D; REAL* dp1s = f_p + 6 * D; REAL* dp2s = f_p + 7 * D;
    REAL* di1s = f_p + 8 * D; REAL* di2s = f_p + 9 * D;
    REAL* phi_all = f_p + 12 * D;
    const int blas_prev = blas_threads_SUF(blas_threads, 1);
    const REAL fi_dphi = (REAL)inv_dphi, fi_dib = (REAL)inv_dib, f_phi0 = (REAL)phi0, f_ib0 = (REAL)ib0;
    const REAL e = (REAL)eps;
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t d = 0; d < D; ++d) {
            M[b * D + d] = m0[b * D + d]; S1[b * D + d] = s10[b * D + d]; S2[b * D + d] = s20[b * D + d];
        }
    for (int64_t t = 0; t < T; ++t) {
        REAL* phi_block = (JT && gemm) ? step_flux_gemm_SUF(gemm, t, B, D, b0, b1, X, 0, 0,
                                                            M, JT, ldm, PHIout, phi_all) : 0;
        for (int64_t bb = b0; bb < b1; bb += SOEN_RB) {
            const int nb = (int)(b1 - bb < SOEN_RB ? b1 - bb : SOEN_RB);
            const REAL* phis[SOEN_RB];
            for (int r = 0; r < nb; ++r)
                phis[r] = phi_block ? phi_block + (bb - b0 + r) * D : X + (t * B + bb + r) * D;
            if (JT && !phi_block)
                internal_flux_rows_SUF(nb, (t * B + bb) * D, D, ldm, M, JT, PHIout, phi_rows, phis);
            for (int r = 0; r < nb; ++r) {
                const int64_t b = bb + r;
                const int64_t row = (t * B + b) * D;
                const REAL* phi = phis[r];
                const REAL *m = M + row, *s1 = S1 + row, *s2 = S2 + row;
                REAL *m_n = M + row + B * D, *s1_n = S1 + row + B * D, *s2_n = S2 + row + B * D;
                const REAL *py = K[0] + b * K_sb[0], *ib = K[1] + b * K_sb[1], *kg = K[2] + b * K_sb[2];
                const REAL *km = K[3] + b * K_sb[3], *ks = K[4] + b * K_sb[4], *k1 = K[5] + b * K_sb[5];
                const REAL *ko = K[6] + b * K_sb[6];
                REAL* g1 = G1 ? G1 + row : g1s;
                REAL* g2 = G2 ? G2 + row : g2s;
                for (int64_t d = 0; d < D; ++d) { f_p[d] = phi[d] + py[d]; f_m[d] = phi[d] - py[d]; }
                if (state_dep)
                    for (int64_t d = 0; d < D; ++d) {
                        REAL u1 = ib[d] - s1[d], u2 = s2[d] - ib[d];
                        c_1[d] = M_SQRT(u1 * u1 + e); c_2[d] = M_SQRT(u2 * u2 + e);
                    }
                source_row_SUF(kind, D, f_p, c_1, g1, slopes ? DP1 + row : dp1s,
                               (slopes && state_dep) ? DI1 + row : di1s, slopes, table, Ht, Wt,
                               fi_dphi, fi_dib, f_phi0, f_ib0);
                source_row_SUF(kind, D, f_m, c_2, g2, slopes ? DP2 + row : dp2s,
                               (slopes && state_dep) ? DI2 + row : di2s, slopes, table, Ht, Wt,
                               fi_dphi, fi_dib, f_phi0, f_ib0);
                for (int64_t d = 0; d < D; ++d) {
                    REAL dm = kg[d] * (g1[d] - g2[d]) - km[d] * m[d];
                    m_n[d] = m[d] + dm;
                    s1_n[d] = s1[d] - ks[d] * s1[d] + k1[d] * g1[d] - ko[d] * dm;
                    s2_n[d] = s2[d] - ks[d] * s2[d] + k1[d] * g2[d] - ko[d] * dm;
                }
            }
        }
    }
    blas_threads_SUF(blas_threads, blas_prev);
}

/* Adjoint of nocc_forward for rows [b0, b1). LM, L1, L2 [B, D] start as dL/d(final states)
   and end as dL/d(initial states); gM, gS1, gS2 ([T+1, B, D]), gPHI, gG1, gG2 ([T, B, D])
   are direct gradients (NULL = none). P gets dL/dphi_t. SUMS: 7 rows of [B, D] for the
   coefficients in K's order. JP: J with padded rows (out = p J). gemm as in scan_forward.
   work: (SOEN_RB + b1 - b0)*D values. */
void nocc_backward_SUF(int64_t T, int64_t B, int64_t D, int64_t b0, int64_t b1,
                       const REAL* M, const REAL* S1, const REAL* S2, const REAL* G1, const REAL* G2,
                       const REAL* DP1, const REAL* DP2, const REAL* DI1, const REAL* DI2,
                       const REAL* JP, int64_t ldm, const REAL* const* K, const int64_t* K_sb,
                       int state_dep, double eps, const REAL* gM, const REAL* gS1, const REAL* gS2,
                       const REAL* gPHI, const REAL* gG1, const REAL* gG2,
                       REAL* P, REAL* LM, REAL* L1, REAL* L2, REAL* SUMS, REAL* work,
                       const void* gemm, const void* blas_threads) {
    REAL* acc_rows = work;
    REAL* nxt_all = work + SOEN_RB * D;         /* dL/dm_t of rows b0..b1 while step t is done */
    const int blas_prev = blas_threads_SUF(blas_threads, 1);
    const REAL e = (REAL)eps;
    const int64_t BD = B * D;
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t d = 0; d < D; ++d) {
            const int64_t last = T * BD + b * D + d;
            LM[b * D + d] = gM ? gM[last] : 0;
            L1[b * D + d] = gS1 ? gS1[last] : 0;
            L2[b * D + d] = gS2 ? gS2[last] : 0;
            for (int i = 0; i < 7; ++i) SUMS[i * BD + b * D + d] = 0;
        }
    for (int64_t t = T - 1; t >= 0; --t) {
        for (int64_t bb = b0; bb < b1; bb += SOEN_RB) {
            const int nb = (int)(b1 - bb < SOEN_RB ? b1 - bb : SOEN_RB);
            for (int r = 0; r < nb; ++r) {
                const int64_t b = bb + r;
                const int64_t row = (t * B + b) * D;
                const int64_t br = b * D;
                const REAL *ib = K[1] + b * K_sb[1], *kg = K[2] + b * K_sb[2];
                const REAL *km = K[3] + b * K_sb[3], *ks = K[4] + b * K_sb[4], *k1 = K[5] + b * K_sb[5];
                const REAL *ko = K[6] + b * K_sb[6];
                REAL* nxt = nxt_all + (b - b0) * D;
                for (int64_t d = 0; d < D; ++d) {
                    const REAL lm = LM[br + d], l1 = L1[br + d], l2 = L2[br + d];
                    const REAL m = M[row + d], s1 = S1[row + d], s2 = S2[row + d];
                    const REAL g1 = G1[row + d], g2 = G2[row + d], g = g1 - g2;
                    const REAL mu = lm - ko[d] * (l1 + l2);
                    REAL a1 = kg[d] * mu + k1[d] * l1 + (gG1 ? gG1[row + d] : 0);
                    REAL a2 = -kg[d] * mu + k1[d] * l2 + (gG2 ? gG2[row + d] : 0);
                    REAL q1 = a1 * DP1[row + d], q2 = a2 * DP2[row + d];
                    P[row + d] = q1 + q2 + (gPHI ? gPHI[row + d] : 0);
                    const REAL dm = kg[d] * g - km[d] * m;
                    SUMS[br + d] += q1 - q2;
                    SUMS[2 * BD + br + d] += mu * g;
                    SUMS[3 * BD + br + d] -= mu * m;
                    SUMS[4 * BD + br + d] -= l1 * s1 + l2 * s2;
                    SUMS[5 * BD + br + d] += l1 * g1 + l2 * g2;
                    SUMS[6 * BD + br + d] -= (l1 + l2) * dm;
                    REAL n1 = l1 - ks[d] * l1 + (gS1 ? gS1[row + d] : 0);
                    REAL n2 = l2 - ks[d] * l2 + (gS2 ? gS2[row + d] : 0);
                    if (state_dep) {
                        const REAL u1 = ib[d] - s1, u2 = s2 - ib[d];
                        const REAL w1 = a1 * DI1[row + d] * (u1 / M_SQRT(u1 * u1 + e));
                        const REAL w2 = a2 * DI2[row + d] * (u2 / M_SQRT(u2 * u2 + e));
                        n1 -= w1; n2 += w2;
                        SUMS[BD + br + d] += w1 - w2;
                    }
                    L1[br + d] = n1; L2[br + d] = n2;
                    nxt[d] = lm - km[d] * mu + (gM ? gM[row + d] : 0);
                }
            }
            if (JP && !gemm)
                adjoint_internal_rows_SUF(nb, P + (t * B + bb) * D, D, ldm, JP, acc_rows,
                                          nxt_all + (bb - b0) * D);
        }
        adjoint_finish_step_SUF(gemm, b1 - b0, D, ldm, P + (t * B + b0) * D, JP, nxt_all, LM + b0 * D);
    }
    blas_threads_SUF(blas_threads, blas_prev);
}
"""
