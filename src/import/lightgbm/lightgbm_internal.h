/*
 * lightgbm_internal.h - the text layer under the LightGBM importer: a
 * bounded line reader over a borrowed buffer, whitespace tokens and strict
 * number parsing. Nothing here allocates; spans point into the model text.
 */
#ifndef AXLE_IMPORT_LIGHTGBM_INTERNAL_H
#define AXLE_IMPORT_LIGHTGBM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"

struct axle_err;

/* A run of bytes inside the model text (not NUL-terminated). */
struct lgb_span {
    const char *p;
    size_t len;
};

struct lgb_reader {
    const char *buf;
    size_t len;
    size_t pos;      /* offset of the next line */
    size_t line_off; /* offset of the line last returned */
    int64_t line_no; /* 1-based number of the line last returned */
    bool cut;        /* the line last returned ends the text without a LF */
};

void lgb_reader_init(struct lgb_reader *r, const uint8_t *buf, size_t len);

/* The next line without its LF / CRLF. *eof is set (and AXLE_OK returned)
 * at the end of the text. Lines over AXLE_LGB_MAX_LINE_BYTES or holding a
 * NUL byte are AXLE_INVALID_ARGUMENT. */
enum axle_status lgb_next_line(struct lgb_reader *r, struct lgb_span *line,
                               bool *eof, struct axle_err *err);

bool lgb_span_eq(struct lgb_span s, const char *lit);
bool lgb_span_starts(struct lgb_span s, const char *lit);
/* Splits "key=value" at the first '='; false when there is none. */
bool lgb_split_kv(struct lgb_span line, struct lgb_span *key,
                  struct lgb_span *val);

/* Tokens are runs of bytes other than ' ' and '\t'. */
int64_t lgb_count_tokens(struct lgb_span s);
/* Takes the next token off *rest; false when none is left. */
bool lgb_next_token(struct lgb_span *rest, struct lgb_span *tok);

/* Decimal integer: optional '-', 1-19 digits, nothing else. */
bool lgb_parse_i64(struct lgb_span tok, int64_t *v);
/* Plain decimal floating point ([-+]digits[.digits][e[-+]digits]); no hex,
 * no inf / nan; the value must be finite (1e400 is refused). */
bool lgb_parse_f64(struct lgb_span tok, double *v);

/* A split threshold: what lgb_parse_f64 takes, or [-+]inf / [-+]infinity
 * (any case), which LightGBM 4.x writes for a split that sends every
 * non-missing value one way. */
bool lgb_parse_threshold(struct lgb_span tok, double *v);

/* Copies up to 40 bytes of s into buf (>= 48 bytes) for an error message,
 * bytes outside printable ASCII as '?', "..." when cut. Returns buf. */
const char *lgb_show(struct lgb_span s, char *buf);

/* ---- tree blocks (lightgbm_tree.c) ------------------------------------ */

struct axle_forest;

enum lgb_field {
    LGB_NUM_LEAVES,
    LGB_NUM_CAT,
    LGB_SPLIT_FEATURE,
    LGB_THRESHOLD,
    LGB_DECISION_TYPE,
    LGB_LEFT_CHILD,
    LGB_RIGHT_CHILD,
    LGB_LEAF_VALUE,
    LGB_CAT_BOUNDARIES,
    LGB_CAT_THRESHOLD,
    LGB_IS_LINEAR,
    LGB_LEAF_CONST,
    LGB_NUM_FEATURES,
    LGB_LEAF_FEATURES,
    LGB_LEAF_COEFF,
    LGB_N_FIELDS
};

/* One "Tree=i" block: the value of each field it uses (others, such as
 * split_gain or leaf_count, are skipped). */
struct lgb_tree {
    struct lgb_span val[LGB_N_FIELDS];
    bool has[LGB_N_FIELDS];
};

/* Growable scratch reused from tree to tree (axle_try_realloc). */
struct lgb_buf {
    void *p;
    size_t cap;
};

enum {
    LGB_B_SPLIT_FEATURE,
    LGB_B_THRESHOLD,
    LGB_B_DECISION_TYPE,
    LGB_B_LEFT,
    LGB_B_RIGHT,
    LGB_B_LEAF_VALUE,
    LGB_B_CAT_BOUNDARIES,
    LGB_B_CAT_THRESHOLD,
    LGB_B_LEAF_CONST,
    LGB_B_NUM_FEATURES,
    LGB_B_LEAF_FEATURES,
    LGB_B_LEAF_COEFF,
    LGB_B_TARGETS,
    LGB_B_NODES,
    LGB_B_SEEN,
    LGB_B_STACK,
    LGB_N_BUFS
};

struct lgb_tree_ctx {
    struct axle_forest *f;
    int32_t n_features; /* max_feature_idx + 1 */
    int32_t n_targets;  /* num_tree_per_iteration */
    /* Multiplies every leaf output: n_targets for a multi-class
     * average_output model (forest.h averages over all trees, LightGBM over
     * iterations), else 1. */
    double leaf_scale;
    struct lgb_buf buf[LGB_N_BUFS];
};

void lgb_tree_ctx_dispose(struct lgb_tree_ctx *c);

/* Reads the key=value lines of one tree block (the reader stands after its
 * "Tree=" line) up to a blank line, then skips blank lines: *next is the
 * first line after the block, or *eof. */
enum axle_status lgb_tree_read(struct lgb_reader *r, int32_t index,
                               struct lgb_tree *t, struct lgb_span *next,
                               bool *eof, struct axle_err *err);

/* Verifies tree `index` (counts, lengths, indices, structure) and appends
 * it to c->f; it contributes to target index % n_targets. */
enum axle_status lgb_tree_build(struct lgb_tree_ctx *c,
                                const struct lgb_tree *t, int32_t index,
                                struct axle_err *err);

#endif
