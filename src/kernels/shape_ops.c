/*
 * shape_ops.c - operators that make or re-describe shapes: Constant,
 * ConstantOfShape, Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze and
 * Range (ONNX opsets 1-18).
 *
 * Reshape, Flatten, Squeeze and Unsqueeze are views: the engine aliases the
 * input bytes at run time, so their `run` is only used by constant folding
 * (a plain copy). Shape and Size read dims only, never data: the folding
 * pass calls them with data == NULL when the input shape is fully known.
 *
 * At load, shapes that depend on data we do not have (a Reshape target that
 * is not a constant, ...) come out with the rank when it is known and -1
 * dims; at run time every input is concrete and shapes are exact.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "ir/tensor.h"
#include "kernels/shape_internal.h"

#define OUT0(k) ((k)->n_outputs > 0 ? (k)->out[0] : NULL)

/* ---- Constant --------------------------------------------------------- */

/* Describes the constant's value in *tmp (data borrowed from the node's
 * attribute); exactly one value attribute must be present. */
static enum axle_status constant_value(struct axle_kctx *k,
                                       struct axle_tensor *tmp)
{
    static const char *const names[] = {
        "value", "value_float", "value_floats", "value_int", "value_ints",
        "value_string", "value_strings", "sparse_value",
    };
    const struct axle_attr *a = NULL;
    int which = -1, found = 0;

    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
        const struct axle_attr *x = axle_node_attr(k->node, names[i]);
        if (x != NULL) {
            a = x;
            which = i;
            found++;
        }
    }
    if (found != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Constant: exactly one value attribute must be "
                            "set, found %d", found);
    memset(tmp, 0, sizeof(*tmp));
    switch (which) {
    case 0:
        if (a->type != AXLE_ATTR_TENSOR || a->t == NULL)
            break;
        *tmp = *a->t;
        tmp->owns_data = 0;
        return AXLE_OK;
    case 1:
        if (a->type != AXLE_ATTR_FLOAT)
            break;
        tmp->dtype = AXLE_DTYPE_FLOAT32;
        tmp->data = (void *)&a->f;
        return AXLE_OK;
    case 2:
        if (a->type != AXLE_ATTR_FLOATS)
            break;
        tmp->dtype = AXLE_DTYPE_FLOAT32;
        tmp->rank = 1;
        tmp->dims[0] = a->n;
        tmp->data = a->floats;
        return AXLE_OK;
    case 3:
        if (a->type != AXLE_ATTR_INT)
            break;
        tmp->dtype = AXLE_DTYPE_INT64;
        tmp->data = (void *)&a->i;
        return AXLE_OK;
    case 4:
        if (a->type != AXLE_ATTR_INTS)
            break;
        tmp->dtype = AXLE_DTYPE_INT64;
        tmp->rank = 1;
        tmp->dims[0] = a->n;
        tmp->data = a->ints;
        return AXLE_OK;
    case 5:
        if (a->type != AXLE_ATTR_STRING)
            break;
        tmp->dtype = AXLE_DTYPE_STRING;
        tmp->data = (void *)&a->s;
        return AXLE_OK;
    case 6:
        if (a->type != AXLE_ATTR_STRINGS)
            break;
        tmp->dtype = AXLE_DTYPE_STRING;
        tmp->rank = 1;
        tmp->dims[0] = a->n;
        tmp->data = a->strings;
        return AXLE_OK;
    default:
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "Constant: sparse_value is not supported");
    }
    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                        "Constant: attribute '%s' has the wrong type",
                        names[which]);
}

static enum axle_status constant_infer(struct axle_kctx *k)
{
    struct axle_tensor v, *out = OUT0(k);
    enum axle_status st = constant_value(k, &v);

    if (st != AXLE_OK || out == NULL)
        return st;
    if (v.rank < 0 || v.rank > AXLE_MAX_RANK || !axle_shape_known(&v))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Constant: value has an invalid shape");
    out->dtype = v.dtype;
    out->rank = v.rank;
    memcpy(out->dims, v.dims, sizeof(out->dims));
    return AXLE_OK;
}

static enum axle_status constant_run(struct axle_kctx *k)
{
    struct axle_tensor v, *out = OUT0(k);
    enum axle_status st = constant_value(k, &v);

