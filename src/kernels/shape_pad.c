/*
 * shape_pad.c - operators whose output shape comes from a data input:
 * Expand, Tile and Pad (ONNX opsets 1-18; Pad's "wrap" mode from opset 19
 * too), every dtype including strings.
 *
 * Expand and Tile are strided copies (broadcast axes get stride 0; Tile
 * splits each axis into (repeat, dim)). Pad maps each output index of each
 * axis to a source index once (or -1 for the constant), then copies rows:
 * the interior of a row is one memcpy, the borders element by element.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "ir/tensor.h"
#include "kernels/shape_internal.h"

#define OUT0(k) ((k)->n_outputs > 0 ? (k)->out[0] : NULL)

/* ---- Expand ----------------------------------------------------------- */

static enum axle_status expand_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t s[AXLE_MAX_RANK];
    int n, r;
    enum axle_status st = axle_shape_read_dims(k, k->in[1], s, &n, "Expand");

    if (st != AXLE_OK || out == NULL)
        return st;
    out->dtype = x->dtype;
    if (x->rank < 0 || n == -2) {
        out->rank = -1;
        return AXLE_OK;
    }
    if (n == -1) {
        r = (int)s[0] > x->rank ? (int)s[0] : x->rank;
        out->rank = r;
        for (int i = 0; i < r; i++) {
            int xi = i - (r - x->rank);
            int64_t d = xi >= 0 ? x->dims[xi] : AXLE_DIM_UNKNOWN;
            /* A known input dim > 1 survives any valid shape value. */
            out->dims[i] = d > 1 ? d : AXLE_DIM_UNKNOWN;
        }
        return AXLE_OK;
    }
    r = n > x->rank ? n : x->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int xi = i - (r - x->rank), si = i - (r - n);
        int64_t a = xi >= 0 ? x->dims[xi] : 1;
        int64_t b = si >= 0 ? s[si] : 1;
        if (b < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Expand: shape value %lld is negative",
                                (long long)b);
        st = axle_shape_broadcast_dim(a, b, &out->dims[i], k->err, "Expand",
                                      i);
        if (st != AXLE_OK)
            return st;
    }
    if (axle_shape_known(out) && axle_tensor_numel(out) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Expand: output too large");
    return AXLE_OK;
}

static enum axle_status expand_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t xs[AXLE_MAX_RANK];
    struct axle_shape_copy c;
    int r;

    if (out == NULL)
        return AXLE_OK;
    r = out->rank;
    axle_shape_strides(x->rank, x->dims, xs);
    c.rank = r;
    for (int i = 0; i < r; i++) {
        int xi = i - (r - x->rank);
        c.dims[i] = out->dims[i];
        c.in_strides[i] = xi >= 0 && x->dims[xi] != 1 ? xs[xi] : 0;
    }
    axle_shape_strides(r, out->dims, c.out_strides);
    return axle_shape_copy_strided(k, &c, x->dtype, x->data, out->data);
}

const struct axle_op axle_op_expand = {
    .name = "Expand", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = expand_infer, .run = expand_run,
};

/* ---- Tile ------------------------------------------------------------- */

