/*
 * test_quant.c - the quantized operators called directly through struct
 * axle_op: QLinearMatMul / MatMulInteger / QLinearConv / ConvInteger
 * against exact integer references over shapes that exercise the GEMM's
 * tails (odd K, N not a multiple of the panel, M around the row tile),
 * int8 and uint8 on each side, per-tensor / per-row / per-column zero
 * points and scales, batched broadcasting, prepared (packed) and not,
 * threaded and not, on the AVX2 and the portable kernel; QuantizeLinear
 * rounding and saturation; DynamicQuantizeLinear on an all-zero input;
 * and the bad inputs that must be errors, never crashes: scales that are
 * zero, negative or NaN, and zero points of the wrong type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axle/axle.h"
#include "kernel_fixture.h"
#include "onnx_builder.h"
#include "kernels/quant.h"

extern const struct axle_op axle_op_quantize_linear,
    axle_op_dequantize_linear, axle_op_dynamic_quantize_linear,
    axle_op_qlinear_matmul, axle_op_matmul_integer, axle_op_qlinear_conv,
    axle_op_conv_integer;

#define T(dt, rank, ...) tens(dt, rank, I64(__VA_ARGS__), NULL)

static uint8_t *rnd8(int64_t n, unsigned seed)
{
    uint8_t *p = malloc((size_t)n + 1);
    srand(seed);
    for (int64_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rand() & 0xff);
    return p;
}

static int32_t ld8(const uint8_t *p, int64_t i, bool s)
{
    return s ? (int32_t)(int8_t)p[i] : (int32_t)p[i];
}

static int32_t requant(int32_t acc, float m, int32_t zy, bool s8)
{
    float f = rintf((float)acc * m) + (float)zy;
    float lo = s8 ? -128.0f : 0.0f, hi = s8 ? 127.0f : 255.0f;
    return (int32_t)(f < lo ? lo : (f > hi ? hi : f));
}

/* ---- bad input ------------------------------------------------------------ */

