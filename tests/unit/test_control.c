/*
 * test_control.c - control flow and sequences through the public C API:
 * subgraphs reading outer-scope values (nested If), the subgraph depth
 * limit, Loop under a deadline and its iteration cap, and the sequence
 * operators ONNX 1.12's node cases do not cover (SplitToSequence,
 * ConcatFromSequence, SequenceErase, sequence graph outputs), and tensor
 * operators refusing sequences.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "axle/axle.h"
#include "onnx_builder.h"

/* ---- subgraph building on top of onnx_builder.h ---- */

static AxleOnnx__GraphProto *sub_new(struct ob *m, const char *name)
{
    AxleOnnx__GraphProto *g = ob_own(m, sizeof(*g));
    axle_onnx__graph_proto__init(g);
    g->name = ob_str(m, name);
    g->node = ob_own(m, sizeof(*g->node) * 8);
    g->input = ob_own(m, sizeof(*g->input) * 8);
    g->output = ob_own(m, sizeof(*g->output) * 8);
    return g;
}

static AxleOnnx__NodeProto *sub_node(struct ob *m, AxleOnnx__GraphProto *g,
                                     const char *op, int n_in,
                                     const char *const *in, int n_out,
                                     const char *const *out)
{
    /* ob_node appends to the main graph: move the node over. */
    AxleOnnx__NodeProto *n = ob_node(m, op, op, n_in, in, n_out, out);
    m->graph.n_node--;
    g->node[g->n_node++] = n;
    return n;
}

static void sub_input(struct ob *m, AxleOnnx__GraphProto *g, const char *name,
                      int dt, int rank, const int64_t *dims)
{
    g->input[g->n_input++] = ob_vi(m, name, dt, rank, dims, NULL);
}

static void sub_output(struct ob *m, AxleOnnx__GraphProto *g,
                       const char *name)
{
    AxleOnnx__ValueInfoProto *vi = ob_own(m, sizeof(*vi));
    axle_onnx__value_info_proto__init(vi);
    vi->name = ob_str(m, name);
    g->output[g->n_output++] = vi;
}

static void attr_graph(struct ob *m, AxleOnnx__NodeProto *n, const char *name,
                       AxleOnnx__GraphProto *g)
{
    AxleOnnx__AttributeProto *a = ob_attr(m, n, name);
    a->has_type = 1;
    a->type = AXLE_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    a->g = g;
}

/* A chain of If nodes, each inside the then branch of the one above, down
 * to `depth`; the innermost branches read x and c of the top graph (scopes
 * up): then = Neg(x); every else branch is Identity(x). */
static AxleOnnx__GraphProto *if_chain(struct ob *m, int depth, int level,
                                      bool then_side)
{
    AxleOnnx__GraphProto *g = sub_new(m, then_side ? "then" : "else");
    char out[16], in[16];

    snprintf(out, sizeof(out), "y%d", level);
    snprintf(in, sizeof(in), "y%d", level + 1);
    if (!then_side) {
        sub_node(m, g, "Identity", 1, (const char *[]){"x"}, 1,
                 (const char *[]){out});
    } else if (level == depth) {
        sub_node(m, g, "Neg", 1, (const char *[]){"x"}, 1,
                 (const char *[]){out});
    } else {
        AxleOnnx__NodeProto *n = sub_node(m, g, "If", 1,
                                          (const char *[]){"c"}, 1,
                                          (const char *[]){in});
        attr_graph(m, n, "then_branch", if_chain(m, depth, level + 1, true));
        attr_graph(m, n, "else_branch", if_chain(m, depth, level + 1, false));
        sub_node(m, g, "Identity", 1, (const char *[]){in}, 1,
                 (const char *[]){out});
    }
    sub_output(m, g, out);
    return g;
}

static struct axle_model *load_ob(struct ob *b, struct axle_err *err,
                                  enum axle_status *st)
{
    size_t len;
    uint8_t *bytes = ob_pack(b, &len);
    struct axle_model *m = NULL;
    *st = axle_model_load_memory(bytes, len, NULL, &m, err);
    free(bytes);
    return m;
}

