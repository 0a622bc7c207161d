/*
 * xgboost_import.c - an XGBoost document (JSON or UBJSON) -> struct
 * axle_forest -> one-node model.
 *
 * The document (xgboost's doc/model.schema):
 *   { "learner": {
 *       "attributes": { "best_iteration": "9", "scikit_learn": "{...}" },
 *       "feature_names": [...], "feature_types": [...],
 *       "gradient_booster": gbtree | dart | gblinear,
 *       "learner_model_param": { "base_score": "5E-1" | "[5E-1,...]",
 *                                "num_class": "0", "num_feature": "4",
 *                                "num_target": "1" },
 *       "objective": { "name": "binary:logistic", ... } },
 *     "version": [major, minor, patch] }
 *   gbtree   = { "name": "gbtree", "model": { "gbtree_model_param":
 *               { "num_trees": "N" }, "tree_info": [class per tree],
 *               "trees": [tree...] } }            (trees: xgboost_tree.c)
 *   dart     = { "name": "dart", "gbtree": gbtree, "weight_drop": [w...] }
 *   gblinear = { "name": "gblinear", "model": { "weights":
 *               [(num_feature + 1) x n_groups, bias row last] } }
 *
 * Prediction, as the library computes it: the margin starts at the
 * intercept (base_score through the objective's ProbToMargin: logit for
 * binary:logistic / reg:logistic, log for poisson / gamma / tweedie, as is
 * otherwise, binary:logitraw included), then each tree's leaf is added in
 * model order, in float32 (dart: leaf * weight_drop, in float); then the
 * objective's PredTransform. So acc_float and base_first are set and
 * results agree bit for bit up to the final transform (exp / logistic /
 * softmax, done in double and rounded to float).
 *
 * gblinear: margin = (bias + intercept) + sum over features in order of
 * float(x * w), missing features contributing nothing (gblinear.cc Pred).
 * Each non-zero weight becomes a one-leaf tree whose leaf is the linear
 * term w * x with plain value 0: the forest falls back to the plain value
 * when x is missing, which is exactly "no contribution", and the float sum
 * runs in XGBoost's order. Models with more than AXLE_XGB_LINEAR_SPLIT_MAX
 * non-zero weights use one linear leaf per output instead, where a row
 * with any missing feature falls back to the intercept alone (documented
 * in docs/formats/xgboost.md).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "import/xgboost/xgb_internal.h"
#include "import/xgboost/xgboost.h"
#include "ir/model.h"
#include "kernels/forest.h"

bool axle_xgboost_sniff(const uint8_t *buf, size_t len)
{
    static const char key[] = "\"learner\"";
    size_t i = 0;

    if (len >= 2 && buf[0] == '{' &&
        (buf[1] == 'i' || buf[1] == 'U' || buf[1] == 'I' || buf[1] == 'l' ||
         buf[1] == 'L'))
        return true;
    while (i < len && i < 64 &&
           (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' ||
            buf[i] == '\t'))
        i++;
    if (i >= len || buf[i] != '{')
        return false;
    for (i++; i < len && i < 128 &&
              (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' ||
               buf[i] == '\t');
         i++)
        ;
    return len - i >= sizeof(key) - 1 &&
           memcmp(buf + i, key, sizeof(key) - 1) == 0;
}

/* ---- objectives ------------------------------------------------------- */

enum link { LINK_ID, LINK_LOGIT, LINK_LOG };
enum arity { ANY, ONE, MULTI };

struct objective {
    const char *name;
    enum link link;                  /* ProbToMargin of base_score */
    enum axle_forest_transform xf;   /* PredTransform */
    enum axle_forest_output output;
    enum arity arity;
};

/* The objectives we serve. Links checked against xgboost 1.7.4 and 3.2.0
 * (margin of a one-tree model minus its leaf, for base_score 0.5 / 0.3).
 * multi:softmax: Booster.predict gives the argmax as a float; the forest
 * has no argmax transform, so it is served as a classifier whose "label"
 * output is that index (and "probabilities" the softmax). */
