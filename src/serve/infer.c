/*
 * infer.c - inference front ends: Open Inference Protocol V2 (JSON, Triton's
 * binary tensor and classification extensions) and KServe V1 / TF Serving
 * (:predict with instances or inputs).
 *
 * Decoding never allocates what the client declares: a JSON tensor is
 * checked against the number of values actually present, a binary tensor
 * against the bytes actually present, before any buffer is sized
 * (SECURITY.md D13, D22). Tensors point into the request body where the
 * bytes can be used as they are.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/infer.h"

static size_t dtype_bytes(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_STRING ? sizeof(char *) : axle_dtype_size(dt);
}

/* Record an invalid-argument message; returns -1. */
int infer_bad(struct axle_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->code = AXLE_INVALID_ARGUMENT;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int infer_find_input(const struct model_version *v, const char *name)
{
    for (int i = 0; i < v->n_inputs; i++)
        if (strcmp(v->inputs[i].name, name) == 0)
            return i;
    return -1;
}

static int find_output(const struct model_version *v, const char *name)
{
    for (int i = 0; i < v->n_outputs; i++)
        if (strcmp(v->outputs[i].name, name) == 0)
            return i;
    return -1;
}

static void shape_str(char *dst, size_t cap, int rank, const int64_t *dims)
{
    size_t n = 0;
    n += (size_t)snprintf(dst + n, cap - n, "[");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(dst + n, cap - n, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (n < cap)
        snprintf(dst + n, cap - n, "]");
}

/* Check a request shape against the model's declared one; sets the batch
 * (first dim when batching). Returns element count or -1. */
int64_t infer_check_shape(struct job *j, int idx, int rank, const int64_t *dims,
                           struct axle_err *err)
{
    const struct io_desc *d = &j->v->inputs[idx];
    int ok = rank == d->rank;
    for (int k = 0; ok && k < rank; k++)
        if (d->dims[k] >= 0 && dims[k] != d->dims[k] &&
            !(k == 0 && j->v->max_batch_size > 0))
            ok = 0;
    if (!ok) {
        char want[96], got[96];
        shape_str(want, sizeof(want), d->rank, d->dims);
        shape_str(got, sizeof(got), rank, dims);
        axle_err_set(err, AXLE_INVALID_ARGUMENT,
                     "invalid shape for input '%s': expected %s, got %s", d->name, want, got);
        return -1;
    }
    int64_t n = 1;
    for (int k = 0; k < rank; k++) {
        if (__builtin_mul_overflow(n, dims[k], &n) || n > MAX_ELEMENTS) {
            axle_err_set(err, AXLE_INVALID_ARGUMENT, "tensor too large: input '%s'", d->name);
            return -1;
        }
    }
    if (j->v->max_batch_size > 0 && rank > 0) {
        if (dims[0] > j->v->max_batch_size) {
            axle_err_set(err, AXLE_INVALID_ARGUMENT, "batch size exceeds max_batch_size");
            return -1;
        }
        if (j->batch >= 0 && j->batch != dims[0]) {
            axle_err_set(err, AXLE_INVALID_ARGUMENT,
                         "invalid shape for input '%s': batch differs between inputs", d->name);
            return -1;
        }
        j->batch = dims[0];
    }
    return n;
}

/* Reserve scratch for input idx of n elements (offset recorded; pointers
 * fixed up once every input has been reserved). */
int infer_reserve_input(struct job *j, int idx, int64_t n, struct axle_err *err)
{
    size_t es = dtype_bytes(j->in[idx].dtype);
    size_t bytes = (size_t)n * es;
    size_t off = (j->data.len + 63) & ~(size_t)63;
    if (!buf_reserve(&j->data, off - j->data.len + bytes + 64)) {
        axle_err_set(err, AXLE_UNAVAILABLE, "memory budget exceeded");
        return -1;
    }
    j->data.len = off + bytes;
    j->in_off[idx] = off;
    return 0;
}

/* ------------------------------------------------------------------ */
/* JSON values -> elements                                             */

static int put_number(const struct json_doc *d, uint32_t t, enum axle_dtype dt, void *dst)
{
    const struct json_tok *tk = json_tok(d, t);
    if (dt == AXLE_DTYPE_BOOL) {
        if (tk->type == JSON_TRUE || tk->type == JSON_FALSE) {
            *(uint8_t *)dst = tk->type == JSON_TRUE;
            return 0;
        }
        return -1;
    }
    if (tk->type != JSON_NUMBER)
        return -1;
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: {
        double x;
        if (json_to_double(d, t, &x) != 0)
            return -1;
        if (isfinite(x) && (x > 3.4028234663852886e38 || x < -3.4028234663852886e38))
            return -1;
        *(float *)dst = (float)x;
        return 0;
    }
    case AXLE_DTYPE_FLOAT64:
        return json_to_double(d, t, (double *)dst);
    case AXLE_DTYPE_INT8: case AXLE_DTYPE_INT16: case AXLE_DTYPE_INT32: case AXLE_DTYPE_INT64: {
        int64_t x;
        if (json_to_int64(d, t, &x) != 0)
            return -1;
        if (dt == AXLE_DTYPE_INT8) {
            if (x < INT8_MIN || x > INT8_MAX) return -1;
            *(int8_t *)dst = (int8_t)x;
        } else if (dt == AXLE_DTYPE_INT16) {
            if (x < INT16_MIN || x > INT16_MAX) return -1;
            *(int16_t *)dst = (int16_t)x;
        } else if (dt == AXLE_DTYPE_INT32) {
            if (x < INT32_MIN || x > INT32_MAX) return -1;
            *(int32_t *)dst = (int32_t)x;
        } else {
            *(int64_t *)dst = x;
        }
        return 0;
    }
    case AXLE_DTYPE_UINT8: case AXLE_DTYPE_UINT16: case AXLE_DTYPE_UINT32: case AXLE_DTYPE_UINT64: {
        uint64_t x;
        if (json_to_uint64(d, t, &x) != 0)
            return -1;
        if (dt == AXLE_DTYPE_UINT8) {
            if (x > UINT8_MAX) return -1;
            *(uint8_t *)dst = (uint8_t)x;
        } else if (dt == AXLE_DTYPE_UINT16) {
            if (x > UINT16_MAX) return -1;
            *(uint16_t *)dst = (uint16_t)x;
        } else if (dt == AXLE_DTYPE_UINT32) {
            if (x > UINT32_MAX) return -1;
            *(uint32_t *)dst = (uint32_t)x;
        } else {
            *(uint64_t *)dst = x;
        }
        return 0;
    }
    default:
        return -1;
    }
}

static const unsigned char b64_rev[256] = {
#define R(c, v) [c] = v + 1
    R('A', 0), R('B', 1), R('C', 2), R('D', 3), R('E', 4), R('F', 5), R('G', 6), R('H', 7),
    R('I', 8), R('J', 9), R('K', 10), R('L', 11), R('M', 12), R('N', 13), R('O', 14),
    R('P', 15), R('Q', 16), R('R', 17), R('S', 18), R('T', 19), R('U', 20), R('V', 21),
    R('W', 22), R('X', 23), R('Y', 24), R('Z', 25), R('a', 26), R('b', 27), R('c', 28),
    R('d', 29), R('e', 30), R('f', 31), R('g', 32), R('h', 33), R('i', 34), R('j', 35),
    R('k', 36), R('l', 37), R('m', 38), R('n', 39), R('o', 40), R('p', 41), R('q', 42),
    R('r', 43), R('s', 44), R('t', 45), R('u', 46), R('v', 47), R('w', 48), R('x', 49),
    R('y', 50), R('z', 51), R('0', 52), R('1', 53), R('2', 54), R('3', 55), R('4', 56),
    R('5', 57), R('6', 58), R('7', 59), R('8', 60), R('9', 61), R('+', 62), R('/', 63),
    R('-', 62), R('_', 63),
#undef R
};

/* Decode base64 in place (s is NUL-terminated); returns length or -1. */
static long b64_decode_inplace(char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '=')
        n--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v = b64_rev[(unsigned char)s[i]];
        if (!v)
            return -1;
        acc = (acc << 6) | (v - 1);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            s[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    s[o] = 0;
    return (long)o;
}

/* One leaf into element i of input tensor t. BYTES leaves: strings, or
 * {"b64": "..."} objects (V1). */
static int put_leaf(struct job *j, const struct json_doc *d, uint32_t t, int idx, int64_t i,
                    struct axle_err *err)
{
    struct axle_tensor *x = &j->in[idx];
    char *base = j->data.data + j->in_off[idx];
    if (x->dtype == AXLE_DTYPE_STRING) {
        const struct json_tok *tk = json_tok(d, t);
        char *s;
        long n;
        if (tk->type == JSON_STRING) {
            s = (char *)json_str(d, t);
            n = (long)tk->size;
            if (j->v->model->cfg.v1_instances_b64 && (n = b64_decode_inplace(s)) < 0)
                return infer_bad(err, "invalid base64 in input '%s'", j->v->inputs[idx].name);
        } else if (tk->type == JSON_OBJECT && tk->size == 1 && json_streq(d, t + 1, "b64") &&
                   json_tok(d, t + 2)->type == JSON_STRING) {
            s = (char *)json_str(d, t + 2);
            if ((n = b64_decode_inplace(s)) < 0)
                return infer_bad(err, "invalid base64 in input '%s'", j->v->inputs[idx].name);
        } else {
            return infer_bad(err, "unexpected value for BYTES input '%s'", j->v->inputs[idx].name);
        }
        /* Elements are C strings in the engine: one with a NUL inside
         * cannot be passed on whole, and is never cut short silently. */
        if (strlen(s) != (size_t)n)
            return infer_bad(err, "invalid bytes element: embedded NUL in input '%s'",
                       j->v->inputs[idx].name);
        ((char **)(void *)base)[i] = s;
        return 0;
    }
    if (put_number(d, t, x->dtype, base + (size_t)i * axle_dtype_size(x->dtype)) != 0) {
        if (json_tok(d, t)->type == JSON_NUMBER || json_tok(d, t)->type == JSON_TRUE ||
            json_tok(d, t)->type == JSON_FALSE)
            return infer_bad(err, "value out of range for datatype: input '%s'", j->v->inputs[idx].name);
        return infer_bad(err, "unexpected value in data of input '%s'", j->v->inputs[idx].name);
    }
    return 0;
}

/* Count leaves of a data value (arrays are structure; {"b64"} is a leaf). */
int64_t infer_count_leaves(const struct json_doc *d, uint32_t t)
{
    const struct json_tok *tk = json_tok(d, t);
    if (tk->type != JSON_ARRAY)
        return 1;
    int64_t n = 0;
    for (uint32_t u = t + 1; u < tk->end;) {
        if (json_tok(d, u)->type == JSON_ARRAY) {
            u++;
            continue;
        }
        n++;
        u = json_next(d, u);
    }
    return n;
}

int infer_fill_leaves(struct job *j, const struct json_doc *d, uint32_t t, int idx,
                       int64_t start, struct axle_err *err)
{
    const struct json_tok *tk = json_tok(d, t);
    if (tk->type != JSON_ARRAY)
        return put_leaf(j, d, t, idx, start, err);
    int64_t i = start;
    for (uint32_t u = t + 1; u < tk->end;) {
        if (json_tok(d, u)->type == JSON_ARRAY) {
            u++;
            continue;
        }
        if (put_leaf(j, d, u, idx, i++, err) != 0)
            return -1;
        u = json_next(d, u);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* V2 request                                                          */

static int parse_shape(const struct json_doc *d, uint32_t t, int *rank, int64_t *dims,
                       const char *name, struct axle_err *err)
{
    if (json_tok(d, t)->type != JSON_ARRAY)
        return infer_bad(err, "invalid shape for input '%s'", name);
    if (json_tok(d, t)->size > AXLE_MAX_RANK)
        return infer_bad(err, "invalid shape for input '%s': rank above 8", name);
    *rank = 0;
    for (uint32_t e = t + 1; e < json_next(d, t); e = json_next(d, e)) {
        int64_t v;
        if (json_tok(d, e)->type != JSON_NUMBER || json_to_int64(d, e, &v) != 0 || v < 0)
            return infer_bad(err, "invalid shape for input '%s'", name);
        dims[(*rank)++] = v;
    }
    return 0;
}

static int param_bool(const struct json_doc *d, uint32_t params, const char *key, int *out)
{
    uint32_t t = params ? json_get(d, params, key) : 0;
    if (!t)
        return 0;
    uint8_t ty = json_tok(d, t)->type;
    if (ty != JSON_TRUE && ty != JSON_FALSE)
        return -1;
    *out = ty == JSON_TRUE;
    return 1;
}

static int param_int(const struct json_doc *d, uint32_t params, const char *key, int64_t *out)
{
    uint32_t t = params ? json_get(d, params, key) : 0;
    if (!t)
        return 0;
    if (json_tok(d, t)->type != JSON_NUMBER || json_to_int64(d, t, out) != 0)
        return -1;
    return 1;
}

/* Element bytes of a BYTES binary blob: count elements, checking every
 * length prefix against what remains (T8). */
static int bytes_blob_count(const unsigned char *p, size_t len, int64_t *count)
{
    size_t off = 0;
    int64_t n = 0;
    while (off < len) {
        if (len - off < 4)
            return -1;
        uint32_t l = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 |
                     (uint32_t)p[off + 3] << 24;
        off += 4;
        if (l > len - off)
            return -1;
        off += l;
        n++;
    }
    *count = n;
    return 0;
}

/* BYTES binary -> NUL-terminated copies in sc->aux. The element pointers
 * in data hold aux offsets + 1 until infer_fix_pointers(): a later input may
 * still grow (and move) aux. The blob was checked by bytes_blob_count. */
static int bytes_blob_unpack(struct job *j, int idx, const unsigned char *p, size_t len,
                             struct axle_err *err)
{
    /* Strings are copied with a terminator in place of each 4-byte length
     * prefix, so the copies never take more than the blob. */
    size_t need = len + 1;
    struct axle_buf *aux = &j->aux;
    if (!buf_reserve(aux, need)) {
        axle_err_set(err, AXLE_UNAVAILABLE, "memory budget exceeded");
        return -1;
    }
    char **ptrs = (char **)(void *)(j->data.data + j->in_off[idx]);
    size_t off = 0, o = aux->len;
    int64_t i = 0;
    while (off < len) {
        uint32_t l = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 |
                     (uint32_t)p[off + 3] << 24;
        off += 4;
        if (memchr(p + off, 0, l))
            return infer_bad(err, "invalid bytes element: embedded NUL in input '%s'",
                       j->v->inputs[idx].name);
        memcpy(aux->data + o, p + off, l);
        aux->data[o + l] = 0;
        ptrs[i++] = (char *)(uintptr_t)(o + 1);
        o += l + 1;
        off += l;
    }
    aux->len = o;
    j->in_aux[idx] = 1;
    return 0;
}

static int v2_decode(struct job *j, char *body, size_t len, struct axle_err *err)
{
    struct model_version *v = j->v;
    struct json_doc *d = &j->sc->doc;
    size_t json_len = len;
    if (j->r->inference_header) {
        /* 1-19 digits, no sign, within the body (T9). */
        const char *h = j->r->inference_header;
        uint64_t n = 0;
        int digits = 0;
        for (; *h >= '0' && *h <= '9' && digits < 20; h++, digits++)
            n = n * 10 + (uint64_t)(*h - '0');
        if (!digits || digits > 19 || *h || n > len)
            return infer_bad(err, "invalid inference header length%s", "");
        json_len = (size_t)n;
    }
    if (j->r->inference_header && json_len == 0) {
        /* Raw binary: the whole body is the single input, batch 1. */
        if (v->n_inputs != 1)
            return infer_bad(err, "raw binary request needs a model with exactly one input%s", "");
        struct io_desc *io = &v->inputs[0];
        int var = -1, n_var = 0;
        for (int k = 0; k < io->rank; k++)
            if (io->dims[k] < 0) {
                var = k;
                n_var++;
            }
        j->in[0].dtype = io->dtype;
        j->in[0].rank = io->rank;
        memcpy(j->in[0].dims, io->dims, sizeof(io->dims));
        if (io->dtype == AXLE_DTYPE_STRING) {
            int64_t cnt;
            if (bytes_blob_count((const unsigned char *)body, len, &cnt) != 0)
                return infer_bad(err, "invalid bytes element%s", "");
            for (int k = 0; k < io->rank; k++)
                j->in[0].dims[k] = io->dims[k] < 0 ? 1 : io->dims[k];
            if (cnt != 1)
                return infer_bad(err, "raw binary BYTES request must hold one element%s", "");
            if (infer_reserve_input(j, 0, 1, err) != 0)
                return -1;
            if (bytes_blob_unpack(j, 0, (const unsigned char *)body, len, err) != 0)
                return -1;
        } else {
            if (n_var > 1)
                return infer_bad(err, "raw binary request needs at most one variable dimension%s", "");
            size_t es = axle_dtype_size(io->dtype);
            int64_t fixed = 1;
            for (int k = 0; k < io->rank; k++)
                if (k != var)
                    fixed *= io->dims[k] < 0 ? 1 : io->dims[k];
            if (!es || !fixed || len % (es * (size_t)fixed) != 0)
                return infer_bad(err, "binary data size mismatch%s", "");
            if (var >= 0)
                j->in[0].dims[var] = (int64_t)(len / (es * (size_t)fixed));
            else if ((size_t)fixed * es != len)
                return infer_bad(err, "binary data size mismatch%s", "");
            j->in[0].data = body;
            j->in_off[0] = SIZE_MAX;
        }
        j->have_in[0] = 1;
        j->raw_mode = 1;
        j->binary_default = 1;
        for (int o = 0; o < v->n_outputs; o++) {
            j->sel[o].index = o;
            j->sel[o].binary = 1;
        }
        j->n_sel = v->n_outputs;
        return 0;
    }

    /* JSON header; body[json_len] is the first blob byte: keep it. */
    char saved = body[json_len];
    enum axle_status st = json_parse(d, body, json_len, err);
    body[json_len] = saved;
    if (st != AXLE_OK)
        return -1;
    if (json_tok(d, 0)->type != JSON_OBJECT)
        return infer_bad(err, "invalid request: expected a JSON object%s", "");
    uint32_t inputs = json_get(d, 0, "inputs");
    uint32_t outputs = json_get(d, 0, "outputs");
    uint32_t id = json_get(d, 0, "id");
    uint32_t params = json_get(d, 0, "parameters");
    for (uint32_t k = 1; k < json_next(d, 0); k = json_next(d, k + 1)) {
        const char *key = json_str(d, k);
        if (strcmp(key, "inputs") && strcmp(key, "outputs") && strcmp(key, "id") &&
            strcmp(key, "parameters"))
            return infer_bad(err, "invalid request: unknown field%s", "");
    }
    if (!inputs || json_tok(d, inputs)->type != JSON_ARRAY)
        return infer_bad(err, "invalid request: missing inputs%s", "");
    if (json_tok(d, inputs)->size > 64)
        return infer_bad(err, "too many inputs%s", "");
    if (id) {
        if (json_tok(d, id)->type != JSON_STRING)
            return infer_bad(err, "invalid request: id must be a string%s", "");
        if (json_tok(d, id)->size > MAX_ID_BYTES)
            return infer_bad(err, "request id too long%s", "");
        j->id = json_str(d, id);
        j->id_len = json_tok(d, id)->size;
    }
    if (params) {
        if (json_tok(d, params)->type != JSON_OBJECT)
            return infer_bad(err, "invalid request: parameters must be an object%s", "");
        if (param_bool(d, params, "binary_data_output", &j->binary_default) < 0)
            return infer_bad(err, "invalid parameter: binary_data_output%s", "");
        if (param_int(d, params, "timeout", &j->timeout_us) < 0 || j->timeout_us < 0)
            return infer_bad(err, "invalid parameter: timeout%s", "");
        if (param_int(d, params, "priority", &j->priority) < 0 || j->priority < 0)
            return infer_bad(err, "invalid parameter: priority%s", "");
    }

    /* Binary blobs follow the JSON, in input order. */
    size_t blob_off = json_len;
    j->batch = -1;
    for (uint32_t t = inputs + 1; t < json_next(d, inputs); t = json_next(d, t)) {
        if (json_tok(d, t)->type != JSON_OBJECT)
            return infer_bad(err, "invalid request: input must be an object%s", "");
        uint32_t tn = json_get(d, t, "name"), ts = json_get(d, t, "shape"),
                 tdt = json_get(d, t, "datatype"), tdata = json_get(d, t, "data"),
                 tp = json_get(d, t, "parameters");
        if (!tn || json_tok(d, tn)->type != JSON_STRING)
            return infer_bad(err, "invalid request: input without a name%s", "");
        const char *name = json_str(d, tn);
        int idx = infer_find_input(v, name);
        if (idx < 0)
            return infer_bad(err, "unknown input '%s'", json_tok(d, tn)->size > 64 ? "(long name)" : name);
        if (j->have_in[idx])
            return infer_bad(err, "duplicate input '%s'", name);
        if (!ts || !tdt || json_tok(d, tdt)->type != JSON_STRING)
            return infer_bad(err, "invalid request: input '%s' needs shape and datatype", name);
        enum axle_dtype dt = wire_dtype_parse(json_str(d, tdt));
        if (dt == AXLE_DTYPE_UNDEFINED)
            return infer_bad(err, "unknown datatype for input '%s'", name);
        if (dt != v->inputs[idx].dtype) {
            axle_err_set(err, AXLE_INVALID_ARGUMENT,
                         "unexpected datatype for input '%s': expected %s, got %s", name,
                         wire_dtype_name(v->inputs[idx].dtype), wire_dtype_name(dt));
            return -1;
        }
        int rank = 0;
        int64_t dims[AXLE_MAX_RANK];
        if (parse_shape(d, ts, &rank, dims, name, err) != 0)
            return -1;
        int64_t n = infer_check_shape(j, idx, rank, dims, err);
        if (n < 0)
            return -1;
        struct axle_tensor *x = &j->in[idx];
        x->dtype = dt;
        x->rank = rank;
        memcpy(x->dims, dims, sizeof(int64_t) * (size_t)rank);
        int64_t bsize = -1;
        if (tp) {
            if (json_tok(d, tp)->type != JSON_OBJECT)
                return infer_bad(err, "invalid parameters for input '%s'", name);
            if (param_int(d, tp, "binary_data_size", &bsize) < 0 || (tp && json_get(d, tp, "binary_data_size") && bsize < 0))
                return infer_bad(err, "invalid binary_data_size for input '%s'", name);
        }
        if (bsize >= 0) {
            if (tdata)
                return infer_bad(err, "input '%s' has both data and binary_data_size", name);
            if ((uint64_t)bsize > len - blob_off)
                return infer_bad(err, "binary data size mismatch: input '%s'", name);
            const unsigned char *p = (const unsigned char *)body + blob_off;
            if (dt == AXLE_DTYPE_STRING) {
                int64_t cnt;
                if (bytes_blob_count(p, (size_t)bsize, &cnt) != 0)
                    return infer_bad(err, "invalid bytes element: input '%s'", name);
                if (cnt != n)
                    return infer_bad(err, "data length does not match shape: input '%s'", name);
                if (infer_reserve_input(j, idx, n, err) != 0 ||
                    bytes_blob_unpack(j, idx, p, (size_t)bsize, err) != 0)
                    return -1;
            } else {
                size_t es = axle_dtype_size(dt);
                if ((uint64_t)bsize != (uint64_t)n * es)
                    return infer_bad(err, "binary data size mismatch: input '%s'", name);
                if (((uintptr_t)p % es) == 0) {
                    x->data = (void *)p;
                    j->in_off[idx] = SIZE_MAX;
                } else {
                    if (infer_reserve_input(j, idx, n, err) != 0)
                        return -1;
                    memcpy(j->data.data + j->in_off[idx], p, (size_t)bsize);
                }
            }
            blob_off += (size_t)bsize;
        } else {
            if (!tdata)
                return infer_bad(err, "invalid request: input '%s' has no data", name);
            if (dt == AXLE_DTYPE_FLOAT16 || dt == AXLE_DTYPE_BFLOAT16)
                return infer_bad(err, "FP16 and BF16 data must be sent in binary: input '%s'", name);
            int64_t have = infer_count_leaves(d, tdata);
            if (have != n)
                return infer_bad(err, "data length does not match shape: input '%s'", name);
            if (infer_reserve_input(j, idx, n, err) != 0)
                return -1;
            if (infer_fill_leaves(j, d, tdata, idx, 0, err) != 0)
                return -1;
            if (j->log_this && dt != AXLE_DTYPE_STRING && dt != AXLE_DTYPE_BOOL) {
                j->in_txt |= 1ull << idx;
                j->in_tok[idx] = tdata;
            }
        }
        j->have_in[idx] = 1;
    }
    if (blob_off != len)
        return infer_bad(err, "binary data size mismatch%s", "");
    for (int i = 0; i < v->n_inputs; i++)
        if (!j->have_in[i])
            return infer_bad(err, "missing input '%s'", v->inputs[i].name);

    /* Outputs. */
    if (outputs) {
        if (json_tok(d, outputs)->type != JSON_ARRAY)
            return infer_bad(err, "invalid request: outputs must be a list%s", "");
        if (json_tok(d, outputs)->size > 64)
            return infer_bad(err, "too many outputs%s", "");
        for (uint32_t t = outputs + 1; t < json_next(d, outputs); t = json_next(d, t)) {
            uint32_t tn = json_tok(d, t)->type == JSON_OBJECT ? json_get(d, t, "name") : 0;
            if (!tn || json_tok(d, tn)->type != JSON_STRING)
                return infer_bad(err, "invalid request: output without a name%s", "");
            const char *name = json_str(d, tn);
            int idx = find_output(v, name);
            if (idx < 0)
                return infer_bad(err, "unknown output '%s'", json_tok(d, tn)->size > 64 ? "(long name)" : name);
            for (int k = 0; k < j->n_sel; k++)
                if (j->sel[k].index == idx)
                    return infer_bad(err, "duplicate output '%s'", name);
            struct out_sel *s = &j->sel[j->n_sel++];
            s->index = idx;
            s->binary = 0;
            s->classify = 0;
            uint32_t tp = json_get(d, t, "parameters");
            if (tp) {
                if (json_tok(d, tp)->type != JSON_OBJECT ||
                    param_bool(d, tp, "binary_data", &s->binary) < 0)
                    return infer_bad(err, "invalid parameters for output '%s'", name);
                int r = param_int(d, tp, "classification", &s->classify);
                if (r < 0)
                    return infer_bad(err, "invalid classification for output '%s'", name);
                if (r > 0 && s->classify < 1) {
                    axle_err_set(err, AXLE_OUT_OF_RANGE,
                                 "classification count must be at least 1: output '%s'", name);
                    return -1;
                }
            }
        }
    } else {
        for (int o = 0; o < v->n_outputs; o++) {
            j->sel[o].index = o;
            j->sel[o].binary = j->binary_default;
            j->sel[o].classify = 0;
        }
        j->n_sel = v->n_outputs;
    }
    return 0;
}

/* Point the tensors (and BYTES elements) at their scratch now that scratch
 * no longer moves. */
void infer_fix_pointers(struct job *j)
{
    for (int i = 0; i < j->v->n_inputs; i++) {
        if (!j->have_in[i] || j->in_off[i] == SIZE_MAX)
            continue;
        j->in[i].data = j->data.data + j->in_off[i];
        if (j->in_aux[i]) {
            char **ptrs = j->in[i].data;
            int64_t n = infer_numel(&j->in[i]);
            for (int64_t k = 0; k < n; k++)
                ptrs[k] = j->aux.data + ((uintptr_t)ptrs[k] - 1);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */

void infer_put_element(struct axle_buf *b, enum axle_dtype dt, const void *base, int64_t i)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: json_put_float(b, ((const float *)base)[i]); break;
    case AXLE_DTYPE_FLOAT64: json_put_double(b, ((const double *)base)[i]); break;
    case AXLE_DTYPE_INT8: json_put_int(b, ((const int8_t *)base)[i]); break;
    case AXLE_DTYPE_INT16: json_put_int(b, ((const int16_t *)base)[i]); break;
    case AXLE_DTYPE_INT32: json_put_int(b, ((const int32_t *)base)[i]); break;
    case AXLE_DTYPE_INT64: json_put_int(b, ((const int64_t *)base)[i]); break;
    case AXLE_DTYPE_UINT8: json_put_uint(b, ((const uint8_t *)base)[i]); break;
    case AXLE_DTYPE_UINT16: json_put_uint(b, ((const uint16_t *)base)[i]); break;
    case AXLE_DTYPE_UINT32: json_put_uint(b, ((const uint32_t *)base)[i]); break;
    case AXLE_DTYPE_UINT64: json_put_uint(b, ((const uint64_t *)base)[i]); break;
    case AXLE_DTYPE_BOOL: buf_puts(b, ((const uint8_t *)base)[i] ? "true" : "false"); break;
    case AXLE_DTYPE_STRING: {
        const char *s = ((char *const *)base)[i];
        json_put_str(b, s ? s : "", s ? strlen(s) : 0);
        break;
    }
    default: buf_puts(b, "null"); break;
    }
}

int64_t infer_numel(const struct axle_tensor *t)
{
    int64_t n = 1;
    for (int k = 0; k < t->rank; k++)
        n *= t->dims[k];
    return n;
}

static void put_shape(struct axle_buf *b, int rank, const int64_t *dims)
{
    buf_putc(b, '[');
    for (int k = 0; k < rank; k++) {
        if (k)
            buf_putc(b, ',');
        json_put_int(b, dims[k]);
    }
    buf_putc(b, ']');
}

static double element_as_double(enum axle_dtype dt, const void *base, int64_t i)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: return ((const float *)base)[i];
    case AXLE_DTYPE_FLOAT64: return ((const double *)base)[i];
    case AXLE_DTYPE_INT8: return ((const int8_t *)base)[i];
    case AXLE_DTYPE_INT16: return ((const int16_t *)base)[i];
    case AXLE_DTYPE_INT32: return ((const int32_t *)base)[i];
    case AXLE_DTYPE_INT64: return (double)((const int64_t *)base)[i];
    case AXLE_DTYPE_UINT8: return ((const uint8_t *)base)[i];
    case AXLE_DTYPE_UINT16: return ((const uint16_t *)base)[i];
    case AXLE_DTYPE_UINT32: return ((const uint32_t *)base)[i];
    case AXLE_DTYPE_UINT64: return (double)((const uint64_t *)base)[i];
    case AXLE_DTYPE_BOOL: return ((const uint8_t *)base)[i];
    default: return 0;
    }
}

/* Classification: per batch row (or the whole tensor when unbatched) the
 * top-k "value:index" strings, as Triton's extension returns them. */
static int classify_strings(struct axle_buf *aux, const struct axle_tensor *t, int batched,
                            int64_t k, int *rank, int64_t *dims, size_t *start, int64_t *count)
{
    int64_t rows = batched && t->rank > 0 ? t->dims[0] : 1;
    int64_t n = infer_numel(t);
    int64_t per = rows ? n / rows : 0;
    if (k > per)
        k = per;
    *start = aux->len;
    *count = rows * k;
    /* Partial selection sort per row: k is small. */
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(per ? per : 1));
    if (!idx)
        return -1;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t e = 0; e < per; e++)
            idx[e] = e;
        for (int64_t c = 0; c < k; c++) {
            int64_t bi = c;
            for (int64_t e = c + 1; e < per; e++)
                if (element_as_double(t->dtype, t->data, r * per + idx[e]) >
                    element_as_double(t->dtype, t->data, r * per + idx[bi]))
                    bi = e;
            int64_t tmp = idx[c];
            idx[c] = idx[bi];
            idx[bi] = tmp;
            char s[64];
            int len = snprintf(s, sizeof(s), "%.6g:%lld",
                               element_as_double(t->dtype, t->data, r * per + idx[c]),
                               (long long)idx[c]);
            buf_put(aux, s, (size_t)len + 1);
        }
    }
    free(idx);
    if (batched) {
        *rank = 2;
        dims[0] = rows;
        dims[1] = k;
    } else {
        *rank = 1;
        dims[0] = k;
    }
    return aux->oom ? -1 : 0;
}

