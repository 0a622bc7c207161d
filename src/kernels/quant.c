/*
 * quant.c - QuantizeLinear (10, 13), DequantizeLinear (10, 13) and
 * DynamicQuantizeLinear (11), plus the parameter checks every quantized
 * op shares (quant.h).
 *
 * Opset 10 takes per-tensor scale and zero point only; 13 adds per-axis
 * (1-D scale of dims[axis] elements, `axis` default 1, negative counts
 * from the back). Quantize: y = saturate(round_half_even(x / scale) + zp)
 * to uint8 (the default without a zero point) or int8; x is float32 (or
 * float16/bfloat16 with a scale of the same type, as opset 19 has it) or
 * int32 (divided in double, as numpy does). NaN quantizes to the zero
 * point. Dequantize: y = (x - zp) * scale from int8/uint8/int32, in the
 * scale's float type. DynamicQuantizeLinear: uint8 with the range [min(x,
 * 0), max(x, 0)] mapped onto [0, 255]; an all-zero input (empty range)
 * gets scale 1 and zero point 0 rather than the division by zero, so the
 * scale it emits is always usable downstream.
 *
 * A scale that is zero, negative, NaN or infinite, a zero point whose type
 * differs from the quantized tensor's, or a per-axis length that does not
 * match the axis is an error: at load when the value is a constant, else
 * at run.
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "kernels/conv.h"
#include "kernels/quant.h"

/* ---- shared checks -------------------------------------------------------- */

float axle_quant_scale_at(const struct axle_tensor *s, int64_t i)
{
    switch (s->dtype) {
    case AXLE_DTYPE_FLOAT16:
        return axle_f16_to_f32(((const uint16_t *)s->data)[i]);
    case AXLE_DTYPE_BFLOAT16:
        return axle_bf16_to_f32(((const uint16_t *)s->data)[i]);
    default:
        return ((const float *)s->data)[i];
    }
}

int32_t axle_quant_zp_at(const struct axle_tensor *zp, int64_t i)
{
    if (zp == NULL || zp->data == NULL)
        return 0;
    switch (zp->dtype) {
    case AXLE_DTYPE_INT8: return ((const int8_t *)zp->data)[i];
    case AXLE_DTYPE_UINT8: return ((const uint8_t *)zp->data)[i];
    case AXLE_DTYPE_INT32: return ((const int32_t *)zp->data)[i];
    default: return 0;
    }
}

enum axle_status axle_quant_need_inputs(struct axle_kctx *k, const char *op,
                                        int n)
{
    for (int i = 0; i < n; i++)
        if (AXLE_IN(k, i) == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: input %d is required", op, i);
    return AXLE_OK;
}

enum axle_status axle_quant_check_scale(struct axle_kctx *k, const char *what,
                                        const struct axle_tensor *s,
                                        bool allow_half)
{
    int64_t n;

    if (s->dtype != AXLE_DTYPE_UNDEFINED && s->dtype != AXLE_DTYPE_FLOAT32 &&
        !(allow_half && (s->dtype == AXLE_DTYPE_FLOAT16 ||
                         s->dtype == AXLE_DTYPE_BFLOAT16)))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s must be float32, not %s", what,
                            axle_dtype_name(s->dtype));
    if (s->data == NULL)
        return AXLE_OK;
    n = axle_tensor_numel(s);
    if (n < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT, "%s is empty",
                            what);
    for (int64_t i = 0; i < n; i++) {
        float v = axle_quant_scale_at(s, i);
        if (!(v > 0.0f) || isinf(v))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s[%lld] = %g: a scale must be finite and "
                                "> 0", what, (long long)i, (double)v);
    }
    return AXLE_OK;
}

enum axle_status axle_quant_check_zp(struct axle_kctx *k, const char *what,
                                     const struct axle_tensor *zp,
                                     enum axle_dtype want)
{
    if (zp == NULL || zp->dtype == AXLE_DTYPE_UNDEFINED ||
        want == AXLE_DTYPE_UNDEFINED)
        return AXLE_OK;
    if (zp->dtype != want)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s is %s but the quantized tensor is %s", what,
                            axle_dtype_name(zp->dtype),
                            axle_dtype_name(want));
    return AXLE_OK;
}

