/*
 * xgb_internal.h - what the XGBoost importer's files share: the UBJSON
 * reader, and one read-only document interface over a parsed JSON
 * (serve/json.h) or UBJSON token array, so the importer reads both
 * encodings with the same code.
 *
 * Token indices are uint32_t; XGB_NONE means "absent". Numeric arrays are
 * read by element index (xgb_arr_*), which is O(1) for both encodings:
 * UBJSON typed arrays ('$' type '#' count) stay packed in the file bytes,
 * and a JSON (or untyped UBJSON) array whose elements are all scalars has
 * its elements in consecutive tokens.
 */
#ifndef AXLE_IMPORT_XGB_INTERNAL_H
#define AXLE_IMPORT_XGB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"
#include "serve/json.h"

struct axle_err;

#define XGB_NONE UINT32_MAX

enum xgb_type {
    XGB_NULL = 0,
    XGB_BOOL,
    XGB_NUM,
    XGB_STR,
    XGB_ARR,
    XGB_OBJ,
};

/* ---- UBJSON (Draft 12) ------------------------------------------------ */

/* One UBJSON value. Objects: members follow as key (XGB_STR) then value,
 * `size` times, as in serve/json.h. A typed array of a fixed-size scalar
 * type (i U I l L d D, or T F Z) is one token: `marker` is the element
 * type, `off` the first element's bytes, `size` the count, no children. */
struct axle_ubj_tok {
    uint8_t type;   /* enum xgb_type */
    uint8_t marker; /* scalars and packed arrays: the UBJSON type marker;
                       0 for containers with child tokens */
    uint32_t size;  /* array elements; object members; string bytes */
    uint32_t end;   /* index one past this token's subtree */
    uint64_t off;   /* scalar payload / string bytes / packed elements */
};

struct axle_ubj_doc {
    struct axle_ubj_tok *toks; /* owned; grown up to max_tokens */
    uint32_t n, cap;
    const uint8_t *buf;        /* the parsed bytes, borrowed */
    size_t len;
    uint32_t max_tokens;       /* 0: len + 16 */
    uint32_t max_depth;        /* 0: AXLE_XGB_MAX_NESTING */
    size_t max_string;         /* 0: AXLE_XGB_MAX_STRING */
};

void axle_xgboost_ubj_init(struct axle_ubj_doc *d);
void axle_xgboost_ubj_free(struct axle_ubj_doc *d);
/* Parses exactly one value filling buf[0..len) (trailing bytes are an
 * error). buf must stay valid while d is used. AXLE_INVALID_ARGUMENT with
 * "malformed ubjson: ..." / "truncated ubjson: ..." naming the byte
 * offset; AXLE_RESOURCE_EXHAUSTED when token memory could not be had. */
enum axle_status axle_xgboost_ubj_parse(struct axle_ubj_doc *d,
                                        const uint8_t *buf, size_t len,
                                        struct axle_err *err);
/* Element count of one fixed-size scalar marker, 0 for T F Z, -1 if the
 * marker is not such a type. */
int axle_xgboost_ubj_scalar_bytes(uint8_t marker);

/* ---- the document, either encoding ------------------------------------ */

struct xgb_doc {
    bool ubj;
    struct json_doc j;
    char *copy; /* JSON: the mutable, NUL-terminated copy json_parse needs */
    struct axle_ubj_doc u;
};

/* Parse buf (UBJSON when it starts with '{' and a UBJSON key-length
 * marker, JSON otherwise). The document borrows buf (UBJSON). */
enum axle_status xgb_doc_parse(struct xgb_doc *d, const uint8_t *buf,
                               size_t len, struct axle_err *err);
void xgb_doc_free(struct xgb_doc *d);

