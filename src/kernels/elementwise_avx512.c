/*
 * elementwise_avx512.c - AVX-512 float32 row kernels for the element-wise
 * family (compiled with -mavx512f/bw/dq/vl; called only when
 * axle_cpu_get()->isa is AVX512, see elementwise_f32.c).
 *
 * Every kernel handles the tail with a masked load/store, so a row of any
 * length is one pass. The math functions are written from their series:
 *   exp:  x = n*ln2 + r (Cody-Waite split of ln2), e^r by its Taylor series
 *         to r^7 (|r| <= ln2/2, truncation < 6e-9 relative), then scalef;
 *   log:  x = m*2^e with m in (sqrt(1/2), sqrt(2)], log m = 2 atanh(s),
 *         s = (m-1)/(m+1), series to s^11 (truncation < 2e-11);
 *   tanh: odd Taylor series below |x| = 0.3, else 1 - 2/(e^{2|x|}+1);
 *   erf:  odd Taylor series below |x| = 0.5, else Abramowitz & Stegun
 *         7.1.26 (absolute error <= 1.5e-7);
 *   expm1 (Elu, Selu): Taylor series below |x| = 0.35, else e^x - 1;
 *   log1p (Softplus): 2 atanh(u/(2+u)) series for u in [0, 1].
 * NaN propagates everywhere the reference (elementwise_f32.c) lets it.
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/elementwise.h"

static inline __mmask16 tail_mask(int64_t n)
{
    return (__mmask16)((1u << n) - 1u);
}

static inline __m512 c(float v) { return _mm512_set1_ps(v); }

/* ---- binary ---- */

static inline __m512 v_add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
static inline __m512 v_sub(__m512 a, __m512 b) { return _mm512_sub_ps(a, b); }
static inline __m512 v_mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
static inline __m512 v_div(__m512 a, __m512 b) { return _mm512_div_ps(a, b); }

/* minps/maxps return the second operand when either is NaN: patch the
 * lanes where the first one is NaN so NaN always wins (np.minimum). */
static inline __m512 v_min(__m512 a, __m512 b)
{
    __m512 r = _mm512_min_ps(a, b);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
}

static inline __m512 v_max(__m512 a, __m512 b)
{
    __m512 r = _mm512_max_ps(a, b);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
}

static inline __m512 v_prelu(__m512 a, __m512 b)
{
    __mmask16 neg = _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mul_ps(a, neg, a, b);
}

#define BIN_AVX(name, VOP)                                                    \
    static void name(float *o, const float *a, int64_t sa, const float *b,   \
                     int64_t sb, int64_t n)                                   \
    {                                                                         \
        int64_t i = 0;                                                        \
        __mmask16 m;                                                          \
        if (sa && sb) {                                                       \
            for (; i + 16 <= n; i += 16)                                      \
                _mm512_storeu_ps(o + i, VOP(_mm512_loadu_ps(a + i),           \
                                            _mm512_loadu_ps(b + i)));         \
            if (i < n) {                                                      \
                m = tail_mask(n - i);                                         \
                _mm512_mask_storeu_ps(                                        \
                    o + i, m,                                                 \
                    VOP(_mm512_maskz_loadu_ps(m, a + i),                      \
                        _mm512_maskz_loadu_ps(m, b + i)));                    \
            }                                                                 \
        } else if (sa) {                                                      \
            __m512 vb = _mm512_set1_ps(b[0]);                                 \
            for (; i + 16 <= n; i += 16)                                      \
                _mm512_storeu_ps(o + i, VOP(_mm512_loadu_ps(a + i), vb));     \
            if (i < n) {                                                      \
                m = tail_mask(n - i);                                         \
                _mm512_mask_storeu_ps(                                        \
                    o + i, m, VOP(_mm512_maskz_loadu_ps(m, a + i), vb));      \
            }                                                                 \
        } else {                                                              \
            __m512 va = _mm512_set1_ps(a[0]);                                 \
            if (!sb) {                                                        \
                /* both broadcast: one value */                               \
                float v = _mm512_cvtss_f32(VOP(va, _mm512_set1_ps(b[0])));    \
                for (; i < n; i++)                                            \
                    o[i] = v;                                                 \
                return;                                                       \
            }                                                                 \
            for (; i + 16 <= n; i += 16)                                      \
                _mm512_storeu_ps(o + i, VOP(va, _mm512_loadu_ps(b + i)));     \
            if (i < n) {                                                      \
                m = tail_mask(n - i);                                         \
                _mm512_mask_storeu_ps(                                        \
                    o + i, m, VOP(va, _mm512_maskz_loadu_ps(m, b + i)));      \
            }                                                                 \
        }                                                                     \
    }