void axle_quant_f32_row(const float *x, int64_t n, float scale, int32_t zp,
                        enum axle_dtype ydt, void *y)
{
    int32_t lo, hi;
    float flo, fhi;

    axle_quant_bounds(ydt, &lo, &hi);
    flo = (float)(lo - zp);
    fhi = (float)(hi - zp);
    /* Clamping to integer bounds before rounding gives the same result as
     * after, and keeps the value small enough for axle_quant_rint. */
    if (ydt == AXLE_DTYPE_UINT8) {
        uint8_t *d = y;
        for (int64_t i = 0; i < n; i++) {
            float f = x[i] / scale;
            f = f == f ? f : 0.0f;
            f = f < flo ? flo : f;
            f = f > fhi ? fhi : f;
            d[i] = (uint8_t)((int32_t)axle_quant_rint(f) + zp);
        }
    } else {
        int8_t *d = y;
        for (int64_t i = 0; i < n; i++) {
            float f = x[i] / scale;
            f = f == f ? f : 0.0f;
            f = f < flo ? flo : f;
            f = f > fhi ? fhi : f;
            d[i] = (int8_t)((int32_t)axle_quant_rint(f) + zp);
        }
    }
}

/* ---- per-axis geometry ---------------------------------------------------- */

/* Validates scale/zero-point shapes against x and the axis; *axis_out is
 * the normalized axis, or -1 for per-tensor. */
static enum axle_status qaxis(struct axle_kctx *k, const char *op,
                              const struct axle_tensor *x,
                              const struct axle_tensor *s,
                              const struct axle_tensor *zp, int *axis_out)
{
    int64_t axis = axle_node_attr_int(k->node, "axis", 1);
    int64_t ns = s->rank == 0 ? 1 : (s->rank == 1 ? s->dims[0] : -1);

    *axis_out = -1;
    if (s->rank > 1 || (zp != NULL && zp->rank > 1))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: scale and zero point must be scalars or "
                            "1-D", op);
    if (zp != NULL && zp->rank >= 0 && s->rank >= 0) {
        bool same = zp->rank == s->rank &&
                    (s->rank == 0 || zp->dims[0] < 0 || s->dims[0] < 0 ||
                     zp->dims[0] == s->dims[0]);
        /* A 1-element 1-D next to a scalar is the same per-tensor value. */
        int64_t nz = zp->rank == 0 ? 1 : (zp->rank == 1 ? zp->dims[0] : -1);
        if (!same && !(ns == 1 && nz == 1))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: the zero point's shape differs from the "
                                "scale's", op);
    }
    if (s->rank <= 0 || ns == 1)
        return AXLE_OK;
    if (k->opset < 13)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s-%d: scale must be a scalar (per-axis needs "
                            "opset 13)", op, k->opset);
    if (x->rank < 0)
        return AXLE_OK;
    if (axis < -x->rank || axis >= x->rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: axis %lld out of range for rank %d", op,
                            (long long)axis, x->rank);
    if (axis < 0)
        axis += x->rank;
    if (ns >= 0 && x->dims[axis] >= 0 && ns != x->dims[axis])
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %lld scales for axis %lld of size %lld", op,
                            (long long)ns, (long long)axis,
                            (long long)x->dims[axis]);
    *axis_out = (int)axis;
    return AXLE_OK;
}

static void copy_shape(const struct axle_tensor *x, struct axle_tensor *y)
{
    y->rank = x->rank;
    if (x->rank > 0)
        memcpy(y->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
}

/* Runs elements [0, n) as (outer, C, inner) slices over the pool. */
struct slice_job {
    const struct axle_tensor *x, *s, *zp;
    struct axle_tensor *y;
    int64_t C, inner, chunk; /* chunk: elements per item */
    void (*fn)(const struct slice_job *j, int64_t off, int64_t n, int64_t c);
};

static void slice_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct slice_job *j = ctx;
    int64_t total = axle_tensor_numel(j->x);

    (void)tid;
    for (int64_t it = b; it < e; it++) {
        int64_t off = it * j->chunk;
        int64_t end = off + j->chunk < total ? off + j->chunk : total;
        while (off < end) {
            int64_t c = (off / j->inner) % j->C;
            int64_t seg = j->inner - off % j->inner;
            if (seg > end - off)
                seg = end - off;
            j->fn(j, off, seg, c);
            off += seg;
        }
    }
}

