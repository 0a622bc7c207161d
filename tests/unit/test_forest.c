/*
 * test_forest.c - the tree-ensemble core: random forests of every condition
 * kind, missing rules, categorical sets, linear and multi-target leaves and
 * all aggregations, evaluated by forest.c (perfect and general layouts,
 * single rows, blocks, threads) against a direct reading of the source
 * nodes; exact threshold rounding; validation errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/err.h"
#include "base/pool.h"
#include "kernels/forest.h"

#define NF 7

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static double urand(void) { return (rnd() & 0xffffff) / 16777216.0; }

/* Reference: the source nodes read literally, in double, one row. */
static bool ref_missing(const struct axle_forest *f,
                        const struct axle_tree_node *nd, float v)
{
    if (f->has_missing_value && v == f->missing_value)
        return true;
    return isnan(v) || (nd->zero_missing && fabsf(v) <= 1e-35f);
}

static const struct axle_tree_node *ref_leaf(const struct axle_forest *f,
                                             int t, const float *x)
{
    const struct axle_tree_node *nodes = f->nodes + f->tree_first[t];
    const struct axle_tree_node *nd = &nodes[f->tree_root[t]];
    while (nd->cond != AXLE_COND_LEAF) {
        float v = x[nd->feature];
        double d = v, T = nd->threshold;
        bool c = false;
        if (ref_missing(f, nd, v)) {
            nd = &nodes[nd->missing_yes ? nd->yes : nd->no];
            continue;
        }
        switch (nd->cond) {
        case AXLE_COND_LT: c = d < T; break;
        case AXLE_COND_LE: c = d <= T; break;
        case AXLE_COND_GT: c = d > T; break;
        case AXLE_COND_GE: c = d >= T; break;
        case AXLE_COND_EQ: c = d == T; break;
        case AXLE_COND_NE: c = d != T; break;
        case AXLE_COND_IN: {
            long long cat = v > -1.0f && v < 2147483648.0f ? (long long)v : -1;
            c = cat >= 0 && cat < 32LL * nd->cat_words &&
                (f->cats[nd->cat_off + cat / 32] >> (cat % 32) & 1u);
            break;
        }
        }
        nd = &nodes[c ? nd->yes : nd->no];
    }
    return nd;
}

static void ref_scores(const struct axle_forest *f, const float *x, double *s)
{
    int T = f->n_targets;
    bool minmax = f->agg == AXLE_AGG_MIN || f->agg == AXLE_AGG_MAX;
    for (int t = 0; t < T; t++)
        s[t] = minmax ? NAN : f->base_first ? f->base[t] : 0.0;
    for (int i = 0; i < f->n_trees; i++) {
        const struct axle_tree_node *nd = ref_leaf(f, i, x);
        uint32_t j = 0;
        if (nd->lin_len) {
            double o = nd->lin_const;
            bool nan = false;
            for (uint32_t k = 0; k < nd->lin_len; k++) {
                float v = x[f->lin_feature[nd->lin_off + k]];
                if (isnan(v)) { nan = true; break; }
                o += f->lin_coef[nd->lin_off + k] * v;
            }
            if (!nan) {
                s[f->leaf_target[nd->leaf_off]] += o;
                j = 1;
            }
        }
        for (; j < nd->leaf_len; j++) {
            int tg = f->leaf_target[nd->leaf_off + j];
            double v = f->leaf_value[nd->leaf_off + j];
            if (minmax) {
                if (isnan(s[tg]) || (f->agg == AXLE_AGG_MIN ? v < s[tg] : v > s[tg]))
                    s[tg] = v;
            } else {
                s[tg] += v;
            }
        }
    }
    for (int t = 0; t < T; t++) {
        if (minmax && isnan(s[t]))
            s[t] = 0;
        if (f->agg == AXLE_AGG_AVERAGE)
            s[t] /= f->n_trees;
        if (!f->base_first)
            s[t] += f->base[t];
    }
}

struct gen_opts {
    int max_depth;
    bool numeric_only;  /* LT/LE/GT/GE only */
    bool single_target; /* one (target, value) per leaf, per tree */
    bool linear;
    bool float_leaves;  /* leaf values exact in float (as XGBoost's) */
    int n_targets;
};

