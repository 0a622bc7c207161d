/*
 * test_rnn.c - LSTM, GRU and RNN kernels called through struct axle_op:
 * load-time inference with symbolic / unknown dims and both layouts,
 * attribute and shape errors, out-of-range sequence_lens, every activation
 * of the gate kernels on every ISA the CPU has against libm, and whole
 * layers (bidirectional, sequence_lens, peepholes, clip, input_forget,
 * linear_before_reset, batch-major layout, packed and unpacked weights,
 * with and without a thread pool) against a naive double-precision
 * reference written from the ONNX equations.
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
#include "kernels/rnn_internal.h"
#include "kernel_fixture.h"

extern const struct axle_op axle_op_lstm, axle_op_gru, axle_op_rnn;

/* ---- inference ------------------------------------------------------------ */

static void infer_keeps_symbolic_dims_in_both_layouts(void **state)
{
    struct fx f;
    int64_t S = axle_dim_sym(0), N = axle_dim_sym(1);
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 3, I64(S, N, 4), NULL);
    struct axle_tensor w = tens(AXLE_DTYPE_FLOAT32, 3, I64(2, 12, 4), NULL);
    struct axle_tensor r = tens(AXLE_DTYPE_FLOAT32, 3, I64(2, 12, 3), NULL);
    struct axle_tensor y, yh, yc;
    const struct axle_tensor *in[3] = {&x, &w, &r};
    struct axle_tensor *out[3] = {&y, &yh, &yc};
    (void)state;

    fx_init_op(&f, &axle_op_lstm, 14, 1);
    attr_str(&f, "direction", "bidirectional");
    /* hidden_size absent: taken from R. */
    assert_int_equal(infer(&f, f.op, 3, in, 3, out), AXLE_OK);
    assert_int_equal(y.rank, 4);
    assert_int_equal(y.dims[0], S);
    assert_int_equal(y.dims[1], 2);
    assert_int_equal(y.dims[2], N);
    assert_int_equal(y.dims[3], 3);
    assert_int_equal(yh.rank, 3);
    assert_int_equal(yh.dims[1], N);
    assert_int_equal(yc.dims[2], 3);
    assert_int_equal(y.dtype, AXLE_DTYPE_FLOAT32);
    fx_dispose(&f);

    /* layout = 1: X is [batch, seq, input]. */
    fx_init_op(&f, &axle_op_gru, 14, 1);
    attr_int(&f, "layout", 1);
    attr_int(&f, "hidden_size", 5);
    x = tens(AXLE_DTYPE_FLOAT32, 3, I64(N, S, 4), NULL);
    w = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 15, 4), NULL);
    r = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 15, 5), NULL);
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_OK);
    assert_int_equal(y.rank, 4);
    assert_int_equal(y.dims[0], N);
    assert_int_equal(y.dims[1], S);
    assert_int_equal(y.dims[2], 1);
    assert_int_equal(y.dims[3], 5);
    assert_int_equal(yh.dims[0], N);
    assert_int_equal(yh.dims[1], 1);
    fx_dispose(&f);

    /* Unknown rank of X: dims it would give are unknown, H still known. */
    fx_init_op(&f, &axle_op_rnn, 14, 1);
    attr_int(&f, "hidden_size", 3);
    x = tens(AXLE_DTYPE_FLOAT32, -1, NULL, NULL);
    w = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 3, 4), NULL);
    r = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 3, 3), NULL);
    out[0] = NULL; /* Y not wanted */
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_OK);
    assert_int_equal(yh.rank, 3);
    assert_int_equal(yh.dims[0], 1);
    assert_int_equal(yh.dims[1], -1);
    assert_int_equal(yh.dims[2], 3);
    fx_dispose(&f);
}

