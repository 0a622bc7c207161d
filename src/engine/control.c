/*
 * control.c - control-flow operators: If, Loop, Scan and SequenceMap.
 *
 * They run subgraphs through the engine, so they live here rather than in
 * kernels/. Each subgraph attribute becomes a nested model in `prepare`
 * (optimized and prepared once, shared read-only by every session); each
 * session gets its own nested sessions, made on the node's first run and
 * kept in the node's run_state (on the parent's thread pool), so several
 * sessions can run one model at the same time.
 *
 * Outer-scope values: the importer appended the names a subgraph reads
 * from enclosing scopes to the subgraph's inputs (graph->n_outer) and to
 * the node's inputs (node->n_outer_inputs); here they are matched by name
 * and passed to the nested session after the formal inputs.
 *
 * Output shapes are known only after the body ran (places_outputs): run
 * sets each output's shape and places it. Results are copied out of the
 * nested session, whose outputs live only until its next run. Loop-carried
 * values are copied into buffers the run state owns (two sets, swapped,
 * since a body may permute its carried values) before the next iteration.
 *
 * Limits: every Loop/Scan iteration checks the run's deadline; a run
 * without one stops a Loop at AXLE_LOOP_MAX_ITERS iterations. Scan output
 * accumulation is bounded by AXLE_TENSOR_MAX_ELEMS.
 *
 * ONNX versions: If-1/11/13/16 (16 adds optionals), Loop-1/11/13/16 (13 adds
 * sequences, 16 optionals; the semantics are the same), Scan-8 (batch axis
 * 0, optional sequence_lens, `directions`) and Scan-9/11/16
 * (scan_input_axes/directions, scan_output_axes/directions; 11 allows
 * negative axes), SequenceMap-17.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "engine/engine.h"
#include "ir/tensor.h"

/* ---- nested models and sessions ----------------------------------------- */

struct body {
    struct axle_model *m;
    const struct axle_graph *g; /* m's graph */
    int n_formal;
    int *outer; /* node input index of each outer input */
};

struct cf_state {
    int n_bodies;
    struct body b[2];
};

/* Growing concatenation of per-iteration scan outputs. */
struct acc {
    struct axle_tensor elem; /* dtype and shape of one slice */
    size_t elem_bytes;
    uint8_t *buf;
    size_t cap;
    int64_t count;
};

struct cf_run {
    struct axle_session *sub[2];
    struct axle_tensor *ins, *outs; /* nested session I/O records */
    int cap_ins, cap_outs;
    struct axle_tensor *carry, *next; /* owned */
    int n_carry;
    struct acc *acc;
    int n_acc;
    int64_t iter;
    uint8_t cond;
};

static void cf_release(void *p)
{
    struct cf_state *s = p;
    for (int i = 0; s != NULL && i < s->n_bodies; i++) {
        axle_model_unref(s->b[i].m);
        axle_free(s->b[i].outer);
    }
    axle_free(s);
}

static void cf_run_free(void *p)
{
    struct cf_run *r = p;
    if (r == NULL)
        return;
    for (int i = 0; i < 2; i++)
        axle_session_free(r->sub[i]);
    for (int i = 0; i < r->n_carry; i++) {
        axle_value_dispose(&r->carry[i]);
        axle_value_dispose(&r->next[i]);
    }
    for (int i = 0; i < r->n_acc; i++)
        axle_free(r->acc[i].buf);
    axle_free(r->carry);
    axle_free(r->next);
    axle_free(r->acc);
    axle_free(r->ins);
    axle_free(r->outs);
    axle_free(r);
}

static int n_explicit(const struct axle_kctx *k)
{
    return k->n_inputs - k->node->n_outer_inputs;
}

static const struct axle_graph *graph_attr(const struct axle_kctx *k,
                                           const char *name)
{
    const struct axle_attr *a = axle_node_attr(k->node, name);
    return a != NULL && a->type == AXLE_ATTR_GRAPH ? a->g : NULL;
}

/* Builds the nested model of subgraph g, which must take n_formal formal
 * inputs; hint[i] describes formal input i where g does not. */
static enum axle_status body_make(struct axle_kctx *k,
                                  const struct axle_graph *g, int n_formal,
                                  const struct axle_tensor *const *hint,
                                  struct body *b)
{
    const struct axle_tensor **h;
    enum axle_status st;
    int n_in = n_explicit(k);

    if (g->n_inputs - g->n_outer != n_formal)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "subgraph '%.60s' has %d inputs, expected %d",
                            g->name, g->n_inputs - g->n_outer, n_formal);
    h = axle_xcalloc((size_t)g->n_inputs + 1, sizeof(*h));
    b->outer = axle_xcalloc((size_t)g->n_outer + 1, sizeof(int));
    for (int i = 0; i < n_formal && hint != NULL; i++)
        h[i] = hint[i];
    for (int i = 0; i < g->n_outer; i++) {
        const char *name = g->values[g->inputs[n_formal + i]].name;
        b->outer[i] = -1;
        for (int j = n_in; j < k->n_inputs; j++)
            if (k->node->inputs[j] >= 0 &&
                strcmp(k->graph->values[k->node->inputs[j]].name, name) == 0)
                b->outer[i] = j;
        if (b->outer[i] < 0) {
            axle_free(h);
            return axle_err_set(k->err, AXLE_INTERNAL,
                                "outer value '%.80s' is not bound", name);
        }
        h[n_formal + i] = k->in[b->outer[i]];
    }
    st = axle_engine_submodel_new(g, h, &b->m, k->err);
    axle_free(h);
    if (st != AXLE_OK) {
        axle_err_prefix(k->err, "subgraph '%.60s': ", g->name);
        return st;
    }
    b->g = b->m->ir->graph;
    b->n_formal = n_formal;
    return AXLE_OK;
}