static const struct objective objectives[] = {
    {"binary:logistic", LINK_LOGIT, AXLE_XF_LOGISTIC, AXLE_FOREST_CLASSIFY, ONE},
    {"binary:logitraw", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ONE},
    {"binary:hinge", LINK_ID, AXLE_XF_HINGE, AXLE_FOREST_PREDICT, ONE},
    {"reg:logistic", LINK_LOGIT, AXLE_XF_LOGISTIC, AXLE_FOREST_PREDICT, ANY},
    {"reg:squarederror", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ANY},
    {"reg:linear", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ANY},
    {"reg:squaredlogerror", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ANY},
    {"reg:pseudohubererror", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ANY},
    {"reg:absoluteerror", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ANY},
    {"reg:quantileerror", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ANY},
    {"count:poisson", LINK_LOG, AXLE_XF_EXP, AXLE_FOREST_PREDICT, ANY},
    {"reg:gamma", LINK_LOG, AXLE_XF_EXP, AXLE_FOREST_PREDICT, ANY},
    {"reg:tweedie", LINK_LOG, AXLE_XF_EXP, AXLE_FOREST_PREDICT, ANY},
    {"multi:softprob", LINK_ID, AXLE_XF_SOFTMAX, AXLE_FOREST_CLASSIFY, MULTI},
    {"multi:softmax", LINK_ID, AXLE_XF_SOFTMAX, AXLE_FOREST_CLASSIFY, MULTI},
    {"rank:pairwise", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ONE},
    {"rank:ndcg", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ONE},
    {"rank:map", LINK_ID, AXLE_XF_NONE, AXLE_FOREST_PREDICT, ONE},
};

/* ---- a small growable string ------------------------------------------ */

struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        char *q;
        while (c < b->len + n + 1)
            c *= 2;
        q = axle_try_realloc(b->p, c);
        if (q == NULL) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* ---- the import ------------------------------------------------------- */

struct xgb_import {
    struct xgb_doc d;
    uint32_t learner;
    const struct objective *obj;
    char obj_name[64];
    char booster[16];
    int64_t num_feature, num_class, num_target;
    int32_t n_targets;
    float *margin; /* n_targets intercepts, margin space */
    float *base;   /* the forest's base values (gblinear: + bias) */
    char version[64];
    char best_iteration[32];
    bool has_missing;
    float missing;
    struct axle_forest *f;
};

static enum axle_status int_param(struct xgb_import *im, uint32_t obj,
                                  const char *key, bool required, int64_t dft,
                                  int64_t lo, int64_t hi, int64_t *out,
                                  struct axle_err *err)
{
    uint32_t v;
    enum axle_status st = xgb_member(&im->d, obj, key, -1, required,
                                     "learner_model_param", &v, err);
    if (st != AXLE_OK)
        return st;
    if (v == XGB_NONE) {
        *out = dft;
        return AXLE_OK;
    }
    if (xgb_int_param(&im->d, v, out) != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "learner_model_param %s is not an integer", key);
    if (*out < lo || *out > hi)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "learner_model_param %s %lld out of range "
                            "(%lld..%lld)", key, (long long)*out,
                            (long long)lo, (long long)hi);
    return AXLE_OK;
}

/* base_score: "5E-1" (xgboost < 3), "[5E-1]" or "[a,b,c]" (one per
 * output, xgboost >= 3), or a number. Values are float32, as XGBoost
 * stores them. */
