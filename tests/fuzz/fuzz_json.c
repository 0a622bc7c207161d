/*
 * fuzz_json.c - serve/json.h reader and writer: bytes -> json_parse ->
 * every accessor and conversion on every token -> every string written back
 * with json_put_str and parsed again.
 *
 * Invariants: a clear status for every input; on success each token's end
 * lies in (t, n], subtrees nest, container sizes match their children,
 * strings are NUL-terminated at their decoded length, and the writer's
 * output is itself valid JSON that decodes to the same bytes. A small
 * max_depth / max_tokens / max_string is used on a second parse, chosen
 * from the first input byte, so the limit paths are exercised too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/buf.h"
#include "serve/json.h"

#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c))                                                            \
            abort();                                                         \
    } while (0)

static void check_doc(const struct json_doc *d, struct axle_buf *out)
{
    for (uint32_t t = 0; t < d->n; t++) {
        const struct json_tok *k = json_tok(d, t);
        CHECK(k->end > t && k->end <= d->n);
        double dv;
        int64_t iv;
        uint64_t uv;
        switch (k->type) {
        case JSON_ARRAY:
        case JSON_OBJECT: {
            uint32_t c = t + 1, m = 0;
            while (c < k->end) {
                if (k->type == JSON_OBJECT) {
                    CHECK(json_tok(d, c)->type == JSON_STRING);
                    /* keys are unique, so json_get finds this member
                     * (checked on small objects: json_get is a linear scan) */
                    CHECK(k->size > 64 ||
                          memchr(json_str(d, c), 0, json_tok(d, c)->size) ||
                          json_get(d, t, json_str(d, c)) == c + 1);
                    c++;
                }
                CHECK(json_next(d, c) > c && json_next(d, c) <= k->end);
                c = json_next(d, c);
                m++;
            }
            CHECK(c == k->end && m == k->size);
            break;
        }
        case JSON_STRING: {
            const char *s = json_str(d, t);
            CHECK(s[k->size] == '\0');
            CHECK(k->end == t + 1);
            if (memchr(s, 0, k->size) == NULL)
                CHECK(json_streq(d, t, s));
            buf_reset(out);
            json_put_str(out, s, k->size);
            if (!out->oom) {
                /* the writer's output parses back to the same bytes */
                char *copy = malloc(out->len + 1);
                struct json_doc d2;
                struct axle_err err;
                CHECK(copy != NULL);
                memcpy(copy, out->data, out->len);
                json_doc_init(&d2);
                CHECK(json_parse(&d2, copy, out->len, &err) == AXLE_OK);
                CHECK(d2.n == 1 && json_tok(&d2, 0)->size == k->size);
                CHECK(memcmp(json_str(&d2, 0), s, k->size) == 0);
                json_doc_free(&d2);
                free(copy);
            }
            CHECK(json_to_double(d, t, &dv) == -1);
            break;
        }
        case JSON_NUMBER: {
            CHECK(k->end == t + 1 && k->size > 0);
            int r = json_to_double(d, t, &dv);
            if (json_to_int64(d, t, &iv) == 0) {
                CHECK(r == 0);
                buf_reset(out);
                json_put_int(out, iv);
            }
            if (json_to_uint64(d, t, &uv) == 0) {
                buf_reset(out);
                json_put_uint(out, uv);
            }
            if (r == 0) {
                buf_reset(out);
                json_put_double(out, dv);
                json_put_float(out, (float)dv);
            }
            break;
        }
        default:
            CHECK(k->type <= JSON_TRUE && k->end == t + 1);
            CHECK(json_to_int64(d, t, &iv) == -1);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_doc d;
    struct axle_err err;
    struct axle_buf out;
    char *buf = malloc(size + 1);

    if (buf == NULL)
        return 0;
    json_doc_init(&d);
    buf_init(&out);
    out.limit = 1 << 22;
    memcpy(buf, data, size);
    enum axle_status st = json_parse(&d, buf, size, &err);
    CHECK(st == AXLE_OK || st == AXLE_INVALID_ARGUMENT ||
          st == AXLE_RESOURCE_EXHAUSTED);
    CHECK(st == AXLE_OK || (d.n == 0 && err.code == st));
    if (st == AXLE_OK) {
        CHECK(d.n >= 1 && d.n <= size / 2 + 16);
        CHECK(json_tok(&d, 0)->end == d.n);
        check_doc(&d, &out);
    }

    /* again with tight limits (the buffer is restored first: parsing
     * decodes strings in place) */
    if (size > 0) {
        memcpy(buf, data, size);
        d.max_depth = 1 + data[0] % 8;
        d.max_tokens = 1 + data[0] % 32;
        d.max_string = 1 + data[0] % 16;
        st = json_parse(&d, buf, size, &err);
        CHECK(st == AXLE_OK || (d.n == 0 && err.code == st));
        if (st == AXLE_OK) {
            CHECK(d.n <= d.max_tokens);
            check_doc(&d, &out);
        }
    }
    buf_free(&out);
    json_doc_free(&d);
    free(buf);
    return 0;
}
