/*
 * elementwise_binary.c - broadcasting arithmetic: Add, Sub, Mul, Div, Pow,
 * Mod, BitShift, BitwiseAnd/Or/Xor, PRelu and the variadic Sum, Mean, Min,
 * Max.
 *
 * ONNX semantics kept here:
 *   - Add/Sub/Mul/Div/Pow-1..6 carry `broadcast`/`axis` (B matched against a
 *     run of A's dims); from opset 7 numpy broadcasting (broadcast.c).
 *   - Integer Add/Sub/Mul wrap around; integer Div truncates toward zero
 *     and a zero divisor is AXLE_INVALID_ARGUMENT "division by zero".
 *   - Pow-12+ mixes base and exponent types; the result has the base's
 *     type. Integer ** non-negative integer is exact (wrapping), anything
 *     else is computed in double and converted.
 *   - PRelu-7+: slope broadcasts unidirectionally to X.
 *   - Mod-10/13: fmod=1 is C fmod, fmod=0 Python's % (the divisor's
 *     sign); integer Mod by zero is "division by zero", INT_MIN % -1 is 0.
 *   - BitShift-11 (uint8..uint64, direction LEFT/RIGHT): a shift by the
 *     width or more gives 0.
 *   - BitwiseAnd/Or/Xor-18 (int8..int64, uint8..uint64, numpy
 *     broadcasting): bit operations on the two's-complement patterns, so
 *     they run per element width; floats and bool are refused.
 *   - Sum/Mean/Min/Max-8+ broadcast all inputs (earlier versions required
 *     equal shapes, a special case). Min/Max propagate NaN like numpy.
 * float32 runs the row kernels of elementwise.h (AVX-512 when available);
 * float16/bfloat16 run them on converted blocks; the rest is generic.
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "ir/tensor.h"
#include "kernels/broadcast.h"
#include "kernels/elementwise.h"

enum axle_status axle_ew_bin_shape(struct axle_kctx *k, const char *op,
                                   bool mixed_ok, struct axle_tensor *b_adj,
                                   struct axle_tensor *out)
{
    const struct axle_tensor *a = AXLE_IN(k, 0), *b = AXLE_IN(k, 1);
    const struct axle_tensor *ins[2];
    enum axle_status st;

    if (a == NULL || b == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: expected 2 inputs", op);
    if (!mixed_ok && a->dtype != AXLE_DTYPE_UNDEFINED &&
        b->dtype != AXLE_DTYPE_UNDEFINED && a->dtype != b->dtype)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input 0 is %s but input 1 is %s", op,
                            axle_dtype_name(a->dtype),
                            axle_dtype_name(b->dtype));
    st = axle_bcast_legacy(k, a, b, b_adj);
    if (st != AXLE_OK)
        return st;
    ins[0] = a;
    ins[1] = b_adj;
    return axle_bcast_shape(op, 2, ins, out, k->err);
}

/* ---- row kernels ---- */

struct bin_ctx {
    enum axle_ew_bin op;
    enum axle_dtype dt, dt_b; /* dt: A and the output */
    char *o;
    const char *a, *b;
    size_t es, es_b;
    axle_ew_bin_fn f32;
    int div_zero;
};

#define HALF_BLOCK 256

static void half_row(const struct bin_ctx *c, int64_t oo, const int64_t *off,
                     const int64_t *step, int64_t len)
{
    float ta[HALF_BLOCK], tb[HALF_BLOCK], to[HALF_BLOCK];
    const uint16_t *a = (const uint16_t *)c->a, *b = (const uint16_t *)c->b;
    uint16_t *o = (uint16_t *)c->o;

    for (int64_t pos = 0; pos < len; pos += HALF_BLOCK) {
        int64_t m = len - pos < HALF_BLOCK ? len - pos : HALF_BLOCK;
        axle_ew_half_to_f32(c->dt, a + off[0] + pos * step[0], ta,
                            step[0] ? m : 1);
        axle_ew_half_to_f32(c->dt, b + off[1] + pos * step[1], tb,
                            step[1] ? m : 1);
        c->f32(to, ta, step[0], tb, step[1], m);
        axle_ew_f32_to_half(c->dt, to, o + oo + pos, m);
    }
}

