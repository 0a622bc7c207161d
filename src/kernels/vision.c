/*
 * vision.c - detection and sampling operators: NonMaxSuppression (ONNX 10,
 * 11), RoiAlign (10, 16), MaxRoiPool (1) and GridSample (16).
 *
 * NonMaxSuppression: boxes [B, N, 4] (corners [y1, x1, y2, x2] in any
 * order, or with center_point_box = 1 [xc, yc, w, h]), scores [B, C, N] and
 * the optional scalar inputs max_output_boxes_per_class (absent or 0: no
 * output), iou_threshold (default 0) and score_threshold (absent: none).
 * Per batch and class, boxes scoring above score_threshold are taken in
 * descending score order (equal scores: lower index first) and a box is
 * dropped when its IoU with one already kept exceeds iou_threshold, as
 * ONNX Runtime does (empty boxes never suppress). The output [K, 3] int64
 * (batch, class, box) has a count only the data decide: infer computes it
 * when the inputs carry data and leaves the dim unknown otherwise.
 *
 * RoiAlign: rois [R, 4] (x1, y1, x2, y2) scaled by spatial_scale, bins of
 * output_height x output_width each averaging (mode avg) or taking the
 * maximum (mode max) of sampling_ratio^2 bilinear samples (0: ceil of the
 * bin size). RoiAlign-16 added coordinate_transformation_mode, default
 * half_pixel (shift by -0.5, no minimum size); RoiAlign-10 behaves as
 * output_half_pixel (no shift, rois at least 1x1). Max mode takes, per
 * sample, the largest of the four weighted corner values, as ONNX Runtime
 * and ONNX's reference do.
 *
 * MaxRoiPool: rois [R, 5] (batch, x1, y1, x2, y2), rounded after scaling,
 * max over each of pooled_shape's bins (empty bins give 0), as in Caffe.
 *
 * GridSample-16: X [N, C, H, W], grid [N, Ho, Wo, 2] of (x, y) in [-1, 1];
 * mode bilinear / nearest (half to even) / bicubic (A = -0.75),
 * padding_mode zeros / border / reflection, align_corners; the same
 * semantics as torch.nn.functional.grid_sample (border and reflection fold
 * the coordinate for bilinear and nearest, each tap for bicubic).
 *
 * Float types: float32 and float64 are read directly, float16 and bfloat16
 * go through float32 scratch; arithmetic is in float64 for the
 * coordinates. Work is split over k->pool by output rows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/normred_util.h"

/* ---- float views ------------------------------------------------------ */

/* A float input read as float32 or float64 (half types converted). */
struct fview {
    const void *p;
    bool dbl;
};

static inline double fv_get(struct fview v, int64_t i)
{
    return v.dbl ? ((const double *)v.p)[i] : ((const float *)v.p)[i];
}

/* An output written as float32 or float64; half types land in float32
 * scratch and are converted when the kernel is done. */
struct fout {
    void *p;
    bool dbl;
};

static inline void fo_set(struct fout o, int64_t i, double v)
{
    if (o.dbl)
        ((double *)o.p)[i] = v;
    else
        ((float *)o.p)[i] = (float)v;
}

static bool is_half(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_FLOAT16 || dt == AXLE_DTYPE_BFLOAT16;
}

/* Bytes of float32 scratch a half input or output needs (0 otherwise). */
static size_t half_bytes(const struct axle_tensor *t)
{
    if (!is_half(t->dtype))
        return 0;
    return ((size_t)axle_tensor_numel(t) * sizeof(float) + 63) & ~(size_t)63;
}

/* Sets v for t, converting a half tensor into `buf` (half_bytes(t)). */
static struct fview fview_of(const struct axle_tensor *t, float *buf)
{
    struct fview v = {t->data, t->dtype == AXLE_DTYPE_FLOAT64};
    if (is_half(t->dtype)) {
        nr_to_f32(buf, t->data, t->dtype, (size_t)axle_tensor_numel(t));
        v.p = buf;
    }
    return v;
}

static struct fout fout_of(struct axle_tensor *t, float *buf)
{
    struct fout o = {t->data, t->dtype == AXLE_DTYPE_FLOAT64};
    if (is_half(t->dtype))
        o.p = buf;
    return o;
}

static void fout_finish(struct axle_tensor *t, struct fout o)
{
    if (is_half(t->dtype))
        nr_from_f32(t->data, t->dtype, o.p, (size_t)axle_tensor_numel(t));
}

