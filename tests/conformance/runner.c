/*
 * runner.c - ONNX backend node tests through axle's C API.
 *
 * usage: onnx_conformance DATA_DIR [--xfail FILE] [--filter SUBSTR]
 *                         [--label NAME] [--no-op-check] [--max-opset N]
 *                         [-v]
 *
 * DATA_DIR holds ONNX's generated node cases (DATA_DIR/node/test_NAME/ or
 * DATA_DIR/test_NAME/): model.onnx plus test_data_set_N/input_K.pb and
 * output_K.pb (serialized TensorProto, or SequenceProto / OptionalProto
 * where the model's input or output is a sequence or an optional; those
 * compare element by element). A case is skipped when its model
 * uses an operator axle does not implement; otherwise it must load, run and
 * match every output (floats: |got - want| <= atol + rtol * |want| with
 * ONNX's backend defaults rtol 1e-3, atol 1e-7; NaN matches NaN; other types
 * exactly). Failures are fatal unless the case is listed in the xfail file
 * ("test_name  reason"). With an xfail file, a skipped case is a failure too
 * unless it is listed (the training operators, say): every case that does
 * not pass has its reason written down. Every implemented operator must pass
 * at least one case (or be listed as "op:Name  reason"); --no-op-check
 * turns that off for suites that cover few operators (ONNX's `simple`).
 *
 * --max-opset N leaves out cases whose model imports a default-domain opset
 * above N (a current onnx release's suite, run for the opsets axle covers);
 * they are counted on a line of their own, never as passed or skipped.
 *
 * Last line: "LABEL: P passed, F failed, S skipped" (LABEL "onnx-node"
 * unless --label gives another).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "axle/axle.h"
#include "base/alloc.h"
#include "import/onnx/onnx.h"
#include "onnx.pb-c.h"
#include "ir/op.h"
#include "ir/tensor.h"

#define MAX_IO 64
#define RTOL 1e-3
#define ATOL 1e-7

struct xfail {
    char **names;
    char **reasons;
    int n;
};

struct op_pass {
    const char **names;
    int *passes;
    int n;
};

static int verbose;

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
        fclose(f);
        return NULL;
    }
    rewind(f);
    buf = axle_xmalloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        axle_free(buf);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void load_xfail(const char *path, struct xfail *x)
{
    char line[1024];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *p = line, *name, *reason;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        name = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        if (*p)
            *p++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        reason = p;
        p[strcspn(p, "\n")] = '\0';
        x->names = axle_xrealloc(x->names, (size_t)(x->n + 1) * sizeof(char *));
        x->reasons = axle_xrealloc(x->reasons,
                                   (size_t)(x->n + 1) * sizeof(char *));
        x->names[x->n] = axle_xstrdup(name);
        x->reasons[x->n] = axle_xstrdup(reason);
        x->n++;
    }
    fclose(f);
}

static const char *xfail_reason(const struct xfail *x, const char *name)
{
    for (int i = 0; i < x->n; i++)
        if (strcmp(x->names[i], name) == 0)
            return x->reasons[i];
    return NULL;
}

static void collect_op(const struct axle_op *op, void *ctx)
{
    struct op_pass *p = ctx;
    p->names = axle_xrealloc(p->names, (size_t)(p->n + 1) * sizeof(char *));
    p->passes = axle_xrealloc(p->passes, (size_t)(p->n + 1) * sizeof(int));
    p->names[p->n] = op->name;
    p->passes[p->n] = 0;
    p->n++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compare one output; writes a reason on mismatch. */
static int compare(const struct axle_tensor *got, const struct axle_tensor *want,
                   char *why, size_t why_len)
{
    int64_t n = axle_tensor_numel(want);
    if (got->dtype != want->dtype) {
        snprintf(why, why_len, "dtype %s, want %s", axle_dtype_name(got->dtype),
                 axle_dtype_name(want->dtype));
        return 0;
    }
    if (got->rank != want->rank ||
        memcmp(got->dims, want->dims, (size_t)want->rank * sizeof(int64_t))) {
        char a[128], b[128];
        axle_shape_format(got, NULL, 0, a, sizeof(a));
        axle_shape_format(want, NULL, 0, b, sizeof(b));
        snprintf(why, why_len, "shape %.90s, want %.90s", a, b);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        switch (want->dtype) {
        case AXLE_DTYPE_FLOAT32: case AXLE_DTYPE_FLOAT64:
        case AXLE_DTYPE_FLOAT16: case AXLE_DTYPE_BFLOAT16: {
            double g = axle_tensor_get_f64(got, i);
            double w = axle_tensor_get_f64(want, i);
            if (isnan(w) && isnan(g))
                break;
            if (isinf(w) && g == w)
                break;
            if (!(fabs(g - w) <= ATOL + RTOL * fabs(w))) {
                snprintf(why, why_len, "element %lld: got %.9g, want %.9g",
                         (long long)i, g, w);
                return 0;
            }
            break;
        }
        case AXLE_DTYPE_STRING: {
            const char *g = ((char *const *)got->data)[i];
            const char *w = ((char *const *)want->data)[i];
            if (strcmp(g ? g : "", w ? w : "") != 0) {
                snprintf(why, why_len, "element %lld: got \"%.40s\", want "
                         "\"%.40s\"", (long long)i, g ? g : "", w ? w : "");
                return 0;
            }
            break;
        }
        case AXLE_DTYPE_UINT64:
            if (((const uint64_t *)got->data)[i] !=
                ((const uint64_t *)want->data)[i]) {
                snprintf(why, why_len, "element %lld differs", (long long)i);
                return 0;
            }
            break;
        default:
            if (axle_tensor_get_i64(got, i) != axle_tensor_get_i64(want, i)) {
                snprintf(why, why_len, "element %lld: got %lld, want %lld",
                         (long long)i, (long long)axle_tensor_get_i64(got, i),
                         (long long)axle_tensor_get_i64(want, i));
                return 0;
            }
        }
    }
    return 1;
}

