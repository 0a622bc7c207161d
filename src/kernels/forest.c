/*
 * forest.c - tree ensembles: builder, validation, compilation, evaluation.
 *
 * See forest.h for the model. The evaluator works on blocks of BLOCK rows:
 * for each tree in order, every row of the block walks that tree and adds
 * its leaf to the row's accumulator, so one tree's nodes stay in L1 while
 * the block passes through it and each row still sees the trees in model
 * order (the accumulation order the libraries use). Blocks are spread over
 * the pool when the batch is big enough to pay for the hand-off; a single
 * row never leaves the calling thread.
 *
 * Perfect trees (all splits numeric, depth <= AXLE_FOREST_PERFECT_DEPTH):
 * one array of 8-byte slots, 2^D - 1 split nodes (threshold, feature with
 * the missing-goes-high bit 31) followed by 2^D leaf values, so a walk is D
 * steps of i = 2i + 1 + (x[f] >= t) and a final load, with no branches. A
 * block without NaNs skips the missing test altogether.
 *
 * General trees: an array of nodes with explicit children; a child < 0 is
 * the leaf ~child (a source node index, whose (target, value) pairs and
 * linear terms are read from the source arrays).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "base/cpu.h"
#include "kernels/forest.h"
#include "kernels/forest_internal.h"

#define BLOCK 64
#define ZERO_THRESHOLD 1e-35f

enum gkind {
    G_GE_F = 0, /* x >= t (float): true */
    G_LT_D,     /* double comparisons against td */
    G_LE_D,
    G_GT_D,
    G_GE_D,
    G_EQ_D,
    G_NE_D,
    G_IN,
};

struct gnode {
    uint8_t kind;
    uint8_t miss_yes;
    uint8_t zero_missing;
    int32_t f;
    float t;
    double td;
    int32_t yes, no; /* >= 0: node; < 0: ~(global source node index) */
    uint32_t cat_off, cat_words;
};

/* ---- builder ---------------------------------------------------------- */

struct axle_forest *axle_forest_new(int32_t n_features, int32_t n_targets)
{
    struct axle_forest *f = axle_xcalloc(1, sizeof(*f));
    f->n_features = n_features;
    f->n_targets = n_targets > 0 ? n_targets : 1;
    f->base = axle_xcalloc((size_t)f->n_targets, sizeof(double));
    f->sigmoid_scale = 1.0;
    f->missing_value = NAN;
    return f;
}

void axle_forest_free(struct axle_forest *f)
{
    if (f == NULL)
        return;
    if (f->compiled != NULL)
        for (int32_t i = 0; i < f->n_trees; i++) {
            axle_free(f->compiled[i].slots);
            axle_free(f->compiled[i].pt);
            axle_free(f->compiled[i].pf);
            axle_free(f->compiled[i].pv);
            axle_free(f->compiled[i].pvf);
            axle_free(f->compiled[i].pr);
            axle_free(f->compiled[i].gn);
        }
    for (int32_t i = 0; i < f->n_row_groups; i++) {
        axle_free(f->row_groups[i].split);
        axle_free(f->row_groups[i].v);
    }
    axle_free(f->row_groups);
    axle_free(f->cuts);
    axle_free(f->cut_off);
    axle_free(f->compiled);
    axle_free(f->base);
    axle_free(f->tree_root);
    axle_free(f->tree_first);
    axle_free(f->tree_n_nodes);
    axle_free(f->nodes);
    axle_free(f->leaf_target);
    axle_free(f->leaf_value);
    axle_free(f->cats);
    axle_free(f->lin_feature);
    axle_free(f->lin_coef);
    axle_free(f);
}

/* Grows *cap to hold need items of `size` bytes; false past `limit`. */
static bool grow(void **p, int64_t *cap, int64_t need, size_t size,
                 int64_t limit)
{
    int64_t c = *cap;
    if (need > limit)
        return false;
    if (need <= c)
        return true;
    c = c ? c : 64;
    while (c < need)
        c *= 2;
    if (c > limit)
        c = limit;
    *p = axle_xrealloc(*p, (size_t)c * size);
    *cap = c;
    return true;
}

enum axle_status axle_forest_add_tree(struct axle_forest *f, int64_t n,
                                      const struct axle_tree_node *nodes,
                                      int32_t root, struct axle_err *err)
{
    int64_t cap;

    if (f->finished)
        return axle_err_set(err, AXLE_INTERNAL, "forest already finished");
    if (f->n_trees >= AXLE_FOREST_MAX_TREES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "too many trees (limit %d)",
                            AXLE_FOREST_MAX_TREES);
    if (n <= 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d has no nodes", f->n_trees);
    if (root < 0 || root >= n)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d: root %d out of range (%lld nodes)",
                            f->n_trees, root, (long long)n);
    if (!grow((void **)&f->nodes, &f->cap_nodes, f->n_nodes + n,
              sizeof(*f->nodes), AXLE_FOREST_MAX_NODES))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "too many tree nodes (limit %d)",
                            AXLE_FOREST_MAX_NODES);
    if (f->n_trees >= f->cap_trees) {
        cap = f->cap_trees ? 2 * (int64_t)f->cap_trees : 16;
        f->tree_root = axle_xrealloc(f->tree_root, (size_t)cap * sizeof(int32_t));
        f->tree_first = axle_xrealloc(f->tree_first, (size_t)cap * sizeof(int64_t));
        f->tree_n_nodes = axle_xrealloc(f->tree_n_nodes,
                                        (size_t)cap * sizeof(int64_t));
        f->cap_trees = (int32_t)cap;
    }
    memcpy(f->nodes + f->n_nodes, nodes, (size_t)n * sizeof(*nodes));
    f->tree_root[f->n_trees] = root;
    f->tree_first[f->n_trees] = f->n_nodes;
    f->tree_n_nodes[f->n_trees] = n;
    f->n_nodes += n;
    f->n_trees++;
    return AXLE_OK;
}

int64_t axle_forest_add_leaf(struct axle_forest *f, int64_t n,
                             const int32_t *targets, const double *values)
{
    int64_t off = f->n_leaf, cap = f->cap_leaf;
    if (n < 0 || !grow((void **)&f->leaf_target, &cap, off + n,
                       sizeof(int32_t), AXLE_FOREST_MAX_NODES))
        return -1;
    cap = f->cap_leaf;
    grow((void **)&f->leaf_value, &cap, off + n, sizeof(double),
         AXLE_FOREST_MAX_NODES);
    f->cap_leaf = cap;
    if (n == 0) /* a leaf without weights adds nothing to any target */
        return off;
    memcpy(f->leaf_target + off, targets, (size_t)n * sizeof(int32_t));
    memcpy(f->leaf_value + off, values, (size_t)n * sizeof(double));
    f->n_leaf += n;
    return off;
}

