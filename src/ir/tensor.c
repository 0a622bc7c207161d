/*
 * tensor.c - dtype table, checked shape arithmetic, owned tensors and the
 * half-precision conversions used by Cast and the importers.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/tensor.h"

static const struct {
    size_t size;
    const char *name;
} dtypes[] = {
    [AXLE_DTYPE_UNDEFINED] = {0, "undefined"},
    [AXLE_DTYPE_FLOAT32] = {4, "float32"},
    [AXLE_DTYPE_UINT8] = {1, "uint8"},
    [AXLE_DTYPE_INT8] = {1, "int8"},
    [AXLE_DTYPE_UINT16] = {2, "uint16"},
    [AXLE_DTYPE_INT16] = {2, "int16"},
    [AXLE_DTYPE_INT32] = {4, "int32"},
    [AXLE_DTYPE_INT64] = {8, "int64"},
    [AXLE_DTYPE_STRING] = {sizeof(char *), "string"},
    [AXLE_DTYPE_BOOL] = {1, "bool"},
    [AXLE_DTYPE_FLOAT16] = {2, "float16"},
    [AXLE_DTYPE_FLOAT64] = {8, "float64"},
    [AXLE_DTYPE_UINT32] = {4, "uint32"},
    [AXLE_DTYPE_UINT64] = {8, "uint64"},
    [AXLE_DTYPE_BFLOAT16] = {2, "bfloat16"},
};

#define N_DTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

size_t axle_dtype_size(enum axle_dtype dt)
{
    return (unsigned)dt < N_DTYPES ? dtypes[dt].size : 0;
}

const char *axle_dtype_name(enum axle_dtype dt)
{
    if ((unsigned)dt < N_DTYPES && dtypes[dt].name != NULL)
        return dtypes[dt].name;
    return "undefined";
}

bool axle_shape_known(const struct axle_tensor *t)
{
    if (t->rank < 0)
        return false;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0)
            return false;
    return true;
}

int64_t axle_shape_numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    if (rank < 0)
        return -1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || __builtin_mul_overflow(n, dims[i], &n) ||
            n > AXLE_TENSOR_MAX_ELEMS)
            return -1;
    }
    return n;
}

int64_t axle_tensor_numel(const struct axle_tensor *t)
{
    return axle_shape_numel(t->rank, t->dims);
}

int64_t axle_tensor_nbytes(const struct axle_tensor *t)
{
    int64_t n = axle_tensor_numel(t);
    size_t es = axle_dtype_size(t->dtype);
    if (n < 0 || es == 0)
        return -1;
    return n * (int64_t)es;
}

enum axle_status axle_tensor_new(enum axle_dtype dt, int rank,
                                 const int64_t *dims, struct axle_tensor **out,
                                 struct axle_err *err)
{
    struct axle_tensor *t;
    int64_t nbytes;

    *out = NULL;
    if (rank < 0 || rank > AXLE_MAX_RANK)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tensor rank %d out of range", rank);
    t = axle_xcalloc(1, sizeof(*t));
    t->dtype = dt;
    t->rank = rank;
    if (rank > 0)
        memcpy(t->dims, dims, (size_t)rank * sizeof(int64_t));
    nbytes = axle_tensor_nbytes(t);
    if (nbytes < 0) {
        axle_free(t);
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "tensor too large");
    }
    t->data = axle_try_aligned((size_t)nbytes);
    if (t->data == NULL) {
        axle_free(t);
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "out of memory for a tensor of %lld bytes",
                            (long long)nbytes);
    }
    memset(t->data, 0, (size_t)nbytes);
    t->cap_bytes = (size_t)nbytes;
    t->owns_data = 1;
    *out = t;
    return AXLE_OK;
}

enum axle_status axle_tensor_clone(const struct axle_tensor *src,
                                   struct axle_tensor **out,
                                   struct axle_err *err)
{
    enum axle_status st;
    int64_t n;

    st = axle_tensor_new(src->dtype, src->rank, src->dims, out, err);
    if (st != AXLE_OK)
        return st;
    n = axle_tensor_numel(src);
    if (src->dtype == AXLE_DTYPE_STRING) {
        char *const *s = src->data;
        char **d = (*out)->data;
        for (int64_t i = 0; i < n; i++) {
            size_t len = s[i] ? strlen(s[i]) : 0;
            d[i] = axle_try_malloc(len + 1);
            if (d[i] == NULL) {
                axle_tensor_free(*out);
                *out = NULL;
                return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                                    "out of memory");
            }
            if (len)
                memcpy(d[i], s[i], len);
            d[i][len] = '\0';
        }
    } else if (n > 0) {
        memcpy((*out)->data, src->data, (size_t)axle_tensor_nbytes(src));
    }
    return AXLE_OK;
}

void axle_value_dispose(struct axle_tensor *t)
{
    if (t->owns_data) {
        if (t->data != NULL && t->dtype == AXLE_DTYPE_STRING) {
            char **s = t->data;
            size_t n = t->cap_bytes / sizeof(char *);
            for (size_t i = 0; i < n; i++)
                axle_free(s[i]);
        }
        axle_free(t->data);
        for (int i = 0; t->items != NULL && i < t->n_items; i++)
            axle_value_dispose(&t->items[i]);
        axle_free(t->items);
    }
    t->data = NULL;
    t->cap_bytes = 0;
    t->items = NULL;
    t->n_items = 0;
    t->owns_data = 0;
}

void axle_tensor_free(struct axle_tensor *t)
{
    if (t == NULL)
        return;
    axle_value_dispose(t);
    axle_free(t);
}

const char *axle_kind_name(enum axle_kind k)
{
    switch (k) {
    case AXLE_KIND_TENSOR: return "tensor";
    case AXLE_KIND_SEQUENCE: return "sequence";
    case AXLE_KIND_OPTIONAL: return "optional";
    }
    return "unknown";
}

/* Deep copy into a zeroed record. */
static enum axle_status copy_into(struct axle_tensor *dst,
                                  const struct axle_tensor *src, int depth,
                                  struct axle_err *err)
{
    *dst = *src;
    dst->data = NULL;
    dst->cap_bytes = 0;
    dst->items = NULL;
    dst->n_items = 0;
    dst->owns_data = 1;
    if (depth > 16)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "values nested too deeply");
    if (src->kind == AXLE_KIND_TENSOR) {
        struct axle_tensor *t;
        enum axle_status st;
        if (src->data == NULL && axle_tensor_numel(src) != 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tensor without data");
        st = axle_tensor_clone(src, &t, err);
        if (st != AXLE_OK)
            return st;
        dst->data = t->data;
        dst->cap_bytes = t->cap_bytes;
        axle_free(t);
        return AXLE_OK;
    }
    if (src->n_items < 0 || src->n_items > AXLE_SEQ_MAX_ITEMS ||
        (src->n_items > 0 && src->items == NULL))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "%s with %d elements", axle_kind_name(src->kind),
                            src->n_items);
    if (src->n_items == 0)
        return AXLE_OK;
    dst->items = axle_try_calloc((size_t)src->n_items, sizeof(*dst->items));
    if (dst->items == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 0; i < src->n_items; i++) {
        enum axle_status st = copy_into(&dst->items[i], &src->items[i],
                                        depth + 1, err);
        dst->n_items = i + 1;
        if (st != AXLE_OK)
            return st;
    }
    return AXLE_OK;
}

