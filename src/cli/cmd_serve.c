/*
 * cmd_serve.c - `axle serve`: options (flags > AXLE_* environment >
 * KServe/Knative compatibility environment > defaults), process hardening,
 * start-up, and the SIGTERM drain.
 *
 * Every option is parsed and checked once, in the first process. With
 * --workers 1 that process is the server (serve_run). With --workers N it
 * becomes the supervisor of serve_workers.c, which forks N workers that
 * each run serve_run on the same port.
 *
 * Threads: the main thread owns signals (blocked everywhere else and taken
 * with sigtimedwait) and the start-up loads; the I/O threads belong to
 * serve/http.c; poll mode adds one repository thread. No thread exists
 * before the workers are forked.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "cli/serve_workers.h"
#include "serve/feedback.h"
#include "serve/predlog.h"
#include "serve/sched.h"
#include "serve/server.h"

struct opt {
    const char *name;     /* dashed long name */
    int has_arg;
    const char *compat_env; /* or NULL */
    const char *help;
    const char *value;
};

enum {
    O_HOST, O_HTTP_PORT, O_THREADS, O_INTRA, O_CONTROL, O_POLL, O_MGMT_TOKEN, O_INFER_TOKEN,
    O_MAX_BODY, O_DRAIN_TIMEOUT, O_DRAIN_DELAY, O_DRAIN_REFUSE, O_ACCESS_LOG, O_MODEL_NAME, O_MODEL_DIR,
    O_GRPC_PORT, O_HEADER_TIMEOUT, O_BODY_TIMEOUT, O_IDLE_TIMEOUT, O_MAX_CONNS,
    O_MAX_MODEL_BYTES, O_MAX_BATCH, O_DYNAMIC, O_DELAY, O_PREFERRED, O_INSTANCES,
    O_MAX_QUEUE, O_QUEUE_TIMEOUT, O_PRIORITY_LEVELS, O_REQUEST_TIMEOUT, O_INLINE,
    O_MEM_BUDGET, O_METRICS_PORT, O_BUCKETS, O_FB_CAPACITY, O_FB_WINDOW, O_PREDLOG, O_LOG_RATE, O_LOG_DUR, O_LOG_MAX_TENSOR,
    O_LOG_SEG_BYTES, O_LOG_SEG_SECONDS, O_LOG_RETENTION, O_LOG_QUEUE, O_TEST_HOOKS, O_ALLOW_ROOT, O_INSECURE,
    O_WORKERS, O_HELP, N_OPTS
};

