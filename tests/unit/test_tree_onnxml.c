/*
 * test_tree_onnxml.c - the ai.onnx.ml tree operators (kernels/tree_onnxml*.c)
 * through the public API, on the committed fixtures
 * (tests/fixtures/trees/onnxml, tools/gen_tree_fixtures_onnxml.py): runs at
 * or below the reserved batch allocate nothing, results do not depend on
 * the thread count, bad attribute sets are refused at load with a message
 * naming the problem, a split past the input width is refused at run time.
 * Agreement with ONNX Runtime is tests/e2e/test_trees_onnxml.py.
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

#include "axle/axle.h"
#include "base/alloc.h"
#include "ir/tensor.h"

static const char *source_root(void)
{
    static char root[4096];
    const char *env = getenv("AXLE_SOURCE_DIR");
    const char *tail = "tests/unit/test_tree_onnxml.c";
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

static struct axle_model *load_case(const char *dir, struct axle_err *err,
                                    enum axle_status *st)
{
    char path[4608];
    struct axle_model *m = NULL;
    snprintf(path, sizeof(path), "%s/tests/fixtures/trees/onnxml/%s/model.onnx",
             source_root(), dir);
    *st = axle_model_load_file(path, NULL, &m, err);
    return m;
}

static struct axle_model *must_load(const char *dir)
{
    struct axle_err err = {0};
    enum axle_status st;
    struct axle_model *m = load_case(dir, &err, &st);
    if (st != AXLE_OK)
        fail_msg("%s: %s (set AXLE_SOURCE_DIR?)", dir, err.msg);
    return m;
}

/* n rows of the model's input: a fixed pseudo-random mix of values around
 * the thresholds, with NaNs for floating types. Caller frees data. */
static void make_input(const struct axle_model *m, int64_t n, int64_t width,
                       struct axle_tensor *t)
{
    struct axle_io_info io;
    uint64_t s = 0x9e3779b97f4a7c15u;
    int64_t f;

    assert_int_equal(axle_model_input(m, 0, &io), AXLE_OK);
    f = width > 0 ? width : io.dims[1];
    memset(t, 0, sizeof(*t));
    t->dtype = io.dtype;
    t->rank = 2;
    t->dims[0] = n;
    t->dims[1] = f;
    t->data = calloc((size_t)(n * f), 8);
    for (int64_t i = 0; i < n * f; i++) {
        double v;
        s = s * 6364136223846793005u + 1442695040888963407u;
        v = ((double)(s >> 11) / 9007199254740992.0 - 0.5) * 6.0;
        if ((s >> 7) % 11 == 0)
            v = NAN;
        switch (t->dtype) {
        case AXLE_DTYPE_FLOAT32: ((float *)t->data)[i] = (float)v; break;
        case AXLE_DTYPE_FLOAT64: ((double *)t->data)[i] = v; break;
        case AXLE_DTYPE_INT64:
            ((int64_t *)t->data)[i] = isnan(v) ? 0 : (int64_t)lrint(v);
            break;
        case AXLE_DTYPE_INT32:
            ((int32_t *)t->data)[i] = isnan(v) ? 0 : (int32_t)lrint(v);
            break;
        default:
            fail_msg("unexpected input dtype %d", t->dtype);
        }
    }
}

static const char *const STEADY[] = {
    "sk_rf_clf3",         /* multi-target leaves: general layout */
    "sk_gb_reg",          /* one target per tree: perfect layout */
    "lgb_clf3",           /* with Cast / Mul around the classifier */
    "edge_int64",         /* converted to float in scratch */
    "te5_single_tree",    /* double in, double out */
    "reg_presence_average_softmax", /* hidden presence columns */
    "te5_member_track2",  /* BRANCH_MEMBER chains */
};

static void steady_state_runs_do_not_allocate(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(STEADY) / sizeof(STEADY[0]); c++) {
        struct axle_model *m = must_load(STEADY[c]);
        struct axle_session *s = NULL;
        struct axle_session_opts so = {.n_threads = 2, .max_batch = 300};
        struct axle_err err = {0};
        struct axle_tensor in, out[4];
        int n_out = axle_model_n_outputs(m);
        uint64_t before;

        assert_true(n_out <= 4);
        make_input(m, 300, 0, &in);
        assert_int_equal(axle_session_new(m, &so, &s, &err), AXLE_OK);
        assert_int_equal(axle_session_run(s, 1, &in, n_out, out, &err),
                         AXLE_OK);
        before = axle_alloc_count();
        for (int i = 0; i < 12; i++) {
            in.dims[0] = 1 + (i * 37) % 300;
            if (axle_session_run(s, 1, &in, n_out, out, &err) != AXLE_OK)
                fail_msg("%s: %s", STEADY[c], err.msg);
        }
        if (axle_alloc_count() != before)
            fail_msg("%s: %llu allocations in steady state", STEADY[c],
                     (unsigned long long)(axle_alloc_count() - before));
        free(in.data);
        axle_session_free(s);
        axle_model_unref(m);
    }
}

/* The forest spreads big batches over the pool; every row's result is the
 * same as on one thread. */