/* Builds a random tree recursively into nodes[]; returns the node index. */
static int gen_node(struct axle_forest *f, const struct gen_opts *o,
                    struct axle_tree_node *nodes, int *n, int depth,
                    int tree_target)
{
    int i = (*n)++;
    struct axle_tree_node *nd = &nodes[i];
    memset(nd, 0, sizeof(*nd));
    if (depth >= o->max_depth || (depth > 1 && rnd() % 5 == 0)) {
        int32_t tg[3];
        double v[3];
        int len = o->single_target ? 1 : 1 + rnd() % 3;
        for (int k = 0; k < len; k++) {
            tg[k] = o->single_target ? tree_target : (int32_t)(rnd() % o->n_targets);
            v[k] = urand() * 2 - 1;
            if (o->float_leaves)
                v[k] = (float)v[k];
        }
        nd->cond = AXLE_COND_LEAF;
        nd->leaf_off = (uint32_t)axle_forest_add_leaf(f, len, tg, v);
        nd->leaf_len = (uint32_t)len;
        if (o->linear && rnd() % 2) {
            int32_t lf[2] = {(int32_t)(rnd() % NF), (int32_t)(rnd() % NF)};
            double lc[2] = {urand() - 0.5, urand() - 0.5};
            nd->lin_off = (uint32_t)axle_forest_add_linear(f, 2, lf, lc);
            nd->lin_len = 2;
            nd->lin_const = urand();
        }
        return i;
    }
    nd->feature = (int32_t)(rnd() % NF);
    nd->cond = o->numeric_only ? (uint8_t)(AXLE_COND_LT + rnd() % 4)
                               : (uint8_t)(AXLE_COND_LT + rnd() % 7);
    /* thresholds on the input grid (ties) and between floats */
    nd->threshold = rnd() % 2 ? (double)((int)(rnd() % 9) - 4) * 0.5
                              : urand() * 4 - 2;
    if (nd->cond == AXLE_COND_EQ || nd->cond == AXLE_COND_NE)
        nd->threshold = (double)((int)(rnd() % 9) - 4) * 0.5;
    nd->missing_yes = rnd() % 2;
    nd->zero_missing = !o->numeric_only && rnd() % 4 == 0;
    if (nd->cond == AXLE_COND_IN) {
        uint32_t w[2] = {rnd(), rnd()};
        nd->cat_off = (uint32_t)axle_forest_add_cats(f, 2, w);
        nd->cat_words = 1 + rnd() % 2;
    }
    {
        int y = gen_node(f, o, nodes, n, depth + 1, tree_target);
        int z = gen_node(f, o, nodes, n, depth + 1, tree_target);
        nodes[i].yes = y;
        nodes[i].no = z;
    }
    return i;
}

static struct axle_forest *gen_forest(const struct gen_opts *o, int n_trees,
                                      enum axle_forest_agg agg, bool accf)
{
    struct axle_forest *f = axle_forest_new(NF, o->n_targets);
    struct axle_tree_node *nodes = malloc(4096 * sizeof(*nodes));
    struct axle_err err = {0};
    f->agg = agg;
    f->acc_float = accf;
    f->base_first = accf;
    for (int t = 0; t < o->n_targets; t++)
        f->base[t] = urand() - 0.5;
    for (int t = 0; t < n_trees; t++) {
        int n = 0;
        gen_node(f, o, nodes, &n, 0, t % o->n_targets);
        assert_int_equal(axle_forest_add_tree(f, n, nodes, 0, &err), AXLE_OK);
    }
    free(nodes);
    assert_int_equal(axle_forest_finish(f, &err), AXLE_OK);
    return f;
}

static float grid_value(void)
{
    switch (rnd() % 8) {
    case 0: return NAN;
    case 1: return 0.0f;
    case 2: return 1e-36f;
    case 3: return (float)((int)(rnd() % 9) - 4) * 0.5f;
    case 4: return (float)(rnd() % 70); /* categories */
    default: return (float)(urand() * 4 - 2);
    }
}

