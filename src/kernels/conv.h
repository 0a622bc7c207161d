/*
 * conv.h - shared pieces of the convolution and pooling kernels (conv.c,
 * conv_transpose.c, conv_dw.c, pool.c) and of MatMul/Gemm/Einsum: the
 * window geometry of ONNX Conv/ConvTranspose/MaxPool/AveragePool
 * (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode) and generic
 * element load/store for the dtypes that take the slow, exact path.
 */
#ifndef AXLE_KERNELS_CONV_H
#define AXLE_KERNELS_CONV_H

#include <stdbool.h>
#include <stdint.h>

#include "ir/op.h"
#include "ir/tensor.h"

/* Spatial dims a window op accepts (rank - 2). */
#define AXLE_CONV_MAX_SP (AXLE_MAX_RANK - 2)

enum axle_auto_pad {
    AXLE_PAD_NOTSET = 0,
    AXLE_PAD_SAME_UPPER,
    AXLE_PAD_SAME_LOWER,
    AXLE_PAD_VALID,
};

/* Attributes of a windowed op, validated; k[i] is -1 when the kernel size
 * is not known yet (weights of unknown shape at load). */
struct axle_conv_attrs {
    int nsp;
    int64_t k[AXLE_CONV_MAX_SP];
    int64_t s[AXLE_CONV_MAX_SP];
    int64_t d[AXLE_CONV_MAX_SP];
    int64_t pads[2 * AXLE_CONV_MAX_SP]; /* begins, then ends */
    enum axle_auto_pad auto_pad;
    bool ceil_mode;
};

/* Reads kernel_shape/strides/dilations/pads/auto_pad/ceil_mode of k->node.
 * kern: kernel sizes from the weights (NULL for pooling, where kernel_shape
 * is required). `what` names the op in messages. */
enum axle_status axle_conv_attrs_read(struct axle_kctx *k, const char *what,
                                      int nsp, const int64_t *kern,
                                      struct axle_conv_attrs *a);

/* Output size of spatial dim i for input size `in` (forward windows: Conv,
 * pooling) and the pads actually used. Returns -1 when in is not known,
 * -2 when the window does not fit (the caller reports it). */
int64_t axle_conv_out_dim(const struct axle_conv_attrs *a, int i, int64_t in,
                          int64_t *pb, int64_t *pe);

/* Concrete geometry of one run. */
struct axle_conv_geom {
    int nsp;
    int64_t in[AXLE_CONV_MAX_SP], out[AXLE_CONV_MAX_SP];
    int64_t k[AXLE_CONV_MAX_SP], s[AXLE_CONV_MAX_SP], d[AXLE_CONV_MAX_SP];
    int64_t pb[AXLE_CONV_MAX_SP], pe[AXLE_CONV_MAX_SP];
    int64_t in_size, out_size, k_size; /* products */
};

/* Fills g from attrs and concrete input spatial dims; errors when the
 * window does not fit. */
enum axle_status axle_conv_geom_make(struct axle_kctx *k, const char *what,
                                     const struct axle_conv_attrs *a,
                                     const int64_t *in_sp,
                                     struct axle_conv_geom *g);

/* Generic numeric access for the exact (non-float32) paths. */
static inline double axle_kx_load(enum axle_dtype dt, const void *p,
                                  int64_t i)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: return ((const float *)p)[i];
    case AXLE_DTYPE_FLOAT64: return ((const double *)p)[i];
    case AXLE_DTYPE_FLOAT16: return axle_f16_to_f32(((const uint16_t *)p)[i]);
    case AXLE_DTYPE_BFLOAT16:
        return axle_bf16_to_f32(((const uint16_t *)p)[i]);
    case AXLE_DTYPE_INT8: return ((const int8_t *)p)[i];
    case AXLE_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case AXLE_DTYPE_INT16: return ((const int16_t *)p)[i];
    case AXLE_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case AXLE_DTYPE_INT32: return ((const int32_t *)p)[i];
    case AXLE_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case AXLE_DTYPE_INT64: return (double)((const int64_t *)p)[i];
    case AXLE_DTYPE_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0.0;
    }
}

