/*
 * gemm_bench.c - G7/G8 micro-benchmark: axle's GEMM paths against
 * OpenBLAS in the same process (PERF.md §3.10, §4).
 *
 * One run measures, for the OpenBLAS core type this process got (the
 * caller sets OPENBLAS_CORETYPE per process; bench/gemm.sh runs auto,
 * Haswell, SkylakeX and Cooperlake and takes the best):
 *   square  n in {256, 512, 1024}: plain, and with bias+ReLU (OpenBLAS +
 *           a separate pass vs axle's fused epilogue)
 *   gemv    M = 1 at 784->256, 1024^2, 4096^2 vs sgemm(M=1) and sgemv,
 *           plus a read-bandwidth probe over a buffer of the weights' size
 *   small   M in {2, 4, 8, 16, 32}, K = N = 1024
 *   conv    axle_gemm_block (Conv's GEMM: W row-major times im2col panels,
 *           or times X itself for 1x1 "direct") at ResNet-18 and
 *           MobileNetV2 layer shapes vs sgemm on the same operands
 *   2 threads for a few points (axle's pool; OpenBLAS stays at 1 thread)
 * Every point is the best of >= 7 windows of ~0.1 s, axle and OpenBLAS
 * interleaved A B B A; outputs are compared before timing. Prints one
 * JSON line per point and the FMA probe (before and after the series).
 *
 * Usage: gemm_bench [--quick] [--threads N] [--conv]  (--conv: only the
 * conv points)
 */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cpu.h"
#include "base/pool.h"
#include "kernels/gemm.h"

static int g_windows = 7;
static double g_window_s = 0.1;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef void (*bench_fn)(void *ctx);

struct timer {
    bench_fn fn;
    void *ctx;
    long reps; /* per window, calibrated */
    double best_s;
};

static void calibrate(struct timer *t)
{
    long reps = 1;

    for (int i = 0; i < 20; i++) /* warm-up: page faults, packing, caches */
        t->fn(t->ctx);
    for (;;) {
        double t0 = now_s();
        for (long r = 0; r < reps; r++)
            t->fn(t->ctx);
        double dt = now_s() - t0;
        if (dt >= g_window_s * 0.5 || reps > (1L << 28)) {
            t->reps = (long)((double)reps * g_window_s / (dt > 0 ? dt : 1e-9));
            if (t->reps < 1)
                t->reps = 1;
            break;
        }
        reps *= 2;
    }
    t->best_s = 1e30;
}

static void window(struct timer *t)
{
    double t0 = now_s();

    for (long r = 0; r < t->reps; r++)
        t->fn(t->ctx);
    double per = (now_s() - t0) / (double)t->reps;
    if (per < t->best_s)
        t->best_s = per;
}

/* Best-of windows for a set of variants, interleaved A B B A ... */
static void measure(struct timer *ts, int n)
{
    for (int i = 0; i < n; i++)
        calibrate(&ts[i]);
    for (int w = 0; w < g_windows; w++) {
        if (w % 2 == 0)
            for (int i = 0; i < n; i++)
                window(&ts[i]);
        else
            for (int i = n - 1; i >= 0; i--)
                window(&ts[i]);
    }
}

/* ---- probes ----------------------------------------------------------- */

__attribute__((target("avx512f,fma"))) static double fma_probe_avx512(void)
{
    __m512 acc[12], x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(1e-7f);
    const long iters = 20000000;
    double best = 0;

    for (int r = 0; r < 5; r++) {
        for (int i = 0; i < 12; i++)
            acc[i] = _mm512_set1_ps((float)i);
        double t0 = now_s();
        for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++)
                acc[i] = _mm512_fmadd_ps(acc[i], x, y);
        }
        double dt = now_s() - t0;
        float sink = 0;
        for (int i = 0; i < 12; i++)
            sink += _mm512_reduce_add_ps(acc[i]);
        __asm__ volatile("" ::"x"(sink));
        double g = (double)iters * 12 * 32 / dt * 1e-9;
        if (g > best)
            best = g;
    }
    return best;
}

/* Read bandwidth over n_bytes (the weights' size): what M == 1 can reach. */
__attribute__((target("avx512f"))) static double stream_probe(const float *p,
                                                              size_t n)
{
    double best = 0;

    for (int r = 0; r < 15; r++) {
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        double t0 = now_s();
        long reps = 0;
        do {
            for (size_t i = 0; i + 64 <= n; i += 64) {
                s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p + i));
                s1 = _mm512_add_ps(s1, _mm512_loadu_ps(p + i + 16));
                s2 = _mm512_add_ps(s2, _mm512_loadu_ps(p + i + 32));
                s3 = _mm512_add_ps(s3, _mm512_loadu_ps(p + i + 48));
            }
            reps++;
        } while (now_s() - t0 < 0.02);
        double dt = now_s() - t0;
        float sink = _mm512_reduce_add_ps(
            _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
        __asm__ volatile("" ::"x"(sink));
        double gbs = (double)reps * (double)n * 4 / dt * 1e-9;
        if (gbs > best)
            best = gbs;
    }
    return best;
}

