/*
 * tree_onnxml_build.c - ONNX-ML tree attributes -> struct axle_oml (a
 * finished forest plus the finishing rules), for kernels/tree_onnxml.c.
 *
 * Steps:
 *   1. parse: the ai.onnx.ml 1/3 attribute lists (nodes addressed by
 *      (tree id, node id), weights by the same pair) or the ai.onnx.ml 5
 *      TreeEnsemble arrays (nodes and leaves by index) become one source
 *      graph of split and leaf nodes with explicit child indices.
 *   2. check: every child exists, no cycle (a node that is its own
 *      ancestor), and how many forest nodes each subtree expands to: the
 *      forest wants every node reached once, so a node reached along two
 *      paths (legal for ONNX Runtime, which walks pointers) is copied, and
 *      a BRANCH_MEMBER set becomes a chain of BRANCH_EQ tests that each
 *      lead to a copy of the true subtree (as ONNX Runtime unrolls it).
 *   3. presence: ONNX Runtime remembers per row whether a target received
 *      any leaf value; that changes base values, labels and probabilities
 *      (docs/formats/onnx-ml-trees.md). A target that some tree names in
 *      every leaf it can reach is always scored; one no leaf names never
 *      is; for any other a hidden forest target counts the leaves that
 *      named it.
 *   4. emit the trees into the forest and finish it.
 *
 * Thresholds and set members are rounded to float whatever the input type:
 * the forest compares float inputs, and a double input is rounded to float
 * first, so rounding both sides keeps every comparison of an input equal to
 * its threshold exact (ONNX's own double test cases sit on thresholds);
 * only a double within half a float step of a threshold, but not on it,
 * can branch differently from ONNX Runtime's double comparison.
 *
 * Trees, as ONNX Runtime reads them: a new tree starts at every node whose
 * tree id differs from the node listed before it (1/3), or at each entry of
 * tree_roots (5). Weights on a node that is not a leaf are ignored (old
 * onnxmltools wrote some); a leaf without weights adds nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/graph.h"
#include "ir/tensor.h"
#include "kernels/forest.h"
#include "kernels/tree_onnxml.h"

/* One node of the source graph: a 1/3 node, or a 5 node or leaf. */
struct src_node {
    uint8_t cond;        /* enum axle_cond; AXLE_COND_LEAF for a leaf */
    uint8_t missing_yes; /* NaN takes the true branch */
    uint8_t member;      /* BRANCH_MEMBER: members [set_off, +set_len) */
    int32_t feature;
    double threshold;
    int64_t yes, no;     /* source indices */
    int64_t w_off, w_len; /* leaf: weights [w_off, +w_len) */
    int64_t set_off, set_len;
    int64_t size;        /* forest nodes the subtree expands to */
    int64_t leaf_off;    /* forest leaf range, once added */
    uint32_t leaf_len;
};

struct src {
    int64_t n;
    struct src_node *nodes;
    int64_t n_roots;
    int64_t *roots;
    int64_t n_w;
    int32_t *w_target; /* grouped by leaf, in attribute order */
    double *w_value;
    double *sets;
    int64_t n_v5_nodes; /* 5: source index >= this is a leaf */
    const int64_t *tree_ids, *node_ids; /* 1/3: ids behind each node */
    int32_t max_feature;
};

/* ---- small helpers ------------------------------------------------------ */

/* For functions with a `st` and an `out:` label. */
#define TRY(x)                                                               \
    do {                                                                     \
        st = (x);                                                            \
        if (st != AXLE_OK)                                                   \
            goto out;                                                        \
    } while (0)

static void *talloc(size_t count, size_t size, struct axle_err *err)
{
    size_t bytes;
    void *p;
    if (axle_size_mul(count ? count : 1, size, &bytes) != 0) {
        axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "tree attributes too large");
        return NULL;
    }
    p = axle_try_calloc(1, bytes);
    if (p == NULL)
        axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                     "out of memory building the tree ensemble");
    return p;
}

static void src_dispose(struct src *s)
{
    axle_free(s->nodes);
    axle_free(s->roots);
    axle_free(s->w_target);
    axle_free(s->w_value);
    axle_free(s->sets);
}

/* "tree 3 node 7" (1/3) or "node 7" / "leaf 2" (5), for messages. */
static const char *where(const struct src *s, int64_t i, char *buf,
                         size_t len)
{
    if (s->tree_ids != NULL)
        snprintf(buf, len, "tree %lld node %lld", (long long)s->tree_ids[i],
                 (long long)s->node_ids[i]);
    else if (i >= s->n_v5_nodes)
        snprintf(buf, len, "leaf %lld", (long long)(i - s->n_v5_nodes));
    else
        snprintf(buf, len, "node %lld", (long long)i);
    return buf;
}

/* ---- attributes --------------------------------------------------------- */

static enum axle_status ints_attr(const struct axle_node *n, const char *name,
                                  bool required, const int64_t **v,
                                  int64_t *len, struct axle_err *err)
{
    const struct axle_attr *a = axle_node_attr(n, name);
    *v = NULL;
    *len = 0;
    if (a == NULL)
        return required ? axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                       "missing attribute '%s'", name)
                        : AXLE_OK;
    if (a->type != AXLE_ATTR_INTS)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "attribute '%s' must be a list of integers", name);
    *v = a->ints;
    *len = a->n;
    return AXLE_OK;
}

static int64_t int_attr(const struct axle_node *n, const char *name,
                        int64_t def)
{
    const struct axle_attr *a = axle_node_attr(n, name);
    return a != NULL && a->type == AXLE_ATTR_INT ? a->i : def;
}

static bool tensor_numeric(const struct axle_tensor *t)
{
    return t != NULL && t->dtype != AXLE_DTYPE_STRING &&
           t->dtype != AXLE_DTYPE_UNDEFINED && axle_tensor_numel(t) >= 0 &&
           (t->data != NULL || axle_tensor_numel(t) == 0);
}

