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
 *
 * Batches run their leading, activation-heavy nodes depth first, image by
 * image on each pool thread (see "depth-first prefix" below).
 */
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
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
        axle_value_dispose(t);
        axle_free(s->overflow[v]);
        s->overflow[v] = NULL;
    }
    for (int i = 0; s->run_states != NULL && i < g->n_nodes; i++) {
        if (s->run_states[i] != NULL && g->nodes[i].op->run_state_free)
            g->nodes[i].op->run_state_free(s->run_states[i]);
        s->run_states[i] = NULL;
    }
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool axle_engine_deadline_passed(uint64_t deadline_ns)
{
    return deadline_ns != 0 && mono_ns() >= deadline_ns;
}

void axle_session_set_deadline(struct axle_session *s, uint64_t deadline_ns)
{
    s->deadline_ns = deadline_ns;
}

void axle_session_set_timing(struct axle_session *s, int on)
{
    if (on && s->node_ns == NULL)
        s->node_ns = axle_xcalloc((size_t)s->g->n_nodes + 1,
                                  sizeof(*s->node_ns));
    for (int i = 0; s->node_ns != NULL && i < s->g->n_nodes; i++)
        atomic_store_explicit(&s->node_ns[i], 0, memory_order_relaxed);
    s->timing = on != 0;
}

int axle_session_n_nodes(const struct axle_session *s)
{
    return s->g->n_nodes;
}

int axle_session_node_timing(const struct axle_session *s, int i,
                             struct axle_node_timing *out)
{
    const struct axle_node *n;

    if (i < 0 || i >= s->g->n_nodes)
        return -1;
    n = &s->g->nodes[i];
    out->name = n->name != NULL ? n->name : "";
    out->op_type = n->op_type;
    out->fused = axle_act_name(n->fused_act);
    out->output = n->n_outputs > 0 && n->outputs[0] >= 0
                      ? &s->vals[n->outputs[0]] : NULL;
    out->ns = s->node_ns != NULL
                  ? atomic_load_explicit(&s->node_ns[i], memory_order_relaxed)
                  : 0;
    return 0;
}

/* Node i took ns (from any thread). */
static void node_time_add(struct axle_session *s, int i, uint64_t ns)
{
    atomic_fetch_add_explicit(&s->node_ns[i], ns, memory_order_relaxed);
}

static void free_img_slots(struct axle_session *s)
{
    for (int i = 0; s->img_slots != NULL && i < s->n_img_slots; i++) {
        struct axle_img_slot *sl = &s->img_slots[i];
        axle_free(sl->arena);
        axle_free(sl->scratch.data);
        axle_free(sl->views);
        axle_free(sl->in);
        axle_free(sl->out);
    }
    axle_free(s->img_slots);
    axle_free(s->img_local);
    axle_free(s->img_needed);
    axle_plan_dispose(&s->img_plan);
}

void axle_session_free(struct axle_session *s)
{
    if (s == NULL)
        return;
    free_img_slots(s);
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
    axle_free(s->run_states);
    axle_free(s->node_ns);
    if (!s->pool_borrowed)
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

        if (t->kind != want->kind)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "input '%.80s': expected a %s, got a %s",
                                val->name, axle_kind_name(want->kind),
                                axle_kind_name(t->kind));
        if (t->kind != AXLE_KIND_TENSOR) {
            /* Items are checked by the operators that read them. */
            if (t->n_items < 0 || (t->n_items > 0 && t->items == NULL) ||
                (t->kind == AXLE_KIND_OPTIONAL && t->n_items > 1))
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "input '%.80s': malformed %s", val->name,
                                    axle_kind_name(t->kind));
            s->vals[g->inputs[i]] = *t;
            s->vals[g->inputs[i]].owns_data = 0;
            continue;
        }
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

    if (t->kind != AXLE_KIND_TENSOR) {
        /* Sequences own heap items the kernel builds (sizes vary per
         * run, so they are never in the arena). */
        axle_value_dispose(t);
        return AXLE_OK;
    }
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
        .session = s,
        .run_state = &s->run_states[i],
        .deadline_ns = s->deadline_ns,
    };
    if (s->deadline_ns != 0 && axle_engine_deadline_passed(s->deadline_ns))
        return axle_err_set(err, AXLE_DEADLINE_EXCEEDED,
                            "deadline exceeded");
    for (int j = 0; j < n->n_outputs; j++)
        if (s->out_buf[j] != NULL && s->out_buf[j]->kind != AXLE_KIND_TENSOR)
            axle_value_dispose(s->out_buf[j]); /* last run's items */
    st = axle_engine_check_kinds(n, s->in_buf, err);
    if (st != AXLE_OK)
        return st;
    st = n->op->infer(&k);
    if (st != AXLE_OK)
        return st;
    if (n->op->view && s->in_buf[0] != NULL &&
        s->in_buf[0]->kind != AXLE_KIND_TENSOR) {
        /* Identity of a sequence/optional: borrow the input's items,
         * which live until the input is produced again (next run). */
        struct axle_tensor *o = s->out_buf[0];
        const struct axle_tensor *x = s->in_buf[0];
        axle_value_dispose(o);
        *o = *x;
        o->owns_data = 0;
        return AXLE_OK;
    }
    if (n->op->places_outputs)
        return n->op->run(&k);
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

