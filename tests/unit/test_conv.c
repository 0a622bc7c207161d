/*
 * test_conv.c - Conv, ConvTranspose, pooling, MatMul, Gemm and Einsum
 * kernels called directly through struct axle_op: float32 results against
 * naive double-precision references over many geometries (1-D/2-D/3-D,
 * groups, depthwise with multiplier, strides, dilations, pads, auto_pad,
 * ceil_mode, fused activations), threaded and not; prepared (packed) and
 * unprepared paths; symbolic-shape inference at load; error paths (channel
 * mismatch, bad attributes, windows larger than the input, bad equations).
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
#include "kernels/gemm.h"

extern const struct axle_op axle_op_conv, axle_op_conv_transpose,
    axle_op_max_pool, axle_op_average_pool, axle_op_global_average_pool,
    axle_op_matmul, axle_op_gemm, axle_op_einsum;

/* ---- Conv ------------------------------------------------------------- */

struct conv_case {
    int nsp;
    int64_t N, C, M, group;
    int64_t in[3], k[3], s[3], d[3], pads[6];
    const char *auto_pad;
    bool bias;
    int act;
};

/* Reference in double, explicit pads (auto_pad resolved by the caller). */
static void conv_ref(const struct conv_case *c, const int64_t *pb,
                     const int64_t *out, const float *x, const float *w,
                     const float *b, const float *res, double *y)
{
    int64_t Cg = c->C / c->group, Mg = c->M / c->group;
    int64_t osz = 1, isz = 1, ksz = 1;
    for (int i = 0; i < c->nsp; i++) {
        osz *= out[i];
        isz *= c->in[i];
        ksz *= c->k[i];
    }
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++)
            for (int64_t p = 0; p < osz; p++) {
                int64_t o[3], r = p;
                double acc = b ? b[m] : 0.0;
                for (int i = c->nsp - 1; i >= 0; i--) {
                    o[i] = r % out[i];
                    r /= out[i];
                }
                for (int64_t ci = 0; ci < Cg; ci++)
                    for (int64_t kk = 0; kk < ksz; kk++) {
                        int64_t kr = kk, idx = 0, ki[3];
                        bool inside = true;
                        for (int i = c->nsp - 1; i >= 0; i--) {
                            ki[i] = kr % c->k[i];
                            kr /= c->k[i];
                        }
                        for (int i = 0; i < c->nsp; i++) {
                            int64_t ii = o[i] * c->s[i] - pb[i] +
                                         ki[i] * c->d[i];
                            if (ii < 0 || ii >= c->in[i])
                                inside = false;
                            idx = idx * c->in[i] + ii;
                        }
                        if (!inside)
                            continue;
                        acc += (double)x[((n * c->C) + (m / Mg) * Cg + ci) *
                                             isz + idx] *
                               w[(m * Cg + ci) * ksz + kk];
                    }
                if (res != NULL)
                    acc += res[(n * c->M + m) * osz + p];
                if (c->act == AXLE_ACT_RELU && acc < 0)
                    acc = 0;
                if (c->act == AXLE_ACT_CLIP) /* fused_alpha 0, beta 0.5 */
                    acc = acc < 0 ? 0 : acc > 0.5 ? 0.5 : acc;
                if (c->act == AXLE_ACT_LEAKY_RELU && acc < 0)
                    acc *= 0.1;
                if (c->act == AXLE_ACT_SIGMOID)
                    acc = 1.0 / (1.0 + exp(-acc));
                if (c->act == AXLE_ACT_TANH)
                    acc = tanh(acc);
                y[(n * c->M + m) * osz + p] = acc;
            }
}

/* residual: pass engine/fuse.c's fourth input, y = act(conv + r).
 * prepared: run the op's prepare first (its state, if any, is used).
 * keep: if not NULL, receives the output (the caller frees it). */
