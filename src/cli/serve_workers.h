/*
 * serve_workers.h - `axle serve --workers N`: a supervisor process that
 * forks N worker processes, each running the whole server on the same
 * port (one SO_REUSEPORT listener per I/O thread of every worker, so the
 * kernel spreads connections), restarts the ones that die, and passes
 * SIGTERM, SIGINT and SIGHUP on to them. See docs/serving.md#workers.
 *
 * The supervisor never serves a request and starts no thread: it forks
 * from a single-threaded process, and everything a worker needs (options,
 * the repository's model list, the access log descriptor) is decided
 * before the first fork.
 */
#ifndef AXLE_CLI_SERVE_WORKERS_H
#define AXLE_CLI_SERVE_WORKERS_H

#include <signal.h>

#include "axle/status.h"

/* What a worker reports to the supervisor, one byte each on its pipe. */
enum {
    AXLE_WORKER_LISTENING = 'L', /* its listeners are open */
    AXLE_WORKER_READY = 'R',     /* start-up loads done, every model ready */
    AXLE_WORKER_NOT_READY = 'N', /* start-up loads done, some model failed */
    AXLE_WORKER_UNLISTENED = 'C', /* draining: its listeners are closed */
};

/* The supervisor's answer to AXLE_WORKER_UNLISTENED, once every running
 * worker's listeners are closed (at once for a worker that drains alone):
 * the worker may now close its keep-alive connections. Blocked in the
 * workers from their fork on; a worker takes it with sigtimedwait. */
#define AXLE_WORKER_GO_SIGNAL SIGUSR1

/* Handed to a worker. */
struct axle_worker {
    int id;        /* 1..N, stable across restarts of the same slot */
    int restarted; /* 0 on the slot's first start; 1 after a restart */
    int notify_fd; /* write end of the pipe to the supervisor */
};

/* A worker's report (best effort: a gone supervisor is not an error). */
void axle_worker_notify(const struct axle_worker *w, char what);

/* Runs in the child after the fork; its return value is the worker's exit
 * status. Signals SIGTERM, SIGINT and SIGHUP are blocked on entry (the
 * server takes them with sigwaitinfo). */
typedef int (*axle_worker_fn)(void *arg, const struct axle_worker *w);

struct axle_workers_opts {
    int n_workers;              /* >= 2 */
    axle_worker_fn run;
    void *arg;
    /* The supervisor's one "listening" log line, written once every
     * worker of the first start has its listeners open. */
    const char *listening_detail;
    /* After the first SIGTERM/SIGINT: seconds the workers may take to
     * drain before they are killed (and the exit status is 1). */
    double stop_grace_s;
    /* Descriptors the supervisor holds that a worker must not keep
     * (the port reservations). */
    const int *close_in_child;
    int n_close_in_child;
};

/* Supervise until the workers are gone. Returns twice over: in the
 * supervisor, its exit status (0 after a clean drain of every worker; 1
 * after a second signal, a crash loop, a worker that failed to drain or
 * a drain that overran; a worker's own status when it failed its first
 * start); in each worker, the value of run(). */
int axle_workers_run(const struct axle_workers_opts *o);

/* Bind (without listening) host:port with SO_REUSEADDR and SO_REUSEPORT,
 * so that the port stays reserved for this uid while workers come and go;
 * port 0 picks an ephemeral one. *fd and *port_out on success. Errors:
 * INVALID_ARGUMENT (not a numeric address), UNAVAILABLE (bind). */
enum axle_status axle_workers_reserve_port(const char *host, int port, int *fd, int *port_out,
                                           struct axle_err *err);

#endif
