/*
 * bench_req.c - what `axle bench` sends: the URL, the inputs (read from a
 * model's OIP metadata, or given on the command line, filled with
 * deterministic pseudo-random values) and the request, built once as the
 * exact bytes every connection writes.
 *
 * Wire formats (docs/bench.md):
 *   v2-json    POST /v2/models/M/infer  {"inputs":[{"name","shape","datatype","data":[...]}]}
 *   v2-binary  the same JSON header with "parameters":{"binary_data_size":N} per
 *              input and "binary_data_output":true, then the raw little-endian
 *              bytes (Triton binary tensor extension, Inference-Header-Content-Length)
 *   v1         POST /v1/models/M:predict  {"instances":[row, ...]} (rows of the first
 *              dimension; {name: row} objects for several inputs)
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include "base/alloc.h"
#include "base/err.h"
#include "cli/bench.h"
#include "serve/json.h"

/* ------------------------------------------------------------------ */
/* URL                                                                 */

enum axle_status axle_bench_url_parse(const char *s, struct axle_bench_url *u,
                                      struct axle_err *err)
{
    memset(u, 0, sizeof(*u));
    if (strncmp(s, "https://", 8) == 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "https is not supported; give an http:// URL");
    if (strncmp(s, "http://", 7) != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "URL must start with http:// (got '%.100s')", s);
    const char *p = s + 7, *host, *host_end, *auth_end;
    auth_end = p + strcspn(p, "/?#");
    if (strpbrk(auth_end, "?#"))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "URL must not have a query or fragment");
    if (memchr(p, '@', (size_t)(auth_end - p)))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "URL must not carry credentials");
    const char *port = NULL;
    if (*p == '[') { /* IPv6 literal */
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (!host_end)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "URL has an unclosed '['");
        if (host_end + 1 < auth_end) {
            if (host_end[1] != ':')
                return axle_err_set(err, AXLE_INVALID_ARGUMENT, "bad URL host");
            port = host_end + 2;
        }
    } else {
        host = p;
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (host_end)
            port = host_end + 1;
        else
            host_end = auth_end;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof(u->host))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "URL has no host");
    memcpy(u->host, host, hl);
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)u->host[i];
        if (c <= ' ' || c >= 0x7f || c == '/' || c == '\\')
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "bad URL host");
    }
    if (port) {
        size_t pl = (size_t)(auth_end - port);
        long v = 0;
        if (pl == 0 || pl > 5)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "bad URL port");
        for (size_t i = 0; i < pl; i++) {
            if (port[i] < '0' || port[i] > '9')
                return axle_err_set(err, AXLE_INVALID_ARGUMENT, "bad URL port");
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "URL port out of range");
        snprintf(u->port, sizeof(u->port), "%ld", v);
    } else {
        snprintf(u->port, sizeof(u->port), "80");
    }
    size_t al = (size_t)(auth_end - p);
    if (al >= sizeof(u->host_hdr))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "URL host too long");
    memcpy(u->host_hdr, p, al);
    /* Path prefix: kept as written (it is sent as is), minus trailing '/'. */
    size_t bl = strlen(auth_end);
    while (bl > 0 && auth_end[bl - 1] == '/')
        bl--;
    if (bl >= sizeof(u->base))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "URL path too long");
    for (size_t i = 0; i < bl; i++) {
        unsigned char c = (unsigned char)auth_end[i];
        if (c <= ' ' || c >= 0x7f)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "bad character in URL path");
    }
    memcpy(u->base, auth_end, bl);
    return AXLE_OK;
}

enum axle_status axle_bench_resolve(const struct axle_bench_url *u,
                                    struct sockaddr_storage *addr, socklen_t *addr_len,
                                    struct axle_err *err)
{
    struct addrinfo hints, *res = NULL, *pick = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "cannot resolve '%.200s': %s",
                            u->host, gai_strerror(rc));
    /* Servers bound to 127.0.0.1 are the common case: prefer IPv4. */
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    if (!pick)
        pick = res;
    if (!pick || pick->ai_addrlen > sizeof(*addr)) {
        freeaddrinfo(res);
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "cannot resolve '%.200s'", u->host);
    }
    memset(addr, 0, sizeof(*addr));
    memcpy(addr, pick->ai_addr, pick->ai_addrlen);
    *addr_len = pick->ai_addrlen;
    freeaddrinfo(res);
    return AXLE_OK;
}

