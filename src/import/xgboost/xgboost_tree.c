/*
 * xgboost_tree.c - one XGBoost tree object (RegTree::SaveModel) into the
 * forest's source form.
 *
 * A tree is struct-of-arrays, one element per node: left_children,
 * right_children (-1 for a leaf), split_indices (the feature),
 * split_conditions (the threshold, or a leaf's value), default_left (where
 * a missing value goes), split_type (0 numerical, 1 categorical; absent
 * before xgboost 1.3) and, for categorical splits, the category lists
 * (categories, with categories_nodes / _segments / _sizes saying which
 * node owns which run). Node 0 is the root.
 *
 * Decisions, as the library makes them (predictor GetNextNode, common/
 * categorical.h Decision; checked against xgboost 1.7.4 and 3.2.0):
 *   numerical    x < split_condition (float compare) -> left, else right;
 *   categorical  the category (int)x in the node's set -> right; not in
 *                the set, negative, or >= 2^24 (InvalidCat) -> left;
 *   missing      NaN (or the model's missing value) -> default_left.
 *
 * The tree is verified before anything is added (SECURITY.md D30): every
 * per-node array has num_nodes elements; each child is -1 (leaf; both
 * children) or in [1, num_nodes); an iterative walk from the root with a
 * visited map finds no node twice (cycle, or two parents) and no path
 * longer than AXLE_XGB_MAX_DEPTH; features are < num_feature; numbers are
 * finite. Unreachable (deleted) nodes are dropped and the rest renumbered
 * in walk order.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "import/xgboost/xgb_internal.h"
#include "import/xgboost/xgboost.h"
#include "kernels/forest.h"

/* XGBoost's OutOfRangeCat(): categories at or above it never match. */
#define CAT_LIMIT 16777216

enum {
    A_LEFT,
    A_RIGHT,
    A_FEATURE,
    A_COND,
    A_DEFAULT_LEFT,
    A_SPLIT_TYPE,
    A_N_ARRAYS
};

static const char *const array_names[A_N_ARRAYS] = {
    [A_LEFT] = "left_children",
    [A_RIGHT] = "right_children",
    [A_FEATURE] = "split_indices",
    [A_COND] = "split_conditions",
    [A_DEFAULT_LEFT] = "default_left",
    [A_SPLIT_TYPE] = "split_type",
};

struct tree_in {
    const struct xgb_doc *d;
    int32_t tree;
    int64_t n;
    uint32_t a[A_N_ARRAYS];
    /* categorical splits */
    uint32_t cats, cat_nodes, cat_segs, cat_sizes;
    int32_t *cat_of; /* node -> index into categories_nodes, or -1 */
};

static enum axle_status bad_elem(const struct tree_in *ti, int which,
                                 int64_t i, const char *want,
                                 struct axle_err *err)
{
    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                        "tree %d: %s[%lld] is not %s", ti->tree,
                        array_names[which], (long long)i, want);
}

static enum axle_status get_array(struct tree_in *ti, uint32_t t, int which,
                                  bool required, struct axle_err *err)
{
    char where[32];
    enum axle_status st;

    snprintf(where, sizeof(where), "tree %d", ti->tree);
    st = xgb_member(ti->d, t, array_names[which], XGB_ARR, required, where,
                    &ti->a[which], err);
    if (st != AXLE_OK || ti->a[which] == XGB_NONE)
        return st;
    if (!xgb_arr_scalars(ti->d, ti->a[which]))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d: %s must hold numbers", ti->tree,
                            array_names[which]);
    if ((int64_t)xgb_size(ti->d, ti->a[which]) != ti->n)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree array length mismatch: tree %d %s has %u "
                            "elements, num_nodes is %lld", ti->tree,
                            array_names[which],
                            xgb_size(ti->d, ti->a[which]),
                            (long long)ti->n);
    return AXLE_OK;
}

static enum axle_status get_child(const struct tree_in *ti, int which,
                                  int64_t i, int64_t *out,
                                  struct axle_err *err)
{
    if (xgb_arr_i64(ti->d, ti->a[which], (uint32_t)i, out) != 0)
        return bad_elem(ti, which, i, "an integer", err);
    return AXLE_OK;
}

/* The categories arrays (xgboost >= 1.6; optional when no split is
 * categorical). cat_of[node] = k for the k-th entry of categories_nodes,
 * which XGBoost reads in increasing node order. */
static enum axle_status read_cat_index(struct tree_in *ti, uint32_t t,
                                       struct axle_err *err)
{
    static const char *const names[4] = {
        "categories", "categories_nodes", "categories_segments",
        "categories_sizes",
    };
    uint32_t *slots[4] = {&ti->cats, &ti->cat_nodes, &ti->cat_segs,
                          &ti->cat_sizes};
    char where[32];
    int64_t prev = -1;
    uint32_t k_n;

