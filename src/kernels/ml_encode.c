/*
 * ml_encode.c - the ai.onnx.ml encoders and the map operators:
 *
 *   LabelEncoder   ai.onnx.ml 1: string -> int64 (index in classes_strings,
 *                  else default_int64 = -1) or int64 -> string
 *                  (classes_strings[x], else default_string = "_Unused").
 *                  ai.onnx.ml 2 and 3: keys_{strings,int64s,floats} map to
 *                  values_{strings,int64s,floats}; the input type is the
 *                  keys' type, the output the values'; misses give
 *                  default_string ("_Unused"), default_int64 (-1) or
 *                  default_float (-0.0). Float keys compare with ==, so a NaN
 *                  key never matches (ONNX Runtime at these opsets).
 *   CategoryMapper string -> int64 through cats_strings/cats_int64s (pairs),
 *                  or int64 -> string; misses give default_int64 (-1) or
 *                  default_string ("_Unused").
 *   OneHotEncoder  X string or numeric (float/double/int32 cast to int64 by
 *                  truncation, as ONNX Runtime does) -> float X.shape + [K],
 *                  K = number of cats_int64s or cats_strings; a value in no
 *                  category is a row of zeros, or an error when zeros = 0.
 *   ZipMap         ONNX output type seq(map(label, float)). axle has no map
 *                  or sequence values, so Z's output is the probability
 *                  tensor itself ([N, C] float, column j = class label j);
 *                  the class labels are checked against C and kept in the
 *                  model for clients to read.
 *   CastMap, DictVectorizer  their input is a map, which axle's tensors
 *                  cannot hold: a model that feeds them is refused with
 *                  "map inputs are not supported" (by the ONNX importer for
 *                  a map graph input, by infer for anything else).
 *
 * Lookups are binary searches over keys sorted once in prepare. Output
 * strings are copies the output tensor owns.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/ml_common.h"

enum kv_type { KV_NONE = 0, KV_STRING, KV_INT, KV_FLOAT };

static enum axle_dtype kv_dtype(enum kv_type t)
{
    return t == KV_STRING ? AXLE_DTYPE_STRING
           : t == KV_INT  ? AXLE_DTYPE_INT64
           : t == KV_FLOAT ? AXLE_DTYPE_FLOAT32
                          : AXLE_DTYPE_UNDEFINED;
}

/* A lookup table: n keys of one type (borrowed from the node's
 * attributes), sorted, each with the index of its value. */
struct kv_map {
    enum kv_type key_type, val_type;
    int n;
    char *const *skeys;
    const int64_t *ikeys;
    const float *fkeys;
    int32_t *order; /* key indices in sorted order (NaN keys left out) */
    int n_order;
    /* values: either the index itself (LabelEncoder-1 string -> int) or
     * these arrays */
    char *const *svals;
    const int64_t *ivals;
    const float *fvals;
    bool index_values;
    const char *def_s;
    int64_t def_i;
    float def_f;
};

static int key_cmp(const struct kv_map *m, int32_t a, int32_t b)
{
    switch (m->key_type) {
    case KV_STRING:
        return strcmp(m->skeys[a], m->skeys[b]);
    case KV_INT:
        return m->ikeys[a] < m->ikeys[b] ? -1 : m->ikeys[a] > m->ikeys[b];
    default:
        return m->fkeys[a] < m->fkeys[b] ? -1 : m->fkeys[a] > m->fkeys[b];
    }
}

/* Stable insertion-merge: a bottom-up merge sort (tmp holds n entries). */
static void sort_keys(struct kv_map *m, int32_t *tmp)
{
    int n = m->n_order;
    int32_t *a = m->order, *b = tmp;
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n;
            int hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                b[o++] = key_cmp(m, a[i], a[j]) <= 0 ? a[i++] : a[j++];
            while (i < mid)
                b[o++] = a[i++];
            while (j < hi)
                b[o++] = a[j++];
        }
        int32_t *s = a;
        a = b;
        b = s;
    }
    if (a != m->order)
        memcpy(m->order, a, (size_t)n * sizeof(int32_t));
}

