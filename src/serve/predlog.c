/*
 * predlog.c - the prediction log writer (predlog.h; format and guarantees
 * in docs/monitoring.md and SECURITY.md section 4).
 *
 * Producers (the event-loop threads) copy a record into a byte ring under
 * one mutex: a 24-byte entry header (payload length, type, the sync
 * completion) and the payload, padded to 8 bytes, wrapping at the end of
 * the ring. Nothing allocates per record. The writer thread is the only
 * consumer: it reads the occupied part of the ring without the lock (no
 * producer writes there), frames up to 256 records or 1 MiB into one
 * buffer with their seq numbers and CRCs, and write()s it with one call;
 * then it takes the lock again only to release the space.
 *
 * The writer owns everything on disk: the segment fd, its size and age,
 * the next seq. A failed or short write() or a failed fdatasync poisons
 * the segment (closed, never written or synced again), the records of the
 * batch are counted lost (sync: their requests are told ok=0), and a new
 * segment is opened at once; when that fails too, opening is retried with
 * a backoff of 1 s doubling to 30 s, and meanwhile appends are refused
 * (async: counted as dropped). A GAP record opens the next good write
 * whenever records were dropped or lost since the last one.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/predlog.h"

#define DEF_SEGMENT_BYTES (64ull << 20)
#define DEF_SEGMENT_SECONDS 3600ull
#define DEF_QUEUE_BYTES (64ull << 20)
#define BATCH_RECORDS 256
#define BATCH_BYTES (1u << 20)
#define ASYNC_SYNC_NS 200000000ull  /* fdatasync at least every 200 ms */
#define ASYNC_SYNC_BYTES (1u << 20) /* ... or every 1 MiB written */
#define SYNC_WAIT_NS 100000000ll    /* sync appenders wait this long for space */
#define ASYNC_WAKE_BYTES (256u << 10) /* async: the appender crossing this wakes the writer */
#define ASYNC_FLUSH_NS 10000000ull  /* async: queued records are written within 10 ms */
#define BACKOFF_MIN_NS 1000000000ull
#define BACKOFF_MAX_NS 30000000000ull
#define ERROR_LOG_NS 60000000000ull /* repeated open errors: one line a minute */
#define RECOVER_MAX_BYTES (4ull << 30)
#define N_FSYNC_BUCKETS 10

static const double fsync_bounds[N_FSYNC_BUCKETS] = {0.0001, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,  0.05,  0.1,    1};

struct entry_hdr {
    uint32_t len;
    uint32_t type;
    predlog_done_fn done;
    void *arg;
};
#define ENTRY_HDR sizeof(struct entry_hdr)
#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

struct pending {
    predlog_done_fn done;
    void *arg;
};

struct predlog {
    struct predlog_opts o;
    char *dir;
    int dirfd;
    char boot_id[37];

    pthread_mutex_t mu;
    pthread_cond_t work; /* writer waits: records, rotate, close */
    pthread_cond_t space; /* sync appenders wait for ring space */
    char *ring;
    size_t cap, head, used;
    size_t wake_bytes; /* async: min(ASYNC_WAKE_BYTES, cap / 4) */
    int closing, rotate_req, writer_idle, healthy;
    uint64_t dropped_pending, lost_pending; /* not yet reported by a GAP record */
    /* Counters (under mu). */
    uint64_t n_records, n_dropped, n_lost, n_write_errors, n_deleted, n_fsync;
    uint64_t fsync_buckets[N_FSYNC_BUCKETS + 1];
    double fsync_sum;
    uint64_t next_seq_pub;

