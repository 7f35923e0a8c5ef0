"""C text of the compiled scan's building blocks: the source functions and the blocked product.

Written once over a placeholder float type ``REAL`` and function suffix ``_SUF``;
``native_scan_build`` instantiates every piece for float32 (``_f32``, ``powf``...) and float64
(``_f64``, ``pow``...). Math calls go through ``M_POW``, ``M_COS``... macros for the same reason.
The kernels that use these pieces are in ``native_scan_ckernels``.
"""

from __future__ import annotations

#: ``run_parts``: runs a part callback on each thread of torch's own OpenMP pool (no float type).
C_PARALLEL_PARTS = r"""
/* ---- the batch parts of a scan on torch's OpenMP threads ----
   gomp_parallel, thread_num and num_threads are GOMP_parallel, omp_get_thread_num and
   omp_get_num_threads of the OpenMP runtime torch loaded, so the parts run on the threads
   torch's own ops use (and leave spinning) instead of competing with them for the cores.
   Thread i runs parts i, i + team size, ... (part 0 on the calling thread); a smaller team
   than asked for still runs every part. */
typedef void (*part_fn_t)(int);
typedef void (*gomp_parallel_t)(void (*)(void*), void*, unsigned, unsigned);
struct soen_parts { part_fn_t fn; int n; int (*thread_num)(void); int (*num_threads)(void); };

static void soen_parts_body(void* data) {
    const struct soen_parts* parts = (const struct soen_parts*)data;
    const int team = parts->num_threads();
    for (int i = parts->thread_num(); i < parts->n; i += team) parts->fn(i);
}

void run_parts(const void* gomp_parallel, const void* thread_num, const void* num_threads, int n,
               part_fn_t fn) {
    struct soen_parts parts = {fn, n, (int (*)(void))thread_num, (int (*)(void))num_threads};
    ((gomp_parallel_t)gomp_parallel)(soen_parts_body, &parts, (unsigned)n, 0u);
}
"""

