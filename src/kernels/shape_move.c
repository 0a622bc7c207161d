/*
 * shape_move.c - data-movement operators: Transpose, Concat, Split, Slice
 * and Gather (ONNX opsets 1-18), every dtype including strings and bool.
 *
 * Transpose, Concat, Split and Slice describe their work as one strided
 * copy per input/output and hand it to the copy engine in shape_copy.c,
 * which merges contiguous axes (Concat/Split become row memcpys, NCHW<->NHWC
 * a batch of blocked 2-D transposes) and spreads large copies over the
 * pool. Gather copies contiguous slabs per index after checking every index.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/tensor.h"
#include "kernels/shape_internal.h"

#define OUT0(k) ((k)->n_outputs > 0 ? (k)->out[0] : NULL)

/* ---- Transpose -------------------------------------------------------- */

/* perm attribute (default: reversed axes), validated against rank. */
static enum axle_status transpose_perm(struct axle_kctx *k, int rank,
                                       int *perm)
{
    int n = 0;
    const int64_t *p = axle_node_attr_ints(k->node, "perm", &n);
    unsigned seen = 0;

    if (p == NULL) {
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
        return AXLE_OK;
    }
    if (n != rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Transpose: perm has %d entries, input rank is "
                            "%d", n, rank);
    for (int i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= rank || (seen & (1u << p[i])))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Transpose: perm is not a permutation of "
                                "0..%d (entry %d is %lld)", rank - 1, i,
                                (long long)p[i]);
        seen |= 1u << p[i];
        perm[i] = (int)p[i];
    }
    return AXLE_OK;
}

static enum axle_status transpose_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int perm[AXLE_MAX_RANK];
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    out->dtype = x->dtype;
    if (x->rank < 0) {
        int n = 0;
        const int64_t *p = axle_node_attr_ints(k->node, "perm", &n);
        out->rank = p != NULL && n <= AXLE_MAX_RANK ? n : -1;
        for (int i = 0; i < out->rank; i++)
            out->dims[i] = AXLE_DIM_UNKNOWN;
        return AXLE_OK;
    }
    st = transpose_perm(k, x->rank, perm);
    if (st != AXLE_OK)
        return st;
    out->rank = x->rank;
    for (int i = 0; i < x->rank; i++)
        out->dims[i] = x->dims[perm[i]];
    return AXLE_OK;
}

static enum axle_status transpose_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int perm[AXLE_MAX_RANK];
    int64_t xs[AXLE_MAX_RANK];
    struct axle_shape_copy c;
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    st = transpose_perm(k, x->rank, perm);
    if (st != AXLE_OK)
        return st;
    axle_shape_strides(x->rank, x->dims, xs);
    c.rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        c.dims[i] = out->dims[i];
        c.in_strides[i] = xs[perm[i]];
    }
    axle_shape_strides(out->rank, out->dims, c.out_strides);
    return axle_shape_copy_strided(k, &c, x->dtype, x->data, out->data);
}

const struct axle_op axle_op_transpose = {
    .name = "Transpose", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = transpose_infer, .run = transpose_run,
};

/* ---- Concat ----------------------------------------------------------- */

static enum axle_status concat_axis(struct axle_kctx *k, int64_t *axis)
{
    const struct axle_attr *a = axle_node_attr(k->node, "axis");
    if (a == NULL) {
        /* Concat-1: axis defaults to 1; required from Concat-4. */
        if (k->opset < 4) {
            *axis = 1;
            return AXLE_OK;
        }
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Concat: attribute 'axis' is required");
    }
    *axis = a->i;
    return AXLE_OK;
}

static enum axle_status concat_infer(struct axle_kctx *k)
{
    struct axle_tensor *out = OUT0(k);
    const struct axle_tensor *ref = NULL;
    enum axle_dtype dt = AXLE_DTYPE_UNDEFINED;
    int64_t axis_v = 0, sum = 0;
    int axis;
    bool unknown_rank = false;
    enum axle_status st = concat_axis(k, &axis_v);

