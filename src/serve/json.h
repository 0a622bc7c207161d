/*
 * json.h - bounded JSON reader and writer for the request path.
 *
 * Reader: json_parse() tokenizes a mutable, NUL-terminated buffer into a flat
 * array of tokens (no allocation per value; the token array is reused across
 * requests). Strings are unescaped in place, so a string token points into
 * the caller's buffer. Each container token records where its subtree ends,
 * so skipping a value is O(1).
 *
 * Limits (SECURITY.md D16): nesting depth <= max_depth (64), token count <=
 * max_tokens, each string <= max_string bytes (1 MiB). Duplicate keys in an
 * object, invalid UTF-8, lone surrogates, control characters in strings,
 * trailing garbage and truncation are errors. The non-standard number tokens
 * NaN, Infinity and -Infinity are accepted (TF Serving emits them).
 *
 * Messages are fixed lower-case phrases ("invalid json", "json nesting too
 * deep", "duplicate key", "json string too long", "too many json tokens").
 *
 * Writer: helpers that append JSON text to a struct axle_buf.
 */
#ifndef AXLE_SERVE_JSON_H
#define AXLE_SERVE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"
#include "serve/buf.h"

enum json_type {
    JSON_NULL = 0,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

/* One token. For an object, members follow as key (JSON_STRING) then value,
 * repeated `size` times. */
struct json_tok {
    uint8_t type;
    uint32_t size; /* array: elements; object: members; string: decoded bytes;
                      number: length of its text */
    uint32_t end;  /* index one past this token's subtree (t + 1 for scalars) */
    uint32_t off;  /* string: offset of the decoded bytes (NUL-terminated in
                      place); number: offset of its text; containers: offset
                      of the opening bracket */
};

struct json_doc {
    struct json_tok *toks; /* owned, grown as needed up to max_tokens */
    uint32_t n, cap;
    const char *buf;       /* the parsed buffer */
    uint32_t max_tokens;   /* 0: no cap beyond len/2 + 16 */
    uint32_t max_depth;    /* 0: 64 */
    uint32_t max_string;   /* 0: 1 MiB */
};

void json_doc_init(struct json_doc *d);
void json_doc_free(struct json_doc *d);

/* Parse buf[0..len) (buf[len] must be writable and is set to NUL). The token
 * count is also capped at len / 2 + 16. On error returns
 * AXLE_INVALID_ARGUMENT with a fixed phrase in err (no client bytes), or
 * AXLE_RESOURCE_EXHAUSTED if memory for tokens could not be had. */
enum axle_status json_parse(struct json_doc *d, char *buf, size_t len,
                            struct axle_err *err);

/* Accessors. t is a token index. */
static inline const struct json_tok *json_tok(const struct json_doc *d,
                                              uint32_t t)
{
    return &d->toks[t];
}
static inline const char *json_str(const struct json_doc *d, uint32_t t)
{
    return d->buf + d->toks[t].off;
}
/* Index of the token after t's subtree (its next sibling, if any). */
static inline uint32_t json_next(const struct json_doc *d, uint32_t t)
{
    return d->toks[t].end;
}
/* In object t, the value token of key `key`, or 0 if absent (token 0 is
 * always the root, never a member value). */
uint32_t json_get(const struct json_doc *d, uint32_t obj, const char *key);
/* String token t equals the NUL-terminated s (byte compare). */
int json_streq(const struct json_doc *d, uint32_t t, const char *s);

/* Number conversion with full range checks (0 on success, -1 when the token
 * is not a number or the value does not fit: fraction for an integer type,
 * out of range, NaN/Infinity for integers). */
int json_to_double(const struct json_doc *d, uint32_t t, double *out);
int json_to_int64(const struct json_doc *d, uint32_t t, int64_t *out);
int json_to_uint64(const struct json_doc *d, uint32_t t, uint64_t *out);

/* Writer. All append to b; allocation failure is recorded in b (see buf.h). */
void json_put_str(struct axle_buf *b, const char *s, size_t len); /* quoted, escaped; invalid UTF-8 -> U+FFFD */
void json_put_cstr(struct axle_buf *b, const char *s);
/* s[0..n) in quotes, unescaped: only for text that needs no escaping by
 * construction (validated model names, version numbers, datatype names,
 * server-made UUIDs). */
static inline void json_put_plain(struct axle_buf *b, const char *s, size_t n)
{
    buf_putc(b, '"');
    buf_put(b, s, n);
    buf_putc(b, '"');
}
/* Token t of a parsed document (and its subtree) written back as JSON. */
void json_put_tok(struct axle_buf *b, const struct json_doc *d, uint32_t t);
void json_put_int(struct axle_buf *b, int64_t v);
void json_put_uint(struct axle_buf *b, uint64_t v);
/* Shortest text that reads back as the same float / double; NaN and
 * infinities as NaN, Infinity, -Infinity. */
void json_put_float(struct axle_buf *b, float v);
void json_put_double(struct axle_buf *b, double v);

#endif
