/*
 * cmd_run.c - `axle run MODEL --input NAME=FILE.npy ... [--output-dir DIR]
 * [--repeat N] [--threads N]`: run a model on .npy inputs, print the
 * outputs' names, shapes and leading values, write DIR/<output>.npy, and
 * with --repeat time N runs and print latency percentiles; --node-times
 * adds each node's median time (axle_session_set_timing).
 */
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "ir/tensor.h"

#define MAX_INPUTS 64

static void run_usage(FILE *f)
{
    fprintf(f,
        "usage: axle run MODEL --input [NAME=]FILE.npy ... [options]\n"
        "\n"
        "Runs MODEL once on NumPy inputs and prints each output's name, shape\n"
        "and leading values.\n"
        "\n"
        "  --input NAME=FILE.npy  value for input NAME (repeat per input);\n"
        "                         a single-input model takes --input FILE.npy\n"
        "  --output-dir DIR       write DIR/<output name>.npy per output\n"
        "                         (characters outside [A-Za-z0-9._-] become _)\n"
        "  --repeat N             run N more times and print latency p50/p90/p99\n"
        "  --threads N            intra-op threads (default: all CPUs)\n"
        "  --node-times           also time each node of the optimized graph\n"
        "                         and print, per node, its median and minimum\n"
        "                         over the runs and its share of the summed\n"
        "                         medians, then the same per operator\n"
        "  --help                 this text\n"
        "\n"
        "Exit status: 0 ok, 2 bad model or input, 1 other failure.\n");
}

/* --node-times: per node, the samples of each timed run (us). */
#define NODE_TIMES_MAX_SAMPLES ((int64_t)1 << 25)

struct node_times {
    int n_nodes;
    long n_runs, cap;
    float *us; /* [n_nodes][cap] */
};

