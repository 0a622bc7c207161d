/*
 * test_elementwise.c - the element-wise kernel family called directly
 * through struct axle_op: symbolic broadcast inference, the strided walker
 * against a naive reference, opset < 7 broadcast/axis, integer semantics
 * (division by zero, wrap-around, exact Pow), NaN rules, the AVX-512 math
 * kernels against the libm reference, Clip/Cast/Where/Dropout edge cases
 * and error paths; Mod by zero and INT_MIN % -1, Mod's two sign rules,
 * wide BitShifts, the libm-free rounding kernels, Mish's tails, NaN in the
 * new comparisons and activations, IsInf flags, CastLike.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "kernels/elementwise.h"
#include "kernel_fixture.h"

extern const struct axle_op axle_op_add, axle_op_sub, axle_op_div,
    axle_op_pow, axle_op_max, axle_op_min, axle_op_mean, axle_op_clip,
    axle_op_cast, axle_op_where, axle_op_dropout, axle_op_prelu,
    axle_op_equal, axle_op_relu, axle_op_not, axle_op_mod, axle_op_bit_shift,
    axle_op_greater_or_equal, axle_op_less_or_equal, axle_op_xor,
    axle_op_is_inf, axle_op_is_nan, axle_op_sign, axle_op_ceil,
    axle_op_round, axle_op_mish, axle_op_shrink, axle_op_cast_like;

/* ---- shapes ---- */

static void bcast_keeps_symbolic_dims(void **state)
{
    struct fx f;
    int64_t n = axle_dim_sym(0), m = axle_dim_sym(1);
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 3, (int64_t[]){n, 3, 1},
                                NULL);
    struct axle_tensor b = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){1, 4}, NULL);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Add", 14, 1);
    assert_int_equal(infer(&f, &axle_op_add, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.dtype, AXLE_DTYPE_FLOAT32);
    assert_int_equal(o.rank, 3);
    assert_int_equal(o.dims[0], n);
    assert_int_equal(o.dims[1], 3);
    assert_int_equal(o.dims[2], 4);

    /* N with N is N, N with M unknown, N with 5 is 5, unknown rank wins */
    a = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){n, n}, NULL);
    b = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){n, m}, NULL);
    assert_int_equal(infer(&f, &axle_op_add, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], n);
    assert_int_equal(o.dims[1], -1);
    b = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){5}, NULL);
    assert_int_equal(infer(&f, &axle_op_add, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], n);
    assert_int_equal(o.dims[1], 5);
    b.rank = -1;
    assert_int_equal(infer(&f, &axle_op_add, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, -1);
    fx_dispose(&f);
}

