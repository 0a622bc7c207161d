/*
 * elementwise_unary.c - one-input math and activations: Sqrt, Exp, Log,
 * Abs, Neg, Reciprocal, Erf, Tanh, Sigmoid, Relu, LeakyRelu, Elu, Selu,
 * HardSigmoid, HardSwish, Softplus, Clip, the trigonometric and hyperbolic
 * functions and their inverses (Sin..Atanh), Ceil, Floor, Round, Sign,
 * Celu, Softsign, ThresholdedRelu, Shrink, Mish and BitwiseNot.
 *
 * Attributes per ONNX version: LeakyRelu alpha (0.01), Elu alpha (1.0),
 * HardSigmoid alpha/beta (0.2/0.5), Selu alpha/gamma (opset 1 defaults
 * 1.6732/1.0507, from opset 6 1.67326319.../1.05070102...), Celu alpha
 * (1.0), ThresholdedRelu alpha (1.0), Shrink lambd/bias (0.5/0.0); the
 * opset 1-5 `consumed_inputs` attribute (Ceil/Floor-1 too) is ignored.
 * Clip-1 has optional min/max attributes (absent = unbounded), Clip-6
 * defaults them to -/+FLT_MAX and Clip-11+ takes them as optional scalar
 * inputs (integer types from 12). Softsign is x/(1+|x|) literally, so
 * +-inf gives NaN as in the reference.
 * float32 runs the row kernels of elementwise.h; integer Abs/Neg/Relu/Clip/
 * Sign/Ceil/Floor/Round are exact, other integer cases (outside most of
 * these ops' ONNX type lists, accepted anyway) go through double like numpy
 * would.
 * BitwiseNot-18 takes the integer types only (int8..uint64) and flips the
 * bits of each element's two's-complement pattern.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/tensor.h"
#include "kernels/elementwise.h"

struct un_ctx {
    enum axle_ew_un op;
    enum axle_dtype dt;
    const char *x;
    char *o;
    struct axle_ew_params p;
    double dlo, dhi;  /* Clip bounds for float64 */
    int64_t ilo, ihi; /* Clip bounds for integers */
    axle_ew_un_fn f32;
};

#define HALF_BLOCK 256

static int64_t int_un(const struct un_ctx *c, int64_t v, bool uns)
{
    switch (c->op) {
    case AXLE_EW_ABS:
        return uns || v >= 0 ? v : (int64_t)(0 - (uint64_t)v);
    case AXLE_EW_NEG: return (int64_t)(0 - (uint64_t)v);
    case AXLE_EW_RELU: return !uns && v < 0 ? 0 : v;
    case AXLE_EW_SIGN: return v == 0 ? 0 : !uns && v < 0 ? -1 : 1;
    case AXLE_EW_CLIP:
        if (uns) {
            v = (uint64_t)v < (uint64_t)c->ilo ? c->ilo : v;
            return (uint64_t)v > (uint64_t)c->ihi ? c->ihi : v;
        }
        v = v < c->ilo ? c->ilo : v;
        return v > c->ihi ? c->ihi : v;
    default: return v;
    }
}

