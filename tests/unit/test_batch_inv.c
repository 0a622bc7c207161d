/*
 * test_batch_inv.c - batch invariance: a row's result has the same bits
 * whatever batch it is computed in and whatever the thread count, for the
 * packed-weight float32 path (Gemm/MatMul/Conv with constant weights).
 * Dynamic batching stacks requests along dimension 0, so a client must not
 * see its answer change with the traffic around it.
 *
 * Checked at three levels: axle_gemm_packed (M rows at once against one
 * row at a time, every kernel ISA, with and without a pool),
 * axle_gemm_block (Conv's building block: any row-block height gives the
 * same rows, K blocked or not, packed or row-major B, with the fused
 * residual) and whole models through the public API (an MLP Gemm chain
 * and a conv net with a K-blocked conv, fused residuals, a depthwise
 * conv, a 1x1 conv, pooling and a Gemm head, whose first layers the
 * session runs image by image when batched) at batch 1 against batches
 * 2, 7, 8, 9 and 33 with 1 and 2 threads. Equality is bitwise (memcmp).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axle/axle.h"
#include "base/alloc.h"
#include "base/cpu.h"
#include "base/pool.h"
#include "engine/engine.h"
#include "kernels/gemm.h"
#include "onnx_builder.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ROWS 33

static const int64_t batches[] = {2, 7, 8, 9, 33};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static float *rand_buf(size_t n, float scale)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = scale * frand();
    return p;
}

static int n_isas(void)
{
    return (int)axle_cpu_get()->isa + 1;
}

/* First element where rows differ, or -1. */
static int64_t row_diff(const float *a, const float *b, int64_t n)
{
    if (memcmp(a, b, (size_t)n * sizeof(float)) == 0)
        return -1;
    for (int64_t j = 0; j < n; j++)
        if (memcmp(&a[j], &b[j], sizeof(float)) != 0)
            return j;
    return 0;
}

/* ---- axle_gemm_packed ------------------------------------------------- */

static void packed_rows_do_not_depend_on_m_isa_or_pool(void **state)
{
    /* {K, N}: the MLP's layers, K above the 256 K block, panel tails. */
    static const int64_t shapes[][2] = {
        {784, 512}, {512, 10}, {300, 97}, {600, 50}, {1030, 130}, {17, 200},
    };
    static const enum axle_act acts[] = {AXLE_ACT_RELU, AXLE_ACT_GELU};
    struct axle_pool *pool2;

    (void)state;
    assert_int_equal(axle_pool_new(2, &pool2), AXLE_OK);
    for (int isa = 0; isa < n_isas(); isa++) {
        axle_gemm_force_isa((enum axle_isa)isa);
        for (size_t s = 0; s < LEN(shapes); s++) {
            int64_t K = shapes[s][0], N = shapes[s][1];
            float *w = rand_buf((size_t)(K * N), 1.0f);
            float *bias = rand_buf((size_t)N, 1.0f);
            float *a = rand_buf((size_t)(MAX_ROWS * K), 1.0f);
            float *ref = malloc((size_t)(MAX_ROWS * N) * sizeof(float));
            float *c = malloc((size_t)(MAX_ROWS * N) * sizeof(float));
            struct axle_packed_w *pw;
            struct axle_epilogue ep = {.bias = bias,
                                       .act = acts[s % LEN(acts)]};

            assert_non_null(ref);
            assert_non_null(c);
            assert_int_equal(axle_gemm_pack(s % 2 == 1, K, N, w,
                                            s % 2 == 1 ? K : N, &pw, NULL),
                             AXLE_OK);
            for (int64_t r = 0; r < MAX_ROWS; r++)
                axle_gemm_packed(NULL, 1, a + r * K, K, pw, ref + r * N, N,
                                 &ep);
            for (int p = 0; p < 2; p++)
                for (size_t b = 0; b < LEN(batches); b++) {
                    int64_t M = batches[b];
                    axle_gemm_packed(p ? pool2 : NULL, M, a, K, pw, c, N,
                                     &ep);
                    for (int64_t r = 0; r < M; r++) {
                        int64_t j = row_diff(ref + r * N, c + r * N, N);
                        if (j >= 0)
                            fail_msg("packed isa=%s threads=%d K=%lld "
                                     "N=%lld M=%lld: row %lld col %lld is "
                                     "%.9g at M=1, %.9g here",
                                     axle_isa_name(axle_gemm_isa()),
                                     p ? 2 : 1, (long long)K, (long long)N,
                                     (long long)M, (long long)r,
                                     (long long)j, ref[r * N + j],
                                     c[r * N + j]);
                    }
                }
            axle_gemm_packed_free(pw);
            free(w);
            free(bias);
            free(a);
            free(ref);
            free(c);
        }
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
    axle_pool_free(pool2);
}

/* ---- axle_gemm_block -------------------------------------------------- */

/* B [K, N] row-major in axle_gemm_block's packed panel layout. */
static float *pack_panels(const float *b, int64_t K, int64_t N)
{
    int64_t n_panels = (N + AXLE_GEMM_PANEL - 1) / AXLE_GEMM_PANEL;
    float *p = calloc((size_t)(n_panels * K * AXLE_GEMM_PANEL), sizeof(float));

    assert_non_null(p);
    for (int64_t q = 0; q < n_panels; q++) {
        int64_t col0 = q * AXLE_GEMM_PANEL;
        int64_t w = N - col0 < AXLE_GEMM_PANEL ? N - col0 : AXLE_GEMM_PANEL;
        int64_t stride = axle_gemm_panel_stride(w);
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < w; j++)
                p[q * K * AXLE_GEMM_PANEL + k * stride + j] =
                    b[k * N + col0 + j];
    }
    return p;
}