static void bcast_conflict_is_invalid_argument(void **state)
{
    struct fx f;
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){2, 3}, NULL);
    struct axle_tensor b = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){4}, NULL);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Add", 14, 1);
    assert_int_equal(infer(&f, &axle_op_add, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "cannot be broadcast"));
    /* mismatched dtypes */
    b = tens(AXLE_DTYPE_INT64, 1, (int64_t[]){3}, NULL);
    assert_int_equal(infer(&f, &axle_op_add, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    /* strings are not arithmetic */
    a.dtype = b.dtype = AXLE_DTYPE_STRING;
    assert_int_equal(infer(&f, &axle_op_add, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* The walker on awkward shapes against index arithmetic, on a pool. */
static void bcast_walker_matches_naive_reference(void **state)
{
    static const int64_t shapes[][2][4] = {
        {{2, 1, 3, 1}, {1, 4, 1, 5}},
        {{3, 4, 5, 6}, {1, 1, 1, 6}},
        {{3, 4, 5, 6}, {1, 4, 1, 1}},
        {{1, 1, 1, 1}, {7, 1, 3, 2}},
        {{5, 17, 1, 33}, {5, 1, 9, 33}},
    };
    (void)state;

    for (size_t c = 0; c < sizeof(shapes) / sizeof(shapes[0]); c++) {
        struct fx f;
        float *x, *y;
        int64_t na = 1, nb = 1;
        struct axle_tensor a, b, o;
        const struct axle_tensor *in[2] = {&a, &b};
        struct axle_tensor *out[1] = {&o};

        fx_init(&f, "Sub", 14, 1);
        assert_int_equal(axle_pool_new(2, &f.pool), AXLE_OK);
        for (int d = 0; d < 4; d++) {
            na *= shapes[c][0][d];
            nb *= shapes[c][1][d];
        }
        x = malloc(sizeof(float) * (size_t)na);
        y = malloc(sizeof(float) * (size_t)nb);
        for (int64_t i = 0; i < na; i++)
            x[i] = (float)(i * 3 + 1);
        for (int64_t i = 0; i < nb; i++)
            y[i] = (float)(i * 0.5);
        a = tens(AXLE_DTYPE_FLOAT32, 4, shapes[c][0], x);
        b = tens(AXLE_DTYPE_FLOAT32, 4, shapes[c][1], y);
        assert_int_equal(call(&f, &axle_op_sub, 2, in, 1, out), AXLE_OK);
        for (int64_t i0 = 0; i0 < o.dims[0]; i0++)
            for (int64_t i1 = 0; i1 < o.dims[1]; i1++)
                for (int64_t i2 = 0; i2 < o.dims[2]; i2++)
                    for (int64_t i3 = 0; i3 < o.dims[3]; i3++) {
                        int64_t idx[4] = {i0, i1, i2, i3}, oa = 0, ob = 0,
                                oo = 0;
                        for (int d = 0; d < 4; d++) {
                            oa = oa * a.dims[d] + (a.dims[d] == 1 ? 0 : idx[d]);
                            ob = ob * b.dims[d] + (b.dims[d] == 1 ? 0 : idx[d]);
                            oo = oo * o.dims[d] + idx[d];
                        }
                        assert_float_equal(((float *)o.data)[oo],
                                           x[oa] - y[ob], 0);
                    }
        free_out(&o);
        free(x);
        free(y);
        fx_dispose(&f);
    }
}

static void legacy_broadcast_uses_axis(void **state)
{
    struct fx f;
    float x[24], y[3] = {100, 200, 300};
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 3, (int64_t[]){2, 3, 4}, x);
    struct axle_tensor b = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){3}, y);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    fx_init(&f, "Add", 6, 1);
    attr_int(&f, "broadcast", 1);
    attr_int(&f, "axis", 1);
    assert_int_equal(call(&f, &axle_op_add, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 3);
    for (int i = 0; i < 24; i++)
        assert_float_equal(((float *)o.data)[i], x[i] + y[(i / 4) % 3], 0);
    free_out(&o);
    fx_dispose(&f);

    /* axis past the end of A */
    fx_init(&f, "Add", 6, 1);
    attr_int(&f, "broadcast", 1);
    attr_int(&f, "axis", 2);
    assert_int_equal(infer(&f, &axle_op_add, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    if (strstr(f.err.msg, "axis") == NULL)
        fail_msg("message: %s", f.err.msg);
    fx_dispose(&f);
}

/* ---- integers ---- */

static void int_div_by_zero_is_an_error(void **state)
{
    struct fx f;
    int32_t x[4] = {-7, 7, 1, 2}, y[4] = {2, -2, 0, 1};
    struct axle_tensor a = tens(AXLE_DTYPE_INT32, 1, (int64_t[]){4}, x);
    struct axle_tensor b = tens(AXLE_DTYPE_INT32, 1, (int64_t[]){4}, y);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Div", 14, 1);
    assert_int_equal(call(&f, &axle_op_div, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "division by zero"));
    free_out(&o);
    y[2] = 3;
    assert_int_equal(call(&f, &axle_op_div, 2, in, 1, out), AXLE_OK);
    assert_int_equal(((int32_t *)o.data)[0], -3); /* truncates */
    assert_int_equal(((int32_t *)o.data)[1], -3);
    assert_int_equal(((int32_t *)o.data)[2], 0);
    free_out(&o);
    fx_dispose(&f);
}

static void int_add_wraps_and_int_pow_is_exact(void **state)
{
    struct fx f;
    int32_t x[2] = {INT32_MAX, INT32_MIN}, y[2] = {1, -1};
    int64_t px[4] = {3, 2, -2, 3037000499}, py[4] = {3, -1, 3, 2};
    struct axle_tensor a = tens(AXLE_DTYPE_INT32, 1, (int64_t[]){2}, x);
    struct axle_tensor b = tens(AXLE_DTYPE_INT32, 1, (int64_t[]){2}, y);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Add", 14, 1);
    assert_int_equal(call(&f, &axle_op_add, 2, in, 1, out), AXLE_OK);
    assert_int_equal(((int32_t *)o.data)[0], INT32_MIN);
    assert_int_equal(((int32_t *)o.data)[1], INT32_MAX);
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "Pow", 15, 1);
    a = tens(AXLE_DTYPE_INT64, 1, (int64_t[]){4}, px);
    b = tens(AXLE_DTYPE_INT64, 1, (int64_t[]){4}, py);
    assert_int_equal(call(&f, &axle_op_pow, 2, in, 1, out), AXLE_OK);
    assert_int_equal(((int64_t *)o.data)[0], 27);
    assert_int_equal(((int64_t *)o.data)[1], 0);
    assert_int_equal(((int64_t *)o.data)[2], -8);
    assert_int_equal(((int64_t *)o.data)[3], 3037000499LL * 3037000499LL);
    free_out(&o);
    fx_dispose(&f);
}

/* ---- floats ---- */

static void min_max_propagate_nan(void **state)
{
    struct fx f;
    float x[40], y[40];
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){40}, x);
    struct axle_tensor b = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){40}, y);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    for (int i = 0; i < 40; i++) {
        x[i] = (float)i;
        y[i] = (float)(40 - i);
    }
    x[3] = NAN;  /* first operand NaN */
    y[21] = NAN; /* second operand NaN, in the vector body */
    y[38] = NAN; /* in the tail */
    for (int which = 0; which < 2; which++) {
        fx_init(&f, which ? "Max" : "Min", 13, 1);
        assert_int_equal(call(&f, which ? &axle_op_max : &axle_op_min, 2, in,
                              1, out), AXLE_OK);
        for (int i = 0; i < 40; i++) {
            float v = ((float *)o.data)[i];
            if (i == 3 || i == 21 || i == 38)
                assert_true(isnan(v));
            else
                assert_float_equal(v, which ? fmaxf(x[i], y[i])
                                            : fminf(x[i], y[i]), 0);
        }
        free_out(&o);
        fx_dispose(&f);
    }
}

static bool close_enough(float got, float want)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabsf(got - want) <= 2e-6f + 4e-6f * fabsf(want);
}

/* The vector kernels against the libm reference over a dense sweep plus
 * specials; this is what makes the AVX-512 math trustworthy. */
static void vector_kernels_match_reference(void **state)
{
    const struct axle_ew_f32_ops *v = axle_ew_f32(), *r = axle_ew_f32_ref();
    struct axle_ew_params p = {0.7f, 0.3f, 1.2f};
    enum { N = 20000 };
    float *x = malloc(sizeof(float) * N), *a = malloc(sizeof(float) * N),
          *b = malloc(sizeof(float) * N);
    static const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-40f,
                                      1e-7f, -1e-5f, 0.29999f, 0.3f, 0.35f,
                                      0.5f, -0.5f, 1.0f, 88.0f, 89.0f, -88.0f,
                                      -104.0f, 200.0f, -200.0f, 3e38f};
    size_t ns = sizeof(specials) / sizeof(specials[0]);
    (void)state;

    /* On an AVX-512 machine this compares two different implementations. */
    if (axle_cpu_get()->isa == AXLE_ISA_AVX512)
        assert_ptr_not_equal(v->un[AXLE_EW_EXP], r->un[AXLE_EW_EXP]);

    for (int i = 0; i < N; i++)
        x[i] = -25.0f + 50.0f * (float)i / N;
    for (size_t i = 0; i < ns; i++)
        x[i * 7] = specials[i];
    x[5] = NAN;
    x[6] = INFINITY;
    x[8] = -INFINITY;
    x[9] = 1e-3f;
    for (int op = 0; op < AXLE_EW_N_UN; op++) {
        p.alpha = op == AXLE_EW_CLIP ? -2.0f : 0.7f;
        p.beta = op == AXLE_EW_CLIP ? 3.0f : 0.3f;
        /* odd lengths exercise the masked tails */
        v->un[op](a, x, N - 3, &p);
        r->un[op](b, x, N - 3, &p);
        for (int i = 0; i < N - 3; i++) {
            float want = b[i];
            if ((op == AXLE_EW_LOG || op == AXLE_EW_SQRT) && x[i] < 0)
                want = NAN;
            if (!close_enough(a[i], want))
                fail_msg("op %d x=%.9g: got %.9g want %.9g", op, x[i], a[i],
                         want);
        }
    }
    /* log over positive magnitudes, including subnormals */
    for (int i = 0; i < N; i++)
        x[i] = ldexpf(1.0f + (float)(i % 97) / 97.0f, (i % 300) - 149);
    v->un[AXLE_EW_LOG](a, x, N, &p);
    r->un[AXLE_EW_LOG](b, x, N, &p);
    for (int i = 0; i < N; i++)
        if (!close_enough(a[i], b[i]))
            fail_msg("log x=%.9g: got %.9g want %.9g", x[i], a[i], b[i]);
    /* binary ops, all step patterns */
    for (int op = 0; op < AXLE_EW_N_BIN; op++) {
        for (int s = 0; s < 4; s++) {
            int64_t sa = s & 1, sb = s >> 1;
            for (int i = 0; i < 100; i++)
                x[i] = (float)(i - 50) * 0.37f;
            v->bin[op](a, x, sa, x + 50, sb, 37);
            r->bin[op](b, x, sa, x + 50, sb, 37);
            for (int i = 0; i < 37; i++)
                if (!close_enough(a[i], b[i]))
                    fail_msg("bin %d steps %d: %g vs %g", op, s, a[i], b[i]);
        }
    }
    free(x);
    free(a);
    free(b);
}

