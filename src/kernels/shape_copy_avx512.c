/*
 * shape_copy_avx512.c - AVX-512 inner kernel of the copy engine's blocked
 * 2-D transpose (shape_copy.c, kind TILE2D) for 4-byte elements: 16x16
 * register transposes (unpack 32/64-bit, then two 128-bit lane shuffles).
 * Compiled with -mavx512f...; called only when axle_cpu_get()->isa is
 * AXLE_ISA_AVX512. Element type is irrelevant: the bits are moved as int32.
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/shape_internal.h"

/* Rows r[0..15] (16 elements each) -> columns written to d + c*ob. */
static inline void t16x16(uint32_t *d, int64_t ob, const __m512i *r)
{
    __m512i a[16], b[16];

    for (int k = 0; k < 8; k++) {
        a[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        a[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    /* Per 128-bit lane L, b[4g + m] holds column 4L + m of rows 4g..4g+3. */
    for (int g = 0; g < 4; g++) {
        b[4 * g + 0] = _mm512_unpacklo_epi64(a[4 * g], a[4 * g + 2]);
        b[4 * g + 1] = _mm512_unpackhi_epi64(a[4 * g], a[4 * g + 2]);
        b[4 * g + 2] = _mm512_unpacklo_epi64(a[4 * g + 1], a[4 * g + 3]);
        b[4 * g + 3] = _mm512_unpackhi_epi64(a[4 * g + 1], a[4 * g + 3]);
    }
    for (int m = 0; m < 4; m++) {
        __m512i c0 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x88);
        __m512i c1 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xdd);
        __m512i e0 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x88);
        __m512i e1 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xdd);
        _mm512_storeu_si512(d + (0 + m) * ob,
                            _mm512_shuffle_i32x4(c0, e0, 0x88));
        _mm512_storeu_si512(d + (4 + m) * ob,
                            _mm512_shuffle_i32x4(c1, e1, 0x88));
        _mm512_storeu_si512(d + (8 + m) * ob,
                            _mm512_shuffle_i32x4(c0, e0, 0xdd));
        _mm512_storeu_si512(d + (12 + m) * ob,
                            _mm512_shuffle_i32x4(c1, e1, 0xdd));
    }
}

void axle_shape_tile4_avx512(uint32_t *d, const uint32_t *s, int64_t a,
                             int64_t ia, int64_t j0, int64_t j1, int64_t ob)
{
    int64_t a16 = a & ~(int64_t)15, j16 = j0 + ((j1 - j0) & ~(int64_t)15);

    for (int64_t i0 = 0; i0 < a16; i0 += 16) {
        for (int64_t j = j0; j < j16; j += 16) {
            __m512i r[16];
            for (int k = 0; k < 16; k++)
                r[k] = _mm512_loadu_si512(s + (i0 + k) * ia + j);
            t16x16(d + j * ob + i0, ob, r);
        }
    }
    /* Ragged edges: scalar. */
    for (int64_t j = j0; j < j1; j++) {
        int64_t from = j < j16 ? a16 : 0;
        for (int64_t i = from; i < a; i++)
            d[j * ob + i] = s[i * ia + j];
    }
}
