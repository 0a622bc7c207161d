/*
 * broadcast.h - numpy-style multidirectional broadcasting for element-wise
 * kernels (ONNX docs/Broadcasting.md).
 *
 * Two halves:
 *   - shape inference (axle_bcast_shape): works on partly known shapes at
 *     load time and keeps symbolic dims flowing (N with 1 is N, N with 5 is
 *     5, N with M is unknown);
 *   - execution (axle_bcast_init / axle_bcast_run): describes up to
 *     AXLE_BCAST_MAX_IN operands by per-dim element strides (0 where an
 *     operand is broadcast), merges dims that every operand walks the same
 *     way, and calls a row function on runs of the innermost dim. A same-
 *     shape op thus becomes one run, a scalar operand has step 0, and a
 *     trailing-vector (bias) operand gives runs with step 1 that restart.
 *
 * The old (opset < 7) `broadcast`/`axis` attributes are mapped onto the
 * numpy rules by axle_bcast_legacy.
 */
#ifndef AXLE_KERNELS_BROADCAST_H
#define AXLE_KERNELS_BROADCAST_H

#include <stdint.h>

#include "axle/status.h"
#include "axle/tensor.h"
#include "ir/op.h"

#define AXLE_BCAST_MAX_IN 3

/* Output rank/dims (dtype untouched) of broadcasting in[0..n-1]. NULL
 * entries are skipped. Unknown rank anywhere gives rank -1. Known dims that
 * cannot broadcast give AXLE_INVALID_ARGUMENT naming the op. */
enum axle_status axle_bcast_shape(const char *op, int n,
                                  const struct axle_tensor *const *in,
                                  struct axle_tensor *out,
                                  struct axle_err *err);

/* Unidirectional broadcast (PRelu slope, ...): `b` must broadcast to `a`;
 * out gets a's shape. */
enum axle_status axle_bcast_shape_to(const char *op,
                                     const struct axle_tensor *a,
                                     const struct axle_tensor *b,
                                     struct axle_tensor *out,
                                     struct axle_err *err);

/* Opset < 7 binary ops: with broadcast=1, B's dims match a contiguous run
 * of A's dims starting at `axis` (default: the trailing dims), or B holds
 * one element. Writes into *b_out a copy of *b reshaped to A's rank with 1s
 * around the matched run, so the numpy rules apply afterwards. With
 * broadcast=0 the shapes must be equal (checked when known). */
enum axle_status axle_bcast_legacy(struct axle_kctx *k,
                                   const struct axle_tensor *a,
                                   const struct axle_tensor *b,
                                   struct axle_tensor *b_out);

struct axle_bcast {
    int n_in;
    int rank; /* after merging, >= 1 */
    int64_t dims[AXLE_MAX_RANK];
    int64_t strides[AXLE_BCAST_MAX_IN][AXLE_MAX_RANK]; /* in elements */
    int64_t numel;
};

/* Describe operands in[0..n-1] (concrete shapes, each broadcastable to out's
 * shape) walking out. */
void axle_bcast_init(struct axle_bcast *b, const struct axle_tensor *out,
                     int n, const struct axle_tensor *const *in);

/* A run of `len` output elements starting at out_off; operand j starts at
 * element in_off[j] and advances by step[j] (0 or 1) per element. */
typedef void (*axle_bcast_row_fn)(void *ctx, int64_t out_off,
                                  const int64_t *in_off, const int64_t *step,
                                  int64_t len);

/* Walk every output element once, split over pool (may be NULL) in chunks
 * of at least `grain` elements. */
void axle_bcast_run(const struct axle_bcast *b, struct axle_pool *pool,
                    int64_t grain, axle_bcast_row_fn fn, void *ctx);

#endif