    snprintf(where, sizeof(where), "tree %d", ti->tree);
    for (int i = 0; i < 4; i++) {
        enum axle_status st = xgb_member(ti->d, t, names[i], XGB_ARR, true,
                                         where, slots[i], err);
        if (st != AXLE_OK)
            return st; /* "missing field 'categories' in tree 3" */
        if (!xgb_arr_scalars(ti->d, *slots[i]))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: %s must hold integers", ti->tree,
                                names[i]);
    }
    k_n = xgb_size(ti->d, ti->cat_nodes);
    if (xgb_size(ti->d, ti->cat_segs) != k_n ||
        xgb_size(ti->d, ti->cat_sizes) != k_n)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree array length mismatch: tree %d "
                            "categories_nodes has %u elements, "
                            "categories_segments %u, categories_sizes %u",
                            ti->tree, k_n, xgb_size(ti->d, ti->cat_segs),
                            xgb_size(ti->d, ti->cat_sizes));
    for (uint32_t k = 0; k < k_n; k++) {
        int64_t node, beg, size;
        if (xgb_arr_i64(ti->d, ti->cat_nodes, k, &node) != 0 ||
            xgb_arr_i64(ti->d, ti->cat_segs, k, &beg) != 0 ||
            xgb_arr_i64(ti->d, ti->cat_sizes, k, &size) != 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: categories entry %u is not an "
                                "integer", ti->tree, k);
        if (node <= prev || node >= ti->n)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: categories_nodes[%u] = %lld is "
                                "out of range or not increasing", ti->tree,
                                k, (long long)node);
        if (beg < 0 || size < 0 ||
            beg > (int64_t)xgb_size(ti->d, ti->cats) ||
            size > (int64_t)xgb_size(ti->d, ti->cats) - beg)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: category segment %u [%lld, +%lld) "
                                "outside categories (%u)", ti->tree, k,
                                (long long)beg, (long long)size,
                                xgb_size(ti->d, ti->cats));
        ti->cat_of[node] = (int32_t)k;
        prev = node;
    }
    return AXLE_OK;
}

/* The category bitset of node i (categories in it go right). */
static enum axle_status node_cats(struct xgb_tree_ctx *ctx,
                                  const struct tree_in *ti, int64_t i,
                                  struct axle_tree_node *nd,
                                  struct axle_err *err)
{
    int32_t k = ti->cat_of[i];
    int64_t beg = 0, size = 0, max = -1, off;
    uint32_t *words;
    int64_t n_words;

    nd->cat_off = 0;
    nd->cat_words = 0;
    /* k < 0: no category list, an empty set as in XGBoost. An empty set is
     * stored as one zero word, so that the forest's set pointer is never
     * NULL. */
    if (k >= 0) {
        xgb_arr_i64(ti->d, ti->cat_segs, (uint32_t)k, &beg);
        xgb_arr_i64(ti->d, ti->cat_sizes, (uint32_t)k, &size);
    }
    for (int64_t j = beg; j < beg + size; j++) {
        int64_t c;
        if (xgb_arr_i64(ti->d, ti->cats, (uint32_t)j, &c) != 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d: categories[%lld] is not an "
                                "integer", ti->tree, (long long)j);
        if (c < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d node %lld: negative category %lld",
                                ti->tree, (long long)i, (long long)c);
        if (c < CAT_LIMIT && c > max)
            max = c;
    }
    n_words = max < 0 ? 1 : max / 32 + 1;
    if (ctx->cat_words + n_words > AXLE_XGB_MAX_CAT_WORDS)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d node %lld: category sets exceed %d "
                            "words in all", ti->tree, (long long)i,
                            AXLE_XGB_MAX_CAT_WORDS);
    words = axle_try_calloc((size_t)n_words, sizeof(uint32_t));
    if (words == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory for a category set");
    for (int64_t j = beg; j < beg + size; j++) {
        int64_t c;
        xgb_arr_i64(ti->d, ti->cats, (uint32_t)j, &c);
        if (c < CAT_LIMIT)
            words[c >> 5] |= 1u << (c & 31);
    }
    off = axle_forest_add_cats(ctx->f, n_words, words);
    axle_free(words);
    if (off < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "too many category words in the forest");
    ctx->cat_words += n_words;
    nd->cat_off = (uint32_t)off;
    nd->cat_words = (uint32_t)n_words;
    return AXLE_OK;
}

