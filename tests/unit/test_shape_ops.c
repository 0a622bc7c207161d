/*
 * test_shape_ops.c - the shape and data-movement kernels called directly
 * through struct axle_op: load-time inference with symbolic and unknown
 * dims, error paths for bad attributes and out-of-range data-derived
 * indices, Shape on a data-less input, string ownership, and the strided
 * copy engine (Transpose/Slice/Expand/Tile/Pad) against naive references,
 * threaded and not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kernel_fixture.h"

extern const struct axle_op axle_op_constant, axle_op_constant_of_shape,
    axle_op_shape, axle_op_size, axle_op_reshape, axle_op_flatten,
    axle_op_squeeze, axle_op_unsqueeze, axle_op_transpose, axle_op_concat,
    axle_op_split, axle_op_slice, axle_op_gather, axle_op_expand,
    axle_op_tile, axle_op_pad, axle_op_range;

#define NELEM(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

static struct axle_tensor ivec(int64_t *v, int64_t n)
{
    return tens(AXLE_DTYPE_INT64, 1, I64(n), v);
}

/* ---- Reshape / Flatten / Squeeze / Unsqueeze -------------------------- */

static void reshape_keeps_symbolic_dims(void **state)
{
    struct fx f;
    int64_t n = axle_dim_sym(0);
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 3, I64(n, 3, 4), NULL);
    int64_t sv[] = {0, -1};
    struct axle_tensor s = ivec(sv, 2), o;
    const struct axle_tensor *in[2] = {&x, &s};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Reshape", 14, 1);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.dims[0], n);
    assert_int_equal(o.dims[1], 12);

    /* [N, 12] -> [-1, 3, 4] cannot be resolved, [N, 12] -> [N?] can't be
     * named either: -1 stays unknown. */
    x = tens(AXLE_DTYPE_FLOAT32, 2, I64(n, 12), NULL);
    int64_t sv2[] = {-1, 3, 4};
    s = ivec(sv2, 3);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 3);
    assert_int_equal(o.dims[0], -1);
    assert_int_equal(o.dims[2], 4);

    /* Shape input without data: rank from its length, dims unknown. */
    s = tens(AXLE_DTYPE_INT64, 1, I64(4), NULL);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(o.dims[i], -1);
    s = tens(AXLE_DTYPE_INT64, 1, I64(-1), NULL);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, -1);
    fx_dispose(&f);
}

