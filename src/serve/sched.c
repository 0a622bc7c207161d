/*
 * sched.c - queues, dynamic batching and executor threads (see sched.h).
 *
 * Locking: one mutex per scheduler guards its queues and counters; the
 * executors wait on its condition variable. Items are linked into one list
 * per priority level. Nothing is allocated per request: items belong to the
 * submitter, and each instance keeps its staging buffer for stacked inputs.
 */
#include "serve/sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/repo.h"

enum { ST_FREE, ST_QUEUED, ST_RUNNING, ST_DONE };

struct instance {
    struct sched *s;
    int index;
    pthread_t thread;
    int started;
    struct axle_session *sess;
    int threads;
    struct axle_buf stage;                  /* stacked inputs */
    struct sched_item **items;              /* [max items per batch] */
};

struct level {
    struct sched_item *head, *tail;
};

struct sched {
    struct sched_opts o;
    struct model_version *v;
    int n_in;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct level lv[SCHED_MAX_LEVELS];
    atomic_int_fast64_t n_queued;
    atomic_int running;
    atomic_uint_fast64_t cancelled;
    int waiting;          /* executors blocked on cv */
    int idle_waiting;     /* ... of which with nothing to do */
    int64_t queued_rows;  /* rows of the queued items */
    int64_t wake_rows;    /* a waiter for company wants this many rows */
    int64_t last_rows;    /* rows of the latest execution */
    uint64_t last_end_ns; /* and when it ended */
    int stop;
    int max_items;
    struct sched *reg_next, *reg_prev;
    int n_inst;
    struct instance inst[];
};

/* ------------------------------------------------------------------ */
/* Process-wide: the compute gate and the pause hook                   */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_cores, gate_avail;

static int gate_take(int want)
{
    pthread_mutex_lock(&gate_mu);
    if (!gate_cores) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        gate_cores = gate_avail = n > 0 ? (int)n : 1;
    }
    /* A session with more threads than cores still runs, alone. */
    if (want > gate_cores)
        want = gate_cores;
    while (gate_avail < want)
        pthread_cond_wait(&gate_cv, &gate_mu);
    gate_avail -= want;
    pthread_mutex_unlock(&gate_mu);
    return want;
}

void sched_set_cores(int n)
{
    pthread_mutex_lock(&gate_mu);
    gate_cores = gate_avail = n > 0 ? n : 1;
    pthread_mutex_unlock(&gate_mu);
}

