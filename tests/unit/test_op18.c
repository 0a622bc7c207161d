/*
 * test_op18.c - opset 18's BitwiseAnd/Or/Xor/Not, Col2Im and CenterCropPad
 * called directly through struct axle_op: the bad inputs onnx 1.12's
 * conformance data has no case for (non-integer Bitwise input, Col2Im
 * shapes that do not fit the input, negative sizes, bad CenterCropPad
 * axes), plus a few values: signed bit patterns, overlapping Col2Im blocks
 * and the odd element of a centred crop and pad.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "kernel_fixture.h"

extern const struct axle_op axle_op_bitwise_and, axle_op_bitwise_or,
    axle_op_bitwise_xor, axle_op_bitwise_not, axle_op_col2im,
    axle_op_center_crop_pad;

static void bitwise_signed_patterns_and_broadcast(void **unused)
{
    int8_t a[4] = {-1, -128, 0x55, 7}, b[1] = {0x0f}, o[4];
    struct axle_tensor ta = tens(AXLE_DTYPE_INT8, 1, I64(4), a);
    struct axle_tensor tb = tens(AXLE_DTYPE_INT8, 1, I64(1), b);
    struct axle_tensor out;
    struct axle_tensor *outs[1] = {&out};
    const struct axle_tensor *in[2] = {&ta, &tb};
    struct fx f;
    (void)unused;

    fx_init(&f, "BitwiseXor", 18, 1);
    assert_int_equal(call(&f, &axle_op_bitwise_xor, 2, in, 1, outs), AXLE_OK);
    memcpy(o, out.data, sizeof(o));
    assert_int_equal(o[0], (int8_t)0xf0);
    assert_int_equal(o[1], (int8_t)0x8f);
    assert_int_equal(o[2], 0x5a);
    assert_int_equal(o[3], 8);
    free_out(&out);
    assert_int_equal(call(&f, &axle_op_bitwise_not, 1, in, 1, outs), AXLE_OK);
    memcpy(o, out.data, sizeof(o));
    assert_int_equal(o[0], 0);
    assert_int_equal(o[1], 127);
    assert_int_equal(o[3], -8);
    free_out(&out);
    fx_dispose(&f);
}

static void bitwise_refuses_float_bool_and_mixed(void **unused)
{
    float fa[2] = {1, 2};
    int32_t ia[2] = {1, 2};
    int64_t la[2] = {1, 2};
    struct axle_tensor tf = tens(AXLE_DTYPE_FLOAT32, 1, I64(2), fa);
    struct axle_tensor ti = tens(AXLE_DTYPE_INT32, 1, I64(2), ia);
    struct axle_tensor tl = tens(AXLE_DTYPE_INT64, 1, I64(2), la);
    struct axle_tensor tb = tens(AXLE_DTYPE_BOOL, 1, I64(2), ia);
    struct axle_tensor out;
    struct axle_tensor *outs[1] = {&out};
    const struct axle_tensor *ff[2] = {&tf, &tf}, *il[2] = {&ti, &tl};
    const struct axle_tensor *bb[2] = {&tb, &tb};
    struct fx f;
    (void)unused;

    fx_init(&f, "BitwiseAnd", 18, 1);
    assert_int_equal(infer(&f, &axle_op_bitwise_and, 2, ff, 1, outs),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "integer"));
    assert_int_equal(infer(&f, &axle_op_bitwise_or, 2, bb, 1, outs),
                     AXLE_INVALID_ARGUMENT);
    assert_int_equal(infer(&f, &axle_op_bitwise_or, 2, il, 1, outs),
                     AXLE_INVALID_ARGUMENT);
    assert_int_equal(infer(&f, &axle_op_bitwise_not, 1, ff, 1, outs),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* Col2Im of x (1, 4, L) with 1-D shape inputs holding img/blk. */
static enum axle_status col2im(struct fx *f, float *x, int64_t l, int nd,
                               int64_t *img, int64_t *blk,
                               struct axle_tensor *out)
{
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 4, l), x);
    struct axle_tensor ti = tens(AXLE_DTYPE_INT64, 1, I64(nd), img);
    struct axle_tensor tb = tens(AXLE_DTYPE_INT64, 1, I64(nd), blk);
    const struct axle_tensor *in[3] = {&tx, &ti, &tb};
    struct axle_tensor *outs[1] = {out};

    return call(f, &axle_op_col2im, 3, in, 1, outs);
}

