/*
 * fuzz_v1.c - KServe V1 / TF Serving decoder: bytes become the body of
 * POST /v1/models/{iris|mnist_cnn}:predict (instances or inputs, b64
 * values). Invariant: a status for every body; stacked shapes checked;
 * no crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "serve_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *model = (data[0] & 1) ? "mnist_cnn" : "iris";
    data++;
    size--;
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "POST /v1/models/%s:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                     model, size);
    fx_feed_with_body(head, n, data, size);
    return 0;
}
