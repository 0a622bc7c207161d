/*
 * test_norm_reduce.c - normalization, softmax, reduction, TopK and Resize
 * kernels called directly through struct axle_op: results against naive
 * double-precision references (threaded and not, rows long enough for the
 * vector paths and their tails), every reduce-axes subset, integer types,
 * empty reductions, load-time inference with symbolic/unknown dims, and
 * error paths (bad axes, k out of range, bad scales/modes).
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

extern const struct axle_op axle_op_softmax, axle_op_log_softmax,
    axle_op_layer_normalization, axle_op_batch_normalization,
    axle_op_instance_normalization, axle_op_reduce_sum, axle_op_reduce_mean,
    axle_op_reduce_max, axle_op_reduce_min, axle_op_reduce_prod,
    axle_op_reduce_l2, axle_op_arg_max, axle_op_arg_min, axle_op_top_k,
    axle_op_resize, axle_op_upsample;

static int64_t prod(const int64_t *d, int a, int b)
{
    int64_t p = 1;
    for (int i = a; i < b; i++)
        p *= d[i];
    return p;
}

/* ---- softmax --------------------------------------------------------- */

static void softmax_ref(const float *x, double *y, int64_t outer, int64_t n,
                        int64_t inner, bool lg)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < n; j++)
                m = fmax(m, x[(o * n + j) * inner + i]);
            for (int64_t j = 0; j < n; j++)
                s += exp(x[(o * n + j) * inner + i] - m);
            for (int64_t j = 0; j < n; j++) {
                double v = x[(o * n + j) * inner + i] - m;
                y[(o * n + j) * inner + i] = lg ? v - log(s) : exp(v) / s;
            }
        }
}

static void softmax_matches_reference_on_every_axis(void **st)
{
    int64_t dims[3] = {5, 67, 300};
    int64_t n = 5 * 67 * 300;
    float *x = rnd(n, 1, 4.0f);
    double *ref = malloc((size_t)n * sizeof(double));

    for (int threads = 1; threads <= 2; threads++)
        for (int log = 0; log < 2; log++)
            for (int axis = 0; axis < 3; axis++) {
                struct fx f;
                fx_init(&f, log ? "LogSoftmax" : "Softmax", 13, threads);
                attr_int(&f, "axis", axis);
                struct axle_tensor ty;
                struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, dims, x);
                const struct axle_tensor *in[] = {&tx};
                struct axle_tensor *out[] = {&ty};
                assert_int_equal(call(&f, log ? &axle_op_log_softmax
                                              : &axle_op_softmax,
                                      1, in, 1, out),
                                 AXLE_OK);
                softmax_ref(x, ref, prod(dims, 0, axis), dims[axis],
                            prod(dims, axis + 1, 3), log);
                for (int64_t i = 0; i < n; i += 7)
                    near(((float *)ty.data)[i], ref[i], 2e-5);
                free(ty.data);
                fx_dispose(&f);
            }
    free(x);
    free(ref);
}

static void softmax_old_opset_coerces_to_2d(void **st)
{
    int64_t dims[3] = {2, 3, 4};
    float *x = rnd(24, 2, 4.0f);
    double ref[24];
    struct fx f;
    fx_init(&f, "Softmax", 11, 1);
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, dims, x), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    assert_int_equal(call(&f, &axle_op_softmax, 1, in, 1, out), AXLE_OK);
    softmax_ref(x, ref, 2, 12, 1, false); /* default axis 1: rows of 12 */
    for (int i = 0; i < 24; i++)
        near(((float *)ty.data)[i], ref[i], 1e-5);
    free(ty.data);
    fx_dispose(&f);
    free(x);
}

static void softmax_keeps_symbolic_dims_and_rejects_bad_axis(void **st)
{
    struct fx f;
    fx_init(&f, "Softmax", 13, 1);
    int64_t dims[2] = {axle_dim_sym(0), 10};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, dims, NULL), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    assert_int_equal(infer(&f, &axle_op_softmax, 1, in, 1, out), AXLE_OK);
    assert_int_equal(ty.rank, 2);
    assert_true(ty.dims[0] == axle_dim_sym(0));
    fx_dispose(&f);

    fx_init(&f, "Softmax", 13, 1);
    attr_int(&f, "axis", 2);
    assert_int_equal(infer(&f, &axle_op_softmax, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "axis"));
    fx_dispose(&f);
}

/* ---- layer / batch / instance norm ----------------------------------- */

