/*
 * lightgbm_tree.c - one "Tree=i" block of a LightGBM text model -> one
 * tree of struct axle_forest.
 *
 * LightGBM's layout (include/LightGBM/tree.h, Tree::ToString): num_leaves
 * L, internal nodes 0..L-2 with root 0, per-node arrays of L-1 values, leaf
 * arrays of L values; a child c >= 0 is internal node c, c < 0 is leaf ~c.
 * In the forest the internal nodes keep their indices and leaf j becomes
 * node L-1+j.
 *
 * Decisions (LightGBM 4.x Tree::NumericalDecision / CategoricalDecision):
 *   numerical: NaN with missing type != NaN is read as 0.0; then missing
 *     type Zero and |x| <= 1e-35f, or type NaN and x NaN, take the
 *     default_left side; otherwise x <= threshold goes left.
 *   categorical: NaN or (int)x < 0 goes right; (int)x in the bitset
 *     cat_threshold[cat_boundaries[k] .. cat_boundaries[k+1]) goes left,
 *     k = threshold.
 * Linear leaves (Tree::Predict with is_linear): leaf_const + sum coeff * x
 * over leaf_features, or leaf_value when one of those x is NaN.
 *
 * Every array is counted against num_leaves before any scratch is sized by
 * it, every index is range-checked, and the child links must form one tree
 * (each node one parent, all reachable from the root) before the forest
 * sees them.
 */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "import/lightgbm/lightgbm.h"
#include "import/lightgbm/lightgbm_internal.h"
#include "kernels/forest.h"

static const char *const field_names[LGB_N_FIELDS] = {
    [LGB_NUM_LEAVES] = "num_leaves",
    [LGB_NUM_CAT] = "num_cat",
    [LGB_SPLIT_FEATURE] = "split_feature",
    [LGB_THRESHOLD] = "threshold",
    [LGB_DECISION_TYPE] = "decision_type",
    [LGB_LEFT_CHILD] = "left_child",
    [LGB_RIGHT_CHILD] = "right_child",
    [LGB_LEAF_VALUE] = "leaf_value",
    [LGB_CAT_BOUNDARIES] = "cat_boundaries",
    [LGB_CAT_THRESHOLD] = "cat_threshold",
    [LGB_IS_LINEAR] = "is_linear",
    [LGB_LEAF_CONST] = "leaf_const",
    [LGB_NUM_FEATURES] = "num_features",
    [LGB_LEAF_FEATURES] = "leaf_features",
    [LGB_LEAF_COEFF] = "leaf_coeff",
};

/* Missing types, decision_type bits 2-3 (tree.h MissingType). */
enum { MISSING_NONE = 0, MISSING_ZERO = 1, MISSING_NAN = 2 };
#define DT_CATEGORICAL 1
#define DT_DEFAULT_LEFT 2

void lgb_tree_ctx_dispose(struct lgb_tree_ctx *c)
{
    for (int i = 0; i < LGB_N_BUFS; i++) {
        axle_free(c->buf[i].p);
        c->buf[i].p = NULL;
        c->buf[i].cap = 0;
    }
}

static void *buf_get(struct lgb_tree_ctx *c, int which, int64_t n,
                     size_t elem)
{
    struct lgb_buf *b = &c->buf[which];
    size_t bytes;

    if (n < 0 || axle_size_mul((size_t)n, elem, &bytes))
        return NULL;
    if (bytes == 0)
        bytes = 1;
    if (bytes > b->cap) {
        void *q = axle_try_realloc(b->p, bytes);
        if (q == NULL)
            return NULL;
        b->p = q;
        b->cap = bytes;
    }
    return b->p;
}

/* ---- reading the block ------------------------------------------------ */