static struct opt opts[N_OPTS] = {
    [O_HOST] = {"host", 1, NULL, "listen address (default 127.0.0.1)", NULL},
    [O_HTTP_PORT] = {"http-port", 1, "HTTP_PORT", "HTTP port (default 8080; 0 picks one)", NULL},
    [O_THREADS] = {"threads", 1, NULL, "I/O threads (default 1)", NULL},
    [O_INTRA] = {"intra-op-threads", 1, NULL, "threads per model instance (default: CPUs / instance count)", NULL},
    [O_CONTROL] = {"model-control", 1, NULL, "none | poll | explicit (default none)", NULL},
    [O_POLL] = {"poll-interval", 1, NULL, "seconds between repository scans in poll mode (default 5)", NULL},
    [O_MGMT_TOKEN] = {"management-token-file", 1, NULL, "file holding the management token (explicit mode)", NULL},
    [O_INFER_TOKEN] = {"inference-token-file", 1, NULL, "file holding the inference token (optional)", NULL},
    [O_MAX_BODY] = {"max-body-bytes", 1, NULL, "request body limit, raw and decompressed (default 67108864)", NULL},
    [O_DRAIN_TIMEOUT] = {"drain-timeout", 1, NULL, "seconds for in-flight requests after the listener closes (default 20)", NULL},
    [O_DRAIN_DELAY] = {"drain-delay", 1, NULL, "seconds the listener stays open after SIGTERM (default 5)", NULL},
    [O_DRAIN_REFUSE] = {"drain-refuse", 0, NULL, "after SIGTERM answer new inference requests 503 at once (for proxies that retry on 503, not readiness)", NULL},
    [O_ACCESS_LOG] = {"access-log", 1, NULL, "JSON access log: a file, or - for stderr (default off)", NULL},
    [O_MODEL_NAME] = {"model-name", 1, "MODEL_NAME", "name for a single served model file (KServe)", NULL},
    [O_MODEL_DIR] = {"model-dir", 1, NULL, "model file or repository (KServe; same as PATH)", NULL},
    [O_GRPC_PORT] = {"grpc-port", 1, NULL, "accepted for KServe compatibility; gRPC is not served yet", NULL},
    [O_HEADER_TIMEOUT] = {"header-timeout", 1, NULL, "seconds to receive a request head (default 10)", NULL},
    [O_BODY_TIMEOUT] = {"body-timeout", 1, NULL, "idle seconds while receiving a body (default 30)", NULL},
    [O_IDLE_TIMEOUT] = {"idle-timeout", 1, NULL, "keep-alive idle seconds (default 60)", NULL},
    [O_MAX_CONNS] = {"max-connections", 1, NULL, "open connections (default 1024)", NULL},
    [O_MAX_MODEL_BYTES] = {"max-model-bytes", 1, NULL, "largest model file (default 2 GiB)", NULL},
    [O_MAX_BATCH] = {"max-batch-size", 1, NULL, "for models without config.json: 0 no batch dimension, N rows (default: 64 when every input's first dimension is dynamic)", NULL},
    [O_DYNAMIC] = {"dynamic-batching", 0, NULL, "for models without config.json: stack concurrent requests into one execution", NULL},
    [O_DELAY] = {"max-queue-delay-us", 1, NULL, "dynamic batching: longest wait for a forming batch to fill (default 0)", NULL},
    [O_PREFERRED] = {"preferred-batch-sizes", 1, NULL, "dynamic batching: batch sizes run as soon as reached, e.g. 8,16", NULL},
    [O_INSTANCES] = {"instance-count", 1, NULL, "parallel executions per model version (default 1)", NULL},
    [O_MAX_QUEUE] = {"max-queue-size", 1, NULL, "requests waiting per model before 503 (default 4 x max batch x instances, >= 64)", NULL},
    [O_QUEUE_TIMEOUT] = {"queue-timeout-us", 1, NULL, "longest wait in the queue before 503 (default 100000; 0 none)", NULL},
    [O_PRIORITY_LEVELS] = {"priority-levels", 1, NULL, "queues per model for the request parameter priority (default 1)", NULL},
    [O_REQUEST_TIMEOUT] = {"request-timeout", 1, NULL, "seconds a request may take before 504; clients may lower it with the parameter timeout (default 30)", NULL},
    [O_INLINE] = {"inline-max-us", 1, NULL, "models whose run takes at most this run on the I/O thread (default 20; 0 never)", NULL},
    [O_MEM_BUDGET] = {"memory-budget-bytes", 1, NULL, "models + request bodies held (default 70% of the cgroup limit, RLIMIT_AS or RAM)", NULL},
    [O_METRICS_PORT] = {"metrics-port", 1, NULL, "also serve GET /metrics on this port of --host (default: only on the HTTP port)", NULL},
    [O_BUCKETS] = {"latency-buckets", 1, NULL, "latency histogram bounds in seconds, ascending, comma-separated (default 0.0001,...,10)", NULL},
    [O_FB_CAPACITY] = {"feedback-capacity", 1, NULL, "predictions remembered for feedback (default 65536, up to 1000000)", NULL},
    [O_FB_WINDOW] = {"feedback-window", 1, NULL, "seconds a prediction may receive its label (default 86400)", NULL},
    [O_PREDLOG] = {"prediction-log", 1, NULL, "directory for the prediction log: one framed, checksummed record per request (default off)", NULL},
    [O_LOG_RATE] = {"log-sample-rate", 1, NULL, "share of inference requests logged, 0..1 (default 1)", NULL},
    [O_LOG_DUR] = {"log-durability", 1, NULL, "async (never blocks; drops when full) | sync (answer after fdatasync) (default async)", NULL},
    [O_LOG_MAX_TENSOR] = {"log-max-tensor-bytes", 1, NULL, "JSON text kept per logged tensor before it is marked truncated (default 65536)", NULL},
    [O_LOG_SEG_BYTES] = {"log-segment-bytes", 1, NULL, "rotate a log segment at this size (default 67108864)", NULL},
    [O_LOG_SEG_SECONDS] = {"log-segment-seconds", 1, NULL, "rotate a log segment after this age (default 3600)", NULL},
    [O_LOG_RETENTION] = {"log-retention-bytes", 1, NULL, "delete the oldest sealed segments beyond this total (default: keep all)", NULL},
    [O_LOG_QUEUE] = {"log-queue-bytes", 1, NULL, "prediction log queue in memory (default 67108864)", NULL},
    [O_TEST_HOOKS] = {"enable-test-hooks", 0, NULL, "POST /v2/debug/pause|resume, GET /v2/debug/models/M/queue (tests only)", NULL},
    [O_ALLOW_ROOT] = {"allow-root", 0, NULL, "permit running as uid 0", NULL},
    [O_INSECURE] = {"insecure-no-auth", 0, NULL, "permit a non-loopback listener without an inference token", NULL},
    [O_WORKERS] = {"workers", 1, NULL, "server processes on the same port under one supervisor (default 1: no supervisor)", NULL},
    [O_HELP] = {"help", 0, NULL, "this text", NULL},
};

