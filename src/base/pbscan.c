/*
 * pbscan.c - iterative, descriptor-guided protobuf wire walk.
 *
 * Wire format facts (protobuf encoding spec): a tag is a varint holding
 * (field_number << 3) | wire_type; wire types 0 varint, 1 fixed64,
 * 2 length-delimited, 5 fixed32; 3 and 4 are deprecated groups.
 */
#include "base/pbscan.h"
#include "base/err.h"

#define PB_MAX_DEPTH_HARD 128

struct frame {
    const ProtobufCMessageDescriptor *desc;
    size_t end;
};

static int read_varint(const uint8_t *buf, size_t len, size_t *pos,
                       uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (*pos >= len)
            return -1;
        uint8_t b = buf[(*pos)++];
        if (i == 9 && b > 1)
            return -1; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1; /* an 11th byte would follow */
}

static int wire_ok(const ProtobufCFieldDescriptor *f, unsigned wt)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_BOOL: case PROTOBUF_C_TYPE_ENUM:
        return wt == 0 || (wt == 2 && f->label == PROTOBUF_C_LABEL_REPEATED);
    case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return wt == 5 || (wt == 2 && f->label == PROTOBUF_C_LABEL_REPEATED);
    case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return wt == 1 || (wt == 2 && f->label == PROTOBUF_C_LABEL_REPEATED);
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return wt == 2;
    }
    return 0;
}

enum axle_status axle_pbscan(const ProtobufCMessageDescriptor *desc,
                             const uint8_t *buf, size_t len,
                             const struct axle_pbscan_limits *lim,
                             struct axle_err *err)
{
    struct frame stack[PB_MAX_DEPTH_HARD + 1];
    int max_depth = lim->max_depth;
    int depth = 0;
    size_t pos = 0;

    if (max_depth > PB_MAX_DEPTH_HARD)
        max_depth = PB_MAX_DEPTH_HARD;
    if (len > lim->max_bytes)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED,
                            "message larger than max (%zu > %zu bytes)", len,
                            lim->max_bytes);
    stack[0].desc = desc;
    stack[0].end = len;
    for (;;) {
        uint64_t tag, v;
        unsigned wt;
        const ProtobufCFieldDescriptor *f;

        while (pos == stack[depth].end) {
            if (depth == 0)
                return AXLE_OK;
            depth--;
        }
        if (read_varint(buf, stack[depth].end, &pos, &tag) != 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "malformed protobuf: bad varint at byte %zu",
                                pos);
        wt = (unsigned)(tag & 7);
        if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "malformed protobuf: bad field number");
        f = protobuf_c_message_descriptor_get_field(stack[depth].desc,
                                                    (unsigned)(tag >> 3));
        if (f != NULL && !wire_ok(f, wt))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "malformed protobuf: wire type %u for field "
                                "'%s'", wt, f->name);
        switch (wt) {
        case 0:
            if (read_varint(buf, stack[depth].end, &pos, &v) != 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "malformed protobuf: bad varint");
            break;
        case 1:
        case 5: {
            size_t n = wt == 1 ? 8 : 4;
            if (stack[depth].end - pos < n)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "malformed protobuf: truncated");
            pos += n;
            break;
        }
        case 2:
            if (read_varint(buf, stack[depth].end, &pos, &v) != 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "malformed protobuf: bad length");
            if (v > stack[depth].end - pos)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "malformed protobuf: truncated (field "
                                    "length past the end)");
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth + 1 > max_depth)
                    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                        "protobuf nesting too deep");
                depth++;
                stack[depth].desc = f->descriptor;
                stack[depth].end = pos + (size_t)v;
            } else {
                pos += (size_t)v;
            }
            break;
        default:
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "malformed protobuf: unsupported wire type %u",
                                wt);
        }
    }
}
