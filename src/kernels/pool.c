/*
 * pool.c - ONNX MaxPool (1-12: ceil_mode, dilations, storage_order, the
 * Indices output, float and int8/uint8), AveragePool (1-19 attributes:
 * count_include_pad, ceil_mode, dilations), GlobalAveragePool and
 * GlobalMaxPool, for 1-D, 2-D and 3-D (any number of spatial dims);
 * LpPool (1, 2, 11, 18: p, auto_pad, pads, strides; dilations and
 * ceil_mode) and GlobalLpPool (1, 2), y = (sum |x|^p)^(1/p) over the
 * window, padding contributing nothing. LpPool-1/GlobalLpPool-1 give p as
 * a float, later versions as an int; both are read as a number > 0.
 *
 * Float32 2-D pooling without Indices runs row-wise: every kernel tap is a
 * max / add over the contiguous range of output columns it covers, so the
 * inner loops vectorize over output width; with horizontal stride 2 each
 * input row is first split into its even and odd columns (ResNet's 3x3/2
 * MaxPool would otherwise be a strided scalar loop). Planes are split over
 * the pool.
 * Everything else (Indices, other dtypes, 3-D, LpPool) takes an exact
 * generic loop.
 */
#include <math.h>
#include <string.h>

#include "base/cpu.h"
#include "base/err.h"
#include "base/pool.h"
#include "kernels/conv.h"

/* Longest input row the stride-2 path splits on the stack. */
#define POOL_ROW_MAX 2048

enum pool_kind { POOL_MAX, POOL_AVG, POOL_LP };

/* |v|^p for the Lp pools, with the common p exact. */
static double lp_pow(double v, double p)
{
    v = fabs(v);
    return p == 1.0 ? v : p == 2.0 ? v * v : pow(v, p);
}

static double lp_root(double s, double p)
{
    return p == 1.0 ? s : p == 2.0 ? sqrt(s) : pow(s, 1.0 / p);
}

static enum axle_status lp_read_p(struct axle_kctx *k, double *p)
{
    *p = axle_node_attr_float(k->node, "p", 2.0f);
    if (!(*p > 0.0) || isinf(*p))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: p must be a positive number",
                            k->node->op_type);
    return AXLE_OK;
}

static bool pool_dtype_ok(enum pool_kind kind, enum axle_dtype dt)
{
    if (axle_kx_is_float(dt))
        return true;
    return kind == POOL_MAX &&
           (dt == AXLE_DTYPE_INT8 || dt == AXLE_DTYPE_UINT8);
}

static enum axle_status pool_infer_common(struct axle_kctx *k,
                                          enum pool_kind kind,
                                          const char *what)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    struct axle_tensor *ind = k->n_outputs > 1 ? k->out[1] : NULL;
    struct axle_conv_attrs a;
    enum axle_status st;
    int64_t so;

    if (x->dtype != AXLE_DTYPE_UNDEFINED && !pool_dtype_ok(kind, x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: unsupported input dtype %s", what,
                            axle_dtype_name(x->dtype));
    if (kind == POOL_LP) {
        double p;
        if ((st = lp_read_p(k, &p)) != AXLE_OK)
            return st;
    }
    so = axle_node_attr_int(k->node, "storage_order", 0);
    if (so != 0 && so != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: storage_order must be 0 or 1", what);
    if (kind == POOL_AVG) {
        int64_t cip = axle_node_attr_int(k->node, "count_include_pad", 0);
        if (cip != 0 && cip != 1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: count_include_pad must be 0 or 1",
                                what);
    }
    y->dtype = x->dtype;
    if (ind != NULL)
        ind->dtype = AXLE_DTYPE_INT64;
    if (x->rank < 0) {
        y->rank = -1;
        if (ind != NULL)
            ind->rank = -1;
        return AXLE_OK;
    }
    if (x->rank < 3)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: X has rank %d, expected at least 3", what,
                            x->rank);
    st = axle_conv_attrs_read(k, what, x->rank - 2, NULL, &a);
    if (st != AXLE_OK)
        return st;
    y->rank = x->rank;
    y->dims[0] = x->dims[0];
    y->dims[1] = x->dims[1];
    for (int i = 0; i < x->rank - 2; i++) {
        int64_t pb, pe;
        int64_t o = axle_conv_out_dim(&a, i, x->dims[2 + i], &pb, &pe);
        if (o == -2)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: spatial dim %d of size %lld is smaller "
                                "than the window", what, i,
                                (long long)x->dims[2 + i]);
        y->dims[2 + i] = o;
    }
    if (ind != NULL) {
        ind->rank = y->rank;
        memcpy(ind->dims, y->dims, sizeof(y->dims));
    }
    return AXLE_OK;
}

