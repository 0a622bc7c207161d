/*
 * monitor.h - model quality from ground-truth feedback, input drift, and
 * the monitor view (GET /v2/monitor, /v2/models/{m}/monitor).
 *
 * Each served version may carry a struct monitor (model_version.mon):
 * which output is compared with labels and how (argmax of scores, a label
 * output, or regression values), the quality sums, and the drift window
 * against a reference profile (drift.h). Predictions are remembered in a
 * server-wide feedback index (a ring of recent request ids, feedback.c),
 * so that POST .../feedback can join a label with what was answered.
 *
 * Threads: monitor_observe() and the feedback handler run on I/O threads;
 * the sums and the window sit behind the monitor's own mutex, taken for a
 * few hundred nanoseconds per request.
 */
#ifndef AXLE_SERVE_MONITOR_H
#define AXLE_SERVE_MONITOR_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/buf.h"
#include "serve/repo.h"

enum mon_task { MON_TASK_NONE, MON_TASK_CLASSIFICATION, MON_TASK_REGRESSION };

/* How a prediction is read from the monitored output. */
enum mon_pred {
    MON_PRED_ARGMAX,    /* float scores [N, C]: the class is the argmax */
    MON_PRED_LABEL_INT, /* integer labels [N] or [N, 1] */
    MON_PRED_LABEL_STR, /* string labels [N] or [N, 1] (compared by hash) */
    MON_PRED_VALUE,     /* regression values [N] or [N, K] */
};

/* Values remembered per request: enough for a batch of 32 rows of one
 * value (or one row of 32 regression targets). */
#define MON_MAX_VALUES 32

/* Label-delay histogram bounds, seconds. */
#define MON_DELAY_BUCKETS 9

struct drift_profile;
struct drift_window;

struct monitor {
    enum mon_task task;
    enum mon_pred pred;
    int output;              /* index of the monitored output */
    int64_t values_per_row;  /* K for MON_PRED_VALUE, else 1 */
    pthread_mutex_t mu;
    /* Quality, cumulative since the version loaded. */
    uint64_t labelled;       /* feedback records joined */
    uint64_t labelled_values;
    uint64_t correct;        /* classification: matching values */
    double abs_err, sq_err;  /* regression: sums over values */
    uint64_t delay_counts[MON_DELAY_BUCKETS + 1];
    double delay_sum;
    /* Drift (NULL without a profile). */
    struct drift_profile *profile;
    struct drift_window *window;
    int drift_input;         /* index of the model input profiled */
    int64_t drift_features;
};

/* Derive (or take from config) what to monitor for version v. profile_json
 * (may be NULL) is the reference profile's bytes. Returns AXLE_OK with
 * *out NULL when the version has nothing to monitor (no suitable output
 * and no profile); an error when config names an output that does not
 * exist or does not fit the task, or the profile is bad. */
enum axle_status monitor_new(const struct model_version *v, const struct model_config *c,
                             const char *profile_json, size_t profile_len,
                             struct monitor **out, struct axle_err *err);
void monitor_free(struct monitor *m);

/* Extract the predictions of output tensor t (the monitored output) into
 * vals: up to MON_MAX_VALUES values; returns the count, or -1 when they do
 * not fit (the request is then not remembered for feedback). *rows gets the
 * batch rows. */
int monitor_predictions(const struct monitor *m, const struct axle_tensor *t, uint64_t *vals,
                        int64_t *rows);

/* After a successful inference: feed the drift window with input `in`
 * (the profiled input, if it is float [N, F]). */
void monitor_observe_inputs(struct monitor *m, const struct axle_tensor *in);

/* A label joined with its prediction (feedback.c): update the sums.
 * label/pred: n values each, of the monitor's kind (doubles stored as
 * bits for regression, class ids or string hashes otherwise). delay_s: time
 * from the answer to the feedback. */
void monitor_add_feedback(struct monitor *m, const uint64_t *pred, const uint64_t *label, int n,
                          double delay_s);

/* Prometheus families for quality and drift of every version in the
 * snapshot (metrics.c calls it). */
struct metrics_snapshot;
void monitor_metrics(struct axle_buf *b, const struct metrics_snapshot *s);

/* One version's monitor object (the JSON of GET /v2/monitor). */
void monitor_put_json(struct axle_buf *b, struct model_version *v);

/* String-label hash (FNV-1a 64) used for MON_PRED_LABEL_STR. */
uint64_t monitor_hash_label(const char *s, size_t n);

#endif