static void layernorm_matches_reference_with_stats(void **st)
{
    int64_t dims[3] = {3, 7, 97};
    int64_t n = 3 * 7 * 97, D = 7 * 97;
    float *x = rnd(n, 3, 4.0f), *sc = rnd(D, 4, 4.0f), *bi = rnd(D, 5, 4.0f);
    int64_t pd[2] = {7, 97};

    for (int threads = 1; threads <= 2; threads++) {
        struct fx f;
        fx_init(&f, "LayerNormalization", 17, threads);
        attr_int(&f, "axis", 1);
        attr_float(&f, "epsilon", 1e-3f);
        struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, dims, x);
        struct axle_tensor ts = tens(AXLE_DTYPE_FLOAT32, 2, pd, sc);
        struct axle_tensor tb = tens(AXLE_DTYPE_FLOAT32, 2, pd, bi);
        struct axle_tensor ty, tm, ti;
        const struct axle_tensor *in[] = {&tx, &ts, &tb};
        struct axle_tensor *out[] = {&ty, &tm, &ti};
        assert_int_equal(call(&f, &axle_op_layer_normalization, 3, in, 3, out),
                         AXLE_OK);
        assert_int_equal(tm.rank, 3);
        assert_int_equal(tm.dims[0], 3);
        assert_int_equal(tm.dims[1], 1);
        assert_int_equal(tm.dims[2], 1);
        for (int r = 0; r < 3; r++) {
            double m = 0, v = 0;
            for (int64_t i = 0; i < D; i++)
                m += x[r * D + i];
            m /= (double)D;
            for (int64_t i = 0; i < D; i++)
                v += (x[r * D + i] - m) * (x[r * D + i] - m);
            v /= (double)D;
            double inv = 1.0 / sqrt(v + 1e-3);
            near(((float *)tm.data)[r], m, 1e-5);
            near(((float *)ti.data)[r], inv, 1e-5);
            for (int64_t i = 0; i < D; i++)
                near(((float *)ty.data)[r * D + i],
                     (x[r * D + i] - m) * inv * sc[i] + bi[i], 1e-4);
        }
        free(ty.data);
        free(tm.data);
        free(ti.data);
        fx_dispose(&f);
    }
    free(x);
    free(sc);
    free(bi);
}

