/*
 * cmd_bench.c - `axle bench URL --model M ...`: a load generator for model
 * servers speaking the Open Inference Protocol (V2 JSON or binary) or
 * KServe V1. Options and their validation, the inputs, the run with a
 * progress line per second on stderr, and the report (text or one JSON
 * object; fields in docs/bench.md).
 *
 * The request is built once (bench_req.c) and written as is by every
 * connection; the connections run on worker threads (bench_conn.c); the
 * main thread only waits for signals and prints progress.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "cli/bench.h"
#include "cli/cli.h"
#include "ir/tensor.h"
#include "serve/json.h"

enum {
    O_MODEL, O_RATE, O_CONCURRENCY, O_DURATION, O_WARMUP, O_MAX_REQUESTS, O_CONNECTIONS,
    O_THREADS, O_INPUT, O_SHAPE, O_DATATYPE, O_INPUT_NAME, O_PROTOCOL, O_TOKEN_FILE,
    O_TIMEOUT_US, O_PRIORITY, O_REQUEST_TIMEOUT, O_JSON, O_QUIET, O_PRINT_REQUEST, O_HELP,
    N_OPTS
};

static const struct {
    const char *name;
    const char *arg; /* NULL: a flag */
    const char *help;
} opts[N_OPTS] = {
    [O_MODEL] = {"model", "M", "model name (required)"},
    [O_RATE] = {"rate", "R", "open loop: R requests/s at fixed intervals"},
    [O_CONCURRENCY] = {"concurrency", "C", "closed loop: C requests in flight (default 1)"},
    [O_DURATION] = {"duration", "S", "measured seconds (default 10)"},
    [O_WARMUP] = {"warmup", "S", "seconds of load before, left out of the results (default 0)"},
    [O_MAX_REQUESTS] = {"max-requests", "N", "stop after N measured requests"},
    [O_CONNECTIONS] = {"connections", "N", "keep-alive connections (open loop: default 64;\n"
                                           "closed loop: must equal C)"},
    [O_THREADS] = {"threads", "T", "generator threads sharing the connections (default 1)"},
    [O_INPUT] = {"input", "[NAME=]FILE.npy", "an input tensor from a NumPy file (repeat per input)"},
    [O_SHAPE] = {"shape", "D,D,...", "one input of this shape, pseudo-random values"},
    [O_DATATYPE] = {"datatype", "DT", "its datatype (default: the model's, else FP32):\n"
                                      "FP32 FP64 FP16 BF16 INT8..INT64 UINT8..UINT64 BOOL BYTES"},
    [O_INPUT_NAME] = {"input-name", "NAME", "name of the (first) input, instead of the metadata's"},
    [O_PROTOCOL] = {"protocol", "P", "v2-json (default), v2-binary or v1"},
    [O_TOKEN_FILE] = {"token-file", "F", "send Authorization: Bearer <token read from F>"},
    [O_TIMEOUT_US] = {"timeout-us", "N", "add the OIP parameter \"timeout\": N (v2)"},
    [O_PRIORITY] = {"priority", "P", "add the OIP parameter \"priority\": P (v2)"},
    [O_REQUEST_TIMEOUT] = {"request-timeout", "S", "client-side limit per request (default 10)"},
    [O_JSON] = {"json", NULL, "print one JSON object on stdout instead of the text report"},
    [O_QUIET] = {"quiet", NULL, "no progress line on stderr"},
    [O_PRINT_REQUEST] = {"print-request", NULL, "print the HTTP request that would be sent, and exit"},
    [O_HELP] = {"help", NULL, "this text"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: axle bench URL --model M [--rate R | --concurrency C] [options]\n"
            "\n"
            "Load-tests a model server at URL (http://HOST[:PORT]) and reports throughput,\n"
            "answers by HTTP status, errors by kind, and latency percentiles.\n"
            "\n"
            "  closed loop (--concurrency C): C connections, each sending its next request\n"
            "    as soon as the previous answer is complete; latency from the send.\n"
            "  open loop (--rate R): requests due at fixed intervals whatever the server\n"
            "    does; latency from the due time, also for a request that waited for a\n"
            "    free connection (no coordinated omission); sends more than 1 ms after\n"
            "    their due time are counted as late.\n"
            "\n"
            "Inputs: --input files, or --shape, or else the model's metadata\n"
            "(GET URL/v2/models/M) with every -1 dimension set to 1.\n"
            "\n"
            "options (also --name=value):\n");
    for (int i = 0; i < N_OPTS; i++) {
        char lhs[48];
        snprintf(lhs, sizeof(lhs), "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
                 opts[i].arg ? opts[i].arg : "");
        fprintf(f, "  %-28s ", lhs);
        for (const char *h = opts[i].help; *h; h++) {
            fputc(*h, f);
            if (*h == '\n')
                fprintf(f, "  %-28s ", "");
        }
        fputc('\n', f);
    }
    fprintf(f,
            "\n"
            "Protocols: v2-json POSTs URL/v2/models/M/infer with \"data\" lists; v2-binary\n"
            "the same with Triton's binary tensor extension; v1 POSTs\n"
            "URL/v1/models/M:predict with {\"instances\": rows of the first dimension}.\n"
            "Errors are counted by kind: connect, timeout, closed (by the server with a\n"
            "request in flight), read, write, parse. SIGINT stops early and reports.\n"
            "The JSON fields are described in docs/bench.md.\n"
            "Exit status: 0 when the run completed (whatever the server answered), 1 when\n"
            "it could not start (metadata, resolution), 2 for bad arguments or inputs.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "axle bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see axle bench --help)\n");
    va_end(ap);
    return AXLE_EXIT_USAGE;
}

