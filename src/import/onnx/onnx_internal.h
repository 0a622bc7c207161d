/*
 * onnx_internal.h - shared between the files of the ONNX importer only.
 */
#ifndef AXLE_IMPORT_ONNX_INTERNAL_H
#define AXLE_IMPORT_ONNX_INTERNAL_H

#include "base/pbscan.h"
#include "import/onnx/onnx.h"
#include "onnx.pb-c.h"

/* May take ownership of tp's raw_data buffer (then clears it in tp). */
enum axle_status axle_onnx_tensor_convert(AxleOnnx__TensorProto *tp,
                                          int dirfd, struct axle_tensor **out,
                                          struct axle_err *err);

#endif