static void run_conv_case_p(const struct conv_case *c, int threads,
                            bool residual, bool prepared, float **keep)
{
    struct fx f;
    int64_t xd[5] = {c->N, c->C}, wd[5] = {c->M, c->C / c->group};
    int64_t pb[3], out[3], xn = c->N * c->C, wn = c->M * (c->C / c->group);
    int64_t yn;
    float *x, *w, *b, *r = NULL;
    double *ref;
    struct axle_tensor tx, tw, tb, tr, ty;

    fx_init(&f, "Conv", 13, threads);
    for (int i = 0; i < c->nsp; i++) {
        xd[2 + i] = c->in[i];
        wd[2 + i] = c->k[i];
        xn *= c->in[i];
        wn *= c->k[i];
    }
    attr_ints(&f, "strides", c->nsp, c->s);
    attr_ints(&f, "dilations", c->nsp, c->d);
    attr_int(&f, "group", c->group);
    if (c->auto_pad) {
        attr_str(&f, "auto_pad", c->auto_pad);
    } else {
        attr_ints(&f, "pads", 2 * c->nsp, c->pads);
    }
    f.n->fused_act = c->act;
    f.n->fused_alpha = c->act == AXLE_ACT_LEAKY_RELU ? 0.1f : 0.0f;
    f.n->fused_beta = 0.5f;
    x = rnd(xn, 1, 1.0f);
    w = rnd(wn, 2, 1.0f);
    b = rnd(c->M, 3, 1.0f);
    tx = tens(AXLE_DTYPE_FLOAT32, 2 + c->nsp, xd, x);
    tw = tens(AXLE_DTYPE_FLOAT32, 2 + c->nsp, wd, w);
    tb = tens(AXLE_DTYPE_FLOAT32, 1, &c->M, b);
    const struct axle_tensor *in[4] = {&tx, &tw, c->bias ? &tb : NULL, NULL};
    struct axle_tensor *outs[1] = {&ty};
    int n_in = c->bias ? 3 : 2;
    if (residual) {
        /* The output shape, from shape inference alone. */
        struct axle_tensor ts;
        struct axle_tensor *so[1] = {&ts};
        int64_t rn = 1;
        assert_int_equal(infer(&f, &axle_op_conv, n_in, in, 1, so), AXLE_OK);
        for (int i = 0; i < ts.rank; i++)
            rn *= ts.dims[i];
        r = rnd(rn, 4, 1.0f);
        tr = tens(AXLE_DTYPE_FLOAT32, ts.rank, ts.dims, r);
        in[3] = &tr;
        n_in = 4;
    }
    assert_int_equal(
        call_prepared(&f, &axle_op_conv, n_in, in, 1, outs, prepared),
        AXLE_OK);
    yn = c->N * c->M;
    for (int i = 0; i < c->nsp; i++) {
        int64_t dk = (c->k[i] - 1) * c->d[i] + 1;
        if (c->auto_pad && strcmp(c->auto_pad, "VALID") != 0) {
            out[i] = (c->in[i] + c->s[i] - 1) / c->s[i];
            int64_t tot = (out[i] - 1) * c->s[i] + dk - c->in[i];
            if (tot < 0)
                tot = 0;
            pb[i] = strcmp(c->auto_pad, "SAME_UPPER") == 0 ? tot / 2
                                                          : tot - tot / 2;
        } else if (c->auto_pad) {
            pb[i] = 0;
            out[i] = (c->in[i] - dk) / c->s[i] + 1;
        } else {
            pb[i] = c->pads[i];
            out[i] = (c->in[i] + c->pads[i] + c->pads[c->nsp + i] - dk) /
                         c->s[i] + 1;
        }
        assert_int_equal(ty.dims[2 + i], out[i]);
        yn *= out[i];
    }
    ref = malloc((size_t)yn * sizeof(double));
    conv_ref(c, pb, out, x, w, c->bias ? b : NULL, r, ref);
    for (int64_t i = 0; i < yn; i++)
        near(((float *)ty.data)[i], ref[i], 1e-4);
    free(ref);
    if (keep != NULL)
        *keep = ty.data;
    else
        free(ty.data);
    free(x);
    free(w);
    free(b);
    free(r);
    fx_dispose(&f);
}

static void run_conv_case_r(const struct conv_case *c, int threads,
                            bool residual)
{
    run_conv_case_p(c, threads, residual, true, NULL);
}

static void run_conv_case(const struct conv_case *c, int threads)
{
    run_conv_case_r(c, threads, false);
}