static void un_chunk(void *arg, int64_t b, int64_t e, int tid)
{
    const struct un_ctx *c = arg;
    (void)tid;

    switch (c->dt) {
    case AXLE_DTYPE_FLOAT32:
        c->f32((float *)c->o + b, (const float *)c->x + b, e - b, &c->p);
        return;
    case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16: {
        float t[HALF_BLOCK];
        for (int64_t i = b; i < e; i += HALF_BLOCK) {
            int64_t m = e - i < HALF_BLOCK ? e - i : HALF_BLOCK;
            axle_ew_half_to_f32(c->dt, (const uint16_t *)c->x + i, t, m);
            c->f32(t, t, m, &c->p);
            axle_ew_f32_to_half(c->dt, t, (uint16_t *)c->o + i, m);
        }
        return;
    }
    case AXLE_DTYPE_FLOAT64: {
        const double *x = (const double *)c->x;
        double *o = (double *)c->o;
        if (c->op == AXLE_EW_CLIP) {
            for (int64_t i = b; i < e; i++) {
                double v = x[i] < c->dlo ? c->dlo : x[i];
                o[i] = v > c->dhi ? c->dhi : v;
            }
            return;
        }
        for (int64_t i = b; i < e; i++)
            o[i] = axle_ew_un_f64(c->op, x[i], &c->p);
        return;
    }
    default: {
        bool uns = !axle_dtype_is_signed_int(c->dt);
        /* Ceil/Floor/Round of an integer is the integer (int_un's
         * default), not a trip through double that loses int64 bits. */
        bool exact = c->op == AXLE_EW_ABS || c->op == AXLE_EW_NEG ||
                     c->op == AXLE_EW_RELU || c->op == AXLE_EW_CLIP ||
                     c->op == AXLE_EW_SIGN || c->op == AXLE_EW_CEIL ||
                     c->op == AXLE_EW_FLOOR || c->op == AXLE_EW_ROUND;
        for (int64_t i = b; i < e; i++) {
            if (exact) {
                int64_t v = axle_ew_ld_i(c->x, c->dt, i);
                axle_ew_st_i(c->o, c->dt, i, int_un(c, v, uns));
            } else {
                double v = axle_ew_ld_f(c->x, c->dt, i);
                axle_ew_st_f(c->o, c->dt, i, axle_ew_un_f64(c->op, v, &c->p));
            }
        }
        return;
    }
    }
}

