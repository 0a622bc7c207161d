/*
 * infer_v1.c - the KServe V1 / TF Serving front end: :predict with
 * "instances" (row format) or "inputs" (columnar format), answered with
 * "predictions" or "outputs". Decoding follows the same rules as V2
 * (infer.c): nothing the client declares is allocated before the values
 * are counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/infer.h"

/* ------------------------------------------------------------------ */
/* KServe V1 / TF Serving                                              */

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* Continuation bytes k, smallest code point for that length. */
        size_t k = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 0;
        if (k == 0)
            return 0;
        unsigned min = k == 1 ? 0x80 : k == 2 ? 0x800 : 0x10000;
        c &= 0x3fu >> k;
        if (n - i <= k)
            return 0;
        for (size_t q = 1; q <= k; q++) {
            if ((s[i + q] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + q] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

static void put_b64(struct axle_buf *b, const unsigned char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    buf_puts(b, "{\"b64\":\"");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63],
                     i + 1 < n ? tab[(v >> 6) & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
        buf_put(b, q, 4);
    }
    buf_puts(b, "\"}");
}

/* One V1 response element: a BYTES element whose output name ends in
 * "_bytes", or which is not valid UTF-8, goes out as {"b64": ...} (§9). */
static void put_v1_element(struct axle_buf *b, const struct axle_tensor *t, int64_t i, int b64)
{
    if (t->dtype != AXLE_DTYPE_STRING) {
        infer_put_element(b, t->dtype, t->data, i);
        return;
    }
    const char *s = ((char *const *)t->data)[i];
    size_t n = s ? strlen(s) : 0;
    if (b64 || !utf8_valid((const unsigned char *)s, n))
        put_b64(b, (const unsigned char *)s, n);
    else
        json_put_str(b, s ? s : "", n);
}

static int ends_with_bytes(const char *name)
{
    size_t n = strlen(name);
    return n >= 6 && strcmp(name + n - 6, "_bytes") == 0;
}

/* Shape of a nested JSON value: rectangular arrays only. Leaves are
 * scalars, strings or {"b64":..} objects. depth is bounded by the JSON
 * parser's nesting cap. Returns 0 or -1 (ragged). */
static int json_shape(const struct json_doc *d, uint32_t t, int *rank, int64_t *dims, int depth)
{
    const struct json_tok *tk = json_tok(d, t);
    if (tk->type != JSON_ARRAY) {
        *rank = 0;
        return 0;
    }
    if (depth >= AXLE_MAX_RANK)
        return -1;
    int64_t n = tk->size;
    int sub_rank = 0;
    int64_t sub[AXLE_MAX_RANK];
    int first = 1;
    for (uint32_t u = t + 1; u < tk->end; u = json_next(d, u)) {
        int r;
        int64_t dd[AXLE_MAX_RANK];
        if (json_shape(d, u, &r, dd, depth + 1) != 0)
            return -1;
        if (first) {
            sub_rank = r;
            memcpy(sub, dd, sizeof(int64_t) * (size_t)r);
            first = 0;
        } else if (r != sub_rank || memcmp(sub, dd, sizeof(int64_t) * (size_t)r) != 0) {
            return -1;
        }
    }
    if (sub_rank + 1 > AXLE_MAX_RANK)
        return -1;
    dims[0] = n;
    memcpy(dims + 1, sub, sizeof(int64_t) * (size_t)sub_rank);
    *rank = sub_rank + 1;
    return 0;
}

/* Set up input idx from an explicit shape with leaves collected from a
 * list of JSON values (rows). */
static int v1_fill_input(struct job *j, int idx, int rank, const int64_t *dims,
                         const struct json_doc *d, const uint32_t *vals, int64_t n_vals,
                         struct axle_err *err)
{
    struct io_desc *io = &j->v->inputs[idx];
    int64_t n = infer_check_shape(j, idx, rank, dims, err);
    if (n < 0)
        return -1;
    struct axle_tensor *x = &j->in[idx];
    x->dtype = io->dtype;
    x->rank = rank;
    memcpy(x->dims, dims, sizeof(int64_t) * (size_t)rank);
    if (io->dtype == AXLE_DTYPE_FLOAT16 || io->dtype == AXLE_DTYPE_BFLOAT16)
        return infer_bad(err, "FP16 and BF16 inputs are not supported in JSON: input '%s'", io->name);
    int64_t have = 0;
    for (int64_t i = 0; i < n_vals; i++)
        have += infer_count_leaves(d, vals[i]);
    if (have != n)
        return infer_bad(err, "data length does not match shape: input '%s'", io->name);
    if (infer_reserve_input(j, idx, n, err) != 0)
        return -1;
    int64_t at = 0;
    for (int64_t i = 0; i < n_vals; i++) {
        if (infer_fill_leaves(j, d, vals[i], idx, at, err) != 0)
            return -1;
        at += infer_count_leaves(d, vals[i]);
    }
    j->have_in[idx] = 1;
    return 0;
}

/* Emit value of output t for batch row `row` (row < 0: the whole tensor)
 * as nested JSON. */
static void put_nested(struct axle_buf *b, const struct axle_tensor *t, int64_t row, int b64)
{
    int rank = t->rank;
    const int64_t *dims = t->dims;
    int64_t start = 0, n = infer_numel(t);
    int first_dim = 0;
    if (row >= 0) {
        int64_t per = t->dims[0] ? n / t->dims[0] : 0;
        start = row * per;
        n = per;
        first_dim = 1;
    }
    int inner = rank - first_dim;
    if (inner == 0) {
        put_v1_element(b, t, start, b64);
        return;
    }
    /* Walk elements, opening and closing brackets by the index odometer. */
    int64_t idx[AXLE_MAX_RANK] = {0};
    for (int k = 0; k < inner; k++)
        buf_putc(b, '[');
    for (int64_t e = 0; e < n; e++) {
        if (e) {
            /* increment odometer and count closings */
            int k = inner - 1;
            int closes = 0;
            while (k >= 0) {
                idx[k]++;
                if (idx[k] < dims[first_dim + k])
                    break;
                idx[k] = 0;
                closes++;
                k--;
            }
            for (int c = 0; c < closes; c++)
                buf_putc(b, ']');
            buf_putc(b, ',');
            for (int c = 0; c < closes; c++)
                buf_putc(b, '[');
        }
        put_v1_element(b, t, start + e, b64);
    }
    for (int k = 0; k < inner; k++)
        buf_putc(b, ']');
}

void serve_v1_predict(struct server *s, struct http_req *r, struct model_version *v)
{
    struct axle_err err;
    struct job *jp = job_get();
    if (!jp) {
        respond_status(r, AXLE_UNAVAILABLE, "memory budget exceeded");
        return;
    }
    struct job *j = jp;
    job_init(j, s, r, v);
    j->kind = JOB_V1;
    struct json_doc *d = &j->sc->doc;
    /* V1 bodies have no id field: a client may name its request with
     * X-Request-Id, and the id (its own or a server-made one) comes back in
     * the same header, so V1 predictions can receive feedback too. */
    const char *rid = http_req_header(r, "x-request-id");
    if (rid) {
        size_t n = strlen(rid);
        if (n == 0 || n > MAX_ID_BYTES) {
            infer_bad(&err, "invalid X-Request-Id header: 1 to 128 characters%s", "");
            goto fail;
        }
        for (size_t k = 0; k < n; k++)
            if (rid[k] <= 0x20 || rid[k] >= 0x7f || rid[k] == '"' || rid[k] == '\\') {
                infer_bad(&err, "invalid X-Request-Id header: visible ASCII only%s", "");
                goto fail;
            }
        j->id = rid;
        j->id_len = n;
    }
    if (json_parse(d, r->body, r->body_len, &err) != AXLE_OK)
        goto fail;
    int rc = -1;
    uint32_t inst = 0, cols = 0;
    if (json_tok(d, 0)->type == JSON_OBJECT) {
        inst = json_get(d, 0, "instances");
        cols = json_get(d, 0, "inputs");
        uint32_t sig = json_get(d, 0, "signature_name");
        if (sig && (json_tok(d, sig)->type != JSON_STRING ||
                    (strcmp(json_str(d, sig), "serving_default") != 0 &&
                     strcmp(json_str(d, sig), "") != 0))) {
            infer_bad(&err, "unknown signature_name%s", "");
            goto fail;
        }
        for (uint32_t k = 1; k < json_next(d, 0); k = json_next(d, k + 1)) {
            const char *key = json_str(d, k);
            if (strcmp(key, "instances") && strcmp(key, "inputs") && strcmp(key, "signature_name")) {
                infer_bad(&err, "invalid request: unknown field%s", "");
                goto fail;
            }
        }
    }
    if ((inst && cols) || (!inst && !cols)) {
        infer_bad(&err, "request needs exactly one of instances or inputs%s", "");
        goto fail;
    }
    j->batch = -1;
    if (inst) {
        if (json_tok(d, inst)->type != JSON_ARRAY || json_tok(d, inst)->size == 0) {
            infer_bad(&err, "instances must be a non-empty list%s", "");
            goto fail;
        }
        int64_t rows = json_tok(d, inst)->size;
        uint32_t *vals = malloc(sizeof(uint32_t) * (size_t)rows);
        if (!vals) {
            axle_err_set(&err, AXLE_UNAVAILABLE, "memory budget exceeded");
            goto fail;
        }
        int single = v->n_inputs == 1;
        uint32_t first = inst + 1;
        int objrows = json_tok(d, first)->type == JSON_OBJECT &&
                      !(json_tok(d, first)->size == 1 && json_streq(d, first + 1, "b64"));
        if (objrows) {
            for (int i = 0; i < v->n_inputs && rc != -2; i++) {
                int64_t k = 0;
                int rank = -1;
                int64_t dims[AXLE_MAX_RANK];
                for (uint32_t u = inst + 1; u < json_next(d, inst); u = json_next(d, u)) {
                    if (json_tok(d, u)->type != JSON_OBJECT) {
                        infer_bad(&err, "instances must all be objects%s", "");
                        rc = -2;
                        break;
                    }
                    uint32_t val = json_get(d, u, v->inputs[i].name);
                    if (!val) {
                        infer_bad(&err, "missing input '%s'", v->inputs[i].name);
                        rc = -2;
                        break;
                    }
                    int rr;
                    int64_t dd[AXLE_MAX_RANK];
                    if (json_shape(d, val, &rr, dd, 1) != 0 || (rank >= 0 && (rr != rank ||
                        memcmp(dd, dims, sizeof(int64_t) * (size_t)rr) != 0))) {
                        infer_bad(&err, "instances have unequal shapes for input '%s'", v->inputs[i].name);
                        rc = -2;
                        break;
                    }
                    rank = rr;
                    memcpy(dims, dd, sizeof(int64_t) * (size_t)rr);
                    vals[k++] = val;
                }
                if (rc == -2)
                    break;
                int64_t full[AXLE_MAX_RANK];
                full[0] = rows;
                memcpy(full + 1, dims, sizeof(int64_t) * (size_t)rank);
                if (v1_fill_input(j, i, rank + 1, full, d, vals, rows, &err) != 0) {
                    rc = -2;
                    break;
                }
            }
            for (uint32_t u = inst + 1; rc != -2 && u < json_next(d, inst); u = json_next(d, u))
                if (json_tok(d, u)->size != (uint32_t)v->n_inputs) {
                    infer_bad(&err, "unknown input in instances%s", "");
                    rc = -2;
                }
        } else if (!single) {
            infer_bad(&err, "instances must be objects for a model with several inputs%s", "");
            rc = -2;
        } else {
            int rank;
            int64_t dims[AXLE_MAX_RANK];
            if (json_shape(d, inst, &rank, dims, 0) != 0) {
                infer_bad(&err, "instances have unequal shapes for input '%s'", v->inputs[0].name);
                rc = -2;
            } else {
                vals[0] = inst;
                if (v1_fill_input(j, 0, rank, dims, d, vals, 1, &err) != 0)
                    rc = -2;
            }
        }
        free(vals);
        if (rc == -2)
            goto fail;
    } else {
        uint32_t vals[1];
        if (json_tok(d, cols)->type == JSON_OBJECT &&
            !(json_tok(d, cols)->size == 1 && json_streq(d, cols + 1, "b64"))) {
            for (uint32_t k = cols + 1; k < json_next(d, cols); k = json_next(d, k + 1)) {
                int idx = infer_find_input(v, json_str(d, k));
                if (idx < 0) {
                    infer_bad(&err, "unknown input '%s'", json_tok(d, k)->size > 64 ? "(long name)" : json_str(d, k));
                    goto fail;
                }
                int rank;
                int64_t dims[AXLE_MAX_RANK];
                if (json_shape(d, k + 1, &rank, dims, 0) != 0) {
                    infer_bad(&err, "ragged tensor for input '%s'", v->inputs[idx].name);
                    goto fail;
                }
                vals[0] = k + 1;
                j->batch = -1; /* columnar: batch sizes may differ */
                if (v1_fill_input(j, idx, rank, dims, d, vals, 1, &err) != 0)
                    goto fail;
            }
        } else {
            if (v->n_inputs != 1) {
                infer_bad(&err, "inputs must be an object for a model with several inputs%s", "");
                goto fail;
            }
            int rank;
            int64_t dims[AXLE_MAX_RANK];
            if (json_shape(d, cols, &rank, dims, 0) != 0) {
                infer_bad(&err, "ragged tensor for input '%s'", v->inputs[0].name);
                goto fail;
            }
            vals[0] = cols;
            if (v1_fill_input(j, 0, rank, dims, d, vals, 1, &err) != 0)
                goto fail;
        }
    }
    for (int i = 0; i < v->n_inputs; i++)
        if (!j->have_in[i]) {
            infer_bad(&err, "missing input '%s'", v->inputs[i].name);
            goto fail;
        }
    j->v1_inst = inst != 0;
    j->v1_rows = inst ? json_tok(d, inst)->size : 0;
    infer_fix_pointers(j);
    job_dispatch(j);
    return;
fail:
    job_fail(j, r, err.code, err.msg);
    job_put(j);
}

void encode_v1(struct job *j, struct http_req *r, const struct axle_tensor *out,
                      uint64_t t_in, uint64_t t_run)
{
    struct model_version *v = j->v;
    struct axle_err err;
    struct axle_buf *b = &j->sc->out;
    infer_ensure_id(j);
    for (int o = 0; o < v->n_outputs; o++)
        if (out[o].dtype == AXLE_DTYPE_FLOAT16 || out[o].dtype == AXLE_DTYPE_BFLOAT16) {
            infer_bad(&err, "FP16 and BF16 outputs are not supported in JSON: output '%s'", v->outputs[o].name);
            goto fail;
        }
    if (j->v1_inst) {
        int64_t rows = j->v1_rows;
        buf_puts(b, "{\"predictions\":[");
        for (int64_t row = 0; row < rows; row++) {
            if (row)
                buf_putc(b, ',');
            if (v->n_outputs == 1) {
                put_nested(b, &out[0], out[0].rank > 0 && out[0].dims[0] == rows ? row : -1,
                           ends_with_bytes(v->outputs[0].name));
            } else {
                buf_putc(b, '{');
                for (int o = 0; o < v->n_outputs; o++) {
                    if (o)
                        buf_putc(b, ',');
                    json_put_cstr(b, v->outputs[o].name);
                    buf_putc(b, ':');
                    put_nested(b, &out[o], out[o].rank > 0 && out[o].dims[0] == rows ? row : -1,
                               ends_with_bytes(v->outputs[o].name));
                }
                buf_putc(b, '}');
            }
        }
        buf_puts(b, "]}");
    } else {
        buf_puts(b, "{\"outputs\":");
        if (v->n_outputs == 1) {
            put_nested(b, &out[0], -1, ends_with_bytes(v->outputs[0].name));
        } else {
            buf_putc(b, '{');
            for (int o = 0; o < v->n_outputs; o++) {
                if (o)
                    buf_putc(b, ',');
                json_put_cstr(b, v->outputs[o].name);
                buf_putc(b, ':');
                put_nested(b, &out[o], -1, ends_with_bytes(v->outputs[o].name));
            }
            buf_putc(b, '}');
        }
        buf_putc(b, '}');
    }
    if (b->oom) {
        axle_err_set(&err, AXLE_UNAVAILABLE, "memory budget exceeded");
        goto fail;
    }
    j->t_end = http_now_ns();
    if (t_in)
        job_stats_inline(j, t_in, t_run, j->t_end);
    else
        job_stats_sched(j, j->t_end);
    struct http_iov iov = {b->data, b->len};
    char hdr[32 + MAX_ID_BYTES];
    if (j->id)
        snprintf(hdr, sizeof(hdr), "X-Request-Id: %.*s\r\n", (int)j->id_len, j->id);
    infer_finish(j, r, out, "application/json", j->id ? hdr : NULL, &iov, 1);
    return;
fail:
    job_fail(j, r, err.code, err.msg);
}
