/*
 * test_json.c - the bounded JSON reader and writer (serve/json.h): token
 * layout, in-place unescaping, every error class of SECURITY.md D16 / J1-J5
 * (depth, truncation, trailing garbage, UTF-8, surrogates, duplicate keys,
 * control characters, string and token caps), number conversions, and
 * writer round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "serve/json.h"

/* A parsed document plus the buffer it points into. */
struct pj {
    struct json_doc d;
    char *buf;
    struct axle_err err;
    enum axle_status st;
};

static void pj_parse_n(struct pj *p, const char *text, size_t len)
{
    json_doc_init(&p->d);
    p->buf = malloc(len + 1);
    assert_non_null(p->buf);
    memcpy(p->buf, text, len);
    p->err.code = AXLE_OK;
    p->err.msg[0] = '\0';
    p->st = json_parse(&p->d, p->buf, len, &p->err);
}

static void pj_parse(struct pj *p, const char *text)
{
    pj_parse_n(p, text, strlen(text));
}

static void pj_free(struct pj *p)
{
    json_doc_free(&p->d);
    free(p->buf);
}

static void expect_ok_n(const char *text, size_t len)
{
    struct pj p;
    pj_parse_n(&p, text, len);
    if (p.st != AXLE_OK)
        fail_msg("expected ok for <%.*s>: %s", (int)(len > 60 ? 60 : len),
                 text, p.err.msg);
    pj_free(&p);
}

static void expect_ok(const char *text)
{
    expect_ok_n(text, strlen(text));
}

static void expect_err_n(const char *text, size_t len, const char *msg)
{
    struct pj p;
    pj_parse_n(&p, text, len);
    if (p.st != AXLE_INVALID_ARGUMENT || strcmp(p.err.msg, msg) != 0)
        fail_msg("expected '%s' for <%.*s>, got status %d '%s'", msg,
                 (int)(len > 60 ? 60 : len), text, p.st, p.err.msg);
    assert_int_equal(p.err.code, AXLE_INVALID_ARGUMENT);
    assert_int_equal(p.d.n, 0);
    pj_free(&p);
}

static void expect_err(const char *text, const char *msg)
{
    expect_err_n(text, strlen(text), msg);
}

/* Checks the structural invariants of a parsed document. */
static void check_tree(const struct json_doc *d)
{
    for (uint32_t t = 0; t < d->n; t++) {
        const struct json_tok *k = json_tok(d, t);
        assert_true(k->end > t && k->end <= d->n);
        if (k->type == JSON_ARRAY || k->type == JSON_OBJECT) {
            uint32_t c = t + 1, m = 0;
            while (c < k->end) {
                if (k->type == JSON_OBJECT) {
                    assert_int_equal(json_tok(d, c)->type, JSON_STRING);
                    c++;
                }
                c = json_next(d, c);
                m++;
            }
            assert_int_equal(c, k->end);
            assert_int_equal(m, k->size);
        } else {
            assert_int_equal(k->end, t + 1);
        }
    }
}

/* ---------------------------------------------------------------------- */

static void json_parses_flat_array_of_every_scalar(void **state)
{
    struct pj p;
    (void)state;
    pj_parse(&p, " [1, -2.5e3 ,true,false,null,\"x\", NaN, Infinity, -Infinity] ");
    assert_int_equal(p.st, AXLE_OK);
    assert_int_equal(p.d.n, 10);
    check_tree(&p.d);
    const struct json_tok *r = json_tok(&p.d, 0);
    assert_int_equal(r->type, JSON_ARRAY);
    assert_int_equal(r->size, 9);
    assert_int_equal(r->end, 10);
    const uint8_t types[] = {JSON_NUMBER, JSON_NUMBER, JSON_TRUE, JSON_FALSE,
                             JSON_NULL, JSON_STRING, JSON_NUMBER, JSON_NUMBER,
                             JSON_NUMBER};
    for (uint32_t i = 0; i < 9; i++)
        assert_int_equal(json_tok(&p.d, i + 1)->type, types[i]);
    /* number tokens record their text */
    assert_int_equal(json_tok(&p.d, 2)->size, 6);
    assert_memory_equal(p.buf + json_tok(&p.d, 2)->off, "-2.5e3", 6);
    assert_string_equal(json_str(&p.d, 6), "x");
    pj_free(&p);
}

static void json_nested_arrays_record_subtree_ends(void **state)
{
    struct pj p;
    (void)state;
    pj_parse(&p, "[[1,2],[3,[4]],[]]");
    assert_int_equal(p.st, AXLE_OK);
    check_tree(&p.d);
    /* 0:[ 1:[ 2:1 3:2 4:[ 5:3 6:[ 7:4 8:[] */
    assert_int_equal(p.d.n, 9);
    assert_int_equal(json_next(&p.d, 1), 4);
    assert_int_equal(json_next(&p.d, 4), 8);
    assert_int_equal(json_next(&p.d, 6), 8);
    assert_int_equal(json_next(&p.d, 8), 9);
    assert_int_equal(json_tok(&p.d, 8)->size, 0);
    assert_int_equal(json_tok(&p.d, 4)->size, 2);
    assert_int_equal(json_tok(&p.d, 4)->off, 7); /* its '[' */
    pj_free(&p);
}

