/*
 * gemm_op.c - ONNX Gemm (1-13): Y = alpha * op(A) * op(B) + beta * C with
 * transA/transB, C unidirectionally broadcast to [M, N] and optional from
 * opset 11, plus the activation engine/fuse.c fused into the node.
 *
 * Float32 with a constant B packs alpha * op(B) once in prepare; a constant
 * C that is a scalar or one value per column becomes the packed GEMM's bias
 * epilogue (beta * C precomputed). Other float32 cases call axle_sgemm with
 * C broadcast into Y first. Other dtypes use exact loops.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"

struct gemm_state {
    struct axle_packed_w *pw; /* alpha * op(B), or NULL */
    float *bias;              /* beta * C per column, or NULL */
};

static bool gemm_dtype_ok(enum axle_dtype dt)
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

static bool dim_conflict(int64_t a, int64_t b)
{
    return a >= 0 && b >= 0 && a != b;
}

static enum axle_status gemm_infer(struct axle_kctx *k)
{
    const struct axle_tensor *a = k->in[0], *b = k->in[1];
    const struct axle_tensor *c = AXLE_IN(k, 2);
    struct axle_tensor *y = k->out[0];
    bool ta = axle_node_attr_int(k->node, "transA", 0) != 0;
    bool tb = axle_node_attr_int(k->node, "transB", 0) != 0;
    int64_t M = -1, N = -1, Ka = -1, Kb = -1;

    if ((a->dtype && !gemm_dtype_ok(a->dtype)) ||
        (a->dtype && b->dtype && a->dtype != b->dtype) ||
        (c != NULL && c->dtype && a->dtype && c->dtype != a->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Gemm: unsupported or mismatched dtypes");
    y->dtype = a->dtype ? a->dtype : b->dtype;
    if ((a->rank >= 0 && a->rank != 2) || (b->rank >= 0 && b->rank != 2))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Gemm: A and B must be 2-D (got rank %d and %d)",
                            a->rank, b->rank);
    if (a->rank == 2) {
        M = a->dims[ta ? 1 : 0];
        Ka = a->dims[ta ? 0 : 1];
    }
    if (b->rank == 2) {
        Kb = b->dims[tb ? 1 : 0];
        N = b->dims[tb ? 0 : 1];
    }
    if (dim_conflict(Ka, Kb))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Gemm: inner dims differ (%lld vs %lld)",
                            (long long)Ka, (long long)Kb);
    if (c != NULL && c->rank >= 0) {
        if (c->rank > 2)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Gemm: C has rank %d", c->rank);
        int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        int64_t cm = c->rank == 2 ? c->dims[0] : 1;
        if ((cn != 1 && dim_conflict(cn, N)) || (cm != 1 &&
                                                 dim_conflict(cm, M)))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Gemm: C cannot broadcast to [M, N]");
    }
    y->rank = 2;
    y->dims[0] = M;
    y->dims[1] = N;
    return AXLE_OK;
}

static void gemm_release(void *state)
{
    struct gemm_state *s = state;
    if (s == NULL)
        return;
    axle_gemm_packed_free(s->pw);
    axle_free(s->bias);
    axle_free(s);
}

/* C as one value per column (scalar, [N], [1, N]); false otherwise. */
static bool c_per_column(const struct axle_tensor *c, int64_t N)
{
    int64_t cnt = axle_tensor_numel(c);
    if (cnt == 1)
        return true;
    return cnt == N && c->dims[c->rank - 1] == N;
}

static enum axle_status gemm_prepare(struct axle_kctx *k, void **state)
{
    const struct axle_tensor *b = k->in[1];
    const struct axle_tensor *c = AXLE_IN(k, 2);
    float alpha = axle_node_attr_float(k->node, "alpha", 1.0f);
    float beta = axle_node_attr_float(k->node, "beta", 1.0f);
    bool tb = axle_node_attr_int(k->node, "transB", 0) != 0;
    struct gemm_state *s;
    enum axle_status st;
    float *tmp = NULL;
    const float *w;
    int64_t K, N, cnt;

    *state = NULL;
    if (b->data == NULL || b->dtype != AXLE_DTYPE_FLOAT32 || b->rank != 2 ||
        k->in[0]->dtype != AXLE_DTYPE_FLOAT32)
        return AXLE_OK;
    K = b->dims[tb ? 1 : 0];
    N = b->dims[tb ? 0 : 1];
    cnt = axle_tensor_numel(b);
    w = b->data;
    if (alpha != 1.0f && cnt > 0) {
        tmp = axle_try_malloc((size_t)cnt * sizeof(float));
        if (tmp == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "Gemm: out of memory");
        for (int64_t i = 0; i < cnt; i++)
            tmp[i] = alpha * w[i];
        w = tmp;
    }
    s = axle_try_calloc(1, sizeof(*s));
    if (s == NULL) {
        axle_free(tmp);
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "Gemm: out of memory");
    }
    st = axle_gemm_pack(tb, K, N, w, b->dims[1], &s->pw, k->err);
    axle_free(tmp);
    if (st != AXLE_OK) {
        gemm_release(s);
        return st;
    }
    if (c != NULL && c->data != NULL && c->dtype == AXLE_DTYPE_FLOAT32 &&
        c->rank >= 0 && c_per_column(c, N) && N > 0) {
        const float *cv = c->data;
        bool scalar = axle_tensor_numel(c) == 1;
        s->bias = axle_try_malloc((size_t)N * sizeof(float));
        if (s->bias == NULL) {
            gemm_release(s);
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "Gemm: out of memory");
        }
        for (int64_t j = 0; j < N; j++)
            s->bias[j] = beta * cv[scalar ? 0 : j];
    }
    *state = s;
    /* Without transA, run multiplies by the panels only. */
    if (axle_node_attr_int(k->node, "transA", 0) == 0)
        k->absorbed |= 1u << 1;
    return AXLE_OK;
}

