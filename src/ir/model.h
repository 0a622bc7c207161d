/*
 * model.h - an imported model: its graph plus what the file said about
 * itself (format, producer, opsets, metadata). Importers return one; the
 * engine takes ownership.
 */
#ifndef AXLE_IR_MODEL_H
#define AXLE_IR_MODEL_H

#include <stdint.h>

#include "ir/graph.h"

struct axle_opset {
    char *domain;
    int64_t version;
};

struct axle_ir_model {
    struct axle_graph *graph;
    char *format; /* "onnx", ... */
    char *producer_name;
    char *producer_version;
    int64_t ir_version;
    int64_t model_version;
    int n_opsets;
    struct axle_opset *opsets;
    int n_meta;
    char **meta_keys;
    char **meta_values;
};

void axle_ir_model_free(struct axle_ir_model *m);

#endif
