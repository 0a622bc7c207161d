/*
 * test_lightgbm_import.c - the LightGBM text importer (import/lightgbm):
 * decision rules on hand-written models (numerical with each missing type,
 * categorical sets, linear leaves, multiclass, average_output), every
 * parser error from in-memory buffers, allocation failures, and agreement
 * with LightGBM's own predictions on the committed fixtures
 * (tests/fixtures/trees/lightgbm, tools/gen_tree_fixtures_lightgbm.py)
 * straight through the forest evaluator, without the engine.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "import/lightgbm/lightgbm.h"
#include "ir/graph.h"
#include "ir/model.h"
#include "kernels/forest.h"

/* ---- helpers ------------------------------------------------------------ */

static enum axle_status import_str(const char *s, struct axle_ir_model **m,
                                   struct axle_err *err)
{
    return axle_lightgbm_import((const uint8_t *)s, strlen(s), m, err);
}

static const struct axle_forest *model_forest(const struct axle_ir_model *m)
{
    const struct axle_attr *a;
    assert_non_null(m);
    assert_int_equal(m->graph->n_nodes, 1);
    a = axle_node_attr(&m->graph->nodes[0], "forest");
    assert_non_null(a);
    return a->opaque;
}

static const char *meta(const struct axle_ir_model *m, const char *key)
{
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta_keys[i], key) == 0)
            return m->meta_values[i];
    return NULL;
}

/* Transformed outputs of one row, as the Forest op computes them. */
static void predict_row(const struct axle_forest *f, const float *x,
                        double *out)
{
    axle_forest_scores(f, x, 1, f->n_features, out, NULL, NULL);
    axle_forest_transform_row(f, out);
}

static double predict1(const struct axle_forest *f, const float *x)
{
    double s[8];
    assert_true(f->n_targets <= 8);
    predict_row(f, x, s);
    return s[0];
}

/* A model text: header for `nf` features and `objective`, then the given
 * tree blocks (each "Tree=i\n...\n\n"), then "end of trees". */
static char *model_text(int nf, const char *objective, const char *extra_hdr,
                        const char *trees)
{
    size_t cap = 4096 + strlen(trees) + strlen(extra_hdr);
    char *s = malloc(cap);
    char names[512] = "", infos[512] = "";
    size_t n;
    for (int i = 0; i < nf; i++) {
        char one[32];
        snprintf(one, sizeof(one), "%sf%d", i ? " " : "", i);
        strcat(names, one);
        strcat(infos, i ? " [-1:1]" : "[-1:1]");
    }
    n = (size_t)snprintf(s, cap,
                         "tree\nversion=v4\nnum_class=1\n"
                         "num_tree_per_iteration=1\nlabel_index=0\n"
                         "max_feature_idx=%d\n%s%s%s"
                         "feature_names=%s\nfeature_infos=%s\n\n%s"
                         "end of trees\n\nfeature_importances:\nf0=1\n",
                         nf - 1, objective[0] ? "objective=" : "", objective,
                         objective[0] ? "\n" : "", names, infos, trees);
    assert_true(n < cap);
    if (extra_hdr[0]) {
        /* insert after the version line */
        char *tmp = malloc(cap);
        char *at = strstr(s, "num_class=");
        size_t head = (size_t)(at - s);
        memcpy(tmp, s, head);
        strcpy(tmp + head, extra_hdr);
        strcat(tmp, at);
        free(s);
        s = tmp;
    }
    return s;
}

/* Replaces the first occurrence of `from` by `to` (the text must hold it). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *r = malloc(n);
    assert_non_null(at);
    memcpy(r, s, (size_t)(at - s));
    strcpy(r + (at - s), to);
    strcat(r, at + strlen(from));
    return r;
}

/* Three leaves: node 0 splits f0 (left: node 1, right: leaf 2), node 1
 * splits f1 (left: leaf 0, right: leaf 1). */
static const char *TREE3 =
    "Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 1\n"
    "split_gain=1 1\nthreshold=0.5 -0.25\ndecision_type=%s\n"
    "left_child=1 -1\nright_child=-3 -2\nleaf_value=1 2 3\n"
    "leaf_weight=1 1 1\nleaf_count=1 1 1\ninternal_value=0 0\n"
    "internal_weight=0 0\ninternal_count=3 2\nis_linear=0\n"
    "shrinkage=1\n\n\n";

static char *tree3(const char *decision_types)
{
    return replace(TREE3, "%s", decision_types);
}

static char *good_model(void)
{
    char *t = tree3("2 10");
    char *s = model_text(3, "regression", "", t);
    free(t);
    return s;
}

static void expect_error(const char *text, const char *needle)
{
    struct axle_ir_model *m = (struct axle_ir_model *)1;
    struct axle_err err = {0};
    enum axle_status st = import_str(text, &m, &err);
    if (st != AXLE_INVALID_ARGUMENT)
        fail_msg("status %d (%s), wanted invalid_argument for '%s'", st,
                 err.msg, needle);
    assert_null(m);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' does not name '%s'", err.msg, needle);
}

static void expect_error_replacing(const char *from, const char *to,
                                   const char *needle)
{
    char *base = good_model();
    char *bad = replace(base, from, to);
    expect_error(bad, needle);
    free(bad);
    free(base);
}

/* ---- decision rules ------------------------------------------------------ */

