/*
 * rowvec.h - float32 row primitives shared by the normalization, softmax
 * and reduction kernels (norm.c, softmax.c, reduce.c).
 *
 * Each function works on one contiguous row of n floats. The dispatching
 * versions declared here pick the AVX-512 implementation (rowvec_avx512.c)
 * when axle_cpu_get()->isa allows it and a portable scalar one otherwise
 * (rowvec.c). Outputs may alias inputs exactly (y == x), never partially.
 *
 * The vector exp is a Cephes-style polynomial (about 1 ulp over the float
 * range, exp(-inf) = 0, NaN propagates); the scalar path calls expf.
 */
#ifndef AXLE_KERNELS_ROWVEC_H
#define AXLE_KERNELS_ROWVEC_H

#include <stddef.h>

enum axle_rowvec_acc {
    AXLE_ROWVEC_ADD, /* acc += x */
    AXLE_ROWVEC_MAX, /* acc = max(acc, x) */
    AXLE_ROWVEC_MIN, /* acc = min(acc, x) */
    AXLE_ROWVEC_SQ,  /* acc += x * x */
    AXLE_ROWVEC_MUL, /* acc *= x */
};

/* Horizontal reductions of a row (n may be 0: identity of the op). */
float axle_rowvec_max(const float *x, size_t n);
float axle_rowvec_min(const float *x, size_t n);
float axle_rowvec_sum(const float *x, size_t n);
float axle_rowvec_sumsq(const float *x, size_t n);
/* sum of (x[i] - m)^2 */
float axle_rowvec_sumsqdev(const float *x, float m, size_t n);
/* Product (scalar everywhere; rare). */
float axle_rowvec_prod(const float *x, size_t n);

/* y[i] = exp(x[i] - sub); returns the sum of the y[i]. */
float axle_rowvec_expsum(float *y, const float *x, float sub, size_t n);
/* y[i] *= s */
void axle_rowvec_scale(float *y, float s, size_t n);
/* y[i] = x[i] + c */
void axle_rowvec_addc(float *y, const float *x, float c, size_t n);
/* y[i] = (x[i] - mean) * inv * scale[i] + bias[i]; scale/bias may be NULL
 * (1 and 0). */
void axle_rowvec_norm(float *y, const float *x, float mean, float inv,
                      const float *scale, const float *bias, size_t n);
/* y[i] = x[i] * s + b (per-channel affine, BatchNormalization) */
void axle_rowvec_affine(float *y, const float *x, float s, float b, size_t n);

/* Element-wise, vector against vector. */
void axle_rowvec_accum(enum axle_rowvec_acc op, float *acc, const float *x,
                       size_t n);
/* y[i] = exp(x[i] - m[i]) */
void axle_rowvec_expsub(float *y, const float *x, const float *m, size_t n);
/* y[i] *= a[i] */
void axle_rowvec_mul(float *y, const float *a, size_t n);
/* y[i] = x[i] - c[i] */
void axle_rowvec_sub(float *y, const float *x, const float *c, size_t n);

/* AVX-512 implementations (rowvec_avx512.c); call only after a cpu check. */
float axle_rowvec512_max(const float *x, size_t n);
float axle_rowvec512_min(const float *x, size_t n);
float axle_rowvec512_sum(const float *x, size_t n);
float axle_rowvec512_sumsq(const float *x, size_t n);
float axle_rowvec512_sumsqdev(const float *x, float m, size_t n);
float axle_rowvec512_expsum(float *y, const float *x, float sub, size_t n);
void axle_rowvec512_scale(float *y, float s, size_t n);
void axle_rowvec512_addc(float *y, const float *x, float c, size_t n);
void axle_rowvec512_norm(float *y, const float *x, float mean, float inv,
                         const float *scale, const float *bias, size_t n);
void axle_rowvec512_affine(float *y, const float *x, float s, float b,
                           size_t n);
void axle_rowvec512_accum(enum axle_rowvec_acc op, float *acc, const float *x,
                          size_t n);
void axle_rowvec512_expsub(float *y, const float *x, const float *m, size_t n);
void axle_rowvec512_mul(float *y, const float *a, size_t n);
void axle_rowvec512_sub(float *y, const float *x, const float *c, size_t n);

#endif