int64_t axle_forest_add_cats(struct axle_forest *f, int64_t n,
                             const uint32_t *words)
{
    int64_t off = f->n_cats;
    if (n < 0 || !grow((void **)&f->cats, &f->cap_cats, off + n,
                       sizeof(uint32_t), AXLE_FOREST_MAX_NODES))
        return -1;
    if (n > 0)
        memcpy(f->cats + off, words, (size_t)n * sizeof(uint32_t));
    f->n_cats += n;
    return off;
}

int64_t axle_forest_add_linear(struct axle_forest *f, int64_t n,
                               const int32_t *features, const double *coefs)
{
    int64_t off = f->n_lin, cap = f->cap_lin;
    if (n < 0 || !grow((void **)&f->lin_feature, &cap, off + n,
                       sizeof(int32_t), AXLE_FOREST_MAX_NODES))
        return -1;
    cap = f->cap_lin;
    grow((void **)&f->lin_coef, &cap, off + n, sizeof(double),
         AXLE_FOREST_MAX_NODES);
    f->cap_lin = cap;
    memcpy(f->lin_feature + off, features, (size_t)n * sizeof(int32_t));
    memcpy(f->lin_coef + off, coefs, (size_t)n * sizeof(double));
    f->n_lin += n;
    return off;
}

/* ---- validation ------------------------------------------------------- */

static enum axle_status check_node(const struct axle_forest *f, int32_t tree,
                                   int64_t local, int64_t n_local,
                                   const struct axle_tree_node *nd,
                                   struct axle_err *err)
{
    if (nd->cond == AXLE_COND_LEAF) {
        if ((uint64_t)nd->leaf_off + nd->leaf_len > (uint64_t)f->n_leaf)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d node %lld: leaf values out of range",
                                tree, (long long)local);
        for (uint32_t j = 0; j < nd->leaf_len; j++) {
            int32_t t = f->leaf_target[nd->leaf_off + j];
            if (t < 0 || t >= f->n_targets)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "tree %d node %lld: leaf target %d out "
                                    "of range (%d targets)", tree,
                                    (long long)local, t, f->n_targets);
        }
        if (nd->lin_len > 0) {
            if ((uint64_t)nd->lin_off + nd->lin_len > (uint64_t)f->n_lin ||
                nd->leaf_len == 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "tree %d node %lld: linear terms out of "
                                    "range", tree, (long long)local);
            for (uint32_t j = 0; j < nd->lin_len; j++) {
                int32_t ft = f->lin_feature[nd->lin_off + j];
                if (ft < 0 || ft >= f->n_features)
                    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                        "tree %d node %lld: linear feature "
                                        "%d out of range (%d features)",
                                        tree, (long long)local, ft,
                                        f->n_features);
            }
        }
        return AXLE_OK;
    }
    if (nd->cond > AXLE_COND_IN)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d node %lld: unknown condition %d", tree,
                            (long long)local, nd->cond);
    if (nd->feature < 0 || nd->feature >= f->n_features)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d node %lld: split feature %d out of "
                            "range (%d features)", tree, (long long)local,
                            nd->feature, f->n_features);
    if (nd->yes < 0 || nd->yes >= n_local || nd->no < 0 || nd->no >= n_local)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d node %lld: child out of range "
                            "(%d, %d; %lld nodes)", tree, (long long)local,
                            nd->yes, nd->no, (long long)n_local);
    if (nd->cond == AXLE_COND_IN &&
        (uint64_t)nd->cat_off + nd->cat_words > (uint64_t)f->n_cats)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d node %lld: category set out of range",
                            tree, (long long)local);
    if (nd->cond != AXLE_COND_IN && isnan(nd->threshold))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tree %d node %lld: threshold is NaN", tree,
                            (long long)local);
    return AXLE_OK;
}

/* Walks tree t from its root: every node reached at most once (a second
 * visit is a cycle or a shared child), depth bounded. Writes the depth. */
static enum axle_status check_tree(const struct axle_forest *f, int32_t t,
                                   uint8_t *seen, int64_t *stack,
                                   int *depth_out, struct axle_err *err)
{
    const struct axle_tree_node *nodes = f->nodes + f->tree_first[t];
    int64_t n = f->tree_n_nodes[t];
    int64_t sp = 0;
    int maxd = 0;
    enum axle_status st;

    memset(seen, 0, (size_t)n);
    /* stack holds (node, depth) pairs */
    stack[sp++] = f->tree_root[t];
    stack[sp++] = 0;
    seen[f->tree_root[t]] = 1;
    while (sp > 0) {
        int64_t d = stack[--sp];
        int64_t i = stack[--sp];
        const struct axle_tree_node *nd = &nodes[i];

        st = check_node(f, t, i, n, nd, err);
        if (st != AXLE_OK)
            return st;
        if (d > maxd)
            maxd = (int)d;
        if (nd->cond == AXLE_COND_LEAF)
            continue;
        if (d + 1 > AXLE_FOREST_MAX_DEPTH)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d deeper than %d levels", t,
                                AXLE_FOREST_MAX_DEPTH);
        if (seen[nd->yes] || seen[nd->no] || nd->yes == nd->no)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tree %d node %lld: a child is reached twice "
                                "(cycle or shared node)", t, (long long)i);
        seen[nd->yes] = seen[nd->no] = 1;
        stack[sp++] = nd->yes;
        stack[sp++] = d + 1;
        stack[sp++] = nd->no;
        stack[sp++] = d + 1;
    }
    *depth_out = maxd;
    return AXLE_OK;
}

/* ---- compilation ------------------------------------------------------ */

static float round_down_f(double x)
{
    float r = (float)x;
    if ((double)r > x)
        r = nextafterf(r, -INFINITY);
    return r;
}

static float round_up_f(double x)
{
    float r = (float)x;
    if ((double)r < x)
        r = nextafterf(r, INFINITY);
    return r;
}

/* Reduces a numeric condition to "true iff x >= *t" (yes_high) or "true
 * iff !(x >= *t)" for float x. False when the threshold is out of float
 * range (the double comparison is kept then). */
