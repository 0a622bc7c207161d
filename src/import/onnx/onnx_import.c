/*
 * onnx_import.c - ModelProto bytes -> struct axle_ir_model.
 *
 * Steps: bounded wire pre-scan (D17), protobuf-c unpack, opset checks,
 * graph conversion (inputs with symbolic dims, initializers, nodes with
 * attributes, outputs), operator resolution and topological sort (D28:
 * known ops only, acyclic, every input defined, outputs unique). The
 * protobuf tree is freed before returning; only IR leaves this file.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/strmap.h"
#include "import/onnx/onnx_internal.h"
#include "ir/op.h"
#include "ir/tensor.h"

#define DEFAULT_MAX_MODEL_BYTES ((size_t)2 << 30)

struct ctx {
    int dirfd;
    int opset;
    int opset_ml;
    struct axle_err *err;
};

static enum axle_status convert_graph(struct ctx *c,
                                      const AxleOnnx__GraphProto *gp,
                                      int depth, struct axle_graph **out);

/* TypeProto -> value description. Sequences and optionals carry their
 * innermost tensor dtype; maps and sparse tensors stay undefined. */
static void type_to_info(struct axle_graph *g, const AxleOnnx__TypeProto *tp,
                         struct axle_tensor *info)
{
    const AxleOnnx__TypeProto__Tensor *tt;

    info->rank = -1;
    if (tp != NULL &&
        tp->value_case == AXLE_ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE) {
        const AxleOnnx__TypeProto *e = tp->optional_type->elem_type;
        info->kind = AXLE_KIND_OPTIONAL;
        if (e != NULL &&
            e->value_case == AXLE_ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE) {
            info->elem_kind = AXLE_KIND_SEQUENCE;
            e = e->sequence_type->elem_type;
        }
        tp = e;
    } else if (tp != NULL &&
               tp->value_case == AXLE_ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE) {
        info->kind = AXLE_KIND_SEQUENCE;
        tp = tp->sequence_type->elem_type;
    }
    if (tp == NULL ||
        tp->value_case != AXLE_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return;
    tt = tp->tensor_type;
    if (tt->has_elem_type)
        info->dtype = (enum axle_dtype)tt->elem_type;
    if (info->kind != AXLE_KIND_TENSOR || tt->shape == NULL ||
        tt->shape->n_dim > AXLE_MAX_RANK)
        return;
    info->rank = (int)tt->shape->n_dim;
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const AxleOnnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case ==
                AXLE_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            d->dim_value >= 0)
            info->dims[i] = d->dim_value;
        else if (d->value_case ==
                     AXLE_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                 d->dim_param != NULL && d->dim_param[0] != '\0' && g)
            info->dims[i] = axle_graph_sym(g, d->dim_param);
        else
            info->dims[i] = AXLE_DIM_UNKNOWN;
    }
}

/* Types axle can hold: tensors, sequences of tensors, optionals of
 * either (a nested TypeProto of any other shape is refused). */
