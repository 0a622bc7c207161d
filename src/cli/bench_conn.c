/*
 * bench_conn.c - the connection engine of `axle bench`.
 *
 * Each worker thread owns a share of the keep-alive connections and runs
 * one epoll loop over them (epoll directly rather than libuv: the loop is
 * small, and timers need nanosecond wake-ups, which epoll_pwait2 gives).
 * Responses are framed by http-parser, which streams: bytes are parsed as
 * they are read from one per-thread buffer, so nothing is kept per
 * connection but the parser state, and bodies are never stored.
 *
 * Per request the hot path is one send() of the pre-built request bytes
 * (shared by every connection), one recv(), the parser, two clock reads
 * and a histogram increment: no allocation and no lock. Progress counters
 * are published with relaxed atomic stores of thread-local totals.
 *
 * Closed loop: every connection sends its next request as soon as the
 * previous answer is complete; latency counts from the send.
 * Open loop: request g (over all threads) is due at start + g / rate;
 * thread i takes g = i, i + T, i + 2T, ... A due request goes out on a free
 * connection; when none is free it waits, and its latency still counts
 * from its due time (no coordinated omission); a send more than
 * AXLE_BENCH_LATE_NS after its due time is "late".
 *
 * A connection the server closes (EOF, RST, a Connection: close answer) is
 * reopened at once; a failed connect is retried after a backoff doubling
 * from 1 ms to 128 ms. Anything the parser refuses, and bytes that arrive
 * when no request is in flight, reset the connection.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "base/alloc.h"
#include "base/err.h"
#include "cli/bench.h"

#define RBUF_BYTES 65536
#define MAX_EVENTS 256
#define CONNECT_PHASE_NS 2000000000ull /* at most this long before the time origin */
#define SCAN_NS 10000000ull            /* timeouts and reconnects are checked this often */
#define BACKOFF_MIN_NS 1000000ull
#define BACKOFF_MAX_NS 128000000ull

enum conn_state { C_DOWN, C_CONNECTING, C_READY, C_BUSY, C_WAIT };

struct worker;

struct conn {
    http_parser hp; /* hp.data points back at the connection */
    struct worker *w;
    int fd;
    uint8_t state;
    uint8_t measured;   /* the request in flight counts */
    uint8_t done;       /* set by the parser's message-complete callback */
    uint8_t keep_alive; /* of the completed response */
    int status;
    unsigned n_fail; /* consecutive connect failures */
    size_t wr_off;   /* request bytes written */
    uint64_t t0_ns;   /* latency origin of the request in flight */
    uint64_t sent_ns; /* when it was sent (the request timeout counts from here) */
    uint64_t retry_ns;
};

struct worker {
    struct axle_bench_run *run;
    const struct axle_bench_plan *plan;
    int index;
    int epfd;
    struct conn *conns;
    int n_conns;
    struct conn **free_stack; /* READY connections */
    int n_free;
    int n_busy, n_connecting;
    int running;  /* past the connect phase */
    int issuing;  /* may still send new requests */
    int capped;   /* --max-requests is used up: end once nothing is in flight */
    uint64_t next_seq;      /* open loop: this thread's next request number */
    uint64_t next_scan_ns;
    uint64_t scan_ns;
    uint64_t exit_ns;
    char *rbuf;
    struct axle_bench_counts *c;
    /* Progress: thread-local totals (warm-up included), published below. */
    uint64_t all_responses, all_ok, all_errors, all_late;
    _Atomic uint64_t p_responses, p_ok, p_errors, p_late, p_in_flight;
    _Atomic int finished;
    pthread_t tid;
};

struct axle_bench_run {
    struct axle_bench_plan plan;
    struct worker *w;
    int n_started;
    /* Connect-phase rendezvous: workers report, the starter sets the clock. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_connected;
    int go;
    uint64_t start_ns, warmup_end_ns, end_ns; /* written before go, read-only after */
    double period_ns;                         /* open loop: 1e9 / rate */
    _Atomic int stop;
    _Atomic uint64_t tickets; /* measured sends taken against max_requests */
};