/* Requires a float input of rank `rank` (rank < 0 at load: not checked). */
static enum axle_status need_float(struct axle_kctx *k, const char *op,
                                   const char *what,
                                   const struct axle_tensor *t, int rank)
{
    if (t == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input %s is required", op, what);
    if (t->dtype != AXLE_DTYPE_UNDEFINED && !nr_is_float(t->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %s must be a float tensor, got %s", op, what,
                            axle_dtype_name(t->dtype));
    if (t->rank >= 0 && rank >= 0 && t->rank != rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %s must have rank %d, got %d", op, what,
                            rank, t->rank);
    return AXLE_OK;
}

/* Two dims that must agree when both are known. */
static enum axle_status same_dim(struct axle_kctx *k, const char *op,
                                 int64_t a, int64_t b, const char *what)
{
    if (axle_dim_known(a) && axle_dim_known(b) && a != b)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %s mismatch (%lld vs %lld)", op, what,
                            (long long)a, (long long)b);
    return AXLE_OK;
}

/* An optional scalar input (shape [] or [1]). *have: present and
 * non-empty; *known: its value is available. */
static enum axle_status scalar_in(struct axle_kctx *k, const char *op, int i,
                                  bool want_int, bool *have, bool *known,
                                  double *v)
{
    const struct axle_tensor *t = AXLE_IN(k, i);
    int64_t n;

    *have = false;
    *known = true;
    if (t == NULL)
        return AXLE_OK;
    if (t->dtype != AXLE_DTYPE_UNDEFINED &&
        (want_int ? t->dtype != AXLE_DTYPE_INT64 : !nr_is_float(t->dtype)))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input %d must be %s, got %s", op, i,
                            want_int ? "int64" : "float",
                            axle_dtype_name(t->dtype));
    n = axle_tensor_numel(t);
    if (t->rank > 1 || (n >= 0 && n > 1))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input %d must hold one value", op, i);
    if (n == 0)
        return AXLE_OK; /* an empty tensor stands for "absent" */
    *have = true;
    if (t->data == NULL || n < 0) {
        *known = false;
        return AXLE_OK;
    }
    *v = want_int ? (double)axle_tensor_get_i64(t, 0)
                  : axle_tensor_get_f64(t, 0);
    return AXLE_OK;
}

/* ---- NonMaxSuppression ----------------------------------------------- */

struct nms {
    int64_t b, c, n;
    int64_t max_out;
    double iou, score;
    bool has_score, center;
    const float *boxes, *scores;
};

struct nms_cand {
    float score;
    int32_t idx;
};

static int cand_cmp(const void *pa, const void *pb)
{
    const struct nms_cand *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Box i of batch b as (ymin, xmin, ymax, xmax). */
static void nms_box(const struct nms *p, int64_t b, int64_t i, float r[4])
{
    const float *x = p->boxes + (b * p->n + i) * 4;
    if (p->center) {
        r[0] = x[1] - x[3] / 2;
        r[2] = x[1] + x[3] / 2;
        r[1] = x[0] - x[2] / 2;
        r[3] = x[0] + x[2] / 2;
    } else {
        r[0] = fminf(x[0], x[2]);
        r[2] = fmaxf(x[0], x[2]);
        r[1] = fminf(x[1], x[3]);
        r[3] = fmaxf(x[1], x[3]);
    }
}

static bool nms_suppresses(const float a[4], const float b[4], double thr)
{
    float iy0 = fmaxf(a[0], b[0]), ix0 = fmaxf(a[1], b[1]);
    float iy1 = fminf(a[2], b[2]), ix1 = fminf(a[3], b[3]);
    float inter = fmaxf(0.0f, iy1 - iy0) * fmaxf(0.0f, ix1 - ix0);
    float area_a = (a[2] - a[0]) * (a[3] - a[1]);
    float area_b = (b[2] - b[0]) * (b[3] - b[1]);
    float uni = area_a + area_b - inter;
    if (inter <= 0 || area_a <= 0 || area_b <= 0 || uni <= 0)
        return false;
    return (double)(inter / uni) > thr;
}

/* Runs the selection. `cand` holds n entries, `kept` max(n, 1) box
 * corners; out (or NULL to count only) receives the first `cap` triples.
 * Returns the count. */
static int64_t nms_select(const struct nms *p, struct nms_cand *cand,
                          float (*kept)[4], int64_t *out, int64_t cap)
{
    int64_t total = 0;
    int64_t limit = p->max_out < p->n ? p->max_out : p->n;

    for (int64_t b = 0; b < p->b; b++)
        for (int64_t c = 0; c < p->c; c++) {
            const float *s = p->scores + (b * p->c + c) * p->n;
            int64_t nc = 0, nk = 0;
            for (int64_t i = 0; i < p->n; i++)
                if (!p->has_score || (double)s[i] > p->score) {
                    if (isnan(s[i]))
                        continue;
                    cand[nc].score = s[i];
                    cand[nc].idx = (int32_t)i;
                    nc++;
                }
            qsort(cand, (size_t)nc, sizeof(*cand), cand_cmp);
            for (int64_t j = 0; j < nc && nk < limit; j++) {
                float box[4];
                bool drop = false;
                nms_box(p, b, cand[j].idx, box);
                for (int64_t q = 0; q < nk && !drop; q++)
                    drop = nms_suppresses(kept[q], box, p->iou);
                if (drop)
                    continue;
                memcpy(kept[nk++], box, sizeof(box));
                if (out != NULL && total < cap) {
                    out[total * 3] = b;
                    out[total * 3 + 1] = c;
                    out[total * 3 + 2] = cand[j].idx;
                }
                total++;
            }
        }
    return total;
}

/* Checks the inputs; *ready when every value is available. */
static enum axle_status nms_setup(struct axle_kctx *k, struct nms *p,
                                  bool *ready)
{
    const struct axle_tensor *bx = AXLE_IN(k, 0), *sc = AXLE_IN(k, 1);
    bool have, known;
    double v = 0;
    enum axle_status st;

    memset(p, 0, sizeof(*p));
    *ready = false;
    if (bx == NULL || sc == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "NonMaxSuppression: boxes and scores are "
                            "required");
    if ((bx->dtype != AXLE_DTYPE_FLOAT32 &&
         bx->dtype != AXLE_DTYPE_UNDEFINED) ||
        (sc->dtype != AXLE_DTYPE_FLOAT32 &&
         sc->dtype != AXLE_DTYPE_UNDEFINED))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "NonMaxSuppression: boxes and scores must be "
                            "float32");
    if ((bx->rank >= 0 && bx->rank != 3) || (sc->rank >= 0 && sc->rank != 3))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "NonMaxSuppression: boxes must be [B, N, 4] and "
                            "scores [B, C, N]");
    if (bx->rank == 3 && axle_dim_known(bx->dims[2]) && bx->dims[2] != 4)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "NonMaxSuppression: boxes' last dim must be 4, "
                            "got %lld", (long long)bx->dims[2]);
    if (bx->rank == 3 && sc->rank == 3) {
        st = same_dim(k, "NonMaxSuppression", bx->dims[0], sc->dims[0],
                      "batch size of boxes and scores");
        if (st == AXLE_OK)
            st = same_dim(k, "NonMaxSuppression", bx->dims[1], sc->dims[2],
                          "box count of boxes and scores");
        if (st != AXLE_OK)
            return st;
    }
    p->center = axle_node_attr_int(k->node, "center_point_box", 0) != 0;
    bool all = true;
    st = scalar_in(k, "NonMaxSuppression", 2, true, &have, &known, &v);
    if (st != AXLE_OK)
        return st;
    all &= known;
    p->max_out = have && known ? (v > 0 ? (int64_t)v : 0) : 0;
    v = 0;
    st = scalar_in(k, "NonMaxSuppression", 3, false, &have, &known, &v);
    if (st != AXLE_OK)
        return st;
    all &= known;
    p->iou = have && known ? v : 0;
    if (known && (p->iou < 0 || p->iou > 1 || isnan(p->iou)))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "NonMaxSuppression: iou_threshold %g is outside "
                            "[0, 1]", p->iou);
    st = scalar_in(k, "NonMaxSuppression", 4, false, &p->has_score, &known,
                   &p->score);
    if (st != AXLE_OK)
        return st;
    all &= known;
    if (!all || bx->data == NULL || sc->data == NULL ||
        !axle_shape_known(bx) || !axle_shape_known(sc))
        return AXLE_OK;
    p->b = bx->dims[0];
    p->n = bx->dims[1];
    p->c = sc->dims[1];
    if (p->n > INT32_MAX)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "NonMaxSuppression: %lld boxes is too many",
                            (long long)p->n);
    p->boxes = bx->data;
    p->scores = sc->data;
    *ready = true;
    return AXLE_OK;
}

