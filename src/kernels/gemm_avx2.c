/*
 * gemm_avx2.c - AVX2 + FMA macro-kernel for one GEMM column strip
 * (contract in gemm_internal.h). Compiled with -mavx2 -mfma; gemm.c calls
 * it only when axle_cpu_get()->isa is at least AVX2.
 *
 * 16 ymm registers hold 12 accumulators, as a 4 x 24 or a 6 x 16 tile.
 * Deep K blocks of at least 96 rows (and strips of at most 16 columns)
 * take 6 x 16: a 48-column strip is three 16-column thirds, each B row of
 * a third is one cache line, and B is read once per 6 rows of A instead of
 * 4; on the K = 1152 .. 4608 layers of ResNet-18 that runs up to ~20 %
 * faster (bench/gemm_bench --conv, AMD EPYC AVX2). Shallow blocks (1x1
 * convolutions with K <= 192) and blocks of 64 rows keep 4 x 24, which
 * measured faster there (shorter k loops amortize the stores better, and
 * 64 rows make 16 full 4-row tiles). m == 1 streams the whole strip in one pass
 * with up to 6 accumulators. Each accumulator adds k in order, so a row
 * gets the same bits whatever m and the tile shape are (gemm_internal.h).
 * Partial vectors use vmaskmovps loads and stores. The k loop is unrolled
 * four times (one loop test and one pointer step per four k: 0-19 % on
 * the bench/gemm_bench --conv points, most on the K <= 144 1x1 layers,
 * whose loops are short).
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/gemm_internal.h"

/* Largest tile: 6 rows (of the 6 x 16 shape), 3 vectors (of 4 x 24). */
#define MR_MAX 6
#define NV_MAX 3
/* K blocks at least this deep (of at least TALL_M rows), or strips this
 * narrow, take 6 x 16. */
#define DEEP_K 256
#define NARROW_N 16
#define TALL_M 96
#define INLINE static inline __attribute__((always_inline))

struct epi {
    __m256 alpha, beta, act_a, act_b;
    float beta_s;
    __m256i tail; /* lanes < valid columns of the last vector */
    int nv;       /* vectors in this sub-strip */
    int64_t j0;   /* first column of the sub-strip */
    int64_t w;    /* its width */
};

static __m256i lane_mask(int n_valid)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n_valid), idx);
}

INLINE __m256 act_vec(const struct axle_gemm_tile *t, __m256 v,
                      const struct epi *e)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    __m256 h;

    /* Data in the second operand of max/min: NaN passes (see avx512). */
    switch (t->act) {
    case AXLE_ACT_RELU:
        return _mm256_max_ps(zero, v);
    case AXLE_ACT_LEAKY_RELU:
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, e->act_a),
                                _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    case AXLE_ACT_CLIP:
        return _mm256_min_ps(e->act_b, _mm256_max_ps(e->act_a, v));
    case AXLE_ACT_HARD_SIGMOID:
        h = _mm256_fmadd_ps(e->act_a, v, e->act_b);
        return _mm256_max_ps(zero, _mm256_min_ps(one, h));
    case AXLE_ACT_HARD_SWISH:
        h = _mm256_fmadd_ps(v, _mm256_set1_ps(1.0f / 6.0f),
                            _mm256_set1_ps(0.5f));
        h = _mm256_max_ps(zero, _mm256_min_ps(one, h));
        return _mm256_mul_ps(v, h);
    default:
        return v;
    }
}

INLINE __m256 load_vec(const float *p, int last, __m256i tail)
{
    return last ? _mm256_maskload_ps(p, tail) : _mm256_loadu_ps(p);
}

/* The accumulator of row i, vector v: 0, or the raw sum an earlier K
 * block stored in C. */
INLINE __m256 acc_init(const struct axle_gemm_tile *t, const struct epi *e,
                       int64_t i, int v, int last)
{
    if (!t->acc_in)
        return _mm256_setzero_ps();
    return load_vec(t->c + i * t->ldc + e->j0 + 8 * v, last, e->tail);
}

INLINE void store_vec(const struct axle_gemm_tile *t, const struct epi *e,
                      __m256 acc, int64_t i, int v, int last)
{
    int64_t j = e->j0 + 8 * v;
    float *cp = t->c + i * t->ldc + j;
    __m256 r;

    if (t->partial) {
        r = acc; /* raw sum for the next K block */
    } else {
        r = _mm256_mul_ps(acc, e->alpha);
        if (e->beta_s != 0.0f)
            r = _mm256_fmadd_ps(e->beta, load_vec(cp, last, e->tail), r);
        if (t->res != NULL)
            r = _mm256_add_ps(
                r, load_vec(t->res + i * t->ld_res + j, last, e->tail));
        if (t->bias != NULL) {
            if (t->bias_per_row)
                r = _mm256_add_ps(r, _mm256_set1_ps(t->bias[i]));
            else
                r = _mm256_add_ps(r, load_vec(t->bias + j, last, e->tail));
        }
        r = act_vec(t, r, e);
    }
    if (last)
        _mm256_maskstore_ps(cp, e->tail, r);
    else
        _mm256_storeu_ps(cp, r);
}

/* MASKED == 0 (the strip's width is a multiple of 8) keeps the mask out of
 * the k loop: with 12 accumulators, 3 B vectors and the broadcast, a mask
 * register would be the 17th and push one B vector back to memory (four
 * reloads per k instead of one). */
