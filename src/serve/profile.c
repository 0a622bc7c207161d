/*
 * profile.c - training data to reference profile (profile.h): a CSV reader,
 * a matrix copier, and the quantile binning that writes profile JSON.
 *
 * The CSV text is read twice without copying it: the first pass finds the
 * header, checks every row's field count and counts the rows, so the
 * column-major value array is sized once, from a count checked against the
 * limits (SECURITY.md D13), before the second pass converts the values.
 * Every field is copied into a fixed buffer of PROFILE_MAX_FIELD bytes
 * before it is looked at, so no conversion ever reads past the text.
 *
 * Binning sorts each feature's non-missing values once (n log n per
 * feature) and reads the K-1 quantiles off the sorted copy; the counts come
 * from drift_bin_find(), the function the server bins traffic with.
 */
#include "serve/profile.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/json.h"

struct limits {
    int64_t rows, cells;
    int features;
};

static void get_limits(const struct profile_limits *lim, struct limits *l)
{
    l->rows = lim && lim->max_rows > 0 ? lim->max_rows : PROFILE_MAX_ROWS;
    l->cells = lim && lim->max_cells > 0 ? lim->max_cells : PROFILE_MAX_CELLS;
    l->features = lim && lim->max_features > 0 ? lim->max_features : DRIFT_MAX_FEATURES;
    if (l->features > DRIFT_MAX_FEATURES)
        l->features = DRIFT_MAX_FEATURES;
}

void profile_data_dispose(struct profile_data *d)
{
    axle_free(d->cols);
    axle_free(d->names);
    memset(d, 0, sizeof(*d));
}

/* Up to 40 bytes of s for a message, anything but printable ASCII as '?'. */
static const char *shown(const char *s, char out[48])
{
    int i = 0;
    for (; i < 40 && s[i]; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (s[i])
        memcpy(out + i++, "...", 4);
    else
        out[i] = '\0';
    return out;
}

/* ---------------------------------------------------------------------- */
/* CSV lines and fields                                                    */

struct csv {
    const char *p, *end;
    int64_t line; /* 1-based number of the line last returned */
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The next line with something on it, as [*ls, *le) without its LF or
 * CRLF; 0 at the end of the text. */
static int next_line(struct csv *c, const char **ls, const char **le)
{
    while (c->p < c->end) {
        const char *s = c->p, *nl = memchr(s, '\n', (size_t)(c->end - s));
        const char *e = nl ? nl : c->end, *q = s;
        c->p = nl ? nl + 1 : c->end;
        c->line++;
        if (e > s && e[-1] == '\r')
            e--;
        while (q < e && is_blank(*q))
            q++;
        if (q < e) {
            *ls = s;
            *le = e;
            return 1;
        }
    }
    return 0;
}

/* One field from *pp to the next comma outside quotes or to e: its text,
 * unquoted and without the blanks around it, into dst (NUL-terminated;
 * *len gets its length), *pp left on that comma or at e. NULL on success,
 * else a phrase for the message. */
static const char *next_field(const char **pp, const char *e, char dst[PROFILE_MAX_FIELD + 1],
                              size_t *len)
{
    const char *p = *pp;
    size_t n = 0;

    while (p < e && is_blank(*p))
        p++;
    if (p < e && *p == '"') {
        for (p++;; p++) { /* RFC 4180: "" is a quote inside a quoted field */
            if (p == e)
                return "unterminated quoted field (a field may not span lines)";
            if (*p == '"' && (p + 1 == e || p[1] != '"'))
                break;
            if (*p == '"')
                p++;
            if (n == PROFILE_MAX_FIELD)
                return "field longer than 255 bytes";
            dst[n++] = *p;
        }
        for (p++; p < e && is_blank(*p); p++)
            ;
        if (p < e && *p != ',')
            return "text after a closing quote";
    } else {
        const char *s = p, *t;
        while (p < e && *p != ',')
            p++;
        for (t = p; t > s && is_blank(t[-1]); t--)
            ;
        n = (size_t)(t - s);
        if (n > PROFILE_MAX_FIELD)
            return "field longer than 255 bytes";
        memcpy(dst, s, n);
    }
    dst[n] = '\0';
    *len = n;
    *pp = p;
    return NULL;
}

enum value_kind { V_NUMBER, V_MISSING, V_INFINITE, V_TEXT };

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* s[0..n) equals the lower-case word w, ignoring ASCII case. */
static int word_is(const char *s, size_t n, const char *w)
{
    if (n != strlen(w))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != w[i])
            return 0;
    return 1;
}

/* Classify the NUL-terminated field s[0..n) and, for a number, convert it.
 * Only plain decimals are numbers: strtod alone would also take hex, "inf"
 * and leading junk it skips. */
static enum value_kind parse_value(const char *s, size_t n, double *v)
{
    const char *p, *end;
    size_t digits = 0;

    while (n > 0 && is_blank(*s))
        s++, n--;
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    *v = NAN;
    if (n == 0 || word_is(s, n, "nan"))
        return V_MISSING;
    end = s + n;
    p = s + (*s == '+' || *s == '-');
    if (word_is(p, (size_t)(end - p), "inf") || word_is(p, (size_t)(end - p), "infinity"))
        return V_INFINITE;
    for (; p < end && is_digit(*p); p++)
        digits++;
    if (p < end && *p == '.')
        for (p++; p < end && is_digit(*p); p++)
            digits++;
    if (digits == 0)
        return V_TEXT;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return V_TEXT;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p != end)
        return V_TEXT;
    *v = strtod(s, NULL); /* stops at the trailing blanks, if any */
    return isfinite(*v) ? V_NUMBER : V_INFINITE;
}