    if (st != AXLE_OK)
        return st;
    if (k->n_inputs < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Concat: needs at least one input");
    for (int i = 0; i < k->n_inputs; i++) {
        const struct axle_tensor *t = k->in[i];
        if (t == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Concat: input %d is missing", i);
        if (t->dtype != AXLE_DTYPE_UNDEFINED) {
            if (dt != AXLE_DTYPE_UNDEFINED && t->dtype != dt)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Concat: input %d is %s, expected %s", i,
                                    axle_dtype_name(t->dtype),
                                    axle_dtype_name(dt));
            dt = t->dtype;
        }
        if (t->rank < 0) {
            unknown_rank = true;
            continue;
        }
        if (ref == NULL) {
            ref = t;
        } else if (t->rank != ref->rank) {
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Concat: input %d has rank %d, expected %d",
                                i, t->rank, ref->rank);
        }
    }
    if (ref == NULL) {
        if (out != NULL)
            axle_shape_set_unknown(out, dt);
        return AXLE_OK;
    }
    if (ref->rank == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Concat: inputs must have rank >= 1");
    st = axle_shape_norm_axis(axis_v, ref->rank, false, &axis, k->err,
                              "Concat");
    if (st != AXLE_OK || out == NULL)
        return st;
    out->dtype = dt;
    out->rank = ref->rank;
    memcpy(out->dims, ref->dims, sizeof(out->dims));
    for (int i = 0; i < k->n_inputs; i++) {
        const struct axle_tensor *t = k->in[i];
        if (t->rank < 0)
            continue;
        for (int d = 0; d < t->rank; d++) {
            if (d == axis)
                continue;
            if (t->dims[d] >= 0 && out->dims[d] >= 0 &&
                t->dims[d] != out->dims[d])
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Concat: input %d has dimension %d = "
                                    "%lld, expected %lld", i, d,
                                    (long long)t->dims[d],
                                    (long long)out->dims[d]);
            if (out->dims[d] < 0 && t->dims[d] >= 0)
                out->dims[d] = t->dims[d];
        }
        if (sum >= 0 && t->dims[axis] >= 0)
            sum += t->dims[axis];
        else
            sum = AXLE_DIM_UNKNOWN;
    }
    if (unknown_rank)
        sum = AXLE_DIM_UNKNOWN;
    else if (k->n_inputs == 1)
        sum = ref->dims[axis];
    out->dims[axis] = sum;
    if (sum > AXLE_TENSOR_MAX_ELEMS)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Concat: output too large");
    return AXLE_OK;
}

/* Copy descriptor between a whole tensor t and its window at `offset`
 * along `axis` of the tensor `big` (Concat: t -> big; Split: big -> t). */
static void window_copy(const struct axle_tensor *t,
                        const struct axle_tensor *big, int axis,
                        struct axle_shape_copy *c, int64_t *big_off)
{
    int64_t bs[AXLE_MAX_RANK];
    axle_shape_strides(big->rank, big->dims, bs);
    c->rank = t->rank;
    memcpy(c->dims, t->dims, (size_t)t->rank * sizeof(int64_t));
    axle_shape_strides(t->rank, t->dims, c->in_strides);
    memcpy(c->out_strides, bs, (size_t)t->rank * sizeof(int64_t));
    *big_off = bs[axis];
}

static enum axle_status concat_run(struct axle_kctx *k)
{
    struct axle_tensor *out = OUT0(k);
    int64_t axis_v = 0, off = 0;
    int axis;
    size_t es;
    enum axle_status st = concat_axis(k, &axis_v);

    if (st != AXLE_OK || out == NULL)
        return st;
    st = axle_shape_norm_axis(axis_v, out->rank, false, &axis, k->err,
                              "Concat");
    if (st != AXLE_OK)
        return st;
    es = axle_dtype_size(out->dtype);
    for (int i = 0; i < k->n_inputs; i++) {
        const struct axle_tensor *t = k->in[i];
        struct axle_shape_copy c;
        int64_t stride;
        window_copy(t, out, axis, &c, &stride);
        st = axle_shape_copy_strided(k, &c, out->dtype, t->data,
                                     (char *)out->data +
                                         (size_t)(off * stride) * es);
        if (st != AXLE_OK)
            return st;
        off += t->dims[axis];
    }
    return AXLE_OK;
}

