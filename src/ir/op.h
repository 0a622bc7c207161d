/*
 * op.h - the contract between the engine and an operator implementation.
 *
 * Each operator is one `const struct axle_op` object named in ops.def and
 * defined in a kernels/ file. The engine calls:
 *
 *   infer   - always. Fill out[i]->dtype/rank/dims from the inputs. At load
 *             time inputs may carry symbolic or unknown dims and data == NULL
 *             unless the value is a constant; at run time every input is a
 *             concrete tensor with data. Output data must not be touched.
 *   prepare - optional, once per model after load: build per-node state
 *             (packed weights, ...) from the constant inputs present then.
 *             The state is shared by every session and thread running the
 *             model: `run` must treat it as read-only.
 *   run     - compute. Outputs are allocated by the engine with the shapes
 *             infer gave; a kernel may not allocate on this path except via
 *             axle_kctx_scratch.
 *   release - frees what prepare made.
 *   run_state_free - optional: frees what `run` kept in *k->run_state
 *             (per session and node, e.g. a nested session of a control-
 *             flow operator); called when the session is freed.
 *
 * All functions return a status and describe failures in k->err (the engine
 * prefixes the node name and op).
 */
#ifndef AXLE_IR_OP_H
#define AXLE_IR_OP_H

#include <stdbool.h>
#include <stddef.h>

#include "axle/status.h"
#include "axle/tensor.h"
#include "ir/graph.h"

struct axle_pool;
struct axle_scratch;
struct axle_session;

struct axle_kctx {
    const struct axle_node *node;
    int opset; /* opset version of the node's domain */
    int n_inputs;
    const struct axle_tensor *const *in; /* in[i] == NULL: omitted optional */
    int n_outputs;
    struct axle_tensor *const *out; /* out[i] == NULL: output not wanted */
    void *state;                    /* from prepare, or NULL */
    struct axle_pool *pool;         /* intra-op threads (may be NULL) */
    struct axle_scratch *scratch;   /* see axle_kctx_scratch */
    struct axle_graph *graph;       /* for symbolic dim names (infer only) */
    struct axle_err *err;
    /* prepare only: set bit j when `run` will never read constant input j's
     * bytes (they live on in the state, e.g. as packed weights). The engine
     * then frees a constant that every consumer has absorbed. */
    unsigned absorbed;
    /* run only, NULL elsewhere (constant folding, prepare): the session
     * executing the node, a per-session per-node slot the kernel may fill
     * (freed by op->run_state_free) and the run's deadline. */
    struct axle_session *session;
    void **run_state;
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
};

struct axle_op {
    const char *name;
    const char *domain;
    int min_inputs, max_inputs;   /* max -1: variadic */
    int min_outputs, max_outputs;
    enum axle_status (*infer)(struct axle_kctx *k);
    enum axle_status (*run)(struct axle_kctx *k);
    enum axle_status (*prepare)(struct axle_kctx *k, void **state);
    void (*release)(void *state);
    /* Output 0 is input 0's bytes under a new shape (Reshape, Flatten,
     * Squeeze, Unsqueeze, Identity): the engine aliases instead of running
     * `run`, which may then be NULL. */
    bool view;
    /* Never folded at load (random ops). */
    bool nondeterministic;
    /* Output shapes are known only once `run` has computed them (If,
     * Loop, Scan): the engine does not place outputs before `run`, which
     * sets each output's shape and calls axle_kctx_place. */
    bool places_outputs;
    /* Takes sequence/optional inputs (kind != AXLE_KIND_TENSOR); the
     * engine refuses them to every other operator (Identity aside, which
     * the engine passes them through). */
    bool containers;
    void (*run_state_free)(void *run_state);
};

/* For places_outputs kernels: give output j (shape and dtype already set
 * in k->out[j]) its storage for this run. Sequences and optionals are
 * emptied instead (the kernel fills their items). */
enum axle_status axle_kctx_place(struct axle_kctx *k, int j);

/* Scratch memory valid until the kernel returns; grows the session's buffer
 * (the only allocation allowed during run, and only when it must grow).
 * Returns NULL (and the kernel returns AXLE_RESOURCE_EXHAUSTED) on failure.
 * The pointer is 64-byte aligned. */
void *axle_kctx_scratch(struct axle_kctx *k, size_t bytes);

/* Look up an implemented operator; NULL when axle does not implement it. */
const struct axle_op *axle_op_find(const char *domain, const char *name);
/* Calls fn for each implemented op (for listings and coverage checks). */
void axle_op_foreach(void (*fn)(const struct axle_op *op, void *ctx),
                     void *ctx);

/* Activations that kernels can apply in their store loop (fusions). */
enum axle_act {
    AXLE_ACT_NONE = 0,
    AXLE_ACT_RELU,
    AXLE_ACT_LEAKY_RELU, /* alpha */
    AXLE_ACT_CLIP,       /* alpha = min, beta = max */
    AXLE_ACT_SIGMOID,
    AXLE_ACT_TANH,
    AXLE_ACT_HARD_SIGMOID, /* alpha, beta */
    AXLE_ACT_HARD_SWISH,
    AXLE_ACT_GELU, /* exact (erf) */
};

/* Applies act in place over n floats (scalar reference; kernels may inline
 * vector versions). */
void axle_act_apply(enum axle_act act, float alpha, float beta, float *x,
                    size_t n);

/* The ONNX operator an activation stands for; NULL for none. */
const char *axle_act_name(int act);

/* Shorthands for kernels. */
#define AXLE_IN(k, i) ((i) < (k)->n_inputs ? (k)->in[i] : NULL)

#endif
