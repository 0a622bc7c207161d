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
    /* perfect, depth 1..6, forest ranked: each split's threshold as its
     * index among the sorted distinct thresholds of its feature (the cuts;
     * 0xffff: never true), so that x >= t is rank(x) > index */
    uint16_t *pr;
    struct gnode *gn;   /* general */
    int32_t root_leaf;  /* general: root node index, or ~leaf for a stump */
};

/*
 * Single rows: up to 32 consecutive ranked trees side by side, one per
 * 16-bit lane (forest_avx512.c). Each tree is deepened to depth 6 (splits
 * below its own depth never send a row high, and its leaves are repeated to
 * match), and the group is stored split-major: split k of lane i at
 * [k * 32 + i].
 */
#define AXLE_ROW_GROUP 32
#define AXLE_ROW_GROUP_DEPTH 6
#define AXLE_ROW_GROUP_MAX_FEATURES 32

struct axle_row_group {
    int32_t first;                    /* the group's first tree */
    int32_t lanes;                    /* its trees: 4 .. 32 */
    int32_t target[AXLE_ROW_GROUP];
    /* 63 x 32: cut index << 6 | missing-high << 5 | feature (index 1023:
     * never high) */
    uint16_t *split;
    float *v;                         /* 64 x 32 leaves */
};

#define AXLE_ROW_GROUP_MAX_CUTS 1022 /* per feature: ranks fit in 10 bits */

/* Leaves of one row for groups g[0..n), from the row's ranks (ranks[0..32)
 * as they are, ranks[32..64) with NaN as 1023; used only with nan):
 * leaves[32 * i + lane] is what tree g[i].first + lane gives; or, with
 * sum, they are added to *sum one by one in tree order, in float, and
 * leaves is scratch for 32. */
/* ranks[0..32) of one row x (nf <= 32 features) against the cuts, and
 * ranks[32..64) the same with NaN as 1023; 0 past nf. */
void axle_forest_rank_row_avx512(const float *cuts, const int32_t *cut_off,
                                 int32_t nf, const float *x, uint16_t *ranks);

void axle_forest_row_groups_avx512(const struct axle_row_group *g, int32_t n,
                                   const uint16_t *ranks, bool nan,
                                   float *leaves, float *sum);

/* Walks rows [0, r) of n (r a multiple of 16) through perfect tree ct and
 * adds the leaves into acc[0..r) (one target, contiguous); returns r. */
int64_t axle_forest_walk16_avx512(const struct axle_forest_tree *ct,
                                  const float *x, int64_t n, int64_t stride,
                                  double *acc, bool accf, bool nan);

/* Adds trees cts[0..k) for rows [0, n) (n <= 64) of a block of ranks
 * (rank(x) = the number of the feature's cuts <= x, NaN 0) stored
 * feature-major with a row stride of 64 (xr[f * 64 + r], rows n .. 63
 * zero) into acc[r * as + target], where k is the length of the run of
 * ranked perfect trees of depth 1..6 at the start of cts; returns k.
 * Splits that send missing values high read xr + hi_off instead, the same
 * ranks with NaN as 0xfffe (hi_off 0 when the block has no NaN). */
/* The ranks xr of rows [0, n) of a block stored feature-major as floats
 * (xt[f * 64 + r]) against the forest's cuts; rows n .. 63 get 0, and with
 * nan the copy at xr + hi_off has NaN as 0xfffe. */
void axle_forest_rank_block_avx512(const float *cuts, const int32_t *cut_off,
                                   int32_t nf, const float *xt, int64_t n,
                                   bool nan, uint16_t *xr, int64_t hi_off);

int32_t axle_forest_full_avx512(const struct axle_forest_tree *cts,
                                int32_t n_trees, const uint16_t *xr,
                                int64_t hi_off, int64_t n, double *acc,
                                int64_t as, bool accf);

#endif
