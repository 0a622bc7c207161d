/*
 * http.c - HTTP/1.1 connections on libuv loops (see http.h).
 *
 * Per connection, bytes flow: uv read into `in` -> head pre-scan (our own
 * strictness: line lengths, header count, bare LF, obs-fold, NUL, space
 * before colon) -> http-parser (framing, chunked decoding) -> callbacks
 * copy the URL and headers into `hstore` and the body into `body` ->
 * on message complete the parser is paused, the request is dispatched to
 * the handler, and its answer appended to `out`. After a read has been
 * consumed, `out` is written with one uv_try_write (falling back to a
 * queued uv_write for what the socket did not take).
 *
 * Timeouts are swept once a second per loop from timestamps kept in each
 * connection, so the request path touches no timer.
 */
#include "serve/http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <uv.h>
#include <zlib.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/json.h"

#define IN_CHUNK (64 * 1024)
#define MAX_CHUNK_EXT 1024      /* D21: chunk extensions */
#define MAX_CHUNK_SIZE_DIGITS 64
/* Input held while a request's answer is prepared elsewhere. */
#define DEFERRED_MAX_INPUT (64 * 1024)

struct http_loop;

/* Head pre-scan state. */
struct head_scan {
    size_t total;      /* bytes of the head so far */
    size_t hdr_bytes;  /* of which header lines (after the request line) */
    size_t line_len;   /* bytes of the current line */
    int line_no;       /* 0: request line */
    int n_headers;
    int prev_cr;
    int seen_colon;    /* in this header line */
    int line_start;    /* at the first byte of a line */
};

/* Chunked-body scan: the chunk-size lines, which http-parser does not
 * limit beyond its 80 KiB header cap (D21: extensions <= 1 KiB). Runs over
 * the bytes http-parser consumed for the body. */
enum { CS_LINE, CS_DATA, CS_DATA_END, CS_TRAILER, CS_DONE };

struct chunk_scan {
    int state;
    uint64_t size;     /* CS_LINE: size so far; CS_DATA: bytes left */
    size_t line_len;   /* bytes of the current line (CR excluded) */
    size_t digits;
    size_t ext_len;    /* bytes after ';' (or whitespace) */
    int in_ext;
};

struct http_conn {
    uv_tcp_t tcp;
    struct http_loop *loop; /* NULL when detached */
    struct http_conn *prev, *next;
    http_parser parser;
    const struct http_limits *lim;
    http_handler_fn handler;
    void *ctx;

    char *in;
    size_t in_cap, in_off, in_len;

    int in_head;             /* next bytes belong to a message head */
    struct head_scan hs;
    struct chunk_scan cs;

    /* Current message. */
    struct axle_buf hstore;  /* url NUL name NUL value NUL ... */
    size_t url_off;
    size_t hoff_name[HTTP_MAX_HEADERS + 1], hoff_value[HTTP_MAX_HEADERS + 1];
    int n_hdr;
    int last_was_value;
    int headers_done;        /* later header callbacks are chunked trailers */
    struct axle_buf body;
    struct axle_buf inflated;
    int err_status;          /* set by a callback: answer it and close */
    const char *err_msg;
    int n_content_length;
    int expect_continue;
    int msg_complete;
    uint64_t t_first_ns;     /* first byte of the current message */
    uint64_t t_last_read_ns;

    struct axle_buf out;     /* answers not yet handed to the socket */
    struct axle_buf wbuf;    /* handed to an in-flight uv_write */
    uv_write_t wreq;
    int writing;
    int reading_stopped;
    int close_after_write;
    int closing;
    int served;              /* has answered a request (keep-alive reuse) */
    struct http_deferred *deferred; /* an answer being prepared off-loop */
    int detached_closed;
    /* Admission (http_server_opts.admit, memory budget). */
    int reject_status;       /* refused at the head; body skipped */
    int reject_answered;     /* ... and already answered */
    const char *reject_msg;
    size_t body_avail;       /* body bytes already buffered when the head ended */
    int64_t charged;         /* bytes charged to the memory budget */
};

/* An answer prepared on another thread (http_defer). The loop thread owns
 * `conn` (set to NULL if the connection goes away first); the preparing
 * thread owns the answer fields until it queues the object. */
struct http_deferred {
    struct http_deferred *next;
    struct http_loop *loop;
    struct http_conn *conn;
    struct http_req req;
    http_resume_fn resume; /* http_defer_call: work finished elsewhere */
    http_cancel_fn cancel;
    void *arg;
    int status;
    const char *content_type, *extra_headers;
    char *body;
    size_t len;
};

struct http_loop {
    uv_loop_t loop;
    uv_tcp_t listener;
    int listening;
    uv_async_t wake;
    uv_mutex_t done_mu;
    struct http_deferred *done; /* answered, waiting for this loop */
    uv_timer_t sweep;
    uv_thread_t thread;
    struct http_server *srv;
    struct http_conn *conns;
    size_t n_conns;
};

struct http_server {
    struct http_server_opts o;
    struct http_loop *loops;
    int n_loops;
    int port;
    atomic_int stop_accepting;
    atomic_int n_listening; /* loops whose listener is still open */
    atomic_int closing;
    atomic_int stopping;
    atomic_size_t conn_count;
    atomic_uint_fast64_t requests;
    atomic_int deferred_pending; /* deferred answers not yet delivered */
};

static http_parser_settings parser_settings;

uint64_t http_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void http_limits_default(struct http_limits *l)
{
    l->max_request_line = 8 * 1024;
    l->max_header_line = 8 * 1024;
    l->max_header_bytes = 32 * 1024;
    l->max_headers = 100;
    l->max_body = 64u << 20;
    l->max_conns = 1024;
    l->max_unsent = 1u << 20;
    l->header_timeout = 10;
    l->body_timeout = 30;
    l->idle_timeout = 60;
    l->gzip_min_bytes = 16 * 1024;
}

const char *http_status_text(int status)
{
    switch (status) {
#define XX(num, name, string) \
    case num:                 \
        return #string;
        HTTP_STATUS_MAP(XX)
#undef XX
    case 499:
        return "Client Closed Request";
    default:
        return "Unknown";
    }
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static void conn_close(struct http_conn *c);
static void conn_flush(struct http_conn *c);
static void conn_process(struct http_conn *c);

static size_t unsent(const struct http_conn *c)
{
    return c->out.len + c->wbuf.len;
}

static void put_status_line(struct axle_buf *b, int status)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\n";
    if (status == 200) {
        buf_put(b, ok, sizeof(ok) - 1);
        return;
    }
    char line[64];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
                     http_status_text(status));
    buf_put(b, line, (size_t)n);
}

static void put_uint(struct axle_buf *b, uint64_t v)
{
    char tmp[24];
    int i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_put(b, tmp + i, sizeof(tmp) - (size_t)i);
}

