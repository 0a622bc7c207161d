/*
 * resize.c - Resize (ONNX 10, 11, 13, 18) and Upsample (1, 7, 9).
 *
 * Output sizes: floor(in * scale) from scales, or `sizes` (18: with
 * keep_aspect_ratio_policy not_larger/not_smaller one scale for all `axes`
 * and out = round(scale * in)). Each output coordinate is mapped back to the
 * input by coordinate_transformation_mode (half_pixel, pytorch_half_pixel,
 * align_corners, asymmetric, tf_half_pixel_for_nn, tf_crop_and_resize with
 * roi and extrapolation_value, half_pixel_symmetric). Resize-10 and Upsample
 * use asymmetric coordinates and floor for nearest, as their specs do.
 *
 * Every resized axis gets a table of taps (input index, weight) per output
 * coordinate, built like ONNX's reference: nearest (nearest_mode),
 * linear (2 taps), cubic (4 taps, cubic_coeff_a), or with antialias = 1 the
 * filter stretched by 1/scale when downsampling; neighbours past the edge
 * repeat the edge, or get weight 0 with exclude_outside = 1 (the others
 * renormalized). Nearest is then a direct N-D gather of elements of any
 * type; linear/cubic run one separable 1-D pass per resized axis in float32
 * (float32 data) or float64 (other types, truncated back to integers the
 * way numpy's astype does, saturating), split over k->pool.
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/normred_util.h"

enum rz_mode { RZ_NEAREST, RZ_LINEAR, RZ_CUBIC };
enum rz_ctm {
    CTM_HALF_PIXEL,
    CTM_PYTORCH_HALF_PIXEL,
    CTM_ALIGN_CORNERS,
    CTM_ASYMMETRIC,
    CTM_TF_HALF_PIXEL_NN,
    CTM_TF_CROP_AND_RESIZE,
    CTM_HALF_PIXEL_SYMMETRIC,
};
enum rz_nearest { NM_ROUND_FLOOR, NM_ROUND_CEIL, NM_FLOOR, NM_CEIL };

struct rz {
    const char *op;
    enum rz_mode mode;
    enum rz_ctm ctm;
    enum rz_nearest nm;
    double cubic_a, extrap;
    bool exclude_outside, antialias;
    bool known; /* scales/sizes available */
    int rank;
    bool axis_on[AXLE_MAX_RANK];
    double scale[AXLE_MAX_RANK];
    int64_t out[AXLE_MAX_RANK];
    double roi_start[AXLE_MAX_RANK], roi_end[AXLE_MAX_RANK];
};

/* ---- attributes and sizes ------------------------------------------- */

static enum axle_status rz_attrs(struct axle_kctx *k, struct rz *p)
{
    const char *m = axle_node_attr_str(k->node, "mode", "nearest");
    bool legacy = strcmp(p->op, "Upsample") == 0 || k->opset < 11;

    if (strcmp(m, "nearest") == 0)
        p->mode = RZ_NEAREST;
    else if (strcmp(m, "linear") == 0 || strcmp(m, "bilinear") == 0)
        p->mode = RZ_LINEAR;
    else if (strcmp(m, "cubic") == 0 && !legacy)
        p->mode = RZ_CUBIC;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: unknown mode '%.40s'", p->op, m);
    p->ctm = CTM_ASYMMETRIC;
    p->nm = NM_FLOOR;
    p->cubic_a = -0.75;
    if (legacy)
        return AXLE_OK;