static void batchnorm_inference_and_training(void **st)
{
    int64_t dims[4] = {2, 3, 5, 7}, cd[1] = {3};
    int64_t n = 2 * 3 * 35;
    float *x = rnd(n, 6, 4.0f);
    float sc[3] = {1, 2, 0.5f}, b[3] = {0, 1, -1}, mean[3] = {0.1f, -0.2f, 0};
    float var[3] = {1, 0.5f, 2};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 4, dims, x);
    struct axle_tensor ts = tens(AXLE_DTYPE_FLOAT32, 1, cd, sc);
    struct axle_tensor tb = tens(AXLE_DTYPE_FLOAT32, 1, cd, b);
    struct axle_tensor tm = tens(AXLE_DTYPE_FLOAT32, 1, cd, mean);
    struct axle_tensor tv = tens(AXLE_DTYPE_FLOAT32, 1, cd, var);
    const struct axle_tensor *in[] = {&tx, &ts, &tb, &tm, &tv};
    struct axle_tensor ty, trm, trv;
    struct axle_tensor *out[] = {&ty, &trm, &trv};
    struct fx f;

    fx_init(&f, "BatchNormalization", 15, 1);
    assert_int_equal(call(&f, &axle_op_batch_normalization, 5, in, 1, out),
                     AXLE_OK);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)((i / 35) % 3);
        near(((float *)ty.data)[i],
             (x[i] - mean[c]) / sqrt(var[c] + 1e-5) * sc[c] + b[c], 1e-5);
    }
    free(ty.data);
    fx_dispose(&f);

    fx_init(&f, "BatchNormalization", 15, 1);
    attr_int(&f, "training_mode", 1);
    attr_float(&f, "momentum", 0.8f);
    assert_int_equal(call(&f, &axle_op_batch_normalization, 5, in, 3, out),
                     AXLE_OK);
    for (int c = 0; c < 3; c++) {
        double m = 0, v = 0;
        for (int nn = 0; nn < 2; nn++)
            for (int i = 0; i < 35; i++)
                m += x[(nn * 3 + c) * 35 + i];
        m /= 70;
        for (int nn = 0; nn < 2; nn++)
            for (int i = 0; i < 35; i++)
                v += pow(x[(nn * 3 + c) * 35 + i] - m, 2);
        v /= 70;
        near(((float *)trm.data)[c], mean[c] * 0.8 + m * 0.2, 1e-5);
        near(((float *)trv.data)[c], var[c] * 0.8 + v * 0.2, 1e-5);
        near(((float *)ty.data)[(1 * 3 + c) * 35 + 4],
             (x[(3 + c) * 35 + 4] - m) / sqrt(v + 1e-5) * sc[c] + b[c], 1e-4);
    }
    free(ty.data);
    free(trm.data);
    free(trv.data);
    fx_dispose(&f);

    /* wrong parameter length */
    int64_t bad[1] = {4};
    float p4[4] = {1, 1, 1, 1};
    struct axle_tensor t4 = tens(AXLE_DTYPE_FLOAT32, 1, bad, p4);
    const struct axle_tensor *in_bad[] = {&tx, &t4, &tb, &tm, &tv};
    fx_init(&f, "BatchNormalization", 15, 1);
    assert_int_equal(infer(&f, &axle_op_batch_normalization, 5, in_bad, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    free(x);
}

static void instancenorm_matches_reference(void **st)
{
    int64_t dims[3] = {2, 2, 50}, cd[1] = {2};
    float *x = rnd(200, 7, 4.0f);
    float sc[2] = {1.5f, -1}, b[2] = {0.25f, 2};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, dims, x);
    struct axle_tensor ts = tens(AXLE_DTYPE_FLOAT32, 1, cd, sc);
    struct axle_tensor tb = tens(AXLE_DTYPE_FLOAT32, 1, cd, b), ty;
    const struct axle_tensor *in[] = {&tx, &ts, &tb};
    struct axle_tensor *out[] = {&ty};
    struct fx f;
    fx_init(&f, "InstanceNormalization", 6, 1);
    assert_int_equal(call(&f, &axle_op_instance_normalization, 3, in, 1, out),
                     AXLE_OK);
    for (int r = 0; r < 4; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < 50; i++)
            m += x[r * 50 + i];
        m /= 50;
        for (int i = 0; i < 50; i++)
            v += pow(x[r * 50 + i] - m, 2);
        v /= 50;
        for (int i = 0; i < 50; i++)
            near(((float *)ty.data)[r * 50 + i],
                 (x[r * 50 + i] - m) / sqrt(v + 1e-5) * sc[r % 2] + b[r % 2],
                 1e-4);
    }
    free(ty.data);
    fx_dispose(&f);
    free(x);
}

/* ---- reductions ------------------------------------------------------ */

static const struct axle_op *red_ops[6];
static const char *red_names[6] = {"ReduceSum", "ReduceMean", "ReduceMax",
                                   "ReduceMin", "ReduceProd", "ReduceL2"};

static double red_ref(int kind, const float *x, const int64_t *dims,
                      unsigned mask, const int64_t *oc)
{
    double acc = kind == 2 ? -INFINITY : kind == 3 ? INFINITY
                 : kind == 4 ? 1 : 0;
    int64_t cnt = 0;
    int64_t c[4];
    for (c[0] = 0; c[0] < dims[0]; c[0]++)
        for (c[1] = 0; c[1] < dims[1]; c[1]++)
            for (c[2] = 0; c[2] < dims[2]; c[2]++)
                for (c[3] = 0; c[3] < dims[3]; c[3]++) {
                    bool in = true;
                    for (int d = 0; d < 4; d++)
                        if (!(mask & (1u << d)) && c[d] != oc[d])
                            in = false;
                    if (!in)
                        continue;
                    double v = x[((c[0] * dims[1] + c[1]) * dims[2] + c[2]) *
                                     dims[3] + c[3]];
                    cnt++;
                    switch (kind) {
                    case 2: acc = fmax(acc, v); break;
                    case 3: acc = fmin(acc, v); break;
                    case 4: acc *= v; break;
                    case 5: acc += v * v; break;
                    default: acc += v; break;
                    }
                }
    if (kind == 1)
        acc /= (double)cnt;
    if (kind == 5)
        acc = sqrt(acc);
    return acc;
}