enum axle_status lgb_tree_read(struct lgb_reader *r, int32_t index,
                               struct lgb_tree *t, struct lgb_span *next,
                               bool *eof, struct axle_err *err)
{
    struct lgb_span line, key, val;
    enum axle_status st;
    int n_lines = 0;
    char show[48];

    memset(t, 0, sizeof(*t));
    for (;;) {
        st = lgb_next_line(r, &line, eof, err);
        if (st != AXLE_OK || *eof)
            return st;
        if (r->cut)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "truncated model: the text ends inside "
                                "tree %d", index);
        if (line.len == 0 || lgb_span_starts(line, "Tree=") ||
            lgb_span_eq(line, "end of trees"))
            break;
        if (++n_lines > AXLE_LGB_MAX_TREE_LINES)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: more than %d lines in its block",
                                index, AXLE_LGB_MAX_TREE_LINES);
        if (!lgb_split_kv(line, &key, &val))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: line %lld '%s' is not key=value",
                                index, (long long)r->line_no,
                                lgb_show(line, show));
        for (int i = 0; i < LGB_N_FIELDS; i++) {
            if (!lgb_span_eq(key, field_names[i]))
                continue;
            if (t->has[i])
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "tree %d: duplicate field '%s'", index,
                                    field_names[i]);
            t->has[i] = true;
            t->val[i] = val;
            break;
        }
    }
    /* Blank lines between blocks. */
    while (line.len == 0) {
        st = lgb_next_line(r, &line, eof, err);
        if (st != AXLE_OK || *eof)
            return st;
    }
    *next = line;
    return AXLE_OK;
}

/* ---- fields ----------------------------------------------------------- */

static enum axle_status need(const struct lgb_tree *t, int fld, int32_t ti,
                             struct axle_err *err)
{
    if (!t->has[fld])
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d: missing field '%s'", ti,
                            field_names[fld]);
    return AXLE_OK;
}

/* The field holds exactly n values (checked before anything is sized by
 * n, so n never exceeds the bytes present). */
static enum axle_status check_len(const struct lgb_tree *t, int fld,
                                  int64_t n, int32_t ti, int64_t n_leaves,
                                  struct axle_err *err)
{
    int64_t got = lgb_count_tokens(t->val[fld]);
    if (got != n)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree array length mismatch: tree %d %s has "
                            "%lld values, expected %lld (num_leaves=%lld)",
                            ti, field_names[fld], (long long)got,
                            (long long)n, (long long)n_leaves);
    return AXLE_OK;
}

static enum axle_status scalar(const struct lgb_tree *t, int fld,
                               int64_t lo, int64_t hi, int64_t *v,
                               int32_t ti, struct axle_err *err)
{
    struct lgb_span rest = t->val[fld], tok;
    char show[48];

    if (!lgb_next_token(&rest, &tok) || !lgb_parse_i64(tok, v) ||
        lgb_count_tokens(rest) != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d: %s '%s' is not an integer", ti,
                            field_names[fld], lgb_show(t->val[fld], show));
    if (*v < lo || *v > hi)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d: %s %lld out of range (%lld..%lld)", ti,
                            field_names[fld], (long long)*v, (long long)lo,
                            (long long)hi);
    return AXLE_OK;
}

/* n integers in [lo, hi]; `gist` opens the range error. */
static enum axle_status ints(const struct lgb_tree *t, int fld, int64_t n,
                             int64_t lo, int64_t hi, const char *gist,
                             int32_t *out, int32_t ti, struct axle_err *err)
{
    struct lgb_span rest = t->val[fld], tok;
    char show[48];

    for (int64_t i = 0; i < n && lgb_next_token(&rest, &tok); i++) {
        int64_t v;
        if (!lgb_parse_i64(tok, &v))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: %s[%lld] '%s' is not an integer",
                                ti, field_names[fld], (long long)i,
                                lgb_show(tok, show));
        if (v < lo || v > hi)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: tree %d %s[%lld] is %lld, not in "
                                "%lld..%lld", gist, ti, field_names[fld],
                                (long long)i, (long long)v, (long long)lo,
                                (long long)hi);
        out[i] = (int32_t)v;
    }
    return AXLE_OK;
}

static enum axle_status words(const struct lgb_tree *t, int fld, int64_t n,
                              uint32_t *out, int32_t ti,
                              struct axle_err *err)
{
    struct lgb_span rest = t->val[fld], tok;
    char show[48];

