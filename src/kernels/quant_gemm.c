/*
 * quant_gemm.c - the 8-bit integer GEMM behind QLinearMatMul,
 * MatMulInteger, QLinearConv and ConvInteger (layout and zero-point
 * algebra in quant.h): operand packing, the cache blocking, the portable
 * micro-kernel, the zero-point / bias / requantization epilogue and the
 * threaded driver. The AVX2 micro-kernel (quant_gemm_avx2.c) is chosen at
 * run time from base/cpu.h; both compute the same exact integers.
 *
 * Blocking: a block call walks K in slices of QKC so that one panel slice
 * (QKC x 24 int16, 12 KB) stays in L1 while the kernel streams the block's
 * A rows over it; the raw sums of the block live in a small int32 buffer that the
 * epilogue turns into the output rows while they are cache-hot.
 */
#include <stdatomic.h>
#include <string.h>

#include "base/cpu.h"
#include "base/pool.h"
#include "kernels/quant.h"

#define NR AXLE_QGEMM_NR
#define QKC 256 /* k per slice (even) */
#define QMC 64  /* rows per block in the threaded driver */
#define QNC 8   /* panels per block in the threaded driver */

static atomic_bool force_scalar;

void axle_qgemm_force_scalar(bool on)
{
    atomic_store(&force_scalar, on);
}

/* ---- packing -------------------------------------------------------------- */

void axle_qgemm_pack_a(const void *a, int64_t lda, int64_t rows, int64_t K,
                       bool a_signed, int16_t *dst, int32_t *rowsum)
{
    int64_t ld = axle_qgemm_a_stride(K);

    for (int64_t i = 0; i < rows; i++) {
        int16_t *d = dst + i * ld;
        int32_t s = 0;
        if (a_signed) {
            const int8_t *r = (const int8_t *)a + i * lda;
            for (int64_t kk = 0; kk < K; kk++) {
                d[kk] = r[kk];
                s += r[kk];
            }
        } else {
            const uint8_t *r = (const uint8_t *)a + i * lda;
            for (int64_t kk = 0; kk < K; kk++) {
                d[kk] = r[kk];
                s += r[kk];
            }
        }
        for (int64_t kk = K; kk < ld; kk++)
            d[kk] = 0;
        if (rowsum != NULL)
            rowsum[i] = s;
    }
}

void axle_qgemm_pack_b(const void *b, int64_t ldb, int64_t K, int64_t N,
                       bool b_signed, uint8_t *dst, int32_t *colsum)
{
    const uint8_t *src = b;
    int64_t pb = axle_qgemm_panel_bytes(K), kp = (K + 1) / 2;
    int64_t np = (N + NR - 1) / NR;

    for (int64_t p = 0; p < np; p++) {
        int64_t j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
        int16_t *d = (int16_t *)(dst + p * pb);
        for (int64_t q = 0; q < kp; q++) {
            const uint8_t *r0 = src + 2 * q * ldb + j0;
            const uint8_t *r1 = 2 * q + 1 < K ? r0 + ldb : NULL;
            int16_t *dq = d + q * NR * 2;
            if (b_signed && r1 != NULL)
                for (int64_t j = 0; j < w; j++) {
                    dq[2 * j] = (int8_t)r0[j];
                    dq[2 * j + 1] = (int8_t)r1[j];
                }
            else if (r1 != NULL)
                for (int64_t j = 0; j < w; j++) {
                    dq[2 * j] = r0[j];
                    dq[2 * j + 1] = r1[j];
                }
            else
                for (int64_t j = 0; j < w; j++) {
                    dq[2 * j] = b_signed ? (int8_t)r0[j] : r0[j];
                    dq[2 * j + 1] = 0;
                }
            memset(dq + 2 * w, 0, (size_t)(NR - w) * 2 * sizeof(int16_t));
        }
    }
    if (colsum == NULL)
        return;
    for (int64_t j = 0; j < N; j++)
        colsum[j] = 0;
    for (int64_t kk = 0; kk < K; kk++) {
        if (b_signed) {
            const int8_t *r = (const int8_t *)b + kk * ldb;
            for (int64_t j = 0; j < N; j++)
                colsum[j] += r[j];
        } else {
            const uint8_t *r = src + kk * ldb;
            for (int64_t j = 0; j < N; j++)
                colsum[j] += r[j];
        }
    }
}