static enum axle_status maxpool_infer(struct axle_kctx *k)
{
    return pool_infer_common(k, POOL_MAX, "MaxPool");
}

static enum axle_status avgpool_infer(struct axle_kctx *k)
{
    return pool_infer_common(k, POOL_AVG, "AveragePool");
}

static enum axle_status lppool_infer(struct axle_kctx *k)
{
    return pool_infer_common(k, POOL_LP, "LpPool");
}

/* ---- float32 2-D row kernel -------------------------------------------- */

struct pool_job {
    const struct axle_conv_geom *g;
    enum pool_kind kind;
    bool include_pad;
    const void *x;
    void *y;
    int64_t *ind;
    enum axle_dtype dt;
    bool col_major;
    bool avx512; /* vector row split for stride 2 */
    int64_t C;
    double p; /* LpPool */
};

/* Taps of dim i that fall inside [lo_lim, hi_lim) for output o. */
static int64_t count_taps(const struct axle_conv_geom *g, int i, int64_t o,
                          int64_t lo_lim, int64_t hi_lim)
{
    int64_t cnt = 0;
    for (int64_t kk = 0; kk < g->k[i]; kk++) {
        int64_t ii = o * g->s[i] - g->pb[i] + kk * g->d[i];
        if (ii >= lo_lim && ii < hi_lim)
            cnt++;
    }
    return cnt;
}

/* Max pooling of one plane, W <= POOL_ROW_MAX: per output row, the
 * element-wise max of its input rows first (contiguous), then the max
 * over the kernel width of that one row (split into even and odd columns
 * for stride 2). The same `v > y ? v : y` as the general loop, starting
 * from -inf: NaN is never selected, so the order of taps does not change
 * the result. */
static void maxpool2d_rows_f32(const struct pool_job *j, int64_t plane,
                               int64_t oh_begin, int64_t oh_end)
{
    const struct axle_conv_geom *g = j->g;
    int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    int64_t KH = g->k[0], KW = g->k[1];
    int64_t sh = g->s[0], sw = g->s[1], dh = g->d[0], dw = g->d[1];
    int64_t pt = g->pb[0], pl = g->pb[1];
    const float *x = (const float *)j->x + plane * H * W;
    float *y = (float *)j->y + plane * OH * OW;
    float vm[POOL_ROW_MAX], even[POOL_ROW_MAX / 2 + 1],
        odd[POOL_ROW_MAX / 2 + 1];

    (void)OH;
    for (int64_t oh = oh_begin; oh < oh_end; oh++) {
        float *restrict yr = y + oh * OW;
        for (int64_t iw = 0; iw < W; iw++)
            vm[iw] = -INFINITY;
        for (int64_t kh = 0; kh < KH; kh++) {
            int64_t ih = oh * sh - pt + kh * dh;
            if (ih < 0 || ih >= H)
                continue;
            const float *restrict xr = x + ih * W;
            for (int64_t iw = 0; iw < W; iw++)
                vm[iw] = xr[iw] > vm[iw] ? xr[iw] : vm[iw];
        }
        if (sw == 2) {
            if (j->avx512)
                axle_conv_dw_split2_avx512(vm, even, odd, W / 2);
            else
                for (int64_t i = 0; i < W / 2; i++) {
                    even[i] = vm[2 * i];
                    odd[i] = vm[2 * i + 1];
                }
            if (W % 2)
                even[W / 2] = vm[W - 1];
        }
        for (int64_t ow = 0; ow < OW; ow++)
            yr[ow] = -INFINITY;
        for (int64_t kw = 0; kw < KW; kw++) {
            int64_t off = kw * dw - pl;
            int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
            int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
            if (hi > OW)
                hi = OW;
            if (sw == 2) {
                const float *h = (off & 1) ? odd : even;
                int64_t sh2 = (off - (off & 1)) / 2;
                for (int64_t ow = lo; ow < hi; ow++) {
                    float v = h[ow + sh2];
                    yr[ow] = v > yr[ow] ? v : yr[ow];
                }
            } else {
                for (int64_t ow = lo; ow < hi; ow++) {
                    float v = vm[ow * sw + off];
                    yr[ow] = v > yr[ow] ? v : yr[ow];
                }
            }
        }
    }
}

