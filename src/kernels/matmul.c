/*
 * matmul.c - ONNX MatMul (1-13): numpy matmul semantics, 1-D operands
 * (prepended / appended 1 that is then removed), broadcasting of the batch
 * dims, float types and 32/64-bit integers.
 *
 * An optional third input is axle-internal: engine/fuse.c folds a following
 * Add of a constant 1-D bias [N] into it; the node's fused activation is
 * applied too. Float32 with a constant 2-D B packs B once in prepare and
 * runs the whole batch as one [rows, K] x [K, N] packed GEMM (M == 1 takes
 * the GEMV path inside it); other float32 cases call axle_sgemm per batch
 * (or once when B is shared by every batch). Other dtypes use exact loops
 * (double accumulation for floats, wrapping int64 for integers).
 */
#include <string.h>

#include "base/err.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"

static bool mm_dtype_ok(enum axle_dtype dt)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: case AXLE_DTYPE_FLOAT64: case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16: case AXLE_DTYPE_INT32: case AXLE_DTYPE_INT64:
    case AXLE_DTYPE_UINT32: case AXLE_DTYPE_UINT64:
        return true;
    default:
        return false;
    }
}

/* Broadcast of two batch dims that may be unknown (-1) or symbolic (<= -2);
 * returns false when known dims conflict. */
static bool bcast_dim(int64_t a, int64_t b, int64_t *out)
{
    if (a == b) {
        *out = a;
    } else if (a == 1) {
        *out = b;
    } else if (b == 1) {
        *out = a;
    } else if (a >= 0 && b >= 0) {
        return false;
    } else if (a >= 0) {
        *out = a; /* b unknown: it must be a (or 1) */
    } else if (b >= 0) {
        *out = b;
    } else {
        *out = AXLE_DIM_UNKNOWN;
    }
    return true;
}

/* Shape of A @ B; also used by fuse-time checks. */
static enum axle_status mm_shape(struct axle_kctx *k,
                                 const struct axle_tensor *a,
                                 const struct axle_tensor *b,
                                 struct axle_tensor *y)
{
    int ra = a->rank, rb = b->rank, rbatch, r = 0;
    int64_t M, K1, K2, N;

