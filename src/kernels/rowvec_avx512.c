/*
 * rowvec_avx512.c - AVX-512 versions of the row primitives in rowvec.h.
 *
 * Compiled with -mavx512f/bw/dq/vl -mfma (see CMakeLists.txt); reached only
 * through the dispatchers in rowvec.c after a cpuid check. Tails use masked
 * loads/stores, so no element outside [0, n) is touched.
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/rowvec.h"

static inline __mmask16 tail_mask(size_t rem)
{
    return rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1u);
}

/* exp(x): n = round(x / ln2), r = x - n ln2 (two-part ln2), Cephes' degree
 * 6 polynomial for exp(r), then scalef by 2^n. Clamping to [-104, 89] keeps
 * -inf -> 0 and +inf -> inf; the operand order keeps NaN. */
static inline __m512 exp512(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-104.0f), hi = _mm512_set1_ps(89.0f);
    x = _mm512_max_ps(lo, x);
    x = _mm512_min_ps(hi, x);
    __m512 n = _mm512_roundscale_ps(
        _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

float axle_rowvec512_max(const float *x, size_t n)
{
    __m512 a0 = _mm512_set1_ps(-__builtin_inff()), a1 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_max_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_max_ps(a1, _mm512_loadu_ps(x + i + 16));
    }
    for (; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        a0 = _mm512_mask_max_ps(a0, m, a0, _mm512_maskz_loadu_ps(m, x + i));
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
}

float axle_rowvec512_min(const float *x, size_t n)
{
    __m512 a0 = _mm512_set1_ps(__builtin_inff()), a1 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_min_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_min_ps(a1, _mm512_loadu_ps(x + i + 16));
    }
    for (; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        a0 = _mm512_mask_min_ps(a0, m, a0, _mm512_maskz_loadu_ps(m, x + i));
    }
    return _mm512_reduce_min_ps(_mm512_min_ps(a0, a1));
}

float axle_rowvec512_sum(const float *x, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
    }
    for (; i < n; i += 16)
        a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

float axle_rowvec512_sumsq(const float *x, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        a0 = _mm512_fmadd_ps(v0, v0, a0);
        a1 = _mm512_fmadd_ps(v1, v1, a1);
    }
    for (; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        a0 = _mm512_fmadd_ps(v, v, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

float axle_rowvec512_sumsqdev(const float *x, float m, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, vm = _mm512_set1_ps(m);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 v0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), vm);
        __m512 v1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vm);
        a0 = _mm512_fmadd_ps(v0, v0, a0);
        a1 = _mm512_fmadd_ps(v1, v1, a1);
    }
    for (; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 v = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + i), vm);
        a0 = _mm512_fmadd_ps(v, v, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

float axle_rowvec512_expsum(float *y, const float *x, float sub, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, vs = _mm512_set1_ps(sub);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 e0 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), vs));
        __m512 e1 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vs));
        _mm512_storeu_ps(y + i, e0);
        _mm512_storeu_ps(y + i + 16, e1);
        a0 = _mm512_add_ps(a0, e0);
        a1 = _mm512_add_ps(a1, e1);
    }
    for (; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vs));
        _mm512_mask_storeu_ps(y + i, k, e);
        a0 = _mm512_mask_add_ps(a0, k, a0, e);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

void axle_rowvec512_scale(float *y, float s, size_t n)
{
    __m512 vs = _mm512_set1_ps(s);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(
            y + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + i), vs));
    }
}

void axle_rowvec512_addc(float *y, const float *x, float c, size_t n)
{
    __m512 vc = _mm512_set1_ps(c);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(
            y + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, x + i), vc));
    }
}

void axle_rowvec512_norm(float *y, const float *x, float mean, float inv,
                         const float *scale, const float *bias, size_t n)
{
    __m512 vm = _mm512_set1_ps(mean), vi = _mm512_set1_ps(inv);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(
            _mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm), vi);
        if (scale != NULL)
            v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, scale + i));
        if (bias != NULL)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, bias + i));
        _mm512_mask_storeu_ps(y + i, k, v);
    }
}

void axle_rowvec512_affine(float *y, const float *x, float s, float b,
                           size_t n)
{
    __m512 vs = _mm512_set1_ps(s), vb = _mm512_set1_ps(b);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_ps(y + i,
                         _mm512_fmadd_ps(_mm512_loadu_ps(x + i), vs, vb));
        _mm512_storeu_ps(y + i + 16,
                         _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), vs, vb));
    }
    for (; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(
            y + i, k, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + i), vs, vb));
    }
}

void axle_rowvec512_accum(enum axle_rowvec_acc op, float *acc, const float *x,
                          size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 a = _mm512_maskz_loadu_ps(k, acc + i);
        __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        switch (op) {
        case AXLE_ROWVEC_ADD: a = _mm512_add_ps(a, v); break;
        case AXLE_ROWVEC_MAX: a = _mm512_max_ps(a, v); break;
        case AXLE_ROWVEC_MIN: a = _mm512_min_ps(a, v); break;
        case AXLE_ROWVEC_SQ: a = _mm512_fmadd_ps(v, v, a); break;
        case AXLE_ROWVEC_MUL: a = _mm512_mul_ps(a, v); break;
        }
        _mm512_mask_storeu_ps(acc + i, k, a);
    }
}

void axle_rowvec512_expsub(float *y, const float *x, const float *m, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 v = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i),
                                 _mm512_maskz_loadu_ps(k, m + i));
        _mm512_mask_storeu_ps(y + i, k, exp512(v));
    }
}

void axle_rowvec512_mul(float *y, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, k,
                              _mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + i),
                                            _mm512_maskz_loadu_ps(k, a + i)));
    }
}

void axle_rowvec512_sub(float *y, const float *x, const float *c, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, k,
                              _mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i),
                                            _mm512_maskz_loadu_ps(k, c + i)));
    }
}