BIN_AVX(avx_add, v_add)
BIN_AVX(avx_sub, v_sub)
BIN_AVX(avx_mul, v_mul)
BIN_AVX(avx_div, v_div)
BIN_AVX(avx_min, v_min)
BIN_AVX(avx_max, v_max)
BIN_AVX(avx_prelu, v_prelu)

/* ---- math ---- */

static inline __m512 v_exp(__m512 x)
{
    __m512 n, r, p;

    /* Constants first: max/min return their second operand on NaN. */
    x = _mm512_min_ps(c(89.0f), _mm512_max_ps(c(-104.0f), x));
    n = _mm512_roundscale_ps(_mm512_mul_ps(x, c(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_fnmadd_ps(n, c(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, c(-2.12194440e-4f), r);
    p = _mm512_fmadd_ps(c(1.0f / 5040.0f), r, c(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, c(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, c(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, c(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, c(0.5f));
    p = _mm512_fmadd_ps(p, r, c(1.0f));
    p = _mm512_fmadd_ps(p, r, c(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 2*atanh(s) = log((1+s)/(1-s)) by its odd series to s^(2*terms-1). */
static inline __m512 v_2atanh(__m512 s, int terms)
{
    __m512 s2 = _mm512_mul_ps(s, s);
    __m512 p = c(1.0f / (float)(2 * terms - 1));
    for (int k = terms - 2; k >= 1; k--)
        p = _mm512_fmadd_ps(p, s2, c(1.0f / (float)(2 * k + 1)));
    p = _mm512_mul_ps(p, s2);
    s = _mm512_add_ps(s, s);
    return _mm512_fmadd_ps(s, p, s);
}

static inline __m512 v_log(__m512 x)
{
    const __m512 zero = _mm512_setzero_ps();
    __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    __m512 e = _mm512_getexp_ps(x);
    __mmask16 big = _mm512_cmp_ps_mask(m, c(1.41421356f), _CMP_GT_OQ);
    __m512 s, r;

    m = _mm512_mask_mul_ps(m, big, m, c(0.5f));
    e = _mm512_mask_add_ps(e, big, e, c(1.0f));
    s = _mm512_div_ps(_mm512_sub_ps(m, c(1.0f)), _mm512_add_ps(m, c(1.0f)));
    r = v_2atanh(s, 6);
    r = _mm512_fmadd_ps(e, c(-2.12194440e-4f), r);
    r = _mm512_fmadd_ps(e, c(0.693359375f), r);
    /* log(0) = -inf, log(<0) = NaN, log(inf) = inf, NaN stays. */
    r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, zero, _CMP_EQ_OQ),
                           c(-__builtin_inff()));
    r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ),
                           c(__builtin_nanf("")));
    r = _mm512_mask_mov_ps(r,
                           _mm512_cmp_ps_mask(x, c(__builtin_inff()),
                                              _CMP_EQ_OQ), x);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

static inline __m512 v_abs(__m512 x) { return _mm512_abs_ps(x); }

static inline __m512 v_copysign(__m512 mag, __m512 sgn)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    __m512i r = _mm512_or_si512(_mm512_castps_si512(mag),
                                _mm512_and_si512(_mm512_castps_si512(sgn),
                                                 sign));
    return _mm512_castsi512_ps(r);
}

static inline __m512 v_tanh(__m512 x)
{
    __m512 ax = v_abs(x), x2 = _mm512_mul_ps(x, x);
    __m512 e = v_exp(_mm512_add_ps(ax, ax));
    __m512 tl = _mm512_sub_ps(c(1.0f),
                              _mm512_div_ps(c(2.0f),
                                            _mm512_add_ps(e, c(1.0f))));
    __m512 p = c(-1382.0f / 155925.0f);
    p = _mm512_fmadd_ps(p, x2, c(62.0f / 2835.0f));
    p = _mm512_fmadd_ps(p, x2, c(-17.0f / 315.0f));
    p = _mm512_fmadd_ps(p, x2, c(2.0f / 15.0f));
    p = _mm512_fmadd_ps(p, x2, c(-1.0f / 3.0f));
    p = _mm512_mul_ps(p, x2);
    __m512 ts = _mm512_fmadd_ps(ax, p, ax);
    __m512 r = _mm512_mask_mov_ps(
        tl, _mm512_cmp_ps_mask(ax, c(0.3f), _CMP_LT_OQ), ts);
    return v_copysign(r, x);
}

static inline __m512 v_sigmoid(__m512 x)
{
    __m512 e = v_exp(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(c(1.0f), _mm512_add_ps(c(1.0f), e));
}

static inline __m512 v_erf(__m512 x)
{
    __m512 ax = v_abs(x), x2 = _mm512_mul_ps(x, x);
    /* |x| < 0.5: 2/sqrt(pi) * sum (-1)^k x^(2k+1) / (k! (2k+1)) */
    __m512 p = c(1.0f / 9360.0f);
    p = _mm512_fmadd_ps(p, x2, c(-1.0f / 1320.0f));
    p = _mm512_fmadd_ps(p, x2, c(1.0f / 216.0f));
    p = _mm512_fmadd_ps(p, x2, c(-1.0f / 42.0f));
    p = _mm512_fmadd_ps(p, x2, c(1.0f / 10.0f));
    p = _mm512_fmadd_ps(p, x2, c(-1.0f / 3.0f));
    p = _mm512_fmadd_ps(p, x2, c(1.0f));
    __m512 small = _mm512_mul_ps(_mm512_mul_ps(p, ax),
                                 c(1.12837916709551257f));
    /* A&S 7.1.26 */
    __m512 t = _mm512_div_ps(c(1.0f), _mm512_fmadd_ps(c(0.3275911f), ax,
                                                      c(1.0f)));
    __m512 q = c(1.061405429f);
    q = _mm512_fmadd_ps(q, t, c(-1.453152027f));
    q = _mm512_fmadd_ps(q, t, c(1.421413741f));
    q = _mm512_fmadd_ps(q, t, c(-0.284496736f));
    q = _mm512_fmadd_ps(q, t, c(0.254829592f));
    q = _mm512_mul_ps(q, t);
    __m512 large = _mm512_fnmadd_ps(
        q, v_exp(_mm512_sub_ps(_mm512_setzero_ps(), x2)), c(1.0f));
    __m512 r = _mm512_mask_mov_ps(
        large, _mm512_cmp_ps_mask(ax, c(0.5f), _CMP_LT_OQ), small);
    /* NaN: the large branch gives 1 - NaN = NaN already. */
    return v_copysign(r, x);
}

static inline __m512 v_expm1(__m512 x)
{
    __m512 p = c(1.0f / 40320.0f);
    p = _mm512_fmadd_ps(p, x, c(1.0f / 5040.0f));
    p = _mm512_fmadd_ps(p, x, c(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, x, c(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, x, c(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, x, c(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, x, c(0.5f));
    p = _mm512_mul_ps(p, _mm512_mul_ps(x, x));
    __m512 small = _mm512_add_ps(x, p);
    __m512 large = _mm512_sub_ps(v_exp(x), c(1.0f));
    return _mm512_mask_mov_ps(
        large, _mm512_cmp_ps_mask(v_abs(x), c(0.35f), _CMP_LT_OQ), small);
}

/* ---- unary ---- */

struct vparams {
    __m512 alpha, beta, gamma;
};

static inline __m512 u_relu(__m512 x, const struct vparams *p)
{
    (void)p;
    return _mm512_max_ps(_mm512_setzero_ps(), x); /* NaN passes */
}

static inline __m512 u_leaky_relu(__m512 x, const struct vparams *p)
{
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mul_ps(x, neg, x, p->alpha);
}

static inline __m512 u_clip(__m512 x, const struct vparams *p)
{
    return _mm512_min_ps(p->beta, _mm512_max_ps(p->alpha, x));
}

static inline __m512 u_abs(__m512 x, const struct vparams *p)
{
    (void)p;
    return v_abs(x);
}

static inline __m512 u_neg(__m512 x, const struct vparams *p)
{
    (void)p;
    return _mm512_castsi512_ps(_mm512_xor_si512(
        _mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
}

static inline __m512 u_sqrt(__m512 x, const struct vparams *p)
{
    (void)p;
    return _mm512_sqrt_ps(x);
}

static inline __m512 u_reciprocal(__m512 x, const struct vparams *p)
{
    (void)p;
    return _mm512_div_ps(c(1.0f), x);
}

static inline __m512 u_exp(__m512 x, const struct vparams *p)
{
    (void)p;
    return v_exp(x);
}

static inline __m512 u_log(__m512 x, const struct vparams *p)
{
    (void)p;
    return v_log(x);
}

static inline __m512 u_tanh(__m512 x, const struct vparams *p)
{
    (void)p;
    return v_tanh(x);
}

static inline __m512 u_sigmoid(__m512 x, const struct vparams *p)
{
    (void)p;
    return v_sigmoid(x);
}

static inline __m512 u_erf(__m512 x, const struct vparams *p)
{
    (void)p;
    return v_erf(x);
}

static inline __m512 u_elu(__m512 x, const struct vparams *p)
{
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mul_ps(x, neg, p->alpha, v_expm1(x));
}

static inline __m512 u_selu(__m512 x, const struct vparams *p)
{
    __mmask16 le = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LE_OQ);
    __m512 r = _mm512_mask_mul_ps(x, le, p->alpha, v_expm1(x));
    return _mm512_mul_ps(r, p->gamma);
}

static inline __m512 u_hard_sigmoid(__m512 x, const struct vparams *p)
{
    __m512 v = _mm512_fmadd_ps(p->alpha, x, p->beta);
    return _mm512_max_ps(_mm512_setzero_ps(), _mm512_min_ps(c(1.0f), v));
}

static inline __m512 u_hard_swish(__m512 x, const struct vparams *p)
{
    (void)p;
    __m512 v = _mm512_fmadd_ps(x, c(1.0f / 6.0f), c(0.5f));
    v = _mm512_max_ps(_mm512_setzero_ps(), _mm512_min_ps(c(1.0f), v));
    return _mm512_mul_ps(x, v);
}

static inline __m512 u_softplus(__m512 x, const struct vparams *p)
{
    (void)p;
    /* max(x, 0) + log1p(exp(-|x|)); exp(-|x|) is in (0, 1]. */
    __m512 u = v_exp(_mm512_sub_ps(_mm512_setzero_ps(), v_abs(x)));
    __m512 s = _mm512_div_ps(u, _mm512_add_ps(c(2.0f), u));
    __m512 l = v_2atanh(s, 8);
    __m512 pos = _mm512_max_ps(_mm512_setzero_ps(), x); /* NaN passes */
    return _mm512_add_ps(pos, l);
}

#define UN_AVX(name, VF)                                                      \
    static void name(float *o, const float *x, int64_t n,                    \
                     const struct axle_ew_params *prm)                        \
    {                                                                         \
        struct vparams vp = {_mm512_set1_ps(prm->alpha),                      \
                             _mm512_set1_ps(prm->beta),                       \
                             _mm512_set1_ps(prm->gamma)};                     \
        int64_t i = 0;                                                        \
        for (; i + 16 <= n; i += 16)                                          \
            _mm512_storeu_ps(o + i, VF(_mm512_loadu_ps(x + i), &vp));         \
        if (i < n) {                                                          \
            __mmask16 m = tail_mask(n - i);                                   \
            _mm512_mask_storeu_ps(o + i, m,                                   \
                                  VF(_mm512_maskz_loadu_ps(m, x + i), &vp));  \
        }                                                                     \
    }

UN_AVX(avx_relu, u_relu)
UN_AVX(avx_leaky_relu, u_leaky_relu)
UN_AVX(avx_clip, u_clip)
UN_AVX(avx_abs, u_abs)
UN_AVX(avx_neg, u_neg)
UN_AVX(avx_sqrt, u_sqrt)
UN_AVX(avx_reciprocal, u_reciprocal)
UN_AVX(avx_exp, u_exp)
UN_AVX(avx_log, u_log)
UN_AVX(avx_tanh, u_tanh)
UN_AVX(avx_sigmoid, u_sigmoid)
UN_AVX(avx_erf, u_erf)
UN_AVX(avx_elu, u_elu)
UN_AVX(avx_selu, u_selu)
UN_AVX(avx_hard_sigmoid, u_hard_sigmoid)
UN_AVX(avx_hard_swish, u_hard_swish)
UN_AVX(avx_softplus, u_softplus)

void axle_ew_f32_avx512_fill(struct axle_ew_f32_ops *ops)
{
    ops->bin[AXLE_EW_ADD] = avx_add;
    ops->bin[AXLE_EW_SUB] = avx_sub;
    ops->bin[AXLE_EW_MUL] = avx_mul;
    ops->bin[AXLE_EW_DIV] = avx_div;
    ops->bin[AXLE_EW_MIN] = avx_min;
    ops->bin[AXLE_EW_MAX] = avx_max;
    ops->bin[AXLE_EW_PRELU] = avx_prelu;
    ops->un[AXLE_EW_RELU] = avx_relu;
    ops->un[AXLE_EW_LEAKY_RELU] = avx_leaky_relu;
    ops->un[AXLE_EW_CLIP] = avx_clip;
    ops->un[AXLE_EW_ABS] = avx_abs;
    ops->un[AXLE_EW_NEG] = avx_neg;
    ops->un[AXLE_EW_SQRT] = avx_sqrt;
    ops->un[AXLE_EW_RECIPROCAL] = avx_reciprocal;
    ops->un[AXLE_EW_EXP] = avx_exp;
    ops->un[AXLE_EW_LOG] = avx_log;
    ops->un[AXLE_EW_TANH] = avx_tanh;
    ops->un[AXLE_EW_SIGMOID] = avx_sigmoid;
    ops->un[AXLE_EW_ERF] = avx_erf;
    ops->un[AXLE_EW_ELU] = avx_elu;
    ops->un[AXLE_EW_SELU] = avx_selu;
    ops->un[AXLE_EW_HARD_SIGMOID] = avx_hard_sigmoid;
    ops->un[AXLE_EW_HARD_SWISH] = avx_hard_swish;
    ops->un[AXLE_EW_SOFTPLUS] = avx_softplus;
}
