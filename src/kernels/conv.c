/*
 * conv.c - ONNX Conv (opsets 1-18: 1-D, 2-D, 3-D, group, dilations,
 * strides, pads, auto_pad, optional bias) and the window geometry shared
 * with ConvTranspose and the pooling ops (conv.h).
 *
 * Float32 path: depthwise / channel-multiplier convolutions (one input
 * channel per group) go to the direct kernel in conv_dw.c; everything else
 * is im2col (skipped for 1x1 / stride 1 / no pad) followed by one GEMM per
 * image and group, W[Mg, Cg*k] x col[Cg*k, out], with the bias, the
 * residual (axle-internal fourth input) and the activation that
 * engine/fuse.c fused into the node applied in the GEMM's store loop.
 * Float64/float16/bfloat16 take an exact direct loop.
 */
#include <stdatomic.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/err.h"
#include "base/pool.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"

/* ---- geometry ---------------------------------------------------------- */

enum axle_status axle_conv_attrs_read(struct axle_kctx *k, const char *what,
                                      int nsp, const int64_t *kern,
                                      struct axle_conv_attrs *a)
{
    const struct axle_node *n = k->node;
    const int64_t *v;
    const char *ap;
    int cnt;

    memset(a, 0, sizeof(*a));
    if (nsp < 1 || nsp > AXLE_CONV_MAX_SP)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %d spatial dims (expected 1..%d)", what, nsp,
                            AXLE_CONV_MAX_SP);
    a->nsp = nsp;
    v = axle_node_attr_ints(n, "kernel_shape", &cnt);
    if (v != NULL) {
        if (cnt != nsp)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: kernel_shape has %d values, expected %d",
                                what, cnt, nsp);
        for (int i = 0; i < nsp; i++) {
            if (v[i] < 1)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: kernel_shape[%d] = %lld", what, i,
                                    (long long)v[i]);
            if (kern != NULL && kern[i] >= 0 && kern[i] != v[i])
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: kernel_shape[%d] = %lld but the "
                                    "weights have %lld", what, i,
                                    (long long)v[i], (long long)kern[i]);
            a->k[i] = v[i];
        }
    } else if (kern != NULL) {
        for (int i = 0; i < nsp; i++)
            a->k[i] = kern[i] >= 0 ? kern[i] : -1;
    } else {
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: kernel_shape is required", what);
    }
    v = axle_node_attr_ints(n, "strides", &cnt);
    for (int i = 0; i < nsp; i++)
        a->s[i] = 1;
    if (v != NULL) {
        if (cnt != nsp)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: strides has %d values, expected %d",
                                what, cnt, nsp);
        for (int i = 0; i < nsp; i++) {
            if (v[i] < 1)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: strides[%d] = %lld", what, i,
                                    (long long)v[i]);
            a->s[i] = v[i];
        }
    }
    v = axle_node_attr_ints(n, "dilations", &cnt);
    for (int i = 0; i < nsp; i++)
        a->d[i] = 1;
    if (v != NULL) {
        if (cnt != nsp)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: dilations has %d values, expected %d",
                                what, cnt, nsp);
        for (int i = 0; i < nsp; i++) {
            if (v[i] < 1)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: dilations[%d] = %lld", what, i,
                                    (long long)v[i]);
            a->d[i] = v[i];
        }
    }
    v = axle_node_attr_ints(n, "pads", &cnt);
    if (v != NULL) {
        if (cnt != 2 * nsp)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: pads has %d values, expected %d", what,
                                cnt, 2 * nsp);
        for (int i = 0; i < 2 * nsp; i++) {
            if (v[i] < 0)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: pads[%d] = %lld", what, i,
                                    (long long)v[i]);
            a->pads[i] = v[i];
        }
    }
    ap = axle_node_attr_str(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") == 0 || ap[0] == '\0')
        a->auto_pad = AXLE_PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0)
        a->auto_pad = AXLE_PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0)
        a->auto_pad = AXLE_PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0)
        a->auto_pad = AXLE_PAD_VALID;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: unknown auto_pad '%.40s'", what, ap);
    {
        int64_t cm = axle_node_attr_int(n, "ceil_mode", 0);
        if (cm != 0 && cm != 1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: ceil_mode must be 0 or 1", what);
        a->ceil_mode = cm == 1;
    }
    return AXLE_OK;
}

