/*
 * gemm.h - single-precision matrix multiplication for the engine.
 *
 * Row-major throughout. Two entry points:
 *   axle_sgemm        - general C = alpha*op(A)*op(B) + beta*C, for operands
 *                       that change every run (activations x activations).
 *   axle_gemm_packed  - C = A * W (+ epilogue) where W is a constant weight
 *                       packed once at load by axle_gemm_pack; this is the
 *                       path Gemm/MatMul/Conv with constant weights take.
 * Both split work over the pool and pick their kernel by shape (M == 1
 * weight-streaming GEMV, small-M register-tiled kernels, large shapes
 * OpenBLAS or own micro-kernels) and by CPU features (AVX-512, AVX2, scalar).
 * Batch invariance: axle_gemm_packed and axle_gemm_block (and axle_sgemm
 * with B not transposed, up to AXLE_GEMM_SMALL_M rows) compute every
 * element of C as one chain of FMAs in k order, so a row's bits do not
 * depend on M, on the blocking or on the thread count, only on the ISA
 * (gemm_internal.h). The OpenBLAS paths of axle_sgemm (more rows, or B
 * transposed) make no such promise.
 */
#ifndef AXLE_KERNELS_GEMM_H
#define AXLE_KERNELS_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "axle/status.h"
#include "base/cpu.h"
#include "ir/op.h"

struct axle_pool;

/* Epilogue applied to each C element after the product:
 *   c = act(c + bias[col] (or bias[row] when bias_per_row)) */
struct axle_epilogue {
    const float *bias; /* NULL: none */
    bool bias_per_row;
    enum axle_act act;
    float alpha, beta; /* activation parameters (see enum axle_act) */
    /* axle_gemm_block only: c = act(c + bias + residual[i * ld + j]) with
     * residual indexed like C from this block's (0, 0) (Conv's fused
     * residual Add). NULL: none. It may not overlap C. */
    const float *residual;
    int64_t ld_residual;
};

void axle_sgemm(struct axle_pool *pool, bool trans_a, bool trans_b, int64_t M,
                int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                const struct axle_epilogue *ep);

/* A constant right-hand side W of logical shape [K, N] (trans: stored as
 * [N, K]) repacked into the kernels' panel layout. */
struct axle_packed_w;

enum axle_status axle_gemm_pack(bool trans, int64_t K, int64_t N,
                                const float *W, int64_t ldw,
                                struct axle_packed_w **out,
                                struct axle_err *err);
void axle_gemm_packed_free(struct axle_packed_w *pw);
int64_t axle_gemm_packed_k(const struct axle_packed_w *pw);
int64_t axle_gemm_packed_n(const struct axle_packed_w *pw);

/* C[M, N] = A[M, K] * W + epilogue. (beta = 0: C is overwritten.) */
void axle_gemm_packed(struct axle_pool *pool, int64_t M, const float *A,
                      int64_t lda, const struct axle_packed_w *pw, float *C,
                      int64_t ldc, const struct axle_epilogue *ep);

/* Building block for callers that do their own threading and packing of a
 * right-hand side that changes every run (Conv's im2col panels): on the
 * calling thread only, C[M, N] = A[M, K] * B + epilogue (C overwritten;
 * per-row bias is indexed from row 0 of this block). B is row-major with
 * leading dimension ldb, or, with ldb == 0, in the packed panel layout:
 * panel p (columns [p * AXLE_GEMM_PANEL, ...)) starts at
 * B + p * K * AXLE_GEMM_PANEL and holds K rows of axle_gemm_panel_stride()
 * floats, of which only the panel's real columns are read. */
#define AXLE_GEMM_PANEL 48
void axle_gemm_block(int64_t M, int64_t N, int64_t K, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float *C,
                     int64_t ldc, const struct axle_epilogue *ep);

/* axle_gemm_block with A(i, kk) = A[i * a_rs + kk * a_cs]: a_rs = 1
 * multiplies by the transpose of a row-major matrix (Conv's pixel tail,
 * conv.c). */
void axle_gemm_block_strided(int64_t M, int64_t N, int64_t K, const float *A,
                             int64_t a_rs, int64_t a_cs, const float *B,
                             int64_t ldb, float *C, int64_t ldc,
                             const struct axle_epilogue *ep);

/* Row stride of a panel of `width` (1..AXLE_GEMM_PANEL) columns. */
static inline int64_t axle_gemm_panel_stride(int64_t width)
{
    return width >= AXLE_GEMM_PANEL ? AXLE_GEMM_PANEL
                                    : (width + 15) & ~(int64_t)15;
}

/* axle_sgemm uses its own kernels for M up to this when B is not
 * transposed (small batches); OpenBLAS above. */
#define AXLE_GEMM_SMALL_M 16

/* Test and benchmark hook: cap the ISA of the GEMM kernels below what the
 * CPU offers (AXLE_ISA_AVX512 removes the cap). Not for use while another
 * thread is inside a GEMM call. */
void axle_gemm_force_isa(enum axle_isa isa);
/* The ISA the GEMM kernels use now: min(CPU/AXLE_ISA level, forced cap). */
enum axle_isa axle_gemm_isa(void);

#endif