static void sniff_accepts_tree_line_only(void **state)
{
    (void)state;
    assert_true(axle_lightgbm_sniff((const uint8_t *)"tree\nversion", 12));
    assert_true(axle_lightgbm_sniff((const uint8_t *)"tree\r\n", 6));
    assert_false(axle_lightgbm_sniff((const uint8_t *)"tree", 4));
    assert_false(axle_lightgbm_sniff((const uint8_t *)"trees\n", 6));
    assert_false(axle_lightgbm_sniff((const uint8_t *)"{\"learner\"", 10));
    assert_false(axle_lightgbm_sniff((const uint8_t *)"", 0));
}

static void numerical_missing_types_follow_lightgbm(void **state)
{
    /* node 0: f0 <= 0.5; node 1: f1 <= -0.25. decision_type bits: 1 cat,
     * 2 default_left, missing type << 2 (0 None, 1 Zero, 2 NaN). */
    static const struct {
        const char *dt;
        float x[3];
        double want;
    } cases[] = {
        /* plain comparisons */
        {"0 0", {0.5f, -0.25f, 0}, 1},   {"0 0", {0.6f, 0, 0}, 3},
        {"0 0", {0.4f, -0.2f, 0}, 2},
        /* None: NaN is 0.0 -> f0 0 <= 0.5 left, f1 0 > -0.25 right */
        {"0 0", {NAN, NAN, 0}, 2},       {"2 2", {NAN, NAN, 0}, 2},
        /* NaN type, default right at node 0 */
        {"8 8", {NAN, 0, 0}, 3},         {"8 8", {0.1f, NAN, 0}, 2},
        /* NaN type, default left */
        {"10 10", {NAN, NAN, 0}, 1},     {"10 8", {NAN, NAN, 0}, 2},
        /* NaN type: zero is an ordinary value */
        {"8 8", {0, 0, 0}, 2},
        /* Zero type: 0, tiny and NaN take the default side */
        {"4 4", {0, -1, 0}, 3},          {"4 4", {1e-36f, -1, 0}, 3},
        {"4 4", {NAN, -1, 0}, 3},        {"6 4", {-1e-36f, 0, 0}, 2},
        {"6 6", {0, NAN, 0}, 1},         {"4 4", {2e-35f, -1, 0}, 1},
        {"4 4", {0.7f, -1, 0}, 3},       {"6 4", {0.7f, -1, 0}, 3},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = tree3(cases[i].dt);
        char *s = model_text(3, "regression", "", t);
        struct axle_ir_model *m = NULL;
        struct axle_err err = {0};
        double got;
        assert_int_equal(import_str(s, &m, &err), AXLE_OK);
        got = predict1(model_forest(m), cases[i].x);
        if (got != cases[i].want)
            fail_msg("case %zu (decision_type %s): got %g want %g", i,
                     cases[i].dt, got, cases[i].want);
        axle_ir_model_free(m);
        free(s);
        free(t);
    }
}

static void threshold_is_compared_in_double(void **state)
{
    /* 0.1 as a double lies between two floats: x = (float)0.1 is above it,
     * the float below is <= it. */
    const char *tree =
        "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\n"
        "threshold=0.10000000000000001\ndecision_type=2\nleft_child=-1\n"
        "right_child=-2\nleaf_value=-1 1\nshrinkage=1\n\n\n";
    char *s = model_text(1, "regression", "", tree);
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    float above = 0.1f, below = nextafterf(0.1f, 0), inf = INFINITY;
    (void)state;
    assert_true((double)above > 0.1 && (double)below < 0.1);
    assert_int_equal(import_str(s, &m, &err), AXLE_OK);
    assert_true(predict1(model_forest(m), &above) == 1);
    assert_true(predict1(model_forest(m), &below) == -1);
    assert_true(predict1(model_forest(m), &inf) == 1);
    axle_ir_model_free(m);
    free(s);
}

static void tiny_inputs_are_read_as_zero(void **state)
{
    /* LightGBM 4.7's predictor drops |x| <= 1e-35f from the row, so they
     * compare as 0.0 (expectations taken from lightgbm.Booster.predict). */
    static const struct {
        const char *t;
        double want[7];
    } cases[] = {
        {"-1.0000000180025095e-35", {1, -1, 1, 1, 1, 1, 1}},
        {"1.0000000180025095e-35", {-1, -1, -1, -1, -1, 1, -1}},
        {"0", {-1, -1, -1, -1, -1, 1, -1}},
        {"-5e-36", {1, -1, 1, 1, 1, 1, 1}},
    };
    const float xs[7] = {-1e-35f, -2e-35f, -1e-36f, 0, 1e-35f, 1.1e-35f, NAN};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *tree = replace("Tree=0\nnum_leaves=2\nnum_cat=0\n"
                             "split_feature=0\nthreshold=@T@\n"
                             "decision_type=2\nleft_child=-1\n"
                             "right_child=-2\nleaf_value=-1 1\n\n",
                             "@T@", cases[i].t);
        char *s = model_text(1, "regression", "", tree);
        struct axle_ir_model *m = NULL;
        struct axle_err err = {0};
        assert_int_equal(import_str(s, &m, &err), AXLE_OK);
        for (int j = 0; j < 7; j++)
            if (predict1(model_forest(m), &xs[j]) != cases[i].want[j])
                fail_msg("threshold %s, x=%g: got %g", cases[i].t, xs[j],
                         predict1(model_forest(m), &xs[j]));
        axle_ir_model_free(m);
        free(s);
        free(tree);
    }
}