int64_t axle_conv_out_dim(const struct axle_conv_attrs *a, int i, int64_t in,
                          int64_t *pb, int64_t *pe)
{
    int64_t dk, out, total;

    *pb = a->pads[i];
    *pe = a->pads[a->nsp + i];
    if (in < 0 || a->k[i] < 0)
        return -1;
    dk = (a->k[i] - 1) * a->d[i] + 1;
    switch (a->auto_pad) {
    case AXLE_PAD_SAME_UPPER:
    case AXLE_PAD_SAME_LOWER:
        out = (in + a->s[i] - 1) / a->s[i];
        total = (out - 1) * a->s[i] + dk - in;
        if (total < 0)
            total = 0;
        if (a->auto_pad == AXLE_PAD_SAME_UPPER) {
            *pb = total / 2;
            *pe = total - total / 2;
        } else {
            *pb = total - total / 2;
            *pe = total / 2;
        }
        return out;
    case AXLE_PAD_VALID:
        *pb = *pe = 0;
        break;
    default:
        break;
    }
    if (in + *pb + *pe < dk)
        return -2;
    if (a->ceil_mode) {
        out = (in + *pb + *pe - dk + a->s[i] - 1) / a->s[i] + 1;
        /* The last window must start inside the input or the begin pad
         * (PyTorch and later ONNX shape inference drop it otherwise). */
        if ((out - 1) * a->s[i] >= in + *pb)
            out--;
    } else {
        out = (in + *pb + *pe - dk) / a->s[i] + 1;
    }
    return out;
}

enum axle_status axle_conv_geom_make(struct axle_kctx *k, const char *what,
                                     const struct axle_conv_attrs *a,
                                     const int64_t *in_sp,
                                     struct axle_conv_geom *g)
{
    memset(g, 0, sizeof(*g));
    g->nsp = a->nsp;
    g->in_size = g->out_size = g->k_size = 1;
    for (int i = 0; i < a->nsp; i++) {
        int64_t o = axle_conv_out_dim(a, i, in_sp[i], &g->pb[i], &g->pe[i]);
        if (o < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: spatial dim %d of size %lld is smaller "
                                "than the window", what, i,
                                (long long)in_sp[i]);
        g->in[i] = in_sp[i];
        g->out[i] = o;
        g->k[i] = a->k[i];
        g->s[i] = a->s[i];
        g->d[i] = a->d[i];
        g->in_size *= in_sp[i];
        g->out_size *= o;
        g->k_size *= a->k[i];
    }
    return AXLE_OK;
}

/* ---- Conv infer -------------------------------------------------------- */

static bool float_dtype(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT64 ||
           dt == AXLE_DTYPE_FLOAT16 || dt == AXLE_DTYPE_BFLOAT16;
}

static enum axle_status conv_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    const struct axle_tensor *b = AXLE_IN(k, 2);
    struct axle_tensor *y = k->out[0];
    int64_t group = axle_node_attr_int(k->node, "group", 1);
    struct axle_conv_attrs a;
    int64_t kern[AXLE_CONV_MAX_SP];
    int rank = x->rank >= 0 ? x->rank : w->rank;
    enum axle_status st;

    if (x->dtype != AXLE_DTYPE_UNDEFINED && !float_dtype(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Conv: unsupported input dtype %s",
                            axle_dtype_name(x->dtype));
    if (w->dtype != AXLE_DTYPE_UNDEFINED &&
        x->dtype != AXLE_DTYPE_UNDEFINED && w->dtype != x->dtype)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Conv: W is %s but X is %s",
                            axle_dtype_name(w->dtype),
                            axle_dtype_name(x->dtype));
    if (group < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Conv: group = %lld", (long long)group);
    y->dtype = x->dtype ? x->dtype : w->dtype;
    if (rank < 0) {
        y->rank = -1;
        return AXLE_OK;
    }
    if (rank < 3 || rank > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Conv: X has rank %d, expected 3..%d", rank,
                            AXLE_MAX_RANK);
    if ((x->rank >= 0 && x->rank != rank) || (w->rank >= 0 &&
                                               w->rank != rank))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Conv: X has rank %d but W has rank %d", x->rank,
                            w->rank);
    for (int i = 0; i < rank - 2; i++)
        kern[i] = w->rank >= 0 && w->dims[2 + i] >= 0 ? w->dims[2 + i] : -1;
    st = axle_conv_attrs_read(k, "Conv", rank - 2, kern, &a);
    if (st != AXLE_OK)
        return st;
    if (x->rank >= 0 && w->rank >= 0 && x->dims[1] >= 0 && w->dims[1] >= 0 &&
        x->dims[1] != w->dims[1] * group)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Conv: X has %lld channels but W expects %lld x "
                            "group %lld", (long long)x->dims[1],
                            (long long)w->dims[1], (long long)group);
    if (w->rank >= 0 && w->dims[0] >= 0 && w->dims[0] % group != 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Conv: %lld output channels not divisible by "
                            "group %lld", (long long)w->dims[0],
                            (long long)group);
    if (b != NULL && b->rank >= 0) {
        if (b->rank != 1 || (w->rank >= 0 && w->dims[0] >= 0 &&
                             b->dims[0] >= 0 && b->dims[0] != w->dims[0]))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Conv: bias must be 1-D with one value per "
                                "output channel");
    }
    if (AXLE_IN(k, 3) != NULL && AXLE_IN(k, 3)->dtype !=
                                     AXLE_DTYPE_UNDEFINED &&
        AXLE_IN(k, 3)->dtype != y->dtype)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Conv: the fused residual must have the "
                            "output's dtype");
    y->rank = rank;
    y->dims[0] = x->rank >= 0 ? x->dims[0] : -1;
    y->dims[1] = w->rank >= 0 ? w->dims[0] : -1;
    for (int i = 0; i < rank - 2; i++) {
        int64_t pb, pe;
        int64_t in = x->rank >= 0 ? x->dims[2 + i] : -1;
        int64_t o = axle_conv_out_dim(&a, i, in, &pb, &pe);
        if (o == -2)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Conv: spatial dim %d of size %lld is smaller "
                                "than the kernel", i, (long long)in);
        y->dims[2 + i] = o;
    }
    if (AXLE_IN(k, 3) != NULL && AXLE_IN(k, 3)->rank >= 0) {
        const struct axle_tensor *r = AXLE_IN(k, 3);
        bool ok = r->rank == rank;
        for (int i = 0; ok && i < rank; i++)
            ok = r->dims[i] < 0 || y->dims[i] < 0 || r->dims[i] == y->dims[i];
        if (!ok)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Conv: the fused residual does not have the "
                                "output's shape");
    }
    return AXLE_OK;
}