static bool type_supported(const AxleOnnx__TypeProto *tp)
{
    if (tp == NULL ||
        tp->value_case == AXLE_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return true;
    if (tp->value_case == AXLE_ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE) {
        tp = tp->optional_type->elem_type;
        if (tp != NULL &&
            tp->value_case == AXLE_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
            return true;
    }
    if (tp != NULL &&
        tp->value_case == AXLE_ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE) {
        tp = tp->sequence_type->elem_type;
        return tp == NULL ||
               tp->value_case == AXLE_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    }
    return false;
}

static char *dup_bytes(const ProtobufCBinaryData *b)
{
    char *s = axle_xmalloc(b->len + 1);
    if (b->len)
        memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    return s;
}

static enum axle_status convert_attr(struct ctx *c,
                                     const AxleOnnx__AttributeProto *ap,
                                     struct axle_node *n, int depth)
{
    struct axle_attr *a;
    enum axle_status st = AXLE_OK;
    int type;

    if (ap->name == NULL)
        return axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                            "invalid graph: attribute without a name");
    if (ap->ref_attr_name != NULL && ap->ref_attr_name[0])
        return axle_err_set(c->err, AXLE_UNIMPLEMENTED,
                            "attribute references are only valid inside "
                            "functions");
    type = ap->has_type ? (int)ap->type : 0;
    if (type == 0) { /* IR < 0.0.2 files: infer from the field present */
        if (ap->has_f) type = AXLE_ATTR_FLOAT;
        else if (ap->has_i) type = AXLE_ATTR_INT;
        else if (ap->has_s) type = AXLE_ATTR_STRING;
        else if (ap->t) type = AXLE_ATTR_TENSOR;
        else if (ap->g) type = AXLE_ATTR_GRAPH;
        else if (ap->n_floats) type = AXLE_ATTR_FLOATS;
        else if (ap->n_ints) type = AXLE_ATTR_INTS;
        else if (ap->n_strings) type = AXLE_ATTR_STRINGS;
        else if (ap->n_tensors) type = AXLE_ATTR_TENSORS;
        else if (ap->n_graphs) type = AXLE_ATTR_GRAPHS;
        else if (ap->tp) type = AXLE_ATTR_TYPE_PROTO;
    }
    a = axle_node_add_attr(n, ap->name);
    switch (type) {
    case AXLE_ATTR_FLOAT:
        a->f = ap->f;
        break;
    case AXLE_ATTR_INT:
        a->i = ap->i;
        break;
    case AXLE_ATTR_STRING:
        a->s = dup_bytes(&ap->s);
        a->s_len = ap->s.len;
        break;
    case AXLE_ATTR_TENSOR:
        if (ap->t == NULL)
            return axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                                "invalid graph: tensor attribute '%.60s' is "
                                "empty", ap->name);
        st = axle_onnx_tensor_convert(ap->t, c->dirfd, &a->t, c->err);
        break;
    case AXLE_ATTR_GRAPH:
        if (ap->g == NULL)
            return axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                                "invalid graph: graph attribute '%.60s' is "
                                "empty", ap->name);
        st = convert_graph(c, ap->g, depth + 1, &a->g);
        break;
    case AXLE_ATTR_FLOATS:
        a->n = (int)ap->n_floats;
        a->floats = axle_xmalloc((ap->n_floats ? ap->n_floats : 1) *
                                 sizeof(float));
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case AXLE_ATTR_INTS:
        a->n = (int)ap->n_ints;
        a->ints = axle_xmalloc((ap->n_ints ? ap->n_ints : 1) *
                               sizeof(int64_t));
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    case AXLE_ATTR_STRINGS:
        a->n = (int)ap->n_strings;
        a->strings = axle_xcalloc(ap->n_strings ? ap->n_strings : 1,
                                  sizeof(char *));
        for (size_t i = 0; i < ap->n_strings; i++)
            a->strings[i] = dup_bytes(&ap->strings[i]);
        break;
    case AXLE_ATTR_TENSORS:
        a->n = (int)ap->n_tensors;
        a->tensors = axle_xcalloc(ap->n_tensors ? ap->n_tensors : 1,
                                  sizeof(*a->tensors));
        for (size_t i = 0; i < ap->n_tensors && st == AXLE_OK; i++)
            st = axle_onnx_tensor_convert(ap->tensors[i], c->dirfd,
                                          &a->tensors[i], c->err);
        break;
    case AXLE_ATTR_GRAPHS:
        a->n = (int)ap->n_graphs;
        a->graphs = axle_xcalloc(ap->n_graphs ? ap->n_graphs : 1,
                                 sizeof(*a->graphs));
        for (size_t i = 0; i < ap->n_graphs && st == AXLE_OK; i++)
            st = convert_graph(c, ap->graphs[i], depth + 1, &a->graphs[i]);
        break;
    case AXLE_ATTR_TYPE_PROTO:
        if (ap->tp == NULL || !type_supported(ap->tp))
            return axle_err_set(c->err, AXLE_UNIMPLEMENTED,
                                "attribute '%.60s': unsupported type",
                                ap->name);
        a->t = axle_xcalloc(1, sizeof(*a->t));
        type_to_info(NULL, ap->tp, a->t);
        a->t->rank = -1; /* symbolic dims have no graph here */
        break;
    default:
        return axle_err_set(c->err, AXLE_UNIMPLEMENTED,
                            "attribute '%.60s': unsupported attribute type %d",
                            ap->name, type);
    }
    a->type = (enum axle_attr_type)type;
    return st;
}