static void col2im_sums_overlapping_blocks(void **unused)
{
    /* 2x2 blocks over a 3x3 image, stride 1: 4 positions, the centre is
     * covered by all four. */
    float x[16], *o;
    struct axle_tensor out;
    struct fx f;
    (void)unused;

    for (int i = 0; i < 16; i++)
        x[i] = 1;
    fx_init(&f, "Col2Im", 18, 1);
    assert_int_equal(col2im(&f, x, 4, 2, I64(3, 3), I64(2, 2), &out),
                     AXLE_OK);
    assert_int_equal(out.rank, 4);
    assert_int_equal(out.dims[1], 1);
    o = out.data;
    near(o[0], 1, 0);
    near(o[1], 2, 0);
    near(o[4], 4, 0);
    near(o[8], 1, 0);
    free_out(&out);
    fx_dispose(&f);
}

/* The generic path (float16 here) zeroes its planes too: a dirty output
 * buffer must not leak into the sums. */
static void col2im_float16_overwrites_output(void **unused)
{
    uint16_t x[4], *o;
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT16, 3, I64(1, 2, 2), x);
    struct axle_tensor ti = tens(AXLE_DTYPE_INT64, 1, I64(1), I64(3));
    struct axle_tensor tb = tens(AXLE_DTYPE_INT64, 1, I64(1), I64(2));
    const struct axle_tensor *in[3] = {&tx, &ti, &tb};
    struct axle_tensor out;
    struct axle_tensor *outs[1] = {&out};
    struct fx f;
    (void)unused;

    for (int i = 0; i < 4; i++)
        x[i] = axle_f32_to_f16(1.5f);
    fx_init(&f, "Col2Im", 18, 1);
    assert_int_equal(infer(&f, &axle_op_col2im, 3, in, 1, outs), AXLE_OK);
    assert_int_equal(out.rank, 3);
    out.data = malloc(6);
    memset(out.data, 0x55, 6);
    {
        struct axle_kctx k = kctx(&f, 3, in, 1, outs, false);
        assert_int_equal(axle_op_col2im.run(&k), AXLE_OK);
    }
    o = out.data;
    near(axle_f16_to_f32(o[0]), 1.5, 0);
    near(axle_f16_to_f32(o[1]), 3.0, 0);
    near(axle_f16_to_f32(o[2]), 1.5, 0);
    free_out(&out);
    fx_dispose(&f);
}