/* ---- im2col ------------------------------------------------------------ */

struct im2col_job {
    const struct axle_conv_geom *g;
    const float *x; /* Cg input channels of one image */
    float *col;     /* [Cg * k_size, out_size] */
};

/* Rows r = c * k_size + kernel offset; 2-D geometry (1-D uses H = 1). */
static void im2col2d_rows(void *ctx, int64_t r0, int64_t r1, int tid)
{
    const struct im2col_job *j = ctx;
    const struct axle_conv_geom *g = j->g;
    int64_t KH = g->k[0], KW = g->k[1];
    int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    int64_t sh = g->s[0], sw = g->s[1], dh = g->d[0], dw = g->d[1];
    int64_t pt = g->pb[0], pl = g->pb[1];

    (void)tid;
    for (int64_t r = r0; r < r1; r++) {
        int64_t c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
        const float *xc = j->x + c * H * W;
        float *dst = j->col + r * OH * OW;
        int64_t off = kw * dw - pl;
        /* ow range with 0 <= ow * sw + off < W */
        int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
        int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
        if (hi > OW)
            hi = OW;
        if (lo > hi)
            lo = hi;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t ih = oh * sh - pt + kh * dh;
            float *d = dst + oh * OW;
            if (ih < 0 || ih >= H) {
                memset(d, 0, (size_t)OW * sizeof(float));
                continue;
            }
            const float *xr = xc + ih * W;
            for (int64_t ow = 0; ow < lo; ow++)
                d[ow] = 0.0f;
            if (sw == 1) {
                memcpy(d + lo, xr + lo + off,
                       (size_t)(hi - lo) * sizeof(float));
            } else {
                for (int64_t ow = lo; ow < hi; ow++)
                    d[ow] = xr[ow * sw + off];
            }
            for (int64_t ow = hi; ow < OW; ow++)
                d[ow] = 0.0f;
        }
    }
}

/* Any number of spatial dims (3-D and beyond). */
static void im2colnd_rows(void *ctx, int64_t r0, int64_t r1, int tid)
{
    const struct im2col_job *j = ctx;
    const struct axle_conv_geom *g = j->g;
    int nsp = g->nsp;

    (void)tid;
    for (int64_t r = r0; r < r1; r++) {
        int64_t c = r / g->k_size, kr = r % g->k_size;
        int64_t kidx[AXLE_CONV_MAX_SP], o[AXLE_CONV_MAX_SP];
        const float *xc = j->x + c * g->in_size;
        float *dst = j->col + r * g->out_size;
        for (int i = nsp - 1; i >= 0; i--) {
            kidx[i] = kr % g->k[i];
            kr /= g->k[i];
            o[i] = 0;
        }
        for (int64_t p = 0; p < g->out_size; p++) {
            int64_t idx = 0;
            bool in = true;
            for (int i = 0; i < nsp; i++) {
                int64_t ii = o[i] * g->s[i] - g->pb[i] + kidx[i] * g->d[i];
                if (ii < 0 || ii >= g->in[i]) {
                    in = false;
                    break;
                }
                idx = idx * g->in[i] + ii;
            }
            dst[p] = in ? xc[idx] : 0.0f;
            for (int i = nsp - 1; i >= 0; i--) {
                if (++o[i] < g->out[i])
                    break;
                o[i] = 0;
            }
        }
    }
}

/* ---- Conv run ---------------------------------------------------------- */

struct bias_act_job {
    float *y;
    int64_t cols;
    const struct axle_epilogue *ep;
};

static void bias_act_task(void *ctx, int64_t r0, int64_t r1, int tid)
{
    const struct bias_act_job *j = ctx;

    (void)tid;
    axle_conv_bias_act_avx512(j->y + r0 * j->cols, r1 - r0, j->cols,
                              j->ep->bias != NULL ? j->ep->bias + r0 : NULL,
                              j->ep->act, j->ep->alpha, j->ep->beta);
}