static inline void axle_kx_store(enum axle_dtype dt, void *p, int64_t i,
                                 double v)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: ((float *)p)[i] = (float)v; break;
    case AXLE_DTYPE_FLOAT64: ((double *)p)[i] = v; break;
    case AXLE_DTYPE_FLOAT16: ((uint16_t *)p)[i] = axle_f32_to_f16((float)v); break;
    case AXLE_DTYPE_BFLOAT16:
        ((uint16_t *)p)[i] = axle_f32_to_bf16((float)v);
        break;
    default: break; /* integer outputs use the int64 paths */
    }
}

static inline bool axle_kx_is_float(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT64 ||
           dt == AXLE_DTYPE_FLOAT16 || dt == AXLE_DTYPE_BFLOAT16;
}

/* Integer element as int64 (wrapping arithmetic is done in uint64). */
static inline int64_t axle_kx_load_i(enum axle_dtype dt, const void *p,
                                     int64_t i)
{
    switch (dt) {
    case AXLE_DTYPE_INT8: return ((const int8_t *)p)[i];
    case AXLE_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case AXLE_DTYPE_INT16: return ((const int16_t *)p)[i];
    case AXLE_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case AXLE_DTYPE_INT32: return ((const int32_t *)p)[i];
    case AXLE_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case AXLE_DTYPE_INT64: return ((const int64_t *)p)[i];
    case AXLE_DTYPE_UINT64: return (int64_t)((const uint64_t *)p)[i];
    default: return 0;
    }
}

static inline void axle_kx_store_i(enum axle_dtype dt, void *p, int64_t i,
                                   int64_t v)
{
    switch (dt) {
    case AXLE_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case AXLE_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case AXLE_DTYPE_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case AXLE_DTYPE_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case AXLE_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case AXLE_DTYPE_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case AXLE_DTYPE_INT64: ((int64_t *)p)[i] = v; break;
    case AXLE_DTYPE_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    default: break;
    }
}

/* Float32 conv pieces shared by conv.c and conv_dw*.c. */
struct axle_pool;

/* Floats of scratch the depthwise kernel needs per thread (0: none). */
size_t axle_conv_dw_scratch_floats(const struct axle_conv_geom *g);

/* Direct depthwise / channel-multiplier kernel (group == C, C/group == 1),
 * 2-D geometry (1-D mapped with H = 1). scratch: n_threads times
 * axle_conv_dw_scratch_floats(g) floats (may be NULL: slower path). */
void axle_conv_dw_run(struct axle_pool *pool, const struct axle_conv_geom *g,
                      int64_t N, int64_t C, int64_t M, const float *x,
                      const float *w, const float *bias, float *y,
                      enum axle_act act, float alpha, float beta,
                      float *scratch);

/* Output columns [*lo, *hi) of a 2-D conv whose kernel column kw reads
 * inside the input row (the direct depthwise planes' per-tap masks). */
static inline void axle_conv_tap_cols(const struct axle_conv_geom *g,
                                      int64_t kw, int64_t *lo, int64_t *hi)
{
    int64_t off = kw * g->d[1] - g->pb[1], sw = g->s[1], W = g->in[1];
    int64_t l = off >= 0 ? 0 : (-off + sw - 1) / sw;
    int64_t h = W - off <= 0 ? 0 : (W - off - 1) / sw + 1;

    if (h > g->out[1])
        h = g->out[1];
    *lo = l < h ? l : h;
    *hi = h;
}

/* Output rows [oh_begin, oh_end) of one depthwise plane, horizontal
 * stride 1 or 2 and kernel width <= 64, read straight from x with masked
 * loads (no padded copy); false (nothing done) for other geometries
 * (conv_dw_avx512.c). */
bool axle_conv_dw_plane_avx512(const struct axle_conv_geom *g,
                               const float *x, const float *w, float bias,
                               float *y, int64_t oh_begin, int64_t oh_end,
                               enum axle_act act, float alpha, float beta);

/* Small depthwise planes whose output rows are as wide as the input's
 * (stride 1, "same" width): output pixel p's tap t reads x[p + off[t]],
 * so a plane is one flat run of 16-pixel vectors and each tap one masked
 * load per vector; mask[t * nv + v] keeps the lanes whose tap lies inside
 * the image (and whose pixel exists). The same for every plane of a
 * layer (conv_dw.c builds it once). */