static void slices_run(struct axle_kctx *k, struct slice_job *j, int axis)
{
    const struct axle_tensor *x = j->x;
    int64_t n = axle_tensor_numel(x);

    j->C = 1;
    j->inner = n > 0 ? n : 1;
    if (axis >= 0) {
        j->C = x->dims[axis];
        j->inner = 1;
        for (int i = axis + 1; i < x->rank; i++)
            j->inner *= x->dims[i];
        if (j->inner < 1)
            j->inner = 1;
    }
    j->chunk = 16384;
    if (n <= 0)
        return;
    axle_pool_parallel_for(k->pool, (n + j->chunk - 1) / j->chunk, 1,
                           slice_task, j);
}

/* ---- QuantizeLinear -------------------------------------------------------- */

static enum axle_status quantize_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *s = k->in[1];
    const struct axle_tensor *zp = AXLE_IN(k, 2);
    enum axle_dtype xd;
    bool half;
    enum axle_status st;
    int axis;

    st = axle_quant_need_inputs(k, "QuantizeLinear", 2);
    if (st != AXLE_OK)
        return st;
    xd = x->dtype;
    half = xd == AXLE_DTYPE_FLOAT16 || xd == AXLE_DTYPE_BFLOAT16;
    if (xd != AXLE_DTYPE_UNDEFINED && xd != AXLE_DTYPE_FLOAT32 &&
        xd != AXLE_DTYPE_INT32 && !half)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "QuantizeLinear: unsupported input dtype %s",
                            axle_dtype_name(xd));
    st = axle_quant_check_scale(k, "QuantizeLinear: y_scale", s, half);
    if (st != AXLE_OK)
        return st;
    if (half && s->dtype != AXLE_DTYPE_UNDEFINED && s->dtype != xd &&
        s->dtype != AXLE_DTYPE_FLOAT32)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "QuantizeLinear: y_scale is %s but x is %s",
                            axle_dtype_name(s->dtype), axle_dtype_name(xd));
    if (zp != NULL && zp->dtype != AXLE_DTYPE_UNDEFINED &&
        !axle_quant_is_q8(zp->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "QuantizeLinear: y_zero_point must be int8 or "
                            "uint8, not %s", axle_dtype_name(zp->dtype));
    st = qaxis(k, "QuantizeLinear", x, s, zp, &axis);
    if (st != AXLE_OK)
        return st;
    k->out[0]->dtype = zp != NULL ? zp->dtype : AXLE_DTYPE_UINT8;
    copy_shape(x, k->out[0]);
    return AXLE_OK;
}

static void quantize_slice(const struct slice_job *j, int64_t off, int64_t n,
                           int64_t c)
{
    const struct axle_tensor *x = j->x;
    float s = axle_quant_scale_at(j->s, j->C > 1 ? c : 0);
    int32_t zp = axle_quant_zp_at(j->zp, j->C > 1 ? c : 0);
    enum axle_dtype yd = j->y->dtype;
    uint8_t *y = (uint8_t *)j->y->data + off;

    if (x->dtype == AXLE_DTYPE_FLOAT32) {
        axle_quant_f32_row((const float *)x->data + off, n, s, zp, yd, y);
        return;
    }
    {
        int32_t lo, hi;
        axle_quant_bounds(yd, &lo, &hi);
        for (int64_t i = 0; i < n; i++) {
            double v;
            if (x->dtype == AXLE_DTYPE_INT32)
                v = (double)((const int32_t *)x->data)[off + i] / (double)s;
            else
                v = (float)axle_kx_load(x->dtype, x->data, off + i) / s;
            v = v == v ? nearbyint(v) + zp : zp;
            v = v < lo ? lo : (v > hi ? hi : v);
            if (yd == AXLE_DTYPE_UINT8)
                y[i] = (uint8_t)(int32_t)v;
            else
                ((int8_t *)y)[i] = (int8_t)(int32_t)v;
        }
    }
}

static enum axle_status quantize_run(struct axle_kctx *k)
{
    struct slice_job j = {
        .x = k->in[0], .s = k->in[1], .zp = AXLE_IN(k, 2), .y = k->out[0],
        .fn = quantize_slice,
    };
    enum axle_status st;
    int axis;