/* Repeats per axis; *avail = false when not readable yet. */
static enum axle_status tile_repeats(struct axle_kctx *k,
                                     const struct axle_tensor *x,
                                     int64_t *rep, bool *avail)
{
    *avail = true;
    for (int i = 0; i < x->rank; i++)
        rep[i] = 1;
    if (k->opset < 6) {
        /* Tile-1: scalar inputs `tiles` and `axis`. */
        const struct axle_tensor *t = AXLE_IN(k, 1), *a = AXLE_IN(k, 2);
        int ax;
        if (t == NULL || a == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Tile: inputs 'tiles' and 'axis' are "
                                "required");
        if (!axle_shape_avail(t) || !axle_shape_avail(a)) {
            *avail = false;
            return AXLE_OK;
        }
        if (axle_tensor_numel(t) != 1 || axle_tensor_numel(a) != 1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Tile: 'tiles' and 'axis' must be scalars");
        enum axle_status st = axle_shape_norm_axis(
            axle_tensor_get_i64(a, 0), x->rank, false, &ax, k->err, "Tile");
        if (st != AXLE_OK)
            return st;
        rep[ax] = axle_tensor_get_i64(t, 0);
    } else {
        const struct axle_tensor *t = AXLE_IN(k, 1);
        int n = 0;
        enum axle_status st;
        if (t == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Tile: input 'repeats' is required");
        st = axle_shape_check_int_input(t, k->err, "Tile: repeats");
        if (st != AXLE_OK)
            return st;
        int64_t len = axle_shape_len(t);
        if (len >= 0 && len != x->rank)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Tile: repeats has %lld values, input rank "
                                "is %d", (long long)len, x->rank);
        if (!axle_shape_avail(t)) {
            *avail = false;
            return AXLE_OK;
        }
        st = axle_shape_read_ints(t, rep, AXLE_MAX_RANK, &n, k->err,
                                  "Tile: repeats");
        if (st != AXLE_OK)
            return st;
    }
    for (int i = 0; i < x->rank; i++)
        if (rep[i] < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Tile: repeat %lld on axis %d is negative",
                                (long long)rep[i], i);
    return AXLE_OK;
}

static enum axle_status tile_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t rep[AXLE_MAX_RANK];
    bool avail;
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    out->dtype = x->dtype;
    if (x->rank < 0) {
        out->rank = -1;
        return AXLE_OK;
    }
    st = tile_repeats(k, x, rep, &avail);
    if (st != AXLE_OK)
        return st;
    out->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        if (!avail)
            out->dims[i] = x->dims[i] == 0 ? 0 : AXLE_DIM_UNKNOWN;
        else
            out->dims[i] = axle_shape_dim_mul(x->dims[i], rep[i]);
        if (avail && x->dims[i] > 0 && rep[i] > 0 && out->dims[i] < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Tile: output too large");
    }
    if (axle_shape_known(out) && axle_tensor_numel(out) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Tile: output too large");
    return AXLE_OK;
}

static enum axle_status tile_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    int64_t xs[AXLE_MAX_RANK], os[AXLE_MAX_RANK], rep[AXLE_MAX_RANK];
    struct axle_shape_copy c;
    bool avail;
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    st = tile_repeats(k, x, rep, &avail);
    if (st != AXLE_OK)
        return st;
    axle_shape_strides(x->rank, x->dims, xs);
    axle_shape_strides(out->rank, out->dims, os);
    c.rank = 2 * x->rank;
    for (int i = 0; i < x->rank; i++) {
        c.dims[2 * i] = rep[i];
        c.in_strides[2 * i] = 0;
        c.out_strides[2 * i] = x->dims[i] * os[i];
        c.dims[2 * i + 1] = x->dims[i];
        c.in_strides[2 * i + 1] = xs[i];
        c.out_strides[2 * i + 1] = os[i];
    }
    return axle_shape_copy_strided(k, &c, x->dtype, x->data, out->data);
}

const struct axle_op axle_op_tile = {
    .name = "Tile", .domain = "",
    .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = tile_infer, .run = tile_run,
};

/* ---- Pad -------------------------------------------------------------- */

enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

struct pad_args {
    enum pad_mode mode;
    bool avail;                     /* pads readable */
    int64_t begin[AXLE_MAX_RANK];   /* per input axis */
    int64_t end[AXLE_MAX_RANK];
    unsigned axes_mask;             /* axes pads apply to (when !avail) */
    bool axes_known;
};

static enum axle_status pad_mode(struct axle_kctx *k, enum pad_mode *m)
{
    const char *s = axle_node_attr_str(k->node, "mode", "constant");
    if (strcmp(s, "constant") == 0)
        *m = PAD_CONSTANT;
    else if (strcmp(s, "reflect") == 0)
        *m = PAD_REFLECT;
    else if (strcmp(s, "edge") == 0)
        *m = PAD_EDGE;
    else if (strcmp(s, "wrap") == 0)
        *m = PAD_WRAP;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Pad: unknown mode '%.40s'", s);
    return AXLE_OK;
}

static enum axle_status pad_args(struct axle_kctx *k,
                                 const struct axle_tensor *x,
                                 struct pad_args *p)
{
    int64_t pads[2 * AXLE_MAX_RANK], axes[AXLE_MAX_RANK];
    int n_pads = 0, n_axes = x->rank;
    enum axle_status st;