static double f64_op(enum axle_ew_bin op, double x, double y)
{
    switch (op) {
    case AXLE_EW_ADD: return x + y;
    case AXLE_EW_SUB: return x - y;
    case AXLE_EW_MUL: return x * y;
    case AXLE_EW_DIV: return x / y;
    case AXLE_EW_MIN: return isnan(x) || isnan(y) ? x + y : (x < y ? x : y);
    case AXLE_EW_MAX: return isnan(x) || isnan(y) ? x + y : (x > y ? x : y);
    case AXLE_EW_PRELU: return x < 0.0 ? x * y : x;
    case AXLE_EW_POW: return pow(x, y);
    case AXLE_EW_FMOD: return fmod(x, y);
    case AXLE_EW_MOD: {
        double r = fmod(x, y);
        if (r == 0.0)
            return copysign(0.0, y);
        return (r < 0.0) != (y < 0.0) ? r + y : r;
    }
    case AXLE_EW_N_BIN: break;
    }
    return 0.0;
}

/* Exact integer power by squaring, wrapping like the C unsigned types. */
static int64_t ipow(int64_t x, int64_t y)
{
    uint64_t r = 1, b = (uint64_t)x;

    if (y < 0) /* |x| > 1 gives a fraction that truncates to 0 */
        return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;
    while (y > 0) {
        if (y & 1)
            r *= b;
        b *= b;
        y >>= 1;
    }
    return (int64_t)r;
}

static int64_t int_op(enum axle_ew_bin op, int64_t x, int64_t y, bool uns,
                      int *div_zero)
{
    switch (op) {
    case AXLE_EW_ADD: return (int64_t)((uint64_t)x + (uint64_t)y);
    case AXLE_EW_SUB: return (int64_t)((uint64_t)x - (uint64_t)y);
    case AXLE_EW_MUL: return (int64_t)((uint64_t)x * (uint64_t)y);
    case AXLE_EW_DIV:
        if (y == 0) {
            *div_zero = 1;
            return 0;
        }
        if (uns)
            return (int64_t)((uint64_t)x / (uint64_t)y);
        if (x == INT64_MIN && y == -1)
            return INT64_MIN;
        return x / y;
    case AXLE_EW_MIN:
        if (uns)
            return (uint64_t)x < (uint64_t)y ? x : y;
        return x < y ? x : y;
    case AXLE_EW_MAX:
        if (uns)
            return (uint64_t)x > (uint64_t)y ? x : y;
        return x > y ? x : y;
    case AXLE_EW_PRELU:
        return !uns && x < 0 ? (int64_t)((uint64_t)x * (uint64_t)y) : x;
    case AXLE_EW_POW: return ipow(x, y);
    case AXLE_EW_FMOD:
    case AXLE_EW_MOD: {
        int64_t r;
        if (y == 0) {
            *div_zero = 1;
            return 0;
        }
        if (uns)
            return (int64_t)((uint64_t)x % (uint64_t)y);
        if (y == -1) /* INT64_MIN % -1 traps on x86 */
            return 0;
        r = x % y; /* C: the dividend's sign */
        if (op == AXLE_EW_MOD && r != 0 && (r < 0) != (y < 0))
            r += y;
        return r;
    }
    case AXLE_EW_N_BIN: break;
    }
    return 0;
}