/* Walks from the root: checks the structure and numbers the reachable
 * nodes in walk order (newidx[i], -1 when unreachable). Returns the
 * count. */
static enum axle_status walk(const struct tree_in *ti, int32_t *newidx,
                             int64_t *stack, int64_t *count,
                             struct axle_err *err)
{
    int64_t sp = 0, next = 1;
    enum axle_status st;

    for (int64_t i = 0; i < ti->n; i++)
        newidx[i] = -1;
    newidx[0] = 0;
    stack[sp++] = 0;
    stack[sp++] = 0;
    while (sp > 0) {
        int64_t depth = stack[--sp];
        int64_t i = stack[--sp];
        int64_t l, r;

        if ((st = get_child(ti, A_LEFT, i, &l, err)) != AXLE_OK ||
            (st = get_child(ti, A_RIGHT, i, &r, err)) != AXLE_OK)
            return st;
        if (l == -1 && r == -1)
            continue;
        if (l == -1 || r == -1)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid tree structure: tree %d node %lld "
                                "has one child (%lld, %lld)", ti->tree,
                                (long long)i, (long long)l, (long long)r);
        if (l < 1 || l >= ti->n || r < 1 || r >= ti->n)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid tree structure: tree %d node %lld: "
                                "child %lld out of range (num_nodes %lld)",
                                ti->tree, (long long)i,
                                (long long)(l < 1 || l >= ti->n ? l : r),
                                (long long)ti->n);
        if (l == r || newidx[l] >= 0 || newidx[r] >= 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid tree structure: tree %d node %lld: "
                                "child %lld is reached twice (a cycle, or "
                                "a node with two parents)", ti->tree,
                                (long long)i,
                                (long long)(newidx[l] >= 0 || l == r ? l
                                                                     : r));
        if (depth + 1 > AXLE_XGB_MAX_DEPTH)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid tree structure: tree %d is deeper "
                                "than %d levels", ti->tree,
                                AXLE_XGB_MAX_DEPTH);
        newidx[l] = (int32_t)next++;
        newidx[r] = (int32_t)next++;
        /* right pushed first, so the left subtree is walked first */
        stack[sp++] = r;
        stack[sp++] = depth + 1;
        stack[sp++] = l;
        stack[sp++] = depth + 1;
    }
    *count = next;
    return AXLE_OK;
}

static enum axle_status fill_node(struct xgb_tree_ctx *ctx,
                                  const struct tree_in *ti, int64_t i,
                                  const int32_t *newidx, int32_t target,
                                  float weight, struct axle_tree_node *nd,
                                  struct axle_err *err)
{
    int64_t l, r, feat, stype = 0;
    float cond;
    bool dleft;

    memset(nd, 0, sizeof(*nd));
    xgb_arr_i64(ti->d, ti->a[A_LEFT], (uint32_t)i, &l);
    xgb_arr_i64(ti->d, ti->a[A_RIGHT], (uint32_t)i, &r);
    if (xgb_arr_f32(ti->d, ti->a[A_COND], (uint32_t)i, &cond) != 0)
        return bad_elem(ti, A_COND, i, "a number", err);
    if (l == -1) {
        /* a leaf: its value, scaled by dart's weight in float */
        float v = cond * weight;
        double dv = v;
        int64_t off;
        if (!isfinite(v))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d node %lld: leaf value is not "
                                "finite", ti->tree, (long long)i);
        off = axle_forest_add_leaf(ctx->f, 1, &target, &dv);
        if (off < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "too many leaves in the forest");
        nd->cond = AXLE_COND_LEAF;
        nd->leaf_off = (uint32_t)off;
        nd->leaf_len = 1;
        return AXLE_OK;
    }
    if (xgb_arr_i64(ti->d, ti->a[A_FEATURE], (uint32_t)i, &feat) != 0)
        return bad_elem(ti, A_FEATURE, i, "an integer", err);
    if (feat < 0 || feat >= ctx->num_feature)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "split feature out of range: tree %d node %lld "
                            "uses feature %lld, num_feature is %d", ti->tree,
                            (long long)i, (long long)feat, ctx->num_feature);
    if (xgb_arr_bool(ti->d, ti->a[A_DEFAULT_LEFT], (uint32_t)i, &dleft) != 0)
        return bad_elem(ti, A_DEFAULT_LEFT, i, "a boolean or 0/1", err);
    if (ti->a[A_SPLIT_TYPE] != XGB_NONE &&
        (xgb_arr_i64(ti->d, ti->a[A_SPLIT_TYPE], (uint32_t)i, &stype) != 0 ||
         (stype != 0 && stype != 1)))
        return bad_elem(ti, A_SPLIT_TYPE, i, "0 or 1", err);
    nd->feature = (int32_t)feat;
    if (stype == 1) {
        nd->cond = AXLE_COND_IN;
        nd->yes = newidx[r]; /* in the set: right */
        nd->no = newidx[l];
        nd->missing_yes = !dleft;
        return node_cats(ctx, ti, i, nd, err);
    }
    if (!isfinite(cond))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d node %lld: split_condition is not "
                            "finite", ti->tree, (long long)i);
    nd->cond = AXLE_COND_LT;
    nd->threshold = (double)cond; /* exactly the float XGBoost compares */
    nd->yes = newidx[l];
    nd->no = newidx[r];
    nd->missing_yes = dleft;
    return AXLE_OK;
}