const struct axle_op axle_op_concat = {
    .name = "Concat", .domain = "",
    .min_inputs = 1, .max_inputs = -1, .min_outputs = 1, .max_outputs = 1,
    .infer = concat_infer, .run = concat_run,
};

/* ---- Split ------------------------------------------------------------ */

#define SPLIT_MAX 4096

/* Sizes of the outputs along the axis. *known = false when they cannot be
 * computed yet (load time); sizes[j] = -1 then. */
static enum axle_status split_sizes(struct axle_kctx *k, int64_t dim,
                                    int64_t *sizes, bool *known)
{
    const struct axle_tensor *st_in = NULL;
    const int64_t *attr = NULL;
    int n_attr = 0, n_out = k->n_outputs;
    int64_t num = axle_node_attr_int(k->node, "num_outputs", 0);
    enum axle_status st;

    *known = true;
    if (k->opset >= 13 || k->opset == 1)
        st_in = AXLE_IN(k, 1);
    if (k->opset < 13)
        attr = axle_node_attr_ints(k->node, "split", &n_attr);
    if (st_in != NULL) {
        int64_t len;
        st = axle_shape_check_int_input(st_in, k->err, "Split: split");
        if (st != AXLE_OK)
            return st;
        len = axle_shape_len(st_in);
        if (len >= 0 && len != n_out)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Split: split has %lld values for %d "
                                "outputs", (long long)len, n_out);
        if (!axle_shape_avail(st_in)) {
            *known = false;
            return AXLE_OK;
        }
        int n = 0;
        st = axle_shape_read_ints(st_in, sizes, SPLIT_MAX, &n, k->err,
                                  "Split: split");
        if (st != AXLE_OK)
            return st;
    } else if (attr != NULL) {
        if (n_attr != n_out)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Split: split has %d values for %d outputs",
                                n_attr, n_out);
        memcpy(sizes, attr, (size_t)n_attr * sizeof(int64_t));
    } else if (num > 0 || axle_node_attr(k->node, "num_outputs") != NULL) {
        /* Split-18: ceil-sized chunks, the last one smaller. */
        if (num != n_out)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Split: num_outputs is %lld but the node "
                                "has %d outputs", (long long)num, n_out);
        if (dim < 0) {
            *known = false;
            return AXLE_OK;
        }
        int64_t chunk = (dim + num - 1) / num, left = dim;
        for (int j = 0; j < n_out; j++) {
            sizes[j] = chunk < left ? chunk : left;
            left -= sizes[j];
        }
        return AXLE_OK;
    } else {
        if (dim < 0) {
            *known = false;
            return AXLE_OK;
        }
        if (dim % n_out != 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Split: dimension %lld does not split into "
                                "%d equal parts", (long long)dim, n_out);
        for (int j = 0; j < n_out; j++)
            sizes[j] = dim / n_out;
        return AXLE_OK;
    }
    int64_t sum = 0;
    for (int j = 0; j < n_out; j++) {
        if (sizes[j] < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Split: split[%d] is negative (%lld)", j,
                                (long long)sizes[j]);
        sum += sizes[j];
    }
    if (dim >= 0 && sum != dim)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Split: split sums to %lld, dimension is %lld",
                            (long long)sum, (long long)dim);
    return AXLE_OK;
}

static enum axle_status split_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    int64_t sizes[SPLIT_MAX];
    int axis;
    bool known;
    enum axle_status st;

    if (k->n_outputs > SPLIT_MAX)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "Split: more than %d outputs", SPLIT_MAX);
    if (x->rank < 0) {
        for (int j = 0; j < k->n_outputs; j++)
            if (k->out[j] != NULL)
                axle_shape_set_unknown(k->out[j], x->dtype);
        return AXLE_OK;
    }
    st = axle_shape_norm_axis(axle_node_attr_int(k->node, "axis", 0),
                              x->rank, false, &axis, k->err, "Split");
    if (st != AXLE_OK)
        return st;
    st = split_sizes(k, x->dims[axis], sizes, &known);
    if (st != AXLE_OK)
        return st;
    for (int j = 0; j < k->n_outputs; j++) {
        struct axle_tensor *o = k->out[j];
        if (o == NULL)
            continue;
        o->dtype = x->dtype;
        o->rank = x->rank;
        memcpy(o->dims, x->dims, sizeof(o->dims));
        if (known)
            o->dims[axis] = sizes[j];
        else if (k->n_outputs != 1)
            o->dims[axis] = AXLE_DIM_UNKNOWN;
    }
    return AXLE_OK;
}