enum axle_status axle_value_copy(struct axle_tensor *dst,
                                 const struct axle_tensor *src,
                                 struct axle_err *err)
{
    enum axle_status st;

    axle_value_dispose(dst);
    st = copy_into(dst, src, 0, err);
    if (st != AXLE_OK)
        axle_value_dispose(dst);
    return st;
}

enum axle_status axle_seq_insert(struct axle_tensor *seq, int pos,
                                 const struct axle_tensor *item,
                                 struct axle_err *err)
{
    struct axle_tensor *items;
    enum axle_status st;

    if (seq->n_items >= AXLE_SEQ_MAX_ITEMS)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "sequence longer than %d elements",
                            AXLE_SEQ_MAX_ITEMS);
    if (pos < 0 || pos > seq->n_items)
        return axle_err_set(err, AXLE_INTERNAL, "bad sequence position");
    if (seq->n_items > 0 && !seq->owns_data)
        return axle_err_set(err, AXLE_INTERNAL, "sequence is borrowed");
    items = axle_try_realloc(seq->items, ((size_t)seq->n_items + 1) *
                                             sizeof(*items));
    if (items == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    seq->items = items;
    seq->owns_data = 1;
    memmove(&items[pos + 1], &items[pos],
            (size_t)(seq->n_items - pos) * sizeof(*items));
    memset(&items[pos], 0, sizeof(*items));
    seq->n_items++;
    st = copy_into(&items[pos], item, 1, err);
    if (st != AXLE_OK)
        axle_seq_erase(seq, pos);
    return st;
}

