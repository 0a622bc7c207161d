/*
 * reduce.c - ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd,
 * ReduceL2, ArgMax and ArgMin.
 *
 * Axes come from the `axes` attribute, or from the optional second input
 * for ReduceSum-13 and every Reduce* from 18. Empty/absent axes reduce all
 * dims unless noop_with_empty_axes = 1 (then the input passes through).
 * Reducing a zero-sized dim gives the op's identity (0, 1, -inf/type min,
 * +inf/type max; Mean over nothing is NaN, or 0 for integers).
 *
 * The shape is canonicalized first: size-1 dims dropped, neighbouring kept
 * or reduced dims merged. float32 then runs on rowvec.h primitives, either
 * reducing contiguous rows into scalars (innermost dim reduced) or adding
 * whole rows into output rows (innermost dim kept), split over k->pool.
 * Other types take a per-element path with double accumulation for floats
 * and wrapping 64-bit accumulation for integers (the result truncated to
 * the type, as numpy's reference does).
 *
 * ArgMax/ArgMin (1, 11, 12, 13): axis, keepdims, select_last_index; ties
 * go to the first (or last) index; a NaN wins over numbers, like numpy.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/normred_util.h"
#include "kernels/rowvec.h"

enum red_kind { RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_PROD, RED_L2 };

struct red_desc {
    const char *name;
    enum red_kind kind;
    int axes_input_opset; /* axes become an input from this opset */
};

static const struct red_desc RED_SUM_D = {"ReduceSum", RED_SUM, 13};
static const struct red_desc RED_MEAN_D = {"ReduceMean", RED_MEAN, 18};
static const struct red_desc RED_MAX_D = {"ReduceMax", RED_MAX, 18};
static const struct red_desc RED_MIN_D = {"ReduceMin", RED_MIN, 18};
static const struct red_desc RED_PROD_D = {"ReduceProd", RED_PROD, 18};
static const struct red_desc RED_L2_D = {"ReduceL2", RED_L2, 18};

/* ---- axes ------------------------------------------------------------ */

struct red_axes {
    bool mask[AXLE_MAX_RANK];
    bool known; /* false: axes input not available yet (load time) */
    bool noop;  /* identity */
};

static enum axle_status red_axes_get(struct axle_kctx *k,
                                     const struct red_desc *d, int rank,
                                     struct red_axes *ax)
{
    int64_t buf[AXLE_MAX_RANK];
    const int64_t *axes = NULL;
    int n = 0;
    bool noop = axle_node_attr_int(k->node, "noop_with_empty_axes", 0) != 0;

    memset(ax, 0, sizeof(*ax));
    ax->known = true;
    if (k->opset >= d->axes_input_opset) {
        const struct axle_tensor *t = AXLE_IN(k, 1);
        if (t != NULL) {
            if (t->dtype != AXLE_DTYPE_INT64 &&
                t->dtype != AXLE_DTYPE_UNDEFINED)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: axes must be int64, got %s", d->name,
                                    axle_dtype_name(t->dtype));
            if (t->rank > 1)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: axes must be 1-D, got rank %d",
                                    d->name, t->rank);
            int64_t cnt = axle_tensor_numel(t);
            if (t->data == NULL || cnt < 0) {
                ax->known = false;
                return AXLE_OK;
            }
            if (cnt > AXLE_MAX_RANK || (rank >= 0 && cnt > rank))
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: %lld axes for rank %d", d->name,
                                    (long long)cnt, rank);
            for (int64_t i = 0; i < cnt; i++)
                buf[i] = ((const int64_t *)t->data)[i];
            axes = buf;
            n = (int)cnt;
        }
    } else {
        axes = axle_node_attr_ints(k->node, "axes", &n);
    }
    if (n == 0) {
        ax->noop = noop;
        if (rank > 0 && !noop)
            for (int i = 0; i < rank; i++)
                ax->mask[i] = true;
        return AXLE_OK;
    }
    if (rank < 0) {
        ax->known = false;
        return AXLE_OK;
    }
    for (int i = 0; i < n; i++) {
        int64_t a = axes[i];
        if (a < -(int64_t)rank || a >= rank)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: axis %lld is out of range for rank %d",
                                d->name, (long long)a, rank);
        if (a < 0)
            a += rank;
        if (ax->mask[a])
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: axis %lld is repeated", d->name,
                                (long long)axes[i]);
        ax->mask[a] = true;
    }
    return AXLE_OK;
}

