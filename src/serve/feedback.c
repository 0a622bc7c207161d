/*
 * feedback.c - the feedback index and POST .../feedback (feedback.h).
 */
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/predlog.h"
#include "serve/feedback.h"
#include "serve/monitor.h"
#include "serve/server.h"

#define ID_MAX 128

/* What eviction reads (hash, id_len, live, id) comes first, in the lines
 * feedback_remember_at prefetches for the next insert. */
struct slot {
    uint64_t hash;
    uint8_t id_len, n, used, live;
    enum mon_task task;
    enum mon_pred pred;
    char id[ID_MAX];
    uint64_t t_ns;            /* answer time (monotonic) */
    int64_t rows;
    char model[REPO_MAX_NAME + 1];
    char version[24];
    uint64_t vals[MON_MAX_VALUES];
};

enum fb_result { FB_ACCEPTED, FB_UNKNOWN, FB_DUPLICATE, FB_MISMATCH, FB_RATE, FB_BAD, FB_N };
static const char *const result_names[FB_N] = {"accepted", "unknown_id", "duplicate",
                                               "mismatch", "rate_limited", "bad_request"};

/* Token buckets for the per-token rate limit (D36: 100 per second). */
#define RATE_BUCKETS 64
#define RATE_PER_S 100.0

struct feedback_index {
    pthread_mutex_t mu;
    struct slot *slots;       /* ring */
    size_t cap, next, n_live;
    /* Open addressing, linear probing. An entry is the slot index + 1 in
     * its low 32 bits (0: empty) and the low 32 bits of the id's hash in
     * its high bits, so probing and the backward-shift deletion compare
     * and re-home entries without reading the slots (each slot is about
     * half a KiB, in a ring of tens of MiB: every slot read is a cache
     * and TLB miss; the profile of monitored inference showed it). */
    uint64_t *table;
    size_t mask;
    uint64_t window_ns;
    uint64_t seed;            /* hash_id's key */
    atomic_uint_fast64_t results[FB_N];
    struct {
        uint64_t key;
        double tokens;
        uint64_t t_ns;
    } rate[RATE_BUCKETS];
};

/* The id's hash: eight bytes at a time through a multiply-xorshift mix,
 * keyed per index with a random seed so that client-chosen ids cannot be
 * made to collide on purpose (FNV-1a, used before, is unkeyed and took a
 * multiply per byte). Never 0: bit 0 is set, and it is not a home bit. */
static uint64_t hash_id_seeded(uint64_t seed, const char *s, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    uint64_t h = seed ^ ((uint64_t)n * k);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * k;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * k;
        h ^= h >> 31;
    }
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return h | 1;
}

#define hash_id(s, n) hash_id_seeded(fi->seed, (s), (n))

struct feedback_index *feedback_index_new(size_t capacity, uint64_t window_ns)
{
    if (capacity < 1)
        capacity = 1;
    if (capacity > 1000000)
        capacity = 1000000;
    struct feedback_index *fi = axle_xcalloc(1, sizeof(*fi));
    pthread_mutex_init(&fi->mu, NULL);
    fi->cap = capacity;
    fi->slots = axle_xcalloc(capacity, sizeof(*fi->slots));
    size_t ts = 1;
    while (ts < 2 * capacity)
        ts <<= 1;
    fi->table = axle_xcalloc(ts, sizeof(*fi->table));
    fi->mask = ts - 1;
    fi->window_ns = window_ns;
    if (getrandom(&fi->seed, sizeof(fi->seed), 0) != (ssize_t)sizeof(fi->seed))
        fi->seed = http_now_ns() ^ (uint64_t)(uintptr_t)fi;
    return fi;
}

void feedback_index_free(struct feedback_index *fi)
{
    if (!fi)
        return;
    pthread_mutex_destroy(&fi->mu);
    free(fi->slots);
    free(fi->table);
    free(fi);
}

/* An id's home position: from the tag bits (the low 32 of its hash), so
 * that deletion can re-home an entry from the table alone; bit 0 is always
 * set (hash_id), so it is left out - using it put every home on an odd
 * position and doubled the clusters. */
static size_t home_of(const struct feedback_index *fi, uint64_t h)
{
    return (size_t)((uint32_t)h >> 1) & fi->mask;
}

static uint64_t entry_make(uint64_t h, size_t slot)
{
    return (h << 32) | (uint64_t)(slot + 1);
}

static size_t entry_slot(uint64_t e)
{
    return (size_t)(uint32_t)e - 1;
}

