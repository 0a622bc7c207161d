/*
 * test_vision_signal.c - detection, sampling and spectral kernels
 * (vision.c, unpool.c, signal.c) through struct axle_op, for what ONNX's
 * backend cases leave out: MaxRoiPool (no case at all) against a naive
 * reference, DFT lengths that take each FFT path (radix 4/2/3/5, a
 * generic prime radix, Bluestein for a prime above 61, a 4096-point
 * power of two; planned per run and at load) against an O(n^2) float64
 * DFT, an inverse round trip and
 * threading, NonMaxSuppression's load-time (unknown count) and run-time
 * shapes, and the bad-input errors of every op.
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

extern const struct axle_op axle_op_non_max_suppression, axle_op_roi_align,
    axle_op_max_roi_pool, axle_op_grid_sample, axle_op_max_unpool,
    axle_op_dft, axle_op_stft, axle_op_hann_window, axle_op_hamming_window,
    axle_op_blackman_window, axle_op_mel_weight_matrix;

/* ---- MaxRoiPool -------------------------------------------------------- */

static void max_roi_pool_matches_naive_reference(void **st)
{
    const int64_t n = 2, c = 3, h = 9, w = 11, ph = 3, pw = 2;
    float *x = rnd(n * c * h * w, 7, 5.0f);
    float rois[4][5] = {{0, 1, 2, 8, 7},
                        {1, 0, 0, 10, 8},
                        {1, 4.4f, 3.6f, 4.6f, 3.4f}, /* 1x1 after rounding */
                        {0, 3, 1, 30, 40}};          /* runs past the edge */
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 4, I64(n, c, h, w), x);
    struct axle_tensor tr = tens(AXLE_DTYPE_FLOAT32, 2, I64(4, 5), rois);
    struct axle_tensor ty;
    const struct axle_tensor *in[] = {&tx, &tr};
    struct axle_tensor *out[] = {&ty};
    for (int threads = 1; threads <= 2; threads++) {
        struct fx f;
        fx_init(&f, "MaxRoiPool", 1, threads);
        attr_ints(&f, "pooled_shape", 2, I64(ph, pw));
        attr_float(&f, "spatial_scale", 0.9f);
        assert_int_equal(call(&f, &axle_op_max_roi_pool, 2, in, 1, out),
                         AXLE_OK);
        assert_int_equal(ty.rank, 4);
        assert_int_equal(ty.dims[0], 4);
        assert_int_equal(ty.dims[1], c);
        assert_int_equal(ty.dims[2], ph);
        assert_int_equal(ty.dims[3], pw);
        const float *y = ty.data;
        for (int r = 0; r < 4; r++) {
            int b = (int)rois[r][0];
            int x0 = (int)roundf(rois[r][1] * 0.9f);
            int y0 = (int)roundf(rois[r][2] * 0.9f);
            int x1 = (int)roundf(rois[r][3] * 0.9f);
            int y1 = (int)roundf(rois[r][4] * 0.9f);
            int rw = x1 - x0 + 1 > 1 ? x1 - x0 + 1 : 1;
            int rh = y1 - y0 + 1 > 1 ? y1 - y0 + 1 : 1;
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < ph; i++)
                    for (int j = 0; j < pw; j++) {
                        int hs = (int)floor(i * (double)rh / ph) + y0;
                        int he = (int)ceil((i + 1) * (double)rh / ph) + y0;
                        int ws = (int)floor(j * (double)rw / pw) + x0;
                        int we = (int)ceil((j + 1) * (double)rw / pw) + x0;
                        double m = -INFINITY;
                        for (int yy = hs; yy < he; yy++)
                            for (int xx = ws; xx < we; xx++)
                                if (yy >= 0 && yy < h && xx >= 0 && xx < w)
                                    m = fmax(m, x[((b * c + ch) * h + yy) *
                                                      w + xx]);
                        if (m == -INFINITY)
                            m = 0;
                        near(y[((r * c + ch) * ph + i) * pw + j], m, 0);
                    }
        }
        free_out(&ty);
        fx_dispose(&f);
    }
    /* a batch index outside X is an error, not a read past it */
    rois[1][0] = 2;
    struct fx f;
    fx_init(&f, "MaxRoiPool", 1, 1);
    attr_ints(&f, "pooled_shape", 2, I64(ph, pw));
    assert_int_equal(call(&f, &axle_op_max_roi_pool, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "batch index"));
    free_out(&ty);
    fx_dispose(&f);
    fx_init(&f, "MaxRoiPool", 1, 1); /* pooled_shape is required */
    assert_int_equal(infer(&f, &axle_op_max_roi_pool, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    free(x);
}

/* ---- DFT ---------------------------------------------------------------- */

/* Complex DFT of n points in float64, the O(n^2) definition. */
static void naive_dft(const double *x, double *y, int64_t n, bool inv)
{
    for (int64_t k = 0; k < n; k++) {
        double sr = 0, si = 0;
        for (int64_t j = 0; j < n; j++) {
            double a = (inv ? 2.0 : -2.0) * M_PI *
                       (double)((j * k) % n) / (double)n;
            sr += x[2 * j] * cos(a) - x[2 * j + 1] * sin(a);
            si += x[2 * j] * sin(a) + x[2 * j + 1] * cos(a);
        }
        y[2 * k] = inv ? sr / (double)n : sr;
        y[2 * k + 1] = inv ? si / (double)n : si;
    }
}

static void dft_matches_naive_dft_on_every_fft_path(void **st)
{
    /* 4096: radix 4; 2*3*5*7*4: mixed; 61*2: generic prime radix;
     * 1009 and 2*127: Bluestein; 1 and 2: trivial */
    static const int64_t lens[] = {1, 2, 4096, 840, 122, 1009, 254, 9};
    for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        int64_t n = lens[li], sig = 3;
        double *x = malloc(sizeof(double) * 2 * n * sig);
        double *ref = malloc(sizeof(double) * 2 * n);
        srand((unsigned)n);
        for (int64_t i = 0; i < 2 * n * sig; i++)
            x[i] = (double)rand() / RAND_MAX - 0.5;
        for (int mode = 0; mode < 4; mode++) {
            int inv = mode & 1;
            bool prepared = mode >= 2; /* the plan built at load time */
            struct fx f;
            fx_init(&f, "DFT", 17, li % 2 ? 2 : 1);
            attr_int(&f, "axis", 2);
            if (inv)
                attr_int(&f, "inverse", 1);
            /* [1, sig, n, 2]: transform along the last signal axis */
            struct axle_tensor tx =
                tens(AXLE_DTYPE_FLOAT64, 4, I64(1, sig, n, 2), x);
            struct axle_tensor ty;
            const struct axle_tensor *in[] = {&tx};
            struct axle_tensor *out[] = {&ty};
            assert_int_equal(call_prepared(&f, &axle_op_dft, 1, in, 1, out,
                                           prepared),
                             AXLE_OK);
            assert_int_equal(ty.dims[2], n);
            for (int64_t s = 0; s < sig; s++) {
                naive_dft(x + 2 * n * s, ref, n, inv);
                const double *y = (const double *)ty.data + 2 * n * s;
                for (int64_t i = 0; i < 2 * n; i++)
                    if (fabs(y[i] - ref[i]) > 1e-9 * (double)n) {
                        print_error("n %lld inv %d i %lld: %g vs %g\n",
                                    (long long)n, inv, (long long)i, y[i],
                                    ref[i]);
                        fail();
                    }
            }
            free_out(&ty);
            fx_dispose(&f);
        }
        free(x);
        free(ref);
    }
}