static void node_times_take(struct node_times *nt, struct axle_session *s)
{
    struct axle_node_timing t;

    if (nt->n_runs == nt->cap)
        return;
    for (int i = 0; i < nt->n_nodes; i++) {
        axle_session_node_timing(s, i, &t);
        nt->us[(size_t)i * (size_t)nt->cap + (size_t)nt->n_runs] =
            (float)t.ns / 1e3f;
    }
    nt->n_runs++;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void op_label(const struct axle_node_timing *t, char *buf, size_t len)
{
    if (t->fused != NULL)
        snprintf(buf, len, "%s+%s", t->op_type, t->fused);
    else
        snprintf(buf, len, "%s", t->op_type);
}

/* Per node in run order, then per operator (with its fused activation),
 * largest first. */
static void node_times_print(struct node_times *nt, struct axle_session *s)
{
    struct axle_node_timing t;
    double *p50 = axle_xcalloc((size_t)nt->n_nodes + 1, sizeof(double));
    char (*ops)[80] = axle_xcalloc((size_t)nt->n_nodes + 1, sizeof(*ops));
    double *op_us = axle_xcalloc((size_t)nt->n_nodes + 1, sizeof(double));
    int *op_count = axle_xcalloc((size_t)nt->n_nodes + 1, sizeof(int));
    int n_ops = 0;
    double total = 0;

    for (int i = 0; i < nt->n_nodes; i++) {
        float *v = &nt->us[(size_t)i * (size_t)nt->cap];
        qsort(v, (size_t)nt->n_runs, sizeof(float), cmp_float);
        p50[i] = v[nt->n_runs / 2];
        total += p50[i];
    }
    printf("node_times runs=%ld nodes=%d sum_p50_us=%.1f\n", nt->n_runs,
           nt->n_nodes, total);
    printf("%5s %-22s %10s %10s %6s  %-24s %s\n", "node", "op", "p50_us",
           "min_us", "share", "output", "name");
    for (int i = 0; i < nt->n_nodes; i++) {
        char label[80], shape[96] = "-";
        int k;
        axle_session_node_timing(s, i, &t);
        op_label(&t, label, sizeof(label));
        if (t.output != NULL && t.output->kind == AXLE_KIND_TENSOR)
            axle_shape_format(t.output, NULL, 0, shape, sizeof(shape));
        printf("%5d %-22s %10.1f %10.1f %5.1f%%  %-24s %s\n", i, label,
               p50[i], (double)nt->us[(size_t)i * (size_t)nt->cap],
               total > 0 ? 100.0 * p50[i] / total : 0.0, shape, t.name);
        for (k = 0; k < n_ops && strcmp(ops[k], label) != 0; k++)
            ;
        if (k == n_ops)
            snprintf(ops[n_ops++], sizeof(ops[0]), "%s", label);
        op_us[k] += p50[i];
        op_count[k]++;
    }
    printf("%-22s %6s %12s %6s\n", "op", "nodes", "sum_p50_us", "share");
    for (int done = 0; done < n_ops; done++) {
        int best = -1;
        for (int k = 0; k < n_ops; k++)
            if (op_count[k] > 0 && (best < 0 || op_us[k] > op_us[best]))
                best = k;
        printf("%-22s %6d %12.1f %5.1f%%\n", ops[best], op_count[best],
               op_us[best], total > 0 ? 100.0 * op_us[best] / total : 0.0);
        op_count[best] = 0;
    }
    axle_free(p50);
    axle_free(ops);
    axle_free(op_us);
    axle_free(op_count);
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_output(const struct axle_io_info *io,
                         const struct axle_tensor *t)
{
    char shape[256];
    int64_t n = axle_tensor_numel(t);
    if (t->kind != AXLE_KIND_TENSOR) {
        /* A sequence or optional: its length, then each element. */
        printf("%s %s of %d %s:\n", io->name, axle_kind_name(t->kind),
               t->n_items, axle_dtype_name(t->dtype));
        for (int i = 0; i < t->n_items; i++)
            print_output(io, &t->items[i]);
        return;
    }
    axle_shape_format(t, NULL, 0, shape, sizeof(shape));
    printf("%s %s:", io->name, shape);
    for (int64_t i = 0; i < n && i < 8; i++) {
        if (t->dtype == AXLE_DTYPE_STRING)
            printf(" \"%s\"", ((char **)t->data)[i] ? ((char **)t->data)[i] : "");
        else if (t->dtype == AXLE_DTYPE_FLOAT32 ||
                 t->dtype == AXLE_DTYPE_FLOAT64 ||
                 t->dtype == AXLE_DTYPE_FLOAT16 ||
                 t->dtype == AXLE_DTYPE_BFLOAT16)
            printf(" %.6g", axle_tensor_get_f64(t, i));
        else
            printf(" %lld", (long long)axle_tensor_get_i64(t, i));
    }
    printf("%s\n", n > 8 ? " ..." : "");
}

static void safe_name(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++) {
        char c = in[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0 || out[0] == '\0')
        snprintf(out, len, "output");
}

int axle_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output-dir", required_argument, NULL, 'o'},
        {"repeat", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},
        {"node-times", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *in_specs[MAX_INPUTS];
    struct axle_tensor *loaded[MAX_INPUTS] = {0};
    struct axle_tensor inputs[MAX_INPUTS];
    struct axle_tensor *outputs = NULL;
    const char *out_dir = NULL, *model_path;
    struct axle_model *m = NULL;
    struct axle_session *s = NULL;
    struct axle_session_opts so = {0};
    struct axle_err err = {0};
    enum axle_status st = AXLE_OK;
    double *lat = NULL, t_load, t_session;
    struct node_times nt = {0};
    bool node_times = false;
    long repeat = 0, threads = 0;
    int n_specs = 0, rc = AXLE_EXIT_OK, c, n_in, n_out;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (n_specs == MAX_INPUTS) {
                fprintf(stderr, "axle run: too many --input options\n");
                return AXLE_EXIT_USAGE;
            }
            in_specs[n_specs++] = optarg;
            break;
        case 'o': out_dir = optarg; break;
        case 'r':
            if (parse_int(optarg, 0, 10000000, &repeat)) {
                fprintf(stderr, "axle run: --repeat wants 0..10000000\n");
                return AXLE_EXIT_USAGE;
            }
            break;
        case 't':
            if (parse_int(optarg, 1, 1024, &threads)) {
                fprintf(stderr, "axle run: --threads wants 1..1024\n");
                return AXLE_EXIT_USAGE;
            }
            break;
        case 'n': node_times = true; break;
        case 'h': run_usage(stdout); return AXLE_EXIT_OK;
        default: run_usage(stderr); return AXLE_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        run_usage(stderr);
        return AXLE_EXIT_USAGE;
    }
    model_path = argv[optind];

    t_load = now_us();
    st = axle_model_load_file(model_path, NULL, &m, &err);
    t_load = now_us() - t_load;
    if (st != AXLE_OK) {
        fprintf(stderr, "axle run: %s: %s\n", model_path, err.msg);
        return axle_cli_exit_code(st);
    }
    n_in = axle_model_n_inputs(m);
    n_out = axle_model_n_outputs(m);
    if (n_in > MAX_INPUTS) {
        fprintf(stderr, "axle run: model has more than %d inputs\n",
                MAX_INPUTS);
        rc = AXLE_EXIT_USAGE;
        goto out;
    }
    for (int i = 0; i < n_specs; i++) {
        const char *spec = in_specs[i], *eq = strchr(spec, '=');
        char name[256];
        int idx;
        if (eq == NULL) {
            if (n_in != 1) {
                fprintf(stderr, "axle run: the model has %d inputs; use "
                        "--input NAME=FILE.npy\n", n_in);
                rc = AXLE_EXIT_USAGE;
                goto out;
            }
            idx = 0;
        } else {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - spec), spec);
            idx = axle_model_input_index(m, name);
            if (idx < 0) {
                fprintf(stderr, "axle run: the model has no input '%s'\n",
                        name);
                rc = AXLE_EXIT_USAGE;
                goto out;
            }
            spec = eq + 1;
        }
        if (loaded[idx] != NULL) {
            fprintf(stderr, "axle run: input given twice\n");
            rc = AXLE_EXIT_USAGE;
            goto out;
        }
        st = axle_npy_read(spec, &loaded[idx], &err);
        if (st != AXLE_OK) {
            fprintf(stderr, "axle run: %s\n", err.msg);
            rc = AXLE_EXIT_USAGE;
            goto out;
        }
    }
    for (int i = 0; i < n_in; i++) {
        struct axle_io_info io;
        axle_model_input(m, i, &io);
        if (loaded[i] == NULL) {
            fprintf(stderr, "axle run: missing --input %s=FILE.npy\n",
                    io.name);
            rc = AXLE_EXIT_USAGE;
            goto out;
        }
        inputs[i] = *loaded[i];
    }

    so.n_threads = (int)threads;
    so.max_batch = n_in > 0 && inputs[0].rank > 0 ? inputs[0].dims[0] : 1;
    t_session = now_us();
    st = axle_session_new(m, &so, &s, &err);
    t_session = now_us() - t_session;
    if (st != AXLE_OK) {
        fprintf(stderr, "axle run: %s\n", err.msg);
        rc = axle_cli_exit_code(st);
        goto out;
    }
    if (node_times) {
        nt.n_nodes = axle_session_n_nodes(s);
        nt.cap = repeat > 0 ? repeat : 1;
        if ((int64_t)nt.cap * (nt.n_nodes + 1) > NODE_TIMES_MAX_SAMPLES) {
            fprintf(stderr, "axle run: --node-times keeps at most %lld "
                    "samples (--repeat x %d nodes)\n",
                    (long long)NODE_TIMES_MAX_SAMPLES, nt.n_nodes);
            rc = AXLE_EXIT_USAGE;
            goto out;
        }
        nt.us = axle_xcalloc((size_t)nt.cap * ((size_t)nt.n_nodes + 1),
                             sizeof(float));
        axle_session_set_timing(s, 1);
    }
    outputs = axle_xcalloc((size_t)n_out + 1, sizeof(*outputs));
    st = axle_session_run(s, n_in, inputs, n_out, outputs, &err);
    if (st != AXLE_OK) {
        fprintf(stderr, "axle run: %s\n", err.msg);
        rc = axle_cli_exit_code(st);
        goto out;
    }
    for (int j = 0; j < n_out; j++) {
        struct axle_io_info io;
        axle_model_output(m, j, &io);
        print_output(&io, &outputs[j]);
        if (out_dir != NULL) {
            char fname[256], path[PATH_MAX];
            if (outputs[j].kind != AXLE_KIND_TENSOR) {
                fprintf(stderr, "axle run: output '%s' is a %s; .npy holds "
                        "tensors only\n", io.name,
                        axle_kind_name(outputs[j].kind));
                rc = AXLE_EXIT_FAIL;
                goto out;
            }
            safe_name(io.name, fname, sizeof(fname));
            mkdir(out_dir, 0755);
            snprintf(path, sizeof(path), "%s/%s.npy", out_dir, fname);
            st = axle_npy_write(path, &outputs[j], &err);
            if (st != AXLE_OK) {
                fprintf(stderr, "axle run: %s\n", err.msg);
                rc = AXLE_EXIT_FAIL;
                goto out;
            }
        }
    }
    if (repeat > 0) {
        long warm = repeat / 10 < 20 ? repeat / 10 : 20;
        lat = axle_xmalloc((size_t)repeat * sizeof(double));
        for (long r = 0; r < warm + repeat; r++) {
            double t0 = now_us();
            st = axle_session_run(s, n_in, inputs, n_out, outputs, &err);
            if (st != AXLE_OK) {
                fprintf(stderr, "axle run: %s\n", err.msg);
                rc = axle_cli_exit_code(st);
                goto out;
            }
            if (r >= warm)
                lat[r - warm] = now_us() - t0;
            if (node_times && r >= warm)
                node_times_take(&nt, s);
        }
        qsort(lat, (size_t)repeat, sizeof(double), cmp_double);
        printf("load_ms=%.2f session_ms=%.2f\n", t_load / 1e3,
               t_session / 1e3);
        printf("latency_us p50=%.1f p90=%.1f p99=%.1f min=%.1f n=%ld "
               "threads=%d\n",
               lat[repeat / 2], lat[(repeat * 9) / 10],
               lat[(repeat * 99) / 100], lat[0], repeat,
               threads ? (int)threads : 0);
    } else if (node_times) {
        node_times_take(&nt, s);
    }
    if (node_times)
        node_times_print(&nt, s);
out:
    axle_free(nt.us);
    axle_free(lat);
    axle_free(outputs);
    axle_session_free(s);
    for (int i = 0; i < MAX_INPUTS; i++)
        axle_tensor_free(loaded[i]);
    axle_model_unref(m);
    return rc;
}
