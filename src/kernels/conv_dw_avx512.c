/*
 * conv_dw_avx512.c - AVX-512 row kernel of the depthwise convolution
 * (conv_dw.c): one output row = bias + sum over taps of w[t] * src[t][ow],
 * 16 output columns per vector with a masked tail, the fused activation
 * applied in registers where it is a min/max/fma sequence; the direct
 * plane kernel (masked loads from X, no padded copy) for horizontal
 * stride 1 and, with two loads and one two-source permute per tap, stride
 * 2 (on the AMD EPYC AVX-512 box MobileNetV2's stride-2 layers ran 1.5-3x
 * faster this way than through the de-interleaved copy, at every width
 * from 14 to 112); rows and lanes wholly inside the image skip the per-tap
 * tests; the bias +
 * activation pass conv.c runs after a large (OpenBLAS) GEMM; and the
 * masked vector copies that build conv.c's im2col panels. Compiled with
 * -mavx512f/bw/dq/vl -mfma; called only after a cpuid check.
 */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/conv.h"
#include "kernels/transpose16_avx512.h"

static inline __m512 act_vec(__m512 v, enum axle_act act, __m512 a, __m512 b)
{
    __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), h;

    /* Operand order (constant first) lets NaN through, as axle_act_apply
     * does. */
    switch (act) {
    case AXLE_ACT_RELU:
        return _mm512_max_ps(zero, v);
    case AXLE_ACT_LEAKY_RELU:
        return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ),
                                  v, a);
    case AXLE_ACT_CLIP:
        return _mm512_min_ps(b, _mm512_max_ps(a, v));
    case AXLE_ACT_HARD_SIGMOID:
        h = _mm512_fmadd_ps(a, v, b);
        return _mm512_max_ps(zero, _mm512_min_ps(one, h));
    case AXLE_ACT_HARD_SWISH:
        h = _mm512_fmadd_ps(v, _mm512_set1_ps(1.0f / 6.0f),
                            _mm512_set1_ps(0.5f));
        return _mm512_mul_ps(v, _mm512_max_ps(zero, _mm512_min_ps(one, h)));
    default:
        return v;
    }
}

/* The activations act_vec applies; the others run after the store. */
static inline bool act_in_regs(enum axle_act act)
{
    return act == AXLE_ACT_NONE || act == AXLE_ACT_RELU ||
           act == AXLE_ACT_LEAKY_RELU || act == AXLE_ACT_CLIP ||
           act == AXLE_ACT_HARD_SIGMOID || act == AXLE_ACT_HARD_SWISH;
}

void axle_conv_dw_row_avx512(const float *const *src, const float *w,
                             int n_taps, float bias, float *y, int64_t n,
                             enum axle_act act, float alpha, float beta)
{
    bool inl = act_in_regs(act);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 vbias = _mm512_set1_ps(bias);
    enum axle_act a = inl ? act : AXLE_ACT_NONE;
    int64_t i = 0;

    for (; i + 32 <= n; i += 32) {
        __m512 acc0 = vbias, acc1 = vbias;
        for (int t = 0; t < n_taps; t++) {
            __m512 wv = _mm512_set1_ps(w[t]);
            acc0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src[t] + i), acc0);
            acc1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src[t] + i + 16),
                                   acc1);
        }
        _mm512_storeu_ps(y + i, act_vec(acc0, a, va, vb));
        _mm512_storeu_ps(y + i + 16, act_vec(acc1, a, va, vb));
    }
    for (; i < n; i += 16) {
        int64_t left = n - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff
                                 : (__mmask16)((1u << left) - 1u);
        __m512 acc = vbias;
        for (int t = 0; t < n_taps; t++)
            acc = _mm512_fmadd_ps(_mm512_set1_ps(w[t]),
                                  _mm512_maskz_loadu_ps(m, src[t] + i), acc);
        _mm512_mask_storeu_ps(y + i, m, act_vec(acc, a, va, vb));
    }
    if (!inl)
        axle_act_apply(act, alpha, beta, y, (size_t)n);
}

