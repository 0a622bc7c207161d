/*
 * cast.c - Cast, CastLike, Identity and Dropout (inference).
 *
 * Cast-1 names the target by string ("FLOAT", "INT64", ...), Cast-6+ by
 * the TensorProto number. Between numeric types: floats to integers
 * truncate toward zero (NaN gives 0, out-of-range saturates instead of C's
 * undefined behaviour), integers wrap to narrower widths, anything to bool
 * is "!= 0"; float64 -> float16 rounds once (through round-to-odd
 * float32); anything -> bfloat16 truncates like ONNX's reference. Strings (Cast-9+): parsing accepts plain and scientific
 * notation and "NaN", "INF", "+INF", "-INF" in any case; printing uses the
 * shortest digits that round-trip in the source type, positional for
 * 1e-4 <= |x| < 1e16 and scientific otherwise (numpy's str(), which the
 * ONNX test data is generated with); NaN/inf print as "NaN", "INF", "-INF"
 * so that they parse back; bool prints as "1"/"0".
 *
 * CastLike-15 is Cast to the element type of its second input.
 *
 * Identity is a view (the engine aliases); its run copies for constant
 * folding. Dropout returns its input (and an all-true mask) unless
 * training_mode (Dropout-12+) is true with ratio > 0.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/tensor.h"
#include "kernels/elementwise.h"

static const struct {
    const char *name;
    enum axle_dtype dt;
} dtype_names[] = {
    {"FLOAT", AXLE_DTYPE_FLOAT32},   {"UINT8", AXLE_DTYPE_UINT8},
    {"INT8", AXLE_DTYPE_INT8},       {"UINT16", AXLE_DTYPE_UINT16},
    {"INT16", AXLE_DTYPE_INT16},     {"INT32", AXLE_DTYPE_INT32},
    {"INT64", AXLE_DTYPE_INT64},     {"STRING", AXLE_DTYPE_STRING},
    {"BOOL", AXLE_DTYPE_BOOL},       {"FLOAT16", AXLE_DTYPE_FLOAT16},
    {"DOUBLE", AXLE_DTYPE_FLOAT64},  {"UINT32", AXLE_DTYPE_UINT32},
    {"UINT64", AXLE_DTYPE_UINT64},   {"BFLOAT16", AXLE_DTYPE_BFLOAT16},
    {"FLOAT32", AXLE_DTYPE_FLOAT32}, {"FLOAT64", AXLE_DTYPE_FLOAT64},
};

static enum axle_status cast_target(struct axle_kctx *k, enum axle_dtype *dt)
{
    const struct axle_attr *a = axle_node_attr(k->node, "to");

    if (a == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Cast: missing attribute 'to'");
    if (a->type == AXLE_ATTR_STRING) {
        for (size_t i = 0; i < sizeof(dtype_names) / sizeof(dtype_names[0]);
             i++) {
            if (strcasecmp(a->s, dtype_names[i].name) == 0) {
                *dt = dtype_names[i].dt;
                return AXLE_OK;
            }
        }
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Cast: unknown type '%.40s'", a->s);
    }
    if (a->i == 14 || a->i == 15)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "Cast: complex types are not supported");
    if (a->i <= 0 || a->i > AXLE_DTYPE_BFLOAT16 ||
        axle_dtype_size((enum axle_dtype)a->i) == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Cast: 'to' = %lld is not a supported type",
                            (long long)a->i);
    *dt = (enum axle_dtype)a->i;
    return AXLE_OK;
}

static void copy_shape(const struct axle_tensor *x, struct axle_tensor *o)
{
    o->rank = x->rank;
    if (x->rank > 0)
        memcpy(o->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
}

static enum axle_status cast_infer(struct axle_kctx *k)
{
    enum axle_dtype to = AXLE_DTYPE_UNDEFINED;
    enum axle_status st = cast_target(k, &to);
    const struct axle_tensor *x = k->in[0];

    if (axle_ew_need_inputs(k, 1) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;

    if (st != AXLE_OK)
        return st;
    if (x->dtype != AXLE_DTYPE_UNDEFINED && axle_dtype_size(x->dtype) == 0)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "Cast: input type %d is not supported",
                            (int)x->dtype);
    k->out[0]->dtype = to;
    copy_shape(x, k->out[0]);
    return AXLE_OK;
}

static uint16_t f32_to_bf16_trunc(float f);

/* ---- strings ---- */

