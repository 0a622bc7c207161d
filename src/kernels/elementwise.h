/*
 * elementwise.h - shared pieces of the element-wise kernel family
 * (elementwise_*.c, cast.c): the float32 row-kernel table with its run-time
 * ISA choice, and small helpers for dtype checks.
 *
 * float32 is the fast type: every binary op and every unary math/activation
 * has a row kernel here; elementwise_f32.c holds the portable versions
 * (libm, the reference), elementwise_avx512.c vector ones that override them
 * when the CPU has AVX-512. float16/bfloat16 run the same float32 kernels on
 * converted blocks.
 */
#ifndef AXLE_KERNELS_ELEMENTWISE_H
#define AXLE_KERNELS_ELEMENTWISE_H

#include <stdbool.h>
#include <stdint.h>

#include "axle/status.h"
#include "axle/tensor.h"
#include "ir/op.h"

enum axle_ew_bin {
    AXLE_EW_ADD,
    AXLE_EW_SUB,
    AXLE_EW_MUL,
    AXLE_EW_DIV,
    AXLE_EW_MIN, /* NaN in either operand gives NaN (np.minimum) */
    AXLE_EW_MAX,
    AXLE_EW_PRELU, /* a < 0 ? a * b : a */
    AXLE_EW_POW,
    AXLE_EW_FMOD, /* C fmod: the result has the dividend's sign */
    AXLE_EW_MOD,  /* Python %: the result has the divisor's sign */
    AXLE_EW_N_BIN
};

enum axle_ew_un {
    AXLE_EW_RELU,
    AXLE_EW_LEAKY_RELU, /* alpha */
    AXLE_EW_CLIP,       /* alpha = min, beta = max; NaN passes */
    AXLE_EW_ABS,
    AXLE_EW_NEG,
    AXLE_EW_SQRT,
    AXLE_EW_RECIPROCAL,
    AXLE_EW_EXP,
    AXLE_EW_LOG,
    AXLE_EW_TANH,
    AXLE_EW_SIGMOID,
    AXLE_EW_ERF,
    AXLE_EW_ELU,          /* alpha */
    AXLE_EW_SELU,         /* alpha, gamma */
    AXLE_EW_HARD_SIGMOID, /* alpha, beta */
    AXLE_EW_HARD_SWISH,
    AXLE_EW_SOFTPLUS,
    AXLE_EW_SIN,
    AXLE_EW_COS,
    AXLE_EW_TAN,
    AXLE_EW_ASIN,
    AXLE_EW_ACOS,
    AXLE_EW_ATAN,
    AXLE_EW_SINH,
    AXLE_EW_COSH,
    AXLE_EW_ASINH,
    AXLE_EW_ACOSH,
    AXLE_EW_ATANH,
    AXLE_EW_CEIL,
    AXLE_EW_FLOOR,
    AXLE_EW_ROUND, /* to nearest, ties to even */
    AXLE_EW_SIGN,  /* NaN passes */
    AXLE_EW_CELU,  /* alpha */
    AXLE_EW_SOFTSIGN,
    AXLE_EW_THRESHOLDED_RELU, /* alpha */
    AXLE_EW_SHRINK,           /* alpha = lambd, beta = bias */
    AXLE_EW_MISH,
    AXLE_EW_N_UN
};

struct axle_ew_params {
    float alpha, beta, gamma;
};

/* o[i] = a[i*sa] OP b[i*sb], sa and sb are 0 or 1; o may alias a or b when
 * the corresponding step is 1. */
typedef void (*axle_ew_bin_fn)(float *o, const float *a, int64_t sa,
                               const float *b, int64_t sb, int64_t n);
/* o[i] = f(x[i]); o may alias x. */
typedef void (*axle_ew_un_fn)(float *o, const float *x, int64_t n,
                              const struct axle_ew_params *p);

struct axle_ew_f32_ops {
    axle_ew_bin_fn bin[AXLE_EW_N_BIN];
    axle_ew_un_fn un[AXLE_EW_N_UN];
};

/* The kernels for this CPU (chosen once; thread-safe). */
const struct axle_ew_f32_ops *axle_ew_f32(void);
/* The portable reference kernels (tests compare the vector ones to it). */
const struct axle_ew_f32_ops *axle_ew_f32_ref(void);
/* AVX-512 kernels; entries may be NULL (the reference is used then). Only
 * call after checking axle_cpu_get()->isa. */
void axle_ew_f32_avx512_fill(struct axle_ew_f32_ops *ops);