static void maxpool2d_plane_f32(const struct pool_job *j, int64_t plane)
{
    maxpool2d_rows_f32(j, plane, 0, j->g->out[0]);
}

static void pool2d_plane_f32(const struct pool_job *j, int64_t plane)
{
    const struct axle_conv_geom *g = j->g;
    int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    int64_t KH = g->k[0], KW = g->k[1];
    int64_t sh = g->s[0], sw = g->s[1], dh = g->d[0], dw = g->d[1];
    int64_t pt = g->pb[0], pl = g->pb[1];
    const float *x = (const float *)j->x + plane * H * W;
    float *y = (float *)j->y + plane * OH * OW;
    bool is_max = j->kind == POOL_MAX;
    float even[POOL_ROW_MAX / 2 + 1], odd[POOL_ROW_MAX / 2 + 1];
    bool split2 = sw == 2 && W <= POOL_ROW_MAX;

    for (int64_t oh = 0; oh < OH; oh++) {
        float *yr = y + oh * OW;
        for (int64_t ow = 0; ow < OW; ow++)
            yr[ow] = is_max ? -INFINITY : 0.0f;
        for (int64_t kh = 0; kh < KH; kh++) {
            int64_t ih = oh * sh - pt + kh * dh;
            if (ih < 0 || ih >= H)
                continue;
            const float *xr = x + ih * W;
            if (split2) {
                if (j->avx512)
                    axle_conv_dw_split2_avx512(xr, even, odd, W / 2);
                else
                    for (int64_t i = 0; i < W / 2; i++) {
                        even[i] = xr[2 * i];
                        odd[i] = xr[2 * i + 1];
                    }
                if (W % 2)
                    even[W / 2] = xr[W - 1];
            }
            for (int64_t kw = 0; kw < KW; kw++) {
                int64_t off = kw * dw - pl;
                int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
                if (hi > OW)
                    hi = OW;
                if (split2) {
                    /* input column 2 ow + off: the parity of off picks
                     * the half, floor(off / 2) the shift */
                    const float *h = (off & 1) ? odd : even;
                    int64_t sh2 = (off - (off & 1)) / 2;
                    if (is_max)
                        for (int64_t ow = lo; ow < hi; ow++) {
                            float v = h[ow + sh2];
                            yr[ow] = v > yr[ow] ? v : yr[ow];
                        }
                    else
                        for (int64_t ow = lo; ow < hi; ow++)
                            yr[ow] += h[ow + sh2];
                    continue;
                }
                if (is_max) {
                    if (sw == 1)
                        for (int64_t ow = lo; ow < hi; ow++) {
                            float v = xr[ow + off];
                            yr[ow] = v > yr[ow] ? v : yr[ow];
                        }
                    else
                        for (int64_t ow = lo; ow < hi; ow++) {
                            float v = xr[ow * sw + off];
                            yr[ow] = v > yr[ow] ? v : yr[ow];
                        }
                } else {
                    if (sw == 1)
                        for (int64_t ow = lo; ow < hi; ow++)
                            yr[ow] += xr[ow + off];
                    else
                        for (int64_t ow = lo; ow < hi; ow++)
                            yr[ow] += xr[ow * sw + off];
                }
            }
        }
        if (!is_max) {
            int64_t ch = j->include_pad
                             ? count_taps(g, 0, oh, -pt, H + g->pe[0])
                             : count_taps(g, 0, oh, 0, H);
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t cw = j->include_pad
                                 ? count_taps(g, 1, ow, -pl, W + g->pe[1])
                                 : count_taps(g, 1, ow, 0, W);
                int64_t cnt = ch * cw;
                yr[ow] = cnt > 0 ? yr[ow] / (float)cnt : 0.0f;
            }
        }
    }
}

/* ---- generic N-D kernel ------------------------------------------------ */