    if (ra < 0 || rb < 0) {
        y->rank = -1;
        return AXLE_OK;
    }
    if (ra < 1 || rb < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MatMul: operands must have rank >= 1 (got %d "
                            "and %d)", ra, rb);
    M = ra >= 2 ? a->dims[ra - 2] : 1;
    K1 = a->dims[ra - 1];
    K2 = rb >= 2 ? b->dims[rb - 2] : b->dims[0];
    N = rb >= 2 ? b->dims[rb - 1] : 1;
    if (K1 >= 0 && K2 >= 0 && K1 != K2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MatMul: inner dims differ (%lld vs %lld)",
                            (long long)K1, (long long)K2);
    int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
    rbatch = ba > bb ? ba : bb;
    if (rbatch + 2 > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MatMul: result rank too large");
    for (int i = 0; i < rbatch; i++) {
        int ia = i - (rbatch - ba), ib = i - (rbatch - bb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1;
        int64_t db = ib >= 0 ? b->dims[ib] : 1;
        if (!bcast_dim(da, db, &y->dims[r++]))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MatMul: batch dim %d cannot broadcast "
                                "(%lld vs %lld)", i, (long long)da,
                                (long long)db);
    }
    if (ra >= 2)
        y->dims[r++] = M;
    if (rb >= 2)
        y->dims[r++] = N;
    y->rank = r;
    return AXLE_OK;
}

static enum axle_status matmul_infer(struct axle_kctx *k)
{
    const struct axle_tensor *a = k->in[0], *b = k->in[1];
    const struct axle_tensor *bias = AXLE_IN(k, 2);
    struct axle_tensor *y = k->out[0];
    enum axle_status st;

    if ((a->dtype != AXLE_DTYPE_UNDEFINED && !mm_dtype_ok(a->dtype)) ||
        (b->dtype != AXLE_DTYPE_UNDEFINED && a->dtype != AXLE_DTYPE_UNDEFINED
         && a->dtype != b->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MatMul: unsupported dtypes %s x %s",
                            axle_dtype_name(a->dtype),
                            axle_dtype_name(b->dtype));
    y->dtype = a->dtype ? a->dtype : b->dtype;
    st = mm_shape(k, a, b, y);
    if (st != AXLE_OK)
        return st;
    if (bias != NULL) {
        int64_t N = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
        if (y->dtype != AXLE_DTYPE_FLOAT32 || bias->rank != 1 ||
            (N >= 0 && bias->dims[0] >= 0 && bias->dims[0] != N))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MatMul: the fused bias must be float32 [N]");
    }
    return AXLE_OK;
}

static enum axle_status matmul_prepare(struct axle_kctx *k, void **state)
{
    const struct axle_tensor *b = k->in[1];
    struct axle_packed_w *pw = NULL;
    enum axle_status st;

    *state = NULL;
    if (b->data == NULL || b->dtype != AXLE_DTYPE_FLOAT32 || b->rank != 2 ||
        k->in[0]->dtype != AXLE_DTYPE_FLOAT32)
        return AXLE_OK;
    st = axle_gemm_pack(false, b->dims[0], b->dims[1], b->data, b->dims[1],
                        &pw, k->err);
    if (st != AXLE_OK)
        return st;
    *state = pw;
    k->absorbed |= 1u << 1; /* run multiplies by the panels only */
    return AXLE_OK;
}

static void matmul_release(void *state)
{
    axle_gemm_packed_free(state);
}

/* Offsets of batch index `bi` (of the output's batch dims) in A and B. */
struct mm_geo {
    int rbatch;
    int64_t ybatch[AXLE_MAX_RANK];
    int64_t astride[AXLE_MAX_RANK], bstride[AXLE_MAX_RANK];
    int64_t M, K, N, n_batch;
};

static void mm_geo_make(const struct axle_tensor *a,
                        const struct axle_tensor *b, struct mm_geo *g)
{
    int ra = a->rank, rb = b->rank;
    int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
    int64_t sa, sb;

    memset(g, 0, sizeof(*g));
    g->M = ra >= 2 ? a->dims[ra - 2] : 1;
    g->K = a->dims[ra - 1];
    g->N = rb >= 2 ? b->dims[rb - 1] : 1;
    g->rbatch = ba > bb ? ba : bb;
    sa = g->M * g->K;
    sb = g->K * g->N;
    g->n_batch = 1;
    for (int i = g->rbatch - 1; i >= 0; i--) {
        int ia = i - (g->rbatch - ba), ib = i - (g->rbatch - bb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1;
        int64_t db = ib >= 0 ? b->dims[ib] : 1;
        g->ybatch[i] = da > db ? da : db;
        g->astride[i] = da == 1 ? 0 : sa;
        g->bstride[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
        g->n_batch *= g->ybatch[i];
    }
}

static void mm_offsets(const struct mm_geo *g, int64_t bi, int64_t *ao,
                       int64_t *bo)
{
    *ao = *bo = 0;
    for (int i = g->rbatch - 1; i >= 0; i--) {
        int64_t idx = bi % g->ybatch[i];
        bi /= g->ybatch[i];
        *ao += idx * g->astride[i];
        *bo += idx * g->bstride[i];
    }
}

static bool b_shared(const struct mm_geo *g)
{
    for (int i = 0; i < g->rbatch; i++)
        if (g->bstride[i] != 0)
            return false;
    return true;
}

static void matmul_generic(const struct mm_geo *g, enum axle_dtype dt,
                           const void *A, const void *B, void *Y)
{
    bool is_f = axle_kx_is_float(dt);

    for (int64_t bi = 0; bi < g->n_batch; bi++) {
        int64_t ao, bo;
        mm_offsets(g, bi, &ao, &bo);
        for (int64_t i = 0; i < g->M; i++) {
            for (int64_t j = 0; j < g->N; j++) {
                int64_t yi = (bi * g->M + i) * g->N + j;
                if (is_f) {
                    double acc = 0.0;
                    for (int64_t kk = 0; kk < g->K; kk++)
                        acc += axle_kx_load(dt, A, ao + i * g->K + kk) *
                               axle_kx_load(dt, B, bo + kk * g->N + j);
                    axle_kx_store(dt, Y, yi, acc);
                } else {
                    uint64_t acc = 0;
                    for (int64_t kk = 0; kk < g->K; kk++)
                        acc += (uint64_t)axle_kx_load_i(dt, A,
                                                        ao + i * g->K + kk) *
                               (uint64_t)axle_kx_load_i(dt, B,
                                                        bo + kk * g->N + j);
                    axle_kx_store_i(dt, Y, yi, (int64_t)acc);
                }
            }
        }
    }
}

static enum axle_status matmul_run(struct axle_kctx *k)
{
    const struct axle_tensor *a = k->in[0], *b = k->in[1];
    const struct axle_tensor *bias = AXLE_IN(k, 2);
    struct axle_tensor *y = k->out[0];
    const struct axle_node *n = k->node;
    struct mm_geo g;
    struct axle_epilogue ep = {
        .bias = bias != NULL ? bias->data : NULL,
        .act = (enum axle_act)n->fused_act,
        .alpha = n->fused_alpha,
        .beta = n->fused_beta,
    };

    mm_geo_make(a, b, &g);
    if (g.n_batch == 0 || g.M == 0 || g.N == 0)
        return AXLE_OK;
    if (a->dtype != AXLE_DTYPE_FLOAT32) {
        matmul_generic(&g, a->dtype, a->data, b->data, y->data);
        return AXLE_OK;
    }
    if (k->state != NULL) {
        const struct axle_packed_w *pw = k->state;
        if (axle_gemm_packed_k(pw) != g.K || axle_gemm_packed_n(pw) != g.N)
            return axle_err_set(k->err, AXLE_INTERNAL,
                                "MatMul: packed weights do not match B");
        axle_gemm_packed(k->pool, g.n_batch * g.M, a->data, g.K, pw, y->data,
                         g.N, &ep);
        return AXLE_OK;
    }
    if (b_shared(&g)) {
        /* Every batch multiplies the same B: one tall GEMM (A's batches are
         * contiguous rows since B's batch dims are all broadcast). */
        axle_sgemm(k->pool, false, false, g.n_batch * g.M, g.N, g.K, 1.0f,
                   a->data, g.K, b->data, g.N, 0.0f, y->data, g.N, &ep);
        return AXLE_OK;
    }
    for (int64_t bi = 0; bi < g.n_batch; bi++) {
        int64_t ao, bo;
        mm_offsets(&g, bi, &ao, &bo);
        axle_sgemm(k->pool, false, false, g.M, g.N, g.K, 1.0f,
                   (const float *)a->data + ao, g.K,
                   (const float *)b->data + bo, g.N, 0.0f,
                   (float *)y->data + bi * g.M * g.N, g.N, &ep);
    }
    return AXLE_OK;
}

const struct axle_op axle_op_matmul = {
    .name = "MatMul",
    .domain = "",
    .min_inputs = 2,
    .max_inputs = 3, /* third: bias fused by engine/fuse.c */
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = matmul_infer,
    .run = matmul_run,
    .prepare = matmul_prepare,
    .release = matmul_release,
};