static bool canon(const struct axle_tree_node *nd, float *t, bool *yes_high)
{
    double T = nd->threshold;
    float v;

    if (!isfinite(T) || fabs(T) > FLT_MAX)
        return false;
    switch (nd->cond) {
    case AXLE_COND_LT: /* x < T  <=>  !(x >= up(T)) */
        v = round_up_f(T), *yes_high = false;
        break;
    case AXLE_COND_LE: /* x <= T <=> x <= down(T) <=> !(x >= next(down)) */
        v = nextafterf(round_down_f(T), INFINITY), *yes_high = false;
        break;
    case AXLE_COND_GE:
        v = round_up_f(T), *yes_high = true;
        break;
    case AXLE_COND_GT:
        v = nextafterf(round_down_f(T), INFINITY), *yes_high = true;
        break;
    default:
        return false;
    }
    if (!isfinite(v))
        return false;
    *t = v;
    return true;
}

/* Whether tree t can take the perfect layout. */
static bool perfect_ok(const struct axle_forest *f, int32_t t, int depth)
{
    const struct axle_tree_node *nodes = f->nodes + f->tree_first[t];
    int64_t n = f->tree_n_nodes[t];
    int32_t target = -1;

    if (f->agg == AXLE_AGG_MIN || f->agg == AXLE_AGG_MAX ||
        depth > AXLE_FOREST_PERFECT_DEPTH)
        return false;
    /* Padding must not blow a sparse deep tree up. */
    if (depth > 6 && ((int64_t)1 << depth) > 8 * n)
        return false;
    for (int64_t i = 0; i < n; i++) {
        const struct axle_tree_node *nd = &nodes[i];
        float tf;
        bool yh;

        if (nd->cond == AXLE_COND_LEAF) {
            if (nd->leaf_len != 1 || nd->lin_len != 0)
                return false;
            if (target >= 0 && f->leaf_target[nd->leaf_off] != target)
                return false;
            target = f->leaf_target[nd->leaf_off];
            continue;
        }
        if (!canon(nd, &tf, &yh))
            return false;
        if (nd->zero_missing) {
            /* Every |x| <= 1e-35 must fall on the missing side anyway. */
            bool miss_high = nd->missing_yes ? yh : !yh;
            bool all_high = -ZERO_THRESHOLD >= tf;
            bool all_low = ZERO_THRESHOLD < tf;
            if (!(miss_high ? all_high : all_low))
                return false;
        }
    }
    return target >= 0 || n == 0;
}

static void fill_perfect(const struct axle_forest *f,
                         const struct axle_tree_node *nodes, int64_t src,
                         union pslot *slots, int64_t i, int d, int depth)
{
    const struct axle_tree_node *nd = &nodes[src];
    int64_t n_split = ((int64_t)1 << depth) - 1;

    if (d == depth) {
        double v = f->leaf_value[nd->leaf_off];
        slots[i].v = f->acc_float ? (double)(float)v : v;
        return;
    }
    if (nd->cond == AXLE_COND_LEAF) {
        /* pass-through: NaN threshold, every value goes low */
        slots[i].n.t = NAN;
        slots[i].n.f = 0;
        fill_perfect(f, nodes, src, slots, 2 * i + 1, d + 1, depth);
        fill_perfect(f, nodes, src, slots, 2 * i + 2, d + 1, depth);
        return;
    }
    {
        float t;
        bool yh;
        int64_t lo, hi;
        canon(nd, &t, &yh);
        lo = yh ? nd->no : nd->yes;
        hi = yh ? nd->yes : nd->no;
        slots[i].n.t = t;
        slots[i].n.f = (uint32_t)nd->feature |
                       ((nd->missing_yes ? yh : !yh) ? 0x80000000u : 0u);
        fill_perfect(f, nodes, lo, slots, 2 * i + 1, d + 1, depth);
        fill_perfect(f, nodes, hi, slots, 2 * i + 2, d + 1, depth);
    }
    (void)n_split;
}

static void compile_general(const struct axle_forest *f, int32_t t,
                            struct axle_forest_tree *ct)
{
    const struct axle_tree_node *nodes = f->nodes + f->tree_first[t];
    int64_t n = f->tree_n_nodes[t], first = f->tree_first[t];
    int32_t root = f->tree_root[t];

    ct->gn = axle_xcalloc((size_t)n, sizeof(*ct->gn));
    if (nodes[root].cond == AXLE_COND_LEAF) {
        ct->root_leaf = ~(int32_t)(first + root);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const struct axle_tree_node *nd = &nodes[i];
        struct gnode *g = &ct->gn[i];
        float tf;
        bool yh;

        if (nd->cond == AXLE_COND_LEAF)
            continue;
        g->f = nd->feature;
        g->miss_yes = nd->missing_yes;
        g->zero_missing = nd->zero_missing;
        g->td = nd->threshold;
        g->cat_off = nd->cat_off;
        g->cat_words = nd->cat_words;
        g->yes = nodes[nd->yes].cond == AXLE_COND_LEAF
                     ? ~(int32_t)(first + nd->yes) : nd->yes;
        g->no = nodes[nd->no].cond == AXLE_COND_LEAF
                    ? ~(int32_t)(first + nd->no) : nd->no;
        if (canon(nd, &tf, &yh)) {
            g->kind = G_GE_F;
            g->t = tf;
            if (!yh) { /* true means x >= t: swap so yes is the >= side */
                int32_t tmp = g->yes;
                g->yes = g->no;
                g->no = tmp;
                g->miss_yes = !g->miss_yes;
            }
            continue;
        }
        switch (nd->cond) {
        case AXLE_COND_LT: g->kind = G_LT_D; break;
        case AXLE_COND_LE: g->kind = G_LE_D; break;
        case AXLE_COND_GT: g->kind = G_GT_D; break;
        case AXLE_COND_GE: g->kind = G_GE_D; break;
        case AXLE_COND_EQ: g->kind = G_EQ_D; break;
        case AXLE_COND_NE: g->kind = G_NE_D; break;
        default: g->kind = G_IN; break;
        }
    }
    /* The walk starts at the root: put it first by storing its index. */
    ct->root_leaf = root; /* >= 0: root node index */
}