static void pool_plane_generic(const struct pool_job *j, int64_t plane)
{
    const struct axle_conv_geom *g = j->g;
    int nsp = g->nsp;
    bool is_max = j->kind == POOL_MAX;
    bool is_int = !axle_kx_is_float(j->dt);
    int64_t xbase = plane * g->in_size;

    for (int64_t p = 0; p < g->out_size; p++) {
        int64_t o[AXLE_CONV_MAX_SP], rem = p;
        double best = -INFINITY, sum = 0.0;
        int64_t best_idx = -1, cnt = 0, cnt_pad = 1;
        for (int i = nsp - 1; i >= 0; i--) {
            o[i] = rem % g->out[i];
            rem /= g->out[i];
        }
        for (int i = 0; i < nsp; i++)
            cnt_pad *= count_taps(g, i, o[i], -g->pb[i],
                                  g->in[i] + g->pe[i]);
        for (int64_t kk = 0; kk < g->k_size; kk++) {
            int64_t kr = kk, kidx[AXLE_CONV_MAX_SP], ii[AXLE_CONV_MAX_SP];
            int64_t idx = 0;
            bool inside = true;
            for (int i = nsp - 1; i >= 0; i--) {
                kidx[i] = kr % g->k[i];
                kr /= g->k[i];
            }
            for (int i = 0; i < nsp && inside; i++) {
                ii[i] = o[i] * g->s[i] - g->pb[i] + kidx[i] * g->d[i];
                inside = ii[i] >= 0 && ii[i] < g->in[i];
                idx = idx * g->in[i] + ii[i];
            }
            if (!inside)
                continue;
            double v = is_int ? (double)axle_kx_load_i(j->dt, j->x,
                                                       xbase + idx)
                              : axle_kx_load(j->dt, j->x, xbase + idx);
            if (is_max) {
                if (best_idx < 0 || v > best) {
                    best = v;
                    if (j->col_major) {
                        int64_t ci = 0;
                        for (int i = nsp - 1; i >= 0; i--)
                            ci = ci * g->in[i] + ii[i];
                        best_idx = ci;
                    } else {
                        best_idx = idx;
                    }
                }
            } else if (j->kind == POOL_LP) {
                sum += lp_pow(v, j->p);
            } else {
                sum += v;
                cnt++;
            }
        }
        int64_t yi = plane * g->out_size + p;
        if (is_max) {
            if (is_int) /* a window wholly in the padding has no value */
                axle_kx_store_i(j->dt, j->y, yi,
                                best_idx < 0 ? 0 : (int64_t)best);
            else
                axle_kx_store(j->dt, j->y, yi, best);
            if (j->ind != NULL)
                j->ind[yi] = best_idx < 0 ? 0 : xbase + best_idx;
        } else if (j->kind == POOL_LP) {
            axle_kx_store(j->dt, j->y, yi, lp_root(sum, j->p));
        } else {
            int64_t div = j->include_pad ? cnt_pad : cnt;
            axle_kx_store(j->dt, j->y, yi, div > 0 ? sum / (double)div : 0);
        }
    }
}

static void pool_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct pool_job *j = ctx;
    bool fast = j->dt == AXLE_DTYPE_FLOAT32 && j->ind == NULL &&
                j->g->nsp == 2 && j->kind != POOL_LP;

    (void)tid;
    for (int64_t p = begin; p < end; p++) {
        if (fast && j->kind == POOL_MAX && j->g->in[1] <= POOL_ROW_MAX)
            maxpool2d_plane_f32(j, p);
        else if (fast)
            pool2d_plane_f32(j, p);
        else
            pool_plane_generic(j, p);
    }
}

/* Float32 max pooling of large planes: (band, plane) items, band b of T
 * the output rows [b OH / T, (b + 1) OH / T), slot t owning band t of
 * every plane (axle_shares): the convolution before gives each thread a
 * contiguous share of every channel's pixels, so each reads back what it
 * wrote, as conv_dw.c's bands do (ResNet-18's pool 235 -> 189 us on two
 * threads with AVX-512, 238 -> 187 us with AVX2; alternated processes). */
#define POOL_MAX_SLOTS 64
#define POOL_BAND_MIN_PIXELS 2048

struct pool_bands {
    const struct pool_job *j;
    struct axle_share *shares;
    int n_slots;
    int64_t n_planes;
};

static void pool_band_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct pool_bands *b = ctx;
    int64_t it, oh = b->j->g->out[0];

    (void)end;
    (void)tid;
    while (axle_shares_next(b->shares, b->n_slots, (int)begin, &it)) {
        int64_t p = it % b->n_planes, band = it / b->n_planes;
        maxpool2d_rows_f32(b->j, p, oh * band / b->n_slots,
                           oh * (band + 1) / b->n_slots);
    }
}

