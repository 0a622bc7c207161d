/*
 * rnn.c - ONNX LSTM, GRU and RNN (opsets 1-14): every attribute
 * (direction forward/reverse/bidirectional, activations with alpha/beta,
 * clip, hidden_size, input_forget, linear_before_reset, layout) and every
 * optional input (B, sequence_lens, initial_h, initial_c, P) and output
 * (Y, Y_h, Y_c).
 *
 * Per direction, the input projection X*W^T (+ Wb + Rb) of all time steps
 * is one GEMM into a scratch buffer (in chunks of time steps when the
 * sequence is very long); each step then does the recurrent product
 * H*R^T as a small GEMM (M = batch) and the gate math in one vectorised
 * pass (rnn_internal.h, compiled per ISA in rnn_avx2.c / rnn_avx512.c).
 * When W and R are constants, prepare packs them for axle_gemm_packed.
 * The two directions of a bidirectional layer run on the pool in parallel.
 *
 * sequence_lens: steps at or past a batch row's length produce zeros in Y;
 * a reverse direction starts at the row's last valid step; Y_h / Y_c hold
 * the state after the last valid step and are zero for a length of 0 (the
 * onnxruntime convention). Float64 / float16 / bfloat16 are converted to
 * float32, computed, and converted back.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/gemm.h"
#include "kernels/rnn_internal.h"

AXLE_RNN_DEFINE_KERNELS(axle_rnn_kernels_generic);

/* Keep one direction's X projection under this many floats (32 MiB). */
#define XP_MAX_FLOATS ((int64_t)8 << 20)
/* Below this many multiply-adds a bidirectional layer stays on one thread. */
#define PAR_MIN_WORK ((int64_t)1 << 16)
#define HIDDEN_MAX ((int64_t)1 << 24)

enum rnn_kind { RNN_LSTM, RNN_GRU, RNN_SIMPLE };

enum { IN_X, IN_W, IN_R, IN_B, IN_LENS, IN_H0, IN_C0, IN_P, IN_COUNT };

struct rnn_cfg {
    enum rnn_kind kind;
    const char *op;
    int n_gates; /* 4 LSTM (i o f c), 3 GRU (z r h), 1 RNN */
    int nd;      /* number of directions */
    bool reverse;
    int64_t hidden; /* -1: attribute absent */
    float clip;     /* +inf: absent */
    int input_forget, lbr, layout;
    struct axle_rnn_act act[2][3]; /* [direction][f, g, h] */
};

struct rnn_dims {
    int64_t seq, batch, isz, hidden;
};

struct rnn_state {
    struct rnn_cfg cfg;
    int64_t isz, hidden;
    /* Per direction: W^T, R^T (GRU with linear_before_reset = 0: the z,r
     * rows of R only) and, for that GRU, the h rows of R. */
    struct axle_packed_w *w[2], *r[2], *rh[2];
};

/* ---- attributes ----------------------------------------------------------- */

static const struct {
    const char *name;
    enum axle_rnn_act_kind kind;
    bool uses_alpha, uses_beta;
    float alpha, beta; /* the defaults of the ONNX operators of that name */
} act_table[] = {
    {"Relu", AXLE_RNN_ACT_RELU, false, false, 0.0f, 0.0f},
    {"Tanh", AXLE_RNN_ACT_TANH, false, false, 0.0f, 0.0f},
    {"Sigmoid", AXLE_RNN_ACT_SIGMOID, false, false, 0.0f, 0.0f},
    {"Affine", AXLE_RNN_ACT_AFFINE, true, true, 1.0f, 0.0f},
    {"LeakyRelu", AXLE_RNN_ACT_LEAKY_RELU, true, false, 0.01f, 0.0f},
    {"ThresholdedRelu", AXLE_RNN_ACT_THRESHOLDED_RELU, true, false, 1.0f,
     0.0f},
    {"ScaledTanh", AXLE_RNN_ACT_SCALED_TANH, true, true, 1.0f, 1.0f},
    {"HardSigmoid", AXLE_RNN_ACT_HARD_SIGMOID, true, true, 0.2f, 0.5f},
    {"Elu", AXLE_RNN_ACT_ELU, true, false, 1.0f, 0.0f},
    {"Softsign", AXLE_RNN_ACT_SOFTSIGN, false, false, 0.0f, 0.0f},
    {"Softplus", AXLE_RNN_ACT_SOFTPLUS, false, false, 0.0f, 0.0f},
};

static int n_acts(enum rnn_kind kind)
{
    return kind == RNN_LSTM ? 3 : kind == RNN_GRU ? 2 : 1;
}