static void predlog_to_serve_log(void *arg, const char *level, const char *event,
                                 const char *detail)
{
    (void)arg, (void)level;
    serve_log(event, NULL, NULL, detail);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: axle serve PATH [options]\n"
            "\n"
            "Serve the models in PATH over HTTP: the Open Inference Protocol (V2) REST\n"
            "API with Triton's binary-data, classification, model-repository and\n"
            "statistics extensions, and KServe V1 / TF Serving :predict.\n"
            "PATH is a model repository (PATH/MODEL/VERSION/model.onnx, optional\n"
            "PATH/MODEL/config.json) or one model file, served as a model named after\n"
            "the file (or --model-name).\n"
            "\n"
            "options (also --name=value; underscores work in place of dashes; every\n"
            "option can come from the environment as AXLE_NAME, e.g. AXLE_HTTP_PORT):\n");
    for (int i = 0; i < N_OPTS; i++)
        fprintf(f, "  --%-24s %s\n", opts[i].name, opts[i].help);
    fprintf(f,
            "\n"
            "KServe's --model_name, --model_dir and --http_port are accepted; HTTP_PORT,\n"
            "MODEL_NAME and Knative's PORT are read after the AXLE_* variables.\n"
            "With --workers N > 1 a supervisor forks N workers, each a whole server on\n"
            "the same port (SO_REUSEPORT): it restarts a worker that dies (100 ms backoff\n"
            "doubling to 5 s; gives up after 8 quick failures in a row), passes SIGTERM,\n"
            "SIGINT and SIGHUP on, and logs \"listening\" once every worker listens.\n"
            "Per worker: statistics, /metrics (label worker=\"K\"; --metrics-port P gives\n"
            "worker K port P+K-1), feedback, drift, and --prediction-log DIR/worker-K.\n"
            "The memory budget and the cores are split between the workers.\n"
            "--model-control=explicit needs --workers 1.\n"
            "Exit status: 0 after a clean drain, 1 on a failure at run time, 2 on bad\n"
            "options or configuration.\n");
}

static int match_opt(const char *arg, const char **value)
{
    if (strncmp(arg, "--", 2) != 0)
        return -1;
    arg += 2;
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    for (int i = 0; i < N_OPTS; i++) {
        const char *name = opts[i].name;
        if (strlen(name) != n)
            continue;
        int ok = 1;
        for (size_t k = 0; k < n && ok; k++) {
            char a = arg[k] == '_' ? '-' : arg[k];
            ok = a == name[k];
        }
        if (ok) {
            *value = eq ? eq + 1 : NULL;
            return i;
        }
    }
    return -2;
}

static const char *env_for(int i)
{
    char name[64] = "AXLE_";
    size_t o = 5;
    for (const char *p = opts[i].name; *p && o < sizeof(name) - 1; p++)
        name[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    name[o] = 0;
    const char *v = getenv(name);
    if (v && *v)
        return v;
    if (opts[i].compat_env && (v = getenv(opts[i].compat_env)) && *v)
        return v;
    if (i == O_HTTP_PORT && (v = getenv("PORT")) && *v)
        return v;
    return NULL;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static struct server g_srv;

/* What the options decided, for serve_run: filled once, before any fork. */
struct plan {
    const char *host;
    int port;              /* with workers: the port the supervisor holds */
    int n_threads;
    int n_workers;
    double drain_timeout, drain_delay;
    int metrics_port;      /* -1: no metrics listener */
    int *worker_metrics_port; /* with workers and --metrics-port: per worker */
    const char *control;
    int access_fd;
    double fb_capacity, fb_window;
    const char *predlog_dir; /* NULL: no prediction log */
    struct predlog_opts po;
    int log_sync;
    double log_rate, log_tensor;
};

static struct plan g_plan;

static int serve_run(struct plan *p, const struct axle_worker *w);
static int serve_workers(struct plan *p);

static void log_cb(const char *event, const char *model, const char *version, const char *detail)
{
    serve_log(event, model, version, detail);
}

static int is_loopback(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
           strncmp(host, "127.", 4) == 0;
}

/* SECURITY.md 3.6: 70 % of cgroup v2 memory.max, else the v1 limit, else
 * RLIMIT_AS, else physical memory. */
static int64_t default_memory_budget(void)
{
    static const char *const files[] = {"/sys/fs/cgroup/memory.max",
                                        "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    int64_t limit = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && !limit; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f)
            continue;
        char line[64];
        if (fgets(line, sizeof(line), f)) {
            char *end;
            unsigned long long v = strtoull(line, &end, 10);
            if (end != line && v > 0 && v < (1ull << 60))
                limit = (int64_t)v;
        }
        fclose(f);
    }
    struct rlimit as;
    if (!limit && getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
        limit = (int64_t)as.rlim_cur;
    if (!limit) {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        limit = pages > 0 && psz > 0 ? (int64_t)pages * psz : (int64_t)1 << 32;
    }
    return limit / 10 * 7;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Longest wait for the listeners to close, and then for the other
 * workers' (AXLE_WORKER_GO_SIGNAL). */
#define LISTEN_SYNC_S 1.0

/* Sleep up to `seconds` on the drain's signal set: a second SIGTERM or
 * SIGINT exits 1 at once (SECURITY.md 3.5). Returns 1 early when `want`
 * (0: none) arrives. */
static int drain_wait(const sigset_t *set, double seconds, int want)
{
    double until = now_s() + seconds;
    for (;;) {
        double left = until - now_s();
        if (left <= 0)
            return 0;
        struct timespec ts;
        ts.tv_sec = (time_t)left;
        ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            serve_log("stopped", NULL, NULL, "second signal");
            _exit(1);
        }
        if (want && sig == want)
            return 1;
    }
}

int axle_cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *val;
        int k = match_opt(argv[i], &val);
        if (k == -1) {
            if (path) {
                fprintf(stderr, "axle serve: one PATH is served; got '%s' and '%s'\n", path, argv[i]);
                return AXLE_EXIT_USAGE;
            }
            path = argv[i];
            continue;
        }
        if (k == -2) {
            if (strncmp(argv[i], "--management-token=", 19) == 0 ||
                strncmp(argv[i], "--inference-token=", 18) == 0 ||
                strcmp(argv[i], "--management-token") == 0 || strcmp(argv[i], "--inference-token") == 0)
                fprintf(stderr, "axle serve: tokens are read from files only (--*-token-file)\n");
            else
                fprintf(stderr, "axle serve: unknown option '%s' (see axle serve --help)\n", argv[i]);
            return AXLE_EXIT_USAGE;
        }
        if (k == O_HELP) {
            usage(stdout);
            return AXLE_EXIT_OK;
        }
        if (opts[k].has_arg) {
            if (!val) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "axle serve: --%s needs a value\n", opts[k].name);
                    return AXLE_EXIT_USAGE;
                }
                val = argv[++i];
            }
            opts[k].value = val;
        } else {
            if (val) {
                fprintf(stderr, "axle serve: --%s takes no value\n", opts[k].name);
                return AXLE_EXIT_USAGE;
            }
            opts[k].value = "1";
        }
    }
    for (int i = 0; i < N_OPTS; i++)
        if (!opts[i].value && i != O_HELP)
            opts[i].value = env_for(i);
    if (!path)
        path = opts[O_MODEL_DIR].value;
    if (!path) {
        usage(stderr);
        return AXLE_EXIT_USAGE;
    }

    /* D38: least privilege. */
    if (geteuid() == 0 && !opts[O_ALLOW_ROOT].value) {
        fprintf(stderr, "axle serve: refusing to run as root (use --allow-root to override)\n");
        return AXLE_EXIT_USAGE;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);

    struct server *s = &g_srv;
    memset(s, 0, sizeof(*s));
    http_limits_default(&s->limits);
    const char *host = opts[O_HOST].value ? opts[O_HOST].value : "127.0.0.1";
    double v;
    int port = 8080, n_threads = 1;
    double drain_timeout = 20, drain_delay = 5, poll = 5;
