/*
 * fuse.c - load-time fusions that pay on CPU (PERF.md §1.2 item 4):
 *
 *   Conv -> BatchNormalization (inference mode, constant parameters)
 *       folded into new constant conv weights and bias:
 *       W' = W * s, B' = (B - mean) * s + beta, s = scale / sqrt(var + eps).
 *   Conv / Gemm / MatMul -> Add(constant bias)
 *       Conv: a per-channel constant ([M], [M,1,1], [1,M,1,1], scalar) is
 *       added to the conv bias; Gemm without C: the constant ([N], [1,N],
 *       scalar) becomes C; MatMul: a 1-D [N] constant becomes the MatMul's
 *       axle-internal third input (bias epilogue, kernels/matmul.c).
 *   Conv -> Add(computed tensor of the conv output's shape)
 *       the tensor becomes the conv's axle-internal fourth input
 *       (residual added in the store loop, before the activation).
 *   Conv / Gemm / MatMul -> Relu, LeakyRelu, Clip (constant bounds),
 *       Sigmoid, Tanh, HardSigmoid, HardSwish
 *       set node->fused_act/fused_alpha/fused_beta, applied by the kernels
 *       in their store loops.
 *
 * A fusion applies only to float32 values that have exactly one consumer
 * and are not graph outputs. The absorbed node takes over nothing: the
 * producer is rewired to write the consumer's output and the consumer is
 * marked dead; the caller removes dead nodes and re-sorts.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "engine/engine.h"
#include "ir/tensor.h"

static bool is_op(const struct axle_node *n, const char *type)
{
    return !n->dead && n->domain[0] == '\0' && strcmp(n->op_type, type) == 0;
}

/* The node consuming value v when v has exactly one consumer and is not a
 * graph output; -1 otherwise. */
static int sole_consumer(const struct axle_graph *g, int v)
{
    const struct axle_value *val = &g->values[v];
    int found = -1, uses = 0;

    if (val->is_output || val->n_consumers != 1)
        return -1;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct axle_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] == v) {
                found = i;
                uses++;
            }
    }
    return uses == 1 ? found : -1;
}

static const struct axle_tensor *const_f32(const struct axle_graph *g, int v)
{
    const struct axle_tensor *t;
    if (v < 0)
        return NULL;
    t = g->values[v].const_value;
    if (t == NULL || t->dtype != AXLE_DTYPE_FLOAT32 || t->data == NULL)
        return NULL;
    return t;
}

/* A new constant value holding t (takes ownership). */
static int add_const(struct axle_graph *g, const char *hint,
                     struct axle_tensor *t)
{
    int v = axle_graph_new_value(g, hint);
    struct axle_value *val = &g->values[v];

    val->const_value = t;
    val->info = *t;
    val->info.data = NULL;
    val->info.owns_data = 0;
    val->info.cap_bytes = 0;
    val->producer = -1;
    return v;
}

/* Producer p now writes consumer c's first output; c dies. */
static void absorb(struct axle_graph *g, struct axle_node *p,
                   struct axle_node *c)
{
    p->outputs[0] = c->outputs[0];
    c->dead = true;
    axle_graph_relink(g);
}

static bool out_is_f32(const struct axle_graph *g, const struct axle_node *n)
{
    return n->n_outputs >= 1 && n->outputs[0] >= 0 &&
           g->values[n->outputs[0]].info.dtype == AXLE_DTYPE_FLOAT32;
}

/* ---- Conv + BatchNormalization ---------------------------------------- */

static enum axle_status fold_bn(struct axle_graph *g, int ci, bool *changed,
                                struct axle_err *err)
{
    struct axle_node *c = &g->nodes[ci], *bn;
    const struct axle_tensor *w, *b = NULL, *sc, *bb, *mean, *var;
    struct axle_tensor *nw = NULL, *nb = NULL;
    int bi, wv, bv;
    int64_t M, per;
    float eps;
    enum axle_status st;