static void generic_row(struct bin_ctx *c, int64_t oo, const int64_t *off,
                        const int64_t *step, int64_t len)
{
    bool a_int = axle_dtype_is_int(c->dt), b_int = axle_dtype_is_int(c->dt_b);
    bool uns = a_int && !axle_dtype_is_signed_int(c->dt);
    int dz = 0;

    for (int64_t i = 0; i < len; i++) {
        int64_t ia = off[0] + i * step[0], ib = off[1] + i * step[1];
        if (a_int && b_int && (c->op != AXLE_EW_POW ||
                               axle_dtype_is_signed_int(c->dt_b) ||
                               axle_ew_ld_i(c->b, c->dt_b, ib) >= 0)) {
            int64_t x = axle_ew_ld_i(c->a, c->dt, ia);
            int64_t y = axle_ew_ld_i(c->b, c->dt_b, ib);
            axle_ew_st_i(c->o, c->dt, oo + i, int_op(c->op, x, y, uns, &dz));
        } else {
            double x = axle_ew_ld_f(c->a, c->dt, ia);
            double y = axle_ew_ld_f(c->b, c->dt_b, ib);
            axle_ew_st_f(c->o, c->dt, oo + i, f64_op(c->op, x, y));
        }
    }
    if (dz)
        __atomic_store_n(&c->div_zero, 1, __ATOMIC_RELAXED);
}

/* Typed fast loop for float64 (no per-element dtype switch). */
static void f64_row(struct bin_ctx *c, int64_t oo, const int64_t *off,
                    const int64_t *step, int64_t len)
{
    const double *a = (const double *)c->a + off[0];
    const double *b = (const double *)c->b + off[1];
    double *o = (double *)c->o + oo;
    int64_t sa = step[0], sb = step[1];

    switch (c->op) {
    case AXLE_EW_ADD:
        for (int64_t i = 0; i < len; i++)
            o[i] = a[i * sa] + b[i * sb];
        return;
    case AXLE_EW_SUB:
        for (int64_t i = 0; i < len; i++)
            o[i] = a[i * sa] - b[i * sb];
        return;
    case AXLE_EW_MUL:
        for (int64_t i = 0; i < len; i++)
            o[i] = a[i * sa] * b[i * sb];
        return;
    case AXLE_EW_DIV:
        for (int64_t i = 0; i < len; i++)
            o[i] = a[i * sa] / b[i * sb];
        return;
    default:
        for (int64_t i = 0; i < len; i++)
            o[i] = f64_op(c->op, a[i * sa], b[i * sb]);
        return;
    }
}

/* Typed loops for the integer types graphs compute shapes with. */
#define INT_ROW(name, T, UT)                                                  \
    static bool name(struct bin_ctx *c, int64_t oo, const int64_t *off,      \
                     const int64_t *step, int64_t len)                        \
    {                                                                         \
        const T *a = (const T *)c->a + off[0];                                \
        const T *b = (const T *)c->b + off[1];                                \
        T *o = (T *)c->o + oo;                                                \
        int64_t sa = step[0], sb = step[1];                                   \
        switch (c->op) {                                                      \
        case AXLE_EW_ADD:                                                     \
            for (int64_t i = 0; i < len; i++)                                 \
                o[i] = (T)((UT)a[i * sa] + (UT)b[i * sb]);                    \
            return true;                                                      \
        case AXLE_EW_SUB:                                                     \
            for (int64_t i = 0; i < len; i++)                                 \
                o[i] = (T)((UT)a[i * sa] - (UT)b[i * sb]);                    \
            return true;                                                      \
        case AXLE_EW_MUL:                                                     \
            for (int64_t i = 0; i < len; i++)                                 \
                o[i] = (T)((UT)a[i * sa] * (UT)b[i * sb]);                    \
            return true;                                                      \
        default:                                                              \
            return false;                                                     \
        }                                                                     \
    }

INT_ROW(i64_row, int64_t, uint64_t)
INT_ROW(i32_row, int32_t, uint32_t)