static void dft_real_onesided_length_and_round_trip(void **st)
{
    const int64_t n = 37, len = 50;
    float x[37];
    for (int i = 0; i < n; i++)
        x[i] = (float)sin(i * 0.7) + (float)i * 0.01f;
    int64_t lv = len;
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, n, 1), x);
    struct axle_tensor tl = tens(AXLE_DTYPE_INT64, 0, NULL, &lv);
    struct axle_tensor ty, tz;
    const struct axle_tensor *in[] = {&tx, &tl};
    struct axle_tensor *out[] = {&ty};
    struct fx f;
    fx_init(&f, "DFT", 17, 1);
    attr_int(&f, "onesided", 1);
    assert_int_equal(call(&f, &axle_op_dft, 2, in, 1, out), AXLE_OK);
    assert_int_equal(ty.dims[1], len / 2 + 1); /* padded to 50, 26 bins */
    assert_int_equal(ty.dims[2], 2);
    double xd[100] = {0}, ref[100];
    for (int i = 0; i < n; i++)
        xd[2 * i] = x[i];
    naive_dft(xd, ref, len, false);
    for (int i = 0; i < 2 * (len / 2 + 1); i++)
        near(((float *)ty.data)[i], ref[i], 1e-5);
    free_out(&ty);
    fx_dispose(&f);

    /* complex forward then inverse gives the signal back */
    fx_init(&f, "DFT", 17, 1);
    const struct axle_tensor *in1[] = {&tx};
    assert_int_equal(call(&f, &axle_op_dft, 1, in1, 1, out), AXLE_OK);
    fx_dispose(&f);
    fx_init(&f, "DFT", 17, 1);
    attr_int(&f, "inverse", 1);
    const struct axle_tensor *in2[] = {&ty};
    struct axle_tensor *out2[] = {&tz};
    assert_int_equal(call(&f, &axle_op_dft, 1, in2, 1, out2), AXLE_OK);
    for (int i = 0; i < n; i++) {
        near(((float *)tz.data)[2 * i], x[i], 1e-5);
        near(((float *)tz.data)[2 * i + 1], 0, 1e-5);
    }
    free_out(&ty);
    free_out(&tz);
    fx_dispose(&f);
}