    *changed = false;
    if (c->fused_act != AXLE_ACT_NONE || c->n_inputs < 2)
        return AXLE_OK;
    bi = sole_consumer(g, c->outputs[0]);
    if (bi < 0 || !is_op(&g->nodes[bi], "BatchNormalization"))
        return AXLE_OK;
    bn = &g->nodes[bi];
    if (bn->n_inputs != 5 || bn->inputs[0] != c->outputs[0] ||
        axle_node_attr_int(bn, "training_mode", 0) != 0 ||
        axle_node_attr_int(bn, "spatial", 1) != 1)
        return AXLE_OK;
    for (int j = 1; j < bn->n_outputs; j++) {
        int v = bn->outputs[j];
        if (v >= 0 && (g->values[v].n_consumers > 0 ||
                       g->values[v].is_output))
            return AXLE_OK;
    }
    w = const_f32(g, c->inputs[1]);
    if (c->n_inputs > 2 && c->inputs[2] >= 0) {
        b = const_f32(g, c->inputs[2]);
        if (b == NULL)
            return AXLE_OK;
    }
    if (w == NULL || w->rank < 3)
        return AXLE_OK;
    M = w->dims[0];
    sc = const_f32(g, bn->inputs[1]);
    bb = const_f32(g, bn->inputs[2]);
    mean = const_f32(g, bn->inputs[3]);
    var = const_f32(g, bn->inputs[4]);
    if (sc == NULL || bb == NULL || mean == NULL || var == NULL)
        return AXLE_OK;
    if (axle_tensor_numel(sc) != M || axle_tensor_numel(bb) != M ||
        axle_tensor_numel(mean) != M || axle_tensor_numel(var) != M ||
        (b != NULL && axle_tensor_numel(b) != M) || M <= 0)
        return AXLE_OK;
    per = axle_tensor_numel(w) / M;
    eps = axle_node_attr_float(bn, "epsilon", 1e-5f);

    st = axle_tensor_clone(w, &nw, err);
    if (st != AXLE_OK)
        return st;
    {
        int64_t one = M;
        st = axle_tensor_new(AXLE_DTYPE_FLOAT32, 1, &one, &nb, err);
        if (st != AXLE_OK) {
            axle_tensor_free(nw);
            return st;
        }
    }
    {
        float *W = nw->data, *B = nb->data;
        const float *s = sc->data, *be = bb->data, *mu = mean->data;
        const float *vr = var->data;
        const float *b0 = b != NULL ? b->data : NULL;
        for (int64_t m = 0; m < M; m++) {
            float f = s[m] / sqrtf(vr[m] + eps);
            for (int64_t i = 0; i < per; i++)
                W[m * per + i] *= f;
            B[m] = ((b0 != NULL ? b0[m] : 0.0f) - mu[m]) * f + be[m];
        }
    }
    wv = add_const(g, g->values[c->inputs[1]].name, nw);
    bv = add_const(g, "conv_bn_bias", nb);
    c = &g->nodes[ci];
    bn = &g->nodes[bi];
    {
        int in[3] = {c->inputs[0], wv, bv};
        int out[1] = {bn->outputs[0]};
        axle_node_set_io(c, 3, in, 1, out);
    }
    bn->dead = true;
    axle_graph_relink(g);
    *changed = true;
    return AXLE_OK;
}

/* ---- residual Add --------------------------------------------------------- */

/* Conv -> Add(other) where other is a computed float32 tensor of exactly
 * the conv output's (fully known) shape: other becomes the conv's
 * axle-internal fourth input, added in the store loop before the fused
 * activation (y = act(conv + bias + other)), so ResNet's Add + Relu after
 * each block cost no passes of their own. */
static void fuse_residual(struct axle_graph *g, int pi, bool *changed)
{
    struct axle_node *p = &g->nodes[pi], *a;
    const struct axle_tensor *oi, *ri;
    int ai, rv, v;

    *changed = false;
    if (p->fused_act != AXLE_ACT_NONE || !out_is_f32(g, p) ||
        p->n_inputs < 2 || p->n_inputs > 3)
        return;
    v = p->outputs[0];
    ai = sole_consumer(g, v);
    if (ai < 0 || !is_op(&g->nodes[ai], "Add"))
        return;
    a = &g->nodes[ai];
    if (a->n_inputs != 2 || a->n_outputs != 1 || a->outputs[0] < 0)
        return;
    rv = a->inputs[0] == v ? a->inputs[1] : a->inputs[0];
    if (rv < 0 || rv == v || g->values[rv].const_value != NULL)
        return;
    /* The nodes stay in topological order until the caller re-sorts, and
     * dead-node removal relies on it: take only a residual computed before
     * this conv (ResNet's downsample branch comes after conv2, so there
     * the downsample conv absorbs the Add instead). */
    if (g->values[rv].producer >= pi)
        return;
    oi = &g->values[v].info;
    ri = &g->values[rv].info;
    if (ri->dtype != AXLE_DTYPE_FLOAT32 || oi->rank < 3 ||
        ri->rank != oi->rank)
        return;
    /* Equal dims, known or the same symbol (<= -2, e.g. the batch); the
     * kernel checks the concrete shapes again at run time. */
    for (int d = 0; d < oi->rank; d++)
        if (oi->dims[d] == -1 || ri->dims[d] != oi->dims[d])
            return;
    /* The Add's output must have the same shape too (no broadcasting). */
    {
        const struct axle_tensor *ao = &g->values[a->outputs[0]].info;
        if (ao->rank != oi->rank)
            return;
        for (int d = 0; d < oi->rank; d++)
            if (ao->dims[d] != oi->dims[d])
                return;
    }
    {
        int in[4] = {p->inputs[0], p->inputs[1],
                     p->n_inputs > 2 ? p->inputs[2] : -1, rv};
        int out[1] = {v};
        axle_node_set_io(p, 4, in, 1, out);
    }
    absorb(g, &g->nodes[pi], &g->nodes[ai]);
    *changed = true;
}

