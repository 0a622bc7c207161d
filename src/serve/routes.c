/*
 * routes.c - the route table, the one auth gate in front of it, and the
 * small handlers (health, metadata, statistics, repository, V1 status).
 *
 * Paths are split into segments, each percent-decoded exactly once; the
 * decoded value is checked, never cleaned (SECURITY.md D10). A segment in a
 * model-name position must be a valid model name, a version a decimal.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "base/err.h"
#include "serve/predlog.h"
#include "serve/dashboard.h"
#include "serve/feedback.h"
#include "serve/metrics.h"
#include "serve/monitor.h"
#include "serve/server.h"

#define MAX_SEGS 12

/* ------------------------------------------------------------------ */
/* Shared helpers                                                      */

static __thread struct scratch *tl_scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    struct scratch *sc = p;
    json_doc_free(&sc->doc);
    buf_free(&sc->out);
    buf_free(&sc->data);
    buf_free(&sc->aux);
    buf_free(&sc->rec);
    free(sc);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

/* Scratch of the calling thread, freed when the thread ends. */
struct scratch *scratch_get(void)
{
    if (!tl_scratch) {
        pthread_once(&scratch_once, scratch_key_init);
        tl_scratch = calloc(1, sizeof(*tl_scratch));
        if (!tl_scratch)
            abort();
        pthread_setspecific(scratch_key, tl_scratch);
        json_doc_init(&tl_scratch->doc);
        buf_init(&tl_scratch->out);
        buf_init(&tl_scratch->data);
        buf_init(&tl_scratch->aux);
        buf_init(&tl_scratch->rec);
    }
    return tl_scratch;
}

int serve_thread_index(void)
{
    return http_thread_index();
}

int status_to_http(enum axle_status st)
{
    switch (st) {
    case AXLE_OK: return 200;
    case AXLE_CANCELLED: return 499;
    case AXLE_INVALID_ARGUMENT: case AXLE_FAILED_PRECONDITION: case AXLE_OUT_OF_RANGE: return 400;
    case AXLE_DEADLINE_EXCEEDED: return 504;
    case AXLE_NOT_FOUND: return 404;
    case AXLE_ALREADY_EXISTS: case AXLE_ABORTED: return 409;
    case AXLE_PERMISSION_DENIED: return 403;
    case AXLE_RESOURCE_EXHAUSTED: return 429;
    case AXLE_UNIMPLEMENTED: return 501;
    case AXLE_UNAVAILABLE: return 503;
    case AXLE_UNAUTHENTICATED: return 401;
    default: return 500;
    }
}

void respond_status(struct http_req *r, enum axle_status st, const char *msg)
{
    int code = status_to_http(st);
    const char *extra = NULL;
    if (code == 503)
        extra = "Retry-After: 1\r\n";
    else if (code == 401)
        extra = "WWW-Authenticate: Bearer\r\n";
    http_respond_error(r, code, msg, extra);
}

void respond_json(struct http_req *r, int status, const struct axle_buf *b)
{
    if (b->oom) {
        respond_status(r, AXLE_UNAVAILABLE, "memory budget exceeded");
        return;
    }
    http_respond(r, status, "application/json", NULL, b->data, b->len);
}

/* Worker id for log lines (serve --workers); 0: a single server. */
static int log_worker;

void serve_log_set_worker(int id)
{
    log_worker = id;
}

void serve_log(const char *event, const char *model, const char *version, const char *detail)
{
    char tmp[2048];
    struct axle_buf b = {.data = tmp, .len = 0, .cap = sizeof(tmp), .limit = sizeof(tmp)};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"info\",\"event\":", when,
               ts.tv_nsec / 1000000);
    json_put_cstr(&b, event);
    if (model) {
        buf_puts(&b, ",\"model\":");
        json_put_str(&b, model, strnlen(model, 256));
    }
    if (version) {
        buf_puts(&b, ",\"version\":");
        json_put_cstr(&b, version);
    }
    if (detail) {
        buf_puts(&b, ",\"detail\":");
        json_put_str(&b, detail, strnlen(detail, 1024));
    }
    /* Last, so that a worker's line never reads as the supervisor's
     * (tests match '"event":"ready"}'). */
    if (log_worker > 0)
        buf_printf(&b, ",\"worker\":%d", log_worker);
    buf_puts(&b, "}\n");
    if (!b.oom) {
        ssize_t w = write(2, b.data, b.len);
        (void)w;
    }
}

/* ------------------------------------------------------------------ */
/* Path segments                                                       */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

struct path {
    int n;
    char *seg[MAX_SEGS];
    int bad[MAX_SEGS]; /* decoded to something no segment may hold */
    char store[8192 + MAX_SEGS];
};

/* Split and decode. Returns 0, or -1 when the path is unusable (too many
 * segments, empty segments, not absolute). */