/* Top graph: y = If(c) { chain } else { Identity(x) }. */
static struct axle_model *nested_if_model(int depth, struct axle_err *err,
                                          enum axle_status *st)
{
    struct ob m;
    AxleOnnx__NodeProto *n;

    ob_init(&m, 13);
    ob_input(&m, "c", AXLE_DTYPE_BOOL, 0, NULL, NULL);
    ob_input(&m, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){3}, NULL);
    n = ob_node(&m, "If", "top", 1, (const char *[]){"c"}, 1,
                (const char *[]){"y1"});
    attr_graph(&m, n, "then_branch", if_chain(&m, depth, 2, true));
    attr_graph(&m, n, "else_branch", if_chain(&m, depth, 2, false));
    ob_output(&m, "y1");
    return load_ob(&m, err, st);
}

static void nested_if_reads_values_two_scopes_up(void **state)
{
    struct axle_err err = {0};
    enum axle_status st;
    struct axle_model *m = nested_if_model(4, &err, &st);
    struct axle_session *s;
    float x[3] = {1, -2, 3};
    uint8_t c = 1;
    struct axle_tensor in[2] = {
        {.dtype = AXLE_DTYPE_BOOL, .rank = 0, .data = &c},
        {.dtype = AXLE_DTYPE_FLOAT32, .rank = 1, .dims = {3}, .data = x},
    };
    struct axle_tensor out[1];

    (void)state;
    assert_int_equal(st, AXLE_OK);
    assert_int_equal(axle_model_n_inputs(m), 2);
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    assert_int_equal(axle_session_run(s, 2, in, 1, out, &err), AXLE_OK);
    assert_int_equal(out[0].rank, 1);
    assert_true(((float *)out[0].data)[1] == 2.0f); /* Neg at the bottom */
    c = 0;
    assert_int_equal(axle_session_run(s, 2, in, 1, out, &err), AXLE_OK);
    assert_true(((float *)out[0].data)[1] == -2.0f);
    axle_session_free(s);
    axle_model_unref(m);
}

static void subgraphs_nested_past_the_limit_fail_to_load(void **state)
{
    struct axle_err err = {0};
    enum axle_status st;
    struct axle_model *m = nested_if_model(12, &err, &st);

    (void)state;
    assert_null(m);
    assert_int_equal(st, AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "subgraphs nested deeper than"));
}

/* Loop(M, cond) carrying x through body x_out = x_in + 1, cond unchanged
 * (true): with M omitted the trip count is unbounded. */
static struct axle_model *loop_model(bool with_m, struct axle_err *err,
                                     enum axle_status *st)
{
    static const float one = 1;
    struct ob m;
    AxleOnnx__GraphProto *b;
    AxleOnnx__NodeProto *n;

