/*
 * col2im.c - opset 18's Col2Im and CenterCropPad.
 *
 * Col2Im-18: input (N, C * prod(block_shape), L), inputs image_shape and
 * block_shape (1-D int, one value per spatial dim, 1..6 dims), attributes
 * dilations (1), pads (0; begins then ends) and strides (1). Every sliding
 * block position adds its column into the (N, C, *image_shape) output,
 * overlapping blocks summing and values that fall into the padding being
 * dropped. L must equal the number of block positions, prod over d of
 * (image[d] + pad_begin[d] + pad_end[d] - dilation[d] * (block[d] - 1) - 1)
 * / stride[d] + 1, each factor >= 1. float32/float64 accumulate natively,
 * float16/bfloat16 and the integer types round after each addition like
 * numpy's in-place add in the reference. The output shape needs the values
 * of image_shape and block_shape, so it is unknown at load unless they are
 * constants.
 *
 * CenterCropPad-18: input and a `shape` input giving the wanted size of
 * each axis of the `axes` attribute (all axes when absent; negative axes
 * count from the end; repeats refused). An axis longer than wanted is
 * cropped to its centre, a shorter one zero-padded around it; when the
 * difference is odd the extra element is cropped from / padded at the end
 * (start offset floor(diff / 2)), as ONNX's reference does. Every dtype but
 * string.
 */
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/tensor.h"
#include "kernels/elementwise.h"
#include "kernels/shape_internal.h"

/* ---- Col2Im ------------------------------------------------------------ */

#define C2I_MAX_DIMS (AXLE_MAX_RANK - 2)
/* Bound on each block, dilation, stride and pad value so that the block
 * count arithmetic cannot overflow int64. */
#define C2I_MAX_VAL ((int64_t)1 << 31)

struct c2i_geom {
    int nd;
    int64_t img[C2I_MAX_DIMS], blk[C2I_MAX_DIMS];
    int64_t dil[C2I_MAX_DIMS], pb[C2I_MAX_DIMS], pe[C2I_MAX_DIMS];
    int64_t str[C2I_MAX_DIMS], cols[C2I_MAX_DIMS];
    int64_t kprod, lprod, iprod;
};

/* Reads an ints attribute of nd (or 2*nd) values into v, def when
 * absent. */
static enum axle_status c2i_attr(struct axle_kctx *k, const char *name,
                                 int n, int64_t def, int64_t lo,
                                 int64_t *v)
{
    const struct axle_attr *a = axle_node_attr(k->node, name);

    for (int i = 0; i < n; i++)
        v[i] = def;
    if (a == NULL)
        return AXLE_OK;
    if (a->type != AXLE_ATTR_INTS || a->n != n)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Col2Im: %s must list %d values", name, n);
    for (int i = 0; i < n; i++) {
        if (a->ints[i] < lo || a->ints[i] > C2I_MAX_VAL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Col2Im: %s[%d] = %lld is out of range",
                                name, i, (long long)a->ints[i]);
        v[i] = a->ints[i];
    }
    return AXLE_OK;
}

/* Attributes of an nd-dimensional Col2Im into g (nd already set). */
static enum axle_status c2i_attrs(struct axle_kctx *k, struct c2i_geom *g)
{
    int64_t pads[2 * C2I_MAX_DIMS];
    enum axle_status st;

    st = c2i_attr(k, "dilations", g->nd, 1, 1, g->dil);
    if (st == AXLE_OK)
        st = c2i_attr(k, "strides", g->nd, 1, 1, g->str);
    if (st == AXLE_OK)
        st = c2i_attr(k, "pads", 2 * g->nd, 0, 0, pads);
    if (st != AXLE_OK)
        return st;
    for (int i = 0; i < g->nd; i++) {
        g->pb[i] = pads[i];
        g->pe[i] = pads[g->nd + i];
    }
    return AXLE_OK;
}