/* ------------------------------------------------------------------ */
/* Datatypes                                                           */

static const struct {
    enum axle_dtype dt;
    const char *name;
} dtypes[] = {
    {AXLE_DTYPE_BOOL, "BOOL"},     {AXLE_DTYPE_UINT8, "UINT8"},   {AXLE_DTYPE_UINT16, "UINT16"},
    {AXLE_DTYPE_UINT32, "UINT32"}, {AXLE_DTYPE_UINT64, "UINT64"}, {AXLE_DTYPE_INT8, "INT8"},
    {AXLE_DTYPE_INT16, "INT16"},   {AXLE_DTYPE_INT32, "INT32"},   {AXLE_DTYPE_INT64, "INT64"},
    {AXLE_DTYPE_FLOAT16, "FP16"},  {AXLE_DTYPE_FLOAT32, "FP32"},  {AXLE_DTYPE_FLOAT64, "FP64"},
    {AXLE_DTYPE_BFLOAT16, "BF16"}, {AXLE_DTYPE_STRING, "BYTES"},
};
#define N_DTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

enum axle_dtype axle_bench_dtype_parse(const char *s)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(dtypes[i].name, s) == 0)
            return dtypes[i].dt;
    if (strcmp(s, "STRING") == 0)
        return AXLE_DTYPE_STRING;
    return AXLE_DTYPE_UNDEFINED;
}

const char *axle_bench_dtype_name(enum axle_dtype dt)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dt == dt)
            return dtypes[i].name;
    return "INVALID";
}

/* ------------------------------------------------------------------ */
/* The metadata GET (one blocking request, bounded in time and size)   */

#define META_TIMEOUT_MS 10000
#define META_MAX_BODY (4u << 20)

struct get_state {
    struct axle_buf body;
    int done;
};

static int get_on_body(http_parser *p, const char *at, size_t len)
{
    struct get_state *g = p->data;
    buf_put(&g->body, at, len);
    return g->body.oom ? -1 : 0;
}

static int get_on_complete(http_parser *p)
{
    struct get_state *g = p->data;
    g->done = 1;
    http_parser_pause(p, 1);
    return 0;
}


/* A blocking connection with a connect timeout, then send/receive timeouts. */
static int dial(const struct sockaddr_storage *addr, socklen_t len, int ms, int *err_no)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err_no = errno;
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)addr, len) < 0) {
        if (errno != EINPROGRESS) {
            *err_no = errno;
            close(fd);
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        int rc = poll(&pfd, 1, ms);
        if (rc <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
            *err_no = rc == 0 ? ETIMEDOUT : soerr ? soerr : errno;
            close(fd);
            return -1;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Back to blocking, with timeouts on every send and receive. */
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        *err_no = errno;
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* GET path; on success *status and g->body hold the answer. */
static enum axle_status http_get(const struct axle_bench_url *u,
                                 const struct sockaddr_storage *addr, socklen_t addr_len,
                                 const char *path, const char *token, int *status,
                                 struct get_state *g, struct axle_err *err)
{
    struct axle_buf req;
    enum axle_status st = AXLE_OK;
    int e = 0, fd = dial(addr, addr_len, META_TIMEOUT_MS, &e);
    if (fd < 0)
        return axle_err_set(err, AXLE_UNAVAILABLE, "cannot connect to %.200s:%s: %s",
                            u->host, u->port, strerror(e));
    buf_init(&req);
    buf_printf(&req, "GET %s%s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n", u->base,
               path, u->host_hdr);
    if (token)
        buf_printf(&req, "Authorization: Bearer %s\r\n", token);
    buf_puts(&req, "Connection: close\r\n\r\n");
    if (req.oom || send_all(fd, req.data, req.len) < 0) {
        st = axle_err_set(err, AXLE_UNAVAILABLE, "GET %.200s: cannot send: %s", path,
                          strerror(errno));
        goto out;
    }

    http_parser hp;
    http_parser_settings cb;
    http_parser_settings_init(&cb);
    cb.on_body = get_on_body;
    cb.on_message_complete = get_on_complete;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = g;
    char rb[16384];
    while (!g->done) {
        ssize_t n = recv(fd, rb, sizeof(rb), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = axle_err_set(err, AXLE_UNAVAILABLE, "GET %.200s: %s", path,
                              errno == EAGAIN ? "no answer within 10 s" : strerror(errno));
            goto out;
        }
        size_t k = http_parser_execute(&hp, &cb, rb, (size_t)n); /* n == 0: EOF */
        if (!g->done && (HTTP_PARSER_ERRNO(&hp) != HPE_OK || k != (size_t)n)) {
            st = axle_err_set(err, AXLE_UNAVAILABLE, "GET %.200s: %s", path,
                              g->body.oom ? "answer too large" : "malformed answer");
            goto out;
        }
        if (n == 0 && !g->done) {
            st = axle_err_set(err, AXLE_UNAVAILABLE, "GET %.200s: connection closed early",
                              path);
            goto out;
        }
    }
    *status = hp.status_code;
out:
    buf_free(&req);
    close(fd);
    return st;
}

static void url_path_segment(struct axle_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            buf_putc(b, (char)c);
        } else {
            buf_putc(b, '%');
            buf_putc(b, hex[c >> 4]);
            buf_putc(b, hex[c & 15]);
        }
    }
}

/* The first bytes of a body, printable, for an error message. */
static void body_snippet(const struct axle_buf *b, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < b->len && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)b->data[i];
        out[o++] = c >= ' ' && c < 0x7f ? (char)c : ' ';
    }
    out[o] = 0;
}

