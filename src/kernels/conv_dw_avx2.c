/*
 * conv_dw_avx2.c - AVX2 + FMA row kernel and stride-2 column split of the
 * depthwise convolution (conv_dw.c), for CPUs without AVX-512: one output
 * row = bias + sum over taps of w[t] * src[t][ow], 8 columns per vector,
 * four vectors per pass with the accumulators in registers (the portable
 * loop keeps them in memory, one read-modify-write pass over the row per
 * tap), masked loads for the tail; ReLU, LeakyRelu and Clip applied in
 * registers before the store; for horizontal stride 1 a direct plane
 * kernel that reads the taps from X with masked loads (8 output rows x 8
 * columns per pass, no padded copy: ~10 % off MobileNetV2 on one thread),
 * and for stride 2 on planes up to DW_S2_W_MAX wide the same kernel with
 * two loads and one shuffle per tap (MobileNetV2's 28x28 and 14x14
 * stride-2 layers 1.7x and 2.5x faster than the de-interleaved copy;
 * the 112- and 56-wide ones measured slower or even and keep the copy);
 * and the shifted im2col packing of conv.c. Compiled with -mavx2 -mfma;
 * called only after a cpuid check.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/conv.h"

static inline __m256 act8(__m256 v, enum axle_act act, __m256 a, __m256 b)
{
    __m256 zero = _mm256_setzero_ps();

    /* Constant first: max/min return the second operand for NaN, so NaN
     * passes through as in axle_act_apply. */
    switch (act) {
    case AXLE_ACT_RELU:
        return _mm256_max_ps(zero, v);
    case AXLE_ACT_LEAKY_RELU:
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, a), _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    case AXLE_ACT_CLIP:
        return _mm256_min_ps(b, _mm256_max_ps(a, v));
    default:
        return v;
    }
}

static inline __m256i tail_mask(int64_t left)
{
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - left));
}

void axle_conv_dw_row_avx2(const float *const *src, const float *w, int n_taps, float bias,
                           float *y, int64_t n, enum axle_act act, float alpha, float beta)
{
    int inl = act == AXLE_ACT_NONE || act == AXLE_ACT_RELU || act == AXLE_ACT_LEAKY_RELU ||
              act == AXLE_ACT_CLIP;
    enum axle_act a = inl ? act : AXLE_ACT_NONE;
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    __m256 vbias = _mm256_set1_ps(bias);
    int64_t i = 0;

    for (; i + 32 <= n; i += 32) {
        __m256 acc0 = vbias, acc1 = vbias, acc2 = vbias, acc3 = vbias;
        for (int t = 0; t < n_taps; t++) {
            __m256 wv = _mm256_set1_ps(w[t]);
            const float *s = src[t] + i;
            acc0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s), acc0);
            acc1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 8), acc1);
            acc2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 16), acc2);
            acc3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 24), acc3);
        }
        _mm256_storeu_ps(y + i, act8(acc0, a, va, vb));
        _mm256_storeu_ps(y + i + 8, act8(acc1, a, va, vb));
        _mm256_storeu_ps(y + i + 16, act8(acc2, a, va, vb));
        _mm256_storeu_ps(y + i + 24, act8(acc3, a, va, vb));
    }
    for (; i + 8 <= n; i += 8) {
        __m256 acc = vbias;
        for (int t = 0; t < n_taps; t++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(src[t] + i), acc);
        _mm256_storeu_ps(y + i, act8(acc, a, va, vb));
    }
    if (i < n) {
        /* Masked-off lanes are neither read nor written. */
        __m256i m = tail_mask(n - i);
        __m256 acc = vbias;
        for (int t = 0; t < n_taps; t++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_maskload_ps(src[t] + i, m), acc);
        _mm256_maskstore_ps(y + i, m, act8(acc, a, va, vb));
    }
    if (!inl)
        axle_act_apply(act, alpha, beta, y, (size_t)n);
}

void axle_conv_dw_split2_avx2(const float *src, float *even, float *odd, int64_t n)
{
    int64_t i = 0;

    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(src + 2 * i);     /* x0 .. x7 */
        __m256 b = _mm256_loadu_ps(src + 2 * i + 8); /* x8 .. x15 */
        /* Per 128-bit lane: [a0 a2 b0 b2 | a4 a6 b4 b6]; then the 64-bit
         * quarters reordered to [a0 a2 a4 a6 b0 b2 b4 b6]. */
        __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
        o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
        _mm256_storeu_ps(even + i, e);
        _mm256_storeu_ps(odd + i, o);
    }
    for (; i < n; i++) {
        even[i] = src[2 * i];
        odd[i] = src[2 * i + 1];
    }
}

/* 8 lanes of a 16-bit lane mask (bits 8h .. 8h + 7) as a vector mask. */
static inline __m256i lanes8(unsigned m8)
{
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i v = _mm256_and_si256(_mm256_set1_epi32((int)m8), bit);
    return _mm256_cmpeq_epi32(v, bit);
}