static int lookup_value(struct axle_graph *g, struct axle_strmap *names,
                        const char *name)
{
    int id = axle_strmap_get(names, name);
    if (id < 0) {
        id = axle_graph_value(g, name);
        axle_strmap_put(names, g->values[id].name, id);
    }
    return id;
}

/* A subgraph reads values of its enclosing scopes by name (ONNX IR: "a
 * graph may refer to names defined in an outer scope"). The names it uses
 * but does not define become extra inputs at the end of its input list
 * (g->n_outer of them); the node that owns it then lists the same names
 * as its last inputs (bind_outer), which makes the dependency ordinary
 * dataflow for sorting, folding, dead-node removal and memory planning.
 * A name free in a nested subgraph is free in its parent unless the
 * parent defines it, so it bubbles up to the scope that does. */
static void capture_outer(struct axle_graph *g)
{
    bool *def = axle_xcalloc((size_t)g->n_values + 1, sizeof(bool));
    bool *used = axle_xcalloc((size_t)g->n_values + 1, sizeof(bool));

    for (int v = 0; v < g->n_values; v++)
        def[v] = g->values[v].is_input || g->values[v].const_value != NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct axle_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_outputs; j++)
            if (n->outputs[j] >= 0)
                def[n->outputs[j]] = true;
        for (int j = 0; j < n->n_inputs; j++)
            if (n->inputs[j] >= 0)
                used[n->inputs[j]] = true;
    }
    for (int i = 0; i < g->n_outputs; i++)
        used[g->outputs[i]] = true;
    for (int v = 0; v < g->n_values; v++) {
        if (!used[v] || def[v])
            continue;
        g->inputs = axle_xrealloc(g->inputs, ((size_t)g->n_inputs + 1) *
                                                 sizeof(int));
        g->inputs[g->n_inputs++] = v;
        g->values[v].is_input = true;
        g->n_outer++;
    }
    axle_free(def);
    axle_free(used);
}

static void bind_one(struct axle_graph *g, struct axle_strmap *names,
                     struct axle_node *n, const struct axle_graph *sub)
{
    for (int i = sub->n_inputs - sub->n_outer; i < sub->n_inputs; i++) {
        int id = lookup_value(g, names, sub->values[sub->inputs[i]].name);
        bool have = false;
        for (int j = n->n_inputs - n->n_outer_inputs; j < n->n_inputs; j++)
            have = have || n->inputs[j] == id;
        if (have)
            continue;
        n->inputs = axle_xrealloc(n->inputs, ((size_t)n->n_inputs + 1) *
                                                 sizeof(int));
        n->inputs[n->n_inputs++] = id;
        n->n_outer_inputs++;
    }
}

static void bind_outer(struct axle_graph *g, struct axle_strmap *names,
                       struct axle_node *n)
{
    for (int a = 0; a < n->n_attrs; a++) {
        const struct axle_attr *at = &n->attrs[a];
        if (at->type == AXLE_ATTR_GRAPH && at->g != NULL)
            bind_one(g, names, n, at->g);
        for (int k = 0; at->type == AXLE_ATTR_GRAPHS && k < at->n; k++)
            if (at->graphs[k] != NULL)
                bind_one(g, names, n, at->graphs[k]);
    }
}

