/*
 * onnx.h - ONNX ModelProto importer (protobuf-c over proto/onnx.proto).
 *
 * Produces an axle_ir_model; the protobuf structures never leave this
 * directory. Every size in the file is checked against the bytes present
 * and the limits below before anything is allocated (SECURITY.md D12, D13,
 * D17, D28).
 */
#ifndef AXLE_IMPORT_ONNX_H
#define AXLE_IMPORT_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "axle/status.h"
#include "axle/tensor.h"
#include "ir/model.h"

#define AXLE_ONNX_MAX_NODES 100000
#define AXLE_ONNX_MAX_INITIALIZERS 100000
#define AXLE_ONNX_MAX_SUBGRAPH_DEPTH 8
#define AXLE_ONNX_OPSET_MIN 1
#define AXLE_ONNX_OPSET_MAX 18

struct axle_onnx_opts {
    size_t max_model_bytes; /* 0: default 2 GiB */
    int base_dirfd;         /* directory for external data; -1: refuse it */
};

/* Import a serialized ModelProto. buf is borrowed for the call. */
enum axle_status axle_onnx_import(const uint8_t *buf, size_t len,
                                  const struct axle_onnx_opts *opts,
                                  struct axle_ir_model **out,
                                  struct axle_err *err);

/* Decode one serialized TensorProto (the conformance data's .pb files). */
enum axle_status axle_onnx_tensor_decode(const uint8_t *buf, size_t len,
                                         struct axle_tensor **out,
                                         char **name_out,
                                         struct axle_err *err);

/* Decode a serialized value of the given kind: TensorProto, SequenceProto
 * (of tensors) or OptionalProto (of a tensor or a sequence), as ONNX's
 * backend test data stores them. *out is owned by the caller. */
enum axle_status axle_onnx_value_decode(const uint8_t *buf, size_t len,
                                        enum axle_kind kind,
                                        struct axle_tensor **out,
                                        struct axle_err *err);

#endif