static int path_split(const char *raw, struct path *p)
{
    p->n = 0;
    if (raw[0] != '/')
        return -1;
    size_t o = 0;
    const char *s = raw + 1;
    if (!*s)
        return 0;
    while (1) {
        if (p->n == MAX_SEGS)
            return -1;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 && e)
            return -1;
        if (o + len + 1 > sizeof(p->store))
            return -1;
        char *dst = p->store + o;
        size_t k = 0;
        int bad = 0;
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            if (c == '%') {
                if (i + 2 >= len) {
                    bad = 1;
                    break;
                }
                int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
                if (a < 0 || b < 0) {
                    bad = 1;
                    break;
                }
                c = (char)(a * 16 + b);
                i += 2;
            }
            if (c == '/' || c == '\\' || c == 0 || c == '%' || (unsigned char)c >= 0x80 ||
                (unsigned char)c < 0x20)
                bad = 1;
            dst[k++] = c;
        }
        dst[k] = 0;
        if (strcmp(dst, ".") == 0 || strcmp(dst, "..") == 0)
            bad = 1;
        p->seg[p->n] = dst;
        p->bad[p->n] = bad;
        p->n++;
        o += k + 1;
        if (!e)
            break;
        s = e + 1;
        if (!*s)
            break; /* trailing slash */
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* JSON bodies                                                         */

static void put_io_list(struct axle_buf *b, const struct io_desc *io, int n)
{
    buf_putc(b, '[');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        buf_puts(b, "{\"name\":");
        json_put_cstr(b, io[i].name);
        buf_puts(b, ",\"datatype\":\"");
        buf_puts(b, wire_dtype_name(io[i].dtype));
        buf_puts(b, "\",\"shape\":[");
        for (int k = 0; k < io[i].rank; k++) {
            if (k)
                buf_putc(b, ',');
            json_put_int(b, io[i].dims[k]);
        }
        buf_puts(b, "]}");
    }
    buf_putc(b, ']');
}

struct versions_arg {
    struct axle_buf *b;
    const char *name;
    int found;
};

static void collect_versions(void *arg, struct served_model *m)
{
    struct versions_arg *a = arg;
    if (strcmp(m->name, a->name) != 0)
        return;
    a->found = 1;
    for (int i = 0; i < m->n_versions; i++) {
        if (i)
            buf_putc(a->b, ',');
        buf_putc(a->b, '"');
        buf_puts(a->b, m->versions[i]->version_str);
        buf_putc(a->b, '"');
    }
}

static void model_metadata(struct server *s, struct http_req *r, struct model_version *v)
{
    struct axle_buf *b = &scratch_get()->out;
    buf_reset(b);
    buf_puts(b, "{\"name\":");
    json_put_cstr(b, v->model->name);
    buf_puts(b, ",\"versions\":[");
    struct versions_arg a = {b, v->model->name, 0};
    repo_foreach(&s->repo, collect_versions, &a);
    buf_puts(b, "],\"platform\":");
    json_put_cstr(b, axle_model_platform(v->engine));
    buf_puts(b, ",\"inputs\":");
    put_io_list(b, v->inputs, v->n_inputs);
    buf_puts(b, ",\"outputs\":");
    put_io_list(b, v->outputs, v->n_outputs);
    buf_puts(b, ",\"parameters\":{\"max_batch_size\":");
    json_put_int(b, v->max_batch_size);
    buf_puts(b, "}}");
    respond_json(r, 200, b);
}

static void put_dur(struct axle_buf *b, const char *key, uint64_t count, uint64_t ns)
{
    buf_printf(b, "\"%s\":{\"count\":%llu,\"ns\":%llu}", key, (unsigned long long)count,
               (unsigned long long)ns);
}

/* Sum of one counter over the I/O threads' blocks (off: its offset in
 * struct version_stats). */
static uint64_t stat_sum(const struct model_version *v, size_t off)
{
    uint64_t t = 0;
    for (int i = 0; i < v->n_stats; i++)
        t += atomic_load_explicit((atomic_uint_fast64_t *)((char *)&v->stats[i] + off),
                                  memory_order_relaxed);
    return t;
}

#define STAT(v, field) stat_sum((v), offsetof(struct version_stats, field))

static void put_dur_field(struct axle_buf *b, const struct model_version *v, const char *key,
                          size_t off)
{
    put_dur(b, key, stat_sum(v, off + offsetof(struct duration_stat, count)),
            stat_sum(v, off + offsetof(struct duration_stat, ns)));
}

/* One per-batch-size duration summed over the threads. */
static void batch_sum(const struct model_version *v, struct duration_stat *const *arrays,
                      int k, uint64_t *count, uint64_t *ns)
{
    *count = *ns = 0;
    for (int i = 0; i < v->n_stats && i < REPO_MAX_IO; i++) {
        *count += atomic_load_explicit(&arrays[i][k].count, memory_order_relaxed);
        *ns += atomic_load_explicit(&arrays[i][k].ns, memory_order_relaxed);
    }
}

