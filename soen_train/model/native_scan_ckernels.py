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
   Rows b in [b0, b1), in blocks of SOEN_RB rows; time is the outer loop so every array
   streams through memory once. a, c, bias, py: [B, D] rows with row stride *_sb (0 = one
   shared row); IB: row (t, b) at t*ib_st + b*ib_sb; last dimensions are contiguous. JT is
   the internal weight transposed and padded (JT[k*ldm + d] = J[d, k], see matvec_rows). Slopes written when asked:
   DPHI = dG/dphi, DI = -dG/ds (the current's slope), and for a multiplier DPY = dG/dpy and
   DIB = dG/dIB. PHIout and Gout may be NULL
   (histories not kept: a forward without gradients). gemm (optional, see gemm_rows) computes the
   internal term for all rows of a step at once. work: (3*SOEN_RB + 14 + b1 - b0)*D values. */
void scan_forward_SUF(int64_t T, int64_t B, int64_t D, int64_t b0, int64_t b1,
                      const REAL* X, const REAL* bias, int64_t bias_sb, const REAL* s0, const REAL* JT,
                      int64_t ldm, const REAL* a, int64_t a_sb, const REAL* c, int64_t c_sb,
                      const REAL* ib, int64_t ib_st, int64_t ib_sb,
                      const REAL* gn, const REAL* sn, const REAL* py, int64_t py_sb,
                      int kind, const REAL* table, int64_t Ht, int64_t Wt,
                      double inv_dphi, double inv_dib, double phi0, double ib0, int slopes,
                      REAL* Hout, REAL* Gout, REAL* PHIout, REAL* DPHI, REAL* DI,
                      REAL* DPY, REAL* DIB, REAL* work, const void* gemm, const void* blas_threads) {
    REAL* flux_rows = work;                     /* SOEN_RB rows of X + bias */
    REAL* phi_rows = work + SOEN_RB * D;        /* flux with the internal term when PHIout is NULL */
    REAL* g_rows = work + 2 * SOEN_RB * D;      /* drive rows when Gout is NULL */
    REAL* cur = work + 3 * SOEN_RB * D;
    REAL* dp_scratch = cur + D;
    REAL* di_scratch = cur + 2 * D;
    REAL* f_p = cur + 3 * D; REAL* f_m = cur + 4 * D; REAL* c_p = cur + 5 * D; REAL* c_m = cur + 6 * D;
    REAL* g_p = cur + 7 * D; REAL* g_m = cur + 8 * D; REAL* dp_p = cur + 9 * D; REAL* dp_m = cur + 10 * D;
    REAL* di_p = cur + 11 * D; REAL* di_m = cur + 12 * D;
    REAL* phi_all = cur + 14 * D;               /* the step's flux rows for gemm without PHIout */
    const int blas_prev = blas_threads_SUF(blas_threads, 1);
    const REAL fi_dphi = (REAL)inv_dphi, fi_dib = (REAL)inv_dib, f_phi0 = (REAL)phi0, f_ib0 = (REAL)ib0;
    for (int64_t b = b0; b < b1; ++b)
        for (int64_t d = 0; d < D; ++d) Hout[b * D + d] = s0[b * D + d];
    for (int64_t t = 0; t < T; ++t) {
        REAL* phi_block = (JT && gemm) ? step_flux_gemm_SUF(gemm, t, B, D, b0, b1, X, bias, bias_sb,
                                                            Hout, JT, ldm, PHIout, phi_all) : 0;
        for (int64_t bb = b0; bb < b1; bb += SOEN_RB) {
            const int nb = (int)(b1 - bb < SOEN_RB ? b1 - bb : SOEN_RB);
            const REAL* phis[SOEN_RB];
            for (int r = 0; r < nb && phi_block; ++r) phis[r] = phi_block + (bb - b0 + r) * D;
            for (int r = 0; r < nb && !phi_block; ++r) {
                const int64_t row = (t * B + bb + r) * D;
                phis[r] = X + row;
                if (bias) {
                    const REAL* bias_row = bias + (bb + r) * bias_sb;
                    REAL* flux = flux_rows + r * D;
                    for (int64_t d = 0; d < D; ++d) flux[d] = X[row + d] + bias_row[d];
                    phis[r] = flux;
                }
            }
            if (JT && !phi_block)
                internal_flux_rows_SUF(nb, (t * B + bb) * D, D, ldm, Hout, JT, PHIout, phi_rows, phis);
            for (int r = 0; r < nb; ++r) {
                const int64_t b = bb + r;
                const int64_t row = (t * B + b) * D;
                const REAL* s = Hout + row;
                REAL* s_next = Hout + row + B * D;
                const REAL* phi = phis[r];
                const REAL* ib_row = ib ? ib + t * ib_st + b * ib_sb : 0;
                REAL* g = Gout ? Gout + row : g_rows + r * D;
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
    blas_threads_SUF(blas_threads, blas_prev);
}

/* Adjoint recursion for rows b in [b0, b1): P = dL/dphi plus per-row sums for a, c, IB and bias.
   grad_s0 holds dL/ds_{t+1} while time runs backwards and ends as dL/ds_0. U (optional) gets
   u_t = dL/dG_t per step. gemm as in scan_forward. work: (SOEN_RB + b1 - b0)*D values. */
void scan_backward_SUF(int64_t T, int64_t B, int64_t D, int64_t b0, int64_t b1,
                       const REAL* Hs, const REAL* G, const REAL* DPHI, const REAL* DI, const REAL* J,
                       int64_t ldm, const REAL* a, int64_t a_sb, const REAL* c, int64_t c_sb,
                       const REAL* gH, const REAL* gG, const REAL* gPHI,
                       REAL* P, REAL* grad_s0, REAL* lam_s, REAL* lam_g, REAL* u_di, REAL* u_di_full,
                       REAL* p_sum, REAL* U, REAL* work, const void* gemm, const void* blas_threads) {
    REAL* acc_rows = work;
    REAL* nxt_all = work + SOEN_RB * D;         /* dL/ds_t of rows b0..b1 while step t is done */
    const int blas_prev = blas_threads_SUF(blas_threads, 1);
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
                REAL* nxt = nxt_all + (b - b0) * D;
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
            if (J && !gemm)
                adjoint_internal_rows_SUF(nb, P + (t * B + bb) * D, D, ldm, J, acc_rows,
                                          nxt_all + (bb - b0) * D);
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
