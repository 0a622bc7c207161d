/*
 * forest_avx512.c - perfect trees, 16 rows per vector (AVX-512F).
 *
 * A row's position inside a level is j (0 .. 2^L - 1); a step is
 * j = 2j + (x[f] >= t). Levels 0-4 hold at most 16 nodes, so their
 * thresholds and features come from one register by vpermps/vpermd
 * (no memory access), level 5 (32 nodes) from two by vpermt2ps; only deeper
 * levels and the feature values themselves are gathered. Leaves are
 * gathered as doubles and added in tree order, rounded to float after each
 * tree when the forest accumulates in float, exactly as the scalar walk.
 *
 * Called only after a cpuid check (forest.c).
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernels/forest_internal.h"

/* Scratch arrays on the stack are reached through an opaque pointer, so the
 * compiler cannot assume the 64-byte alignment it gave them and turn the
 * unaligned vector accesses into aligned ones: under ASan's
 * detect_stack_use_after_return the frame lives on a fake stack that is not
 * 64-byte aligned, and an aligned access there faults. */
static inline void *opaque(void *p)
{
    __asm__("" : "+r"(p));
    return p;
}

static inline __attribute__((always_inline)) void
group16(const struct axle_forest_tree *ct, int depth, const float *x,
        int64_t stride, double *acc, bool accf, bool nan)
{
    const float *pt = ct->pt;
    const int32_t *pf = ct->pf;
    const __m512i lane_off = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                          15),
        _mm512_set1_epi32((int32_t)stride));
    const __m512i fmask = _mm512_set1_epi32(0x7fffffff);
    const __m512i sign = _mm512_set1_epi32((int32_t)0x80000000u);
    const __m512i one = _mm512_set1_epi32(1);
    __m512i j = _mm512_setzero_si512();

    for (int L = 0; L < depth; L++) {
        int32_t base = (1 << L) - 1;
        __m512 t;
        __m512i f, fi;
        __m512 v;
        __mmask16 hi;

        if (L <= 4) {
            t = _mm512_permutexvar_ps(j, _mm512_loadu_ps(pt + base));
            f = _mm512_permutexvar_epi32(j, _mm512_loadu_si512(pf + base));
        } else if (L == 5) {
            t = _mm512_permutex2var_ps(_mm512_loadu_ps(pt + base), j,
                                       _mm512_loadu_ps(pt + base + 16));
            f = _mm512_permutex2var_epi32(_mm512_loadu_si512(pf + base), j,
                                          _mm512_loadu_si512(pf + base + 16));
        } else {
            t = _mm512_i32gather_ps(j, pt + base, 4);
            f = _mm512_i32gather_epi32(j, pf + base, 4);
        }
        fi = _mm512_add_epi32(lane_off, _mm512_and_si512(f, fmask));
        v = _mm512_i32gather_ps(fi, x, 4);
        hi = _mm512_cmp_ps_mask(v, t, _CMP_GE_OQ);
        if (nan)
            hi |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) &
                  _mm512_test_epi32_mask(f, sign);
        j = _mm512_add_epi32(j, j);
        j = _mm512_mask_add_epi32(j, hi, j, one);
    }
    {
        const double *lv = ct->pv;
        __m512d l0 = _mm512_i32gather_pd(_mm512_castsi512_si256(j), lv, 8);
        __m512d l1 = _mm512_i32gather_pd(_mm512_extracti64x4_epi64(j, 1), lv,
                                         8);
        __m512d a0 = _mm512_add_pd(_mm512_loadu_pd(acc), l0);
        __m512d a1 = _mm512_add_pd(_mm512_loadu_pd(acc + 8), l1);
        if (accf) {
            a0 = _mm512_cvtps_pd(_mm512_cvtpd_ps(a0));
            a1 = _mm512_cvtps_pd(_mm512_cvtpd_ps(a1));
        }
        _mm512_storeu_pd(acc, a0);
        _mm512_storeu_pd(acc + 8, a1);
    }
}

