/*
 * test_bench_hist.c - the latency histogram of `axle bench`
 * (src/cli/bench_hist.c): bucket layout, percentiles of known
 * distributions against the exact order statistics (within the 1 %
 * precision bound; the layout promises 1/256), merging, min/max and the
 * edges of the range.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/bench.h"

#define BOUND (1.0 / 256 + 1e-12) /* half a bucket over its smallest value */

static uint64_t rng_state = 12345;
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The exact value at percentile p of sorted v[0..n): rank ceil(p/100 n). */
static uint64_t exact(const uint64_t *v, size_t n, double p)
{
    double want = ceil(p / 100.0 * (double)n - 1e-9);
    size_t rank = want < 1 ? 1 : want > (double)n ? n : (size_t)want;
    return v[rank - 1];
}

static struct axle_bench_hist *hist_new(void)
{
    struct axle_bench_hist *h = malloc(sizeof(*h));
    assert_non_null(h);
    axle_bench_hist_init(h);
    return h;
}

static void check_against_exact(const struct axle_bench_hist *h, uint64_t *v, size_t n)
{
    static const double ps[] = {0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};
    qsort(v, n, sizeof(*v), cmp_u64);
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        uint64_t want = exact(v, n, ps[i]);
        uint64_t got = axle_bench_hist_percentile(h, ps[i]);
        double rel = fabs((double)got - (double)want) / (double)(want ? want : 1);
        if (rel > BOUND)
            fail_msg("p%g: got %llu, exact %llu (relative error %g)", ps[i],
                     (unsigned long long)got, (unsigned long long)want, rel);
    }
    assert_int_equal(axle_bench_hist_percentile(h, 100), v[n - 1]);
    assert_int_equal(h->min, v[0]);
    assert_int_equal(h->max, v[n - 1]);
}

static void bench_hist_buckets_tile_the_range_at_under_1_percent(void **state)
{
    (void)state;
    assert_int_equal(axle_bench_hist_bucket_lo(0), 0);
    for (size_t i = 0; i + 1 < AXLE_BENCH_HIST_N; i++) {
        uint64_t lo = axle_bench_hist_bucket_lo(i), w = axle_bench_hist_bucket_width(i);
        /* Contiguous, no gap and no overlap. */
        assert_int_equal(axle_bench_hist_bucket_lo(i + 1), lo + w);
        /* Width at most 1/128 of the smallest value in the bucket. */
        assert_true(w == 1 || w * AXLE_BENCH_HIST_SUB <= lo);
        assert_int_equal(axle_bench_hist_index(lo), i);
        assert_int_equal(axle_bench_hist_index(lo + w - 1), i);
    }
    /* The last bucket reaches 2^MAX_BITS. */
    size_t last = AXLE_BENCH_HIST_N - 1;
    assert_int_equal(axle_bench_hist_bucket_lo(last) + axle_bench_hist_bucket_width(last),
                     (uint64_t)1 << AXLE_BENCH_HIST_MAX_BITS);
    /* 100 s in ns is inside the exact range. */
    assert_true(100000000000ull < (uint64_t)1 << AXLE_BENCH_HIST_MAX_BITS);
    /* Every value lands in the bucket that holds it; index is monotone. */
    size_t prev = 0;
    for (uint64_t v = 0; v < 5000; v++) {
        size_t i = axle_bench_hist_index(v);
        assert_true(i >= prev);
        prev = i;
        assert_true(axle_bench_hist_bucket_lo(i) <= v);
        assert_true(v < axle_bench_hist_bucket_lo(i) + axle_bench_hist_bucket_width(i));
    }
    for (int e = 1; e < 64; e++)
        for (int d = -1; d <= 1; d++) {
            uint64_t v = ((uint64_t)1 << e) + (uint64_t)(int64_t)d;
            size_t i = axle_bench_hist_index(v);
            assert_true(i < AXLE_BENCH_HIST_N);
            if (v < (uint64_t)1 << AXLE_BENCH_HIST_MAX_BITS) {
                assert_true(axle_bench_hist_bucket_lo(i) <= v);
                assert_true(v < axle_bench_hist_bucket_lo(i) + axle_bench_hist_bucket_width(i));
            } else {
                assert_int_equal(i, AXLE_BENCH_HIST_N - 1);
            }
        }
}

static void bench_hist_uniform_percentiles_within_bound(void **state)
{
    (void)state;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof(*v));
    struct axle_bench_hist *h = hist_new();
    for (size_t i = 0; i < n; i++) { /* 1 us .. 100 ms, in ns */
        v[i] = (uint64_t)(i + 1) * 1000;
        axle_bench_hist_record(h, v[i]);
    }
    assert_int_equal(h->n, n);
    check_against_exact(h, v, n);
    /* The textbook answers, with the 1 % bound of the specification. */
    assert_true(fabs((double)axle_bench_hist_percentile(h, 50) - 50000000.0) <= 0.01 * 50000000.0);
    assert_true(fabs((double)axle_bench_hist_percentile(h, 99) - 99000000.0) <= 0.01 * 99000000.0);
    assert_true(fabs(axle_bench_hist_mean(h) - 50000500.0) < 1.0);
    free(v);
    free(h);
}

static void bench_hist_log_uniform_1us_to_100s_within_bound(void **state)
{
    (void)state;
    size_t n = 200000;
    uint64_t *v = malloc(n * sizeof(*v));
    struct axle_bench_hist *h = hist_new();
    for (size_t i = 0; i < n; i++) {
        double u = (double)(rng() >> 11) / 9007199254740992.0;
        v[i] = (uint64_t)(1e3 * pow(1e8, u)); /* 1e3 .. 1e11 ns */
        axle_bench_hist_record(h, v[i]);
    }
    check_against_exact(h, v, n);
    free(v);
    free(h);
}

