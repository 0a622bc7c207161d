/*
 * infer_log.c - inference requests into the prediction log (predlog.h).
 *
 * Every request that reached a model version and was sampled
 * (--log-sample-rate) leaves one PREDICTION record, whatever its outcome:
 * request id, time, model, version, protocol, HTTP status, error, latency,
 * and on success its inputs and outputs, each tensor's data cut at
 * --log-max-tensor-bytes of JSON text and marked "truncated". The record
 * is built in the I/O thread's scratch buffer and copied into the log's
 * queue; nothing allocates per request in async mode.
 *
 * Sync mode holds the answer: the request is deferred (http_defer), the
 * answer copied, and the writer thread releases it once the group commit
 * holding its record is on disk - or answers 503 "prediction log
 * unavailable" when the log could not take or keep the record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "serve/infer.h"
#include "serve/predlog.h"

#define DEF_MAX_TENSOR_BYTES 65536

static const char unavailable[] = "prediction log unavailable";

struct held {
    struct http_deferred *d;
    int status;
    const char *ct;
    size_t hdr_len, len;
    char data[]; /* headers (NUL-terminated when hdr_len), then the body */
};

/* Writer thread: the record is durable (ok) or lost. */
static void held_done(void *arg, int ok)
{
    struct held *h = arg;
    if (ok) {
        http_deferred_respond(h->d, h->status, h->ct, h->hdr_len ? h->data : NULL,
                              h->data + h->hdr_len, h->len);
    } else {
        char eb[96];
        size_t n = http_error_body(eb, sizeof(eb), unavailable);
        http_deferred_respond(h->d, 503, "application/json", "Retry-After: 1\r\n", eb, n);
    }
    free(h);
}

void serve_predlog_respond(struct server *s, struct http_req *r, int type, const char *rec,
                           size_t rec_len, int status, const char *ct, const char *hdr,
                           const struct http_iov *iov, int n_iov)
{
    if (!s->predlog) {
        http_respond_iov(r, status, ct, hdr, iov, n_iov);
        return;
    }
    if (!s->log_sync) {
        predlog_append(s->predlog, (enum predlog_type)type, rec, rec_len, NULL, NULL);
        http_respond_iov(r, status, ct, hdr, iov, n_iov);
        return;
    }
    size_t body = 0, hl = hdr ? strlen(hdr) + 1 : 0;
    for (int i = 0; i < n_iov; i++)
        body += iov[i].len;
    struct held *h = axle_try_malloc(sizeof(*h) + hl + body);
    struct http_deferred *d = h ? http_defer(r) : NULL;
    if (!d) {
        /* Cannot hold the answer (no memory, or a connection that cannot
         * defer): durability cannot be promised, so refuse. */
        free(h);
        respond_status(r, AXLE_UNAVAILABLE, unavailable);
        return;
    }
    h->d = d;
    h->status = status;
    h->ct = ct;
    h->hdr_len = hl;
    h->len = body;
    if (hl)
        memcpy(h->data, hdr, hl);
    char *p = h->data + hl;
    for (int i = 0; i < n_iov; i++) {
        if (iov[i].len)
            memcpy(p, iov[i].p, iov[i].len);
        p += iov[i].len;
    }
    if (predlog_append(s->predlog, (enum predlog_type)type, rec, rec_len, held_done, h) != 0) {
        http_undefer(d);
        free(h);
        respond_status(r, AXLE_UNAVAILABLE, unavailable);
    }
}

/* Wall-clock time from a monotonic reading: the offset between the two
 * clocks is read once a second per thread (a step of the wall clock shows
 * within a second), and the formatted second is cached with it - no
 * clock_gettime, gmtime_r or strftime per record. */
static __thread uint64_t tl_refresh_ns;   /* monotonic time of the next re-read */
static __thread int64_t tl_off_ns;        /* realtime - monotonic */
static __thread int64_t tl_sec = -1;
static __thread char tl_when[32];
static __thread size_t tl_when_len;

