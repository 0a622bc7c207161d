/*
 * norm.c - BatchNormalization, InstanceNormalization, LayerNormalization.
 *
 * BatchNormalization (ONNX 1, 6, 7, 9, 14, 15): inference computes
 *   y = (x - mean) / sqrt(var + epsilon) * scale + B
 * per channel (dim 1), or per element of [C, D1..Dn] when an old version
 * (< 9) says spatial = 0. Training statistics (training_mode = 1 from 14;
 * before 14 the extra outputs mean, var, saved_mean, saved_var) use the
 * batch's mean and biased variance over every axis but 1 and update
 *   running = input_running * momentum + batch * (1 - momentum).
 * InstanceNormalization-6 normalizes each (n, c) plane over its spatial dims.
 * LayerNormalization-17 normalizes rows of prod(dims[axis:]) elements and
 * can return Mean and InvStdDev (float32, stash_type 1).
 *
 * Statistics are computed two-pass (mean, then squared deviations) on the
 * rowvec.h primitives; rows are split over k->pool. Non-float32 tensors are
 * converted to float32 working buffers in scratch.
 *
 * LpNormalization-1 divides by the L1 (p = 1) or L2 (p = 2) norm along
 * `axis` (default -1); a zero norm gives zeros, like ONNX Runtime.
 * MeanVarianceNormalization (9, 13) computes (x - mean) / (std + 1e-9)
 * over `axes` (default [0, 2, 3]), std being the biased standard deviation,
 * as ONNX's function body does. LRN (1, 13) divides each element by
 * (bias + alpha / size * sum of squares over the channel window)^beta, the
 * window being [c - floor((size-1)/2), c + ceil((size-1)/2)]. These three
 * work in double on every float type.
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/conv.h"
#include "kernels/normred_util.h"
#include "kernels/rowvec.h"

/* ---- shared -------------------------------------------------------- */

static enum axle_status need_float(struct axle_kctx *k, const char *op,
                                   int i)
{
    const struct axle_tensor *t = AXLE_IN(k, i);
    if (t != NULL && t->dtype != AXLE_DTYPE_UNDEFINED && !nr_is_float(t->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input %d has type %s, expected a float type",
                            op, i, axle_dtype_name(t->dtype));
    return AXLE_OK;
}

/* Known dims that differ. */
static bool dims_conflict(int64_t a, int64_t b)
{
    return a >= 0 && b >= 0 && a != b;
}

/* Input i as n floats: the tensor itself when float32, else converted into
 * dst. */
static const float *as_f32(const struct axle_tensor *t, float *dst, size_t n)
{
    if (t->dtype == AXLE_DTYPE_FLOAT32)
        return t->data;
    nr_to_f32(dst, t->data, t->dtype, n);
    return dst;
}

/* ---- BatchNormalization -------------------------------------------- */

static bool bn_training(const struct axle_kctx *k)
{
    if (k->opset >= 14)
        return axle_node_attr_int(k->node, "training_mode", 0) != 0;
    for (int j = 1; j < k->n_outputs; j++)
        if (k->out[j] != NULL)
            return true;
    return false;
}

static enum axle_status bn_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    enum axle_status st;

    for (int i = 0; i < k->n_inputs; i++)
        if ((st = need_float(k, "BatchNormalization", i)) != AXLE_OK)
            return st;
    if (k->n_inputs < 5)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "BatchNormalization: needs 5 inputs, got %d",
                            k->n_inputs);
    for (int i = 1; i < 5; i++)
        if (k->in[i] == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "BatchNormalization: input %d is missing", i);
    if (x->rank >= 0 && x->rank < 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "BatchNormalization: input 0 has rank %d, "
                            "expected at least 2", x->rank);
    int64_t C = x->rank >= 2 ? x->dims[1] : -1;
    bool spatial = k->opset >= 9 ||
                   axle_node_attr_int(k->node, "spatial", 1) != 0;
    for (int i = 1; i < 5; i++) {
        const struct axle_tensor *p = k->in[i];
        if (spatial && p->rank >= 0 &&
            (p->rank != 1 || dims_conflict(p->dims[0], C)))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "BatchNormalization: input %d must have "
                                "shape [C] with C = %lld", i, (long long)C);
    }
    if (k->out[0] != NULL) {
        k->out[0]->dtype = x->dtype;
        nr_copy_shape(k->out[0], x);
    }
    for (int j = 1; j < k->n_outputs; j++) {
        struct axle_tensor *o = k->out[j];
        if (o == NULL)
            continue;
        o->dtype = k->in[3]->dtype;
        o->rank = 1;
        o->dims[0] = C;
    }
    return AXLE_OK;
}

