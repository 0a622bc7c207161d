/*
 * test_profile.c - serve/profile.h: the CSV rules (header detection,
 * quoting, missing values, CRLF and blank lines, and each refusal with its
 * line number), the matrix copy, and the binning: quantile edges, merged
 * edges for few distinct values, constant and all-missing features,
 * float32 rounding, and output that drift_profile_parse reads back with
 * proportions equal to counts by drift_bin_find.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/buf.h"
#include "serve/drift.h"
#include "serve/profile.h"

static enum axle_status csv(const char *text, enum profile_header h, struct profile_data *d,
                            struct axle_err *err)
{
    return profile_csv_parse(text, strlen(text), h, NULL, d, err);
}

static void expect_csv_error(const char *text, enum profile_header h, const char *want)
{
    struct profile_data d;
    struct axle_err err = {0};
    enum axle_status st = csv(text, h, &d, &err);
    profile_data_dispose(&d);
    if (st != AXLE_INVALID_ARGUMENT)
        fail_msg("accepted (status %d): <%s>", st, text);
    if (strstr(err.msg, want) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static double at(const struct profile_data *d, int64_t r, int j)
{
    return d->cols[(size_t)j * (size_t)d->n_rows + (size_t)r];
}

static void csv_header_is_detected_and_values_read_column_major(void **state)
{
    struct profile_data d;
    struct axle_err err = {0};
    (void)state;
    assert_int_equal(csv("\xef\xbb\xbfsepal length, \"petal, width\"\r\n"
                         "1.5, -2e3\r\n\n  \t\n.5,\"7\"\r\n",
                         PROFILE_HEADER_AUTO, &d, &err), AXLE_OK);
    assert_int_equal(d.n_rows, 2);
    assert_int_equal(d.n_features, 2);
    assert_non_null(d.names);
    assert_string_equal(d.names[0], "sepal length");
    assert_string_equal(d.names[1], "petal, width");
    assert_true(at(&d, 0, 0) == 1.5 && at(&d, 0, 1) == -2000);
    assert_true(at(&d, 1, 0) == 0.5 && at(&d, 1, 1) == 7);
    profile_data_dispose(&d);
    profile_data_dispose(&d); /* repeatable */
}

static void csv_without_header_has_no_names_and_reads_missing_as_nan(void **state)
{
    struct profile_data d;
    struct axle_err err = {0};
    (void)state;
    assert_int_equal(csv("1,,3\nNaN,2,nan\n4,5,6", PROFILE_HEADER_AUTO, &d, &err), AXLE_OK);
    assert_null(d.names);
    assert_int_equal(d.n_rows, 3);
    assert_true(isnan(at(&d, 0, 1)) && isnan(at(&d, 1, 0)) && isnan(at(&d, 1, 2)));
    assert_true(at(&d, 2, 2) == 6);
    profile_data_dispose(&d);
    /* --header: a numeric first row is names all the same */
    assert_int_equal(csv("1,2\n3,4\n", PROFILE_HEADER_YES, &d, &err), AXLE_OK);
    assert_string_equal(d.names[1], "2");
    assert_int_equal(d.n_rows, 1);
    profile_data_dispose(&d);
}

static void csv_rejects_ragged_rows_naming_the_line(void **state)
{
    (void)state;
    expect_csv_error("a,b\n1,2\n\n3\n", PROFILE_HEADER_AUTO,
                     "line 4: 1 fields, but the header (line 1) has 2");
    expect_csv_error("1,2\n3,4,5\n", PROFILE_HEADER_AUTO, "line 2: 3 fields");
}