static int near(uint64_t got, uint64_t want)
{
    return fabs((double)got - (double)want) <= BOUND * (double)want;
}

static void bench_hist_two_point_and_constant_distributions(void **state)
{
    (void)state;
    struct axle_bench_hist *h = hist_new();
    /* 990 fast answers and 10 slow ones: p99 is fast, p99.9 slow. */
    for (int i = 0; i < 990; i++)
        axle_bench_hist_record(h, 50000);
    for (int i = 0; i < 10; i++)
        axle_bench_hist_record(h, 2000000000);
    assert_true(near(axle_bench_hist_percentile(h, 50), 50000));
    assert_true(near(axle_bench_hist_percentile(h, 99), 50000));
    assert_true(near(axle_bench_hist_percentile(h, 99.9), 2000000000));
    assert_int_equal(axle_bench_hist_percentile(h, 100), 2000000000);

    /* One repeated value: every percentile is that value exactly (clamped
     * to min/max, not the bucket midpoint). */
    axle_bench_hist_init(h);
    for (int i = 0; i < 7; i++)
        axle_bench_hist_record(h, 123456789);
    for (double p = 0; p <= 100; p += 12.5)
        assert_int_equal(axle_bench_hist_percentile(h, p), 123456789);
    free(h);
}

static void bench_hist_percentile_is_monotone(void **state)
{
    (void)state;
    struct axle_bench_hist *h = hist_new();
    for (int i = 0; i < 5000; i++)
        axle_bench_hist_record(h, rng() % 10000000);
    uint64_t prev = 0;
    for (int k = 0; k <= 10000; k++) {
        uint64_t v = axle_bench_hist_percentile(h, k / 100.0);
        assert_true(v >= prev);
        prev = v;
    }
    assert_int_equal(prev, h->max);
    free(h);
}

static void bench_hist_merge_equals_recording_everything(void **state)
{
    (void)state;
    struct axle_bench_hist *all = hist_new(), *a = hist_new(), *b = hist_new();
    for (int i = 0; i < 50000; i++) {
        uint64_t v = 500 + rng() % 5000000000ull;
        axle_bench_hist_record(all, v);
        axle_bench_hist_record(i % 3 ? a : b, v);
    }
    axle_bench_hist_merge(a, b);
    assert_int_equal(a->n, all->n);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_int_equal(a->sum, all->sum);
    assert_memory_equal(a->counts, all->counts, sizeof(all->counts));
    for (double p = 0; p <= 100; p += 0.5)
        assert_int_equal(axle_bench_hist_percentile(a, p), axle_bench_hist_percentile(all, p));

    /* Merging an empty histogram changes nothing, min included. */
    axle_bench_hist_init(b);
    axle_bench_hist_merge(a, b);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->n, all->n);
    /* Merging into an empty one copies. */
    axle_bench_hist_merge(b, all);
    assert_int_equal(b->min, all->min);
    assert_int_equal(b->max, all->max);
    assert_int_equal(axle_bench_hist_percentile(b, 90), axle_bench_hist_percentile(all, 90));
    free(all);
    free(a);
    free(b);
}

static void bench_hist_edges_empty_zero_huge(void **state)
{
    (void)state;
    struct axle_bench_hist *h = hist_new();
    assert_int_equal(h->n, 0);
    assert_int_equal(h->min, UINT64_MAX);
    assert_int_equal(axle_bench_hist_percentile(h, 50), 0);
    assert_true(axle_bench_hist_mean(h) == 0.0);

    axle_bench_hist_record(h, 0);
    assert_int_equal(axle_bench_hist_percentile(h, 50), 0);
    assert_int_equal(h->min, 0);

    /* 100 s: exact range, within the bound. */
    axle_bench_hist_init(h);
    axle_bench_hist_record(h, 1);
    axle_bench_hist_record(h, 100000000000ull);
    axle_bench_hist_record(h, 100000000001ull);
    double p = (double)axle_bench_hist_percentile(h, 60);
    assert_true(fabs(p - 1e11) <= BOUND * 1e11);
    assert_int_equal(h->n_clamped, 0);

    /* Beyond 2^40 ns: counted in the last bucket, max stays exact, and
     * nothing crashes for the largest value. */
    axle_bench_hist_record(h, UINT64_MAX);
    axle_bench_hist_record(h, (uint64_t)1 << AXLE_BENCH_HIST_MAX_BITS);
    assert_int_equal(h->n_clamped, 2);
    assert_int_equal(h->counts[AXLE_BENCH_HIST_N - 1], 2);
    assert_int_equal(h->max, UINT64_MAX);
    assert_int_equal(axle_bench_hist_percentile(h, 100), UINT64_MAX);
    assert_int_equal(axle_bench_hist_percentile(h, 0), 1);

    /* Out-of-range p is clamped (NaN reads as 0). */
    assert_int_equal(axle_bench_hist_percentile(h, -5), axle_bench_hist_percentile(h, 0));
    assert_int_equal(axle_bench_hist_percentile(h, 250), UINT64_MAX);
    assert_int_equal(axle_bench_hist_percentile(h, NAN), 1);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bench_hist_buckets_tile_the_range_at_under_1_percent),
        cmocka_unit_test(bench_hist_uniform_percentiles_within_bound),
        cmocka_unit_test(bench_hist_log_uniform_1us_to_100s_within_bound),
        cmocka_unit_test(bench_hist_two_point_and_constant_distributions),
        cmocka_unit_test(bench_hist_percentile_is_monotone),
        cmocka_unit_test(bench_hist_merge_equals_recording_everything),
        cmocka_unit_test(bench_hist_edges_empty_zero_huge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
