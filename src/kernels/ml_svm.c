/*
 * ml_svm.c - ai.onnx.ml SVMClassifier and SVMRegressor (version 1, the only
 * one), reproducing ONNX Runtime's outputs.
 *
 * Kernels (kernel_type, kernel_params = [gamma, coef0, degree], all 0 when
 * absent): LINEAR x.v, POLY (gamma x.v + coef0)^degree, RBF
 * exp(-gamma |x - v|^2), SIGMOID tanh(gamma x.v + coef0).
 *
 * SVMClassifier, X [N, F] or [F] float/double/int32/int64:
 *   - vectors_per_class given ("SVC", libsvm): one-vs-one. For classes
 *     i < j the decision value is sum over i's support vectors of
 *     coefficients[j-1][sv] K(x, sv) + the same over j's vectors with
 *     coefficients[i][sv], + rho[pair]; > 0 votes for i, else j. Y is the
 *     label with most votes (the first on ties), with or without
 *     probabilities. Without prob_a/prob_b Z holds the pair values
 *     ([N, C(C-1)/2]; two classes: [-d, d] with post_transform NONE, else
 *     [1 - d, d] from the raw d, as ONNX Runtime writes them), then the
 *     post transform per row when there are 3+ pairs. With prob_a/prob_b
 *     each pair value becomes 1 - logistic(d a + b), clipped to
 *     [1e-7, 1 - 1e-7], and libsvm's pairwise coupling (Wu, Lin and Weng,
 *     100 iterations at most) gives Z [N, C]; post transform per row.
 *   - otherwise ("linear", liblinear): score_c = K_linear(x, coefficients
 *     row c) + rho[0]; Y is the label of the largest score, except with two
 *     labels and no probabilities: labels[1] when the largest score is
 *     >= 0.5 (all coefficients >= 0) or > 0 (some negative). Z [N, C] with
 *     the post transform per row.
 * SVMRegressor, X as above -> Y [N, 1] float: sum of coefficients[sv]
 *   K(x, sv) + rho[0] over n_supports support vectors, or with n_supports 0
 *   x . coefficients + rho[0]; one_class = 1 turns y into +1 / -1 (> 0).
 *   post_transform is ignored, as in ONNX Runtime.
 */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/ml_common.h"

enum svm_kernel { K_LINEAR = 0, K_POLY, K_RBF, K_SIGMOID };

struct svm {
    enum svm_kernel kernel;
    float gamma, coef0, degree;
    bool svc;               /* support vectors given */
    int32_t n_features;
    int32_t n_vectors;
    const float *sv;        /* n_vectors * n_features */
    const float *coef;
    int n_coef;
    const float *rho;
    int n_rho;
    enum axle_ml_post post;
    /* classifier */
    int32_t n_classes;
    const int64_t *ilabels;
    char *const *slabels;
    int32_t *start;         /* first support vector of each class */
    const int64_t *per_class;
    const float *prob_a, *prob_b;
    bool have_proba;
    bool all_positive;
    /* regressor */
    bool one_class;
};

static void svm_release(void *state)
{
    struct svm *s = state;
    if (s == NULL)
        return;
    axle_free(s->start);
    axle_free(s);
}

static enum axle_status svm_common(const struct axle_node *nd, const char *op,
                                   struct svm *s, struct axle_err *err)
{
    const char *kt = axle_node_attr_str(nd, "kernel_type", "LINEAR");
    const float *kp;
    int nkp;
    int nsv;
    enum axle_status st;