static void bin_row(void *arg, int64_t oo, const int64_t *off,
                    const int64_t *step, int64_t len)
{
    struct bin_ctx *c = arg;

    if (c->dt == c->dt_b) {
        switch (c->dt) {
        case AXLE_DTYPE_FLOAT32:
            c->f32((float *)c->o + oo, (const float *)c->a + off[0], step[0],
                   (const float *)c->b + off[1], step[1], len);
            return;
        case AXLE_DTYPE_FLOAT16:
        case AXLE_DTYPE_BFLOAT16:
            half_row(c, oo, off, step, len);
            return;
        case AXLE_DTYPE_FLOAT64:
            f64_row(c, oo, off, step, len);
            return;
        case AXLE_DTYPE_INT64:
            if (i64_row(c, oo, off, step, len))
                return;
            break;
        case AXLE_DTYPE_INT32:
            if (i32_row(c, oo, off, step, len))
                return;
            break;
        default:
            break;
        }
    }
    generic_row(c, oo, off, step, len);
}

/* out = a OP b (b already reshaped for legacy broadcasting). */
static enum axle_status bin_apply(struct axle_kctx *k, enum axle_ew_bin op,
                                  const struct axle_tensor *a,
                                  const struct axle_tensor *b,
                                  struct axle_tensor *out)
{
    const struct axle_tensor *ins[2] = {a, b};
    struct axle_bcast bc;
    struct bin_ctx c = {
        .op = op, .dt = a->dtype, .dt_b = b->dtype,
        .o = out->data, .a = a->data, .b = b->data,
        .f32 = axle_ew_f32()->bin[op],
    };
    bool cheap = op != AXLE_EW_POW && op != AXLE_EW_FMOD &&
                 op != AXLE_EW_MOD && axle_dtype_is_float(a->dtype);

    if (axle_tensor_numel(out) <= 0)
        return AXLE_OK;
    axle_bcast_init(&bc, out, 2, ins);
    axle_bcast_run(&bc, k->pool,
                   cheap ? AXLE_EW_GRAIN_CHEAP : AXLE_EW_GRAIN_MATH, bin_row,
                   &c);
    if (c.div_zero)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "division by zero");
    return AXLE_OK;
}

/* ---- Add, Sub, Mul, Div, Pow ---- */

static enum axle_status arith_check(struct axle_kctx *k, const char *op,
                                   int j)
{
    enum axle_dtype dt = k->in[j]->dtype;
    if (dt != AXLE_DTYPE_UNDEFINED && !axle_dtype_is_numeric(dt))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input %d has unsupported type %s", op, j,
                            axle_dtype_name(dt));
    return AXLE_OK;
}

static enum axle_status arith_infer_as(struct axle_kctx *k, bool mixed)
{
    const char *op = k->node->op_type;
    struct axle_tensor badj;
    enum axle_status st;

    st = axle_ew_bin_shape(k, op, mixed, &badj, k->out[0]);
    if (st == AXLE_OK)
        st = arith_check(k, op, 0);
    if (st == AXLE_OK)
        st = arith_check(k, op, 1);
    if (st != AXLE_OK)
        return st;
    k->out[0]->dtype = k->in[0]->dtype != AXLE_DTYPE_UNDEFINED || mixed
                           ? k->in[0]->dtype
                           : k->in[1]->dtype;
    return AXLE_OK;
}

static enum axle_status arith_infer(struct axle_kctx *k)
{
    return arith_infer_as(k, false);
}

static enum axle_status pow_infer(struct axle_kctx *k)
{
    return arith_infer_as(k, true);
}

static enum axle_status arith_run(struct axle_kctx *k, enum axle_ew_bin op)
{
    struct axle_tensor badj;
    enum axle_status st;

    st = axle_bcast_legacy(k, k->in[0], k->in[1], &badj);
    if (st != AXLE_OK)
        return st;
    return bin_apply(k, op, k->in[0], &badj, k->out[0]);
}