static size_t nms_scratch_bytes(const struct nms *p)
{
    size_t n = (size_t)(p->n > 0 ? p->n : 1);
    return ((n * sizeof(struct nms_cand) + 63) & ~(size_t)63) +
           n * sizeof(float[4]);
}

static enum axle_status nms_infer(struct axle_kctx *k)
{
    struct axle_tensor *o = k->out[0];
    struct nms p;
    bool ready;
    enum axle_status st = nms_setup(k, &p, &ready);
    if (st != AXLE_OK || o == NULL)
        return st;
    o->dtype = AXLE_DTYPE_INT64;
    o->rank = 2;
    o->dims[0] = AXLE_DIM_UNKNOWN;
    o->dims[1] = 3;
    if (!ready)
        return AXLE_OK;
    /* At run time the scratch buffer; at load time (constant inputs, no
     * scratch) a temporary allocation. */
    bool own = k->scratch == NULL;
    char *buf = own ? axle_try_malloc(nms_scratch_bytes(&p))
                    : axle_kctx_scratch(k, nms_scratch_bytes(&p));
    if (buf == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "NonMaxSuppression: no scratch memory");
    size_t off = ((size_t)(p.n > 0 ? p.n : 1) * sizeof(struct nms_cand) +
                  63) & ~(size_t)63;
    o->dims[0] = nms_select(&p, (struct nms_cand *)buf,
                            (float(*)[4])(buf + off), NULL, 0);
    if (own)
        axle_free(buf);
    return AXLE_OK;
}

static enum axle_status nms_run(struct axle_kctx *k)
{
    struct axle_tensor *o = k->out[0];
    struct nms p;
    bool ready;
    enum axle_status st = nms_setup(k, &p, &ready);
    if (st != AXLE_OK || o == NULL)
        return st;
    if (!ready)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "NonMaxSuppression: inputs have no data");
    char *buf = axle_kctx_scratch(k, nms_scratch_bytes(&p));
    if (buf == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "NonMaxSuppression: no scratch memory");
    size_t off = ((size_t)(p.n > 0 ? p.n : 1) * sizeof(struct nms_cand) +
                  63) & ~(size_t)63;
    int64_t cnt = nms_select(&p, (struct nms_cand *)buf,
                             (float(*)[4])(buf + off), o->data, o->dims[0]);
    if (cnt != o->dims[0])
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "NonMaxSuppression: output count changed");
    return AXLE_OK;
}

const struct axle_op axle_op_non_max_suppression = {
    .name = "NonMaxSuppression", .domain = "",
    .min_inputs = 2, .max_inputs = 5, .min_outputs = 1, .max_outputs = 1,
    .infer = nms_infer, .run = nms_run,
};

/* ---- RoiAlign --------------------------------------------------------- */

struct roi_align {
    struct fview x, rois;
    const struct axle_tensor *bidx;
    struct fout y;
    int64_t n, c, h, w, r, oh, ow;
    int64_t sampling;
    double scale;
    bool half_pixel, max_mode;
};

