/*
 * topk.c - TopK (ONNX 1, 10, 11).
 *
 * k is an attribute before 10 and a 1-element int64 input from 10; from 11
 * `largest` (default 1) picks the largest or smallest elements and
 * `sorted` may leave them unsorted (we always sort, which the spec allows).
 * Equal values rank the lower index first, as ONNX specifies; NaN ranks
 * above every number. Outputs: Values (input type) and Indices (int64),
 * both the input shape with dim `axis` = k.
 *
 * Each slice along the axis is gathered into typed keys (double for float
 * types, int64 or uint64 for integers, so 64-bit values compare exactly),
 * then a bounded heap of k indices keeps the best seen (O(n log k)) and is
 * drained into rank order. Slices are split over k->pool; each thread uses
 * its own part of the scratch buffer.
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/normred_util.h"

enum key_class { KEY_F, KEY_I, KEY_U };

static enum key_class key_class(enum axle_dtype dt)
{
    switch (dt) {
    case AXLE_DTYPE_UINT8:
    case AXLE_DTYPE_UINT16:
    case AXLE_DTYPE_UINT32:
    case AXLE_DTYPE_UINT64:
        return KEY_U;
    case AXLE_DTYPE_INT8:
    case AXLE_DTYPE_INT16:
    case AXLE_DTYPE_INT32:
    case AXLE_DTYPE_INT64:
        return KEY_I;
    default:
        return KEY_F;
    }
}

/* Reads k from the attribute (< 10) or input 1; *known false when input 1
 * has no data yet. */
static enum axle_status topk_k(struct axle_kctx *k, int64_t *kv, bool *known)
{
    *known = true;
    if (k->opset < 10) {
        const struct axle_attr *a = axle_node_attr(k->node, "k");
        if (a == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "TopK: attribute k is missing");
        *kv = a->i;
    } else {
        const struct axle_tensor *t = AXLE_IN(k, 1);
        if (t == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "TopK: input K is missing");
        if (t->dtype != AXLE_DTYPE_INT64 && t->dtype != AXLE_DTYPE_UNDEFINED)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "TopK: K must be int64, got %s",
                                axle_dtype_name(t->dtype));
        int64_t n = axle_tensor_numel(t);
        if (t->rank > 1 || (n >= 0 && n != 1))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "TopK: K must hold one element");
        if (t->data == NULL || n < 0) {
            *known = false;
            return AXLE_OK;
        }
        *kv = ((const int64_t *)t->data)[0];
    }
    if (*kv < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "TopK: k = %lld is negative", (long long)*kv);
    return AXLE_OK;
}

static enum axle_status topk_setup(struct axle_kctx *k, int *axis,
                                   int64_t *kv, bool *known)
{
    const struct axle_tensor *x = k->in[0];
    enum axle_status st;

    if (x->dtype == AXLE_DTYPE_STRING || x->dtype == AXLE_DTYPE_BOOL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "TopK: input type %s is not supported",
                            axle_dtype_name(x->dtype));
    st = nr_axis(k, "TopK", axle_node_attr_int(k->node, "axis", -1), x->rank,
                 false, axis);
    if (st != AXLE_OK)
        return st;
    st = topk_k(k, kv, known);
    if (st != AXLE_OK)
        return st;
    if (*known && x->rank > 0 && x->dims[*axis] >= 0 &&
        *kv > x->dims[*axis])
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "TopK: k = %lld exceeds axis %d of size %lld",
                            (long long)*kv, *axis,
                            (long long)x->dims[*axis]);
    return AXLE_OK;
}

static enum axle_status topk_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    int axis = 0;
    int64_t kv = -1;
    bool known;

    enum axle_status st = topk_setup(k, &axis, &kv, &known);
    if (st != AXLE_OK)
        return st;
    for (int j = 0; j < 2 && j < k->n_outputs; j++) {
        struct axle_tensor *o = k->out[j];
        if (o == NULL)
            continue;
        o->dtype = j == 0 ? x->dtype : AXLE_DTYPE_INT64;
        nr_copy_shape(o, x);
        if (x->rank > 0)
            o->dims[axis] = known ? kv : AXLE_DIM_UNKNOWN;
    }
    return AXLE_OK;
}

struct topk_job {
    const struct axle_tensor *x;
    struct axle_tensor *vals, *idx;
    int64_t n, inner, k;
    bool largest;
    enum key_class kc;
    size_t es;
    char *scratch; /* per thread: keys[n] then heap[k] */
    size_t per_thread;
};

/* True when slice element a ranks before b. */
#define BEFORE_F(K, a, b, lg)                                               \
    (isnan(K[a]) ? (!isnan(K[b]) || a < b)                                  \
     : isnan(K[b]) ? false                                                  \
     : K[a] == K[b] ? a < b : ((lg) ? K[a] > K[b] : K[a] < K[b]))
#define BEFORE_I(K, a, b, lg)                                               \
    (K[a] == K[b] ? a < b : ((lg) ? K[a] > K[b] : K[a] < K[b]))