struct bn_job {
    const float *x;
    float *y;
    const float *s, *b; /* per channel, or per element of [C, S] */
    int64_t C, S;
    bool per_elem;
};

static void bn_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct bn_job *j = ctx;
    for (int64_t r = b; r < e; r++) {
        int64_t c = r % j->C;
        const float *x = j->x + r * j->S;
        float *y = j->y + r * j->S;
        if (!j->per_elem) {
            axle_rowvec_affine(y, x, j->s[c], j->b[c], (size_t)j->S);
            continue;
        }
        const float *s = j->s + c * j->S, *bb = j->b + c * j->S;
        for (int64_t i = 0; i < j->S; i++)
            y[i] = x[i] * s[i] + bb[i];
    }
}

static enum axle_status bn_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    float eps = axle_node_attr_float(k->node, "epsilon", 1e-5f);
    float mom = axle_node_attr_float(k->node, "momentum", 0.9f);
    bool training = bn_training(k);
    int64_t N = x->dims[0], C = x->dims[1], S = nr_prod(x->dims, 2, x->rank);
    int64_t n = axle_tensor_numel(x), P = C;
    struct bn_job j = {.C = C, .S = S};

    for (int i = 1; i < 5; i++) {
        int64_t pn = axle_tensor_numel(k->in[i]);
        if (pn == C)
            continue;
        if (pn == C * S && S > 1 && k->opset < 9 && !training &&
            axle_node_attr_int(k->node, "spatial", 1) == 0) {
            P = C * S;
            continue;
        }
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "BatchNormalization: input %d has %lld elements,"
                            " expected %lld", i, (long long)pn, (long long)C);
    }
    for (int i = 1; i < 5; i++)
        if (axle_tensor_numel(k->in[i]) != P)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "BatchNormalization: inputs 1..4 disagree in "
                                "size");
    j.per_elem = P != C;

    /* scratch: 4 converted params, s, b, batch mean/var, x and y copies */
    size_t nf = 8 * (size_t)P +
                (x->dtype != AXLE_DTYPE_FLOAT32 ? 2 * (size_t)n : 0);
    float *buf = axle_kctx_scratch(k, nf * sizeof(float) + 64);
    if (buf == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "BatchNormalization: no scratch memory");
    const float *scale = as_f32(k->in[1], buf, (size_t)P);
    const float *bias = as_f32(k->in[2], buf + P, (size_t)P);
    const float *mean = as_f32(k->in[3], buf + 2 * P, (size_t)P);
    const float *var = as_f32(k->in[4], buf + 3 * P, (size_t)P);
    float *s = buf + 4 * P, *b = buf + 5 * P;
    float *bmean = buf + 6 * P, *bvar = buf + 7 * P;
    float *xf = buf + 8 * P;

    j.x = as_f32(x, xf, (size_t)n);
    j.y = x->dtype != AXLE_DTYPE_FLOAT32 ? xf + n
          : k->out[0] != NULL ? (float *)k->out[0]->data : NULL;
    if (training) {
        int64_t cnt = N * S;
        for (int64_t c = 0; c < C; c++) {
            double sum = 0, sq = 0;
            for (int64_t i = 0; i < N; i++)
                sum += axle_rowvec_sum(j.x + (i * C + c) * S, (size_t)S);
            bmean[c] = cnt > 0 ? (float)(sum / (double)cnt) : 0.0f;
            for (int64_t i = 0; i < N; i++)
                sq += axle_rowvec_sumsqdev(j.x + (i * C + c) * S, bmean[c],
                                           (size_t)S);
            bvar[c] = cnt > 0 ? (float)(sq / (double)cnt) : 0.0f;
        }
        mean = bmean;
        var = bvar;
    }
    for (int64_t i = 0; i < P; i++) {
        s[i] = scale[i] / sqrtf(var[i] + eps);
        b[i] = bias[i] - mean[i] * s[i];
    }
    j.s = s;
    j.b = b;
    if (k->out[0] != NULL) {
        axle_pool_parallel_for(k->pool, N * C, nr_grain(S), bn_task, &j);
        if (x->dtype != AXLE_DTYPE_FLOAT32)
            nr_from_f32(k->out[0]->data, k->out[0]->dtype, j.y, (size_t)n);
    }
    if (!training) {
        /* Extra outputs without training: the running statistics as is. */
        for (int o = 1; o < k->n_outputs && o < 3; o++)
            if (k->out[o] != NULL)
                nr_from_f32(k->out[o]->data, k->out[o]->dtype,
                            o == 1 ? mean : var, (size_t)P);
        return AXLE_OK;
    }
    /* Outputs 1, 2: updated running mean / var; before 14 also 3, 4: the
     * batch mean / var (saved for the gradient). */
    const float *rm = as_f32(k->in[3], buf + 2 * P, (size_t)P);
    const float *rv = as_f32(k->in[4], buf + 3 * P, (size_t)P);
    for (int64_t c = 0; c < C; c++) {
        s[c] = rm[c] * mom + bmean[c] * (1.0f - mom);
        b[c] = rv[c] * mom + bvar[c] * (1.0f - mom);
    }
    const float *src[5] = {NULL, s, b, bmean, bvar};
    for (int o = 1; o < k->n_outputs && o < 5; o++)
        if (k->out[o] != NULL)
            nr_from_f32(k->out[o]->data, k->out[o]->dtype, src[o], (size_t)C);
    return AXLE_OK;
}

