/*
 * fuzz_onnx.c - F8 onnx_model: bytes -> ModelProto pre-scan -> import ->
 * validation -> shape inference and folding -> one session with a dry run.
 * Invariant: a clear status for every input, never a crash, a leak, a hang
 * or an allocation past the limits.
 *
 * Sessions are made only for models whose inputs hold at most 2^16
 * elements each: a valid model may legitimately ask for seconds of compute
 * (a ConvTranspose over large declared inputs), which under ASan would read
 * as a hang without being one.
 */
#include <stddef.h>
#include <stdint.h>

#include "axle/axle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct axle_load_opts lo = {.max_model_bytes = (size_t)64 << 20};
    struct axle_model *m = NULL;
    struct axle_session *s = NULL;
    struct axle_session_opts so = {.n_threads = 1, .max_batch = 1};
    struct axle_err err;

    if (axle_model_load_memory(data, size, &lo, &m, &err) != AXLE_OK)
        return 0;
    for (int i = 0; i < axle_model_n_inputs(m); i++) {
        struct axle_io_info io;
        int64_t n = 1;
        axle_model_input(m, i, &io);
        for (int d = 0; d < io.rank; d++)
            if (io.dims[d] > 0 && __builtin_mul_overflow(n, io.dims[d], &n))
                n = INT64_MAX;
        if (n > (1 << 16)) {
            axle_model_unref(m);
            return 0;
        }
    }
    if (axle_session_new(m, &so, &s, &err) == AXLE_OK)
        axle_session_free(s);
    axle_model_unref(m);
    return 0;
}
