/*
 * index_misc.c - index-pattern operators whose output shape follows from
 * shapes and attributes: Trilu (ONNX 14), OneHot (9, 11), EyeLike (9),
 * ReverseSequence (10), DepthToSpace (1, 11, 13) and SpaceToDepth (1, 13).
 *
 * Trilu keeps the upper (upper=1, default) or lower triangle of the last
 * two dims, shifted by the optional scalar input k; the rest is zero ("" for
 * strings). OneHot writes values[1] where the class equals the index and
 * values[0] elsewhere; depth (any numeric type, a float is truncated) is an
 * input, so the output dim is unknown at load unless depth is constant. As
 * the spec says, an index outside [-depth, depth-1] (before 11: outside
 * [0, depth-1]) gives an all-off row rather than an error; negative ones
 * count from depth from 11. EyeLike: ones on diagonal k of a 2-D tensor,
 * type from `dtype` or the input. ReverseSequence reverses the first
 * sequence_lens[b] steps of each batch entry; a length outside [0, T] is
 * AXLE_INVALID_ARGUMENT. DepthToSpace (mode DCR, and CRD from 11) and
 * SpaceToDepth are fixed 6-D permutations handed to the strided-copy engine
 * of shape_copy.c (threads, strings and the contiguous-run shortcuts come
 * from there).
 */
#include <stdatomic.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/tensor.h"
#include "kernels/index_internal.h"

#define PAR_MIN_BYTES ((int64_t)64 << 10)
#define PAR_GRAIN_BYTES ((int64_t)16 << 10)

static void copy_shape(struct axle_tensor *out, const struct axle_tensor *x,
                       enum axle_dtype dt)
{
    out->dtype = dt;
    out->rank = x->rank;
    if (x->rank > 0)
        memcpy(out->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
}

/* Sets n elements at dst to zero ("" for strings); false when out of
 * memory. */
static bool zero_elems(enum axle_dtype dt, size_t es, void *dst, int64_t n)
{
    if (dt == AXLE_DTYPE_STRING) {
        for (int64_t i = 0; i < n; i++)
            if (!idx_set_str((char **)dst + i, ""))
                return false;
        return true;
    }
    memset(dst, 0, (size_t)n * es);
    return true;
}

/* Copies n contiguous elements (strings duplicated). */
static bool copy_run(enum axle_dtype dt, size_t es, void *dst,
                     const void *src, int64_t n)
{
    if (dt == AXLE_DTYPE_STRING) {
        for (int64_t i = 0; i < n; i++)
            if (!idx_set_str((char **)dst + i, ((char *const *)src)[i]))
                return false;
        return true;
    }
    memcpy(dst, src, (size_t)n * es);
    return true;
}

/* ---- Trilu ------------------------------------------------------------ */

/* Reads the optional k input; *known false while it has no data. */
static enum axle_status trilu_k(struct axle_kctx *k, int64_t *kv, bool *known)
{
    const struct axle_tensor *t = AXLE_IN(k, 1);
    int64_t n;

    *kv = 0;
    *known = true;
    if (t == NULL)
        return AXLE_OK;
    n = axle_tensor_numel(t);
    if (t->dtype != AXLE_DTYPE_UNDEFINED && t->dtype != AXLE_DTYPE_INT64)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Trilu: k must be int64, got %s",
                            axle_dtype_name(t->dtype));
    if (t->rank > 1 || (n >= 0 && n != 1))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Trilu: k must hold one element");
    if (t->data == NULL || n < 0) {
        *known = false;
        return AXLE_OK;
    }
    *kv = ((const int64_t *)t->data)[0];
    return AXLE_OK;
}

static enum axle_status trilu_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int64_t kv;
    bool known;
    enum axle_status st = trilu_k(k, &kv, &known);

    if (st != AXLE_OK)
        return st;
    if (x->rank >= 0 && x->rank < 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Trilu: input must have rank >= 2, got %d",
                            x->rank);
    if (out != NULL)
        copy_shape(out, x, x->dtype);
    return AXLE_OK;
}