static enum axle_status red_infer(struct axle_kctx *k,
                                  const struct red_desc *d)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];
    bool keep = axle_node_attr_int(k->node, "keepdims", 1) != 0;
    struct red_axes ax;

    if (x->dtype == AXLE_DTYPE_STRING)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: string input is not supported", d->name);
    enum axle_status st = red_axes_get(k, d, x->rank, &ax);
    if (st != AXLE_OK || o == NULL)
        return st;
    o->dtype = x->dtype;
    if (x->rank < 0) {
        o->rank = -1;
        return AXLE_OK;
    }
    if (ax.noop) {
        nr_copy_shape(o, x);
        return AXLE_OK;
    }
    if (!ax.known) {
        o->rank = keep ? x->rank : -1;
        for (int i = 0; i < x->rank && keep; i++)
            o->dims[i] = x->dims[i] == 1 ? 1 : AXLE_DIM_UNKNOWN;
        return AXLE_OK;
    }
    o->rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!ax.mask[i])
            o->dims[o->rank++] = x->dims[i];
        else if (keep)
            o->dims[o->rank++] = 1;
    }
    return AXLE_OK;
}

/* ---- canonical shape ------------------------------------------------ */

struct red_shape {
    int m;                       /* merged dims */
    int64_t size[AXLE_MAX_RANK]; /* sizes, outermost first */
    bool red[AXLE_MAX_RANK];
    int64_t stride[AXLE_MAX_RANK]; /* input strides */
    int64_t O, R;                /* outputs, reduced count */
};

static void red_canon(const struct axle_tensor *x, const struct red_axes *ax,
                      struct red_shape *s)
{
    memset(s, 0, sizeof(*s));
    s->O = 1;
    s->R = 1;
    for (int i = 0; i < x->rank; i++) {
        int64_t n = x->dims[i];
        if (ax->mask[i])
            s->R *= n;
        else
            s->O *= n;
        if (n == 1)
            continue;
        if (s->m > 0 && s->red[s->m - 1] == ax->mask[i]) {
            s->size[s->m - 1] *= n;
            continue;
        }
        s->size[s->m] = n;
        s->red[s->m] = ax->mask[i];
        s->m++;
    }
    int64_t st = 1;
    for (int i = s->m - 1; i >= 0; i--) {
        s->stride[i] = st;
        st *= s->size[i];
    }
}

/* Input offset of kept-coordinate index o (row-major over kept dims,
 * skipping the innermost `skip_last` merged dims). */
static int64_t kept_offset(const struct red_shape *s, int64_t o, int end)
{
    int64_t off = 0;
    for (int i = end - 1; i >= 0; i--) {
        if (s->red[i])
            continue;
        off += (o % s->size[i]) * s->stride[i];
        o /= s->size[i];
    }
    return off;
}

static int64_t red_offset(const struct red_shape *s, int64_t r, int end)
{
    int64_t off = 0;
    for (int i = end - 1; i >= 0; i--) {
        if (!s->red[i])
            continue;
        off += (r % s->size[i]) * s->stride[i];
        r /= s->size[i];
    }
    return off;
}

/* ---- float32 -------------------------------------------------------- */

struct red_job {
    const struct red_shape *s;
    enum red_kind kind;
    const float *x;
    float *y;
    int64_t L;        /* innermost merged size */
    int64_t n_chunks; /* kept-inner case: column chunks per output row */
};

