/*
 * onnx_tensor.c - TensorProto -> struct axle_tensor.
 *
 * ONNX IR spec facts used here: data comes from exactly one of raw_data
 * (little-endian, densely packed) or the typed repeated field for the dtype
 * (float_data for FLOAT; int32_data for INT32/INT16/INT8/UINT16/UINT8/BOOL
 * and the bit patterns of FLOAT16/BFLOAT16; int64_data for INT64;
 * uint64_data for UINT32/UINT64; double_data for DOUBLE; string_data for
 * STRING), or from external data when data_location is EXTERNAL. External
 * data may only name a plain file inside the model's own directory
 * (SECURITY.md D12).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "import/onnx/onnx_internal.h"
#include "ir/tensor.h"

static int dtype_supported(int dt)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32: case AXLE_DTYPE_UINT8: case AXLE_DTYPE_INT8:
    case AXLE_DTYPE_UINT16: case AXLE_DTYPE_INT16: case AXLE_DTYPE_INT32:
    case AXLE_DTYPE_INT64: case AXLE_DTYPE_STRING: case AXLE_DTYPE_BOOL:
    case AXLE_DTYPE_FLOAT16: case AXLE_DTYPE_FLOAT64: case AXLE_DTYPE_UINT32:
    case AXLE_DTYPE_UINT64: case AXLE_DTYPE_BFLOAT16:
        return 1;
    default:
        return 0;
    }
}

/* D12: one plain name, no separators, not "." or "..". */
static int location_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static enum axle_status read_external(const AxleOnnx__TensorProto *tp,
                                      int dirfd, struct axle_tensor *t,
                                      size_t nbytes, struct axle_err *err)
{
    const char *loc = NULL;
    uint64_t offset = 0, length = nbytes, end;
    struct stat st;
    int fd;
    size_t got = 0;

    for (size_t i = 0; i < tp->n_external_data; i++) {
        const AxleOnnx__StringStringEntryProto *e = tp->external_data[i];
        if (e->key == NULL || e->value == NULL)
            continue;
        if (strcmp(e->key, "location") == 0)
            loc = e->value;
        else if (strcmp(e->key, "offset") == 0 && parse_u64(e->value, &offset))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid external data location");
        else if (strcmp(e->key, "length") == 0 && parse_u64(e->value, &length))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid external data location");
    }
    if (loc == NULL || !location_ok(loc) || dirfd < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid external data location");
    if (length != nbytes)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "initializer size mismatch (external length)");
    fd = openat(dirfd, loc, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid external data location");
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
        __builtin_add_overflow(offset, length, &end) ||
        end > (uint64_t)st.st_size) {
        close(fd);
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid external data location");
    }
    while (got < nbytes) {
        ssize_t r = pread(fd, (char *)t->data + got, nbytes - got,
                          (off_t)(offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid external data location (short read)");
        }
        got += (size_t)r;
    }
    close(fd);
    return AXLE_OK;
}

enum axle_status axle_onnx_tensor_convert(AxleOnnx__TensorProto *tp,
                                          int dirfd, struct axle_tensor **out,
                                          struct axle_err *err)
{
    struct axle_tensor *t = NULL;
    enum axle_status st;
    int64_t dims[AXLE_MAX_RANK];
    int64_t numel;
    int dt = tp->has_data_type ? tp->data_type : 0;
    size_t es, nbytes;
    const char *name = tp->name ? tp->name : "";

    *out = NULL;
    if (!dtype_supported(dt))
        return axle_err_set(err, AXLE_UNIMPLEMENTED,
                            "tensor '%.80s': unsupported data type %d", name,
                            dt);
    if (tp->n_dims > AXLE_MAX_RANK)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tensor '%.80s': rank %zu exceeds %d", name,
                            tp->n_dims, AXLE_MAX_RANK);
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "tensor '%.80s': negative dimension", name);
        dims[i] = tp->dims[i];
    }
    numel = axle_shape_numel((int)tp->n_dims, dims);
    if (numel < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "tensor '%.80s': tensor too large", name);
    es = axle_dtype_size((enum axle_dtype)dt);
    nbytes = (size_t)numel * es;

    /* Check the bytes actually present before allocating (D13). */
    if (tp->has_data_location &&
        tp->data_location == AXLE_ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (dt == AXLE_DTYPE_STRING)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid external data location");
    } else if (tp->has_raw_data) {
        if (dt == AXLE_DTYPE_STRING || tp->raw_data.len != nbytes)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "initializer size mismatch: tensor '%.80s' "
                                "has %zu raw bytes, shape needs %zu",
                                name, tp->raw_data.len, nbytes);
    } else {
        size_t have;
        switch (dt) {
        case AXLE_DTYPE_FLOAT32: have = tp->n_float_data; break;
        case AXLE_DTYPE_INT64: have = tp->n_int64_data; break;
        case AXLE_DTYPE_FLOAT64: have = tp->n_double_data; break;
        case AXLE_DTYPE_UINT32: case AXLE_DTYPE_UINT64:
            have = tp->n_uint64_data; break;
        case AXLE_DTYPE_STRING: have = tp->n_string_data; break;
        default: have = tp->n_int32_data; break;
        }
        if (have != (size_t)numel)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "initializer size mismatch: tensor '%.80s' "
                                "has %zu values, shape needs %lld",
                                name, have, (long long)numel);
    }

    /* Large raw payloads: take protobuf-c's buffer (malloc'd by its default
     * allocator) instead of copying it, halving peak memory at load. */
    if (tp->has_raw_data && nbytes >= 4096 &&
        !(tp->has_data_location && tp->data_location ==
              AXLE_ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)) {
        t = axle_xcalloc(1, sizeof(*t));
        t->dtype = (enum axle_dtype)dt;
        t->rank = (int)tp->n_dims;
        memcpy(t->dims, dims, tp->n_dims * sizeof(int64_t));
        t->data = tp->raw_data.data;
        t->cap_bytes = nbytes;
        t->owns_data = 1;
        tp->raw_data.data = NULL;
        tp->raw_data.len = 0;
        tp->has_raw_data = 0;
        *out = t;
        return AXLE_OK;
    }
    st = axle_tensor_new((enum axle_dtype)dt, (int)tp->n_dims, dims, &t, err);
    if (st != AXLE_OK)
        return st;

    if (tp->has_data_location &&
        tp->data_location == AXLE_ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        st = read_external(tp, dirfd, t, nbytes, err);
        if (st != AXLE_OK)
            goto fail;
    } else if (tp->has_raw_data) {
        if (nbytes)
            memcpy(t->data, tp->raw_data.data, nbytes);
    } else {
        for (int64_t i = 0; i < numel; i++) {
            switch (dt) {
            case AXLE_DTYPE_FLOAT32:
                ((float *)t->data)[i] = tp->float_data[i]; break;
            case AXLE_DTYPE_INT64:
                ((int64_t *)t->data)[i] = tp->int64_data[i]; break;
            case AXLE_DTYPE_FLOAT64:
                ((double *)t->data)[i] = tp->double_data[i]; break;
            case AXLE_DTYPE_UINT32:
                ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i]; break;
            case AXLE_DTYPE_UINT64:
                ((uint64_t *)t->data)[i] = tp->uint64_data[i]; break;
            case AXLE_DTYPE_INT32:
                ((int32_t *)t->data)[i] = tp->int32_data[i]; break;
            case AXLE_DTYPE_INT16:
                ((int16_t *)t->data)[i] = (int16_t)tp->int32_data[i]; break;
            case AXLE_DTYPE_UINT16: case AXLE_DTYPE_FLOAT16:
            case AXLE_DTYPE_BFLOAT16:
                ((uint16_t *)t->data)[i] = (uint16_t)tp->int32_data[i]; break;
            case AXLE_DTYPE_INT8:
                ((int8_t *)t->data)[i] = (int8_t)tp->int32_data[i]; break;
            case AXLE_DTYPE_UINT8:
                ((uint8_t *)t->data)[i] = (uint8_t)tp->int32_data[i]; break;
            case AXLE_DTYPE_BOOL:
                ((uint8_t *)t->data)[i] = tp->int32_data[i] != 0; break;
            case AXLE_DTYPE_STRING: {
                const ProtobufCBinaryData *b = &tp->string_data[i];
                char *s = axle_try_malloc(b->len + 1);
                if (s == NULL) {
                    st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                                      "out of memory");
                    goto fail;
                }
                if (b->len)
                    memcpy(s, b->data, b->len);
                s[b->len] = '\0';
                ((char **)t->data)[i] = s;
                break;
            }
            }
        }
    }
    *out = t;
    return AXLE_OK;
