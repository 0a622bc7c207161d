/*
 * infer.h - what the inference front ends share (private to infer.c and
 * infer_v1.c): the job that carries one request from decoding to its
 * answer, and the decoding, dispatch and statistics helpers of infer.c.
 */
#ifndef AXLE_SERVE_INFER_H
#define AXLE_SERVE_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "serve/server.h"

#define MAX_ELEMENTS (1ll << 31)
#define MAX_ID_BYTES 128

struct out_sel {
    int index;          /* model output index */
    int binary;
    int64_t classify;   /* 0: off; else top-k */
};

enum job_kind { JOB_V2, JOB_V1 };

/* One inference request from decoding to its answer. Its input tensors
 * live in its own buffers (or in the request body), so it can wait in the
 * scheduler while the I/O thread serves other connections. */
struct job {
    struct sched_item it;       /* first: the scheduler's part */
    struct server *srv;
    struct model_version *v;
    struct http_req *r;
    struct http_deferred *d;
    struct scratch *sc;         /* the I/O thread's (JSON tokens, answer) */
    struct axle_buf data;       /* decoded input tensors */
    struct axle_buf aux;        /* BYTES input strings */
    enum job_kind kind;
    uint64_t t0;                /* the request's first byte */
    uint64_t t_end;             /* the answer encoded (infer_finish's clock) */
    struct axle_tensor in[REPO_MAX_IO];
    int have_in[REPO_MAX_IO];
    size_t in_off[REPO_MAX_IO]; /* offset in data, or SIZE_MAX if borrowed */
    int in_aux[REPO_MAX_IO];    /* BYTES elements copied into aux: the
                                   element pointers hold aux offsets + 1
                                   until infer_fix_pointers() (aux may still move) */
    struct out_sel sel[REPO_MAX_IO];
    int n_sel;
    const char *id;             /* in the request body */
    size_t id_len;
    int binary_default;
    int64_t timeout_us;
    int64_t priority;
    int64_t batch;
    int raw_mode;
    int v1_inst;                /* V1 rows format; v1_rows rows */
    int64_t v1_rows;
    char uuid[40];              /* server-made id (infer_mon.c) */
    int log_this;               /* sampled for the prediction log (infer_log.c) */
    /* Output k's JSON data text in sc->out (without the brackets) when bit
     * k of out_txt is set: the log record copies it instead of formatting
     * the values again. */
    uint64_t out_txt;
    size_t out_txt_off[REPO_MAX_IO], out_txt_len[REPO_MAX_IO];
    /* Input k came as the JSON array token in_tok[k] of sc->doc when bit k
     * of in_txt is set (V2 JSON, answered inline: the request's tokens and
     * body are still there when the record is built). */
    uint64_t in_txt;
    uint32_t in_tok[REPO_MAX_IO];
    struct job *next_free;
};

/* Record an invalid-argument message; returns -1. */
__attribute__((format(printf, 2, 3))) int infer_bad(struct axle_err *err, const char *fmt, ...);
int64_t infer_numel(const struct axle_tensor *t);
int infer_find_input(const struct model_version *v, const char *name);
int64_t infer_check_shape(struct job *j, int idx, int rank, const int64_t *dims,
                           struct axle_err *err);
int64_t infer_count_leaves(const struct json_doc *d, uint32_t t);
int infer_fill_leaves(struct job *j, const struct json_doc *d, uint32_t t, int idx,
                       int64_t start, struct axle_err *err);
int infer_reserve_input(struct job *j, int idx, int64_t n, struct axle_err *err);
void infer_put_element(struct axle_buf *b, enum axle_dtype dt, const void *base, int64_t i);
void infer_fix_pointers(struct job *j);
/* Count a failure by reason and answer it. */
void job_fail(struct job *j, struct http_req *r, enum axle_status st, const char *msg);
void job_stats_inline(struct job *j, uint64_t t_in, uint64_t t_run, uint64_t t_end);
void job_stats_sched(struct job *j, uint64_t t_end);
struct job *job_get(void);
void job_init(struct job *j, struct server *s, struct http_req *r, struct model_version *v);
void job_put(struct job *j);
void job_dispatch(struct job *j);
/* infer_mon.c: a request id when feedback needs one (before encoding);
 * the success path (feedback index, drift, answer). */
void infer_ensure_id(struct job *j);
void infer_finish(struct job *j, struct http_req *r, const struct axle_tensor *out,
                  const char *ct, const char *hdr, const struct http_iov *iov, int n_iov);
/* infer_mon.c: a per-thread random number; a version-4 UUID in out[37]. */
uint64_t infer_rand(void);
void infer_make_uuid(char *out);
/* infer_log.c: the sampling decision (job_init); the success answer with
 * its record; a failure answer with its record (job_fail). */
void infer_log_sample(struct job *j);
void infer_log_respond(struct job *j, struct http_req *r, const struct axle_tensor *out,
                       const char *ct, const char *hdr, const struct http_iov *iov, int n_iov);
void infer_log_fail(struct job *j, struct http_req *r, enum axle_status st, const char *msg);
void encode_v1(struct job *j, struct http_req *r, const struct axle_tensor *out,
            uint64_t t_in, uint64_t t_run);

#endif
