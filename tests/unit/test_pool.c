/*
 * test_pool.c - the intra-op thread pool: every index runs exactly once,
 * inline cases (NULL pool, nested calls, busy pool), sleep/wake, no
 * allocation per parallel_for, and the owned shares (axle_shares).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/pool.h"

#define MAX_N 4096

struct count_ctx {
    _Atomic int hits[MAX_N];
    _Atomic int calls;
    _Atomic int bad_tid;
    _Atomic int64_t sum;
    int n_threads;
};

static void count_fn(void *p, int64_t begin, int64_t end, int tid)
{
    struct count_ctx *c = p;

    atomic_fetch_add(&c->calls, 1);
    if (tid < 0 || tid >= c->n_threads)
        atomic_store(&c->bad_tid, 1);
    for (int64_t i = begin; i < end; i++) {
        if (i < MAX_N)
            atomic_fetch_add(&c->hits[i], 1);
        atomic_fetch_add(&c->sum, i);
    }
}

static struct count_ctx *ctx_new(int n_threads)
{
    struct count_ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->n_threads = n_threads;
    return c;
}

static void assert_each_once(struct count_ctx *c, int64_t n)
{
    for (int64_t i = 0; i < n && i < MAX_N; i++)
        assert_int_equal(atomic_load(&c->hits[i]), 1);
    assert_int_equal(atomic_load(&c->sum), n * (n - 1) / 2);
    assert_int_equal(atomic_load(&c->bad_tid), 0);
}

static void pool_runs_every_index_exactly_once(void **state)
{
    const int64_t ns[] = {1, 2, 3, 7, 64, 1000, MAX_N};
    const int64_t grains[] = {0, 1, 3, 16, 5000};
    const int threads[] = {1, 2, 3, 4};

    (void)state;
    for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++) {
        struct axle_pool *pool;
        assert_int_equal(axle_pool_new(threads[t], &pool), AXLE_OK);
        assert_int_equal(axle_pool_size(pool), threads[t]);
        for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
            for (size_t g = 0; g < sizeof(grains) / sizeof(grains[0]); g++) {
                struct count_ctx *c = ctx_new(threads[t]);
                axle_pool_parallel_for(pool, ns[a], grains[g], count_fn, c);
                assert_each_once(c, ns[a]);
                free(c);
            }
        }
        axle_pool_free(pool);
    }
}

static void pool_empty_range_never_calls_fn(void **state)
{
    struct axle_pool *pool;
    struct count_ctx *c = ctx_new(2);

    (void)state;
    assert_int_equal(axle_pool_new(2, &pool), AXLE_OK);
    axle_pool_parallel_for(pool, 0, 1, count_fn, c);
    axle_pool_parallel_for(pool, -5, 1, count_fn, c);
    axle_pool_parallel_for(NULL, 0, 1, count_fn, c);
    assert_int_equal(atomic_load(&c->calls), 0);
    axle_pool_free(pool);
    free(c);
}

static void pool_null_runs_inline_in_one_call_on_tid0(void **state)
{
    struct count_ctx *c = ctx_new(1);

    (void)state;
    axle_pool_parallel_for(NULL, 100, 1, count_fn, c);
    assert_int_equal(atomic_load(&c->calls), 1);
    assert_each_once(c, 100);
    assert_int_equal(axle_pool_size(NULL), 1);
    free(c);
}

static void pool_splits_work_when_above_grain(void **state)
{
    struct axle_pool *pool;
    struct count_ctx *c = ctx_new(2);

    (void)state;
    assert_int_equal(axle_pool_new(2, &pool), AXLE_OK);
    axle_pool_parallel_for(pool, 100, 10, count_fn, c);
    assert_int_equal(atomic_load(&c->calls), 2);
    assert_each_once(c, 100);
    free(c);
    /* n <= grain: one inline call. */
    c = ctx_new(2);
    axle_pool_parallel_for(pool, 100, 100, count_fn, c);
    assert_int_equal(atomic_load(&c->calls), 1);
    assert_each_once(c, 100);
    free(c);
    axle_pool_free(pool);
}

struct nest_ctx {
    struct axle_pool *pool;
    _Atomic int inner_calls;
    _Atomic int inner_full_range;
    _Atomic int64_t total;
};