    static const struct { const char *name; enum rz_ctm v; } ctms[] = {
        {"half_pixel", CTM_HALF_PIXEL},
        {"pytorch_half_pixel", CTM_PYTORCH_HALF_PIXEL},
        {"align_corners", CTM_ALIGN_CORNERS},
        {"asymmetric", CTM_ASYMMETRIC},
        {"tf_half_pixel_for_nn", CTM_TF_HALF_PIXEL_NN},
        {"tf_crop_and_resize", CTM_TF_CROP_AND_RESIZE},
        {"half_pixel_symmetric", CTM_HALF_PIXEL_SYMMETRIC},
    };
    static const struct { const char *name; enum rz_nearest v; } nms[] = {
        {"round_prefer_floor", NM_ROUND_FLOOR},
        {"round_prefer_ceil", NM_ROUND_CEIL},
        {"floor", NM_FLOOR},
        {"ceil", NM_CEIL},
    };
    const char *c = axle_node_attr_str(k->node, "coordinate_transformation_mode",
                                       "half_pixel");
    const char *n = axle_node_attr_str(k->node, "nearest_mode",
                                       "round_prefer_floor");
    size_t i;
    for (i = 0; i < sizeof(ctms) / sizeof(ctms[0]); i++)
        if (strcmp(c, ctms[i].name) == 0)
            break;
    if (i == sizeof(ctms) / sizeof(ctms[0]))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: unknown coordinate_transformation_mode "
                            "'%.40s'", p->op, c);
    p->ctm = ctms[i].v;
    for (i = 0; i < sizeof(nms) / sizeof(nms[0]); i++)
        if (strcmp(n, nms[i].name) == 0)
            break;
    if (i == sizeof(nms) / sizeof(nms[0]))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: unknown nearest_mode '%.40s'", p->op, n);
    p->nm = nms[i].v;
    p->cubic_a = axle_node_attr_float(k->node, "cubic_coeff_a", -0.75f);
    p->exclude_outside =
        axle_node_attr_int(k->node, "exclude_outside", 0) != 0;
    p->extrap = axle_node_attr_float(k->node, "extrapolation_value", 0.0f);
    p->antialias = k->opset >= 18 &&
                   axle_node_attr_int(k->node, "antialias", 0) != 0;
    return AXLE_OK;
}

/* A present, non-empty optional input. */
static bool given(const struct axle_tensor *t)
{
    return t != NULL && !(t->rank == 1 && t->dims[0] == 0);
}

/* Fills p->scale / p->out / roi from the inputs; p->known = false when the
 * values are not available (load time). */
static enum axle_status rz_sizes(struct axle_kctx *k, struct rz *p)
{
    const struct axle_tensor *x = k->in[0];
    const struct axle_tensor *roi = NULL, *sc = NULL, *sz = NULL;
    int axes[AXLE_MAX_RANK], n_axes = 0, r = x->rank;
    bool up = strcmp(p->op, "Upsample") == 0;