static enum axle_status split_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    int64_t sizes[SPLIT_MAX], off = 0;
    int axis;
    bool known;
    size_t es = axle_dtype_size(x->dtype);
    enum axle_status st;

    st = axle_shape_norm_axis(axle_node_attr_int(k->node, "axis", 0),
                              x->rank, false, &axis, k->err, "Split");
    if (st != AXLE_OK)
        return st;
    st = split_sizes(k, x->dims[axis], sizes, &known);
    if (st != AXLE_OK)
        return st;
    if (!known)
        return axle_err_set(k->err, AXLE_INTERNAL, "Split: sizes unknown");
    for (int j = 0; j < k->n_outputs; j++) {
        struct axle_tensor *o = k->out[j];
        if (o != NULL) {
            struct axle_shape_copy c;
            int64_t stride;
            window_copy(o, x, axis, &c, &stride);
            /* window_copy describes o -> x; swap the directions. */
            for (int d = 0; d < c.rank; d++) {
                int64_t t = c.in_strides[d];
                c.in_strides[d] = c.out_strides[d];
                c.out_strides[d] = t;
            }
            st = axle_shape_copy_strided(k, &c, x->dtype,
                                         (const char *)x->data +
                                             (size_t)(off * stride) * es,
                                         o->data);
            if (st != AXLE_OK)
                return st;
        }
        off += sizes[j];
    }
    return AXLE_OK;
}

const struct axle_op axle_op_split = {
    .name = "Split", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = -1,
    .infer = split_infer, .run = split_run,
};

/* ---- Slice ------------------------------------------------------------ */

struct slice_args {
    int n; /* -1: values not readable yet */
    int64_t starts[AXLE_MAX_RANK], ends[AXLE_MAX_RANK];
    int64_t axes[AXLE_MAX_RANK], steps[AXLE_MAX_RANK];
    bool axes_known; /* axes readable even when starts/ends are not */
    int n_axes;
};

static enum axle_status slice_read_input(struct axle_kctx *k, int i,
                                         const char *what, int64_t *vals,
                                         int *n, bool *avail)
{
    const struct axle_tensor *t = AXLE_IN(k, i);
    enum axle_status st;

    *avail = true;
    *n = -1;
    if (t == NULL)
        return AXLE_OK;
    st = axle_shape_check_int_input(t, k->err, what);
    if (st != AXLE_OK)
        return st;
    if (!axle_shape_avail(t)) {
        int64_t len = axle_shape_len(t);
        *avail = false;
        if (len > AXLE_MAX_RANK)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s has %lld values, more than the rank", what,
                                (long long)len);
        *n = (int)len;
        return AXLE_OK;
    }
    return axle_shape_read_ints(t, vals, AXLE_MAX_RANK, n, k->err, what);
}

static enum axle_status slice_args(struct axle_kctx *k, struct slice_args *a)
{
    int ns, ne, na = -1, nst = -1;
    bool as = true, ae = true, aa = true, ast = true;
    enum axle_status st;

