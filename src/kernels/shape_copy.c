/*
 * shape_copy.c - the strided-copy engine behind Transpose, Slice, Expand,
 * Tile, Concat and Split, plus the small helpers the shape kernels share
 * (see shape_internal.h).
 *
 * A copy is first simplified: size-1 axes are dropped and neighbouring axes
 * that are contiguous in both source and destination are merged, so that
 * e.g. Concat becomes "memcpy rows" and NCHW->NHWC becomes a batch of 2-D
 * transposes. The innermost axis then decides the loop:
 *   RUN     source and destination contiguous: memcpy;
 *   FILL    source stride 0 (broadcast): fill;
 *   TILE2D  destination contiguous and some other axis contiguous in the
 *           source: a cache-blocked 2-D transpose of those two axes;
 *   STRIDED anything else: a typed strided loop.
 * The outer axes are split over the thread pool when the copy is large.
 */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/err.h"
#include "base/pool.h"
#include "ir/tensor.h"
#include "kernels/shape_internal.h"

/* Copies smaller than this stay on the calling thread. */
#define PAR_MIN_BYTES ((int64_t)64 << 10)
/* Bytes one pool task should move at least. */
#define PAR_GRAIN_BYTES ((int64_t)32 << 10)
/* Transpose tile edge (elements). */
#define TILE 32

enum copy_kind { K_RUN, K_FILL, K_TILE2D, K_STRIDED };

struct plan {
    int rank;
    int64_t dims[AXLE_SHAPE_COPY_MAX_RANK];
    int64_t is[AXLE_SHAPE_COPY_MAX_RANK];
    int64_t os[AXLE_SHAPE_COPY_MAX_RANK];
    enum copy_kind kind;
    int n_outer;  /* axes iterated outside the inner kernel */
    int64_t nblk; /* TILE2D: blocks along the source-contiguous axis */
    size_t es;
    bool strings;
    bool avx512;
    bool oom;
    const char *src;
    char *dst;
};

char *axle_shape_strdup(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    char *d = axle_try_malloc(len + 1);
    if (d == NULL)
        return NULL;
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void axle_shape_strides(int rank, const int64_t *dims, int64_t *strides)
{
    /* Unsigned: a shape with a 0 dim may hold huge other dims whose
     * product overflows; no element is copied then, but the arithmetic must
     * stay defined. */
    uint64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = (int64_t)s;
        s *= dims[i] > 0 ? (uint64_t)dims[i] : 1;
    }
}

/* ---- inner kernels ---------------------------------------------------- */

#define DEF_STRIDED(T, NAME)                                                   \
    static void NAME(T *d, const T *s, int64_t n, int64_t is, int64_t os)      \
    {                                                                          \
        for (int64_t i = 0; i < n; i++)                                        \
            d[i * os] = s[i * is];                                             \
    }
DEF_STRIDED(uint8_t, strided1)
DEF_STRIDED(uint16_t, strided2)
DEF_STRIDED(uint32_t, strided4)
DEF_STRIDED(uint64_t, strided8)

#define DEF_FILL(T, NAME)                                                      \
    static void NAME(T *d, T v, int64_t n, int64_t os)                         \
    {                                                                          \
        if (os == 1) {                                                         \
            for (int64_t i = 0; i < n; i++)                                    \
                d[i] = v;                                                      \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++)                                    \
                d[i * os] = v;                                                 \
        }                                                                      \
    }
DEF_FILL(uint16_t, fill2)
DEF_FILL(uint32_t, fill4)
DEF_FILL(uint64_t, fill8)