    p->rank = r;
    p->known = true;
    if (up && k->opset < 7) {
        sc = NULL;
    } else if (up && k->opset < 9) {
        sc = NULL;
    } else if (up || k->opset < 11) {
        sc = AXLE_IN(k, 1);
        if (sc == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: scales input is missing", p->op);
    } else {
        roi = AXLE_IN(k, 1);
        sc = AXLE_IN(k, 2);
        sz = AXLE_IN(k, 3);
    }
    if (r < 0) {
        p->known = false;
        return AXLE_OK;
    }
    /* axes (18) */
    const int64_t *ax = k->opset >= 18 && !up
                            ? axle_node_attr_ints(k->node, "axes", &n_axes)
                            : NULL;
    memset(p->axis_on, 0, sizeof(p->axis_on));
    if (ax == NULL) {
        n_axes = r;
        for (int i = 0; i < r; i++)
            axes[i] = i;
    } else {
        if (n_axes > r)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: %d axes for rank %d", p->op, n_axes, r);
        for (int i = 0; i < n_axes; i++) {
            int64_t a = ax[i];
            if (a < -(int64_t)r || a >= r)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: axis %lld is out of range for rank "
                                    "%d", p->op, (long long)a, r);
            axes[i] = (int)(a < 0 ? a + r : a);
            if (p->axis_on[axes[i]])
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: axis %lld is repeated", p->op,
                                    (long long)a);
            p->axis_on[axes[i]] = true;
        }
    }
    for (int i = 0; i < r; i++) {
        p->scale[i] = 1.0;
        p->out[i] = x->dims[i];
        p->roi_start[i] = 0.0;
        p->roi_end[i] = 1.0;
    }

    double s[AXLE_MAX_RANK];
    if (up && k->opset < 7) {
        if (r != 4)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Upsample-1: input must be 4-D, got rank %d",
                                r);
        s[0] = s[1] = 1.0;
        s[2] = axle_node_attr_float(k->node, "height_scale", 1.0f);
        s[3] = axle_node_attr_float(k->node, "width_scale", 1.0f);
    } else if (up && k->opset < 9) {
        int n = 0;
        const float *f = axle_node_attr_floats(k->node, "scales", &n);
        if (n != r)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Upsample: %d scales for rank %d", n, r);
        for (int i = 0; i < r; i++)
            s[i] = f[i];
    } else {
        if (given(sc) && given(sz))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: only one of scales and sizes may be "
                                "given", p->op);
        const struct axle_tensor *t = given(sc) ? sc : given(sz) ? sz : NULL;
        if (t == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: neither scales nor sizes is given",
                                p->op);
        int64_t cnt = axle_tensor_numel(t);
        if (cnt >= 0 && cnt != n_axes)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: %s has %lld elements, expected %d",
                                p->op, t == sc ? "scales" : "sizes",
                                (long long)cnt, n_axes);
        if (t->data == NULL || cnt < 0) {
            p->known = false;
            for (int i = 0; i < r; i++)
                if (ax == NULL || p->axis_on[i])
                    p->out[i] = AXLE_DIM_UNKNOWN;
            return AXLE_OK;
        }
        if (t == sz) {
            if (t->dtype != AXLE_DTYPE_INT64)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: sizes must be int64", p->op);
            const char *pol = k->opset >= 18
                ? axle_node_attr_str(k->node, "keep_aspect_ratio_policy",
                                     "stretch")
                : "stretch";
            bool nl = strcmp(pol, "not_larger") == 0;
            bool ns = strcmp(pol, "not_smaller") == 0;
            if (!nl && !ns && strcmp(pol, "stretch") != 0)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: unknown keep_aspect_ratio_policy "
                                    "'%.40s'", p->op, pol);
            if (!axle_shape_known(x)) { /* load time: sizes, if stretched */
                p->known = false;
                for (int i = 0; i < n_axes; i++)
                    p->out[axes[i]] = nl || ns ? AXLE_DIM_UNKNOWN
                                      : ((const int64_t *)t->data)[i];
                return AXLE_OK;
            }
            double agg = nl ? INFINITY : -INFINITY;
            for (int i = 0; i < n_axes; i++) {
                int64_t v = ((const int64_t *)t->data)[i];
                int64_t in = x->dims[axes[i]];
                if (v < 0)
                    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                        "%s: sizes[%d] = %lld is negative",
                                        p->op, i, (long long)v);
                p->out[axes[i]] = v;
                p->scale[axes[i]] = in > 0 ? (double)v / (double)in : 1.0;
                double q = p->scale[axes[i]];
                agg = nl ? (q < agg ? q : agg) : (q > agg ? q : agg);
            }
            if (nl || ns) {
                for (int i = 0; i < n_axes; i++) {
                    p->scale[axes[i]] = agg;
                    p->out[axes[i]] = (int64_t)floor(
                        agg * (double)x->dims[axes[i]] + 0.5);
                }
            }
            goto roi;
        }
        if (!nr_is_float(t->dtype))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: scales must be float", p->op);
        for (int i = 0; i < r; i++)
            s[i] = 1.0;
        for (int i = 0; i < n_axes; i++)
            s[axes[i]] = axle_tensor_get_f64(t, i);
    }
    for (int i = 0; i < r; i++) {
        if (!(s[i] > 0) || !isfinite(s[i]))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: scale %g for axis %d must be positive",
                                p->op, s[i], i);
        p->scale[i] = s[i];
        if (x->dims[i] >= 0) {
            double o = floor((double)x->dims[i] * s[i]);
            if (o > (double)AXLE_TENSOR_MAX_ELEMS)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: output dim %d is too large", p->op,
                                    i);
            p->out[i] = (int64_t)o;
        } else if (s[i] != 1.0) {
            p->out[i] = AXLE_DIM_UNKNOWN;
        }
    }