enum axle_status axle_bench_metadata(const struct axle_bench_url *u,
                                     const struct sockaddr_storage *addr, socklen_t addr_len,
                                     const char *model, const char *token,
                                     struct axle_bench_input *inputs, int *n_out,
                                     struct axle_err *err)
{
    struct get_state g = {.done = 0};
    struct axle_buf path;
    struct json_doc d;
    enum axle_status st;
    int status = 0;

    *n_out = 0;
    buf_init(&g.body);
    g.body.limit = META_MAX_BODY;
    buf_init(&path);
    json_doc_init(&d);
    buf_puts(&path, "/v2/models/");
    url_path_segment(&path, model);
    buf_putc(&path, 0);
    if (path.oom) {
        st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    st = http_get(u, addr, addr_len, path.data, token, &status, &g, err);
    if (st != AXLE_OK)
        goto out;
    if (status != 200) {
        char snip[120];
        body_snippet(&g.body, snip, sizeof(snip));
        st = axle_err_set(err, status == 404 ? AXLE_NOT_FOUND : AXLE_UNAVAILABLE,
                          "GET %.200s answered %d %s", path.data, status, snip);
        goto out;
    }
    if (!buf_reserve(&g.body, 1) ||
        json_parse(&d, g.body.data, g.body.len, err) != AXLE_OK ||
        json_tok(&d, 0)->type != JSON_OBJECT) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "GET %.200s: the answer is not a JSON object",
                          path.data);
        goto out;
    }
    uint32_t ins = json_get(&d, 0, "inputs");
    if (!ins || json_tok(&d, ins)->type != JSON_ARRAY || json_tok(&d, ins)->size == 0) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "GET %.200s: metadata lists no inputs",
                          path.data);
        goto out;
    }
    if (json_tok(&d, ins)->size > AXLE_BENCH_MAX_INPUTS) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "model has more than %d inputs",
                          AXLE_BENCH_MAX_INPUTS);
        goto out;
    }
    int n = 0;
    for (uint32_t t = ins + 1; t < json_next(&d, ins); t = json_next(&d, t), n++) {
        struct axle_bench_input *in = &inputs[n];
        uint32_t tn = json_get(&d, t, "name"), tdt = json_get(&d, t, "datatype"),
                 ts = json_get(&d, t, "shape");
        memset(in, 0, sizeof(*in));
        if (!tn || !tdt || !ts || json_tok(&d, tn)->type != JSON_STRING ||
            json_tok(&d, tdt)->type != JSON_STRING || json_tok(&d, ts)->type != JSON_ARRAY ||
            json_tok(&d, tn)->size > AXLE_BENCH_MAX_NAME) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "metadata input %d lacks a name, datatype or shape", n);
            goto out;
        }
        memcpy(in->name, json_str(&d, tn), json_tok(&d, tn)->size);
        in->dtype = axle_bench_dtype_parse(json_str(&d, tdt));
        if (in->dtype == AXLE_DTYPE_UNDEFINED) {
            st = axle_err_set(err, AXLE_UNIMPLEMENTED, "input '%s': unknown datatype '%.32s'",
                              in->name, json_str(&d, tdt));
            goto out;
        }
        if (json_tok(&d, ts)->size > AXLE_MAX_RANK) {
            st = axle_err_set(err, AXLE_UNIMPLEMENTED, "input '%s': rank above %d", in->name,
                              AXLE_MAX_RANK);
            goto out;
        }
        for (uint32_t k = ts + 1; k < json_next(&d, ts); k = json_next(&d, k)) {
            int64_t v;
            if (json_to_int64(&d, k, &v) < 0) {
                st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "input '%s': bad shape", in->name);
                goto out;
            }
            in->dims[in->rank++] = v < 0 ? 1 : v; /* -1 (dynamic) -> 1 */
        }
    }
    *n_out = n;
    st = AXLE_OK;