static void put_version_stats(struct axle_buf *b, struct model_version *v)
{
    uint64_t last = 0;
    for (int i = 0; i < v->n_stats; i++) {
        uint64_t t = atomic_load(&v->stats[i].last_inference_ms);
        last = t > last ? t : last;
    }
    buf_puts(b, "{\"name\":");
    json_put_cstr(b, v->model->name);
    buf_puts(b, ",\"version\":\"");
    buf_puts(b, v->version_str);
    buf_printf(b, "\",\"last_inference\":%llu,\"inference_count\":%llu,\"execution_count\":%llu,"
                  "\"inference_stats\":{",
               (unsigned long long)last, (unsigned long long)STAT(v, inference_count),
               (unsigned long long)STAT(v, execution_count));
    put_dur_field(b, v, "success", offsetof(struct version_stats, success));
    buf_putc(b, ',');
    put_dur_field(b, v, "fail", offsetof(struct version_stats, fail));
    buf_putc(b, ',');
    put_dur_field(b, v, "queue", offsetof(struct version_stats, queue));
    buf_putc(b, ',');
    put_dur_field(b, v, "compute_input", offsetof(struct version_stats, compute_input));
    buf_putc(b, ',');
    put_dur_field(b, v, "compute_infer", offsetof(struct version_stats, compute_infer));
    buf_putc(b, ',');
    put_dur_field(b, v, "compute_output", offsetof(struct version_stats, compute_output));
    buf_puts(b, ",\"cache_hit\":{\"count\":0,\"ns\":0},\"cache_miss\":{\"count\":0,\"ns\":0}},"
                "\"response_stats\":{},\"batch_stats\":[");
    struct duration_stat *in[REPO_MAX_IO], *inf[REPO_MAX_IO], *outp[REPO_MAX_IO];
    int n = v->n_stats < REPO_MAX_IO ? v->n_stats : REPO_MAX_IO;
    for (int i = 0; i < n; i++) {
        in[i] = v->stats[i].batch_input;
        inf[i] = v->stats[i].batch;
        outp[i] = v->stats[i].batch_output;
    }
    int first = 1;
    for (int k = 1; k < REPO_MAX_BATCH_STATS; k++) {
        uint64_t c, ns;
        batch_sum(v, inf, k, &c, &ns);
        if (!c)
            continue;
        if (!first)
            buf_putc(b, ',');
        first = 0;
        buf_printf(b, "{\"batch_size\":%d,", k);
        uint64_t ci, nsi, co, nso;
        batch_sum(v, in, k, &ci, &nsi);
        batch_sum(v, outp, k, &co, &nso);
        put_dur(b, "compute_input", ci, nsi);
        buf_putc(b, ',');
        put_dur(b, "compute_infer", c, ns);
        buf_putc(b, ',');
        put_dur(b, "compute_output", co, nso);
        buf_putc(b, '}');
    }
    buf_puts(b, "],\"memory_usage\":[]}");
}

struct stats_arg {
    struct axle_buf *b;
    const char *model;   /* NULL: all */
    int64_t version;     /* 0: all */
    int n;
    int model_found;
};

static void collect_stats(void *arg, struct served_model *m)
{
    struct stats_arg *a = arg;
    if (a->model && strcmp(m->name, a->model) != 0)
        return;
    a->model_found = 1;
    for (int i = 0; i < m->n_versions; i++) {
        if (a->version && m->versions[i]->version != a->version)
            continue;
        if (a->n++)
            buf_putc(a->b, ',');
        put_version_stats(a->b, m->versions[i]);
    }
}

static void handle_stats(struct server *s, struct http_req *r, const char *model,
                         const char *version)
{
    struct axle_buf *b = &scratch_get()->out;
    buf_reset(b);
    int64_t ver = 0;
    if (version && !repo_parse_version(version, &ver)) {
        respond_status(r, AXLE_INVALID_ARGUMENT, "invalid version");
        return;
    }
    buf_puts(b, "{\"model_stats\":[");
    struct stats_arg a = {b, model, ver, 0, 0};
    repo_foreach(&s->repo, collect_stats, &a);
    buf_puts(b, "]}");
    if (model && !a.model_found) {
        respond_status(r, AXLE_NOT_FOUND, "model not found");
        return;
    }
    if (version && a.n == 0) {
        respond_status(r, AXLE_NOT_FOUND, "model version not found");
        return;
    }
    respond_json(r, 200, b);
}

struct index_arg {
    struct axle_buf *b;
    int ready_only;
    int n;
};

static void collect_index(void *arg, struct served_model *m)
{
    struct index_arg *a = arg;
    for (int i = 0; i < m->n_versions; i++) {
        if (a->n++)
            buf_putc(a->b, ',');
        buf_puts(a->b, "{\"name\":");
        json_put_cstr(a->b, m->name);
        buf_printf(a->b, ",\"version\":\"%s\",\"state\":\"READY\",\"reason\":\"\"}",
                   m->versions[i]->version_str);
    }
    if (a->ready_only)
        return;
    if (m->n_versions == 0 || m->failed_version) {
        if (a->n++)
            buf_putc(a->b, ',');
        buf_puts(a->b, "{\"name\":");
        json_put_cstr(a->b, m->name);
        if (m->failed_version)
            buf_printf(a->b, ",\"version\":\"%lld\"", (long long)m->failed_version);
        buf_puts(a->b, ",\"state\":\"");
        buf_puts(a->b, m->n_versions == 0 && m->state == VS_LOADING ? "LOADING" : "UNAVAILABLE");
        buf_puts(a->b, "\",\"reason\":");
        json_put_cstr(a->b, m->reason);
        buf_putc(a->b, '}');
    }
}

/* The version a request is for; answers the request and returns NULL when
 * there is none. An inference POST must frame its body (411). */
static struct model_version *acquire_or_answer(struct server *s, struct http_req *r,
                                               const char *model, const char *version,
                                               int needs_body)
{
    if (needs_body && !r->has_length) {
        http_respond_error(r, 411, "length required", NULL);
        return NULL;
    }
    struct model_version *v;
    struct axle_err err;
    enum axle_status st = repo_acquire(&s->repo, model, version, &v, &err);
    if (st != AXLE_OK) {
        respond_status(r, st, err.msg);
        return NULL;
    }
    return v;
}

/* ------------------------------------------------------------------ */
/* V1 status                                                           */

