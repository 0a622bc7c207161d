/*
 * passes.c - load-time graph passes: shape and type inference with symbolic
 * dims, constant folding (running the real kernels on constant inputs) and
 * dead-node removal. Fusions live in fuse.c.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "engine/engine.h"
#include "ir/tensor.h"

/* Folded tensors larger than this stay computed at run time. */
#define FOLD_MAX_BYTES ((int64_t)64 << 20)

enum axle_status axle_engine_check_kinds(const struct axle_node *n,
                                         const struct axle_tensor *const *in,
                                         struct axle_err *err)
{
    if (n->op->containers ||
        (n->op->view && strcmp(n->op->name, "Identity") == 0))
        return AXLE_OK;
    for (int j = 0; j < n->n_inputs; j++)
        if (in[j] != NULL && in[j]->kind != AXLE_KIND_TENSOR)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "input %d is a %s; %s takes tensors", j,
                                axle_kind_name(in[j]->kind), n->op_type);
    return AXLE_OK;
}

enum axle_status axle_engine_node_infer(struct axle_graph *g,
                                        const struct axle_node *n,
                                        const struct axle_tensor *const *in,
                                        struct axle_tensor *const *out,
                                        struct axle_err *err)
{
    struct axle_kctx k = {
        .node = n,
        .opset = strcmp(n->domain, "ai.onnx.ml") == 0 ? g->opset_ml
                                                      : g->opset,
        .n_inputs = n->n_inputs,
        .in = in,
        .n_outputs = n->n_outputs,
        .out = out,
        .graph = g,
        .err = err,
    };
    enum axle_status st = axle_engine_check_kinds(n, in, err);
    if (st == AXLE_OK)
        st = n->op->infer(&k);
    /* Identity & co. pass sequences and optionals through unchanged. */
    if (st == AXLE_OK && n->op->view && n->n_inputs > 0 && in[0] != NULL &&
        in[0]->kind != AXLE_KIND_TENSOR && out[0] != NULL) {
        out[0]->kind = in[0]->kind;
        out[0]->elem_kind = in[0]->elem_kind;
        out[0]->dtype = in[0]->dtype;
        out[0]->rank = -1;
    }
    return st;
}

/* Node input descriptions: info plus constant data when known. */
static void describe_inputs(const struct axle_graph *g,
                            const struct axle_node *n, struct axle_tensor *buf,
                            const struct axle_tensor **in)
{
    for (int j = 0; j < n->n_inputs; j++) {
        int v = n->inputs[j];
        if (v < 0) {
            in[j] = NULL;
            continue;
        }
        buf[j] = g->values[v].info;
        buf[j].data = g->values[v].const_value
                          ? g->values[v].const_value->data : NULL;
        buf[j].owns_data = 0;
        in[j] = &buf[j];
    }
}

struct io_bufs {
    struct axle_tensor *tin, *tout;
    const struct axle_tensor **in;
    struct axle_tensor **out;
    int cap;
};

static void io_reserve(struct io_bufs *b, int n)
{
    if (n <= b->cap)
        return;
    b->cap = n;
    b->tin = axle_xrealloc(b->tin, (size_t)n * sizeof(*b->tin));
    b->tout = axle_xrealloc(b->tout, (size_t)n * sizeof(*b->tout));
    b->in = axle_xrealloc(b->in, (size_t)n * sizeof(*b->in));
    b->out = axle_xrealloc(b->out, (size_t)n * sizeof(*b->out));
}

static void io_dispose(struct io_bufs *b)
{
    axle_free(b->tin);
    axle_free(b->tout);
    axle_free(b->in);
    axle_free(b->out);
}

enum axle_status axle_engine_infer_shapes(struct axle_graph *g,
                                          struct axle_err *err)
{
    struct io_bufs b = {0};
    enum axle_status st = AXLE_OK;

    for (int i = 0; i < g->n_nodes && st == AXLE_OK; i++) {
        struct axle_node *n = &g->nodes[i];
        io_reserve(&b, n->n_inputs > n->n_outputs ? n->n_inputs
                                                    : n->n_outputs);
        describe_inputs(g, n, b.tin, b.in);
        for (int j = 0; j < n->n_outputs; j++) {
            memset(&b.tout[j], 0, sizeof(b.tout[j]));
            b.tout[j].rank = -1;
            b.out[j] = n->outputs[j] >= 0 ? &b.tout[j] : NULL;
        }
        st = axle_engine_node_infer(g, n, b.in, b.out, err);
        if (st != AXLE_OK) {
            axle_err_prefix(err, "node '%.60s' (%.40s): ", n->name,
                            n->op_type);
            break;
        }
        for (int j = 0; j < n->n_outputs; j++) {
            int v = n->outputs[j];
            if (v < 0)
                continue;
            struct axle_tensor *info = &g->values[v].info;
            /* A graph output keeps declared dims where inference knows
             * less; otherwise inference wins. */
            if (b.tout[j].rank >= 0 || info->rank < 0 ||
                b.tout[j].dtype != AXLE_DTYPE_UNDEFINED) {
                enum axle_dtype dt = b.tout[j].dtype ? b.tout[j].dtype
                                                     : info->dtype;
                if (b.tout[j].rank >= 0 || info->rank < 0) {
                    *info = b.tout[j];
                    info->data = NULL;
                }
                info->dtype = dt;
            }
        }
    }
    io_dispose(&b);
    return st;
}