/* Table position holding the id, or the empty position where it would go. */
static size_t probe(const struct feedback_index *fi, uint64_t h, const char *id, size_t n,
                    int *found)
{
    size_t i = home_of(fi, h);
    uint32_t tag = (uint32_t)h;
    for (;;) {
        uint64_t e = fi->table[i];
        if (!e) {
            *found = 0;
            return i;
        }
        if ((uint32_t)(e >> 32) == tag) {
            const struct slot *s = &fi->slots[entry_slot(e)];
            if (s->hash == h && s->id_len == n && memcmp(s->id, id, n) == 0) {
                *found = 1;
                return i;
            }
        }
        i = (i + 1) & fi->mask;
    }
}

/* Linear-probing deletion by backward shift: no tombstones. */
static void table_remove(struct feedback_index *fi, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & fi->mask;
        uint64_t e = fi->table[j];
        if (!e)
            break;
        size_t home = home_of(fi, e >> 32);
        /* Move e back to i unless its home lies cyclically in (i, j]. */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            fi->table[i] = e;
            i = j;
        }
    }
    fi->table[i] = 0;
}

/* Bounded copy, NUL-terminated (snprintf's "%s" costs more on this path). */
static void copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

void feedback_remember(struct feedback_index *fi, const char *id, size_t id_len,
                       const struct model_version *v, const uint64_t *vals, int n, int64_t rows)
{
    feedback_remember_at(fi, id, id_len, v, vals, n, rows, http_now_ns(), 0);
}

void feedback_prefetch(struct feedback_index *fi, const char *id, size_t id_len)
{
    if (!fi || !id || id_len == 0 || id_len > ID_MAX)
        return;
    /* Unlocked reads, relaxed: a stale answer only prefetches a useless
     * line. The next slot was prefetched by the previous insert. */
    size_t next = __atomic_load_n(&fi->next, __ATOMIC_RELAXED);
    uint64_t old = __atomic_load_n(&fi->slots[next].hash, __ATOMIC_RELAXED);
    __builtin_prefetch(&fi->table[home_of(fi, hash_id(id, id_len))], 1);
    if (old)
        __builtin_prefetch(&fi->table[home_of(fi, old)], 1);
}

void feedback_remember_at(struct feedback_index *fi, const char *id, size_t id_len,
                          const struct model_version *v, const uint64_t *vals, int n,
                          int64_t rows, uint64_t t_ns, int used)
{
    if (!fi || !id || id_len == 0 || id_len > ID_MAX || n < 1 || n > MON_MAX_VALUES)
        return;
    uint64_t h = hash_id(id, id_len);
    uint64_t now = t_ns;
    pthread_mutex_lock(&fi->mu);
    int found;
    size_t pos = probe(fi, h, id, id_len, &found);
    if (found) {
        /* A reused id: the newest answer wins, and the older slot is no
         * longer live (else its eviction would find the id again and drop
         * the newer answer with it). */
        fi->slots[entry_slot(fi->table[pos])].live = 0;
        fi->n_live--;
        table_remove(fi, pos);
        pos = probe(fi, h, id, id_len, &found);
    }
    struct slot *s = &fi->slots[fi->next];
    if (s->live) {
        int f2;
        size_t old = probe(fi, s->hash, s->id, s->id_len, &f2);
        if (f2 && entry_slot(fi->table[old]) == fi->next)
            table_remove(fi, old);
        fi->n_live--;
        pos = probe(fi, h, id, id_len, &found);
    }
    __atomic_store_n(&s->hash, h, __ATOMIC_RELAXED); /* read by feedback_prefetch */
    s->t_ns = now;
    s->rows = rows;
    copy_name(s->model, sizeof(s->model), v->model->name);
    copy_name(s->version, sizeof(s->version), v->version_str);
    s->id_len = (uint8_t)id_len;
    memcpy(s->id, id, id_len);
    s->n = (uint8_t)n;
    s->used = (uint8_t)(used != 0);
    s->live = 1;
    s->task = v->mon->task;
    s->pred = v->mon->pred;
    memcpy(s->vals, vals, (size_t)n * sizeof(*vals));
    fi->table[pos] = entry_make(h, fi->next);
    __atomic_store_n(&fi->next, (fi->next + 1) % fi->cap, __ATOMIC_RELAXED);
    fi->n_live++;
    const char *nx = (const char *)&fi->slots[fi->next];
    for (size_t off = 0; off < offsetof(struct slot, t_ns); off += 64)
        __builtin_prefetch(nx + off, 1);
    pthread_mutex_unlock(&fi->mu);
}

