/*
 * unpool.c - MaxUnpool (ONNX 9, 11).
 *
 * X [N, C, D1, ...] and I (int64, the Indices output of MaxPool, same
 * shape) scatter into a zero output: Y.flat[I.flat[i]] = X.flat[i], the
 * indices counting over the whole tensor as MaxPool's do. The default
 * output shape is (in - 1) * stride + kernel - pad_begin - pad_end per
 * spatial axis. With the optional output_shape input (all dims, N and C
 * included) the indices still address the default shape, whose result
 * then sits at the start of each axis of the larger output, the rest
 * zeros - what ONNX's test_maxunpool_export_with_output_shape expects
 * (ONNX Runtime instead reads the indices in output_shape's layout).
 * Opsets 9 and 11 differ only in type constraints. Elements are copied
 * as bytes, so every fixed-size type works; an index outside the default
 * shape, or one that lands outside a smaller output_shape, is an error;
 * when two indices are equal the later element wins.
 */
#include <string.h>

#include "base/err.h"
#include "ir/op.h"
#include "ir/tensor.h"

struct unpool {
    int nsp;
    int64_t k[AXLE_MAX_RANK], s[AXLE_MAX_RANK], pads[2 * AXLE_MAX_RANK];
};

static enum axle_status unpool_attrs(struct axle_kctx *k, int rank,
                                     struct unpool *u)
{
    int nk = 0, ns = 0, np = 0;
    const int64_t *ks = axle_node_attr_ints(k->node, "kernel_shape", &nk);
    const int64_t *st = axle_node_attr_ints(k->node, "strides", &ns);
    const int64_t *pd = axle_node_attr_ints(k->node, "pads", &np);

    if (ks == NULL || nk < 1 || nk > AXLE_MAX_RANK - 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxUnpool: kernel_shape is required (1 to %d "
                            "dims)", AXLE_MAX_RANK - 2);
    if (rank >= 0 && rank != nk + 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxUnpool: X has rank %d, kernel_shape %d dims",
                            rank, nk);
    if ((st != NULL && ns != nk) || (pd != NULL && np != 2 * nk))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxUnpool: strides/pads do not match "
                            "kernel_shape");
    u->nsp = nk;
    for (int i = 0; i < nk; i++) {
        u->k[i] = ks[i];
        u->s[i] = st != NULL ? st[i] : 1;
        u->pads[i] = pd != NULL ? pd[i] : 0;
        u->pads[i + nk] = pd != NULL ? pd[i + nk] : 0;
        if (u->k[i] < 1 || u->s[i] < 1 || u->pads[i] < 0 ||
            u->pads[i + nk] < 0 || u->k[i] > AXLE_TENSOR_MAX_ELEMS ||
            u->s[i] > AXLE_TENSOR_MAX_ELEMS ||
            u->pads[i] > AXLE_TENSOR_MAX_ELEMS ||
            u->pads[i + nk] > AXLE_TENSOR_MAX_ELEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MaxUnpool: kernel, strides and pads must be "
                                "positive (pads >= 0)");
    }
    return AXLE_OK;
}

/* The default output dims from X's (unknown where X's are). */
static enum axle_status unpool_default(struct axle_kctx *k,
                                       const struct axle_tensor *x,
                                       const struct unpool *u, int64_t *dims)
{
    for (int i = 0; i < u->nsp + 2; i++)
        dims[i] = x->rank >= 0 ? x->dims[i] : AXLE_DIM_UNKNOWN;
    for (int i = 0; i < u->nsp; i++) {
        int64_t d = dims[i + 2];
        if (!axle_dim_known(d)) {
            dims[i + 2] = AXLE_DIM_UNKNOWN;
            continue;
        }
        d = d == 0 ? 0
                   : (d - 1) * u->s[i] + u->k[i] - u->pads[i] -
                         u->pads[i + u->nsp];
        if (d < 0 || d > AXLE_TENSOR_MAX_ELEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MaxUnpool: output dim %d would be %lld",
                                i + 2, (long long)d);
        dims[i + 2] = d;
    }
    if (axle_shape_numel(u->nsp + 2, dims) < 0 &&
        x->rank >= 0 && axle_shape_known(x))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxUnpool: output is too large");
    return AXLE_OK;
}