/* Sequences and optionals: the same kind, length and elements. */
static int compare_value(const struct axle_tensor *got,
                         const struct axle_tensor *want, char *why,
                         size_t why_len)
{
    if (got->kind != want->kind) {
        snprintf(why, why_len, "a %s, want a %s", axle_kind_name(got->kind),
                 axle_kind_name(want->kind));
        return 0;
    }
    if (want->kind == AXLE_KIND_TENSOR)
        return compare(got, want, why, why_len);
    if (got->n_items != want->n_items) {
        snprintf(why, why_len, "%s of %d elements, want %d",
                 axle_kind_name(want->kind), got->n_items, want->n_items);
        return 0;
    }
    for (int i = 0; i < want->n_items; i++) {
        char w[160];
        if (!compare_value(&got->items[i], &want->items[i], w, sizeof(w))) {
            snprintf(why, why_len, "element %d: %s", i, w);
            return 0;
        }
    }
    return 1;
}

/* The kind of model input (is_input) or output k: which proto its .pb
 * file holds (TensorProto, SequenceProto, OptionalProto). */
static enum axle_kind value_kind(const struct axle_model *m, int is_input,
                                 int k)
{
    struct axle_io_info io;
    if ((is_input ? axle_model_input(m, k, &io)
                  : axle_model_output(m, k, &io)) != AXLE_OK)
        return AXLE_KIND_TENSOR;
    return io.kind;
}

enum verdict { PASS, FAIL, SKIP };

/* Counts a passing case for every op of g and of its subgraphs. */
static void credit_ops(const struct axle_graph *g, struct op_pass *ops)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const struct axle_node *n = &g->nodes[i];
        for (int k = 0; k < ops->n; k++)
            if (strcmp(ops->names[k], n->op_type) == 0)
                ops->passes[k]++;
        for (int a = 0; a < n->n_attrs; a++) {
            const struct axle_attr *at = &n->attrs[a];
            if (at->type == AXLE_ATTR_GRAPH && at->g != NULL)
                credit_ops(at->g, ops);
            for (int j = 0; at->type == AXLE_ATTR_GRAPHS && j < at->n; j++)
                credit_ops(at->graphs[j], ops);
        }
    }
}

/* Which ops a case uses, and whether all are implemented. */
static int case_ops(const uint8_t *buf, size_t len, char *missing,
                    size_t mlen, struct op_pass *ops, int credit)
{
    struct axle_onnx_opts oo = {.base_dirfd = -1};
    struct axle_ir_model *ir = NULL;
    struct axle_err err;
    int ok = 1;

    /* Import alone fails with UNIMPLEMENTED on the first unknown op. */
    if (axle_onnx_import(buf, len, &oo, &ir, &err) != AXLE_OK) {
        if (err.code == AXLE_UNIMPLEMENTED) {
            snprintf(missing, mlen, "%s", err.msg);
            return 0;
        }
        return 1; /* a real failure: let the run report it */
    }
    if (credit)
        credit_ops(ir->graph, ops);
    axle_ir_model_free(ir);
    return ok;
}

/* The default-domain opset a model imports (0 when unreadable/absent). */
static int64_t model_opset(const uint8_t *buf, size_t len)
{
    AxleOnnx__ModelProto *mp = axle_onnx__model_proto__unpack(NULL, len, buf);
    int64_t v = 0;

    if (mp == NULL)
        return 0;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const AxleOnnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (o->domain == NULL || o->domain[0] == '\0' ||
            strcmp(o->domain, "ai.onnx") == 0)
            v = o->version;
    }
    axle_onnx__model_proto__free_unpacked(mp, NULL);
    return v;
}

