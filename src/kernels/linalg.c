/*
 * linalg.c - Det (ONNX 11).
 *
 * Det takes [*, M, M] and returns the determinants [*]. Each matrix is
 * copied into a double scratch buffer and factored by Gaussian elimination
 * with partial pivoting (LU); the determinant is the product of the pivots,
 * negated once per row swap. A zero pivot column gives exactly 0; an empty
 * matrix (M = 0) has determinant 1. float16, bfloat16, float32 and float64
 * are accepted; batches are split over k->pool.
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/conv.h"
#include "kernels/normred_util.h"

static enum axle_status det_check(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];

    if (x->dtype != AXLE_DTYPE_UNDEFINED && !nr_is_float(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Det: input type %s is not a float type",
                            axle_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank < 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Det: input has rank %d, expected at least 2",
                            x->rank);
    if (x->rank >= 2) {
        int64_t a = x->dims[x->rank - 2], b = x->dims[x->rank - 1];
        if (a >= 0 && b >= 0 && a != b)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Det: matrices are %lldx%lld, not square",
                                (long long)a, (long long)b);
    }
    return AXLE_OK;
}

static enum axle_status det_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    enum axle_status st = det_check(k);

    if (st != AXLE_OK || y == NULL)
        return st;
    y->dtype = x->dtype;
    if (x->rank < 0) {
        y->rank = -1;
        return AXLE_OK;
    }
    y->rank = x->rank - 2;
    for (int i = 0; i < y->rank; i++)
        y->dims[i] = x->dims[i];
    return AXLE_OK;
}

/* Determinant of the m x m row-major matrix a (destroyed). */
static double det_lu(double *a, int64_t m)
{
    double det = 1.0;
    for (int64_t c = 0; c < m; c++) {
        int64_t piv = c;
        double best = fabs(a[c * m + c]);
        for (int64_t r = c + 1; r < m; r++) {
            double v = fabs(a[r * m + c]);
            if (v > best) {
                best = v;
                piv = r;
            }
        }
        if (best == 0.0)
            return 0.0;
        if (isnan(best))
            return NAN;
        if (piv != c) {
            for (int64_t i = 0; i < m; i++) {
                double t = a[c * m + i];
                a[c * m + i] = a[piv * m + i];
                a[piv * m + i] = t;
            }
            det = -det;
        }
        double p = a[c * m + c];
        det *= p;
        for (int64_t r = c + 1; r < m; r++) {
            double f = a[r * m + c] / p;
            if (f == 0.0)
                continue;
            double *row = a + r * m, *prow = a + c * m;
            for (int64_t i = c + 1; i < m; i++)
                row[i] -= f * prow[i];
        }
    }
    return det;
}

struct det_job {
    const struct axle_tensor *x;
    struct axle_tensor *y;
    int64_t m;
    double *work; /* m * m doubles per thread */
};

static void det_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct det_job *j = ctx;
    int64_t mm = j->m * j->m;
    double *a = j->work + (size_t)tid * (size_t)mm;
    for (int64_t i = b; i < e; i++) {
        for (int64_t q = 0; q < mm; q++)
            a[q] = axle_kx_load(j->x->dtype, j->x->data, i * mm + q);
        axle_kx_store(j->y->dtype, j->y->data, i, det_lu(a, j->m));
    }
}

static enum axle_status det_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    enum axle_status st = det_check(k);

    if (st != AXLE_OK || y == NULL)
        return st;
    int64_t m = x->dims[x->rank - 1];
    int64_t batch = nr_prod(x->dims, 0, x->rank - 2);
    if (batch == 0)
        return AXLE_OK;
    int threads = k->pool != NULL ? axle_pool_size(k->pool) : 1;
    if (threads < 1)
        threads = 1;
    /* m * m fits: it is at most the input's element count */
    size_t per = (size_t)(m * m) > 0 ? (size_t)(m * m) : 1;
    double *work = axle_kctx_scratch(k, (size_t)threads * per *
                                            sizeof(double));
    if (work == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "Det: no scratch memory");
    struct det_job j = {.x = x, .y = y, .m = m, .work = work};
    axle_pool_parallel_for(k->pool, batch, nr_grain(m * m * m + 1), det_task,
                           &j);
    return AXLE_OK;
}

const struct axle_op axle_op_det = {
    .name = "Det", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = det_infer, .run = det_run,
};