static void quant_rejects_bad_scales_and_zero_point_types(void **st)
{
    struct fx f;
    struct axle_tensor out = {0};
    struct axle_tensor *o[1] = {&out};
    float x[4] = {1, 2, 3, 4};
    float bad[4] = {0.0f, -1.0f, NAN, INFINITY};
    uint8_t zu = 3, q[4] = {1, 2, 3, 4};
    int8_t zs = 3;
    (void)st;

    for (int i = 0; i < 4; i++) {
        /* Constant scale: rejected at load (infer with data). */
        struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 1, I64(4), x);
        struct axle_tensor ts = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &bad[i]);
        struct axle_tensor tz = tens(AXLE_DTYPE_UINT8, 0, NULL, &zu);
        const struct axle_tensor *in[3] = {&tx, &ts, &tz};
        fx_init(&f, "QuantizeLinear", 13, 1);
        assert_int_equal(infer(&f, &axle_op_quantize_linear, 3, in, 1, o),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(f.err.msg, "scale"));
        /* A graph input: accepted at load, rejected at run. */
        ts.data = NULL;
        assert_int_equal(infer(&f, &axle_op_quantize_linear, 3, in, 1, o),
                         AXLE_OK);
        ts.data = &bad[i];
        assert_int_equal(call(&f, &axle_op_quantize_linear, 3, in, 1, o),
                         AXLE_INVALID_ARGUMENT);
        free_out(&out);
        fx_dispose(&f);

        /* Dequantize with a bad per-axis scale element. */
        float sc[2] = {1.0f, bad[i]};
        uint8_t zz[2] = {0, 0};
        struct axle_tensor dq = tens(AXLE_DTYPE_UINT8, 2, I64(2, 2), q);
        struct axle_tensor ds = tens(AXLE_DTYPE_FLOAT32, 1, I64(2), sc);
        struct axle_tensor dz = tens(AXLE_DTYPE_UINT8, 1, I64(2), zz);
        const struct axle_tensor *din[3] = {&dq, &ds, &dz};
        fx_init(&f, "DequantizeLinear", 13, 1);
        attr_int(&f, "axis", 0);
        assert_int_equal(call(&f, &axle_op_dequantize_linear, 3, din, 1, o),
                         AXLE_INVALID_ARGUMENT);
        free_out(&out);
        fx_dispose(&f);
    }

    /* Dequantize: an int8 zero point for uint8 data. */
    {
        float s1 = 1.0f;
        struct axle_tensor dq = tens(AXLE_DTYPE_UINT8, 1, I64(4), q);
        struct axle_tensor ds = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &s1);
        struct axle_tensor dz = tens(AXLE_DTYPE_INT8, 0, NULL, &zs);
        const struct axle_tensor *din[3] = {&dq, &ds, &dz};
        fx_init(&f, "DequantizeLinear", 13, 1);
        assert_int_equal(infer(&f, &axle_op_dequantize_linear, 3, din, 1, o),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(f.err.msg, "zero_point"));
        fx_dispose(&f);
    }
    /* QuantizeLinear: an int32 zero point is no quantized type. */
    {
        float s1 = 1.0f;
        int32_t z32 = 0;
        struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 1, I64(4), x);
        struct axle_tensor ts = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &s1);
        struct axle_tensor tz = tens(AXLE_DTYPE_INT32, 0, NULL, &z32);
        const struct axle_tensor *in[3] = {&tx, &ts, &tz};
        fx_init(&f, "QuantizeLinear", 13, 1);
        assert_int_equal(infer(&f, &axle_op_quantize_linear, 3, in, 1, o),
                         AXLE_INVALID_ARGUMENT);
        fx_dispose(&f);
    }
    /* QLinearMatMul: b_zero_point int8 for uint8 b; y_scale 0 at run. */
    {
        float s1 = 1.0f, s0 = 0.0f;
        uint8_t a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 4};
        struct axle_tensor ta = tens(AXLE_DTYPE_UINT8, 2, I64(2, 2), a);
        struct axle_tensor tb = tens(AXLE_DTYPE_UINT8, 2, I64(2, 2), b);
        struct axle_tensor sc = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &s1);
        struct axle_tensor s_0 = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &s0);
        struct axle_tensor zu8 = tens(AXLE_DTYPE_UINT8, 0, NULL, &zu);
        struct axle_tensor zs8 = tens(AXLE_DTYPE_INT8, 0, NULL, &zs);
        const struct axle_tensor *in[8] = {&ta, &sc, &zu8, &tb,
                                           &sc, &zs8, &sc, &zu8};
        fx_init(&f, "QLinearMatMul", 10, 1);
        assert_int_equal(infer(&f, &axle_op_qlinear_matmul, 8, in, 1, o),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(f.err.msg, "b_zero_point"));
        in[5] = &zu8;
        in[6] = &s_0;
        assert_int_equal(call(&f, &axle_op_qlinear_matmul, 8, in, 1, o),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(f.err.msg, "y_scale"));
        free_out(&out);
        /* An omitted required input (empty name). */
        in[7] = NULL;
        assert_int_equal(infer(&f, &axle_op_qlinear_matmul, 8, in, 1, o),
                         AXLE_INVALID_ARGUMENT);
        in[7] = &zu8;
        /* A per-column scale of the wrong length. */
        float s3[3] = {1, 1, 1};
        struct axle_tensor sc3 = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), s3);
        in[6] = &sc;
        in[4] = &sc3;
        assert_int_equal(infer(&f, &axle_op_qlinear_matmul, 8, in, 1, o),
                         AXLE_INVALID_ARGUMENT);
        fx_dispose(&f);

        /* MatMulInteger: a_zero_point of the other signedness. */
        const struct axle_tensor *mi[4] = {&ta, &tb, &zs8, &zu8};
        fx_init(&f, "MatMulInteger", 10, 1);
        assert_int_equal(infer(&f, &axle_op_matmul_integer, 4, mi, 1, o),
                         AXLE_INVALID_ARGUMENT);
        fx_dispose(&f);
    }
    /* QLinearConv: a NaN in a per-channel w_scale; ConvInteger: a wrong
     * w_zero_point type. */
    {
        float s1 = 1.0f, ws[2] = {1.0f, NAN};
        uint8_t xd[9] = {0}, wd[2] = {1, 2}, wz[2] = {0, 0};
        struct axle_tensor tx = tens(AXLE_DTYPE_UINT8, 4, I64(1, 1, 3, 3), xd);
        struct axle_tensor tw = tens(AXLE_DTYPE_UINT8, 4, I64(2, 1, 1, 1), wd);
        struct axle_tensor sc = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &s1);
        struct axle_tensor tws = tens(AXLE_DTYPE_FLOAT32, 1, I64(2), ws);
        struct axle_tensor twz = tens(AXLE_DTYPE_UINT8, 1, I64(2), wz);
        struct axle_tensor zu8 = tens(AXLE_DTYPE_UINT8, 0, NULL, &zu);
        struct axle_tensor zs8 = tens(AXLE_DTYPE_INT8, 0, NULL, &zs);
        const struct axle_tensor *in[8] = {&tx, &sc, &zu8, &tw,
                                           &tws, &twz, &sc, &zu8};
        fx_init(&f, "QLinearConv", 10, 1);
        assert_int_equal(call(&f, &axle_op_qlinear_conv, 8, in, 1, o),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(f.err.msg, "w_scale"));
        free_out(&out);
        fx_dispose(&f);
        const struct axle_tensor *ci[4] = {&tx, &tw, &zu8, &zs8};
        fx_init(&f, "ConvInteger", 10, 1);
        assert_int_equal(infer(&f, &axle_op_conv_integer, 4, ci, 1, o),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(f.err.msg, "w_zero_point"));
        fx_dispose(&f);
    }
}