/* d[j*ob + i] = s[i*ia + j] for j in [j0, j1), i in [0, a). */
#define DEF_TILE(T, NAME)                                                      \
    static void NAME(T *d, const T *s, int64_t a, int64_t ia, int64_t j0,      \
                     int64_t j1, int64_t ob)                                   \
    {                                                                          \
        for (int64_t i0 = 0; i0 < a; i0 += TILE) {                             \
            int64_t i1 = i0 + TILE < a ? i0 + TILE : a;                        \
            for (int64_t j = j0; j < j1; j++) {                                \
                T *dr = d + j * ob;                                            \
                const T *sc = s + j;                                           \
                for (int64_t i = i0; i < i1; i++)                              \
                    dr[i] = sc[i * ia];                                        \
            }                                                                  \
        }                                                                      \
    }
DEF_TILE(uint8_t, tile1)
DEF_TILE(uint16_t, tile2)
DEF_TILE(uint32_t, tile4)
DEF_TILE(uint64_t, tile8)

static void inner_strings(struct plan *p, char **d, char *const *s, int64_t n,
                          int64_t is, int64_t os)
{
    for (int64_t i = 0; i < n; i++) {
        char *v = axle_shape_strdup(s[i * is]);
        if (v == NULL) {
            p->oom = true;
            return;
        }
        axle_free(d[i * os]);
        d[i * os] = v;
    }
}

static void inner(struct plan *p, char *d, const char *s)
{
    int last = p->rank - 1;
    int64_t n = p->dims[last], is = p->is[last], os = p->os[last];

    if (p->strings) {
        inner_strings(p, (char **)d, (char *const *)s, n, is, os);
        return;
    }
    switch (p->kind) {
    case K_RUN:
        memcpy(d, s, (size_t)n * p->es);
        return;
    case K_FILL:
        switch (p->es) {
        case 1:
            if (os == 1) {
                memset(d, *(const uint8_t *)s, (size_t)n);
                return;
            }
            break;
        case 2: fill2((uint16_t *)d, *(const uint16_t *)s, n, os); return;
        case 4: fill4((uint32_t *)d, *(const uint32_t *)s, n, os); return;
        case 8: fill8((uint64_t *)d, *(const uint64_t *)s, n, os); return;
        }
        break;
    default:
        break;
    }
    switch (p->es) {
    case 1: strided1((uint8_t *)d, (const uint8_t *)s, n, is, os); return;
    case 2: strided2((uint16_t *)d, (const uint16_t *)s, n, is, os); return;
    case 4: strided4((uint32_t *)d, (const uint32_t *)s, n, is, os); return;
    case 8: strided8((uint64_t *)d, (const uint64_t *)s, n, is, os); return;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(d + (size_t)(i * os) * p->es, s + (size_t)(i * is) * p->es,
               p->es);
}

static void tile_block(const struct plan *p, char *d, const char *s,
                       int64_t j0, int64_t j1)
{
    int b = p->rank - 2, a = p->rank - 1;
    int64_t na = p->dims[a], ia = p->is[a], ob = p->os[b];

    switch (p->es) {
    case 1: tile1((uint8_t *)d, (const uint8_t *)s, na, ia, j0, j1, ob); break;
    case 2: tile2((uint16_t *)d, (const uint16_t *)s, na, ia, j0, j1, ob); break;
    case 4:
        if (p->avx512)
            axle_shape_tile4_avx512((uint32_t *)d, (const uint32_t *)s, na, ia,
                                    j0, j1, ob);
        else
            tile4((uint32_t *)d, (const uint32_t *)s, na, ia, j0, j1, ob);
        break;
    default: tile8((uint64_t *)d, (const uint64_t *)s, na, ia, j0, j1, ob); break;
    }
}

/* ---- drivers ---------------------------------------------------------- */

static void decode(const struct plan *p, int64_t item, int64_t *idx,
                   int64_t *so, int64_t *doff)
{
    *so = 0;
    *doff = 0;
    for (int a = p->n_outer - 1; a >= 0; a--) {
        idx[a] = item % p->dims[a];
        item /= p->dims[a];
        *so += idx[a] * p->is[a];
        *doff += idx[a] * p->os[a];
    }
}

static void copy_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    struct plan *p = ctx;
    int64_t idx[AXLE_SHAPE_COPY_MAX_RANK], so, doff;
    size_t es = p->es;

    if (p->kind == K_TILE2D) {
        int64_t nb = p->dims[p->rank - 2];
        for (int64_t it = begin; it < end; it++) {
            int64_t o = it / p->nblk, bj = it % p->nblk;
            int64_t j0 = bj * TILE, j1 = j0 + TILE < nb ? j0 + TILE : nb;
            decode(p, o, idx, &so, &doff);
            tile_block(p, p->dst + (size_t)doff * es,
                       p->src + (size_t)so * es, j0, j1);
        }
        return;
    }
    decode(p, begin, idx, &so, &doff);
    for (int64_t it = begin; it < end && !p->oom; it++) {
        inner(p, p->dst + doff * (int64_t)es, p->src + so * (int64_t)es);
        for (int a = p->n_outer - 1; a >= 0; a--) {
            idx[a]++;
            so += p->is[a];
            doff += p->os[a];
            if (idx[a] < p->dims[a])
                break;
            so -= p->is[a] * p->dims[a];
            doff -= p->os[a] * p->dims[a];
            idx[a] = 0;
        }
    }
}

