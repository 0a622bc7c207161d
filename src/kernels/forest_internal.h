/*
 * forest_internal.h - the compiled tree layout, shared by forest.c and its
 * ISA-specific walkers (forest_avx512.c). Not for importers.
 */
#ifndef AXLE_KERNELS_FOREST_INTERNAL_H
#define AXLE_KERNELS_FOREST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/forest.h"

union pslot {
    struct {
        float t;
        uint32_t f; /* feature | missing-goes-high << 31 */
    } n;
    double v;
};

struct gnode;

struct axle_forest_tree {
    bool perfect;
    int depth;
    int32_t target;     /* perfect: every leaf's target */
    union pslot *slots; /* perfect: 2^(depth+1) - 1, splits then leaves */
    /* perfect, for vector walks: the same splits as separate threshold
     * and feature arrays, and the leaf values (each padded by 32 zeros) */
    float *pt;
    int32_t *pf;
    double *pv;
    float *pvf;         /* perfect, depth <= 6, float leaves: 64 of them */
    struct gnode *gn;   /* general */
    int32_t root_leaf;  /* general: root node index, or ~leaf for a stump */
};

/* Walks rows [0, r) of n (r a multiple of 16) through perfect tree ct and
 * adds the leaves into acc[0..r) (one target, contiguous); returns r. */
int64_t axle_forest_walk16_avx512(const struct axle_forest_tree *ct,
                                  const float *x, int64_t n, int64_t stride,
                                  double *acc, bool accf, bool nan);

/* Adds trees cts[0..k) for rows [0, n) (n <= 64) of a block stored
 * feature-major with a row stride of 64 (xt[f * 64 + r], rows n ..
 * round_up(n, 16) zero) into acc[r * as + target], where k is the length
 * of the run of perfect trees of depth 1..6 at the start of cts; returns k.
 * Splits that send missing values high read xt + hi_off instead, the same
 * block with NaN as +inf (hi_off 0 when the block has no NaN). */
int32_t axle_forest_full_avx512(const struct axle_forest_tree *cts,
                                int32_t n_trees, const float *xt,
                                int64_t hi_off, int64_t n, double *acc,
                                int64_t as, bool accf);

#endif
