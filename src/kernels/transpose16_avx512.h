/*
 * transpose16_avx512.h - the 16x16 register transpose of 32-bit lanes that
 * the AVX-512 files share (conv_dw_avx512.c's transposed 1x1 store,
 * shape_copy_avx512.c's blocked 2-D copy). Include only from files
 * compiled with -mavx512f.
 */
#ifndef AXLE_KERNELS_TRANSPOSE16_AVX512_H
#define AXLE_KERNELS_TRANSPOSE16_AVX512_H

#include <immintrin.h>

/* 64-bit interleave of two float vectors. */
static inline __m512 unpacklo_64(__m512 a, __m512 b)
{
    return _mm512_castpd_ps(
        _mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
}

static inline __m512 unpackhi_64(__m512 a, __m512 b)
{
    return _mm512_castpd_ps(
        _mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
}

/* r[0..15] (rows) -> r[0..15] (columns): 32-bit, then 64-bit interleaves
 * within 128-bit lanes leave b[4k + c] lane L = column 4L + c of rows
 * 4k..4k+3; a 4x4 transpose of those 128-bit blocks per c finishes it. */
static inline void axle_transpose16_avx512(__m512 r[16])
{
    __m512 a[16], b[16];

    for (int k = 0; k < 8; k++) {
        a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) {
        b[4 * k + 0] = unpacklo_64(a[4 * k], a[4 * k + 2]);
        b[4 * k + 1] = unpackhi_64(a[4 * k], a[4 * k + 2]);
        b[4 * k + 2] = unpacklo_64(a[4 * k + 1], a[4 * k + 3]);
        b[4 * k + 3] = unpackhi_64(a[4 * k + 1], a[4 * k + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512 s0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44);
        __m512 s1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xEE);
        __m512 s2 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44);
        __m512 s3 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(s0, s2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(s0, s2, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(s1, s3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(s1, s3, 0xDD);
    }
}

#endif
