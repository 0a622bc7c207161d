/*
 * index_select.c - operators whose output shape depends on the input
 * values: NonZero (ONNX 9, 13), Compress (9, 11) and Unique (11).
 *
 * infer computes the data-dependent dim when the input values are present
 * (a constant at load, every input at run time) and leaves it unknown
 * otherwise, as Range does; run then fills outputs of exactly that shape.
 *
 * NonZero: int64 [rank, nnz], the coordinates of the non-zero elements in
 * row-major order; a scalar counts as a 1-D tensor of one element (as
 * numpy's nonzero did). Floats compare with zero by value (-0.0 is zero,
 * NaN is not), strings are non-zero when not empty.
 * Compress: keeps the slices along `axis` (negative from 11), or the
 * elements of the flattened input when there is no axis, whose condition
 * entry is true. A condition shorter than the axis drops the rest; one that
 * is longer may only hold false past the end (numpy's rule), otherwise it
 * is AXLE_INVALID_ARGUMENT.
 * Unique: the distinct elements (no axis) or slices along `axis`, sorted
 * ascending (sorted=1, default; slices compare lexicographically) or in
 * order of first occurrence; plus the first-occurrence indices, the
 * inverse indices and the counts (all int64, each output optional). NaNs
 * are equal to each other and sort last, -0.0 equals 0.0 (numpy.unique).
 * It is a stable merge sort of item numbers in scratch memory (load-time
 * inference, which has no scratch, uses the fallible heap door), so
 * infer and run each take O(n log n) compares.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/tensor.h"
#include "kernels/index_internal.h"

/* Temporary memory for infer and run: the kernel scratch when there is
 * one, else (load-time inference) the fallible heap. */
static void *tmp_get(struct axle_kctx *k, size_t bytes, bool *heap)
{
    *heap = k->scratch == NULL;
    if (*heap)
        return axle_try_malloc(bytes ? bytes : 1);
    return axle_kctx_scratch(k, bytes ? bytes : 1);
}

static void tmp_put(void *p, bool heap)
{
    if (heap)
        axle_free(p);
}

/* ---- non-zero test ---------------------------------------------------- */

/* Elements are tested as es-byte words under a mask that drops the float
 * sign bit (so -0.0 is zero). Strings are handled apart. */
static uint64_t nz_mask(enum axle_dtype dt)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: return 0x7fffffffu;
    case AXLE_DTYPE_FLOAT64: return 0x7fffffffffffffffull;
    case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16: return 0x7fffu;
    default: return ~(uint64_t)0;
    }
}

static bool nz_at(const struct axle_tensor *t, size_t es, uint64_t mask,
                  int64_t i)
{
    switch (es) {
    case 1: return (((const uint8_t *)t->data)[i] & mask) != 0;
    case 2: return (((const uint16_t *)t->data)[i] & mask) != 0;
    case 4: return (((const uint32_t *)t->data)[i] & mask) != 0;
    default: break;
    }
    if (t->dtype == AXLE_DTYPE_STRING) {
        const char *s = ((char *const *)t->data)[i];
        return s != NULL && s[0] != '\0';
    }
    return (((const uint64_t *)t->data)[i] & mask) != 0;
}

static int64_t count_nz(const struct axle_tensor *t, int64_t n)
{
    size_t es = axle_dtype_size(t->dtype);
    uint64_t mask = nz_mask(t->dtype);
    int64_t c = 0;

    if (t->dtype == AXLE_DTYPE_STRING)
        es = 0; /* not a word size: nz_at takes the string branch */
    for (int64_t i = 0; i < n; i++)
        c += nz_at(t, es, mask, i);
    return c;
}

/* ---- NonZero ---------------------------------------------------------- */

static enum axle_status nonzero_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = IDX_OUT(k, 0);

    if (out == NULL)
        return AXLE_OK;
    out->dtype = AXLE_DTYPE_INT64;
    out->rank = 2;
    out->dims[0] = x->rank < 0 ? AXLE_DIM_UNKNOWN : x->rank > 0 ? x->rank : 1;
    out->dims[1] = AXLE_DIM_UNKNOWN;
    if (axle_shape_known(x) && axle_shape_avail(x))
        out->dims[1] = count_nz(x, axle_tensor_numel(x));
    return AXLE_OK;
}

