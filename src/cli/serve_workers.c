/*
 * serve_workers.c - the `axle serve --workers N` supervisor: forks the
 * workers, reads their start-up reports, restarts the ones that die (with
 * backoff, giving up on a crash loop), and passes signals on.
 *
 * One thread, one poll() over a signalfd (SIGTERM, SIGINT, SIGHUP,
 * SIGCHLD) and each worker's report pipe. Nothing here touches a model or
 * a connection; the workers are whole servers (cmd_serve.c).
 *
 * Policy (docs/serving.md#workers):
 *  - A worker that exits abnormally (a signal, or a non-zero status) is
 *    started again after a delay of 100 ms, doubling up to 5 s; a run of
 *    30 s or more resets the delay. After 8 abnormal exits of one worker
 *    in a row with no run of 30 s between them, the supervisor gives up:
 *    it drains the other workers and exits 1 (an orchestrator's restart
 *    policy takes it from there).
 *  - A worker that exits 0 outside a shutdown (someone sent it SIGTERM:
 *    a recycle) is started again at once.
 *  - A worker that dies before its listeners opened on its slot's first
 *    start fails the server: the others are drained, and the exit status
 *    is the worker's (1 if it was killed by a signal).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "cli/serve_workers.h"
#include "serve/server.h"

#define BACKOFF_MIN_S 0.1
#define BACKOFF_MAX_S 5.0
#define STABLE_RUN_S 30.0  /* a run this long resets the backoff */
#define CRASH_LOOP_N 8     /* abnormal exits in a row, none stable: give up */
#define SECOND_SIGNAL_WAIT_S 1.0

struct slot {
    pid_t pid;          /* 0: not running */
    int fd;             /* read end of its report pipe; -1 */
    int restarted;      /* the next (or current) start is a restart */
    int listened;       /* reported LISTENING at least once */
    int unlistened;     /* reported UNLISTENED (draining, listeners closed) */
    int first_state;    /* first READY / NOT_READY report; 0: none yet */
    double started_s;
    double restart_at_s; /* < 0: no restart pending */
    double backoff_s;
    int n_failed;       /* abnormal exits since the last stable run */
};

