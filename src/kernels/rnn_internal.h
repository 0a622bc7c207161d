/*
 * rnn_internal.h - shared pieces of the recurrent kernels (LSTM, GRU, RNN):
 * the activation table of ONNX's RNN family, the per-time-step record the
 * driver (rnn.c) hands to the gate kernels, and the gate kernels themselves
 * as `static inline` code written with GCC vector extensions.
 *
 * The gate code is compiled three times: in rnn.c for the baseline ISA, in
 * rnn_avx2.c and in rnn_avx512.c with those ISAs enabled (CMake gives the
 * *_avx2.c / *_avx512.c files their -m flags). Each instantiation exports a
 * struct axle_rnn_kernels; rnn.c picks one from axle_cpu_get()->isa. The
 * vector type is one register of that ISA (4, 8 or 16 floats), so the same
 * source is branch-free SIMD everywhere without relying on the
 * auto-vectoriser (which -O2 runs with its "very cheap" cost model).
 *
 * Transcendentals: exp uses a Cody-Waite range reduction and a degree-7
 * Taylor polynomial (relative error < 2e-7 on the reduced range); tanh uses
 * its odd Taylor series near 0 (no cancellation) and 1 - 2/(e^2|x| + 1)
 * elsewhere; sigmoid is 1/(1 + e^-x). All agree with libm to a few ulp in
 * the relative sense, far inside ONNX's backend tolerance.
 */
#ifndef AXLE_KERNELS_RNN_INTERNAL_H
#define AXLE_KERNELS_RNN_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ONNX RNN-family activations (Operators.md, LSTM/GRU/RNN "Activation
 * functions"). */
enum axle_rnn_act_kind {
    AXLE_RNN_ACT_RELU = 0,
    AXLE_RNN_ACT_TANH,
    AXLE_RNN_ACT_SIGMOID,
    AXLE_RNN_ACT_AFFINE,           /* alpha*x + beta */
    AXLE_RNN_ACT_LEAKY_RELU,       /* x >= 0 ? x : alpha*x */
    AXLE_RNN_ACT_THRESHOLDED_RELU, /* x >= alpha ? x : 0 */
    AXLE_RNN_ACT_SCALED_TANH,      /* alpha*tanh(beta*x) */
    AXLE_RNN_ACT_HARD_SIGMOID,     /* min(max(alpha*x + beta, 0), 1) */
    AXLE_RNN_ACT_ELU,              /* x >= 0 ? x : alpha*(e^x - 1) */
    AXLE_RNN_ACT_SOFTSIGN,         /* x/(1 + |x|) */
    AXLE_RNN_ACT_SOFTPLUS,         /* log(1 + e^x) */
};

struct axle_rnn_act {
    enum axle_rnn_act_kind kind;
    float alpha, beta;
};

/*
 * One time step of one direction over all batch rows. Row b of every
 * [batch, *] operand starts at base + b * stride. Rows whose `active` flag
 * is 0 (t beyond their sequence_lens) keep their state and get zeros in y.
 */
struct axle_rnn_step {
    int64_t batch, hidden;
    float *g;         /* recurrent products H*R^T, gate-major per row */
    int64_t ldg;
    const float *g2;  /* GRU (linear_before_reset = 0): (r.H)*Rh^T [b, H] */
    const float *xp;  /* X*W^T + biases for this step, same gate order */
    int64_t xp_bs;
    const float *p;   /* LSTM peepholes [3H] (i, o, f) or NULL */
    const float *rbh; /* GRU linear_before_reset: Rb of the h gate */
    float *h;         /* [batch, hidden] hidden state, updated in place */
    float *c;         /* LSTM: [batch, hidden] cell state */
    float *rh;        /* GRU: [batch, hidden] r . H for the second GEMM */
    float *y;         /* output rows for this step or NULL */
    int64_t y_bs;
    const unsigned char *active;
    float clip;       /* +inf when the attribute is absent */
    int input_forget; /* LSTM */
    int lbr;          /* GRU linear_before_reset */
    struct axle_rnn_act f, g_act, h_act;
};

struct axle_rnn_kernels {
    void (*lstm)(const struct axle_rnn_step *s);
    /* GRU: z and r (and, with lbr = 0, rh = r . H); then the output. */
    void (*gru_zr)(const struct axle_rnn_step *s);
    void (*gru_out)(const struct axle_rnn_step *s);
    void (*rnn)(const struct axle_rnn_step *s);
};

extern const struct axle_rnn_kernels axle_rnn_kernels_generic;
extern const struct axle_rnn_kernels axle_rnn_kernels_avx2;
extern const struct axle_rnn_kernels axle_rnn_kernels_avx512;