/* A list of reals from the FLOATS attribute `name` or the tensor attribute
 * `tname` (either may be NULL); at most one may be given. In float_mode
 * the values are rounded to float, as ONNX Runtime stores them for float
 * inputs. *out is NULL and *len 0 when neither is present. */
static enum axle_status reals_attr(const struct axle_node *n, const char *name,
                                   const char *tname, bool float_mode,
                                   double **out, int64_t *len,
                                   struct axle_err *err)
{
    const struct axle_attr *a = name ? axle_node_attr(n, name) : NULL;
    const struct axle_attr *t = tname ? axle_node_attr(n, tname) : NULL;
    int64_t cnt;

    *out = NULL;
    *len = 0;
    if (a != NULL && a->type != AXLE_ATTR_FLOATS)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "attribute '%s' must be a list of floats", name);
    if (t != NULL && (t->type != AXLE_ATTR_TENSOR || !tensor_numeric(t->t)))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "attribute '%s' must be a numeric tensor", tname);
    if (a != NULL && a->n > 0 && t != NULL && axle_tensor_numel(t->t) > 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "attributes '%s' and '%s' are both given", name,
                            tname);
    if (t != NULL && axle_tensor_numel(t->t) > 0)
        cnt = axle_tensor_numel(t->t);
    else if (a != NULL)
        cnt = a->n, t = NULL;
    else
        return AXLE_OK;
    if (cnt == 0)
        return AXLE_OK;
    *out = talloc((size_t)cnt, sizeof(double), err);
    if (*out == NULL)
        return AXLE_RESOURCE_EXHAUSTED;
    for (int64_t i = 0; i < cnt; i++) {
        double v = t ? axle_tensor_get_f64(t->t, i) : (double)a->floats[i];
        (*out)[i] = float_mode ? (double)(float)v : v;
    }
    *len = cnt;
    return AXLE_OK;
}

/* An integer list given as a tensor (TreeEnsemble's nodes_modes, uint8). */
static enum axle_status tensor_ints(const struct axle_node *n,
                                    const char *name, int64_t **out,
                                    int64_t *len, struct axle_err *err)
{
    const struct axle_attr *a = axle_node_attr(n, name);
    int64_t cnt;

    *out = NULL;
    *len = 0;
    if (a == NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "missing attribute '%s'", name);
    if (a->type == AXLE_ATTR_INTS) {
        cnt = a->n;
    } else if (a->type == AXLE_ATTR_TENSOR && tensor_numeric(a->t)) {
        cnt = axle_tensor_numel(a->t);
    } else {
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "attribute '%s' must be an integer tensor", name);
    }
    *out = talloc((size_t)cnt, sizeof(int64_t), err);
    if (*out == NULL)
        return AXLE_RESOURCE_EXHAUSTED;
    for (int64_t i = 0; i < cnt; i++)
        (*out)[i] = a->type == AXLE_ATTR_INTS ? a->ints[i]
                                               : axle_tensor_get_i64(a->t, i);
    *len = cnt;
    return AXLE_OK;
}

static const char *const MODE_NAMES[] = {
    "BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT",
    "BRANCH_EQ",  "BRANCH_NEQ", "BRANCH_MEMBER", "LEAF",
};
/* Same order: TreeEnsemble-5's nodes_modes numbers are the index. */
static const uint8_t MODE_CONDS[] = {
    AXLE_COND_LE, AXLE_COND_LT, AXLE_COND_GE, AXLE_COND_GT,
    AXLE_COND_EQ, AXLE_COND_NE, AXLE_COND_EQ, AXLE_COND_LEAF,
};
#define MODE_MEMBER 6
#define MODE_LEAF 7

static int mode_from_name(const char *s)
{
    for (int i = 0; i < 8; i++)
        if (i != MODE_MEMBER && strcmp(s, MODE_NAMES[i]) == 0)
            return i;
    return -1;
}

/* Fills a split's condition from ONNX mode `mode` and threshold `t`.
 * Missing values: with nodes_missing_value_tracks_true NaN goes true,
 * otherwise it follows the comparison, which is false for every mode but
 * BRANCH_NEQ (NaN != t), as ONNX Runtime evaluates it. A NaN threshold
 * makes the comparison constant (false, or true for NEQ): it becomes a
 * test against -inf with that outcome, since the forest rejects NaN. */
static void set_split(struct src_node *d, int mode, double t, bool track)
{
    d->cond = MODE_CONDS[mode];
    d->threshold = t;
    d->missing_yes = track || d->cond == AXLE_COND_NE;
    if (isnan(t)) {
        d->cond = d->cond == AXLE_COND_NE ? AXLE_COND_GE : AXLE_COND_LT;
        d->threshold = -INFINITY;
    }
}

static enum axle_status parse_post(const struct axle_node *n, bool v5,
                                   enum axle_oml_xf *xf, struct axle_err *err)
{
    static const char *const names[] = {"NONE", "LOGISTIC", "SOFTMAX",
                                        "SOFTMAX_ZERO", "PROBIT"};
    /* TreeEnsemble-5 numbers as ONNX Runtime reads them: NONE 0, LOGISTIC 1,
     * SOFTMAX 2, SOFTMAX_ZERO 3, PROBIT 4 (its enum order). The ONNX
     * specification numbers SOFTMAX 1 and LOGISTIC 2; ONNX Runtime is the
     * reference here (docs/formats/onnx-ml-trees.md). */
    static const enum axle_oml_xf v5_xf[] = {
        AXLE_OML_XF_NONE, AXLE_OML_XF_LOGISTIC, AXLE_OML_XF_SOFTMAX,
        AXLE_OML_XF_SOFTMAX_ZERO, AXLE_OML_XF_PROBIT};
    if (v5) {
        int64_t p = int_attr(n, "post_transform", 0);
        if (p < 0 || p > 4)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "unknown post_transform %lld", (long long)p);
        *xf = v5_xf[p];
        return AXLE_OK;
    }
    const char *s = axle_node_attr_str(n, "post_transform", "NONE");
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *xf = (enum axle_oml_xf)i;
            return AXLE_OK;
        }
    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                        "unknown post_transform '%.40s' (NONE, LOGISTIC, "
                        "SOFTMAX, SOFTMAX_ZERO, PROBIT)", s);
}

