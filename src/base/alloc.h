/*
 * alloc.h - the two allocation doors.
 *
 * axle_xmalloc/axle_xcalloc/axle_xrealloc abort on failure and are for small
 * structural allocations. axle_try_malloc/axle_try_calloc return NULL and are
 * for anything sized by a client or a model file. Both go through one hook so
 * tests can count allocations (steady-state runs must do none) and make the
 * Nth allocation fail.
 */
#ifndef AXLE_BASE_ALLOC_H
#define AXLE_BASE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *axle_xmalloc(size_t n);
void *axle_xcalloc(size_t count, size_t size);
void *axle_xrealloc(void *p, size_t n);
char *axle_xstrdup(const char *s);

void *axle_try_malloc(size_t n);
void *axle_try_calloc(size_t count, size_t size);
void *axle_try_realloc(void *p, size_t n);
/* 64-byte aligned; release with axle_free. */
void *axle_try_aligned(size_t n);

void axle_free(void *p);

/* Test hooks: total allocations made through either door since start, and
 * a countdown that makes the Nth next try_* allocation fail (0 = off). */
uint64_t axle_alloc_count(void);
void axle_alloc_fail_after(uint64_t n);

/* Checked size arithmetic: return 0 on success, -1 on overflow. */
static inline int axle_size_mul(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

static inline int axle_size_add(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

#endif