const struct axle_op axle_op_batch_normalization = {
    .name = "BatchNormalization", .domain = "",
    .min_inputs = 5, .max_inputs = 5, .min_outputs = 1, .max_outputs = 5,
    .infer = bn_infer, .run = bn_run,
};

/* ---- InstanceNormalization ----------------------------------------- */

static enum axle_status in_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    enum axle_status st;

    for (int i = 0; i < 3; i++) {
        if (AXLE_IN(k, i) == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "InstanceNormalization: input %d is missing",
                                i);
        if ((st = need_float(k, "InstanceNormalization", i)) != AXLE_OK)
            return st;
    }
    if (x->rank >= 0 && x->rank < 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "InstanceNormalization: input 0 has rank %d, "
                            "expected at least 2", x->rank);
    int64_t C = x->rank >= 2 ? x->dims[1] : -1;
    for (int i = 1; i < 3; i++) {
        const struct axle_tensor *p = k->in[i];
        if (p->rank >= 0 && (p->rank != 1 || dims_conflict(p->dims[0], C)))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "InstanceNormalization: input %d must have "
                                "shape [C] with C = %lld", i, (long long)C);
    }
    if (k->out[0] != NULL) {
        k->out[0]->dtype = x->dtype;
        nr_copy_shape(k->out[0], x);
    }
    return AXLE_OK;
}

struct in_job {
    const float *x, *scale, *bias;
    float *y;
    int64_t C, S;
    float eps;
};

static void in_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct in_job *j = ctx;
    for (int64_t r = b; r < e; r++) {
        int64_t c = r % j->C;
        const float *x = j->x + r * j->S;
        float mean = axle_rowvec_sum(x, (size_t)j->S) / (float)j->S;
        float var = axle_rowvec_sumsqdev(x, mean, (size_t)j->S) / (float)j->S;
        float s = j->scale[c] / sqrtf(var + j->eps);
        axle_rowvec_affine(j->y + r * j->S, x, s, j->bias[c] - mean * s,
                           (size_t)j->S);
    }
}

