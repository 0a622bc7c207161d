/*
 * elementwise_logic.c - comparisons, classification and boolean logic:
 * Equal, Less, Greater, GreaterOrEqual, LessOrEqual, And, Or, Xor, Not,
 * IsInf, IsNaN, Where.
 *
 * Equal/Less/Greater/And/Or/Xor-1 carry the legacy `broadcast`/`axis`
 * attributes (broadcast.c maps them), numpy broadcasting from opset 7;
 * GreaterOrEqual/LessOrEqual-12/16 broadcast like Greater/Less.
 * Comparisons produce bool; with a NaN operand they are false (IEEE). Equal
 * also accepts bool and string inputs (string from Equal-19, harmless
 * earlier). Where-9/16 broadcasts condition, X and Y together and copies
 * strings (the output owns its elements).
 */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/tensor.h"
#include "kernels/broadcast.h"
#include "kernels/elementwise.h"

enum cmp_op {
    CMP_EQ, CMP_LT, CMP_GT, CMP_GE, CMP_LE, LOG_AND, LOG_OR, LOG_XOR
};

struct cmp_ctx {
    enum cmp_op op;
    enum axle_dtype dt;
    const char *a, *b;
    uint8_t *o;
};

static void f32_cmp(const struct cmp_ctx *c, uint8_t *o, const float *a,
                    int64_t sa, const float *b, int64_t sb, int64_t n)
{
    switch (c->op) {
    case CMP_EQ:
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i * sa] == b[i * sb];
        return;
    case CMP_LT:
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i * sa] < b[i * sb];
        return;
    case CMP_GE:
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i * sa] >= b[i * sb];
        return;
    case CMP_LE:
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i * sa] <= b[i * sb];
        return;
    default:
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i * sa] > b[i * sb];
        return;
    }
}

/* op applied to a three-way comparison result r (<0, 0, >0). */
static bool cmp_result(enum cmp_op op, int r)
{
    switch (op) {
    case CMP_EQ: return r == 0;
    case CMP_LT: return r < 0;
    case CMP_GT: return r > 0;
    case CMP_GE: return r >= 0;
    default: return r <= 0;
    }
}

static void cmp_row(void *arg, int64_t oo, const int64_t *off,
                    const int64_t *step, int64_t len)
{
    const struct cmp_ctx *c = arg;
    uint8_t *o = c->o + oo;

    if (c->op == LOG_AND || c->op == LOG_OR || c->op == LOG_XOR) {
        const uint8_t *a = (const uint8_t *)c->a + off[0];
        const uint8_t *b = (const uint8_t *)c->b + off[1];
        for (int64_t i = 0; i < len; i++) {
            bool x = a[i * step[0]] != 0, y = b[i * step[1]] != 0;
            o[i] = c->op == LOG_AND ? (x && y)
                   : c->op == LOG_OR ? (x || y)
                                     : x != y;
        }
        return;
    }
    if (c->dt == AXLE_DTYPE_FLOAT32) {
        f32_cmp(c, o, (const float *)c->a + off[0], step[0],
                (const float *)c->b + off[1], step[1], len);
        return;
    }
    if (c->dt == AXLE_DTYPE_STRING) {
        char *const *a = (char *const *)c->a + off[0];
        char *const *b = (char *const *)c->b + off[1];
        for (int64_t i = 0; i < len; i++) {
            const char *x = a[i * step[0]] ? a[i * step[0]] : "";
            const char *y = b[i * step[1]] ? b[i * step[1]] : "";
            o[i] = cmp_result(c->op, strcmp(x, y));
        }
        return;
    }
    if (axle_dtype_is_int(c->dt) || c->dt == AXLE_DTYPE_BOOL) {
        bool uns = !axle_dtype_is_signed_int(c->dt);
        for (int64_t i = 0; i < len; i++) {
            int64_t x = axle_ew_ld_i(c->a, c->dt, off[0] + i * step[0]);
            int64_t y = axle_ew_ld_i(c->b, c->dt, off[1] + i * step[1]);
            int r = x == y ? 0
                    : (uns ? (uint64_t)x < (uint64_t)y : x < y) ? -1 : 1;
            o[i] = cmp_result(c->op, r);
        }
        return;
    }
    for (int64_t i = 0; i < len; i++) {
        double x = axle_ew_ld_f(c->a, c->dt, off[0] + i * step[0]);
        double y = axle_ew_ld_f(c->b, c->dt, off[1] + i * step[1]);
        /* spelled out: with NaN every ordered comparison is false */
        switch (c->op) {
        case CMP_EQ: o[i] = x == y; break;
        case CMP_LT: o[i] = x < y; break;
        case CMP_GT: o[i] = x > y; break;
        case CMP_GE: o[i] = x >= y; break;
        default: o[i] = x <= y; break;
        }
    }
}

static enum axle_status cmp_infer(struct axle_kctx *k, enum cmp_op op)
{
    const char *name = k->node->op_type;
    struct axle_tensor badj;
    enum axle_status st;