static bool ranked_tree(const struct axle_forest_tree *ct)
{
    return ct->perfect && ct->depth >= 1 && ct->depth <= 6;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Index of t among the n sorted cuts c (t is one of them). */
static uint16_t cut_index(const float *c, int32_t n, float t)
{
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t mid = (lo + hi) / 2;
        if (c[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint16_t)lo;
}

#define MAX_CUTS 65000 /* per feature; ranks stay below 0xfffe */

/* Counts the thresholds of ranked trees per feature into count[]; with
 * fill, also stores each at f->cuts[f->cut_off[j] + its count so far]. */
static int64_t walk_cuts(struct axle_forest *f, int32_t *count, bool fill)
{
    int64_t total = 0;

    for (int32_t t = 0; t < f->n_trees; t++) {
        const struct axle_forest_tree *ct = &f->compiled[t];
        if (!ranked_tree(ct))
            continue;
        for (int k = 0; k < (1 << ct->depth) - 1; k++)
            if (ct->pt[k] == ct->pt[k]) {
                int32_t j = ct->pf[k] & 0x7fffffff;
                if (fill)
                    f->cuts[f->cut_off[j] + count[j]] = ct->pt[k];
                count[j]++;
                total++;
            }
    }
    return total;
}

/* Shallow perfect trees are also compiled against the forest's cuts, so
 * that the block evaluator compares 16-bit ranks, 32 rows per instruction,
 * instead of floats, 16 (forest_avx512.c). */
static void build_cuts(struct axle_forest *f)
{
    int32_t nf = f->n_features;
    int64_t total;
    int32_t *count;

    if (axle_cpu_get()->isa < AXLE_ISA_AVX512 || nf <= 0)
        return;
    count = axle_xcalloc((size_t)nf + 1, sizeof(int32_t));
    total = walk_cuts(f, count, false);
    f->cut_off = axle_xcalloc((size_t)nf + 1, sizeof(int32_t));
    f->cuts = axle_xmalloc((size_t)(total > 0 ? total : 1) * sizeof(float));
    for (int32_t j = 0; j < nf; j++)
        f->cut_off[j + 1] = f->cut_off[j] + count[j];
    memset(count, 0, ((size_t)nf + 1) * sizeof(int32_t));
    walk_cuts(f, count, true);
    /* sort and keep the distinct values of each feature, in place */
    {
        int32_t w = 0;
        for (int32_t j = 0; j < nf; j++) {
            float *c = f->cuts + f->cut_off[j];
            int32_t n = f->cut_off[j + 1] - f->cut_off[j], u = 0;
            qsort(c, (size_t)n, sizeof(float), cmp_float);
            for (int32_t i = 0; i < n; i++)
                if (u == 0 || c[i] != f->cuts[w + u - 1])
                    f->cuts[w + u++] = c[i];
            f->cut_off[j] = w;
            w += u;
            if (u > MAX_CUTS) {
                axle_free(count);
                axle_free(f->cuts);
                axle_free(f->cut_off);
                f->cuts = NULL;
                f->cut_off = NULL;
                return;
            }
        }
        f->cut_off[nf] = w;
    }
    axle_free(count);
    for (int32_t t = 0; t < f->n_trees; t++) {
        struct axle_forest_tree *ct = &f->compiled[t];
        int nodes = (1 << ct->depth) - 1;
        if (!ranked_tree(ct))
            continue;
        ct->pr = axle_xcalloc((size_t)nodes + 1, sizeof(uint16_t));
        for (int k = 0; k < nodes; k++) {
            int32_t j = ct->pf[k] & 0x7fffffff;
            ct->pr[k] = ct->pt[k] != ct->pt[k]
                            ? 0xffff
                            : cut_index(f->cuts + f->cut_off[j],
                                        f->cut_off[j + 1] - f->cut_off[j],
                                        ct->pt[k]);
        }
    }
}

static bool row_group_ok(const struct axle_forest_tree *ct)
{
    return ct->pr != NULL && ct->depth <= AXLE_ROW_GROUP_DEPTH &&
           ct->pvf != NULL;
}

/* The next group at or after tree *t: its first tree (*t on return) and
 * its lanes; 0 when there is none. A run of eligible trees becomes groups
 * of sixteen and a last one of at least ROW_GROUP_MIN trees. */
#define ROW_GROUP_MIN 4
static int next_row_group(const struct axle_forest *f, int32_t *t)
{
    while (*t < f->n_trees) {
        int k = 0;
        while (k < AXLE_ROW_GROUP && *t + k < f->n_trees &&
               row_group_ok(&f->compiled[*t + k]))
            k++;
        if (k >= ROW_GROUP_MIN)
            return k;
        *t += k + 1;
    }
    return 0;
}

/* Single rows of narrow inputs go sixteen trees at a time where
 * consecutive trees are shallow perfect trees with float leaves. */
static void build_row_groups(struct axle_forest *f)
{
    const int D = AXLE_ROW_GROUP_DEPTH, G = AXLE_ROW_GROUP;
    int32_t n = 0, t = 0;
    int k;

    if (f->n_features > AXLE_ROW_GROUP_MAX_FEATURES || f->cuts == NULL)
        return;
    for (int32_t j = 0; j < f->n_features; j++)
        if (f->cut_off[j + 1] - f->cut_off[j] > AXLE_ROW_GROUP_MAX_CUTS)
            return;
    while ((k = next_row_group(f, &t)) > 0) {
        n++;
        t += k;
    }
    if (n == 0)
        return;
    f->row_groups = axle_xcalloc((size_t)n, sizeof(*f->row_groups));
    t = 0;
    while ((k = next_row_group(f, &t)) > 0) {
        struct axle_row_group *g = &f->row_groups[f->n_row_groups++];
        g->first = t;
        g->lanes = k;
        g->split = axle_xmalloc(63 * (size_t)G * sizeof(uint16_t));
        g->v = axle_xcalloc(64 * (size_t)G, sizeof(float));
        for (int i = 0; i < 63 * G; i++)
            g->split[i] = 1023 << 6; /* never high; also the unused lanes */
        for (int i = 0; i < k; i++) {
            const struct axle_forest_tree *ct = &f->compiled[t + i];
            int d = ct->depth;
            g->target[i] = ct->target;
            for (int kd = 0; kd < (1 << d) - 1; kd++) {
                uint32_t fe = (uint32_t)ct->pf[kd];
                uint32_t b = ct->pr[kd] == 0xffff ? 1023 : ct->pr[kd];
                g->split[kd * G + i] = (uint16_t)(
                    (b << 6) | ((fe >> 31) << 5) | (fe & 0x1fu));
            }
            /* below its own depth a row only goes low: leaf p of the
             * deepened tree is leaf p >> (6 - d) of the tree */
            for (int p = 0; p < 64; p++)
                g->v[p * G + i] = ct->pvf[p >> (D - d)];
        }
        t += k;
    }
}

enum axle_status axle_forest_finish(struct axle_forest *f,
                                    struct axle_err *err)
{
    int64_t max_n = 1;
    uint8_t *seen;
    int64_t *stack;
    enum axle_status st = AXLE_OK;

    if (f->finished)
        return AXLE_OK;
    if (f->n_features <= 0 || f->n_features > AXLE_FOREST_MAX_FEATURES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "feature count %d out of range (1..%d)",
                            f->n_features, AXLE_FOREST_MAX_FEATURES);
    if (f->n_targets > AXLE_FOREST_MAX_TARGETS)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "target count %d out of range (1..%d)",
                            f->n_targets, AXLE_FOREST_MAX_TARGETS);
    if (f->output == AXLE_FOREST_CLASSIFY && f->n_targets == 1 &&
        f->transform != AXLE_XF_LOGISTIC)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "a binary classifier needs a logistic output");
    for (int32_t t = 0; t < f->n_trees; t++)
        if (f->tree_n_nodes[t] > max_n)
            max_n = f->tree_n_nodes[t];
    seen = axle_xmalloc((size_t)max_n);
    stack = axle_xmalloc((size_t)(4 * max_n + 4) * sizeof(int64_t));
    f->compiled = axle_xcalloc((size_t)f->n_trees + 1, sizeof(*f->compiled));
    f->max_depth = 0;
    f->total_depth = 0;
    f->n_perfect = 0;
    for (int32_t t = 0; t < f->n_trees && st == AXLE_OK; t++) {
        struct axle_forest_tree *ct = &f->compiled[t];
        int depth = 0;

        st = check_tree(f, t, seen, stack, &depth, err);
        if (st != AXLE_OK)
            break;
        ct->depth = depth;
        if (depth > f->max_depth)
            f->max_depth = depth;
        f->total_depth += depth;
        if (perfect_ok(f, t, depth)) {
            const struct axle_tree_node *nodes = f->nodes + f->tree_first[t];
            int64_t n_slots = ((int64_t)2 << depth) - 1;
            const struct axle_tree_node *leaf = nodes;
            /* the target: any leaf's */
            for (int64_t i = 0; i < f->tree_n_nodes[t]; i++)
                if (nodes[i].cond == AXLE_COND_LEAF) {
                    leaf = &nodes[i];
                    break;
                }
            ct->perfect = true;
            ct->target = f->leaf_target[leaf->leaf_off];
            ct->slots = axle_try_aligned((size_t)n_slots * sizeof(union pslot));
            if (ct->slots == NULL) {
                st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                                  "out of memory compiling trees");
                break;
            }
            fill_perfect(f, nodes, f->tree_root[t], ct->slots, 0, 0, depth);
            {
                int64_t ns = ((int64_t)1 << depth) - 1;
                ct->pt = axle_xcalloc((size_t)ns + 32, sizeof(float));
                ct->pf = axle_xcalloc((size_t)ns + 32, sizeof(int32_t));
                ct->pv = axle_xcalloc((size_t)ns + 33, sizeof(double));
                for (int64_t i = 0; i < ns; i++) {
                    ct->pt[i] = ct->slots[i].n.t;
                    ct->pf[i] = (int32_t)ct->slots[i].n.f;
                }
                for (int64_t i = 0; i <= ns; i++)
                    ct->pv[i] = ct->slots[ns + i].v;
                /* shallow trees whose leaves are all floats (XGBoost's
                 * always are) also keep them as 64 floats, which the whole
                 * tree evaluator selects by permutes instead of gathers */
                if (depth <= 6) {
                    bool exact = true;
                    for (int64_t i = 0; i <= ns; i++)
                        exact &= (double)(float)ct->pv[i] == ct->pv[i];
                    if (exact) {
                        ct->pvf = axle_xcalloc(64, sizeof(float));
                        for (int64_t i = 0; i <= ns; i++)
                            ct->pvf[i] = (float)ct->pv[i];
                    }
                }
            }
            f->n_perfect++;
        } else {
            compile_general(f, t, ct);
        }
    }
    axle_free(seen);
    axle_free(stack);
    if (st == AXLE_OK)
        build_cuts(f);
    if (st == AXLE_OK)
        build_row_groups(f);
    if (st == AXLE_OK)
        f->finished = true;
    return st;
}