void axle_qgemm_pack_b8(const void *b, int64_t ldb, int64_t K, int64_t N,
                        uint8_t *dst)
{
    const uint8_t *src = b;
    int64_t kp = (K + 1) / 2, np = (N + NR - 1) / NR;

    for (int64_t p = 0; p < np; p++) {
        int64_t j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
        uint8_t *d = dst + p * kp * NR * 2;
        for (int64_t q = 0; q < kp; q++) {
            const uint8_t *r0 = src + 2 * q * ldb + j0;
            uint8_t *dq = d + q * NR * 2;
            if (2 * q + 1 < K)
                for (int64_t j = 0; j < w; j++) {
                    dq[2 * j] = r0[j];
                    dq[2 * j + 1] = r0[ldb + j];
                }
            else
                for (int64_t j = 0; j < w; j++) {
                    dq[2 * j] = r0[j];
                    dq[2 * j + 1] = 0;
                }
            memset(dq + 2 * w, 0, (size_t)(NR - w) * 2);
        }
    }
}

/* ---- portable kernel ------------------------------------------------------ */

void axle_qgemm_tile_scalar(const struct axle_qgemm_tile *t)
{
    for (int64_t i = 0; i < t->m; i++) {
        const int16_t *ar = t->a + i * t->lda;
        uint32_t acc[NR];
        int32_t *c = t->c + i * t->ldc;
        for (int j = 0; j < NR; j++)
            acc[j] = t->acc_in ? (uint32_t)c[j] : 0;
        for (int64_t p = 0; p < t->kp; p++) {
            int32_t a0 = ar[2 * p], a1 = ar[2 * p + 1];
            const int16_t *bb = t->b + p * NR * 2;
            for (int j = 0; j < NR; j++)
                acc[j] += (uint32_t)(a0 * bb[2 * j] + a1 * bb[2 * j + 1]);
        }
        for (int j = 0; j < NR; j++)
            c[j] = (int32_t)acc[j];
    }
}

void axle_qgemv_tile_scalar(const int16_t *a, const uint8_t *b, int64_t kp,
                            bool b_signed, int32_t *c)
{
    uint32_t acc[NR] = {0};

    for (int64_t p = 0; p < kp; p++) {
        int32_t a0 = a[2 * p], a1 = a[2 * p + 1];
        const uint8_t *bb = b + p * NR * 2;
        if (b_signed) {
            const int8_t *sb = (const int8_t *)bb;
            for (int j = 0; j < NR; j++)
                acc[j] += (uint32_t)(a0 * sb[2 * j] + a1 * sb[2 * j + 1]);
        } else {
            for (int j = 0; j < NR; j++)
                acc[j] += (uint32_t)(a0 * bb[2 * j] + a1 * bb[2 * j + 1]);
        }
    }
    for (int j = 0; j < NR; j++)
        c[j] = (int32_t)acc[j];
}

/* ---- epilogue ------------------------------------------------------------- */

static void requant_row(const int32_t *c, int64_t n, float rm,
                        const float *cm, int32_t zy, enum axle_dtype dt,
                        void *y)
{
    int32_t lo, hi;
    float flo, fhi;

    axle_quant_bounds(dt, &lo, &hi);
    flo = (float)(lo - zy);
    fhi = (float)(hi - zy);
    /* One loop per case so that each vectorizes. */
#define RQ_LOOP(T, M)                                                      \
    do {                                                                   \
        T *d = y;                                                          \
        for (int64_t j = 0; j < n; j++) {                                  \
            float f = (float)c[j] * (M);                                   \
            f = f == f ? f : 0.0f;                                         \
            f = f < flo ? flo : f;                                         \
            f = f > fhi ? fhi : f;                                         \
            d[j] = (T)((int32_t)axle_quant_rint(f) + zy);                  \
        }                                                                  \
    } while (0)
    if (dt == AXLE_DTYPE_UINT8 && cm == NULL)
        RQ_LOOP(uint8_t, rm);
    else if (dt == AXLE_DTYPE_UINT8)
        RQ_LOOP(uint8_t, rm * cm[j]);
    else if (cm == NULL)
        RQ_LOOP(int8_t, rm);
    else
        RQ_LOOP(int8_t, rm * cm[j]);
#undef RQ_LOOP
}