static void v1_status(struct server *s, struct http_req *r, const char *model, const char *version)
{
    struct model_version *v = acquire_or_answer(s, r, model, version, 0);
    if (!v)
        return;
    struct axle_buf *b = &scratch_get()->out;
    buf_reset(b);
    buf_puts(b, "{\"name\":");
    json_put_cstr(b, model);
    buf_printf(b, ",\"ready\":true,\"model_version_status\":[{\"version\":\"%s\",\"state\":"
                  "\"AVAILABLE\",\"status\":{\"error_code\":\"OK\",\"error_message\":\"\"}}]}",
               v->version_str);
    version_release(v);
    respond_json(r, 200, b);
}

struct list_arg {
    struct axle_buf *b;
    int n;
};

static void collect_names(void *arg, struct served_model *m)
{
    struct list_arg *a = arg;
    if (a->n++)
        buf_putc(a->b, ',');
    json_put_cstr(a->b, m->name);
}

/* ------------------------------------------------------------------ */
/* Auth gate (D2, D5, D6)                                              */

enum route_class { RC_HEALTH, RC_INFER, RC_MGMT };

static int host_allowed(struct server *s, const char *host)
{
    if (!host)
        return 0;
    char h[300];
    snprintf(h, sizeof(h), "%s", host);
    char *colon = strrchr(h, ':');
    if (colon && !strchr(h, ']'))
        *colon = 0;
    else if (h[0] == '[') {
        char *end = strchr(h, ']');
        if (end)
            end[1] = 0;
    }
    (void)s;
    return strcmp(h, "localhost") == 0 || strcmp(h, "127.0.0.1") == 0 || strcmp(h, "[::1]") == 0;
}

/* 0 when the request may proceed; otherwise it has been answered. */
static int gate(struct server *s, struct http_req *r, enum route_class rc)
{
    if (rc == RC_HEALTH)
        return 0;
    if (rc == RC_MGMT) {
        if (s->repo.control != CONTROL_EXPLICIT) {
            respond_status(r, AXLE_PERMISSION_DENIED, "model control disabled");
            return -1;
        }
        if (r->origin) {
            respond_status(r, AXLE_PERMISSION_DENIED, "cross-origin request refused");
            return -1;
        }
        if (s->loopback && !host_allowed(s, r->host)) {
            respond_status(r, AXLE_PERMISSION_DENIED, "host not allowed");
            return -1;
        }
    } else if (!s->have_infer_token) {
        return 0;
    }
    if (r->n_authorization > 1) {
        respond_status(r, AXLE_INVALID_ARGUMENT, "duplicate authorization header");
        return -1;
    }
    const char *a = r->authorization;
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) {
        respond_status(r, AXLE_UNAUTHENTICATED, "missing token");
        return -1;
    }
    const char *tok = a + 7;
    size_t len = strlen(tok);
    if (rc == RC_MGMT) {
        if (auth_token_matches(tok, len, s->mgmt_token_hash))
            return 0;
        if (s->have_infer_token && auth_token_matches(tok, len, s->infer_token_hash)) {
            respond_status(r, AXLE_PERMISSION_DENIED, "insufficient scope");
            return -1;
        }
        respond_status(r, AXLE_PERMISSION_DENIED, "invalid token");
        return -1;
    }
    if (auth_token_matches(tok, len, s->infer_token_hash) ||
        (s->have_mgmt_token && auth_token_matches(tok, len, s->mgmt_token_hash)))
        return 0;
    respond_status(r, AXLE_PERMISSION_DENIED, "invalid token");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

static int is_get(const struct http_req *r)
{
    return r->method == HTTP_GET || r->method == HTTP_HEAD;
}