#define AXLE_DW_FLAT_MAX_VECS 256
#define AXLE_DW_FLAT_MAX_TAPS 64
#define AXLE_DW_FLAT_MAX_MASKS 8192 /* nv * n_taps */
struct axle_dw_flat {
    int nv, n_taps;
    int64_t n;    /* pixels per plane */
    int64_t off[AXLE_DW_FLAT_MAX_TAPS];
    uint16_t mask[AXLE_DW_FLAT_MAX_MASKS];
};
/* Vectors [v_begin, v_end) of one plane. */
void axle_conv_dw_flat_avx512(const struct axle_dw_flat *f, const float *x,
                              const float *w, float bias, float *y,
                              int v_begin, int v_end, enum axle_act act,
                              float alpha, float beta);

/* Rows of y: y[r][i] = act(y[r][i] + bias[r]) (bias may be NULL). */
void axle_conv_bias_act_avx512(float *y, int64_t rows, int64_t cols,
                               const float *bias, enum axle_act act,
                               float alpha, float beta);

/* y[i] = act(bias + sum_t w[t] * src[t][i]) for i < n (conv_dw_avx512.c). */
void axle_conv_dw_row_avx512(const float *const *src, const float *w,
                             int n_taps, float bias, float *y, int64_t n,
                             enum axle_act act, float alpha, float beta);

/* The transposed 1x1 path's store (conv.c): t holds rows pixels x cols
 * output channels (row pitch ldt); y[c * ldy + i] = act(t[i][c] +
 * res[c * ldy + i] + bias[c]) with res and bias optional, adding and
 * activating in the order and with the vector operations of the GEMM's
 * store loop, so the bits match it (conv_dw_avx512.c). */
void axle_conv_tstore_avx512(const float *t, int64_t ldt, int64_t rows,
                             int64_t cols, float *y, int64_t ldy,
                             const float *res, const float *bias,
                             enum axle_act act, float alpha, float beta);

/* dst[i] = src[2i] for i < n, reading src[0 .. 2n - 2] only. */
void axle_conv_gather2_avx512(const float *src, float *dst, int64_t n);

/* One run of an im2col panel row: dst[dst + t] = x[src + t * sw] for
 * lo <= t < hi and 0 for the other t < n (src may lie outside the plane
 * for the t that are not read). */
struct axle_conv_seg {
    int64_t dst, src, lo, hi, n;
};

/* For each of n_rows rows (dst += dst_step, x += x_step), writes the
 * segments (in increasing dst order, together covering [0, row_len) of the
 * row) with masked vector copies; sw is 1 or 2 (conv_dw_avx512.c). */
void axle_conv_pack_segs_avx512(float *dst, int64_t dst_step,
                                int64_t row_len, const float *x,
                                int64_t x_step, int64_t n_rows,
                                const struct axle_conv_seg *segs, int n_segs,
                                int64_t sw);

/* Im2col panel rows from a source where every kernel tap is a fixed offset
 * from the output position (conv.c, shifted packing): for c < n_ch and
 * t < n_taps, row (c * n_taps + t) of dst (row pitch stride) gets the nv
 * vectors x[c * plane + off[t] + i], i < 16 nv, with lanes off
 * mask[3 t + i / 16] set to 0 and never read (conv_dw_avx512.c). */
void axle_conv_pack_shifted_avx512(float *dst, int64_t stride, int nv,
                                   const float *x, int64_t plane,
                                   int64_t n_ch, const int64_t *off,
                                   int n_taps, const uint16_t *mask);

/* even[i] = src[2i], odd[i] = src[2i + 1] for i < n (conv_dw_avx512.c). */
void axle_conv_dw_split2_avx512(const float *src, float *even, float *odd,
                                int64_t n);

/* The same two on AVX2 + FMA (conv_dw_avx2.c). */
void axle_conv_dw_row_avx2(const float *const *src, const float *w, int n_taps, float bias,
                           float *y, int64_t n, enum axle_act act, float alpha, float beta);
void axle_conv_dw_split2_avx2(const float *src, float *even, float *odd, int64_t n);
/* axle_conv_dw_plane_avx512 on AVX2 + FMA, 8 columns per vector. */
bool axle_conv_dw_plane_avx2(const struct axle_conv_geom *g, const float *x, const float *w,
                             float bias, float *y, enum axle_act act, float alpha, float beta);
/* axle_conv_pack_shifted_avx512 with AVX2 masked loads (conv_dw_avx2.c). */
void axle_conv_pack_shifted_avx2(float *dst, int64_t stride, int nv, const float *x,
                                 int64_t plane, int64_t n_ch, const int64_t *off, int n_taps,
                                 const uint16_t *mask);

#endif
