/*
 * fuzz_xgboost.c - F12 xgb_json: bytes -> sniff -> JSON or UBJSON reader ->
 * tree validator -> forest -> one evaluation (a row of NaNs, a row of
 * zeros, a row of small integers, so categorical sets, missing defaults and
 * both sides of thresholds are all walked).
 * Invariant: a clear status for every input, never a crash, a leak, a hang,
 * an out-of-bounds read, or an allocation past the limits. Walks are bounded
 * by the verified depth (SECURITY.md D30).
 *
 * Forests whose evaluation would be long (over 2^16 features, or 2^20
 * nodes) are imported but not evaluated: a valid model may legitimately be
 * big, and that would read as a hang under ASan without being one.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "import/xgboost/xgboost.h"
#include "ir/graph.h"
#include "ir/model.h"
#include "kernels/forest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct axle_ir_model *m = NULL;
    struct axle_err err;
    const struct axle_attr *a;
    const struct axle_forest *f;

    (void)axle_xgboost_sniff(data, size);
    if (axle_xgboost_import(data, size, &m, &err) != AXLE_OK)
        return 0;
    a = axle_node_attr(&m->graph->nodes[0], "forest");
    f = a != NULL ? a->opaque : NULL;
    if (f != NULL && f->n_features <= (1 << 16) && f->n_nodes <= (1 << 20)) {
        size_t nf = (size_t)f->n_features;
        float *x = axle_xcalloc(3 * nf, sizeof(float));
        double *s = axle_xcalloc(3 * (size_t)f->n_targets, sizeof(double));
        size_t wb = axle_forest_work_bytes(f, 3);
        void *work = wb ? axle_try_aligned(wb) : NULL;
        for (size_t j = 0; j < nf; j++) {
            x[j] = NAN;
            x[2 * nf + j] = (float)(j % 5);
        }
        if (wb == 0 || work != NULL) {
            axle_forest_scores(f, x, 3, f->n_features, s, work, NULL);
            for (int r = 0; r < 3; r++)
                axle_forest_transform_row(f, s + r * f->n_targets);
        }
        axle_free(work);
        axle_free(s);
        axle_free(x);
    }
    axle_ir_model_free(m);
    return 0;
}