static enum axle_status un_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];

    if (axle_ew_need_inputs(k, 1) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;

    if (x->dtype != AXLE_DTYPE_UNDEFINED && !axle_dtype_is_numeric(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: unsupported type %s", k->node->op_type,
                            axle_dtype_name(x->dtype));
    o->dtype = x->dtype;
    o->rank = x->rank;
    if (x->rank > 0)
        memcpy(o->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    return AXLE_OK;
}

static enum axle_status un_apply(struct axle_kctx *k, struct un_ctx *c)
{
    int64_t n = axle_tensor_numel(k->in[0]);
    bool cheap = c->op == AXLE_EW_RELU || c->op == AXLE_EW_LEAKY_RELU ||
                 c->op == AXLE_EW_CLIP || c->op == AXLE_EW_ABS ||
                 c->op == AXLE_EW_NEG || c->op == AXLE_EW_HARD_SIGMOID ||
                 c->op == AXLE_EW_HARD_SWISH || c->op == AXLE_EW_CEIL ||
                 c->op == AXLE_EW_FLOOR || c->op == AXLE_EW_ROUND ||
                 c->op == AXLE_EW_SIGN || c->op == AXLE_EW_SOFTSIGN ||
                 c->op == AXLE_EW_THRESHOLDED_RELU ||
                 c->op == AXLE_EW_SHRINK;

    if (n <= 0)
        return AXLE_OK;
    c->dt = k->in[0]->dtype;
    c->x = k->in[0]->data;
    c->o = k->out[0]->data;
    c->f32 = axle_ew_f32()->un[c->op];
    axle_pool_parallel_for(k->pool, n,
                           cheap ? AXLE_EW_GRAIN_CHEAP : AXLE_EW_GRAIN_MATH,
                           un_chunk, c);
    return AXLE_OK;
}

static enum axle_status un_run(struct axle_kctx *k, enum axle_ew_un op,
                               float alpha, float beta, float gamma)
{
    struct un_ctx c = {.op = op, .p = {alpha, beta, gamma}};
    return un_apply(k, &c);
}

#define ATTR(n, def) axle_node_attr_float(k->node, n, def)

static enum axle_status leaky_relu_run(struct axle_kctx *k)
{
    return un_run(k, AXLE_EW_LEAKY_RELU, ATTR("alpha", 0.01f), 0, 0);
}
static enum axle_status elu_run(struct axle_kctx *k)
{
    return un_run(k, AXLE_EW_ELU, ATTR("alpha", 1.0f), 0, 0);
}
static enum axle_status selu_run(struct axle_kctx *k)
{
    /* Selu-1 defaults were rounded; Selu-6 uses the paper's values. */
    float a = k->opset < 6 ? 1.6732f : 1.67326319217681884765625f;
    float g = k->opset < 6 ? 1.0507f : 1.05070102214813232421875f;
    return un_run(k, AXLE_EW_SELU, ATTR("alpha", a), 0, ATTR("gamma", g));
}
static enum axle_status hard_sigmoid_run(struct axle_kctx *k)
{
    return un_run(k, AXLE_EW_HARD_SIGMOID, ATTR("alpha", 0.2f),
                  ATTR("beta", 0.5f), 0);
}
static enum axle_status celu_run(struct axle_kctx *k)
{
    return un_run(k, AXLE_EW_CELU, ATTR("alpha", 1.0f), 0, 0);
}
static enum axle_status thresholded_relu_run(struct axle_kctx *k)
{
    return un_run(k, AXLE_EW_THRESHOLDED_RELU, ATTR("alpha", 1.0f), 0, 0);
}
static enum axle_status shrink_run(struct axle_kctx *k)
{
    return un_run(k, AXLE_EW_SHRINK, ATTR("lambd", 0.5f), ATTR("bias", 0.0f),
                  0);
}

#define UN_OP(sym, nm, rn)                                                    \
    const struct axle_op axle_op_##sym = {                                    \
        .name = nm, .domain = "", .min_inputs = 1, .max_inputs = 1,           \
        .min_outputs = 1, .max_outputs = 1, .infer = un_infer, .run = rn,     \
    }

/* Unary ops without attributes: the run function is generated. */
#define UN_OP_PLAIN(sym, nm, ew)                                              \
    static enum axle_status sym##_run(struct axle_kctx *k)                    \
    {                                                                         \
        return un_run(k, AXLE_EW_##ew, 0, 0, 0);                              \
    }                                                                         \
    UN_OP(sym, nm, sym##_run)

UN_OP_PLAIN(relu, "Relu", RELU);
UN_OP(leaky_relu, "LeakyRelu", leaky_relu_run);
UN_OP_PLAIN(abs, "Abs", ABS);
UN_OP_PLAIN(neg, "Neg", NEG);
UN_OP_PLAIN(sqrt, "Sqrt", SQRT);
UN_OP_PLAIN(reciprocal, "Reciprocal", RECIPROCAL);
UN_OP_PLAIN(exp, "Exp", EXP);
UN_OP_PLAIN(log, "Log", LOG);
UN_OP_PLAIN(tanh, "Tanh", TANH);
UN_OP_PLAIN(sigmoid, "Sigmoid", SIGMOID);
UN_OP_PLAIN(erf, "Erf", ERF);
UN_OP(elu, "Elu", elu_run);
UN_OP(selu, "Selu", selu_run);
UN_OP(hard_sigmoid, "HardSigmoid", hard_sigmoid_run);
UN_OP_PLAIN(hard_swish, "HardSwish", HARD_SWISH);
UN_OP_PLAIN(softplus, "Softplus", SOFTPLUS);
UN_OP_PLAIN(sin, "Sin", SIN);
UN_OP_PLAIN(cos, "Cos", COS);
UN_OP_PLAIN(tan, "Tan", TAN);
UN_OP_PLAIN(asin, "Asin", ASIN);
UN_OP_PLAIN(acos, "Acos", ACOS);
UN_OP_PLAIN(atan, "Atan", ATAN);
UN_OP_PLAIN(sinh, "Sinh", SINH);
UN_OP_PLAIN(cosh, "Cosh", COSH);
UN_OP_PLAIN(asinh, "Asinh", ASINH);
UN_OP_PLAIN(acosh, "Acosh", ACOSH);
UN_OP_PLAIN(atanh, "Atanh", ATANH);
UN_OP_PLAIN(ceil, "Ceil", CEIL);
UN_OP_PLAIN(floor, "Floor", FLOOR);
UN_OP_PLAIN(round, "Round", ROUND);
UN_OP_PLAIN(sign, "Sign", SIGN);
UN_OP(celu, "Celu", celu_run);
UN_OP_PLAIN(softsign, "Softsign", SOFTSIGN);
UN_OP(thresholded_relu, "ThresholdedRelu", thresholded_relu_run);
UN_OP(shrink, "Shrink", shrink_run);
UN_OP_PLAIN(mish, "Mish", MISH);

/* ---- Clip ---- */

static enum axle_status clip_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];

    if (axle_ew_need_inputs(k, 1) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;

    for (int j = 1; j < 3 && k->opset >= 11; j++) {
        const struct axle_tensor *b = AXLE_IN(k, j);
        if (b == NULL)
            continue;
        if (b->dtype != AXLE_DTYPE_UNDEFINED &&
            x->dtype != AXLE_DTYPE_UNDEFINED && b->dtype != x->dtype)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Clip: %s is %s but input is %s",
                                j == 1 ? "min" : "max",
                                axle_dtype_name(b->dtype),
                                axle_dtype_name(x->dtype));
        if (axle_shape_known(b) && axle_tensor_numel(b) != 1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Clip: %s must be a scalar, got %lld "
                                "elements", j == 1 ? "min" : "max",
                                (long long)axle_tensor_numel(b));
    }
    return un_infer(k);
}

static enum axle_status clip_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct un_ctx c = {.op = AXLE_EW_CLIP};
    bool is_int = axle_dtype_is_int(x->dtype);
    bool uns = is_int && !axle_dtype_is_signed_int(x->dtype);

    c.dlo = -INFINITY;
    c.dhi = INFINITY;
    c.ilo = uns ? 0 : INT64_MIN;
    c.ihi = uns ? (int64_t)UINT64_MAX : INT64_MAX;
    if (k->opset < 11) {
        const struct axle_attr *mn = axle_node_attr(k->node, "min");
        const struct axle_attr *mx = axle_node_attr(k->node, "max");
        if (mn != NULL)
            c.dlo = mn->f;
        else if (k->opset >= 6)
            c.dlo = -FLT_MAX;
        if (mx != NULL)
            c.dhi = mx->f;
        else if (k->opset >= 6)
            c.dhi = FLT_MAX;
    } else {
        for (int j = 1; j < 3; j++) {
            const struct axle_tensor *b = AXLE_IN(k, j);
            if (b == NULL)
                continue;
            if (axle_tensor_numel(b) != 1 || b->dtype != x->dtype)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Clip: %s must be a scalar of the "
                                    "input's type", j == 1 ? "min" : "max");
            if (is_int) {
                int64_t v = axle_ew_ld_i(b->data, b->dtype, 0);
                *(j == 1 ? &c.ilo : &c.ihi) = v;
            } else {
                *(j == 1 ? &c.dlo : &c.dhi) = axle_ew_ld_f(b->data, b->dtype,
                                                           0);
            }
        }
    }
    c.p.alpha = (float)c.dlo;
    c.p.beta = (float)c.dhi;
    return un_apply(k, &c);
}

