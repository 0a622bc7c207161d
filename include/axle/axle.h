/*
 * axle/axle.h - the C API for embedding axle's inference engine.
 *
 * A model is loaded once (from a file or from memory), inspected, and run
 * through sessions:
 *
 *     struct axle_err err;
 *     struct axle_model *m;
 *     struct axle_session *s;
 *     if (axle_model_load_file("model.onnx", NULL, &m, &err) != AXLE_OK) ...
 *     if (axle_session_new(m, NULL, &s, &err) != AXLE_OK) ...
 *     struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2,
 *                              .dims = {1, 4}, .data = x};
 *     struct axle_tensor out[1];
 *     if (axle_session_run(s, 1, &in, 1, out, &err) != AXLE_OK) ...
 *     ... out[0].data is valid until the next run on s or axle_session_free
 *     axle_session_free(s);
 *     axle_model_unref(m);
 *
 * Errors: every fallible call returns an enum axle_status and, when err is
 * not NULL, writes a one-line message naming what was wrong (the operator
 * and node, the input, expected vs got). Bad model files and bad inputs are
 * errors, never crashes.
 *
 * Threads: a model is immutable after load and may be shared by any number
 * of threads and sessions (reference-counted). A session is used by one
 * thread at a time; it owns its memory plan and its intra-op thread pool.
 */
#ifndef AXLE_AXLE_H
#define AXLE_AXLE_H

#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"
#include "axle/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct axle_model;
struct axle_session;

/* Version string of the library ("0.1.0"). */
const char *axle_version(void);

struct axle_load_opts {
    size_t max_model_bytes; /* 0: 2 GiB */
    int no_optimize;        /* 1: skip folding and fusions (debugging) */
};

/* Load a model file. The format is detected from its content (ONNX).
 * External data files are read from the model's own directory only. */
enum axle_status axle_model_load_file(const char *path,
                                      const struct axle_load_opts *opts,
                                      struct axle_model **out,
                                      struct axle_err *err);
/* Load from a buffer (borrowed for the call). External data is refused. */
enum axle_status axle_model_load_memory(const void *buf, size_t len,
                                        const struct axle_load_opts *opts,
                                        struct axle_model **out,
                                        struct axle_err *err);
struct axle_model *axle_model_ref(struct axle_model *m);
/* Drops a reference; the model is freed with the last one. NULL is a no-op. */
void axle_model_unref(struct axle_model *m);

/* Description of one model input or output. Strings are owned by the model.
 * dims[i] is -1 for a dynamic dimension, whose name (e.g. "batch") is in
 * dim_names[i] when the file gave one (else NULL). rank is -1 if unknown. */
struct axle_io_info {
    const char *name;
    enum axle_kind kind; /* sequences/optionals: dtype is the element's */
    enum axle_dtype dtype;
    int rank;
    int64_t dims[AXLE_MAX_RANK];
    const char *dim_names[AXLE_MAX_RANK];
};

int axle_model_n_inputs(const struct axle_model *m);
int axle_model_n_outputs(const struct axle_model *m);
enum axle_status axle_model_input(const struct axle_model *m, int i,
                                  struct axle_io_info *out);
enum axle_status axle_model_output(const struct axle_model *m, int i,
                                   struct axle_io_info *out);
/* Index of the input/output with that name, or -1. */
/* The file format the model came from: "onnx", "xgboost", "lightgbm". */
const char *axle_model_format(const struct axle_model *m);
/* The OIP / KServe platform name for that format ("onnx_onnxv1",
 * "xgboost_json", "lightgbm_text"). */
const char *axle_model_platform(const struct axle_model *m);
int axle_model_input_index(const struct axle_model *m, const char *name);
int axle_model_output_index(const struct axle_model *m, const char *name);

struct axle_session_opts {
    int n_threads;     /* intra-op threads; 0: all CPUs the process may use */
    int64_t max_batch; /* memory reserved at creation for this batch; 0: 1 */
};

/* Create a session; takes a reference on m. Memory for max_batch is
 * planned and reserved here so that runs at or below it allocate nothing. */
enum axle_status axle_session_new(struct axle_model *m,
                                  const struct axle_session_opts *opts,
                                  struct axle_session **out,
                                  struct axle_err *err);
void axle_session_free(struct axle_session *s);

/* Deadline for the following runs on s (CLOCK_MONOTONIC nanoseconds; 0:
 * none). A run past it stops between nodes and between iterations of a
 * Loop/Scan/SequenceMap with AXLE_DEADLINE_EXCEEDED. A run without a
 * deadline stops with RESOURCE_EXHAUSTED after AXLE_LOOP_MAX_ITERS loop
 * iterations in all (nested loops included; an iteration that carries
 * sequences counts 1 + their elements / 64). */
void axle_session_set_deadline(struct axle_session *s, uint64_t deadline_ns);
#define AXLE_LOOP_MAX_ITERS ((int64_t)1 << 20)

/* Per-node timing, off by default. While on, each run records the wall
 * time of every node of the optimized graph (after fusion and folding,
 * so a Conv may carry its activation), in execution order; a control-flow
 * node's time includes its bodies. In a batch that runs image by image
 * across threads (ARCHITECTURE.md, "depth-first prefix"), a prefix node's
 * time is its summed per-image time divided by the thread count. Turning
 * it on allocates once; runs stay allocation-free. */
void axle_session_set_timing(struct axle_session *s, int on);

struct axle_node_timing {
    const char *name;    /* the node's name (may be empty) */
    const char *op_type; /* ONNX operator */
    const char *fused;   /* activation applied in its store loop, or NULL */
    const struct axle_tensor *output; /* first output: dtype and shape of
                                       * the last run (not its data) */
    uint64_t ns;         /* wall time in the last run; 0 when timing is off */
};

/* Nodes the session runs, in order. */
int axle_session_n_nodes(const struct axle_session *s);
/* Node i (0 <= i < axle_session_n_nodes) of the last run; -1 when i is
 * out of range. The strings live as long as the session. */
int axle_session_node_timing(const struct axle_session *s, int i,
                             struct axle_node_timing *out);

/* Run the model. inputs[i] is the model's input i (all must be given);
 * outputs[j] receives output j: dtype, shape and a data pointer borrowed
 * from the session, valid until the next run or axle_session_free. Pass
 * n_outputs = axle_model_n_outputs(m). Inputs are validated (dtype, rank,
 * fixed dims, consistent symbolic dims) before anything runs.
 * Sequence and optional inputs (kind != AXLE_KIND_TENSOR) are records
 * whose items the caller owns; such outputs' items are borrowed like data. */
enum axle_status axle_session_run(struct axle_session *s, int n_inputs,
                                  const struct axle_tensor *inputs,
                                  int n_outputs, struct axle_tensor *outputs,
                                  struct axle_err *err);

#ifdef __cplusplus
}
#endif

#endif