static void csv_rejects_text_and_infinite_values_naming_line_and_field(void **state)
{
    (void)state;
    expect_csv_error("a,b\n1,2\n3,x4\n", PROFILE_HEADER_AUTO,
                     "line 3, field 2: 'x4' is not a number");
    expect_csv_error("a,b\n1,0x10\n", PROFILE_HEADER_AUTO, "'0x10' is not a number");
    expect_csv_error("a,b\n1,1e\n", PROFILE_HEADER_AUTO, "'1e' is not a number");
    expect_csv_error("a,b\n1,.\n", PROFILE_HEADER_AUTO, "'.' is not a number");
    expect_csv_error("a,b\n1,-inf\n", PROFILE_HEADER_AUTO, "line 2, field 2: '-inf' is infinite");
    expect_csv_error("a,b\n1e999,1\n", PROFILE_HEADER_AUTO, "'1e999' is infinite");
    expect_csv_error("x,1\n1,2\n", PROFILE_HEADER_NO, "line 1, field 1: 'x' is not a number");
}

static void csv_rejects_bad_headers_and_quotes(void **state)
{
    (void)state;
    expect_csv_error("a,,c\n1,2,3\n", PROFILE_HEADER_AUTO, "header field 2 is empty");
    expect_csv_error("a,b,a\n1,2,3\n", PROFILE_HEADER_AUTO, "fields 1 and 3 are both 'a'");
    expect_csv_error("a,\"b\x01\"\n1,2\n", PROFILE_HEADER_AUTO, "control characters");
    expect_csv_error("a,\xff\xfe\n1,2\n", PROFILE_HEADER_AUTO, "not UTF-8");
    expect_csv_error("a,\"b\n\",c\n", PROFILE_HEADER_AUTO, "unterminated quoted field");
    expect_csv_error("a,\"b\"c\n1,2\n", PROFILE_HEADER_AUTO, "text after a closing quote");
}

static void csv_rejects_no_rows_and_the_limits(void **state)
{
    struct profile_limits lim = {.max_rows = 2, .max_features = 3, .max_cells = 4};
    struct profile_data d;
    struct axle_err err = {0};
    (void)state;
    expect_csv_error("", PROFILE_HEADER_AUTO, "no rows");
    expect_csv_error("\n \n", PROFILE_HEADER_AUTO, "no rows");
    expect_csv_error("a,b\n", PROFILE_HEADER_AUTO, "no data rows");
    assert_int_equal(profile_csv_parse("1,2\n3,4\n5,6\n", 12, PROFILE_HEADER_AUTO, &lim, &d,
                                       &err), AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "more than 2 rows"));
    profile_data_dispose(&d);
    assert_int_equal(profile_csv_parse("1,2,3,4\n", 8, PROFILE_HEADER_AUTO, &lim, &d, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "more than 3 fields"));
    profile_data_dispose(&d);
    assert_int_equal(profile_csv_parse("1,2,3\n4,5,6\n", 12, PROFILE_HEADER_AUTO, &lim, &d,
                                       &err), AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "more than 4 values"));
    profile_data_dispose(&d);
    /* a field over 255 bytes */
    char big[400];
    memset(big, '1', 300);
    strcpy(big + 300, "\n");
    expect_csv_error(big, PROFILE_HEADER_AUTO, "longer than 255 bytes");
}

static void csv_text_need_not_be_nul_terminated(void **state)
{
    struct profile_data d;
    struct axle_err err = {0};
    char text[4] = {'1', ',', '2', '3'};
    (void)state;
    assert_int_equal(profile_csv_parse(text, 3, PROFILE_HEADER_AUTO, NULL, &d, &err), AXLE_OK);
    assert_true(at(&d, 0, 1) == 2);
    profile_data_dispose(&d);
}

static void rows_copy_transposes_and_rejects_infinity(void **state)
{
    const float x[6] = {1, 2, 3, 4, NAN, 6};
    const double y[2] = {1, -INFINITY};
    struct profile_data d;
    struct axle_err err = {0};
    (void)state;
    assert_int_equal(profile_data_from_rows(x, 0, 2, 3, NULL, &d, &err), AXLE_OK);
    assert_true(at(&d, 1, 0) == 4 && isnan(at(&d, 1, 1)) && at(&d, 0, 2) == 3);
    profile_data_dispose(&d);
    assert_int_equal(profile_data_from_rows(y, 1, 1, 2, NULL, &d, &err), AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "row 0, column 1 is infinite"));
    profile_data_dispose(&d);
    assert_int_equal(profile_data_from_rows(y, 1, 0, 2, NULL, &d, &err), AXLE_INVALID_ARGUMENT);
    profile_data_dispose(&d);
}