static enum axle_status in_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    int64_t N = x->dims[0], C = x->dims[1], S = nr_prod(x->dims, 2, x->rank);
    int64_t n = axle_tensor_numel(x);
    struct in_job j = {
        .C = C, .S = S,
        .eps = axle_node_attr_float(k->node, "epsilon", 1e-5f),
    };

    if (k->out[0] == NULL)
        return AXLE_OK;
    for (int i = 1; i < 3; i++)
        if (axle_tensor_numel(k->in[i]) != C)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "InstanceNormalization: input %d has %lld "
                                "elements, expected %lld", i,
                                (long long)axle_tensor_numel(k->in[i]),
                                (long long)C);
    if (n == 0)
        return AXLE_OK;
    size_t nf = 2 * (size_t)C +
                (x->dtype != AXLE_DTYPE_FLOAT32 ? 2 * (size_t)n : 0);
    float *buf = axle_kctx_scratch(k, nf * sizeof(float));
    if (buf == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "InstanceNormalization: no scratch memory");
    j.scale = as_f32(k->in[1], buf, (size_t)C);
    j.bias = as_f32(k->in[2], buf + C, (size_t)C);
    j.x = as_f32(x, buf + 2 * C, (size_t)n);
    j.y = x->dtype == AXLE_DTYPE_FLOAT32 ? (float *)k->out[0]->data
                                         : buf + 2 * C + n;
    axle_pool_parallel_for(k->pool, N * C, nr_grain(S), in_task, &j);
    if (x->dtype != AXLE_DTYPE_FLOAT32)
        nr_from_f32(k->out[0]->data, x->dtype, j.y, (size_t)n);
    return AXLE_OK;
}

const struct axle_op axle_op_instance_normalization = {
    .name = "InstanceNormalization", .domain = "",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = in_infer, .run = in_run,
};

/* ---- LayerNormalization -------------------------------------------- */

static enum axle_dtype ln_stash(const struct axle_kctx *k)
{
    int64_t st = axle_node_attr_int(k->node, "stash_type", 1);
    return st == 11 ? AXLE_DTYPE_FLOAT64 : st == 10 ? AXLE_DTYPE_FLOAT16
           : st == 16 ? AXLE_DTYPE_BFLOAT16 : AXLE_DTYPE_FLOAT32;
}

/* Scale / B must broadcast (unidirectionally) to dims[axis:]. */
static enum axle_status ln_check_param(struct axle_kctx *k, int i, int axis)
{
    const struct axle_tensor *x = k->in[0], *p = AXLE_IN(k, i);
    if (p == NULL || p->rank < 0 || x->rank < 0)
        return AXLE_OK;
    int nr = x->rank - axis;
    bool ok = true;
    for (int d = 0; d < p->rank; d++) {
        int xd = x->rank - p->rank + d;
        if (xd < axis) {
            ok = ok && (p->dims[d] == 1 || p->dims[d] < 0);
            continue;
        }
        ok = ok && (p->dims[d] == 1 || p->dims[d] < 0 ||
                    !dims_conflict(p->dims[d], x->dims[xd]));
    }
    if (!ok)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "LayerNormalization: input %d does not broadcast "
                            "to the %d normalized dims", i, nr);
    return AXLE_OK;
}

