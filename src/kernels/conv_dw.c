/*
 * conv_dw.c - direct float32 kernel for depthwise convolutions (group ==
 * input channels, one input channel per group, any channel multiplier),
 * the MobileNet layers where im2col + GEMM would move 9x the data for a
 * 1-row GEMM (PERF.md §1.2 item 4).
 *
 * AVX-512 or AVX2, horizontal stride 1 or 2 (AVX2: stride 2 on inputs up
 * to 32 wide): conv_dw_avx512.c / conv_dw_avx2.c read the taps straight
 * from X with masked loads, 8 output rows x 16 (8) columns per pass (no
 * copy).
 * Fast path (horizontal stride 1 or 2, up to DW_MAX_TAPS taps): the input
 * plane is copied once into a zero-padded per-thread buffer (for stride 2
 * split into even and odd columns), so every tap of an output row reads a
 * contiguous, in-bounds run; each output row is then one pass that keeps
 * the accumulators in registers (conv_dw_avx512.c, conv_dw_avx2.c, or the
 * portable loop below) with bias and the fused activation applied before the store.
 * Other geometries accumulate taps row-wise over the in-bounds column
 * range of each tap.
 */
#include <string.h>

#include "base/cpu.h"
#include "base/pool.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"

#define DW_MAX_TAPS 64

/* Longest input row the stride-2 path de-interleaves on the stack. */
#define DW_ROW_MAX 2048

struct dw_job {
    const struct axle_conv_geom *g;
    int64_t C, M;
    const float *x, *w, *bias;
    float *y;
    enum axle_act act;
    float alpha, beta;
    float *scratch;
    size_t per_thread;
    int n_slots; /* per-thread buffers in scratch */
    bool avx512, avx2;
};

/* Padded plane extents: rows/cols the windows reach, from padded row 0. */
static void padded_extent(const struct axle_conv_geom *g, int64_t *ph,
                          int64_t *pw)
{
    int64_t h = (g->out[0] - 1) * g->s[0] + (g->k[0] - 1) * g->d[0] + 1;
    int64_t w = (g->out[1] - 1) * g->s[1] + (g->k[1] - 1) * g->d[1] + 1;
    *ph = h;
    *pw = w;
}

static bool fast_ok(const struct axle_conv_geom *g)
{
    return (g->s[1] == 1 || g->s[1] == 2) &&
           g->k[0] * g->k[1] <= DW_MAX_TAPS && g->out[0] > 0 &&
           g->out[1] > 0;
}

size_t axle_conv_dw_scratch_floats(const struct axle_conv_geom *g)
{
    int64_t ph, pw;
    if (!fast_ok(g))
        return 0;
    padded_extent(g, &ph, &pw);
    /* stride 2: even and odd halves of ceil(pw / 2) columns each */
    return (size_t)(ph * (g->s[1] == 2 ? 2 * ((pw + 1) / 2) : pw)) + 16;
}

static void row_portable(const float *const *src, const float *w, int n_taps,
                         float bias, float *y, int64_t n, enum axle_act act,
                         float alpha, float beta)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = bias;
    for (int t = 0; t < n_taps; t++) {
        const float *s = src[t];
        float wv = w[t];
        for (int64_t i = 0; i < n; i++)
            y[i] += wv * s[i];
    }
    axle_act_apply(act, alpha, beta, y, (size_t)n);
}