out:
    json_doc_free(&d);
    buf_free(&path);
    buf_free(&g.body);
    return st;
}

/* ------------------------------------------------------------------ */
/* Input values                                                        */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define BYTES_ELEM_LEN 8

static void put_le(unsigned char *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

enum axle_status axle_bench_input_fill(struct axle_bench_input *in, uint64_t seed,
                                       struct axle_err *err)
{
    int64_t n = 1;
    size_t esz, nbytes;
    for (int i = 0; i < in->rank; i++) {
        if (in->dims[i] < 0 || __builtin_mul_overflow(n, in->dims[i], &n))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "input '%s': bad shape", in->name);
    }
    esz = in->dtype == AXLE_DTYPE_STRING ? 4 + BYTES_ELEM_LEN : axle_dtype_size(in->dtype);
    if (esz == 0)
        return axle_err_set(err, AXLE_UNIMPLEMENTED, "input '%s': unsupported datatype",
                            in->name);
    if ((uint64_t)n > SIZE_MAX / esz || (nbytes = (size_t)n * esz) > AXLE_BENCH_MAX_BODY)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "input '%s': %lld elements is too large a request", in->name,
                            (long long)n);
    unsigned char *p = axle_try_malloc(nbytes ? nbytes : 1);
    if (!p)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory for input '%s'",
                            in->name);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = splitmix64(&s);
        unsigned char *e = p + (size_t)i * esz;
        switch (in->dtype) {
        case AXLE_DTYPE_FLOAT32: {
            float f = (float)(r >> 40) * (1.0f / 16777216.0f); /* [0, 1) */
            memcpy(e, &f, 4);
            break;
        }
        case AXLE_DTYPE_FLOAT64: {
            double f = (double)(r >> 11) * (1.0 / 9007199254740992.0);
            memcpy(e, &f, 8);
            break;
        }
        case AXLE_DTYPE_FLOAT16: /* [0.125, 1): exponent 12..14, any mantissa */
            put_le(e, 0x3000 + r % 0x0c00, 2);
            break;
        case AXLE_DTYPE_BFLOAT16: { /* the upper half of an FP32 in [0, 1) */
            float f = (float)(r >> 40) * (1.0f / 16777216.0f);
            uint32_t bits;
            memcpy(&bits, &f, 4);
            put_le(e, bits >> 16, 2);
            break;
        }
        case AXLE_DTYPE_BOOL:
            e[0] = (unsigned char)(r & 1);
            break;
        case AXLE_DTYPE_STRING:
            put_le(e, BYTES_ELEM_LEN, 4);
            for (int k = 0; k < BYTES_ELEM_LEN; k++)
                e[4 + k] = (unsigned char)('a' + (r >> (5 * k)) % 26);
            break;
        default: /* integers, signed or not: [0, 10) */
            put_le(e, r % 10, esz);
            break;
        }
    }
    axle_free(in->data);
    in->data = p;
    in->nbytes = nbytes;
    in->n_elems = n;
    return AXLE_OK;
}

void axle_bench_input_dispose(struct axle_bench_input *in)
{
    axle_free(in->data);
    in->data = NULL;
    in->nbytes = 0;
}

/* ------------------------------------------------------------------ */
/* Request bodies                                                      */

/* Reads the elements of one input in order (BYTES elements vary in size). */
struct cursor {
    const struct axle_bench_input *in;
    size_t off;
};