    if (strcmp(kt, "LINEAR") == 0)
        s->kernel = K_LINEAR;
    else if (strcmp(kt, "POLY") == 0)
        s->kernel = K_POLY;
    else if (strcmp(kt, "RBF") == 0)
        s->kernel = K_RBF;
    else if (strcmp(kt, "SIGMOID") == 0)
        s->kernel = K_SIGMOID;
    else
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: kernel_type '%.20s' is not LINEAR, POLY, RBF "
                            "or SIGMOID", op, kt);
    st = axle_ml_floats(nd, op, "kernel_params", &kp, &nkp, err);
    if (st == AXLE_OK)
        st = axle_ml_floats(nd, op, "support_vectors", &s->sv, &nsv, err);
    if (st == AXLE_OK)
        st = axle_ml_floats(nd, op, "coefficients", &s->coef, &s->n_coef, err);
    if (st == AXLE_OK)
        st = axle_ml_floats(nd, op, "rho", &s->rho, &s->n_rho, err);
    if (st == AXLE_OK)
        st = axle_ml_post_parse(nd, &s->post, err);
    if (st != AXLE_OK)
        return st;
    if (nkp != 0 && nkp != 3)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: kernel_params must hold gamma, coef0 and "
                            "degree", op);
    if (nkp == 3) {
        s->gamma = kp[0];
        s->coef0 = kp[1];
        s->degree = kp[2];
    }
    if (s->n_coef == 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: coefficients are missing", op);
    if (s->n_rho == 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: rho is missing", op);
    s->n_vectors = 0;
    (void)nsv;
    return AXLE_OK;
}

/* Sets n_vectors/n_features from support_vectors for n_vec vectors. */
static enum axle_status svm_vectors(const struct axle_node *nd, const char *op,
                                    struct svm *s, int64_t n_vec,
                                    struct axle_err *err)
{
    int nsv;
    const float *sv;
    axle_ml_floats(nd, op, "support_vectors", &sv, &nsv, err);
    if (n_vec <= 0 || n_vec > nsv || nsv % n_vec != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: %d support vector values do not split into "
                            "%lld vectors", op, nsv, (long long)n_vec);
    s->svc = true;
    s->n_vectors = (int32_t)n_vec;
    s->n_features = nsv / (int32_t)n_vec;
    return AXLE_OK;
}

static enum axle_status svc_parse(const struct axle_node *nd, struct svm *s,
                                  bool build, struct axle_err *err)
{
    const char *op = "SVMClassifier";
    int npc, nl, ns, na, nb;
    int64_t total = 0;
    enum axle_status st = svm_common(nd, op, s, err);

    if (st == AXLE_OK)
        st = axle_ml_ints(nd, op, "vectors_per_class", &s->per_class, &npc,
                          err);
    if (st == AXLE_OK)
        st = axle_ml_ints(nd, op, "classlabels_ints", &s->ilabels, &nl, err);
    if (st == AXLE_OK)
        st = axle_ml_strings(nd, op, "classlabels_strings", &s->slabels, &ns,
                             err);
    if (st == AXLE_OK)
        st = axle_ml_floats(nd, op, "prob_a", &s->prob_a, &na, err);
    if (st == AXLE_OK)
        st = axle_ml_floats(nd, op, "prob_b", &s->prob_b, &nb, err);
    if (st != AXLE_OK)
        return st;
    if ((nl > 0) == (ns > 0))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: needs exactly one of classlabels_ints and "
                            "classlabels_strings", op);
    if (ns == 0)
        s->slabels = NULL;
    s->n_classes = ns > 0 ? ns : nl;
    if (na != nb)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s: prob_a has %d values, prob_b %d", op, na, nb);
    s->have_proba = na > 0;
    s->all_positive = true;
    for (int i = 0; i < s->n_coef; i++)
        if (s->coef[i] < 0)
            s->all_positive = false;
    for (int i = 0; i < npc; i++) {
        if (s->per_class[i] < 0 || s->per_class[i] > (int64_t)1 << 30)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: vectors_per_class[%d] = %lld", op, i,
                                (long long)s->per_class[i]);
        total += s->per_class[i];
    }
    if (total > 0) {
        int64_t pairs = (int64_t)s->n_classes * (s->n_classes - 1) / 2;
        if (npc != s->n_classes)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: %d vectors_per_class for %d classes", op,
                                npc, s->n_classes);
        if (s->n_classes < 2)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: needs at least two classes", op);
        st = svm_vectors(nd, op, s, total, err);
        if (st != AXLE_OK)
            return st;
        if ((int64_t)s->n_coef < (int64_t)(s->n_classes - 1) * total)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: %d coefficients, %lld needed", op,
                                s->n_coef,
                                (long long)(s->n_classes - 1) * total);
        if (s->n_rho < pairs || (s->have_proba && na < pairs))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: rho (%d) and prob_a/prob_b (%d) need %lld "
                                "values", op, s->n_rho, na, (long long)pairs);
        if (build) {
            s->start = axle_try_malloc((size_t)s->n_classes * sizeof(int32_t));
            if (s->start == NULL)
                return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                                    "out of memory");
            total = 0;
            for (int i = 0; i < s->n_classes; i++) {
                s->start[i] = (int32_t)total;
                total += s->per_class[i];
            }
        }
    } else {
        if (s->n_coef % s->n_classes != 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: %d coefficients do not split into %d "
                                "classes", op, s->n_coef, s->n_classes);
        s->svc = false;
        s->kernel = K_LINEAR;
        s->n_features = s->n_coef / s->n_classes;
    }
    return AXLE_OK;
}