    for (int64_t i = 0; i < n && lgb_next_token(&rest, &tok); i++) {
        int64_t v;
        if (!lgb_parse_i64(tok, &v) || v < 0 || v > (int64_t)UINT32_MAX)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: %s[%lld] '%s' is not a 32-bit "
                                "word", ti, field_names[fld], (long long)i,
                                lgb_show(tok, show));
        out[i] = (uint32_t)v;
    }
    return AXLE_OK;
}

static enum axle_status doubles(const struct lgb_tree *t, int fld, int64_t n,
                                double *out, int32_t ti,
                                struct axle_err *err)
{
    struct lgb_span rest = t->val[fld], tok;
    bool inf_ok = fld == LGB_THRESHOLD;
    char show[48];

    for (int64_t i = 0; i < n && lgb_next_token(&rest, &tok); i++)
        if (inf_ok ? !lgb_parse_threshold(tok, &out[i])
                   : !lgb_parse_f64(tok, &out[i]))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: %s[%lld] '%s' is not a %s"
                                "number", ti, field_names[fld],
                                (long long)i, lgb_show(tok, show),
                                inf_ok ? "" : "finite ");
    return AXLE_OK;
}

/* ---- structure -------------------------------------------------------- */

static int64_t local_index(int64_t n_int, int32_t child)
{
    return child >= 0 ? child : n_int + ~(int64_t)child;
}

/* Every child in range, every node but the root exactly one parent, every
 * node reachable from the root: the links form one tree. */
static enum axle_status check_structure(struct lgb_tree_ctx *c, int32_t ti,
                                        int64_t L, const int32_t *left,
                                        const int32_t *right,
                                        struct axle_err *err)
{
    int64_t n_int = L - 1, n = 2 * L - 1, sp = 0, reached = 0;
    uint8_t *seen = buf_get(c, LGB_B_SEEN, n, 1);
    int64_t *stack = buf_get(c, LGB_B_STACK, n, sizeof(int64_t));

    if (seen == NULL || stack == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "tree %d: out of memory", ti);
    memset(seen, 0, (size_t)n);
    for (int64_t i = 0; i < n_int; i++) {
        for (int side = 0; side < 2; side++) {
            int32_t ch = side ? right[i] : left[i];
            const char *name = side ? "right_child" : "left_child";
            int64_t loc;
            if (ch >= 0 && ch >= n_int)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "invalid tree structure: tree %d node "
                                    "%lld: %s %d out of range (%lld "
                                    "internal nodes)", ti, (long long)i,
                                    name, ch, (long long)n_int);
            if (ch < 0 && ~(int64_t)ch >= L)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "invalid tree structure: tree %d node "
                                    "%lld: %s %d names leaf %lld of %lld",
                                    ti, (long long)i, name, ch,
                                    (long long)~(int64_t)ch, (long long)L);
            if (ch == 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "invalid tree structure: tree %d node "
                                    "%lld: %s points back to the root "
                                    "(cycle)", ti, (long long)i, name);
            loc = local_index(n_int, ch);
            if (seen[loc])
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "invalid tree structure: tree %d node "
                                    "%lld: %s %d already has a parent "
                                    "(cycle or shared child)", ti,
                                    (long long)i, name, ch);
            seen[loc] = 1;
        }
    }
    /* One parent each and none for the root: every node is pushed at most
     * once, so the stack never holds more than n entries. */
    stack[sp++] = 0;
    while (sp > 0) {
        int64_t i = stack[--sp];
        reached++;
        if (i < n_int) {
            stack[sp++] = local_index(n_int, left[i]);
            stack[sp++] = local_index(n_int, right[i]);
        }
    }
    if (reached != n)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid tree structure: tree %d: %lld of %lld "
                            "nodes are not reachable from the root (cycle)",
                            ti, (long long)(n - reached), (long long)n);
    return AXLE_OK;
}

/* ---- building ---------------------------------------------------------- */

struct parsed {
    int64_t L, n_cat;
    bool linear;
    int32_t *split_feature, *left, *right, *decision_type;
    double *threshold, *leaf_value, *leaf_const;
    int32_t *cat_boundaries;
    uint32_t *cat_words;
    int64_t n_cat_words;
    int32_t *num_features, *leaf_features;
    double *leaf_coeff;
    int64_t n_lin;
};

