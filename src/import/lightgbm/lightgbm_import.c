/*
 * lightgbm_import.c - LightGBM model text -> struct axle_forest -> model.
 *
 * The text (GBDT::SaveModelToString, LightGBM 4.x) is: the model type line
 * "tree"; header key=value lines (version, num_class,
 * num_tree_per_iteration, label_index, max_feature_idx, objective,
 * average_output, feature_names, feature_infos, tree_sizes, ...); the
 * "Tree=i" blocks (lightgbm_tree.c); "end of trees"; then feature
 * importances, parameters and pandas_categorical, which prediction does
 * not use and which are not read.
 *
 * The objective decides the output (GBDT::Predict: sum the trees, divide
 * by the iteration count for average_output, then ObjectiveFunction::
 * ConvertOutput). Scores are summed in double, like LightGBM, with no base
 * value: LightGBM folds its initial score into the first trees' leaves.
 */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "import/lightgbm/lightgbm.h"
#include "import/lightgbm/lightgbm_internal.h"
#include "ir/model.h"
#include "ir/op.h"
#include "kernels/forest.h"

bool axle_lightgbm_sniff(const uint8_t *buf, size_t len)
{
    return (len >= 5 && memcmp(buf, "tree\n", 5) == 0) ||
           (len >= 6 && memcmp(buf, "tree\r\n", 6) == 0);
}

/* ---- header ----------------------------------------------------------- */

enum hkey {
    H_VERSION,
    H_NUM_CLASS,
    H_NUM_TREE_PER_ITERATION,
    H_LABEL_INDEX,
    H_MAX_FEATURE_IDX,
    H_OBJECTIVE,
    H_AVERAGE_OUTPUT,
    H_FEATURE_NAMES,
    H_FEATURE_INFOS,
    H_TREE_SIZES,
    H_N_KEYS
};

static const char *const hkey_names[H_N_KEYS] = {
    [H_VERSION] = "version",
    [H_NUM_CLASS] = "num_class",
    [H_NUM_TREE_PER_ITERATION] = "num_tree_per_iteration",
    [H_LABEL_INDEX] = "label_index",
    [H_MAX_FEATURE_IDX] = "max_feature_idx",
    [H_OBJECTIVE] = "objective",
    [H_AVERAGE_OUTPUT] = "average_output",
    [H_FEATURE_NAMES] = "feature_names",
    [H_FEATURE_INFOS] = "feature_infos",
    [H_TREE_SIZES] = "tree_sizes",
};

struct header {
    struct lgb_span val[H_N_KEYS];
    bool has[H_N_KEYS];
    int64_t num_class, n_per_iter, max_feature_idx;
};

/* Reads header lines up to the first "Tree=" or "end of trees" line, left
 * in *line. Unknown keys (monotone_constraints, ...) are skipped, as
 * LightGBM does. */
static enum axle_status read_header(struct lgb_reader *r, struct header *h,
                                    struct lgb_span *line,
                                    struct axle_err *err)
{
    struct lgb_span key, val;
    enum axle_status st;
    bool eof;
    char show[48];

    st = lgb_next_line(r, line, &eof, err);
    if (st != AXLE_OK)
        return st;
    if (eof || !lgb_span_eq(*line, "tree"))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "not a LightGBM text model: the first line must "
                            "be 'tree'");
    for (;;) {
        st = lgb_next_line(r, line, &eof, err);
        if (st != AXLE_OK)
            return st;
        if (eof)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "truncated model: the text ends in the "
                                "header (no 'Tree=' block, no 'end of "
                                "trees' line)");
        if (r->cut && !lgb_span_eq(*line, "end of trees"))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "truncated model: the text ends in the "
                                "header");
        if (line->len == 0)
            continue;
        if (lgb_span_starts(*line, "Tree=") ||
            lgb_span_eq(*line, "end of trees"))
            return AXLE_OK;
        if (!lgb_split_kv(*line, &key, &val)) {
            key = *line;
            val.p = line->p + line->len;
            val.len = 0;
        }
        for (int i = 0; i < H_N_KEYS; i++) {
            if (!lgb_span_eq(key, hkey_names[i]))
                continue;
            if (h->has[i])
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "duplicate header line '%s'",
                                    lgb_show(key, show));
            h->has[i] = true;
            h->val[i] = val;
            break;
        }
    }
}

static enum axle_status header_int(const struct header *h, enum hkey k,
                                   int64_t lo, int64_t hi, int64_t *v,
                                   struct axle_err *err)
{
    struct lgb_span rest = h->val[k], tok;
    char show[48];

