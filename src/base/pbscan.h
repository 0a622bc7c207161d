/*
 * pbscan.h - bounded pre-scan of protobuf wire data (SECURITY.md D17).
 *
 * Before protobuf_c_message_unpack sees untrusted bytes, an iterative walk
 * guided by the message descriptors checks: total size, nesting depth,
 * varints of at most 10 bytes, every length within the bytes remaining, no
 * groups, and wire types that match the declared field types. protobuf-c
 * itself recurses and has no depth limit, so this walk is what bounds it.
 */
#ifndef AXLE_BASE_PBSCAN_H
#define AXLE_BASE_PBSCAN_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"

struct axle_pbscan_limits {
    size_t max_bytes;
    int max_depth;
};

/* AXLE_OK, or AXLE_INVALID_ARGUMENT with "malformed protobuf ..." /
 * "protobuf nesting too deep" / AXLE_RESOURCE_EXHAUSTED "too large". */
enum axle_status axle_pbscan(const ProtobufCMessageDescriptor *desc,
                             const uint8_t *buf, size_t len,
                             const struct axle_pbscan_limits *lim,
                             struct axle_err *err);

#endif