#define NUM(o, lo, hi, dst)                                                           \
    if (opts[o].value) {                                                              \
        if (parse_num(opts[o].value, lo, hi, &v) != 0) {                              \
            fprintf(stderr, "axle serve: invalid value for --%s: '%s'\n", opts[o].name, \
                    opts[o].value);                                                   \
            return AXLE_EXIT_USAGE;                                                   \
        }                                                                             \
        dst = v;                                                                      \
    }
    NUM(O_HTTP_PORT, 0, 65535, port);
    NUM(O_THREADS, 1, 64, n_threads);
    double n_workers = 1;
    NUM(O_WORKERS, 1, 64, n_workers);
    NUM(O_DRAIN_TIMEOUT, 0, 3600, drain_timeout);
    NUM(O_DRAIN_DELAY, 0, 3600, drain_delay);
    NUM(O_POLL, 0.05, 86400, poll);
    NUM(O_MAX_BODY, 1024, 4294967296.0, s->limits.max_body);
    NUM(O_HEADER_TIMEOUT, 0.1, 3600, s->limits.header_timeout);
    NUM(O_BODY_TIMEOUT, 0.1, 3600, s->limits.body_timeout);
    NUM(O_IDLE_TIMEOUT, 0.1, 86400, s->limits.idle_timeout);
    NUM(O_MAX_CONNS, 1, 1000000, s->limits.max_conns);
    double grpc_port = 0, max_model = 0, intra = 0;
    NUM(O_GRPC_PORT, 0, 65535, grpc_port);
    NUM(O_MAX_MODEL_BYTES, 1, 1e13, max_model);
    NUM(O_INTRA, 1, 256, intra);
    /* Scheduling defaults for every model whose config.json does not set
     * them. */
    struct model_config *dc = &s->repo.defaults;
    model_config_default(dc, "");
    double num = 0, queue_timeout_us = 100000, inline_us = 20, request_timeout = 30,
           budget = 0;
    if (opts[O_MAX_BATCH].value) {
        NUM(O_MAX_BATCH, 0, 1024, num);
        dc->max_batch_size = (int64_t)num;
    }
    dc->dynamic_batching = opts[O_DYNAMIC].value != NULL;
    NUM(O_DELAY, 0, 60000000, num);
    dc->max_queue_delay_us = opts[O_DELAY].value ? (int64_t)num : 0;
    num = 1;
    NUM(O_INSTANCES, 1, 16, num);
    dc->instance_count = (int)num;
    num = 0;
    NUM(O_MAX_QUEUE, 1, 65536, num);
    dc->max_queue_size = (int64_t)num;
    num = 1;
    NUM(O_PRIORITY_LEVELS, 1, SCHED_MAX_LEVELS, num);
    dc->priority_levels = (int)num;
    NUM(O_QUEUE_TIMEOUT, 0, 3600e6, queue_timeout_us);
    NUM(O_INLINE, 0, 1e6, inline_us);
    NUM(O_REQUEST_TIMEOUT, 0.001, 86400, request_timeout);
    NUM(O_MEM_BUDGET, 1 << 20, 1e15, budget);
    double metrics_port = -1, fb_capacity = 65536, fb_window = 86400;
    NUM(O_METRICS_PORT, 0, 65535, metrics_port);
    NUM(O_FB_CAPACITY, 1, 1000000, fb_capacity);
    NUM(O_FB_WINDOW, 1, 1e8, fb_window);
    double log_rate = 1, log_tensor = 65536, log_seg_bytes = 64 << 20, log_seg_s = 3600,
           log_keep = 0, log_queue = 64 << 20;
    NUM(O_LOG_RATE, 0, 1, log_rate);
    NUM(O_LOG_MAX_TENSOR, 16, 8 << 20, log_tensor);
    NUM(O_LOG_SEG_BYTES, 4096, 1e12, log_seg_bytes);
    NUM(O_LOG_SEG_SECONDS, 1, 1e8, log_seg_s);
    NUM(O_LOG_RETENTION, 0, 1e15, log_keep);
    NUM(O_LOG_QUEUE, 65536, 1e11, log_queue);