#define COLS 1024

static float row_reduce(enum red_kind kind, const float *x, int64_t n)
{
    switch (kind) {
    case RED_SUM:
    case RED_MEAN: return axle_rowvec_sum(x, (size_t)n);
    case RED_MAX: return axle_rowvec_max(x, (size_t)n);
    case RED_MIN: return axle_rowvec_min(x, (size_t)n);
    case RED_PROD: return axle_rowvec_prod(x, (size_t)n);
    case RED_L2: return axle_rowvec_sumsq(x, (size_t)n);
    }
    return 0;
}

static float combine(enum red_kind kind, float a, float b)
{
    switch (kind) {
    case RED_MAX: return b > a ? b : a;
    case RED_MIN: return b < a ? b : a;
    case RED_PROD: return a * b;
    default: return a + b;
    }
}

static float identity_f(enum red_kind kind)
{
    switch (kind) {
    case RED_MAX: return -INFINITY;
    case RED_MIN: return INFINITY;
    case RED_PROD: return 1.0f;
    default: return 0.0f;
    }
}

static float finish_f(enum red_kind kind, float v, int64_t R)
{
    if (kind == RED_MEAN)
        return v / (float)R;
    if (kind == RED_L2)
        return sqrtf(v);
    return v;
}

/* Innermost dim reduced: each output is a set of rows of L. */
static void red_rows_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct red_job *j = ctx;
    const struct red_shape *s = j->s;
    int64_t n_rows = s->R / j->L;
    for (int64_t o = b; o < e; o++) {
        const float *base = j->x + kept_offset(s, o, s->m);
        float acc = identity_f(j->kind);
        for (int64_t r = 0; r < n_rows; r++) {
            const float *row = base + red_offset(s, r, s->m - 1);
            acc = combine(j->kind, acc, row_reduce(j->kind, row, j->L));
        }
        j->y[o] = finish_f(j->kind, acc, s->R);
    }
}

static enum axle_rowvec_acc acc_op(enum red_kind kind)
{
    switch (kind) {
    case RED_MAX: return AXLE_ROWVEC_MAX;
    case RED_MIN: return AXLE_ROWVEC_MIN;
    case RED_PROD: return AXLE_ROWVEC_MUL;
    case RED_L2: return AXLE_ROWVEC_SQ;
    default: return AXLE_ROWVEC_ADD;
    }
}

/* Innermost dim kept: rows of L are accumulated into output rows. */
static void red_cols_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct red_job *j = ctx;
    const struct red_shape *s = j->s;
    enum axle_rowvec_acc op = acc_op(j->kind);
    for (int64_t t = b; t < e; t++) {
        int64_t q = t / j->n_chunks, c0 = (t % j->n_chunks) * COLS;
        int64_t w = j->L - c0 < COLS ? j->L - c0 : COLS;
        const float *base = j->x + kept_offset(s, q, s->m - 1) + c0;
        float *y = j->y + q * j->L + c0;
        float id = identity_f(j->kind);
        for (int64_t i = 0; i < w; i++)
            y[i] = id;
        for (int64_t r = 0; r < s->R; r++)
            axle_rowvec_accum(op, y, base + red_offset(s, r, s->m - 1),
                              (size_t)w);
        if (j->kind == RED_MEAN)
            axle_rowvec_scale(y, 1.0f / (float)s->R, (size_t)w);
        else if (j->kind == RED_L2)
            for (int64_t i = 0; i < w; i++)
                y[i] = sqrtf(y[i]);
    }
}

static void red_f32(struct axle_pool *pool, const struct red_shape *s,
                    enum red_kind kind, const float *x, float *y)
{
    struct red_job j = {.s = s, .kind = kind, .x = x, .y = y};

