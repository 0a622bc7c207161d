/*
 * test_fuse.c - load-time fusions (engine/fuse.c) through real model loads:
 * Conv+BatchNormalization(+Relu) folds into one Conv, MatMul+Add(bias)+
 * Sigmoid and Gemm+Add+Clip become one node with a bias epilogue and a
 * fused activation, Conv+Add(residual)+Relu one Conv with the residual as
 * a fourth input, and the results still match a double-precision
 * reference; values that are graph outputs, have two consumers or feed
 * non-constant parameters are left alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "axle/axle.h"
#include "engine/engine.h"
#include "ir/op.h"
#include "kernel_fixture.h"
#include "onnx_builder.h"

static struct axle_model *load_ob(struct ob *b)
{
    struct axle_model *m = NULL;
    struct axle_err err = {0};
    size_t len;
    uint8_t *bytes = ob_pack(b, &len);
    enum axle_status st = axle_model_load_memory(bytes, len, NULL, &m, &err);
    free(bytes);
    if (st != AXLE_OK)
        print_error("load: %s\n", err.msg);
    assert_int_equal(st, AXLE_OK);
    return m;
}

static const struct axle_graph *graph_of(const struct axle_model *m)
{
    return m->ir->graph;
}

static int count_op(const struct axle_graph *g, const char *op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && strcmp(g->nodes[i].op_type, op) == 0)
            n++;
    return n;
}

static const struct axle_node *find_op(const struct axle_graph *g,
                                       const char *op)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && strcmp(g->nodes[i].op_type, op) == 0)
            return &g->nodes[i];
    return NULL;
}

static float *run1(struct axle_model *m, struct axle_tensor *in,
                   struct axle_tensor *out)
{
    struct axle_session *s = NULL;
    struct axle_err err = {0};
    float *copy;
    size_t n;

    assert_int_equal(axle_session_new(m, NULL, &s, &err), AXLE_OK);
    assert_int_equal(axle_session_run(s, 1, in, 1, out, &err), AXLE_OK);
    n = 1;
    for (int i = 0; i < out->rank; i++)
        n *= (size_t)out->dims[i];
    copy = malloc(n * sizeof(float) + 4);
    memcpy(copy, out->data, n * sizeof(float));
    axle_session_free(s);
    return copy;
}

/* x [1, 2, 4, 4] -> Conv 3x3 (2 -> 3, bias) -> BN -> Relu */
static void build_conv_bn_relu(struct ob *b, bool conv_out_is_output,
                               bool scale_is_input)
{
    static float w[3 * 2 * 9], bias[3] = {0.1f, -0.2f, 0.3f};
    static const float sc[3] = {1.5f, -0.5f, 2.0f}, be[3] = {0.1f, 0, -1};
    static const float mu[3] = {0.2f, -0.1f, 0}, var[3] = {1, 0.25f, 4};
    for (int i = 0; i < 54; i++)
        w[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    ob_init(b, 13);
    ob_input(b, "x", AXLE_DTYPE_FLOAT32, 4, (int64_t[]){1, 2, 4, 4}, NULL);
    ob_init_f32(b, "w", 4, (int64_t[]){3, 2, 3, 3}, w);
    ob_init_f32(b, "b", 1, (int64_t[]){3}, bias);
    if (scale_is_input)
        ob_input(b, "scale", AXLE_DTYPE_FLOAT32, 1, (int64_t[]){3}, NULL);
    else
        ob_init_f32(b, "scale", 1, (int64_t[]){3}, sc);
    ob_init_f32(b, "beta", 1, (int64_t[]){3}, be);
    ob_init_f32(b, "mean", 1, (int64_t[]){3}, mu);
    ob_init_f32(b, "var", 1, (int64_t[]){3}, var);
    ob_node(b, "Conv", "conv", 3, (const char *[]){"x", "w", "b"}, 1,
            (const char *[]){"c"});
    ob_node(b, "BatchNormalization", "bn", 5,
            (const char *[]){"c", "scale", "beta", "mean", "var"}, 1,
            (const char *[]){"n"});
    ob_node(b, "Relu", "relu", 1, (const char *[]){"n"}, 1,
            (const char *[]){"y"});
    ob_output(b, "y");
    if (conv_out_is_output)
        ob_output(b, "c");
}

static void conv_bn_relu_becomes_one_conv(void **st)
{
    struct ob b;
    struct axle_model *m;
    const struct axle_node *conv;
    float x[32], *y;
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 4,
                             .dims = {1, 2, 4, 4}, .data = x};
    struct axle_tensor out;
    static const float sc[3] = {1.5f, -0.5f, 2.0f}, be[3] = {0.1f, 0, -1};
    static const float mu[3] = {0.2f, -0.1f, 0}, var[3] = {1, 0.25f, 4};
    static const float bias[3] = {0.1f, -0.2f, 0.3f};
    (void)st;

    build_conv_bn_relu(&b, false, false);
    m = load_ob(&b);
    assert_int_equal(graph_of(m)->n_nodes, 1);
    conv = find_op(graph_of(m), "Conv");
    assert_non_null(conv);
    assert_int_equal(conv->fused_act, AXLE_ACT_RELU);
    for (int i = 0; i < 32; i++)
        x[i] = (float)((i * 5) % 13) / 6.0f - 1.0f;
    y = run1(m, &in, &out);
    assert_int_equal(out.dims[1], 3);
    assert_int_equal(out.dims[2], 2);
    for (int co = 0; co < 3; co++)
        for (int oh = 0; oh < 2; oh++)
            for (int ow = 0; ow < 2; ow++) {
                double acc = bias[co];
                for (int ci = 0; ci < 2; ci++)
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            int wi = ((co * 2 + ci) * 3 + kh) * 3 + kw;
                            double wv = (double)((wi * 7) % 11) / 11.0 - 0.5;
                            acc += wv * x[(ci * 4 + oh + kh) * 4 + ow + kw];
                        }
                acc = (acc - mu[co]) / sqrt(var[co] + 1e-5) * sc[co] +
                      be[co];
                near(y[(co * 2 + oh) * 2 + ow], acc > 0 ? acc : 0, 1e-5);
            }
    free(y);
    axle_model_unref(m);
}