void axle_qgemm_epilogue(int64_t m, int64_t n, int32_t *cbuf, int64_t ldc,
                         const struct axle_qgemm_epi *e)
{
    size_t esz = e->y_dtype == AXLE_DTYPE_INT32 ? 4 : 1;
    bool b_zp = e->zb_col != NULL || e->zb != 0;

    for (int64_t i = 0; i < m; i++) {
        uint32_t *r = (uint32_t *)(cbuf + i * ldc);
        uint32_t za = (uint32_t)(e->za_row != NULL ? e->za_row[i] : e->za);
        uint32_t R = 0, rc;
        if (b_zp)
            R = (uint32_t)e->rowsum[i] - (uint32_t)e->K * za;
        rc = e->bias_row != NULL ? (uint32_t)e->bias_row[i] : 0;
        if (e->zb_col != NULL) {
            for (int64_t j = 0; j < n; j++)
                r[j] -= (uint32_t)e->zb_col[j] * R;
        } else {
            rc -= (uint32_t)e->zb * R;
        }
        if (za != 0)
            for (int64_t j = 0; j < n; j++)
                r[j] -= za * (uint32_t)e->colsum[j];
        if (e->bias_col != NULL)
            for (int64_t j = 0; j < n; j++)
                r[j] += (uint32_t)e->bias_col[j];
        if (rc != 0)
            for (int64_t j = 0; j < n; j++)
                r[j] += rc;
        {
            char *yrow = (char *)e->y + (size_t)(i * e->ldy) * esz;
            if (e->y_dtype == AXLE_DTYPE_INT32) {
                memcpy(yrow, r, (size_t)n * 4);
            } else {
                float rm = e->mult_row != NULL ? e->mult_row[i] : e->mult;
                int32_t zy = e->yzp_row != NULL ? e->yzp_row[i] : e->yzp;
                requant_row((const int32_t *)r, n, rm, e->mult_col, zy,
                            e->y_dtype, yrow);
            }
        }
    }
}

/* ---- blocking and driver -------------------------------------------------- */

void axle_qgemm_block(int64_t m, int64_t n, int64_t K, const int16_t *a,
                      int64_t lda, const uint8_t *bp,
                      const struct axle_qgemm_epi *e, int32_t *cbuf)
{
    int64_t np = (n + NR - 1) / NR, ldc = np * NR;
    int64_t kp = (K + 1) / 2, pb = axle_qgemm_panel_bytes(K);
    void (*tile)(const struct axle_qgemm_tile *) = axle_qgemm_tile_scalar;

    if (m <= 0 || n <= 0)
        return;
    if (axle_cpu_get()->isa >= AXLE_ISA_AVX2 && !atomic_load(&force_scalar))
        tile = axle_qgemm_tile_avx2;
    if (kp == 0)
        memset(cbuf, 0, (size_t)(m * ldc) * sizeof(int32_t));
    for (int64_t k0 = 0; k0 < kp; k0 += QKC / 2) {
        int64_t kn = kp - k0 < QKC / 2 ? kp - k0 : QKC / 2;
        for (int64_t p = 0; p < np; p++) {
            struct axle_qgemm_tile t = {
                .m = m, .kp = kn, .a = a + 2 * k0, .lda = lda,
                .b = (const int16_t *)(bp + p * pb) + k0 * NR * 2,
                .c = cbuf + p * NR, .ldc = ldc, .acc_in = k0 > 0,
            };
            tile(&t);
        }
    }
    axle_qgemm_epilogue(m, n, cbuf, ldc, e);
}

struct run_job {
    int64_t M, N, K, lda, mc, nc, n_mb, per_thread;
    const int16_t *a;
    const uint8_t *bp;
    const struct axle_qgemm_epi *e;
    int32_t *scratch;
};

static const int32_t *off_i(const int32_t *p, int64_t o)
{
    return p != NULL ? p + o : NULL;
}

static const float *off_f(const float *p, int64_t o)
{
    return p != NULL ? p + o : NULL;
}

static void run_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct run_job *j = ctx;
    const struct axle_qgemm_epi *e = j->e;
    size_t esz = e->y_dtype == AXLE_DTYPE_INT32 ? 4 : 1;
    int32_t *cbuf = j->scratch + tid * j->per_thread;

    for (int64_t it = begin; it < end; it++) {
        int64_t mb = it % j->n_mb, nb = it / j->n_mb;
        int64_t i0 = mb * j->mc, j0 = nb * j->nc;
        int64_t m = j->M - i0 < j->mc ? j->M - i0 : j->mc;
        int64_t n = j->N - j0 < j->nc ? j->N - j0 : j->nc;
        struct axle_qgemm_epi be = *e;
        be.za_row = off_i(e->za_row, i0);
        be.rowsum = off_i(e->rowsum, i0);
        be.bias_row = off_i(e->bias_row, i0);
        be.mult_row = off_f(e->mult_row, i0);
        be.yzp_row = off_i(e->yzp_row, i0);
        be.zb_col = off_i(e->zb_col, j0);
        be.colsum = off_i(e->colsum, j0);
        be.bias_col = off_i(e->bias_col, j0);
        be.mult_col = off_f(e->mult_col, j0);
        be.y = (char *)e->y + (size_t)(i0 * e->ldy + j0) * esz;
        axle_qgemm_block(m, n, j->K, j->a + i0 * j->lda, j->lda,
                         j->bp + j0 / NR * axle_qgemm_panel_bytes(j->K), &be,
                         cbuf);
    }
}

