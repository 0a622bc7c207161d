/*
 * test_random.c - RandomUniform, RandomNormal, their *Like forms and
 * Bernoulli called through struct axle_op. ONNX's backend cases hold
 * numpy draws no other generator reproduces, so these tests check what
 * can be checked: shapes and dtypes, ranges, means and variances within
 * loose statistical bounds (n = 200 000: the bounds are > 10 standard
 * errors), that a seed makes every run give the same values at any
 * thread count, that runs without one differ, Bernoulli's {0, 1} output
 * with the input's probabilities, and the bad-attribute errors.
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

extern const struct axle_op axle_op_random_uniform, axle_op_random_normal,
    axle_op_random_uniform_like, axle_op_random_normal_like,
    axle_op_bernoulli;

#define N 200000

static void moments(const float *x, int64_t n, double *mean, double *var)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++)
        s2 += (x[i] - *mean) * (x[i] - *mean);
    *var = s2 / (double)(n - 1);
}

static void random_ops_are_never_folded(void **st)
{
    assert_true(axle_op_random_uniform.nondeterministic);
    assert_true(axle_op_random_normal.nondeterministic);
    assert_true(axle_op_random_uniform_like.nondeterministic);
    assert_true(axle_op_random_normal_like.nondeterministic);
    assert_true(axle_op_bernoulli.nondeterministic);
}

static void uniform_stays_in_range_with_uniform_moments(void **st)
{
    struct fx f;
    struct axle_tensor ty;
    struct axle_tensor *out[] = {&ty};
    fx_init(&f, "RandomUniform", 1, 2);
    attr_ints(&f, "shape", 2, I64(400, N / 400));
    attr_float(&f, "low", -2.0f);
    attr_float(&f, "high", 6.0f);
    assert_int_equal(call(&f, &axle_op_random_uniform, 0, NULL, 1, out),
                     AXLE_OK);
    assert_int_equal(ty.dtype, AXLE_DTYPE_FLOAT32);
    assert_int_equal(ty.rank, 2);
    assert_int_equal(ty.dims[0], 400);
    const float *y = ty.data;
    for (int64_t i = 0; i < N; i++)
        assert_true(y[i] >= -2.0f && y[i] < 6.0f);
    double m, v;
    moments(y, N, &m, &v);
    near(m, 2.0, 0.05);             /* se 0.005 */
    near(v, 64.0 / 12.0, 0.02);     /* 2 % of 5.33 */
    free_out(&ty);
    fx_dispose(&f);
}

static void normal_has_the_requested_mean_and_scale(void **st)
{
    struct fx f;
    struct axle_tensor ty;
    struct axle_tensor *out[] = {&ty};
    fx_init(&f, "RandomNormal", 1, 1);
    attr_ints(&f, "shape", 1, I64(N));
    attr_float(&f, "mean", 3.0f);
    attr_float(&f, "scale", 0.5f);
    attr_int(&f, "dtype", AXLE_DTYPE_FLOAT64);
    assert_int_equal(call(&f, &axle_op_random_normal, 0, NULL, 1, out),
                     AXLE_OK);
    assert_int_equal(ty.dtype, AXLE_DTYPE_FLOAT64);
    const double *y = ty.data;
    double s = 0, s2 = 0, s4 = 0;
    int64_t tail = 0;
    for (int64_t i = 0; i < N; i++)
        s += y[i];
    double m = s / N;
    for (int64_t i = 0; i < N; i++) {
        double d = (y[i] - m) / 0.5;
        s2 += d * d;
        s4 += d * d * d * d;
        tail += fabs(d) > 1.959964;
    }
    near(m, 3.0, 0.005);             /* se 0.0011 */
    near(s2 / (N - 1), 1.0, 0.02);   /* se 0.003 */
    near(s4 / N, 3.0, 0.05);         /* kurtosis of a normal */
    /* two-sided 5 % tail, se 0.0005 */
    assert_true(tail > N * 0.045 && tail < N * 0.055);
    free_out(&ty);
    fx_dispose(&f);
}

/* Two calls of one node: with a seed equal (whatever the threads), without
 * one different. */
static void seed_makes_runs_repeat_and_no_seed_differs(void **st)
{
    const int64_t n = 70000;
    float *first = malloc(sizeof(float) * n);
    for (int seeded = 0; seeded < 2; seeded++) {
        for (int run = 0; run < 2; run++) {
            struct fx f;
            struct axle_tensor ty;
            struct axle_tensor *out[] = {&ty};
            fx_init(&f, "RandomNormal", 1, run == 0 ? 1 : 2);
            attr_ints(&f, "shape", 1, I64(n));
            if (seeded)
                attr_float(&f, "seed", 42.0f);
            assert_int_equal(call(&f, &axle_op_random_normal, 0, NULL, 1,
                                  out),
                             AXLE_OK);
            if (run == 0)
                memcpy(first, ty.data, sizeof(float) * n);
            else if (seeded)
                assert_memory_equal(first, ty.data, sizeof(float) * n);
            else
                assert_memory_not_equal(first, ty.data, sizeof(float) * n);
            free_out(&ty);
            fx_dispose(&f);
        }
    }
    /* another seed, another stream */
    struct fx f;
    struct axle_tensor ty;
    struct axle_tensor *out[] = {&ty};
    fx_init(&f, "RandomNormal", 1, 1);
    attr_ints(&f, "shape", 1, I64(n));
    attr_float(&f, "seed", 43.0f);
    assert_int_equal(call(&f, &axle_op_random_normal, 0, NULL, 1, out),
                     AXLE_OK);
    assert_memory_not_equal(first, ty.data, sizeof(float) * n);
    free_out(&ty);
    fx_dispose(&f);
    free(first);
}