static enum axle_status read_base_score(struct xgb_import *im, uint32_t lmp,
                                        float *bs, struct axle_err *err)
{
    uint32_t v;
    size_t n;
    const char *s;
    char *copy, *p;
    int32_t k = 0;
    enum axle_status st = xgb_member(&im->d, lmp, "base_score", -1, false,
                                     "learner_model_param", &v, err);
    if (st != AXLE_OK)
        return st;
    if (v == XGB_NONE) {
        for (int32_t t = 0; t < im->n_targets; t++)
            bs[t] = 0.5f; /* XGBoost's default */
        return AXLE_OK;
    }
    if (xgb_type(&im->d, v) == XGB_NUM) {
        if (xgb_f32(&im->d, v, &bs[0]) != 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "base_score is not a number");
        k = 1;
        goto spread;
    }
    s = xgb_str(&im->d, v, &n);
    if (s == NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "base_score must be a string or a number");
    copy = axle_try_malloc(n + 1);
    if (copy == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory reading base_score");
    memcpy(copy, s, n);
    copy[n] = '\0';
    p = copy;
    if (*p == '[') {
        p++;
        if (n < 2 || copy[n - 1] != ']') {
            axle_free(copy);
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "base_score '%s' is malformed",
                                xgb_show(s, n, (char[48]){0}));
        }
        copy[n - 1] = '\0';
    }
    for (;;) {
        char *e;
        float x;
        if (k >= im->n_targets || *p == '\0' || *p == ' ' || *p == '\t') {
            axle_free(copy);
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "base_score '%s' is malformed or has more "
                                "values than the %d outputs",
                                xgb_show(s, n, (char[48]){0}),
                                im->n_targets);
        }
        x = strtof(p, &e);
        if (e == p || (*e != ',' && *e != '\0')) {
            axle_free(copy);
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "base_score '%s' is not a number list",
                                xgb_show(s, n, (char[48]){0}));
        }
        bs[k++] = x;
        if (*e == '\0')
            break;
        p = e + 1;
    }
    axle_free(copy);
spread:
    if (k != 1 && k != im->n_targets)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "base_score has %d values for %d outputs", k,
                            im->n_targets);
    for (int32_t t = k; t < im->n_targets; t++)
        bs[t] = bs[0];
    return AXLE_OK;
}

/* base_score -> margin, in float like ObjFunction::ProbToMargin. */
static enum axle_status to_margin(struct xgb_import *im, const float *bs,
                                  struct axle_err *err)
{
    for (int32_t t = 0; t < im->n_targets; t++) {
        float b = bs[t], m = b;
        if (!isfinite(b))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "base_score is not finite");
        if (im->obj->link == LINK_LOGIT) {
            if (!(b > 0.0f && b < 1.0f))
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "base_score %g must be in (0, 1) for %s",
                                    (double)b, im->obj->name);
            m = -logf(1.0f / b - 1.0f);
        } else if (im->obj->link == LINK_LOG) {
            if (!(b > 0.0f))
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "base_score %g must be > 0 for %s",
                                    (double)b, im->obj->name);
            m = logf(b);
        }
        im->margin[t] = m;
    }
    return AXLE_OK;
}

static enum axle_status read_objective(struct xgb_import *im,
                                       struct axle_err *err)
{
    uint32_t o, name;
    size_t n;
    const char *s;
    char show[48];
    enum axle_status st;

    st = xgb_member(&im->d, im->learner, "objective", XGB_OBJ, true,
                    "learner", &o, err);
    if (st != AXLE_OK)
        return st;
    st = xgb_member(&im->d, o, "name", XGB_STR, true, "objective", &name,
                    err);
    if (st != AXLE_OK)
        return st;
    s = xgb_str(&im->d, name, &n);
    for (size_t i = 0; i < sizeof(objectives) / sizeof(objectives[0]); i++)
        if (strlen(objectives[i].name) == n &&
            memcmp(objectives[i].name, s, n) == 0) {
            im->obj = &objectives[i];
            snprintf(im->obj_name, sizeof(im->obj_name), "%s",
                     objectives[i].name);
            return AXLE_OK;
        }
    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                        "unsupported objective '%s'", xgb_show(s, n, show));
}

static enum axle_status read_params(struct xgb_import *im,
                                    struct axle_err *err)
{
    uint32_t lmp;
    float *bs;
    enum axle_status st;

