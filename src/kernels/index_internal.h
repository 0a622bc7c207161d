/*
 * index_internal.h - small helpers shared by the indexing kernels
 * (index_gather.c, index_scatter.c, index_select.c, index_misc.c):
 * reading int32/int64 index tensors, normalising and range-checking one
 * index, and copying single elements of any dtype (strings duplicated, the
 * destination owning its copy, as in shape_copy.c).
 *
 * Everything is static inline so that each kernel file takes only what it
 * uses and the helpers stay out of the library's symbol table.
 */
#ifndef AXLE_KERNELS_INDEX_INTERNAL_H
#define AXLE_KERNELS_INDEX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/shape_internal.h"

#define IDX_OUT(k, j) ((j) < (k)->n_outputs ? (k)->out[j] : NULL)

/* Element i of an int32 or int64 index tensor's data. */
static inline int64_t idx_at(const void *p, bool i64, int64_t i)
{
    return i64 ? ((const int64_t *)p)[i] : (int64_t)((const int32_t *)p)[i];
}

/* Indices inputs of the Gather and Scatter ops must be int32 or int64 (or not yet
 * known at load). */
static inline enum axle_status idx_check_dtype(struct axle_kctx *k,
                                               const struct axle_tensor *t,
                                               const char *op)
{
    if (t->dtype != AXLE_DTYPE_UNDEFINED && t->dtype != AXLE_DTYPE_INT64 &&
        t->dtype != AXLE_DTYPE_INT32)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: indices must be int32 or int64, got %s", op,
                            axle_dtype_name(t->dtype));
    return AXLE_OK;
}

/* v in [-dim, dim) -> [0, dim); false when out of range. */
static inline bool idx_norm(int64_t v, int64_t dim, int64_t *out)
{
    if (v < -dim || v >= dim)
        return false;
    *out = v < 0 ? v + dim : v;
    return true;
}

static inline enum axle_status idx_range_error(struct axle_kctx *k,
                                               const char *op, int64_t v,
                                               int64_t pos, int64_t dim)
{
    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                        "%s: index %lld at position %lld is out of range "
                        "[%lld, %lld]", op, (long long)v, (long long)pos,
                        (long long)-dim, (long long)(dim - 1));
}

/* Copies one fixed-size element (es bytes, not a string). */
static inline void idx_cp(char *d, const char *s, size_t es)
{
    switch (es) {
    case 1: *d = *s; break;
    case 2: memcpy(d, s, 2); break;
    case 4: memcpy(d, s, 4); break;
    case 8: memcpy(d, s, 8); break;
    default: memcpy(d, s, es); break;
    }
}

/* *d = copy of s (NULL reads as ""); false when out of memory. */
static inline bool idx_set_str(char **d, const char *s)
{
    char *v = axle_shape_strdup(s);
    if (v == NULL)
        return false;
    axle_free(*d);
    *d = v;
    return true;
}

/* Copies element si of src to element di of dst (dtype dt, es bytes). */
static inline bool idx_copy_elem(enum axle_dtype dt, size_t es, void *dst,
                                 int64_t di, const void *src, int64_t si)
{
    if (dt == AXLE_DTYPE_STRING)
        return idx_set_str((char **)dst + di, ((char *const *)src)[si]);
    idx_cp((char *)dst + (size_t)di * es, (const char *)src + (size_t)si * es,
           es);
    return true;
}

static inline enum axle_status idx_oom(struct axle_kctx *k, const char *op)
{
    return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                        "%s: out of memory", op);
}

/* Reads the single value of a scalar or 1-element tensor of any numeric
 * type as an int64 (floats truncated toward zero, as a cast does). false
 * when it does not hold exactly one element, or a float is NaN or does
 * not fit. */
static inline bool idx_scalar_i64(const struct axle_tensor *t, int64_t *v)
{
    if (t->data == NULL || axle_tensor_numel(t) != 1 ||
        t->dtype == AXLE_DTYPE_STRING)
        return false;
    switch (t->dtype) {
    case AXLE_DTYPE_FLOAT32:
    case AXLE_DTYPE_FLOAT64:
    case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16: {
        double d = axle_tensor_get_f64(t, 0);
        if (!(d > -9.2e18 && d < 9.2e18))
            return false;
        *v = (int64_t)d;
        return true;
    }
    case AXLE_DTYPE_UINT64: {
        uint64_t u = ((const uint64_t *)t->data)[0];
        if (u > (uint64_t)INT64_MAX)
            return false;
        *v = (int64_t)u;
        return true;
    }
    default:
        *v = axle_tensor_get_i64(t, 0);
        return true;
    }
}

#endif
