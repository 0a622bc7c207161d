/*
 * conv_dw.c - direct float32 kernel for depthwise convolutions (group ==
 * input channels, one input channel per group, any channel multiplier),
 * the MobileNet layers where im2col + GEMM would move 9x the data for a
 * 1-row GEMM (PERF.md §1.2 item 4).
 *
 * AVX-512 or AVX2, horizontal stride 1 or 2 (AVX2: stride 2 on inputs up
 * to 32 wide): conv_dw_avx512.c / conv_dw_avx2.c read the taps straight
 * from X with masked loads, 8 output rows x 16 (8) columns per pass (no
 * copy). AVX-512, stride 1 with output rows as wide as the input's on
 * planes up to 4096 pixels: the plane as one flat run of 16-pixel
 * vectors, each tap one masked load at a fixed offset (struct
 * axle_dw_flat, its masks built once per layer), so 7x7 planes take 4
 * vectors per tap instead of 7 half-empty rows (MobileNetV2's 7x7 layers
 * 2.4x, 14x14 1.4x, 56x56 1.2x faster on one thread). Large planes run in
 * row bands that follow the threads' pixel shares (dw_band).
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
    const struct axle_dw_flat *flat; /* AVX-512 small planes, or NULL */
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

/* Bits [a, b) of a bitmap of 64-bit words. */
static void set_bits(uint64_t *bits, int64_t a, int64_t b)
{
    while (a < b) {
        int64_t word = a >> 6, end = (word + 1) << 6 < b ? (word + 1) << 6 : b;
        int n = (int)(end - a);
        uint64_t m = n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1);
        bits[word] |= m << (a & 63);
        a = end;
    }
}

/* The flat plan of g (struct axle_dw_flat), or false where it does not
 * apply: strides other than 1, output rows narrower or wider than the
 * input's, planes over AXLE_DW_FLAT_MAX_VECS vectors or masks over
 * AXLE_DW_FLAT_MAX_MASKS. */
static bool dw_flat_plan(const struct axle_conv_geom *g, struct axle_dw_flat *f)
{
    uint64_t bits[AXLE_DW_FLAT_MAX_VECS / 4];
    int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    int t = 0;

    if (g->s[0] != 1 || g->s[1] != 1 || OW != W ||
        g->k_size > AXLE_DW_FLAT_MAX_TAPS ||
        g->out_size > 16 * AXLE_DW_FLAT_MAX_VECS ||
        (g->out_size + 15) / 16 * g->k_size > AXLE_DW_FLAT_MAX_MASKS)
        return false;
    f->n = g->out_size;
    f->nv = (int)((g->out_size + 15) / 16);
    f->n_taps = (int)g->k_size;
    for (int64_t kh = 0; kh < g->k[0]; kh++) {
        for (int64_t kw = 0; kw < g->k[1]; kw++, t++) {
            int64_t dr = kh * g->d[0] - g->pb[0], dc = kw * g->d[1] - g->pb[1];
            int64_t lo, hi;
            axle_conv_tap_cols(g, kw, &lo, &hi);
            f->off[t] = dr * W + dc;
            memset(bits, 0, sizeof(bits));
            for (int64_t oh = 0; oh < OH && lo < hi; oh++) {
                if (oh + dr < 0 || oh + dr >= H)
                    continue;
                set_bits(bits, oh * OW + lo, oh * OW + hi);
            }
            for (int v = 0; v < f->nv; v++)
                f->mask[t * f->nv + v] =
                    (uint16_t)(bits[v >> 2] >> (16 * (v & 3)));
        }
    }
    return true;
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
        0, g->out[0], j->act, j->alpha, j->beta);
}