struct trilu_job {
    const char *src;
    char *dst;
    enum axle_dtype dt;
    size_t es;
    int64_t n, m, kk;
    bool upper;
    atomic_bool oom;
};

/* Items are rows (matrix * n + i). */
static void trilu_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    struct trilu_job *j = ctx;
    (void)tid;

    for (int64_t row = begin; row < end; row++) {
        int64_t i = row % j->n, lo, hi;
        size_t off = (size_t)(row * j->m) * j->es;
        char *d = j->dst + off;
        const char *s = j->src + off;
        /* upper keeps col - i >= k, lower keeps col - i <= k; kk is
         * clamped so these sums cannot overflow. */
        if (j->upper) {
            lo = i + j->kk;
            hi = j->m;
        } else {
            lo = 0;
            hi = i + j->kk + 1;
        }
        lo = lo < 0 ? 0 : lo > j->m ? j->m : lo;
        hi = hi < lo ? lo : hi > j->m ? j->m : hi;
        if (!zero_elems(j->dt, j->es, d, lo) ||
            !copy_run(j->dt, j->es, d + (size_t)lo * j->es,
                      s + (size_t)lo * j->es, hi - lo) ||
            !zero_elems(j->dt, j->es, d + (size_t)hi * j->es, j->m - hi)) {
            atomic_store(&j->oom, true);
            return;
        }
    }
}

static enum axle_status trilu_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = IDX_OUT(k, 0);
    struct trilu_job j;
    int64_t kv, rows, lim;
    bool known;
    enum axle_status st = trilu_k(k, &kv, &known);

    if (st != AXLE_OK || out == NULL)
        return st;
    memset(&j, 0, sizeof(j));
    j.src = x->data;
    j.dst = out->data;
    j.dt = x->dtype;
    j.es = axle_dtype_size(x->dtype);
    j.n = x->dims[x->rank - 2];
    j.m = x->dims[x->rank - 1];
    j.upper = axle_node_attr_int(k->node, "upper", 1) != 0;
    lim = j.n + j.m + 1;
    j.kk = kv > lim ? lim : kv < -lim ? -lim : kv;
    atomic_init(&j.oom, false);
    rows = axle_shape_dims_prod(x->dims, 0, x->rank - 1);
    if (rows <= 0 || j.m == 0)
        return AXLE_OK;
    if (j.dt == AXLE_DTYPE_STRING ||
        rows * j.m * (int64_t)j.es < PAR_MIN_BYTES) {
        trilu_chunk(&j, 0, rows, 0);
    } else {
        int64_t grain = PAR_GRAIN_BYTES / (j.m * (int64_t)j.es);
        axle_pool_parallel_for(k->pool, rows, grain > 0 ? grain : 1,
                               trilu_chunk, &j);
    }
    return atomic_load(&j.oom) ? idx_oom(k, "Trilu") : AXLE_OK;
}

const struct axle_op axle_op_trilu = {
    .name = "Trilu", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = trilu_infer, .run = trilu_run,
};

/* ---- OneHot ----------------------------------------------------------- */

/* depth as an int64 (> 0); *known false while it has no data. */
static enum axle_status onehot_depth(struct axle_kctx *k, int64_t *depth,
                                     bool *known)
{
    const struct axle_tensor *t = k->in[1];
    int64_t n = axle_tensor_numel(t);

    *known = false;
    if (t->dtype == AXLE_DTYPE_STRING || t->dtype == AXLE_DTYPE_BOOL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "OneHot: depth must be numeric, got %s",
                            axle_dtype_name(t->dtype));
    if (t->rank > 1 || (n >= 0 && n != 1))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "OneHot: depth must hold one element");
    if (t->data == NULL || n < 0 || t->dtype == AXLE_DTYPE_UNDEFINED)
        return AXLE_OK;
    if (!idx_scalar_i64(t, depth) || *depth < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "OneHot: depth %g must be a positive integer",
                            axle_tensor_get_f64(t, 0));
    *known = true;
    return AXLE_OK;
}