static int method_ok(struct http_req *r, int want_post)
{
    int ok = want_post ? r->method == HTTP_POST : is_get(r);
    if (!ok) {
        http_respond_error(r, 405, "method not allowed",
                           want_post ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n");
    }
    return ok;
}

static void model_route(struct server *s, struct http_req *r, const char *model,
                        const char *version, const char *action)
{
    if (!repo_valid_model_name(model)) {
        respond_status(r, AXLE_INVALID_ARGUMENT, "invalid model name");
        return;
    }
    int64_t vv;
    if (version && !repo_parse_version(version, &vv)) {
        respond_status(r, AXLE_INVALID_ARGUMENT, "invalid version");
        return;
    }
    int post = action && (strcmp(action, "infer") == 0 || strcmp(action, "feedback") == 0);
    if (action && strcmp(action, "infer") != 0 && strcmp(action, "ready") != 0 &&
        strcmp(action, "stats") != 0 && strcmp(action, "feedback") != 0 &&
        strcmp(action, "monitor") != 0) {
        respond_status(r, AXLE_NOT_FOUND, "not found");
        return;
    }
    if (!method_ok(r, post))
        return;
    if (gate(s, r, RC_INFER) != 0)
        return;
    if (action && strcmp(action, "stats") == 0) {
        handle_stats(s, r, model, version);
        return;
    }
    if (action && strcmp(action, "feedback") == 0) {
        if (!r->has_length)
            http_respond_error(r, 411, "length required", NULL);
        else
            serve_feedback(s, r, model, version);
        return;
    }
    struct model_version *v = acquire_or_answer(s, r, model, version, post);
    if (!v)
        return;
    if (!action) {
        model_metadata(s, r, v);
    } else if (strcmp(action, "monitor") == 0) {
        struct axle_buf *b = &scratch_get()->out;
        buf_reset(b);
        monitor_put_json(b, v);
        respond_json(r, 200, b);
    } else if (strcmp(action, "ready") == 0) {
        struct axle_buf *b = &scratch_get()->out;
        buf_reset(b);
        buf_puts(b, "{\"name\":");
        json_put_cstr(b, model);
        buf_puts(b, ",\"ready\":true}");
        respond_json(r, 200, b);
    } else {
        serve_v2_infer(s, r, v);
    }
    version_release(v);
}

/* Model loads run on a thread of their own and answer through
 * http_defer(): a load takes seconds, and the I/O loop that received the
 * request must go on serving (health probes, inference, a second load of
 * the same model, which gets 409 "load in progress"). */
#define MAX_CONCURRENT_LOADS 4

static atomic_int loads_running;

struct load_job {
    struct server *s;
    struct http_deferred *d;
    char name[REPO_MAX_NAME + 1];
};

static void deferred_status(struct http_deferred *d, enum axle_status st, const char *msg)
{
    int code = status_to_http(st);
    const char *extra = code == 503 ? "Retry-After: 1\r\n"
                        : code == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL;
    char tmp[512];
    size_t n = http_error_body(tmp, sizeof(tmp), msg);
    http_deferred_respond(d, code, "application/json", extra, tmp, n);
}

static void *load_main(void *arg)
{
    struct load_job *j = arg;
    struct axle_err err;
    enum axle_status st = repo_load_model(&j->s->repo, j->name, &err);
    if (st == AXLE_OK)
        http_deferred_respond(j->d, 200, NULL, NULL, NULL, 0);
    else
        deferred_status(j->d, st, err.msg);
    free(j);
    atomic_fetch_sub(&loads_running, 1);
    return NULL;
}

static void start_load(struct server *s, struct http_req *r, const char *name)
{
    if (atomic_fetch_add(&loads_running, 1) >= MAX_CONCURRENT_LOADS) {
        atomic_fetch_sub(&loads_running, 1);
        respond_status(r, AXLE_UNAVAILABLE, "too many concurrent model loads");
        return;
    }
    struct load_job *j = calloc(1, sizeof(*j));
    struct http_deferred *d = j ? http_defer(r) : NULL;
    if (!d) {
        /* Cannot defer (detached connection, no memory): load here. */
        free(j);
        atomic_fetch_sub(&loads_running, 1);
        struct axle_err err;
        enum axle_status st = repo_load_model(&s->repo, name, &err);
        if (st != AXLE_OK)
            respond_status(r, st, err.msg);
        else
            http_respond(r, 200, NULL, NULL, NULL, 0);
        return;
    }
    j->s = s;
    j->d = d;
    snprintf(j->name, sizeof(j->name), "%s", name);
    pthread_attr_t attr;
    pthread_t t;
    int ok = pthread_attr_init(&attr) == 0;
    if (ok) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&t, &attr, load_main, j) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!ok)
        load_main(j); /* no thread: load here; the answer still goes via the loop */
}

static void repository_route(struct server *s, struct http_req *r, struct path *p)
{
    /* /v2/repository/index | /v2/repository/models/{m}/{load,unload} */
    if (p->n == 3 && strcmp(p->seg[2], "index") == 0) {
        if (!method_ok(r, 1) || gate(s, r, RC_MGMT) != 0)
            return;
        int ready_only = 0;
        if (r->body_len) {
            struct json_doc *d = &scratch_get()->doc;
            struct axle_err err;
            if (json_parse(d, r->body, r->body_len, &err) != AXLE_OK) {
                respond_status(r, err.code, err.msg);
                return;
            }
            uint32_t t = json_tok(d, 0)->type == JSON_OBJECT ? json_get(d, 0, "ready") : 0;
            if (json_tok(d, 0)->type != JSON_OBJECT ||
                (t && json_tok(d, t)->type != JSON_TRUE && json_tok(d, t)->type != JSON_FALSE)) {
                respond_status(r, AXLE_INVALID_ARGUMENT, "invalid request");
                return;
            }
            ready_only = t && json_tok(d, t)->type == JSON_TRUE;
        }
        struct axle_buf *b = &scratch_get()->out;
        buf_reset(b);
        buf_putc(b, '[');
        struct index_arg a = {b, ready_only, 0};
        repo_foreach(&s->repo, collect_index, &a);
        buf_putc(b, ']');
        respond_json(r, 200, b);
        return;
    }
    if (p->n == 5 && strcmp(p->seg[2], "models") == 0 &&
        (strcmp(p->seg[4], "load") == 0 || strcmp(p->seg[4], "unload") == 0)) {
        if (p->bad[3] || !repo_valid_model_name(p->seg[3])) {
            respond_status(r, AXLE_INVALID_ARGUMENT, "invalid model name");
            return;
        }
        if (!method_ok(r, 1) || gate(s, r, RC_MGMT) != 0)
            return;
        if (r->body_len) {
            /* Only {"parameters":{"unload_dependents":bool}} is understood
             * (D9: no file contents, no paths, no config overrides). */
            struct json_doc *d = &scratch_get()->doc;
            struct axle_err err;
            if (json_parse(d, r->body, r->body_len, &err) != AXLE_OK) {
                respond_status(r, err.code, err.msg);
                return;
            }
            if (json_tok(d, 0)->type != JSON_OBJECT) {
                respond_status(r, AXLE_INVALID_ARGUMENT, "invalid request");
                return;
            }
            for (uint32_t k = 1; k < json_next(d, 0); k = json_next(d, k + 1)) {
                if (!json_streq(d, k, "parameters") || json_tok(d, k + 1)->type != JSON_OBJECT) {
                    respond_status(r, AXLE_INVALID_ARGUMENT, "unsupported load parameter");
                    return;
                }
                for (uint32_t q = k + 2; q < json_next(d, k + 1); q = json_next(d, q + 1))
                    if (!json_streq(d, q, "unload_dependents")) {
                        respond_status(r, AXLE_INVALID_ARGUMENT, "unsupported load parameter");
                        return;
                    }
            }
        }
        if (strcmp(p->seg[4], "load") == 0) {
            start_load(s, r, p->seg[3]);
            return;
        }
        struct axle_err err;
        enum axle_status st = repo_unload_model(&s->repo, p->seg[3], &err);
        if (st != AXLE_OK) {
            respond_status(r, st, err.msg);
            return;
        }
        http_respond(r, 200, NULL, NULL, NULL, 0);
        return;
    }
    respond_status(r, AXLE_NOT_FOUND, "not found");
}