static bool foldable(const struct axle_graph *g, const struct axle_node *n)
{
    bool shape_only = strcmp(n->op_type, "Shape") == 0 ||
                      strcmp(n->op_type, "Size") == 0;
    if (n->op->nondeterministic || n->op->run == NULL ||
        n->op->places_outputs)
        return false;
    for (int j = 0; j < n->n_inputs; j++) {
        int v = n->inputs[j];
        if (v < 0)
            continue;
        if (g->values[v].info.kind != AXLE_KIND_TENSOR)
            return false;
        if (g->values[v].const_value != NULL)
            continue;
        if (shape_only && j == 0 && axle_shape_known(&g->values[v].info))
            continue;
        return false;
    }
    for (int j = 0; j < n->n_outputs; j++) {
        int v = n->outputs[j];
        if (v < 0)
            continue;
        const struct axle_tensor *info = &g->values[v].info;
        int64_t nb = axle_tensor_nbytes(info);
        if (info->kind != AXLE_KIND_TENSOR ||
            !axle_shape_known(info) || nb < 0 || nb > FOLD_MAX_BYTES ||
            info->dtype == AXLE_DTYPE_STRING)
            return false;
    }
    return true;
}

/* Run one node on constant inputs with the real kernel; its outputs become
 * constants and the node dies. */
static enum axle_status fold_node(struct axle_graph *g, struct axle_node *n,
                                  struct io_bufs *b, struct axle_err *err)
{
    enum axle_status st = AXLE_OK;
    struct axle_tensor **res;
    void *state = NULL;
    struct axle_scratch scratch = {0};
    struct axle_kctx k;

    io_reserve(b, n->n_inputs > n->n_outputs ? n->n_inputs : n->n_outputs);
    describe_inputs(g, n, b->tin, b->in);
    res = axle_xcalloc((size_t)(n->n_outputs ? n->n_outputs : 1),
                       sizeof(*res));
    for (int j = 0; j < n->n_outputs; j++) {
        int v = n->outputs[j];
        if (v < 0)
            continue;
        st = axle_tensor_new(g->values[v].info.dtype, g->values[v].info.rank,
                             g->values[v].info.dims, &res[j], err);
        if (st != AXLE_OK)
            goto out;
    }
    k = (struct axle_kctx){
        .node = n,
        .opset = strcmp(n->domain, "ai.onnx.ml") == 0 ? g->opset_ml
                                                      : g->opset,
        .n_inputs = n->n_inputs,
        .in = b->in,
        .n_outputs = n->n_outputs,
        .out = res,
        .scratch = &scratch,
        .graph = g,
        .err = err,
    };
    if (n->op->prepare != NULL) {
        st = n->op->prepare(&k, &state);
        if (st != AXLE_OK)
            goto out;
        k.state = state;
    }
    st = n->op->run(&k);
    if (n->op->release != NULL && state != NULL)
        n->op->release(state);
    if (st != AXLE_OK)
        goto out;
    for (int j = 0; j < n->n_outputs; j++) {
        int v = n->outputs[j];
        if (v < 0)
            continue;
        g->values[v].const_value = res[j];
        res[j] = NULL;
    }
    n->dead = true;
out:
    for (int j = 0; j < n->n_outputs; j++)
        axle_tensor_free(res[j]);
    axle_free(res);
    axle_free(scratch.data);
    return st;
}

enum axle_status axle_engine_fold_constants(struct axle_graph *g,
                                            struct axle_err *err)
{
    struct io_bufs b = {0};
    enum axle_status st = AXLE_OK;

    for (int i = 0; i < g->n_nodes; i++) {
        struct axle_node *n = &g->nodes[i];
        if (n->dead || !foldable(g, n))
            continue;
        st = fold_node(g, n, &b, err);
        if (st != AXLE_OK) {
            axle_err_prefix(err, "node '%.60s' (%.40s): ", n->name,
                            n->op_type);
            break;
        }
    }
    io_dispose(&b);
    return st;
}

void axle_engine_remove_dead(struct axle_graph *g)
{
    bool *live = axle_xcalloc((size_t)g->n_values + 1, sizeof(bool));

    for (int i = 0; i < g->n_outputs; i++)
        live[g->outputs[i]] = true;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        struct axle_node *n = &g->nodes[i];
        bool used = false;
        if (n->dead)
            continue;
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] >= 0 && live[n->outputs[j]])
                used = true;
        if (!used) {
            n->dead = true;
            continue;
        }
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0)
                live[n->inputs[j]] = true;
    }
    /* Constants nothing reads any more: drop their memory. */
    for (int v = 0; v < g->n_values; v++) {
        if (!live[v] && g->values[v].const_value != NULL &&
            !g->values[v].is_output) {
            axle_tensor_free(g->values[v].const_value);
            g->values[v].const_value = NULL;
        }
    }
    axle_free(live);
}

enum axle_status axle_engine_optimize(struct axle_graph *g,
                                      struct axle_err *err)
{
    enum axle_status st;

    st = axle_engine_infer_shapes(g, err);
    if (st != AXLE_OK)
        return st;
    st = axle_engine_fold_constants(g, err);
    if (st != AXLE_OK)
        return st;
    axle_engine_remove_dead(g);
    st = axle_graph_toposort(g, err);
    if (st != AXLE_OK)
        return st;
    st = axle_engine_fuse(g, err);
    if (st != AXLE_OK)
        return st;
    axle_engine_remove_dead(g);
    st = axle_graph_toposort(g, err);
    if (st != AXLE_OK)
        return st;
    /* Fusions change nodes: refresh the shapes they carry. */
    return axle_engine_infer_shapes(g, err);
}