/* Build d's profile, parse it back, and check every feature's proportions
 * against counts made here with drift_bin_find (over values rounded to
 * float32 when as_f32). */
static struct drift_profile *build_and_check(const struct profile_data *d, int bins, int as_f32)
{
    struct axle_buf b;
    struct axle_err err = {0};
    struct drift_profile *p = NULL;
    buf_init(&b);
    assert_int_equal(profile_build(d, "in", bins, as_f32, &b, &err), AXLE_OK);
    if (drift_profile_parse(b.data, b.len, &p, &err) != AXLE_OK)
        fail_msg("%s in %.*s", err.msg, (int)(b.len > 400 ? 400 : b.len), b.data);
    buf_free(&b);
    assert_int_equal(drift_profile_features(p), d->n_features);
    assert_int_equal(drift_profile_rows(p), d->n_rows);
    assert_string_equal(drift_profile_input(p), "in");
    for (int j = 0; j < d->n_features; j++) {
        int ne, nb = drift_profile_bins(p, j);
        const double *e = drift_profile_edges(p, j, &ne);
        const double *pr = drift_profile_proportions(p, j);
        int64_t counts[DRIFT_MAX_BINS + 1] = {0};
        assert_true(nb >= 2 && nb <= bins);
        for (int64_t r = 0; r < d->n_rows; r++) {
            double v = at(d, r, j);
            counts[drift_bin_find(e, ne, as_f32 && !isnan(v) ? (double)(float)v : v)]++;
        }
        for (int k = 0; k < nb; k++)
            assert_true(fabs(pr[k] - (double)counts[k] / (double)d->n_rows) < 1e-12);
        assert_true(fabs(drift_profile_missing(p, j) - (double)counts[nb] / (double)d->n_rows) <
                    1e-12);
    }
    return p;
}

static void build_cuts_quantile_edges_with_equal_shares(void **state)
{
    struct profile_data d;
    struct axle_err err = {0};
    double x[1000];
    (void)state;
    for (int i = 0; i < 1000; i++)
        x[i] = (double)((i * 7919) % 1000); /* 0..999, shuffled */
    assert_int_equal(profile_data_from_rows(x, 1, 1000, 1, NULL, &d, &err), AXLE_OK);
    struct drift_profile *p = build_and_check(&d, 10, 0);
    int ne;
    const double *e = drift_profile_edges(p, 0, &ne);
    assert_int_equal(ne, 9);
    /* numpy.quantile(x, i / 10, method='inverted_cdf') */
    assert_true(e[0] == 99 && e[4] == 499 && e[8] == 899);
    for (int k = 0; k < 10; k++)
        assert_true(fabs(drift_profile_proportions(p, 0)[k] - 0.1) < 1e-12);
    assert_string_equal(drift_profile_feature_name(p, 0), "f0");
    drift_profile_free(p);
    profile_data_dispose(&d);
}