fail:
    axle_tensor_free(t);
    return st;
}

enum axle_status axle_onnx_tensor_decode(const uint8_t *buf, size_t len,
                                         struct axle_tensor **out,
                                         char **name_out,
                                         struct axle_err *err)
{
    struct axle_pbscan_limits lim = {.max_bytes = (size_t)1 << 31,
                                     .max_depth = 16};
    AxleOnnx__TensorProto *tp;
    enum axle_status st;

    *out = NULL;
    if (name_out)
        *name_out = NULL;
    st = axle_pbscan(&axle_onnx__tensor_proto__descriptor, buf, len, &lim,
                     err);
    if (st != AXLE_OK)
        return st;
    tp = axle_onnx__tensor_proto__unpack(NULL, len, buf);
    if (tp == NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "malformed protobuf");
    st = axle_onnx_tensor_convert(tp, -1, out, err);
    if (st == AXLE_OK && name_out)
        *name_out = axle_xstrdup(tp->name ? tp->name : "");
    axle_onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}

/* SequenceProto / OptionalProto (onnx-data.proto) -> a value record. The
 * element kinds are 1 tensor, 3 sequence, 5 optional; maps and sparse
 * tensors are refused. */
static enum axle_status seq_convert(AxleOnnx__SequenceProto *sp, int depth,
                                    struct axle_tensor *out,
                                    struct axle_err *err);

