/*
 * axle/tensor.h - element types and the tensor record of the axle C API.
 *
 * The dtype values are ONNX's TensorProto.DataType numbers, so importers and
 * the wire formats map onto them without a table.
 */
#ifndef AXLE_TENSOR_H
#define AXLE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum axle_dtype {
    AXLE_DTYPE_UNDEFINED = 0,
    AXLE_DTYPE_FLOAT32 = 1,
    AXLE_DTYPE_UINT8 = 2,
    AXLE_DTYPE_INT8 = 3,
    AXLE_DTYPE_UINT16 = 4,
    AXLE_DTYPE_INT16 = 5,
    AXLE_DTYPE_INT32 = 6,
    AXLE_DTYPE_INT64 = 7,
    AXLE_DTYPE_STRING = 8, /* elements are `char *`, NUL-terminated */
    AXLE_DTYPE_BOOL = 9,   /* one byte, 0 or 1 */
    AXLE_DTYPE_FLOAT16 = 10,
    AXLE_DTYPE_FLOAT64 = 11,
    AXLE_DTYPE_UINT32 = 12,
    AXLE_DTYPE_UINT64 = 13,
    AXLE_DTYPE_BFLOAT16 = 16,
};

#define AXLE_MAX_RANK 8

/* What a value is. Tensors are the common case; ONNX sequences and
 * optionals (Sequence*, Optional*, Loop/If carrying them) are containers
 * of other values. */
enum axle_kind {
    AXLE_KIND_TENSOR = 0,
    AXLE_KIND_SEQUENCE = 1, /* items[0..n_items): tensors of one dtype */
    AXLE_KIND_OPTIONAL = 2, /* n_items 0 (no value) or 1 (items[0]) */
};

/*
 * A tensor: dtype, shape and a pointer to densely packed row-major elements.
 *
 * When the C API hands a tensor to the caller, data is borrowed from the
 * session and valid until the next run on it. When the caller hands tensors
 * to axle_session_run, axle reads them during the call only.
 *
 * Inside the engine the same record also describes a value whose shape is
 * only partly known at load time: rank == -1 means unknown rank, a dimension
 * of -1 is unknown and a dimension <= -2 is the symbolic dimension number
 * (-2 - d) of the graph (e.g. a batch dimension "N"); data is then NULL.
 *
 * A sequence or optional (kind != AXLE_KIND_TENSOR) uses dtype for its
 * element dtype, rank -1, data NULL, and holds its elements in items (an
 * array of n_items records; for an optional of a sequence, elem_kind says
 * so). The items, and recursively what they hold, belong to the record
 * when owns_data is set; the same borrowing rules as for data apply.
 */
struct axle_tensor {
    enum axle_dtype dtype;
    int rank;
    int64_t dims[AXLE_MAX_RANK];
    void *data;
    size_t cap_bytes;   /* capacity of data, >= the bytes the shape needs */
    unsigned owns_data; /* engine-internal: data is freed with the tensor */
    enum axle_kind kind;      /* AXLE_KIND_TENSOR when zero-initialised */
    enum axle_kind elem_kind; /* optional: the kind of its element */
    int n_items;
    struct axle_tensor *items;
};

/* Bytes of one element (0 for UNDEFINED or unknown values). */
size_t axle_dtype_size(enum axle_dtype dt);
/* ONNX-style name: "float32", "int64", ... ("undefined" if unknown). */
const char *axle_dtype_name(enum axle_dtype dt);

#ifdef __cplusplus
}
#endif

#endif