static void dw_plane_fast(const struct dw_job *j, int64_t nm, float *buf)
{
    const struct axle_conv_geom *g = j->g;
    int64_t m = nm % j->M, n = nm / j->M;
    int64_t c = m / (j->M / j->C);
    int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    int64_t KH = g->k[0], KW = g->k[1], sh = g->s[0], sw = g->s[1];
    int64_t dh = g->d[0], dw = g->d[1], pt = g->pb[0], pl = g->pb[1];
    const float *x = j->x + (n * j->C + c) * H * W;
    const float *w = j->w + m * KH * KW;
    float *y = j->y + (n * j->M + m) * OH * OW;
    float bv = j->bias != NULL ? j->bias[m] : 0.0f;
    const float *src[DW_MAX_TAPS];
    int64_t PH, PW, half;

    padded_extent(g, &PH, &PW);
    half = (PW + 1) / 2;
    /* Padded row r holds input row r - pt; column q input column q - pl.
     * Interior runs are block copies (stride 1) or one de-interleave pass
     * (stride 2); only the few border columns take the checked loop. */
    for (int64_t r = 0; r < PH; r++) {
        int64_t ih = r - pt;
        bool row_in = ih >= 0 && ih < H;
        const float *xr = x + (row_in ? ih : 0) * W;
        if (sw == 1) {
            float *d = buf + r * PW;
            int64_t lo = pl < PW ? pl : PW, hi = pl + W < PW ? pl + W : PW;
            if (!row_in) {
                memset(d, 0, (size_t)PW * sizeof(float));
                continue;
            }
            memset(d, 0, (size_t)lo * sizeof(float));
            if (hi > lo)
                memcpy(d + lo, xr + lo - pl, (size_t)(hi - lo) * sizeof(float));
            else
                hi = lo;
            memset(d + hi, 0, (size_t)(PW - hi) * sizeof(float));
        } else {
            float *e = buf + r * half, *o = buf + (PH + r) * half;
            /* q with both 2q - pl and 2q + 1 - pl inside [0, W) */
            int64_t qlo = (pl + 1) / 2, qhi = (W + pl) / 2;
            if (!row_in) {
                memset(e, 0, (size_t)half * sizeof(float));
                memset(o, 0, (size_t)half * sizeof(float));
                continue;
            }
            if (qhi > half)
                qhi = half;
            if (qlo > qhi)
                qlo = qhi;
            for (int64_t q = 0; q < half; q++) {
                if (q == qlo)
                    q = qhi;
                if (q >= half)
                    break;
                int64_t iw0 = 2 * q - pl, iw1 = 2 * q + 1 - pl;
                e[q] = iw0 >= 0 && iw0 < W ? xr[iw0] : 0.0f;
                o[q] = iw1 >= 0 && iw1 < W ? xr[iw1] : 0.0f;
            }
            if (j->avx512)
                axle_conv_dw_split2_avx512(xr + 2 * qlo - pl, e + qlo,
                                           o + qlo, qhi - qlo);
            else if (j->avx2)
                axle_conv_dw_split2_avx2(xr + 2 * qlo - pl, e + qlo, o + qlo,
                                         qhi - qlo);
            else
                for (int64_t q = qlo; q < qhi; q++) {
                    e[q] = xr[2 * q - pl];
                    o[q] = xr[2 * q + 1 - pl];
                }
        }
    }
    for (int64_t oh = 0; oh < OH; oh++) {
        int t = 0;
        for (int64_t kh = 0; kh < KH; kh++) {
            int64_t r = oh * sh + kh * dh;
            for (int64_t kw = 0; kw < KW; kw++, t++) {
                int64_t col = kw * dw;
                if (sw == 1)
                    src[t] = buf + r * PW + col;
                else
                    src[t] = buf + ((col & 1) ? PH + r : r) * half + col / 2;
            }
        }
        if (j->avx512)
            axle_conv_dw_row_avx512(src, w, t, bv, y + oh * OW, OW, j->act,
                                    j->alpha, j->beta);
        else if (j->avx2)
            axle_conv_dw_row_avx2(src, w, t, bv, y + oh * OW, OW, j->act,
                                  j->alpha, j->beta);
        else
            row_portable(src, w, t, bv, y + oh * OW, OW, j->act, j->alpha,
                         j->beta);
    }
}

