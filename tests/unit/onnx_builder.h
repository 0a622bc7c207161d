/*
 * onnx_builder.h - builds small ONNX models in C for unit tests, through the
 * same generated protobuf-c code the importer uses, so tests need no Python.
 *
 *   struct ob m; ob_init(&m, 13);
 *   ob_input(&m, "x", AXLE_DTYPE_FLOAT32, 2, (int64_t[]){-1, 4}, "N");
 *   ob_init_f32(&m, "w", 2, (int64_t[]){4, 3}, wdata);
 *   ob_node(&m, "MatMul", "mm", 2, (const char*[]){"x","w"}, 1, (const char*[]){"y"});
 *   ob_output(&m, "y");
 *   size_t len; uint8_t *bytes = ob_pack(&m, &len);   (free() it)
 * ob_node returns the node, for ob_attr_int / ob_attr_ints.
 *
 * Header-only and test-only: everything is static and leaks nothing once
 * ob_pack has run (it frees the builder).
 */
#ifndef AXLE_TESTS_ONNX_BUILDER_H
#define AXLE_TESTS_ONNX_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "axle/tensor.h"
#include "onnx.pb-c.h"

#define OB_MAX 64

struct ob {
    AxleOnnx__ModelProto model;
    AxleOnnx__GraphProto graph;
    AxleOnnx__OperatorSetIdProto opset;
    AxleOnnx__OperatorSetIdProto *opsets[1];
    AxleOnnx__NodeProto *nodes[OB_MAX];
    AxleOnnx__ValueInfoProto *inputs[OB_MAX], *outputs[OB_MAX];
    AxleOnnx__TensorProto *inits[OB_MAX];
    void *owned[OB_MAX * 16];
    int n_owned;
};

static void *ob_own(struct ob *m, size_t n)
{
    void *p = calloc(1, n ? n : 1);
    m->owned[m->n_owned++] = p;
    return p;
}

static char *ob_str(struct ob *m, const char *s)
{
    char *d = ob_own(m, strlen(s) + 1);
    memcpy(d, s, strlen(s));
    return d;
}

static void ob_init(struct ob *m, int opset)
{
    memset(m, 0, sizeof(*m));
    axle_onnx__model_proto__init(&m->model);
    axle_onnx__graph_proto__init(&m->graph);
    axle_onnx__operator_set_id_proto__init(&m->opset);
    m->opset.domain = "";
    m->opset.has_version = 1;
    m->opset.version = opset;
    m->opsets[0] = &m->opset;
    m->model.has_ir_version = 1;
    m->model.ir_version = 8;
    m->model.n_opset_import = 1;
    m->model.opset_import = m->opsets;
    m->model.producer_name = "axle-tests";
    m->model.graph = &m->graph;
    m->graph.name = "g";
    m->graph.node = m->nodes;
    m->graph.input = m->inputs;
    m->graph.output = m->outputs;
    m->graph.initializer = m->inits;
}

static AxleOnnx__ValueInfoProto *ob_vi(struct ob *m, const char *name, int dt,
                                       int rank, const int64_t *dims,
                                       const char *sym)
{
    AxleOnnx__ValueInfoProto *vi = ob_own(m, sizeof(*vi));
    AxleOnnx__TypeProto *tp = ob_own(m, sizeof(*tp));
    AxleOnnx__TypeProto__Tensor *tt = ob_own(m, sizeof(*tt));
    AxleOnnx__TensorShapeProto *sh = ob_own(m, sizeof(*sh));
    AxleOnnx__TensorShapeProto__Dimension **ds =
        ob_own(m, sizeof(*ds) * (size_t)(rank + 1));

    axle_onnx__value_info_proto__init(vi);
    axle_onnx__type_proto__init(tp);
    axle_onnx__type_proto__tensor__init(tt);
    axle_onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < rank; i++) {
        ds[i] = ob_own(m, sizeof(**ds));
        axle_onnx__tensor_shape_proto__dimension__init(ds[i]);
        if (dims[i] >= 0) {
            ds[i]->value_case =
                AXLE_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            ds[i]->dim_value = dims[i];
        } else if (sym != NULL) {
            ds[i]->value_case =
                AXLE_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            ds[i]->dim_param = ob_str(m, sym);
        }
    }
    sh->n_dim = (size_t)rank;
    sh->dim = ds;
    tt->has_elem_type = 1;
    tt->elem_type = dt;
    tt->shape = sh;
    tp->value_case = AXLE_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = ob_str(m, name);
    vi->type = tp;
    return vi;
}