static void check_forest(struct axle_forest *f, struct axle_pool *pool,
                         int n_rows)
{
    int T = f->n_targets;
    float *x = malloc((size_t)n_rows * NF * sizeof(float));
    double *got = malloc((size_t)n_rows * T * sizeof(double));
    double *want = malloc((size_t)T * sizeof(double));
    void *work = axle_try_aligned(axle_forest_work_bytes(f, n_rows) + 64);

    for (int i = 0; i < n_rows * NF; i++)
        x[i] = grid_value();
    /* some NaN-free rows in whole blocks, for the fast walk */
    for (int i = 0; i < n_rows * NF && i < 128 * NF; i++)
        if (isnan(x[i]))
            x[i] = 0.25f;
    axle_forest_scores(f, x, n_rows, NF, got, work, pool);
    for (int r = 0; r < n_rows; r++) {
        ref_scores(f, x + r * NF, want);
        for (int t = 0; t < T; t++) {
            double w = want[t], g = got[r * T + t];
            double tol = f->acc_float ? 1e-5 * (1 + fabs(w)) : 1e-9 * (1 + fabs(w));
            if (!(fabs(w - g) <= tol))
                fail_msg("row %d target %d: got %.9g want %.9g", r, t, g, w);
        }
    }
    /* one row at a time gives the same as the block */
    for (int r = 0; r < n_rows && r < 50; r++) {
        axle_forest_scores(f, x + r * NF, 1, NF, want, work, NULL);
        for (int t = 0; t < T; t++)
            assert_true(want[t] == got[r * T + t]);
    }
    axle_free(work);
    free(x);
    free(got);
    free(want);
}

static void test_perfect_numeric(void **state)
{
    struct gen_opts o = {.max_depth = 6, .numeric_only = true,
                         .single_target = true, .n_targets = 1};
    struct axle_pool *pool;
    (void)state;
    assert_int_equal(axle_pool_new(2, &pool), AXLE_OK);
    for (int rep = 0; rep < 4; rep++) {
        struct axle_forest *f = gen_forest(&o, 40, AXLE_AGG_SUM, rep % 2);
        assert_true(f->n_perfect > 0);
        check_forest(f, pool, 700);
        axle_forest_free(f);
    }
    axle_pool_free(pool);
}

/* Float leaves let shallow perfect trees take the whole-tree block
 * evaluator and, sixteen at a time, the single-row vector path; both must
 * agree with the reference, and single rows with blocks bit for bit.
 * 53 trees: a group of 32 and one of 21. */
static void test_perfect_float_leaves(void **state)
{
    struct gen_opts o = {.max_depth = 6, .numeric_only = true,
                         .single_target = true, .float_leaves = true};
    struct axle_pool *pool;
    (void)state;
    assert_int_equal(axle_pool_new(2, &pool), AXLE_OK);
    for (int rep = 0; rep < 6; rep++) {
        struct axle_forest *f;
        o.n_targets = rep < 4 ? 1 : 3;
        f = gen_forest(&o, 53, rep == 5 ? AXLE_AGG_AVERAGE : AXLE_AGG_SUM,
                       rep % 2);
        assert_int_equal(f->n_perfect, 53);
        if (axle_cpu_get()->isa >= AXLE_ISA_AVX512)
            assert_int_equal(f->n_row_groups, 2);
        check_forest(f, pool, 300);
        check_forest(f, pool, 37); /* partial blocks: 16 + 16 + 5 rows */
        axle_forest_free(f);
    }
    axle_pool_free(pool);
}

static void test_general_all_conditions(void **state)
{
    struct gen_opts o = {.max_depth = 9, .numeric_only = false,
                         .single_target = false, .linear = true,
                         .n_targets = 3};
    (void)state;
    for (int rep = 0; rep < 4; rep++) {
        struct axle_forest *f = gen_forest(&o, 25, rep % 2 ? AXLE_AGG_AVERAGE
                                                           : AXLE_AGG_SUM, false);
        check_forest(f, NULL, 300);
        axle_forest_free(f);
    }
}

