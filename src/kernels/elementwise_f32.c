/*
 * elementwise_f32.c - portable float32 row kernels (the reference the
 * vector versions are tested against), the per-CPU kernel table, scalar
 * double versions of the unary ops, and float16/bfloat16 block conversion.
 *
 * Semantics follow ONNX: Relu/Clip/HardSigmoid let NaN through (like numpy's
 * comparisons), Min/Max propagate NaN (np.minimum/np.maximum), Elu-6 is
 * alpha*(exp(x)-1) below 0, Selu-6 gamma*(alpha*(exp(x)-1)) at or below 0,
 * HardSwish-14 x*max(0, min(1, x/6 + 1/2)), Softplus-1 log(exp(x)+1),
 * Celu-12 max(0,x) + min(0, alpha*(exp(x/alpha)-1)), Softsign-1
 * x/(1+|x|), ThresholdedRelu-10 x > alpha ? x : 0 (NaN passes, like the
 * reference's np.clip), Shrink-9 (NaN gives 0 like the reference),
 * Mish-18 x*tanh(softplus(x)), Round-11 ties to even, Sign-13 (NaN passes),
 * Mod-13 as C fmod (fmod=1) or numpy mod (fmod=0, divisor's sign).
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "base/cpu.h"
#include "base/err.h"
#include "ir/tensor.h"
#include "kernels/elementwise.h"

/* ---- binary ---- */

static inline float f_add(float a, float b) { return a + b; }
static inline float f_sub(float a, float b) { return a - b; }
static inline float f_mul(float a, float b) { return a * b; }
static inline float f_div(float a, float b) { return a / b; }
static inline float f_min(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    return a < b ? a : b;
}
static inline float f_max(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    return a > b ? a : b;
}
static inline float f_prelu(float a, float b) { return a < 0.0f ? a * b : a; }
static inline float f_pow(float a, float b) { return powf(a, b); }
static inline float f_fmod(float a, float b) { return fmodf(a, b); }
/* numpy's mod: fmod moved into the divisor's sign; a zero keeps b's sign. */
static inline float f_mod(float a, float b)
{
    float r = fmodf(a, b);
    if (r == 0.0f)
        return copysignf(0.0f, b);
    return (r < 0.0f) != (b < 0.0f) ? r + b : r;
}

#define BIN_REF(name, F)                                                      \
    static void ref_##name(float *o, const float *a, int64_t sa,             \
                           const float *b, int64_t sb, int64_t n)            \
    {                                                                         \
        if (sa && sb) {                                                       \
            for (int64_t i = 0; i < n; i++)                                   \
                o[i] = F(a[i], b[i]);                                         \
        } else if (sa) {                                                      \
            float bv = b[0];                                                  \
            for (int64_t i = 0; i < n; i++)                                   \
                o[i] = F(a[i], bv);                                           \
        } else if (sb) {                                                      \
            float av = a[0];                                                  \
            for (int64_t i = 0; i < n; i++)                                   \
                o[i] = F(av, b[i]);                                           \
        } else {                                                              \
            float v = F(a[0], b[0]);                                          \
            for (int64_t i = 0; i < n; i++)                                   \
                o[i] = v;                                                     \
        }                                                                     \
    }

BIN_REF(add, f_add)
BIN_REF(sub, f_sub)
BIN_REF(mul, f_mul)
BIN_REF(div, f_div)
BIN_REF(min, f_min)
BIN_REF(max, f_max)
BIN_REF(prelu, f_prelu)
BIN_REF(pow_any, f_pow)
BIN_REF(fmod, f_fmod)
BIN_REF(mod, f_mod)

/* Pow with a scalar integral exponent of 1, 2 or 3 (LayerNorm exported as
 * Pow(x - mean, 2)) is exact as products and vectorizes; powf is ~20x
 * slower per element. */