/* ---- vector helpers ------------------------------------------- */

/* The widest vector the including file's ISA has registers for, so no
 * vector ever crosses a call in memory (no -Wpsabi ABI notes either). */
#if defined(__AVX512F__)
#define RNN_VL 16
#elif defined(__AVX__)
#define RNN_VL 8
#else
#define RNN_VL 4
#endif
#define RNN_INLINE static inline __attribute__((always_inline))

typedef float rnn_vf __attribute__((vector_size(RNN_VL * 4)));
typedef int32_t rnn_vi __attribute__((vector_size(RNN_VL * 4)));

RNN_INLINE rnn_vf rv_set(float x)
{
    return (rnn_vf){0} + x;
}

RNN_INLINE rnn_vf rv_load(const float *p, int64_t n)
{
    rnn_vf v;
    if (n >= RNN_VL) {
        memcpy(&v, p, sizeof(v));
    } else {
        v = rv_set(0.0f);
        memcpy(&v, p, (size_t)n * sizeof(float));
    }
    return v;
}

RNN_INLINE void rv_store(float *p, rnn_vf v, int64_t n)
{
    if (n >= RNN_VL)
        memcpy(p, &v, sizeof(v));
    else
        memcpy(p, &v, (size_t)n * sizeof(float));
}

/* Lane select: m ? a : b (m from a comparison: all ones or zero). */
RNN_INLINE rnn_vf rv_sel(rnn_vi m, rnn_vf a, rnn_vf b)
{
    return (rnn_vf)((m & (rnn_vi)a) | (~m & (rnn_vi)b));
}

/* min/max that let NaN through (NaN compares false). */
RNN_INLINE rnn_vf rv_min(rnn_vf x, rnn_vf hi) { return rv_sel(x > hi, hi, x); }
RNN_INLINE rnn_vf rv_max(rnn_vf x, rnn_vf lo) { return rv_sel(x < lo, lo, x); }

RNN_INLINE rnn_vf rv_exp(rnn_vf x)
{
    /* e^x = 2^n * e^r, n = round(x / ln2), r = x - n*ln2 (two-part ln2). */
    x = rv_max(rv_min(x, rv_set(88.3f)), rv_set(-87.3f));
    const rnn_vf magic = rv_set(12582912.0f); /* 1.5 * 2^23: round to int */
    rnn_vf n = (x * rv_set(1.44269504089f) + magic) - magic;
    rnn_vf r = x - n * rv_set(0.693359375f);
    r = r + n * rv_set(2.12194440e-4f);
    rnn_vf p = rv_set(1.0f / 5040.0f);
    p = p * r + rv_set(1.0f / 720.0f);
    p = p * r + rv_set(1.0f / 120.0f);
    p = p * r + rv_set(1.0f / 24.0f);
    p = p * r + rv_set(1.0f / 6.0f);
    p = p * r + rv_set(0.5f);
    p = p * r + rv_set(1.0f);
    p = p * r + rv_set(1.0f);
    rnn_vi e = (__builtin_convertvector(n, rnn_vi) + 127) << 23;
    return p * (rnn_vf)e;
}

/* e^x - 1 without cancellation near 0 (for Elu). */
RNN_INLINE rnn_vf rv_expm1(rnn_vf x)
{
    rnn_vf p = rv_set(1.0f / 362880.0f);
    p = p * x + rv_set(1.0f / 40320.0f);
    p = p * x + rv_set(1.0f / 5040.0f);
    p = p * x + rv_set(1.0f / 720.0f);
    p = p * x + rv_set(1.0f / 120.0f);
    p = p * x + rv_set(1.0f / 24.0f);
    p = p * x + rv_set(1.0f / 6.0f);
    p = p * x + rv_set(0.5f);
    p = p * x * x + x;
    rnn_vf big = rv_exp(x) - rv_set(1.0f);
    rnn_vf ax = rv_sel(x < rv_set(0.0f), -x, x);
    return rv_sel(ax < rv_set(0.5f), p, big);
}

RNN_INLINE rnn_vf rv_sigmoid(rnn_vf x)
{
    return rv_set(1.0f) / (rv_set(1.0f) + rv_exp(-x));
}