static void conv_output_used_elsewhere_is_not_fused(void **st)
{
    struct ob b;
    struct axle_model *m;
    (void)st;

    /* The conv result is also a graph output: BN must stay. */
    build_conv_bn_relu(&b, true, false);
    m = load_ob(&b);
    assert_int_equal(count_op(graph_of(m), "BatchNormalization"), 1);
    assert_int_equal(find_op(graph_of(m), "Conv")->fused_act,
                     AXLE_ACT_NONE);
    axle_model_unref(m);

    /* BN's scale is a graph input, not a constant: no fold, but the Relu
     * after BN has nothing to fuse into either. */
    build_conv_bn_relu(&b, false, true);
    m = load_ob(&b);
    assert_int_equal(count_op(graph_of(m), "BatchNormalization"), 1);
    assert_int_equal(count_op(graph_of(m), "Relu"), 1);
    axle_model_unref(m);
}

/* x [1, 2, 4, 4] -> Conv 1x1 (2 -> 2, no bias) -> Add(c, other) -> Relu.
 * other: "x" (computed, the conv output's shape: fused as the residual),
 * "xc" (a full-shape constant: not fused), "xb" ([1, 2, 1, 4] graph input,
 * broadcast: not fused); `conv_out_is_output` keeps the Add apart too. */
static void build_conv_add_relu(struct ob *b, const char *other,
                                bool conv_out_is_output)
{
    static float w[4] = {0.5f, -1.0f, 0.75f, 0.25f}, xc[32];
    for (int i = 0; i < 32; i++)
        xc[i] = (float)(i % 7) / 7.0f - 0.5f;
    ob_init(b, 13);
    ob_input(b, "x", AXLE_DTYPE_FLOAT32, 4, (int64_t[]){1, 2, 4, 4}, NULL);
    if (strcmp(other, "xb") == 0)
        ob_input(b, "xb", AXLE_DTYPE_FLOAT32, 4, (int64_t[]){1, 2, 1, 4},
                 NULL);
    ob_init_f32(b, "w", 4, (int64_t[]){2, 2, 1, 1}, w);
    if (strcmp(other, "xc") == 0)
        ob_init_f32(b, "xc", 4, (int64_t[]){1, 2, 4, 4}, xc);
    ob_node(b, "Conv", "conv", 2, (const char *[]){"x", "w"}, 1,
            (const char *[]){"c"});
    ob_node(b, "Add", "add", 2, (const char *[]){other, "c"}, 1,
            (const char *[]){"s"});
    ob_node(b, "Relu", "relu", 1, (const char *[]){"s"}, 1,
            (const char *[]){"y"});
    ob_output(b, "y");
    if (conv_out_is_output)
        ob_output(b, "c");
}