static void json_get_finds_members_of_a_v2_request(void **state)
{
    struct pj p;
    (void)state;
    pj_parse(&p, "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,4],"
                 "\"datatype\":\"FP32\",\"data\":[5.1,3.5,1.4,0.2]}],"
                 "\"outputs\" : [ ], \"id\":\"r1\"}");
    assert_int_equal(p.st, AXLE_OK);
    check_tree(&p.d);
    assert_int_equal(json_tok(&p.d, 0)->size, 3);
    uint32_t in = json_get(&p.d, 0, "inputs");
    assert_int_equal(json_tok(&p.d, in)->type, JSON_ARRAY);
    assert_int_equal(json_tok(&p.d, in)->size, 1);
    uint32_t t0 = in + 1;
    assert_true(json_streq(&p.d, json_get(&p.d, t0, "name"), "input"));
    assert_false(json_streq(&p.d, json_get(&p.d, t0, "name"), "inpu"));
    assert_false(json_streq(&p.d, json_get(&p.d, t0, "name"), "inputs"));
    assert_true(json_streq(&p.d, json_get(&p.d, t0, "datatype"), "FP32"));
    uint32_t data = json_get(&p.d, t0, "data");
    assert_int_equal(json_tok(&p.d, data)->size, 4);
    const double want[] = {5.1, 3.5, 1.4, 0.2};
    uint32_t e = data + 1;
    for (int i = 0; i < 4; i++, e = json_next(&p.d, e)) {
        double v;
        assert_int_equal(json_to_double(&p.d, e, &v), 0);
        assert_true(v == want[i]);
    }
    assert_int_equal(e, json_next(&p.d, data));
    assert_int_equal(json_tok(&p.d, json_get(&p.d, 0, "outputs"))->size, 0);
    assert_true(json_streq(&p.d, json_get(&p.d, 0, "id"), "r1"));
    assert_int_equal(json_get(&p.d, 0, "missing"), 0);
    assert_int_equal(json_get(&p.d, 0, "data"), 0); /* not at this level */
    assert_int_equal(json_get(&p.d, in, "name"), 0); /* not an object */
    assert_int_equal(json_get(&p.d, 9999, "name"), 0);
    /* a key is not matched as a value and vice versa */
    assert_int_equal(json_get(&p.d, 0, "r1"), 0);
    /* strings are NUL-terminated in place */
    assert_string_equal(json_str(&p.d, json_get(&p.d, t0, "datatype")), "FP32");
    assert_string_equal(json_str(&p.d, in - 1), "inputs");
    pj_free(&p);
}

static void json_accepts_a_scalar_root(void **state)
{
    struct pj p;
    (void)state;
    pj_parse(&p, "  42 \n");
    assert_int_equal(p.st, AXLE_OK);
    assert_int_equal(p.d.n, 1);
    int64_t v;
    assert_int_equal(json_to_int64(&p.d, 0, &v), 0);
    assert_int_equal(v, 42);
    pj_free(&p);
    pj_parse(&p, "\"s\"");
    assert_int_equal(p.st, AXLE_OK);
    assert_string_equal(json_str(&p.d, 0), "s");
    pj_free(&p);
    expect_ok("null");
    expect_ok("{}");
    expect_ok("[]");
    expect_ok("\t\r\n[ ]\t\r\n");
}

static void json_unescapes_strings_in_place(void **state)
{
    struct pj p;
    (void)state;
    pj_parse(&p, "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC!\", \"x\"]");
    assert_int_equal(p.st, AXLE_OK);
    const char want[] = "a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac!";
    assert_int_equal(json_tok(&p.d, 1)->size, sizeof(want) - 1);
    assert_memory_equal(json_str(&p.d, 1), want, sizeof(want));
    assert_string_equal(json_str(&p.d, 2), "x");
    pj_free(&p);

    /* a long string with an escape early: the copying path */
    char text[400], dec[400];
    size_t n = 0, m = 0;
    text[n++] = '"';
    text[n++] = '\\';
    text[n++] = 'n';
    dec[m++] = '\n';
    for (int i = 0; i < 300; i++) {
        text[n++] = (char)('a' + i % 26);
        dec[m++] = (char)('a' + i % 26);
    }
    text[n++] = '"';
    pj_parse_n(&p, text, n);
    assert_int_equal(p.st, AXLE_OK);
    assert_int_equal(json_tok(&p.d, 0)->size, m);
    assert_memory_equal(json_str(&p.d, 0), dec, m);
    assert_int_equal(json_str(&p.d, 0)[m], '\0');
    pj_free(&p);

    /* \u0000 decodes to a NUL byte; size is authoritative */
    pj_parse(&p, "\"a\\u0000b\"");
    assert_int_equal(p.st, AXLE_OK);
    assert_int_equal(json_tok(&p.d, 0)->size, 3);
    assert_memory_equal(json_str(&p.d, 0), "a\0b", 4);
    assert_false(json_streq(&p.d, 0, "a"));
    pj_free(&p);
}

static void json_decodes_surrogate_pairs_and_raw_utf8(void **state)
{
    struct pj p;
    (void)state;
    pj_parse(&p, "\"\\ud83d\\ude00|\\uD834\\uDD1E|\xf0\x9f\x98\x80\xc3\xa9\xe2\x82\xac"
                 "\xf4\x8f\xbf\xbf\"");
    assert_int_equal(p.st, AXLE_OK);
    const char want[] = "\xf0\x9f\x98\x80|\xf0\x9d\x84\x9e|\xf0\x9f\x98\x80"
                        "\xc3\xa9\xe2\x82\xac\xf4\x8f\xbf\xbf";
    assert_int_equal(json_tok(&p.d, 0)->size, sizeof(want) - 1);
    assert_memory_equal(json_str(&p.d, 0), want, sizeof(want));
    pj_free(&p);
    expect_ok("\"\\uffff\\u0800\\u07ff\\u0080\\u007f\"");
    expect_ok("\"\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80\"");
    expect_ok("\"\x7f\""); /* DEL is not a control character in JSON */
}