/* Deflate iov into gz (gzip wrapper). 0 on success. */
static int gzip_iov(struct axle_buf *gz, const struct http_iov *iov, int n)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].len;
    size_t bound = deflateBound(&zs, (uLong)total) + 64;
    char *dst = buf_reserve(gz, bound);
    if (!dst) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_out = (Bytef *)dst;
    zs.avail_out = (uInt)bound;
    int rc = Z_OK;
    for (int i = 0; i < n && rc == Z_OK; i++) {
        zs.next_in = (Bytef *)iov[i].p;
        zs.avail_in = (uInt)iov[i].len;
        rc = deflate(&zs, i == n - 1 ? Z_FINISH : Z_NO_FLUSH);
        if (i < n - 1 && rc == Z_OK && zs.avail_in != 0)
            rc = Z_BUF_ERROR;
    }
    if (n == 0)
        rc = deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    if (rc != Z_STREAM_END)
        return -1;
    gz->len += bound - zs.avail_out;
    return 0;
}

static void access_log(struct http_conn *c, struct http_req *r, int status,
                       size_t bytes)
{
    if (!c->loop || c->loop->srv->o.access_log_fd < 0)
        return;
    struct axle_buf b;
    buf_init(&b);
    b.limit = 4096;
    buf_puts(&b, "{\"event\":\"access\",\"method\":");
    json_put_cstr(&b, r->method_name);
    buf_puts(&b, ",\"path\":");
    json_put_str(&b, r->path, r->path_len > 512 ? 512 : r->path_len);
    buf_printf(&b, ",\"status\":%d,\"bytes\":%zu,\"duration_us\":%.1f",
               status, bytes, (double)(http_now_ns() - r->t_start_ns) / 1e3);
    if (c->loop->srv->o.worker_id > 0)
        buf_printf(&b, ",\"worker\":%d", c->loop->srv->o.worker_id);
    buf_puts(&b, "}\n");
    if (!b.oom) {
        ssize_t w = write(c->loop->srv->o.access_log_fd, b.data, b.len);
        (void)w;
    }
    buf_free(&b);
}

void http_respond_iov(struct http_req *r, int status, const char *content_type,
                      const char *extra_headers, const struct http_iov *iov,
                      int n_iov)
{
    struct http_conn *c = r->conn;
    struct axle_buf *o = &c->out;
    size_t total = 0;
    for (int i = 0; i < n_iov; i++)
        total += iov[i].len;
    int closing = !r->keep_alive || c->close_after_write ||
                  (c->loop && atomic_load(&c->loop->srv->closing));
    if (closing)
        c->close_after_write = 1;

    struct axle_buf gz;
    buf_init(&gz);
    int use_gz = r->accept_gzip && c->lim->gzip_min_bytes &&
                 total >= c->lim->gzip_min_bytes && gzip_iov(&gz, iov, n_iov) == 0 &&
                 gz.len < total;

    put_status_line(o, status);
    if (content_type) {
        buf_puts(o, "Content-Type: ");
        buf_puts(o, content_type);
        buf_puts(o, "\r\n");
    }
    if (extra_headers)
        buf_puts(o, extra_headers);
    if (use_gz)
        buf_puts(o, "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
    buf_puts(o, "Content-Length: ");
    put_uint(o, use_gz ? gz.len : total);
    buf_puts(o, closing ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
    if (r->method != HTTP_HEAD) {
        if (use_gz) {
            buf_put(o, gz.data, gz.len);
        } else {
            for (int i = 0; i < n_iov; i++)
                buf_put(o, iov[i].p, iov[i].len);
        }
    }
    buf_free(&gz);
    if (c->loop)
        atomic_fetch_add_explicit(&c->loop->srv->requests, 1, memory_order_relaxed);
    access_log(c, r, status, use_gz ? gz.len : total);
    if (o->oom) {
        /* Could not build the answer: drop the connection rather than send
         * half of one. */
        buf_reset(o);
        c->close_after_write = 1;
        c->closing = 1;
    }
}

void http_respond(struct http_req *r, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t len)
{
    struct http_iov v = {body, len};
    http_respond_iov(r, status, content_type, extra_headers, &v, len ? 1 : 0);
}

size_t http_error_body(char *dst, size_t cap, const char *msg)
{
    struct axle_buf b = {.data = dst, .len = 0, .cap = cap, .limit = cap};
    buf_puts(&b, "{\"error\":");
    json_put_cstr(&b, msg);
    buf_putc(&b, '}');
    if (b.oom) {
        b.oom = 0;
        b.len = 0;
        buf_puts(&b, "{\"error\":\"error\"}");
    }
    return b.len;
}

void http_respond_error(struct http_req *r, int status, const char *msg,
                        const char *extra_headers)
{
    char tmp[512];
    size_t n = http_error_body(tmp, sizeof(tmp), msg);
    if (!extra_headers && status == 503)
        extra_headers = "Retry-After: 1\r\n";
    http_respond(r, status, "application/json", extra_headers, tmp, n);
}

/* An error found before a request could be formed: answer and close. */
static void respond_early(struct http_conn *c, int status, const char *msg)
{
    struct http_req r;
    memset(&r, 0, sizeof(r));
    r.conn = c;
    r.method = HTTP_GET;
    r.method_name = "-";
    r.path = (char *)"-";
    r.path_len = 1;
    r.keep_alive = 0;
    r.t_start_ns = c->t_first_ns ? c->t_first_ns : http_now_ns();
    http_respond_error(&r, status, msg, NULL);
    c->close_after_write = 1;
    c->closing = 1;
}

/* Give back what the current request charged to the memory budget. */
static void conn_uncharge(struct http_conn *c)
{
    if (c->charged && c->loop && c->loop->srv->o.mem_used)
        atomic_fetch_sub(c->loop->srv->o.mem_used, c->charged);
    c->charged = 0;
}

/* Charge n more bytes; 0 when they fit in the budget. */
static int conn_charge(struct http_conn *c, int64_t n)
{
    if (!c->loop || !c->loop->srv->o.mem_used || n <= 0)
        return 0;
    const struct http_server_opts *o = &c->loop->srv->o;
    int64_t now = atomic_fetch_add(o->mem_used, n) + n;
    if (o->mem_budget > 0 && now > o->mem_budget) {
        atomic_fetch_sub(o->mem_used, n);
        return -1;
    }
    c->charged += n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parser callbacks                                                    */

static int cb_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;
    buf_reset(&c->hstore);
    buf_reset(&c->body);
    c->url_off = 0;
    c->n_hdr = 0;
    c->last_was_value = 0;
    c->headers_done = 0;
    c->n_content_length = 0;
    c->expect_continue = 0;
    c->msg_complete = 0;
    c->reject_status = 0;
    c->reject_msg = NULL;
    c->reject_answered = 0;
    buf_putc(&c->hstore, 0); /* offset 0 is the empty string */
    c->url_off = c->hstore.len;
    return 0;
}

static int cb_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    buf_put(&c->hstore, at, len);
    return 0;
}

static int cb_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (c->headers_done)
        return 0; /* trailer fields of a chunked body are ignored */
    if (c->n_hdr == 0 || c->last_was_value) {
        if (c->n_hdr >= HTTP_MAX_HEADERS) {
            c->err_status = 431;
            c->err_msg = "too many headers";
            return -1;
        }
        buf_putc(&c->hstore, 0); /* ends the URL or the previous value */
        c->hoff_value[c->n_hdr] = 0; /* "" until a value arrives */
        c->hoff_name[c->n_hdr++] = c->hstore.len;
        c->last_was_value = 0;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = at[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        buf_putc(&c->hstore, ch);
    }
    return 0;
}

static int cb_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (c->headers_done)
        return 0;
    if (!c->last_was_value) {
        buf_putc(&c->hstore, 0);
        c->hoff_value[c->n_hdr - 1] = c->hstore.len;
        c->last_was_value = 1;
    }
    buf_put(&c->hstore, at, len);
    return 0;
}