static enum axle_status oom(int32_t ti, struct axle_err *err)
{
    return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                        "tree %d: out of memory", ti);
}

static enum axle_status parse_splits(struct lgb_tree_ctx *c,
                                     const struct lgb_tree *t, int32_t ti,
                                     struct parsed *p, struct axle_err *err)
{
    static const int req[] = {LGB_SPLIT_FEATURE, LGB_THRESHOLD,
                              LGB_LEFT_CHILD, LGB_RIGHT_CHILD};
    int64_t n = p->L - 1;
    enum axle_status st;

    for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
        if ((st = need(t, req[i], ti, err)) != AXLE_OK ||
            (st = check_len(t, req[i], n, ti, p->L, err)) != AXLE_OK)
            return st;
    }
    if (t->has[LGB_DECISION_TYPE] &&
        (st = check_len(t, LGB_DECISION_TYPE, n, ti, p->L, err)) != AXLE_OK)
        return st;
    p->split_feature = buf_get(c, LGB_B_SPLIT_FEATURE, n, sizeof(int32_t));
    p->left = buf_get(c, LGB_B_LEFT, n, sizeof(int32_t));
    p->right = buf_get(c, LGB_B_RIGHT, n, sizeof(int32_t));
    p->decision_type = buf_get(c, LGB_B_DECISION_TYPE, n, sizeof(int32_t));
    p->threshold = buf_get(c, LGB_B_THRESHOLD, n, sizeof(double));
    if (!p->split_feature || !p->left || !p->right || !p->decision_type ||
        !p->threshold)
        return oom(ti, err);
    if ((st = ints(t, LGB_SPLIT_FEATURE, n, 0, c->n_features - 1,
                   "split feature out of range", p->split_feature, ti,
                   err)) != AXLE_OK ||
        (st = ints(t, LGB_LEFT_CHILD, n, INT32_MIN, INT32_MAX,
                   "invalid tree structure", p->left, ti, err)) != AXLE_OK ||
        (st = ints(t, LGB_RIGHT_CHILD, n, INT32_MIN, INT32_MAX,
                   "invalid tree structure", p->right, ti, err)) != AXLE_OK ||
        (st = doubles(t, LGB_THRESHOLD, n, p->threshold, ti, err)) != AXLE_OK)
        return st;
    /* Absent decision_type: all numerical, missing type None
     * (Tree::Tree(const char*)). */
    if (!t->has[LGB_DECISION_TYPE])
        memset(p->decision_type, 0, (size_t)n * sizeof(int32_t));
    else if ((st = ints(t, LGB_DECISION_TYPE, n, 0, 15,
                        "unsupported decision_type", p->decision_type, ti,
                        err)) != AXLE_OK)
        return st;
    for (int64_t i = 0; i < n; i++)
        if (((p->decision_type[i] >> 2) & 3) == 3)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "unsupported decision_type: tree %d node "
                                "%lld: %d has missing type 3", ti,
                                (long long)i, p->decision_type[i]);
    return check_structure(c, ti, p->L, p->left, p->right, err);
}

static enum axle_status parse_cats(struct lgb_tree_ctx *c,
                                   const struct lgb_tree *t, int32_t ti,
                                   struct parsed *p, struct axle_err *err)
{
    int64_t nb = p->n_cat + 1;
    enum axle_status st;