static enum axle_status roi_align_setup(struct axle_kctx *k,
                                        struct roi_align *p)
{
    const struct axle_tensor *x = AXLE_IN(k, 0), *r = AXLE_IN(k, 1),
                             *bi = AXLE_IN(k, 2);
    enum axle_status st;
    const char *mode = axle_node_attr_str(k->node, "mode", "avg");
    const char *ctm = k->opset >= 16
                          ? axle_node_attr_str(k->node,
                                               "coordinate_transformation_mode",
                                               "half_pixel")
                          : "output_half_pixel";

    memset(p, 0, sizeof(*p));
    st = need_float(k, "RoiAlign", "X", x, 4);
    if (st == AXLE_OK)
        st = need_float(k, "RoiAlign", "rois", r, 2);
    if (st != AXLE_OK)
        return st;
    if (r->dtype != AXLE_DTYPE_UNDEFINED && x->dtype != AXLE_DTYPE_UNDEFINED &&
        r->dtype != x->dtype)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "RoiAlign: rois are %s, X is %s",
                            axle_dtype_name(r->dtype),
                            axle_dtype_name(x->dtype));
    if (bi == NULL || (bi->dtype != AXLE_DTYPE_INT64 &&
                       bi->dtype != AXLE_DTYPE_UNDEFINED) ||
        (bi->rank >= 0 && bi->rank != 1))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "RoiAlign: batch_indices must be a 1-D int64 "
                            "tensor");
    if (r->rank == 2 && axle_dim_known(r->dims[1]) && r->dims[1] != 4)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "RoiAlign: rois must be [num_rois, 4]");
    if (r->rank == 2 && bi->rank == 1) {
        st = same_dim(k, "RoiAlign", r->dims[0], bi->dims[0],
                      "roi count of rois and batch_indices");
        if (st != AXLE_OK)
            return st;
    }
    if (strcmp(mode, "avg") == 0)
        p->max_mode = false;
    else if (strcmp(mode, "max") == 0)
        p->max_mode = true;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "RoiAlign: unknown mode '%s'", mode);
    if (strcmp(ctm, "half_pixel") == 0)
        p->half_pixel = true;
    else if (strcmp(ctm, "output_half_pixel") == 0)
        p->half_pixel = false;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "RoiAlign: unknown coordinate_transformation_"
                            "mode '%s'", ctm);
    p->oh = axle_node_attr_int(k->node, "output_height", 1);
    p->ow = axle_node_attr_int(k->node, "output_width", 1);
    p->sampling = axle_node_attr_int(k->node, "sampling_ratio", 0);
    p->scale = axle_node_attr_float(k->node, "spatial_scale", 1.0f);
    if (p->oh < 1 || p->ow < 1 || p->oh > AXLE_TENSOR_MAX_ELEMS ||
        p->ow > AXLE_TENSOR_MAX_ELEMS)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "RoiAlign: output_height/width must be >= 1");
    if (p->sampling < 0 || p->sampling > 1024)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "RoiAlign: sampling_ratio %lld is out of range",
                            (long long)p->sampling);
    if (!isfinite(p->scale))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "RoiAlign: spatial_scale must be finite");
    p->bidx = bi;
    if (x->rank == 4) {
        p->n = x->dims[0];
        p->c = x->dims[1];
        p->h = x->dims[2];
        p->w = x->dims[3];
    }
    p->r = r->rank == 2 ? r->dims[0] : AXLE_DIM_UNKNOWN;
    if (!axle_dim_known(p->r) && bi->rank == 1)
        p->r = bi->dims[0];
    return AXLE_OK;
}

/* Output o: input 0's dtype, shape [n, c, h, w]; refuses a shape past the
 * element limit. */
