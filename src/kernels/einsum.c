/*
 * einsum.c - ONNX Einsum (12+): any valid equation with explicit ("->") or
 * implicit output, an ellipsis per term (broadcast numpy-style across
 * operands), repeated labels within a term (diagonals) and summed labels.
 *
 * Each operand gets one stride per label (repeated labels add their
 * strides, which walks the diagonal; broadcast ellipsis dims get stride 0).
 * The kernel is one exact strided loop over output labels and summed
 * labels (double accumulation for floats, wrapping int64 for integers).
 * Not yet mapped to batched GEMM: exporters emit MatMul for the hot paths
 * of the models axle targets.
 */
#include <string.h>

#include "base/err.h"
#include "kernels/conv.h"

#define EIN_MAX_OPS 16
/* Labels: ellipsis dims take ids 0..AXLE_MAX_RANK-1, letters after. */
#define EIN_LETTER0 AXLE_MAX_RANK
#define EIN_MAX_LABELS (AXLE_MAX_RANK + 52)
#define EIN_ELL (-1)

struct ein_term {
    int n; /* entries; EIN_ELL marks the ellipsis */
    int lab[AXLE_MAX_RANK + 1];
    bool has_ell;
};

struct ein {
    int n_ops;
    struct ein_term in[EIN_MAX_OPS], out;
    int ell_rank;
    int ell_of[EIN_MAX_OPS]; /* ellipsis rank of each operand */
};

static int letter_id(char c)
{
    if (c >= 'a' && c <= 'z')
        return EIN_LETTER0 + (c - 'a');
    if (c >= 'A' && c <= 'Z')
        return EIN_LETTER0 + 26 + (c - 'A');
    return -2;
}

static enum axle_status parse_term(struct axle_kctx *k, const char **pp,
                                   const char *end, struct ein_term *t)
{
    const char *p = *pp;

    memset(t, 0, sizeof(*t));
    while (p < end && *p != ',' && *p != '-') {
        if (*p == ' ') {
            p++;
            continue;
        }
        if (t->n > AXLE_MAX_RANK)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Einsum: term with too many labels");
        if (*p == '.') {
            if (end - p < 3 || p[1] != '.' || p[2] != '.' || t->has_ell)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Einsum: bad ellipsis in equation");
            t->has_ell = true;
            t->lab[t->n++] = EIN_ELL;
            p += 3;
            continue;
        }
        int id = letter_id(*p);
        if (id < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Einsum: invalid character '%c' in equation",
                                *p);
        t->lab[t->n++] = id;
        p++;
    }
    *pp = p;
    return AXLE_OK;
}

/* Parse and check the equation against operand ranks (rank -1: unknown). */
static enum axle_status ein_parse(struct axle_kctx *k, struct ein *e,
                                  bool *ranks_known)
{
    const char *eq = axle_node_attr_str(k->node, "equation", NULL);
    const char *p, *end, *arrow;
    int count[EIN_MAX_LABELS] = {0};
    enum axle_status st;

    if (eq == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Einsum: missing equation");
    memset(e, 0, sizeof(*e));
    end = eq + strlen(eq);
    arrow = strstr(eq, "->");
    p = eq;
    for (;;) {
        if (e->n_ops == EIN_MAX_OPS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Einsum: more than %d operands",
                                EIN_MAX_OPS);
        st = parse_term(k, &p, arrow ? arrow : end, &e->in[e->n_ops++]);
        if (st != AXLE_OK)
            return st;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        break;
    }
    if (arrow != NULL && p != arrow)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Einsum: malformed equation '%.80s'", eq);
    if (e->n_ops != k->n_inputs)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Einsum: equation has %d operands, node has %d "
                            "inputs", e->n_ops, k->n_inputs);
    *ranks_known = true;
    for (int i = 0; i < e->n_ops; i++) {
        const struct axle_tensor *t = k->in[i];
        int letters = e->in[i].n - (e->in[i].has_ell ? 1 : 0);
        if (t == NULL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Einsum: input %d missing", i);
        if (t->rank < 0) {
            *ranks_known = false;
            continue;
        }
        if (e->in[i].has_ell ? t->rank < letters : t->rank != letters)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Einsum: input %d has rank %d, the equation "
                                "gives it %d labels", i, t->rank, letters);
        e->ell_of[i] = e->in[i].has_ell ? t->rank - letters : 0;
        if (e->ell_of[i] > e->ell_rank)
            e->ell_rank = e->ell_of[i];
        for (int j = 0; j < e->in[i].n; j++)
            if (e->in[i].lab[j] >= 0)
                count[e->in[i].lab[j]]++;
    }
    if (arrow != NULL) {
        bool seen[EIN_MAX_LABELS] = {false};
        const char *q = arrow + 2;
        st = parse_term(k, &q, end, &e->out);
        if (st != AXLE_OK)
            return st;
        if (q != end)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Einsum: malformed output term");
        for (int j = 0; j < e->out.n; j++) {
            int l = e->out.lab[j];
            if (l < 0)
                continue;
            if (seen[l] || count[l] == 0)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Einsum: output label '%c' repeated or "
                                    "absent from the inputs",
                                    l < EIN_LETTER0 + 26
                                        ? 'a' + (l - EIN_LETTER0)
                                        : 'A' + (l - EIN_LETTER0 - 26));
            seen[l] = true;
        }
    } else {
        /* Implicit output: ellipsis dims, then labels used once, sorted. */
        bool any_ell = false;
        for (int i = 0; i < e->n_ops; i++)
            any_ell |= e->in[i].has_ell;
        if (any_ell) {
            e->out.lab[e->out.n++] = EIN_ELL;
            e->out.has_ell = true;
        }
        for (int l = EIN_LETTER0; l < EIN_MAX_LABELS; l++)
            if (count[l] == 1) {
                if (e->out.n > AXLE_MAX_RANK)
                    return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                        "Einsum: output rank too large");
                e->out.lab[e->out.n++] = l;
            }
    }
    return AXLE_OK;
}