static enum axle_status onehot_infer(struct axle_kctx *k)
{
    const struct axle_tensor *idx = k->in[0], *vals = k->in[2];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int64_t depth = AXLE_DIM_UNKNOWN, nv = axle_tensor_numel(vals);
    bool known;
    int axis, r = idx->rank;
    enum axle_status st = onehot_depth(k, &depth, &known);

    if (st != AXLE_OK)
        return st;
    if (idx->dtype == AXLE_DTYPE_STRING || idx->dtype == AXLE_DTYPE_BOOL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "OneHot: indices must be numeric, got %s",
                            axle_dtype_name(idx->dtype));
    if (vals->rank > 1 || (nv >= 0 && nv != 2))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "OneHot: values must be [off_value, on_value]");
    if (out == NULL)
        return AXLE_OK;
    axle_shape_set_unknown(out, vals->dtype);
    if (r < 0)
        return AXLE_OK;
    if (r + 1 > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "OneHot: output rank %d exceeds %d", r + 1,
                            AXLE_MAX_RANK);
    st = axle_shape_norm_axis(axle_node_attr_int(k->node, "axis", -1), r + 1,
                              false, &axis, k->err, "OneHot");
    if (st != AXLE_OK)
        return st;
    out->rank = r + 1;
    for (int d = 0, s = 0; d <= r; d++)
        out->dims[d] = d == axis ? (known ? depth : AXLE_DIM_UNKNOWN)
                                 : idx->dims[s++];
    if (axle_shape_known(out) && axle_tensor_numel(out) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "OneHot: output of depth %lld is too large",
                            (long long)depth);
    return AXLE_OK;
}

/* Class of index element i, or -1 for an all-off row. */
static int64_t onehot_class(const struct axle_tensor *t, int64_t i,
                            int64_t depth, bool neg_ok)
{
    int64_t v;

    switch (t->dtype) {
    case AXLE_DTYPE_FLOAT32:
    case AXLE_DTYPE_FLOAT64:
    case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16: {
        double d = axle_tensor_get_f64(t, i);
        if (!(d > -9.2e18 && d < 9.2e18))
            return -1;
        v = (int64_t)d;
        break;
    }
    case AXLE_DTYPE_UINT64:
        if (((const uint64_t *)t->data)[i] >= (uint64_t)depth)
            return -1;
        return (int64_t)((const uint64_t *)t->data)[i];
    default:
        v = axle_tensor_get_i64(t, i);
        break;
    }
    if (v < 0 && neg_ok)
        v += depth;
    return v >= 0 && v < depth ? v : -1;
}

static enum axle_status onehot_run(struct axle_kctx *k)
{
    const struct axle_tensor *idx = k->in[0], *vals = k->in[2];
    struct axle_tensor *out = IDX_OUT(k, 0);
    enum axle_dtype dt = vals->dtype;
    size_t es = axle_dtype_size(dt);
    int64_t depth = 0, outer, inner, n_out;
    int axis;
    bool known, neg_ok = k->opset >= 11;
    enum axle_status st = onehot_depth(k, &depth, &known);

    if (st != AXLE_OK || out == NULL)
        return st;
    if (!known)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "OneHot: depth has no value");
    axis = (int)axle_node_attr_int(k->node, "axis", -1);
    if (axis < 0)
        axis += idx->rank + 1;
    outer = axle_shape_dims_prod(idx->dims, 0, axis);
    inner = axle_shape_dims_prod(idx->dims, axis, idx->rank);
    n_out = axle_tensor_numel(out);
    /* Off everywhere, then on at each index's class. */
    for (int64_t i = 0; i < n_out; i++)
        if (!idx_copy_elem(dt, es, out->data, i, vals->data, 0))
            return idx_oom(k, "OneHot");
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t c = onehot_class(idx, o * inner + i, depth, neg_ok);
            if (c >= 0 && !idx_copy_elem(dt, es, out->data,
                                         (o * depth + c) * inner + i,
                                         vals->data, 1))
                return idx_oom(k, "OneHot");
        }
    return AXLE_OK;
}

