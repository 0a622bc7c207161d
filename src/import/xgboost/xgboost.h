/*
 * xgboost.h - XGBoost model importer: the document `Booster.save_model`
 * writes, as JSON ("model.json", xgboost >= 1.0) or as UBJSON ("model.ubj",
 * the same document in Universal Binary JSON, xgboost >= 1.6).
 *
 * The document is parsed into a token array that never leaves this
 * directory (JSON by serve/json.c, UBJSON by xgb_ubjson.c), read into one
 * struct axle_forest (kernels/forest.h) and wrapped in a one-node model.
 * Every count, index and array length in the file is checked against the
 * limits below and against the bytes present before anything is sized by
 * it (SECURITY.md D13, D30). docs/formats/xgboost.md describes the
 * accepted subset and the exact prediction semantics.
 */
#ifndef AXLE_IMPORT_XGBOOST_H
#define AXLE_IMPORT_XGBOOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"

struct axle_err;
struct axle_ir_model;

/* Bounds (bad-input defences, SECURITY.md D13/D16/D30). */
#define AXLE_XGB_MAX_BYTES ((size_t)1 << 30)   /* the whole file */
#define AXLE_XGB_MAX_DEPTH 128                 /* tree depth (D30) */
#define AXLE_XGB_MAX_NESTING 64                /* JSON / UBJSON nesting */
#define AXLE_XGB_MAX_STRING ((size_t)4 << 20)  /* one string or key */
#define AXLE_XGB_MAX_NAME 4096                 /* one feature name/type */
#define AXLE_XGB_MAX_FEATURES (1 << 24)        /* num_feature */
#define AXLE_XGB_MAX_CLASSES 65536             /* num_class, num_target */
#define AXLE_XGB_MAX_TREES (1 << 20)
#define AXLE_XGB_MAX_TREE_NODES (1 << 26)      /* one tree; all: forest.h */
#define AXLE_XGB_MAX_CAT_WORDS (1 << 24)       /* category bitsets, all trees */
/* gblinear becomes one single-leaf tree per non-zero weight (exact float
 * order, missing = no contribution) up to this many weights; above it, one
 * linear leaf per class (see docs/formats/xgboost.md). */
#define AXLE_XGB_LINEAR_SPLIT_MAX 65536

/* True when buf holds an XGBoost document: JSON whose first key is
 * "learner" (leading whitespace allowed), or UBJSON: '{' followed by a
 * UBJSON length marker (i, U, I, l, L) of the first key. Reads at most
 * the first few dozen bytes. */
bool axle_xgboost_sniff(const uint8_t *buf, size_t len);

/* Import an XGBoost model. buf is borrowed for the call and need not be
 * NUL-terminated. On success *out is a new model owned by the caller:
 * input "input" float [N, num_feature]; outputs "probabilities" float
 * [N, C] and "label" int64 [N] for binary:logistic, multi:softprob and
 * multi:softmax, "predictions" float [N] (or [N, num_target]) for every
 * other objective. Metadata: feature_names and feature_types
 * (comma-joined), objective, booster, num_class, base_score (the margin
 * intercept per output, comma-joined), xgboost_version, best_iteration
 * (when the file has one), missing (when the sklearn wrapper recorded a
 * non-NaN one).
 * Errors: AXLE_INVALID_ARGUMENT with a message naming the problem (the
 * tree, node and field where there is one); *out stays NULL. */
enum axle_status axle_xgboost_import(const uint8_t *buf, size_t len,
                                     struct axle_ir_model **out,
                                     struct axle_err *err);

#endif