static enum axle_status nonzero_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int64_t n = axle_tensor_numel(x), c[AXLE_MAX_RANK], nnz, p = 0;
    int r = x->rank;
    size_t es = x->dtype == AXLE_DTYPE_STRING ? 0 : axle_dtype_size(x->dtype);
    uint64_t mask = nz_mask(x->dtype);
    int64_t *o;

    if (out == NULL)
        return AXLE_OK;
    o = out->data;
    nnz = out->dims[1];
    memset(c, 0, sizeof(c));
    for (int64_t i = 0; i < n; i++) {
        if (nz_at(x, es, mask, i)) {
            if (p >= nnz)
                return axle_err_set(k->err, AXLE_INTERNAL,
                                    "NonZero: count changed since infer");
            if (r == 0)
                o[p] = 0;
            for (int d = 0; d < r; d++)
                o[d * nnz + p] = c[d];
            p++;
        }
        for (int d = r - 1; d >= 0; d--) {
            if (++c[d] < x->dims[d])
                break;
            c[d] = 0;
        }
    }
    if (p != nnz)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "NonZero: count changed since infer");
    return AXLE_OK;
}

const struct axle_op axle_op_non_zero = {
    .name = "NonZero", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = nonzero_infer, .run = nonzero_run,
};

/* ---- Compress --------------------------------------------------------- */

/* Axis (or -1 for the flattened input) and the number of entries taken
 * along it, dim. */
static enum axle_status compress_axis(struct axle_kctx *k, int *axis,
                                      int64_t *dim)
{
    const struct axle_tensor *x = k->in[0];
    const struct axle_attr *a = axle_node_attr(k->node, "axis");
    enum axle_status st;

    *axis = -1;
    *dim = axle_shape_dims_prod(x->dims, 0, x->rank);
    if (a == NULL)
        return AXLE_OK;
    if (k->opset < 11 && a->i < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Compress: negative axis needs opset 11");
    st = axle_shape_norm_axis(a->i, x->rank, false, axis, k->err,
                              "Compress");
    if (st == AXLE_OK)
        *dim = x->dims[*axis];
    return st;
}

/* Number of selected entries; the condition may be longer than dim only
 * with false past the end. */
static enum axle_status compress_count(struct axle_kctx *k, int64_t dim,
                                       int64_t *count)
{
    const struct axle_tensor *cond = k->in[1];
    const uint8_t *cv = cond->data;
    int64_t len = cond->dims[0], c = 0;

    for (int64_t i = 0; i < len; i++) {
        if (!cv[i])
            continue;
        if (i >= dim)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Compress: condition[%lld] is true but the "
                                "axis has only %lld entries", (long long)i,
                                (long long)dim);
        c++;
    }
    *count = c;
    return AXLE_OK;
}

static enum axle_status compress_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *cond = k->in[1];
    struct axle_tensor *out = IDX_OUT(k, 0);
    int64_t dim, count = AXLE_DIM_UNKNOWN;
    int axis;
    enum axle_status st;

    if (cond->dtype != AXLE_DTYPE_UNDEFINED && cond->dtype != AXLE_DTYPE_BOOL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Compress: condition must be bool, got %s",
                            axle_dtype_name(cond->dtype));
    if (cond->rank >= 0 && cond->rank != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Compress: condition must be 1-D, got rank %d",
                            cond->rank);
    if (out == NULL)
        return AXLE_OK;
    axle_shape_set_unknown(out, x->dtype);
    if (x->rank < 0) {
        if (axle_node_attr(k->node, "axis") == NULL) {
            out->rank = 1;
            out->dims[0] = AXLE_DIM_UNKNOWN;
        }
        return AXLE_OK;
    }
    st = compress_axis(k, &axis, &dim);
    if (st != AXLE_OK)
        return st;
    if (axle_shape_avail(cond) && cond->dims[0] >= 0 && dim >= 0) {
        st = compress_count(k, dim, &count);
        if (st != AXLE_OK)
            return st;
    }
    if (axis < 0) {
        out->rank = 1;
        out->dims[0] = count;
    } else {
        memcpy(out->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
        out->rank = x->rank;
        out->dims[axis] = count;
    }
    return AXLE_OK;
}

