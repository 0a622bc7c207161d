/*
 * rowvec.c - dispatchers and portable scalar versions of the float32 row
 * primitives (rowvec.h). The AVX-512 versions live in rowvec_avx512.c and
 * are used when axle_cpu_get()->isa is AXLE_ISA_AVX512 (AXLE_ISA=scalar
 * forces these scalar loops, which tests use to cover both paths).
 */
#include <math.h>
#include <stdbool.h>

#include "base/cpu.h"
#include "kernels/rowvec.h"

static bool use512(void)
{
    return axle_cpu_get()->isa >= AXLE_ISA_AVX512;
}

float axle_rowvec_max(const float *x, size_t n)
{
    if (use512())
        return axle_rowvec512_max(x, n);
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

float axle_rowvec_min(const float *x, size_t n)
{
    if (use512())
        return axle_rowvec512_min(x, n);
    float m = INFINITY;
    for (size_t i = 0; i < n; i++)
        m = x[i] < m ? x[i] : m;
    return m;
}

float axle_rowvec_sum(const float *x, size_t n)
{
    if (use512())
        return axle_rowvec512_sum(x, n);
    /* Four partial sums: a little ILP and less rounding drift. */
    float s[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s[0] += x[i];
        s[1] += x[i + 1];
        s[2] += x[i + 2];
        s[3] += x[i + 3];
    }
    for (; i < n; i++)
        s[0] += x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

float axle_rowvec_sumsq(const float *x, size_t n)
{
    if (use512())
        return axle_rowvec512_sumsq(x, n);
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

float axle_rowvec_sumsqdev(const float *x, float m, size_t n)
{
    if (use512())
        return axle_rowvec512_sumsqdev(x, m, n);
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    return s;
}

float axle_rowvec_prod(const float *x, size_t n)
{
    float p = 1.0f;
    for (size_t i = 0; i < n; i++)
        p *= x[i];
    return p;
}

float axle_rowvec_expsum(float *y, const float *x, float sub, size_t n)
{
    if (use512())
        return axle_rowvec512_expsum(y, x, sub, n);
    float s = 0;
    for (size_t i = 0; i < n; i++) {
        y[i] = expf(x[i] - sub);
        s += y[i];
    }
    return s;
}

void axle_rowvec_scale(float *y, float s, size_t n)
{
    if (use512()) {
        axle_rowvec512_scale(y, s, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] *= s;
}

void axle_rowvec_addc(float *y, const float *x, float c, size_t n)
{
    if (use512()) {
        axle_rowvec512_addc(y, x, c, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] + c;
}

void axle_rowvec_norm(float *y, const float *x, float mean, float inv,
                      const float *scale, const float *bias, size_t n)
{
    if (use512()) {
        axle_rowvec512_norm(y, x, mean, inv, scale, bias, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v = (x[i] - mean) * inv;
        if (scale != NULL)
            v *= scale[i];
        if (bias != NULL)
            v += bias[i];
        y[i] = v;
    }
}

void axle_rowvec_affine(float *y, const float *x, float s, float b, size_t n)
{
    if (use512()) {
        axle_rowvec512_affine(y, x, s, b, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * s + b;
}

void axle_rowvec_accum(enum axle_rowvec_acc op, float *acc, const float *x,
                       size_t n)
{
    if (use512()) {
        axle_rowvec512_accum(op, acc, x, n);
        return;
    }
    switch (op) {
    case AXLE_ROWVEC_ADD:
        for (size_t i = 0; i < n; i++)
            acc[i] += x[i];
        break;
    case AXLE_ROWVEC_MAX:
        for (size_t i = 0; i < n; i++)
            acc[i] = x[i] > acc[i] ? x[i] : acc[i];
        break;
    case AXLE_ROWVEC_MIN:
        for (size_t i = 0; i < n; i++)
            acc[i] = x[i] < acc[i] ? x[i] : acc[i];
        break;
    case AXLE_ROWVEC_SQ:
        for (size_t i = 0; i < n; i++)
            acc[i] += x[i] * x[i];
        break;
    case AXLE_ROWVEC_MUL:
        for (size_t i = 0; i < n; i++)
            acc[i] *= x[i];
        break;
    }
}

void axle_rowvec_expsub(float *y, const float *x, const float *m, size_t n)
{
    if (use512()) {
        axle_rowvec512_expsub(y, x, m, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = expf(x[i] - m[i]);
}

void axle_rowvec_mul(float *y, const float *a, size_t n)
{
    if (use512()) {
        axle_rowvec512_mul(y, a, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] *= a[i];
}

void axle_rowvec_sub(float *y, const float *x, const float *c, size_t n)
{
    if (use512()) {
        axle_rowvec512_sub(y, x, c, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] - c[i];
}