RNN_INLINE rnn_vf rv_tanh(rnn_vf x)
{
    rnn_vi neg = x < rv_set(0.0f);
    rnn_vf ax = rv_sel(neg, -x, x);
    /* |x| >= 0.55: 1 - 2/(e^(2|x|) + 1) */
    rnn_vf big = rv_set(1.0f) - rv_set(2.0f) / (rv_exp(ax + ax) + rv_set(1.0f));
    /* |x| < 0.55: odd Taylor series to x^15 */
    rnn_vf x2 = ax * ax;
    rnn_vf p = rv_set(-929569.0f / 638512875.0f);
    p = p * x2 + rv_set(21844.0f / 6081075.0f);
    p = p * x2 + rv_set(-1382.0f / 155925.0f);
    p = p * x2 + rv_set(62.0f / 2835.0f);
    p = p * x2 + rv_set(-17.0f / 315.0f);
    p = p * x2 + rv_set(2.0f / 15.0f);
    p = p * x2 + rv_set(-1.0f / 3.0f);
    p = ax + ax * x2 * p;
    rnn_vf t = rv_sel(ax < rv_set(0.55f), p, big);
    t = rv_sel(neg, -t, t);
    /* NaN fails both comparisons above and would come out as 1 - 2/NaN =
     * NaN already; keep it explicit anyway. */
    return rv_sel(x != x, x, t);
}

RNN_INLINE rnn_vf rv_act(const struct axle_rnn_act *a, rnn_vf x)
{
    const rnn_vf zero = rv_set(0.0f);

    switch (a->kind) {
    case AXLE_RNN_ACT_RELU:
        return rv_max(x, zero);
    case AXLE_RNN_ACT_TANH:
        return rv_tanh(x);
    case AXLE_RNN_ACT_SIGMOID:
        return rv_sigmoid(x);
    case AXLE_RNN_ACT_AFFINE:
        return rv_set(a->alpha) * x + rv_set(a->beta);
    case AXLE_RNN_ACT_LEAKY_RELU:
        return rv_sel(x < zero, rv_set(a->alpha) * x, x);
    case AXLE_RNN_ACT_THRESHOLDED_RELU:
        return rv_sel(x < rv_set(a->alpha), zero, x);
    case AXLE_RNN_ACT_SCALED_TANH:
        return rv_set(a->alpha) * rv_tanh(rv_set(a->beta) * x);
    case AXLE_RNN_ACT_HARD_SIGMOID:
        return rv_max(rv_min(rv_set(a->alpha) * x + rv_set(a->beta),
                             rv_set(1.0f)), zero);
    case AXLE_RNN_ACT_ELU:
        return rv_sel(x < zero, rv_set(a->alpha) * rv_expm1(x), x);
    case AXLE_RNN_ACT_SOFTSIGN: {
        rnn_vf ax = rv_sel(x < zero, -x, x);
        return x / (rv_set(1.0f) + ax);
    }
    case AXLE_RNN_ACT_SOFTPLUS: {
        /* Rare: lane by lane with libm, in the stable form
         * max(x, 0) + log1p(e^-|x|). */
        float v[RNN_VL];
        memcpy(v, &x, sizeof(v));
        for (int i = 0; i < RNN_VL; i++)
            v[i] = (v[i] > 0.0f ? v[i] : 0.0f) + log1pf(expf(-fabsf(v[i])));
        memcpy(&x, v, sizeof(v));
        return x;
    }
    }
    return x;
}

RNN_INLINE rnn_vf rv_clip(rnn_vf x, float c)
{
    return rv_max(rv_min(x, rv_set(c)), rv_set(-c));
}

/* ---- gate kernels -------------------------------------------------------- */

/* The *_impl bodies take the activations and whether clip is set as
 * parameters: the wrappers below call them once with ONNX's defaults as
 * constants (the activation switch and the clip fold away) and once with
 * the node's values. */
#define RNN_CLIP(v, c) (clipped ? rv_clip((v), (c)) : (v))

/* ONNX LSTM: i = f(Xi + Hi + Pi.C), f = f(Xf + Hf + Pf.C) (or 1 - i with
 * input_forget), c~ = g(Xc + Hc), C' = f.C + i.c~, o = f(Xo + Ho + Po.C'),
 * H' = o.h(C'). Gate order in W/R/B is i, o, f, c. clip bounds every
 * activation's input, C' included where it enters h (as onnxruntime does);
 * the stored cell state is not clipped. */