    if (st != AXLE_OK || out == NULL)
        return st;
    return axle_shape_copy_elems(k, v.dtype, v.data, out->data,
                                 axle_tensor_numel(&v));
}

const struct axle_op axle_op_constant = {
    .name = "Constant", .domain = "",
    .min_inputs = 0, .max_inputs = 0, .min_outputs = 1, .max_outputs = 1,
    .infer = constant_infer, .run = constant_run,
};

/* ---- ConstantOfShape -------------------------------------------------- */

/* The fill value: the one-element `value` tensor, float32 0 by default. */
static enum axle_status cos_value(struct axle_kctx *k,
                                  struct axle_tensor *tmp)
{
    static const float zero = 0.0f;
    const struct axle_attr *a = axle_node_attr(k->node, "value");

    memset(tmp, 0, sizeof(*tmp));
    if (a == NULL) {
        tmp->dtype = AXLE_DTYPE_FLOAT32;
        tmp->data = (void *)&zero;
        return AXLE_OK;
    }
    if (a->type != AXLE_ATTR_TENSOR || a->t == NULL ||
        axle_tensor_numel(a->t) != 1 || a->t->data == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConstantOfShape: value must be a one-element "
                            "tensor");
    *tmp = *a->t;
    tmp->owns_data = 0;
    return AXLE_OK;
}

static enum axle_status cos_infer(struct axle_kctx *k)
{
    struct axle_tensor v, *out = OUT0(k);
    int64_t dims[AXLE_MAX_RANK];
    int rank;
    enum axle_status st = cos_value(k, &v);

    if (st != AXLE_OK)
        return st;
    st = axle_shape_read_dims(k, k->in[0], dims, &rank, "ConstantOfShape");
    if (st != AXLE_OK || out == NULL)
        return st;
    out->dtype = v.dtype;
    if (rank == -2) {
        out->rank = -1;
        return AXLE_OK;
    }
    if (rank == -1) {
        out->rank = (int)dims[0];
        for (int i = 0; i < out->rank; i++)
            out->dims[i] = AXLE_DIM_UNKNOWN;
        return AXLE_OK;
    }
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "ConstantOfShape: dimension %d is negative "
                                "(%lld)", i, (long long)dims[i]);
    out->rank = rank;
    memcpy(out->dims, dims, (size_t)rank * sizeof(int64_t));
    if (axle_tensor_numel(out) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConstantOfShape: output too large");
    return AXLE_OK;
}

static enum axle_status cos_run(struct axle_kctx *k)
{
    struct axle_tensor v, *out = OUT0(k);
    struct axle_shape_copy c = {0};
    enum axle_status st = cos_value(k, &v);

    if (st != AXLE_OK || out == NULL)
        return st;
    c.rank = 1;
    c.dims[0] = axle_tensor_numel(out);
    c.in_strides[0] = 0;
    c.out_strides[0] = 1;
    return axle_shape_copy_strided(k, &c, out->dtype, v.data, out->data);
}

const struct axle_op axle_op_constant_of_shape = {
    .name = "ConstantOfShape", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = cos_infer, .run = cos_run,
};

/* ---- Shape, Size ------------------------------------------------------ */

/* Shape-15 start/end: negative values count from the back, then both are
 * clamped to [0, rank]. */
static void shape_range(struct axle_kctx *k, int rank, int *start, int *end)
{
    int64_t s = axle_node_attr_int(k->node, "start", 0);
    int64_t e = axle_node_attr_int(k->node, "end", rank);

    if (s < 0)
        s += rank;
    if (e < 0)
        e += rank;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    *start = (int)s;
    *end = (int)(e > s ? e : s);
}

static enum axle_status shape_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int s, e;

    if (out == NULL)
        return AXLE_OK;
    out->dtype = AXLE_DTYPE_INT64;
    out->rank = 1;
    if (x->rank < 0) {
        out->dims[0] = AXLE_DIM_UNKNOWN;
        return AXLE_OK;
    }
    shape_range(k, x->rank, &s, &e);
    out->dims[0] = e - s;
    return AXLE_OK;
}

