/*
 * test_engine.c - the engine through the public C API: loading from memory,
 * input validation, memory planning and the no-allocation steady state, and
 * the bad-model catalogue (SECURITY.md M1, M2, M3, M5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "axle/axle.h"
#include "base/alloc.h"
#include "engine/engine.h"
#include "onnx_builder.h"

/* y = relu(x @ w + b), x: [N, 4] with N symbolic. */
static uint8_t *mlp_bytes(size_t *len)
{
    static const float w[12] = {1, 0, -1, 0.5f, 1, 0, -1, 0.5f, 1, 2, 1, -2};
    static const float b[3] = {0.5f, -1, 0};
    struct ob m;

    ob_init(&m, 13);
    ob_input(&m, "x", AXLE_DTYPE_FLOAT32, 2, (int64_t[]){-1, 4}, "N");
    ob_init_f32(&m, "w", 2, (int64_t[]){4, 3}, w);
    ob_init_f32(&m, "b", 1, (int64_t[]){3}, b);
    ob_node(&m, "MatMul", "mm", 2, (const char *[]){"x", "w"}, 1,
            (const char *[]){"xw"});
    ob_node(&m, "Add", "add", 2, (const char *[]){"xw", "b"}, 1,
            (const char *[]){"xwb"});
    ob_node(&m, "Relu", "relu", 1, (const char *[]){"xwb"}, 1,
            (const char *[]){"y"});
    ob_output(&m, "y");
    return ob_pack(&m, len);
}

static struct axle_model *load(uint8_t *bytes, size_t len,
                               struct axle_err *err)
{
    struct axle_model *m = NULL;
    enum axle_status st = axle_model_load_memory(bytes, len, NULL, &m, err);
    free(bytes);
    return st == AXLE_OK ? m : NULL;
}

static struct axle_model *load_mlp(struct axle_err *err)
{
    size_t len;
    uint8_t *bytes = mlp_bytes(&len);
    return load(bytes, len, err);
}

static struct axle_model *load_ob(struct ob *b, struct axle_err *err)
{
    size_t len;
    uint8_t *bytes = ob_pack(b, &len);
    return load(bytes, len, err);
}

/* Packs b, loads it and checks the load fails with `code` and no model;
 * the caller then checks err->msg. */
static void expect_load_error(struct ob *b, enum axle_status code,
                              struct axle_err *err)
{
    size_t len;
    uint8_t *bytes = ob_pack(b, &len);
    struct axle_model *m = NULL;

    assert_int_equal(axle_model_load_memory(bytes, len, NULL, &m, err), code);
    assert_null(m);
    free(bytes);
}

static void mlp_runs_and_matches_reference(void **state)
{
    struct axle_err err = {0};
    struct axle_model *m = load_mlp(&err);
    struct axle_session *s = NULL;
    float x[8] = {1, 2, 3, 4, -1, -2, -3, -4};
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2,
                             .dims = {2, 4}, .data = x};
    struct axle_tensor out;
    struct axle_io_info io;
    (void)state;

    assert_non_null(m);
    assert_int_equal(axle_model_n_inputs(m), 1);
    assert_int_equal(axle_model_input(m, 0, &io), AXLE_OK);
    assert_string_equal(io.name, "x");
    assert_int_equal(io.dims[0], -1);
    assert_string_equal(io.dim_names[0], "N");
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err), AXLE_OK);
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.dims[0], 2);
    assert_int_equal(out.dims[1], 3);
    /* Row 0: x@w = [1+2-3+4*1... computed by hand below. */
    {
        static const float w[12] = {1, 0, -1, 0.5f, 1, 0, -1, 0.5f,
                                    1, 2, 1, -2};
        static const float b[3] = {0.5f, -1, 0};
        const float *y = out.data;
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 3; c++) {
                float acc = b[c];
                for (int k = 0; k < 4; k++)
                    acc += x[r * 4 + k] * w[k * 3 + c];
                assert_float_equal(y[r * 3 + c], acc > 0 ? acc : 0, 1e-5);
            }
    }
    axle_session_free(s);
    axle_model_unref(m);
}

