/*
 * serve_fixture.h - a server over examples/models without sockets, for the
 * serving fuzz targets: requests go through a detached HTTP connection into
 * the real route table, decoders and engine.
 */
#ifndef AXLE_TESTS_SERVE_FIXTURE_H
#define AXLE_TESTS_SERVE_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "serve/server.h"

static struct server fx_srv;
static struct http_limits fx_lim;

static struct server *fx_server(void)
{
    static int ready;
    if (ready)
        return &fx_srv;
    ready = 1;
    http_limits_default(&fx_lim);
    fx_lim.max_body = 1u << 20;
    fx_lim.max_unsent = (size_t)1 << 30; /* detached output is cleared by the caller */
    fx_srv.limits = fx_lim;
    fx_srv.loopback = 1;
    struct repo *r = &fx_srv.repo;
    r->root = (char *)AXLE_SOURCE_DIR "/examples/models";
    r->control = CONTROL_NONE;
    r->n_threads = 1;
    r->intra_threads = 1;
    struct axle_err err;
    if (repo_open(r, &err) != AXLE_OK || repo_load_all(r) < 1)
        abort();
    return &fx_srv;
}

/* Feed req[0..n) into a fresh connection in slices of `slice` bytes (0:
 * all at once). Every answer must start with a status line. */
static void fx_feed(const void *req, size_t n, size_t slice)
{
    struct server *s = fx_server();
    struct http_conn *c = http_conn_detached(&fx_lim, serve_handle, s);
    const char *p = req;
    size_t off = 0;
    if (slice == 0)
        slice = n ? n : 1;
    while (off < n) {
        size_t k = n - off < slice ? n - off : slice;
        int rc = http_conn_feed(c, p + off, k);
        const struct axle_buf *o = http_conn_output(c);
        if (o->len && memcmp(o->data, "HTTP/1.1 ", 9) != 0)
            abort();
        http_conn_output_clear(c);
        off += k;
        if (rc != 0)
            break;
    }
    http_conn_detached_free(c);
}


/* Feed the request head (n bytes) followed by body[0..size) at once. */
static inline void fx_feed_with_body(const char *head, int n, const uint8_t *body, size_t size)
{
    char *req = malloc((size_t)n + size);
    if (!req)
        return;
    memcpy(req, head, (size_t)n);
    memcpy(req + n, body, size);
    fx_feed(req, (size_t)n + size, 0);
    free(req);
}

#endif
