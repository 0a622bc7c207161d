/*
 * conv_transpose.c - ONNX ConvTranspose (1-18): group, strides, dilations,
 * pads, output_padding, output_shape and auto_pad, 1-D to 3-D (any number
 * of spatial dims), optional bias.
 *
 * Output size per spatial dim (ONNX docs):
 *   out = s * (in - 1) + output_padding + ((k - 1) * d + 1) - pad_begin
 *         - pad_end
 * With output_shape given, or auto_pad SAME_* (out = in * s), the pads come
 * from total = s * (in - 1) + output_padding + ((k - 1) * d + 1) - out:
 * SAME_UPPER puts the odd unit at the end, otherwise at the beginning.
 *
 * Float32: per image and group one GEMM col[Mg * k, in] = W_g^T x X_g, then
 * col2im scatters the columns into the output (one task per output channel,
 * so tasks never write the same element). Other dtypes: exact scatter loop.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"

struct ct_geom {
    struct axle_conv_geom g; /* in = X spatial, out = Y spatial */
    int64_t group;
};

static bool float_dtype(enum axle_dtype dt)
{
    return axle_kx_is_float(dt);
}

/* Pads and output sizes; in/k may be unknown (-1): then out is -1. */
static enum axle_status ct_geometry(struct axle_kctx *k, int nsp,
                                    const int64_t *in, const int64_t *kern,
                                    struct axle_conv_geom *g)
{
    const struct axle_node *n = k->node;
    struct axle_conv_attrs a;
    const int64_t *op, *os;
    int n_op, n_os;
    enum axle_status st;

    st = axle_conv_attrs_read(k, "ConvTranspose", nsp, kern, &a);
    if (st != AXLE_OK)
        return st;
    op = axle_node_attr_ints(n, "output_padding", &n_op);
    if (op != NULL && n_op != nsp)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConvTranspose: output_padding has %d values, "
                            "expected %d", n_op, nsp);
    os = axle_node_attr_ints(n, "output_shape", &n_os);
    if (os != NULL && n_os < nsp)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConvTranspose: output_shape has %d values, "
                            "expected %d", n_os, nsp);
    memset(g, 0, sizeof(*g));
    g->nsp = nsp;
    g->in_size = g->out_size = g->k_size = 1;
    for (int i = 0; i < nsp; i++) {
        int64_t opad = op != NULL ? op[i] : 0;
        int64_t dk = (a.k[i] - 1) * a.d[i] + 1, out, total, half;
        if (opad < 0 || (opad >= a.s[i] && opad >= a.d[i]))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "ConvTranspose: output_padding[%d] = %lld "
                                "must be below the stride or dilation", i,
                                (long long)opad);
        g->k[i] = a.k[i];
        g->s[i] = a.s[i];
        g->d[i] = a.d[i];
        g->in[i] = in[i];
        g->pb[i] = a.pads[i];
        g->pe[i] = a.pads[nsp + i];
        if (in[i] < 0 || a.k[i] < 0) {
            g->out[i] = -1;
            continue;
        }
        if (os != NULL || a.auto_pad == AXLE_PAD_SAME_UPPER ||
            a.auto_pad == AXLE_PAD_SAME_LOWER) {
            out = os != NULL ? os[n_os - nsp + i] : in[i] * a.s[i];
            if (out < 0)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "ConvTranspose: output_shape[%d] < 0",
                                    i);
            total = a.s[i] * (in[i] - 1) + opad + dk - out;
            /* Floor division (the spec's arithmetic is Python's): an
             * output_shape larger than the natural size gives negative
             * pads, the extra row going to the end. */
            half = total >= 0 ? total / 2 : -((-total + 1) / 2);
            if (a.auto_pad == AXLE_PAD_SAME_UPPER) {
                g->pb[i] = half;
                g->pe[i] = total - half;
            } else {
                g->pb[i] = total - half;
                g->pe[i] = half;
            }
        } else {
            if (a.auto_pad == AXLE_PAD_VALID)
                g->pb[i] = g->pe[i] = 0;
            out = a.s[i] * (in[i] - 1) + opad + dk - g->pb[i] - g->pe[i];
            if (out < 0)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "ConvTranspose: pads exceed the output "
                                    "in spatial dim %d", i);
        }
        g->out[i] = out;
        g->in_size *= in[i];
        g->out_size *= out;
        g->k_size *= a.k[i];
    }
    return AXLE_OK;
}