RNN_INLINE void rnn_lstm_impl(const struct axle_rnn_step *s,
                              const struct axle_rnn_act *fa,
                              const struct axle_rnn_act *ga,
                              const struct axle_rnn_act *ha, bool clipped)
{
    const int64_t H = s->hidden;
    const float clip = s->clip;
    const rnn_vf one = rv_set(1.0f);

    for (int64_t b = 0; b < s->batch; b++) {
        float *y = s->y != NULL ? s->y + b * s->y_bs : NULL;
        if (!s->active[b]) {
            if (y != NULL)
                memset(y, 0, (size_t)H * sizeof(float));
            continue;
        }
        const float *gi = s->g + b * s->ldg, *go = gi + H, *gf = gi + 2 * H,
                    *gc = gi + 3 * H;
        const float *xi = s->xp + b * s->xp_bs, *xo = xi + H, *xf = xi + 2 * H,
                    *xc = xi + 3 * H;
        float *cr = s->c + b * H, *hr = s->h + b * H;
        for (int64_t j = 0; j < H; j += RNN_VL) {
            int64_t n = H - j;
            rnn_vf cp = rv_load(cr + j, n);
            rnn_vf vi = rv_load(gi + j, n) + rv_load(xi + j, n);
            rnn_vf vc = rv_load(gc + j, n) + rv_load(xc + j, n);
            rnn_vf vo = rv_load(go + j, n) + rv_load(xo + j, n);
            rnn_vf vf;
            if (s->p != NULL)
                vi += rv_load(s->p + j, n) * cp;
            vi = rv_act(fa, RNN_CLIP(vi, clip));
            if (s->input_forget) {
                vf = one - vi;
            } else {
                vf = rv_load(gf + j, n) + rv_load(xf + j, n);
                if (s->p != NULL)
                    vf += rv_load(s->p + 2 * H + j, n) * cp;
                vf = rv_act(fa, RNN_CLIP(vf, clip));
            }
            vc = rv_act(ga, RNN_CLIP(vc, clip));
            rnn_vf cn = vf * cp + vi * vc;
            if (s->p != NULL)
                vo += rv_load(s->p + H + j, n) * cn;
            vo = rv_act(fa, RNN_CLIP(vo, clip));
            rnn_vf hn = vo * rv_act(ha, RNN_CLIP(cn, clip));
            rv_store(cr + j, cn, n);
            rv_store(hr + j, hn, n);
            if (y != NULL)
                rv_store(y + j, hn, n);
        }
    }
}

/* ONNX GRU, gate order z, r, h: z = f(Xz + Hz), r = f(Xr + Hr). Writes z
 * and r over their slots of g; with linear_before_reset = 0 also
 * rh = r . H, the left operand of the second recurrent product. */
RNN_INLINE void rnn_gru_zr_impl(const struct axle_rnn_step *s,
                                const struct axle_rnn_act *fa, bool clipped)
{
    const int64_t H = s->hidden;
    const float clip = s->clip;

    for (int64_t b = 0; b < s->batch; b++) {
        float *gz = s->g + b * s->ldg, *gr = gz + H;
        const float *xz = s->xp + b * s->xp_bs, *xr = xz + H;
        const float *hr = s->h + b * H;
        if (!s->active[b]) {
            if (!s->lbr) /* keep the unused GEMM rows finite */
                memset(s->rh + b * H, 0, (size_t)H * sizeof(float));
            continue;
        }
        for (int64_t j = 0; j < H; j += RNN_VL) {
            int64_t n = H - j;
            rnn_vf z = rv_load(gz + j, n) + rv_load(xz + j, n);
            rnn_vf r = rv_load(gr + j, n) + rv_load(xr + j, n);
            z = rv_act(fa, RNN_CLIP(z, clip));
            r = rv_act(fa, RNN_CLIP(r, clip));
            rv_store(gz + j, z, n);
            if (s->lbr)
                rv_store(gr + j, r, n);
            else
                rv_store(s->rh + b * H + j, r * rv_load(hr + j, n), n);
        }
    }
}

/* h~ = g(Xh + (r.H)*Rh^T + Rbh + Wbh)          (linear_before_reset = 0)
 * h~ = g(Xh + r.(H*Rh^T + Rbh) + Wbh)          (linear_before_reset != 0)
 * H' = (1 - z).h~ + z.H                                                  */
RNN_INLINE void rnn_gru_out_impl(const struct axle_rnn_step *s,
                                 const struct axle_rnn_act *ga, bool clipped)
{
    const int64_t H = s->hidden;
    const float clip = s->clip;
    const rnn_vf one = rv_set(1.0f);

    for (int64_t b = 0; b < s->batch; b++) {
        float *y = s->y != NULL ? s->y + b * s->y_bs : NULL;
        if (!s->active[b]) {
            if (y != NULL)
                memset(y, 0, (size_t)H * sizeof(float));
            continue;
        }
        const float *gz = s->g + b * s->ldg, *gr = gz + H, *gh = gz + 2 * H;
        const float *xh = s->xp + b * s->xp_bs + 2 * H;
        float *hr = s->h + b * H;
        for (int64_t j = 0; j < H; j += RNN_VL) {
            int64_t n = H - j;
            rnn_vf v;
            if (s->lbr) {
                rnn_vf lin = rv_load(gh + j, n);
                if (s->rbh != NULL)
                    lin += rv_load(s->rbh + j, n);
                v = rv_load(xh + j, n) + rv_load(gr + j, n) * lin;
            } else {
                v = rv_load(s->g2 + b * H + j, n) + rv_load(xh + j, n);
            }
            v = rv_act(ga, RNN_CLIP(v, clip));
            rnn_vf z = rv_load(gz + j, n);
            rnn_vf hn = (one - z) * v + z * rv_load(hr + j, n);
            rv_store(hr + j, hn, n);
            if (y != NULL)
                rv_store(y + j, hn, n);
        }
    }
}