static struct cf_run *run_state(struct axle_kctx *k)
{
    struct cf_run *r;
    if (k->run_state == NULL)
        return NULL;
    if (*k->run_state == NULL)
        *k->run_state = axle_xcalloc(1, sizeof(struct cf_run));
    r = *k->run_state;
    return r;
}

static void reserve_io(struct cf_run *r, int n_in, int n_out)
{
    if (n_in > r->cap_ins) {
        r->ins = axle_xrealloc(r->ins, (size_t)n_in * sizeof(*r->ins));
        r->cap_ins = n_in;
    }
    if (n_out > r->cap_outs) {
        r->outs = axle_xrealloc(r->outs, (size_t)n_out * sizeof(*r->outs));
        r->cap_outs = n_out;
    }
}

/* Runs body bi with r->ins[0..n_formal) already set; outer values are
 * appended here. Results in r->outs (borrowed from the nested session). */
static enum axle_status body_run(struct axle_kctx *k, struct cf_run *r,
                                 const struct cf_state *cs, int bi)
{
    const struct body *b = &cs->b[bi];
    enum axle_status st;

    if (r->sub[bi] == NULL) {
        st = axle_engine_subsession_new(b->m, k->session, &r->sub[bi],
                                        k->err);
        if (st != AXLE_OK)
            return st;
    }
    for (int i = 0; i < b->g->n_outer; i++)
        r->ins[b->n_formal + i] = *k->in[b->outer[i]];
    axle_session_set_deadline(r->sub[bi], k->deadline_ns);
    st = axle_session_run(r->sub[bi], b->g->n_inputs, r->ins,
                          b->g->n_outputs, r->outs, k->err);
    if (st != AXLE_OK)
        axle_err_prefix(k->err, "subgraph '%.60s': ", b->g->name);
    return st;
}

/* Output j becomes a copy of src (any kind). */
static enum axle_status set_output(struct axle_kctx *k, int j,
                                   const struct axle_tensor *src)
{
    struct axle_tensor *o = j < k->n_outputs ? k->out[j] : NULL;
    enum axle_status st;
    int64_t n;

    if (o == NULL)
        return AXLE_OK;
    if (src->kind != AXLE_KIND_TENSOR) {
        o->kind = src->kind;
        st = axle_kctx_place(k, j);
        return st != AXLE_OK ? st : axle_value_copy(o, src, k->err);
    }
    o->kind = AXLE_KIND_TENSOR;
    o->dtype = src->dtype;
    o->rank = src->rank;
    memcpy(o->dims, src->dims, sizeof(o->dims));
    st = axle_kctx_place(k, j);
    if (st != AXLE_OK)
        return st;
    n = axle_tensor_numel(src);
    if (n <= 0)
        return AXLE_OK;
    if (src->dtype == AXLE_DTYPE_STRING) {
        if (axle_strings_copy(o->data, src->data, n) != AXLE_OK)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "out of memory");
        return AXLE_OK;
    }
    memcpy(o->data, src->data, (size_t)axle_tensor_nbytes(src));
    return AXLE_OK;
}

/* dst (owned by the run state) := src, reusing dst's buffer when it fits. */
static enum axle_status carry_set(struct axle_tensor *dst,
                                  const struct axle_tensor *src,
                                  struct axle_err *err)
{
    int64_t nb;

    if (src->kind != AXLE_KIND_TENSOR || src->dtype == AXLE_DTYPE_STRING ||
        dst->kind != AXLE_KIND_TENSOR || dst->dtype == AXLE_DTYPE_STRING ||
        !dst->owns_data)
        return axle_value_copy(dst, src, err);
    nb = axle_tensor_nbytes(src);
    if (nb < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "tensor too large");
    if ((size_t)nb > dst->cap_bytes || dst->data == NULL)
        return axle_value_copy(dst, src, err);
    dst->dtype = src->dtype;
    dst->rank = src->rank;
    memcpy(dst->dims, src->dims, sizeof(dst->dims));
    if (nb > 0)
        memmove(dst->data, src->data, (size_t)nb);
    return AXLE_OK;
}

static void carry_reserve(struct cf_run *r, int n)
{
    if (n <= r->n_carry)
        return;
    r->carry = axle_xrealloc(r->carry, (size_t)n * sizeof(*r->carry));
    r->next = axle_xrealloc(r->next, (size_t)n * sizeof(*r->next));
    for (int i = r->n_carry; i < n; i++) {
        memset(&r->carry[i], 0, sizeof(r->carry[i]));
        memset(&r->next[i], 0, sizeof(r->next[i]));
    }
    r->n_carry = n;
}

static void acc_reserve(struct cf_run *r, int n)
{
    if (n > r->n_acc) {
        r->acc = axle_xrealloc(r->acc, (size_t)n * sizeof(*r->acc));
        memset(&r->acc[r->n_acc], 0,
               (size_t)(n - r->n_acc) * sizeof(*r->acc));
        r->n_acc = n;
    }
    for (int i = 0; i < n; i++)
        r->acc[i].count = 0;
}

/* Appends one iteration's slice; every slice must have the first one's
 * dtype and shape (ONNX: scan outputs are stacked). */
static enum axle_status acc_push(struct acc *a, const struct axle_tensor *t,
                                 struct axle_err *err)
{
    int64_t nb, total;

