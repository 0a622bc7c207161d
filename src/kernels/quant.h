/*
 * quant.h - shared pieces of the quantized operators (quant.c: Quantize /
 * Dequantize / DynamicQuantizeLinear; quant_matmul.c: QLinearMatMul,
 * MatMulInteger; quant_conv.c: QLinearConv, ConvInteger) and the 8-bit
 * integer GEMM they run on (quant_gemm.c, quant_gemm_avx2.c).
 *
 * The GEMM computes C[M, N] = A[M, K] x B[K, N] over int8/uint8 operands
 * with int32 accumulation. Both operands are packed first: A as int16 rows
 * (K padded to even), B as panels of AXLE_QGEMM_NR columns holding, for
 * each pair of k, the two values of every column side by side as int16,
 * so that one 32-byte load is the 8 pairs a vpmaddwd multiplies (widening
 * at pack time rather than in the inner loop: a third faster on Zen 3 for
 * twice the packed bytes). The raw
 * products ignore the zero points; the epilogue subtracts them through row
 * sums of A and column sums of B:
 *   sum_k (a - za)(b - zb) = raw - zb (rowsum - K za) - za colsum
 * in wrapping 32-bit arithmetic, which gives the exact int32 result
 * whenever that result fits (ONNX: "accumulation may overflow if and only
 * if in 32 bits").
 */
#ifndef AXLE_KERNELS_QUANT_H
#define AXLE_KERNELS_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/op.h"
#include "ir/tensor.h"

/* ---- quantization parameters -------------------------------------------- */

static inline bool axle_quant_is_q8(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_INT8 || dt == AXLE_DTYPE_UINT8;
}

/* A scale input: float32 (float16/bfloat16 too when allow_half), and, when
 * its data is known, every element finite and > 0. `what` names the op and
 * input in the message ("QLinearConv: w_scale"). */
enum axle_status axle_quant_check_scale(struct axle_kctx *k, const char *what,
                                        const struct axle_tensor *s,
                                        bool allow_half);
/* A zero point must have the dtype of the tensor it quantizes. */
enum axle_status axle_quant_check_zp(struct axle_kctx *k, const char *what,
                                     const struct axle_tensor *zp,
                                     enum axle_dtype want);

/* Inputs [0, n) must all be present (not omitted with an empty name). */
enum axle_status axle_quant_need_inputs(struct axle_kctx *k, const char *op,
                                        int n);

/* Element i of a scale (float32/float16/bfloat16) as float. */
float axle_quant_scale_at(const struct axle_tensor *s, int64_t i);
/* Element i of a zero point as int32; 0 when zp is NULL. */
int32_t axle_quant_zp_at(const struct axle_tensor *zp, int64_t i);

/* Saturation bounds of an 8-bit quantized dtype. */
static inline void axle_quant_bounds(enum axle_dtype dt, int32_t *lo,
                                     int32_t *hi)
{
    *lo = dt == AXLE_DTYPE_INT8 ? -128 : 0;
    *hi = dt == AXLE_DTYPE_INT8 ? 127 : 255;
}

/* Round half to even of a float already clamped to |v| < 2^22 (adding and
 * removing 1.5 * 2^23 leaves the integer part in the mantissa under the
 * default rounding mode; unlike rintf it vectorizes without SSE4.1). */
static inline float axle_quant_rint(float v)
{
    const float magic = 12582912.0f;
    return (v + magic) - magic;
}

/* y[i] = saturate(round(x[i] / scale) + zp) into int8 or uint8 (NaN gives
 * zp), for n elements. */
void axle_quant_f32_row(const float *x, int64_t n, float scale, int32_t zp,
                        enum axle_dtype ydt, void *y);

/* ---- int8 GEMM ------------------------------------------------------------ */

#define AXLE_QGEMM_NR 24 /* columns in one packed B panel */

/* int16 elements per packed A row (K rounded up to a multiple of 16). */
static inline int64_t axle_qgemm_a_stride(int64_t K)
{
    return (K + 15) & ~(int64_t)15;
}

/* Bytes of one packed B panel of K rows (K padded to even, int16). */
static inline int64_t axle_qgemm_panel_bytes(int64_t K)
{
    return ((K + 1) & ~(int64_t)1) * AXLE_QGEMM_NR * 2;
}

/* Bytes of a packed B of K x N. */
static inline int64_t axle_qgemm_b_bytes(int64_t K, int64_t N)
{
    return (N + AXLE_QGEMM_NR - 1) / AXLE_QGEMM_NR * axle_qgemm_panel_bytes(K);
}

/* rows x K 8-bit values (a[i * lda + k], signed or not) into int16 rows of
 * axle_qgemm_a_stride(K) (padding zeroed); rowsum[i] (may be NULL) gets
 * the sum of row i. */
void axle_qgemm_pack_a(const void *a, int64_t lda, int64_t rows, int64_t K,
                       bool a_signed, int16_t *dst, int32_t *rowsum);

/* K x N 8-bit values (b[k * ldb + j]) into int16 panels at dst (2-byte
 * aligned; padding zeroed);
 * colsum[j] (may be NULL) gets the sum of column j. */
void axle_qgemm_pack_b(const void *b, int64_t ldb, int64_t K, int64_t N,
                       bool b_signed, uint8_t *dst, int32_t *colsum);

