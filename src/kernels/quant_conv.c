/*
 * quant_conv.c - QLinearConv (10) and ConvInteger (10): 1-D/2-D/3-D
 * convolution of int8/uint8 data with group, strides, dilations, pads and
 * auto_pad (geometry shared with Conv, conv.h), on the 8-bit GEMM of
 * quant_gemm.c.
 *
 * Per output channel the weights are a row of K = C/group x kernel values:
 * the GEMM's A, packed once in prepare when W is constant (its row sums
 * with it). Output positions are the columns: each work item is one image,
 * group and chunk of positions, whose im2col columns are gathered into the
 * item's scratch (padding takes the value x_zero_point, which is what an
 * ONNX pad of 0 in real terms quantizes to) and packed as the GEMM's B; a
 * 1x1 stride-1 unpadded kernel packs straight from X. x and y scale and
 * zero point are per tensor; w's may be per output channel ([M]). The
 * optional int32 bias of QLinearConv is added to the exact sums before
 * requantization, as the spec says it is quantized with x_scale * w_scale.
 */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "kernels/conv.h"
#include "kernels/quant.h"

struct qc_io {
    const char *op;
    int x, w, xz, wz, xs, ws, ys, yz, bias; /* -1: none */
};

static const struct qc_io QLC = {"QLinearConv", 0, 3, 2, 5, 1, 4, 6, 7, 8};
static const struct qc_io CVI = {"ConvInteger", 0, 1, 2, 3, -1, -1, -1, -1,
                                 -1};

static const struct axle_tensor *in_at(struct axle_kctx *k, int i)
{
    return i >= 0 ? AXLE_IN(k, i) : NULL;
}

/* A parameter that must be per tensor (per_ch false) or may also hold one
 * value per output channel (M, -1 when unknown). */
static enum axle_status qc_param(struct axle_kctx *k, const char *op,
                                 const char *what,
                                 const struct axle_tensor *p, bool per_ch,
                                 int64_t M)
{
    if (p == NULL || p->rank < 0)
        return AXLE_OK;
    if (p->rank == 0 || (p->rank == 1 && p->dims[0] == 1))
        return AXLE_OK;
    if (per_ch && p->rank == 1 &&
        (p->dims[0] < 0 || M < 0 || p->dims[0] == M))
        return AXLE_OK;
    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                        per_ch ? "%s: %s must be a scalar or hold one value "
                                 "per output channel"
                               : "%s: %s must be a scalar",
                        op, what);
}

static enum axle_status qc_infer_io(struct axle_kctx *k, const struct qc_io *io)
{
    const struct axle_tensor *x = in_at(k, io->x), *w = in_at(k, io->w);
    const struct axle_tensor *xz = in_at(k, io->xz), *wz = in_at(k, io->wz);
    const struct axle_tensor *yz = in_at(k, io->yz), *b = in_at(k, io->bias);
    struct axle_tensor *y = k->out[0];
    int64_t group = axle_node_attr_int(k->node, "group", 1);
    int64_t kern[AXLE_CONV_MAX_SP], M;
    struct axle_conv_attrs a;
    int rank;
    char what[64];
    enum axle_status st;

