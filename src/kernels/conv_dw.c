/*
 * conv_dw.c - direct float32 kernel for depthwise convolutions (group ==
 * input channels, one input channel per group, any channel multiplier),
 * the MobileNet layers where im2col + GEMM would move 9x the data for a
 * 1-row GEMM (PERF.md §1.2 item 4).
 *
 * Each output row accumulates kernel taps as whole-row multiply-adds over
 * the range of output columns whose input column is inside the image, so
 * the inner loop has no bounds checks and vectorizes (stride 1 contiguous,
 * stride 2 via a de-interleaved copy of the input row). Bias and the fused
 * activation are applied while the row is still in L1.
 */
#include <string.h>

#include "base/pool.h"
#include "kernels/conv.h"

/* Longest input row the stride-2 path de-interleaves on the stack. */
#define DW_ROW_MAX 2048

struct dw_job {
    const struct axle_conv_geom *g;
    int64_t C, M;
    const float *x, *w, *bias;
    float *y;
    enum axle_act act;
    float alpha, beta;
};

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

static void dw_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    for (int64_t i = begin; i < end; i++)
        dw_plane(ctx, i);
}

void axle_conv_dw_run(struct axle_pool *pool, const struct axle_conv_geom *g,
                      int64_t N, int64_t C, int64_t M, const float *x,
                      const float *w, const float *bias, float *y,
                      enum axle_act act, float alpha, float beta)
{
    struct dw_job j = {
        .g = g, .C = C, .M = M, .x = x, .w = w, .bias = bias, .y = y,
        .act = act, .alpha = alpha, .beta = beta,
    };
    int64_t work = g->out_size * g->k_size + 1;
    int64_t grain = 1 + (1 << 14) / work;

    axle_pool_parallel_for(pool, N * M, grain, dw_task, &j);
}