roi:
    for (int i = 0; i < r; i++)
        if (p->out[i] > AXLE_TENSOR_MAX_ELEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: output dim %d is too large", p->op, i);
    if (p->ctm == CTM_TF_CROP_AND_RESIZE) {
        int64_t cnt = roi != NULL ? axle_tensor_numel(roi) : -1;
        if (roi == NULL || roi->data == NULL) {
            if (roi == NULL)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: tf_crop_and_resize needs roi",
                                    p->op);
            p->known = false;
            return AXLE_OK;
        }
        if (cnt != 2 * n_axes)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: roi has %lld elements, expected %d",
                                p->op, (long long)cnt, 2 * n_axes);
        for (int i = 0; i < n_axes; i++) {
            p->roi_start[axes[i]] = axle_tensor_get_f64(roi, i);
            p->roi_end[axes[i]] = axle_tensor_get_f64(roi, n_axes + i);
        }
    }
    return AXLE_OK;
}

static enum axle_status rz_infer(struct axle_kctx *k, const char *op)
{
    const struct axle_tensor *x = k->in[0];
    struct rz p = {.op = op};
    enum axle_status st;

    if (x->dtype == AXLE_DTYPE_STRING)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: string input is not supported", op);
    if ((st = rz_attrs(k, &p)) != AXLE_OK ||
        (st = rz_sizes(k, &p)) != AXLE_OK)
        return st;
    if (k->out[0] == NULL)
        return AXLE_OK;
    k->out[0]->dtype = x->dtype;
    k->out[0]->rank = x->rank;
    for (int i = 0; i < x->rank; i++)
        k->out[0]->dims[i] = p.out[i];
    return AXLE_OK;
}

/* ---- taps ------------------------------------------------------------ */

/* Input coordinate of output index i along axis d. */
static double rz_coord(const struct rz *p, int d, int64_t i, int64_t L_in)
{
    double s = p->scale[d], xr = (double)i;
    int64_t L_out = p->out[d];
    /* ONNX's reference measures the resized length as scale * length
     * (not the rounded output size) for align_corners and
     * pytorch_half_pixel; the conformance data follows it. */
    double Lf = s * (double)L_in;

    switch (p->ctm) {
    case CTM_HALF_PIXEL:
        return (xr + 0.5) / s - 0.5;
    case CTM_PYTORCH_HALF_PIXEL:
        return Lf > 1.0 ? (xr + 0.5) / s - 0.5 : 0.0;
    case CTM_ALIGN_CORNERS:
        return Lf == 1.0 ? 0.0 : xr * (double)(L_in - 1) / (Lf - 1.0);
    case CTM_ASYMMETRIC:
        return xr / s;
    case CTM_TF_HALF_PIXEL_NN:
        return (xr + 0.5) / s;
    case CTM_TF_CROP_AND_RESIZE: {
        double a = p->roi_start[d], b = p->roi_end[d];
        if (L_out > 1)
            return a * (double)(L_in - 1) +
                   xr * (b - a) * (double)(L_in - 1) / (double)(L_out - 1);
        return 0.5 * (a + b) * (double)(L_in - 1);
    }
    case CTM_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)L_out / (s * (double)L_in);
        double off = (double)L_in / 2.0 * (1.0 - adj);
        return off + (xr + 0.5) / s - 0.5;
    }
    }
    return 0.0;
}

static int64_t rz_nearest_idx(enum rz_nearest nm, double x)
{
    double f = floor(x);
    double frac = x - f;
    switch (nm) {
    case NM_ROUND_FLOOR: return (int64_t)(frac <= 0.5 ? f : f + 1);
    case NM_ROUND_CEIL: return (int64_t)(frac < 0.5 ? f : f + 1);
    case NM_FLOOR: return (int64_t)f;
    case NM_CEIL: return (int64_t)ceil(x);
    }
    return (int64_t)f;
}

