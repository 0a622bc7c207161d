/*
 * reqpath_bench.c - the server's own CPU per request, without sockets.
 *
 * On a loaded 2-vCPU VM the TCP path (a read and a write per request, the
 * peer's wake-up) is two thirds of the server's CPU and swings 20-40 %
 * between rounds, which hides differences of a few percent in what axle
 * itself does. This program runs the real request path - head pre-scan,
 * http-parser, routing, the V2 JSON decoder, the engine, the answer, and,
 * when asked, the feedback index and the prediction log with its writer
 * thread - on a detached connection (the one the fuzz targets use), so what
 * it measures is everything `axle serve` spends per request except the
 * socket system calls.
 *
 *   reqpath_bench REPO BODY [--log DIR] [--requests N] [--rounds R]
 *
 * REPO: a model repository holding the model `iris` (its config.json
 * decides whether it is monitored: the feedback index is always created,
 * as `axle serve` does). BODY: the V2 JSON request body. --log DIR: an
 * async prediction log, 100 % sampled. The same keep-alive request is fed
 * N times per round (default 200000); each round prints one JSON line
 * with the process's CPU time per request (user + system, every thread:
 * the log writer's write() and fdatasync included) and the wall time.
 * Every answer is checked to be a 200.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "serve/feedback.h"
#include "serve/predlog.h"
#include "serve/server.h"

static struct server srv;

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = malloc(1 << 16);
    *n = p ? fread(p, 1, 1 << 16, f) : 0;
    fclose(f);
    return p;
}

int main(int argc, char **argv)
{
    const char *repo = NULL, *body_path = NULL, *log_dir = NULL;
    long n_req = 200000, rounds = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--log") == 0 && i + 1 < argc)
            log_dir = argv[++i];
        else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
            n_req = atol(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atol(argv[++i]);
        else if (!repo)
            repo = argv[i];
        else if (!body_path)
            body_path = argv[i];
        else {
            fprintf(stderr, "reqpath_bench: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!repo || !body_path || n_req < 1 || rounds < 1) {
        fprintf(stderr, "usage: reqpath_bench REPO BODY [--log DIR] [--requests N] "
                        "[--rounds R]\n");
        return 2;
    }
    size_t body_len;
    char *body = read_file(body_path, &body_len);
    if (!body || body_len == 0) {
        fprintf(stderr, "reqpath_bench: cannot read %s\n", body_path);
        return 1;
    }
    char req[1 << 17];
    int head = snprintf(req, sizeof(req),
                        "POST /v2/models/iris/infer HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                        body_len);
    if (head < 0 || (size_t)head + body_len > sizeof(req))
        return 1;
    memcpy(req + head, body, body_len);
    size_t req_len = (size_t)head + body_len;

    struct axle_err err;
    http_limits_default(&srv.limits);
    srv.limits.max_unsent = (size_t)1 << 30;
    srv.loopback = 1;
    srv.repo.root = (char *)repo;
    srv.repo.control = CONTROL_NONE;
    srv.repo.n_threads = 1;
    srv.repo.intra_threads = 1;
    if (repo_open(&srv.repo, &err) != AXLE_OK || repo_load_all(&srv.repo) < 1) {
        fprintf(stderr, "reqpath_bench: %s: no model loaded\n", repo);
        return 1;
    }
    srv.feedback = feedback_index_new(65536, (uint64_t)86400 * 1000000000u);
    if (log_dir) {
        struct predlog_opts po = {.dir = log_dir, .durability = PREDLOG_ASYNC};
        if (predlog_open(&po, &srv.predlog, &err) != AXLE_OK) {
            fprintf(stderr, "reqpath_bench: %s\n", err.msg);
            return 1;
        }
        srv.log_dir = log_dir;
        srv.log_sample_rate = 1.0;
    }
    struct http_conn *c = http_conn_detached(&srv.limits, serve_handle, &srv);
    for (long r = 0; r <= rounds; r++) { /* round 0 warms up */
        long n = r ? n_req : n_req / 10 + 1, ok = 0;
        double c0 = cpu_s(), w0 = wall_s();
        for (long i = 0; i < n; i++) {
            if (http_conn_feed(c, req, req_len) != 0) {
                fprintf(stderr, "reqpath_bench: the connection closed\n");
                return 1;
            }
            const struct axle_buf *o = http_conn_output(c);
            ok += o->len > 12 && memcmp(o->data, "HTTP/1.1 200", 12) == 0;
            http_conn_output_clear(c);
        }
        double cpu = cpu_s() - c0, wall = wall_s() - w0;
        if (ok != n) {
            fprintf(stderr, "reqpath_bench: %ld of %ld answers were not 200\n", n - ok, n);
            return 1;
        }
        if (r)
            printf("{\"round\":%ld,\"requests\":%ld,\"cpu_us_per_req\":%.3f,"
                   "\"wall_us_per_req\":%.3f,\"log\":%s}\n",
                   r, n, cpu / (double)n * 1e6, wall / (double)n * 1e6, log_dir ? "true" : "false");
        fflush(stdout);
    }
    http_conn_detached_free(c);
    predlog_close(srv.predlog);
    feedback_index_free(srv.feedback);
    free(body);
    return 0;
}