/* Drops size-1 axes and merges neighbours contiguous on both sides.
 * Returns false when the copy is empty. */
static bool simplify(const struct axle_shape_copy *c, struct plan *p)
{
    int r = 0;
    for (int i = 0; i < c->rank; i++) {
        if (c->dims[i] == 0)
            return false;
        if (c->dims[i] == 1)
            continue;
        if (r > 0 && p->is[r - 1] == c->in_strides[i] * c->dims[i] &&
            p->os[r - 1] == c->out_strides[i] * c->dims[i]) {
            p->dims[r - 1] *= c->dims[i];
            p->is[r - 1] = c->in_strides[i];
            p->os[r - 1] = c->out_strides[i];
            continue;
        }
        p->dims[r] = c->dims[i];
        p->is[r] = c->in_strides[i];
        p->os[r] = c->out_strides[i];
        r++;
    }
    if (r == 0) { /* one element */
        p->dims[0] = 1;
        p->is[0] = 1;
        p->os[0] = 1;
        r = 1;
    }
    p->rank = r;
    return true;
}

static void classify(struct plan *p)
{
    int last = p->rank - 1;

    p->n_outer = last;
    if (p->is[last] == 1 && p->os[last] == 1) {
        p->kind = K_RUN;
        return;
    }
    if (p->is[last] == 0) {
        p->kind = K_FILL;
        return;
    }
    p->kind = K_STRIDED;
    if (p->strings || p->os[last] != 1 || p->rank < 2 || p->es > 8)
        return;
    for (int t = last - 1; t >= 0; t--) {
        if (p->is[t] != 1)
            continue;
        /* Move axis t next to the innermost one. */
        int64_t d = p->dims[t], is = p->is[t], os = p->os[t];
        for (int u = t; u < last - 1; u++) {
            p->dims[u] = p->dims[u + 1];
            p->is[u] = p->is[u + 1];
            p->os[u] = p->os[u + 1];
        }
        p->dims[last - 1] = d;
        p->is[last - 1] = is;
        p->os[last - 1] = os;
        p->kind = K_TILE2D;
        p->n_outer = last - 1;
        p->nblk = (d + TILE - 1) / TILE;
        return;
    }
}