static const char *hs_get(struct http_conn *c, const char *name, int *count)
{
    const char *found = NULL;
    int n = 0;
    for (int i = 0; i < c->n_hdr; i++) {
        if (strcmp(c->hstore.data + c->hoff_name[i], name) == 0) {
            if (!found)
                found = c->hstore.data + c->hoff_value[i];
            n++;
        }
    }
    if (count)
        *count = n;
    return found;
}

/* Both Content-Length and Transfer-Encoding among the headers seen so far
 * (http-parser rejects the pair before on_headers_complete). */
static int has_te_and_cl(struct http_conn *c)
{
    buf_putc(&c->hstore, 0); /* terminate a name still being collected */
    if (c->hstore.oom)
        return 0;
    return hs_get(c, "content-length", NULL) && hs_get(c, "transfer-encoding", NULL);
}

static int ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* Trim optional whitespace in place (values are NUL-terminated in hstore). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

static int cb_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    c->headers_done = 1;
    buf_putc(&c->hstore, 0);
    if (c->hstore.oom) {
        c->err_status = 431;
        c->err_msg = "header too large";
        return -1;
    }
    /* One pass over the names for the framing headers. */
    int n_cl = 0, n_te = 0, n_host = 0;
    const char *cl = NULL, *te = NULL, *expect = NULL;
    for (int i = 0; i < c->n_hdr; i++) {
        const char *name = c->hstore.data + c->hoff_name[i];
        const char *value = c->hstore.data + c->hoff_value[i];
        switch (name[0]) {
        case 'c':
            if (strcmp(name, "content-length") == 0 && n_cl++ == 0)
                cl = value;
            break;
        case 't':
            if (strcmp(name, "transfer-encoding") == 0 && n_te++ == 0)
                te = value;
            break;
        case 'h':
            n_host += strcmp(name, "host") == 0;
            break;
        case 'e':
            if (!expect && strcmp(name, "expect") == 0)
                expect = value;
            break;
        default:
            break;
        }
    }
    if (cl && te) {
        c->err_status = 400;
        c->err_msg = "conflicting content-length and transfer-encoding";
        return -1;
    }
    if (cl) {
        /* One value, 1-19 digits, no sign (D21). */
        char *v = trim((char *)cl);
        size_t n = strlen(v);
        int ok = n_cl == 1 && n >= 1 && n <= 19;
        for (size_t i = 0; ok && i < n; i++)
            ok = v[i] >= '0' && v[i] <= '9';
        if (!ok) {
            c->err_status = 400;
            c->err_msg = "invalid content-length";
            return -1;
        }
    }
    if (te) {
        char *v = trim((char *)te);
        if (n_te != 1 || strchr(v, ',')) {
            if (strstr(v, "chunked") && n_te == 1 && strncasecmp(v, "chunked", 7) != 0) {
                c->err_status = 501;
                c->err_msg = "unsupported transfer-encoding";
            } else {
                c->err_status = 400;
                c->err_msg = "invalid transfer-encoding";
            }
            return -1;
        }
        if (!ieq(v, "chunked")) {
            c->err_status = 501;
            c->err_msg = "unsupported transfer-encoding";
            return -1;
        }
    }
    if (p->http_major == 1 && p->http_minor >= 1 && n_host == 0) {
        c->err_status = 400;
        c->err_msg = "missing host";
        return -1;
    }
    if (n_host > 1) {
        c->err_status = 400;
        c->err_msg = "malformed request";
        return -1;
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->lim->max_body) {
        c->err_status = 413;
        c->err_msg = "body too large";
        return -1;
    }
    if (expect && ieq(trim((char *)expect), "100-continue") && p->http_minor >= 1 &&
        (p->flags & (F_CONTENTLENGTH | F_CHUNKED)) && p->content_length != 0)
        c->expect_continue = 1;
    if (p->method == HTTP_CONNECT) {
        c->err_status = 501;
        c->err_msg = "method not implemented";
        return -1;
    }
    /* Admission, before the body is read (SECURITY.md 3.3): the handler's
     * check (queue full, model state) and the memory budget. A refused
     * request is answered at once; its body is then read and thrown away,
     * so the connection stays usable (clients that are still sending see
     * the answer instead of a reset, and overload causes no reconnects). */
    int64_t cl_len = (p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length : -1;
    if (c->loop && c->n_hdr > 0) {
        const struct http_server_opts *o = &c->loop->srv->o;
        int st = 0;
        const char *msg = NULL;
        if (o->admit)
            st = o->admit(o->ctx, p->method, c->hstore.data + c->url_off, cl_len, &msg);
        if (!st && cl_len > 0 && conn_charge(c, cl_len) != 0) {
            st = 503;
            msg = "memory budget exceeded";
        }
        if (st) {
            c->reject_status = st;
            c->reject_msg = msg;
            if (cl_len < 0 || (uint64_t)cl_len > c->body_avail) {
                /* The body is still on its way: answer now. */
                struct http_req r;
                memset(&r, 0, sizeof(r));
                r.conn = c;
                r.method = p->method;
                r.method_name = http_method_str(p->method);
                r.path = c->hstore.data + c->url_off;
                r.path_len = strlen(r.path);
                /* A client waiting for 100 Continue may never send the
                 * body: close rather than guess where the next request
                 * starts. */
                r.keep_alive = http_should_keep_alive(p) && !c->expect_continue;
                r.t_start_ns = c->t_first_ns;
                http_respond_error(&r, st, msg, NULL);
                c->reject_answered = 1;
                if (!r.keep_alive)
                    c->closing = 1;
            }
            return 0;
        }
    }
    /* Body buffer: grow with what arrives, starting from min(CL, 1 MiB). */
    if (p->flags & F_CONTENTLENGTH) {
        size_t want = p->content_length < (1u << 20) ? (size_t)p->content_length : (1u << 20);
        if (buf_reserve(&c->body, want + 1) == NULL) {
            c->err_status = 503;
            c->err_msg = "memory budget exceeded";
            return -1;
        }
    }
    if (c->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        buf_put(&c->out, cont, sizeof(cont) - 1);
        conn_flush(c);
    }
    return 0;
}

static int cb_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (c->reject_status)
        return 0; /* refused at the head: skipped */
    if (!(p->flags & F_CONTENTLENGTH) && conn_charge(c, (int64_t)len) != 0) {
        c->err_status = 503;
        c->err_msg = "memory budget exceeded";
        return -1;
    }
    if (c->body.len + len > c->lim->max_body) {
        c->err_status = 413;
        c->err_msg = "body too large";
        return -1;
    }
    buf_put(&c->body, at, len);
    if (c->body.oom) {
        c->err_status = 503;
        c->err_msg = "memory budget exceeded";
        return -1;
    }
    return 0;
}

