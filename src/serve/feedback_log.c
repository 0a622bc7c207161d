/*
 * feedback_log.c - feedback for predictions the index has forgotten: the
 * prediction log is searched for the id (feedback.h).
 *
 * The search reads segment files, so it runs on a thread of its own, never
 * on the I/O loop: the request is deferred with http_defer_call, the thread
 * finds the PREDICTION record, rebuilds its predicted values from the
 * logged output (the same rules as monitor_predictions) and puts them back
 * in the index with the logged answer time; then the loop runs the request
 * again, which now finds the id. A record that cannot be joined (another
 * model or version, a failed request, a truncated output) leaves the index
 * as it was, so the rerun answers 404 as before.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/feedback.h"
#include "serve/json.h"
#include "serve/monitor.h"
#include "serve/predlog.h"
#include "serve/server.h"

struct join {
    struct server *s;
    char model[REPO_MAX_NAME + 1];
    char version[24];
    int any_version;
    char id[129];
    size_t id_len;
    char *orig; /* the request body as received */
    int joined;
    struct http_deferred *dfr;
};

static atomic_int n_joiners;

/* "2026-12-06T12:00:00.123Z" as nanoseconds since the epoch; 0 if not. */
static uint64_t parse_ts(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t < 0)
        return 0;
    return (uint64_t)t * 1000000000ull + (uint64_t)ms * 1000000ull;
}

/* The monitored output's predicted values from the record's "outputs"
 * (monitor_predictions over logged JSON). Returns the count, or -1. */
static int logged_values(const struct monitor *m, const char *name, const struct json_doc *d,
                         uint64_t *vals, int64_t *rows)
{
    uint32_t outs = json_get(d, 0, "outputs");
    if (!outs || json_tok(d, outs)->type != JSON_ARRAY)
        return -1;
    uint32_t t = 0;
    for (uint32_t o = outs + 1; o < json_next(d, outs); o = json_next(d, o)) {
        uint32_t nm = json_get(d, o, "name");
        if (nm && json_streq(d, nm, name)) {
            t = o;
            break;
        }
    }
    if (!t)
        return -1;
    uint32_t dt = json_get(d, t, "datatype"), sh = json_get(d, t, "shape");
    uint32_t data = json_get(d, t, "data"), tr = json_get(d, t, "truncated");
    if (!dt || !sh || !data || !tr || json_tok(d, sh)->type != JSON_ARRAY ||
        json_tok(d, data)->type != JSON_ARRAY || json_tok(d, tr)->type != JSON_FALSE ||
        json_tok(d, sh)->size < 1)
        return -1;
    int64_t dims[8], total = 1;
    int rank = 0;
    for (uint32_t k = sh + 1; k < json_next(d, sh); k = json_next(d, k)) {
        if (rank == 8 || json_to_int64(d, k, &dims[rank]) != 0 || dims[rank] < 0 ||
            dims[rank] > MON_MAX_VALUES)
            return -1;
        total *= dims[rank++];
        if (total > (int64_t)MON_MAX_VALUES * MON_MAX_VALUES)
            return -1;
    }
    if ((int64_t)json_tok(d, data)->size != total)
        return -1;
    *rows = dims[0];
    int64_t per = dims[0] ? total / dims[0] : 0;
    uint32_t e = data + 1;
    if (m->pred == MON_PRED_ARGMAX) {
        if (dims[0] > MON_MAX_VALUES || per < 1 ||
            (!json_streq(d, dt, "FP32") && !json_streq(d, dt, "FP64")))
            return -1;
        for (int64_t r = 0; r < dims[0]; r++) {
            int64_t best = 0;
            double bv = 0;
            for (int64_t c = 0; c < per; c++, e = json_next(d, e)) {
                double x;
                if (json_to_double(d, e, &x) != 0)
                    return -1;
                if (c == 0 || x > bv) {
                    bv = x;
                    best = c;
                }
            }
            vals[r] = (uint64_t)best;
        }
        return (int)dims[0];
    }
    if (total > MON_MAX_VALUES)
        return -1;
    for (int64_t i = 0; i < total; i++, e = json_next(d, e)) {
        if (m->pred == MON_PRED_LABEL_INT) {
            int64_t x;
            if (json_to_int64(d, e, &x) != 0)
                return -1;
            vals[i] = (uint64_t)x;
        } else if (m->pred == MON_PRED_LABEL_STR) {
            if (json_tok(d, e)->type != JSON_STRING)
                return -1;
            vals[i] = monitor_hash_label(json_str(d, e), json_tok(d, e)->size);
        } else {
            double x;
            if (json_to_double(d, e, &x) != 0)
                return -1;
            memcpy(&vals[i], &x, sizeof(x));
        }
    }
    return (int)total;
}

/* Put the logged prediction back in the index (used: its feedback is in
 * the log already). */