static enum axle_status convert_graph(struct ctx *c,
                                      const AxleOnnx__GraphProto *gp,
                                      int depth, struct axle_graph **out)
{
    struct axle_graph *g;
    struct axle_strmap names;
    enum axle_status st = AXLE_OK;
    int *ids = NULL;
    size_t max_io = 0;

    *out = NULL;
    if (depth > AXLE_ONNX_MAX_SUBGRAPH_DEPTH)
        return axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                            "invalid graph: subgraphs nested deeper than %d",
                            AXLE_ONNX_MAX_SUBGRAPH_DEPTH);
    if (gp->n_node > AXLE_ONNX_MAX_NODES)
        return axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                            "invalid graph: %zu nodes exceed the limit of %d",
                            gp->n_node, AXLE_ONNX_MAX_NODES);
    if (gp->n_initializer > AXLE_ONNX_MAX_INITIALIZERS)
        return axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                            "invalid graph: too many initializers");
    if (gp->n_sparse_initializer > 0)
        return axle_err_set(c->err, AXLE_UNIMPLEMENTED,
                            "sparse initializers are not supported");

    g = axle_graph_new();
    axle_free(g->name);
    g->name = axle_xstrdup(gp->name ? gp->name : "");
    g->opset = c->opset;
    g->opset_ml = c->opset_ml;
    axle_strmap_init(&names);

    for (size_t i = 0; i < gp->n_initializer; i++) {
        AxleOnnx__TensorProto *tp = gp->initializer[i];
        int id;
        if (tp->name == NULL || tp->name[0] == '\0') {
            st = axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                              "invalid graph: initializer without a name");
            goto fail;
        }
        id = lookup_value(g, &names, tp->name);
        if (g->values[id].const_value != NULL) {
            st = axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                              "invalid graph: duplicate initializer '%.80s'",
                              tp->name);
            goto fail;
        }
        st = axle_onnx_tensor_convert(tp, c->dirfd, &g->values[id].const_value,
                                      c->err);
        if (st != AXLE_OK)
            goto fail;
        g->values[id].info = *g->values[id].const_value;
        g->values[id].info.data = NULL;
        g->values[id].info.owns_data = 0;
    }

    g->inputs = axle_xmalloc((gp->n_input ? gp->n_input : 1) * sizeof(int));
    for (size_t i = 0; i < gp->n_input; i++) {
        const AxleOnnx__ValueInfoProto *vi = gp->input[i];
        int id;
        if (vi->name == NULL || vi->name[0] == '\0') {
            st = axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                              "invalid graph: input without a name");
            goto fail;
        }
        id = lookup_value(g, &names, vi->name);
        if (g->values[id].const_value != NULL)
            continue; /* IR < 4 lists initializers among the inputs */
        if (g->values[id].is_input) {
            st = axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                              "invalid graph: duplicate input '%.80s'",
                              vi->name);
            goto fail;
        }
        if (vi->type != NULL &&
            vi->type->value_case == AXLE_ONNX__TYPE_PROTO__VALUE_MAP_TYPE) {
            /* what ai.onnx.ml CastMap and DictVectorizer take */
            st = axle_err_set(c->err, AXLE_UNIMPLEMENTED,
                              "input '%.80s': map inputs are not supported "
                              "(axle values are tensors, sequences and optionals)",
                              vi->name);
            goto fail;
        }
        if (!type_supported(vi->type)) {
            st = axle_err_set(c->err, AXLE_UNIMPLEMENTED,
                              "input '%.80s': only tensor, sequence and "
                              "optional inputs are supported", vi->name);
            goto fail;
        }
        type_to_info(g, vi->type, &g->values[id].info);
        g->values[id].is_input = true;
        g->inputs[g->n_inputs++] = id;
    }

    for (size_t i = 0; i < gp->n_value_info; i++) {
        const AxleOnnx__ValueInfoProto *vi = gp->value_info[i];
        int id;
        if (vi->name == NULL)
            continue;
        id = axle_strmap_get(&names, vi->name);
        (void)id; /* intermediate annotations are recomputed by inference */
    }

    for (size_t i = 0; i < gp->n_node; i++) {
        const AxleOnnx__NodeProto *np = gp->node[i];
        const char *dom = np->domain ? np->domain : "";
        struct axle_node *n;
        int ni;

        if (np->op_type == NULL || np->op_type[0] == '\0') {
            st = axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                              "invalid graph: node %zu has no op_type", i);
            goto fail;
        }
        if (np->n_input > max_io || np->n_output > max_io) {
            max_io = np->n_input > np->n_output ? np->n_input : np->n_output;
            ids = axle_xrealloc(ids, max_io * sizeof(int));
        }
        ni = axle_graph_add_node(g, np->op_type, dom, np->name);
        n = &g->nodes[ni];
        n->inputs = axle_xmalloc((np->n_input ? np->n_input : 1) * sizeof(int));
        n->n_inputs = (int)np->n_input;
        for (size_t j = 0; j < np->n_input; j++)
            n->inputs[j] = np->input[j][0] == '\0'
                               ? -1 : lookup_value(g, &names, np->input[j]);
        n->outputs = axle_xmalloc((np->n_output ? np->n_output : 1) *
                                  sizeof(int));
        n->n_outputs = (int)np->n_output;
        for (size_t j = 0; j < np->n_output; j++)
            n->outputs[j] = np->output[j][0] == '\0'
                                ? -1 : lookup_value(g, &names, np->output[j]);
        for (size_t j = 0; j < np->n_attribute && st == AXLE_OK; j++)
            st = convert_attr(c, np->attribute[j], &g->nodes[ni], depth);
        if (st == AXLE_OK)
            bind_outer(g, &names, &g->nodes[ni]);
        if (st != AXLE_OK) {
            axle_err_prefix(c->err, "node '%.60s' (%.40s): ",
                            np->name ? np->name : "", np->op_type);
            goto fail;
        }
    }

    g->outputs = axle_xmalloc((gp->n_output ? gp->n_output : 1) * sizeof(int));
    for (size_t i = 0; i < gp->n_output; i++) {
        const AxleOnnx__ValueInfoProto *vi = gp->output[i];
        int id;
        if (vi->name == NULL || vi->name[0] == '\0') {
            st = axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                              "invalid graph: output without a name");
            goto fail;
        }
        id = lookup_value(g, &names, vi->name);
        if (g->values[id].is_output) {
            st = axle_err_set(c->err, AXLE_INVALID_ARGUMENT,
                              "invalid graph: duplicate output '%.80s'",
                              vi->name);
            goto fail;
        }
        g->values[id].is_output = true;
        if (g->values[id].const_value == NULL && !g->values[id].is_input)
            type_to_info(g, vi->type, &g->values[id].info);
        g->outputs[g->n_outputs++] = id;
    }

    if (depth > 0)
        capture_outer(g);
    axle_free(ids);
    axle_strmap_dispose(&names);
    *out = g;
    return AXLE_OK;
