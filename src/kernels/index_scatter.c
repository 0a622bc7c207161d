/*
 * index_scatter.c - Scatter (ONNX 9, deprecated at 11: ScatterElements
 * semantics under the old name), ScatterElements (11, 13, 16, 18) and
 * ScatterND (11, 13, 16, 18), every dtype including strings and bool.
 *
 * The output starts as a copy of data; then every update is written (or,
 * with `reduction`, combined) at the position its index names.
 * ScatterElements: indices and updates share a shape of data's rank whose
 * dims off the axis do not exceed data's; element i goes to i with its axis
 * coordinate replaced by indices[i]. ScatterND: the last indices dim m
 * addresses a slab data.dims[m:], and updates has the shape
 * indices.dims[:-1] + data.dims[m:].
 *
 * reduction: "none" (the only one before 16; duplicate indices then leave
 * the last update, the spec leaves the order undefined), "add" and "mul"
 * from 16, "max" and "min" from 18. Float16/bfloat16 combine in float32;
 * for bool, add/max are OR and mul/min are AND; strings only take "none".
 * Updates are applied in index order on the calling thread, so duplicates
 * are deterministic.
 *
 * Negative indices count from the end of the axis; every index is checked
 * against its dim and an out-of-range one is AXLE_INVALID_ARGUMENT naming
 * the op, the value and its position.
 */
#include <string.h>

#include "base/err.h"
#include "ir/tensor.h"
#include "kernels/index_internal.h"

enum red { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static enum axle_status read_reduction(struct axle_kctx *k, const char *op,
                                       enum axle_dtype dt, enum red *r)
{
    const char *s = axle_node_attr_str(k->node, "reduction", "none");
    static const struct {
        const char *name;
        enum red r;
        int since;
    } tab[] = {
        {"none", RED_NONE, 1}, {"add", RED_ADD, 16}, {"mul", RED_MUL, 16},
        {"max", RED_MAX, 18},  {"min", RED_MIN, 18},
    };

    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (strcmp(s, tab[i].name) != 0)
            continue;
        if (k->opset < tab[i].since)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: reduction '%s' needs opset %d (model "
                                "has %d)", op, s, tab[i].since, k->opset);
        if (tab[i].r != RED_NONE && dt == AXLE_DTYPE_STRING)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: reduction '%s' is not defined for "
                                "strings", op, s);
        *r = tab[i].r;
        return AXLE_OK;
    }
    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                        "%s: unknown reduction '%.32s'", op, s);
}

/* ---- combining n elements: d[i] = d[i] (op) s[i] ------------------------ */

#define RED_LOOP(T, EXPR)                                                      \
    do {                                                                       \
        T *d_ = (T *)dst;                                                      \
        const T *s_ = (const T *)src;                                          \
        for (int64_t i_ = 0; i_ < n; i_++) {                                   \
            T a = d_[i_], b = s_[i_];                                          \
            d_[i_] = (T)(EXPR);                                                \
        }                                                                      \
    } while (0)

/* Integers wrap (computed in uint64: no signed overflow, no promotion to
 * int for the narrow types). */
#define RED_INT(T)                                                             \
    switch (r) {                                                               \
    case RED_ADD: RED_LOOP(T, (uint64_t)a + (uint64_t)b); break;               \
    case RED_MUL: RED_LOOP(T, (uint64_t)a * (uint64_t)b); break;               \
    case RED_MAX: RED_LOOP(T, b > a ? b : a); break;                           \
    case RED_MIN: RED_LOOP(T, b < a ? b : a); break;                           \
    default: break;                                                            \
    }

/* Floats: max/min propagate a NaN from either side, as numpy's
 * maximum/minimum do. */
#define RED_FLT(T)                                                             \
    switch (r) {                                                               \
    case RED_ADD: RED_LOOP(T, a + b); break;                                   \
    case RED_MUL: RED_LOOP(T, a * b); break;                                   \
    case RED_MAX: RED_LOOP(T, (b > a || b != b) && a == a ? b : a); break;     \
    case RED_MIN: RED_LOOP(T, (b < a || b != b) && a == a ? b : a); break;     \
    default: break;                                                            \
    }