/* One run function per arithmetic op, generated. */
#define ARITH_RUN(sym, ew)                                                    \
    static enum axle_status sym##_run(struct axle_kctx *k)                    \
    {                                                                         \
        return arith_run(k, AXLE_EW_##ew);                                    \
    }

ARITH_RUN(add, ADD)
ARITH_RUN(sub, SUB)
ARITH_RUN(mul, MUL)
ARITH_RUN(div, DIV)
ARITH_RUN(pow, POW)

#define BIN_OP(sym, nm, inf, rn)                                              \
    const struct axle_op axle_op_##sym = {                                    \
        .name = nm, .domain = "", .min_inputs = 2, .max_inputs = 2,           \
        .min_outputs = 1, .max_outputs = 1, .infer = inf, .run = rn,          \
    }

BIN_OP(add, "Add", arith_infer, add_run);
BIN_OP(sub, "Sub", arith_infer, sub_run);
BIN_OP(mul, "Mul", arith_infer, mul_run);
BIN_OP(div, "Div", arith_infer, div_run);
BIN_OP(pow, "Pow", pow_infer, pow_run);

/* ---- Mod ---- */

static enum axle_status mod_fmod(struct axle_kctx *k, bool *fmod_on)
{
    int64_t f = axle_node_attr_int(k->node, "fmod", 0);

    if (f != 0 && f != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Mod: fmod must be 0 or 1, got %lld",
                            (long long)f);
    *fmod_on = f == 1;
    return AXLE_OK;
}

static enum axle_status mod_infer(struct axle_kctx *k)
{
    bool f = false;
    enum axle_status st = mod_fmod(k, &f);

    return st != AXLE_OK ? st : arith_infer_as(k, false);
}

/* Mod-10/13: fmod=1 is C fmod (dividend's sign) for every type; fmod=0 is
 * Python's % (divisor's sign). The spec asks fmod=1 for floats; fmod=0 on
 * floats is numpy's mod rather than an error. */
static enum axle_status mod_run(struct axle_kctx *k)
{
    bool f = false;
    enum axle_status st = mod_fmod(k, &f);

    if (st != AXLE_OK)
        return st;
    return arith_run(k, f ? AXLE_EW_FMOD : AXLE_EW_MOD);
}

BIN_OP(mod, "Mod", mod_infer, mod_run);

/* ---- BitShift ---- */

struct shift_ctx {
    bool left;
    enum axle_dtype dt;
    const char *a, *b;
    char *o;
};

/* Shifting by the width or more gives 0 (numpy's rule; C leaves it
 * undefined). Narrow types shift in 32 bits so nothing is promoted to a
 * signed int that could overflow. */
#define SHIFT_ROW(T, W, WT)                                                   \
    {                                                                         \
        const T *a = (const T *)c->a + off[0];                                \
        const T *b = (const T *)c->b + off[1];                                \
        T *o = (T *)c->o + oo;                                                \
        int64_t sa = step[0], sb = step[1];                                   \
        if (c->left) {                                                        \
            for (int64_t i = 0; i < len; i++) {                               \
                WT x = a[i * sa], y = b[i * sb];                              \
                o[i] = y >= (W) ? 0 : (T)(x << y);                            \
            }                                                                 \
        } else {                                                              \
            for (int64_t i = 0; i < len; i++) {                               \
                WT x = a[i * sa], y = b[i * sb];                              \
                o[i] = y >= (W) ? 0 : (T)(x >> y);                            \
            }                                                                 \
        }                                                                     \
        return;                                                               \
    }

static void shift_row(void *arg, int64_t oo, const int64_t *off,
                      const int64_t *step, int64_t len)
{
    const struct shift_ctx *c = arg;

    switch (c->dt) {
    case AXLE_DTYPE_UINT8: SHIFT_ROW(uint8_t, 8, uint32_t)
    case AXLE_DTYPE_UINT16: SHIFT_ROW(uint16_t, 16, uint32_t)
    case AXLE_DTYPE_UINT32: SHIFT_ROW(uint32_t, 32, uint32_t)
    case AXLE_DTYPE_UINT64: SHIFT_ROW(uint64_t, 64, uint64_t)
    default: return;
    }
}

