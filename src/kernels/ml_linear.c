/*
 * ml_linear.c - ai.onnx.ml LinearClassifier and LinearRegressor (version 1,
 * unchanged since), with ONNX Runtime's outputs as the reference.
 *
 *   LinearClassifier  X [N, F] or [F] float/double/int32/int64
 *       -> Y [N] int64 (classlabels_ints) or string (classlabels_strings),
 *          Z [N, T] float, scores = X W^T + intercepts (T = intercepts).
 *       T > 1: Y is the label of the first largest score; post_transform
 *       applies to each row of Z.
 *       T == 1 (one score per row): Y = labels[1] if the score is > 0,
 *       else labels[0] (with two labels; otherwise 1 / 0, "1" / "0"). With
 *       two labels Z gets two columns [1 - s, s] from the raw score s, as
 *       ONNX Runtime writes them whatever post_transform says (only PROBIT
 *       is applied, to s, before the expansion); otherwise Z is [N, 1].
 *   LinearRegressor   X as above -> Y [N, targets] float = X W^T +
 *       intercepts; post_transform applies per row (a single target: only
 *       PROBIT changes it, as in ONNX Runtime).
 *
 * Sums are in float, as ONNX Runtime computes them.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/ml_common.h"

struct linear {
    int32_t n_targets, n_features;
    const float *coef;      /* n_targets * n_features */
    const float *intercept; /* n_targets, or NULL */
    enum axle_ml_post post;
    /* classifier */
    int32_t n_labels;
    const int64_t *ilabels;
    char *const *slabels;
};

static enum axle_status linear_parse(const struct axle_node *nd, bool cls,
                                     struct linear *l, struct axle_err *err)
{
    const char *op = cls ? "LinearClassifier" : "LinearRegressor";
    int nc, ni, nl = 0, ns = 0;
    enum axle_status st;

    memset(l, 0, sizeof(*l));
    st = axle_ml_floats(nd, op, "coefficients", &l->coef, &nc, err);
    if (st == AXLE_OK)
        st = axle_ml_floats(nd, op, "intercepts", &l->intercept, &ni, err);
    if (st == AXLE_OK)
        st = axle_ml_post_parse(nd, &l->post, err);
    if (st == AXLE_OK && cls) {
        st = axle_ml_ints(nd, op, "classlabels_ints", &l->ilabels, &nl, err);
        if (st == AXLE_OK)
            st = axle_ml_strings(nd, op, "classlabels_strings", &l->slabels,
                                 &ns, err);
    }
    if (st != AXLE_OK) {
        axle_err_prefix(err, "%s: ", op);
        return st;
    }
    if (nc == 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: coefficients are missing", op);
    if (cls) {
        if (nl > 0 && ns > 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: both classlabels_ints and "
                                "classlabels_strings are given", op);
        l->n_labels = ns > 0 ? ns : nl;
        if (ns == 0)
            l->slabels = NULL;
        if (ni > 0)
            l->n_targets = ni;
        else
            l->n_targets = l->n_labels > 0 && nc % l->n_labels == 0
                               ? l->n_labels
                               : 1;
        if (l->n_targets > 1 && l->n_labels < l->n_targets)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: %d scores per row but %d class labels",
                                op, l->n_targets, l->n_labels);
    } else {
        int64_t t = axle_node_attr_int(nd, "targets", 1);
        if (t < 1 || t > nc)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: targets = %lld is out of range", op,
                                (long long)t);
        l->n_targets = (int32_t)t;
        if (ni > 0 && ni != t)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: %d intercepts for %lld targets", op, ni,
                                (long long)t);
    }
    if (ni == 0)
        l->intercept = NULL;
    if (nc % l->n_targets != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: %d coefficients do not split into %d rows",
                            op, nc, l->n_targets);
    l->n_features = nc / l->n_targets;
    return AXLE_OK;
}

static enum axle_status linear_check_x(struct axle_kctx *k, const char *op,
                                       const struct linear *l)
{
    const struct axle_tensor *x = k->in[0];
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !axle_ml_numeric_dtype(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input X must be float, double, int32 or "
                            "int64, got %s", op, axle_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank != 1 && x->rank != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input X must be [N, F] or [F], got rank %d",
                            op, x->rank);
    if (x->rank >= 1 && x->dims[x->rank - 1] >= 0 &&
        x->dims[x->rank - 1] != l->n_features)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: X has %lld features, the coefficients %d",
                            op, (long long)x->dims[x->rank - 1],
                            l->n_features);
    return AXLE_OK;
}

static int64_t n_rows(const struct axle_tensor *x)
{
    return x->rank == 1 ? 1 : x->rank == 2 ? x->dims[0] : AXLE_DIM_UNKNOWN;
}

/* scores[r * T + t] for rows [r0, r1). */
static void linear_scores(const struct linear *l, const struct axle_tensor *x,
                          int64_t r0, int64_t r1, float *scores)
{
    int32_t F = l->n_features, T = l->n_targets;
    for (int64_t r = r0; r < r1; r++)
        for (int32_t t = 0; t < T; t++) {
            const float *w = l->coef + (int64_t)t * F;
            float s = 0.0f;
            if (x->dtype == AXLE_DTYPE_FLOAT32) {
                const float *xr = (const float *)x->data + r * F;
                for (int32_t j = 0; j < F; j++)
                    s += xr[j] * w[j];
            } else {
                for (int32_t j = 0; j < F; j++)
                    s += (float)axle_ml_get(x, r * F + j) * w[j];
            }
            scores[r * T + t] = s + (l->intercept ? l->intercept[t] : 0.0f);
        }
}

/* ---- LinearClassifier ---------------------------------------------------- */

static int32_t lc_z_cols(const struct linear *l)
{
    return l->n_targets == 1 && l->n_labels == 2 ? 2 : l->n_targets;
}