    memset(p, 0, sizeof(*p));
    st = pad_mode(k, &p->mode);
    if (st != AXLE_OK)
        return st;
    for (int i = 0; i < x->rank; i++)
        axes[i] = i;
    p->axes_known = true;
    if (k->opset < 11) {
        const char *name = k->opset < 2 ? "paddings" : "pads";
        const int64_t *a = axle_node_attr_ints(k->node, name, &n_pads);
        if (a == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Pad: attribute '%s' is required", name);
        if (n_pads > 2 * AXLE_MAX_RANK)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Pad: %d pads for rank %d", n_pads, x->rank);
        memcpy(pads, a, (size_t)n_pads * sizeof(int64_t));
        p->avail = true;
    } else {
        const struct axle_tensor *tp = AXLE_IN(k, 1), *ta = AXLE_IN(k, 3);
        if (tp == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Pad: input 'pads' is required");
        st = axle_shape_check_int_input(tp, k->err, "Pad: pads");
        if (st != AXLE_OK)
            return st;
        if (ta != NULL) {
            int n = 0;
            st = axle_shape_check_int_input(ta, k->err, "Pad: axes");
            if (st != AXLE_OK)
                return st;
            if (!axle_shape_avail(ta)) {
                p->axes_known = false;
            } else {
                st = axle_shape_read_ints(ta, axes, AXLE_MAX_RANK, &n, k->err,
                                          "Pad: axes");
                if (st != AXLE_OK)
                    return st;
                n_axes = n;
            }
        }
        p->avail = p->axes_known && axle_shape_avail(tp);
        if (p->avail) {
            st = axle_shape_read_ints(tp, pads, 2 * AXLE_MAX_RANK, &n_pads,
                                      k->err, "Pad: pads");
            if (st != AXLE_OK)
                return st;
        }
    }
    for (int i = 0; i < n_axes && p->axes_known; i++) {
        int ax;
        st = axle_shape_norm_axis(axes[i], x->rank, false, &ax, k->err,
                                  "Pad");
        if (st != AXLE_OK)
            return st;
        if (p->axes_mask & (1u << ax))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Pad: axis %d repeated", ax);
        p->axes_mask |= 1u << ax;
        axes[i] = ax;
    }
    if (!p->avail)
        return AXLE_OK;
    if (n_pads != 2 * n_axes)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Pad: %d pads, expected %d", n_pads, 2 * n_axes);
    for (int i = 0; i < n_axes; i++) {
        int ax = (int)axes[i];
        int64_t d = x->dims[ax];
        p->begin[ax] = pads[i];
        p->end[ax] = pads[i + n_axes];
        if (d >= 0 && d + p->begin[ax] + p->end[ax] < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Pad: pads %lld, %lld make axis %d negative",
                                (long long)p->begin[ax],
                                (long long)p->end[ax], ax);
        if (p->begin[ax] > AXLE_TENSOR_MAX_ELEMS ||
            p->end[ax] > AXLE_TENSOR_MAX_ELEMS ||
            p->begin[ax] < -AXLE_TENSOR_MAX_ELEMS ||
            p->end[ax] < -AXLE_TENSOR_MAX_ELEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Pad: pad on axis %d out of range", ax);
        if (p->mode != PAD_CONSTANT && d == 0 &&
            (p->begin[ax] > 0 || p->end[ax] > 0))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Pad: cannot %s-pad empty axis %d",
                                axle_node_attr_str(k->node, "mode", ""), ax);
    }
    return AXLE_OK;
}

static enum axle_status pad_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    const struct axle_tensor *cv = AXLE_IN(k, 2);
    struct pad_args p;
    enum axle_status st;

    if (k->opset >= 11 && cv != NULL && cv->dtype != AXLE_DTYPE_UNDEFINED &&
        x->dtype != AXLE_DTYPE_UNDEFINED && cv->dtype != x->dtype)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Pad: constant_value is %s, data is %s",
                            axle_dtype_name(cv->dtype),
                            axle_dtype_name(x->dtype));
    if (out == NULL)
        return AXLE_OK;
    out->dtype = x->dtype;
    if (x->rank < 0) {
        st = pad_mode(k, &p.mode);
        out->rank = -1;
        return st;
    }
    st = pad_args(k, x, &p);
    if (st != AXLE_OK)
        return st;
    out->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        int64_t d = x->dims[i];
        if (!p.avail) {
            bool padded = !p.axes_known || (p.axes_mask & (1u << i));
            out->dims[i] = padded ? AXLE_DIM_UNKNOWN : d;
        } else if (p.begin[i] == 0 && p.end[i] == 0) {
            out->dims[i] = d;
        } else {
            out->dims[i] = d >= 0 ? d + p.begin[i] + p.end[i]
                                  : AXLE_DIM_UNKNOWN;
        }
    }
    if (axle_shape_known(out) && axle_tensor_numel(out) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Pad: output too large");
    return AXLE_OK;
}