static void dft_rejects_bad_axis_length_and_layout(void **st)
{
    float x[24] = {0};
    struct axle_tensor ty;
    struct axle_tensor *out[] = {&ty};
    struct fx f;
    struct axle_tensor t3 = tens(AXLE_DTYPE_FLOAT32, 3, I64(2, 4, 3), x);
    const struct axle_tensor *in3[] = {&t3};
    fx_init(&f, "DFT", 17, 1); /* last dim 3 is neither real nor complex */
    assert_int_equal(infer(&f, &axle_op_dft, 1, in3, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, I64(2, 12, 1), x);
    const struct axle_tensor *in[] = {&tx};
    static const int64_t bad_axes[] = {2, -1, -4};
    for (int i = 0; i < 3; i++) {
        fx_init(&f, "DFT", 17, 1);
        attr_int(&f, "axis", bad_axes[i]);
        assert_int_equal(infer(&f, &axle_op_dft, 1, in, 1, out),
                         AXLE_INVALID_ARGUMENT);
        assert_non_null(strstr(f.err.msg, "axis"));
        fx_dispose(&f);
    }
    int64_t zero = 0;
    struct axle_tensor tl = tens(AXLE_DTYPE_INT64, 0, NULL, &zero);
    const struct axle_tensor *inl[] = {&tx, &tl};
    fx_init(&f, "DFT", 17, 1);
    assert_int_equal(infer(&f, &axle_op_dft, 2, inl, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "dft_length"));
    fx_dispose(&f);
    int32_t xi[24] = {0};
    struct axle_tensor ti = tens(AXLE_DTYPE_INT32, 3, I64(2, 12, 1), xi);
    const struct axle_tensor *ini[] = {&ti};
    fx_init(&f, "DFT", 17, 1);
    assert_int_equal(infer(&f, &axle_op_dft, 1, ini, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- STFT, windows, mel ------------------------------------------------- */

static void stft_needs_a_frame_length_and_a_positive_step(void **st)
{
    float x[64] = {0};
    int64_t step = 4, zero = 0, fl = 16;
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 64, 1), x);
    struct axle_tensor ts = tens(AXLE_DTYPE_INT64, 0, NULL, &step);
    struct axle_tensor tz = tens(AXLE_DTYPE_INT64, 0, NULL, &zero);
    struct axle_tensor tl = tens(AXLE_DTYPE_INT64, 0, NULL, &fl);
    struct axle_tensor ty;
    struct axle_tensor *out[] = {&ty};
    struct fx f;
    const struct axle_tensor *none[] = {&tx, &ts};
    fx_init(&f, "STFT", 17, 1);
    assert_int_equal(infer(&f, &axle_op_stft, 2, none, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    const struct axle_tensor *zstep[] = {&tx, &tz, NULL, &tl};
    fx_init(&f, "STFT", 17, 1);
    assert_int_equal(infer(&f, &axle_op_stft, 4, zstep, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "frame_step"));
    fx_dispose(&f);
    float win[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    struct axle_tensor tw = tens(AXLE_DTYPE_FLOAT32, 1, I64(8), win);
    const struct axle_tensor *mism[] = {&tx, &ts, &tw, &tl};
    fx_init(&f, "STFT", 17, 1);
    assert_int_equal(infer(&f, &axle_op_stft, 4, mism, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    /* a signal shorter than a frame gives no frames */
    struct axle_tensor tshort = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 10, 1), x);
    const struct axle_tensor *sh[] = {&tshort, &ts, NULL, &tl};
    fx_init(&f, "STFT", 17, 1);
    assert_int_equal(call(&f, &axle_op_stft, 4, sh, 1, out), AXLE_OK);
    assert_int_equal(ty.dims[1], 0);
    assert_int_equal(ty.dims[2], 9);
    free_out(&ty);
    fx_dispose(&f);
}

static void windows_honour_type_size_one_and_reject_negative(void **st)
{
    const struct axle_op *ops[] = {&axle_op_hann_window,
                                   &axle_op_hamming_window,
                                   &axle_op_blackman_window};
    int64_t one = 1, neg = -3, five = 5;
    struct axle_tensor t1 = tens(AXLE_DTYPE_INT64, 0, NULL, &one);
    struct axle_tensor tn = tens(AXLE_DTYPE_INT64, 0, NULL, &neg);
    struct axle_tensor t5 = tens(AXLE_DTYPE_INT64, 0, NULL, &five);
    struct axle_tensor ty;
    struct axle_tensor *out[] = {&ty};
    for (int o = 0; o < 3; o++) {
        struct fx f;
        const struct axle_tensor *in1[] = {&t1};
        fx_init_op(&f, ops[o], 17, 1);
        attr_int(&f, "periodic", 0);
        assert_int_equal(call(&f, ops[o], 1, in1, 1, out), AXLE_OK);
        near(((float *)ty.data)[0], 1.0, 1e-6);
        free_out(&ty);
        fx_dispose(&f);
        const struct axle_tensor *inn[] = {&tn};
        fx_init_op(&f, ops[o], 17, 1);
        assert_int_equal(infer(&f, ops[o], 1, inn, 1, out),
                         AXLE_INVALID_ARGUMENT);
        fx_dispose(&f);
        /* float64 output; symmetric windows are symmetric */
        const struct axle_tensor *in5[] = {&t5};
        fx_init_op(&f, ops[o], 17, 1);
        attr_int(&f, "periodic", 0);
        attr_int(&f, "output_datatype", AXLE_DTYPE_FLOAT64);
        assert_int_equal(call(&f, ops[o], 1, in5, 1, out), AXLE_OK);
        assert_int_equal(ty.dtype, AXLE_DTYPE_FLOAT64);
        const double *y = ty.data;
        near(y[0], y[4], 1e-12);
        near(y[1], y[3], 1e-12);
        near(y[2], 1.0, 1e-12);
        free_out(&ty);
        fx_dispose(&f);
        fx_init_op(&f, ops[o], 17, 1);
        attr_int(&f, "output_datatype", AXLE_DTYPE_STRING);
        assert_int_equal(infer(&f, ops[o], 1, in5, 1, out),
                         AXLE_INVALID_ARGUMENT);
        fx_dispose(&f);
    }
}

static void mel_rejects_inverted_edges(void **st)
{
    int64_t bins = 4, len = 32, rate = 8000;
    float lo = 3000, hi = 100;
    struct axle_tensor a = tens(AXLE_DTYPE_INT64, 0, NULL, &bins);
    struct axle_tensor b = tens(AXLE_DTYPE_INT64, 0, NULL, &len);
    struct axle_tensor c = tens(AXLE_DTYPE_INT64, 0, NULL, &rate);
    struct axle_tensor d = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &lo);
    struct axle_tensor e = tens(AXLE_DTYPE_FLOAT32, 0, NULL, &hi);
    const struct axle_tensor *in[] = {&a, &b, &c, &d, &e};
    struct axle_tensor ty;
    struct axle_tensor *out[] = {&ty};
    struct fx f;
    fx_init(&f, "MelWeightMatrix", 17, 1);
    assert_int_equal(infer(&f, &axle_op_mel_weight_matrix, 5, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    /* an upper edge past Nyquist drops the bins beyond the spectrum */
    lo = 0;
    hi = 8000;
    fx_init(&f, "MelWeightMatrix", 17, 1);
    assert_int_equal(call(&f, &axle_op_mel_weight_matrix, 5, in, 1, out),
                     AXLE_OK);
    assert_int_equal(ty.dims[0], 17);
    assert_int_equal(ty.dims[1], 4);
    free_out(&ty);
    fx_dispose(&f);
}

/* ---- NMS, RoiAlign, GridSample, MaxUnpool -------------------------------- */

static void nms_count_is_unknown_at_load_and_exact_at_run(void **st)
{
    float boxes[3][4] = {{0, 0, 1, 1}, {0, 0.05f, 1, 1.05f}, {5, 5, 6, 6}};
    float scores[3] = {0.9f, 0.8f, 0.7f};
    int64_t maxo = 10;
    float iou = 0.5f;
    struct axle_tensor tb = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 3, 4), NULL);
    struct axle_tensor ts = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 1, 3), NULL);
    struct axle_tensor tm = tens(AXLE_DTYPE_INT64, 1, I64(1), &maxo);
    struct axle_tensor ti = tens(AXLE_DTYPE_FLOAT32, 1, I64(1), &iou);
    struct axle_tensor ty;
    const struct axle_tensor *in[] = {&tb, &ts, &tm, &ti};
    struct axle_tensor *out[] = {&ty};
    struct fx f;
    fx_init(&f, "NonMaxSuppression", 11, 1);
    assert_int_equal(infer(&f, &axle_op_non_max_suppression, 4, in, 1, out),
                     AXLE_OK);
    assert_int_equal(ty.rank, 2);
    assert_false(axle_dim_known(ty.dims[0]));
    assert_int_equal(ty.dims[1], 3);
    tb.data = boxes;
    ts.data = scores;
    assert_int_equal(call(&f, &axle_op_non_max_suppression, 4, in, 1, out),
                     AXLE_OK);
    assert_int_equal(ty.dims[0], 2); /* box 1 overlaps box 0 */
    const int64_t *y = ty.data;
    assert_int_equal(y[2], 0);
    assert_int_equal(y[5], 2);
    free_out(&ty);
    /* max_output_boxes_per_class absent: nothing selected */
    assert_int_equal(call(&f, &axle_op_non_max_suppression, 2, in, 1, out),
                     AXLE_OK);
    assert_int_equal(ty.dims[0], 0);
    free_out(&ty);
    fx_dispose(&f);

    iou = 1.5f;
    fx_init(&f, "NonMaxSuppression", 11, 1);
    assert_int_equal(infer(&f, &axle_op_non_max_suppression, 4, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "iou_threshold"));
    fx_dispose(&f);
    iou = 0.5f;
    struct axle_tensor tbad = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 4, 4), NULL);
    const struct axle_tensor *bad[] = {&tbad, &ts};
    fx_init(&f, "NonMaxSuppression", 11, 1);
    assert_int_equal(infer(&f, &axle_op_non_max_suppression, 2, bad, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void roi_align_and_grid_sample_reject_bad_input(void **st)
{
    float x[16] = {0}, rois[4] = {0, 0, 2, 2}, grid[8] = {0};
    int64_t bidx = 3;
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 4, I64(1, 1, 4, 4), x);
    struct axle_tensor tr = tens(AXLE_DTYPE_FLOAT32, 2, I64(1, 4), rois);
    struct axle_tensor tb = tens(AXLE_DTYPE_INT64, 1, I64(1), &bidx);
    struct axle_tensor ty;
    const struct axle_tensor *in[] = {&tx, &tr, &tb};
    struct axle_tensor *out[] = {&ty};
    struct fx f;
    fx_init(&f, "RoiAlign", 16, 1);
    assert_int_equal(call(&f, &axle_op_roi_align, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "batch index"));
    free_out(&ty);
    fx_dispose(&f);
    bidx = 0;
    fx_init(&f, "RoiAlign", 16, 1);
    attr_str(&f, "mode", "median");
    assert_int_equal(infer(&f, &axle_op_roi_align, 3, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    /* opset 10 has no half_pixel: a 1x1 output of a 2x2 roi at 0..2 */
    fx_init(&f, "RoiAlign", 10, 1);
    for (int i = 0; i < 16; i++)
        x[i] = (float)i;
    assert_int_equal(call(&f, &axle_op_roi_align, 3, in, 1, out), AXLE_OK);
    near(((float *)ty.data)[0], 5.0, 1e-6); /* samples at 0.5, 1.5 */
    free_out(&ty);
    fx_dispose(&f);
    fx_init(&f, "RoiAlign", 16, 1); /* half_pixel: samples at 0, 1 */
    assert_int_equal(call(&f, &axle_op_roi_align, 3, in, 1, out), AXLE_OK);
    near(((float *)ty.data)[0], 2.5, 1e-6);
    free_out(&ty);
    fx_dispose(&f);

    struct axle_tensor tg = tens(AXLE_DTYPE_FLOAT32, 4, I64(1, 2, 2, 2), grid);
    const struct axle_tensor *gin[] = {&tx, &tg};
    fx_init(&f, "GridSample", 16, 1);
    attr_str(&f, "padding_mode", "wrap");
    assert_int_equal(infer(&f, &axle_op_grid_sample, 2, gin, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    struct axle_tensor tg3 = tens(AXLE_DTYPE_FLOAT32, 4, I64(1, 2, 2, 3), NULL);
    const struct axle_tensor *gin3[] = {&tx, &tg3};
    fx_init(&f, "GridSample", 16, 1);
    assert_int_equal(infer(&f, &axle_op_grid_sample, 2, gin3, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    /* NaN and huge grid values sample zeros, never out of bounds */
    grid[0] = NAN;
    grid[1] = 1e30f;
    grid[2] = -1e30f;
    grid[3] = INFINITY;
    static const char *const modes[] = {"bilinear", "nearest", "bicubic"};
    static const char *const pads[] = {"zeros", "border", "reflection"};
    for (int m = 0; m < 3; m++)
        for (int p = 0; p < 3; p++) {
            fx_init(&f, "GridSample", 16, 1);
            attr_str(&f, "mode", modes[m]);
            attr_str(&f, "padding_mode", pads[p]);
            assert_int_equal(call(&f, &axle_op_grid_sample, 2, gin, 1, out),
                             AXLE_OK);
            free_out(&ty);
            fx_dispose(&f);
        }
}

static void max_unpool_rejects_indices_outside_the_output(void **st)
{
    float x[4] = {1, 2, 3, 4};
    int64_t idx[4] = {0, 3, 8, 16};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 4, I64(1, 1, 2, 2), x);
    struct axle_tensor ti = tens(AXLE_DTYPE_INT64, 4, I64(1, 1, 2, 2), idx);
    struct axle_tensor ty;
    const struct axle_tensor *in[] = {&tx, &ti};
    struct axle_tensor *out[] = {&ty};
    struct fx f;
    fx_init(&f, "MaxUnpool", 11, 1);
    attr_ints(&f, "kernel_shape", 2, I64(2, 2));
    attr_ints(&f, "strides", 2, I64(2, 2));
    assert_int_equal(call(&f, &axle_op_max_unpool, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "outside"));
    free_out(&ty);
    idx[3] = 15;
    assert_int_equal(call(&f, &axle_op_max_unpool, 2, in, 1, out), AXLE_OK);
    assert_int_equal(ty.dims[2], 4);
    near(((float *)ty.data)[15], 4, 0);
    near(((float *)ty.data)[8], 3, 0);
    free_out(&ty);
    fx_dispose(&f);
    fx_init(&f, "MaxUnpool", 11, 1); /* kernel_shape is required */
    assert_int_equal(infer(&f, &axle_op_max_unpool, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(max_roi_pool_matches_naive_reference),
        cmocka_unit_test(dft_matches_naive_dft_on_every_fft_path),
        cmocka_unit_test(dft_real_onesided_length_and_round_trip),
        cmocka_unit_test(dft_rejects_bad_axis_length_and_layout),
        cmocka_unit_test(stft_needs_a_frame_length_and_a_positive_step),
        cmocka_unit_test(windows_honour_type_size_one_and_reject_negative),
        cmocka_unit_test(mel_rejects_inverted_edges),
        cmocka_unit_test(nms_count_is_unknown_at_load_and_exact_at_run),
        cmocka_unit_test(roi_align_and_grid_sample_reject_bad_input),
        cmocka_unit_test(max_unpool_rejects_indices_outside_the_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