    st = axle_quant_need_inputs(k, io->op, io->ys >= 0 ? 8 : 2);
    if (st != AXLE_OK)
        return st;
    rank = x->rank >= 0 ? x->rank : w->rank;
    if ((x->dtype != AXLE_DTYPE_UNDEFINED && !axle_quant_is_q8(x->dtype)) ||
        (w->dtype != AXLE_DTYPE_UNDEFINED && !axle_quant_is_q8(w->dtype)))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: x and w must be int8 or uint8 (got %s, %s)",
                            io->op, axle_dtype_name(x->dtype),
                            axle_dtype_name(w->dtype));
    snprintf(what, sizeof(what), "%s: x_zero_point", io->op);
    st = axle_quant_check_zp(k, what, xz, x->dtype);
    if (st != AXLE_OK)
        return st;
    snprintf(what, sizeof(what), "%s: w_zero_point", io->op);
    st = axle_quant_check_zp(k, what, wz, w->dtype);
    if (st != AXLE_OK)
        return st;
    if (group < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: group = %lld", io->op, (long long)group);
    M = w->rank >= 1 ? w->dims[0] : -1;
    st = qc_param(k, io->op, "x_zero_point", xz, false, M);
    if (st == AXLE_OK)
        st = qc_param(k, io->op, "w_zero_point", wz, true, M);
    if (st != AXLE_OK)
        return st;
    if (io->ys >= 0) {
        const struct axle_tensor *sc[3] = {in_at(k, io->xs), in_at(k, io->ws),
                                           in_at(k, io->ys)};
        const char *nm[3] = {"x_scale", "w_scale", "y_scale"};
        for (int i = 0; i < 3; i++) {
            snprintf(what, sizeof(what), "%s: %s", io->op, nm[i]);
            st = axle_quant_check_scale(k, what, sc[i], false);
            if (st == AXLE_OK)
                st = qc_param(k, io->op, nm[i], sc[i], i == 1, M);
            if (st != AXLE_OK)
                return st;
        }
        if (yz->dtype != AXLE_DTYPE_UNDEFINED && !axle_quant_is_q8(yz->dtype))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: y_zero_point must be int8 or uint8, not "
                                "%s", io->op, axle_dtype_name(yz->dtype));
        st = qc_param(k, io->op, "y_zero_point", yz, false, M);
        if (st != AXLE_OK)
            return st;
        y->dtype = yz->dtype;
    } else {
        y->dtype = AXLE_DTYPE_INT32;
    }
    if (b != NULL && b->rank >= 0) {
        if ((b->dtype != AXLE_DTYPE_UNDEFINED &&
             b->dtype != AXLE_DTYPE_INT32) || b->rank != 1 ||
            (b->dims[0] >= 0 && M >= 0 && b->dims[0] != M))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: B must be int32 with one value per "
                                "output channel", io->op);
    }
    if (rank < 0) {
        y->rank = -1;
        return AXLE_OK;
    }
    if (rank < 3 || rank > AXLE_MAX_RANK ||
        (x->rank >= 0 && x->rank != rank) || (w->rank >= 0 && w->rank != rank))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: X and W must have the same rank, 3..%d "
                            "(got %d and %d)", io->op, AXLE_MAX_RANK, x->rank,
                            w->rank);
    for (int i = 0; i < rank - 2; i++)
        kern[i] = w->rank >= 0 && w->dims[2 + i] >= 0 ? w->dims[2 + i] : -1;
    st = axle_conv_attrs_read(k, io->op, rank - 2, kern, &a);
    if (st != AXLE_OK)
        return st;
    if (x->rank >= 0 && w->rank >= 0 && x->dims[1] >= 0 && w->dims[1] >= 0 &&
        x->dims[1] != w->dims[1] * group)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: X has %lld channels but W expects %lld x "
                            "group %lld", io->op, (long long)x->dims[1],
                            (long long)w->dims[1], (long long)group);
    if (M >= 0 && M % group != 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %lld output channels not divisible by group "
                            "%lld", io->op, (long long)M, (long long)group);
    y->rank = rank;
    y->dims[0] = x->rank >= 0 ? x->dims[0] : -1;
    y->dims[1] = M;
    for (int i = 0; i < rank - 2; i++) {
        int64_t pb, pe, in = x->rank >= 0 ? x->dims[2 + i] : -1;
        int64_t o = axle_conv_out_dim(&a, i, in, &pb, &pe);
        if (o == -2)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: spatial dim %d of size %lld is smaller "
                                "than the kernel", io->op, i, (long long)in);
        y->dims[2 + i] = o;
    }
    return AXLE_OK;
}

/* ---- prepare: constant W as packed A ---------------------------------------- */

struct qc_state {
    int64_t M, K;
    int16_t *a;
    int32_t *rowsum;
};

static void qc_release(void *state)
{
    struct qc_state *s = state;
    if (s == NULL)
        return;
    axle_free(s->a);
    axle_free(s->rowsum);
    axle_free(s);
}