/* Expanded label list of operand i (ellipsis replaced by its dim ids,
 * right-aligned in the global ellipsis). */
static int expand_labels(const struct ein *e, const struct ein_term *t,
                         int ell_n, int *out)
{
    int n = 0;
    for (int j = 0; j < t->n; j++) {
        if (t->lab[j] != EIN_ELL) {
            out[n++] = t->lab[j];
            continue;
        }
        for (int d = 0; d < ell_n; d++)
            out[n++] = e->ell_rank - ell_n + d;
    }
    return n;
}

/* Sizes of every label; -1 unknown. */
static enum axle_status label_sizes(struct axle_kctx *k, const struct ein *e,
                                    int64_t *size)
{
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        size[l] = -3; /* unused */
    for (int i = 0; i < e->n_ops; i++) {
        const struct axle_tensor *t = k->in[i];
        int labs[AXLE_MAX_RANK + 1];
        int n = expand_labels(e, &e->in[i], e->ell_of[i], labs);
        for (int d = 0; d < n; d++) {
            int64_t v = t->dims[d], *s = &size[labs[d]];
            bool ell = labs[d] < EIN_LETTER0;
            if (*s == -3 || (*s == 1 && ell)) {
                *s = v;
            } else if (v == *s || (ell && v == 1)) {
                continue;
            } else if (v >= 0 && *s >= 0) {
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Einsum: label sizes disagree (%lld vs "
                                    "%lld) at input %d dim %d",
                                    (long long)*s, (long long)v, i, d);
            } else if (*s < 0 && v >= 0) {
                *s = v;
            }
        }
    }
    return AXLE_OK;
}

static enum axle_status einsum_infer(struct axle_kctx *k)
{
    struct ein e;
    struct axle_tensor *y = k->out[0];
    int64_t size[EIN_MAX_LABELS];
    int labs[AXLE_MAX_RANK + 1], n;
    bool known;
    enum axle_status st;