static void like_ops_copy_shape_and_type(void **st)
{
    int64_t dims[3] = {2, 3, 5};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT16, 3, dims, NULL), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    uint16_t xs[30] = {0};
    tx.data = xs;
    struct fx f;
    fx_init(&f, "RandomUniformLike", 1, 1);
    attr_float(&f, "low", 10.0f);
    attr_float(&f, "high", 11.0f);
    assert_int_equal(call(&f, &axle_op_random_uniform_like, 1, in, 1, out),
                     AXLE_OK);
    assert_int_equal(ty.dtype, AXLE_DTYPE_FLOAT16);
    assert_int_equal(ty.rank, 3);
    assert_int_equal(ty.dims[2], 5);
    for (int i = 0; i < 30; i++) {
        float v = axle_f16_to_f32(((uint16_t *)ty.data)[i]);
        assert_true(v >= 10.0f && v <= 11.0f);
    }
    free_out(&ty);
    fx_dispose(&f);

    /* dtype overrides; an integer input needs one */
    int64_t xi[30] = {0};
    struct axle_tensor ti = tens(AXLE_DTYPE_INT64, 3, dims, xi);
    const struct axle_tensor *ini[] = {&ti};
    fx_init(&f, "RandomNormalLike", 1, 1);
    assert_int_equal(call(&f, &axle_op_random_normal_like, 1, ini, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "not supported"));
    fx_dispose(&f);
    fx_init(&f, "RandomNormalLike", 1, 1);
    attr_int(&f, "dtype", AXLE_DTYPE_FLOAT64);
    assert_int_equal(call(&f, &axle_op_random_normal_like, 1, ini, 1, out),
                     AXLE_OK);
    assert_int_equal(ty.dtype, AXLE_DTYPE_FLOAT64);
    free_out(&ty);
    fx_dispose(&f);
}

static void bernoulli_draws_zero_one_with_the_given_probabilities(void **st)
{
    const int64_t n = N;
    float *p = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) /* four probability groups */
        p[i] = (float[]){0.0f, 0.3f, 0.9f, 1.0f}[i % 4];
    int64_t dims[1] = {n};
    struct axle_tensor tp = tens(AXLE_DTYPE_FLOAT32, 1, dims, p), ty;
    const struct axle_tensor *in[] = {&tp};
    struct axle_tensor *out[] = {&ty};
    static const enum axle_dtype types[] = {AXLE_DTYPE_FLOAT32,
                                            AXLE_DTYPE_INT32,
                                            AXLE_DTYPE_BOOL};
    for (int t = 0; t < 3; t++) {
        struct fx f;
        fx_init(&f, "Bernoulli", 15, 2);
        if (t > 0)
            attr_int(&f, "dtype", types[t]);
        assert_int_equal(call(&f, &axle_op_bernoulli, 1, in, 1, out),
                         AXLE_OK);
        assert_int_equal(ty.dtype, types[t]);
        int64_t ones[4] = {0}, cnt[4] = {0};
        for (int64_t i = 0; i < n; i++) {
            double v = axle_tensor_get_f64(&ty, i);
            assert_true(v == 0.0 || v == 1.0);
            ones[i % 4] += v == 1.0;
            cnt[i % 4]++;
        }
        assert_int_equal(ones[0], 0);
        assert_int_equal(ones[3], cnt[3]);
        near((double)ones[1] / (double)cnt[1], 0.3, 0.05); /* se 0.002 */
        near((double)ones[2] / (double)cnt[2], 0.9, 0.02);
        free_out(&ty);
        fx_dispose(&f);
    }
    /* probabilities must be floats */
    int32_t pi[4] = {0};
    struct axle_tensor ti = tens(AXLE_DTYPE_INT32, 1, I64(4), pi);
    const struct axle_tensor *ini[] = {&ti};
    struct fx f;
    fx_init(&f, "Bernoulli", 15, 1);
    assert_int_equal(infer(&f, &axle_op_bernoulli, 1, ini, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    free(p);
}

static void bad_shape_and_dtype_attributes_are_errors(void **st)
{
    struct fx f;
    struct axle_tensor ty;
    struct axle_tensor *out[] = {&ty};
    fx_init(&f, "RandomUniform", 1, 1);
    assert_int_equal(infer(&f, &axle_op_random_uniform, 0, NULL, 1, out),
                     AXLE_INVALID_ARGUMENT); /* no shape */
    fx_dispose(&f);
    fx_init(&f, "RandomUniform", 1, 1);
    attr_ints(&f, "shape", 2, I64(3, -1));
    assert_int_equal(infer(&f, &axle_op_random_uniform, 0, NULL, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "RandomUniform", 1, 1);
    attr_ints(&f, "shape", 3, I64(1 << 20, 1 << 20, 1 << 20));
    assert_int_equal(infer(&f, &axle_op_random_uniform, 0, NULL, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "RandomNormal", 1, 1);
    attr_ints(&f, "shape", 1, I64(4));
    attr_int(&f, "dtype", AXLE_DTYPE_INT32);
    assert_int_equal(infer(&f, &axle_op_random_normal, 0, NULL, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_ops_are_never_folded),
        cmocka_unit_test(uniform_stays_in_range_with_uniform_moments),
        cmocka_unit_test(normal_has_the_requested_mean_and_scale),
        cmocka_unit_test(seed_makes_runs_repeat_and_no_seed_differs),
        cmocka_unit_test(like_ops_copy_shape_and_type),
        cmocka_unit_test(bernoulli_draws_zero_one_with_the_given_probabilities),
        cmocka_unit_test(bad_shape_and_dtype_attributes_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
