/*
 * conv_dw_avx512.c - AVX-512 row kernel of the depthwise convolution
 * (conv_dw.c): one output row = bias + sum over taps of w[t] * src[t][ow],
 * 16 output columns per vector with a masked tail, the fused activation
 * applied in registers where it is a min/max/fma sequence; and the bias +
 * activation pass conv.c runs after a large (OpenBLAS) GEMM. Compiled with
 * -mavx512f/bw/dq/vl -mfma; called only after a cpuid check.
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/conv.h"

static inline __m512 act_vec(__m512 v, enum axle_act act, __m512 a, __m512 b)
{
    __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), h;

    /* Operand order (constant first) lets NaN through, as axle_act_apply
     * does. */
    switch (act) {
    case AXLE_ACT_RELU:
        return _mm512_max_ps(zero, v);
    case AXLE_ACT_LEAKY_RELU:
        return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ),
                                  v, a);
    case AXLE_ACT_CLIP:
        return _mm512_min_ps(b, _mm512_max_ps(a, v));
    case AXLE_ACT_HARD_SIGMOID:
        h = _mm512_fmadd_ps(a, v, b);
        return _mm512_max_ps(zero, _mm512_min_ps(one, h));
    case AXLE_ACT_HARD_SWISH:
        h = _mm512_fmadd_ps(v, _mm512_set1_ps(1.0f / 6.0f),
                            _mm512_set1_ps(0.5f));
        return _mm512_mul_ps(v, _mm512_max_ps(zero, _mm512_min_ps(one, h)));
    default:
        return v;
    }
}

void axle_conv_dw_row_avx512(const float *const *src, const float *w,
                             int n_taps, float bias, float *y, int64_t n,
                             enum axle_act act, float alpha, float beta)
{
    bool inl = act == AXLE_ACT_NONE || act == AXLE_ACT_RELU ||
               act == AXLE_ACT_LEAKY_RELU || act == AXLE_ACT_CLIP ||
               act == AXLE_ACT_HARD_SIGMOID || act == AXLE_ACT_HARD_SWISH;
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 vbias = _mm512_set1_ps(bias);
    enum axle_act a = inl ? act : AXLE_ACT_NONE;
    int64_t i = 0;

    for (; i + 32 <= n; i += 32) {
        __m512 acc0 = vbias, acc1 = vbias;
        for (int t = 0; t < n_taps; t++) {
            __m512 wv = _mm512_set1_ps(w[t]);
            acc0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src[t] + i), acc0);
            acc1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src[t] + i + 16),
                                   acc1);
        }
        _mm512_storeu_ps(y + i, act_vec(acc0, a, va, vb));
        _mm512_storeu_ps(y + i + 16, act_vec(acc1, a, va, vb));
    }
    for (; i < n; i += 16) {
        int64_t left = n - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff
                                 : (__mmask16)((1u << left) - 1u);
        __m512 acc = vbias;
        for (int t = 0; t < n_taps; t++)
            acc = _mm512_fmadd_ps(_mm512_set1_ps(w[t]),
                                  _mm512_maskz_loadu_ps(m, src[t] + i), acc);
        _mm512_mask_storeu_ps(y + i, m, act_vec(acc, a, va, vb));
    }
    if (!inl)
        axle_act_apply(act, alpha, beta, y, (size_t)n);
}

void axle_conv_bias_act_avx512(float *y, int64_t rows, int64_t cols,
                               const float *bias, enum axle_act act,
                               float alpha, float beta)
{
    bool inl = act == AXLE_ACT_NONE || act == AXLE_ACT_RELU ||
               act == AXLE_ACT_LEAKY_RELU || act == AXLE_ACT_CLIP ||
               act == AXLE_ACT_HARD_SIGMOID || act == AXLE_ACT_HARD_SWISH;
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    enum axle_act a = inl ? act : AXLE_ACT_NONE;

    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * cols;
        __m512 vbias = _mm512_set1_ps(bias != NULL ? bias[r] : 0.0f);
        int64_t i = 0;
        for (; i + 16 <= cols; i += 16)
            _mm512_storeu_ps(yr + i,
                             act_vec(_mm512_add_ps(_mm512_loadu_ps(yr + i),
                                                   vbias),
                                     a, va, vb));
        if (i < cols) {
            __mmask16 m = (__mmask16)((1u << (cols - i)) - 1u);
            _mm512_mask_storeu_ps(
                yr + i, m,
                act_vec(_mm512_add_ps(_mm512_maskz_loadu_ps(m, yr + i),
                                      vbias),
                        a, va, vb));
        }
        if (!inl)
            axle_act_apply(act, alpha, beta, yr, (size_t)cols);
    }
}

void axle_conv_dw_split2_avx512(const float *src, float *even, float *odd,
                                int64_t n)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                        12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15,
                                        13, 11, 9, 7, 5, 3, 1);
    int64_t i = 0;

    for (; i + 16 <= n; i += 16) {
        __m512 a = _mm512_loadu_ps(src + 2 * i);
        __m512 b = _mm512_loadu_ps(src + 2 * i + 16);
        _mm512_storeu_ps(even + i, _mm512_permutex2var_ps(a, ie, b));
        _mm512_storeu_ps(odd + i, _mm512_permutex2var_ps(a, io, b));
    }
    if (i < n) {
        int64_t left = 2 * (n - i); /* 2..30 floats */
        __mmask16 ma = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1u);
        __mmask16 mb = (__mmask16)(left > 16 ? (1u << (left - 16)) - 1u : 0);
        __mmask16 mo = (__mmask16)((1u << (n - i)) - 1u);
        __m512 a = _mm512_maskz_loadu_ps(ma, src + 2 * i);
        __m512 b = _mm512_maskz_loadu_ps(mb, src + 2 * i + 16);
        _mm512_mask_storeu_ps(even + i, mo, _mm512_permutex2var_ps(a, ie, b));
        _mm512_mask_storeu_ps(odd + i, mo, _mm512_permutex2var_ps(a, io, b));
    }
}

void axle_conv_gather2_avx512(const float *src, float *dst, int64_t n)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                        12, 10, 8, 6, 4, 2, 0);
    int64_t i = 0;

    for (; i + 16 <= n; i += 16) {
        /* src[2i .. 2i + 30]: the last odd element is not read */
        __m512 a = _mm512_loadu_ps(src + 2 * i);
        __m512 b = _mm512_maskz_loadu_ps(0x7fff, src + 2 * i + 16);
        _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(a, ie, b));
    }
    if (i < n) {
        int64_t left = 2 * (n - i) - 1; /* 1..31 floats */
        __mmask16 ma = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1u);
        __mmask16 mb = (__mmask16)(left > 16 ? (1u << (left - 16)) - 1u : 0);
        __mmask16 mo = (__mmask16)((1u << (n - i)) - 1u);
        __m512 a = _mm512_maskz_loadu_ps(ma, src + 2 * i);
        __m512 b = _mm512_maskz_loadu_ps(mb, src + 2 * i + 16);
        _mm512_mask_storeu_ps(dst + i, mo, _mm512_permutex2var_ps(a, ie, b));
    }
}