static void ref_pow(float *o, const float *a, int64_t sa, const float *b,
                    int64_t sb, int64_t n)
{
    float e = b[0];

    if (sa && !sb && (e == 1.0f || e == 2.0f || e == 3.0f)) {
        if (e == 1.0f) {
            for (int64_t i = 0; i < n; i++)
                o[i] = a[i];
        } else if (e == 2.0f) {
            for (int64_t i = 0; i < n; i++)
                o[i] = a[i] * a[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                o[i] = a[i] * a[i] * a[i];
        }
        return;
    }
    ref_pow_any(o, a, sa, b, sb, n);
}

/* ---- unary ---- */

static inline float clamp01(float v)
{
    v = v > 1.0f ? 1.0f : v;
    return v < 0.0f ? 0.0f : v;
}

static inline float sigmoidf1(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static inline float softplusf1(float x)
{
    if (x > 0.0f)
        return x + log1pf(expf(-x));
    return log1pf(expf(x));
}

/* Rounding without libm calls so the loops vectorize on baseline x86-64
 * (floorf/ceilf/rintf need SSE4.1 to be inlined). Adding and removing 2^23
 * rounds to an integer in the current mode, to nearest with ties to even
 * (ONNX Round-11); |v| >= 2^23, inf and NaN are integral already and add
 * 0 instead. Floor and Ceil step from that by one where it overshot. Only
 * constants are selected: gcc sinks arithmetic into a select's arm, and a
 * conditional FP operation (it might trap) stops vectorization. The sign is
 * copied back so -0.5 rounds to -0 like the libm versions. */
#define TWO23 8388608.0f

static inline float roundf1(float v)
{
    float a = fabsf(v);
    float m = a < TWO23 ? TWO23 : 0.0f;
    return copysignf((a + m) - m, v);
}

static inline float floorf1(float v)
{
    float r = roundf1(v);
    return copysignf(r + (r > v ? -1.0f : 0.0f), v);
}

static inline float ceilf1(float v)
{
    float r = roundf1(v);
    return copysignf(r + (r < v ? 1.0f : 0.0f), v);
}

/* Shrink-9 as w + d with d selected (bias, -bias or -w: see above for why
 * not a select of sums); a NaN input gives 0 like the reference. */
static inline float shrinkf1(float v, float lambd, float bias)
{
    float w = v == v ? v : 0.0f;
    float d = w < -lambd ? bias : w > lambd ? -bias : -w;
    return w + d;
}

static inline float signf1(float v)
{
    return v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : v;
}

/* x * tanh(softplus(x)) with tanh(log1p(e)) = e(e+2) / (e(e+2) + 2), e =
 * exp(x); above 20 the factor is 1 in float, and when e underflows the
 * result is -0 (the limit at -inf, where the product form gives NaN). */
static inline float mishf1(float v)
{
    float e, r;

    if (v > 20.0f)
        return v;
    e = expf(v);
    r = e * (e + 2.0f);
    return e == 0.0f ? -0.0f : v * (r / (r + 2.0f));
}

#define UN_REF(name, EXPR)                                                    \
    static void ref_##name(float *o, const float *x, int64_t n,              \
                           const struct axle_ew_params *p)                    \
    {                                                                         \
        float alpha = p->alpha, beta = p->beta, gamma = p->gamma;             \
        (void)alpha;                                                          \
        (void)beta;                                                           \
        (void)gamma;                                                          \
        for (int64_t i = 0; i < n; i++) {                                     \
            float v = x[i];                                                   \
            o[i] = (EXPR);                                                    \
        }                                                                     \
    }

UN_REF(relu, v < 0.0f ? 0.0f : v)
UN_REF(leaky_relu, v >= 0.0f ? v : alpha * v)
UN_REF(clip, (v < alpha ? alpha : v) > beta ? beta : (v < alpha ? alpha : v))
UN_REF(abs, fabsf(v))
UN_REF(neg, -v)
UN_REF(sqrt, sqrtf(v))
UN_REF(reciprocal, 1.0f / v)
UN_REF(exp, expf(v))
UN_REF(log, logf(v))
UN_REF(tanh, tanhf(v))
UN_REF(sigmoid, sigmoidf1(v))
UN_REF(erf, erff(v))
UN_REF(elu, v < 0.0f ? alpha * expm1f(v) : v)
UN_REF(selu, v <= 0.0f ? gamma * (alpha * expm1f(v)) : gamma * v)
UN_REF(hard_sigmoid, clamp01(alpha * v + beta))
UN_REF(hard_swish, v * clamp01(v * (1.0f / 6.0f) + 0.5f))
UN_REF(softplus, softplusf1(v))
UN_REF(sin, sinf(v))
UN_REF(cos, cosf(v))
UN_REF(tan, tanf(v))
UN_REF(asin, asinf(v))
UN_REF(acos, acosf(v))
UN_REF(atan, atanf(v))
UN_REF(sinh, sinhf(v))
UN_REF(cosh, coshf(v))
UN_REF(asinh, asinhf(v))
UN_REF(acosh, acoshf(v))
UN_REF(atanh, atanhf(v))
UN_REF(ceil, ceilf1(v))
UN_REF(floor, floorf1(v))
UN_REF(round, roundf1(v))
UN_REF(sign, signf1(v))
UN_REF(celu, v > 0.0f ? v : alpha * expm1f(v / alpha))
UN_REF(softsign, v / (1.0f + fabsf(v)))
UN_REF(thresholded_relu, v <= alpha ? 0.0f : v)
UN_REF(shrink, shrinkf1(v, alpha, beta))
UN_REF(mish, mishf1(v))

static const struct axle_ew_f32_ops ref_ops = {
    .bin = {
        [AXLE_EW_ADD] = ref_add, [AXLE_EW_SUB] = ref_sub,
        [AXLE_EW_MUL] = ref_mul, [AXLE_EW_DIV] = ref_div,
        [AXLE_EW_MIN] = ref_min, [AXLE_EW_MAX] = ref_max,
        [AXLE_EW_PRELU] = ref_prelu, [AXLE_EW_POW] = ref_pow,
        [AXLE_EW_FMOD] = ref_fmod, [AXLE_EW_MOD] = ref_mod,
    },
    .un = {
        [AXLE_EW_RELU] = ref_relu, [AXLE_EW_LEAKY_RELU] = ref_leaky_relu,
        [AXLE_EW_CLIP] = ref_clip, [AXLE_EW_ABS] = ref_abs,
        [AXLE_EW_NEG] = ref_neg, [AXLE_EW_SQRT] = ref_sqrt,
        [AXLE_EW_RECIPROCAL] = ref_reciprocal, [AXLE_EW_EXP] = ref_exp,
        [AXLE_EW_LOG] = ref_log, [AXLE_EW_TANH] = ref_tanh,
        [AXLE_EW_SIGMOID] = ref_sigmoid, [AXLE_EW_ERF] = ref_erf,
        [AXLE_EW_ELU] = ref_elu, [AXLE_EW_SELU] = ref_selu,
        [AXLE_EW_HARD_SIGMOID] = ref_hard_sigmoid,
        [AXLE_EW_HARD_SWISH] = ref_hard_swish,
        [AXLE_EW_SOFTPLUS] = ref_softplus,
        [AXLE_EW_SIN] = ref_sin, [AXLE_EW_COS] = ref_cos,
        [AXLE_EW_TAN] = ref_tan, [AXLE_EW_ASIN] = ref_asin,
        [AXLE_EW_ACOS] = ref_acos, [AXLE_EW_ATAN] = ref_atan,
        [AXLE_EW_SINH] = ref_sinh, [AXLE_EW_COSH] = ref_cosh,
        [AXLE_EW_ASINH] = ref_asinh, [AXLE_EW_ACOSH] = ref_acosh,
        [AXLE_EW_ATANH] = ref_atanh, [AXLE_EW_CEIL] = ref_ceil,
        [AXLE_EW_FLOOR] = ref_floor, [AXLE_EW_ROUND] = ref_round,
        [AXLE_EW_SIGN] = ref_sign, [AXLE_EW_CELU] = ref_celu,
        [AXLE_EW_SOFTSIGN] = ref_softsign,
        [AXLE_EW_THRESHOLDED_RELU] = ref_thresholded_relu,
        [AXLE_EW_SHRINK] = ref_shrink, [AXLE_EW_MISH] = ref_mish,
    },
};

const struct axle_ew_f32_ops *axle_ew_f32_ref(void) { return &ref_ops; }

static struct axle_ew_f32_ops cpu_ops;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void pick_ops(void)
{
    struct axle_ew_f32_ops v;

    cpu_ops = ref_ops;
    if (axle_cpu_get()->isa < AXLE_ISA_AVX512)
        return;
    memset(&v, 0, sizeof(v));
    axle_ew_f32_avx512_fill(&v);
    for (int i = 0; i < AXLE_EW_N_BIN; i++)
        if (v.bin[i] != NULL)
            cpu_ops.bin[i] = v.bin[i];
    for (int i = 0; i < AXLE_EW_N_UN; i++)
        if (v.un[i] != NULL)
            cpu_ops.un[i] = v.un[i];
}

const struct axle_ew_f32_ops *axle_ew_f32(void)
{
    pthread_once(&cpu_once, pick_ops);
    return &cpu_ops;
}

/* ---- double ---- */

double axle_ew_un_f64(enum axle_ew_un op, double x,
                      const struct axle_ew_params *p)
{
    double a = p->alpha, b = p->beta, g = p->gamma, v;

    switch (op) {
    case AXLE_EW_RELU: return x < 0.0 ? 0.0 : x;
    case AXLE_EW_LEAKY_RELU: return x >= 0.0 ? x : a * x;
    case AXLE_EW_CLIP:
        x = x < a ? a : x;
        return x > b ? b : x;
    case AXLE_EW_ABS: return fabs(x);
    case AXLE_EW_NEG: return -x;
    case AXLE_EW_SQRT: return sqrt(x);
    case AXLE_EW_RECIPROCAL: return 1.0 / x;
    case AXLE_EW_EXP: return exp(x);
    case AXLE_EW_LOG: return log(x);
    case AXLE_EW_TANH: return tanh(x);
    case AXLE_EW_SIGMOID:
        if (x >= 0.0)
            return 1.0 / (1.0 + exp(-x));
        v = exp(x);
        return v / (1.0 + v);
    case AXLE_EW_ERF: return erf(x);
    case AXLE_EW_ELU: return x < 0.0 ? a * expm1(x) : x;
    case AXLE_EW_SELU: return x <= 0.0 ? g * (a * expm1(x)) : g * x;
    case AXLE_EW_HARD_SIGMOID:
        v = a * x + b;
        v = v > 1.0 ? 1.0 : v;
        return v < 0.0 ? 0.0 : v;
    case AXLE_EW_HARD_SWISH:
        v = x / 6.0 + 0.5;
        v = v > 1.0 ? 1.0 : v;
        return x * (v < 0.0 ? 0.0 : v);
    case AXLE_EW_SOFTPLUS:
        return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case AXLE_EW_SIN: return sin(x);
    case AXLE_EW_COS: return cos(x);
    case AXLE_EW_TAN: return tan(x);
    case AXLE_EW_ASIN: return asin(x);
    case AXLE_EW_ACOS: return acos(x);
    case AXLE_EW_ATAN: return atan(x);
    case AXLE_EW_SINH: return sinh(x);
    case AXLE_EW_COSH: return cosh(x);
    case AXLE_EW_ASINH: return asinh(x);
    case AXLE_EW_ACOSH: return acosh(x);
    case AXLE_EW_ATANH: return atanh(x);
    case AXLE_EW_CEIL: return ceil(x);
    case AXLE_EW_FLOOR: return floor(x);
    case AXLE_EW_ROUND: return nearbyint(x); /* default mode: ties to even */
    case AXLE_EW_SIGN: return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x;
    case AXLE_EW_CELU: return x > 0.0 ? x : a * expm1(x / a);
    case AXLE_EW_SOFTSIGN: return x / (1.0 + fabs(x));
    case AXLE_EW_THRESHOLDED_RELU: return x <= a ? 0.0 : x;
    case AXLE_EW_SHRINK: return x < -a ? x + b : x > a ? x - b : 0.0;
    case AXLE_EW_MISH:
        if (x > 40.0)
            return x;
        v = exp(x);
        if (v == 0.0)
            return -0.0;
        v = v * (v + 2.0);
        return x * (v / (v + 2.0));
    case AXLE_EW_N_UN: break;
    }
    return x;
}

/* ---- half ---- */

void axle_ew_half_to_f32(enum axle_dtype dt, const uint16_t *x, float *o,
                         int64_t n)
{
    if (dt == AXLE_DTYPE_BFLOAT16) {
        for (int64_t i = 0; i < n; i++)
            o[i] = axle_bf16_to_f32(x[i]);
    } else {
        for (int64_t i = 0; i < n; i++)
            o[i] = axle_f16_to_f32(x[i]);
    }
}

void axle_ew_f32_to_half(enum axle_dtype dt, const float *x, uint16_t *o,
                         int64_t n)
{
    if (dt == AXLE_DTYPE_BFLOAT16) {
        for (int64_t i = 0; i < n; i++)
            o[i] = axle_f32_to_bf16(x[i]);
    } else {
        for (int64_t i = 0; i < n; i++)
            o[i] = axle_f32_to_f16(x[i]);
    }
}

/* ---- generic element access ---- */

double axle_ew_ld_f(const void *p, enum axle_dtype dt, int64_t i)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: return ((const float *)p)[i];
    case AXLE_DTYPE_FLOAT64: return ((const double *)p)[i];
    case AXLE_DTYPE_FLOAT16: return axle_f16_to_f32(((const uint16_t *)p)[i]);
    case AXLE_DTYPE_BFLOAT16:
        return axle_bf16_to_f32(((const uint16_t *)p)[i]);
    case AXLE_DTYPE_UINT64: return (double)((const uint64_t *)p)[i];
    default: return (double)axle_ew_ld_i(p, dt, i);
    }
}