enum axle_status axle_kctx_place(struct axle_kctx *k, int j)
{
    if (k->session == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "operator run outside a session");
    if (j < 0 || j >= k->node->n_outputs || k->node->outputs[j] < 0)
        return AXLE_OK;
    return place(k->session, k->node->outputs[j], k->err);
}

/* ---- depth-first prefix ------------------------------------------------
 *
 * Layer after layer over a whole batch, every activation of the early
 * layers round-trips through the last-level cache: ResNet-18 holds 0.8-3.2
 * MB per image there, so with a batch a layer no longer reads its input
 * from the core's L2 as it does at batch 1 (and a thread often reads
 * lines the other core wrote). The leading run of nodes that treat batch
 * rows independently and whose activations outweigh their weights
 * therefore runs depth first: each pool thread takes whole images through
 * those nodes with single-threaded kernels, keeping the values that live
 * only inside the prefix in its own one-image arena, and writes the
 * prefix's results (values read later) into the batch tensors. The rest
 * of the graph, where weights dominate, runs batch-wide as usual. Kernels
 * give a row the same bits at any batch size and thread count
 * (tests/unit/test_batch_inv.c), so the schedule changes no result.
 */

/* ResNet-18, batch 8, 2 threads (dev VM, interleaved runs): a limit of 1
 * (the prefix ends at layer2's first 3x3 conv, weights 1.5x its output)
 * and 4 (ends at layer3, weights 6x) were equal within noise; running
 * every conv depth first (layer4: weights 94x) was 5 % slower. */
#define PREFIX_W_PER_ROW 4

/* Operators whose output rows depend only on the same rows of their
 * inputs (with one output: MaxPool without Indices, BatchNormalization
 * in inference mode). */
static bool rowwise_op(const struct axle_node *n)
{
    static const char *const ops[] = {
        "Conv", "MaxPool", "AveragePool", "BatchNormalization", "Relu",
        "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
        "Add", "Sub", "Mul", "Div",
    };

    if (n->domain[0] != '\0')
        return false;
    for (int j = 1; j < n->n_outputs; j++)
        if (n->outputs[j] >= 0)
            return false; /* Indices, batch statistics */
    if (strcmp(n->op->name, "BatchNormalization") == 0 &&
        axle_node_attr_int(n, "training_mode", 0) != 0)
        return false;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(n->op->name, ops[i]) == 0)
            return true;
    return false;
}

/* Bytes of one row of value info t whose first dim is the batch symbol
 * bsym and whose other dims are known; -1 otherwise. */
static int64_t row_bytes(const struct axle_tensor *t, int64_t bsym)
{
    struct axle_tensor r;

    if (t->rank < 1 || t->dims[0] != bsym ||
        t->dtype == AXLE_DTYPE_UNDEFINED || t->dtype == AXLE_DTYPE_STRING)
        return -1;
    r = *t;
    r.dims[0] = 1;
    return axle_tensor_nbytes(&r);
}