const struct axle_op axle_op_one_hot = {
    .name = "OneHot", .domain = "",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = onehot_infer, .run = onehot_run,
};

/* ---- EyeLike ---------------------------------------------------------- */

static bool eyelike_dtype_ok(enum axle_dtype dt)
{
    return dt != AXLE_DTYPE_STRING && dt != AXLE_DTYPE_UNDEFINED &&
           axle_dtype_size(dt) > 0;
}

static enum axle_status eyelike_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = IDX_OUT(k, 0);
    enum axle_dtype dt = x->dtype;
    const struct axle_attr *a = axle_node_attr(k->node, "dtype");

    if (a != NULL) {
        dt = (enum axle_dtype)a->i;
        if (a->i < 0 || a->i > 16 || !eyelike_dtype_ok(dt))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "EyeLike: unsupported dtype %lld",
                                (long long)a->i);
    } else if (dt != AXLE_DTYPE_UNDEFINED && !eyelike_dtype_ok(dt)) {
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "EyeLike: unsupported type %s",
                            axle_dtype_name(dt));
    }
    if (x->rank >= 0 && x->rank != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "EyeLike: input must be 2-D, got rank %d",
                            x->rank);
    if (out != NULL)
        copy_shape(out, x, dt);
    return AXLE_OK;
}

static enum axle_status eyelike_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int64_t n, m, kv = axle_node_attr_int(k->node, "k", 0);
    size_t es;
    char one[8];

    if (out == NULL)
        return AXLE_OK;
    n = x->dims[0];
    m = x->dims[1];
    es = axle_dtype_size(out->dtype);
    switch (out->dtype) {
    case AXLE_DTYPE_FLOAT32: memcpy(one, &(float){1.0f}, 4); break;
    case AXLE_DTYPE_FLOAT64: memcpy(one, &(double){1.0}, 8); break;
    case AXLE_DTYPE_FLOAT16: memcpy(one, &(uint16_t){0x3c00}, 2); break;
    case AXLE_DTYPE_BFLOAT16: memcpy(one, &(uint16_t){0x3f80}, 2); break;
    default: {
        /* Integers and bool: 1 in the low byte (little-endian). */
        uint64_t v = 1;
        memcpy(one, &v, 8);
        break;
    }
    }
    memset(out->data, 0, (size_t)(n * m) * es);
    /* Row i has its one at column i + k when that is inside. */
    for (int64_t i = kv < 0 ? (kv < -n ? n : -kv) : 0; i < n; i++) {
        int64_t col = i + kv;
        if (col >= m)
            break;
        idx_cp((char *)out->data + (size_t)(i * m + col) * es, one, es);
    }
    return AXLE_OK;
}

const struct axle_op axle_op_eye_like = {
    .name = "EyeLike", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = eyelike_infer, .run = eyelike_run,
};

/* ---- ReverseSequence -------------------------------------------------- */

static enum axle_status rs_axes(struct axle_kctx *k, int *t_axis,
                                int *b_axis)
{
    int64_t t = axle_node_attr_int(k->node, "time_axis", 0);
    int64_t b = axle_node_attr_int(k->node, "batch_axis", 1);

    if ((t != 0 && t != 1) || (b != 0 && b != 1) || t == b)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ReverseSequence: time_axis %lld and batch_axis "
                            "%lld must be 0 and 1 in some order",
                            (long long)t, (long long)b);
    *t_axis = (int)t;
    *b_axis = (int)b;
    return AXLE_OK;
}