static enum axle_status shape_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t *o;
    int s, e;

    if (out == NULL)
        return AXLE_OK;
    if (x->rank < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Shape: input rank unknown");
    shape_range(k, x->rank, &s, &e);
    o = out->data;
    for (int i = s; i < e; i++) {
        if (x->dims[i] < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Shape: dimension %d unknown", i);
        o[i - s] = x->dims[i];
    }
    return AXLE_OK;
}

const struct axle_op axle_op_shape = {
    .name = "Shape", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = shape_infer, .run = shape_run,
};

static enum axle_status size_infer(struct axle_kctx *k)
{
    struct axle_tensor *out = OUT0(k);
    if (out == NULL)
        return AXLE_OK;
    out->dtype = AXLE_DTYPE_INT64;
    out->rank = 0;
    return AXLE_OK;
}

static enum axle_status size_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t n;

    if (out == NULL)
        return AXLE_OK;
    n = axle_tensor_numel(x);
    if (n < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Size: input shape unknown or too large");
    *(int64_t *)out->data = n;
    return AXLE_OK;
}

const struct axle_op axle_op_size = {
    .name = "Size", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = size_infer, .run = size_run,
};

/* ---- views: Reshape, Flatten, Squeeze, Unsqueeze ----------------------- */

/* Used by constant folding only: the executor aliases view outputs. */
static enum axle_status view_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t n;

    if (out == NULL)
        return AXLE_OK;
    n = axle_tensor_numel(x);
    if (n != axle_tensor_numel(out) || n < 0)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "view changes the element count");
    return axle_shape_copy_elems(k, x->dtype, x->data, out->data, n);
}

/* Infers the one -1 of a Reshape target at load, where input dims may be
 * symbolic: dims copied by 0 and equal symbols cancel; what remains must be
 * known numbers. `copied[i]` is the input axis output axis i copies, or -1. */
static int64_t reshape_infer_minus1(const struct axle_tensor *x,
                                    const int64_t *od, const int *copied,
                                    int rank, int neg)
{
    bool used[AXLE_MAX_RANK] = {false};
    int64_t pin = 1, pout = 1;

    for (int i = 0; i < rank; i++)
        if (copied[i] >= 0)
            used[copied[i]] = true;
    for (int i = 0; i < rank; i++) {
        if (i == neg || copied[i] >= 0)
            continue;
        if (od[i] >= 0) {
            pout *= od[i];
            continue;
        }
        int j = 0;
        while (j < x->rank && (used[j] || x->dims[j] != od[i] ||
                               od[i] == AXLE_DIM_UNKNOWN))
            j++;
        if (j == x->rank)
            return AXLE_DIM_UNKNOWN;
        used[j] = true;
    }
    for (int j = 0; j < x->rank; j++) {
        if (used[j])
            continue;
        if (x->dims[j] < 0)
            return AXLE_DIM_UNKNOWN;
        pin *= x->dims[j];
    }
    if (pout <= 0 || pin % pout != 0)
        return AXLE_DIM_UNKNOWN;
    return pin / pout;
}