/* Finds the prefix: the leading nodes that are row-wise over the batch
 * symbol of input 0 and, for convolutions, whose weights are at most
 * PREFIX_W_PER_ROW times one image's output (past that point sharing the
 * weights across the batch pays more than keeping activations in cache). */
static void plan_prefix(struct axle_session *s)
{
    struct axle_graph *g = s->g;
    int64_t bsym;
    int n = 0, n_conv = 0;

    if (axle_pool_size(s->pool) < 2 || g->n_inputs < 1)
        return;
    bsym = g->values[g->inputs[0]].info.dims[0];
    if (g->values[g->inputs[0]].info.rank < 1 || bsym > -2)
        return;
    for (; n < g->n_nodes; n++) {
        const struct axle_node *nd = &g->nodes[n];
        int64_t out_row = -1;
        bool ok = rowwise_op(nd) && nd->n_outputs >= 1 &&
                  nd->outputs[0] >= 0;
        for (int j = 0; ok && j < nd->n_outputs; j++)
            if (nd->outputs[j] >= 0 &&
                row_bytes(&g->values[nd->outputs[j]].info, bsym) < 0)
                ok = false;
        if (ok)
            out_row = row_bytes(&g->values[nd->outputs[0]].info, bsym);
        for (int j = 0; ok && j < nd->n_inputs; j++) {
            const struct axle_value *v;
            if (nd->inputs[j] < 0)
                continue;
            v = &g->values[nd->inputs[j]];
            if (v->const_value == NULL) {
                ok = row_bytes(&v->info, bsym) >= 0;
                continue;
            }
            /* A constant must not run along the batch (it would
             * broadcast its rows over images); Conv's weights are
             * weights. */
            if (strcmp(nd->op->name, "Conv") == 0) {
                if (j == 1 && axle_tensor_nbytes(v->const_value) >
                                  PREFIX_W_PER_ROW * out_row)
                    ok = false;
            } else if (v->const_value->rank ==
                           g->values[nd->outputs[0]].info.rank &&
                       v->const_value->dims[0] != 1) {
                ok = false;
            }
        }
        if (strcmp(nd->op->name, "Conv") == 0 &&
            (nd->n_inputs < 2 || nd->inputs[1] < 0 ||
             g->values[nd->inputs[1]].const_value == NULL))
            ok = false;
        if (!ok)
            break;
        n_conv += strcmp(nd->op->name, "Conv") == 0;
    }
    if (n_conv == 0)
        return;
    s->n_prefix = n;
    s->img_local = axle_xcalloc((size_t)g->n_values + 1, sizeof(bool));
    s->img_needed = axle_xcalloc((size_t)g->n_values + 1, sizeof(int64_t));
    for (int v = 0; v < g->n_values; v++)
        s->img_local[v] = g->values[v].producer >= 0 &&
                          g->values[v].producer < n &&
                          g->values[v].const_value == NULL &&
                          s->plan.last[v] < n;
    axle_plan_lifetimes(g, &s->img_plan);
    s->n_img_slots = axle_pool_size(s->pool);
    s->img_slots = axle_xcalloc((size_t)s->n_img_slots, sizeof(*s->img_slots));
    for (int i = 0; i < s->n_img_slots; i++) {
        struct axle_img_slot *sl = &s->img_slots[i];
        sl->views = axle_xcalloc(2 * (size_t)s->max_io + 1, sizeof(*sl->views));
        sl->in = axle_xcalloc((size_t)s->max_io + 1, sizeof(*sl->in));
        sl->out = axle_xcalloc((size_t)s->max_io + 1, sizeof(*sl->out));
    }
}

/* Row `img` of value v for a one-image kernel call: in the slot's arena
 * for values local to the prefix, else a row of the batch tensor. */
static void img_view(const struct axle_session *s,
                     const struct axle_img_slot *sl, int v, int64_t img,
                     struct axle_tensor *t)
{
    const struct axle_tensor *full = &s->vals[v];

    *t = *full;
    t->dims[0] = 1;
    t->owns_data = 0;
    t->cap_bytes = (size_t)axle_tensor_nbytes(t);
    if (s->img_local[v])
        t->data = (char *)sl->arena + s->img_plan.offset[v];
    else
        t->data = (char *)full->data + (size_t)img * t->cap_bytes;
}

