/*
 * forest_avx512.c - perfect trees, 16 rows per vector (AVX-512F).
 *
 * A row's position inside a level is j (0 .. 2^L - 1); a step is
 * j = 2j + (x[f] >= t). Levels 0-4 hold at most 16 nodes, so their
 * thresholds and features come from one register by vpermps/vpermd
 * (no memory access), level 5 (32 nodes) from two by vpermt2ps; only deeper
 * levels and the feature values themselves are gathered. Leaves are
 * gathered as doubles and added in tree order, rounded to float after each
 * tree when the forest accumulates in float, exactly as the scalar walk.
 *
 * Called only after a cpuid check (forest.c).
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/forest_internal.h"

static inline __attribute__((always_inline)) void
group16(const struct axle_forest_tree *ct, int depth, const float *x,
        int64_t stride, double *acc, bool accf, bool nan)
{
    const float *pt = ct->pt;
    const int32_t *pf = ct->pf;
    const __m512i lane_off = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                          15),
        _mm512_set1_epi32((int32_t)stride));
    const __m512i fmask = _mm512_set1_epi32(0x7fffffff);
    const __m512i sign = _mm512_set1_epi32((int32_t)0x80000000u);
    const __m512i one = _mm512_set1_epi32(1);
    __m512i j = _mm512_setzero_si512();

    for (int L = 0; L < depth; L++) {
        int32_t base = (1 << L) - 1;
        __m512 t;
        __m512i f, fi;
        __m512 v;
        __mmask16 hi;

        if (L <= 4) {
            t = _mm512_permutexvar_ps(j, _mm512_loadu_ps(pt + base));
            f = _mm512_permutexvar_epi32(j, _mm512_loadu_si512(pf + base));
        } else if (L == 5) {
            t = _mm512_permutex2var_ps(_mm512_loadu_ps(pt + base), j,
                                       _mm512_loadu_ps(pt + base + 16));
            f = _mm512_permutex2var_epi32(_mm512_loadu_si512(pf + base), j,
                                          _mm512_loadu_si512(pf + base + 16));
        } else {
            t = _mm512_i32gather_ps(j, pt + base, 4);
            f = _mm512_i32gather_epi32(j, pf + base, 4);
        }
        fi = _mm512_add_epi32(lane_off, _mm512_and_si512(f, fmask));
        v = _mm512_i32gather_ps(fi, x, 4);
        hi = _mm512_cmp_ps_mask(v, t, _CMP_GE_OQ);
        if (nan)
            hi |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) &
                  _mm512_test_epi32_mask(f, sign);
        j = _mm512_add_epi32(j, j);
        j = _mm512_mask_add_epi32(j, hi, j, one);
    }
    {
        const double *lv = ct->pv;
        __m512d l0 = _mm512_i32gather_pd(_mm512_castsi512_si256(j), lv, 8);
        __m512d l1 = _mm512_i32gather_pd(_mm512_extracti64x4_epi64(j, 1), lv,
                                         8);
        __m512d a0 = _mm512_add_pd(_mm512_loadu_pd(acc), l0);
        __m512d a1 = _mm512_add_pd(_mm512_loadu_pd(acc + 8), l1);
        if (accf) {
            a0 = _mm512_cvtps_pd(_mm512_cvtpd_ps(a0));
            a1 = _mm512_cvtps_pd(_mm512_cvtpd_ps(a1));
        }
        _mm512_storeu_pd(acc, a0);
        _mm512_storeu_pd(acc + 8, a1);
    }
}

#define CASE(D)                                                              \
    case D:                                                                  \
        for (; r + 16 <= n; r += 16) {                                       \
            if (accf) {                                                      \
                if (nan) group16(ct, D, x + r * stride, stride, acc + r, 1, 1); \
                else group16(ct, D, x + r * stride, stride, acc + r, 1, 0); \
            } else {                                                         \
                if (nan) group16(ct, D, x + r * stride, stride, acc + r, 0, 1); \
                else group16(ct, D, x + r * stride, stride, acc + r, 0, 0); \
            }                                                                \
        }                                                                    \
        break;

int64_t axle_forest_walk16_avx512(const struct axle_forest_tree *ct,
                                  const float *x, int64_t n, int64_t stride,
                                  double *acc, bool accf, bool nan)
{
    int64_t r = 0;
    switch (ct->depth) {
    CASE(1)
    CASE(2)
    CASE(3)
    CASE(4)
    CASE(5)
    CASE(6)
    CASE(7)
    CASE(8)
    CASE(9)
    CASE(10)
    default:
        break;
    }
    return r;
}