static enum axle_status compress_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *cond = k->in[1];
    struct axle_tensor *out = IDX_OUT(k, 0);
    const uint8_t *cv = cond->data;
    size_t es = axle_dtype_size(x->dtype);
    int64_t dim, count, outer, inner, len, p = 0;
    int axis;
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    st = compress_axis(k, &axis, &dim);
    if (st == AXLE_OK)
        st = compress_count(k, dim, &count);
    if (st != AXLE_OK)
        return st;
    if (count != (axis < 0 ? out->dims[0] : out->dims[axis]))
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "Compress: count changed since infer");
    outer = axis < 0 ? 1 : axle_shape_dims_prod(x->dims, 0, axis);
    inner = axis < 0 ? 1 : axle_shape_dims_prod(x->dims, axis + 1, x->rank);
    len = cond->dims[0] < dim ? cond->dims[0] : dim;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t a = 0; a < len; a++) {
            if (!cv[a])
                continue;
            st = axle_shape_copy_elems(
                k, x->dtype,
                (const char *)x->data + (size_t)((o * dim + a) * inner) * es,
                (char *)out->data + (size_t)(p * inner) * es, inner);
            if (st != AXLE_OK)
                return st;
            p++;
        }
    return AXLE_OK;
}

const struct axle_op axle_op_compress = {
    .name = "Compress", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = compress_infer, .run = compress_run,
};

/* ---- Unique ----------------------------------------------------------- */

/* Items are elements (no axis: outer = inner = 1, n = numel) or slices
 * along the axis: item a is the elements (o*n + a)*inner + i. */
struct uq {
    const struct axle_tensor *x;
    int64_t outer, n, inner;
    int (*cmp)(const void *data, int64_t i, int64_t j);
    /* scratch, n each */
    int64_t *perm;  /* item numbers in sorted order; reused as a mark */
    int64_t *tmp;   /* merge buffer, then each item's group */
    int64_t *first; /* per group: first item */
    int64_t *count; /* per group: items */
    int64_t *pos;   /* per group: output position */
    int64_t n_grp;
};

#define CMP_NUM(NAME, T)                                                       \
    static int NAME(const void *d, int64_t i, int64_t j)                       \
    {                                                                          \
        T a = ((const T *)d)[i], b = ((const T *)d)[j];                        \
        return a < b ? -1 : a > b;                                             \
    }
CMP_NUM(cmp_i8, int8_t)
CMP_NUM(cmp_i16, int16_t)
CMP_NUM(cmp_i32, int32_t)
CMP_NUM(cmp_i64, int64_t)
CMP_NUM(cmp_u8, uint8_t)
CMP_NUM(cmp_u16, uint16_t)
CMP_NUM(cmp_u32, uint32_t)
CMP_NUM(cmp_u64, uint64_t)

/* NaN after every number and equal to another NaN. */
static int cmp_dbl(double a, double b)
{
    bool na = a != a, nb = b != b;
    if (na || nb)
        return na - nb;
    return a < b ? -1 : a > b;
}

static int cmp_f32(const void *d, int64_t i, int64_t j)
{
    return cmp_dbl(((const float *)d)[i], ((const float *)d)[j]);
}

static int cmp_f64(const void *d, int64_t i, int64_t j)
{
    return cmp_dbl(((const double *)d)[i], ((const double *)d)[j]);
}

static int cmp_f16(const void *d, int64_t i, int64_t j)
{
    return cmp_dbl(axle_f16_to_f32(((const uint16_t *)d)[i]),
                   axle_f16_to_f32(((const uint16_t *)d)[j]));
}

static int cmp_bf16(const void *d, int64_t i, int64_t j)
{
    return cmp_dbl(axle_bf16_to_f32(((const uint16_t *)d)[i]),
                   axle_bf16_to_f32(((const uint16_t *)d)[j]));
}

static int cmp_str(const void *d, int64_t i, int64_t j)
{
    const char *a = ((char *const *)d)[i], *b = ((char *const *)d)[j];
    int c = strcmp(a ? a : "", b ? b : "");
    return c < 0 ? -1 : c > 0;
}