    ob_init(&m, 13);
    ob_input(&m, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){1}, NULL);
    ob_input(&m, "m", AXLE_DTYPE_INT64, 0, NULL, NULL);
    ob_init_f32(&m, "one", 1, (int64_t[]){1}, &one);
    b = sub_new(&m, "body");
    sub_input(&m, b, "i", AXLE_DTYPE_INT64, 0, NULL);
    sub_input(&m, b, "cond_in", AXLE_DTYPE_BOOL, 0, NULL);
    sub_input(&m, b, "x_in", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){1});
    sub_node(&m, b, "Identity", 1, (const char *[]){"cond_in"}, 1,
             (const char *[]){"cond_out"});
    sub_node(&m, b, "Add", 2, (const char *[]){"x_in", "one"}, 1,
             (const char *[]){"x_out"});
    sub_output(&m, b, "cond_out");
    sub_output(&m, b, "x_out");
    n = ob_node(&m, "Loop", "loop", 3,
                (const char *[]){with_m ? "m" : "", "", "x"}, 1,
                (const char *[]){"y"});
    attr_graph(&m, n, "body", b);
    ob_output(&m, "y");
    return load_ob(&m, err, st);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void loop_counts_its_trip_and_stops_at_the_deadline(void **state)
{
    struct axle_err err = {0};
    enum axle_status st;
    struct axle_model *m;
    struct axle_session *s;
    float x = 0;
    int64_t trips = 5;
    struct axle_tensor in[2] = {
        {.dtype = AXLE_DTYPE_FLOAT32, .rank = 1, .dims = {1}, .data = &x},
        {.dtype = AXLE_DTYPE_INT64, .rank = 0, .data = &trips},
    };
    struct axle_tensor out[1];
    uint64_t t0;

    (void)state;
    m = loop_model(true, &err, &st);
    if (st != AXLE_OK)
        print_message("%s\n", err.msg);
    assert_int_equal(st, AXLE_OK);
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    assert_int_equal(axle_session_run(s, 2, in, 1, out, &err), AXLE_OK);
    assert_true(*(float *)out[0].data == 5.0f);
    axle_session_free(s);
    axle_model_unref(m);

    /* No M, cond never changes: only the deadline ends it. */
    m = loop_model(false, &err, &st);
    assert_int_equal(st, AXLE_OK);
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    t0 = now_ns();
    axle_session_set_deadline(s, t0 + 50 * 1000000u);
    assert_int_equal(axle_session_run(s, 2, in, 1, out, &err),
                     AXLE_DEADLINE_EXCEEDED);
    assert_non_null(strstr(err.msg, "deadline exceeded"));
    assert_true(now_ns() - t0 < 5000u * 1000000u);
    /* Without a deadline the iteration cap ends it. */
    axle_session_set_deadline(s, 0);
    assert_int_equal(axle_session_run(s, 2, in, 1, out, &err),
                     AXLE_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(err.msg, "loop stopped after"));
    axle_session_free(s);
    axle_model_unref(m);
}

struct loop_thread {
    struct axle_model *m;
    int ok;
};

static void *loop_worker(void *p)
{
    struct loop_thread *t = p;
    struct axle_session *s;
    struct axle_err err;
    struct axle_session_opts so = {.n_threads = 1};

    if (axle_session_new(t->m, &so, &s, &err) != AXLE_OK)
        return NULL;
    t->ok = 1;
    for (int64_t r = 0; r < 200 && t->ok; r++) {
        float x = (float)r;
        int64_t trips = r % 7;
        struct axle_tensor in[2] = {
            {.dtype = AXLE_DTYPE_FLOAT32, .rank = 1, .dims = {1}, .data = &x},
            {.dtype = AXLE_DTYPE_INT64, .rank = 0, .data = &trips},
        };
        struct axle_tensor out[1];
        t->ok = axle_session_run(s, 2, in, 1, out, &err) == AXLE_OK &&
                *(float *)out[0].data == (float)(r + r % 7);
    }
    axle_session_free(s);
    return NULL;
}

/* Sessions of one model run its Loop at the same time: the nested model is
 * shared, each session's nested session and carried buffers are its own. */