    st = quantize_infer(k);
    if (st != AXLE_OK)
        return st;
    qaxis(k, "QuantizeLinear", j.x, j.s, j.zp, &axis);
    slices_run(k, &j, axis);
    return AXLE_OK;
}

const struct axle_op axle_op_quantize_linear = {
    .name = "QuantizeLinear",
    .domain = "",
    .min_inputs = 2,
    .max_inputs = 3,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = quantize_infer,
    .run = quantize_run,
};

/* ---- DequantizeLinear ------------------------------------------------------ */

static enum axle_status dequantize_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *s = k->in[1];
    const struct axle_tensor *zp = AXLE_IN(k, 2);
    enum axle_dtype xd;
    enum axle_status st;
    int axis;

    st = axle_quant_need_inputs(k, "DequantizeLinear", 2);
    if (st != AXLE_OK)
        return st;
    xd = x->dtype;
    if (xd != AXLE_DTYPE_UNDEFINED && !axle_quant_is_q8(xd) &&
        xd != AXLE_DTYPE_INT32)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "DequantizeLinear: unsupported input dtype %s",
                            axle_dtype_name(xd));
    st = axle_quant_check_scale(k, "DequantizeLinear: x_scale", s, true);
    if (st == AXLE_OK)
        st = axle_quant_check_zp(k, "DequantizeLinear: x_zero_point", zp,
                                 xd);
    if (st == AXLE_OK)
        st = qaxis(k, "DequantizeLinear", x, s, zp, &axis);
    if (st != AXLE_OK)
        return st;
    k->out[0]->dtype = s->dtype != AXLE_DTYPE_UNDEFINED ? s->dtype
                                                         : AXLE_DTYPE_FLOAT32;
    copy_shape(x, k->out[0]);
    return AXLE_OK;
}

static void dequantize_slice(const struct slice_job *j, int64_t off,
                             int64_t n, int64_t c)
{
    const struct axle_tensor *x = j->x;
    float s = axle_quant_scale_at(j->s, j->C > 1 ? c : 0);
    int32_t zp = axle_quant_zp_at(j->zp, j->C > 1 ? c : 0);
    enum axle_dtype yd = j->y->dtype;

    if (yd == AXLE_DTYPE_FLOAT32 && x->dtype != AXLE_DTYPE_INT32) {
        float *y = (float *)j->y->data + off;
        if (x->dtype == AXLE_DTYPE_UINT8) {
            const uint8_t *q = (const uint8_t *)x->data + off;
            for (int64_t i = 0; i < n; i++)
                y[i] = (float)((int32_t)q[i] - zp) * s;
        } else {
            const int8_t *q = (const int8_t *)x->data + off;
            for (int64_t i = 0; i < n; i++)
                y[i] = (float)((int32_t)q[i] - zp) * s;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        /* int32 differences need more than float's 24 bits. */
        double d = (double)(axle_kx_load_i(x->dtype, x->data, off + i) -
                            (int64_t)zp) * (double)s;
        if (yd == AXLE_DTYPE_FLOAT32)
            ((float *)j->y->data)[off + i] = (float)d;
        else if (yd == AXLE_DTYPE_FLOAT16)
            ((uint16_t *)j->y->data)[off + i] = axle_f32_to_f16((float)d);
        else
            ((uint16_t *)j->y->data)[off + i] = axle_f32_to_bf16((float)d);
    }
}

static enum axle_status dequantize_run(struct axle_kctx *k)
{
    struct slice_job j = {
        .x = k->in[0], .s = k->in[1], .zp = AXLE_IN(k, 2), .y = k->out[0],
        .fn = dequantize_slice,
    };
    enum axle_status st;
    int axis;

    st = dequantize_infer(k);
    if (st != AXLE_OK)
        return st;
    qaxis(k, "DequantizeLinear", j.x, j.s, j.zp, &axis);
    slices_run(k, &j, axis);
    return AXLE_OK;
}

const struct axle_op axle_op_dequantize_linear = {
    .name = "DequantizeLinear",
    .domain = "",
    .min_inputs = 2,
    .max_inputs = 3,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = dequantize_infer,
    .run = dequantize_run,
};

/* ---- DynamicQuantizeLinear ------------------------------------------------- */

static enum axle_status dynq_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];

    if (x == NULL || k->out[0] == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "DynamicQuantizeLinear: x and y are required");
    if (x->dtype != AXLE_DTYPE_UNDEFINED && x->dtype != AXLE_DTYPE_FLOAT32)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "DynamicQuantizeLinear: x must be float32, not "
                            "%s", axle_dtype_name(x->dtype));
    k->out[0]->dtype = AXLE_DTYPE_UINT8;
    copy_shape(x, k->out[0]);
    if (k->n_outputs > 1 && k->out[1] != NULL) {
        k->out[1]->dtype = AXLE_DTYPE_FLOAT32;
        k->out[1]->rank = 0;
    }
    if (k->n_outputs > 2 && k->out[2] != NULL) {
        k->out[2]->dtype = AXLE_DTYPE_UINT8;
        k->out[2]->rank = 0;
    }
    return AXLE_OK;
}