static enum axle_status parse_agg(const struct axle_node *n, bool v5,
                                  enum axle_forest_agg *agg,
                                  struct axle_err *err)
{
    static const char *const names[] = {"SUM", "AVERAGE", "MIN", "MAX"};
    if (v5) {
        /* TreeEnsemble-5: AVERAGE 0, SUM 1, MIN 2, MAX 3 */
        static const enum axle_forest_agg v5_agg[] = {
            AXLE_AGG_AVERAGE, AXLE_AGG_SUM, AXLE_AGG_MIN, AXLE_AGG_MAX};
        int64_t a = int_attr(n, "aggregate_function", 1);
        if (a < 0 || a > 3)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "unknown aggregate_function %lld",
                                (long long)a);
        *agg = v5_agg[a];
        return AXLE_OK;
    }
    const char *s = axle_node_attr_str(n, "aggregate_function", "SUM");
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *agg = (enum axle_forest_agg)i;
            return AXLE_OK;
        }
    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                        "unknown aggregate_function '%.40s' (SUM, AVERAGE, "
                        "MIN, MAX)", s);
}

/* ---- ai.onnx.ml 1/3: nodes by (tree id, node id) ------------------------ */

struct key {
    int64_t tree, node, idx;
};

static int key_cmp(const void *pa, const void *pb)
{
    const struct key *a = pa, *b = pb;
    if (a->tree != b->tree)
        return a->tree < b->tree ? -1 : 1;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int64_t key_find(const struct key *k, int64_t n, int64_t tree,
                        int64_t node)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (k[mid].tree < tree || (k[mid].tree == tree && k[mid].node < node))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && k[lo].tree == tree && k[lo].node == node ? k[lo].idx
                                                              : -1;
}

static enum axle_status parse_v3(const struct axle_node *n, bool classifier,
                                 bool float_mode, int32_t n_out,
                                 struct src *s, struct axle_err *err)
{
    const int64_t *tree, *node, *feat, *tid, *fid, *track;
    const int64_t *wt, *wn, *wi;
    int64_t nn, l_node, l_feat, l_tid, l_fid, l_track, l_vals, l_wt, l_wn,
        l_wi, l_ww;
    double *vals = NULL, *ww = NULL;
    const struct axle_attr *modes = axle_node_attr(n, "nodes_modes");
    const char *pre = classifier ? "class" : "target";
    char name[40], wname[48], buf[64];
    struct key *keys = NULL;
    int64_t *cnt = NULL, *wnode = NULL;
    enum axle_status st;