static void conv_residual_add_relu_fuses(void **st)
{
    static const float w[4] = {0.5f, -1.0f, 0.75f, 0.25f};
    struct ob b;
    struct axle_model *m;
    const struct axle_node *conv;
    float x[32], *y;
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 4,
                             .dims = {1, 2, 4, 4}, .data = x};
    struct axle_tensor out;
    (void)st;

    /* on: one Conv with the residual as its fourth input and the Relu */
    build_conv_add_relu(&b, "x", false);
    m = load_ob(&b);
    assert_int_equal(graph_of(m)->n_nodes, 1);
    conv = find_op(graph_of(m), "Conv");
    assert_non_null(conv);
    assert_int_equal(conv->n_inputs, 4);
    assert_int_equal(conv->fused_act, AXLE_ACT_RELU);
    for (int i = 0; i < 32; i++)
        x[i] = (float)((i * 5) % 13) / 6.0f - 1.0f;
    y = run1(m, &in, &out);
    for (int co = 0; co < 2; co++)
        for (int p = 0; p < 16; p++) {
            double acc = (double)w[co * 2] * x[p] +
                         (double)w[co * 2 + 1] * x[16 + p] + x[co * 16 + p];
            near(y[co * 16 + p], acc > 0 ? acc : 0, 1e-5);
        }
    free(y);
    axle_model_unref(m);

    /* off: a constant other operand, a broadcast one, a conv output that
     * is also a graph output */
    build_conv_add_relu(&b, "xc", false);
    m = load_ob(&b);
    assert_int_equal(count_op(graph_of(m), "Add"), 1);
    assert_int_equal(find_op(graph_of(m), "Conv")->n_inputs, 2);
    y = run1(m, &in, &out);
    for (int co = 0; co < 2; co++)
        for (int p = 0; p < 16; p++) {
            double acc = (double)w[co * 2] * x[p] +
                         (double)w[co * 2 + 1] * x[16 + p] +
                         ((double)((co * 16 + p) % 7) / 7.0 - 0.5);
            near(y[co * 16 + p], acc > 0 ? acc : 0, 1e-5);
        }
    free(y);
    axle_model_unref(m);
    build_conv_add_relu(&b, "xb", false);
    m = load_ob(&b);
    assert_int_equal(count_op(graph_of(m), "Add"), 1);
    assert_int_equal(find_op(graph_of(m), "Conv")->n_inputs, 2);
    axle_model_unref(m);
    build_conv_add_relu(&b, "x", true);
    m = load_ob(&b);
    assert_int_equal(count_op(graph_of(m), "Add"), 1);
    assert_int_equal(count_op(graph_of(m), "Relu"), 1);
    axle_model_unref(m);
}

/* x [2, 3] -> MatMul w [3, 4] -> Add b [4] -> act; the MatMul result feeds
 * a second consumer when `twice`. */
