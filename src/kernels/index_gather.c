/*
 * index_gather.c - GatherElements (ONNX 11, 13) and GatherND (11, 12, 13),
 * every dtype including strings and bool.
 *
 * GatherElements: out[i] = data[i with axis coordinate = indices[i]]; the
 * output has the indices' shape, which must have data's rank and, off the
 * axis, dims no larger than data's (as ONNX Runtime requires).
 * GatherND: the last indices dim m picks an (m)-tuple into data after the
 * first batch_dims (attribute from 12, default 0) shared leading dims; each
 * tuple copies one slab of data.dims[batch_dims + m:].
 *
 * Indices may be negative (counted from the end of the axis, both ops
 * accept that from their first version); every index is range-checked
 * before it is used and an out-of-range one is AXLE_INVALID_ARGUMENT naming
 * the op, the value and its position. Work is split over k->pool by output
 * element (GatherElements) or by slab (GatherND); strings are copied on the
 * calling thread.
 */
#include <stdatomic.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/tensor.h"
#include "kernels/index_internal.h"

/* Work smaller than this many bytes stays on the calling thread. */
#define PAR_MIN_BYTES ((int64_t)64 << 10)
#define PAR_GRAIN_BYTES ((int64_t)16 << 10)

/* ---- GatherElements --------------------------------------------------- */

static enum axle_status ge_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int axis;
    enum axle_status st = idx_check_dtype(k, idx, "GatherElements");

    if (st != AXLE_OK)
        return st;
    if (out == NULL)
        return AXLE_OK;
    out->dtype = x->dtype;
    out->rank = idx->rank;
    if (idx->rank > 0)
        memcpy(out->dims, idx->dims, sizeof(int64_t) * (size_t)idx->rank);
    if (x->rank < 0 || idx->rank < 0)
        return AXLE_OK;
    if (x->rank == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "GatherElements: data must have rank >= 1");
    if (idx->rank != x->rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "GatherElements: indices rank %d differs from "
                            "data rank %d", idx->rank, x->rank);
    st = axle_shape_norm_axis(axle_node_attr_int(k->node, "axis", 0),
                              x->rank, false, &axis, k->err,
                              "GatherElements");
    if (st != AXLE_OK)
        return st;
    for (int d = 0; d < x->rank; d++)
        if (d != axis && x->dims[d] >= 0 && idx->dims[d] > x->dims[d])
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "GatherElements: indices dim %d is %lld, "
                                "data has only %lld", d,
                                (long long)idx->dims[d],
                                (long long)x->dims[d]);
    return AXLE_OK;
}

struct ge_job {
    const char *src;
    char *dst;
    const void *idx;
    bool idx64, strings;
    size_t es;
    int rank, axis;
    int64_t adim;                   /* data dim along the axis */
    int64_t dims[AXLE_MAX_RANK];    /* indices (= output) dims */
    int64_t strides[AXLE_MAX_RANK]; /* data strides */
    atomic_llong bad;               /* lowest bad position seen, or -1 */
    atomic_bool oom;
};

/* Records pos as bad, keeping the lowest such position across threads. */
static void note_bad(atomic_llong *bad, int64_t pos)
{
    long long cur = atomic_load(bad);
    while ((cur < 0 || pos < cur) &&
           !atomic_compare_exchange_weak(bad, &cur, (long long)pos))
        ;
}

static void ge_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    struct ge_job *j = ctx;
    int last = j->rank - 1, axis = j->axis;
    int64_t c[AXLE_MAX_RANK], base = 0, rem = begin;
    int64_t astride = j->strides[axis];
    (void)tid;

    for (int d = last; d >= 0; d--) {
        c[d] = rem % j->dims[d];
        rem /= j->dims[d];
        if (d != axis)
            base += c[d] * j->strides[d];
    }
    for (int64_t i = begin; i < end; i++) {
        int64_t v;
        if (!idx_norm(idx_at(j->idx, j->idx64, i), j->adim, &v)) {
            note_bad(&j->bad, i);
            return;
        }
        if (j->strings) {
            if (!idx_set_str((char **)j->dst + i,
                             ((char *const *)j->src)[base + v * astride])) {
                atomic_store(&j->oom, true);
                return;
            }
        } else {
            idx_cp(j->dst + (size_t)i * j->es,
                   j->src + (size_t)(base + v * astride) * j->es, j->es);
        }
        /* Next index vector (odometer); base tracks the non-axis part. */
        for (int d = last; d >= 0; d--) {
            c[d]++;
            if (d != axis)
                base += j->strides[d];
            if (c[d] < j->dims[d])
                break;
            if (d != axis)
                base -= c[d] * j->strides[d];
            c[d] = 0;
        }
    }
}

