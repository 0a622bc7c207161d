/*
 * predlog.h - the prediction log: framed, checksummed records in segment
 * files, written by one thread, durable as SECURITY.md section 4 states.
 *
 * Writer (predlog.c): any thread queues records into a byte-bounded ring;
 * one writer thread assigns the seq numbers, frames and writes them in
 * batches, and fdatasyncs (async: every 200 ms or 1 MiB; sync: once per
 * group, then the done callbacks). Segments rotate by size, age,
 * predlog_rotate() or after a write error, which poisons the segment: its
 * fd is never written or synced again.
 *
 * Reader (predlog_read.c): CRC32C, predlog_scan over a segment image,
 * segment listing and lookup by request id. docs/monitoring.md has the
 * byte-by-byte format and what each mode guarantees.
 */
#ifndef AXLE_SERVE_PREDLOG_H
#define AXLE_SERVE_PREDLOG_H

#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"
#include "serve/buf.h"

/* Framing (SECURITY.md 4.1): 20-byte header, payload, 4-byte CRC32C. */
#define PREDLOG_MAGIC "AXLR"
#define PREDLOG_HDR_BYTES 20u
#define PREDLOG_FRAME_BYTES 24u         /* header + CRC */
#define PREDLOG_MAX_PAYLOAD (16u << 20) /* a larger length marks the record corrupt */
#define PREDLOG_FORMAT_VERSION 1        /* in every SEGMENT_START payload */
#define PREDLOG_NAME_LEN 32             /* "predlog-" + 20 digits + ".log" */

enum predlog_type {
    PREDLOG_PREDICTION = 1,
    PREDLOG_FEEDBACK = 2,
    PREDLOG_GAP = 3,
    PREDLOG_SEGMENT_START = 4,
    PREDLOG_SHUTDOWN = 5
};
enum predlog_durability { PREDLOG_ASYNC, PREDLOG_SYNC };

/* Test hook: called before each I/O on a segment with the point
 * ("open", "write", "fdatasync") and the segment's start seq. Returns 0 to
 * do the call, or an errno value to fail it with. */
typedef int (*predlog_fault_fn)(void *arg, const char *point, uint64_t segment_seq);
/* Log hook: level "info" or "error", an event name and a detail line.
 * NULL: one line on stderr. Called on the writer thread, and on the
 * caller's during predlog_open. */
typedef void (*predlog_log_fn)(void *arg, const char *level, const char *event,
                               const char *detail);

struct predlog_opts {
    const char *dir;                 /* must exist */
    enum predlog_durability durability;
    uint64_t segment_bytes;          /* rotate at or above; 0: 64 MiB */
    uint64_t segment_seconds;        /* rotate after; 0: 3600 */
    uint64_t retention_bytes;        /* sealed segments kept; 0: all */
    uint64_t queue_bytes;            /* ring capacity; 0: 64 MiB */
    predlog_log_fn log_fn;
    void *log_arg;
    predlog_fault_fn fault_fn;       /* tests only */
    void *fault_arg;
};

struct predlog;

/* Recover dir (a torn tail of the newest segment is moved to .torn, the
 * segment truncated and sealed), open a new segment (O_EXCL, 0640,
 * SEGMENT_START, fsync of file and directory) and start the writer.
 * Errors: INVALID_ARGUMENT, NOT_FOUND / PERMISSION_DENIED /
 * FAILED_PRECONDITION (the directory or a segment), RESOURCE_EXHAUSTED,
 * UNAVAILABLE (recovery or the first segment could not be written). */
enum axle_status predlog_open(const struct predlog_opts *o, struct predlog **out,
                              struct axle_err *err);

/* Sync mode completion: called once on the writer thread, ok=1 once the
 * group commit holding the record is fdatasync'ed, ok=0 when its write
 * or fsync failed. Keep it short (hand the result to the request's loop). */
typedef void (*predlog_done_fn)(void *arg, int ok);

/* Queue one record (payload: one JSON object, escaped by the caller, copied
 * during the call). Thread-safe. Async: never blocks; 0 queued, -1 dropped
 * (ring full or no healthy segment; counted, and a GAP record precedes the
 * next good record). Sync: waits up to 100 ms for ring space, then -1; on
 * 0, done (when not NULL) will be called. -1 also for a payload over
 * PREDLOG_MAX_PAYLOAD or the ring, and once predlog_close has begun. */