static enum axle_status shift_dir(struct axle_kctx *k, bool *left)
{
    const char *d = axle_node_attr_str(k->node, "direction", NULL);

    if (d != NULL && strcmp(d, "LEFT") == 0)
        *left = true;
    else if (d != NULL && strcmp(d, "RIGHT") == 0)
        *left = false;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "BitShift: direction must be \"LEFT\" or "
                            "\"RIGHT\"");
    return AXLE_OK;
}

static enum axle_status shift_infer(struct axle_kctx *k)
{
    struct axle_tensor badj;
    enum axle_status st;
    bool left;

    st = shift_dir(k, &left);
    if (st == AXLE_OK)
        st = axle_ew_bin_shape(k, "BitShift", false, &badj, k->out[0]);
    if (st != AXLE_OK)
        return st;
    for (int j = 0; j < 2; j++) {
        enum axle_dtype dt = k->in[j]->dtype;
        if (dt != AXLE_DTYPE_UNDEFINED && dt != AXLE_DTYPE_UINT8 &&
            dt != AXLE_DTYPE_UINT16 && dt != AXLE_DTYPE_UINT32 &&
            dt != AXLE_DTYPE_UINT64)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "BitShift: input %d is %s, expected an "
                                "unsigned integer type", j,
                                axle_dtype_name(dt));
    }
    k->out[0]->dtype = k->in[0]->dtype != AXLE_DTYPE_UNDEFINED
                           ? k->in[0]->dtype
                           : k->in[1]->dtype;
    return AXLE_OK;
}

static enum axle_status shift_run(struct axle_kctx *k)
{
    const struct axle_tensor *ins[2] = {k->in[0], k->in[1]};
    struct axle_bcast bc;
    struct shift_ctx c = {
        .dt = k->in[0]->dtype, .a = k->in[0]->data, .b = k->in[1]->data,
        .o = k->out[0]->data,
    };
    enum axle_status st = shift_dir(k, &c.left);

    if (st != AXLE_OK)
        return st;
    if (axle_tensor_numel(k->out[0]) <= 0)
        return AXLE_OK;
    axle_bcast_init(&bc, k->out[0], 2, ins);
    axle_bcast_run(&bc, k->pool, AXLE_EW_GRAIN_CHEAP, shift_row, &c);
    return AXLE_OK;
}

BIN_OP(bit_shift, "BitShift", shift_infer, shift_run);

/* ---- BitwiseAnd, BitwiseOr, BitwiseXor ---- */

enum bitwise_op { BITWISE_AND, BITWISE_OR, BITWISE_XOR };

struct bitwise_ctx {
    enum bitwise_op op;
    size_t es;
    const char *a, *b;
    char *o;
};

#define BITWISE_ROW(T)                                                            {                                                                                 const T *a = (const T *)c->a + off[0];                                        const T *b = (const T *)c->b + off[1];                                        T *o = (T *)c->o + oo;                                                        int64_t sa = step[0], sb = step[1];                                           switch (c->op) {                                                              case BITWISE_AND:                                                                 for (int64_t i = 0; i < len; i++)                                                 o[i] = (T)(a[i * sa] & b[i * sb]);                                        break;                                                                    case BITWISE_OR:                                                                  for (int64_t i = 0; i < len; i++)                                                 o[i] = (T)(a[i * sa] | b[i * sb]);                                        break;                                                                    case BITWISE_XOR:                                                                 for (int64_t i = 0; i < len; i++)                                                 o[i] = (T)(a[i * sa] ^ b[i * sb]);                                        break;                                                                    }                                                                             return;                                                                   }

/* Signed and unsigned types of one width share a row: the bits are the
 * same either way. */
static void bitwise_row(void *arg, int64_t oo, const int64_t *off,
                        const int64_t *step, int64_t len)
{
    const struct bitwise_ctx *c = arg;

    switch (c->es) {
    case 1: BITWISE_ROW(uint8_t)
    case 2: BITWISE_ROW(uint16_t)
    case 4: BITWISE_ROW(uint32_t)
    case 8: BITWISE_ROW(uint64_t)
    default: return;
    }
}

