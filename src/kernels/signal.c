/*
 * signal.c - spectral operators of ONNX 17: DFT, STFT, HannWindow,
 * HammingWindow, BlackmanWindow and MelWeightMatrix.
 *
 * DFT-17: input [batch, n1, ..., nk, 1 | 2] (real or complex), attributes
 * axis (default 1, the first signal dim; negative counts from the back as
 * DFT-20 defines it, -2 being the last signal dim), inverse (scaled by
 * 1 / n like numpy.fft.ifft) and onesided (keep bins 0 .. n/2); the
 * optional dft_length input zero-pads or truncates the axis. Output: the
 * input shape with the axis resized and the last dim 2.
 *
 * STFT-17: signal [batch, length, 1 | 2], frame_step, optional window
 * [frame_length] and frame_length; frames of frame_length samples every
 * frame_step, each multiplied by the window (none: rectangular) and
 * transformed; onesided (default 1) keeps frame_length / 2 + 1 bins.
 * Output [batch, frames, bins, 2].
 *
 * The transforms are a self-sorting (Stockham) mixed-radix FFT (radix 4,
 * 2, 3, 5 and any other prime up to 61 through a generic butterfly) in
 * float64, so every length costs O(n log n)-ish; a length with a larger
 * prime factor goes through Bluestein's chirp-z algorithm on a
 * power-of-two FFT. The twiddle tables are built at load time when the
 * length is known then (prepare), else per call in scratch; the signals
 * are split over k->pool, each thread with its own buffers.
 *
 * Windows: size (int32/int64 scalar) samples of the generalized cosine
 * window with N = size (periodic = 1, the default) or size - 1; size 1
 * with periodic = 0 gives the window's peak value 1 (the formula's 0 / 0,
 * as numpy does). MelWeightMatrix: the triangular filter bank of ONNX's
 * reference, [dft_length / 2 + 1, num_mel_bins], bins outside the
 * spectrum are dropped. Both have output_datatype (default float32; any
 * numeric type, integers truncated).
 */
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/normred_util.h"

#define PI 3.14159265358979323846

/* ---- element access --------------------------------------------------- */

static inline double ld(const void *p, enum axle_dtype dt, int64_t i)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32:
        return ((const float *)p)[i];
    case AXLE_DTYPE_FLOAT64:
        return ((const double *)p)[i];
    case AXLE_DTYPE_FLOAT16:
        return axle_f16_to_f32(((const uint16_t *)p)[i]);
    case AXLE_DTYPE_BFLOAT16:
        return axle_bf16_to_f32(((const uint16_t *)p)[i]);
    default:
        return 0;
    }
}

/* Integers: truncated toward zero, saturated (NaN gives 0). */
static int64_t sat_i64(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    v = trunc(v);
    return v <= lo ? (int64_t)lo : v >= hi ? (int64_t)hi : (int64_t)v;
}

static inline void put(void *p, enum axle_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32:
        ((float *)p)[i] = (float)v;
        break;
    case AXLE_DTYPE_FLOAT64:
        ((double *)p)[i] = v;
        break;
    case AXLE_DTYPE_FLOAT16:
        ((uint16_t *)p)[i] = axle_f32_to_f16((float)v);
        break;
    case AXLE_DTYPE_BFLOAT16:
        ((uint16_t *)p)[i] = axle_f32_to_bf16((float)v);
        break;
    case AXLE_DTYPE_INT8:
        ((int8_t *)p)[i] = (int8_t)sat_i64(v, INT8_MIN, INT8_MAX);
        break;
    case AXLE_DTYPE_UINT8:
        ((uint8_t *)p)[i] = (uint8_t)sat_i64(v, 0, UINT8_MAX);
        break;
    case AXLE_DTYPE_INT16:
        ((int16_t *)p)[i] = (int16_t)sat_i64(v, INT16_MIN, INT16_MAX);
        break;
    case AXLE_DTYPE_UINT16:
        ((uint16_t *)p)[i] = (uint16_t)sat_i64(v, 0, UINT16_MAX);
        break;
    case AXLE_DTYPE_INT32:
        ((int32_t *)p)[i] = (int32_t)sat_i64(v, INT32_MIN, INT32_MAX);
        break;
    case AXLE_DTYPE_UINT32:
        ((uint32_t *)p)[i] = (uint32_t)sat_i64(v, 0, UINT32_MAX);
        break;
    case AXLE_DTYPE_INT64:
        ((int64_t *)p)[i] = sat_i64(v, -9223372036854775808.0,
                                    9223372036854774784.0);
        break;
    case AXLE_DTYPE_UINT64:
        ((uint64_t *)p)[i] =
            isnan(v) || v <= 0 ? 0
            : v >= 18446744073709549568.0 ? UINT64_MAX
                                          : (uint64_t)v;
        break;
    default:
        break;
    }
}

static bool out_type_ok(int64_t dt)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: case AXLE_DTYPE_FLOAT64: case AXLE_DTYPE_FLOAT16:
    case AXLE_DTYPE_BFLOAT16: case AXLE_DTYPE_INT8: case AXLE_DTYPE_UINT8:
    case AXLE_DTYPE_INT16: case AXLE_DTYPE_UINT16: case AXLE_DTYPE_INT32:
    case AXLE_DTYPE_UINT32: case AXLE_DTYPE_INT64: case AXLE_DTYPE_UINT64:
        return true;
    default:
        return false;
    }
}