#undef NUM
    int log_sync = 0;
    if (opts[O_LOG_DUR].value) {
        if (strcmp(opts[O_LOG_DUR].value, "sync") == 0) {
            log_sync = 1;
        } else if (strcmp(opts[O_LOG_DUR].value, "async") != 0) {
            fprintf(stderr, "axle serve: --log-durability must be async or sync\n");
            return AXLE_EXIT_USAGE;
        }
    }
    if (opts[O_BUCKETS].value) {
        const char *p = opts[O_BUCKETS].value;
        s->repo.n_buckets = 0;
        while (*p) {
            char *end;
            errno = 0;
            double b = strtod(p, &end);
            if (end == p || errno || !(b > 0 && b <= 3600) || s->repo.n_buckets == METRIC_MAX_BUCKETS ||
                (s->repo.n_buckets && b <= s->repo.buckets[s->repo.n_buckets - 1]) ||
                (*end && *end != ',')) {
                fprintf(stderr, "axle serve: --latency-buckets: up to %d ascending seconds in "
                                "(0, 3600], comma-separated\n", METRIC_MAX_BUCKETS);
                return AXLE_EXIT_USAGE;
            }
            s->repo.buckets[s->repo.n_buckets++] = b;
            p = *end ? end + 1 : end;
        }
    }
    (void)grpc_port;
    if (opts[O_PREFERRED].value) {
        const char *p = opts[O_PREFERRED].value;
        dc->n_preferred = 0;
        while (*p) {
            char *end;
            long n = strtol(p, &end, 10);
            if (end == p || n < 1 || n > 1024 || dc->n_preferred == SCHED_MAX_PREFERRED ||
                (dc->n_preferred && n <= dc->preferred[dc->n_preferred - 1]) ||
                (*end && *end != ',')) {
                fprintf(stderr, "axle serve: --preferred-batch-sizes: ascending sizes 1..1024, "
                                "comma-separated\n");
                return AXLE_EXIT_USAGE;
            }
            dc->preferred[dc->n_preferred++] = n;
            p = *end ? end + 1 : end;
        }
    }
    s->repo.queue_timeout_ns = (uint64_t)(queue_timeout_us * 1000);
    s->repo.inline_max_ns = (uint64_t)(inline_us * 1000);
    s->request_timeout_ns = (uint64_t)(request_timeout * 1e9);
    s->repo.mem_budget = budget > 0 ? (int64_t)budget : default_memory_budget();
    s->test_hooks = opts[O_TEST_HOOKS].value != NULL;
    s->drain_refuse = opts[O_DRAIN_REFUSE].value != NULL;

    struct repo *r = &s->repo;
    r->control = CONTROL_NONE;
    if (opts[O_CONTROL].value) {
        const char *c = opts[O_CONTROL].value;
        if (strcmp(c, "none") == 0)
            r->control = CONTROL_NONE;
        else if (strcmp(c, "poll") == 0)
            r->control = CONTROL_POLL;
        else if (strcmp(c, "explicit") == 0)
            r->control = CONTROL_EXPLICIT;
        else {
            fprintf(stderr, "axle serve: --model-control must be none, poll or explicit\n");
            return AXLE_EXIT_USAGE;
        }
    }
    struct axle_err err;
    if (opts[O_MGMT_TOKEN].value) {
        if (auth_load_token_file(opts[O_MGMT_TOKEN].value, s->mgmt_token_hash, &err) != 0) {
            fprintf(stderr, "axle serve: config error: management token: %s\n", err.msg);
            return AXLE_EXIT_USAGE;
        }
        s->have_mgmt_token = 1;
    }
    if (r->control == CONTROL_EXPLICIT && n_workers > 1) {
        /* Each worker would load and unload on its own: the answer would
         * depend on which worker took the request. */
        fprintf(stderr, "axle serve: config error: --model-control=explicit needs --workers 1 "
                        "(each worker has its own repository state)\n");
        return AXLE_EXIT_USAGE;
    }
    if (metrics_port > 0 && metrics_port + n_workers - 1 > 65535) {
        fprintf(stderr, "axle serve: --metrics-port: worker ports %d..%d run past 65535\n",
                (int)metrics_port, (int)(metrics_port + n_workers - 1));
        return AXLE_EXIT_USAGE;
    }
    if (r->control == CONTROL_EXPLICIT && !s->have_mgmt_token) {
        fprintf(stderr, "axle serve: config error: --model-control=explicit needs "
                        "--management-token-file\n");
        return AXLE_EXIT_USAGE;
    }
    if (opts[O_INFER_TOKEN].value) {
        if (auth_load_token_file(opts[O_INFER_TOKEN].value, s->infer_token_hash, &err) != 0) {
            fprintf(stderr, "axle serve: config error: inference token: %s\n", err.msg);
            return AXLE_EXIT_USAGE;
        }
        s->have_infer_token = 1;
    }
    s->loopback = is_loopback(host);
    if (!s->loopback && !s->have_infer_token && !opts[O_INSECURE].value) {
        fprintf(stderr, "axle serve: config error: listening on %s needs --inference-token-file "
                        "(or --insecure-no-auth)\n", host);
        return AXLE_EXIT_USAGE;
    }

    /* Repository or single model. */
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "axle serve: %s: not found\n", path);
        return AXLE_EXIT_USAGE;
    }
    static char single_path[PATH_MAX], single_name[REPO_MAX_NAME + 1];
    if (S_ISREG(sb.st_mode)) {
        snprintf(single_path, sizeof(single_path), "%s", path);
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        snprintf(single_name, sizeof(single_name), "%s", base);
        char *dot = strrchr(single_name, '.');
        if (dot && dot != single_name)
            *dot = 0;
    } else {
        char probe[PATH_MAX];
        if (repo_find_model_file(path, probe, sizeof(probe))) {
            snprintf(single_path, sizeof(single_path), "%s", probe);
            snprintf(single_name, sizeof(single_name), "model");
        }
    }
    if (single_path[0]) {
        if (opts[O_MODEL_NAME].value)
            snprintf(single_name, sizeof(single_name), "%s", opts[O_MODEL_NAME].value);
        if (!repo_valid_model_name(single_name)) {
            fprintf(stderr, "axle serve: '%s' is not a valid model name (--model-name)\n", single_name);
            return AXLE_EXIT_USAGE;
        }
        r->single_file = single_path;
        r->single_name = single_name;
        if (r->control == CONTROL_POLL)
            r->control = CONTROL_NONE;
    } else {
        r->root = (char *)path;
    }
    r->n_threads = n_threads;
    r->intra_threads = intra > 0 ? (int)intra : 0;
    r->poll_interval = poll;
    r->max_model_bytes = (int64_t)max_model;
    r->log = log_cb;
    if (repo_open(r, &err) != AXLE_OK) {
        fprintf(stderr, "axle serve: %s\n", err.msg);
        return AXLE_EXIT_USAGE;
    }
    /* With --model-control none nothing can ever be added: an empty
     * repository would report ready while serving nothing. */
    if (r->control == CONTROL_NONE && !r->single_file && r->n_models == 0) {
        fprintf(stderr, "axle serve: no models in %s (a repository holds "
                        "MODEL/VERSION/model.onnx; to serve one file, name the file)\n",
                r->root);
        return AXLE_EXIT_USAGE;
    }


    struct plan *p = &g_plan;
    p->host = host;
    p->port = port;
    p->n_threads = n_threads;
    p->n_workers = (int)n_workers;
    p->drain_timeout = drain_timeout;
    p->drain_delay = drain_delay;
    p->metrics_port = (int)metrics_port;
    p->control = opts[O_CONTROL].value ? opts[O_CONTROL].value : "none";
    p->fb_capacity = fb_capacity;
    p->fb_window = fb_window;
    p->access_fd = -1;
    if (opts[O_ACCESS_LOG].value) {
        /* Opened here, so that every worker appends to the one file
         * (O_APPEND: each line is one write). */
        if (strcmp(opts[O_ACCESS_LOG].value, "-") == 0)
            p->access_fd = 2;
        else if ((p->access_fd = open(opts[O_ACCESS_LOG].value,
                                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                                      0640)) < 0) {
            fprintf(stderr, "axle serve: cannot open the access log\n");
            return AXLE_EXIT_USAGE;
        }
    }
    if (opts[O_PREDLOG].value) {
        p->predlog_dir = opts[O_PREDLOG].value;
        p->po = (struct predlog_opts){
            .dir = opts[O_PREDLOG].value,
            .durability = log_sync ? PREDLOG_SYNC : PREDLOG_ASYNC,
            .segment_bytes = (uint64_t)log_seg_bytes,
            .segment_seconds = (uint64_t)log_seg_s,
            .retention_bytes = (uint64_t)log_keep,
            .queue_bytes = (uint64_t)log_queue,
            .log_fn = predlog_to_serve_log,
        };
        p->log_sync = log_sync;
        p->log_rate = log_rate;
        p->log_tensor = log_tensor;
    }
    if (p->n_workers > 1)
        return serve_workers(p);
    return serve_run(p, NULL);
}

