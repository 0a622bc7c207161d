/*
 * conv.c - ONNX Conv (opsets 1-18: 1-D, 2-D, 3-D, group, dilations,
 * strides, pads, auto_pad, optional bias) and the window geometry shared
 * with ConvTranspose and the pooling ops (conv.h).
 *
 * Float32 path: depthwise / channel-multiplier convolutions (one input
 * channel per group) go to the direct kernel in conv_dw.c; everything else
 * is blocked im2col (skipped for 1x1 / stride 1 / no pad) followed by the
 * GEMM per image and group, W[Mg, Cg*k] x col[Cg*k, out], with the bias,
 * the residual (axle-internal fourth input) and the activation that
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
 * row block); each thread owns a contiguous share of them and takes the
 * others' only when its own have run out (cblk_slot), so that a thread
 * slowed by a neighbour on the shared box does not hold the other one up;
 * row blocks exist only when there are too few column blocks to go round
 * (late layers with small HW), and a thread re-packs only when its block
 * changes. Small planes with a partial last panel (7x7, 14x14) run the
 * columns of all images of the batch as one row of blocks (cblk_job.multi).
 * Each output element is one GEMM chain over Kd whatever the blocking, the
 * batch and the threads (gemm_internal.h), so results are batch-invariant.
 * 1x1 / stride 1 / no pad convolutions skip packing: B is X itself.
 * With AVX-512 or AVX2, stride 1 (or 2, via parity planes) with
 * "same"-width output rows packs each panel row as one shifted, masked run
 * of an input plane (shifted_masks; the AVX2 copy expands each 8 bits of
 * the 16-lane masks into a vector mask). With AVX-512, other horizontal
 * strides of 1 or 2 work out the runs of each kernel offset once and copy
 * them for every channel with masked vector moves (pack_panel_segs); the
 * rest copies run by run (pack_run).
 */

/* Floats of packed panels per thread (512 KiB, half of a Zen 5 L2). */
#define CONV_PANEL_FLOATS (128 * 1024)
/* Below this many FLOPs a conv runs on the calling thread alone. */
#define CONV_PAR_MIN_FLOPS (1 << 19)
/* Output planes below this many positions batch their images' columns
 * (cblk_job.multi). */
#define CONV_MULTI_HW_MAX 256
/* Row blocks of at least CONV_TALL_ROWS for K of at least CONV_TALL_K
 * (gemm_avx2.c's TALL_M and DEEP_K). */
#define CONV_TALL_ROWS 96
#define CONV_TALL_K 256
/* Most kernel taps shifted packing handles (7x7). */
#define CONV_SHIFT_TAPS 49

/* One cache line per thread slot (the chunk index of the pool task, so
 * unique among concurrent tasks): the items it owns, [next, end), which
 * its task claims first and others take only when theirs have run out,
 * and the block its buffers hold (-1: none). Owning a contiguous share of
 * the items - a share of the images when the batch goes round, else of
 * the column blocks - means a thread reads back mostly what it wrote
 * itself in the layer before: lines in the other core's cache are slow
 * to fetch (on the 2-vCPU dev VM a pooling layer over data written by
 * both threads ran 3x slower than over its own). */
struct cblk_slot {
    _Atomic int64_t next;
    int64_t end;
    int64_t packed;
    int64_t pad[5];
};
_Static_assert(sizeof(struct cblk_slot) == 64, "one cache line");