static enum axle_status read_acts(struct axle_kctx *k, struct rnn_cfg *c)
{
    const struct axle_attr *a = axle_node_attr(k->node, "activations");
    static const enum axle_rnn_act_kind defaults[3][3] = {
        [RNN_LSTM] = {AXLE_RNN_ACT_SIGMOID, AXLE_RNN_ACT_TANH,
                      AXLE_RNN_ACT_TANH},
        [RNN_GRU] = {AXLE_RNN_ACT_SIGMOID, AXLE_RNN_ACT_TANH},
        [RNN_SIMPLE] = {AXLE_RNN_ACT_TANH},
    };
    const float *alphas, *betas;
    int na = n_acts(c->kind), n_alpha, n_beta, ia = 0, ib = 0, n;

    for (int d = 0; d < 2; d++)
        for (int i = 0; i < na; i++)
            c->act[d][i] = (struct axle_rnn_act){defaults[c->kind][i], 0, 0};
    if (a == NULL)
        return AXLE_OK;
    if (a->type != AXLE_ATTR_STRINGS)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: activations must be a list of strings",
                            c->op);
    n = a->n;
    /* One list per direction; a single list for a bidirectional layer is
     * used for both (onnxruntime accepts that too). */
    if (n != na * c->nd && n != na)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %d activations, expected %d", c->op, n,
                            na * c->nd);
    alphas = axle_node_attr_floats(k->node, "activation_alpha", &n_alpha);
    betas = axle_node_attr_floats(k->node, "activation_beta", &n_beta);
    /* activation_alpha/beta are consumed in order by the functions that
     * take a parameter; missing ones take the operator's default. */
    for (int i = 0; i < n; i++) {
        const char *name = a->strings[i];
        size_t t;
        struct axle_rnn_act *dst = &c->act[i / na][i % na];
        for (t = 0; t < sizeof(act_table) / sizeof(act_table[0]); t++)
            if (name != NULL && strcasecmp(name, act_table[t].name) == 0)
                break;
        if (t == sizeof(act_table) / sizeof(act_table[0]))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: unknown activation '%.40s'", c->op,
                                name != NULL ? name : "");
        dst->kind = act_table[t].kind;
        dst->alpha = act_table[t].alpha;
        dst->beta = act_table[t].beta;
        if (act_table[t].uses_alpha && alphas != NULL && ia < n_alpha)
            dst->alpha = alphas[ia++];
        if (act_table[t].uses_beta && betas != NULL && ib < n_beta)
            dst->beta = betas[ib++];
    }
    if (n == na)
        for (int i = 0; i < na; i++)
            c->act[1][i] = c->act[0][i];
    return AXLE_OK;
}

static enum axle_status read_cfg(struct axle_kctx *k, enum rnn_kind kind,
                                 struct rnn_cfg *c)
{
    const struct axle_node *n = k->node;
    const char *dir = axle_node_attr_str(n, "direction", "forward");

    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->op = kind == RNN_LSTM ? "LSTM" : kind == RNN_GRU ? "GRU" : "RNN";
    c->n_gates = kind == RNN_LSTM ? 4 : kind == RNN_GRU ? 3 : 1;
    if (strcmp(dir, "forward") == 0) {
        c->nd = 1;
    } else if (strcmp(dir, "reverse") == 0) {
        c->nd = 1;
        c->reverse = true;
    } else if (strcmp(dir, "bidirectional") == 0) {
        c->nd = 2;
    } else {
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: direction '%.40s' is not forward, reverse "
                            "or bidirectional", c->op, dir);
    }
    c->hidden = -1;
    if (axle_node_attr(n, "hidden_size") != NULL) {
        c->hidden = axle_node_attr_int(n, "hidden_size", 0);
        if (c->hidden < 1 || c->hidden > HIDDEN_MAX)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: hidden_size %lld out of range", c->op,
                                (long long)c->hidden);
    }
    c->clip = INFINITY;
    if (axle_node_attr(n, "clip") != NULL) {
        c->clip = axle_node_attr_float(n, "clip", 0.0f);
        if (!(c->clip >= 0.0f))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: clip %g must be >= 0", c->op,
                                (double)c->clip);
    }
    if (kind == RNN_LSTM)
        c->input_forget = axle_node_attr_int(n, "input_forget", 0) != 0;
    if (kind == RNN_GRU)
        c->lbr = axle_node_attr_int(n, "linear_before_reset", 0) != 0;
    /* layout exists from opset 14; earlier models cannot carry it. */
    int64_t layout = axle_node_attr_int(n, "layout", 0);
    if (layout != 0 && layout != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: layout %lld is not 0 or 1", c->op,
                            (long long)layout);
    c->layout = (int)layout;
    return read_acts(k, c);
}

/* ---- shapes ------------------------------------------------------------- */

static bool dims_conflict(int64_t a, int64_t b)
{
    return a >= 0 && b >= 0 && a != b;
}

