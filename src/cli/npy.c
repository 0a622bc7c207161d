/*
 * npy.c - NumPy .npy files (format versions 1.0-3.0) in and out for the CLI.
 *
 * Format facts (numpy.lib.format): magic "\x93NUMPY", major, minor, header
 * length (u16 for 1.x, u32 for 2.x/3.x, little-endian), then a Python dict
 * literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded
 * with spaces and a newline, then the raw C-order data. Only little-endian
 * (or byte-order-free) numeric and bool dtypes are accepted; the header is
 * parsed as data, never evaluated. String tensors are written (not read) as
 * numpy's fixed-width byte strings ('|S<n>').
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "cli/cli.h"
#include "ir/tensor.h"

#define NPY_MAX_HEADER 65536

static const struct {
    const char *descr;
    enum axle_dtype dt;
} npy_types[] = {
    {"f4", AXLE_DTYPE_FLOAT32}, {"f8", AXLE_DTYPE_FLOAT64},
    {"f2", AXLE_DTYPE_FLOAT16}, {"i1", AXLE_DTYPE_INT8},
    {"i2", AXLE_DTYPE_INT16},   {"i4", AXLE_DTYPE_INT32},
    {"i8", AXLE_DTYPE_INT64},   {"u1", AXLE_DTYPE_UINT8},
    {"u2", AXLE_DTYPE_UINT16},  {"u4", AXLE_DTYPE_UINT32},
    {"u8", AXLE_DTYPE_UINT64},  {"b1", AXLE_DTYPE_BOOL},
};

#define N_NPY_TYPES (sizeof(npy_types) / sizeof(npy_types[0]))

/* Finds 'key': in the header dict and returns a pointer past the colon. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    const char *p;
    snprintf(pat, sizeof(pat), "'%s'", key);
    p = strstr(h, pat);
    if (p == NULL)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static enum axle_status parse_header(const char *h, struct axle_tensor *t,
                                     struct axle_err *err)
{
    const char *p = dict_value(h, "descr");
    char descr[8];
    size_t n = 0;

    if (p == NULL || *p != '\'')
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "npy: header has no descr");
    p++;
    while (*p && *p != '\'' && n < sizeof(descr) - 1)
        descr[n++] = *p++;
    descr[n] = '\0';
    if (*p != '\'')
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "npy: bad descr");
    {
        const char *d = descr;
        t->dtype = AXLE_DTYPE_UNDEFINED;
        if (*d == '<' || *d == '|' || *d == '=')
            d++;
        else if (*d == '>' && strcmp(d + 1, "i1") && strcmp(d + 1, "u1") &&
                 strcmp(d + 1, "b1"))
            return axle_err_set(err, AXLE_UNIMPLEMENTED,
                                "npy: big-endian data is not supported");
        else if (*d == '>')
            d++;
        for (size_t i = 0; i < N_NPY_TYPES; i++)
            if (strcmp(d, npy_types[i].descr) == 0)
                t->dtype = npy_types[i].dt;
        if (t->dtype == AXLE_DTYPE_UNDEFINED)
            return axle_err_set(err, AXLE_UNIMPLEMENTED,
                                "npy: unsupported dtype '%s'", descr);
    }
    p = dict_value(h, "fortran_order");
    if (p == NULL || strncmp(p, "False", 5) != 0)
        return axle_err_set(err, AXLE_UNIMPLEMENTED,
                            "npy: only C-order arrays are supported");
    p = dict_value(h, "shape");
    if (p == NULL || *p != '(')
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "npy: bad shape");
    p++;
    t->rank = 0;
    for (;;) {
        char *end;
        long long v;
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        if (*p < '0' || *p > '9')
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "npy: bad shape");
        errno = 0;
        v = strtoll(p, &end, 10);
        if (errno != 0 || v < 0 || t->rank >= AXLE_MAX_RANK)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "npy: bad shape (rank at most %d)",
                                AXLE_MAX_RANK);
        t->dims[t->rank++] = v;
        p = end;
    }
    return AXLE_OK;
}

enum axle_status axle_npy_read(const char *path, struct axle_tensor **out,
                               struct axle_err *err)
{
    unsigned char pre[12];
    char *hdr = NULL;
    struct axle_tensor desc = {0}, *t = NULL;
    enum axle_status st;
    size_t hlen, nb;
    int64_t nbytes;
    FILE *f;

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL)
        return axle_err_set(err, AXLE_NOT_FOUND, "cannot open '%.200s': %s",
                            path, strerror(errno));
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "'%.200s' is not a .npy file", path);
        goto out;
    }
    if (pre[6] == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "npy: truncated");
            goto out;
        }
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
               (size_t)pre[11] << 24;
    } else {
        st = axle_err_set(err, AXLE_UNIMPLEMENTED,
                          "npy: format version %d not supported", pre[6]);
        goto out;
    }
    if (hlen > NPY_MAX_HEADER) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "npy: header too long");
        goto out;
    }
    hdr = axle_xmalloc(hlen + 1);
    if (fread(hdr, 1, hlen, f) != hlen) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "npy: truncated header");
        goto out;
    }
    hdr[hlen] = '\0';
    st = parse_header(hdr, &desc, err);
    if (st != AXLE_OK)
        goto out;
    nbytes = axle_tensor_nbytes(&desc);
    if (nbytes < 0) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "npy: array too large");
        goto out;
    }
    st = axle_tensor_new(desc.dtype, desc.rank, desc.dims, &t, err);
    if (st != AXLE_OK)
        goto out;
    nb = fread(t->data, 1, (size_t)nbytes, f);
    if (nb != (size_t)nbytes) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "npy: '%.200s' is truncated (%zu of %lld bytes)",
                          path, nb, (long long)nbytes);
        goto out;
    }
    if (desc.dtype == AXLE_DTYPE_BOOL)
        for (int64_t i = 0; i < nbytes; i++)
            ((uint8_t *)t->data)[i] = ((uint8_t *)t->data)[i] != 0;
    *out = t;
    t = NULL;
out:
    axle_tensor_free(t);
    axle_free(hdr);
    fclose(f);
    return st;
}

enum axle_status axle_npy_write(const char *path, const struct axle_tensor *t,
                                struct axle_err *err)
{
    const char *descr = NULL;
    char dict[512], sdescr[32];
    char shape[256] = "";
    size_t str_len = 0; /* STRING: bytes per element ('|S<n>') */
    size_t off = 0, total, pad;
    int64_t nbytes = axle_tensor_nbytes(t);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    FILE *f;
    int w;

    for (size_t i = 0; i < N_NPY_TYPES; i++)
        if (npy_types[i].dt == t->dtype)
            descr = npy_types[i].descr;
    if (t->dtype == AXLE_DTYPE_STRING && nbytes >= 0) {
        /* numpy's fixed-width byte strings: each element NUL-padded to
         * the longest (numpy.lib.format writes '|S<n>') */
        int64_t n = axle_tensor_numel(t);
        for (int64_t i = 0; i < n; i++) {
            const char *e = ((char *const *)t->data)[i];
            size_t l = e ? strlen(e) : 0;
            if (l > str_len)
                str_len = l;
        }
        if (str_len == 0)
            str_len = 1;
        snprintf(sdescr, sizeof(sdescr), "S%zu", str_len);
        descr = sdescr;
    }
    if (t->dtype == AXLE_DTYPE_BFLOAT16 || descr == NULL || nbytes < 0)
        return axle_err_set(err, AXLE_UNIMPLEMENTED,
                            "npy: cannot write dtype %s",
                            axle_dtype_name(t->dtype));
    for (int i = 0; i < t->rank; i++) {
        w = snprintf(shape + off, sizeof(shape) - off, "%lld,%s",
                     (long long)t->dims[i], i + 1 < t->rank ? " " : "");
        off += (size_t)w;
    }
    if (t->rank > 1) /* "(2, 3)" rather than "(2, 3,)" */
        shape[off - 1] = '\0';
    w = snprintf(dict, sizeof(dict),
                 "{'descr': '%c%s', 'fortran_order': False, 'shape': (%s), }",
                 strcmp(descr, "i1") == 0 || strcmp(descr, "u1") == 0 ||
                         strcmp(descr, "b1") == 0 || str_len > 0
                     ? '|' : '<',
                 descr, shape);
    total = 10 + (size_t)w + 1;
    pad = (64 - total % 64) % 64;
    pre[8] = (unsigned char)(((size_t)w + pad + 1) & 0xff);
    pre[9] = (unsigned char)(((size_t)w + pad + 1) >> 8);
    f = fopen(path, "wb");
    if (f == NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "cannot write '%.200s': %s", path,
                            strerror(errno));
    fwrite(pre, 1, 10, f);
    fwrite(dict, 1, (size_t)w, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    if (str_len > 0) {
        int64_t n = axle_tensor_numel(t);
        for (int64_t i = 0; i < n; i++) {
            const char *e = ((char *const *)t->data)[i];
            size_t l = e ? strlen(e) : 0;
            if (l)
                fwrite(e, 1, l, f);
            for (; l < str_len; l++)
                fputc('\0', f);
        }
    } else if (nbytes > 0) {
        fwrite(t->data, 1, (size_t)nbytes, f);
    }
    if (fclose(f) != 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "cannot write '%.200s'", path);
    return AXLE_OK;
}