static enum axle_status reshape_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t tgt[AXLE_MAX_RANK];
    int copied[AXLE_MAX_RANK];
    int rank, neg = -1;
    bool allowzero = axle_node_attr_int(k->node, "allowzero", 0) != 0;
    bool has_zero = false;
    enum axle_status st;

    if (k->opset < 5) {
        int n = 0;
        const int64_t *s = axle_node_attr_ints(k->node, "shape", &n);
        if (s == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Reshape: attribute 'shape' is required");
        if (n > AXLE_MAX_RANK)
            return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                                "Reshape: output rank %d exceeds %d", n,
                                AXLE_MAX_RANK);
        memcpy(tgt, s, (size_t)n * sizeof(int64_t));
        rank = n;
    } else {
        if (AXLE_IN(k, 1) == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Reshape: the shape input is required");
        st = axle_shape_read_dims(k, k->in[1], tgt, &rank, "Reshape");
        if (st != AXLE_OK)
            return st;
    }
    if (out == NULL)
        return AXLE_OK;
    out->dtype = x->dtype;
    if (rank == -2) {
        out->rank = -1;
        return AXLE_OK;
    }
    if (rank == -1) {
        out->rank = (int)tgt[0];
        for (int i = 0; i < out->rank; i++)
            out->dims[i] = AXLE_DIM_UNKNOWN;
        return AXLE_OK;
    }
    out->rank = rank;
    for (int i = 0; i < rank; i++) {
        int64_t v = tgt[i];
        copied[i] = -1;
        if (v < -1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Reshape: invalid dimension %lld at %d",
                                (long long)v, i);
        if (v == -1) {
            if (neg >= 0)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Reshape: more than one -1 in shape");
            neg = i;
            out->dims[i] = AXLE_DIM_UNKNOWN;
        } else if (v == 0 && !allowzero) {
            if (x->rank >= 0 && i >= x->rank)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Reshape: shape[%d] = 0 copies a "
                                    "dimension the rank-%d input lacks", i,
                                    x->rank);
            out->dims[i] = x->rank >= 0 ? x->dims[i] : AXLE_DIM_UNKNOWN;
            copied[i] = x->rank >= 0 ? i : -1;
        } else {
            has_zero |= v == 0;
            out->dims[i] = v;
        }
    }
    if (allowzero && has_zero && neg >= 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Reshape: allowzero shape has both 0 and -1");
    if (x->rank < 0)
        return AXLE_OK;
    int64_t nin = axle_tensor_numel(x);
    if (neg >= 0) {
        if (nin >= 0) {
            int64_t p = 1;
            bool known = true;
            for (int i = 0; i < rank; i++) {
                if (i == neg)
                    continue;
                if (out->dims[i] < 0)
                    known = false;
                else
                    p *= out->dims[i];
            }
            if (known) {
                if (p == 0 || nin % p != 0)
                    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                        "Reshape: cannot infer -1: %lld "
                                        "elements into blocks of %lld",
                                        (long long)nin, (long long)p);
                out->dims[neg] = nin / p;
            }
        } else {
            out->dims[neg] = reshape_infer_minus1(x, out->dims, copied, rank,
                                                  neg);
        }
    }
    if (nin >= 0 && axle_shape_known(out) && axle_tensor_numel(out) != nin)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Reshape: cannot reshape %lld elements into %lld",
                            (long long)nin,
                            (long long)axle_tensor_numel(out));
    return AXLE_OK;
}

const struct axle_op axle_op_reshape = {
    .name = "Reshape", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = reshape_infer, .run = view_run, .view = true,
};

static enum axle_status flatten_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t axis = axle_node_attr_int(k->node, "axis", 1);
    int ax;

    if (out == NULL)
        return AXLE_OK;
    out->dtype = x->dtype;
    out->rank = 2;
    if (x->rank < 0) {
        out->dims[0] = axis == 0 ? 1 : AXLE_DIM_UNKNOWN;
        out->dims[1] = AXLE_DIM_UNKNOWN;
        return AXLE_OK;
    }
    enum axle_status st = axle_shape_norm_axis(axis, x->rank, true, &ax,
                                               k->err, "Flatten");
    if (st != AXLE_OK)
        return st;
    out->dims[0] = axle_shape_dims_prod(x->dims, 0, ax);
    out->dims[1] = axle_shape_dims_prod(x->dims, ax, x->rank);
    return AXLE_OK;
}

const struct axle_op axle_op_flatten = {
    .name = "Flatten", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = flatten_infer, .run = view_run, .view = true,
};

/* Axes of Squeeze/Unsqueeze: attribute before opset 13, input from 13.
 * *n = -1: given but not readable yet (length in *len when known);
 * *n = -2: not given at all. */
static enum axle_status read_axes(struct axle_kctx *k, const char *op,
                                  int64_t *axes, int *n, int64_t *len)
{
    char what[48];

    *len = -1;
    if (k->opset < 13) {
        int cnt = 0;
        const int64_t *a = axle_node_attr_ints(k->node, "axes", &cnt);
        if (a == NULL) {
            *n = -2;
            return AXLE_OK;
        }
        if (cnt > AXLE_MAX_RANK)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: %d axes exceed rank %d", op, cnt,
                                AXLE_MAX_RANK);
        memcpy(axes, a, (size_t)cnt * sizeof(int64_t));
        *n = cnt;
        return AXLE_OK;
    }
    const struct axle_tensor *t = AXLE_IN(k, 1);
    if (t == NULL) {
        *n = -2;
        return AXLE_OK;
    }
    snprintf(what, sizeof(what), "%s: axes", op);
    enum axle_status st = axle_shape_check_int_input(t, k->err, what);
    if (st != AXLE_OK)
        return st;
    if (!axle_shape_avail(t)) {
        *n = -1;
        *len = axle_shape_len(t);
        return AXLE_OK;
    }
    return axle_shape_read_ints(t, axes, AXLE_MAX_RANK, n, k->err, what);
}

