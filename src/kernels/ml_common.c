/*
 * ml_common.c - helpers shared by the ai.onnx.ml kernels (see ml_common.h).
 * The transforms follow ONNX Runtime's ml_common.h, which is the reference
 * for these operators: float arithmetic, logistic written so it never
 * overflows, probit through Winitzki's erfinv approximation.
 */
#include "kernels/ml_common.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/graph.h"
#include "ir/tensor.h"

enum axle_status axle_ml_post_parse(const struct axle_node *n,
                                    enum axle_ml_post *out,
                                    struct axle_err *err)
{
    static const char *const names[] = {"NONE", "LOGISTIC", "SOFTMAX",
                                        "SOFTMAX_ZERO", "PROBIT"};
    const char *s = axle_node_attr_str(n, "post_transform", "NONE");
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum axle_ml_post)i;
            return AXLE_OK;
        }
    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                        "post_transform '%.40s' is not NONE, LOGISTIC, "
                        "SOFTMAX, SOFTMAX_ZERO or PROBIT", s);
}

float axle_ml_logistic(float v)
{
    float p = 1.0f / (1.0f + expf(-fabsf(v)));
    return v < 0 ? 1.0f - p : p;
}

float axle_ml_probit(float v)
{
    float x = 2.0f * v - 1.0f;
    float sgn = x < 0 ? -1.0f : 1.0f;
    float w = logf((1.0f - x) * (1.0f + x));
    float a = 2.0f / (3.14159f * 0.147f) + 0.5f * w;
    float b = 1.0f / 0.147f * w;
    return 1.41421356f * sgn * sqrtf(-a + sqrtf(a * a - b));
}

void axle_ml_softmax(float *v, int64_t n)
{
    float mx = -FLT_MAX, sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        if (v[i] > mx)
            mx = v[i];
    for (int64_t i = 0; i < n; i++) {
        v[i] = expf(v[i] - mx);
        sum += v[i];
    }
    for (int64_t i = 0; i < n; i++)
        v[i] /= sum;
}

void axle_ml_softmax_zero(float *v, int64_t n)
{
    float mx = -FLT_MAX, sum = 0.0f, eneg;
    for (int64_t i = 0; i < n; i++)
        if (v[i] > mx)
            mx = v[i];
    eneg = expf(-mx);
    for (int64_t i = 0; i < n; i++) {
        if (v[i] > 0.0000001f || v[i] < -0.0000001f) {
            v[i] = expf(v[i] - mx);
            sum += v[i];
        } else {
            v[i] *= eneg;
        }
    }
    for (int64_t i = 0; i < n; i++)
        v[i] /= sum;
}

void axle_ml_post_row(enum axle_ml_post post, float *v, int64_t n)
{
    if (n == 1) {
        if (post == AXLE_ML_POST_PROBIT)
            v[0] = axle_ml_probit(v[0]);
        return;
    }
    switch (post) {
    case AXLE_ML_POST_NONE:
        return;
    case AXLE_ML_POST_LOGISTIC:
        for (int64_t i = 0; i < n; i++)
            v[i] = axle_ml_logistic(v[i]);
        return;
    case AXLE_ML_POST_PROBIT:
        for (int64_t i = 0; i < n; i++)
            v[i] = axle_ml_probit(v[i]);
        return;
    case AXLE_ML_POST_SOFTMAX:
        axle_ml_softmax(v, n);
        return;
    case AXLE_ML_POST_SOFTMAX_ZERO:
        axle_ml_softmax_zero(v, n);
        return;
    }
}

double axle_ml_get(const struct axle_tensor *t, int64_t i)
{
    if (t->dtype == AXLE_DTYPE_FLOAT32)
        return ((const float *)t->data)[i];
    return axle_tensor_get_f64(t, i);
}

bool axle_ml_numeric_dtype(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT64 ||
           dt == AXLE_DTYPE_INT32 || dt == AXLE_DTYPE_INT64;
}

static enum axle_status typed(const struct axle_node *n, const char *op,
                              const char *name, enum axle_attr_type type,
                              const struct axle_attr **out,
                              struct axle_err *err)
{
    const struct axle_attr *a = axle_node_attr(n, name);
    *out = NULL;
    if (a == NULL)
        return AXLE_OK;
    if (a->type != type)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: attribute '%s' must be a list of %s", op,
                            name,
                            type == AXLE_ATTR_FLOATS  ? "floats"
                            : type == AXLE_ATTR_INTS ? "integers"
                                                     : "strings");
    *out = a;
    return AXLE_OK;
}

enum axle_status axle_ml_floats(const struct axle_node *n, const char *op,
                                const char *name, const float **v, int *len,
                                struct axle_err *err)
{
    const struct axle_attr *a;
    enum axle_status st = typed(n, op, name, AXLE_ATTR_FLOATS, &a, err);
    *v = a ? a->floats : NULL;
    *len = a ? a->n : 0;
    return st;
}

enum axle_status axle_ml_ints(const struct axle_node *n, const char *op,
                              const char *name, const int64_t **v, int *len,
                              struct axle_err *err)
{
    const struct axle_attr *a;
    enum axle_status st = typed(n, op, name, AXLE_ATTR_INTS, &a, err);
    *v = a ? a->ints : NULL;
    *len = a ? a->n : 0;
    return st;
}

enum axle_status axle_ml_strings(const struct axle_node *n, const char *op,
                                 const char *name, char *const **v, int *len,
                                 struct axle_err *err)
{
    const struct axle_attr *a;
    enum axle_status st = typed(n, op, name, AXLE_ATTR_STRINGS, &a, err);
    *v = a ? a->strings : NULL;
    *len = a ? a->n : 0;
    return st;
}

char *axle_ml_strdup(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    char *d = axle_try_malloc(len + 1);
    if (d == NULL)
        return NULL;
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

bool axle_ml_rows_cols(const struct axle_tensor *x, int64_t *rows,
                       int64_t *cols)
{
    if (x->rank == 1) {
        *rows = 1;
        *cols = x->dims[0];
        return true;
    }
    if (x->rank == 2) {
        *rows = x->dims[0];
        *cols = x->dims[1];
        return true;
    }
    return false;
}