    st = xgb_member(&im->d, im->learner, "learner_model_param", XGB_OBJ,
                    true, "learner", &lmp, err);
    if (st != AXLE_OK)
        return st;
    if ((st = int_param(im, lmp, "num_feature", true, 0, 1,
                        AXLE_XGB_MAX_FEATURES, &im->num_feature, err)) ||
        (st = int_param(im, lmp, "num_class", false, 0, 0,
                        AXLE_XGB_MAX_CLASSES, &im->num_class, err)) ||
        (st = int_param(im, lmp, "num_target", false, 1, 1,
                        AXLE_XGB_MAX_CLASSES, &im->num_target, err)))
        return st;
    if (im->num_class > 1 && im->num_target > 1)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "num_class %lld and num_target %lld are both "
                            "> 1", (long long)im->num_class,
                            (long long)im->num_target);
    im->n_targets = (int32_t)(im->num_class > 1 ? im->num_class
                                                : im->num_target);
    if ((st = read_objective(im, err)) != AXLE_OK)
        return st;
    if (im->obj->arity == MULTI && im->n_targets < 2)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s needs num_class >= 2 (got %lld)",
                            im->obj->name, (long long)im->num_class);
    if (im->obj->arity == ONE && im->n_targets != 1)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s has one output, but the model has %d",
                            im->obj->name, im->n_targets);
    im->margin = axle_xcalloc((size_t)im->n_targets, sizeof(float));
    bs = axle_xcalloc((size_t)im->n_targets, sizeof(float));
    st = read_base_score(im, lmp, bs, err);
    if (st == AXLE_OK)
        st = to_margin(im, bs, err);
    axle_free(bs);
    return st;
}

/* The sklearn wrapper's `missing`, when its attribute records one (the
 * 1.x wrapper saves every constructor parameter; 3.x saves none). */
static enum axle_status read_sklearn(struct xgb_import *im, uint32_t v,
                                     struct axle_err *err)
{
    struct json_doc j;
    size_t n;
    const char *s = xgb_str(&im->d, v, &n);
    char *copy;
    enum axle_status st;

    if (s == NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "attribute scikit_learn must be a string");
    copy = axle_try_malloc(n + 1);
    if (copy == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory reading scikit_learn");
    memcpy(copy, s, n);
    json_doc_init(&j);
    j.max_depth = AXLE_XGB_MAX_NESTING;
    st = json_parse(&j, copy, n, err);
    if (st != AXLE_OK) {
        if (st == AXLE_INVALID_ARGUMENT && err != NULL) {
            char why[AXLE_ERR_MSG_LEN];
            memcpy(why, err->msg, sizeof(why));
            axle_err_set(err, st, "attribute scikit_learn is not valid "
                                  "json: %s", why);
        }
    } else if (j.toks[0].type == JSON_OBJECT) {
        uint32_t m = json_get(&j, 0, "missing");
        double x;
        if (m != 0 && j.toks[m].type == JSON_NUMBER) {
            if (json_to_double(&j, m, &x) != 0)
                st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                  "scikit_learn missing is not a number");
            else if (!isnan(x)) {
                im->has_missing = true;
                im->missing = (float)x; /* DMatrix takes a float */
            }
        } else if (m != 0 && j.toks[m].type != JSON_NULL) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "scikit_learn missing is not a number");
        }
    }
    json_doc_free(&j);
    axle_free(copy);
    return st;
}

static enum axle_status read_attributes(struct xgb_import *im,
                                        struct axle_err *err)
{
    uint32_t a, v;
    enum axle_status st;

