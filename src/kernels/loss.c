/*
 * loss.c - NegativeLogLikelihoodLoss (12, 13) and SoftmaxCrossEntropyLoss
 * (12, 13).
 *
 * Both take input [N, C] or [N, C, d1..dk], an int32/int64 target
 * [N] or [N, d1..dk] holding class indices, and an optional per-class
 * weight [C]. For each position (n, d) with class t = target[n, d]:
 *   loss = -w[t] * input[n, t, d]          (w[t] = 1 without weight)
 * A position whose target equals ignore_index (only when the attribute is
 * given) has loss 0 and weight 0. reduction = "none" returns the losses in
 * the target's shape; "sum" their sum; "mean" (the default) the sum divided
 * by the sum of the weights used, so all-ignored input gives 0/0 = NaN as
 * ONNX's reference does. A target outside [0, C) that is not ignore_index
 * is an error.
 *
 * SoftmaxCrossEntropyLoss applies the above to log_softmax(scores) over
 * the class axis (1), computed per position as x - max - log(sum(exp(x -
 * max))); its optional second output is that log-probability tensor.
 * Sums are accumulated in double; every float type is accepted.
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/conv.h"
#include "kernels/normred_util.h"

enum loss_red { LOSS_NONE, LOSS_SUM, LOSS_MEAN };

struct loss_attrs {
    enum loss_red red;
    bool has_ii;
    int64_t ii; /* ignore_index */
};

static enum axle_status loss_attrs_read(struct axle_kctx *k, const char *op,
                                        struct loss_attrs *a)
{
    const char *r = axle_node_attr_str(k->node, "reduction", "mean");

    if (strcmp(r, "none") == 0)
        a->red = LOSS_NONE;
    else if (strcmp(r, "sum") == 0)
        a->red = LOSS_SUM;
    else if (strcmp(r, "mean") == 0)
        a->red = LOSS_MEAN;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: reduction must be none, sum or mean", op);
    a->has_ii = axle_node_attr(k->node, "ignore_index") != NULL;
    a->ii = axle_node_attr_int(k->node, "ignore_index", 0);
    return AXLE_OK;
}

static bool dim_conflict(int64_t a, int64_t b)
{
    return a >= 0 && b >= 0 && a != b;
}

/* Checks dtypes and shapes of input, target, weight; fills the loss
 * output (and, for SCE, log_prob's) shape. */
static enum axle_status loss_infer(struct axle_kctx *k, const char *op)
{
    const struct axle_tensor *x = k->in[0], *t = k->in[1];
    const struct axle_tensor *w = AXLE_IN(k, 2);
    struct loss_attrs a;
    enum axle_status st = loss_attrs_read(k, op, &a);

    if (st != AXLE_OK)
        return st;
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !nr_is_float(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input type %s is not a float type", op,
                            axle_dtype_name(x->dtype));
    if (t->dtype != AXLE_DTYPE_INT32 && t->dtype != AXLE_DTYPE_INT64 &&
        t->dtype != AXLE_DTYPE_UNDEFINED)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: target must be int32 or int64, got %s", op,
                            axle_dtype_name(t->dtype));
    if (w != NULL && w->dtype != AXLE_DTYPE_UNDEFINED &&
        x->dtype != AXLE_DTYPE_UNDEFINED && w->dtype != x->dtype)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: weight type %s differs from input type %s",
                            op, axle_dtype_name(w->dtype),
                            axle_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank < 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input has rank %d, expected at least 2", op,
                            x->rank);
    if (x->rank >= 0 && t->rank >= 0) {
        bool ok = t->rank == x->rank - 1 &&
                  !dim_conflict(t->dims[0], x->dims[0]);
        for (int i = 1; ok && i < t->rank; i++)
            ok = !dim_conflict(t->dims[i], x->dims[i + 1]);
        if (!ok)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: target shape must be the input's "
                                "without dim 1", op);
    }
    if (w != NULL && w->rank >= 0 &&
        (w->rank != 1 ||
         (x->rank >= 2 && dim_conflict(w->dims[0], x->dims[1]))))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: weight must have shape [C]", op);
    struct axle_tensor *o = k->out[0];
    if (o != NULL) {
        o->dtype = x->dtype;
        if (a.red != LOSS_NONE) {
            o->rank = 0;
        } else if (t->rank >= 0) {
            nr_copy_shape(o, t);
        } else if (x->rank >= 0) {
            o->rank = x->rank - 1;
            o->dims[0] = x->dims[0];
            for (int i = 2; i < x->rank; i++)
                o->dims[i - 1] = x->dims[i];
        } else {
            o->rank = -1;
        }
    }
    if (k->n_outputs > 1 && k->out[1] != NULL) {
        k->out[1]->dtype = x->dtype;
        nr_copy_shape(k->out[1], x);
    }
    return AXLE_OK;
}

struct loss_job {
    const struct axle_tensor *x, *t, *w;
    struct axle_tensor *y, *logp; /* logp: SCE's second output or NULL */
    struct loss_attrs a;
    bool softmax;
    int64_t C, D;
    double *lv, *wv; /* per-position loss and weight (sum / mean) */
    int64_t bad;     /* first position with an invalid target, or -1 */
};