static void steady_state_run_does_not_allocate(void **state)
{
    struct axle_err err = {0};
    struct axle_model *m = load_mlp(&err);
    struct axle_session *s = NULL;
    struct axle_session_opts so = {.n_threads = 2, .max_batch = 8};
    float x[8 * 4] = {0};
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2,
                             .dims = {8, 4}, .data = x};
    struct axle_tensor out;
    uint64_t before;
    (void)state;

    assert_non_null(m);
    assert_int_equal(axle_session_new(m, &so, &s, &err), AXLE_OK);
    /* Memory for max_batch was reserved at creation: no run allocates. */
    before = axle_alloc_count();
    for (int i = 0; i < 20; i++) {
        in.dims[0] = 1 + i % 8;
        assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err), AXLE_OK);
    }
    assert_int_equal(axle_alloc_count() - before, 0);
    axle_session_free(s);
    axle_model_unref(m);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* axle_session_set_timing: off records nothing; on, every node of the
 * optimized graph gets a time and together they fit inside the run; the
 * fused activation is named; runs stay allocation-free. */
static void node_timing_covers_each_node_within_the_run(void **state)
{
    struct axle_err err = {0};
    struct axle_model *m = load_mlp(&err);
    struct axle_session *s = NULL;
    struct axle_session_opts so = {.n_threads = 2, .max_batch = 4};
    float x[4 * 4] = {1, 2, 3, 4};
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2,
                             .dims = {4, 4}, .data = x};
    struct axle_tensor out;
    struct axle_node_timing t;
    uint64_t before, t0, wall, sum = 0;
    int n, relu = 0;
    (void)state;

    assert_non_null(m);
    assert_int_equal(axle_session_new(m, &so, &s, &err), AXLE_OK);
    n = axle_session_n_nodes(s);
    assert_true(n >= 1 && n <= 3);
    assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err), AXLE_OK);
    for (int i = 0; i < n; i++) {
        assert_int_equal(axle_session_node_timing(s, i, &t), 0);
        assert_true(t.ns == 0);
    }
    assert_int_equal(axle_session_node_timing(s, n, &t), -1);
    assert_int_equal(axle_session_node_timing(s, -1, &t), -1);

    axle_session_set_timing(s, 1);
    before = axle_alloc_count();
    for (int r = 0; r < 5; r++) {
        t0 = mono_ns();
        assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err), AXLE_OK);
        wall = mono_ns() - t0;
        sum = 0;
        for (int i = 0; i < n; i++) {
            assert_int_equal(axle_session_node_timing(s, i, &t), 0);
            assert_true(t.ns > 0);
            sum += t.ns;
        }
        /* Each run starts from zero: the nodes fit inside this run. */
        assert_true(sum <= wall);
    }
    assert_int_equal(axle_alloc_count() - before, 0);
    for (int i = 0; i < n; i++) {
        axle_session_node_timing(s, i, &t);
        assert_non_null(t.op_type);
        assert_non_null(t.output);
        if (t.fused != NULL && strcmp(t.fused, "Relu") == 0)
            relu++;
        else
            assert_true(t.fused == NULL);
    }
    /* The last node writes y: [4, 3]; the Relu went into a store loop or
     * stayed a node of its own. */
    axle_session_node_timing(s, n - 1, &t);
    assert_int_equal(t.output->rank, 2);
    assert_int_equal(t.output->dims[0], 4);
    assert_int_equal(t.output->dims[1], 3);
    if (relu == 0)
        assert_string_equal(t.op_type, "Relu");

    axle_session_set_timing(s, 0);
    assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err), AXLE_OK);
    for (int i = 0; i < n; i++) {
        axle_session_node_timing(s, i, &t);
        assert_true(t.ns == 0);
    }
    axle_session_free(s);
    axle_model_unref(m);
}

static void batch_above_reservation_grows_once_then_stops_allocating(void **st)
{
    struct axle_err err = {0};
    struct axle_model *m = load_mlp(&err);
    struct axle_session *s = NULL;
    struct axle_session_opts so = {.n_threads = 1, .max_batch = 1};
    static float x[64 * 4];
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2,
                             .dims = {64, 4}, .data = x};
    struct axle_tensor out;
    uint64_t before;
    (void)st;

    assert_non_null(m);
    assert_int_equal(axle_session_new(m, &so, &s, &err), AXLE_OK);
    assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err), AXLE_OK);
    assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err), AXLE_OK);
    before = axle_alloc_count();
    for (int i = 0; i < 5; i++)
        assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err), AXLE_OK);
    assert_int_equal(axle_alloc_count() - before, 0);
    assert_int_equal(out.dims[0], 64);
    axle_session_free(s);
    axle_model_unref(m);
}

