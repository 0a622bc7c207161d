/*
 * test_xgboost_import.c - the XGBoost importer (import/xgboost): the
 * UBJSON reader (every marker, typed / counted / uncounted containers,
 * no-ops, limits, every truncation of a valid document), the document
 * view over both encodings, the decision rules of hand-written models
 * (numerical, missing, categorical with XGBoost's invalid-category rule,
 * dart weights, gblinear with missing features, base_score links),
 * metadata, every import error from in-memory buffers, and allocation
 * failures. Evaluation goes straight through the forest, without the
 * engine. Agreement with the library itself is the e2e suite's job
 * (tests/e2e/test_trees_xgboost.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "import/xgboost/xgb_internal.h"
#include "import/xgboost/xgboost.h"
#include "ir/graph.h"
#include "ir/model.h"
#include "kernels/forest.h"
#include "serve/json.h"

/* ---- a byte buffer ---------------------------------------------------- */

struct bytes {
    uint8_t b[1 << 16];
    size_t n;
};

static void put(struct bytes *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof(o->b));
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void putc1(struct bytes *o, uint8_t c) { put(o, &c, 1); }

static void put_be(struct bytes *o, uint64_t v, int nb)
{
    for (int i = nb - 1; i >= 0; i--)
        putc1(o, (uint8_t)(v >> (8 * i)));
}

static void put_len(struct bytes *o, size_t n)
{
    if (n < 128) {
        putc1(o, 'i');
        putc1(o, (uint8_t)n);
    } else {
        putc1(o, 'l');
        put_be(o, n, 4);
    }
}

static void put_key(struct bytes *o, const char *k)
{
    put_len(o, strlen(k));
    put(o, k, strlen(k));
}

/* ---- JSON -> UBJSON, the way XGBoost writes it ------------------------- */

/* Numeric arrays become typed arrays ($d for floats, $l for integers) when
 * `typed`, else untyped arrays of 'D' / 'L' values. */
static void to_ubj(struct bytes *o, const struct json_doc *d, uint32_t t,
                   bool typed)
{
    const struct json_tok *k = json_tok(d, t);
    switch (k->type) {
    case JSON_NULL: putc1(o, 'Z'); return;
    case JSON_TRUE: putc1(o, 'T'); return;
    case JSON_FALSE: putc1(o, 'F'); return;
    case JSON_STRING:
        putc1(o, 'S');
        put_len(o, k->size);
        put(o, json_str(d, t), k->size);
        return;
    case JSON_NUMBER: {
        int64_t iv;
        double dv;
        if (json_to_int64(d, t, &iv) == 0) {
            putc1(o, 'L');
            put_be(o, (uint64_t)iv, 8);
        } else {
            uint64_t u;
            assert_int_equal(json_to_double(d, t, &dv), 0);
            memcpy(&u, &dv, 8);
            putc1(o, 'D');
            put_be(o, u, 8);
        }
        return;
    }
    case JSON_ARRAY: {
        bool flat = k->end == t + 1 + k->size && k->size > 0, ints = true;
        for (uint32_t i = 0; flat && i < k->size; i++) {
            int64_t iv;
            if (json_tok(d, t + 1 + i)->type != JSON_NUMBER)
                flat = false;
            else if (json_to_int64(d, t + 1 + i, &iv) != 0)
                ints = false;
        }
        if (typed && flat) {
            put(o, ints ? "[$l#" : "[$d#", 4);
            put_len(o, k->size);
            for (uint32_t i = 0; i < k->size; i++) {
                if (ints) {
                    int64_t iv;
                    json_to_int64(d, t + 1 + i, &iv);
                    put_be(o, (uint32_t)(int32_t)iv, 4);
                } else {
                    double dv;
                    float fv;
                    uint32_t u;
                    json_to_double(d, t + 1 + i, &dv);
                    fv = (float)dv;
                    memcpy(&u, &fv, 4);
                    put_be(o, u, 4);
                }
            }
            return;
        }
        putc1(o, '[');
        for (uint32_t e = t + 1, i = 0; i < k->size; i++, e = json_next(d, e))
            to_ubj(o, d, e, typed);
        putc1(o, ']');
        return;
    }
    default: {
        uint32_t e = t + 1;
        putc1(o, '{');
        for (uint32_t i = 0; i < k->size; i++) {
            put_len(o, json_tok(d, e)->size);
            put(o, json_str(d, e), json_tok(d, e)->size);
            to_ubj(o, d, e + 1, typed);
            e = json_next(d, e + 1);
        }
        putc1(o, '}');
    }
    }
}

static void json_to_ubj(const char *js, struct bytes *o, bool typed)
{
    struct json_doc d;
    struct axle_err err;
    char *copy = strdup(js);
    json_doc_init(&d);
    assert_int_equal(json_parse(&d, copy, strlen(copy), &err), AXLE_OK);
    o->n = 0;
    to_ubj(o, &d, 0, typed);
    json_doc_free(&d);
    free(copy);
}

/* ---- models ----------------------------------------------------------- */

/* Root: x0 < 0.5 (missing left) -> node 1, else leaf 3.0. Node 1: x1 < -1
 * (missing right) -> leaf 1.0, else leaf 2.0. */
#define TREE_A                                                               \
    "{\"tree_param\":{\"num_nodes\":\"5\",\"size_leaf_vector\":\"0\"},"      \
    "\"left_children\":[1,3,-1,-1,-1],\"right_children\":[2,4,-1,-1,-1],"    \
    "\"split_indices\":[0,1,0,0,0],"                                         \
    "\"split_conditions\":[0.5,-1.0,3.0,1.0,2.0],"                           \
    "\"default_left\":[1,0,0,0,0],\"split_type\":[0,0,0,0,0],"               \
    "\"categories\":[],\"categories_nodes\":[],"                             \
    "\"categories_segments\":[],\"categories_sizes\":[]}"

/* Categorical root on feature 2: categories {0, 2, 40, 2^24} go right
 * (leaf 20), others left (leaf 10); missing right (default_left 0). */