static void relu_passes_nan_and_handles_half(void **state)
{
    struct fx f;
    uint16_t h[3] = {axle_f32_to_f16(-1.5f), axle_f32_to_f16(2.5f),
                     axle_f32_to_f16(NAN)};
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT16, 1, (int64_t[]){3}, h);
    struct axle_tensor o;
    const struct axle_tensor *in[1] = {&x};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Relu", 14, 1);
    assert_int_equal(call(&f, &axle_op_relu, 1, in, 1, out), AXLE_OK);
    assert_float_equal(axle_f16_to_f32(((uint16_t *)o.data)[0]), 0, 0);
    assert_float_equal(axle_f16_to_f32(((uint16_t *)o.data)[1]), 2.5, 0);
    assert_true(isnan(axle_f16_to_f32(((uint16_t *)o.data)[2])));
    free_out(&o);
    /* bool input is rejected */
    x.dtype = AXLE_DTYPE_BOOL;
    assert_int_equal(infer(&f, &axle_op_relu, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- Clip ---- */

static void clip_bounds_by_version(void **state)
{
    struct fx f;
    int8_t xi[4] = {-128, -5, 5, 127}, lo = -10, hi = 10;
    float xf[3] = {-5.0f, 0.5f, 5.0f}, lohi[2] = {0, 1};
    struct axle_tensor x = tens(AXLE_DTYPE_INT8, 1, (int64_t[]){4}, xi);
    struct axle_tensor mn = tens(AXLE_DTYPE_INT8, 0, NULL, &lo);
    struct axle_tensor mx = tens(AXLE_DTYPE_INT8, 0, NULL, &hi);
    struct axle_tensor o;
    const struct axle_tensor *in[3] = {&x, &mn, &mx};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Clip", 13, 1);
    assert_int_equal(call(&f, &axle_op_clip, 3, in, 1, out), AXLE_OK);
    assert_int_equal(((int8_t *)o.data)[0], -10);
    assert_int_equal(((int8_t *)o.data)[1], -5);
    assert_int_equal(((int8_t *)o.data)[3], 10);
    free_out(&o);
    /* max omitted: only the lower bound */
    in[2] = NULL;
    assert_int_equal(call(&f, &axle_op_clip, 3, in, 1, out), AXLE_OK);
    assert_int_equal(((int8_t *)o.data)[3], 127);
    free_out(&o);
    /* a non-scalar bound */
    mn = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){2}, lohi);
    x = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){3}, xf);
    assert_int_equal(infer(&f, &axle_op_clip, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* Clip-6: attributes */
    fx_init(&f, "Clip", 6, 1);
    attr_float(&f, "min", -1.0f);
    attr_float(&f, "max", 1.0f);
    assert_int_equal(call(&f, &axle_op_clip, 1, in, 1, out), AXLE_OK);
    assert_float_equal(((float *)o.data)[0], -1.0f, 0);
    assert_float_equal(((float *)o.data)[1], 0.5f, 0);
    assert_float_equal(((float *)o.data)[2], 1.0f, 0);
    free_out(&o);
    fx_dispose(&f);
}

/* ---- Cast ---- */

static void cast_float_to_string_prints_like_numpy(void **state)
{
    struct fx f;
    float x[9] = {0.1f, 1e-5f, 123.0f, 1e16f, NAN, -INFINITY, -0.0f,
                  0.039187793f, 123456789.0f};
    static const char *const want[9] = {"0.1", "1e-05", "123.0", "1e+16",
                                        "NaN", "-INF", "-0.0", "0.039187793",
                                        "123456790.0"};
    struct axle_tensor t = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){9}, x);
    struct axle_tensor o;
    const struct axle_tensor *in[1] = {&t};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Cast", 13, 1);
    attr_int(&f, "to", AXLE_DTYPE_STRING);
    assert_int_equal(call(&f, &axle_op_cast, 1, in, 1, out), AXLE_OK);
    for (int i = 0; i < 9; i++)
        assert_string_equal(((char **)o.data)[i], want[i]);
    free_out(&o);
    fx_dispose(&f);
}

static void cast_string_parses_specials_and_rejects_garbage(void **state)
{
    struct fx f;
    char *s[6] = {"NaN", "+INF", "-inf", "1E8", " 2.5 ", "-3"};
    struct axle_tensor t = tens(AXLE_DTYPE_STRING, 1, (int64_t[]){6}, s);
    struct axle_tensor o;
    const struct axle_tensor *in[1] = {&t};
    struct axle_tensor *out[1] = {&o};
    float *v;
    (void)state;

    fx_init(&f, "Cast", 13, 1);
    attr_int(&f, "to", AXLE_DTYPE_FLOAT32);
    assert_int_equal(call(&f, &axle_op_cast, 1, in, 1, out), AXLE_OK);
    v = o.data;
    assert_true(isnan(v[0]));
    assert_true(isinf(v[1]) && v[1] > 0);
    assert_true(isinf(v[2]) && v[2] < 0);
    assert_float_equal(v[3], 1e8f, 0);
    assert_float_equal(v[4], 2.5f, 0);
    assert_float_equal(v[5], -3.0f, 0);
    free_out(&o);
    s[1] = "Hello";
    assert_int_equal(call(&f, &axle_op_cast, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "Hello"));
    free_out(&o);
    fx_dispose(&f);
}

