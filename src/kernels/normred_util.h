/*
 * normred_util.h - small helpers shared by the normalization, softmax,
 * reduction, TopK and Resize kernels (norm.c, softmax.c, reduce.c, topk.c,
 * resize.c): axis checks, float dtype conversion to and from float32
 * working buffers, and products of known dims.
 */
#ifndef AXLE_KERNELS_NORMRED_UTIL_H
#define AXLE_KERNELS_NORMRED_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "ir/op.h"
#include "ir/tensor.h"

/* float32, float16, bfloat16, float64 */
static inline bool nr_is_float(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT16 ||
           dt == AXLE_DTYPE_BFLOAT16 || dt == AXLE_DTYPE_FLOAT64;
}

/* Normalizes axis into [0, rank) (or [0, rank] when allow_end); rank < 0
 * (unknown) leaves it for run time and succeeds. */
static inline enum axle_status nr_axis(struct axle_kctx *k, const char *op,
                                       int64_t axis, int rank, bool allow_end,
                                       int *out)
{
    int64_t hi = allow_end ? rank : rank - 1;
    if (rank < 0) {
        *out = (int)(axis < 0 ? -1 : (axis > 64 ? 64 : axis));
        return AXLE_OK;
    }
    if (axis < -(int64_t)rank || axis > hi)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: axis %lld is out of range for rank %d", op,
                            (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return AXLE_OK;
}

/* Product of dims[from, to) of a concrete shape. */
static inline int64_t nr_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= dims[i];
    return p;
}

/* Copies the shape (dtype set by the caller). */
static inline void nr_copy_shape(struct axle_tensor *o,
                                 const struct axle_tensor *x)
{
    o->rank = x->rank;
    if (x->rank > 0)
        memcpy(o->dims, x->dims, (size_t)x->rank * sizeof(x->dims[0]));
}

/* n elements of a float-typed buffer to float32 and back. */
static inline void nr_to_f32(float *dst, const void *src, enum axle_dtype dt,
                             size_t n)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32:
        if (dst != src)
            memcpy(dst, src, n * sizeof(float));
        break;
    case AXLE_DTYPE_FLOAT16:
        for (size_t i = 0; i < n; i++)
            dst[i] = axle_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case AXLE_DTYPE_BFLOAT16:
        for (size_t i = 0; i < n; i++)
            dst[i] = axle_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case AXLE_DTYPE_FLOAT64:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)((const double *)src)[i];
        break;
    default:
        for (size_t i = 0; i < n; i++)
            dst[i] = 0;
        break;
    }
}

static inline void nr_from_f32(void *dst, enum axle_dtype dt, const float *src,
                               size_t n)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32:
        if (dst != src)
            memcpy(dst, src, n * sizeof(float));
        break;
    case AXLE_DTYPE_FLOAT16:
        for (size_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = axle_f32_to_f16(src[i]);
        break;
    case AXLE_DTYPE_BFLOAT16:
        for (size_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = axle_f32_to_bf16(src[i]);
        break;
    case AXLE_DTYPE_FLOAT64:
        for (size_t i = 0; i < n; i++)
            ((double *)dst)[i] = src[i];
        break;
    default:
        break;
    }
}

/* Grain for parallel loops over rows of `row` elements: about 32K
 * elements of work per task, so small tensors stay on one thread. */
static inline int64_t nr_grain(int64_t row)
{
    int64_t g = row > 0 ? ((int64_t)32768 + row - 1) / row : 32768;
    return g < 1 ? 1 : g;
}

#endif