static int cb_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    c->msg_complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static int cb_chunk_header(http_parser *p)
{
    (void)p;
    return 0;
}

__attribute__((constructor)) static void init_settings(void)
{
    memset(&parser_settings, 0, sizeof(parser_settings));
    parser_settings.on_message_begin = cb_message_begin;
    parser_settings.on_url = cb_url;
    parser_settings.on_header_field = cb_header_field;
    parser_settings.on_header_value = cb_header_value;
    parser_settings.on_headers_complete = cb_headers_complete;
    parser_settings.on_body = cb_body;
    parser_settings.on_message_complete = cb_message_complete;
    parser_settings.on_chunk_header = cb_chunk_header;
}

/* ------------------------------------------------------------------ */
/* Head pre-scan: the checks http-parser 2.9 is lenient about.        */

static void hs_reset(struct head_scan *h)
{
    memset(h, 0, sizeof(*h));
    h->line_start = 1;
}

/* Scan p[0..n) of a message head. Returns the number of bytes that belong
 * to the head (n if it continues past this chunk); sets *done when the
 * empty line ending the head was seen. On a violation sets c->err_*. */
/* Bytes that end a run of ordinary bytes: anywhere, and in addition inside
 * a header name (before the colon). */
static const unsigned char stop_any[256] = {[0] = 1, ['\n'] = 1, ['\r'] = 1};
static const unsigned char stop_name[256] = {[0] = 1,    ['\n'] = 1, ['\r'] = 1,
                                             [' '] = 1,  ['\t'] = 1, [':'] = 1};

/* Inside a line, after its first byte, the bytes up to the next one in the
 * state's stop table change nothing but the counts: skip them in one pass
 * and count them at once. Returns the index of the first byte left for the
 * per-byte scan, or, when a length limit is crossed inside the run, sets
 * the error and *err_at to the byte that crossed it (as the per-byte scan
 * would have). */
static size_t head_run(struct http_conn *c, const char *p, size_t i, size_t n, size_t *err_at)
{
    struct head_scan *h = &c->hs;
    const struct http_limits *l = c->lim;
    const unsigned char *stop = h->line_no > 0 && !h->seen_colon ? stop_name : stop_any;
    size_t j = i;
    while (j < n && !stop[(unsigned char)p[j]])
        j++;
    size_t r = j - i;
    size_t lim = h->line_no == 0 ? l->max_request_line : l->max_header_line;
    size_t at = SIZE_MAX;
    if (h->line_len + r > lim)
        at = i + (lim - h->line_len);
    if (h->line_no > 0 && h->hdr_bytes + r > l->max_header_bytes &&
        i + (l->max_header_bytes - h->hdr_bytes) < at)
        at = i + (l->max_header_bytes - h->hdr_bytes);
    if (at != SIZE_MAX) {
        h->total += at - i + 1;
        c->err_status = h->line_no == 0 ? 414 : 431;
        c->err_msg = h->line_no == 0 ? "request line too long" : "header too large";
        *err_at = at;
        return j;
    }
    h->total += r;
    h->line_len += r;
    if (h->line_no > 0)
        h->hdr_bytes += r;
    return j;
}

static size_t head_scan(struct http_conn *c, const char *p, size_t n, int *done)
{
    struct head_scan *h = &c->hs;
    const struct http_limits *l = c->lim;
    *done = 0;
    for (size_t i = 0; i < n; i++) {
        if (!h->prev_cr && !h->line_start) {
            size_t err_at = SIZE_MAX;
            i = head_run(c, p, i, n, &err_at);
            if (err_at != SIZE_MAX)
                return err_at;
            if (i == n)
                break;
        }
        unsigned char ch = (unsigned char)p[i];
        h->total++;
        if (ch == '\n') {
            if (!h->prev_cr)
                goto malformed;
            if (h->line_len == 0) {
                /* Empty line. Leading CRLFs before a request line are
                 * tolerated (RFC 9112 2.2). */
                if (h->line_no == 0) {
                    h->prev_cr = 0;
                    h->line_start = 1;
                    continue;
                }
                *done = 1;
                return i + 1;
            }
            if (h->line_no > 0) {
                if (!h->seen_colon)
                    goto malformed;
                if ((size_t)++h->n_headers > l->max_headers) {
                    c->err_status = 431;
                    c->err_msg = "too many headers";
                    return i;
                }
            }
            h->line_no++;
            h->line_len = 0;
            h->seen_colon = 0;
            h->prev_cr = 0;
            h->line_start = 1;
            continue;
        }
        if (h->prev_cr)
            goto malformed; /* CR not followed by LF */
        if (ch == '\r') {
            h->prev_cr = 1;
            continue;
        }
        if (ch == 0)
            goto malformed;
        if (h->line_start && h->line_no > 0 && (ch == ' ' || ch == '\t'))
            goto malformed; /* obs-fold */
        h->line_start = 0;
        if (h->line_no > 0 && !h->seen_colon) {
            if (ch == ':')
                h->seen_colon = 1;
            else if (ch == ' ' || ch == '\t')
                goto malformed; /* space before the colon */
        }
        h->line_len++;
        if (h->line_no == 0 && h->line_len > l->max_request_line) {
            c->err_status = 414;
            c->err_msg = "request line too long";
            return i;
        }
        if (h->line_no > 0 && h->line_len > l->max_header_line) {
            c->err_status = 431;
            c->err_msg = "header too large";
            return i;
        }
        if (h->line_no > 0 && ++h->hdr_bytes > l->max_header_bytes) {
            c->err_status = 431;
            c->err_msg = "header too large";
            return i;
        }
    }
    return n;
malformed:
    c->err_status = 400;
    c->err_msg = "malformed request";
    return 0;
}

/* Scan p[0..n) of a chunked body (bytes http-parser has accepted).
 * Returns 0, or -1 with c->err_* set. Stops at the end of the message. */