static enum axle_status ln_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    enum axle_status st;
    int axis = 0;

    if (AXLE_IN(k, 1) == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "LayerNormalization: Scale is missing");
    for (int i = 0; i < k->n_inputs; i++)
        if ((st = need_float(k, "LayerNormalization", i)) != AXLE_OK)
            return st;
    st = nr_axis(k, "LayerNormalization",
                 axle_node_attr_int(k->node, "axis", -1), x->rank, false,
                 &axis);
    if (st != AXLE_OK)
        return st;
    if ((st = ln_check_param(k, 1, axis)) != AXLE_OK ||
        (st = ln_check_param(k, 2, axis)) != AXLE_OK)
        return st;
    if (k->out[0] != NULL) {
        k->out[0]->dtype = x->dtype;
        nr_copy_shape(k->out[0], x);
    }
    for (int j = 1; j < 3 && j < k->n_outputs; j++) {
        struct axle_tensor *o = k->out[j];
        if (o == NULL)
            continue;
        o->dtype = ln_stash(k);
        nr_copy_shape(o, x);
        for (int d = axis; d < x->rank; d++)
            o->dims[d] = 1;
    }
    return AXLE_OK;
}

/* Expands a Scale/B tensor to the D floats of one normalized row. */
static void ln_expand(const struct axle_tensor *p, const struct axle_tensor *x,
                      int axis, float *dst, int64_t D)
{
    int64_t numel = axle_tensor_numel(p);
    if (numel == D) {
        nr_to_f32(dst, p->data, p->dtype, (size_t)D);
        return;
    }
    int nr = x->rank - axis;
    for (int64_t i = 0; i < D; i++) {
        int64_t rem = i, off = 0, stride = 1;
        for (int d = nr - 1; d >= 0; d--) {
            int64_t xi = rem % x->dims[axis + d];
            rem /= x->dims[axis + d];
            int pd = p->rank - nr + d;
            if (pd < 0)
                continue;
            if (p->dims[pd] != 1)
                off += xi * stride;
            stride *= p->dims[pd];
        }
        dst[i] = (float)axle_tensor_get_f64(p, off);
    }
}

struct ln_job {
    const float *x, *scale, *bias;
    float *y, *mean, *inv;
    int64_t D;
    float eps;
};

static void ln_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct ln_job *j = ctx;
    for (int64_t r = b; r < e; r++) {
        const float *x = j->x + r * j->D;
        float mean = axle_rowvec_sum(x, (size_t)j->D) / (float)j->D;
        float var = axle_rowvec_sumsqdev(x, mean, (size_t)j->D) / (float)j->D;
        float inv = 1.0f / sqrtf(var + j->eps);
        axle_rowvec_norm(j->y + r * j->D, x, mean, inv, j->scale, j->bias,
                         (size_t)j->D);
        j->mean[r] = mean;
        j->inv[r] = inv;
    }
}