#define CASE(D)                                                              \
    case D:                                                                  \
        for (; r + 16 <= n; r += 16) {                                       \
            if (accf) {                                                      \
                if (nan) group16(ct, D, x + r * stride, stride, acc + r, 1, 1); \
                else group16(ct, D, x + r * stride, stride, acc + r, 1, 0); \
            } else {                                                         \
                if (nan) group16(ct, D, x + r * stride, stride, acc + r, 0, 1); \
                else group16(ct, D, x + r * stride, stride, acc + r, 0, 0); \
            }                                                                \
        }                                                                    \
        break;

int64_t axle_forest_walk16_avx512(const struct axle_forest_tree *ct,
                                  const float *x, int64_t n, int64_t stride,
                                  double *acc, bool accf, bool nan)
{
    int64_t r = 0;
    switch (ct->depth) {
    CASE(1)
    CASE(2)
    CASE(3)
    CASE(4)
    CASE(5)
    CASE(6)
    CASE(7)
    CASE(8)
    CASE(9)
    CASE(10)
    default:
        break;
    }
    return r;
}

/*
 * Whole-tree evaluation for shallow perfect trees (depth <= 6, at most 63
 * splits), on a block of up to 64 rows stored feature-major.
 *
 * Instead of walking, every split of the tree is tested against every row:
 * one broadcast threshold compared with 16 contiguous feature values gives
 * a 16-row mask, with no gather. Then each row finds its leaf by reading
 * its own bit of the mask of the split it is at, level by level: the masks
 * of a level (at most 32 of them) sit in one or two registers, so that step
 * is a permute, as for the thresholds above. A split tests 2^depth - 1
 * nodes instead of depth, but 16 rows at a time and without the feature
 * gathers, which are what bounds the walk above.
 */
/* The split masks of one tree for one block: m[node] bit r set when row r
 * goes to the high side; the spare entries let level 5 read four whole
 * registers. */
struct full_masks {
    uint64_t m[64 + 32];
};

static inline __attribute__((always_inline)) void
full_compare(const struct axle_forest_tree *ct, int depth, const uint16_t *xr,
             int64_t hi_off, int nc, struct full_masks *fm)
{
    const int nodes = (1 << depth) - 1;
    const uint16_t *pr = ct->pr;
    const int32_t *pf = ct->pf;

    for (int k = 0; k < nodes; k++) {
        uint32_t f = (uint32_t)pf[k];
        /* a split that sends missing values high reads the copy whose
         * NaNs rank above every cut */
        const uint16_t *col = xr + (int64_t)(f & 0x7fffffffu) * 64 +
                              (int64_t)(f >> 31) * hi_off;
        __m512i b = _mm512_set1_epi16((short)pr[k]);
        __mmask32 lo = _mm512_cmpgt_epu16_mask(_mm512_loadu_si512(col), b);
        __mmask32 hi = nc > 2 ? _mm512_cmpgt_epu16_mask(
                                    _mm512_loadu_si512(col + 32), b)
                              : 0;
        _store_mask64((__mmask64 *)&fm->m[k], _mm512_kunpackd(hi, lo));
    }
}

static inline __attribute__((always_inline)) void
full_walk(const struct axle_forest_tree *ct, int depth,
          const struct full_masks *fm, int nc, int64_t n, double *acc,
          int64_t as, bool accf)
{
    const __m512i lane_bit = _mm512_sllv_epi32(
        _mm512_set1_epi32(1),
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                          15));
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i sixteen = _mm512_set1_epi32(16);