    if (s->m == 0 || !s->red[s->m - 1]) {
        j.L = s->m == 0 ? 1 : s->size[s->m - 1];
        j.n_chunks = (j.L + COLS - 1) / COLS;
        int64_t w = j.L < COLS ? j.L : COLS;
        axle_pool_parallel_for(pool, (s->O / j.L) * j.n_chunks,
                               nr_grain(s->R * w), red_cols_task, &j);
        return;
    }
    j.L = s->size[s->m - 1];
    axle_pool_parallel_for(pool, s->O, nr_grain(s->R), red_rows_task, &j);
}

/* ---- other types ---------------------------------------------------- */

static bool is_unsigned(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_UINT8 || dt == AXLE_DTYPE_UINT16 ||
           dt == AXLE_DTYPE_UINT32 || dt == AXLE_DTYPE_UINT64 ||
           dt == AXLE_DTYPE_BOOL;
}

static int64_t int_min(enum axle_dtype dt)
{
    switch (dt) {
    case AXLE_DTYPE_INT8: return INT8_MIN;
    case AXLE_DTYPE_INT16: return INT16_MIN;
    case AXLE_DTYPE_INT32: return INT32_MIN;
    case AXLE_DTYPE_INT64: return INT64_MIN;
    default: return 0;
    }
}

static uint64_t int_max(enum axle_dtype dt)
{
    switch (dt) {
    case AXLE_DTYPE_INT8: return INT8_MAX;
    case AXLE_DTYPE_INT16: return INT16_MAX;
    case AXLE_DTYPE_INT32: return INT32_MAX;
    case AXLE_DTYPE_INT64: return INT64_MAX;
    case AXLE_DTYPE_UINT8: return UINT8_MAX;
    case AXLE_DTYPE_BOOL: return 1;
    case AXLE_DTYPE_UINT16: return UINT16_MAX;
    case AXLE_DTYPE_UINT32: return UINT32_MAX;
    default: return UINT64_MAX;
    }
}

static void store_f64(struct axle_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case AXLE_DTYPE_FLOAT32: ((float *)t->data)[i] = (float)v; break;
    case AXLE_DTYPE_FLOAT64: ((double *)t->data)[i] = v; break;
    case AXLE_DTYPE_FLOAT16:
        ((uint16_t *)t->data)[i] = axle_f32_to_f16((float)v);
        break;
    case AXLE_DTYPE_BFLOAT16:
        ((uint16_t *)t->data)[i] = axle_f32_to_bf16((float)v);
        break;
    default: break;
    }
}

/* Stores the low bits of v (two's complement wrap, like a C cast). */
static void store_u64(struct axle_tensor *t, int64_t i, uint64_t v)
{
    switch (t->dtype) {
    case AXLE_DTYPE_INT8:
    case AXLE_DTYPE_UINT8:
        ((uint8_t *)t->data)[i] = (uint8_t)v;
        break;
    case AXLE_DTYPE_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    case AXLE_DTYPE_INT16:
    case AXLE_DTYPE_UINT16:
        ((uint16_t *)t->data)[i] = (uint16_t)v;
        break;
    case AXLE_DTYPE_INT32:
    case AXLE_DTYPE_UINT32:
        ((uint32_t *)t->data)[i] = (uint32_t)v;
        break;
    default: ((uint64_t *)t->data)[i] = v; break;
    }
}

static double to_int_trunc(double v)
{
    return isnan(v) ? 0 : v;
}

static uint64_t double_to_u64(double v, bool uns)
{
    v = to_int_trunc(v);
    if (uns)
        return v <= 0 ? 0 : v >= 1.8446744073709552e19 ? UINT64_MAX
                                                        : (uint64_t)v;
    if (v <= -9.2233720368547758e18)
        return (uint64_t)INT64_MIN;
    if (v >= 9.2233720368547758e18)
        return (uint64_t)INT64_MAX;
    return (uint64_t)(int64_t)v;
}