static void json_allows_depth_64_and_rejects_65(void **state)
{
    char text[512];
    (void)state;
    for (int depth = 63; depth <= 66; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            text[n++] = '[';
        for (int i = 0; i < depth; i++)
            text[n++] = ']';
        if (depth <= 64)
            expect_ok_n(text, n);
        else
            expect_err_n(text, n, "json nesting too deep");
    }
    /* objects count too */
    for (int depth = 64; depth <= 65; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth - 1; i++) {
            memcpy(text + n, "{\"a\":", 5);
            n += 5;
        }
        text[n++] = '[';
        text[n++] = ']';
        for (int i = 0; i < depth - 1; i++)
            text[n++] = '}';
        if (depth <= 64)
            expect_ok_n(text, n);
        else
            expect_err_n(text, n, "json nesting too deep");
    }
    /* a caller-set limit */
    struct pj p;
    json_doc_init(&p.d);
    p.d.max_depth = 2;
    char b1[] = "[[1]]", b2[] = "[[[1]]]";
    assert_int_equal(json_parse(&p.d, b1, 5, &p.err), AXLE_OK);
    assert_int_equal(json_parse(&p.d, b2, 7, &p.err), AXLE_INVALID_ARGUMENT);
    assert_string_equal(p.err.msg, "json nesting too deep");
    json_doc_free(&p.d);
}

static void json_rejects_50000_nested_brackets_cleanly(void **state)
{
    (void)state;
    size_t n = 50000;
    char *text = malloc(2 * n);
    assert_non_null(text);
    memset(text, '[', n);
    expect_err_n(text, n, "json nesting too deep");
    memset(text + n, ']', n);
    expect_err_n(text, 2 * n, "json nesting too deep");
    free(text);
    /* objects: {"a":{"a":... */
    text = malloc(5 * n);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        memcpy(text + 5 * i, "{\"a\":", 5);
    expect_err_n(text, 5 * n, "json nesting too deep");
    free(text);
}

static void json_rejects_truncated_input(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "", " ", "\n\t ", "[", "[1", "[1,", "{", "{\"a\"", "{\"a\":",
        "{\"a\":1", "{\"a\":1,", "\"abc", "\"abc\\", "\"\\u12", "\"\\ud83d",
        "\"\\ud83d\\ude0", "tru", "fals", "nul", "-", "1.", "1e", "1e+",
        "-Infinit", "Na", "Infinit", "[[[]]", "{\"a\":[}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_err(cases[i], "invalid json");
    /* the valid document cut at every length */
    const char full[] = "{\"inputs\":[{\"name\":\"x\",\"data\":[1.5e-3,\"\\u00e9\"]}]}";
    for (size_t n = 0; n < sizeof(full) - 1; n++)
        expect_err_n(full, n, "invalid json");
    expect_ok(full);
}

static void json_rejects_trailing_garbage(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "[1] x", "1 2", "{} {}", "[]]", "{}}", "\"a\"\"b\"", "nullx",
        "truee", "1x", "NaNa", "Infinityy", "[1],", "0 0",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_err(cases[i], "invalid json");
    expect_err_n("[1]\0", 4, "invalid json");  /* NUL after the root */
    expect_err_n("[1\0]", 4, "invalid json");  /* NUL inside */
    expect_err_n("\0", 1, "invalid json");
}

static void json_rejects_bad_grammar(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "01", "-01", "+1", ".5", "1.e5", "1.5e", "--1", "-", "0x10", "1e5.5",
        "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{,}", "{1:2}", "{\"a\" 1}",
        "{\"a\":}", "{\"a\"::1}", "[}", "{]", "[1}", "{\"a\":1]", "-NaN",
        "nan", "inf", "infinity", "-infinity", "+Infinity", "True", "NULL",
        "'a'", "\"\\x\"", "\"\\U0041\"", "\"\\u00g0\"", "\"\\u-123\"",
        "\"\\u 123\"", "[\"a\":1]", "{\"a\":1 \"b\":2}", "\xef\xbb\xbf[]",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_err(cases[i], "invalid json");
    expect_ok("[0,-0,0.0,-0.0e-0,1E+2,1e-2,123456789012345678901234567890]");
}

static void json_rejects_invalid_utf8(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "\"\xff\"", "\"\xfe\"", "\"\x80\"", "\"\xbf\"", "\"\xc3\"",
        "\"\xc3(\"", "\"\xe2\x82\"", "\"\xe2\x82(\"", "\"\xe2(\xa1\"",
        "\"\xf0\x9f\x98\"", "\"\xf0\x9f(\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\xf8\x88\x80\x80\x80\"", "\"\xfc\x84\x80\x80\x80\x80\"",
        /* > U+10FFFF */
        "\"\xf4\x90\x80\x80\"",
        /* UTF-16 surrogates encoded in UTF-8 */
        "\"\xed\xa0\x80\"", "\"\xed\xbf\xbf\"", "\"\xed\xa0\xbd\xed\xb8\x80\"",
        /* overlong encodings */
        "\"\xc0\xaf\"", "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"", "\"\xe0\x9f\xbf\"",
        "\"\xf0\x80\x80\xaf\"", "\"\xf0\x8f\xbf\xbf\"", "\"\xc0\x80\"",
        /* outside strings */
        "[\xc3\xa9]", "\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_err(cases[i], "invalid json");
    /* in keys too, and after a long plain run (the word-at-a-time path) */
    expect_err("{\"\xff\":1}", "invalid json");
    expect_err("\"abcdefghijklmnopqrstuvwxyz\xc0\xaf\"", "invalid json");
    expect_err("\"\\n abcdefghijklmnopqrstuvwxyz\xed\xa0\x80\"", "invalid json");
}

