/*
 * tree_onnxml.c - ai.onnx.ml TreeEnsembleClassifier, TreeEnsembleRegressor
 * (ai.onnx.ml 1 and 3) and TreeEnsemble (ai.onnx.ml 5).
 *
 * prepare builds the node's forest (tree_onnxml_build.c); run converts the
 * input to float if it is not float already, asks the forest for the raw
 * per-target sums and then finishes them the way ONNX Runtime does, which
 * is the reference: base values, the binary-classifier special cases,
 * labels and the post transform, all depending on whether a row gave a
 * target any leaf value. docs/formats/onnx-ml-trees.md has the rules and
 * the few places where axle does not reproduce ONNX Runtime.
 *
 *   Classifier  X [N, F] float/double/int32/int64 -> Y [N] int64 or string,
 *               Z [N, C] float
 *   Regressor   X [N, F] float/double/int32/int64 -> Y [N, T] float
 *   TreeEnsemble X [N, F] float/double/float16   -> Y [N, T] of X's type
 *
 * The run path allocates only through axle_kctx_scratch, except for string
 * labels: the engine's string tensors own their elements, so each label is
 * a copy.
 */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/forest.h"
#include "kernels/ml_common.h"
#include "kernels/tree_onnxml.h"

/* ---- ONNX Runtime's transforms (ml_common.h), in float ----------------- */

/* Winitzki's closed form with a = 0.147, which ONNX Runtime uses (with
 * pi as a float since 1.2x; older releases wrote 3.14159f). */
static float erfinv_w(float x)
{
    float sgn = x < 0 ? -1.0f : 1.0f;
    float w = (1.0f - x) * (1.0f + x);
    float l = logf(w);
    float a = 2.0f / ((float)3.14159265358979323846 * 0.147f) + 0.5f * l;
    float b = 1.0f / 0.147f * l;
    return sgn * sqrtf(-a + sqrtf(a * a - b));
}

static float probit(float v)
{
    return 1.41421356f * erfinv_w(2.0f * v - 1.0f);
}

static void transform(enum axle_oml_xf xf, float *v, int64_t n)
{
    switch (xf) {
    case AXLE_OML_XF_NONE:
        break;
    case AXLE_OML_XF_LOGISTIC:
        for (int64_t i = 0; i < n; i++)
            v[i] = axle_ml_logistic(v[i]);
        break;
    case AXLE_OML_XF_SOFTMAX:
        axle_ml_softmax(v, n);
        break;
    case AXLE_OML_XF_SOFTMAX_ZERO:
        axle_ml_softmax_zero(v, n);
        break;
    case AXLE_OML_XF_PROBIT:
        for (int64_t i = 0; i < n; i++)
            v[i] = probit(v[i]);
        break;
    }
}

/* ---- finishing ---------------------------------------------------------- */

/* A sum as ONNX Runtime holds it: float for float inputs. */
static double rnd(const struct axle_oml *o, double s)
{
    return o->float_mode ? (double)(float)s : s;
}

/* s + b in the sum's precision (both already representable in it). */
static double add(const struct axle_oml *o, double s, double b)
{
    return rnd(o, s + b);
}

static bool scored(const struct axle_oml *o, const double *s, int32_t t)
{
    int32_t c = o->has_col[t];
    return c == AXLE_OML_ALWAYS || (c >= 0 && s[c] > 0);
}

/* Regressor and TreeEnsemble: one row of sums s into z[0 .. n_out). */
static void finish_targets(const struct axle_oml *o, const double *s,
                           float *z)
{
    int32_t T = o->n_out;

    if (T == 1) {
        /* one target: the base value is added whatever the leaves said,
         * and only PROBIT applies */
        double v = add(o, rnd(o, s[0]), o->n_base ? o->base[0] : 0.0);
        z[0] = o->xf == AXLE_OML_XF_PROBIT ? probit((float)v) : (float)v;
        return;
    }
    for (int32_t t = 0; t < T; t++)
        z[t] = scored(o, s, t)
                   ? (float)add(o, rnd(o, s[t]), o->n_base ? o->base[t] : 0.0)
                   : 0.0f;
    transform(o->xf, z, T);
}

/* Classifier with more than two classes: label index of the best scored
 * class (first wins), probabilities into z. */