static void infinite_threshold_sends_all_values_left(void **state)
{
    /* LightGBM 4 writes "inf" for a NaN-versus-the-rest split. */
    const char *tree =
        "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\n"
        "threshold=inf\ndecision_type=8\nleft_child=-1\n"
        "right_child=-2\nleaf_value=-1 1\nshrinkage=1\n\n\n";
    char *s = model_text(1, "regression", "", tree);
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    float big = 3e38f, nan = NAN, inf = INFINITY;
    (void)state;
    assert_int_equal(import_str(s, &m, &err), AXLE_OK);
    assert_true(predict1(model_forest(m), &big) == -1);
    assert_true(predict1(model_forest(m), &inf) == -1);
    assert_true(predict1(model_forest(m), &nan) == 1);
    axle_ir_model_free(m);
    free(s);
}

static void categorical_set_goes_left_nan_and_negative_right(void **state)
{
    /* categories {0, 2, 33} -> words 5, 2 */
    const char *tree =
        "Tree=0\nnum_leaves=2\nnum_cat=1\nsplit_feature=0\n"
        "threshold=0\ndecision_type=9\nleft_child=-1\nright_child=-2\n"
        "leaf_value=10 20\ncat_boundaries=0 2\ncat_threshold=5 2\n"
        "is_linear=0\nshrinkage=1\n\n\n";
    static const struct {
        float x;
        double want;
    } cases[] = {
        {0, 10},   {2, 10},     {33, 10},   {1, 20},  {3, 20},   {32, 20},
        {64, 20},  {NAN, 20},   {-1, 20},   {-0.5f, 10}, {2.9f, 10},
        {1e-40f, 10}, {3e9f, 20}, {INFINITY, 20},
    };
    char *s = model_text(1, "regression", "", tree);
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    (void)state;
    assert_int_equal(import_str(s, &m, &err), AXLE_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = predict1(model_forest(m), &cases[i].x);
        if (got != cases[i].want)
            fail_msg("x=%g: got %g want %g", cases[i].x, got, cases[i].want);
    }
    axle_ir_model_free(m);
    free(s);
}

static void linear_leaves_fall_back_to_leaf_value_on_nan(void **state)
{
    /* leaf 0: 1 + 2*f1 - 3*f2 (else 7); leaf 1: no terms -> leaf_const 5
     * always, never its leaf_value 9. */
    const char *tree =
        "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\n"
        "threshold=0\ndecision_type=2\nleft_child=-1\nright_child=-2\n"
        "leaf_value=7 9\nis_linear=1\nleaf_const=1 5\nnum_features=2 0\n"
        "leaf_features=1 2  \nleaf_coeff=2 -3  \nshrinkage=1\n\n\n";
    char *s = model_text(3, "regression", "", tree);
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    float a[3] = {-1, 0.5f, 2}, b[3] = {-1, NAN, 2}, c[3] = {1, NAN, NAN};
    float d[3] = {NAN, 1, 1};
    (void)state;
    assert_int_equal(import_str(s, &m, &err), AXLE_OK);
    assert_true(fabs(predict1(model_forest(m), a) - (1 + 1.0 - 6)) < 1e-12);
    assert_true(predict1(model_forest(m), b) == 7);
    assert_true(predict1(model_forest(m), c) == 5);
    /* NaN split value with missing type None reads as 0 -> left */
    assert_true(fabs(predict1(model_forest(m), d) - (1 + 2 - 3)) < 1e-12);
    axle_ir_model_free(m);
    free(s);
}

static void one_leaf_tree_and_objective_transforms(void **state)
{
    static const struct {
        const char *objective;
        double want; /* for raw score 0.5 */
    } cases[] = {
        {"regression", 0.5},
        {"regression sqrt", 0.25},
        {"regression_l1 sqrt", 0.25},
        {"huber sqrt", 0.5}, /* LightGBM's huber drops sqrt */
        {"poisson", 1.6487212707001282},
        {"gamma", 1.6487212707001282},
        {"tweedie", 1.6487212707001282},
        {"cross_entropy", 0.62245933120185459},
        {"xentropy", 0.62245933120185459},
        {"lambdarank", 0.5},
        {"rank_xendcg", 0.5},
        {"custom", 0.5},
        {"mse", 0.5},
        {"", 0.5},
    };
    const char *tree =
        "Tree=0\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nthreshold=\n"
        "decision_type=\nleft_child=\nright_child=\nleaf_value=0.5\n"
        "is_linear=0\nshrinkage=1\n\n\n";
    float x = 0;
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = model_text(1, cases[i].objective, "", tree);
        struct axle_ir_model *m = NULL;
        struct axle_err err = {0};
        const struct axle_forest *f;
        if (import_str(s, &m, &err) != AXLE_OK)
            fail_msg("%s: %s", cases[i].objective, err.msg);
        f = model_forest(m);
        assert_int_equal(f->output, AXLE_FOREST_PREDICT);
        if (fabs(predict1(f, &x) - cases[i].want) > 1e-15)
            fail_msg("%s: got %.17g", cases[i].objective, predict1(f, &x));
        axle_ir_model_free(m);
        free(s);
    }
}