static int chunk_scan(struct http_conn *c, const char *p, size_t n)
{
    struct chunk_scan *k = &c->cs;
    for (size_t i = 0; i < n && k->state != CS_DONE; i++) {
        unsigned char ch = (unsigned char)p[i];
        switch (k->state) {
        case CS_LINE:
            if (ch == '\n') {
                k->state = k->size ? CS_DATA : CS_TRAILER;
                k->line_len = k->digits = k->ext_len = 0;
                k->in_ext = 0;
                break;
            }
            if (ch == '\r')
                break;
            k->line_len++;
            if (k->in_ext) {
                if (++k->ext_len > MAX_CHUNK_EXT) {
                    c->err_status = 400;
                    c->err_msg = "chunk extension too long";
                    return -1;
                }
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                k->in_ext = 1;
            } else {
                int v = ch >= '0' && ch <= '9' ? ch - '0'
                        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
                if (v < 0 || ++k->digits > MAX_CHUNK_SIZE_DIGITS || k->size > (UINT64_MAX >> 4)) {
                    c->err_status = 400;
                    c->err_msg = "invalid chunk size";
                    return -1;
                }
                k->size = k->size * 16 + (uint64_t)v;
            }
            break;
        case CS_DATA: {
            size_t take = n - i < k->size ? n - i : (size_t)k->size;
            k->size -= take;
            i += take - 1;
            if (k->size == 0)
                k->state = CS_DATA_END;
            break;
        }
        case CS_DATA_END:
            if (ch == '\n')
                k->state = CS_LINE;
            break;
        case CS_TRAILER:
            if (ch == '\n') {
                if (k->line_len == 0)
                    k->state = CS_DONE;
                k->line_len = 0;
            } else if (ch != '\r') {
                k->line_len++;
            }
            break;
        default:
            break;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */

/* Inflate c->body per Content-Encoding into c->inflated. 0, or an HTTP
 * status with c->err_msg set. */
static int decode_body(struct http_conn *c, const char *enc, char **out, size_t *out_len)
{
    *out = c->body.data;
    *out_len = c->body.len;
    if (!enc || !*enc || ieq(enc, "identity"))
        return 0;
    int wbits;
    if (ieq(enc, "gzip") || ieq(enc, "x-gzip"))
        wbits = 15 + 16;
    else if (ieq(enc, "deflate"))
        wbits = 15; /* zlib wrapper (RFC 9110 "deflate") */
    else {
        c->err_msg = "unsupported content-encoding";
        return 415;
    }
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, wbits) != Z_OK) {
        c->err_msg = "out of memory";
        return 503;
    }
    buf_reset(&c->inflated);
    zs.next_in = (Bytef *)c->body.data;
    zs.avail_in = (uInt)c->body.len;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        char *dst = buf_reserve(&c->inflated, 64 * 1024);
        if (!dst) {
            inflateEnd(&zs);
            c->err_msg = "out of memory";
            return 503;
        }
        zs.next_out = (Bytef *)dst;
        zs.avail_out = 64 * 1024;
        rc = inflate(&zs, Z_NO_FLUSH);
        c->inflated.len += 64 * 1024 - zs.avail_out;
        uint64_t consumed = zs.total_in ? zs.total_in : 1;
        if (c->inflated.len > c->lim->max_body ||
            (c->inflated.len > 4096 && c->inflated.len > 100 * consumed)) {
            inflateEnd(&zs);
            c->err_msg = "decompressed body too large";
            return 413;
        }
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK || (zs.avail_in == 0 && zs.avail_out != 0)) {
            inflateEnd(&zs);
            c->err_msg = "invalid compressed body";
            return 400;
        }
    }
    inflateEnd(&zs);
    buf_putc(&c->inflated, 0);
    if (c->inflated.oom) {
        c->err_msg = "out of memory";
        return 503;
    }
    c->inflated.len--;
    *out = c->inflated.data;
    *out_len = c->inflated.len;
    return 0;
}

static void dispatch(struct http_conn *c)
{
    http_parser *p = &c->parser;
    struct http_req r;
    memset(&r, 0, sizeof(r));
    r.conn = c;
    r.method = p->method;
    r.method_name = http_method_str(p->method);
    r.keep_alive = http_should_keep_alive(p);
    r.has_length = (p->flags & (F_CONTENTLENGTH | F_CHUNKED)) != 0;
    r.t_start_ns = c->t_first_ns;
    char *url = c->hstore.data + c->url_off;
    if (c->n_hdr == 0) {
        /* URL not terminated yet (no headers): terminate it now. */
        buf_putc(&c->hstore, 0);
        url = c->hstore.data + c->url_off;
    }
    r.path = url;
    char *q = strchr(url, '?');
    if (q) {
        *q = 0;
        r.query = q + 1;
    }
    char *frag = strchr(url, '#');
    if (frag)
        *frag = 0;
    r.path_len = strlen(url);
    r.n_headers = c->n_hdr;
    for (int i = 0; i < c->n_hdr; i++) {
        const char *name = c->hstore.data + c->hoff_name[i];
        char *value = trim(c->hstore.data + c->hoff_value[i]);
        r.hname[i] = name;
        r.hvalue[i] = value;
        switch (name[0]) {
        case 'h':
            if (strcmp(name, "host") == 0)
                r.host = value;
            break;
        case 'c':
            if (strcmp(name, "content-type") == 0)
                r.content_type = value;
            else if (strcmp(name, "content-encoding") == 0)
                r.content_encoding = value;
            break;
        case 'a':
            if (strcmp(name, "accept-encoding") == 0)
                r.accept_encoding = value;
            else if (strcmp(name, "authorization") == 0) {
                r.authorization = value;
                r.n_authorization++;
            }
            break;
        case 'o':
            if (strcmp(name, "origin") == 0)
                r.origin = value;
            break;
        case 'i':
            if (strcmp(name, "inference-header-content-length") == 0)
                r.inference_header = value;
            break;
        default:
            break;
        }
    }
    if (r.accept_encoding && strstr(r.accept_encoding, "gzip"))
        r.accept_gzip = 1;
    if (c->reject_status) {
        if (!c->reject_answered)
            http_respond_error(&r, c->reject_status,
                               c->reject_msg ? c->reject_msg : "unavailable", NULL);
        else if (!r.keep_alive)
            c->close_after_write = 1;
        return;
    }
    if (p->method == HTTP_TRACE || p->method == HTTP_CONNECT ||
        (p->method != HTTP_GET && p->method != HTTP_HEAD && p->method != HTTP_POST &&
         p->method != HTTP_PUT && p->method != HTTP_DELETE && p->method != HTTP_PATCH &&
         p->method != HTTP_OPTIONS)) {
        http_respond_error(&r, 501, "method not implemented", NULL);
        return;
    }
    buf_putc(&c->body, 0);
    if (c->body.oom) {
        http_respond_error(&r, 503, "memory budget exceeded", NULL);
        return;
    }
    c->body.len--;
    int st = decode_body(c, r.content_encoding, &r.body, &r.body_len);
    if (st) {
        r.keep_alive = r.keep_alive && st != 413;
        http_respond_error(&r, st, c->err_msg, NULL);
        return;
    }
    c->served = 1;
    c->handler(c->ctx, &r);
    if (c->deferred)
        return; /* the body stays in use until the answer is back */
    /* Give big buffers back between requests. */
    if (c->body.cap > (4u << 20))
        buf_free(&c->body);
    if (c->inflated.cap > (4u << 20))
        buf_free(&c->inflated);
}

const char *http_req_header(const struct http_req *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++)
        if (strcmp(r->hname[i], name) == 0)
            return r->hvalue[i];
    return NULL;
}

static void conn_reset_message(struct http_conn *c)
{
    c->in_head = 1;
    hs_reset(&c->hs);
    memset(&c->cs, 0, sizeof(c->cs));
    c->t_first_ns = 0;
}

