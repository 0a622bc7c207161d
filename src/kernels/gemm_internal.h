/*
 * gemm_internal.h - the contract between the GEMM driver (gemm.c) and its
 * per-ISA macro-kernels (gemm_avx512.c, gemm_avx2.c, scalar in gemm.c).
 *
 * The driver cuts C into column strips of at most AXLE_GEMM_NR columns
 * (one packed weight panel, or a strip of a row-major B) and K blocks; a
 * tile call computes one strip for m rows over one K block, walking the
 * rows in register tiles so the B block is reused from L1.
 *
 * Batch invariance: every kernel computes each element of C as one chain
 * of fused multiply-adds in k order, starting from 0 (or, for K blocks
 * after the first, from the raw sum the previous block stored), whatever
 * m, the row tile or the thread that computes it. The epilogue (alpha,
 * beta, residual, bias, activation) is applied once, after the last K
 * block, in the same order everywhere. So a row's result does not depend
 * on how many rows are computed with it (tests/unit/test_batch_inv.c).
 */
#ifndef AXLE_KERNELS_GEMM_INTERNAL_H
#define AXLE_KERNELS_GEMM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/op.h"

/* Width of a packed weight panel: three 16-float vectors. The packed layout
 * is the same for every ISA, so a model packed once serves all of them. */
#define AXLE_GEMM_NR 48

struct axle_gemm_tile {
    int64_t m, n, k; /* 1 <= n <= AXLE_GEMM_NR, m >= 1, k >= 1 */
    /* A(i, kk) = a[i * a_rs + kk * a_cs] */
    const float *a;
    int64_t a_rs, a_cs;
    /* B(kk, j) = b[kk * ldb + j]; only columns j < n are read */
    const float *b;
    int64_t ldb;
    /* AVX-512 with m == 1 only (else NULL): two strips at once, columns
     * [0, AXLE_GEMM_NR) from b and [AXLE_GEMM_NR, n) from
     * B(kk, AXLE_GEMM_NR + j) = b2[kk * ldb2 + j], n <= 2 * AXLE_GEMM_NR.
     * With one FMA chain per output vector, one weight stream leaves too
     * few loads in flight to run at memory speed; two do. */
    const float *b2;
    int64_t ldb2;
    /* C(i, j) = c[i * ldc + j] */
    float *c;
    int64_t ldc;
    /* C = alpha * A B + beta * C; beta == 0: C is not read (may hold NaN).
     * beta must be 0 when the product is split into K blocks. */
    float alpha, beta;
    /* K blocks: acc_in starts the accumulators from C, the raw sums the
     * previous block stored; partial stores raw sums (no alpha, beta,
     * residual, bias or activation) because more blocks follow. */
    bool acc_in, partial;
    /* Added after alpha * AB + beta * C and before the bias:
     * res[i * ld_res + j] (Conv's fused residual), or NULL. May not
     * overlap C. */
    const float *res;
    int64_t ld_res;
    /* Epilogue, already offset to this tile: bias[j] per column, or bias[i]
     * per row. Only passed with the last K block. */
    const float *bias;
    bool bias_per_row;
    enum axle_act act;
    float act_alpha, act_beta;
    /* m == 1 streams: software-prefetch B rows ahead. Pays while the whole
     * weight matrix is cache-resident (L3); for DRAM streams the hardware
     * prefetcher does better alone (bench/gemm.sh, G8). */
    bool prefetch;
};

void axle_gemm_tile_scalar(const struct axle_gemm_tile *t);
void axle_gemm_tile_avx2(const struct axle_gemm_tile *t);
void axle_gemm_tile_avx512(const struct axle_gemm_tile *t);

/* Activations the vector store loops apply inline; the others are applied
 * with axle_act_apply on the stored, still cache-hot tile rows. */
static inline bool axle_gemm_act_is_simple(enum axle_act act)
{
    return act == AXLE_ACT_NONE || act == AXLE_ACT_RELU ||
           act == AXLE_ACT_LEAKY_RELU || act == AXLE_ACT_CLIP ||
           act == AXLE_ACT_HARD_SIGMOID || act == AXLE_ACT_HARD_SWISH;
}

#endif