static void binary_is_a_classifier_with_sigmoid_scale(void **state)
{
    const char *tree =
        "Tree=0\nnum_leaves=1\nnum_cat=0\nleaf_value=0.5\nshrinkage=1\n\n";
    char *s = model_text(2, "binary sigmoid:2", "", tree);
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    const struct axle_forest *f;
    float x[2] = {0, 0};
    (void)state;
    assert_int_equal(import_str(s, &m, &err), AXLE_OK);
    f = model_forest(m);
    assert_int_equal(f->output, AXLE_FOREST_CLASSIFY);
    assert_int_equal(f->transform, AXLE_XF_LOGISTIC);
    assert_true(fabs(predict1(f, x) - 1 / (1 + exp(-1.0))) < 1e-15);
    assert_string_equal(meta(m, "feature_names"), "f0,f1");
    assert_string_equal(meta(m, "objective"), "binary sigmoid:2");
    assert_string_equal(meta(m, "num_class"), "1");
    assert_string_equal(meta(m, "lightgbm_version"), "v4");
    assert_string_equal(m->format, "lightgbm");
    axle_ir_model_free(m);
    free(s);
}

static const char *MULTI_HDR_3 =
    "num_class=3\nnum_tree_per_iteration=3\n";

/* Six one-leaf trees, two iterations of three classes. */
static char *six_trees(void)
{
    static const double v[6] = {1, 2, 3, 0.5, -1, 0.25};
    char *s = malloc(2048);
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        n += (size_t)sprintf(s + n, "Tree=%d\nnum_leaves=1\nnum_cat=0\n"
                             "leaf_value=%g\nshrinkage=1\n\n\n", i, v[i]);
    return s;
}

static char *multi_model(const char *objective, const char *avg)
{
    char *trees = six_trees();
    char *base = model_text(1, objective, "", trees);
    char *hdr = replace(base, "num_class=1\nnum_tree_per_iteration=1\n",
                        MULTI_HDR_3);
    char *s = avg[0] ? replace(hdr, "feature_names=", avg) : hdr;
    if (s != hdr)
        free(hdr);
    free(base);
    free(trees);
    return s;
}

static void multiclass_trees_go_round_robin_to_classes(void **state)
{
    char *s = multi_model("multiclass num_class:3", "");
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    const struct axle_forest *f;
    double p[3], raw[3] = {1.5, 1, 3.25}, mx = 3.25, sum = 0;
    float x = 0;
    (void)state;
    assert_int_equal(import_str(s, &m, &err), AXLE_OK);
    f = model_forest(m);
    assert_int_equal(f->n_targets, 3);
    assert_int_equal(f->transform, AXLE_XF_SOFTMAX);
    predict_row(f, &x, p);
    for (int k = 0; k < 3; k++)
        sum += exp(raw[k] - mx);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(p[k] - exp(raw[k] - mx) / sum) < 1e-15);
    axle_ir_model_free(m);
    free(s);
}

static void multiclass_ova_is_per_class_sigmoid(void **state)
{
    char *s = multi_model("multiclassova num_class:3 sigmoid:1", "");
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    double p[3], raw[3] = {1.5, 1, 3.25};
    float x = 0;
    (void)state;
    assert_int_equal(import_str(s, &m, &err), AXLE_OK);
    predict_row(model_forest(m), &x, p);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(p[k] - 1 / (1 + exp(-raw[k]))) < 1e-15);
    axle_ir_model_free(m);
    free(s);
}

static void average_output_divides_by_iterations(void **state)
{
    /* LightGBM: sum / num_iteration (2), per class, then softmax. */
    char *s = multi_model("multiclass num_class:3", "average_output\nfeature_names=");
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    double p[3], raw[3] = {0.75, 0.5, 1.625}, mx = 1.625, sum = 0;
    float x = 0;
    (void)state;
    assert_int_equal(import_str(s, &m, &err), AXLE_OK);
    assert_int_equal(model_forest(m)->agg, AXLE_AGG_AVERAGE);
    predict_row(model_forest(m), &x, p);
    for (int k = 0; k < 3; k++)
        sum += exp(raw[k] - mx);
    for (int k = 0; k < 3; k++)
        assert_true(fabs(p[k] - exp(raw[k] - mx) / sum) < 1e-15);
    axle_ir_model_free(m);
    free(s);
}