    if (t->kind != AXLE_KIND_TENSOR || t->dtype == AXLE_DTYPE_STRING)
        return axle_err_set(err, AXLE_UNIMPLEMENTED,
                            "scan outputs must be numeric tensors");
    nb = axle_tensor_nbytes(t);
    if (nb < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "tensor too large");
    if (a->count == 0) {
        a->elem = *t;
        a->elem.data = NULL;
        a->elem.owns_data = 0;
        a->elem_bytes = (size_t)nb;
    } else if (t->dtype != a->elem.dtype || t->rank != a->elem.rank ||
               memcmp(t->dims, a->elem.dims,
                      (size_t)t->rank * sizeof(int64_t)) != 0) {
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "scan output slices differ in shape or dtype");
    }
    if (__builtin_mul_overflow(axle_tensor_numel(t), a->count + 1, &total) ||
        total > AXLE_TENSOR_MAX_ELEMS)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "scan output too large");
    if ((size_t)(a->count + 1) * a->elem_bytes > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        uint8_t *p;
        while (cap < (size_t)(a->count + 1) * a->elem_bytes)
            cap *= 2;
        p = axle_try_realloc(a->buf, cap);
        if (p == NULL)
            return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                                "out of memory");
        a->buf = p;
        a->cap = cap;
    }
    if (nb > 0)
        memcpy(a->buf + (size_t)a->count * a->elem_bytes, t->data,
               (size_t)nb);
    a->count++;
    return AXLE_OK;
}

/* Output description from subgraph output i (dims the parent can read:
 * the subgraph's symbols are its own). */
static void info_from(const struct axle_graph *g, int i,
                      struct axle_tensor *o, int extra_lead)
{
    const struct axle_tensor *s;

    if (o == NULL)
        return;
    if (g == NULL || i >= g->n_outputs) {
        o->rank = -1;
        return;
    }
    s = &g->values[g->outputs[i]].info;
    o->kind = s->kind;
    o->elem_kind = s->elem_kind;
    o->dtype = s->dtype;
    o->rank = s->rank < 0 || s->rank + extra_lead > AXLE_MAX_RANK
                  ? -1 : s->rank + extra_lead;
    for (int d = 0; d < o->rank; d++) {
        int64_t x = d < extra_lead ? AXLE_DIM_UNKNOWN
                                   : s->dims[d - extra_lead];
        o->dims[d] = x >= 0 ? x : AXLE_DIM_UNKNOWN;
    }
}

static bool true_scalar(const struct axle_tensor *t)
{
    return t != NULL && t->kind == AXLE_KIND_TENSOR && t->data != NULL &&
           axle_tensor_numel(t) >= 1 && axle_tensor_get_i64(t, 0) != 0;
}

/* ---- If ------------------------------------------------------------------ */

static enum axle_status if_infer(struct axle_kctx *k)
{
    const struct axle_graph *t = graph_attr(k, "then_branch");
    const struct axle_graph *e = graph_attr(k, "else_branch");

    if (t == NULL || e == NULL || n_explicit(k) != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "If needs cond, then_branch and else_branch");
    if (t->n_outputs != k->n_outputs || e->n_outputs != k->n_outputs)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "branches have %d and %d outputs, node has %d",
                            t->n_outputs, e->n_outputs, k->n_outputs);
    for (int j = 0; j < k->n_outputs; j++) {
        struct axle_tensor *o = k->out[j];
        const struct axle_tensor *ei;
        if (o == NULL)
            continue;
        info_from(t, j, o, 0);
        ei = &e->values[e->outputs[j]].info;
        if (o->dtype == AXLE_DTYPE_UNDEFINED) {
            o->dtype = ei->dtype;
            o->kind = ei->kind;
        }
        if (o->rank != ei->rank) {
            o->rank = -1;
            continue;
        }
        for (int d = 0; d < o->rank; d++)
            if (o->dims[d] != ei->dims[d])
                o->dims[d] = AXLE_DIM_UNKNOWN;
    }
    return AXLE_OK;
}

static enum axle_status if_prepare(struct axle_kctx *k, void **state)
{
    struct cf_state *s = axle_xcalloc(1, sizeof(*s));
    enum axle_status st;

    st = if_infer(k);
    if (st == AXLE_OK)
        st = body_make(k, graph_attr(k, "then_branch"), 0, NULL, &s->b[0]);
    s->n_bodies = 1;
    if (st == AXLE_OK)
        st = body_make(k, graph_attr(k, "else_branch"), 0, NULL, &s->b[1]);
    s->n_bodies = 2;
    if (st != AXLE_OK) {
        cf_release(s);
        return st;
    }
    *state = s;
    return AXLE_OK;
}

static enum axle_status if_run(struct axle_kctx *k)
{
    const struct cf_state *cs = k->state;
    struct cf_run *r = run_state(k);
    const struct axle_tensor *c = k->in[0];
    enum axle_status st;
    int bi;

    if (cs == NULL || r == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL, "If without state");
    if (c->kind != AXLE_KIND_TENSOR || axle_tensor_numel(c) != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "cond must hold one element");
    bi = axle_tensor_get_i64(c, 0) != 0 ? 0 : 1;
    reserve_io(r, cs->b[bi].g->n_inputs + 1, cs->b[bi].g->n_outputs + 1);
    st = body_run(k, r, cs, bi);
    for (int j = 0; st == AXLE_OK && j < k->n_outputs; j++)
        st = set_output(k, j, &r->outs[j]);
    return st;
}

const struct axle_op axle_op_if = {
    .name = "If", .domain = "", .min_inputs = 1, .max_inputs = -1,
    .min_outputs = 1, .max_outputs = -1, .infer = if_infer, .run = if_run,
    .prepare = if_prepare, .release = cf_release,
    .run_state_free = cf_run_free, .places_outputs = true,
    .containers = true,
};

/* ---- Loop ---------------------------------------------------------------- */

/* Loop inputs: M (optional), cond (optional), N carried values. Body:
 * (iter_num, cond, N carried) -> (cond, N carried, K scan outputs). */
static enum axle_status loop_infer(struct axle_kctx *k)
{
    const struct axle_graph *b = graph_attr(k, "body");
    int n = n_explicit(k) - 2;