/* Sorts the keys. With duplicates, ONNX Runtime's map keeps the first
 * insertion: the stable sort puts it first and lookups return the first
 * of a run of equal keys. */
static enum axle_status kv_build(struct kv_map *m, struct axle_err *err)
{
    int32_t *tmp;
    m->order = axle_try_malloc((size_t)(m->n ? m->n : 1) * sizeof(int32_t));
    tmp = axle_try_malloc((size_t)(m->n ? m->n : 1) * sizeof(int32_t));
    if (m->order == NULL || tmp == NULL) {
        axle_free(tmp);
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    }
    m->n_order = 0;
    for (int i = 0; i < m->n; i++)
        if (m->key_type != KV_FLOAT || !isnan(m->fkeys[i]))
            m->order[m->n_order++] = i;
    sort_keys(m, tmp);
    axle_free(tmp);
    return AXLE_OK;
}

static void kv_release(void *state)
{
    struct kv_map *m = state;
    if (m == NULL)
        return;
    axle_free(m->order);
    axle_free(m);
}

/* Index of the key equal to element i of x, -1 if none. */
static int32_t kv_find(const struct kv_map *m, const struct axle_tensor *x,
                       int64_t i)
{
    const char *s = NULL;
    int64_t iv = 0;
    double fv = 0;
    int lo = 0, hi = m->n_order;

    if (m->key_type == KV_STRING) {
        s = ((char *const *)x->data)[i];
        if (s == NULL)
            s = "";
    } else if (m->key_type == KV_INT) {
        iv = x->dtype == AXLE_DTYPE_INT64 ? ((const int64_t *)x->data)[i]
                                          : (int64_t)axle_ml_get(x, i);
    } else {
        fv = (float)axle_ml_get(x, i);
        if (isnan(fv))
            return -1;
    }
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int32_t kidx = m->order[mid];
        int c;
        if (m->key_type == KV_STRING)
            c = strcmp(m->skeys[kidx], s);
        else if (m->key_type == KV_INT)
            c = m->ikeys[kidx] < iv ? -1 : m->ikeys[kidx] > iv;
        else
            c = m->fkeys[kidx] < fv ? -1 : m->fkeys[kidx] > fv;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->n_order) {
        int32_t kidx = m->order[lo];
        bool eq = m->key_type == KV_STRING ? strcmp(m->skeys[kidx], s) == 0
                  : m->key_type == KV_INT ? m->ikeys[kidx] == iv
                                          : m->fkeys[kidx] == fv;
        if (eq)
            return kidx;
    }
    return -1;
}

/* Writes the mapped value of every element of x into y. */
static enum axle_status kv_apply(const struct kv_map *m, const char *op,
                                 const struct axle_tensor *x,
                                 struct axle_tensor *y, struct axle_err *err)
{
    int64_t n = axle_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        int32_t k = kv_find(m, x, i);
        switch (m->val_type) {
        case KV_STRING: {
            char **o = (char **)y->data + i;
            *o = axle_ml_strdup(k >= 0 ? m->svals[k] : m->def_s);
            if (*o == NULL)
                return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                                    "%s: out of memory", op);
            break;
        }
        case KV_INT:
            ((int64_t *)y->data)[i] =
                k < 0 ? m->def_i : m->index_values ? k : m->ivals[k];
            break;
        default:
            ((float *)y->data)[i] = k >= 0 ? m->fvals[k] : m->def_f;
            break;
        }
    }
    return AXLE_OK;
}

/* ---- LabelEncoder ------------------------------------------------------- */

/* The map a LabelEncoder node describes; the input dtype picks the
 * direction at ai.onnx.ml 1 (UNDEFINED: not known yet). */
static enum axle_status le_describe(const struct axle_node *nd, int opset,
                                    enum axle_dtype in, struct kv_map *m,
                                    struct axle_err *err)
{
    static const char *const KEYS[] = {"keys_strings", "keys_int64s",
                                       "keys_floats"};
    static const char *const VALS[] = {"values_strings", "values_int64s",
                                       "values_floats"};
    int nk = -1, nv = -1;