static void crlf_line_ends_are_accepted(void **state)
{
    char *s = good_model(), *crlf = malloc(2 * strlen(s) + 1);
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    size_t n = 0;
    float x[3] = {0.6f, 0, 0};
    (void)state;
    for (const char *p = s; *p; p++) {
        if (*p == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *p;
    }
    crlf[n] = '\0';
    assert_int_equal(import_str(crlf, &m, &err), AXLE_OK);
    assert_true(predict1(model_forest(m), x) == 3);
    axle_ir_model_free(m);
    free(crlf);
    free(s);
}

/* ---- errors -------------------------------------------------------------- */

static void rejects_non_models_and_truncation(void **state)
{
    char *s = good_model();
    char *cut;
    size_t n = strlen(s);
    (void)state;
    expect_error("", "not a LightGBM text model");
    expect_error("trees\n", "not a LightGBM text model");
    expect_error("tree\nversion=v4\nnum_class=1\n", "truncated");
    /* every cut inside the trees reads as truncated, never as a model */
    cut = malloc(n + 1);
    for (size_t at = strlen("tree\n"); at + strlen("end of trees") < n &&
                                       strstr(s, "end of trees") > s + at;
         at++) {
        struct axle_ir_model *m = (struct axle_ir_model *)1;
        struct axle_err err = {0};
        memcpy(cut, s, at);
        assert_int_not_equal(axle_lightgbm_import((const uint8_t *)cut, at,
                                                  &m, &err), AXLE_OK);
        assert_null(m);
    }
    memcpy(cut, s, (size_t)(strstr(s, "Tree=0") - s) + 40);
    cut[(strstr(s, "Tree=0") - s) + 40] = '\0';
    expect_error(cut, "truncated");
    free(cut);
    free(s);
}

static void rejects_bad_header(void **state)
{
    (void)state;
    expect_error_replacing("num_class=1\n", "", "missing header line 'num_class='");
    expect_error_replacing("num_class=1\n", "num_class=0\n", "num_class 0 out of range");
    expect_error_replacing("num_class=1\n", "num_class=1x\n", "not an integer");
    expect_error_replacing("max_feature_idx=2", "max_feature_idx=-1", "out of range");
    expect_error_replacing("max_feature_idx=2", "max_feature_idx=16777216",
                           "out of range");
    expect_error_replacing("feature_names=f0 f1 f2", "feature_names=f0 f1",
                           "feature_names lists 2 features");
    expect_error_replacing("feature_infos=[-1:1] [-1:1] [-1:1]",
                           "feature_infos=[-1:1]", "feature_infos lists 1");
    expect_error_replacing("feature_names=", "feature_names=f0 f1 f2\nfeature_names=",
                           "duplicate header line 'feature_names'");
    expect_error_replacing("num_tree_per_iteration=1", "num_tree_per_iteration=2",
                           "differs from num_class");
    expect_error_replacing("feature_names=f0", "feature_names=\x01",
                           "control character");
}

static void rejects_bad_objectives(void **state)
{
    (void)state;
    expect_error_replacing("objective=regression", "objective=nosuch",
                           "unsupported objective 'nosuch'");
    expect_error_replacing("objective=regression",
                           "objective=cross_entropy_lambda",
                           "unsupported objective 'cross_entropy_lambda'");
    expect_error_replacing("objective=regression", "objective=binary",
                           "needs a sigmoid");
    expect_error_replacing("objective=regression", "objective=binary sigmoid:0",
                           "sigmoid must be a number > 0");
    expect_error_replacing("objective=regression", "objective=multiclass num_class:2",
                           "does not match num_class=1");
    expect_error_replacing("objective=regression", "objective=multiclass num_class:1",
                           "needs num_class >= 2");
}

static void rejects_bad_tree_arrays(void **state)
{
    (void)state;
    expect_error_replacing("leaf_value=1 2 3", "leaf_value=1 2",
                           "tree array length mismatch: tree 0 leaf_value has 2");
    expect_error_replacing("split_feature=0 1", "split_feature=0 1 2",
                           "tree array length mismatch: tree 0 split_feature");
    expect_error_replacing("left_child=1 -1", "left_child=1",
                           "tree array length mismatch: tree 0 left_child");
    expect_error_replacing("decision_type=2 10", "decision_type=2",
                           "tree array length mismatch: tree 0 decision_type");
    expect_error_replacing("leaf_value=1 2 3\n", "", "missing field 'leaf_value'");
    expect_error_replacing("num_leaves=3\n", "", "missing field 'num_leaves'");
    expect_error_replacing("threshold=0.5 -0.25\n", "", "missing field 'threshold'");
    expect_error_replacing("num_leaves=3", "num_leaves=0", "num_leaves 0 out of range");
    expect_error_replacing("num_leaves=3", "num_leaves=131073",
                           "num_leaves 131073 out of range");
    expect_error_replacing("num_cat=0", "num_cat=3", "num_cat 3 out of range");
    expect_error_replacing("leaf_value=1 2 3", "leaf_value=1 nan 3",
                           "leaf_value[1] 'nan' is not a finite number");
    expect_error_replacing("leaf_value=1 2 3", "leaf_value=1 1e400 3",
                           "is not a finite number");
    expect_error_replacing("leaf_value=1 2 3", "leaf_value=1 0x10 3",
                           "is not a finite number");
    expect_error_replacing("threshold=0.5 -0.25", "threshold=0.5 nan",
                           "threshold[1] 'nan'");
    expect_error_replacing("leaf_value=1 2 3", "leaf_value=1 2 3\nleaf_value=1 2 3",
                           "duplicate field 'leaf_value'");
    expect_error_replacing("shrinkage=1\n", "shrinkage\n", "is not key=value");
    expect_error_replacing("decision_type=2 10", "decision_type=2 12",
                           "missing type 3");
    expect_error_replacing("decision_type=2 10", "decision_type=2 16",
                           "unsupported decision_type");
}

static void rejects_feature_out_of_range(void **state)
{
    (void)state;
    expect_error_replacing("split_feature=0 1", "split_feature=0 3",
                           "split feature out of range: tree 0 split_feature[1] is 3");
    expect_error_replacing("split_feature=0 1", "split_feature=-1 1",
                           "split feature out of range");
}

static void rejects_bad_structure(void **state)
{
    (void)state;
    /* out of range */
    expect_error_replacing("left_child=1 -1", "left_child=2 -1",
                           "invalid tree structure: tree 0 node 0: left_child 2 out of range");
    expect_error_replacing("right_child=-3 -2", "right_child=-4 -2",
                           "invalid tree structure: tree 0 node 0: right_child -4 names leaf 3");
    expect_error_replacing("left_child=1 -1", "left_child=1 -2147483648",
                           "invalid tree structure");
    /* back to the root */
    expect_error_replacing("left_child=1 -1", "left_child=1 0",
                           "points back to the root (cycle)");
    /* two parents */
    expect_error_replacing("right_child=-3 -2", "right_child=-1 -2",
                           "already has a parent");
    /* node 1 its own child: a cycle cut off from the root */
    expect_error_replacing("left_child=1 -1\nright_child=-3 -2",
                           "left_child=-1 1\nright_child=-2 -3",
                           "not reachable from the root (cycle)");
}

static void rejects_bad_categorical_sets(void **state)
{
    const char *tree =
        "Tree=0\nnum_leaves=2\nnum_cat=1\nsplit_feature=0\n"
        "threshold=0\ndecision_type=9\nleft_child=-1\nright_child=-2\n"
        "leaf_value=10 20\ncat_boundaries=0 2\ncat_threshold=5 2\n"
        "shrinkage=1\n\n\n";
    char *s = model_text(1, "regression", "", tree);
    char *b;
    (void)state;
#define BAD(from, to, needle)            \
    do {                                 \
        b = replace(s, from, to);        \
        expect_error(b, needle);         \
        free(b);                         \
    } while (0)
    BAD("threshold=0", "threshold=1", "not a category-set index (num_cat=1)");
    BAD("threshold=0", "threshold=0.5", "not a category-set index");
    /* fuzz finding: inf cast to an integer before the range check */
    BAD("threshold=0", "threshold=inf", "not a category-set index");
    BAD("threshold=0", "threshold=-1e300", "not a category-set index");
    BAD("cat_threshold=5 2", "cat_threshold=5", "cat_threshold has 1 values, expected 2");
    BAD("cat_boundaries=0 2", "cat_boundaries=1 2", "starts at 1");
    BAD("cat_boundaries=0 2", "cat_boundaries=0", "cat_boundaries has 1 values");
    BAD("cat_boundaries=0 2", "cat_boundaries=0 99999999",
        "invalid category sets");
    BAD("cat_threshold=5 2", "cat_threshold=5 4294967296", "not a 32-bit word");
    BAD("cat_boundaries=0 2\n", "", "missing field 'cat_boundaries'");
#undef BAD
    free(s);
}

static void rejects_bad_linear_leaves(void **state)
{
    const char *tree =
        "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\n"
        "threshold=0\ndecision_type=2\nleft_child=-1\nright_child=-2\n"
        "leaf_value=7 9\nis_linear=1\nleaf_const=1 5\nnum_features=2 0\n"
        "leaf_features=1 2\nleaf_coeff=2 -3\nshrinkage=1\n\n\n";
    char *s = model_text(3, "regression", "", tree);
    char *b;
    (void)state;
    b = replace(s, "leaf_features=1 2", "leaf_features=1 3");
    expect_error(b, "linear feature out of range");
    free(b);
    b = replace(s, "leaf_coeff=2 -3", "leaf_coeff=2");
    expect_error(b, "leaf_coeff has 1 values, expected 2");
    free(b);
    b = replace(s, "num_features=2 0", "num_features=4 0");
    expect_error(b, "invalid linear leaf");
    free(b);
    b = replace(s, "is_linear=1", "is_linear=2");
    expect_error(b, "is_linear 2 out of range");
    free(b);
    b = replace(s, "leaf_features=1 2\n", "");
    expect_error(b, "missing field 'leaf_features'");
    free(b);
    free(s);
}

static void rejects_bad_tree_sequence(void **state)
{
    char *trees = six_trees();
    char *s = model_text(1, "", "", trees);
    char *b;
    (void)state;
    /* six trees, num_class 1: fine */
    b = replace(s, "Tree=1", "Tree=7");
    expect_error(b, "expected 'Tree=1'");
    free(b);
    b = replace(s, "num_class=1\nnum_tree_per_iteration=1",
                "num_class=4\nnum_tree_per_iteration=4");
    expect_error(b, "6 trees is not a whole number of iterations");
    free(b);
    b = replace(s, "end of trees", "end of forest");
    expect_error(b, "expected 'Tree=6' or 'end of trees'");
    free(b);
    b = replace(s, "Tree=0", "Tree=0\nnum_leaves=1\nnum_cat=0\nleaf_value=1\n\nTree=0");
    expect_error(b, "expected 'Tree=1'");
    free(b);
    free(s);
    free(trees);
    s = model_text(1, "", "", "");
    expect_error(s, "no trees");
    free(s);
}

static void tree_sizes_must_match_the_blocks(void **state)
{
    char *trees = six_trees();
    char *base = model_text(1, "", "", trees);
    char hdr[128], *s, *b;
    size_t sz[6];
    const char *p = strstr(base, "Tree=0");
    (void)state;
    for (int i = 0; i < 6; i++) {
        const char *q = strstr(p + 1, i < 5 ? "Tree=" : "end of trees");
        sz[i] = (size_t)(q - p);
        p = q;
    }
    snprintf(hdr, sizeof(hdr), "tree_sizes=%zu %zu %zu %zu %zu %zu\n\nTree=0",
             sz[0], sz[1], sz[2], sz[3], sz[4], sz[5]);
    s = replace(base, "\nTree=0", hdr);
    {
        struct axle_ir_model *m = NULL;
        struct axle_err err = {0};
        assert_int_equal(import_str(s, &m, &err), AXLE_OK);
        axle_ir_model_free(m);
    }
    b = replace(s, "tree_sizes=", "tree_sizes=1");
    expect_error(b, "tree_sizes does not match the text: tree 0");
    free(b);
    snprintf(hdr, sizeof(hdr), " %zu\n", sz[5]);
    b = replace(s, hdr, "\n");
    expect_error(b, "tree_sizes does not match the text: tree 5");
    free(b);
    b = replace(s, "tree_sizes=", "tree_sizes=x");
    expect_error(b, "is not a byte count");
    free(b);
    free(s);
    free(base);
    free(trees);
}

static void rejects_nul_bytes(void **state)
{
    char *s = good_model();
    size_t n = strlen(s);
    struct axle_ir_model *m = (struct axle_ir_model *)1;
    struct axle_err err = {0};
    (void)state;
    s[strstr(s, "leaf_value") - s + 3] = '\0';
    assert_int_equal(axle_lightgbm_import((const uint8_t *)s, n, &m, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "NUL byte"));
    assert_null(m);
    free(s);
}

static void allocation_failures_are_errors_not_crashes(void **state)
{
    char *trees = six_trees();
    char *s = multi_model("multiclass num_class:3", "");
    (void)state;
    for (uint64_t n = 1; n < 200; n++) {
        struct axle_ir_model *m = NULL;
        struct axle_err err = {0};
        enum axle_status st;
        axle_alloc_fail_after(n);
        st = import_str(s, &m, &err);
        axle_alloc_fail_after(0);
        if (st == AXLE_OK) {
            axle_ir_model_free(m);
            break;
        }
        assert_null(m);
    }
    free(s);
    free(trees);
}

/* ---- agreement with LightGBM on the fixtures ----------------------------- */

struct npy {
    char dtype; /* 'f' or 'i' */
    int size;   /* bytes per element */
    int rank;
    int64_t dims[2];
    void *data;
};

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;
    if (fp == NULL)
        return NULL;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, fp) != (size_t)n)
        n = 0;
    fclose(fp);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* NumPy .npy v1/v2, little-endian <f4/<f8/<i8, C order, rank 1 or 2. */
