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
#include "kernels/transpose16_avx512.h"

/* Rows r[0..15] (16 elements each) -> columns written to d + c*ob. */
static inline void t16x16(uint32_t *d, int64_t ob, const __m512i *r)
{
    __m512 v[16];

    for (int k = 0; k < 16; k++)
        v[k] = _mm512_castsi512_ps(r[k]);
    axle_transpose16_avx512(v);
    for (int k = 0; k < 16; k++)
        _mm512_storeu_ps((float *)(d + k * ob), v[k]);
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
