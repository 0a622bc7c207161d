/*
 * test_gemm.c - axle_sgemm / axle_gemm_packed against a naive reference
 * accumulated in double, for every kernel ISA the machine has (forced with
 * axle_gemm_force_isa), many shapes (0, 1, odd, panel edges, K blocks),
 * strides, transposes, alpha/beta, bias per row/column and every fused
 * activation; plus axle_act_apply against the ONNX definitions and the
 * cpuid/AXLE_ISA detection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/pool.h"
#include "kernels/gemm.h"

#define SENTINEL 1234.5f

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static float *rand_buf(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

static double ref_act(enum axle_act act, double a, double b, double x)
{
    double h;

    switch (act) {
    case AXLE_ACT_NONE:
        return x;
    case AXLE_ACT_RELU:
        return x < 0 ? 0 : x;
    case AXLE_ACT_LEAKY_RELU:
        return x >= 0 ? x : a * x;
    case AXLE_ACT_CLIP:
        return x < a ? a : x > b ? b : x;
    case AXLE_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    case AXLE_ACT_TANH:
        return tanh(x);
    case AXLE_ACT_HARD_SIGMOID:
        h = a * x + b;
        return h < 0 ? 0 : h > 1 ? 1 : h;
    case AXLE_ACT_HARD_SWISH:
        h = x / 6 + 0.5;
        return x * (h < 0 ? 0 : h > 1 ? 1 : h);
    case AXLE_ACT_GELU:
        return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    }
    return NAN;
}

static const char *act_name(enum axle_act act)
{
    static const char *names[] = {"none", "relu", "leaky_relu", "clip",
                                  "sigmoid", "tanh", "hard_sigmoid",
                                  "hard_swish", "gelu"};
    return names[act];
}

struct problem {
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C, *C0, *bias;
    struct axle_epilogue ep;
    bool use_ep;
};

/* Allocates operands with padded leading dimensions; C's padding holds a
 * sentinel that the checks require untouched. */
static void problem_init(struct problem *p, bool ta, bool tb, int64_t M,
                         int64_t N, int64_t K, int pad)
{
    memset(p, 0, sizeof(*p));
    p->ta = ta;
    p->tb = tb;
    p->M = M;
    p->N = N;
    p->K = K;
    p->lda = (ta ? M : K) + pad;
    p->ldb = (tb ? K : N) + pad;
    p->ldc = N + pad;
    p->alpha = 1.0f;
    p->A = rand_buf((size_t)(ta ? K : M) * (size_t)p->lda);
    p->B = rand_buf((size_t)(tb ? N : K) * (size_t)p->ldb);
    p->C0 = rand_buf((size_t)M * (size_t)p->ldc);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = N; j < p->ldc; j++)
            p->C0[i * p->ldc + j] = SENTINEL;
    p->C = malloc(((size_t)M * (size_t)p->ldc + 1) * sizeof(float));
    assert_non_null(p->C);
    memcpy(p->C, p->C0, (size_t)M * (size_t)p->ldc * sizeof(float));
    p->bias = rand_buf((size_t)(M > N ? M : N) + 1);
}

static void problem_free(struct problem *p)
{
    free(p->A);
    free(p->B);
    free(p->C);
    free(p->C0);
    free(p->bias);
}

static void set_epilogue(struct problem *p, int bias_mode, enum axle_act act)
{
    static const float act_a[] = {0, 0, 0.1f, -0.3f, 0, 0, 0.2f, 0, 0};
    static const float act_b[] = {0, 0, 0, 0.4f, 0, 0, 0.5f, 0, 0};

    p->use_ep = true;
    p->ep.bias = bias_mode ? p->bias : NULL;
    p->ep.bias_per_row = bias_mode == 2;
    p->ep.act = act;
    p->ep.alpha = act_a[act];
    p->ep.beta = act_b[act];
}

static float a_at(const struct problem *p, int64_t i, int64_t k)
{
    return p->ta ? p->A[k * p->lda + i] : p->A[i * p->lda + k];
}

