/*
 * quant_gemm_avx2.c - AVX2 micro-kernel of the 8-bit GEMM (contract in
 * quant.h). Compiled with -mavx2; quant_gemm.c calls it only when
 * axle_cpu_get()->isa is at least AVX2.
 *
 * For each pair of k, a panel row of 24 columns x 2 int16 (widened at
 * pack time) is three vectors of eight int16 pairs; each A row
 * broadcasts its int16 pair as one 32-bit lane and vpmaddwd gives eight
 * exact int32 (a0 b0 + a1 b1) that vpaddd accumulates (wrapping, as the
 * spec allows). Tiles are 4 rows x 24 columns: 12 accumulators, 3 B
 * vectors and one broadcast fit the 16 ymm registers. One row alone keeps
 * two accumulator sets (even and odd pairs) to have more loads in flight.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/quant.h"

#define NR AXLE_QGEMM_NR
#define INLINE static inline __attribute__((always_inline))

INLINE __m256i ld(const int16_t *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

INLINE __m256i pair(const int16_t *a)
{
    int32_t v;
    memcpy(&v, a, sizeof(v));
    return _mm256_set1_epi32(v);
}

INLINE void tile_rows(const struct axle_qgemm_tile *t, int64_t i0, int mr)
{
    __m256i acc[4][3];
    const int16_t *a = t->a + i0 * t->lda;
    int32_t *c = t->c + i0 * t->ldc;

#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            acc[r][v] = t->acc_in ? _mm256_loadu_si256(
                                        (const __m256i *)(c + r * t->ldc +
                                                          8 * v))
                                  : _mm256_setzero_si256();
    for (int64_t p = 0; p < t->kp; p++) {
        const int16_t *b = t->b + p * NR * 2;
        __m256i b0 = ld(b), b1 = ld(b + 16), b2 = ld(b + 32);
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            __m256i av = pair(a + r * t->lda + 2 * p);
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, b0));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, b1));
            acc[r][2] = _mm256_add_epi32(acc[r][2], _mm256_madd_epi16(av, b2));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            _mm256_storeu_si256((__m256i *)(c + r * t->ldc + 8 * v),
                                acc[r][v]);
}

/* One row: even and odd pairs in separate accumulators. */
INLINE void tile_row1(const struct axle_qgemm_tile *t, int64_t i0)
{
    const int16_t *a = t->a + i0 * t->lda;
    int32_t *c = t->c + i0 * t->ldc;
    __m256i e0, e1, e2, o0 = _mm256_setzero_si256(), o1 = o0, o2 = o0;
    int64_t p = 0;

    if (t->acc_in) {
        e0 = _mm256_loadu_si256((const __m256i *)c);
        e1 = _mm256_loadu_si256((const __m256i *)(c + 8));
        e2 = _mm256_loadu_si256((const __m256i *)(c + 16));
    } else {
        e0 = e1 = e2 = _mm256_setzero_si256();
    }
    for (; p + 2 <= t->kp; p += 2) {
        const int16_t *b = t->b + p * NR * 2;
        __m256i av = pair(a + 2 * p), aw = pair(a + 2 * p + 2);
        e0 = _mm256_add_epi32(e0, _mm256_madd_epi16(av, ld(b)));
        e1 = _mm256_add_epi32(e1, _mm256_madd_epi16(av, ld(b + 16)));
        e2 = _mm256_add_epi32(e2, _mm256_madd_epi16(av, ld(b + 32)));
        o0 = _mm256_add_epi32(o0, _mm256_madd_epi16(aw, ld(b + 48)));
        o1 = _mm256_add_epi32(o1, _mm256_madd_epi16(aw, ld(b + 64)));
        o2 = _mm256_add_epi32(o2, _mm256_madd_epi16(aw, ld(b + 80)));
    }
    if (p < t->kp) {
        const int16_t *b = t->b + p * NR * 2;
        __m256i av = pair(a + 2 * p);
        e0 = _mm256_add_epi32(e0, _mm256_madd_epi16(av, ld(b)));
        e1 = _mm256_add_epi32(e1, _mm256_madd_epi16(av, ld(b + 16)));
        e2 = _mm256_add_epi32(e2, _mm256_madd_epi16(av, ld(b + 32)));
    }
    _mm256_storeu_si256((__m256i *)c, _mm256_add_epi32(e0, o0));
    _mm256_storeu_si256((__m256i *)(c + 8), _mm256_add_epi32(e1, o1));
    _mm256_storeu_si256((__m256i *)(c + 16), _mm256_add_epi32(e2, o2));
}

void axle_qgemm_tile_avx2(const struct axle_qgemm_tile *t)
{
    int64_t i = 0;

    for (; i + 4 <= t->m; i += 4)
        tile_rows(t, i, 4);
    switch (t->m - i) {
    case 3: tile_rows(t, i, 3); break;
    case 2: tile_rows(t, i, 2); break;
    case 1: tile_row1(t, i); break;
    default: break;
    }
}

/* GEMV over byte panels: widen each 16-byte half row (vpmovzxbw /
 * vpmovsxbw); even and odd pairs in separate accumulators. */
INLINE __m256i widen(const uint8_t *p, bool s)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    return s ? _mm256_cvtepi8_epi16(v) : _mm256_cvtepu8_epi16(v);
}

INLINE void gemv_tile(const int16_t *a, const uint8_t *b0, int64_t kp,
                      bool s, int32_t *c)
{
    __m256i e0 = _mm256_setzero_si256(), e1 = e0, e2 = e0, o0 = e0, o1 = e0,
            o2 = e0;
    int64_t p = 0;

    for (; p + 2 <= kp; p += 2) {
        const uint8_t *b = b0 + p * NR * 2;
        __m256i av = pair(a + 2 * p), aw = pair(a + 2 * p + 2);
        e0 = _mm256_add_epi32(e0, _mm256_madd_epi16(av, widen(b, s)));
        e1 = _mm256_add_epi32(e1, _mm256_madd_epi16(av, widen(b + 16, s)));
        e2 = _mm256_add_epi32(e2, _mm256_madd_epi16(av, widen(b + 32, s)));
        o0 = _mm256_add_epi32(o0, _mm256_madd_epi16(aw, widen(b + 48, s)));
        o1 = _mm256_add_epi32(o1, _mm256_madd_epi16(aw, widen(b + 64, s)));
        o2 = _mm256_add_epi32(o2, _mm256_madd_epi16(aw, widen(b + 80, s)));
    }
    if (p < kp) {
        const uint8_t *b = b0 + p * NR * 2;
        __m256i av = pair(a + 2 * p);
        e0 = _mm256_add_epi32(e0, _mm256_madd_epi16(av, widen(b, s)));
        e1 = _mm256_add_epi32(e1, _mm256_madd_epi16(av, widen(b + 16, s)));
        e2 = _mm256_add_epi32(e2, _mm256_madd_epi16(av, widen(b + 32, s)));
    }
    _mm256_storeu_si256((__m256i *)c, _mm256_add_epi32(e0, o0));
    _mm256_storeu_si256((__m256i *)(c + 8), _mm256_add_epi32(e1, o1));
    _mm256_storeu_si256((__m256i *)(c + 16), _mm256_add_epi32(e2, o2));
}

void axle_qgemv_tile_avx2(const int16_t *a, const uint8_t *b, int64_t kp,
                          bool b_signed, int32_t *c)
{
    if (b_signed)
        gemv_tile(a, b, kp, true, c);
    else
        gemv_tile(a, b, kp, false, c);
}
