/*
 * load.c - model loading for the C API: read the file (regular file, size
 * bound checked before reading), detect the format, import, optimize, and
 * describe inputs and outputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "engine/engine.h"
#include "import/lightgbm/lightgbm.h"
#include "import/onnx/onnx.h"
#include "import/xgboost/xgboost.h"
#include "ir/tensor.h"

#define DEFAULT_MAX_MODEL_BYTES ((size_t)2 << 30)

const char *axle_version(void)
{
    return AXLE_VERSION;
}

static void describe(const struct axle_graph *g, int v,
                     struct axle_io_info *io)
{
    const struct axle_value *val = &g->values[v];
    memset(io, 0, sizeof(*io));
    io->name = val->name;
    io->kind = val->info.kind;
    io->dtype = val->info.dtype;
    io->rank = val->info.rank;
    for (int d = 0; d < val->info.rank && d < AXLE_MAX_RANK; d++) {
        int64_t x = val->info.dims[d];
        io->dims[d] = x >= 0 ? x : -1;
        if (x <= -2 && axle_dim_sym_id(x) < g->n_syms)
            io->dim_names[d] = g->syms[axle_dim_sym_id(x)];
    }
}

/* Per-node state from the constant inputs (weight packing, ...), made once
 * per model and shared read-only by every session. */
static enum axle_status prepare_states(struct axle_model *m,
                                       struct axle_err *err)
{
    struct axle_graph *g = m->ir->graph;
    enum axle_status st = AXLE_OK;
    struct axle_scratch scratch = {0};

    int *absorbed = axle_xcalloc((size_t)g->n_values + 1, sizeof(int));
    m->states = axle_xcalloc((size_t)g->n_nodes + 1, sizeof(void *));
    for (int i = 0; i < g->n_nodes && st == AXLE_OK; i++) {
        struct axle_node *n = &g->nodes[i];
        int cap = n->n_inputs > n->n_outputs ? n->n_inputs : n->n_outputs;
        struct axle_tensor *tin, *tout;
        const struct axle_tensor **in;
        struct axle_tensor **out;
        struct axle_kctx k;

        if (n->op->prepare == NULL)
            continue;
        tin = axle_xcalloc((size_t)cap + 1, sizeof(*tin));
        tout = axle_xcalloc((size_t)cap + 1, sizeof(*tout));
        in = axle_xcalloc((size_t)cap + 1, sizeof(*in));
        out = axle_xcalloc((size_t)cap + 1, sizeof(*out));
        for (int j = 0; j < n->n_inputs; j++) {
            int v = n->inputs[j];
            if (v < 0)
                continue;
            tin[j] = g->values[v].info;
            tin[j].data = g->values[v].const_value
                              ? g->values[v].const_value->data : NULL;
            tin[j].owns_data = 0;
            in[j] = &tin[j];
        }
        for (int j = 0; j < n->n_outputs; j++) {
            if (n->outputs[j] < 0)
                continue;
            tout[j] = g->values[n->outputs[j]].info;
            out[j] = &tout[j];
        }
        k = (struct axle_kctx){
            .node = n,
            .opset = strcmp(n->domain, "ai.onnx.ml") == 0 ? g->opset_ml
                                                          : g->opset,
            .n_inputs = n->n_inputs, .in = in,
            .n_outputs = n->n_outputs, .out = out,
            .scratch = &scratch, .graph = g, .err = err,
        };
        st = n->op->prepare(&k, &m->states[i]);
        if (st != AXLE_OK)
            axle_err_prefix(err, "node '%.60s' (%.40s): ", n->name,
                            n->op_type);
        for (int j = 0; j < n->n_inputs && j < 32; j++)
            if ((k.absorbed >> j & 1u) && n->inputs[j] >= 0)
                absorbed[n->inputs[j]]++;
        axle_free(tin);
        axle_free(tout);
        axle_free(in);
        axle_free(out);
    }
    axle_free(scratch.data);
    /* Constants that every consumer absorbed into its state are dead
     * weight: free their bytes (the shape stays for inspection). */
    for (int v = 0; v < g->n_values && st == AXLE_OK; v++) {
        struct axle_tensor *c = g->values[v].const_value;
        if (c != NULL && c->owns_data && c->data != NULL &&
            c->dtype != AXLE_DTYPE_STRING && !g->values[v].is_output &&
            absorbed[v] > 0 && absorbed[v] == g->values[v].n_consumers) {
            axle_free(c->data);
            c->data = NULL;
            c->cap_bytes = 0;
        }
    }
    axle_free(absorbed);
    return st;
}