static void conv_matches_reference(void **st)
{
    static const struct conv_case cases[] = {
        /* plain 3x3 pad 1, bias, relu */
        {2, 2, 5, 7, 1, {9, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        /* 1x1 direct GEMM */
        {2, 1, 16, 24, 1, {7, 5}, {1, 1}, {1, 1}, {1, 1}, {0}, NULL, true,
         0},
        /* strided, dilated, asymmetric pads */
        {2, 1, 3, 4, 1, {13, 10}, {3, 2}, {2, 3}, {2, 1}, {2, 0, 1, 3},
         NULL, false, 0},
        /* grouped */
        {2, 2, 6, 9, 3, {8, 8}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL,
         true, 0},
        /* depthwise stride 2 and stride 1, multiplier 2 */
        {2, 1, 8, 8, 8, {15, 17}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        {2, 2, 4, 8, 4, {9, 12}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL,
         true, 0},
        {2, 1, 4, 4, 4, {11, 11}, {5, 5}, {1, 3}, {2, 1}, {2, 1, 0, 3},
         NULL, false, 0},
        /* auto_pad */
        {2, 1, 3, 5, 1, {10, 7}, {4, 3}, {3, 2}, {1, 1}, {0}, "SAME_UPPER",
         true, 0},
        {2, 1, 3, 5, 1, {10, 7}, {4, 3}, {3, 2}, {1, 1}, {0}, "SAME_LOWER",
         true, 0},
        {2, 1, 3, 5, 1, {10, 7}, {4, 3}, {3, 2}, {1, 1}, {0}, "VALID",
         true, 0},
        /* 1-D and 3-D */
        {1, 2, 3, 4, 1, {20}, {5}, {2}, {2}, {2, 1}, NULL, true, 0},
        {1, 1, 4, 4, 4, {20}, {3}, {1}, {1}, {1, 1}, NULL, true, 0},
        {3, 1, 2, 3, 1, {5, 6, 7}, {2, 3, 2}, {1, 2, 1}, {1, 1, 2},
         {1, 0, 1, 0, 1, 1}, NULL, true, 0},
        /* big enough to go parallel */
        {2, 1, 32, 64, 1, {28, 28}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        /* direct depthwise planes: several 16-column blocks and 8-row
         * groups, stride 2 at odd widths, dilations, wide pads */
        {2, 1, 3, 3, 3, {37, 45}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        {2, 1, 2, 2, 2, {19, 41}, {3, 5}, {2, 2}, {2, 3}, {3, 4, 2, 5},
         NULL, true, 0},
        {2, 1, 2, 2, 2, {5, 3}, {3, 3}, {1, 2}, {1, 1}, {2, 2, 2, 2}, NULL,
         false, 0},
        /* depthwise with the activations the row kernels apply in
         * registers (MobileNet's ReLU6 as Clip), widths with full 32- and
         * 8-column passes and masked tails */
        {2, 1, 6, 6, 6, {9, 45}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_CLIP},
        {2, 1, 5, 5, 5, {10, 43}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_LEAKY_RELU},
        {2, 1, 4, 8, 4, {7, 13}, {5, 5}, {1, 1}, {1, 1}, {2, 2, 2, 2},
         NULL, false, AXLE_ACT_CLIP},
        /* stride-2 direct planes (inputs up to 32 wide): MobileNet's
         * even widths (full blocks whose last tap ends at the row's end),
         * TF-style pads only at the end, a 5x5 kernel on odd widths with
         * vertical stride 1, dilations with pads wider than the kernel */
        {2, 1, 4, 4, 4, {14, 32}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_CLIP},
        {2, 1, 3, 3, 3, {9, 32}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 1, 1},
         NULL, true, 0},
        {2, 1, 2, 4, 2, {11, 31}, {5, 5}, {1, 2}, {1, 1}, {2, 2, 2, 2},
         NULL, true, AXLE_ACT_RELU},
        {2, 1, 2, 2, 2, {19, 29}, {3, 5}, {2, 2}, {2, 3}, {3, 4, 2, 5},
         NULL, true, 0},
        /* flat depthwise planes (stride 1, output rows as wide as the
         * input's, up to 4096 pixels): 7x7 with a partial last vector,
         * multiplier 2 with an activation applied after the kernel, a
         * horizontal dilation, pads on one side only, 1-D */
        {2, 1, 6, 6, 6, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_CLIP},
        {2, 2, 4, 8, 4, {14, 14}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_SIGMOID},
        {2, 1, 3, 3, 3, {9, 13}, {5, 5}, {1, 1}, {1, 2}, {2, 4, 2, 4},
         NULL, false, 0},
        {2, 1, 2, 2, 2, {10, 11}, {3, 3}, {1, 1}, {1, 1}, {0, 2, 2, 0},
         NULL, true, AXLE_ACT_RELU},
        {1, 1, 4, 4, 4, {37}, {3}, {1}, {1}, {1, 1}, NULL, true,
         AXLE_ACT_CLIP},
        /* planes of 2048 pixels and more run in row bands, one per
         * thread: flat ones split at a vector inside a row (50x61) or
         * not (56x56), row-kernel ones at stride 2 and at stride 1 with
         * outputs narrower than the input */
        {2, 1, 3, 3, 3, {56, 56}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_CLIP},
        {2, 1, 2, 2, 2, {50, 61}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_SIGMOID},
        {2, 1, 2, 2, 2, {100, 98}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        {2, 2, 2, 2, 2, {66, 70}, {3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0},
         NULL, true, AXLE_ACT_TANH},
    };
    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_conv_case(&cases[i], 1);
        run_conv_case(&cases[i], 2);
    }
}

/* 1x1 convs on small planes whose last vector would be mostly idle
 * (7x7: 49 = 3 x 16 + 1) run transposed from W^T kept by prepare
 * (conv.c, conv_run_transposed): they match the reference, and bit for
 * bit the untransposed path that runs without the prepared state (and
 * that a multi-image batch of the same plane would take). Partial weight
 * panels, pixel parts split for two threads, a residual, the in-register
 * and the after-store activations, batch 2, 1-D. */
static void conv_small_plane_1x1_transposed_matches_untransposed(void **st)
{
    static const struct conv_case cases[] = {
        {2, 1, 96, 160, 1, {7, 7}, {1, 1}, {1, 1}, {1, 1}, {0}, NULL, true,
         AXLE_ACT_CLIP},
        {2, 1, 17, 40, 1, {7, 7}, {1, 1}, {1, 1}, {1, 1}, {0}, NULL, false,
         AXLE_ACT_RELU},
        {2, 2, 33, 100, 1, {5, 5}, {1, 1}, {1, 1}, {1, 1}, {0}, NULL, true,
         AXLE_ACT_SIGMOID},
        {2, 1, 64, 64, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {0}, NULL, true,
         AXLE_ACT_LEAKY_RELU},
        {2, 1, 48, 300, 1, {9, 11}, {1, 1}, {1, 1}, {1, 1}, {0}, NULL, true,
         AXLE_ACT_TANH},
        {1, 1, 20, 24, 1, {20}, {1}, {1}, {1}, {0, 0}, NULL, true, 0},
    };
    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int threads = 1; threads <= 2; threads++) {
            for (int res = 0; res <= 1; res++) {
                const struct conv_case *c = &cases[i];
                float *yt = NULL, *yu = NULL;
                int64_t yn = c->N * c->M * c->in[0] *
                             (c->nsp > 1 ? c->in[1] : 1);
                run_conv_case_p(c, threads, res, true, &yt);
                run_conv_case_p(c, threads, res, false, &yu);
                assert_memory_equal(yt, yu, (size_t)yn * sizeof(float));
                free(yt);
                free(yu);
            }
        }
    }
}

/* The blocked im2col + GEMM path (several column blocks with a partial
 * last panel, row blocks for small outputs, groups, strides, dilations,
 * pads wider than the kernel, 1x1 direct and strided) and the depthwise
 * stride-2 de-interleave at odd widths and pads, on every GEMM ISA and
 * with 1 and 2 threads. */
static void conv_blocked_paths_match_reference_on_every_isa(void **st)
{
    static const struct conv_case cases[] = {
        {2, 2, 64, 40, 1, {30, 31}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        {2, 1, 96, 40, 2, {7, 7}, {3, 3}, {2, 2}, {2, 1}, {2, 1, 0, 2},
         NULL, true, 0},
        {2, 1, 64, 50, 1, {13, 9}, {1, 1}, {1, 1}, {1, 1}, {0}, NULL, true,
         AXLE_ACT_RELU},
        {2, 1, 16, 20, 1, {9, 9}, {1, 1}, {2, 2}, {1, 1}, {0}, NULL, false,
         0},
        {2, 1, 3, 8, 1, {20, 23}, {5, 4}, {3, 3}, {1, 2}, {3, 2, 4, 3},
         NULL, true, 0},
        {2, 1, 256, 24, 1, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        {2, 1, 4, 4, 4, {9, 37}, {3, 3}, {2, 2}, {1, 1}, {1, 0, 1, 1}, NULL,
         true, 0},
        {2, 1, 4, 8, 4, {6, 70}, {3, 3}, {2, 2}, {1, 1}, {0, 2, 1, 2}, NULL,
         true, AXLE_ACT_RELU},
        {2, 1, 3, 3, 3, {5, 68}, {3, 5}, {1, 2}, {1, 1}, {1, 3, 1, 0}, NULL,
         false, 0},
        /* vector panel packing: stride 2 with dilation 3 and odd pads;
         * a narrow last column block merged into the one before (HW = 49
         * and 196 with a deep K, as in ResNet's layer3/4) */
        {2, 1, 5, 9, 1, {11, 50}, {3, 3}, {1, 2}, {2, 3}, {2, 1, 0, 3},
         NULL, true, 0},
        {2, 1, 512, 24, 1, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        {2, 1, 40, 70, 1, {14, 14}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, 0},
        /* shifted packing: stride 1 "same" width with dilation and
         * uneven pads; stride 2 on parity planes (ResNet's 7x7 conv1 at
         * odd sizes); columns of 3 images in one row of blocks (HW 49) */
        {2, 1, 6, 8, 1, {12, 13}, {5, 5}, {1, 1}, {2, 2}, {3, 5, 5, 3},
         NULL, false, 0},
        {2, 2, 3, 16, 1, {23, 21}, {7, 7}, {2, 2}, {1, 1}, {3, 3, 3, 3},
         NULL, true, 0},
        {2, 3, 24, 30, 1, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        /* one column block of a deep K split into row blocks of at least
         * 96 rows (AVX2) and a short last one (ResNet's layer4 shape) */
        {2, 1, 32, 200, 1, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
    };
    static const enum axle_isa isas[] = {AXLE_ISA_SCALAR, AXLE_ISA_AVX2,
                                         AXLE_ISA_AVX512};
    (void)st;
    for (size_t k = 0; k < sizeof(isas) / sizeof(isas[0]); k++) {
        axle_gemm_force_isa(isas[k]);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            run_conv_case(&cases[i], 1);
            run_conv_case(&cases[i], 2);
        }
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
}

/* Conv with engine/fuse.c's residual input on every path (packed, direct
 * 1x1, grouped, strided, depthwise, 1-D, 3-D), with and without bias and
 * the activation after it, on every GEMM ISA and 1 and 2 threads; and the
 * same cases without it. */
static void conv_fused_residual_matches_reference(void **st)
{
    static const struct conv_case cases[] = {
        {2, 2, 64, 40, 1, {30, 31}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        {2, 1, 8, 8, 8, {15, 17}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
        {1, 2, 3, 4, 1, {20}, {5}, {2}, {2}, {2, 1}, NULL, true,
         AXLE_ACT_RELU},
        {3, 1, 2, 3, 1, {5, 6, 7}, {2, 3, 2}, {1, 2, 1}, {1, 1, 2},
         {1, 0, 1, 0, 1, 1}, NULL, false, 0},
        {3, 1, 20, 24, 1, {5, 6, 7}, {2, 3, 2}, {1, 2, 1}, {1, 1, 2},
         {1, 0, 1, 0, 1, 1}, NULL, true, AXLE_ACT_RELU},
        {2, 1, 64, 50, 1, {13, 9}, {1, 1}, {1, 1}, {1, 1}, {0}, NULL, false,
         AXLE_ACT_RELU},
        {2, 1, 6, 9, 3, {8, 11}, {3, 3}, {2, 1}, {1, 2}, {1, 2, 0, 2}, NULL,
         true, 0},
        {2, 1, 128, 24, 1, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1},
         NULL, true, AXLE_ACT_RELU},
    };
    static const enum axle_isa isas[] = {AXLE_ISA_SCALAR, AXLE_ISA_AVX2,
                                         AXLE_ISA_AVX512};
    (void)st;
    for (size_t k = 0; k < sizeof(isas) / sizeof(isas[0]); k++) {
        axle_gemm_force_isa(isas[k]);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            run_conv_case_r(&cases[i], 1, true);
            run_conv_case_r(&cases[i], 2, true);
            run_conv_case_r(&cases[i], 2, false);
        }
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
}

static void conv_infer_keeps_symbolic_batch_and_rejects_bad_input(void **st)
{
    struct fx f;
    struct axle_tensor x =
        tens(AXLE_DTYPE_FLOAT32, 4, (int64_t[]){-2, 3, 32, -1}, NULL);
    struct axle_tensor w =
        tens(AXLE_DTYPE_FLOAT32, 4, (int64_t[]){8, 3, 3, 3}, NULL);
    struct axle_tensor y;
    const struct axle_tensor *in[2] = {&x, &w};
    struct axle_tensor *out[1] = {&y};
    (void)st;

    fx_init(&f, "Conv", 13, 1);
    attr_ints(&f, "strides", 2, (int64_t[]){2, 2});
    attr_ints(&f, "pads", 4, (int64_t[]){1, 1, 1, 1});
    assert_int_equal(infer(&f, &axle_op_conv, 2, in, 1, out), AXLE_OK);
    assert_int_equal(y.rank, 4);
    assert_int_equal(y.dims[0], -2);
    assert_int_equal(y.dims[1], 8);
    assert_int_equal(y.dims[2], 16);
    assert_int_equal(y.dims[3], -1);
    /* channel mismatch */
    x.dims[1] = 4;
    assert_int_equal(infer(&f, &axle_op_conv, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    x.dims[1] = 3;
    /* kernel larger than the (padded) input */
    x.dims[2] = 0;
    assert_int_equal(infer(&f, &axle_op_conv, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Conv", 13, 1);
    attr_str(&f, "auto_pad", "SAME_MIDDLE");
    assert_int_equal(infer(&f, &axle_op_conv, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Conv", 13, 1);
    attr_ints(&f, "strides", 2, (int64_t[]){0, 1});
    assert_int_equal(infer(&f, &axle_op_conv, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Conv", 13, 1);
    attr_ints(&f, "pads", 3, (int64_t[]){1, 1, 1});
    assert_int_equal(infer(&f, &axle_op_conv, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init(&f, "Conv", 13, 1);
    attr_int(&f, "group", 0);
    assert_int_equal(infer(&f, &axle_op_conv, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- ConvTranspose ---------------------------------------------------- */

static void conv_transpose_matches_scatter_reference(void **st)
{
    /* X [1, 4, 5, 6], W [4, 3, 3, 2] group 2 -> M = 6, stride (2, 3),
     * dilation (1, 2), pads (1, 0, 0, 2), output_padding (1, 0). */
    int64_t xd[4] = {1, 4, 5, 6}, wd[4] = {4, 3, 3, 2};
    int64_t s[2] = {2, 3}, d[2] = {1, 2}, pads[4] = {1, 0, 0, 2};
    int64_t opad[2] = {1, 0};
    float *x = rnd(120, 4, 1.0f), *w = rnd(72, 5, 1.0f), *b = rnd(6, 6, 1.0f);
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 4, xd, x);
    struct axle_tensor tw = tens(AXLE_DTYPE_FLOAT32, 4, wd, w);
    struct axle_tensor tb = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){6}, b);
    struct axle_tensor ty;
    const struct axle_tensor *in[3] = {&tx, &tw, &tb};
    struct axle_tensor *out[1] = {&ty};
    int64_t OH = 2 * 4 + 1 + 3 - 1 - 0, OW = 3 * 5 + 0 + 3 - 0 - 2;
    (void)st;

    for (int threads = 1; threads <= 2; threads++) {
        struct fx f;
        double *ref = calloc((size_t)(6 * OH * OW), sizeof(double));
        fx_init(&f, "ConvTranspose", 13, threads);
        attr_ints(&f, "strides", 2, s);
        attr_ints(&f, "dilations", 2, d);
        attr_ints(&f, "pads", 4, pads);
        attr_ints(&f, "output_padding", 2, opad);
        attr_int(&f, "group", 2);
        assert_int_equal(
            call_prepared(&f, &axle_op_conv_transpose, 3, in, 1, out, true),
            AXLE_OK);
        assert_int_equal(ty.dims[1], 6);
        assert_int_equal(ty.dims[2], OH);
        assert_int_equal(ty.dims[3], OW);
        for (int m = 0; m < 6; m++)
            for (int i = 0; i < OH * OW; i++)
                ref[m * OH * OW + i] = b[m];
        for (int c = 0; c < 4; c++)
            for (int ih = 0; ih < 5; ih++)
                for (int iw = 0; iw < 6; iw++)
                    for (int mg = 0; mg < 3; mg++)
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 2; kw++) {
                                int oh = ih * 2 - 1 + kh;
                                int ow = iw * 3 - 0 + kw * 2;
                                int m = (c / 2) * 3 + mg;
                                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW)
                                    continue;
                                ref[(m * OH + oh) * OW + ow] +=
                                    (double)x[(c * 5 + ih) * 6 + iw] *
                                    w[((c * 3 + mg) * 3 + kh) * 2 + kw];
                            }
        for (int i = 0; i < 6 * OH * OW; i++)
            near(((float *)ty.data)[i], ref[i], 1e-4);
        free(ty.data);
        free(ref);
        fx_dispose(&f);
    }
    free(x);
    free(w);
    free(b);
}

/* ---- pooling ---------------------------------------------------------- */

static void maxpool_indices_and_avgpool_match_reference(void **st)
{
    int64_t xd[4] = {2, 3, 7, 9};
    float *x = rnd(2 * 3 * 7 * 9, 7, 1.0f);
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 4, xd, x), ty, ti;
    const struct axle_tensor *in[1] = {&tx};
    (void)st;

    for (int ceil = 0; ceil <= 1; ceil++)
        for (int kind = 0; kind < 3; kind++) {
            struct fx f;
            bool avg = kind == 2, with_ind = kind == 1;
            struct axle_tensor *out[2] = {&ty, with_ind ? &ti : NULL};
            fx_init(&f, avg ? "AveragePool" : "MaxPool", 13, 2);
            attr_ints(&f, "kernel_shape", 2, (int64_t[]){3, 2});
            attr_ints(&f, "strides", 2, (int64_t[]){2, 2});
            attr_ints(&f, "pads", 4, (int64_t[]){1, 0, 0, 1});
            attr_int(&f, "ceil_mode", ceil);
            if (avg)
                attr_int(&f, "count_include_pad", 1);
            assert_int_equal(
                call_prepared(&f,
                              avg ? &axle_op_average_pool : &axle_op_max_pool,
                              1, in, 2, out, false),
                AXLE_OK);
            int64_t OH = ty.dims[2], OW = ty.dims[3];
            /* (7+1-3)/2+1 = 3 (ceil: 4, whose last window starts at 6 <
             * 7+1: kept); (9+1-2)/2+1 = 5 (ceil: 5). */
            assert_int_equal(OH, ceil ? 4 : 3);
            assert_int_equal(OW, 5);
            for (int64_t p = 0; p < 6; p++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        double best = -INFINITY, sum = 0;
                        int64_t bi = -1, cnt = 0;
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 2; kw++) {
                                int64_t ih = oh * 2 - 1 + kh;
                                int64_t iw = ow * 2 + kw;
                                if (ih < 7 && iw < 10)
                                    cnt++; /* within the padded input */
                                if (ih < 0 || ih >= 7 || iw < 0 || iw >= 9)
                                    continue;
                                double v = x[(p * 7 + ih) * 9 + iw];
                                sum += v;
                                if (v > best) {
                                    best = v;
                                    bi = (p * 7 + ih) * 9 + iw;
                                }
                            }
                        int64_t yi = (p * OH + oh) * OW + ow;
                        double got = ((float *)ty.data)[yi];
                        near(got, avg ? sum / (double)cnt : best, 1e-5);
                        if (with_ind)
                            assert_int_equal(((int64_t *)ti.data)[yi], bi);
                    }
            free(ty.data);
            if (with_ind)
                free(ti.data);
            fx_dispose(&f);
        }
    free(x);
}

/* Float32 2-D max pooling on pool.c's row-max path: ResNet's 3x3
 * stride-2 pool (in row bands on 2 threads), stride 1, dilation, a wide
 * kernel on stride-2 input, ceil_mode, 1-D, and NaN inputs (never
 * selected, whatever the tap order), on 1 and 2 threads. */
static void maxpool_vector_paths_match_reference(void **st)
{
    static const struct {
        int64_t H, W, k[2], s[2], d[2], pads[4], ceil;
    } cases[] = {
        {112, 112, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 0},
        {13, 37, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 0},
        {11, 41, {2, 3}, {1, 2}, {2, 3}, {0, 2, 1, 3}, 1},
        {9, 50, {3, 5}, {2, 2}, {1, 1}, {0, 0, 0, 0}, 1},
        {1, 70, {1, 4}, {1, 2}, {1, 1}, {0, 1, 0, 2}, 0},
    };
    (void)st;

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int64_t H = cases[c].H, W = cases[c].W, P = 2 * 3;
        int64_t xd[4] = {2, 3, H, W};
        float *x = rnd(P * H * W, 11 + (int)c, 1.0f);
        x[5] = NAN;
        x[P * H * W - 3] = NAN;
        struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 4, xd, x), ty;
        const struct axle_tensor *in[1] = {&tx};
        struct axle_tensor *out[1] = {&ty};
        for (int threads = 1; threads <= 2; threads++) {
            struct fx f;
            fx_init(&f, "MaxPool", 13, threads);
            attr_ints(&f, "kernel_shape", 2, cases[c].k);
            attr_ints(&f, "strides", 2, cases[c].s);
            attr_ints(&f, "dilations", 2, cases[c].d);
            attr_ints(&f, "pads", 4, cases[c].pads);
            attr_int(&f, "ceil_mode", cases[c].ceil);
            assert_int_equal(call_prepared(&f, &axle_op_max_pool, 1, in, 1,
                                           out, false),
                             AXLE_OK);
            int64_t OH = ty.dims[2], OW = ty.dims[3];
            for (int64_t p = 0; p < P; p++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        double best = -INFINITY;
                        for (int64_t kh = 0; kh < cases[c].k[0]; kh++)
                            for (int64_t kw = 0; kw < cases[c].k[1]; kw++) {
                                int64_t ih = oh * cases[c].s[0] -
                                             cases[c].pads[0] +
                                             kh * cases[c].d[0];
                                int64_t iw = ow * cases[c].s[1] -
                                             cases[c].pads[1] +
                                             kw * cases[c].d[1];
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                double v = x[(p * H + ih) * W + iw];
                                if (v > best)
                                    best = v;
                            }
                        float got = ((float *)ty.data)[(p * OH + oh) * OW + ow];
                        assert_false(isnan(got));
                        near(got, best, 0);
                    }
            free(ty.data);
            fx_dispose(&f);
        }
        free(x);
    }
}

/* 3-D max pooling with more than 2048 outputs per plane on two threads:
 * the 2-D row bands must not take it. */
static void maxpool_3d_large_planes_match_reference(void **st)
{
    int64_t xd[5] = {1, 2, 16, 16, 16}, n = 2 * 16 * 16 * 16;
    float *x = rnd(n, 21, 1.0f);
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 5, xd, x), ty;
    const struct axle_tensor *in[1] = {&tx};
    struct axle_tensor *out[1] = {&ty};
    struct fx f;
    (void)st;

    fx_init(&f, "MaxPool", 13, 2);
    attr_ints(&f, "kernel_shape", 3, (int64_t[]){2, 2, 2});
    assert_int_equal(
        call_prepared(&f, &axle_op_max_pool, 1, in, 1, out, false), AXLE_OK);
    assert_int_equal(ty.dims[2], 15);
    assert_int_equal(ty.dims[4], 15);
    for (int64_t c = 0; c < 2; c++)
        for (int64_t a = 0; a < 15; a++)
            for (int64_t b = 0; b < 15; b++)
                for (int64_t d = 0; d < 15; d++) {
                    double best = -INFINITY;
                    for (int i = 0; i < 8; i++) {
                        double v = x[((c * 16 + a + (i >> 2)) * 16 + b +
                                      ((i >> 1) & 1)) * 16 + d + (i & 1)];
                        best = v > best ? v : best;
                    }
                    near(((float *)ty.data)[((c * 15 + a) * 15 + b) * 15 + d],
                         best, 0);
                }
    free(ty.data);
    fx_dispose(&f);
    free(x);
}

static void pool_rejects_bad_attributes(void **st)
{
    struct fx f;
    struct axle_tensor x =
        tens(AXLE_DTYPE_FLOAT32, 4, (int64_t[]){1, 1, 4, 4}, NULL), y;
    struct axle_tensor xi =
        tens(AXLE_DTYPE_INT32, 4, (int64_t[]){1, 1, 4, 4}, NULL);
    const struct axle_tensor *in[1] = {&x};
    struct axle_tensor *out[1] = {&y};
    (void)st;

    fx_init(&f, "MaxPool", 13, 1); /* kernel_shape missing */
    assert_int_equal(infer(&f, &axle_op_max_pool, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "MaxPool", 13, 1); /* window larger than the input */
    attr_ints(&f, "kernel_shape", 2, (int64_t[]){5, 1});
    assert_int_equal(infer(&f, &axle_op_max_pool, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "MaxPool", 13, 1);
    attr_ints(&f, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_int(&f, "storage_order", 2);
    assert_int_equal(infer(&f, &axle_op_max_pool, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
    fx_init(&f, "AveragePool", 13, 1); /* int32 is not an AveragePool type */
    attr_ints(&f, "kernel_shape", 2, (int64_t[]){2, 2});
    in[0] = &xi;
    assert_int_equal(infer(&f, &axle_op_average_pool, 1, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- MatMul / Gemm ---------------------------------------------------- */

static void matmul_broadcasts_and_packs(void **st)
{
    /* A [2, 1, 3, 5] x B [4, 5, 6] -> [2, 4, 3, 6]; then B 2-D packed. */
    float *a = rnd(30, 8, 1.0f), *b = rnd(120, 9, 1.0f);
    struct axle_tensor ta =
        tens(AXLE_DTYPE_FLOAT32, 4, (int64_t[]){2, 1, 3, 5}, a);
    struct axle_tensor tb =
        tens(AXLE_DTYPE_FLOAT32, 3, (int64_t[]){4, 5, 6}, b);
    struct axle_tensor ty;
    const struct axle_tensor *in[2] = {&ta, &tb};
    struct axle_tensor *out[1] = {&ty};
    struct fx f;
    (void)st;

    fx_init(&f, "MatMul", 13, 2);
    assert_int_equal(call_prepared(&f, &axle_op_matmul, 2, in, 1, out, true),
                     AXLE_OK);
    assert_int_equal(ty.rank, 4);
    assert_int_equal(ty.dims[0], 2);
    assert_int_equal(ty.dims[1], 4);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int m = 0; m < 3; m++)
                for (int n = 0; n < 6; n++) {
                    double acc = 0;
                    for (int k = 0; k < 5; k++)
                        acc += (double)a[(i * 3 + m) * 5 + k] *
                               b[(j * 5 + k) * 6 + n];
                    near(((float *)ty.data)[((i * 4 + j) * 3 + m) * 6 + n],
                         acc, 1e-5);
                }
    free(ty.data);

    /* 1-D A [5] x 2-D B [5, 6] (packed in prepare) -> [6] */
    ta = tens(AXLE_DTYPE_FLOAT32, 1, (int64_t[]){5}, a);
    tb = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){5, 6}, b);
    assert_int_equal(call_prepared(&f, &axle_op_matmul, 2, in, 1, out, true),
                     AXLE_OK);
    assert_int_equal(ty.rank, 1);
    assert_int_equal(ty.dims[0], 6);
    for (int n = 0; n < 6; n++) {
        double acc = 0;
        for (int k = 0; k < 5; k++)
            acc += (double)a[k] * b[k * 6 + n];
        near(((float *)ty.data)[n], acc, 1e-5);
    }
    free(ty.data);

    /* inner dims differ; batch dims that cannot broadcast */
    ta = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){3, 4}, NULL);
    assert_int_equal(infer(&f, &axle_op_matmul, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    ta = tens(AXLE_DTYPE_FLOAT32, 3, (int64_t[]){2, 3, 5}, NULL);
    tb = tens(AXLE_DTYPE_FLOAT32, 3, (int64_t[]){3, 5, 6}, NULL);
    assert_int_equal(infer(&f, &axle_op_matmul, 2, in, 1, out),
                     AXLE_INVALID_ARGUMENT);
    /* symbolic batch flows through */
    ta = tens(AXLE_DTYPE_FLOAT32, 3, (int64_t[]){-2, 3, 5}, NULL);
    tb = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){5, 6}, NULL);
    assert_int_equal(infer(&f, &axle_op_matmul, 2, in, 1, out), AXLE_OK);
    assert_int_equal(ty.dims[0], -2);
    assert_int_equal(ty.dims[2], 6);
    fx_dispose(&f);
    free(a);
    free(b);
}

static void gemm_attributes_and_c_broadcast(void **st)
{
    /* Y = 0.5 * A' B' + 2 * C, A stored [K=7, M=4], B stored [N=5, K=7]. */
    float *a = rnd(28, 10, 1.0f), *b = rnd(35, 11, 1.0f),
          *c = rnd(20, 12, 1.0f);
    struct axle_tensor ta = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){7, 4}, a);
    struct axle_tensor tb = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){5, 7}, b);
    struct axle_tensor ty;
    const int64_t cshapes[3][2] = {{4, 5}, {1, 5}, {4, 1}};
    (void)st;

    for (int cs = 0; cs < 3; cs++)
        for (int ta_flag = 0; ta_flag <= 1; ta_flag++) {
            struct fx f;
            struct axle_tensor tc = tens(AXLE_DTYPE_FLOAT32, 2, cshapes[cs], c);
            float *a2 = NULL;
            const struct axle_tensor *in[3] = {&ta, &tb, &tc};
            struct axle_tensor *out[1] = {&ty};
            fx_init(&f, "Gemm", 13, 1);
            attr_float(&f, "alpha", 0.5f);
            attr_float(&f, "beta", 2.0f);
            attr_int(&f, "transB", 1);
            if (ta_flag) {
                attr_int(&f, "transA", 1);
                ta = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){7, 4}, a);
            } else {
                /* the same A stored [M, K]: packed path */
                a2 = malloc(28 * sizeof(float));
                for (int m = 0; m < 4; m++)
                    for (int k = 0; k < 7; k++)
                        a2[m * 7 + k] = a[k * 4 + m];
                ta = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){4, 7}, a2);
            }
            f.n->fused_act = AXLE_ACT_RELU;
            assert_int_equal(
                call_prepared(&f, &axle_op_gemm, 3, in, 1, out, true), AXLE_OK);
            for (int m = 0; m < 4; m++)
                for (int n = 0; n < 5; n++) {
                    double acc = 0;
                    for (int k = 0; k < 7; k++)
                        acc += (double)a[k * 4 + m] * b[n * 7 + k];
                    int ci = (cshapes[cs][0] == 1 ? 0 : m) *
                                 (int)cshapes[cs][1] +
                             (cshapes[cs][1] == 1 ? 0 : n);
                    acc = 0.5 * acc + 2.0 * c[ci];
                    near(((float *)ty.data)[m * 5 + n], acc > 0 ? acc : 0,
                         1e-5);
                }
            free(ty.data);
            free(a2);
            fx_dispose(&f);
        }
    free(a);
    free(b);
    free(c);
}

/* ---- Einsum ----------------------------------------------------------- */

static void einsum_diagonal_ellipsis_and_errors(void **st)
{
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct axle_tensor tx = tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){3, 3}, x);
    struct axle_tensor ty;
    const struct axle_tensor *in[2] = {&tx, &tx};
    struct axle_tensor *out[1] = {&ty};
    struct fx f;
    (void)st;

    fx_init(&f, "Einsum", 13, 1);
    attr_str(&f, "equation", "ii->i");
    assert_int_equal(call_prepared(&f, &axle_op_einsum, 1, in, 1, out, false),
                     AXLE_OK);
    assert_int_equal(ty.rank, 1);
    near(((float *)ty.data)[2], 9, 0);
    free(ty.data);
    fx_dispose(&f);

    fx_init(&f, "Einsum", 13, 1); /* implicit output: trace */
    attr_str(&f, "equation", "ii");
    assert_int_equal(call_prepared(&f, &axle_op_einsum, 1, in, 1, out, false),
                     AXLE_OK);
    assert_int_equal(ty.rank, 0);
    near(((float *)ty.data)[0], 15, 0);
    free(ty.data);
    fx_dispose(&f);

    fx_init(&f, "Einsum", 13, 1); /* ellipsis batch matmul, broadcast batch */
    attr_str(&f, "equation", "...ij,...jk->...ik");
    {
        float *a = rnd(2 * 3 * 4, 13, 1.0f), *b = rnd(4 * 5, 14, 1.0f);
        struct axle_tensor ta =
            tens(AXLE_DTYPE_FLOAT32, 3, (int64_t[]){2, 3, 4}, a);
        struct axle_tensor tb =
            tens(AXLE_DTYPE_FLOAT32, 2, (int64_t[]){4, 5}, b);
        const struct axle_tensor *in2[2] = {&ta, &tb};
        assert_int_equal(
            call_prepared(&f, &axle_op_einsum, 2, in2, 1, out, false), AXLE_OK);
        assert_int_equal(ty.rank, 3);
        assert_int_equal(ty.dims[2], 5);
        for (int bt = 0; bt < 2; bt++)
            for (int i = 0; i < 3; i++)
                for (int k = 0; k < 5; k++) {
                    double acc = 0;
                    for (int j = 0; j < 4; j++)
                        acc += (double)a[(bt * 3 + i) * 4 + j] *
                               b[j * 5 + k];
                    near(((float *)ty.data)[(bt * 3 + i) * 5 + k], acc,
                         1e-5);
                }
        free(ty.data);
        free(a);
        free(b);
    }
    fx_dispose(&f);

    static const char *bad[] = {"ij,jk", "i.j->i", "ij->k", "ij->ii",
                                "i$->i"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fx_init(&f, "Einsum", 13, 1);
        attr_str(&f, "equation", bad[i]);
        assert_int_equal(infer(&f, &axle_op_einsum, 1, in, 1, out),
                         AXLE_INVALID_ARGUMENT);
        fx_dispose(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_matches_reference),
        cmocka_unit_test(conv_small_plane_1x1_transposed_matches_untransposed),
        cmocka_unit_test(conv_blocked_paths_match_reference_on_every_isa),
        cmocka_unit_test(maxpool_vector_paths_match_reference),
        cmocka_unit_test(maxpool_3d_large_planes_match_reference),
        cmocka_unit_test(conv_fused_residual_matches_reference),
        cmocka_unit_test(conv_infer_keeps_symbolic_batch_and_rejects_bad_input),
        cmocka_unit_test(conv_transpose_matches_scatter_reference),
        cmocka_unit_test(maxpool_indices_and_avgpool_match_reference),
        cmocka_unit_test(pool_rejects_bad_attributes),
        cmocka_unit_test(matmul_broadcasts_and_packs),
        cmocka_unit_test(gemm_attributes_and_c_broadcast),
        cmocka_unit_test(einsum_diagonal_ellipsis_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