int feedback_index_find(struct feedback_index *fi, const char *id, size_t id_len,
                        uint64_t *t_ns, char model[REPO_MAX_NAME + 1])
{
    if (!fi || !id || id_len == 0 || id_len > ID_MAX)
        return 0;
    int found;
    pthread_mutex_lock(&fi->mu);
    size_t pos = probe(fi, hash_id(id, id_len), id, id_len, &found);
    if (found) {
        const struct slot *sl = &fi->slots[entry_slot(fi->table[pos])];
        if (t_ns)
            *t_ns = sl->t_ns;
        if (model)
            memcpy(model, sl->model, sizeof(sl->model));
    }
    pthread_mutex_unlock(&fi->mu);
    return found;
}

size_t feedback_index_live(struct feedback_index *fi)
{
    pthread_mutex_lock(&fi->mu);
    size_t n = fi->n_live;
    pthread_mutex_unlock(&fi->mu);
    return n;
}

void feedback_metrics(struct feedback_index *fi, struct axle_buf *b)
{
    if (!fi)
        return;
    buf_puts(b, "# HELP axle_feedback_requests_total Feedback items by result.\n"
                "# TYPE axle_feedback_requests_total counter\n");
    for (int k = 0; k < FB_N; k++)
        buf_printf(b, "axle_feedback_requests_total{result=\"%s\"} %llu\n", result_names[k],
                   (unsigned long long)atomic_load(&fi->results[k]));
    size_t live = feedback_index_live(fi);
    buf_printf(b, "# HELP axle_feedback_index_entries Predictions remembered for feedback.\n"
                  "# TYPE axle_feedback_index_entries gauge\naxle_feedback_index_entries %zu\n"
                  "# HELP axle_feedback_index_capacity Capacity of the feedback index.\n"
                  "# TYPE axle_feedback_index_capacity gauge\naxle_feedback_index_capacity %zu\n",
               live, fi->cap);
}

/* ------------------------------------------------------------------ */
/* The route                                                           */

/* 0 when the caller's token may post now. */
static int rate_take(struct feedback_index *fi, const char *auth)
{
    uint64_t key = monitor_hash_label(auth ? auth : "", auth ? strlen(auth) : 0);
    uint64_t now = http_now_ns();
    int ok;
    pthread_mutex_lock(&fi->mu);
    int i = (int)(key % RATE_BUCKETS);
    if (fi->rate[i].key != key) {
        fi->rate[i].key = key;
        fi->rate[i].tokens = RATE_PER_S;
        fi->rate[i].t_ns = now;
    }
    double t = fi->rate[i].tokens + (double)(now - fi->rate[i].t_ns) * RATE_PER_S / 1e9;
    if (t > RATE_PER_S)
        t = RATE_PER_S;
    fi->rate[i].t_ns = now;
    ok = t >= 1.0;
    fi->rate[i].tokens = ok ? t - 1.0 : t;
    pthread_mutex_unlock(&fi->mu);
    return ok ? 0 : -1;
}

/* Leaves of label t (a scalar, or arrays nested at most two deep) into
 * vals as the slot's kind; the count, or -1 on a type mismatch or too many. */
static int label_values(const struct json_doc *d, uint32_t t, enum mon_task task,
                        enum mon_pred pred, uint64_t *vals, int depth)
{
    const struct json_tok *k = json_tok(d, t);
    if (k->type == JSON_ARRAY) {
        if (depth >= 2)
            return -1;
        int n = 0;
        for (uint32_t e = t + 1; e < json_next(d, t); e = json_next(d, e)) {
            if (n >= MON_MAX_VALUES)
                return -1;
            int c = label_values(d, e, task, pred, vals + n, depth + 1);
            if (c < 0 || n + c > MON_MAX_VALUES)
                return -1;
            n += c;
        }
        return n;
    }
    if (task == MON_TASK_REGRESSION) {
        double x;
        if (k->type != JSON_NUMBER || json_to_double(d, t, &x) != 0 || !isfinite(x))
            return -1;
        memcpy(vals, &x, sizeof(x));
        return 1;
    }
    if (pred == MON_PRED_LABEL_STR) {
        if (k->type != JSON_STRING)
            return -1;
        vals[0] = monitor_hash_label(json_str(d, t), k->size);
        return 1;
    }
    int64_t iv;
    if (k->type != JSON_NUMBER || json_to_int64(d, t, &iv) != 0)
        return -1;
    vals[0] = (uint64_t)iv;
    return 1;
}

struct item {
    uint32_t id_tok, label_tok;
    size_t slot;
    int n;
    uint64_t vals[MON_MAX_VALUES];
};