struct cblk_job {
    const struct axle_conv_geom *g;
    const float *x, *w, *bias;
    const float *res; /* fused residual, shaped like y, or NULL */
    float *y;
    int64_t C, M, Cg, Mg, Kd, group;
    int64_t nb;          /* columns per block (multiple of the panel) */
    int64_t buf_cols;    /* panel buffer columns per thread (last block
                            may be wider than nb) */
    int64_t cols;        /* columns of one block row: HW, or N * HW */
    int64_t n_cb, n_mb;  /* column blocks, row blocks per (image, group),
                            or per group when multi */
    int64_t mrows;       /* rows per row block */
    int64_t n_items;
    bool multi;          /* blocks run over the columns of all images */
    bool direct;         /* B = X (1x1, stride 1, no pad) */
    bool shifted;        /* panels packed by pack_shifted from xi */
    const float *xi;     /* shifted: X (stride 1) or its parity planes
                            (stride 2, see s2d_task) */
    int64_t xi_plane;    /* shifted: floats per channel of xi */
    int64_t off[CONV_SHIFT_TAPS]; /* shifted: tap offsets in a plane */
    uint16_t *masks;     /* shifted: per thread, the lane masks of a block,
                            mask_len each */
    int64_t mask_len;
    bool avx512;         /* vector stride-2 gathers while packing */
    bool avx2;           /* AVX2 shifted packing (the GEMM's ISA) */
    enum axle_act act;
    float alpha, beta;
    float *panels;       /* n_threads * Kd * nb floats */
    struct cblk_slot *slots; /* per thread slot */
    int n_slots;
    float *ctmp;         /* multi: per thread, a block's product and
                            residual (ctmp_floats each), else NULL */
    int64_t ctmp_floats;
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

/* w output positions starting at (oh0, ow0) into the columns of a panel
 * from pan on (row pitch stride; the vector copies may write up to row_len
 * floats of each row), stride 1 or 2: the runs of each kernel offset are
 * worked out once and copied for all Cg channels with vector moves (no
 * divisions or calls per row). */
static void pack_panel_segs(const struct cblk_job *j, const float *xg,
                            int64_t oh0, int64_t ow0, int64_t w,
                            int64_t stride, int64_t row_len, float *pan)
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
                    pan + (c0 * ksz + kk) * stride, ksz * stride, row_len,
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
                                       ksz * stride, row_len, xg,
                                       g->in_size, j->Cg, segs, n_segs, sw);
        }
    }
}

/* Output positions [q0, q0 + w) of one image and group (all in one
 * panel) into the panel columns from pan on; stride and row_len as for
 * pack_panel_segs. */
