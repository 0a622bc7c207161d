/*
 * reduce.c - ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd,
 * ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp,
 * ArgMax, ArgMin and CumSum.
 *
 * Axes come from the `axes` attribute, or from the optional second input
 * for ReduceSum-13 and every Reduce* from 18. Empty/absent axes reduce all
 * dims unless noop_with_empty_axes = 1: then nothing is reduced, each
 * element is its own group (the input passes through for Sum, Mean, Max,
 * Min and Prod; L1 gives |x|, SumSquare x^2, LogSum log x, ...).
 * Reducing a zero-sized dim gives the op's identity (0, 1, -inf/type min,
 * +inf/type max; Mean over nothing is NaN, or 0 for integers; LogSum and
 * LogSumExp over nothing are log(0) = -inf).
 * ReduceLogSumExp is computed as m + log(sum(exp(x - m))) with m the
 * maximum, so large inputs do not overflow as the plain formula would.
 * Integer LogSum/LogSumExp are computed in double and truncated.
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

enum red_kind {
    RED_SUM,
    RED_MEAN,
    RED_MAX,
    RED_MIN,
    RED_PROD,
    RED_L2,
    RED_L1,
    RED_SUMSQ,
    RED_LOGSUM,
    RED_LSE, /* log-sum-exp */
};

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
static const struct red_desc RED_L1_D = {"ReduceL1", RED_L1, 18};
static const struct red_desc RED_SUMSQ_D = {"ReduceSumSquare", RED_SUMSQ, 18};
static const struct red_desc RED_LOGSUM_D = {"ReduceLogSum", RED_LOGSUM, 18};
static const struct red_desc RED_LSE_D = {"ReduceLogSumExp", RED_LSE, 18};

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

/* sum |x| with eight partial sums, so the loop vectorizes */
static float abs_sum(const float *x, int64_t n)
{
    float part[8] = {0}, acc = 0.0f;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            part[l] += fabsf(x[i + l]);
    for (; i < n; i++)
        acc += fabsf(x[i]);
    for (int l = 0; l < 8; l++)
        acc += part[l];
    return acc;
}

