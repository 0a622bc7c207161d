/*
 * gemm.c - GEMM driver: weight packing, shape/ISA dispatch, threading, and
 * the portable scalar macro-kernel (see gemm.h for the contract).
 *
 * Paths (PERF.md §1.2 items 1-3, G7/G8):
 *   - Own kernels (gemm_avx512.c, gemm_avx2.c, scalar below) for every
 *     axle_gemm_packed call: M == 1 streams the packed panels once at
 *     memory speed; small and large M walk the same panels in register
 *     tiles with the epilogue fused into the store. Packed weights are
 *     never kept in row-major form as well, so OpenBLAS cannot serve them.
 *   - axle_sgemm (both operands change every run): own kernels for
 *     M <= AXLE_GEMM_SMALL_M with B not transposed, where OpenBLAS reaches
 *     only 16-41 % of peak (bench/gemm.sh); OpenBLAS sgemv for the other
 *     M == 1 cases, and OpenBLAS sgemm for the rest, forced to one thread
 *     and split over axle's pool by row or column blocks.
 * Hand-written kernels are justified by bench/gemm.sh (STYLE.md §7).
 */
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/err.h"
#include "base/pool.h"
#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"

#define NR AXLE_GEMM_NR
/* K block for m > 8: a 256 x 48 slice of a panel (48 KiB) is reused by all
 * row tiles of an M block from L1/L2. Blocks after the first continue the
 * raw sums the previous one left in C (acc_in), so blocking does not
 * change any result (gemm_internal.h). */
#define KC 256
/* K block of axle_gemm_block (Conv): its B block is already packed and
 * L2-resident, so a deep block costs no cache misses and saves C reloads;
 * measured on ResNet-18 (Kd = 576 .. 4608): 128 < 256 < 512 < 1152, with
 * 2304 and 4608 no better. */
#define BLOCK_KC 1152
/* M block: a MC x KC slice of A (256 KiB) stays in L2 across panels. */
#define MC 256
/* Smallest amount of work (FLOPs) worth handing to another thread: a
 * futex wake costs ~1-2 us on the dev VM (PERF.md B5). */
#define PAR_MIN_FLOPS (1 << 18)

/* Weight matrices up to 16 MB (half the L3 here) get software prefetch on
 * the M == 1 path; larger ones stream from DRAM, where it costs 8-17 %. */
#define PREFETCH_MAX_FLOATS ((int64_t)4 << 20)

struct axle_packed_w {
    int64_t k, n, n_panels;
    float *data; /* panel p at data + p * k * NR, rows of panel_stride(p) */
};

typedef void (*tile_fn)(const struct axle_gemm_tile *t);

static _Atomic int g_isa_cap = AXLE_ISA_AVX512;
static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;

static void blas_init(void)
{
    /* PERF.md §1.2.6: OpenBLAS runs single-threaded inside axle's pool. */
    openblas_set_num_threads(1);
}

void axle_gemm_force_isa(enum axle_isa isa)
{
    atomic_store(&g_isa_cap, (int)isa);
}

enum axle_isa axle_gemm_isa(void)
{
    enum axle_isa hw = axle_cpu_get()->isa;
    enum axle_isa cap = (enum axle_isa)atomic_load(&g_isa_cap);

    return cap < hw ? cap : hw;
}