static enum axle_status unpool_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = AXLE_IN(k, 0), *idx = AXLE_IN(k, 1),
                             *os = AXLE_IN(k, 2);
    struct axle_tensor *o = k->out[0];
    struct unpool u;
    enum axle_status st;

    if (x == NULL || idx == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxUnpool: X and I are required");
    if (x->dtype == AXLE_DTYPE_STRING)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxUnpool: string tensors are not supported");
    if (idx->dtype != AXLE_DTYPE_INT64 && idx->dtype != AXLE_DTYPE_UNDEFINED)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxUnpool: I must be int64, got %s",
                            axle_dtype_name(idx->dtype));
    st = unpool_attrs(k, x->rank, &u);
    if (st != AXLE_OK)
        return st;
    if (x->rank >= 0 && idx->rank >= 0) {
        bool same = x->rank == idx->rank;
        for (int i = 0; same && i < x->rank; i++)
            if (axle_dim_known(x->dims[i]) && axle_dim_known(idx->dims[i]) &&
                x->dims[i] != idx->dims[i])
                same = false;
        if (!same)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MaxUnpool: X and I must have the same "
                                "shape");
    }
    if (o == NULL)
        return AXLE_OK;
    o->dtype = x->dtype;
    o->rank = u.nsp + 2;
    if (os != NULL) {
        if (os->dtype != AXLE_DTYPE_INT64 &&
            os->dtype != AXLE_DTYPE_UNDEFINED)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MaxUnpool: output_shape must be int64");
        if ((os->rank >= 0 && os->rank != 1) ||
            (os->rank == 1 && axle_dim_known(os->dims[0]) &&
             os->dims[0] != o->rank))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MaxUnpool: output_shape must list %d dims",
                                o->rank);
        for (int i = 0; i < o->rank; i++)
            o->dims[i] = AXLE_DIM_UNKNOWN;
        if (os->data == NULL)
            return AXLE_OK;
        for (int i = 0; i < o->rank; i++) {
            int64_t d = ((const int64_t *)os->data)[i];
            if (d < 0 || d > AXLE_TENSOR_MAX_ELEMS)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "MaxUnpool: output_shape dim %d = %lld "
                                    "is out of range", i, (long long)d);
            o->dims[i] = d;
        }
        if (x->rank >= 2 && ((axle_dim_known(x->dims[0]) &&
                              x->dims[0] != o->dims[0]) ||
                             (axle_dim_known(x->dims[1]) &&
                              x->dims[1] != o->dims[1])))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MaxUnpool: output_shape must keep X's N "
                                "and C");
    } else {
        st = unpool_default(k, x, &u, o->dims);
        if (st != AXLE_OK)
            return st;
    }
    if (axle_shape_known(o) && axle_tensor_numel(o) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxUnpool: output is too large");
    return AXLE_OK;
}

static enum axle_status unpool_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1];
    struct axle_tensor *o = k->out[0];
    size_t es = axle_dtype_size(x->dtype);
    int64_t n = axle_tensor_numel(x), total, dtotal;
    int64_t def[AXLE_MAX_RANK];
    const int64_t *id = idx->data;
    struct unpool u;
    bool same;

    if (o == NULL)
        return AXLE_OK;
    enum axle_status st = unpool_attrs(k, x->rank, &u);
    if (st == AXLE_OK)
        st = unpool_default(k, x, &u, def);
    if (st != AXLE_OK)
        return st;
    total = axle_tensor_numel(o);
    dtotal = axle_shape_numel(o->rank, def);
    same = memcmp(def, o->dims, sizeof(int64_t) * (size_t)o->rank) == 0;
    memset(o->data, 0, (size_t)total * es);
    for (int64_t i = 0; i < n; i++) {
        int64_t at = id[i];
        if (at < 0 || at >= dtotal)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MaxUnpool: index %lld is outside the output "
                                "of %lld elements", (long long)at,
                                (long long)dtotal);
        if (!same) { /* re-address the default layout in the output's */
            int64_t rem = at, mul = 1;
            at = 0;
            for (int d = o->rank - 1; d >= 0; d--) {
                int64_t c = rem % def[d];
                rem /= def[d];
                if (c >= o->dims[d])
                    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                        "MaxUnpool: index %lld falls outside "
                                        "output_shape", (long long)id[i]);
                at += c * mul;
                mul *= o->dims[d];
            }
        }
        memcpy((char *)o->data + (size_t)at * es,
               (const char *)x->data + (size_t)i * es, es);
    }
    return AXLE_OK;
}

const struct axle_op axle_op_max_unpool = {
    .name = "MaxUnpool", .domain = "",
    .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = unpool_infer, .run = unpool_run,
};