static char *dup_str(const char *s, size_t n)
{
    char *d = axle_try_malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Does the text read back as exactly v in type dt? */
static bool round_trips(const char *buf, double v, enum axle_dtype dt)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT64: return strtod(buf, NULL) == v;
    case AXLE_DTYPE_FLOAT16:
        return axle_f32_to_f16(strtof(buf, NULL)) ==
               axle_f32_to_f16((float)v);
    case AXLE_DTYPE_BFLOAT16:
        return axle_f32_to_bf16(strtof(buf, NULL)) ==
               axle_f32_to_bf16((float)v);
    default: return strtof(buf, NULL) == (float)v;
    }
}

/* numpy-style str() of a float value of type dt into out (>= 64 bytes). */
static void format_float(double v, enum axle_dtype dt, char *out, size_t len)
{
    char sci[48], digits[24];
    int p, exp10, nd = 0;
    size_t o = 0;
    const char *e;

    if (isnan(v)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, len, v < 0 ? "-INF" : "INF");
        return;
    }
    for (p = 1; p < 17; p++) {
        snprintf(sci, sizeof(sci), "%.*e", p - 1, v);
        if (round_trips(sci, v, dt))
            break;
    }
    snprintf(sci, sizeof(sci), "%.*e", p - 1, v);
    /* sci is [-]d[.ddd]e[+-]XX: collect digits and the exponent. */
    e = strchr(sci, 'e');
    exp10 = e ? (int)strtol(e + 1, NULL, 10) : 0;
    for (const char *s = sci; *s && s != e; s++)
        if (isdigit((unsigned char)*s) && nd < (int)sizeof(digits) - 1)
            digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    if (signbit(v))
        out[o++] = '-';
    if (v != 0.0 && (exp10 < -4 || exp10 >= 16)) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        snprintf(out + o, len - o, "e%c%02d", exp10 < 0 ? '-' : '+',
                 exp10 < 0 ? -exp10 : exp10);
        return;
    }
    if (v == 0.0)
        exp10 = 0;
    if (exp10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp10 - 1; i++)
            out[o++] = '0';
        for (int i = 0; i < nd; i++)
            out[o++] = digits[i];
    } else {
        for (int i = 0; i <= exp10; i++)
            out[o++] = i < nd ? digits[i] : '0';
        out[o++] = '.';
        if (nd > exp10 + 1) {
            for (int i = exp10 + 1; i < nd; i++)
                out[o++] = digits[i];
        } else {
            out[o++] = '0';
        }
    }
    out[o] = '\0';
}