static void test_min_max_and_missing_value(void **state)
{
    struct gen_opts o = {.max_depth = 5, .numeric_only = true,
                         .single_target = false, .n_targets = 2};
    (void)state;
    for (int agg = AXLE_AGG_MIN; agg <= AXLE_AGG_MAX; agg++) {
        struct axle_forest *f = gen_forest(&o, 10, agg, false);
        check_forest(f, NULL, 200);
        axle_forest_free(f);
    }
    {
        struct gen_opts p = {.max_depth = 4, .numeric_only = true,
                             .single_target = true, .n_targets = 1};
        struct axle_forest *f = gen_forest(&p, 20, AXLE_AGG_SUM, true);
        f->has_missing_value = true;
        f->missing_value = 0.0f;
        check_forest(f, NULL, 300);
        axle_forest_free(f);
    }
}

/* x <= T against a double T between two floats is exact. */
static void test_threshold_rounding(void **state)
{
    double T = 0.1; /* not a float */
    float below = nextafterf((float)T, -INFINITY), at = (float)T;
    float xs[4] = {below, at, nextafterf(at, INFINITY), (float)T};
    struct axle_err err = {0};
    (void)state;
    for (int c = AXLE_COND_LT; c <= AXLE_COND_GE; c++) {
        struct axle_forest *f = axle_forest_new(1, 1);
        struct axle_tree_node n[3] = {0};
        int32_t tg = 0;
        double v0 = 1, v1 = 2;
        n[0].cond = (uint8_t)c;
        n[0].threshold = T;
        n[0].yes = 1;
        n[0].no = 2;
        n[1].leaf_off = (uint32_t)axle_forest_add_leaf(f, 1, &tg, &v0);
        n[1].leaf_len = 1;
        n[2].leaf_off = (uint32_t)axle_forest_add_leaf(f, 1, &tg, &v1);
        n[2].leaf_len = 1;
        assert_int_equal(axle_forest_add_tree(f, 3, n, 0, &err), AXLE_OK);
        assert_int_equal(axle_forest_finish(f, &err), AXLE_OK);
        assert_int_equal(f->n_perfect, 1);
        for (int i = 0; i < 4; i++) {
            double s, d = xs[i];
            bool yes = c == AXLE_COND_LT ? d < T : c == AXLE_COND_LE ? d <= T
                     : c == AXLE_COND_GT ? d > T : d >= T;
            axle_forest_scores(f, &xs[i], 1, 1, &s, NULL, NULL);
            assert_true(s == (yes ? 1.0 : 2.0));
        }
        axle_forest_free(f);
    }
}

static void expect_error(struct axle_tree_node *n, int count, const char *what)
{
    struct axle_forest *f = axle_forest_new(2, 1);
    struct axle_err err = {0};
    int32_t tg = 0;
    double v = 1;
    enum axle_status st;
    axle_forest_add_leaf(f, 1, &tg, &v);
    st = axle_forest_add_tree(f, count, n, 0, &err);
    if (st == AXLE_OK)
        st = axle_forest_finish(f, &err);
    assert_int_equal(st, AXLE_INVALID_ARGUMENT);
    if (strstr(err.msg, what) == NULL)
        fail_msg("error '%s' does not mention '%s'", err.msg, what);
    axle_forest_free(f);
}

static void test_validation(void **state)
{
    struct axle_tree_node n[3] = {0};
    (void)state;
    n[0].cond = AXLE_COND_LT;
    n[0].feature = 0;
    n[0].yes = 1;
    n[0].no = 2;
    n[1].leaf_len = 1;
    n[2].leaf_len = 1;
    n[0].feature = 5;
    expect_error(n, 3, "feature 5 out of range");
    n[0].feature = 0;
    n[0].no = 7;
    expect_error(n, 3, "child out of range");
    n[0].no = 0; /* cycle back to the root */
    expect_error(n, 3, "reached twice");
    n[0].no = 1;
    expect_error(n, 3, "reached twice");
    n[0].no = 2;
    n[2].leaf_off = 9;
    expect_error(n, 3, "leaf values out of range");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perfect_numeric),
        cmocka_unit_test(test_perfect_float_leaves),
        cmocka_unit_test(test_general_all_conditions),
        cmocka_unit_test(test_min_max_and_missing_value),
        cmocka_unit_test(test_threshold_rounding),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