int predlog_append(struct predlog *l, enum predlog_type type, const char *payload, size_t len,
                   predlog_done_fn done, void *arg);
int predlog_healthy(struct predlog *l);      /* a segment is open and writable */
void predlog_rotate(struct predlog *l);      /* SIGHUP: seal (fdatasync) and start a new one */
/* Prometheus families appended to b: axle_predlog_queue_bytes,
 * axle_predlog_healthy (gauges), axle_predlog_records_total,
 * axle_predlog_dropped_total, axle_predlog_lost_total,
 * axle_predlog_write_errors_total, axle_predlog_segments_deleted_total
 * (counters), axle_predlog_fsync_seconds (histogram). */
void predlog_metrics(struct predlog *l, struct axle_buf *b);
/* Drain the ring, write SHUTDOWN, fdatasync, join, free. NULL is a no-op. */
void predlog_close(struct predlog *l);

struct predlog_stats {
    uint64_t queue_bytes, records, dropped, lost, write_errors, segments_deleted, n_fsync;
    uint64_t next_seq;
    int healthy;
};
void predlog_get_stats(struct predlog *l, struct predlog_stats *s);

/* ------------------------------------------------------------------ */
/* Reading (axle log cat, recovery, feedback lookups, the fuzz target)  */

struct predlog_record {
    uint64_t seq;
    int type;
    const char *payload;
    uint32_t len;
    uint64_t offset;     /* of the record's magic in the image */
};
/* Walk a segment image: fn for each valid record in order; fn returns
 * non-zero to stop. A record is valid when its magic, length (<= 16 MiB
 * and within the image), zero reserved bytes and CRC hold. Returns the
 * offset just past the last valid record visited (== len when the image
 * is whole). Never reads past len. */
size_t predlog_scan(const void *data, size_t len,
                    int (*fn)(void *arg, const struct predlog_record *r), void *arg);
struct predlog_tail {
    size_t valid;                 /* offset past the last valid record */
    uint64_t n_records;
    uint64_t first_seq, last_seq; /* 0 when n_records == 0 */
    int last_type;                /* 0 when n_records == 0 */
};
void predlog_scan_tail(const void *data, size_t len, struct predlog_tail *t);

/* The file as one image (bounded by max_bytes: FAILED_PRECONDITION past
 * it); *data is malloc'd (NULL when empty). */
enum axle_status predlog_read_file(int dirfd, const char *name, uint64_t max_bytes, char **data,
                                   size_t *len, struct axle_err *err);

/* The newest PREDICTION record whose "request_id" is id, searching the
 * segments of dir from newest to oldest, reading at most max_bytes.
 * *payload is malloc'd and NUL-terminated. AXLE_NOT_FOUND when absent;
 * AXLE_ABORTED (with the record) when a FEEDBACK record for id is newer,
 * and AXLE_ABORTED with *payload NULL when dir holds a FEEDBACK record for
 * id but no PREDICTION (one directory of several, under --workers). */
enum axle_status predlog_lookup(const char *dir, const char *id, size_t id_len,
                                uint64_t max_bytes, char **payload, size_t *len,
                                struct axle_err *err);

/* Segment names are "predlog-" + 20-digit start seq + ".log", nothing
 * else (so *.torn never matches). Returns 0 and the seq, or -1. */
int predlog_segment_name_parse(const char *name, uint64_t *seq);
void predlog_segment_name(char out[PREDLOG_NAME_LEN + 1], uint64_t seq);
/* Start seqs of the segments in dirfd, ascending; *seqs is malloc'd. */
enum axle_status predlog_segments(int dirfd, uint64_t **seqs, size_t *n, struct axle_err *err);
/* "prediction", "feedback", "gap", "segment_start", "shutdown", "unknown". */
const char *predlog_type_name(int type);

/* CRC32C (Castagnoli), chained from 0: SSE4.2 when the CPU has it, a
 * table otherwise; the _sw path is always the table (for tests). */
uint32_t axle_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t axle_crc32c_sw(uint32_t crc, const void *p, size_t n);

#endif