/* Checks the image and block values in g and derives the block counts. */
static enum axle_status c2i_geometry(struct axle_kctx *k, struct c2i_geom *g)
{
    g->kprod = 1;
    g->lprod = 1;
    g->iprod = 1;
    for (int i = 0; i < g->nd; i++) {
        int64_t span, n;
        if (g->img[i] <= 0 || g->img[i] > C2I_MAX_VAL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Col2Im: image_shape[%d] = %lld must be "
                                "positive", i, (long long)g->img[i]);
        if (g->blk[i] <= 0 || g->blk[i] > C2I_MAX_VAL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Col2Im: block_shape[%d] = %lld must be "
                                "positive", i, (long long)g->blk[i]);
        span = g->dil[i] * (g->blk[i] - 1) + 1;
        n = g->img[i] + g->pb[i] + g->pe[i] - span;
        if (n < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Col2Im: block of %lld (dilation %lld) does "
                                "not fit image dim %d of %lld with pads",
                                (long long)g->blk[i], (long long)g->dil[i],
                                i, (long long)g->img[i]);
        g->cols[i] = n / g->str[i] + 1;
        g->kprod *= g->blk[i];
        g->lprod *= g->cols[i];
        g->iprod *= g->img[i];
        if (g->kprod > AXLE_TENSOR_MAX_ELEMS ||
            g->lprod > AXLE_TENSOR_MAX_ELEMS ||
            g->iprod > AXLE_TENSOR_MAX_ELEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Col2Im: sizes too large");
    }
    return AXLE_OK;
}

static enum axle_status c2i_check_input(struct axle_kctx *k,
                                        const struct axle_tensor *t,
                                        const char *what)
{
    if (t == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Col2Im: missing %s", what);
    if (t->dtype != AXLE_DTYPE_UNDEFINED && t->dtype != AXLE_DTYPE_INT64)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Col2Im: %s must be int64, got %s", what,
                            axle_dtype_name(t->dtype));
    return AXLE_OK;
}

static enum axle_status col2im_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = k->out[0];
    int64_t img[AXLE_MAX_RANK], blk[AXLE_MAX_RANK];
    int ni, nb;
    struct c2i_geom g;
    enum axle_status st;

    st = c2i_check_input(k, AXLE_IN(k, 1), "image_shape");
    if (st == AXLE_OK)
        st = c2i_check_input(k, AXLE_IN(k, 2), "block_shape");
    if (st != AXLE_OK)
        return st;
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !axle_dtype_is_numeric(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Col2Im: unsupported type %s",
                            axle_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank != 3)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Col2Im: input must be 3-D (N, C*prod(block), "
                            "L), got rank %d", x->rank);
    st = axle_shape_read_dims(k, k->in[1], img, &ni, "Col2Im");
    if (st == AXLE_OK)
        st = axle_shape_read_dims(k, k->in[2], blk, &nb, "Col2Im");
    if (st != AXLE_OK)
        return st;
    out->dtype = x->dtype;
    /* Number of spatial dims: a length read now or known from the shape. */
    g.nd = ni >= 0 ? ni : ni == -1 ? (int)img[0] : nb >= 0 ? nb
                                                 : nb == -1 ? (int)blk[0]
                                                            : -1;
    if (g.nd < 0) {
        out->rank = -1;
        return AXLE_OK;
    }
    if (g.nd < 1 || g.nd > C2I_MAX_DIMS)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Col2Im: %d spatial dims, expected 1..%d", g.nd,
                            C2I_MAX_DIMS);
    if ((ni >= 0 && ni != g.nd) || (ni == -1 && img[0] != g.nd) ||
        (nb >= 0 && nb != g.nd) || (nb == -1 && blk[0] != g.nd))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Col2Im: image_shape and block_shape must have "
                            "the same length");
    st = c2i_attrs(k, &g);
    if (st != AXLE_OK)
        return st;
    out->rank = 2 + g.nd;
    out->dims[0] = x->rank == 3 ? x->dims[0] : AXLE_DIM_UNKNOWN;
    out->dims[1] = AXLE_DIM_UNKNOWN;
    for (int i = 0; i < g.nd; i++)
        out->dims[2 + i] = ni >= 0 ? img[i] : AXLE_DIM_UNKNOWN;
    if (ni < 0 || nb < 0)
        return AXLE_OK;
    memcpy(g.img, img, sizeof(int64_t) * (size_t)g.nd);
    memcpy(g.blk, blk, sizeof(int64_t) * (size_t)g.nd);
    st = c2i_geometry(k, &g);
    if (st != AXLE_OK || x->rank != 3)
        return st;
    if (axle_dim_known(x->dims[1])) {
        if (x->dims[1] % g.kprod != 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Col2Im: input dim 1 (%lld) is not a "
                                "multiple of the block size %lld",
                                (long long)x->dims[1], (long long)g.kprod);
        out->dims[1] = x->dims[1] / g.kprod;
    }
    if (axle_dim_known(x->dims[2]) && x->dims[2] != g.lprod)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Col2Im: input dim 2 is %lld but the image and "
                            "block shapes give %lld block positions",
                            (long long)x->dims[2], (long long)g.lprod);
    if (axle_shape_known(out) && axle_tensor_numel(out) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Col2Im: output too large");
    return AXLE_OK;
}