struct dynq_job {
    const float *x;
    uint8_t *y;
    int64_t n, chunk;
    float scale;
    int32_t zp;
    float *mins, *maxs; /* per item */
};

static void dynq_minmax(void *ctx, int64_t b, int64_t e, int tid)
{
    struct dynq_job *j = ctx;

    (void)tid;
    for (int64_t it = b; it < e; it++) {
        int64_t i0 = it * j->chunk;
        int64_t i1 = i0 + j->chunk < j->n ? i0 + j->chunk : j->n;
        float mn = 0.0f, mx = 0.0f; /* the range always includes 0 */
        for (int64_t i = i0; i < i1; i++) {
            float v = j->x[i];
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        j->mins[it] = mn;
        j->maxs[it] = mx;
    }
}

static void dynq_quant(void *ctx, int64_t b, int64_t e, int tid)
{
    struct dynq_job *j = ctx;

    (void)tid;
    for (int64_t it = b; it < e; it++) {
        int64_t i0 = it * j->chunk;
        int64_t i1 = i0 + j->chunk < j->n ? i0 + j->chunk : j->n;
        axle_quant_f32_row(j->x + i0, i1 - i0, j->scale, j->zp,
                           AXLE_DTYPE_UINT8, j->y + i0);
    }
}

static enum axle_status dynq_run(struct axle_kctx *k)
{
    struct dynq_job j = {
        .x = k->in[0]->data, .y = k->out[0]->data,
        .n = axle_tensor_numel(k->in[0]), .chunk = 16384,
    };
    int64_t items = (j.n + j.chunk - 1) / j.chunk;
    float mn = 0.0f, mx = 0.0f, zpf;

    if (items > 0) {
        j.mins = axle_kctx_scratch(k, (size_t)items * 2 * sizeof(float));
        if (j.mins == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "DynamicQuantizeLinear: out of memory");
        j.maxs = j.mins + items;
        axle_pool_parallel_for(k->pool, items, 1, dynq_minmax, &j);
        for (int64_t i = 0; i < items; i++) {
            mn = j.mins[i] < mn ? j.mins[i] : mn;
            mx = j.maxs[i] > mx ? j.maxs[i] : mx;
        }
    }
    /* ONNX DynamicQuantizeLinear-11: scale = (max - min) / (qmax - qmin),
     * zero point = saturate(round(qmin - min / scale)). */
    j.scale = (mx - mn) / 255.0f;
    if (!(j.scale > 0.0f))
        j.scale = 1.0f; /* all zeros: any scale represents them */
    zpf = 0.0f - mn / j.scale;
    zpf = zpf == zpf ? zpf : 0.0f;
    zpf = zpf < 0.0f ? 0.0f : (zpf > 255.0f ? 255.0f : zpf);
    j.zp = (int32_t)axle_quant_rint(zpf);
    if (items > 0)
        axle_pool_parallel_for(k->pool, items, 1, dynq_quant, &j);
    if (k->n_outputs > 1 && k->out[1] != NULL)
        *(float *)k->out[1]->data = j.scale;
    if (k->n_outputs > 2 && k->out[2] != NULL)
        *(uint8_t *)k->out[2]->data = (uint8_t)j.zp;
    return AXLE_OK;
}

const struct axle_op axle_op_dynamic_quantize_linear = {
    .name = "DynamicQuantizeLinear",
    .domain = "",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 3,
    .infer = dynq_infer,
    .run = dynq_run,
};
