/*
 * server.h - what the request handlers share: the server state, per-thread
 * scratch memory, status mapping and the protocol front ends.
 *
 * Life of a request: http.c hands a complete request to serve_handle()
 * (routes.c) on an I/O thread. The route table picks the handler after the
 * one auth gate; inference handlers (infer.c) take a reference on the model
 * version and decode the body into a job's tensors (pointing into the
 * request body or into the job's buffers). Models that run in microseconds
 * run inline on the thread's session; every other job goes to the version's
 * scheduler (sched.h) and is answered on this thread when it comes back.
 */
#ifndef AXLE_SERVE_SERVER_H
#define AXLE_SERVE_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "serve/buf.h"
#include "serve/http.h"
#include "serve/json.h"
#include "serve/repo.h"

struct server {
    struct repo repo;
    struct http_server *http;
    struct http_limits limits;
    atomic_int draining;
    int drain_refuse;            /* --drain-refuse: inference answers 503 once draining */
    int have_mgmt_token;
    unsigned char mgmt_token_hash[32];
    int have_infer_token;
    unsigned char infer_token_hash[32];
    int http_port;
    int loopback;
    int strict_readiness;
    uint64_t start_ns;
    uint64_t request_timeout_ns; /* deadline = arrival + min(this, `timeout`) */
    int test_hooks;              /* --enable-test-hooks: /v2/debug/... */
    /* Monitoring (docs/monitoring.md). */
    struct feedback_index *feedback;
    double start_time;           /* unix seconds */
    struct http_server *metrics_http; /* --metrics-port; NULL: none */
    /* Prediction log (--prediction-log; NULL: off). */
    struct predlog *predlog;
    const char *log_dir;         /* --prediction-log; feedback joins read it */
    int log_workers;             /* N under --workers N: joins read log_dir/worker-1..N */
    int log_sync;                /* --log-durability sync */
    double log_sample_rate;      /* 0..1 */
    size_t log_max_tensor_bytes; /* JSON text per logged tensor; 0: 64 KiB */
    int worker_id;               /* serve --workers: 1..N, labels /metrics; 0: single */
};

/* Per I/O thread scratch, reused across requests. */
struct scratch {
    struct json_doc doc;
    struct axle_buf out;   /* response JSON */
    struct axle_buf data;  /* decoded input tensors */
    struct axle_buf aux;   /* string pointers, binary output staging */
    struct axle_buf rec;   /* prediction-log record */
};

struct scratch *scratch_get(void);
int serve_thread_index(void);
void serve_set_thread_index(int i);

/* Canonical status -> HTTP status (PROTOCOLS.md section 11). */
int status_to_http(enum axle_status st);
void respond_status(struct http_req *r, enum axle_status st, const char *msg);
void respond_json(struct http_req *r, int status, const struct axle_buf *b);

/* routes.c */
void serve_handle(void *ctx, struct http_req *r);
/* Admission at the end of a request head (http_admit_fn). */
int serve_admit(void *ctx, int method, const char *url, int64_t content_length,
                const char **msg);

/* infer.c: POST .../infer and V1 :predict. */
void serve_v2_infer(struct server *s, struct http_req *r, struct model_version *v);
void serve_v1_predict(struct server *s, struct http_req *r, struct model_version *v);

/* routes.c: GET /metrics on the metrics-only listener. */
void serve_metrics_handle(void *ctx, struct http_req *r);

/* auth.c */
int auth_load_token_file(const char *path, unsigned char hash[32], struct axle_err *err);
/* Constant-time: SHA-256 of the presented token compared with XOR-accumulate. */
int auth_token_matches(const char *presented, size_t len, const unsigned char hash[32]);

/* infer_log.c: answer r (status, ct, hdr, iov) with a record of the given
 * predlog type: async (or no log) appends and answers at once; sync holds
 * the answer until the record is durable, or answers 503. */
void serve_predlog_respond(struct server *s, struct http_req *r, int type, const char *rec,
                           size_t rec_len, int status, const char *ct, const char *hdr,
                           const struct http_iov *iov, int n_iov);
/* The current UTC time as a quoted RFC 3339 string with milliseconds. */
void serve_put_time(struct axle_buf *b);
/* The same for a reading of http_now_ns's clock. */
void serve_put_time_at(struct axle_buf *b, uint64_t mono_ns);

/* Server log: one JSON line per lifecycle event on stderr. */
void serve_log(const char *event, const char *model, const char *version, const char *detail);
/* From now on every log line ends with "worker":id (id > 0; a worker of
 * serve --workers). Call before the process starts threads. */
void serve_log_set_worker(int id);

#endif