/* Conv hands axle_gemm_block row blocks (output channels) whose height
 * depends on the batch and the thread count: every height must give the
 * same rows. K = 1300 and 2400 are above the 1152 K block. */
static void gemm_block_rows_do_not_depend_on_block_height(void **state)
{
    static const int64_t Ks[] = {147, 1300, 2400};
    static const int64_t Ns[] = {49, 97};
    static const int64_t heights[] = {1, 3, 8, 9, 16};
    const int64_t M = 40;

    (void)state;
    for (int isa = 0; isa < n_isas(); isa++) {
        axle_gemm_force_isa((enum axle_isa)isa);
        for (size_t ki = 0; ki < LEN(Ks); ki++)
            for (size_t ni = 0; ni < LEN(Ns); ni++)
                for (int packed = 0; packed < 2; packed++) {
                    int64_t K = Ks[ki], N = Ns[ni];
                    float *a = rand_buf((size_t)(M * K), 1.0f);
                    float *b = rand_buf((size_t)(K * N), 1.0f);
                    float *bp = packed ? pack_panels(b, K, N) : b;
                    float *bias = rand_buf((size_t)M, 1.0f);
                    float *res = rand_buf((size_t)(M * N), 4.0f);
                    float *ref = malloc((size_t)(M * N) * sizeof(float));
                    float *c = malloc((size_t)(M * N) * sizeof(float));
                    struct axle_epilogue ep = {
                        .bias = bias, .bias_per_row = true,
                        .act = AXLE_ACT_RELU, .residual = res,
                        .ld_residual = N,
                    };
                    assert_non_null(ref);
                    assert_non_null(c);
                    axle_gemm_block(M, N, K, a, K, bp, packed ? 0 : N, ref, N,
                                    &ep);
                    for (size_t h = 0; h < LEN(heights); h++) {
                        for (int64_t r0 = 0; r0 < M; r0 += heights[h]) {
                            int64_t mr = M - r0 < heights[h] ? M - r0
                                                             : heights[h];
                            struct axle_epilogue e2 = ep;
                            e2.bias = bias + r0;
                            e2.residual = res + r0 * N;
                            axle_gemm_block(mr, N, K, a + r0 * K, K, bp,
                                            packed ? 0 : N, c + r0 * N, N,
                                            &e2);
                        }
                        for (int64_t r = 0; r < M; r++) {
                            int64_t j = row_diff(ref + r * N, c + r * N, N);
                            if (j >= 0)
                                fail_msg("gemm_block isa=%s K=%lld N=%lld "
                                         "packed=%d height=%lld: row %lld "
                                         "col %lld is %.9g with all rows, "
                                         "%.9g here",
                                         axle_isa_name(axle_gemm_isa()),
                                         (long long)K, (long long)N, packed,
                                         (long long)heights[h], (long long)r,
                                         (long long)j, ref[r * N + j],
                                         c[r * N + j]);
                        }
                    }
                    if (packed)
                        free(bp);
                    free(a);
                    free(b);
                    free(bias);
                    free(res);
                    free(ref);
                    free(c);
                }
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
}

/* ---- whole models ------------------------------------------------------ */

/* A constant [d0, d1, ...] of uniform values in +-1/sqrt(fan_in). */
static void add_weight(struct ob *b, const char *name, int rank,
                       const int64_t *dims, int64_t fan_in)
{
    size_t n = 1;

    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    float *w = rand_buf(n, 1.0f / sqrtf((float)fan_in));
    ob_init_f32(b, name, rank, dims, w);
    free(w);
}

/* x [N, 784] -> Gemm 512 + Relu -> Gemm 512 + Relu -> Gemm 10 (weights
 * [out, in] with transB, as PyTorch exports them). */
static uint8_t *mlp_bytes(size_t *len)
{
    static const int64_t sizes[] = {784, 512, 512, 10};
    struct ob b;
    char in[16] = "x";

    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 2, (int64_t[]){-1, 784}, "N");
    for (int l = 0; l < 3; l++) {
        char w[16], bias[16], out[16], act[16];
        AxleOnnx__NodeProto *n;
        snprintf(w, sizeof(w), "w%d", l);
        snprintf(bias, sizeof(bias), "b%d", l);
        if (l == 2)
            snprintf(out, sizeof(out), "y");
        else
            snprintf(out, sizeof(out), "h%d", l);
        snprintf(act, sizeof(act), "r%d", l);
        add_weight(&b, w, 2, (int64_t[]){sizes[l + 1], sizes[l]}, sizes[l]);
        add_weight(&b, bias, 1, (int64_t[]){sizes[l + 1]}, 1);
        n = ob_node(&b, "Gemm", out, 3, (const char *[]){in, w, bias}, 1,
                    (const char *[]){out});
        ob_attr_int(&b, n, "transB", 1);
        if (l < 2) {
            ob_node(&b, "Relu", act, 1, (const char *[]){out}, 1,
                    (const char *[]){act});
            snprintf(in, sizeof(in), "%s", act);
        }
    }
    ob_output(&b, "y");
    return ob_pack(&b, len);
}

