/*
 * xgb_doc.c - one read-only view of an XGBoost document, whether it came
 * as JSON (tokens from serve/json.c, numbers kept as text) or as UBJSON
 * (tokens from xgb_ubjson.c, numbers kept as big-endian bytes).
 *
 * Numbers are converted the way XGBoost's own readers do: a float field
 * is a float32, so JSON text is rounded once, correctly, to float (strtof;
 * going through double first could round twice), and UBJSON float32
 * payloads are taken bit for bit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "import/xgboost/xgb_internal.h"
#include "import/xgboost/xgboost.h"

static bool is_ubj_start(const uint8_t *buf, size_t len)
{
    return len >= 2 && buf[0] == '{' &&
           (buf[1] == 'i' || buf[1] == 'U' || buf[1] == 'I' ||
            buf[1] == 'l' || buf[1] == 'L' || buf[1] == '#' ||
            buf[1] == '$' || buf[1] == '}');
}

enum axle_status xgb_doc_parse(struct xgb_doc *d, const uint8_t *buf,
                               size_t len, struct axle_err *err)
{
    enum axle_status st;

    memset(d, 0, sizeof(*d));
    json_doc_init(&d->j);
    axle_xgboost_ubj_init(&d->u);
    if (is_ubj_start(buf, len)) {
        d->ubj = true;
        st = axle_xgboost_ubj_parse(&d->u, buf, len, err);
        return st;
    }
    d->copy = axle_try_malloc(len + 1);
    if (d->copy == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory reading a %zu-byte model", len);
    memcpy(d->copy, buf, len);
    d->j.max_depth = AXLE_XGB_MAX_NESTING;
    d->j.max_string = (uint32_t)AXLE_XGB_MAX_STRING;
    st = json_parse(&d->j, d->copy, len, err);
    if (st == AXLE_INVALID_ARGUMENT && err != NULL) {
        char why[AXLE_ERR_MSG_LEN];
        memcpy(why, err->msg, sizeof(why));
        why[sizeof(why) - 1] = '\0';
        axle_err_set(err, st, "malformed xgboost json model: %s", why);
    }
    return st;
}

void xgb_doc_free(struct xgb_doc *d)
{
    json_doc_free(&d->j);
    axle_free(d->copy);
    d->copy = NULL;
    axle_xgboost_ubj_free(&d->u);
}

static uint32_t n_toks(const struct xgb_doc *d)
{
    return d->ubj ? d->u.n : d->j.n;
}

int xgb_type(const struct xgb_doc *d, uint32_t t)
{
    if (t >= n_toks(d))
        return -1;
    if (d->ubj)
        return d->u.toks[t].type;
    switch (d->j.toks[t].type) {
    case JSON_NULL: return XGB_NULL;
    case JSON_FALSE:
    case JSON_TRUE: return XGB_BOOL;
    case JSON_NUMBER: return XGB_NUM;
    case JSON_STRING: return XGB_STR;
    case JSON_ARRAY: return XGB_ARR;
    default: return XGB_OBJ;
    }
}

uint32_t xgb_size(const struct xgb_doc *d, uint32_t t)
{
    if (t >= n_toks(d))
        return 0;
    return d->ubj ? d->u.toks[t].size : d->j.toks[t].size;
}

uint32_t xgb_after(const struct xgb_doc *d, uint32_t t)
{
    if (t >= n_toks(d))
        return XGB_NONE;
    return d->ubj ? d->u.toks[t].end : d->j.toks[t].end;
}

uint32_t xgb_first(const struct xgb_doc *d, uint32_t arr)
{
    if (xgb_type(d, arr) != XGB_ARR || xgb_size(d, arr) == 0)
        return XGB_NONE;
    if (d->ubj && d->u.toks[arr].marker != 0)
        return XGB_NONE;
    return arr + 1;
}

const char *xgb_str(const struct xgb_doc *d, uint32_t t, size_t *len)
{
    if (xgb_type(d, t) != XGB_STR)
        return NULL;
    if (d->ubj) {
        *len = d->u.toks[t].size;
        return (const char *)d->u.buf + d->u.toks[t].off;
    }
    *len = d->j.toks[t].size;
    return json_str(&d->j, t);
}

bool xgb_streq(const struct xgb_doc *d, uint32_t t, const char *s)
{
    size_t n, sl = strlen(s);
    const char *p = xgb_str(d, t, &n);
    return p != NULL && n == sl && memcmp(p, s, n) == 0;
}

uint32_t xgb_get(const struct xgb_doc *d, uint32_t obj, const char *key,
                 bool *dup)
{
    uint32_t k, found = XGB_NONE, n;

    *dup = false;
    if (xgb_type(d, obj) != XGB_OBJ)
        return XGB_NONE;
    if (!d->ubj) {
        uint32_t v = json_get(&d->j, obj, key);
        return v == 0 ? XGB_NONE : v;
    }
    /* UBJSON: scan every member, so that a duplicate is seen. */
    n = d->u.toks[obj].size;
    k = obj + 1;
    for (uint32_t i = 0; i < n && k + 1 < d->u.n; i++) {
        if (xgb_streq(d, k, key)) {
            if (found != XGB_NONE) {
                *dup = true;
                return XGB_NONE;
            }
            found = k + 1;
        }
        k = d->u.toks[k + 1].end;
    }
    return found;
}

