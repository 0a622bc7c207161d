/*
 * softmax.c - Softmax, LogSoftmax and Hardmax.
 *
 * ONNX Softmax-1/11 and LogSoftmax-1/11 coerce the input to 2-D
 * [prod(dims[:axis]), prod(dims[axis:])] (axis default 1) and normalize each
 * row; version 13 normalizes along the single axis `axis` (default -1).
 * Both are computed as exp(x - max) / sum so large inputs do not overflow.
 *
 * float32 runs on the rowvec.h primitives (AVX-512 exp when available),
 * row-wise when the normalized axis is innermost and over blocks of
 * [n, inner-chunk] otherwise, split over k->pool for large tensors.
 * float16/bfloat16/float64 are converted to float32 working buffers.
 *
 * Hardmax (1, 11, 13) has the same axis rules (2-D coercion before 13) and
 * writes 1 at the first maximum of each row and 0 elsewhere; a NaN counts
 * as the maximum, as with numpy's argmax. It compares in the input's own
 * precision (float64 is not narrowed).
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/normred_util.h"
#include "kernels/rowvec.h"

/* Inner positions handled per task when the axis is not innermost. */
#define CHUNK 256

struct sm_job {
    const float *x;
    float *y;
    int64_t outer, n, inner, n_chunks;
    bool log;
};

static void sm_row(const float *x, float *y, int64_t n, bool log)
{
    float m = axle_rowvec_max(x, (size_t)n);
    float s = axle_rowvec_expsum(y, x, m, (size_t)n);
    if (log)
        axle_rowvec_addc(y, x, -(m + logf(s)), (size_t)n);
    else
        axle_rowvec_scale(y, 1.0f / s, (size_t)n);
}

static void sm_rows_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct sm_job *j = ctx;
    for (int64_t r = b; r < e; r++)
        sm_row(j->x + r * j->n, j->y + r * j->n, j->n, j->log);
}

/* One [n, w] block at stride `inner`: the axis runs down the columns. */
static void sm_block(const struct sm_job *j, int64_t o, int64_t c0)
{
    float m[CHUNK], s[CHUNK];
    int64_t w = j->inner - c0 < CHUNK ? j->inner - c0 : CHUNK;
    const float *x = j->x + o * j->n * j->inner + c0;
    float *y = j->y + o * j->n * j->inner + c0;

    memcpy(m, x, (size_t)w * sizeof(float));
    for (int64_t i = 1; i < j->n; i++)
        axle_rowvec_accum(AXLE_ROWVEC_MAX, m, x + i * j->inner, (size_t)w);
    memset(s, 0, sizeof(s));
    for (int64_t i = 0; i < j->n; i++) {
        axle_rowvec_expsub(y + i * j->inner, x + i * j->inner, m, (size_t)w);
        axle_rowvec_accum(AXLE_ROWVEC_ADD, s, y + i * j->inner, (size_t)w);
    }
    if (j->log) {
        for (int64_t c = 0; c < w; c++)
            m[c] += logf(s[c]);
        for (int64_t i = 0; i < j->n; i++)
            axle_rowvec_sub(y + i * j->inner, x + i * j->inner, m, (size_t)w);
    } else {
        for (int64_t c = 0; c < w; c++)
            s[c] = 1.0f / s[c];
        for (int64_t i = 0; i < j->n; i++)
            axle_rowvec_mul(y + i * j->inner, s, (size_t)w);
    }
}

static void sm_blocks_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct sm_job *j = ctx;
    for (int64_t t = b; t < e; t++)
        sm_block(j, t / j->n_chunks, (t % j->n_chunks) * CHUNK);
}

static void sm_compute(struct axle_pool *pool, struct sm_job *j)
{
    if (j->outer == 0 || j->n == 0 || j->inner == 0)
        return;
    if (j->inner == 1) {
        axle_pool_parallel_for(pool, j->outer, nr_grain(j->n), sm_rows_task,
                               j);
        return;
    }
    j->n_chunks = (j->inner + CHUNK - 1) / CHUNK;
    int64_t per = j->n * (j->inner < CHUNK ? j->inner : CHUNK);
    axle_pool_parallel_for(pool, j->outer * j->n_chunks, nr_grain(per),
                           sm_blocks_task, j);
}

static enum axle_status sm_infer(struct axle_kctx *k, const char *name)
{
    const struct axle_tensor *x = k->in[0];
    int axis = 0;
    int64_t def = k->opset >= 13 ? -1 : 1;

    if (!nr_is_float(x->dtype) && x->dtype != AXLE_DTYPE_UNDEFINED)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input type %s is not a float type", name,
                            axle_dtype_name(x->dtype));
    enum axle_status st = nr_axis(k, name, axle_node_attr_int(k->node, "axis",
                                                              def),
                                  x->rank, false, &axis);
    if (st != AXLE_OK || k->out[0] == NULL)
        return st;
    k->out[0]->dtype = x->dtype;
    nr_copy_shape(k->out[0], x);
    return AXLE_OK;
}