/* A scalar (shape [] or [1]) input of an integer type. *known false when
 * it has no data yet. */
static enum axle_status int_scalar(struct axle_kctx *k, const char *op,
                                   int i, const char *what, bool *known,
                                   int64_t *v)
{
    const struct axle_tensor *t = AXLE_IN(k, i);
    *known = false;
    if (t == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input %s is required", op, what);
    if (t->dtype != AXLE_DTYPE_UNDEFINED && t->dtype != AXLE_DTYPE_INT32 &&
        t->dtype != AXLE_DTYPE_INT64)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %s must be int32 or int64, got %s", op, what,
                            axle_dtype_name(t->dtype));
    int64_t n = axle_tensor_numel(t);
    if (t->rank > 1 || (n >= 0 && n != 1))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: %s must be a scalar", op, what);
    if (t->data == NULL || n < 0)
        return AXLE_OK;
    *v = axle_tensor_get_i64(t, 0);
    *known = true;
    return AXLE_OK;
}

/* ---- FFT -------------------------------------------------------------- */

#define MAX_FACTORS 64
#define MAX_RADIX 61

struct fft_plan {
    int64_t n;
    int nf;
    int64_t fac[MAX_FACTORS];
    /* Stage l (radix p = fac[l], ns = fac[0] * ... * fac[l-1]):
     * tw[l][k * (p - 1) + q - 1] = W_{ns p}^{q k} for k < ns, then the p
     * roots W_p^j, in the order the butterflies read them. */
    double *tw[MAX_FACTORS];
    /* Bluestein: n's FFT through a power-of-two size m */
    bool blue;
    struct fft_plan *sub;
    double *chirp; /* n complex: exp(-pi i j^2 / n) */
    double *bfft;  /* m complex: FFT of the conjugate chirp, wrapped */
};

/* Factors n into radices (4 first); false when a prime factor is above
 * MAX_RADIX. */
static bool fft_factor(int64_t n, struct fft_plan *p)
{
    p->nf = 0;
    while (n % 4 == 0 && p->nf < MAX_FACTORS) {
        p->fac[p->nf++] = 4;
        n /= 4;
    }
    for (int64_t f = 2; n > 1 && f <= MAX_RADIX; f++)
        while (n % f == 0 && p->nf < MAX_FACTORS) {
            p->fac[p->nf++] = f;
            n /= f;
        }
    return n == 1;
}

/* Doubles of the per-stage tables of a factored plan. */
static size_t tw_doubles(const struct fft_plan *p)
{
    size_t total = 0;
    int64_t ns = 1;
    for (int l = 0; l < p->nf; l++) {
        int64_t r = p->fac[l];
        total += 2 * ((size_t)(r - 1) * (size_t)ns + (size_t)r);
        ns *= r;
    }
    return total;
}

static void fill_twiddles(struct fft_plan *p, double *mem)
{
    int64_t ns = 1;
    for (int l = 0; l < p->nf; l++) {
        int64_t r = p->fac[l];
        double *t = mem;
        p->tw[l] = t;
        for (int64_t k = 0; k < ns; k++)
            for (int64_t q = 1; q < r; q++) {
                double a = -2.0 * PI * (double)(q * k) / (double)(ns * r);
                *t++ = cos(a);
                *t++ = sin(a);
            }
        for (int64_t j = 0; j < r; j++) {
            double a = -2.0 * PI * (double)j / (double)r;
            *t++ = cos(a);
            *t++ = sin(a);
        }
        mem = t;
        ns *= r;
    }
}

/* Self-sorting (Stockham) mixed-radix FFT of x (n complex) in place,
 * `y` (n complex) the other buffer of the ping-pong; unscaled, twiddles
 * conjugated when inv. Every stage reads p contiguous streams and writes
 * contiguous runs, so large transforms stay cache friendly (a recursive
 * decimation reads its leaves at strides of n / p^k instead). */
