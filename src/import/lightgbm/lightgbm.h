/*
 * lightgbm.h - LightGBM text-model importer (the `model.txt` that
 * Booster.save_model / LGBM_BoosterSaveModel writes).
 *
 * The text is parsed in place (nothing outside this directory sees it) and
 * becomes one struct axle_forest wrapped in a one-node model
 * (kernels/forest.h, axle_forest_model). Every count, index and array
 * length in the file is checked against the limits below and against the
 * bytes present before anything is sized by it (SECURITY.md D13, D30-style
 * tree verification). docs/formats/lightgbm.md describes the accepted
 * subset byte by byte.
 */
#ifndef AXLE_IMPORT_LIGHTGBM_H
#define AXLE_IMPORT_LIGHTGBM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"

struct axle_err;
struct axle_ir_model;

/* Bounds (bad-input defences). */
#define AXLE_LGB_MAX_LINE_BYTES ((size_t)64 << 20) /* one text line */
#define AXLE_LGB_MAX_LEAVES 131072                  /* LightGBM's own cap */
#define AXLE_LGB_MAX_CLASSES 65536                  /* num_class */
#define AXLE_LGB_MAX_FEATURES (1 << 24)             /* max_feature_idx + 1 */
#define AXLE_LGB_MAX_TREES (1 << 20)
#define AXLE_LGB_MAX_CAT_WORDS (1 << 22)            /* cat_threshold, per tree */
#define AXLE_LGB_MAX_TREE_LINES 64                  /* key=value lines a tree */

/* True when buf starts with LightGBM's model-type line "tree" (LF or CRLF).
 * Cheap; reads at most 6 bytes. */
bool axle_lightgbm_sniff(const uint8_t *buf, size_t len);

/* Import a LightGBM text model. buf is borrowed for the call and need not
 * be NUL-terminated. On success *out is a new model owned by the caller:
 * input "input" float [N, max_feature_idx + 1]; outputs "probabilities"
 * and "label" for binary / multiclass / multiclassova, "predictions" for
 * everything else. Metadata: feature_names (comma-joined), objective,
 * num_class, lightgbm_version.
 * Errors: AXLE_INVALID_ARGUMENT with a message naming the problem (the
 * tree, node and field where there is one); *out stays NULL. */
enum axle_status axle_lightgbm_import(const uint8_t *buf, size_t len,
                                      struct axle_ir_model **out,
                                      struct axle_err *err);

#endif
