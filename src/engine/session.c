/*
 * session.c - sessions and the executor.
 *
 * A session binds a model to a thread pool, per-node prepared state (packed
 * weights, ...) and a memory plan. Runs walk the nodes in topological order:
 * infer concrete output shapes, place each output in its arena slot (views
 * alias their input), call the kernel.
 *
 * Allocation policy: the plan is made at creation for max_batch by a dry run
 * on zero inputs (when every input dim is then known). A run whose values
 * fit their slots allocates nothing. A value that outgrows its slot gets a
 * heap buffer for that run and the arena is re-planned before the next run,
 * so steady state returns to zero allocations.
 */
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "engine/engine.h"
#include "ir/tensor.h"

void *axle_kctx_scratch(struct axle_kctx *k, size_t bytes)
{
    struct axle_scratch *s = k->scratch;
    if (s == NULL)
        return NULL;
    if (bytes > s->cap) {
        void *p = axle_try_aligned(bytes);
        if (p == NULL)
            return NULL;
        axle_free(s->data);
        s->data = p;
        s->cap = bytes;
    }
    return s->data;
}

static int default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void free_strings(struct axle_tensor *t)
{
    if (t->dtype == AXLE_DTYPE_STRING && t->owns_data && t->data != NULL) {
        char **s = t->data;
        size_t n = t->cap_bytes / sizeof(char *);
        for (size_t i = 0; i < n; i++) {
            axle_free(s[i]);
            s[i] = NULL;
        }
    }
}

static void release_runtime(struct axle_session *s)
{
    struct axle_graph *g = s->g;
    for (int v = 0; v < g->n_values; v++) {
        struct axle_tensor *t = &s->vals[v];
        if (t->owns_data) {
            free_strings(t);
            axle_free(t->data);
        }
        t->owns_data = 0;
        t->data = NULL;
        axle_free(s->overflow[v]);
        s->overflow[v] = NULL;
    }
}

void axle_session_free(struct axle_session *s)
{
    if (s == NULL)
        return;
    if (s->vals != NULL)
        release_runtime(s);
    axle_free(s->vals);
    axle_free(s->overflow);
    axle_free(s->needed);
    axle_plan_dispose(&s->plan);
    axle_free(s->arena);
    axle_free(s->scratch.data);
    axle_free(s->in_buf);
    axle_free(s->out_buf);
    axle_pool_free(s->pool);
    axle_model_unref(s->model);
    axle_free(s);
}

/* (Re)make the arena from the sizes seen so far. */
static enum axle_status replan(struct axle_session *s, struct axle_err *err)
{
    struct axle_graph *g = s->g;
    void *arena;

    for (int v = 0; v < g->n_values; v++) {
        s->plan.size[v] = s->needed[v];
        axle_free(s->overflow[v]);
        s->overflow[v] = NULL;
    }
    axle_plan_offsets(&s->plan);
    arena = axle_try_aligned((size_t)(s->plan.arena_bytes ? s->plan.arena_bytes
                                                          : 64));
    if (arena == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory for activations (%lld bytes)",
                            (long long)s->plan.arena_bytes);
    axle_free(s->arena);
    s->arena = arena;
    s->replan = false;
    return AXLE_OK;
}

static enum axle_status bind_inputs(struct axle_session *s, int n_inputs,
                                    const struct axle_tensor *inputs,
                                    struct axle_err *err)
{
    struct axle_graph *g = s->g;
    int64_t sym_val[64];
    int n_sym = g->n_syms < 64 ? g->n_syms : 64;

    if (n_inputs != g->n_inputs)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "expected %d inputs, got %d", g->n_inputs,
                            n_inputs);
    for (int i = 0; i < n_sym; i++)
        sym_val[i] = -1;
    for (int i = 0; i < n_inputs; i++) {
        const struct axle_value *val = &g->values[g->inputs[i]];
        const struct axle_tensor *t = &inputs[i];
        const struct axle_tensor *want = &val->info;
        int64_t nbytes;

        if (want->dtype != AXLE_DTYPE_UNDEFINED && t->dtype != want->dtype)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "input '%.80s': expected dtype %s, got %s",
                                val->name, axle_dtype_name(want->dtype),
                                axle_dtype_name(t->dtype));
        if (t->rank < 0 || t->rank > AXLE_MAX_RANK ||
            (want->rank >= 0 && t->rank != want->rank))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "input '%.80s': expected rank %d, got %d",
                                val->name, want->rank, t->rank);
        for (int d = 0; d < t->rank; d++) {
            int64_t w = want->rank >= 0 ? want->dims[d] : AXLE_DIM_UNKNOWN;
            if (t->dims[d] < 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "input '%.80s': negative dimension %d",
                                    val->name, d);
            if (w >= 0 && t->dims[d] != w)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "input '%.80s': dimension %d expected "
                                    "%lld, got %lld", val->name, d,
                                    (long long)w, (long long)t->dims[d]);
            if (w <= -2 && axle_dim_sym_id(w) < n_sym) {
                int64_t *sv = &sym_val[axle_dim_sym_id(w)];
                if (*sv >= 0 && *sv != t->dims[d])
                    return axle_err_set(
                        err, AXLE_INVALID_ARGUMENT,
                        "input '%.80s': dimension %d ('%.40s') is %lld but "
                        "another input has %lld", val->name, d,
                        g->syms[axle_dim_sym_id(w)], (long long)t->dims[d],
                        (long long)*sv);
                *sv = t->dims[d];
            }
        }
        nbytes = axle_tensor_nbytes(t);
        if (nbytes < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "input '%.80s': tensor too large", val->name);
        if (nbytes > 0 && t->data == NULL)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "input '%.80s': no data", val->name);
        s->vals[g->inputs[i]] = *t;
        s->vals[g->inputs[i]].owns_data = 0;
        s->vals[g->inputs[i]].cap_bytes = (size_t)nbytes;
    }
    return AXLE_OK;
}