/* ---- matmul --------------------------------------------------------------- */

struct mm_case {
    int64_t M, K, N;
    bool a_s8, b_s8, y_s8;
    int zb_kind; /* 0 scalar, 1 per column */
    bool za_row; /* per-row a zero point (MatMulInteger) */
};

/* Y[M, N] of both ops for one 2-D case. */
static void run_mm_case(const struct mm_case *c, int threads, bool prep,
                        bool scalar)
{
    int64_t M = c->M, K = c->K, N = c->N;
    uint8_t *a = rnd8(M * K, 1 + (unsigned)M), *b = rnd8(K * N, 7 + (unsigned)N);
    uint8_t *zbv = rnd8(N, 3), *zav = rnd8(M, 5);
    uint8_t za = c->a_s8 ? (uint8_t)(int8_t)-3 : 131;
    uint8_t zy = c->y_s8 ? (uint8_t)(int8_t)5 : 120;
    float sa = 0.021f, sy = 0.9f;
    float *sb = rnd(N, 11, 0.01f);
    struct axle_tensor out = {0};
    struct axle_tensor *o[1] = {&out};
    enum axle_dtype ad = c->a_s8 ? AXLE_DTYPE_INT8 : AXLE_DTYPE_UINT8;
    enum axle_dtype bd = c->b_s8 ? AXLE_DTYPE_INT8 : AXLE_DTYPE_UINT8;
    enum axle_dtype yd = c->y_s8 ? AXLE_DTYPE_INT8 : AXLE_DTYPE_UINT8;
    struct fx f;

    for (int64_t j = 0; j < N; j++)
        sb[j] = fabsf(sb[j]) + 0.001f;
    axle_qgemm_force_scalar(scalar);

    struct axle_tensor ta = tens(ad, 2, I64(M, K), a);
    struct axle_tensor tb = tens(bd, 2, I64(K, N), b);
    struct axle_tensor tsa = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &sa);
    struct axle_tensor tza = tens(ad, 0, NULL, &za);
    struct axle_tensor tzar = tens(ad, 1, I64(M), zav);
    struct axle_tensor tsb = c->zb_kind ? tens(AXLE_DTYPE_FLOAT32, 1, I64(N), sb)
                                        : tens(AXLE_DTYPE_FLOAT32, 0, NULL, sb);
    struct axle_tensor tzb = c->zb_kind ? tens(bd, 1, I64(N), zbv)
                                        : tens(bd, 0, NULL, zbv);
    struct axle_tensor tsy = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &sy);
    struct axle_tensor tzy = tens(yd, 0, NULL, &zy);

    /* QLinearMatMul */
    const struct axle_tensor *in[8] = {&ta, &tsa, &tza, &tb,
                                       &tsb, &tzb, &tsy, &tzy};
    fx_init(&f, "QLinearMatMul", 10, threads);
    assert_int_equal(call_prepared(&f, &axle_op_qlinear_matmul, 8, in, 1, o,
                                   prep),
                     AXLE_OK);
    assert_int_equal(out.rank, 2);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int32_t zbj = ld8(zbv, c->zb_kind ? j : 0, c->b_s8);
            int32_t acc = 0;
            for (int64_t kk = 0; kk < K; kk++)
                acc += (ld8(a, i * K + kk, c->a_s8) - ld8(&za, 0, c->a_s8)) *
                       (ld8(b, kk * N + j, c->b_s8) - zbj);
            float m = c->zb_kind ? 1.0f * (sa * sb[j] / sy) : sa * sb[0] / sy;
            int32_t want = requant(acc, m, ld8(&zy, 0, c->y_s8), c->y_s8);
            int32_t got = ld8(out.data, i * N + j, c->y_s8);
            if (got != want) {
                print_error("QLinearMatMul M%lld K%lld N%lld (%lld,%lld): "
                            "got %d want %d\n", (long long)M, (long long)K,
                            (long long)N, (long long)i, (long long)j, got,
                            want);
                fail();
            }
        }
    free_out(&out);
    fx_dispose(&f);

    /* MatMulInteger with the same operands (exact int32). */
    const struct axle_tensor *mi[4] = {&ta, &tb, c->za_row ? &tzar : &tza,
                                       &tzb};
    fx_init(&f, "MatMulInteger", 10, threads);
    assert_int_equal(call_prepared(&f, &axle_op_matmul_integer, 4, mi, 1, o,
                                   prep),
                     AXLE_OK);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int32_t zai = c->za_row ? ld8(zav, i, c->a_s8) : ld8(&za, 0, c->a_s8);
            int32_t zbj = ld8(zbv, c->zb_kind ? j : 0, c->b_s8);
            int32_t acc = 0;
            for (int64_t kk = 0; kk < K; kk++)
                acc += (ld8(a, i * K + kk, c->a_s8) - zai) *
                       (ld8(b, kk * N + j, c->b_s8) - zbj);
            assert_int_equal(((int32_t *)out.data)[i * N + j], acc);
        }
    free_out(&out);
    fx_dispose(&f);
    axle_qgemm_force_scalar(false);
    free(a);
    free(b);
    free(zbv);
    free(zav);
    free(sb);
}