static void results_do_not_depend_on_threads(void **state)
{
    static const char *const cases[] = {"sk_rf_clf3", "xgb_clf3",
                                        "sk_et_reg", "sk_dt_clf_str"};
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct axle_model *m = must_load(cases[c]);
        struct axle_tensor in, out[2][4];
        void *keep[4] = {0};
        int n_out = axle_model_n_outputs(m);
        make_input(m, 5000, 0, &in);
        for (int t = 0; t < 2; t++) {
            struct axle_session *s = NULL;
            struct axle_session_opts so = {.n_threads = t ? 4 : 1,
                                           .max_batch = 5000};
            struct axle_err err = {0};
            assert_int_equal(axle_session_new(m, &so, &s, &err), AXLE_OK);
            assert_int_equal(axle_session_run(s, 1, &in, n_out, out[t], &err),
                             AXLE_OK);
            for (int j = 0; j < n_out; j++) {
                int64_t n = axle_tensor_numel(&out[t][j]);
                if (out[t][j].dtype == AXLE_DTYPE_STRING) {
                    char **src = out[t][j].data;
                    if (t == 0) {
                        char **d = calloc((size_t)n, sizeof(char *));
                        for (int64_t i = 0; i < n; i++)
                            d[i] = strdup(src[i]);
                        keep[j] = d;
                    } else {
                        for (int64_t i = 0; i < n; i++) {
                            assert_string_equal(src[i], ((char **)keep[j])[i]);
                            free(((char **)keep[j])[i]);
                        }
                    }
                    continue;
                }
                size_t nb = (size_t)axle_tensor_nbytes(&out[t][j]);
                if (t == 0) {
                    keep[j] = malloc(nb);
                    memcpy(keep[j], out[t][j].data, nb);
                } else if (memcmp(keep[j], out[t][j].data, nb) != 0) {
                    fail_msg("%s: output %d differs between 1 and 4 threads",
                             cases[c], j);
                }
            }
            axle_session_free(s);
        }
        for (int j = 0; j < n_out; j++)
            free(keep[j]);
        free(in.data);
        axle_model_unref(m);
    }
}

static void string_labels_are_the_class_names(void **state)
{
    struct axle_model *m = must_load("sk_dt_clf_str");
    struct axle_session *s = NULL;
    struct axle_err err = {0};
    struct axle_tensor in, out[2];
    (void)state;

    make_input(m, 64, 0, &in);
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    for (int rep = 0; rep < 3; rep++) { /* reruns free the old labels */
        assert_int_equal(axle_session_run(s, 1, &in, 2, out, &err), AXLE_OK);
        assert_int_equal(out[0].dtype, AXLE_DTYPE_STRING);
        assert_int_equal(out[0].dims[0], 64);
        for (int i = 0; i < 64; i++) {
            const char *l = ((char **)out[0].data)[i];
            assert_true(strcmp(l, "alpha") == 0 || strcmp(l, "beta") == 0 ||
                        strcmp(l, "gamma") == 0);
        }
    }
    free(in.data);
    axle_session_free(s);
    axle_model_unref(m);
}

static void bad_attributes_are_refused_at_load(void **state)
{
    static const struct {
        const char *dir, *msg;
    } cases[] = {
        {"bad/missing_child", "true child 7 is not a node of tree 0"},
        {"bad/cycle", "cycle"},
        {"bad/target_out_of_range", "target_ids[1] = 3 is out of range"},
        {"bad/weight_on_missing_node", "names tree 0 node 9, which does not"},
        {"bad/duplicate_node", "tree 0 node 1 is defined twice"},
        {"bad/unknown_mode", "unknown mode 'BRANCH_WHAT'"},
        {"bad/length_mismatch", "disagree in length"},
    };
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct axle_err err = {0};
        enum axle_status st;
        struct axle_model *m = load_case(cases[c].dir, &err, &st);
        assert_null(m);
        if (st != AXLE_INVALID_ARGUMENT || strstr(err.msg, cases[c].msg) == NULL)
            fail_msg("%s: status %d, message '%s', wanted '%s'", cases[c].dir,
                     st, err.msg, cases[c].msg);
        /* the message names the operator */
        assert_non_null(strstr(err.msg, "TreeEnsembleRegressor"));
    }
}

static void split_past_input_width_is_refused_at_run(void **state)
{
    struct axle_model *m = must_load("bad/feature_beyond_input");
    struct axle_session *s = NULL;
    struct axle_err err = {0};
    struct axle_tensor in, out[1];
    (void)state;

    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    make_input(m, 3, 2, &in);
    assert_int_equal(axle_session_run(s, 1, &in, 1, out, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "reads feature 4 but the input has 2"));
    free(in.data);
    /* wide enough: runs */
    make_input(m, 3, 5, &in);
    assert_int_equal(axle_session_run(s, 1, &in, 1, out, &err), AXLE_OK);
    assert_int_equal(out[0].dims[0], 3);
    assert_int_equal(out[0].dims[1], 1);
    free(in.data);
    axle_session_free(s);
    axle_model_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(steady_state_runs_do_not_allocate),
        cmocka_unit_test(results_do_not_depend_on_threads),
        cmocka_unit_test(string_labels_are_the_class_names),
        cmocka_unit_test(bad_attributes_are_refused_at_load),
        cmocka_unit_test(split_past_input_width_is_refused_at_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
