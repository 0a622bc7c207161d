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
#include "import/onnx/onnx.h"
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
    io->dtype = val->info.dtype;
    io->rank = val->info.rank;
    for (int d = 0; d < val->info.rank && d < AXLE_MAX_RANK; d++) {
        int64_t x = val->info.dims[d];
        io->dims[d] = x >= 0 ? x : -1;
        if (x <= -2 && axle_dim_sym_id(x) < g->n_syms)
            io->dim_names[d] = g->syms[axle_dim_sym_id(x)];
    }
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
    *out = m;
    return AXLE_OK;
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