static void red_generic_float(const struct axle_tensor *x,
                              struct axle_tensor *y, const struct red_shape *s,
                              enum red_kind kind)
{
    for (int64_t o = 0; o < s->O; o++) {
        int64_t base = kept_offset(s, o, s->m);
        double acc = kind == RED_MAX ? -INFINITY : kind == RED_MIN ? INFINITY
                     : kind == RED_PROD ? 1.0 : 0.0;
        for (int64_t r = 0; r < s->R; r++) {
            double v = axle_tensor_get_f64(x, base + red_offset(s, r, s->m));
            switch (kind) {
            case RED_MAX: acc = v > acc ? v : acc; break;
            case RED_MIN: acc = v < acc ? v : acc; break;
            case RED_PROD: acc *= v; break;
            case RED_L2: acc += v * v; break;
            default: acc += v; break;
            }
        }
        if (kind == RED_MEAN)
            acc /= (double)s->R;
        else if (kind == RED_L2)
            acc = sqrt(acc);
        store_f64(y, o, acc);
    }
}

static void red_generic_int(const struct axle_tensor *x, struct axle_tensor *y,
                            const struct red_shape *s, enum red_kind kind)
{
    bool uns = is_unsigned(x->dtype);
    for (int64_t o = 0; o < s->O; o++) {
        int64_t base = kept_offset(s, o, s->m);
        uint64_t acc = kind == RED_MAX ? (uint64_t)int_min(x->dtype)
                       : kind == RED_MIN ? int_max(x->dtype)
                       : kind == RED_PROD ? 1 : 0;
        double sq = 0;
        for (int64_t r = 0; r < s->R; r++) {
            uint64_t v = (uint64_t)axle_tensor_get_i64(
                x, base + red_offset(s, r, s->m));
            bool gt = uns ? v > acc : (int64_t)v > (int64_t)acc;
            bool lt = uns ? v < acc : (int64_t)v < (int64_t)acc;
            switch (kind) {
            case RED_MAX: acc = gt ? v : acc; break;
            case RED_MIN: acc = lt ? v : acc; break;
            case RED_PROD: acc *= v; break;
            case RED_L2: {
                double d = uns ? (double)v : (double)(int64_t)v;
                sq += d * d;
                break;
            }
            default: acc += v; break;
            }
        }
        if (kind == RED_MEAN) {
            if (s->R == 0)
                acc = 0;
            else if (uns)
                acc /= (uint64_t)s->R;
            else
                acc = (uint64_t)((int64_t)acc / s->R);
        } else if (kind == RED_L2) {
            acc = double_to_u64(sqrt(sq), uns);
        }
        store_u64(y, o, acc);
    }
}

static enum axle_status red_run(struct axle_kctx *k, const struct red_desc *d)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    struct red_axes ax;
    struct red_shape s;

    if (y == NULL)
        return AXLE_OK;
    enum axle_status st = red_axes_get(k, d, x->rank, &ax);
    if (st != AXLE_OK)
        return st;
    if (ax.noop) {
        int64_t nb = axle_tensor_nbytes(x);
        if (nb > 0)
            memcpy(y->data, x->data, (size_t)nb);
        return AXLE_OK;
    }
    red_canon(x, &ax, &s);
    if (s.O == 0)
        return AXLE_OK;
    if (x->dtype == AXLE_DTYPE_FLOAT32) {
        if (s.R == 0) {
            float v = finish_f(d->kind, identity_f(d->kind), 0);
            for (int64_t i = 0; i < s.O; i++)
                ((float *)y->data)[i] = v;
            return AXLE_OK;
        }
        red_f32(k->pool, &s, d->kind, x->data, y->data);
        return AXLE_OK;
    }
    if (nr_is_float(x->dtype))
        red_generic_float(x, y, &s, d->kind);
    else
        red_generic_int(x, y, &s, d->kind);
    return AXLE_OK;
}