static float b_at(const struct problem *p, int64_t k, int64_t j)
{
    return p->tb ? p->B[j * p->ldb + k] : p->B[k * p->ldb + j];
}

/* Compares C with the double reference; tolerance scales with the sum of
 * absolute products, so long K and cancellation are judged fairly. */
static void check(const struct problem *p, const char *what)
{
    const struct axle_epilogue *ep = p->use_ep ? &p->ep : NULL;

    for (int64_t i = 0; i < p->M; i++) {
        for (int64_t j = 0; j < p->ldc; j++) {
            float got = p->C[i * p->ldc + j];
            if (j >= p->N) {
                if (got != SENTINEL)
                    fail_msg("%s: wrote padding C[%lld][%lld]", what,
                             (long long)i, (long long)j);
                continue;
            }
            double s = 0, mag = 0, v, tol, want;
            for (int64_t k = 0; k < p->K; k++) {
                double t = (double)a_at(p, i, k) * b_at(p, k, j);
                s += t;
                mag += fabs(t);
            }
            v = p->alpha * s;
            mag = fabs(p->alpha) * mag;
            if (p->beta != 0.0f) {
                v += p->beta * (double)p->C0[i * p->ldc + j];
                mag += fabs(p->beta * (double)p->C0[i * p->ldc + j]);
            }
            if (ep && ep->bias) {
                double bv = ep->bias_per_row ? ep->bias[i] : ep->bias[j];
                v += bv;
                mag += fabs(bv);
            }
            want = ref_act(ep ? ep->act : AXLE_ACT_NONE, ep ? ep->alpha : 0,
                           ep ? ep->beta : 0, v);
            tol = 2e-6 * (mag + fabs(v)) + 1e-6;
            if (!(fabs(got - want) <= tol))
                fail_msg("%s: C[%lld][%lld] = %.9g, want %.9g (tol %.3g)",
                         what, (long long)i, (long long)j, got, want, tol);
        }
    }
}

static void describe(char *buf, size_t n, const struct problem *p,
                     const char *path)
{
    snprintf(buf, n,
             "%s isa=%s ta=%d tb=%d M=%lld N=%lld K=%lld alpha=%g beta=%g "
             "bias=%s act=%s",
             path, axle_isa_name(axle_gemm_isa()), p->ta, p->tb,
             (long long)p->M, (long long)p->N, (long long)p->K, p->alpha,
             p->beta,
             !p->use_ep || !p->ep.bias ? "none"
             : p->ep.bias_per_row      ? "row"
                                       : "col",
             act_name(p->use_ep ? p->ep.act : AXLE_ACT_NONE));
}

static void run_sgemm(struct problem *p, struct axle_pool *pool)
{
    char what[256];

    axle_sgemm(pool, p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda,
               p->B, p->ldb, p->beta, p->C, p->ldc, p->use_ep ? &p->ep : NULL);
    describe(what, sizeof(what), p, "sgemm");
    check(p, what);
}

/* Packs B (honouring tb) and runs axle_gemm_packed (alpha 1, beta 0). */
static void run_packed(struct problem *p, struct axle_pool *pool)
{
    struct axle_packed_w *pw;
    struct axle_err err;
    char what[256];

    p->alpha = 1.0f;
    p->beta = 0.0f;
    assert_int_equal(axle_gemm_pack(p->tb, p->K, p->N, p->B, p->ldb, &pw, &err),
                     AXLE_OK);
    assert_int_equal(axle_gemm_packed_k(pw), p->K);
    assert_int_equal(axle_gemm_packed_n(pw), p->N);
    axle_gemm_packed(pool, p->M, p->A, p->lda, pw, p->C, p->ldc,
                     p->use_ep ? &p->ep : NULL);
    axle_gemm_packed_free(pw);
    describe(what, sizeof(what), p, "packed");
    check(p, what);
}