/* ---- evaluation ------------------------------------------------------- */

static inline __attribute__((always_inline)) void
walk_perfect(const union pslot *s, int depth, const float *x, int64_t n,
             int64_t stride, double *acc, int64_t acc_stride, bool accf,
             bool nan)
{
    const int64_t leaf0 = ((int64_t)1 << depth) - 1;
    int64_t r = 0;

    /* Four rows at a time: independent chains for the out-of-order core. */
    for (; r + 4 <= n; r += 4) {
        const float *x0 = x + r * stride, *x1 = x0 + stride,
                    *x2 = x1 + stride, *x3 = x2 + stride;
        uint32_t i0 = 0, i1 = 0, i2 = 0, i3 = 0;
        for (int d = 0; d < depth; d++) {
            float v0 = x0[s[i0].n.f & 0x7fffffffu];
            float v1 = x1[s[i1].n.f & 0x7fffffffu];
            float v2 = x2[s[i2].n.f & 0x7fffffffu];
            float v3 = x3[s[i3].n.f & 0x7fffffffu];
            uint32_t h0 = v0 >= s[i0].n.t, h1 = v1 >= s[i1].n.t;
            uint32_t h2 = v2 >= s[i2].n.t, h3 = v3 >= s[i3].n.t;
            if (nan) {
                h0 |= (v0 != v0) & (s[i0].n.f >> 31);
                h1 |= (v1 != v1) & (s[i1].n.f >> 31);
                h2 |= (v2 != v2) & (s[i2].n.f >> 31);
                h3 |= (v3 != v3) & (s[i3].n.f >> 31);
            }
            i0 = 2 * i0 + 1 + h0;
            i1 = 2 * i1 + 1 + h1;
            i2 = 2 * i2 + 1 + h2;
            i3 = 2 * i3 + 1 + h3;
        }
        double *a = acc + r * acc_stride;
        double s0 = a[0] + s[i0].v, s1 = a[acc_stride] + s[i1].v;
        double s2 = a[2 * acc_stride] + s[i2].v;
        double s3 = a[3 * acc_stride] + s[i3].v;
        if (accf) {
            s0 = (float)s0, s1 = (float)s1, s2 = (float)s2, s3 = (float)s3;
        }
        a[0] = s0, a[acc_stride] = s1, a[2 * acc_stride] = s2;
        a[3 * acc_stride] = s3;
    }
    for (; r < n; r++) {
        const float *xr = x + r * stride;
        uint32_t i = 0;
        for (int d = 0; d < depth; d++) {
            float v = xr[s[i].n.f & 0x7fffffffu];
            uint32_t h = v >= s[i].n.t;
            if (nan)
                h |= (v != v) & (s[i].n.f >> 31);
            i = 2 * i + 1 + h;
        }
        double sum = acc[r * acc_stride] + s[i].v;
        acc[r * acc_stride] = accf ? (double)(float)sum : sum;
    }
    (void)leaf0;
}