#: Source functions over one row of n points and ``matvec_rows`` (the internal-weight product).
C_BUILDING_BLOCKS = r"""
/* ---- source functions over one row of n points (simple loops the compiler vectorises) ---- */

/* RateArray in two passes per stretch of up to SOEN_RA points. Pass one (vectorised) finds
   each point's table cell and fractions; pass two reads the cell's four coefficients with
   one contiguous load per point and combines them. Vector gathers of the coefficients cost
   more than the whole rest of a scan step (a 256-wide layer: 4x the time with them). */
#define SOEN_RA 256
static void rate_array_SUF(int64_t n, const REAL* restrict phi, const REAL* restrict cur,
                           REAL* restrict g, REAL* restrict dp, REAL* restrict di,
                           int slopes, const REAL* restrict table, int64_t Ht, int64_t Wt,
                           REAL inv_dphi, REAL inv_dib, REAL phi0, REAL ib0) {
    const REAL x_off = ((REAL)0.5 - phi0) * inv_dphi, y_off = -ib0 * inv_dib;
    const REAL x_hi = (REAL)(Wt - 1), y_hi = (REAL)(Ht - 1);
    const int32_t ix_hi = (int32_t)(Wt - 2), iy_hi = (int32_t)(Ht - 2), stride = (int32_t)(Wt - 1);
    int32_t cells[SOEN_RA];
    REAL fxs[SOEN_RA], fys[SOEN_RA], sx[SOEN_RA], sy[SOEN_RA];
    for (int64_t k0 = 0; k0 < n; k0 += SOEN_RA) {
        const int count = (int)(n - k0 < SOEN_RA ? n - k0 : SOEN_RA);
        const REAL* restrict ph = phi + k0;
        const REAL* restrict cu = cur + k0;
        for (int k = 0; k < count; ++k) {  /* branch-free, so the compiler vectorises it */
            REAL p = ph[k];
            REAL centred = M_FLOOR(p) + (REAL)0.5 - p;        /* 0.5 - (phi mod 1) */
            REAL ac = centred < 0 ? -centred : centred;
            REAL x = x_off - ac * inv_dphi;
            x = x < 0 ? 0 : x;
            x = x > x_hi ? x_hi : x;
            int32_t ix = (int32_t)x;                          /* x >= 0: truncation = floor */
            ix = ix > ix_hi ? ix_hi : ix;
            fxs[k] = x - (REAL)ix;
            REAL i_k = cu[k];
            REAL mag = i_k < 0 ? -i_k : i_k;
            REAL y_raw = y_off + inv_dib * mag;
            REAL y = y_raw < 0 ? 0 : y_raw;
            y = y > y_hi ? y_hi : y;
            int32_t iy = (int32_t)y;
            iy = iy > iy_hi ? iy_hi : iy;
            fys[k] = y - (REAL)iy;
            cells[k] = 4 * (iy * stride + ix);
            sx[k] = signbit(centred) ? -inv_dphi : inv_dphi;  /* d x / d phi */
            sy[k] = (signbit(i_k) ? -inv_dib : inv_dib) * (REAL)(y == y_raw);  /* 0 when clamped */
        }
        REAL* restrict gk = g + k0;
        for (int k = 0; k < count; ++k) {
            const REAL* cf = table + cells[k];
            const REAL c0 = cf[0], cx = cf[1], cy = cf[2], cxy = cf[3], fx = fxs[k], fy = fys[k];
            const REAL upper = cy + fx * cxy;
            gk[k] = (c0 + fx * cx) + fy * upper;
            if (slopes) {
                dp[k0 + k] = (cx + fy * cxy) * sx[k];
                di[k0 + k] = upper * sy[k];
            }
        }
    }
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


/* ---- the same product through the BLAS torch links (Fortran sgemm_/dgemm_), when found ----
   OUT[rows, D] += S[rows, D] M for contiguous rows (M read like matvec_rows: M[k*ldm + d]).
   In column-major terms OUT^T = M' S^T with M' the [D, D] view of M with leading dimension
   ldm. blas_threads (MKL_Set_Num_Threads_Local, or NULL) keeps the BLAS on the calling thread. */
typedef void (*gemm_SUF_t)(const char*, const char*, const int*, const int*, const int*, const REAL*,
                           const REAL*, const int*, const REAL*, const int*, const REAL*, REAL*, const int*);

static void gemm_rows_SUF(const void* gemm, int64_t rows, int64_t D, int64_t ldm, const REAL* S,
                          const REAL* M, REAL* OUT) {
    const int m = (int)D, n = (int)rows, k = (int)D, lda = (int)ldm, ldb = (int)D, ldc = (int)D;
    const REAL one = 1;
    ((gemm_SUF_t)gemm)("N", "N", &m, &n, &k, &one, M, &lda, S, &ldb, &one, OUT, &ldc);
}

static int blas_threads_SUF(const void* fn, int n) { return fn ? ((int (*)(int))fn)(n) : 0; }

/* ---- the internal-weight steps every scan shares (state: [T+1, B, D] history) ---- */

/* With gemm: the step's flux rows b0..b1 = X_t (+ bias) + s_t JT, all rows at once, written to
   PHIout when it is kept, else to phi_all. Returns the block (row b at (b - b0)*D). */
static REAL* step_flux_gemm_SUF(const void* gemm, int64_t t, int64_t B, int64_t D, int64_t b0,
                                int64_t b1, const REAL* X, const REAL* bias, int64_t bias_sb,
                                const REAL* state, const REAL* JT, int64_t ldm, REAL* PHIout,
                                REAL* phi_all) {
    const int64_t first = (t * B + b0) * D;
    REAL* block = PHIout ? PHIout + first : phi_all;
    for (int64_t b = b0; b < b1; ++b) {
        const REAL* x_row = X + (t * B + b) * D;
        REAL* out = block + (b - b0) * D;
        if (bias) {
            const REAL* bias_row = bias + b * bias_sb;
            for (int64_t d = 0; d < D; ++d) out[d] = x_row[d] + bias_row[d];
        } else {
            for (int64_t d = 0; d < D; ++d) out[d] = x_row[d];
        }
    }
    gemm_rows_SUF(gemm, b1 - b0, D, ldm, state + first, JT, block);
    return block;
}

/* Without gemm: phis[r] becomes phis[r] + s_r JT for the nb rows of a block whose first row
   starts at state[row0] (written to PHIout when kept, else to phi_rows). */
static void internal_flux_rows_SUF(int nb, int64_t row0, int64_t D, int64_t ldm, const REAL* state,
                                   const REAL* JT, REAL* PHIout, REAL* phi_rows, const REAL** phis) {
    const REAL* S[SOEN_RB];
    REAL* OUT[SOEN_RB];
    for (int r = 0; r < nb; ++r) {
        const int64_t row = row0 + r * D;
        S[r] = state + row;
        OUT[r] = PHIout ? PHIout + row : phi_rows + r * D;
    }
    matvec_rows_SUF(nb, D, ldm, S, JT, OUT, phis);
    for (int r = 0; r < nb; ++r) phis[r] = OUT[r];
}

/* Adjoint without gemm: nxt[r] += p_r J for the nb rows of a block (p rows contiguous at P). */
static void adjoint_internal_rows_SUF(int nb, const REAL* P, int64_t D, int64_t ldm, const REAL* J,
                                      REAL* acc_rows, REAL* nxt) {
    const REAL* S[SOEN_RB];
    REAL* OUT[SOEN_RB];
    for (int r = 0; r < nb; ++r) {
        S[r] = P + r * D;
        OUT[r] = acc_rows + r * D;
    }
    matvec_rows_SUF(nb, D, ldm, S, J, OUT, 0);
    for (int64_t k = 0; k < nb * D; ++k) nxt[k] += acc_rows[k];
}

/* End of an adjoint step over `rows` rows: with gemm add P J to nxt for all of them at once, then
   nxt becomes the carried gradient lam (dL/d state_t). */
static void adjoint_finish_step_SUF(const void* gemm, int64_t rows, int64_t D, int64_t ldm,
                                    const REAL* P, const REAL* J, REAL* nxt, REAL* lam) {
    if (J && gemm) gemm_rows_SUF(gemm, rows, D, ldm, P, J, nxt);
    for (int64_t k = 0; k < rows * D; ++k) lam[k] = nxt[k];
}
"""