/* Normalises axes against rank into a bit mask; duplicates are errors. */
static enum axle_status axes_mask(struct axle_kctx *k, const char *op,
                                  const int64_t *axes, int n, int rank,
                                  unsigned *mask)
{
    *mask = 0;
    for (int i = 0; i < n; i++) {
        int a;
        enum axle_status st = axle_shape_norm_axis(axes[i], rank, false, &a,
                                                   k->err, op);
        if (st != AXLE_OK)
            return st;
        if (*mask & (1u << a))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: axis %lld repeated", op,
                                (long long)axes[i]);
        *mask |= 1u << a;
    }
    return AXLE_OK;
}

static enum axle_status squeeze_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t axes[AXLE_MAX_RANK], len;
    int n;
    unsigned mask = 0;
    enum axle_status st = read_axes(k, "Squeeze", axes, &n, &len);

    if (st != AXLE_OK || out == NULL)
        return st;
    out->dtype = x->dtype;
    if (x->rank < 0 || n == -1) {
        out->rank = -1;
        if (x->rank >= 0 && len >= 0 && len <= x->rank) {
            out->rank = x->rank - (int)len;
            for (int i = 0; i < out->rank; i++)
                out->dims[i] = AXLE_DIM_UNKNOWN;
        }
        return AXLE_OK;
    }
    if (n == -2) {
        for (int i = 0; i < x->rank; i++) {
            if (x->dims[i] < 0) { /* might be 1 */
                out->rank = -1;
                return AXLE_OK;
            }
            if (x->dims[i] == 1)
                mask |= 1u << i;
        }
    } else {
        st = axes_mask(k, "Squeeze", axes, n, x->rank, &mask);
        if (st != AXLE_OK)
            return st;
        for (int i = 0; i < x->rank; i++)
            if ((mask & (1u << i)) && x->dims[i] >= 0 && x->dims[i] != 1)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Squeeze: dimension %d is %lld, not 1",
                                    i, (long long)x->dims[i]);
    }
    out->rank = 0;
    for (int i = 0; i < x->rank; i++)
        if (!(mask & (1u << i)))
            out->dims[out->rank++] = x->dims[i];
    return AXLE_OK;
}

const struct axle_op axle_op_squeeze = {
    .name = "Squeeze", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = squeeze_infer, .run = view_run, .view = true,
};

static enum axle_status unsqueeze_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t axes[AXLE_MAX_RANK], len;
    int n, r;
    unsigned mask;
    enum axle_status st = read_axes(k, "Unsqueeze", axes, &n, &len);

    if (st != AXLE_OK)
        return st;
    if (n == -2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Unsqueeze: axes are required");
    if (out == NULL)
        return AXLE_OK;
    out->dtype = x->dtype;
    if (x->rank < 0 || n == -1) {
        out->rank = -1;
        if (x->rank >= 0 && len >= 0) {
            if (x->rank + len > AXLE_MAX_RANK)
                return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                                    "Unsqueeze: output rank %lld exceeds %d",
                                    (long long)(x->rank + len),
                                    AXLE_MAX_RANK);
            out->rank = x->rank + (int)len;
            for (int i = 0; i < out->rank; i++)
                out->dims[i] = AXLE_DIM_UNKNOWN;
        }
        return AXLE_OK;
    }
    r = x->rank + n;
    if (r > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "Unsqueeze: output rank %d exceeds %d", r,
                            AXLE_MAX_RANK);
    st = axes_mask(k, "Unsqueeze", axes, n, r, &mask);
    if (st != AXLE_OK)
        return st;
    out->rank = r;
    for (int i = 0, j = 0; i < r; i++)
        out->dims[i] = (mask & (1u << i)) ? 1 : x->dims[j++];
    return AXLE_OK;
}

const struct axle_op axle_op_unsqueeze = {
    .name = "Unsqueeze", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = unsqueeze_infer, .run = view_run, .view = true,
};

/* ---- Range ------------------------------------------------------------ */

static bool range_dtype_ok(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT64 ||
           dt == AXLE_DTYPE_INT16 || dt == AXLE_DTYPE_INT32 ||
           dt == AXLE_DTYPE_INT64;
}