static void v1_route(struct server *s, struct http_req *r, struct path *p)
{
    /* /v1/models, /v1/models/{m}[:verb], /v1/models/{m}/versions/{v}[:verb],
     * /v1/models/{m}/labels/{l}[:verb], .../metadata */
    if (p->n == 2) {
        if (!method_ok(r, 0) || gate(s, r, RC_INFER) != 0)
            return;
        struct axle_buf *b = &scratch_get()->out;
        buf_reset(b);
        buf_puts(b, "{\"models\":[");
        struct list_arg a = {b, 0};
        repo_foreach(&s->repo, collect_names, &a);
        buf_puts(b, "]}");
        respond_json(r, 200, b);
        return;
    }
    char *last = p->seg[p->n - 1];
    char *verb = strrchr(last, ':');
    if (verb)
        *verb++ = 0;
    const char *model = p->seg[2];
    if (p->bad[2] || !repo_valid_model_name(model)) {
        respond_status(r, AXLE_INVALID_ARGUMENT, "invalid model name");
        return;
    }
    const char *version = NULL;
    int metadata = 0;
    if (p->n == 3) {
        /* plain */
    } else if ((p->n == 5 || p->n == 6) && strcmp(p->seg[3], "versions") == 0) {
        version = p->seg[4];
        int64_t vv;
        if (p->bad[4] || !repo_parse_version(version, &vv)) {
            respond_status(r, AXLE_INVALID_ARGUMENT, "invalid version");
            return;
        }
        if (p->n == 6) {
            if (strcmp(p->seg[5], "metadata") != 0) {
                respond_status(r, AXLE_NOT_FOUND, "not found");
                return;
            }
            metadata = 1;
        }
    } else if ((p->n == 5 || p->n == 6) && strcmp(p->seg[3], "labels") == 0) {
        /* Labels map to the newest version (no label table yet). */
        if (p->n == 6) {
            if (strcmp(p->seg[5], "metadata") != 0) {
                respond_status(r, AXLE_NOT_FOUND, "not found");
                return;
            }
            metadata = 1;
        }
    } else if (p->n == 4 && strcmp(p->seg[3], "metadata") == 0) {
        metadata = 1;
    } else {
        respond_status(r, AXLE_NOT_FOUND, "not found");
        return;
    }
    if (metadata) {
        if (!method_ok(r, 0) || gate(s, r, RC_INFER) != 0)
            return;
        respond_status(r, AXLE_UNIMPLEMENTED, "not implemented");
        return;
    }
    if (!verb) {
        if (!method_ok(r, 0) || gate(s, r, RC_INFER) != 0)
            return;
        v1_status(s, r, model, version);
        return;
    }
    if (strcmp(verb, "predict") != 0 && strcmp(verb, "explain") != 0 &&
        strcmp(verb, "classify") != 0 && strcmp(verb, "regress") != 0) {
        respond_status(r, AXLE_NOT_FOUND, "not found");
        return;
    }
    if (!method_ok(r, 1) || gate(s, r, RC_INFER) != 0)
        return;
    if (strcmp(verb, "predict") != 0) {
        respond_status(r, AXLE_UNIMPLEMENTED, "not implemented");
        return;
    }
    struct model_version *v = acquire_or_answer(s, r, model, version, 1);
    if (!v)
        return;
    serve_v1_predict(s, r, v);
    version_release(v);
}

/* ------------------------------------------------------------------ */
/* Admission and test hooks                                            */

/* Before the body of an inference request is read: refuse it at once when
 * its model's queue is full (SECURITY.md 3.3). Everything else about the
 * request (names, auth, model state) is judged later by the route. */
