/*
 * fuzz_profile.c - serve/profile.h: bytes -> profile_csv_parse -> (when it
 * parses) profile_build -> drift_profile_parse.
 *
 * Invariants: a clear status for every input; a parse that succeeds has
 * 1.. rows and features within the limits, names only with a header, and
 * every value finite or NaN; the profile built from it always reads back
 * through the server's parser, with the same feature count and rows, and
 * its proportions are the drift_bin_find counts of the data. The first
 * byte picks the header mode, the bin count, float32 rounding and (for
 * some inputs) tight limits, so the limit paths are exercised too; the
 * rest is the CSV text.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/buf.h"
#include "serve/drift.h"
#include "serve/profile.h"

#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c))                                                            \
            abort();                                                         \
    } while (0)

static void check_profile(const struct profile_data *d, int bins, int as_f32)
{
    struct axle_buf b;
    struct axle_err err;
    struct drift_profile *p = NULL;

    buf_init(&b);
    enum axle_status st = profile_build(d, "input", bins, as_f32, &b, &err);
    /* float32 rounding refuses values beyond its range; nothing else fails */
    CHECK(st == AXLE_OK || (as_f32 && st == AXLE_INVALID_ARGUMENT));
    if (st == AXLE_OK) {
        CHECK(drift_profile_parse(b.data, b.len, &p, &err) == AXLE_OK);
        CHECK(drift_profile_features(p) == d->n_features);
        CHECK(drift_profile_rows(p) == d->n_rows);
        for (int j = 0; j < d->n_features; j++) {
            int ne, nb = drift_profile_bins(p, j);
            const double *e = drift_profile_edges(p, j, &ne);
            const double *col = d->cols + (size_t)j * (size_t)d->n_rows;
            int64_t counts[DRIFT_MAX_BINS + 1] = {0};
            CHECK(nb >= DRIFT_MIN_BINS && nb <= bins);
            for (int64_t r = 0; r < d->n_rows; r++) {
                double v = as_f32 && !isnan(col[r]) ? (double)(float)col[r] : col[r];
                counts[drift_bin_find(e, ne, v)]++;
            }
            for (int k = 0; k < nb; k++)
                CHECK(fabs(drift_profile_proportions(p, j)[k] -
                           (double)counts[k] / (double)d->n_rows) < 1e-9);
            CHECK(fabs(drift_profile_missing(p, j) - (double)counts[nb] / (double)d->n_rows) <
                  1e-9);
            if (d->names)
                CHECK(strcmp(drift_profile_feature_name(p, j), d->names[j]) == 0);
        }
    }
    drift_profile_free(p);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct profile_limits tight = {.max_rows = 8, .max_features = 4, .max_cells = 16};
    struct profile_data d;
    struct axle_err err;

    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    enum profile_header h = (enum profile_header)(mode % 3);
    int bins = DRIFT_MIN_BINS + (mode >> 2) % (DRIFT_MAX_BINS - DRIFT_MIN_BINS + 1);
    int as_f32 = (mode >> 3) & 1;
    const struct profile_limits *lim = (mode & 0x80) ? &tight : NULL;
    /* the text is copied so that reading past it is caught by ASan */
    char *text = malloc(size - 1 ? size - 1 : 1);
    CHECK(text != NULL);
    memcpy(text, data + 1, size - 1);

    enum axle_status st = profile_csv_parse(text, size - 1, h, lim, &d, &err);
    CHECK(st == AXLE_OK || st == AXLE_INVALID_ARGUMENT || st == AXLE_RESOURCE_EXHAUSTED);
    CHECK(st == AXLE_OK || err.code == st);
    if (st == AXLE_OK) {
        CHECK(d.n_rows >= 1 && d.n_features >= 1 && d.n_features <= DRIFT_MAX_FEATURES);
        CHECK(!lim || (d.n_rows <= 8 && d.n_features <= 4 && d.n_rows * d.n_features <= 16));
        CHECK(h != PROFILE_HEADER_YES || d.names != NULL);
        CHECK(h != PROFILE_HEADER_NO || d.names == NULL);
        for (int64_t k = 0; k < d.n_rows * d.n_features; k++)
            CHECK(isfinite(d.cols[k]) || isnan(d.cols[k]));
        check_profile(&d, bins, as_f32);
    }
    profile_data_dispose(&d);
    free(text);
    return 0;
}