    if (!h->has[k])
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "missing header line '%s='", hkey_names[k]);
    if (!lgb_next_token(&rest, &tok) || !lgb_parse_i64(tok, v) ||
        lgb_count_tokens(rest) != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "header %s '%s' is not an integer",
                            hkey_names[k], lgb_show(h->val[k], show));
    if (*v < lo || *v > hi)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "header %s %lld out of range (%lld..%lld)",
                            hkey_names[k], (long long)*v, (long long)lo,
                            (long long)hi);
    return AXLE_OK;
}

static bool printable(struct lgb_span s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch < 0x20 || ch == 0x7f)
            return false;
    }
    return true;
}

static enum axle_status check_header(struct header *h, struct axle_err *err)
{
    enum axle_status st;
    int64_t label, n_features, n;

    if ((st = header_int(h, H_NUM_CLASS, 1, AXLE_LGB_MAX_CLASSES,
                         &h->num_class, err)) != AXLE_OK)
        return st;
    h->n_per_iter = h->num_class; /* LightGBM's default when absent */
    if (h->has[H_NUM_TREE_PER_ITERATION] &&
        (st = header_int(h, H_NUM_TREE_PER_ITERATION, 1,
                         AXLE_LGB_MAX_CLASSES, &h->n_per_iter, err)) != AXLE_OK)
        return st;
    if (h->n_per_iter != h->num_class)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "num_tree_per_iteration %lld differs from "
                            "num_class %lld", (long long)h->n_per_iter,
                            (long long)h->num_class);
    if ((st = header_int(h, H_LABEL_INDEX, -1, INT32_MAX, &label, err)) !=
            AXLE_OK ||
        (st = header_int(h, H_MAX_FEATURE_IDX, 0, AXLE_LGB_MAX_FEATURES - 1,
                         &h->max_feature_idx, err)) != AXLE_OK)
        return st;
    n_features = h->max_feature_idx + 1;
    for (int k = H_FEATURE_NAMES; k <= H_FEATURE_INFOS; k++) {
        if (!h->has[k])
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "missing header line '%s='", hkey_names[k]);
        n = lgb_count_tokens(h->val[k]);
        if (n != n_features)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s lists %lld features, max_feature_idx=%lld "
                                "needs %lld", hkey_names[k], (long long)n,
                                (long long)h->max_feature_idx,
                                (long long)n_features);
    }
    if (!printable(h->val[H_FEATURE_NAMES]))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "feature_names holds a control character");
    if (h->has[H_VERSION] &&
        (!printable(h->val[H_VERSION]) || h->val[H_VERSION].len > 32))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid header version");
    return AXLE_OK;
}

/* ---- objective --------------------------------------------------------- */

enum obj_kind {
    OBJ_RAW,        /* no conversion: lambdarank, rank_xendcg, custom */
    OBJ_IDENTITY,   /* huber: its loader drops "sqrt" */
    OBJ_IDENT_SQRT, /* regression & co: sign(s) s^2 with "sqrt" */
    OBJ_EXP,        /* poisson, gamma, tweedie */
    OBJ_BINARY,     /* sigmoid:<s> */
    OBJ_SOFTMAX,    /* multiclass num_class:<k> */
    OBJ_OVA,        /* multiclassova num_class:<k> sigmoid:<s> */
    OBJ_XENTROPY,   /* cross_entropy: plain logistic */
};

/* The names ObjectiveFunction::CreateObjectiveFunction(str) knows, with
 * the conversion ConvertOutput applies (checked against LightGBM 4.7 by
 * tools/gen_tree_fixtures_lightgbm.py's cases). cross_entropy_lambda
 * (log1p(exp(s))) and survival have no forest transform and are refused. */
static const struct {
    const char *name;
    enum obj_kind kind;
} objectives[] = {
    {"regression", OBJ_IDENT_SQRT}, {"regression_l1", OBJ_IDENT_SQRT},
    {"quantile", OBJ_IDENT_SQRT},   {"fair", OBJ_IDENT_SQRT},
    {"mape", OBJ_IDENT_SQRT},       {"huber", OBJ_IDENTITY},
    {"poisson", OBJ_EXP},           {"gamma", OBJ_EXP},
    {"tweedie", OBJ_EXP},           {"binary", OBJ_BINARY},
    {"multiclass", OBJ_SOFTMAX},    {"multiclassova", OBJ_OVA},
    {"cross_entropy", OBJ_XENTROPY}, {"lambdarank", OBJ_RAW},
    {"rank_xendcg", OBJ_RAW},       {"custom", OBJ_RAW},
};