#define TREE_CAT                                                             \
    "{\"tree_param\":{\"num_nodes\":\"3\"},"                                 \
    "\"left_children\":[1,-1,-1],\"right_children\":[2,-1,-1],"              \
    "\"split_indices\":[2,0,0],\"split_conditions\":[NaN,10.0,20.0],"        \
    "\"default_left\":[0,0,0],\"split_type\":[1,0,0],"                       \
    "\"categories\":[0,2,40,16777216],\"categories_nodes\":[0],"             \
    "\"categories_segments\":[0],\"categories_sizes\":[4]}"

static char model_buf[1 << 16];

/* A gbtree model: objective, base_score text (a JSON value), num_class,
 * trees (JSON array body) and tree_info body. */
static const char *gbtree(const char *objective, const char *base_score,
                          int num_class, const char *trees,
                          const char *tree_info, int n_trees)
{
    snprintf(model_buf, sizeof(model_buf),
             "{\"learner\":{\"attributes\":{\"best_iteration\":\"7\"},"
             "\"feature_names\":[\"a\",\"b\",\"c\"],"
             "\"feature_types\":[\"float\",\"float\",\"c\"],"
             "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":"
             "{\"num_parallel_tree\":\"1\",\"num_trees\":\"%d\"},"
             "\"tree_info\":[%s],\"trees\":[%s]},\"name\":\"gbtree\"},"
             "\"learner_model_param\":{\"base_score\":%s,"
             "\"num_class\":\"%d\",\"num_feature\":\"3\"},"
             "\"objective\":{\"name\":\"%s\"}},\"version\":[1,7,4]}",
             n_trees, tree_info, trees, base_score, num_class, objective);
    return model_buf;
}

static const char *simple(void)
{
    return gbtree("reg:squarederror", "\"5E-1\"", 0, TREE_A, "0", 1);
}

static enum axle_status import_str(const char *s, struct axle_ir_model **m,
                                   struct axle_err *err)
{
    return axle_xgboost_import((const uint8_t *)s, strlen(s), m, err);
}

static struct axle_ir_model *import_ok(const char *s)
{
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    if (import_str(s, &m, &err) != AXLE_OK)
        fail_msg("import failed: %s", err.msg);
    return m;
}

static const struct axle_forest *model_forest(const struct axle_ir_model *m)
{
    const struct axle_attr *a;
    assert_non_null(m);
    assert_int_equal(m->graph->n_nodes, 1);
    a = axle_node_attr(&m->graph->nodes[0], "forest");
    assert_non_null(a);
    return a->opaque;
}

static const char *meta(const struct axle_ir_model *m, const char *key)
{
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta_keys[i], key) == 0)
            return m->meta_values[i];
    return NULL;
}

/* Transformed outputs of one row, as the Forest op computes them. */
static void predict_row(const struct axle_forest *f, const float *x,
                        double *out)
{
    float work[64];
    assert_true(axle_forest_work_bytes(f, 1) <= sizeof(work));
    axle_forest_scores(f, x, 1, f->n_features, out,
                       axle_forest_work_bytes(f, 1) ? work : NULL, NULL);
    axle_forest_transform_row(f, out);
}

static double predict1(const struct axle_forest *f, float x0, float x1,
                       float x2)
{
    float x[3] = {x0, x1, x2};
    double out[8];
    predict_row(f, x, out);
    return out[0];
}

static void expect_error(const char *s, const char *what)
{
    struct axle_ir_model *m = NULL;
    struct axle_err err = {0};
    enum axle_status st = import_str(s, &m, &err);
    if (st == AXLE_OK) {
        axle_ir_model_free(m);
        fail_msg("import succeeded, expected an error mentioning '%s'", what);
    }
    assert_int_equal(st, AXLE_INVALID_ARGUMENT);
    assert_null(m);
    if (strstr(err.msg, what) == NULL)
        fail_msg("error '%s' does not mention '%s'", err.msg, what);
}

/* The model text with the first `from` replaced by `to` (a static buffer,
 * valid until the next call). */
static const char *edit(const char *s, const char *from, const char *to)
{
    /* built in tmp, so that s may be a previous result (nested edits) */
    static char out[1 << 16], tmp[1 << 16];
    const char *p = strstr(s, from);
    if (p == NULL)
        fail_msg("'%s' not in the model", from);
    snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(p - s), s, to,
             p + strlen(from));
    memcpy(out, tmp, sizeof(out));
    return out;
}

/* ---- UBJSON reader ---------------------------------------------------- */

