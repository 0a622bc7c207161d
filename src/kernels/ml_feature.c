/*
 * ml_feature.c - the ai.onnx.ml feature transforms (all version 1; no later
 * ai.onnx.ml opset changed them):
 *
 *   ArrayFeatureExtractor  X [..., C] any type, Y int64 indices
 *                          -> X[..., Y] flattened over Y ([1, K] for 1-D X)
 *   Binarizer   X float/double/int32/int64 -> same type, x > threshold
 *               (NaN gives 0; ONNX Runtime refuses NaN and takes float only)
 *   FeatureVectorizer  X_i [N, ...] numeric -> float [N, sum inputdimensions]
 *               (row of X_i cut or zero-padded to inputdimensions[i]; a 1-D
 *               X_i is one row)
 *   Imputer     X float/double/int32/int64 -> same type; elements equal to
 *               replaced_value_float (NaN matches NaN) or replaced_value_int64
 *               become imputed_value_floats/int64s[column] (one value or one
 *               per column)
 *   Normalizer  X [C] or [N, C] numeric -> float; MAX divides by the row's
 *               largest value, L1 by the sum of |x|, L2 by the Euclidean
 *               norm; a zero norm leaves the row as it is (ONNX Runtime)
 *   Scaler      X numeric -> float (x - offset[c]) * scale[c]; offset and
 *               scale hold one value or one per column (absent: 0 and 1)
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/ml_common.h"

static void store(struct axle_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case AXLE_DTYPE_FLOAT64: ((double *)t->data)[i] = v; break;
    case AXLE_DTYPE_INT64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case AXLE_DTYPE_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    default: ((float *)t->data)[i] = (float)v; break;
    }
}

static enum axle_status need_numeric(struct axle_kctx *k, const char *op,
                                     const struct axle_tensor *x)
{
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !axle_ml_numeric_dtype(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input X must be float, double, int32 or "
                            "int64, got %s", op, axle_dtype_name(x->dtype));
    return AXLE_OK;
}

static void same_shape(struct axle_tensor *y, const struct axle_tensor *x,
                       enum axle_dtype dt)
{
    y->dtype = dt;
    y->rank = x->rank;
    for (int d = 0; d < x->rank && d < AXLE_MAX_RANK; d++)
        y->dims[d] = x->dims[d];
}

/* The column count of x (its last dim; 1 for a scalar), -1 if unknown. */
static int64_t last_dim(const struct axle_tensor *x)
{
    if (x->rank < 0)
        return -1;
    return x->rank == 0 ? 1 : x->dims[x->rank - 1];
}

/* ---- ArrayFeatureExtractor ---------------------------------------------- */

static enum axle_status afe_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *ix = k->in[1];
    struct axle_tensor *y = k->out[0];
    int64_t n_idx = axle_tensor_numel(ix);

    if (ix->dtype != AXLE_DTYPE_UNDEFINED && ix->dtype != AXLE_DTYPE_INT64)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ArrayFeatureExtractor: indices Y must be int64, "
                            "got %s", axle_dtype_name(ix->dtype));
    if (x->rank == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ArrayFeatureExtractor: X must have a rank");
    y->dtype = x->dtype;
    if (x->rank < 0) {
        y->rank = -1;
        return AXLE_OK;
    }
    if (x->rank == 1) {
        y->rank = 2;
        y->dims[0] = 1;
        y->dims[1] = n_idx >= 0 ? n_idx : AXLE_DIM_UNKNOWN;
        return AXLE_OK;
    }
    same_shape(y, x, x->dtype);
    y->dims[x->rank - 1] = n_idx >= 0 ? n_idx : AXLE_DIM_UNKNOWN;
    return AXLE_OK;
}

static enum axle_status afe_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *ix = k->in[1];
    struct axle_tensor *y = k->out[0];
    const int64_t *idx = ix->data;
    int64_t c = last_dim(x), n_idx = axle_tensor_numel(ix);
    int64_t rows = c > 0 ? axle_tensor_numel(x) / c : 0;
    size_t es = axle_dtype_size(x->dtype);

    for (int64_t j = 0; j < n_idx; j++)
        if (idx[j] < 0 || idx[j] >= c)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "ArrayFeatureExtractor: index Y[%lld] = %lld "
                                "is outside [0, %lld)", (long long)j,
                                (long long)idx[j], (long long)c);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n_idx; j++) {
            int64_t s = r * c + idx[j], d = r * n_idx + j;
            if (x->dtype == AXLE_DTYPE_STRING) {
                char **o = (char **)y->data + d;
                *o = axle_ml_strdup(((char *const *)x->data)[s]);
                if (*o == NULL)
                    return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                        "ArrayFeatureExtractor: out of "
                                        "memory");
            } else {
                memcpy((char *)y->data + (size_t)d * es,
                       (const char *)x->data + (size_t)s * es, es);
            }
        }
    return AXLE_OK;
}