    TRY(ints_attr(n, "nodes_treeids", true, &tree, &nn, err));
    TRY(ints_attr(n, "nodes_nodeids", true, &node, &l_node, err));
    TRY(ints_attr(n, "nodes_featureids", true, &feat, &l_feat, err));
    TRY(ints_attr(n, "nodes_truenodeids", true, &tid, &l_tid, err));
    TRY(ints_attr(n, "nodes_falsenodeids", true, &fid, &l_fid, err));
    TRY(ints_attr(n, "nodes_missing_value_tracks_true", false, &track,
                  &l_track, err));
    /* thresholds: always float (file comment) */
    TRY(reals_attr(n, "nodes_values", "nodes_values_as_tensor", true,
                   &vals, &l_vals, err));
    if (modes == NULL || modes->type != AXLE_ATTR_STRINGS) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "attribute 'nodes_modes' must be a list of "
                          "strings");
        goto out;
    }
    if (l_node != nn || l_feat != nn || l_tid != nn || l_fid != nn ||
        modes->n != nn || l_vals != nn) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "node attributes disagree in length (treeids %lld, "
                          "nodeids %lld, featureids %lld, modes %d, values "
                          "%lld, truenodeids %lld, falsenodeids %lld)",
                          (long long)nn, (long long)l_node, (long long)l_feat,
                          modes->n, (long long)l_vals, (long long)l_tid,
                          (long long)l_fid);
        goto out;
    }
    if (nn > AXLE_FOREST_MAX_NODES) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "%lld tree nodes (limit %d)", (long long)nn,
                          AXLE_FOREST_MAX_NODES);
        goto out;
    }
    snprintf(name, sizeof(name), "%s_treeids", pre);
    TRY(ints_attr(n, name, false, &wt, &l_wt, err));
    snprintf(name, sizeof(name), "%s_nodeids", pre);
    TRY(ints_attr(n, name, false, &wn, &l_wn, err));
    snprintf(name, sizeof(name), "%s_ids", pre);
    TRY(ints_attr(n, name, false, &wi, &l_wi, err));
    snprintf(name, sizeof(name), "%s_weights", pre);
    snprintf(wname, sizeof(wname), "%s_weights_as_tensor", pre);
    TRY(reals_attr(n, name, wname, float_mode, &ww, &l_ww, err));
    if (l_wn != l_wt || l_wi != l_wt || l_ww != l_wt) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "%s_treeids, %s_nodeids, %s_ids and %s_weights "
                          "disagree in length (%lld, %lld, %lld, %lld)",
                          pre, pre, pre, pre, (long long)l_wt,
                          (long long)l_wn, (long long)l_wi, (long long)l_ww);
        goto out;
    }
    if (l_wt > AXLE_FOREST_MAX_NODES) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "%lld leaf weights (limit %d)", (long long)l_wt,
                          AXLE_FOREST_MAX_NODES);
        goto out;
    }

    s->n = nn;
    s->tree_ids = tree;
    s->node_ids = node;
    s->max_feature = -1;
    s->nodes = talloc((size_t)nn, sizeof(*s->nodes), err);
    s->roots = talloc((size_t)nn, sizeof(int64_t), err);
    keys = talloc((size_t)nn, sizeof(*keys), err);
    if (s->nodes == NULL || s->roots == NULL || keys == NULL) {
        st = AXLE_RESOURCE_EXHAUSTED;
        goto out;
    }
    for (int64_t i = 0; i < nn; i++)
        keys[i] = (struct key){tree[i], node[i], i};
    qsort(keys, (size_t)nn, sizeof(*keys), key_cmp);
    for (int64_t i = 1; i < nn; i++)
        if (keys[i].tree == keys[i - 1].tree &&
            keys[i].node == keys[i - 1].node) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "tree %lld node %lld is defined twice",
                              (long long)keys[i].tree,
                              (long long)keys[i].node);
            goto out;
        }

    for (int64_t i = 0; i < nn; i++) {
        struct src_node *d = &s->nodes[i];
        int mode = mode_from_name(modes->strings[i]);
        if (mode < 0) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "%s: unknown mode '%.40s'",
                              where(s, i, buf, sizeof(buf)),
                              modes->strings[i]);
            goto out;
        }
        if (i == 0 || tree[i] != tree[i - 1])
            s->roots[s->n_roots++] = i;
        if (mode == MODE_LEAF) {
            d->cond = AXLE_COND_LEAF;
            continue;
        }
        if (feat[i] < 0 || feat[i] >= AXLE_FOREST_MAX_FEATURES) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "%s: feature id %lld out of range",
                              where(s, i, buf, sizeof(buf)),
                              (long long)feat[i]);
            goto out;
        }
        d->feature = (int32_t)feat[i];
        if (d->feature > s->max_feature)
            s->max_feature = d->feature;
        set_split(d, mode, vals[i], i < l_track && track[i] == 1);
        d->yes = key_find(keys, nn, tree[i], tid[i]);
        d->no = key_find(keys, nn, tree[i], fid[i]);
        if (d->yes < 0 || d->no < 0) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "%s: %s child %lld is not a node of tree %lld",
                              where(s, i, buf, sizeof(buf)),
                              d->yes < 0 ? "true" : "false",
                              (long long)(d->yes < 0 ? tid[i] : fid[i]),
                              (long long)tree[i]);
            goto out;
        }
    }

    /* Weights, grouped by leaf in attribute order. */
    cnt = talloc((size_t)nn + 1, sizeof(int64_t), err);
    wnode = talloc((size_t)l_wt, sizeof(int64_t), err);
    if (cnt == NULL || wnode == NULL) {
        st = AXLE_RESOURCE_EXHAUSTED;
        goto out;
    }
    for (int64_t j = 0; j < l_wt; j++) {
        int64_t i = key_find(keys, nn, wt[j], wn[j]);
        if (wi[j] < 0 || wi[j] >= n_out) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "%s_ids[%lld] = %lld is out of range (%d %s)",
                              pre, (long long)j, (long long)wi[j], n_out,
                              classifier ? "classes" : "targets");
            goto out;
        }
        if (i < 0) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "%s weight %lld names tree %lld node %lld, "
                              "which does not exist", pre, (long long)j,
                              (long long)wt[j], (long long)wn[j]);
            goto out;
        }
        wnode[j] = s->nodes[i].cond == AXLE_COND_LEAF ? i : -1;
        if (wnode[j] >= 0)
            cnt[i + 1]++;
    }
    for (int64_t i = 0; i < nn; i++) {
        s->nodes[i].w_off = cnt[i];
        cnt[i + 1] += cnt[i];
    }
    s->n_w = cnt[nn];
    s->w_target = talloc((size_t)s->n_w, sizeof(int32_t), err);
    s->w_value = talloc((size_t)s->n_w, sizeof(double), err);
    if (s->w_target == NULL || s->w_value == NULL) {
        st = AXLE_RESOURCE_EXHAUSTED;
        goto out;
    }
    for (int64_t j = 0; j < l_wt; j++) {
        struct src_node *d;
        if (wnode[j] < 0)
            continue;
        d = &s->nodes[wnode[j]];
        s->w_target[d->w_off + d->w_len] = (int32_t)wi[j];
        s->w_value[d->w_off + d->w_len] = ww[j];
        d->w_len++;
    }
    st = AXLE_OK;
out:
    axle_free(vals);
    axle_free(ww);
    axle_free(keys);
    axle_free(cnt);
    axle_free(wnode);
    return st;
}

/* ---- ai.onnx.ml 5: TreeEnsemble, nodes and leaves by index -------------- */

static enum axle_status parse_v5(const struct axle_node *n, bool float_mode,
                                 int32_t n_out, struct src *s,
                                 struct axle_err *err)
{
    const int64_t *feat, *tid, *tleaf, *fid, *fleaf, *track, *ltarget, *roots;
    int64_t nn, l_tid, l_tleaf, l_fid, l_fleaf, l_track, l_splits, l_modes,
        nl, l_lw, nr, l_mv;
    int64_t *modes = NULL;
    double *splits = NULL, *lw = NULL, *mv = NULL;
    int64_t mv_pos = 0;
    enum axle_status st;