static void put_bytes_blob(struct axle_buf *b, const struct axle_tensor *t)
{
    int64_t n = infer_numel(t);
    for (int64_t i = 0; i < n; i++) {
        const char *s = ((char *const *)t->data)[i];
        uint32_t l = s ? (uint32_t)strlen(s) : 0;
        unsigned char hdr[4] = {(unsigned char)l, (unsigned char)(l >> 8), (unsigned char)(l >> 16),
                                (unsigned char)(l >> 24)};
        buf_put(b, hdr, 4);
        buf_put(b, s, l);
    }
}

/* ------------------------------------------------------------------ */
/* Jobs                                                                */

/* Statistics block of the calling I/O thread. */
static struct version_stats *my_stats(struct model_version *v)
{
    return &v->stats[(unsigned)serve_thread_index() % (unsigned)v->n_sessions];
}

/* A failed request: counted by reason, then answered. */
void job_fail(struct job *j, struct http_req *r, enum axle_status st, const char *msg)
{
    stats_fail(my_stats(j->v), st, http_now_ns() - j->t0);
    if (j->log_this)
        infer_log_fail(j, r, st, msg);
    else
        respond_status(r, st, msg);
}

/* Jobs are kept per I/O thread with their buffers, so that a steady stream
 * of requests allocates nothing. A job is created, answered and freed on the
 * same I/O thread (the scheduler only borrows it). */