static enum axle_status bitwise_infer(struct axle_kctx *k)
{
    const char *op = k->node->op_type;
    struct axle_tensor badj;
    enum axle_status st;

    st = axle_ew_bin_shape(k, op, false, &badj, k->out[0]);
    if (st != AXLE_OK)
        return st;
    for (int j = 0; j < 2; j++) {
        enum axle_dtype dt = k->in[j]->dtype;
        if (dt != AXLE_DTYPE_UNDEFINED && !axle_dtype_is_int(dt))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: input %d is %s, expected an integer "
                                "type", op, j, axle_dtype_name(dt));
    }
    k->out[0]->dtype = k->in[0]->dtype != AXLE_DTYPE_UNDEFINED
                           ? k->in[0]->dtype
                           : k->in[1]->dtype;
    return AXLE_OK;
}

static enum axle_status bitwise_run(struct axle_kctx *k, enum bitwise_op op)
{
    const struct axle_tensor *ins[2] = {k->in[0], k->in[1]};
    struct axle_bcast bc;
    struct bitwise_ctx c = {
        .op = op, .es = axle_dtype_size(k->in[0]->dtype),
        .a = k->in[0]->data, .b = k->in[1]->data, .o = k->out[0]->data,
    };

    if (axle_tensor_numel(k->out[0]) <= 0)
        return AXLE_OK;
    axle_bcast_init(&bc, k->out[0], 2, ins);
    axle_bcast_run(&bc, k->pool, AXLE_EW_GRAIN_CHEAP, bitwise_row, &c);
    return AXLE_OK;
}

static enum axle_status bitwise_and_run(struct axle_kctx *k)
{
    return bitwise_run(k, BITWISE_AND);
}
static enum axle_status bitwise_or_run(struct axle_kctx *k)
{
    return bitwise_run(k, BITWISE_OR);
}
static enum axle_status bitwise_xor_run(struct axle_kctx *k)
{
    return bitwise_run(k, BITWISE_XOR);
}

BIN_OP(bitwise_and, "BitwiseAnd", bitwise_infer, bitwise_and_run);
BIN_OP(bitwise_or, "BitwiseOr", bitwise_infer, bitwise_or_run);
BIN_OP(bitwise_xor, "BitwiseXor", bitwise_infer, bitwise_xor_run);

/* ---- PRelu ---- */

static enum axle_status prelu_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *s = AXLE_IN(k, 1);
    enum axle_status st;

    if (axle_ew_need_inputs(k, 1) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;

    if (s == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "PRelu: missing slope");
    if (x->dtype != AXLE_DTYPE_UNDEFINED && s->dtype != AXLE_DTYPE_UNDEFINED &&
        x->dtype != s->dtype)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "PRelu: X is %s but slope is %s",
                            axle_dtype_name(x->dtype),
                            axle_dtype_name(s->dtype));
    st = arith_check(k, "PRelu", 0);
    if (st != AXLE_OK)
        return st;
    st = axle_bcast_shape_to("PRelu", x, s, k->out[0], k->err);
    k->out[0]->dtype = x->dtype;
    return st;
}

static enum axle_status prelu_run(struct axle_kctx *k)
{
    return bin_apply(k, AXLE_EW_PRELU, k->in[0], k->in[1], k->out[0]);
}

const struct axle_op axle_op_prelu = {
    .name = "PRelu", .domain = "", .min_inputs = 2, .max_inputs = 2,
    .min_outputs = 1, .max_outputs = 1, .infer = prelu_infer,
    .run = prelu_run,
};

/* ---- Sum, Mean, Min, Max ---- */

static enum axle_status var_infer(struct axle_kctx *k)
{
    const char *op = k->node->op_type;
    enum axle_dtype dt = AXLE_DTYPE_UNDEFINED;
    int n = 0;