static enum axle_status ge_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1];
    struct axle_tensor *out = IDX_OUT(k, 0);
    struct ge_job j;
    int64_t n;
    long long bad;
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    n = axle_tensor_numel(idx);
    if (n <= 0)
        return AXLE_OK;
    memset(&j, 0, sizeof(j));
    st = axle_shape_norm_axis(axle_node_attr_int(k->node, "axis", 0),
                              x->rank, false, &j.axis, k->err,
                              "GatherElements");
    if (st != AXLE_OK)
        return st;
    j.src = x->data;
    j.dst = out->data;
    j.idx = idx->data;
    j.idx64 = idx->dtype == AXLE_DTYPE_INT64;
    j.strings = x->dtype == AXLE_DTYPE_STRING;
    j.es = axle_dtype_size(x->dtype);
    j.rank = x->rank;
    j.adim = x->dims[j.axis];
    memcpy(j.dims, idx->dims, sizeof(int64_t) * (size_t)idx->rank);
    axle_shape_strides(x->rank, x->dims, j.strides);
    atomic_init(&j.bad, -1);
    atomic_init(&j.oom, false);
    if (j.strings || n * (int64_t)j.es < PAR_MIN_BYTES)
        ge_chunk(&j, 0, n, 0);
    else
        axle_pool_parallel_for(k->pool, n, PAR_GRAIN_BYTES / (int64_t)j.es,
                               ge_chunk, &j);
    bad = atomic_load(&j.bad);
    if (bad >= 0)
        return idx_range_error(k, "GatherElements",
                               idx_at(j.idx, j.idx64, bad), bad, j.adim);
    if (atomic_load(&j.oom))
        return idx_oom(k, "GatherElements");
    return AXLE_OK;
}

const struct axle_op axle_op_gather_elements = {
    .name = "GatherElements", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = ge_infer, .run = ge_run,
};

/* ---- GatherND --------------------------------------------------------- */

static enum axle_status gnd_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int64_t b = k->opset >= 12 ? axle_node_attr_int(k->node, "batch_dims", 0)
                               : 0;
    int64_t m;
    int r, q, rank;
    enum axle_status st = idx_check_dtype(k, idx, "GatherND");

    if (st != AXLE_OK)
        return st;
    if (out == NULL)
        return AXLE_OK;
    axle_shape_set_unknown(out, x->dtype);
    if (x->rank < 0 || idx->rank < 0)
        return AXLE_OK;
    r = x->rank;
    q = idx->rank;
    if (r < 1 || q < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "GatherND: data and indices need rank >= 1, got "
                            "%d and %d", r, q);
    if (b < 0 || b >= q || b >= r)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "GatherND: batch_dims %lld must be below both "
                            "ranks (%d, %d)", (long long)b, r, q);
    for (int d = 0; d < b; d++)
        if (x->dims[d] >= 0 && idx->dims[d] >= 0 &&
            x->dims[d] != idx->dims[d])
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "GatherND: batch dim %d is %lld in data and "
                                "%lld in indices", d, (long long)x->dims[d],
                                (long long)idx->dims[d]);
    m = idx->dims[q - 1];
    if (m < 0)
        return AXLE_OK; /* tuple length unknown: so is the output rank */
    if (m < 1 || m > r - b)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "GatherND: indices' last dim %lld must be in "
                            "[1, %lld]", (long long)m, (long long)(r - b));
    rank = q - 1 + r - (int)b - (int)m;
    if (rank > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "GatherND: output rank %d exceeds %d", rank,
                            AXLE_MAX_RANK);
    out->rank = 0;
    for (int d = 0; d < q - 1; d++)
        out->dims[out->rank++] =
            d < b && idx->dims[d] < 0 ? x->dims[d] : idx->dims[d];
    for (int d = (int)b + (int)m; d < r; d++)
        out->dims[out->rank++] = x->dims[d];
    return AXLE_OK;
}