/* Geometry of X as 2-D when it has one spatial dim (H = 1). */
static void geom_as_2d(struct axle_conv_geom *g)
{
    if (g->nsp != 1)
        return;
    g->nsp = 2;
    g->in[1] = g->in[0];
    g->out[1] = g->out[0];
    g->k[1] = g->k[0];
    g->s[1] = g->s[0];
    g->d[1] = g->d[0];
    g->pb[1] = g->pb[0];
    g->pe[1] = g->pe[0];
    g->in[0] = g->out[0] = g->k[0] = g->s[0] = g->d[0] = 1;
    g->pb[0] = g->pe[0] = 0;
}

/* ---- blocked im2col + GEMM (2-D float32) ------------------------------ */

/*
 * Y[Mg, HW] = W[Mg, Kd] x col[Kd, HW] per image and group, computed in
 * column blocks: a thread builds the im2col panels of one block of output
 * positions straight into the GEMM's packed panel layout (a few hundred KiB,
 * so they stay in L2 for the product) and multiplies W (row-major, used as
 * the broadcast operand, so it needs no packing) by them with the bias and
 * activation in the store loop. Work items are (image, group, column block,
 * row block), handed out through an atomic counter so that a thread slowed
 * by a neighbour on the shared box does not hold the other one up; row
 * blocks exist only when there are too few column blocks to go round (late
 * layers with small HW), and a thread re-packs only when its block changes.
 * 1x1 / stride 1 / no pad convolutions skip packing: B is X itself.
 * With AVX-512 and horizontal stride 1 or 2, a panel is packed by working
 * out the runs of each kernel offset once and copying them for every
 * channel with masked vector moves (pack_panel_segs).
 */

/* Floats of packed panels per thread (512 KiB, half of a Zen 5 L2). */
#define CONV_PANEL_FLOATS (128 * 1024)
/* Below this many FLOPs a conv runs on the calling thread alone. */
#define CONV_PAR_MIN_FLOPS (1 << 19)

struct cblk_job {
    const struct axle_conv_geom *g;
    const float *x, *w, *bias;
    const float *res; /* fused residual, shaped like y, or NULL */
    float *y;
    int64_t C, M, Cg, Mg, Kd, group;
    int64_t nb;          /* columns per block (multiple of the panel) */
    int64_t buf_cols;    /* panel buffer columns per thread (last block
                            may be wider than nb) */
    int64_t n_cb, n_mb;  /* column blocks, row blocks per (image, group) */
    int64_t mrows;       /* rows per row block */
    int64_t n_items;
    bool direct;         /* B = X (1x1, stride 1, no pad) */
    bool avx512;         /* vector stride-2 gathers while packing */
    enum axle_act act;
    float alpha, beta;
    float *panels;       /* n_threads * Kd * nb floats */
    int64_t *packed;     /* per thread: image/group/block now packed, -1 */
    _Atomic int64_t next;
};

/* dst[0, n) = row ih of channel plane xc at columns iw0 + t * sw (zero
 * outside the image). */
static void pack_run(float *dst, const float *xc, int64_t ih, int64_t iw0,
                     int64_t n, const struct axle_conv_geom *g, bool avx512)
{
    int64_t H = g->in[0], W = g->in[1], sw = g->s[1];
    int64_t lo, hi;

    if (ih < 0 || ih >= H) {
        memset(dst, 0, (size_t)n * sizeof(float));
        return;
    }
    /* t range with 0 <= iw0 + t * sw < W */
    lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
    hi = W - 1 - iw0 < 0 ? 0 : (W - 1 - iw0) / sw + 1;
    if (hi > n)
        hi = n;
    if (lo > hi)
        lo = hi;
    const float *xr = xc + ih * W + iw0;
    for (int64_t t = 0; t < lo; t++)
        dst[t] = 0.0f;
    if (sw == 1) {
        memcpy(dst + lo, xr + lo, (size_t)(hi - lo) * sizeof(float));
    } else if (sw == 2 && avx512) {
        axle_conv_gather2_avx512(xr + 2 * lo, dst + lo, hi - lo);
    } else if (sw == 2) {
        for (int64_t t = lo; t < hi; t++)
            dst[t] = xr[2 * t];
    } else {
        for (int64_t t = lo; t < hi; t++)
            dst[t] = xr[t * sw];
    }
    for (int64_t t = hi; t < n; t++)
        dst[t] = 0.0f;
}

/* Kernel offsets whose runs pack_panel_segs keeps at once (3x3). */
#define SEG_KK_MAX 9
/* Channels packed per pass over the kernel offsets: their input rows stay
 * in L1 while all offsets read them. */
#define SEG_CH_BLOCK 8

/* The runs of kernel offset (kh, kw) over w output positions starting at
 * (oh0, ow0); returns their number (<= w). */
static int panel_segs(const struct axle_conv_geom *g, int64_t kh, int64_t kw,
                      int64_t oh0, int64_t ow0, int64_t w,
                      struct axle_conv_seg *segs)
{
    int64_t OW = g->out[1], H = g->in[0], W = g->in[1];
    int64_t sh = g->s[0], sw = g->s[1], dh = g->d[0], dw = g->d[1];
    int64_t pt = g->pb[0], pl = g->pb[1];
    int64_t oh = oh0, ow = ow0;
    int n_segs = 0;