#define JOB_CACHE 256
#define JOB_KEEP_BYTES ((size_t)4 << 20)

static __thread struct job *tl_free_jobs;
static __thread int tl_n_free;
static pthread_key_t job_key;
static pthread_once_t job_once = PTHREAD_ONCE_INIT;

static void job_free(struct job *j)
{
    buf_free(&j->data);
    buf_free(&j->aux);
    buf_free(&j->it.outbuf);
    free(j);
}

/* Thread exit: the cache goes with its thread. */
static void job_cache_free(void *p)
{
    for (struct job *j = p, *next; j; j = next) {
        next = j->next_free;
        job_free(j);
    }
    tl_free_jobs = NULL;
    tl_n_free = 0;
}

static void job_key_init(void)
{
    pthread_key_create(&job_key, job_cache_free);
}

struct job *job_get(void)
{
    struct job *j = tl_free_jobs;
    if (j) {
        tl_free_jobs = j->next_free;
        tl_n_free--;
        pthread_setspecific(job_key, tl_free_jobs);
        return j;
    }
    j = axle_try_calloc(1, sizeof(*j));
    if (j) {
        buf_init(&j->data);
        buf_init(&j->aux);
        buf_init(&j->it.outbuf);
    }
    return j;
}

void job_put(struct job *j)
{
    if (tl_n_free >= JOB_CACHE) {
        job_free(j);
        return;
    }
    if (j->data.cap > JOB_KEEP_BYTES)
        buf_free(&j->data);
    if (j->aux.cap > JOB_KEEP_BYTES)
        buf_free(&j->aux);
    if (j->it.outbuf.cap > JOB_KEEP_BYTES)
        buf_free(&j->it.outbuf);
    if (!tl_free_jobs) {
        pthread_once(&job_once, job_key_init);
        pthread_setspecific(job_key, j);
    }
    j->next_free = tl_free_jobs;
    tl_free_jobs = j;
    tl_n_free++;
    pthread_setspecific(job_key, j);
}