    TRY(ints_attr(n, "nodes_featureids", true, &feat, &nn, err));
    TRY(ints_attr(n, "nodes_truenodeids", true, &tid, &l_tid, err));
    TRY(ints_attr(n, "nodes_trueleafs", true, &tleaf, &l_tleaf, err));
    TRY(ints_attr(n, "nodes_falsenodeids", true, &fid, &l_fid, err));
    TRY(ints_attr(n, "nodes_falseleafs", true, &fleaf, &l_fleaf, err));
    TRY(ints_attr(n, "nodes_missing_value_tracks_true", false, &track,
                  &l_track, err));
    TRY(ints_attr(n, "leaf_targetids", true, &ltarget, &nl, err));
    TRY(ints_attr(n, "tree_roots", true, &roots, &nr, err));
    TRY(tensor_ints(n, "nodes_modes", &modes, &l_modes, err));
    TRY(reals_attr(n, NULL, "nodes_splits", true, &splits, &l_splits, err));
    TRY(reals_attr(n, NULL, "leaf_weights", float_mode, &lw, &l_lw, err));
    TRY(reals_attr(n, NULL, "membership_values", true, &mv, &l_mv, err));
    if (l_tid != nn || l_tleaf != nn || l_fid != nn || l_fleaf != nn ||
        l_modes != nn || l_splits != nn || l_lw != nl) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "node attributes disagree in length (featureids "
                          "%lld, modes %lld, splits %lld, truenodeids %lld, "
                          "trueleafs %lld, falsenodeids %lld, falseleafs "
                          "%lld; leaf_targetids %lld, leaf_weights %lld)",
                          (long long)nn, (long long)l_modes,
                          (long long)l_splits, (long long)l_tid,
                          (long long)l_tleaf, (long long)l_fid,
                          (long long)l_fleaf, (long long)nl, (long long)l_lw);
        goto out;
    }
    if (nn + nl > AXLE_FOREST_MAX_NODES) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "%lld tree nodes and leaves (limit %d)",
                          (long long)(nn + nl), AXLE_FOREST_MAX_NODES);
        goto out;
    }
    s->n = nn + nl;
    s->n_v5_nodes = nn;
    s->max_feature = -1;
    s->nodes = talloc((size_t)s->n, sizeof(*s->nodes), err);
    s->roots = talloc((size_t)nr, sizeof(int64_t), err);
    s->w_target = talloc((size_t)nl, sizeof(int32_t), err);
    s->w_value = talloc((size_t)nl, sizeof(double), err);
    if (s->nodes == NULL || s->roots == NULL || s->w_target == NULL ||
        s->w_value == NULL) {
        st = AXLE_RESOURCE_EXHAUSTED;
        goto out;
    }
    s->sets = mv;
    mv = NULL;
    s->n_w = nl;
    for (int64_t j = 0; j < nl; j++) {
        struct src_node *d = &s->nodes[nn + j];
        if (ltarget[j] < 0 || ltarget[j] >= n_out) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "leaf_targetids[%lld] = %lld is out of range "
                              "(%d targets)", (long long)j,
                              (long long)ltarget[j], n_out);
            goto out;
        }
        d->cond = AXLE_COND_LEAF;
        d->w_off = j;
        d->w_len = 1;
        s->w_target[j] = (int32_t)ltarget[j];
        s->w_value[j] = lw[j];
    }
    for (int64_t i = 0; i < nn; i++) {
        struct src_node *d = &s->nodes[i];
        int64_t m = modes[i];
        bool tr = i < l_track && track[i] == 1;
        if (m < 0 || m > MODE_MEMBER) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "node %lld: unknown mode %lld", (long long)i,
                              (long long)m);
            goto out;
        }
        if (feat[i] < 0 || feat[i] >= AXLE_FOREST_MAX_FEATURES) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "node %lld: feature id %lld out of range",
                              (long long)i, (long long)feat[i]);
            goto out;
        }
        d->feature = (int32_t)feat[i];
        if (d->feature > s->max_feature)
            s->max_feature = d->feature;
        if (m == MODE_MEMBER) {
            /* Sets in node order, each ended by a NaN (ONNX TreeEnsemble-5;
             * ONNX Runtime reads them the same way). */
            if (s->sets == NULL) {
                st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                  "node %lld is BRANCH_MEMBER but there are "
                                  "no membership_values", (long long)i);
                goto out;
            }
            d->cond = AXLE_COND_EQ;
            d->member = 1;
            d->missing_yes = tr;
            d->set_off = mv_pos;
            while (mv_pos < l_mv && !isnan(s->sets[mv_pos]))
                mv_pos++;
            d->set_len = mv_pos - d->set_off;
            mv_pos++;
        } else {
            set_split(d, (int)m, splits[i], tr);
        }
        for (int side = 0; side < 2; side++) {
            int64_t c = side ? fid[i] : tid[i];
            bool leaf = (side ? fleaf[i] : tleaf[i]) != 0;
            int64_t lim = leaf ? nl : nn;
            if (c < 0 || c >= lim) {
                st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                  "node %lld: %s child %s %lld out of range "
                                  "(%lld %s)", (long long)i,
                                  side ? "false" : "true",
                                  leaf ? "leaf" : "node", (long long)c,
                                  (long long)lim, leaf ? "leaves" : "nodes");
                goto out;
            }
            if (side)
                d->no = leaf ? nn + c : c;
            else
                d->yes = leaf ? nn + c : c;
        }
    }
    for (int64_t r = 0; r < nr; r++) {
        int64_t i = roots[r];
        if (i < 0 || i >= nn) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "tree_roots[%lld] = %lld is out of range "
                              "(%lld nodes)", (long long)r, (long long)i,
                              (long long)nn);
            goto out;
        }
        /* A tree that is one leaf: both children the same leaf; ONNX
         * Runtime and the ONNX reference then read the root index as the
         * leaf index. */
        if (tleaf[i] && fleaf[i] && tid[i] == fid[i]) {
            if (i >= nl) {
                st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                  "tree %lld is a single leaf %lld, out of "
                                  "range (%lld leaves)", (long long)r,
                                  (long long)i, (long long)nl);
                goto out;
            }
            i = nn + i;
        }
        s->roots[s->n_roots++] = i;
    }
    st = AXLE_OK;
out:
    axle_free(modes);
    axle_free(splits);
    axle_free(lw);
    axle_free(mv);
    return st;
}

/* ---- checks: cycles and expanded sizes ---------------------------------- */

static int64_t sat_add(int64_t a, int64_t b, int64_t cap)
{
    return a >= cap || b >= cap || a + b >= cap ? cap : a + b;
}