enum axle_status xgb_tree_add(struct xgb_tree_ctx *ctx, uint32_t t,
                              int32_t tree, int32_t target, float weight,
                              struct axle_err *err)
{
    const struct xgb_doc *d = ctx->d;
    struct tree_in ti = {.d = d, .tree = tree};
    struct axle_tree_node *nodes = NULL;
    int32_t *newidx = NULL;
    int64_t *stack = NULL, count = 0, slv = 0;
    uint32_t tp, v;
    bool any_cat = false;
    char where[32];
    enum axle_status st;

    for (int i = 0; i < A_N_ARRAYS; i++)
        ti.a[i] = XGB_NONE;
    snprintf(where, sizeof(where), "tree %d", tree);
    if (xgb_type(d, t) != XGB_OBJ)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d is not an object", tree);
    st = xgb_member(d, t, "tree_param", XGB_OBJ, true, where, &tp, err);
    if (st != AXLE_OK)
        return st;
    st = xgb_member(d, tp, "num_nodes", -1, true, where, &v, err);
    if (st != AXLE_OK)
        return st;
    if (xgb_int_param(d, v, &ti.n) != 0 || ti.n < 1 ||
        ti.n > AXLE_XGB_MAX_TREE_NODES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d: num_nodes is not an integer in 1..%d",
                            tree, AXLE_XGB_MAX_TREE_NODES);
    st = xgb_member(d, tp, "size_leaf_vector", -1, false, where, &v, err);
    if (st != AXLE_OK)
        return st;
    if (v != XGB_NONE && (xgb_int_param(d, v, &slv) != 0 || slv < 0))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d: size_leaf_vector is not an integer",
                            tree);
    if (slv > 1)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d: vector leaves (size_leaf_vector %lld, "
                            "multi_strategy=multi_output_tree) are not "
                            "supported", tree, (long long)slv);
    /* Every array is checked against num_nodes before anything is sized
     * by it, so the allocations below are bounded by the file's size. */
    for (int i = 0; i < A_N_ARRAYS; i++) {
        st = get_array(&ti, t, i, i != A_SPLIT_TYPE, err);
        if (st != AXLE_OK)
            return st;
    }
    nodes = axle_try_malloc((size_t)ti.n * sizeof(*nodes));
    newidx = axle_try_malloc((size_t)ti.n * sizeof(*newidx));
    stack = axle_try_malloc((size_t)(4 * ti.n + 4) * sizeof(*stack));
    ti.cat_of = axle_try_malloc((size_t)ti.n * sizeof(*ti.cat_of));
    if (nodes == NULL || newidx == NULL || stack == NULL ||
        ti.cat_of == NULL) {
        st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                          "out of memory reading tree %d (%lld nodes)", tree,
                          (long long)ti.n);
        goto out;
    }
    for (int64_t i = 0; i < ti.n; i++) {
        int64_t s = 0;
        ti.cat_of[i] = -1;
        if (ti.a[A_SPLIT_TYPE] != XGB_NONE &&
            xgb_arr_i64(d, ti.a[A_SPLIT_TYPE], (uint32_t)i, &s) == 0 &&
            s == 1)
            any_cat = true;
    }
    if (any_cat && (st = read_cat_index(&ti, t, err)) != AXLE_OK)
        goto out;
    if ((st = walk(&ti, newidx, stack, &count, err)) != AXLE_OK)
        goto out;
    for (int64_t i = 0; i < ti.n; i++) {
        if (newidx[i] < 0)
            continue; /* unreachable (deleted) */
        st = fill_node(ctx, &ti, i, newidx, target, weight,
                       &nodes[newidx[i]], err);
        if (st != AXLE_OK)
            goto out;
    }
    st = axle_forest_add_tree(ctx->f, count, nodes, 0, err);
out:
    axle_free(nodes);
    axle_free(newidx);
    axle_free(stack);
    axle_free(ti.cat_of);
    return st;
}