void job_init(struct job *j, struct server *s, struct http_req *r, struct model_version *v)
{
    /* The tensors and selections are written before they are read; only
     * the per-input flags and the scalars need clearing (the whole struct
     * is several KiB). */
    memset(j->have_in, 0, sizeof(j->have_in[0]) * (size_t)v->n_inputs);
    memset(j->in_aux, 0, sizeof(j->in_aux[0]) * (size_t)v->n_inputs);
    memset(j->in, 0, sizeof(j->in[0]) * (size_t)v->n_inputs);
    j->n_sel = 0;
    j->id = NULL;
    j->id_len = 0;
    j->binary_default = 0;
    j->timeout_us = 0;
    j->priority = 0;
    j->raw_mode = 0;
    j->out_txt = 0;
    j->in_txt = 0;
    j->srv = s;
    j->r = r;
    j->v = v;
    j->t0 = r->t_start_ns;
    j->sc = scratch_get();
    buf_reset(&j->sc->out);
    buf_reset(&j->data);
    buf_reset(&j->aux);
    j->batch = -1;
    infer_log_sample(j);
}

/* Statistics of a request that ran inline (the run was its own execution). */
void job_stats_inline(struct job *j, uint64_t t_in, uint64_t t_run, uint64_t t_end)
{
    struct version_stats *st = my_stats(j->v);
    uint64_t t0 = j->t0;
    int64_t b = j->batch > 0 ? j->batch : 1;
    stats_add(&st->success, t_end - t0);
    stats_add(&st->queue, 0);
    stats_add(&st->compute_input, t_in - t0);
    stats_add(&st->compute_infer, t_run - t_in);
    stats_add(&st->compute_output, t_end - t_run);
    stats_observe(j->v, st, H_REQUEST, t_end - t0);
    stats_observe(j->v, st, H_QUEUE, 0);
    stats_observe(j->v, st, H_INPUT, t_in - t0);
    stats_observe(j->v, st, H_INFER, t_run - t_in);
    stats_observe(j->v, st, H_OUTPUT, t_end - t_run);
    stats_observe(j->v, st, H_BATCH, (uint64_t)b);
    stats_bump(&st->inference_count, (uint64_t)b);
    stats_bump(&st->execution_count, 1);
    if (b < REPO_MAX_BATCH_STATS) {
        stats_add(&st->batch_input[b], t_in - t0);
        stats_add(&st->batch[b], t_run - t_in);
        stats_add(&st->batch_output[b], t_end - t_run);
    }
    stats_touch(st);
}

