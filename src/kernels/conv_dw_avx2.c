/*
 * conv_dw_avx2.c - AVX2 + FMA row kernel and stride-2 column split of the
 * depthwise convolution (conv_dw.c), for CPUs without AVX-512: one output
 * row = bias + sum over taps of w[t] * src[t][ow], 8 columns per vector,
 * four vectors per pass with the accumulators in registers (the portable
 * loop keeps them in memory, one read-modify-write pass over the row per
 * tap), masked loads for the tail; ReLU, LeakyRelu and Clip applied in
 * registers before the store. Compiled with -mavx2 -mfma; called only
 * after a cpuid check.
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/conv.h"

static inline __m256 act8(__m256 v, enum axle_act act, __m256 a, __m256 b)
{
    __m256 zero = _mm256_setzero_ps();

    /* Constant first: max/min return the second operand for NaN, so NaN
     * passes through as in axle_act_apply. */
    switch (act) {
    case AXLE_ACT_RELU:
        return _mm256_max_ps(zero, v);
    case AXLE_ACT_LEAKY_RELU:
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, a), _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    case AXLE_ACT_CLIP:
        return _mm256_min_ps(b, _mm256_max_ps(a, v));
    default:
        return v;
    }
}

static inline __m256i tail_mask(int64_t left)
{
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - left));
}

void axle_conv_dw_row_avx2(const float *const *src, const float *w, int n_taps, float bias,
                           float *y, int64_t n, enum axle_act act, float alpha, float beta)
{
    int inl = act == AXLE_ACT_NONE || act == AXLE_ACT_RELU || act == AXLE_ACT_LEAKY_RELU ||
              act == AXLE_ACT_CLIP;
    enum axle_act a = inl ? act : AXLE_ACT_NONE;
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    __m256 vbias = _mm256_set1_ps(bias);
    int64_t i = 0;

    for (; i + 32 <= n; i += 32) {
        __m256 acc0 = vbias, acc1 = vbias, acc2 = vbias, acc3 = vbias;
        for (int t = 0; t < n_taps; t++) {
            __m256 wv = _mm256_set1_ps(w[t]);
            const float *s = src[t] + i;
            acc0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s), acc0);
            acc1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 8), acc1);
            acc2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 16), acc2);
            acc3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 24), acc3);
        }
        _mm256_storeu_ps(y + i, act8(acc0, a, va, vb));
        _mm256_storeu_ps(y + i + 8, act8(acc1, a, va, vb));
        _mm256_storeu_ps(y + i + 16, act8(acc2, a, va, vb));
        _mm256_storeu_ps(y + i + 24, act8(acc3, a, va, vb));
    }
    for (; i + 8 <= n; i += 8) {
        __m256 acc = vbias;
        for (int t = 0; t < n_taps; t++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(src[t] + i), acc);
        _mm256_storeu_ps(y + i, act8(acc, a, va, vb));
    }
    if (i < n) {
        /* Masked-off lanes are neither read nor written. */
        __m256i m = tail_mask(n - i);
        __m256 acc = vbias;
        for (int t = 0; t < n_taps; t++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_maskload_ps(src[t] + i, m), acc);
        _mm256_maskstore_ps(y + i, m, act8(acc, a, va, vb));
    }
    if (!inl)
        axle_act_apply(act, alpha, beta, y, (size_t)n);
}

void axle_conv_dw_split2_avx2(const float *src, float *even, float *odd, int64_t n)
{
    int64_t i = 0;

    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(src + 2 * i);     /* x0 .. x7 */
        __m256 b = _mm256_loadu_ps(src + 2 * i + 8); /* x8 .. x15 */
        /* Per 128-bit lane: [a0 a2 b0 b2 | a4 a6 b4 b6]; then the 64-bit
         * quarters reordered to [a0 a2 a4 a6 b0 b2 b4 b6]. */
        __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
        o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
        _mm256_storeu_ps(even + i, e);
        _mm256_storeu_ps(odd + i, o);
    }
    for (; i < n; i++) {
        even[i] = src[2 * i];
        odd[i] = src[2 * i + 1];
    }
}

/* 8 lanes of a 16-bit lane mask (bits 8h .. 8h + 7) as a vector mask. */
static inline __m256i lanes8(unsigned m8)
{
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i v = _mm256_and_si256(_mm256_set1_epi32((int)m8), bit);
    return _mm256_cmpeq_epi32(v, bit);
}

void axle_conv_pack_shifted_avx2(float *dst, int64_t stride, int nv, const float *x,
                                 int64_t plane, int64_t n_ch, const int64_t *off, int n_taps,
                                 const uint16_t *mask)
{
    for (int64_t c = 0; c < n_ch; c++, x += plane) {
        for (int t = 0; t < n_taps; t++, dst += stride) {
            /* Masked-off lanes are not read: off[t] may point before the
             * plane (top and left padding). */
            const float *src = x + off[t];
            const uint16_t *mk = mask + 3 * t;
            for (int v = 0; v < nv; v++) {
                unsigned m = mk[v];
                for (int h = 0; h < 2; h++) {
                    const float *sp = src + 16 * v + 8 * h;
                    unsigned m8 = (m >> (8 * h)) & 0xffu;
                    __m256 r = m8 == 0xffu   ? _mm256_loadu_ps(sp)
                               : m8 == 0 ? _mm256_setzero_ps()
                                         : _mm256_maskload_ps(sp, lanes8(m8));
                    _mm256_storeu_ps(dst + 16 * v + 8 * h, r);
                }
            }
        }
    }
}
