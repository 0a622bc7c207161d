/*
 * broadcast.c - numpy-style broadcasting: symbolic shape inference, the
 * opset < 7 `broadcast`/`axis` mapping, and the strided walker that element-
 * wise kernels run their row functions under (see broadcast.h).
 */
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/tensor.h"
#include "kernels/broadcast.h"

/* Broadcast one column of dims (1 is neutral). Returns false when two known
 * dims conflict. */
static bool merge_dims(const int64_t *d, int n, int64_t *res)
{
    int64_t known = -1, sym = 0;
    bool unknown = false, sym_conflict = false;

    for (int i = 0; i < n; i++) {
        if (d[i] == 1)
            continue;
        if (d[i] >= 0) {
            if (known >= 0 && known != d[i])
                return false;
            known = d[i];
        } else if (d[i] == AXLE_DIM_UNKNOWN) {
            unknown = true;
        } else if (sym == 0) {
            sym = d[i];
        } else if (sym != d[i]) {
            sym_conflict = true;
        }
    }
    if (known >= 0)
        *res = known; /* a symbol or unknown there is 1 or the same */
    else if (unknown || sym_conflict)
        *res = AXLE_DIM_UNKNOWN;
    else if (sym != 0)
        *res = sym;
    else
        *res = 1;
    return true;
}

enum axle_status axle_bcast_shape(const char *op, int n,
                                  const struct axle_tensor *const *in,
                                  struct axle_tensor *out,
                                  struct axle_err *err)
{
    int rank = 0;

    for (int j = 0; j < n; j++) {
        if (in[j] == NULL)
            continue;
        if (in[j]->rank < 0) {
            out->rank = -1;
            return AXLE_OK;
        }
        if (in[j]->rank > rank)
            rank = in[j]->rank;
    }
    out->rank = rank;
    for (int i = 0; i < rank; i++) {
        int64_t col[64];
        int m = 0;
        for (int j = 0; j < n && m < 64; j++) {
            int off;
            if (in[j] == NULL)
                continue;
            off = i - (rank - in[j]->rank);
            col[m++] = off >= 0 ? in[j]->dims[off] : 1;
        }
        if (!merge_dims(col, m, &out->dims[i])) {
            char buf[2][96];
            int a = -1, b = -1;
            /* Name the first two inputs that disagree. */
            for (int j = 0; j < n; j++) {
                int off;
                int64_t d;
                if (in[j] == NULL)
                    continue;
                off = i - (rank - in[j]->rank);
                d = off >= 0 ? in[j]->dims[off] : 1;
                if (d < 0 || d == 1)
                    continue;
                if (a < 0) {
                    a = j;
                } else {
                    int off_a = i - (rank - in[a]->rank);
                    if (in[a]->dims[off_a] != d) {
                        b = j;
                        break;
                    }
                }
            }
            if (a < 0 || b < 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "%s: inputs cannot be broadcast", op);
            axle_shape_format(in[a], NULL, 0, buf[0], sizeof(buf[0]));
            axle_shape_format(in[b], NULL, 0, buf[1], sizeof(buf[1]));
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: input %d %s and input %d %s cannot be "
                                "broadcast", op, a, buf[0], b, buf[1]);
        }
    }
    return AXLE_OK;
}

enum axle_status axle_bcast_shape_to(const char *op,
                                     const struct axle_tensor *a,
                                     const struct axle_tensor *b,
                                     struct axle_tensor *out,
                                     struct axle_err *err)
{
    out->rank = a->rank;
    if (a->rank >= 0)
        memcpy(out->dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
    if (a->rank < 0 || b->rank < 0)
        return AXLE_OK;
    if (b->rank > a->rank)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: input 1 has rank %d, more than input 0's %d",
                            op, b->rank, a->rank);
    for (int i = 0; i < b->rank; i++) {
        int64_t db = b->dims[i], da = a->dims[i + a->rank - b->rank];
        if (db >= 0 && db != 1 && da >= 0 && da != db)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: input 1 dim %d is %lld, cannot broadcast "
                                "to %lld", op, i, (long long)db,
                                (long long)da);
    }
    return AXLE_OK;
}

enum axle_status axle_bcast_legacy(struct axle_kctx *k,
                                   const struct axle_tensor *a,
                                   const struct axle_tensor *b,
                                   struct axle_tensor *b_out)
{
    const struct axle_attr *ax;
    int64_t axis, nb;