static void reshape_rejects_bad_targets(void **state)
{
    struct fx f;
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 6), NULL);
    int64_t two_neg[] = {-1, -1}, bad[] = {5, -1}, deep[] = {0, 0, 0},
            small[] = {-2, 6}, size[] = {3, 5}, zneg[] = {0, -1};
    struct axle_tensor s, o;
    const struct axle_tensor *in[2] = {&x, &s};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Reshape", 14, 1);
    s = ivec(two_neg, 2);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "more than one -1"));
    s = ivec(bad, 2);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    s = ivec(deep, 3);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    s = ivec(small, 2);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    s = ivec(size, 2);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    s = tens(AXLE_DTYPE_FLOAT32, 1, I64(2), size);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* allowzero: 0 is literal, and 0 with -1 is invalid. */
    fx_init(&f, "Reshape", 14, 1);
    attr_int(&f, "allowzero", 1);
    s = ivec(zneg, 2);
    assert_int_equal(infer(&f, &axle_op_reshape, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void reshape_opset1_reads_shape_attribute(void **state)
{
    struct fx f;
    float xv[6] = {1, 2, 3, 4, 5, 6};
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 3), xv), o;
    const struct axle_tensor *in[1] = {&x};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Reshape", 4, 1);
    assert_int_equal(infer(&f, &axle_op_reshape, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    attr_ints(&f, "shape", 3, I64(3, 1, -1));
    /* run is the folding copy */
    assert_int_equal(call(&f, &axle_op_reshape, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 3);
    assert_int_equal(o.dims[0], 3);
    assert_int_equal(o.dims[2], 2);
    assert_memory_equal(o.data, xv, sizeof(xv));
    free_out(&o);
    fx_dispose(&f);
}

static void flatten_and_squeeze_shapes(void **state)
{
    struct fx f;
    int64_t n = axle_dim_sym(0);
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 4, I64(n, 1, 3, 1), NULL);
    struct axle_tensor o, ax;
    const struct axle_tensor *in[2] = {&x, &ax};
    struct axle_tensor *out[1] = {&o};
    int64_t axes[] = {-1, 1}, bad_axes[] = {2}, dup[] = {1, -3};
    (void)state;

    fx_init(&f, "Flatten", 13, 1);
    attr_int(&f, "axis", 1);
    assert_int_equal(infer(&f, &axle_op_flatten, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], n);
    assert_int_equal(o.dims[1], 3);
    fx_dispose(&f);
    fx_init(&f, "Flatten", 13, 1);
    attr_int(&f, "axis", 5);
    assert_int_equal(infer(&f, &axle_op_flatten, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Squeeze", 13, 1);
    /* No axes and a symbolic dim that might be 1: rank unknown. */
    assert_int_equal(infer(&f, &axle_op_squeeze, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, -1);
    ax = ivec(axes, 2);
    assert_int_equal(infer(&f, &axle_op_squeeze, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.dims[0], n);
    assert_int_equal(o.dims[1], 3);
    ax = ivec(bad_axes, 1);
    assert_int_equal(infer(&f, &axle_op_squeeze, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "not 1"));
    ax = ivec(dup, 2);
    assert_int_equal(infer(&f, &axle_op_squeeze, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    /* axes without data: rank known from their count */
    ax = tens(AXLE_DTYPE_INT64, 1, I64(2), NULL);
    assert_int_equal(infer(&f, &axle_op_squeeze, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    fx_dispose(&f);
}

static void unsqueeze_validates_axes(void **state)
{
    struct fx f;
    int64_t n = axle_dim_sym(0);
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 2, I64(n, 5), NULL);
    struct axle_tensor o, ax;
    const struct axle_tensor *in[2] = {&x, &ax};
    struct axle_tensor *out[1] = {&o};
    int64_t ok[] = {0, -1}, dup[] = {1, 1}, far[] = {4};
    (void)state;

    fx_init(&f, "Unsqueeze", 13, 1);
    ax = ivec(ok, 2);
    assert_int_equal(infer(&f, &axle_op_unsqueeze, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 4);
    assert_int_equal(o.dims[0], 1);
    assert_int_equal(o.dims[1], n);
    assert_int_equal(o.dims[2], 5);
    assert_int_equal(o.dims[3], 1);
    ax = ivec(dup, 2);
    assert_int_equal(infer(&f, &axle_op_unsqueeze, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    ax = ivec(far, 1);
    assert_int_equal(infer(&f, &axle_op_unsqueeze, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_int_equal(infer(&f, &axle_op_unsqueeze, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Unsqueeze", 11, 1); /* attribute form */
    attr_ints(&f, "axes", 1, I64(-3));
    assert_int_equal(infer(&f, &axle_op_unsqueeze, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 3);
    assert_int_equal(o.dims[0], 1);
    fx_dispose(&f);
}

/* ---- Shape / Size / Constant ------------------------------------------ */

static void shape_reads_dims_only(void **state)
{
    struct fx f;
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 4, I64(2, 3, 5, 7), NULL);
    struct axle_tensor o;
    const struct axle_tensor *in[1] = {&x};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Shape", 15, 1);
    attr_int(&f, "start", -3);
    attr_int(&f, "end", 100);
    assert_int_equal(call(&f, &axle_op_shape, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 1);
    assert_int_equal(o.dims[0], 3);
    assert_memory_equal(o.data, I64(3, 5, 7), 3 * sizeof(int64_t));
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "Size", 13, 1);
    assert_int_equal(call(&f, &axle_op_size, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 0);
    assert_int_equal(*(int64_t *)o.data, 210);
    free_out(&o);
    fx_dispose(&f);
}

static void constant_needs_exactly_one_value(void **state)
{
    struct fx f;
    struct axle_tensor o;
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Constant", 13, 1);
    assert_int_equal(infer(&f, &axle_op_constant, 0, NULL, 1, out),
                     AXLE_INVALID_ARGUMENT);
    attr_ints(&f, "value_ints", 2, I64(4, 5));
    assert_int_equal(call(&f, &axle_op_constant, 0, NULL, 1, out), AXLE_OK);
    assert_int_equal(o.dtype, AXLE_DTYPE_INT64);
    assert_memory_equal(o.data, I64(4, 5), 2 * sizeof(int64_t));
    free_out(&o);
    attr_int(&f, "value_int", 3);
    assert_int_equal(infer(&f, &axle_op_constant, 0, NULL, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Constant", 13, 1);
    attr_str(&f, "value_string", "hello");
    assert_int_equal(call(&f, &axle_op_constant, 0, NULL, 1, out), AXLE_OK);
    assert_int_equal(o.dtype, AXLE_DTYPE_STRING);
    assert_int_equal(o.rank, 0);
    assert_string_equal(*(char **)o.data, "hello");
    free_out(&o);
    fx_dispose(&f);
}

static void constant_of_shape_rejects_negative_dims(void **state)
{
    struct fx f;
    int64_t sv[] = {2, -3};
    struct axle_tensor s = ivec(sv, 2), o;
    const struct axle_tensor *in[1] = {&s};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "ConstantOfShape", 9, 1);
    assert_int_equal(infer(&f, &axle_op_constant_of_shape, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    s.data = NULL; /* load time, no data: rank 2, dims unknown */
    assert_int_equal(infer(&f, &axle_op_constant_of_shape, 1, in, 1, out),
                     AXLE_OK);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.dims[0], -1);
    assert_int_equal(o.dtype, AXLE_DTYPE_FLOAT32);
    fx_dispose(&f);
}

/* ---- Gather / Slice / Concat / Split ---------------------------------- */

static void gather_checks_indices(void **state)
{
    struct fx f;
    float xv[6] = {0, 1, 2, 3, 4, 5};
    int64_t iv[] = {-1, 0, 2};
    int32_t bad[] = {0, 3};
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 2, I64(3, 2), xv);
    struct axle_tensor i = ivec(iv, 3), o;
    const struct axle_tensor *in[2] = {&x, &i};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Gather", 13, 1);
    assert_int_equal(call(&f, &axle_op_gather, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    assert_memory_equal(o.data, ((float[]){4, 5, 0, 1, 4, 5}),
                        6 * sizeof(float));
    free_out(&o);
    i = tens(AXLE_DTYPE_INT32, 1, I64(2), bad);
    assert_int_equal(call(&f, &axle_op_gather, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "out of range"));
    free_out(&o);
    i = tens(AXLE_DTYPE_FLOAT32, 1, I64(2), xv);
    assert_int_equal(infer(&f, &axle_op_gather, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Gather", 13, 1);
    attr_int(&f, "axis", 2);
    i = ivec(iv, 3);
    assert_int_equal(infer(&f, &axle_op_gather, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void slice_errors_and_clamping(void **state)
{
    struct fx f;
    int64_t xv[10];
    int64_t st[] = {INT64_MIN}, en[] = {INT64_MAX}, ax[] = {0}, sp[] = {3};
    int64_t zero[] = {0}, twice[] = {0, 0}, st2[] = {0, 1}, en2[] = {5, 6};
    struct axle_tensor x, s, e, a, p, o;
    const struct axle_tensor *in[5] = {&x, &s, &e, &a, &p};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    for (int i = 0; i < 10; i++)
        xv[i] = i;
    x = tens(AXLE_DTYPE_INT64, 1, I64(10), xv);
    s = ivec(st, 1);
    e = ivec(en, 1);
    a = ivec(ax, 1);
    p = ivec(sp, 1);
    fx_init(&f, "Slice", 13, 1);
    assert_int_equal(call(&f, &axle_op_slice, 5, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], 4);
    assert_memory_equal(o.data, I64(0, 3, 6, 9), 4 * sizeof(int64_t));
    free_out(&o);
    /* reversed from INT64_MAX down past the front */
    st[0] = INT64_MAX;
    en[0] = INT64_MIN;
    sp[0] = -4;
    assert_int_equal(call(&f, &axle_op_slice, 5, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], 3);
    assert_memory_equal(o.data, I64(9, 5, 1), 3 * sizeof(int64_t));
    free_out(&o);
    /* extreme steps take one element and overflow nothing */
    st[0] = 2;
    en[0] = 10;
    sp[0] = INT64_MAX;
    assert_int_equal(call(&f, &axle_op_slice, 5, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], 1);
    assert_int_equal(((int64_t *)o.data)[0], 2);
    free_out(&o);
    st[0] = -1;
    en[0] = INT64_MIN;
    sp[0] = INT64_MIN;
    assert_int_equal(call(&f, &axle_op_slice, 5, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], 1);
    assert_int_equal(((int64_t *)o.data)[0], 9);
    free_out(&o);
    sp[0] = -4;
    p = ivec(zero, 1);
    assert_int_equal(infer(&f, &axle_op_slice, 5, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    p = ivec(sp, 1);
    a = ivec(ax, 1);
    ax[0] = 1;
    assert_int_equal(infer(&f, &axle_op_slice, 5, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    /* repeated axes */
    x = tens(AXLE_DTYPE_INT64, 2, I64(2, 5), xv);
    s = ivec(st2, 2);
    e = ivec(en2, 2);
    a = ivec(twice, 2);
    assert_int_equal(infer(&f, &axle_op_slice, 3 + 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    /* starts unknown at load: the sliced axis loses its dim only */
    a = ivec(ax, 1);
    ax[0] = -1;
    s = tens(AXLE_DTYPE_INT64, 1, I64(1), NULL);
    e = ivec(en, 1);
    assert_int_equal(infer(&f, &axle_op_slice, 4, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.dims[0], 2);
    assert_int_equal(o.dims[1], -1);
    fx_dispose(&f);
}

static void concat_and_split_shapes(void **state)
{
    struct fx f;
    int64_t n = axle_dim_sym(0);
    struct axle_tensor a = tens(AXLE_DTYPE_FLOAT32, 2, I64(n, 3), NULL);
    struct axle_tensor b = tens(AXLE_DTYPE_FLOAT32, 2, I64(-1, 5), NULL);
    struct axle_tensor c = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 1, 1), NULL);
    struct axle_tensor o, o2, o3;
    const struct axle_tensor *in[3] = {&a, &b, &c};
    struct axle_tensor *out[3] = {&o, &o2, &o3};
    int64_t sp[] = {2, 2};
    (void)state;

    fx_init(&f, "Concat", 13, 1);
    attr_int(&f, "axis", -1);
    assert_int_equal(infer(&f, &axle_op_concat, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], n);
    assert_int_equal(o.dims[1], 8);
    assert_int_equal(infer(&f, &axle_op_concat, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "input 2 has rank 3"));
    b = tens(AXLE_DTYPE_FLOAT32, 2, I64(4, 5), NULL);
    c = tens(AXLE_DTYPE_FLOAT32, 2, I64(3, 5), NULL);
    assert_int_equal(infer(&f, &axle_op_concat, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    c = tens(AXLE_DTYPE_INT64, 2, I64(4, 5), NULL);
    assert_int_equal(infer(&f, &axle_op_concat, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "Concat", 13, 1);
    assert_int_equal(infer(&f, &axle_op_concat, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT); /* axis is required */
    fx_dispose(&f);

    fx_init(&f, "Split", 13, 1);
    attr_int(&f, "axis", 1);
    a = tens(AXLE_DTYPE_FLOAT32, 2, I64(n, 5), NULL);
    b = ivec(sp, 2);
    assert_int_equal(infer(&f, &axle_op_split, 2, in, 2, out),
                     AXLE_INVALID_ARGUMENT); /* sums to 4, not 5 */
    sp[1] = 3;
    assert_int_equal(infer(&f, &axle_op_split, 2, in, 2, out), AXLE_OK);
    assert_int_equal(o.dims[0], n);
    assert_int_equal(o2.dims[1], 3);
    assert_int_equal(infer(&f, &axle_op_split, 1, in, 2, out),
                     AXLE_INVALID_ARGUMENT); /* 5 is not even */
    fx_dispose(&f);

    fx_init(&f, "Split", 18, 1);
    attr_int(&f, "num_outputs", 3);
    a = tens(AXLE_DTYPE_FLOAT32, 1, I64(7), NULL);
    assert_int_equal(infer(&f, &axle_op_split, 1, in, 3, out), AXLE_OK);
    assert_int_equal(o.dims[0], 3);
    assert_int_equal(o2.dims[0], 3);
    assert_int_equal(o3.dims[0], 1);
    assert_int_equal(infer(&f, &axle_op_split, 1, in, 2, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- Transpose: copy engine against a naive reference ------------------ */

static void naive_transpose(const float *x, float *y, int rank,
                            const int64_t *dims, const int *perm)
{
    int64_t xs[8], od[8], idx[8] = {0}, n = 1;
    for (int i = rank - 1, s = 1; i >= 0; i--) {
        xs[i] = s;
        s *= (int)dims[i];
    }
    for (int i = 0; i < rank; i++) {
        od[i] = dims[perm[i]];
        n *= od[i];
    }
    for (int64_t o = 0; o < n; o++) {
        int64_t src = 0;
        for (int i = 0; i < rank; i++)
            src += idx[i] * xs[perm[i]];
        y[o] = x[src];
        for (int i = rank - 1; i >= 0; i--) {
            if (++idx[i] < od[i])
                break;
            idx[i] = 0;
        }
    }
}

static void transpose_matches_reference(void **state)
{
    static const struct {
        int rank;
        int64_t dims[5];
        int perm[5];
    } cases[] = {
        {2, {300, 257}, {1, 0}},
        {4, {3, 40, 17, 33}, {0, 2, 3, 1}}, /* NCHW -> NHWC */
        {4, {3, 17, 33, 40}, {0, 3, 1, 2}}, /* NHWC -> NCHW */
        {3, {7, 64, 129}, {0, 2, 1}},
        {4, {4, 8, 50, 64}, {0, 2, 1, 3}},  /* heads swap, rows copied */
        {5, {3, 4, 5, 6, 7}, {4, 2, 0, 3, 1}},
        {3, {1, 1, 9}, {2, 0, 1}},
    };
    (void)state;

    for (int threads = 1; threads <= 2; threads++) {
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            struct fx f;
            int64_t n = axle_shape_numel(cases[c].rank, cases[c].dims);
            float *x = malloc((size_t)n * sizeof(float));
            float *want = malloc((size_t)n * sizeof(float));
            int64_t perm[5];
            struct axle_tensor t, o;
            const struct axle_tensor *in[1] = {&t};
            struct axle_tensor *out[1] = {&o};

            for (int64_t i = 0; i < n; i++)
                x[i] = (float)i * 0.5f;
            for (int i = 0; i < cases[c].rank; i++)
                perm[i] = cases[c].perm[i];
            naive_transpose(x, want, cases[c].rank, cases[c].dims,
                            cases[c].perm);
            fx_init(&f, "Transpose", 13, 1);
            if (threads > 1)
                assert_int_equal(axle_pool_new(threads, &f.pool), AXLE_OK);
            attr_ints(&f, "perm", cases[c].rank, perm);
            t = tens(AXLE_DTYPE_FLOAT32, cases[c].rank, cases[c].dims, x);
            assert_int_equal(call(&f, &axle_op_transpose, 1, in, 1, out),
                             AXLE_OK);
            assert_memory_equal(o.data, want, (size_t)n * sizeof(float));
            free_out(&o);
            fx_dispose(&f);
            free(x);
            free(want);
        }
    }
}

static void transpose_rejects_bad_perm_and_copies_strings(void **state)
{
    struct fx f;
    char *sv[6] = {"a", "b", "c", "d", "e", "f"};
    struct axle_tensor x = tens(AXLE_DTYPE_STRING, 2, I64(2, 3), sv), o;
    const struct axle_tensor *in[1] = {&x};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Transpose", 13, 1);
    attr_ints(&f, "perm", 2, I64(0, 0));
    assert_int_equal(infer(&f, &axle_op_transpose, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "Transpose", 13, 1);
    attr_ints(&f, "perm", 3, I64(0, 1, 2));
    assert_int_equal(infer(&f, &axle_op_transpose, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Transpose", 13, 1);
    assert_int_equal(call(&f, &axle_op_transpose, 1, in, 1, out), AXLE_OK);
    char **os = o.data;
    const char *want[6] = {"a", "d", "b", "e", "c", "f"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(os[i], want[i]);
        /* the output owns its elements */
        for (int j = 0; j < 6; j++)
            assert_ptr_not_equal(os[i], sv[j]);
    }
    free_out(&o);
    fx_dispose(&f);
}

/* ---- Expand / Tile / Pad / Range -------------------------------------- */

static void expand_tile_errors(void **state)
{
    struct fx f;
    int64_t n = axle_dim_sym(0);
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 2, I64(n, 3), NULL);
    int64_t sv[] = {2, 1, 3}, bad[] = {4}, neg[] = {1, -2};
    struct axle_tensor s = ivec(sv, 3), o;
    const struct axle_tensor *in[2] = {&x, &s};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Expand", 13, 1);
    assert_int_equal(infer(&f, &axle_op_expand, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 3);
    assert_int_equal(o.dims[0], 2);
    assert_int_equal(o.dims[1], n);
    assert_int_equal(o.dims[2], 3);
    s = ivec(bad, 1);
    assert_int_equal(infer(&f, &axle_op_expand, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Tile", 13, 1);
    s = ivec(neg, 2);
    assert_int_equal(infer(&f, &axle_op_tile, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    s = ivec(sv, 3);
    assert_int_equal(infer(&f, &axle_op_tile, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    s = tens(AXLE_DTYPE_INT64, 1, I64(2), NULL);
    assert_int_equal(infer(&f, &axle_op_tile, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.dims[1], -1);
    fx_dispose(&f);
}

static void pad_modes_and_errors(void **state)
{
    struct fx f;
    float xv[3] = {1, 2, 3};
    int64_t pv[] = {4, 5};
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), xv);
    struct axle_tensor p = ivec(pv, 2), o;
    const struct axle_tensor *in[2] = {&x, &p};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Pad", 13, 1);
    attr_str(&f, "mode", "reflect");
    assert_int_equal(call(&f, &axle_op_pad, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], 12);
    /* numpy.pad([1,2,3], (4,5), 'reflect') */
    assert_memory_equal(o.data,
                        ((float[]){1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2}),
                        12 * sizeof(float));
    free_out(&o);
    x = tens(AXLE_DTYPE_FLOAT32, 1, I64(0), xv);
    assert_int_equal(infer(&f, &axle_op_pad, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Pad", 13, 1);
    attr_str(&f, "mode", "wrap");
    x = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), xv);
    pv[0] = 2;
    pv[1] = 4;
    assert_int_equal(call(&f, &axle_op_pad, 2, in, 1, out), AXLE_OK);
    assert_memory_equal(o.data, ((float[]){2, 3, 1, 2, 3, 1, 2, 3, 1}),
                        9 * sizeof(float));
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "Pad", 13, 1);
    attr_str(&f, "mode", "mirror");
    assert_int_equal(infer(&f, &axle_op_pad, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Pad", 13, 1);
    pv[0] = -2;
    pv[1] = -2; /* crops below zero */
    assert_int_equal(infer(&f, &axle_op_pad, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    p = ivec(pv, 1); /* wrong count */
    assert_int_equal(infer(&f, &axle_op_pad, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void range_counts_and_rejects_zero_delta(void **state)
{
    struct fx f;
    int32_t a = 10, b = -7, d = -3;
    struct axle_tensor ta = tens(AXLE_DTYPE_INT32, 0, NULL, &a);
    struct axle_tensor tb = tens(AXLE_DTYPE_INT32, 0, NULL, &b);
    struct axle_tensor td = tens(AXLE_DTYPE_INT32, 0, NULL, &d), o;
    const struct axle_tensor *in[3] = {&ta, &tb, &td};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Range", 11, 1);
    assert_int_equal(call(&f, &axle_op_range, 3, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], 6);
    assert_memory_equal(o.data, ((int32_t[]){10, 7, 4, 1, -2, -5}),
                        6 * sizeof(int32_t));
    free_out(&o);
    d = 0;
    assert_int_equal(infer(&f, &axle_op_range, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    tb.data = NULL; /* load time: length unknown */
    assert_int_equal(infer(&f, &axle_op_range, 3, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 1);
    assert_int_equal(o.dims[0], -1);
    fx_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reshape_keeps_symbolic_dims),
        cmocka_unit_test(reshape_rejects_bad_targets),
        cmocka_unit_test(reshape_opset1_reads_shape_attribute),
        cmocka_unit_test(flatten_and_squeeze_shapes),
        cmocka_unit_test(unsqueeze_validates_axes),
        cmocka_unit_test(shape_reads_dims_only),
        cmocka_unit_test(constant_needs_exactly_one_value),
        cmocka_unit_test(constant_of_shape_rejects_negative_dims),
        cmocka_unit_test(gather_checks_indices),
        cmocka_unit_test(slice_errors_and_clamping),
        cmocka_unit_test(concat_and_split_shapes),
        cmocka_unit_test(transpose_matches_reference),
        cmocka_unit_test(transpose_rejects_bad_perm_and_copies_strings),
        cmocka_unit_test(expand_tile_errors),
        cmocka_unit_test(pad_modes_and_errors),
        cmocka_unit_test(range_counts_and_rejects_zero_delta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