static void concurrent_sessions_run_one_loop_model(void **state)
{
    struct axle_err err = {0};
    enum axle_status st;
    struct loop_thread t[4];
    pthread_t th[4];
    struct axle_model *m = loop_model(true, &err, &st);

    (void)state;
    assert_int_equal(st, AXLE_OK);
    for (int i = 0; i < 4; i++) {
        t[i] = (struct loop_thread){.m = m};
        assert_int_equal(pthread_create(&th[i], NULL, loop_worker, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(t[i].ok);
    }
    axle_model_unref(m);
}

/* x[2,3] -> SplitToSequence(split [1,2], axis 1) -> s (an output), its
 * SequenceErase(-1) length, ConcatFromSequence(axis 1) == x, and
 * SplitToSequence(keepdims 0) -> ConcatFromSequence(new_axis 1) == x. */
static void split_concat_and_erase_round_trip(void **state)
{
    static const int64_t split[2] = {1, 2}, minus1 = -1;
    struct ob b;
    AxleOnnx__NodeProto *n;
    struct axle_err err = {0};
    enum axle_status st;
    struct axle_model *m;
    struct axle_session *s;
    float x[6] = {1, 2, 3, 4, 5, 6};
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2,
                             .dims = {2, 3}, .data = x};
    struct axle_tensor out[4];
    struct axle_io_info io;

    (void)state;
    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 2, (int64_t[]){2, 3}, NULL);
    ob_init_raw(&b, "split", AXLE_DTYPE_INT64, 1, (int64_t[]){2}, split,
                sizeof(split));
    ob_init_raw(&b, "last", AXLE_DTYPE_INT64, 0, (int64_t[]){0}, &minus1,
                sizeof(minus1));
    n = ob_node(&b, "SplitToSequence", "sp", 2,
                (const char *[]){"x", "split"}, 1, (const char *[]){"s"});
    ob_attr_int(&b, n, "axis", 1);
    ob_node(&b, "SequenceErase", "er", 2, (const char *[]){"s", "last"}, 1,
            (const char *[]){"s2"});
    ob_node(&b, "SequenceLength", "len", 1, (const char *[]){"s2"}, 1,
            (const char *[]){"n"});
    n = ob_node(&b, "ConcatFromSequence", "cat", 1, (const char *[]){"s"}, 1,
                (const char *[]){"y"});
    ob_attr_int(&b, n, "axis", 1);
    n = ob_node(&b, "SplitToSequence", "sp1", 1, (const char *[]){"x"}, 1,
                (const char *[]){"s3"});
    ob_attr_int(&b, n, "axis", 1);
    ob_attr_int(&b, n, "keepdims", 0);
    n = ob_node(&b, "ConcatFromSequence", "stack", 1,
                (const char *[]){"s3"}, 1, (const char *[]){"z"});
    ob_attr_int(&b, n, "axis", 1);
    ob_attr_int(&b, n, "new_axis", 1);
    ob_output(&b, "s");
    ob_output(&b, "n");
    ob_output(&b, "y");
    ob_output(&b, "z");
    m = load_ob(&b, &err, &st);
    assert_int_equal(st, AXLE_OK);
    assert_int_equal(axle_model_output(m, 0, &io), AXLE_OK);
    assert_int_equal(io.kind, AXLE_KIND_SEQUENCE);
    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(axle_session_run(s, 1, &in, 4, out, &err), AXLE_OK);
        assert_int_equal(out[0].kind, AXLE_KIND_SEQUENCE);
        assert_int_equal(out[0].n_items, 2);
        assert_int_equal(out[0].items[1].rank, 2);
        assert_int_equal(out[0].items[1].dims[1], 2);
        assert_true(((float *)out[0].items[1].data)[2] == 5.0f);
        assert_int_equal(*(int64_t *)out[1].data, 1);
        assert_memory_equal(out[2].data, x, sizeof(x));
        assert_int_equal(out[3].rank, 2);
        assert_int_equal(out[3].dims[0], 2);
        assert_int_equal(out[3].dims[1], 3);
        assert_memory_equal(out[3].data, x, sizeof(x));
    }
    axle_session_free(s);
    axle_model_unref(m);
}

/* A sequence fed to a tensor operator is a load error, not a crash. */
static void tensor_ops_refuse_sequences(void **state)
{
    struct ob b;
    struct axle_err err = {0};
    enum axle_status st;
    struct axle_model *m;

    (void)state;
    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){3}, NULL);
    ob_node(&b, "SequenceConstruct", "sc", 1, (const char *[]){"x"}, 1,
            (const char *[]){"s"});
    ob_node(&b, "Relu", "relu", 1, (const char *[]){"s"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    m = load_ob(&b, &err, &st);
    assert_null(m);
    assert_int_equal(st, AXLE_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "is a sequence; Relu takes tensors"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nested_if_reads_values_two_scopes_up),
        cmocka_unit_test(subgraphs_nested_past_the_limit_fail_to_load),
        cmocka_unit_test(loop_counts_its_trip_and_stops_at_the_deadline),
        cmocka_unit_test(split_concat_and_erase_round_trip),
        cmocka_unit_test(tensor_ops_refuse_sequences),
        cmocka_unit_test(concurrent_sessions_run_one_loop_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