/* ---- workloads -------------------------------------------------------- */

struct gemm_ctx {
    int64_t M, N, K;
    float *A, *B, *C, *bias;
    struct axle_packed_w *pw;
    struct axle_pool *pool;
    struct axle_epilogue ep;
    bool fused;
};

static void bias_relu_pass(float *C, int64_t M, int64_t N, const float *bias)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float v = C[i * N + j] + bias[j];
            C[i * N + j] = v > 0 ? v : 0;
        }
}

static void run_blas_gemm(void *p)
{
    struct gemm_ctx *c = p;

    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)c->M,
                (blasint)c->N, (blasint)c->K, 1.0f, c->A, (blasint)c->K, c->B,
                (blasint)c->N, 0.0f, c->C, (blasint)c->N);
    if (c->fused)
        bias_relu_pass(c->C, c->M, c->N, c->bias);
}

static void run_blas_gemv(void *p)
{
    struct gemm_ctx *c = p;

    cblas_sgemv(CblasRowMajor, CblasTrans, (blasint)c->K, (blasint)c->N, 1.0f,
                c->B, (blasint)c->N, c->A, 1, 0.0f, c->C, 1);
}

static void run_axle_packed(void *p)
{
    struct gemm_ctx *c = p;

    axle_gemm_packed(c->pool, c->M, c->A, c->K, c->pw, c->C, c->N,
                     c->fused ? &c->ep : NULL);
}

static void run_axle_sgemm(void *p)
{
    struct gemm_ctx *c = p;

    axle_sgemm(c->pool, false, false, c->M, c->N, c->K, 1.0f, c->A, c->K,
               c->B, c->N, 0.0f, c->C, c->N, c->fused ? &c->ep : NULL);
}

static float *rand_buf(size_t n)
{
    float *p = aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
    unsigned s = 12345;

    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (float)((s >> 9) & 0xffff) / 65536.0f - 0.5f;
    }
    return p;
}

static void ctx_init(struct gemm_ctx *c, int64_t M, int64_t N, int64_t K,
                     struct axle_pool *pool)
{
    memset(c, 0, sizeof(*c));
    c->M = M;
    c->N = N;
    c->K = K;
    c->A = rand_buf((size_t)(M * K));
    c->B = rand_buf((size_t)(K * N));
    c->C = rand_buf((size_t)(M * N));
    c->bias = rand_buf((size_t)N);
    c->pool = pool;
    c->ep.bias = c->bias;
    c->ep.act = AXLE_ACT_RELU;
    if (axle_gemm_pack(false, K, N, c->B, N, &c->pw, NULL) != AXLE_OK) {
        fprintf(stderr, "pack failed\n");
        exit(1);
    }
}

static void ctx_free(struct gemm_ctx *c)
{
    free(c->A);
    free(c->B);
    free(c->C);
    free(c->bias);
    axle_gemm_packed_free(c->pw);
}

/* Max relative difference between axle's and OpenBLAS's outputs, both
 * written to C[0, n) by the workloads run on arg. */
static double compare_out(void *arg, const float *C, size_t n, bench_fn axle,
                          bench_fn blas)
{
    float *ref = malloc(n * sizeof(float));
    double worst = 0;

    blas(arg);
    memcpy(ref, C, n * sizeof(float));
    axle(arg);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)C[i] - ref[i]) / (1.0 + fabs(ref[i]));
        if (d > worst)
            worst = d;
    }
    free(ref);
    return worst;
}

static double compare(struct gemm_ctx *c, bench_fn axle, bench_fn blas)
{
    return compare_out(c, c->C, (size_t)(c->M * c->N), axle, blas);
}

static const char *g_core;
static int g_quick;