/* ---------------------------------------------------------------------- */
/* Header                                                                  */

struct name_ref {
    const char *s;
    int i;
};

static int name_ref_cmp(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* s[0..n) comes back byte for byte from the JSON writer and reader, that
 * is, it is UTF-8 the profile can carry as it is. */
static int survives_json(const char *s, size_t n, struct axle_buf *b, struct json_doc *d)
{
    struct axle_err e;
    buf_reset(b);
    json_put_str(b, s, n);
    if (b->oom || buf_reserve(b, 1) == NULL)
        return 0;
    return json_parse(d, b->data, b->len, &e) == AXLE_OK && d->n == 1 &&
           json_tok(d, 0)->type == JSON_STRING && json_tok(d, 0)->size == n &&
           memcmp(json_str(d, 0), s, n) == 0;
}

static enum axle_status check_names(struct profile_data *out, int64_t line, struct axle_err *err)
{
    struct name_ref *refs = axle_try_malloc((size_t)out->n_features * sizeof(*refs));
    struct axle_buf b;
    struct json_doc d;
    enum axle_status st = AXLE_OK;
    char sh[48];

    if (refs == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "csv: out of memory");
    buf_init(&b);
    json_doc_init(&d);
    for (int j = 0; j < out->n_features && st == AXLE_OK; j++) {
        const char *s = out->names[j];
        size_t n = strlen(s);
        int ctrl = 0;
        for (size_t k = 0; k < n; k++)
            ctrl |= (unsigned char)s[k] < 0x20 || s[k] == 0x7f;
        if (n == 0)
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "csv line %lld: header field %d is empty (every feature needs "
                              "a name)", (long long)line, j + 1);
        else if (ctrl || !survives_json(s, n, &b, &d))
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "csv line %lld: header field %d ('%s') is not UTF-8 text "
                              "without control characters", (long long)line, j + 1,
                              shown(s, sh));
        refs[j].s = s;
        refs[j].i = j;
    }
    if (st == AXLE_OK) {
        qsort(refs, (size_t)out->n_features, sizeof(*refs), name_ref_cmp);
        for (int j = 1; j < out->n_features; j++)
            if (strcmp(refs[j].s, refs[j - 1].s) == 0) {
                st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                  "csv line %lld: header fields %d and %d are both '%s' "
                                  "(feature names must be distinct)", (long long)line,
                                  refs[j - 1].i + 1, refs[j].i + 1, shown(refs[j].s, sh));
                break;
            }
    }
    json_doc_free(&d);
    buf_free(&b);
    axle_free(refs);
    return st;
}

/* The first row: its field count, whether it is a header, and if so the
 * names into out->names. */
static enum axle_status first_row(const char *ls, const char *le, int64_t line,
                                  enum profile_header header, const struct limits *l,
                                  struct profile_data *out, int *is_header, struct axle_err *err)
{
    char fld[PROFILE_MAX_FIELD + 1];
    const char *p = ls, *msg;
    size_t n;
    double v;
    int nf = 0, text = 0;