static void fft_plain(const struct fft_plan *pl, double *x, double *y,
                      bool inv)
{
    int64_t n = pl->n, ns = 1;
    double sg = inv ? -1.0 : 1.0;
    double *src = x, *dst = y;
    double t[2 * MAX_RADIX + 2];

    for (int l = 0; l < pl->nf; l++) {
        int64_t p = pl->fac[l], stride = n / p, blocks = stride / ns;
        const double *tw = pl->tw[l], *root = tw + 2 * (p - 1) * ns;
        for (int64_t jb = 0; jb < blocks; jb++)
            for (int64_t k = 0; k < ns; k++) {
                int64_t j = jb * ns + k, d = jb * ns * p + k;
                const double *w = tw + 2 * k * (p - 1);
                t[0] = src[2 * j];
                t[1] = src[2 * j + 1];
                for (int64_t q = 1; q < p; q++) {
                    double re = src[2 * (j + q * stride)];
                    double im = src[2 * (j + q * stride) + 1];
                    double wr = w[2 * (q - 1)], wi = sg * w[2 * (q - 1) + 1];
                    t[2 * q] = re * wr - im * wi;
                    t[2 * q + 1] = re * wi + im * wr;
                }
                double *o = dst + 2 * d;
                int64_t os = 2 * ns;
                if (p == 2) {
                    o[0] = t[0] + t[2];
                    o[1] = t[1] + t[3];
                    o[os] = t[0] - t[2];
                    o[os + 1] = t[1] - t[3];
                } else if (p == 4) {
                    /* forward: -i rotation for the odd pair; inverse: +i */
                    double a0r = t[0] + t[4], a0i = t[1] + t[5];
                    double a1r = t[0] - t[4], a1i = t[1] - t[5];
                    double b0r = t[2] + t[6], b0i = t[3] + t[7];
                    double b1r = t[2] - t[6], b1i = t[3] - t[7];
                    double rr = sg * b1i, ri = -sg * b1r; /* b1 * (-i sg) */
                    o[0] = a0r + b0r;
                    o[1] = a0i + b0i;
                    o[os] = a1r + rr;
                    o[os + 1] = a1i + ri;
                    o[2 * os] = a0r - b0r;
                    o[2 * os + 1] = a0i - b0i;
                    o[3 * os] = a1r - rr;
                    o[3 * os + 1] = a1i - ri;
                } else {
                    for (int64_t r = 0; r < p; r++) {
                        double sr = 0, si = 0;
                        for (int64_t q = 0; q < p; q++) {
                            const double *wq = root + 2 * ((q * r) % p);
                            double wr = wq[0], wi = sg * wq[1];
                            sr += t[2 * q] * wr - t[2 * q + 1] * wi;
                            si += t[2 * q] * wi + t[2 * q + 1] * wr;
                        }
                        o[r * os] = sr;
                        o[r * os + 1] = si;
                    }
                }
            }
        double *tmp = src;
        src = dst;
        dst = tmp;
        ns *= p;
    }
    if (src != x)
        memcpy(x, src, sizeof(double) * 2 * (size_t)n);
}

/* Bluestein's power-of-two size for n. */
static int64_t blue_size(int64_t n)
{
    int64_t m = 1;
    while (m < 2 * n - 1)
        m *= 2;
    return m;
}

/* Scratch doubles the plan of size n needs (tables, shared); *m_out is
 * Bluestein's size or 0. */
static size_t plan_doubles(int64_t n, int64_t *m_out)
{
    struct fft_plan tmp;
    tmp.n = n;
    *m_out = 0;
    if (fft_factor(n, &tmp))
        return tw_doubles(&tmp);
    int64_t m = blue_size(n);
    *m_out = m;
    tmp.n = m;
    fft_factor(m, &tmp);
    return 2 * (size_t)n /* chirp */ + 2 * (size_t)m /* bfft */ +
           tw_doubles(&tmp);
}

/* Per-thread work doubles for a transform of size n. */
static size_t work_doubles(int64_t n, int64_t m)
{
    return m > 0 ? 4 * (size_t)m : 2 * (size_t)n;
}

/* Builds the plan in `mem` (plan_doubles). */
static void plan_build(struct fft_plan *p, struct fft_plan *sub, int64_t n,
                       double *mem)
{
    memset(p, 0, sizeof(*p));
    p->n = n;
    if (fft_factor(n, p)) {
        fill_twiddles(p, mem);
        return;
    }
    int64_t m = blue_size(n);
    p->blue = true;
    p->chirp = mem;
    p->bfft = mem + 2 * n;
    memset(sub, 0, sizeof(*sub));
    sub->n = m;
    fft_factor(m, sub);
    fill_twiddles(sub, mem + 2 * n + 2 * m);
    p->sub = sub;
    for (int64_t j = 0; j < n; j++) {
        /* j^2 mod 2n keeps the angle exact for large j */
        unsigned __int128 jj = (unsigned __int128)j * (unsigned __int128)j;
        double a = -PI * (double)(int64_t)(jj % (unsigned __int128)(2 * n)) /
                   (double)n;
        p->chirp[2 * j] = cos(a);
        p->chirp[2 * j + 1] = sin(a);
    }
    /* b_j = conj(chirp_|j|), circular over m; plan_finish transforms it */
    double *b = p->bfft;
    memset(b, 0, sizeof(double) * 2 * (size_t)m);
    for (int64_t j = 0; j < n; j++) {
        b[2 * j] = p->chirp[2 * j];
        b[2 * j + 1] = -p->chirp[2 * j + 1];
        if (j > 0) {
            b[2 * (m - j)] = p->chirp[2 * j];
            b[2 * (m - j) + 1] = -p->chirp[2 * j + 1];
        }
    }
}

/* Finishes a Bluestein plan: bfft <- FFT(bfft) using work (4m). */
static void plan_finish(struct fft_plan *p, double *work)
{
    if (!p->blue)
        return;
    fft_plain(p->sub, p->bfft, work, false);
}

/* Transforms buf (n complex) in place; work holds work_doubles. Inverse
 * is unscaled. */
