/*
 * tree_onnxml.h - the ONNX-ML tree operators (ai.onnx.ml TreeEnsembleClassifier,
 * TreeEnsembleRegressor, TreeEnsemble) on top of the shared forest
 * (kernels/forest.h). Private to tree_onnxml*.c.
 *
 * prepare() turns a node's attributes into a struct axle_oml (the node
 * state): a finished forest that yields the raw per-target sums, plus what
 * the finishing step needs to reproduce ONNX Runtime's outputs, which depend
 * on whether a target received any leaf value in a row ("has a score"), not
 * only on the sum. docs/formats/onnx-ml-trees.md describes the rules.
 */
#ifndef AXLE_KERNELS_TREE_ONNXML_H
#define AXLE_KERNELS_TREE_ONNXML_H

#include <stdbool.h>
#include <stdint.h>

#include "axle/status.h"

struct axle_err;
struct axle_forest;
struct axle_node;

enum axle_oml_kind {
    AXLE_OML_CLASSIFIER = 0, /* TreeEnsembleClassifier (ai.onnx.ml 1, 3) */
    AXLE_OML_REGRESSOR,      /* TreeEnsembleRegressor (ai.onnx.ml 1, 3) */
    AXLE_OML_ENSEMBLE,       /* TreeEnsemble (ai.onnx.ml 5) */
};

enum axle_oml_xf {
    AXLE_OML_XF_NONE = 0,
    AXLE_OML_XF_LOGISTIC,
    AXLE_OML_XF_SOFTMAX,
    AXLE_OML_XF_SOFTMAX_ZERO,
    AXLE_OML_XF_PROBIT,
};

/* Where output column t learns whether a row scored it (has_col[t]). */
#define AXLE_OML_ALWAYS (-1) /* some tree puts t in every leaf it can reach */
#define AXLE_OML_NEVER (-2)  /* no leaf names t */
/* >= 0: the forest target of t's presence column (1 per leaf naming t) */

struct axle_oml {
    enum axle_oml_kind kind;
    struct axle_forest *forest; /* owned; n_targets = n_out + n_hidden */
    int32_t n_out;              /* classes (classifier) or targets */
    int32_t n_hidden;           /* presence columns after the n_out sums */
    int32_t n_features;         /* widest split feature + 1 */
    int32_t *has_col;           /* n_out entries */
    enum axle_oml_xf xf;
    /* Sums, base values and finishing in float (ONNX Runtime's precision
     * for float, integer and half inputs) rather than double (its
     * precision for double inputs). */
    bool float_mode;
    int32_t n_base;
    double *base; /* n_base values, float-rounded in float_mode */
    /* classifier only */
    bool binary_case;  /* two labels, one distinct class id in the weights */
    bool all_positive; /* no class weight is negative */
    int32_t n_labels;
    int64_t *labels;   /* classlabels_int64s, or NULL */
    char **strings;    /* classlabels_strings, or NULL */
};

/* Builds the state of node n for `kind`; float_mode as above. On failure
 * returns the status with err set and *out NULL. */
enum axle_status axle_oml_build(const struct axle_node *n,
                                enum axle_oml_kind kind, bool float_mode,
                                struct axle_oml **out, struct axle_err *err);
void axle_oml_free(struct axle_oml *s);

/* Number of output columns (classes or targets) the attributes declare,
 * without building anything (for shape inference); -1 if undeclared. */
int64_t axle_oml_n_out(const struct axle_node *n, enum axle_oml_kind kind);

#endif