static bool float_dtype(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT64 ||
           dt == AXLE_DTYPE_FLOAT16 || dt == AXLE_DTYPE_BFLOAT16;
}

/* Checks an optional input against `rank` expected dims (-1 / symbolic in
 * `want` are not checked). */
static enum axle_status check_input(struct axle_kctx *k,
                                    const struct rnn_cfg *c, int idx,
                                    const char *what, enum axle_dtype dt,
                                    int rank, const int64_t *want)
{
    const struct axle_tensor *t = AXLE_IN(k, idx);

    if (t == NULL)
        return AXLE_OK;
    if (t->dtype != dt && t->dtype != AXLE_DTYPE_UNDEFINED &&
        !(idx == IN_LENS && t->dtype == AXLE_DTYPE_INT64))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %s has type %s, expected %s", c->op, what,
                            axle_dtype_name(t->dtype), axle_dtype_name(dt));
    if (t->rank < 0)
        return AXLE_OK;
    if (t->rank != rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %s has rank %d, expected %d", c->op, what,
                            t->rank, rank);
    for (int i = 0; i < rank; i++)
        if (dims_conflict(t->dims[i], want[i]))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: %s dim %d is %lld, expected %lld", c->op,
                                what, i, (long long)t->dims[i],
                                (long long)want[i]);
    return AXLE_OK;
}

static int64_t mul_known(int64_t a, int64_t b)
{
    return a >= 0 && b >= 0 ? a * b : -1;
}

/* Validates the inputs against each other and the attributes; fills dims
 * (unknown: -1, symbolic: the symbol). */
static enum axle_status check_shapes(struct axle_kctx *k,
                                     const struct rnn_cfg *c,
                                     struct rnn_dims *d)
{
    const struct axle_tensor *x = AXLE_IN(k, IN_X), *w = AXLE_IN(k, IN_W),
                             *r = AXLE_IN(k, IN_R);
    enum axle_status st;
    int64_t nd = c->nd, g = c->n_gates, gh;

    if (x == NULL || w == NULL || r == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: X, W and R are required", c->op);
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !float_dtype(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: X has type %s, expected a float type",
                            c->op, axle_dtype_name(x->dtype));
    d->seq = d->batch = d->isz = -1;
    if (x->rank >= 0) {
        if (x->rank != 3)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: X has rank %d, expected 3", c->op,
                                x->rank);
        d->seq = x->dims[c->layout ? 1 : 0];
        d->batch = x->dims[c->layout ? 0 : 1];
        d->isz = x->dims[2];
    }
    d->hidden = c->hidden;
    if (r->rank == 3 && d->hidden < 0 && r->dims[2] >= 0)
        d->hidden = r->dims[2];
    if (d->hidden < 0 && w->rank == 3 && w->dims[1] >= 0 &&
        w->dims[1] % g == 0)
        d->hidden = w->dims[1] / g;
    if (d->hidden > HIDDEN_MAX)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: hidden size %lld out of range", c->op,
                            (long long)d->hidden);
    gh = mul_known(g, d->hidden);
    {
        const int64_t ww[3] = {nd, gh, d->isz};
        const int64_t rw[3] = {nd, gh, d->hidden};
        const int64_t bw[2] = {nd, mul_known(2, gh)};
        const int64_t lw[1] = {d->batch};
        const int64_t hw0[3] = {nd, d->batch, d->hidden};
        const int64_t hw1[3] = {d->batch, nd, d->hidden};
        const int64_t pw[2] = {nd, mul_known(3, d->hidden)};
        enum axle_dtype dt = x->dtype;
        if (dt == AXLE_DTYPE_UNDEFINED)
            dt = w->dtype;
        if ((st = check_input(k, c, IN_W, "W", dt, 3, ww)) != AXLE_OK ||
            (st = check_input(k, c, IN_R, "R", dt, 3, rw)) != AXLE_OK ||
            (st = check_input(k, c, IN_B, "B", dt, 2, bw)) != AXLE_OK ||
            (st = check_input(k, c, IN_LENS, "sequence_lens",
                              AXLE_DTYPE_INT32, 1, lw)) != AXLE_OK ||
            (st = check_input(k, c, IN_H0, "initial_h", dt, 3,
                              c->layout ? hw1 : hw0)) != AXLE_OK)
            return st;
        if (c->kind == RNN_LSTM &&
            ((st = check_input(k, c, IN_C0, "initial_c", dt, 3,
                               c->layout ? hw1 : hw0)) != AXLE_OK ||
             (st = check_input(k, c, IN_P, "P", dt, 2, pw)) != AXLE_OK))
            return st;
    }
    if (d->isz < 0 && w->rank == 3)
        d->isz = w->dims[2];
    return AXLE_OK;
}