static void fft_exec(const struct fft_plan *p, double *buf, double *work,
                     bool inv)
{
    int64_t n = p->n;
    if (!p->blue) {
        fft_plain(p, buf, work, inv);
        return;
    }
    /* inverse = conj(FFT(conj(x))) */
    int64_t m = p->sub->n;
    double *a = work, *f = work + 2 * m;
    double sg = inv ? -1.0 : 1.0;
    memset(a, 0, sizeof(double) * 2 * (size_t)m);
    for (int64_t j = 0; j < n; j++) {
        double xr = buf[2 * j], xi = sg * buf[2 * j + 1];
        double cr = p->chirp[2 * j], ci = p->chirp[2 * j + 1];
        a[2 * j] = xr * cr - xi * ci;
        a[2 * j + 1] = xr * ci + xi * cr;
    }
    fft_plain(p->sub, a, f, false);
    for (int64_t j = 0; j < m; j++) {
        double ar = a[2 * j], ai = a[2 * j + 1];
        double br = p->bfft[2 * j], bi = p->bfft[2 * j + 1];
        a[2 * j] = ar * br - ai * bi;
        a[2 * j + 1] = ar * bi + ai * br;
    }
    fft_plain(p->sub, a, f, true);
    for (int64_t j = 0; j < n; j++) {
        double yr = a[2 * j] / (double)m, yi = a[2 * j + 1] / (double)m;
        double cr = p->chirp[2 * j], ci = p->chirp[2 * j + 1];
        buf[2 * j] = yr * cr - yi * ci;
        buf[2 * j + 1] = sg * (yr * ci + yi * cr);
    }
}

/* ---- shared transform driver ------------------------------------------ */

/* One batch of 1-D transforms: signal s reads element j (j < len_in) at
 * in_off(s) + j * in_step (complex stride in `comp` scalars), writes bin
 * b (< n_out) at out_off(s) + b * out_step (pairs). */
struct xform {
    struct fft_plan plan, sub;
    const void *x;
    enum axle_dtype xdt;
    int comp; /* 1 real, 2 complex */
    void *y;
    enum axle_dtype ydt;
    int64_t n, len_in, n_out;
    bool inv;
    /* DFT layout */
    int64_t inner, nax;
    /* STFT layout (frames > 0) */
    int64_t frames, step, sig_len;
    const void *win;
    enum axle_dtype wdt;
    double *work; /* per thread: 2n buffer + work_doubles */
    size_t per_thread;
};

static void xform_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct xform *j = ctx;
    double *buf = j->work + (size_t)tid * j->per_thread;
    double *work = buf + 2 * j->n;
    double scale = j->inv ? 1.0 / (double)j->n : 1.0;

    for (int64_t s = b; s < e; s++) {
        int64_t ioff, istep, ooff, ostep;
        if (j->frames > 0) { /* s = (batch, frame) */
            int64_t bt = s / j->frames, fr = s % j->frames;
            ioff = (bt * j->sig_len + fr * j->step) * j->comp;
            istep = j->comp;
            ooff = s * j->n_out * 2;
            ostep = 2;
        } else { /* s = (outer, inner) */
            int64_t o = s / j->inner, i = s % j->inner;
            ioff = (o * j->nax * j->inner + i) * j->comp;
            istep = j->inner * j->comp;
            ooff = (o * j->n_out * j->inner + i) * 2;
            ostep = j->inner * 2;
        }
        for (int64_t t = 0; t < j->n; t++) {
            double re = 0, im = 0;
            if (t < j->len_in) {
                re = ld(j->x, j->xdt, ioff + t * istep);
                if (j->comp == 2)
                    im = ld(j->x, j->xdt, ioff + t * istep + 1);
                if (j->win != NULL) {
                    double w = ld(j->win, j->wdt, t);
                    re *= w;
                    im *= w;
                }
            }
            buf[2 * t] = re;
            buf[2 * t + 1] = im;
        }
        fft_exec(&j->plan, buf, work, j->inv);
        for (int64_t t = 0; t < j->n_out; t++) {
            put(j->y, j->ydt, ooff + t * ostep, buf[2 * t] * scale);
            put(j->y, j->ydt, ooff + t * ostep + 1, buf[2 * t + 1] * scale);
        }
    }
}

/* A plan built at load time when the transform length is known then
 * (static shapes, constant dft_length / frame_length), so runs skip the
 * twiddle tables: read-only, shared by every session. */
struct sig_state {
    int64_t n, m;
    struct fft_plan plan, sub;
    double *mem;
};

static void sig_release(void *state)
{
    struct sig_state *s = state;
    if (s == NULL)
        return;
    axle_free(s->mem);
    axle_free(s);
}

/* Plans of up to 2^26 points are kept; without memory the run plans. */
static enum axle_status sig_prepare_n(int64_t n, void **state)
{
    struct sig_state *s;
    double *work = NULL;
    int64_t m;
    *state = NULL;
    if (n < 2 || n > ((int64_t)1 << 26))
        return AXLE_OK;
    size_t pd = plan_doubles(n, &m);
    s = axle_try_calloc(1, sizeof(*s));
    if (s == NULL)
        return AXLE_OK;
    s->mem = axle_try_malloc(sizeof(double) * pd);
    if (m > 0)
        work = axle_try_malloc(sizeof(double) * 2 * (size_t)m);
    if (s->mem == NULL || (m > 0 && work == NULL)) {
        axle_free(work);
        sig_release(s);
        return AXLE_OK;
    }
    plan_build(&s->plan, &s->sub, n, s->mem);
    plan_finish(&s->plan, work);
    axle_free(work);
    s->n = n;
    s->m = m;
    *state = s;
    return AXLE_OK;
}