/* Statistics of a request that went through the scheduler (the executor
 * counted the execution). */
void job_stats_sched(struct job *j, uint64_t t_end)
{
    struct version_stats *st = my_stats(j->v);
    const struct sched_item *it = &j->it;
    stats_add(&st->success, t_end - j->t0);
    stats_add(&st->queue, it->t_start_ns - it->t_queued_ns);
    stats_add(&st->compute_input, it->t_queued_ns - j->t0);
    stats_add(&st->compute_infer, it->t_run_ns);
    stats_add(&st->compute_output, t_end - it->t_end_ns);
    stats_observe(j->v, st, H_REQUEST, t_end - j->t0);
    stats_observe(j->v, st, H_QUEUE, it->t_start_ns - it->t_queued_ns);
    stats_observe(j->v, st, H_INPUT, it->t_queued_ns - j->t0);
    stats_observe(j->v, st, H_INFER, it->t_run_ns);
    stats_observe(j->v, st, H_OUTPUT, t_end - it->t_end_ns);
}

static void encode_v2(struct job *j, struct http_req *r, const struct axle_tensor *out,
                      uint64_t t_in, uint64_t t_run);

static void encode(struct job *j, struct http_req *r, const struct axle_tensor *out,
                   uint64_t t_in, uint64_t t_run)
{
    if (j->kind == JOB_V1)
        encode_v1(j, r, out, t_in, t_run);
    else
        encode_v2(j, r, out, t_in, t_run);
}