static void qlinear_matmul_and_matmul_integer_match_reference(void **st)
{
    static const struct mm_case cases[] = {
        {1, 1, 1, false, false, false, 0, false},
        {2, 4, 3, false, false, false, 0, false},
        {1, 37, 50, false, true, true, 1, false},
        {3, 64, 24, true, true, false, 1, true},
        {5, 7, 49, true, false, true, 0, true},
        {4, 130, 25, false, true, false, 1, false},
        {70, 33, 97, false, true, false, 1, true},
        {9, 1100, 30, true, true, true, 0, false}, /* several K slices */
        {17, 0, 5, false, false, false, 0, false}, /* empty K */
    };
    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (int v = 0; v < 8; v++)
            run_mm_case(&cases[i], v & 1 ? 3 : 1, (v & 2) != 0,
                        (v & 4) != 0);
}

static void matmul_integer_broadcasts_batches_with_batched_zero_points(void **st)
{
    /* A [2, 1, 3, 5] x B [4, 5, 6] -> [2, 4, 3, 6]; a_zero_point
     * [2, 1, 3, 1] per row of each A batch, b_zero_point [4, 1, 6]. */
    int64_t M = 3, K = 5, N = 6;
    uint8_t *a = rnd8(2 * M * K, 21), *b = rnd8(4 * K * N, 22);
    uint8_t *za = rnd8(2 * M, 23), *zb = rnd8(4 * N, 24);
    struct axle_tensor out = {0};
    struct axle_tensor *o[1] = {&out};
    struct axle_tensor ta = tens(AXLE_DTYPE_UINT8, 4, I64(2, 1, 3, 5), a);
    struct axle_tensor tb = tens(AXLE_DTYPE_INT8, 3, I64(4, 5, 6), b);
    struct axle_tensor tza = tens(AXLE_DTYPE_UINT8, 4, I64(2, 1, 3, 1), za);
    struct axle_tensor tzb = tens(AXLE_DTYPE_INT8, 3, I64(4, 1, 6), zb);
    const struct axle_tensor *in[4] = {&ta, &tb, &tza, &tzb};
    struct fx f;
    (void)st;

    for (int v = 0; v < 4; v++) {
        fx_init(&f, "MatMulInteger", 10, v & 1 ? 2 : 1);
        assert_int_equal(call_prepared(&f, &axle_op_matmul_integer, 4, in, 1,
                                       o, (v & 2) != 0),
                         AXLE_OK);
        assert_int_equal(out.rank, 4);
        assert_int_equal(out.dims[1], 4);
        for (int64_t p = 0; p < 2; p++)
            for (int64_t q = 0; q < 4; q++)
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        int32_t acc = 0;
                        for (int64_t kk = 0; kk < K; kk++)
                            acc += ((int32_t)a[(p * M + i) * K + kk] -
                                    za[p * M + i]) *
                                   ((int32_t)(int8_t)b[(q * K + kk) * N + j] -
                                    (int8_t)zb[q * N + j]);
                        assert_int_equal(
                            ((int32_t *)out.data)[((p * 4 + q) * M + i) * N +
                                                  j],
                            acc);
                    }
        free_out(&out);
        fx_dispose(&f);
    }
    free(a);
    free(b);
    free(za);
    free(zb);
}

/* ---- conv ----------------------------------------------------------------- */

struct qconv_case {
    int64_t N, C, H, W, M, group, kh, kw, s, d, pad;
    bool x_s8, w_s8, w_pc, bias;
};

