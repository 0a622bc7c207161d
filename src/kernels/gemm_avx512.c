/*
 * gemm_avx512.c - AVX-512 macro-kernel for one GEMM column strip
 * (contract in gemm_internal.h). Compiled with -mavx512f/bw/dq/vl -mfma;
 * gemm.c calls it only when axle_cpu_get()->isa says AVX-512 is usable.
 *
 * Register tile: up to 8 rows x 3 zmm (48 columns) = 24 accumulators, B
 * rows loaded once per k and A broadcast from memory, so each k costs
 * 3 + MR loads for 3 * MR FMAs. m == 1 (batch-1 layers) has its own loop,
 * a pure weight stream over one or two strips. Both keep one accumulator
 * per output vector and add k in order, so a row gets the same bits
 * whatever m is (see gemm_internal.h); for m == 1 the driver passes two
 * strips, six independent chains, to keep enough loads in flight.
 * The last vector of a strip narrower than 48 columns uses masked loads
 * and stores, so the same code serves packed panels and row-major B.
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/gemm_internal.h"

#define MR_MAX 8
#define INLINE static inline __attribute__((always_inline))

struct epi {
    __m512 alpha, beta, act_a, act_b;
    float beta_s;
    __mmask16 tail;
    int nv;
};

INLINE __m512 act_vec(const struct axle_gemm_tile *t, __m512 v,
                      const struct epi *e)
{
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    __m512 h;

    /* maxps/minps return the second operand when either is NaN: putting
     * the data second lets NaN through, as axle_act_apply does. */
    switch (t->act) {
    case AXLE_ACT_RELU:
        return _mm512_max_ps(zero, v);
    case AXLE_ACT_LEAKY_RELU:
        return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ),
                                  v, e->act_a);
    case AXLE_ACT_CLIP:
        return _mm512_min_ps(e->act_b, _mm512_max_ps(e->act_a, v));
    case AXLE_ACT_HARD_SIGMOID:
        h = _mm512_fmadd_ps(e->act_a, v, e->act_b);
        return _mm512_max_ps(zero, _mm512_min_ps(one, h));
    case AXLE_ACT_HARD_SWISH:
        h = _mm512_fmadd_ps(v, _mm512_set1_ps(1.0f / 6.0f),
                            _mm512_set1_ps(0.5f));
        h = _mm512_max_ps(zero, _mm512_min_ps(one, h));
        return _mm512_mul_ps(v, h);
    default:
        return v;
    }
}

/* The accumulator of row i, vector v: 0, or the raw sum an earlier K
 * block stored in C. */
INLINE __m512 acc_init(const struct axle_gemm_tile *t, int64_t i, int v,
                       __mmask16 m)
{
    if (!t->acc_in)
        return _mm512_setzero_ps();
    return _mm512_maskz_loadu_ps(m, t->c + i * t->ldc + 16 * v);
}

INLINE void store_vec(const struct axle_gemm_tile *t, const struct epi *e,
                      __m512 acc, int64_t i, int v, __mmask16 m)
{
    float *cp = t->c + i * t->ldc + 16 * v;
    __m512 r;

    if (t->partial) {
        _mm512_mask_storeu_ps(cp, m, acc);
        return;
    }
    r = _mm512_mul_ps(acc, e->alpha);
    if (e->beta_s != 0.0f)
        r = _mm512_fmadd_ps(e->beta, _mm512_maskz_loadu_ps(m, cp), r);
    if (t->res != NULL)
        r = _mm512_add_ps(
            r, _mm512_maskz_loadu_ps(m, t->res + i * t->ld_res + 16 * v));
    if (t->bias != NULL) {
        if (t->bias_per_row)
            r = _mm512_add_ps(r, _mm512_set1_ps(t->bias[i]));
        else
            r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, t->bias + 16 * v));
    }
    r = act_vec(t, r, e);
    _mm512_mask_storeu_ps(cp, m, r);
}