    *b_out = *b;
    if (k->opset >= 7 || axle_node_attr_int(k->node, "broadcast", 0) == 0)
        return AXLE_OK;
    if (a->rank < 0 || b->rank < 0)
        return AXLE_OK; /* trailing alignment is the numpy default too */
    nb = axle_tensor_numel(b);
    if (nb == 1) {
        b_out->rank = 0;
        return AXLE_OK;
    }
    ax = axle_node_attr(k->node, "axis");
    axis = ax ? ax->i : a->rank - b->rank;
    if (axis < 0)
        axis += a->rank;
    if (axis < 0 || axis + b->rank > a->rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "axis %lld out of range for B of rank %d and A of "
                            "rank %d", (long long)(ax ? ax->i : axis),
                            b->rank, a->rank);
    b_out->rank = a->rank;
    for (int i = 0; i < a->rank; i++)
        b_out->dims[i] = 1;
    for (int i = 0; i < b->rank; i++) {
        int64_t db = b->dims[i], da = a->dims[axis + i];
        if (db >= 0 && da >= 0 && db != da && db != 1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "broadcast axis %lld: B dim %d is %lld but A "
                                "dim %lld is %lld", (long long)axis, i,
                                (long long)db, (long long)(axis + i),
                                (long long)da);
        b_out->dims[axis + i] = db;
    }
    return AXLE_OK;
}

void axle_bcast_init(struct axle_bcast *b, const struct axle_tensor *out,
                     int n, const struct axle_tensor *const *in)
{
    int64_t full[AXLE_BCAST_MAX_IN][AXLE_MAX_RANK];
    int r = out->rank;
    int m = 0;

    memset(b, 0, sizeof(*b));
    b->n_in = n;
    b->numel = axle_tensor_numel(out);
    for (int j = 0; j < n; j++) {
        int64_t s = 1;
        int lead = r - in[j]->rank;
        for (int i = r - 1; i >= 0; i--) {
            int ii = i - lead;
            if (ii < 0 || (in[j]->dims[ii] == 1 && out->dims[i] != 1)) {
                full[j][i] = 0;
            } else {
                full[j][i] = s;
                s *= in[j]->dims[ii];
            }
        }
    }
    /* Drop size-1 dims, merge dims every operand walks contiguously. */
    for (int i = 0; i < r; i++) {
        bool mergeable = m > 0;
        if (out->dims[i] == 1)
            continue;
        for (int j = 0; j < n && mergeable; j++)
            if (b->strides[j][m - 1] != full[j][i] * out->dims[i])
                mergeable = false;
        if (mergeable) {
            b->dims[m - 1] *= out->dims[i];
            for (int j = 0; j < n; j++)
                b->strides[j][m - 1] = full[j][i];
        } else {
            b->dims[m] = out->dims[i];
            for (int j = 0; j < n; j++)
                b->strides[j][m] = full[j][i];
            m++;
        }
    }
    if (m == 0) {
        b->dims[0] = 1;
        m = 1;
    }
    b->rank = m;
}

struct walk {
    const struct axle_bcast *b;
    axle_bcast_row_fn fn;
    void *ctx;
};

static void walk_chunk(void *arg, int64_t begin, int64_t end, int tid)
{
    const struct walk *w = arg;
    const struct axle_bcast *b = w->b;
    int last = b->rank - 1, n = b->n_in;
    int64_t idx[AXLE_MAX_RANK], off[AXLE_BCAST_MAX_IN] = {0},
        step[AXLE_BCAST_MAX_IN] = {0};
    int64_t rem = begin, pos = begin;

    (void)tid;
    for (int d = last; d >= 0; d--) {
        idx[d] = rem % b->dims[d];
        rem /= b->dims[d];
        for (int j = 0; j < n; j++)
            off[j] += idx[d] * b->strides[j][d];
    }
    for (int j = 0; j < n; j++)
        step[j] = b->strides[j][last];
    while (pos < end) {
        int64_t len = b->dims[last] - idx[last];
        if (len > end - pos)
            len = end - pos;
        w->fn(w->ctx, pos, off, step, len);
        pos += len;
        idx[last] += len;
        for (int j = 0; j < n; j++)
            off[j] += len * step[j];
        if (idx[last] < b->dims[last])
            continue;
        for (int d = last; d >= 0; d--) {
            if (d < last) {
                idx[d]++;
                for (int j = 0; j < n; j++)
                    off[j] += b->strides[j][d];
                if (idx[d] < b->dims[d])
                    break;
            }
            idx[d] = 0;
            for (int j = 0; j < n; j++)
                off[j] -= b->dims[d] * b->strides[j][d];
        }
    }
}

void axle_bcast_run(const struct axle_bcast *b, struct axle_pool *pool,
                    int64_t grain, axle_bcast_row_fn fn, void *ctx)
{
    struct walk w = {b, fn, ctx};

    if (b->numel <= 0)
        return;
    if (grain < 1)
        grain = 1;
    axle_pool_parallel_for(pool, b->numel, grain, walk_chunk, &w);
}