static void col2im_refuses_shapes_that_do_not_fit(void **unused)
{
    float x[4 * 9] = {0};
    struct axle_tensor out;
    struct fx f;
    (void)unused;

    fx_init(&f, "Col2Im", 18, 1);
    /* 4 positions expected, input has 9 */
    assert_int_equal(col2im(&f, x, 9, 2, I64(3, 3), I64(2, 2), &out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "block positions"));
    /* block product 3 does not divide 4 */
    assert_int_equal(col2im(&f, x, 9, 2, I64(3, 3), I64(3, 1), &out),
                     AXLE_INVALID_ARGUMENT);
    /* block larger than the image */
    assert_int_equal(col2im(&f, x, 1, 2, I64(1, 1), I64(2, 2), &out),
                     AXLE_INVALID_ARGUMENT);
    /* negative and zero sizes */
    assert_int_equal(col2im(&f, x, 4, 2, I64(-3, 3), I64(2, 2), &out),
                     AXLE_INVALID_ARGUMENT);
    assert_int_equal(col2im(&f, x, 4, 2, I64(3, 3), I64(-2, -2), &out),
                     AXLE_INVALID_ARGUMENT);
    assert_int_equal(col2im(&f, x, 4, 2, I64(3, 3), I64(0, 2), &out),
                     AXLE_INVALID_ARGUMENT);
    /* image_shape and block_shape lengths differ */
    {
        struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 4, 4), x);
        struct axle_tensor ti = tens(AXLE_DTYPE_INT64, 1, I64(2), I64(3, 3));
        struct axle_tensor tb = tens(AXLE_DTYPE_INT64, 1, I64(1), I64(4));
        const struct axle_tensor *in[3] = {&tx, &ti, &tb};
        struct axle_tensor *outs[1] = {&out};
        assert_int_equal(infer(&f, &axle_op_col2im, 3, in, 1, outs),
                         AXLE_INVALID_ARGUMENT);
    }
    fx_dispose(&f);

    /* a negative stride and a pads list of the wrong length */
    fx_init(&f, "Col2Im", 18, 1);
    attr_ints(&f, "strides", 2, I64(-1, 1));
    assert_int_equal(col2im(&f, x, 4, 2, I64(3, 3), I64(2, 2), &out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "Col2Im", 18, 1);
    attr_ints(&f, "pads", 2, I64(1, 1));
    assert_int_equal(col2im(&f, x, 4, 2, I64(3, 3), I64(2, 2), &out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void center_crop_pad_odd_element_goes_last(void **unused)
{
    /* [0..4] cropped to 2 keeps [1, 2]; padded to 8 gives 0 x 0 0 0 0 0 0
     * with x at offset 1 (floor(3 / 2)). */
    float x[5] = {0, 1, 2, 3, 4}, *o;
    int64_t want = 2;
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 1, I64(5), x);
    struct axle_tensor ts = tens(AXLE_DTYPE_INT64, 1, I64(1), &want);
    const struct axle_tensor *in[2] = {&tx, &ts};
    struct axle_tensor out;
    struct axle_tensor *outs[1] = {&out};
    struct fx f;
    (void)unused;

    fx_init(&f, "CenterCropPad", 18, 1);
    assert_int_equal(call(&f, &axle_op_center_crop_pad, 2, in, 1, outs),
                     AXLE_OK);
    o = out.data;
    assert_int_equal(out.dims[0], 2);
    near(o[0], 1, 0);
    near(o[1], 2, 0);
    free_out(&out);
    want = 8;
    assert_int_equal(call(&f, &axle_op_center_crop_pad, 2, in, 1, outs),
                     AXLE_OK);
    o = out.data;
    near(o[0], 0, 0);
    near(o[1], 0, 0);
    near(o[5], 4, 0);
    near(o[6], 0, 0);
    near(o[7], 0, 0);
    free_out(&out);
    fx_dispose(&f);
}

static void center_crop_pad_refuses_bad_axes(void **unused)
{
    float x[6] = {0};
    int64_t want[2] = {1, 1};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 3), x);
    struct axle_tensor ts = tens(AXLE_DTYPE_INT64, 1, I64(2), want);
    struct axle_tensor ts1 = tens(AXLE_DTYPE_INT64, 1, I64(1), want);
    const struct axle_tensor *in[2] = {&tx, &ts}, *in1[2] = {&tx, &ts1};
    struct axle_tensor out;
    struct axle_tensor *outs[1] = {&out};
    struct fx f;
    (void)unused;

    fx_init(&f, "CenterCropPad", 18, 1);
    attr_ints(&f, "axes", 2, I64(0, 2)); /* out of range */
    assert_int_equal(infer(&f, &axle_op_center_crop_pad, 2, in, 1, outs),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "CenterCropPad", 18, 1);
    attr_ints(&f, "axes", 2, I64(1, -1)); /* repeated */
    assert_int_equal(infer(&f, &axle_op_center_crop_pad, 2, in, 1, outs),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "repeated"));
    fx_dispose(&f);
    fx_init(&f, "CenterCropPad", 18, 1);
    attr_ints(&f, "axes", 3, I64(0, 1, 0)); /* more axes than rank */
    assert_int_equal(infer(&f, &axle_op_center_crop_pad, 2, in, 1, outs),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "CenterCropPad", 18, 1);
    attr_ints(&f, "axes", 2, I64(0, 1)); /* shape too short */
    assert_int_equal(infer(&f, &axle_op_center_crop_pad, 2, in1, 1, outs),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "CenterCropPad", 18, 1);
    want[1] = -4; /* negative size */
    assert_int_equal(infer(&f, &axle_op_center_crop_pad, 2, in, 1, outs),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bitwise_signed_patterns_and_broadcast),
        cmocka_unit_test(bitwise_refuses_float_bool_and_mixed),
        cmocka_unit_test(col2im_sums_overlapping_blocks),
        cmocka_unit_test(col2im_float16_overwrites_output),
        cmocka_unit_test(col2im_refuses_shapes_that_do_not_fit),
        cmocka_unit_test(center_crop_pad_odd_element_goes_last),
        cmocka_unit_test(center_crop_pad_refuses_bad_axes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