struct c2i_ctx {
    const struct c2i_geom *g;
    enum axle_dtype dt;
    size_t es;
    const char *x;
    char *o;
    int64_t istr[C2I_MAX_DIMS]; /* image strides */
};

/* One (n, c) plane: x holds kprod rows of lprod columns, o the image. */
#define C2I_PLANE(T)                                                          \
    {                                                                         \
        const T *x = (const T *)c->x + p * g->kprod * g->lprod;               \
        T *o = (T *)c->o + p * g->iprod;                                      \
        for (int64_t q = 0; q < g->iprod; q++)                                \
            o[q] = 0;                                                         \
        for (int64_t kk = 0; kk < g->kprod; kk++, x += g->lprod) {            \
            int64_t off[C2I_MAX_DIMS], idx[C2I_MAX_DIMS], r = kk;             \
            for (int d = nd - 1; d >= 0; d--) {                               \
                off[d] = (r % g->blk[d]) * g->dil[d] - g->pb[d];              \
                r /= g->blk[d];                                               \
                idx[d] = 0;                                                   \
            }                                                                 \
            for (int64_t l = 0; l < g->lprod; l += last) {                    \
                int64_t base = 0;                                             \
                bool in = true;                                               \
                for (int d = 0; d < nd - 1 && in; d++) {                      \
                    int64_t v = idx[d] * g->str[d] + off[d];                  \
                    in = v >= 0 && v < g->img[d];                             \
                    base += v * c->istr[d];                                   \
                }                                                             \
                if (in) {                                                     \
                    int64_t s = g->str[nd - 1], o0 = off[nd - 1];             \
                    int64_t w = g->img[nd - 1];                               \
                    for (int64_t j = 0; j < last; j++) {                      \
                        int64_t v = j * s + o0;                               \
                        if (v >= 0 && v < w)                                  \
                            ADD(o, base + v, x, l + j);                       \
                    }                                                         \
                }                                                             \
                for (int d = nd - 2; d >= 0; d--) {                           \
                    if (++idx[d] < g->cols[d])                                \
                        break;                                                \
                    idx[d] = 0;                                               \
                }                                                             \
            }                                                                 \
        }                                                                     \
    }