static bool trailing_space_only(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* Parse s as a number; *is_int and *iv when it is a plain integer. */
static bool parse_number(const char *s, double *dv, float *fv, int64_t *iv,
                         bool *is_int)
{
    const char *t = s;
    char *end;

    while (isspace((unsigned char)*t))
        t++;
    if (strcasecmp(t, "nan") == 0 || strcasecmp(t, "+nan") == 0 ||
        strcasecmp(t, "-nan") == 0) {
        *dv = NAN;
        *fv = NAN;
        *is_int = false;
        return true;
    }
    if (strcasecmp(t, "inf") == 0 || strcasecmp(t, "+inf") == 0 ||
        strcasecmp(t, "-inf") == 0) {
        *dv = t[0] == '-' ? -INFINITY : INFINITY;
        *fv = (float)*dv;
        *is_int = false;
        return true;
    }
    if (strcasecmp(t, "true") == 0 || strcasecmp(t, "false") == 0) {
        *iv = t[0] == 't' || t[0] == 'T';
        *dv = (double)*iv;
        *fv = (float)*iv;
        *is_int = true;
        return true;
    }
    *iv = strtoll(t, &end, 10);
    *is_int = end != t && trailing_space_only(end);
    *dv = strtod(t, &end);
    if (end == t || !trailing_space_only(end))
        return *is_int;
    *fv = strtof(t, NULL);
    return true;
}

static enum axle_status cast_from_string(struct axle_kctx *k,
                                         const struct axle_tensor *x,
                                         struct axle_tensor *out, int64_t n)
{
    char *const *s = x->data;
    enum axle_dtype to = out->dtype;

    for (int64_t i = 0; i < n; i++) {
        const char *str = s[i] ? s[i] : "";
        double dv = 0;
        float fv = 0;
        int64_t iv = 0;
        bool is_int = false;

        if (!parse_number(str, &dv, &fv, &iv, &is_int))
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "Cast: cannot parse '%.40s' as %s", str,
                                axle_dtype_name(to));
        if (to == AXLE_DTYPE_FLOAT32)
            ((float *)out->data)[i] = fv;
        else if (to == AXLE_DTYPE_BFLOAT16)
            ((uint16_t *)out->data)[i] = f32_to_bf16_trunc(fv);
        else if (axle_dtype_is_float(to) || !is_int)
            axle_ew_st_f(out->data, to, i, dv);
        else if (to == AXLE_DTYPE_UINT64 && str[0] != '-')
            ((uint64_t *)out->data)[i] = strtoull(str, NULL, 10);
        else
            axle_ew_st_i(out->data, to, i, iv);
    }
    return AXLE_OK;
}

static enum axle_status cast_to_string(struct axle_kctx *k,
                                       const struct axle_tensor *x,
                                       struct axle_tensor *out, int64_t n)
{
    char **o = out->data;
    char buf[64];

    for (int64_t i = 0; i < n; i++) {
        enum axle_dtype dt = x->dtype;
        if (dt == AXLE_DTYPE_STRING) {
            const char *s = ((char *const *)x->data)[i];
            o[i] = dup_str(s ? s : "", s ? strlen(s) : 0);
        } else {
            if (axle_dtype_is_float(dt))
                format_float(axle_ew_ld_f(x->data, dt, i), dt, buf,
                             sizeof(buf));
            else if (dt == AXLE_DTYPE_UINT64)
                snprintf(buf, sizeof(buf), "%" PRIu64,
                         ((const uint64_t *)x->data)[i]);
            else
                snprintf(buf, sizeof(buf), "%" PRId64,
                         axle_ew_ld_i(x->data, dt, i));
            o[i] = dup_str(buf, strlen(buf));
        }
        if (o[i] == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "Cast: out of memory for strings");
    }
    return AXLE_OK;
}

/* ---- numbers ---- */

/* float64 -> float32 rounding to odd, so a second rounding to a narrower
 * type is correct (no double-rounding ties). */
static float f64_to_f32_odd(double d)
{
    float f = (float)d;
    uint32_t bits;

    if ((double)f == d || isnan(d) || isinf(f))
        return f;
    memcpy(&bits, &f, 4);
    if ((bits & 1) == 0)
        f = nextafterf(f, d > (double)f ? INFINITY : -INFINITY);
    return f;
}

/* Cast to bfloat16 keeps the upper 16 bits (truncation toward zero), as
 * ONNX's reference does for Cast-13 (onnx 1.12 test data
 * test_cast_FLOAT_to_BFLOAT16); NaN stays a quiet NaN. Arithmetic on
 * bfloat16 elsewhere rounds to nearest even. */
static uint16_t f32_to_bf16_trunc(float f)
{
    uint32_t bits;

    memcpy(&bits, &f, 4);
    if (isnan(f))
        return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)(bits >> 16);
}