static enum axle_status qc_prepare_io(struct axle_kctx *k, void **state,
                                      const struct qc_io *io)
{
    const struct axle_tensor *w = in_at(k, io->w);
    struct qc_state *s;
    size_t bytes;

    *state = NULL;
    if (w->data == NULL || !axle_quant_is_q8(w->dtype) || w->rank < 3 ||
        !axle_shape_known(w))
        return AXLE_OK;
    s = axle_try_calloc(1, sizeof(*s));
    if (s == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: out of memory", io->op);
    s->M = w->dims[0];
    s->K = s->M > 0 ? axle_tensor_numel(w) / s->M : 0;
    if (axle_size_mul((size_t)s->M, (size_t)axle_qgemm_a_stride(s->K) * 2,
                      &bytes) ||
        (s->a = axle_try_aligned(bytes ? bytes : 64)) == NULL ||
        (s->rowsum = axle_try_malloc((size_t)(s->M ? s->M : 1) * 4)) ==
            NULL) {
        qc_release(s);
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: out of memory packing W", io->op);
    }
    axle_qgemm_pack_a(w->data, s->K, s->M, s->K, w->dtype == AXLE_DTYPE_INT8,
                      s->a, s->rowsum);
    *state = s;
    k->absorbed |= 1u << io->w;
    return AXLE_OK;
}

/* ---- run ------------------------------------------------------------------ */

#define QC_CHUNK 96 /* output positions per work item (4 panels) */
#define QC_MC 64    /* output channels per GEMM block */

struct qc_job {
    const struct axle_conv_geom *g;
    const uint8_t *x;
    uint8_t xzp;
    bool x_s8, direct, need_colsum;
    int64_t C, Cg, M, Mg, group, Kd, n_chunks, nq_max, lda;
    const int16_t *a;
    const int32_t *rowsum;
    struct axle_qgemm_epi e; /* channel arrays indexed from channel 0 */
    char *y;
    size_t esz;
    char *scratch;
    size_t per_thread;
};

/* Columns [q0, q0 + nq) of the im2col matrix of one image and group into
 * col[Kd][nq]; taps outside the input read the zero point. */
static void im2col(const struct qc_job *j, const uint8_t *xg, int64_t q0,
                   int64_t nq, uint8_t *col)
{
    const struct axle_conv_geom *g = j->g;
    int nsp = g->nsp;

    for (int64_t r = 0; r < j->Kd; r++) {
        int64_t c = r / g->k_size, kk = r % g->k_size;
        int64_t kidx[AXLE_CONV_MAX_SP], o[AXLE_CONV_MAX_SP], q = q0;
        const uint8_t *xc = xg + c * g->in_size;
        uint8_t *d = col + r * nq;
        for (int i = nsp - 1; i >= 0; i--) {
            kidx[i] = kk % g->k[i];
            kk /= g->k[i];
            o[i] = q % g->out[i];
            q /= g->out[i];
        }
        for (int64_t t = 0; t < nq; t++) {
            int64_t idx = 0;
            bool inside = true;
            for (int i = 0; i < nsp; i++) {
                int64_t ii = o[i] * g->s[i] - g->pb[i] + kidx[i] * g->d[i];
                inside = inside && ii >= 0 && ii < g->in[i];
                idx = idx * g->in[i] + ii;
            }
            d[t] = inside ? xc[idx] : j->xzp;
            for (int i = nsp - 1; i >= 0; i--) {
                if (++o[i] < g->out[i])
                    break;
                o[i] = 0;
            }
        }
    }
}

/* im2col for 2-D geometry (1-D as H = 1): per row, the output positions
 * of the chunk run along output rows; in each, the taps inside the input
 * form one contiguous range of ow, computed once per row. */
static void im2col2d(const struct qc_job *j, const uint8_t *xg, int64_t q0,
                     int64_t nq, uint8_t *col)
{
    const struct axle_conv_geom *g = j->g;
    bool one = g->nsp == 1;
    int64_t H = one ? 1 : g->in[0], W = g->in[one ? 0 : 1];
    int64_t OW = g->out[one ? 0 : 1];
    int64_t KH = one ? 1 : g->k[0], KW = g->k[one ? 0 : 1];
    int64_t sh = one ? 1 : g->s[0], sw = g->s[one ? 0 : 1];
    int64_t dh = one ? 1 : g->d[0], dw = g->d[one ? 0 : 1];
    int64_t pt = one ? 0 : g->pb[0], pl = g->pb[one ? 0 : 1];

    struct {
        int64_t t, oh, ow0, len;
    } seg[QC_CHUNK + 1];
    int n_seg = 0;

    /* The chunk's runs along output rows, shared by every im2col row. */
    for (int64_t t = 0, q = q0; t < nq && n_seg <= QC_CHUNK; n_seg++) {
        int64_t ow0 = q % OW, len = OW - ow0 < nq - t ? OW - ow0 : nq - t;
        seg[n_seg].t = t;
        seg[n_seg].oh = q / OW;
        seg[n_seg].ow0 = ow0;
        seg[n_seg].len = len;
        t += len;
        q += len;
    }
    for (int64_t c = 0, r = 0; c < j->Cg; c++)
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++, r++) {
                const uint8_t *xc = xg + c * H * W;
                uint8_t *d = col + r * nq;
                int64_t off = kw * dw - pl, lo, hi;
                lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                hi = W - 1 - off >= 0 ? (W - 1 - off) / sw + 1 : 0;
                if (hi > OW)
                    hi = OW;
                if (lo > hi)
                    lo = hi;
                for (int si = 0; si < n_seg; si++) {
                    int64_t ih = seg[si].oh * sh - pt + kh * dh;
                    int64_t a = seg[si].ow0, e = a + seg[si].len;
                    uint8_t *dd = d + seg[si].t; /* dd[ow - a] */
                    if (ih < 0 || ih >= H) {
                        memset(dd, j->xzp, (size_t)seg[si].len);
                        continue;
                    }
                    const uint8_t *row = xc + ih * W;
                    int64_t m0 = lo > a ? (lo < e ? lo : e) : a;
                    int64_t m1 = hi < e ? (hi > m0 ? hi : m0) : e;
                    if (m0 > a)
                        memset(dd, j->xzp, (size_t)(m0 - a));
                    if (sw == 1) {
                        if (m1 > m0)
                            memcpy(dd + (m0 - a), row + (m0 + off),
                                   (size_t)(m1 - m0));
                    } else {
                        for (int64_t ow = m0; ow < m1; ow++)
                            dd[ow - a] = row[ow * sw + off];
                    }
                    if (e > m1)
                        memset(dd + (m1 - a), j->xzp, (size_t)(e - m1));
                }
            }
}