static int32_t finish_multiclass(const struct axle_oml *o, const double *s,
                                 float *z)
{
    int32_t C = o->n_out, best = -1;
    double best_v = 0;

    for (int32_t c = 0; c < C; c++) {
        bool has = scored(o, s, c);
        double v = rnd(o, s[c]);
        if (c < o->n_base) { /* a base value makes the class scored */
            v = has ? add(o, v, o->base[c]) : o->base[c];
            has = true;
        }
        if (has && (best < 0 || v > best_v))
            best = c, best_v = v;
        z[c] = has ? (float)v : 0.0f;
    }
    transform(o->xf, z, C);
    /* No class scored: ONNX Runtime fails the run; axle answers class 0. */
    return best < 0 ? 0 : best;
}

/* Two classes, ONNX Runtime's TreeAggregatorClassifier step by step.
 * Returns the label index; *raw_label tells that the int64 label is that
 * index itself rather than classlabels_int64s[index] (ONNX Runtime answers
 * 0 or 1 outside its binary case). */
static int32_t finish_binary(const struct axle_oml *o, const double *s,
                             float *z, bool *raw_label)
{
    bool h0 = scored(o, s, 0), h1 = scored(o, s, 1);
    double s0 = rnd(o, s[0]), s1 = rnd(o, s[1]), pw, e;
    int add_kind = -1, size;
    int32_t idx;

    if (o->n_base == 2) {
        if (h1) { /* base_values[0] is not used */
            s1 = add(o, o->base[1], s0);
            s0 = -s1;
        } else {
            s1 = add(o, s1, o->base[1]);
            s0 = add(o, s0, o->base[0]);
        }
        size = 2;
    } else if (o->n_base == 1) {
        s0 = add(o, s0, o->base[0]);
        size = h1 ? 2 : 1;
    } else {
        add_kind = 3;
        size = h1 ? 2 : 1;
    }
    pw = size == 2 && h1 ? s1 : (h0 ? s0 : 0.0);
    *raw_label = !o->binary_case;
    if (o->binary_case && o->all_positive) {
        add_kind = pw > 0.5 ? 0 : 1;
        idx = pw > 0.5;
    } else if (o->binary_case) {
        add_kind = pw > 0 ? 2 : 3;
        idx = pw > 0;
    } else {
        idx = pw > 0;
    }
    if (size == 2) {
        z[0] = h0 ? (float)s0 : 0.0f;
        z[1] = h1 ? (float)s1 : 0.0f;
        transform(o->xf, z, 2);
        return idx;
    }
    e = h0 ? s0 : 0.0;
    /* One score. ONNX Runtime writes only z[0] for PROBIT and when no
     * binary rule applied; axle writes 0 into z[1] there. */
    if (o->xf == AXLE_OML_XF_PROBIT) {
        z[0] = probit((float)e);
        z[1] = 0.0f;
    } else if (add_kind < 0) {
        z[0] = (float)e;
        z[1] = 0.0f;
    } else if (o->xf == AXLE_OML_XF_LOGISTIC) {
        z[0] = axle_ml_logistic((float)-e);
        z[1] = axle_ml_logistic((float)e);
    } else if (add_kind <= 1) {
        z[0] = (float)(1.0 - e);
        z[1] = (float)e;
    } else {
        z[0] = (float)-e;
        z[1] = (float)e;
    }
    return idx;
}

/* ---- the operators ------------------------------------------------------ */

static bool dtype_ok(enum axle_oml_kind kind, enum axle_dtype dt)
{
    if (dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT64)
        return true;
    if (kind == AXLE_OML_ENSEMBLE)
        return dt == AXLE_DTYPE_FLOAT16;
    return dt == AXLE_DTYPE_INT64 || dt == AXLE_DTYPE_INT32;
}

static const char *op_name(enum axle_oml_kind kind)
{
    return kind == AXLE_OML_CLASSIFIER  ? "TreeEnsembleClassifier"
           : kind == AXLE_OML_REGRESSOR ? "TreeEnsembleRegressor"
                                        : "TreeEnsemble";
}

static enum axle_status check_input(struct axle_kctx *k,
                                    enum axle_oml_kind kind,
                                    const struct axle_oml *o)
{
    const struct axle_tensor *x = k->in[0];

    if (x->dtype != AXLE_DTYPE_UNDEFINED && !dtype_ok(kind, x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input X must be %s, got %s", op_name(kind),
                            kind == AXLE_OML_ENSEMBLE
                                ? "float, double or float16"
                                : "float, double, int32 or int64",
                            axle_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input X must be [N, features], got rank %d",
                            op_name(kind), x->rank);
    if (o != NULL && x->rank == 2 && x->dims[1] >= 0 &&
        x->dims[1] < o->n_features)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: a split reads feature %d but the input has "
                            "%lld features", op_name(kind),
                            o->n_features - 1, (long long)x->dims[1]);
    return AXLE_OK;
}