int serve_admit(void *ctx, int method, const char *url, int64_t content_length,
                const char **msg)
{
    struct server *s = ctx;
    (void)content_length;
    if (method != HTTP_POST ||
        (strncmp(url, "/v2/models/", 11) != 0 && strncmp(url, "/v1/models/", 11) != 0))
        return 0;
    int v1 = url[2] == '1'; /* "/v1/models/" */
    const char *name = url + 11;
    size_t n = strcspn(name, "/:?#");
    if (n == 0 || n > REPO_MAX_NAME || memchr(name, '%', n))
        return 0; /* unusual names: judged by the route */
    char model[REPO_MAX_NAME + 1], version[24];
    memcpy(model, name, n);
    model[n] = 0;
    const char *rest = name + n;
    const char *ver = NULL;
    if (strncmp(rest, "/versions/", 10) == 0) {
        size_t vn = strspn(rest + 10, "0123456789");
        if (vn == 0 || vn >= sizeof(version))
            return 0;
        memcpy(version, rest + 10, vn);
        version[vn] = 0;
        ver = version;
        rest += 10 + vn;
    }
    size_t tail = strcspn(rest, "?#");
    if (!(v1 ? tail == 8 && strncmp(rest, ":predict", 8) == 0
             : tail == 6 && strncmp(rest, "/infer", 6) == 0))
        return 0;
    if (s->drain_refuse && atomic_load(&s->draining)) {
        /* --drain-refuse: a proxy that retries on 503 moves the request
         * to another replica; it never ran here. */
        *msg = "shutting down";
        return 503;
    }
    struct model_version *v;
    if (repo_acquire(&s->repo, model, ver, &v, NULL) != AXLE_OK)
        return 0;
    int full = v->sched && sched_full(v->sched);
    version_release(v);
    if (full) {
        *msg = "queue full";
        return 503;
    }
    return 0;
}

/* --enable-test-hooks: POST /v2/debug/pause, POST /v2/debug/resume (every
 * scheduler stops forming batches, then goes on) and GET
 * /v2/debug/models/{m}/queue. For deterministic tests only. */
static void debug_route(struct server *s, struct http_req *r, struct path *p)
{
    if (!s->test_hooks) {
        respond_status(r, AXLE_NOT_FOUND, "not found");
        return;
    }
    if (p->n == 3 && (strcmp(p->seg[2], "pause") == 0 || strcmp(p->seg[2], "resume") == 0)) {
        if (!method_ok(r, 1))
            return;
        sched_pause_all(p->seg[2][0] == 'p');
        static const char ok[] = "{}";
        http_respond(r, 200, "application/json", NULL, ok, sizeof(ok) - 1);
        return;
    }
    if (p->n == 5 && strcmp(p->seg[2], "models") == 0 && strcmp(p->seg[4], "queue") == 0) {
        if (!method_ok(r, 0))
            return;
        struct model_version *v = acquire_or_answer(s, r, p->seg[3], NULL, 0);
        if (!v)
            return;
        struct axle_buf *b = &scratch_get()->out;
        buf_reset(b);
        buf_printf(b, "{\"queued\":%lld,\"running\":%d,\"cancelled\":%llu,\"inline\":%s}",
                   (long long)sched_queued(v->sched), sched_running(v->sched),
                   (unsigned long long)sched_cancelled(v->sched),
                   v->inline_max_ns && v->run_ns && v->run_ns <= v->inline_max_ns ? "true"
                                                                                  : "false");
        version_release(v);
        respond_json(r, 200, b);
        return;
    }
    respond_status(r, AXLE_NOT_FOUND, "not found");
}

/* ------------------------------------------------------------------ */
/* Monitoring views                                                    */

#define DASHBOARD_HEADERS                                                                    \
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "              \
    "style-src 'unsafe-inline'; connect-src 'self'; img-src data:\r\n"                      \
    "X-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\n"

static void respond_metrics(struct server *s, struct http_req *r)
{
    struct axle_buf b;
    buf_init(&b);
    metrics_render(&s->repo, s->start_time, &b);
    if (s->feedback)
        feedback_metrics(s->feedback, &b);
    if (s->predlog)
        predlog_metrics(s->predlog, &b);
    if (s->worker_id > 0 && !b.oom) {
        /* Each worker counts for itself: the label keeps the series of
         * different workers apart in Prometheus. */
        struct axle_buf w;
        buf_init(&w);
        char id[16];
        snprintf(id, sizeof(id), "%d", s->worker_id);
        metrics_add_label(&w, b.data, b.len, "worker", id);
        buf_free(&b);
        b = w;
    }
    if (b.oom)
        respond_status(r, AXLE_UNAVAILABLE, "memory budget exceeded");
    else
        http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.data, b.len);
    buf_free(&b);
}

