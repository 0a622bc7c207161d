/*
 * fuzz_lightgbm.c - LightGBM text models: bytes -> axle_lightgbm_import ->
 * forest validation and compilation -> one evaluation of a few rows (zeros,
 * NaNs, tiny values, infinities, values taken from the input bytes) through
 * both the block and the single-row paths, then the output transform.
 *
 * Invariants: a clear status for every input (never a crash, a leak, a
 * read past the buffer or an unbounded walk); on failure nothing is
 * returned and the message is set; on success the block and single-row
 * evaluations give the same scores, bit for bit.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "import/lightgbm/lightgbm.h"
#include "ir/graph.h"
#include "ir/model.h"
#include "kernels/forest.h"

#define ROWS 8

#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c))                                                            \
            abort();                                                         \
    } while (0)

static void evaluate(const struct axle_forest *f, const uint8_t *data,
                     size_t size)
{
    static const float special[] = {0.0f, -0.0f, NAN, 1e-36f, -1e-35f,
                                    INFINITY, -INFINITY, 1.0f, -1.0f, 3e9f};
    int64_t nf = f->n_features, T = f->n_targets;
    float *x;
    double *s, *one;
    void *work;

    /* Wide models are valid but make each run slow; the parse is what is
     * under test there. */
    if (nf > 4096 || T > 256)
        return;
    x = malloc((size_t)(ROWS * nf) * sizeof(float));
    s = malloc((size_t)(ROWS * T) * sizeof(double));
    one = malloc((size_t)T * sizeof(double));
    work = axle_try_aligned(axle_forest_work_bytes(f, ROWS) + 64);
    CHECK(x && s && one && work);
    for (int64_t i = 0; i < ROWS * nf; i++) {
        uint8_t b = size ? data[(size_t)i % size] : 0;
        x[i] = (i / nf) < 4 ? special[(size_t)(i + b) % 10]
                            : (float)(int8_t)b / 8.0f;
    }
    axle_forest_scores(f, x, ROWS, nf, s, work, NULL);
    for (int r = 0; r < ROWS; r++) {
        axle_forest_scores(f, x + r * nf, 1, nf, one, work, NULL);
        for (int64_t t = 0; t < T; t++) {
            double a = s[r * T + t], b = one[t];
            CHECK(a == b || (isnan(a) && isnan(b)));
        }
        axle_forest_transform_row(f, s + r * T);
    }
    axle_free(work);
    free(one);
    free(s);
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct axle_ir_model *m = (struct axle_ir_model *)1;
    struct axle_err err = {0};
    const struct axle_attr *a;

    if (axle_lightgbm_import(data, size, &m, &err) != AXLE_OK) {
        CHECK(m == NULL && err.msg[0] != '\0');
        return 0;
    }
    CHECK(m != NULL && m->graph->n_nodes == 1);
    a = axle_node_attr(&m->graph->nodes[0], "forest");
    CHECK(a != NULL && a->opaque != NULL);
    evaluate(a->opaque, data, size);
    axle_ir_model_free(m);
    return 0;
}