    if (b == NULL || n < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Loop needs M, cond and a body");
    if (b->n_outputs != 1 + k->n_outputs || k->n_outputs < n)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "body has %d outputs, Loop %d carried values "
                            "and %d outputs", b->n_outputs, n, k->n_outputs);
    for (int j = 0; j < k->n_outputs; j++) {
        struct axle_tensor *o = k->out[j];
        if (o == NULL)
            continue;
        info_from(b, 1 + j, o, j < n ? 0 : 1);
        if (j < n && o->dtype == AXLE_DTYPE_UNDEFINED && k->in[2 + j]) {
            o->kind = k->in[2 + j]->kind;
            o->elem_kind = k->in[2 + j]->elem_kind;
            o->dtype = k->in[2 + j]->dtype;
        }
        if (j < n && o->kind != AXLE_KIND_TENSOR)
            o->rank = -1;
    }
    return AXLE_OK;
}

static enum axle_status loop_prepare(struct axle_kctx *k, void **state)
{
    struct cf_state *s = axle_xcalloc(1, sizeof(*s));
    const struct axle_tensor **hint;
    enum axle_status st;
    int n = n_explicit(k) - 2;

    st = loop_infer(k);
    if (st != AXLE_OK) {
        axle_free(s);
        return st;
    }
    hint = axle_xcalloc((size_t)n + 3, sizeof(*hint));
    for (int i = 0; i < n; i++)
        hint[2 + i] = k->in[2 + i];
    st = body_make(k, graph_attr(k, "body"), n + 2, hint, &s->b[0]);
    s->n_bodies = 1;
    axle_free(hint);
    if (st != AXLE_OK) {
        cf_release(s);
        return st;
    }
    *state = s;
    return AXLE_OK;
}

/* A scalar for formal input i of body g: rank 0 unless g declares [1]. */
static struct axle_tensor scalar_rec(const struct axle_graph *g, int i,
                                     enum axle_dtype dt, void *data)
{
    struct axle_tensor t = {.dtype = dt, .rank = 0, .data = data,
                            .cap_bytes = axle_dtype_size(dt)};
    const struct axle_tensor *w = &g->values[g->inputs[i]].info;
    if (w->rank == 1) {
        t.rank = 1;
        t.dims[0] = 1;
    }
    return t;
}

/* Record for formal input i of body g bound to value v: ONNX lets a
 * Loop carry a value into a body input declared optional (and back): wrap
 * a plain value in an optional (borrowing it) or unwrap a full optional. */
static struct axle_tensor bind_formal(const struct axle_graph *g, int i,
                                      const struct axle_tensor *v)
{
    const struct axle_tensor *w = &g->values[g->inputs[i]].info;
    struct axle_tensor t = *v;

    t.owns_data = 0;
    if (w->kind == AXLE_KIND_OPTIONAL && v->kind != AXLE_KIND_OPTIONAL) {
        t = (struct axle_tensor){.kind = AXLE_KIND_OPTIONAL,
                                 .elem_kind = v->kind, .dtype = v->dtype,
                                 .rank = -1, .n_items = 1,
                                 .items = (struct axle_tensor *)v};
    } else if (w->kind != AXLE_KIND_OPTIONAL &&
               v->kind == AXLE_KIND_OPTIONAL && v->n_items == 1) {
        t = v->items[0];
        t.owns_data = 0;
    }
    return t;
}

/* Elements of the sequences an iteration carries (what copying them
 * costs). */
static int64_t carried_items(const struct axle_tensor *v, int n)
{
    int64_t c = 0;
    for (int i = 0; i < n; i++) {
        const struct axle_tensor *t = &v[i];
        if (t->kind == AXLE_KIND_OPTIONAL && t->n_items == 1)
            t = &t->items[0];
        if (t->kind == AXLE_KIND_SEQUENCE)
            c += t->n_items;
    }
    return c;
}

/* Checks before iteration `it` (which copies `items` sequence elements):
 * the run's deadline; without one, the run's iteration budget, shared by
 * every loop of the run, nested ones included (a nested loop multiplies
 * its parent's iterations), where an iteration counts 1 plus 1/64 of the
 * elements of the sequences it carries (each is copied: a loop growing a
 * sequence is quadratic). */
static enum axle_status iter_check(struct axle_kctx *k, int64_t it,
                                   int64_t items)
{
    if (k->deadline_ns != 0) {
        if ((it & 15) == 0 && axle_engine_deadline_passed(k->deadline_ns))
            return axle_err_set(k->err, AXLE_DEADLINE_EXCEEDED,
                                "deadline exceeded after %lld iterations",
                                (long long)it);
        return AXLE_OK;
    }
    *k->session->iter_budget -= 1 + items / 64;
    if (*k->session->iter_budget < 0)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "loop stopped after %lld iterations (the limit "
                            "for runs without a deadline)",
                            (long long)AXLE_LOOP_MAX_ITERS);
    return AXLE_OK;
}

/* Output j := the K stacked slices of a (shape [count, slice...]). */
static enum axle_status acc_output(struct axle_kctx *k, int j,
                                   const struct acc *a, bool reverse,
                                   int axis)
{
    struct axle_tensor *o = j < k->n_outputs ? k->out[j] : NULL;
    enum axle_status st;
    int64_t outer = 1, inner;

    if (o == NULL)
        return AXLE_OK;
    if (a->count == 0) {
        /* No iteration: [0] then the declared slice dims where known. */
        if (o->rank < 1) {
            o->rank = 1;
            o->dims[0] = 0;
        }
        for (int d = 0; d < o->rank; d++)
            if (o->dims[d] < 0)
                o->dims[d] = 0;
        o->dims[axis < o->rank ? axis : 0] = 0;
        if (o->dtype == AXLE_DTYPE_UNDEFINED)
            o->dtype = AXLE_DTYPE_FLOAT32;
        o->kind = AXLE_KIND_TENSOR;
        return axle_kctx_place(k, j);
    }
    if (a->elem.rank + 1 > AXLE_MAX_RANK || axis < 0 || axis > a->elem.rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "scan output axis %d out of range", axis);
    o->kind = AXLE_KIND_TENSOR;
    o->dtype = a->elem.dtype;
    o->rank = a->elem.rank + 1;
    for (int d = 0, s = 0; d < o->rank; d++)
        o->dims[d] = d == axis ? a->count : a->elem.dims[s++];
    st = axle_kctx_place(k, j);
    if (st != AXLE_OK)
        return st;
    for (int d = 0; d < axis; d++)
        outer *= a->elem.dims[d];
    inner = outer > 0 ? (int64_t)a->elem_bytes / outer : 0;
    for (int64_t t = 0; t < a->count; t++) {
        const uint8_t *src = a->buf + (size_t)(reverse ? a->count - 1 - t : t) *
                                          a->elem_bytes;
        for (int64_t o2 = 0; o2 < outer; o2++)
            memcpy((uint8_t *)o->data + ((size_t)o2 * (size_t)a->count +
                                         (size_t)t) * (size_t)inner,
                   src + (size_t)o2 * (size_t)inner, (size_t)inner);
    }
    return AXLE_OK;
}