static void dw_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct dw_job *j = ctx;

    for (int64_t i = begin; i < end; i++) {
        if (j->flat != NULL) {
            int64_t m = i % j->M;
            axle_conv_dw_flat_avx512(
                j->flat, j->x + (i / (j->M / j->C)) * j->g->in_size,
                j->w + m * j->g->k_size, j->bias != NULL ? j->bias[m] : 0.0f,
                j->y + i * j->g->out_size, 0, j->flat->nv, j->act, j->alpha,
                j->beta);
            continue;
        }
        if ((j->avx512 || j->avx2) && dw_plane_direct(j, i))
            continue;
        if (j->scratch != NULL && tid >= 0 && tid < j->n_slots)
            dw_plane_fast(j, i, j->scratch + (size_t)tid * j->per_thread);
        else
            dw_plane(j, i);
    }
}

/* AVX-512: the work is (band, plane) items, band b of T covering output
 * rows (vectors, for flat planes) [b n / T, (b + 1) n / T) of a plane.
 * Slot t owns band t of every plane and takes the others' items only when
 * its own have run out: the layers around a depthwise one (1x1 GEMMs)
 * give each thread a contiguous share of the pixels of every channel, so
 * a thread reads back mostly what it wrote itself (splitting by plane
 * instead fetched half of every plane from the other core's cache:
 * MobileNetV2's 112x112 stride-2 layer scaled 1.25x on two threads).
 * Planes under DW_BAND_MIN_PIXELS stay whole, one plane per item: their
 * halves are too small to pay for an item each (MobileNetV2's 14x14 and
 * 7x7 layers ran 1.4x slower in bands, its 56x56 and 112x112 ones 1.2-1.6x
 * faster). */
#define DW_MAX_SLOTS 64
#define DW_BAND_MIN_PIXELS 2048

struct dw_bands {
    const struct dw_job *j;
    struct axle_share *shares;
    int n_slots;
    int64_t n_planes;
};

static void dw_band(const struct dw_bands *b, int64_t it)
{
    const struct dw_job *j = b->j;
    const struct axle_conv_geom *g = j->g;
    int64_t nm = it % b->n_planes, band = it / b->n_planes, m = nm % j->M;
    const float *x = j->x + (nm / (j->M / j->C)) * g->in_size;
    const float *w = j->w + m * g->k_size;
    float bv = j->bias != NULL ? j->bias[m] : 0.0f, *y = j->y + nm * g->out_size;

    if (j->flat != NULL) {
        int64_t nv = j->flat->nv;
        axle_conv_dw_flat_avx512(j->flat, x, w, bv, y,
                                 (int)(nv * band / b->n_slots),
                                 (int)(nv * (band + 1) / b->n_slots), j->act,
                                 j->alpha, j->beta);
    } else {
        int64_t oh = g->out[0];
        axle_conv_dw_plane_avx512(g, x, w, bv, y, oh * band / b->n_slots,
                                  oh * (band + 1) / b->n_slots, j->act,
                                  j->alpha, j->beta);
    }
}

static void dw_band_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct dw_bands *b = ctx;
    int64_t it;

    (void)end;
    (void)tid;
    while (axle_shares_next(b->shares, b->n_slots, (int)begin, &it))
        dw_band(b, it);
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

    struct axle_dw_flat flat;

    j.scratch = j.per_thread > 0 ? scratch : NULL;
    if (j.avx512 && dw_flat_plan(g, &flat))
        j.flat = &flat;
    if (j.avx512 && (j.flat != NULL || g->s[1] == 1 || g->s[1] == 2) &&
        g->k[1] <= 64 && g->out_size >= DW_BAND_MIN_PIXELS) {
        struct axle_share shares[DW_MAX_SLOTS];
        struct dw_bands b = {.j = &j, .shares = shares, .n_planes = N * M};
        b.n_slots = j.n_slots < 1 ? 1 : j.n_slots > DW_MAX_SLOTS ? DW_MAX_SLOTS
                                                                 : j.n_slots;
        /* slot t: band t of every plane */
        axle_shares_init(shares, b.n_slots, b.n_slots * b.n_planes);
        axle_pool_parallel_for(b.n_slots > 1 ? pool : NULL, b.n_slots, 1,
                               dw_band_task, &b);
        return;
    }
    int64_t work = g->out_size * g->k_size + 1;
    int64_t grain = 1 + (1 << 14) / work;

    axle_pool_parallel_for(pool, N * M, grain, dw_task, &j);
}