static void reduce_every_axes_subset_matches_reference(void **st)
{
    int64_t dims[4] = {3, 1, 20, 37};
    int64_t n = prod(dims, 0, 4);
    float *x = rnd(n, 8, 4.0f);
    for (int64_t i = 0; i < n; i++) /* keep products finite */
        x[i] = 0.9f + x[i] / 40.0f;
    red_ops[0] = &axle_op_reduce_sum;
    red_ops[1] = &axle_op_reduce_mean;
    red_ops[2] = &axle_op_reduce_max;
    red_ops[3] = &axle_op_reduce_min;
    red_ops[4] = &axle_op_reduce_prod;
    red_ops[5] = &axle_op_reduce_l2;

    for (int kind = 0; kind < 6; kind++)
        for (unsigned mask = 1; mask < 16; mask++)
            for (int keep = 0; keep < 2; keep++) {
                struct fx f;
                int64_t axes[4];
                int na = 0;
                for (int d = 0; d < 4; d++)
                    if (mask & (1u << d))
                        axes[na++] = d - (d & 1) * 4; /* mix negatives */
                fx_init(&f, red_names[kind], 13, 1 + (int)(mask & 1));
                attr_int(&f, "keepdims", keep);
                struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 4, dims, x);
                struct axle_tensor ta = tens(AXLE_DTYPE_INT64, 1,
                                             (int64_t[]){na}, axes), ty;
                const struct axle_tensor *in[] = {&tx, &ta};
                struct axle_tensor *out[] = {&ty};
                int n_in = 1;
                if (kind == 0)
                    n_in = 2;
                else
                    attr_ints(&f, "axes", na, axes);
                assert_int_equal(call(&f, red_ops[kind], n_in, in, 1, out),
                                 AXLE_OK);
                assert_int_equal(ty.rank, keep ? 4 : 4 - na);
                /* walk the outputs */
                int64_t oc[4] = {0, 0, 0, 0}, o = 0;
                for (oc[0] = 0; oc[0] < dims[0]; oc[0]++)
                    for (oc[1] = 0; oc[1] < dims[1]; oc[1]++)
                        for (oc[2] = 0; oc[2] < dims[2]; oc[2]++)
                            for (oc[3] = 0; oc[3] < dims[3]; oc[3]++) {
                                bool first = true;
                                for (int d = 0; d < 4; d++)
                                    if ((mask & (1u << d)) && oc[d] != 0)
                                        first = false;
                                if (!first)
                                    continue;
                                near(((float *)ty.data)[o++],
                                     red_ref(kind, x, dims, mask, oc), 1e-4);
                            }
                assert_int_equal(o, axle_tensor_numel(&ty));
                free(ty.data);
                fx_dispose(&f);
            }
    free(x);
}

static void reduce_int_types_and_empty_identity(void **st)
{
    int64_t dims[2] = {2, 3};
    int32_t xi[6] = {1, -7, 3, 2147483647, 1, 5};
    struct fx f;
    struct axle_tensor tx = tens(AXLE_DTYPE_INT32, 2, dims, xi), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};

    fx_init(&f, "ReduceMax", 13, 1);
    attr_ints(&f, "axes", 1, (int64_t[]){1});
    attr_int(&f, "keepdims", 0);
    assert_int_equal(call(&f, &axle_op_reduce_max, 1, in, 1, out), AXLE_OK);
    assert_int_equal(ty.dtype, AXLE_DTYPE_INT32);
    assert_int_equal(((int32_t *)ty.data)[0], 3);
    assert_int_equal(((int32_t *)ty.data)[1], 2147483647);
    free(ty.data);
    fx_dispose(&f);

    fx_init(&f, "ReduceMean", 13, 1);
    attr_ints(&f, "axes", 1, (int64_t[]){1});
    assert_int_equal(call(&f, &axle_op_reduce_mean, 1, in, 1, out), AXLE_OK);
    assert_int_equal(((int32_t *)ty.data)[0], -1); /* -3/3 */
    free(ty.data);
    fx_dispose(&f);

    /* int64 sums stay exact beyond 2^53 */
    int64_t xl[2] = {(int64_t)1 << 60, 3};
    int64_t d1[1] = {2};
    struct axle_tensor tl = tens(AXLE_DTYPE_INT64, 1, d1, xl);
    const struct axle_tensor *inl[] = {&tl};
    fx_init(&f, "ReduceSum", 11, 1);
    assert_int_equal(call(&f, &axle_op_reduce_sum, 1, inl, 1, out), AXLE_OK);
    assert_int_equal(ty.rank, 1);
    assert_true(((int64_t *)ty.data)[0] == ((int64_t)1 << 60) + 3);
    free(ty.data);
    fx_dispose(&f);

    /* reducing a zero-sized dim: identities */
    int64_t de[2] = {3, 0};
    float dummy = 0;
    struct axle_tensor te = tens(AXLE_DTYPE_FLOAT32, 2, de, &dummy);
    const struct axle_tensor *ine[] = {&te};
    const struct axle_op *ops[3] = {&axle_op_reduce_max, &axle_op_reduce_sum,
                                    &axle_op_reduce_prod};
    float want[3] = {-INFINITY, 0, 1};
    for (int i = 0; i < 3; i++) {
        fx_init(&f, "R", 13, 1);
        attr_ints(&f, "axes", 1, (int64_t[]){1});
        if (i == 1)
            f.opset = 11;
        assert_int_equal(call(&f, ops[i], 1, ine, 1, out), AXLE_OK);
        assert_int_equal(axle_tensor_numel(&ty), 3);
        assert_true(((float *)ty.data)[2] == want[i]);
        free(ty.data);
        fx_dispose(&f);
    }
}