static void c2i_chunk(void *arg, int64_t b, int64_t e, int tid)
{
    const struct c2i_ctx *c = arg;
    const struct c2i_geom *g = c->g;
    int nd = g->nd;
    int64_t last = g->cols[nd - 1];
    (void)tid;

    for (int64_t p = b; p < e; p++) {
        switch (c->dt) {
#define ADD(o, oi, x, xi) (o)[oi] += (x)[xi]
        case AXLE_DTYPE_FLOAT32: C2I_PLANE(float) break;
        case AXLE_DTYPE_FLOAT64: C2I_PLANE(double) break;
#undef ADD
        default: {
            /* Rounds after each addition, in the output's type. */
            int64_t xb = p * g->kprod * g->lprod, ob = p * g->iprod;
            const char *x0 = c->x;
            char *o0 = c->o;
            bool flt = axle_dtype_is_float(c->dt);
            memset(o0 + ob * (int64_t)c->es, 0, (size_t)g->iprod * c->es);
            for (int64_t kk = 0; kk < g->kprod; kk++, xb += g->lprod) {
                int64_t off[C2I_MAX_DIMS], idx[C2I_MAX_DIMS], r = kk;
                for (int d = nd - 1; d >= 0; d--) {
                    off[d] = (r % g->blk[d]) * g->dil[d] - g->pb[d];
                    r /= g->blk[d];
                    idx[d] = 0;
                }
                for (int64_t l = 0; l < g->lprod; l += last) {
                    int64_t base = ob;
                    bool in = true;
                    for (int d = 0; d < nd - 1 && in; d++) {
                        int64_t v = idx[d] * g->str[d] + off[d];
                        in = v >= 0 && v < g->img[d];
                        base += v * c->istr[d];
                    }
                    for (int64_t j = 0; in && j < last; j++) {
                        int64_t v = j * g->str[nd - 1] + off[nd - 1];
                        if (v < 0 || v >= g->img[nd - 1])
                            continue;
                        if (flt)
                            axle_ew_st_f(o0, c->dt, base + v,
                                         axle_ew_ld_f(o0, c->dt, base + v) +
                                             axle_ew_ld_f(x0, c->dt,
                                                          xb + l + j));
                        else
                            axle_ew_st_i(
                                o0, c->dt, base + v,
                                (int64_t)((uint64_t)axle_ew_ld_i(
                                              o0, c->dt, base + v) +
                                          (uint64_t)axle_ew_ld_i(
                                              x0, c->dt, xb + l + j)));
                    }
                    for (int d = nd - 2; d >= 0; d--) {
                        if (++idx[d] < g->cols[d])
                            break;
                        idx[d] = 0;
                    }
                }
            }
            break;
        }
        }
    }
}

static enum axle_status col2im_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = k->out[0];
    struct c2i_geom g;
    struct c2i_ctx c = {.g = &g, .dt = x->dtype,
                        .es = axle_dtype_size(x->dtype), .x = x->data,
                        .o = out->data};
    int64_t planes;
    enum axle_status st;

    /* infer checked everything against the concrete values already. */
    g.nd = out->rank - 2;
    for (int i = 0; i < g.nd; i++) {
        g.img[i] = axle_tensor_get_i64(k->in[1], i);
        g.blk[i] = axle_tensor_get_i64(k->in[2], i);
    }
    st = c2i_attrs(k, &g);
    if (st == AXLE_OK)
        st = c2i_geometry(k, &g);
    if (st != AXLE_OK)
        return st;
    c.istr[g.nd - 1] = 1;
    for (int i = g.nd - 2; i >= 0; i--)
        c.istr[i] = c.istr[i + 1] * g.img[i + 1];
    planes = out->dims[0] * out->dims[1];
    if (planes <= 0 || g.iprod <= 0)
        return AXLE_OK;
    axle_pool_parallel_for(k->pool, planes,
                           1 + AXLE_EW_GRAIN_CHEAP / (g.kprod * g.lprod),
                           c2i_chunk, &c);
    return AXLE_OK;
}

const struct axle_op axle_op_col2im = {
    .name = "Col2Im", .domain = "", .min_inputs = 3, .max_inputs = 3,
    .min_outputs = 1, .max_outputs = 1, .infer = col2im_infer,
    .run = col2im_run,
};

/* ---- CenterCropPad ----------------------------------------------------- */

/* Per axis of x: the wanted size in want[] (-1: unknown yet), or the
 * input's size for axes not listed. Returns the axes found via *n_axes. */