static enum axle_status loop_run(struct axle_kctx *k)
{
    const struct cf_state *cs = k->state;
    struct cf_run *r = run_state(k);
    const struct axle_tensor *m = AXLE_IN(k, 0), *c = AXLE_IN(k, 1);
    const struct axle_graph *g;
    int n = n_explicit(k) - 2, n_scan;
    int64_t max_trip = INT64_MAX, it = 0;
    enum axle_status st = AXLE_OK;
    bool go;

    if (cs == NULL || r == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL, "Loop without state");
    g = cs->b[0].g;
    n_scan = k->n_outputs - n;
    if (m != NULL) {
        if (m->kind != AXLE_KIND_TENSOR || axle_tensor_numel(m) != 1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "M must hold one element");
        max_trip = axle_tensor_get_i64(m, 0);
    }
    go = c == NULL || true_scalar(c);
    reserve_io(r, g->n_inputs + 1, g->n_outputs + 1);
    carry_reserve(r, n);
    acc_reserve(r, n_scan);
    for (int i = 0; i < n; i++) {
        if (k->in[2 + i] == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "carried value %d is missing", i);
        st = axle_value_copy(&r->carry[i], k->in[2 + i], k->err);
        if (st != AXLE_OK)
            return st;
    }
    for (; go && it < max_trip; it++) {
        struct axle_tensor *sw;
        st = iter_check(k, it, carried_items(r->carry, n));
        if (st != AXLE_OK)
            return st;
        r->iter = it;
        r->cond = 1;
        r->ins[0] = scalar_rec(g, 0, AXLE_DTYPE_INT64, &r->iter);
        r->ins[1] = scalar_rec(g, 1, AXLE_DTYPE_BOOL, &r->cond);
        for (int i = 0; i < n; i++)
            r->ins[2 + i] = bind_formal(g, 2 + i, &r->carry[i]);
        st = body_run(k, r, cs, 0);
        if (st != AXLE_OK)
            return st;
        go = true_scalar(&r->outs[0]);
        for (int i = 0; i < n && st == AXLE_OK; i++)
            st = carry_set(&r->next[i], &r->outs[1 + i], k->err);
        for (int i = 0; i < n_scan && st == AXLE_OK; i++)
            st = acc_push(&r->acc[i], &r->outs[1 + n + i], k->err);
        if (st != AXLE_OK)
            return st;
        sw = r->carry;
        r->carry = r->next;
        r->next = sw;
    }
    for (int j = 0; j < n && st == AXLE_OK; j++)
        st = set_output(k, j, &r->carry[j]);
    for (int j = 0; j < n_scan && st == AXLE_OK; j++)
        st = acc_output(k, n + j, &r->acc[j], false, 0);
    return st;
}

const struct axle_op axle_op_loop = {
    .name = "Loop", .domain = "", .min_inputs = 0, .max_inputs = -1,
    .min_outputs = 0, .max_outputs = -1, .infer = loop_infer,
    .run = loop_run, .prepare = loop_prepare, .release = cf_release,
    .run_state_free = cf_run_free, .places_outputs = true,
    .containers = true,
};

/* ---- Scan ---------------------------------------------------------------- */

struct scan_attrs {
    int n_state, n_scan_in, n_scan_out;
    int64_t in_axis[64], in_rev[64], out_axis[64], out_rev[64];
    bool batch; /* Scan-8 */
};

static enum axle_status scan_attrs(struct axle_kctx *k,
                                   const struct axle_graph *b,
                                   struct scan_attrs *sa)
{
    int64_t m = axle_node_attr_int(k->node, "num_scan_inputs", -1);
    int n_in = n_explicit(k), cnt;
    const int64_t *v;

    memset(sa, 0, sizeof(*sa));
    sa->batch = k->opset < 9;
    if (sa->batch)
        n_in--; /* sequence_lens */
    if (b == NULL || m < 1 || m > n_in || m > 64)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Scan needs a body and 1..%d num_scan_inputs",
                            n_in < 64 ? n_in : 64);
    sa->n_scan_in = (int)m;
    sa->n_state = n_in - (int)m;
    sa->n_scan_out = k->n_outputs - sa->n_state;
    if (sa->n_scan_out < 0 || sa->n_scan_out > 64 ||
        b->n_outputs != k->n_outputs ||
        b->n_inputs - b->n_outer != n_in)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Scan body has %d inputs and %d outputs, node "
                            "%d and %d", b->n_inputs - b->n_outer,
                            b->n_outputs, n_in, k->n_outputs);
    v = axle_node_attr_ints(k->node, sa->batch ? "directions"
                                               : "scan_input_directions",
                            &cnt);
    for (int i = 0; i < cnt && i < sa->n_scan_in; i++)
        sa->in_rev[i] = v[i];
    v = axle_node_attr_ints(k->node, "scan_input_axes", &cnt);
    for (int i = 0; i < cnt && i < sa->n_scan_in && !sa->batch; i++)
        sa->in_axis[i] = v[i];
    v = axle_node_attr_ints(k->node, "scan_output_directions", &cnt);
    for (int i = 0; i < cnt && i < sa->n_scan_out && !sa->batch; i++)
        sa->out_rev[i] = v[i];
    v = axle_node_attr_ints(k->node, "scan_output_axes", &cnt);
    for (int i = 0; i < cnt && i < sa->n_scan_out && !sa->batch; i++)
        sa->out_axis[i] = v[i];
    return AXLE_OK;
}