static void json_rejects_lone_surrogates(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "\"\\ud800\"", "\"\\udbff\"", "\"\\udc00\"", "\"\\udfff\"",
        "\"\\ud800x\"", "\"\\ud800\\u0041\"", "\"\\ud800\\ud800\"",
        "\"\\udc00\\ud800\"", "\"\\ud800\\n\"", "\"\\ud800\\\"",
        "[\"\\ud800\"]", "{\"\\ud800\":1}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_err(cases[i], "invalid json");
}

static void json_rejects_control_characters_in_strings(void **state)
{
    (void)state;
    for (int c = 0; c < 0x20; c++) {
        char text[8] = {'"', 'a', (char)c, 'b', '"'};
        expect_err_n(text, 5, "invalid json");
        char key[12] = {'{', '"', (char)c, '"', ':', '1', '}'};
        expect_err_n(key, 7, "invalid json");
    }
    /* after an escape (copying path) and after a long run */
    expect_err("\"\\t\x01\"", "invalid json");
    expect_err("\"0123456789abcdef\x1f\"", "invalid json");
    expect_err("\"0123456789abcdef\n\"", "invalid json");
    /* escaped ones are fine */
    expect_ok("\"\\u0001\\u001f\\n\"");
}

static void json_rejects_duplicate_keys_in_small_objects(void **state)
{
    (void)state;
    expect_err("{\"a\":1,\"a\":2}", "duplicate key");
    expect_err("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key");
    expect_err("{\"inputs\":[],\"inputs\":[]}", "duplicate key");
    expect_err("{\"a\":1,\"\\u0061\":2}", "duplicate key"); /* after decoding */
    expect_err("{\"\":1,\"\":2}", "duplicate key");
    expect_err("[{\"x\":{\"y\":1,\"y\":2}}]", "duplicate key");
    expect_ok("{\"a\":1,\"b\":{\"a\":2},\"c\":[{\"a\":3},{\"a\":4}]}");
    expect_ok("{\"a\":1,\"ab\":2,\"b\":3,\"A\":4,\"\":5}");
    expect_ok("{\"a\\u0000\":1,\"a\":2}");
    /* exactly 16 members (pairwise path), dup in the last */
    char text[512];
    size_t n = 0;
    text[n++] = '{';
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"k%d\":%d",
                              i ? "," : "", i == 15 ? 3 : i, i);
    text[n++] = '}';
    expect_err_n(text, n, "duplicate key");
}

/* {"k0":0,...} with n members; member `dup` (if >= 0) reuses key `as`. */
static char *make_object(int members, int dup, int as, size_t *len)
{
    size_t cap = (size_t)members * 24 + 16, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    text[n++] = '{';
    for (int i = 0; i < members; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s\"key_%d\":[%d]",
                              i ? "," : "", i == dup ? as : i, i);
    text[n++] = '}';
    *len = n;
    return text;
}

static void json_rejects_duplicate_keys_in_large_objects(void **state)
{
    size_t n;
    char *text;
    (void)state;
    for (int members = 17; members <= 1000; members = members * 3 + 1) {
        text = make_object(members, -1, 0, &n);
        struct pj p;
        pj_parse_n(&p, text, n);
        assert_int_equal(p.st, AXLE_OK);
        assert_int_equal(json_tok(&p.d, 0)->size, members);
        check_tree(&p.d);
        char key[32];
        snprintf(key, sizeof(key), "key_%d", members - 1);
        int64_t v;
        assert_int_equal(json_to_int64(&p.d, json_get(&p.d, 0, key) + 1, &v), 0);
        assert_int_equal(v, members - 1);
        pj_free(&p);
        free(text);
    }
    /* 100 members: duplicate at the end, at the start, in the middle */
    const int where[][2] = {{99, 0}, {1, 0}, {50, 49}, {99, 98}, {70, 3}};
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        text = make_object(100, where[i][0], where[i][1], &n);
        expect_err_n(text, n, "duplicate key");
        free(text);
    }
    /* keys of equal length that share a long prefix */
    size_t cap = 200 * 80, m = 0;
    text = malloc(cap);
    text[m++] = '{';
    for (int i = 0; i < 200; i++)
        m += (size_t)snprintf(text + m, cap - m, "%s\"%060d\":1", i ? "," : "",
                              i % 150);
    text[m++] = '}';
    expect_err_n(text, m, "duplicate key");
    free(text);
}