    for (int64_t jj = 0; jj < w;) {
        struct axle_conv_seg *sg = &segs[n_segs++];
        int64_t run = OW - ow < w - jj ? OW - ow : w - jj;
        int64_t ih = oh * sh - pt + kh * dh;
        int64_t iw0 = ow * sw - pl + kw * dw;
        sg->dst = jj;
        sg->n = run;
        if (ih < 0 || ih >= H) {
            sg->src = 0;
            sg->lo = sg->hi = 0;
        } else {
            /* t range with 0 <= iw0 + t * sw < W */
            int64_t lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
            int64_t hi = W - 1 - iw0 < 0 ? 0 : (W - 1 - iw0) / sw + 1;
            if (hi > run)
                hi = run;
            if (lo > hi)
                lo = hi;
            sg->src = ih * W + iw0;
            sg->lo = lo;
            sg->hi = hi;
        }
        jj += run;
        ow = 0;
        oh++;
    }
    return n_segs;
}

/* One panel of w output positions starting at (oh0, ow0), stride 1 or 2:
 * the runs of each kernel offset are worked out once and copied for all
 * Cg channels with vector moves (no divisions or calls per row). */
static void pack_panel_segs(const struct cblk_job *j, const float *xg,
                            int64_t oh0, int64_t ow0, int64_t w,
                            int64_t stride, float *pan)
{
    const struct axle_conv_geom *g = j->g;
    int64_t KH = g->k[0], KW = g->k[1], sw = g->s[1];
    int64_t ksz = g->k_size;

    if (ksz <= SEG_KK_MAX) {
        struct axle_conv_seg segs[SEG_KK_MAX][AXLE_GEMM_PANEL];
        int n_segs = 0;
        for (int64_t kk = 0; kk < ksz; kk++)
            n_segs = panel_segs(g, kk / KW, kk % KW, oh0, ow0, w, segs[kk]);
        for (int64_t c0 = 0; c0 < j->Cg; c0 += SEG_CH_BLOCK) {
            int64_t nc = j->Cg - c0 < SEG_CH_BLOCK ? j->Cg - c0
                                                   : SEG_CH_BLOCK;
            for (int64_t kk = 0; kk < ksz; kk++)
                axle_conv_pack_segs_avx512(
                    pan + (c0 * ksz + kk) * stride, ksz * stride, stride,
                    xg + c0 * g->in_size, g->in_size, nc, segs[kk], n_segs,
                    sw);
        }
        return;
    }
    for (int64_t kh = 0; kh < KH; kh++) {
        for (int64_t kw = 0; kw < KW; kw++) {
            struct axle_conv_seg segs[AXLE_GEMM_PANEL];
            int n_segs = panel_segs(g, kh, kw, oh0, ow0, w, segs);
            axle_conv_pack_segs_avx512(pan + (kh * KW + kw) * stride,
                                       ksz * stride, stride, xg,
                                       g->in_size, j->Cg, segs, n_segs, sw);
        }
    }
}

/* Panels of output positions [q0, q0 + nq) of one image and group. */
static void pack_block(const struct cblk_job *j, const float *xg, int64_t q0,
                       int64_t nq, float *buf)
{
    const struct axle_conv_geom *g = j->g;
    int64_t KH = g->k[0], KW = g->k[1], OW = g->out[1];
    int64_t sh = g->s[0], sw = g->s[1], dh = g->d[0], dw = g->d[1];
    int64_t pt = g->pb[0], pl = g->pb[1];

    for (int64_t p = 0; p * AXLE_GEMM_PANEL < nq; p++) {
        int64_t qp = q0 + p * AXLE_GEMM_PANEL;
        int64_t w = nq - p * AXLE_GEMM_PANEL;
        if (w > AXLE_GEMM_PANEL)
            w = AXLE_GEMM_PANEL;
        int64_t stride = axle_gemm_panel_stride(w);
        float *pan = buf + p * j->Kd * AXLE_GEMM_PANEL;
        int64_t oh0 = qp / OW, ow0 = qp % OW;
        if (j->avx512 && sw <= 2 && w <= AXLE_GEMM_PANEL) {
            pack_panel_segs(j, xg, oh0, ow0, w, stride, pan);
            continue;
        }
        for (int64_t r = 0; r < j->Kd; r++) {
            int64_t c = r / (KH * KW), kh = (r / KW) % KH, kw = r % KW;
            const float *xc = xg + c * g->in_size;
            float *d = pan + r * stride;
            int64_t oh = oh0, ow = ow0;
            for (int64_t jj = 0; jj < w;) {
                int64_t run = OW - ow < w - jj ? OW - ow : w - jj;
                pack_run(d + jj, xc, oh * sh - pt + kh * dh,
                         ow * sw - pl + kw * dw, run, g, j->avx512);
                jj += run;
                ow = 0;
                oh++;
            }
        }
    }
}