void axle_seq_erase(struct axle_tensor *seq, int pos)
{
    if (pos < 0 || pos >= seq->n_items)
        return;
    axle_value_dispose(&seq->items[pos]);
    memmove(&seq->items[pos], &seq->items[pos + 1],
            (size_t)(seq->n_items - pos - 1) * sizeof(*seq->items));
    seq->n_items--;
}

int64_t axle_tensor_get_i64(const struct axle_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case AXLE_DTYPE_INT64: return ((const int64_t *)d)[i];
    case AXLE_DTYPE_INT32: return ((const int32_t *)d)[i];
    case AXLE_DTYPE_INT16: return ((const int16_t *)d)[i];
    case AXLE_DTYPE_INT8: return ((const int8_t *)d)[i];
    case AXLE_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case AXLE_DTYPE_BOOL: return ((const uint8_t *)d)[i];
    case AXLE_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case AXLE_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case AXLE_DTYPE_UINT64: return (int64_t)((const uint64_t *)d)[i];
    case AXLE_DTYPE_STRING:
    case AXLE_DTYPE_UNDEFINED: return 0;
    default: {
        double v = axle_tensor_get_f64(t, i);
        if (!(v > -9.2e18 && v < 9.2e18))
            return 0;
        return (int64_t)v;
    }
    }
}

double axle_tensor_get_f64(const struct axle_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case AXLE_DTYPE_FLOAT32: return ((const float *)d)[i];
    case AXLE_DTYPE_FLOAT64: return ((const double *)d)[i];
    case AXLE_DTYPE_FLOAT16: return axle_f16_to_f32(((const uint16_t *)d)[i]);
    case AXLE_DTYPE_BFLOAT16: return axle_bf16_to_f32(((const uint16_t *)d)[i]);
    case AXLE_DTYPE_UINT64: return (double)((const uint64_t *)d)[i];
    case AXLE_DTYPE_STRING:
    case AXLE_DTYPE_UNDEFINED: return 0;
    default: return (double)axle_tensor_get_i64(t, i);
    }
}

void axle_shape_format(const struct axle_tensor *t, const char *const *syms,
                       int n_syms, char *buf, size_t len)
{
    size_t off;
    int w;

    w = snprintf(buf, len, "%s", axle_dtype_name(t->dtype));
    off = w > 0 ? (size_t)w : 0;
    if (t->rank < 0) {
        if (off < len)
            snprintf(buf + off, len - off, "[?]");
        return;
    }
    for (int i = 0; i < t->rank && off < len; i++) {
        int64_t d = t->dims[i];
        const char *sep = i == 0 ? "[" : ",";
        if (d >= 0)
            w = snprintf(buf + off, len - off, "%s%lld", sep, (long long)d);
        else if (d <= -2 && syms != NULL && axle_dim_sym_id(d) < n_syms)
            w = snprintf(buf + off, len - off, "%s%s", sep,
                         syms[axle_dim_sym_id(d)]);
        else
            w = snprintf(buf + off, len - off, "%s?", sep);
        off += w > 0 ? (size_t)w : 0;
    }
    if (off < len)
        snprintf(buf + off, len - off, t->rank == 0 ? "[]" : "]");
}

/* IEEE 754 binary16 <-> binary32, round to nearest even. */
float axle_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    float f;

    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: value = man * 2^-24 */
            f = (float)man * 0x1p-24f;
            memcpy(&bits, &f, 4);
            bits |= sign;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t axle_f32_to_f16(float f)
{
    uint32_t x;
    uint32_t sign, exp, man;

    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000;
    exp = (x >> 23) & 0xff;
    man = x & 0x7fffff;
    if (exp == 0xff) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) { /* subnormal or zero */
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* may carry into the exponent, which is correct */
    return (uint16_t)half;
}

float axle_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t axle_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if (isnan(f))
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1); /* round to nearest even */
    return (uint16_t)(x >> 16);
}

enum axle_status axle_strings_copy(char **dst, char *const *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const char *x = src[i] ? src[i] : "";
        size_t len = strlen(x);
        axle_free(dst[i]);
        dst[i] = axle_try_malloc(len + 1);
        if (dst[i] == NULL)
            return AXLE_RESOURCE_EXHAUSTED;
        memcpy(dst[i], x, len + 1);
    }
    return AXLE_OK;
}