static enum axle_status opt_convert(AxleOnnx__OptionalProto *op, int depth,
                                    struct axle_tensor *out,
                                    struct axle_err *err)
{
    struct axle_tensor *t = NULL;
    enum axle_status st = AXLE_OK;
    int et = op->has_elem_type ? op->elem_type : 0;

    memset(out, 0, sizeof(*out));
    out->kind = AXLE_KIND_OPTIONAL;
    out->rank = -1;
    out->owns_data = 1;
    if (depth > 8)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "values nested too deeply");
    if (et == 0 || (et == 1 && op->tensor_value == NULL) ||
        (et == 3 && op->sequence_value == NULL))
        return AXLE_OK; /* no value */
    out->items = axle_xcalloc(1, sizeof(*out->items));
    if (et == 1) {
        st = axle_onnx_tensor_convert(op->tensor_value, -1, &t, err);
        if (st != AXLE_OK)
            return st;
        out->items[0] = *t;
        axle_free(t);
        out->dtype = out->items[0].dtype;
    } else if (et == 3) {
        out->elem_kind = AXLE_KIND_SEQUENCE;
        st = seq_convert(op->sequence_value, depth + 1, &out->items[0], err);
        out->dtype = out->items[0].dtype;
    } else {
        return axle_err_set(err, AXLE_UNIMPLEMENTED,
                            "optional of element type %d", et);
    }
    out->n_items = 1;
    return st;
}

static enum axle_status seq_convert(AxleOnnx__SequenceProto *sp, int depth,
                                    struct axle_tensor *out,
                                    struct axle_err *err)
{
    int et = sp->has_elem_type ? sp->elem_type : 1;

    memset(out, 0, sizeof(*out));
    out->kind = AXLE_KIND_SEQUENCE;
    out->rank = -1;
    out->owns_data = 1;
    if (depth > 8)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "values nested too deeply");
    if (et != 1 || sp->n_sequence_values || sp->n_optional_values)
        return axle_err_set(err, AXLE_UNIMPLEMENTED,
                            "only sequences of tensors are supported");
    if (sp->n_tensor_values > AXLE_SEQ_MAX_ITEMS)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "sequence of %zu elements", sp->n_tensor_values);
    out->items = axle_xcalloc(sp->n_tensor_values + 1, sizeof(*out->items));
    for (size_t i = 0; i < sp->n_tensor_values; i++) {
        struct axle_tensor *t;
        enum axle_status st = axle_onnx_tensor_convert(sp->tensor_values[i],
                                                       -1, &t, err);
        if (st != AXLE_OK)
            return st;
        out->items[i] = *t;
        out->n_items = (int)i + 1;
        axle_free(t);
        if (i > 0 && out->items[i].dtype != out->dtype)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "sequence elements of different dtypes");
        out->dtype = out->items[i].dtype;
    }
    return AXLE_OK;
}

enum axle_status axle_onnx_value_decode(const uint8_t *buf, size_t len,
                                        enum axle_kind kind,
                                        struct axle_tensor **out,
                                        struct axle_err *err)
{
    struct axle_pbscan_limits lim = {.max_bytes = (size_t)1 << 31,
                                     .max_depth = 32};
    enum axle_status st;
    struct axle_tensor *v;

    *out = NULL;
    if (kind == AXLE_KIND_TENSOR)
        return axle_onnx_tensor_decode(buf, len, out, NULL, err);
    v = axle_xcalloc(1, sizeof(*v));
    if (kind == AXLE_KIND_SEQUENCE) {
        AxleOnnx__SequenceProto *sp;
        st = axle_pbscan(&axle_onnx__sequence_proto__descriptor, buf, len,
                         &lim, err);
        if (st != AXLE_OK)
            goto out;
        sp = axle_onnx__sequence_proto__unpack(NULL, len, buf);
        if (sp == NULL) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "malformed protobuf");
            goto out;
        }
        st = seq_convert(sp, 0, v, err);
        axle_onnx__sequence_proto__free_unpacked(sp, NULL);
    } else {
        AxleOnnx__OptionalProto *op;
        st = axle_pbscan(&axle_onnx__optional_proto__descriptor, buf, len,
                         &lim, err);
        if (st != AXLE_OK)
            goto out;
        op = axle_onnx__optional_proto__unpack(NULL, len, buf);
        if (op == NULL) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "malformed protobuf");
            goto out;
        }
        st = opt_convert(op, 0, v, err);
        axle_onnx__optional_proto__free_unpacked(op, NULL);
    }
out:
    if (st != AXLE_OK) {
        axle_tensor_free(v);
        return st;
    }
    *out = v;
    return AXLE_OK;
}