/* Plans size n (or takes the prepared plan) and runs `count`
 * transforms. */
static enum axle_status xform_run(struct axle_kctx *k, const char *op,
                                  struct xform *j, int64_t count)
{
    const struct sig_state *ps = k->state;
    bool cached = ps != NULL && ps->n == j->n;
    int64_t m = 0;
    size_t pd = cached ? 0 : plan_doubles(j->n, &m);
    if (cached)
        m = ps->m;
    size_t wd = 2 * (size_t)j->n + work_doubles(j->n, m);
    int nt = axle_pool_size(k->pool);
    if (nt < 1)
        nt = 1;
    double *mem = axle_kctx_scratch(k, sizeof(double) *
                                           (pd + wd * (size_t)nt));
    if (mem == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "%s: no scratch memory for a %lld-point "
                            "transform", op, (long long)j->n);
    j->work = mem + pd;
    j->per_thread = wd;
    if (cached) {
        j->plan = ps->plan; /* its sub points into the state */
    } else {
        plan_build(&j->plan, &j->sub, j->n, mem);
        plan_finish(&j->plan, j->work + 2 * j->n);
    }
    if (count > 0)
        axle_pool_parallel_for(k->pool, count,
                               nr_grain(j->n * 8 + 64), xform_task, j);
    return AXLE_OK;
}

/* ---- DFT -------------------------------------------------------------- */

struct dft_args {
    int axis;
    int64_t len; /* dft_length, -1 unknown */
    bool inv, onesided;
};

static enum axle_status dft_setup(struct axle_kctx *k, struct dft_args *a)
{
    const struct axle_tensor *x = AXLE_IN(k, 0);
    int64_t axis = axle_node_attr_int(k->node, "axis", 1);

    memset(a, 0, sizeof(*a));
    if (x == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "DFT: input is required");
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !nr_is_float(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "DFT: input must be a float tensor, got %s",
                            axle_dtype_name(x->dtype));
    a->inv = axle_node_attr_int(k->node, "inverse", 0) != 0;
    a->onesided = axle_node_attr_int(k->node, "onesided", 0) != 0;
    a->len = -1;
    if (x->rank >= 0) {
        int r = x->rank;
        if (r < 2)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "DFT: input must be [batch, ..., 1 or 2]");
        if (axle_dim_known(x->dims[r - 1]) && x->dims[r - 1] != 1 &&
            x->dims[r - 1] != 2)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "DFT: the last dim must be 1 (real) or 2 "
                                "(complex), got %lld",
                                (long long)x->dims[r - 1]);
        /* [-r, -2] or [0, r - 2]: the last dim holds re/im */
        if (axis < -(int64_t)r || axis > r - 2 || axis == -1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "DFT: axis %lld is out of range for rank %d",
                                (long long)axis, r);
        a->axis = (int)(axis < 0 ? axis + r : axis);
        a->len = x->dims[a->axis];
    }
    const struct axle_tensor *lt = AXLE_IN(k, 1);
    if (lt != NULL) {
        bool known;
        int64_t v = 0;
        enum axle_status st = int_scalar(k, "DFT", 1, "dft_length", &known,
                                         &v);
        if (st != AXLE_OK)
            return st;
        if (!known) {
            a->len = -1;
            return AXLE_OK;
        }
        if (v < 1 || v > AXLE_TENSOR_MAX_ELEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "DFT: dft_length %lld is out of range",
                                (long long)v);
        a->len = v;
    }
    return AXLE_OK;
}

static enum axle_status dft_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];
    struct dft_args a;
    enum axle_status st = dft_setup(k, &a);
    if (st != AXLE_OK || o == NULL)
        return st;
    o->dtype = x->dtype;
    nr_copy_shape(o, x);
    if (x->rank < 0)
        return AXLE_OK;
    o->dims[x->rank - 1] = 2;
    o->dims[a.axis] = !axle_dim_known(a.len) ? AXLE_DIM_UNKNOWN
                      : a.onesided           ? a.len / 2 + 1
                                             : a.len;
    if (axle_shape_known(o) && axle_tensor_numel(o) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "DFT: output is too large");
    return AXLE_OK;
}

static enum axle_status dft_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];
    struct dft_args a;
    struct xform j;
    enum axle_status st = dft_setup(k, &a);
    if (st != AXLE_OK || o == NULL)
        return st;
    if (a.len == 0 || x->dims[a.axis] == 0) {
        /* zero-length signals: the transform of nothing is zeros */
        memset(o->data, 0, (size_t)axle_tensor_nbytes(o));
        if (a.len == 0)
            return AXLE_OK;
    }
    memset(&j, 0, sizeof(j));
    j.x = x->data;
    j.xdt = x->dtype;
    j.comp = (int)x->dims[x->rank - 1];
    j.y = o->data;
    j.ydt = o->dtype;
    j.n = a.len;
    j.nax = x->dims[a.axis];
    j.len_in = j.nax < a.len ? j.nax : a.len;
    j.n_out = o->dims[a.axis];
    j.inv = a.inv;
    j.inner = nr_prod(x->dims, a.axis + 1, x->rank - 1);
    int64_t count = nr_prod(x->dims, 0, a.axis) * j.inner;
    return xform_run(k, "DFT", &j, count);
}

