/*
 * test_index_ops.c - the indexing kernels (index_*.c) called directly
 * through struct axle_op, for what the ONNX conformance cases do not
 * cover: out-of-range indices are errors naming the op (serial and on the
 * thread pool), negative indices, reductions gated by opset, load-time
 * inference of data-dependent shapes, string ownership, and attribute and
 * input errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kernel_fixture.h"

extern const struct axle_op axle_op_gather_elements, axle_op_gather_nd,
    axle_op_scatter_elements, axle_op_scatter_nd, axle_op_trilu,
    axle_op_one_hot, axle_op_compress, axle_op_non_zero, axle_op_eye_like,
    axle_op_unique, axle_op_reverse_sequence, axle_op_depth_to_space,
    axle_op_space_to_depth;

static void err_names(const struct fx *f, const char *what)
{
    if (strstr(f->err.msg, what) == NULL) {
        print_error("message '%s' lacks '%s'\n", f->err.msg, what);
        fail();
    }
}

/* ---- GatherElements / GatherND ---------------------------------------- */

static void gather_elements_rejects_out_of_range_indices(void **state)
{
    struct fx f;
    float xv[] = {1, 2, 3, 4, 5, 6};
    int64_t iv[] = {0, -3, 2, 1};
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 3), xv);
    struct axle_tensor idx = tens(AXLE_DTYPE_INT64, 2, I64(2, 2), iv), o;
    const struct axle_tensor *in[2] = {&x, &idx};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "GatherElements", 13, 1);
    attr_int(&f, "axis", 1);
    /* Negative counts from the end: -3 is column 0. */
    assert_int_equal(call(&f, &axle_op_gather_elements, 2, in, 1, out),
                     AXLE_OK);
    float want[] = {1, 1, 6, 5};
    assert_memory_equal(o.data, want, sizeof(want));
    free_out(&o);

    iv[2] = 3;
    assert_int_equal(call(&f, &axle_op_gather_elements, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    err_names(&f, "GatherElements");
    err_names(&f, "index 3 at position 2");
    free_out(&o);
    iv[2] = -4;
    assert_int_equal(call(&f, &axle_op_gather_elements, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    free_out(&o);

    /* Indices wider than data off the axis. */
    idx = tens(AXLE_DTYPE_INT64, 2, I64(3, 1), iv);
    assert_int_equal(infer(&f, &axle_op_gather_elements, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void gather_elements_threaded_reports_bad_index(void **state)
{
    enum { N = 1 << 16 };
    struct fx f;
    int32_t *xv = malloc(sizeof(int32_t) * N * 2);
    int32_t *iv = malloc(sizeof(int32_t) * N * 2);
    struct axle_tensor x = tens(AXLE_DTYPE_INT32, 2, I64(N, 2), xv);
    struct axle_tensor idx = tens(AXLE_DTYPE_INT32, 2, I64(N, 2), iv), o;
    const struct axle_tensor *in[2] = {&x, &idx};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    for (int i = 0; i < N * 2; i++) {
        xv[i] = i;
        iv[i] = (i * 7) % N; /* rows along axis 0 */
    }
    fx_init(&f, "GatherElements", 13, 3);
    assert_int_equal(call(&f, &axle_op_gather_elements, 2, in, 1, out),
                     AXLE_OK);
    for (int i = 0; i < N * 2; i++)
        assert_int_equal(((int32_t *)o.data)[i], iv[i] * 2 + i % 2);
    free_out(&o);
    iv[N + 5] = N;
    iv[N + 9] = -N - 1;
    assert_int_equal(call(&f, &axle_op_gather_elements, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    err_names(&f, "position 65541"); /* the lowest bad one */
    free_out(&o);
    fx_dispose(&f);
    free(xv);
    free(iv);
}

static void gather_nd_checks_batch_dims_and_indices(void **state)
{
    struct fx f;
    float xv[] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t iv[] = {1, 0};
    int64_t n = axle_dim_sym(0);
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 3, I64(2, 2, 2), xv);
    struct axle_tensor idx = tens(AXLE_DTYPE_INT64, 2, I64(2, 1), iv), o;
    const struct axle_tensor *in[2] = {&x, &idx};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "GatherND", 13, 1);
    attr_int(&f, "batch_dims", 1);
    /* Batch b takes row iv[b] of its own 2x2 block. */
    assert_int_equal(call(&f, &axle_op_gather_nd, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    float want[] = {2, 3, 4, 5};
    assert_memory_equal(o.data, want, sizeof(want));
    free_out(&o);
    iv[1] = -3;
    assert_int_equal(call(&f, &axle_op_gather_nd, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    err_names(&f, "GatherND");
    free_out(&o);

    /* Symbolic leading dims survive load-time inference. */
    x = tens(AXLE_DTYPE_FLOAT32, 3, I64(n, 4, 5), NULL);
    idx = tens(AXLE_DTYPE_INT64, 3, I64(n, 7, 1), NULL);
    assert_int_equal(infer(&f, &axle_op_gather_nd, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 3);
    assert_int_equal(o.dims[0], n);
    assert_int_equal(o.dims[1], 7);
    assert_int_equal(o.dims[2], 5);
    /* Tuple longer than the non-batch dims. */
    idx = tens(AXLE_DTYPE_INT64, 3, I64(n, 7, 3), NULL);
    assert_int_equal(infer(&f, &axle_op_gather_nd, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "GatherND", 13, 1);
    attr_int(&f, "batch_dims", 3);
    idx = tens(AXLE_DTYPE_INT64, 3, I64(n, 7, 1), NULL);
    assert_int_equal(infer(&f, &axle_op_gather_nd, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- ScatterND / ScatterElements -------------------------------------- */

static void scatter_nd_rejects_out_of_range_indices(void **state)
{
    struct fx f;
    float xv[] = {1, 2, 3, 4}, uv[] = {10, 20};
    int64_t iv[] = {-1, 1};
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 1, I64(4), xv);
    struct axle_tensor idx = tens(AXLE_DTYPE_INT64, 2, I64(2, 1), iv);
    struct axle_tensor u = tens(AXLE_DTYPE_FLOAT32, 1, I64(2), uv), o;
    const struct axle_tensor *in[3] = {&x, &idx, &u};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "ScatterND", 16, 1);
    assert_int_equal(call(&f, &axle_op_scatter_nd, 3, in, 1, out), AXLE_OK);
    float want[] = {1, 20, 3, 10};
    assert_memory_equal(o.data, want, sizeof(want));
    free_out(&o);
    iv[1] = 4;
    assert_int_equal(call(&f, &axle_op_scatter_nd, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    err_names(&f, "ScatterND");
    err_names(&f, "index 4 at position 1");
    free_out(&o);
    iv[1] = -5;
    assert_int_equal(call(&f, &axle_op_scatter_nd, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    free_out(&o);
    /* updates of the wrong shape */
    u = tens(AXLE_DTYPE_FLOAT32, 1, I64(3), uv);
    assert_int_equal(infer(&f, &axle_op_scatter_nd, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void scatter_reductions_follow_opset(void **state)
{
    struct fx f;
    int32_t xv[] = {5, 5, 5}, uv[] = {7, 2, 9};
    int64_t iv[] = {0, 0, 2};
    struct axle_tensor x = tens(AXLE_DTYPE_INT32, 1, I64(3), xv);
    struct axle_tensor idx = tens(AXLE_DTYPE_INT64, 1, I64(3), iv);
    struct axle_tensor u = tens(AXLE_DTYPE_INT32, 1, I64(3), uv), o;
    const struct axle_tensor *in[3] = {&x, &idx, &u};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "ScatterElements", 16, 1);
    attr_str(&f, "reduction", "max");
    assert_int_equal(infer(&f, &axle_op_scatter_elements, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    err_names(&f, "opset 18");
    fx_dispose(&f);

    fx_init(&f, "ScatterElements", 18, 1);
    attr_str(&f, "reduction", "max");
    assert_int_equal(call(&f, &axle_op_scatter_elements, 3, in, 1, out),
                     AXLE_OK);
    int32_t want_max[] = {7, 5, 9};
    assert_memory_equal(o.data, want_max, sizeof(want_max));
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "ScatterElements", 18, 1);
    attr_str(&f, "reduction", "min");
    assert_int_equal(call(&f, &axle_op_scatter_elements, 3, in, 1, out),
                     AXLE_OK);
    int32_t want_min[] = {2, 5, 5};
    assert_memory_equal(o.data, want_min, sizeof(want_min));
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "ScatterElements", 18, 1);
    attr_str(&f, "reduction", "avg");
    assert_int_equal(infer(&f, &axle_op_scatter_elements, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* ScatterND max on float16 (combined in float32). */
    uint16_t hx[] = {0x3c00, 0x4000}, hu[] = {0x4200}; /* 1, 2; 3 */
    int64_t hi[] = {0};
    struct axle_tensor hxt = tens(AXLE_DTYPE_FLOAT16, 1, I64(2), hx);
    struct axle_tensor hit = tens(AXLE_DTYPE_INT64, 2, I64(1, 1), hi);
    struct axle_tensor hut = tens(AXLE_DTYPE_FLOAT16, 1, I64(1), hu);
    const struct axle_tensor *hin[3] = {&hxt, &hit, &hut};
    fx_init(&f, "ScatterND", 18, 1);
    attr_str(&f, "reduction", "max");
    assert_int_equal(call(&f, &axle_op_scatter_nd, 3, hin, 1, out), AXLE_OK);
    assert_int_equal(((uint16_t *)o.data)[0], 0x4200);
    assert_int_equal(((uint16_t *)o.data)[1], 0x4000);
    free_out(&o);
    fx_dispose(&f);
}

static void scatter_elements_copies_strings(void **state)
{
    struct fx f;
    char *xv[] = {"a", "b", "c"}, *uv[] = {"zz"};
    int64_t iv[] = {-2};
    struct axle_tensor x = tens(AXLE_DTYPE_STRING, 1, I64(3), xv);
    struct axle_tensor idx = tens(AXLE_DTYPE_INT64, 1, I64(1), iv);
    struct axle_tensor u = tens(AXLE_DTYPE_STRING, 1, I64(1), uv), o;
    const struct axle_tensor *in[3] = {&x, &idx, &u};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "ScatterElements", 13, 1);
    assert_int_equal(call(&f, &axle_op_scatter_elements, 3, in, 1, out),
                     AXLE_OK);
    char **s = o.data;
    assert_string_equal(s[0], "a");
    assert_string_equal(s[1], "zz");
    assert_string_equal(s[2], "c");
    assert_ptr_not_equal(s[1], uv[0]); /* owned copy */
    free_out(&o);
    fx_dispose(&f);
}

/* ---- data-dependent shapes -------------------------------------------- */

static void nonzero_compress_unique_infer_from_values(void **state)
{
    struct fx f;
    float xv[] = {0, 3, -0.0f, 1, 3, 0};
    uint8_t cv[] = {1, 0, 1};
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 3), NULL);
    struct axle_tensor c = tens(AXLE_DTYPE_BOOL, 1, I64(3), NULL), o;
    struct axle_tensor o1, o2, o3;
    const struct axle_tensor *in[2] = {&x, &c};
    struct axle_tensor *out[4] = {&o, &o1, &o2, &o3};
    (void)state;

    /* Load time without values: the count stays unknown. */
    fx_init(&f, "NonZero", 13, 1);
    assert_int_equal(infer(&f, &axle_op_non_zero, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.dims[0], 2);
    assert_int_equal(o.dims[1], -1);
    x.data = xv;
    assert_int_equal(call(&f, &axle_op_non_zero, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[1], 3); /* -0.0 is zero */
    int64_t want_nz[] = {0, 1, 1, 1, 0, 1};
    assert_memory_equal(o.data, want_nz, sizeof(want_nz));
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "Compress", 11, 1);
    attr_int(&f, "axis", -1);
    assert_int_equal(infer(&f, &axle_op_compress, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.dims[1], -1);
    c.data = cv;
    assert_int_equal(call(&f, &axle_op_compress, 2, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], 2);
    assert_int_equal(o.dims[1], 2);
    float want_c[] = {0, -0.0f, 1, 0};
    assert_memory_equal(o.data, want_c, sizeof(want_c));
    free_out(&o);
    /* A longer condition may only be false past the axis. */
    uint8_t longer[] = {1, 0, 0, 0};
    c = tens(AXLE_DTYPE_BOOL, 1, I64(4), longer);
    assert_int_equal(call(&f, &axle_op_compress, 2, in, 1, out), AXLE_OK);
    free_out(&o);
    longer[3] = 1;
    assert_int_equal(infer(&f, &axle_op_compress, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    err_names(&f, "Compress");
    fx_dispose(&f);

    /* Unique, not sorted: first-occurrence order; -0.0 equals 0. */
    fx_init(&f, "Unique", 11, 1);
    attr_int(&f, "sorted", 0);
    x.data = NULL;
    assert_int_equal(infer(&f, &axle_op_unique, 1, in, 4, out), AXLE_OK);
    assert_int_equal(o.dims[0], -1);
    assert_int_equal(o2.dims[0], 6);
    x.data = xv;
    assert_int_equal(call(&f, &axle_op_unique, 1, in, 4, out), AXLE_OK);
    assert_int_equal(o.dims[0], 3);
    float want_y[] = {0, 3, 1};
    int64_t want_i[] = {0, 1, 3}, want_inv[] = {0, 1, 0, 2, 1, 0},
            want_n[] = {3, 2, 1};
    assert_memory_equal(o.data, want_y, sizeof(want_y));
    assert_memory_equal(o1.data, want_i, sizeof(want_i));
    assert_memory_equal(o2.data, want_inv, sizeof(want_inv));
    assert_memory_equal(o3.data, want_n, sizeof(want_n));
    free_outs(4, out);
    fx_dispose(&f);
}

static void unique_sorts_strings_with_optional_outputs(void **state)
{
    struct fx f;
    char *xv[] = {"pear", "apple", "pear", "", "apple"};
    struct axle_tensor x = tens(AXLE_DTYPE_STRING, 1, I64(5), xv), o, o2;
    const struct axle_tensor *in[1] = {&x};
    struct axle_tensor *out[3] = {&o, NULL, &o2};
    (void)state;

    fx_init(&f, "Unique", 11, 1);
    assert_int_equal(call(&f, &axle_op_unique, 1, in, 3, out), AXLE_OK);
    assert_int_equal(o.dims[0], 3);
    char **y = o.data;
    assert_string_equal(y[0], "");
    assert_string_equal(y[1], "apple");
    assert_string_equal(y[2], "pear");
    int64_t want_inv[] = {2, 1, 2, 0, 1};
    assert_memory_equal(o2.data, want_inv, sizeof(want_inv));
    free_out(&o);
    free_out(&o2);
    fx_dispose(&f);
}

/* ---- shape-determined ops --------------------------------------------- */

static void onehot_out_of_range_rows_are_off(void **state)
{
    struct fx f;
    int64_t iv[] = {1, -1, 3, -4};
    float dv = 3.0f;
    int32_t vv[] = {0, 9};
    struct axle_tensor idx = tens(AXLE_DTYPE_INT64, 1, I64(4), iv);
    struct axle_tensor d = tens(AXLE_DTYPE_FLOAT32, 0, NULL, NULL);
    struct axle_tensor v = tens(AXLE_DTYPE_INT32, 1, I64(2), vv), o;
    const struct axle_tensor *in[3] = {&idx, &d, &v};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "OneHot", 11, 1);
    attr_int(&f, "axis", 0);
    assert_int_equal(infer(&f, &axle_op_one_hot, 3, in, 1, out), AXLE_OK);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.dims[0], -1); /* depth not known at load */
    assert_int_equal(o.dims[1], 4);
    d.data = &dv;
    assert_int_equal(call(&f, &axle_op_one_hot, 3, in, 1, out), AXLE_OK);
    assert_int_equal(o.dims[0], 3);
    /* [depth=3, 4]: columns 1, -1 -> 2, 3 off, -4 off */
    int32_t want[] = {0, 0, 0, 0, 9, 0, 0, 0, 0, 9, 0, 0};
    assert_memory_equal(o.data, want, sizeof(want));
    free_out(&o);
    dv = 0;
    assert_int_equal(infer(&f, &axle_op_one_hot, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* Before 11 a negative index is off too. */
    fx_init(&f, "OneHot", 9, 1);
    attr_int(&f, "axis", 0);
    dv = 3;
    assert_int_equal(call(&f, &axle_op_one_hot, 3, in, 1, out), AXLE_OK);
    int32_t want9[] = {0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(o.data, want9, sizeof(want9));
    free_out(&o);
    fx_dispose(&f);
}

static void reverse_sequence_rejects_bad_lengths(void **state)
{
    struct fx f;
    int32_t xv[] = {1, 2, 3, 4, 5, 6};
    int64_t lv[] = {3, 2};
    struct axle_tensor x = tens(AXLE_DTYPE_INT32, 2, I64(2, 3), xv);
    struct axle_tensor l = tens(AXLE_DTYPE_INT64, 1, I64(2), lv), o;
    const struct axle_tensor *in[2] = {&x, &l};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "ReverseSequence", 10, 1);
    attr_int(&f, "batch_axis", 0);
    attr_int(&f, "time_axis", 1);
    assert_int_equal(call(&f, &axle_op_reverse_sequence, 2, in, 1, out),
                     AXLE_OK);
    int32_t want[] = {3, 2, 1, 5, 4, 6};
    assert_memory_equal(o.data, want, sizeof(want));
    free_out(&o);
    lv[1] = 4;
    assert_int_equal(call(&f, &axle_op_reverse_sequence, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    err_names(&f, "ReverseSequence");
    free_out(&o);
    lv[1] = -1;
    assert_int_equal(call(&f, &axle_op_reverse_sequence, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "ReverseSequence", 10, 1);
    attr_int(&f, "batch_axis", 0);
    assert_int_equal(infer(&f, &axle_op_reverse_sequence, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void trilu_strings_and_extreme_k(void **state)
{
    struct fx f;
    char *xv[] = {"a", "b", "c", "d"};
    int64_t kv = INT64_MIN;
    struct axle_tensor x = tens(AXLE_DTYPE_STRING, 2, I64(2, 2), xv);
    struct axle_tensor kt = tens(AXLE_DTYPE_INT64, 0, NULL, &kv), o;
    const struct axle_tensor *in[2] = {&x, &kt};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "Trilu", 14, 1);
    /* upper with k = -inf keeps everything */
    assert_int_equal(call(&f, &axle_op_trilu, 2, in, 1, out), AXLE_OK);
    for (int i = 0; i < 4; i++)
        assert_string_equal(((char **)o.data)[i], xv[i]);
    free_out(&o);
    kv = 1;
    assert_int_equal(call(&f, &axle_op_trilu, 2, in, 1, out), AXLE_OK);
    assert_string_equal(((char **)o.data)[0], "");
    assert_string_equal(((char **)o.data)[1], "b");
    assert_string_equal(((char **)o.data)[2], "");
    assert_string_equal(((char **)o.data)[3], "");
    free_out(&o);
    kv = INT64_MAX;
    assert_int_equal(call(&f, &axle_op_trilu, 2, in, 1, out), AXLE_OK);
    assert_string_equal(((char **)o.data)[1], "");
    free_out(&o);
    x = tens(AXLE_DTYPE_STRING, 1, I64(4), xv);
    assert_int_equal(infer(&f, &axle_op_trilu, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void eyelike_dtype_and_offdiagonal(void **state)
{
    struct fx f;
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 2, I64(2, 3), NULL), o;
    const struct axle_tensor *in[1] = {&x};
    struct axle_tensor *out[1] = {&o};
    (void)state;

    fx_init(&f, "EyeLike", 9, 1);
    attr_int(&f, "dtype", AXLE_DTYPE_INT64);
    attr_int(&f, "k", -1);
    assert_int_equal(call(&f, &axle_op_eye_like, 1, in, 1, out), AXLE_OK);
    assert_int_equal(o.dtype, AXLE_DTYPE_INT64);
    int64_t want[] = {0, 0, 0, 1, 0, 0};
    assert_memory_equal(o.data, want, sizeof(want));
    free_out(&o);
    fx_dispose(&f);

    fx_init(&f, "EyeLike", 9, 1);
    attr_int(&f, "dtype", AXLE_DTYPE_STRING);
    assert_int_equal(infer(&f, &axle_op_eye_like, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void space_depth_round_trip(void **state)
{
    struct fx f;
    enum { N = 2 * 3 * 4 * 6 };
    float xv[N];
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 4, I64(2, 3, 4, 6), xv);
    struct axle_tensor m, o;
    const struct axle_tensor *in[1] = {&x}, *in2[1] = {&m};
    struct axle_tensor *out[1] = {&m}, *out2[1] = {&o};
    (void)state;

    for (int i = 0; i < N; i++)
        xv[i] = (float)i;
    fx_init(&f, "SpaceToDepth", 13, 1);
    attr_int(&f, "blocksize", 2);
    assert_int_equal(call(&f, &axle_op_space_to_depth, 1, in, 1, out),
                     AXLE_OK);
    assert_int_equal(m.dims[1], 12);
    assert_int_equal(m.dims[2], 2);
    assert_int_equal(m.dims[3], 3);
    /* out[n, (b1*2 + b2)*C + c, h, w] = x[n, c, 2h + b1, 2w + b2] */
    for (int c = 0; c < 3; c++)
        for (int b1 = 0; b1 < 2; b1++)
            for (int b2 = 0; b2 < 2; b2++) {
                int oc = (b1 * 2 + b2) * 3 + c;
                float got = ((float *)m.data)[((1 * 12 + oc) * 2 + 1) * 3 + 2];
                assert_true(got == xv[((1 * 3 + c) * 4 + 2 + b1) * 6 + 4 + b2]);
            }
    fx_dispose(&f);
    fx_init(&f, "DepthToSpace", 13, 1);
    attr_int(&f, "blocksize", 2);
    attr_str(&f, "mode", "DCR");
    assert_int_equal(call(&f, &axle_op_depth_to_space, 1, in2, 1, out2),
                     AXLE_OK);
    assert_memory_equal(o.data, xv, sizeof(xv));
    free_out(&o);
    free_out(&m);
    fx_dispose(&f);

    fx_init(&f, "DepthToSpace", 13, 1);
    attr_int(&f, "blocksize", 2);
    assert_int_equal(infer(&f, &axle_op_depth_to_space, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT); /* 3 channels, not 4k */
    fx_dispose(&f);
    fx_init(&f, "DepthToSpace", 13, 1);
    attr_int(&f, "blocksize", 0);
    assert_int_equal(infer(&f, &axle_op_depth_to_space, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gather_elements_rejects_out_of_range_indices),
        cmocka_unit_test(gather_elements_threaded_reports_bad_index),
        cmocka_unit_test(gather_nd_checks_batch_dims_and_indices),
        cmocka_unit_test(scatter_nd_rejects_out_of_range_indices),
        cmocka_unit_test(scatter_reductions_follow_opset),
        cmocka_unit_test(scatter_elements_copies_strings),
        cmocka_unit_test(nonzero_compress_unique_infer_from_values),
        cmocka_unit_test(unique_sorts_strings_with_optional_outputs),
        cmocka_unit_test(onehot_out_of_range_rows_are_off),
        cmocka_unit_test(reverse_sequence_rejects_bad_lengths),
        cmocka_unit_test(trilu_strings_and_extreme_k),
        cmocka_unit_test(eyelike_dtype_and_offdiagonal),
        cmocka_unit_test(space_depth_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