    /* Writer-thread state. */
    pthread_t thread;
    int fd;                  /* the open segment, -1 when none */
    uint64_t seg_seq;        /* its start seq */
    uint64_t seg_bytes, seg_opened_ns;
    uint64_t next_seq;
    uint64_t unsynced, last_sync_ns;
    uint64_t retry_at_ns, backoff_ns, last_err_log_ns;
    char *out;
    size_t out_len, out_cap;
    struct pending batch[BATCH_RECORDS];
    int n_batch;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void log_ev(struct predlog *l, const char *level, const char *event, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static void log_ev(struct predlog *l, const char *level, const char *event, const char *fmt,
                   ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (l->o.log_fn)
        l->o.log_fn(l->o.log_arg, level, event, detail);
    else
        fprintf(stderr, "predlog %s %s: %s\n", level, event, detail);
}

/* RFC 3339 UTC with milliseconds in out[25]. */
static void now_rfc3339(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    unsigned ms = (unsigned)(ts.tv_nsec / 1000000) % 1000u;
    out[n] = '.';
    out[n + 1] = (char)('0' + ms / 100);
    out[n + 2] = (char)('0' + ms / 10 % 10);
    out[n + 3] = (char)('0' + ms % 10);
    out[n + 4] = 'Z';
    out[n + 5] = 0;
}

/* ------------------------------------------------------------------ */
/* I/O with the test hook                                              */

static int fault(struct predlog *l, const char *point, uint64_t seq)
{
    return l->o.fault_fn ? l->o.fault_fn(l->o.fault_arg, point, seq) : 0;
}

/* Whole buffer or -1 (errno set; a short write is EIO). */
static int write_all(struct predlog *l, int fd, const void *p, size_t n)
{
    int e = fault(l, "write", l->seg_seq);
    if (e) {
        errno = e;
        return -1;
    }
    const char *s = p;
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0) {
            errno = EIO;
            return -1;
        }
        /* A short write is not retried: what follows it may be a torn
         * record already, so the segment is poisoned all the same. */
        if ((size_t)k < n) {
            errno = ENOSPC;
            return -1;
        }
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

static int datasync(struct predlog *l)
{
    int e = fault(l, "fdatasync", l->seg_seq);
    if (e) {
        errno = e;
        return -1;
    }
    uint64_t t0 = mono_ns();
    int rc = fdatasync(l->fd);
    double s = (double)(mono_ns() - t0) / 1e9;
    pthread_mutex_lock(&l->mu);
    l->n_fsync++;
    l->fsync_sum += s;
    int b = 0;
    while (b < N_FSYNC_BUCKETS && s > fsync_bounds[b])
        b++;
    l->fsync_buckets[b]++;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Framing                                                             */

static void wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void out_reserve(struct predlog *l, size_t n)
{
    if (l->out_len + n <= l->out_cap)
        return;
    size_t cap = l->out_cap ? l->out_cap : 64 * 1024;
    while (cap < l->out_len + n)
        cap *= 2;
    l->out = axle_xrealloc(l->out, cap);
    l->out_cap = cap;
}

/* Start a frame of payload length n at the end of out; returns where the
 * payload goes. frame_end() adds the CRC. */
static unsigned char *frame_begin(struct predlog *l, int type, uint32_t n, size_t *at)
{
    out_reserve(l, PREDLOG_FRAME_BYTES + n);
    unsigned char *h = (unsigned char *)l->out + l->out_len;
    memcpy(h, PREDLOG_MAGIC, 4);
    wr32(h + 4, n);
    uint64_t seq = l->next_seq++;
    wr32(h + 8, (uint32_t)seq);
    wr32(h + 12, (uint32_t)(seq >> 32));
    h[16] = (unsigned char)type;
    h[17] = h[18] = h[19] = 0;
    *at = l->out_len;
    l->out_len += PREDLOG_FRAME_BYTES + n;
    return h + PREDLOG_HDR_BYTES;
}

static void frame_end(struct predlog *l, size_t at)
{
    unsigned char *h = (unsigned char *)l->out + at;
    uint32_t n = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
                 (uint32_t)h[7] << 24;
    wr32(h + PREDLOG_HDR_BYTES + n, axle_crc32c(0, h + 4, PREDLOG_HDR_BYTES - 4 + n));
}

static void frame_text(struct predlog *l, int type, const char *s)
{
    size_t at, n = strlen(s);
    memcpy(frame_begin(l, type, (uint32_t)n, &at), s, n);
    frame_end(l, at);
}

/* ------------------------------------------------------------------ */
/* Segments                                                            */

static void seal(struct predlog *l, int sync_first)
{
    if (l->fd < 0)
        return;
    if (sync_first && l->unsynced && datasync(l) != 0) {
        pthread_mutex_lock(&l->mu);
        l->n_write_errors++;
        pthread_mutex_unlock(&l->mu);
        log_ev(l, "error", "predlog_fsync_failed", "segment %llu: %s",
               (unsigned long long)l->seg_seq, strerror(errno));
    }
    close(l->fd);
    l->fd = -1;
    l->unsynced = 0;
}

static void set_healthy(struct predlog *l, int h)
{
    pthread_mutex_lock(&l->mu);
    l->healthy = h;
    pthread_mutex_unlock(&l->mu);
}

/* A new segment starting at next_seq: O_EXCL file, SEGMENT_START record,
 * fsync of file and directory. 0 or -1 (errno). */
static int segment_open(struct predlog *l)
{
    char name[PREDLOG_NAME_LEN + 1];
    predlog_segment_name(name, l->next_seq);
    int e = fault(l, "open", l->next_seq);
    if (e) {
        errno = e;
        return -1;
    }
    int fd = openat(l->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    l->fd = fd;
    l->seg_seq = l->next_seq;
    char ts[32], p[256];
    now_rfc3339(ts);
    snprintf(p, sizeof(p), "{\"format_version\":%d,\"boot_id\":\"%s\",\"pid\":%ld,\"ts\":\"%s\"}",
             PREDLOG_FORMAT_VERSION, l->boot_id, (long)getpid(), ts);
    size_t saved = l->out_len; /* a batch may be framed already: keep it */
    uint64_t saved_seq = l->next_seq;
    frame_text(l, PREDLOG_SEGMENT_START, p);
    int err = 0;
    if (write_all(l, fd, l->out + saved, l->out_len - saved) != 0 || datasync(l) != 0 ||
        fsync(l->dirfd) != 0)
        err = errno ? errno : EIO;
    size_t n = l->out_len - saved;
    l->out_len = saved;
    if (err) {
        close(fd);
        l->fd = -1;
        l->next_seq = saved_seq; /* the name is taken: the next try moves on */
        l->next_seq++;
        errno = err;
        return -1;
    }
    l->seg_bytes = n;
    l->seg_opened_ns = mono_ns();
    l->unsynced = 0;
    l->last_sync_ns = l->seg_opened_ns;
    return 0;
}

/* Delete the oldest sealed segments while they hold more than
 * retention_bytes. */
static void retention(struct predlog *l)
{
    if (!l->o.retention_bytes)
        return;
    uint64_t *seqs;
    size_t n;
    struct axle_err e;
    if (predlog_segments(l->dirfd, &seqs, &n, &e) != AXLE_OK)
        return;
    uint64_t *sz = axle_xcalloc(n ? n : 1, sizeof(*sz));
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (l->fd >= 0 && seqs[i] == l->seg_seq)
            continue; /* the active segment is not counted or deleted */
        char name[PREDLOG_NAME_LEN + 1];
        predlog_segment_name(name, seqs[i]);
        struct stat st;
        if (fstatat(l->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            sz[i] = (uint64_t)st.st_size;
        total += sz[i];
    }
    uint64_t deleted = 0;
    for (size_t i = 0; i < n && total > l->o.retention_bytes; i++) {
        if (l->fd >= 0 && seqs[i] == l->seg_seq)
            continue;
        char name[PREDLOG_NAME_LEN + 1];
        predlog_segment_name(name, seqs[i]);
        if (unlinkat(l->dirfd, name, 0) == 0) {
            total -= sz[i];
            deleted++;
            log_ev(l, "info", "predlog_segment_deleted", "%s (retention %llu bytes)", name,
                   (unsigned long long)l->o.retention_bytes);
        }
    }
    if (deleted) {
        fsync(l->dirfd);
        pthread_mutex_lock(&l->mu);
        l->n_deleted += deleted;
        pthread_mutex_unlock(&l->mu);
    }
    free(sz);
    free(seqs);
}

/* Try to have a healthy segment; respects the backoff. 0 when one is open. */
static int ensure_segment(struct predlog *l)
{
    if (l->fd >= 0)
        return 0;
    uint64_t now = mono_ns();
    if (now < l->retry_at_ns)
        return -1;
    if (segment_open(l) == 0) {
        if (l->backoff_ns)
            log_ev(l, "info", "predlog_recovered", "writing segment %llu",
                   (unsigned long long)l->seg_seq);
        l->backoff_ns = 0;
        l->retry_at_ns = 0;
        set_healthy(l, 1);
        return 0;
    }
    int e = errno;
    l->backoff_ns = l->backoff_ns ? l->backoff_ns * 2 : BACKOFF_MIN_NS;
    if (l->backoff_ns > BACKOFF_MAX_NS)
        l->backoff_ns = BACKOFF_MAX_NS;
    l->retry_at_ns = now + l->backoff_ns;
    set_healthy(l, 0);
    if (!l->last_err_log_ns || now - l->last_err_log_ns >= ERROR_LOG_NS) {
        l->last_err_log_ns = now;
        log_ev(l, "error", "predlog_unavailable", "cannot open a segment: %s; retrying",
               strerror(e));
    }
    return -1;
}

/* The segment failed a write or fsync: never touch it again. */
static void poison(struct predlog *l, const char *what, int e)
{
    log_ev(l, "error", "predlog_segment_poisoned", "segment %llu: %s failed: %s",
           (unsigned long long)l->seg_seq, what, strerror(e));
    close(l->fd);
    l->fd = -1;
    l->unsynced = 0;
    pthread_mutex_lock(&l->mu);
    l->n_write_errors++;
    l->healthy = 0;
    pthread_mutex_unlock(&l->mu);
    l->retry_at_ns = 0; /* a new segment at once */
    l->backoff_ns = 0;
}

static void finish_batch(struct predlog *l, int ok)
{
    for (int i = 0; i < l->n_batch; i++)
        if (l->batch[i].done)
            l->batch[i].done(l->batch[i].arg, ok);
    l->n_batch = 0;
}

/* ------------------------------------------------------------------ */
/* Ring                                                                */

static void ring_in(struct predlog *l, size_t off, const void *p, size_t n)
{
    off %= l->cap;
    size_t a = l->cap - off < n ? l->cap - off : n;
    memcpy(l->ring + off, p, a);
    if (n > a)
        memcpy(l->ring, (const char *)p + a, n - a);
}

static void ring_out(struct predlog *l, size_t off, void *p, size_t n)
{
    off %= l->cap;
    size_t a = l->cap - off < n ? l->cap - off : n;
    memcpy(p, l->ring + off, a);
    if (n > a)
        memcpy((char *)p + a, l->ring, n - a);
}

int predlog_append(struct predlog *l, enum predlog_type type, const char *payload, size_t len,
                   predlog_done_fn done, void *arg)
{
    if (!l || len > PREDLOG_MAX_PAYLOAD)
        return -1;
    size_t need = ENTRY_HDR + ALIGN8(len);
    pthread_mutex_lock(&l->mu);
    if (l->closing || need > l->cap) {
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    if (l->o.durability == PREDLOG_SYNC) {
        if (!l->healthy) {
            pthread_mutex_unlock(&l->mu);
            return -1;
        }
        if (l->cap - l->used < need) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += SYNC_WAIT_NS;
            dl.tv_sec += dl.tv_nsec / 1000000000;
            dl.tv_nsec %= 1000000000;
            while (l->cap - l->used < need && !l->closing &&
                   pthread_cond_timedwait(&l->space, &l->mu, &dl) == 0)
                ;
            if (l->cap - l->used < need || l->closing) {
                pthread_mutex_unlock(&l->mu);
                return -1;
            }
        }
    } else if (!l->healthy || l->cap - l->used < need) {
        l->n_dropped++;
        l->dropped_pending++;
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    struct entry_hdr h = {(uint32_t)len, (uint32_t)type, done, arg};
    size_t tail = l->head + l->used;
    ring_in(l, tail, &h, ENTRY_HDR);
    ring_in(l, tail + ENTRY_HDR, payload, len);
    size_t before = l->used;
    l->used += need;
    int wake = l->writer_idle &&
               (l->o.durability == PREDLOG_SYNC ||
                (before < l->wake_bytes && l->used >= l->wake_bytes));
    pthread_mutex_unlock(&l->mu);
    if (wake)
        pthread_cond_signal(&l->work);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writer thread                                                       */

/* Frame a GAP record when drops or losses are unreported. */
static void frame_gap(struct predlog *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t d = l->dropped_pending, m = l->lost_pending;
    l->dropped_pending = l->lost_pending = 0;
    pthread_mutex_unlock(&l->mu);
    if (!d && !m)
        return;
    char ts[32], p[160];
    now_rfc3339(ts);
    snprintf(p, sizeof(p), "{\"dropped\":%llu,\"lost\":%llu,\"ts\":\"%s\"}",
             (unsigned long long)d, (unsigned long long)m, ts);
    frame_text(l, PREDLOG_GAP, p);
}

/* Write out (framed) to the segment; on failure poison it and count the
 * batch lost. Returns 0 on success. */
static int flush_out(struct predlog *l, int records)
{
    if (!l->out_len)
        return 0;
    int rc = write_all(l, l->fd, l->out, l->out_len);
    if (rc == 0) {
        l->seg_bytes += l->out_len;
        l->unsynced += l->out_len;
        l->out_len = 0;
        return 0;
    }
    int e = errno;
    l->out_len = 0;
    pthread_mutex_lock(&l->mu);
    l->n_lost += (uint64_t)records;
    l->lost_pending += (uint64_t)records;
    pthread_mutex_unlock(&l->mu);
    poison(l, "write", e);
    return -1;
}

static int sync_now(struct predlog *l, uint64_t lost_if_fail)
{
    if (!l->unsynced)
        return 0;
    if (datasync(l) == 0) {
        l->unsynced = 0;
        l->last_sync_ns = mono_ns();
        return 0;
    }
    int e = errno;
    pthread_mutex_lock(&l->mu);
    l->n_lost += lost_if_fail;
    l->lost_pending += lost_if_fail;
    pthread_mutex_unlock(&l->mu);
    poison(l, "fdatasync", e);
    return -1;
}

static void maybe_rotate(struct predlog *l, int forced)
{
    uint64_t limit_b = l->o.segment_bytes ? l->o.segment_bytes : DEF_SEGMENT_BYTES;
    uint64_t limit_s = l->o.segment_seconds ? l->o.segment_seconds : DEF_SEGMENT_SECONDS;
    if (l->fd < 0)
        return;
    if (!forced && l->seg_bytes < limit_b && mono_ns() - l->seg_opened_ns < limit_s * 1000000000ull)
        return;
    uint64_t old = l->seg_seq;
    if (l->unsynced && sync_now(l, 0) != 0)
        return; /* poisoned: a new segment comes from ensure_segment */
    seal(l, 0);
    log_ev(l, "info", "predlog_rotated", "sealed segment %llu", (unsigned long long)old);
    retention(l);
    ensure_segment(l);
}

static void *writer_main(void *arg)
{
    struct predlog *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        /* Sync: go as soon as anything is queued. Async: once ASYNC_WAKE_BYTES
         * are queued (the appender that crosses it wakes us), or when what
         * is queued has waited ASYNC_FLUSH_NS - appenders do not signal
         * every record, so a busy server pays no wake-up per request. */
        size_t go = l->o.durability == PREDLOG_SYNC ? 1 : l->wake_bytes;
        int timed_out = 0;
        while (!l->closing && !l->rotate_req && l->used < go && !(l->used && timed_out)) {
            uint64_t now = mono_ns(), wait_ns = ASYNC_SYNC_NS;
            if (l->used)
                wait_ns = ASYNC_FLUSH_NS;
            else if (l->fd < 0)
                wait_ns = l->retry_at_ns > now ? l->retry_at_ns - now : 0;
            else if (l->unsynced)
                wait_ns = l->last_sync_ns + ASYNC_SYNC_NS > now
                              ? l->last_sync_ns + ASYNC_SYNC_NS - now : 0;
            if (!wait_ns)
                break;
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += (time_t)(wait_ns / 1000000000ull);
            dl.tv_nsec += (long)(wait_ns % 1000000000ull);
            if (dl.tv_nsec >= 1000000000) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000;
            }
            l->writer_idle = 1;
            int rc = pthread_cond_timedwait(&l->work, &l->mu, &dl);
            l->writer_idle = 0;
            if (rc) {
                timed_out = 1;
                if (!l->used)
                    break; /* sync or retry below */
            }
        }
        size_t head = l->head, used = l->used;
        int closing = l->closing, rotate = l->rotate_req;
        l->rotate_req = 0;
        pthread_mutex_unlock(&l->mu);

        ensure_segment(l);
        if (rotate)
            maybe_rotate(l, 1);

        /* Take up to a batch from the ring, outside the lock. */
        size_t taken = 0;
        int records = 0;
        l->n_batch = 0;
        if (l->fd >= 0)
            frame_gap(l);
        while (taken < used && records < BATCH_RECORDS &&
               (records == 0 || l->out_len < BATCH_BYTES)) {
            struct entry_hdr h;
            ring_out(l, head + taken, &h, ENTRY_HDR);
            if (l->fd >= 0) {
                size_t at;
                unsigned char *p = frame_begin(l, (int)h.type, h.len, &at);
                ring_out(l, head + taken + ENTRY_HDR, p, h.len);
                frame_end(l, at);
            }
            l->batch[l->n_batch].done = h.done;
            l->batch[l->n_batch].arg = h.arg;
            l->n_batch++;
            records++;
            taken += ENTRY_HDR + ALIGN8(h.len);
        }
        if (taken) {
            pthread_mutex_lock(&l->mu);
            l->head = (l->head + taken) % l->cap;
            l->used -= taken;
            if (!l->used)
                l->head = 0; /* restart at the front: the ring stays cache-warm */
            pthread_mutex_unlock(&l->mu);
            pthread_cond_broadcast(&l->space);
        }

        int ok = 0;
        if (l->fd < 0) {
            /* No segment: these were accepted before it failed. */
            if (records) {
                pthread_mutex_lock(&l->mu);
                l->n_lost += (uint64_t)records;
                l->lost_pending += (uint64_t)records;
                pthread_mutex_unlock(&l->mu);
            }
        } else if (flush_out(l, records) == 0) {
            if (l->o.durability == PREDLOG_SYNC)
                ok = sync_now(l, (uint64_t)records) == 0;
            else {
                ok = 1;
                if (l->unsynced >= ASYNC_SYNC_BYTES ||
                    mono_ns() - l->last_sync_ns >= ASYNC_SYNC_NS)
                    sync_now(l, 0);
            }
        }
        if (ok && records) {
            pthread_mutex_lock(&l->mu);
            l->n_records += (uint64_t)records;
            l->next_seq_pub = l->next_seq;
            pthread_mutex_unlock(&l->mu);
        }
        finish_batch(l, ok);
        if (l->fd < 0)
            ensure_segment(l); /* a poisoned segment is replaced at once */
        else
            maybe_rotate(l, 0);

        if (closing && taken == used) {
            pthread_mutex_lock(&l->mu);
            int more = l->used != 0;
            pthread_mutex_unlock(&l->mu);
            if (!more)
                break;
        }
    }
    if (l->fd >= 0) {
        frame_gap(l);
        char ts[32], p[96];
        now_rfc3339(ts);
        snprintf(p, sizeof(p), "{\"ts\":\"%s\"}", ts);
        frame_text(l, PREDLOG_SHUTDOWN, p);
        if (flush_out(l, 0) == 0)
            sync_now(l, 0);
        seal(l, 0);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Recovery                                                            */

/* Move data[valid..len) of segment name into name.torn (a new file), then
 * truncate the segment to valid bytes. */
static int move_torn(struct predlog *l, const char *name, const char *data, size_t valid,
                     size_t len, struct axle_err *err)
{
    char torn[PREDLOG_NAME_LEN + 64];
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++) {
        if (i == 0)
            snprintf(torn, sizeof(torn), "%s.torn", name);
        else
            snprintf(torn, sizeof(torn), "%s.torn.%d", name, i);
        fd = openat(l->dirfd, torn, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        return axle_err_set(err, AXLE_UNAVAILABLE, "prediction log recovery: %s.torn: %s", name,
                            strerror(errno));
    const char *p = data + valid;
    size_t n = len - valid;
    int bad = 0;
    while (n && !bad) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            bad = 1;
        else {
            p += k;
            n -= (size_t)k;
        }
    }
    if (bad || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return axle_err_set(err, AXLE_UNAVAILABLE, "prediction log recovery: %s: %s", torn,
                            strerror(e));
    }
    close(fd);
    int sfd = openat(l->dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (sfd < 0 || ftruncate(sfd, (off_t)valid) != 0 || fdatasync(sfd) != 0) {
        int e = errno;
        if (sfd >= 0)
            close(sfd);
        return axle_err_set(err, AXLE_UNAVAILABLE, "prediction log recovery: %s: %s", name,
                            strerror(e));
    }
    close(sfd);
    fsync(l->dirfd);
    log_ev(l, "info", "predlog_torn_tail", "%s: %zu bytes after the last valid record moved to %s",
           name, len - valid, torn);
    return AXLE_OK;
}

static enum axle_status recover(struct predlog *l, struct axle_err *err)
{
    uint64_t *seqs;
    size_t n;
    enum axle_status st = predlog_segments(l->dirfd, &seqs, &n, err);
    if (st != AXLE_OK)
        return st;
    l->next_seq = 1;
    if (!n) {
        free(seqs);
        return AXLE_OK;
    }
    uint64_t newest = seqs[n - 1];
    free(seqs);
    char name[PREDLOG_NAME_LEN + 1];
    predlog_segment_name(name, newest);
    char *data;
    size_t len;
    struct axle_err e2;
    st = predlog_read_file(l->dirfd, name, RECOVER_MAX_BYTES, &data, &len, &e2);
    if (st != AXLE_OK)
        return axle_err_set(err, AXLE_UNAVAILABLE, "prediction log recovery: %s", e2.msg);
    struct predlog_tail t;
    predlog_scan_tail(data, len, &t);
    if (t.valid < len)
        st = move_torn(l, name, data, t.valid, len, err);
    else if (t.last_type != PREDLOG_SHUTDOWN)
        log_ev(l, "info", "predlog_unclean_end", "%s: %llu records, no shutdown record", name,
               (unsigned long long)t.n_records);
    free(data);
    if (st != AXLE_OK)
        return st;
    /* Never append to a recovered segment: the next one starts past it. */
    l->next_seq = t.n_records ? t.last_seq + 1 : newest + 1;
    if (l->next_seq <= newest)
        l->next_seq = newest + 1;
    return AXLE_OK;
}

/* ------------------------------------------------------------------ */
/* Open, close, metrics                                                */

static void make_boot_id(char out[37])
{
    unsigned char u[16];
    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
        uint64_t a = mono_ns() ^ (uint64_t)getpid() << 32;
        memcpy(u, &a, 8);
        memcpy(u + 8, &a, 8);
    }
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[u[i] >> 4];
        out[k++] = hex[u[i] & 15];
    }
    out[k] = 0;
}

static void free_log(struct predlog *l)
{
    if (l->dirfd >= 0)
        close(l->dirfd);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->space);
    free(l->ring);
    free(l->out);
    free(l->dir);
    free(l);
}

enum axle_status predlog_open(const struct predlog_opts *o, struct predlog **out,
                              struct axle_err *err)
{
    *out = NULL;
    if (!o || !o->dir || !o->dir[0])
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "prediction log: no directory");
    struct predlog *l = axle_try_calloc(1, sizeof(*l));
    if (!l)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "prediction log: no memory");
    l->o = *o;
    l->dir = axle_xstrdup(o->dir);
    l->o.dir = l->dir;
    l->fd = -1;
    l->dirfd = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&l->work, &ca);
    pthread_cond_init(&l->space, &ca);
    pthread_condattr_destroy(&ca);
    make_boot_id(l->boot_id);

    l->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (l->dirfd < 0) {
        int e = errno;
        free_log(l);
        return axle_err_set(err, e == ENOENT ? AXLE_NOT_FOUND
                                 : e == EACCES ? AXLE_PERMISSION_DENIED
                                               : AXLE_FAILED_PRECONDITION,
                            "prediction log directory %s: %s", o->dir, strerror(e));
    }
    l->cap = ALIGN8(o->queue_bytes ? o->queue_bytes : DEF_QUEUE_BYTES);
    if (l->cap < 4096)
        l->cap = 4096;
    l->wake_bytes = l->cap / 4 < ASYNC_WAKE_BYTES ? l->cap / 4 : ASYNC_WAKE_BYTES;
    l->ring = axle_try_malloc(l->cap);
    if (!l->ring) {
        free_log(l);
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "prediction log: no memory for the queue");
    }
    enum axle_status st = recover(l, err);
    if (st != AXLE_OK) {
        free_log(l);
        return st;
    }
    if (segment_open(l) != 0) {
        int e = errno;
        free_log(l);
        return axle_err_set(err, e == EACCES ? AXLE_PERMISSION_DENIED : AXLE_UNAVAILABLE,
                            "prediction log: cannot start a segment in %s: %s", o->dir,
                            strerror(e));
    }
    l->healthy = 1;
    l->next_seq_pub = l->next_seq;
    if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
        seal(l, 1);
        free_log(l);
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "prediction log: no writer thread");
    }
    log_ev(l, "info", "predlog_open", "%s: segment %llu, %s", o->dir,
           (unsigned long long)l->seg_seq, o->durability == PREDLOG_SYNC ? "sync" : "async");
    *out = l;
    return AXLE_OK;
}