static void set_out(struct axle_kctx *k, int j, enum axle_dtype dt, int rank,
                    const int64_t *dims)
{
    struct axle_tensor *o = j < k->n_outputs ? k->out[j] : NULL;

    if (o == NULL)
        return;
    o->dtype = dt;
    o->rank = rank;
    for (int i = 0; i < rank; i++)
        o->dims[i] = dims[i];
}

static enum axle_status rnn_infer(struct axle_kctx *k, enum rnn_kind kind)
{
    struct rnn_cfg c;
    struct rnn_dims d;
    enum axle_status st;
    enum axle_dtype dt;

    if ((st = read_cfg(k, kind, &c)) != AXLE_OK ||
        (st = check_shapes(k, &c, &d)) != AXLE_OK)
        return st;
    if (kind != RNN_LSTM && k->n_outputs > 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %d outputs, at most 2", c.op, k->n_outputs);
    dt = k->in[IN_X]->dtype;
    if (dt == AXLE_DTYPE_UNDEFINED)
        dt = k->in[IN_W]->dtype;
    {
        const int64_t y0[4] = {d.seq, c.nd, d.batch, d.hidden};
        const int64_t y1[4] = {d.batch, d.seq, c.nd, d.hidden};
        const int64_t h0[3] = {c.nd, d.batch, d.hidden};
        const int64_t h1[3] = {d.batch, c.nd, d.hidden};
        set_out(k, 0, dt, 4, c.layout ? y1 : y0);
        set_out(k, 1, dt, 3, c.layout ? h1 : h0);
        set_out(k, 2, dt, 3, c.layout ? h1 : h0);
    }
    return AXLE_OK;
}

/* ---- prepare: pack constant weights -------------------------------------- */

static void rnn_release(void *state)
{
    struct rnn_state *s = state;

    if (s == NULL)
        return;
    for (int d = 0; d < 2; d++) {
        axle_gemm_packed_free(s->w[d]);
        axle_gemm_packed_free(s->r[d]);
        axle_gemm_packed_free(s->rh[d]);
    }
    axle_free(s);
}

static bool const_f32_rank3(const struct axle_tensor *t)
{
    return t != NULL && t->data != NULL && t->dtype == AXLE_DTYPE_FLOAT32 &&
           t->rank == 3 && axle_shape_known(t);
}

static enum axle_status rnn_prepare(struct axle_kctx *k, void **state,
                                    enum rnn_kind kind)
{
    const struct axle_tensor *w = AXLE_IN(k, IN_W), *r = AXLE_IN(k, IN_R);
    struct rnn_state *s;
    struct rnn_dims d;
    enum axle_status st;
    int64_t gh, H, I;

    *state = NULL;
    s = axle_try_calloc(1, sizeof(*s));
    if (s == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "RNN: out of memory");
    if ((st = read_cfg(k, kind, &s->cfg)) != AXLE_OK ||
        (st = check_shapes(k, &s->cfg, &d)) != AXLE_OK)
        goto fail;
    if (!const_f32_rank3(w) || !const_f32_rank3(r) || d.hidden < 1 ||
        w->dims[0] != s->cfg.nd || r->dims[0] != s->cfg.nd)
        goto done;
    H = d.hidden;
    I = w->dims[2];
    gh = s->cfg.n_gates * H;
    if (w->dims[1] != gh || r->dims[1] != gh || r->dims[2] != H)
        goto done;
    s->isz = I;
    s->hidden = H;
    for (int dir = 0; dir < s->cfg.nd; dir++) {
        const float *wd = (const float *)w->data + dir * gh * I;
        const float *rd = (const float *)r->data + dir * gh * H;
        bool split = kind == RNN_GRU && !s->cfg.lbr;
        if ((st = axle_gemm_pack(true, I, gh, wd, I, &s->w[dir], k->err)) !=
                AXLE_OK ||
            (st = axle_gemm_pack(true, H, split ? 2 * H : gh, rd, H,
                                 &s->r[dir], k->err)) != AXLE_OK)
            goto fail;
        if (split && (st = axle_gemm_pack(true, H, H, rd + 2 * H * H, H,
                                          &s->rh[dir], k->err)) != AXLE_OK)
            goto fail;
    }
done:
    *state = s;
    return AXLE_OK;
fail:
    rnn_release(s);
    return st;
}

/* ---- run ---------------------------------------------------------------- */

struct rnn_dir_buf {
    float *g, *g2, *rh, *h, *c, *xp, *bias;
    unsigned char *active;
};

struct rnn_job {
    const struct rnn_cfg *cfg;
    const struct rnn_state *st; /* packed weights or NULL */
    const struct axle_rnn_kernels *kern;
    struct axle_pool *pool;
    int64_t S, N, I, H, max_len, chunk;
    const float *x, *w, *r, *b, *p, *h0, *c0;
    const int64_t *lens;
    float *y, *yh, *yc;
    struct rnn_dir_buf buf[2];
};

static const struct axle_rnn_kernels *pick_kernels(void)
{
    switch (axle_cpu_get()->isa) {
    case AXLE_ISA_AVX512:
        return &axle_rnn_kernels_avx512;
    case AXLE_ISA_AVX2:
        return &axle_rnn_kernels_avx2;
    default:
        return &axle_rnn_kernels_generic;
    }
}

/* C[M, n] = A[M, K] * Wrows^T (+ ep), Wrows = n rows of K floats. */
static void mul_wt(struct axle_pool *pool, const struct axle_packed_w *pw,
                   int64_t M, int64_t n, int64_t K, const float *A,
                   int64_t lda, const float *wrows, float *C, int64_t ldc,
                   const struct axle_epilogue *ep)
{
    if (pw != NULL)
        axle_gemm_packed(pool, M, A, lda, pw, C, ldc, ep);
    else
        axle_sgemm(pool, false, true, M, n, K, 1.0f, A, lda, wrows, K, 0.0f,
                   C, ldc, ep);
}

/* X projection of steps [t0, t1) into buf->xp: row (t, b) lands at
 * ((t - t0) * N + b) for layout 0 and (b * (t1 - t0) + t - t0) for 1. */
static void project(const struct rnn_job *j, int d, int64_t t0, int64_t t1,
                    struct axle_pool *pool)
{
    const struct rnn_cfg *c = j->cfg;
    const struct rnn_dir_buf *bf = &j->buf[d];
    const struct axle_packed_w *pw = j->st != NULL ? j->st->w[d] : NULL;
    int64_t gh = c->n_gates * j->H, n = t1 - t0, I = j->I;
    const float *wd = j->w + d * gh * I;
    struct axle_epilogue ep = {.bias = bf->bias, .act = AXLE_ACT_NONE};