static void infer_rejects_bad_attributes_and_shapes(void **state)
{
    struct fx f;
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 3, I64(2, 1, 4), NULL);
    struct axle_tensor w = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 12, 4), NULL);
    struct axle_tensor r = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 12, 3), NULL);
    struct axle_tensor b = tens(AXLE_DTYPE_FLOAT32, 2, I64(1, 20), NULL);
    struct axle_tensor xi = tens(AXLE_DTYPE_INT32, 3, I64(2, 1, 4), NULL);
    struct axle_tensor y, yh;
    const struct axle_tensor *in[4] = {&x, &w, &r, NULL};
    struct axle_tensor *out[2] = {&y, &yh};
    static const char *const two[] = {"Sigmoid", "Tanh"};
    static const char *const bogus[] = {"Sigmoid", "Swish", "Tanh"};
    (void)state;

    fx_init_op(&f, &axle_op_lstm, 14, 1);
    attr_str(&f, "direction", "sideways");
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "direction"));
    fx_dispose(&f);

    fx_init_op(&f, &axle_op_lstm, 14, 1);
    attr_strs(&f, "activations", 2, two); /* LSTM needs 3 */
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init_op(&f, &axle_op_lstm, 14, 1);
    attr_strs(&f, "activations", 3, bogus);
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "Swish"));
    fx_dispose(&f);

    fx_init_op(&f, &axle_op_lstm, 14, 1);
    attr_int(&f, "hidden_size", 4); /* W has 12 = 4 * 3 rows */
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "W"));
    fx_dispose(&f);

    fx_init_op(&f, &axle_op_lstm, 14, 1);
    attr_int(&f, "hidden_size", 0);
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init_op(&f, &axle_op_lstm, 14, 1);
    attr_int(&f, "layout", 2);
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    fx_init_op(&f, &axle_op_lstm, 14, 1);
    attr_float(&f, "clip", -1.0f);
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* B must be [1, 24]. */
    fx_init_op(&f, &axle_op_lstm, 14, 1);
    in[3] = &b;
    assert_int_equal(infer(&f, f.op, 4, in, 2, out), AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "B"));
    in[3] = NULL;
    fx_dispose(&f);

    /* Bidirectional needs W[0] == 2. */
    fx_init_op(&f, &axle_op_lstm, 14, 1);
    attr_str(&f, "direction", "bidirectional");
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);

    /* Integer X; X of rank 2. */
    fx_init_op(&f, &axle_op_lstm, 14, 1);
    in[0] = &xi;
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    in[0] = &x;
    x.rank = 2;
    assert_int_equal(infer(&f, f.op, 3, in, 2, out), AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

static void run_rejects_out_of_range_sequence_lens(void **state)
{
    struct fx f;
    float xd[3 * 2 * 1] = {0}, wd[1] = {1}, rd[1] = {0};
    int32_t lens[2] = {1, 4};
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 3, I64(3, 2, 1), xd);
    struct axle_tensor w = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 1, 1), wd);
    struct axle_tensor r = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 1, 1), rd);
    struct axle_tensor l = tens(AXLE_DTYPE_INT32, 1, I64(2), lens);
    struct axle_tensor y, yh;
    const struct axle_tensor *in[5] = {&x, &w, &r, NULL, &l};
    struct axle_tensor *out[2] = {&y, &yh};
    (void)state;

    fx_init_op(&f, &axle_op_rnn, 14, 1);
    attr_int(&f, "hidden_size", 1);
    assert_int_equal(call(&f, f.op, 5, in, 2, out), AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(f.err.msg, "sequence_lens"));
    free_outs(2, out);
    lens[1] = -1;
    assert_int_equal(call(&f, f.op, 5, in, 2, out), AXLE_INVALID_ARGUMENT);
    free_outs(2, out);
    /* A length-typed mismatch: float sequence_lens. */
    l.dtype = AXLE_DTYPE_FLOAT32;
    assert_int_equal(infer(&f, f.op, 5, in, 2, out), AXLE_INVALID_ARGUMENT);
    fx_dispose(&f);
}

/* ---- exact small case --------------------------------------------------- */

/* h_t = x_t + 0.5 h_{t-1} through Affine(1, 0): exact in float. Reverse
 * direction, per-row lengths 3 and 1, initial_h. */