static void ob_input(struct ob *m, const char *name, int dt, int rank,
                     const int64_t *dims, const char *sym)
{
    m->inputs[m->graph.n_input++] = ob_vi(m, name, dt, rank, dims, sym);
}

static void ob_output(struct ob *m, const char *name)
{
    AxleOnnx__ValueInfoProto *vi = ob_own(m, sizeof(*vi));
    axle_onnx__value_info_proto__init(vi);
    vi->name = ob_str(m, name);
    m->outputs[m->graph.n_output++] = vi;
}

/* Initializer from raw bytes (raw_len may differ from the shape on purpose
 * in negative tests). */
static AxleOnnx__TensorProto *ob_init_raw(struct ob *m, const char *name,
                                          int dt, int rank,
                                          const int64_t *dims,
                                          const void *raw, size_t raw_len)
{
    AxleOnnx__TensorProto *t = ob_own(m, sizeof(*t));
    int64_t *d = ob_own(m, sizeof(int64_t) * (size_t)(rank + 1));
    void *bytes = ob_own(m, raw_len);

    axle_onnx__tensor_proto__init(t);
    if (rank > 0)
        memcpy(d, dims, sizeof(int64_t) * (size_t)rank);
    if (raw_len)
        memcpy(bytes, raw, raw_len);
    t->name = ob_str(m, name);
    t->n_dims = (size_t)rank;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = dt;
    t->has_raw_data = 1;
    t->raw_data.data = bytes;
    t->raw_data.len = raw_len;
    m->inits[m->graph.n_initializer++] = t;
    return t;
}

static void ob_init_f32(struct ob *m, const char *name, int rank,
                        const int64_t *dims, const float *v)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    ob_init_raw(m, name, AXLE_DTYPE_FLOAT32, rank, dims, v, n * sizeof(float));
}

static AxleOnnx__NodeProto *ob_node(struct ob *m, const char *op,
                                    const char *name, int n_in,
                                    const char *const *in, int n_out,
                                    const char *const *out)
{
    AxleOnnx__NodeProto *n = ob_own(m, sizeof(*n));
    char **ins = ob_own(m, sizeof(char *) * (size_t)(n_in + 1));
    char **outs = ob_own(m, sizeof(char *) * (size_t)(n_out + 1));

    axle_onnx__node_proto__init(n);
    for (int i = 0; i < n_in; i++)
        ins[i] = ob_str(m, in[i]);
    for (int i = 0; i < n_out; i++)
        outs[i] = ob_str(m, out[i]);
    n->op_type = ob_str(m, op);
    n->name = ob_str(m, name);
    n->n_input = (size_t)n_in;
    n->input = ins;
    n->n_output = (size_t)n_out;
    n->output = outs;
    m->nodes[m->graph.n_node++] = n;
    return n;
}

/* Attributes of a node made by ob_node (at most OB_MAX_ATTRS each). */
#define OB_MAX_ATTRS 8

static inline AxleOnnx__AttributeProto *ob_attr(struct ob *m,
                                                AxleOnnx__NodeProto *n,
                                                const char *name)
{
    AxleOnnx__AttributeProto *a = ob_own(m, sizeof(*a));

    if (n->attribute == NULL)
        n->attribute = ob_own(m, sizeof(*n->attribute) * OB_MAX_ATTRS);
    axle_onnx__attribute_proto__init(a);
    a->name = ob_str(m, name);
    n->attribute[n->n_attribute++] = a;
    return a;
}

static inline void ob_attr_int(struct ob *m, AxleOnnx__NodeProto *n,
                               const char *name, int64_t v)
{
    AxleOnnx__AttributeProto *a = ob_attr(m, n, name);

    a->has_type = 1;
    a->type = AXLE_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static inline void ob_attr_ints(struct ob *m, AxleOnnx__NodeProto *n,
                                const char *name, int cnt, const int64_t *v)
{
    AxleOnnx__AttributeProto *a = ob_attr(m, n, name);
    int64_t *d = ob_own(m, sizeof(int64_t) * (size_t)(cnt + 1));

    memcpy(d, v, sizeof(int64_t) * (size_t)cnt);
    a->has_type = 1;
    a->type = AXLE_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = (size_t)cnt;
    a->ints = d;
}

static uint8_t *ob_pack(struct ob *m, size_t *len)
{
    size_t n = axle_onnx__model_proto__get_packed_size(&m->model);
    uint8_t *buf = malloc(n ? n : 1);
    axle_onnx__model_proto__pack(&m->model, buf);
    *len = n;
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    m->n_owned = 0;
    return buf;
}

#endif
