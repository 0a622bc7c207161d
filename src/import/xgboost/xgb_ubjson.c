/*
 * xgb_ubjson.c - a bounded reader for Universal Binary JSON (Draft 12),
 * the encoding of XGBoost's `.ubj` models.
 *
 * Grammar (big-endian payloads):
 *   value   = 'Z' | 'T' | 'F' | 'i' i8 | 'U' u8 | 'I' i16 | 'l' i32 |
 *             'L' i64 | 'd' f32 | 'D' f64 | 'C' byte | 'S' length bytes |
 *             array | object                 ('N' no-op: skipped in
 *                                             uncounted containers)
 *   length  = one of i U I l L, holding a value >= 0
 *   array   = '[' ( value* ']' | '#' length value{n} |
 *                   '$' type '#' length payload{n} )
 *   object  = '{' ( (key value)* '}' | '#' length (key value){n} |
 *                   '$' type '#' length (key payload){n} )
 *   key     = length bytes (no 'S' marker)
 * A typed container ('$') of a fixed-size scalar type stays packed: one
 * token for the whole array, the elements read in place
 * (xgb_doc.c). XGBoost writes its float, int and byte arrays this way.
 * Typed containers of containers ('$[', '${') and high-precision numbers
 * ('H') are refused: XGBoost writes neither.
 *
 * Limits: nesting <= max_depth (the recursion is bounded by it), strings
 * <= max_string, every length checked against the bytes left before it is
 * used, tokens <= max_tokens (each token but a packed array consumes at
 * least one input byte, so len + 16 is the natural cap).
 */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "import/xgboost/xgb_internal.h"
#include "import/xgboost/xgboost.h"

struct ubj_parser {
    struct axle_ubj_doc *d;
    const uint8_t *buf;
    size_t len, pos;
    uint32_t max_depth, max_tokens;
    size_t max_string;
    struct axle_err *err;
};

void axle_xgboost_ubj_init(struct axle_ubj_doc *d)
{
    memset(d, 0, sizeof(*d));
}

void axle_xgboost_ubj_free(struct axle_ubj_doc *d)
{
    axle_free(d->toks);
    d->toks = NULL;
    d->n = d->cap = 0;
}

int axle_xgboost_ubj_scalar_bytes(uint8_t marker)
{
    switch (marker) {
    case 'Z': case 'T': case 'F':
        return 0;
    case 'i': case 'U':
        return 1;
    case 'I':
        return 2;
    case 'l': case 'd':
        return 4;
    case 'L': case 'D':
        return 8;
    default:
        return -1;
    }
}

static enum axle_status truncated(struct ubj_parser *p, const char *what)
{
    return axle_err_set(p->err, AXLE_INVALID_ARGUMENT,
                        "truncated ubjson: the data ends inside %s "
                        "(%zu bytes)", what, p->len);
}

static enum axle_status malformed(struct ubj_parser *p, size_t at,
                                  const char *what)
{
    return axle_err_set(p->err, AXLE_INVALID_ARGUMENT,
                        "malformed ubjson: %s at byte %zu", what, at);
}

static enum axle_status new_tok(struct ubj_parser *p, uint32_t *idx)
{
    struct axle_ubj_doc *d = p->d;
    if (d->n >= p->max_tokens)
        return axle_err_set(p->err, AXLE_INVALID_ARGUMENT,
                            "malformed ubjson: more than %u values",
                            p->max_tokens);
    if (d->n >= d->cap) {
        uint32_t c = d->cap ? d->cap : 256;
        void *t;
        while (c <= d->n)
            c = c > UINT32_MAX / 2 ? UINT32_MAX : c * 2;
        if (c > p->max_tokens)
            c = p->max_tokens;
        t = axle_try_realloc(d->toks, (size_t)c * sizeof(*d->toks));
        if (t == NULL)
            return axle_err_set(p->err, AXLE_RESOURCE_EXHAUSTED,
                                "out of memory parsing ubjson (%u values)",
                                c);
        d->toks = t;
        d->cap = c;
    }
    memset(&d->toks[d->n], 0, sizeof(d->toks[0]));
    d->toks[d->n].end = d->n + 1;
    *idx = d->n++;
    return AXLE_OK;
}