static enum axle_status set_nchw_out(struct axle_kctx *k,
                                     struct axle_tensor *o, int64_t n,
                                     int64_t c, int64_t h, int64_t w,
                                     const char *op)
{
    o->dtype = k->in[0]->dtype;
    o->rank = 4;
    o->dims[0] = n;
    o->dims[1] = c;
    o->dims[2] = h;
    o->dims[3] = w;
    if (axle_shape_known(o) && axle_tensor_numel(o) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: output is too large", op);
    return AXLE_OK;
}

static enum axle_status roi_align_infer(struct axle_kctx *k)
{
    struct roi_align p;
    struct axle_tensor *o = k->out[0];
    enum axle_status st = roi_align_setup(k, &p);
    if (st != AXLE_OK || o == NULL)
        return st;
    return set_nchw_out(k, o, p.r,
                        k->in[0]->rank == 4 ? p.c : AXLE_DIM_UNKNOWN, p.oh,
                        p.ow, "RoiAlign");
}

/* Bilinear sample of plane `pl` at (y, x) with Caffe2's rules; max mode
 * wants the largest weighted corner instead of the sum. */
static double roi_sample(const struct roi_align *p, int64_t pl, double y,
                         double x)
{
    int64_t h = p->h, w = p->w;
    if (!(y >= -1.0 && y <= (double)h && x >= -1.0 && x <= (double)w))
        return 0.0; /* outside, or NaN from a NaN roi */
    if (y <= 0)
        y = 0;
    if (x <= 0)
        x = 0;
    int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1, x1;
    if (y0 >= h - 1) {
        y1 = y0 = h - 1;
        y = (double)y0;
    } else
        y1 = y0 + 1;
    if (x0 >= w - 1) {
        x1 = x0 = w - 1;
        x = (double)x0;
    } else
        x1 = x0 + 1;
    double ly = y - (double)y0, lx = x - (double)x0;
    double hy = 1 - ly, hx = 1 - lx;
    int64_t base = pl * h * w;
    double v1 = hy * hx * fv_get(p->x, base + y0 * w + x0);
    double v2 = hy * lx * fv_get(p->x, base + y0 * w + x1);
    double v3 = ly * hx * fv_get(p->x, base + y1 * w + x0);
    double v4 = ly * lx * fv_get(p->x, base + y1 * w + x1);
    if (p->max_mode)
        return fmax(fmax(v1, v2), fmax(v3, v4));
    return v1 + v2 + v3 + v4;
}

static void roi_align_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct roi_align *p = ctx;
    (void)tid;
    for (int64_t rc = b; rc < e; rc++) { /* one (roi, channel) plane */
        int64_t r = rc / p->c, ch = rc % p->c;
        int64_t bi = axle_tensor_get_i64(p->bidx, r);
        double off = p->half_pixel ? 0.5 : 0.0;
        double x0 = fv_get(p->rois, r * 4) * p->scale - off;
        double y0 = fv_get(p->rois, r * 4 + 1) * p->scale - off;
        double x1 = fv_get(p->rois, r * 4 + 2) * p->scale - off;
        double y1 = fv_get(p->rois, r * 4 + 3) * p->scale - off;
        double rw = x1 - x0, rh = y1 - y0;
        if (!p->half_pixel) {
            rw = fmax(rw, 1.0);
            rh = fmax(rh, 1.0);
        }
        double bh = rh / (double)p->oh, bw = rw / (double)p->ow;
        double gh_d = p->sampling > 0 ? (double)p->sampling : ceil(bh);
        double gw_d = p->sampling > 0 ? (double)p->sampling : ceil(bw);
        /* A huge or NaN roi must not mean an unbounded loop: a bin needs
         * no more samples along an axis than twice the image is long. */
        double capy = fmax(1024.0, 2.0 * (double)p->h + 2);
        double capx = fmax(1024.0, 2.0 * (double)p->w + 2);
        int64_t gh = gh_d > 0 ? (int64_t)fmin(gh_d, capy) : 0;
        int64_t gw = gw_d > 0 ? (int64_t)fmin(gw_d, capx) : 0;
        double cnt = (double)(gh * gw > 1 ? gh * gw : 1);
        int64_t pl = bi * p->c + ch;
        int64_t ob = rc * p->oh * p->ow;
        for (int64_t ph = 0; ph < p->oh; ph++)
            for (int64_t pw = 0; pw < p->ow; pw++) {
                double acc = 0;
                bool first = true;
                for (int64_t iy = 0; iy < gh; iy++) {
                    double y = y0 + (double)ph * bh +
                               ((double)iy + 0.5) * bh / (double)gh;
                    for (int64_t ix = 0; ix < gw; ix++) {
                        double x = x0 + (double)pw * bw +
                                   ((double)ix + 0.5) * bw / (double)gw;
                        double v = roi_sample(p, pl, y, x);
                        if (!p->max_mode)
                            acc += v;
                        else if (first || v > acc)
                            acc = v;
                        first = false;
                    }
                }
                fo_set(p->y, ob + ph * p->ow + pw,
                       p->max_mode ? acc : acc / cnt);
            }
    }
}

static enum axle_status roi_align_run(struct axle_kctx *k)
{
    struct roi_align p;
    struct axle_tensor *o = k->out[0];
    const struct axle_tensor *x = k->in[0], *r = k->in[1];
    enum axle_status st = roi_align_setup(k, &p);
    if (st != AXLE_OK || o == NULL)
        return st;
    if (r->dims[0] != p.bidx->dims[0])
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "RoiAlign: rois and batch_indices disagree");
    for (int64_t i = 0; i < p.r; i++) {
        int64_t b = axle_tensor_get_i64(p.bidx, i);
        if (b < 0 || b >= p.n)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "RoiAlign: batch index %lld is out of range "
                                "[0, %lld)", (long long)b, (long long)p.n);
    }
    size_t hx = half_bytes(x), hr = half_bytes(r), ho = half_bytes(o);
    char *buf = NULL;
    if (hx + hr + ho > 0) {
        buf = axle_kctx_scratch(k, hx + hr + ho);
        if (buf == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "RoiAlign: no scratch memory");
    }
    p.x = fview_of(x, (float *)buf);
    p.rois = fview_of(r, (float *)(buf + hx));
    p.y = fout_of(o, (float *)(buf + hx + hr));
    if (p.h == 0 || p.w == 0) {
        for (int64_t i = 0; i < axle_tensor_numel(o); i++)
            fo_set(p.y, i, 0);
    } else {
        axle_pool_parallel_for(k->pool, p.r * p.c,
                               nr_grain(p.oh * p.ow * 16), roi_align_task,
                               &p);
    }
    fout_finish(o, p.y);
    return AXLE_OK;
}

const struct axle_op axle_op_roi_align = {
    .name = "RoiAlign", .domain = "",
    .min_inputs = 3, .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = roi_align_infer, .run = roi_align_run,
};

/* ---- MaxRoiPool ------------------------------------------------------- */

struct roi_pool {
    struct fview x, rois;
    struct fout y;
    int64_t n, c, h, w, r, ph, pw;
    double scale;
};