    memset(a, 0, sizeof(*a));
    if (k->opset < 10) {
        const int64_t *s = axle_node_attr_ints(k->node, "starts", &ns);
        const int64_t *e = axle_node_attr_ints(k->node, "ends", &ne);
        const int64_t *x = axle_node_attr_ints(k->node, "axes", &na);
        if (s == NULL || e == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Slice: attributes 'starts' and 'ends' are "
                                "required");
        if (ns > AXLE_MAX_RANK || ne > AXLE_MAX_RANK ||
            (x != NULL && na > AXLE_MAX_RANK))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Slice: more values than axes");
        memcpy(a->starts, s, (size_t)ns * sizeof(int64_t));
        memcpy(a->ends, e, (size_t)ne * sizeof(int64_t));
        if (x != NULL)
            memcpy(a->axes, x, (size_t)na * sizeof(int64_t));
        else
            na = -1;
    } else {
        if (AXLE_IN(k, 1) == NULL || AXLE_IN(k, 2) == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Slice: inputs 'starts' and 'ends' are "
                                "required");
        st = slice_read_input(k, 1, "Slice: starts", a->starts, &ns, &as);
        if (st == AXLE_OK)
            st = slice_read_input(k, 2, "Slice: ends", a->ends, &ne, &ae);
        if (st == AXLE_OK)
            st = slice_read_input(k, 3, "Slice: axes", a->axes, &na, &aa);
        if (st == AXLE_OK)
            st = slice_read_input(k, 4, "Slice: steps", a->steps, &nst,
                                  &ast);
        if (st != AXLE_OK)
            return st;
    }
    if (ns >= 0 && ne >= 0 && ns != ne)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Slice: %d starts but %d ends", ns, ne);
    int len = ns >= 0 ? ns : ne;
    if ((na >= 0 && len >= 0 && na != len) ||
        (nst >= 0 && len >= 0 && nst != len))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Slice: starts, ends, axes and steps differ in "
                            "length");
    if (len < 0)
        len = na >= 0 ? na : nst;
    a->n_axes = len;
    a->axes_known = aa && len >= 0;
    if (aa && na < 0)
        for (int i = 0; i < len; i++)
            a->axes[i] = i;
    if (ast && nst < 0)
        for (int i = 0; i < len; i++)
            a->steps[i] = 1;
    if (k->opset < 10)
        for (int i = 0; i < len; i++)
            a->steps[i] = 1;
    a->n = as && ae && aa && ast ? len : -1;
    return AXLE_OK;
}

/* Effective start and element count along one axis of size d
 * (Slice-13 clamping rules). */
static void slice_axis(int64_t d, int64_t start, int64_t end, int64_t step,
                       int64_t *first, int64_t *count)
{
    if (start < 0)
        start += d;
    if (end < 0)
        end += d;
    /* Counts written as (diff - 1) / |step| + 1 so that huge steps
     * (INT64_MAX, INT64_MIN) cannot overflow. */
    if (step > 0) {
        start = start < 0 ? 0 : start > d ? d : start;
        end = end < 0 ? 0 : end > d ? d : end;
        *count = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = start < 0 ? 0 : start > d - 1 ? d - 1 : start;
        end = end < -1 ? -1 : end > d - 1 ? d - 1 : end;
        if (start <= end)
            *count = 0;
        else if (step == INT64_MIN)
            *count = 1;
        else
            *count = (start - end - 1) / -step + 1;
    }
    *first = *count > 0 ? start : 0;
}

/* Per-axis first index and step (step 1, first 0 on untouched axes);
 * writes output dims. */
static enum axle_status slice_plan(struct axle_kctx *k,
                                   const struct axle_tensor *x,
                                   const struct slice_args *a, int64_t *first,
                                   int64_t *step, int64_t *dims)
{
    unsigned seen = 0;

    for (int i = 0; i < x->rank; i++) {
        first[i] = 0;
        step[i] = 1;
        dims[i] = x->dims[i];
    }
    for (int i = 0; i < a->n; i++) {
        int ax;
        enum axle_status st = axle_shape_norm_axis(a->axes[i], x->rank, false,
                                                   &ax, k->err, "Slice");
        if (st != AXLE_OK)
            return st;
        if (seen & (1u << ax))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Slice: axis %d repeated", ax);
        seen |= 1u << ax;
        if (a->steps[i] == 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Slice: step is zero on axis %d", ax);
        step[ax] = a->steps[i];
        if (x->dims[ax] < 0) {
            /* Symbolic: only a whole-axis slice keeps the dim. */
            if (!(a->starts[i] == 0 && a->steps[i] == 1 &&
                  a->ends[i] >= (int64_t)INT32_MAX))
                dims[ax] = AXLE_DIM_UNKNOWN;
            continue;
        }
        slice_axis(x->dims[ax], a->starts[i], a->ends[i], a->steps[i],
                   &first[ax], &dims[ax]);
        if (dims[ax] <= 1)
            step[ax] = 1; /* one element: keep strides small */
    }
    return AXLE_OK;
}

static enum axle_status slice_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    struct slice_args a;
    int64_t first[AXLE_MAX_RANK], step[AXLE_MAX_RANK];
    enum axle_status st = slice_args(k, &a);

    if (st != AXLE_OK || out == NULL)
        return st;
    out->dtype = x->dtype;
    if (x->rank < 0) {
        out->rank = -1;
        return AXLE_OK;
    }
    if (a.n_axes > x->rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Slice: %d axes for a rank-%d input", a.n_axes,
                            x->rank);
    out->rank = x->rank;
    if (a.n < 0) {
        /* Values unknown: the sliced axes (all, if unknown) lose dims. */
        memcpy(out->dims, x->dims, sizeof(out->dims));
        for (int i = 0; i < x->rank; i++) {
            bool sliced = !a.axes_known;
            for (int j = 0; a.axes_known && j < a.n_axes; j++) {
                int ax;
                st = axle_shape_norm_axis(a.axes[j], x->rank, false, &ax,
                                          k->err, "Slice");
                if (st != AXLE_OK)
                    return st;
                sliced |= ax == i;
            }
            if (sliced)
                out->dims[i] = AXLE_DIM_UNKNOWN;
        }
        return AXLE_OK;
    }
    return slice_plan(k, x, &a, first, step, out->dims);
}