/* Range-11: n = max(ceil((limit - start) / delta), 0). */
static enum axle_status range_count(struct axle_kctx *k, int64_t *n)
{
    const struct axle_tensor *s = k->in[0], *l = k->in[1], *d = k->in[2];
    bool isf = s->dtype == AXLE_DTYPE_FLOAT32 ||
               s->dtype == AXLE_DTYPE_FLOAT64;

    if (isf) {
        double a = axle_tensor_get_f64(s, 0), b = axle_tensor_get_f64(l, 0);
        double c = axle_tensor_get_f64(d, 0), q;
        if (c == 0.0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Range: delta is zero");
        q = ceil((b - a) / c);
        if (isnan(q) || q > (double)AXLE_TENSOR_MAX_ELEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Range: %g elements is too many", q);
        *n = q > 0 ? (int64_t)q : 0;
        return AXLE_OK;
    }
    __int128 a = axle_tensor_get_i64(s, 0), b = axle_tensor_get_i64(l, 0);
    __int128 c = axle_tensor_get_i64(d, 0), diff = b - a, q;
    if (c == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Range: delta is zero");
    /* ceil division for either sign */
    q = diff / c;
    if ((diff % c != 0) && ((diff > 0) == (c > 0)))
        q++;
    if (q > AXLE_TENSOR_MAX_ELEMS)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Range: %lld elements is too many",
                            (long long)q);
    *n = q > 0 ? (int64_t)q : 0;
    return AXLE_OK;
}

static enum axle_status range_infer(struct axle_kctx *k)
{
    struct axle_tensor *out = OUT0(k);
    enum axle_dtype dt = k->in[0]->dtype;

    for (int i = 0; i < 3; i++) {
        const struct axle_tensor *t = k->in[i];
        if (t == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Range: input %d is required", i);
        if (t->dtype != dt)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Range: input %d is %s, input 0 is %s", i,
                                axle_dtype_name(t->dtype),
                                axle_dtype_name(dt));
        if (t->rank > 1 || (t->rank == 1 && t->dims[0] >= 0 &&
                            t->dims[0] != 1))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Range: input %d must be a scalar", i);
    }
    if (dt != AXLE_DTYPE_UNDEFINED && !range_dtype_ok(dt))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Range: unsupported type %s",
                            axle_dtype_name(dt));
    if (out == NULL)
        return AXLE_OK;
    out->dtype = dt;
    out->rank = 1;
    out->dims[0] = AXLE_DIM_UNKNOWN;
    for (int i = 0; i < 3; i++)
        if (k->in[i]->data == NULL || axle_tensor_numel(k->in[i]) != 1)
            return AXLE_OK;
    return range_count(k, &out->dims[0]);
}

static enum axle_status range_run(struct axle_kctx *k)
{
    struct axle_tensor *out = OUT0(k);
    const struct axle_tensor *s = k->in[0], *d = k->in[2];
    int64_t n;

    if (out == NULL)
        return AXLE_OK;
    n = out->dims[0];
    switch (out->dtype) {
    case AXLE_DTYPE_FLOAT32: {
        float a = *(const float *)s->data, c = *(const float *)d->data;
        float *o = out->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = a + (float)i * c;
        break;
    }
    case AXLE_DTYPE_FLOAT64: {
        double a = *(const double *)s->data, c = *(const double *)d->data;
        double *o = out->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = a + (double)i * c;
        break;
    }
    default: {
        /* Every value lies between start and limit, so it fits the type. */
        int64_t a = axle_tensor_get_i64(s, 0), c = axle_tensor_get_i64(d, 0);
        for (int64_t i = 0; i < n; i++) {
            /* The value lies in [start, limit); unsigned arithmetic
             * keeps the intermediate i * delta defined. */
            int64_t v = (int64_t)((uint64_t)a + (uint64_t)i * (uint64_t)c);
            if (out->dtype == AXLE_DTYPE_INT64)
                ((int64_t *)out->data)[i] = v;
            else if (out->dtype == AXLE_DTYPE_INT32)
                ((int32_t *)out->data)[i] = (int32_t)v;
            else
                ((int16_t *)out->data)[i] = (int16_t)v;
        }
        break;
    }
    }
    return AXLE_OK;
}

const struct axle_op axle_op_range = {
    .name = "Range", .domain = "",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = range_infer, .run = range_run,
};