static void rnn_affine_reverse_with_lengths_is_exact(void **state)
{
    struct fx f;
    float xd[3 * 2] = {1, 10, 2, 20, 4, 40}; /* [t][b] */
    float wd[1] = {1}, rd[1] = {0.5f}, h0[2] = {8, 16};
    int32_t lens[2] = {3, 1};
    struct axle_tensor x = tens(AXLE_DTYPE_FLOAT32, 3, I64(3, 2, 1), xd);
    struct axle_tensor w = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 1, 1), wd);
    struct axle_tensor r = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 1, 1), rd);
    struct axle_tensor l = tens(AXLE_DTYPE_INT32, 1, I64(2), lens);
    struct axle_tensor ih = tens(AXLE_DTYPE_FLOAT32, 3, I64(1, 2, 1), h0);
    struct axle_tensor y, yh;
    const struct axle_tensor *in[6] = {&x, &w, &r, NULL, &l, &ih};
    struct axle_tensor *out[2] = {&y, &yh};
    static const char *const aff[] = {"Affine"};
    static const float one[] = {1.0f}, zero[] = {0.0f};
    const float *yv;
    (void)state;

    fx_init_op(&f, &axle_op_rnn, 14, 1);
    attr_int(&f, "hidden_size", 1);
    attr_str(&f, "direction", "reverse");
    attr_strs(&f, "activations", 1, aff);
    attr_floats(&f, "activation_alpha", 1, one);
    attr_floats(&f, "activation_beta", 1, zero);
    assert_int_equal(call(&f, f.op, 6, in, 2, out), AXLE_OK);
    yv = y.data;
    /* Row 0 (length 3) from t = 2 down: 4 + 4 = 8, 2 + 4 = 6, 1 + 3 = 4. */
    assert_true(yv[2 * 2 + 0] == 8.0f);
    assert_true(yv[1 * 2 + 0] == 6.0f);
    assert_true(yv[0 * 2 + 0] == 4.0f);
    /* Row 1 (length 1): only t = 0: 10 + 8 = 18, zeros after. */
    assert_true(yv[0 * 2 + 1] == 18.0f);
    assert_true(yv[1 * 2 + 1] == 0.0f);
    assert_true(yv[2 * 2 + 1] == 0.0f);
    /* Y_h of a reverse pass: the state after t = 0. */
    assert_true(((float *)yh.data)[0] == 4.0f);
    assert_true(((float *)yh.data)[1] == 18.0f);
    free_outs(2, out);

    /* Length 0: Y zero, Y_h zero. */
    lens[1] = 0;
    assert_int_equal(call(&f, f.op, 6, in, 2, out), AXLE_OK);
    yv = y.data;
    assert_true(yv[1] == 0.0f && yv[3] == 0.0f && yv[5] == 0.0f);
    assert_true(((float *)yh.data)[1] == 0.0f);
    free_outs(2, out);
    fx_dispose(&f);
}

/* ---- gate kernels on every ISA vs libm ---------------------------------- */

static double ref_act(enum axle_rnn_act_kind k, double x, double a, double b)
{
    switch (k) {
    case AXLE_RNN_ACT_RELU: return x > 0 ? x : 0;
    case AXLE_RNN_ACT_TANH: return tanh(x);
    case AXLE_RNN_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case AXLE_RNN_ACT_AFFINE: return a * x + b;
    case AXLE_RNN_ACT_LEAKY_RELU: return x >= 0 ? x : a * x;
    case AXLE_RNN_ACT_THRESHOLDED_RELU: return x >= a ? x : 0;
    case AXLE_RNN_ACT_SCALED_TANH: return a * tanh(b * x);
    case AXLE_RNN_ACT_HARD_SIGMOID: return fmin(fmax(a * x + b, 0), 1);
    case AXLE_RNN_ACT_ELU: return x >= 0 ? x : a * expm1(x);
    case AXLE_RNN_ACT_SOFTSIGN: return x / (1 + fabs(x));
    case AXLE_RNN_ACT_SOFTPLUS: return x > 30 ? x : log1p(exp(x));
    }
    return 0;
}

/* RNN cell with zero recurrence is f(x): checks each activation over a
 * range that covers both branches of the tanh / expm1 approximations and
 * saturation, on every kernel table the CPU can run. */