static AxleOnnx__NodeProto *conv(struct ob *b, const char *x, const char *w,
                                 const char *bias, const char *y, int64_t k,
                                 int64_t stride, int64_t group)
{
    int64_t p = k / 2;
    AxleOnnx__NodeProto *n;

    n = ob_node(b, "Conv", y, bias ? 3 : 2, (const char *[]){x, w, bias}, 1,
                (const char *[]){y});
    ob_attr_ints(b, n, "kernel_shape", 2, (int64_t[]){k, k});
    ob_attr_ints(b, n, "strides", 2, (int64_t[]){stride, stride});
    ob_attr_ints(b, n, "pads", 4, (int64_t[]){p, p, p, p});
    if (group != 1)
        ob_attr_int(b, n, "group", group);
    return n;
}

static void relu(struct ob *b, const char *x, const char *y)
{
    ob_node(b, "Relu", y, 1, (const char *[]){x}, 1, (const char *[]){y});
}

/* x [N, 3, 64, 64]
 *   -> Conv 3x3 16 + Relu -> MaxPool 2x2/2
 *   -> depthwise Conv 3x3 stride 2 + Relu                 (rd: [N,16,16,16])
 *   -> Conv 3x3 16 + Add(rd) + Relu                       (fused residual)
 *   -> Conv 3x3 stride 2, 200 + Relu                      (r2: [N,200,8,8])
 *      (up to here the weights are small next to an image's activations:
 *      a 2-thread session runs these depth first, image by image, on both
 *      threads when batched; engine/session.c)
 *   -> Conv 3x3 200 (K = 1800: blocked) + Add(r2) + Relu  (fused residual)
 *   -> depthwise Conv 3x3 + Relu -> Conv 1x1 40 (input read directly)
 *   -> GlobalAveragePool -> Flatten -> Gemm 10 */