/* Run on the I/O thread's own session and answer; t_in: the clock read at
 * dispatch, a few checks before the run. */
static void run_inline(struct job *j, uint64_t t_in)
{
    struct axle_err err;
    struct model_version *v = j->v;
    struct axle_session *s = version_session(v, serve_thread_index(), &err);
    if (!s) {
        job_fail(j, j->r, err.code, err.msg);
        return;
    }
    struct axle_tensor out[REPO_MAX_IO];
    axle_session_set_deadline(s, j->it.deadline_ns);
    enum axle_status st = axle_session_run(s, v->n_inputs, j->in, v->n_outputs, out, &err);
    uint64_t t_run = http_now_ns();
    if (st != AXLE_OK) {
        if (st == AXLE_DEADLINE_EXCEEDED)
            axle_err_set(&err, st, "deadline exceeded");
        else if (st != AXLE_INVALID_ARGUMENT)
            axle_err_set(&err, AXLE_INTERNAL, "inference failed");
        job_fail(j, j->r, err.code, err.msg);
        return;
    }
    encode(j, j->r, out, t_in, t_run);
}

/* Executor thread: hand the finished job back to its I/O thread. */
static void job_done(struct sched_item *it)
{
    struct job *j = it->owner;
    http_deferred_resume(j->d);
}