static void test_ubj_every_scalar_marker(void **state)
{
    struct bytes b = {.n = 0};
    struct xgb_doc d;
    struct axle_err err = {0};
    int64_t iv;
    float fv;
    double dv;
    bool bv, dup;
    size_t len;
    const char *s;
    float f32 = 1.5f;
    double f64 = -2.25;
    uint32_t u32;
    uint64_t u64;
    (void)state;

    put(&b, "{", 1);
    put_key(&b, "i8"); put(&b, "i\xfe", 2);
    put_key(&b, "u8"); put(&b, "U\xfe", 2);
    put_key(&b, "i16"); put(&b, "I\x80\x01", 3);
    put_key(&b, "i32"); put(&b, "l\xff\xff\xff\xfd", 5);
    put_key(&b, "i64"); putc1(&b, 'L'); put_be(&b, (uint64_t)-5000000000LL, 8);
    memcpy(&u32, &f32, 4);
    put_key(&b, "f32"); putc1(&b, 'd'); put_be(&b, u32, 4);
    memcpy(&u64, &f64, 8);
    put_key(&b, "f64"); putc1(&b, 'D'); put_be(&b, u64, 8);
    put_key(&b, "str"); put(&b, "Si\x03" "abc", 6);
    put_key(&b, "chr"); put(&b, "Cx", 2);
    put_key(&b, "t"); putc1(&b, 'T');
    put_key(&b, "f"); putc1(&b, 'F');
    put_key(&b, "z"); putc1(&b, 'Z');
    put(&b, "N}", 2); /* a no-op before the end */
    assert_int_equal(xgb_doc_parse(&d, b.b, b.n, &err), AXLE_OK);
    assert_true(d.ubj);
    assert_int_equal(xgb_type(&d, 0), XGB_OBJ);
    assert_int_equal(xgb_size(&d, 0), 12);
#define GET(k) xgb_get(&d, 0, k, &dup)
    assert_int_equal(xgb_i64(&d, GET("i8"), &iv), 0);
    assert_int_equal(iv, -2);
    assert_int_equal(xgb_i64(&d, GET("u8"), &iv), 0);
    assert_int_equal(iv, 254);
    assert_int_equal(xgb_i64(&d, GET("i16"), &iv), 0);
    assert_int_equal(iv, -32767);
    assert_int_equal(xgb_i64(&d, GET("i32"), &iv), 0);
    assert_int_equal(iv, -3);
    assert_int_equal(xgb_i64(&d, GET("i64"), &iv), 0);
    assert_true(iv == -5000000000LL);
    assert_int_equal(xgb_f32(&d, GET("f32"), &fv), 0);
    assert_true(fv == 1.5f);
    assert_int_not_equal(xgb_i64(&d, GET("f32"), &iv), 0); /* not an int */
    assert_int_equal(xgb_f64(&d, GET("f64"), &dv), 0);
    assert_true(dv == -2.25);
    assert_int_equal(xgb_f32(&d, GET("i16"), &fv), 0);
    assert_true(fv == -32767.0f);
    s = xgb_str(&d, GET("str"), &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "abc", 3);
    assert_true(xgb_streq(&d, GET("chr"), "x"));
    assert_int_equal(xgb_bool(&d, GET("t"), &bv), 0);
    assert_true(bv);
    assert_int_equal(xgb_bool(&d, GET("f"), &bv), 0);
    assert_false(bv);
    assert_int_equal(xgb_type(&d, GET("z")), XGB_NULL);
    assert_int_equal(GET("nope"), XGB_NONE);
#undef GET
    xgb_doc_free(&d);
}

static void test_ubj_containers(void **state)
{
    struct bytes b = {.n = 0};
    struct xgb_doc d;
    struct axle_err err = {0};
    uint32_t a;
    int64_t iv;
    float fv;
    bool bv, dup;
    (void)state;

    put(&b, "{#i\x05", 4); /* counted object */
    /* typed float32 array */
    put_key(&b, "pf");
    put(&b, "[$d#i\x03", 6);
    put_be(&b, 0x3f800000, 4); /* 1 */
    put_be(&b, 0xc0000000, 4); /* -2 */
    put_be(&b, 0x7fc00000, 4); /* NaN */
    /* typed uint8 array (default_left in xgboost >= 1.6) */
    put_key(&b, "pu");
    put(&b, "[$U#i\x02\x01\x00", 8);
    /* counted untyped array of mixed integer markers */
    put_key(&b, "ci");
    put(&b, "[#U\x03i\xffU\x07I\x01\x00", 11);
    /* uncounted array with no-ops and booleans */
    put_key(&b, "ub");
    put(&b, "[NTNFN]", 7);
    /* typed object of int8 values */
    put_key(&b, "to");
    put(&b, "{$i#i\x02", 6);
    put_key(&b, "x"); putc1(&b, 5);
    put_key(&b, "y"); putc1(&b, 0xfa);
    assert_int_equal(xgb_doc_parse(&d, b.b, b.n, &err), AXLE_OK);

    a = xgb_get(&d, 0, "pf", &dup);
    assert_true(xgb_arr_scalars(&d, a));
    assert_int_equal(xgb_size(&d, a), 3);
    assert_int_equal(xgb_first(&d, a), XGB_NONE); /* packed: no children */
    assert_int_equal(xgb_arr_f32(&d, a, 1, &fv), 0);
    assert_true(fv == -2.0f);
    assert_int_equal(xgb_arr_f32(&d, a, 2, &fv), 0);
    assert_true(isnan(fv));
    assert_int_not_equal(xgb_arr_f32(&d, a, 3, &fv), 0);
    assert_int_not_equal(xgb_arr_i64(&d, a, 0, &iv), 0);

    a = xgb_get(&d, 0, "pu", &dup);
    assert_int_equal(xgb_arr_bool(&d, a, 0, &bv), 0);
    assert_true(bv);
    assert_int_equal(xgb_arr_bool(&d, a, 1, &bv), 0);
    assert_false(bv);

    a = xgb_get(&d, 0, "ci", &dup);
    assert_true(xgb_arr_scalars(&d, a));
    assert_int_equal(xgb_arr_i64(&d, a, 0, &iv), 0);
    assert_int_equal(iv, -1);
    assert_int_equal(xgb_arr_i64(&d, a, 2, &iv), 0);
    assert_int_equal(iv, 256);

    a = xgb_get(&d, 0, "ub", &dup);
    assert_int_equal(xgb_size(&d, a), 2);
    assert_int_equal(xgb_arr_bool(&d, a, 0, &bv), 0);
    assert_true(bv);

    a = xgb_get(&d, 0, "to", &dup);
    assert_int_equal(xgb_type(&d, a), XGB_OBJ);
    assert_int_equal(xgb_i64(&d, xgb_get(&d, a, "y", &dup), &iv), 0);
    assert_int_equal(iv, -6);
    xgb_doc_free(&d);
}

static void test_ubj_duplicate_key_is_seen(void **state)
{
    struct bytes b = {.n = 0};
    struct xgb_doc d;
    struct axle_err err = {0};
    uint32_t v;
    bool dup;
    (void)state;
    put(&b, "{", 1);
    put_key(&b, "k"); put(&b, "i\x01", 2);
    put_key(&b, "k"); put(&b, "i\x02", 2);
    putc1(&b, '}');
    assert_int_equal(xgb_doc_parse(&d, b.b, b.n, &err), AXLE_OK);
    assert_int_equal(xgb_get(&d, 0, "k", &dup), XGB_NONE);
    assert_true(dup);
    assert_int_equal(xgb_member(&d, 0, "k", -1, true, "here", &v, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "duplicate key 'k'"));
    xgb_doc_free(&d);
}