static enum axle_status scan_infer(struct axle_kctx *k)
{
    const struct axle_graph *b = graph_attr(k, "body");
    struct scan_attrs sa;
    enum axle_status st = scan_attrs(k, b, &sa);

    if (st != AXLE_OK)
        return st;
    for (int j = 0; j < k->n_outputs; j++) {
        struct axle_tensor *o = k->out[j];
        if (o == NULL)
            continue;
        if (j < sa.n_state) {
            info_from(b, j, o, sa.batch ? 1 : 0);
        } else {
            info_from(b, j, o, sa.batch ? 2 : 1);
            if (!sa.batch && sa.out_axis[j - sa.n_state] != 0)
                o->rank = -1; /* axis placement resolved at run time */
        }
    }
    return AXLE_OK;
}

static enum axle_status scan_prepare(struct axle_kctx *k, void **state)
{
    struct cf_state *s;
    struct scan_attrs sa;
    enum axle_status st = scan_infer(k);

    if (st != AXLE_OK)
        return st;
    scan_attrs(k, graph_attr(k, "body"), &sa);
    s = axle_xcalloc(1, sizeof(*s));
    st = body_make(k, graph_attr(k, "body"), sa.n_state + sa.n_scan_in, NULL,
                   &s->b[0]);
    s->n_bodies = 1;
    if (st != AXLE_OK) {
        cf_release(s);
        return st;
    }
    *state = s;
    return AXLE_OK;
}

/* Slice t of x along axis a into dst (bytes), shape written to rec. */
static void take_slice(const struct axle_tensor *x, int a, int64_t t,
                       uint8_t *dst, struct axle_tensor *rec)
{
    size_t es = axle_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1, len = x->dims[a];

    for (int d = 0; d < a; d++)
        outer *= x->dims[d];
    for (int d = a + 1; d < x->rank; d++)
        inner *= x->dims[d];
    *rec = (struct axle_tensor){.dtype = x->dtype, .rank = x->rank - 1,
                                .data = dst,
                                .cap_bytes = (size_t)(outer * inner) * es};
    for (int d = 0, s = 0; d < x->rank; d++)
        if (d != a)
            rec->dims[s++] = x->dims[d];
    for (int64_t o = 0; o < outer; o++)
        memcpy(dst + (size_t)(o * inner) * es,
               (const uint8_t *)x->data + (size_t)((o * len + t) * inner) * es,
               (size_t)inner * es);
}

/* One Scan over states st_in (n_state) and scan inputs x (n_scan_in)
 * whose scan axes have length T: final states in r->carry, slices of the
 * scan outputs (in iteration order) in r->acc. */
