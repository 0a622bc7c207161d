/*
 * drift.h - data drift of a served model's inputs: PSI (population stability
 * index) per input feature between a reference profile of the training data
 * and a sliding window over the last N rows of live traffic.
 *
 * A profile (docs/monitoring.md, "Reference profiles"; written by `axle profile`) gives, for
 * each feature, k bins cut at k-1 strictly increasing edges e_1 < ... <
 * e_{k-1}: bin 0 is x <= e_1, bin i is e_i < x <= e_{i+1}, bin k-1 is
 * x > e_{k-1}; NaN goes to a missing-value bin of its own. The reference
 * proportion of each bin and of the missing bin sum to 1.
 *
 * The window is a ring of per-row bin indices (one byte per feature per
 * row) plus per-feature bin counts, so adding a row is a binary search per
 * feature and PSI is a pass over the counts; nothing allocates after
 * drift_window_new.
 *
 * PSI of a feature is sum over its bins (missing bin included) of
 * (a - e) * ln(a / e), where a is the live proportion (count / rows in the
 * window) and e the reference proportion, each floored at
 * DRIFT_PSI_FLOOR = 1e-4 first. Without a floor one empty bin on either
 * side makes PSI infinite; 1e-4 is a share below what a window of a few
 * thousand rows can resolve, and caps what one empty bin can add (a bin
 * holding 10% on one side and nothing on the other contributes
 * (0.1 - 1e-4) * ln(0.1 / 1e-4) = 0.69). A bin empty on both sides adds 0.
 * Rules of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major.
 *
 * Threads: a profile is immutable after parsing and may be shared by any
 * number of threads and windows. A window is not thread-safe: callers
 * serialise add and psi on one window with their own lock.
 */
#ifndef AXLE_SERVE_DRIFT_H
#define AXLE_SERVE_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"

#define DRIFT_MAX_FEATURES 4096
#define DRIFT_MIN_BINS 2
#define DRIFT_MAX_BINS 64
#define DRIFT_MAX_NAME 255                       /* bytes of a feature or input name */
#define DRIFT_MAX_PROFILE_BYTES (32u << 20)      /* profile JSON text */
#define DRIFT_MAX_WINDOW_ROWS ((int64_t)1 << 31) /* rows of one window */
#define DRIFT_SUM_TOLERANCE 1e-6                 /* |sum(proportions) + missing - 1| */
#define DRIFT_PSI_FLOOR 1e-4                     /* see the file comment */

struct drift_profile; /* parsed reference profile, immutable, shareable across threads */

/* Parse profile JSON (docs/monitoring.md, "Reference profiles"). json[0..len) is borrowed
 * for the call only (it is copied; it need not be NUL-terminated). Bounds:
 * len <= DRIFT_MAX_PROFILE_BYTES; 1..DRIFT_MAX_FEATURES features with
 * distinct names of 1..DRIFT_MAX_NAME bytes; 2..64 bins each, that is
 * 1..63 finite strictly increasing edges and one more proportion than
 * edges; proportions and "missing" finite in [0, 1] with sum(proportions)
 * + missing = 1 +- DRIFT_SUM_TOLERANCE; unknown keys are errors. On success
 * *out owns a new profile (release with drift_profile_free). On error *out
 * is NULL and err names the problem (the key, the feature, the index):
 * AXLE_INVALID_ARGUMENT for a bad profile, AXLE_RESOURCE_EXHAUSTED for no
 * memory. Never crashes on any input. */
enum axle_status drift_profile_parse(const char *json, size_t len, struct drift_profile **out,
                                     struct axle_err *err);
void drift_profile_free(struct drift_profile *p); /* NULL is a no-op */

int drift_profile_features(const struct drift_profile *p);
/* Strings are owned by the profile. */
const char *drift_profile_feature_name(const struct drift_profile *p, int i);
const char *drift_profile_input(const struct drift_profile *p); /* input tensor name, "" if unset */
/* "rows" of the profile (training rows it summarises), 0 if unset. */
int64_t drift_profile_rows(const struct drift_profile *p);
/* Feature i: number of bins k (2..64); its k-1 edges (n_edges gets k-1 when
 * not NULL); its k reference proportions; its reference missing share. */
int drift_profile_bins(const struct drift_profile *p, int i);
const double *drift_profile_edges(const struct drift_profile *p, int i, int *n_edges);
const double *drift_profile_proportions(const struct drift_profile *p, int i);
double drift_profile_missing(const struct drift_profile *p, int i);
/* Index of the feature named name, or -1. */
int drift_profile_feature_index(const struct drift_profile *p, const char *name);

/* The bin of x among n_edges strictly increasing edges: the number of
 * edges < x, so x == edge goes left (0..n_edges); NaN gives n_edges + 1
 * (the missing bin). O(log n_edges). Also used by `axle profile`. */
int drift_bin_find(const double *edges, int n_edges, double x);

struct drift_window; /* sliding window over the last `rows` rows; not thread-safe: callers lock */

/* A window over the last `rows` rows (1..DRIFT_MAX_WINDOW_ROWS), empty at
 * first. Borrows p, which must outlive the window. Uses rows * features
 * bytes for the ring plus 4 * (bins + 1) bytes per feature for counts.
 * NULL when rows is out of range or on no memory. */
struct drift_window *drift_window_new(const struct drift_profile *p, int64_t rows);
void drift_window_free(struct drift_window *w); /* NULL is a no-op */
/* Add n rows of a row-major [n, features] matrix; once the window is full
 * each new row pushes out the oldest. NaN goes to the missing bin. A float32
 * value is compared with each edge rounded to float32, so a value sent as
 * float32 lands in the bin of the decimal it was written from even when the
 * edge is that decimal (edge 0.2, value 0.2f = 0.200000003 goes left, as
 * 0.2 did in the training data); a float64 value is compared with the edge
 * as it is. O(n * features * log(bins)), no allocation. n <= 0 adds
 * nothing. */
void drift_window_add_f32(struct drift_window *w, const float *x, int64_t n);
void drift_window_add_f64(struct drift_window *w, const double *x, int64_t n);
/* Forget every row. */
void drift_window_reset(struct drift_window *w);
int64_t drift_window_rows(const struct drift_window *w); /* rows currently in the window */
int64_t drift_window_capacity(const struct drift_window *w);
/* Live count of rows of feature i in bin b (b == bins: the missing bin). */
int64_t drift_window_count(const struct drift_window *w, int i, int b);
/* PSI per feature into psi[features] (formula and floor in the file
 * comment). Returns the rows in the window; when that is 0, psi is all 0. */
int64_t drift_window_psi(const struct drift_window *w, double *psi);

#endif