static bool npy_load(const char *path, struct npy *a)
{
    size_t len, hlen, off, count = 1;
    char *buf = read_file(path, &len), *h, *d, *sh;
    if (buf == NULL || len < 12 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return false;
    if (buf[6] == 1) {
        hlen = (unsigned char)buf[8] | (unsigned char)buf[9] << 8;
        off = 10;
    } else {
        hlen = (unsigned char)buf[8] | (unsigned char)buf[9] << 8 |
               (size_t)(unsigned char)buf[10] << 16;
        off = 12;
    }
    h = buf + off;
    d = strstr(h, "'descr': '");
    sh = strstr(h, "'shape': (");
    if (d == NULL || sh == NULL || strstr(h, "'fortran_order': False") == NULL)
        return false;
    d += 10;
    if (d[0] != '<' || (d[1] != 'f' && d[1] != 'i'))
        return false;
    a->dtype = d[1];
    a->size = d[2] - '0';
    sh += 10;
    a->rank = 0;
    while (*sh != ')' && a->rank < 2) {
        a->dims[a->rank] = strtoll(sh, &sh, 10);
        count *= (size_t)a->dims[a->rank++];
        while (*sh == ',' || *sh == ' ')
            sh++;
    }
    a->data = malloc(count * (size_t)a->size + 1);
    memcpy(a->data, buf + off + hlen, count * (size_t)a->size);
    free(buf);
    return true;
}

static double npy_get(const struct npy *a, size_t i)
{
    if (a->dtype == 'f')
        return a->size == 4 ? ((float *)a->data)[i] : ((double *)a->data)[i];
    return (double)((int64_t *)a->data)[i];
}

static const char *source_root(void)
{
    static char root[4096];
    const char *env = getenv("AXLE_SOURCE_DIR");
    const char *tail = "tests/unit/test_lightgbm_import.c";
    size_t n;
    if (env != NULL)
        return env;
    n = strlen(__FILE__);
    if (n >= strlen(tail) && n - strlen(tail) < sizeof(root)) {
        memcpy(root, __FILE__, n - strlen(tail));
        root[n - strlen(tail)] = '\0';
    }
    if (root[0] == '\0')
        strcpy(root, "./");
    return root;
}

/* out = a + b, or the test fails (no silent truncation). */
static void join(char *out, size_t cap, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na + nb + 1 > cap)
        fail_msg("path too long: %s%s", a, b);
    memcpy(out, a, na);
    memcpy(out + na, b, nb + 1);
}