static void cast_numeric(const struct axle_tensor *x, struct axle_tensor *o,
                         int64_t n)
{
    enum axle_dtype from = x->dtype, to = o->dtype;

    /* The common pairs get their own loops. */
    if (from == AXLE_DTYPE_FLOAT32 && to == AXLE_DTYPE_FLOAT64) {
        for (int64_t i = 0; i < n; i++)
            ((double *)o->data)[i] = ((const float *)x->data)[i];
    } else if (from == AXLE_DTYPE_FLOAT64 && to == AXLE_DTYPE_FLOAT32) {
        for (int64_t i = 0; i < n; i++)
            ((float *)o->data)[i] = (float)((const double *)x->data)[i];
    } else if (from == AXLE_DTYPE_FLOAT32 && to == AXLE_DTYPE_FLOAT16) {
        axle_ew_f32_to_half(to, x->data, o->data, n);
    } else if (from == AXLE_DTYPE_FLOAT32 && to == AXLE_DTYPE_BFLOAT16) {
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)o->data)[i] =
                f32_to_bf16_trunc(((const float *)x->data)[i]);
    } else if ((from == AXLE_DTYPE_FLOAT16 || from == AXLE_DTYPE_BFLOAT16) &&
               to == AXLE_DTYPE_FLOAT32) {
        axle_ew_half_to_f32(from, x->data, o->data, n);
    } else if (from == AXLE_DTYPE_FLOAT64 &&
               (to == AXLE_DTYPE_FLOAT16 || to == AXLE_DTYPE_BFLOAT16)) {
        for (int64_t i = 0; i < n; i++) {
            float f = f64_to_f32_odd(((const double *)x->data)[i]);
            ((uint16_t *)o->data)[i] = to == AXLE_DTYPE_FLOAT16
                                           ? axle_f32_to_f16(f)
                                           : f32_to_bf16_trunc(f);
        }
    } else if (from == AXLE_DTYPE_INT64 && to == AXLE_DTYPE_FLOAT32) {
        for (int64_t i = 0; i < n; i++)
            ((float *)o->data)[i] = (float)((const int64_t *)x->data)[i];
    } else if (from == AXLE_DTYPE_UINT64 && to == AXLE_DTYPE_FLOAT32) {
        for (int64_t i = 0; i < n; i++)
            ((float *)o->data)[i] = (float)((const uint64_t *)x->data)[i];
    } else if (to == AXLE_DTYPE_BFLOAT16) {
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)o->data)[i] = f32_to_bf16_trunc(
                f64_to_f32_odd(axle_ew_ld_f(x->data, from, i)));
    } else if (axle_dtype_is_float(from) || axle_dtype_is_float(to)) {
        for (int64_t i = 0; i < n; i++)
            axle_ew_st_f(o->data, to, i, axle_ew_ld_f(x->data, from, i));
    } else {
        /* integers and bool: wrap to the width, bool is != 0 */
        for (int64_t i = 0; i < n; i++)
            axle_ew_st_i(o->data, to, i, axle_ew_ld_i(x->data, from, i));
    }
}

static enum axle_status cast_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];
    int64_t n = axle_tensor_numel(x);

    if (n <= 0)
        return AXLE_OK;
    if (o->dtype == AXLE_DTYPE_STRING)
        return cast_to_string(k, x, o, n);
    if (x->dtype == AXLE_DTYPE_STRING)
        return cast_from_string(k, x, o, n);
    if (x->dtype == o->dtype) {
        if (o->data != x->data)
            memcpy(o->data, x->data, (size_t)n * axle_dtype_size(x->dtype));
        return AXLE_OK;
    }
    cast_numeric(x, o, n);
    return AXLE_OK;
}

const struct axle_op axle_op_cast = {
    .name = "Cast", .domain = "", .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1, .infer = cast_infer, .run = cast_run,
};

/* ---- CastLike ---- */

/* CastLike-15/19: Cast with the target type taken from input 1's element
 * type (its values are never read). Cast-19's `saturate` only concerns
 * float8 types, which axle does not have, so it is ignored. */
