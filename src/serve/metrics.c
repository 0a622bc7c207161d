/*
 * metrics.c - GET /metrics: the Prometheus text exposition (format 0.0.4)
 * of the per-version counters and histograms, the process, the prediction
 * log, feedback quality and drift.
 *
 * Nothing here is kept for the exposition itself: every number is read at
 * scrape time from the counters the request path already keeps (the stats
 * blocks of repo.h, one per thread, summed here), so the statistics
 * extension and the metrics can never disagree (PROTOCOLS.md section 14).
 * Names and the Triton equivalents are listed in docs/monitoring.md.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "serve/metrics.h"
#include "serve/monitor.h"

#ifndef AXLE_COMMIT
#define AXLE_COMMIT "unknown"
#endif

/* ------------------------------------------------------------------ */
/* Snapshots of the serving versions                                   */

struct collect {
    struct metrics_snapshot *snap;
};

static void snap_add(struct metrics_snapshot *s, struct model_version *v, struct served_model *m)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = axle_xrealloc(s->v, (size_t)s->cap * sizeof(*s->v));
    }
    s->v[s->n].v = v;
    s->v[s->n].m = m;
    s->n++;
}

static void collect_fn(void *arg, struct served_model *m)
{
    struct collect *c = arg;
    for (int i = 0; i < m->n_versions; i++) {
        struct model_version *v = m->versions[i];
        atomic_fetch_add(&v->refs, 1);
        snap_add(c->snap, v, m);
    }
    if (c->snap->n_other == c->snap->cap_other) {
        c->snap->cap_other = c->snap->cap_other ? 2 * c->snap->cap_other : 16;
        c->snap->other = axle_xrealloc(c->snap->other,
                                       (size_t)c->snap->cap_other * sizeof(*c->snap->other));
    }
    /* Models with nothing serving still report their state. */
    struct metrics_model_state *o = &c->snap->other[c->snap->n_other++];
    snprintf(o->model, sizeof(o->model), "%s", m->name);
    o->version = m->failed_version;
    o->state = m->n_versions ? VS_READY : (m->loading ? VS_LOADING : m->state);
    o->serving = m->n_versions;
}

void metrics_snapshot_take(struct repo *r, struct metrics_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    struct collect c = {s};
    repo_foreach(r, collect_fn, &c);
}

void metrics_snapshot_release(struct metrics_snapshot *s)
{
    for (int i = 0; i < s->n; i++)
        version_release(s->v[i].v);
    free(s->v);
    free(s->other);
    memset(s, 0, sizeof(*s));
}

uint64_t metrics_sum(const struct model_version *v, size_t off)
{
    uint64_t t = 0;
    for (int i = 0; i < v->n_stats; i++)
        t += atomic_load_explicit((atomic_uint_fast64_t *)((char *)&v->stats[i] + off),
                                  memory_order_relaxed);
    return t;
}

void metrics_hist(const struct model_version *v, enum hist_kind k, uint64_t *counts,
                  uint64_t *sum)
{
    int n = (k == H_BATCH ? v->n_batch_bounds : v->n_bounds) + 1;
    memset(counts, 0, (size_t)n * sizeof(*counts));
    *sum = 0;
    for (int i = 0; i < v->n_stats; i++) {
        const struct hist *h = &v->stats[i].hist[k];
        for (int b = 0; b < n; b++)
            counts[b] += atomic_load_explicit(&h->n[b], memory_order_relaxed);
        *sum += atomic_load_explicit(&h->sum, memory_order_relaxed);
    }
}

/* ------------------------------------------------------------------ */
/* Text format                                                         */