static const int64_t Ms[] = {0, 1, 2, 3, 7, 16, 17, 33, 64};
static const int64_t Ns[] = {1, 7, 16, 33, 48, 50, 97};
static const int64_t Ks[] = {0, 1, 5, 64, 300};
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static int n_isas(void)
{
    return (int)axle_cpu_get()->isa + 1;
}

/* Must run first: it forks before this process has probed the CPU. */
static void cpu_isa_env_caps_level_and_names_are_stable(void **state)
{
    pid_t pid;
    int status;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("AXLE_ISA", "scalar", 1);
        _exit(axle_cpu_get()->isa == AXLE_ISA_SCALAR ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(axle_isa_name(AXLE_ISA_SCALAR), "scalar");
    assert_string_equal(axle_isa_name(AXLE_ISA_AVX2), "avx2");
    assert_string_equal(axle_isa_name(AXLE_ISA_AVX512), "avx512");
    /* A detected level implies its features. */
    const struct axle_cpu *cpu = axle_cpu_get();
    if (cpu->isa >= AXLE_ISA_AVX2)
        assert_true(cpu->avx2 && cpu->fma);
    if (cpu->isa >= AXLE_ISA_AVX512)
        assert_true(cpu->avx512f && cpu->avx512bw && cpu->avx512dq &&
                    cpu->avx512vl);
    axle_gemm_force_isa(AXLE_ISA_SCALAR);
    assert_int_equal(axle_gemm_isa(), AXLE_ISA_SCALAR);
    axle_gemm_force_isa(AXLE_ISA_AVX512);
    assert_int_equal(axle_gemm_isa(), cpu->isa);
}

static void sgemm_matches_reference_for_all_shapes_transposes_and_isas(
    void **state)
{
    int case_no = 0;

    (void)state;
    for (int isa = 0; isa < n_isas(); isa++) {
        axle_gemm_force_isa((enum axle_isa)isa);
        for (size_t a = 0; a < LEN(Ms); a++)
            for (size_t b = 0; b < LEN(Ns); b++)
                for (size_t c = 0; c < LEN(Ks); c++)
                    for (int t = 0; t < 4; t++, case_no++) {
                        struct problem p;
                        problem_init(&p, t & 1, t & 2, Ms[a], Ns[b], Ks[c],
                                     case_no % 3 == 0 ? 0 : 3);
                        if (case_no % 2) {
                            p.alpha = 0.5f;
                            p.beta = -1.5f;
                        }
                        run_sgemm(&p, NULL);
                        problem_free(&p);
                    }
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
}

static void packed_matches_reference_for_all_shapes_and_isas(void **state)
{
    int case_no = 0;

    (void)state;
    for (int isa = 0; isa < n_isas(); isa++) {
        axle_gemm_force_isa((enum axle_isa)isa);
        for (size_t a = 0; a < LEN(Ms); a++)
            for (size_t b = 0; b < LEN(Ns); b++)
                for (size_t c = 0; c < LEN(Ks); c++)
                    for (int t = 0; t < 2; t++, case_no++) {
                        struct problem p;
                        problem_init(&p, false, t, Ms[a], Ns[b], Ks[c],
                                     case_no % 3 == 0 ? 0 : 5);
                        if (case_no % 4 == 1)
                            set_epilogue(&p, 1, AXLE_ACT_RELU);
                        else if (case_no % 4 == 3)
                            set_epilogue(&p, 2, AXLE_ACT_GELU);
                        run_packed(&p, NULL);
                        problem_free(&p);
                    }
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
}

static void gemm_fuses_every_activation_with_bias_per_row_and_column(
    void **state)
{
    static const int64_t shapes[][3] = {{1, 50, 20}, {5, 50, 20},
                                        {9, 97, 33}, {40, 20, 17},
                                        {300, 20, 17}};

    (void)state;
    for (int isa = 0; isa < n_isas(); isa++) {
        axle_gemm_force_isa((enum axle_isa)isa);
        for (int act = AXLE_ACT_NONE; act <= AXLE_ACT_GELU; act++)
            for (int bias = 0; bias < 3; bias++)
                for (size_t s = 0; s < LEN(shapes); s++) {
                    struct problem p;
                    problem_init(&p, false, false, shapes[s][0], shapes[s][1],
                                 shapes[s][2], 2);
                    set_epilogue(&p, bias, (enum axle_act)act);
                    run_packed(&p, NULL);
                    problem_free(&p);

                    problem_init(&p, s & 1, false, shapes[s][0], shapes[s][1],
                                 shapes[s][2], 1);
                    set_epilogue(&p, bias, (enum axle_act)act);
                    p.alpha = 2.0f;
                    p.beta = 0.5f;
                    run_sgemm(&p, NULL);
                    problem_free(&p);

                    /* trans_b: the OpenBLAS / sgemv paths. */
                    problem_init(&p, false, true, shapes[s][0], shapes[s][1],
                                 shapes[s][2], 1);
                    set_epilogue(&p, bias, (enum axle_act)act);
                    run_sgemm(&p, NULL);
                    problem_free(&p);
                }
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
}

static void gemm_beta_zero_overwrites_nan_in_c(void **state)
{
    static const int64_t Ms_[] = {1, 4, 40};

    (void)state;
    for (int isa = 0; isa < n_isas(); isa++) {
        axle_gemm_force_isa((enum axle_isa)isa);
        for (size_t m = 0; m < LEN(Ms_); m++)
            for (int t = 0; t < 4; t++) {
                struct problem p;
                problem_init(&p, t & 1, t & 2, Ms_[m], 37, 19, 0);
                for (int64_t i = 0; i < p.M * p.ldc; i++)
                    p.C[i] = p.C0[i] = NAN;
                p.beta = 0.0f;
                run_sgemm(&p, NULL);
                problem_free(&p);

                problem_init(&p, false, t & 1, Ms_[m], 37, t < 2 ? 19 : 0, 0);
                for (int64_t i = 0; i < p.M * p.ldc; i++)
                    p.C[i] = NAN;
                run_packed(&p, NULL);
                problem_free(&p);
            }
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
}

static void gemm_split_over_pool_matches_reference(void **state)
{
    static const int64_t shapes[][3] = {
        {1, 1024, 512}, {1, 256, 784}, {8, 1000, 300},  {16, 1024, 1024},
        {300, 48, 64},  {100, 300, 200}, {257, 130, 300}, {33, 20, 2000},
    };
    struct axle_pool *pool;

    (void)state;
    assert_int_equal(axle_pool_new(2, &pool), AXLE_OK);
    for (int isa = 0; isa < n_isas(); isa++) {
        axle_gemm_force_isa((enum axle_isa)isa);
        for (size_t s = 0; s < LEN(shapes); s++) {
            struct problem p;
            problem_init(&p, false, false, shapes[s][0], shapes[s][1],
                         shapes[s][2], 1);
            set_epilogue(&p, s % 2 ? 1 : 2, AXLE_ACT_RELU);
            run_packed(&p, pool);
            problem_free(&p);

            problem_init(&p, s & 1, s & 2, shapes[s][0], shapes[s][1],
                         shapes[s][2], 1);
            set_epilogue(&p, 2, AXLE_ACT_TANH);
            p.beta = 1.0f;
            run_sgemm(&p, pool);
            problem_free(&p);
        }
    }
    axle_gemm_force_isa(AXLE_ISA_AVX512);
    axle_pool_free(pool);
}

static void gemm_pack_rejects_bad_arguments_and_reports_oom(void **state)
{
    struct axle_packed_w *pw = (void *)1;
    struct axle_err err;
    float w[4] = {1, 2, 3, 4};

    (void)state;
    assert_int_equal(axle_gemm_pack(false, -1, 2, w, 2, &pw, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_null(pw);
    assert_int_equal(axle_gemm_pack(false, 2, 2, w, 1, &pw, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_int_equal(axle_gemm_pack(true, 2, 2, NULL, 2, &pw, &err),
                     AXLE_INVALID_ARGUMENT);
    axle_alloc_fail_after(2); /* the struct succeeds, the panels fail */
    assert_int_equal(axle_gemm_pack(false, 2, 2, w, 2, &pw, &err),
                     AXLE_RESOURCE_EXHAUSTED);
    assert_null(pw);
    assert_int_equal(err.code, AXLE_RESOURCE_EXHAUSTED);
    axle_alloc_fail_after(0);
    assert_int_equal(axle_gemm_pack(false, 0, 0, NULL, 0, &pw, &err), AXLE_OK);
    axle_gemm_packed_free(pw);
    axle_gemm_packed_free(NULL);
}

static void gemm_packed_run_does_not_allocate(void **state)
{
    struct axle_packed_w *pw;
    struct axle_pool *pool;
    float *a = rand_buf(16 * 256), *w = rand_buf(256 * 300),
          *c = rand_buf(16 * 300);
    uint64_t before;

    (void)state;
    assert_int_equal(axle_pool_new(2, &pool), AXLE_OK);
    assert_int_equal(axle_gemm_pack(false, 256, 300, w, 300, &pw, NULL),
                     AXLE_OK);
    axle_gemm_packed(pool, 16, a, 256, pw, c, 300, NULL);
    before = axle_alloc_count();
    for (int m = 1; m <= 16; m++)
        axle_gemm_packed(pool, m, a, 256, pw, c, 300, NULL);
    axle_sgemm(pool, false, false, 16, 300, 256, 1.0f, a, 256, w, 300, 0.0f,
               c, 300, NULL);
    assert_int_equal(axle_alloc_count(), before);
    axle_gemm_packed_free(pw);
    axle_pool_free(pool);
    free(a);
    free(w);
    free(c);
}

static void act_apply_matches_onnx_definitions_and_passes_nan(void **state)
{
    float xs[] = {-8.0f, -3.0f, -1.0f, -0.25f, 0.0f, 0.3f, 1.0f, 2.5f, 7.0f};
    const size_t n = LEN(xs);

    (void)state;
    for (int act = AXLE_ACT_NONE; act <= AXLE_ACT_GELU; act++) {
        float x[LEN(xs)];
        float a = act == AXLE_ACT_CLIP ? -0.5f : 0.2f;
        float b = act == AXLE_ACT_CLIP ? 0.75f : 0.5f;
        memcpy(x, xs, sizeof(xs));
        axle_act_apply((enum axle_act)act, a, b, x, n);
        for (size_t i = 0; i < n; i++) {
            double want = ref_act((enum axle_act)act, a, b, xs[i]);
            if (fabs(x[i] - want) > 1e-6 * (1 + fabs(want)))
                fail_msg("%s(%g) = %.9g, want %.9g", act_name(act), xs[i],
                         x[i], want);
        }
        float nan1 = NAN;
        axle_act_apply((enum axle_act)act, a, b, &nan1, 1);
        assert_true(isnan(nan1));
    }
    /* Sigmoid does not overflow to NaN for large |x|. */
    float big[2] = {-200.0f, 200.0f};
    axle_act_apply(AXLE_ACT_SIGMOID, 0, 0, big, 2);
    assert_true(big[0] == 0.0f && big[1] == 1.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_isa_env_caps_level_and_names_are_stable),
        cmocka_unit_test(act_apply_matches_onnx_definitions_and_passes_nan),
        cmocka_unit_test(
            sgemm_matches_reference_for_all_shapes_transposes_and_isas),
        cmocka_unit_test(packed_matches_reference_for_all_shapes_and_isas),
        cmocka_unit_test(
            gemm_fuses_every_activation_with_bias_per_row_and_column),
        cmocka_unit_test(gemm_beta_zero_overwrites_nan_in_c),
        cmocka_unit_test(gemm_split_over_pool_matches_reference),
        cmocka_unit_test(gemm_pack_rejects_bad_arguments_and_reports_oom),
        cmocka_unit_test(gemm_packed_run_does_not_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