void axle_conv_bias_act_avx512(float *y, int64_t rows, int64_t cols,
                               const float *bias, enum axle_act act,
                               float alpha, float beta)
{
    bool inl = act_in_regs(act);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    enum axle_act a = inl ? act : AXLE_ACT_NONE;

    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * cols;
        __m512 vbias = _mm512_set1_ps(bias != NULL ? bias[r] : 0.0f);
        int64_t i = 0;
        for (; i + 16 <= cols; i += 16)
            _mm512_storeu_ps(yr + i,
                             act_vec(_mm512_add_ps(_mm512_loadu_ps(yr + i),
                                                   vbias),
                                     a, va, vb));
        if (i < cols) {
            __mmask16 m = (__mmask16)((1u << (cols - i)) - 1u);
            _mm512_mask_storeu_ps(
                yr + i, m,
                act_vec(_mm512_add_ps(_mm512_maskz_loadu_ps(m, yr + i),
                                      vbias),
                        a, va, vb));
        }
        if (!inl)
            axle_act_apply(act, alpha, beta, yr, (size_t)cols);
    }
}

void axle_conv_dw_split2_avx512(const float *src, float *even, float *odd,
                                int64_t n)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                        12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15,
                                        13, 11, 9, 7, 5, 3, 1);
    int64_t i = 0;

    for (; i + 16 <= n; i += 16) {
        __m512 a = _mm512_loadu_ps(src + 2 * i);
        __m512 b = _mm512_loadu_ps(src + 2 * i + 16);
        _mm512_storeu_ps(even + i, _mm512_permutex2var_ps(a, ie, b));
        _mm512_storeu_ps(odd + i, _mm512_permutex2var_ps(a, io, b));
    }
    if (i < n) {
        int64_t left = 2 * (n - i); /* 2..30 floats */
        __mmask16 ma = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1u);
        __mmask16 mb = (__mmask16)(left > 16 ? (1u << (left - 16)) - 1u : 0);
        __mmask16 mo = (__mmask16)((1u << (n - i)) - 1u);
        __m512 a = _mm512_maskz_loadu_ps(ma, src + 2 * i);
        __m512 b = _mm512_maskz_loadu_ps(mb, src + 2 * i + 16);
        _mm512_mask_storeu_ps(even + i, mo, _mm512_permutex2var_ps(a, ie, b));
        _mm512_mask_storeu_ps(odd + i, mo, _mm512_permutex2var_ps(a, io, b));
    }
}

void axle_conv_gather2_avx512(const float *src, float *dst, int64_t n)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                        12, 10, 8, 6, 4, 2, 0);
    int64_t i = 0;

    for (; i + 16 <= n; i += 16) {
        /* src[2i .. 2i + 30]: the last odd element is not read */
        __m512 a = _mm512_loadu_ps(src + 2 * i);
        __m512 b = _mm512_maskz_loadu_ps(0x7fff, src + 2 * i + 16);
        _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(a, ie, b));
    }
    if (i < n) {
        int64_t left = 2 * (n - i) - 1; /* 1..31 floats */
        __mmask16 ma = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1u);
        __mmask16 mb = (__mmask16)(left > 16 ? (1u << (left - 16)) - 1u : 0);
        __mmask16 mo = (__mmask16)((1u << (n - i)) - 1u);
        __m512 a = _mm512_maskz_loadu_ps(ma, src + 2 * i);
        __m512 b = _mm512_maskz_loadu_ps(mb, src + 2 * i + 16);
        _mm512_mask_storeu_ps(dst + i, mo, _mm512_permutex2var_ps(a, ie, b));
    }
}

/* Bits 0..7 of m spread to the even bits 0, 2, .., 14. */
static inline __mmask16 spread_even(unsigned m)
{
    m &= 0xffu;
    m = (m | (m << 4)) & 0x0f0fu;
    m = (m | (m << 2)) & 0x3333u;
    m = (m | (m << 1)) & 0x5555u;
    return (__mmask16)m;
}

/* Lanes t0 + i (i < 16) with lo <= t0 + i < hi. */
static inline unsigned range_mask(int64_t t0, int64_t lo, int64_t hi)
{
    int64_t a = lo - t0, b = hi - t0;

    if (a < 0)
        a = 0;
    if (b > 16)
        b = 16;
    if (b <= a)
        return 0;
    return (unsigned)(((1u << (b - a)) - 1u) << a);
}