static uint64_t be(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

/* Reads an integer payload of type `marker` (i U I l L) at p->pos. */
static enum axle_status read_int(struct ubj_parser *p, uint8_t marker,
                                 int64_t *out)
{
    int nb = axle_xgboost_ubj_scalar_bytes(marker);
    uint64_t v;
    if (nb <= 0 || marker == 'd' || marker == 'D')
        return malformed(p, p->pos ? p->pos - 1 : 0,
                         "a length must be an integer (i, U, I, l or L)");
    if (p->len - p->pos < (size_t)nb)
        return truncated(p, "an integer");
    v = be(p->buf + p->pos, nb);
    p->pos += (size_t)nb;
    switch (marker) {
    case 'i': *out = (int8_t)(uint8_t)v; break;
    case 'U': *out = (int64_t)v; break;
    case 'I': *out = (int16_t)(uint16_t)v; break;
    case 'l': *out = (int32_t)(uint32_t)v; break;
    default: *out = (int64_t)v; break;
    }
    return AXLE_OK;
}

/* A length: marker then integer, >= 0 and <= max. */
static enum axle_status read_length(struct ubj_parser *p, uint64_t max,
                                    const char *what, uint64_t *out)
{
    size_t at = p->pos;
    int64_t v = 0;
    enum axle_status st;
    if (p->pos >= p->len)
        return truncated(p, what);
    st = read_int(p, p->buf[p->pos++], &v);
    if (st != AXLE_OK)
        return st;
    if (v < 0) {
        char m[80];
        snprintf(m, sizeof(m), "negative %s %lld", what, (long long)v);
        return malformed(p, at, m);
    }
    if ((uint64_t)v > max) {
        char m[96];
        snprintf(m, sizeof(m), "%s %lld over the limit %llu",
                 what, (long long)v, (unsigned long long)max);
        return malformed(p, at, m);
    }
    *out = (uint64_t)v;
    return AXLE_OK;
}

/* A string body: length then bytes, into token idx. */
static enum axle_status read_str(struct ubj_parser *p, uint32_t idx)
{
    uint64_t n;
    size_t at = p->pos;
    enum axle_status st = read_length(p, UINT64_MAX, "string length", &n);
    if (st != AXLE_OK)
        return st;
    if (n > p->max_string) {
        char m[80];
        snprintf(m, sizeof(m), "string of %llu bytes (limit %zu)",
                 (unsigned long long)n, p->max_string);
        return malformed(p, at, m);
    }
    if (n > p->len - p->pos)
        return truncated(p, "a string");
    p->d->toks[idx].type = XGB_STR;
    p->d->toks[idx].marker = 'S';
    p->d->toks[idx].size = (uint32_t)n;
    p->d->toks[idx].off = p->pos;
    p->pos += (size_t)n;
    return AXLE_OK;
}

static enum axle_status value(struct ubj_parser *p, uint8_t marker,
                              uint32_t depth);

/* Optimized-container header after '[' or '{': '$' type and/or '#' count.
 * *type 0 and *count UINT64_MAX when absent. */
static enum axle_status container_header(struct ubj_parser *p,
                                         uint8_t *type, uint64_t *count)
{
    enum axle_status st;
    *type = 0;
    *count = UINT64_MAX;
    if (p->pos < p->len && p->buf[p->pos] == '$') {
        size_t at = p->pos++;
        if (p->pos >= p->len)
            return truncated(p, "a container type");
        *type = p->buf[p->pos++];
        if (*type == '[' || *type == '{')
            return malformed(p, at, "typed container of containers "
                                    "(not supported)");
        if (*type == 'N' || (axle_xgboost_ubj_scalar_bytes(*type) < 0 &&
                             *type != 'S' && *type != 'C')) {
            char m[64];
            snprintf(m, sizeof(m), "invalid container type 0x%02x", *type);
            return malformed(p, at + 1, m);
        }
        if (p->pos >= p->len)
            return truncated(p, "a container header");
        if (p->buf[p->pos] != '#')
            return malformed(p, p->pos, "'$' type without a '#' count");
    }
    if (p->pos < p->len && p->buf[p->pos] == '#') {
        p->pos++;
        /* sizes are 32-bit */
        st = read_length(p, UINT32_MAX - 1, "container count", count);
        if (st != AXLE_OK)
            return st;
    }
    return AXLE_OK;
}

/* Next marker of an uncounted container, skipping no-ops. */
static enum axle_status next_marker(struct ubj_parser *p, const char *what,
                                    uint8_t *m)
{
    while (p->pos < p->len && p->buf[p->pos] == 'N')
        p->pos++;
    if (p->pos >= p->len)
        return truncated(p, what);
    *m = p->buf[p->pos++];
    return AXLE_OK;
}

static enum axle_status array(struct ubj_parser *p, uint32_t idx,
                              uint32_t depth)
{
    struct axle_ubj_tok *t;
    uint8_t type, m = 0;
    uint64_t count, n = 0;
    enum axle_status st = container_header(p, &type, &count);
    if (st != AXLE_OK)
        return st;
    t = &p->d->toks[idx];
    t->type = XGB_ARR;
    if (type != 0 && axle_xgboost_ubj_scalar_bytes(type) >= 0) {
        /* packed: one token */
        uint64_t nb = count * (uint64_t)axle_xgboost_ubj_scalar_bytes(type);
        if (nb > p->len - p->pos)
            return truncated(p, "a typed array");
        t->marker = type;
        t->size = (uint32_t)count;
        t->off = p->pos;
        p->pos += (size_t)nb;
        return AXLE_OK;
    }
    if (count != UINT64_MAX && count > p->len - p->pos)
        return truncated(p, "a counted array");
    for (;;) {
        if (count != UINT64_MAX) {
            if (n == count)
                break;
            if (type != 0) {
                m = type;
            } else {
                if (p->pos >= p->len)
                    return truncated(p, "an array");
                m = p->buf[p->pos++];
            }
        } else {
            st = next_marker(p, "an array", &m);
            if (st != AXLE_OK)
                return st;
            if (m == ']')
                break;
        }
        st = value(p, m, depth + 1);
        if (st != AXLE_OK)
            return st;
        n++;
    }
    t = &p->d->toks[idx]; /* the array may have moved */
    t->size = (uint32_t)n;
    t->end = p->d->n;
    return AXLE_OK;
}

static enum axle_status object(struct ubj_parser *p, uint32_t idx,
                               uint32_t depth)
{
    struct axle_ubj_tok *t;
    uint8_t type, m = 0;
    uint64_t count, n = 0;
    enum axle_status st = container_header(p, &type, &count);
    if (st != AXLE_OK)
        return st;
    if (count != UINT64_MAX && count > p->len - p->pos)
        return truncated(p, "a counted object");
    for (;;) {
        uint32_t k;
        if (count != UINT64_MAX) {
            if (n == count)
                break;
        } else {
            /* a key starts with its length's integer marker */
            while (p->pos < p->len && p->buf[p->pos] == 'N')
                p->pos++;
            if (p->pos >= p->len)
                return truncated(p, "an object");
            if (p->buf[p->pos] == '}') {
                p->pos++;
                break;
            }
        }
        st = new_tok(p, &k);
        if (st != AXLE_OK)
            return st;
        st = read_str(p, k);
        if (st != AXLE_OK)
            return st;
        if (type != 0) {
            m = type;
        } else {
            if (p->pos >= p->len)
                return truncated(p, "an object member");
            m = p->buf[p->pos++];
        }
        st = value(p, m, depth + 1);
        if (st != AXLE_OK)
            return st;
        n++;
    }
    t = &p->d->toks[idx];
    t->type = XGB_OBJ;
    t->size = (uint32_t)n;
    t->end = p->d->n;
    return AXLE_OK;
}

/* One value whose marker has been read (its payload starts at p->pos). */
static enum axle_status value(struct ubj_parser *p, uint8_t marker,
                              uint32_t depth)
{
    size_t at = p->pos ? p->pos - 1 : 0;
    uint32_t idx;
    int nb;
    enum axle_status st;

    if (marker == ']' || marker == '}')
        return malformed(p, at, "unexpected container end");
    if (marker == '[' || marker == '{') {
        if (depth >= p->max_depth) {
            char m[64];
            snprintf(m, sizeof(m), "nesting deeper than %u", p->max_depth);
            return malformed(p, at, m);
        }
    }
    st = new_tok(p, &idx);
    if (st != AXLE_OK)
        return st;
    switch (marker) {
    case '[':
        return array(p, idx, depth);
    case '{':
        return object(p, idx, depth);
    case 'S':
        return read_str(p, idx);
    case 'C':
        if (p->pos >= p->len)
            return truncated(p, "a char");
        p->d->toks[idx].type = XGB_STR;
        p->d->toks[idx].marker = 'C';
        p->d->toks[idx].size = 1;
        p->d->toks[idx].off = p->pos++;
        return AXLE_OK;
    case 'H':
        return malformed(p, at, "high-precision number (not supported)");
    default:
        break;
    }
    nb = axle_xgboost_ubj_scalar_bytes(marker);
    if (nb < 0) {
        char m[48];
        snprintf(m, sizeof(m), "unknown marker 0x%02x", marker);
        return malformed(p, at, m);
    }
    if (p->len - p->pos < (size_t)nb)
        return truncated(p, "a number");
    p->d->toks[idx].type = marker == 'Z' ? XGB_NULL
                           : marker == 'T' || marker == 'F' ? XGB_BOOL
                                                            : XGB_NUM;
    p->d->toks[idx].marker = marker;
    p->d->toks[idx].off = p->pos;
    p->pos += (size_t)nb;
    return AXLE_OK;
}

enum axle_status axle_xgboost_ubj_parse(struct axle_ubj_doc *d,
                                        const uint8_t *buf, size_t len,
                                        struct axle_err *err)
{
    struct ubj_parser p = {
        .d = d, .buf = buf, .len = len, .pos = 0, .err = err,
    };
    uint8_t m;
    enum axle_status st;

    d->n = 0;
    d->buf = buf;
    d->len = len;
    if (len >= UINT32_MAX - 16)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "ubjson document too large (%zu bytes)", len);
    p.max_depth = d->max_depth ? d->max_depth : AXLE_XGB_MAX_NESTING;
    p.max_tokens = (uint32_t)len + 16;
    if (d->max_tokens && d->max_tokens < p.max_tokens)
        p.max_tokens = d->max_tokens;
    p.max_string = d->max_string ? d->max_string : AXLE_XGB_MAX_STRING;
    while (p.pos < len && buf[p.pos] == 'N')
        p.pos++;
    if (p.pos >= len)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "truncated ubjson: no value");
    m = buf[p.pos++];
    st = value(&p, m, 0);
    if (st != AXLE_OK) {
        d->n = 0;
        return st;
    }
    while (p.pos < len && buf[p.pos] == 'N')
        p.pos++;
    if (p.pos != len) {
        d->n = 0;
        return malformed(&p, p.pos, "trailing bytes after the document");
    }
    return AXLE_OK;
}
