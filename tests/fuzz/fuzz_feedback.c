/*
 * fuzz_feedback.c - F16: bytes become the body of POST
 * /v2/models/iris/feedback after an inference request with id "fz" (so
 * the body may name a remembered prediction). Invariant: a status line for
 * every body; D36 bounds (items, id length, label count); no crash, leak
 * or hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "serve/feedback.h"
#include "serve_fixture.h"

static const char infer[] =
    "POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 96\r\n\r\n"
    "{\"id\":\"fz\",\"inputs\":[{\"name\":\"input\",\"shape\":[2,4],\"datatype\":\"FP32\","
    "\"data\":[1,2,3,4,5,6,7,8]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct server *s = fx_server();
    if (!s->feedback)
        s->feedback = feedback_index_new(64, (uint64_t)3600 * 1000000000ull);
    fx_feed(infer, sizeof(infer) - 1, 0);
    char head[160];
    int n = snprintf(head, sizeof(head),
                     "POST /v2/models/iris/feedback HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                     size);
    fx_feed_with_body(head, n, data, size);
    return 0;
}