const struct axle_op axle_op_array_feature_extractor = {
    .name = "ArrayFeatureExtractor",
    .domain = "ai.onnx.ml",
    .min_inputs = 2, .max_inputs = 2,
    .min_outputs = 1, .max_outputs = 1,
    .infer = afe_infer,
    .run = afe_run,
};

/* ---- Binarizer ------------------------------------------------------------ */

static enum axle_status binarizer_infer(struct axle_kctx *k)
{
    enum axle_status st = need_numeric(k, "Binarizer", k->in[0]);
    if (st != AXLE_OK)
        return st;
    same_shape(k->out[0], k->in[0], k->in[0]->dtype);
    return AXLE_OK;
}

static enum axle_status binarizer_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    double t = axle_node_attr_float(k->node, "threshold", 0.0f);
    int64_t n = axle_tensor_numel(x);

    if (x->dtype == AXLE_DTYPE_FLOAT32) {
        const float *xs = x->data;
        float *ys = y->data, tf = (float)t;
        for (int64_t i = 0; i < n; i++)
            ys[i] = xs[i] > tf ? 1.0f : 0.0f;
        return AXLE_OK;
    }
    for (int64_t i = 0; i < n; i++)
        store(y, i, axle_ml_get(x, i) > t ? 1.0 : 0.0);
    return AXLE_OK;
}

const struct axle_op axle_op_binarizer = {
    .name = "Binarizer",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = binarizer_infer,
    .run = binarizer_run,
};

/* ---- FeatureVectorizer ------------------------------------------------- */

static enum axle_status fv_infer(struct axle_kctx *k)
{
    const int64_t *dims;
    int nd;
    int64_t total = 0, rows = AXLE_DIM_UNKNOWN;
    enum axle_status st = axle_ml_ints(k->node, "FeatureVectorizer",
                                       "inputdimensions", &dims, &nd, k->err);
    if (st != AXLE_OK)
        return st;
    if (nd != k->n_inputs)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "FeatureVectorizer: %d inputs but %d "
                            "inputdimensions", k->n_inputs, nd);
    for (int i = 0; i < nd; i++) {
        const struct axle_tensor *x = k->in[i];
        int64_t r;
        if (x == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "FeatureVectorizer: input %d is missing", i);
        st = need_numeric(k, "FeatureVectorizer", x);
        if (st != AXLE_OK)
            return st;
        if (dims[i] < 0 || dims[i] > AXLE_TENSOR_MAX_ELEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "FeatureVectorizer: inputdimensions[%d] = "
                                "%lld is out of range", i, (long long)dims[i]);
        total += dims[i];
        if (x->rank == 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "FeatureVectorizer: input %d is a scalar", i);
        r = x->rank == 1 ? 1 : x->rank > 1 ? x->dims[0] : AXLE_DIM_UNKNOWN;
        if (r >= 0 && rows >= 0 && r != rows)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "FeatureVectorizer: input %d has %lld rows, "
                                "input 0 %lld", i, (long long)r,
                                (long long)rows);
        if (r >= 0 || i == 0)
            rows = r;
    }
    if (total > AXLE_TENSOR_MAX_ELEMS)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "FeatureVectorizer: too many features");
    k->out[0]->dtype = AXLE_DTYPE_FLOAT32;
    k->out[0]->rank = 2;
    k->out[0]->dims[0] = rows;
    k->out[0]->dims[1] = total;
    return AXLE_OK;
}

static enum axle_status fv_run(struct axle_kctx *k)
{
    int nd;
    const int64_t *dims = axle_node_attr_ints(k->node, "inputdimensions", &nd);
    struct axle_tensor *y = k->out[0];
    int64_t rows = y->dims[0], width = y->dims[1], off = 0;
    float *ys = y->data;

