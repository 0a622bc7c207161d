/*
 * shape_internal.h - helpers shared by the shape and data-movement kernels
 * (shape_ops.c, shape_move.c, shape_pad.c): reading integer lists from
 * tensors, axis normalisation, symbolic-dim arithmetic for load-time
 * inference, and one strided-copy engine that Transpose, Slice, Expand,
 * Tile, Concat and Split all reduce to.
 */
#ifndef AXLE_KERNELS_SHAPE_INTERNAL_H
#define AXLE_KERNELS_SHAPE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/op.h"

/* Rank the copy engine works in: Tile doubles the tensor rank. */
#define AXLE_SHAPE_COPY_MAX_RANK (2 * AXLE_MAX_RANK)

/*
 * One strided copy: for every index vector i < dims,
 *   dst[sum i*out_strides] = src[sum i*in_strides]
 * Strides are in elements and may be 0 (broadcast) or negative (reversed
 * slices); src and dst point at the element of index 0. STRING elements are
 * duplicated (the destination owns them).
 */
struct axle_shape_copy {
    int rank;
    int64_t dims[AXLE_SHAPE_COPY_MAX_RANK];
    int64_t in_strides[AXLE_SHAPE_COPY_MAX_RANK];
    int64_t out_strides[AXLE_SHAPE_COPY_MAX_RANK];
};

/* Runs the copy, over k->pool when large. */
enum axle_status axle_shape_copy_strided(struct axle_kctx *k,
                                         const struct axle_shape_copy *c,
                                         enum axle_dtype dt, const void *src,
                                         void *dst);

/* AVX-512 body of the blocked transpose for 4-byte elements:
 * d[j*ob + i] = s[i*ia + j] for j in [j0, j1), i in [0, a). Only call when
 * axle_cpu_get()->isa >= AXLE_ISA_AVX512. */
void axle_shape_tile4_avx512(uint32_t *d, const uint32_t *s, int64_t a,
                             int64_t ia, int64_t j0, int64_t j1, int64_t ob);

/* Copies n contiguous elements (strings duplicated). */
enum axle_status axle_shape_copy_elems(struct axle_kctx *k, enum axle_dtype dt,
                                       const void *src, void *dst, int64_t n);

/* Duplicates a string element (NULL becomes ""); NULL when out of memory. */
char *axle_shape_strdup(const char *s);

/* Row-major element strides of a shape. */
void axle_shape_strides(int rank, const int64_t *dims, int64_t *strides);

/* True when the values of t can be read: it has data, or it is known to
 * hold no elements. At load only constants have data. */
bool axle_shape_avail(const struct axle_tensor *t);

/* Length of a 1-D tensor when known, else -1 (rank 0 counts as 1). */
int64_t axle_shape_len(const struct axle_tensor *t);

/* Reads an integer tensor (int32 or int64, rank 0 or 1) into vals; at most
 * max_n values. `what` names it in errors. */
enum axle_status axle_shape_read_ints(const struct axle_tensor *t,
                                      int64_t *vals, int max_n, int *n,
                                      struct axle_err *err, const char *what);

/* Checks that t (if its dtype is known) is an integer tensor of rank <= 1. */
enum axle_status axle_shape_check_int_input(const struct axle_tensor *t,
                                            struct axle_err *err,
                                            const char *what);

/* Reads a shape-like input (int 1-D, at most AXLE_MAX_RANK values) of op
 * into dims and *rank. When the values are not available yet: *rank = -1
 * with the length in dims[0] if that is known, else *rank = -2. Values are
 * not range-checked. */
enum axle_status axle_shape_read_dims(struct axle_kctx *k,
                                      const struct axle_tensor *t,
                                      int64_t *dims, int *rank,
                                      const char *op);

/* axis in [-rank, rank) (or [-rank, rank] with `inclusive`) -> [0, rank). */
enum axle_status axle_shape_norm_axis(int64_t axis, int rank, bool inclusive,
                                      int *out, struct axle_err *err,
                                      const char *op);

/* Product of two dims that may be unknown (-1) or symbolic (<= -2): keeps a
 * symbol when the other factor is 1, is 0 when either is 0. */
int64_t axle_shape_dim_mul(int64_t a, int64_t b);
/* Product of dims[from..to). */
int64_t axle_shape_dims_prod(const int64_t *dims, int from, int to);

/* Sets out to an unknown-rank tensor of dtype dt. */
void axle_shape_set_unknown(struct axle_tensor *out, enum axle_dtype dt);

/* Bidirectional (numpy) broadcast of two dims; AXLE_INVALID_ARGUMENT when
 * both are known and incompatible. */
enum axle_status axle_shape_broadcast_dim(int64_t a, int64_t b, int64_t *out,
                                          struct axle_err *err,
                                          const char *op, int axis);

#endif
