/*
 * fuzz_v2.c - F6 json_infer (V2): bytes become the body of POST
 * /v2/models/{iris|mnist_cnn}/infer, optionally with Triton's binary
 * header; the first byte picks the model and the Inference-Header-Content-
 * Length. Invariant: a status for every body; element counts checked
 * before any allocation; no crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "serve_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *model = (data[0] & 1) ? "mnist_cnn" : "iris";
    int binary = (data[0] >> 1) & 1;
    size_t json_len = binary ? (size_t)data[1] * 4 : 0;
    data += 2;
    size -= 2;
    if (json_len > size)
        json_len = size;
    char head[256];
    int n;
    if (binary)
        n = snprintf(head, sizeof(head),
                     "POST /v2/models/%s/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
                     "Inference-Header-Content-Length: %zu\r\n\r\n", model, size, json_len);
    else
        n = snprintf(head, sizeof(head),
                     "POST /v2/models/%s/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
                     "Content-Type: application/json\r\n\r\n", model, size);
    fx_feed_with_body(head, n, data, size);
    return 0;
}