static enum axle_status ln_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    const struct axle_tensor *sc = k->in[1], *bi = AXLE_IN(k, 2);
    int axis = 0;
    enum axle_status st = nr_axis(k, "LayerNormalization",
                                  axle_node_attr_int(k->node, "axis", -1),
                                  x->rank, false, &axis);
    if (st != AXLE_OK)
        return st;
    if ((st = ln_check_param(k, 1, axis)) != AXLE_OK ||
        (st = ln_check_param(k, 2, axis)) != AXLE_OK)
        return st;
    int64_t outer = nr_prod(x->dims, 0, axis);
    int64_t D = nr_prod(x->dims, axis, x->rank), n = outer * D;
    bool direct = x->dtype == AXLE_DTYPE_FLOAT32 && k->out[0] != NULL;
    struct ln_job j = {
        .D = D, .eps = axle_node_attr_float(k->node, "epsilon", 1e-5f),
    };

    if (sc->rank > x->rank - axis &&
        axle_shape_numel(sc->rank, sc->dims) != D)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "LayerNormalization: Scale of rank %d over %d "
                            "normalized dims", sc->rank, x->rank - axis);
    if (bi != NULL && bi->rank > x->rank - axis &&
        axle_shape_numel(bi->rank, bi->dims) != D)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "LayerNormalization: B of rank %d over %d "
                            "normalized dims", bi->rank, x->rank - axis);
    if (n == 0 || D == 0)
        return AXLE_OK;
    /* scratch: scale, bias, mean, inv, then x and y when converting */
    size_t nf = 2 * (size_t)D + 2 * (size_t)outer + (direct ? 0 : 2 * (size_t)n);
    float *buf = axle_kctx_scratch(k, nf * sizeof(float));
    if (buf == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "LayerNormalization: no scratch memory");
    float *sbuf = buf, *bbuf = buf + D;
    if (sc->dtype == AXLE_DTYPE_FLOAT32 && axle_tensor_numel(sc) == D) {
        j.scale = sc->data;
    } else {
        ln_expand(sc, x, axis, sbuf, D);
        j.scale = sbuf;
    }
    if (bi == NULL) {
        j.bias = NULL;
    } else if (bi->dtype == AXLE_DTYPE_FLOAT32 && axle_tensor_numel(bi) == D) {
        j.bias = bi->data;
    } else {
        ln_expand(bi, x, axis, bbuf, D);
        j.bias = bbuf;
    }
    j.mean = buf + 2 * D;
    j.inv = j.mean + outer;
    if (direct) {
        j.x = x->data;
        j.y = k->out[0]->data;
    } else {
        float *xf = j.inv + outer;
        nr_to_f32(xf, x->data, x->dtype, (size_t)n);
        j.x = xf;
        j.y = xf + n;
    }
    axle_pool_parallel_for(k->pool, outer, nr_grain(D), ln_task, &j);
    if (!direct && k->out[0] != NULL)
        nr_from_f32(k->out[0]->data, k->out[0]->dtype, j.y, (size_t)n);
    if (k->n_outputs > 1 && k->out[1] != NULL)
        nr_from_f32(k->out[1]->data, k->out[1]->dtype, j.mean, (size_t)outer);
    if (k->n_outputs > 2 && k->out[2] != NULL)
        nr_from_f32(k->out[2]->data, k->out[2]->dtype, j.inv, (size_t)outer);
    return AXLE_OK;
}

const struct axle_op axle_op_layer_normalization = {
    .name = "LayerNormalization", .domain = "",
    .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 3,
    .infer = ln_infer, .run = ln_run,
};

/* ---- LpNormalization ----------------------------------------------- */

static enum axle_status lpn_attrs(struct axle_kctx *k, int rank, int *axis,
                                  int *p)
{
    int64_t pv = axle_node_attr_int(k->node, "p", 2);
    if (pv != 1 && pv != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "LpNormalization: p must be 1 or 2, got %lld",
                            (long long)pv);
    *p = (int)pv;
    return nr_axis(k, "LpNormalization",
                   axle_node_attr_int(k->node, "axis", -1), rank, false, axis);
}

static enum axle_status lpn_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    enum axle_status st;
    int axis, p;

    if ((st = need_float(k, "LpNormalization", 0)) != AXLE_OK)
        return st;
    if ((st = lpn_attrs(k, x->rank, &axis, &p)) != AXLE_OK)
        return st;
    if (k->out[0] != NULL) {
        k->out[0]->dtype = x->dtype;
        nr_copy_shape(k->out[0], x);
    }
    return AXLE_OK;
}

struct lpn_job {
    enum axle_dtype dt;
    const void *x;
    void *y;
    int64_t n, inner;
    int p;
};

static void lpn_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct lpn_job *j = ctx;
    (void)tid;
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / j->inner, i = t % j->inner;
        int64_t base = o * j->n * j->inner + i;
        double acc = 0.0;
        for (int64_t q = 0; q < j->n; q++) {
            double v = axle_kx_load(j->dt, j->x, base + q * j->inner);
            acc += j->p == 1 ? fabs(v) : v * v;
        }
        double norm = j->p == 1 ? acc : sqrt(acc);
        for (int64_t q = 0; q < j->n; q++) {
            int64_t at = base + q * j->inner;
            double v = axle_kx_load(j->dt, j->x, at);
            axle_kx_store(j->dt, j->y, at, norm != 0.0 ? v / norm : 0.0);
        }
    }
}