/* Depth as a compile-time constant, so the level loop unrolls. */
#define WALK_CASE(D)                                                         \
    case D:                                                                  \
        if (accf) {                                                          \
            if (nan) walk_perfect(s, D, x, n, stride, acc, as, true, true);  \
            else walk_perfect(s, D, x, n, stride, acc, as, true, false);     \
        } else {                                                             \
            if (nan) walk_perfect(s, D, x, n, stride, acc, as, false, true); \
            else walk_perfect(s, D, x, n, stride, acc, as, false, false);    \
        }                                                                    \
        break;

static void run_perfect(const struct axle_forest_tree *ct, const float *x,
                        int64_t n, int64_t stride, double *acc, int64_t as,
                        bool accf, bool nan)
{
    const union pslot *s = ct->slots;

    /* One target, 16 rows or more: the vector walk takes whole groups. */
    if (as == 1 && n >= 16 && ct->depth >= 1 &&
        axle_cpu_get()->isa >= AXLE_ISA_AVX512) {
        int64_t done = axle_forest_walk16_avx512(ct, x, n, stride, acc, accf,
                                                 nan);
        x += done * stride;
        acc += done;
        n -= done;
        if (n == 0)
            return;
    }
    switch (ct->depth) {
    WALK_CASE(0)
    WALK_CASE(1)
    WALK_CASE(2)
    WALK_CASE(3)
    WALK_CASE(4)
    WALK_CASE(5)
    WALK_CASE(6)
    WALK_CASE(7)
    WALK_CASE(8)
    WALK_CASE(9)
    WALK_CASE(10)
    default:
        break;
    }
}

static bool in_set(const uint32_t *bits, uint32_t words, float x,
                   bool negative_out)
{
    int64_t c;
    if (negative_out ? !(x >= 0.0f) : !(x > -1.0f))
        return false; /* NaN too */
    if (!(x < 2147483648.0f))
        return false;
    c = (int64_t)x; /* truncates toward zero */
    if (c < 0 || c >= (int64_t)words * 32)
        return false;
    return bits[c >> 5] >> (c & 31) & 1u;
}

/* The leaf (global source node index) row x reaches in general tree ct. */
static int64_t walk_general(const struct axle_forest *f,
                            const struct axle_forest_tree *ct, const float *x)
{
    int32_t i = ct->root_leaf;
    while (i >= 0) {
        const struct gnode *g = &ct->gn[i];
        float v = x[g->f];
        bool c;
        if (v != v || (g->zero_missing && fabsf(v) <= ZERO_THRESHOLD)) {
            i = g->miss_yes ? g->yes : g->no;
            continue;
        }
        switch (g->kind) {
        case G_GE_F: c = v >= g->t; break;
        case G_LT_D: c = (double)v < g->td; break;
        case G_LE_D: c = (double)v <= g->td; break;
        case G_GT_D: c = (double)v > g->td; break;
        case G_GE_D: c = (double)v >= g->td; break;
        case G_EQ_D: c = (double)v == g->td; break;
        case G_NE_D: c = (double)v != g->td; break;
        default:
            c = in_set(f->cats + g->cat_off, g->cat_words, v,
                       f->cat_negative_out);
            break;
        }
        i = c ? g->yes : g->no;
    }
    return ~(int64_t)i;
}

/* Adds leaf `src` (global source node) for row x into acc[0..T). */
static void add_leaf(const struct axle_forest *f, int64_t src, const float *x,
                     double *acc, bool accf)
{
    const struct axle_tree_node *nd = &f->nodes[src];
    uint32_t j = 0;

    if (nd->lin_len > 0) {
        double out = nd->lin_const;
        bool nan_found = false;
        for (uint32_t k = 0; k < nd->lin_len; k++) {
            float v = x[f->lin_feature[nd->lin_off + k]];
            if (v != v) {
                nan_found = true;
                break;
            }
            out += f->lin_coef[nd->lin_off + k] * (double)v;
        }
        if (!nan_found) {
            double *a = &acc[f->leaf_target[nd->leaf_off]];
            *a = accf ? (double)(float)(*a + (float)out) : *a + out;
            j = 1;
        }
    }
    for (; j < nd->leaf_len; j++) {
        double *a = &acc[f->leaf_target[nd->leaf_off + j]];
        double v = f->leaf_value[nd->leaf_off + j];
        *a = accf ? (double)(float)(*a + (float)v) : *a + v;
    }
}

static void run_general(const struct axle_forest *f,
                        const struct axle_forest_tree *ct, const float *x,
                        int64_t n, int64_t stride, double *acc, int64_t as)
{
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * stride;
        int64_t leaf = walk_general(f, ct, xr);
        add_leaf(f, leaf, xr, acc + r * as, f->acc_float);
    }
}

/* MIN / MAX: every tree's contributions folded per target. */
static void run_minmax(const struct axle_forest *f, const float *x,
                       int64_t n, int64_t stride, double *acc)
{
    int32_t T = f->n_targets;
    bool is_min = f->agg == AXLE_AGG_MIN;

    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * stride;
        double *a = acc + r * T;
        for (int32_t t = 0; t < T; t++)
            a[t] = NAN; /* no contribution yet */
        for (int32_t t = 0; t < f->n_trees; t++) {
            const struct axle_forest_tree *ct = &f->compiled[t];
            const struct axle_tree_node *nd =
                &f->nodes[walk_general(f, ct, xr)];
            for (uint32_t j = 0; j < nd->leaf_len; j++) {
                int32_t tg = f->leaf_target[nd->leaf_off + j];
                double v = f->leaf_value[nd->leaf_off + j];
                if (isnan(a[tg]) || (is_min ? v < a[tg] : v > a[tg]))
                    a[tg] = v;
            }
        }
        for (int32_t t = 0; t < T; t++)
            a[t] = (isnan(a[t]) ? 0.0 : a[t]) + f->base[t];
    }
}