static void matmul_add_sigmoid_fuses(void **st)
{
    static const float w[12] = {1, -1, 0.5f, 2, 0, 1, -2, 1, 0.25f, 1, 1, -1};
    static const float bias[4] = {0.5f, -0.5f, 1, 0};
    float x[6] = {1, 2, -1, 0.5f, -2, 3}, *y;
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2,
                             .dims = {2, 3}, .data = x};
    struct axle_tensor out;
    struct ob b;
    struct axle_model *m;
    const struct axle_node *mm;
    (void)st;

    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 2, (int64_t[]){-1, 3}, "N");
    ob_init_f32(&b, "w", 2, (int64_t[]){3, 4}, w);
    ob_init_f32(&b, "b", 1, (int64_t[]){4}, bias);
    ob_node(&b, "MatMul", "mm", 2, (const char *[]){"x", "w"}, 1,
            (const char *[]){"xw"});
    ob_node(&b, "Add", "add", 2, (const char *[]){"b", "xw"}, 1,
            (const char *[]){"xwb"});
    ob_node(&b, "Sigmoid", "sig", 1, (const char *[]){"xwb"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    m = load_ob(&b);
    assert_int_equal(graph_of(m)->n_nodes, 1);
    mm = find_op(graph_of(m), "MatMul");
    assert_non_null(mm);
    assert_int_equal(mm->n_inputs, 3);
    assert_int_equal(mm->fused_act, AXLE_ACT_SIGMOID);
    y = run1(m, &in, &out);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 4; c++) {
            double acc = bias[c];
            for (int k = 0; k < 3; k++)
                acc += (double)x[r * 3 + k] * w[k * 4 + c];
            near(y[r * 4 + c], 1.0 / (1.0 + exp(-acc)), 1e-6);
        }
    free(y);
    axle_model_unref(m);

    /* Two consumers of the MatMul result: nothing fuses. */
    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 2, (int64_t[]){-1, 3}, "N");
    ob_init_f32(&b, "w", 2, (int64_t[]){3, 4}, w);
    ob_init_f32(&b, "b", 1, (int64_t[]){4}, bias);
    ob_node(&b, "MatMul", "mm", 2, (const char *[]){"x", "w"}, 1,
            (const char *[]){"xw"});
    ob_node(&b, "Add", "add", 2, (const char *[]){"xw", "b"}, 1,
            (const char *[]){"xwb"});
    ob_node(&b, "Add", "add2", 2, (const char *[]){"xwb", "xw"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    m = load_ob(&b);
    assert_int_equal(count_op(graph_of(m), "Add"), 2);
    assert_int_equal(find_op(graph_of(m), "MatMul")->n_inputs, 2);
    axle_model_unref(m);
}

static void gemm_add_clip_fuses_with_constant_bounds(void **st)
{
    static const float w[6] = {1, -1, 2, 0.5f, -3, 1};
    static const float bias[3] = {0.25f, -0.5f, 1};
    static const float lo[1] = {-0.5f}, hi[1] = {1.5f};
    float x[4] = {1, -2, 0.5f, 3}, *y;
    struct axle_tensor in = {.dtype = AXLE_DTYPE_FLOAT32, .rank = 2,
                             .dims = {2, 2}, .data = x};
    struct axle_tensor out;
    struct ob b;
    struct axle_model *m;
    const struct axle_node *gm;
    (void)st;

    ob_init(&b, 13);
    ob_input(&b, "x", AXLE_DTYPE_FLOAT32, 2, (int64_t[]){2, 2}, NULL);
    ob_init_f32(&b, "w", 2, (int64_t[]){2, 3}, w);
    ob_init_f32(&b, "b", 2, (int64_t[]){1, 3}, bias);
    ob_init_f32(&b, "lo", 0, (int64_t[]){1}, lo);
    ob_init_f32(&b, "hi", 0, (int64_t[]){1}, hi);
    ob_node(&b, "Gemm", "gemm", 2, (const char *[]){"x", "w"}, 1,
            (const char *[]){"g"});
    ob_node(&b, "Add", "add", 2, (const char *[]){"g", "b"}, 1,
            (const char *[]){"gb"});
    ob_node(&b, "Clip", "clip", 3, (const char *[]){"gb", "lo", "hi"}, 1,
            (const char *[]){"y"});
    ob_output(&b, "y");
    m = load_ob(&b);
    assert_int_equal(graph_of(m)->n_nodes, 1);
    gm = find_op(graph_of(m), "Gemm");
    assert_non_null(gm);
    assert_int_equal(gm->fused_act, AXLE_ACT_CLIP);
    near(gm->fused_alpha, -0.5, 0);
    near(gm->fused_beta, 1.5, 0);
    y = run1(m, &in, &out);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++) {
            double acc = bias[c];
            for (int k = 0; k < 2; k++)
                acc += (double)x[r * 2 + k] * w[k * 3 + c];
            acc = acc < -0.5 ? -0.5 : acc > 1.5 ? 1.5 : acc;
            near(y[r * 3 + c], acc, 1e-6);
        }
    free(y);
    axle_model_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_bn_relu_becomes_one_conv),
        cmocka_unit_test(conv_output_used_elsewhere_is_not_fused),
        cmocka_unit_test(conv_residual_add_relu_fuses),
        cmocka_unit_test(matmul_add_sigmoid_fuses),
        cmocka_unit_test(gemm_add_clip_fuses_with_constant_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
