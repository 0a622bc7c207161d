/*
 * bench_hist.c - the latency histogram of `axle bench` (see bench.h for
 * the bucket layout and its precision).
 *
 * The layout is HDR-histogram's log-linear idea: a value's bucket is its
 * power of two (the position of its highest set bit) plus the next
 * SUB_BITS bits below it, so recording is a count-leading-zeros, a shift
 * and an increment, and memory is fixed whatever the values.
 */
#include <math.h>
#include <string.h>

#include "cli/bench.h"

void axle_bench_hist_init(struct axle_bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

size_t axle_bench_hist_index(uint64_t v)
{
    if (v < AXLE_BENCH_HIST_SUB)
        return (size_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    if (e >= AXLE_BENCH_HIST_MAX_BITS)
        return AXLE_BENCH_HIST_N - 1;
    unsigned shift = e - AXLE_BENCH_HIST_SUB_BITS;
    /* v >> shift lies in [SUB, 2 * SUB): the top SUB_BITS + 1 bits. */
    return AXLE_BENCH_HIST_SUB + (size_t)shift * AXLE_BENCH_HIST_SUB +
           (size_t)((v >> shift) - AXLE_BENCH_HIST_SUB);
}

uint64_t axle_bench_hist_bucket_lo(size_t i)
{
    if (i < AXLE_BENCH_HIST_SUB)
        return i;
    size_t j = i - AXLE_BENCH_HIST_SUB;
    unsigned shift = (unsigned)(j / AXLE_BENCH_HIST_SUB);
    return (uint64_t)(AXLE_BENCH_HIST_SUB + j % AXLE_BENCH_HIST_SUB) << shift;
}

uint64_t axle_bench_hist_bucket_width(size_t i)
{
    if (i < AXLE_BENCH_HIST_SUB)
        return 1;
    return (uint64_t)1 << ((i - AXLE_BENCH_HIST_SUB) / AXLE_BENCH_HIST_SUB);
}

void axle_bench_hist_record(struct axle_bench_hist *h, uint64_t v)
{
    h->counts[axle_bench_hist_index(v)]++;
    h->n++;
    h->sum += v;
    if (v >= (uint64_t)1 << AXLE_BENCH_HIST_MAX_BITS)
        h->n_clamped++;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void axle_bench_hist_merge(struct axle_bench_hist *dst, const struct axle_bench_hist *src)
{
    for (size_t i = 0; i < AXLE_BENCH_HIST_N; i++)
        dst->counts[i] += src->counts[i];
    dst->n += src->n;
    dst->n_clamped += src->n_clamped;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t axle_bench_hist_percentile(const struct axle_bench_hist *h, double p)
{
    if (h->n == 0)
        return 0;
    if (!(p > 0)) /* also NaN */
        p = 0;
    if (p > 100)
        p = 100;
    /* The rank (1-based) of the value at p: ceil(p/100 * n), at least 1.
     * The small tolerance keeps 99.9 % of 1000 at rank 999, not 1000, when
     * the product rounds just above an integer. */
    double want = ceil(p / 100.0 * (double)h->n - 1e-9);
    uint64_t rank = want < 1 ? 1 : want >= (double)h->n ? h->n : (uint64_t)want;
    if (rank >= h->n)
        return h->max;
    uint64_t seen = 0;
    size_t i = 0;
    for (; i < AXLE_BENCH_HIST_N; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            break;
    }
    if (i == AXLE_BENCH_HIST_N) /* unreachable while counts add up to n */
        return h->max;
    uint64_t v = axle_bench_hist_bucket_lo(i) + (axle_bench_hist_bucket_width(i) - 1) / 2;
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

double axle_bench_hist_mean(const struct axle_bench_hist *h)
{
    return h->n ? (double)h->sum / (double)h->n : 0.0;
}