    memset(m, 0, sizeof(*m));
    m->def_s = axle_node_attr_str(nd, "default_string", "_Unused");
    m->def_i = axle_node_attr_int(nd, "default_int64", -1);
    m->def_f = axle_node_attr_float(nd, "default_float", -0.0f);
    if (opset <= 1) {
        char *const *cls;
        int n;
        enum axle_status st = axle_ml_strings(nd, "LabelEncoder",
                                              "classes_strings", &cls, &n,
                                              err);
        if (st != AXLE_OK)
            return st;
        if (in == AXLE_DTYPE_UNDEFINED)
            return AXLE_OK;
        if (in == AXLE_DTYPE_STRING) {
            m->key_type = KV_STRING;
            m->val_type = KV_INT;
            m->skeys = cls;
            m->index_values = true;
        } else if (in == AXLE_DTYPE_INT64) {
            /* int -> string is an index into classes_strings, not a
             * search: kv_find over keys 0..n-1 */
            m->key_type = KV_INT;
            m->val_type = KV_STRING;
            m->svals = cls;
        } else {
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "LabelEncoder: input must be string or "
                                "int64 at ai.onnx.ml 1, got %s",
                                axle_dtype_name(in));
        }
        m->n = n;
        return AXLE_OK;
    }
    for (int t = 0; t < 3; t++) {
        const struct axle_attr *a = axle_node_attr(nd, KEYS[t]);
        const struct axle_attr *b = axle_node_attr(nd, VALS[t]);
        if (a != NULL) {
            if (nk >= 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "LabelEncoder: more than one keys_* "
                                    "attribute");
            if (a->type != (t == 0 ? AXLE_ATTR_STRINGS
                            : t == 1 ? AXLE_ATTR_INTS
                                     : AXLE_ATTR_FLOATS))
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "LabelEncoder: %s has the wrong type",
                                    KEYS[t]);
            nk = t;
            m->n = a->n;
            m->skeys = a->strings;
            m->ikeys = a->ints;
            m->fkeys = a->floats;
        }
        if (b != NULL) {
            if (nv >= 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "LabelEncoder: more than one values_* "
                                    "attribute");
            if (b->type != (t == 0 ? AXLE_ATTR_STRINGS
                            : t == 1 ? AXLE_ATTR_INTS
                                     : AXLE_ATTR_FLOATS))
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "LabelEncoder: %s has the wrong type",
                                    VALS[t]);
            nv = t;
            m->svals = b->strings;
            m->ivals = b->ints;
            m->fvals = b->floats;
            if (a == NULL && nk < 0)
                m->n = b->n;
            if (b->n != (a ? a->n : b->n))
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "LabelEncoder: %d keys but %d values",
                                    a ? a->n : -1, b->n);
        }
    }
    if (nk < 0 || nv < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "LabelEncoder: needs one keys_* and one values_* "
                            "list attribute (keys_tensor and values_tensor of "
                            "ai.onnx.ml 4 are not supported)");
    {
        const struct axle_attr *a = axle_node_attr(nd, KEYS[nk]);
        const struct axle_attr *b = axle_node_attr(nd, VALS[nv]);
        if (a->n != b->n)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "LabelEncoder: %d keys but %d values", a->n,
                                b->n);
    }
    m->key_type = (enum kv_type)(nk + 1);
    m->val_type = (enum kv_type)(nv + 1);
    if (in != AXLE_DTYPE_UNDEFINED && in != kv_dtype(m->key_type) &&
        !(m->key_type == KV_INT && in == AXLE_DTYPE_INT32) &&
        !(m->key_type == KV_FLOAT && in == AXLE_DTYPE_FLOAT64))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "LabelEncoder: input is %s but the keys are %s",
                            axle_dtype_name(in),
                            axle_dtype_name(kv_dtype(m->key_type)));
    return AXLE_OK;
}