static void reduce_axes_errors_and_load_time_shapes(void **st)
{
    int64_t dims[3] = {axle_dim_sym(0), 4, 5};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, dims, NULL), ty;
    struct axle_tensor ta = tens(AXLE_DTYPE_INT64, 1, (int64_t[]){1}, NULL);
    const struct axle_tensor *in[] = {&tx, &ta};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    /* axes input not constant: keepdims keeps the rank, dims unknown */
    fx_init(&f, "ReduceSum", 13, 1);
    assert_int_equal(infer(&f, &axle_op_reduce_sum, 2, in, 1, out), AXLE_OK);
    assert_int_equal(ty.rank, 3);
    assert_true(ty.dims[1] == AXLE_DIM_UNKNOWN);
    fx_dispose(&f);

    /* attribute axes: the symbolic batch dim flows through */
    fx_init(&f, "ReduceMean", 13, 1);
    attr_ints(&f, "axes", 1, (int64_t[]){-1});
    attr_int(&f, "keepdims", 0);
    assert_int_equal(infer(&f, &axle_op_reduce_mean, 1, in, 1, out), AXLE_OK);
    assert_int_equal(ty.rank, 2);
    assert_true(ty.dims[0] == axle_dim_sym(0));
    assert_int_equal(ty.dims[1], 4);
    fx_dispose(&f);

    fx_init(&f, "ReduceMean", 13, 1);
    attr_ints(&f, "axes", 1, (int64_t[]){3});
    assert_int_equal(infer(&f, &axle_op_reduce_mean, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "ReduceMax", 13, 1);
    attr_ints(&f, "axes", 2, (int64_t[]){1, -2});
    assert_int_equal(infer(&f, &axle_op_reduce_max, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "repeated"));
    fx_dispose(&f);

    /* noop_with_empty_axes passes the input through */
    int64_t d2[2] = {2, 2};
    float v[4] = {1, 2, 3, 4};
    struct axle_tensor t2 = tens(AXLE_DTYPE_FLOAT32, 2, d2, v);
    struct axle_tensor te = tens(AXLE_DTYPE_INT64, 1, (int64_t[]){0}, v);
    const struct axle_tensor *in2[] = {&t2, &te};
    fx_init(&f, "ReduceSum", 13, 1);
    attr_int(&f, "noop_with_empty_axes", 1);
    assert_int_equal(call(&f, &axle_op_reduce_sum, 2, in2, 1, out), AXLE_OK);
    assert_int_equal(ty.rank, 2);
    assert_true(((float *)ty.data)[3] == 4);
    free(ty.data);
    fx_dispose(&f);
}

