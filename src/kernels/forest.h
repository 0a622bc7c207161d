/*
 * forest.h - tree ensembles: the one representation behind XGBoost,
 * LightGBM and ONNX-ML tree models, and its compiled evaluator.
 *
 * Importers describe each tree in a source form (struct axle_tree_node: a
 * condition per split, `yes`/`no` children, leaves with (target, value)
 * lists) and set the forest's aggregation, base values and transform.
 * axle_forest_finish() validates everything (children in range, every node
 * reached exactly once from its root — no cycles, no sharing — features and
 * targets in range, bounded depth) and compiles the trees:
 *
 *   perfect  - a tree whose splits are all numeric becomes a complete
 *              binary tree of its depth (<= AXLE_FOREST_PERFECT_DEPTH):
 *              node i has children 2i+1 / 2i+2, nodes are 8 bytes
 *              (threshold, feature | missing-bit), the leaf values follow
 *              inline. Shallow leaves are padded with pass-through nodes
 *              (threshold NaN: every value goes low). Evaluation walks a
 *              block of rows through one tree at a time without branches.
 *   general  - anything else (categorical sets, ==/!=, linear leaves,
 *              multi-target leaves, deep unbalanced trees): explicit child
 *              links, leaves encoded as ~index.
 *
 * Every numeric split is reduced to "high child iff x >= t" with t a float:
 * inputs are float32, so x < T, x <= T, x > T and x >= T against any double
 * T are each exactly one such comparison against a rounded float.
 *
 * Accumulation: per row, trees in order. acc_float rounds the sum to float
 * after every tree (XGBoost's order and precision, bit for bit); otherwise
 * the sum is a double (LightGBM, ONNX-ML). base values are added first
 * when base_first is set, else after aggregation.
 *
 * Thread-safety: a finished forest is immutable; predict may run on many
 * threads at once.
 */
#ifndef AXLE_KERNELS_FOREST_H
#define AXLE_KERNELS_FOREST_H

#include <stdbool.h>
#include <stdint.h>

#include "axle/status.h"

struct axle_err;
struct axle_pool;

/* Bounds (bad-input defences; SECURITY.md). */
#define AXLE_FOREST_MAX_TREES (1 << 20)
#define AXLE_FOREST_MAX_NODES (1 << 26)  /* all trees together */
#define AXLE_FOREST_MAX_DEPTH 256
#define AXLE_FOREST_MAX_FEATURES (1 << 24)
#define AXLE_FOREST_MAX_TARGETS (1 << 16)
#define AXLE_FOREST_PERFECT_DEPTH 10

/* A split's condition: true takes `yes`, false takes `no`. */
enum axle_cond {
    AXLE_COND_LEAF = 0,
    AXLE_COND_LT,  /* x <  threshold */
    AXLE_COND_LE,  /* x <= threshold */
    AXLE_COND_GT,  /* x >  threshold */
    AXLE_COND_GE,  /* x >= threshold */
    AXLE_COND_EQ,  /* x == threshold */
    AXLE_COND_NE,  /* x != threshold */
    /* (int)x is in the category bitset [cat_off, cat_off + cat_words) of
     * axle_forest.cats. x < 0 or x >= 2^31 is in no set (false). */
    AXLE_COND_IN,
};

/* One node of one tree, as an importer gives it. Indices are local to the
 * tree. */
struct axle_tree_node {
    uint8_t cond;         /* enum axle_cond; AXLE_COND_LEAF for a leaf */
    uint8_t missing_yes;  /* a missing value (NaN, or the forest's
                           * missing_value) takes `yes` (else `no`) */
    uint8_t zero_missing; /* also treat |x| <= 1e-35f as missing
                           * (LightGBM's zero-as-missing) */
    int32_t feature;
    double threshold;
    int32_t yes, no;
    uint32_t cat_off, cat_words; /* AXLE_COND_IN */
    /* Leaves: (target, value) pairs [leaf_off, leaf_off + leaf_len) in
     * axle_forest's leaf arrays. A linear leaf (lin_len > 0) outputs
     * lin_const + sum coef * x over its terms (to its first target), or its
     * plain value when any of those x is NaN (LightGBM linear trees). */
    uint32_t leaf_off, leaf_len;
    uint32_t lin_off, lin_len;
    double lin_const;
};

enum axle_forest_agg {
    AXLE_AGG_SUM = 0,
    AXLE_AGG_AVERAGE, /* sum / number of trees */
    AXLE_AGG_MIN,
    AXLE_AGG_MAX,
};

/* What turns the aggregated scores (margins) into outputs. */
enum axle_forest_transform {
    AXLE_XF_NONE = 0,
    AXLE_XF_LOGISTIC,     /* 1 / (1 + exp(-scale * s)), per target */
    AXLE_XF_SOFTMAX,      /* over targets */
    AXLE_XF_SOFTMAX_ZERO, /* softmax, but exact zeros stay zero (ONNX-ML) */
    AXLE_XF_PROBIT,       /* sqrt(2) * erfinv(2s - 1) (ONNX-ML) */
    AXLE_XF_EXP,          /* exp(s): poisson, gamma, tweedie */
    AXLE_XF_HINGE,        /* s > 0 ? 1 : 0 (binary:hinge) */
    AXLE_XF_SIGNED_SQUARE,/* sign(s) * s^2 (LightGBM reg_sqrt) */
};