static enum axle_status oml_infer(struct axle_kctx *k, enum axle_oml_kind kind)
{
    const struct axle_oml *o = k->state;
    const struct axle_tensor *x = k->in[0];
    int64_t n = x->rank >= 1 ? x->dims[0] : AXLE_DIM_UNKNOWN;
    int64_t cols = o ? o->n_out : axle_oml_n_out(k->node, kind);
    enum axle_status st = check_input(k, kind, o);

    if (st != AXLE_OK)
        return st;
    if (cols <= 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT, "%s: %s",
                            op_name(kind),
                            kind == AXLE_OML_CLASSIFIER
                                ? "needs classlabels_int64s or "
                                  "classlabels_strings"
                                : "needs a positive n_targets");
    if (kind == AXLE_OML_CLASSIFIER) {
        const struct axle_attr *s =
            axle_node_attr(k->node, "classlabels_strings");
        bool strings = s != NULL && s->type == AXLE_ATTR_STRINGS && s->n > 0;
        if (k->out[0] != NULL) {
            k->out[0]->dtype = strings ? AXLE_DTYPE_STRING : AXLE_DTYPE_INT64;
            k->out[0]->rank = 1;
            k->out[0]->dims[0] = n;
        }
        if (k->n_outputs > 1 && k->out[1] != NULL) {
            k->out[1]->dtype = AXLE_DTYPE_FLOAT32;
            k->out[1]->rank = 2;
            k->out[1]->dims[0] = n;
            k->out[1]->dims[1] = cols;
        }
        return AXLE_OK;
    }
    if (k->out[0] != NULL) {
        k->out[0]->dtype = kind == AXLE_OML_ENSEMBLE &&
                                   x->dtype != AXLE_DTYPE_UNDEFINED
                               ? x->dtype
                               : AXLE_DTYPE_FLOAT32;
        k->out[0]->rank = 2;
        k->out[0]->dims[0] = n;
        k->out[0]->dims[1] = cols;
    }
    return AXLE_OK;
}

static enum axle_status oml_prepare(struct axle_kctx *k, void **state,
                                    enum axle_oml_kind kind)
{
    struct axle_oml *o;
    /* ONNX Runtime keeps thresholds and sums in double for double inputs
     * and in float for every other input type. */
    bool float_mode = k->in[0]->dtype != AXLE_DTYPE_FLOAT64;
    enum axle_status st = axle_oml_build(k->node, kind, float_mode, &o,
                                         k->err);

    *state = NULL;
    if (st != AXLE_OK) {
        axle_err_prefix(k->err, "%s: ", op_name(kind));
        return st;
    }
    *state = o;
    return AXLE_OK;
}

static void oml_release(void *state)
{
    axle_oml_free(state);
}

#define ALIGN64(n) (((n) + 63) & ~(size_t)63)

/* Row r of x (any accepted dtype) as floats: the first nf columns. */
static void convert_rows(const struct axle_tensor *x, int64_t n, int32_t nf,
                         float *out)
{
    int64_t F = x->dims[1];
    for (int64_t r = 0; r < n; r++) {
        float *o = out + r * nf;
        int64_t base = r * F;
        switch (x->dtype) {
        case AXLE_DTYPE_FLOAT64:
            for (int32_t j = 0; j < nf; j++)
                o[j] = (float)((const double *)x->data)[base + j];
            break;
        case AXLE_DTYPE_INT64:
            for (int32_t j = 0; j < nf; j++)
                o[j] = (float)((const int64_t *)x->data)[base + j];
            break;
        case AXLE_DTYPE_INT32:
            for (int32_t j = 0; j < nf; j++)
                o[j] = (float)((const int32_t *)x->data)[base + j];
            break;
        default: /* FLOAT16 */
            for (int32_t j = 0; j < nf; j++)
                o[j] = axle_f16_to_f32(((const uint16_t *)x->data)[base + j]);
            break;
        }
    }
}

static enum axle_status oml_run(struct axle_kctx *k, enum axle_oml_kind kind)
{
    const struct axle_oml *o = k->state;
    const struct axle_tensor *x = k->in[0];
    const struct axle_forest *f;
    struct axle_tensor *zt;
    int64_t n, T, stride;
    size_t xb = 0, sb, wb, zb = 0;
    char *mem;
    const float *xf;
    double *scores;
    float *zbuf = NULL;
    enum axle_status st;