    if (c->layout == 0 || n == j->S) {
        const float *a = c->layout == 0 ? j->x + t0 * j->N * I : j->x;
        mul_wt(pool, pw, n * j->N, gh, I, a, I, wd, bf->xp, gh, &ep);
        return;
    }
    for (int64_t b = 0; b < j->N; b++)
        mul_wt(pool, pw, n, gh, I, j->x + (b * j->S + t0) * I, I, wd,
               bf->xp + b * n * gh, gh, &ep);
}

static void run_direction(const struct rnn_job *j, int d,
                          struct axle_pool *pool)
{
    const struct rnn_cfg *c = j->cfg;
    const struct rnn_dir_buf *bf = &j->buf[d];
    const int64_t H = j->H, N = j->N, S = j->S, nd = c->nd;
    const int64_t gh = c->n_gates * H;
    const bool reverse = c->reverse || d == 1;
    const bool gru_split = c->kind == RNN_GRU && !c->lbr;
    const int64_t ldg = gru_split ? 2 * H : gh;
    const float *rd = j->r + d * gh * H;
    const struct axle_packed_w *pr = j->st != NULL ? j->st->r[d] : NULL;
    const struct axle_packed_w *prh = j->st != NULL ? j->st->rh[d] : NULL;
    const float *bd = j->b != NULL ? j->b + d * 2 * gh : NULL;
    struct axle_rnn_step s;

    /* Wb + Rb folded into the projection; GRU with linear_before_reset
     * keeps Rb of the h gate apart (it sits inside r . (...)). */
    for (int64_t i = 0; i < gh; i++) {
        float v = 0.0f;
        if (bd != NULL) {
            v = bd[i];
            if (!(c->kind == RNN_GRU && c->lbr && i >= 2 * H))
                v += bd[gh + i];
        }
        bf->bias[i] = v;
    }
    for (int64_t b = 0; b < N; b++) {
        int64_t off = c->layout ? (b * nd + d) * H : (d * N + b) * H;
        if (j->h0 != NULL)
            memcpy(bf->h + b * H, j->h0 + off, (size_t)H * sizeof(float));
        else
            memset(bf->h + b * H, 0, (size_t)H * sizeof(float));
        if (c->kind == RNN_LSTM) {
            if (j->c0 != NULL)
                memcpy(bf->c + b * H, j->c0 + off, (size_t)H * sizeof(float));
            else
                memset(bf->c + b * H, 0, (size_t)H * sizeof(float));
        }
    }

    s = (struct axle_rnn_step){
        .batch = N, .hidden = H, .g = bf->g, .ldg = ldg, .g2 = bf->g2,
        .p = c->kind == RNN_LSTM && j->p != NULL ? j->p + d * 3 * H : NULL,
        .rbh = c->kind == RNN_GRU && c->lbr && bd != NULL
                   ? bd + gh + 2 * H : NULL,
        .h = bf->h, .c = bf->c, .rh = bf->rh, .active = bf->active,
        .clip = c->clip, .input_forget = c->input_forget, .lbr = c->lbr,
        .f = c->act[d][0], .g_act = c->act[d][1], .h_act = c->act[d][2],
    };