    for (int i = 0; i < nd; i++) {
        const struct axle_tensor *x = k->in[i];
        int64_t per = rows > 0 ? axle_tensor_numel(x) / rows : 0;
        int64_t take = per < dims[i] ? per : dims[i];
        for (int64_t r = 0; r < rows; r++) {
            float *o = ys + r * width + off;
            for (int64_t j = 0; j < take; j++)
                o[j] = (float)axle_ml_get(x, r * per + j);
            for (int64_t j = take; j < dims[i]; j++)
                o[j] = 0.0f;
        }
        off += dims[i];
    }
    return AXLE_OK;
}

const struct axle_op axle_op_feature_vectorizer = {
    .name = "FeatureVectorizer",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = -1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = fv_infer,
    .run = fv_run,
};

/* ---- Imputer ------------------------------------------------------------ */

static enum axle_status imputer_attrs(struct axle_kctx *k, const float **fv,
                                      int *nf, const int64_t **iv, int *ni)
{
    const struct axle_tensor *x = k->in[0];
    int64_t c = last_dim(x);
    bool is_float = x->dtype == AXLE_DTYPE_FLOAT32 ||
                    x->dtype == AXLE_DTYPE_FLOAT64;
    int n;
    enum axle_status st = axle_ml_floats(k->node, "Imputer",
                                         "imputed_value_floats", fv, nf,
                                         k->err);
    if (st == AXLE_OK)
        st = axle_ml_ints(k->node, "Imputer", "imputed_value_int64s", iv, ni,
                          k->err);
    if (st == AXLE_OK)
        st = need_numeric(k, "Imputer", x);
    if (st != AXLE_OK)
        return st;
    if (x->dtype == AXLE_DTYPE_UNDEFINED)
        return AXLE_OK;
    n = is_float ? *nf : *ni;
    if (n == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Imputer: %s input needs imputed_value_%s",
                            axle_dtype_name(x->dtype),
                            is_float ? "floats" : "int64s");
    if (n != 1 && c >= 0 && n != c)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Imputer: %d imputed values for %lld columns", n,
                            (long long)c);
    return AXLE_OK;
}

static enum axle_status imputer_infer(struct axle_kctx *k)
{
    const float *fv;
    const int64_t *iv;
    int nf, ni;
    enum axle_status st = imputer_attrs(k, &fv, &nf, &iv, &ni);
    if (st != AXLE_OK)
        return st;
    same_shape(k->out[0], k->in[0], k->in[0]->dtype);
    return AXLE_OK;
}

static enum axle_status imputer_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    const float *fv;
    const int64_t *iv;
    int nf, ni;
    int64_t n = axle_tensor_numel(x), c = last_dim(x);
    enum axle_status st = imputer_attrs(k, &fv, &nf, &iv, &ni);

    if (st != AXLE_OK)
        return st;
    if (x->dtype == AXLE_DTYPE_FLOAT32 || x->dtype == AXLE_DTYPE_FLOAT64) {
        double rep = axle_node_attr_float(k->node, "replaced_value_float",
                                          0.0f);
        bool rep_nan = isnan(rep);
        for (int64_t i = 0; i < n; i++) {
            double v = axle_ml_get(x, i);
            if (rep_nan ? isnan(v) : v == rep)
                v = fv[nf == 1 ? 0 : i % c];
            store(y, i, v);
        }
    } else {
        int64_t rep = axle_node_attr_int(k->node, "replaced_value_int64", 0);
        for (int64_t i = 0; i < n; i++) {
            int64_t v = x->dtype == AXLE_DTYPE_INT64
                            ? ((const int64_t *)x->data)[i]
                            : ((const int32_t *)x->data)[i];
            if (v == rep)
                v = iv[ni == 1 ? 0 : i % c];
            if (y->dtype == AXLE_DTYPE_INT64)
                ((int64_t *)y->data)[i] = v;
            else
                ((int32_t *)y->data)[i] = (int32_t)v;
        }
    }
    return AXLE_OK;
}

const struct axle_op axle_op_imputer = {
    .name = "Imputer",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = imputer_infer,
    .run = imputer_run,
};

/* ---- Normalizer -------------------------------------------------------- */

enum norm_kind { NORM_MAX, NORM_L1, NORM_L2 };