    st = xgb_member(&im->d, im->learner, "attributes", XGB_OBJ, false,
                    "learner", &a, err);
    if (st != AXLE_OK || a == XGB_NONE)
        return st;
    st = xgb_member(&im->d, a, "best_iteration", -1, false, "attributes",
                    &v, err);
    if (st != AXLE_OK)
        return st;
    if (v != XGB_NONE) {
        int64_t b;
        if (xgb_int_param(&im->d, v, &b) != 0 || b < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "attribute best_iteration is not an "
                                "integer >= 0");
        snprintf(im->best_iteration, sizeof(im->best_iteration), "%lld",
                 (long long)b);
    }
    st = xgb_member(&im->d, a, "scikit_learn", -1, false, "attributes", &v,
                    err);
    if (st != AXLE_OK || v == XGB_NONE)
        return st;
    return read_sklearn(im, v, err);
}

static void read_version(struct xgb_import *im)
{
    bool dup;
    uint32_t v = xgb_get(&im->d, 0, "version", &dup);
    int64_t p[3];

    im->version[0] = '\0';
    if (v == XGB_NONE || !xgb_arr_scalars(&im->d, v) ||
        xgb_size(&im->d, v) != 3)
        return;
    for (uint32_t i = 0; i < 3; i++)
        if (xgb_arr_i64(&im->d, v, i, &p[i]) != 0 || p[i] < 0 ||
            p[i] > 100000)
            return;
    snprintf(im->version, sizeof(im->version), "%lld.%lld.%lld",
             (long long)p[0], (long long)p[1], (long long)p[2]);
}

/* gbtree (and dart's inner gbtree) into the forest. */
static enum axle_status read_gbtree(struct xgb_import *im, uint32_t gb,
                                    uint32_t weights, struct axle_err *err)
{
    struct xgb_doc *d = &im->d;
    struct xgb_tree_ctx ctx = {
        .d = d, .f = im->f, .num_feature = (int32_t)im->num_feature,
        .n_targets = im->n_targets,
    };
    uint32_t model, trees, info, gmp, v, t;
    uint32_t n_trees;
    enum axle_status st;

    st = xgb_member(d, gb, "model", XGB_OBJ, true, "gradient_booster",
                    &model, err);
    if (st != AXLE_OK)
        return st;
    if ((st = xgb_member(d, model, "trees", XGB_ARR, true, "model", &trees,
                         err)) ||
        (st = xgb_member(d, model, "tree_info", XGB_ARR, true, "model",
                         &info, err)) ||
        (st = xgb_member(d, model, "gbtree_model_param", XGB_OBJ, false,
                         "model", &gmp, err)))
        return st;
    n_trees = xgb_size(d, trees);
    if (n_trees > AXLE_XGB_MAX_TREES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "too many trees (%u, limit %d)", n_trees,
                            AXLE_XGB_MAX_TREES);
    if (!xgb_arr_scalars(d, info) || xgb_size(d, info) != n_trees)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree_info has %u entries for %u trees",
                            xgb_size(d, info), n_trees);
    if (gmp != XGB_NONE) {
        int64_t nt;
        st = xgb_member(d, gmp, "num_trees", -1, false,
                        "gbtree_model_param", &v, err);
        if (st != AXLE_OK)
            return st;
        if (v != XGB_NONE &&
            (xgb_int_param(d, v, &nt) != 0 || nt != (int64_t)n_trees))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "gbtree_model_param num_trees differs from "
                                "the %u trees present", n_trees);
    }
    if (weights != XGB_NONE &&
        (!xgb_arr_scalars(d, weights) || xgb_size(d, weights) != n_trees))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "dart weight_drop has %u entries for %u trees",
                            xgb_size(d, weights), n_trees);
    t = xgb_first(d, trees);
    for (uint32_t i = 0; i < n_trees; i++) {
        int64_t target;
        float w = 1.0f;
        if (t == XGB_NONE)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "trees must hold tree objects");
        if (xgb_arr_i64(d, info, i, &target) != 0 || target < 0 ||
            target >= im->n_targets)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree_info[%u] is not an output index "
                                "(0..%d)", i, im->n_targets - 1);
        if (weights != XGB_NONE &&
            (xgb_arr_f32(d, weights, i, &w) != 0 || !isfinite(w)))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "weight_drop[%u] is not a finite number",
                                i);
        st = xgb_tree_add(&ctx, t, (int32_t)i, (int32_t)target, w, err);
        if (st != AXLE_OK)
            return st;
        t = xgb_after(d, t);
    }
    return AXLE_OK;
}