static tile_fn pick_tile(void)
{
    switch (axle_gemm_isa()) {
    case AXLE_ISA_AVX512:
        return axle_gemm_tile_avx512;
    case AXLE_ISA_AVX2:
        return axle_gemm_tile_avx2;
    default:
        return axle_gemm_tile_scalar;
    }
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---- portable macro-kernel ------------------------------------------- */

void axle_gemm_tile_scalar(const struct axle_gemm_tile *t)
{
    float acc[4][NR];

    for (int64_t i0 = 0; i0 < t->m; i0 += 4) {
        int64_t mr = min64(4, t->m - i0);
        memset(acc, 0, sizeof(acc));
        for (int64_t i = 0; i < mr && t->acc_in; i++)
            memcpy(acc[i], t->c + (i0 + i) * t->ldc,
                   (size_t)t->n * sizeof(float));
        for (int64_t kk = 0; kk < t->k; kk++) {
            const float *brow = t->b + kk * t->ldb;
            for (int64_t i = 0; i < mr; i++) {
                float av = t->a[(i0 + i) * t->a_rs + kk * t->a_cs];
                for (int64_t j = 0; j < t->n; j++)
                    acc[i][j] += av * brow[j];
            }
        }
        for (int64_t i = 0; i < mr; i++) {
            float *crow = t->c + (i0 + i) * t->ldc;
            if (t->partial) {
                memcpy(crow, acc[i], (size_t)t->n * sizeof(float));
                continue;
            }
            for (int64_t j = 0; j < t->n; j++) {
                float r = t->alpha * acc[i][j];
                if (t->beta != 0.0f)
                    r += t->beta * crow[j];
                if (t->res != NULL)
                    r += t->res[(i0 + i) * t->ld_res + j];
                if (t->bias != NULL)
                    r += t->bias_per_row ? t->bias[i0 + i] : t->bias[j];
                crow[j] = r;
            }
            axle_act_apply(t->act, t->act_alpha, t->act_beta, crow,
                           (size_t)t->n);
        }
    }
}

/* ---- shared helpers --------------------------------------------------- */

/* Bias + activation over an m x n block whose first element is (row0, col0)
 * of the whole C (for the OpenBLAS and K == 0 paths). */
static void epilogue_block(float *c, int64_t ldc, int64_t m, int64_t n,
                           int64_t row0, int64_t col0,
                           const struct axle_epilogue *ep)
{
    if (ep == NULL || (ep->bias == NULL && ep->act == AXLE_ACT_NONE))
        return;
    for (int64_t i = 0; i < m; i++) {
        float *crow = c + i * ldc;
        if (ep->bias != NULL) {
            if (ep->bias_per_row) {
                float bv = ep->bias[row0 + i];
                for (int64_t j = 0; j < n; j++)
                    crow[j] += bv;
            } else {
                const float *bias = ep->bias + col0;
                for (int64_t j = 0; j < n; j++)
                    crow[j] += bias[j];
            }
        }
        axle_act_apply(ep->act, ep->alpha, ep->beta, crow, (size_t)n);
    }
}

/* C = beta * C (+ epilogue): the product is empty (K == 0 or alpha == 0). */
static void scale_only(int64_t M, int64_t N, float beta, float *C,
                       int64_t ldc, const struct axle_epilogue *ep)
{
    for (int64_t i = 0; i < M; i++) {
        float *crow = C + i * ldc;
        for (int64_t j = 0; j < N; j++)
            crow[j] = beta == 0.0f ? 0.0f : beta * crow[j];
    }
    epilogue_block(C, ldc, M, N, 0, 0, ep);
}

/* ---- own-kernel driver ------------------------------------------------ */

struct strip_job {
    int64_t m, n, k;
    const float *a;
    int64_t a_rs, a_cs;
    const struct axle_packed_w *pw; /* packed B, or NULL: row-major b */
    const float *b;
    int64_t ldb;
    float *c;
    int64_t ldc;
    float alpha, beta;
    const struct axle_epilogue *ep;
    tile_fn tile;
    int64_t kc, mc;
    int64_t n_panels;
    bool split_m; /* parallel items: 8-row units, else panels */
};

static int64_t panel_stride(const struct axle_packed_w *pw, int64_t p)
{
    int64_t w = pw->n - p * NR;

    return w >= NR ? NR : (w + 15) & ~(int64_t)15;
}

/* B of panel (strip) p from K row kb on, and its row stride. */
static const float *strip_b(const struct strip_job *j, int64_t p, int64_t kb,
                            int64_t *ldb)
{
    if (j->pw != NULL) {
        *ldb = panel_stride(j->pw, p);
        return j->pw->data + p * j->pw->k * NR + kb * *ldb;
    }
    *ldb = j->ldb;
    return j->b + kb * j->ldb + p * NR;
}

static void run_block(const struct strip_job *j, int64_t m0, int64_t m1,
                      int64_t p0, int64_t p1)
{
    struct axle_gemm_tile t = {0};
    const struct axle_epilogue *ep = j->ep;

    /* beta * C is applied after the last K block, so callers with
     * beta != 0 (axle_sgemm) do not block K: kc == k. */
    t.a_rs = j->a_rs;
    t.a_cs = j->a_cs;
    t.ldc = j->ldc;
    t.alpha = j->alpha;
    t.beta = j->beta;
    t.prefetch = j->k * j->n <= PREFETCH_MAX_FLOATS;
    t.act = ep ? ep->act : AXLE_ACT_NONE;
    t.act_alpha = ep ? ep->alpha : 0.0f;
    t.act_beta = ep ? ep->beta : 0.0f;
    t.bias_per_row = ep ? ep->bias_per_row : false;
    for (int64_t mb = m0; mb < m1; mb += j->mc) {
        t.m = min64(j->mc, m1 - mb);
        for (int64_t kb = 0; kb < j->k; kb += j->kc) {
            t.k = min64(j->kc, j->k - kb);
            t.a = j->a + mb * j->a_rs + kb * j->a_cs;
            t.acc_in = kb > 0;
            t.partial = kb + j->kc < j->k;
            for (int64_t p = p0; p < p1; p++) {
                int64_t col0 = p * NR;
                t.n = min64(NR, j->n - col0);
                t.b = strip_b(j, p, kb, &t.ldb);
                t.b2 = NULL;
                t.ldb2 = 0;
                if (t.m == 1 && j->tile == axle_gemm_tile_avx512 &&
                    p + 1 < p1) {
                    /* Two strips per call (gemm_internal.h). */
                    t.b2 = strip_b(j, p + 1, kb, &t.ldb2);
                    t.n = min64(2 * NR, j->n - col0);
                    p++;
                }
                t.c = j->c + mb * j->ldc + col0;
                t.res = NULL;
                t.ld_res = 0;
                t.bias = NULL;
                if (!t.partial && ep != NULL && ep->residual != NULL) {
                    t.res = ep->residual + mb * ep->ld_residual + col0;
                    t.ld_res = ep->ld_residual;
                }
                if (!t.partial && ep != NULL && ep->bias != NULL)
                    t.bias = ep->bias + (ep->bias_per_row ? mb : col0);
                j->tile(&t);
            }
        }
    }
}

static void strip_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct strip_job *j = ctx;

    (void)tid;
    if (j->split_m)
        run_block(j, begin * 8, min64(end * 8, j->m), 0, j->n_panels);
    else
        run_block(j, 0, j->m, begin, end);
}

