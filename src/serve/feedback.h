/*
 * feedback.h - ground truth for answered predictions (SECURITY.md D36).
 *
 * The index remembers, for each recent request of a monitored version, its
 * id, model, version, answer time and predicted values (monitor.h). It is
 * a ring of fixed slots (the oldest is forgotten first) with an
 * open-addressing hash on the id; one mutex, held for a lookup or an
 * insert. Slots are touched only when used, so an idle server pays
 * nothing for the capacity; a full ring costs about 400 bytes a slot.
 *
 * POST /v2/models/{m}[/versions/{v}]/feedback takes {"id": ..., "label":
 * ...} or a list of up to 1000 of them; every item is checked before any
 * is applied (D8). The label must have the prediction's type and count.
 */
#ifndef AXLE_SERVE_FEEDBACK_H
#define AXLE_SERVE_FEEDBACK_H

#include <stddef.h>
#include <stdint.h>

#include "serve/buf.h"
#include "serve/http.h"
#include "serve/repo.h"

#define FEEDBACK_MAX_BODY (64 * 1024)
#define FEEDBACK_MAX_ITEMS 1000

struct feedback_index;
struct server;

/* capacity: remembered predictions (1..1,000,000); window_ns: how long a
 * prediction may receive its label. */
struct feedback_index *feedback_index_new(size_t capacity, uint64_t window_ns);
void feedback_index_free(struct feedback_index *fi);

/* Remember the predictions of request id (id_len <= 128) answered by v.
 * Thread-safe. */
void feedback_remember(struct feedback_index *fi, const char *id, size_t id_len,
                       const struct model_version *v, const uint64_t *vals, int n, int64_t rows);

/* Start fetching the index memory that remembering id will touch: called
 * as soon as the id is known, a microsecond or so before the insert, so
 * that the insert does not wait on cache misses. */
void feedback_prefetch(struct feedback_index *fi, const char *id, size_t id_len);

/* The same with the answer time t_ns (http_now_ns clock); used: its
 * feedback was recorded already. */
void feedback_remember_at(struct feedback_index *fi, const char *id, size_t id_len,
                          const struct model_version *v, const uint64_t *vals, int n,
                          int64_t rows, uint64_t t_ns, int used);

/* 1 when id is remembered; then its answer time and model into the
 * out-parameters (either may be NULL). For tests and the log join. */
int feedback_index_find(struct feedback_index *fi, const char *id, size_t id_len,
                        uint64_t *t_ns, char model[REPO_MAX_NAME + 1]);
/* Predictions remembered now. */
size_t feedback_index_live(struct feedback_index *fi);

/* The route (after the auth gate): version NULL means any version. */
void serve_feedback(struct server *s, struct http_req *r, const char *model,
                    const char *version);

/* An id missing from the index is looked up in the prediction log
 * (feedback_log.c), newest segment first, reading at most
 * FEEDBACK_LOG_SCAN_BYTES, on a thread of its own (at most
 * FEEDBACK_LOG_JOINERS at once). Found: its predictions are put back in
 * the index with their logged answer time and the request runs again
 * (joined + 1; a request joins at most FEEDBACK_MAX_LOG_JOINS ids).
 * A FEEDBACK record for the id newer than its prediction makes it a
 * duplicate (409). */
#define FEEDBACK_LOG_SCAN_BYTES (256ull << 20)
#define FEEDBACK_LOG_JOINERS 2
#define FEEDBACK_MAX_LOG_JOINS 16
void feedback_handle(struct server *s, struct http_req *r, const char *model,
                     const char *version, int joined);
/* Returns 1 when the request was deferred to a join (orig, a malloc'd copy
 * of the body, is then owned by it), 0 to answer 404 at once. */
int feedback_log_join(struct server *s, struct http_req *r, const char *model,
                      const char *version, const char *id, size_t id_len, char *orig,
                      int joined);

/* axle_feedback_requests_total{result} and the index size. */
void feedback_metrics(struct feedback_index *fi, struct axle_buf *b);

#endif