fail:
    axle_free(ids);
    axle_strmap_dispose(&names);
    axle_graph_free(g);
    return st;
}

/* Resolve every node to an implemented operator (D28), subgraphs too. */
static enum axle_status resolve_ops(struct axle_graph *g, struct axle_err *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        struct axle_node *n = &g->nodes[i];
        const char *dom = n->domain;
        int opset, n_in = n->n_inputs - n->n_outer_inputs;
        for (int a = 0; a < n->n_attrs; a++) {
            const struct axle_attr *at = &n->attrs[a];
            enum axle_status st = AXLE_OK;
            if (at->type == AXLE_ATTR_GRAPH && at->g != NULL)
                st = resolve_ops(at->g, err);
            for (int k = 0; at->type == AXLE_ATTR_GRAPHS && k < at->n &&
                            st == AXLE_OK; k++)
                st = resolve_ops(at->graphs[k], err);
            if (st != AXLE_OK)
                return st;
        }
        if (strcmp(dom, "") != 0 && strcmp(dom, "ai.onnx") != 0 &&
            strcmp(dom, "ai.onnx.ml") != 0)
            return axle_err_set(err, AXLE_UNIMPLEMENTED,
                                "unsupported operator '%.60s' (domain "
                                "'%.60s') at node '%.60s': custom domains "
                                "are not supported",
                                n->op_type, dom, n->name);
        opset = strcmp(dom, "ai.onnx.ml") == 0 ? g->opset_ml : g->opset;
        n->op = axle_op_find(dom, n->op_type);
        if (n->op == NULL)
            return axle_err_set(err, AXLE_UNIMPLEMENTED,
                                "unsupported operator '%.60s' (domain "
                                "'%.60s', opset %d) at node '%.60s'",
                                n->op_type, dom[0] ? dom : "ai.onnx", opset,
                                n->name);
        if (n_in < n->op->min_inputs ||
            (n->op->max_inputs >= 0 && n_in > n->op->max_inputs) ||
            n->n_outputs < n->op->min_outputs ||
            (n->op->max_outputs >= 0 && n->n_outputs > n->op->max_outputs))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid graph: node '%.60s' (%.40s) has %d "
                                "inputs and %d outputs",
                                n->name, n->op_type, n_in,
                                n->n_outputs);
        /* Only control-flow operators run their graph attributes; on any
         * other node outer-scope captures would read as extra inputs. */
        if (n->n_outer_inputs > 0 && !n->op->places_outputs)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid graph: node '%.60s' (%.40s) has a "
                                "graph attribute", n->name, n->op_type);
        /* Inputs below min_inputs are required (ONNX lists optional
         * inputs last); the first output must be named. */
        for (int j = 0; j < n->op->min_inputs; j++)
            if (n->inputs[j] < 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "invalid graph: node '%.60s' (%.40s) "
                                    "leaves required input %d empty",
                                    n->name, n->op_type, j);
        if (n->op->min_outputs > 0 && n->outputs[0] < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid graph: node '%.60s' (%.40s) leaves "
                                "its first output empty",
                                n->name, n->op_type);
    }
    return AXLE_OK;
}