static void emit(const char *goal, const char *point, int64_t M, int64_t N,
                 int64_t K, const char *axle_variant, int threads,
                 double axle_s, const char *base_variant, double base_s,
                 double err, double probe_gbs)
{
    double flop = 2.0 * (double)M * (double)N * (double)K;
    double bytes = (double)K * (double)N * 4;

    printf("{\"goal\":\"%s\",\"point\":\"%s\",\"M\":%lld,\"N\":%lld,\"K\":%lld,"
           "\"axle\":\"%s\",\"isa\":\"%s\",\"threads\":%d,\"axle_us\":%.3f,"
           "\"axle_gflops\":%.1f,\"axle_gbs\":%.1f,\"baseline\":\"%s\","
           "\"core\":\"%s\",\"base_us\":%.3f,\"base_gflops\":%.1f,"
           "\"speedup\":%.3f,\"max_rel_err\":%.2g",
           goal, point, (long long)M, (long long)N, (long long)K, axle_variant,
           axle_isa_name(axle_gemm_isa()), threads, axle_s * 1e6,
           flop / axle_s * 1e-9, bytes / axle_s * 1e-9, base_variant, g_core,
           base_s * 1e6, flop / base_s * 1e-9, base_s / axle_s, err);
    if (probe_gbs > 0)
        printf(",\"probe_gbs\":%.1f,\"of_probe\":%.3f", probe_gbs,
               bytes / axle_s * 1e-9 / probe_gbs);
    printf("}\n");
    fflush(stdout);
}

static void bench_square(int64_t n, struct axle_pool *pool, int threads)
{
    struct gemm_ctx c;

    ctx_init(&c, n, n, n, pool);
    for (int fused = 0; fused < 2; fused++) {
        struct timer t[3] = {{run_axle_packed, &c, 0, 0},
                             {run_blas_gemm, &c, 0, 0},
                             {run_axle_sgemm, &c, 0, 0}};
        c.fused = fused;
        double err = compare(&c, run_axle_packed, run_blas_gemm);
        measure(t, 3);
        emit("G7", fused ? "square_bias_relu" : "square", n, n, n, "packed",
             threads, t[0].best_s, fused ? "sgemm+pass" : "sgemm",
             t[1].best_s, err, 0);
        if (threads == 1)
            emit("G7", fused ? "square_bias_relu" : "square", n, n, n,
                 "sgemm", threads, t[2].best_s,
                 fused ? "sgemm+pass" : "sgemm", t[1].best_s,
                 compare(&c, run_axle_sgemm, run_blas_gemm), 0);
    }
    ctx_free(&c);
}

static void bench_gemv(int64_t K, int64_t N, struct axle_pool *pool,
                       int threads)
{
    struct gemm_ctx c;

    ctx_init(&c, 1, N, K, pool);
    struct timer t[3] = {{run_axle_packed, &c, 0, 0},
                         {run_blas_gemm, &c, 0, 0},
                         {run_blas_gemv, &c, 0, 0}};
    double probe = stream_probe(c.B, (size_t)(K * N));
    double err = compare(&c, run_axle_packed, run_blas_gemm);
    measure(t, 3);
    emit("G8", "gemv", 1, N, K, "packed", threads, t[0].best_s, "sgemm",
         t[1].best_s, err, probe);
    emit("G8", "gemv", 1, N, K, "packed", threads, t[0].best_s, "sgemv",
         t[2].best_s, compare(&c, run_axle_packed, run_blas_gemv), probe);
    ctx_free(&c);
}

static void bench_small(int64_t M, struct axle_pool *pool, int threads)
{
    struct gemm_ctx c;

    ctx_init(&c, M, 1024, 1024, pool);
    struct timer t[3] = {{run_axle_packed, &c, 0, 0},
                         {run_blas_gemm, &c, 0, 0},
                         {run_axle_sgemm, &c, 0, 0}};
    double err = compare(&c, run_axle_packed, run_blas_gemm);
    measure(t, 3);
    emit("G7", "small_m", M, 1024, 1024, "packed", threads, t[0].best_s,
         "sgemm", t[1].best_s, err, 0);
    if (threads == 1)
        emit("G7", "small_m", M, 1024, 1024, "sgemm", threads, t[2].best_s,
             "sgemm", t[1].best_s, compare(&c, run_axle_sgemm, run_blas_gemm),
             0);
    ctx_free(&c);
}

/* Conv's GEMM: B in the packed panel layout axle_gemm_block reads
 * (ldb == 0: panel p at p * K * NR, rows of 48 floats, the last panel's
 * rounded up to 16), or row-major X for 1x1 convolutions. */
struct conv_ctx {
    struct gemm_ctx g;
    float *panels;
    bool direct;
};

static void run_axle_block(void *p)
{
    struct conv_ctx *c = p;

    axle_gemm_block(c->g.M, c->g.N, c->g.K, c->g.A, c->g.K,
                    c->direct ? c->g.B : c->panels, c->direct ? c->g.N : 0,
                    c->g.C, c->g.N, NULL);
}

static void run_blas_conv(void *p)
{
    run_blas_gemm(&((struct conv_ctx *)p)->g);
}