/* The constant as one element of dt (zero when none is given). */
static void pad_constant(struct axle_kctx *k, enum axle_dtype dt,
                         uint64_t *buf)
{
    *buf = 0;
    if (k->opset < 11) {
        double v = axle_node_attr_float(k->node, "value", 0.0f);
        switch (dt) {
        case AXLE_DTYPE_FLOAT32: {
            float f = (float)v;
            memcpy(buf, &f, 4);
            break;
        }
        case AXLE_DTYPE_FLOAT64:
            memcpy(buf, &v, 8);
            break;
        case AXLE_DTYPE_FLOAT16:
        case AXLE_DTYPE_BFLOAT16: {
            uint16_t h = dt == AXLE_DTYPE_FLOAT16 ? axle_f32_to_f16((float)v)
                                                  : axle_f32_to_bf16((float)v);
            memcpy(buf, &h, 2);
            break;
        }
        default: {
            /* Integers: the float attribute truncated; bytes are
             * little-endian, so the low bytes of an int64 fit any width. */
            int64_t i = v > -9.2e18 && v < 9.2e18 ? (int64_t)v : 0;
            memcpy(buf, &i, 8);
            break;
        }
        }
        return;
    }
    const struct axle_tensor *cv = AXLE_IN(k, 2);
    if (cv != NULL && cv->data != NULL && axle_tensor_numel(cv) >= 1 &&
        cv->dtype == dt && dt != AXLE_DTYPE_STRING)
        memcpy(buf, cv->data, axle_dtype_size(dt));
}

/* Source index for output position o of an axis (-1: the constant). */
static int64_t pad_map(enum pad_mode m, int64_t o, int64_t b, int64_t d)
{
    int64_t i = o - b;
    if (i >= 0 && i < d)
        return i;
    switch (m) {
    case PAD_EDGE:
        return i < 0 ? 0 : d - 1;
    case PAD_WRAP:
        return ((i % d) + d) % d;
    case PAD_REFLECT: {
        if (d == 1)
            return 0;
        int64_t period = 2 * (d - 1);
        i = i < 0 ? -i : i;
        i %= period;
        return i < d ? i : period - i;
    }
    default:
        return -1;
    }
}

struct pad_ctx {
    const struct axle_tensor *x;
    struct axle_tensor *out;
    int64_t *map[AXLE_MAX_RANK]; /* per axis, out dims long */
    int64_t xs[AXLE_MAX_RANK];
    int64_t b_last;              /* begin pad of the innermost axis */
    uint64_t cval;
    const char *cstr; /* the constant for STRING data */
    size_t es;
    bool strings;
    bool oom;
};

static void put_elem(struct pad_ctx *c, char *d, const char *s)
{
    if (c->strings) {
        char *v = axle_shape_strdup(s ? *(char *const *)s : c->cstr);
        if (v == NULL) {
            c->oom = true;
            return;
        }
        axle_free(*(char **)d);
        *(char **)d = v;
        return;
    }
    memcpy(d, s ? s : (const char *)&c->cval, c->es);
}

/* Output [from, to) of a row set to the constant. */
static void fill_const(struct pad_ctx *c, char *d, int64_t from, int64_t to)
{
    if (!c->strings && c->cval == 0) {
        memset(d + (size_t)from * c->es, 0, (size_t)(to - from) * c->es);
        return;
    }
    for (int64_t o = from; o < to && !c->oom; o++)
        put_elem(c, d + (size_t)o * c->es, NULL);
}