static enum verdict run_case(const char *dir, char *why, size_t why_len)
{
    char path[8192];
    struct axle_model *m = NULL;
    struct axle_session *s = NULL;
    struct axle_err err = {0};
    enum verdict v = PASS;
    int n_sets = 0;

    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    if (axle_model_load_file(path, NULL, &m, &err) != AXLE_OK) {
        snprintf(why, why_len, "load: %s", err.msg);
        return FAIL;
    }
    for (int set = 0; set < 100 && v == PASS; set++) {
        struct axle_tensor *ins[MAX_IO] = {0}, *wants[MAX_IO] = {0};
        struct axle_tensor inputs[MAX_IO], outputs[MAX_IO];
        int n_in = 0, n_want = 0;
        struct stat sb;

        snprintf(path, sizeof(path), "%s/test_data_set_%d", dir, set);
        if (stat(path, &sb) != 0)
            break;
        n_sets++;
        for (int k = 0; k < MAX_IO; k++) {
            size_t len;
            uint8_t *buf;
            snprintf(path, sizeof(path), "%s/test_data_set_%d/input_%d.pb",
                     dir, set, k);
            if ((buf = read_file(path, &len)) == NULL)
                break;
            if (axle_onnx_value_decode(buf, len, value_kind(m, 1, k),
                                       &ins[k], &err) != AXLE_OK) {
                snprintf(why, why_len, "input %d: %s", k, err.msg);
                v = FAIL;
            }
            axle_free(buf);
            n_in++;
            if (v != PASS)
                break;
        }
        for (int k = 0; k < MAX_IO && v == PASS; k++) {
            size_t len;
            uint8_t *buf;
            snprintf(path, sizeof(path), "%s/test_data_set_%d/output_%d.pb",
                     dir, set, k);
            if ((buf = read_file(path, &len)) == NULL)
                break;
            if (axle_onnx_value_decode(buf, len, value_kind(m, 0, k),
                                       &wants[k], &err) != AXLE_OK) {
                snprintf(why, why_len, "output %d: %s", k, err.msg);
                v = FAIL;
            }
            axle_free(buf);
            n_want++;
        }
        if (v == PASS && n_want != axle_model_n_outputs(m)) {
            snprintf(why, why_len, "model has %d outputs, data has %d",
                     axle_model_n_outputs(m), n_want);
            v = FAIL;
        }
        if (v == PASS && s == NULL) {
            struct axle_session_opts so = {.n_threads = 2,
                                           .max_batch = n_in && ins[0]->rank
                                                            ? ins[0]->dims[0]
                                                            : 1};
            if (axle_session_new(m, &so, &s, &err) != AXLE_OK) {
                snprintf(why, why_len, "session: %s", err.msg);
                v = FAIL;
            }
        }
        if (v == PASS) {
            /* onnx 1.12 writes bfloat16 test tensors as uint16 bit patterns
             * (numpy has no bfloat16): relabel them for bfloat16 slots. */
            for (int k = 0; k < n_in; k++) {
                struct axle_io_info io;
                inputs[k] = *ins[k];
                if (axle_model_input(m, k, &io) == AXLE_OK &&
                    io.dtype == AXLE_DTYPE_BFLOAT16 &&
                    inputs[k].dtype == AXLE_DTYPE_UINT16)
                    inputs[k].dtype = AXLE_DTYPE_BFLOAT16;
            }
            for (int k = 0; k < n_want; k++) {
                struct axle_io_info io;
                if (axle_model_output(m, k, &io) == AXLE_OK &&
                    io.dtype == AXLE_DTYPE_BFLOAT16 &&
                    wants[k]->dtype == AXLE_DTYPE_UINT16)
                    wants[k]->dtype = AXLE_DTYPE_BFLOAT16;
            }
            if (axle_session_run(s, n_in, inputs, n_want, outputs, &err) !=
                AXLE_OK) {
                snprintf(why, why_len, "run: %s", err.msg);
                v = FAIL;
            }
        }
        for (int k = 0; k < n_want && v == PASS; k++) {
            char w[200];
            if (!compare_value(&outputs[k], wants[k], w, sizeof(w))) {
                struct axle_io_info io;
                axle_model_output(m, k, &io);
                snprintf(why, why_len, "output '%s': %s", io.name, w);
                v = FAIL;
            }
        }
        for (int k = 0; k < MAX_IO; k++) {
            axle_tensor_free(ins[k]);
            axle_tensor_free(wants[k]);
        }
    }
    if (v == PASS && n_sets == 0) {
        snprintf(why, why_len, "no test data");
        v = FAIL;
    }
    axle_session_free(s);
    axle_model_unref(m);
    return v;
}