static float row_reduce(enum red_kind kind, const float *x, int64_t n)
{
    switch (kind) {
    case RED_SUM:
    case RED_MEAN: return axle_rowvec_sum(x, (size_t)n);
    case RED_MAX: return axle_rowvec_max(x, (size_t)n);
    case RED_MIN: return axle_rowvec_min(x, (size_t)n);
    case RED_PROD: return axle_rowvec_prod(x, (size_t)n);
    case RED_L2:
    case RED_SUMSQ: return axle_rowvec_sumsq(x, (size_t)n);
    case RED_L1: return abs_sum(x, n);
    case RED_LOGSUM: return axle_rowvec_sum(x, (size_t)n);
    case RED_LSE: break; /* generic path */
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
    if (kind == RED_LOGSUM)
        return logf(v);
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
    case RED_L2:
    case RED_SUMSQ: return AXLE_ROWVEC_SQ;
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
        for (int64_t r = 0; r < s->R; r++) {
            const float *xr = base + red_offset(s, r, s->m - 1);
            if (j->kind == RED_L1)
                for (int64_t i = 0; i < w; i++)
                    y[i] += fabsf(xr[i]);
            else
                axle_rowvec_accum(op, y, xr, (size_t)w);
        }
        if (j->kind == RED_MEAN)
            axle_rowvec_scale(y, 1.0f / (float)s->R, (size_t)w);
        else if (j->kind == RED_L2)
            for (int64_t i = 0; i < w; i++)
                y[i] = sqrtf(y[i]);
        else if (j->kind == RED_LOGSUM)
            for (int64_t i = 0; i < w; i++)
                y[i] = logf(y[i]);
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

struct red_gen_job {
    const struct axle_tensor *x;
    struct axle_tensor *y;
    const struct red_shape *s;
    enum red_kind kind;
};

/* log(sum(exp(x))) of output o, shifted by the maximum. */
static double lse_one(const struct red_gen_job *j, int64_t base)
{
    const struct red_shape *s = j->s;
    double m = -INFINITY, acc = 0.0;
    for (int64_t r = 0; r < s->R; r++) {
        double v = axle_tensor_get_f64(j->x, base + red_offset(s, r, s->m));
        if (isnan(v))
            return v;
        m = v > m ? v : m;
    }
    if (isinf(m)) /* all -inf (or nothing): -inf; any +inf: +inf */
        return m;
    for (int64_t r = 0; r < s->R; r++)
        acc += exp(axle_tensor_get_f64(j->x, base + red_offset(s, r, s->m)) -
                   m);
    return m + log(acc);
}

static double red_one_f64(const struct red_gen_job *j, int64_t base)
{
    const struct red_shape *s = j->s;
    enum red_kind kind = j->kind;
    double acc = kind == RED_MAX ? -INFINITY : kind == RED_MIN ? INFINITY
                 : kind == RED_PROD ? 1.0 : 0.0;

    if (kind == RED_LSE)
        return lse_one(j, base);
    for (int64_t r = 0; r < s->R; r++) {
        double v = axle_tensor_get_f64(j->x, base + red_offset(s, r, s->m));
        switch (kind) {
        case RED_MAX: acc = v > acc ? v : acc; break;
        case RED_MIN: acc = v < acc ? v : acc; break;
        case RED_PROD: acc *= v; break;
        case RED_L2:
        case RED_SUMSQ: acc += v * v; break;
        case RED_L1: acc += fabs(v); break;
        default: acc += v; break;
        }
    }
    if (kind == RED_MEAN)
        acc /= (double)s->R;
    else if (kind == RED_L2)
        acc = sqrt(acc);
    else if (kind == RED_LOGSUM)
        acc = log(acc);
    return acc;
}

static void red_generic_float_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct red_gen_job *j = ctx;
    (void)tid;
    for (int64_t o = b; o < e; o++)
        store_f64(j->y, o, red_one_f64(j, kept_offset(j->s, o, j->s->m)));
}

static void red_generic_float(struct axle_pool *pool,
                              const struct axle_tensor *x,
                              struct axle_tensor *y, const struct red_shape *s,
                              enum red_kind kind)
{
    struct red_gen_job j = {.x = x, .y = y, .s = s, .kind = kind};
    axle_pool_parallel_for(pool, s->O, nr_grain(4 * s->R + 1),
                           red_generic_float_task, &j);
}

static void red_generic_int(const struct axle_tensor *x, struct axle_tensor *y,
                            const struct red_shape *s, enum red_kind kind)
{
    bool uns = is_unsigned(x->dtype);
    for (int64_t o = 0; o < s->O; o++) {
        int64_t base = kept_offset(s, o, s->m);
        if (kind == RED_LOGSUM || kind == RED_LSE) {
            /* computed in double (exact for the int32 range), then
             * truncated like numpy's astype */
            struct red_gen_job j = {.x = x, .y = y, .s = s, .kind = kind};
            store_u64(y, o, double_to_u64(red_one_f64(&j, base), uns));
            continue;
        }
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
            case RED_SUMSQ: acc += v * v; break;
            case RED_L1:
                acc += uns || (int64_t)v >= 0 ? v : (uint64_t)0 - v;
                break;
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
    if (ax.noop && d->kind <= RED_PROD) {
        int64_t nb = axle_tensor_nbytes(x);
        if (nb > 0)
            memcpy(y->data, x->data, (size_t)nb);
        return AXLE_OK;
    }
    /* noop for the others: each element reduced on its own (|x|, x^2,
     * log x, ...), as ONNX's reference and ONNX Runtime do; the mask is
     * already all false */
    red_canon(x, &ax, &s);
    if (s.O == 0)
        return AXLE_OK;
    if (x->dtype == AXLE_DTYPE_FLOAT32 && d->kind != RED_LSE) {
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
        red_generic_float(k->pool, x, y, &s, d->kind);
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
RED_OP(reduce_l1, RED_L1_D, "ReduceL1")
RED_OP(reduce_sum_square, RED_SUMSQ_D, "ReduceSumSquare")
RED_OP(reduce_log_sum, RED_LOGSUM_D, "ReduceLogSum")
RED_OP(reduce_log_sum_exp, RED_LSE_D, "ReduceLogSumExp")

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

/* ---- CumSum --------------------------------------------------------- */

/* ONNX CumSum-11/14: the running sum along the axis given by input 1 (a
 * scalar or one-element int32/int64 tensor); exclusive = 1 leaves out the
 * element itself (the first output is 0), reverse = 1 runs from the end.
 * Sums are kept in the element type, as numpy's cumsum does; integer sums
 * wrap (computed in unsigned arithmetic). float16/bfloat16 add in float32. */

static enum axle_status cumsum_axis(struct axle_kctx *k, int rank,
                                    bool *known, int *axis)
{
    const struct axle_tensor *a = AXLE_IN(k, 1);

    *known = false;
    if (a == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CumSum: the axis input is required");
    if (a->dtype != AXLE_DTYPE_INT32 && a->dtype != AXLE_DTYPE_INT64 &&
        a->dtype != AXLE_DTYPE_UNDEFINED)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CumSum: axis must be int32 or int64, got %s",
                            axle_dtype_name(a->dtype));
    if (a->rank > 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CumSum: axis must be a scalar, got rank %d",
                            a->rank);
    if (a->data == NULL || rank < 0)
        return AXLE_OK;
    if (axle_tensor_numel(a) != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CumSum: axis must hold one value");
    if (rank == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CumSum: input must have rank >= 1");
    *known = true;
    return nr_axis(k, "CumSum", axle_tensor_get_i64(a, 0), rank, false,
                   axis);
}

static bool cumsum_dtype_ok(enum axle_dtype dt)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32:
    case AXLE_DTYPE_FLOAT64:
    case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16:
    case AXLE_DTYPE_INT8:
    case AXLE_DTYPE_UINT8:
    case AXLE_DTYPE_INT16:
    case AXLE_DTYPE_UINT16:
    case AXLE_DTYPE_INT32:
    case AXLE_DTYPE_UINT32:
    case AXLE_DTYPE_INT64:
    case AXLE_DTYPE_UINT64:
    case AXLE_DTYPE_UNDEFINED: return true;
    default: return false;
    }
}

static enum axle_status cumsum_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    bool known;
    int axis;

    if (!cumsum_dtype_ok(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CumSum: input type %s is not supported",
                            axle_dtype_name(x->dtype));
    enum axle_status st = cumsum_axis(k, x->rank, &known, &axis);
    if (st != AXLE_OK || k->out[0] == NULL)
        return st;
    k->out[0]->dtype = x->dtype;
    nr_copy_shape(k->out[0], x);
    return AXLE_OK;
}

/* Step t of n visits index j; rows of `inner` elements, y[j] built from
 * y[prev] and x[j] (inclusive) or x[prev] (exclusive). ADD(a, b) is the
 * type's (wrapping) addition. */
#define CUMSUM_IMPL(NAME, T, ADD)                                           \
    static void NAME(const T *x, T *y, int64_t outer, int64_t n,            \
                     int64_t inner, bool excl, bool rev)                    \
    {                                                                       \
        for (int64_t o = 0; o < outer; o++) {                               \
            const T *xo = x + o * n * inner;                                \
            T *yo = y + o * n * inner;                                      \
            for (int64_t t = 0; t < n; t++) {                               \
                int64_t j = rev ? n - 1 - t : t;                            \
                int64_t p = rev ? j + 1 : j - 1;                            \
                T *yr = yo + j * inner;                                     \
                const T *yp = yo + p * inner;                               \
                const T *xr = xo + (excl ? p : j) * inner;                  \
                if (t == 0) {                                               \
                    for (int64_t i = 0; i < inner; i++)                     \
                        yr[i] = excl ? (T)0 : xr[i];                        \
                    continue;                                               \
                }                                                           \
                for (int64_t i = 0; i < inner; i++)                         \
                    yr[i] = ADD(yp[i], xr[i]);                              \
            }                                                               \
        }                                                                   \
    }

#define ADD_F(a, b) ((a) + (b))
#define ADD_U32(a, b) ((uint32_t)(a) + (uint32_t)(b))
#define ADD_U64(a, b) ((uint64_t)(a) + (uint64_t)(b))
#define ADD_I8(a, b) ((int8_t)(uint8_t)((uint8_t)(a) + (uint8_t)(b)))
#define ADD_I16(a, b) ((int16_t)(uint16_t)((uint16_t)(a) + (uint16_t)(b)))
#define ADD_I32(a, b) ((int32_t)ADD_U32(a, b))
#define ADD_I64(a, b) ((int64_t)ADD_U64(a, b))

CUMSUM_IMPL(cumsum_f32, float, ADD_F)
CUMSUM_IMPL(cumsum_f64, double, ADD_F)
CUMSUM_IMPL(cumsum_i8, int8_t, ADD_I8)
CUMSUM_IMPL(cumsum_u8, uint8_t, ADD_F)
CUMSUM_IMPL(cumsum_i16, int16_t, ADD_I16)
CUMSUM_IMPL(cumsum_u16, uint16_t, ADD_F)
CUMSUM_IMPL(cumsum_i32, int32_t, ADD_I32)
CUMSUM_IMPL(cumsum_u32, uint32_t, ADD_U32)
CUMSUM_IMPL(cumsum_i64, int64_t, ADD_I64)
CUMSUM_IMPL(cumsum_u64, uint64_t, ADD_U64)

static enum axle_status cumsum_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    bool excl = axle_node_attr_int(k->node, "exclusive", 0) != 0;
    bool rev = axle_node_attr_int(k->node, "reverse", 0) != 0;
    bool known;
    int axis;

    enum axle_status st = cumsum_axis(k, x->rank, &known, &axis);
    if (st != AXLE_OK || y == NULL)
        return st;
    if (!known)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CumSum: axis value is missing");
    int64_t outer = nr_prod(x->dims, 0, axis), n = x->dims[axis];
    int64_t inner = nr_prod(x->dims, axis + 1, x->rank);
    int64_t total = outer * n * inner;
    if (total == 0)
        return AXLE_OK;
    const void *xd = x->data;
    void *yd = y->data;
    switch (x->dtype) {
    case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16: {
        float *buf = axle_kctx_scratch(k, 2 * (size_t)total * sizeof(float));
        if (buf == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "CumSum: no scratch memory");
        nr_to_f32(buf, xd, x->dtype, (size_t)total);
        cumsum_f32(buf, buf + total, outer, n, inner, excl, rev);
        nr_from_f32(yd, y->dtype, buf + total, (size_t)total);
        break;
    }
    case AXLE_DTYPE_FLOAT32:
        cumsum_f32(xd, yd, outer, n, inner, excl, rev);
        break;
    case AXLE_DTYPE_FLOAT64:
        cumsum_f64(xd, yd, outer, n, inner, excl, rev);
        break;
    case AXLE_DTYPE_INT8: cumsum_i8(xd, yd, outer, n, inner, excl, rev); break;
    case AXLE_DTYPE_UINT8:
        cumsum_u8(xd, yd, outer, n, inner, excl, rev);
        break;
    case AXLE_DTYPE_INT16:
        cumsum_i16(xd, yd, outer, n, inner, excl, rev);
        break;
    case AXLE_DTYPE_UINT16:
        cumsum_u16(xd, yd, outer, n, inner, excl, rev);
        break;
    case AXLE_DTYPE_INT32:
        cumsum_i32(xd, yd, outer, n, inner, excl, rev);
        break;
    case AXLE_DTYPE_UINT32:
        cumsum_u32(xd, yd, outer, n, inner, excl, rev);
        break;
    case AXLE_DTYPE_INT64:
        cumsum_i64(xd, yd, outer, n, inner, excl, rev);
        break;
    case AXLE_DTYPE_UINT64:
        cumsum_u64(xd, yd, outer, n, inner, excl, rev);
        break;
    default:
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "CumSum: input type %s",
                            axle_dtype_name(x->dtype));
    }
    return AXLE_OK;
}

const struct axle_op axle_op_cum_sum = {
    .name = "CumSum", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = cumsum_infer, .run = cumsum_run,
};