static void ubj_expect_error(const void *p, size_t n, const char *what)
{
    struct axle_ubj_doc u;
    struct axle_err err = {0};
    axle_xgboost_ubj_init(&u);
    assert_int_equal(axle_xgboost_ubj_parse(&u, p, n, &err),
                     AXLE_INVALID_ARGUMENT);
    if (strstr(err.msg, what) == NULL)
        fail_msg("error '%s' does not mention '%s'", err.msg, what);
    axle_xgboost_ubj_free(&u);
}

static void test_ubj_rejects_malformed_input(void **state)
{
    uint8_t deep[200];
    (void)state;
    ubj_expect_error("", 0, "truncated ubjson");
    ubj_expect_error("{i\xffkey", 7, "negative string length");
    ubj_expect_error("[#i\xfe", 4, "negative container count");
    ubj_expect_error("[#L\x00\x00\x00\x10\x00\x00\x00\x00", 11,
                     "container count");
    ubj_expect_error("[$d#i\x05\x00\x00\x00\x00", 10, "truncated ubjson");
    ubj_expect_error("[$d]", 4, "'$' type without a '#' count");
    ubj_expect_error("[$[#i\x01]", 7, "typed container of containers");
    ubj_expect_error("[$q#i\x01", 6, "invalid container type");
    ubj_expect_error("[Q]", 3, "unknown marker 0x51");
    ubj_expect_error("[]]", 3, "trailing bytes");
    ubj_expect_error("[}", 2, "unexpected container end");
    ubj_expect_error("H", 1, "high-precision");
    ubj_expect_error("{d\x00\x00\x00\x00Z}", 8, "length must be an integer");
    ubj_expect_error("Si\x05" "ab", 5, "truncated ubjson");
    ubj_expect_error("[NNN", 4, "truncated ubjson");
    memset(deep, '[', sizeof(deep));
    ubj_expect_error(deep, sizeof(deep), "nesting deeper than 64");
}

static void test_ubj_string_limit(void **state)
{
    struct axle_ubj_doc u;
    struct axle_err err = {0};
    struct bytes b = {.n = 0};
    (void)state;
    put(&b, "Si\x20", 3);
    for (int i = 0; i < 32; i++)
        putc1(&b, 'a');
    axle_xgboost_ubj_init(&u);
    u.max_string = 16;
    assert_int_equal(axle_xgboost_ubj_parse(&u, b.b, b.n, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "string of 32 bytes (limit 16)"));
    u.max_string = 0;
    assert_int_equal(axle_xgboost_ubj_parse(&u, b.b, b.n, &err), AXLE_OK);
    axle_xgboost_ubj_free(&u);
}

/* Every proper prefix of a valid document is an error, never a crash. */
static void test_ubj_every_truncation_is_an_error(void **state)
{
    static struct bytes b;
    (void)state;
    json_to_ubj(simple(), &b, true);
    for (size_t n = 0; n < b.n; n++) {
        struct axle_ubj_doc u;
        struct axle_err err = {0};
        axle_xgboost_ubj_init(&u);
        if (axle_xgboost_ubj_parse(&u, b.b, n, &err) == AXLE_OK)
            fail_msg("prefix of %zu / %zu bytes parsed", n, b.n);
        axle_xgboost_ubj_free(&u);
    }
}

/* ---- decisions -------------------------------------------------------- */

static void test_numeric_splits_and_missing(void **state)
{
    struct axle_ir_model *m = import_ok(simple());
    const struct axle_forest *f = model_forest(m);
    (void)state;
    assert_true(f->acc_float);
    assert_true(f->base_first);
    assert_int_equal(f->n_features, 3);
    assert_int_equal(f->output, AXLE_FOREST_PREDICT);
    /* x0 < 0.5 strictly: 0.5 goes right */
    assert_true(predict1(f, 0.5f, 0, 0) == 3.5);
    assert_true(predict1(f, nextafterf(0.5f, 0), 0, 0) == 2.5);
    assert_true(predict1(f, NAN, -2, 0) == 1.5);     /* missing: left */
    assert_true(predict1(f, 0, NAN, 0) == 2.5);      /* missing: right */
    assert_true(predict1(f, 0, -1.0f, 0) == 2.5);    /* -1 < -1 false */
    assert_true(predict1(f, 0, -1.0001f, 0) == 1.5);
    assert_string_equal(m->format, "xgboost");
    assert_int_equal(m->graph->n_outputs, 1);
    axle_ir_model_free(m);
}

static void test_same_model_in_ubjson_gives_the_same_answers(void **state)
{
    static struct bytes b;
    const float rows[][3] = {
        {0.5f, 0, 0}, {0.1f, -3, 0}, {NAN, NAN, 0}, {-7, -1, 0}, {0, NAN, 1},
    };
    struct axle_ir_model *mj = import_ok(simple());
    (void)state;
    for (int typed = 0; typed < 2; typed++) {
        struct axle_ir_model *mu = NULL;
        struct axle_err err = {0};
        json_to_ubj(simple(), &b, typed);
        assert_true(axle_xgboost_sniff(b.b, b.n));
        if (axle_xgboost_import(b.b, b.n, &mu, &err) != AXLE_OK)
            fail_msg("ubjson (typed %d) import failed: %s", typed, err.msg);
        for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
            double a[1], u[1];
            predict_row(model_forest(mj), rows[r], a);
            predict_row(model_forest(mu), rows[r], u);
            assert_true(a[0] == u[0]);
        }
        assert_string_equal(meta(mu, "feature_names"), "a,b,c");
        axle_ir_model_free(mu);
    }
    axle_ir_model_free(mj);
}