/* Runs prefix node i on image img with the slot's memory; pool == NULL:
 * single-threaded. */
static enum axle_status run_img_node(struct axle_session *s,
                                     struct axle_img_slot *sl, int i,
                                     int64_t img, struct axle_pool *pool,
                                     struct axle_scratch *scratch)
{
    struct axle_graph *g = s->g;
    struct axle_node *n = &g->nodes[i];
    struct axle_kctx k;

    for (int j = 0; j < n->n_inputs; j++) {
        int v = n->inputs[j];
        sl->in[j] = NULL;
        if (v < 0)
            continue;
        if (g->values[v].const_value != NULL) {
            sl->in[j] = &s->vals[v];
            continue;
        }
        img_view(s, sl, v, img, &sl->views[j]);
        sl->in[j] = &sl->views[j];
    }
    for (int j = 0; j < n->n_outputs; j++) {
        int v = n->outputs[j];
        sl->out[j] = NULL;
        if (v < 0)
            continue;
        img_view(s, sl, v, img, &sl->views[s->max_io + j]);
        sl->out[j] = &sl->views[s->max_io + j];
    }
    k = (struct axle_kctx){
        .node = n,
        .opset = strcmp(n->domain, "ai.onnx.ml") == 0 ? g->opset_ml
                                                      : g->opset,
        .n_inputs = n->n_inputs,
        .in = sl->in,
        .n_outputs = n->n_outputs,
        .out = sl->out,
        .state = s->model->states[i],
        .pool = pool,
        .scratch = scratch,
        .graph = g,
        .err = &sl->err,
    };
    return n->op->run(&k);
}

/* One pool task per slot: whole images, claimed one at a time, slot t
 * first from its own share [t n / T, (t + 1) n / T) - the images whose
 * rows the batch-wide layers after the prefix give its thread (see
 * cblk_slot in kernels/conv.c) - then from the others'. */
static bool next_img(struct axle_session *s, int slot, int64_t *img)
{
    for (int r = 0; r < s->n_img_slots; r++) {
        struct axle_img_slot *sl = &s->img_slots[(slot + r) % s->n_img_slots];
        if (atomic_load_explicit(&sl->next, memory_order_relaxed) >= sl->end)
            continue;
        *img = atomic_fetch_add_explicit(&sl->next, 1, memory_order_relaxed);
        if (*img < sl->end)
            return true;
    }
    return false;
}

static void prefix_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    struct axle_session *s = ctx;
    struct axle_img_slot *sl = &s->img_slots[begin];
    int64_t img;

    (void)end;
    (void)tid;
    while (sl->st == AXLE_OK && next_img(s, (int)begin, &img)) {
        for (int i = 0; i < s->n_prefix; i++) {
            uint64_t t0 = s->timing ? mono_ns() : 0;
            sl->st = run_img_node(s, sl, i, img, NULL, &sl->scratch);
            if (s->timing)
                node_time_add(s, i, mono_ns() - t0);
            if (sl->st != AXLE_OK) {
                axle_err_prefix(&sl->err, "node '%.60s' (%.40s): ",
                                s->g->nodes[i].name,
                                s->g->nodes[i].op_type);
                return;
            }
        }
    }
}

/* Sizes the slot arenas for the one-image values seen so far. */
static enum axle_status replan_img(struct axle_session *s,
                                   struct axle_err *err)
{
    struct axle_graph *g = s->g;

    for (int v = 0; v < g->n_values; v++)
        s->img_plan.size[v] = s->img_local[v] ? s->img_needed[v] : 0;
    axle_plan_offsets(&s->img_plan);
    for (int i = 0; i < s->n_img_slots; i++) {
        struct axle_img_slot *sl = &s->img_slots[i];
        size_t bytes = (size_t)(s->img_plan.arena_bytes ? s->img_plan.arena_bytes
                                                        : 64);
        if (sl->arena_bytes >= bytes)
            continue;
        axle_free(sl->arena);
        sl->arena_bytes = 0;
        sl->arena = axle_try_aligned(bytes);
        if (sl->arena == NULL)
            return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                                "out of memory for activations (%zu bytes)",
                                bytes);
        sl->arena_bytes = bytes;
    }
    s->img_replan = false;
    return AXLE_OK;
}