static void release_states(struct axle_model *m)
{
    if (m->states == NULL)
        return;
    for (int i = 0; i < m->ir->graph->n_nodes; i++)
        if (m->states[i] != NULL && m->ir->graph->nodes[i].op->release)
            m->ir->graph->nodes[i].op->release(m->states[i]);
    axle_free(m->states);
    m->states = NULL;
}

static enum axle_status finish(struct axle_ir_model *ir,
                               const struct axle_load_opts *opts,
                               struct axle_model **out, struct axle_err *err)
{
    struct axle_model *m;
    struct axle_graph *g = ir->graph;
    enum axle_status st;

    /* Input descriptions are taken before optimizing so that declared
     * dims survive; outputs after, with inferred shapes. */
    if (opts != NULL && opts->no_optimize)
        st = axle_engine_infer_shapes(g, err);
    else
        st = axle_engine_optimize(g, err);
    if (st != AXLE_OK) {
        axle_ir_model_free(ir);
        return st;
    }
    m = axle_xcalloc(1, sizeof(*m));
    atomic_init(&m->refcount, 1);
    m->ir = ir;
    m->n_inputs = g->n_inputs;
    m->n_outputs = g->n_outputs;
    m->inputs = axle_xcalloc((size_t)g->n_inputs + 1, sizeof(*m->inputs));
    m->outputs = axle_xcalloc((size_t)g->n_outputs + 1, sizeof(*m->outputs));
    for (int i = 0; i < g->n_inputs; i++)
        describe(g, g->inputs[i], &m->inputs[i]);
    for (int i = 0; i < g->n_outputs; i++)
        describe(g, g->outputs[i], &m->outputs[i]);
    st = prepare_states(m, err);
    if (st != AXLE_OK) {
        axle_model_unref(m);
        return st;
    }
    *out = m;
    return AXLE_OK;
}

enum axle_status axle_engine_submodel_new(const struct axle_graph *g,
                                          const struct axle_tensor *const *hint,
                                          struct axle_model **out,
                                          struct axle_err *err)
{
    struct axle_ir_model *ir;
    struct axle_graph *c;

    *out = NULL;
    c = axle_graph_clone(g);
    if (c == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory copying a subgraph");
    for (int i = 0; hint != NULL && i < c->n_inputs; i++) {
        struct axle_tensor *info = &c->values[c->inputs[i]].info;
        const struct axle_tensor *h = hint[i];
        if (h == NULL)
            continue;
        if (info->kind == AXLE_KIND_TENSOR && info->rank < 0 &&
            info->dtype == AXLE_DTYPE_UNDEFINED) {
            info->kind = h->kind;
            info->elem_kind = h->elem_kind;
            info->rank = h->rank;
            /* The parent's symbolic dims mean nothing here. */
            for (int d = 0; d < h->rank && d < AXLE_MAX_RANK; d++)
                info->dims[d] = h->dims[d] >= 0 ? h->dims[d]
                                                : AXLE_DIM_UNKNOWN;
        }
        if (info->dtype == AXLE_DTYPE_UNDEFINED && info->kind == h->kind)
            info->dtype = h->dtype;
    }
    ir = axle_xcalloc(1, sizeof(*ir));
    ir->graph = c;
    ir->format = axle_xstrdup("onnx");
    return finish(ir, NULL, out, err);
}

static enum axle_status import_bytes(const uint8_t *buf, size_t len,
                                     int dirfd,
                                     const struct axle_load_opts *opts,
                                     struct axle_model **out,
                                     struct axle_err *err)
{
    struct axle_onnx_opts oo = {
        .max_model_bytes = opts ? opts->max_model_bytes : 0,
        .base_dirfd = dirfd,
    };
    struct axle_ir_model *ir = NULL;
    enum axle_status st;

