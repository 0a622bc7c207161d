/*
 * graph.c - construction, lookup and ordering of the IR graph.
 *
 * Value lookup by name is a linear scan during import only through
 * axle_graph_value(); importers keep their own hash of names for big graphs
 * (see import/onnx). Sorting is Kahn's algorithm, iterative.
 */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/graph.h"
#include "ir/tensor.h"

struct axle_graph *axle_graph_new(void)
{
    struct axle_graph *g = axle_xcalloc(1, sizeof(*g));
    g->name = axle_xstrdup("");
    return g;
}

void axle_attr_dispose(struct axle_attr *a)
{
    axle_free(a->name);
    axle_free(a->s);
    axle_tensor_free(a->t);
    axle_graph_free(a->g);
    axle_free(a->floats);
    axle_free(a->ints);
    if (a->strings != NULL)
        for (int i = 0; i < a->n; i++)
            axle_free(a->strings[i]);
    axle_free(a->strings);
    if (a->tensors != NULL)
        for (int i = 0; i < a->n; i++)
            axle_tensor_free(a->tensors[i]);
    axle_free(a->tensors);
    if (a->graphs != NULL)
        for (int i = 0; i < a->n; i++)
            axle_graph_free(a->graphs[i]);
    axle_free(a->graphs);
    if (a->opaque != NULL && a->opaque_free != NULL)
        a->opaque_free(a->opaque);
}

void axle_graph_free(struct axle_graph *g)
{
    if (g == NULL)
        return;
    for (int i = 0; i < g->n_values; i++) {
        axle_free(g->values[i].name);
        axle_tensor_free(g->values[i].const_value);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        struct axle_node *n = &g->nodes[i];
        axle_free(n->name);
        axle_free(n->op_type);
        axle_free(n->domain);
        axle_free(n->inputs);
        axle_free(n->outputs);
        for (int j = 0; j < n->n_attrs; j++)
            axle_attr_dispose(&n->attrs[j]);
        axle_free(n->attrs);
    }
    for (int i = 0; i < g->n_syms; i++)
        axle_free(g->syms[i]);
    axle_free(g->syms);
    axle_free(g->values);
    axle_free(g->nodes);
    axle_free(g->inputs);
    axle_free(g->outputs);
    axle_free(g->name);
    axle_free(g);
}

int axle_graph_find_value(const struct axle_graph *g, const char *name)
{
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

static int add_value(struct axle_graph *g, const char *name)
{
    struct axle_value *v;
    if (g->n_values == g->cap_values) {
        g->cap_values = g->cap_values ? g->cap_values * 2 : 64;
        g->values = axle_xrealloc(g->values,
                                  (size_t)g->cap_values * sizeof(*g->values));
    }
    v = &g->values[g->n_values];
    memset(v, 0, sizeof(*v));
    v->name = axle_xstrdup(name);
    v->info.rank = -1;
    v->producer = -1;
    return g->n_values++;
}

int axle_graph_value(struct axle_graph *g, const char *name)
{
    int id = axle_graph_find_value(g, name);
    return id >= 0 ? id : add_value(g, name);
}

int axle_graph_new_value(struct axle_graph *g, const char *hint)
{
    char buf[160];
    for (int k = g->n_values;; k++) {
        snprintf(buf, sizeof(buf), "%.120s__axle%d", hint, k);
        if (axle_graph_find_value(g, buf) < 0)
            return add_value(g, buf);
    }
}

int64_t axle_graph_sym(struct axle_graph *g, const char *name)
{
    for (int i = 0; i < g->n_syms; i++)
        if (strcmp(g->syms[i], name) == 0)
            return axle_dim_sym(i);
    g->syms = axle_xrealloc(g->syms, (size_t)(g->n_syms + 1) * sizeof(char *));
    g->syms[g->n_syms] = axle_xstrdup(name);
    return axle_dim_sym(g->n_syms++);
}

int axle_graph_add_node(struct axle_graph *g, const char *op_type,
                        const char *domain, const char *name)
{
    struct axle_node *n;
    if (g->n_nodes == g->cap_nodes) {
        g->cap_nodes = g->cap_nodes ? g->cap_nodes * 2 : 64;
        g->nodes = axle_xrealloc(g->nodes,
                                 (size_t)g->cap_nodes * sizeof(*g->nodes));
    }
    n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof(*n));
    n->op_type = axle_xstrdup(op_type);
    n->domain = axle_xstrdup(domain ? domain : "");
    n->name = axle_xstrdup(name ? name : "");
    return g->n_nodes++;
}