static enum axle_status svr_parse(const struct axle_node *nd, struct svm *s,
                                  struct axle_err *err)
{
    const char *op = "SVMRegressor";
    int64_t nsup = axle_node_attr_int(nd, "n_supports", 0);
    enum axle_status st = svm_common(nd, op, s, err);

    if (st != AXLE_OK)
        return st;
    s->one_class = axle_node_attr_int(nd, "one_class", 0) != 0;
    if (nsup > 0) {
        st = svm_vectors(nd, op, s, nsup, err);
        if (st != AXLE_OK)
            return st;
        if (s->n_coef < nsup)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "%s: %d coefficients for %lld support vectors",
                                op, s->n_coef, (long long)nsup);
    } else {
        s->svc = false;
        s->kernel = K_LINEAR;
        s->n_features = s->n_coef;
    }
    return AXLE_OK;
}

static float kernel(const struct svm *s, const float *x, const float *v,
                    int32_t F)
{
    float acc = 0.0f;
    if (s->kernel == K_RBF) {
        for (int32_t j = 0; j < F; j++) {
            float d = x[j] - v[j];
            acc += d * d;
        }
        return expf(-s->gamma * acc);
    }
    for (int32_t j = 0; j < F; j++)
        acc += x[j] * v[j];
    switch (s->kernel) {
    case K_POLY:
        return powf(s->gamma * acc + s->coef0, s->degree);
    case K_SIGMOID:
        return tanhf(s->gamma * acc + s->coef0);
    default:
        return acc;
    }
}

static enum axle_status svm_check_x(struct axle_kctx *k, const char *op,
                                    const struct svm *s)
{
    const struct axle_tensor *x = k->in[0];
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !axle_ml_numeric_dtype(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input X must be float, double, int32 or "
                            "int64, got %s", op, axle_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank != 1 && x->rank != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input X must be [N, F] or [F], got rank %d",
                            op, x->rank);
    if (x->rank >= 1 && x->dims[x->rank - 1] >= 0 &&
        x->dims[x->rank - 1] != s->n_features)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: X has %lld features, the model %d", op,
                            (long long)x->dims[x->rank - 1], s->n_features);
    return AXLE_OK;
}

static int64_t n_rows(const struct axle_tensor *x)
{
    return x->rank == 1 ? 1 : x->rank == 2 ? x->dims[0] : AXLE_DIM_UNKNOWN;
}

/* Row r of x as floats into buf (or x's own row when float). */
static const float *row(const struct axle_tensor *x, int64_t r, int32_t F,
                        float *buf)
{
    if (x->dtype == AXLE_DTYPE_FLOAT32)
        return (const float *)x->data + r * F;
    for (int32_t j = 0; j < F; j++)
        buf[j] = (float)axle_ml_get(x, r * F + j);
    return buf;
}

/* ---- SVMClassifier -------------------------------------------------------- */

static int32_t svc_z_cols(const struct svm *s)
{
    if (s->svc && !s->have_proba)
        return s->n_classes > 2 ? s->n_classes * (s->n_classes - 1) / 2 : 2;
    return s->n_classes;
}

static enum axle_status svc_prepare(struct axle_kctx *k, void **state)
{
    struct svm *s = axle_try_calloc(1, sizeof(*s));
    enum axle_status st;

    *state = NULL;
    if (s == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    st = svc_parse(k->node, s, true, k->err);
    if (st != AXLE_OK) {
        svm_release(s);
        return st;
    }
    *state = s;
    return AXLE_OK;
}

static enum axle_status svc_infer(struct axle_kctx *k)
{
    struct svm tmp = {0};
    const struct svm *s = k->state;
    enum axle_status st = AXLE_OK;
    int64_t n;