static enum axle_status lc_infer(struct axle_kctx *k)
{
    struct linear l;
    enum axle_status st = linear_parse(k->node, true, &l, k->err);
    int64_t n;

    if (st == AXLE_OK)
        st = linear_check_x(k, "LinearClassifier", &l);
    if (st != AXLE_OK)
        return st;
    n = n_rows(k->in[0]);
    if (k->out[0] != NULL) {
        k->out[0]->dtype = l.slabels ? AXLE_DTYPE_STRING : AXLE_DTYPE_INT64;
        k->out[0]->rank = 1;
        k->out[0]->dims[0] = n;
    }
    if (k->n_outputs > 1 && k->out[1] != NULL) {
        k->out[1]->dtype = AXLE_DTYPE_FLOAT32;
        k->out[1]->rank = 2;
        k->out[1]->dims[0] = n;
        k->out[1]->dims[1] = lc_z_cols(&l);
    }
    return AXLE_OK;
}

static enum axle_status put_label(struct axle_tensor *y, int64_t r,
                                  const struct linear *l, int32_t idx,
                                  const char *fallback_s, int64_t fallback_i)
{
    if (y->dtype == AXLE_DTYPE_STRING) {
        char **o = (char **)y->data + r;
        *o = axle_ml_strdup(idx >= 0 ? l->slabels[idx] : fallback_s);
        return *o ? AXLE_OK : AXLE_RESOURCE_EXHAUSTED;
    }
    ((int64_t *)y->data)[r] = idx >= 0 ? l->ilabels[idx] : fallback_i;
    return AXLE_OK;
}

static enum axle_status lc_run(struct axle_kctx *k)
{
    struct linear l;
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    struct axle_tensor *z = k->n_outputs > 1 ? k->out[1] : NULL;
    int64_t n = n_rows(x);
    int32_t T, zc;
    float *scores;
    enum axle_status st = linear_parse(k->node, true, &l, k->err);

    if (st == AXLE_OK)
        st = linear_check_x(k, "LinearClassifier", &l);
    if (st != AXLE_OK)
        return st;
    T = l.n_targets;
    zc = lc_z_cols(&l);
    scores = axle_kctx_scratch(k, (size_t)(n ? n : 1) * (size_t)T *
                                      sizeof(float));
    if (scores == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "LinearClassifier: no scratch memory");
    linear_scores(&l, x, 0, n, scores);
    for (int64_t r = 0; r < n; r++) {
        float *s = scores + r * T;
        if (y != NULL) {
            if (T == 1) {
                bool pos = s[0] > 0;
                int32_t idx = l.n_labels == 2 ? (pos ? 1 : 0) : -1;
                st = put_label(y, r, &l, idx, pos ? "1" : "0", pos ? 1 : 0);
            } else {
                int32_t best = 0;
                for (int32_t t = 1; t < T; t++)
                    if (s[t] > s[best])
                        best = t;
                st = put_label(y, r, &l, best, NULL, 0);
            }
            if (st != AXLE_OK)
                return axle_err_set(k->err, st,
                                    "LinearClassifier: out of memory");
        }
        if (z == NULL)
            continue;
        float *o = (float *)z->data + r * zc;
        if (T == 1) {
            float v = s[0];
            if (l.post == AXLE_ML_POST_PROBIT)
                v = axle_ml_probit(v);
            if (zc == 2) {
                o[0] = 1.0f - v;
                o[1] = v;
            } else {
                o[0] = v;
            }
        } else {
            memcpy(o, s, (size_t)T * sizeof(float));
            axle_ml_post_row(l.post, o, T);
        }
    }
    return AXLE_OK;
}

const struct axle_op axle_op_linear_classifier = {
    .name = "LinearClassifier",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 2,
    .infer = lc_infer,
    .run = lc_run,
};

/* ---- LinearRegressor ------------------------------------------------------ */

static enum axle_status lr_infer(struct axle_kctx *k)
{
    struct linear l;
    enum axle_status st = linear_parse(k->node, false, &l, k->err);

    if (st == AXLE_OK)
        st = linear_check_x(k, "LinearRegressor", &l);
    if (st != AXLE_OK)
        return st;
    k->out[0]->dtype = AXLE_DTYPE_FLOAT32;
    k->out[0]->rank = 2;
    k->out[0]->dims[0] = n_rows(k->in[0]);
    k->out[0]->dims[1] = l.n_targets;
    return AXLE_OK;
}

struct lr_job {
    const struct linear *l;
    const struct axle_tensor *x;
    float *y;
};

static void lr_rows(void *ctx, int64_t r0, int64_t r1, int tid)
{
    const struct lr_job *j = ctx;
    (void)tid;
    linear_scores(j->l, j->x, r0, r1, j->y);
    for (int64_t r = r0; r < r1; r++)
        axle_ml_post_row(j->l->post, j->y + r * j->l->n_targets,
                         j->l->n_targets);
}

static enum axle_status lr_run(struct axle_kctx *k)
{
    struct linear l;
    struct lr_job j;
    int64_t n = n_rows(k->in[0]);
    enum axle_status st = linear_parse(k->node, false, &l, k->err);

    if (st == AXLE_OK)
        st = linear_check_x(k, "LinearRegressor", &l);
    if (st != AXLE_OK)
        return st;
    j = (struct lr_job){.l = &l, .x = k->in[0], .y = k->out[0]->data};
    axle_pool_parallel_for(k->pool, n,
                           1 + 16384 / (1 + l.n_features * l.n_targets),
                           lr_rows, &j);
    return AXLE_OK;
}

const struct axle_op axle_op_linear_regressor = {
    .name = "LinearRegressor",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = lr_infer,
    .run = lr_run,
};