/* ---- bias Add ----------------------------------------------------------- */

/* The constant operand of Add node a that is not value v; -1 if none. */
static int add_other_const(const struct axle_graph *g,
                           const struct axle_node *a, int v)
{
    int o;
    if (a->n_inputs != 2)
        return -1;
    if (a->inputs[0] == v)
        o = a->inputs[1];
    else if (a->inputs[1] == v)
        o = a->inputs[0];
    else
        return -1;
    return const_f32(g, o) != NULL ? o : -1;
}

static enum axle_status fuse_add(struct axle_graph *g, int pi, bool *changed,
                                 struct axle_err *err)
{
    struct axle_node *p = &g->nodes[pi], *a;
    const struct axle_tensor *cst, *oi;
    int ai, cv;

    *changed = false;
    if (p->fused_act != AXLE_ACT_NONE || !out_is_f32(g, p))
        return AXLE_OK;
    ai = sole_consumer(g, p->outputs[0]);
    if (ai < 0 || !is_op(&g->nodes[ai], "Add"))
        return AXLE_OK;
    a = &g->nodes[ai];
    cv = add_other_const(g, a, p->outputs[0]);
    if (cv < 0 || a->n_outputs != 1)
        return AXLE_OK;
    cst = g->values[cv].const_value;
    oi = &g->values[p->outputs[0]].info;
    if (oi->rank < 1 || cst->rank > oi->rank)
        return AXLE_OK;

    if (strcmp(p->op_type, "Conv") == 0) {
        /* Per-channel constant: every dim 1 except the channel axis. */
        const struct axle_tensor *w = const_f32(g, p->inputs[1]);
        const struct axle_tensor *b = NULL;
        struct axle_tensor *nb;
        int64_t M, one;
        int ch = cst->rank - (oi->rank - 1); /* cst axis of channels */
        bool scalar = axle_tensor_numel(cst) == 1;
        enum axle_status st;
        if (w == NULL || w->rank < 1)
            return AXLE_OK;
        M = w->dims[0];
        for (int d = 0; d < cst->rank; d++)
            if (cst->dims[d] != 1 && !(d == ch && cst->dims[d] == M))
                return AXLE_OK;
        if (!scalar && (ch < 0 || cst->dims[ch] != M))
            return AXLE_OK;
        if (p->n_inputs > 2 && p->inputs[2] >= 0) {
            b = const_f32(g, p->inputs[2]);
            if (b == NULL || axle_tensor_numel(b) != M)
                return AXLE_OK;
        }
        one = M;
        st = axle_tensor_new(AXLE_DTYPE_FLOAT32, 1, &one, &nb, err);
        if (st != AXLE_OK)
            return st;
        for (int64_t m = 0; m < M; m++)
            ((float *)nb->data)[m] =
                (b != NULL ? ((const float *)b->data)[m] : 0.0f) +
                ((const float *)cst->data)[scalar ? 0 : m];
        int bv = add_const(g, "conv_add_bias", nb);
        p = &g->nodes[pi];
        a = &g->nodes[ai];
        int in[3] = {p->inputs[0], p->inputs[1], bv};
        int out[1] = {p->outputs[0]};
        axle_node_set_io(p, 3, in, 1, out);
    } else if (strcmp(p->op_type, "Gemm") == 0) {
        int64_t N = oi->rank == 2 ? oi->dims[1] : -1;
        bool ok = axle_tensor_numel(cst) == 1 ||
                  (N >= 0 && axle_tensor_numel(cst) == N &&
                   cst->dims[cst->rank - 1] == N);
        if (oi->rank != 2 || !ok || (p->n_inputs > 2 && p->inputs[2] >= 0) ||
            axle_node_attr_float(p, "beta", 1.0f) != 1.0f)
            return AXLE_OK;
        int in[3] = {p->inputs[0], p->inputs[1], cv};
        int out[1] = {p->outputs[0]};
        axle_node_set_io(p, 3, in, 1, out);
    } else if (strcmp(p->op_type, "MatMul") == 0) {
        int64_t N = oi->dims[oi->rank - 1];
        if (p->n_inputs != 2 || cst->rank != 1 || N < 0 ||
            cst->dims[0] != N)
            return AXLE_OK;
        int in[3] = {p->inputs[0], p->inputs[1], cv};
        int out[1] = {p->outputs[0]};
        axle_node_set_io(p, 3, in, 1, out);
    } else {
        return AXLE_OK;
    }
    absorb(g, &g->nodes[pi], &g->nodes[ai]);
    *changed = true;
    return AXLE_OK;
}