    if (s == NULL) {
        st = svc_parse(k->node, &tmp, false, k->err);
        s = &tmp;
    }
    if (st == AXLE_OK)
        st = svm_check_x(k, "SVMClassifier", s);
    if (st != AXLE_OK)
        return st;
    n = n_rows(k->in[0]);
    if (k->out[0] != NULL) {
        k->out[0]->dtype = s->slabels ? AXLE_DTYPE_STRING : AXLE_DTYPE_INT64;
        k->out[0]->rank = 1;
        k->out[0]->dims[0] = n;
    }
    if (k->n_outputs > 1 && k->out[1] != NULL) {
        k->out[1]->dtype = AXLE_DTYPE_FLOAT32;
        k->out[1]->rank = 2;
        k->out[1]->dims[0] = n;
        k->out[1]->dims[1] = svc_z_cols(s);
    }
    return AXLE_OK;
}

/* libsvm's multiclass_probability in float, as ONNX Runtime has it: r is
 * the C x C pairwise matrix, p receives C probabilities; q (C*C) and qp
 * (C) are work space. */
static void couple(int32_t C, const float *r, float *p, float *q, float *qp)
{
    float eps = 0.005f / (float)C;
    for (int32_t i = 0; i < C; i++) {
        p[i] = 1.0f / (float)C;
        q[i * C + i] = 0.0f;
        for (int32_t j = 0; j < i; j++) {
            q[i * C + i] += r[j * C + i] * r[j * C + i];
            q[i * C + j] = q[j * C + i];
        }
        for (int32_t j = i + 1; j < C; j++) {
            q[i * C + i] += r[j * C + i] * r[j * C + i];
            q[i * C + j] = -r[j * C + i] * r[i * C + j];
        }
    }
    for (int it = 0; it < 100; it++) {
        float pqp = 0.0f, max_err = 0.0f;
        for (int32_t i = 0; i < C; i++) {
            qp[i] = 0.0f;
            for (int32_t j = 0; j < C; j++)
                qp[i] += q[i * C + j] * p[j];
            pqp += p[i] * qp[i];
        }
        for (int32_t i = 0; i < C; i++) {
            float e = fabsf(qp[i] - pqp);
            if (e > max_err)
                max_err = e;
        }
        if (max_err < eps)
            break;
        for (int32_t i = 0; i < C; i++) {
            float diff = (-qp[i] + pqp) / q[i * C + i];
            p[i] += diff;
            pqp = (pqp + diff * (diff * q[i * C + i] + 2 * qp[i])) /
                  (1 + diff) / (1 + diff);
            for (int32_t j = 0; j < C; j++) {
                qp[j] = (qp[j] + diff * q[i * C + j]) / (1 + diff);
                p[j] /= (1 + diff);
            }
        }
    }
}

struct svc_job {
    const struct svm *s;
    const struct axle_tensor *x;
    struct axle_tensor *y, *z;
    char *work; /* per thread: work_bytes each */
    size_t work_bytes;
    int32_t zc;
    bool failed;
};

static void svc_rows(void *ctx, int64_t r0, int64_t r1, int tid)
{
    struct svc_job *j = ctx;
    const struct svm *s = j->s;
    int32_t C = s->n_classes, F = s->n_features, V = s->n_vectors;
    int32_t pairs = C * (C - 1) / 2;
    float *w = (float *)(j->work + (size_t)tid * j->work_bytes);
    float *xbuf = w, *kern = xbuf + F, *dec = kern + V, *scores = dec + pairs;
    float *r = scores + (C > pairs ? C : pairs) + 2, *q = r + C * C;
    float *qp = q + C * C;
    int32_t *votes = (int32_t *)(qp + C);

    for (int64_t n = r0; n < r1; n++) {
        const float *xr = row(j->x, n, F, xbuf);
        int32_t best = 0, nz;
        float *out = scores;

        if (s->svc) {
            for (int32_t v = 0; v < V; v++)
                kern[v] = kernel(s, xr, s->sv + (int64_t)v * F, F);
            memset(votes, 0, (size_t)C * sizeof(int32_t));
            int32_t pi = 0;
            for (int32_t a = 0; a < C - 1; a++)
                for (int32_t b = a + 1; b < C; b++, pi++) {
                    double sum = 0;
                    const float *ca = s->coef + (int64_t)(b - 1) * V;
                    const float *cb = s->coef + (int64_t)a * V;
                    for (int64_t m = 0; m < s->per_class[a]; m++)
                        sum += ca[s->start[a] + m] * kern[s->start[a] + m];
                    for (int64_t m = 0; m < s->per_class[b]; m++)
                        sum += cb[s->start[b] + m] * kern[s->start[b] + m];
                    sum += s->rho[pi];
                    dec[pi] = (float)sum;
                    votes[sum > 0 ? a : b]++;
                }
            for (int32_t c = 1; c < C; c++)
                if (votes[c] > votes[best])
                    best = c;
            if (s->have_proba) {
                pi = 0;
                memset(r, 0, (size_t)C * (size_t)C * sizeof(float));
                for (int32_t a = 0; a < C - 1; a++)
                    for (int32_t b = a + 1; b < C; b++, pi++) {
                        float v = 1.0f - axle_ml_logistic(
                                             dec[pi] * s->prob_a[pi] +
                                             s->prob_b[pi]);
                        v = v < 1.0e-7f ? 1.0e-7f : v;
                        v = v > 1 - 1.0e-7f ? 1 - 1.0e-7f : v;
                        r[a * C + b] = v;
                        r[b * C + a] = 1 - v;
                    }
                couple(C, r, out, q, qp);
                nz = C;
                axle_ml_post_row(s->post, out, C);
            } else if (C == 2) {
                float d = dec[0];
                out[0] = s->post == AXLE_ML_POST_NONE ? -d : 1.0f - d;
                out[1] = d;
                nz = 2;
            } else {
                memcpy(out, dec, (size_t)pairs * sizeof(float));
                nz = pairs;
                axle_ml_post_row(s->post, out, pairs);
            }
        } else {
            float mx;
            for (int32_t c = 0; c < C; c++)
                out[c] = kernel(s, xr, s->coef + (int64_t)c * F, F) +
                         s->rho[0];
            for (int32_t c = 1; c < C; c++)
                if (out[c] > out[best])
                    best = c;
            mx = out[best];
            if (C == 2 && !s->have_proba &&
                ((s->all_positive && mx >= 0.5f) ||
                 (!s->all_positive && mx > 0)))
                best = 1;
            nz = C;
            axle_ml_post_row(s->post, out, C);
        }
        if (j->z != NULL)
            memcpy((float *)j->z->data + n * j->zc, out,
                   (size_t)nz * sizeof(float));
        if (j->y != NULL) {
            if (j->y->dtype == AXLE_DTYPE_STRING) {
                char **o = (char **)j->y->data + n;
                *o = axle_ml_strdup(s->slabels[best]);
                if (*o == NULL)
                    j->failed = true;
            } else {
                ((int64_t *)j->y->data)[n] = s->ilabels[best];
            }
        }
    }
}

static enum axle_status svc_run(struct axle_kctx *k)
{
    const struct svm *s = k->state;
    struct svc_job j;
    int32_t C, pairs, threads;
    size_t words;
    int64_t n;
    enum axle_status st;