/* Rows [i0, i0 + MR) of the strip; MR, NV and ACS1 (A's column stride is
 * 1) are compile-time constants in every instantiation below. */
INLINE void tile_rows(const struct axle_gemm_tile *t, const struct epi *e,
                      int64_t i0, const int MR, const int NV, const int ACS1)
{
    __m512 acc[MR_MAX][3];
    const int64_t k = t->k, ldb = t->ldb, a_rs = t->a_rs;
    const int64_t a_cs = ACS1 ? 1 : t->a_cs;
    const float *a = t->a + i0 * a_rs;
    const float *b = t->b;
    const __mmask16 tail = e->tail;

#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            acc[i][v] = acc_init(t, i0 + i, v,
                                 v == NV - 1 ? tail : (__mmask16)0xffff);
    for (int64_t kk = 0; kk < k; kk++) {
        __m512 bv[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(tail, b + 16 * v)
                                : _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i * a_rs + kk * a_cs]);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++)
                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
        b += ldb;
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            store_vec(t, e, acc[i][v], i0 + i, v,
                      v == NV - 1 ? tail : (__mmask16)0xffff);
}

/* m == 1: y = a . B over one strip (NV <= 3) or two (NV > 3: vectors
 * 3.. from b2), streaming B once. One chain per vector in k order, like
 * tile_rows (batch invariance); k is unrolled by two. */
INLINE void tile_row1(const struct axle_gemm_tile *t, const struct epi *e,
                      const int NV, const int PF)
{
    __m512 s[6];
    const int64_t k = t->k, ldb = t->ldb, ldb2 = t->ldb2, a_cs = t->a_cs;
    const float *a = t->a;
    const float *b = t->b, *b2 = t->b2;
    const __mmask16 tail = e->tail;
    int64_t kk = 0;

#define ROW1_MASK(v) ((v) == NV - 1 ? tail : (__mmask16)0xffff)
#define ROW1_LOAD(v, r)                                                        \
    _mm512_maskz_loadu_ps(ROW1_MASK(v), (v) < 3 ? b + (r) * ldb + 16 * (v)     \
                                                : b2 + (r) * ldb2 +           \
                                                      16 * ((v) - 3))
#pragma GCC unroll 6
    for (int v = 0; v < NV; v++)
        s[v] = acc_init(t, 0, v, ROW1_MASK(v));
    for (; kk + 2 <= k; kk += 2) {
        __m512 a0 = _mm512_set1_ps(a[kk * a_cs]);
        __m512 a1 = _mm512_set1_ps(a[(kk + 1) * a_cs]);
        /* The weight stream is the whole cost: ask for rows 16 ahead. */
#pragma GCC unroll 6
        for (int v = 0; v < NV && PF; v++) {
            const float *p = v < 3 ? b + 16 * ldb + 16 * v
                                   : b2 + 16 * ldb2 + 16 * (v - 3);
            _mm_prefetch((const char *)p, _MM_HINT_T0);
            _mm_prefetch((const char *)(p + (v < 3 ? ldb : ldb2)),
                         _MM_HINT_T0);
        }
#pragma GCC unroll 6
        for (int v = 0; v < NV; v++) {
            __m512 b0 = ROW1_LOAD(v, 0), b1 = ROW1_LOAD(v, 1);
            s[v] = _mm512_fmadd_ps(a0, b0, s[v]);
            s[v] = _mm512_fmadd_ps(a1, b1, s[v]);
        }
        b += 2 * ldb;
        b2 += NV > 3 ? 2 * ldb2 : 0;
    }
    if (kk < k) {
        __m512 a0 = _mm512_set1_ps(a[kk * a_cs]);
#pragma GCC unroll 6
        for (int v = 0; v < NV; v++)
            s[v] = _mm512_fmadd_ps(a0, ROW1_LOAD(v, 0), s[v]);
    }
#pragma GCC unroll 6
    for (int v = 0; v < NV; v++)
        store_vec(t, e, s[v], 0, v, ROW1_MASK(v));
#undef ROW1_LOAD
#undef ROW1_MASK
}