/* A label value: \\, \" and \n escaped (the exposition format's rules). */
static void put_label_value(struct axle_buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(b, "\\\\");
        else if (*s == '"')
            buf_puts(b, "\\\"");
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static void family(struct axle_buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void model_labels(struct axle_buf *b, const struct model_version *v)
{
    buf_puts(b, "model=");
    put_label_value(b, v->model->name);
    buf_puts(b, ",version=\"");
    buf_puts(b, v->version_str);
    buf_putc(b, '"');
}

/* A double as Prometheus reads it (Go's ParseFloat): NaN, +Inf, -Inf or
 * the shortest round-tripping decimal. */
void metrics_put_value(struct axle_buf *b, double x)
{
    if (x != x)
        buf_puts(b, "NaN");
    else if (x > 1e308)
        buf_puts(b, "+Inf");
    else if (x < -1e308)
        buf_puts(b, "-Inf");
    else
        json_put_double(b, x);
}

static void counter_family(struct axle_buf *b, const struct metrics_snapshot *s, const char *name,
                           const char *help, size_t off)
{
    family(b, name, "counter", help);
    for (int i = 0; i < s->n; i++) {
        buf_printf(b, "%s{", name);
        model_labels(b, s->v[i].v);
        buf_printf(b, "} %llu\n", (unsigned long long)metrics_sum(s->v[i].v, off));
    }
}

static void hist_family(struct axle_buf *b, const struct metrics_snapshot *s, const char *name,
                        const char *help, enum hist_kind k)
{
    family(b, name, "histogram", help);
    for (int i = 0; i < s->n; i++) {
        const struct model_version *v = s->v[i].v;
        uint64_t counts[METRIC_MAX_BUCKETS + 1], sum;
        metrics_hist(v, k, counts, &sum);
        int nb = k == H_BATCH ? v->n_batch_bounds : v->n_bounds;
        const uint64_t *bounds = k == H_BATCH ? v->batch_bounds : v->bounds;
        uint64_t cum = 0;
        for (int j = 0; j <= nb; j++) {
            cum += counts[j];
            buf_printf(b, "%s_bucket{", name);
            model_labels(b, v);
            buf_puts(b, ",le=\"");
            if (j == nb)
                buf_puts(b, "+Inf");
            else if (k == H_BATCH)
                buf_printf(b, "%llu", (unsigned long long)bounds[j]);
            else
                metrics_put_value(b, (double)bounds[j] / 1e9);
            buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
        }
        buf_printf(b, "%s_sum{", name);
        model_labels(b, v);
        buf_puts(b, "} ");
        if (k == H_BATCH)
            buf_printf(b, "%llu", (unsigned long long)sum);
        else
            metrics_put_value(b, (double)sum / 1e9);
        buf_printf(b, "\n%s_count{", name);
        model_labels(b, v);
        buf_printf(b, "} %llu\n", (unsigned long long)cum);
    }
}

/* ------------------------------------------------------------------ */
/* Process                                                             */

struct proc_info {
    double cpu_seconds;
    double rss_bytes, vm_bytes;
    long threads;
    long open_fds, max_fds;
};

static void read_proc(struct proc_info *p)
{
    memset(p, 0, sizeof(*p));
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        p->cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        unsigned long size, res;
        if (fscanf(f, "%lu %lu", &size, &res) == 2) {
            p->vm_bytes = (double)size * (double)page;
            p->rss_bytes = (double)res * (double)page;
        }
        fclose(f);
    }
    f = fopen("/proc/self/status", "re");
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f))
            if (strncmp(line, "Threads:", 8) == 0)
                p->threads = strtol(line + 8, NULL, 10);
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                p->open_fds++;
        closedir(d);
        p->open_fds--; /* the directory stream itself */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