static enum axle_status ct_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    const struct axle_tensor *b = AXLE_IN(k, 2);
    struct axle_tensor *y = k->out[0];
    int64_t group = axle_node_attr_int(k->node, "group", 1);
    int rank = x->rank >= 0 ? x->rank : w->rank;
    int64_t in[AXLE_CONV_MAX_SP], kern[AXLE_CONV_MAX_SP];
    struct axle_conv_geom g;
    enum axle_status st;

    if ((x->dtype && !float_dtype(x->dtype)) ||
        (x->dtype && w->dtype && x->dtype != w->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConvTranspose: unsupported dtypes %s / %s",
                            axle_dtype_name(x->dtype),
                            axle_dtype_name(w->dtype));
    if (group < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConvTranspose: group = %lld", (long long)group);
    y->dtype = x->dtype ? x->dtype : w->dtype;
    if (rank < 0) {
        y->rank = -1;
        return AXLE_OK;
    }
    if (rank < 3 || rank > AXLE_MAX_RANK ||
        (x->rank >= 0 && w->rank >= 0 && x->rank != w->rank))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConvTranspose: X has rank %d and W rank %d",
                            x->rank, w->rank);
    if (x->rank >= 0 && w->rank >= 0 && x->dims[1] >= 0 && w->dims[0] >= 0 &&
        x->dims[1] != w->dims[0])
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConvTranspose: X has %lld channels, W %lld",
                            (long long)x->dims[1], (long long)w->dims[0]);
    if (x->rank >= 0 && x->dims[1] >= 0 && x->dims[1] % group != 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConvTranspose: %lld channels not divisible by "
                            "group %lld", (long long)x->dims[1],
                            (long long)group);
    for (int i = 0; i < rank - 2; i++) {
        in[i] = x->rank >= 0 && x->dims[2 + i] >= 0 ? x->dims[2 + i] : -1;
        kern[i] = w->rank >= 0 && w->dims[2 + i] >= 0 ? w->dims[2 + i] : -1;
    }
    st = ct_geometry(k, rank - 2, in, kern, &g);
    if (st != AXLE_OK)
        return st;
    y->rank = rank;
    y->dims[0] = x->rank >= 0 ? x->dims[0] : -1;
    y->dims[1] = w->rank >= 0 && w->dims[1] >= 0 ? w->dims[1] * group : -1;
    if (b != NULL && b->rank >= 0 &&
        (b->rank != 1 || (y->dims[1] >= 0 && b->dims[0] >= 0 &&
                          b->dims[0] != y->dims[1])))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConvTranspose: bias must be 1-D with one value "
                            "per output channel");
    for (int i = 0; i < rank - 2; i++)
        y->dims[2 + i] = g.out[i];
    return AXLE_OK;
}

struct col2im_job {
    const struct axle_conv_geom *g;
    const float *col; /* [Mg * k_size, in_size] */
    float *y;         /* Mg planes of out_size */
    const float *bias;
};

static void col2im_task(void *ctx, int64_t m0, int64_t m1, int tid)
{
    const struct col2im_job *j = ctx;
    const struct axle_conv_geom *g = j->g;
    int nsp = g->nsp;

    (void)tid;
    for (int64_t m = m0; m < m1; m++) {
        float *yp = j->y + m * g->out_size;
        float bv = j->bias != NULL ? j->bias[m] : 0.0f;
        for (int64_t i = 0; i < g->out_size; i++)
            yp[i] = bv;
        for (int64_t kk = 0; kk < g->k_size; kk++) {
            const float *cr = j->col + (m * g->k_size + kk) * g->in_size;
            int64_t kidx[AXLE_CONV_MAX_SP], kr = kk;
            int64_t ii[AXLE_CONV_MAX_SP];
            for (int i = nsp - 1; i >= 0; i--) {
                kidx[i] = kr % g->k[i];
                kr /= g->k[i];
                ii[i] = 0;
            }
            /* Walk input positions; the last dim is a strided run. */
            int64_t last = nsp - 1, W = g->in[last];
            int64_t off = kidx[last] * g->d[last] - g->pb[last];
            int64_t sw = g->s[last], OW = g->out[last];
            /* iw range with 0 <= iw * sw + off < OW */
            int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
            int64_t hi = OW - 1 - off < 0 ? 0 : (OW - 1 - off) / sw + 1;
            if (hi > W)
                hi = W;
            for (int64_t p = 0; p < g->in_size; p += W) {
                int64_t obase = 0;
                bool inside = true;
                for (int i = 0; i < last; i++) {
                    int64_t o = ii[i] * g->s[i] - g->pb[i] +
                                kidx[i] * g->d[i];
                    if (o < 0 || o >= g->out[i]) {
                        inside = false;
                        break;
                    }
                    obase = obase * g->out[i] + o;
                }
                if (inside) {
                    float *yr = yp + obase * OW;
                    const float *cp = cr + p;
                    for (int64_t iw = lo; iw < hi; iw++)
                        yr[iw * sw + off] += cp[iw];
                }
                for (int i = last - 1; i >= 0; i--) {
                    if (++ii[i] < g->in[i])
                        break;
                    ii[i] = 0;
                }
            }
        }
    }
}