void axle_ir_model_free(struct axle_ir_model *m)
{
    if (m == NULL)
        return;
    axle_graph_free(m->graph);
    axle_free(m->format);
    axle_free(m->producer_name);
    axle_free(m->producer_version);
    for (int i = 0; i < m->n_opsets; i++)
        axle_free(m->opsets[i].domain);
    axle_free(m->opsets);
    for (int i = 0; i < m->n_meta; i++) {
        axle_free(m->meta_keys[i]);
        axle_free(m->meta_values[i]);
    }
    axle_free(m->meta_keys);
    axle_free(m->meta_values);
    axle_free(m);
}

enum axle_status axle_onnx_import(const uint8_t *buf, size_t len,
                                  const struct axle_onnx_opts *opts,
                                  struct axle_ir_model **out,
                                  struct axle_err *err)
{
    struct axle_pbscan_limits lim = {.max_depth = 64};
    AxleOnnx__ModelProto *mp = NULL;
    struct axle_ir_model *m = NULL;
    struct ctx c = {.dirfd = -1, .err = err};
    enum axle_status st;

    *out = NULL;
    lim.max_bytes = opts && opts->max_model_bytes ? opts->max_model_bytes
                                                  : DEFAULT_MAX_MODEL_BYTES;
    if (opts)
        c.dirfd = opts->base_dirfd;
    if (len == 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "malformed protobuf: empty file");
    st = axle_pbscan(&axle_onnx__model_proto__descriptor, buf, len, &lim, err);
    if (st != AXLE_OK)
        return st;
    mp = axle_onnx__model_proto__unpack(NULL, len, buf);
    if (mp == NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "malformed protobuf: not an ONNX model");
    if (mp->graph == NULL) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "malformed protobuf: not an ONNX model (no graph)");
        goto out;
    }

    m = axle_xcalloc(1, sizeof(*m));
    m->format = axle_xstrdup("onnx");
    m->producer_name = axle_xstrdup(mp->producer_name ? mp->producer_name : "");
    m->producer_version =
        axle_xstrdup(mp->producer_version ? mp->producer_version : "");
    m->ir_version = mp->ir_version;
    m->model_version = mp->model_version;
    m->opsets = axle_xcalloc(mp->n_opset_import ? mp->n_opset_import : 1,
                             sizeof(*m->opsets));
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const AxleOnnx__OperatorSetIdProto *o = mp->opset_import[i];
        const char *d = o->domain ? o->domain : "";
        m->opsets[m->n_opsets].domain = axle_xstrdup(d);
        m->opsets[m->n_opsets].version = o->version;
        m->n_opsets++;
        if (strcmp(d, "") == 0 || strcmp(d, "ai.onnx") == 0)
            c.opset = (int)(o->version > 1000 ? 1000 : o->version);
        else if (strcmp(d, "ai.onnx.ml") == 0)
            c.opset_ml = (int)(o->version > 1000 ? 1000 : o->version);
    }
    if (mp->n_opset_import == 0)
        c.opset = 1; /* IR spec: absent opset_import means version 1 */
    m->meta_keys = axle_xcalloc(mp->n_metadata_props + 1, sizeof(char *));
    m->meta_values = axle_xcalloc(mp->n_metadata_props + 1, sizeof(char *));
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const AxleOnnx__StringStringEntryProto *e = mp->metadata_props[i];
        m->meta_keys[m->n_meta] = axle_xstrdup(e->key ? e->key : "");
        m->meta_values[m->n_meta] = axle_xstrdup(e->value ? e->value : "");
        m->n_meta++;
    }

    st = convert_graph(&c, mp->graph, 0, &m->graph);
    if (st != AXLE_OK)
        goto out;
    st = resolve_ops(m->graph, err);
    if (st != AXLE_OK)
        goto out;
    /* A model may import only ai.onnx.ml (an ONNX-ML-only pipeline); then
     * no node may be in the default domain. */
    for (int i = 0; c.opset == 0 && i < m->graph->n_nodes; i++) {
        if (m->graph->nodes[i].domain[0] == '\0') {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "invalid model: node '%.80s' (%.40s) is in the "
                              "default domain, which the model does not "
                              "import", m->graph->nodes[i].name,
                              m->graph->nodes[i].op_type);
            goto out;
        }
    }
    if (c.opset != 0 &&
        (c.opset < AXLE_ONNX_OPSET_MIN || c.opset > AXLE_ONNX_OPSET_MAX)) {
        st = axle_err_set(err, AXLE_UNIMPLEMENTED,
                          "unsupported opset: default domain version %d "
                          "(supported %d to %d)",
                          c.opset, AXLE_ONNX_OPSET_MIN, AXLE_ONNX_OPSET_MAX);
        goto out;
    }
    st = axle_graph_toposort(m->graph, err);
    if (st != AXLE_OK)
        goto out;
    for (int i = 0; i < m->graph->n_outputs; i++) {
        struct axle_value *v = &m->graph->values[m->graph->outputs[i]];
        if (v->producer < 0 && !v->is_input && v->const_value == NULL) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "invalid graph: output '%.80s' is never "
                              "computed", v->name);
            goto out;
        }
    }
out:
    axle_onnx__model_proto__free_unpacked(mp, NULL);
    if (st != AXLE_OK) {
        axle_ir_model_free(m);
        return st;
    }
    *out = m;
    return AXLE_OK;
}
