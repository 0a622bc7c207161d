/*
 * test_drift.c - serve/drift.h: bin lookup at and around the edges, the
 * profile parser's refusals (each names what is wrong), and PSI of a
 * window against a profile: near 0 for the reference distribution, above
 * 0.25 for a shifted one.
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

#include "serve/drift.h"

/* ---------------------------------------------------------------------- */
/* drift_bin_find                                                          */

static void bin_find_counts_edges_below_so_a_value_on_an_edge_goes_left(void **state)
{
    const double e[] = {1.0, 2.0, 3.0};
    (void)state;
    assert_int_equal(drift_bin_find(e, 3, 0.5), 0);
    assert_int_equal(drift_bin_find(e, 3, 1.0), 0); /* x == e_1: bin 0 */
    assert_int_equal(drift_bin_find(e, 3, nextafter(1.0, 2.0)), 1);
    assert_int_equal(drift_bin_find(e, 3, 2.0), 1);
    assert_int_equal(drift_bin_find(e, 3, 2.5), 2);
    assert_int_equal(drift_bin_find(e, 3, 3.0), 2);
    assert_int_equal(drift_bin_find(e, 3, 3.5), 3);
    assert_int_equal(drift_bin_find(e, 3, -INFINITY), 0);
    assert_int_equal(drift_bin_find(e, 3, INFINITY), 3);
}

static void bin_find_puts_nan_in_the_missing_bin(void **state)
{
    const double e[] = {1.0, 2.0, 3.0};
    (void)state;
    assert_int_equal(drift_bin_find(e, 3, NAN), 4);
    assert_int_equal(drift_bin_find(e, 1, NAN), 2);
}

static void bin_find_with_one_edge(void **state)
{
    const double e[] = {0.0};
    (void)state;
    assert_int_equal(drift_bin_find(e, 1, -1.0), 0);
    assert_int_equal(drift_bin_find(e, 1, 0.0), 0);
    assert_int_equal(drift_bin_find(e, 1, -0.0), 0);
    assert_int_equal(drift_bin_find(e, 1, 1e-300), 1);
}

static void bin_find_agrees_with_a_linear_scan_on_many_edges(void **state)
{
    double e[63];
    (void)state;
    for (int i = 0; i < 63; i++)
        e[i] = i * 0.5 - 10;
    for (double x = -12; x < 24; x += 0.125) {
        int want = 0;
        while (want < 63 && e[want] < x)
            want++;
        assert_int_equal(drift_bin_find(e, 63, x), want);
    }
}

/* ---------------------------------------------------------------------- */
/* drift_profile_parse                                                     */

static const char *GOOD =
    "{\"format\":\"axle-profile\",\"version\":1,\"input\":\"x\",\"rows\":10,\"features\":["
    "{\"name\":\"a\",\"edges\":[1,2],\"proportions\":[0.25,0.5,0.25],\"missing\":0},"
    "{\"name\":\"b\",\"edges\":[0],\"proportions\":[0.4,0.4],\"missing\":0.2,"
    "\"min\":-1,\"max\":1,\"mean\":0}]}";

static enum axle_status parse(const char *json, struct axle_err *err)
{
    struct drift_profile *p = NULL;
    enum axle_status st = drift_profile_parse(json, strlen(json), &p, err);
    if (st == AXLE_OK)
        assert_non_null(p);
    else
        assert_null(p);
    drift_profile_free(p);
    return st;
}

