/*
 * buf.c - growable byte buffer (see buf.h).
 */
#include "serve/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/alloc.h"

void buf_init(struct axle_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void buf_free(struct axle_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

char *buf_reserve(struct axle_buf *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (n <= b->cap - b->len && b->data)
        return b->data + b->len;
    size_t need;
    if (__builtin_add_overflow(b->len, n, &need) ||
        (b->limit && need > b->limit)) {
        b->oom = 1;
        return NULL;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->limit && cap > b->limit)
        cap = b->limit;
    char *p = axle_try_realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return NULL;
    }
    b->data = p;
    b->cap = cap;
    return b->data + b->len;
}

void buf_put_slow(struct axle_buf *b, const void *p, size_t n)
{
    char *dst = buf_reserve(b, n);
    if (!dst)
        return;
    if (n)
        memcpy(dst, p, n);
    b->len += n;
}

void buf_printf(struct axle_buf *b, const char *fmt, ...)
{
    va_list ap;
    char tmp[256];
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        buf_put(b, tmp, (size_t)n);
        return;
    }
    char *dst = buf_reserve(b, (size_t)n + 1);
    if (!dst)
        return;
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