static enum axle_status read_gblinear(struct xgb_import *im, uint32_t gb,
                                      struct axle_err *err)
{
    struct xgb_doc *d = &im->d;
    int64_t F = im->num_feature, T = im->n_targets, nz = 0;
    uint32_t model, wa;
    float *w;
    enum axle_status st;

    st = xgb_member(d, gb, "model", XGB_OBJ, true, "gradient_booster",
                    &model, err);
    if (st != AXLE_OK)
        return st;
    st = xgb_member(d, model, "weights", XGB_ARR, true, "gblinear model",
                    &wa, err);
    if (st != AXLE_OK)
        return st;
    if (!xgb_arr_scalars(d, wa) ||
        (int64_t)xgb_size(d, wa) != (F + 1) * T)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "gblinear weights has %u values, (num_feature + "
                            "1) x outputs is %lld", xgb_size(d, wa),
                            (long long)((F + 1) * T));
    /* bounded by the array present in the file */
    w = axle_try_malloc((size_t)((F + 1) * T) * sizeof(float));
    if (w == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory reading gblinear weights");
    for (int64_t i = 0; i < (F + 1) * T; i++) {
        if (xgb_arr_f32(d, wa, (uint32_t)i, &w[i]) != 0 || !isfinite(w[i])) {
            axle_free(w);
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "gblinear weights[%lld] is not a finite "
                                "number", (long long)i);
        }
        if (i < F * T && w[i] != 0.0f)
            nz++;
    }
    /* intercept: bias + base margin, in float (gblinear.cc Pred). The
     * library adds the first output's intercept to every output (xgboost
     * 3.2 with per-class base_score: margins are bias[g] + base_score[0],
     * checked with output_margin). */
    for (int64_t g = 0; g < T; g++) {
        float b = w[F * T + g] + im->margin[0];
        im->f->base[g] = b;
    }
    if (nz <= AXLE_XGB_LINEAR_SPLIT_MAX) {
        for (int64_t j = 0; j < F && st == AXLE_OK; j++)
            for (int64_t g = 0; g < T && st == AXLE_OK; g++) {
                struct axle_tree_node nd = {.cond = AXLE_COND_LEAF};
                int32_t tg = (int32_t)g, ft = (int32_t)j;
                double zero = 0.0, coef = w[j * T + g];
                int64_t lo, li;
                if (w[j * T + g] == 0.0f)
                    continue;
                lo = axle_forest_add_leaf(im->f, 1, &tg, &zero);
                li = axle_forest_add_linear(im->f, 1, &ft, &coef);
                if (lo < 0 || li < 0) {
                    st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                      "gblinear model too large");
                    break;
                }
                nd.leaf_off = (uint32_t)lo;
                nd.leaf_len = 1;
                nd.lin_off = (uint32_t)li;
                nd.lin_len = 1;
                st = axle_forest_add_tree(im->f, 1, &nd, 0, err);
            }
    } else {
        int32_t *fs = axle_try_malloc((size_t)F * sizeof(int32_t));
        double *cs = axle_try_malloc((size_t)F * sizeof(double));
        if (fs == NULL || cs == NULL)
            st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                              "out of memory reading gblinear weights");
        for (int64_t g = 0; g < T && st == AXLE_OK; g++) {
            struct axle_tree_node nd = {.cond = AXLE_COND_LEAF};
            int32_t tg = (int32_t)g;
            double zero = 0.0;
            int64_t n = 0, lo, li;
            for (int64_t j = 0; j < F; j++)
                if (w[j * T + g] != 0.0f) {
                    fs[n] = (int32_t)j;
                    cs[n++] = w[j * T + g];
                }
            lo = axle_forest_add_leaf(im->f, 1, &tg, &zero);
            li = axle_forest_add_linear(im->f, n, fs, cs);
            if (lo < 0 || li < 0) {
                st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                  "gblinear model too large");
                break;
            }
            nd.leaf_off = (uint32_t)lo;
            nd.leaf_len = 1;
            nd.lin_off = (uint32_t)li;
            nd.lin_len = (uint32_t)n;
            if (n > 0)
                st = axle_forest_add_tree(im->f, 1, &nd, 0, err);
        }
        axle_free(fs);
        axle_free(cs);
    }
    axle_free(w);
    return st;
}