    for (int64_t k = 0; k < j->max_len; k += j->chunk) {
        /* Chunk [t0, t1) of the steps, walked in this direction's order. */
        int64_t t0, t1, n;
        if (!reverse) {
            t0 = k;
            t1 = k + j->chunk < j->max_len ? k + j->chunk : j->max_len;
        } else {
            t1 = j->max_len - k;
            t0 = t1 - j->chunk > 0 ? t1 - j->chunk : 0;
        }
        n = t1 - t0;
        project(j, d, t0, t1, pool);
        for (int64_t i = 0; i < n; i++) {
            int64_t t = reverse ? t1 - 1 - i : t0 + i;
            for (int64_t b = 0; b < N; b++)
                bf->active[b] = t < j->lens[b];
            if (c->layout == 0) {
                s.xp = bf->xp + (t - t0) * N * gh;
                s.xp_bs = gh;
            } else {
                s.xp = bf->xp + (t - t0) * gh;
                s.xp_bs = n * gh;
            }
            if (j->y != NULL) {
                s.y = c->layout == 0 ? j->y + (t * nd + d) * N * H
                                     : j->y + (t * nd + d) * H;
                s.y_bs = c->layout == 0 ? H : S * nd * H;
            }
            mul_wt(pool, pr, N, ldg, H, bf->h, H, rd, bf->g, ldg, NULL);
            switch (c->kind) {
            case RNN_LSTM:
                j->kern->lstm(&s);
                break;
            case RNN_SIMPLE:
                j->kern->rnn(&s);
                break;
            case RNN_GRU:
                j->kern->gru_zr(&s);
                if (gru_split)
                    mul_wt(pool, prh, N, H, H, bf->rh, H, rd + 2 * H * H,
                           bf->g2, H, NULL);
                j->kern->gru_out(&s);
                break;
            }
        }
    }
    /* Steps no batch row reaches. */
    if (j->y != NULL)
        for (int64_t t = j->max_len; t < S; t++)
            for (int64_t b = 0; b < N; b++) {
                float *y = c->layout == 0 ? j->y + ((t * nd + d) * N + b) * H
                                          : j->y + ((b * S + t) * nd + d) * H;
                memset(y, 0, (size_t)H * sizeof(float));
            }
    for (int64_t b = 0; b < N; b++) {
        int64_t off = c->layout ? (b * nd + d) * H : (d * N + b) * H;
        bool empty = j->lens[b] == 0;
        if (j->yh != NULL) {
            if (empty)
                memset(j->yh + off, 0, (size_t)H * sizeof(float));
            else
                memcpy(j->yh + off, bf->h + b * H, (size_t)H * sizeof(float));
        }
        if (j->yc != NULL) {
            if (empty)
                memset(j->yc + off, 0, (size_t)H * sizeof(float));
            else
                memcpy(j->yc + off, bf->c + b * H, (size_t)H * sizeof(float));
        }
    }
}

static void direction_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct rnn_job *j = ctx;

    for (int64_t d = begin; d < end; d++)
        run_direction(j, (int)d, j->pool);
}

/* Scratch carving: 64-byte aligned pieces out of one block. */
struct carve {
    size_t off;
    bool overflow;
};

static size_t carve_add(struct carve *cv, int64_t count, size_t elem)
{
    size_t bytes, at = cv->off;

    if (count < 0 || axle_size_mul((size_t)count, elem, &bytes) ||
        axle_size_add(bytes, 63, &bytes) ||
        axle_size_add(cv->off, bytes & ~(size_t)63, &cv->off))
        cv->overflow = true;
    return at;
}

static void to_f32(const struct axle_tensor *t, float *dst, int64_t n)
{
    switch (t->dtype) {
    case AXLE_DTYPE_FLOAT64:
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)((const double *)t->data)[i];
        break;
    case AXLE_DTYPE_FLOAT16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = axle_f16_to_f32(((const uint16_t *)t->data)[i]);
        break;
    case AXLE_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = axle_bf16_to_f32(((const uint16_t *)t->data)[i]);
        break;
    default:
        memcpy(dst, t->data, (size_t)n * sizeof(float));
        break;
    }
}

static void from_f32(struct axle_tensor *t, const float *src, int64_t n)
{
    switch (t->dtype) {
    case AXLE_DTYPE_FLOAT64:
        for (int64_t i = 0; i < n; i++)
            ((double *)t->data)[i] = src[i];
        break;
    case AXLE_DTYPE_FLOAT16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)t->data)[i] = axle_f32_to_f16(src[i]);
        break;
    case AXLE_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)t->data)[i] = axle_f32_to_bf16(src[i]);
        break;
    default:
        break;
    }
}