static enum axle_status slice_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    struct slice_args a;
    int64_t first[AXLE_MAX_RANK], step[AXLE_MAX_RANK], xs[AXLE_MAX_RANK];
    int64_t dims[AXLE_MAX_RANK], base = 0;
    struct axle_shape_copy c;
    enum axle_status st = slice_args(k, &a);

    if (st != AXLE_OK || out == NULL)
        return st;
    if (a.n < 0)
        return axle_err_set(k->err, AXLE_INTERNAL, "Slice: values unknown");
    st = slice_plan(k, x, &a, first, step, dims);
    if (st != AXLE_OK)
        return st;
    if (axle_tensor_numel(out) == 0)
        return AXLE_OK;
    axle_shape_strides(x->rank, x->dims, xs);
    c.rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        c.dims[i] = out->dims[i];
        c.in_strides[i] = xs[i] * step[i];
        base += first[i] * xs[i];
    }
    axle_shape_strides(out->rank, out->dims, c.out_strides);
    return axle_shape_copy_strided(
        k, &c, x->dtype,
        (const char *)x->data + (size_t)base * axle_dtype_size(x->dtype),
        out->data);
}

const struct axle_op axle_op_slice = {
    .name = "Slice", .domain = "",
    .min_inputs = 1, .max_inputs = 5, .min_outputs = 1, .max_outputs = 1,
    .infer = slice_infer, .run = slice_run,
};

/* ---- Gather ----------------------------------------------------------- */

static enum axle_status gather_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1];
    struct axle_tensor *out = OUT0(k);
    int axis, r;
    enum axle_status st;

    if (idx->dtype != AXLE_DTYPE_UNDEFINED &&
        idx->dtype != AXLE_DTYPE_INT64 && idx->dtype != AXLE_DTYPE_INT32)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Gather: indices must be int32 or int64, got %s",
                            axle_dtype_name(idx->dtype));
    if (out == NULL)
        return AXLE_OK;
    out->dtype = x->dtype;
    if (x->rank < 0 || idx->rank < 0) {
        out->rank = -1;
        return AXLE_OK;
    }
    if (x->rank == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Gather: data must have rank >= 1");
    st = axle_shape_norm_axis(axle_node_attr_int(k->node, "axis", 0),
                              x->rank, false, &axis, k->err, "Gather");
    if (st != AXLE_OK)
        return st;
    r = x->rank - 1 + idx->rank;
    if (r > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "Gather: output rank %d exceeds %d", r,
                            AXLE_MAX_RANK);
    out->rank = 0;
    for (int i = 0; i < axis; i++)
        out->dims[out->rank++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++)
        out->dims[out->rank++] = idx->dims[i];
    for (int i = axis + 1; i < x->rank; i++)
        out->dims[out->rank++] = x->dims[i];
    return AXLE_OK;
}

struct gather_ctx {
    const char *src;
    char *dst;
    const void *idx;
    bool idx64;
    int64_t n_idx, dim, inner; /* inner: bytes per slab */
};