static void test_categorical_rules(void **state)
{
    struct axle_ir_model *m = import_ok(
        gbtree("reg:squarederror", "\"0\"", 0, TREE_CAT, "0", 1));
    const struct axle_forest *f = model_forest(m);
    (void)state;
    assert_true(predict1(f, 0, 0, 0) == 20);   /* in the set: right */
    assert_true(predict1(f, 0, 0, 2) == 20);
    assert_true(predict1(f, 0, 0, 2.7f) == 20); /* truncated to 2 */
    assert_true(predict1(f, 0, 0, 1) == 10);   /* not in the set: left */
    assert_true(predict1(f, 0, 0, 40) == 20);
    assert_true(predict1(f, 0, 0, 41) == 10);
    assert_true(predict1(f, 0, 0, 1000) == 10); /* past the bitset */
    assert_true(predict1(f, 0, 0, -1) == 10);  /* invalid: left */
    assert_true(predict1(f, 0, 0, -0.0f) == 20); /* category 0 */
    /* 2^24 is listed, but XGBoost never matches it (InvalidCat) */
    assert_true(predict1(f, 0, 0, 16777216.0f) == 10);
    assert_true(predict1(f, 0, 0, NAN) == 20); /* missing: default right */
    axle_ir_model_free(m);

    /* A categorical split with no category list (or only categories XGBoost
     * never matches) has an empty set: every value goes left. Regression:
     * fuzz_xgboost found the empty set reaching the forest as a NULL set. */
    for (int v = 0; v < 2; v++) {
        char s[1 << 16];
        snprintf(s, sizeof(s), "%s",
                 gbtree("reg:squarederror", "\"0\"", 0, TREE_CAT, "0", 1));
        if (v == 0)
            m = import_ok(edit(edit(s, "\"categories_nodes\":[0]",
                                    "\"categories_nodes\":[]"),
                               "\"categories_segments\":[0],"
                               "\"categories_sizes\":[4]",
                               "\"categories_segments\":[],"
                               "\"categories_sizes\":[]"));
        else
            m = import_ok(edit(edit(s, "[0,2,40,16777216]",
                                    "[16777216,99999999]"),
                               "\"categories_sizes\":[4]",
                               "\"categories_sizes\":[2]"));
        f = model_forest(m);
        assert_true(predict1(f, 0, 0, 0) == 10);
        assert_true(predict1(f, 0, 0, 40) == 10);
        assert_true(predict1(f, 0, 0, NAN) == 20);
        axle_ir_model_free(m);
    }
}

static void test_base_score_links(void **state)
{
    static const struct {
        const char *objective, *base;
        double margin;
    } cases[] = {
        {"reg:squarederror", "\"5E-1\"", 0.5},
        {"reg:squarederror", "\"[5E-1]\"", 0.5},
        {"reg:squarederror", "0.25", 0.25},
        {"binary:logitraw", "\"3E-1\"", (float)0.3},
        {"reg:logistic", "\"5E-1\"", 0.0},
        {"binary:logistic", "\"[3E-1]\"", -0.84729786},
        {"count:poisson", "\"5E-1\"", -0.69314718},
        {"reg:gamma", "\"2E0\"", 0.69314718},
        {"reg:tweedie", "\"1E0\"", 0.0},
        {"binary:hinge", "\"5E-1\"", 0.5},
        {"rank:ndcg", "\"5E-1\"", 0.5},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct axle_ir_model *m = import_ok(
            gbtree(cases[i].objective, cases[i].base, 0, TREE_A, "0", 1));
        const struct axle_forest *f = model_forest(m);
        if (fabs(f->base[0] - cases[i].margin) > 1e-6)
            fail_msg("%s base %s: margin %.9g, want %.9g", cases[i].objective,
                     cases[i].base, f->base[0], cases[i].margin);
        /* ProbToMargin runs in float, as in the library */
        assert_true(f->base[0] == (double)(float)f->base[0]);
        axle_ir_model_free(m);
    }
}

static void test_objectives_set_outputs(void **state)
{
    struct axle_ir_model *m;
    const struct axle_forest *f;
    float x[3] = {0, 0, 0};
    double out[3];
    (void)state;

    m = import_ok(gbtree("binary:logistic", "\"5E-1\"", 0, TREE_A, "0", 1));
    f = model_forest(m);
    assert_int_equal(f->output, AXLE_FOREST_CLASSIFY);
    assert_int_equal(f->transform, AXLE_XF_LOGISTIC);
    assert_int_equal(m->graph->n_outputs, 2);
    axle_ir_model_free(m);

    m = import_ok(gbtree("binary:hinge", "\"5E-1\"", 0, TREE_A, "0", 1));
    f = model_forest(m);
    predict_row(f, x, out);
    assert_true(out[0] == 1.0);
    axle_ir_model_free(m);

    m = import_ok(gbtree("count:poisson", "\"1E0\"", 0, TREE_A, "0", 1));
    f = model_forest(m);
    predict_row(f, x, out);
    assert_true(fabs(out[0] - exp(2.0)) < 1e-12);
    axle_ir_model_free(m);

    /* three classes: one tree each, tree_info names the class */
    m = import_ok(gbtree("multi:softprob", "\"[1E-1,2E-1,3E-1]\"", 3,
                         TREE_A "," TREE_A "," TREE_CAT, "2,0,1", 3));
    f = model_forest(m);
    assert_int_equal(f->n_targets, 3);
    assert_true(f->base[0] == (double)0.1f);
    assert_true(f->base[2] == (double)0.3f);
    axle_forest_scores(f, x, 1, 3, out, NULL, NULL);
    assert_true(out[0] == (double)(0.1f + 2.0f)); /* tree 1: class 0 */
    assert_true(out[1] == (double)(0.2f + 20.0f));
    assert_true(out[2] == (double)(0.3f + 2.0f));
    assert_string_equal(meta(m, "num_class"), "3");
    axle_ir_model_free(m);
}

static void test_metadata(void **state)
{
    struct axle_ir_model *m = import_ok(
        gbtree("binary:logistic", "\"[3E-1]\"", 0, TREE_A, "0", 1));
    (void)state;
    assert_string_equal(meta(m, "feature_names"), "a,b,c");
    assert_string_equal(meta(m, "feature_types"), "float,float,c");
    assert_string_equal(meta(m, "objective"), "binary:logistic");
    assert_string_equal(meta(m, "booster"), "gbtree");
    assert_string_equal(meta(m, "num_class"), "0");
    assert_string_equal(meta(m, "xgboost_version"), "1.7.4");
    assert_string_equal(meta(m, "best_iteration"), "7");
    assert_string_equal(meta(m, "base_score"), "-0.847297847");
    assert_null(meta(m, "missing"));
    axle_ir_model_free(m);
}