/* A start-up failure, on stderr; a worker's names the worker. */
static void run_error(const struct axle_worker *w, const char *what, const char *msg)
{
    if (w)
        fprintf(stderr, "axle serve: worker %d: %s%s\n", w->id, what, msg);
    else
        fprintf(stderr, "axle serve: %s%s\n", what, msg);
}

/* One server: the whole process (w NULL), or worker w of serve --workers. */
static int serve_run(struct plan *p, const struct axle_worker *w)
{
    struct server *s = &g_srv;
    struct repo *r = &s->repo;
    struct axle_err err;
    const char *host = p->host;
    int n_threads = p->n_threads;

    /* Signals go to this thread only (D40: handlers before the listener). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (w)
        sigaddset(&set, AXLE_WORKER_GO_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (w) {
        s->worker_id = w->id;
        sched_set_cores(r->n_cores);
    }
    {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        s->start_time = (double)rt.tv_sec + (double)rt.tv_nsec * 1e-9;
    }
    s->feedback = feedback_index_new((size_t)p->fb_capacity, (uint64_t)(p->fb_window * 1e9));
    if (p->predlog_dir) {
        struct predlog_opts po = p->po;
        char dir[PATH_MAX];
        if (w) {
            snprintf(dir, sizeof(dir), "%s/worker-%d", p->predlog_dir, w->id);
            po.dir = dir;
        }
        if (predlog_open(&po, &s->predlog, &err) != AXLE_OK) {
            run_error(w, "", err.msg);
            return AXLE_EXIT_USAGE;
        }
        s->log_sync = p->log_sync;
        s->log_dir = p->predlog_dir;
        s->log_workers = w ? p->n_workers : 0;
        s->log_sample_rate = p->log_rate;
        s->log_max_tensor_bytes = (size_t)p->log_tensor;
    }
    /* A restarted worker joins the port only once its models are loaded:
     * the others carry the traffic meanwhile, and the kernel would
     * otherwise hand it connections it can only answer 503. */
    int loaded = 0;
    if (w && w->restarted && (r->control != CONTROL_EXPLICIT || r->single_file)) {
        repo_load_all(r);
        loaded = 1;
    }
    struct http_server_opts ho = {
        .host = host, .port = p->port, .n_threads = n_threads, .limits = s->limits,
        .handler = serve_handle, .admit = serve_admit, .ctx = s, .access_log_fd = p->access_fd,
        .mem_used = &r->mem_used, .mem_budget = r->mem_budget, .worker_id = w ? w->id : 0,
    };
    if (http_server_start(&ho, &s->http, &err) != AXLE_OK) {
        run_error(w, "", err.msg);
        return AXLE_EXIT_FAIL;
    }
    char detail[160];
    snprintf(detail, sizeof(detail), "http://%s:%d threads=%d control=%s", host,
             http_server_port(s->http), n_threads, p->control);
    /* A worker's own line has another name: "listening" comes once, from
     * the supervisor, when every worker listens. */
    serve_log(w ? "worker_listening" : "listening", NULL, NULL, detail);
    int metrics_port = w ? (p->worker_metrics_port ? p->worker_metrics_port[w->id - 1] : -1)
                         : p->metrics_port;
    if (metrics_port >= 0) {
        struct http_server_opts mo = ho;
        mo.port = metrics_port;
        mo.n_threads = 1;
        mo.handler = serve_metrics_handle;
        mo.admit = NULL;
        mo.access_log_fd = -1;
        if (http_server_start(&mo, &s->metrics_http, &err) != AXLE_OK) {
            run_error(w, "metrics listener: ", err.msg);
            return AXLE_EXIT_FAIL;
        }
        snprintf(detail, sizeof(detail), "http://%s:%d/metrics", host,
                 http_server_port(s->metrics_http));
        serve_log("metrics_listening", NULL, NULL, detail);
    }
    if (!s->loopback && (!w || w->id == 1))
        serve_log("warning", NULL, NULL, "listening on a non-loopback address");
    axle_worker_notify(w, AXLE_WORKER_LISTENING);

    if (!loaded && (r->control != CONTROL_EXPLICIT || r->single_file))
        repo_load_all(r);
    int ready = repo_ready(r);
    serve_log(ready ? "ready" : "not_ready", NULL, NULL, NULL);
    axle_worker_notify(w, ready ? AXLE_WORKER_READY : AXLE_WORKER_NOT_READY);
    if (r->control == CONTROL_POLL)
        repo_start_poll(r);

    /* Wait for a signal; then drain (SECURITY.md 3.5). */
    int exit_code = 0;
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGHUP) {
            /* Log shippers: seal the segment being written. */
            if (s->predlog)
                predlog_rotate(s->predlog);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    atomic_store(&s->draining, 1);
    serve_log("draining", NULL, NULL, NULL);
    drain_wait(&set, p->drain_delay, 0);
    http_server_stop_accepting(s->http);
    /* Every listener closes before any client is told to reconnect: a
     * connection whose handshake is under way on a listener as it closes is
     * reset, and Connection: close answers send clients back to connect()
     * at once. Each I/O thread closes its own; with workers, the supervisor
     * says when every worker's are closed (bounded: a stuck worker holds
     * the others back LISTEN_SYNC_S at most). */
    double until = now_s() + LISTEN_SYNC_S;
    while (http_server_n_listening(s->http) > 0 && now_s() < until)
        drain_wait(&set, 0.001, 0);
    serve_log("listeners_closed", NULL, NULL, NULL);
    if (w) {
        axle_worker_notify(w, AXLE_WORKER_UNLISTENED);
        drain_wait(&set, LISTEN_SYNC_S, AXLE_WORKER_GO_SIGNAL);
    }
    serve_log("closing_connections", NULL, NULL, NULL);
    http_server_closing(s->http);
    until = now_s() + p->drain_timeout;
    while (http_server_conn_count(s->http) > 0 && now_s() < until)
        drain_wait(&set, 0.02, 0);
    /* The log drains first: sync answers still held are released by it,
     * and the HTTP server waits for them when it is freed. */
    predlog_close(s->predlog);
    s->predlog = NULL;
    http_server_free(s->http);
    if (s->metrics_http) {
        http_server_stop_accepting(s->metrics_http);
        http_server_closing(s->metrics_http);
        http_server_free(s->metrics_http);
    }
    repo_close(r);
    feedback_index_free(s->feedback);
    serve_log("stopped", NULL, NULL, NULL);
    return exit_code;
}