/* I/O thread: the scheduler is done with the job (r NULL: the client went
 * away meanwhile). */
static void job_resume(void *arg, struct http_req *r)
{
    struct job *j = arg;
    struct model_version *v = j->v;
    if (r) {
        j->r = r;
        j->sc = scratch_get();
        buf_reset(&j->sc->out);
        if (j->it.status != AXLE_OK) {
            job_fail(j, r, j->it.status, j->it.msg);
        } else if (http_now_ns() >= j->it.deadline_ns) {
            job_fail(j, r, AXLE_DEADLINE_EXCEEDED, "deadline exceeded");
        } else {
            encode(j, r, j->it.out, 0, 0);
        }
    } else {
        stats_fail(my_stats(v), AXLE_CANCELLED, http_now_ns() - j->t0);
    }
    version_release(v);
    job_put(j);
}

static int job_cancel(void *arg)
{
    struct job *j = arg;
    if (!sched_cancel(j->v->sched, &j->it))
        return 0;
    stats_fail(my_stats(j->v), AXLE_CANCELLED, http_now_ns() - j->t0);
    version_release(j->v);
    job_put(j);
    return 1;
}

/* Decoded: run inline when the model takes microseconds, else queue it
 * for the version's scheduler and answer when it is done. Consumes j. */
void job_dispatch(struct job *j)
{
    struct model_version *v = j->v;
    struct http_req *r = j->r;
    struct axle_err err;
    uint64_t now = http_now_ns();
    uint64_t limit = j->srv->request_timeout_ns ? j->srv->request_timeout_ns
                                                 : (uint64_t)30 * 1000000000u;
    if (j->timeout_us > 0 && (uint64_t)j->timeout_us * 1000 < limit)
        limit = (uint64_t)j->timeout_us * 1000;
    uint64_t deadline = j->t0 + limit;
    j->it.deadline_ns = deadline; /* also bounds an inline run (Loop) */
    if (now >= deadline) {
        job_fail(j, r, AXLE_DEADLINE_EXCEEDED, "deadline exceeded");
        job_put(j);
        return;
    }
    /* Rows along dimension 0, when every input agrees on it. */
    int64_t rows = 1;
    int solo = 0;
    if (v->max_batch_size > 0) {
        rows = j->in[0].rank > 0 ? j->in[0].dims[0] : 1;
        for (int i = 0; i < v->n_inputs; i++)
            if (j->in[i].rank < 1 || j->in[i].dims[0] != rows)
                solo = 1;
        if (solo)
            rows = 1;
    }
    if (v->inline_max_ns && v->run_ns && v->run_ns * (uint64_t)(rows > 0 ? rows : 1) <=
        v->inline_max_ns) {
        run_inline(j, now);
        job_put(j);
        return;
    }
    struct sched_item *it = &j->it;
    j->in_txt = 0; /* the tokens will be gone when the answer is encoded */
    it->n_in = v->n_inputs;
    it->in = j->in;
    it->batch = rows;
    it->solo = solo;
    it->priority = (int)(j->priority > SCHED_MAX_LEVELS ? SCHED_MAX_LEVELS : j->priority);
    it->t_arrival_ns = j->t0;
    it->deadline_ns = deadline;
    it->want = 0;
    if (j->kind == JOB_V1) {
        it->want = ~(uint64_t)0;
    } else {
        for (int k = 0; k < j->n_sel; k++)
            it->want |= (uint64_t)1 << j->sel[k].index;
    }
    it->done = job_done;
    it->owner = j;
    j->d = http_defer_call(r, job_resume, job_cancel, j);
    if (!j->d) {
        /* Detached connection (fuzzing): no loop to come back to. */
        run_inline(j, now);
        job_put(j);
        return;
    }
    atomic_fetch_add(&v->refs, 1);
    if (sched_submit(v->sched, it, &err) != AXLE_OK) {
        http_undefer(j->d);
        version_release(v);
        job_fail(j, r, err.code, err.msg);
        job_put(j);
    }
}

void serve_v2_infer(struct server *s, struct http_req *r, struct model_version *v)
{
    struct axle_err err;
    struct job *j = job_get();
    if (!j) {
        respond_status(r, AXLE_UNAVAILABLE, "memory budget exceeded");
        return;
    }
    job_init(j, s, r, v);
    j->kind = JOB_V2;
    if (v2_decode(j, r->body, r->body_len, &err) != 0) {
        job_fail(j, r, err.code, err.msg);
        job_put(j);
        return;
    }
    infer_fix_pointers(j);
    job_dispatch(j);
}