static void reduce_n(enum axle_dtype dt, enum red r, void *dst,
                     const void *src, int64_t n)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: RED_FLT(float); break;
    case AXLE_DTYPE_FLOAT64: RED_FLT(double); break;
    case AXLE_DTYPE_INT8: RED_INT(int8_t); break;
    case AXLE_DTYPE_INT16: RED_INT(int16_t); break;
    case AXLE_DTYPE_INT32: RED_INT(int32_t); break;
    case AXLE_DTYPE_INT64: RED_INT(int64_t); break;
    case AXLE_DTYPE_UINT8: RED_INT(uint8_t); break;
    case AXLE_DTYPE_UINT16: RED_INT(uint16_t); break;
    case AXLE_DTYPE_UINT32: RED_INT(uint32_t); break;
    case AXLE_DTYPE_UINT64: RED_INT(uint64_t); break;
    case AXLE_DTYPE_BOOL:
        if (r == RED_ADD || r == RED_MAX)
            RED_LOOP(uint8_t, a | b);
        else
            RED_LOOP(uint8_t, a & b);
        break;
    case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16: {
        bool h = dt == AXLE_DTYPE_FLOAT16;
        uint16_t *d = dst;
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) {
            float c[2] = {h ? axle_f16_to_f32(d[i]) : axle_bf16_to_f32(d[i]),
                          h ? axle_f16_to_f32(s[i]) : axle_bf16_to_f32(s[i])};
            reduce_n(AXLE_DTYPE_FLOAT32, r, &c[0], &c[1], 1);
            d[i] = h ? axle_f32_to_f16(c[0]) : axle_f32_to_bf16(c[0]);
        }
        break;
    }
    default:
        break;
    }
}

/* Writes n elements of src to dst (replace or combine). */
static bool put(enum axle_dtype dt, size_t es, enum red r, void *dst,
                const void *src, int64_t n)
{
    if (dt == AXLE_DTYPE_STRING) {
        for (int64_t i = 0; i < n; i++)
            if (!idx_set_str((char **)dst + i, ((char *const *)src)[i]))
                return false;
        return true;
    }
    if (r != RED_NONE)
        reduce_n(dt, r, dst, src, n);
    else if (n == 1)
        idx_cp(dst, src, es);
    else
        memcpy(dst, src, (size_t)n * es);
    return true;
}

static bool same_dtype(enum axle_dtype a, enum axle_dtype b)
{
    return a == AXLE_DTYPE_UNDEFINED || b == AXLE_DTYPE_UNDEFINED || a == b;
}

/* Output 0 is data's type and shape. */
static enum axle_status scatter_out(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = IDX_OUT(k, 0);

    if (out != NULL) {
        out->dtype = x->dtype;
        out->rank = x->rank;
        if (x->rank > 0)
            memcpy(out->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    }
    return AXLE_OK;
}

/* ---- ScatterElements / Scatter ---------------------------------------- */

static const char *se_name(const struct axle_kctx *k)
{
    return strcmp(k->node->op_type, "Scatter") == 0 ? "Scatter"
                                                    : "ScatterElements";
}

static enum axle_status se_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1], *upd = k->in[2];
    const char *op = se_name(k);
    enum red r;
    int axis;
    enum axle_status st = idx_check_dtype(k, idx, op);

    if (st == AXLE_OK)
        st = read_reduction(k, op, x->dtype, &r);
    if (st != AXLE_OK)
        return st;
    if (!same_dtype(x->dtype, upd->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: updates are %s, data is %s", op,
                            axle_dtype_name(upd->dtype),
                            axle_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: data must have rank >= 1", op);
    if (idx->rank >= 0 && upd->rank >= 0) {
        if (idx->rank != upd->rank)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: indices rank %d, updates rank %d", op,
                                idx->rank, upd->rank);
        for (int d = 0; d < idx->rank; d++)
            if (idx->dims[d] >= 0 && upd->dims[d] >= 0 &&
                idx->dims[d] != upd->dims[d])
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: indices dim %d is %lld, updates "
                                    "dim %lld", op, d,
                                    (long long)idx->dims[d],
                                    (long long)upd->dims[d]);
    }
    if (x->rank >= 0 && idx->rank >= 0) {
        if (idx->rank != x->rank)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: indices rank %d differs from data rank "
                                "%d", op, idx->rank, x->rank);
        st = axle_shape_norm_axis(axle_node_attr_int(k->node, "axis", 0),
                                  x->rank, false, &axis, k->err, op);
        if (st != AXLE_OK)
            return st;
        for (int d = 0; d < x->rank; d++)
            if (d != axis && x->dims[d] >= 0 && idx->dims[d] > x->dims[d])
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: indices dim %d is %lld, data has "
                                    "only %lld", op, d,
                                    (long long)idx->dims[d],
                                    (long long)x->dims[d]);
    }
    return scatter_out(k);
}