enum axle_status axle_shape_copy_strided(struct axle_kctx *k,
                                         const struct axle_shape_copy *c,
                                         enum axle_dtype dt, const void *src,
                                         void *dst)
{
    struct plan p;
    int64_t items = 1, item_bytes, total;

    memset(&p, 0, sizeof(p));
    if (c->rank < 0 || c->rank > AXLE_SHAPE_COPY_MAX_RANK)
        return axle_err_set(k->err, AXLE_INTERNAL, "copy rank %d", c->rank);
    if (!simplify(c, &p))
        return AXLE_OK;
    p.es = axle_dtype_size(dt);
    p.strings = dt == AXLE_DTYPE_STRING;
    p.avx512 = axle_cpu_get()->isa >= AXLE_ISA_AVX512;
    p.src = src;
    p.dst = dst;
    if (p.es == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "unsupported element type %s",
                            axle_dtype_name(dt));
    classify(&p);
    for (int a = 0; a < p.n_outer; a++)
        items *= p.dims[a];
    if (p.kind == K_TILE2D) {
        items *= p.nblk;
        item_bytes = TILE * p.dims[p.rank - 1] * (int64_t)p.es;
    } else {
        item_bytes = p.dims[p.rank - 1] * (int64_t)p.es;
    }
    total = items * item_bytes;
    if (p.strings || total < PAR_MIN_BYTES || k->pool == NULL) {
        copy_chunk(&p, 0, items, 0);
    } else {
        int64_t grain = PAR_GRAIN_BYTES / (item_bytes > 0 ? item_bytes : 1);
        axle_pool_parallel_for(k->pool, items, grain > 0 ? grain : 1,
                               copy_chunk, &p);
    }
    if (p.oom)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory copying strings");
    return AXLE_OK;
}

struct memcpy_ctx {
    const char *src;
    char *dst;
};

static void memcpy_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    struct memcpy_ctx *m = ctx;
    memcpy(m->dst + begin, m->src + begin, (size_t)(end - begin));
}

enum axle_status axle_shape_copy_elems(struct axle_kctx *k, enum axle_dtype dt,
                                       const void *src, void *dst, int64_t n)
{
    size_t es = axle_dtype_size(dt);

    if (n <= 0 || src == dst)
        return AXLE_OK;
    if (dt == AXLE_DTYPE_STRING) {
        char *const *s = src;
        char **d = dst;
        for (int64_t i = 0; i < n; i++) {
            char *v = axle_shape_strdup(s[i]);
            if (v == NULL)
                return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                    "out of memory copying strings");
            axle_free(d[i]);
            d[i] = v;
        }
        return AXLE_OK;
    }
    int64_t bytes = n * (int64_t)es;
    if (bytes < PAR_MIN_BYTES * 4 || k->pool == NULL) {
        memcpy(dst, src, (size_t)bytes);
    } else {
        struct memcpy_ctx m = {src, dst};
        axle_pool_parallel_for(k->pool, bytes, PAR_GRAIN_BYTES * 4,
                               memcpy_chunk, &m);
    }
    return AXLE_OK;
}

/* ---- shape helpers ---------------------------------------------------- */

bool axle_shape_avail(const struct axle_tensor *t)
{
    if (t == NULL || t->rank < 0)
        return false;
    if (t->data != NULL)
        return true;
    return axle_shape_known(t) && axle_tensor_numel(t) == 0;
}

int64_t axle_shape_len(const struct axle_tensor *t)
{
    if (t == NULL || t->rank < 0)
        return -1;
    if (t->rank == 0)
        return 1;
    if (t->rank == 1 && t->dims[0] >= 0)
        return t->dims[0];
    return -1;
}

static bool is_int_dtype(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_INT64 || dt == AXLE_DTYPE_INT32;
}

enum axle_status axle_shape_check_int_input(const struct axle_tensor *t,
                                            struct axle_err *err,
                                            const char *what)
{
    if (t == NULL)
        return AXLE_OK;
    if (t->dtype != AXLE_DTYPE_UNDEFINED && !is_int_dtype(t->dtype))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s must be int64 (or int32), got %s", what,
                            axle_dtype_name(t->dtype));
    if (t->rank > 1)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s must be 1-D, got rank %d", what, t->rank);
    return AXLE_OK;
}

enum axle_status axle_shape_read_ints(const struct axle_tensor *t,
                                      int64_t *vals, int max_n, int *n,
                                      struct axle_err *err, const char *what)
{
    enum axle_status st = axle_shape_check_int_input(t, err, what);
    int64_t len;

