/*
 * forest_op.c - the "ai.axle" Forest operator: a tree ensemble loaded from
 * a native format (XGBoost, LightGBM), and the one-node model around it.
 *
 * The forest travels as an opaque attribute "forest" owned by the graph;
 * prepare borrows it as the node state. Input 0 is float [N, n_features].
 * Outputs follow forest->output:
 *   AXLE_FOREST_PREDICT   0: predictions float [N] (one target) or [N, T]
 *   AXLE_FOREST_CLASSIFY  0: probabilities float [N, C]
 *                         1: label int64 [N]
 * Scores are computed in double, transformed per row, then stored as
 * float; the run path allocates only through the kernel scratch.
 */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/model.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/forest.h"

static const struct axle_forest *node_forest(const struct axle_node *n)
{
    const struct axle_attr *a = axle_node_attr(n, "forest");
    if (a == NULL || a->type != AXLE_ATTR_OPAQUE || a->opaque == NULL)
        return NULL;
    return a->opaque;
}

static int n_classes(const struct axle_forest *f)
{
    return f->n_targets == 1 ? 2 : f->n_targets;
}

static enum axle_status forest_check_input(struct axle_kctx *k,
                                           const struct axle_forest *f)
{
    const struct axle_tensor *x = k->in[0];
    if (x->dtype != AXLE_DTYPE_FLOAT32)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input must be float32, got %s",
                            axle_dtype_name(x->dtype));
    if (x->rank != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input must be [rows, %d features], got rank %d",
                            f->n_features, x->rank);
    if (x->dims[1] >= 0 && x->dims[1] != f->n_features)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input has %lld features, the model expects %d",
                            (long long)x->dims[1], f->n_features);
    return AXLE_OK;
}

static enum axle_status forest_infer(struct axle_kctx *k)
{
    const struct axle_forest *f = node_forest(k->node);
    int64_t n;
    enum axle_status st;

    if (f == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Forest: no compiled forest attached");
    st = forest_check_input(k, f);
    if (st != AXLE_OK)
        return st;
    n = k->in[0]->dims[0];
    if (f->output == AXLE_FOREST_CLASSIFY) {
        if (k->n_outputs != 2)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Forest: a classifier has two outputs");
        if (k->out[0] != NULL) {
            k->out[0]->dtype = AXLE_DTYPE_FLOAT32;
            k->out[0]->rank = 2;
            k->out[0]->dims[0] = n;
            k->out[0]->dims[1] = n_classes(f);
        }
        if (k->out[1] != NULL) {
            k->out[1]->dtype = AXLE_DTYPE_INT64;
            k->out[1]->rank = 1;
            k->out[1]->dims[0] = n;
        }
        return AXLE_OK;
    }
    if (k->out[0] != NULL) {
        k->out[0]->dtype = AXLE_DTYPE_FLOAT32;
        k->out[0]->rank = f->n_targets == 1 ? 1 : 2;
        k->out[0]->dims[0] = n;
        k->out[0]->dims[1] = f->n_targets;
    }
    return AXLE_OK;
}

static enum axle_status forest_prepare(struct axle_kctx *k, void **state)
{
    *state = (void *)node_forest(k->node);
    if (*state == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Forest: no compiled forest attached");
    return AXLE_OK;
}

static enum axle_status forest_run(struct axle_kctx *k)
{
    const struct axle_forest *f = k->state;
    const struct axle_tensor *x = k->in[0];
    int64_t n, T;
    size_t wb, sb;
    double *scores;
    void *work;
    enum axle_status st = forest_check_input(k, f);

    if (st != AXLE_OK)
        return st;
    n = x->dims[0];
    T = f->n_targets;
    if (n == 0)
        return AXLE_OK;
    sb = ((size_t)n * (size_t)T * sizeof(double) + 63) & ~(size_t)63;
    wb = axle_forest_work_bytes(f, n);
    scores = axle_kctx_scratch(k, sb + wb);
    if (scores == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "Forest: no scratch memory");
    work = wb ? (char *)scores + sb : NULL;
    axle_forest_scores(f, x->data, n, f->n_features, scores, work, k->pool);