    if (s == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "SVMClassifier: not prepared");
    st = svm_check_x(k, "SVMClassifier", s);
    if (st != AXLE_OK)
        return st;
    n = n_rows(k->in[0]);
    C = s->n_classes;
    pairs = C * (C - 1) / 2;
    /* x, kernels, decisions, scores, r, q, qp, votes */
    words = (size_t)s->n_features + (size_t)s->n_vectors + (size_t)pairs +
            (size_t)(C > pairs ? C : pairs) + 2 + 2 * (size_t)C * (size_t)C +
            2 * (size_t)C + 16;
    threads = k->pool ? axle_pool_size(k->pool) : 1;
    j = (struct svc_job){
        .s = s,
        .x = k->in[0],
        .y = k->out[0],
        .z = k->n_outputs > 1 ? k->out[1] : NULL,
        .work_bytes = (words * sizeof(float) + 63) & ~(size_t)63,
        .zc = svc_z_cols(s),
    };
    j.work = axle_kctx_scratch(k, j.work_bytes * (size_t)(threads + 1));
    if (j.work == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "SVMClassifier: no scratch memory");
    axle_pool_parallel_for(k->pool, n,
                           1 + 4096 / (1 + s->n_features *
                                               (s->n_vectors + C)),
                           svc_rows, &j);
    if (j.failed)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "SVMClassifier: out of memory for labels");
    return AXLE_OK;
}