static enum axle_status cast_like_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = AXLE_IN(k, 0), *t = AXLE_IN(k, 1);

    if (axle_ew_need_inputs(k, 2) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    for (int j = 0; j < 2; j++) {
        enum axle_dtype dt = (j == 0 ? x : t)->dtype;
        if (dt != AXLE_DTYPE_UNDEFINED && axle_dtype_size(dt) == 0)
            return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                                "CastLike: input %d type %d is not "
                                "supported", j, (int)dt);
    }
    k->out[0]->dtype = t->dtype;
    copy_shape(x, k->out[0]);
    return AXLE_OK;
}

const struct axle_op axle_op_cast_like = {
    .name = "CastLike", .domain = "", .min_inputs = 2, .max_inputs = 2,
    .min_outputs = 1, .max_outputs = 1, .infer = cast_like_infer,
    .run = cast_run,
};

/* ---- Identity ---- */

static enum axle_status copy_tensor(struct axle_kctx *k,
                                    const struct axle_tensor *x,
                                    struct axle_tensor *o)
{
    int64_t n = axle_tensor_numel(x);

    if (n <= 0 || o->data == x->data)
        return AXLE_OK;
    if (x->dtype == AXLE_DTYPE_STRING) {
        char *const *s = x->data;
        char **d = o->data;
        for (int64_t i = 0; i < n; i++) {
            d[i] = dup_str(s[i] ? s[i] : "", s[i] ? strlen(s[i]) : 0);
            if (d[i] == NULL)
                return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                    "out of memory for strings");
        }
        return AXLE_OK;
    }
    memcpy(o->data, x->data, (size_t)n * axle_dtype_size(x->dtype));
    return AXLE_OK;
}

static enum axle_status identity_infer(struct axle_kctx *k)
{
    if (axle_ew_need_inputs(k, 1) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    k->out[0]->dtype = k->in[0]->dtype;
    copy_shape(k->in[0], k->out[0]);
    return AXLE_OK;
}

static enum axle_status identity_run(struct axle_kctx *k)
{
    return copy_tensor(k, k->in[0], k->out[0]);
}

const struct axle_op axle_op_identity = {
    .name = "Identity", .domain = "", .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1, .infer = identity_infer,
    .run = identity_run, .view = true,
};

/* ---- Dropout ---- */

static enum axle_status dropout_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    const struct axle_tensor *r = AXLE_IN(k, 1), *t = AXLE_IN(k, 2);