    if (f->output == AXLE_FOREST_CLASSIFY) {
        float *prob = k->out[0] ? k->out[0]->data : NULL;
        int64_t *label = k->out[1] ? k->out[1]->data : NULL;
        for (int64_t r = 0; r < n; r++) {
            double *s = scores + r * T;
            axle_forest_transform_row(f, s);
            if (T == 1) {
                if (prob) {
                    prob[2 * r] = (float)(1.0 - s[0]);
                    prob[2 * r + 1] = (float)s[0];
                }
                if (label)
                    label[r] = s[0] > 0.5;
            } else {
                int64_t best = 0;
                for (int64_t t = 0; t < T; t++) {
                    if (prob)
                        prob[r * T + t] = (float)s[t];
                    if (s[t] > s[best])
                        best = t;
                }
                if (label)
                    label[r] = best;
            }
        }
        return AXLE_OK;
    }
    if (k->out[0] != NULL) {
        float *y = k->out[0]->data;
        for (int64_t r = 0; r < n; r++) {
            double *s = scores + r * T;
            axle_forest_transform_row(f, s);
            for (int64_t t = 0; t < T; t++)
                y[r * T + t] = (float)s[t];
        }
    }
    return AXLE_OK;
}

const struct axle_op axle_op_forest = {
    .name = "Forest",
    .domain = "ai.axle",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 2,
    .infer = forest_infer,
    .run = forest_run,
    .prepare = forest_prepare,
};

static void forest_free_opaque(void *p)
{
    axle_forest_free(p);
}

void axle_ir_model_add_meta(struct axle_ir_model *m, const char *key,
                            const char *value)
{
    m->meta_keys = axle_xrealloc(m->meta_keys,
                                 (size_t)(m->n_meta + 1) * sizeof(char *));
    m->meta_values = axle_xrealloc(m->meta_values,
                                   (size_t)(m->n_meta + 1) * sizeof(char *));
    m->meta_keys[m->n_meta] = axle_xstrdup(key);
    m->meta_values[m->n_meta] = axle_xstrdup(value ? value : "");
    m->n_meta++;
}

static int add_output(struct axle_graph *g, const char *name)
{
    int id = axle_graph_value(g, name);
    g->values[id].is_output = true;
    g->outputs[g->n_outputs++] = id;
    return id;
}

enum axle_status axle_forest_model(struct axle_forest *f, const char *format,
                                   struct axle_ir_model **out,
                                   struct axle_err *err)
{
    struct axle_ir_model *m;
    struct axle_graph *g;
    struct axle_attr *a;
    int in, outs[2], n_out, ni;

    *out = NULL;
    if (!f->finished) {
        enum axle_status st = axle_forest_finish(f, err);
        if (st != AXLE_OK) {
            axle_forest_free(f);
            return st;
        }
    }
    g = axle_graph_new();
    axle_free(g->name);
    g->name = axle_xstrdup(format);
    g->opset = 17;
    in = axle_graph_value(g, "input");
    g->values[in].is_input = true;
    g->values[in].info.dtype = AXLE_DTYPE_FLOAT32;
    g->values[in].info.rank = 2;
    g->values[in].info.dims[0] = axle_graph_sym(g, "batch");
    g->values[in].info.dims[1] = f->n_features;
    g->inputs = axle_xmalloc(sizeof(int));
    g->inputs[g->n_inputs++] = in;
    g->outputs = axle_xmalloc(2 * sizeof(int));
    if (f->output == AXLE_FOREST_CLASSIFY) {
        outs[0] = add_output(g, "probabilities");
        outs[1] = add_output(g, "label");
        n_out = 2;
    } else {
        outs[0] = add_output(g, "predictions");
        n_out = 1;
    }
    ni = axle_graph_add_node(g, "Forest", "ai.axle", "forest");
    axle_node_set_io(&g->nodes[ni], 1, &in, n_out, outs);
    g->nodes[ni].op = &axle_op_forest;
    a = axle_node_add_attr(&g->nodes[ni], "forest");
    a->type = AXLE_ATTR_OPAQUE;
    a->opaque = f;
    a->opaque_free = forest_free_opaque;

    m = axle_xcalloc(1, sizeof(*m));
    m->graph = g;
    m->format = axle_xstrdup(format);
    m->producer_name = axle_xstrdup(format);
    m->producer_version = axle_xstrdup("");
    *out = m;
    return AXLE_OK;
}