static void bench_conv(int64_t M, int64_t N, int64_t K, bool direct)
{
    struct conv_ctx c = {.direct = direct};
    int64_t np = (N + AXLE_GEMM_PANEL - 1) / AXLE_GEMM_PANEL;

    ctx_init(&c.g, M, N, K, NULL);
    c.panels = calloc((size_t)(np * K * AXLE_GEMM_PANEL), sizeof(float));
    for (int64_t p = 0; p < np; p++) {
        int64_t w = N - p * AXLE_GEMM_PANEL;
        int64_t st = w >= AXLE_GEMM_PANEL ? AXLE_GEMM_PANEL : (w + 15) & ~15;
        if (w > AXLE_GEMM_PANEL)
            w = AXLE_GEMM_PANEL;
        for (int64_t k = 0; k < K; k++)
            memcpy(c.panels + p * K * AXLE_GEMM_PANEL + k * st,
                   c.g.B + k * N + p * AXLE_GEMM_PANEL,
                   (size_t)w * sizeof(float));
    }
    struct timer t[2] = {{run_axle_block, &c, 0, 0},
                         {run_blas_conv, &c, 0, 0}};
    double err = compare_out(&c, c.g.C, (size_t)(M * N), run_axle_block,
                             run_blas_conv);
    measure(t, 2);
    emit("G9", "conv", M, N, K, direct ? "block_direct" : "block_panels", 1,
         t[0].best_s, "sgemm", t[1].best_s, err, 0);
    free(c.panels);
    ctx_free(&c.g);
}

int main(int argc, char **argv)
{
    struct axle_pool *pool2 = NULL;
    int threads = 2, conv_only = 0;
    const char *env;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            g_quick = 1;
        else if (strcmp(argv[i], "--conv") == 0)
            conv_only = 1;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
    }
    if (g_quick) {
        g_windows = 3;
        g_window_s = 0.03;
    }
    openblas_set_num_threads(1);
    g_core = openblas_get_corename();
    env = getenv("OPENBLAS_CORETYPE");
    double fma0 = axle_cpu_get()->avx512f ? fma_probe_avx512() : 0;
    printf("{\"probe\":\"env\",\"core\":\"%s\",\"OPENBLAS_CORETYPE\":\"%s\","
           "\"OPENBLAS_L2_SIZE\":\"%s\",\"openblas_config\":\"%s\","
           "\"isa\":\"%s\",\"fma_gflops_1core\":%.1f}\n",
           g_core, env ? env : "", getenv("OPENBLAS_L2_SIZE") ?: "",
           openblas_get_config(), axle_isa_name(axle_gemm_isa()), fma0);
    fflush(stdout);

    static const int64_t squares[] = {256, 512, 1024};
    static const int64_t gemv[][2] = {{784, 256}, {1024, 1024}, {4096, 4096}};
    static const int64_t smalls[] = {2, 4, 8, 16, 32};

    for (size_t i = 0; i < 3 && !conv_only; i++)
        bench_square(squares[i], NULL, 1);
    for (size_t i = 0; i < 3 && !conv_only; i++)
        bench_gemv(gemv[i][0], gemv[i][1], NULL, 1);
    for (size_t i = 0; i < 5 && !conv_only; i++)
        bench_small(smalls[i], NULL, 1);
    /* M = Cout, N = output positions, K = Cin * taps */
    static const int64_t convs[][4] = {
        {64, 3136, 576, 0},   {128, 784, 1152, 0}, {256, 196, 2304, 0},
        {512, 49, 4608, 0},   {144, 3136, 24, 1},  {24, 3136, 144, 1},
        {192, 784, 32, 1},    {960, 49, 160, 1},   {160, 49, 960, 1},
    };
    for (size_t i = 0; i < sizeof(convs) / sizeof(convs[0]); i++)
        bench_conv(convs[i][0], convs[i][1], convs[i][2], convs[i][3] != 0);

    if (threads > 1 && !conv_only &&
        axle_pool_new(threads, &pool2) == AXLE_OK) {
        bench_square(1024, pool2, threads);
        bench_gemv(1024, 1024, pool2, threads);
        bench_gemv(4096, 4096, pool2, threads);
        bench_small(8, pool2, threads);
        axle_pool_free(pool2);
    }
    double fma1 = axle_cpu_get()->avx512f ? fma_probe_avx512() : 0;
    printf("{\"probe\":\"fma\",\"before_gflops\":%.1f,\"after_gflops\":%.1f,"
           "\"noisy\":%s}\n",
           fma0, fma1,
           fabs(fma1 - fma0) > 0.1 * (fma0 > fma1 ? fma0 : fma1) ? "true"
                                                                  : "false");
    return 0;
}