static void gate_kernels_match_libm_on_every_isa(void **state)
{
    enum { NV = 1000 };
    const struct axle_rnn_kernels *tabs[3] = {&axle_rnn_kernels_generic,
                                              &axle_rnn_kernels_avx2,
                                              &axle_rnn_kernels_avx512};
    enum axle_isa isa = axle_cpu_get()->isa;
    float *xp = malloc(NV * sizeof(float)), *g = calloc(NV, sizeof(float));
    float *h = malloc(NV * sizeof(float)), *yv = malloc(NV * sizeof(float));
    unsigned char act1 = 1;
    (void)state;

    for (int i = 0; i < NV; i++) /* -100 .. 100, dense near 0 */
        xp[i] = (float)(100.0 * pow((i - NV / 2) / (double)(NV / 2), 5.0));
    xp[NV / 2 + 1] = 1e-6f;
    xp[NV / 2 + 2] = -3e-5f;
    for (int t = 0; t <= (int)isa && t < 3; t++) {
        for (int kind = 0; kind <= AXLE_RNN_ACT_SOFTPLUS; kind++) {
            struct axle_rnn_step s = {
                .batch = 1, .hidden = NV, .g = g, .ldg = NV, .xp = xp,
                .xp_bs = NV, .h = h, .y = yv, .y_bs = NV, .active = &act1,
                .clip = INFINITY,
                .f = {(enum axle_rnn_act_kind)kind, 0.7f, 0.3f},
            };
            tabs[t]->rnn(&s);
            for (int i = 0; i < NV; i++) {
                double want = ref_act((enum axle_rnn_act_kind)kind, xp[i],
                                      0.7f, 0.3f);
                /* relative, plus the rounding of a*x + b near 0 */
                double tol = 4e-7 * fabs(want) +
                             1e-7 * fmin(fabs(xp[i]), 1.0) + 1e-30;
                if (!(fabs(yv[i] - want) <= tol) || h[i] != yv[i])
                    fail_msg("isa %d act %d x=%g: got %.9g want %.9g", t,
                             kind, (double)xp[i], (double)yv[i], want);
            }
        }
    }
    free(xp);
    free(g);
    free(h);
    free(yv);
}

/* ---- whole layers vs a naive reference -------------------------------- */