static enum axle_status pool_run_common(struct axle_kctx *k,
                                        enum pool_kind kind, const char *what)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *ind = k->n_outputs > 1 ? k->out[1] : NULL;
    struct axle_conv_attrs a;
    struct axle_conv_geom g;
    enum axle_status st;
    int64_t planes;

    double lp = 2.0;
    if (kind == POOL_LP && (st = lp_read_p(k, &lp)) != AXLE_OK)
        return st;
    st = axle_conv_attrs_read(k, what, x->rank - 2, NULL, &a);
    if (st != AXLE_OK)
        return st;
    st = axle_conv_geom_make(k, what, &a, &x->dims[2], &g);
    if (st != AXLE_OK)
        return st;
    if (g.nsp == 1) {
        /* 1-D as 2-D with H = 1 (the fast path is 2-D). */
        g.nsp = 2;
        g.in[1] = g.in[0];
        g.out[1] = g.out[0];
        g.k[1] = g.k[0];
        g.s[1] = g.s[0];
        g.d[1] = g.d[0];
        g.pb[1] = g.pb[0];
        g.pe[1] = g.pe[0];
        g.in[0] = g.out[0] = g.k[0] = g.s[0] = g.d[0] = 1;
        g.pb[0] = g.pe[0] = 0;
    }
    planes = x->dims[0] * x->dims[1];
    struct pool_job j = {
        .g = &g, .kind = kind, .x = x->data, .y = k->out[0]->data,
        .ind = ind != NULL ? ind->data : NULL, .dt = x->dtype,
        .include_pad = axle_node_attr_int(k->node, "count_include_pad", 0) ==
                       1,
        .col_major = axle_node_attr_int(k->node, "storage_order", 0) == 1,
        .avx512 = axle_cpu_get()->isa >= AXLE_ISA_AVX512,
        .C = x->dims[1],
        .p = lp,
    };
    if (g.out_size == 0 || planes == 0)
        return AXLE_OK;
    if (kind == POOL_MAX && j.dt == AXLE_DTYPE_FLOAT32 && j.ind == NULL &&
        g.nsp == 2 && g.in[1] <= POOL_ROW_MAX &&
        g.out_size >= POOL_BAND_MIN_PIXELS &&
        axle_pool_size(k->pool) > 1) {
        struct axle_share shares[POOL_MAX_SLOTS];
        struct pool_bands b = {.j = &j, .shares = shares, .n_planes = planes};
        int n = axle_pool_size(k->pool);
        b.n_slots = n > POOL_MAX_SLOTS ? POOL_MAX_SLOTS : n;
        axle_shares_init(shares, b.n_slots, b.n_slots * planes);
        axle_pool_parallel_for(k->pool, b.n_slots, 1, pool_band_task, &b);
        return AXLE_OK;
    }
    axle_pool_parallel_for(k->pool, planes,
                           1 + (1 << 15) / (g.out_size * g.k_size + 1),
                           pool_task, &j);
    return AXLE_OK;
}

static enum axle_status maxpool_run(struct axle_kctx *k)
{
    return pool_run_common(k, POOL_MAX, "MaxPool");
}

static enum axle_status avgpool_run(struct axle_kctx *k)
{
    return pool_run_common(k, POOL_AVG, "AveragePool");
}

static enum axle_status lppool_run(struct axle_kctx *k)
{
    return pool_run_common(k, POOL_LP, "LpPool");
}

const struct axle_op axle_op_max_pool = {
    .name = "MaxPool",
    .domain = "",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 2,
    .infer = maxpool_infer,
    .run = maxpool_run,
};

const struct axle_op axle_op_average_pool = {
    .name = "AveragePool",
    .domain = "",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = avgpool_infer,
    .run = avgpool_run,
};

const struct axle_op axle_op_lp_pool = {
    .name = "LpPool",
    .domain = "",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = lppool_infer,
    .run = lppool_run,
};

/* ---- global pools ------------------------------------------------------ */

