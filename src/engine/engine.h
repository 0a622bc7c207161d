/*
 * engine.h - internal structures of the engine: loaded models (graph after
 * the load-time passes), memory plans and sessions.
 *
 * Life of a model: bytes -> importer -> IR graph -> passes (shape inference,
 * constant folding, dead-node removal, fusions) -> struct axle_model.
 * Life of a run: bind inputs -> for each node in topological order: infer
 * the concrete output shapes, place outputs in the planned arena, call the
 * kernel -> hand back output views.
 */
#ifndef AXLE_ENGINE_ENGINE_H
#define AXLE_ENGINE_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "axle/axle.h"
#include "ir/model.h"
#include "ir/op.h"

struct axle_pool;

struct axle_model {
    atomic_int refcount;
    struct axle_ir_model *ir;
    int n_inputs, n_outputs;
    struct axle_io_info *inputs, *outputs;
    void **states; /* per node, from op->prepare; read-only once made */
};

/* Load-time passes (passes.c). */
enum axle_status axle_engine_infer_shapes(struct axle_graph *g,
                                          struct axle_err *err);
enum axle_status axle_engine_fold_constants(struct axle_graph *g,
                                            struct axle_err *err);
void axle_engine_remove_dead(struct axle_graph *g);
/* Fusions (fuse.c): Conv+BatchNormalization folding, bias and activation
 * epilogues into Conv/Gemm/MatMul. */
enum axle_status axle_engine_fuse(struct axle_graph *g, struct axle_err *err);
enum axle_status axle_engine_optimize(struct axle_graph *g,
                                      struct axle_err *err);

/* Run one node's infer with the given input descriptions; used by the
 * passes (symbolic) and the executor (concrete). */
enum axle_status axle_engine_node_infer(struct axle_graph *g,
                                        const struct axle_node *n,
                                        const struct axle_tensor *const *in,
                                        struct axle_tensor *const *out,
                                        struct axle_err *err);

/* Memory plan (planner.c): offsets of node outputs in one arena, chosen so
 * that values whose lifetimes overlap never share bytes. */
struct axle_plan {
    int n_values;
    int64_t *size;   /* planned bytes per value (0: not in the arena) */
    int64_t *offset; /* byte offset in the arena */
    int *first, *last; /* lifetime in node steps */
    int64_t arena_bytes;
};

void axle_plan_lifetimes(const struct axle_graph *g, struct axle_plan *p);
void axle_plan_offsets(struct axle_plan *p);
void axle_plan_dispose(struct axle_plan *p);

struct axle_scratch {
    void *data;
    size_t cap;
};

/* A pool thread's working memory while it runs the depth-first prefix
 * (session.c) for one image at a time. */
struct axle_img_slot {
    void *arena;                 /* the prefix's own values, one image */
    size_t arena_bytes;
    struct axle_scratch scratch; /* kernel scratch */
    struct axle_tensor *views;   /* in, then out views for one node */
    const struct axle_tensor **in;
    struct axle_tensor **out;
    struct axle_err err;
    enum axle_status st;
    _Atomic int64_t next; /* images [next, end) it owns */
    int64_t end;
};

struct axle_session {
    struct axle_model *model;
    struct axle_graph *g; /* borrowed from the model */
    struct axle_pool *pool;
    struct axle_tensor *vals; /* runtime tensor per graph value */
    struct axle_plan plan;
    void *arena;
    int64_t *needed;  /* bytes each value needed in the last runs */
    bool replan;      /* a value outgrew its slot: replan before next run */
    void **overflow;  /* per value: heap buffer used after outgrowing */
    struct axle_scratch scratch;
    const struct axle_tensor **in_buf;
    struct axle_tensor **out_buf;
    int max_io;
    int64_t max_batch;
    /* Depth-first prefix (session.c): the first n_prefix nodes run image
     * by image, each pool thread taking whole images, when a batch has at
     * least two. img_local[v]: v lives only inside the prefix, so it is
     * kept per image in the slot arenas (planned by img_plan) instead of
     * the main arena. */
    int n_prefix;
    bool *img_local;
    struct axle_plan img_plan;
    int64_t *img_needed; /* bytes per image each img_local value needed */
    bool img_replan;
    int n_img_slots;
    struct axle_img_slot *img_slots;
    /* Control flow (control.c): per node, what its kernel keeps between
     * runs of this session (nested sessions, carried values). */
    void **run_states;
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
    bool pool_borrowed;   /* a nested session runs on its parent's pool */
    /* Loop iterations left to a run without a deadline: a top-level
     * session's own (reset by each run), shared by its nested sessions. */
    int64_t *iter_budget;
    int64_t iter_budget_own;
    /* axle_session_set_timing: per node, ns of the last run (NULL: off);
     * prefix nodes add from several threads. */
    _Atomic uint64_t *node_ns;
    bool timing;
};

/* Nested models for subgraph attributes (load.c): g is copied; hint[i]
 * (may be NULL) describes g's input i where g's own declaration is
 * unknown (outer values, Loop's carried values). The model is optimized
 * and prepared like a top-level one and is immutable afterwards. */
enum axle_status axle_engine_submodel_new(const struct axle_graph *g,
                                          const struct axle_tensor *const *hint,
                                          struct axle_model **out,
                                          struct axle_err *err);
/* A session for a nested model of parent's, on parent's pool and
 * iteration budget (borrowed); it plans its memory on its first run. */
enum axle_status axle_engine_subsession_new(struct axle_model *m,
                                            struct axle_session *parent,
                                            struct axle_session **out,
                                            struct axle_err *err);
/* AXLE_INVALID_ARGUMENT unless node n may read the inputs in[]: only
 * container-aware operators (and Identity) take sequences and optionals. */
enum axle_status axle_engine_check_kinds(const struct axle_node *n,
                                         const struct axle_tensor *const *in,
                                         struct axle_err *err);
/* True once the deadline (CLOCK_MONOTONIC ns, 0: none) has passed. */
bool axle_engine_deadline_passed(uint64_t deadline_ns);

#endif