const struct axle_op axle_op_svm_classifier = {
    .name = "SVMClassifier",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 2,
    .infer = svc_infer,
    .run = svc_run,
    .prepare = svc_prepare,
    .release = svm_release,
};

/* ---- SVMRegressor ------------------------------------------------------- */

static enum axle_status svr_prepare(struct axle_kctx *k, void **state)
{
    struct svm *s = axle_try_calloc(1, sizeof(*s));
    enum axle_status st;

    *state = NULL;
    if (s == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    st = svr_parse(k->node, s, k->err);
    if (st != AXLE_OK) {
        svm_release(s);
        return st;
    }
    *state = s;
    return AXLE_OK;
}

static enum axle_status svr_infer(struct axle_kctx *k)
{
    struct svm tmp = {0};
    const struct svm *s = k->state;
    enum axle_status st = AXLE_OK;

    if (s == NULL) {
        st = svr_parse(k->node, &tmp, k->err);
        s = &tmp;
    }
    if (st == AXLE_OK)
        st = svm_check_x(k, "SVMRegressor", s);
    if (st != AXLE_OK)
        return st;
    k->out[0]->dtype = AXLE_DTYPE_FLOAT32;
    k->out[0]->rank = 2;
    k->out[0]->dims[0] = n_rows(k->in[0]);
    k->out[0]->dims[1] = 1;
    return AXLE_OK;
}

struct svr_job {
    const struct svm *s;
    const struct axle_tensor *x;
    float *y;
    char *work;
    size_t work_bytes;
};

static void svr_rows(void *ctx, int64_t r0, int64_t r1, int tid)
{
    const struct svr_job *j = ctx;
    const struct svm *s = j->s;
    int32_t F = s->n_features;
    float *xbuf = (float *)(j->work + (size_t)tid * j->work_bytes);

    for (int64_t n = r0; n < r1; n++) {
        const float *xr = row(j->x, n, F, xbuf);
        float y;
        if (s->svc) {
            float acc = 0.0f;
            for (int32_t v = 0; v < s->n_vectors; v++)
                acc += s->coef[v] * kernel(s, xr, s->sv + (int64_t)v * F, F);
            y = acc + s->rho[0];
        } else {
            y = kernel(s, xr, s->coef, F) + s->rho[0];
        }
        if (s->one_class)
            y = y > 0.0f ? 1.0f : -1.0f;
        j->y[n] = y;
    }
}

static enum axle_status svr_run(struct axle_kctx *k)
{
    const struct svm *s = k->state;
    struct svr_job j;
    int threads;
    enum axle_status st;

    if (s == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "SVMRegressor: not prepared");
    st = svm_check_x(k, "SVMRegressor", s);
    if (st != AXLE_OK)
        return st;
    threads = k->pool ? axle_pool_size(k->pool) : 1;
    j = (struct svr_job){
        .s = s,
        .x = k->in[0],
        .y = k->out[0]->data,
        .work_bytes = ((size_t)s->n_features * sizeof(float) + 127) &
                      ~(size_t)63,
    };
    j.work = axle_kctx_scratch(k, j.work_bytes * (size_t)(threads + 1));
    if (j.work == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "SVMRegressor: no scratch memory");
    axle_pool_parallel_for(k->pool, n_rows(k->in[0]),
                           1 + 4096 / (1 + s->n_features *
                                               (s->n_vectors + 1)),
                           svr_rows, &j);
    return AXLE_OK;
}

const struct axle_op axle_op_svm_regressor = {
    .name = "SVMRegressor",
    .domain = "ai.onnx.ml",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = svr_infer,
    .run = svr_run,
    .prepare = svr_prepare,
    .release = svm_release,
};