static void run_qconv_case(const struct qconv_case *c, int threads, bool prep,
                           bool scalar)
{
    int64_t Cg = c->C / c->group, Mg = c->M / c->group;
    int64_t OH = (c->H + 2 * c->pad - (c->kh - 1) * c->d - 1) / c->s + 1;
    int64_t OW = (c->W + 2 * c->pad - (c->kw - 1) * c->d - 1) / c->s + 1;
    int64_t nx = c->N * c->C * c->H * c->W, nw = c->M * Cg * c->kh * c->kw;
    uint8_t *x = rnd8(nx, 31), *w = rnd8(nw, 32), *wz = rnd8(c->M, 33);
    uint8_t xz = c->x_s8 ? (uint8_t)(int8_t)-7 : 100, yz = 128;
    int32_t *bias = malloc((size_t)c->M * 4);
    float xs = 0.05f, ys = 0.7f, *ws = rnd(c->M, 34, 0.02f);
    enum axle_dtype xd = c->x_s8 ? AXLE_DTYPE_INT8 : AXLE_DTYPE_UINT8;
    enum axle_dtype wd = c->w_s8 ? AXLE_DTYPE_INT8 : AXLE_DTYPE_UINT8;
    struct axle_tensor out = {0};
    struct axle_tensor *o[1] = {&out};
    struct fx f;

    for (int64_t m = 0; m < c->M; m++) {
        ws[m] = fabsf(ws[m]) + 0.001f;
        bias[m] = (int32_t)(m * 37 % 200) - 100;
    }
    axle_qgemm_force_scalar(scalar);
    struct axle_tensor tx = tens(xd, 4, I64(c->N, c->C, c->H, c->W), x);
    struct axle_tensor tw = tens(wd, 4, I64(c->M, Cg, c->kh, c->kw), w);
    struct axle_tensor txs = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &xs);
    struct axle_tensor txz = tens(xd, 0, NULL, &xz);
    struct axle_tensor tws = c->w_pc ? tens(AXLE_DTYPE_FLOAT32, 1, I64(c->M), ws)
                                     : tens(AXLE_DTYPE_FLOAT32, 0, NULL, ws);
    struct axle_tensor twz = c->w_pc ? tens(wd, 1, I64(c->M), wz)
                                     : tens(wd, 0, NULL, wz);
    struct axle_tensor tys = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &ys);
    struct axle_tensor tyz = tens(AXLE_DTYPE_UINT8, 0, NULL, &yz);
    struct axle_tensor tb = tens(AXLE_DTYPE_INT32, 1, I64(c->M), bias);

    for (int op = 0; op < 2; op++) {
        const struct axle_tensor *qi[9] = {&tx, &txs, &txz, &tw, &tws,
                                           &twz, &tys, &tyz, &tb};
        const struct axle_tensor *ci[4] = {&tx, &tw, &txz, &twz};
        fx_init(&f, op == 0 ? "QLinearConv" : "ConvInteger", 10, threads);
        attr_int(&f, "group", c->group);
        attr_ints(&f, "strides", 2, I64(c->s, c->s));
        attr_ints(&f, "dilations", 2, I64(c->d, c->d));
        attr_ints(&f, "pads", 4, I64(c->pad, c->pad, c->pad, c->pad));
        if (op == 0)
            assert_int_equal(call_prepared(&f, &axle_op_qlinear_conv,
                                           c->bias ? 9 : 8, qi, 1, o, prep),
                             AXLE_OK);
        else
            assert_int_equal(call_prepared(&f, &axle_op_conv_integer, 4, ci,
                                           1, o, prep),
                             AXLE_OK);
        assert_int_equal(out.dims[2], OH);
        assert_int_equal(out.dims[3], OW);
        for (int64_t n = 0; n < c->N; n++)
            for (int64_t m = 0; m < c->M; m++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t gi = m / Mg;
                        int32_t zw = ld8(wz, c->w_pc ? m : 0, c->w_s8);
                        int32_t acc = 0;
                        for (int64_t ci2 = 0; ci2 < Cg; ci2++)
                            for (int64_t i = 0; i < c->kh; i++)
                                for (int64_t jj = 0; jj < c->kw; jj++) {
                                    int64_t ih = oh * c->s - c->pad + i * c->d;
                                    int64_t iw = ow * c->s - c->pad + jj * c->d;
                                    int32_t xv = ld8(&xz, 0, c->x_s8);
                                    if (ih >= 0 && ih < c->H && iw >= 0 &&
                                        iw < c->W)
                                        xv = ld8(x, ((n * c->C + gi * Cg + ci2) *
                                                         c->H + ih) * c->W + iw,
                                                 c->x_s8);
                                    acc += (xv - ld8(&xz, 0, c->x_s8)) *
                                           (ld8(w, ((m * Cg + ci2) * c->kh + i) *
                                                       c->kw + jj, c->w_s8) -
                                            zw);
                                }
                        int64_t yi = ((n * c->M + m) * OH + oh) * OW + ow;
                        if (op == 1) {
                            assert_int_equal(((int32_t *)out.data)[yi], acc);
                            continue;
                        }
                        if (c->bias)
                            acc += bias[m];
                        float mult = xs * ws[c->w_pc ? m : 0] / ys;
                        int32_t want = requant(acc, mult, 128, false);
                        if (((uint8_t *)out.data)[yi] != want) {
                            print_error("QLinearConv (%lld,%lld,%lld,%lld): "
                                        "got %d want %d\n", (long long)n,
                                        (long long)m, (long long)oh,
                                        (long long)ow,
                                        ((uint8_t *)out.data)[yi], want);
                            fail();
                        }
                    }
        free_out(&out);
        fx_dispose(&f);
    }
    axle_qgemm_force_scalar(false);
    free(x);
    free(w);
    free(wz);
    free(bias);
    free(ws);
}