static double cubic_w(double a, double x) /* x = |distance| */
{
    if (x <= 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* Taps per output coordinate of one axis. */
struct rz_axis {
    int n;           /* taps per output */
    int64_t *idx;    /* [L_out * n], clamped input indices */
    double *w;       /* [L_out * n] */
    bool *ext;       /* [L_out]: extrapolation value instead */
    bool identity;
};

/* Taps per output coordinate along axis d (0: too many to be sensible). */
static int rz_ntaps(const struct rz *p, int d)
{
    if (p->mode == RZ_NEAREST)
        return 1;
    double fs = p->scale[d] < 1.0 && p->antialias ? p->scale[d] : 1.0;
    double support = p->mode == RZ_LINEAR ? 1.0 : 2.0;
    /* antialias-18: start = floor(-support / fs) + 1, n = 2 - 2 * start */
    double n = 2.0 - 2.0 * (floor(-support / fs) + 1.0);
    return n > 65536.0 ? 0 : (int)n;
}

static void rz_build_axis(const struct rz *p, int d, int64_t L_in,
                          struct rz_axis *a)
{
    int64_t L_out = p->out[d];
    double fs = p->scale[d] < 1.0 && p->antialias ? p->scale[d] : 1.0;
    int n = a->n, start = 1 - n / 2;

    a->identity = L_out == L_in;
    for (int64_t o = 0; o < L_out; o++) {
        double x = rz_coord(p, d, o, L_in);
        int64_t *ix = a->idx + o * n;
        double *w = a->w + o * n;
        a->ext[o] = p->ctm == CTM_TF_CROP_AND_RESIZE &&
                    !(x >= 0.0 && x <= (double)(L_in - 1));
        /* Far outside, every tap lands on the edge anyway; keep the
         * integer conversions below defined. */
        double lim = (double)L_in + (double)n + 2.0;
        x = isnan(x) ? 0.0 : x < -lim ? -lim : x > lim ? lim : x;
        if (p->mode == RZ_NEAREST) {
            int64_t j = rz_nearest_idx(p->nm, x);
            ix[0] = j < 0 ? 0 : j >= L_in ? L_in - 1 : j;
            w[0] = 1.0;
        } else {
            double base = floor(x), t = x - base, sum = 0.0;
            for (int i = 0; i < n; i++) {
                double dist = fabs(((double)(start + i) - t) * fs);
                double wt = p->mode == RZ_LINEAR
                                ? (dist < 1.0 ? 1.0 - dist : 0.0)
                                : cubic_w(p->cubic_a, dist);
                int64_t j = (int64_t)base + start + i;
                if (p->exclude_outside && (j < 0 || j >= L_in))
                    wt = 0.0;
                ix[i] = j < 0 ? 0 : j >= L_in ? L_in - 1 : j;
                w[i] = wt;
                sum += wt;
            }
            if ((p->antialias || p->exclude_outside) && sum != 0.0)
                for (int i = 0; i < n; i++)
                    w[i] /= sum;
        }
        /* identity: all weight on input index o */
        double on = 0.0;
        for (int i = 0; i < n && a->identity; i++) {
            if (ix[i] == o)
                on += w[i];
            else if (w[i] != 0.0)
                a->identity = false;
        }
        if (a->ext[o] || on != 1.0)
            a->identity = false;
    }
}

/* ---- stores ---------------------------------------------------------- */

/* v into element i of a buffer of type dt (integers: truncated and
 * saturated; NaN -> 0). */
static void store_val(void *dst, enum axle_dtype dt, int64_t i, double v)
{
    double lo = 0, hi = 0;
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: ((float *)dst)[i] = (float)v; return;
    case AXLE_DTYPE_FLOAT64: ((double *)dst)[i] = v; return;
    case AXLE_DTYPE_FLOAT16:
        ((uint16_t *)dst)[i] = axle_f32_to_f16((float)v);
        return;
    case AXLE_DTYPE_BFLOAT16:
        ((uint16_t *)dst)[i] = axle_f32_to_bf16((float)v);
        return;
    case AXLE_DTYPE_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
    case AXLE_DTYPE_UINT8: lo = 0; hi = UINT8_MAX; break;
    case AXLE_DTYPE_BOOL: lo = 0; hi = 1; break;
    case AXLE_DTYPE_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
    case AXLE_DTYPE_UINT16: lo = 0; hi = UINT16_MAX; break;
    case AXLE_DTYPE_INT32: lo = INT32_MIN; hi = INT32_MAX; break;
    case AXLE_DTYPE_UINT32: lo = 0; hi = UINT32_MAX; break;
    case AXLE_DTYPE_INT64: lo = -9.2233720368547758e18; hi = 9.2233720368547748e18; break;
    case AXLE_DTYPE_UINT64: lo = 0; hi = 1.8446744073709550e19; break;
    default: return;
    }
    v = isnan(v) ? 0.0 : trunc(v);
    v = v < lo ? lo : v > hi ? hi : v;
    switch (dt) {
    case AXLE_DTYPE_INT8: ((int8_t *)dst)[i] = (int8_t)v; break;
    case AXLE_DTYPE_UINT8:
    case AXLE_DTYPE_BOOL: ((uint8_t *)dst)[i] = (uint8_t)v; break;
    case AXLE_DTYPE_INT16: ((int16_t *)dst)[i] = (int16_t)v; break;
    case AXLE_DTYPE_UINT16: ((uint16_t *)dst)[i] = (uint16_t)v; break;
    case AXLE_DTYPE_INT32: ((int32_t *)dst)[i] = (int32_t)v; break;
    case AXLE_DTYPE_UINT32: ((uint32_t *)dst)[i] = (uint32_t)v; break;
    case AXLE_DTYPE_INT64: ((int64_t *)dst)[i] = (int64_t)v; break;
    case AXLE_DTYPE_UINT64: ((uint64_t *)dst)[i] = (uint64_t)v; break;
    default: break;
    }
}

/* ---- nearest: N-D gather --------------------------------------------- */

struct nn_job {
    const struct rz *p;
    const struct axle_tensor *x;
    struct axle_tensor *y;
    struct rz_axis *ax;
    int64_t in_stride[AXLE_MAX_RANK];
    unsigned char ext_elem[16];
    size_t es;
};

static void nn_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct nn_job *j = ctx;
    int r = j->p->rank;
    int64_t Lo = j->p->out[r - 1];
    const struct rz_axis *last = &j->ax[r - 1];
    const char *xd = j->x->data;
    char *yd = j->y->data;
    size_t es = j->es;

    for (int64_t row = b; row < e; row++) {
        int64_t rem = row, off = 0;
        bool ext = false;
        for (int d = r - 2; d >= 0; d--) {
            int64_t o = rem % j->p->out[d];
            rem /= j->p->out[d];
            off += j->ax[d].idx[o] * j->in_stride[d];
            ext = ext || j->ax[d].ext[o];
        }
        char *y = yd + (size_t)(row * Lo) * es;
        for (int64_t o = 0; o < Lo; o++) {
            const void *src = ext || last->ext[o]
                                  ? (const void *)j->ext_elem
                                  : xd + (size_t)(off + last->idx[o]) * es;
            if (es == 4)
                memcpy(y + o * 4, src, 4);
            else
                memcpy(y + (size_t)o * es, src, es);
        }
    }
}