/* ParseObjectiveAlias: applied to the whole objective string, so only a
 * bare name (no parameters) is ever an alias. */
static const struct {
    const char *alias, *name;
} aliases[] = {
    {"regression_l2", "regression"}, {"mean_squared_error", "regression"},
    {"mse", "regression"},           {"l2", "regression"},
    {"l2_root", "regression"},       {"root_mean_squared_error", "regression"},
    {"rmse", "regression"},          {"mean_absolute_error", "regression_l1"},
    {"l1", "regression_l1"},         {"mae", "regression_l1"},
    {"softmax", "multiclass"},       {"multiclass_ova", "multiclassova"},
    {"ova", "multiclassova"},        {"ovr", "multiclassova"},
    {"xentropy", "cross_entropy"},   {"xentlambda", "cross_entropy_lambda"},
    {"mean_absolute_percentage_error", "mape"},
    {"none", "custom"}, {"null", "custom"}, {"na", "custom"},
};

struct objective {
    enum obj_kind kind;
    const char *name;
    bool sqrt;
    bool has_sigmoid, has_num_class;
    double sigmoid;
    int64_t num_class;
};

static enum axle_status parse_param(struct objective *o, struct lgb_span tok,
                                    struct axle_err *err)
{
    struct lgb_span v;
    char show[48];

    if (lgb_span_eq(tok, "sqrt")) {
        o->sqrt = true;
        return AXLE_OK;
    }
    if (lgb_span_starts(tok, "sigmoid:")) {
        v.p = tok.p + 8;
        v.len = tok.len - 8;
        if (!lgb_parse_f64(v, &o->sigmoid) || !(o->sigmoid > 0))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "objective parameter '%s': sigmoid must be "
                                "a number > 0", lgb_show(tok, show));
        o->has_sigmoid = true;
    } else if (lgb_span_starts(tok, "num_class:")) {
        v.p = tok.p + 10;
        v.len = tok.len - 10;
        if (!lgb_parse_i64(v, &o->num_class))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "objective parameter '%s' is not an integer",
                                lgb_show(tok, show));
        o->has_num_class = true;
    }
    /* Other parameters do not change predictions; LightGBM ignores
     * unknown ones too. */
    return AXLE_OK;
}

static enum axle_status parse_objective(const struct header *h,
                                        struct objective *o,
                                        struct axle_err *err)
{
    struct lgb_span rest, name, tok;
    enum axle_status st;
    char show[48];
    size_t i;

    memset(o, 0, sizeof(*o));
    o->kind = OBJ_RAW;
    o->name = "custom";
    if (!h->has[H_OBJECTIVE])
        return AXLE_OK; /* no objective_function_: raw scores */
    rest = h->val[H_OBJECTIVE];
    if (!lgb_next_token(&rest, &name))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "unsupported objective: the objective line is "
                            "empty");
    if (lgb_count_tokens(rest) == 0)
        for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
            if (lgb_span_eq(name, aliases[i].alias)) {
                name.p = aliases[i].name;
                name.len = strlen(aliases[i].name);
                break;
            }
    for (i = 0; i < sizeof(objectives) / sizeof(objectives[0]); i++)
        if (lgb_span_eq(name, objectives[i].name))
            break;
    if (i == sizeof(objectives) / sizeof(objectives[0]))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "unsupported objective '%s'",
                            lgb_show(name, show));
    o->kind = objectives[i].kind;
    o->name = objectives[i].name;
    while (lgb_next_token(&rest, &tok))
        if ((st = parse_param(o, tok, err)) != AXLE_OK)
            return st;
    return AXLE_OK;
}

/* Sets the forest's output from the objective; checks it fits the
 * header's class count. */
static enum axle_status apply_objective(const struct objective *o,
                                        const struct header *h,
                                        struct axle_forest *f,
                                        struct axle_err *err)
{
    int64_t K = h->n_per_iter;
    bool multi = o->kind == OBJ_SOFTMAX || o->kind == OBJ_OVA;

