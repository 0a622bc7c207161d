/*
 * pool.c - the intra-op thread pool (see pool.h for the contract).
 *
 * One job at a time. The caller publishes a job as a single 64-bit word
 *   gen (32 bits) | n_chunks (16 bits) | next chunk index (16 bits)
 * and every thread, caller included, claims chunks with a compare-and-swap
 * on that word. A claim proves that the job it belongs to is still running
 * (the caller only returns once every claimed chunk is done), so the job's
 * plain fields (fn, ctx, n) are read only after a successful claim and are
 * never torn by the next job. Workers that wake late simply find the word
 * exhausted or from a newer job; nobody waits for stragglers to check in.
 *
 * Waiting: workers spin on the 32-bit `seq` word for AXLE_POOL_SPIN_NS
 * (back-to-back layers then cost no syscall), then sleep in futex(2). The
 * caller only issues FUTEX_WAKE when someone sleeps. The caller spins for
 * outstanding chunks the same way and then sleeps on `n_done`. Nothing is
 * allocated per parallel_for call.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/pool.h"

/* How long a waiting thread polls before it sleeps in the kernel: long
 * enough to cover the gap between two layers of one inference. */
#define AXLE_POOL_SPIN_NS 50000
#define AXLE_POOL_MAX_THREADS 256
#define MAX_CHUNKS 0xffff

struct axle_pool {
    int n_threads;
    pthread_t *threads; /* n_threads - 1 workers */

    _Alignas(64) _Atomic uint64_t work; /* gen | n_chunks | next */
    _Alignas(64) _Atomic uint32_t seq;  /* futex word: job generation */
    _Atomic int n_sleeping;
    _Atomic int stop;
    _Alignas(64) _Atomic uint32_t n_done; /* chunks finished, current job */
    _Atomic int caller_waiting;
    _Alignas(64) _Atomic int busy; /* a parallel_for owns the pool */

    /* The current job; written by the caller before `work` is published. */
    axle_pool_fn fn;
    void *ctx;
    int64_t n;
};

struct worker_arg {
    struct axle_pool *pool;
    int tid;
};

/* Set in pool workers for their lifetime and in the caller while it runs
 * chunks: parallel_for from there runs inline. */
static _Thread_local int tls_in_task;
static _Thread_local int tls_tid;

static long futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
    return syscall(SYS_futex, (uint32_t *)addr, op, val, NULL, NULL, 0);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void chunk_range(int64_t n, uint32_t n_chunks, uint32_t i,
                        int64_t *begin, int64_t *end)
{
    int64_t q = n / n_chunks, r = n % n_chunks;

    *begin = (int64_t)i * q + ((int64_t)i < r ? (int64_t)i : r);
    *end = *begin + q + ((int64_t)i < r ? 1 : 0);
}

/* Claims and runs chunks of the current job until none is left. */
static void run_chunks(struct axle_pool *pool, int tid)
{
    uint64_t w = atomic_load_explicit(&pool->work, memory_order_acquire);

    for (;;) {
        uint32_t n_chunks = (uint32_t)(w >> 16) & 0xffff;
        uint32_t idx = (uint32_t)w & 0xffff;
        int64_t begin, end;

        if (idx >= n_chunks)
            return;
        if (!atomic_compare_exchange_weak_explicit(&pool->work, &w, w + 1,
                                                   memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        chunk_range(pool->n, n_chunks, idx, &begin, &end);
        pool->fn(pool->ctx, begin, end, tid);
        uint32_t done = atomic_fetch_add(&pool->n_done, 1) + 1;
        if (done == n_chunks && atomic_load(&pool->caller_waiting))
            futex(&pool->n_done, FUTEX_WAKE_PRIVATE, 1);
        w = atomic_load_explicit(&pool->work, memory_order_acquire);
    }
}

/* Waits until *word != seen: spin first, then futex. */
static void wait_change(struct axle_pool *pool, _Atomic uint32_t *word,
                        uint32_t seen)
{
    uint64_t t0 = 0;

    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != seen)
            return;
        cpu_relax();
        if ((i & 255) != 255)
            continue;
        if (t0 == 0) {
            t0 = now_ns();
            continue;
        }
        if (now_ns() - t0 < AXLE_POOL_SPIN_NS)
            continue;
        atomic_fetch_add(&pool->n_sleeping, 1);
        while (atomic_load(word) == seen)
            futex(word, FUTEX_WAIT_PRIVATE, seen);
        atomic_fetch_sub(&pool->n_sleeping, 1);
        return;
    }
}

static void *worker_main(void *p)
{
    struct worker_arg *arg = p;
    struct axle_pool *pool = arg->pool;
    int tid = arg->tid;
    uint32_t seen;

    axle_free(arg);
    tls_in_task = 1;
    tls_tid = tid;
    /* Not the current value: a thread that starts late must still see the
     * jobs (or the stop) published since the pool was made. */
    seen = 0;
    for (;;) {
        wait_change(pool, &pool->seq, seen);
        seen = atomic_load(&pool->seq);
        if (atomic_load(&pool->stop))
            break;
        run_chunks(pool, tid);
    }
    return NULL;
}