const struct axle_op axle_op_clip = {
    .name = "Clip", .domain = "", .min_inputs = 1, .max_inputs = 3,
    .min_outputs = 1, .max_outputs = 1, .infer = clip_infer,
    .run = clip_run,
};

/* ---- BitwiseNot ---- */

struct not_ctx {
    size_t es;
    const char *x;
    char *o;
};

#define NOT_CHUNK(T)                                                          \
    {                                                                         \
        const T *x = (const T *)c->x;                                         \
        T *o = (T *)c->o;                                                     \
        for (int64_t i = b; i < e; i++)                                       \
            o[i] = (T)~x[i];                                                  \
        return;                                                               \
    }

static void not_chunk(void *arg, int64_t b, int64_t e, int tid)
{
    const struct not_ctx *c = arg;
    (void)tid;

    switch (c->es) {
    case 1: NOT_CHUNK(uint8_t)
    case 2: NOT_CHUNK(uint16_t)
    case 4: NOT_CHUNK(uint32_t)
    case 8: NOT_CHUNK(uint64_t)
    default: return;
    }
}

static enum axle_status bitwise_not_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];

    if (axle_ew_need_inputs(k, 1) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !axle_dtype_is_int(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "BitwiseNot: input is %s, expected an integer "
                            "type", axle_dtype_name(x->dtype));
    return un_infer(k);
}

static enum axle_status bitwise_not_run(struct axle_kctx *k)
{
    struct not_ctx c = {
        .es = axle_dtype_size(k->in[0]->dtype), .x = k->in[0]->data,
        .o = k->out[0]->data,
    };
    int64_t n = axle_tensor_numel(k->in[0]);

    if (n > 0)
        axle_pool_parallel_for(k->pool, n, AXLE_EW_GRAIN_CHEAP, not_chunk,
                               &c);
    return AXLE_OK;
}

const struct axle_op axle_op_bitwise_not = {
    .name = "BitwiseNot", .domain = "", .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1, .infer = bitwise_not_infer,
    .run = bitwise_not_run,
};