static int64_t node_size(const struct src *s, const struct src_node *d,
                         int64_t cap)
{
    int64_t yes, no, k;
    if (d->cond == AXLE_COND_LEAF)
        return 1;
    yes = s->nodes[d->yes].size;
    no = s->nodes[d->no].size;
    k = d->member && d->set_len > 0 ? d->set_len : 1;
    /* k tests, each leading to its own copy of the true subtree */
    if (k > cap || (yes + 1) > cap / k)
        return cap;
    return sat_add(k * (yes + 1), no, cap);
}

/* Depth-first from every root: a child still on the path is a cycle.
 * Sizes are computed children first; the total is capped. */
static enum axle_status check_graph(struct src *s, int64_t cap,
                                    struct axle_err *err)
{
    uint8_t *color = talloc((size_t)s->n + 1, 1, err);
    int64_t *stack = talloc((size_t)s->n * 2 + 1, sizeof(int64_t), err);
    int64_t total = 0;
    char buf[64];
    enum axle_status st = AXLE_OK;

    if (color == NULL || stack == NULL) {
        st = AXLE_RESOURCE_EXHAUSTED;
        goto out;
    }
    for (int64_t r = 0; r < s->n_roots; r++) {
        int64_t sp = 0;
        if (color[s->roots[r]] == 0)
            stack[sp++] = s->roots[r];
        while (sp > 0) {
            int64_t v = stack[sp - 1];
            struct src_node *d = &s->nodes[v];
            if (color[v] == 2) {
                sp--;
            } else if (color[v] == 1) {
                d->size = node_size(s, d, cap);
                color[v] = 2;
                sp--;
            } else {
                color[v] = 1;
                if (d->cond == AXLE_COND_LEAF)
                    continue;
                for (int side = 0; side < 2; side++) {
                    int64_t c = side ? d->no : d->yes;
                    if (color[c] == 1) {
                        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                          "%s: its %s branch leads back to "
                                          "itself (a cycle)",
                                          where(s, c, buf, sizeof(buf)),
                                          side ? "false" : "true");
                        goto out;
                    }
                    /* a node is pushed at most once per parent edge that
                     * finds it white: <= 2n entries */
                    if (color[c] == 0)
                        stack[sp++] = c;
                }
            }
        }
        total = sat_add(total, s->nodes[s->roots[r]].size, cap);
    }
    if (total >= cap)
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "the trees expand to more than %lld nodes (nodes "
                          "shared between branches or BRANCH_MEMBER sets "
                          "are copied for each path)", (long long)(cap - 1));
out:
    axle_free(color);
    axle_free(stack);
    return st;
}

/* ---- presence ----------------------------------------------------------- */

/* Sets o->has_col. Visits the leaves each root reaches. */
static enum axle_status find_presence(const struct src *s, struct axle_oml *o,
                                      struct axle_err *err)
{
    int32_t T = o->n_out;
    int64_t *mark = talloc((size_t)s->n, sizeof(int64_t), err);
    int64_t *stack = talloc((size_t)s->n + 1, sizeof(int64_t), err);
    int64_t *cnt = talloc((size_t)T, sizeof(int64_t), err);
    int64_t *cnt_root = talloc((size_t)T, sizeof(int64_t), err);
    int64_t *seen = talloc((size_t)T, sizeof(int64_t), err);
    int32_t *touched = talloc((size_t)T, sizeof(int32_t), err);
    uint8_t *always = talloc((size_t)T, 1, err), *any = talloc((size_t)T, 1, err);
    int64_t visit = 0;
    enum axle_status st = AXLE_OK;

    o->has_col = talloc((size_t)T, sizeof(int32_t), err);
    if (!mark || !stack || !cnt || !cnt_root || !seen || !touched ||
        !always || !any || !o->has_col) {
        st = AXLE_RESOURCE_EXHAUSTED;
        goto out;
    }
    for (int64_t r = 0; r < s->n_roots; r++) {
        int64_t sp = 0, leaves = 0;
        int32_t n_touched = 0;
        stack[sp++] = s->roots[r];
        mark[s->roots[r]] = r + 1;
        while (sp > 0) {
            const struct src_node *d = &s->nodes[stack[--sp]];
            if (d->cond != AXLE_COND_LEAF) {
                if (mark[d->yes] != r + 1)
                    mark[d->yes] = r + 1, stack[sp++] = d->yes;
                if (mark[d->no] != r + 1)
                    mark[d->no] = r + 1, stack[sp++] = d->no;
                continue;
            }
            leaves++;
            visit++;
            for (int64_t j = 0; j < d->w_len; j++) {
                int32_t t = s->w_target[d->w_off + j];
                if (seen[t] == visit)
                    continue;
                seen[t] = visit;
                if (cnt_root[t] != r + 1) {
                    cnt_root[t] = r + 1;
                    cnt[t] = 0;
                    touched[n_touched++] = t;
                }
                cnt[t]++;
            }
        }
        for (int32_t i = 0; i < n_touched; i++) {
            int32_t t = touched[i];
            any[t] = 1;
            if (cnt[t] == leaves)
                always[t] = 1;
        }
    }
    o->n_hidden = 0;
    for (int32_t t = 0; t < T; t++) {
        if (always[t])
            o->has_col[t] = AXLE_OML_ALWAYS;
        else if (!any[t])
            o->has_col[t] = AXLE_OML_NEVER;
        else
            o->has_col[t] = T + o->n_hidden++;
    }
    if ((int64_t)T + o->n_hidden > AXLE_FOREST_MAX_TARGETS)
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "%d targets, %d of them only scored by some "
                          "leaves: more than %d columns", T, o->n_hidden,
                          AXLE_FOREST_MAX_TARGETS);
out:
    axle_free(mark);
    axle_free(stack);
    axle_free(cnt);
    axle_free(cnt_root);
    axle_free(seen);
    axle_free(touched);
    axle_free(always);
    axle_free(any);
    return st;
}

/* ---- emission ----------------------------------------------------------- */

/* Adds every leaf's (target, value) list, plus a 1 in the presence column
 * of each partly scored target it names. */