    for (int j = 0; j < k->n_inputs; j++) {
        const struct axle_tensor *t = k->in[j];
        if (t == NULL)
            continue;
        n++;
        if (t->dtype == AXLE_DTYPE_UNDEFINED)
            continue;
        if (!axle_dtype_is_numeric(t->dtype))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: input %d has unsupported type %s", op, j,
                                axle_dtype_name(t->dtype));
        if (dt != AXLE_DTYPE_UNDEFINED && t->dtype != dt)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: input %d is %s, expected %s", op, j,
                                axle_dtype_name(t->dtype),
                                axle_dtype_name(dt));
        dt = t->dtype;
    }
    if (n == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: needs at least one input", op);
    k->out[0]->dtype = dt;
    return axle_bcast_shape(op, k->n_inputs, k->in, k->out[0], k->err);
}

static void mean_scale(struct axle_tensor *out, int n)
{
    int64_t cnt = axle_tensor_numel(out);

    if (out->dtype == AXLE_DTYPE_FLOAT32) {
        float *o = out->data;
        for (int64_t i = 0; i < cnt; i++)
            o[i] /= (float)n;
    } else if (out->dtype == AXLE_DTYPE_FLOAT64) {
        double *o = out->data;
        for (int64_t i = 0; i < cnt; i++)
            o[i] /= (double)n;
    } else if (axle_dtype_is_float(out->dtype)) {
        for (int64_t i = 0; i < cnt; i++)
            axle_ew_st_f(out->data, out->dtype, i,
                         (float)axle_ew_ld_f(out->data, out->dtype, i) /
                             (float)n);
    } else {
        /* integer Mean (outside the spec's types): truncating division */
        for (int64_t i = 0; i < cnt; i++)
            axle_ew_st_i(out->data, out->dtype, i,
                         axle_ew_ld_i(out->data, out->dtype, i) / n);
    }
}

static enum axle_status var_run(struct axle_kctx *k, enum axle_ew_bin op,
                                bool mean)
{
    const struct axle_tensor *first = NULL;
    struct axle_tensor *out = k->out[0];
    enum axle_status st;
    int n = 0;

    for (int j = 0; j < k->n_inputs; j++) {
        const struct axle_tensor *t = k->in[j];
        if (t == NULL)
            continue;
        if (first == NULL) {
            first = t;
            n = 1;
            continue;
        }
        /* The first pair reads `first`, later ones accumulate in place. */
        st = bin_apply(k, op, n == 1 ? first : out, t, out);
        if (st != AXLE_OK)
            return st;
        n++;
    }
    if (n == 1) {
        int64_t nb = axle_tensor_nbytes(first);
        if (nb > 0 && out->data != first->data)
            memcpy(out->data, first->data, (size_t)nb);
    }
    if (mean && n > 1)
        mean_scale(out, n);
    return AXLE_OK;
}

static enum axle_status sum_run(struct axle_kctx *k)
{
    return var_run(k, AXLE_EW_ADD, false);
}
static enum axle_status mean_run(struct axle_kctx *k)
{
    return var_run(k, AXLE_EW_ADD, true);
}
static enum axle_status min_run(struct axle_kctx *k)
{
    return var_run(k, AXLE_EW_MIN, false);
}
static enum axle_status max_run(struct axle_kctx *k)
{
    return var_run(k, AXLE_EW_MAX, false);
}

#define VAR_OP(sym, nm, rn)                                                   \
    const struct axle_op axle_op_##sym = {                                    \
        .name = nm, .domain = "", .min_inputs = 1, .max_inputs = -1,          \
        .min_outputs = 1, .max_outputs = 1, .infer = var_infer, .run = rn,    \
    }

VAR_OP(sum, "Sum", sum_run);
VAR_OP(mean, "Mean", mean_run);
VAR_OP(min, "Min", min_run);
VAR_OP(max, "Max", max_run);