/* The prefix for a batch of n_img images: shapes and the batch tensors of
 * its results first (in node order, on this thread), then the images.
 * A last image that would leave threads idle (n_img not a multiple of
 * the slots) runs with intra-op threads instead. */
static enum axle_status run_prefix(struct axle_session *s, int64_t n_img,
                                   struct axle_err *err)
{
    struct axle_graph *g = s->g;
    int64_t n_par = n_img - n_img % s->n_img_slots;

    for (int i = 0; i < s->n_prefix; i++) {
        struct axle_node *n = &g->nodes[i];
        enum axle_status st;
        struct axle_kctx k;
        for (int j = 0; j < n->n_inputs; j++)
            s->in_buf[j] = n->inputs[j] >= 0 ? &s->vals[n->inputs[j]] : NULL;
        for (int j = 0; j < n->n_outputs; j++)
            s->out_buf[j] = n->outputs[j] >= 0 ? &s->vals[n->outputs[j]]
                                               : NULL;
        k = (struct axle_kctx){
            .node = n, .opset = g->opset, .n_inputs = n->n_inputs,
            .in = s->in_buf, .n_outputs = n->n_outputs, .out = s->out_buf,
            .state = s->model->states[i], .pool = s->pool,
            .scratch = &s->scratch, .graph = g, .err = err,
        };
        st = n->op->infer(&k);
        for (int j = 0; st == AXLE_OK && j < n->n_outputs; j++) {
            int v = n->outputs[j];
            int64_t nb;
            if (v < 0)
                continue;
            if (!s->img_local[v]) {
                st = place(s, v, err);
                continue;
            }
            nb = axle_tensor_nbytes(&s->vals[v]);
            if (nb < 0 || s->vals[v].dims[0] != n_img) {
                st = axle_err_set(err, AXLE_INTERNAL,
                                  "value '%.80s': not batch-major",
                                  g->values[v].name);
                break;
            }
            /* The batch-wide plan keeps room for the layer-by-layer path
             * (a batch of one), so switching allocates nothing. */
            if (nb > s->needed[v])
                s->needed[v] = nb;
            if (nb / n_img > s->img_needed[v]) {
                s->img_needed[v] = nb / n_img;
                if (s->img_needed[v] > s->img_plan.size[v])
                    s->img_replan = true;
            }
        }
        if (st != AXLE_OK) {
            axle_err_prefix(err, "node '%.60s' (%.40s): ", n->name,
                            n->op_type);
            return st;
        }
    }
    if (s->img_replan) {
        enum axle_status st = replan_img(s, err);
        if (st != AXLE_OK)
            return st;
    }
    for (int i = 0; i < s->n_img_slots; i++) {
        struct axle_img_slot *sl = &s->img_slots[i];
        sl->st = AXLE_OK;
        atomic_init(&sl->next, i * n_par / s->n_img_slots);
        sl->end = (i + 1) * n_par / s->n_img_slots;
    }
    axle_pool_parallel_for(s->pool, s->n_img_slots, 1, prefix_task, s);
    /* Thread time summed over the slots, as a share of the wall. */
    for (int i = 0; s->timing && i < s->n_prefix; i++)
        atomic_store_explicit(&s->node_ns[i],
                              atomic_load_explicit(&s->node_ns[i],
                                                   memory_order_relaxed) /
                                  (uint64_t)s->n_img_slots,
                              memory_order_relaxed);
    for (int i = 0; i < s->n_img_slots; i++) {
        if (s->img_slots[i].st != AXLE_OK) {
            *err = s->img_slots[i].err;
            return s->img_slots[i].st;
        }
    }
    for (int64_t img = n_par; img < n_img; img++) {
        struct axle_img_slot *sl = &s->img_slots[0];
        for (int i = 0; i < s->n_prefix; i++) {
            uint64_t t0 = s->timing ? mono_ns() : 0;
            enum axle_status st =
                run_img_node(s, sl, i, img, s->pool, &s->scratch);
            if (s->timing)
                node_time_add(s, i, mono_ns() - t0);
            if (st != AXLE_OK) {
                *err = sl->err;
                axle_err_prefix(err, "node '%.60s' (%.40s): ",
                                g->nodes[i].name, g->nodes[i].op_type);
                return st;
            }
        }
    }
    return AXLE_OK;
}