int xgb_type(const struct xgb_doc *d, uint32_t t);
/* Members of an object, elements of an array, bytes of a string. */
uint32_t xgb_size(const struct xgb_doc *d, uint32_t t);
/* Member `key` of object obj: its value token, XGB_NONE when absent (or
 * obj is not an object). *dup is set when the key occurs twice (UBJSON;
 * the JSON parser refuses duplicates). */
uint32_t xgb_get(const struct xgb_doc *d, uint32_t obj, const char *key,
                 bool *dup);
/* Iteration over the children of an array with child tokens: first
 * element (XGB_NONE when empty or packed) and the token after t's
 * subtree. */
uint32_t xgb_first(const struct xgb_doc *d, uint32_t arr);
uint32_t xgb_after(const struct xgb_doc *d, uint32_t t);
/* String bytes (not NUL-terminated for UBJSON); NULL if t is not one. */
const char *xgb_str(const struct xgb_doc *d, uint32_t t, size_t *len);
bool xgb_streq(const struct xgb_doc *d, uint32_t t, const char *s);

/* Scalars. 0 on success, -1 when t is not a number of the kind. i64: an
 * integer (UBJSON integer markers, JSON integer literals). f32: any
 * number as XGBoost reads it into a float (JSON text correctly rounded
 * to float, like strtof; UBJSON d as is, D and integers converted). */
int xgb_i64(const struct xgb_doc *d, uint32_t t, int64_t *out);
int xgb_f32(const struct xgb_doc *d, uint32_t t, float *out);
int xgb_f64(const struct xgb_doc *d, uint32_t t, double *out);
/* Booleans, and the integers 0 / 1 that xgboost >= 1.6 writes for them. */
int xgb_bool(const struct xgb_doc *d, uint32_t t, bool *out);

/* Arrays of scalars by index. xgb_arr_scalars() is true when arr is an
 * array whose elements can be read that way (packed, or all scalars). */
bool xgb_arr_scalars(const struct xgb_doc *d, uint32_t arr);
int xgb_arr_i64(const struct xgb_doc *d, uint32_t arr, uint32_t i,
                int64_t *out);
int xgb_arr_f32(const struct xgb_doc *d, uint32_t arr, uint32_t i,
                float *out);
int xgb_arr_bool(const struct xgb_doc *d, uint32_t arr, uint32_t i,
                 bool *out);
/* Element i's token for a non-packed array (XGB_NONE for packed). */
uint32_t xgb_arr_tok(const struct xgb_doc *d, uint32_t arr, uint32_t i);

/* ---- trees (xgboost_tree.c) ------------------------------------------- */

struct axle_forest;

struct xgb_tree_ctx {
    const struct xgb_doc *d;
    struct axle_forest *f;
    int32_t num_feature;
    int32_t n_targets;
    int64_t cat_words;   /* category words added so far (bounded) */
};

/* Reads tree object t (index `tree` in the model, output `target`) and
 * adds it to ctx->f. weight scales every leaf (dart's weight_drop; 1 for
 * gbtree), in float like XGBoost. */
enum axle_status xgb_tree_add(struct xgb_tree_ctx *ctx, uint32_t t,
                              int32_t tree, int32_t target, float weight,
                              struct axle_err *err);

/* Member `key` of object obj that must have type `type` (-1: any):
 * *out is its token, or XGB_NONE when absent and not required. Errors name
 * the field and `where` ("learner", "tree 3"): missing field, wrong type,
 * duplicate key. */
enum axle_status xgb_member(const struct xgb_doc *d, uint32_t obj,
                            const char *key, int type, bool required,
                            const char *where, uint32_t *out,
                            struct axle_err *err);
/* An integer parameter: XGBoost writes them as decimal strings ("7"),
 * older or hand-made files as numbers; both are read. 0 or -1. */
int xgb_int_param(const struct xgb_doc *d, uint32_t t, int64_t *out);

/* Shows at most 40 bytes of s (printable ASCII, others as '?') in out. */
const char *xgb_show(const char *s, size_t len, char out[48]);

#endif
