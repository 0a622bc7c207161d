/*
 * fuzz_http.c - F1/F2 http1_request + chunked: bytes -> head pre-scan ->
 * http-parser -> body (chunked, gzip) -> route table -> handlers, fed in
 * slices whose size the first byte picks so that resumption paths run.
 * Invariant: every answer is a well-formed status line; no crash, leak or
 * hang; bodies stay within the limit.
 */
#include <stddef.h>
#include <stdint.h>

#include "serve_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t slices[8] = {0, 1, 2, 3, 7, 16, 64, 1000};
    fx_feed(data + 1, size - 1, slices[data[0] & 7]);
    return 0;
}