static void run_strips(struct axle_pool *pool, struct strip_job *j)
{
    int n_threads = axle_pool_size(pool);
    double flops = 2.0 * (double)j->m * (double)j->n * (double)j->k;
    int64_t n_units, grain;

    j->n_panels = (j->n + NR - 1) / NR;
    if (n_threads <= 1 || flops < 2.0 * PAR_MIN_FLOPS) {
        run_block(j, 0, j->m, 0, j->n_panels);
        return;
    }
    /* Split columns (each thread streams its own weights) unless there
     * are too few panels to go round and enough rows instead. */
    j->split_m = j->n_panels < 2 * n_threads && j->m >= 16 * n_threads;
    n_units = j->split_m ? (j->m + 7) / 8 : j->n_panels;
    grain = (int64_t)(PAR_MIN_FLOPS / (flops / (double)n_units)) + 1;
    axle_pool_parallel_for(pool, n_units, grain, strip_task, j);
}

/* ---- OpenBLAS path ---------------------------------------------------- */

struct blas_job {
    bool ta, tb, split_m;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    int64_t lda, ldb, ldc;
    float *C;
    const struct axle_epilogue *ep;
};

static void blas_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct blas_job *j = ctx;
    int64_t m0 = 0, m1 = j->M, n0 = 0, n1 = j->N;
    const float *A = j->A, *B = j->B;

    (void)tid;
    if (j->split_m) {
        m0 = begin * 16;
        m1 = min64(end * 16, j->M);
        A += j->ta ? m0 : m0 * j->lda;
    } else {
        n0 = begin * 16;
        n1 = min64(end * 16, j->N);
        B += j->tb ? n0 * j->ldb : n0;
    }
    cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans,
                j->tb ? CblasTrans : CblasNoTrans, (blasint)(m1 - m0),
                (blasint)(n1 - n0), (blasint)j->K, j->alpha, A,
                (blasint)j->lda, B, (blasint)j->ldb, j->beta,
                j->C + m0 * j->ldc + n0, (blasint)j->ldc);
    epilogue_block(j->C + m0 * j->ldc + n0, j->ldc, m1 - m0, n1 - n0, m0, n0,
                   j->ep);
}