static void row1_dispatch(const struct axle_gemm_tile *t, const struct epi *e)
{
    switch (e->nv * 2 + (t->prefetch ? 1 : 0)) {
    case 2: tile_row1(t, e, 1, 0); break;
    case 3: tile_row1(t, e, 1, 1); break;
    case 4: tile_row1(t, e, 2, 0); break;
    case 5: tile_row1(t, e, 2, 1); break;
    case 6: tile_row1(t, e, 3, 0); break;
    case 7: tile_row1(t, e, 3, 1); break;
    case 8: tile_row1(t, e, 4, 0); break;
    case 9: tile_row1(t, e, 4, 1); break;
    case 10: tile_row1(t, e, 5, 0); break;
    case 11: tile_row1(t, e, 5, 1); break;
    case 12: tile_row1(t, e, 6, 0); break;
    default: tile_row1(t, e, 6, 1); break;
    }
}

#define ROWS_CASE(MR)                                                          \
    case MR * 4 + 1:                                                           \
        tile_rows(t, e, i0, MR, 1, ACS1);                                      \
        break;                                                                 \
    case MR * 4 + 2:                                                           \
        tile_rows(t, e, i0, MR, 2, ACS1);                                      \
        break;                                                                 \
    case MR * 4 + 3:                                                           \
        tile_rows(t, e, i0, MR, 3, ACS1);                                      \
        break;

INLINE void rows_dispatch(const struct axle_gemm_tile *t, const struct epi *e,
                          int64_t i0, int mr, const int ACS1)
{
    switch (mr * 4 + e->nv) {
        ROWS_CASE(1)
        ROWS_CASE(2)
        ROWS_CASE(3)
        ROWS_CASE(4)
        ROWS_CASE(5)
        ROWS_CASE(6)
        ROWS_CASE(7)
        ROWS_CASE(8)
    default:
        break;
    }
}

static void rows_unit(const struct axle_gemm_tile *t, const struct epi *e,
                      int64_t i0, int mr)
{
    rows_dispatch(t, e, i0, mr, 1);
}

static void rows_strided(const struct axle_gemm_tile *t, const struct epi *e,
                         int64_t i0, int mr)
{
    rows_dispatch(t, e, i0, mr, 0);
}

void axle_gemm_tile_avx512(const struct axle_gemm_tile *t)
{
    struct epi e;
    int64_t i0 = 0, n_tiles;
    int rem_cols;

    e.nv = (int)((t->n + 15) / 16);
    rem_cols = (int)(t->n - 16 * (e.nv - 1));
    e.tail = (__mmask16)((1u << rem_cols) - 1u);
    e.alpha = _mm512_set1_ps(t->alpha);
    e.beta = _mm512_set1_ps(t->beta);
    e.beta_s = t->beta;
    e.act_a = _mm512_set1_ps(t->act_alpha);
    e.act_b = _mm512_set1_ps(t->act_beta);

    if (t->m == 1) {
        row1_dispatch(t, &e);
    } else {
        /* Balanced row tiles: 10 rows run as 5 + 5, not 8 + 2. */
        n_tiles = (t->m + MR_MAX - 1) / MR_MAX;
        while (i0 < t->m) {
            int mr = (int)((t->m - i0 + n_tiles - 1) / n_tiles);
            if (t->a_cs == 1)
                rows_unit(t, &e, i0, mr);
            else
                rows_strided(t, &e, i0, mr);
            i0 += mr;
            n_tiles--;
        }
    }
    if (!t->partial && !axle_gemm_act_is_simple(t->act)) {
        for (int64_t i = 0; i < t->m; i++)
            axle_act_apply(t->act, t->act_alpha, t->act_beta,
                           t->c + i * t->ldc, (size_t)t->n);
    }
}