static enum axle_status rnn_run(struct axle_kctx *k, enum rnn_kind kind)
{
    const struct rnn_state *st = k->state;
    struct rnn_cfg cbuf;
    const struct rnn_cfg *c;
    struct rnn_dims dm;
    struct rnn_job j;
    enum axle_status status;
    enum axle_dtype dt = k->in[IN_X]->dtype;
    bool conv = dt != AXLE_DTYPE_FLOAT32;
    struct carve cv = {0, false};
    /* Offsets into scratch: converted inputs, outputs, per-direction. */
    size_t o_in[IN_COUNT] = {0}, o_out[3] = {0}, o_lens, o_dir[2][8];
    int64_t n_in[IN_COUNT] = {0}, n_out[3] = {0};
    struct axle_tensor *outs[3];
    unsigned char *base;

    if (st != NULL) {
        c = &st->cfg;
    } else {
        if ((status = read_cfg(k, kind, &cbuf)) != AXLE_OK)
            return status;
        c = &cbuf;
    }
    if ((status = check_shapes(k, c, &dm)) != AXLE_OK)
        return status;
    if (dm.seq < 0 || dm.batch < 0 || dm.isz < 0 || dm.hidden < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: cannot determine the shapes at run time",
                            c->op);
    memset(&j, 0, sizeof(j));
    j.cfg = c;
    j.kern = pick_kernels();
    j.pool = k->pool;
    j.S = dm.seq;
    j.N = dm.batch;
    j.I = dm.isz;
    j.H = dm.hidden;
    for (int i = 0; i < 3; i++)
        outs[i] = i < k->n_outputs && (kind == RNN_LSTM || i < 2)
                      ? k->out[i] : NULL;
    if (st != NULL && st->w[0] != NULL && st->isz == j.I && st->hidden == j.H)
        j.st = st;

    const int64_t H = j.H, N = j.N, gh = c->n_gates * H;
    const bool gru_split = kind == RNN_GRU && !c->lbr;
    j.chunk = j.S;
    if (N > 0 && gh > 0 && j.S > 0) {
        int64_t per_step = N * gh;
        j.chunk = XP_MAX_FLOATS / per_step;
        if (j.chunk < 1)
            j.chunk = 1;
        if (j.chunk > j.S)
            j.chunk = j.S;
    }

    /* Scratch layout. */
    if (conv) {
        for (int i = 0; i < IN_COUNT; i++) {
            const struct axle_tensor *t = AXLE_IN(k, i);
            if (t == NULL || i == IN_LENS || (i >= IN_C0 && kind != RNN_LSTM))
                continue;
            n_in[i] = axle_tensor_numel(t);
            o_in[i] = carve_add(&cv, n_in[i], sizeof(float));
        }
        for (int i = 0; i < 3; i++)
            if (outs[i] != NULL) {
                n_out[i] = axle_tensor_numel(outs[i]);
                o_out[i] = carve_add(&cv, n_out[i], sizeof(float));
            }
    }
    o_lens = carve_add(&cv, N, sizeof(int64_t));
    for (int d = 0; d < c->nd; d++) {
        o_dir[d][0] = carve_add(&cv, N * (gru_split ? 2 * H : gh),
                                sizeof(float));               /* g */
        o_dir[d][1] = carve_add(&cv, gru_split ? N * H : 0,
                                sizeof(float));               /* g2 */
        o_dir[d][2] = carve_add(&cv, gru_split ? N * H : 0,
                                sizeof(float));               /* rh */
        o_dir[d][3] = carve_add(&cv, N * H, sizeof(float));   /* h */
        o_dir[d][4] = carve_add(&cv, kind == RNN_LSTM ? N * H : 0,
                                sizeof(float));               /* c */
        o_dir[d][5] = carve_add(&cv, j.chunk * N * gh, sizeof(float));
        o_dir[d][6] = carve_add(&cv, gh, sizeof(float));      /* bias */
        o_dir[d][7] = carve_add(&cv, N, 1);                   /* active */
    }
    if (cv.overflow)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: scratch size overflows", c->op);
    base = axle_kctx_scratch(k, cv.off > 0 ? cv.off : 64);
    if (base == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: cannot allocate %zu bytes of scratch", c->op,
                            cv.off);