    if ((st = need(t, LGB_CAT_BOUNDARIES, ti, err)) != AXLE_OK ||
        (st = need(t, LGB_CAT_THRESHOLD, ti, err)) != AXLE_OK ||
        (st = check_len(t, LGB_CAT_BOUNDARIES, nb, ti, p->L, err)) != AXLE_OK)
        return st;
    p->cat_boundaries = buf_get(c, LGB_B_CAT_BOUNDARIES, nb, sizeof(int32_t));
    if (p->cat_boundaries == NULL)
        return oom(ti, err);
    if ((st = ints(t, LGB_CAT_BOUNDARIES, nb, 0, AXLE_LGB_MAX_CAT_WORDS,
                   "invalid category sets", p->cat_boundaries, ti,
                   err)) != AXLE_OK)
        return st;
    if (p->cat_boundaries[0] != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid category sets: tree %d cat_boundaries "
                            "starts at %d, not 0", ti, p->cat_boundaries[0]);
    for (int64_t k = 1; k < nb; k++)
        if (p->cat_boundaries[k] < p->cat_boundaries[k - 1])
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid category sets: tree %d "
                                "cat_boundaries decreases at %lld", ti,
                                (long long)k);
    p->n_cat_words = p->cat_boundaries[nb - 1];
    if ((st = check_len(t, LGB_CAT_THRESHOLD, p->n_cat_words, ti, p->L,
                        err)) != AXLE_OK)
        return st;
    p->cat_words = buf_get(c, LGB_B_CAT_THRESHOLD, p->n_cat_words,
                           sizeof(uint32_t));
    if (p->cat_words == NULL)
        return oom(ti, err);
    return words(t, LGB_CAT_THRESHOLD, p->n_cat_words, p->cat_words, ti, err);
}

static enum axle_status parse_linear(struct lgb_tree_ctx *c,
                                     const struct lgb_tree *t, int32_t ti,
                                     struct parsed *p, struct axle_err *err)
{
    int64_t L = p->L;
    enum axle_status st;

    p->leaf_const = buf_get(c, LGB_B_LEAF_CONST, L, sizeof(double));
    p->num_features = buf_get(c, LGB_B_NUM_FEATURES, L, sizeof(int32_t));
    if (p->leaf_const == NULL || p->num_features == NULL)
        return oom(ti, err);
    /* Absent leaf_const / num_features read as zeros (Tree::Tree). */
    memset(p->leaf_const, 0, (size_t)L * sizeof(double));
    memset(p->num_features, 0, (size_t)L * sizeof(int32_t));
    if (t->has[LGB_LEAF_CONST] &&
        ((st = check_len(t, LGB_LEAF_CONST, L, ti, L, err)) != AXLE_OK ||
         (st = doubles(t, LGB_LEAF_CONST, L, p->leaf_const, ti, err)) !=
             AXLE_OK))
        return st;
    if (t->has[LGB_NUM_FEATURES] &&
        ((st = check_len(t, LGB_NUM_FEATURES, L, ti, L, err)) != AXLE_OK ||
         (st = ints(t, LGB_NUM_FEATURES, L, 0, c->n_features,
                    "invalid linear leaf", p->num_features, ti, err)) !=
             AXLE_OK))
        return st;
    p->n_lin = 0;
    for (int64_t j = 0; j < L; j++)
        p->n_lin += p->num_features[j];
    if (p->n_lin == 0)
        return AXLE_OK;
    if ((st = need(t, LGB_LEAF_FEATURES, ti, err)) != AXLE_OK ||
        (st = need(t, LGB_LEAF_COEFF, ti, err)) != AXLE_OK ||
        (st = check_len(t, LGB_LEAF_FEATURES, p->n_lin, ti, L, err)) !=
            AXLE_OK ||
        (st = check_len(t, LGB_LEAF_COEFF, p->n_lin, ti, L, err)) != AXLE_OK)
        return st;
    p->leaf_features = buf_get(c, LGB_B_LEAF_FEATURES, p->n_lin,
                               sizeof(int32_t));
    p->leaf_coeff = buf_get(c, LGB_B_LEAF_COEFF, p->n_lin, sizeof(double));
    if (p->leaf_features == NULL || p->leaf_coeff == NULL)
        return oom(ti, err);
    if ((st = ints(t, LGB_LEAF_FEATURES, p->n_lin, 0, c->n_features - 1,
                   "linear feature out of range", p->leaf_features, ti,
                   err)) != AXLE_OK)
        return st;
    return doubles(t, LGB_LEAF_COEFF, p->n_lin, p->leaf_coeff, ti, err);
}