static enum axle_status lpn_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    int axis, p;
    enum axle_status st = lpn_attrs(k, x->rank, &axis, &p);
    if (st != AXLE_OK || k->out[0] == NULL)
        return st;
    struct lpn_job j = {
        .dt = x->dtype, .x = x->data, .y = k->out[0]->data,
        .n = x->dims[axis], .inner = nr_prod(x->dims, axis + 1, x->rank),
        .p = p,
    };
    int64_t outer = nr_prod(x->dims, 0, axis);
    axle_pool_parallel_for(k->pool, outer * j.inner, nr_grain(2 * j.n),
                           lpn_task, &j);
    return AXLE_OK;
}

const struct axle_op axle_op_lp_normalization = {
    .name = "LpNormalization", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = lpn_infer, .run = lpn_run,
};

/* ---- MeanVarianceNormalization ------------------------------------- */

static enum axle_status mvn_axes(struct axle_kctx *k, int rank, bool *mask)
{
    static const int64_t def[] = {0, 2, 3};
    int n = 0;
    const int64_t *axes = axle_node_attr_ints(k->node, "axes", &n);

    if (axle_node_attr(k->node, "axes") == NULL) {
        axes = def;
        n = 3;
    }
    for (int i = 0; i < AXLE_MAX_RANK; i++)
        mask[i] = false;
    if (rank < 0)
        return AXLE_OK;
    for (int i = 0; i < n; i++) {
        int64_t a = axes[i];
        if (a < -(int64_t)rank || a >= rank)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MeanVarianceNormalization: axis %lld is out "
                                "of range for rank %d", (long long)a, rank);
        mask[a < 0 ? a + rank : a] = true;
    }
    return AXLE_OK;
}

static enum axle_status mvn_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    bool mask[AXLE_MAX_RANK];
    enum axle_status st;

    if ((st = need_float(k, "MeanVarianceNormalization", 0)) != AXLE_OK ||
        (st = mvn_axes(k, x->rank, mask)) != AXLE_OK)
        return st;
    if (k->out[0] != NULL) {
        k->out[0]->dtype = x->dtype;
        nr_copy_shape(k->out[0], x);
    }
    return AXLE_OK;
}

/* Walks the elements in order while tracking each one's statistics slot
 * (row-major over the kept dims): an odometer, no division per element. */
struct mvn_walk {
    int rank;
    int64_t dims[AXLE_MAX_RANK], step[AXLE_MAX_RANK], idx[AXLE_MAX_RANK];
    int64_t slot;
};

static void mvn_walk_init(struct mvn_walk *w, const struct axle_tensor *x,
                          const bool *mask)
{
    int64_t mul = 1;
    w->rank = x->rank;
    w->slot = 0;
    for (int d = x->rank - 1; d >= 0; d--) {
        w->dims[d] = x->dims[d];
        w->idx[d] = 0;
        w->step[d] = mask[d] ? 0 : mul;
        if (!mask[d])
            mul *= x->dims[d];
    }
}

static void mvn_walk_next(struct mvn_walk *w)
{
    for (int d = w->rank - 1; d >= 0; d--) {
        w->slot += w->step[d];
        if (++w->idx[d] < w->dims[d])
            return;
        w->slot -= w->step[d] * w->dims[d];
        w->idx[d] = 0;
    }
}