#define RED_OP(sym, desc, opname)                                           \
    static enum axle_status sym##_infer(struct axle_kctx *k)                \
    {                                                                       \
        return red_infer(k, &desc);                                         \
    }                                                                       \
    static enum axle_status sym##_run(struct axle_kctx *k)                  \
    {                                                                       \
        return red_run(k, &desc);                                           \
    }                                                                       \
    const struct axle_op axle_op_##sym = {                                  \
        .name = opname, .domain = "",                                       \
        .min_inputs = 1, .max_inputs = 2, .min_outputs = 1,                 \
        .max_outputs = 1, .infer = sym##_infer, .run = sym##_run,           \
    };

RED_OP(reduce_sum, RED_SUM_D, "ReduceSum")
RED_OP(reduce_mean, RED_MEAN_D, "ReduceMean")
RED_OP(reduce_max, RED_MAX_D, "ReduceMax")
RED_OP(reduce_min, RED_MIN_D, "ReduceMin")
RED_OP(reduce_prod, RED_PROD_D, "ReduceProd")
RED_OP(reduce_l2, RED_L2_D, "ReduceL2")

/* ---- ArgMax / ArgMin ----------------------------------------------- */

static enum axle_status arg_infer_impl(struct axle_kctx *k, const char *name)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];
    bool keep = axle_node_attr_int(k->node, "keepdims", 1) != 0;
    int axis = 0;

    if (x->dtype == AXLE_DTYPE_STRING || x->dtype == AXLE_DTYPE_BOOL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input type %s is not supported", name,
                            axle_dtype_name(x->dtype));
    enum axle_status st = nr_axis(k, name,
                                  axle_node_attr_int(k->node, "axis", 0),
                                  x->rank, false, &axis);
    if (st != AXLE_OK || o == NULL)
        return st;
    o->dtype = AXLE_DTYPE_INT64;
    if (x->rank < 0) {
        o->rank = -1;
        return AXLE_OK;
    }
    o->rank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            o->dims[o->rank++] = x->dims[i];
        else if (keep)
            o->dims[o->rank++] = 1;
    }
    return AXLE_OK;
}

/* best[] holds the running extreme per inner position; out[] its index. */
#define ARG_IMPL(NAME, T, ISNAN)                                            \
    static void NAME(const T *x, int64_t *out, T *best, int64_t outer,      \
                     int64_t n, int64_t inner, bool is_max, bool last)      \
    {                                                                       \
        for (int64_t o = 0; o < outer; o++) {                               \
            const T *xo = x + o * n * inner;                                \
            int64_t *io = out + o * inner;                                  \
            for (int64_t i = 0; i < inner; i++) {                           \
                best[i] = xo[i];                                            \
                io[i] = 0;                                                  \
            }                                                               \
            for (int64_t j = 1; j < n; j++) {                               \
                const T *row = xo + j * inner;                              \
                for (int64_t i = 0; i < inner; i++) {                       \
                    T v = row[i], b = best[i];                              \
                    bool take;                                              \
                    if (ISNAN(b))                                           \
                        take = last && ISNAN(v);                            \
                    else if (ISNAN(v))                                      \
                        take = true;                                        \
                    else if (last)                                          \
                        take = is_max ? v >= b : v <= b;                    \
                    else                                                    \
                        take = is_max ? v > b : v < b;                      \
                    if (take) {                                             \
                        best[i] = v;                                        \
                        io[i] = j;                                          \
                    }                                                       \
                }                                                           \
            }                                                               \
        }                                                                   \
    }

#define NAN_F(v) isnan(v)
#define NAN_NO(v) false

ARG_IMPL(arg_f32, float, NAN_F)
ARG_IMPL(arg_f64, double, NAN_F)
ARG_IMPL(arg_i8, int8_t, NAN_NO)
ARG_IMPL(arg_u8, uint8_t, NAN_NO)
ARG_IMPL(arg_i16, int16_t, NAN_NO)
ARG_IMPL(arg_u16, uint16_t, NAN_NO)
ARG_IMPL(arg_i32, int32_t, NAN_NO)
ARG_IMPL(arg_u32, uint32_t, NAN_NO)
ARG_IMPL(arg_i64, int64_t, NAN_NO)
ARG_IMPL(arg_u64, uint64_t, NAN_NO)