static void qc_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct qc_job *j = ctx;
    const struct axle_conv_geom *g = j->g;
    int64_t HW = g->out_size, pb_bytes = axle_qgemm_panel_bytes(j->Kd);
    int64_t n_pan = (j->nq_max + AXLE_QGEMM_NR - 1) / AXLE_QGEMM_NR;
    char *base = j->scratch + (size_t)tid * j->per_thread;
    uint8_t *col = (uint8_t *)base;
    size_t o = (size_t)((j->Kd * j->nq_max + 63) & ~(int64_t)63);
    uint8_t *bp = (uint8_t *)(base + o);
    int32_t *colsum, *cbuf;

    o += (size_t)((pb_bytes * n_pan + 63) & ~(int64_t)63);
    colsum = (int32_t *)(base + o);
    o += (size_t)((j->nq_max * 4 + 63) & ~(int64_t)63);
    cbuf = (int32_t *)(base + o);

    for (int64_t it = begin; it < end; it++) {
        int64_t ch = it % j->n_chunks, ig = it / j->n_chunks;
        int64_t gi = ig % j->group, in = ig / j->group;
        int64_t q0 = ch * j->nq_max;
        int64_t nq = HW - q0 < j->nq_max ? HW - q0 : j->nq_max;
        const uint8_t *xg = j->x + (in * j->C + gi * j->Cg) * g->in_size;
        if (j->direct) {
            axle_qgemm_pack_b(xg + q0, g->in_size, j->Kd, nq, j->x_s8, bp,
                              j->need_colsum ? colsum : NULL);
        } else {
            if (g->nsp <= 2)
                im2col2d(j, xg, q0, nq, col);
            else
                im2col(j, xg, q0, nq, col);
            axle_qgemm_pack_b(col, nq, j->Kd, nq, j->x_s8, bp,
                              j->need_colsum ? colsum : NULL);
        }
        for (int64_t m0 = 0; m0 < j->Mg; m0 += QC_MC) {
            int64_t mr = j->Mg - m0 < QC_MC ? j->Mg - m0 : QC_MC;
            int64_t row0 = gi * j->Mg + m0;
            struct axle_qgemm_epi e = j->e;
            if (e.za_row != NULL)
                e.za_row += row0;
            if (e.bias_row != NULL)
                e.bias_row += row0;
            if (e.mult_row != NULL)
                e.mult_row += row0;
            e.rowsum = j->rowsum + row0;
            e.colsum = colsum;
            e.ldy = HW;
            e.y = j->y + (size_t)((in * j->M + row0) * HW + q0) * j->esz;
            axle_qgemm_block(mr, nq, j->Kd, j->a + row0 * j->lda, j->lda, bp,
                             &e, cbuf);
        }
    }
}

