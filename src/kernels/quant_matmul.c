/*
 * quant_matmul.c - QLinearMatMul (10) and MatMulInteger (10): numpy matmul
 * of int8/uint8 operands (1-D operands, broadcast batch dims) on the 8-bit
 * GEMM of quant_gemm.c.
 *
 * Quantization parameters may be per tensor (a scalar or one element), per
 * row of A / of the output ([M], or [D.., M, 1] following the operand's
 * batch dims) and per column of B ([N] or [D.., 1, N]), as the spec
 * describes. MatMulInteger's zero points are optional (0) and it returns
 * the exact int32 sums; QLinearMatMul requantizes them with the multiplier
 * a_scale * b_scale / y_scale (evaluated as (a_scale / y_scale) * b_scale
 * when both per-row and per-column scales are present) and rounds half to
 * even. A constant B (2-D or batched) is packed once in prepare together
 * with its column sums, as int16 panels and as byte panels for one-row
 * products (which stream B once and are bound by its bytes), and the
 * engine may free the original.
 */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "kernels/quant.h"

/* Input slots of the two ops. */
struct mmq_io {
    const char *op;
    int a, b, az, bz, as, bs, ys, yz; /* -1: none */
};

static const struct mmq_io QLMM = {"QLinearMatMul", 0, 3, 2, 5, 1, 4, 6, 7};
static const struct mmq_io MMI = {"MatMulInteger", 0, 1, 2, 3, -1, -1, -1,
                                  -1};

static const struct axle_tensor *in_at(struct axle_kctx *k, int i)
{
    return i >= 0 ? AXLE_IN(k, i) : NULL;
}

/* ---- shapes --------------------------------------------------------------- */

static bool bcast_dim(int64_t a, int64_t b, int64_t *out)
{
    if (a == b)
        *out = a;
    else if (a == 1)
        *out = b;
    else if (b == 1)
        *out = a;
    else if (a >= 0 && b >= 0)
        return false;
    else if (a >= 0)
        *out = a;
    else if (b >= 0)
        *out = b;
    else
        *out = AXLE_DIM_UNKNOWN;
    return true;
}

static enum axle_status mm_shape(struct axle_kctx *k, const char *op,
                                 const struct axle_tensor *a,
                                 const struct axle_tensor *b,
                                 struct axle_tensor *y)
{
    int ra = a->rank, rb = b->rank, r = 0;