static void json_caps_string_length(void **state)
{
    struct pj p;
    (void)state;
    json_doc_init(&p.d);
    p.d.max_string = 8;
    char ok[] = "[\"12345678\",{\"abcdefgh\":1}]";
    char big[] = "[\"123456789\"]";
    char bigkey[] = "{\"123456789\":1}";
    char esc[] = "\"\\u00e9\\u00e9\\u00e9\\u00e9\""; /* 24 raw bytes, 8 decoded */
    assert_int_equal(json_parse(&p.d, ok, strlen(ok), &p.err), AXLE_OK);
    assert_int_equal(json_parse(&p.d, big, strlen(big), &p.err), AXLE_INVALID_ARGUMENT);
    assert_string_equal(p.err.msg, "json string too long");
    assert_int_equal(json_parse(&p.d, bigkey, strlen(bigkey), &p.err),
                     AXLE_INVALID_ARGUMENT);
    assert_string_equal(p.err.msg, "json string too long");
    assert_int_equal(json_parse(&p.d, esc, strlen(esc), &p.err), AXLE_OK);
    json_doc_free(&p.d);

    /* the default cap is 1 MiB */
    size_t n = (1u << 20) + 3;
    char *text = malloc(n);
    assert_non_null(text);
    text[0] = '"';
    memset(text + 1, 'a', n - 2);
    text[n - 1] = '"';
    expect_err_n(text, n, "json string too long");
    text[n - 2] = '"';
    expect_ok_n(text, n - 1);
    free(text);
}

static void json_caps_token_count(void **state)
{
    struct pj p;
    (void)state;
    json_doc_init(&p.d);
    p.d.max_tokens = 4;
    char a[] = "[1,2,3]", b[] = "[1,2,3,4]", c[] = "{\"a\":1,\"b\":2}";
    assert_int_equal(json_parse(&p.d, a, strlen(a), &p.err), AXLE_OK);
    assert_int_equal(p.d.n, 4);
    assert_int_equal(json_parse(&p.d, b, strlen(b), &p.err), AXLE_INVALID_ARGUMENT);
    assert_string_equal(p.err.msg, "too many json tokens");
    assert_int_equal(p.d.n, 0);
    assert_int_equal(json_parse(&p.d, c, strlen(c), &p.err), AXLE_INVALID_ARGUMENT);
    assert_string_equal(p.err.msg, "too many json tokens");
    assert_true(p.d.cap <= 4);
    json_doc_free(&p.d);

    /* 100,000 elements grow the array past its first size */
    size_t n = 200001;
    char *text = malloc(n);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        text[i] = i % 2 ? '1' : ',';
    text[0] = '[';
    text[n - 1] = ']';
    text[n - 2] = '1';
    pj_parse_n(&p, text, n);
    assert_int_equal(p.st, AXLE_OK);
    assert_int_equal(p.d.n, 100001);
    assert_int_equal(json_tok(&p.d, 0)->size, 100000);
    pj_free(&p);
    free(text);
}

static void json_reports_token_allocation_failure(void **state)
{
    struct json_doc d;
    struct axle_err err;
    char text[] = "[1,2,3]";
    (void)state;
    json_doc_init(&d);
    axle_alloc_fail_after(1);
    assert_int_equal(json_parse(&d, text, strlen(text), &err), AXLE_RESOURCE_EXHAUSTED);
    assert_int_equal(err.code, AXLE_RESOURCE_EXHAUSTED);
    axle_alloc_fail_after(0);
    assert_int_equal(json_parse(&d, text, strlen(text), &err), AXLE_OK);
    json_doc_free(&d);
    /* a NULL err is allowed */
    json_doc_init(&d);
    char bad[] = "[";
    assert_int_equal(json_parse(&d, bad, 1, NULL), AXLE_INVALID_ARGUMENT);
    json_doc_free(&d);
}

static void json_reused_doc_parses_without_allocating(void **state)
{
    struct json_doc d;
    struct axle_err err;
    (void)state;
    json_doc_init(&d);
    char *big = NULL;
    size_t n;
    big = make_object(200, -1, 0, &n); /* > 16 members: scratch used */
    char *copy = malloc(n + 1);
    memcpy(copy, big, n);
    assert_int_equal(json_parse(&d, copy, n, &err), AXLE_OK);
    char small[] = "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":"
                   "\"FP32\",\"data\":[1,2,3,4]}]}";
    char work[sizeof(small)];
    uint64_t before = axle_alloc_count();
    for (int i = 0; i < 100; i++) {
        memcpy(work, small, sizeof(small));
        assert_int_equal(json_parse(&d, work, sizeof(small) - 1, &err), AXLE_OK);
    }
    assert_int_equal(axle_alloc_count(), before);
    json_doc_free(&d);
    json_doc_free(&d); /* twice is harmless */
    free(copy);
    free(big);
}

/* ---------------------------------------------------------------------- */
/* Number conversions                                                      */

/* Token index of element i of array a. */
static uint32_t nth(const struct json_doc *d, uint32_t a, int i)
{
    uint32_t t = a + 1;
    while (i-- > 0)
        t = json_next(d, t);
    return t;
}