void predlog_close(struct predlog *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->closing = 1;
    pthread_mutex_unlock(&l->mu);
    pthread_cond_signal(&l->work);
    pthread_cond_broadcast(&l->space);
    pthread_join(l->thread, NULL);
    free_log(l);
}

int predlog_healthy(struct predlog *l)
{
    pthread_mutex_lock(&l->mu);
    int h = l->healthy;
    pthread_mutex_unlock(&l->mu);
    return h;
}

void predlog_rotate(struct predlog *l)
{
    pthread_mutex_lock(&l->mu);
    l->rotate_req = 1;
    pthread_mutex_unlock(&l->mu);
    pthread_cond_signal(&l->work);
}

void predlog_get_stats(struct predlog *l, struct predlog_stats *s)
{
    pthread_mutex_lock(&l->mu);
    s->queue_bytes = l->used;
    s->records = l->n_records;
    s->dropped = l->n_dropped;
    s->lost = l->n_lost;
    s->write_errors = l->n_write_errors;
    s->segments_deleted = l->n_deleted;
    s->n_fsync = l->n_fsync;
    s->next_seq = l->next_seq_pub;
    s->healthy = l->healthy;
    pthread_mutex_unlock(&l->mu);
}

void predlog_metrics(struct predlog *l, struct axle_buf *b)
{
    struct predlog_stats s;
    predlog_get_stats(l, &s);
    uint64_t buckets[N_FSYNC_BUCKETS + 1];
    pthread_mutex_lock(&l->mu);
    memcpy(buckets, l->fsync_buckets, sizeof(buckets));
    double sum = l->fsync_sum;
    pthread_mutex_unlock(&l->mu);
    buf_printf(b,
               "# HELP axle_predlog_queue_bytes Bytes queued for the prediction log, not yet written.\n"
               "# TYPE axle_predlog_queue_bytes gauge\naxle_predlog_queue_bytes %llu\n"
               "# HELP axle_predlog_healthy 1 when a prediction log segment is open and writable.\n"
               "# TYPE axle_predlog_healthy gauge\naxle_predlog_healthy %d\n"
               "# HELP axle_predlog_records_total Records written to the prediction log.\n"
               "# TYPE axle_predlog_records_total counter\naxle_predlog_records_total %llu\n"
               "# HELP axle_predlog_dropped_total Records dropped because the queue was full or no segment was writable.\n"
               "# TYPE axle_predlog_dropped_total counter\naxle_predlog_dropped_total %llu\n"
               "# HELP axle_predlog_lost_total Records accepted but lost to a failed write or fsync.\n"
               "# TYPE axle_predlog_lost_total counter\naxle_predlog_lost_total %llu\n"
               "# HELP axle_predlog_write_errors_total Failed writes or fsyncs (each poisons its segment).\n"
               "# TYPE axle_predlog_write_errors_total counter\naxle_predlog_write_errors_total %llu\n"
               "# HELP axle_predlog_segments_deleted_total Sealed segments deleted by retention.\n"
               "# TYPE axle_predlog_segments_deleted_total counter\n"
               "axle_predlog_segments_deleted_total %llu\n"
               "# HELP axle_predlog_fsync_seconds Time of each fdatasync of the prediction log.\n"
               "# TYPE axle_predlog_fsync_seconds histogram\n",
               (unsigned long long)s.queue_bytes, s.healthy, (unsigned long long)s.records,
               (unsigned long long)s.dropped, (unsigned long long)s.lost,
               (unsigned long long)s.write_errors, (unsigned long long)s.segments_deleted);
    uint64_t cum = 0;
    for (int i = 0; i < N_FSYNC_BUCKETS; i++) {
        cum += buckets[i];
        buf_printf(b, "axle_predlog_fsync_seconds_bucket{le=\"%g\"} %llu\n", fsync_bounds[i],
                   (unsigned long long)cum);
    }
    cum += buckets[N_FSYNC_BUCKETS];
    buf_printf(b,
               "axle_predlog_fsync_seconds_bucket{le=\"+Inf\"} %llu\n"
               "axle_predlog_fsync_seconds_sum %.9f\naxle_predlog_fsync_seconds_count %llu\n",
               (unsigned long long)cum, sum, (unsigned long long)cum);
}