INLINE void tile_rows(const struct axle_gemm_tile *t, const struct epi *e,
                      int64_t i0, const int MR, const int NV, const int MASKED)
{
    __m256 acc[MR_MAX][NV_MAX];
    const int64_t k = t->k, ldb = t->ldb, a_rs = t->a_rs, a_cs = t->a_cs;
    const float *a = t->a + i0 * a_rs;
    const float *b = t->b + e->j0;
    const __m256i tail = e->tail;

#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            acc[i][v] = acc_init(t, e, i0 + i, v, MASKED && v == NV - 1);
#pragma GCC unroll 4
    for (int64_t kk = 0; kk < k; kk++) {
        __m256 bv[NV_MAX];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            bv[v] = load_vec(b + 8 * v, MASKED && v == NV - 1, tail);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m256 av = _mm256_broadcast_ss(a + i * a_rs + kk * a_cs);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
        }
        b += ldb;
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            store_vec(t, e, acc[i][v], i0 + i, v, MASKED && v == NV - 1);
}

INLINE void tile_row1(const struct axle_gemm_tile *t, const struct epi *e,
                      const int NV)
{
    __m256 acc[6];
    const int64_t k = t->k, ldb = t->ldb, a_cs = t->a_cs;
    const float *b = t->b;
    const __m256i tail = e->tail;

#pragma GCC unroll 6
    for (int v = 0; v < NV; v++)
        acc[v] = acc_init(t, e, 0, v, v == NV - 1);
    for (int64_t kk = 0; kk < k; kk++) {
        __m256 av = _mm256_broadcast_ss(t->a + kk * a_cs);
#pragma GCC unroll 6
        for (int v = 0; v < NV; v++)
            acc[v] = _mm256_fmadd_ps(av, load_vec(b + 8 * v, v == NV - 1, tail),
                                     acc[v]);
        b += ldb;
    }
#pragma GCC unroll 6
    for (int v = 0; v < NV; v++)
        store_vec(t, e, acc[v], 0, v, v == NV - 1);
}

#define TILE_CASE(MR, NV, MASKED)                                              \
    case MR * 4 + NV:                                                          \
        tile_rows(t, e, i0, MR, NV, MASKED);                                   \
        break;
#define ROWS_SWITCH(MASKED)                                                    \
    switch (mr * 4 + e->nv) {                                                  \
        TILE_CASE(1, 1, MASKED) TILE_CASE(1, 2, MASKED) TILE_CASE(1, 3, MASKED) \
        TILE_CASE(2, 1, MASKED) TILE_CASE(2, 2, MASKED) TILE_CASE(2, 3, MASKED) \
        TILE_CASE(3, 1, MASKED) TILE_CASE(3, 2, MASKED) TILE_CASE(3, 3, MASKED) \
        TILE_CASE(4, 1, MASKED) TILE_CASE(4, 2, MASKED) TILE_CASE(4, 3, MASKED) \
        TILE_CASE(5, 1, MASKED) TILE_CASE(5, 2, MASKED)                        \
        TILE_CASE(6, 1, MASKED) TILE_CASE(6, 2, MASKED)                        \
    default:                                                                   \
        break;                                                                 \
    }

/* One register tile: mr <= 4 rows by up to 3 vectors, or mr <= 6 rows by
 * up to 2 (never more than 12 accumulators). */
static void rows_dispatch(const struct axle_gemm_tile *t, const struct epi *e,
                          int64_t i0, int mr)
{
    if (e->w % 8 != 0) {
        ROWS_SWITCH(1)
    } else {
        ROWS_SWITCH(0)
    }
}

static void set_cols(struct epi *e, int64_t j0, int64_t w)
{
    e->j0 = j0;
    e->w = w;
    e->nv = (int)((w + 7) / 8);
    e->tail = lane_mask((int)(w - 8 * (e->nv - 1)));
}

void axle_gemm_tile_avx2(const struct axle_gemm_tile *t)
{
    struct epi e;

    e.alpha = _mm256_set1_ps(t->alpha);
    e.beta = _mm256_set1_ps(t->beta);
    e.beta_s = t->beta;
    e.act_a = _mm256_set1_ps(t->act_alpha);
    e.act_b = _mm256_set1_ps(t->act_beta);

    if (t->m == 1) {
        set_cols(&e, 0, t->n);
        switch (e.nv) {
        case 1: tile_row1(t, &e, 1); break;
        case 2: tile_row1(t, &e, 2); break;
        case 3: tile_row1(t, &e, 3); break;
        case 4: tile_row1(t, &e, 4); break;
        case 5: tile_row1(t, &e, 5); break;
        default: tile_row1(t, &e, 6); break;
        }
    } else {
        bool tall = (t->k >= DEEP_K && t->m >= TALL_M) || t->n <= NARROW_N;
        int64_t sub_w = tall ? 16 : 24, mr_max = tall ? 6 : 4;
        for (int64_t j0 = 0; j0 < t->n; j0 += sub_w) {
            int64_t i0 = 0, n_tiles = (t->m + mr_max - 1) / mr_max;
            set_cols(&e, j0, t->n - j0 < sub_w ? t->n - j0 : sub_w);
            while (i0 < t->m) {
                int mr = (int)((t->m - i0 + n_tiles - 1) / n_tiles);
                rows_dispatch(t, &e, i0, mr);
                i0 += mr;
                n_tiles--;
            }
        }
    }
    if (!t->partial && !axle_gemm_act_is_simple(t->act)) {
        for (int64_t i = 0; i < t->m; i++)
            axle_act_apply(t->act, t->act_alpha, t->act_beta,
                           t->c + i * t->ldc, (size_t)t->n);
    }
}