static void cast_numeric_pairs(void **state)
{
    struct fx f;
    float x[5] = {1.5f, -2.7f, NAN, 3e10f, -1.0f};
    double d[1] = {1.0 + 0x1p-11 + 0x1p-40}; /* just above an f16 tie */
    struct axle_tensor t = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){5}, x);
    struct axle_tensor o;
    const struct axle_tensor *in[1] = {&t};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    /* float -> int32 truncates; NaN and overflow do not crash */
    fx_init(&f, "Cast", 13, 1);
    attr_int(&f, "to", AXLE_DTYPE_INT32);
    assert_int_equal(call(&f, &axle_op_cast, 1, in, 1, out), AXLE_OK);
    assert_int_equal(((int32_t *)o.data)[0], 1);
    assert_int_equal(((int32_t *)o.data)[1], -2);
    assert_int_equal(((int32_t *)o.data)[2], 0);
    free_out(&o);
    fx_dispose(&f);

    /* Cast-1 takes the type by name; float -> bfloat16 truncates (ONNX
     * reference data) */
    fx_init(&f, "Cast", 1, 1);
    attr_str(&f, "to", "BFLOAT16");
    assert_int_equal(call(&f, &axle_op_cast, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.dtype, AXLE_DTYPE_BFLOAT16);
    assert_float_equal(axle_bf16_to_f32(((uint16_t *)o.data)[0]), 1.5f, 0);
    assert_float_equal(axle_bf16_to_f32(((uint16_t *)o.data)[1]), -2.6875f,
                       0);
    assert_true(isnan(axle_bf16_to_f32(((uint16_t *)o.data)[2])));
    assert_float_equal(axle_bf16_to_f32(((uint16_t *)o.data)[4]), -1.0f, 0);
    free_out(&o);
    fx_dispose(&f);

    /* double -> float16 rounds once: above the tie goes up */
    fx_init(&f, "Cast", 13, 1);
    attr_int(&f, "to", AXLE_DTYPE_FLOAT16);
    t = tens(AXLE_DTYPE_FLOAT64, 1, (int64_t[]){1}, d);
    assert_int_equal(call(&f, &axle_op_cast, 1, in, 1, out), AXLE_OK);
    assert_float_equal(axle_f16_to_f32(((uint16_t *)o.data)[0]),
                       1.0f + 0x1p-10f, 0);
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "Cast", 13, 1);
    attr_int(&f, "to", 99);
    assert_int_equal(infer(&f, &axle_op_cast, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- Where, Dropout, Equal ---- */

static void where_broadcasts_and_copies_strings(void **state)
{
    struct fx f;
    uint8_t c[2] = {1, 0};
    char *xs[1] = {"yes"}, *ys[2] = {"no0", "no1"};
    struct axle_tensor cd = tens(AXLE_DTYPE_BOOL, 2, (int64_t[]){2, 1}, c);
    struct axle_tensor x = tens(AXLE_DTYPE_STRING, 0, NULL, xs);
    struct axle_tensor y = tens(AXLE_DTYPE_STRING, 1, (int64_t[]){2}, ys);
    struct axle_tensor o;
    const struct axle_tensor *in[3] = {&cd, &x, &y};
    struct axle_tensor *out[1] = {&o};
    char **r;
    (void)state;

    fx_init(&f, "Where", 16, 1);
    assert_int_equal(call(&f, &axle_op_where, 3, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    r = o.data;
    assert_string_equal(r[0], "yes");
    assert_string_equal(r[1], "yes");
    assert_string_equal(r[2], "no0");
    assert_string_equal(r[3], "no1");
    assert_ptr_not_equal(r[0], xs[0]);
    free_out(&o);
    cd.dtype = AXLE_DTYPE_INT32;
    assert_int_equal(infer(&f, &axle_op_where, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void dropout_inference_copies_and_checks_ratio(void **state)
{
    struct fx f;
    float x[3] = {1, 2, 3}, ratio = 1.5f;
    uint8_t train = 1;
    struct axle_tensor t = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){3}, x);
    struct axle_tensor r = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &ratio);
    struct axle_tensor tm = tens(AXLE_DTYPE_BOOL, 0, NULL, &train);
    struct axle_tensor o, m;
    const struct axle_tensor *in[3] = {&t, &r, &tm};
    struct axle_tensor *out[2] = {&o, &m};
    (void)state;

    fx_init(&f, "Dropout", 13, 1);
    assert_int_equal(call(&f, &axle_op_dropout, 1, in, 2, out), AXLE_OK);
    assert_memory_equal(o.data, x, sizeof(x));
    assert_int_equal(m.dtype, AXLE_DTYPE_BOOL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(((uint8_t *)m.data)[i], 1);
    free_out(&o);
    free_out(&m);
    assert_int_equal(call(&f, &axle_op_dropout, 3, in, 2, out),
                     AXLE_INVALID_ARGUMENT);
    free_out(&o);
    free_out(&m);
    fx_dispose(&f);
}

static void equal_and_not_check_types(void **state)
{
    struct fx f;
    int64_t x[3] = {1, 2, 3}, y[1] = {2};
    struct axle_tensor a = tens(AXLE_DTYPE_INT64, 1, (int64_t[]){3}, x);
    struct axle_tensor b = tens(AXLE_DTYPE_INT64, 1, (int64_t[]){1}, y);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Equal", 13, 1);
    assert_int_equal(call(&f, &axle_op_equal, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.dtype, AXLE_DTYPE_BOOL);
    assert_int_equal(((uint8_t *)o.data)[0], 0);
    assert_int_equal(((uint8_t *)o.data)[1], 1);
    free_out(&o);
    fx_dispose(&f);
    fx_init(&f, "Not", 1, 1);
    assert_int_equal(infer(&f, &axle_op_not, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void mean_and_prelu(void **state)
{
    struct fx f;
    float x[4] = {1, -2, 3, -4}, y[2] = {3, 4}, s[2] = {0.5f, 0.25f};
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){2, 2}, x);
    struct axle_tensor b = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){2}, y);
    struct axle_tensor o;
    const struct axle_tensor *in[3] = {&a, &b, &a};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Mean", 13, 1);
    assert_int_equal(call(&f, &axle_op_mean, 3, in, 1, out), AXLE_OK);
    assert_float_equal(((float *)o.data)[0], (1 + 3 + 1) / 3.0f, 1e-6);
    assert_float_equal(((float *)o.data)[3], (-4 + 4 - 4) / 3.0f, 1e-6);
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "PRelu", 16, 1);
    b = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){2}, s);
    assert_int_equal(call(&f, &axle_op_prelu, 2, in, 1, out), AXLE_OK);
    assert_float_equal(((float *)o.data)[1], -0.5f, 0);
    assert_float_equal(((float *)o.data)[2], 3.0f, 0);
    assert_float_equal(((float *)o.data)[3], -1.0f, 0);
    free_out(&o);
    /* slope may not be bigger than X */
    b = tens(AXLE_DTYPE_FLOAT32, 3, (int64_t[]){1, 2, 2}, NULL);
    assert_int_equal(infer(&f, &axle_op_prelu, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- Mod, BitShift ---- */

static void mod_int_by_zero_is_an_error_and_int_min_by_minus_one_is_zero(
    void **state)
{
    struct fx f;
    int32_t x[6] = {-7, 7, -7, 7, INT32_MIN, 5}, y[6] = {3, -3, -3, 3, -1, 0};
    int64_t lx[2] = {INT64_MIN, INT64_MIN}, ly[2] = {-1, 7};
    uint64_t ux[2] = {UINT64_MAX, 1}, uy[2] = {10, UINT64_MAX};
    uint8_t bx[1] = {9}, by[1] = {0};
    struct axle_tensor a = tens(AXLE_DTYPE_INT32, 1, I64(6), x);
    struct axle_tensor b = tens(AXLE_DTYPE_INT32, 1, I64(6), y);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    static const int32_t py[5] = {2, -2, -1, 1, 0}, cy[5] = {-1, 1, -1, 1, 0};
    (void)state;

    for (int fm = 0; fm < 2; fm++) {
        fx_init(&f, "Mod", 13, 1);
        attr_int(&f, "fmod", fm);
        a.dims[0] = b.dims[0] = 6;
        assert_int_equal(call(&f, &axle_op_mod, 2, in, 1, out),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(f.err.msg, "division by zero"));
        free_out(&o);
        a.dims[0] = b.dims[0] = 5;
        assert_int_equal(call(&f, &axle_op_mod, 2, in, 1, out), AXLE_OK);
        for (int i = 0; i < 5; i++)
            assert_int_equal(((int32_t *)o.data)[i], fm ? cy[i] : py[i]);
        free_out(&o);

        /* int64: the one pair that traps in C */
        a = tens(AXLE_DTYPE_INT64, 1, I64(2), lx);
        b = tens(AXLE_DTYPE_INT64, 1, I64(2), ly);
        assert_int_equal(call(&f, &axle_op_mod, 2, in, 1, out), AXLE_OK);
        assert_int_equal(((int64_t *)o.data)[0], 0);
        /* -2^63 = -1317624576693539402 * 7 - 2 */
        assert_int_equal(((int64_t *)o.data)[1], fm ? -1 : 6);
        free_out(&o);

        /* uint64 above INT64_MAX is unsigned, both modes alike */
        a = tens(AXLE_DTYPE_UINT64, 1, I64(2), ux);
        b = tens(AXLE_DTYPE_UINT64, 1, I64(2), uy);
        assert_int_equal(call(&f, &axle_op_mod, 2, in, 1, out), AXLE_OK);
        assert_true(((uint64_t *)o.data)[0] == 5);
        assert_true(((uint64_t *)o.data)[1] == 1);
        free_out(&o);

        a = tens(AXLE_DTYPE_UINT8, 1, I64(1), bx);
        b = tens(AXLE_DTYPE_UINT8, 1, I64(1), by);
        assert_int_equal(call(&f, &axle_op_mod, 2, in, 1, out),
                         AXLE_INVALID_ARGUMENT);
        free_out(&o);
        a = tens(AXLE_DTYPE_INT32, 1, I64(6), x);
        b = tens(AXLE_DTYPE_INT32, 1, I64(6), y);
        fx_dispose(&f);
    }

    fx_init(&f, "Mod", 13, 1);
    attr_int(&f, "fmod", 2);
    assert_int_equal(infer(&f, &axle_op_mod, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void mod_float_follows_fmod_or_numpy_sign_rule(void **state)
{
    struct fx f;
    float x[5] = {-7.5f, 7.5f, -4.0f, 4.0f, 1.0f};
    float y[5] = {2.0f, -2.0f, 2.0f, -2.0f, 0.0f};
    double dx[2] = {-7.5, 5.5}, dy[2] = {2.0, -3.0};
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 1, I64(5), x);
    struct axle_tensor b = tens(AXLE_DTYPE_FLOAT32, 1, I64(5), y);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    float *r;
    (void)state;

    fx_init(&f, "Mod", 13, 1);
    attr_int(&f, "fmod", 1);
    assert_int_equal(call(&f, &axle_op_mod, 2, in, 1, out), AXLE_OK);
    r = o.data;
    assert_true(r[0] == -1.5f && r[1] == 1.5f);
    assert_true(r[2] == 0.0f && signbit(r[2])); /* dividend's sign */
    assert_true(r[3] == 0.0f && !signbit(r[3]));
    assert_true(isnan(r[4]));
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "Mod", 13, 1); /* fmod=0 on floats: numpy's mod */
    assert_int_equal(call(&f, &axle_op_mod, 2, in, 1, out), AXLE_OK);
    r = o.data;
    assert_true(r[0] == 0.5f && r[1] == -0.5f);
    assert_true(r[2] == 0.0f && !signbit(r[2])); /* divisor's sign */
    assert_true(r[3] == 0.0f && signbit(r[3]));
    assert_true(isnan(r[4]));
    free_out(&o);
    a = tens(AXLE_DTYPE_FLOAT64, 1, I64(2), dx);
    b = tens(AXLE_DTYPE_FLOAT64, 1, I64(2), dy);
    assert_int_equal(call(&f, &axle_op_mod, 2, in, 1, out), AXLE_OK);
    assert_true(((double *)o.data)[0] == 0.5);
    assert_true(((double *)o.data)[1] == -0.5);
    free_out(&o);
    fx_dispose(&f);
}

static void bitshift_by_width_or_more_is_zero(void **state)
{
    struct fx f;
    uint8_t x8[4] = {1, 255, 3, 200}, y8[4] = {7, 8, 200, 1};
    uint64_t x64[3] = {(uint64_t)1 << 63, 5, UINT64_MAX}, y64[1] = {63};
    uint64_t z64[3] = {64, 65, 1};
    struct axle_tensor a = tens(AXLE_DTYPE_UINT8, 1, I64(4), x8);
    struct axle_tensor b = tens(AXLE_DTYPE_UINT8, 1, I64(4), y8);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    int32_t ix[1] = {1};
    (void)state;

    fx_init(&f, "BitShift", 11, 1);
    attr_str(&f, "direction", "LEFT");
    assert_int_equal(call(&f, &axle_op_bit_shift, 2, in, 1, out), AXLE_OK);
    assert_int_equal(((uint8_t *)o.data)[0], 128);
    assert_int_equal(((uint8_t *)o.data)[1], 0);
    assert_int_equal(((uint8_t *)o.data)[2], 0);
    assert_int_equal(((uint8_t *)o.data)[3], 144); /* wraps to 8 bits */
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "BitShift", 11, 1);
    attr_str(&f, "direction", "RIGHT");
    a = tens(AXLE_DTYPE_UINT64, 1, I64(3), x64);
    b = tens(AXLE_DTYPE_UINT64, 1, I64(1), y64); /* broadcast */
    assert_int_equal(call(&f, &axle_op_bit_shift, 2, in, 1, out), AXLE_OK);
    assert_true(((uint64_t *)o.data)[0] == 1);
    assert_true(((uint64_t *)o.data)[1] == 0);
    assert_true(((uint64_t *)o.data)[2] == 1);
    free_out(&o);
    b = tens(AXLE_DTYPE_UINT64, 1, I64(3), z64);
    assert_int_equal(call(&f, &axle_op_bit_shift, 2, in, 1, out), AXLE_OK);
    assert_true(((uint64_t *)o.data)[0] == 0);
    assert_true(((uint64_t *)o.data)[1] == 0);
    assert_true(((uint64_t *)o.data)[2] == UINT64_MAX >> 1);
    free_out(&o);
    a = tens(AXLE_DTYPE_INT32, 1, I64(1), ix);
    b = tens(AXLE_DTYPE_INT32, 1, I64(1), ix);
    assert_int_equal(infer(&f, &axle_op_bit_shift, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "unsigned"));
    fx_dispose(&f);

    fx_init(&f, "BitShift", 11, 1); /* direction is required */
    assert_int_equal(infer(&f, &axle_op_bit_shift, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    attr_str(&f, "direction", "left");
    assert_int_equal(infer(&f, &axle_op_bit_shift, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- rounding, Sign, activations ---- */

static bool same_float(float got, float want)
{
    if (isnan(want))
        return isnan(got);
    return got == want && signbit(got) == signbit(want);
}

/* Ceil/Floor/Round avoid libm; check them bit for bit (sign of zero too)
 * over halves, the 2^23/2^24 boundaries and random bit patterns. */
static void rounding_kernels_match_libm(void **state)
{
    const struct axle_ew_f32_ops *r = axle_ew_f32_ref();
    struct axle_ew_params p = {0, 0, 0};
    enum { N = 60000 };
    float *x = malloc(sizeof(float) * N), *o = malloc(sizeof(float) * N);
    uint32_t seed = 12345;
    int n = 0;
    (void)state;

    for (int k = -8000; k <= 8000; k++)
        x[n++] = (float)k * 0.25f;
    for (int k = -200; k <= 200; k++) {
        x[n++] = 8388608.0f + (float)k * 0.5f;
        x[n++] = -8388608.0f + (float)k * 0.5f;
        x[n++] = 16777216.0f + (float)k * 2.0f;
        x[n++] = nextafterf((float)k + 0.5f, 0.0f);
        x[n++] = nextafterf((float)k + 0.5f, 1e9f);
    }
    x[n++] = -0.0f;
    x[n++] = INFINITY;
    x[n++] = -INFINITY;
    x[n++] = NAN;
    x[n++] = 3e38f;
    x[n++] = 1e-40f;
    x[n++] = -1e-40f;
    while (n < N) {
        uint32_t bits;
        seed = seed * 1664525u + 1013904223u;
        bits = seed;
        memcpy(&x[n++], &bits, 4);
    }
    r->un[AXLE_EW_FLOOR](o, x, N, &p);
    for (int i = 0; i < N; i++)
        if (!same_float(o[i], floorf(x[i])))
            fail_msg("floor(%.9g) = %.9g", x[i], o[i]);
    r->un[AXLE_EW_CEIL](o, x, N, &p);
    for (int i = 0; i < N; i++)
        if (!same_float(o[i], ceilf(x[i])))
            fail_msg("ceil(%.9g) = %.9g", x[i], o[i]);
    r->un[AXLE_EW_ROUND](o, x, N, &p);
    for (int i = 0; i < N; i++)
        if (!same_float(o[i], nearbyintf(x[i])))
            fail_msg("round(%.9g) = %.9g", x[i], o[i]);
    free(x);
    free(o);
}

static void sign_ceil_round_of_integers_are_exact(void **state)
{
    struct fx f;
    int64_t x[4] = {INT64_MIN, 0, INT64_MAX, 9007199254740993};
    uint8_t u[2] = {0, 200};
    double d[4] = {2.5, -2.5, -0.4, NAN};
    struct axle_tensor a = tens(AXLE_DTYPE_INT64, 1, I64(4), x);
    struct axle_tensor o;
    const struct axle_tensor *in[1] = {&a};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Sign", 13, 1);
    assert_int_equal(call(&f, &axle_op_sign, 1, in, 1, out), AXLE_OK);
    assert_int_equal(((int64_t *)o.data)[0], -1);
    assert_int_equal(((int64_t *)o.data)[1], 0);
    assert_int_equal(((int64_t *)o.data)[2], 1);
    free_out(&o);
    a = tens(AXLE_DTYPE_UINT8, 1, I64(2), u);
    assert_int_equal(call(&f, &axle_op_sign, 1, in, 1, out), AXLE_OK);
    assert_int_equal(((uint8_t *)o.data)[0], 0);
    assert_int_equal(((uint8_t *)o.data)[1], 1);
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "Ceil", 13, 1);
    a = tens(AXLE_DTYPE_INT64, 1, I64(4), x);
    assert_int_equal(call(&f, &axle_op_ceil, 1, in, 1, out), AXLE_OK);
    assert_memory_equal(o.data, x, sizeof(x)); /* 2^53 + 1 survives */
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "Round", 11, 1);
    a = tens(AXLE_DTYPE_FLOAT64, 1, I64(4), d);
    assert_int_equal(call(&f, &axle_op_round, 1, in, 1, out), AXLE_OK);
    assert_true(((double *)o.data)[0] == 2.0);
    assert_true(((double *)o.data)[1] == -2.0);
    assert_true(((double *)o.data)[2] == 0.0);
    assert_true(signbit(((double *)o.data)[2]));
    assert_true(isnan(((double *)o.data)[3]));
    free_out(&o);
    fx_dispose(&f);
}

/* Mish has no ONNX 1.12 case: check it against x*tanh(log1p(exp(x))) in
 * double, in float32, float16 and float64, including both tails. */
static void mish_matches_definition_and_tails(void **state)
{
    const struct axle_ew_f32_ops *r = axle_ew_f32_ref();
    struct axle_ew_params p = {0, 0, 0};
    enum { N = 4001 };
    float x[N], o[N];
    double dx[4] = {-INFINITY, INFINITY, NAN, -1.5};
    uint16_t h[2] = {axle_f32_to_f16(-1.0f), axle_f32_to_f16(3.0f)};
    struct fx f;
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT64, 1, I64(4), dx);
    struct axle_tensor t;
    const struct axle_tensor *in[1] = {&a};
    struct axle_tensor *out[1] = {&t};
    (void)state;

    for (int i = 0; i < N; i++)
        x[i] = -120.0f + 0.06f * (float)i;
    r->un[AXLE_EW_MISH](o, x, N, &p);
    for (int i = 0; i < N; i++) {
        double v = x[i], want = v * tanh(log1p(exp(v)));
        if (!(fabs(o[i] - want) <= 1e-37 + 3e-7 * fabs(want)))
            fail_msg("mish(%.9g) = %.9g want %.9g", x[i], o[i], want);
    }
    x[0] = -INFINITY;
    x[1] = INFINITY;
    x[2] = NAN;
    r->un[AXLE_EW_MISH](o, x, 3, &p);
    assert_true(o[0] == 0.0f);
    assert_true(o[1] == INFINITY);
    assert_true(isnan(o[2]));

    fx_init(&f, "Mish", 18, 1);
    assert_int_equal(call(&f, &axle_op_mish, 1, in, 1, out), AXLE_OK);
    assert_true(((double *)t.data)[0] == 0.0);
    assert_true(((double *)t.data)[1] == INFINITY);
    assert_true(isnan(((double *)t.data)[2]));
    near(((double *)t.data)[3], -1.5 * tanh(log1p(exp(-1.5))), 1e-15);
    free_out(&t);
    a = tens(AXLE_DTYPE_FLOAT16, 1, I64(2), h);
    assert_int_equal(call(&f, &axle_op_mish, 1, in, 1, out), AXLE_OK);
    near(axle_f16_to_f32(((uint16_t *)t.data)[0]), -0.30340147, 1e-3);
    near(axle_f16_to_f32(((uint16_t *)t.data)[1]), 2.98652822, 1e-3);
    free_out(&t);
    fx_dispose(&f);
}

/* NaN rules and defaults of the new activations (row kernels and the
 * double path agree). */
static void activation_nan_rules_and_shrink_attrs(void **state)
{
    const struct axle_ew_f32_ops *r = axle_ew_f32_ref();
    struct axle_ew_params p = {1.0f, 0.0f, 0.0f};
    float x[5] = {NAN, 1.0f, 1.5f, -INFINITY, -2.0f}, o[5];
    float sx[5] = {-2.0f, -0.5f, 0.5f, 2.0f, NAN};
    struct fx f;
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 1, I64(5), sx);
    struct axle_tensor t;
    const struct axle_tensor *in[1] = {&a};
    struct axle_tensor *out[1] = {&t};
    (void)state;

    r->un[AXLE_EW_THRESHOLDED_RELU](o, x, 5, &p); /* x > alpha ? x : 0 */
    assert_true(isnan(o[0]));
    assert_true(o[1] == 0.0f && o[2] == 1.5f && o[3] == 0.0f);
    assert_true(isnan(axle_ew_un_f64(AXLE_EW_THRESHOLDED_RELU, NAN, &p)));
    r->un[AXLE_EW_SIGN](o, x, 5, &p);
    assert_true(isnan(o[0]) && o[1] == 1.0f && o[3] == -1.0f);
    r->un[AXLE_EW_CELU](o, x, 5, &p);
    assert_true(isnan(o[0]) && o[1] == 1.0f && o[3] == -1.0f);
    near(o[4], expm1(-2.0), 1e-6);
    r->un[AXLE_EW_SOFTSIGN](o, x, 5, &p);
    assert_true(o[1] == 0.5f);
    near(o[4], -2.0 / 3.0, 1e-6);

    fx_init(&f, "Shrink", 9, 1); /* defaults lambd 0.5, bias 0 */
    assert_int_equal(call(&f, &axle_op_shrink, 1, in, 1, out), AXLE_OK);
    assert_true(((float *)t.data)[0] == -2.0f);
    assert_true(((float *)t.data)[1] == 0.0f);
    assert_true(((float *)t.data)[2] == 0.0f);
    assert_true(((float *)t.data)[3] == 2.0f);
    assert_true(((float *)t.data)[4] == 0.0f); /* NaN gives 0 */
    free_out(&t);
    attr_float(&f, "lambd", 1.0f);
    attr_float(&f, "bias", 0.25f);
    assert_int_equal(call(&f, &axle_op_shrink, 1, in, 1, out), AXLE_OK);
    assert_true(((float *)t.data)[0] == -1.75f);
    assert_true(((float *)t.data)[1] == 0.0f);
    assert_true(((float *)t.data)[3] == 1.75f);
    free_out(&t);
    fx_dispose(&f);
}

/* ---- comparisons, IsInf/IsNaN, CastLike ---- */

static void or_equal_comparisons_nan_unsigned_and_xor(void **state)
{
    struct fx f;
    float x[3] = {1.0f, NAN, 2.0f}, y[3] = {1.0f, NAN, 3.0f};
    uint64_t ux[2] = {UINT64_MAX, 1}, uy[2] = {1, 1};
    uint8_t bx[4] = {0, 1, 0, 1}, by[2] = {0, 1};
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), x);
    struct axle_tensor b = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), y);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    uint8_t *r;
    (void)state;

    fx_init(&f, "GreaterOrEqual", 16, 1);
    assert_int_equal(call(&f, &axle_op_greater_or_equal, 2, in, 1, out),
                     AXLE_OK);
    assert_int_equal(o.dtype, AXLE_DTYPE_BOOL);
    r = o.data;
    assert_true(r[0] == 1 && r[1] == 0 && r[2] == 0);
    free_out(&o);
    a = tens(AXLE_DTYPE_UINT64, 1, I64(2), ux);
    b = tens(AXLE_DTYPE_UINT64, 1, I64(2), uy);
    assert_int_equal(call(&f, &axle_op_greater_or_equal, 2, in, 1, out),
                     AXLE_OK);
    r = o.data;
    assert_true(r[0] == 1 && r[1] == 1); /* 2^64-1 is not -1 */
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "LessOrEqual", 16, 1);
    assert_int_equal(call(&f, &axle_op_less_or_equal, 2, in, 1, out),
                     AXLE_OK);
    r = o.data;
    assert_true(r[0] == 0 && r[1] == 1);
    free_out(&o);
    a = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), x);
    b = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), y);
    assert_int_equal(call(&f, &axle_op_less_or_equal, 2, in, 1, out),
                     AXLE_OK);
    r = o.data;
    assert_true(r[0] == 1 && r[1] == 0 && r[2] == 1);
    free_out(&o);
    a = tens(AXLE_DTYPE_BOOL, 1, I64(2), by);
    b = tens(AXLE_DTYPE_BOOL, 1, I64(2), by);
    assert_int_equal(infer(&f, &axle_op_less_or_equal, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Xor", 7, 1);
    a = tens(AXLE_DTYPE_BOOL, 2, I64(2, 2), bx);
    b = tens(AXLE_DTYPE_BOOL, 1, I64(2), by);
    assert_int_equal(call(&f, &axle_op_xor, 2, in, 1, out), AXLE_OK);
    r = o.data;
    assert_true(r[0] == 0 && r[1] == 0 && r[2] == 0 && r[3] == 0);
    free_out(&o);
    b = tens(AXLE_DTYPE_BOOL, 2, I64(2, 1), by); /* [[0],[1]] */
    assert_int_equal(call(&f, &axle_op_xor, 2, in, 1, out), AXLE_OK);
    r = o.data;
    assert_true(r[0] == 0 && r[1] == 1 && r[2] == 1 && r[3] == 0);
    free_out(&o);
    a = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), x);
    b = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), y);
    assert_int_equal(infer(&f, &axle_op_xor, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void isinf_flags_isnan_half_and_type_checks(void **state)
{
    struct fx f;
    double d[4] = {INFINITY, -INFINITY, NAN, 1.0};
    uint16_t h[3] = {axle_f32_to_f16(NAN), axle_f32_to_f16(INFINITY),
                     axle_f32_to_f16(0.5f)};
    int32_t iv[1] = {1};
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT64, 1, I64(4), d);
    struct axle_tensor o;
    const struct axle_tensor *in[1] = {&a};
    struct axle_tensor *out[1] = {&o};
    uint8_t *r;
    (void)state;

    fx_init(&f, "IsInf", 10, 1);
    attr_int(&f, "detect_positive", 0);
    assert_int_equal(call(&f, &axle_op_is_inf, 1, in, 1, out), AXLE_OK);
    r = o.data;
    assert_true(r[0] == 0 && r[1] == 1 && r[2] == 0 && r[3] == 0);
    free_out(&o);
    a = tens(AXLE_DTYPE_INT32, 1, I64(1), iv);
    assert_int_equal(infer(&f, &axle_op_is_inf, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "IsNaN", 13, 1);
    a = tens(AXLE_DTYPE_FLOAT16, 1, I64(3), h);
    assert_int_equal(call(&f, &axle_op_is_nan, 1, in, 1, out), AXLE_OK);
    r = o.data;
    assert_true(r[0] == 1 && r[1] == 0 && r[2] == 0);
    free_out(&o);
    fx_dispose(&f);
}

static void castlike_takes_the_type_of_its_second_input(void **state)
{
    struct fx f;
    float x[3] = {-1.7f, 2.5f, 1e10f};
    int32_t like[1] = {0};
    char *sl[1] = {NULL};
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), x);
    struct axle_tensor b = tens(AXLE_DTYPE_INT32, 1, I64(1), like);
    struct axle_tensor o;
    const struct axle_tensor *in[2] = {&a, &b};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "CastLike", 15, 1);
    assert_int_equal(call(&f, &axle_op_cast_like, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.dtype, AXLE_DTYPE_INT32);
    assert_int_equal(o.rank, 1);
    assert_int_equal(o.dims[0], 3);
    assert_int_equal(((int32_t *)o.data)[0], -1);
    assert_int_equal(((int32_t *)o.data)[1], 2);
    free_out(&o);
    b = tens(AXLE_DTYPE_STRING, 1, I64(1), sl);
    assert_int_equal(call(&f, &axle_op_cast_like, 2, in, 1, out), AXLE_OK);
    assert_string_equal(((char **)o.data)[1], "2.5");
    assert_string_equal(((char **)o.data)[2], "10000000000.0");
    free_out(&o);
    /* at load time with an unknown target, the output type is unknown */
    b = tens(AXLE_DTYPE_UNDEFINED, -1, NULL, NULL);
    assert_int_equal(infer(&f, &axle_op_cast_like, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.dtype, AXLE_DTYPE_UNDEFINED);
    assert_int_equal(infer(&f, &axle_op_cast_like, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bcast_keeps_symbolic_dims),
        cmocka_unit_test(bcast_conflict_is_invalid_argument),
        cmocka_unit_test(bcast_walker_matches_naive_reference),
        cmocka_unit_test(legacy_broadcast_uses_axis),
        cmocka_unit_test(int_div_by_zero_is_an_error),
        cmocka_unit_test(int_add_wraps_and_int_pow_is_exact),
        cmocka_unit_test(min_max_propagate_nan),
        cmocka_unit_test(vector_kernels_match_reference),
        cmocka_unit_test(relu_passes_nan_and_handles_half),
        cmocka_unit_test(clip_bounds_by_version),
        cmocka_unit_test(cast_float_to_string_prints_like_numpy),
        cmocka_unit_test(cast_string_parses_specials_and_rejects_garbage),
        cmocka_unit_test(cast_numeric_pairs),
        cmocka_unit_test(where_broadcasts_and_copies_strings),
        cmocka_unit_test(dropout_inference_copies_and_checks_ratio),
        cmocka_unit_test(equal_and_not_check_types),
        cmocka_unit_test(mean_and_prelu),
        cmocka_unit_test(
            mod_int_by_zero_is_an_error_and_int_min_by_minus_one_is_zero),
        cmocka_unit_test(mod_float_follows_fmod_or_numpy_sign_rule),
        cmocka_unit_test(bitshift_by_width_or_more_is_zero),
        cmocka_unit_test(rounding_kernels_match_libm),
        cmocka_unit_test(sign_ceil_round_of_integers_are_exact),
        cmocka_unit_test(mish_matches_definition_and_tails),
        cmocka_unit_test(activation_nan_rules_and_shrink_attrs),
        cmocka_unit_test(or_equal_comparisons_nan_unsigned_and_xor),
        cmocka_unit_test(isinf_flags_isnan_half_and_type_checks),
        cmocka_unit_test(castlike_takes_the_type_of_its_second_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