    st = axle_ew_bin_shape(k, name, false, &badj, k->out[0]);
    if (st != AXLE_OK)
        return st;
    for (int j = 0; j < 2; j++) {
        enum axle_dtype dt = k->in[j]->dtype;
        bool ok;
        if (dt == AXLE_DTYPE_UNDEFINED)
            continue;
        if (op == LOG_AND || op == LOG_OR || op == LOG_XOR)
            ok = dt == AXLE_DTYPE_BOOL;
        else if (op == CMP_EQ)
            ok = axle_dtype_is_numeric(dt) || dt == AXLE_DTYPE_BOOL ||
                 dt == AXLE_DTYPE_STRING;
        else
            ok = axle_dtype_is_numeric(dt);
        if (!ok)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: input %d has unsupported type %s", name,
                                j, axle_dtype_name(dt));
    }
    k->out[0]->dtype = AXLE_DTYPE_BOOL;
    return AXLE_OK;
}

static enum axle_status cmp_run(struct axle_kctx *k, enum cmp_op op)
{
    struct axle_tensor badj;
    const struct axle_tensor *ins[2];
    struct axle_bcast bc;
    struct cmp_ctx c;
    enum axle_status st;

    st = axle_bcast_legacy(k, k->in[0], k->in[1], &badj);
    if (st != AXLE_OK)
        return st;
    if (axle_tensor_numel(k->out[0]) <= 0)
        return AXLE_OK;
    ins[0] = k->in[0];
    ins[1] = &badj;
    c = (struct cmp_ctx){op, k->in[0]->dtype, k->in[0]->data, badj.data,
                         k->out[0]->data};
    axle_bcast_init(&bc, k->out[0], 2, ins);
    axle_bcast_run(&bc, k->pool, AXLE_EW_GRAIN_CHEAP, cmp_row, &c);
    return AXLE_OK;
}

#define CMP_OP(sym, nm, code)                                                 \
    static enum axle_status sym##_infer(struct axle_kctx *k)                  \
    {                                                                         \
        return cmp_infer(k, code);                                            \
    }                                                                         \
    static enum axle_status sym##_run(struct axle_kctx *k)                    \
    {                                                                         \
        return cmp_run(k, code);                                              \
    }                                                                         \
    const struct axle_op axle_op_##sym = {                                    \
        .name = nm, .domain = "", .min_inputs = 2, .max_inputs = 2,           \
        .min_outputs = 1, .max_outputs = 1, .infer = sym##_infer,             \
        .run = sym##_run,                                                     \
    }

CMP_OP(equal, "Equal", CMP_EQ);
CMP_OP(less, "Less", CMP_LT);
CMP_OP(greater, "Greater", CMP_GT);
CMP_OP(and, "And", LOG_AND);
CMP_OP(or, "Or", LOG_OR);
CMP_OP(xor, "Xor", LOG_XOR);
CMP_OP(greater_or_equal, "GreaterOrEqual", CMP_GE);
CMP_OP(less_or_equal, "LessOrEqual", CMP_LE);

/* ---- Not ---- */