void serve_put_time_at(struct axle_buf *b, uint64_t mono_ns)
{
    if (mono_ns >= tl_refresh_ns) {
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        uint64_t m = http_now_ns();
        tl_off_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec - (int64_t)m;
        tl_refresh_ns = m + 1000000000u;
    }
    int64_t real = (int64_t)mono_ns + tl_off_ns;
    if (real < 0)
        real = 0;
    int64_t sec = real / 1000000000;
    if (sec != tl_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        tl_when[0] = '"';
        tl_when_len = 1 + strftime(tl_when + 1, sizeof(tl_when) - 1, "%Y-%m-%dT%H:%M:%S", &tm);
        tl_sec = sec;
    }
    unsigned ms = (unsigned)(real % 1000000000 / 1000000);
    char *p = buf_reserve(b, tl_when_len + 6);
    if (!p)
        return;
    memcpy(p, tl_when, tl_when_len);
    p += tl_when_len;
    p[0] = '.';
    p[1] = (char)('0' + ms / 100);
    p[2] = (char)('0' + ms / 10 % 10);
    p[3] = (char)('0' + ms % 10);
    p[4] = 'Z';
    p[5] = '"';
    b->len += tl_when_len + 6;
}

void serve_put_time(struct axle_buf *b)
{
    serve_put_time_at(b, http_now_ns());
}

/* Input data as the client wrote it: the number texts of the flat JSON
 * array token t, comma-joined (the values the tensor was read from, in the
 * client's spelling). 0 when that cannot stand for the data - nested
 * arrays, a non-number, NaN or Infinity (not JSON), or more than cap
 * bytes - and then nothing is written. */
static int put_request_numbers(struct axle_buf *b, const struct json_doc *d, uint32_t t,
                               size_t cap)
{
    const struct json_tok *a = json_tok(d, t);
    if (a->type != JSON_ARRAY || a->end != t + 1 + a->size)
        return 0;
    size_t start = b->len;
    for (uint32_t u = t + 1; u < a->end; u++) {
        const struct json_tok *k = json_tok(d, u);
        const char *x = d->buf + k->off;
        const char *y = x + (x[0] == '-');
        if (k->type != JSON_NUMBER || !(*y >= '0' && *y <= '9') || b->len - start > cap) {
            b->len = start;
            return 0;
        }
        if (u > t + 1)
            buf_putc(b, ',');
        buf_put(b, x, k->size);
    }
    if (b->len - start > cap) {
        b->len = start;
        return 0;
    }
    return 1;
}

/* txt: the tensor's data already formatted for the answer (NULL: none);
 * d, tok: its request tokens (d NULL: none). */
static void put_tensor(struct axle_buf *b, const char *name, const struct axle_tensor *t,
                       size_t cap, const char *txt, size_t txt_len, const struct json_doc *d,
                       uint32_t tok)
{
    buf_puts(b, "{\"name\":");
    json_put_cstr(b, name);
    buf_puts(b, ",\"datatype\":");
    const char *dn = wire_dtype_name(t->dtype);
    json_put_plain(b, dn, strlen(dn));
    buf_puts(b, ",\"shape\":[");
    for (int d = 0; d < t->rank; d++) {
        if (d)
            buf_putc(b, ',');
        json_put_int(b, t->dims[d]);
    }
    buf_puts(b, "],\"data\":[");
    int64_t n = infer_numel(t);
    size_t start = b->len;
    int64_t e = 0;
    if (txt && txt_len <= cap) {
        /* What the loop below would write: every element fits the cap. */
        buf_put(b, txt, txt_len);
        e = n;
    } else if (d && put_request_numbers(b, d, tok, cap)) {
        e = n;
    } else if (t->data)
        for (; e < n && b->len - start < cap; e++) {
            if (e)
                buf_putc(b, ',');
            infer_put_element(b, t->dtype, t->data, e);
        }
    buf_puts(b, e < n ? "],\"truncated\":true}" : "],\"truncated\":false}");
}

/* The PREDICTION record of j into b. status: the HTTP status answered;
 * out: the outputs on success, NULL on failure (then err is the message). */