/* Waits for the caller's job to finish: every claimed chunk done. */
static void wait_done(struct axle_pool *pool, uint32_t n_chunks)
{
    uint64_t t0 = 0;

    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&pool->n_done, memory_order_acquire) ==
            n_chunks)
            return;
        cpu_relax();
        if ((i & 255) != 255)
            continue;
        if (t0 == 0) {
            t0 = now_ns();
            continue;
        }
        if (now_ns() - t0 >= AXLE_POOL_SPIN_NS)
            break;
    }
    atomic_store(&pool->caller_waiting, 1);
    for (;;) {
        uint32_t d = atomic_load(&pool->n_done);
        if (d == n_chunks)
            break;
        futex(&pool->n_done, FUTEX_WAIT_PRIVATE, d);
    }
    atomic_store(&pool->caller_waiting, 0);
}

enum axle_status axle_pool_new(int n_threads, struct axle_pool **out)
{
    struct axle_pool *pool;
    sigset_t all, old;
    int i;

    *out = NULL;
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > AXLE_POOL_MAX_THREADS)
        return AXLE_INVALID_ARGUMENT;
    pool = axle_xcalloc(1, sizeof(*pool));
    pool->n_threads = 1;
    if (n_threads > 1)
        pool->threads = axle_xcalloc((size_t)n_threads - 1, sizeof(pthread_t));
    /* Workers never take signals: those belong to the server's threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (i = 1; i < n_threads; i++) {
        struct worker_arg *arg = axle_xmalloc(sizeof(*arg));
        arg->pool = pool;
        arg->tid = i;
        if (pthread_create(&pool->threads[i - 1], NULL, worker_main, arg) != 0) {
            axle_free(arg);
            break;
        }
        pool->n_threads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pool->n_threads != n_threads) {
        axle_pool_free(pool);
        return AXLE_RESOURCE_EXHAUSTED;
    }
    *out = pool;
    return AXLE_OK;
}

void axle_pool_free(struct axle_pool *pool)
{
    if (pool == NULL)
        return;
    atomic_store(&pool->stop, 1);
    atomic_fetch_add(&pool->seq, 1);
    futex(&pool->seq, FUTEX_WAKE_PRIVATE, INT_MAX);
    for (int i = 0; i < pool->n_threads - 1; i++)
        pthread_join(pool->threads[i], NULL);
    axle_free(pool->threads);
    axle_free(pool);
}

_Static_assert(sizeof(struct axle_share) == 64, "one cache line");

void axle_shares_init(struct axle_share *sh, int n_slots, int64_t n_items)
{
    for (int t = 0; t < n_slots; t++) {
        atomic_init(&sh[t].next, t * n_items / n_slots);
        sh[t].end = (t + 1) * n_items / n_slots;
    }
}

bool axle_shares_next(struct axle_share *sh, int n_slots, int slot,
                      int64_t *item)
{
    for (int r = 0; r < n_slots; r++) {
        struct axle_share *s = &sh[(slot + r) % n_slots];
        if (atomic_load_explicit(&s->next, memory_order_relaxed) >= s->end)
            continue;
        *item = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
        if (*item < s->end)
            return true;
    }
    return false;
}

int axle_pool_size(const struct axle_pool *pool)
{
    return pool ? pool->n_threads : 1;
}

void axle_pool_parallel_for(struct axle_pool *pool, int64_t n, int64_t grain,
                            axle_pool_fn fn, void *ctx)
{
    int64_t n_chunks;
    uint32_t gen;
    int expect = 0;

    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    n_chunks = n / grain;
    if (pool != NULL && n_chunks > pool->n_threads)
        n_chunks = pool->n_threads;
    if (pool == NULL || tls_in_task || n_chunks <= 1 ||
        !atomic_compare_exchange_strong(&pool->busy, &expect, 1)) {
        /* Inline: no pool, too little work, nested, or the pool is in use
         * by another caller (never block on it). Without a pool the
         * caller sized its per-thread buffers for one thread: tid 0, even
         * on a pool worker (the engine's depth-first prefix runs
         * single-threaded kernels there). */
        fn(ctx, 0, n, pool == NULL ? 0 : tls_tid);
        return;
    }
    if (n_chunks > MAX_CHUNKS)
        n_chunks = MAX_CHUNKS;
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    atomic_store_explicit(&pool->n_done, 0, memory_order_relaxed);
    gen = atomic_load_explicit(&pool->seq, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool->work,
                          ((uint64_t)gen << 32) | ((uint64_t)n_chunks << 16),
                          memory_order_release);
    atomic_store(&pool->seq, gen);
    if (atomic_load(&pool->n_sleeping) > 0)
        futex(&pool->seq, FUTEX_WAKE_PRIVATE, (uint32_t)n_chunks - 1);

    tls_in_task = 1;
    run_chunks(pool, 0);
    tls_in_task = 0;
    wait_done(pool, (uint32_t)n_chunks);
    atomic_store_explicit(&pool->busy, 0, memory_order_release);
}