/* Parsing json fails with AXLE_INVALID_ARGUMENT and a message holding want. */
static void expect_rejected(const char *json, const char *want)
{
    struct axle_err err = {0};
    enum axle_status st = parse(json, &err);
    if (st != AXLE_INVALID_ARGUMENT)
        fail_msg("accepted (status %d): %s", st, json);
    if (strstr(err.msg, want) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static void profile_parse_reads_a_good_profile(void **state)
{
    struct drift_profile *p = NULL;
    struct axle_err err = {0};
    int ne = 0;
    (void)state;
    assert_int_equal(drift_profile_parse(GOOD, strlen(GOOD), &p, &err), AXLE_OK);
    assert_int_equal(drift_profile_features(p), 2);
    assert_string_equal(drift_profile_input(p), "x");
    assert_int_equal(drift_profile_rows(p), 10);
    assert_string_equal(drift_profile_feature_name(p, 1), "b");
    assert_int_equal(drift_profile_bins(p, 0), 3);
    const double *e = drift_profile_edges(p, 0, &ne);
    assert_int_equal(ne, 2);
    assert_true(e[0] == 1 && e[1] == 2);
    assert_true(drift_profile_proportions(p, 0)[1] == 0.5);
    assert_true(drift_profile_missing(p, 1) == 0.2);
    assert_int_equal(drift_profile_feature_index(p, "b"), 1);
    assert_int_equal(drift_profile_feature_index(p, "c"), -1);
    drift_profile_free(p);
}

static void profile_parse_rejects_edges_not_strictly_increasing(void **state)
{
    (void)state;
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                    "\"edges\":[2,1],\"proportions\":[0.5,0.25,0.25]}]}",
                    "not strictly increasing");
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                    "\"edges\":[1,1],\"proportions\":[0.5,0.25,0.25]}]}",
                    "not strictly increasing");
}

static void profile_parse_rejects_proportions_that_do_not_sum_to_one(void **state)
{
    (void)state;
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                    "\"edges\":[1],\"proportions\":[0.5,0.4]}]}",
                    "sum to");
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                    "\"edges\":[1],\"proportions\":[0.5,0.5],\"missing\":0.1}]}",
                    "sum to");
    /* within DRIFT_SUM_TOLERANCE is fine */
    struct axle_err err = {0};
    assert_int_equal(parse("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":"
                           "\"a\",\"edges\":[1],\"proportions\":[0.5,0.5000000001]}]}", &err),
                     AXLE_OK);
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                    "\"edges\":[1],\"proportions\":[1.5,-0.5]}]}",
                    "in [0, 1]");
}

static void profile_parse_rejects_too_many_or_too_few_bins(void **state)
{
    char json[4096];
    int n = snprintf(json, sizeof(json),
                     "{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                     "\"edges\":[");
    (void)state;
    for (int i = 0; i < DRIFT_MAX_BINS; i++) /* 64 edges: 65 bins */
        n += snprintf(json + n, sizeof(json) - (size_t)n, "%s%d", i ? "," : "", i);
    n += snprintf(json + n, sizeof(json) - (size_t)n, "],\"proportions\":[1");
    for (int i = 0; i < DRIFT_MAX_BINS; i++)
        n += snprintf(json + n, sizeof(json) - (size_t)n, ",0");
    snprintf(json + n, sizeof(json) - (size_t)n, "]}]}");
    expect_rejected(json, "edges, want");
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                    "\"edges\":[],\"proportions\":[1]}]}",
                    "edges, want");
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                    "\"edges\":[1],\"proportions\":[1]}]}",
                    "proportions for");
}

static void profile_parse_rejects_unknown_keys(void **state)
{
    (void)state;
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"colour\":1,\"features\":[{"
                    "\"name\":\"a\",\"edges\":[1],\"proportions\":[0.5,0.5]}]}",
                    "unknown key 'colour'");
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                    "\"edges\":[1],\"proportions\":[0.5,0.5],\"stddev\":1}]}",
                    "unknown key 'stddev'");
}

static void profile_parse_rejects_duplicate_feature_names(void **state)
{
    (void)state;
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":["
                    "{\"name\":\"a\",\"edges\":[1],\"proportions\":[0.5,0.5]},"
                    "{\"name\":\"b\",\"edges\":[1],\"proportions\":[0.5,0.5]},"
                    "{\"name\":\"a\",\"edges\":[1],\"proportions\":[0.5,0.5]}]}",
                    "duplicate feature name 'a'");
}

static void profile_parse_rejects_a_wrong_header_and_non_json(void **state)
{
    (void)state;
    expect_rejected("{\"format\":\"axle\",\"version\":1,\"features\":[]}", "'format'");
    expect_rejected("{\"format\":\"axle-profile\",\"version\":2,\"features\":[{\"name\":\"a\","
                    "\"edges\":[1],\"proportions\":[0.5,0.5]}]}", "'version'");
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[]}",
                    "0 features");
    expect_rejected("{\"format\":\"axle-profile\",\"version\":1,\"features\":[{\"name\":\"a\","
                    "\"edges\":[NaN],\"proportions\":[0.5,0.5]}]}", "finite");
    expect_rejected("[1, 2", "profile: ");
    expect_rejected("", "profile: ");
}