static enum axle_status scan_core(struct axle_kctx *k, struct cf_run *r,
                                  const struct cf_state *cs,
                                  const struct scan_attrs *sa,
                                  const struct axle_tensor *const *st_in,
                                  const struct axle_tensor *const *x,
                                  const int *axes, int64_t T)
{
    enum axle_status st = AXLE_OK;
    uint8_t **slices;
    size_t total = 0;

    carry_reserve(r, sa->n_state);
    acc_reserve(r, sa->n_scan_out);
    for (int i = 0; i < sa->n_state && st == AXLE_OK; i++)
        st = axle_value_copy(&r->carry[i], st_in[i], k->err);
    if (st != AXLE_OK)
        return st;
    for (int i = 0; i < sa->n_scan_in; i++) {
        int64_t nb = axle_tensor_nbytes(x[i]);
        total += (size_t)(T > 0 ? nb / T : 0) + 64;
    }
    slices = axle_kctx_scratch(k, total + (size_t)sa->n_scan_in *
                                              sizeof(uint8_t *) + 64);
    if (slices == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    {
        uint8_t *p = (uint8_t *)(slices + sa->n_scan_in);
        p += (64 - ((uintptr_t)p & 63)) & 63;
        for (int i = 0; i < sa->n_scan_in; i++) {
            int64_t nb = axle_tensor_nbytes(x[i]);
            slices[i] = p;
            p += (size_t)(T > 0 ? nb / T : 0) + 64;
            p -= (uintptr_t)p & 63;
        }
    }
    for (int64_t t = 0; t < T; t++) {
        struct axle_tensor *sw;
        st = iter_check(k, t, 0);
        if (st != AXLE_OK)
            return st;
        for (int i = 0; i < sa->n_state; i++)
            r->ins[i] = bind_formal(cs->b[0].g, i, &r->carry[i]);
        for (int i = 0; i < sa->n_scan_in; i++)
            take_slice(x[i], axes[i], sa->in_rev[i] ? T - 1 - t : t,
                       slices[i], &r->ins[sa->n_state + i]);
        st = body_run(k, r, cs, 0);
        if (st != AXLE_OK)
            return st;
        for (int i = 0; i < sa->n_state && st == AXLE_OK; i++)
            st = carry_set(&r->next[i], &r->outs[i], k->err);
        for (int i = 0; i < sa->n_scan_out && st == AXLE_OK; i++)
            st = acc_push(&r->acc[i], &r->outs[sa->n_state + i], k->err);
        if (st != AXLE_OK)
            return st;
        sw = r->carry;
        r->carry = r->next;
        r->next = sw;
    }
    return AXLE_OK;
}

static enum axle_status scan_run(struct axle_kctx *k)
{
    const struct cf_state *cs = k->state;
    struct cf_run *r = run_state(k);
    const struct axle_tensor *st_in[64], *x[64], *xrow[64], *srow[64];
    struct axle_tensor rows[128];
    struct scan_attrs sa;
    int axes[64], base;
    int64_t T = -1, B = 1;
    enum axle_status st;

    if (cs == NULL || r == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL, "Scan without state");
    st = scan_attrs(k, graph_attr(k, "body"), &sa);
    if (st != AXLE_OK)
        return st;
    if (sa.n_state > 64)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "too many Scan state variables");
    base = sa.batch ? 1 : 0;
    if (sa.batch && AXLE_IN(k, 0) != NULL) {
        /* sequence_lens: only full lengths are supported. */
        const struct axle_tensor *sl = k->in[0];
        const struct axle_tensor *x0 = AXLE_IN(k, 1 + sa.n_state);
        for (int64_t i = 0; x0 != NULL && x0->rank >= 2 &&
                            i < axle_tensor_numel(sl); i++)
            if (axle_tensor_get_i64(sl, i) != x0->dims[1])
                return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                                    "Scan-8 sequence_lens shorter than the "
                                    "sequence");
    }
    reserve_io(r, cs->b[0].g->n_inputs + 1, cs->b[0].g->n_outputs + 1);
    for (int i = 0; i < sa.n_state; i++) {
        st_in[i] = k->in[base + i];
        if (st_in[i] == NULL || st_in[i]->kind != AXLE_KIND_TENSOR)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "state %d must be a tensor", i);
    }
    for (int i = 0; i < sa.n_scan_in; i++) {
        int64_t a = sa.in_axis[i];
        x[i] = k->in[base + sa.n_state + i];
        if (x[i] == NULL || x[i]->kind != AXLE_KIND_TENSOR ||
            x[i]->dtype == AXLE_DTYPE_STRING || x[i]->rank < 1 + base)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "scan input %d must be a numeric tensor of "
                                "rank >= %d", i, 1 + base);
        if (sa.batch)
            a = 1;
        if (a < 0)
            a += x[i]->rank;
        if (a < 0 || a >= x[i]->rank)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "scan_input_axes[%d] out of range", i);
        axes[i] = (int)a - base;
        if (T >= 0 && x[i]->dims[a] != T)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "scan inputs differ in sequence length");
        T = x[i]->dims[a];
        if (sa.batch) {
            if (i > 0 && x[i]->dims[0] != B)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "scan inputs differ in batch size");
            B = x[i]->dims[0];
        }
    }
    if (!sa.batch) {
        st = scan_core(k, r, cs, &sa, st_in, x, axes, T);
        for (int j = 0; j < sa.n_state && st == AXLE_OK; j++)
            st = set_output(k, j, &r->carry[j]);
        for (int j = 0; j < sa.n_scan_out && st == AXLE_OK; j++) {
            int64_t a = sa.out_axis[j];
            int rk = r->acc[j].count > 0 ? r->acc[j].elem.rank + 1 : 1;
            if (a < 0)
                a += rk;
            if (a < 0 || a >= rk)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "scan_output_axes[%d] out of range", j);
            st = acc_output(k, sa.n_state + j, &r->acc[j],
                            sa.out_rev[j] != 0, (int)a);
        }
        return st;
    }
    /* Scan-8: each batch row is its own scan; rows of the outputs are
     * written as they come (shapes fixed by the first row). */
    if (B < 1)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "Scan-8 with an empty batch");
    for (int64_t b = 0; b < B; b++) {
        for (int i = 0; i < sa.n_state; i++) {
            struct axle_tensor *rw = &rows[i];
            *rw = *st_in[i];
            if (rw->rank < 1 || rw->dims[0] != B)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "state %d is not batch-major", i);
            rw->rank--;
            memmove(rw->dims, rw->dims + 1, (size_t)rw->rank * sizeof(int64_t));
            rw->cap_bytes = (size_t)axle_tensor_nbytes(rw);
            rw->data = (uint8_t *)st_in[i]->data + (size_t)b * rw->cap_bytes;
            rw->owns_data = 0;
            srow[i] = rw;
        }
        for (int i = 0; i < sa.n_scan_in; i++) {
            struct axle_tensor *rw = &rows[64 + i];
            *rw = *x[i];
            rw->rank--;
            memmove(rw->dims, rw->dims + 1, (size_t)rw->rank * sizeof(int64_t));
            rw->cap_bytes = (size_t)axle_tensor_nbytes(rw);
            rw->data = (uint8_t *)x[i]->data + (size_t)b * rw->cap_bytes;
            rw->owns_data = 0;
            xrow[i] = rw;
        }
        st = scan_core(k, r, cs, &sa, srow, xrow, axes, T);
        if (st != AXLE_OK)
            return st;
        for (int j = 0; j < k->n_outputs; j++) {
            struct axle_tensor *o = k->out[j];
            const struct axle_tensor *src;
            struct acc *a = j >= sa.n_state ? &r->acc[j - sa.n_state] : NULL;
            int64_t nb;
            struct axle_tensor shape;
            if (o == NULL)
                continue;
            src = a ? &a->elem : &r->carry[j];
            if (a != NULL && a->count == 0)
                return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                                    "Scan-8 over an empty sequence");
            shape = *src;
            shape.rank = src->rank + (a ? 2 : 1);
            if (shape.rank > AXLE_MAX_RANK || src->kind != AXLE_KIND_TENSOR)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Scan-8 output %d too deep", j);
            shape.dims[0] = B;
            if (a)
                shape.dims[1] = a->count;
            for (int d = 0; d < src->rank; d++)
                shape.dims[d + (a ? 2 : 1)] = src->dims[d];
            if (b == 0) {
                o->kind = AXLE_KIND_TENSOR;
                o->dtype = src->dtype;
                o->rank = shape.rank;
                memcpy(o->dims, shape.dims, sizeof(o->dims));
                st = axle_kctx_place(k, j);
                if (st != AXLE_OK)
                    return st;
            } else if (o->rank != shape.rank || o->dtype != src->dtype ||
                       memcmp(o->dims, shape.dims,
                              (size_t)o->rank * sizeof(int64_t)) != 0) {
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Scan-8 batch rows differ in shape");
            }
            if (src->dtype == AXLE_DTYPE_STRING)
                return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                                    "Scan-8 string outputs");
            nb = axle_tensor_nbytes(o) / B;
            if (a != NULL) {
                for (int64_t t = 0; t < a->count; t++)
                    memcpy((uint8_t *)o->data + (size_t)(b * nb) +
                               (size_t)t * a->elem_bytes,
                           a->buf + (size_t)t * a->elem_bytes,
                           a->elem_bytes);
            } else if (nb > 0) {
                memcpy((uint8_t *)o->data + (size_t)(b * nb), src->data,
                       (size_t)nb);
            }
        }
    }
    return AXLE_OK;
}