static enum axle_status add_leaves(struct src *s, const struct axle_oml *o,
                                   struct axle_forest *f, struct axle_err *err)
{
    int64_t max_w = 0;
    int32_t *tg;
    double *val;
    int64_t *seen;
    enum axle_status st = AXLE_OK;

    for (int64_t i = 0; i < s->n; i++)
        if (s->nodes[i].cond == AXLE_COND_LEAF && s->nodes[i].w_len > max_w)
            max_w = s->nodes[i].w_len;
    tg = talloc((size_t)max_w * 2 + 1, sizeof(int32_t), err);
    val = talloc((size_t)max_w * 2 + 1, sizeof(double), err);
    seen = talloc((size_t)o->n_out, sizeof(int64_t), err);
    if (tg == NULL || val == NULL || seen == NULL) {
        st = AXLE_RESOURCE_EXHAUSTED;
        goto out;
    }
    for (int64_t i = 0; i < s->n; i++) {
        struct src_node *d = &s->nodes[i];
        int64_t m = 0, off;
        if (d->cond != AXLE_COND_LEAF)
            continue;
        for (int64_t j = 0; j < d->w_len; j++) {
            tg[m] = s->w_target[d->w_off + j];
            val[m++] = s->w_value[d->w_off + j];
        }
        for (int64_t j = 0; j < d->w_len; j++) {
            int32_t t = s->w_target[d->w_off + j];
            if (o->has_col[t] < 0 || seen[t] == i + 1)
                continue;
            seen[t] = i + 1;
            tg[m] = o->has_col[t];
            val[m++] = 1.0;
        }
        off = axle_forest_add_leaf(f, m, tg, val);
        if (off < 0) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "too many leaf values (limit %d)",
                              AXLE_FOREST_MAX_NODES);
            goto out;
        }
        d->leaf_off = off;
        d->leaf_len = (uint32_t)m;
    }
out:
    axle_free(tg);
    axle_free(val);
    axle_free(seen);
    return st;
}

struct item {
    int64_t src;
    int32_t slot;
    int64_t pos; /* BRANCH_MEMBER: which member this test checks */
};

/* Writes the tree rooted at source node `root` into loc[0 .. size), each
 * path getting its own copy of what it reaches. */
static void emit_tree(const struct src *s, int64_t root,
                      struct axle_tree_node *loc, struct item *stack)
{
    int64_t sp = 0;
    int32_t next = 1;

    stack[sp++] = (struct item){root, 0, 0};
    while (sp > 0) {
        struct item it = stack[--sp];
        const struct src_node *d = &s->nodes[it.src];
        struct axle_tree_node *o = &loc[it.slot];
        int64_t no_src = d->no, no_pos = 0;

        memset(o, 0, sizeof(*o));
        if (d->cond == AXLE_COND_LEAF) {
            o->cond = AXLE_COND_LEAF;
            o->leaf_off = (uint32_t)d->leaf_off;
            o->leaf_len = d->leaf_len;
            continue;
        }
        o->feature = d->feature;
        o->missing_yes = d->missing_yes;
        o->cond = d->cond;
        o->threshold = d->threshold;
        if (d->member) {
            if (d->set_len == 0) { /* empty set: never a member */
                o->cond = AXLE_COND_LT;
                o->threshold = -INFINITY;
            } else {
                o->threshold = s->sets[d->set_off + it.pos];
                if (it.pos + 1 < d->set_len)
                    no_src = it.src, no_pos = it.pos + 1;
            }
        }
        o->yes = next++;
        o->no = next++;
        stack[sp++] = (struct item){no_src, o->no, no_pos};
        stack[sp++] = (struct item){d->yes, o->yes, 0};
    }
}

static enum axle_status emit_trees(const struct src *s, struct axle_forest *f,
                                   struct axle_err *err)
{
    int64_t max_size = 1;
    struct axle_tree_node *loc;
    struct item *stack;
    enum axle_status st = AXLE_OK;

    for (int64_t r = 0; r < s->n_roots; r++)
        if (s->nodes[s->roots[r]].size > max_size)
            max_size = s->nodes[s->roots[r]].size;
    loc = talloc((size_t)max_size, sizeof(*loc), err);
    stack = talloc((size_t)max_size + 2, sizeof(*stack), err);
    if (loc == NULL || stack == NULL) {
        st = AXLE_RESOURCE_EXHAUSTED;
        goto out;
    }
    for (int64_t r = 0; r < s->n_roots && st == AXLE_OK; r++) {
        int64_t size = s->nodes[s->roots[r]].size;
        emit_tree(s, s->roots[r], loc, stack);
        st = axle_forest_add_tree(f, size, loc, 0, err);
    }
out:
    axle_free(loc);
    axle_free(stack);
    return st;
}

/* ---- the state ---------------------------------------------------------- */

int64_t axle_oml_n_out(const struct axle_node *n, enum axle_oml_kind kind)
{
    if (kind == AXLE_OML_CLASSIFIER) {
        const struct axle_attr *s = axle_node_attr(n, "classlabels_strings");
        const struct axle_attr *i = axle_node_attr(n, "classlabels_int64s");
        if (s != NULL && s->type == AXLE_ATTR_STRINGS && s->n > 0)
            return s->n;
        if (i != NULL && i->type == AXLE_ATTR_INTS && i->n > 0)
            return i->n;
        return -1;
    }
    return int_attr(n, "n_targets", -1);
}

void axle_oml_free(struct axle_oml *s)
{
    if (s == NULL)
        return;
    axle_forest_free(s->forest);
    axle_free(s->has_col);
    axle_free(s->base);
    axle_free(s->labels);
    if (s->strings != NULL)
        for (int32_t i = 0; i < s->n_labels; i++)
            axle_free(s->strings[i]);
    axle_free(s->strings);
    axle_free(s);
}

static enum axle_status parse_labels(const struct axle_node *n,
                                     struct axle_oml *o, struct axle_err *err)
{
    const struct axle_attr *s = axle_node_attr(n, "classlabels_strings");
    const struct axle_attr *i = axle_node_attr(n, "classlabels_int64s");
    const int64_t *ids;
    int64_t n_ids, first = 0;
    bool one_id = true;
    enum axle_status st;