void axle_node_set_io(struct axle_node *n, int n_in, const int *in, int n_out,
                      const int *out)
{
    axle_free(n->inputs);
    axle_free(n->outputs);
    n->n_inputs = n_in;
    n->inputs = axle_xmalloc((size_t)(n_in ? n_in : 1) * sizeof(int));
    if (n_in)
        memcpy(n->inputs, in, (size_t)n_in * sizeof(int));
    n->n_outputs = n_out;
    n->outputs = axle_xmalloc((size_t)(n_out ? n_out : 1) * sizeof(int));
    if (n_out)
        memcpy(n->outputs, out, (size_t)n_out * sizeof(int));
}

struct axle_attr *axle_node_add_attr(struct axle_node *n, const char *name)
{
    struct axle_attr *a;
    n->attrs = axle_xrealloc(n->attrs,
                             (size_t)(n->n_attrs + 1) * sizeof(*n->attrs));
    a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof(*a));
    a->name = axle_xstrdup(name);
    return a;
}

const struct axle_attr *axle_node_attr(const struct axle_node *n,
                                       const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t axle_node_attr_int(const struct axle_node *n, const char *name,
                           int64_t def)
{
    const struct axle_attr *a = axle_node_attr(n, name);
    return a != NULL && a->type == AXLE_ATTR_INT ? a->i : def;
}

float axle_node_attr_float(const struct axle_node *n, const char *name,
                           float def)
{
    const struct axle_attr *a = axle_node_attr(n, name);
    if (a == NULL)
        return def;
    if (a->type == AXLE_ATTR_FLOAT)
        return a->f;
    if (a->type == AXLE_ATTR_INT)
        return (float)a->i;
    return def;
}

const char *axle_node_attr_str(const struct axle_node *n, const char *name,
                               const char *def)
{
    const struct axle_attr *a = axle_node_attr(n, name);
    return a != NULL && a->type == AXLE_ATTR_STRING ? a->s : def;
}

const int64_t *axle_node_attr_ints(const struct axle_node *n, const char *name,
                                   int *count)
{
    const struct axle_attr *a = axle_node_attr(n, name);
    if (a == NULL || a->type != AXLE_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

const float *axle_node_attr_floats(const struct axle_node *n, const char *name,
                                   int *count)
{
    const struct axle_attr *a = axle_node_attr(n, name);
    if (a == NULL || a->type != AXLE_ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->floats;
}

void axle_graph_relink(struct axle_graph *g)
{
    for (int i = 0; i < g->n_values; i++) {
        g->values[i].producer = -1;
        g->values[i].n_consumers = 0;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        struct axle_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] >= 0)
                g->values[n->outputs[j]].producer = i;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0)
                g->values[n->inputs[j]].n_consumers++;
    }
}

/* Kahn's algorithm over live nodes. Dead nodes are dropped. A value is
 * available when it is a graph input, a constant, or produced by a node
 * already placed. */
enum axle_status axle_graph_toposort(struct axle_graph *g,
                                     struct axle_err *err)
{
    enum axle_status st = AXLE_OK;
    int n_live = 0, placed = 0;
    int *pending = NULL, *order = NULL, *queue = NULL;
    int *cons_start = NULL, *cons = NULL;
    struct axle_node *sorted = NULL;
    int qh = 0, qt = 0;

    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead) {
            struct axle_node *n = &g->nodes[i];
            axle_free(n->name);
            axle_free(n->op_type);
            axle_free(n->domain);
            axle_free(n->inputs);
            axle_free(n->outputs);
            for (int j = 0; j < n->n_attrs; j++)
                axle_attr_dispose(&n->attrs[j]);
            axle_free(n->attrs);
        } else {
            g->nodes[n_live++] = g->nodes[i];
        }
    }
    g->n_nodes = n_live;
    axle_graph_relink(g);

    /* Duplicate producers make the graph invalid (SSA form). */
    {
        int *prod = axle_xmalloc((size_t)(g->n_values ? g->n_values : 1) *
                                 sizeof(int));
        for (int i = 0; i < g->n_values; i++)
            prod[i] = g->values[i].const_value != NULL || g->values[i].is_input
                          ? -2 : -1;
        for (int i = 0; i < g->n_nodes && st == AXLE_OK; i++) {
            for (int j = 0; j < g->nodes[i].n_outputs; j++) {
                int v = g->nodes[i].outputs[j];
                if (v < 0)
                    continue;
                if (prod[v] != -1) {
                    st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                      "invalid graph: value '%.80s' is defined "
                                      "more than once", g->values[v].name);
                    break;
                }
                prod[v] = i;
            }
        }
        axle_free(prod);
        if (st != AXLE_OK)
            return st;
    }

    pending = axle_xcalloc((size_t)(n_live ? n_live : 1), sizeof(int));
    order = axle_xmalloc((size_t)(n_live ? n_live : 1) * sizeof(int));
    queue = axle_xmalloc((size_t)(n_live ? n_live : 1) * sizeof(int));
    cons_start = axle_xcalloc((size_t)g->n_values + 1, sizeof(int));

    /* consumer lists in CSR form: cons[cons_start[v] .. cons_start[v+1]) */
    for (int i = 0; i < n_live; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int v = g->nodes[i].inputs[j];
            if (v >= 0)
                cons_start[v + 1]++;
        }
    for (int v = 0; v < g->n_values; v++)
        cons_start[v + 1] += cons_start[v];
    cons = axle_xmalloc((size_t)(cons_start[g->n_values] + 1) * sizeof(int));
    {
        int *fill = axle_xcalloc((size_t)g->n_values + 1, sizeof(int));
        for (int i = 0; i < n_live; i++)
            for (int j = 0; j < g->nodes[i].n_inputs; j++) {
                int v = g->nodes[i].inputs[j];
                if (v >= 0)
                    cons[cons_start[v] + fill[v]++] = i;
            }
        axle_free(fill);
    }

    for (int i = 0; i < n_live; i++) {
        struct axle_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++) {
            int v = n->inputs[j];
            if (v < 0)
                continue;
            struct axle_value *val = &g->values[v];
            if (val->producer >= 0)
                pending[i]++;
            else if (val->const_value == NULL && !val->is_input) {
                st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                  "invalid graph: node '%.60s' (%.40s) uses "
                                  "undefined value '%.80s'",
                                  n->name, n->op_type, val->name);
                goto out;
            }
        }
        if (pending[i] == 0)
            queue[qt++] = i;
    }
    while (qh < qt) {
        int i = queue[qh++];
        order[placed++] = i;
        for (int j = 0; j < g->nodes[i].n_outputs; j++) {
            int v = g->nodes[i].outputs[j];
            if (v < 0)
                continue;
            for (int c = cons_start[v]; c < cons_start[v + 1]; c++)
                if (--pending[cons[c]] == 0)
                    queue[qt++] = cons[c];
        }
    }
    if (placed != n_live) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "invalid graph: the graph has a cycle");
        goto out;
    }
    sorted = axle_xmalloc((size_t)(n_live ? n_live : 1) * sizeof(*sorted));
    for (int i = 0; i < n_live; i++)
        sorted[i] = g->nodes[order[i]];
    if (n_live > 0)
        memcpy(g->nodes, sorted, (size_t)n_live * sizeof(*sorted));
    axle_graph_relink(g);