static void planner_shares_buffers_between_dead_values(void **state)
{
    struct axle_err err = {0};
    struct axle_model *m;
    struct axle_session *s = NULL;
    struct ob b;
    char names[12][16];
    (void)state;

    /* A chain of 10 Relu over 4096 floats: at most two values are alive at
     * once, so the arena needs ~2 slots, not 10. */
    ob_init(&b, 13);
    ob_input(&b, "v0", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){4096}, NULL);
    for (int i = 0; i <= 10; i++)
        snprintf(names[i], sizeof(names[i]), "v%d", i);
    for (int i = 0; i < 10; i++)
        ob_node(&b, "Relu", names[i + 1], 1, (const char *[]){names[i]}, 1,
                (const char *[]){names[i + 1]});
    ob_output(&b, "v10");
    m = load_ob(&b, &err);
    assert_non_null(m);
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    assert_true(s->plan.arena_bytes <= 2 * 4096 * 4);
    assert_true(s->plan.arena_bytes >= 4096 * 4);
    axle_session_free(s);
    axle_model_unref(m);
}

static void run_rejects_wrong_dtype_and_shape_naming_the_input(void **state)
{
    struct axle_err err = {0};
    struct axle_model *m = load_mlp(&err);
    struct axle_session *s = NULL;
    int32_t xi[8] = {0};
    float xf[15] = {0};
    struct axle_tensor in = {.dtype = AXLE_DTYPE_INT32, .rank = 2,
                             .dims = {2, 4}, .data = xi};
    struct axle_tensor out;
    (void)state;

    assert_non_null(m);
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "input 'x'"));
    assert_non_null(strstr(err.msg, "float32"));
    in = (struct axle_tensor){.dtype = AXLE_DTYPE_FLOAT32, .rank = 2,
                              .dims = {3, 5}, .data = xf};
    assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "input 'x'"));
    assert_non_null(strstr(err.msg, "expected 4, got 5"));
    in.rank = 3;
    assert_int_equal(axle_session_run(s, 1, &in, 1, &out, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "rank"));
    axle_session_free(s);
    axle_model_unref(m);
}

static void load_rejects_unknown_operator_naming_op_domain_opset_node(void **st)
{
    struct axle_err err = {0};
    struct ob b;
    (void)st;

    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){4}, NULL);
    ob_node(&b, "FrobnicateX", "frob7", 1, (const char *[]){"x"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    expect_load_error(&b, AXLE_UNIMPLEMENTED, &err);
    assert_non_null(strstr(err.msg, "unsupported operator 'FrobnicateX'"));
    assert_non_null(strstr(err.msg, "ai.onnx"));
    assert_non_null(strstr(err.msg, "opset 13"));
    assert_non_null(strstr(err.msg, "frob7"));
}

static void load_rejects_cycle_and_undefined_input(void **state)
{
    struct axle_err err = {0};
    struct ob b;
    (void)state;

    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){4}, NULL);
    ob_node(&b, "Add", "a", 2, (const char *[]){"x", "c"}, 1,
            (const char *[]){"b"});
    ob_node(&b, "Relu", "r", 1, (const char *[]){"b"}, 1,
            (const char *[]){"c"});
    ob_output(&b, "c");
    expect_load_error(&b, AXLE_INVALID_ARGUMENT, &err);
    assert_non_null(strstr(err.msg, "cycle"));

    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){4}, NULL);
    ob_node(&b, "Add", "a", 2, (const char *[]){"x", "missing_w"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    expect_load_error(&b, AXLE_INVALID_ARGUMENT, &err);
    assert_non_null(strstr(err.msg, "undefined value 'missing_w'"));
}

static void load_rejects_truncated_and_garbage_bytes(void **state)
{
    struct axle_err err = {0};
    size_t len;
    uint8_t *bytes = mlp_bytes(&len);
    struct axle_model *m = NULL;
    static const uint8_t garbage[] = "\x89PNG\r\n\x1a\n this is not onnx";
    (void)state;

    /* M1: truncated at 50 %. */
    assert_int_equal(axle_model_load_memory(bytes, len / 2, NULL, &m, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "malformed protobuf"));
    assert_int_equal(axle_model_load_memory(garbage, sizeof(garbage), NULL,
                                            &m, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "malformed protobuf"));
    assert_int_equal(axle_model_load_memory(bytes, 0, NULL, &m, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_null(m);
    free(bytes);
}

static void load_rejects_initializer_size_mismatch_and_absurd_dims(void **st)
{
    struct axle_err err = {0};
    struct ob b;
    float w[4] = {1, 2, 3, 4};
    (void)st;

    /* M2: raw_data shorter than dims say. */
    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){8}, NULL);
    ob_init_raw(&b, "w", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){8}, w, sizeof(w));
    ob_node(&b, "Add", "a", 2, (const char *[]){"x", "w"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    expect_load_error(&b, AXLE_INVALID_ARGUMENT, &err);
    assert_non_null(strstr(err.msg, "initializer size mismatch"));

    /* Declared 2^33 x 2^33 elements with 16 bytes present: refused before
     * any allocation. */
    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){8}, NULL);
    ob_init_raw(&b, "w", AXLE_DTYPE_FLOAT32, 2,
                (int64_t[]){(int64_t)1 << 33, (int64_t)1 << 33}, w, sizeof(w));
    ob_node(&b, "Add", "a", 2, (const char *[]){"x", "w"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    expect_load_error(&b, AXLE_INVALID_ARGUMENT, &err);
    assert_non_null(strstr(err.msg, "too large"));
}

static void load_rejects_external_data_outside_model_dir(void **state)
{
    static const char *const bad[] = {"../../etc/passwd", "/etc/passwd",
                                      "sub/../../x", "..", ""};
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct axle_err err = {0};
        struct ob b;
        AxleOnnx__TensorProto *t;
        AxleOnnx__StringStringEntryProto e, *ep[1] = {&e};

        ob_init(&b, 13);
        ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){4}, NULL);
        t = ob_init_raw(&b, "w", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){4}, NULL,
                        0);
        t->has_raw_data = 0;
        t->has_data_location = 1;
        t->data_location = AXLE_ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        axle_onnx__string_string_entry_proto__init(&e);
        e.key = "location";
        e.value = (char *)bad[i];
        t->n_external_data = 1;
        t->external_data = ep;
        ob_node(&b, "Add", "a", 2, (const char *[]){"x", "w"}, 1,
                (const char *[]){"y"});
        ob_output(&b, "y");
        expect_load_error(&b, AXLE_INVALID_ARGUMENT, &err);
        assert_non_null(strstr(err.msg, "invalid external data location"));
    }
}