/* What happens to the raw sums of a block. Row arrays are indexed from
 * the block's first row, column arrays from its first column; NULL arrays
 * fall back to the scalar beside them. */
struct axle_qgemm_epi {
    int64_t K;
    int32_t za, zb;          /* per-tensor zero points of A, B */
    const int32_t *za_row;   /* A's zero point per row */
    const int32_t *zb_col;   /* B's zero point per column */
    const int32_t *rowsum;   /* of A's rows: read when B has zero points */
    const int32_t *colsum;   /* of B's columns: read when A has them */
    const int32_t *bias_row; /* added to the exact int32 result */
    const int32_t *bias_col;
    /* Output: int32 (the corrected sums) or int8/uint8, requantized as
     * saturate(round(v * m) + yzp) with m = (mult_row ? mult_row[i] :
     * mult) times mult_col[j] when mult_col is given. */
    enum axle_dtype y_dtype;
    void *y; /* element (i, j) at i * ldy + j */
    int64_t ldy;
    float mult;
    const float *mult_row, *mult_col;
    int32_t yzp;
    const int32_t *yzp_row;
};

/* The epilogue alone, on raw sums cbuf[i * ldc + j] (i < m, j < n) that
 * another kernel computed (overwritten on the way). */
void axle_qgemm_epilogue(int64_t m, int64_t n, int32_t *cbuf, int64_t ldc,
                         const struct axle_qgemm_epi *e);

/* int32 elements of C buffer axle_qgemm_block needs for m x n. */
static inline int64_t axle_qgemm_block_c(int64_t m, int64_t n)
{
    return m * ((n + AXLE_QGEMM_NR - 1) / AXLE_QGEMM_NR * AXLE_QGEMM_NR);
}

/* On the calling thread: rows [0, m) of packed A (stride lda int16) times
 * columns [0, n) of packed B (starting at a panel), through the epilogue.
 * cbuf holds axle_qgemm_block_c(m, n) int32. */
void axle_qgemm_block(int64_t m, int64_t n, int64_t K, const int16_t *a,
                      int64_t lda, const uint8_t *bp,
                      const struct axle_qgemm_epi *e, int32_t *cbuf);

/* The whole product with the pool: int32 scratch axle_qgemm_scratch(M, N,
 * n_threads) elements, n_threads >= axle_pool_size(pool). */
int64_t axle_qgemm_scratch(int64_t M, int64_t N, int n_threads);
void axle_qgemm_run(struct axle_pool *pool, int n_threads, int64_t M,
                    int64_t N, int64_t K, const int16_t *a, int64_t lda,
                    const uint8_t *bp, const struct axle_qgemm_epi *e,
                    int32_t *scratch);

/* One-row products (GEMV) stream the whole of B once, so they read it as
 * bytes and widen in the kernel: panels of (K padded to even) x NR bytes,
 * the two k of a pair side by side per column. Half the bytes of the
 * int16 panels; a constant B keeps both forms. */
static inline int64_t axle_qgemm_b8_bytes(int64_t K, int64_t N)
{
    return (N + AXLE_QGEMM_NR - 1) / AXLE_QGEMM_NR *
           (((K + 1) & ~(int64_t)1) * AXLE_QGEMM_NR);
}

void axle_qgemm_pack_b8(const void *b, int64_t ldb, int64_t K, int64_t N,
                        uint8_t *dst);

/* Row a (packed like A) times the byte panels b8, columns [0, N), through
 * the epilogue (one row); scratch as axle_qgemm_scratch(1, N, n_threads). */
void axle_qgemv_run(struct axle_pool *pool, int n_threads, int64_t N,
                    int64_t K, const int16_t *a, const uint8_t *b8,
                    bool b_signed, const struct axle_qgemm_epi *e,
                    int32_t *scratch);

/* ---- kernels (contract between quant_gemm.c and quant_gemm_avx2.c) -------- */

/* c[i * ldc + j] (+)= sum over kp pairs p of a[i * lda + 2p + h] *
 * B(p, j, h) for i < m, j < AXLE_QGEMM_NR (the whole panel is computed;
 * padding columns are zeros), B(p, j, h) = b[(p * NR + j) * 2 + h], int16. */
struct axle_qgemm_tile {
    int64_t m, kp;
    const int16_t *a;
    int64_t lda;
    const int16_t *b;
    int32_t *c;
    int64_t ldc;
    bool acc_in; /* add to c instead of overwriting it */
};

void axle_qgemm_tile_scalar(const struct axle_qgemm_tile *t);
void axle_qgemm_tile_avx2(const struct axle_qgemm_tile *t);

/* c[j] = sum over kp pairs p of a[2p + h] * B8(p, j, h) for j < NR, with
 * B8(p, j, h) = b[(p * NR + j) * 2 + h], int8 or uint8 (c overwritten). */
void axle_qgemv_tile_scalar(const int16_t *a, const uint8_t *b, int64_t kp,
                            bool b_signed, int32_t *c);
void axle_qgemv_tile_avx2(const int16_t *a, const uint8_t *b, int64_t kp,
                          bool b_signed, int32_t *c);

/* Test hook: use the portable kernel even where AVX2 is available. */
void axle_qgemm_force_scalar(bool on);

#endif