static int (*uq_cmp_for(enum axle_dtype dt))(const void *, int64_t, int64_t)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: return cmp_f32;
    case AXLE_DTYPE_FLOAT64: return cmp_f64;
    case AXLE_DTYPE_FLOAT16: return cmp_f16;
    case AXLE_DTYPE_BFLOAT16: return cmp_bf16;
    case AXLE_DTYPE_INT8: return cmp_i8;
    case AXLE_DTYPE_INT16: return cmp_i16;
    case AXLE_DTYPE_INT32: return cmp_i32;
    case AXLE_DTYPE_INT64: return cmp_i64;
    case AXLE_DTYPE_UINT8:
    case AXLE_DTYPE_BOOL: return cmp_u8;
    case AXLE_DTYPE_UINT16: return cmp_u16;
    case AXLE_DTYPE_UINT32: return cmp_u32;
    case AXLE_DTYPE_UINT64: return cmp_u64;
    case AXLE_DTYPE_STRING: return cmp_str;
    default: return NULL;
    }
}

/* Lexicographic order of items a and b. */
static int uq_cmp(const struct uq *u, int64_t a, int64_t b)
{
    if (u->inner == 1 && u->outer == 1)
        return u->cmp(u->x->data, a, b);
    for (int64_t o = 0; o < u->outer; o++)
        for (int64_t i = 0; i < u->inner; i++) {
            int c = u->cmp(u->x->data, (o * u->n + a) * u->inner + i,
                           (o * u->n + b) * u->inner + i);
            if (c != 0)
                return c;
        }
    return 0;
}

/* Stable bottom-up merge sort of u->perm (buffer u->tmp). */
static void uq_sort(struct uq *u)
{
    int64_t *src = u->perm, *dst = u->tmp, n = u->n;

    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n;
            int64_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                dst[o++] = uq_cmp(u, src[j], src[i]) < 0 ? src[j++]
                                                          : src[i++];
            while (i < mid)
                dst[o++] = src[i++];
            while (j < hi)
                dst[o++] = src[j++];
        }
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != u->perm)
        memcpy(u->perm, src, sizeof(int64_t) * (size_t)n);
}

/* Groups equal items; fills first/count/pos per group and the group of
 * each item (in tmp). */
static void uq_group(struct uq *u, bool sorted)
{
    int64_t g = -1;

    uq_sort(u);
    for (int64_t s = 0; s < u->n; s++) {
        int64_t it = u->perm[s];
        if (s == 0 || uq_cmp(u, u->perm[s - 1], it) != 0) {
            g++;
            u->first[g] = it; /* the sort is stable: lowest item first */
            u->count[g] = 0;
        }
        u->count[g]++;
        u->tmp[it] = g;
    }
    u->n_grp = g + 1;
    if (sorted) {
        for (int64_t i = 0; i < u->n_grp; i++)
            u->pos[i] = i;
        return;
    }
    /* First-occurrence order: walk the items, numbering each group at its
     * first item (perm is free now and marks those). */
    for (int64_t i = 0; i < u->n; i++)
        u->perm[i] = -1;
    for (int64_t i = 0; i < u->n_grp; i++)
        u->perm[u->first[i]] = i;
    for (int64_t i = 0, p = 0; i < u->n; i++)
        if (u->perm[i] >= 0)
            u->pos[u->perm[i]] = p++;
}

/* Axis (-1: flattened) of the node after checks. */
static enum axle_status uq_axis(struct axle_kctx *k, int *axis)
{
    const struct axle_tensor *x = k->in[0];
    const struct axle_attr *a = axle_node_attr(k->node, "axis");

    *axis = -1;
    if (a == NULL || x->rank < 0)
        return AXLE_OK;
    return axle_shape_norm_axis(a->i, x->rank, false, axis, k->err,
                                "Unique");
}

/* Runs the grouping over x into u; *mem / *heap to release with tmp_put. */
static enum axle_status uq_compute(struct axle_kctx *k, int axis,
                                   struct uq *u, void **mem, bool *heap)
{
    const struct axle_tensor *x = k->in[0];
    int64_t n;
    size_t bytes;

    memset(u, 0, sizeof(*u));
    u->x = x;
    u->cmp = uq_cmp_for(x->dtype);
    if (axis < 0) {
        u->outer = u->inner = 1;
        u->n = axle_tensor_numel(x);
    } else {
        u->outer = axle_shape_dims_prod(x->dims, 0, axis);
        u->n = x->dims[axis];
        u->inner = axle_shape_dims_prod(x->dims, axis + 1, x->rank);
    }
    n = u->n;
    if (__builtin_mul_overflow((size_t)n, 5 * sizeof(int64_t), &bytes))
        return idx_oom(k, "Unique");
    *mem = tmp_get(k, bytes, heap);
    if (*mem == NULL)
        return idx_oom(k, "Unique");
    u->perm = *mem;
    u->tmp = u->perm + n;
    u->first = u->tmp + n;
    u->count = u->first + n;
    u->pos = u->count + n;
    for (int64_t i = 0; i < n; i++)
        u->perm[i] = i;
    uq_group(u, axle_node_attr_int(k->node, "sorted", 1) != 0);
    return AXLE_OK;
}