int main(int argc, char **argv)
{
    const char *data = NULL, *xfail_path = NULL, *filter = NULL;
    const char *label = "onnx-node";
    int op_check = 1, newer = 0;
    long max_opset = 0;
    struct xfail xf = {0};
    struct op_pass ops = {0};
    char root[4096], **names = NULL;
    int n_names = 0, passed = 0, failed = 0, skipped = 0, xfailed = 0;
    DIR *d;
    struct dirent *e;
    struct stat sb;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--xfail") == 0 && i + 1 < argc)
            xfail_path = argv[++i];
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
        else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
            label = argv[++i];
        else if (strcmp(argv[i], "--max-opset") == 0 && i + 1 < argc)
            max_opset = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--no-op-check") == 0)
            op_check = 0;
        else if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            data = argv[i];
    }
    if (data == NULL) {
        fprintf(stderr, "usage: onnx_conformance DATA_DIR [--xfail FILE] "
                        "[--filter SUBSTR] [--label NAME] [--no-op-check] "
                        "[--max-opset N] [-v]\n");
        return 2;
    }
    if (xfail_path)
        load_xfail(xfail_path, &xf);
    axle_op_foreach(collect_op, &ops);

    snprintf(root, sizeof(root), "%s/node", data);
    if (stat(root, &sb) != 0)
        snprintf(root, sizeof(root), "%s", data);
    d = opendir(root);
    if (d == NULL) {
        fprintf(stderr, "onnx_conformance: cannot open %s\n", root);
        return 2;
    }
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "test_", 5) != 0)
            continue;
        if (filter && strstr(e->d_name, filter) == NULL)
            continue;
        names = axle_xrealloc(names, (size_t)(n_names + 1) * sizeof(char *));
        names[n_names++] = axle_xstrdup(e->d_name);
    }
    closedir(d);
    if (n_names > 1)
        qsort(names, (size_t)n_names, sizeof(char *), cmp_str);

    for (int i = 0; i < n_names; i++) {
        char dir[4096 + 256], path[4096 + 300], why[512] = "";
        char missing[256] = "";
        const char *reason = xfail_reason(&xf, names[i]);
        uint8_t *buf;
        size_t len;
        enum verdict v;

        snprintf(dir, sizeof(dir), "%s/%s", root, names[i]);
        snprintf(path, sizeof(path), "%s/model.onnx", dir);
        buf = read_file(path, &len);
        if (buf == NULL) {
            axle_free(names[i]);
            continue;
        }
        if (max_opset > 0 && model_opset(buf, len) > max_opset) {
            newer++;
            if (verbose)
                printf("NEWER %s: opset above %ld\n", names[i], max_opset);
            axle_free(buf);
            axle_free(names[i]);
            continue;
        }
        if (!case_ops(buf, len, missing, sizeof(missing), &ops, 0)) {
            if (xfail_path != NULL && reason == NULL) {
                failed++;
                printf("FAIL %s: not run (%s) and not listed in %s\n",
                       names[i], missing, xfail_path);
            } else {
                skipped++;
                if (verbose)
                    printf("SKIP %s: %s\n", names[i], missing);
            }
            axle_free(buf);
            axle_free(names[i]);
            continue;
        }
        v = run_case(dir, why, sizeof(why));
        if (v == PASS) {
            passed++;
            case_ops(buf, len, missing, sizeof(missing), &ops, 1);
            if (reason)
                printf("XPASS %s (listed in xfail: %s)\n", names[i], reason);
            else if (verbose)
                printf("PASS %s\n", names[i]);
        } else if (reason) {
            xfailed++;
            if (verbose)
                printf("XFAIL %s: %s [%s]\n", names[i], why, reason);
        } else {
            failed++;
            printf("FAIL %s: %s\n", names[i], why);
        }
        axle_free(buf);
        axle_free(names[i]);
    }
    axle_free(names);

    for (int k = 0; k < ops.n; k++) {
        char key[128];
        snprintf(key, sizeof(key), "op:%s", ops.names[k]);
        if (ops.passes[k] == 0 && xfail_reason(&xf, key) == NULL &&
            filter == NULL && op_check) {
            printf("FAIL op %s: implemented but no conformance case passed\n",
                   ops.names[k]);
            failed++;
        }
    }
    if (newer)
        printf("%s: %d cases above opset %ld left out\n", label, newer,
               max_opset);
    if (xfailed)
        printf("%s: %d expected failures (see xfail list)\n", label,
               xfailed);
    printf("%s: %d passed, %d failed, %d skipped\n", label, passed, failed,
           skipped);
    for (int i = 0; i < xf.n; i++) {
        axle_free(xf.names[i]);
        axle_free(xf.reasons[i]);
    }
    axle_free(xf.names);
    axle_free(xf.reasons);
    axle_free(ops.names);
    axle_free(ops.passes);
    return failed ? 1 : 0;
}