/* ---- activations ------------------------------------------------------- */

/* Scalar float of a constant input (Clip-11 bounds); false if not const. */
static bool const_scalar(const struct axle_graph *g, int v, float *out)
{
    const struct axle_tensor *t = const_f32(g, v);
    if (t == NULL || axle_tensor_numel(t) != 1)
        return false;
    *out = ((const float *)t->data)[0];
    return true;
}

static bool act_of(const struct axle_graph *g, const struct axle_node *n,
                   int *act, float *alpha, float *beta)
{
    *alpha = 0.0f;
    *beta = 0.0f;
    if (is_op(n, "Relu")) {
        *act = AXLE_ACT_RELU;
    } else if (is_op(n, "LeakyRelu")) {
        *act = AXLE_ACT_LEAKY_RELU;
        *alpha = axle_node_attr_float(n, "alpha", 0.01f);
    } else if (is_op(n, "Sigmoid")) {
        *act = AXLE_ACT_SIGMOID;
    } else if (is_op(n, "Tanh")) {
        *act = AXLE_ACT_TANH;
    } else if (is_op(n, "HardSigmoid")) {
        *act = AXLE_ACT_HARD_SIGMOID;
        *alpha = axle_node_attr_float(n, "alpha", 0.2f);
        *beta = axle_node_attr_float(n, "beta", 0.5f);
    } else if (is_op(n, "HardSwish")) {
        *act = AXLE_ACT_HARD_SWISH;
    } else if (is_op(n, "Clip")) {
        *act = AXLE_ACT_CLIP;
        if (g->opset < 11) {
            *alpha = axle_node_attr_float(n, "min", -FLT_MAX);
            *beta = axle_node_attr_float(n, "max", FLT_MAX);
        } else {
            *alpha = -INFINITY;
            *beta = INFINITY;
            if (n->n_inputs > 1 && n->inputs[1] >= 0 &&
                !const_scalar(g, n->inputs[1], alpha))
                return false;
            if (n->n_inputs > 2 && n->inputs[2] >= 0 &&
                !const_scalar(g, n->inputs[2], beta))
                return false;
        }
    } else {
        return false;
    }
    return n->n_outputs == 1 && n->outputs[0] >= 0;
}

static void fuse_act(struct axle_graph *g, int pi, bool *changed)
{
    struct axle_node *p = &g->nodes[pi];
    int ci, act;
    float alpha, beta;

    *changed = false;
    if (p->fused_act != AXLE_ACT_NONE || !out_is_f32(g, p))
        return;
    ci = sole_consumer(g, p->outputs[0]);
    if (ci < 0 || !act_of(g, &g->nodes[ci], &act, &alpha, &beta))
        return;
    if (g->nodes[ci].inputs[0] != p->outputs[0])
        return;
    p->fused_act = act;
    p->fused_alpha = alpha;
    p->fused_beta = beta;
    absorb(g, p, &g->nodes[ci]);
    *changed = true;
}

enum axle_status axle_engine_fuse(struct axle_graph *g, struct axle_err *err)
{
    enum axle_status st;
    bool changed;

    axle_graph_relink(g);
    for (int i = 0; i < g->n_nodes; i++) {
        struct axle_node *n = &g->nodes[i];
        bool conv = is_op(n, "Conv");
        if (!conv && !is_op(n, "Gemm") && !is_op(n, "MatMul"))
            continue;
        if (n->n_outputs != 1 || n->outputs[0] < 0)
            continue;
        if (conv) {
            st = fold_bn(g, i, &changed, err);
            if (st != AXLE_OK)
                return st;
        }
        st = fuse_add(g, i, &changed, err);
        if (st != AXLE_OK)
            return st;
        if (conv)
            fuse_residual(g, i, &changed);
        fuse_act(g, i, &changed);
    }
    return AXLE_OK;
}
