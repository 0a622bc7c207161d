/*
 * sched.h - the scheduler of one model version: a bounded queue per
 * priority level, dynamic batching, and instance_count executor threads
 * that each run batches on a session of their own.
 *
 * Life of an item: an I/O thread decodes a request into tensors it owns,
 * fills a struct sched_item and submits it (refused at once with
 * UNAVAILABLE "queue full" when max_queue items wait). An executor takes
 * the item with the highest priority, stacks the queued items whose
 * tensors match it in every dimension but the first (up to max_batch rows
 * and a byte cap) along dimension 0, runs them as one execution, copies
 * each item's rows of the wanted outputs into the item's own buffer and
 * calls item->done() on the executor thread; the I/O thread that owns the
 * connection encodes the answer (http_defer_call).
 *
 * When to run: an executor that finds a single queued item while no other
 * instance of the version runs starts it at once - the batcher never waits
 * for company when the executor is idle. While a batch is forming (several
 * items queued) or another instance is running, it waits for more until the
 * batch is full (max_batch rows, or a preferred size) or the oldest item has
 * waited max_queue_delay.
 *
 * Dropped before they run: items whose deadline has passed (504), items
 * queued longer than queue_timeout (503 "queue timeout"), and items whose
 * client went away (sched_cancel).
 *
 * Threads: all executors together never run more compute threads than the
 * machine has cores (or the share sched_set_cores gives this process): each
 * takes as many tokens of a process-wide gate as its session has threads
 * before it runs.
 */
#ifndef AXLE_SERVE_SCHED_H
#define AXLE_SERVE_SCHED_H

#include <stdint.h>

#include "axle/axle.h"
#include "serve/buf.h"

#define SCHED_MAX_IO 64
#define SCHED_MAX_LEVELS 16
#define SCHED_MAX_PREFERRED 16
/* Stacked input bytes per execution. */
#define SCHED_MAX_BATCH_BYTES ((size_t)256 << 20)

struct model_version;

struct sched_item {
    /* Filled by the submitter. */
    int n_in;
    const struct axle_tensor *in; /* [n_in], valid until done() */
    int64_t batch;                /* rows along dimension 0; 1 when unbatched */
    int priority;                 /* OIP: 0 the model's default, 1 the highest */
    int solo;                     /* never stacked with other items */
    uint64_t t_arrival_ns;        /* when the request's first byte came */
    uint64_t deadline_ns;         /* CLOCK_MONOTONIC; 0: none */
    uint64_t want;                /* bit o: copy output o back */
    void (*done)(struct sched_item *it); /* once, on the executor thread */
    void *owner;
    struct axle_buf outbuf;       /* the submitter's; the executor fills it */
    /* Filled by the scheduler before done(). */
    enum axle_status status;
    char msg[160];
    struct axle_tensor out[SCHED_MAX_IO]; /* wanted outputs, data in outbuf */
    uint64_t t_queued_ns, t_start_ns, t_run_ns, t_end_ns;
    int64_t exec_batch;           /* rows of the execution it ran in */
    /* Private. */
    struct sched_item *prev, *next;
    int level, state;
    uint64_t sig;
};

struct sched_opts {
    int instances;           /* >= 1 */
    int intra_threads;       /* threads per instance session */
    int64_t max_batch;       /* 0: the model has no batch dimension */
    int dynamic;             /* stack requests (needs max_batch > 0) */
    uint64_t max_queue_delay_ns;
    int n_preferred;
    int64_t preferred[SCHED_MAX_PREFERRED]; /* ascending */
    int64_t max_queue;       /* items waiting, all levels */
    uint64_t queue_timeout_ns; /* 0: none */
    int levels;              /* 1..SCHED_MAX_LEVELS */
    int default_level;       /* 1..levels */
    int stats_base;          /* executors write version stats block base + i */
};

struct sched;

/* Sessions are created (memory planned for max_batch) but no thread runs
 * until sched_start(). */
enum axle_status sched_new(struct model_version *v, struct axle_model *engine,
                           const struct sched_opts *o, struct sched **out,
                           struct axle_err *err);
void sched_start(struct sched *s);
/* Stops and joins the executors; nothing may be queued. */
void sched_free(struct sched *s);
/* Session of instance 0, for warm-up before sched_start(). */
struct axle_session *sched_session(struct sched *s);

/* AXLE_OK: queued, done() will be called. UNAVAILABLE "queue full":
 * refused, nothing else happens. */
enum axle_status sched_submit(struct sched *s, struct sched_item *it, struct axle_err *err);
/* The client went away. 1: the item was still queued and is withdrawn
 * (done() will not be called); 0: it is running or finished. */
int sched_cancel(struct sched *s, struct sched_item *it);

/* Admission check without locking (may be a little stale). */
int sched_full(const struct sched *s);
int64_t sched_queued(const struct sched *s);
int sched_running(const struct sched *s);
uint64_t sched_cancelled(const struct sched *s);
/* Nothing queued or running. */
int sched_idle(const struct sched *s);

/* Test hook: while paused, executors finish what they run and form no
 * new batch (every scheduler of the process). */
void sched_pause_all(int paused);
/* Size the process-wide compute gate (default: every online CPU). For a
 * worker process that shares the machine with others (serve --workers);
 * call before the first model loads. n < 1 means 1. */
void sched_set_cores(int n);

#endif