    if (ra < 0 || rb < 0) {
        y->rank = -1;
        return AXLE_OK;
    }
    if (ra < 1 || rb < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: operands must have rank >= 1", op);
    int64_t K1 = a->dims[ra - 1], K2 = rb >= 2 ? b->dims[rb - 2] : b->dims[0];
    if (K1 >= 0 && K2 >= 0 && K1 != K2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: inner dims differ (%lld vs %lld)", op,
                            (long long)K1, (long long)K2);
    int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
    int rbatch = ba > bb ? ba : bb;
    if (rbatch + 2 > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: result rank too large", op);
    for (int i = 0; i < rbatch; i++) {
        int ia = i - (rbatch - ba), ib = i - (rbatch - bb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1;
        int64_t db = ib >= 0 ? b->dims[ib] : 1;
        if (!bcast_dim(da, db, &y->dims[r++]))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: batch dim %d cannot broadcast (%lld vs "
                                "%lld)", op, i, (long long)da,
                                (long long)db);
    }
    if (ra >= 2)
        y->dims[r++] = a->dims[ra - 2];
    if (rb >= 2)
        y->dims[r++] = b->dims[rb - 1];
    y->rank = r;
    return AXLE_OK;
}

/* How a parameter is laid out against its operand x: per tensor, one value
 * per row (rows: x's dim -2) or column (dim -1) shared by every batch, or
 * one per row/column of each of x's batches. */
enum pkind { P_UNKNOWN = -1, P_TENSOR, P_VEC, P_BATCH };

static enum axle_status pkind(struct axle_kctx *k, const char *op,
                              const char *what, const struct axle_tensor *p,
                              const struct axle_tensor *x, bool rows,
                              enum pkind *kind)
{
    int r = x->rank;
    int64_t L;

    *kind = P_TENSOR;
    if (p == NULL)
        return AXLE_OK;
    if (p->rank < 0 || r < 0) {
        *kind = P_UNKNOWN;
        return AXLE_OK;
    }
    if (axle_tensor_numel(p) == 1)
        return AXLE_OK;
    L = rows ? (r >= 2 ? x->dims[r - 2] : 1) : (r >= 2 ? x->dims[r - 1] : 1);
    if (p->rank == 1) {
        if (p->dims[0] >= 0 && L >= 0 && p->dims[0] != L)
            goto bad;
        *kind = P_VEC;
        return AXLE_OK;
    }
    if (p->rank == r && r >= 2) {
        bool ok = true;
        for (int i = 0; i < r - 2; i++)
            ok = ok && (p->dims[i] < 0 || x->dims[i] < 0 ||
                        p->dims[i] == x->dims[i]);
        if (rows)
            ok = ok && (p->dims[r - 2] < 0 || L < 0 || p->dims[r - 2] == L) &&
                 p->dims[r - 1] == 1;
        else
            ok = ok && p->dims[r - 2] == 1 &&
                 (p->dims[r - 1] < 0 || L < 0 || p->dims[r - 1] == L);
        if (ok) {
            *kind = P_BATCH;
            return AXLE_OK;
        }
    }
bad:
    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                        "%s: %s must be a scalar or hold one value per %s",
                        op, what, rows ? "row" : "column");
}

static enum axle_status mmq_infer_io(struct axle_kctx *k,
                                     const struct mmq_io *io)
{
    const struct axle_tensor *a = in_at(k, io->a), *b = in_at(k, io->b);
    const struct axle_tensor *az = in_at(k, io->az), *bz = in_at(k, io->bz);
    const struct axle_tensor *yz = in_at(k, io->yz);
    struct axle_tensor *y = k->out[0];
    char what[64];
    enum axle_status st;
    enum pkind kd;

    st = axle_quant_need_inputs(k, io->op, io->ys >= 0 ? 8 : 2);
    if (st != AXLE_OK)
        return st;
    if ((a->dtype != AXLE_DTYPE_UNDEFINED && !axle_quant_is_q8(a->dtype)) ||
        (b->dtype != AXLE_DTYPE_UNDEFINED && !axle_quant_is_q8(b->dtype)))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: operands must be int8 or uint8 (got %s x "
                            "%s)", io->op, axle_dtype_name(a->dtype),
                            axle_dtype_name(b->dtype));
    snprintf(what, sizeof(what), "%s: a_zero_point", io->op);
    st = axle_quant_check_zp(k, what, az, a->dtype);
    if (st != AXLE_OK)
        return st;
    snprintf(what, sizeof(what), "%s: b_zero_point", io->op);
    st = axle_quant_check_zp(k, what, bz, b->dtype);
    if (st != AXLE_OK)
        return st;
    if (io->ys >= 0) {
        const struct axle_tensor *sc[3] = {in_at(k, io->as), in_at(k, io->bs),
                                           in_at(k, io->ys)};
        const char *nm[3] = {"a_scale", "b_scale", "y_scale"};
        for (int i = 0; i < 3; i++) {
            snprintf(what, sizeof(what), "%s: %s", io->op, nm[i]);
            st = axle_quant_check_scale(k, what, sc[i], false);
            if (st != AXLE_OK)
                return st;
        }
        if (yz->dtype != AXLE_DTYPE_UNDEFINED && !axle_quant_is_q8(yz->dtype))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: y_zero_point must be int8 or uint8, not "
                                "%s", io->op, axle_dtype_name(yz->dtype));
        y->dtype = yz->dtype;
    } else {
        y->dtype = AXLE_DTYPE_INT32;
    }
    st = mm_shape(k, io->op, a, b, y);
    if (st != AXLE_OK)
        return st;
    {
        const struct axle_tensor *pa[4] = {az, in_at(k, io->as), bz,
                                           in_at(k, io->bs)};
        const char *nm[4] = {"a_zero_point", "a_scale", "b_zero_point",
                             "b_scale"};
        for (int i = 0; i < 4; i++) {
            st = pkind(k, io->op, nm[i], pa[i], i < 2 ? a : b, i < 2, &kd);
            if (st != AXLE_OK)
                return st;
        }
        if (io->ys >= 0 && y->rank >= 0) {
            st = pkind(k, io->op, "y_scale", in_at(k, io->ys), y, true, &kd);
            if (st == AXLE_OK)
                st = pkind(k, io->op, "y_zero_point", yz, y, true, &kd);
            if (st != AXLE_OK)
                return st;
        }
    }
    return AXLE_OK;
}

/* ---- prepare: constant B packed once --------------------------------------- */

struct mmq_state {
    int64_t K, N, n_bmat, bbytes;
    uint8_t *bp;     /* n_bmat packed matrices */
    uint8_t *bp8;    /* the same as byte panels, for one-row products */
    int64_t b8bytes;
    bool b_s8;
    int32_t *colsum; /* n_bmat x N */
};

static void mmq_release(void *state)
{
    struct mmq_state *s = state;
    if (s == NULL)
        return;
    axle_free(s->bp);
    axle_free(s->bp8);
    axle_free(s->colsum);
    axle_free(s);
}

static void b_geom(const struct axle_tensor *b, int64_t *K, int64_t *N,
                   int64_t *n_bmat)
{
    int rb = b->rank;
    *K = rb >= 2 ? b->dims[rb - 2] : b->dims[0];
    *N = rb >= 2 ? b->dims[rb - 1] : 1;
    *n_bmat = 1;
    for (int i = 0; i < rb - 2; i++)
        *n_bmat *= b->dims[i];
}

static enum axle_status mmq_prepare_io(struct axle_kctx *k, void **state,
                                       const struct mmq_io *io)
{
    const struct axle_tensor *b = in_at(k, io->b);
    struct mmq_state *s;
    size_t bytes, cs, b8;

    *state = NULL;
    if (b->data == NULL || !axle_quant_is_q8(b->dtype) || b->rank < 1 ||
        !axle_shape_known(b))
        return AXLE_OK;
    s = axle_try_calloc(1, sizeof(*s));
    if (s == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: out of memory", io->op);
    b_geom(b, &s->K, &s->N, &s->n_bmat);
    s->bbytes = axle_qgemm_b_bytes(s->K, s->N);
    s->b8bytes = axle_qgemm_b8_bytes(s->K, s->N);
    s->b_s8 = b->dtype == AXLE_DTYPE_INT8;
    if (axle_size_mul((size_t)s->b8bytes, (size_t)s->n_bmat, &b8) ||
        (s->bp8 = axle_try_malloc(b8 ? b8 : 1)) == NULL ||
        axle_size_mul((size_t)s->bbytes, (size_t)s->n_bmat, &bytes) ||
        axle_size_mul((size_t)s->N * sizeof(int32_t), (size_t)s->n_bmat,
                      &cs) ||
        (s->bp = axle_try_aligned(bytes ? bytes : 64)) == NULL ||
        (s->colsum = axle_try_malloc(cs ? cs : 4)) == NULL) {
        mmq_release(s);
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: out of memory packing B", io->op);
    }
    for (int64_t i = 0; i < s->n_bmat; i++)
        axle_qgemm_pack_b((const uint8_t *)b->data + i * s->K * s->N, s->N,
                          s->K, s->N, b->dtype == AXLE_DTYPE_INT8,
                          s->bp + i * s->bbytes, s->colsum + i * s->N);
    for (int64_t i = 0; i < s->n_bmat; i++)
        axle_qgemm_pack_b8((const uint8_t *)b->data + i * s->K * s->N, s->N,
                           s->K, s->N, s->bp8 + i * s->b8bytes);
    *state = s;
    k->absorbed |= 1u << io->b;
    return AXLE_OK;
}

/* ---- run ------------------------------------------------------------------ */

struct mm_geo {
    int rbatch;
    int64_t ybatch[AXLE_MAX_RANK];
    int64_t astride[AXLE_MAX_RANK], bstride[AXLE_MAX_RANK]; /* matrices */
    int64_t M, K, N, n_batch, n_amat, n_bmat;
};

static void mm_geo_make(const struct axle_tensor *a,
                        const struct axle_tensor *b, struct mm_geo *g)
{
    int ra = a->rank, rb = b->rank;
    int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
    int64_t sa = 1, sb = 1;

    memset(g, 0, sizeof(*g));
    g->M = ra >= 2 ? a->dims[ra - 2] : 1;
    g->K = a->dims[ra - 1];
    g->N = rb >= 2 ? b->dims[rb - 1] : 1;
    g->rbatch = ba > bb ? ba : bb;
    g->n_batch = 1;
    for (int i = g->rbatch - 1; i >= 0; i--) {
        int ia = i - (g->rbatch - ba), ib = i - (g->rbatch - bb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1;
        int64_t db = ib >= 0 ? b->dims[ib] : 1;
        g->ybatch[i] = da > db ? da : db;
        g->astride[i] = da == 1 ? 0 : sa;
        g->bstride[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
        g->n_batch *= g->ybatch[i];
    }
    g->n_amat = sa;
    g->n_bmat = sb;
}

/* A and B matrix indices of output batch bi. */
static void mm_index(const struct mm_geo *g, int64_t bi, int64_t *ia,
                     int64_t *ib)
{
    *ia = *ib = 0;
    for (int i = g->rbatch - 1; i >= 0; i--) {
        int64_t idx = bi % g->ybatch[i];
        bi /= g->ybatch[i];
        *ia += idx * g->astride[i];
        *ib += idx * g->bstride[i];
    }
}

static int64_t pidx(enum pkind kd, int64_t mat, int64_t len, int64_t i)
{
    return kd == P_TENSOR ? 0 : (kd == P_VEC ? i : mat * len + i);
}

static size_t al64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static enum axle_status mmq_run_io(struct axle_kctx *k,
                                   const struct mmq_io *io)
{
    const struct axle_tensor *a = in_at(k, io->a), *b = in_at(k, io->b);
    const struct axle_tensor *az = in_at(k, io->az), *bz = in_at(k, io->bz);
    const struct axle_tensor *as = in_at(k, io->as), *bs = in_at(k, io->bs);
    const struct axle_tensor *ys = in_at(k, io->ys), *yz = in_at(k, io->yz);
    const struct mmq_state *s = k->state;
    struct axle_tensor *y = k->out[0];
    struct mm_geo g;
    enum pkind kaz, kas, kbz, kbs, kys = P_TENSOR, kyz = P_TENSOR;
    enum axle_status st;
    int n_threads = axle_pool_size(k->pool);
    bool a_s8 = a->dtype == AXLE_DTYPE_INT8, b_s8 = b->dtype == AXLE_DTYPE_INT8;
    bool qlin = io->ys >= 0, row_arr, col_zb, col_mult, fold;
    int64_t lda, rows_a, rows_y, bbytes, gs;
    size_t off = 0, o_a16, o_rs, o_bp = 0, o_cs = 0, o_za, o_mr, o_yz, o_zb,
           o_mc, o_g;
    char *base;
    float sa = 1.0f, sy = 1.0f, sb = 1.0f;

    st = mmq_infer_io(k, io);
    if (st != AXLE_OK)
        return st;
    pkind(k, io->op, "", az, a, true, &kaz);
    pkind(k, io->op, "", as, a, true, &kas);
    pkind(k, io->op, "", bz, b, false, &kbz);
    pkind(k, io->op, "", bs, b, false, &kbs);
    if (qlin) {
        pkind(k, io->op, "", ys, y, true, &kys);
        pkind(k, io->op, "", yz, y, true, &kyz);
        sa = axle_quant_scale_at(as, 0);
        sb = axle_quant_scale_at(bs, 0);
        sy = axle_quant_scale_at(ys, 0);
    }
    mm_geo_make(a, b, &g);
    if (s != NULL && (s->K != g.K || s->N != g.N || s->n_bmat != g.n_bmat))
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "%s: packed B does not match B", io->op);
    if (g.n_batch == 0 || g.M == 0 || g.N == 0)
        return AXLE_OK;
    if (n_threads < 1)
        n_threads = 1;
    lda = axle_qgemm_a_stride(g.K);
    rows_a = g.n_amat * g.M;
    rows_y = g.n_batch * g.M;
    bbytes = axle_qgemm_b_bytes(g.K, g.N);
    /* Row arrays over the output rows when a row parameter varies. */
    row_arr = kaz != P_TENSOR || kas != P_TENSOR || kys != P_TENSOR ||
              kyz != P_TENSOR;
    col_zb = kbz != P_TENSOR;
    col_mult = qlin && kbs != P_TENSOR;
    /* One tall product when every batch multiplies the same B and A is
     * not broadcast. */
    fold = g.n_bmat == 1 && g.n_amat == g.n_batch && kbz != P_BATCH &&
           kbs != P_BATCH;
    gs = axle_qgemm_scratch(fold ? rows_y : g.M, g.N, n_threads);

    o_a16 = off;
    off += al64((size_t)(rows_a * lda) * 2);
    o_rs = off;
    off += al64((size_t)rows_a * 4);
    if (s == NULL) {
        o_bp = off;
        off += al64((size_t)(g.n_bmat * bbytes));
        o_cs = off;
        off += al64((size_t)(g.n_bmat * g.N) * 4);
    }
    o_za = off;
    off += row_arr ? al64((size_t)rows_y * 4) : 0;
    o_mr = off;
    off += row_arr ? al64((size_t)rows_y * 4) : 0;
    o_yz = off;
    off += row_arr ? al64((size_t)rows_y * 4) : 0;
    o_zb = off;
    off += col_zb ? al64((size_t)(g.n_bmat * g.N) * 4) : 0;
    o_mc = off;
    off += col_mult ? al64((size_t)(g.n_bmat * g.N) * 4) : 0;
    o_g = off;
    off += (size_t)gs * 4;
    base = axle_kctx_scratch(k, off);
    if (base == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: out of scratch memory", io->op);

    int16_t *a16 = (int16_t *)(base + o_a16);
    int32_t *rowsum = (int32_t *)(base + o_rs);
    const uint8_t *bp = s != NULL ? s->bp : (uint8_t *)(base + o_bp);
    const int32_t *colsum = s != NULL ? s->colsum : (int32_t *)(base + o_cs);
    int32_t *za_row = row_arr ? (int32_t *)(base + o_za) : NULL;
    float *mult_row = row_arr && qlin ? (float *)(base + o_mr) : NULL;
    int32_t *yz_row = row_arr && qlin ? (int32_t *)(base + o_yz) : NULL;
    int32_t *zb_col = col_zb ? (int32_t *)(base + o_zb) : NULL;
    float *mult_col = col_mult ? (float *)(base + o_mc) : NULL;
    int32_t *gscr = (int32_t *)(base + o_g);

    axle_qgemm_pack_a(a->data, g.K, rows_a, g.K, a_s8, a16, rowsum);
    if (s == NULL)
        for (int64_t i = 0; i < g.n_bmat; i++)
            axle_qgemm_pack_b((const uint8_t *)b->data + i * g.K * g.N, g.N,
                              g.K, g.N, b_s8, (uint8_t *)(base + o_bp) +
                                                  i * bbytes,
                              (int32_t *)(base + o_cs) + i * g.N);
    if (row_arr) {
        for (int64_t bi = 0; bi < g.n_batch; bi++) {
            int64_t ia, ib;
            mm_index(&g, bi, &ia, &ib);
            for (int64_t i = 0; i < g.M; i++) {
                int64_t r = bi * g.M + i;
                za_row[r] = axle_quant_zp_at(az, pidx(kaz, ia, g.M, i));
                if (!qlin)
                    continue;
                float ra = axle_quant_scale_at(as, pidx(kas, ia, g.M, i));
                float ry = axle_quant_scale_at(ys, pidx(kys, bi, g.M, i));
                mult_row[r] = col_mult ? ra / ry : ra * sb / ry;
                yz_row[r] = axle_quant_zp_at(yz, pidx(kyz, bi, g.M, i));
            }
        }
    }
    for (int64_t ib = 0; ib < g.n_bmat; ib++)
        for (int64_t j = 0; j < g.N; j++) {
            if (col_zb)
                zb_col[ib * g.N + j] = axle_quant_zp_at(bz, pidx(kbz, ib, g.N,
                                                                 j));
            if (col_mult) {
                float cb = axle_quant_scale_at(bs, pidx(kbs, ib, g.N, j));
                mult_col[ib * g.N + j] = row_arr ? cb : sa * cb / sy;
            }
        }

    struct axle_qgemm_epi e = {
        .K = g.K,
        .za = axle_quant_zp_at(az, 0),
        .zb = axle_quant_zp_at(bz, 0),
        .za_row = za_row,
        .rowsum = rowsum,
        .y_dtype = y->dtype,
        .ldy = g.N,
        .mult = row_arr ? 1.0f : (col_mult ? 1.0f : sa * sb / sy),
        .mult_row = mult_row,
        .yzp = qlin ? axle_quant_zp_at(yz, 0) : 0,
        .yzp_row = yz_row,
    };
    size_t esz = y->dtype == AXLE_DTYPE_INT32 ? 4 : 1;
    if (fold) {
        e.zb_col = zb_col;
        e.colsum = colsum;
        e.mult_col = mult_col;
        e.y = y->data;
        if (rows_y == 1 && s != NULL) {
            axle_qgemv_run(k->pool, n_threads, g.N, g.K, a16, s->bp8, s->b_s8,
                           &e, gscr);
            return AXLE_OK;
        }
        axle_qgemm_run(k->pool, n_threads, rows_y, g.N, g.K, a16, lda, bp, &e,
                       gscr);
        return AXLE_OK;
    }
    for (int64_t bi = 0; bi < g.n_batch; bi++) {
        int64_t ia, ib;
        struct axle_qgemm_epi be = e;
        mm_index(&g, bi, &ia, &ib);
        be.za_row = za_row != NULL ? za_row + bi * g.M : NULL;
        be.rowsum = rowsum + ia * g.M;
        be.mult_row = mult_row != NULL ? mult_row + bi * g.M : NULL;
        be.yzp_row = yz_row != NULL ? yz_row + bi * g.M : NULL;
        be.zb_col = zb_col != NULL ? zb_col + ib * g.N : NULL;
        be.colsum = colsum + ib * g.N;
        be.mult_col = mult_col != NULL ? mult_col + ib * g.N : NULL;
        be.y = (char *)y->data + (size_t)(bi * g.M * g.N) * esz;
        if (g.M == 1 && s != NULL) {
            axle_qgemv_run(k->pool, n_threads, g.N, g.K, a16 + ia * lda,
                           s->bp8 + ib * s->b8bytes, s->b_s8, &be, gscr);
            continue;
        }
        axle_qgemm_run(k->pool, n_threads, g.M, g.N, g.K,
                       a16 + ia * g.M * lda, lda, bp + ib * bbytes, &be, gscr);
    }
    return AXLE_OK;
}

/* ---- op tables ------------------------------------------------------------ */

static enum axle_status qlmm_infer(struct axle_kctx *k)
{
    return mmq_infer_io(k, &QLMM);
}

static enum axle_status qlmm_prepare(struct axle_kctx *k, void **state)
{
    return mmq_prepare_io(k, state, &QLMM);
}

static enum axle_status qlmm_run(struct axle_kctx *k)
{
    return mmq_run_io(k, &QLMM);
}

static enum axle_status mmi_infer(struct axle_kctx *k)
{
    return mmq_infer_io(k, &MMI);
}

static enum axle_status mmi_prepare(struct axle_kctx *k, void **state)
{
    return mmq_prepare_io(k, state, &MMI);
}

static enum axle_status mmi_run(struct axle_kctx *k)
{
    return mmq_run_io(k, &MMI);
}

const struct axle_op axle_op_qlinear_matmul = {
    .name = "QLinearMatMul",
    .domain = "",
    .min_inputs = 8,
    .max_inputs = 8,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = qlmm_infer,
    .run = qlmm_run,
    .prepare = qlmm_prepare,
    .release = mmq_release,
};

const struct axle_op axle_op_matmul_integer = {
    .name = "MatMulInteger",
    .domain = "",
    .min_inputs = 2,
    .max_inputs = 4,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = mmi_infer,
    .run = mmi_run,
    .prepare = mmi_prepare,
    .release = mmq_release,
};