static void dw_plane(const struct dw_job *j, int64_t nm)
{
    const struct axle_conv_geom *g = j->g;
    int64_t m = nm % j->M, n = nm / j->M;
    int64_t mult = j->M / j->C, c = m / mult;
    int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    int64_t KH = g->k[0], KW = g->k[1];
    int64_t sh = g->s[0], sw = g->s[1], dh = g->d[0], dw = g->d[1];
    int64_t pt = g->pb[0], pl = g->pb[1];
    const float *x = j->x + (n * j->C + c) * H * W;
    const float *w = j->w + m * KH * KW;
    float *y = j->y + (n * j->M + m) * OH * OW;
    float bv = j->bias != NULL ? j->bias[m] : 0.0f;
    float even[DW_ROW_MAX / 2 + 1], odd[DW_ROW_MAX / 2 + 1];
    bool split2 = sw == 2 && W <= DW_ROW_MAX;

    for (int64_t oh = 0; oh < OH; oh++) {
        float *yr = y + oh * OW;
        for (int64_t ow = 0; ow < OW; ow++)
            yr[ow] = bv;
        for (int64_t kh = 0; kh < KH; kh++) {
            int64_t ih = oh * sh - pt + kh * dh;
            if (ih < 0 || ih >= H)
                continue;
            const float *xr = x + ih * W;
            if (split2) {
                for (int64_t i = 0; 2 * i < W; i++)
                    even[i] = xr[2 * i];
                for (int64_t i = 0; 2 * i + 1 < W; i++)
                    odd[i] = xr[2 * i + 1];
            }
            for (int64_t kw = 0; kw < KW; kw++) {
                float wv = w[kh * KW + kw];
                int64_t off = kw * dw - pl;
                int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
                if (hi > OW)
                    hi = OW;
                if (lo >= hi)
                    continue;
                if (sw == 1) {
                    for (int64_t ow = lo; ow < hi; ow++)
                        yr[ow] += wv * xr[ow + off];
                } else if (split2) {
                    /* input column 2*ow + off: parity of off picks the
                     * half, (off >> 1) the shift (off may be negative). */
                    const float *h = (off & 1) ? odd : even;
                    int64_t sh2 = (off - (off & 1)) / 2;
                    for (int64_t ow = lo; ow < hi; ow++)
                        yr[ow] += wv * h[ow + sh2];
                } else {
                    for (int64_t ow = lo; ow < hi; ow++)
                        yr[ow] += wv * xr[ow * sw + off];
                }
            }
        }
        axle_act_apply(j->act, j->alpha, j->beta, yr, (size_t)OW);
    }
}

/* AVX-512 and AVX2, stride 1: the plane straight from X with masked
 * loads (no copy). */
static bool dw_plane_direct(const struct dw_job *j, int64_t nm)
{
    const struct axle_conv_geom *g = j->g;
    int64_t m = nm % j->M, n = nm / j->M;
    int64_t c = m / (j->M / j->C);

    if (j->avx2)
        return axle_conv_dw_plane_avx2(
            g, j->x + (n * j->C + c) * g->in_size, j->w + m * g->k_size,
            j->bias != NULL ? j->bias[m] : 0.0f,
            j->y + (n * j->M + m) * g->out_size, j->act, j->alpha, j->beta);
    return axle_conv_dw_plane_avx512(
        g, j->x + (n * j->C + c) * g->in_size, j->w + m * g->k_size,
        j->bias != NULL ? j->bias[m] : 0.0f, j->y + (n * j->M + m) * g->out_size,
        j->act, j->alpha, j->beta);
}

static void dw_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct dw_job *j = ctx;

    for (int64_t i = begin; i < end; i++) {
        if ((j->avx512 || j->avx2) && dw_plane_direct(j, i))
            continue;
        if (j->scratch != NULL && tid >= 0 && tid < j->n_slots)
            dw_plane_fast(j, i, j->scratch + (size_t)tid * j->per_thread);
        else
            dw_plane(j, i);
    }
}

void axle_conv_dw_run(struct axle_pool *pool, const struct axle_conv_geom *g,
                      int64_t N, int64_t C, int64_t M, const float *x,
                      const float *w, const float *bias, float *y,
                      enum axle_act act, float alpha, float beta,
                      float *scratch)
{
    struct dw_job j = {
        .g = g, .C = C, .M = M, .x = x, .w = w, .bias = bias, .y = y,
        .act = act, .alpha = alpha, .beta = beta,
        .per_thread = axle_conv_dw_scratch_floats(g),
        .n_slots = axle_pool_size(pool),
        /* The GEMM's ISA (the CPU's, unless a test caps it). */
        .avx512 = axle_gemm_isa() >= AXLE_ISA_AVX512,
        .avx2 = axle_gemm_isa() == AXLE_ISA_AVX2,
    };

    j.scratch = j.per_thread > 0 ? scratch : NULL;
    int64_t work = g->out_size * g->k_size + 1;
    int64_t grain = 1 + (1 << 14) / work;

    axle_pool_parallel_for(pool, N * M, grain, dw_task, &j);
}