static void test_sklearn_missing_value(void **state)
{
    const char *s = edit(simple(), "\"best_iteration\":\"7\"",
                         "\"scikit_learn\":\"{\\\"missing\\\": -1.0, "
                         "\\\"n_estimators\\\": 1}\"");
    struct axle_ir_model *m = import_ok(s);
    const struct axle_forest *f = model_forest(m);
    (void)state;
    assert_true(f->has_missing_value);
    assert_true(f->missing_value == -1.0f);
    /* x0 = -1 is missing: default left; x1 = -1 missing: default right */
    assert_true(predict1(f, -1, -5, 0) == 1.5);
    assert_true(predict1(f, 0, -1, 0) == 2.5);
    assert_string_equal(meta(m, "missing"), "-1");
    axle_ir_model_free(m);

    m = import_ok(edit(simple(), "\"best_iteration\":\"7\"",
                       "\"scikit_learn\":\"{\\\"missing\\\": NaN}\""));
    assert_false(model_forest(m)->has_missing_value);
    axle_ir_model_free(m);
    expect_error(edit(simple(), "\"best_iteration\":\"7\"",
                      "\"scikit_learn\":\"{not json\""),
                 "scikit_learn is not valid json");
}

static void test_dart_weights_scale_leaves_in_float(void **state)
{
    char s[1 << 16];
    struct axle_ir_model *m;
    const struct axle_forest *f;
    (void)state;
    /* edit() returns a static buffer: copy between the two edits */
    snprintf(s, sizeof(s), "%s",
             edit(simple(), "\"gradient_booster\":{\"model\"",
                  "\"gradient_booster\":{\"gbtree\":{\"name\":\"gbtree\","
                  "\"model\""));
    m = import_ok(edit(
        s, ",\"name\":\"gbtree\"},\"learner_model_param\"",
        "},\"name\":\"dart\",\"weight_drop\":[0.3]},"
        "\"learner_model_param\""));
    f = model_forest(m);
    assert_true(predict1(f, 1, 0, 0) == (double)(0.5f + 3.0f * 0.3f));
    assert_true(predict1(f, 0, -2, 0) == (double)(0.5f + 1.0f * 0.3f));
    assert_string_equal(meta(m, "booster"), "dart");
    axle_ir_model_free(m);
}

static const char *gblinear(const char *weights, int num_class)
{
    snprintf(model_buf, sizeof(model_buf),
             "{\"learner\":{\"attributes\":{},\"feature_names\":[],"
             "\"feature_types\":[],\"gradient_booster\":{\"model\":"
             "{\"boosted_rounds\":2,\"weights\":[%s]},\"name\":\"gblinear\"},"
             "\"learner_model_param\":{\"base_score\":\"5E-1\","
             "\"num_class\":\"%d\",\"num_feature\":\"3\"},"
             "\"objective\":{\"name\":\"%s\"}},\"version\":[3,2,0]}",
             weights, num_class,
             num_class > 1 ? "multi:softprob" : "reg:squarederror");
    return model_buf;
}

static void test_gblinear_missing_features_contribute_nothing(void **state)
{
    struct axle_ir_model *m = import_ok(gblinear("0.5,-2,0,0.25", 0));
    const struct axle_forest *f = model_forest(m);
    float p;
    (void)state;
    assert_true(f->base[0] == (double)(0.25f + 0.5f));
    assert_int_equal(f->n_trees, 2); /* zero weights add nothing */
    p = 0.75f;
    p += 3.0f * 0.5f;
    p += 1.5f * -2.0f;
    assert_true(predict1(f, 3, 1.5f, 7) == (double)p);
    p = 0.75f;
    p += 1.5f * -2.0f;
    assert_true(predict1(f, NAN, 1.5f, 7) == (double)p);
    assert_true(predict1(f, NAN, NAN, NAN) == (double)0.75f);
    assert_string_equal(meta(m, "booster"), "gblinear");
    axle_ir_model_free(m);

    /* two classes' weights interleaved per feature, bias row last */
    m = import_ok(gblinear("1,2, 0,0, 0,0, 10,20", 2));
    f = model_forest(m);
    {
        float x[3] = {1, 0, 0};
        double out[2];
        axle_forest_scores(f, x, 1, 3, out, NULL, NULL);
        assert_true(out[0] == 11.5 && out[1] == 22.5);
    }
    axle_ir_model_free(m);
    expect_error(gblinear("1,2,3", 0), "gblinear weights has 3 values");
}

/* ---- errors ----------------------------------------------------------- */

static void test_sniff(void **state)
{
    (void)state;
    assert_true(axle_xgboost_sniff((const uint8_t *)"{\"learner\":{", 12));
    assert_true(axle_xgboost_sniff((const uint8_t *)" \n{ \"learner\"", 13));
    assert_true(axle_xgboost_sniff((const uint8_t *)"{L\0\0", 4));
    assert_true(axle_xgboost_sniff((const uint8_t *)"{i\x07learner", 10));
    assert_false(axle_xgboost_sniff((const uint8_t *)"{\"version\":", 11));
    assert_false(axle_xgboost_sniff((const uint8_t *)"tree\n", 5));
    assert_false(axle_xgboost_sniff((const uint8_t *)"\x08\x07", 2));
    assert_false(axle_xgboost_sniff((const uint8_t *)"{\"learn", 7));
    assert_false(axle_xgboost_sniff((const uint8_t *)"", 0));
}