struct scores_job {
    const struct axle_forest *f;
    const float *x;
    int64_t n_rows, stride;
    double *scores;
};

static bool block_has_nan(const float *x, int64_t n, int64_t stride,
                          int32_t nf)
{
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * stride;
        uint32_t any = 0;
        for (int32_t j = 0; j < nf; j++)
            any |= xr[j] != xr[j];
        if (any)
            return true;
    }
    return false;
}

/* One row: eight trees walked side by side, so that eight chains of
 * dependent loads (the slots of 300 trees live in L2, not L1) overlap
 * instead of queueing; leaves are still added in tree order. */
#define ROW_LANES 8
static int32_t one_row_perfect(const struct axle_forest *f, int32_t t0,
                               const float *x, double *acc, bool nan)
{
    const struct axle_forest_tree *ct[ROW_LANES];
    uint32_t idx[ROW_LANES];
    int n = 0, dmax = 0;

    while (n < ROW_LANES && t0 + n < f->n_trees &&
           f->compiled[t0 + n].perfect) {
        ct[n] = &f->compiled[t0 + n];
        idx[n] = 0;
        if (ct[n]->depth > dmax)
            dmax = ct[n]->depth;
        n++;
    }
    for (int d = 0; d < dmax; d++)
        for (int k = 0; k < n; k++) {
            const union pslot *s = ct[k]->slots;
            uint32_t i = idx[k], h;
            float v;
            if (d >= ct[k]->depth)
                continue;
            v = x[s[i].n.f & 0x7fffffffu];
            h = v >= s[i].n.t;
            if (nan)
                h |= (v != v) & (s[i].n.f >> 31);
            idx[k] = 2 * i + 1 + h;
        }
    for (int k = 0; k < n; k++) {
        double *a = &acc[ct[k]->target];
        double sum = *a + ct[k]->slots[idx[k]].v;
        *a = f->acc_float ? (double)(float)sum : sum;
    }
    return n;
}

/* Blocks of at least FULL_MIN_ROWS rows over at most FULL_MAX_FEATURES
 * features become feature-major ranks (128 KiB on the stack at most) so
 * that shallow perfect trees can be evaluated whole (forest_avx512.c);
 * other trees of the same forest still walk the row-major block. */
#define FULL_MIN_ROWS 8
#define FULL_MAX_FEATURES 256

static void score_block_full(const struct axle_forest *f, const float *x,
                             int64_t n, int64_t stride, double *acc, bool nan)
{
    /* the block's ranks, then (with NaNs) the same with NaN above all */
    uint16_t xr[2 * FULL_MAX_FEATURES * BLOCK];
    float xt[FULL_MAX_FEATURES * BLOCK];
    int32_t nf = f->n_features, T = f->n_targets;
    int64_t hi_off = nan ? (int64_t)nf * BLOCK : 0;

    for (int32_t j = 0; j < nf; j++) {
        float *col = xt + (size_t)j * BLOCK;
        for (int64_t r = 0; r < n; r++)
            col[r] = x[r * stride + j];
        for (int64_t r = n; r < BLOCK; r++)
            col[r] = 0.0f;
    }
    axle_forest_rank_block_avx512(f->cuts, f->cut_off, nf, xt, n, nan, xr,
                                  hi_off);
    for (int32_t t = 0; t < f->n_trees;) {
        const struct axle_forest_tree *ct = &f->compiled[t];
        int32_t done = axle_forest_full_avx512(ct, f->n_trees - t, xr, hi_off,
                                               n, acc, T, f->acc_float);
        if (done > 0) {
            t += done;
            continue;
        }
        if (ct->perfect)
            run_perfect(ct, x, n, stride, acc + ct->target, T, f->acc_float,
                        nan);
        else
            run_general(f, ct, x, n, stride, acc, T);
        t++;
    }
}

/* One row through a forest with row groups: the groups' leaves come from
 * the vector evaluator, the trees between groups walk one at a time; all
 * are added in tree order. */
#define ROW_GROUP_CHUNK 32
static void one_row_groups(const struct axle_forest *f, const float *x,
                           double *acc, bool nan)
{
    float leaves[ROW_GROUP_CHUNK * AXLE_ROW_GROUP];
    uint16_t ranks[64];
    int32_t t = 0, g = 0, T = f->n_targets;

    axle_forest_rank_row_avx512(f->cuts, f->cut_off, f->n_features, x,
                                ranks);
    while (t < f->n_trees) {
        const struct axle_forest_tree *ct = &f->compiled[t];
        if (g < f->n_row_groups && f->row_groups[g].first == t) {
            const struct axle_row_group *rg = &f->row_groups[g];
            int32_t k = 0, end = t;
            while (k < ROW_GROUP_CHUNK && g + k < f->n_row_groups &&
                   rg[k].first == end)
                end += rg[k++].lanes;
            if (T == 1 && f->acc_float) {
                /* one float chain: a float add rounds exactly as the
                 * double add then the rounding to float does (53 >= 2 * 24
                 * + 2 bits), at a third of the latency */
                float a = (float)acc[0];
                axle_forest_row_groups_avx512(rg, k, ranks, nan, leaves, &a);
                acc[0] = a;
            } else {
                axle_forest_row_groups_avx512(rg, k, ranks, nan, leaves,
                                              NULL);
                for (int32_t i = 0; i < k; i++)
                    for (int l = 0; l < rg[i].lanes; l++) {
                        double *a = &acc[rg[i].target[l]];
                        double sum = *a + leaves[i * AXLE_ROW_GROUP + l];
                        *a = f->acc_float ? (double)(float)sum : sum;
                    }
            }
            t = end;
            g += k;
            continue;
        }
        if (ct->perfect)
            run_perfect(ct, x, 1, 0, acc + ct->target, T, f->acc_float, nan);
        else
            run_general(f, ct, x, 1, 0, acc, T);
        t++;
    }
}