static enum axle_status le_prepare(struct axle_kctx *k, void **state)
{
    struct kv_map *m;
    enum axle_status st;

    *state = NULL;
    m = axle_try_calloc(1, sizeof(*m));
    if (m == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    st = le_describe(k->node, k->opset, k->in[0]->dtype, m, k->err);
    if (st == AXLE_OK && m->key_type == KV_NONE)
        st = axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                          "LabelEncoder: the input type must be known at "
                          "load time");
    if (st == AXLE_OK && k->opset <= 1 && m->key_type == KV_INT) {
        /* classes_strings[x]: keys are the indices 0..n-1 */
        m->ikeys = NULL;
    }
    if (st == AXLE_OK && !(k->opset <= 1 && m->key_type == KV_INT))
        st = kv_build(m, k->err);
    if (st != AXLE_OK) {
        kv_release(m);
        return st;
    }
    *state = m;
    return AXLE_OK;
}

static enum axle_status le_infer(struct axle_kctx *k)
{
    struct kv_map m;
    enum axle_status st = le_describe(k->node, k->opset, k->in[0]->dtype, &m,
                                      k->err);
    struct axle_tensor *y = k->out[0];
    const struct axle_tensor *x = k->in[0];

    if (st != AXLE_OK)
        return st;
    y->dtype = kv_dtype(m.val_type);
    y->rank = x->rank;
    for (int d = 0; d < x->rank; d++)
        y->dims[d] = x->dims[d];
    return AXLE_OK;
}

static enum axle_status le_run(struct axle_kctx *k)
{
    const struct kv_map *m = k->state;
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];

    if (m == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "LabelEncoder: not prepared");
    if (x->dtype != kv_dtype(m->key_type) &&
        !(m->key_type == KV_INT && x->dtype == AXLE_DTYPE_INT32) &&
        !(m->key_type == KV_FLOAT && x->dtype == AXLE_DTYPE_FLOAT64))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "LabelEncoder: input is %s but the keys are %s",
                            axle_dtype_name(x->dtype),
                            axle_dtype_name(kv_dtype(m->key_type)));
    if (k->opset <= 1 && m->key_type == KV_INT) {
        int64_t n = axle_tensor_numel(x);
        for (int64_t i = 0; i < n; i++) {
            int64_t v = ((const int64_t *)x->data)[i];
            char **o = (char **)y->data + i;
            *o = axle_ml_strdup(v >= 0 && v < m->n ? m->svals[v] : m->def_s);
            if (*o == NULL)
                return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                    "LabelEncoder: out of memory");
        }
        return AXLE_OK;
    }
    return kv_apply(m, "LabelEncoder", x, y, k->err);
}

const struct axle_op axle_op_label_encoder = {
    .name = "LabelEncoder",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = le_infer,
    .run = le_run,
    .prepare = le_prepare,
    .release = kv_release,
};

/* ---- CategoryMapper ----------------------------------------------------- */

static enum axle_status cm_describe(const struct axle_node *nd,
                                    enum axle_dtype in, struct kv_map *m,
                                    struct axle_err *err)
{
    char *const *cs;
    const int64_t *ci;
    int ns, ni;
    enum axle_status st = axle_ml_strings(nd, "CategoryMapper", "cats_strings",
                                          &cs, &ns, err);
    if (st == AXLE_OK)
        st = axle_ml_ints(nd, "CategoryMapper", "cats_int64s", &ci, &ni, err);
    if (st != AXLE_OK)
        return st;
    if (ns != ni)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "CategoryMapper: %d cats_strings but %d "
                            "cats_int64s", ns, ni);
    memset(m, 0, sizeof(*m));
    m->n = ns;
    m->def_s = axle_node_attr_str(nd, "default_string", "_Unused");
    m->def_i = axle_node_attr_int(nd, "default_int64", -1);
    if (in == AXLE_DTYPE_STRING) {
        m->key_type = KV_STRING;
        m->val_type = KV_INT;
        m->skeys = cs;
        m->ivals = ci;
    } else if (in == AXLE_DTYPE_INT64) {
        m->key_type = KV_INT;
        m->val_type = KV_STRING;
        m->ikeys = ci;
        m->svals = cs;
    } else if (in != AXLE_DTYPE_UNDEFINED) {
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "CategoryMapper: input must be string or int64, "
                            "got %s", axle_dtype_name(in));
    }
    return AXLE_OK;
}