/* Y[i, j] (+)= scale * C broadcast. */
static void add_c(float *y, int64_t M, int64_t N, const struct axle_tensor *c,
                  float scale, bool accumulate)
{
    const float *cv = c->data;
    int64_t cm = c->rank == 2 ? c->dims[0] : 1;
    int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;

    for (int64_t i = 0; i < M; i++) {
        const float *crow = cv + (cm == 1 ? 0 : i) * cn;
        float *yr = y + i * N;
        for (int64_t j = 0; j < N; j++) {
            float v = scale * crow[cn == 1 ? 0 : j];
            yr[j] = accumulate ? yr[j] + v : v;
        }
    }
}

static void gemm_generic(struct axle_kctx *k, int64_t M, int64_t N,
                         int64_t K, bool ta, bool tb)
{
    const struct axle_tensor *a = k->in[0], *b = k->in[1];
    const struct axle_tensor *c = AXLE_IN(k, 2);
    enum axle_dtype dt = a->dtype;
    bool is_f = axle_kx_is_float(dt);
    double alpha = axle_node_attr_float(k->node, "alpha", 1.0f);
    double beta = axle_node_attr_float(k->node, "beta", 1.0f);
    int64_t cm = 1, cn = 1;

    if (c != NULL) {
        cm = c->rank == 2 ? c->dims[0] : 1;
        cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
    }
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            int64_t ci = (cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j);
            if (is_f) {
                double acc = 0.0;
                for (int64_t kk = 0; kk < K; kk++)
                    acc += axle_kx_load(dt, a->data, ta ? kk * M + i
                                                        : i * K + kk) *
                           axle_kx_load(dt, b->data, tb ? j * K + kk
                                                        : kk * N + j);
                acc *= alpha;
                if (c != NULL)
                    acc += beta * axle_kx_load(dt, c->data, ci);
                axle_kx_store(dt, k->out[0]->data, i * N + j, acc);
            } else {
                /* Integer Gemm: alpha/beta are applied as integers. */
                uint64_t acc = 0;
                for (int64_t kk = 0; kk < K; kk++)
                    acc += (uint64_t)axle_kx_load_i(dt, a->data,
                                                    ta ? kk * M + i
                                                       : i * K + kk) *
                           (uint64_t)axle_kx_load_i(dt, b->data,
                                                    tb ? j * K + kk
                                                       : kk * N + j);
                acc *= (uint64_t)(int64_t)alpha;
                if (c != NULL)
                    acc += (uint64_t)(int64_t)beta *
                           (uint64_t)axle_kx_load_i(dt, c->data, ci);
                axle_kx_store_i(dt, k->out[0]->data, i * N + j,
                                (int64_t)acc);
            }
        }
    }
}

static enum axle_status gemm_run(struct axle_kctx *k)
{
    const struct axle_tensor *a = k->in[0], *b = k->in[1];
    const struct axle_tensor *c = AXLE_IN(k, 2);
    const struct axle_node *n = k->node;
    const struct gemm_state *s = k->state;
    bool ta = axle_node_attr_int(n, "transA", 0) != 0;
    bool tb = axle_node_attr_int(n, "transB", 0) != 0;
    float alpha = axle_node_attr_float(n, "alpha", 1.0f);
    float beta = axle_node_attr_float(n, "beta", 1.0f);
    int64_t M = a->dims[ta ? 1 : 0], K = a->dims[ta ? 0 : 1];
    int64_t N = b->dims[tb ? 0 : 1];
    float *y = k->out[0]->data;
    struct axle_epilogue ep = {
        .act = (enum axle_act)n->fused_act,
        .alpha = n->fused_alpha,
        .beta = n->fused_beta,
    };

    if (M == 0 || N == 0)
        return AXLE_OK;
    if (a->dtype != AXLE_DTYPE_FLOAT32) {
        gemm_generic(k, M, N, K, ta, tb);
        return AXLE_OK;
    }
    if (s != NULL && s->pw != NULL && !ta) {
        if (c == NULL || s->bias != NULL || beta == 0.0f) {
            ep.bias = c != NULL && beta != 0.0f ? s->bias : NULL;
            axle_gemm_packed(k->pool, M, a->data, K, s->pw, y, N, &ep);
            return AXLE_OK;
        }
        /* C of shape [M, N] or [M, 1]: add it after the product. */
        axle_gemm_packed(k->pool, M, a->data, K, s->pw, y, N, NULL);
        add_c(y, M, N, c, beta, true);
        for (int64_t i = 0; i < M; i++)
            axle_act_apply(ep.act, ep.alpha, ep.beta, y + i * N, (size_t)N);
        return AXLE_OK;
    }
    if (c != NULL && beta != 0.0f)
        add_c(y, M, N, c, 1.0f, false);
    axle_sgemm(k->pool, ta, tb, M, N, K, alpha, a->data, ta ? M : K, b->data,
               tb ? K : N, c != NULL ? beta : 0.0f, y, N, &ep);
    return AXLE_OK;
}

const struct axle_op axle_op_gemm = {
    .name = "Gemm",
    .domain = "",
    .min_inputs = 2,
    .max_inputs = 3,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = gemm_infer,
    .run = gemm_run,
    .prepare = gemm_prepare,
    .release = gemm_release,
};