static void respond_monitor(struct server *s, struct http_req *r)
{
    struct metrics_snapshot snap;
    metrics_snapshot_take(&s->repo, &snap);
    struct axle_buf *b = &scratch_get()->out;
    buf_reset(b);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    buf_puts(b, "{\"time\":");
    json_put_double(b, (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3);
    buf_puts(b, ",\"models\":[");
    for (int i = 0; i < snap.n; i++) {
        if (i)
            buf_putc(b, ',');
        monitor_put_json(b, snap.v[i].v);
    }
    buf_puts(b, "]}");
    metrics_snapshot_release(&snap);
    respond_json(r, 200, b);
}

/* The --metrics-port listener: GET /metrics only. */
void serve_metrics_handle(void *ctx, struct http_req *r)
{
    struct server *s = ctx;
    if (strcmp(r->path, "/metrics") != 0) {
        respond_status(r, AXLE_NOT_FOUND, "not found");
        return;
    }
    if (method_ok(r, 0) && gate(s, r, RC_INFER) == 0)
        respond_metrics(s, r);
}

void serve_handle(void *ctx, struct http_req *r)
{
    struct server *s = ctx;
    struct path p;
    const char *ct = r->content_type;
    if (r->method == HTTP_POST && ct && *ct) {
        /* JSON, octet-stream (binary extension), or curl's default form
         * type for `curl -d`; anything else is refused (J8). Parameters
         * (charset) are ignored. */
        size_t n = strcspn(ct, ";");
        if (!((n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
              (n == 24 && strncasecmp(ct, "application/octet-stream", 24) == 0) ||
              (n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0))) {
            http_respond_error(r, 415, "unsupported content-type", NULL);
            return;
        }
    }
    if (path_split(r->path, &p) != 0) {
        respond_status(r, AXLE_NOT_FOUND, "not found");
        return;
    }
    /* Model-name positions are judged as names, version positions as
     * versions (R1-R5); everything else as path (H20). */
    int name_pos = -1, ver_pos = -1;
    int models = p.n >= 3 && (strcmp(p.seg[0], "v2") == 0 || strcmp(p.seg[0], "v1") == 0) &&
                 strcmp(p.seg[1], "models") == 0;
    if (models && strcmp(p.seg[2], "stats") != 0)
        name_pos = 2;
    if (models && p.n >= 5 && strcmp(p.seg[3], "versions") == 0)
        ver_pos = 4;
    if (p.n >= 4 && strcmp(p.seg[0], "v2") == 0 && strcmp(p.seg[1], "repository") == 0 &&
        strcmp(p.seg[2], "models") == 0)
        name_pos = 3;
    for (int i = 0; i < p.n; i++) {
        if (i == name_pos && p.bad[i]) {
            respond_status(r, AXLE_INVALID_ARGUMENT, "invalid model name");
            return;
        }
        if (i == ver_pos && p.bad[i]) {
            respond_status(r, AXLE_INVALID_ARGUMENT, "invalid version");
            return;
        }
        if (p.bad[i]) {
            respond_status(r, AXLE_INVALID_ARGUMENT, "invalid path");
            return;
        }
    }
    if (p.n == 1 && strcmp(p.seg[0], "metrics") == 0) {
        if (method_ok(r, 0) && gate(s, r, RC_INFER) == 0)
            respond_metrics(s, r);
        return;
    }
    if (p.n == 1 && strcmp(p.seg[0], "dashboard") == 0) {
        if (method_ok(r, 0))
            http_respond(r, 200, "text/html; charset=utf-8", DASHBOARD_HEADERS,
                         axle_dashboard_html, axle_dashboard_html_len);
        return;
    }
    if (p.n >= 1 && strcmp(p.seg[0], "v2") == 0) {
        if (p.n == 2 && strcmp(p.seg[1], "monitor") == 0) {
            if (method_ok(r, 0) && gate(s, r, RC_INFER) == 0)
                respond_monitor(s, r);
            return;
        }
        if (p.n == 1) {
            if (!method_ok(r, 0) || gate(s, r, RC_INFER) != 0)
                return;
            static const char meta[] =
                "{\"name\":\"axle\",\"version\":\"" AXLE_VERSION "\",\"extensions\":"
                "[\"binary_tensor_data\",\"classification\",\"model_repository\",\"statistics\"]}";
            http_respond(r, 200, "application/json", NULL, meta, sizeof(meta) - 1);
            return;
        }
        if (p.n == 3 && strcmp(p.seg[1], "health") == 0) {
            if (strcmp(p.seg[2], "live") == 0) {
                if (!method_ok(r, 0))
                    return;
                static const char live[] = "{\"live\":true}";
                http_respond(r, 200, "application/json", NULL, live, sizeof(live) - 1);
                return;
            }
            if (strcmp(p.seg[2], "ready") == 0) {
                if (!method_ok(r, 0))
                    return;
                if (atomic_load(&s->draining)) {
                    respond_status(r, AXLE_UNAVAILABLE, "shutting down");
                } else if (!repo_ready(&s->repo)) {
                    respond_status(r, AXLE_UNAVAILABLE, "models not ready");
                } else if (s->predlog && s->log_sync && !predlog_healthy(s->predlog)) {
                    respond_status(r, AXLE_UNAVAILABLE, "prediction log unavailable");
                } else {
                    static const char ready[] = "{\"ready\":true}";
                    http_respond(r, 200, "application/json", NULL, ready, sizeof(ready) - 1);
                }
                return;
            }
        }
        if (p.n >= 2 && strcmp(p.seg[1], "models") == 0) {
            if (p.n == 3 && strcmp(p.seg[2], "stats") == 0) {
                if (!method_ok(r, 0) || gate(s, r, RC_INFER) != 0)
                    return;
                handle_stats(s, r, NULL, NULL);
                return;
            }
            if (p.n == 3)
                model_route(s, r, p.seg[2], NULL, NULL);
            else if (p.n == 4)
                model_route(s, r, p.seg[2], NULL, p.seg[3]);
            else if (p.n == 5 && strcmp(p.seg[3], "versions") == 0)
                model_route(s, r, p.seg[2], p.seg[4], NULL);
            else if (p.n == 6 && strcmp(p.seg[3], "versions") == 0)
                model_route(s, r, p.seg[2], p.seg[4], p.seg[5]);
            else
                respond_status(r, AXLE_NOT_FOUND, "not found");
            return;
        }
        if (p.n >= 3 && strcmp(p.seg[1], "repository") == 0) {
            repository_route(s, r, &p);
            return;
        }
        if (p.n >= 3 && strcmp(p.seg[1], "debug") == 0) {
            debug_route(s, r, &p);
            return;
        }
    }
    if (p.n >= 2 && strcmp(p.seg[0], "v1") == 0 && strcmp(p.seg[1], "models") == 0) {
        v1_route(s, r, &p);
        return;
    }
    respond_status(r, AXLE_NOT_FOUND, "not found");
}