static enum axle_status dft_prepare(struct axle_kctx *k, void **state)
{
    struct dft_args a;
    *state = NULL;
    if (dft_setup(k, &a) != AXLE_OK || !axle_dim_known(a.len))
        return AXLE_OK; /* infer reports the error; run plans */
    return sig_prepare_n(a.len, state);
}

const struct axle_op axle_op_dft = {
    .name = "DFT", .domain = "",
    .min_inputs = 1, .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = dft_infer, .run = dft_run, .prepare = dft_prepare,
    .release = sig_release,
};

/* ---- STFT ------------------------------------------------------------- */

struct stft_args {
    int64_t flen, step, frames; /* -1: unknown */
    bool onesided;
};

static enum axle_status stft_setup(struct axle_kctx *k, struct stft_args *a)
{
    const struct axle_tensor *x = AXLE_IN(k, 0), *w = AXLE_IN(k, 2);
    bool known;
    enum axle_status st;

    a->flen = a->step = a->frames = -1;
    a->onesided = axle_node_attr_int(k->node, "onesided", 1) != 0;
    if (x == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "STFT: signal is required");
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !nr_is_float(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "STFT: signal must be a float tensor, got %s",
                            axle_dtype_name(x->dtype));
    if (x->rank >= 0 &&
        (x->rank != 3 || (axle_dim_known(x->dims[2]) && x->dims[2] != 1 &&
                          x->dims[2] != 2)))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "STFT: signal must be [batch, length, 1 or 2]");
    int64_t step = 0;
    st = int_scalar(k, "STFT", 1, "frame_step", &known, &step);
    if (st != AXLE_OK)
        return st;
    if (known) {
        if (step < 1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "STFT: frame_step %lld must be positive",
                                (long long)step);
        a->step = step;
    }
    if (w != NULL) {
        if (w->dtype != AXLE_DTYPE_UNDEFINED &&
            x->dtype != AXLE_DTYPE_UNDEFINED && w->dtype != x->dtype)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "STFT: window is %s, signal is %s",
                                axle_dtype_name(w->dtype),
                                axle_dtype_name(x->dtype));
        if (w->rank >= 0 && w->rank != 1)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "STFT: window must be 1-D");
        if (w->rank == 1)
            a->flen = w->dims[0];
    }
    if (AXLE_IN(k, 3) != NULL) {
        int64_t fl = 0;
        st = int_scalar(k, "STFT", 3, "frame_length", &known, &fl);
        if (st != AXLE_OK)
            return st;
        if (known) {
            if (fl < 1 || fl > AXLE_TENSOR_MAX_ELEMS)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "STFT: frame_length %lld is out of "
                                    "range", (long long)fl);
            if (axle_dim_known(a->flen) && a->flen != fl)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "STFT: frame_length %lld differs from "
                                    "the window's %lld", (long long)fl,
                                    (long long)a->flen);
            a->flen = fl;
        } else
            a->flen = -1;
    } else if (w == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "STFT: needs a window or frame_length");
    if (axle_dim_known(a->flen) && a->flen < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "STFT: the window is empty");
    if (x->rank == 3 && axle_dim_known(x->dims[1]) &&
        axle_dim_known(a->flen) && a->step > 0)
        a->frames = x->dims[1] >= a->flen
                        ? (x->dims[1] - a->flen) / a->step + 1
                        : 0;
    return AXLE_OK;
}

static enum axle_status stft_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];
    struct stft_args a;
    enum axle_status st = stft_setup(k, &a);
    if (st != AXLE_OK || o == NULL)
        return st;
    o->dtype = x->dtype;
    o->rank = 4;
    o->dims[0] = x->rank == 3 ? x->dims[0] : AXLE_DIM_UNKNOWN;
    o->dims[1] = a.frames;
    o->dims[2] = !axle_dim_known(a.flen) ? AXLE_DIM_UNKNOWN
                 : a.onesided            ? a.flen / 2 + 1
                                         : a.flen;
    o->dims[3] = 2;
    if (axle_shape_known(o) && axle_tensor_numel(o) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "STFT: output is too large");
    return AXLE_OK;
}

static enum axle_status stft_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0], *w = AXLE_IN(k, 2);
    struct axle_tensor *o = k->out[0];
    struct stft_args a;
    struct xform j;
    enum axle_status st = stft_setup(k, &a);
    if (st != AXLE_OK || o == NULL)
        return st;
    memset(&j, 0, sizeof(j));
    j.x = x->data;
    j.xdt = x->dtype;
    j.comp = (int)x->dims[2];
    j.y = o->data;
    j.ydt = o->dtype;
    j.n = a.flen;
    j.len_in = a.flen;
    j.n_out = o->dims[2];
    j.frames = a.frames;
    j.step = a.step;
    j.sig_len = x->dims[1];
    if (w != NULL) {
        j.win = w->data;
        j.wdt = w->dtype;
    }
    if (a.frames == 0)
        return AXLE_OK;
    return xform_run(k, "STFT", &j, x->dims[0] * a.frames);
}