static void json_to_double_converts_and_flags_overflow(void **state)
{
    struct pj p;
    (void)state;
    pj_parse(&p, "[0,-0,1.5,-2.25e2,1e400,-1e400,1e-400,NaN,Infinity,-Infinity,"
                 "\"1\",123456789012345678901234567890,0.1,"
                 "2.2250738585072014e-308,1.7976931348623157e308,9007199254740993,"
                 "4.9e-324,1e22,1e23,0.000001]");
    assert_int_equal(p.st, AXLE_OK);
    double v;
    uint32_t t = 1;
#define NEXT() (t = json_next(&p.d, t))
    assert_int_equal(json_to_double(&p.d, t, &v), 0);
    assert_true(v == 0 && !signbit(v));
    NEXT();
    assert_int_equal(json_to_double(&p.d, t, &v), 0);
    assert_true(v == 0 && signbit(v));
    NEXT();
    assert_int_equal(json_to_double(&p.d, t, &v), 0);
    assert_true(v == 1.5);
    NEXT();
    assert_int_equal(json_to_double(&p.d, t, &v), 0);
    assert_true(v == -225.0);
    /* a finite-looking literal that overflows is an error; the Infinity
     * token is not */
    NEXT();
    assert_int_equal(json_to_double(&p.d, t, &v), -1);
    NEXT();
    assert_int_equal(json_to_double(&p.d, t, &v), -1);
    NEXT(); /* underflow is accepted (rounds to zero) */
    assert_int_equal(json_to_double(&p.d, t, &v), 0);
    assert_true(v == 0);
    NEXT();
    assert_int_equal(json_to_double(&p.d, t, &v), 0);
    assert_true(isnan(v));
    NEXT();
    assert_int_equal(json_to_double(&p.d, t, &v), 0);
    assert_true(isinf(v) && v > 0);
    NEXT();
    assert_int_equal(json_to_double(&p.d, t, &v), 0);
    assert_true(isinf(v) && v < 0);
    NEXT(); /* a string is not a number */
    assert_int_equal(json_to_double(&p.d, t, &v), -1);
    NEXT();
    assert_int_equal(json_to_double(&p.d, t, &v), 0);
    assert_true(v == 123456789012345678901234567890.0);
    const double exact[] = {0.1, 2.2250738585072014e-308, 1.7976931348623157e308,
                            9007199254740993.0, 4.9e-324, 1e22, 1e23, 0.000001};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        NEXT();
        assert_int_equal(json_to_double(&p.d, t, &v), 0);
        assert_true(v == exact[i]);
    }
#undef NEXT
    assert_int_equal(json_to_double(&p.d, 0, &v), -1); /* the array */
    assert_int_equal(json_to_double(&p.d, 10000, &v), -1);
    pj_free(&p);
}

static void json_to_double_matches_strtod(void **state)
{
    (void)state;
    srand(7);
    char text[64 * 1024];
    for (int round = 0; round < 20; round++) {
        size_t n = 0;
        double want[1000];
        text[n++] = '[';
        for (int i = 0; i < 1000; i++) {
            char num[48];
            int k;
            switch (i % 4) {
            case 0:
                k = snprintf(num, sizeof(num), "%.*g", 1 + rand() % 17,
                             (double)rand() / RAND_MAX * pow(10, rand() % 40 - 20));
                break;
            case 1:
                k = snprintf(num, sizeof(num), "%d.%0*d", rand() % 1000,
                             1 + rand() % 9, rand() % 100000);
                break;
            case 2:
                k = snprintf(num, sizeof(num), "-%de%d", rand(), rand() % 60 - 30);
                break;
            default:
                k = snprintf(num, sizeof(num), "%lld%05d",
                             (long long)rand() * rand(), rand() % 100000);
                break;
            }
            want[i] = strtod(num, NULL);
            if (i)
                text[n++] = ',';
            memcpy(text + n, num, (size_t)k);
            n += (size_t)k;
        }
        text[n++] = ']';
        struct pj p;
        pj_parse_n(&p, text, n);
        assert_int_equal(p.st, AXLE_OK);
        uint32_t t = 1;
        for (int i = 0; i < 1000; i++, t = json_next(&p.d, t)) {
            double v;
            assert_int_equal(json_to_double(&p.d, t, &v), 0);
            if (memcmp(&v, &want[i], sizeof(v)) != 0)
                fail_msg("element %d: %.17g != %.17g", i, v, want[i]);
        }
        pj_free(&p);
    }
}