static void qlinear_conv_and_conv_integer_match_reference(void **st)
{
    static const struct qconv_case cases[] = {
        {1, 1, 7, 7, 1, 1, 1, 1, 1, 1, 0, false, false, false, false},
        {2, 3, 9, 8, 5, 1, 3, 3, 1, 1, 1, false, true, true, true},
        {1, 4, 11, 10, 6, 2, 3, 2, 2, 1, 2, true, true, true, true},
        {1, 6, 8, 8, 6, 6, 3, 3, 1, 2, 2, true, false, false, true},
        {2, 8, 9, 9, 8, 8, 3, 3, 2, 1, 1, false, true, true, true},
        {1, 5, 10, 7, 5, 5, 5, 1, 1, 1, 3, false, false, true, false},
        {2, 16, 12, 12, 70, 1, 1, 1, 1, 1, 0, false, true, true, false},
        {1, 40, 6, 7, 8, 1, 3, 3, 1, 1, 1, false, true, false, true},
    };
    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (int v = 0; v < 8; v++)
            run_qconv_case(&cases[i], v & 1 ? 3 : 1, (v & 2) != 0,
                           (v & 4) != 0);
}

/* 1-D and 3-D ConvInteger (the generic im2col) against a direct loop. */
static void conv_integer_1d_and_3d_match_reference(void **st)
{
    static const struct {
        int nsp;
        int64_t C, M, in[3], k[3], s, pad;
    } cases[] = {
        {1, 2, 3, {9}, {3}, 2, 1},
        {3, 2, 2, {4, 5, 3}, {2, 3, 2}, 1, 1},
    };
    (void)st;
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        int nsp = cases[ci].nsp;
        int64_t C = cases[ci].C, M = cases[ci].M, s = cases[ci].s;
        int64_t pad = cases[ci].pad, out[3], isz = 1, ksz = 1, osz = 1;
        int64_t xd[5] = {1, C}, wdm[5] = {M, C}, pads[6], strides[3];
        for (int i = 0; i < nsp; i++) {
            out[i] = (cases[ci].in[i] + 2 * pad - cases[ci].k[i]) / s + 1;
            isz *= cases[ci].in[i];
            ksz *= cases[ci].k[i];
            osz *= out[i];
            xd[2 + i] = cases[ci].in[i];
            wdm[2 + i] = cases[ci].k[i];
            pads[i] = pads[nsp + i] = pad;
            strides[i] = s;
        }
        uint8_t *x = rnd8(C * isz, 41), *w = rnd8(M * C * ksz, 42);
        int8_t xz = -4, wz = 3;
        struct axle_tensor out_t = {0};
        struct axle_tensor *o[1] = {&out_t};
        struct axle_tensor tx = tens(AXLE_DTYPE_INT8, 2 + nsp, xd, x);
        struct axle_tensor tw = tens(AXLE_DTYPE_INT8, 2 + nsp, wdm, w);
        struct axle_tensor txz = tens(AXLE_DTYPE_INT8, 0, NULL, &xz);
        struct axle_tensor twz = tens(AXLE_DTYPE_INT8, 0, NULL, &wz);
        const struct axle_tensor *in[4] = {&tx, &tw, &txz, &twz};
        struct fx f;
        for (int v = 0; v < 2; v++) {
            fx_init(&f, "ConvInteger", 10, 1);
            attr_ints(&f, "pads", 2 * nsp, pads);
            attr_ints(&f, "strides", nsp, strides);
            assert_int_equal(call_prepared(&f, &axle_op_conv_integer, 4, in, 1,
                                           o, v == 1),
                             AXLE_OK);
            for (int64_t m = 0; m < M; m++)
                for (int64_t p = 0; p < osz; p++) {
                    int64_t oc[3], r = p;
                    int32_t acc = 0;
                    for (int i = nsp - 1; i >= 0; i--) {
                        oc[i] = r % out[i];
                        r /= out[i];
                    }
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t kk = 0; kk < ksz; kk++) {
                            int64_t kr = kk, idx = 0, kc[3];
                            bool inside = true;
                            for (int i = nsp - 1; i >= 0; i--) {
                                kc[i] = kr % cases[ci].k[i];
                                kr /= cases[ci].k[i];
                            }
                            for (int i = 0; i < nsp; i++) {
                                int64_t ii = oc[i] * s - pad + kc[i];
                                inside = inside && ii >= 0 &&
                                         ii < cases[ci].in[i];
                                idx = idx * cases[ci].in[i] + ii;
                            }
                            int32_t xv = inside ? (int8_t)x[c * isz + idx] : xz;
                            acc += (xv - xz) *
                                   ((int8_t)w[(m * C + c) * ksz + kk] - wz);
                        }
                    assert_int_equal(((int32_t *)out_t.data)[m * osz + p],
                                     acc);
                }
            free_out(&out_t);
            fx_dispose(&f);
        }
        free(x);
        free(w);
    }
}