    for (;;) {
        msg = next_field(&p, le, fld, &n);
        if (msg != NULL)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "csv line %lld, field %d: %s",
                                (long long)line, nf + 1, msg);
        if (++nf > l->features)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "csv line %lld: more than %d fields (features)",
                                (long long)line, l->features);
        text |= parse_value(fld, n, &v) == V_TEXT;
        if (p == le)
            break;
        p++;
    }
    out->n_features = nf;
    *is_header = header == PROFILE_HEADER_YES || (header == PROFILE_HEADER_AUTO && text);
    if (!*is_header)
        return AXLE_OK;
    out->names = axle_try_calloc((size_t)nf, sizeof(*out->names));
    if (out->names == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "csv: out of memory");
    p = ls;
    for (int j = 0; j < nf; j++) {
        next_field(&p, le, fld, &n); /* succeeded above */
        if (memchr(fld, '\0', n) != NULL)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "csv line %lld: header field %d holds a NUL byte",
                                (long long)line, j + 1);
        memcpy(out->names[j], fld, n + 1);
        if (p < le)
            p++; /* the comma */
    }
    return check_names(out, line, err);
}

/* Fields in [ls, le), or -1 with err set. */
static int count_fields(const char *ls, const char *le, int64_t line, struct axle_err *err)
{
    char fld[PROFILE_MAX_FIELD + 1];
    const char *p = ls, *msg;
    size_t n;
    int nf = 0;

    for (;;) {
        msg = next_field(&p, le, fld, &n);
        if (msg != NULL) {
            axle_err_set(err, AXLE_INVALID_ARGUMENT, "csv line %lld, field %d: %s",
                         (long long)line, nf + 1, msg);
            return -1;
        }
        if (nf++ == DRIFT_MAX_FEATURES) /* more than any first row may have */
            return nf;
        if (p == le)
            return nf;
        p++;
    }
}

/* Row r of the values: [ls, le) holds exactly nf fields (first pass). */
static enum axle_status read_row(const char *ls, const char *le, int64_t line, int64_t r,
                                 struct profile_data *out, struct axle_err *err)
{
    char fld[PROFILE_MAX_FIELD + 1], sh[48];
    const char *p = ls;
    size_t n;
    double v;

    for (int j = 0; j < out->n_features; j++) {
        next_field(&p, le, fld, &n);
        if (p < le)
            p++; /* the comma */
        switch (parse_value(fld, n, &v)) {
        case V_TEXT:
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "csv line %lld, field %d: '%s' is not a number",
                                (long long)line, j + 1, shown(fld, sh));
        case V_INFINITE:
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "csv line %lld, field %d: '%s' is infinite (profiles take "
                                "finite values; leave the field empty for missing)",
                                (long long)line, j + 1, shown(fld, sh));
        default:
            out->cols[(size_t)j * (size_t)out->n_rows + (size_t)r] = v;
        }
    }
    return AXLE_OK;
}

enum axle_status profile_csv_parse(const char *text, size_t len, enum profile_header header,
                                   const struct profile_limits *lim, struct profile_data *out,
                                   struct axle_err *err)
{
    struct limits l;
    struct csv c, data;
    const char *ls, *le;
    enum axle_status st;
    int64_t rows, header_line, r;
    size_t n_cells;
    int is_header, nf;

    memset(out, 0, sizeof(*out));
    get_limits(lim, &l);
    if (text == NULL && len > 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "csv: no text");
    c.p = text;
    c.end = text + len;
    c.line = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) /* UTF-8 byte order mark */
        c.p += 3;
    data = c;
    if (!next_line(&c, &ls, &le))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "csv: no rows");
    header_line = c.line;
    st = first_row(ls, le, c.line, header, &l, out, &is_header, err);
    if (st != AXLE_OK)
        return st;
    nf = out->n_features;
    if (is_header)
        data = c;
    rows = is_header ? 0 : 1;
    while (next_line(&c, &ls, &le)) {
        int n = count_fields(ls, le, c.line, err);
        if (n < 0)
            return err ? err->code : AXLE_INVALID_ARGUMENT;
        if (n != nf)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "csv line %lld: %s%d fields, but the %s (line %lld) has %d",
                                (long long)c.line, n > DRIFT_MAX_FEATURES ? "more than " : "",
                                n > DRIFT_MAX_FEATURES ? DRIFT_MAX_FEATURES : n,
                                is_header ? "header" : "first row", (long long)header_line, nf);
        if (++rows > l.rows)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "csv: more than %lld rows",
                                (long long)l.rows);
    }
    if (rows == 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "csv: a header but no data rows");
    if (rows > l.cells / nf)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "csv: %lld rows x %d features is more than %lld values",
                            (long long)rows, nf, (long long)l.cells);
    n_cells = (size_t)rows * (size_t)nf; /* <= l.cells: no overflow */
    out->n_rows = rows;
    out->cols = axle_try_malloc(n_cells * sizeof(*out->cols));
    if (out->cols == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "csv: out of memory for %lld values", (long long)n_cells);
    for (r = 0; next_line(&data, &ls, &le); r++) {
        st = read_row(ls, le, data.line, r, out, err);
        if (st != AXLE_OK)
            return st;
    }
    return AXLE_OK; /* r == rows: both passes skip the same lines */
}

