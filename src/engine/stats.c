/*
 * stats.c - model statistics for `axle inspect`: operator histogram,
 * parameter count and bytes, and an estimate of FLOPs per sample taken from
 * the concrete shapes of a batch-1 dry run.
 *
 * FLOP conventions: a multiply-add counts 2. Conv: 2 * out_elems *
 * (C_in / group) * prod(kernel). ConvTranspose: 2 * in_elems * (C_out /
 * group) * prod(kernel). MatMul/Gemm: 2 * M * N * K. Recurrent layers:
 * 2 * weight elements * sequence length. Everything else: one per output
 * element.
 */
#include <string.h>

#include "base/alloc.h"
#include "engine/engine.h"
#include "engine/stats.h"
#include "ir/tensor.h"

static int64_t numel_or0(const struct axle_tensor *t)
{
    int64_t n = t ? axle_tensor_numel(t) : -1;
    return n > 0 ? n : 0;
}

static int64_t node_flops(const struct axle_node *n,
                          const struct axle_tensor *vals)
{
    const struct axle_tensor *x = n->n_inputs > 0 && n->inputs[0] >= 0
                                      ? &vals[n->inputs[0]] : NULL;
    const struct axle_tensor *w = n->n_inputs > 1 && n->inputs[1] >= 0
                                      ? &vals[n->inputs[1]] : NULL;
    const struct axle_tensor *y = n->n_outputs > 0 && n->outputs[0] >= 0
                                      ? &vals[n->outputs[0]] : NULL;
    int64_t out = numel_or0(y);

    if (y == NULL || y->rank < 0)
        return 0;
    if ((strcmp(n->op_type, "Conv") == 0 ||
         strcmp(n->op_type, "ConvTranspose") == 0) && w != NULL &&
        w->rank >= 2) {
        int64_t k = 1;
        for (int d = 2; d < w->rank; d++)
            k *= w->dims[d];
        if (strcmp(n->op_type, "Conv") == 0)
            return 2 * out * w->dims[1] * k;
        return 2 * numel_or0(x) * w->dims[1] * k;
    }
    if ((strcmp(n->op_type, "MatMul") == 0 ||
         strcmp(n->op_type, "Gemm") == 0) && x != NULL && x->rank >= 1) {
        int64_t kdim = x->dims[x->rank - 1];
        if (strcmp(n->op_type, "Gemm") == 0 &&
            axle_node_attr_int(n, "transA", 0) && x->rank == 2)
            kdim = x->dims[0];
        return 2 * out * kdim;
    }
    if ((strcmp(n->op_type, "LSTM") == 0 || strcmp(n->op_type, "GRU") == 0 ||
         strcmp(n->op_type, "RNN") == 0) && x != NULL && x->rank == 3) {
        const struct axle_tensor *r = n->n_inputs > 2 && n->inputs[2] >= 0
                                          ? &vals[n->inputs[2]] : NULL;
        int64_t batch = axle_node_attr_int(n, "layout", 0) ? x->dims[0]
                                                            : x->dims[1];
        int64_t seq = axle_node_attr_int(n, "layout", 0) ? x->dims[1]
                                                          : x->dims[0];
        return 2 * (numel_or0(w) + numel_or0(r)) * seq * batch;
    }
    return out;
}

void axle_engine_stats(struct axle_model *m, struct axle_model_stats *st)
{
    struct axle_graph *g = m->ir->graph;
    struct axle_session *s = NULL;
    struct axle_session_opts so = {.n_threads = 1, .max_batch = 1};
    struct axle_err err;

    memset(st, 0, sizeof(*st));
    for (int v = 0; v < g->n_values; v++) {
        const struct axle_tensor *c = g->values[v].const_value;
        if (c == NULL || c->dtype == AXLE_DTYPE_STRING)
            continue;
        st->params += numel_or0(c);
        st->param_bytes += axle_tensor_nbytes(c) > 0 ? axle_tensor_nbytes(c)
                                                     : 0;
    }
    st->flops = -1;
    if (axle_session_new(m, &so, &s, &err) != AXLE_OK)
        return;
    if (!s->replan) { /* the dry run at batch 1 succeeded */
        st->flops = 0;
        for (int i = 0; i < g->n_nodes; i++)
            st->flops += node_flops(&g->nodes[i], s->vals);
    }
    axle_session_free(s);
}
