/*
 * test_reduce_loss_ops.c - the later reductions, normalizations, pools,
 * losses and Det called directly through struct axle_op: bad input is an
 * AXLE_INVALID_ARGUMENT naming the op (targets outside [0, C), non-square
 * matrices, axes out of range, missing or bad attributes), edge values
 * (LogSumExp with inf/NaN/empty, all-ignored mean loss, empty matrices,
 * wrapping integer CumSum, NaN in Hardmax) and load-time shapes. Numeric
 * agreement on ordinary inputs is checked by the conformance cases and
 * tests/e2e/test_reduce_ops_vs_onnxruntime.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_fixture.h"

extern const struct axle_op axle_op_negative_log_likelihood_loss,
    axle_op_softmax_cross_entropy_loss, axle_op_det, axle_op_cum_sum,
    axle_op_lrn, axle_op_lp_pool, axle_op_global_lp_pool,
    axle_op_lp_normalization, axle_op_mean_variance_normalization,
    axle_op_reduce_log_sum_exp, axle_op_reduce_l1, axle_op_hardmax;

/* ---- losses ---------------------------------------------------------- */

static void nll_rejects_target_outside_classes(void **st)
{
    float x[2 * 3 * 64];
    int64_t t[2 * 64];
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, I64(2, 3, 64), x);
    struct axle_tensor tt = tens(AXLE_DTYPE_INT64, 2, I64(2, 64), t), ty;
    const struct axle_tensor *in[] = {&tx, &tt};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    (void)st;
    for (int i = 0; i < 2 * 3 * 64; i++)
        x[i] = (float)i;
    for (int threads = 1; threads <= 4; threads += 3) {
        for (int i = 0; i < 2 * 64; i++)
            t[i] = i % 3;
        t[100] = 3; /* == C */
        fx_init(&f, "NegativeLogLikelihoodLoss", 13, threads);
        attr_str(&f, "reduction", "sum");
        assert_int_equal(call(&f, &axle_op_negative_log_likelihood_loss, 2,
                              in, 1, out),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(f.err.msg, "NegativeLogLikelihoodLoss"));
        assert_non_null(strstr(f.err.msg, "outside"));
        free_out(&ty);
        /* a negative target is just as bad unless it is ignore_index */
        t[100] = -1;
        assert_int_equal(call(&f, &axle_op_negative_log_likelihood_loss, 2,
                              in, 1, out),
                         AXLE_INVALID_ARGUMENT);
        free_out(&ty);
        attr_int(&f, "ignore_index", -1);
        assert_int_equal(call(&f, &axle_op_negative_log_likelihood_loss, 2,
                              in, 1, out),
                         AXLE_OK);
        free_out(&ty);
        fx_dispose(&f);
    }
}