/* Depthwise (one input and one output channel per group), 2-D or 1-D:
 * direct accumulation per output plane, tap by tap over contiguous ow
 * ranges (padding contributes x - x_zero_point = 0), then the common
 * epilogue. Weights are read from the packed A rows. */
static void dw_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct qc_job *j = ctx;
    const struct axle_conv_geom *g = j->g;
    bool one = g->nsp == 1;
    int64_t H = one ? 1 : g->in[0], W = g->in[one ? 0 : 1];
    int64_t OH = one ? 1 : g->out[0], OW = g->out[one ? 0 : 1];
    int64_t KH = one ? 1 : g->k[0], KW = g->k[one ? 0 : 1];
    int64_t sh = one ? 1 : g->s[0], sw = g->s[one ? 0 : 1];
    int64_t dh = one ? 1 : g->d[0], dw = g->d[one ? 0 : 1];
    int64_t pt = one ? 0 : g->pb[0], pl = g->pb[one ? 0 : 1];
    int64_t HW = g->out_size;
    uint32_t *acc = (uint32_t *)(j->scratch + (size_t)tid * j->per_thread);
    int32_t zx = j->e.zb;

    for (int64_t it = begin; it < end; it++) {
        int64_t n = it / j->C, c = it % j->C;
        const uint8_t *xc = j->x + (n * j->C + c) * H * W;
        int32_t zw = j->e.za_row != NULL ? j->e.za_row[c] : j->e.za;
        memset(acc, 0, (size_t)HW * sizeof(*acc));
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) {
                int32_t wv = j->a[c * j->lda + kh * KW + kw] - zw;
                int64_t off = kw * dw - pl, lo, hi;
                if (wv == 0)
                    continue;
                lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                hi = W - 1 - off >= 0 ? (W - 1 - off) / sw + 1 : 0;
                if (hi > OW)
                    hi = OW;
                for (int64_t oh = 0; oh < OH; oh++) {
                    int64_t ih = oh * sh - pt + kh * dh;
                    int64_t base = ih * W + off;
                    uint32_t *a = acc + oh * OW;
                    if (ih < 0 || ih >= H)
                        continue;
                    if (j->x_s8) {
                        const int8_t *xs = (const int8_t *)xc;
                        for (int64_t ow = lo; ow < hi; ow++)
                            a[ow] += (uint32_t)((xs[base + ow * sw] - zx) * wv);
                    } else {
                        for (int64_t ow = lo; ow < hi; ow++)
                            a[ow] += (uint32_t)((xc[base + ow * sw] - zx) * wv);
                    }
                }
            }
        struct axle_qgemm_epi e = j->e;
        e.za = e.zb = 0;
        e.za_row = NULL;
        if (e.bias_row != NULL)
            e.bias_row += c;
        if (e.mult_row != NULL)
            e.mult_row += c;
        e.ldy = HW;
        e.y = j->y + (size_t)((n * j->M + c) * HW) * j->esz;
        axle_qgemm_epilogue(1, HW, (int32_t *)acc, HW, &e);
    }
}