static void plan(int64_t M, int64_t N, int n_threads, int64_t *mc,
                 int64_t *nc)
{
    int64_t np = (N + NR - 1) / NR, n_mb, want, npb;

    *mc = M < QMC ? M : QMC;
    if (*mc < 1)
        *mc = 1;
    n_mb = (M + *mc - 1) / *mc;
    want = (2 * (int64_t)n_threads + n_mb - 1) / n_mb;
    npb = QNC;
    if (n_threads > 1 && want > 1 && (np + npb - 1) / npb < want) {
        npb = (np + want - 1) / want;
        if (npb < 1)
            npb = 1;
    }
    *nc = npb * NR;
}

int64_t axle_qgemm_scratch(int64_t M, int64_t N, int n_threads)
{
    int64_t mc, nc;
    plan(M, N, n_threads, &mc, &nc);
    return axle_qgemm_block_c(mc, nc) * (n_threads < 1 ? 1 : n_threads);
}

void axle_qgemm_run(struct axle_pool *pool, int n_threads, int64_t M,
                    int64_t N, int64_t K, const int16_t *a, int64_t lda,
                    const uint8_t *bp, const struct axle_qgemm_epi *e,
                    int32_t *scratch)
{
    struct run_job j = {
        .M = M, .N = N, .K = K, .lda = lda, .a = a, .bp = bp, .e = e,
        .scratch = scratch,
    };
    int64_t n_items;

    if (M <= 0 || N <= 0)
        return;
    plan(M, N, n_threads, &j.mc, &j.nc);
    j.per_thread = axle_qgemm_block_c(j.mc, j.nc);
    j.n_mb = (M + j.mc - 1) / j.mc;
    n_items = j.n_mb * ((N + j.nc - 1) / j.nc);
    axle_pool_parallel_for(n_threads > 1 ? pool : NULL, n_items, 1, run_task,
                           &j);
}

struct gemv_job {
    int64_t N, K, nc;
    const int16_t *a;
    const uint8_t *b8;
    bool b_signed;
    const struct axle_qgemm_epi *e;
    int32_t *scratch;
};

static void gemv_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct gemv_job *j = ctx;
    const struct axle_qgemm_epi *e = j->e;
    size_t esz = e->y_dtype == AXLE_DTYPE_INT32 ? 4 : 1;
    int32_t *cbuf = j->scratch + tid * j->nc;
    int64_t kp = (j->K + 1) / 2, pb = kp * NR * 2;
    void (*tile)(const int16_t *, const uint8_t *, int64_t, bool, int32_t *) =
        axle_qgemv_tile_scalar;

    if (axle_cpu_get()->isa >= AXLE_ISA_AVX2 && !atomic_load(&force_scalar))
        tile = axle_qgemv_tile_avx2;
    for (int64_t it = begin; it < end; it++) {
        int64_t j0 = it * j->nc;
        int64_t n = j->N - j0 < j->nc ? j->N - j0 : j->nc;
        struct axle_qgemm_epi be = *e;
        for (int64_t p = 0; p * NR < n; p++)
            tile(j->a, j->b8 + (j0 / NR + p) * pb, kp, j->b_signed,
                 cbuf + p * NR);
        be.zb_col = off_i(e->zb_col, j0);
        be.colsum = off_i(e->colsum, j0);
        be.bias_col = off_i(e->bias_col, j0);
        be.mult_col = off_f(e->mult_col, j0);
        be.y = (char *)e->y + (size_t)j0 * esz;
        axle_qgemm_epilogue(1, n, cbuf, j->nc, &be);
    }
}

void axle_qgemv_run(struct axle_pool *pool, int n_threads, int64_t N,
                    int64_t K, const int16_t *a, const uint8_t *b8,
                    bool b_signed, const struct axle_qgemm_epi *e,
                    int32_t *scratch)
{
    struct gemv_job j = {
        .N = N, .K = K, .a = a, .b8 = b8, .b_signed = b_signed, .e = e,
        .scratch = scratch,
    };
    int64_t mc;

    if (N <= 0)
        return;
    plan(1, N, n_threads, &mc, &j.nc);
    axle_pool_parallel_for(n_threads > 1 ? pool : NULL, (N + j.nc - 1) / j.nc,
                           1, gemv_task, &j);
}