static void symbolic_dims_must_agree_across_inputs(void **state)
{
    struct axle_err err = {0};
    struct ob b;
    struct axle_model *m;
    struct axle_session *s = NULL;
    float x[8] = {0}, y[12] = {0};
    struct axle_tensor in[2] = {
        {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2, .dims = {2, 4}, .data = x},
        {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2, .dims = {3, 4}, .data = y},
    };
    struct axle_tensor out;
    (void)state;

    ob_init(&b, 13);
    ob_input(&b, "a", AXLE_DTYPE_FLOAT32, 2, (int64_t[]){-1, 4}, "batch");
    ob_input(&b, "b", AXLE_DTYPE_FLOAT32, 2, (int64_t[]){-1, 4}, "batch");
    ob_node(&b, "Add", "add", 2, (const char *[]){"a", "b"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    m = load_ob(&b, &err);
    assert_non_null(m);
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    assert_int_equal(axle_session_run(s, 2, in, 1, &out, &err),
                     AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "'batch'"));
    axle_session_free(s);
    axle_model_unref(m);
}

static void constant_subgraph_is_folded_at_load(void **state)
{
    struct axle_err err = {0};
    struct ob b;
    struct axle_model *m;
    float c[4] = {-1, 2, -3, 4};
    (void)state;

    /* relu(c) + x: the Relu on a constant runs at load, leaving one node. */
    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){4}, NULL);
    ob_init_f32(&b, "c", 1, (int64_t[]){4}, c);
    ob_node(&b, "Relu", "r", 1, (const char *[]){"c"}, 1,
            (const char *[]){"rc"});
    ob_node(&b, "Add", "a", 2, (const char *[]){"x", "rc"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    m = load_ob(&b, &err);
    assert_non_null(m);
    assert_int_equal(m->ir->graph->n_nodes, 1);
    assert_string_equal(m->ir->graph->nodes[0].op_type, "Add");
    axle_model_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mlp_runs_and_matches_reference),
        cmocka_unit_test(steady_state_run_does_not_allocate),
        cmocka_unit_test(node_timing_covers_each_node_within_the_run),
        cmocka_unit_test(batch_above_reservation_grows_once_then_stops_allocating),
        cmocka_unit_test(planner_shares_buffers_between_dead_values),
        cmocka_unit_test(run_rejects_wrong_dtype_and_shape_naming_the_input),
        cmocka_unit_test(load_rejects_unknown_operator_naming_op_domain_opset_node),
        cmocka_unit_test(load_rejects_cycle_and_undefined_input),
        cmocka_unit_test(load_rejects_truncated_and_garbage_bytes),
        cmocka_unit_test(load_rejects_initializer_size_mismatch_and_absurd_dims),
        cmocka_unit_test(load_rejects_external_data_outside_model_dir),
        cmocka_unit_test(symbolic_dims_must_agree_across_inputs),
        cmocka_unit_test(constant_subgraph_is_folded_at_load),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