struct lcfg {
    const struct axle_op *op;
    int g;        /* gates */
    int nd;       /* directions */
    const char *direction;
    int64_t S, N, I, H;
    int layout, lbr, input_forget;
    bool lens, h0, c0, p, bias;
    float clip; /* 0: none */
    const char *acts[6];
    int n_acts;
};

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return ((float)(*s >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

static double ract(const char *name, double x)
{
    if (strcmp(name, "Sigmoid") == 0)
        return 1 / (1 + exp(-x));
    if (strcmp(name, "Tanh") == 0)
        return tanh(x);
    if (strcmp(name, "Relu") == 0)
        return x > 0 ? x : 0;
    if (strcmp(name, "HardSigmoid") == 0)
        return fmin(fmax(0.2 * x + 0.5, 0), 1);
    if (strcmp(name, "Softsign") == 0)
        return x / (1 + fabs(x));
    return x;
}

/* ONNX equations, one batch row and direction at a time. */
static void reference(const struct lcfg *c, const float *X, const float *W,
                      const float *R, const float *B, const int32_t *lens,
                      const float *H0, const float *C0, const float *P,
                      double *Y, double *YH, double *YC)
{
    const int64_t S = c->S, N = c->N, I = c->I, H = c->H, G = c->g * H;
    double h[64], cc[64], pre[256], rh[64];
    const char *dflt_lstm[3] = {"Sigmoid", "Tanh", "Tanh"};
    const char *dflt_gru[2] = {"Sigmoid", "Tanh"};
    const char *dflt_rnn[1] = {"Tanh"};
    int na = c->g == 4 ? 3 : c->g == 3 ? 2 : 1;

    memset(Y, 0, sizeof(double) * (size_t)(S * c->nd * N * H));
    for (int d = 0; d < c->nd; d++) {
        const char **acts = c->n_acts ? (const char **)c->acts + d * na
                            : c->g == 4 ? dflt_lstm
                            : c->g == 3 ? dflt_gru : dflt_rnn;
        bool rev = d == 1 || strcmp(c->direction, "reverse") == 0;
        const float *w = W + d * G * I, *r = R + d * G * H;
        const float *wb = c->bias ? B + d * 2 * G : NULL;
        for (int64_t b = 0; b < N; b++) {
            int64_t L = c->lens ? lens[b] : S;
            int64_t so = c->layout ? (b * c->nd + d) * H : (d * N + b) * H;
            for (int64_t j = 0; j < H; j++) {
                h[j] = c->h0 ? H0[so + j] : 0;
                cc[j] = c->c0 ? C0[so + j] : 0;
            }
            for (int64_t k = 0; k < L; k++) {
                int64_t t = rev ? L - 1 - k : k;
                const float *x = X + (c->layout ? b * S + t : t * N + b) * I;
                double hn[64];
                for (int64_t q = 0; q < G; q++) {
                    double v = wb ? wb[q] : 0;
                    for (int64_t i = 0; i < I; i++)
                        v += (double)x[i] * w[q * I + i];
                    pre[q] = v;
                }
#define CL(v) (c->clip > 0 ? fmin(fmax((v), -c->clip), c->clip) : (v))
                if (c->g == 1) {
                    for (int64_t j = 0; j < H; j++) {
                        double v = pre[j] + (wb ? wb[G + j] : 0);
                        for (int64_t i = 0; i < H; i++)
                            v += h[i] * r[j * H + i];
                        hn[j] = ract(acts[0], CL(v));
                    }
                } else if (c->g == 3) {
                    double z[64], rr[64], lin[64];
                    for (int64_t j = 0; j < 3 * H; j++) {
                        double v = 0;
                        for (int64_t i = 0; i < H; i++)
                            v += h[i] * r[j * H + i];
                        if (j < 2 * H) {
                            v += pre[j] + (wb ? wb[G + j] : 0);
                            if (j < H)
                                z[j] = ract(acts[0], CL(v));
                            else
                                rr[j - H] = ract(acts[0], CL(v));
                        } else {
                            lin[j - 2 * H] = v + (wb ? wb[G + j] : 0);
                        }
                    }
                    for (int64_t j = 0; j < H; j++)
                        rh[j] = rr[j] * h[j];
                    for (int64_t j = 0; j < H; j++) {
                        double v;
                        if (c->lbr) {
                            v = pre[2 * H + j] + rr[j] * lin[j];
                        } else {
                            v = pre[2 * H + j] + (wb ? wb[G + 2 * H + j] : 0);
                            for (int64_t i = 0; i < H; i++)
                                v += rh[i] * r[(2 * H + j) * H + i];
                        }
                        v = ract(acts[1], CL(v));
                        hn[j] = (1 - z[j]) * v + z[j] * h[j];
                    }
                } else {
                    const float *p = c->p ? P + d * 3 * H : NULL;
                    for (int64_t j = 0; j < G; j++) {
                        pre[j] += wb ? wb[G + j] : 0;
                        for (int64_t i = 0; i < H; i++)
                            pre[j] += h[i] * r[j * H + i];
                    }
                    for (int64_t j = 0; j < H; j++) {
                        double ig = pre[j] + (p ? p[j] * cc[j] : 0);
                        double fg = pre[2 * H + j] + (p ? p[2 * H + j] * cc[j] : 0);
                        ig = ract(acts[0], CL(ig));
                        fg = c->input_forget ? 1 - ig : ract(acts[0], CL(fg));
                        double cg = ract(acts[1], CL(pre[3 * H + j]));
                        cc[j] = fg * cc[j] + ig * cg;
                        double og = pre[H + j] + (p ? p[H + j] * cc[j] : 0);
                        og = ract(acts[0], CL(og));
                        hn[j] = og * ract(acts[2], CL(cc[j]));
                    }
                }
#undef CL
                for (int64_t j = 0; j < H; j++) {
                    h[j] = hn[j];
                    int64_t yo = c->layout ? ((b * S + t) * c->nd + d) * H
                                           : ((t * c->nd + d) * N + b) * H;
                    Y[yo + j] = h[j];
                }
            }
            for (int64_t j = 0; j < H; j++) {
                YH[so + j] = L > 0 ? h[j] : 0;
                YC[so + j] = L > 0 ? cc[j] : 0;
            }
        }
    }
}

static void check_close(const char *what, const float *got, const double *want,
                        int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 2e-5 + 2e-5 * fabs(want[i])))
            fail_msg("%s[%lld]: got %.8g want %.8g", what, (long long)i,
                     (double)got[i], want[i]);
}