static void remember_record(struct join *j, char *payload, size_t len, int used)
{
    struct json_doc d;
    json_doc_init(&d);
    struct axle_err err;
    if (json_parse(&d, payload, len, &err) != AXLE_OK || json_tok(&d, 0)->type != JSON_OBJECT)
        goto out;
    uint32_t model = json_get(&d, 0, "model"), ver = json_get(&d, 0, "version");
    uint32_t status = json_get(&d, 0, "status"), ts = json_get(&d, 0, "ts");
    int64_t code;
    if (!model || !ver || !status || !ts || !json_streq(&d, model, j->model) ||
        json_tok(&d, ver)->type != JSON_STRING ||
        (!j->any_version && !json_streq(&d, ver, j->version)) ||
        json_to_int64(&d, status, &code) != 0 || code != 200)
        goto out;
    struct model_version *v;
    if (repo_acquire(&j->s->repo, j->model, json_str(&d, ver), &v, &err) != AXLE_OK)
        goto out;
    struct monitor *m = v->mon;
    uint64_t vals[MON_MAX_VALUES];
    int64_t rows;
    int n = m && m->output >= 0 ? logged_values(m, v->outputs[m->output].name, &d, vals, &rows)
                                : -1;
    if (n > 0) {
        /* The answer time on the monotonic clock, from its wall time. */
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        uint64_t now_wall = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
        uint64_t when = parse_ts(json_str(&d, ts)), now = http_now_ns();
        uint64_t age = when && when < now_wall ? now_wall - when : 0;
        feedback_remember_at(j->s->feedback, j->id, j->id_len, v, vals, n, rows,
                             age < now ? now - age : 0, used);
    }
    version_release(v);
out:
    json_doc_free(&d);
}

static void *join_main(void *arg)
{
    struct join *j = arg;
    struct http_deferred *dfr = j->dfr;
    char *payload;
    size_t len;
    struct axle_err err;
    enum axle_status st;
    int dup = 0;
    if (j->s->log_workers > 0) {
        /* Under --workers any worker may have answered the prediction, and
         * any may have taken an earlier label for it: each writes its own
         * directory, so read them all. */
        payload = NULL;
        for (int k = 1; k <= j->s->log_workers; k++) {
            char dir[PATH_MAX];
            char *p = NULL;
            size_t n = 0;
            snprintf(dir, sizeof(dir), "%s/worker-%d", j->s->log_dir, k);
            st = predlog_lookup(dir, j->id, j->id_len, FEEDBACK_LOG_SCAN_BYTES, &p, &n, &err);
            dup |= st == AXLE_ABORTED;
            if (p && !payload) {
                payload = p;
                len = n;
            } else {
                free(p);
            }
        }
    } else {
        st = predlog_lookup(j->s->log_dir, j->id, j->id_len, FEEDBACK_LOG_SCAN_BYTES, &payload,
                            &len, &err);
        dup = st == AXLE_ABORTED;
    }
    if (payload) {
        remember_record(j, payload, len, dup);
        free(payload);
    }
    http_deferred_resume(dfr);
    return NULL;
}

static void join_resume(void *arg, struct http_req *r)
{
    struct join *j = arg;
    atomic_fetch_sub(&n_joiners, 1);
    if (r) {
        memcpy(r->body, j->orig, r->body_len);
        feedback_handle(j->s, r, j->model, j->any_version ? NULL : j->version, j->joined + 1);
    }
    free(j->orig);
    free(j);
}

static int join_cancel(void *arg)
{
    (void)arg;
    return 0; /* the thread runs on; resume(arg, NULL) comes */
}

int feedback_log_join(struct server *s, struct http_req *r, const char *model,
                      const char *version, const char *id, size_t id_len, char *orig,
                      int joined)
{
    if (!s->log_dir || joined >= FEEDBACK_MAX_LOG_JOINS || id_len > 128 ||
        strlen(model) > REPO_MAX_NAME || (version && strlen(version) >= 24))
        return 0;
    if (atomic_fetch_add(&n_joiners, 1) >= FEEDBACK_LOG_JOINERS) {
        atomic_fetch_sub(&n_joiners, 1);
        return 0;
    }
    struct join *j = axle_try_calloc(1, sizeof(*j));
    if (!j) {
        atomic_fetch_sub(&n_joiners, 1);
        return 0;
    }
    j->s = s;
    snprintf(j->model, sizeof(j->model), "%s", model);
    j->any_version = version == NULL;
    if (version)
        snprintf(j->version, sizeof(j->version), "%s", version);
    memcpy(j->id, id, id_len);
    j->id_len = id_len;
    j->orig = orig;
    j->joined = joined;
    struct http_deferred *dfr = http_defer_call(r, join_resume, join_cancel, j);
    if (!dfr) {
        free(j);
        atomic_fetch_sub(&n_joiners, 1);
        return 0;
    }
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    j->dfr = dfr;
    int rc = pthread_create(&th, &at, join_main, j);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        http_undefer(dfr);
        free(j);
        atomic_fetch_sub(&n_joiners, 1);
        return 0;
    }
    return 1;
}