/* ---- Quantize / Dequantize / Dynamic --------------------------------------- */

static void quantize_rounds_half_to_even_and_saturates(void **st)
{
    float x[8] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000.0f, -1000.0f, NAN};
    float s = 1.0f;
    int8_t zs = 1;
    struct axle_tensor out = {0};
    struct axle_tensor *o[1] = {&out};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 1, I64(8), x);
    struct axle_tensor ts = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &s);
    struct axle_tensor tz = tens(AXLE_DTYPE_INT8, 0, NULL, &zs);
    const struct axle_tensor *in[3] = {&tx, &ts, &tz};
    static const int8_t want[8] = {1, 3, 3, 1, -1, 127, -128, 1};
    struct fx f;
    (void)st;

    fx_init(&f, "QuantizeLinear", 10, 1);
    assert_int_equal(call(&f, &axle_op_quantize_linear, 3, in, 1, o), AXLE_OK);
    assert_int_equal(out.dtype, AXLE_DTYPE_INT8);
    assert_memory_equal(out.data, want, 8);
    free_out(&out);
    /* No zero point: uint8 with zero point 0. */
    assert_int_equal(call(&f, &axle_op_quantize_linear, 2, in, 1, o), AXLE_OK);
    assert_int_equal(out.dtype, AXLE_DTYPE_UINT8);
    assert_int_equal(((uint8_t *)out.data)[1], 2);
    assert_int_equal(((uint8_t *)out.data)[6], 0);
    free_out(&out);
    fx_dispose(&f);

    /* Opset 10 has no per-axis scales. */
    float s2[2] = {1, 2};
    struct axle_tensor ts2 = tens(AXLE_DTYPE_FLOAT32, 1, I64(2), s2);
    struct axle_tensor tx2 = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 4), x);
    const struct axle_tensor *in2[2] = {&tx2, &ts2};
    fx_init(&f, "QuantizeLinear", 10, 1);
    assert_int_equal(infer(&f, &axle_op_quantize_linear, 2, in2, 1, o),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    /* Opset 13, axis 0 of [2, 4]. */
    fx_init(&f, "QuantizeLinear", 13, 1);
    attr_int(&f, "axis", -2);
    assert_int_equal(call(&f, &axle_op_quantize_linear, 2, in2, 1, o),
                     AXLE_OK);
    assert_int_equal(((uint8_t *)out.data)[0], 0);  /* 0.5 -> 0 */
    assert_int_equal(((uint8_t *)out.data)[4], 0);  /* -1.5 / 2 -> 0 */
    assert_int_equal(((uint8_t *)out.data)[5], 255);
    free_out(&out);
    fx_dispose(&f);
}

static void dynamic_quantize_of_zeros_gives_a_usable_scale(void **st)
{
    float x[5] = {0, 0, 0, 0, 0}, y[5] = {-1.0f, 0.0f, 1.0f, 2.0f, 3.0f};
    struct axle_tensor o0 = {0}, o1 = {0}, o2 = {0};
    struct axle_tensor *o[3] = {&o0, &o1, &o2};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 1, I64(5), x);
    const struct axle_tensor *in[1] = {&tx};
    struct fx f;
    (void)st;

    fx_init(&f, "DynamicQuantizeLinear", 11, 1);
    assert_int_equal(call(&f, &axle_op_dynamic_quantize_linear, 1, in, 3, o),
                     AXLE_OK);
    assert_true(*(float *)o1.data > 0.0f);
    assert_int_equal(*(uint8_t *)o2.data, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(((uint8_t *)o0.data)[i], 0);
    free_outs(3, o);
    tx.data = y;
    assert_int_equal(call(&f, &axle_op_dynamic_quantize_linear, 1, in, 3, o),
                     AXLE_OK);
    near(*(float *)o1.data, 4.0 / 255.0, 1e-6);
    assert_int_equal(*(uint8_t *)o2.data, 64); /* round(1 / (4/255)) */
    assert_int_equal(((uint8_t *)o0.data)[0], 0);
    assert_int_equal(((uint8_t *)o0.data)[4], 255);
    free_outs(3, o);
    fx_dispose(&f);
}

/* ---- through the engine ------------------------------------------------------ */