#pragma GCC unroll 4
    for (int c = 0; c < nc; c++) {
        /* rows 16c .. 16c + 15 are bits 16(c & 1) + r of dword c >> 1 of
         * each split's mask */
        const __m512i bit = _mm512_slli_epi32(lane_bit, 16 * (c & 1));
        const __m512i half = _mm512_set1_epi32(c >> 1);
        __m512i j = _mm512_setzero_si512();
        int64_t left = n - 16 * c;
        double tmp_[16], *tmp = opaque(tmp_);

#pragma GCC unroll 6
        for (int L = 0; L < depth; L++) {
            const uint64_t *ml = fm->m + (1 << L) - 1;
            __m512i bits, jj = _mm512_add_epi32(j, j);
            __m512i dw = _mm512_add_epi32(jj, half);
            if (L <= 3) {
                bits = _mm512_permutexvar_epi32(dw, _mm512_loadu_si512(ml));
            } else if (L == 4) {
                bits = _mm512_permutex2var_epi32(_mm512_loadu_si512(ml), dw,
                                                 _mm512_loadu_si512(ml + 8));
            } else {
                __m512i lo = _mm512_permutex2var_epi32(
                    _mm512_loadu_si512(ml), dw, _mm512_loadu_si512(ml + 8));
                __m512i hi = _mm512_permutex2var_epi32(
                    _mm512_loadu_si512(ml + 16), dw,
                    _mm512_loadu_si512(ml + 24));
                bits = _mm512_mask_blend_epi32(
                    _mm512_test_epi32_mask(j, sixteen), lo, hi);
            }
            j = _mm512_mask_add_epi32(jj, _mm512_test_epi32_mask(bits, bit),
                                      jj, one);
        }
        {
            const double *lv = ct->pv;
            __m512d l0, l1;
            double *a = acc + 16 * c * as;
            if (ct->pvf != NULL) {
                /* 64 float leaves in four registers: two 32-way selects
                 * and a blend on bit 5 of the leaf index */
                const float *q = ct->pvf;
                __m512 lo = _mm512_permutex2var_ps(_mm512_loadu_ps(q), j,
                                                   _mm512_loadu_ps(q + 16));
                __m512 hi = _mm512_permutex2var_ps(_mm512_loadu_ps(q + 32), j,
                                                   _mm512_loadu_ps(q + 48));
                __m512 lf = _mm512_mask_blend_ps(
                    _mm512_test_epi32_mask(j, _mm512_set1_epi32(32)), lo, hi);
                l0 = _mm512_cvtps_pd(_mm512_castps512_ps256(lf));
                l1 = _mm512_cvtps_pd(_mm256_castpd_ps(
                    _mm512_extractf64x4_pd(_mm512_castps_pd(lf), 1)));
            } else {
                l0 = _mm512_i32gather_pd(_mm512_castsi512_si256(j), lv, 8);
                l1 = _mm512_i32gather_pd(_mm512_extracti64x4_epi64(j, 1), lv,
                                         8);
            }
            if (as == 1) {
                __mmask8 v0 = left >= 8 ? 0xff : (__mmask8)((1u << left) - 1);
                __mmask8 v1 = left >= 16 ? 0xff
                              : left > 8 ? (__mmask8)((1u << (left - 8)) - 1)
                                         : 0;
                __m512d a0 = _mm512_add_pd(_mm512_maskz_loadu_pd(v0, a), l0);
                __m512d a1 =
                    _mm512_add_pd(_mm512_maskz_loadu_pd(v1, a + 8), l1);
                if (accf) {
                    a0 = _mm512_cvtps_pd(_mm512_cvtpd_ps(a0));
                    a1 = _mm512_cvtps_pd(_mm512_cvtpd_ps(a1));
                }
                _mm512_mask_storeu_pd(a, v0, a0);
                _mm512_mask_storeu_pd(a + 8, v1, a1);
            } else {
                _mm512_storeu_pd(tmp, l0);
                _mm512_storeu_pd(tmp + 8, l1);
                for (int r = 0; r < 16 && r < left; r++) {
                    double s = a[r * as] + tmp[r];
                    a[r * as] = accf ? (double)(float)s : s;
                }
            }
        }
    }
}

static bool full_ok(const struct axle_forest_tree *ct)
{
    return ct->perfect && ct->depth >= 1 && ct->depth <= 6 && ct->pr != NULL;
}