/* Checks one output of one fixture; returns its max relative error. */
static double compare(const char *dir, const char *name, const double *got,
                      int64_t rows, int64_t cols)
{
    char path[4400], file[128];
    struct npy want;
    double worst = 0;
    snprintf(file, sizeof(file), "/expected_%.64s.npy", name);
    join(path, sizeof(path), dir, file);
    if (!npy_load(path, &want))
        fail_msg("%s: cannot read", path);
    if (want.dims[0] != rows || (want.rank == 2 ? want.dims[1] : 1) != cols)
        fail_msg("%s: shape mismatch", path);
    for (int64_t i = 0; i < rows * cols; i++) {
        double w = npy_get(&want, (size_t)i), g = got[i];
        double e = (g == w || (isnan(g) && isnan(w)))
                       ? 0 : fabs(g - w) / fmax(fabs(w), 1.0);
        if (!(e <= 1e-9))
            fail_msg("%s: element %lld (row %lld): axle %.17g, LightGBM %.17g",
                     path, (long long)i, (long long)(i / cols), g, w);
        if (e > worst)
            worst = e;
    }
    free(want.data);
    return worst;
}

static void check_fixture(const char *dir)
{
    char path[4400];
    size_t len;
    char *text;
    struct npy x;
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    const struct axle_forest *f;
    int64_t rows, T, C;
    double *s, *out, *lab;
    void *work;

    join(path, sizeof(path), dir, "/model.txt");
    text = read_file(path, &len);
    assert_non_null(text);
    if (axle_lightgbm_import((const uint8_t *)text, len, &m, &err) != AXLE_OK)
        fail_msg("%s: %s", path, err.msg);
    f = model_forest(m);
    join(path, sizeof(path), dir, "/input.npy");
    if (!npy_load(path, &x) || x.dtype != 'f' || x.size != 4 || x.rank != 2 ||
        x.dims[1] != f->n_features)
        fail_msg("%s: bad input", path);
    rows = x.dims[0];
    T = f->n_targets;
    C = (f->output == AXLE_FOREST_CLASSIFY && T == 1) ? 2 : T;
    s = malloc((size_t)(rows * T) * sizeof(double));
    out = malloc((size_t)(rows * C) * sizeof(double));
    lab = malloc((size_t)rows * sizeof(double));
    work = axle_try_aligned(axle_forest_work_bytes(f, rows) + 64);
    axle_forest_scores(f, x.data, rows, f->n_features, s, work, NULL);
    for (int64_t r = 0; r < rows; r++) {
        double *sr = s + r * T;
        axle_forest_transform_row(f, sr);
        if (C == 2 && T == 1) {
            out[r * 2] = 1 - sr[0];
            out[r * 2 + 1] = sr[0];
            lab[r] = sr[0] > 0.5;
        } else {
            int best = 0;
            for (int64_t t = 0; t < T; t++) {
                out[r * C + t] = sr[t];
                if (sr[t] > sr[best])
                    best = (int)t;
            }
            lab[r] = best;
        }
    }
    if (f->output == AXLE_FOREST_CLASSIFY) {
        compare(dir, "probabilities", out, rows, C);
        compare(dir, "label", lab, rows, 1);
    } else {
        compare(dir, "predictions", out, rows, C);
    }
    axle_free(work);
    free(s);
    free(out);
    free(lab);
    free(x.data);
    free(text);
    axle_ir_model_free(m);
}