static void blas_gemm(struct axle_pool *pool, struct blas_job *j)
{
    double flops = 2.0 * (double)j->M * (double)j->N * (double)j->K;
    int n_threads = axle_pool_size(pool);
    int64_t n_units, grain;

    j->split_m = j->M >= j->N;
    n_units = ((j->split_m ? j->M : j->N) + 15) / 16;
    if (n_threads <= 1 || flops < 2.0 * PAR_MIN_FLOPS) {
        blas_task(j, 0, n_units, 0);
        return;
    }
    grain = (int64_t)(PAR_MIN_FLOPS / (flops / (double)n_units)) + 1;
    axle_pool_parallel_for(pool, n_units, grain, blas_task, j);
}

/* ---- public entry points ---------------------------------------------- */

void axle_sgemm(struct axle_pool *pool, bool trans_a, bool trans_b, int64_t M,
                int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                const struct axle_epilogue *ep)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0.0f) {
        scale_only(M, N, beta, C, ldc, ep);
        return;
    }
    pthread_once(&g_blas_once, blas_init);
    if (!trans_b && M <= AXLE_GEMM_SMALL_M) {
        struct strip_job j = {
            .m = M, .n = N, .k = K, .a = A,
            .a_rs = trans_a ? 1 : lda, .a_cs = trans_a ? lda : 1,
            .b = B, .ldb = ldb, .c = C, .ldc = ldc,
            .alpha = alpha, .beta = beta, .ep = ep, .tile = pick_tile(),
            .kc = K, .mc = M,
        };
        run_strips(pool, &j);
        return;
    }
    if (M == 1) {
        /* y = alpha * B' a + beta * y with B' = B stored as [N, K]. */
        if (beta == 0.0f)
            memset(C, 0, (size_t)N * sizeof(float));
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)N, (blasint)K,
                    alpha, B, (blasint)ldb, A, trans_a ? (blasint)lda : 1,
                    beta, C, 1);
        epilogue_block(C, ldc, 1, N, 0, 0, ep);
        return;
    }
    struct blas_job j = {
        .ta = trans_a, .tb = trans_b, .M = M, .N = N, .K = K,
        .alpha = alpha, .beta = beta, .A = A, .B = B,
        .lda = lda, .ldb = ldb, .ldc = ldc, .C = C, .ep = ep,
    };
    blas_gemm(pool, &j);
}

enum axle_status axle_gemm_pack(bool trans, int64_t K, int64_t N,
                                const float *W, int64_t ldw,
                                struct axle_packed_w **out,
                                struct axle_err *err)
{
    struct axle_packed_w *pw;
    size_t n_floats = 0, bytes;
    int64_t n_panels;