static enum axle_status global_infer_common(struct axle_kctx *k, bool lp)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];

    if (x->dtype != AXLE_DTYPE_UNDEFINED && !axle_kx_is_float(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: unsupported input dtype %s",
                            k->node->op_type, axle_dtype_name(x->dtype));
    if (lp) {
        double p;
        enum axle_status st = lp_read_p(k, &p);
        if (st != AXLE_OK)
            return st;
    }
    y->dtype = x->dtype;
    y->rank = x->rank;
    if (x->rank < 0)
        return AXLE_OK;
    if (x->rank < 3)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: X has rank %d, expected at least 3",
                            k->node->op_type, x->rank);
    y->dims[0] = x->dims[0];
    y->dims[1] = x->dims[1];
    for (int i = 2; i < x->rank; i++)
        y->dims[i] = 1;
    return AXLE_OK;
}

static enum axle_status global_infer(struct axle_kctx *k)
{
    return global_infer_common(k, false);
}

static enum axle_status glp_infer(struct axle_kctx *k)
{
    return global_infer_common(k, true);
}

struct global_job {
    const struct axle_tensor *x;
    struct axle_tensor *y;
    int64_t sp;
    bool is_max;
    bool is_lp;
    double p;
};

static void global_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    const struct global_job *j = ctx;
    enum axle_dtype dt = j->x->dtype;

    (void)tid;
    for (int64_t p = begin; p < end; p++) {
        if (j->is_lp) {
            double acc = 0.0;
            for (int64_t i = 0; i < j->sp; i++)
                acc += lp_pow(axle_kx_load(dt, j->x->data, p * j->sp + i),
                              j->p);
            axle_kx_store(dt, j->y->data, p, lp_root(acc, j->p));
            continue;
        }
        if (dt == AXLE_DTYPE_FLOAT32) {
            const float *x = (const float *)j->x->data + p * j->sp;
            float acc = j->is_max ? -INFINITY : 0.0f;
            if (j->is_max) {
                for (int64_t i = 0; i < j->sp; i++)
                    acc = x[i] > acc ? x[i] : acc;
                ((float *)j->y->data)[p] = acc;
            } else {
                float part[8] = {0};
                int64_t i = 0;
                for (; i + 8 <= j->sp; i += 8)
                    for (int l = 0; l < 8; l++)
                        part[l] += x[i + l];
                for (; i < j->sp; i++)
                    acc += x[i];
                for (int l = 0; l < 8; l++)
                    acc += part[l];
                ((float *)j->y->data)[p] =
                    j->sp > 0 ? acc / (float)j->sp : 0.0f;
            }
            continue;
        }
        double acc = j->is_max ? -INFINITY : 0.0;
        for (int64_t i = 0; i < j->sp; i++) {
            double v = axle_kx_load(dt, j->x->data, p * j->sp + i);
            if (j->is_max)
                acc = v > acc ? v : acc;
            else
                acc += v;
        }
        if (!j->is_max)
            acc = j->sp > 0 ? acc / (double)j->sp : 0.0;
        axle_kx_store(dt, j->y->data, p, acc);
    }
}

static enum axle_status global_run(struct axle_kctx *k, bool is_max,
                                   bool is_lp)
{
    const struct axle_tensor *x = k->in[0];
    struct global_job j = {.x = x, .y = k->out[0], .is_max = is_max, .sp = 1};

    j.is_lp = is_lp;
    if (j.is_lp) {
        enum axle_status st = lp_read_p(k, &j.p);
        if (st != AXLE_OK)
            return st;
    }

    for (int i = 2; i < x->rank; i++)
        j.sp *= x->dims[i];
    axle_pool_parallel_for(k->pool, x->dims[0] * x->dims[1],
                           1 + (1 << 15) / (j.sp + 1), global_task, &j);
    return AXLE_OK;
}

static enum axle_status gap_run(struct axle_kctx *k)
{
    return global_run(k, false, false);
}

static enum axle_status gmp_run(struct axle_kctx *k)
{
    return global_run(k, true, false);
}

const struct axle_op axle_op_global_average_pool = {
    .name = "GlobalAveragePool",
    .domain = "",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = global_infer,
    .run = gap_run,
};

const struct axle_op axle_op_global_max_pool = {
    .name = "GlobalMaxPool",
    .domain = "",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = global_infer,
    .run = gmp_run,
};

static enum axle_status glp_run(struct axle_kctx *k)
{
    return global_run(k, false, true);
}

const struct axle_op axle_op_global_lp_pool = {
    .name = "GlobalLpPool",
    .domain = "",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = glp_infer,
    .run = glp_run,
};