static void pad_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    struct pad_ctx *c = ctx;
    const struct axle_tensor *x = c->x;
    int last = x->rank - 1;
    int64_t od = c->out->dims[last], xd = x->dims[last], b = c->b_last;
    const int64_t *ml = c->map[last];
    int64_t lo = b > 0 ? b : 0, hi = b + xd < od ? b + xd : od;
    size_t es = c->es;

    if (hi < lo)
        hi = lo;
    for (int64_t row = begin; row < end && !c->oom; row++) {
        int64_t rem = row, soff = 0;
        bool konst = false;
        for (int a = last - 1; a >= 0; a--) {
            int64_t m = c->map[a][rem % c->out->dims[a]];
            rem /= c->out->dims[a];
            if (m < 0)
                konst = true;
            else
                soff += m * c->xs[a];
        }
        char *d = (char *)c->out->data + (size_t)(row * od) * es;
        const char *s = (const char *)x->data + (size_t)soff * es;
        if (konst) {
            fill_const(c, d, 0, od);
            continue;
        }
        if (c->strings) {
            for (int64_t o = 0; o < od && !c->oom; o++)
                put_elem(c, d + (size_t)o * es,
                         ml[o] < 0 ? NULL : s + (size_t)ml[o] * es);
            continue;
        }
        if (hi > lo)
            memcpy(d + (size_t)lo * es, s + (size_t)(lo - b) * es,
                   (size_t)(hi - lo) * es);
        for (int64_t o = 0; o < lo; o++)
            put_elem(c, d + (size_t)o * es,
                     ml[o] < 0 ? NULL : s + (size_t)ml[o] * es);
        for (int64_t o = hi; o < od; o++)
            put_elem(c, d + (size_t)o * es,
                     ml[o] < 0 ? NULL : s + (size_t)ml[o] * es);
    }
}

static enum axle_status pad_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *out = OUT0(k);
    struct pad_args p;
    struct pad_ctx c;
    int64_t n_map = 0, rows, n_out;
    int64_t *maps;
    enum axle_status st;

    if (out == NULL)
        return AXLE_OK;
    st = pad_args(k, x, &p);
    if (st != AXLE_OK)
        return st;
    if (!p.avail)
        return axle_err_set(k->err, AXLE_INTERNAL, "Pad: pads unknown");
    n_out = axle_tensor_numel(out);
    if (n_out == 0)
        return AXLE_OK;
    if (x->rank == 0)
        return axle_shape_copy_elems(k, x->dtype, x->data, out->data, 1);
    for (int a = 0; a < x->rank; a++)
        n_map += out->dims[a];
    maps = axle_kctx_scratch(k, (size_t)n_map * sizeof(int64_t));
    if (maps == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "Pad: out of scratch memory");
    memset(&c, 0, sizeof(c));
    c.x = x;
    c.out = out;
    c.es = axle_dtype_size(x->dtype);
    c.strings = x->dtype == AXLE_DTYPE_STRING;
    c.b_last = p.begin[x->rank - 1];
    pad_constant(k, x->dtype, &c.cval);
    c.cstr = "";
    if (c.strings && k->opset >= 11 && AXLE_IN(k, 2) != NULL &&
        AXLE_IN(k, 2)->data != NULL && axle_tensor_numel(AXLE_IN(k, 2)) >= 1 &&
        AXLE_IN(k, 2)->dtype == AXLE_DTYPE_STRING)
        c.cstr = *(char *const *)AXLE_IN(k, 2)->data;
    axle_shape_strides(x->rank, x->dims, c.xs);
    for (int a = 0; a < x->rank; a++) {
        c.map[a] = maps;
        for (int64_t o = 0; o < out->dims[a]; o++)
            maps[o] = pad_map(p.mode, o, p.begin[a], x->dims[a]);
        maps += out->dims[a];
    }
    rows = n_out / out->dims[x->rank - 1];
    if (c.strings || k->pool == NULL ||
        n_out * (int64_t)c.es < ((int64_t)64 << 10)) {
        pad_rows(&c, 0, rows, 0);
    } else {
        int64_t row_bytes = out->dims[x->rank - 1] * (int64_t)c.es;
        int64_t grain = ((int64_t)32 << 10) / (row_bytes > 0 ? row_bytes : 1);
        axle_pool_parallel_for(k->pool, rows, grain > 0 ? grain : 1, pad_rows,
                               &c);
    }
    if (c.oom)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "Pad: out of memory copying strings");
    return AXLE_OK;
}

const struct axle_op axle_op_pad = {
    .name = "Pad", .domain = "",
    .min_inputs = 1, .max_inputs = 4, .min_outputs = 1, .max_outputs = 1,
    .infer = pad_infer, .run = pad_run,
};