static void cblk_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    struct cblk_job *j = ctx;
    const struct axle_conv_geom *g = j->g;
    int64_t HW = g->out_size;
    float *buf =
        j->panels != NULL ? j->panels + tid * j->Kd * j->buf_cols : NULL;

    (void)begin;
    (void)end;
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&j->next, 1,
                                               memory_order_relaxed);
        if (it >= j->n_items)
            break;
        int64_t mb = it % j->n_mb, blk = it / j->n_mb;
        int64_t cb = blk % j->n_cb, ig = blk / j->n_cb;
        int64_t gi = ig % j->group, in = ig / j->group;
        int64_t q0 = cb * j->nb;
        int64_t nq = cb == j->n_cb - 1 ? HW - q0 : j->nb;
        int64_t m0 = mb * j->mrows;
        int64_t mr = j->Mg - m0 < j->mrows ? j->Mg - m0 : j->mrows;
        const float *xg = j->x + (in * j->C + gi * j->Cg) * g->in_size;
        const float *B;
        int64_t ldb;
        if (mr <= 0)
            continue;
        if (j->direct) {
            B = xg + q0;
            ldb = HW;
        } else {
            if (j->packed[tid * 8] != blk) {
                pack_block(j, xg, q0, nq, buf);
                j->packed[tid * 8] = blk;
            }
            B = buf;
            ldb = 0;
        }
        int64_t row0 = gi * j->Mg + m0;
        struct axle_epilogue ep = {
            .bias = j->bias != NULL ? j->bias + row0 : NULL,
            .bias_per_row = true,
            .act = j->act,
            .alpha = j->alpha,
            .beta = j->beta,
            .residual = j->res != NULL ? j->res + (in * j->M + row0) * HW + q0
                                       : NULL,
            .ld_residual = HW,
        };
        axle_gemm_block(mr, nq, j->Kd, j->w + row0 * j->Kd, j->Kd, B, ldb,
                        j->y + (in * j->M + row0) * HW + q0, HW, &ep);
    }
}

static enum axle_status conv_run_blocked(struct axle_kctx *k,
                                         const struct axle_conv_geom *g,
                                         int64_t group, bool direct)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    const struct axle_tensor *b = AXLE_IN(k, 2);
    const struct axle_node *n = k->node;
    int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0];
    int64_t HW = g->out_size;
    int n_threads = axle_pool_size(k->pool);
    struct cblk_job j = {
        .g = g, .x = x->data, .w = w->data,
        .bias = b != NULL ? b->data : NULL, .y = k->out[0]->data,
        .res = AXLE_IN(k, 3) != NULL ? AXLE_IN(k, 3)->data : NULL,
        .C = C, .M = M, .Cg = C / group, .Mg = M / group, .group = group,
        .direct = direct, .avx512 = axle_cpu_get()->isa >= AXLE_ISA_AVX512,
        .act = (enum axle_act)n->fused_act,
        .alpha = n->fused_alpha, .beta = n->fused_beta,
    };
    double flops;
    int64_t n_blocks, want;

    if (n_threads < 1)
        n_threads = 1;
    j.Kd = j.Cg * g->k_size;
    flops = 2.0 * (double)N * (double)M * (double)j.Kd * (double)HW;
    if (flops < CONV_PAR_MIN_FLOPS)
        n_threads = 1;
    /* Column block: as many whole panels as fit CONV_PANEL_FLOATS. */
    j.nb = CONV_PANEL_FLOATS / (j.Kd > 0 ? j.Kd : 1) / AXLE_GEMM_PANEL *
           AXLE_GEMM_PANEL;
    if (j.nb < AXLE_GEMM_PANEL)
        j.nb = AXLE_GEMM_PANEL;
    if (j.nb > HW)
        j.nb = (HW + AXLE_GEMM_PANEL - 1) / AXLE_GEMM_PANEL * AXLE_GEMM_PANEL;
    /* Enough blocks per thread for balance: split smaller blocks first. */
    j.n_cb = (HW + j.nb - 1) / j.nb;
    while (n_threads > 1 && N * group * j.n_cb < 4 * n_threads &&
           j.nb > AXLE_GEMM_PANEL) {
        j.nb -= AXLE_GEMM_PANEL;
        j.n_cb = (HW + j.nb - 1) / j.nb;
    }
    /* A narrow last block (HW = 49 or 196 in ResNet's late layers) would
     * stream all of W again for a few columns: merge it into the one
     * before, which then holds up to 2 nb columns. */
    if (j.n_cb > 1 && HW - (j.n_cb - 1) * j.nb < j.nb / 2)
        j.n_cb--;
    j.buf_cols = (HW - (j.n_cb - 1) * j.nb + AXLE_GEMM_PANEL - 1) /
                 AXLE_GEMM_PANEL * AXLE_GEMM_PANEL;
    if (j.buf_cols < j.nb)
        j.buf_cols = j.nb;
    n_blocks = N * group * j.n_cb;
    want = n_blocks >= 4 * n_threads ? 1 : (4 * n_threads + n_blocks - 1) /
                                               n_blocks;
    j.mrows = (j.Mg + want - 1) / want;
    j.mrows = (j.mrows + 7) / 8 * 8;
    if (j.mrows < 16)
        j.mrows = 16;
    j.n_mb = (j.Mg + j.mrows - 1) / j.mrows;
    j.n_items = n_blocks * j.n_mb;
    if (n_threads > j.n_items)
        n_threads = (int)j.n_items;
    if (!j.direct) {
        size_t bytes;
        if (axle_size_mul((size_t)j.Kd * (size_t)j.buf_cols,
                          (size_t)n_threads,
                          &bytes) ||
            axle_size_mul(bytes, sizeof(float), &bytes) ||
            axle_size_add(bytes, 8 * sizeof(int64_t) * (size_t)n_threads,
                          &bytes) ||
            (j.panels = axle_kctx_scratch(k, bytes)) == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "Conv: no memory for the im2col panels");
        /* One cache line of bookkeeping per thread after the panels. */
        j.packed = (int64_t *)(j.panels + (size_t)j.Kd *
                                              (size_t)j.buf_cols *
                                              (size_t)n_threads);
        for (int t = 0; t < n_threads; t++)
            j.packed[t * 8] = -1;
    }
    atomic_init(&j.next, 0);
    if (n_threads <= 1)
        cblk_task(&j, 0, 1, 0);
    else
        axle_pool_parallel_for(k->pool, n_threads, 1, cblk_task, &j);
    return AXLE_OK;
}