static enum axle_status read_booster(struct xgb_import *im,
                                     struct axle_err *err)
{
    struct xgb_doc *d = &im->d;
    uint32_t gb, name, inner, weights;
    size_t n;
    const char *s;
    char show[48];
    enum axle_status st;

    st = xgb_member(d, im->learner, "gradient_booster", XGB_OBJ, true,
                    "learner", &gb, err);
    if (st != AXLE_OK)
        return st;
    st = xgb_member(d, gb, "name", XGB_STR, true, "gradient_booster", &name,
                    err);
    if (st != AXLE_OK)
        return st;
    s = xgb_str(d, name, &n);
    if (xgb_streq(d, name, "gbtree")) {
        snprintf(im->booster, sizeof(im->booster), "gbtree");
        for (int32_t t = 0; t < im->n_targets; t++)
            im->f->base[t] = im->margin[t];
        return read_gbtree(im, gb, XGB_NONE, err);
    }
    if (xgb_streq(d, name, "dart")) {
        snprintf(im->booster, sizeof(im->booster), "dart");
        for (int32_t t = 0; t < im->n_targets; t++)
            im->f->base[t] = im->margin[t];
        if ((st = xgb_member(d, gb, "gbtree", XGB_OBJ, true, "dart", &inner,
                             err)) ||
            (st = xgb_member(d, gb, "weight_drop", XGB_ARR, true, "dart",
                             &weights, err)))
            return st;
        return read_gbtree(im, inner, weights, err);
    }
    if (xgb_streq(d, name, "gblinear")) {
        snprintf(im->booster, sizeof(im->booster), "gblinear");
        return read_gblinear(im, gb, err);
    }
    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                        "unsupported booster '%s'", xgb_show(s, n, show));
}

/* feature_names / feature_types, comma-joined (empty when absent). */
static enum axle_status join_names(struct xgb_import *im, const char *key,
                                   struct sbuf *b, struct axle_err *err)
{
    struct xgb_doc *d = &im->d;
    uint32_t a, cnt;
    enum axle_status st;

    st = xgb_member(d, im->learner, key, XGB_ARR, false, "learner", &a, err);
    if (st != AXLE_OK)
        return st;
    sb_put(b, "", 0);
    if (a == XGB_NONE || xgb_size(d, a) == 0)
        return AXLE_OK;
    cnt = xgb_size(d, a);
    if ((int64_t)cnt != im->num_feature || !xgb_arr_scalars(d, a))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s has %u entries, num_feature is %lld", key,
                            cnt, (long long)im->num_feature);
    for (uint32_t i = 0; i < cnt; i++) {
        size_t n;
        const char *s = xgb_str(d, xgb_arr_tok(d, a, i), &n);
        if (s == NULL || n > AXLE_XGB_MAX_NAME)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s[%u] is not a string of at most %d "
                                "bytes", key, i, AXLE_XGB_MAX_NAME);
        if (i > 0)
            sb_put(b, ",", 1);
        sb_put(b, s, n);
    }
    if (b->failed)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory joining %s", key);
    return AXLE_OK;
}

static enum axle_status add_meta(struct xgb_import *im,
                                 struct axle_ir_model *m,
                                 struct axle_err *err)
{
    struct sbuf names = {0}, types = {0}, base = {0};
    char num[32];
    enum axle_status st;