static enum axle_status run_graph(struct axle_session *s, struct axle_err *err)
{
    const struct axle_tensor *x0 =
        s->g->n_inputs > 0 ? &s->vals[s->g->inputs[0]] : NULL;
    int first = 0;

    for (int i = 0; s->timing && i < s->g->n_nodes; i++)
        atomic_store_explicit(&s->node_ns[i], 0, memory_order_relaxed);
    /* At least an image per thread: fewer would leave threads idle (the
     * batch-wide schedule splits every layer instead). */
    if (s->n_prefix > 0 && x0->rank >= 1 && x0->dims[0] >= s->n_img_slots) {
        enum axle_status st = run_prefix(s, x0->dims[0], err);
        if (st != AXLE_OK)
            return st;
        first = s->n_prefix;
    }
    for (int i = first; i < s->g->n_nodes; i++) {
        uint64_t t0 = s->timing ? mono_ns() : 0;
        enum axle_status st = run_node(s, i, err);
        if (s->timing)
            node_time_add(s, i, mono_ns() - t0);
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
    if (s->iter_budget == &s->iter_budget_own)
        s->iter_budget_own = AXLE_LOOP_MAX_ITERS;
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

    /* Control flow: the body's sizes depend on the data (and a Loop on
     * zeros could run to its iteration cap), so such models plan on their
     * first run. */
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op->places_outputs)
            return false;
    ins = axle_xcalloc((size_t)g->n_inputs + 1, sizeof(*ins));
    outs = axle_xcalloc((size_t)g->n_outputs + 1, sizeof(*outs));
    bufs = axle_xcalloc((size_t)g->n_inputs + 1, sizeof(*bufs));
    for (int i = 0; i < g->n_inputs && ok; i++) {
        const struct axle_tensor *w = &g->values[g->inputs[i]].info;
        int64_t nb;
        if (w->rank < 0 || w->dtype == AXLE_DTYPE_UNDEFINED ||
            w->dtype == AXLE_DTYPE_STRING || w->kind != AXLE_KIND_TENSOR) {
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

/* pool != NULL: a nested session borrowing its parent's pool, planned on
 * its first run. */
static enum axle_status session_make(struct axle_model *m,
                                     const struct axle_session_opts *opts,
                                     struct axle_pool *pool,
                                     struct axle_session **out,
                                     struct axle_err *err)
{
    struct axle_session *s;
    struct axle_graph *g = m->ir->graph;
    enum axle_status st = AXLE_OK;
    int n_threads = opts && opts->n_threads > 0 ? opts->n_threads
                                                : default_threads();

    *out = NULL;
    s = axle_xcalloc(1, sizeof(*s));
    s->model = axle_model_ref(m);
    s->g = g;
    s->max_batch = opts && opts->max_batch > 0 ? opts->max_batch : 1;
    s->iter_budget = &s->iter_budget_own;
    if (pool != NULL) {
        s->pool = pool;
        s->pool_borrowed = true;
    } else {
        st = axle_pool_new(n_threads, &s->pool);
    }
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
    s->run_states = axle_xcalloc((size_t)g->n_nodes + 1, sizeof(void *));
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
    if (pool == NULL)
        plan_prefix(s);

    s->replan = true;
    /* Reserve for max_batch now; if the dry run cannot run (unknown dims,
     * data-dependent failure), planning happens on the first real run. */
    if (pool == NULL && dry_run(s) && s->replan) {
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

enum axle_status axle_session_new(struct axle_model *m,
                                  const struct axle_session_opts *opts,
                                  struct axle_session **out,
                                  struct axle_err *err)
{
    return session_make(m, opts, NULL, out, err);
}

enum axle_status axle_engine_subsession_new(struct axle_model *m,
                                            struct axle_session *parent,
                                            struct axle_session **out,
                                            struct axle_err *err)
{
    enum axle_status st = session_make(m, NULL, parent->pool, out, err);
    if (st == AXLE_OK)
        (*out)->iter_budget = parent->iter_budget;
    return st;
}