static void fail(struct feedback_index *fi, struct http_req *r, enum fb_result res,
                 enum axle_status st, const char *msg)
{
    atomic_fetch_add(&fi->results[res], 1);
    respond_status(r, st, msg);
}

void serve_feedback(struct server *s, struct http_req *r, const char *model,
                    const char *version)
{
    feedback_handle(s, r, model, version, 0);
}

void feedback_handle(struct server *s, struct http_req *r, const char *model,
                     const char *version, int joined)
{
    struct feedback_index *fi = s->feedback;
    if (!fi) {
        respond_status(r, AXLE_NOT_FOUND, "unknown request id");
        return;
    }
    if (r->body_len > FEEDBACK_MAX_BODY) {
        atomic_fetch_add(&fi->results[FB_BAD], 1);
        http_respond_error(r, 413, "body too large", NULL);
        return;
    }
    if (rate_take(fi, r->authorization) != 0) {
        atomic_fetch_add(&fi->results[FB_RATE], 1);
        http_respond_error(r, 429, "rate limit exceeded", "Retry-After: 1\r\n");
        return;
    }
    struct scratch *sc = scratch_get();
    struct axle_err err;
    /* Parsing writes into the body; a log join re-reads the original. */
    char *orig = NULL;
    if (s->log_dir && joined < FEEDBACK_MAX_LOG_JOINS) {
        orig = axle_try_malloc(r->body_len + 1);
        if (orig)
            memcpy(orig, r->body, r->body_len);
    }
    if (json_parse(&sc->doc, r->body, r->body_len, &err) != AXLE_OK) {
        free(orig);
        fail(fi, r, FB_BAD, AXLE_INVALID_ARGUMENT, err.msg);
        return;
    }
    const struct json_doc *d = &sc->doc;
    /* One object or a list of them. */
    uint32_t first = 0, end = 1;
    int n_items = 1;
    if (json_tok(d, 0)->type == JSON_ARRAY) {
        first = 1;
        end = json_next(d, 0);
        n_items = (int)json_tok(d, 0)->size;
        if (n_items < 1 || n_items > FEEDBACK_MAX_ITEMS) {
            free(orig);
            fail(fi, r, FB_BAD, AXLE_INVALID_ARGUMENT,
                 n_items < 1 ? "no feedback items" : "too many feedback items");
            return;
        }
    }
    struct item *items = axle_try_calloc((size_t)n_items, sizeof(*items));
    if (!items) {
        free(orig);
        fail(fi, r, FB_BAD, AXLE_UNAVAILABLE, "memory budget exceeded");
        return;
    }
    int k = 0;
    for (uint32_t t = first; t < end; t = json_next(d, t), k++) {
        if (json_tok(d, t)->type != JSON_OBJECT) {
            fail(fi, r, FB_BAD, AXLE_INVALID_ARGUMENT, "feedback must be an object with id and label");
            goto out;
        }
        for (uint32_t m = t + 1; m < json_next(d, t); m = json_next(d, m + 1))
            if (!json_streq(d, m, "id") && !json_streq(d, m, "label")) {
                fail(fi, r, FB_BAD, AXLE_INVALID_ARGUMENT, "unknown feedback key");
                goto out;
            }
        uint32_t id = json_get(d, t, "id"), label = json_get(d, t, "label");
        if (!id || json_tok(d, id)->type != JSON_STRING || json_tok(d, id)->size == 0 ||
            json_tok(d, id)->size > ID_MAX) {
            fail(fi, r, FB_BAD, AXLE_INVALID_ARGUMENT, "feedback needs an id string of 1 to 128 bytes");
            goto out;
        }
        if (!label) {
            fail(fi, r, FB_BAD, AXLE_INVALID_ARGUMENT, "feedback needs a label");
            goto out;
        }
        items[k].id_tok = id;
        items[k].label_tok = label;
    }
    /* Check every item against the index, then apply them all (D8). */
    uint64_t now = http_now_ns();
    pthread_mutex_lock(&fi->mu);
    for (k = 0; k < n_items; k++) {
        const char *id = json_str(d, items[k].id_tok);
        size_t n = json_tok(d, items[k].id_tok)->size;
        int found;
        size_t pos = probe(fi, hash_id(id, n), id, n, &found);
        struct slot *sl = found ? &fi->slots[entry_slot(fi->table[pos])] : NULL;
        if (!sl || now - sl->t_ns > fi->window_ns || strcmp(sl->model, model) != 0 ||
            (version && strcmp(sl->version, version) != 0)) {
            pthread_mutex_unlock(&fi->mu);
            /* Not among the recent predictions: look in the log, off the
             * loop; the join puts it back in the index and runs this again. */
            if (!sl && orig && feedback_log_join(s, r, model, version, id, n, orig, joined)) {
                orig = NULL; /* owned by the join now */
                goto out;
            }
            fail(fi, r, FB_UNKNOWN, AXLE_NOT_FOUND, "unknown request id");
            goto out;
        }
        if (sl->used) {
            pthread_mutex_unlock(&fi->mu);
            fail(fi, r, FB_DUPLICATE, AXLE_ABORTED, "feedback already recorded");
            goto out;
        }
        for (int j = 0; j < k; j++)
            if (items[j].slot == (size_t)(sl - fi->slots)) {
                pthread_mutex_unlock(&fi->mu);
                fail(fi, r, FB_DUPLICATE, AXLE_ABORTED, "feedback already recorded");
                goto out;
            }
        int c = label_values(d, items[k].label_tok, sl->task, sl->pred, items[k].vals, 0);
        if (c != sl->n) {
            pthread_mutex_unlock(&fi->mu);
            fail(fi, r, FB_MISMATCH, AXLE_INVALID_ARGUMENT, "target does not match output");
            goto out;
        }
        items[k].slot = (size_t)(sl - fi->slots);
        items[k].n = c;
    }
    /* Apply: mark, then join into the version's quality. */
    struct join {
        char version[24];
        uint64_t pred[MON_MAX_VALUES];
        double delay_s;
    } *joins = axle_try_calloc((size_t)n_items, sizeof(*joins));
    if (!joins) {
        pthread_mutex_unlock(&fi->mu);
        fail(fi, r, FB_BAD, AXLE_UNAVAILABLE, "memory budget exceeded");
        goto out;
    }
    for (k = 0; k < n_items; k++) {
        struct slot *sl = &fi->slots[items[k].slot];
        sl->used = 1;
        memcpy(joins[k].version, sl->version, sizeof(sl->version));
        memcpy(joins[k].pred, sl->vals, (size_t)sl->n * sizeof(uint64_t));
        joins[k].delay_s = (double)(now - sl->t_ns) / 1e9;
    }
    pthread_mutex_unlock(&fi->mu);
    for (k = 0; k < n_items; k++) {
        struct model_version *v;
        if (repo_acquire(&s->repo, model, joins[k].version, &v, &err) == AXLE_OK) {
            if (v->mon)
                monitor_add_feedback(v->mon, joins[k].pred, items[k].vals, items[k].n,
                                     joins[k].delay_s);
            version_release(v);
        }
        atomic_fetch_add(&fi->results[FB_ACCEPTED], 1);
    }
    char body[48];
    int len = snprintf(body, sizeof(body), "{\"accepted\":%d}", n_items);
    if (!s->predlog) {
        free(joins);
        http_respond(r, 200, "application/json", NULL, body, (size_t)len);
        goto out;
    }
    /* One FEEDBACK record per item. The answer goes with the last: 200 once
     * it is durable (sync), 202 when queued (async; SECURITY.md 4.5). */
    struct axle_buf *rec = &sc->rec;
    for (k = 0; k < n_items; k++) {
        buf_reset(rec);
        buf_puts(rec, "{\"request_id\":");
        json_put_str(rec, json_str(d, items[k].id_tok), json_tok(d, items[k].id_tok)->size);
        buf_puts(rec, ",\"ts\":");
        serve_put_time(rec);
        buf_puts(rec, ",\"model\":");
        json_put_cstr(rec, model);
        buf_puts(rec, ",\"version\":");
        json_put_cstr(rec, joins[k].version);
        buf_puts(rec, ",\"label\":");
        json_put_tok(rec, d, items[k].label_tok);
        buf_printf(rec, ",\"label_delay_s\":%.3f}", joins[k].delay_s);
        if (rec->oom)
            continue;
        if (k + 1 < n_items) {
            predlog_append(s->predlog, PREDLOG_FEEDBACK, rec->data, rec->len, NULL, NULL);
        } else {
            struct http_iov iov = {body, (size_t)len};
            serve_predlog_respond(s, r, PREDLOG_FEEDBACK, rec->data, rec->len,
                                  s->log_sync ? 200 : 202, "application/json", NULL, &iov, 1);
        }
    }
    free(joins);
    if (rec->oom) {
        /* The labels are counted; their record could not be built. */
        buf_free(rec);
        http_respond(r, 202, "application/json", NULL, body, (size_t)len);
    }
out:
    free(orig);
    free(items);
}