    if (o->kind == OBJ_BINARY || o->kind == OBJ_OVA) {
        if (!o->has_sigmoid)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "objective %s needs a sigmoid:<value> "
                                "parameter", o->name);
        f->sigmoid_scale = o->sigmoid;
    }
    if (multi) {
        if (!o->has_num_class || o->num_class != K)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "objective %s: num_class:%lld does not match "
                                "num_class=%lld", o->name,
                                o->has_num_class ? (long long)o->num_class
                                                 : -1LL, (long long)K);
        if (K < 2)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "objective %s needs num_class >= 2",
                                o->name);
    } else if (K != 1 && strcmp(o->name, "custom") != 0) {
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "objective %s needs num_class=1, the header has "
                            "%lld", o->name, (long long)K);
    }
    switch (o->kind) {
    case OBJ_RAW:
    case OBJ_IDENTITY:
        break;
    case OBJ_IDENT_SQRT:
        if (o->sqrt)
            f->transform = AXLE_XF_SIGNED_SQUARE;
        break;
    case OBJ_EXP:
        f->transform = AXLE_XF_EXP;
        break;
    case OBJ_BINARY:
    case OBJ_OVA:
        /* multiclassova: per-class sigmoids, not normalised
         * (MulticlassOVA::ConvertOutput). */
        f->transform = AXLE_XF_LOGISTIC;
        f->output = AXLE_FOREST_CLASSIFY;
        break;
    case OBJ_SOFTMAX:
        f->transform = AXLE_XF_SOFTMAX;
        f->output = AXLE_FOREST_CLASSIFY;
        break;
    case OBJ_XENTROPY:
        f->transform = AXLE_XF_LOGISTIC;
        f->sigmoid_scale = 1.0;
        break;
    }
    return AXLE_OK;
}

/* ---- trees ------------------------------------------------------------- */

struct tree_sizes {
    int64_t n;
    int64_t *v;
};

static enum axle_status parse_tree_sizes(const struct header *h,
                                         struct tree_sizes *ts,
                                         struct axle_err *err)
{
    struct lgb_span rest = h->val[H_TREE_SIZES], tok;
    char show[48];

    ts->n = -1;
    ts->v = NULL;
    if (!h->has[H_TREE_SIZES])
        return AXLE_OK;
    ts->n = lgb_count_tokens(rest);
    if (ts->n > AXLE_LGB_MAX_TREES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree_sizes lists %lld trees (limit %d)",
                            (long long)ts->n, AXLE_LGB_MAX_TREES);
    ts->v = axle_try_malloc((size_t)(ts->n > 0 ? ts->n : 1) * sizeof(int64_t));
    if (ts->v == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    for (int64_t i = 0; lgb_next_token(&rest, &tok); i++)
        if (!lgb_parse_i64(tok, &ts->v[i]) || ts->v[i] < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree_sizes[%lld] '%s' is not a byte count",
                                (long long)i, lgb_show(tok, show));
    return AXLE_OK;
}

static enum axle_status read_trees(struct lgb_reader *r, struct lgb_span line,
                                   const struct tree_sizes *ts,
                                   struct lgb_tree_ctx *c,
                                   struct axle_err *err)
{
    struct lgb_tree tree;
    enum axle_status st;
    int32_t ti = 0;
    bool eof = false;
    char show[48];

    while (lgb_span_starts(line, "Tree=")) {
        struct lgb_span num = {line.p + 5, line.len - 5};
        size_t start = r->line_off, end;
        int64_t idx;

        if (!lgb_parse_i64(num, &idx) || idx != ti)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "line %lld '%s': expected 'Tree=%d'",
                                (long long)r->line_no, lgb_show(line, show),
                                ti);
        if (ti >= AXLE_LGB_MAX_TREES)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "more than %d trees", AXLE_LGB_MAX_TREES);
        if ((st = lgb_tree_read(r, ti, &tree, &line, &eof, err)) != AXLE_OK)
            return st;
        if (eof)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "truncated model: the text ends in tree %d "
                                "(no 'end of trees' line)", ti);
        end = r->line_off;
        if (ts->n >= 0 && (ti >= ts->n || (size_t)ts->v[ti] != end - start))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree_sizes does not match the text: tree %d "
                                "block is %zu bytes", ti, end - start);
        if ((st = lgb_tree_build(c, &tree, ti, err)) != AXLE_OK)
            return st;
        ti++;
    }
    if (!lgb_span_eq(line, "end of trees"))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "line %lld '%s': expected 'Tree=%d' or 'end of "
                            "trees'", (long long)r->line_no,
                            lgb_show(line, show), ti);
    if (ti == 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "the model has no "
                            "trees");
    if (ts->n >= 0 && ts->n != ti)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree_sizes lists %lld trees, the text has %d",
                            (long long)ts->n, ti);
    if (ti % c->n_targets != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%d trees is not a whole number of iterations "
                            "(num_tree_per_iteration=%d)", ti, c->n_targets);
    return AXLE_OK;
}