static enum axle_status ccp_axes(struct axle_kctx *k, int rank, int *map,
                                 int *n_axes)
{
    const struct axle_attr *a = axle_node_attr(k->node, "axes");

    for (int i = 0; i < rank; i++)
        map[i] = -1;
    if (a == NULL) {
        for (int i = 0; i < rank; i++)
            map[i] = i;
        *n_axes = rank;
        return AXLE_OK;
    }
    if (a->type != AXLE_ATTR_INTS || a->n > rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CenterCropPad: axes must list at most %d axes",
                            rank);
    for (int j = 0; j < a->n; j++) {
        int ax;
        enum axle_status st = axle_shape_norm_axis(a->ints[j], rank, false,
                                                   &ax, k->err,
                                                   "CenterCropPad");
        if (st != AXLE_OK)
            return st;
        if (map[ax] >= 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "CenterCropPad: axis %lld repeated in axes",
                                (long long)a->ints[j]);
        map[ax] = j;
    }
    *n_axes = a->n;
    return AXLE_OK;
}

static enum axle_status ccp_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *s = AXLE_IN(k, 1);
    struct axle_tensor *out = k->out[0];
    int64_t want[AXLE_MAX_RANK];
    int map[AXLE_MAX_RANK], n_axes = 0, n;
    enum axle_status st;

    if (s == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CenterCropPad: missing shape input");
    if (x->dtype == AXLE_DTYPE_STRING)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CenterCropPad: string tensors are not "
                            "supported");
    st = axle_shape_read_dims(k, s, want, &n, "CenterCropPad");
    if (st != AXLE_OK)
        return st;
    out->dtype = x->dtype;
    if (x->rank < 0) {
        out->rank = -1;
        return AXLE_OK;
    }
    st = ccp_axes(k, x->rank, map, &n_axes);
    if (st != AXLE_OK)
        return st;
    if ((n >= 0 && n != n_axes) || (n == -1 && want[0] != n_axes))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CenterCropPad: shape has %lld values for %d "
                            "axes", (long long)(n >= 0 ? n : want[0]),
                            n_axes);
    out->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        if (map[i] < 0) {
            out->dims[i] = x->dims[i];
        } else if (n < 0) {
            out->dims[i] = AXLE_DIM_UNKNOWN;
        } else if (want[map[i]] < 0) {
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "CenterCropPad: shape value %lld is "
                                "negative", (long long)want[map[i]]);
        } else {
            out->dims[i] = want[map[i]];
        }
    }
    if (axle_shape_known(out) && axle_tensor_numel(out) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CenterCropPad: output too large");
    return AXLE_OK;
}

/* Copies the overlap of input and output: per axis the input starts at
 * floor(crop / 2) and the output at floor(pad / 2); the rest is zero. */
static enum axle_status ccp_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = k->out[0];
    int64_t xs[AXLE_MAX_RANK], os[AXLE_MAX_RANK], nb;
    int64_t xoff = 0, ooff = 0;
    size_t es = axle_dtype_size(x->dtype);
    struct axle_shape_copy c;
    int r = x->rank;

    nb = axle_tensor_nbytes(out);
    if (nb <= 0)
        return AXLE_OK;
    memset(out->data, 0, (size_t)nb);
    axle_shape_strides(r, x->dims, xs);
    axle_shape_strides(r, out->dims, os);
    c.rank = r;
    for (int i = 0; i < r; i++) {
        int64_t xd = x->dims[i], od = out->dims[i];
        if (xd >= od) {
            xoff += (xd - od) / 2 * xs[i];
            c.dims[i] = od;
        } else {
            ooff += (od - xd) / 2 * os[i];
            c.dims[i] = xd;
        }
        c.in_strides[i] = xs[i];
        c.out_strides[i] = os[i];
    }
    if (axle_shape_numel(r, c.dims) <= 0)
        return AXLE_OK;
    return axle_shape_copy_strided(k, &c, x->dtype,
                                   (const char *)x->data + xoff * (int64_t)es,
                                   (char *)out->data + ooff * (int64_t)es);
}

const struct axle_op axle_op_center_crop_pad = {
    .name = "CenterCropPad", .domain = "", .min_inputs = 2, .max_inputs = 2,
    .min_outputs = 1, .max_outputs = 1, .infer = ccp_infer, .run = ccp_run,
};