static uint64_t get_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int put_next(struct axle_buf *b, struct cursor *c)
{
    const unsigned char *p = (const unsigned char *)c->in->data + c->off;
    size_t left = c->in->nbytes - c->off;
    switch (c->in->dtype) {
    case AXLE_DTYPE_FLOAT32: {
        float f;
        memcpy(&f, p, 4);
        json_put_float(b, f);
        c->off += 4;
        return 0;
    }
    case AXLE_DTYPE_FLOAT64: {
        double f;
        memcpy(&f, p, 8);
        json_put_double(b, f);
        c->off += 8;
        return 0;
    }
    case AXLE_DTYPE_BOOL:
        buf_puts(b, p[0] ? "true" : "false");
        c->off += 1;
        return 0;
    case AXLE_DTYPE_STRING: {
        if (left < 4)
            return -1;
        uint64_t n = get_le(p, 4);
        if (n > left - 4)
            return -1;
        json_put_str(b, (const char *)p + 4, (size_t)n);
        c->off += 4 + (size_t)n;
        return 0;
    }
    case AXLE_DTYPE_INT8: case AXLE_DTYPE_INT16: case AXLE_DTYPE_INT32: case AXLE_DTYPE_INT64: {
        size_t n = axle_dtype_size(c->in->dtype);
        uint64_t u = get_le(p, n);
        if (n < 8 && (u >> (8 * n - 1)) & 1) /* sign-extend */
            u |= ~(uint64_t)0 << (8 * n);
        json_put_int(b, (int64_t)u);
        c->off += n;
        return 0;
    }
    case AXLE_DTYPE_UINT8: case AXLE_DTYPE_UINT16: case AXLE_DTYPE_UINT32: case AXLE_DTYPE_UINT64: {
        size_t n = axle_dtype_size(c->in->dtype);
        json_put_uint(b, get_le(p, n));
        c->off += n;
        return 0;
    }
    default:
        return -1;
    }
}

/* Writes dims[d..rank) of the input as nested JSON lists. */
static int put_nested(struct axle_buf *b, struct cursor *c, int d)
{
    if (d == c->in->rank)
        return put_next(b, c);
    buf_putc(b, '[');
    for (int64_t i = 0; i < c->in->dims[d]; i++) {
        if (i)
            buf_putc(b, ',');
        if (put_nested(b, c, d + 1) < 0)
            return -1;
    }
    buf_putc(b, ']');
    return 0;
}

static void put_shape(struct axle_buf *b, const struct axle_bench_input *in)
{
    buf_putc(b, '[');
    for (int i = 0; i < in->rank; i++) {
        if (i)
            buf_putc(b, ',');
        json_put_int(b, in->dims[i]);
    }
    buf_putc(b, ']');
}

static void put_params(struct axle_buf *b, const struct axle_bench_req_opts *o, int binary)
{
    if (!binary && o->timeout_us < 0 && o->priority < 0)
        return;
    const char *sep = "";
    buf_puts(b, ",\"parameters\":{");
    if (binary) {
        buf_puts(b, "\"binary_data_output\":true");
        sep = ",";
    }
    if (o->timeout_us >= 0) {
        buf_printf(b, "%s\"timeout\":%lld", sep, (long long)o->timeout_us);
        sep = ",";
    }
    if (o->priority >= 0)
        buf_printf(b, "%s\"priority\":%lld", sep, (long long)o->priority);
    buf_putc(b, '}');
}

static enum axle_status body_v2(struct axle_buf *b, const struct axle_bench_req_opts *o,
                                const struct axle_bench_input *ins, int n, size_t *json_len,
                                struct axle_err *err)
{
    int binary = o->protocol == AXLE_BENCH_V2_BINARY;
    buf_puts(b, "{\"inputs\":[");
    for (int i = 0; i < n; i++) {
        const struct axle_bench_input *in = &ins[i];
        if (!binary && (in->dtype == AXLE_DTYPE_FLOAT16 || in->dtype == AXLE_DTYPE_BFLOAT16))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "input '%s': %s travels only in binary (--protocol v2-binary)",
                                in->name, axle_bench_dtype_name(in->dtype));
        if (i)
            buf_putc(b, ',');
        buf_puts(b, "{\"name\":");
        json_put_cstr(b, in->name);
        buf_puts(b, ",\"shape\":");
        put_shape(b, in);
        buf_puts(b, ",\"datatype\":\"");
        buf_puts(b, axle_bench_dtype_name(in->dtype));
        buf_putc(b, '"');
        if (binary) {
            buf_printf(b, ",\"parameters\":{\"binary_data_size\":%zu}}", in->nbytes);
            continue;
        }
        buf_puts(b, ",\"data\":[");
        struct cursor c = {in, 0};
        for (int64_t k = 0; k < in->n_elems; k++) {
            if (k)
                buf_putc(b, ',');
            if (put_next(b, &c) < 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT, "input '%s': bad data",
                                    in->name);
        }
        buf_puts(b, "]}");
    }
    buf_putc(b, ']');
    put_params(b, o, binary);
    buf_putc(b, '}');
    *json_len = b->len;
    if (binary)
        for (int i = 0; i < n; i++)
            buf_put(b, ins[i].data, ins[i].nbytes);
    return AXLE_OK;
}