static enum axle_status rs_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *lens = k->in[1];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int t_axis, b_axis;
    enum axle_status st = rs_axes(k, &t_axis, &b_axis);

    if (st != AXLE_OK)
        return st;
    if (lens->dtype != AXLE_DTYPE_UNDEFINED && lens->dtype != AXLE_DTYPE_INT64)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ReverseSequence: sequence_lens must be int64, "
                            "got %s", axle_dtype_name(lens->dtype));
    if (lens->rank >= 0 && lens->rank != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ReverseSequence: sequence_lens must be 1-D");
    if (x->rank >= 0 && x->rank < 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ReverseSequence: input must have rank >= 2");
    if (x->rank >= 2 && lens->rank == 1 && x->dims[b_axis] >= 0 &&
        lens->dims[0] >= 0 && x->dims[b_axis] != lens->dims[0])
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ReverseSequence: %lld sequence lengths for a "
                            "batch of %lld", (long long)lens->dims[0],
                            (long long)x->dims[b_axis]);
    if (out != NULL)
        copy_shape(out, x, x->dtype);
    return AXLE_OK;
}

static enum axle_status rs_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *lens = k->in[1];
    struct axle_tensor *out = IDX_OUT(k, 0);
    const int64_t *len = lens->data;
    int64_t nb, nt, slab, sb, st_;
    size_t es = axle_dtype_size(x->dtype);
    int t_axis, b_axis;
    enum axle_status st = rs_axes(k, &t_axis, &b_axis);

    if (st != AXLE_OK || out == NULL)
        return st;
    nb = x->dims[b_axis];
    nt = x->dims[t_axis];
    slab = axle_shape_dims_prod(x->dims, 2, x->rank);
    /* Element strides of a batch entry and a time step. */
    sb = (b_axis == 0 ? nt : 1) * slab;
    st_ = (t_axis == 0 ? nb : 1) * slab;
    for (int64_t b = 0; b < nb; b++)
        if (len[b] < 0 || len[b] > nt)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "ReverseSequence: sequence_lens[%lld] = %lld "
                                "is out of range [0, %lld]", (long long)b,
                                (long long)len[b], (long long)nt);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t t = 0; t < nt; t++) {
            int64_t from = t < len[b] ? len[b] - 1 - t : t;
            if (!copy_run(x->dtype, es,
                          (char *)out->data + (size_t)(b * sb + t * st_) * es,
                          (const char *)x->data +
                              (size_t)(b * sb + from * st_) * es,
                          slab))
                return idx_oom(k, "ReverseSequence");
        }
    return AXLE_OK;
}

const struct axle_op axle_op_reverse_sequence = {
    .name = "ReverseSequence", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = rs_infer, .run = rs_run,
};

/* ---- DepthToSpace / SpaceToDepth -------------------------------------- */

/* blocksize attribute (required, >= 1, its square fitting a dim). */
static enum axle_status d2s_block(struct axle_kctx *k, const char *op,
                                  int64_t *bs)
{
    const struct axle_attr *a = axle_node_attr(k->node, "blocksize");

    if (a == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: attribute blocksize is missing", op);
    if (a->i < 1 || a->i > ((int64_t)1 << 31))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: blocksize %lld out of range", op,
                            (long long)a->i);
    *bs = a->i;
    return AXLE_OK;
}

/* DepthToSpace mode: true for CRD (opset 11+), false for DCR. */
static enum axle_status d2s_mode(struct axle_kctx *k, bool *crd)
{
    const char *m = k->opset >= 11
                        ? axle_node_attr_str(k->node, "mode", "DCR") : "DCR";

    *crd = strcmp(m, "CRD") == 0;
    if (!*crd && strcmp(m, "DCR") != 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "DepthToSpace: unknown mode '%.16s'", m);
    return AXLE_OK;
}

static bool is_d2s(const struct axle_kctx *k)
{
    return strcmp(k->node->op_type, "DepthToSpace") == 0;
}