/* double -> integer without undefined behaviour: NaN gives 0, out-of-range
 * values saturate at the 64-bit limits and then wrap to the width. */
static int64_t f64_to_i64(double v, bool is_unsigned)
{
    if (isnan(v))
        return 0;
    if (is_unsigned && v >= 9223372036854775808.0) {
        if (v >= 18446744073709551616.0)
            return (int64_t)UINT64_MAX;
        return (int64_t)(uint64_t)v;
    }
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

void axle_ew_st_f(void *p, enum axle_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: ((float *)p)[i] = (float)v; break;
    case AXLE_DTYPE_FLOAT64: ((double *)p)[i] = v; break;
    case AXLE_DTYPE_FLOAT16:
        ((uint16_t *)p)[i] = axle_f32_to_f16((float)v);
        break;
    case AXLE_DTYPE_BFLOAT16:
        ((uint16_t *)p)[i] = axle_f32_to_bf16((float)v);
        break;
    case AXLE_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    default:
        axle_ew_st_i(p, dt, i,
                     f64_to_i64(v, dt == AXLE_DTYPE_UINT8 ||
                                       dt == AXLE_DTYPE_UINT16 ||
                                       dt == AXLE_DTYPE_UINT32 ||
                                       dt == AXLE_DTYPE_UINT64));
        break;
    }
}

enum axle_status axle_ew_need_inputs(struct axle_kctx *k, int n)
{
    for (int j = 0; j < n; j++)
        if (j >= k->n_inputs || k->in[j] == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: input %d is required",
                                k->node->op_type, j);
    for (int j = 0; j < k->n_outputs; j++)
        if (k->out[j] != NULL)
            return AXLE_OK;
    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT, "%s: no output",
                        k->node->op_type);
}