static int run_worker(void *arg, const struct axle_worker *w)
{
    return serve_run(arg, w);
}

/* Prepare and start the supervisor: hold the ports (so that --http-port 0
 * means one port for every worker, and a restarted worker finds its
 * port still free), split the machine, make the prediction-log
 * directories. Everything that can fail on configuration fails here,
 * before the first fork. */
static int serve_workers(struct plan *p)
{
    struct server *s = &g_srv;
    struct repo *r = &s->repo;
    struct axle_err err;
    int n = p->n_workers;
    int fds[1 + 64], n_fds = 0, rc = AXLE_EXIT_FAIL;
    int got;
    if (axle_workers_reserve_port(p->host, p->port, &fds[n_fds], &got, &err) != AXLE_OK) {
        fprintf(stderr, "axle serve: %s\n", err.msg);
        return AXLE_EXIT_FAIL;
    }
    n_fds++;
    p->port = got;
    if (p->metrics_port >= 0) {
        p->worker_metrics_port = axle_xcalloc((size_t)n, sizeof(int));
        for (int k = 0; k < n; k++) {
            int want = p->metrics_port > 0 ? p->metrics_port + k : 0;
            if (axle_workers_reserve_port(p->host, want, &fds[n_fds], &got, &err) != AXLE_OK) {
                fprintf(stderr, "axle serve: metrics listener: %s\n", err.msg);
                goto out;
            }
            n_fds++;
            p->worker_metrics_port[k] = got;
        }
    }
    if (p->predlog_dir) {
        /* One directory per worker: a log has one writer. */
        struct stat sb;
        if (stat(p->predlog_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "axle serve: prediction log: %s is not a directory\n", p->predlog_dir);
            rc = AXLE_EXIT_USAGE;
            goto out;
        }
        for (int k = 1; k <= n; k++) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof(dir), "%s/worker-%d", p->predlog_dir, k);
            if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
                fprintf(stderr, "axle serve: prediction log: cannot create %s: %s\n", dir,
                        strerror(errno));
                rc = AXLE_EXIT_USAGE;
                goto out;
            }
            if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
                fprintf(stderr, "axle serve: prediction log: %s is not a directory\n", dir);
                rc = AXLE_EXIT_USAGE;
                goto out;
            }
        }
    }
    /* The machine is shared: each worker gets its part of the memory
     * budget and of the cores (its compute gate and default intra-op
     * threads). */
    r->mem_budget /= n;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    r->n_cores = ncpu / n > 0 ? (int)(ncpu / n) : 1;
    char detail[160];
    snprintf(detail, sizeof(detail), "http://%s:%d threads=%d control=%s workers=%d", p->host,
             p->port, p->n_threads, p->control, n);
    struct axle_workers_opts wo = {
        .n_workers = n,
        .run = run_worker,
        .arg = p,
        .listening_detail = detail,
        /* A worker's drain: the delay, the in-flight timeout, then a
         * margin for closing the log and the models. */
        .stop_grace_s = p->drain_delay + p->drain_timeout + 15,
        .close_in_child = fds,
        .n_close_in_child = n_fds,
    };
    rc = axle_workers_run(&wo);
out:
    for (int i = 0; i < n_fds; i++)
        close(fds[i]);
    free(p->worker_metrics_port);
    p->worker_metrics_port = NULL;
    return rc;
}