    st = join_names(im, "feature_names", &names, err);
    if (st == AXLE_OK)
        st = join_names(im, "feature_types", &types, err);
    if (st == AXLE_OK) {
        for (int32_t t = 0; t < im->n_targets; t++) {
            int k = snprintf(num, sizeof(num), "%s%.9g", t ? "," : "",
                             (double)im->base[t]);
            sb_put(&base, num, (size_t)k);
        }
        if (base.failed)
            st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                              "out of memory writing metadata");
    }
    if (st == AXLE_OK) {
        axle_ir_model_add_meta(m, "feature_names", names.p);
        axle_ir_model_add_meta(m, "feature_types", types.p);
        axle_ir_model_add_meta(m, "objective", im->obj_name);
        axle_ir_model_add_meta(m, "booster", im->booster);
        snprintf(num, sizeof(num), "%lld", (long long)im->num_class);
        axle_ir_model_add_meta(m, "num_class", num);
        axle_ir_model_add_meta(m, "base_score", base.p);
        axle_ir_model_add_meta(m, "xgboost_version", im->version);
        if (im->best_iteration[0] != '\0')
            axle_ir_model_add_meta(m, "best_iteration", im->best_iteration);
        if (im->has_missing) {
            snprintf(num, sizeof(num), "%.9g", (double)im->missing);
            axle_ir_model_add_meta(m, "missing", num);
        }
    }
    axle_free(names.p);
    axle_free(types.p);
    axle_free(base.p);
    return st;
}

enum axle_status axle_xgboost_import(const uint8_t *buf, size_t len,
                                     struct axle_ir_model **out,
                                     struct axle_err *err)
{
    struct xgb_import im;
    struct axle_ir_model *m = NULL;
    enum axle_status st;

    *out = NULL;
    memset(&im, 0, sizeof(im));
    if (len > AXLE_XGB_MAX_BYTES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "xgboost model too large (%zu bytes, limit %zu)",
                            len, AXLE_XGB_MAX_BYTES);
    if (len == 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "empty xgboost model");
    st = xgb_doc_parse(&im.d, buf, len, err);
    if (st != AXLE_OK)
        goto out;
    if (xgb_type(&im.d, 0) != XGB_OBJ) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "not an xgboost model: the document is not an "
                          "object");
        goto out;
    }
    st = xgb_member(&im.d, 0, "learner", XGB_OBJ, true, "the document",
                    &im.learner, err);
    if (st != AXLE_OK)
        goto out;
    read_version(&im);
    if ((st = read_params(&im, err)) != AXLE_OK ||
        (st = read_attributes(&im, err)) != AXLE_OK)
        goto out;
    im.f = axle_forest_new((int32_t)im.num_feature, im.n_targets);
    im.f->acc_float = true;
    im.f->cat_negative_out = true; /* XGBoost: x < 0 is no category */
    im.f->base_first = true;
    im.f->transform = im.obj->xf;
    im.f->output = im.obj->output;
    im.f->has_missing_value = im.has_missing;
    im.f->missing_value = im.has_missing ? im.missing : NAN;
    if ((st = read_booster(&im, err)) != AXLE_OK ||
        (st = axle_forest_finish(im.f, err)) != AXLE_OK)
        goto out;
    im.base = axle_xcalloc((size_t)im.n_targets, sizeof(float));
    for (int32_t t = 0; t < im.n_targets; t++)
        im.base[t] = (float)im.f->base[t];
    st = axle_forest_model(im.f, "xgboost", &m, err);
    im.f = NULL; /* owned by the model (or freed) now */
    if (st != AXLE_OK)
        goto out;
    st = add_meta(&im, m, err);
    if (st != AXLE_OK) {
        axle_ir_model_free(m);
        goto out;
    }
    *out = m;
out:
    axle_forest_free(im.f);
    axle_free(im.margin);
    axle_free(im.base);
    xgb_doc_free(&im.d);
    return st;
}