static void nll_mean_of_all_ignored_is_nan_and_bad_attrs_fail(void **st)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t t[2] = {7, 7};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 3), x);
    struct axle_tensor tt = tens(AXLE_DTYPE_INT64, 1, I64(2), t), ty;
    const struct axle_tensor *in[] = {&tx, &tt};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    (void)st;
    fx_init(&f, "NegativeLogLikelihoodLoss", 13, 1);
    attr_int(&f, "ignore_index", 7);
    assert_int_equal(call(&f, &axle_op_negative_log_likelihood_loss, 2, in,
                          1, out),
                     AXLE_OK);
    assert_int_equal(ty.rank, 0);
    assert_true(isnan(((float *)ty.data)[0]));
    free_out(&ty);
    fx_dispose(&f);

    fx_init(&f, "NegativeLogLikelihoodLoss", 13, 1);
    attr_str(&f, "reduction", "avg");
    assert_int_equal(infer(&f, &axle_op_negative_log_likelihood_loss, 2, in,
                           1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* target shape must be input's without dim 1 */
    struct axle_tensor tb = tens(AXLE_DTYPE_INT64, 1, I64(3), t);
    const struct axle_tensor *in2[] = {&tx, &tb};
    fx_init(&f, "NegativeLogLikelihoodLoss", 13, 1);
    assert_int_equal(infer(&f, &axle_op_negative_log_likelihood_loss, 2, in2,
                           1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* weight must be [C] */
    float wv[2] = {1, 1};
    struct axle_tensor tw = tens(AXLE_DTYPE_FLOAT32, 1, I64(2), wv);
    const struct axle_tensor *in3[] = {&tx, &tt, &tw};
    fx_init(&f, "NegativeLogLikelihoodLoss", 13, 1);
    assert_int_equal(infer(&f, &axle_op_negative_log_likelihood_loss, 3, in3,
                           1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* float targets are refused */
    struct axle_tensor tf = tens(AXLE_DTYPE_FLOAT32, 1, I64(2), x);
    const struct axle_tensor *in4[] = {&tx, &tf};
    fx_init(&f, "NegativeLogLikelihoodLoss", 13, 1);
    assert_int_equal(infer(&f, &axle_op_negative_log_likelihood_loss, 2, in4,
                           1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void sce_log_prob_alone_and_symbolic_shapes(void **st)
{
    float x[6] = {1, 2, 3, 1000, 1000, 1000};
    int64_t t[2] = {2, 0};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 3), x);
    struct axle_tensor tt = tens(AXLE_DTYPE_INT64, 1, I64(2), t), tl, tp;
    const struct axle_tensor *in[] = {&tx, &tt};
    struct axle_tensor *out[] = {NULL, &tp};
    struct fx f;

    (void)st;
    fx_init(&f, "SoftmaxCrossEntropyLoss", 13, 1);
    assert_int_equal(call(&f, &axle_op_softmax_cross_entropy_loss, 2, in, 2,
                          out),
                     AXLE_OK);
    const float *lp = tp.data;
    double lse = 3 + log(1 + exp(-1.0) + exp(-2.0));
    near(lp[0], 1 - lse, 1e-6);
    near(lp[2], 3 - lse, 1e-6);
    /* 1000s do not overflow: log(1/3) each */
    near(lp[3], -log(3.0), 1e-6);
    free_out(&tp);
    fx_dispose(&f);

    /* reduction none at load: the loss takes the target's symbolic shape */
    int64_t sym = axle_dim_sym(0);
    struct axle_tensor sx = tens(AXLE_DTYPE_FLOAT32, 3, I64(sym, 4, 7), NULL);
    struct axle_tensor stt = tens(AXLE_DTYPE_INT64, 2, I64(sym, 7), NULL);
    const struct axle_tensor *sin[] = {&sx, &stt};
    struct axle_tensor *sout[] = {&tl, &tp};
    fx_init(&f, "SoftmaxCrossEntropyLoss", 13, 1);
    attr_str(&f, "reduction", "none");
    assert_int_equal(infer(&f, &axle_op_softmax_cross_entropy_loss, 2, sin, 2,
                           sout),
                     AXLE_OK);
    assert_int_equal(tl.rank, 2);
    assert_true(tl.dims[0] == sym);
    assert_int_equal(tl.dims[1], 7);
    assert_int_equal(tp.rank, 3);
    fx_dispose(&f);
}

/* ---- Det --------------------------------------------------------------- */

static void det_edges_and_errors(void **st)
{
    double a[2 * 9] = {0, 1, 0, 0, 0, 1, 1, 0, 0, /* cyclic shift: +1 */
                       2, 0, 0, 0, 3, 0, 0, 0, 0}; /* singular */
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT64, 3, I64(2, 3, 3), a), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    (void)st;
    fx_init(&f, "Det", 11, 1);
    assert_int_equal(call(&f, &axle_op_det, 1, in, 1, out), AXLE_OK);
    assert_int_equal(ty.rank, 1);
    assert_true(((double *)ty.data)[0] == 1.0);
    assert_true(((double *)ty.data)[1] == 0.0);
    free_out(&ty);

    /* 0x0 matrices have determinant 1 */
    struct axle_tensor te = tens(AXLE_DTYPE_FLOAT32, 3, I64(2, 0, 0), a);
    const struct axle_tensor *ine[] = {&te};
    assert_int_equal(call(&f, &axle_op_det, 1, ine, 1, out), AXLE_OK);
    assert_true(((float *)ty.data)[0] == 1.0f);
    assert_true(((float *)ty.data)[1] == 1.0f);
    free_out(&ty);

    struct axle_tensor tn = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 3), a);
    const struct axle_tensor *inn[] = {&tn};
    assert_int_equal(infer(&f, &axle_op_det, 1, inn, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "square"));
    struct axle_tensor t1 = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), a);
    const struct axle_tensor *in1[] = {&t1};
    assert_int_equal(infer(&f, &axle_op_det, 1, in1, 1, out),
                     AXLE_INVALID_ARGUMENT);
    struct axle_tensor ti = tens(AXLE_DTYPE_INT32, 2, I64(2, 2), a);
    const struct axle_tensor *ini[] = {&ti};
    assert_int_equal(infer(&f, &axle_op_det, 1, ini, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void det_batched_threads_match_cofactor(void **st)
{
    enum { B = 64 };
    float *x = rnd(B * 9, 7, 2.0f);
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, I64(B, 3, 3), x), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    (void)st;
    fx_init(&f, "Det", 11, 4);
    assert_int_equal(call(&f, &axle_op_det, 1, in, 1, out), AXLE_OK);
    for (int b = 0; b < B; b++) {
        const float *m = x + 9 * b;
        double want = (double)m[0] * (m[4] * m[8] - m[5] * m[7]) -
                      (double)m[1] * (m[3] * m[8] - m[5] * m[6]) +
                      (double)m[2] * (m[3] * m[7] - m[4] * m[6]);
        near(((float *)ty.data)[b], want, 1e-4);
    }
    free_out(&ty);
    fx_dispose(&f);
    free(x);
}

/* ---- CumSum ------------------------------------------------------------ */

static void cumsum_axis_checks_and_int_wrap(void **st)
{
    int32_t x[3] = {INT32_MAX, 1, 1};
    int64_t ax0 = 0, ax_bad = 1, two[2] = {0, 0};
    struct axle_tensor tx = tens(AXLE_DTYPE_INT32, 1, I64(3), x), ty;
    struct axle_tensor ta = tens(AXLE_DTYPE_INT64, 0, NULL, &ax0);
    const struct axle_tensor *in[] = {&tx, &ta};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    (void)st;
    fx_init(&f, "CumSum", 14, 1);
    assert_int_equal(call(&f, &axle_op_cum_sum, 2, in, 1, out), AXLE_OK);
    assert_int_equal(((int32_t *)ty.data)[0], INT32_MAX);
    assert_int_equal(((int32_t *)ty.data)[1], INT32_MIN);
    assert_int_equal(((int32_t *)ty.data)[2], INT32_MIN + 1);
    free_out(&ty);

    ta = tens(AXLE_DTYPE_INT64, 0, NULL, &ax_bad);
    assert_int_equal(infer(&f, &axle_op_cum_sum, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "out of range"));
    ta = tens(AXLE_DTYPE_INT64, 1, I64(2), two);
    assert_int_equal(infer(&f, &axle_op_cum_sum, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    ta = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &ax0);
    assert_int_equal(infer(&f, &axle_op_cum_sum, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    /* axis not known at load: the shape still is */
    ta = tens(AXLE_DTYPE_INT64, 0, NULL, NULL);
    assert_int_equal(infer(&f, &axle_op_cum_sum, 2, in, 1, out), AXLE_OK);
    assert_int_equal(ty.rank, 1);
    assert_int_equal(ty.dims[0], 3);
    fx_dispose(&f);
}

/* ---- attributes of the norm and pool ops -------------------------------- */

static void bad_attributes_are_refused(void **st)
{
    float x[2 * 3 * 4 * 4] = {0};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 4, I64(2, 3, 4, 4), x);
    struct axle_tensor ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    (void)st;
    fx_init(&f, "LRN", 13, 1); /* size is required */
    assert_int_equal(infer(&f, &axle_op_lrn, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "LpPool", 11, 1);
    attr_ints(&f, "kernel_shape", 2, I64(2, 2));
    attr_int(&f, "p", 0);
    assert_int_equal(infer(&f, &axle_op_lp_pool, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "LpPool", 11, 1); /* kernel_shape is required */
    assert_int_equal(infer(&f, &axle_op_lp_pool, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "GlobalLpPool", 2, 1);
    attr_int(&f, "p", -2);
    assert_int_equal(infer(&f, &axle_op_global_lp_pool, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "LpNormalization", 1, 1);
    attr_int(&f, "p", 3);
    assert_int_equal(infer(&f, &axle_op_lp_normalization, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "LpNormalization", 1, 1);
    attr_int(&f, "axis", 4);
    assert_int_equal(infer(&f, &axle_op_lp_normalization, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "MeanVarianceNormalization", 13, 1);
    attr_ints(&f, "axes", 2, I64(0, 4));
    assert_int_equal(infer(&f, &axle_op_mean_variance_normalization, 1, in, 1,
                           out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* default axes [0, 2, 3] need rank 4 */
    struct axle_tensor t3 = tens(AXLE_DTYPE_FLOAT32, 3, I64(2, 3, 4), x);
    const struct axle_tensor *in3[] = {&t3};
    fx_init(&f, "MeanVarianceNormalization", 13, 1);
    assert_int_equal(infer(&f, &axle_op_mean_variance_normalization, 1, in3,
                           1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- reductions ----------------------------------------------------------- */

static void logsumexp_inf_nan_and_empty(void **st)
{
    float x[4 * 3] = {
        -INFINITY, -INFINITY, -INFINITY, /* -inf */
        1, INFINITY, 2,                  /* +inf */
        1, NAN, 2,                       /* NaN */
        1000, 1000, 1000,                /* 1000 + log 3 */
    };
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, I64(4, 3), x), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    (void)st;
    fx_init(&f, "ReduceLogSumExp", 13, 1);
    attr_ints(&f, "axes", 1, I64(1));
    assert_int_equal(call(&f, &axle_op_reduce_log_sum_exp, 1, in, 1, out),
                     AXLE_OK);
    const float *y = ty.data;
    assert_true(isinf(y[0]) && y[0] < 0);
    assert_true(isinf(y[1]) && y[1] > 0);
    assert_true(isnan(y[2]));
    near(y[3], 1000 + log(3.0), 1e-6);
    free_out(&ty);
    fx_dispose(&f);

    /* reducing an empty dim: log(0) */
    struct axle_tensor te = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 0), x);
    const struct axle_tensor *ine[] = {&te};
    fx_init(&f, "ReduceLogSumExp", 13, 1);
    attr_ints(&f, "axes", 1, I64(1));
    assert_int_equal(call(&f, &axle_op_reduce_log_sum_exp, 1, ine, 1, out),
                     AXLE_OK);
    assert_true(isinf(((float *)ty.data)[0]) && ((float *)ty.data)[0] < 0);
    free_out(&ty);
    fx_dispose(&f);
}

static void reduce_l1_threaded_matches_reference(void **st)
{
    enum { R = 37, C = 2500 };
    float *x = rnd(R * C, 3, 1.0f);
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, I64(R, C), x), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    (void)st;
    for (int axis = 0; axis < 2; axis++) {
        fx_init(&f, "ReduceL1", 13, 4);
        attr_ints(&f, "axes", 1, I64(axis));
        attr_int(&f, "keepdims", 0);
        assert_int_equal(call(&f, &axle_op_reduce_l1, 1, in, 1, out), AXLE_OK);
        int64_t n_out = axis == 0 ? C : R;
        assert_int_equal(ty.dims[0], n_out);
        for (int64_t o = 0; o < n_out; o++) {
            double want = 0;
            for (int64_t r = 0; r < (axis == 0 ? R : C); r++)
                want += fabs(axis == 0 ? x[r * C + o] : x[o * C + r]);
            near(((float *)ty.data)[o], want, 1e-5);
        }
        free_out(&ty);
        fx_dispose(&f);
    }
    free(x);
}

static void hardmax_nan_wins_and_ties_go_first(void **st)
{
    float x[8] = {1, 3, 3, 0, /* tie: first */
                  1, NAN, 5, NAN}; /* first NaN */
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 4), x), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    (void)st;
    fx_init(&f, "Hardmax", 13, 1);
    assert_int_equal(call(&f, &axle_op_hardmax, 1, in, 1, out), AXLE_OK);
    const float want[8] = {0, 1, 0, 0, 0, 1, 0, 0};
    for (int i = 0; i < 8; i++)
        assert_true(((float *)ty.data)[i] == want[i]);
    free_out(&ty);
    fx_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nll_rejects_target_outside_classes),
        cmocka_unit_test(nll_mean_of_all_ignored_is_nan_and_bad_attrs_fail),
        cmocka_unit_test(sce_log_prob_alone_and_symbolic_shapes),
        cmocka_unit_test(det_edges_and_errors),
        cmocka_unit_test(det_batched_threads_match_cofactor),
        cmocka_unit_test(cumsum_axis_checks_and_int_wrap),
        cmocka_unit_test(bad_attributes_are_refused),
        cmocka_unit_test(logsumexp_inf_nan_and_empty),
        cmocka_unit_test(reduce_l1_threaded_matches_reference),
        cmocka_unit_test(hardmax_nan_wins_and_ties_go_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