/* One position p = n * D + d. Returns false for an invalid target. */
static bool loss_one(struct loss_job *j, int64_t p, double *loss, double *wt)
{
    int64_t n = p / j->D, d = p % j->D, C = j->C, D = j->D;
    int64_t base = n * C * D + d;
    enum axle_dtype dt = j->x->dtype;
    int64_t cls = axle_kx_load_i(j->t->dtype, j->t->data, p);
    double shift = 0.0;

    if (j->softmax) {
        double m = -INFINITY, s = 0.0;
        for (int64_t c = 0; c < C; c++) {
            double v = axle_kx_load(dt, j->x->data, base + c * D);
            m = v > m || isnan(v) ? v : m;
        }
        for (int64_t c = 0; c < C; c++)
            s += exp(axle_kx_load(dt, j->x->data, base + c * D) - m);
        shift = m + log(s);
        if (j->logp != NULL)
            for (int64_t c = 0; c < C; c++)
                axle_kx_store(dt, j->logp->data, base + c * D,
                              axle_kx_load(dt, j->x->data, base + c * D) -
                                  shift);
    }
    if (j->a.has_ii && cls == j->a.ii) {
        *loss = 0.0;
        *wt = 0.0;
        return true;
    }
    if (cls < 0 || cls >= C)
        return false;
    *wt = j->w != NULL ? axle_kx_load(j->w->dtype, j->w->data, cls) : 1.0;
    *loss = -(axle_kx_load(dt, j->x->data, base + cls * D) - shift) * *wt;
    return true;
}

static void loss_task(void *ctx, int64_t b, int64_t e, int tid)
{
    struct loss_job *j = ctx;
    (void)tid;
    for (int64_t p = b; p < e; p++) {
        double l = 0.0, w = 0.0;
        if (!loss_one(j, p, &l, &w)) {
            /* any invalid position will do for the message */
            __atomic_store_n(&j->bad, p, __ATOMIC_RELAXED);
            continue;
        }
        if (j->a.red == LOSS_NONE) {
            if (j->y != NULL)
                axle_kx_store(j->y->dtype, j->y->data, p, l);
        } else {
            j->lv[p] = l;
            j->wv[p] = w;
        }
    }
}

static enum axle_status loss_run(struct axle_kctx *k, const char *op,
                                 bool softmax)
{
    const struct axle_tensor *x = k->in[0], *t = k->in[1];
    const struct axle_tensor *w = AXLE_IN(k, 2);
    struct loss_job j = {
        .x = x, .t = t, .w = w, .y = k->out[0],
        .logp = softmax && k->n_outputs > 1 ? k->out[1] : NULL,
        .softmax = softmax, .bad = -1,
    };
    enum axle_status st = loss_attrs_read(k, op, &j.a);

    if (st != AXLE_OK)
        return st;
    j.C = x->dims[1];
    j.D = nr_prod(x->dims, 2, x->rank);
    int64_t P = x->dims[0] * j.D;
    if (axle_tensor_numel(t) != P)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: target has %lld elements, expected %lld", op,
                            (long long)axle_tensor_numel(t), (long long)P);
    if (w != NULL && axle_tensor_numel(w) != j.C)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: weight has %lld elements, expected C = %lld",
                            op, (long long)axle_tensor_numel(w),
                            (long long)j.C);
    if (j.y == NULL && j.logp == NULL)
        return AXLE_OK;
    if (j.y == NULL)
        j.a.red = LOSS_NONE; /* only log_prob wanted: nothing to sum */
    if (j.a.red != LOSS_NONE && P > 0) {
        j.lv = axle_kctx_scratch(k, 2 * (size_t)P * sizeof(double));
        if (j.lv == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "%s: no scratch memory", op);
        j.wv = j.lv + P;
    }
    axle_pool_parallel_for(k->pool, P, nr_grain(j.C * (softmax ? 4 : 1) + 1),
                           loss_task, &j);
    if (j.bad >= 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: target %lld at position %lld is outside "
                            "[0, %lld)", op,
                            (long long)axle_kx_load_i(t->dtype, t->data,
                                                      j.bad),
                            (long long)j.bad, (long long)j.C);
    if (j.a.red == LOSS_NONE)
        return AXLE_OK;
    double sum = 0.0, wsum = 0.0;
    for (int64_t p = 0; p < P; p++) {
        sum += j.lv[p];
        wsum += j.wv[p];
    }
    axle_kx_store(j.y->dtype, j.y->data, 0,
                  j.a.red == LOSS_SUM ? sum : sum / wsum);
    return AXLE_OK;
}

static enum axle_status nll_infer(struct axle_kctx *k)
{
    return loss_infer(k, "NegativeLogLikelihoodLoss");
}

static enum axle_status nll_run(struct axle_kctx *k)
{
    return loss_run(k, "NegativeLogLikelihoodLoss", false);
}

static enum axle_status sce_infer(struct axle_kctx *k)
{
    return loss_infer(k, "SoftmaxCrossEntropyLoss");
}

static enum axle_status sce_run(struct axle_kctx *k)
{
    return loss_run(k, "SoftmaxCrossEntropyLoss", true);
}

const struct axle_op axle_op_negative_log_likelihood_loss = {
    .name = "NegativeLogLikelihoodLoss", .domain = "",
    .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = nll_infer, .run = nll_run,
};

const struct axle_op axle_op_softmax_cross_entropy_loss = {
    .name = "SoftmaxCrossEntropyLoss", .domain = "",
    .min_inputs = 2, .max_inputs = 3, .min_outputs = 1, .max_outputs = 2,
    .infer = sce_infer, .run = sce_run,
};