    if (st != AXLE_OK)
        return st;
    len = axle_shape_len(t);
    if (len < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "%s has no known "
                            "length", what);
    if (len > max_n)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s has %lld values, at most %d allowed", what,
                            (long long)len, max_n);
    if (len > 0 && t->data == NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "%s has no data",
                            what);
    for (int64_t i = 0; i < len; i++)
        vals[i] = t->dtype == AXLE_DTYPE_INT32
                      ? ((const int32_t *)t->data)[i]
                      : ((const int64_t *)t->data)[i];
    *n = (int)len;
    return AXLE_OK;
}

/* Reads a shape input (int64 1-D, non-negative values) into dims. Returns
 * AXLE_OK with *rank = -1 when only the length (rank) is known, or with
 * *rank = -2 when not even that. */
enum axle_status axle_shape_read_dims(struct axle_kctx *k,
                                      const struct axle_tensor *t,
                                      int64_t *dims, int *rank,
                                      const char *op)
{
    char what[64];
    int n = 0;
    int64_t len;
    enum axle_status st;

    snprintf(what, sizeof(what), "%s: shape input", op);
    st = axle_shape_check_int_input(t, k->err, what);
    if (st != AXLE_OK)
        return st;
    len = axle_shape_len(t);
    if (len > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "%s: output rank %lld exceeds %d", op,
                            (long long)len, AXLE_MAX_RANK);
    if (!axle_shape_avail(t)) {
        *rank = -2;
        if (len >= 0) {
            *rank = -1;
            dims[0] = len;
        }
        return AXLE_OK;
    }
    st = axle_shape_read_ints(t, dims, AXLE_MAX_RANK, &n, k->err, what);
    if (st != AXLE_OK)
        return st;
    *rank = n;
    return AXLE_OK;
}

enum axle_status axle_shape_norm_axis(int64_t axis, int rank, bool inclusive,
                                      int *out, struct axle_err *err,
                                      const char *op)
{
    int64_t hi = inclusive ? rank : rank - 1;
    if (axis < -(int64_t)rank || axis > hi)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: axis %lld out of range [%d, %lld] for rank "
                            "%d", op, (long long)axis, -rank, (long long)hi,
                            rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return AXLE_OK;
}

int64_t axle_shape_dim_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (a == 0 || b == 0)
        return 0;
    if (a == 1)
        return b;
    if (b == 1)
        return a;
    if (a < 0 || b < 0)
        return AXLE_DIM_UNKNOWN;
    if (__builtin_mul_overflow(a, b, &r) || r > AXLE_TENSOR_MAX_ELEMS)
        return AXLE_DIM_UNKNOWN;
    return r;
}

int64_t axle_shape_dims_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    /* A zero anywhere wins over unknowns. */
    for (int i = from; i < to; i++)
        if (dims[i] == 0)
            return 0;
    for (int i = from; i < to; i++)
        p = axle_shape_dim_mul(p, dims[i]);
    return p;
}

void axle_shape_set_unknown(struct axle_tensor *out, enum axle_dtype dt)
{
    out->dtype = dt;
    out->rank = -1;
}

enum axle_status axle_shape_broadcast_dim(int64_t a, int64_t b, int64_t *out,
                                          struct axle_err *err,
                                          const char *op, int axis)
{
    if (a == b && a != AXLE_DIM_UNKNOWN) {
        *out = a;
    } else if (a == 1) {
        *out = b;
    } else if (b == 1) {
        *out = a;
    } else if (a >= 0 && b >= 0) {
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: dimension %d: %lld and %lld cannot be "
                            "broadcast", op, axis, (long long)a,
                            (long long)b);
    } else if (a >= 0) {
        /* b is unknown or symbolic: it must be 1 or a (a != 1 here). */
        *out = a;
    } else if (b >= 0) {
        *out = b;
    } else {
        *out = AXLE_DIM_UNKNOWN;
    }
    return AXLE_OK;
}