static void build_record(struct job *j, struct axle_buf *b, int status, const char *err,
                         const struct axle_tensor *out)
{
    struct server *s = j->srv;
    struct model_version *v = j->v;
    size_t cap = s->log_max_tensor_bytes ? s->log_max_tensor_bytes : DEF_MAX_TENSOR_BYTES;
    buf_reset(b);
    buf_puts(b, "{\"request_id\":");
    if (j->id == j->uuid)
        json_put_plain(b, j->id, j->id_len);
    else if (j->id)
        json_put_str(b, j->id, j->id_len);
    else
        buf_puts(b, "null");
    uint64_t t_rec = out ? j->t_end : http_now_ns(); /* answered, or failing now */
    buf_puts(b, ",\"ts\":");
    serve_put_time_at(b, t_rec);
    buf_puts(b, ",\"model\":");
    json_put_plain(b, v->model->name, strlen(v->model->name)); /* repo_valid_model_name */
    buf_puts(b, ",\"version\":");
    json_put_plain(b, v->version_str, strlen(v->version_str));
    buf_puts(b, j->kind == JOB_V1 ? ",\"protocol\":\"v1\",\"status\":"
                                  : ",\"protocol\":\"v2\",\"status\":");
    json_put_int(b, status);
    buf_puts(b, ",\"latency_us\":");
    json_put_uint(b, (t_rec - j->t0) / 1000);
    if (err) {
        buf_puts(b, ",\"error\":");
        json_put_str(b, err, strnlen(err, 512));
    }
    if (out) {
        buf_puts(b, ",\"inputs\":[");
        int first = 1;
        for (int i = 0; i < v->n_inputs; i++) {
            if (!j->have_in[i])
                continue;
            if (!first)
                buf_putc(b, ',');
            first = 0;
            int have = (j->in_txt >> i) & 1;
            put_tensor(b, v->inputs[i].name, &j->in[i], cap, NULL, 0,
                       have ? &j->sc->doc : NULL, have ? j->in_tok[i] : 0);
        }
        buf_puts(b, "],\"outputs\":[");
        for (int i = 0; i < v->n_outputs; i++) {
            if (i)
                buf_putc(b, ',');
            int have = (j->out_txt >> i) & 1;
            put_tensor(b, v->outputs[i].name, &out[i], cap,
                       have ? j->sc->out.data + j->out_txt_off[i] : NULL,
                       have ? j->out_txt_len[i] : 0, NULL, 0);
        }
        buf_putc(b, ']');
    }
    buf_putc(b, '}');
}

void infer_log_sample(struct job *j)
{
    struct server *s = j->srv;
    j->log_this = 0;
    if (!s->predlog)
        return;
    if (s->log_sample_rate >= 1.0)
        j->log_this = 1;
    else if (s->log_sample_rate > 0.0)
        j->log_this = (double)(infer_rand() >> 11) * 0x1.0p-53 < s->log_sample_rate;
}

void infer_log_respond(struct job *j, struct http_req *r, const struct axle_tensor *out,
                       const char *ct, const char *hdr, const struct http_iov *iov, int n_iov)
{
    struct axle_buf *b = &j->sc->rec;
    build_record(j, b, 200, NULL, out);
    if (b->oom) {
        buf_free(b);
        respond_status(r, AXLE_UNAVAILABLE, "memory budget exceeded");
        return;
    }
    serve_predlog_respond(j->srv, r, PREDLOG_PREDICTION, b->data, b->len, 200, ct, hdr, iov,
                          n_iov);
    if (b->cap > (4u << 20))
        buf_free(b);
}

void infer_log_fail(struct job *j, struct http_req *r, enum axle_status st, const char *msg)
{
    if (!j->id) {
        /* The log's key: make one even though the error answer has none. */
        infer_make_uuid(j->uuid);
        j->id = j->uuid;
        j->id_len = 36;
    }
    int code = status_to_http(st);
    struct axle_buf *b = &j->sc->rec;
    build_record(j, b, code, msg, NULL);
    char eb[640];
    size_t n = http_error_body(eb, sizeof(eb), msg);
    struct http_iov iov = {eb, n};
    /* The logged failure's key goes back to the client too. */
    char extra[64 + MAX_ID_BYTES];
    snprintf(extra, sizeof(extra), "%sX-Request-Id: %.*s\r\n",
             code == 503 ? "Retry-After: 1\r\n" : "", (int)j->id_len, j->id);
    if (b->oom) {
        buf_free(b);
        respond_status(r, st, msg);
        return;
    }
    serve_predlog_respond(j->srv, r, PREDLOG_PREDICTION, b->data, b->len, code,
                          "application/json", extra, &iov, 1);
}