    if (o == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL, "%s: not prepared",
                            op_name(kind));
    st = check_input(k, kind, o);
    if (st != AXLE_OK)
        return st;
    f = o->forest;
    n = x->dims[0];
    T = f->n_targets;
    if (n == 0)
        return AXLE_OK;
    if (x->dtype != AXLE_DTYPE_FLOAT32)
        xb = ALIGN64((size_t)n * (size_t)o->n_features * sizeof(float));
    sb = ALIGN64((size_t)n * (size_t)T * sizeof(double));
    wb = ALIGN64(axle_forest_work_bytes(f, n));
    zt = kind == AXLE_OML_CLASSIFIER ? (k->n_outputs > 1 ? k->out[1] : NULL)
                                     : k->out[0];
    /* Probabilities go straight into a float output; other outputs (an
     * absent Z, TreeEnsemble's double or half Y) get a float buffer. */
    if (zt == NULL || zt->dtype != AXLE_DTYPE_FLOAT32)
        zb = ALIGN64((size_t)n * (size_t)o->n_out * sizeof(float));
    mem = axle_kctx_scratch(k, xb + sb + wb + zb);
    if (mem == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: no scratch memory", op_name(kind));
    scores = (double *)(mem + xb);
    if (zb)
        zbuf = (float *)(mem + xb + sb + wb);
    else
        zbuf = zt->data;
    if (xb) {
        convert_rows(x, n, o->n_features, (float *)mem);
        xf = (const float *)mem;
        stride = o->n_features;
    } else {
        xf = x->data;
        stride = x->dims[1];
    }
    axle_forest_scores(f, xf, n, stride, scores, wb ? mem + xb + sb : NULL,
                       k->pool);

    if (kind == AXLE_OML_CLASSIFIER) {
        struct axle_tensor *yt = k->out[0];
        for (int64_t r = 0; r < n; r++) {
            const double *s = scores + r * T;
            float *z = zbuf + r * o->n_out;
            bool raw = false;
            int32_t idx = o->n_out == 2 ? finish_binary(o, s, z, &raw)
                                        : finish_multiclass(o, s, z);
            if (yt == NULL)
                continue;
            if (o->strings != NULL) {
                const char *lab = o->strings[idx];
                size_t len = strlen(lab);
                char **dst = (char **)yt->data + r;
                axle_free(*dst);
                *dst = axle_try_malloc(len + 1);
                if (*dst == NULL)
                    return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                        "%s: out of memory for labels",
                                        op_name(kind));
                memcpy(*dst, lab, len + 1);
            } else {
                ((int64_t *)yt->data)[r] = raw ? idx : o->labels[idx];
            }
        }
        return AXLE_OK;
    }
    for (int64_t r = 0; r < n; r++)
        finish_targets(o, scores + r * T, zbuf + r * o->n_out);
    if (zb && zt != NULL) {
        int64_t m = n * o->n_out;
        if (zt->dtype == AXLE_DTYPE_FLOAT64)
            for (int64_t i = 0; i < m; i++)
                ((double *)zt->data)[i] = zbuf[i];
        else
            for (int64_t i = 0; i < m; i++)
                ((uint16_t *)zt->data)[i] = axle_f32_to_f16(zbuf[i]);
    }
    return AXLE_OK;
}

#define OML_OP(sym, kind, opname, n_out_max)                                 \
    static enum axle_status sym##_infer(struct axle_kctx *k)                 \
    {                                                                        \
        return oml_infer(k, kind);                                           \
    }                                                                        \
    static enum axle_status sym##_run(struct axle_kctx *k)                   \
    {                                                                        \
        return oml_run(k, kind);                                             \
    }                                                                        \
    static enum axle_status sym##_prepare(struct axle_kctx *k, void **state) \
    {                                                                        \
        return oml_prepare(k, state, kind);                                  \
    }                                                                        \
    const struct axle_op axle_op_##sym = {                                   \
        .name = opname,                                                      \
        .domain = "ai.onnx.ml",                                              \
        .min_inputs = 1, .max_inputs = 1,                                    \
        .min_outputs = 1, .max_outputs = n_out_max,                          \
        .infer = sym##_infer,                                                \
        .run = sym##_run,                                                    \
        .prepare = sym##_prepare,                                            \
        .release = oml_release,                                              \
    };

OML_OP(tree_ensemble_classifier, AXLE_OML_CLASSIFIER, "TreeEnsembleClassifier",
       2)
OML_OP(tree_ensemble_regressor, AXLE_OML_REGRESSOR, "TreeEnsembleRegressor", 1)
OML_OP(tree_ensemble, AXLE_OML_ENSEMBLE, "TreeEnsemble", 1)