static enum axle_status cm_prepare(struct axle_kctx *k, void **state)
{
    struct kv_map *m;
    enum axle_status st;

    *state = NULL;
    m = axle_try_calloc(1, sizeof(*m));
    if (m == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    st = cm_describe(k->node, k->in[0]->dtype, m, k->err);
    if (st == AXLE_OK && m->key_type == KV_NONE)
        st = axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                          "CategoryMapper: the input type must be known at "
                          "load time");
    if (st == AXLE_OK)
        st = kv_build(m, k->err);
    if (st != AXLE_OK) {
        kv_release(m);
        return st;
    }
    *state = m;
    return AXLE_OK;
}

static enum axle_status cm_infer(struct axle_kctx *k)
{
    struct kv_map m;
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    enum axle_status st = cm_describe(k->node, x->dtype, &m, k->err);

    if (st != AXLE_OK)
        return st;
    y->dtype = kv_dtype(m.val_type);
    y->rank = x->rank;
    for (int d = 0; d < x->rank; d++)
        y->dims[d] = x->dims[d];
    return AXLE_OK;
}

static enum axle_status cm_run(struct axle_kctx *k)
{
    const struct kv_map *m = k->state;
    if (m == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "CategoryMapper: not prepared");
    if (k->in[0]->dtype != kv_dtype(m->key_type))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "CategoryMapper: input type changed");
    return kv_apply(m, "CategoryMapper", k->in[0], k->out[0], k->err);
}

const struct axle_op axle_op_category_mapper = {
    .name = "CategoryMapper",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = cm_infer,
    .run = cm_run,
    .prepare = cm_prepare,
    .release = kv_release,
};

/* ---- OneHotEncoder ------------------------------------------------------ */

static enum axle_status ohe_describe(const struct axle_node *nd,
                                     enum axle_dtype in, struct kv_map *m,
                                     struct axle_err *err)
{
    char *const *cs;
    const int64_t *ci;
    int ns, ni;
    enum axle_status st = axle_ml_strings(nd, "OneHotEncoder", "cats_strings",
                                          &cs, &ns, err);
    if (st == AXLE_OK)
        st = axle_ml_ints(nd, "OneHotEncoder", "cats_int64s", &ci, &ni, err);
    if (st != AXLE_OK)
        return st;
    if ((ns > 0) == (ni > 0))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "OneHotEncoder: exactly one of cats_int64s and "
                            "cats_strings must be given");
    memset(m, 0, sizeof(*m));
    m->n = ns > 0 ? ns : ni;
    m->key_type = ns > 0 ? KV_STRING : KV_INT;
    m->skeys = cs;
    m->ikeys = ci;
    if (in == AXLE_DTYPE_UNDEFINED)
        return AXLE_OK;
    if ((in == AXLE_DTYPE_STRING) != (m->key_type == KV_STRING) ||
        (in != AXLE_DTYPE_STRING && !axle_ml_numeric_dtype(in)))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "OneHotEncoder: a %s input needs %s", 
                            axle_dtype_name(in),
                            in == AXLE_DTYPE_STRING ? "cats_strings"
                                                    : "cats_int64s");
    return AXLE_OK;
}

static enum axle_status ohe_prepare(struct axle_kctx *k, void **state)
{
    struct kv_map *m;
    enum axle_status st;

    *state = NULL;
    m = axle_try_calloc(1, sizeof(*m));
    if (m == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    st = ohe_describe(k->node, k->in[0]->dtype, m, k->err);
    if (st == AXLE_OK)
        st = kv_build(m, k->err);
    if (st != AXLE_OK) {
        kv_release(m);
        return st;
    }
    *state = m;
    return AXLE_OK;
}

static enum axle_status ohe_infer(struct axle_kctx *k)
{
    struct kv_map m;
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    enum axle_status st = ohe_describe(k->node, x->dtype, &m, k->err);