/* KServe V1 / TF Serving row format: instances[r] is row r of every input. */
static enum axle_status body_v1(struct axle_buf *b, const struct axle_bench_input *ins, int n,
                                struct axle_err *err)
{
    struct cursor cur[AXLE_BENCH_MAX_INPUTS];
    for (int i = 0; i < n; i++) {
        const struct axle_bench_input *in = &ins[i];
        if (in->rank < 1 || in->dims[0] < 1)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "input '%s': v1 sends rows of the first dimension; it needs "
                                "rank >= 1 and at least one row", in->name);
        if (in->dims[0] != ins[0].dims[0])
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "v1: inputs '%s' and '%s' have different row counts",
                                ins[0].name, in->name);
        if (in->dtype == AXLE_DTYPE_FLOAT16 || in->dtype == AXLE_DTYPE_BFLOAT16)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "input '%s': %s cannot be sent as v1 JSON", in->name,
                                axle_bench_dtype_name(in->dtype));
        cur[i] = (struct cursor){in, 0};
    }
    buf_puts(b, "{\"instances\":[");
    for (int64_t r = 0; r < ins[0].dims[0]; r++) {
        if (r)
            buf_putc(b, ',');
        if (n > 1)
            buf_putc(b, '{');
        for (int i = 0; i < n; i++) {
            if (n > 1) {
                if (i)
                    buf_putc(b, ',');
                json_put_cstr(b, ins[i].name);
                buf_putc(b, ':');
            }
            if (put_nested(b, &cur[i], 1) < 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT, "input '%s': bad data",
                                    ins[i].name);
        }
        if (n > 1)
            buf_putc(b, '}');
    }
    buf_puts(b, "]}");
    return AXLE_OK;
}

enum axle_status axle_bench_request_build(const struct axle_bench_url *u,
                                          const struct axle_bench_req_opts *o,
                                          const struct axle_bench_input *inputs, int n,
                                          struct axle_buf *out, struct axle_err *err)
{
    struct axle_buf body;
    size_t json_len = 0;
    enum axle_status st;

    if (n < 1)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "no inputs to send");
    buf_init(&body);
    body.limit = AXLE_BENCH_MAX_BODY;
    if (o->protocol == AXLE_BENCH_V1)
        st = body_v1(&body, inputs, n, err);
    else
        st = body_v2(&body, o, inputs, n, &json_len, err);
    if (st != AXLE_OK)
        goto out;
    if (body.oom) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "request body above %zu bytes",
                          AXLE_BENCH_MAX_BODY);
        goto out;
    }
    buf_puts(out, "POST ");
    buf_puts(out, u->base);
    buf_puts(out, o->protocol == AXLE_BENCH_V1 ? "/v1/models/" : "/v2/models/");
    url_path_segment(out, o->model);
    buf_puts(out, o->protocol == AXLE_BENCH_V1 ? ":predict" : "/infer");
    buf_printf(out, " HTTP/1.1\r\nHost: %s\r\n", u->host_hdr);
    if (o->protocol == AXLE_BENCH_V2_BINARY)
        buf_printf(out, "Content-Type: application/octet-stream\r\n"
                        "Inference-Header-Content-Length: %zu\r\n", json_len);
    else
        buf_puts(out, "Content-Type: application/json\r\n");
    if (o->token)
        buf_printf(out, "Authorization: Bearer %s\r\n", o->token);
    buf_printf(out, "Content-Length: %zu\r\n\r\n", body.len);
    buf_put(out, body.data, body.len);
    if (out->oom)
        st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory for the request");
out:
    buf_free(&body);
    return st;
}
