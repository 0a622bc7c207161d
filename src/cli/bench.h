/*
 * bench.h - private interfaces of `axle bench` (cmd_bench.c), the load
 * generator for model servers:
 *
 *   bench_hist.c  log-linear latency histogram (HDR-style, fixed memory)
 *   bench_req.c   URL parsing, the metadata GET, input tensors, and the one
 *                 pre-built HTTP request every connection sends
 *   bench_conn.c  the connection engine: worker threads, each with an epoll
 *                 loop over its share of keep-alive connections
 *
 * Nothing here is used outside src/cli/; the histogram is also compiled
 * into its unit test (tests/unit/test_bench_hist.c).
 */
#ifndef AXLE_CLI_BENCH_H
#define AXLE_CLI_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "axle/axle.h"
#include "serve/buf.h"

/* ------------------------------------------------------------------ */
/* Histogram (bench_hist.c)                                            */

/*
 * Values (nanoseconds) below 2^SUB_BITS are counted exactly; above, every
 * power-of-two range [2^e, 2^(e+1)) is cut into 2^SUB_BITS equal buckets of
 * width 2^(e-SUB_BITS). A bucket is then at most 1/128 of its smallest value
 * wide, and reporting its midpoint is within 1/256 (0.4 %) of any value in
 * it. Buckets end at 2^MAX_BITS ns (about 18 minutes); larger values are
 * counted in the last bucket (and in n_clamped), while min and max stay
 * exact. 4352 buckets, 34 KiB; two histograms merge by adding counts.
 */
#define AXLE_BENCH_HIST_SUB_BITS 7
#define AXLE_BENCH_HIST_SUB (1u << AXLE_BENCH_HIST_SUB_BITS)
#define AXLE_BENCH_HIST_MAX_BITS 40
#define AXLE_BENCH_HIST_N \
    (AXLE_BENCH_HIST_SUB + (AXLE_BENCH_HIST_MAX_BITS - AXLE_BENCH_HIST_SUB_BITS) * AXLE_BENCH_HIST_SUB)

struct axle_bench_hist {
    uint64_t n;         /* values recorded */
    uint64_t n_clamped; /* values >= 2^MAX_BITS */
    uint64_t min, max;  /* exact; min is UINT64_MAX while empty */
    uint64_t sum;       /* for the mean (wraps only after 584 years of ns) */
    uint64_t counts[AXLE_BENCH_HIST_N];
};

void axle_bench_hist_init(struct axle_bench_hist *h);
void axle_bench_hist_record(struct axle_bench_hist *h, uint64_t v);
/* dst += src (counts, n, min, max, sum). */
void axle_bench_hist_merge(struct axle_bench_hist *dst, const struct axle_bench_hist *src);
/* The value at percentile p (0..100): the midpoint of the bucket holding
 * the ceil(p/100 * n)-th smallest value, clamped to [min, max]; 0 when
 * empty. Monotone in p; p = 100 gives max exactly. */
uint64_t axle_bench_hist_percentile(const struct axle_bench_hist *h, double p);
double axle_bench_hist_mean(const struct axle_bench_hist *h);
/* Bucket of v, and the first value and width of bucket i (for tests). */
size_t axle_bench_hist_index(uint64_t v);
uint64_t axle_bench_hist_bucket_lo(size_t i);
uint64_t axle_bench_hist_bucket_width(size_t i);

/* ------------------------------------------------------------------ */
/* Requests (bench_req.c)                                              */

enum axle_bench_protocol { AXLE_BENCH_V2_JSON, AXLE_BENCH_V2_BINARY, AXLE_BENCH_V1 };

#define AXLE_BENCH_MAX_NAME 255
#define AXLE_BENCH_MAX_INPUTS 64
#define AXLE_BENCH_MAX_BODY ((size_t)1 << 30)

/* A parsed http:// URL. */
struct axle_bench_url {
    char host[256];     /* without brackets for an IPv6 literal */
    char port[8];       /* "80" when absent */
    char host_hdr[280]; /* the Host header value, as written in the URL */
    char base[512];     /* path prefix without a trailing '/', often "" */
};

/* One input tensor as it goes on the wire. */
struct axle_bench_input {
    char name[AXLE_BENCH_MAX_NAME + 1];
    enum axle_dtype dtype;
    int rank;
    int64_t dims[AXLE_MAX_RANK];
    int64_t n_elems;
    /* Numeric and BOOL: raw little-endian elements (BOOL one byte 0/1);
     * BYTES: the binary-extension layout, per element a uint32 LE length
     * then the bytes. Owned (axle_free). */
    void *data;
    size_t nbytes;
};

/* What the request carries besides the inputs. */
struct axle_bench_req_opts {
    enum axle_bench_protocol protocol;
    const char *model;
    const char *token;   /* or NULL: no Authorization header */
    int64_t timeout_us;  /* OIP "timeout" parameter; < 0: absent */
    int64_t priority;    /* OIP "priority" parameter; < 0: absent */
};

/* Parses http://HOST[:PORT][/PREFIX]. Fails (AXLE_INVALID_ARGUMENT) on any
 * other scheme, an empty host, a bad port, a query or a fragment. */
enum axle_status axle_bench_url_parse(const char *s, struct axle_bench_url *u,
                                      struct axle_err *err);
/* Resolves the URL's host (an IPv4 address is preferred when the name has
 * both families). */
enum axle_status axle_bench_resolve(const struct axle_bench_url *u,
                                    struct sockaddr_storage *addr, socklen_t *addr_len,
                                    struct axle_err *err);

/* V2 wire datatype names ("FP32", ...) <-> dtypes; UNDEFINED if unknown. */
enum axle_dtype axle_bench_dtype_parse(const char *s);
const char *axle_bench_dtype_name(enum axle_dtype dt);