static void test_structure_errors(void **state)
{
    const char *s = simple();
    (void)state;
    /* X1 */
    expect_error(edit(s, "\"right_children\":[2,4,", "\"right_children\":[9,4,"),
                 "invalid tree structure: tree 0 node 0: child 9 out of range");
    expect_error(edit(s, "\"left_children\":[1,3,", "\"left_children\":[-3,3,"),
                 "child -3 out of range");
    expect_error(edit(s, "\"left_children\":[1,3,", "\"left_children\":[1,-1,"),
                 "has one child");
    /* X2 */
    expect_error(edit(s, "\"left_children\":[1,3,", "\"left_children\":[1,0,"),
                 "child 0 out of range");
    expect_error(edit(s, "\"left_children\":[1,3,", "\"left_children\":[1,2,"),
                 "reached twice");
    expect_error(edit(s, "\"right_children\":[2,4,", "\"right_children\":[1,4,"),
                 "reached twice");
    /* X3 */
    expect_error(edit(s, "[0.5,-1.0,3.0,1.0,2.0]", "[0.5,-1.0,3.0,1.0]"),
                 "tree array length mismatch: tree 0 split_conditions has 4 "
                 "elements, num_nodes is 5");
    expect_error(edit(s, "\"default_left\":[1,0,0,0,0]", "\"default_left\":[1,0]"),
                 "default_left has 2");
    expect_error(edit(s, "\"num_nodes\":\"5\"", "\"num_nodes\":\"6\""),
                 "num_nodes is 6");
    expect_error(edit(s, "\"num_nodes\":\"5\"", "\"num_nodes\":\"x\""),
                 "num_nodes is not an integer");
    /* X4 */
    expect_error(edit(s, "\"split_indices\":[0,1,", "\"split_indices\":[0,3,"),
                 "split feature out of range: tree 0 node 1 uses feature 3, "
                 "num_feature is 3");
    expect_error(edit(s, "\"split_indices\":[0,1,", "\"split_indices\":[-1,1,"),
                 "split feature out of range");
    /* numbers */
    expect_error(edit(s, "[0.5,-1.0,3.0,", "[Infinity,-1.0,3.0,"),
                 "split_condition is not finite");
    expect_error(edit(s, "[0.5,-1.0,3.0,", "[0.5,-1.0,NaN,"),
                 "leaf value is not finite");
    expect_error(edit(s, "[0.5,-1.0,3.0,", "[0.5,-1.0,1e60,"),
                 "leaf value is not finite");
    expect_error(edit(s, "[0.5,-1.0,3.0,", "[0.5,\"x\",3.0,"),
                 "split_conditions[1] is not a number");
    expect_error(edit(s, "\"split_type\":[0,0,", "\"split_type\":[2,0,"),
                 "split_type[0] is not 0 or 1");
    expect_error(edit(s, "\"default_left\":[1,", "\"default_left\":[2,"),
                 "default_left[0] is not a boolean");
    expect_error(edit(s, "\"size_leaf_vector\":\"0\"", "\"size_leaf_vector\":\"3\""),
                 "vector leaves");
    expect_error(edit(s, "\"default_left\":[1,0,0,0,0],", ""),
                 "missing field 'default_left' in tree 0");
    expect_error(edit(s, "\"left_children\":[1,3,-1,-1,-1]", "\"left_children\":{}"),
                 "field 'left_children' in tree 0 must be an array");
}

static void test_model_errors(void **state)
{
    static char s[1 << 16]; /* gbtree() below reuses model_buf */
    (void)state;
    snprintf(s, sizeof(s), "%s", simple());
    expect_error("{\"learner\":{", "malformed xgboost json model");
    expect_error("[1,2]", "not an xgboost model");
    expect_error("{\"version\":[1,0,0]}", "missing field 'learner'");
    expect_error("", "empty");
    /* X5 */
    expect_error(edit(s, "reg:squarederror", "survival:cox"),
                 "unsupported objective 'survival:cox'");
    expect_error(edit(s, "\"5E-1\"", "\"NaN\""), "base_score is not finite");
    expect_error(edit(s, "\"5E-1\"", "\"[1,2]\""),
                 "more values than the 1 outputs");
    expect_error(gbtree("multi:softprob", "\"[1,2]\"", 3, TREE_A, "0", 1),
                 "base_score has 2 values for 3 outputs");
    expect_error(edit(s, "\"5E-1\"", "\"[1,\""), "base_score");
    expect_error(edit(s, "\"5E-1\"", "\"abc\""), "not a number list");
    expect_error(edit(s, "\"5E-1\"", "\"\""), "malformed");
    expect_error(gbtree("binary:logistic", "\"1.5\"", 0, TREE_A, "0", 1),
                 "must be in (0, 1) for binary:logistic");
    expect_error(gbtree("reg:gamma", "\"0\"", 0, TREE_A, "0", 1),
                 "must be > 0 for reg:gamma");
    expect_error(edit(s, "\"num_feature\":\"3\"", "\"num_feature\":\"0\""),
                 "num_feature 0 out of range");
    expect_error(edit(s, "\"num_feature\":\"3\"", "\"num_feature\":\"99999999999\""),
                 "out of range");
    expect_error(edit(s, ",\"num_feature\":\"3\"", ""),
                 "missing field 'num_feature' in learner_model_param");
    expect_error(gbtree("multi:softprob", "\"5E-1\"", 0, TREE_A, "0", 1),
                 "multi:softprob needs num_class >= 2");
    expect_error(gbtree("binary:logistic", "\"5E-1\"", 3, TREE_A, "0", 1),
                 "has one output");
    expect_error(gbtree("reg:squarederror", "\"5E-1\"", 0, TREE_A, "1", 1),
                 "tree_info[0] is not an output index");
    expect_error(gbtree("reg:squarederror", "\"5E-1\"", 0, TREE_A, "0,0", 1),
                 "tree_info has 2 entries for 1 trees");
    expect_error(gbtree("reg:squarederror", "\"5E-1\"", 0, TREE_A, "0", 2),
                 "num_trees differs");
    expect_error(edit(s, "\"name\":\"gbtree\"", "\"name\":\"forest\""),
                 "unsupported booster 'forest'");
    expect_error(edit(s, "[\"a\",\"b\",\"c\"]", "[\"a\",\"b\"]"),
                 "feature_names has 2 entries, num_feature is 3");
    expect_error(edit(s, "\"best_iteration\":\"7\"", "\"best_iteration\":\"x\""),
                 "best_iteration");
    expect_error(edit(s, "\"trees\":[{", "\"trees\":[[],{"),
                 "tree_info has 1 entries for 2 trees");
}