static int match_opt(const char *arg, const char **value)
{
    if (strncmp(arg, "--", 2) != 0 || arg[2] == 0)
        return -1;
    arg += 2;
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    for (int i = 0; i < N_OPTS; i++)
        if (strlen(opts[i].name) == n && strncmp(opts[i].name, arg, n) == 0) {
            *value = eq ? eq + 1 : NULL;
            return i;
        }
    return -2;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* "1,4" -> dims; every dimension >= 0. */
static int parse_shape(const char *s, struct axle_bench_input *in)
{
    in->rank = 0;
    if (*s == 0)
        return 0; /* a scalar */
    for (;;) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || v < 0 || in->rank >= AXLE_MAX_RANK)
            return -1;
        in->dims[in->rank++] = v;
        if (*end == 0)
            return 0;
        if (*end != ',')
            return -1;
        s = end + 1;
    }
}

/* Reads a bearer token: the first line, surrounding whitespace removed;
 * visible ASCII only (it goes into a header). */
static int read_token(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "axle bench: cannot open token file '%s': %s\n", path, strerror(errno));
        return -1;
    }
    if (!fgets(out, (int)cap, f))
        out[0] = 0;
    fclose(f);
    size_t n = strlen(out), a = 0;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' ||
                     out[n - 1] == '\t'))
        out[--n] = 0;
    while (out[a] == ' ' || out[a] == '\t')
        a++;
    memmove(out, out + a, n - a + 1);
    if (out[0] == 0) {
        fprintf(stderr, "axle bench: token file '%s' is empty\n", path);
        return -1;
    }
    for (const char *p = out; *p; p++)
        if (*p <= ' ' || *p >= 0x7f) {
            fprintf(stderr, "axle bench: token in '%s' has characters a header cannot carry\n",
                    path);
            return -1;
        }
    return 0;
}