    /* Inputs as float32. */
    {
        const float **dst[IN_COUNT] = {&j.x, &j.w, &j.r, &j.b, NULL,
                                       &j.h0, &j.c0, &j.p};
        for (int i = 0; i < IN_COUNT; i++) {
            const struct axle_tensor *t = AXLE_IN(k, i);
            if (dst[i] == NULL || t == NULL ||
                (i >= IN_C0 && kind != RNN_LSTM))
                continue;
            if (conv) {
                float *f = (float *)(base + o_in[i]);
                to_f32(t, f, n_in[i]);
                *dst[i] = f;
            } else {
                *dst[i] = t->data;
            }
        }
    }
    for (int i = 0; i < 3; i++) {
        float **dst = i == 0 ? &j.y : i == 1 ? &j.yh : &j.yc;
        if (outs[i] != NULL)
            *dst = conv ? (float *)(base + o_out[i]) : outs[i]->data;
    }
    {
        int64_t *lens = (int64_t *)(base + o_lens);
        const struct axle_tensor *lt = AXLE_IN(k, IN_LENS);
        j.max_len = 0;
        for (int64_t b = 0; b < N; b++) {
            int64_t v = j.S;
            if (lt != NULL)
                v = lt->dtype == AXLE_DTYPE_INT64
                        ? ((const int64_t *)lt->data)[b]
                        : ((const int32_t *)lt->data)[b];
            if (v < 0 || v > j.S)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: sequence_lens[%lld] = %lld is "
                                    "outside [0, %lld]", c->op, (long long)b,
                                    (long long)v, (long long)j.S);
            lens[b] = v;
            if (v > j.max_len)
                j.max_len = v;
        }
        j.lens = lens;
    }
    for (int d = 0; d < c->nd; d++) {
        struct rnn_dir_buf *bf = &j.buf[d];
        bf->g = (float *)(base + o_dir[d][0]);
        bf->g2 = (float *)(base + o_dir[d][1]);
        bf->rh = (float *)(base + o_dir[d][2]);
        bf->h = (float *)(base + o_dir[d][3]);
        bf->c = (float *)(base + o_dir[d][4]);
        bf->xp = (float *)(base + o_dir[d][5]);
        bf->bias = (float *)(base + o_dir[d][6]);
        bf->active = base + o_dir[d][7];
    }

    if (N > 0 && H > 0) {
        double work = (double)j.S * (double)N * (double)gh *
                      (double)(j.I + H);
        if (c->nd == 2 && k->pool != NULL && work >= (double)PAR_MIN_WORK)
            axle_pool_parallel_for(k->pool, 2, 1, direction_task, &j);
        else
            for (int d = 0; d < c->nd; d++)
                run_direction(&j, d, k->pool);
    }
    if (conv)
        for (int i = 0; i < 3; i++)
            if (outs[i] != NULL)
                from_f32(outs[i], (const float *)(base + o_out[i]), n_out[i]);
    return AXLE_OK;
}

/* ---- op table ------------------------------------------------------------ */

static enum axle_status lstm_infer(struct axle_kctx *k)
{
    return rnn_infer(k, RNN_LSTM);
}
static enum axle_status gru_infer(struct axle_kctx *k)
{
    return rnn_infer(k, RNN_GRU);
}
static enum axle_status simple_infer(struct axle_kctx *k)
{
    return rnn_infer(k, RNN_SIMPLE);
}
static enum axle_status lstm_prepare(struct axle_kctx *k, void **state)
{
    return rnn_prepare(k, state, RNN_LSTM);
}
static enum axle_status gru_prepare(struct axle_kctx *k, void **state)
{
    return rnn_prepare(k, state, RNN_GRU);
}
static enum axle_status simple_prepare(struct axle_kctx *k, void **state)
{
    return rnn_prepare(k, state, RNN_SIMPLE);
}
static enum axle_status lstm_run(struct axle_kctx *k)
{
    return rnn_run(k, RNN_LSTM);
}
static enum axle_status gru_run(struct axle_kctx *k)
{
    return rnn_run(k, RNN_GRU);
}
static enum axle_status simple_run(struct axle_kctx *k)
{
    return rnn_run(k, RNN_SIMPLE);
}

const struct axle_op axle_op_lstm = {
    .name = "LSTM", .domain = "",
    .min_inputs = 3, .max_inputs = 8, .min_outputs = 0, .max_outputs = 3,
    .infer = lstm_infer, .run = lstm_run,
    .prepare = lstm_prepare, .release = rnn_release,
};

const struct axle_op axle_op_gru = {
    .name = "GRU", .domain = "",
    .min_inputs = 3, .max_inputs = 6, .min_outputs = 0, .max_outputs = 2,
    .infer = gru_infer, .run = gru_run,
    .prepare = gru_prepare, .release = rnn_release,
};

const struct axle_op axle_op_rnn = {
    .name = "RNN", .domain = "",
    .min_inputs = 3, .max_inputs = 6, .min_outputs = 0, .max_outputs = 2,
    .infer = simple_infer, .run = simple_run,
    .prepare = simple_prepare, .release = rnn_release,
};