static int64_t gather_index(const struct gather_ctx *g, int64_t j)
{
    int64_t v = g->idx64 ? ((const int64_t *)g->idx)[j]
                         : ((const int32_t *)g->idx)[j];
    return v < 0 ? v + g->dim : v;
}

/* Items are (outer o, index j) pairs, each one slab of g->inner bytes. */
static void gather_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct gather_ctx *g = ctx;
    int64_t inner = g->inner, o = begin / g->n_idx, j = begin % g->n_idx;
    char *d = g->dst + begin * inner;

    for (int64_t it = begin; it < end;) {
        const char *row = g->src + o * g->dim * inner;
        int64_t stop = g->n_idx - j < end - it ? g->n_idx : j + (end - it);
        int64_t n = stop - j;
        /* Element-sized slabs (Gather on the last axis): typed loads. */
        if (inner == 4) {
            uint32_t *d4 = (uint32_t *)d;
            const uint32_t *r4 = (const uint32_t *)row;
            for (int64_t q = 0; q < n; q++)
                d4[q] = r4[gather_index(g, j + q)];
        } else if (inner == 8) {
            uint64_t *d8 = (uint64_t *)d;
            const uint64_t *r8 = (const uint64_t *)row;
            for (int64_t q = 0; q < n; q++)
                d8[q] = r8[gather_index(g, j + q)];
        } else {
            for (int64_t q = 0; q < n; q++)
                memcpy(d + q * inner, row + gather_index(g, j + q) * inner,
                       (size_t)inner);
        }
        d += n * inner;
        it += n;
        j = 0;
        o++;
    }
}

static enum axle_status gather_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1];
    struct axle_tensor *out = OUT0(k);
    struct gather_ctx g;
    int64_t outer, inner_elems, items, n_out;
    size_t es = axle_dtype_size(x->dtype);
    int axis;
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    st = axle_shape_norm_axis(axle_node_attr_int(k->node, "axis", 0),
                              x->rank, false, &axis, k->err, "Gather");
    if (st != AXLE_OK)
        return st;
    g.idx = idx->data;
    g.idx64 = idx->dtype == AXLE_DTYPE_INT64;
    g.n_idx = axle_tensor_numel(idx);
    g.dim = x->dims[axis];
    for (int64_t j = 0; j < g.n_idx; j++) {
        int64_t v = g.idx64 ? ((const int64_t *)g.idx)[j]
                            : ((const int32_t *)g.idx)[j];
        if (v < -g.dim || v >= g.dim)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Gather: index %lld at position %lld is out "
                                "of range [%lld, %lld]", (long long)v,
                                (long long)j, (long long)-g.dim,
                                (long long)(g.dim - 1));
    }
    n_out = axle_tensor_numel(out);
    if (n_out == 0)
        return AXLE_OK;
    outer = axle_shape_dims_prod(x->dims, 0, axis);
    inner_elems = axle_shape_dims_prod(x->dims, axis + 1, x->rank);
    items = outer * g.n_idx;
    if (x->dtype == AXLE_DTYPE_STRING) {
        char *const *s = x->data;
        char **d = out->data;
        for (int64_t it = 0; it < items; it++) {
            int64_t o = it / g.n_idx, j = it % g.n_idx;
            int64_t src = (o * g.dim + gather_index(&g, j)) * inner_elems;
            st = axle_shape_copy_elems(k, x->dtype, s + src,
                                       d + it * inner_elems, inner_elems);
            if (st != AXLE_OK)
                return st;
        }
        return AXLE_OK;
    }
    g.src = x->data;
    g.dst = out->data;
    g.inner = inner_elems * (int64_t)es;
    if (n_out * (int64_t)es < ((int64_t)64 << 10)) {
        gather_chunk(&g, 0, items, 0);
    } else {
        int64_t grain = ((int64_t)32 << 10) / (g.inner > 0 ? g.inner : 1);
        axle_pool_parallel_for(k->pool, items, grain > 0 ? grain : 1,
                               gather_chunk, &g);
    }
    return AXLE_OK;
}

const struct axle_op axle_op_gather = {
    .name = "Gather", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = gather_infer, .run = gather_run,
};