/* Parse what is buffered; dispatch complete requests. */
static void conn_process(struct http_conn *c)
{
    while (c->in_off < c->in_len && !c->closing && !c->deferred) {
        if (unsent(c) > c->lim->max_unsent)
            break; /* resumed when the socket drains */
        char *p = c->in + c->in_off;
        size_t n = c->in_len - c->in_off;
        size_t head_used = 0; /* bytes of p that belong to the head */
        if (c->in_head) {
            if (!c->t_first_ns)
                c->t_first_ns = c->t_last_read_ns ? c->t_last_read_ns : http_now_ns();
            int done;
            head_used = head_scan(c, p, n, &done);
            if (c->err_status) {
                respond_early(c, c->err_status, c->err_msg);
                break;
            }
            if (done)
                c->in_head = 0;
            c->body_avail = done ? n - head_used : 0;
        }
        size_t used = http_parser_execute(&c->parser, &parser_settings, p, n);
        c->in_off += used;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (!c->in_head && (c->parser.flags & F_CHUNKED) && used > head_used &&
            chunk_scan(c, p + head_used, used - head_used) != 0) {
            respond_early(c, c->err_status, c->err_msg);
            break;
        }
        if (e == HPE_PAUSED && c->msg_complete) {
            http_parser_pause(&c->parser, 0);
            c->msg_complete = 0;
            dispatch(c);
            conn_reset_message(c);
            if (c->deferred) {
                /* No further request is parsed until the answer is back;
                 * reading goes on (up to a bound) so that a client that
                 * goes away is noticed and its work cancelled. */
                break;
            }
            conn_uncharge(c);
            if (c->close_after_write) {
                c->closing = 1;
                break;
            }
            continue;
        }
        if (e != HPE_OK) {
            /* Name the problem the way the catalogue does; http-parser
             * reports several of them under other errnos. */
            int in_body = !c->in_head && !(c->parser.flags & F_TRAILING);
            if (c->err_status)
                respond_early(c, c->err_status, c->err_msg);
            else if (e == HPE_INVALID_CHUNK_SIZE ||
                     (e == HPE_INVALID_CONTENT_LENGTH && in_body && (c->parser.flags & F_CHUNKED)))
                respond_early(c, 400, "invalid chunk size");
            else if (e == HPE_HEADER_OVERFLOW && in_body)
                respond_early(c, 400, "chunk extension too long");
            else if (e == HPE_HEADER_OVERFLOW)
                respond_early(c, 431, "header too large");
            else if (e == HPE_INVALID_METHOD)
                respond_early(c, 501, "method not implemented");
            else if (e == HPE_UNEXPECTED_CONTENT_LENGTH && has_te_and_cl(c))
                respond_early(c, 400, "conflicting content-length and transfer-encoding");
            else if (e == HPE_INVALID_CONTENT_LENGTH || e == HPE_UNEXPECTED_CONTENT_LENGTH)
                respond_early(c, 400, "invalid content-length");
            else
                respond_early(c, 400, "malformed request");
            break;
        }
        if (used < n) {
            respond_early(c, 400, "malformed request");
            break;
        }
    }
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    conn_flush(c);
}

/* ------------------------------------------------------------------ */
/* Sockets                                                             */

static void on_write(uv_write_t *req, int status);

static void conn_flush(struct http_conn *c)
{
    if (!c->loop) {
        if (c->closing)
            c->detached_closed = 1;
        return; /* detached: output stays in c->out */
    }
    if (c->writing || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (c->out.len) {
        uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
        int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (w == UV_EAGAIN)
            w = 0;
        if (w < 0) {
            conn_close(c);
            return;
        }
        if ((size_t)w < c->out.len) {
            /* Hand the rest to a queued write; swap buffers so new answers
             * go on accumulating in `out`. */
            struct axle_buf t = c->wbuf;
            c->wbuf = c->out;
            c->out = t;
            buf_reset(&c->out);
            memmove(c->wbuf.data, c->wbuf.data + w, c->wbuf.len - (size_t)w);
            c->wbuf.len -= (size_t)w;
            uv_buf_t rb = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
            c->writing = 1;
            if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &rb, 1, on_write) != 0) {
                c->writing = 0;
                conn_close(c);
                return;
            }
        } else {
            buf_reset(&c->out);
        }
    }
    if (!c->writing && c->close_after_write && c->closing) {
        conn_close(c);
        return;
    }
    /* Back-pressure: stop reading while too much is unsent. */
    if (unsent(c) > c->lim->max_unsent) {
        if (!c->reading_stopped) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading_stopped = 1;
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void on_write(uv_write_t *req, int status)
{
    struct http_conn *c = req->data;
    c->writing = 0;
    buf_reset(&c->wbuf);
    if (c->wbuf.cap > (4u << 20))
        buf_free(&c->wbuf);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->reading_stopped && unsent(c) <= c->lim->max_unsent && !c->closing && !c->deferred) {
        c->reading_stopped = 0;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        conn_process(c); /* requests that were held back */
        return;
    }
    conn_flush(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct http_conn *c = h->data;
    (void)suggested;
    if (c->in_cap - c->in_len < 4096) {
        size_t cap = c->in_cap ? c->in_cap * 2 : IN_CHUNK;
        if (c->in_off) {
            memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
            c->in_len -= c->in_off;
            c->in_off = 0;
            cap = c->in_cap;
        }
        if (cap != c->in_cap) {
            char *p = axle_try_realloc(c->in, cap);
            if (!p) {
                *b = uv_buf_init(NULL, 0);
                return;
            }
            c->in = p;
            c->in_cap = cap;
        }
    }
    *b = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct http_conn *c = s->data;
    (void)b;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->t_last_read_ns = http_now_ns();
    c->in_len += (size_t)nread;
    if (c->deferred) {
        /* Waiting for an answer: hold what arrives, within a bound. */
        if (c->in_len - c->in_off > DEFERRED_MAX_INPUT && !c->reading_stopped) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading_stopped = 1;
        }
        return;
    }
    conn_process(c);
}

static void conn_free_bufs(struct http_conn *c)
{
    free(c->in);
    buf_free(&c->hstore);
    buf_free(&c->body);
    buf_free(&c->inflated);
    buf_free(&c->out);
    buf_free(&c->wbuf);
}

static void on_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    struct http_loop *l = c->loop;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->n_conns--;
    atomic_fetch_sub(&l->srv->conn_count, 1);
    struct http_deferred *d = c->deferred;
    if (d) {
        d->conn = NULL; /* its answer is dropped on arrival */
        if (d->cancel && d->cancel(d->arg)) {
            /* The work was withdrawn: no answer will come. */
            free(d);
            atomic_fetch_sub(&l->srv->deferred_pending, 1);
        }
    }
    conn_uncharge(c);
    conn_free_bufs(c);
    free(c);
}