static enum axle_status parse_tree(struct lgb_tree_ctx *c,
                                   const struct lgb_tree *t, int32_t ti,
                                   struct parsed *p, struct axle_err *err)
{
    enum axle_status st;
    int64_t v;

    memset(p, 0, sizeof(*p));
    if ((st = need(t, LGB_NUM_LEAVES, ti, err)) != AXLE_OK ||
        (st = need(t, LGB_NUM_CAT, ti, err)) != AXLE_OK ||
        (st = need(t, LGB_LEAF_VALUE, ti, err)) != AXLE_OK ||
        (st = scalar(t, LGB_NUM_LEAVES, 1, AXLE_LGB_MAX_LEAVES, &p->L, ti,
                     err)) != AXLE_OK ||
        (st = scalar(t, LGB_NUM_CAT, 0, p->L - 1, &p->n_cat, ti, err)) !=
            AXLE_OK ||
        (st = check_len(t, LGB_LEAF_VALUE, p->L, ti, p->L, err)) != AXLE_OK)
        return st;
    if (t->has[LGB_IS_LINEAR]) {
        if ((st = scalar(t, LGB_IS_LINEAR, 0, 1, &v, ti, err)) != AXLE_OK)
            return st;
        p->linear = v == 1;
    }
    p->leaf_value = buf_get(c, LGB_B_LEAF_VALUE, p->L, sizeof(double));
    if (p->leaf_value == NULL)
        return oom(ti, err);
    if ((st = doubles(t, LGB_LEAF_VALUE, p->L, p->leaf_value, ti, err)) !=
        AXLE_OK)
        return st;
    /* A one-leaf tree has no splits; LightGBM skips the other arrays. */
    if (p->L > 1 && (st = parse_splits(c, t, ti, p, err)) != AXLE_OK)
        return st;
    if (p->L > 1 && p->n_cat > 0 &&
        (st = parse_cats(c, t, ti, p, err)) != AXLE_OK)
        return st;
    if (p->linear && (st = parse_linear(c, t, ti, p, err)) != AXLE_OK)
        return st;
    return AXLE_OK;
}

/* LightGBM's predictor reads an input with |x| <= kZeroThreshold (1e-35f)
 * as 0.0: it leaves such values out of the row it builds
 * (c_api.cpp RowPairFunctionFromDenseMatric), and absent means zero. For
 * "x <= t" that matters only when t lies in [-kZ, kZ), which is where
 * LightGBM puts the bin edge between negatives, zero and positives: there
 * the float threshold that decides tiny inputs as 0 is used instead. */
static double zero_band(double t)
{
    const float kz = 1e-35f;
    if (t >= -(double)kz && t < 0)
        return (double)nextafterf(-kz, -INFINITY); /* tiny -> right */
    if (t >= 0 && t < (double)kz)
        return (double)kz; /* tiny -> left */
    return t;
}

/* Internal node i of the parsed tree as a forest node. */
static enum axle_status split_node(const struct parsed *p, int64_t i,
                                   int64_t cat_base, int32_t ti,
                                   struct axle_tree_node *nd,
                                   struct axle_err *err)
{
    int32_t dt = p->decision_type[i];
    double thr = p->threshold[i];
    int64_t n_int = p->L - 1;

    nd->feature = p->split_feature[i];
    nd->yes = (int32_t)local_index(n_int, p->left[i]);
    nd->no = (int32_t)local_index(n_int, p->right[i]);
    if (dt & DT_CATEGORICAL) {
        int64_t k = 0;
        /* range first: converting inf or 1e300 to an integer is undefined */
        if (thr >= 0 && thr < (double)p->n_cat)
            k = (int64_t)thr;
        if (!(thr >= 0 && thr < (double)p->n_cat) || (double)k != thr)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid category sets: tree %d node %lld: "
                                "threshold %.17g is not a category-set "
                                "index (num_cat=%lld)", ti, (long long)i,
                                thr, (long long)p->n_cat);
        nd->cond = AXLE_COND_IN;
        nd->cat_off = (uint32_t)(cat_base + p->cat_boundaries[k]);
        nd->cat_words =
            (uint32_t)(p->cat_boundaries[k + 1] - p->cat_boundaries[k]);
        nd->missing_yes = 0; /* NaN goes right */
        return AXLE_OK;
    }
    nd->cond = AXLE_COND_LE;
    nd->threshold = zero_band(thr);
    switch ((dt >> 2) & 3) {
    case MISSING_NAN:
        nd->missing_yes = (dt & DT_DEFAULT_LEFT) != 0;
        break;
    case MISSING_ZERO:
        /* NaN becomes 0.0, which is "zero": both take the default side. */
        nd->zero_missing = 1;
        nd->missing_yes = (dt & DT_DEFAULT_LEFT) != 0;
        break;
    default:
        /* NaN is compared as 0.0. */
        nd->missing_yes = 0.0 <= thr;
        break;
    }
    return AXLE_OK;
}