static enum axle_status arg_run_impl(struct axle_kctx *k, const char *name,
                                     bool is_max)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    bool last = axle_node_attr_int(k->node, "select_last_index", 0) != 0;
    int axis = 0;

    enum axle_status st = nr_axis(k, name,
                                  axle_node_attr_int(k->node, "axis", 0),
                                  x->rank, false, &axis);
    if (st != AXLE_OK || y == NULL)
        return st;
    int64_t outer = nr_prod(x->dims, 0, axis), n = x->dims[axis];
    int64_t inner = nr_prod(x->dims, axis + 1, x->rank);
    if (outer * inner == 0)
        return AXLE_OK;
    if (n == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: axis %d has size 0", name, axis);
    size_t es = axle_dtype_size(x->dtype);
    bool half = x->dtype == AXLE_DTYPE_FLOAT16 ||
                x->dtype == AXLE_DTYPE_BFLOAT16;
    size_t nb = (size_t)inner * (half ? sizeof(float) : es) +
                (half ? (size_t)(outer * n * inner) * sizeof(float) : 0);
    void *best = axle_kctx_scratch(k, nb);
    if (best == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: no scratch memory", name);
    int64_t *out = y->data;
    const void *xd = x->data;
    switch (x->dtype) {
    case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16: {
        float *xf = (float *)best + inner;
        nr_to_f32(xf, xd, x->dtype, (size_t)(outer * n * inner));
        arg_f32(xf, out, best, outer, n, inner, is_max, last);
        break;
    }
    case AXLE_DTYPE_FLOAT32:
        arg_f32(xd, out, best, outer, n, inner, is_max, last);
        break;
    case AXLE_DTYPE_FLOAT64:
        arg_f64(xd, out, best, outer, n, inner, is_max, last);
        break;
    case AXLE_DTYPE_INT8:
        arg_i8(xd, out, best, outer, n, inner, is_max, last);
        break;
    case AXLE_DTYPE_UINT8:
        arg_u8(xd, out, best, outer, n, inner, is_max, last);
        break;
    case AXLE_DTYPE_INT16:
        arg_i16(xd, out, best, outer, n, inner, is_max, last);
        break;
    case AXLE_DTYPE_UINT16:
        arg_u16(xd, out, best, outer, n, inner, is_max, last);
        break;
    case AXLE_DTYPE_INT32:
        arg_i32(xd, out, best, outer, n, inner, is_max, last);
        break;
    case AXLE_DTYPE_UINT32:
        arg_u32(xd, out, best, outer, n, inner, is_max, last);
        break;
    case AXLE_DTYPE_INT64:
        arg_i64(xd, out, best, outer, n, inner, is_max, last);
        break;
    case AXLE_DTYPE_UINT64:
        arg_u64(xd, out, best, outer, n, inner, is_max, last);
        break;
    default:
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "%s: input type %s", name,
                            axle_dtype_name(x->dtype));
    }
    return AXLE_OK;
}

static enum axle_status arg_max_infer(struct axle_kctx *k)
{
    return arg_infer_impl(k, "ArgMax");
}

static enum axle_status arg_max_run(struct axle_kctx *k)
{
    return arg_run_impl(k, "ArgMax", true);
}

static enum axle_status arg_min_infer(struct axle_kctx *k)
{
    return arg_infer_impl(k, "ArgMin");
}

static enum axle_status arg_min_run(struct axle_kctx *k)
{
    return arg_run_impl(k, "ArgMin", false);
}

const struct axle_op axle_op_arg_max = {
    .name = "ArgMax", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = arg_max_infer, .run = arg_max_run,
};

const struct axle_op axle_op_arg_min = {
    .name = "ArgMin", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = arg_min_infer, .run = arg_min_run,
};