static void run_layer(const struct lcfg *c, bool packed, bool threads)
{
    const int64_t S = c->S, N = c->N, I = c->I, H = c->H, G = c->g * H;
    const int64_t nd = c->nd;
    uint32_t seed = (uint32_t)(S * 131 + N * 17 + H * 7 + c->g);
    float *X = malloc(sizeof(float) * (size_t)(S * N * I));
    float *W = malloc(sizeof(float) * (size_t)(nd * G * I));
    float *R = malloc(sizeof(float) * (size_t)(nd * G * H));
    float *B = malloc(sizeof(float) * (size_t)(nd * 2 * G));
    float *H0 = malloc(sizeof(float) * (size_t)(nd * N * H));
    float *C0 = malloc(sizeof(float) * (size_t)(nd * N * H));
    float *P = malloc(sizeof(float) * (size_t)(nd * 3 * H));
    int32_t lens[16];
    double *Yr = malloc(sizeof(double) * (size_t)(S * nd * N * H));
    double *YHr = malloc(sizeof(double) * (size_t)(nd * N * H));
    double *YCr = malloc(sizeof(double) * (size_t)(nd * N * H));
    struct fx f;
    struct axle_tensor tx, tw, tr, tb, tl, th, tc, tp, y, yh, yc;
    const struct axle_tensor *in[8] = {&tx, &tw, &tr};
    struct axle_tensor *out[3] = {&y, &yh, c->g == 4 ? &yc : NULL};
    int n_in = 3;

    for (int64_t i = 0; i < S * N * I; i++)
        X[i] = frand(&seed);
    for (int64_t i = 0; i < nd * G * I; i++)
        W[i] = 0.5f * frand(&seed);
    for (int64_t i = 0; i < nd * G * H; i++)
        R[i] = 0.5f * frand(&seed);
    for (int64_t i = 0; i < nd * 2 * G; i++)
        B[i] = 0.5f * frand(&seed);
    for (int64_t i = 0; i < nd * N * H; i++) {
        H0[i] = frand(&seed);
        C0[i] = frand(&seed);
    }
    for (int64_t i = 0; i < nd * 3 * H; i++)
        P[i] = 0.5f * frand(&seed);
    for (int64_t b = 0; b < N; b++)
        lens[b] = (int32_t)((b * 7 + 3) % (S + 1));
    if (N > 1)
        lens[1] = (int32_t)S;
    reference(c, X, W, R, B, lens, H0, C0, P, Yr, YHr, YCr);

    tx = tens(AXLE_DTYPE_FLOAT32, 3,
              c->layout ? I64(N, S, I) : I64(S, N, I), X);
    tw = tens(AXLE_DTYPE_FLOAT32, 3, I64(nd, G, I), W);
    tr = tens(AXLE_DTYPE_FLOAT32, 3, I64(nd, G, H), R);
    tb = tens(AXLE_DTYPE_FLOAT32, 2, I64(nd, 2 * G), B);
    tl = tens(AXLE_DTYPE_INT32, 1, I64(N), lens);
    th = tens(AXLE_DTYPE_FLOAT32, 3,
              c->layout ? I64(N, nd, H) : I64(nd, N, H), H0);
    tc = tens(AXLE_DTYPE_FLOAT32, 3,
              c->layout ? I64(N, nd, H) : I64(nd, N, H), C0);
    tp = tens(AXLE_DTYPE_FLOAT32, 2, I64(nd, 3 * H), P);
    in[3] = c->bias ? &tb : NULL;
    in[4] = c->lens ? &tl : NULL;
    in[5] = c->h0 ? &th : NULL;
    in[6] = c->c0 ? &tc : NULL;
    in[7] = c->p ? &tp : NULL;
    for (int i = 3; i < 8; i++)
        if (in[i] != NULL)
            n_in = i + 1;

    fx_init_op(&f, c->op, 14, 1);
    attr_int(&f, "hidden_size", H);
    attr_str(&f, "direction", c->direction);
    if (c->layout)
        attr_int(&f, "layout", 1);
    if (c->lbr)
        attr_int(&f, "linear_before_reset", 1);
    if (c->input_forget)
        attr_int(&f, "input_forget", 1);
    if (c->clip > 0)
        attr_float(&f, "clip", c->clip);
    if (c->n_acts)
        attr_strs(&f, "activations", c->n_acts, c->acts);
    if (threads)
        assert_int_equal(axle_pool_new(2, &f.pool), AXLE_OK);
    if (packed) {
        assert_int_equal(prepare(&f, f.op, n_in, in, c->g == 4 ? 3 : 2, out),
                         AXLE_OK);
        assert_non_null(f.state);
    }
    assert_int_equal(call(&f, f.op, n_in, in, c->g == 4 ? 3 : 2, out), AXLE_OK);
    check_close("Y", y.data, Yr, S * nd * N * H);
    check_close("Y_h", yh.data, YHr, nd * N * H);
    if (c->g == 4)
        check_close("Y_c", yc.data, YCr, nd * N * H);
    /* A second run reuses the scratch and gives the same answer. */
    free_outs(3, out);
    assert_int_equal(call(&f, f.op, n_in, in, c->g == 4 ? 3 : 2, out), AXLE_OK);
    check_close("Y again", y.data, Yr, S * nd * N * H);
    free_outs(3, out);
    fx_dispose(&f);
    free(X);
    free(W);
    free(R);
    free(B);
    free(H0);
    free(C0);
    free(P);
    free(Yr);
    free(YHr);
    free(YCr);
}