static void score_block(const struct axle_forest *f, const float *x,
                        int64_t n, int64_t stride, double *acc)
{
    int32_t T = f->n_targets;
    bool nan;

    if (f->agg == AXLE_AGG_MIN || f->agg == AXLE_AGG_MAX) {
        run_minmax(f, x, n, stride, acc);
        return;
    }
    for (int64_t r = 0; r < n; r++)
        for (int32_t t = 0; t < T; t++)
            acc[r * T + t] = f->base_first
                                 ? (f->acc_float ? (double)(float)f->base[t]
                                                 : f->base[t])
                                 : 0.0;
    nan = block_has_nan(x, n, stride, f->n_features);
    if (n == 1 && f->n_row_groups > 0) {
        one_row_groups(f, x, acc, nan);
        goto finish;
    }
    if (n == 1) {
        for (int32_t t = 0; t < f->n_trees;) {
            int32_t done = f->compiled[t].perfect
                               ? one_row_perfect(f, t, x, acc, nan) : 0;
            if (done == 0) {
                run_general(f, &f->compiled[t], x, 1, stride, acc, T);
                done = 1;
            }
            t += done;
        }
        goto finish;
    }
    if (n >= FULL_MIN_ROWS && f->n_features <= FULL_MAX_FEATURES &&
        f->cuts != NULL) {
        score_block_full(f, x, n, stride, acc, nan);
        goto finish;
    }
    for (int32_t t = 0; t < f->n_trees; t++) {
        const struct axle_forest_tree *ct = &f->compiled[t];
        if (ct->perfect)
            run_perfect(ct, x, n, stride, acc + ct->target, T, f->acc_float,
                        nan);
        else
            run_general(f, ct, x, n, stride, acc, T);
    }
finish:
    if (f->agg == AXLE_AGG_AVERAGE && f->n_trees > 0)
        for (int64_t i = 0; i < n * T; i++)
            acc[i] /= (double)f->n_trees;
    if (!f->base_first)
        for (int64_t r = 0; r < n; r++)
            for (int32_t t = 0; t < T; t++)
                acc[r * T + t] += f->base[t];
}

static void scores_chunk(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct scores_job *j = ctx;
    (void)tid;
    for (int64_t b = begin; b < end; b++) {
        int64_t r0 = b * BLOCK;
        int64_t n = j->n_rows - r0 < BLOCK ? j->n_rows - r0 : BLOCK;
        score_block(j->f, j->x + r0 * j->stride, n, j->stride,
                    j->scores + r0 * j->f->n_targets);
    }
}

size_t axle_forest_work_bytes(const struct axle_forest *f, int64_t n_rows)
{
    if (!f->has_missing_value || n_rows <= 0)
        return 0;
    return (size_t)n_rows * (size_t)f->n_features * sizeof(float);
}

void axle_forest_scores(const struct axle_forest *f, const float *x,
                        int64_t n_rows, int64_t stride, double *scores,
                        void *work, struct axle_pool *pool)
{
    struct scores_job job = {f, x, n_rows, stride, scores};
    int64_t n_blocks = (n_rows + BLOCK - 1) / BLOCK;
    int64_t work_per_block, grain;

    if (n_rows <= 0)
        return;
    if (f->has_missing_value && work != NULL) {
        /* The model's own missing marker becomes NaN. */
        float *w = work, mv = f->missing_value;
        for (int64_t r = 0; r < n_rows; r++)
            for (int32_t j = 0; j < f->n_features; j++) {
                float v = x[r * stride + j];
                w[r * f->n_features + j] = v == mv ? NAN : v;
            }
        job.x = w;
        job.stride = f->n_features;
    }
    /* Chunks of >= ~32k node visits pay for a hand-off. */
    work_per_block = (int64_t)BLOCK * (f->total_depth + f->n_trees + 1);
    grain = 32768 / (work_per_block > 0 ? work_per_block : 1);
    if (grain < 1)
        grain = 1;
    if (n_blocks <= 1)
        scores_chunk(&job, 0, n_blocks, 0);
    else
        axle_pool_parallel_for(pool, n_blocks, grain, scores_chunk, &job);
}

/* Winitzki's closed-form inverse error function (a = 0.147), in float: the
 * approximation ONNX Runtime's PROBIT uses, so results agree with it. */
static float erfinv_approx(float x)
{
    float sgn = x < 0 ? -1.0f : 1.0f;
    float w = (1.0f - x) * (1.0f + x);
    float l = logf(w);
    float a = 2.0f / (3.14159f * 0.147f) + 0.5f * l;
    float b = 1.0f / 0.147f * l;
    return sgn * sqrtf(-a + sqrtf(a * a - b));
}

void axle_forest_transform_row(const struct axle_forest *f, double *s)
{
    int32_t T = f->n_targets;
    double mx, sum;

    switch (f->transform) {
    case AXLE_XF_NONE:
        break;
    case AXLE_XF_LOGISTIC:
        for (int32_t t = 0; t < T; t++)
            s[t] = 1.0 / (1.0 + exp(-f->sigmoid_scale * s[t]));
        break;
    case AXLE_XF_SOFTMAX:
    case AXLE_XF_SOFTMAX_ZERO:
        mx = -INFINITY;
        for (int32_t t = 0; t < T; t++)
            if (s[t] > mx)
                mx = s[t];
        sum = 0;
        for (int32_t t = 0; t < T; t++) {
            if (f->transform == AXLE_XF_SOFTMAX_ZERO && s[t] == 0.0)
                continue;
            s[t] = exp(s[t] - mx);
            sum += s[t];
        }
        for (int32_t t = 0; t < T; t++)
            s[t] = sum > 0 ? s[t] / sum : s[t];
        break;
    case AXLE_XF_PROBIT:
        for (int32_t t = 0; t < T; t++)
            s[t] = 1.41421356f * erfinv_approx((float)s[t] * 2.0f - 1.0f);
        break;
    case AXLE_XF_EXP:
        for (int32_t t = 0; t < T; t++)
            s[t] = exp(s[t]);
        break;
    case AXLE_XF_HINGE:
        for (int32_t t = 0; t < T; t++)
            s[t] = s[t] > 0 ? 1.0 : 0.0;
        break;
    case AXLE_XF_SIGNED_SQUARE:
        for (int32_t t = 0; t < T; t++)
            s[t] = (s[t] > 0 ? 1.0 : s[t] < 0 ? -1.0 : 0.0) * s[t] * s[t];
        break;
    }
}