    *out = NULL;
    if (K < 0 || N < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "gemm pack: negative shape [%lld, %lld]",
                            (long long)K, (long long)N);
    if (K > 0 && N > 0 && (W == NULL || ldw < (trans ? K : N)))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "gemm pack: leading dimension %lld < %lld",
                            (long long)ldw, (long long)(trans ? K : N));
    n_panels = (N + NR - 1) / NR;
    pw = axle_try_calloc(1, sizeof(*pw));
    if (pw == NULL)
        goto oom;
    pw->k = K;
    pw->n = N;
    pw->n_panels = n_panels;
    if (K == 0 || N == 0) {
        *out = pw;
        return AXLE_OK;
    }
    /* Full panels, then the last one padded only to a multiple of 16. */
    if (axle_size_mul((size_t)(n_panels - 1), (size_t)K * NR, &n_floats) ||
        axle_size_add(n_floats,
                      (size_t)K * (size_t)panel_stride(pw, n_panels - 1),
                      &n_floats) ||
        axle_size_mul(n_floats, sizeof(float), &bytes))
        goto oom;
    pw->data = axle_try_aligned(bytes);
    if (pw->data == NULL)
        goto oom;
    for (int64_t p = 0; p < n_panels; p++) {
        int64_t s = panel_stride(pw, p), col0 = p * NR;
        int64_t w = min64(NR, N - col0);
        float *dst = pw->data + p * K * NR;
        for (int64_t kk = 0; kk < K; kk++) {
            float *row = dst + kk * s;
            for (int64_t jj = 0; jj < w; jj++)
                row[jj] = trans ? W[(col0 + jj) * ldw + kk]
                                : W[kk * ldw + col0 + jj];
            for (int64_t jj = w; jj < s; jj++)
                row[jj] = 0.0f;
        }
    }
    *out = pw;
    return AXLE_OK;
oom:
    axle_free(pw);
    return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                        "gemm pack: cannot allocate [%lld, %lld] weights",
                        (long long)K, (long long)N);
}

void axle_gemm_packed_free(struct axle_packed_w *pw)
{
    if (pw == NULL)
        return;
    axle_free(pw->data);
    axle_free(pw);
}

int64_t axle_gemm_packed_k(const struct axle_packed_w *pw)
{
    return pw->k;
}

int64_t axle_gemm_packed_n(const struct axle_packed_w *pw)
{
    return pw->n;
}

_Static_assert(AXLE_GEMM_PANEL == NR, "gemm.h panel width");

void axle_gemm_block(int64_t M, int64_t N, int64_t K, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float *C,
                     int64_t ldc, const struct axle_epilogue *ep)
{
    axle_gemm_block_strided(M, N, K, A, lda, 1, B, ldb, C, ldc, ep);
}

void axle_gemm_block_strided(int64_t M, int64_t N, int64_t K, const float *A,
                             int64_t a_rs, int64_t a_cs, const float *B,
                             int64_t ldb, float *C, int64_t ldc,
                             const struct axle_epilogue *ep)
{
    struct axle_packed_w pw = {.k = K, .n = N, .data = (float *)B};

    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        for (int64_t i = 0; ep != NULL && ep->residual != NULL && i < M; i++)
            memcpy(C + i * ldc, ep->residual + i * ep->ld_residual,
                   (size_t)N * sizeof(float));
        scale_only(M, N, ep != NULL && ep->residual != NULL ? 1.0f : 0.0f, C,
                   ldc, ep);
        return;
    }
    pw.n_panels = (N + NR - 1) / NR;
    struct strip_job j = {
        .m = M, .n = N, .k = K, .a = A, .a_rs = a_rs, .a_cs = a_cs,
        .pw = ldb == 0 ? &pw : NULL, .b = B, .ldb = ldb, .c = C,
        .ldc = ldc, .alpha = 1.0f, .beta = 0.0f, .ep = ep,
        .tile = pick_tile(), .kc = M <= 8 ? K : BLOCK_KC, .mc = MC,
        .n_panels = pw.n_panels,
    };
    run_block(&j, 0, M, 0, j.n_panels);
}

void axle_gemm_packed(struct axle_pool *pool, int64_t M, const float *A,
                      int64_t lda, const struct axle_packed_w *pw, float *C,
                      int64_t ldc, const struct axle_epilogue *ep)
{
    if (M <= 0 || pw->n == 0)
        return;
    if (pw->k == 0) {
        scale_only(M, pw->n, 0.0f, C, ldc, ep);
        return;
    }
    struct strip_job j = {
        .m = M, .n = pw->n, .k = pw->k, .a = A, .a_rs = lda, .a_cs = 1,
        .pw = pw, .c = C, .ldc = ldc, .alpha = 1.0f, .beta = 0.0f,
        .ep = ep, .tile = pick_tile(),
        .kc = M <= 8 ? pw->k : KC, .mc = MC,
    };
    run_strips(pool, &j);
}