#define DEPTHS(X) X(1) X(2) X(3) X(4) X(5) X(6)
#define CMP_CASE(D)                                                          \
    case D:                                                                  \
        if (nc == 4) full_compare(ct, D, xt, hi_off, 4, fm);                 \
        else full_compare(ct, D, xt, hi_off, nc, fm);                        \
        break;
#define WALK_CASE(D)                                                         \
    case D:                                                                  \
        if (nc == 4) full_walk(ct, D, fm, 4, n, acc, as, accf);              \
        else full_walk(ct, D, fm, nc, n, acc, as, accf);                     \
        break;

static void compare_any(const struct axle_forest_tree *ct, const uint16_t *xt,
                        int64_t hi_off, int nc, struct full_masks *fm)
{
    switch (ct->depth) {
    DEPTHS(CMP_CASE)
    default:
        break;
    }
}

static void walk_any(const struct axle_forest_tree *ct,
                     const struct full_masks *fm, int nc, int64_t n,
                     double *acc, int64_t as, bool accf)
{
    switch (ct->depth) {
    DEPTHS(WALK_CASE)
    default:
        break;
    }
}

int32_t axle_forest_full_avx512(const struct axle_forest_tree *cts,
                                int32_t n_trees, const uint16_t *xt,
                                int64_t hi_off, int64_t n, double *acc,
                                int64_t as, bool accf)
{
    /* Two mask buffers: tree i + 1 is compared before tree i walks, so the
     * walk's vector loads of the masks do not wait on the stores that
     * just wrote them (a load over several pending narrow stores cannot
     * be forwarded and stalls until they drain). */
    struct full_masks fm_[2], *fm = opaque(fm_);
    int nc = (int)((n + 15) / 16);
    int32_t k = 0;

    if (n_trees == 0 || !full_ok(&cts[0]))
        return 0;
    compare_any(&cts[0], xt, hi_off, nc, &fm[0]);
    for (;; k++) {
        bool more = k + 1 < n_trees && full_ok(&cts[k + 1]);
        if (more)
            compare_any(&cts[k + 1], xt, hi_off, nc, &fm[(k + 1) & 1]);
        walk_any(&cts[k], &fm[k & 1], nc, n, acc + cts[k].target, as, accf);
        if (!more)
            break;
    }
    return k + 1;
}

/*
 * Single rows, 32 trees per vector (forest_internal.h): the row's ranks sit
 * in two registers (as they are and with NaN above every cut), so a split's
 * rank is one word permute, not a load; every split of the 32 trees is
 * compared, 32 words at a time, with one 64-byte load per split (the
 * groups stream from L2, and its bandwidth is what bounds this), then each tree finds its leaf from the
 * masks as in the block evaluator above (two passes of 16 lanes), and two
 * gathers fetch the 32 leaves. A group's walk is interleaved with the next
 * group's compares, which do not depend on it.
 */
struct row_masks {
    uint32_t m[64 + 16];
};

/* One step of a lane's walk: from position j at level L to level L + 1 by
 * its own bit (lane + 16 * pass) of the mask of the split it is at. */
static inline __attribute__((always_inline)) __m512i
row_step(const struct row_masks *rm, int L, int pass, __m512i j)
{
    const __m512i lane_bit = _mm512_sllv_epi32(
        _mm512_set1_epi32(1 << (16 * pass)),
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                          15));
    const uint32_t *ml = rm->m + (1 << L) - 1;
    __m512i bits, jj = _mm512_add_epi32(j, j);
    if (L <= 4)
        bits = _mm512_permutexvar_epi32(j, _mm512_loadu_si512(ml));
    else
        bits = _mm512_permutex2var_epi32(_mm512_loadu_si512(ml), j,
                                         _mm512_loadu_si512(ml + 16));
    return _mm512_mask_add_epi32(jj, _mm512_test_epi32_mask(bits, lane_bit),
                                 jj, _mm512_set1_epi32(1));
}

/* The leaves the lanes reached into leaves[0..32); with sum, added to it in
 * tree order. */