    /* The format is read from the bytes, not the file name. */
    if (axle_xgboost_sniff(buf, len))
        st = axle_xgboost_import(buf, len, &ir, err);
    else if (axle_lightgbm_sniff(buf, len))
        st = axle_lightgbm_import(buf, len, &ir, err);
    else
        st = axle_onnx_import(buf, len, &oo, &ir, err);
    if (st != AXLE_OK)
        return st;
    return finish(ir, opts, out, err);
}

enum axle_status axle_model_load_memory(const void *buf, size_t len,
                                        const struct axle_load_opts *opts,
                                        struct axle_model **out,
                                        struct axle_err *err)
{
    *out = NULL;
    return import_bytes(buf, len, -1, opts, out, err);
}

enum axle_status axle_model_load_file(const char *path,
                                      const struct axle_load_opts *opts,
                                      struct axle_model **out,
                                      struct axle_err *err)
{
    size_t max = opts && opts->max_model_bytes ? opts->max_model_bytes
                                               : DEFAULT_MAX_MODEL_BYTES;
    char dir[PATH_MAX];
    struct stat sb;
    enum axle_status st;
    void *map;
    int fd, dirfd;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return axle_err_set(err, errno == ENOENT ? AXLE_NOT_FOUND
                                                 : AXLE_INVALID_ARGUMENT,
                            "cannot open model file: %s", strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "load failed: not a regular file");
    }
    if ((uint64_t)sb.st_size > max) {
        close(fd);
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "load failed: model file too large (%lld bytes, "
                            "limit %zu)", (long long)sb.st_size, max);
    }
    if (sb.st_size == 0) {
        close(fd);
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "malformed protobuf: empty file");
    }
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "cannot read model file");

    snprintf(dir, sizeof(dir), "%s", path);
    dirfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    st = import_bytes(map, (size_t)sb.st_size, dirfd, opts, out, err);
    if (dirfd >= 0)
        close(dirfd);
    munmap(map, (size_t)sb.st_size);
    return st;
}

struct axle_model *axle_model_ref(struct axle_model *m)
{
    atomic_fetch_add(&m->refcount, 1);
    return m;
}

void axle_model_unref(struct axle_model *m)
{
    if (m == NULL || atomic_fetch_sub(&m->refcount, 1) != 1)
        return;
    release_states(m);
    axle_ir_model_free(m->ir);
    axle_free(m->inputs);
    axle_free(m->outputs);
    axle_free(m);
}

int axle_model_n_inputs(const struct axle_model *m)
{
    return m->n_inputs;
}

int axle_model_n_outputs(const struct axle_model *m)
{
    return m->n_outputs;
}

enum axle_status axle_model_input(const struct axle_model *m, int i,
                                  struct axle_io_info *out)
{
    if (i < 0 || i >= m->n_inputs)
        return AXLE_OUT_OF_RANGE;
    *out = m->inputs[i];
    return AXLE_OK;
}

enum axle_status axle_model_output(const struct axle_model *m, int i,
                                   struct axle_io_info *out)
{
    if (i < 0 || i >= m->n_outputs)
        return AXLE_OUT_OF_RANGE;
    *out = m->outputs[i];
    return AXLE_OK;
}

const char *axle_model_format(const struct axle_model *m)
{
    return m->ir->format ? m->ir->format : "onnx";
}

const char *axle_model_platform(const struct axle_model *m)
{
    const char *f = axle_model_format(m);
    if (strcmp(f, "xgboost") == 0)
        return "xgboost_json";
    if (strcmp(f, "lightgbm") == 0)
        return "lightgbm_text";
    return "onnx_onnxv1";
}

int axle_model_input_index(const struct axle_model *m, const char *name)
{
    for (int i = 0; i < m->n_inputs; i++)
        if (strcmp(m->inputs[i].name, name) == 0)
            return i;
    return -1;
}

int axle_model_output_index(const struct axle_model *m, const char *name)
{
    for (int i = 0; i < m->n_outputs; i++)
        if (strcmp(m->outputs[i].name, name) == 0)
            return i;
    return -1;
}