struct gnd_job {
    const char *src;
    char *dst;
    const void *idx;
    bool idx64, strings;
    size_t es;
    int b, m;
    int64_t n_t, slab, batch_elems; /* batch_elems: data elements per batch */
    const int64_t *dims, *strides;  /* data's */
    atomic_llong bad;               /* lowest bad index position, or -1 */
    atomic_bool oom;
};

/* Items are tuples t = batch * n_t + i; each copies one slab. */
static void gnd_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    struct gnd_job *j = ctx;
    (void)tid;

    for (int64_t t = begin; t < end; t++) {
        int64_t off = (t / j->n_t) * j->batch_elems;
        for (int c = 0; c < j->m; c++) {
            int64_t v, pos = t * j->m + c;
            if (!idx_norm(idx_at(j->idx, j->idx64, pos), j->dims[j->b + c],
                          &v)) {
                note_bad(&j->bad, pos);
                return;
            }
            off += v * j->strides[j->b + c];
        }
        if (j->strings) {
            char **d = (char **)j->dst + t * j->slab;
            char *const *s = (char *const *)j->src + off;
            for (int64_t e = 0; e < j->slab; e++)
                if (!idx_set_str(d + e, s[e])) {
                    atomic_store(&j->oom, true);
                    return;
                }
        } else if (j->slab == 1) {
            idx_cp(j->dst + (size_t)t * j->es, j->src + (size_t)off * j->es,
                   j->es);
        } else {
            memcpy(j->dst + (size_t)(t * j->slab) * j->es,
                   j->src + (size_t)off * j->es, (size_t)j->slab * j->es);
        }
    }
}

static enum axle_status gnd_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *idx = k->in[1];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int64_t strides[AXLE_MAX_RANK], n_b, items;
    struct gnd_job j;
    long long bad;

    if (out == NULL)
        return AXLE_OK;
    memset(&j, 0, sizeof(j));
    j.b = k->opset >= 12
              ? (int)axle_node_attr_int(k->node, "batch_dims", 0) : 0;
    j.m = (int)idx->dims[idx->rank - 1];
    n_b = axle_shape_dims_prod(x->dims, 0, j.b);
    j.n_t = axle_shape_dims_prod(idx->dims, j.b, idx->rank - 1);
    j.slab = axle_shape_dims_prod(x->dims, j.b + j.m, x->rank);
    j.batch_elems = axle_shape_dims_prod(x->dims, j.b, x->rank);
    items = n_b * j.n_t;
    if (items <= 0)
        return AXLE_OK;
    axle_shape_strides(x->rank, x->dims, strides);
    j.src = x->data;
    j.dst = out->data;
    j.idx = idx->data;
    j.idx64 = idx->dtype == AXLE_DTYPE_INT64;
    j.strings = x->dtype == AXLE_DTYPE_STRING;
    j.es = axle_dtype_size(x->dtype);
    j.dims = x->dims;
    j.strides = strides;
    atomic_init(&j.bad, -1);
    atomic_init(&j.oom, false);
    if (j.strings || items * j.slab * (int64_t)j.es < PAR_MIN_BYTES) {
        gnd_chunk(&j, 0, items, 0);
    } else {
        int64_t grain = PAR_GRAIN_BYTES / (j.slab * (int64_t)j.es + 1);
        axle_pool_parallel_for(k->pool, items, grain > 0 ? grain : 1,
                               gnd_chunk, &j);
    }
    bad = atomic_load(&j.bad);
    if (bad >= 0)
        return idx_range_error(k, "GatherND", idx_at(j.idx, j.idx64, bad),
                               bad, x->dims[j.b + bad % j.m]);
    if (atomic_load(&j.oom))
        return idx_oom(k, "GatherND");
    return AXLE_OK;
}

const struct axle_op axle_op_gather_nd = {
    .name = "GatherND", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = gnd_infer, .run = gnd_run,
};