    y->dtype = k->in[0] != NULL ? k->in[0]->dtype : AXLE_DTYPE_UNDEFINED;
    for (int i = 0; i < k->n_inputs; i++)
        if (k->in[i] != NULL && k->in[i]->dtype && y->dtype &&
            k->in[i]->dtype != y->dtype)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Einsum: inputs have different dtypes");
    if (y->dtype == AXLE_DTYPE_STRING || y->dtype == AXLE_DTYPE_BOOL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Einsum: unsupported dtype %s",
                            axle_dtype_name(y->dtype));
    st = ein_parse(k, &e, &known);
    if (st != AXLE_OK)
        return st;
    if (!known) {
        y->rank = -1;
        return AXLE_OK;
    }
    st = label_sizes(k, &e, size);
    if (st != AXLE_OK)
        return st;
    n = expand_labels(&e, &e.out, e.ell_rank, labs);
    if (n > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Einsum: output rank %d too large", n);
    y->rank = n;
    for (int d = 0; d < n; d++)
        y->dims[d] = size[labs[d]] == -3 ? 1 : size[labs[d]];
    return AXLE_OK;
}

/* ---- run ---------------------------------------------------------------- */

struct ein_plan {
    int n_loop;           /* output labels first, then summed labels */
    int n_out;
    int64_t ext[EIN_MAX_LABELS];
    int64_t stride[EIN_MAX_OPS][EIN_MAX_LABELS]; /* per loop position */
};

static void plan_make(const struct axle_kctx *k, const struct ein *e,
                      const int64_t *size, struct ein_plan *p)
{
    int out_labs[AXLE_MAX_RANK + 1], pos[EIN_MAX_LABELS];
    int n_out = expand_labels(e, &e->out, e->ell_rank, out_labs);

    memset(p, 0, sizeof(*p));
    for (int l = 0; l < EIN_MAX_LABELS; l++)
        pos[l] = -1;
    for (int d = 0; d < n_out; d++) {
        pos[out_labs[d]] = p->n_loop;
        p->ext[p->n_loop++] = size[out_labs[d]];
    }
    p->n_out = p->n_loop;
    for (int i = 0; i < e->n_ops; i++) {
        int labs[AXLE_MAX_RANK + 1];
        int n = expand_labels(e, &e->in[i], e->ell_of[i], labs);
        for (int d = 0; d < n; d++)
            if (pos[labs[d]] < 0) {
                pos[labs[d]] = p->n_loop;
                p->ext[p->n_loop++] = size[labs[d]];
            }
    }
    for (int i = 0; i < e->n_ops; i++) {
        const struct axle_tensor *t = k->in[i];
        int labs[AXLE_MAX_RANK + 1];
        int n = expand_labels(e, &e->in[i], e->ell_of[i], labs);
        int64_t st = 1;
        for (int d = n - 1; d >= 0; d--) {
            if (t->dims[d] != 1 || size[labs[d]] == 1)
                p->stride[i][pos[labs[d]]] += st;
            st *= t->dims[d];
        }
    }
}

static void einsum_loop(struct axle_kctx *k, const struct ein *e,
                        const struct ein_plan *p)
{
    enum axle_dtype dt = k->out[0]->dtype;
    bool is_f = axle_kx_is_float(dt);
    int64_t n_outer = 1, n_inner = 1;
    int64_t idx[EIN_MAX_LABELS] = {0};

    for (int l = 0; l < p->n_out; l++)
        n_outer *= p->ext[l];
    for (int l = p->n_out; l < p->n_loop; l++)
        n_inner *= p->ext[l];
    for (int64_t o = 0; o < n_outer; o++) {
        int64_t base[EIN_MAX_OPS] = {0}, rem = o;
        for (int l = p->n_out - 1; l >= 0; l--) {
            int64_t v = rem % p->ext[l];
            rem /= p->ext[l];
            for (int i = 0; i < e->n_ops; i++)
                base[i] += v * p->stride[i][l];
        }
        double acc = 0.0;
        uint64_t iacc = 0;
        for (int l = p->n_out; l < p->n_loop; l++)
            idx[l] = 0;
        for (int64_t in = 0; in < n_inner; in++) {
            double prod = 1.0;
            uint64_t iprod = 1;
            for (int i = 0; i < e->n_ops; i++) {
                int64_t off = base[i];
                for (int l = p->n_out; l < p->n_loop; l++)
                    off += idx[l] * p->stride[i][l];
                if (is_f)
                    prod *= axle_kx_load(dt, k->in[i]->data, off);
                else
                    iprod *= (uint64_t)axle_kx_load_i(dt, k->in[i]->data,
                                                      off);
            }
            acc += prod;
            iacc += iprod;
            for (int l = p->n_loop - 1; l >= p->n_out; l--) {
                if (++idx[l] < p->ext[l])
                    break;
                idx[l] = 0;
            }
        }
        if (is_f)
            axle_kx_store(dt, k->out[0]->data, o, acc);
        else
            axle_kx_store_i(dt, k->out[0]->data, o, (int64_t)iacc);
    }
}

static enum axle_status einsum_run(struct axle_kctx *k)
{
    struct ein e;
    int64_t size[EIN_MAX_LABELS];
    struct ein_plan p;
    bool known;
    enum axle_status st;

    st = ein_parse(k, &e, &known);
    if (st != AXLE_OK)
        return st;
    st = label_sizes(k, &e, size);
    if (st != AXLE_OK)
        return st;
    plan_make(k, &e, size, &p);
    einsum_loop(k, &e, &p);
    return AXLE_OK;
}

const struct axle_op axle_op_einsum = {
    .name = "Einsum",
    .domain = "",
    .min_inputs = 1,
    .max_inputs = EIN_MAX_OPS,
    .min_outputs = 1,
    .max_outputs = 1,
    .infer = einsum_infer,
    .run = einsum_run,
};