struct bench_args {
    const char *url, *model;
    const char *inputs[AXLE_BENCH_MAX_INPUTS];
    int n_inputs;
    const char *shape, *datatype, *input_name, *token_file;
    enum axle_bench_protocol protocol;
    const char *protocol_name;
    int have_rate, have_conc, have_conns, have_threads;
    double rate, duration_s, warmup_s, request_timeout_s;
    long long concurrency, connections, threads, max_requests, timeout_us, priority;
    int json, quiet, print_request;
};

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct bench_args *a)
{
    memset(a, 0, sizeof(*a));
    a->duration_s = 10;
    a->request_timeout_s = 10;
    a->timeout_us = -1;
    a->priority = -1;
    a->protocol_name = "v2-json";
    for (int i = 1; i < argc; i++) {
        const char *val = NULL;
        int k = match_opt(argv[i], &val);
        if (k == -1) {
            if (a->url)
                return usage_error("one URL is tested; got '%s' and '%s'", a->url, argv[i]);
            a->url = argv[i];
            continue;
        }
        if (k == -2)
            return usage_error("unknown option '%s'", argv[i]);
        if (k == O_HELP) {
            usage(stdout);
            return AXLE_EXIT_OK;
        }
        if (opts[k].arg) {
            if (!val) {
                if (i + 1 >= argc)
                    return usage_error("--%s needs a value", opts[k].name);
                val = argv[++i];
            }
        } else if (val) {
            return usage_error("--%s takes no value", opts[k].name);
        }
        const char *bad = NULL;
        switch (k) {
        case O_MODEL: a->model = val; break;
        case O_RATE:
            a->have_rate = 1;
            if (parse_double(val, 1e-3, 1e7, &a->rate) < 0)
                bad = "a number of requests per second in [0.001, 1e7]";
            break;
        case O_CONCURRENCY:
            a->have_conc = 1;
            if (parse_int(val, 1, 10000, &a->concurrency) < 0)
                bad = "an integer in [1, 10000]";
            break;
        case O_DURATION:
            if (parse_double(val, 1e-3, 86400 * 7, &a->duration_s) < 0)
                bad = "seconds, > 0";
            break;
        case O_WARMUP:
            if (parse_double(val, 0, 86400, &a->warmup_s) < 0)
                bad = "seconds, >= 0";
            break;
        case O_MAX_REQUESTS:
            if (parse_int(val, 1, (long long)1 << 50, &a->max_requests) < 0)
                bad = "an integer >= 1";
            break;
        case O_CONNECTIONS:
            a->have_conns = 1;
            if (parse_int(val, 1, 10000, &a->connections) < 0)
                bad = "an integer in [1, 10000]";
            break;
        case O_THREADS:
            a->have_threads = 1;
            if (parse_int(val, 1, 256, &a->threads) < 0)
                bad = "an integer in [1, 256]";
            break;
        case O_INPUT:
            if (a->n_inputs >= AXLE_BENCH_MAX_INPUTS)
                bad = "given at most 64 times";
            else
                a->inputs[a->n_inputs++] = val;
            break;
        case O_SHAPE: {
            struct axle_bench_input tmp;
            a->shape = val;
            if (parse_shape(val, &tmp) < 0)
                bad = "dimensions >= 0 separated by commas, e.g. 1,4";
            break;
        }
        case O_DATATYPE:
            a->datatype = val;
            if (axle_bench_dtype_parse(val) == AXLE_DTYPE_UNDEFINED)
                bad = "one of FP32 FP64 FP16 BF16 INT8 INT16 INT32 INT64 UINT8 UINT16 UINT32 "
                      "UINT64 BOOL BYTES";
            break;
        case O_INPUT_NAME:
            a->input_name = val;
            if (!*val || strlen(val) > AXLE_BENCH_MAX_NAME)
                bad = "a name of 1 to 255 bytes";
            break;
        case O_PROTOCOL:
            a->protocol_name = val;
            if (strcmp(val, "v2-json") == 0)
                a->protocol = AXLE_BENCH_V2_JSON;
            else if (strcmp(val, "v2-binary") == 0)
                a->protocol = AXLE_BENCH_V2_BINARY;
            else if (strcmp(val, "v1") == 0)
                a->protocol = AXLE_BENCH_V1;
            else
                bad = "v2-json, v2-binary or v1";
            break;
        case O_TOKEN_FILE: a->token_file = val; break;
        case O_TIMEOUT_US:
            if (parse_int(val, 0, INT64_MAX / 2, &a->timeout_us) < 0)
                bad = "microseconds, an integer >= 0";
            break;
        case O_PRIORITY:
            if (parse_int(val, 0, UINT32_MAX, &a->priority) < 0)
                bad = "an integer in [0, 4294967295]";
            break;
        case O_REQUEST_TIMEOUT:
            if (parse_double(val, 1e-3, 86400, &a->request_timeout_s) < 0)
                bad = "seconds, >= 0.001";
            break;
        case O_JSON: a->json = 1; break;
        case O_QUIET: a->quiet = 1; break;
        case O_PRINT_REQUEST: a->print_request = 1; break;
        }
        if (bad) {
            fprintf(stderr, "axle bench: --%s '%s': expected %s\n", opts[k].name, val, bad);
            return AXLE_EXIT_USAGE;
        }
    }
    if (!a->url)
        return usage_error("no URL given (e.g. http://127.0.0.1:8080)");
    if (!a->model)
        return usage_error("--model is required");
    if (!*a->model || strlen(a->model) > 256)
        return usage_error("--model '%s': expected a name of 1 to 256 bytes", a->model);
    if (a->have_rate && a->have_conc)
        return usage_error("--rate (open loop) and --concurrency (closed loop) exclude each "
                           "other");
    if (a->shape && a->n_inputs)
        return usage_error("--shape and --input exclude each other");
    if (a->datatype && !a->shape)
        return usage_error("--datatype describes --shape; give both");
    if (a->protocol == AXLE_BENCH_V1 && (a->timeout_us >= 0 || a->priority >= 0))
        return usage_error("--timeout-us and --priority are V2 parameters; not with --protocol "
                           "v1");
    if (!a->have_rate) {
        if (!a->have_conc)
            a->concurrency = 1;
        if (a->have_conns && a->connections != a->concurrency)
            return usage_error("closed loop keeps one request in flight per connection: "
                               "--connections %lld must equal --concurrency %lld",
                               a->connections, a->concurrency);
        a->connections = a->concurrency;
    } else if (!a->have_conns) {
        a->connections = 64;
    }
    if (!a->have_threads)
        a->threads = 1;
    if (a->threads > a->connections)
        return usage_error("--threads %lld: more threads than connections (%lld)", a->threads,
                           a->connections);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Inputs                                                              */

static int load_npy(const char *spec, struct axle_bench_input *in)
{
    const char *eq = strchr(spec, '='), *path = spec;
    struct axle_tensor *t = NULL;
    struct axle_err err = {0};

    memset(in, 0, sizeof(*in));
    /* NAME=FILE, unless the '=' belongs to the path (a '/' before it). */
    if (eq && !memchr(spec, '/', (size_t)(eq - spec))) {
        size_t n = (size_t)(eq - spec);
        if (n == 0 || n > AXLE_BENCH_MAX_NAME) {
            fprintf(stderr, "axle bench: --input '%s': bad input name\n", spec);
            return AXLE_EXIT_USAGE;
        }
        memcpy(in->name, spec, n);
        path = eq + 1;
    }
    enum axle_status st = axle_npy_read(path, &t, &err);
    if (st != AXLE_OK) {
        fprintf(stderr, "axle bench: --input '%s': %s\n", path, err.msg);
        return AXLE_EXIT_USAGE;
    }
    int64_t nbytes = axle_tensor_nbytes(t);
    if (nbytes < 0 || (uint64_t)nbytes > AXLE_BENCH_MAX_BODY) {
        fprintf(stderr, "axle bench: --input '%s': too large\n", path);
        axle_tensor_free(t);
        return AXLE_EXIT_USAGE;
    }
    in->dtype = t->dtype;
    in->rank = t->rank;
    memcpy(in->dims, t->dims, sizeof(in->dims));
    in->n_elems = 1;
    for (int i = 0; i < t->rank; i++)
        in->n_elems *= t->dims[i];
    in->nbytes = (size_t)nbytes;
    in->data = axle_try_malloc(in->nbytes ? in->nbytes : 1);
    if (!in->data) {
        fprintf(stderr, "axle bench: out of memory for '%s'\n", path);
        axle_tensor_free(t);
        return AXLE_EXIT_FAIL;
    }
    if (in->nbytes)
        memcpy(in->data, t->data, in->nbytes);
    axle_tensor_free(t);
    return -1;
}

/* Fills inputs[] from the flags and, where they leave names or shapes
 * open, from the model's metadata. Returns -1 to go on, else the exit
 * status. */
static int resolve_inputs(const struct bench_args *a, const struct axle_bench_url *u,
                          struct axle_bench_plan *plan, const char *token,
                          struct axle_bench_input *inputs, int *n_out)
{
    struct axle_bench_input *meta = axle_xcalloc(AXLE_BENCH_MAX_INPUTS, sizeof(*meta));
    struct axle_err err = {0};
    int n_meta = 0, n = 0, rc = -1;
    int need_meta;

    *n_out = 0;
    for (int i = 0; i < a->n_inputs; i++) {
        rc = load_npy(a->inputs[i], &inputs[n]);
        if (rc != -1)
            goto out;
        n++;
    }
    rc = -1;
    if (a->shape) {
        struct axle_bench_input *in = &inputs[n++];
        memset(in, 0, sizeof(*in));
        parse_shape(a->shape, in);
        in->dtype = axle_bench_dtype_parse(a->datatype ? a->datatype : "FP32");
    }
    /* Names still missing, or no inputs at all: ask the server. */
    need_meta = n == 0;
    for (int i = 0; i < n; i++)
        if (!inputs[i].name[0] && !(i == 0 && a->input_name))
            need_meta = 1;
    if (need_meta) {
        if (axle_bench_resolve(u, &plan->addr, &plan->addr_len, &err) != AXLE_OK) {
            fprintf(stderr, "axle bench: %s\n", err.msg);
            rc = AXLE_EXIT_FAIL;
            goto out;
        }
        enum axle_status st = axle_bench_metadata(u, &plan->addr, plan->addr_len, a->model,
                                                  token, meta, &n_meta, &err);
        if (st != AXLE_OK) {
            fprintf(stderr, "axle bench: %s%s\n", err.msg,
                    n ? " (name the input with --input-name or --input NAME=FILE)"
                      : " (or describe the input with --shape and --input-name)");
            rc = AXLE_EXIT_FAIL;
            goto out;
        }
    }
    if (n == 0) {
        if (a->input_name && n_meta != 1) {
            fprintf(stderr, "axle bench: --input-name: the model has %d inputs; it can rename "
                            "only a single one\n", n_meta);
            rc = AXLE_EXIT_USAGE;
            goto out;
        }
        for (int i = 0; i < n_meta; i++) {
            inputs[n] = meta[i];
            if (i == 0 && a->input_name)
                snprintf(inputs[n].name, sizeof(inputs[n].name), "%s", a->input_name);
            n++;
        }
    } else {
        for (int i = 0; i < n; i++) {
            if (inputs[i].name[0])
                continue;
            if (i == 0 && a->input_name) {
                snprintf(inputs[i].name, sizeof(inputs[i].name), "%s", a->input_name);
            } else if (i < n_meta) {
                memcpy(inputs[i].name, meta[i].name, sizeof(inputs[i].name));
                if (a->shape && !a->datatype)
                    inputs[i].dtype = meta[i].dtype;
            } else {
                fprintf(stderr, "axle bench: the model has %d input(s); name input %d with "
                                "--input NAME=FILE\n", n_meta, i + 1);
                rc = AXLE_EXIT_USAGE;
                goto out;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (inputs[i].data)
            continue;
        if (axle_bench_input_fill(&inputs[i], 0x5eed0000u + (uint64_t)i, &err) != AXLE_OK) {
            fprintf(stderr, "axle bench: %s\n", err.msg);
            rc = AXLE_EXIT_USAGE;
            *n_out = n;
            goto out;
        }
    }
    *n_out = n;
out:
    if (rc != -1)
        *n_out = n;
    axle_free(meta);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Report                                                              */

static const double pcts[] = {50, 90, 99, 99.9};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99.9"};
#define N_PCTS 4

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static uint64_t n_errors(const struct axle_bench_counts *c)
{
    uint64_t n = 0;
    for (int k = 0; k < AXLE_BENCH_N_ERR; k++)
        n += c->err[k];
    return n;
}

/* Rounds to `decimals` places so the JSON stays short (dividing by a
 * power of ten keeps the shortest printed form, e.g. 296.4). */
static void put_num(struct axle_buf *b, double v, int decimals)
{
    double scale = pow(10, decimals);
    json_put_double(b, round(v * scale) / scale);
}

/* {"count","min","mean","p50",...,"max"} in microseconds. */
static void put_latency(struct axle_buf *b, const struct axle_bench_hist *h)
{
    buf_printf(b, "{\"count\":%llu,\"min\":", (unsigned long long)h->n);
    put_num(b, h->n ? us(h->min) : 0, 1);
    buf_puts(b, ",\"mean\":");
    put_num(b, axle_bench_hist_mean(h) / 1000.0, 1);
    for (int i = 0; i < N_PCTS; i++) {
        buf_printf(b, ",\"%s\":", pct_names[i]);
        put_num(b, us(axle_bench_hist_percentile(h, pcts[i])), 1);
    }
    buf_puts(b, ",\"max\":");
    put_num(b, us(h->max), 1);
    buf_putc(b, '}');
}

static void report_json(const struct bench_args *a, const struct axle_bench_counts *c,
                        double window_s, size_t req_bytes, int stopped)
{
    struct axle_buf b;
    const struct axle_bench_hist *h = &c->hist;
    buf_init(&b);
    buf_puts(&b, "{\"url\":");
    json_put_cstr(&b, a->url);
    buf_puts(&b, ",\"model\":");
    json_put_cstr(&b, a->model);
    buf_puts(&b, ",\"protocol\":");
    json_put_cstr(&b, a->protocol_name);
    buf_printf(&b, ",\"mode\":\"%s\"", a->have_rate ? "open" : "closed");
    buf_puts(&b, ",\"rate\":");
    if (a->have_rate)
        json_put_double(&b, a->rate);
    else
        buf_puts(&b, "null");
    buf_puts(&b, ",\"concurrency\":");
    if (a->have_rate)
        buf_puts(&b, "null");
    else
        json_put_int(&b, a->concurrency);
    buf_printf(&b, ",\"connections\":%lld,\"threads\":%lld", a->connections, a->threads);
    buf_puts(&b, ",\"warmup_s\":");
    json_put_double(&b, a->warmup_s);
    buf_puts(&b, ",\"duration_s\":");
    put_num(&b, window_s, 4);
    buf_printf(&b, ",\"stopped_early\":%s,\"request_bytes\":%zu", stopped ? "true" : "false",
               req_bytes);
    buf_printf(&b, ",\"sent\":%llu,\"responses\":%llu,\"ok\":%llu",
               (unsigned long long)c->sent, (unsigned long long)c->responses,
               (unsigned long long)c->ok);
    if (a->have_rate)
        buf_printf(&b, ",\"scheduled\":%llu,\"late_sends\":%llu,\"backlog_at_end\":%llu",
                   (unsigned long long)c->scheduled, (unsigned long long)c->late,
                   (unsigned long long)c->backlog);
    else
        buf_puts(&b, ",\"scheduled\":null,\"late_sends\":0,\"backlog_at_end\":0");
    buf_puts(&b, ",\"max_send_lag_us\":");
    put_num(&b, us(c->max_lag_ns), 1);
    buf_printf(&b, ",\"in_flight_at_end\":%llu", (unsigned long long)c->in_flight);
    buf_puts(&b, ",\"throughput\":{\"ok_per_s\":");
    put_num(&b, window_s > 0 ? (double)c->ok / window_s : 0, 2);
    buf_puts(&b, ",\"total_per_s\":");
    put_num(&b, window_s > 0 ? (double)c->responses / window_s : 0, 2);
    buf_puts(&b, "},\"status\":{");
    const char *sep = "";
    for (int s = 0; s < AXLE_BENCH_N_STATUS; s++)
        if (c->status[s]) {
            buf_printf(&b, "%s\"%d\":%llu", sep, s, (unsigned long long)c->status[s]);
            sep = ",";
        }
    if (c->status_other)
        buf_printf(&b, "%s\"other\":%llu", sep, (unsigned long long)c->status_other);
    buf_printf(&b, "},\"errors\":{\"total\":%llu", (unsigned long long)n_errors(c));
    for (int k = 0; k < AXLE_BENCH_N_ERR; k++)
        buf_printf(&b, ",\"%s\":%llu", axle_bench_err_name(k), (unsigned long long)c->err[k]);
    buf_printf(&b, "},\"latency_from\":\"%s\"", a->have_rate ? "intended" : "sent");
    buf_puts(&b, ",\"latency_us\":");
    put_latency(&b, h);
    buf_puts(&b, ",\"latency_other_us\":");
    put_latency(&b, &c->hist_other);
    buf_puts(&b, "}\n");
    if (!b.oom)
        fwrite(b.data, 1, b.len, stdout);
    buf_free(&b);
}

static void report_text(const struct bench_args *a, const struct axle_bench_counts *c,
                        double window_s, size_t req_bytes, int stopped)
{
    const struct axle_bench_hist *h = &c->hist;
    if (a->have_rate)
        printf("open loop at %g req/s", a->rate);
    else
        printf("closed loop, %lld in flight", a->concurrency);
    printf(", %lld connection%s, %lld thread%s, %s, %zu-byte request\n", a->connections,
           a->connections == 1 ? "" : "s", a->threads, a->threads == 1 ? "" : "s",
           a->protocol_name, req_bytes);
    printf("  window      %.3f s%s%s\n", window_s, a->warmup_s > 0 ? " after warm-up" : "",
           stopped ? " (stopped early)" : "");
    printf("  requests    %llu sent, %llu answered, %llu ok (2xx), %llu in flight at the end\n",
           (unsigned long long)c->sent, (unsigned long long)c->responses,
           (unsigned long long)c->ok, (unsigned long long)c->in_flight);
    printf("  throughput  %.2f ok/s, %.2f answered/s\n",
           window_s > 0 ? (double)c->ok / window_s : 0,
           window_s > 0 ? (double)c->responses / window_s : 0);
    printf("  status     ");
    int any = 0;
    for (int s = 0; s < AXLE_BENCH_N_STATUS; s++)
        if (c->status[s]) {
            printf(" %d: %llu", s, (unsigned long long)c->status[s]);
            any = 1;
        }
    if (c->status_other)
        printf(" other: %llu", (unsigned long long)c->status_other);
    printf("%s\n", any || c->status_other ? "" : " none");
    printf("  errors     ");
    if (n_errors(c) == 0)
        printf(" none");
    for (int k = 0; k < AXLE_BENCH_N_ERR; k++)
        if (c->err[k])
            printf(" %s: %llu", axle_bench_err_name(k), (unsigned long long)c->err[k]);
    printf("\n");
    if (a->have_rate)
        printf("  schedule    %llu due, %llu late (> 1 ms), max send lag %.1f us, %llu never "
               "sent\n", (unsigned long long)c->scheduled, (unsigned long long)c->late,
               us(c->max_lag_ns), (unsigned long long)c->backlog);
    printf("  latency     of %llu ok answers, from the %s time, in us:\n",
           (unsigned long long)h->n, a->have_rate ? "intended send" : "send");
    printf("              min %.1f  mean %.1f", h->n ? us(h->min) : 0.0,
           axle_bench_hist_mean(h) / 1000.0);
    for (int i = 0; i < N_PCTS; i++)
        printf("  %s %.1f", pct_names[i], us(axle_bench_hist_percentile(h, pcts[i])));
    printf("  max %.1f\n", us(h->max));
}

/* ------------------------------------------------------------------ */
/* Run                                                                 */

static void raise_fd_limit(long long conns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)conns + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int run(const struct bench_args *a, const struct axle_bench_plan *plan, size_t req_bytes)
{
    struct axle_bench_run *r = NULL;
    struct axle_bench_counts *c = axle_xcalloc(1, sizeof(*c));
    struct axle_err err = {0};
    sigset_t sigs, old;
    int stopped = 0;
    double window_s = 0;

    /* Workers inherit the mask: SIGINT/SIGTERM are taken here only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    if (!a->quiet)
        fprintf(stderr, "axle bench: connecting %lld connection%s to %s\n", a->connections,
                a->connections == 1 ? "" : "s", a->url);
    if (axle_bench_run_start(plan, &r, &err) != AXLE_OK) {
        fprintf(stderr, "axle bench: %s\n", err.msg);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        axle_free(c);
        return AXLE_EXIT_FAIL;
    }
    struct axle_bench_progress last = {0}, now;
    double t_last = 0, next_tick = 1;
    while (!axle_bench_run_done(r)) {
        struct timespec wait = {0, 50 * 1000 * 1000};
        if (sigtimedwait(&sigs, NULL, &wait) > 0 && !stopped) {
            stopped = 1;
            axle_bench_run_stop(r);
        }
        double t = axle_bench_run_elapsed(r);
        if (a->quiet || t < next_tick)
            continue;
        axle_bench_run_progress(r, &now);
        double dt = t - t_last;
        fprintf(stderr,
                "axle bench: %3.0fs%s  %.0f ok/s  %.0f answered/s  non-2xx %llu  errors %llu",
                t, t <= plan->warmup_s ? " (warm-up)" : "",
                (double)(now.ok - last.ok) / dt, (double)(now.responses - last.responses) / dt,
                (unsigned long long)(now.responses - now.ok), (unsigned long long)now.errors);
        if (plan->open_loop)
            fprintf(stderr, "  late %llu", (unsigned long long)now.late);
        fprintf(stderr, "  in flight %llu\n", (unsigned long long)now.in_flight);
        last = now;
        t_last = t;
        while (next_tick <= t)
            next_tick += 1;
    }
    axle_bench_run_join(r, c, &window_s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (a->json)
        report_json(a, c, window_s, req_bytes, stopped);
    else
        report_text(a, c, window_s, req_bytes, stopped);
    fflush(stdout);
    axle_free(c);
    return AXLE_EXIT_OK;
}

int axle_cmd_bench(int argc, char **argv)
{
    struct bench_args a;
    struct axle_bench_url u;
    struct axle_bench_plan plan;
    struct axle_bench_input *inputs = NULL;
    struct axle_buf req;
    struct axle_err err = {0};
    char token[4096];
    int n_inputs = 0, rc;

    rc = parse_args(argc, argv, &a);
    if (rc != -1)
        return rc;
    if (axle_bench_url_parse(a.url, &u, &err) != AXLE_OK)
        return usage_error("%s", err.msg);
    if (a.token_file && read_token(a.token_file, token, sizeof(token)) < 0)
        return AXLE_EXIT_USAGE;
    memset(&plan, 0, sizeof(plan));
    buf_init(&req);
    inputs = axle_xcalloc(AXLE_BENCH_MAX_INPUTS, sizeof(*inputs));
    rc = resolve_inputs(&a, &u, &plan, a.token_file ? token : NULL, inputs, &n_inputs);
    if (rc != -1)
        goto out;
    struct axle_bench_req_opts ro = {
        .protocol = a.protocol,
        .model = a.model,
        .token = a.token_file ? token : NULL,
        .timeout_us = a.timeout_us,
        .priority = a.priority,
    };
    if (axle_bench_request_build(&u, &ro, inputs, n_inputs, &req, &err) != AXLE_OK) {
        fprintf(stderr, "axle bench: %s\n", err.msg);
        rc = axle_cli_exit_code(err.code);
        goto out;
    }
    if (a.print_request) {
        fwrite(req.data, 1, req.len, stdout);
        fflush(stdout);
        rc = AXLE_EXIT_OK;
        goto out;
    }
    if (plan.addr_len == 0 && axle_bench_resolve(&u, &plan.addr, &plan.addr_len, &err) != AXLE_OK) {
        fprintf(stderr, "axle bench: %s\n", err.msg);
        rc = AXLE_EXIT_FAIL;
        goto out;
    }
    plan.req = req.data;
    plan.req_len = req.len;
    plan.open_loop = a.have_rate;
    plan.rate = a.rate;
    plan.n_conns = (int)a.connections;
    plan.n_threads = (int)a.threads;
    plan.warmup_s = a.warmup_s;
    plan.duration_s = a.duration_s;
    plan.max_requests = (uint64_t)a.max_requests;
    plan.request_timeout_ns = (uint64_t)(a.request_timeout_s * 1e9);
    raise_fd_limit(a.connections);
    rc = run(&a, &plan, req.len);
out:
    for (int i = 0; i < n_inputs; i++)
        axle_bench_input_dispose(&inputs[i]);
    axle_free(inputs);
    buf_free(&req);
    return rc;
}