static enum axle_status mvn_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    bool mask[AXLE_MAX_RANK];
    enum axle_status st = mvn_axes(k, x->rank, mask);
    int64_t n = axle_tensor_numel(x), S = 1;
    struct mvn_walk w;

    if (st != AXLE_OK || y == NULL || n <= 0)
        return st;
    for (int d = 0; d < x->rank; d++)
        if (!mask[d])
            S *= x->dims[d];
    int64_t R = n / S;
    double *mean = axle_kctx_scratch(k, 2 * (size_t)S * sizeof(double));
    if (mean == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "MeanVarianceNormalization: no scratch memory");
    double *sd = mean + S;
    for (int64_t s = 0; s < S; s++)
        mean[s] = sd[s] = 0.0;
    mvn_walk_init(&w, x, mask);
    for (int64_t i = 0; i < n; i++, mvn_walk_next(&w))
        mean[w.slot] += axle_kx_load(x->dtype, x->data, i);
    for (int64_t s = 0; s < S; s++)
        mean[s] /= (double)R;
    mvn_walk_init(&w, x, mask);
    for (int64_t i = 0; i < n; i++, mvn_walk_next(&w)) {
        double dv = axle_kx_load(x->dtype, x->data, i) - mean[w.slot];
        sd[w.slot] += dv * dv;
    }
    /* 1 / (std + 1e-9), ONNX's function body adding epsilon to the std */
    for (int64_t s = 0; s < S; s++)
        sd[s] = 1.0 / (sqrt(sd[s] / (double)R) + 1e-9);
    mvn_walk_init(&w, x, mask);
    for (int64_t i = 0; i < n; i++, mvn_walk_next(&w)) {
        double v = axle_kx_load(x->dtype, x->data, i);
        axle_kx_store(y->dtype, y->data, i, (v - mean[w.slot]) * sd[w.slot]);
    }
    return AXLE_OK;
}

const struct axle_op axle_op_mean_variance_normalization = {
    .name = "MeanVarianceNormalization", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = mvn_infer, .run = mvn_run,
};

/* ---- LRN ----------------------------------------------------------- */

static enum axle_status lrn_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    enum axle_status st;

    if ((st = need_float(k, "LRN", 0)) != AXLE_OK)
        return st;
    if (axle_node_attr_int(k->node, "size", 0) < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "LRN: size must be given and >= 1");
    if (x->rank >= 0 && x->rank < 3)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "LRN: input has rank %d, expected at least 3",
                            x->rank);
    if (k->out[0] != NULL) {
        k->out[0]->dtype = x->dtype;
        nr_copy_shape(k->out[0], x);
    }
    return AXLE_OK;
}

struct lrn_job {
    enum axle_dtype dt;
    const void *x;
    void *y;
    int64_t C, S, lo, hi; /* window [c - lo, c + hi] */
    double alpha_n, beta, bias;
};

static void lrn_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct lrn_job *j = ctx;
    (void)tid;
    for (int64_t r = b; r < e; r++) { /* r = n * C + c */
        int64_t c = r % j->C, nb = (r - c) * j->S;
        int64_t c0 = c - j->lo < 0 ? 0 : c - j->lo;
        int64_t c1 = c + j->hi >= j->C ? j->C - 1 : c + j->hi;
        for (int64_t s = 0; s < j->S; s++) {
            double sq = 0.0;
            for (int64_t q = c0; q <= c1; q++) {
                double v = axle_kx_load(j->dt, j->x, nb + q * j->S + s);
                sq += v * v;
            }
            int64_t at = nb + c * j->S + s;
            double v = axle_kx_load(j->dt, j->x, at);
            axle_kx_store(j->dt, j->y, at,
                          v / pow(j->bias + j->alpha_n * sq, j->beta));
        }
    }
}

static enum axle_status lrn_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    int64_t size = axle_node_attr_int(k->node, "size", 0);

    if (size < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "LRN: size must be given and >= 1");
    if (k->out[0] == NULL)
        return AXLE_OK;
    struct lrn_job j = {
        .dt = x->dtype, .x = x->data, .y = k->out[0]->data,
        .C = x->dims[1], .S = nr_prod(x->dims, 2, x->rank),
        .lo = (size - 1) / 2, .hi = size / 2,
        .alpha_n = axle_node_attr_float(k->node, "alpha", 1e-4f) /
                   (double)size,
        .beta = axle_node_attr_float(k->node, "beta", 0.75f),
        .bias = axle_node_attr_float(k->node, "bias", 1.0f),
    };
    int64_t win = j.C < size ? j.C : size;
    axle_pool_parallel_for(k->pool, x->dims[0] * j.C,
                           nr_grain(j.S * (win + 1)), lrn_task, &j);
    return AXLE_OK;
}

const struct axle_op axle_op_lrn = {
    .name = "LRN", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = lrn_infer, .run = lrn_run,
};