/* ---- scalars ---------------------------------------------------------- */

static uint64_t be(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

/* A UBJSON scalar of `marker` at byte offset off: integer or double. */
static int ubj_num(const struct xgb_doc *d, uint8_t marker, uint64_t off,
                   bool *is_int, int64_t *iv, double *dv, float *fv)
{
    const uint8_t *b = d->u.buf + off;
    uint64_t v;
    *is_int = true;
    switch (marker) {
    case 'i': *iv = (int8_t)b[0]; break;
    case 'U': *iv = b[0]; break;
    case 'I': *iv = (int16_t)(uint16_t)be(b, 2); break;
    case 'l': *iv = (int32_t)(uint32_t)be(b, 4); break;
    case 'L': *iv = (int64_t)be(b, 8); break;
    case 'd': {
        uint32_t u = (uint32_t)be(b, 4);
        float f;
        memcpy(&f, &u, 4);
        *is_int = false;
        *fv = f;
        *dv = f;
        return 0;
    }
    case 'D':
        v = be(b, 8);
        memcpy(dv, &v, 8);
        *is_int = false;
        *fv = (float)*dv;
        return 0;
    default:
        return -1;
    }
    *dv = (double)*iv;
    *fv = (float)*iv;
    return 0;
}

int xgb_i64(const struct xgb_doc *d, uint32_t t, int64_t *out)
{
    if (xgb_type(d, t) != XGB_NUM)
        return -1;
    if (d->ubj) {
        bool is_int;
        double dv;
        float fv;
        if (ubj_num(d, d->u.toks[t].marker, d->u.toks[t].off, &is_int, out,
                    &dv, &fv) != 0 || !is_int)
            return -1;
        return 0;
    }
    return json_to_int64(&d->j, t, out);
}

static int json_f32(const struct xgb_doc *d, uint32_t t, float *out)
{
    const char *s = json_str(&d->j, t);
    char *e;
    float v;
    /* The parser validated the literal (JSON number, NaN, Infinity,
     * -Infinity) and it is followed by a non-number byte, so strtof reads
     * exactly the token. */
    v = strtof(s, &e);
    if (e != s + d->j.toks[t].size)
        return -1;
    *out = v;
    return 0;
}

int xgb_f32(const struct xgb_doc *d, uint32_t t, float *out)
{
    if (xgb_type(d, t) != XGB_NUM)
        return -1;
    if (d->ubj) {
        bool is_int;
        int64_t iv;
        double dv;
        return ubj_num(d, d->u.toks[t].marker, d->u.toks[t].off, &is_int,
                       &iv, &dv, out);
    }
    return json_f32(d, t, out);
}

int xgb_f64(const struct xgb_doc *d, uint32_t t, double *out)
{
    if (xgb_type(d, t) != XGB_NUM)
        return -1;
    if (d->ubj) {
        bool is_int;
        int64_t iv;
        float fv;
        return ubj_num(d, d->u.toks[t].marker, d->u.toks[t].off, &is_int,
                       &iv, out, &fv);
    }
    return json_to_double(&d->j, t, out);
}

int xgb_bool(const struct xgb_doc *d, uint32_t t, bool *out)
{
    int64_t v;
    int ty = xgb_type(d, t);
    if (ty == XGB_BOOL) {
        *out = d->ubj ? d->u.toks[t].marker == 'T'
                      : d->j.toks[t].type == JSON_TRUE;
        return 0;
    }
    if (ty == XGB_NUM && xgb_i64(d, t, &v) == 0 && (v == 0 || v == 1)) {
        *out = v == 1;
        return 0;
    }
    return -1;
}

/* ---- arrays of scalars ------------------------------------------------ */

static bool packed(const struct xgb_doc *d, uint32_t arr)
{
    return d->ubj && d->u.toks[arr].marker != 0;
}

bool xgb_arr_scalars(const struct xgb_doc *d, uint32_t arr)
{
    if (xgb_type(d, arr) != XGB_ARR)
        return false;
    if (packed(d, arr))
        return true;
    /* all elements are scalars iff the subtree is exactly 1 + size tokens */
    return (uint64_t)xgb_after(d, arr) == (uint64_t)arr + 1 + xgb_size(d, arr);
}

uint32_t xgb_arr_tok(const struct xgb_doc *d, uint32_t arr, uint32_t i)
{
    if (packed(d, arr) || i >= xgb_size(d, arr))
        return XGB_NONE;
    return arr + 1 + i;
}

/* Element i of a packed array as a number. */
static int packed_num(const struct xgb_doc *d, uint32_t arr, uint32_t i,
                      bool *is_int, int64_t *iv, double *dv, float *fv)
{
    const struct axle_ubj_tok *t = &d->u.toks[arr];
    int nb = axle_xgboost_ubj_scalar_bytes(t->marker);
    if (i >= t->size || nb <= 0)
        return -1;
    return ubj_num(d, t->marker, t->off + (uint64_t)i * (uint64_t)nb, is_int,
                   iv, dv, fv);
}

int xgb_arr_i64(const struct xgb_doc *d, uint32_t arr, uint32_t i,
                int64_t *out)
{
    if (packed(d, arr)) {
        bool is_int;
        double dv;
        float fv;
        if (packed_num(d, arr, i, &is_int, out, &dv, &fv) != 0 || !is_int)
            return -1;
        return 0;
    }
    if (i >= xgb_size(d, arr))
        return -1;
    return xgb_i64(d, arr + 1 + i, out);
}

int xgb_arr_f32(const struct xgb_doc *d, uint32_t arr, uint32_t i,
                float *out)
{
    if (packed(d, arr)) {
        bool is_int;
        int64_t iv;
        double dv;
        return packed_num(d, arr, i, &is_int, &iv, &dv, out);
    }
    if (i >= xgb_size(d, arr))
        return -1;
    return xgb_f32(d, arr + 1 + i, out);
}

int xgb_arr_bool(const struct xgb_doc *d, uint32_t arr, uint32_t i,
                 bool *out)
{
    if (packed(d, arr)) {
        const struct axle_ubj_tok *t = &d->u.toks[arr];
        int64_t v;
        if (i >= t->size)
            return -1;
        if (t->marker == 'T' || t->marker == 'F') {
            *out = t->marker == 'T';
            return 0;
        }
        if (xgb_arr_i64(d, arr, i, &v) != 0 || (v != 0 && v != 1))
            return -1;
        *out = v == 1;
        return 0;
    }
    if (i >= xgb_size(d, arr))
        return -1;
    return xgb_bool(d, arr + 1 + i, out);
}

const char *xgb_show(const char *s, size_t len, char out[48])
{
    size_t n = len > 40 ? 40 : len, j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (len > n) {
        out[j++] = '.';
        out[j++] = '.';
        out[j++] = '.';
    }
    out[j] = '\0';
    return out;
}

static const char *type_name(int type)
{
    switch (type) {
    case XGB_NULL: return "null";
    case XGB_BOOL: return "a boolean";
    case XGB_NUM: return "a number";
    case XGB_STR: return "a string";
    case XGB_ARR: return "an array";
    case XGB_OBJ: return "an object";
    default: return "a value";
    }
}

enum axle_status xgb_member(const struct xgb_doc *d, uint32_t obj,
                            const char *key, int type, bool required,
                            const char *where, uint32_t *out,
                            struct axle_err *err)
{
    bool dup;
    uint32_t v = xgb_get(d, obj, key, &dup);

    *out = XGB_NONE;
    if (dup)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "malformed model: duplicate key '%s' in %s", key,
                            where);
    if (v == XGB_NONE) {
        if (!required)
            return AXLE_OK;
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "missing field '%s' in %s", key, where);
    }
    if (type >= 0 && xgb_type(d, v) != type)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "field '%s' in %s must be %s, not %s", key, where,
                            type_name(type), type_name(xgb_type(d, v)));
    *out = v;
    return AXLE_OK;
}

int xgb_int_param(const struct xgb_doc *d, uint32_t t, int64_t *out)
{
    size_t n;
    const char *s = xgb_str(d, t, &n);
    uint64_t v = 0;
    size_t i = 0;
    bool neg = false;

    if (s == NULL)
        return xgb_i64(d, t, out);
    if (n > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n || n > 20)
        return -1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t dg = (uint64_t)(s[i] - '0');
        if (v > ((uint64_t)INT64_MAX - dg) / 10)
            return -1;
        v = v * 10 + dg;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}