static void layers_match_reference(void **state)
{
    const struct lcfg cases[] = {
        {&axle_op_lstm, 4, 2, "bidirectional", 5, 3, 4, 7, 0, 0, 0, true,
         true, true, true, true, 0, {0}, 0},
        {&axle_op_lstm, 4, 1, "reverse", 4, 2, 3, 17, 1, 0, 1, true, false,
         true, true, true, 0.8f, {"Sigmoid", "Softsign", "Tanh"}, 3},
        {&axle_op_lstm, 4, 1, "forward", 6, 1, 5, 33, 0, 0, 0, false, true,
         false, false, false, 0, {"HardSigmoid", "Tanh", "Relu"}, 3},
        {&axle_op_gru, 3, 2, "bidirectional", 5, 3, 4, 9, 0, 0, 0, true,
         true, false, false, true, 0, {0}, 0},
        {&axle_op_gru, 3, 2, "bidirectional", 3, 4, 2, 16, 1, 1, 0, true,
         true, false, false, true, 0.5f,
         {"Sigmoid", "Tanh", "HardSigmoid", "Softsign"}, 4},
        {&axle_op_gru, 3, 1, "reverse", 7, 2, 3, 5, 0, 1, 0, false, false,
         false, false, true, 0, {0}, 0},
        {&axle_op_rnn, 1, 2, "bidirectional", 6, 3, 4, 20, 1, 0, 0, true,
         true, false, false, true, 0, {"Tanh", "Relu"}, 2},
        {&axle_op_rnn, 1, 1, "forward", 3, 5, 2, 3, 0, 0, 0, true, false,
         false, false, false, 0.3f, {0}, 0},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_layer(&cases[i], false, false);
        run_layer(&cases[i], true, false);
        run_layer(&cases[i], true, true);
        run_layer(&cases[i], false, true);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(infer_keeps_symbolic_dims_in_both_layouts),
        cmocka_unit_test(infer_rejects_bad_attributes_and_shapes),
        cmocka_unit_test(run_rejects_out_of_range_sequence_lens),
        cmocka_unit_test(rnn_affine_reverse_with_lengths_is_exact),
        cmocka_unit_test(gate_kernels_match_libm_on_every_isa),
        cmocka_unit_test(layers_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