/* ---- metadata ---------------------------------------------------------- */

static char *span_dup(struct lgb_span s)
{
    char *p = axle_try_malloc(s.len + 1);
    if (p != NULL) {
        memcpy(p, s.p, s.len);
        p[s.len] = '\0';
    }
    return p;
}

static enum axle_status add_meta(struct axle_ir_model *m,
                                 const struct header *h,
                                 struct axle_err *err)
{
    struct lgb_span rest = h->val[H_FEATURE_NAMES], tok;
    char *names = axle_try_malloc(rest.len + 1);
    char *obj, *ver;
    char num[24];
    size_t n = 0;

    obj = h->has[H_OBJECTIVE] ? span_dup(h->val[H_OBJECTIVE]) : NULL;
    ver = h->has[H_VERSION] ? span_dup(h->val[H_VERSION]) : NULL;
    if (names == NULL || (h->has[H_OBJECTIVE] && obj == NULL) ||
        (h->has[H_VERSION] && ver == NULL)) {
        axle_free(names);
        axle_free(obj);
        axle_free(ver);
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    }
    while (lgb_next_token(&rest, &tok)) {
        if (n > 0)
            names[n++] = ',';
        memcpy(names + n, tok.p, tok.len);
        n += tok.len;
    }
    names[n] = '\0';
    snprintf(num, sizeof(num), "%lld", (long long)h->num_class);
    axle_ir_model_add_meta(m, "feature_names", names);
    axle_ir_model_add_meta(m, "objective", obj != NULL ? obj : "none");
    axle_ir_model_add_meta(m, "num_class", num);
    axle_ir_model_add_meta(m, "lightgbm_version", ver != NULL ? ver : "");
    axle_free(names);
    axle_free(obj);
    axle_free(ver);
    return AXLE_OK;
}

/* ---- entry ------------------------------------------------------------- */

enum axle_status axle_lightgbm_import(const uint8_t *buf, size_t len,
                                      struct axle_ir_model **out,
                                      struct axle_err *err)
{
    struct lgb_reader r;
    struct header h;
    struct objective obj;
    struct tree_sizes ts = {-1, NULL};
    struct lgb_tree_ctx c;
    struct lgb_span line;
    struct axle_ir_model *m = NULL;
    struct axle_forest *f = NULL;
    enum axle_status st;

    *out = NULL;
    memset(&h, 0, sizeof(h));
    memset(&c, 0, sizeof(c));
    lgb_reader_init(&r, buf, len);
    if ((st = read_header(&r, &h, &line, err)) != AXLE_OK ||
        (st = check_header(&h, err)) != AXLE_OK ||
        (st = parse_objective(&h, &obj, err)) != AXLE_OK ||
        (st = parse_tree_sizes(&h, &ts, err)) != AXLE_OK)
        goto out;
    f = axle_forest_new((int32_t)(h.max_feature_idx + 1),
                        (int32_t)h.n_per_iter);
    f->acc_float = false;
    f->agg = h.has[H_AVERAGE_OUTPUT] ? AXLE_AGG_AVERAGE : AXLE_AGG_SUM;
    if ((st = apply_objective(&obj, &h, f, err)) != AXLE_OK)
        goto out;
    c.f = f;
    c.n_features = f->n_features;
    c.n_targets = f->n_targets;
    /* LightGBM divides by the iterations, forest.h by all the trees. */
    c.leaf_scale = (h.has[H_AVERAGE_OUTPUT] && c.n_targets > 1)
                       ? (double)c.n_targets : 1.0;
    if ((st = read_trees(&r, line, &ts, &c, err)) != AXLE_OK ||
        (st = axle_forest_finish(f, err)) != AXLE_OK)
        goto out;
    st = axle_forest_model(f, "lightgbm", &m, err);
    f = NULL; /* owned by the model now, or freed */
    if (st != AXLE_OK)
        goto out;
    /* The wrapper may leave operator resolution to its callers (the ONNX
     * importer resolves its own nodes); resolve the one node here. */
    if (m->graph->n_nodes == 1 && m->graph->nodes[0].op == NULL)
        m->graph->nodes[0].op = axle_op_find("ai.axle", "Forest");
    if ((st = add_meta(m, &h, err)) != AXLE_OK)
        goto out;
    *out = m;
    m = NULL;
out:
    if (m != NULL)
        axle_ir_model_free(m);
    axle_forest_free(f);
    axle_free(ts.v);
    lgb_tree_ctx_dispose(&c);
    return st;
}