/* ---- linear / cubic: separable passes -------------------------------- */

struct pass_job {
    const void *src;
    void *dst;
    const struct rz_axis *a;
    int64_t L, Lo, inner;
    double ext;
};

#define PASS_IMPL(NAME, T)                                                  \
    static void NAME(void *ctx, int64_t b, int64_t e, int tid)              \
    {                                                                       \
        const struct pass_job *j = ctx;                                     \
        const T *src = j->src;                                              \
        T *dst = j->dst;                                                    \
        int n = j->a->n;                                                    \
        for (int64_t row = b; row < e; row++) {                             \
            int64_t outer = row / j->Lo, o = row % j->Lo;                   \
            T *y = dst + row * j->inner;                                    \
            const T *x = src + outer * j->L * j->inner;                     \
            const int64_t *ix = j->a->idx + o * n;                          \
            const double *w = j->a->w + o * n;                              \
            if (j->a->ext[o]) {                                             \
                for (int64_t i = 0; i < j->inner; i++)                      \
                    y[i] = (T)j->ext;                                       \
                continue;                                                   \
            }                                                               \
            if (j->inner == 1) {                                            \
                double acc = 0.0;                                           \
                for (int t = 0; t < n; t++)                                 \
                    acc += w[t] * (double)x[ix[t]];                         \
                y[0] = (T)acc;                                              \
                continue;                                                   \
            }                                                               \
            for (int64_t i = 0; i < j->inner; i++)                          \
                y[i] = 0;                                                   \
            for (int t = 0; t < n; t++) {                                   \
                T wt = (T)w[t];                                             \
                const T *xr = x + ix[t] * j->inner;                         \
                if (wt == 0)                                                \
                    continue;                                               \
                for (int64_t i = 0; i < j->inner; i++)                      \
                    y[i] += wt * xr[i];                                     \
            }                                                               \
        }                                                                   \
    }