const struct axle_op axle_op_scan = {
    .name = "Scan", .domain = "", .min_inputs = 0, .max_inputs = -1,
    .min_outputs = 1, .max_outputs = -1, .infer = scan_infer,
    .run = scan_run, .prepare = scan_prepare, .release = cf_release,
    .run_state_free = cf_run_free, .places_outputs = true,
    .containers = true,
};

/* ---- SequenceMap ----------------------------------------------------------- */

/* SequenceMap-17: body runs once per element of the first input (a
 * sequence); sequence inputs give their i-th element, tensor inputs are
 * passed whole; each body output is appended to output sequence j. */
static enum axle_status seqmap_infer(struct axle_kctx *k)
{
    const struct axle_graph *b = graph_attr(k, "body");

    if (b == NULL || b->n_inputs - b->n_outer != n_explicit(k) ||
        b->n_outputs != k->n_outputs)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "SequenceMap body does not match the node");
    if (k->in[0] != NULL && k->in[0]->kind != AXLE_KIND_SEQUENCE &&
        k->in[0]->dtype != AXLE_DTYPE_UNDEFINED)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input 0 must be a sequence");
    for (int j = 0; j < k->n_outputs; j++) {
        if (k->out[j] == NULL)
            continue;
        info_from(b, j, k->out[j], 0);
        k->out[j]->kind = AXLE_KIND_SEQUENCE;
        k->out[j]->rank = -1;
    }
    return AXLE_OK;
}

static enum axle_status seqmap_prepare(struct axle_kctx *k, void **state)
{
    struct cf_state *s;
    const struct axle_tensor **hint;
    enum axle_status st = seqmap_infer(k);
    int n = n_explicit(k);

    if (st != AXLE_OK)
        return st;
    s = axle_xcalloc(1, sizeof(*s));
    hint = axle_xcalloc((size_t)n + 1, sizeof(*hint));
    for (int i = 0; i < n; i++)
        if (k->in[i] != NULL && k->in[i]->kind == AXLE_KIND_TENSOR)
            hint[i] = k->in[i];
    st = body_make(k, graph_attr(k, "body"), n, hint, &s->b[0]);
    axle_free(hint);
    s->n_bodies = 1;
    if (st != AXLE_OK) {
        cf_release(s);
        return st;
    }
    *state = s;
    return AXLE_OK;
}

static enum axle_status seqmap_run(struct axle_kctx *k)
{
    const struct cf_state *cs = k->state;
    struct cf_run *r = run_state(k);
    int n = n_explicit(k);
    int64_t len;
    enum axle_status st = AXLE_OK;

    if (cs == NULL || r == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL, "SequenceMap without state");
    for (int i = 0; i < n; i++)
        if (k->in[i] == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "input %d is missing", i);
    if (k->in[0]->kind != AXLE_KIND_SEQUENCE)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input 0 must be a sequence");
    len = k->in[0]->n_items;
    for (int i = 1; i < n; i++)
        if (k->in[i]->kind == AXLE_KIND_SEQUENCE &&
            k->in[i]->n_items != len)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "sequences differ in length (%d vs %lld)",
                                k->in[i]->n_items, (long long)len);
    reserve_io(r, cs->b[0].g->n_inputs + 1, cs->b[0].g->n_outputs + 1);
    for (int j = 0; j < k->n_outputs && st == AXLE_OK; j++) {
        if (k->out[j] == NULL)
            continue;
        k->out[j]->kind = AXLE_KIND_SEQUENCE;
        st = axle_kctx_place(k, j);
    }
    for (int64_t t = 0; t < len && st == AXLE_OK; t++) {
        st = iter_check(k, t, 0);
        for (int i = 0; i < n; i++) {
            r->ins[i] = k->in[i]->kind == AXLE_KIND_SEQUENCE
                            ? k->in[i]->items[t] : *k->in[i];
            r->ins[i].owns_data = 0;
        }
        if (st == AXLE_OK)
            st = body_run(k, r, cs, 0);
        for (int j = 0; j < k->n_outputs && st == AXLE_OK; j++) {
            struct axle_tensor *o = k->out[j];
            if (o == NULL)
                continue;
            if (r->outs[j].kind != AXLE_KIND_TENSOR)
                return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                                    "SequenceMap body outputs must be "
                                    "tensors");
            st = axle_seq_insert(o, o->n_items, &r->outs[j], k->err);
            o->dtype = r->outs[j].dtype;
        }
    }
    return st;
}

const struct axle_op axle_op_sequence_map = {
    .name = "SequenceMap", .domain = "", .min_inputs = 1, .max_inputs = -1,
    .min_outputs = 1, .max_outputs = -1, .infer = seqmap_infer,
    .run = seqmap_run, .prepare = seqmap_prepare, .release = cf_release,
    .run_state_free = cf_run_free, .places_outputs = true,
    .containers = true,
};