void axle_conv_pack_segs_avx512(float *dst, int64_t dst_step,
                                int64_t row_len, const float *x,
                                int64_t x_step, int64_t n_rows,
                                const struct axle_conv_seg *segs, int n_segs,
                                int64_t sw)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                        12, 10, 8, 6, 4, 2, 0);

    for (int64_t r = 0; r < n_rows; r++, dst += dst_step, x += x_step) {
        for (int s = 0; s < n_segs; s++) {
            const struct axle_conv_seg *sg = &segs[s];
            float *d = dst + sg->dst;
            const float *xr = x + sg->src;
            for (int64_t t0 = 0; t0 < sg->n; t0 += 16) {
                unsigned mi = range_mask(t0, sg->lo, sg->hi);
                __m512 v;
                if (sw == 1) {
                    v = mi == 0xffffu
                            ? _mm512_loadu_ps(xr + t0)
                            : _mm512_maskz_loadu_ps((__mmask16)mi, xr + t0);
                } else {
                    /* lane i comes from xr[2 (t0 + i)]; masked lanes are
                     * never read, so windows at the image edge are safe */
                    __m512 a = _mm512_maskz_loadu_ps(spread_even(mi),
                                                     xr + 2 * t0);
                    __m512 b = _mm512_maskz_loadu_ps(spread_even(mi >> 8),
                                                     xr + 2 * t0 + 16);
                    v = _mm512_permutex2var_ps(a, ie, b);
                }
                /* Segments go left to right, so lanes past this one's end
                 * land where the next segment writes later; only a write
                 * past the row's end is masked. */
                if (sg->dst + t0 + 16 <= row_len)
                    _mm512_storeu_ps(d + t0, v);
                else
                    _mm512_mask_storeu_ps(
                        d + t0,
                        (__mmask16)((1u << (row_len - sg->dst - t0)) - 1u),
                        v);
            }
        }
    }
}

void axle_conv_pack_shifted_avx512(float *dst, int64_t stride, int nv,
                                   const float *x, int64_t plane,
                                   int64_t n_ch, const int64_t *off,
                                   int n_taps, const uint16_t *mask)
{
    for (int64_t c = 0; c < n_ch; c++, x += plane) {
        for (int t = 0; t < n_taps; t++, dst += stride) {
            /* Masked-off lanes are not read: off[t] may point before the
             * plane (top and left padding). */
            const float *src = x + off[t];
            const uint16_t *mk = mask + 3 * t;
            for (int v = 0; v < nv; v++)
                _mm512_storeu_ps(dst + 16 * v,
                                 _mm512_maskz_loadu_ps((__mmask16)mk[v],
                                                       src + 16 * v));
        }
    }
}

/* ---- direct depthwise plane (horizontal stride 1 or 2) -------------- */

struct dwp {
    const float *x, *w;
    float *y;
    int64_t H, W, OW, KH, KW, sh, dh, dw, pt, pl;
    int64_t lo[64], hi[64]; /* per kw: output columns whose tap is inside */
    unsigned mb[64];        /* per kw: those lanes of the current block */
    __mmask16 mka[64], mkb[64]; /* stride 2: the same as load masks */
    bool all_in;            /* every kw's lanes are all 16 in this block */
    __m512 vbias, va, vb;
    enum axle_act act;
};

#define DW_INLINE static inline __attribute__((always_inline))

/* R output rows from oh0, one 16-column block from ow0 (mo: columns that
 * exist). Each tap is a masked load straight from the input row: lanes
 * outside the image read nothing and add 0. Stride 2 loads the 31 columns
 * a block spans in two halves and takes the even ones with one permute. */
DW_INLINE void dw_rows(const struct dwp *p, int64_t oh0, int64_t ow0,
                       unsigned mo, const int R, const bool S2)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14,
                                        12, 10, 8, 6, 4, 2, 0);
    const int64_t rs = p->sh * p->W;
    __m512 acc[8];