PASS_IMPL(pass_f32, float)
PASS_IMPL(pass_f64, double)

static enum axle_status rz_run(struct axle_kctx *k, const char *op)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    struct rz p = {.op = op};
    struct rz_axis ax[AXLE_MAX_RANK];
    enum axle_status st;
    int r = x->rank;

    if ((st = rz_attrs(k, &p)) != AXLE_OK ||
        (st = rz_sizes(k, &p)) != AXLE_OK)
        return st;
    if (y == NULL)
        return AXLE_OK;
    int64_t n_out = axle_tensor_numel(y), n_in = axle_tensor_numel(x);
    if (n_out <= 0)
        return AXLE_OK;
    if (r == 0 || n_in == 0) {
        if (n_in == 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: cannot resize an empty input to a "
                                "non-empty output", op);
        memcpy(y->data, x->data, axle_dtype_size(x->dtype));
        return AXLE_OK;
    }

    /* tap tables in scratch */
    size_t need = 0;
    for (int d = 0; d < r; d++) {
        int n = rz_ntaps(&p, d);
        if (n == 0)
            return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                                "%s: antialias filter for scale %g is too "
                                "wide", op, p.scale[d]);
        need += (size_t)p.out[d] * (size_t)n * (sizeof(int64_t) + sizeof(double)) +
                (size_t)p.out[d] + 64;
    }
    bool f32 = x->dtype == AXLE_DTYPE_FLOAT32;
    size_t ebuf = f32 ? sizeof(float) : sizeof(double);
    int64_t max_mid = n_in > n_out ? n_in : n_out;
    if (p.mode != RZ_NEAREST) {
        /* ping-pong buffers large enough for any intermediate shape */
        int64_t cur[AXLE_MAX_RANK], big = n_in;
        memcpy(cur, x->dims, sizeof(cur));
        for (int d = r - 1; d >= 0; d--) {
            cur[d] = p.out[d];
            int64_t m = axle_shape_numel(r, cur);
            if (m < 0)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "%s: intermediate is too large", op);
            big = m > big ? m : big;
        }
        max_mid = big;
        need += 2 * (size_t)max_mid * ebuf + 128;
    }
    char *sp = axle_kctx_scratch(k, need);
    if (sp == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: no scratch memory", op);
    char *cur_p = sp;
    for (int d = 0; d < r; d++) {
        ax[d].n = rz_ntaps(&p, d);
        ax[d].idx = (int64_t *)cur_p;
        cur_p += (size_t)p.out[d] * (size_t)ax[d].n * sizeof(int64_t);
        ax[d].w = (double *)cur_p;
        cur_p += (size_t)p.out[d] * (size_t)ax[d].n * sizeof(double);
        ax[d].ext = (bool *)cur_p;
        cur_p += ((size_t)p.out[d] + 63) & ~(size_t)63;
        rz_build_axis(&p, d, x->dims[d], &ax[d]);
    }

    if (p.mode == RZ_NEAREST) {
        struct nn_job j = {.p = &p, .x = x, .y = y, .ax = ax};
        j.es = axle_dtype_size(x->dtype);
        if (j.es == 0 || j.es > sizeof(j.ext_elem))
            return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                                "%s: input type %s", op,
                                axle_dtype_name(x->dtype));
        store_val(j.ext_elem, x->dtype, 0, p.extrap);
        int64_t st_ = 1;
        for (int d = r - 1; d >= 0; d--) {
            j.in_stride[d] = st_;
            st_ *= x->dims[d];
        }
        int64_t rows = n_out / p.out[r - 1];
        axle_pool_parallel_for(k->pool, rows, nr_grain(p.out[r - 1]),
                               nn_task, &j);
        return AXLE_OK;
    }

    /* separable passes, innermost axis first */
    cur_p = (char *)(((uintptr_t)cur_p + 63) & ~(uintptr_t)63);
    void *buf[2] = {cur_p, cur_p + (size_t)max_mid * ebuf};
    int64_t cur[AXLE_MAX_RANK];
    const void *src = x->data;
    int which = 0, n_pass = 0, last_pass = -1;
    memcpy(cur, x->dims, sizeof(cur));
    if (!f32) {
        double *d = buf[0];
        for (int64_t i = 0; i < n_in; i++)
            d[i] = axle_tensor_get_f64(x, i);
        src = d;
        which = 1;
    }
    for (int d = r - 1; d >= 0; d--)
        if (!ax[d].identity)
            last_pass = d; /* passes run from r-1 down: d is the last */
    for (int d = r - 1; d >= 0; d--) {
        if (ax[d].identity)
            continue;
        struct pass_job j = {
            .src = src, .a = &ax[d], .L = cur[d], .Lo = p.out[d],
            .inner = nr_prod(cur, d + 1, r), .ext = p.extrap,
        };
        int64_t outer = nr_prod(cur, 0, d);
        j.dst = d == last_pass && f32 ? y->data : buf[which];
        axle_pool_parallel_for(k->pool, outer * j.Lo,
                               nr_grain(j.inner * ax[d].n),
                               f32 ? pass_f32 : pass_f64, &j);
        cur[d] = p.out[d];
        src = j.dst;
        which ^= 1;
        n_pass++;
    }
    if (f32) {
        if (n_pass == 0)
            memcpy(y->data, x->data, (size_t)n_in * sizeof(float));
        return AXLE_OK;
    }
    for (int64_t i = 0; i < n_out; i++)
        store_val(y->data, y->dtype, i, ((const double *)src)[i]);
    return AXLE_OK;
}

static enum axle_status resize_infer(struct axle_kctx *k)
{
    return rz_infer(k, "Resize");
}

static enum axle_status resize_run(struct axle_kctx *k)
{
    return rz_run(k, "Resize");
}

static enum axle_status upsample_infer(struct axle_kctx *k)
{
    return rz_infer(k, "Upsample");
}

static enum axle_status upsample_run(struct axle_kctx *k)
{
    return rz_run(k, "Upsample");
}

const struct axle_op axle_op_resize = {
    .name = "Resize", .domain = "",
    .min_inputs = 1, .max_inputs = 4, .min_outputs = 1, .max_outputs = 1,
    .infer = resize_infer, .run = resize_run,
};

const struct axle_op axle_op_upsample = {
    .name = "Upsample", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = upsample_infer, .run = upsample_run,
};