static enum axle_status stft_prepare(struct axle_kctx *k, void **state)
{
    struct stft_args a;
    *state = NULL;
    if (stft_setup(k, &a) != AXLE_OK || !axle_dim_known(a.flen))
        return AXLE_OK; /* infer reports the error; run plans */
    return sig_prepare_n(a.flen, state);
}

const struct axle_op axle_op_stft = {
    .name = "STFT", .domain = "",
    .min_inputs = 2, .max_inputs = 4, .min_outputs = 1, .max_outputs = 1,
    .infer = stft_infer, .run = stft_run, .prepare = stft_prepare,
    .release = sig_release,
};

/* ---- windows ---------------------------------------------------------- */

/* w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N) */
struct window_def {
    const char *op;
    double a0, a1, a2;
};

static const struct window_def hann = {"HannWindow", 0.5, 0.5, 0};
static const struct window_def hamming = {"HammingWindow", 25.0 / 46.0,
                                          21.0 / 46.0, 0};
static const struct window_def blackman = {"BlackmanWindow", 0.42, 0.5,
                                           0.08};

static enum axle_status window_infer_def(struct axle_kctx *k,
                                         const struct window_def *d)
{
    struct axle_tensor *o = k->out[0];
    int64_t dt = axle_node_attr_int(k->node, "output_datatype",
                                    AXLE_DTYPE_FLOAT32);
    bool known;
    int64_t n = 0;
    enum axle_status st = int_scalar(k, d->op, 0, "size", &known, &n);
    if (st != AXLE_OK)
        return st;
    if (!out_type_ok(dt))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: output_datatype %lld is not supported",
                            d->op, (long long)dt);
    if (known && (n < 0 || n > AXLE_TENSOR_MAX_ELEMS))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: size %lld is out of range", d->op,
                            (long long)n);
    if (o == NULL)
        return AXLE_OK;
    o->dtype = (enum axle_dtype)dt;
    o->rank = 1;
    o->dims[0] = known ? n : AXLE_DIM_UNKNOWN;
    return AXLE_OK;
}

static enum axle_status window_run_def(struct axle_kctx *k,
                                       const struct window_def *d)
{
    struct axle_tensor *o = k->out[0];
    if (o == NULL)
        return AXLE_OK;
    int64_t n = o->dims[0];
    bool periodic = axle_node_attr_int(k->node, "periodic", 1) != 0;
    double den = (double)(periodic ? n : n - 1);
    for (int64_t i = 0; i < n; i++) {
        double v;
        if (den <= 0)
            v = d->a0 + d->a1 + d->a2; /* the peak, as numpy's size 1 */
        else {
            double t = 2.0 * PI * (double)i / den;
            v = d->a0 - d->a1 * cos(t) + d->a2 * cos(2 * t);
        }
        put(o->data, o->dtype, i, v);
    }
    return AXLE_OK;
}

static enum axle_status hann_infer(struct axle_kctx *k)
{
    return window_infer_def(k, &hann);
}
static enum axle_status hann_run(struct axle_kctx *k)
{
    return window_run_def(k, &hann);
}
static enum axle_status hamming_infer(struct axle_kctx *k)
{
    return window_infer_def(k, &hamming);
}
static enum axle_status hamming_run(struct axle_kctx *k)
{
    return window_run_def(k, &hamming);
}
static enum axle_status blackman_infer(struct axle_kctx *k)
{
    return window_infer_def(k, &blackman);
}
static enum axle_status blackman_run(struct axle_kctx *k)
{
    return window_run_def(k, &blackman);
}

const struct axle_op axle_op_hann_window = {
    .name = "HannWindow", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = hann_infer, .run = hann_run,
};
const struct axle_op axle_op_hamming_window = {
    .name = "HammingWindow", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = hamming_infer, .run = hamming_run,
};
const struct axle_op axle_op_blackman_window = {
    .name = "BlackmanWindow", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = blackman_infer, .run = blackman_run,
};

/* ---- MelWeightMatrix -------------------------------------------------- */

struct mel_args {
    int64_t bins, dft_len, rate;
    double lo, hi;
    bool known;
};