/* Scalar double-precision versions of the unary ops (float64 and the
 * integer types that go through double). */
double axle_ew_un_f64(enum axle_ew_un op, double x,
                      const struct axle_ew_params *p);

/* Elements per parallel chunk: cheap ops need more to pay for a wake-up. */
#define AXLE_EW_GRAIN_CHEAP ((int64_t)1 << 16)
#define AXLE_EW_GRAIN_MATH ((int64_t)1 << 13)

static inline bool axle_dtype_is_float(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT64 ||
           dt == AXLE_DTYPE_FLOAT16 || dt == AXLE_DTYPE_BFLOAT16;
}

static inline bool axle_dtype_is_int(enum axle_dtype dt)
{
    switch (dt) {
    case AXLE_DTYPE_INT8: case AXLE_DTYPE_INT16: case AXLE_DTYPE_INT32:
    case AXLE_DTYPE_INT64: case AXLE_DTYPE_UINT8: case AXLE_DTYPE_UINT16:
    case AXLE_DTYPE_UINT32: case AXLE_DTYPE_UINT64:
        return true;
    default:
        return false;
    }
}

static inline bool axle_dtype_is_signed_int(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_INT8 || dt == AXLE_DTYPE_INT16 ||
           dt == AXLE_DTYPE_INT32 || dt == AXLE_DTYPE_INT64;
}

static inline bool axle_dtype_is_numeric(enum axle_dtype dt)
{
    return axle_dtype_is_float(dt) || axle_dtype_is_int(dt);
}

/* Convert n half/bfloat16 values to float and back (block helpers). */
void axle_ew_half_to_f32(enum axle_dtype dt, const uint16_t *x, float *o,
                         int64_t n);
void axle_ew_f32_to_half(enum axle_dtype dt, const float *x, uint16_t *o,
                         int64_t n);

/* Element access by dtype for the generic (non-float32) paths. Integers are
 * read into int64 (uint64 keeps its bit pattern); floats into double. */
static inline int64_t axle_ew_ld_i(const void *p, enum axle_dtype dt,
                                   int64_t i)
{
    switch (dt) {
    case AXLE_DTYPE_INT8: return ((const int8_t *)p)[i];
    case AXLE_DTYPE_INT16: return ((const int16_t *)p)[i];
    case AXLE_DTYPE_INT32: return ((const int32_t *)p)[i];
    case AXLE_DTYPE_INT64: return ((const int64_t *)p)[i];
    case AXLE_DTYPE_UINT8: case AXLE_DTYPE_BOOL:
        return ((const uint8_t *)p)[i];
    case AXLE_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case AXLE_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case AXLE_DTYPE_UINT64: return (int64_t)((const uint64_t *)p)[i];
    default: return 0;
    }
}

static inline void axle_ew_st_i(void *p, enum axle_dtype dt, int64_t i,
                                int64_t v)
{
    /* Truncation to the narrower type is two's complement wrap-around. */
    switch (dt) {
    case AXLE_DTYPE_INT8: case AXLE_DTYPE_UINT8:
        ((uint8_t *)p)[i] = (uint8_t)v;
        break;
    case AXLE_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case AXLE_DTYPE_INT16: case AXLE_DTYPE_UINT16:
        ((uint16_t *)p)[i] = (uint16_t)v;
        break;
    case AXLE_DTYPE_INT32: case AXLE_DTYPE_UINT32:
        ((uint32_t *)p)[i] = (uint32_t)v;
        break;
    case AXLE_DTYPE_INT64: case AXLE_DTYPE_UINT64:
        ((uint64_t *)p)[i] = (uint64_t)v;
        break;
    default: break;
    }
}

/* AXLE_INVALID_ARGUMENT unless inputs 0..n-1 are present (an optional-style
 * empty name can omit a required input). */
enum axle_status axle_ew_need_inputs(struct axle_kctx *k, int n);

double axle_ew_ld_f(const void *p, enum axle_dtype dt, int64_t i);
void axle_ew_st_f(void *p, enum axle_dtype dt, int64_t i, double v);

/* Shape of a binary op's output: checks dtypes agree (unless mixed_ok),
 * applies the opset < 7 broadcast/axis attributes to B (*b_adj gets B's
 * effective shape; pass it to axle_bcast_init at run time) and broadcasts.
 * Sets out dims and rank only. */
enum axle_status axle_ew_bin_shape(struct axle_kctx *k, const char *op,
                                   bool mixed_ok, struct axle_tensor *b_adj,
                                   struct axle_tensor *out);

#endif