/* Heap of k indices whose root is the lowest-ranked kept element. */
#define HEAP_SELECT(NAME, KT, BEFORE)                                       \
    static void NAME(const KT *key, int64_t n, int64_t k, int64_t *heap,    \
                     bool lg)                                               \
    {                                                                       \
        int64_t size = 0;                                                   \
        for (int64_t e = 0; e < n; e++) {                                   \
            int64_t pos;                                                    \
            if (size < k) {                                                 \
                pos = size++;                                               \
                while (pos > 0) { /* sift up: worse goes to the root */     \
                    int64_t p = (pos - 1) / 2;                              \
                    if (!BEFORE(key, heap[p], e, lg))                       \
                        break;                                              \
                    heap[pos] = heap[p];                                    \
                    pos = p;                                                \
                }                                                           \
                heap[pos] = e;                                              \
                continue;                                                   \
            }                                                               \
            if (k == 0 || !BEFORE(key, e, heap[0], lg))                     \
                continue;                                                   \
            pos = 0;                                                        \
            sift_down_##NAME(key, heap, size, e, lg);                       \
        }                                                                   \
        /* Drain: the worst goes last, so heap[0..k) ends best first. */    \
        while (size > 1) {                                                  \
            int64_t worst = heap[0];                                        \
            size--;                                                         \
            sift_down_##NAME(key, heap, size, heap[size], lg);              \
            heap[size] = worst;                                             \
        }                                                                   \
    }

#define SIFT_DOWN(NAME, KT, BEFORE)                                         \
    static void sift_down_##NAME(const KT *key, int64_t *heap,              \
                                 int64_t size, int64_t e, bool lg)          \
    {                                                                       \
        int64_t pos = 0;                                                    \
        for (;;) {                                                          \
            int64_t c = 2 * pos + 1;                                        \
            if (c >= size)                                                  \
                break;                                                      \
            if (c + 1 < size && BEFORE(key, heap[c], heap[c + 1], lg))      \
                c++;                                                        \
            if (!BEFORE(key, e, heap[c], lg))                               \
                break;                                                      \
            heap[pos] = heap[c];                                            \
            pos = c;                                                        \
        }                                                                   \
        heap[pos] = e;                                                      \
    }

SIFT_DOWN(sel_f, double, BEFORE_F)
SIFT_DOWN(sel_i, int64_t, BEFORE_I)
SIFT_DOWN(sel_u, uint64_t, BEFORE_I)
HEAP_SELECT(sel_f, double, BEFORE_F)
HEAP_SELECT(sel_i, int64_t, BEFORE_I)
HEAP_SELECT(sel_u, uint64_t, BEFORE_I)

static void topk_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct topk_job *j = ctx;
    char *base = j->scratch + (size_t)tid * j->per_thread;
    void *keys = base;
    int64_t *heap = (int64_t *)(base + (size_t)j->n * 8);
    const char *xd = j->x->data;
    char *vd = j->vals != NULL ? j->vals->data : NULL;
    int64_t *id = j->idx != NULL ? j->idx->data : NULL;

    for (int64_t s = b; s < e; s++) {
        int64_t o = s / j->inner, i = s % j->inner;
        int64_t x0 = o * j->n * j->inner + i, y0 = o * j->k * j->inner + i;
        for (int64_t t = 0; t < j->n; t++) {
            int64_t at = x0 + t * j->inner;
            if (j->kc == KEY_F)
                ((double *)keys)[t] = axle_tensor_get_f64(j->x, at);
            else
                ((int64_t *)keys)[t] = axle_tensor_get_i64(j->x, at);
        }
        if (j->kc == KEY_F)
            sel_f(keys, j->n, j->k, heap, j->largest);
        else if (j->kc == KEY_I)
            sel_i(keys, j->n, j->k, heap, j->largest);
        else
            sel_u(keys, j->n, j->k, heap, j->largest);
        for (int64_t t = 0; t < j->k; t++) {
            int64_t at = y0 + t * j->inner;
            if (vd != NULL)
                memcpy(vd + (size_t)at * j->es,
                       xd + (size_t)(x0 + heap[t] * j->inner) * j->es, j->es);
            if (id != NULL)
                id[at] = heap[t];
        }
    }
}

static enum axle_status topk_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    int axis = 0;
    int64_t kv = 0;
    bool known;
    struct topk_job j;

    enum axle_status st = topk_setup(k, &axis, &kv, &known);
    if (st != AXLE_OK)
        return st;
    if (x->rank == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "TopK: input must have rank >= 1");
    memset(&j, 0, sizeof(j));
    j.x = x;
    j.vals = k->out[0];
    j.idx = k->n_outputs > 1 ? k->out[1] : NULL;
    j.n = x->dims[axis];
    j.k = kv;
    j.inner = nr_prod(x->dims, axis + 1, x->rank);
    j.largest = k->opset < 11 ||
                axle_node_attr_int(k->node, "largest", 1) != 0;
    j.kc = key_class(x->dtype);
    j.es = axle_dtype_size(x->dtype);
    int64_t slices = nr_prod(x->dims, 0, axis) * j.inner;
    if (slices == 0 || kv == 0)
        return AXLE_OK;
    int nt = axle_pool_size(k->pool);
    j.per_thread = ((size_t)j.n + (size_t)kv) * 8;
    j.scratch = axle_kctx_scratch(k, j.per_thread * (size_t)nt);
    if (j.scratch == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "TopK: no scratch memory");
    axle_pool_parallel_for(k->pool, slices, nr_grain(j.n * 4), topk_task, &j);
    return AXLE_OK;
}

const struct axle_op axle_op_top_k = {
    .name = "TopK", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 2, .max_outputs = 2,
    .infer = topk_infer, .run = topk_run,
};