static enum axle_status add_parsed(struct lgb_tree_ctx *c,
                                   const struct parsed *p, int32_t ti,
                                   struct axle_err *err)
{
    int64_t L = p->L, n_int = L - 1, n = 2 * L - 1;
    int32_t target = ti % c->n_targets;
    double scale = c->leaf_scale;
    int32_t *targets = buf_get(c, LGB_B_TARGETS, L, sizeof(int32_t));
    struct axle_tree_node *nodes =
        buf_get(c, LGB_B_NODES, n, sizeof(struct axle_tree_node));
    int64_t leaf_off, cat_off = 0, lin_off = 0, lin_pos = 0;
    enum axle_status st;

    if (targets == NULL || nodes == NULL)
        return oom(ti, err);
    memset(nodes, 0, (size_t)n * sizeof(*nodes));
    for (int64_t j = 0; j < L; j++) {
        targets[j] = target;
        /* A linear leaf without terms outputs leaf_const, always. */
        if (p->linear && p->num_features[j] == 0)
            p->leaf_value[j] = p->leaf_const[j];
        p->leaf_value[j] *= scale;
    }
    leaf_off = axle_forest_add_leaf(c->f, L, targets, p->leaf_value);
    if (p->n_cat_words > 0)
        cat_off = axle_forest_add_cats(c->f, p->n_cat_words, p->cat_words);
    if (p->n_lin > 0) {
        for (int64_t k = 0; k < p->n_lin; k++)
            p->leaf_coeff[k] *= scale;
        lin_off = axle_forest_add_linear(c->f, p->n_lin, p->leaf_features,
                                         p->leaf_coeff);
    }
    if (leaf_off < 0 || cat_off < 0 || lin_off < 0 ||
        leaf_off + L > UINT32_MAX || cat_off + p->n_cat_words > UINT32_MAX ||
        lin_off + p->n_lin > UINT32_MAX)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d: the model holds more leaves, category "
                            "words or linear terms than the limit", ti);
    for (int64_t i = 0; i < n_int; i++)
        if ((st = split_node(p, i, cat_off, ti, &nodes[i], err)) != AXLE_OK)
            return st;
    for (int64_t j = 0; j < L; j++) {
        struct axle_tree_node *nd = &nodes[n_int + j];
        nd->cond = AXLE_COND_LEAF;
        nd->leaf_off = (uint32_t)(leaf_off + j);
        nd->leaf_len = 1;
        if (p->linear && p->num_features[j] > 0) {
            nd->lin_off = (uint32_t)(lin_off + lin_pos);
            nd->lin_len = (uint32_t)p->num_features[j];
            nd->lin_const = p->leaf_const[j] * scale;
            lin_pos += p->num_features[j];
        }
    }
    st = axle_forest_add_tree(c->f, n, nodes, 0, err);
    if (st != AXLE_OK)
        axle_err_prefix(err, "tree %d: ", ti);
    return st;
}

enum axle_status lgb_tree_build(struct lgb_tree_ctx *c,
                                const struct lgb_tree *t, int32_t index,
                                struct axle_err *err)
{
    struct parsed p;
    enum axle_status st = parse_tree(c, t, index, &p, err);
    if (st != AXLE_OK)
        return st;
    return add_parsed(c, &p, index, err);
}