static enum axle_status not_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];

    if (axle_ew_need_inputs(k, 1) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;

    if (x->dtype != AXLE_DTYPE_UNDEFINED && x->dtype != AXLE_DTYPE_BOOL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Not: input is %s, expected bool",
                            axle_dtype_name(x->dtype));
    o->dtype = AXLE_DTYPE_BOOL;
    o->rank = x->rank;
    if (x->rank > 0)
        memcpy(o->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    return AXLE_OK;
}

static enum axle_status not_run(struct axle_kctx *k)
{
    const uint8_t *x = k->in[0]->data;
    uint8_t *o = k->out[0]->data;
    int64_t n = axle_tensor_numel(k->in[0]);

    for (int64_t i = 0; i < n; i++)
        o[i] = x[i] == 0;
    return AXLE_OK;
}

const struct axle_op axle_op_not = {
    .name = "Not", .domain = "", .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1, .infer = not_infer, .run = not_run,
};

/* ---- IsInf, IsNaN ---- */

static enum axle_status classify_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];

    if (axle_ew_need_inputs(k, 1) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !axle_dtype_is_float(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input is %s, expected a float type",
                            k->node->op_type, axle_dtype_name(x->dtype));
    o->dtype = AXLE_DTYPE_BOOL;
    o->rank = x->rank;
    if (x->rank > 0)
        memcpy(o->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    return AXLE_OK;
}

/* IsInf-10: detect_negative / detect_positive (both default 1) pick which
 * infinities count; IsNaN-9/13. float32 and float64 have their own loops,
 * half types go through float (exact for inf and NaN). */
static enum axle_status classify_run(struct axle_kctx *k, bool nan, bool neg,
                                     bool pos)
{
    const struct axle_tensor *x = k->in[0];
    uint8_t *o = k->out[0]->data;
    int64_t n = axle_tensor_numel(x);

    if (x->dtype == AXLE_DTYPE_FLOAT32) {
        const float *v = x->data;
        if (nan) {
            for (int64_t i = 0; i < n; i++)
                o[i] = v[i] != v[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                o[i] = (neg && v[i] == -INFINITY) || (pos && v[i] == INFINITY);
        }
        return AXLE_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = x->dtype == AXLE_DTYPE_FLOAT64
                       ? ((const double *)x->data)[i]
                       : axle_ew_ld_f(x->data, x->dtype, i);
        o[i] = nan ? isnan(v)
                   : (neg && v == -INFINITY) || (pos && v == INFINITY);
    }
    return AXLE_OK;
}

static enum axle_status is_inf_run(struct axle_kctx *k)
{
    bool neg = axle_node_attr_int(k->node, "detect_negative", 1) != 0;
    bool pos = axle_node_attr_int(k->node, "detect_positive", 1) != 0;

    return classify_run(k, false, neg, pos);
}

static enum axle_status is_nan_run(struct axle_kctx *k)
{
    return classify_run(k, true, false, false);
}

const struct axle_op axle_op_is_inf = {
    .name = "IsInf", .domain = "", .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1, .infer = classify_infer,
    .run = is_inf_run,
};

const struct axle_op axle_op_is_nan = {
    .name = "IsNaN", .domain = "", .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1, .infer = classify_infer,
    .run = is_nan_run,
};

/* ---- Where ---- */

struct where_ctx {
    const uint8_t *cond;
    const char *x, *y;
    char *o;
    size_t es;
    bool strings;
    int oom;
};

static void where_row(void *arg, int64_t oo, const int64_t *off,
                      const int64_t *step, int64_t len)
{
    struct where_ctx *c = arg;
    const uint8_t *cd = c->cond + off[0];
    size_t es = c->es;

    if (c->strings) {
        char *const *x = (char *const *)c->x + off[1];
        char *const *y = (char *const *)c->y + off[2];
        char **o = (char **)c->o + oo;
        for (int64_t i = 0; i < len; i++) {
            const char *s = cd[i * step[0]] ? x[i * step[1]] : y[i * step[2]];
            size_t n = s ? strlen(s) : 0;
            o[i] = axle_try_malloc(n + 1);
            if (o[i] == NULL) {
                __atomic_store_n(&c->oom, 1, __ATOMIC_RELAXED);
                return;
            }
            if (n)
                memcpy(o[i], s, n);
            o[i][n] = '\0';
        }
        return;
    }
    if (es == 4) {
        const uint32_t *x = (const uint32_t *)c->x + off[1];
        const uint32_t *y = (const uint32_t *)c->y + off[2];
        uint32_t *o = (uint32_t *)c->o + oo;
        for (int64_t i = 0; i < len; i++)
            o[i] = cd[i * step[0]] ? x[i * step[1]] : y[i * step[2]];
        return;
    }
    for (int64_t i = 0; i < len; i++) {
        const char *src = cd[i * step[0]]
                              ? c->x + (size_t)(off[1] + i * step[1]) * es
                              : c->y + (size_t)(off[2] + i * step[2]) * es;
        memcpy(c->o + (size_t)(oo + i) * es, src, es);
    }
}

static enum axle_status where_infer(struct axle_kctx *k)
{
    const struct axle_tensor *cd = k->in[0], *x = k->in[1], *y = k->in[2];

    if (axle_ew_need_inputs(k, 3) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;

    if (cd->dtype != AXLE_DTYPE_UNDEFINED && cd->dtype != AXLE_DTYPE_BOOL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Where: condition is %s, expected bool",
                            axle_dtype_name(cd->dtype));
    if (x->dtype != AXLE_DTYPE_UNDEFINED && y->dtype != AXLE_DTYPE_UNDEFINED &&
        x->dtype != y->dtype)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Where: X is %s but Y is %s",
                            axle_dtype_name(x->dtype),
                            axle_dtype_name(y->dtype));
    k->out[0]->dtype = x->dtype ? x->dtype : y->dtype;
    return axle_bcast_shape("Where", 3, k->in, k->out[0], k->err);
}

static enum axle_status where_run(struct axle_kctx *k)
{
    struct axle_bcast bc;
    struct where_ctx c = {
        .cond = k->in[0]->data, .x = k->in[1]->data, .y = k->in[2]->data,
        .o = k->out[0]->data, .es = axle_dtype_size(k->in[1]->dtype),
        .strings = k->in[1]->dtype == AXLE_DTYPE_STRING,
    };

    if (axle_tensor_numel(k->out[0]) <= 0)
        return AXLE_OK;
    axle_bcast_init(&bc, k->out[0], 3, k->in);
    axle_bcast_run(&bc, c.strings ? NULL : k->pool, AXLE_EW_GRAIN_CHEAP,
                   where_row, &c);
    if (c.oom)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "Where: out of memory for strings");
    return AXLE_OK;
}

const struct axle_op axle_op_where = {
    .name = "Where", .domain = "", .min_inputs = 3, .max_inputs = 3,
    .min_outputs = 1, .max_outputs = 1, .infer = where_infer,
    .run = where_run,
};
