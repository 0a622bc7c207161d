/*
 * metrics.h - the Prometheus exposition (GET /metrics) and the snapshot of
 * serving versions it shares with the monitor endpoint.
 */
#ifndef AXLE_SERVE_METRICS_H
#define AXLE_SERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "serve/buf.h"
#include "serve/json.h"
#include "serve/repo.h"

/* A model with no version serving (loading, failed) or a failed version
 * beside the serving ones. */
struct metrics_model_state {
    char model[REPO_MAX_NAME + 1];
    int64_t version;          /* 0: none */
    enum version_state state;
    int serving;
};

/* Serving versions, each referenced until the snapshot is released. */
struct metrics_snapshot {
    struct {
        struct model_version *v;
        struct served_model *m;
    } *v;
    int n, cap;
    struct metrics_model_state *other;
    int n_other, cap_other;
};

void metrics_snapshot_take(struct repo *r, struct metrics_snapshot *s);
void metrics_snapshot_release(struct metrics_snapshot *s);

/* A stats counter (off: its offset in struct version_stats) summed over
 * the version's blocks. */
uint64_t metrics_sum(const struct model_version *v, size_t off);
/* Histogram k summed: counts per bucket (not cumulative; n_bounds + 1 of
 * them) and the sum. */
void metrics_hist(const struct model_version *v, enum hist_kind k, uint64_t *counts,
                  uint64_t *sum);

/* A sample value as Prometheus reads it: NaN, +Inf, -Inf or the
 * shortest round-tripping decimal. */
void metrics_put_value(struct axle_buf *b, double x);

/* The whole exposition, appended to b. start_time: unix seconds. */
void metrics_render(struct repo *repo, double start_time, struct axle_buf *b);

/* Copy the exposition text (len bytes) to dst with the label
 * name="value" added to every sample line (comments pass unchanged).
 * value must need no escaping. */
void metrics_add_label(struct axle_buf *dst, const char *text, size_t len, const char *name,
                       const char *value);

#endif