void axle_conv_pack_shifted_avx2(float *dst, int64_t stride, int nv, const float *x,
                                 int64_t plane, int64_t n_ch, const int64_t *off, int n_taps,
                                 const uint16_t *mask)
{
    for (int64_t c = 0; c < n_ch; c++, x += plane) {
        for (int t = 0; t < n_taps; t++, dst += stride) {
            /* Masked-off lanes are not read: off[t] may point before the
             * plane (top and left padding). */
            const float *src = x + off[t];
            const uint16_t *mk = mask + 3 * t;
            for (int v = 0; v < nv; v++) {
                unsigned m = mk[v];
                for (int h = 0; h < 2; h++) {
                    const float *sp = src + 16 * v + 8 * h;
                    unsigned m8 = (m >> (8 * h)) & 0xffu;
                    __m256 r = m8 == 0xffu   ? _mm256_loadu_ps(sp)
                               : m8 == 0 ? _mm256_setzero_ps()
                                         : _mm256_maskload_ps(sp, lanes8(m8));
                    _mm256_storeu_ps(dst + 16 * v + 8 * h, r);
                }
            }
        }
    }
}

/* ---- direct depthwise plane (stride 1, narrow stride 2) ------------- */

struct dwp2 {
    const float *x, *w;
    float *y;
    int64_t H, W, OW, KH, KW, sh, dh, dw, pt, pl;
    int64_t lo[64], hi[64]; /* per kw: output columns whose tap is inside */
    __m256i mk[64];         /* per kw: those lanes of the current block */
    __m256i mka[64], mkb[64]; /* stride 2: the same lanes as load masks */
    unsigned mb[64];        /* the same as bits */
    bool all_in;            /* every kw's lanes are all 8 in this block */
    __m256 vbias, va, vb;
    enum axle_act act;
};

/* Stride 2 reads from X only up to this input width. */
#define DW_S2_W_MAX 32

#define DW_INLINE static inline __attribute__((always_inline))

/* Lanes [lo - t0, hi - t0) of an 8-lane block as bits. */
static inline unsigned range8(int64_t t0, int64_t lo, int64_t hi)
{
    int64_t a = lo - t0, b = hi - t0;

    if (a < 0)
        a = 0;
    if (b > 8)
        b = 8;
    if (b <= a)
        return 0;
    return ((1u << b) - 1u) & ~((1u << a) - 1u);
}

/* Bits b0..b3 to bits 0, 2, 4, 6. */
static inline unsigned spread2(unsigned b)
{
    return (b & 1u) | (b & 2u) << 1 | (b & 4u) << 2 | (b & 8u) << 3;
}

/* R output rows from oh0, one 8-column block from ow0 (mo: columns that
 * exist), the taps read straight from the input rows with masked loads:
 * lanes outside the image read nothing and add 0. Taps go in (kh, kw)
 * order, as in the row kernel. */
DW_INLINE void dw2_rows(const struct dwp2 *p, int64_t oh0, int64_t ow0, unsigned mo,
                        __m256i vmo, const int R, const bool S2)
{
    __m256 acc[8];

#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        acc[r] = p->vbias;
    for (int64_t kh = 0; kh < p->KH; kh++) {
        int64_t ih0 = oh0 * p->sh - p->pt + kh * p->dh;
        int r_lo = 0, r_hi = R;
        while (r_lo < R && ih0 + r_lo * p->sh < 0)
            r_lo++;
        while (r_hi > r_lo && ih0 + (r_hi - 1) * p->sh >= p->H)
            r_hi--;
        const float *x0 = p->x + ih0 * p->W - p->pl + (S2 ? 2 * ow0 : ow0);
        const int64_t rs = p->sh * p->W;
        if (!S2 && r_lo == 0 && r_hi == R && p->all_in) {
            /* Interior: every row and lane in the image, so no row or
             * mask tests per tap (~10 % off the 112x112 and 56x56
             * stride-1 layers of MobileNetV2; stride 2 gained nothing). */
            const float *wk = p->w + kh * p->KW;
            for (int64_t kw = 0; kw < p->KW; kw++) {
                __m256 wv = _mm256_set1_ps(wk[kw]);
                const float *xk = x0 + kw * p->dw;
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    acc[r] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xk + r * rs), acc[r]);
            }
            continue;
        }
        for (int64_t kw = 0; kw < p->KW; kw++) {
            unsigned mi = p->mb[kw];
            if (mi == 0)
                continue;
            __m256 wv = _mm256_set1_ps(p->w[kh * p->KW + kw]);
            const float *xk = x0 + kw * p->dw;
            if (S2) {
                /* Columns 0..7 and 7..14 of the 15 the block spans; one
                 * in-lane shuffle takes the even ones in the lane order
                 * [0 1 4 5 2 3 6 7], which every tap shares and the store
                 * undoes. Never reads column 15 (past the last tap). */
                __m256i ma = p->mka[kw], mb = p->mkb[kw];
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    if (r >= r_lo && r < r_hi) {
                        const float *xr = xk + r * p->sh * p->W;
                        __m256 a, b;
                        if (mi == 0xffu) {
                            a = _mm256_loadu_ps(xr);
                            b = _mm256_loadu_ps(xr + 7);
                        } else {
                            a = _mm256_maskload_ps(xr, ma);
                            b = _mm256_maskload_ps(xr + 7, mb);
                        }
                        acc[r] = _mm256_fmadd_ps(
                            wv, _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 2, 0)), acc[r]);
                    }
            } else if (mi == 0xffu) {
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    if (r >= r_lo && r < r_hi)
                        acc[r] = _mm256_fmadd_ps(
                            wv, _mm256_loadu_ps(xk + r * p->sh * p->W), acc[r]);
            } else {
                __m256i m = p->mk[kw];
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    if (r >= r_lo && r < r_hi)
                        acc[r] = _mm256_fmadd_ps(
                            wv, _mm256_maskload_ps(xk + r * p->sh * p->W, m), acc[r]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        float *yp = p->y + (oh0 + r) * p->OW + ow0;
        __m256 v = act8(acc[r], p->act, p->va, p->vb);
        if (S2)
            v = _mm256_castpd_ps(
                _mm256_permute4x64_pd(_mm256_castps_pd(v), _MM_SHUFFLE(3, 1, 2, 0)));
        if (mo == 0xffu)
            _mm256_storeu_ps(yp, v);
        else
            _mm256_maskstore_ps(yp, vmo, v);
    }
}