static void inner_fn(void *p, int64_t begin, int64_t end, int tid)
{
    struct nest_ctx *c = p;

    (void)tid;
    atomic_fetch_add(&c->inner_calls, 1);
    if (begin == 0 && end == 50)
        atomic_fetch_add(&c->inner_full_range, 1);
    atomic_fetch_add(&c->total, end - begin);
}

static void outer_fn(void *p, int64_t begin, int64_t end, int tid)
{
    struct nest_ctx *c = p;

    (void)tid;
    for (int64_t i = begin; i < end; i++)
        axle_pool_parallel_for(c->pool, 50, 1, inner_fn, c);
}

static void pool_nested_parallel_for_runs_inline(void **state)
{
    struct nest_ctx c;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(axle_pool_new(2, &c.pool), AXLE_OK);
    axle_pool_parallel_for(c.pool, 8, 1, outer_fn, &c);
    /* Each of the 8 outer items ran its inner loop as one inline call. */
    assert_int_equal(atomic_load(&c.inner_calls), 8);
    assert_int_equal(atomic_load(&c.inner_full_range), 8);
    assert_int_equal(atomic_load(&c.total), 8 * 50);
    axle_pool_free(c.pool);
}

struct sum_ctx {
    const int64_t *v;
    _Atomic int64_t sum;
};

static void sum_fn(void *p, int64_t begin, int64_t end, int tid)
{
    struct sum_ctx *c = p;
    int64_t s = 0;

    (void)tid;
    for (int64_t i = begin; i < end; i++)
        s += c->v[i];
    atomic_fetch_add(&c->sum, s);
}

static void pool_back_to_back_jobs_all_complete(void **state)
{
    struct axle_pool *pool;
    int64_t v[64];

    (void)state;
    for (int i = 0; i < 64; i++)
        v[i] = i + 1;
    assert_int_equal(axle_pool_new(3, &pool), AXLE_OK);
    for (int r = 0; r < 100000; r++) {
        struct sum_ctx c = {.v = v};
        int64_t n = 2 + r % 63;
        axle_pool_parallel_for(pool, n, 1, sum_fn, &c);
        assert_int_equal(atomic_load(&c.sum), n * (n + 1) / 2);
    }
    axle_pool_free(pool);
}

static void pool_wakes_workers_after_they_slept(void **state)
{
    struct axle_pool *pool;
    struct timespec ts = {0, 20 * 1000 * 1000};

    (void)state;
    assert_int_equal(axle_pool_new(2, &pool), AXLE_OK);
    for (int r = 0; r < 5; r++) {
        struct count_ctx *c = ctx_new(2);
        nanosleep(&ts, NULL); /* far beyond the spin window */
        axle_pool_parallel_for(pool, 1000, 1, count_fn, c);
        assert_each_once(c, 1000);
        free(c);
    }
    axle_pool_free(pool);
}

struct caller_arg {
    struct axle_pool *pool;
    int ok;
};

static void *caller_main(void *p)
{
    struct caller_arg *a = p;
    int64_t v[64];

    for (int i = 0; i < 64; i++)
        v[i] = i + 1;
    a->ok = 1;
    for (int r = 0; r < 20000; r++) {
        struct sum_ctx c = {.v = v};
        axle_pool_parallel_for(a->pool, 64, 1, sum_fn, &c);
        if (atomic_load(&c.sum) != 64 * 65 / 2)
            a->ok = 0;
    }
    return NULL;
}