out:
    axle_free(sorted);
    axle_free(pending);
    axle_free(order);
    axle_free(queue);
    axle_free(cons_start);
    axle_free(cons);
    return st;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? axle_xstrdup(s) : NULL;
}

static bool clone_attr(const struct axle_attr *a, struct axle_attr *d)
{
    struct axle_err err;
    bool ok = true;

    *d = *a;
    d->name = dup_or_null(a->name);
    d->s = NULL;
    if (a->s != NULL) {
        d->s = axle_xmalloc(a->s_len + 1);
        memcpy(d->s, a->s, a->s_len + 1);
    }
    d->t = NULL;
    if (a->t != NULL) {
        if (a->t->data == NULL) { /* a type record */
            d->t = axle_xcalloc(1, sizeof(*d->t));
            *d->t = *a->t;
            d->t->owns_data = 0;
        } else {
            ok = axle_tensor_clone(a->t, &d->t, &err) == AXLE_OK;
        }
    }
    d->g = a->g != NULL ? axle_graph_clone(a->g) : NULL;
    ok = ok && (a->g == NULL || d->g != NULL);
    d->floats = NULL;
    d->ints = NULL;
    d->strings = NULL;
    d->tensors = NULL;
    d->graphs = NULL;
    if (a->floats != NULL) {
        d->floats = axle_xmalloc(((size_t)a->n + 1) * sizeof(float));
        memcpy(d->floats, a->floats, (size_t)a->n * sizeof(float));
    }
    if (a->ints != NULL) {
        d->ints = axle_xmalloc(((size_t)a->n + 1) * sizeof(int64_t));
        memcpy(d->ints, a->ints, (size_t)a->n * sizeof(int64_t));
    }
    if (a->strings != NULL) {
        d->strings = axle_xcalloc((size_t)a->n + 1, sizeof(char *));
        for (int i = 0; i < a->n; i++)
            d->strings[i] = dup_or_null(a->strings[i]);
    }
    if (a->tensors != NULL) {
        d->tensors = axle_xcalloc((size_t)a->n + 1, sizeof(*d->tensors));
        for (int i = 0; i < a->n && ok; i++)
            ok = axle_tensor_clone(a->tensors[i], &d->tensors[i], &err) ==
                 AXLE_OK;
    }
    if (a->graphs != NULL) {
        d->graphs = axle_xcalloc((size_t)a->n + 1, sizeof(*d->graphs));
        for (int i = 0; i < a->n && ok; i++)
            ok = (d->graphs[i] = axle_graph_clone(a->graphs[i])) != NULL;
    }
    /* Opaque objects have no copy operation: the clone goes without. */
    d->opaque = NULL;
    d->opaque_free = NULL;
    return ok && a->opaque == NULL;
}