static void conn_close(struct http_conn *c)
{
    c->closing = 1;
    if (!c->loop) {
        c->detached_closed = 1;
        return;
    }
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void conn_init(struct http_conn *c, const struct http_limits *l,
                      http_handler_fn fn, void *ctx)
{
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->lim = l;
    c->handler = fn;
    c->ctx = ctx;
    buf_init(&c->hstore);
    c->hstore.limit = l->max_header_bytes + l->max_request_line + 4096;
    buf_init(&c->body);
    buf_init(&c->inflated);
    buf_init(&c->out);
    buf_init(&c->wbuf);
    conn_reset_message(c);
}

static void free_unaccepted(uv_handle_t *h)
{
    free(h->data);
}

/* A connection whose socket is open in c->tcp: register and start it. */
static void conn_start(struct http_loop *l, struct http_conn *c)
{
    struct http_server *srv = l->srv;
    conn_init(c, &srv->o.limits, srv->o.handler, srv->o.ctx);
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->n_conns++;
    size_t total = atomic_fetch_add(&srv->conn_count, 1) + 1;
    c->t_last_read_ns = http_now_ns();
    if (total > srv->o.limits.max_conns || atomic_load(&srv->stopping)) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct http_loop *l = server->data;
    if (status < 0)
        return;
    struct http_conn *c = axle_try_calloc(1, sizeof(*c));
    if (!c) {
        uv_tcp_t tmp;
        /* Cannot serve it: accept and drop. */
        if (uv_tcp_init(&l->loop, &tmp) == 0) {
            uv_accept(server, (uv_stream_t *)&tmp);
            uv_close((uv_handle_t *)&tmp, NULL);
        }
        return;
    }
    uv_tcp_init(&l->loop, &c->tcp);
    c->tcp.data = c;
    c->wreq.data = c;
    c->loop = l;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, free_unaccepted);
        return;
    }
    conn_start(l, c);
}

/* Before a listener closes: take the connections the kernel has already
 * completed (closing the socket would reset them, and their clients have
 * sent requests they believe accepted). They are served like any other,
 * with Connection: close once the server is closing. */
static void accept_backlog(struct http_loop *l)
{
    uv_os_fd_t lfd;
    if (uv_fileno((uv_handle_t *)&l->listener, &lfd) != 0)
        return;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN: the queue is empty */
        }
        struct http_conn *c = axle_try_calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        uv_tcp_init(&l->loop, &c->tcp);
        c->tcp.data = c;
        c->wreq.data = c;
        c->loop = l;
        if (uv_tcp_open(&c->tcp, fd) != 0) {
            close(fd);
            uv_close((uv_handle_t *)&c->tcp, free_unaccepted);
            continue;
        }
        conn_start(l, c);
    }
}

/* Bytes the kernel holds for c that have not been read yet. */
static int unread_input(struct http_conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, FIONREAD, &n) != 0)
        return 0;
    return n > 0;
}

/* Once a second: timeouts, and the closing state. */
static void on_sweep(uv_timer_t *t)
{
    struct http_loop *l = t->data;
    struct http_server *srv = l->srv;
    uint64_t now = http_now_ns();
    int closing = atomic_load(&srv->closing);
    const struct http_limits *lim = &srv->o.limits;
    for (struct http_conn *c = l->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing || c->deferred)
            continue;
        int idle_between = c->in_head && c->hs.total == 0 && c->in_len == c->in_off;
        if (idle_between) {
            /* Closing: idle keep-alive connections go. Not one whose next
             * request is already waiting in the kernel (it is read and
             * answered, with Connection: close), nor one accepted moments
             * ago that has not sent its first request yet. */
            if (closing && !c->writing && c->out.len == 0 &&
                (c->served || now - c->t_last_read_ns > 1000000000u) && !unread_input(c)) {
                conn_close(c);
                continue;
            }
            if ((double)(now - c->t_last_read_ns) > lim->idle_timeout * 1e9 && !c->writing)
                conn_close(c);
            continue;
        }
        if (c->in_head) {
            if (c->t_first_ns && (double)(now - c->t_first_ns) > lim->header_timeout * 1e9) {
                respond_early(c, 408, "request header timeout");
                conn_flush(c);
            }
        } else if ((double)(now - c->t_last_read_ns) > lim->body_timeout * 1e9) {
            respond_early(c, 408, "request body timeout");
            conn_flush(c);
        }
    }
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        if (h->type == UV_TCP && h->data && h->data != h->loop->data) {
            struct http_conn *c = h->data;
            if (c->loop && &c->tcp == (uv_tcp_t *)h) {
                conn_close(c);
                return;
            }
        }
        uv_close(h, NULL);
    }
}

/* On the loop thread: hand a deferred answer to its connection. */
static void deliver(struct http_deferred *d)
{
    struct http_conn *c = d->conn;
    if (d->resume && (!c || c->closing)) {
        if (c)
            c->deferred = NULL;
        d->resume(d->arg, NULL);
    } else if (c && !c->closing) {
        c->deferred = NULL;
        if (d->resume)
            d->resume(d->arg, &d->req);
        else
            http_respond(&d->req, d->status, d->content_type, d->extra_headers, d->body,
                         d->len);
        conn_uncharge(c);
        if (c->body.cap > (4u << 20))
            buf_free(&c->body);
        if (c->inflated.cap > (4u << 20))
            buf_free(&c->inflated);
        if (c->close_after_write)
            c->closing = 1;
        if (c->reading_stopped && !c->closing && unsent(c) <= c->lim->max_unsent) {
            c->reading_stopped = 0;
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        }
        conn_process(c); /* pipelined requests held back; flushes */
    } else if (c) {
        c->deferred = NULL;
    }
    struct http_server *srv = d->loop->srv;
    free(d->body);
    free(d);
    atomic_fetch_sub(&srv->deferred_pending, 1);
}

struct http_deferred *http_defer(struct http_req *r)
{
    struct http_conn *c = r->conn;
    if (!c->loop || c->deferred)
        return NULL;
    struct http_deferred *d = axle_try_calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->loop = c->loop;
    d->conn = c;
    d->req = *r;
    c->deferred = d;
    atomic_fetch_add(&c->loop->srv->deferred_pending, 1);
    return d;
}

struct http_deferred *http_defer_call(struct http_req *r, http_resume_fn resume,
                                      http_cancel_fn cancel, void *arg)
{
    struct http_deferred *d = http_defer(r);
    if (d) {
        d->resume = resume;
        d->cancel = cancel;
        d->arg = arg;
    }
    return d;
}

void http_undefer(struct http_deferred *d)
{
    struct http_conn *c = d->conn;
    c->deferred = NULL;
    atomic_fetch_sub(&d->loop->srv->deferred_pending, 1);
    free(d);
}

static void post_done(struct http_deferred *d)
{
    struct http_loop *l = d->loop;
    uv_mutex_lock(&l->done_mu);
    d->next = l->done;
    l->done = d;
    uv_mutex_unlock(&l->done_mu);
    uv_async_send(&l->wake);
}

void http_deferred_resume(struct http_deferred *d)
{
    post_done(d);
}

void http_deferred_respond(struct http_deferred *d, int status, const char *content_type,
                           const char *extra_headers, const void *body, size_t len)
{
    d->status = status;
    d->content_type = content_type;
    d->extra_headers = NULL;
    d->body = NULL;
    d->len = 0;
    /* Body and headers in one copy: the caller's may be gone by delivery. */
    size_t hlen = extra_headers ? strlen(extra_headers) + 1 : 0;
    if (len || hlen) {
        d->body = axle_try_malloc(len + hlen);
        if (d->body) {
            if (len)
                memcpy(d->body, body, len);
            d->len = len;
            if (hlen) {
                memcpy(d->body + len, extra_headers, hlen);
                d->extra_headers = d->body + len;
            }
        } else {
            d->status = 503;
            d->content_type = NULL;
            d->extra_headers = "Retry-After: 1\r\n";
        }
    }
    post_done(d);
}

