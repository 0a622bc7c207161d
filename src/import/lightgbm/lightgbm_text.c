/*
 * lightgbm_text.c - lines, tokens and numbers of a LightGBM model text.
 *
 * LightGBM writes ASCII: LF line ends, space-separated arrays, numbers in
 * C++ stream / %g form. The reader accepts CRLF as well, never reads past
 * the buffer (which need not end in a NUL) and caps line length, so later
 * stages may size work by what a line holds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "import/lightgbm/lightgbm.h"
#include "import/lightgbm/lightgbm_internal.h"

void lgb_reader_init(struct lgb_reader *r, const uint8_t *buf, size_t len)
{
    r->buf = (const char *)buf;
    r->len = len;
    r->pos = 0;
    r->line_off = 0;
    r->line_no = 0;
    r->cut = false;
}

enum axle_status lgb_next_line(struct lgb_reader *r, struct lgb_span *line,
                               bool *eof, struct axle_err *err)
{
    const char *start, *nl;
    size_t avail, n;

    *eof = false;
    if (r->pos >= r->len) {
        *eof = true;
        line->p = r->buf + r->len;
        line->len = 0;
        return AXLE_OK;
    }
    start = r->buf + r->pos;
    avail = r->len - r->pos;
    nl = memchr(start, '\n', avail);
    n = nl != NULL ? (size_t)(nl - start) : avail;
    r->line_off = r->pos;
    r->line_no++;
    if (n > AXLE_LGB_MAX_LINE_BYTES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "line %lld longer than %zu bytes",
                            (long long)r->line_no, AXLE_LGB_MAX_LINE_BYTES);
    if (memchr(start, '\0', n) != NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "line %lld holds a NUL byte (not a text model)",
                            (long long)r->line_no);
    r->pos += n + (nl != NULL ? 1 : 0);
    r->cut = nl == NULL;
    if (n > 0 && start[n - 1] == '\r')
        n--;
    line->p = start;
    line->len = n;
    return AXLE_OK;
}

bool lgb_span_eq(struct lgb_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.p, lit, n) == 0;
}

bool lgb_span_starts(struct lgb_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len >= n && memcmp(s.p, lit, n) == 0;
}

bool lgb_split_kv(struct lgb_span line, struct lgb_span *key,
                  struct lgb_span *val)
{
    const char *eq = memchr(line.p, '=', line.len);
    if (eq == NULL)
        return false;
    key->p = line.p;
    key->len = (size_t)(eq - line.p);
    val->p = eq + 1;
    val->len = line.len - key->len - 1;
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int64_t lgb_count_tokens(struct lgb_span s)
{
    int64_t n = 0;
    bool in = false;
    for (size_t i = 0; i < s.len; i++) {
        bool b = is_blank(s.p[i]);
        if (!b && !in)
            n++;
        in = !b;
    }
    return n;
}

bool lgb_next_token(struct lgb_span *rest, struct lgb_span *tok)
{
    size_t i = 0, j;
    while (i < rest->len && is_blank(rest->p[i]))
        i++;
    if (i == rest->len) {
        rest->p += i;
        rest->len = 0;
        return false;
    }
    j = i;
    while (j < rest->len && !is_blank(rest->p[j]))
        j++;
    tok->p = rest->p + i;
    tok->len = j - i;
    rest->p += j;
    rest->len -= j;
    return true;
}

bool lgb_parse_i64(struct lgb_span tok, int64_t *v)
{
    size_t i = 0;
    bool neg = false;
    uint64_t acc = 0;

    if (tok.len > 0 && tok.p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == tok.len || tok.len - i > 19)
        return false;
    for (; i < tok.len; i++) {
        if (tok.p[i] < '0' || tok.p[i] > '9')
            return false;
        acc = acc * 10 + (uint64_t)(tok.p[i] - '0');
    }
    /* 19 digits fit in uint64; INT64_MIN itself is not needed. */
    if (acc > (uint64_t)INT64_MAX)
        return false;
    *v = neg ? -(int64_t)acc : (int64_t)acc;
    return true;
}

/* [-+]digits[.digits][(e|E)[-+]digits], or .digits; at least one digit in
 * the mantissa. Rules out what strtod would also take (hex, inf, nan,
 * leading blanks). */
static bool plain_decimal(struct lgb_span t)
{
    size_t i = 0, digits = 0;

    if (i < t.len && (t.p[i] == '-' || t.p[i] == '+'))
        i++;
    while (i < t.len && t.p[i] >= '0' && t.p[i] <= '9')
        i++, digits++;
    if (i < t.len && t.p[i] == '.') {
        i++;
        while (i < t.len && t.p[i] >= '0' && t.p[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < t.len && (t.p[i] == 'e' || t.p[i] == 'E')) {
        size_t ed = 0;
        i++;
        if (i < t.len && (t.p[i] == '-' || t.p[i] == '+'))
            i++;
        while (i < t.len && t.p[i] >= '0' && t.p[i] <= '9')
            i++, ed++;
        if (ed == 0)
            return false;
    }
    return i == t.len;
}

bool lgb_parse_f64(struct lgb_span tok, double *v)
{
    char tmp[64];
    char *end;
    double d;

    if (tok.len == 0 || tok.len >= sizeof(tmp) || !plain_decimal(tok))
        return false;
    memcpy(tmp, tok.p, tok.len);
    tmp[tok.len] = '\0';
    /* C locale assumed: the process never calls setlocale(). */
    d = strtod(tmp, &end);
    if (end != tmp + tok.len || !isfinite(d))
        return false;
    *v = d;
    return true;
}

bool lgb_parse_threshold(struct lgb_span tok, double *v)
{
    struct lgb_span t = tok;
    bool neg = false;

    if (t.len > 0 && (t.p[0] == '-' || t.p[0] == '+')) {
        neg = t.p[0] == '-';
        t.p++;
        t.len--;
    }
    if ((t.len == 3 && strncasecmp(t.p, "inf", 3) == 0) ||
        (t.len == 8 && strncasecmp(t.p, "infinity", 8) == 0)) {
        *v = neg ? -INFINITY : INFINITY;
        return true;
    }
    return lgb_parse_f64(tok, v);
}

const char *lgb_show(struct lgb_span s, char *buf)
{
    size_t n = s.len > 40 ? 40 : s.len, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (s.len > n) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}