#define DW2_CASE(R)                                                            \
    case R:                                                                    \
        if (s2)                                                                \
            dw2_rows(p, oh0, ow0, mo, vmo, R, true);                           \
        else                                                                   \
            dw2_rows(p, oh0, ow0, mo, vmo, R, false);                          \
        break;

static void dw2_rows_n(const struct dwp2 *p, int64_t oh0, int64_t ow0, unsigned mo,
                       __m256i vmo, int n_rows, bool s2)
{
    switch (n_rows) {
        DW2_CASE(1)
        DW2_CASE(2)
        DW2_CASE(3)
        DW2_CASE(4)
        DW2_CASE(5)
        DW2_CASE(6)
        DW2_CASE(7)
        DW2_CASE(8)
    default:
        break;
    }
}

bool axle_conv_dw_plane_avx2(const struct axle_conv_geom *g, const float *x, const float *w,
                             float bias, float *y, enum axle_act act, float alpha, float beta)
{
    bool inl = act == AXLE_ACT_NONE || act == AXLE_ACT_RELU || act == AXLE_ACT_LEAKY_RELU ||
               act == AXLE_ACT_CLIP;
    struct dwp2 p;
    int64_t OH = g->out[0];

    bool s2 = g->s[1] == 2;

    /* Wide stride-2 planes keep conv_dw.c's de-interleaved copy. */
    if ((g->s[1] != 1 && !s2) || (s2 && g->in[1] > DW_S2_W_MAX) || g->k[1] > 64)
        return false;
    p.x = x;
    p.w = w;
    p.y = y;
    p.H = g->in[0];
    p.W = g->in[1];
    p.OW = g->out[1];
    p.KH = g->k[0];
    p.KW = g->k[1];
    p.sh = g->s[0];
    p.dh = g->d[0];
    p.dw = g->d[1];
    p.pt = g->pb[0];
    p.pl = g->pb[1];
    p.vbias = _mm256_set1_ps(bias);
    p.va = _mm256_set1_ps(alpha);
    p.vb = _mm256_set1_ps(beta);
    p.act = inl ? act : AXLE_ACT_NONE;
    for (int64_t kw = 0; kw < p.KW; kw++)
        axle_conv_tap_cols(g, kw, &p.lo[kw], &p.hi[kw]);
    for (int64_t ow0 = 0; ow0 < p.OW; ow0 += 8) {
        int64_t left = p.OW - ow0;
        unsigned mo = left >= 8 ? 0xffu : (1u << left) - 1u;
        __m256i vmo = lanes8(mo);
        p.all_in = true;
        for (int64_t kw = 0; kw < p.KW; kw++) {
            p.mb[kw] = range8(ow0, p.lo[kw], p.hi[kw]) & mo;
            p.all_in = p.all_in && p.mb[kw] == 0xffu;
            p.mk[kw] = lanes8(p.mb[kw]);
            if (s2) {
                /* output lane l reads column 2l: lanes 0..3 from the
                 * first load's even columns, 4..7 from the second's odd
                 * ones */
                p.mka[kw] = lanes8(spread2(p.mb[kw] & 0xfu));
                p.mkb[kw] = lanes8(spread2(p.mb[kw] >> 4) << 1);
            }
        }
        for (int64_t oh0 = 0; oh0 < OH; oh0 += 8) {
            int n = OH - oh0 < 8 ? (int)(OH - oh0) : 8;
            dw2_rows_n(&p, oh0, ow0, mo, vmo, n, s2);
        }
    }
    if (!inl)
        axle_act_apply(act, alpha, beta, y, (size_t)(OH * p.OW));
    return true;
}