/* ONNX RNN: H' = f(Xi + H*Ri^T + Wbi + Rbi). */
RNN_INLINE void rnn_rnn_impl(const struct axle_rnn_step *s,
                             const struct axle_rnn_act *fa, bool clipped)
{
    const int64_t H = s->hidden;
    const float clip = s->clip;

    for (int64_t b = 0; b < s->batch; b++) {
        float *y = s->y != NULL ? s->y + b * s->y_bs : NULL;
        if (!s->active[b]) {
            if (y != NULL)
                memset(y, 0, (size_t)H * sizeof(float));
            continue;
        }
        const float *gi = s->g + b * s->ldg;
        const float *xi = s->xp + b * s->xp_bs;
        float *hr = s->h + b * H;
        for (int64_t j = 0; j < H; j += RNN_VL) {
            int64_t n = H - j;
            rnn_vf v = rv_load(gi + j, n) + rv_load(xi + j, n);
            v = rv_act(fa, RNN_CLIP(v, clip));
            rv_store(hr + j, v, n);
            if (y != NULL)
                rv_store(y + j, v, n);
        }
    }
}

#define RNN_SIGMOID (&(const struct axle_rnn_act){AXLE_RNN_ACT_SIGMOID, 0, 0})
#define RNN_TANH (&(const struct axle_rnn_act){AXLE_RNN_ACT_TANH, 0, 0})

RNN_INLINE bool rnn_is(const struct axle_rnn_act *a, enum axle_rnn_act_kind k)
{
    return a->kind == k;
}

/* Defines `const struct axle_rnn_kernels NAME` from the code above, compiled
 * for the including file's ISA. */
#define AXLE_RNN_DEFINE_KERNELS(NAME)                                        \
    static void NAME##_lstm(const struct axle_rnn_step *s)                   \
    {                                                                        \
        if (rnn_is(&s->f, AXLE_RNN_ACT_SIGMOID) &&                           \
            rnn_is(&s->g_act, AXLE_RNN_ACT_TANH) &&                          \
            rnn_is(&s->h_act, AXLE_RNN_ACT_TANH) && isinf(s->clip))          \
            rnn_lstm_impl(s, RNN_SIGMOID, RNN_TANH, RNN_TANH,                \
                          false);                                            \
        else                                                                 \
            rnn_lstm_impl(s, &s->f, &s->g_act, &s->h_act, true);             \
    }                                                                        \
    static void NAME##_gru_zr(const struct axle_rnn_step *s)                 \
    {                                                                        \
        if (rnn_is(&s->f, AXLE_RNN_ACT_SIGMOID) && isinf(s->clip))           \
            rnn_gru_zr_impl(s, RNN_SIGMOID, false);                          \
        else                                                                 \
            rnn_gru_zr_impl(s, &s->f, true);                                 \
    }                                                                        \
    static void NAME##_gru_out(const struct axle_rnn_step *s)                \
    {                                                                        \
        if (rnn_is(&s->g_act, AXLE_RNN_ACT_TANH) && isinf(s->clip))          \
            rnn_gru_out_impl(s, RNN_TANH, false);                            \
        else                                                                 \
            rnn_gru_out_impl(s, &s->g_act, true);                            \
    }                                                                        \
    static void NAME##_rnn(const struct axle_rnn_step *s)                    \
    {                                                                        \
        if (rnn_is(&s->f, AXLE_RNN_ACT_TANH) && isinf(s->clip))              \
            rnn_rnn_impl(s, RNN_TANH, false);                                \
        else                                                                 \
            rnn_rnn_impl(s, &s->f, true);                                    \
    }                                                                        \
    const struct axle_rnn_kernels NAME = {                                   \
        .lstm = NAME##_lstm,                                                 \
        .gru_zr = NAME##_gru_zr,                                             \
        .gru_out = NAME##_gru_out,                                           \
        .rnn = NAME##_rnn,                                                   \
    }

#endif