static void test_categorical_errors(void **state)
{
    const char *s = gbtree("reg:squarederror", "\"0\"", 0, TREE_CAT, "0", 1);
    char base[1 << 16];
    (void)state;
    snprintf(base, sizeof(base), "%s", s);
    expect_error(edit(base, "[0,2,40,16777216]", "[0,-2,40,16777216]"),
                 "negative category -2");
    expect_error(edit(base, "\"categories_sizes\":[4]", "\"categories_sizes\":[5]"),
                 "outside categories");
    expect_error(edit(base, "\"categories_nodes\":[0]", "\"categories_nodes\":[7]"),
                 "categories_nodes[0] = 7 is out of range");
    expect_error(edit(base, "\"categories_segments\":[0]", "\"categories_segments\":[]"),
                 "tree array length mismatch");
    expect_error(edit(base, "\"categories\":[0,2,40,16777216],", ""),
                 "missing field 'categories' in tree 0");
    expect_error(edit(base, "\"categories_sizes\":[4]", "\"categories_sizes\":[\"4\"]"),
                 "categories entry 0 is not an integer");
}

static void test_unreachable_nodes_are_dropped(void **state)
{
    /* node 5 is deleted (unreachable) and has garbage children */
    const char *s = gbtree(
        "reg:squarederror", "\"0\"", 0,
        "{\"tree_param\":{\"num_nodes\":\"4\"},"
        "\"left_children\":[1,-1,-1,77],\"right_children\":[2,-1,-1,-5],"
        "\"split_indices\":[0,0,0,99],\"split_conditions\":[0,1,2,3],"
        "\"default_left\":[0,0,0,0]}",
        "0", 1);
    struct axle_ir_model *m = import_ok(s);
    const struct axle_forest *f = model_forest(m);
    (void)state;
    assert_int_equal(f->n_nodes, 3);
    assert_true(predict1(f, -1, 0, 0) == 1);
    assert_true(predict1(f, 1, 0, 0) == 2);
    axle_ir_model_free(m);
}

static void test_depth_limit(void **state)
{
    enum { DEPTH = AXLE_XGB_MAX_DEPTH + 1, N = 2 * DEPTH + 1 };
    static char trees[1 << 15];
    size_t o = 0;
    const char *arrays[] = {"left_children", "right_children"};
    (void)state;
    o += (size_t)snprintf(trees + o, sizeof(trees) - o,
                          "{\"tree_param\":{\"num_nodes\":\"%d\"}", N);
    for (int a = 0; a < 2; a++) {
        o += (size_t)snprintf(trees + o, sizeof(trees) - o, ",\"%s\":[",
                              arrays[a]);
        for (int i = 0; i < N; i++)
            o += (size_t)snprintf(trees + o, sizeof(trees) - o, "%s%d",
                                  i ? "," : "",
                                  i % 2 == 0 && i < N - 1 ? i + 1 + a : -1);
        o += (size_t)snprintf(trees + o, sizeof(trees) - o, "]");
    }
    for (int a = 0; a < 3; a++) {
        static const char *const names[] = {"split_indices",
                                            "split_conditions",
                                            "default_left"};
        o += (size_t)snprintf(trees + o, sizeof(trees) - o, ",\"%s\":[",
                              names[a]);
        for (int i = 0; i < N; i++)
            o += (size_t)snprintf(trees + o, sizeof(trees) - o, "%s0",
                                  i ? "," : "");
        o += (size_t)snprintf(trees + o, sizeof(trees) - o, "]");
    }
    snprintf(trees + o, sizeof(trees) - o, "}");
    expect_error(gbtree("reg:squarederror", "\"0\"", 0, trees, "0", 1),
                 "deeper than 128 levels");
}

static void test_allocation_failures(void **state)
{
    static struct bytes b;
    (void)state;
    json_to_ubj(gbtree("multi:softprob", "\"[1E-1,2E-1,3E-1]\"", 3,
                       TREE_A "," TREE_A "," TREE_CAT, "2,0,1", 3),
                &b, true);
    for (int enc = 0; enc < 2; enc++) {
        const uint8_t *p = enc ? b.b : (const uint8_t *)model_buf;
        size_t n = enc ? b.n : strlen(model_buf);
        bool ok = false;
        for (uint64_t k = 1; k < 200 && !ok; k++) {
            struct axle_ir_model *m = NULL;
            struct axle_err err = {0};
            enum axle_status st;
            axle_alloc_fail_after(k);
            st = axle_xgboost_import(p, n, &m, &err);
            axle_alloc_fail_after(0);
            if (st == AXLE_OK) {
                ok = true;
                axle_ir_model_free(m);
            } else {
                if (st != AXLE_RESOURCE_EXHAUSTED)
                    fail_msg("allocation %llu failing gave '%s'",
                             (unsigned long long)k, err.msg);
                assert_null(m);
            }
        }
        assert_true(ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ubj_every_scalar_marker),
        cmocka_unit_test(test_ubj_containers),
        cmocka_unit_test(test_ubj_duplicate_key_is_seen),
        cmocka_unit_test(test_ubj_rejects_malformed_input),
        cmocka_unit_test(test_ubj_string_limit),
        cmocka_unit_test(test_ubj_every_truncation_is_an_error),
        cmocka_unit_test(test_numeric_splits_and_missing),
        cmocka_unit_test(test_same_model_in_ubjson_gives_the_same_answers),
        cmocka_unit_test(test_categorical_rules),
        cmocka_unit_test(test_base_score_links),
        cmocka_unit_test(test_objectives_set_outputs),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_sklearn_missing_value),
        cmocka_unit_test(test_dart_weights_scale_leaves_in_float),
        cmocka_unit_test(test_gblinear_missing_features_contribute_nothing),
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_categorical_errors),
        cmocka_unit_test(test_unreachable_nodes_are_dropped),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