static enum axle_status conv_run_f32(struct axle_kctx *k,
                                     const struct axle_conv_geom *g,
                                     int64_t group)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    const struct axle_tensor *b = AXLE_IN(k, 2);
    struct axle_tensor *y = k->out[0];
    const struct axle_node *n = k->node;
    int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0];
    int64_t Cg = C / group, Mg = M / group, Kd = Cg * g->k_size;
    const float *bias = b != NULL ? b->data : NULL;
    const float *res = AXLE_IN(k, 3) != NULL ? AXLE_IN(k, 3)->data : NULL;
    bool direct = true;
    bool avx512 = axle_cpu_get()->isa >= AXLE_ISA_AVX512;
    float *col = NULL;

    if (N == 0 || M == 0 || g->out_size == 0)
        return AXLE_OK;
    if (Cg == 1 && g->nsp == 2) {
        size_t per = axle_conv_dw_scratch_floats(g), bytes = 0;
        float *buf = NULL;
        if (per > 0) {
            if (axle_size_mul(per, (size_t)axle_pool_size(k->pool), &bytes) ||
                axle_size_mul(bytes, sizeof(float), &bytes) ||
                (buf = axle_kctx_scratch(k, bytes)) == NULL)
                return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                    "Conv: no memory for the depthwise "
                                    "buffer");
        }
        if (res != NULL) {
            /* Rare (depthwise before a residual Add): plain kernel, then
             * one pass for the residual and the activation. */
            float *yd = y->data;
            size_t cnt = (size_t)(N * M * g->out_size);
            axle_conv_dw_run(k->pool, g, N, C, M, x->data, w->data, bias,
                             y->data, AXLE_ACT_NONE, 0.0f, 0.0f, buf);
            for (size_t i = 0; i < cnt; i++)
                yd[i] += res[i];
            axle_act_apply((enum axle_act)n->fused_act, n->fused_alpha,
                           n->fused_beta, yd, cnt);
            return AXLE_OK;
        }
        axle_conv_dw_run(k->pool, g, N, C, M, x->data, w->data, bias,
                         y->data, (enum axle_act)n->fused_act,
                         n->fused_alpha, n->fused_beta, buf);
        return AXLE_OK;
    }
    for (int i = 0; i < g->nsp; i++)
        if (g->k[i] != 1 || g->s[i] != 1 || g->pb[i] != 0 || g->pe[i] != 0)
            direct = false;
    if (g->nsp == 2)
        return conv_run_blocked(k, g, group, direct);
    if (!direct) {
        size_t bytes;
        if (axle_size_mul((size_t)Kd, (size_t)g->out_size, &bytes) ||
            axle_size_mul(bytes, sizeof(float), &bytes) ||
            (col = axle_kctx_scratch(k, bytes)) == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "Conv: no memory for the im2col buffer");
    }
    for (int64_t in = 0; in < N; in++) {
        for (int64_t gi = 0; gi < group; gi++) {
            const float *xg = (const float *)x->data +
                              (in * C + gi * Cg) * g->in_size;
            const float *B = xg;
            struct axle_epilogue ep = {
                .bias = bias != NULL ? bias + gi * Mg : NULL,
                .bias_per_row = true,
                .act = (enum axle_act)n->fused_act,
                .alpha = n->fused_alpha,
                .beta = n->fused_beta,
            };
            if (!direct) {
                struct im2col_job j = {.g = g, .x = xg, .col = col};
                int64_t grain = 1 + (1 << 15) / (g->out_size + 1);
                axle_pool_parallel_for(k->pool, Kd, grain,
                                       g->nsp == 2 ? im2col2d_rows
                                                   : im2colnd_rows,
                                       &j);
                B = col;
            }
            float *yg = (float *)y->data + (in * M + gi * Mg) * g->out_size;
            /* Large GEMMs go to OpenBLAS, whose epilogue is a separate
             * scalar pass: use one vector pass over the rows instead. */
            bool own_ep = avx512 && Mg > AXLE_GEMM_SMALL_M;
            /* A fused residual enters as C with beta = 1. */
            if (res != NULL)
                memcpy(yg, res + (yg - (float *)y->data),
                       (size_t)(Mg * g->out_size) * sizeof(float));
            axle_sgemm(k->pool, false, false, Mg, g->out_size, Kd, 1.0f,
                       (const float *)w->data + gi * Mg * Kd, Kd, B,
                       g->out_size, res != NULL ? 1.0f : 0.0f, yg,
                       g->out_size, own_ep ? NULL : &ep);
            if (own_ep && (ep.bias != NULL || ep.act != AXLE_ACT_NONE)) {
                struct bias_act_job bj = {.y = yg, .cols = g->out_size,
                                          .ep = &ep};
                axle_pool_parallel_for(k->pool, Mg,
                                       1 + (1 << 14) / (g->out_size + 1),
                                       bias_act_task, &bj);
            }
        }
    }
    return AXLE_OK;
}