static void json_to_int64_checks_range_and_form(void **state)
{
    struct pj p;
    (void)state;
    pj_parse(&p, "[9223372036854775807,-9223372036854775808,9223372036854775808,"
                 "-9223372036854775809,0,-0,1.5,1.0,1e3,NaN,Infinity,-Infinity,"
                 "99999999999999999999999,\"1\",true,-42]");
    assert_int_equal(p.st, AXLE_OK);
    int64_t v;
#define AT(i) nth(&p.d, 0, (i))
    assert_int_equal(json_to_int64(&p.d, AT(0), &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(json_to_int64(&p.d, AT(1), &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(json_to_int64(&p.d, AT(2), &v), -1); /* 2^63 */
    assert_int_equal(json_to_int64(&p.d, AT(3), &v), -1);
    assert_int_equal(json_to_int64(&p.d, AT(4), &v), 0);
    assert_true(v == 0);
    assert_int_equal(json_to_int64(&p.d, AT(5), &v), 0); /* -0 */
    assert_true(v == 0);
    for (int i = 6; i <= 14; i++) /* 1.5 1.0 1e3 NaN Inf -Inf huge "1" true */
        assert_int_equal(json_to_int64(&p.d, AT(i), &v), -1);
    assert_int_equal(json_to_int64(&p.d, AT(15), &v), 0);
    assert_true(v == -42);
    pj_free(&p);

    pj_parse(&p, "[18446744073709551615,18446744073709551616,-1,-0,0,1.5,NaN,"
                 "9223372036854775808]");
    assert_int_equal(p.st, AXLE_OK);
    uint64_t u;
    assert_int_equal(json_to_uint64(&p.d, AT(0), &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(json_to_uint64(&p.d, AT(1), &u), -1);
    assert_int_equal(json_to_uint64(&p.d, AT(2), &u), -1); /* negative */
    assert_int_equal(json_to_uint64(&p.d, AT(3), &u), 0);  /* -0 */
    assert_true(u == 0);
    assert_int_equal(json_to_uint64(&p.d, AT(4), &u), 0);
    assert_int_equal(json_to_uint64(&p.d, AT(5), &u), -1);
    assert_int_equal(json_to_uint64(&p.d, AT(6), &u), -1);
    assert_int_equal(json_to_uint64(&p.d, AT(7), &u), 0);
    assert_true(u == (uint64_t)1 << 63);
    assert_int_equal(json_to_uint64(&p.d, 0, &u), -1);
#undef AT
    pj_free(&p);
}

/* ---------------------------------------------------------------------- */
/* Writer                                                                  */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *put_f(struct axle_buf *b, float v)
{
    buf_reset(b);
    json_put_float(b, v);
    buf_putc(b, '\0');
    assert_false(b->oom);
    return b->data;
}

static const char *put_d(struct axle_buf *b, double v)
{
    buf_reset(b);
    json_put_double(b, v);
    buf_putc(b, '\0');
    assert_false(b->oom);
    return b->data;
}

static void json_put_float_round_trips_and_is_short(void **state)
{
    struct axle_buf b;
    (void)state;
    buf_init(&b);
    assert_string_equal(put_f(&b, 3.0f), "3");
    assert_string_equal(put_f(&b, -7.0f), "-7");
    assert_string_equal(put_f(&b, 0.0f), "0");
    assert_string_equal(put_f(&b, -0.0f), "-0");
    assert_string_equal(put_f(&b, 0.1f), "0.1");
    assert_string_equal(put_f(&b, 5.1f), "5.1");
    assert_string_equal(put_f(&b, 1e10f), "1e+10");
    assert_string_equal(put_f(&b, 16777216.0f), "16777216");
    assert_string_equal(put_f(&b, NAN), "NaN");
    assert_string_equal(put_f(&b, INFINITY), "Infinity");
    assert_string_equal(put_f(&b, -INFINITY), "-Infinity");
    /* random bit patterns, every one reads back exactly */
    for (int i = 0; i < 200000; i++) {
        uint32_t bits = (uint32_t)rng();
        float f, g;
        memcpy(&f, &bits, 4);
        if (isnan(f))
            continue;
        const char *s = put_f(&b, f);
        g = strtof(s, NULL);
        if (memcmp(&f, &g, 4) != 0)
            fail_msg("%a printed as %s reads back as %a", (double)f, s, (double)g);
        assert_true(strlen(s) <= 15);
    }
    /* and through the parser */
    for (int i = 0; i < 2000; i++) {
        float f = (float)((double)(rng() >> 11) / (double)(1ull << 53)) * 100.0f;
        char text[64];
        const char *s = put_f(&b, f);
        size_t n = strlen(s);
        memcpy(text, s, n + 1);
        struct pj p;
        pj_parse_n(&p, text, n);
        assert_int_equal(p.st, AXLE_OK);
        double v;
        assert_int_equal(json_to_double(&p.d, 0, &v), 0);
        assert_true(v == strtod(s, NULL));
        assert_true(strtof(s, NULL) == f);
        pj_free(&p);
    }
    buf_free(&b);
}

static void json_put_double_round_trips(void **state)
{
    struct axle_buf b;
    (void)state;
    buf_init(&b);
    assert_string_equal(put_d(&b, 3.0), "3");
    assert_string_equal(put_d(&b, 0.1), "0.1");
    assert_string_equal(put_d(&b, -1.5e-300), "-1.5e-300");
    assert_string_equal(put_d(&b, 1e300), "1e+300");
    assert_string_equal(put_d(&b, NAN), "NaN");
    assert_string_equal(put_d(&b, -INFINITY), "-Infinity");
    assert_string_equal(put_d(&b, -0.0), "-0");
    assert_string_equal(put_d(&b, 123456789012345.0), "123456789012345");
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rng();
        double f, g;
        memcpy(&f, &bits, 8);
        if (isnan(f))
            continue;
        const char *s = put_d(&b, f);
        g = strtod(s, NULL);
        if (memcmp(&f, &g, 8) != 0)
            fail_msg("%a printed as %s reads back as %a", f, s, g);
    }
    buf_free(&b);
}

static void json_put_int_and_uint_print_extremes(void **state)
{
    struct axle_buf b;
    (void)state;
    buf_init(&b);
    json_put_int(&b, INT64_MIN);
    buf_putc(&b, ' ');
    json_put_int(&b, INT64_MAX);
    buf_putc(&b, ' ');
    json_put_int(&b, 0);
    buf_putc(&b, ' ');
    json_put_int(&b, -5);
    buf_putc(&b, ' ');
    json_put_uint(&b, UINT64_MAX);
    buf_putc(&b, '\0');
    assert_string_equal(b.data, "-9223372036854775808 9223372036854775807 0 -5 "
                                "18446744073709551615");
    buf_free(&b);
}

static const char *put_s(struct axle_buf *b, const char *s, size_t n)
{
    buf_reset(b);
    json_put_str(b, s, n);
    buf_putc(b, '\0');
    assert_false(b->oom);
    return b->data;
}

static void json_put_str_escapes_and_replaces_invalid_utf8(void **state)
{
    struct axle_buf b;
    (void)state;
    buf_init(&b);
    assert_string_equal(put_s(&b, "plain", 5), "\"plain\"");
    assert_string_equal(put_s(&b, "", 0), "\"\"");
    assert_string_equal(put_s(&b, "a\"b\\c/d", 7), "\"a\\\"b\\\\c/d\"");
    assert_string_equal(put_s(&b, "\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"");
    assert_string_equal(put_s(&b, "\x01\x1f\x7f\0x", 5),
                        "\"\\u0001\\u001f\\u007f\\u0000x\"");
    /* the log-forging payload of SECURITY.md L1 stays on one line */
    assert_string_equal(put_s(&b, "\n{\"forged\":1}\x1b[31m", 18),
                        "\"\\n{\\\"forged\\\":1}\\u001b[31m\"");
    /* valid UTF-8 is kept */
    assert_string_equal(put_s(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
                        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* invalid: one U+FFFD per maximal ill-formed subpart */
    assert_string_equal(put_s(&b, "a\xff" "b", 3), "\"a\xef\xbf\xbd" "b\"");
    assert_string_equal(put_s(&b, "\xe2\x82", 2), "\"\xef\xbf\xbd\"");
    assert_string_equal(put_s(&b, "\xe2\x82x", 3), "\"\xef\xbf\xbdx\"");
    assert_string_equal(put_s(&b, "\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(put_s(&b, "\xed\xa0\x80", 3),
                        "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(put_s(&b, "\xf4\x90\x80\x80", 4),
                        "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    /* a length that cuts a sequence is not read past */
    assert_string_equal(put_s(&b, "\xc3\xa9", 1), "\"\xef\xbf\xbd\"");
    json_put_cstr(&b, "q");
    buf_free(&b);
}

static void json_put_str_output_parses_back(void **state)
{
    struct axle_buf b;
    (void)state;
    buf_init(&b);
    for (int i = 0; i < 20000; i++) {
        unsigned char raw[64];
        size_t n = rng() % sizeof(raw);
        int valid = i % 2; /* half random bytes, half built from code points */
        if (valid) {
            size_t k = 0;
            while (k + 4 <= sizeof(raw)) {
                uint32_t u = (uint32_t)(rng() % 0x110000);
                if (u >= 0xd800 && u <= 0xdfff)
                    continue;
                if (u < 0x80)
                    raw[k++] = (unsigned char)u;
                else if (u < 0x800)
                    raw[k++] = (unsigned char)(0xc0 | (u >> 6)),
                    raw[k++] = (unsigned char)(0x80 | (u & 63));
                else if (u < 0x10000)
                    raw[k++] = (unsigned char)(0xe0 | (u >> 12)),
                    raw[k++] = (unsigned char)(0x80 | ((u >> 6) & 63)),
                    raw[k++] = (unsigned char)(0x80 | (u & 63));
                else
                    raw[k++] = (unsigned char)(0xf0 | (u >> 18)),
                    raw[k++] = (unsigned char)(0x80 | ((u >> 12) & 63)),
                    raw[k++] = (unsigned char)(0x80 | ((u >> 6) & 63)),
                    raw[k++] = (unsigned char)(0x80 | (u & 63));
                if (rng() % 8 == 0)
                    break;
            }
            n = k;
        } else {
            for (size_t k = 0; k < n; k++)
                raw[k] = (unsigned char)rng();
        }
        buf_reset(&b);
        json_put_str(&b, (const char *)raw, n);
        assert_false(b.oom);
        char *text = malloc(b.len + 1);
        memcpy(text, b.data, b.len);
        struct json_doc d;
        struct axle_err err;
        json_doc_init(&d);
        assert_int_equal(json_parse(&d, text, b.len, &err), AXLE_OK);
        assert_int_equal(json_tok(&d, 0)->type, JSON_STRING);
        if (valid) {
            assert_int_equal(json_tok(&d, 0)->size, n);
            assert_memory_equal(json_str(&d, 0), raw, n);
        }
        json_doc_free(&d);
        free(text);
    }
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_parses_flat_array_of_every_scalar),
        cmocka_unit_test(json_nested_arrays_record_subtree_ends),
        cmocka_unit_test(json_get_finds_members_of_a_v2_request),
        cmocka_unit_test(json_accepts_a_scalar_root),
        cmocka_unit_test(json_unescapes_strings_in_place),
        cmocka_unit_test(json_decodes_surrogate_pairs_and_raw_utf8),
        cmocka_unit_test(json_allows_depth_64_and_rejects_65),
        cmocka_unit_test(json_rejects_50000_nested_brackets_cleanly),
        cmocka_unit_test(json_rejects_truncated_input),
        cmocka_unit_test(json_rejects_trailing_garbage),
        cmocka_unit_test(json_rejects_bad_grammar),
        cmocka_unit_test(json_rejects_invalid_utf8),
        cmocka_unit_test(json_rejects_lone_surrogates),
        cmocka_unit_test(json_rejects_control_characters_in_strings),
        cmocka_unit_test(json_rejects_duplicate_keys_in_small_objects),
        cmocka_unit_test(json_rejects_duplicate_keys_in_large_objects),
        cmocka_unit_test(json_caps_string_length),
        cmocka_unit_test(json_caps_token_count),
        cmocka_unit_test(json_reports_token_allocation_failure),
        cmocka_unit_test(json_reused_doc_parses_without_allocating),
        cmocka_unit_test(json_to_double_converts_and_flags_overflow),
        cmocka_unit_test(json_to_double_matches_strtod),
        cmocka_unit_test(json_to_int64_checks_range_and_form),
        cmocka_unit_test(json_put_float_round_trips_and_is_short),
        cmocka_unit_test(json_put_double_round_trips),
        cmocka_unit_test(json_put_int_and_uint_print_extremes),
        cmocka_unit_test(json_put_str_escapes_and_replaces_invalid_utf8),
        cmocka_unit_test(json_put_str_output_parses_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