static const char *const err_names[AXLE_BENCH_N_ERR] = {
    [AXLE_BENCH_ERR_CONNECT] = "connect", [AXLE_BENCH_ERR_TIMEOUT] = "timeout",
    [AXLE_BENCH_ERR_CLOSED] = "closed",   [AXLE_BENCH_ERR_READ] = "read",
    [AXLE_BENCH_ERR_WRITE] = "write",     [AXLE_BENCH_ERR_PARSE] = "parse",
};

const char *axle_bench_err_name(enum axle_bench_err e)
{
    return (unsigned)e < AXLE_BENCH_N_ERR ? err_names[e] : "?";
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void publish(_Atomic uint64_t *a, uint64_t v)
{
    atomic_store_explicit(a, v, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Open-loop schedule                                                  */

static inline uint64_t due_ns(const struct axle_bench_run *r, uint64_t g)
{
    return r->start_ns + (uint64_t)((double)g * r->period_ns);
}

/* The first request number due at or after t. */
static uint64_t seq_at(const struct axle_bench_run *r, uint64_t t)
{
    if (t <= r->start_ns)
        return 0;
    uint64_t g = (uint64_t)ceil((double)(t - r->start_ns) / r->period_ns);
    while (g > 0 && due_ns(r, g - 1) >= t)
        g--;
    while (due_ns(r, g) < t)
        g++;
    return g;
}

/* Request numbers in [0, x) that belong to thread i of n. */
static uint64_t count_mine(uint64_t x, int i, int n)
{
    return x > (uint64_t)i ? (x - (uint64_t)i - 1) / (uint64_t)n + 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Response parsing                                                    */

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->status = p->status_code;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->done = 1;
    c->keep_alive = (uint8_t)http_should_keep_alive(p);
    http_parser_pause(p, 1); /* one response per request: stop right here */
    return 0;
}

static const http_parser_settings parser_cb = {
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------ */
/* Connections                                                         */

static void conn_open(struct worker *w, struct conn *c, uint64_t now);
static void conn_idle(struct worker *w, struct conn *c, uint64_t now);

static int counting(const struct worker *w, uint64_t now)
{
    return w->running && now >= w->run->warmup_end_ns;
}

static void count_error(struct worker *w, enum axle_bench_err e, int measured)
{
    if (measured)
        w->c->err[e]++;
    publish(&w->p_errors, ++w->all_errors);
}

static void ep_set(struct worker *w, struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(w->epfd, op, c->fd, &ev);
}

/* Closes the socket. abortive: send RST (no TIME_WAIT for a connection we
 * give up on). Leaves the connection C_DOWN. */
static void conn_close(struct worker *w, struct conn *c, int abortive)
{
    if (c->fd >= 0) {
        if (abortive) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(c->fd); /* also leaves the epoll set */
    }
    if (c->state == C_BUSY) {
        w->n_busy--;
        publish(&w->p_in_flight, (uint64_t)w->n_busy);
    } else if (c->state == C_CONNECTING) {
        w->n_connecting--;
    } else if (c->state == C_READY) {
        for (int i = 0; i < w->n_free; i++)
            if (w->free_stack[i] == c) {
                w->free_stack[i] = w->free_stack[--w->n_free];
                break;
            }
    }
    c->fd = -1;
    c->state = C_DOWN;
}

/* The request in flight (if any) failed with e; reconnect at once. */
static void conn_fail(struct worker *w, struct conn *c, enum axle_bench_err e, uint64_t now)
{
    if (c->state == C_BUSY)
        count_error(w, e, c->measured);
    conn_close(w, c, e != AXLE_BENCH_ERR_CLOSED);
    conn_open(w, c, now);
}

static void connect_failed(struct worker *w, struct conn *c, uint64_t now)
{
    conn_close(w, c, 0);
    if (w->running)
        count_error(w, AXLE_BENCH_ERR_CONNECT, counting(w, now));
    uint64_t backoff = BACKOFF_MIN_NS << (c->n_fail < 7 ? c->n_fail : 7);
    if (backoff > BACKOFF_MAX_NS)
        backoff = BACKOFF_MAX_NS;
    c->n_fail++;
    c->state = C_WAIT;
    c->retry_ns = now + backoff;
}

static void connected(struct worker *w, struct conn *c, uint64_t now)
{
    c->n_fail = 0;
    http_parser_init(&c->hp, HTTP_RESPONSE);
    c->hp.data = c;
    c->done = 0;
    ep_set(w, c, EPOLLIN, EPOLL_CTL_MOD);
    conn_idle(w, c, now);
}

static void conn_open(struct worker *w, struct conn *c, uint64_t now)
{
    const struct axle_bench_plan *p = w->plan;
    int fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->fd = fd;
    if (fd < 0) {
        c->state = C_DOWN;
        connect_failed(w, c, now);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->state = C_CONNECTING;
    w->n_connecting++;
    ep_set(w, c, EPOLLOUT, EPOLL_CTL_ADD);
    /* Even a connect that completes at once is taken up by its EPOLLOUT
     * event in the loop, never here: no recursion through failing sends. */
    if (connect(fd, (const struct sockaddr *)&p->addr, p->addr_len) < 0 && errno != EINPROGRESS)
        connect_failed(w, c, now);
}

/* Sends the request on c; t0 is its latency origin. */
static void conn_send(struct worker *w, struct conn *c, uint64_t t0, int measured, uint64_t now)
{
    const struct axle_bench_plan *p = w->plan;
    c->t0_ns = t0;
    c->sent_ns = now;
    c->measured = (uint8_t)measured;
    c->status = 0;
    c->state = C_BUSY;
    w->n_busy++;
    publish(&w->p_in_flight, (uint64_t)w->n_busy);
    if (measured)
        w->c->sent++;
    ssize_t k = send(c->fd, p->req, p->req_len, MSG_NOSIGNAL);
    if (k == (ssize_t)p->req_len) {
        c->wr_off = p->req_len;
        return;
    }
    if (k < 0 && errno != EAGAIN && errno != EINTR) {
        conn_fail(w, c, errno == EPIPE || errno == ECONNRESET ? AXLE_BENCH_ERR_CLOSED
                                                              : AXLE_BENCH_ERR_WRITE, now);
        return;
    }
    c->wr_off = k > 0 ? (size_t)k : 0;
    ep_set(w, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
}

static void conn_write_more(struct worker *w, struct conn *c, uint64_t now)
{
    const struct axle_bench_plan *p = w->plan;
    while (c->wr_off < p->req_len) {
        ssize_t k = send(c->fd, p->req + c->wr_off, p->req_len - c->wr_off, MSG_NOSIGNAL);
        if (k > 0) {
            c->wr_off += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            return;
        conn_fail(w, c, errno == EPIPE || errno == ECONNRESET ? AXLE_BENCH_ERR_CLOSED
                                                              : AXLE_BENCH_ERR_WRITE, now);
        return;
    }
    ep_set(w, c, EPOLLIN, EPOLL_CTL_MOD);
}

/* Takes one measured send against --max-requests. */
static int take_ticket(struct worker *w)
{
    uint64_t max = w->plan->max_requests;
    if (max == 0)
        return 1;
    if (atomic_fetch_add_explicit(&w->run->tickets, 1, memory_order_relaxed) < max)
        return 1;
    w->issuing = 0;
    w->capped = 1;
    return 0;
}

/* c is connected with nothing in flight: closed loop sends at once, open
 * loop parks it on the free stack. */
static void conn_idle(struct worker *w, struct conn *c, uint64_t now)
{
    c->state = C_READY;
    if (w->running && !w->plan->open_loop && w->issuing) {
        int measured = now >= w->run->warmup_end_ns;
        if (!measured || take_ticket(w)) {
            conn_send(w, c, now, measured, now);
            return;
        }
    }
    w->free_stack[w->n_free++] = c;
}

/* A complete response to the request in flight. */
static void response_done(struct worker *w, struct conn *c, int extra_bytes)
{
    uint64_t now = now_ns();
    int st = c->status;
    int ok = st >= 200 && st < 300;
    w->n_busy--;
    publish(&w->p_in_flight, (uint64_t)w->n_busy);
    c->state = C_READY;
    if (c->measured) {
        struct axle_bench_counts *k = w->c;
        k->responses++;
        if (st >= 0 && st < AXLE_BENCH_N_STATUS)
            k->status[st]++;
        else
            k->status_other++;
        if (ok) {
            k->ok++;
            axle_bench_hist_record(&k->hist, now - c->t0_ns);
        } else {
            axle_bench_hist_record(&k->hist_other, now - c->t0_ns);
        }
    }
    publish(&w->p_responses, ++w->all_responses);
    if (ok)
        publish(&w->p_ok, ++w->all_ok);
    if (extra_bytes) { /* bytes beyond the one response we asked for */
        count_error(w, AXLE_BENCH_ERR_PARSE, c->measured);
        conn_close(w, c, 1);
        conn_open(w, c, now);
    } else if (!c->keep_alive) {
        conn_close(w, c, 0);
        conn_open(w, c, now);
    } else {
        conn_idle(w, c, now);
    }
}

/* Feeds n read bytes to c's parser. Returns 1 when c's request finished
 * (or the connection was reset), 0 to keep reading. */
static int conn_feed(struct worker *w, struct conn *c, const char *buf, size_t n)
{
    size_t off = 0;
    while (off < n) {
        size_t k = http_parser_execute(&c->hp, &parser_cb, buf + off, n - off);
        off += k;
        if (c->done) {
            c->done = 0;
            http_parser_pause(&c->hp, 0);
            if (c->status >= 100 && c->status < 200 && c->status != 101)
                continue; /* interim answer (100 Continue): the real one follows */
            response_done(w, c, off < n);
            return 1;
        }
        if (HTTP_PARSER_ERRNO(&c->hp) != HPE_OK || k == 0) {
            conn_fail(w, c, AXLE_BENCH_ERR_PARSE, now_ns());
            return 1;
        }
    }
    return 0;
}

static void conn_read(struct worker *w, struct conn *c, uint64_t now)
{
    for (;;) {
        ssize_t n = recv(c->fd, w->rbuf, RBUF_BYTES, 0);
        if (n > 0) {
            if (c->state != C_BUSY) { /* nothing was asked: not ours to parse */
                conn_close(w, c, 1);
                conn_open(w, c, now);
                return;
            }
            if (conn_feed(w, c, w->rbuf, (size_t)n) || n < RBUF_BYTES)
                return;
            continue;
        }
        if (n == 0) {
            if (c->state == C_BUSY) {
                /* A body delimited by the end of the connection ends here. */
                http_parser_execute(&c->hp, &parser_cb, NULL, 0);
                if (c->done) {
                    c->done = 0;
                    http_parser_pause(&c->hp, 0);
                    c->keep_alive = 0;
                    response_done(w, c, 0);
                    return;
                }
                conn_fail(w, c, AXLE_BENCH_ERR_CLOSED, now);
                return;
            }
            conn_close(w, c, 0); /* an idle keep-alive connection closed: reopen */
            conn_open(w, c, now);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return;
        conn_fail(w, c, errno == ECONNRESET ? AXLE_BENCH_ERR_CLOSED : AXLE_BENCH_ERR_READ, now);
        return;
    }
}

static void on_event(struct worker *w, struct conn *c, uint32_t ev, uint64_t now)
{
    if (c->state == C_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr == 0 && !(ev & (EPOLLERR | EPOLLHUP))) {
            w->n_connecting--;
            connected(w, c, now);
        } else {
            connect_failed(w, c, now);
        }
        return;
    }
    if (c->state == C_DOWN || c->state == C_WAIT)
        return;
    if ((ev & EPOLLOUT) && c->state == C_BUSY && c->wr_off < w->plan->req_len) {
        conn_write_more(w, c, now);
        if (c->state != C_BUSY)
            return;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
        conn_read(w, c, now);
}

/* Timeouts of requests in flight, and reconnects whose backoff is over. */
static void scan(struct worker *w, uint64_t now)
{
    uint64_t to = w->plan->request_timeout_ns;
    for (int i = 0; i < w->n_conns; i++) {
        struct conn *c = &w->conns[i];
        if (c->state == C_BUSY && to && now - c->sent_ns >= to)
            conn_fail(w, c, AXLE_BENCH_ERR_TIMEOUT, now);
        else if (c->state == C_WAIT && now >= c->retry_ns)
            conn_open(w, c, now);
    }
}

/* Open loop: send every due request for which a connection is free. */
static void issue_due(struct worker *w)
{
    struct axle_bench_run *r = w->run;
    uint64_t now = now_ns();
    while (w->issuing && w->n_free > 0) {
        uint64_t t = due_ns(r, w->next_seq);
        if (t >= r->end_ns) {
            w->issuing = 0;
            break;
        }
        if (t > now)
            break;
        int measured = t >= r->warmup_end_ns;
        if (measured && !take_ticket(w))
            break;
        struct conn *c = w->free_stack[--w->n_free];
        if (measured) {
            uint64_t lag = now - t;
            if (lag > AXLE_BENCH_LATE_NS) {
                w->c->late++;
                publish(&w->p_late, ++w->all_late);
            }
            if (lag > w->c->max_lag_ns)
                w->c->max_lag_ns = lag;
        }
        w->next_seq += (uint64_t)w->plan->n_threads;
        conn_send(w, c, t, measured, now);
        now = now_ns();
    }
}

static int wait_events(struct worker *w, struct epoll_event *evs, uint64_t wait_ns)
{
    static _Atomic int no_pwait2;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000ull),
                              .tv_nsec = (long)(wait_ns % 1000000000ull)};
        int n = epoll_pwait2(w->epfd, evs, MAX_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        atomic_store(&no_pwait2, 1);
    }
    /* Before Linux 5.11: millisecond waits, rounded down (a short spin
     * rather than a late send). */
    return epoll_wait(w->epfd, evs, MAX_EVENTS, (int)(wait_ns / 1000000ull));
}

static void handle_events(struct worker *w, struct epoll_event *evs, int n)
{
    uint64_t now = now_ns();
    for (int i = 0; i < n; i++)
        on_event(w, evs[i].data.ptr, evs[i].events, now);
}

/* ------------------------------------------------------------------ */
/* Worker thread                                                       */

static void connect_phase(struct worker *w, struct epoll_event *evs)
{
    uint64_t now = now_ns(), limit = now + CONNECT_PHASE_NS;
    for (int i = 0; i < w->n_conns; i++)
        conn_open(w, &w->conns[i], now);
    while (w->n_connecting > 0 && now < limit &&
           !atomic_load_explicit(&w->run->stop, memory_order_relaxed)) {
        uint64_t left = limit - now;
        int n = wait_events(w, evs, left < SCAN_NS ? left : SCAN_NS);
        if (n > 0)
            handle_events(w, evs, n);
        now = now_ns();
    }
}

static void finish(struct worker *w, uint64_t now)
{
    struct axle_bench_run *r = w->run;
    w->exit_ns = now;
    for (int i = 0; i < w->n_conns; i++)
        if (w->conns[i].state == C_BUSY && w->conns[i].measured)
            w->c->in_flight++;
    if (w->plan->open_loop && w->issuing && w->running) {
        uint64_t limit = now < r->end_ns ? now : r->end_ns;
        uint64_t a = seq_at(r, r->warmup_end_ns), b = seq_at(r, limit);
        if (w->next_seq > a)
            a = w->next_seq;
        if (b > a)
            w->c->backlog = count_mine(b, w->index, w->plan->n_threads) -
                            count_mine(a, w->index, w->plan->n_threads);
    }
    w->c->scheduled = w->c->sent + w->c->backlog;
    for (int i = 0; i < w->n_conns; i++)
        if (w->conns[i].fd >= 0)
            conn_close(w, &w->conns[i], w->conns[i].state == C_BUSY);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct axle_bench_run *r = w->run;
    struct epoll_event evs[MAX_EVENTS];

    connect_phase(w, evs);
    pthread_mutex_lock(&r->mu);
    r->n_connected++;
    pthread_cond_broadcast(&r->cv);
    while (!r->go)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);

    uint64_t now = now_ns();
    w->running = 1;
    w->issuing = 1;
    w->next_seq = (uint64_t)w->index;
    w->next_scan_ns = now;
    /* Closed loop: every connection that is up starts now. */
    if (!w->plan->open_loop) {
        /* conn_idle pushes back at most as many as were taken. */
        int n = w->n_free;
        w->n_free = 0;
        for (int i = 0; i < n; i++)
            conn_idle(w, w->free_stack[i], now);
    }
    for (;;) {
        now = now_ns();
        if (now >= r->end_ns || atomic_load_explicit(&r->stop, memory_order_relaxed) ||
            (w->capped && w->n_busy == 0))
            break;
        if (now >= w->next_scan_ns) {
            scan(w, now);
            w->next_scan_ns = now + w->scan_ns;
        }
        if (w->plan->open_loop)
            issue_due(w);
        uint64_t wake = r->end_ns < w->next_scan_ns ? r->end_ns : w->next_scan_ns;
        if (w->plan->open_loop && w->issuing && w->n_free > 0) {
            uint64_t t = due_ns(r, w->next_seq);
            if (t < wake)
                wake = t;
        }
        now = now_ns();
        int n = wait_events(w, evs, wake > now ? wake - now : 0);
        if (n > 0)
            handle_events(w, evs, n);
    }
    finish(w, now_ns());
    atomic_store(&w->finished, 1);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Run                                                                 */

static void free_run(struct axle_bench_run *r)
{
    for (int i = 0; i < r->plan.n_threads; i++) {
        struct worker *w = &r->w[i];
        if (w->epfd >= 0)
            close(w->epfd);
        axle_free(w->conns);
        axle_free(w->free_stack);
        axle_free(w->rbuf);
        axle_free(w->c);
    }
    axle_free(r->w);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    axle_free(r);
}

enum axle_status axle_bench_run_start(const struct axle_bench_plan *plan,
                                      struct axle_bench_run **out, struct axle_err *err)
{
    struct axle_bench_run *r = axle_xcalloc(1, sizeof(*r));
    int T = plan->n_threads;

    *out = NULL;
    r->plan = *plan;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->warmup_end_ns = UINT64_MAX;
    r->end_ns = UINT64_MAX;
    r->period_ns = plan->open_loop ? 1e9 / plan->rate : 0;
    r->w = axle_xcalloc((size_t)T, sizeof(*r->w));
    uint64_t scan_ns = plan->request_timeout_ns / 4;
    if (scan_ns == 0 || scan_ns > SCAN_NS)
        scan_ns = SCAN_NS;
    if (scan_ns < 1000000)
        scan_ns = 1000000;
    for (int i = 0; i < T; i++) {
        struct worker *w = &r->w[i];
        int lo = (int)((int64_t)plan->n_conns * i / T), hi = (int)((int64_t)plan->n_conns * (i + 1) / T);
        w->run = r;
        w->plan = &r->plan;
        w->index = i;
        w->n_conns = hi - lo;
        w->scan_ns = scan_ns;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->conns = axle_xcalloc((size_t)(w->n_conns > 0 ? w->n_conns : 1), sizeof(*w->conns));
        w->free_stack = axle_xcalloc((size_t)(w->n_conns > 0 ? w->n_conns : 1),
                                     sizeof(*w->free_stack));
        w->rbuf = axle_xmalloc(RBUF_BYTES);
        w->c = axle_xcalloc(1, sizeof(*w->c));
        axle_bench_hist_init(&w->c->hist);
        axle_bench_hist_init(&w->c->hist_other);
        for (int k = 0; k < w->n_conns; k++) {
            w->conns[k].fd = -1;
            w->conns[k].w = w;
        }
        if (w->epfd < 0) {
            axle_err_set(err, AXLE_INTERNAL, "epoll_create1: %s", strerror(errno));
            free_run(r);
            return AXLE_INTERNAL;
        }
    }
    enum axle_status st = AXLE_OK;
    for (int i = 0; i < T; i++) {
        int rc = pthread_create(&r->w[i].tid, NULL, worker_main, &r->w[i]);
        if (rc != 0) {
            st = axle_err_set(err, AXLE_INTERNAL, "cannot start a thread: %s", strerror(rc));
            atomic_store(&r->stop, 1);
            break;
        }
        r->n_started++;
    }
    /* Every started worker has connected (or given up): start the clock. */
    pthread_mutex_lock(&r->mu);
    while (r->n_connected < r->n_started)
        pthread_cond_wait(&r->cv, &r->mu);
    r->start_ns = now_ns();
    r->warmup_end_ns = r->start_ns + (uint64_t)(plan->warmup_s * 1e9);
    r->end_ns = r->warmup_end_ns + (uint64_t)(plan->duration_s * 1e9);
    r->go = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (st != AXLE_OK) {
        for (int i = 0; i < r->n_started; i++)
            pthread_join(r->w[i].tid, NULL);
        free_run(r);
        return st;
    }
    *out = r;
    return AXLE_OK;
}

int axle_bench_run_done(struct axle_bench_run *r)
{
    for (int i = 0; i < r->n_started; i++)
        if (!atomic_load(&r->w[i].finished))
            return 0;
    return 1;
}

double axle_bench_run_elapsed(struct axle_bench_run *r)
{
    return ((double)now_ns() - (double)r->start_ns) / 1e9;
}

void axle_bench_run_progress(struct axle_bench_run *r, struct axle_bench_progress *p)
{
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < r->n_started; i++) {
        struct worker *w = &r->w[i];
        p->responses += atomic_load_explicit(&w->p_responses, memory_order_relaxed);
        p->ok += atomic_load_explicit(&w->p_ok, memory_order_relaxed);
        p->errors += atomic_load_explicit(&w->p_errors, memory_order_relaxed);
        p->late += atomic_load_explicit(&w->p_late, memory_order_relaxed);
        p->in_flight += atomic_load_explicit(&w->p_in_flight, memory_order_relaxed);
    }
}

void axle_bench_run_stop(struct axle_bench_run *r)
{
    atomic_store(&r->stop, 1);
}

void axle_bench_run_join(struct axle_bench_run *r, struct axle_bench_counts *t,
                         double *window_s)
{
    uint64_t last = 0;
    memset(t, 0, sizeof(*t));
    axle_bench_hist_init(&t->hist);
    axle_bench_hist_init(&t->hist_other);
    for (int i = 0; i < r->n_started; i++) {
        struct worker *w = &r->w[i];
        struct axle_bench_counts *c = w->c;
        pthread_join(w->tid, NULL);
        if (w->exit_ns > last)
            last = w->exit_ns;
        t->sent += c->sent;
        t->responses += c->responses;
        t->ok += c->ok;
        t->late += c->late;
        t->scheduled += c->scheduled;
        t->backlog += c->backlog;
        t->in_flight += c->in_flight;
        if (c->max_lag_ns > t->max_lag_ns)
            t->max_lag_ns = c->max_lag_ns;
        for (int k = 0; k < AXLE_BENCH_N_ERR; k++)
            t->err[k] += c->err[k];
        for (int k = 0; k < AXLE_BENCH_N_STATUS; k++)
            t->status[k] += c->status[k];
        t->status_other += c->status_other;
        axle_bench_hist_merge(&t->hist, &c->hist);
        axle_bench_hist_merge(&t->hist_other, &c->hist_other);
    }
    if (last > r->end_ns)
        last = r->end_ns;
    *window_s = last > r->warmup_end_ns ? (double)(last - r->warmup_end_ns) / 1e9 : 0.0;
    free_run(r);
}