static inline __attribute__((always_inline)) void
row_finish(const struct axle_row_group *g, __m512i j0, __m512i j1,
           float *leaves, float *sum)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                           11, 12, 13, 14, 15);
    const int G = AXLE_ROW_GROUP;
    _mm512_storeu_ps(leaves,
                     _mm512_i32gather_ps(
                         _mm512_add_epi32(_mm512_slli_epi32(j0, 5), lane),
                         g->v, 4));
    _mm512_storeu_ps(leaves + 16,
                     _mm512_i32gather_ps(
                         _mm512_add_epi32(_mm512_slli_epi32(j1, 5), lane),
                         g->v + 16, 4));
    if (sum != NULL) {
        float a = *sum;
        for (int l = 0; l < g->lanes && l < G; l++)
            a += leaves[l];
        *sum = a;
    }
}

/* Compares every split of group g into rm; with cm, walks the previous
 * group (masks cm) one level per eight splits, into *j0 / *j1. */
static inline __attribute__((always_inline)) void
row_compare(const struct axle_row_group *g, __m512i r0, __m512i r1,
            struct row_masks *rm, const struct row_masks *cm, __m512i *j0,
            __m512i *j1)
{
    for (int k = 0; k < 63; k++) {
        /* one word per split and tree: its cut index << 6 | the rank's
         * place in r0:r1 (the permute reads only those low six bits); the
         * row's ranks are << 6, so rank > index is the word compare */
        __m512i w = _mm512_loadu_si512(g->split + 32 * k);
        __m512i v = _mm512_permutex2var_epi16(r0, w, r1);
        _store_mask32((__mmask32 *)&rm->m[k], _mm512_cmpgt_epu16_mask(v, w));
        if (cm != NULL && (k & 7) == 7 && (k >> 3) < AXLE_ROW_GROUP_DEPTH) {
            *j0 = row_step(cm, k >> 3, 0, *j0);
            *j1 = row_step(cm, k >> 3, 1, *j1);
        }
    }
}

void axle_forest_row_groups_avx512(const struct axle_row_group *g, int32_t n,
                                   const uint16_t *ranks, bool nan,
                                   float *leaves, float *sum)
{
    uint16_t rs_[64], *rs = opaque(rs_);
    struct row_masks rm_[2], *rm = opaque(rm_);
    __m512i r0, r1;

    for (int i = 0; i < 32; i++) {
        rs[i] = (uint16_t)(ranks[i] << 6);
        rs[32 + i] = (uint16_t)((nan ? ranks[32 + i] : ranks[i]) << 6);
    }
    r0 = _mm512_loadu_si512(rs);
    r1 = _mm512_loadu_si512(rs + 32);
    if (n <= 0)
        return;
    row_compare(&g[0], r0, r1, &rm[0], NULL, NULL, NULL);
    for (int32_t i = 0; i < n; i++) {
        __m512i j0 = _mm512_setzero_si512(), j1 = _mm512_setzero_si512();
        float *out = sum != NULL ? leaves : leaves + AXLE_ROW_GROUP * i;
        if (i + 1 < n) {
            row_compare(&g[i + 1], r0, r1, &rm[(i + 1) & 1], &rm[i & 1], &j0,
                        &j1);
        } else {
            for (int L = 0; L < AXLE_ROW_GROUP_DEPTH; L++) {
                j0 = row_step(&rm[i & 1], L, 0, j0);
                j1 = row_step(&rm[i & 1], L, 1, j1);
            }
        }
        row_finish(&g[i], j0, j1, out, sum);
    }
}

/*
 * Ranks of a block (see axle_forest_full_avx512): for 16 rows at once, a
 * branch-free binary search over the feature's cuts, each step one gather
 * from the cut table (which sits in L1); the features' searches are
 * independent, so their gathers overlap.
 */