static void set_1d(struct axle_tensor *t, int64_t d)
{
    if (t == NULL)
        return;
    t->dtype = AXLE_DTYPE_INT64;
    t->rank = 1;
    t->dims[0] = d;
}

static enum axle_status unique_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = IDX_OUT(k, 0);
    int64_t n_grp = AXLE_DIM_UNKNOWN, n_items;
    int axis;
    enum axle_status st;

    if (x->dtype != AXLE_DTYPE_UNDEFINED && uq_cmp_for(x->dtype) == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Unique: unsupported type %s",
                            axle_dtype_name(x->dtype));
    st = uq_axis(k, &axis);
    if (st != AXLE_OK)
        return st;
    if (x->rank >= 0 && axis < 0)
        n_items = axle_shape_dims_prod(x->dims, 0, x->rank);
    else
        n_items = x->rank >= 0 ? x->dims[axis] : AXLE_DIM_UNKNOWN;
    if (axle_shape_known(x) && axle_shape_avail(x)) {
        struct uq u;
        void *mem;
        bool heap;
        st = uq_compute(k, axis, &u, &mem, &heap);
        if (st != AXLE_OK)
            return st;
        n_grp = u.n_grp;
        tmp_put(mem, heap);
    }
    if (y != NULL) {
        axle_shape_set_unknown(y, x->dtype);
        if (axis < 0 && (x->rank >= 0 ||
                         axle_node_attr(k->node, "axis") == NULL)) {
            y->rank = 1;
            y->dims[0] = n_grp;
        } else if (axis >= 0) {
            memcpy(y->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
            y->rank = x->rank;
            y->dims[axis] = n_grp;
        }
    }
    set_1d(IDX_OUT(k, 1), n_grp);
    set_1d(IDX_OUT(k, 2), n_items);
    set_1d(IDX_OUT(k, 3), n_grp);
    return AXLE_OK;
}

static enum axle_status unique_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = IDX_OUT(k, 0), *o_idx = IDX_OUT(k, 1);
    struct axle_tensor *o_inv = IDX_OUT(k, 2), *o_cnt = IDX_OUT(k, 3);
    size_t es = axle_dtype_size(x->dtype);
    struct uq u;
    void *mem;
    bool heap;
    int axis;
    enum axle_status st = uq_axis(k, &axis);

    if (st == AXLE_OK)
        st = uq_compute(k, axis, &u, &mem, &heap);
    if (st != AXLE_OK)
        return st;
    if ((y != NULL && (axis < 0 ? y->dims[0] : y->dims[axis]) != u.n_grp) ||
        (o_idx != NULL && o_idx->dims[0] != u.n_grp) ||
        (o_cnt != NULL && o_cnt->dims[0] != u.n_grp)) {
        st = axle_err_set(k->err, AXLE_INTERNAL,
                          "Unique: count changed since infer");
        goto out;
    }
    for (int64_t g = 0; g < u.n_grp; g++) {
        int64_t p = u.pos[g];
        if (o_idx != NULL)
            ((int64_t *)o_idx->data)[p] = u.first[g];
        if (o_cnt != NULL)
            ((int64_t *)o_cnt->data)[p] = u.count[g];
        for (int64_t o = 0; y != NULL && o < u.outer; o++) {
            st = axle_shape_copy_elems(
                k, x->dtype,
                (const char *)x->data +
                    (size_t)((o * u.n + u.first[g]) * u.inner) * es,
                (char *)y->data + (size_t)((o * u.n_grp + p) * u.inner) * es,
                u.inner);
            if (st != AXLE_OK)
                goto out;
        }
    }
    if (o_inv != NULL)
        for (int64_t i = 0; i < u.n; i++)
            ((int64_t *)o_inv->data)[i] = u.pos[u.tmp[i]];
out:
    tmp_put(mem, heap);
    return st;
}

const struct axle_op axle_op_unique = {
    .name = "Unique", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 4,
    .infer = unique_infer, .run = unique_run,
};