static enum axle_status normalizer_kind(struct axle_kctx *k,
                                        enum norm_kind *kind)
{
    const char *s = axle_node_attr_str(k->node, "norm", "MAX");
    enum axle_status st = need_numeric(k, "Normalizer", k->in[0]);
    if (st != AXLE_OK)
        return st;
    if (k->in[0]->rank >= 0 && k->in[0]->rank != 1 && k->in[0]->rank != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Normalizer: X must be [C] or [N, C], got rank "
                            "%d", k->in[0]->rank);
    if (strcmp(s, "MAX") == 0)
        *kind = NORM_MAX;
    else if (strcmp(s, "L1") == 0)
        *kind = NORM_L1;
    else if (strcmp(s, "L2") == 0)
        *kind = NORM_L2;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Normalizer: norm '%.20s' is not MAX, L1 or L2",
                            s);
    return AXLE_OK;
}

static enum axle_status normalizer_infer(struct axle_kctx *k)
{
    enum norm_kind kind;
    enum axle_status st = normalizer_kind(k, &kind);
    if (st != AXLE_OK)
        return st;
    same_shape(k->out[0], k->in[0], AXLE_DTYPE_FLOAT32);
    return AXLE_OK;
}

static enum axle_status normalizer_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    float *ys = k->out[0]->data;
    enum norm_kind kind;
    int64_t rows, cols;
    enum axle_status st = normalizer_kind(k, &kind);

    if (st != AXLE_OK)
        return st;
    axle_ml_rows_cols(x, &rows, &cols);
    for (int64_t r = 0; r < rows; r++) {
        float *o = ys + r * cols;
        float norm = 0.0f;
        for (int64_t j = 0; j < cols; j++)
            o[j] = (float)axle_ml_get(x, r * cols + j);
        if (kind == NORM_MAX) {
            norm = -FLT_MAX;
            for (int64_t j = 0; j < cols; j++)
                if (o[j] > norm)
                    norm = o[j];
        } else if (kind == NORM_L1) {
            for (int64_t j = 0; j < cols; j++)
                norm += fabsf(o[j]);
        } else {
            for (int64_t j = 0; j < cols; j++)
                norm += o[j] * o[j];
            norm = sqrtf(norm);
        }
        if (cols == 0 || norm == 0.0f)
            continue;
        for (int64_t j = 0; j < cols; j++)
            o[j] /= norm;
    }
    return AXLE_OK;
}

const struct axle_op axle_op_normalizer = {
    .name = "Normalizer",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = normalizer_infer,
    .run = normalizer_run,
};

/* ---- Scaler -------------------------------------------------------------- */

static enum axle_status scaler_attrs(struct axle_kctx *k, const float **off,
                                     int *no, const float **sc, int *ns)
{
    int64_t c = last_dim(k->in[0]);
    enum axle_status st = need_numeric(k, "Scaler", k->in[0]);
    if (st == AXLE_OK)
        st = axle_ml_floats(k->node, "Scaler", "offset", off, no, k->err);
    if (st == AXLE_OK)
        st = axle_ml_floats(k->node, "Scaler", "scale", sc, ns, k->err);
    if (st != AXLE_OK)
        return st;
    if ((*no > 1 && c >= 0 && *no != c) || (*ns > 1 && c >= 0 && *ns != c))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Scaler: offset (%d) and scale (%d) must hold one "
                            "value or one per column (%lld)", *no, *ns,
                            (long long)c);
    return AXLE_OK;
}

static enum axle_status scaler_infer(struct axle_kctx *k)
{
    const float *off, *sc;
    int no, ns;
    enum axle_status st = scaler_attrs(k, &off, &no, &sc, &ns);
    if (st != AXLE_OK)
        return st;
    same_shape(k->out[0], k->in[0], AXLE_DTYPE_FLOAT32);
    return AXLE_OK;
}

static enum axle_status scaler_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    float *ys = k->out[0]->data;
    const float *off, *sc;
    int no, ns;
    int64_t n = axle_tensor_numel(x), c = last_dim(x);
    enum axle_status st = scaler_attrs(k, &off, &no, &sc, &ns);

    if (st != AXLE_OK)
        return st;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = c > 0 ? i % c : 0;
        float o = no == 0 ? 0.0f : off[no == 1 ? 0 : j];
        float s = ns == 0 ? 1.0f : sc[ns == 1 ? 0 : j];
        ys[i] = ((float)axle_ml_get(x, i) - o) * s;
    }
    return AXLE_OK;
}

const struct axle_op axle_op_scaler = {
    .name = "Scaler",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = scaler_infer,
    .run = scaler_run,
};