static enum axle_status ct_run_f32(struct axle_kctx *k,
                                   const struct axle_conv_geom *g,
                                   int64_t group)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    const struct axle_tensor *b = AXLE_IN(k, 2);
    float *y = k->out[0]->data;
    int64_t N = x->dims[0], C = x->dims[1];
    int64_t Cg = C / group, Mg = w->dims[1], M = Mg * group;
    int64_t rows = Mg * g->k_size;
    size_t bytes;
    float *col;

    if (axle_size_mul((size_t)rows, (size_t)g->in_size, &bytes) ||
        axle_size_mul(bytes, sizeof(float), &bytes) ||
        (col = axle_kctx_scratch(k, bytes + 64)) == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "ConvTranspose: no memory for the column "
                            "buffer");
    for (int64_t in = 0; in < N; in++) {
        for (int64_t gi = 0; gi < group; gi++) {
            const float *xg = (const float *)x->data +
                              (in * C + gi * Cg) * g->in_size;
            const float *wg = (const float *)w->data + gi * Cg * rows;
            struct col2im_job j = {
                .g = g, .col = col,
                .y = y + (in * M + gi * Mg) * g->out_size,
                .bias = b != NULL ? (const float *)b->data + gi * Mg : NULL,
            };
            axle_sgemm(k->pool, true, false, rows, g->in_size, Cg, 1.0f, wg,
                       rows, xg, g->in_size, 0.0f, col, g->in_size, NULL);
            axle_pool_parallel_for(k->pool, Mg,
                                   1 + (1 << 15) / (rows / (Mg ? Mg : 1) *
                                                    g->in_size + 1),
                                   col2im_task, &j);
        }
    }
    return AXLE_OK;
}

static enum axle_status ct_run_generic(struct axle_kctx *k,
                                       const struct axle_conv_geom *g,
                                       int64_t group)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    const struct axle_tensor *b = AXLE_IN(k, 2);
    struct axle_tensor *y = k->out[0];
    enum axle_dtype dt = x->dtype;
    int64_t N = x->dims[0], C = x->dims[1];
    int64_t Cg = C / group, Mg = w->dims[1], M = Mg * group;
    int nsp = g->nsp;
    int64_t total = N * M * g->out_size;
    double *acc;
    size_t bytes;

    if (axle_size_mul((size_t)total, sizeof(double), &bytes) ||
        (acc = axle_kctx_scratch(k, bytes + 64)) == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "ConvTranspose: out of scratch memory");
    for (int64_t i = 0; i < total; i++)
        acc[i] = b != NULL ? axle_kx_load(dt, b->data,
                                          (i / g->out_size) % M)
                           : 0.0;
    for (int64_t in = 0; in < N; in++)
        for (int64_t c = 0; c < C; c++) {
            int64_t gi = c / Cg;
            for (int64_t p = 0; p < g->in_size; p++) {
                double xv = axle_kx_load(dt, x->data,
                                         (in * C + c) * g->in_size + p);
                int64_t ip[AXLE_CONV_MAX_SP], rem = p;
                for (int i = nsp - 1; i >= 0; i--) {
                    ip[i] = rem % g->in[i];
                    rem /= g->in[i];
                }
                for (int64_t m = 0; m < Mg; m++)
                    for (int64_t kk = 0; kk < g->k_size; kk++) {
                        int64_t kr = kk, o = 0;
                        bool inside = true;
                        int64_t kidx[AXLE_CONV_MAX_SP];
                        for (int i = nsp - 1; i >= 0; i--) {
                            kidx[i] = kr % g->k[i];
                            kr /= g->k[i];
                        }
                        for (int i = 0; i < nsp && inside; i++) {
                            int64_t oi = ip[i] * g->s[i] - g->pb[i] +
                                         kidx[i] * g->d[i];
                            inside = oi >= 0 && oi < g->out[i];
                            o = o * g->out[i] + oi;
                        }
                        if (!inside)
                            continue;
                        double wv = axle_kx_load(
                            dt, w->data, (c * Mg + m) * g->k_size + kk);
                        acc[(in * M + gi * Mg + m) * g->out_size + o] +=
                            xv * wv;
                    }
            }
        }
    for (int64_t i = 0; i < total; i++)
        axle_kx_store(dt, y->data, i, acc[i]);
    return AXLE_OK;
}

static enum axle_status ct_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *w = k->in[1];
    int64_t group = axle_node_attr_int(k->node, "group", 1);
    struct axle_conv_geom g;
    enum axle_status st;

    st = ct_geometry(k, x->rank - 2, &x->dims[2], &w->dims[2], &g);
    if (st != AXLE_OK)
        return st;
    if (axle_tensor_numel(k->out[0]) == 0)
        return AXLE_OK;
    if (g.in_size == 0 || x->dims[1] == 0) {
        /* Nothing to scatter: the output is the bias. */
        const struct axle_tensor *b = AXLE_IN(k, 2);
        struct axle_tensor *y = k->out[0];
        int64_t M = y->dims[1], total = axle_tensor_numel(y);
        for (int64_t i = 0; i < total; i++)
            axle_kx_store(y->dtype, y->data, i,
                          b != NULL ? axle_kx_load(b->dtype, b->data,
                                                   (i / g.out_size) % M)
                                    : 0.0);
        return AXLE_OK;
    }
    if (x->dtype == AXLE_DTYPE_FLOAT32)
        return ct_run_f32(k, &g, group);
    return ct_run_generic(k, &g, group);
}

const struct axle_op axle_op_conv_transpose = {
    .name = "ConvTranspose",
    .domain = "",
    .min_inputs = 2,
    .max_inputs = 3,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = ct_infer,
    .run = ct_run,
};