static void process_families(struct axle_buf *b, double start_time)
{
    struct proc_info p;
    read_proc(&p);
    family(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    buf_puts(b, "process_cpu_seconds_total ");
    metrics_put_value(b, p.cpu_seconds);
    buf_putc(b, '\n');
    family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    buf_printf(b, "process_resident_memory_bytes %.0f\n", p.rss_bytes);
    family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    buf_printf(b, "process_virtual_memory_bytes %.0f\n", p.vm_bytes);
    family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
    buf_printf(b, "process_open_fds %ld\n", p.open_fds);
    if (p.max_fds > 0) {
        family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        buf_printf(b, "process_max_fds %ld\n", p.max_fds);
    }
    family(b, "process_threads", "gauge", "Number of OS threads in the process.");
    buf_printf(b, "process_threads %ld\n", p.threads);
    family(b, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    buf_puts(b, "process_start_time_seconds ");
    metrics_put_value(b, start_time);
    buf_putc(b, '\n');
    family(b, "axle_build_info", "gauge", "axle version and commit; always 1.");
    buf_puts(b, "axle_build_info{version=");
    put_label_value(b, axle_version());
    buf_puts(b, ",commit=");
    put_label_value(b, AXLE_COMMIT);
    buf_puts(b, "} 1\n");
}

/* ------------------------------------------------------------------ */

void metrics_render(struct repo *repo, double start_time, struct axle_buf *b)
{
    struct metrics_snapshot s;
    metrics_snapshot_take(repo, &s);

    counter_family(b, &s, "axle_inference_request_success_total",
                   "Successful inference requests (one per request, whatever its batch).",
                   offsetof(struct version_stats, success.count));
    family(b, "axle_inference_request_failure_total", "counter",
           "Failed inference requests by reason (bad_request, rejected, timeout, canceled, error).");
    for (int i = 0; i < s.n; i++)
        for (int k = 0; k < FAIL_N; k++) {
            buf_puts(b, "axle_inference_request_failure_total{");
            model_labels(b, s.v[i].v);
            buf_printf(b, ",reason=\"%s\"} %llu\n", fail_reason_name((enum fail_reason)k),
                       (unsigned long long)metrics_sum(
                           s.v[i].v, offsetof(struct version_stats, fail_reason) +
                                         (size_t)k * sizeof(atomic_uint_fast64_t)));
        }
    counter_family(b, &s, "axle_inference_count_total",
                   "Inferences performed (a request of batch N counts N).",
                   offsetof(struct version_stats, inference_count));
    counter_family(b, &s, "axle_inference_exec_count_total",
                   "Model executions (a dynamic batch counts once).",
                   offsetof(struct version_stats, execution_count));
    family(b, "axle_inference_pending_requests", "gauge",
           "Requests queued for the model, not yet executing.");
    for (int i = 0; i < s.n; i++) {
        buf_puts(b, "axle_inference_pending_requests{");
        model_labels(b, s.v[i].v);
        buf_printf(b, "} %lld\n",
                   (long long)(s.v[i].v->sched ? sched_queued(s.v[i].v->sched) : 0));
    }
    family(b, "axle_model_load_duration_seconds", "gauge", "Time the version took to load.");
    for (int i = 0; i < s.n; i++) {
        buf_puts(b, "axle_model_load_duration_seconds{");
        model_labels(b, s.v[i].v);
        buf_puts(b, "} ");
        metrics_put_value(b, s.v[i].v->load_seconds);
        buf_putc(b, '\n');
    }
    family(b, "axle_model_state", "gauge",
           "1 for the current state of each model version (READY, LOADING, UNAVAILABLE, ...).");
    for (int i = 0; i < s.n; i++) {
        buf_puts(b, "axle_model_state{");
        model_labels(b, s.v[i].v);
        buf_printf(b, ",state=\"%s\"} 1\n", version_state_name(s.v[i].v->state));
    }
    for (int i = 0; i < s.n_other; i++) {
        const struct metrics_model_state *o = &s.other[i];
        if (o->serving && !o->version)
            continue;
        if (o->serving && o->version) {
            /* A failed newer version beside the one serving. */
            buf_puts(b, "axle_model_state{model=");
            put_label_value(b, o->model);
            buf_printf(b, ",version=\"%lld\",state=\"UNAVAILABLE\"} 1\n", (long long)o->version);
            continue;
        }
        buf_puts(b, "axle_model_state{model=");
        put_label_value(b, o->model);
        if (o->version)
            buf_printf(b, ",version=\"%lld\"", (long long)o->version);
        else
            buf_puts(b, ",version=\"\"");
        buf_printf(b, ",state=\"%s\"} 1\n", version_state_name(o->state));
    }
    hist_family(b, &s, "axle_inference_request_duration_seconds",
                "End-to-end time of successful requests, first byte to answer.", H_REQUEST);
    hist_family(b, &s, "axle_inference_queue_duration_seconds",
                "Time successful requests waited in the scheduler's queue.", H_QUEUE);
    hist_family(b, &s, "axle_inference_compute_input_duration_seconds",
                "Time to decode and prepare the inputs of successful requests.", H_INPUT);
    hist_family(b, &s, "axle_inference_compute_infer_duration_seconds",
                "Time the model ran for successful requests.", H_INFER);
    hist_family(b, &s, "axle_inference_compute_output_duration_seconds",
                "Time to encode the outputs of successful requests.", H_OUTPUT);
    hist_family(b, &s, "axle_inference_batch_size", "Rows per model execution.", H_BATCH);
    monitor_metrics(b, &s);
    process_families(b, start_time);
    metrics_snapshot_release(&s);
}

void metrics_add_label(struct axle_buf *dst, const char *text, size_t len, const char *name,
                       const char *value)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl + 1 : end;
        if (*p == '#' || *p == '\n') {
            buf_put(dst, p, (size_t)(eol - p));
            p = eol;
            continue;
        }
        /* A metric name ends at '{' or at the space before the value. */
        size_t n = 0;
        while (p + n < eol && p[n] != '{' && p[n] != ' ')
            n++;
        if (p + n >= eol) {
            buf_put(dst, p, (size_t)(eol - p));
            p = eol;
            continue;
        }
        buf_put(dst, p, n);
        if (p[n] == '{') {
            buf_printf(dst, "{%s=\"%s\"", name, value);
            if (p[n + 1] != '}')
                buf_putc(dst, ',');
            p += n + 1;
        } else {
            buf_printf(dst, "{%s=\"%s\"}", name, value);
            p += n;
        }
        buf_put(dst, p, (size_t)(eol - p));
        p = eol;
    }
}
