/*
 * http.h - HTTP/1.1 server: libuv event loops, Debian's http-parser for
 * framing, and axle's own strictness and limits around it.
 *
 * Threads: n_threads I/O threads, each with its own uv loop and its own
 * listening socket on the same port (SO_REUSEPORT, so the kernel spreads
 * connections). A connection lives on one loop for its whole life.
 *
 * A request is handed to the handler once it is complete (headers, body,
 * chunked decoding and Content-Encoding inflation done). The handler runs
 * on the I/O thread and must answer before it returns, with exactly one
 * http_respond*() call - or hand the answer to another thread with
 * http_defer() (model loads) or http_defer_call() (inference through the
 * scheduler). Pipelined requests are handled one after the
 * other; their answers are coalesced into one write.
 *
 * Limits (SECURITY.md D21, D24, 2.H) are in struct http_limits; a request
 * that breaks one gets the catalogue's status and the connection closes.
 */
#ifndef AXLE_SERVE_HTTP_H
#define AXLE_SERVE_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"
#include "serve/buf.h"

struct http_limits {
    size_t max_request_line; /* 8 KiB: 414 */
    size_t max_header_line;  /* 8 KiB: 431 */
    size_t max_header_bytes; /* 32 KiB: 431 */
    size_t max_headers;      /* 100: 431 */
    size_t max_body;         /* 64 MiB, raw and decompressed: 413 */
    size_t max_conns;        /* 1024 per server: excess closed at once */
    size_t max_unsent;       /* 1 MiB: stop reading the connection */
    double header_timeout;   /* 10 s: 408 */
    double body_timeout;     /* 30 s idle while reading a body: 408 */
    double idle_timeout;     /* 60 s keep-alive idle: silent close */
    size_t gzip_min_bytes;   /* compress responses at least this big when
                                the client accepts gzip (0: never) */
};

void http_limits_default(struct http_limits *l);

#define HTTP_MAX_HEADERS 128

struct http_req {
    int method;             /* enum http_method */
    const char *method_name;
    char *path;             /* raw path (before '?'), NUL-terminated */
    size_t path_len;
    char *query;            /* after '?', or NULL */
    int n_headers;
    const char *hname[HTTP_MAX_HEADERS]; /* lower-cased names */
    const char *hvalue[HTTP_MAX_HEADERS];
    /* Headers the server looks at, or NULL. */
    const char *host, *content_type, *content_encoding, *accept_encoding;
    const char *origin, *authorization;
    int n_authorization;
    const char *inference_header; /* Inference-Header-Content-Length */
    char *body;             /* decoded body, NUL-terminated (body[len] = 0) */
    size_t body_len;
    int keep_alive;
    int has_length;         /* the body was framed by Content-Length or chunked */
    int accept_gzip;
    uint64_t t_start_ns;    /* monotonic time when the first byte arrived */
    void *conn;             /* the struct http_conn answering it */
};

/* Value of header `name` (lower case), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);

/* One piece of a response body. */
struct http_iov {
    const void *p;
    size_t len;
};

/* Answer r. extra_headers is "Name: value\r\n"... or NULL. content_type
 * NULL means no body type (e.g. an empty 200). */
void http_respond(struct http_req *r, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t len);
void http_respond_iov(struct http_req *r, int status, const char *content_type,
                      const char *extra_headers, const struct http_iov *iov,
                      int n_iov);
/* {"error":"msg"} with application/json (503 adds Retry-After: 1 when
 * extra_headers is NULL). */
void http_respond_error(struct http_req *r, int status, const char *msg,
                        const char *extra_headers);
/* The {"error":"msg"} body into dst (cap >= 32); returns its length. */
size_t http_error_body(char *dst, size_t cap, const char *msg);

/* Answer later, from any thread, so that slow work (a model load) does not
 * stall the I/O loop. Instead of answering, the handler calls http_defer()
 * and returns; exactly one http_deferred_respond() later answers (it copies
 * the body and extra_headers; content_type must be a static string). The
 * connection parses no further request meanwhile. After http_defer() the
 * handler must not use r again. Returns NULL when the answer cannot be
 * deferred (detached connections, no memory): answer directly then. If the
 * client goes away first, the answer is dropped on arrival. The server
 * waits for outstanding deferred answers when it is freed. */