/* float x [2, 16] -> QuantizeLinear -> QLinearMatMul (constant int8 W
 * [16, 30], packed at load and freed) -> DequantizeLinear. `ws` is the
 * weight scale initializer value, `wz_dt` the weight zero point's dtype. */
static enum axle_status qmm_model(float ws, int wz_dt, struct axle_model **m,
                                  struct axle_err *err)
{
    static int8_t w[16 * 30];
    static const float xs = 0.05f, ys = 0.2f;
    static const uint8_t xz = 120, yz = 128;
    const int8_t wz = 0;
    struct ob b;
    size_t len;
    uint8_t *bytes;
    enum axle_status st;

    for (int i = 0; i < 16 * 30; i++)
        w[i] = (int8_t)((i * 37) % 255 - 127);
    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 2, I64(2, 16), NULL);
    ob_init_f32(&b, "xs", 0, I64(0), &xs);
    ob_init_raw(&b, "xz", AXLE_DTYPE_UINT8, 0, I64(0), &xz, 1);
    ob_init_raw(&b, "w", AXLE_DTYPE_INT8, 2, I64(16, 30), w, sizeof(w));
    ob_init_f32(&b, "ws", 0, I64(0), &ws);
    ob_init_raw(&b, "wz", wz_dt, 0, I64(0), &wz, 1);
    ob_init_f32(&b, "ys", 0, I64(0), &ys);
    ob_init_raw(&b, "yz", AXLE_DTYPE_UINT8, 0, I64(0), &yz, 1);
    ob_node(&b, "QuantizeLinear", "q", 3, (const char *[]){"x", "xs", "xz"},
            1, (const char *[]){"xq"});
    ob_node(&b, "QLinearMatMul", "mm", 8,
            (const char *[]){"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"}, 1,
            (const char *[]){"yq"});
    ob_node(&b, "DequantizeLinear", "dq", 3,
            (const char *[]){"yq", "ys", "yz"}, 1, (const char *[]){"y"});
    ob_output(&b, "y");
    bytes = ob_pack(&b, &len);
    st = axle_model_load_memory(bytes, len, NULL, m, err);
    free(bytes);
    return st;
}

static void quantized_model_runs_with_packed_weights_and_rejects_bad_ones(
    void **st)
{
    struct axle_model *m = NULL;
    struct axle_session *s = NULL;
    struct axle_err err = {0};
    float x[32], y[60];
    struct axle_tensor in = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 16), x);
    struct axle_tensor out = {0};
    (void)st;

    for (int i = 0; i < 32; i++)
        x[i] = (float)((i * 7) % 23) * 0.3f - 3.0f;
    assert_int_equal(qmm_model(0.01f, AXLE_DTYPE_INT8, &m, &err), AXLE_OK);
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err), AXLE_OK);
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.dims[1], 30);
    memcpy(y, out.data, sizeof(y));
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 30; j++) {
            int32_t acc = 0;
            for (int kk = 0; kk < 16; kk++) {
                float q = rintf(x[i * 16 + kk] / 0.05f) + 120.0f;
                q = q < 0 ? 0 : (q > 255 ? 255 : q);
                acc += ((int32_t)q - 120) *
                       (int8_t)((kk * 30 + j) * 37 % 255 - 127);
            }
            int32_t yq = requant(acc, 0.05f * 0.01f / 0.2f, 128, false);
            near(y[i * 30 + j], (yq - 128) * 0.2f, 1e-6);
        }
    axle_session_free(s);
    axle_model_unref(m);

    /* A zero, negative or NaN weight scale, or a uint8 zero point for the
     * int8 weights: load errors naming the problem. */
    const float bad[3] = {0.0f, -0.5f, NAN};
    for (int i = 0; i < 3; i++) {
        m = NULL;
        assert_int_equal(qmm_model(bad[i], AXLE_DTYPE_INT8, &m, &err),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(err.msg, "b_scale"));
        assert_null(m);
    }
    m = NULL;
    assert_int_equal(qmm_model(0.01f, AXLE_DTYPE_UINT8, &m, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "b_zero_point"));
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quant_rejects_bad_scales_and_zero_point_types),
        cmocka_unit_test(qlinear_matmul_and_matmul_integer_match_reference),
        cmocka_unit_test(
            matmul_integer_broadcasts_batches_with_batched_zero_points),
        cmocka_unit_test(qlinear_conv_and_conv_integer_match_reference),
        cmocka_unit_test(conv_integer_1d_and_3d_match_reference),
        cmocka_unit_test(quantize_rounds_half_to_even_and_saturates),
        cmocka_unit_test(
            quantized_model_runs_with_packed_weights_and_rejects_bad_ones),
        cmocka_unit_test(dynamic_quantize_of_zeros_gives_a_usable_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