static size_t al64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static enum axle_status qc_run_io(struct axle_kctx *k, const struct qc_io *io)
{
    const struct axle_tensor *x = in_at(k, io->x), *w = in_at(k, io->w);
    const struct axle_tensor *xz = in_at(k, io->xz), *wz = in_at(k, io->wz);
    const struct axle_tensor *xs = in_at(k, io->xs), *ws = in_at(k, io->ws);
    const struct axle_tensor *ys = in_at(k, io->ys), *yz = in_at(k, io->yz);
    const struct axle_tensor *b = in_at(k, io->bias);
    const struct qc_state *s = k->state;
    struct axle_tensor *y = k->out[0];
    int64_t group = axle_node_attr_int(k->node, "group", 1);
    bool qlin = io->ys >= 0, w_pc, s_pc, dw;
    int n_threads = axle_pool_size(k->pool);
    struct axle_conv_attrs a;
    struct axle_conv_geom g;
    struct qc_job j;
    enum axle_status st;
    size_t off = 0, o_a = 0, o_rs = 0, o_za, o_mr, o_thr;
    int64_t n_items, n_pan;
    char *base;

    st = qc_infer_io(k, io);
    if (st != AXLE_OK)
        return st;
    st = axle_conv_attrs_read(k, io->op, x->rank - 2, &w->dims[2], &a);
    if (st == AXLE_OK)
        st = axle_conv_geom_make(k, io->op, &a, &x->dims[2], &g);
    if (st != AXLE_OK)
        return st;
    memset(&j, 0, sizeof(j));
    j.g = &g;
    j.x = x->data;
    j.x_s8 = x->dtype == AXLE_DTYPE_INT8;
    j.xzp = (uint8_t)axle_quant_zp_at(xz, 0);
    j.C = x->dims[1];
    j.M = w->dims[0];
    j.group = group;
    j.Cg = j.C / group;
    j.Mg = j.M / group;
    j.Kd = j.Cg * g.k_size;
    j.lda = axle_qgemm_a_stride(j.Kd);
    j.esz = y->dtype == AXLE_DTYPE_INT32 ? 4 : 1;
    j.y = y->data;
    if (x->dims[0] == 0 || j.M == 0 || g.out_size == 0)
        return AXLE_OK;
    if (s != NULL && (s->M != j.M || s->K != j.Kd))
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "%s: packed W does not match W", io->op);
    if (n_threads < 1)
        n_threads = 1;
    j.direct = g.k_size == 1;
    for (int i = 0; i < g.nsp && j.direct; i++)
        j.direct = g.s[i] == 1 && g.pb[i] == 0 && g.pe[i] == 0;
    w_pc = wz != NULL && axle_tensor_numel(wz) > 1;
    s_pc = qlin && axle_tensor_numel(ws) > 1;
    j.need_colsum = w_pc || axle_quant_zp_at(wz, 0) != 0;

    /* Work items: images x groups x chunks of output positions, chunks
     * made smaller when there would be too few items for the threads. */
    j.nq_max = g.out_size < QC_CHUNK ? g.out_size : QC_CHUNK;
    while (j.nq_max > AXLE_QGEMM_NR &&
           x->dims[0] * group * ((g.out_size + j.nq_max - 1) / j.nq_max) <
               2 * n_threads)
        j.nq_max -= AXLE_QGEMM_NR;
    j.n_chunks = (g.out_size + j.nq_max - 1) / j.nq_max;
    n_items = x->dims[0] * group * j.n_chunks;
    dw = group == j.C && j.Cg == 1 && j.Mg == 1 && g.nsp <= 2;
    n_pan = (j.nq_max + AXLE_QGEMM_NR - 1) / AXLE_QGEMM_NR;
    j.per_thread = al64((size_t)(j.Kd * j.nq_max)) +
                   al64((size_t)(axle_qgemm_panel_bytes(j.Kd) * n_pan)) +
                   al64((size_t)j.nq_max * 4) +
                   (size_t)axle_qgemm_block_c(QC_MC, j.nq_max) * 4;

    if (dw) {
        j.per_thread = al64((size_t)g.out_size * 4);
        n_items = x->dims[0] * j.C;
    }
    if (s == NULL) {
        o_a = off;
        off += al64((size_t)(j.M * j.lda) * 2);
        o_rs = off;
        off += al64((size_t)j.M * 4);
    }
    o_za = off;
    off += w_pc ? al64((size_t)j.M * 4) : 0;
    o_mr = off;
    off += s_pc ? al64((size_t)j.M * 4) : 0;
    o_thr = off;
    if (axle_size_mul(j.per_thread, (size_t)n_threads, &j.per_thread) ||
        axle_size_add(off, j.per_thread, &off))
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: scratch size overflows", io->op);
    j.per_thread /= (size_t)n_threads;
    base = axle_kctx_scratch(k, off);
    if (base == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: out of scratch memory", io->op);
    if (s != NULL) {
        j.a = s->a;
        j.rowsum = s->rowsum;
    } else {
        axle_qgemm_pack_a(w->data, j.Kd, j.M, j.Kd,
                          w->dtype == AXLE_DTYPE_INT8,
                          (int16_t *)(base + o_a), (int32_t *)(base + o_rs));
        j.a = (const int16_t *)(base + o_a);
        j.rowsum = (const int32_t *)(base + o_rs);
    }
    j.e.K = j.Kd;
    j.e.za = axle_quant_zp_at(wz, 0);
    j.e.zb = j.xzp;
    j.e.y_dtype = y->dtype;
    if (j.x_s8)
        j.e.zb = (int8_t)j.xzp;
    if (w_pc) {
        int32_t *za = (int32_t *)(base + o_za);
        for (int64_t m = 0; m < j.M; m++)
            za[m] = axle_quant_zp_at(wz, m);
        j.e.za_row = za;
    }
    if (b != NULL)
        j.e.bias_row = b->data;
    if (qlin) {
        float sx = axle_quant_scale_at(xs, 0), sy = axle_quant_scale_at(ys, 0);
        j.e.mult = sx * axle_quant_scale_at(ws, 0) / sy;
        j.e.yzp = axle_quant_zp_at(yz, 0);
        if (s_pc) {
            float *mr = (float *)(base + o_mr);
            for (int64_t m = 0; m < j.M; m++)
                mr[m] = sx * axle_quant_scale_at(ws, m) / sy;
            j.e.mult_row = mr;
        }
    }
    j.scratch = base + o_thr;
    axle_pool_parallel_for(n_threads > 1 ? k->pool : NULL, n_items, 1,
                           dw ? dw_task : qc_task, &j);
    return AXLE_OK;
}