void axle_forest_rank_block_avx512(const float *cuts, const int32_t *cut_off,
                                   int32_t nf, const float *xt, int64_t n,
                                   bool nan, uint16_t *xr, int64_t hi_off)
{
    int nc = (int)((n + 15) / 16);
    for (int32_t j = 0; j < nf; j++) {
        const float *c = cuts + cut_off[j];
        int32_t count = cut_off[j + 1] - cut_off[j];
        for (int ch = 0; ch < 4; ch++) {
            uint16_t *out = xr + (int64_t)j * 64 + 16 * ch;
            __m512i base = _mm512_setzero_si512();
            __m512 v;
            int32_t m = count;
            if (ch >= nc || count == 0) {
                _mm256_storeu_si256((__m256i *)out, _mm256_setzero_si256());
                if (nan)
                    _mm256_storeu_si256((__m256i *)(out + hi_off),
                                        _mm256_setzero_si256());
                continue;
            }
            v = _mm512_loadu_ps(xt + (int64_t)j * 64 + 16 * ch);
            while (m > 1) {
                int32_t half = m / 2;
                __m512 cv = _mm512_i32gather_ps(
                    _mm512_add_epi32(base, _mm512_set1_epi32(half - 1)), c,
                    4);
                base = _mm512_mask_add_epi32(
                    base, _mm512_cmp_ps_mask(cv, v, _CMP_LE_OQ), base,
                    _mm512_set1_epi32(half));
                m -= half;
            }
            base = _mm512_mask_add_epi32(
                base,
                _mm512_cmp_ps_mask(_mm512_i32gather_ps(base, c, 4), v,
                                   _CMP_LE_OQ),
                base, _mm512_set1_epi32(1));
            _mm256_storeu_si256((__m256i *)out, _mm512_cvtepi32_epi16(base));
            if (nan)
                _mm256_storeu_si256(
                    (__m256i *)(out + hi_off),
                    _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(
                        _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), base,
                        _mm512_set1_epi32(0xfffe))));
        }
    }
}

/* The ranks of one row (nf <= 32): the same search as above, the lanes
 * being features, each with its own cut table and count. */
void axle_forest_rank_row_avx512(const float *cuts, const int32_t *cut_off,
                                 int32_t nf, const float *x, uint16_t *ranks)
{
    for (int c = 0; c < 2; c++) {
        int32_t left = nf - 16 * c;
        __mmask16 valid = left >= 16 ? 0xffff
                          : left > 0 ? (__mmask16)((1u << left) - 1)
                                     : 0;
        __m512i start = _mm512_maskz_loadu_epi32(valid, cut_off + 16 * c);
        __m512i n = _mm512_sub_epi32(
            _mm512_maskz_loadu_epi32(valid, cut_off + 16 * c + 1), start);
        __m512 v = _mm512_maskz_loadu_ps(valid, x + 16 * c);
        __m512i base = start, one = _mm512_set1_epi32(1);
        __mmask16 active, m;

        while ((active = _mm512_cmpgt_epi32_mask(n, one)) != 0) {
            __m512i half = _mm512_srli_epi32(n, 1);
            __m512 cv = _mm512_mask_i32gather_ps(
                v, active, _mm512_sub_epi32(_mm512_add_epi32(base, half), one),
                cuts, 4);
            m = _mm512_mask_cmp_ps_mask(active, cv, v, _CMP_LE_OQ);
            base = _mm512_mask_add_epi32(base, m, base, half);
            n = _mm512_mask_sub_epi32(n, active, n, half);
        }
        active = _mm512_cmpeq_epi32_mask(n, one);
        m = _mm512_mask_cmp_ps_mask(
            active, _mm512_mask_i32gather_ps(v, active, base, cuts, 4), v,
            _CMP_LE_OQ);
        base = _mm512_mask_add_epi32(base, m, base, one);
        base = _mm512_sub_epi32(base, start);
        _mm256_storeu_si256((__m256i *)(ranks + 16 * c),
                            _mm512_cvtepi32_epi16(base));
        _mm256_storeu_si256(
            (__m256i *)(ranks + 32 + 16 * c),
            _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(
                _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), base,
                _mm512_set1_epi32(1023))));
    }
}
