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

/* The route (after the auth gate): version NULL means any version. */
void serve_feedback(struct server *s, struct http_req *r, const char *model,
                    const char *version);

/* axle_feedback_requests_total{result} and the index size. */
void feedback_metrics(struct feedback_index *fi, struct axle_buf *b);

#endif