static void gate_give(int n)
{
    pthread_mutex_lock(&gate_mu);
    gate_avail += n;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sched *reg_head;
static atomic_int paused;

void sched_pause_all(int on)
{
    atomic_store(&paused, on ? 1 : 0);
    if (on)
        return;
    pthread_mutex_lock(&reg_mu);
    for (struct sched *s = reg_head; s; s = s->reg_next) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&reg_mu);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Queues                                                              */

static void level_push(struct level *l, struct sched_item *it)
{
    it->next = NULL;
    it->prev = l->tail;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
}

static void level_unlink(struct level *l, struct sched_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        l->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        l->tail = it->prev;
    it->prev = it->next = NULL;
}

/* Hash of everything but the batch dimension: items stack only when the
 * hash and then the dimensions themselves agree. */
static uint64_t shape_sig(const struct sched_item *it, int batched)
{
    uint64_t h = 1469598103934665603u;
    for (int i = 0; i < it->n_in; i++) {
        const struct axle_tensor *t = &it->in[i];
        h = (h ^ (uint64_t)t->rank) * 1099511628211u;
        h = (h ^ (uint64_t)t->dtype) * 1099511628211u;
        for (int k = batched ? 1 : 0; k < t->rank; k++)
            h = (h ^ (uint64_t)t->dims[k]) * 1099511628211u;
    }
    return h;
}

static int same_shape(const struct sched_item *a, const struct sched_item *b)
{
    if (a->sig != b->sig || a->n_in != b->n_in)
        return 0;
    for (int i = 0; i < a->n_in; i++) {
        const struct axle_tensor *x = &a->in[i], *y = &b->in[i];
        if (x->rank != y->rank || x->dtype != y->dtype || x->rank < 1)
            return 0;
        if (memcmp(x->dims + 1, y->dims + 1, sizeof(int64_t) * (size_t)(x->rank - 1)) != 0)
            return 0;
    }
    return 1;
}

static size_t item_bytes(const struct sched_item *it)
{
    size_t n = 0;
    for (int i = 0; i < it->n_in; i++) {
        const struct axle_tensor *t = &it->in[i];
        size_t e = axle_dtype_size(t->dtype);
        for (int k = 0; k < t->rank; k++)
            e *= (size_t)t->dims[k];
        n += e;
    }
    return n;
}

enum axle_status sched_submit(struct sched *s, struct sched_item *it, struct axle_err *err)
{
    int level = it->priority <= 0 ? s->o.default_level : it->priority;
    if (level > s->o.levels)
        level = s->o.levels; /* beyond the lowest level: the lowest */
    it->level = level - 1;
    it->sig = shape_sig(it, s->o.max_batch > 0);
    it->status = AXLE_OK;
    it->msg[0] = 0;
    it->exec_batch = 0;
    pthread_mutex_lock(&s->mu);
    if (atomic_load_explicit(&s->n_queued, memory_order_relaxed) >= s->o.max_queue) {
        pthread_mutex_unlock(&s->mu);
        return axle_err_set(err, AXLE_UNAVAILABLE, "queue full");
    }
    it->t_queued_ns = now_ns();
    it->state = ST_QUEUED;
    level_push(&s->lv[it->level], it);
    atomic_fetch_add_explicit(&s->n_queued, 1, memory_order_relaxed);
    s->queued_rows += it->batch;
    /* Wake an idle executor, or one waiting for company once there is
     * enough of it (not on every arrival: each wake-up is a futex call and
     * a context switch). */
    if (s->idle_waiting || (s->waiting && s->queued_rows >= s->wake_rows))
        pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return AXLE_OK;
}

int sched_cancel(struct sched *s, struct sched_item *it)
{
    int withdrawn = 0;
    pthread_mutex_lock(&s->mu);
    if (it->state == ST_QUEUED) {
        level_unlink(&s->lv[it->level], it);
        atomic_fetch_sub_explicit(&s->n_queued, 1, memory_order_relaxed);
        s->queued_rows -= it->batch;
        it->state = ST_FREE;
        withdrawn = 1;
        atomic_fetch_add_explicit(&s->cancelled, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->mu);
    return withdrawn;
}

int sched_full(const struct sched *s)
{
    return atomic_load_explicit(&((struct sched *)s)->n_queued, memory_order_relaxed) >=
           s->o.max_queue;
}

int64_t sched_queued(const struct sched *s)
{
    return atomic_load_explicit(&((struct sched *)s)->n_queued, memory_order_relaxed);
}

int sched_running(const struct sched *s)
{
    return atomic_load_explicit(&((struct sched *)s)->running, memory_order_relaxed);
}

uint64_t sched_cancelled(const struct sched *s)
{
    return atomic_load_explicit(&((struct sched *)s)->cancelled, memory_order_relaxed);
}

int sched_idle(const struct sched *s)
{
    return sched_queued(s) == 0 && sched_running(s) == 0;
}

/* ------------------------------------------------------------------ */
/* Executors                                                           */

static void fail_item(struct sched_item *it, enum axle_status st, const char *msg)
{
    it->status = st;
    size_t n = strnlen(msg, sizeof(it->msg) - 1);
    memcpy(it->msg, msg, n);
    it->msg[n] = 0;
}

/* Queued items that may not run any more: their deadline has passed, or
 * they waited longer than queue_timeout. Moved to *out (lock held). */
static void take_expired(struct sched *s, uint64_t now, struct sched_item **out)
{
    for (int l = 0; l < s->o.levels; l++) {
        for (struct sched_item *it = s->lv[l].head, *next; it; it = next) {
            next = it->next;
            int late = it->deadline_ns && now >= it->deadline_ns;
            int stale = s->o.queue_timeout_ns && now - it->t_queued_ns >= s->o.queue_timeout_ns;
            if (!late && !stale)
                continue;
            level_unlink(&s->lv[l], it);
            atomic_fetch_sub_explicit(&s->n_queued, 1, memory_order_relaxed);
            s->queued_rows -= it->batch;
            it->state = ST_DONE;
            if (late)
                fail_item(it, AXLE_DEADLINE_EXCEEDED, "deadline exceeded");
            else
                fail_item(it, AXLE_UNAVAILABLE, "queue timeout");
            it->next = *out;
            *out = it;
        }
    }
}

/* Candidates for the next batch, in priority then arrival order (lock
 * held). Returns the count; *rows gets their rows. */
static int gather(struct sched *s, struct sched_item **items, int64_t *rows)
{
    struct sched_item *head = NULL;
    for (int l = 0; l < s->o.levels && !head; l++)
        head = s->lv[l].head;
    *rows = 0;
    if (!head)
        return 0;
    items[0] = head;
    *rows = head->batch;
    int n = 1;
    if (!s->o.dynamic || s->o.max_batch <= 0 || head->solo)
        return n;
    size_t bytes = item_bytes(head);
    for (int l = 0; l < s->o.levels; l++) {
        for (struct sched_item *it = s->lv[l].head; it; it = it->next) {
            if (it == head || it->solo || !same_shape(head, it))
                continue;
            if (*rows + it->batch > s->o.max_batch || n == s->max_items)
                return n;
            size_t b = item_bytes(it);
            if (bytes + b > SCHED_MAX_BATCH_BYTES)
                return n;
            items[n++] = it;
            *rows += it->batch;
            bytes += b;
        }
    }
    return n;
}

/* Trim the candidates to the largest preferred batch size they reach;
 * returns the new count, or 0 when they reach none. */
static int cut_preferred(const struct sched *s, struct sched_item **items, int n, int64_t *rows)
{
    for (int p = s->o.n_preferred - 1; p >= 0; p--) {
        int64_t want = s->o.preferred[p];
        if (*rows < want)
            continue;
        int64_t r = 0;
        int k = 0;
        while (k < n && r + items[k]->batch <= want)
            r += items[k++]->batch;
        if (r == want) {
            *rows = r;
            return k;
        }
    }
    return 0;
}

/* Stack the inputs of items[0..n) into inst->stage; fills in[]. */
static int stack_inputs(struct instance *inst, struct sched_item **items, int n, int64_t rows,
                        struct axle_tensor *in)
{
    const struct sched_item *h = items[0];
    size_t total = 0, off[SCHED_MAX_IO], row_bytes[SCHED_MAX_IO];
    for (int i = 0; i < h->n_in; i++) {
        const struct axle_tensor *t = &h->in[i];
        size_t rb = axle_dtype_size(t->dtype);
        for (int k = 1; k < t->rank; k++)
            rb *= (size_t)t->dims[k];
        row_bytes[i] = rb;
        total = (total + 63) & ~(size_t)63;
        off[i] = total;
        total += rb * (size_t)rows;
    }
    buf_reset(&inst->stage);
    if (!buf_reserve(&inst->stage, total + 64))
        return -1;
    char *base = inst->stage.data;
    for (int i = 0; i < h->n_in; i++) {
        in[i] = h->in[i];
        in[i].dims[0] = rows;
        in[i].data = base + off[i];
        in[i].cap_bytes = row_bytes[i] * (size_t)rows;
        in[i].owns_data = 0;
        char *dst = base + off[i];
        for (int j = 0; j < n; j++) {
            size_t nb = row_bytes[i] * (size_t)items[j]->batch;
            if (nb)
                memcpy(dst, items[j]->in[i].data, nb);
            dst += nb;
        }
    }
    return 0;
}

static int64_t numel(const struct axle_tensor *t)
{
    int64_t n = 1;
    for (int k = 0; k < t->rank; k++)
        n *= t->dims[k];
    return n;
}

/* Copy rows [r0, r0 + it->batch) of the wanted outputs into it->outbuf
 * (all of each output when whole). */
static int split_outputs(struct sched_item *it, const struct axle_tensor *out, int n_out,
                         int64_t rows, int64_t r0, int whole)
{
    size_t total = 0, off[SCHED_MAX_IO], str_off[SCHED_MAX_IO];
    int64_t cnt[SCHED_MAX_IO], first[SCHED_MAX_IO];
    for (int o = 0; o < n_out; o++) {
        if (!(it->want >> o & 1))
            continue;
        const struct axle_tensor *t = &out[o];
        int64_t n = numel(t);
        if (whole) {
            cnt[o] = n;
            first[o] = 0;
        } else {
            if (t->rank < 1 || t->dims[0] != rows)
                return -2;
            int64_t per = rows ? n / rows : 0;
            cnt[o] = per * it->batch;
            first[o] = per * r0;
        }
        total = (total + 63) & ~(size_t)63;
        off[o] = total;
        total += (size_t)cnt[o] * axle_dtype_size(t->dtype);
        str_off[o] = total;
        if (t->dtype == AXLE_DTYPE_STRING) {
            char *const *sp = (char *const *)t->data;
            for (int64_t e = 0; e < cnt[o]; e++)
                total += strlen(sp[first[o] + e]) + 1;
        }
    }
    buf_reset(&it->outbuf);
    if (!buf_reserve(&it->outbuf, total + 64))
        return -1;
    char *base = it->outbuf.data;
    for (int o = 0; o < n_out; o++) {
        if (!(it->want >> o & 1))
            continue;
        const struct axle_tensor *t = &out[o];
        struct axle_tensor *d = &it->out[o];
        *d = *t;
        d->owns_data = 0;
        if (!whole)
            d->dims[0] = it->batch;
        size_t es = axle_dtype_size(t->dtype);
        d->data = base + off[o];
        d->cap_bytes = (size_t)cnt[o] * es;
        if (t->dtype == AXLE_DTYPE_STRING) {
            char *const *sp = (char *const *)t->data + first[o];
            char **dp = d->data;
            char *sd = base + str_off[o];
            for (int64_t e = 0; e < cnt[o]; e++) {
                size_t l = strlen(sp[e]) + 1;
                memcpy(sd, sp[e], l);
                dp[e] = sd;
                sd += l;
            }
        } else if (cnt[o]) {
            memcpy(d->data, (const char *)t->data + (size_t)first[o] * es, (size_t)cnt[o] * es);
        }
    }
    it->outbuf.len = total;
    return 0;
}

static void stats_exec(struct sched *s, struct instance *inst, int64_t rows, uint64_t t_in,
                       uint64_t t_run, uint64_t t_out, uint64_t t_end)
{
    struct model_version *v = s->v;
    int idx = s->o.stats_base + inst->index;
    if (idx >= v->n_stats)
        return;
    struct version_stats *st = &v->stats[idx];
    stats_bump(&st->inference_count, (uint64_t)rows);
    stats_bump(&st->execution_count, 1);
    stats_observe(v, st, H_BATCH, (uint64_t)rows);
    if (rows > 0 && rows < REPO_MAX_BATCH_STATS) {
        stats_add(&st->batch_input[rows], t_run - t_in);
        stats_add(&st->batch[rows], t_out - t_run);
        stats_add(&st->batch_output[rows], t_end - t_out);
    }
    stats_touch(st);
}

/* Run items[0..n) as one execution and complete them. */
static void run_batch(struct instance *inst, struct sched_item **items, int n, int64_t rows)
{
    struct sched *s = inst->s;
    struct axle_err err;
    struct axle_tensor in_stack[SCHED_MAX_IO];
    struct axle_tensor out[SCHED_MAX_IO];
    const struct axle_tensor *in = items[0]->in;
    int n_out = axle_model_n_outputs(s->v->engine);
    uint64_t t_in = now_ns();
    for (int j = 0; j < n; j++)
        items[j]->t_start_ns = t_in;
    int ok = 1;
    if (n > 1) {
        if (stack_inputs(inst, items, n, rows, in_stack) != 0) {
            for (int j = 0; j < n; j++)
                fail_item(items[j], AXLE_UNAVAILABLE, "memory budget exceeded");
            ok = 0;
        }
        in = in_stack;
    }
    uint64_t t_run = now_ns(), t_out = t_run;
    if (ok) {
        int got = gate_take(inst->threads);
        /* The batch's earliest deadline bounds the run (Loop iterations). */
        uint64_t dl = 0;
        for (int j = 0; j < n; j++)
            if (items[j]->deadline_ns && (dl == 0 || items[j]->deadline_ns < dl))
                dl = items[j]->deadline_ns;
        axle_session_set_deadline(inst->sess, dl);
        enum axle_status st = axle_session_run(inst->sess, items[0]->n_in, in, n_out, out, &err);
        gate_give(got);
        t_out = now_ns();
        if (st != AXLE_OK) {
            for (int j = 0; j < n; j++) {
                if (st == AXLE_DEADLINE_EXCEEDED)
                    fail_item(items[j], st, "deadline exceeded");
                else
                    fail_item(items[j], st == AXLE_INVALID_ARGUMENT ? st : AXLE_INTERNAL,
                              st == AXLE_INVALID_ARGUMENT ? err.msg : "inference failed");
            }
            ok = 0;
        }
    }
    if (ok) {
        int64_t r0 = 0;
        for (int j = 0; j < n; j++) {
            int rc = split_outputs(items[j], out, n_out, rows, r0, n == 1);
            if (rc == -1)
                fail_item(items[j], AXLE_UNAVAILABLE, "memory budget exceeded");
            else if (rc == -2)
                fail_item(items[j], AXLE_INTERNAL, "output is not batched along dimension 0");
            r0 += items[j]->batch;
        }
    }
    uint64_t t_end = now_ns();
    if (ok)
        stats_exec(s, inst, rows, t_in, t_run, t_out, t_end);
    for (int j = 0; j < n; j++) {
        struct sched_item *it = items[j];
        it->t_run_ns = t_out - t_run;
        it->t_end_ns = t_end;
        it->exec_batch = rows;
        it->state = ST_DONE;
        it->done(it);
    }
}

static void complete_list(struct sched_item *it)
{
    while (it) {
        struct sched_item *next = it->next;
        it->t_start_ns = it->t_end_ns = now_ns();
        it->done(it);
        it = next;
    }
}

/* Wait for company: until `until_ns`, or until `rows` rows are queued. */
static void timed_wait(struct sched *s, uint64_t until_ns, int64_t rows)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(until_ns / 1000000000u);
    ts.tv_nsec = (long)(until_ns % 1000000000u);
    s->waiting++;
    s->wake_rows = rows;
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    s->waiting--;
}

static void idle_wait(struct sched *s)
{
    s->waiting++;
    s->idle_waiting++;
    pthread_cond_wait(&s->cv, &s->mu);
    s->idle_waiting--;
    s->waiting--;
}

static void *exec_main(void *arg)
{
    struct instance *inst = arg;
    struct sched *s = inst->s;
    struct sched_item **items = inst->items;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->stop)
            break;
        if (atomic_load(&paused) ||
            atomic_load_explicit(&s->n_queued, memory_order_relaxed) == 0) {
            idle_wait(s);
            continue;
        }
        uint64_t now = now_ns();
        struct sched_item *expired = NULL;
        take_expired(s, now, &expired);
        if (expired) {
            pthread_mutex_unlock(&s->mu);
            complete_list(expired);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        int64_t rows;
        int n = gather(s, items, &rows);
        if (n == 0)
            continue;
        if (s->o.dynamic && s->o.max_batch > 0 && rows < s->o.max_batch) {
            int k = s->o.n_preferred ? cut_preferred(s, items, n, &rows) : 0;
            /* The clients of an execution that just ended with several
             * requests are on their way back: expect as many again. */
            uint64_t delay = s->o.max_queue_delay_ns;
            int returning = s->last_rows > 1 && now - s->last_end_ns < delay;
            int64_t want = returning && s->last_rows < s->o.max_batch ? s->last_rows
                                                                      : s->o.max_batch;
            if (k > 0) {
                n = k;
            } else if (rows < want) {
                /* Not full: wait for company only while a batch is forming
                 * (several queued, another instance running, or clients
                 * returning), and only until the oldest item has waited
                 * max_queue_delay. A lone request on an idle executor runs
                 * at once. */
                int forming = n > 1 || atomic_load(&s->running) > 0 || returning;
                uint64_t until = items[0]->t_queued_ns + delay;
                for (int j = 1; j < n; j++)
                    if (items[j]->t_queued_ns + delay < until)
                        until = items[j]->t_queued_ns + delay;
                if (forming && delay && now < until) {
                    int64_t enough = want;
                    for (int p = 0; p < s->o.n_preferred; p++)
                        if (s->o.preferred[p] > rows && s->o.preferred[p] < enough) {
                            enough = s->o.preferred[p];
                            break;
                        }
                    timed_wait(s, until, enough);
                    continue;
                }
            }
        }
        for (int j = 0; j < n; j++) {
            level_unlink(&s->lv[items[j]->level], items[j]);
            items[j]->state = ST_RUNNING;
        }
        atomic_fetch_sub_explicit(&s->n_queued, n, memory_order_relaxed);
        s->queued_rows -= rows;
        atomic_fetch_add(&s->running, 1);
        /* Another executor may take what is left. */
        if (s->idle_waiting && atomic_load_explicit(&s->n_queued, memory_order_relaxed) > 0)
            pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        run_batch(inst, items, n, rows);
        pthread_mutex_lock(&s->mu);
        atomic_fetch_sub(&s->running, 1);
        s->last_rows = rows;
        s->last_end_ns = now_ns();
        if (s->waiting)
            pthread_cond_broadcast(&s->cv); /* delay waits depend on `running` */
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

enum axle_status sched_new(struct model_version *v, struct axle_model *engine,
                           const struct sched_opts *o, struct sched **out,
                           struct axle_err *err)
{
    int n = o->instances > 0 ? o->instances : 1;
    struct sched *s = axle_try_calloc(1, sizeof(*s) + (size_t)n * sizeof(struct instance));
    if (!s)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    s->o = *o;
    if (s->o.levels < 1)
        s->o.levels = 1;
    if (s->o.levels > SCHED_MAX_LEVELS)
        s->o.levels = SCHED_MAX_LEVELS;
    if (s->o.default_level < 1 || s->o.default_level > s->o.levels)
        s->o.default_level = s->o.levels;
    if (s->o.max_queue < 1)
        s->o.max_queue = 1;
    s->v = v;
    s->n_inst = n;
    s->max_items = s->o.dynamic && s->o.max_batch > 0 ? (int)s->o.max_batch : 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < n; i++) {
        struct instance *inst = &s->inst[i];
        inst->s = s;
        inst->index = i;
        inst->threads = s->o.intra_threads > 0 ? s->o.intra_threads : 1;
        buf_init(&inst->stage);
        inst->items = axle_try_calloc((size_t)s->max_items, sizeof(*inst->items));
        struct axle_session_opts so = {.n_threads = inst->threads,
                                       .max_batch = s->o.max_batch > 0 ? s->o.max_batch : 1};
        if (!inst->items) {
            sched_free(s);
            return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
        }
        if (axle_session_new(engine, &so, &inst->sess, err) != AXLE_OK) {
            sched_free(s);
            return err ? err->code : AXLE_INTERNAL;
        }
    }
    *out = s;
    return AXLE_OK;
}

struct axle_session *sched_session(struct sched *s)
{
    return s->inst[0].sess;
}

void sched_start(struct sched *s)
{
    for (int i = 0; i < s->n_inst; i++) {
        struct instance *inst = &s->inst[i];
        if (pthread_create(&inst->thread, NULL, exec_main, inst) == 0)
            inst->started = 1;
    }
    pthread_mutex_lock(&reg_mu);
    s->reg_next = reg_head;
    if (reg_head)
        reg_head->reg_prev = s;
    reg_head = s;
    pthread_mutex_unlock(&reg_mu);
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&reg_mu);
    if (s->reg_prev)
        s->reg_prev->reg_next = s->reg_next;
    else if (reg_head == s)
        reg_head = s->reg_next;
    if (s->reg_next)
        s->reg_next->reg_prev = s->reg_prev;
    pthread_mutex_unlock(&reg_mu);
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_inst; i++) {
        struct instance *inst = &s->inst[i];
        if (inst->started)
            pthread_join(inst->thread, NULL);
        axle_session_free(inst->sess);
        buf_free(&inst->stage);
        free(inst->items);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
