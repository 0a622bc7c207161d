/*
 * kernel_fixture.h - runs one operator kernel in isolation for the cmocka
 * unit tests: a graph holding a single node (struct fx), setters for its
 * attributes, the struct axle_kctx a kernel sees at load and at run time,
 * and helpers that infer, allocate the outputs and run through struct
 * axle_op, optionally with a thread pool and with a prepared state.
 *
 *   struct fx f;
 *   fx_init(&f, "Add", 14, 1);               (opset 14, no pool)
 *   attr_int(&f, "axis", 1);
 *   assert_int_equal(call(&f, &axle_op_add, 2, in, 1, out), AXLE_OK);
 *   free_out(out[0]);
 *   fx_dispose(&f);
 *
 * Header-only and test-only: every function is static inline, so a test
 * that uses a few of them compiles cleanly under -Werror.
 */
#ifndef AXLE_TESTS_KERNEL_FIXTURE_H
#define AXLE_TESTS_KERNEL_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "engine/engine.h"
#include "ir/graph.h"
#include "ir/op.h"
#include "ir/tensor.h"

#define I64(...) ((int64_t[]){__VA_ARGS__})

/* One node in its own graph, plus what a kernel call needs. */
struct fx {
    struct axle_graph *g;
    struct axle_node *n;
    struct axle_err err;
    struct axle_scratch scratch;
    struct axle_pool *pool;   /* NULL: kernels run inline */
    int opset;
    const struct axle_op *op; /* set by fx_init_op and prepare */
    void *state;              /* from prepare; released by fx_dispose */
};

/* A node of type `op` at `opset`; threads > 1 gives it a pool of that many
 * threads (tests may also set f->pool themselves after fx_init). */
static inline void fx_init(struct fx *f, const char *op, int opset,
                           int threads)
{
    int idx;

    memset(f, 0, sizeof(*f));
    f->g = axle_graph_new();
    idx = axle_graph_add_node(f->g, op, "", "n"); /* may move nodes */
    f->n = &f->g->nodes[idx];
    f->opset = opset;
    if (threads > 1)
        assert_int_equal(axle_pool_new(threads, &f->pool), AXLE_OK);
}

/* fx_init for the node type of `op`, remembered in f->op. */
static inline void fx_init_op(struct fx *f, const struct axle_op *op,
                              int opset, int threads)
{
    fx_init(f, op->name, opset, threads);
    f->op = op;
}

static inline void fx_dispose(struct fx *f)
{
    if (f->state != NULL)
        f->op->release(f->state);
    axle_free(f->scratch.data);
    axle_pool_free(f->pool);
    axle_graph_free(f->g);
}

/* ---- attributes ---------------------------------------------------------- */

static inline void attr_int(struct fx *f, const char *name, int64_t v)
{
    struct axle_attr *a = axle_node_add_attr(f->n, name);
    a->type = AXLE_ATTR_INT;
    a->i = v;
}

static inline void attr_float(struct fx *f, const char *name, float v)
{
    struct axle_attr *a = axle_node_add_attr(f->n, name);
    a->type = AXLE_ATTR_FLOAT;
    a->f = v;
}

static inline void attr_ints(struct fx *f, const char *name, int n,
                             const int64_t *v)
{
    struct axle_attr *a = axle_node_add_attr(f->n, name);
    a->type = AXLE_ATTR_INTS;
    a->n = n;
    a->ints = axle_xmalloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (n)
        memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}

static inline void attr_floats(struct fx *f, const char *name, int n,
                               const float *v)
{
    struct axle_attr *a = axle_node_add_attr(f->n, name);
    a->type = AXLE_ATTR_FLOATS;
    a->n = n;
    a->floats = axle_xmalloc(sizeof(float) * (size_t)(n ? n : 1));
    if (n)
        memcpy(a->floats, v, sizeof(float) * (size_t)n);
}

static inline void attr_str(struct fx *f, const char *name, const char *s)
{
    struct axle_attr *a = axle_node_add_attr(f->n, name);
    a->type = AXLE_ATTR_STRING;
    a->s = axle_xstrdup(s);
    a->s_len = strlen(s);
}