struct axle_graph *axle_graph_clone(const struct axle_graph *g)
{
    struct axle_graph *d = axle_graph_new();
    struct axle_err err;
    bool ok = true;

    axle_free(d->name);
    d->name = axle_xstrdup(g->name);
    d->opset = g->opset;
    d->opset_ml = g->opset_ml;
    d->n_outer = g->n_outer;
    d->cap_values = g->n_values;
    d->n_values = g->n_values;
    d->values = axle_xcalloc((size_t)g->n_values + 1, sizeof(*d->values));
    for (int i = 0; i < g->n_values; i++) {
        d->values[i] = g->values[i];
        d->values[i].name = axle_xstrdup(g->values[i].name);
        d->values[i].const_value = NULL;
        if (g->values[i].const_value != NULL && ok)
            ok = axle_tensor_clone(g->values[i].const_value,
                                   &d->values[i].const_value,
                                   &err) == AXLE_OK;
    }
    d->cap_nodes = g->n_nodes;
    d->n_nodes = g->n_nodes;
    d->nodes = axle_xcalloc((size_t)g->n_nodes + 1, sizeof(*d->nodes));
    for (int i = 0; i < g->n_nodes; i++) {
        const struct axle_node *n = &g->nodes[i];
        struct axle_node *m = &d->nodes[i];
        *m = *n;
        m->name = axle_xstrdup(n->name);
        m->op_type = axle_xstrdup(n->op_type);
        m->domain = axle_xstrdup(n->domain);
        m->inputs = axle_xmalloc(((size_t)n->n_inputs + 1) * sizeof(int));
        memcpy(m->inputs, n->inputs, (size_t)n->n_inputs * sizeof(int));
        m->outputs = axle_xmalloc(((size_t)n->n_outputs + 1) * sizeof(int));
        memcpy(m->outputs, n->outputs, (size_t)n->n_outputs * sizeof(int));
        m->n_attrs = 0;
        m->attrs = axle_xcalloc((size_t)n->n_attrs + 1, sizeof(*m->attrs));
        for (int j = 0; j < n->n_attrs; j++) {
            ok = clone_attr(&n->attrs[j], &m->attrs[j]) && ok;
            m->n_attrs = j + 1;
        }
    }
    d->n_inputs = g->n_inputs;
    d->inputs = axle_xmalloc(((size_t)g->n_inputs + 1) * sizeof(int));
    memcpy(d->inputs, g->inputs, (size_t)g->n_inputs * sizeof(int));
    d->n_outputs = g->n_outputs;
    d->outputs = axle_xmalloc(((size_t)g->n_outputs + 1) * sizeof(int));
    memcpy(d->outputs, g->outputs, (size_t)g->n_outputs * sizeof(int));
    d->n_syms = g->n_syms;
    d->syms = axle_xcalloc((size_t)g->n_syms + 1, sizeof(char *));
    for (int i = 0; i < g->n_syms; i++)
        d->syms[i] = axle_xstrdup(g->syms[i]);
    if (!ok) {
        axle_graph_free(d);
        return NULL;
    }
    return d;
}