/* Exact direct loop for float64 / float16 / bfloat16. */
static void conv_run_generic(struct axle_kctx *k,
                             const struct axle_conv_geom *g, int64_t group)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    const struct axle_tensor *b = AXLE_IN(k, 2);
    const struct axle_tensor *r = AXLE_IN(k, 3);
    struct axle_tensor *y = k->out[0];
    enum axle_dtype dt = x->dtype;
    int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0];
    int64_t Cg = C / group, Mg = M / group;
    int nsp = g->nsp;

    for (int64_t in = 0; in < N; in++) {
        for (int64_t m = 0; m < M; m++) {
            int64_t gi = m / Mg;
            for (int64_t p = 0; p < g->out_size; p++) {
                int64_t o[AXLE_CONV_MAX_SP], rem = p;
                double acc = b != NULL ? axle_kx_load(dt, b->data, m) : 0.0;
                for (int i = nsp - 1; i >= 0; i--) {
                    o[i] = rem % g->out[i];
                    rem /= g->out[i];
                }
                for (int64_t c = 0; c < Cg; c++) {
                    int64_t xbase = (in * C + gi * Cg + c) * g->in_size;
                    int64_t wbase = (m * Cg + c) * g->k_size;
                    for (int64_t kk = 0; kk < g->k_size; kk++) {
                        int64_t kr = kk, idx = 0;
                        int64_t kidx[AXLE_CONV_MAX_SP];
                        bool inside = true;
                        for (int i = nsp - 1; i >= 0; i--) {
                            kidx[i] = kr % g->k[i];
                            kr /= g->k[i];
                        }
                        for (int i = 0; i < nsp && inside; i++) {
                            int64_t ii = o[i] * g->s[i] - g->pb[i] +
                                         kidx[i] * g->d[i];
                            inside = ii >= 0 && ii < g->in[i];
                            idx = idx * g->in[i] + ii;
                        }
                        if (inside)
                            acc += axle_kx_load(dt, x->data, xbase + idx) *
                                   axle_kx_load(dt, w->data, wbase + kk);
                    }
                }
                if (r != NULL)
                    acc += axle_kx_load(dt, r->data,
                                        (in * M + m) * g->out_size + p);
                axle_kx_store(dt, y->data, (in * M + m) * g->out_size + p,
                              acc);
            }
        }
    }
}

static enum axle_status conv_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    int64_t group = axle_node_attr_int(k->node, "group", 1);
    struct axle_conv_attrs a;
    struct axle_conv_geom g;
    enum axle_status st;
    int nsp = x->rank - 2;

    st = axle_conv_attrs_read(k, "Conv", nsp, &w->dims[2], &a);
    if (st != AXLE_OK)
        return st;
    st = axle_conv_geom_make(k, "Conv", &a, &x->dims[2], &g);
    if (st != AXLE_OK)
        return st;
    if (x->dtype == AXLE_DTYPE_FLOAT32) {
        geom_as_2d(&g);
        return conv_run_f32(k, &g, group);
    }
    conv_run_generic(k, &g, group);
    if (k->node->fused_act != AXLE_ACT_NONE)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "Conv: fused activation on a non-float32 conv");
    return AXLE_OK;
}

const struct axle_op axle_op_conv = {
    .name = "Conv",
    .domain = "",
    .min_inputs = 2,
    .max_inputs = 4, /* fourth: residual fused by engine/fuse.c */
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = conv_infer,
    .run = conv_run,
};