static void on_wake(uv_async_t *a)
{
    struct http_loop *l = a->data;
    struct http_server *srv = l->srv;
    uv_mutex_lock(&l->done_mu);
    struct http_deferred *d = l->done;
    l->done = NULL;
    uv_mutex_unlock(&l->done_mu);
    /* Posted newest first: deliver in the order they finished. */
    struct http_deferred *fifo = NULL;
    while (d) {
        struct http_deferred *next = d->next;
        d->next = fifo;
        fifo = d;
        d = next;
    }
    d = fifo;
    while (d) {
        struct http_deferred *next = d->next;
        deliver(d);
        d = next;
    }
    if (atomic_load(&srv->stop_accepting) && l->listening) {
        l->listening = 0;
        accept_backlog(l);
        uv_close((uv_handle_t *)&l->listener, NULL); /* the fd closes here */
        atomic_fetch_sub(&srv->n_listening, 1);
    }
    if (atomic_load(&srv->closing))
        on_sweep(&l->sweep);
    if (atomic_load(&srv->stopping)) {
        if (l->listening)
            atomic_fetch_sub(&srv->n_listening, 1);
        l->listening = 0;
        uv_walk(&l->loop, close_walk, NULL);
    }
}

static __thread int thread_index;

int http_thread_index(void)
{
    return thread_index;
}

static void loop_main(void *arg)
{
    struct http_loop *l = arg;
    thread_index = (int)(l - l->srv->loops);
    uv_run(&l->loop, UV_RUN_DEFAULT);
}

static int open_listener(struct http_server *s, struct http_loop *l,
                         const char *host, int port, struct axle_err *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int family;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0)
        family = AF_INET;
    else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0)
        family = AF_INET6;
    else
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid listen address (numeric IPv4 or IPv6 expected)");
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return axle_err_set(err, AXLE_INTERNAL, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        return axle_err_set(err, AXLE_UNAVAILABLE, "cannot listen on port %d: %s", port,
                            strerror(e));
    }
    if (listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return axle_err_set(err, AXLE_UNAVAILABLE, "listen: %s", strerror(e));
    }
    if (port == 0) {
        struct sockaddr_storage got;
        socklen_t gl = sizeof(got);
        getsockname(fd, (struct sockaddr *)&got, &gl);
        s->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                          : ((struct sockaddr_in6 *)&got)->sin6_port);
    }
    uv_tcp_init(&l->loop, &l->listener);
    l->listener.data = l;
    if (uv_tcp_open(&l->listener, fd) != 0 ||
        uv_listen((uv_stream_t *)&l->listener, 1024, on_connection) != 0) {
        close(fd);
        return axle_err_set(err, AXLE_INTERNAL, "cannot start listener");
    }
    l->listening = 1;
    atomic_fetch_add(&s->n_listening, 1);
    return AXLE_OK;
}

enum axle_status http_server_start(const struct http_server_opts *o,
                                   struct http_server **out, struct axle_err *err)
{
    struct http_server *s = axle_xcalloc(1, sizeof(*s));
    s->o = *o;
    if (s->o.n_threads < 1)
        s->o.n_threads = 1;
    s->n_loops = s->o.n_threads;
    s->loops = axle_xcalloc((size_t)s->n_loops, sizeof(*s->loops));
    s->port = o->port;
    for (int i = 0; i < s->n_loops; i++) {
        struct http_loop *l = &s->loops[i];
        l->srv = s;
        uv_loop_init(&l->loop);
        l->loop.data = l;
        uv_async_init(&l->loop, &l->wake, on_wake);
        uv_mutex_init(&l->done_mu);
        l->wake.data = l;
        uv_timer_init(&l->loop, &l->sweep);
        l->sweep.data = l;
        uv_timer_start(&l->sweep, on_sweep, 1000, 1000);
        /* The first listener may pick the port; the others reuse it. */
        enum axle_status st = open_listener(s, l, o->host, s->port, err);
        if (st != AXLE_OK) {
            s->n_loops = i + 1;
            http_server_free(s);
            return st;
        }
    }
    for (int i = 0; i < s->n_loops; i++)
        uv_thread_create(&s->loops[i].thread, loop_main, &s->loops[i]);
    *out = s;
    return AXLE_OK;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

static void wake_all(struct http_server *s)
{
    for (int i = 0; i < s->n_loops; i++)
        uv_async_send(&s->loops[i].wake);
}

void http_server_stop_accepting(struct http_server *s)
{
    atomic_store(&s->stop_accepting, 1);
    wake_all(s);
}

void http_server_closing(struct http_server *s)
{
    atomic_store(&s->closing, 1);
    wake_all(s);
}

int http_server_n_listening(const struct http_server *s)
{
    return atomic_load(&s->n_listening);
}

size_t http_server_conn_count(const struct http_server *s)
{
    return atomic_load(&s->conn_count);
}

uint64_t http_server_requests(const struct http_server *s)
{
    return atomic_load(&((struct http_server *)s)->requests);
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    int started = 0;
    for (int i = 0; i < s->n_loops; i++)
        if (s->loops[i].thread)
            started = 1;
    /* Answers still being prepared (model loads) are delivered, or dropped
     * with their connection, by the loops: keep them running until then. */
    while (started && atomic_load(&s->deferred_pending) > 0) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&s->stopping, 1);
    if (started) {
        wake_all(s);
        for (int i = 0; i < s->n_loops; i++)
            uv_thread_join(&s->loops[i].thread);
    } else {
        for (int i = 0; i < s->n_loops; i++) {
            uv_walk(&s->loops[i].loop, close_walk, NULL);
            uv_run(&s->loops[i].loop, UV_RUN_DEFAULT);
        }
    }
    for (int i = 0; i < s->n_loops; i++) {
        uv_loop_close(&s->loops[i].loop);
        uv_mutex_destroy(&s->loops[i].done_mu);
    }
    free(s->loops);
    free(s);
}

/* ------------------------------------------------------------------ */
/* Detached connections (fuzzing, unit tests)                          */

struct http_conn *http_conn_detached(const struct http_limits *l, http_handler_fn fn,
                                     void *ctx)
{
    struct http_conn *c = axle_xcalloc(1, sizeof(*c));
    conn_init(c, l, fn, ctx);
    return c;
}

int http_conn_feed(struct http_conn *c, const void *p, size_t n)
{
    if (c->detached_closed || c->closing)
        return -1;
    if (c->in_cap - c->in_len < n) {
        size_t need = c->in_len + n;
        char *q = axle_try_realloc(c->in, need);
        if (!q)
            return -1;
        c->in = q;
        c->in_cap = need;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    conn_process(c);
    return c->closing ? -1 : 0;
}

const struct axle_buf *http_conn_output(struct http_conn *c)
{
    return &c->out;
}

void http_conn_output_clear(struct http_conn *c)
{
    buf_reset(&c->out);
}

void http_conn_detached_free(struct http_conn *c)
{
    if (!c)
        return;
    conn_free_bufs(c);
    free(c);
}
