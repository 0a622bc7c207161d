/*
 * graph.h - the intermediate representation: values (named edges), nodes,
 * attributes and graphs. Importers build it; the engine's passes rewrite it;
 * sessions execute it.
 *
 * Ownership: a graph owns its values, nodes, attributes and constant tensors.
 * Values and nodes are addressed by index; an input index of -1 means an
 * omitted optional input.
 */
#ifndef AXLE_IR_GRAPH_H
#define AXLE_IR_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "axle/status.h"
#include "axle/tensor.h"

struct axle_op;

enum axle_attr_type {
    AXLE_ATTR_UNDEFINED = 0,
    AXLE_ATTR_FLOAT = 1,
    AXLE_ATTR_INT = 2,
    AXLE_ATTR_STRING = 3,
    AXLE_ATTR_TENSOR = 4,
    AXLE_ATTR_GRAPH = 5,
    AXLE_ATTR_FLOATS = 6,
    AXLE_ATTR_INTS = 7,
    AXLE_ATTR_STRINGS = 8,
    AXLE_ATTR_TENSORS = 9,
    AXLE_ATTR_GRAPHS = 10,
    AXLE_ATTR_TYPE_PROTO = 13, /* t: a data-less record (kind, dtype) */
    /* Not from any file format: an object an importer built in memory
     * (a compiled tree ensemble), freed with the graph by opaque_free. */
    AXLE_ATTR_OPAQUE = 100,
};

struct axle_attr {
    char *name;
    enum axle_attr_type type;
    float f;
    int64_t i;
    char *s; /* NUL-terminated; s_len excludes the NUL */
    size_t s_len;
    struct axle_tensor *t;
    struct axle_graph *g;
    int n; /* element count of the list kinds below */
    float *floats;
    int64_t *ints;
    char **strings;
    struct axle_tensor **tensors;
    struct axle_graph **graphs;
    void *opaque;
    void (*opaque_free)(void *opaque);
};

struct axle_value {
    char *name;
    struct axle_tensor info;        /* dtype/rank/dims; data always NULL */
    struct axle_tensor *const_value; /* initializer or folded constant, owned */
    int producer;                    /* node index, -1 for inputs/constants */
    int n_consumers;
    bool is_input, is_output;
};

struct axle_node {
    char *name;
    char *op_type;
    char *domain; /* "" for the default ONNX domain */
    const struct axle_op *op; /* resolved at load */
    int n_inputs;
    int *inputs;
    int n_outputs;
    int *outputs;
    int n_attrs;
    struct axle_attr *attrs;
    bool dead;
    /* The last n_outer_inputs inputs are not the operator's own: they are
     * the outer-scope values its subgraph attributes read (see
     * axle_graph.n_outer), bound by name at import. */
    int n_outer_inputs;
    /* Fused epilogue set by engine passes (see engine/fuse.c). */
    int fused_act;          /* enum axle_act, 0 = none */
    float fused_alpha, fused_beta;
};

struct axle_graph {
    char *name;
    int n_values, cap_values;
    struct axle_value *values;
    int n_nodes, cap_nodes;
    struct axle_node *nodes;
    int n_inputs;
    int *inputs; /* value ids of graph inputs that are not initializers */
    /* Subgraphs: the last n_outer inputs are the enclosing scopes' values
     * the subgraph reads by name; the owning node lists the same names as
     * its last inputs, so dataflow passes see the dependency. */
    int n_outer;
    int n_outputs;
    int *outputs;
    int n_syms;
    char **syms; /* names of symbolic dims; dim d <= -2 is syms[-2 - d] */
    int opset;    /* default-domain opset */
    int opset_ml; /* ai.onnx.ml opset, 0 when absent */
};

struct axle_graph *axle_graph_new(void);
void axle_graph_free(struct axle_graph *g);
/* Deep copy (values, constants, nodes, attributes and their subgraphs;
 * nodes' resolved ops are kept). Returns NULL when out of memory. */
struct axle_graph *axle_graph_clone(const struct axle_graph *g);

/* Find or create the value named `name` (names are unique per graph). */
int axle_graph_value(struct axle_graph *g, const char *name);
int axle_graph_find_value(const struct axle_graph *g, const char *name);
/* A fresh value with a unique name derived from hint. */
int axle_graph_new_value(struct axle_graph *g, const char *hint);
/* Find or add a symbolic dim name; returns the encoded dim (<= -2). */
int64_t axle_graph_sym(struct axle_graph *g, const char *name);

/* Append a node; takes nothing: strings are copied. Returns node index. */
int axle_graph_add_node(struct axle_graph *g, const char *op_type,
                        const char *domain, const char *name);
void axle_node_set_io(struct axle_node *n, int n_in, const int *in, int n_out,
                      const int *out);
/* Append an attribute; returns it zeroed with name set. */
struct axle_attr *axle_node_add_attr(struct axle_node *n, const char *name);
void axle_attr_dispose(struct axle_attr *a);

/* Attribute lookup (NULL / default when absent). */
const struct axle_attr *axle_node_attr(const struct axle_node *n,
                                       const char *name);
int64_t axle_node_attr_int(const struct axle_node *n, const char *name,
                           int64_t def);
float axle_node_attr_float(const struct axle_node *n, const char *name,
                           float def);
const char *axle_node_attr_str(const struct axle_node *n, const char *name,
                               const char *def);
/* List attributes: returns the array and writes the count (0/NULL absent). */
const int64_t *axle_node_attr_ints(const struct axle_node *n, const char *name,
                                   int *count);
const float *axle_node_attr_floats(const struct axle_node *n, const char *name,
                                   int *count);

/* Topologically sort live nodes in place; AXLE_INVALID_ARGUMENT on a cycle
 * or a node input that no node, input or constant defines. */
enum axle_status axle_graph_toposort(struct axle_graph *g,
                                     struct axle_err *err);
/* Recount producers/consumers after a pass changed the graph. */
void axle_graph_relink(struct axle_graph *g);

#endif