/* How the native-format op ("ai.axle" Forest) shapes its outputs. */
enum axle_forest_output {
    /* predictions: float [N] when n_targets == 1, else [N, n_targets] */
    AXLE_FOREST_PREDICT = 0,
    /* probabilities: float [N, C] and label: int64 [N] (argmax, first max
     * wins). With n_targets == 1 (binary) C == 2: [1 - p, p], label p > 0.5 */
    AXLE_FOREST_CLASSIFY,
};

struct axle_forest_tree; /* compiled, private to forest.c */

struct axle_forest {
    int32_t n_features;
    int32_t n_targets;
    /* Aggregation and finishing, set by the importer before finish. */
    enum axle_forest_agg agg;
    bool acc_float;
    bool base_first;
    double *base;            /* n_targets values (zeros by default) */
    bool has_missing_value;  /* inputs equal to missing_value are missing */
    /* categorical splits: a negative input is in no set (XGBoost); without
     * it, -1 < x < 0 truncates to category 0 (LightGBM, ONNX-ML) */
    bool cat_negative_out;
    float missing_value;
    enum axle_forest_transform transform;
    double sigmoid_scale;    /* AXLE_XF_LOGISTIC; 1 by default */
    enum axle_forest_output output;

    /* Source form, filled through the add functions below. */
    int32_t n_trees, cap_trees;
    int32_t *tree_root;      /* root node, local index */
    int64_t *tree_first;     /* first node of each tree in nodes[] */
    int64_t *tree_n_nodes;
    int64_t n_nodes, cap_nodes;
    struct axle_tree_node *nodes;
    int64_t n_leaf, cap_leaf;
    int32_t *leaf_target;
    double *leaf_value;
    int64_t n_cats, cap_cats;
    uint32_t *cats;
    int64_t n_lin, cap_lin;
    int32_t *lin_feature;
    double *lin_coef;

    /* Compiled form (after finish). */
    bool finished;
    struct axle_forest_tree *compiled;
    int32_t n_perfect;       /* trees that took the perfect layout */
    struct axle_row_group *row_groups; /* single rows: 32 trees per vector */
    /* the cuts: feature j's distinct perfect-tree thresholds, sorted, are
     * cuts[cut_off[j] .. cut_off[j + 1]) (NULL: the forest is not ranked) */
    float *cuts;
    int32_t *cut_off;
    int32_t n_row_groups;
    int32_t max_depth;
    int64_t total_depth;     /* sum of tree depths: node visits per row */
};

/* A new, empty forest; base values start at 0, transform NONE, SUM. */
struct axle_forest *axle_forest_new(int32_t n_features, int32_t n_targets);
void axle_forest_free(struct axle_forest *f);

/* Append a tree of n nodes (copied) with root `root`. Leaf, category and
 * linear-term offsets in the nodes refer to what the functions below
 * returned. AXLE_INVALID_ARGUMENT past the bounds. */
enum axle_status axle_forest_add_tree(struct axle_forest *f, int64_t n,
                                      const struct axle_tree_node *nodes,
                                      int32_t root, struct axle_err *err);
/* Append n (target, value) pairs; returns the offset to put in leaf_off,
 * or -1 past the bounds. */
int64_t axle_forest_add_leaf(struct axle_forest *f, int64_t n,
                             const int32_t *targets, const double *values);
/* Append a category bitset of n 32-bit words (bit c of word c/32 set means
 * category c is in the set); returns cat_off, or -1. */
int64_t axle_forest_add_cats(struct axle_forest *f, int64_t n,
                             const uint32_t *words);
/* Append n linear terms; returns lin_off, or -1. */
int64_t axle_forest_add_linear(struct axle_forest *f, int64_t n,
                               const int32_t *features, const double *coefs);

/* Validate and compile. After this the forest is read-only. */
enum axle_status axle_forest_finish(struct axle_forest *f,
                                    struct axle_err *err);

/* Aggregated scores (base values applied, no transform) for n_rows rows of
 * n_features floats each, `stride` floats apart: scores[r * n_targets + t].
 * `work` is caller scratch of axle_forest_work_bytes(f, n_rows) bytes
 * (64-byte aligned) or NULL when that is 0. Spreads big batches over
 * `pool` (may be NULL); one row runs on the caller. */
size_t axle_forest_work_bytes(const struct axle_forest *f, int64_t n_rows);
void axle_forest_scores(const struct axle_forest *f, const float *x,
                        int64_t n_rows, int64_t stride, double *scores,
                        void *work, struct axle_pool *pool);

/* Applies f->transform in place to one row of n_targets scores. */
void axle_forest_transform_row(const struct axle_forest *f, double *s);

/* Wraps a finished forest in a one-node model (kernels/forest_op.c): input
 * `input` float [-1, n_features]; outputs `predictions`, or `probabilities`
 * and `label`, per f->output. The model's format string is `format`
 * ("xgboost", "lightgbm"). Takes ownership of f, also on failure. Importers
 * add metadata with axle_ir_model_add_meta. */
struct axle_ir_model;
enum axle_status axle_forest_model(struct axle_forest *f, const char *format,
                                   struct axle_ir_model **out,
                                   struct axle_err *err);
void axle_ir_model_add_meta(struct axle_ir_model *m, const char *key,
                            const char *value);

#endif