static enum axle_status se_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1], *upd = k->in[2];
    struct axle_tensor *out = IDX_OUT(k, 0);
    const char *op = se_name(k);
    int64_t strides[AXLE_MAX_RANK], c[AXLE_MAX_RANK], base = 0, n, adim;
    size_t es = axle_dtype_size(x->dtype);
    bool i64 = idx->dtype == AXLE_DTYPE_INT64;
    int axis, last = x->rank - 1;
    enum red r = RED_NONE;
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    st = read_reduction(k, op, x->dtype, &r);
    if (st == AXLE_OK)
        st = axle_shape_norm_axis(axle_node_attr_int(k->node, "axis", 0),
                                  x->rank, false, &axis, k->err, op);
    if (st == AXLE_OK)
        st = axle_shape_copy_elems(k, x->dtype, x->data, out->data,
                                   axle_tensor_numel(x));
    if (st != AXLE_OK)
        return st;
    n = axle_tensor_numel(idx);
    adim = x->dims[axis];
    axle_shape_strides(x->rank, x->dims, strides);
    memset(c, 0, sizeof(c));
    for (int64_t i = 0; i < n; i++) {
        int64_t raw = idx_at(idx->data, i64, i), v;
        if (!idx_norm(raw, adim, &v))
            return idx_range_error(k, op, raw, i, adim);
        if (!put(x->dtype, es, r,
                 (char *)out->data + (size_t)(base + v * strides[axis]) * es,
                 (const char *)upd->data + (size_t)i * es, 1))
            return idx_oom(k, op);
        for (int d = last; d >= 0; d--) {
            c[d]++;
            if (d != axis)
                base += strides[d];
            if (c[d] < idx->dims[d])
                break;
            if (d != axis)
                base -= c[d] * strides[d];
            c[d] = 0;
        }
    }
    return AXLE_OK;
}

const struct axle_op axle_op_scatter_elements = {
    .name = "ScatterElements", .domain = "",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = se_infer, .run = se_run,
};

const struct axle_op axle_op_scatter = {
    .name = "Scatter", .domain = "",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = se_infer, .run = se_run,
};

/* ---- ScatterND -------------------------------------------------------- */

static enum axle_status snd_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1], *upd = k->in[2];
    enum red r;
    int64_t m;
    int r_x, q, want;
    enum axle_status st = idx_check_dtype(k, idx, "ScatterND");

    if (st == AXLE_OK)
        st = read_reduction(k, "ScatterND", x->dtype, &r);
    if (st != AXLE_OK)
        return st;
    if (!same_dtype(x->dtype, upd->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ScatterND: updates are %s, data is %s",
                            axle_dtype_name(upd->dtype),
                            axle_dtype_name(x->dtype));
    if (x->rank < 0 || idx->rank < 0)
        return scatter_out(k);
    r_x = x->rank;
    q = idx->rank;
    if (r_x < 1 || q < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ScatterND: data and indices need rank >= 1, "
                            "got %d and %d", r_x, q);
    m = idx->dims[q - 1];
    if (m < 0)
        return scatter_out(k);
    if (m < 1 || m > r_x)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ScatterND: indices' last dim %lld must be in "
                            "[1, %d]", (long long)m, r_x);
    /* updates.shape == indices.shape[:-1] + data.shape[m:] */
    want = q - 1 + r_x - (int)m;
    if (upd->rank >= 0) {
        if (upd->rank != want)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "ScatterND: updates rank %d, expected %d",
                                upd->rank, want);
        for (int d = 0; d < want; d++) {
            int64_t e = d < q - 1 ? idx->dims[d]
                                  : x->dims[(int)m + d - (q - 1)];
            if (e >= 0 && upd->dims[d] >= 0 && e != upd->dims[d])
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "ScatterND: updates dim %d is %lld, "
                                    "expected %lld", d,
                                    (long long)upd->dims[d], (long long)e);
        }
    }
    return scatter_out(k);
}

static enum axle_status snd_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1], *upd = k->in[2];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int64_t strides[AXLE_MAX_RANK], n_t, slab;
    size_t es = axle_dtype_size(x->dtype);
    bool i64 = idx->dtype == AXLE_DTYPE_INT64;
    int m = (int)idx->dims[idx->rank - 1];
    enum red r = RED_NONE;
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    st = read_reduction(k, "ScatterND", x->dtype, &r);
    if (st == AXLE_OK)
        st = axle_shape_copy_elems(k, x->dtype, x->data, out->data,
                                   axle_tensor_numel(x));
    if (st != AXLE_OK)
        return st;
    n_t = axle_shape_dims_prod(idx->dims, 0, idx->rank - 1);
    slab = axle_shape_dims_prod(x->dims, m, x->rank);
    axle_shape_strides(x->rank, x->dims, strides);
    for (int64_t t = 0; t < n_t; t++) {
        int64_t off = 0;
        for (int c = 0; c < m; c++) {
            int64_t pos = t * m + c, raw = idx_at(idx->data, i64, pos), v;
            if (!idx_norm(raw, x->dims[c], &v))
                return idx_range_error(k, "ScatterND", raw, pos, x->dims[c]);
            off += v * strides[c];
        }
        if (!put(x->dtype, es, r, (char *)out->data + (size_t)off * es,
                 (const char *)upd->data + (size_t)(t * slab) * es, slab))
            return idx_oom(k, "ScatterND");
    }
    return AXLE_OK;
}

const struct axle_op axle_op_scatter_nd = {
    .name = "ScatterND", .domain = "",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = snd_infer, .run = snd_run,
};