/* ---- op tables ------------------------------------------------------------ */

static enum axle_status qlc_infer(struct axle_kctx *k)
{
    return qc_infer_io(k, &QLC);
}

static enum axle_status qlc_prepare(struct axle_kctx *k, void **state)
{
    return qc_prepare_io(k, state, &QLC);
}

static enum axle_status qlc_run(struct axle_kctx *k)
{
    return qc_run_io(k, &QLC);
}

static enum axle_status cvi_infer(struct axle_kctx *k)
{
    return qc_infer_io(k, &CVI);
}

static enum axle_status cvi_prepare(struct axle_kctx *k, void **state)
{
    return qc_prepare_io(k, state, &CVI);
}

static enum axle_status cvi_run(struct axle_kctx *k)
{
    return qc_run_io(k, &CVI);
}

const struct axle_op axle_op_qlinear_conv = {
    .name = "QLinearConv",
    .domain = "",
    .min_inputs = 8,
    .max_inputs = 9,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = qlc_infer,
    .run = qlc_run,
    .prepare = qlc_prepare,
    .release = qc_release,
};

const struct axle_op axle_op_conv_integer = {
    .name = "ConvInteger",
    .domain = "",
    .min_inputs = 2,
    .max_inputs = 4,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = cvi_infer,
    .run = cvi_run,
    .prepare = cvi_prepare,
    .release = qc_release,
};