/* The V2 answer from the outputs (session memory or the job's copies);
 * t_in/t_run are the inline run's times (0 when scheduled). */
static void encode_v2(struct job *j, struct http_req *r, const struct axle_tensor *out,
                      uint64_t t_in, uint64_t t_run)
{
    struct model_version *v = j->v;
    /* Response JSON. BYTES and classification blobs are staged in a buffer
     * of their own: sc->aux still holds the input strings, which BYTES
     * outputs may point at (Identity), and must not move or be overwritten
     * while they are read. */
    struct axle_buf *b = &j->sc->out;
    struct axle_buf staging;
    buf_init(&staging);
    struct axle_buf *aux = &staging;
    struct http_iov iov[1 + REPO_MAX_IO];
    int n_iov = 1;
    size_t blob_start[REPO_MAX_IO], blob_len[REPO_MAX_IO];
    int any_binary = 0;
    infer_ensure_id(j);
    buf_puts(b, "{\"model_name\":");
    json_put_plain(b, v->model->name, strlen(v->model->name)); /* repo_valid_model_name */
    buf_puts(b, ",\"model_version\":\"");
    buf_puts(b, v->version_str);
    buf_puts(b, "\"");
    if (j->id) {
        buf_puts(b, ",\"id\":");
        if (j->id == j->uuid)
            json_put_plain(b, j->id, j->id_len);
        else
            json_put_str(b, j->id, j->id_len);
    }
    buf_puts(b, ",\"outputs\":[");
    for (int k = 0; k < j->n_sel; k++) {
        struct out_sel *sel = &j->sel[k];
        const struct axle_tensor *t = &out[sel->index];
        enum axle_dtype dt = t->dtype;
        int rank = t->rank;
        int64_t dims[AXLE_MAX_RANK];
        memcpy(dims, t->dims, sizeof(dims));
        size_t cstart = 0;
        int64_t ccount = 0;
        if (sel->classify) {
            if (classify_strings(aux, t, v->max_batch_size > 0, sel->classify, &rank, dims,
                                 &cstart, &ccount) != 0) {
                buf_free(&staging);
                job_fail(j, r, AXLE_UNAVAILABLE, "memory budget exceeded");
                return;
            }
            dt = AXLE_DTYPE_STRING;
        }
        if (!sel->binary && (dt == AXLE_DTYPE_FLOAT16 || dt == AXLE_DTYPE_BFLOAT16)) {
            char msg[160];
            snprintf(msg, sizeof(msg), "FP16 and BF16 outputs must be requested in binary: output '%s'",
                     v->outputs[sel->index].name);
            buf_free(&staging);
            job_fail(j, r, AXLE_INVALID_ARGUMENT, msg);
            return;
        }
        if (k)
            buf_putc(b, ',');
        buf_puts(b, "{\"name\":");
        json_put_cstr(b, v->outputs[sel->index].name);
        buf_puts(b, ",\"datatype\":\"");
        buf_puts(b, wire_dtype_name(dt));
        buf_puts(b, "\",\"shape\":");
        put_shape(b, rank, dims);
        if (sel->binary) {
            any_binary = 1;
            size_t start = aux->len;
            if (sel->classify) {
                /* strings live at cstart..: length-prefix them */
                struct axle_buf tmp;
                buf_init(&tmp);
                const char *p = ccount ? aux->data + cstart : "";
                for (int64_t e = 0; e < ccount; e++) {
                    uint32_t l = (uint32_t)strlen(p);
                    unsigned char h[4] = {(unsigned char)l, (unsigned char)(l >> 8),
                                          (unsigned char)(l >> 16), (unsigned char)(l >> 24)};
                    buf_put(&tmp, h, 4);
                    buf_put(&tmp, p, l);
                    p += l + 1;
                }
                start = aux->len;
                buf_put(aux, tmp.data, tmp.len);
                buf_free(&tmp);
                blob_start[n_iov - 1] = start;
                blob_len[n_iov - 1] = aux->len - start;
            } else if (dt == AXLE_DTYPE_STRING) {
                put_bytes_blob(aux, t);
                blob_start[n_iov - 1] = start;
                blob_len[n_iov - 1] = aux->len - start;
            } else {
                /* Numeric outputs go straight from the session's memory. */
                blob_start[n_iov - 1] = SIZE_MAX;
                iov[n_iov].p = t->data;
                blob_len[n_iov - 1] = (size_t)infer_numel(t) * axle_dtype_size(dt);
            }
            iov[n_iov].len = blob_len[n_iov - 1];
            n_iov++;
            buf_puts(b, ",\"parameters\":{\"binary_data_size\":");
            json_put_uint(b, blob_len[n_iov - 2]);
            buf_puts(b, "}}");
        } else {
            buf_puts(b, ",\"data\":[");
            if (sel->classify) {
                const char *p = ccount ? aux->data + cstart : "";
                for (int64_t e = 0; e < ccount; e++) {
                    if (e)
                        buf_putc(b, ',');
                    size_t l = strlen(p);
                    json_put_str(b, p, l);
                    p += l + 1;
                }
            } else {
                int64_t n = infer_numel(t);
                size_t start = b->len;
                for (int64_t e = 0; e < n; e++) {
                    if (e)
                        buf_putc(b, ',');
                    infer_put_element(b, dt, t->data, e);
                }
                j->out_txt |= 1ull << sel->index;
                j->out_txt_off[sel->index] = start;
                j->out_txt_len[sel->index] = b->len - start;
            }
            buf_puts(b, "]}");
        }
    }
    buf_puts(b, "]}");
    if (b->oom || aux->oom) {
        buf_free(&staging);
        job_fail(j, r, AXLE_UNAVAILABLE, "memory budget exceeded");
        return;
    }
    iov[0].p = b->data;
    iov[0].len = b->len;
    for (int k = 1; k < n_iov; k++)
        if (blob_start[k - 1] != SIZE_MAX)
            iov[k].p = iov[k].len ? aux->data + blob_start[k - 1] : "";
    uint64_t t_end = http_now_ns();
    j->t_end = t_end;
    if (t_in)
        job_stats_inline(j, t_in, t_run, t_end);
    else
        job_stats_sched(j, t_end);
    if (any_binary) {
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "Inference-Header-Content-Length: %zu\r\n", b->len);
        infer_finish(j, r, out, "application/octet-stream", hdr, iov, n_iov);
    } else {
        infer_finish(j, r, out, "application/json", NULL, iov, 1);
    }
    buf_free(&staging);
}