    if (s != NULL && s->type == AXLE_ATTR_STRINGS && s->n > 0) {
        o->n_labels = s->n;
        o->strings = talloc((size_t)s->n, sizeof(char *), err);
        if (o->strings == NULL)
            return AXLE_RESOURCE_EXHAUSTED;
        for (int k = 0; k < s->n; k++) {
            size_t len = strlen(s->strings[k]);
            o->strings[k] = axle_try_malloc(len + 1);
            if (o->strings[k] == NULL)
                return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                                    "out of memory for class labels");
            memcpy(o->strings[k], s->strings[k], len + 1);
        }
    } else if (i != NULL && i->type == AXLE_ATTR_INTS && i->n > 0) {
        o->n_labels = i->n;
        o->labels = talloc((size_t)i->n, sizeof(int64_t), err);
        if (o->labels == NULL)
            return AXLE_RESOURCE_EXHAUSTED;
        memcpy(o->labels, i->ints, (size_t)i->n * sizeof(int64_t));
    } else {
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "needs classlabels_int64s or classlabels_strings");
    }
    if (o->n_labels < 2)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "needs at least two class labels, got %d",
                            o->n_labels);
    o->n_out = o->n_labels;
    /* ONNX Runtime: the binary special cases apply when two labels share
     * one class id column; labels are picked by sign or 0.5 depending on
     * whether every weight is >= 0. */
    st = ints_attr(n, "class_ids", false, &ids, &n_ids, err);
    if (st != AXLE_OK)
        return st;
    for (int64_t k = 0; k < n_ids; k++) {
        if (k == 0)
            first = ids[0];
        else if (ids[k] != first)
            one_id = false;
    }
    o->binary_case = o->n_labels == 2 && n_ids > 0 && one_id;
    o->all_positive = true;
    {
        double *w;
        int64_t nw;
        st = reals_attr(n, "class_weights", "class_weights_as_tensor", false,
                        &w, &nw, err);
        if (st != AXLE_OK)
            return st;
        for (int64_t k = 0; k < nw; k++)
            if (w[k] < 0)
                o->all_positive = false;
        axle_free(w);
    }
    return AXLE_OK;
}

static enum axle_status parse_base(const struct axle_node *n,
                                   struct axle_oml *o, bool float_mode,
                                   struct axle_err *err)
{
    int64_t nb;
    enum axle_status st = reals_attr(n, "base_values", "base_values_as_tensor",
                                     float_mode, &o->base, &nb, err);
    if (st != AXLE_OK)
        return st;
    o->n_base = (int32_t)nb;
    if (nb == 0 || nb == o->n_out ||
        (o->kind == AXLE_OML_CLASSIFIER && o->n_out == 2 && nb == 1))
        return AXLE_OK;
    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                        "base_values has %lld values, expected 0 or %d",
                        (long long)nb, o->n_out);
}

enum axle_status axle_oml_build(const struct axle_node *n,
                                enum axle_oml_kind kind, bool float_mode,
                                struct axle_oml **out, struct axle_err *err)
{
    struct axle_oml *o = axle_xcalloc(1, sizeof(*o));
    struct src s = {0};
    enum axle_forest_agg agg = AXLE_AGG_SUM;
    bool v5 = kind == AXLE_OML_ENSEMBLE;
    struct axle_forest *f;
    int64_t cap;
    enum axle_status st;

    *out = NULL;
    o->kind = kind;
    o->float_mode = float_mode;
    if (kind == AXLE_OML_CLASSIFIER) {
        TRY(parse_labels(n, o, err));
    } else {
        int64_t t = int_attr(n, "n_targets", 0);
        if (t <= 0 || t > AXLE_FOREST_MAX_TARGETS) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "n_targets must be 1 to %d, got %lld",
                              AXLE_FOREST_MAX_TARGETS, (long long)t);
            goto out;
        }
        o->n_out = (int32_t)t;
        /* The classifier always sums (TreeEnsembleClassifier has no
         * aggregate_function). */
        TRY(parse_agg(n, v5, &agg, err));
    }
    if (o->n_out > AXLE_FOREST_MAX_TARGETS) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "%d classes (limit %d)", o->n_out,
                          AXLE_FOREST_MAX_TARGETS);
        goto out;
    }
    TRY(parse_post(n, v5, &o->xf, err));
    if (!v5)
        TRY(parse_base(n, o, float_mode, err));
    if (v5)
        TRY(parse_v5(n, float_mode, o->n_out, &s, err));
    else
        TRY(parse_v3(n, kind == AXLE_OML_CLASSIFIER, float_mode, o->n_out, &s,
                     err));
    /* Copies for shared nodes and member sets are allowed up to 16 times
     * the model's own node count. */
    cap = 16 * s.n + 65536;
    if (cap > AXLE_FOREST_MAX_NODES)
        cap = AXLE_FOREST_MAX_NODES;
    TRY(check_graph(&s, cap + 1, err));
    TRY(find_presence(&s, o, err));
    o->n_features = s.max_feature + 1 > 0 ? s.max_feature + 1 : 1;
    f = axle_forest_new(o->n_features, o->n_out + o->n_hidden);
    o->forest = f;
    f->agg = agg;
    f->acc_float = float_mode; /* ONNX Runtime sums in the threshold type */
    f->base_first = false;     /* base values: applied in finishing */
    f->transform = AXLE_XF_NONE;
    f->output = AXLE_FOREST_PREDICT;
    TRY(add_leaves(&s, o, f, err));
    TRY(emit_trees(&s, f, err));
    TRY(axle_forest_finish(f, err));
    st = AXLE_OK;
out:
    src_dispose(&s);
    if (st != AXLE_OK) {
        axle_oml_free(o);
        return st;
    }
    *out = o;
    return AXLE_OK;
}