/* ---------------------------------------------------------------------- */
/* Matrices                                                                */

enum axle_status profile_data_from_rows(const void *x, int is_f64, int64_t rows, int features,
                                        const struct profile_limits *lim,
                                        struct profile_data *out, struct axle_err *err)
{
    struct limits l;

    memset(out, 0, sizeof(*out));
    get_limits(lim, &l);
    if (rows < 1)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "data: no rows");
    if (features < 1 || features > l.features)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "data: %d features, want 1..%d",
                            features, l.features);
    if (rows > l.rows)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "data: %lld rows, more than %lld",
                            (long long)rows, (long long)l.rows);
    if (rows > l.cells / features)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "data: %lld rows x %d features is more than %lld values",
                            (long long)rows, features, (long long)l.cells);
    out->cols = axle_try_malloc((size_t)rows * (size_t)features * sizeof(*out->cols));
    if (out->cols == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "data: out of memory");
    out->n_rows = rows;
    out->n_features = features;
    for (int64_t r = 0; r < rows; r++)
        for (int j = 0; j < features; j++) {
            size_t k = (size_t)r * (size_t)features + (size_t)j;
            double v = is_f64 ? ((const double *)x)[k] : (double)((const float *)x)[k];
            if (isinf(v))
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "data: row %lld, column %d is infinite (profiles take "
                                    "finite values; NaN for missing)", (long long)r, j);
            out->cols[(size_t)j * (size_t)rows + (size_t)r] = v;
        }
    return AXLE_OK;
}

/* ---------------------------------------------------------------------- */
/* Binning                                                                 */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double round_f32(double v)
{
    return (double)(float)v;
}

/* Edges of up to n_bins quantile bins over sorted v[0..n), n >= 1: edge i
 * is the smallest value with at least i/n_bins of the values at or below
 * it (the inverted empirical CDF, numpy's method='inverted_cdf'), so every
 * edge is a data value, bin 0 (x <= edge 1) holds at least 1/n_bins of the
 * rows, and a feature with m distinct values gets at most m edges. Equal
 * edges are merged. Returns 1..n_bins-1. */
static int quantile_edges(const double *v, int64_t n, int n_bins, double *edges)
{
    int ne = 0;
    for (int i = 1; i < n_bins; i++) {
        /* ceil(n * i / n_bins) - 1, in integers: n * i < 2^28 * 64 */
        int64_t k = (n * i + n_bins - 1) / n_bins - 1;
        double e = v[k < 0 ? 0 : k];
        if (ne == 0 || e > edges[ne - 1])
            edges[ne++] = e;
    }
    return ne;
}

static void put_doubles(struct axle_buf *b, const double *v, int n)
{
    buf_putc(b, '[');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        json_put_double(b, v[i]); /* shortest text that reads back as v[i] */
    }
    buf_putc(b, ']');
}

static enum axle_status build_feature(const struct profile_data *d, int j, int n_bins,
                                      int as_f32, double *scratch, struct axle_buf *out,
                                      struct axle_err *err)
{
    const double *col = d->cols + (size_t)j * (size_t)d->n_rows;
    double edges[DRIFT_MAX_BINS - 1], props[DRIFT_MAX_BINS], sum = 0, mean = 0;
    int64_t counts[DRIFT_MAX_BINS + 1] = {0}, n_ok = 0;
    char name[32], sh[48];
    const char *nm = name;
    int ne;