/* Give output value v storage for this run. */
static enum axle_status place(struct axle_session *s, int v,
                              struct axle_err *err)
{
    struct axle_tensor *t = &s->vals[v];
    int64_t nbytes = axle_tensor_nbytes(t);

    if (nbytes < 0)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "value '%.80s' is too large",
                            s->g->values[v].name);
    if (t->dtype == AXLE_DTYPE_STRING) {
        /* Strings own their elements: a private, zeroed buffer. */
        if (t->owns_data && t->cap_bytes >= (size_t)nbytes) {
            free_strings(t);
            return AXLE_OK;
        }
        if (t->owns_data) {
            free_strings(t);
            axle_free(t->data);
        }
        t->data = axle_try_calloc(1, (size_t)nbytes + 1);
        t->owns_data = t->data != NULL;
        t->cap_bytes = (size_t)nbytes;
        return t->data ? AXLE_OK
                       : axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                                      "out of memory");
    }
    if (nbytes > s->needed[v])
        s->needed[v] = nbytes;
    if (nbytes <= s->plan.size[v] && s->arena != NULL) {
        t->data = (char *)s->arena + s->plan.offset[v];
        t->cap_bytes = (size_t)s->plan.size[v];
        return AXLE_OK;
    }
    /* Outgrew the plan: heap for this run, replan before the next. */
    axle_free(s->overflow[v]);
    s->overflow[v] = axle_try_aligned((size_t)nbytes);
    if (s->overflow[v] == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory (%lld bytes for '%.80s')",
                            (long long)nbytes, s->g->values[v].name);
    s->replan = true;
    t->data = s->overflow[v];
    t->cap_bytes = (size_t)nbytes;
    return AXLE_OK;
}

static enum axle_status run_node(struct axle_session *s, int i,
                                 struct axle_err *err)
{
    struct axle_graph *g = s->g;
    struct axle_node *n = &g->nodes[i];
    enum axle_status st;
    struct axle_kctx k;

    for (int j = 0; j < n->n_inputs; j++)
        s->in_buf[j] = n->inputs[j] >= 0 ? &s->vals[n->inputs[j]] : NULL;
    for (int j = 0; j < n->n_outputs; j++)
        s->out_buf[j] = n->outputs[j] >= 0 ? &s->vals[n->outputs[j]] : NULL;
    k = (struct axle_kctx){
        .node = n,
        .opset = strcmp(n->domain, "ai.onnx.ml") == 0 ? g->opset_ml
                                                      : g->opset,
        .n_inputs = n->n_inputs,
        .in = s->in_buf,
        .n_outputs = n->n_outputs,
        .out = s->out_buf,
        .state = s->model->states[i],
        .pool = s->pool,
        .scratch = &s->scratch,
        .graph = g,
        .err = err,
    };
    st = n->op->infer(&k);
    if (st != AXLE_OK)
        return st;
    if (n->op->view) {
        struct axle_tensor *o = s->out_buf[0];
        const struct axle_tensor *x = s->in_buf[0];
        if (axle_tensor_nbytes(o) != axle_tensor_nbytes(x))
            return axle_err_set(err, AXLE_INTERNAL,
                                "view changes the element count");
        o->data = x->data;
        o->cap_bytes = x->cap_bytes;
        return AXLE_OK;
    }
    for (int j = 0; j < n->n_outputs; j++) {
        if (n->outputs[j] < 0)
            continue;
        st = place(s, n->outputs[j], err);
        if (st != AXLE_OK)
            return st;
    }
    return n->op->run(&k);
}

static enum axle_status run_graph(struct axle_session *s, struct axle_err *err)
{
    for (int i = 0; i < s->g->n_nodes; i++) {
        enum axle_status st = run_node(s, i, err);
        if (st != AXLE_OK) {
            axle_err_prefix(err, "node '%.60s' (%.40s): ",
                            s->g->nodes[i].name, s->g->nodes[i].op_type);
            return st;
        }
    }
    return AXLE_OK;
}

enum axle_status axle_session_run(struct axle_session *s, int n_inputs,
                                  const struct axle_tensor *inputs,
                                  int n_outputs, struct axle_tensor *outputs,
                                  struct axle_err *err)
{
    struct axle_graph *g = s->g;
    enum axle_status st;