static void build_merges_edges_for_few_values_and_handles_constant_and_empty(void **state)
{
    struct profile_data d;
    struct axle_err err = {0};
    /* columns: three distinct values; constant 5; all missing; half missing */
    (void)state;
    assert_int_equal(csv("few,const,none,half\n"
                         "1,5,,1\n1,5,,\n2,5,nan,2\n3,5,,\n1,5,,3\n2,5,,\n",
                         PROFILE_HEADER_AUTO, &d, &err), AXLE_OK);
    struct drift_profile *p = build_and_check(&d, 10, 0);
    int ne;
    const double *e = drift_profile_edges(p, 0, &ne);
    assert_int_equal(ne, 3); /* sorted 1 1 1 2 2 3: one edge per distinct value */
    assert_true(e[0] == 1 && e[1] == 2 && e[2] == 3);
    e = drift_profile_edges(p, 1, &ne);
    assert_int_equal(ne, 1);
    assert_true(e[0] == 5);
    assert_true(drift_profile_proportions(p, 1)[0] == 1 && drift_profile_proportions(p, 1)[1] == 0);
    e = drift_profile_edges(p, 2, &ne);
    assert_int_equal(ne, 1);
    assert_true(drift_profile_missing(p, 2) == 1);
    assert_true(drift_profile_missing(p, 3) == 0.5);
    assert_string_equal(drift_profile_feature_name(p, 3), "half");
    drift_profile_free(p);
    profile_data_dispose(&d);
}

static void build_rounds_to_float32_for_a_float32_input(void **state)
{
    struct profile_data d;
    struct axle_err err = {0};
    double x[400];
    (void)state;
    for (int i = 0; i < 400; i++) /* doubles 1e-10 apart collapse in float32 */
        x[i] = 0.1 + (double)(i % 4) * 1e-10 + (double)(i / 4) * 0.01;
    assert_int_equal(profile_data_from_rows(x, 1, 400, 1, NULL, &d, &err), AXLE_OK);
    struct drift_profile *p = build_and_check(&d, 16, 1);
    int ne;
    const double *e = drift_profile_edges(p, 0, &ne);
    for (int k = 0; k < ne; k++)
        assert_true(e[k] == (double)(float)e[k]);
    drift_profile_free(p);
    /* out of float32 range */
    d.cols[0] = 1e300;
    struct axle_buf b;
    buf_init(&b);
    assert_int_equal(profile_build(&d, "in", 10, 1, &b, &err), AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "float32 range"));
    buf_reset(&b);
    assert_int_equal(profile_build(&d, "in", 10, 0, &b, &err), AXLE_OK);
    buf_free(&b);
    profile_data_dispose(&d);
}

static void build_survives_extreme_values_and_every_bin_count(void **state)
{
    struct profile_data d;
    struct axle_err err = {0};
    const double x[6] = {-1.7976931348623157e308, 1.7976931348623157e308, 0, 4.9e-324,
                         -0.0, 1e308};
    (void)state;
    assert_int_equal(profile_data_from_rows(x, 1, 6, 1, NULL, &d, &err), AXLE_OK);
    for (int bins = DRIFT_MIN_BINS; bins <= DRIFT_MAX_BINS; bins++)
        drift_profile_free(build_and_check(&d, bins, 0));
    struct axle_buf b;
    buf_init(&b);
    assert_int_equal(profile_build(&d, "in", 1, 0, &b, &err), AXLE_INVALID_ARGUMENT);
    assert_int_equal(profile_build(&d, "in", 65, 0, &b, &err), AXLE_INVALID_ARGUMENT);
    buf_free(&b);
    profile_data_dispose(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_header_is_detected_and_values_read_column_major),
        cmocka_unit_test(csv_without_header_has_no_names_and_reads_missing_as_nan),
        cmocka_unit_test(csv_rejects_ragged_rows_naming_the_line),
        cmocka_unit_test(csv_rejects_text_and_infinite_values_naming_line_and_field),
        cmocka_unit_test(csv_rejects_bad_headers_and_quotes),
        cmocka_unit_test(csv_rejects_no_rows_and_the_limits),
        cmocka_unit_test(csv_text_need_not_be_nul_terminated),
        cmocka_unit_test(rows_copy_transposes_and_rejects_infinity),
        cmocka_unit_test(build_cuts_quantile_edges_with_equal_shares),
        cmocka_unit_test(build_merges_edges_for_few_values_and_handles_constant_and_empty),
        cmocka_unit_test(build_rounds_to_float32_for_a_float32_input),
        cmocka_unit_test(build_survives_extreme_values_and_every_bin_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