    if (d->names)
        nm = d->names[j];
    else
        snprintf(name, sizeof(name), "f%d", j);
    for (int64_t r = 0; r < d->n_rows; r++) {
        double v = col[r];
        if (isnan(v))
            continue;
        if (as_f32 && !(fabs(v) <= FLT_MAX))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "feature '%s': value %g is outside the float32 range of the "
                                "model input", shown(nm, sh), v);
        scratch[n_ok++] = as_f32 ? round_f32(v) : v;
    }
    if (n_ok > 0) {
        qsort(scratch, (size_t)n_ok, sizeof(*scratch), cmp_double);
        ne = quantile_edges(scratch, n_ok, n_bins, edges);
        for (int64_t r = 0; r < n_ok; r++)
            mean += scratch[r] / (double)n_ok; /* no overflow: each term <= max / n */
    } else {
        edges[0] = 0; /* nothing to cut: one edge, every row in the missing bin */
        ne = 1;
    }
    for (int64_t r = 0; r < d->n_rows; r++) {
        double v = as_f32 && !isnan(col[r]) ? round_f32(col[r]) : col[r];
        counts[drift_bin_find(edges, ne, v)]++;
    }
    double missing = (double)counts[ne + 1] / (double)d->n_rows;
    for (int b = 0; b <= ne; b++) {
        props[b] = (double)counts[b] / (double)d->n_rows;
        sum += props[b];
    }
    /* Each share is off by half an ulp at most, so the sum is 1 within
     * about 64 ulps, far inside DRIFT_SUM_TOLERANCE; should it ever be
     * further off, the last bin takes the difference. Left alone
     * otherwise, so 10% reads 0.1 rather than 0.10000000000000009. */
    if (fabs(1.0 - (sum + missing)) > 1e-12) {
        props[ne] += 1.0 - (sum + missing);
        if (props[ne] < 0)
            props[ne] = 0;
    }

    buf_puts(out, "{\"name\":");
    json_put_cstr(out, nm);
    buf_puts(out, ",\"edges\":");
    put_doubles(out, edges, ne);
    buf_puts(out, ",\"proportions\":");
    put_doubles(out, props, ne + 1);
    buf_puts(out, ",\"missing\":");
    json_put_double(out, missing);
    if (n_ok > 0) {
        buf_puts(out, ",\"min\":");
        json_put_double(out, scratch[0]);
        buf_puts(out, ",\"max\":");
        json_put_double(out, scratch[n_ok - 1]);
        if (isfinite(mean)) {
            buf_puts(out, ",\"mean\":");
            json_put_double(out, mean);
        }
    }
    buf_putc(out, '}');
    return AXLE_OK;
}

enum axle_status profile_build(const struct profile_data *d, const char *input, int n_bins,
                               int as_f32, struct axle_buf *out, struct axle_err *err)
{
    enum axle_status st = AXLE_OK;
    double *scratch;

    if (n_bins < DRIFT_MIN_BINS || n_bins > DRIFT_MAX_BINS)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "profile: %d bins, want %d..%d",
                            n_bins, DRIFT_MIN_BINS, DRIFT_MAX_BINS);
    if (d->n_rows < 1 || d->n_features < 1 || d->n_features > DRIFT_MAX_FEATURES ||
        d->cols == NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "profile: no data (rows >= 1 and 1..%d features needed)",
                            DRIFT_MAX_FEATURES);
    if (input == NULL || strlen(input) > DRIFT_MAX_NAME)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "profile: the input name is longer than %d bytes", DRIFT_MAX_NAME);
    scratch = axle_try_malloc((size_t)d->n_rows * sizeof(*scratch));
    if (scratch == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "profile: out of memory");
    out->limit = DRIFT_MAX_PROFILE_BYTES;
    buf_puts(out, "{\"format\":\"axle-profile\",\"version\":1,\"input\":");
    json_put_cstr(out, input);
    buf_printf(out, ",\"rows\":%lld,\"features\":[\n", (long long)d->n_rows);
    for (int j = 0; j < d->n_features && st == AXLE_OK; j++) {
        if (j)
            buf_puts(out, ",\n");
        st = build_feature(d, j, n_bins, as_f32, scratch, out, err);
    }
    buf_puts(out, "\n]}\n");
    axle_free(scratch);
    if (st == AXLE_OK && out->oom)
        st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                          "profile: out of memory or larger than %u bytes",
                          DRIFT_MAX_PROFILE_BYTES);
    return st;
}