static enum axle_status roi_pool_setup(struct axle_kctx *k,
                                       struct roi_pool *p)
{
    const struct axle_tensor *x = AXLE_IN(k, 0), *r = AXLE_IN(k, 1);
    int n_ps = 0;
    const int64_t *ps = axle_node_attr_ints(k->node, "pooled_shape", &n_ps);
    enum axle_status st;

    memset(p, 0, sizeof(*p));
    st = need_float(k, "MaxRoiPool", "X", x, 4);
    if (st == AXLE_OK)
        st = need_float(k, "MaxRoiPool", "rois", r, 2);
    if (st != AXLE_OK)
        return st;
    if (r->dtype != AXLE_DTYPE_UNDEFINED && x->dtype != AXLE_DTYPE_UNDEFINED &&
        r->dtype != x->dtype)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxRoiPool: rois are %s, X is %s",
                            axle_dtype_name(r->dtype),
                            axle_dtype_name(x->dtype));
    if (r->rank == 2 && axle_dim_known(r->dims[1]) && r->dims[1] != 5)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxRoiPool: rois must be [num_rois, 5]");
    if (ps == NULL || n_ps != 2 || ps[0] < 1 || ps[1] < 1 ||
        ps[0] > AXLE_TENSOR_MAX_ELEMS || ps[1] > AXLE_TENSOR_MAX_ELEMS)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxRoiPool: pooled_shape must be two positive "
                            "ints");
    p->ph = ps[0];
    p->pw = ps[1];
    p->scale = axle_node_attr_float(k->node, "spatial_scale", 1.0f);
    if (!isfinite(p->scale))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MaxRoiPool: spatial_scale must be finite");
    if (x->rank == 4) {
        p->n = x->dims[0];
        p->c = x->dims[1];
        p->h = x->dims[2];
        p->w = x->dims[3];
    } else
        p->c = AXLE_DIM_UNKNOWN;
    p->r = r->rank == 2 ? r->dims[0] : AXLE_DIM_UNKNOWN;
    return AXLE_OK;
}

static enum axle_status roi_pool_infer(struct axle_kctx *k)
{
    struct roi_pool p;
    struct axle_tensor *o = k->out[0];
    enum axle_status st = roi_pool_setup(k, &p);
    if (st != AXLE_OK || o == NULL)
        return st;
    return set_nchw_out(k, o, p.r, p.c, p.ph, p.pw, "MaxRoiPool");
}

/* Coordinates beyond +-2^40 are clamped before the integer conversion. */
static int64_t round_coord(double v)
{
    if (isnan(v))
        return 0;
    v = fmin(fmax(v, -1099511627776.0), 1099511627776.0);
    return (int64_t)round(v);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void roi_pool_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct roi_pool *p = ctx;
    (void)tid;
    for (int64_t rc = b; rc < e; rc++) {
        int64_t r = rc / p->c, ch = rc % p->c;
        int64_t bi = (int64_t)fv_get(p->rois, r * 5);
        int64_t sw = round_coord(fv_get(p->rois, r * 5 + 1) * p->scale);
        int64_t sh = round_coord(fv_get(p->rois, r * 5 + 2) * p->scale);
        int64_t ew = round_coord(fv_get(p->rois, r * 5 + 3) * p->scale);
        int64_t eh = round_coord(fv_get(p->rois, r * 5 + 4) * p->scale);
        int64_t rw = ew - sw + 1 > 1 ? ew - sw + 1 : 1;
        int64_t rh = eh - sh + 1 > 1 ? eh - sh + 1 : 1;
        double bh = (double)rh / (double)p->ph;
        double bw = (double)rw / (double)p->pw;
        int64_t base = (bi * p->c + ch) * p->h * p->w;
        int64_t ob = rc * p->ph * p->pw;
        for (int64_t i = 0; i < p->ph; i++) {
            int64_t hs = clamp64((int64_t)floor((double)i * bh) + sh, 0, p->h);
            int64_t he =
                clamp64((int64_t)ceil((double)(i + 1) * bh) + sh, 0, p->h);
            for (int64_t j = 0; j < p->pw; j++) {
                int64_t ws =
                    clamp64((int64_t)floor((double)j * bw) + sw, 0, p->w);
                int64_t we = clamp64((int64_t)ceil((double)(j + 1) * bw) + sw,
                                     0, p->w);
                double m = -INFINITY;
                bool empty = he <= hs || we <= ws;
                for (int64_t y = hs; y < he; y++)
                    for (int64_t x = ws; x < we; x++) {
                        double v = fv_get(p->x, base + y * p->w + x);
                        if (v > m || isnan(v))
                            m = v;
                    }
                fo_set(p->y, ob + i * p->pw + j, empty ? 0.0 : m);
            }
        }
    }
}

static enum axle_status roi_pool_run(struct axle_kctx *k)
{
    struct roi_pool p;
    struct axle_tensor *o = k->out[0];
    const struct axle_tensor *x = k->in[0], *r = k->in[1];
    enum axle_status st = roi_pool_setup(k, &p);
    if (st != AXLE_OK || o == NULL)
        return st;
    size_t hx = half_bytes(x), hr = half_bytes(r), ho = half_bytes(o);
    char *buf = NULL;
    if (hx + hr + ho > 0) {
        buf = axle_kctx_scratch(k, hx + hr + ho);
        if (buf == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "MaxRoiPool: no scratch memory");
    }
    p.x = fview_of(x, (float *)buf);
    p.rois = fview_of(r, (float *)(buf + hx));
    p.y = fout_of(o, (float *)(buf + hx + hr));
    for (int64_t i = 0; i < p.r; i++) {
        double b = fv_get(p.rois, i * 5);
        if (!(b >= 0 && b < (double)p.n))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "MaxRoiPool: roi %lld has batch index %g "
                                "outside [0, %lld)", (long long)i, b,
                                (long long)p.n);
    }
    axle_pool_parallel_for(k->pool, p.r * p.c, nr_grain(p.ph * p.pw * 16),
                           roi_pool_task, &p);
    fout_finish(o, p.y);
    return AXLE_OK;
}