static void pool_concurrent_callers_get_correct_results(void **state)
{
    struct axle_pool *pool;
    struct caller_arg a[2];
    pthread_t th[2];

    (void)state;
    assert_int_equal(axle_pool_new(2, &pool), AXLE_OK);
    for (int i = 0; i < 2; i++) {
        a[i].pool = pool;
        assert_int_equal(pthread_create(&th[i], NULL, caller_main, &a[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].ok, 1);
    }
    axle_pool_free(pool);
}

static void pool_parallel_for_does_not_allocate(void **state)
{
    struct axle_pool *pool;
    struct count_ctx *c = ctx_new(2);
    uint64_t before;

    (void)state;
    assert_int_equal(axle_pool_new(2, &pool), AXLE_OK);
    axle_pool_parallel_for(pool, 100, 1, count_fn, c); /* warm */
    before = axle_alloc_count();
    for (int r = 0; r < 100; r++)
        axle_pool_parallel_for(pool, 100, 1, count_fn, c);
    assert_int_equal(axle_alloc_count(), before);
    axle_pool_free(pool);
    free(c);
}

static void pool_new_zero_threads_uses_online_cpus(void **state)
{
    struct axle_pool *pool;

    (void)state;
    assert_int_equal(axle_pool_new(0, &pool), AXLE_OK);
    assert_true(axle_pool_size(pool) >= 1);
    axle_pool_free(pool);
    axle_pool_free(NULL);
    assert_int_equal(axle_pool_new(100000, &pool), AXLE_INVALID_ARGUMENT);
    assert_null(pool);
}

/* Regression: a worker that first ran after the pool was freed used to
 * wait for a generation change that had already happened. */
static void pool_freed_before_workers_start_does_not_hang(void **state)
{
    (void)state;
    for (int r = 0; r < 200; r++) {
        struct axle_pool *pool;
        assert_int_equal(axle_pool_new(4, &pool), AXLE_OK);
        axle_pool_free(pool);
    }
}

/* axle_shares: a slot takes its own contiguous share in order first, then
 * the rest of the others'; every item exactly once, also when the slots
 * run concurrently in the pool. */
struct shares_ctx {
    struct axle_share sh[3];
    _Atomic int hits[1000];
    _Atomic int stolen_early; /* another share's item before own ran out */
};

static void shares_fn(void *p, int64_t begin, int64_t end, int tid)
{
    struct shares_ctx *c = p;
    int64_t it, own_lo = begin * 1000 / 3, own_hi = (begin + 1) * 1000 / 3;
    bool own_done = false;

    (void)end;
    (void)tid;
    while (axle_shares_next(c->sh, 3, (int)begin, &it)) {
        bool own = it >= own_lo && it < own_hi;
        if (!own && !own_done &&
            atomic_load(&c->sh[begin].next) < c->sh[begin].end)
            atomic_store(&c->stolen_early, 1);
        own_done = own_done || !own;
        atomic_fetch_add(&c->hits[it], 1);
    }
}

static void shares_hand_out_own_items_first_and_each_once(void **state)
{
    struct axle_share sh[3];
    struct shares_ctx *c = calloc(1, sizeof(*c));
    struct axle_pool *pool;
    int64_t it, prev = -1;
    (void)state;

    axle_shares_init(sh, 3, 10);
    /* slot 1 owns [3, 6): those in order, then slot 2's, then slot 0's */
    for (int i = 0; i < 10; i++) {
        assert_true(axle_shares_next(sh, 3, 1, &it));
        if (i < 3)
            assert_int_equal(it, 3 + i);
        else if (i < 7)
            assert_int_equal(it, 6 + (i - 3));
        else
            assert_int_equal(it, i - 7);
        assert_true(it != prev);
        prev = it;
    }
    assert_false(axle_shares_next(sh, 3, 0, &it));

    assert_int_equal(axle_pool_new(3, &pool), AXLE_OK);
    for (int r = 0; r < 50; r++) {
        memset(c, 0, sizeof(*c));
        axle_shares_init(c->sh, 3, 1000);
        axle_pool_parallel_for(pool, 3, 1, shares_fn, c);
        for (int i = 0; i < 1000; i++)
            assert_int_equal(atomic_load(&c->hits[i]), 1);
        assert_int_equal(atomic_load(&c->stolen_early), 0);
    }
    axle_pool_free(pool);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_runs_every_index_exactly_once),
        cmocka_unit_test(pool_empty_range_never_calls_fn),
        cmocka_unit_test(pool_null_runs_inline_in_one_call_on_tid0),
        cmocka_unit_test(pool_splits_work_when_above_grain),
        cmocka_unit_test(pool_nested_parallel_for_runs_inline),
        cmocka_unit_test(pool_back_to_back_jobs_all_complete),
        cmocka_unit_test(pool_wakes_workers_after_they_slept),
        cmocka_unit_test(pool_concurrent_callers_get_correct_results),
        cmocka_unit_test(pool_parallel_for_does_not_allocate),
        cmocka_unit_test(pool_new_zero_threads_uses_online_cpus),
        cmocka_unit_test(pool_freed_before_workers_start_does_not_hang),
        cmocka_unit_test(shares_hand_out_own_items_first_and_each_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
