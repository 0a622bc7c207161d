/*
 * gemm_internal.h - the contract between the GEMM driver (gemm.c) and its
 * per-ISA macro-kernels (gemm_avx512.c, gemm_avx2.c, scalar in gemm.c).
 *
 * The driver cuts C into column strips of at most AXLE_GEMM_NR columns
 * (one packed weight panel, or a strip of a row-major B) and K blocks; a
 * tile call computes one strip for m rows over one K block, walking the
 * rows in register tiles so the B block is reused from L1.
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
    /* C(i, j) = c[i * ldc + j] */
    float *c;
    int64_t ldc;
    /* C = alpha * A B + beta * C; beta == 0: C is not read (may hold NaN) */
    float alpha, beta;
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
