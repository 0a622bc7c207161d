/*
 * cmd_run.c - `axle run MODEL --input NAME=FILE.npy ... [--output-dir DIR]
 * [--repeat N] [--threads N]`: run a model on .npy inputs, print the
 * outputs' names, shapes and leading values, write DIR/<output>.npy, and
 * with --repeat time N runs and print latency percentiles.
 */
#include <getopt.h>
#include <limits.h>
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
        "  --help                 this text\n"
        "\n"
        "Exit status: 0 ok, 2 bad model or input, 1 other failure.\n");
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
        }
        qsort(lat, (size_t)repeat, sizeof(double), cmp_double);
        printf("load_ms=%.2f session_ms=%.2f\n", t_load / 1e3,
               t_session / 1e3);
        printf("latency_us p50=%.1f p90=%.1f p99=%.1f min=%.1f n=%ld "
               "threads=%d\n",
               lat[repeat / 2], lat[(repeat * 9) / 10],
               lat[(repeat * 99) / 100], lat[0], repeat,
               threads ? (int)threads : 0);
    }
out:
    axle_free(lat);
    axle_free(outputs);
    axle_session_free(s);
    for (int i = 0; i < MAX_INPUTS; i++)
        axle_tensor_free(loaded[i]);
    axle_model_unref(m);
    return rc;
}
