/*
 * tensor.h - engine-side helpers around struct axle_tensor.
 *
 * Element counts and byte sizes are computed with overflow checks; a tensor
 * whose size does not fit, or exceeds AXLE_TENSOR_MAX_ELEMS, is an error the
 * caller reports (never an abort).
 */
#ifndef AXLE_IR_TENSOR_H
#define AXLE_IR_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "axle/status.h"
#include "axle/tensor.h"

/* Elements a single tensor may hold (2^31, SECURITY.md D22 / §2.H). */
#define AXLE_TENSOR_MAX_ELEMS ((int64_t)1 << 31)

#define AXLE_DIM_UNKNOWN (-1)
static inline bool axle_dim_known(int64_t d) { return d >= 0; }
static inline int64_t axle_dim_sym(int id) { return -2 - (int64_t)id; }
static inline int axle_dim_sym_id(int64_t d) { return (int)(-2 - d); }

/* True when rank and every dim are known (>= 0). */
bool axle_shape_known(const struct axle_tensor *t);

/* Product of dims; returns -1 if unknown or overflowing AXLE_TENSOR_MAX_ELEMS. */
int64_t axle_tensor_numel(const struct axle_tensor *t);
int64_t axle_shape_numel(int rank, const int64_t *dims);

/* Bytes needed for the shape; -1 on overflow/unknown. */
int64_t axle_tensor_nbytes(const struct axle_tensor *t);

/* Allocate an owned, zeroed tensor of the given shape (try-door). */
enum axle_status axle_tensor_new(enum axle_dtype dt, int rank,
                                 const int64_t *dims, struct axle_tensor **out,
                                 struct axle_err *err);
/* Deep copy (strings duplicated). */
enum axle_status axle_tensor_clone(const struct axle_tensor *src,
                                   struct axle_tensor **out,
                                   struct axle_err *err);
/* Frees data if owned (and owned strings for STRING tensors), then t. */
void axle_tensor_free(struct axle_tensor *t);
/* dst[i] (freed first) becomes a heap copy of src[i] (NULL reads as "") for
 * i < n. AXLE_RESOURCE_EXHAUSTED when memory runs out; dst stays freeable. */
enum axle_status axle_strings_copy(char **dst, char *const *src, int64_t n);

/* Elements a sequence may hold (SECURITY.md D22: bounded growth). */
#define AXLE_SEQ_MAX_ITEMS ((int)1 << 20)

/* Frees what t owns (data, string elements, sequence/optional items,
 * recursively) and leaves it empty with its kind, dtype and shape. */
void axle_value_dispose(struct axle_tensor *t);
/* dst (disposed first) becomes an owned deep copy of src, of any kind. */
enum axle_status axle_value_copy(struct axle_tensor *dst,
                                 const struct axle_tensor *src,
                                 struct axle_err *err);
/* Sequence seq (owned or empty) gets a deep copy of item inserted at
 * position pos (0..n_items). Errors: too many items, out of memory. */
enum axle_status axle_seq_insert(struct axle_tensor *seq, int pos,
                                 const struct axle_tensor *item,
                                 struct axle_err *err);
/* Removes and frees item pos (0..n_items-1) of an owned sequence. */
void axle_seq_erase(struct axle_tensor *seq, int pos);
/* "tensor", "sequence", "optional" */
const char *axle_kind_name(enum axle_kind k);

/* Scalar reads of element i converted to int64 / double (any numeric dtype). */
int64_t axle_tensor_get_i64(const struct axle_tensor *t, int64_t i);
double axle_tensor_get_f64(const struct axle_tensor *t, int64_t i);

/* "float32[N,3,224,224]" into buf (symbol names when graph syms given). */
void axle_shape_format(const struct axle_tensor *t, const char *const *syms,
                       int n_syms, char *buf, size_t len);

/* half / bfloat16 conversions */
float axle_f16_to_f32(uint16_t h);
uint16_t axle_f32_to_f16(float f);
float axle_bf16_to_f32(uint16_t h);
uint16_t axle_f32_to_bf16(float f);

#endif