static void argmax_ties_and_select_last_index(void **st)
{
    int64_t dims[2] = {2, 4};
    int64_t x[8] = {5, 9, 9, 1, -3, -3, -8, -8};
    struct axle_tensor tx = tens(AXLE_DTYPE_INT64, 2, dims, x), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    for (int last = 0; last < 2; last++) {
        fx_init(&f, "ArgMax", 13, 1);
        attr_int(&f, "axis", -1);
        attr_int(&f, "select_last_index", last);
        assert_int_equal(call(&f, &axle_op_arg_max, 1, in, 1, out), AXLE_OK);
        assert_int_equal(ty.rank, 2);
        assert_int_equal(ty.dims[1], 1);
        assert_int_equal(((int64_t *)ty.data)[0], last ? 2 : 1);
        assert_int_equal(((int64_t *)ty.data)[1], last ? 1 : 0);
        free(ty.data);
        fx_dispose(&f);

        fx_init(&f, "ArgMin", 13, 1);
        attr_int(&f, "axis", 1);
        attr_int(&f, "keepdims", 0);
        attr_int(&f, "select_last_index", last);
        assert_int_equal(call(&f, &axle_op_arg_min, 1, in, 1, out), AXLE_OK);
        assert_int_equal(ty.rank, 1);
        assert_int_equal(((int64_t *)ty.data)[1], last ? 3 : 2);
        free(ty.data);
        fx_dispose(&f);
    }
    fx_init(&f, "ArgMax", 13, 1);
    attr_int(&f, "axis", 2);
    assert_int_equal(infer(&f, &axle_op_arg_max, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- TopK ------------------------------------------------------------ */

static void topk_ties_lower_index_first_and_k_checks(void **st)
{
    int64_t dims[2] = {2, 6}, kd[1] = {1};
    float x[12] = {1, 3, 3, 2, 3, 0, 7, 7, 7, 7, 7, 7};
    int64_t kv = 3;
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, dims, x);
    struct axle_tensor tk = tens(AXLE_DTYPE_INT64, 1, kd, &kv), tv, ti;
    const struct axle_tensor *in[] = {&tx, &tk};
    struct axle_tensor *out[] = {&tv, &ti};
    struct fx f;

    fx_init(&f, "TopK", 11, 1);
    assert_int_equal(call(&f, &axle_op_top_k, 2, in, 2, out), AXLE_OK);
    int64_t *ix = ti.data;
    assert_int_equal(ix[0], 1);
    assert_int_equal(ix[1], 2);
    assert_int_equal(ix[2], 4);
    assert_int_equal(ix[3], 0);
    assert_int_equal(ix[4], 1);
    assert_int_equal(ix[5], 2);
    assert_true(((float *)tv.data)[2] == 3);
    free(tv.data);
    free(ti.data);
    fx_dispose(&f);

    fx_init(&f, "TopK", 11, 1);
    attr_int(&f, "largest", 0);
    assert_int_equal(call(&f, &axle_op_top_k, 2, in, 2, out), AXLE_OK);
    ix = ti.data;
    assert_int_equal(ix[0], 5);
    assert_int_equal(ix[1], 0);
    assert_int_equal(ix[2], 3);
    free(tv.data);
    free(ti.data);
    fx_dispose(&f);

    kv = 7;
    fx_init(&f, "TopK", 11, 1);
    assert_int_equal(infer(&f, &axle_op_top_k, 2, in, 2, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    kv = -1;
    fx_init(&f, "TopK", 11, 1);
    assert_int_equal(infer(&f, &axle_op_top_k, 2, in, 2, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* K not constant at load: that dim is unknown */
    struct axle_tensor tk2 = tens(AXLE_DTYPE_INT64, 1, kd, NULL);
    const struct axle_tensor *in2[] = {&tx, &tk2};
    fx_init(&f, "TopK", 11, 1);
    assert_int_equal(infer(&f, &axle_op_top_k, 2, in2, 2, out), AXLE_OK);
    assert_int_equal(tv.rank, 2);
    assert_true(tv.dims[1] == AXLE_DIM_UNKNOWN);
    assert_int_equal(ti.dtype, AXLE_DTYPE_INT64);
    fx_dispose(&f);

    /* opset 1: k attribute; int64 values compare exactly */
    int64_t big[4] = {((int64_t)1 << 60) + 1, (int64_t)1 << 60, 5,
                      ((int64_t)1 << 60) + 2};
    int64_t d4[1] = {4};
    struct axle_tensor tb = tens(AXLE_DTYPE_INT64, 1, d4, big);
    const struct axle_tensor *in3[] = {&tb};
    fx_init(&f, "TopK", 1, 1);
    attr_int(&f, "k", 2);
    assert_int_equal(call(&f, &axle_op_top_k, 1, in3, 2, out), AXLE_OK);
    assert_int_equal(((int64_t *)ti.data)[0], 3);
    assert_int_equal(((int64_t *)ti.data)[1], 0);
    free(tv.data);
    free(ti.data);
    fx_dispose(&f);
}

static void topk_large_matches_sort(void **st)
{
    int64_t dims[2] = {64, 1000}, kd[1] = {1}, kv = 100;
    float *x = rnd(64000, 9, 4.0f);
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, dims, x);
    struct axle_tensor tk = tens(AXLE_DTYPE_INT64, 1, kd, &kv), tv, ti;
    const struct axle_tensor *in[] = {&tx, &tk};
    struct axle_tensor *out[] = {&tv, &ti};
    struct fx f;
    fx_init(&f, "TopK", 11, 2);
    assert_int_equal(call(&f, &axle_op_top_k, 2, in, 2, out), AXLE_OK);
    for (int r = 0; r < 64; r++) {
        const float *v = (const float *)tv.data + r * 100;
        const int64_t *ix = (const int64_t *)ti.data + r * 100;
        int bigger = 0;
        for (int i = 0; i < 1000; i++)
            bigger += x[r * 1000 + i] > v[99];
        assert_true(bigger <= 99);
        for (int i = 0; i < 100; i++) {
            assert_true(x[r * 1000 + ix[i]] == v[i]);
            if (i > 0)
                assert_true(v[i - 1] >= v[i]);
        }
    }
    free(tv.data);
    free(ti.data);
    fx_dispose(&f);
    free(x);
}

/* ---- Resize ---------------------------------------------------------- */

static void resize_nearest_int64_and_linear_constant(void **st)
{
    int64_t dims[2] = {2, 3}, sd[1] = {2};
    int64_t x[6] = {(int64_t)1 << 62, 2, 3, 4, 5, 6};
    float scales[2] = {2.0f, 2.0f};
    struct axle_tensor tx = tens(AXLE_DTYPE_INT64, 2, dims, x);
    struct axle_tensor ts = tens(AXLE_DTYPE_FLOAT32, 1, sd, scales), ty;
    const struct axle_tensor *in[] = {&tx, NULL, &ts};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    fx_init(&f, "Resize", 13, 1);
    attr_str(&f, "coordinate_transformation_mode", "asymmetric");
    attr_str(&f, "nearest_mode", "floor");
    assert_int_equal(call(&f, &axle_op_resize, 3, in, 1, out), AXLE_OK);
    assert_int_equal(ty.dims[0], 4);
    assert_int_equal(ty.dims[1], 6);
    assert_true(((int64_t *)ty.data)[1] == (int64_t)1 << 62);
    assert_true(((int64_t *)ty.data)[23] == 6);
    free(ty.data);
    fx_dispose(&f);

    /* antialiased linear / cubic downsampling of a constant stays put */
    int64_t d4[4] = {1, 1, 16, 16}, s4[1] = {4};
    float *c = malloc(256 * sizeof(float));
    for (int i = 0; i < 256; i++)
        c[i] = 2.5f;
    float sc4[4] = {1, 1, 0.3f, 0.45f};
    struct axle_tensor tc = tens(AXLE_DTYPE_FLOAT32, 4, d4, c);
    struct axle_tensor tsc = tens(AXLE_DTYPE_FLOAT32, 1, s4, sc4);
    const struct axle_tensor *in2[] = {&tc, NULL, &tsc};
    for (int cubic = 0; cubic < 2; cubic++) {
        fx_init(&f, "Resize", 18, 2);
        attr_str(&f, "mode", cubic ? "cubic" : "linear");
        attr_int(&f, "antialias", 1);
        assert_int_equal(call(&f, &axle_op_resize, 3, in2, 1, out), AXLE_OK);
        assert_int_equal(ty.dims[2], 4);
        assert_int_equal(ty.dims[3], 7);
        for (int i = 0; i < 28; i++)
            near(((float *)ty.data)[i], 2.5, 1e-5);
        free(ty.data);
        fx_dispose(&f);
    }
    free(c);
}

static void resize_axes_sizes_policy_and_errors(void **st)
{
    int64_t dims[3] = {1, 3, 5}, ad[1] = {2};
    float x[15] = {0};
    int64_t sizes[2] = {6, 6};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, dims, x);
    struct axle_tensor tsz = tens(AXLE_DTYPE_INT64, 1, ad, sizes), ty;
    const struct axle_tensor *in[] = {&tx, NULL, NULL, &tsz};
    struct axle_tensor *out[] = {&ty};
    struct fx f;

    fx_init(&f, "Resize", 18, 1);
    attr_ints(&f, "axes", 2, (int64_t[]){1, 2});
    attr_str(&f, "keep_aspect_ratio_policy", "not_smaller");
    assert_int_equal(infer(&f, &axle_op_resize, 4, in, 1, out), AXLE_OK);
    assert_int_equal(ty.dims[0], 1);
    assert_int_equal(ty.dims[1], 6);
    assert_int_equal(ty.dims[2], 10);
    fx_dispose(&f);

    fx_init(&f, "Resize", 18, 1);
    attr_ints(&f, "axes", 2, (int64_t[]){1, 2});
    attr_str(&f, "keep_aspect_ratio_policy", "not_larger");
    assert_int_equal(infer(&f, &axle_op_resize, 4, in, 1, out), AXLE_OK);
    assert_int_equal(ty.dims[1], 4); /* round(1.2 * 3) */
    assert_int_equal(ty.dims[2], 6);
    fx_dispose(&f);

    fx_init(&f, "Resize", 13, 1);
    attr_str(&f, "mode", "bicubic");
    assert_int_equal(infer(&f, &axle_op_resize, 4, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    float bad[3] = {1, -2, 1};
    int64_t sd[1] = {3};
    struct axle_tensor tsb = tens(AXLE_DTYPE_FLOAT32, 1, sd, bad);
    const struct axle_tensor *in2[] = {&tx, NULL, &tsb};
    fx_init(&f, "Resize", 13, 1);
    assert_int_equal(infer(&f, &axle_op_resize, 3, in2, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* scales of the wrong length */
    int64_t sd2[1] = {2};
    struct axle_tensor tsw = tens(AXLE_DTYPE_FLOAT32, 1, sd2, bad);
    const struct axle_tensor *in3[] = {&tx, NULL, &tsw};
    fx_init(&f, "Resize", 13, 1);
    assert_int_equal(infer(&f, &axle_op_resize, 3, in3, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* load time, scales not constant: rank known, resized dims unknown */
    struct axle_tensor tsn = tens(AXLE_DTYPE_FLOAT32, 1, sd, NULL);
    const struct axle_tensor *in4[] = {&tx, NULL, &tsn};
    fx_init(&f, "Resize", 13, 1);
    assert_int_equal(infer(&f, &axle_op_resize, 3, in4, 1, out), AXLE_OK);
    assert_int_equal(ty.rank, 3);
    assert_true(ty.dims[2] == AXLE_DIM_UNKNOWN);
    fx_dispose(&f);
}

static void upsample_opset7_scales_attribute(void **st)
{
    int64_t dims[2] = {1, 2};
    float x[2] = {1, 3};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, dims, x), ty;
    const struct axle_tensor *in[] = {&tx};
    struct axle_tensor *out[] = {&ty};
    struct fx f;
    fx_init(&f, "Upsample", 7, 1);
    struct axle_attr *a = axle_node_add_attr(f.n, "scales");
    a->type = AXLE_ATTR_FLOATS;
    a->n = 2;
    a->floats = axle_xmalloc(2 * sizeof(float));
    a->floats[0] = 1;
    a->floats[1] = 2;
    attr_str(&f, "mode", "linear");
    assert_int_equal(call(&f, &axle_op_upsample, 1, in, 1, out), AXLE_OK);
    assert_int_equal(ty.dims[1], 4);
    /* asymmetric: x = o / 2 -> 1, 2, 3, 3 */
    near(((float *)ty.data)[0], 1, 1e-6);
    near(((float *)ty.data)[1], 2, 1e-6);
    near(((float *)ty.data)[2], 3, 1e-6);
    near(((float *)ty.data)[3], 3, 1e-6);
    free(ty.data);
    fx_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(softmax_matches_reference_on_every_axis),
        cmocka_unit_test(softmax_old_opset_coerces_to_2d),
        cmocka_unit_test(softmax_keeps_symbolic_dims_and_rejects_bad_axis),
        cmocka_unit_test(layernorm_matches_reference_with_stats),
        cmocka_unit_test(batchnorm_inference_and_training),
        cmocka_unit_test(instancenorm_matches_reference),
        cmocka_unit_test(reduce_every_axes_subset_matches_reference),
        cmocka_unit_test(reduce_int_types_and_empty_identity),
        cmocka_unit_test(reduce_axes_errors_and_load_time_shapes),
        cmocka_unit_test(argmax_ties_and_select_last_index),
        cmocka_unit_test(topk_ties_lower_index_first_and_k_checks),
        cmocka_unit_test(topk_large_matches_sort),
        cmocka_unit_test(resize_nearest_int64_and_linear_constant),
        cmocka_unit_test(resize_axes_sizes_policy_and_errors),
        cmocka_unit_test(upsample_opset7_scales_attribute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