    if (axle_ew_need_inputs(k, 1) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    if (k->out[0] == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Dropout: output 0 is required");
    if (x->dtype != AXLE_DTYPE_UNDEFINED && !axle_dtype_is_float(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Dropout: unsupported type %s",
                            axle_dtype_name(x->dtype));
    if (r != NULL && axle_shape_known(r) && axle_tensor_numel(r) != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Dropout: ratio must be a scalar");
    if (t != NULL && t->dtype != AXLE_DTYPE_UNDEFINED &&
        t->dtype != AXLE_DTYPE_BOOL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Dropout: training_mode is %s, expected bool",
                            axle_dtype_name(t->dtype));
    k->out[0]->dtype = x->dtype;
    copy_shape(x, k->out[0]);
    if (k->n_outputs > 1 && k->out[1] != NULL) {
        /* Dropout-1..9: mask has the input's type; bool from 10. */
        k->out[1]->dtype = k->opset < 10 ? x->dtype : AXLE_DTYPE_BOOL;
        copy_shape(x, k->out[1]);
    }
    return AXLE_OK;
}

/* MT19937 (Matsumoto & Nishimura 1998) seeded like numpy's legacy
 * RandomState(seed), so that Dropout with a `seed` reproduces the masks of
 * ONNX's reference (np.random.seed(seed); uniform(0, 1, shape) >= ratio). */
struct mt {
    uint32_t s[624];
    int i;
};

static void mt_seed(struct mt *m, uint32_t seed)
{
    m->s[0] = seed;
    for (int i = 1; i < 624; i++)
        m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) +
                  (uint32_t)i;
    m->i = 624;
}

static uint32_t mt_next(struct mt *m)
{
    uint32_t y;

    if (m->i >= 624) {
        for (int i = 0; i < 624; i++) {
            y = (m->s[i] & 0x80000000u) | (m->s[(i + 1) % 624] & 0x7fffffffu);
            m->s[i] = m->s[(i + 397) % 624] ^ (y >> 1) ^
                      ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        m->i = 0;
    }
    y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* numpy's random_sample: 53 random bits in [0, 1). */
static double mt_uniform(struct mt *m)
{
    uint32_t a = mt_next(m) >> 5, b = mt_next(m) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

static enum axle_status dropout_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    const struct axle_tensor *r = AXLE_IN(k, 1), *t = AXLE_IN(k, 2);
    struct axle_tensor *mask = k->n_outputs > 1 ? k->out[1] : NULL;
    int64_t n = axle_tensor_numel(x);
    bool training = false;
    double ratio = 0.5;
    enum axle_status st;

    if (k->opset >= 12) {
        if (r != NULL) {
            if (axle_tensor_numel(r) != 1 || !axle_dtype_is_float(r->dtype))
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Dropout: ratio must be a float scalar");
            ratio = axle_ew_ld_f(r->data, r->dtype, 0);
        }
        if (t != NULL) {
            if (axle_tensor_numel(t) != 1 || t->dtype != AXLE_DTYPE_BOOL)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "Dropout: training_mode must be a bool "
                                    "scalar");
            training = ((const uint8_t *)t->data)[0] != 0;
        }
    }
    if (training && !(ratio >= 0.0 && ratio < 1.0))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "Dropout: ratio %g outside [0, 1)", ratio);
    if (!training || ratio == 0.0) {
        st = copy_tensor(k, x, k->out[0]);
        if (st != AXLE_OK || mask == NULL)
            return st;
        for (int64_t i = 0; i < n; i++) {
            if (mask->dtype == AXLE_DTYPE_BOOL)
                ((uint8_t *)mask->data)[i] = 1;
            else
                axle_ew_st_f(mask->data, mask->dtype, i, 1.0);
        }
        return AXLE_OK;
    }
    /* Training mode: keep with probability 1 - ratio, scale by 1/(1-r). */
    {
        const struct axle_attr *sa = axle_node_attr(k->node, "seed");
        static uint32_t calls;
        struct mt *m = axle_kctx_scratch(k, sizeof(*m));
        double scale = 1.0 / (1.0 - ratio);

        if (m == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "Dropout: out of scratch memory");
        mt_seed(m, sa ? (uint32_t)sa->i
                      : __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED) *
                            2654435761u);
        for (int64_t i = 0; i < n; i++) {
            bool keep = mt_uniform(m) >= ratio;
            if (x->dtype == AXLE_DTYPE_FLOAT32) {
                /* numpy: float32 * python float stays float32 */
                float v = ((const float *)x->data)[i];
                ((float *)k->out[0]->data)[i] =
                    keep ? v * (float)scale : 0.0f * v;
            } else {
                double v = axle_ew_ld_f(x->data, x->dtype, i);
                axle_ew_st_f(k->out[0]->data, x->dtype, i,
                             keep ? v * scale : 0.0 * v);
            }
            if (mask != NULL)
                ((uint8_t *)mask->data)[i] = keep;
        }
    }
    return AXLE_OK;
}

/* Not marked nondeterministic: without training_mode (inference) it is a
 * copy, and with a seed it is reproducible. */
const struct axle_op axle_op_dropout = {
    .name = "Dropout", .domain = "", .min_inputs = 1, .max_inputs = 3,
    .min_outputs = 1, .max_outputs = 2, .infer = dropout_infer,
    .run = dropout_run,
};
