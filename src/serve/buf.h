/*
 * buf.h - growable byte buffer used to build responses.
 *
 * Appends never fail loudly: on allocation failure (or growth past `limit`)
 * the buffer sets `oom` and ignores further appends; the caller checks
 * `oom` once at the end. Memory is kept across reuse (buf_reset), so a
 * connection that answers many requests allocates only while it grows.
 */
#ifndef AXLE_SERVE_BUF_H
#define AXLE_SERVE_BUF_H

#include <stddef.h>
#include <string.h>

struct axle_buf {
    char *data;
    size_t len, cap;
    size_t limit; /* 0: no limit */
    int oom;
};

void buf_init(struct axle_buf *b);
void buf_free(struct axle_buf *b);
static inline void buf_reset(struct axle_buf *b)
{
    b->len = 0;
    b->oom = 0;
}
/* Make room for n more bytes; returns a pointer to write them or NULL. */
char *buf_reserve(struct axle_buf *b, size_t n);
void buf_put_slow(struct axle_buf *b, const void *p, size_t n);
/* Inline when the bytes fit: the answer and the log record are built
 * from dozens of short pieces. */
static inline void buf_put(struct axle_buf *b, const void *p, size_t n)
{
    if (n <= b->cap - b->len && b->data && !b->oom) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return;
    }
    buf_put_slow(b, p, n);
}
static inline void buf_puts(struct axle_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}
static inline void buf_putc(struct axle_buf *b, char c)
{
    if (b->len < b->cap && !b->oom) {
        b->data[b->len++] = c;
        return;
    }
    buf_put_slow(b, &c, 1);
}
void buf_printf(struct axle_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