static enum axle_status float_scalar(struct axle_kctx *k, int i,
                                     const char *what, bool *known,
                                     double *v)
{
    const struct axle_tensor *t = AXLE_IN(k, i);
    *known = false;
    if (t == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MelWeightMatrix: input %s is required", what);
    if (t->dtype != AXLE_DTYPE_UNDEFINED && !nr_is_float(t->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MelWeightMatrix: %s must be a float, got %s",
                            what, axle_dtype_name(t->dtype));
    int64_t n = axle_tensor_numel(t);
    if (t->rank > 1 || (n >= 0 && n != 1))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MelWeightMatrix: %s must be a scalar", what);
    if (t->data == NULL || n < 0)
        return AXLE_OK;
    *v = axle_tensor_get_f64(t, 0);
    *known = true;
    return AXLE_OK;
}

static enum axle_status mel_setup(struct axle_kctx *k, struct mel_args *a)
{
    bool k0, k1, k2, k3, k4;
    enum axle_status st;
    memset(a, 0, sizeof(*a));
    st = int_scalar(k, "MelWeightMatrix", 0, "num_mel_bins", &k0, &a->bins);
    if (st == AXLE_OK)
        st = int_scalar(k, "MelWeightMatrix", 1, "dft_length", &k1,
                        &a->dft_len);
    if (st == AXLE_OK)
        st = int_scalar(k, "MelWeightMatrix", 2, "sample_rate", &k2,
                        &a->rate);
    if (st == AXLE_OK)
        st = float_scalar(k, 3, "lower_edge_hertz", &k3, &a->lo);
    if (st == AXLE_OK)
        st = float_scalar(k, 4, "upper_edge_hertz", &k4, &a->hi);
    if (st != AXLE_OK)
        return st;
    if (k0 && (a->bins < 0 || a->bins > AXLE_TENSOR_MAX_ELEMS))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MelWeightMatrix: num_mel_bins %lld is out of "
                            "range", (long long)a->bins);
    if (k1 && (a->dft_len < 1 || a->dft_len > AXLE_TENSOR_MAX_ELEMS))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MelWeightMatrix: dft_length %lld is out of "
                            "range", (long long)a->dft_len);
    if (k2 && a->rate < 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MelWeightMatrix: sample_rate must be positive");
    if (k3 && k4 && !(a->lo >= 0 && a->lo <= a->hi && isfinite(a->hi)))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MelWeightMatrix: need 0 <= lower_edge_hertz <= "
                            "upper_edge_hertz");
    if (k0 && k1 && (a->dft_len / 2 + 1) * (a->bins > 0 ? a->bins : 1) >
                        AXLE_TENSOR_MAX_ELEMS)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MelWeightMatrix: output is too large");
    a->known = k0 && k1 && k2 && k3 && k4;
    return AXLE_OK;
}

static enum axle_status mel_infer(struct axle_kctx *k)
{
    struct axle_tensor *o = k->out[0];
    int64_t dt = axle_node_attr_int(k->node, "output_datatype",
                                    AXLE_DTYPE_FLOAT32);
    struct mel_args a;
    enum axle_status st = mel_setup(k, &a);
    if (st != AXLE_OK)
        return st;
    if (!out_type_ok(dt))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "MelWeightMatrix: output_datatype %lld is not "
                            "supported", (long long)dt);
    if (o == NULL)
        return AXLE_OK;
    o->dtype = (enum axle_dtype)dt;
    o->rank = 2;
    const struct axle_tensor *t0 = k->in[0], *t1 = k->in[1];
    o->dims[0] = t1->data != NULL ? a.dft_len / 2 + 1 : AXLE_DIM_UNKNOWN;
    o->dims[1] = t0->data != NULL ? a.bins : AXLE_DIM_UNKNOWN;
    return AXLE_OK;
}

static double hz_to_mel(double hz) { return 2595.0 * log10(1 + hz / 700); }
static double mel_to_hz(double m) { return 700 * (pow(10, m / 2595) - 1); }

static enum axle_status mel_run(struct axle_kctx *k)
{
    struct axle_tensor *o = k->out[0];
    struct mel_args a;
    enum axle_status st = mel_setup(k, &a);
    if (st != AXLE_OK || o == NULL)
        return st;
    int64_t nspec = a.dft_len / 2 + 1, nb = a.bins;
    int64_t *edge = axle_kctx_scratch(k, sizeof(int64_t) *
                                             (size_t)(nb + 2));
    if (edge == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "MelWeightMatrix: no scratch memory");
    double mlo = hz_to_mel(a.lo), mhi = hz_to_mel(a.hi);
    double step = (mhi - mlo) / (double)(nb + 2);
    for (int64_t i = 0; i < nb + 2; i++) {
        double hz = mel_to_hz((double)i * step + mlo);
        double b = floor((double)(a.dft_len + 1) * hz / (double)a.rate);
        edge[i] = b < 0 ? 0 : b > (double)nspec ? nspec : (int64_t)b;
    }
    for (int64_t i = 0; i < nspec * nb; i++)
        put(o->data, o->dtype, i, 0);
    for (int64_t m = 0; m < nb; m++) {
        int64_t lo = edge[m], c = edge[m + 1], hi = edge[m + 2];
        if (c == lo) {
            if (c < nspec)
                put(o->data, o->dtype, c * nb + m, 1);
        } else {
            for (int64_t j = lo; j <= c && j < nspec; j++)
                put(o->data, o->dtype, j * nb + m,
                   (double)(j - lo) / (double)(c - lo));
        }
        for (int64_t j = c; j < hi && j < nspec; j++)
            put(o->data, o->dtype, j * nb + m,
               (double)(hi - j) / (double)(hi - c));
    }
    return AXLE_OK;
}

const struct axle_op axle_op_mel_weight_matrix = {
    .name = "MelWeightMatrix", .domain = "",
    .min_inputs = 5, .max_inputs = 5, .min_outputs = 1, .max_outputs = 1,
    .infer = mel_infer, .run = mel_run,
};