struct sup {
    const struct axle_workers_opts *o;
    struct slot *slots;
    int n;
    int sigfd;
    pid_t self;
    int announced_listening, announced_ready;
    int stopping;
    int released;       /* the stop's GO signal went out */
    double stop_deadline_s;
    int rc;
    int stopped_logged;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void axle_worker_notify(const struct axle_worker *w, char what)
{
    if (!w || w->notify_fd < 0)
        return;
    ssize_t r;
    do
        r = write(w->notify_fd, &what, 1);
    while (r < 0 && errno == EINTR);
}

enum axle_status axle_workers_reserve_port(const char *host, int port, int *fd, int *port_out,
                                           struct axle_err *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        len = sizeof(*a6);
    } else {
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid listen address (numeric IPv4 or IPv6 expected)");
    }
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return axle_err_set(err, AXLE_UNAVAILABLE, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(s, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(s);
        return axle_err_set(err, AXLE_UNAVAILABLE, "cannot listen on port %d: %s", port,
                            strerror(e));
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof(got);
    getsockname(s, (struct sockaddr *)&got, &gl);
    *port_out = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                               : ((struct sockaddr_in6 *)&got)->sin6_port);
    *fd = s;
    return AXLE_OK;
}

static void sup_log(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sup_log(const char *event, const char *fmt, ...)
{
    char detail[256];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    serve_log(event, NULL, NULL, fmt ? detail : NULL);
}

static void describe_status(int st, char *out, size_t cap)
{
    if (WIFEXITED(st))
        snprintf(out, cap, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, cap, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(out, cap, "stopped (status 0x%x)", (unsigned)st);
}

static int n_running(const struct sup *S)
{
    int n = 0;
    for (int k = 0; k < S->n; k++)
        n += S->slots[k].pid > 0;
    return n;
}

static void signal_all(struct sup *S, int sig)
{
    for (int k = 0; k < S->n; k++)
        if (S->slots[k].pid > 0)
            kill(S->slots[k].pid, sig);
}

/* Stop restarting and pass sig (SIGTERM, SIGINT) on: the workers drain. */
static void begin_stop(struct sup *S, int sig)
{
    S->stopping = 1;
    S->stop_deadline_s = now_s() + S->o->stop_grace_s;
    for (int k = 0; k < S->n; k++)
        S->slots[k].restart_at_s = -1;
    signal_all(S, sig);
}

/* Fork worker k. Returns 0 in the supervisor (-1 if fork failed); 1 in
 * the child, after the worker ran, with its exit status in *child_rc. */
static int spawn(struct sup *S, int k, int *child_rc)
{
    struct slot *sl = &S->slots[k];
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        sl->pid = pid;
        sl->fd = p[0];
        sl->unlistened = 0;
        sl->started_s = now_s();
        sup_log("worker_started", "worker %d, pid %d%s", k + 1, (int)pid,
                sl->restarted ? ", restarted" : "");
        return 0;
    }
    /* The child. Its own process group: a terminal's ^C reaches the
     * supervisor only, which passes it on once (a worker that saw it
     * twice would take it for the second, exit-now signal). */
    close(p[0]);
    close(S->sigfd);
    for (int j = 0; j < S->n; j++)
        if (S->slots[j].fd >= 0)
            close(S->slots[j].fd);
    for (int j = 0; j < S->o->n_close_in_child; j++)
        close(S->o->close_in_child[j]);
    setpgid(0, 0);
    /* Die with the supervisor: SIGTERM, so in-flight requests still
     * drain. If it is already gone, the signal will never come. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct axle_worker w = {.id = k + 1, .restarted = sl->restarted, .notify_fd = p[1]};
    free(S->slots);
    S->slots = NULL;
    if (getppid() != S->self) {
        close(p[1]);
        *child_rc = 1;
        return 1;
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    serve_log_set_worker(w.id);
    *child_rc = S->o->run(S->o->arg, &w);
    close(p[1]);
    return 1;
}

/* Read what worker k reported; at EOF close its pipe. */
static void read_reports(struct sup *S, int k)
{
    struct slot *sl = &S->slots[k];
    char buf[64];
    ssize_t r;
    for (;;) {
        r = read(sl->fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        break;
    }
    if (r <= 0) {
        close(sl->fd);
        sl->fd = -1;
        return;
    }
    for (ssize_t i = 0; i < r; i++) {
        if (buf[i] == AXLE_WORKER_LISTENING) {
            sl->listened = 1;
        } else if (buf[i] == AXLE_WORKER_UNLISTENED) {
            sl->unlistened = 1;
            /* A worker recycled on its own: nobody else to wait for. */
            if (!S->stopping && sl->pid > 0)
                kill(sl->pid, AXLE_WORKER_GO_SIGNAL);
        }
        if ((buf[i] == AXLE_WORKER_READY || buf[i] == AXLE_WORKER_NOT_READY) &&
                 !sl->first_state)
            sl->first_state = buf[i];
    }
}

static void on_exit_status(struct sup *S, int k, pid_t pid, int st)
{
    struct slot *sl = &S->slots[k];
    sl->pid = 0;
    while (sl->fd >= 0)
        read_reports(S, k); /* the pipe is at EOF now: reports, then close */
    char what[96];
    describe_status(st, what, sizeof(what));
    int clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    sup_log("worker_exited", "worker %d, pid %d, %s", k + 1, (int)pid, what);
    if (S->stopping) {
        if (!clean)
            S->rc = 1;
        return;
    }
    if (!sl->restarted && !sl->listened) {
        sup_log("worker_failed", "worker %d failed its first start: stopping", k + 1);
        /* Its status is the server's: 2 for a configuration it refused. */
        S->rc = WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : 1;
        begin_stop(S, SIGTERM);
        return;
    }
    sl->restarted = 1;
    double now = now_s();
    if (clean) {
        sl->restart_at_s = now;
        sup_log("worker_restarting", "worker %d at once (it exited cleanly)", k + 1);
        return;
    }
    if (now - sl->started_s >= STABLE_RUN_S) {
        sl->backoff_s = BACKOFF_MIN_S;
        sl->n_failed = 0;
    }
    if (++sl->n_failed >= CRASH_LOOP_N) {
        sup_log("crash_loop",
                "worker %d failed %d times in a row, none running %.0f s: stopping", k + 1,
                sl->n_failed, STABLE_RUN_S);
        S->rc = 1;
        begin_stop(S, SIGTERM);
        return;
    }
    sl->restart_at_s = now + sl->backoff_s;
    sup_log("worker_restarting", "worker %d in %.1f s (failure %d of %d)", k + 1, sl->backoff_s,
            sl->n_failed, CRASH_LOOP_N);
    sl->backoff_s *= 2;
    if (sl->backoff_s > BACKOFF_MAX_S)
        sl->backoff_s = BACKOFF_MAX_S;
}

static void reap(struct sup *S)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        for (int k = 0; k < S->n; k++)
            if (S->slots[k].pid == pid) {
                on_exit_status(S, k, pid, st);
                break;
            }
}

/* During a stop: once every running worker has closed its listeners, let
 * them all close their keep-alive connections. Until then no worker sends
 * Connection: close, so clients do not reconnect while listeners are
 * closing (a connection whose handshake is under way on a listener that
 * closes is reset, which its client cannot tell from a lost request). */
static void release_if_unlistened(struct sup *S)
{
    if (!S->stopping || S->released)
        return;
    for (int k = 0; k < S->n; k++)
        if (S->slots[k].pid > 0 && !S->slots[k].unlistened)
            return;
    S->released = 1;
    serve_log("listeners_closed", NULL, NULL, "every worker");
    signal_all(S, AXLE_WORKER_GO_SIGNAL);
}

static void announce(struct sup *S)
{
    if (S->stopping)
        return;
    int listening = 1, reported = 1, ready = 1;
    for (int k = 0; k < S->n; k++) {
        listening &= S->slots[k].listened;
        reported &= S->slots[k].first_state != 0;
        ready &= S->slots[k].first_state == AXLE_WORKER_READY;
    }
    if (!S->announced_listening && listening) {
        S->announced_listening = 1;
        serve_log("listening", NULL, NULL, S->o->listening_detail);
    }
    if (S->announced_listening && !S->announced_ready && reported) {
        S->announced_ready = 1;
        serve_log(ready ? "ready" : "not_ready", NULL, NULL, NULL);
    }
}

/* After a second signal: the workers were told; give them a moment to
 * exit, then kill what is left. */
static void finish_now(struct sup *S)
{
    double until = now_s() + SECOND_SIGNAL_WAIT_S;
    while (n_running(S) > 0 && now_s() < until) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        reap(S);
    }
    signal_all(S, SIGKILL);
    while (n_running(S) > 0) {
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0)
            break;
        for (int k = 0; k < S->n; k++)
            if (S->slots[k].pid == pid)
                S->slots[k].pid = 0;
    }
}

/* Returns 1 to go on, 0 when the supervisor must return S->rc now. */
static int on_signal(struct sup *S, int sig)
{
    if (sig == SIGCHLD) {
        reap(S);
        return 1;
    }
    if (sig == SIGHUP) {
        signal_all(S, SIGHUP);
        return 1;
    }
    if (sig != SIGTERM && sig != SIGINT)
        return 1;
    if (!S->stopping) {
        serve_log("draining", NULL, NULL, NULL);
        begin_stop(S, sig);
        return 1;
    }
    serve_log("stopped", NULL, NULL, "second signal");
    S->stopped_logged = 1;
    signal_all(S, sig);
    finish_now(S);
    S->rc = 1;
    return 0;
}

static int supervise(struct sup *S, int *child_rc)
{
    for (int k = 0; k < S->n; k++) {
        int r = spawn(S, k, child_rc);
        if (r == 1)
            return 1;
        if (r < 0) {
            sup_log("worker_failed", "cannot fork worker %d: %s", k + 1, strerror(errno));
            S->rc = 1;
            begin_stop(S, SIGTERM);
            break;
        }
    }
    struct pollfd *pfd = axle_xcalloc((size_t)S->n + 1, sizeof(*pfd));
    int *who = axle_xcalloc((size_t)S->n + 1, sizeof(*who));
    int killed_late = 0;
    for (;;) {
        reap(S);
        if (S->stopping && n_running(S) == 0)
            break;
        double now = now_s();
        double wait = 1.0;
        for (int k = 0; k < S->n && !S->stopping; k++) {
            struct slot *sl = &S->slots[k];
            if (sl->restart_at_s < 0)
                continue;
            if (sl->restart_at_s <= now) {
                sl->restart_at_s = -1;
                int r = spawn(S, k, child_rc);
                if (r == 1) {
                    free(pfd);
                    free(who);
                    return 1;
                }
                if (r < 0) {
                    sl->restart_at_s = now + sl->backoff_s;
                    sup_log("worker_restarting", "worker %d: fork failed (%s), again in %.1f s",
                            k + 1, strerror(errno), sl->backoff_s);
                }
                continue;
            }
            if (sl->restart_at_s - now < wait)
                wait = sl->restart_at_s - now;
        }
        if (S->stopping && !killed_late) {
            if (now >= S->stop_deadline_s) {
                sup_log("drain_overrun", "%d worker(s) still running after %.0f s: killed",
                        n_running(S), S->o->stop_grace_s);
                signal_all(S, SIGKILL);
                S->rc = 1;
                killed_late = 1;
            } else if (S->stop_deadline_s - now < wait) {
                wait = S->stop_deadline_s - now;
            }
        }
        int n = 0;
        pfd[n].fd = S->sigfd;
        pfd[n].events = POLLIN;
        who[n++] = -1;
        for (int k = 0; k < S->n; k++)
            if (S->slots[k].fd >= 0) {
                pfd[n].fd = S->slots[k].fd;
                pfd[n].events = POLLIN;
                who[n++] = k;
            }
        int ms = (int)(wait * 1000) + 1;
        if (poll(pfd, (nfds_t)n, ms) < 0 && errno != EINTR)
            break;
        for (int i = 1; i < n; i++)
            if (pfd[i].revents && S->slots[who[i]].fd == pfd[i].fd)
                read_reports(S, who[i]);
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            int go_on = 1;
            while (go_on && read(S->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                go_on = on_signal(S, (int)si.ssi_signo);
            if (!go_on)
                break;
        }
        release_if_unlistened(S);
        announce(S);
    }
    free(pfd);
    free(who);
    return 0;
}

int axle_workers_run(const struct axle_workers_opts *o)
{
    struct sup S = {.o = o, .n = o->n_workers, .self = getpid(), .rc = 0};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, AXLE_WORKER_GO_SIGNAL); /* blocked in every worker from birth */
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    S.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (S.sigfd < 0) {
        fprintf(stderr, "axle serve: signalfd: %s\n", strerror(errno));
        return 1;
    }
    S.slots = axle_xcalloc((size_t)S.n, sizeof(*S.slots));
    for (int k = 0; k < S.n; k++) {
        S.slots[k].fd = -1;
        S.slots[k].restart_at_s = -1;
        S.slots[k].backoff_s = BACKOFF_MIN_S;
    }
    int child_rc = 0;
    if (supervise(&S, &child_rc))
        return child_rc; /* a worker, done */
    close(S.sigfd);
    free(S.slots);
    if (!S.stopped_logged && S.rc == 0) {
        serve_log("stopped", NULL, NULL, NULL);
    } else if (!S.stopped_logged) {
        char detail[32];
        snprintf(detail, sizeof(detail), "exit status %d", S.rc);
        serve_log("stopped", NULL, NULL, detail);
    }
    return S.rc;
}
