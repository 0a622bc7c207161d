/*
 * alloc.c - allocation doors with a shared counter and a failure hook.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

static atomic_uint_fast64_t n_allocs;
static atomic_uint_fast64_t fail_countdown;

uint64_t axle_alloc_count(void)
{
    return atomic_load(&n_allocs);
}

void axle_alloc_fail_after(uint64_t n)
{
    atomic_store(&fail_countdown, n);
}

/* Returns 1 when this try_* allocation must fail (test hook). */
static int should_fail(void)
{
    uint_fast64_t c = atomic_load(&fail_countdown);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
            return c == 1;
    }
    return 0;
}

static void oom(size_t n)
{
    fprintf(stderr, "axle: out of memory allocating %zu bytes\n", n);
    abort();
}

void *axle_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    atomic_fetch_add(&n_allocs, 1);
    return p;
}

void *axle_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        oom(count * size);
    atomic_fetch_add(&n_allocs, 1);
    return p;
}

void *axle_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    atomic_fetch_add(&n_allocs, 1);
    return q;
}

char *axle_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = axle_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

void *axle_try_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    atomic_fetch_add(&n_allocs, 1);
    return malloc(n ? n : 1);
}

void *axle_try_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    atomic_fetch_add(&n_allocs, 1);
    return calloc(count ? count : 1, size ? size : 1);
}

void *axle_try_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    atomic_fetch_add(&n_allocs, 1);
    return realloc(p, n ? n : 1);
}

void *axle_try_aligned(size_t n)
{
    void *p = NULL;
    size_t rounded;

    if (should_fail())
        return NULL;
    if (axle_size_add(n ? n : 1, 63, &rounded) != 0)
        return NULL;
    rounded &= ~(size_t)63;
    atomic_fetch_add(&n_allocs, 1);
    if (posix_memalign(&p, 64, rounded) != 0)
        return NULL;
    return p;
}

void axle_free(void *p)
{
    free(p);
}