const struct axle_op axle_op_max_roi_pool = {
    .name = "MaxRoiPool", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = roi_pool_infer, .run = roi_pool_run,
};

/* ---- GridSample ------------------------------------------------------- */

enum gs_mode { GS_BILINEAR, GS_NEAREST, GS_BICUBIC };
enum gs_pad { GS_ZEROS, GS_BORDER, GS_REFLECTION };

struct grid_sample {
    struct fview x, grid;
    struct fout y;
    int64_t n, c, h, w, oh, ow;
    enum gs_mode mode;
    enum gs_pad pad;
    bool align;
};

static enum axle_status gs_setup(struct axle_kctx *k, struct grid_sample *p)
{
    const struct axle_tensor *x = AXLE_IN(k, 0), *g = AXLE_IN(k, 1);
    const char *mode = axle_node_attr_str(k->node, "mode", "bilinear");
    const char *pad = axle_node_attr_str(k->node, "padding_mode", "zeros");
    enum axle_status st;

    memset(p, 0, sizeof(*p));
    st = need_float(k, "GridSample", "X", x, 4);
    if (st == AXLE_OK)
        st = need_float(k, "GridSample", "grid", g, 4);
    if (st != AXLE_OK)
        return st;
    /* GridSample-20 renamed bilinear / bicubic to linear / cubic */
    if (strcmp(mode, "bilinear") == 0 || strcmp(mode, "linear") == 0)
        p->mode = GS_BILINEAR;
    else if (strcmp(mode, "nearest") == 0)
        p->mode = GS_NEAREST;
    else if (strcmp(mode, "bicubic") == 0 || strcmp(mode, "cubic") == 0)
        p->mode = GS_BICUBIC;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "GridSample: unknown mode '%s'", mode);
    if (strcmp(pad, "zeros") == 0)
        p->pad = GS_ZEROS;
    else if (strcmp(pad, "border") == 0)
        p->pad = GS_BORDER;
    else if (strcmp(pad, "reflection") == 0)
        p->pad = GS_REFLECTION;
    else
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "GridSample: unknown padding_mode '%s'", pad);
    p->align = axle_node_attr_int(k->node, "align_corners", 0) != 0;
    if (g->rank == 4 && axle_dim_known(g->dims[3]) && g->dims[3] != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "GridSample: grid must be [N, H_out, W_out, 2]");
    if (x->rank == 4 && g->rank == 4) {
        st = same_dim(k, "GridSample", x->dims[0], g->dims[0],
                      "batch size of X and grid");
        if (st != AXLE_OK)
            return st;
    }
    p->n = x->rank == 4 ? x->dims[0] : AXLE_DIM_UNKNOWN;
    if (!axle_dim_known(p->n) && g->rank == 4)
        p->n = g->dims[0];
    p->c = x->rank == 4 ? x->dims[1] : AXLE_DIM_UNKNOWN;
    p->h = x->rank == 4 ? x->dims[2] : AXLE_DIM_UNKNOWN;
    p->w = x->rank == 4 ? x->dims[3] : AXLE_DIM_UNKNOWN;
    p->oh = g->rank == 4 ? g->dims[1] : AXLE_DIM_UNKNOWN;
    p->ow = g->rank == 4 ? g->dims[2] : AXLE_DIM_UNKNOWN;
    return AXLE_OK;
}

static enum axle_status gs_infer(struct axle_kctx *k)
{
    struct grid_sample p;
    struct axle_tensor *o = k->out[0];
    enum axle_status st = gs_setup(k, &p);
    if (st != AXLE_OK || o == NULL)
        return st;
    return set_nchw_out(k, o, p.n, p.c, p.oh, p.ow, "GridSample");
}

/* torch's reflect_coordinates: fold v into [lo2 / 2, hi2 / 2]. */
static double gs_reflect(double v, double lo2, double hi2)
{
    if (lo2 == hi2)
        return 0;
    double mn = lo2 / 2, span = (hi2 - lo2) / 2;
    v = fabs(v - mn);
    double extra = fmod(v, span);
    double flips = floor(v / span);
    return fmod(flips, 2.0) == 0 ? extra + mn : span - extra + mn;
}

/* Applies border / reflection padding to a source coordinate. */
static double gs_pad_coord(const struct grid_sample *p, double v,
                           int64_t size)
{
    if (!isfinite(v))
        return p->pad == GS_ZEROS ? v : 0; /* torch maps NaN to -1 then 0 */
    if (p->pad == GS_BORDER)
        return fmin(fmax(v, 0), (double)(size - 1));
    if (p->pad == GS_REFLECTION) {
        if (p->align)
            v = gs_reflect(v, 0, 2.0 * (double)(size - 1));
        else
            v = gs_reflect(v, -1, 2.0 * (double)size - 1);
        return fmin(fmax(v, 0), (double)(size - 1));
    }
    return v;
}

