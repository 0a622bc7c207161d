/*
 * profile.h - building the reference profile that drift detection compares
 * live traffic against (drift.h): training data in, profile JSON out.
 * `axle profile` (cli/cmd_profile.c) is the user; the code lives here, in
 * axle_core, so the unit tests and the libFuzzer target reach it.
 *
 * Data is held column-major as doubles, NaN meaning missing. It comes from
 * a CSV text (profile_csv_parse) or a row-major float32/float64 matrix such
 * as a .npy array (profile_data_from_rows).
 *
 * CSV rules (docs/monitoring.md, "Reference profiles"): comma separated;
 * one row per line, LF or CRLF, a UTF-8 byte order mark skipped; lines of
 * only spaces and tabs skipped; spaces and tabs around a field ignored; a
 * field may be double-quoted ("" is a quote inside it; a quoted field does
 * not span lines). A value is a decimal number ([+-]digits[.digits][e[+-]
 * digits]); an empty field or "nan" (any case) is missing. Infinite values
 * ("inf", or a number beyond the double range) are rejected: a profile's
 * edges must be finite and an infinite training value is nearly always a
 * data bug. The first row is a header when any of its fields is neither a
 * number nor missing (or always / never, by choice); header names are
 * 1..DRIFT_MAX_NAME bytes of UTF-8 without control characters, distinct.
 * Every row has as many fields as the first.
 *
 * Binning: per feature, K quantile bins: edge i (i = 1..K-1) is the
 * i/K-quantile of the feature's non-missing values, taken as the smallest
 * value with at least i/K of them at or below it (inverted empirical CDF,
 * so edges are data values); equal edges are merged, so a feature with m
 * distinct values gets at most m edges, and a constant feature gets one
 * edge at its value (everything in bin 0). A
 * feature with no values at all gets one edge at 0 and missing = 1. The
 * proportions are counts of drift_bin_find() over every row, so the
 * profile bins training data exactly as the server bins traffic (for a
 * float32 input after rounding values and edges to float32, see
 * profile_build); proportions + missing sum to 1 within a few ulps, and
 * the last bin would take any larger rounding difference.
 */
#ifndef AXLE_SERVE_PROFILE_H
#define AXLE_SERVE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"
#include "serve/buf.h"
#include "serve/drift.h"

#define PROFILE_MAX_FILE_BYTES ((size_t)1 << 30) /* a CSV or .npy data file */
#define PROFILE_MAX_ROWS ((int64_t)10000000)
#define PROFILE_MAX_CELLS ((int64_t)1 << 28) /* rows x features: 2 GiB of doubles */
#define PROFILE_MAX_FIELD DRIFT_MAX_NAME    /* bytes of one CSV field */
#define PROFILE_DEFAULT_BINS 10

/* Bounds on what a parse may hold; a zero member means the default above
 * (max_features: DRIFT_MAX_FEATURES). Smaller ones let tests reach the
 * limit paths. */
struct profile_limits {
    int64_t max_rows;
    int max_features;
    int64_t max_cells;
};

enum profile_header {
    PROFILE_HEADER_AUTO = 0, /* a first row with a non-numeric field is a header */
    PROFILE_HEADER_YES,
    PROFILE_HEADER_NO,
};

struct profile_data {
    int64_t n_rows;
    int n_features;
    double *cols; /* n_features columns of n_rows values; NaN: missing */
    char (*names)[DRIFT_MAX_NAME + 1]; /* n_features names, or NULL: f0, f1, ... */
};

/* Parse CSV text[0..len) (borrowed for the call; need not be
 * NUL-terminated) into *out, which the caller releases with
 * profile_data_dispose (also after an error). lim may be NULL. Errors:
 * AXLE_INVALID_ARGUMENT naming the line (1-based, as an editor counts) and
 * field for ragged rows, non-numbers, infinite values, bad header names;
 * no data rows; a limit exceeded. AXLE_RESOURCE_EXHAUSTED on no memory.
 * Never crashes on any input. */
enum axle_status profile_csv_parse(const char *text, size_t len, enum profile_header header,
                                   const struct profile_limits *lim, struct profile_data *out,
                                   struct axle_err *err);

/* Copy a row-major [rows, features] matrix of float32 (is_f64 == 0) or
 * float64 values into *out (release with profile_data_dispose). NaN is
 * missing; an infinite value is an error naming its row and column, as are
 * rows < 1 and the limits. */
enum axle_status profile_data_from_rows(const void *x, int is_f64, int64_t rows, int features,
                                        const struct profile_limits *lim,
                                        struct profile_data *out, struct axle_err *err);

void profile_data_dispose(struct profile_data *d); /* zeroes *d; repeatable */

/* Append the profile of d as JSON (the format drift_profile_parse reads)
 * to out: "input" is input (0..DRIFT_MAX_NAME bytes; "" means the model's
 * first input), up to n_bins (DRIFT_MIN_BINS..DRIFT_MAX_BINS) bins per
 * feature. With as_f32 (the model input is float32) every value and edge
 * is first rounded to float32, as the server compares float32 traffic with
 * float32-rounded edges (drift_window_add_f32), so training data and
 * traffic are binned alike; a value outside the float32 range is then an
 * error. Uses n_rows doubles of scratch. AXLE_INVALID_ARGUMENT for bad
 * arguments, AXLE_RESOURCE_EXHAUSTED on no memory or output over
 * DRIFT_MAX_PROFILE_BYTES. */
enum axle_status profile_build(const struct profile_data *d, const char *input, int n_bins,
                               int as_f32, struct axle_buf *out, struct axle_err *err);

#endif