/* GET URL/v2/models/MODEL and describe its inputs with every -1 (or
 * symbolic) dimension set to 1; data is left NULL. *n_out inputs are
 * written (at most AXLE_BENCH_MAX_INPUTS). A non-200 answer is
 * AXLE_NOT_FOUND (404) or AXLE_UNAVAILABLE with the status and the start
 * of the body in err; a connection failure is AXLE_UNAVAILABLE. */
enum axle_status axle_bench_metadata(const struct axle_bench_url *u,
                                     const struct sockaddr_storage *addr, socklen_t addr_len,
                                     const char *model, const char *token,
                                     struct axle_bench_input *inputs, int *n_out,
                                     struct axle_err *err);

/* Fills in->data with deterministic pseudo-random values for its dtype and
 * shape (floats in [0, 1), integers in [0, 10), booleans, 8-letter
 * strings); seed picks the sequence. */
enum axle_status axle_bench_input_fill(struct axle_bench_input *in, uint64_t seed,
                                       struct axle_err *err);
void axle_bench_input_dispose(struct axle_bench_input *in);

/* Appends the whole HTTP/1.1 request (head and body) to out. Fails with
 * AXLE_INVALID_ARGUMENT when the inputs do not fit the protocol (FP16 in
 * JSON, V1 rows of unequal length, ...) or the body exceeds
 * AXLE_BENCH_MAX_BODY. */
enum axle_status axle_bench_request_build(const struct axle_bench_url *u,
                                          const struct axle_bench_req_opts *o,
                                          const struct axle_bench_input *inputs, int n,
                                          struct axle_buf *out, struct axle_err *err);

/* ------------------------------------------------------------------ */
/* Engine (bench_conn.c)                                               */

/* Error kinds, in report order (axle_bench_err_name). */
enum axle_bench_err {
    AXLE_BENCH_ERR_CONNECT, /* connect() failed (refused, unreachable, ...) */
    AXLE_BENCH_ERR_TIMEOUT, /* no complete response within the request timeout */
    AXLE_BENCH_ERR_CLOSED,  /* the peer closed or reset with a request in flight */
    AXLE_BENCH_ERR_READ,    /* another read error */
    AXLE_BENCH_ERR_WRITE,   /* another write error */
    AXLE_BENCH_ERR_PARSE,   /* a malformed or unexpected response */
    AXLE_BENCH_N_ERR
};
const char *axle_bench_err_name(enum axle_bench_err e);

#define AXLE_BENCH_N_STATUS 600 /* status codes 0..599 are counted one by one */
#define AXLE_BENCH_LATE_NS 1000000ull /* a send this much after its intended time is late */

/* What to run. Borrowed by the run until axle_bench_run_join returns. */
struct axle_bench_plan {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const char *req; /* the request bytes, sent as they are by every connection */
    size_t req_len;
    int open_loop;       /* 1: rate-driven; 0: one request in flight per connection */
    double rate;         /* open loop: requests per second over all threads */
    int n_conns, n_threads;
    double warmup_s, duration_s;
    uint64_t max_requests;      /* measured requests to send; 0: no cap */
    uint64_t request_timeout_ns;
};

/* Results, per worker and merged. Only requests whose latency origin (the
 * intended time in open loop, the send time in closed loop) falls after
 * the warm-up are counted; connect errors count after the warm-up. */
struct axle_bench_counts {
    uint64_t sent;        /* requests written */
    uint64_t responses;   /* complete HTTP responses, any status */
    uint64_t ok;          /* 2xx responses */
    uint64_t late;        /* open loop: sent > AXLE_BENCH_LATE_NS after the intended time */
    uint64_t max_lag_ns;  /* open loop: the largest send delay */
    uint64_t scheduled;   /* open loop: intended times in the window (capped by max_requests) */
    uint64_t backlog;     /* open loop: due at the end, never sent */
    uint64_t in_flight;   /* sent, not answered at the end */
    uint64_t err[AXLE_BENCH_N_ERR];
    uint64_t status[AXLE_BENCH_N_STATUS];
    uint64_t status_other; /* codes >= 600 */
    struct axle_bench_hist hist; /* latency of 2xx responses, ns */
    struct axle_bench_hist hist_other; /* latency of the other answers, ns */
};

/* Progress totals, warm-up included, readable while the run goes on. */
struct axle_bench_progress {
    uint64_t responses, ok, errors, late, in_flight;
};

struct axle_bench_run;

/* Starts the worker threads: they connect every connection, then (all
 * together) run for warmup_s + duration_s. The time origin is set once
 * every connection has connected or failed once (at most about 2 s). The
 * caller should block SIGINT/SIGTERM first: the threads inherit its mask. */
enum axle_status axle_bench_run_start(const struct axle_bench_plan *plan,
                                      struct axle_bench_run **out, struct axle_err *err);
/* Nonzero once every worker has finished. */
int axle_bench_run_done(struct axle_bench_run *r);
/* Seconds since the time origin (set before axle_bench_run_start returns). */
double axle_bench_run_elapsed(struct axle_bench_run *r);
void axle_bench_run_progress(struct axle_bench_run *r, struct axle_bench_progress *p);
/* Asks the workers to stop now (SIGINT); they finish within ~10 ms. */
void axle_bench_run_stop(struct axle_bench_run *r);
/* Waits for the workers, merges their counts into *total, sets *window_s
 * to the measured window (warm-up end to the last worker's end) and frees
 * the run. */
void axle_bench_run_join(struct axle_bench_run *r, struct axle_bench_counts *total,
                         double *window_s);

#endif