static uint8_t *convnet_bytes(size_t *len)
{
    struct ob b;
    AxleOnnx__NodeProto *n;

    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 4, (int64_t[]){-1, 3, 64, 64},
             "N");
    add_weight(&b, "w0", 4, (int64_t[]){16, 3, 3, 3}, 27);
    add_weight(&b, "b0", 1, (int64_t[]){16}, 1);
    add_weight(&b, "wd", 4, (int64_t[]){16, 1, 3, 3}, 9);
    add_weight(&b, "bd", 1, (int64_t[]){16}, 1);
    add_weight(&b, "w1", 4, (int64_t[]){16, 16, 3, 3}, 144);
    add_weight(&b, "b1", 1, (int64_t[]){16}, 1);
    add_weight(&b, "w2", 4, (int64_t[]){200, 16, 3, 3}, 144);
    add_weight(&b, "b2", 1, (int64_t[]){200}, 1);
    add_weight(&b, "w3", 4, (int64_t[]){200, 200, 3, 3}, 1800);
    add_weight(&b, "b3", 1, (int64_t[]){200}, 1);
    add_weight(&b, "w4", 4, (int64_t[]){200, 1, 3, 3}, 9);
    add_weight(&b, "b4", 1, (int64_t[]){200}, 1);
    add_weight(&b, "w5", 4, (int64_t[]){40, 200, 1, 1}, 200);
    add_weight(&b, "w6", 2, (int64_t[]){40, 10}, 40);
    add_weight(&b, "b6", 1, (int64_t[]){10}, 1);
    conv(&b, "x", "w0", "b0", "c0", 3, 1, 1);
    relu(&b, "c0", "r0");
    n = ob_node(&b, "MaxPool", "pool", 1, (const char *[]){"r0"}, 1,
                (const char *[]){"p0"});
    ob_attr_ints(&b, n, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(&b, n, "strides", 2, (int64_t[]){2, 2});
    conv(&b, "p0", "wd", "bd", "cd", 3, 2, 16);
    relu(&b, "cd", "rd");
    conv(&b, "rd", "w1", "b1", "c1", 3, 1, 1);
    ob_node(&b, "Add", "a1", 2, (const char *[]){"c1", "rd"}, 1,
            (const char *[]){"a1"});
    relu(&b, "a1", "r1");
    conv(&b, "r1", "w2", "b2", "c2", 3, 2, 1);
    relu(&b, "c2", "r2");
    conv(&b, "r2", "w3", "b3", "c3", 3, 1, 1);
    ob_node(&b, "Add", "a3", 2, (const char *[]){"c3", "r2"}, 1,
            (const char *[]){"a3"});
    relu(&b, "a3", "r3");
    conv(&b, "r3", "w4", "b4", "c4", 3, 1, 200);
    relu(&b, "c4", "r4");
    conv(&b, "r4", "w5", NULL, "c5", 1, 1, 1);
    ob_node(&b, "GlobalAveragePool", "gap", 1, (const char *[]){"c5"}, 1,
            (const char *[]){"g"});
    ob_node(&b, "Flatten", "flat", 1, (const char *[]){"g"}, 1,
            (const char *[]){"f"});
    ob_node(&b, "Gemm", "head", 3, (const char *[]){"f", "w6", "b6"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    return ob_pack(&b, len);
}

static struct axle_session *session(struct axle_model *m, int threads)
{
    struct axle_session_opts so = {.n_threads = threads,
                                   .max_batch = MAX_ROWS};
    struct axle_session *s = NULL;
    struct axle_err err = {0};

    if (axle_session_new(m, &so, &s, &err) != AXLE_OK)
        fail_msg("session: %s", err.msg);
    return s;
}

/* Runs rows [0, n) of x as one batch; copies the output (out_len floats
 * per row) to y. */
static void run_batch(struct axle_session *s, const struct axle_tensor *in0,
                      const float *x, int64_t n, float *y, int64_t out_len)
{
    struct axle_tensor in = *in0, out;
    struct axle_err err = {0};

    in.dims[0] = n;
    in.data = (void *)x;
    if (axle_session_run(s, 1, &in, 1, &out, &err) != AXLE_OK)
        fail_msg("run at batch %lld: %s", (long long)n, err.msg);
    assert_int_equal(out.dims[0], n);
    memcpy(y, out.data, (size_t)(n * out_len) * sizeof(float));
}

/* prefix: nodes the 2-thread session runs depth first (session.c). */
static void check_model(uint8_t *bytes, size_t len, const char *what,
                        int rank, const int64_t *in_dims, int64_t out_len,
                        int prefix)
{
    struct axle_err err = {0};
    struct axle_model *m = NULL;
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = rank};
    int64_t row_len = 1;

    assert_int_equal(axle_model_load_memory(bytes, len, NULL, &m, &err),
                     AXLE_OK);
    free(bytes);
    for (int i = 0; i < rank; i++) {
        in.dims[i] = in_dims[i];
        if (i > 0)
            row_len *= in_dims[i];
    }
    float *x = rand_buf((size_t)(MAX_ROWS * row_len), 1.0f);
    float *ref = malloc((size_t)(MAX_ROWS * out_len) * sizeof(float));
    float *y = malloc((size_t)(MAX_ROWS * out_len) * sizeof(float));
    assert_non_null(ref);
    assert_non_null(y);

    for (int isa = 0; isa < n_isas(); isa++) {
        struct axle_session *s1, *s2;
        axle_gemm_force_isa((enum axle_isa)isa);
        s1 = session(m, 1);
        s2 = session(m, 2);
        assert_int_equal(s1->n_prefix, 0);
        assert_int_equal(s2->n_prefix, prefix);
        for (int64_t r = 0; r < MAX_ROWS; r++)
            run_batch(s1, &in, x + r * row_len, 1, ref + r * out_len,
                      out_len);
        for (int t = 1; t <= 2; t++)
            for (int64_t b = -1; b < (int64_t)LEN(batches); b++) {
                /* b == -1: batch 1 again, on this thread count */
                int64_t n = b < 0 ? 1 : batches[b];
                for (int64_t r0 = 0; r0 + n <= MAX_ROWS; r0 += n) {
                    run_batch(t == 1 ? s1 : s2, &in, x + r0 * row_len, n,
                              y, out_len);
                    for (int64_t r = 0; r < n; r++) {
                        int64_t j = row_diff(ref + (r0 + r) * out_len,
                                             y + r * out_len, out_len);
                        if (j >= 0)
                            fail_msg("%s gemm isa=%s threads=%d batch=%lld: "
                                     "row %lld output %lld is %.9g at "
                                     "batch 1, %.9g here",
                                     what, axle_isa_name(axle_gemm_isa()), t,
                                     (long long)n, (long long)(r0 + r),
                                     (long long)j,
                                     ref[(r0 + r) * out_len + j],
                                     y[r * out_len + j]);
                    }
                    if (n > 9)
                        break;
                }
            }
        axle_session_free(s1);
        axle_session_free(s2);
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
    axle_model_unref(m);
    free(x);
    free(ref);
    free(y);
}

static void mlp_rows_match_batch_1_bitwise(void **state)
{
    size_t len;
    uint8_t *bytes = mlp_bytes(&len);

    (void)state;
    check_model(bytes, len, "mlp", 2, (int64_t[]){1, 784}, 10, 0);
}

static void convnet_rows_match_batch_1_bitwise(void **state)
{
    size_t len;
    uint8_t *bytes = convnet_bytes(&len);

    (void)state;
    /* Conv+Relu, MaxPool, depthwise Conv+Relu, Conv+Add+Relu, Conv+Relu
     * (fused): depth first. */
    check_model(bytes, len, "convnet", 4, (int64_t[]){1, 3, 64, 64}, 10, 5);
}

/* The depth-first prefix keeps its per-image values in slot arenas sized
 * at session creation: after one pass over the batch sizes, switching
 * between them (and batch 1, layer by layer) allocates nothing. */
static void convnet_batched_runs_do_not_allocate(void **state)
{
    size_t len;
    uint8_t *bytes = convnet_bytes(&len);
    struct axle_err err = {0};
    struct axle_model *m = NULL;
    struct axle_session *s;
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 4,
                             .dims = {1, 3, 64, 64}};
    float *x = rand_buf((size_t)(MAX_ROWS * 3 * 64 * 64), 1.0f);
    float *y = malloc((size_t)MAX_ROWS * 10 * sizeof(float));
    uint64_t before;

    (void)state;
    assert_non_null(y);
    assert_int_equal(axle_model_load_memory(bytes, len, NULL, &m, &err),
                     AXLE_OK);
    free(bytes);
    s = session(m, 2);
    for (int pass = 0; pass < 2; pass++) {
        before = axle_alloc_count();
        for (size_t b = 0; b < LEN(batches); b++) {
            run_batch(s, &in, x, batches[b], y, 10);
            run_batch(s, &in, x, 1, y, 10);
        }
        if (pass == 1)
            assert_int_equal(axle_alloc_count() - before, 0);
    }
    axle_session_free(s);
    axle_model_unref(m);
    free(x);
    free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(packed_rows_do_not_depend_on_m_isa_or_pool),
        cmocka_unit_test(gemm_block_rows_do_not_depend_on_block_height),
        cmocka_unit_test(mlp_rows_match_batch_1_bitwise),
        cmocka_unit_test(convnet_rows_match_batch_1_bitwise),
        cmocka_unit_test(convnet_batched_runs_do_not_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