struct http_deferred;
struct http_deferred *http_defer(struct http_req *r);
void http_deferred_respond(struct http_deferred *d, int status, const char *content_type,
                           const char *extra_headers, const void *body, size_t len);

/* Hand the request to work running elsewhere (the inference scheduler)
 * that finishes on this loop: http_deferred_resume() (any thread) makes
 * the loop call resume(arg, r), where r is the request as it was, to be
 * answered with http_respond*() - or resume(arg, NULL) when the client
 * has gone meanwhile. If the client goes away first, cancel(arg) runs on
 * the loop: it returns 1 when the work was withdrawn (resume will never
 * be called, and the deferral is freed), 0 when resume will still come.
 * Returns NULL when the request cannot be deferred (detached
 * connections, no memory): do the work directly then. */
typedef void (*http_resume_fn)(void *arg, struct http_req *r);
typedef int (*http_cancel_fn)(void *arg);
struct http_deferred *http_defer_call(struct http_req *r, http_resume_fn resume,
                                      http_cancel_fn cancel, void *arg);
void http_deferred_resume(struct http_deferred *d);
/* On the loop thread, before anything was posted: take a deferral back
 * (the handler answers directly after all). */
void http_undefer(struct http_deferred *d);

typedef void (*http_handler_fn)(void *ctx, struct http_req *r);
/* Admission at the end of a request head, before its body is read (url as
 * received, content_length -1 when unknown): 0 admits; an HTTP status
 * (503) refuses the request with *msg. */
typedef int (*http_admit_fn)(void *ctx, int method, const char *url, int64_t content_length,
                             const char **msg);

struct http_server_opts {
    const char *host;  /* "127.0.0.1" */
    int port;          /* 0: ephemeral (see http_server_port) */
    int n_threads;     /* I/O threads, >= 1 */
    struct http_limits limits;
    http_handler_fn handler;
    http_admit_fn admit; /* NULL: admit everything */
    void *ctx;
    int access_log_fd; /* -1: none; else one JSON line per request */
    int worker_id;     /* > 0: access lines carry "worker":id (serve --workers) */
    /* Memory budget shared with the model repository: request bodies are
     * charged while their request is held (503 "memory budget exceeded"
     * above mem_budget). NULL: not accounted. */
    atomic_int_fast64_t *mem_used;
    int64_t mem_budget;
};

struct http_server;

enum axle_status http_server_start(const struct http_server_opts *o,
                                   struct http_server **out,
                                   struct axle_err *err);
int http_server_port(const struct http_server *s);
/* Close the listeners (each I/O thread closes its own, soon after);
 * connections keep being served. */
void http_server_stop_accepting(struct http_server *s);
/* Listeners still open: 0 once every thread has closed its own. */
int http_server_n_listening(const struct http_server *s);
/* From now on every answer carries Connection: close, and idle keep-alive
 * connections are closed. */
void http_server_closing(struct http_server *s);
/* Open connections across all threads. */
size_t http_server_conn_count(const struct http_server *s);
/* Requests handled so far (all threads). */
uint64_t http_server_requests(const struct http_server *s);
/* Stop all loops, close every connection, join threads, free. */
void http_server_free(struct http_server *s);

/* Detached connection for fuzzing and unit tests: bytes in, responses
 * collected in memory, no socket. */
struct http_conn;
struct http_conn *http_conn_detached(const struct http_limits *l,
                                     http_handler_fn fn, void *ctx);
/* Feed bytes; returns 0 while the connection stays open, -1 once it has
 * been closed (error or Connection: close). */
int http_conn_feed(struct http_conn *c, const void *p, size_t n);
/* Responses written so far (and clears them). */
const struct axle_buf *http_conn_output(struct http_conn *c);
void http_conn_output_clear(struct http_conn *c);
void http_conn_detached_free(struct http_conn *c);

const char *http_status_text(int status);
/* Index of the calling I/O thread (0 outside them). */
int http_thread_index(void);
uint64_t http_now_ns(void);

#endif