static void fixtures_match_lightgbm_predictions(void **state)
{
    char dir[4200];
    DIR *d;
    struct dirent *e;
    int n = 0;
    (void)state;
    join(dir, sizeof(dir), source_root(), "/tests/fixtures/trees/lightgbm");
    d = opendir(dir);
    if (d == NULL)
        fail_msg("no fixtures at %s (set AXLE_SOURCE_DIR)", dir);
    while ((e = readdir(d)) != NULL) {
        char sub[4400], name[300];
        if (e->d_name[0] == '.')
            continue;
        join(name, sizeof(name), "/", e->d_name);
        join(sub, sizeof(sub), dir, name);
        check_fixture(sub);
        n++;
    }
    closedir(d);
    /* a test that cannot fail is a defect: the fixtures must be there */
    assert_true(n >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sniff_accepts_tree_line_only),
        cmocka_unit_test(numerical_missing_types_follow_lightgbm),
        cmocka_unit_test(threshold_is_compared_in_double),
        cmocka_unit_test(tiny_inputs_are_read_as_zero),
        cmocka_unit_test(infinite_threshold_sends_all_values_left),
        cmocka_unit_test(categorical_set_goes_left_nan_and_negative_right),
        cmocka_unit_test(linear_leaves_fall_back_to_leaf_value_on_nan),
        cmocka_unit_test(one_leaf_tree_and_objective_transforms),
        cmocka_unit_test(binary_is_a_classifier_with_sigmoid_scale),
        cmocka_unit_test(multiclass_trees_go_round_robin_to_classes),
        cmocka_unit_test(multiclass_ova_is_per_class_sigmoid),
        cmocka_unit_test(average_output_divides_by_iterations),
        cmocka_unit_test(crlf_line_ends_are_accepted),
        cmocka_unit_test(rejects_non_models_and_truncation),
        cmocka_unit_test(rejects_bad_header),
        cmocka_unit_test(rejects_bad_objectives),
        cmocka_unit_test(rejects_bad_tree_arrays),
        cmocka_unit_test(rejects_feature_out_of_range),
        cmocka_unit_test(rejects_bad_structure),
        cmocka_unit_test(rejects_bad_categorical_sets),
        cmocka_unit_test(rejects_bad_linear_leaves),
        cmocka_unit_test(rejects_bad_tree_sequence),
        cmocka_unit_test(tree_sizes_must_match_the_blocks),
        cmocka_unit_test(rejects_nul_bytes),
        cmocka_unit_test(allocation_failures_are_errors_not_crashes),
        cmocka_unit_test(fixtures_match_lightgbm_predictions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