    if (n_outputs != g->n_outputs)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "expected %d outputs, got %d", g->n_outputs,
                            n_outputs);
    st = bind_inputs(s, n_inputs, inputs, err);
    if (st != AXLE_OK)
        return st;
    if (s->replan) {
        st = replan(s, err);
        if (st != AXLE_OK)
            return st;
    }
    st = run_graph(s, err);
    if (st != AXLE_OK)
        return st;
    for (int i = 0; i < g->n_outputs; i++) {
        outputs[i] = s->vals[g->outputs[i]];
        outputs[i].owns_data = 0;
    }
    return AXLE_OK;
}

/* Zero inputs at max_batch for the dry run that sizes the arena; returns
 * false when some input dim would still be unknown. */
static bool dry_run(struct axle_session *s)
{
    struct axle_graph *g = s->g;
    struct axle_tensor *ins, *outs;
    void **bufs;
    bool ok = true;
    struct axle_err err;

    ins = axle_xcalloc((size_t)g->n_inputs + 1, sizeof(*ins));
    outs = axle_xcalloc((size_t)g->n_outputs + 1, sizeof(*outs));
    bufs = axle_xcalloc((size_t)g->n_inputs + 1, sizeof(*bufs));
    for (int i = 0; i < g->n_inputs && ok; i++) {
        const struct axle_tensor *w = &g->values[g->inputs[i]].info;
        int64_t nb;
        if (w->rank < 0 || w->dtype == AXLE_DTYPE_UNDEFINED ||
            w->dtype == AXLE_DTYPE_STRING) {
            ok = false;
            break;
        }
        ins[i] = *w;
        for (int d = 0; d < w->rank; d++) {
            if (w->dims[d] >= 0)
                continue;
            if (d == 0)
                ins[i].dims[d] = s->max_batch;
            else
                ok = false;
        }
        nb = axle_tensor_nbytes(&ins[i]);
        if (!ok || nb < 0) {
            ok = false;
            break;
        }
        bufs[i] = axle_try_calloc(1, (size_t)nb + 1);
        if (bufs[i] == NULL) {
            ok = false;
            break;
        }
        ins[i].data = bufs[i];
    }
    if (ok)
        ok = axle_session_run(s, g->n_inputs, ins, g->n_outputs, outs,
                              &err) == AXLE_OK;
    for (int i = 0; i < g->n_inputs; i++)
        axle_free(bufs[i]);
    axle_free(bufs);
    axle_free(ins);
    axle_free(outs);
    return ok;
}

enum axle_status axle_session_new(struct axle_model *m,
                                  const struct axle_session_opts *opts,
                                  struct axle_session **out,
                                  struct axle_err *err)
{
    struct axle_session *s;
    struct axle_graph *g = m->ir->graph;
    enum axle_status st;
    int n_threads = opts && opts->n_threads > 0 ? opts->n_threads
                                                : default_threads();

    *out = NULL;
    s = axle_xcalloc(1, sizeof(*s));
    s->model = axle_model_ref(m);
    s->g = g;
    s->max_batch = opts && opts->max_batch > 0 ? opts->max_batch : 1;
    st = axle_pool_new(n_threads, &s->pool);
    if (st != AXLE_OK) {
        axle_err_set(err, st, "cannot start %d threads", n_threads);
        goto fail;
    }
    s->vals = axle_xcalloc((size_t)g->n_values + 1, sizeof(*s->vals));
    s->overflow = axle_xcalloc((size_t)g->n_values + 1, sizeof(void *));
    s->needed = axle_xcalloc((size_t)g->n_values + 1, sizeof(int64_t));
    for (int i = 0; i < g->n_nodes; i++) {
        int n = g->nodes[i].n_inputs > g->nodes[i].n_outputs
                    ? g->nodes[i].n_inputs : g->nodes[i].n_outputs;
        if (n > s->max_io)
            s->max_io = n;
    }
    s->in_buf = axle_xcalloc((size_t)s->max_io + 1, sizeof(*s->in_buf));
    s->out_buf = axle_xcalloc((size_t)s->max_io + 1, sizeof(*s->out_buf));
    for (int v = 0; v < g->n_values; v++) {
        const struct axle_value *val = &g->values[v];
        s->vals[v] = val->info;
        s->vals[v].data = NULL;
        s->vals[v].owns_data = 0;
        if (val->const_value != NULL) {
            s->vals[v] = *val->const_value;
            s->vals[v].owns_data = 0;
        }
    }
    axle_plan_lifetimes(g, &s->plan);

    s->replan = true;
    /* Reserve for max_batch now; if the dry run cannot run (unknown dims,
     * data-dependent failure), planning happens on the first real run. */
    if (dry_run(s) && s->replan) {
        st = replan(s, err);
        if (st != AXLE_OK)
            goto fail;
    }
    *out = s;
    return AXLE_OK;
fail:
    axle_session_free(s);
    return st;
}