/* ---------------------------------------------------------------------- */
/* PSI                                                                     */

/* Deterministic normal samples: xorshift64 and Box-Muller. */
static uint64_t rng_state = 88172645463325252ull;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* A 10-bin profile of the standard normal for two features: edges at its
 * deciles, 10% per bin. */
static struct drift_profile *normal_profile(void)
{
    static const double deciles[9] = {-1.2815515655446004, -0.8416212335729143,
                                      -0.5244005127080407, -0.2533471031357997, 0.0,
                                      0.2533471031357997,  0.5244005127080407,
                                      0.8416212335729143,  1.2815515655446004};
    char json[2048], edges[512] = "";
    struct drift_profile *p = NULL;
    struct axle_err err = {0};
    int n = 0;
    for (int i = 0; i < 9; i++)
        n += snprintf(edges + n, sizeof(edges) - (size_t)n, "%s%.17g", i ? "," : "", deciles[i]);
    snprintf(json, sizeof(json),
             "{\"format\":\"axle-profile\",\"version\":1,\"features\":["
             "{\"name\":\"a\",\"edges\":[%s],\"proportions\":[0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,"
             "0.1,0.1]},"
             "{\"name\":\"b\",\"edges\":[%s],\"proportions\":[0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,"
             "0.1,0.1]}]}", edges, edges);
    assert_int_equal(drift_profile_parse(json, strlen(json), &p, &err), AXLE_OK);
    return p;
}

static void psi_is_near_zero_for_the_reference_distribution_and_high_when_shifted(void **state)
{
    struct drift_profile *p = normal_profile();
    struct drift_window *w = drift_window_new(p, 5000);
    double x[2], psi[2];
    (void)state;
    assert_non_null(w);
    assert_int_equal(drift_window_psi(w, psi), 0);
    assert_true(psi[0] == 0 && psi[1] == 0);
    for (int i = 0; i < 5000; i++) {
        x[0] = normal();
        x[1] = normal();
        drift_window_add_f64(w, x, 1);
    }
    assert_int_equal(drift_window_psi(w, psi), 5000);
    if (!(psi[0] < 0.02 && psi[1] < 0.02))
        fail_msg("reference traffic: psi %g %g", psi[0], psi[1]);

    /* feature b moves by one standard deviation; a stays */
    float xf[2];
    for (int i = 0; i < 5000; i++) {
        xf[0] = (float)normal();
        xf[1] = (float)(normal() + 1.0);
        drift_window_add_f32(w, xf, 1);
    }
    assert_int_equal(drift_window_psi(w, psi), 5000);
    if (!(psi[0] < 0.02 && psi[1] > 0.25))
        fail_msg("shifted traffic: psi %g %g", psi[0], psi[1]);

    /* all missing: the missing bin, reference share 0, dominates */
    drift_window_reset(w);
    x[0] = NAN;
    x[1] = 0;
    for (int i = 0; i < 100; i++)
        drift_window_add_f64(w, x, 1);
    assert_int_equal(drift_window_count(w, 0, 10), 100);
    drift_window_psi(w, psi);
    assert_true(psi[0] > 1.0);
    drift_window_free(w);
    drift_profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bin_find_counts_edges_below_so_a_value_on_an_edge_goes_left),
        cmocka_unit_test(bin_find_puts_nan_in_the_missing_bin),
        cmocka_unit_test(bin_find_with_one_edge),
        cmocka_unit_test(bin_find_agrees_with_a_linear_scan_on_many_edges),
        cmocka_unit_test(profile_parse_reads_a_good_profile),
        cmocka_unit_test(profile_parse_rejects_edges_not_strictly_increasing),
        cmocka_unit_test(profile_parse_rejects_proportions_that_do_not_sum_to_one),
        cmocka_unit_test(profile_parse_rejects_too_many_or_too_few_bins),
        cmocka_unit_test(profile_parse_rejects_unknown_keys),
        cmocka_unit_test(profile_parse_rejects_duplicate_feature_names),
        cmocka_unit_test(profile_parse_rejects_a_wrong_header_and_non_json),
        cmocka_unit_test(psi_is_near_zero_for_the_reference_distribution_and_high_when_shifted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