static enum axle_status sm_run(struct axle_kctx *k, const char *name, bool log)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    int64_t def = k->opset >= 13 ? -1 : 1;
    int axis = 0, r = x->rank;
    struct sm_job j = {.log = log};

    enum axle_status st = nr_axis(k, name, axle_node_attr_int(k->node, "axis",
                                                              def),
                                  r, false, &axis);
    if (st != AXLE_OK)
        return st;
    if (y == NULL)
        return AXLE_OK;
    j.outer = nr_prod(x->dims, 0, axis);
    if (k->opset < 13) {
        j.n = nr_prod(x->dims, axis, r);
        j.inner = 1;
    } else {
        j.n = x->dims[axis];
        j.inner = nr_prod(x->dims, axis + 1, r);
    }
    if (x->dtype == AXLE_DTYPE_FLOAT32) {
        j.x = x->data;
        j.y = y->data;
        sm_compute(k->pool, &j);
        return AXLE_OK;
    }
    int64_t n = axle_tensor_numel(x);
    float *buf = axle_kctx_scratch(k, 2 * (size_t)n * sizeof(float));
    if (buf == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: no scratch memory", name);
    nr_to_f32(buf, x->data, x->dtype, (size_t)n);
    j.x = buf;
    j.y = buf + n;
    sm_compute(k->pool, &j);
    nr_from_f32(y->data, y->dtype, buf + n, (size_t)n);
    return AXLE_OK;
}

static enum axle_status softmax_infer(struct axle_kctx *k)
{
    return sm_infer(k, "Softmax");
}

static enum axle_status softmax_run(struct axle_kctx *k)
{
    return sm_run(k, "Softmax", false);
}

static enum axle_status log_softmax_infer(struct axle_kctx *k)
{
    return sm_infer(k, "LogSoftmax");
}

static enum axle_status log_softmax_run(struct axle_kctx *k)
{
    return sm_run(k, "LogSoftmax", true);
}

const struct axle_op axle_op_softmax = {
    .name = "Softmax", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = softmax_infer, .run = softmax_run,
};

const struct axle_op axle_op_log_softmax = {
    .name = "LogSoftmax", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = log_softmax_infer, .run = log_softmax_run,
};

/* ---- Hardmax ------------------------------------------------------- */

static enum axle_status hardmax_infer(struct axle_kctx *k)
{
    return sm_infer(k, "Hardmax");
}

struct hm_job {
    const struct axle_tensor *x;
    struct axle_tensor *y;
    int64_t n, inner;
};

/* One row per (outer, inner) position: 1 at the first maximum. */
static void hm_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct hm_job *j = ctx;
    (void)tid;
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / j->inner, i = t % j->inner;
        int64_t base = o * j->n * j->inner + i, best_j = 0;
        double best = axle_tensor_get_f64(j->x, base);
        for (int64_t q = 1; q < j->n && !isnan(best); q++) {
            double v = axle_tensor_get_f64(j->x, base + q * j->inner);
            if (v > best || isnan(v)) {
                best = v;
                best_j = q;
            }
        }
        int64_t at = base + best_j * j->inner;
        switch (j->y->dtype) {
        case AXLE_DTYPE_FLOAT32: ((float *)j->y->data)[at] = 1.0f; break;
        case AXLE_DTYPE_FLOAT64: ((double *)j->y->data)[at] = 1.0; break;
        case AXLE_DTYPE_FLOAT16:
            ((uint16_t *)j->y->data)[at] = axle_f32_to_f16(1.0f);
            break;
        case AXLE_DTYPE_BFLOAT16:
            ((uint16_t *)j->y->data)[at] = axle_f32_to_bf16(1.0f);
            break;
        default: break;
        }
    }
}

static enum axle_status hardmax_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    int64_t def = k->opset >= 13 ? -1 : 1;
    int axis = 0, r = x->rank;
    int64_t outer, n, inner;

    enum axle_status st = nr_axis(k, "Hardmax",
                                  axle_node_attr_int(k->node, "axis", def), r,
                                  false, &axis);
    if (st != AXLE_OK || y == NULL)
        return st;
    outer = nr_prod(x->dims, 0, axis);
    if (k->opset < 13) {
        n = nr_prod(x->dims, axis, r);
        inner = 1;
    } else {
        n = x->dims[axis];
        inner = nr_prod(x->dims, axis + 1, r);
    }
    int64_t nb = axle_tensor_nbytes(y);
    if (nb > 0)
        memset(y->data, 0, (size_t)nb);
    if (n == 0)
        return AXLE_OK;
    struct hm_job j = {.x = x, .y = y, .n = n, .inner = inner};
    axle_pool_parallel_for(k->pool, outer * inner, nr_grain(n), hm_task, &j);
    return AXLE_OK;
}

const struct axle_op axle_op_hardmax = {
    .name = "Hardmax", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = hardmax_infer, .run = hardmax_run,
};