/* dims of the output of DepthToSpace (d2s) or SpaceToDepth. */
static enum axle_status s2d_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = IDX_OUT(k, 0);
    bool d2s = is_d2s(k), crd;
    const char *op = d2s ? "DepthToSpace" : "SpaceToDepth";
    int64_t bs, bb, c, h, w;
    enum axle_status st = d2s_block(k, op, &bs);

    if (st == AXLE_OK && d2s)
        st = d2s_mode(k, &crd);
    if (st != AXLE_OK)
        return st;
    if (out == NULL)
        return AXLE_OK;
    axle_shape_set_unknown(out, x->dtype);
    if (x->rank < 0)
        return AXLE_OK;
    if (x->rank != 4)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input must be 4-D (NCHW), got rank %d", op,
                            x->rank);
    bb = bs * bs;
    c = x->dims[1];
    h = x->dims[2];
    w = x->dims[3];
    out->rank = 4;
    out->dims[0] = x->dims[0];
    if (d2s) {
        if (c >= 0 && c % bb != 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: channels %lld not divisible by "
                                "blocksize^2 = %lld", op, (long long)c,
                                (long long)bb);
        out->dims[1] = c >= 0 ? c / bb : AXLE_DIM_UNKNOWN;
        out->dims[2] = h >= 0 ? axle_shape_dim_mul(h, bs) : AXLE_DIM_UNKNOWN;
        out->dims[3] = w >= 0 ? axle_shape_dim_mul(w, bs) : AXLE_DIM_UNKNOWN;
    } else {
        if ((h >= 0 && h % bs != 0) || (w >= 0 && w % bs != 0))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: height %lld and width %lld must be "
                                "multiples of blocksize %lld", op,
                                (long long)h, (long long)w, (long long)bs);
        out->dims[1] = c >= 0 ? axle_shape_dim_mul(c, bb) : AXLE_DIM_UNKNOWN;
        out->dims[2] = h >= 0 ? h / bs : AXLE_DIM_UNKNOWN;
        out->dims[3] = w >= 0 ? w / bs : AXLE_DIM_UNKNOWN;
    }
    if (axle_shape_known(x) && !axle_shape_known(out))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: output too large", op);
    return AXLE_OK;
}

static enum axle_status s2d_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = IDX_OUT(k, 0);
    struct axle_shape_copy cp;
    bool d2s = is_d2s(k), crd = false;
    int64_t bs, n, c, h, w, hw;
    enum axle_status st = d2s_block(k, d2s ? "DepthToSpace" : "SpaceToDepth",
                                    &bs);

    if (st == AXLE_OK && d2s)
        st = d2s_mode(k, &crd);
    if (st != AXLE_OK || out == NULL)
        return st;
    n = x->dims[0];
    c = x->dims[1];
    h = x->dims[2];
    w = x->dims[3];
    hw = h * w;
    memset(&cp, 0, sizeof(cp));
    cp.rank = 6;
    if (d2s) {
        /* Output viewed as [N, C', H, b1, W, b2]; input channel is
         * (b1*bs + b2)*C' + c' in DCR, c'*bs*bs + b1*bs + b2 in CRD. */
        int64_t co = c / (bs * bs);
        int64_t dims[6] = {n, co, h, bs, w, bs};
        int64_t s_c = crd ? bs * bs * hw : hw;
        int64_t s_b1 = crd ? bs * hw : bs * co * hw;
        int64_t s_b2 = crd ? hw : co * hw;
        int64_t is[6] = {c * hw, s_c, w, s_b1, 1, s_b2};
        memcpy(cp.dims, dims, sizeof(dims));
        memcpy(cp.in_strides, is, sizeof(is));
    } else {
        /* Output viewed as [N, b1, b2, C, H', W']: input row h'*bs + b1,
         * column w'*bs + b2. */
        int64_t dims[6] = {n, bs, bs, c, h / bs, w / bs};
        int64_t is[6] = {c * hw, w, 1, hw, bs * w, bs};
        memcpy(cp.dims, dims, sizeof(dims));
        memcpy(cp.in_strides, is, sizeof(is));
    }
    axle_shape_strides(6, cp.dims, cp.out_strides);
    return axle_shape_copy_strided(k, &cp, x->dtype, x->data, out->data);
}

const struct axle_op axle_op_depth_to_space = {
    .name = "DepthToSpace", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = s2d_infer, .run = s2d_run,
};

const struct axle_op axle_op_space_to_depth = {
    .name = "SpaceToDepth", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = s2d_infer, .run = s2d_run,
};