static double gs_unnorm(const struct grid_sample *p, double g, int64_t size)
{
    if (p->align)
        return (g + 1) / 2 * (double)(size - 1);
    return ((g + 1) * (double)size - 1) / 2;
}

/* Pixel (y, x) of plane base, 0 outside the image. */
static inline double gs_px(const struct grid_sample *p, int64_t base,
                           int64_t y, int64_t x)
{
    if (y < 0 || y >= p->h || x < 0 || x >= p->w)
        return 0;
    return fv_get(p->x, base + y * p->w + x);
}

/* Bicubic tap: the padding applies to each tap's coordinate. */
static inline double gs_tap(const struct grid_sample *p, int64_t base,
                            int64_t y, int64_t x)
{
    if (p->pad != GS_ZEROS) {
        x = (int64_t)gs_pad_coord(p, (double)x, p->w);
        y = (int64_t)gs_pad_coord(p, (double)y, p->h);
    }
    return gs_px(p, base, y, x);
}

static void cubic_coeffs(double t, double c[4])
{
    const double a = -0.75;
    double x1 = t + 1, x2 = t, x3 = 1 - t, x4 = 2 - t;
    c[0] = ((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a;
    c[1] = ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1;
    c[2] = ((a + 2) * x3 - (a + 3)) * x3 * x3 + 1;
    c[3] = ((a * x4 - 5 * a) * x4 + 8 * a) * x4 - 4 * a;
}

/* Coordinates beyond the image by more than 2^40 px sample nothing
 * anyway; clamping keeps the integer conversions defined. */
static double gs_clampf(double v)
{
    if (isnan(v))
        return -1099511627776.0;
    return fmin(fmax(v, -1099511627776.0), 1099511627776.0);
}

static double gs_one(const struct grid_sample *p, int64_t base, double gx,
                     double gy)
{
    double x = gs_unnorm(p, gx, p->w), y = gs_unnorm(p, gy, p->h);
    if (p->mode == GS_BICUBIC) {
        x = gs_clampf(x);
        y = gs_clampf(y);
        double fx = floor(x), fy = floor(y), cx[4], cy[4], acc = 0;
        int64_t ix = (int64_t)fx - 1, iy = (int64_t)fy - 1;
        cubic_coeffs(x - fx, cx);
        cubic_coeffs(y - fy, cy);
        for (int i = 0; i < 4; i++) {
            double row = 0;
            for (int j = 0; j < 4; j++)
                row += cx[j] * gs_tap(p, base, iy + i, ix + j);
            acc += cy[i] * row;
        }
        return acc;
    }
    x = gs_clampf(gs_pad_coord(p, x, p->w));
    y = gs_clampf(gs_pad_coord(p, y, p->h));
    if (p->mode == GS_NEAREST)
        return gs_px(p, base, (int64_t)nearbyint(y), (int64_t)nearbyint(x));
    double fx = floor(x), fy = floor(y);
    int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
    double lx = x - fx, ly = y - fy;
    return (1 - ly) * ((1 - lx) * gs_px(p, base, y0, x0) +
                       lx * gs_px(p, base, y0, x0 + 1)) +
           ly * ((1 - lx) * gs_px(p, base, y0 + 1, x0) +
                 lx * gs_px(p, base, y0 + 1, x0 + 1));
}

static void gs_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct grid_sample *p = ctx;
    (void)tid;
    for (int64_t row = b; row < e; row++) { /* (n, c, oy) */
        int64_t oy = row % p->oh, nc = row / p->oh, n = nc / p->c;
        int64_t base = nc * p->h * p->w;
        int64_t gb = (n * p->oh + oy) * p->ow * 2;
        int64_t ob = row * p->ow;
        for (int64_t ox = 0; ox < p->ow; ox++)
            fo_set(p->y, ob + ox,
                   gs_one(p, base, fv_get(p->grid, gb + ox * 2),
                          fv_get(p->grid, gb + ox * 2 + 1)));
    }
}

static enum axle_status gs_run(struct axle_kctx *k)
{
    struct grid_sample p;
    struct axle_tensor *o = k->out[0];
    const struct axle_tensor *x = k->in[0], *g = k->in[1];
    enum axle_status st = gs_setup(k, &p);
    if (st != AXLE_OK || o == NULL)
        return st;
    size_t hx = half_bytes(x), hg = half_bytes(g), ho = half_bytes(o);
    char *buf = NULL;
    if (hx + hg + ho > 0) {
        buf = axle_kctx_scratch(k, hx + hg + ho);
        if (buf == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "GridSample: no scratch memory");
    }
    p.x = fview_of(x, (float *)buf);
    p.grid = fview_of(g, (float *)(buf + hx));
    p.y = fout_of(o, (float *)(buf + hx + hg));
    if (p.h == 0 || p.w == 0) {
        for (int64_t i = 0; i < axle_tensor_numel(o); i++)
            fo_set(p.y, i, 0);
    } else if (p.ow > 0) {
        axle_pool_parallel_for(k->pool, p.n * p.c * p.oh,
                               nr_grain(p.ow * 16), gs_task, &p);
    }
    fout_finish(o, p.y);
    return AXLE_OK;
}

const struct axle_op axle_op_grid_sample = {
    .name = "GridSample", .domain = "",
    .min_inputs = 2, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = gs_infer, .run = gs_run,
};