static void pack_cols(const struct cblk_job *j, const float *xg, int64_t q0,
                      int64_t w, int64_t stride, int64_t row_len, float *pan)
{
    const struct axle_conv_geom *g = j->g;
    int64_t KH = g->k[0], KW = g->k[1], OW = g->out[1];
    int64_t sh = g->s[0], sw = g->s[1], dh = g->d[0], dw = g->d[1];
    int64_t pt = g->pb[0], pl = g->pb[1];
    int64_t oh0 = q0 / OW, ow0 = q0 % OW;

    if (j->avx512 && sw <= 2) {
        pack_panel_segs(j, xg, oh0, ow0, w, stride, row_len, pan);
        return;
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

/* Group gi's input planes of image `in`. */
static const float *image_group(const struct cblk_job *j, int64_t in,
                                int64_t gi)
{
    return j->x + (in * j->C + gi * j->Cg) * j->g->in_size;
}

/* Panels of columns [Q0, Q0 + nq) of group gi, column Q = image * HW +
 * output position: with images batched into one block (cblk_job.multi) a
 * panel may end one image and start the next. */
static void pack_block(const struct cblk_job *j, int64_t gi, int64_t Q0,
                       int64_t nq, float *buf)
{
    int64_t HW = j->g->out_size;

    for (int64_t p = 0; p * AXLE_GEMM_PANEL < nq; p++) {
        int64_t w = nq - p * AXLE_GEMM_PANEL;
        if (w > AXLE_GEMM_PANEL)
            w = AXLE_GEMM_PANEL;
        int64_t stride = axle_gemm_panel_stride(w);
        float *pan = buf + p * j->Kd * AXLE_GEMM_PANEL;
        for (int64_t d = 0; d < w;) {
            int64_t Q = Q0 + p * AXLE_GEMM_PANEL + d;
            int64_t in = Q / HW, q = Q % HW;
            int64_t len = HW - q < w - d ? HW - q : w - d;
            /* Segments go left to right: a later one overwrites what an
             * earlier one's vector copies wrote past its end. */
            pack_cols(j, image_group(j, in, gi), q, len, stride, stride - d,
                      pan + d);
            d += len;
        }
    }
}

/* Shifted packing, for stride 1 with output rows as wide as input rows
 * (stride 2 likewise on parity planes, s2d_task): the input of kernel tap
 * t for output position q is xi[q + off[t]] in its channel's plane, so a
 * panel row is one shifted run of the plane with the padding lanes masked
 * off - three masked vector moves instead of the per-run bookkeeping of
 * pack_panel_segs (which costs 15 % of a 128-channel 3x3 layer). The
 * panels are the same numbers, so the GEMM gives the same bits. */

/* Lane masks for output positions [q0, q0 + nq) of one image, [panel][tap]
 * [vector]: a tap's lane is on when its input row and column are inside
 * the image; the row depends on kh only, the column on kw only. */
/* Lanes [a, b) of a panel as a bit mask (empty when b <= a). */
static uint64_t lane_range(int64_t a, int64_t b)
{
    if (a < 0)
        a = 0;
    if (b > AXLE_GEMM_PANEL)
        b = AXLE_GEMM_PANEL;
    if (b <= a)
        return 0;
    return (((uint64_t)1 << b) - 1) & ~(((uint64_t)1 << a) - 1);
}

static void shifted_masks(const struct cblk_job *j, int64_t q0, int64_t nq,
                          uint16_t *mask)
{
    const struct axle_conv_geom *g = j->g;
    int64_t H = g->in[0], W = g->in[1], OW = g->out[1];
    int64_t KH = g->k[0], KW = g->k[1], dh = g->d[0], dw = g->d[1];
    int64_t sh = g->s[0], sw = g->s[1], pt = g->pb[0], pl = g->pb[1];
    int64_t taps = KH * KW;

    for (int64_t p = 0; p * AXLE_GEMM_PANEL < nq; p++) {
        uint64_t rows[CONV_SHIFT_TAPS] = {0}, cols[CONV_SHIFT_TAPS] = {0};
        int64_t w = nq - p * AXLE_GEMM_PANEL;
        int64_t q = q0 + p * AXLE_GEMM_PANEL;
        if (w > AXLE_GEMM_PANEL)
            w = AXLE_GEMM_PANEL;
        /* The panel's lanes run along output rows: per row segment, the
         * taps whose input row is inside take the whole segment, and each
         * kernel column takes the lanes whose input column is inside. */
        for (int64_t l0 = 0; l0 < w;) {
            int64_t oh = (q + l0) / OW, ow0 = (q + l0) % OW;
            int64_t len = OW - ow0 < w - l0 ? OW - ow0 : w - l0;
            uint64_t seg = lane_range(l0, l0 + len);
            for (int64_t kh = 0; kh < KH; kh++) {
                int64_t ih = oh * sh - pt + kh * dh;
                if (ih >= 0 && ih < H)
                    rows[kh] |= seg;
            }
            for (int64_t kw = 0; kw < KW; kw++) {
                /* 0 <= ow * sw - pl + kw * dw < W for ow in
                 * [ow0, ow0 + len): ow in [lo, hi) */
                int64_t c = kw * dw - pl;
                int64_t lo = c >= 0 ? 0 : (-c + sw - 1) / sw;
                int64_t hi = W - 1 - c < 0 ? 0 : (W - 1 - c) / sw + 1;
                cols[kw] |= lane_range(l0 + lo - ow0, l0 + hi - ow0) & seg;
            }
            l0 += len;
        }
        for (int64_t t = 0; t < taps; t++) {
            uint64_t m = rows[t / KW] & cols[t % KW];
            for (int v = 0; v < 3; v++)
                mask[(p * taps + t) * 3 + v] = (uint16_t)(m >> (16 * v));
        }
    }
}

/* Panels of output positions [q0, q0 + nq) of image `in`, group gi. */
static void pack_shifted(const struct cblk_job *j, int64_t in, int64_t gi,
                         int64_t q0, int64_t nq, float *buf, uint16_t *mask)
{
    int64_t taps = j->g->k_size;
    const float *xg = j->xi + (in * j->C + gi * j->Cg) * j->xi_plane + q0;

    shifted_masks(j, q0, nq, mask);
    for (int64_t p = 0; p * AXLE_GEMM_PANEL < nq; p++) {
        int64_t w = nq - p * AXLE_GEMM_PANEL;
        int64_t stride = axle_gemm_panel_stride(w);
        if (j->avx512)
            axle_conv_pack_shifted_avx512(
                buf + p * j->Kd * AXLE_GEMM_PANEL, stride, (int)(stride / 16),
                xg + p * AXLE_GEMM_PANEL, j->xi_plane, j->Cg, j->off,
                (int)taps, mask + p * taps * 3);
        else
            axle_conv_pack_shifted_avx2(
                buf + p * j->Kd * AXLE_GEMM_PANEL, stride, (int)(stride / 16),
                xg + p * AXLE_GEMM_PANEL, j->xi_plane, j->Cg, j->off,
                (int)taps, mask + p * taps * 3);
    }
}

/* Stride 2, shifted packing: each input plane (H, W) becomes four parity
 * planes of ceil(H / 2) x ceil(W / 2), [row parity][column parity], so
 * that input (ih, iw) = (2 oh + a, 2 ow + b) sits at a fixed offset from
 * output (oh, ow) in plane [a & 1][b & 1]; with OW == ceil(W / 2) that
 * offset is the same for every output position, as in the stride-1 case.
 * Positions past an odd H or W are left unwritten: no tap reads them. */
struct s2d_job {
    const float *x;
    float *xs;
    int64_t H, W, Hh, Wh;
    bool avx512, avx2;
};

static void s2d_task(void *ctx, int64_t p0, int64_t p1, int tid)
{
    const struct s2d_job *j = ctx;
    int64_t hw = j->Hh * j->Wh;

    (void)tid;
    for (int64_t p = p0; p < p1; p++) {
        const float *x = j->x + p * j->H * j->W;
        float *xs = j->xs + p * 4 * hw;
        for (int64_t ih = 0; ih < j->H; ih++) {
            const float *row = x + ih * j->W;
            float *e = xs + 2 * (ih & 1) * hw + ih / 2 * j->Wh;
            float *o = e + hw;
            if (j->avx512)
                axle_conv_dw_split2_avx512(row, e, o, j->W / 2);
            else if (j->avx2)
                axle_conv_dw_split2_avx2(row, e, o, j->W / 2);
            else
                for (int64_t i = 0; i < j->W / 2; i++) {
                    e[i] = row[2 * i];
                    o[i] = row[2 * i + 1];
                }
            if (j->W % 2)
                e[j->W / 2] = row[j->W - 1];
        }
    }
}

/* Rows [row0, row0 + mr) of the output columns [Q0, Q0 + nq) that span
 * images: y <-> the block's [mr, nq] copy t (to_y), or the residual into
 * t. */
static void block_copy(const struct cblk_job *j, const float *src_y,
                       float *dst_y, float *t, int64_t row0, int64_t mr,
                       int64_t Q0, int64_t nq)
{
    int64_t HW = j->g->out_size;

    for (int64_t d = 0; d < nq;) {
        int64_t Q = Q0 + d, in = Q / HW, q = Q % HW;
        int64_t len = HW - q < nq - d ? HW - q : nq - d;
        int64_t off = (in * j->M + row0) * HW + q;
        for (int64_t r = 0; r < mr; r++) {
            if (dst_y != NULL)
                memcpy(dst_y + off + r * HW, t + r * nq + d,
                       (size_t)len * sizeof(float));
            else
                memcpy(t + r * nq + d, src_y + off + r * HW,
                       (size_t)len * sizeof(float));
        }
        d += len;
    }
}

/* The next item for slot `slot`: its own first, then the others'. */
static bool next_item(struct cblk_job *j, int slot, int64_t *it)
{
    for (int r = 0; r < j->n_slots; r++) {
        struct cblk_slot *sl = &j->slots[(slot + r) % j->n_slots];
        if (atomic_load_explicit(&sl->next, memory_order_relaxed) >= sl->end)
            continue;
        *it = atomic_fetch_add_explicit(&sl->next, 1, memory_order_relaxed);
        if (*it < sl->end)
            return true;
    }
    return false;
}

static void cblk_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    struct cblk_job *j = ctx;
    const struct axle_conv_geom *g = j->g;
    int64_t HW = g->out_size;
    int slot = (int)begin; /* tid may exceed the slots made */
    float *buf =
        j->panels != NULL ? j->panels + slot * j->Kd * j->buf_cols : NULL;
    float *ct = j->ctmp != NULL ? j->ctmp + slot * j->ctmp_floats : NULL;
    int64_t *packed = &j->slots[slot].packed;
    int64_t it;

    (void)end;
    (void)tid;
    while (next_item(j, slot, &it)) {
        int64_t mb = it % j->n_mb, blk = it / j->n_mb;
        int64_t cb = blk % j->n_cb, ig = blk / j->n_cb;
        int64_t gi = ig % j->group, in = ig / j->group;
        int64_t Q0 = in * HW + cb * j->nb;
        int64_t nq = cb == j->n_cb - 1 ? j->cols - cb * j->nb : j->nb;
        int64_t m0 = mb * j->mrows;
        int64_t mr = j->Mg - m0 < j->mrows ? j->Mg - m0 : j->mrows;
        int64_t in0 = Q0 / HW, q0 = Q0 % HW;
        bool one_image = q0 + nq <= HW;
        const float *B;
        int64_t ldb;
        if (mr <= 0)
            continue;
        if (j->direct && one_image) {
            B = image_group(j, in0, gi) + q0;
            ldb = HW;
        } else {
            if (*packed != blk) {
                if (j->shifted && one_image)
                    pack_shifted(j, in0, gi, q0, nq, buf,
                                 j->masks + slot * j->mask_len);
                else
                    pack_block(j, gi, Q0, nq, buf);
                *packed = blk;
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
        };
        if (one_image) {
            int64_t off = (in0 * j->M + row0) * HW + q0;
            ep.residual = j->res != NULL ? j->res + off : NULL;
            ep.ld_residual = HW;
            axle_gemm_block(mr, nq, j->Kd, j->w + row0 * j->Kd, j->Kd, B,
                            ldb, j->y + off, HW, &ep);
            continue;
        }
        /* Columns of several images: the product goes to a [mr, nq]
         * buffer (with the residual gathered beside it) and is then
         * scattered to each image. The GEMM and its epilogue are the
         * same, so every value is the one a per-image block computes. */
        if (j->res != NULL) {
            block_copy(j, j->res, NULL, ct + mr * nq, row0, mr, Q0, nq);
            ep.residual = ct + mr * nq;
            ep.ld_residual = nq;
        }
        axle_gemm_block(mr, nq, j->Kd, j->w + row0 * j->Kd, j->Kd, B, ldb,
                        ct, nq, &ep);
        block_copy(j, NULL, j->y, ct, row0, mr, Q0, nq);
    }
}

/* ---- small planes, transposed (1x1, stride 1, group 1) -------------- */

/*
 * A product row of HW columns takes ceil(HW / 16) vectors per output
 * channel and input channel: a 7x7 plane's 49 columns take four, the last
 * for one pixel, so a quarter of the FMAs of MobileNetV2's 7x7 pointwise
 * layers went to one pixel in 49. Small planes that waste that much run
 * transposed instead, pixels as rows and output channels as vector lanes:
 * Y^T[HW, 48] = X^T W^T per 48 output channels, from W^T packed in panels
 * by conv_prepare, into a per-thread tile that
 * axle_conv_tstore_avx512 transposes into Y with the epilogue. (Only the
 * last few columns this way, the rest untransposed, lost: the tail read a
 * second copy of the weights, a layer's worth of memory traffic for a
 * sliver of its FMAs.) Each element is still one FMA chain over the input
 * channels in order (a * b == b * a), and the epilogue adds the residual,
 * then the bias, then applies the activation, as the GEMM's store loop
 * does: the bits are those of the untransposed path (batch invariance,
 * gemm_internal.h), which a multi-image batch would otherwise take.
 */

/* Planes this small with a partial last vector of at most 12 of 16 lanes
 * (25 % or more of the FMAs wasted) run transposed. */
#define CONV_T_HW_MAX 128

static bool conv_t_wanted(int64_t HW)
{
    return HW <= CONV_T_HW_MAX && HW % 16 != 0 && HW % 16 <= 12;
}

/* What conv_prepare keeps: W^T in panels of 48 output channels (the GEMM's
 * packed layout, axle_gemm_block), for the transposed path. */
struct conv_state {
    float *wt;
    int64_t M, C, HW;
};

struct convt_job {
    const float *x, *wt, *bias, *res;
    float *y;
    int64_t C, M, HW, n_panels, n_parts, part_rows;
    enum axle_act act;
    float alpha, beta;
};

/* Items: (image, panel of 48 output channels, part of the pixels). */
static void convt_task(void *ctx, int64_t i0, int64_t i1, int tid)
{
    const struct convt_job *j = ctx;
    float tmp[CONV_T_HW_MAX * AXLE_GEMM_PANEL];

    (void)tid;
    for (int64_t it = i0; it < i1; it++) {
        int64_t part = it % j->n_parts, rest = it / j->n_parts;
        int64_t p = rest % j->n_panels, in = rest / j->n_panels;
        int64_t r0 = part * j->part_rows;
        int64_t nr = j->HW - r0 < j->part_rows ? j->HW - r0 : j->part_rows;
        int64_t m0 = p * AXLE_GEMM_PANEL;
        int64_t nc = j->M - m0 < AXLE_GEMM_PANEL ? j->M - m0
                                                 : AXLE_GEMM_PANEL;
        int64_t off = (in * j->M + m0) * j->HW + r0;
        if (nr <= 0)
            continue;
        /* A(i, c) = X[c][r0 + i]: X^T without a copy. */
        axle_gemm_block_strided(nr, nc, j->C, j->x + in * j->C * j->HW + r0,
                                1, j->HW, j->wt + p * j->C * AXLE_GEMM_PANEL,
                                0, tmp, AXLE_GEMM_PANEL, NULL);
        axle_conv_tstore_avx512(tmp, AXLE_GEMM_PANEL, nr, nc, j->y + off,
                                j->HW, j->res != NULL ? j->res + off : NULL,
                                j->bias != NULL ? j->bias + m0 : NULL, j->act,
                                j->alpha, j->beta);
    }
}

static void conv_run_transposed(struct axle_kctx *k,
                                const struct conv_state *cs)
{
    const struct axle_tensor *x = k->in[0], *b = AXLE_IN(k, 2);
    const struct axle_node *n = k->node;
    int n_threads = axle_pool_size(k->pool);
    int64_t N = x->dims[0];
    struct convt_job j = {
        .x = x->data, .wt = cs->wt,
        .bias = b != NULL ? b->data : NULL,
        .res = AXLE_IN(k, 3) != NULL ? AXLE_IN(k, 3)->data : NULL,
        .y = k->out[0]->data, .C = cs->C, .M = cs->M, .HW = cs->HW,
        .n_panels = (cs->M + AXLE_GEMM_PANEL - 1) / AXLE_GEMM_PANEL,
        .n_parts = 1, .part_rows = cs->HW,
        .act = (enum axle_act)n->fused_act,
        .alpha = n->fused_alpha, .beta = n->fused_beta,
    };
    double flops = 2.0 * (double)N * (double)j.M * (double)j.C * (double)j.HW;
    int64_t n_items;

    if (n_threads < 1 || flops < CONV_PAR_MIN_FLOPS)
        n_threads = 1;
    /* Few panels (160 output channels: 4) split the pixels too, at a
     * whole number of vectors, so that the threads' shares even out. */
    if (n_threads > 1 && N * j.n_panels < 4 * n_threads && j.HW > 16) {
        j.part_rows = (j.HW / 2 + 15) / 16 * 16;
        j.n_parts = (j.HW + j.part_rows - 1) / j.part_rows;
    }
    n_items = N * j.n_panels * j.n_parts;
    if (n_threads <= 1)
        convt_task(&j, 0, n_items, 0);
    else
        axle_pool_parallel_for(k->pool, n_items, 1, convt_task, &j);
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
        .avx2 = axle_cpu_get()->isa < AXLE_ISA_AVX512 &&
                axle_gemm_isa() == AXLE_ISA_AVX2,
        .act = (enum axle_act)n->fused_act,
        .alpha = n->fused_alpha, .beta = n->fused_beta,
    };
    double flops;
    int64_t n_blocks, want, n_rows; /* block rows: images x groups */
    int64_t hh, wh;                 /* stride 2: parity plane size */
    bool s2;
    float *xs = NULL;

    const struct conv_state *cs = k->state;
    if (cs != NULL && direct && group == 1 && cs->M == M && cs->C == C &&
        cs->HW == HW && axle_gemm_isa() == AXLE_ISA_AVX512) {
        conv_run_transposed(k, cs);
        return AXLE_OK;
    }
    if (n_threads < 1)
        n_threads = 1;
    j.Kd = j.Cg * g->k_size;
    flops = 2.0 * (double)N * (double)M * (double)j.Kd * (double)HW;
    if (flops < CONV_PAR_MIN_FLOPS)
        n_threads = 1;
    /* Small planes whose width in panels is not whole (7x7, 14x14) leave
     * most of a panel's lanes idle per image: run the columns of all
     * images as one row of blocks, so only the batch's last panel is
     * partial and each pass over the weights serves more columns. */
    j.multi = N > 1 && HW < CONV_MULTI_HW_MAX && HW % AXLE_GEMM_PANEL != 0;
    /* Shifted packing (see shifted_masks). With stride 2 the parity
     * planes copy the whole input, more than an im2col of at most four
     * taps would (1x1 stride-2 downsampling convs). */
    s2 = g->s[0] == 2 && g->s[1] == 2 && g->out[1] == (g->in[1] + 1) / 2 &&
         g->k_size > 4;
    j.shifted = !direct && (j.avx512 || j.avx2) &&
                g->k_size <= CONV_SHIFT_TAPS &&
                ((g->s[0] == 1 && g->s[1] == 1 && g->out[1] == g->in[1]) ||
                 s2);
    s2 = s2 && j.shifted;
    hh = (g->in[0] + 1) / 2;
    wh = (g->in[1] + 1) / 2;
    j.xi_plane = s2 ? 4 * hh * wh : g->in_size;
    for (int64_t t = 0; j.shifted && t < g->k_size; t++) {
        /* input row / column of the tap for output (0, 0) */
        int64_t r = t / g->k[1] * g->d[0] - g->pb[0];
        int64_t c = t % g->k[1] * g->d[1] - g->pb[1];
        if (s2)
            j.off[t] = (2 * (r & 1) + (c & 1)) * hh * wh +
                       (r - (r & 1)) / 2 * wh + (c - (c & 1)) / 2;
        else
            j.off[t] = r * g->in[1] + c;
    }
    j.cols = j.multi ? N * HW : HW;
    n_rows = j.multi ? group : N * group;
    /* Column block: as many whole panels as fit CONV_PANEL_FLOATS. */
    j.nb = CONV_PANEL_FLOATS / (j.Kd > 0 ? j.Kd : 1) / AXLE_GEMM_PANEL *
           AXLE_GEMM_PANEL;
    if (j.nb < AXLE_GEMM_PANEL)
        j.nb = AXLE_GEMM_PANEL;
    if (j.nb > j.cols)
        j.nb = (j.cols + AXLE_GEMM_PANEL - 1) / AXLE_GEMM_PANEL *
               AXLE_GEMM_PANEL;
    /* Enough blocks per thread for balance: split smaller blocks first. */
    j.n_cb = (j.cols + j.nb - 1) / j.nb;
    while (n_threads > 1 && n_rows * j.n_cb < 4 * n_threads &&
           j.nb > AXLE_GEMM_PANEL) {
        j.nb -= AXLE_GEMM_PANEL;
        j.n_cb = (j.cols + j.nb - 1) / j.nb;
    }
    /* A narrow last block (HW = 49 or 196 in ResNet's late layers) would
     * stream all of W again for a few columns: merge it into the one
     * before, which then holds up to 2 nb columns. */
    if (j.n_cb > 1 && j.cols - (j.n_cb - 1) * j.nb < j.nb / 2)
        j.n_cb--;
    j.buf_cols = (j.cols - (j.n_cb - 1) * j.nb + AXLE_GEMM_PANEL - 1) /
                 AXLE_GEMM_PANEL * AXLE_GEMM_PANEL;
    if (j.buf_cols < j.nb)
        j.buf_cols = j.nb;
    n_blocks = n_rows * j.n_cb;
    want = n_blocks >= 4 * n_threads ? 1 : (4 * n_threads + n_blocks - 1) /
                                               n_blocks;
    j.mrows = (j.Mg + want - 1) / want;
    j.mrows = (j.mrows + 7) / 8 * 8;
    if (j.mrows < 16)
        j.mrows = 16;
    /* AVX2: deep row blocks keep the GEMM's tall tile (gemm_avx2.c takes
     * 6 x 16 only for K >= 256 with >= 96 rows). Cutting ResNet-18's
     * layer4 (512 rows, 49 columns, one block) into 64-row blocks for two
     * threads took the 4 x 24 tile and ran 1.3-1.4x slower than 96-row
     * blocks, and no faster than one thread. */
    if (j.avx2 && j.Kd >= CONV_TALL_K && j.mrows < CONV_TALL_ROWS &&
        j.Mg >= 2 * CONV_TALL_ROWS)
        j.mrows = CONV_TALL_ROWS;
    j.n_mb = (j.Mg + j.mrows - 1) / j.mrows;
    j.n_items = n_blocks * j.n_mb;
    if (n_threads > j.n_items)
        n_threads = (int)j.n_items;
    {
        /* Per thread slot: im2col panels (none when B is X itself), the
         * multi-image product and residual, the shifted-packing lane
         * masks; then the stride-2 parity planes; then the slots. */
        bool pack = !j.direct || j.multi;
        size_t panel_floats = 0, ct_floats = 0, mask_floats = 0;
        size_t xs_floats = 0, floats = 0, bytes = 0;
        if (j.multi)
            j.ctmp_floats = (j.res != NULL ? 2 : 1) *
                            (j.mrows < j.Mg ? j.mrows : j.Mg) * j.buf_cols;
        if (j.shifted)
            j.mask_len = (j.buf_cols / AXLE_GEMM_PANEL) * g->k_size * 3;
        bool over =
            axle_size_mul((size_t)j.Kd * (size_t)j.buf_cols,
                          pack ? (size_t)n_threads : 0, &panel_floats) ||
            axle_size_mul((size_t)j.ctmp_floats, (size_t)n_threads,
                          &ct_floats) ||
            axle_size_mul((size_t)(j.mask_len + 1) / 2, (size_t)n_threads,
                          &mask_floats) ||
            axle_size_mul((size_t)(N * C), s2 ? (size_t)j.xi_plane : 0,
                          &xs_floats) ||
            axle_size_add(panel_floats, ct_floats, &floats) ||
            axle_size_add(floats, mask_floats, &floats) ||
            axle_size_add(floats, xs_floats + 15, &floats);
        floats &= ~(size_t)15; /* the slots start on a cache line */
        if (over || axle_size_mul(floats, sizeof(float), &bytes) ||
            axle_size_add(bytes, sizeof(struct cblk_slot) * (size_t)n_threads,
                          &bytes) ||
            (j.panels = axle_kctx_scratch(k, bytes)) == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "Conv: no memory for the im2col panels");
        if (j.multi)
            j.ctmp = j.panels + panel_floats;
        if (j.shifted)
            j.masks = (uint16_t *)(j.panels + panel_floats + ct_floats);
        if (s2)
            xs = j.panels + panel_floats + ct_floats + mask_floats;
        j.slots = (struct cblk_slot *)(j.panels + floats);
        j.n_slots = n_threads;
        for (int t = 0; t < n_threads; t++) {
            atomic_init(&j.slots[t].next, t * j.n_items / n_threads);
            j.slots[t].end = (t + 1) * j.n_items / n_threads;
            j.slots[t].packed = -1;
        }
        if (!pack)
            j.panels = NULL;
    }
    j.xi = x->data;
    if (s2) {
        struct s2d_job sj = {.x = x->data, .xs = xs, .H = g->in[0],
                             .W = g->in[1], .Hh = hh, .Wh = wh,
                             .avx512 = j.avx512, .avx2 = j.avx2};
        axle_pool_parallel_for(n_threads > 1 ? k->pool : NULL, N * C,
                               1 + (1 << 15) / (g->in_size + 1), s2d_task,
                               &sj);
        j.xi = xs;
    }
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

static void conv_release(void *state)
{
    struct conv_state *cs = state;

    if (cs == NULL)
        return;
    axle_free(cs->wt);
    axle_free(cs);
}

/* Largest weight conv_prepare transposes (floats). */
#define CONV_T_W_MAX (1 << 20)

/* A float32 1x1 conv (group 1) with constant weights on a plane that shape
 * inference knows and conv_t_wanted takes gets W^T; anything else runs
 * without a state. (Strides and pads are checked at run time: the path is
 * taken only for B = X.) */
static enum axle_status conv_prepare(struct axle_kctx *k, void **state)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    struct conv_state *cs;
    int64_t HW = 1, M, C, n_panels;
    const float *wd = w->data;

    *state = NULL;
    if (wd == NULL || w->dtype != AXLE_DTYPE_FLOAT32 ||
        x->dtype != AXLE_DTYPE_FLOAT32 || w->rank < 3 || x->rank != w->rank ||
        axle_node_attr_int(k->node, "group", 1) != 1 ||
        axle_cpu_get()->isa < AXLE_ISA_AVX512)
        return AXLE_OK;
    for (int i = 2; i < w->rank; i++) {
        if (w->dims[i] != 1 || x->dims[i] <= 0)
            return AXLE_OK;
        HW *= x->dims[i];
    }
    M = w->dims[0];
    C = w->dims[1];
    if (M < 1 || C < 1 || M * C > CONV_T_W_MAX || !conv_t_wanted(HW))
        return AXLE_OK;
    n_panels = (M + AXLE_GEMM_PANEL - 1) / AXLE_GEMM_PANEL;
    cs = axle_try_calloc(1, sizeof(*cs));
    if (cs != NULL)
        cs->wt = axle_try_malloc((size_t)(n_panels * AXLE_GEMM_PANEL * C) *
                                 sizeof(float));
    if (cs == NULL || cs->wt == NULL) {
        conv_release(cs);
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "Conv: out of memory");
    }
    /* Panel p: C rows of the channels [48 p, 48 p + 48) at the panel
     * stride, zero-padded. */
    for (int64_t p = 0; p < n_panels; p++) {
        int64_t m0 = p * AXLE_GEMM_PANEL;
        int64_t wdt = M - m0 < AXLE_GEMM_PANEL ? M - m0 : AXLE_GEMM_PANEL;
        int64_t stride = axle_gemm_panel_stride(wdt);
        float *pan = cs->wt + p * C * AXLE_GEMM_PANEL;
        for (int64_t c = 0; c < C; c++)
            for (int64_t jj = 0; jj < stride; jj++)
                pan[c * stride + jj] = jj < wdt ? wd[(m0 + jj) * C + c] : 0.0f;
    }
    cs->M = M;
    cs->C = C;
    cs->HW = HW;
    *state = cs;
    return AXLE_OK;
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
    .prepare = conv_prepare,
    .release = conv_release,
};