    if (st != AXLE_OK)
        return st;
    y->dtype = AXLE_DTYPE_FLOAT32;
    if (x->rank < 0) {
        y->rank = -1;
        return AXLE_OK;
    }
    if (x->rank + 1 > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "OneHotEncoder: output rank %d exceeds %d",
                            x->rank + 1, AXLE_MAX_RANK);
    y->rank = x->rank + 1;
    for (int d = 0; d < x->rank; d++)
        y->dims[d] = x->dims[d];
    y->dims[x->rank] = m.n;
    return AXLE_OK;
}

static enum axle_status ohe_run(struct axle_kctx *k)
{
    const struct kv_map *m = k->state;
    const struct axle_tensor *x = k->in[0];
    float *ys = k->out[0]->data;
    int64_t n = axle_tensor_numel(x);
    bool zeros = axle_node_attr_int(k->node, "zeros", 1) != 0;
    enum axle_status st;

    if (m == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "OneHotEncoder: not prepared");
    st = ohe_describe(k->node, x->dtype, &(struct kv_map){0}, k->err);
    if (st != AXLE_OK)
        return st;
    memset(ys, 0, (size_t)n * (size_t)m->n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        int32_t c = kv_find(m, x, i);
        if (c >= 0)
            ys[i * m->n + c] = 1.0f;
        else if (!zeros)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "OneHotEncoder: element %lld is in no "
                                "category and zeros is 0", (long long)i);
    }
    return AXLE_OK;
}

const struct axle_op axle_op_one_hot_encoder = {
    .name = "OneHotEncoder",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = ohe_infer,
    .run = ohe_run,
    .prepare = ohe_prepare,
    .release = kv_release,
};

/* ---- ZipMap --------------------------------------------------------------- */

static enum axle_status zipmap_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    const struct axle_attr *s = axle_node_attr(k->node, "classlabels_strings");
    const struct axle_attr *i = axle_node_attr(k->node, "classlabels_int64s");
    int n = -1;

    if (s != NULL && s->type == AXLE_ATTR_STRINGS && s->n > 0)
        n = s->n;
    if (i != NULL && i->type == AXLE_ATTR_INTS && i->n > 0) {
        if (n >= 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "ZipMap: both classlabels_strings and "
                                "classlabels_int64s are given");
        n = i->n;
    }
    if (n < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ZipMap: needs classlabels_strings or "
                            "classlabels_int64s");
    if (x->dtype != AXLE_DTYPE_UNDEFINED && x->dtype != AXLE_DTYPE_FLOAT32)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ZipMap: input must be float, got %s",
                            axle_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank != 1 && x->rank != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ZipMap: input must be [C] or [N, C], got rank %d",
                            x->rank);
    if (x->rank >= 1 && x->dims[x->rank - 1] >= 0 &&
        x->dims[x->rank - 1] != n)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ZipMap: %lld scores per row for %d class labels",
                            (long long)x->dims[x->rank - 1], n);
    /* The map sequence is represented by the scores themselves. */
    *y = *x;
    y->dtype = AXLE_DTYPE_FLOAT32;
    y->data = NULL;
    y->owns_data = 0;
    return AXLE_OK;
}

const struct axle_op axle_op_zip_map = {
    .name = "ZipMap",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = zipmap_infer,
    .view = true,
};

/* ---- CastMap, DictVectorizer ------------------------------------------- */

static enum axle_status map_input_infer(struct axle_kctx *k)
{
    return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                        "%s: map inputs are not supported (axle values are "
                        "tensors)", k->node->op_type);
}

const struct axle_op axle_op_cast_map = {
    .name = "CastMap",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = map_input_infer,
};

const struct axle_op axle_op_dict_vectorizer = {
    .name = "DictVectorizer",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = map_input_infer,
};