static inline void attr_strs(struct fx *f, const char *name, int n,
                             const char *const *v)
{
    struct axle_attr *a = axle_node_add_attr(f->n, name);
    a->type = AXLE_ATTR_STRINGS;
    a->n = n;
    a->strings = axle_xmalloc(sizeof(char *) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        a->strings[i] = axle_xstrdup(v[i]);
}

/* ---- kernel calls -------------------------------------------------------- */

/* The context the engine gives a kernel: at load (infer, prepare) there is
 * no pool, scratch or state; at run time there are all three. */
static inline struct axle_kctx kctx(struct fx *f, int n_in,
                                    const struct axle_tensor **in, int n_out,
                                    struct axle_tensor **out, bool load)
{
    return (struct axle_kctx){
        .node = f->n, .opset = f->opset, .n_inputs = n_in, .in = in,
        .n_outputs = n_out, .out = out, .state = load ? NULL : f->state,
        .pool = load ? NULL : f->pool, .scratch = load ? NULL : &f->scratch,
        .graph = f->g, .err = &f->err,
    };
}

/* Shape inference; the outputs are reset to unknown rank first. */
static inline enum axle_status infer(struct fx *f, const struct axle_op *op,
                                     int n_in, const struct axle_tensor **in,
                                     int n_out, struct axle_tensor **out)
{
    struct axle_kctx k = kctx(f, n_in, in, n_out, out, true);
    for (int j = 0; j < n_out; j++)
        if (out[j]) {
            memset(out[j], 0, sizeof(*out[j]));
            out[j]->rank = -1;
        }
    return op->infer(&k);
}

/* Load-time prepare; the state stays in f, is seen by every later call and
 * is released by fx_dispose. */
static inline enum axle_status prepare(struct fx *f, const struct axle_op *op,
                                       int n_in,
                                       const struct axle_tensor **in,
                                       int n_out, struct axle_tensor **out)
{
    struct axle_kctx k = kctx(f, n_in, in, n_out, out, true);
    f->op = op;
    return op->prepare(&k, &f->state);
}

/* infer + allocate + (prepare) + run + (release). With `with_prepare` the
 * op's prepare runs on the run-time context and its state lives for this
 * call only. Outputs are freed with free_out / free_outs. */
static inline enum axle_status call_prepared(struct fx *f,
                                             const struct axle_op *op,
                                             int n_in,
                                             const struct axle_tensor **in,
                                             int n_out,
                                             struct axle_tensor **out,
                                             bool with_prepare)
{
    enum axle_status st = infer(f, op, n_in, in, n_out, out);
    struct axle_kctx k = kctx(f, n_in, in, n_out, out, false);
    void *state = NULL;
    if (st != AXLE_OK)
        return st;
    for (int j = 0; j < n_out; j++) {
        int64_t nb;
        if (out[j] == NULL)
            continue;
        nb = axle_tensor_nbytes(out[j]);
        assert_true(nb >= 0);
        out[j]->data = calloc(1, (size_t)nb + 1);
        out[j]->cap_bytes = (size_t)nb;
    }
    if (with_prepare && op->prepare != NULL) {
        st = op->prepare(&k, &state);
        if (st != AXLE_OK)
            return st;
        k.state = state;
    }
    st = op->run(&k);
    if (state != NULL)
        op->release(state);
    return st;
}

/* infer + allocate + run. */
static inline enum axle_status call(struct fx *f, const struct axle_op *op,
                                    int n_in, const struct axle_tensor **in,
                                    int n_out, struct axle_tensor **out)
{
    return call_prepared(f, op, n_in, in, n_out, out, false);
}

/* Frees an output of call, and the strings it holds. */
static inline void free_out(struct axle_tensor *t)
{
    if (t->dtype == AXLE_DTYPE_STRING && t->data != NULL) {
        char **s = t->data;
        for (int64_t i = 0; i < axle_tensor_numel(t); i++)
            axle_free(s[i]);
    }
    free(t->data);
    t->data = NULL;
}

static inline void free_outs(int n, struct axle_tensor **out)
{
    for (int j = 0; j < n; j++)
        if (out[j] != NULL)
            free_out(out[j]);
}

/* ---- tensors and checks -------------------------------------------------- */

/* A tensor over borrowed `data` (NULL: shape only). */
static inline struct axle_tensor tens(enum axle_dtype dt, int rank,
                                      const int64_t *dims, void *data)
{
    struct axle_tensor t = {.dtype = dt, .rank = rank, .data = data};
    if (rank > 0)
        memcpy(t.dims, dims, sizeof(int64_t) * (size_t)rank);
    return t;
}

/* n floats uniform in [-scale, scale], reproducible from `seed`; free(). */
static inline float *rnd(int64_t n, unsigned seed, float scale)
{
    float *p = malloc((size_t)n * sizeof(float) + 4);
    srand(seed);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)rand() / (float)RAND_MAX * (2.0f * scale) - scale;
    return p;
}

/* got == want within `tol`, absolute plus relative. */
static inline void near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol + tol * fabs(want))) {
        print_error("got %.9g want %.9g\n", got, want);
        fail();
    }
}

#endif