#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        acc[r] = p->vbias;
    for (int64_t kh = 0; kh < p->KH; kh++) {
        /* rows of this tap row that lie inside the image */
        int64_t ih0 = oh0 * p->sh - p->pt + kh * p->dh;
        int r_lo = 0, r_hi = R;
        while (r_lo < R && ih0 + r_lo * p->sh < 0)
            r_lo++;
        while (r_hi > r_lo && ih0 + (r_hi - 1) * p->sh >= p->H)
            r_hi--;
        const float *x0 = p->x + ih0 * p->W - p->pl + (S2 ? 2 * ow0 : ow0);
        const float *wk = p->w + kh * p->KW;
        if (r_lo == 0 && r_hi == R && p->all_in) {
            /* Interior: every row and lane inside the image, so no row
             * or mask tests per tap. */
            for (int64_t kw = 0; kw < p->KW; kw++) {
                __m512 wv = _mm512_set1_ps(wk[kw]);
                const float *xk = x0 + kw * p->dw;
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) {
                    __m512 v;
                    if (S2) /* column 31 is past the last tap: not read */
                        v = _mm512_permutex2var_ps(
                            _mm512_loadu_ps(xk + r * rs), ie,
                            _mm512_maskz_loadu_ps(0x7fff, xk + r * rs + 16));
                    else
                        v = _mm512_loadu_ps(xk + r * rs);
                    acc[r] = _mm512_fmadd_ps(wv, v, acc[r]);
                }
            }
            continue;
        }
        for (int64_t kw = 0; kw < p->KW; kw++) {
            unsigned mi = p->mb[kw];
            const float *xk = x0 + kw * p->dw;
            if (mi == 0)
                continue;
            __m512 wv = _mm512_set1_ps(wk[kw]);
            __mmask16 ma = S2 ? p->mka[kw] : (__mmask16)mi;
            __mmask16 mb = p->mkb[kw];
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                __m512 v;
                if (r < r_lo || r >= r_hi)
                    continue;
                if (S2)
                    v = _mm512_permutex2var_ps(
                        _mm512_maskz_loadu_ps(ma, xk + r * rs), ie,
                        _mm512_maskz_loadu_ps(mb, xk + r * rs + 16));
                else
                    v = _mm512_maskz_loadu_ps(ma, xk + r * rs);
                acc[r] = _mm512_fmadd_ps(wv, v, acc[r]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        _mm512_mask_storeu_ps(p->y + (oh0 + r) * p->OW + ow0, (__mmask16)mo,
                              act_vec(acc[r], p->act, p->va, p->vb));
}

#define DW_CASE(R)                                                             \
    case R:                                                                    \
        if (s2)                                                                \
            dw_rows(p, oh0, ow0, mo, R, true);                                 \
        else                                                                   \
            dw_rows(p, oh0, ow0, mo, R, false);                                \
        break;

static void dw_rows_n(const struct dwp *p, int64_t oh0, int64_t ow0,
                      unsigned mo, int n_rows, bool s2)
{
    switch (n_rows) {
        DW_CASE(1)
        DW_CASE(2)
        DW_CASE(3)
        DW_CASE(4)
        DW_CASE(5)
        DW_CASE(6)
        DW_CASE(7)
        DW_CASE(8)
    default:
        break;
    }
}

bool axle_conv_dw_plane_avx512(const struct axle_conv_geom *g,
                               const float *x, const float *w, float bias,
                               float *y, int64_t oh_begin, int64_t oh_end,
                               enum axle_act act, float alpha, float beta)
{
    bool inl = act_in_regs(act);
    bool s2 = g->s[1] == 2;
    struct dwp p;

    if ((g->s[1] != 1 && !s2) || g->k[1] > 64)
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
    p.vbias = _mm512_set1_ps(bias);
    p.va = _mm512_set1_ps(alpha);
    p.vb = _mm512_set1_ps(beta);
    p.act = inl ? act : AXLE_ACT_NONE;
    for (int64_t kw = 0; kw < p.KW; kw++)
        axle_conv_tap_cols(g, kw, &p.lo[kw], &p.hi[kw]);
    for (int64_t ow0 = 0; ow0 < p.OW; ow0 += 16) {
        int64_t left = p.OW - ow0;
        unsigned mo = left >= 16 ? 0xffffu : (1u << left) - 1u;
        p.all_in = true;
        for (int64_t kw = 0; kw < p.KW; kw++) {
            p.mb[kw] = range_mask(ow0, p.lo[kw], p.hi[kw]) & mo;
            p.all_in = p.all_in && p.mb[kw] == 0xffffu;
            /* stride 2: lane l reads column 2l, lanes 0..7 from the
             * first load's even lanes, 8..15 from the second's */
            p.mka[kw] = spread_even(p.mb[kw]);
            p.mkb[kw] = spread_even(p.mb[kw] >> 8);
        }
        for (int64_t oh0 = oh_begin; oh0 < oh_end; oh0 += 8) {
            int n = oh_end - oh0 < 8 ? (int)(oh_end - oh0) : 8;
            dw_rows_n(&p, oh0, ow0, mo, n, s2);
        }
    }
    if (!inl)
        axle_act_apply(act, alpha, beta, y + oh_begin * p.OW,
                       (size_t)((oh_end - oh_begin) * p.OW));
    return true;
}

/* ---- flat small planes ------------------------------------------------ */

/* R vectors of 16 pixels from v0, every tap a masked load at a fixed
 * offset from the pixel (struct axle_dw_flat). */
DW_INLINE void dw_flat_block(const struct axle_dw_flat *f, const float *x,
                             const float *w, __m512 vbias, float *y, int v0,
                             enum axle_act act, __m512 va, __m512 vb,
                             const int R)
{
    __m512 acc[8];

#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        acc[r] = vbias;
    for (int t = 0; t < f->n_taps; t++) {
        __m512 wv = _mm512_set1_ps(w[t]);
        const float *xs = x + f->off[t] + 16 * v0;
        const uint16_t *mk = f->mask + t * f->nv + v0;
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[r] = _mm512_fmadd_ps(
                wv, _mm512_maskz_loadu_ps((__mmask16)mk[r], xs + 16 * r),
                acc[r]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        int64_t p0 = 16 * (int64_t)(v0 + r), left = f->n - p0;
        __mmask16 mo = left >= 16 ? (__mmask16)0xffff
                                  : (__mmask16)((1u << left) - 1u);
        _mm512_mask_storeu_ps(y + p0, mo, act_vec(acc[r], act, va, vb));
    }
}

#define DW_FLAT_CASE(R)                                                        \
    case R:                                                                    \
        dw_flat_block(f, x, w, vbias, y, v0, a, va, vb, R);                    \
        break;

void axle_conv_dw_flat_avx512(const struct axle_dw_flat *f, const float *x,
                              const float *w, float bias, float *y,
                              int v_begin, int v_end, enum axle_act act,
                              float alpha, float beta)
{
    bool inl = act_in_regs(act);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 vbias = _mm512_set1_ps(bias);
    enum axle_act a = inl ? act : AXLE_ACT_NONE;

    for (int v0 = v_begin; v0 < v_end; v0 += 8) {
        switch (v_end - v0 < 8 ? v_end - v0 : 8) {
            DW_FLAT_CASE(1)
            DW_FLAT_CASE(2)
            DW_FLAT_CASE(3)
            DW_FLAT_CASE(4)
            DW_FLAT_CASE(5)
            DW_FLAT_CASE(6)
            DW_FLAT_CASE(7)
            DW_FLAT_CASE(8)
        default:
            break;
        }
    }
    if (!inl && v_begin < v_end) {
        int64_t p0 = 16 * (int64_t)v_begin, p1 = 16 * (int64_t)v_end;
        axle_act_apply(act, alpha, beta, y + p0,
                       (size_t)((p1 < f->n ? p1 : f->n) - p0));
    }
}

void axle_conv_tstore_avx512(const float *t, int64_t ldt, int64_t rows,
                             int64_t cols, float *y, int64_t ldy,
                             const float *res, const float *bias,
                             enum axle_act act, float alpha, float beta)
{
    bool inl = act_in_regs(act);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);

    for (int64_t i0 = 0; i0 < rows; i0 += 16) {
        int64_t nr = rows - i0 < 16 ? rows - i0 : 16;
        __mmask16 pm = (__mmask16)((1u << nr) - 1u);
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            int64_t nc = cols - c0 < 16 ? cols - c0 : 16;
            __mmask16 cm = (__mmask16)((1u << nc) - 1u);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < nr ? _mm512_maskz_loadu_ps(cm, t + (i0 + i) * ldt + c0)
                              : _mm512_setzero_ps();
            axle_transpose16_avx512(r);
            for (int64_t c = 0; c < nc; c++) {
                float *yo = y + (c0 + c) * ldy + i0;
                __m512 v = r[c];
                if (res != NULL)
                    v = _mm512_add_ps(
                        v, _mm512_maskz_loadu_ps(pm, res + (c0 + c) * ldy + i0));
                if (bias != NULL)
                    v = _mm512_add_ps(v, _mm512_set1_ps(bias[c0 + c]));
                if (inl)
                    v = act_vec(v, act, va, vb);
                _mm512_mask_storeu_ps(yo, pm, v);
                if (!inl)
                    axle_act_apply(act, alpha, beta, yo, (size_t)nr);
            }
        }
    }
}
