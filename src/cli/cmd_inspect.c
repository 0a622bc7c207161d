/*
 * cmd_inspect.c - `axle inspect MODEL [--json]`: format, producer, opsets,
 * inputs and outputs (symbolic dims by name), operator histogram, parameter
 * count and bytes, estimated FLOPs per sample. `axle inspect --ops` lists
 * the operators this build implements instead.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/stats.h"
#include "ir/op.h"

struct op_count {
    const char *name;
    int n;
};

static void inspect_usage(FILE *f)
{
    fprintf(f,
        "usage: axle inspect MODEL [--json]\n"
        "       axle inspect --ops\n"
        "\n"
        "Describes a model file: format, producer, opsets, inputs and outputs\n"
        "(dtype and shape, dynamic dims by name), operator histogram,\n"
        "parameter count and bytes, estimated FLOPs per sample (batch 1).\n"
        "\n"
        "  --json   one JSON object on stdout\n"
        "  --ops    list the operators axle implements (DOMAIN<TAB>NAME, one\n"
        "           per line; the default ONNX domain prints as ai.onnx)\n"
        "  --help   this text\n");
}

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static int histogram(const struct axle_graph *g, struct op_count *ops)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        int k;
        for (k = 0; k < n; k++)
            if (strcmp(ops[k].name, g->nodes[i].op_type) == 0)
                break;
        if (k == n) {
            ops[n].name = g->nodes[i].op_type;
            ops[n++].n = 0;
        }
        ops[k].n++;
    }
    return n;
}

static void print_io_json(const struct axle_io_info *io)
{
    printf("{\"name\":");
    json_str(io->name);
    printf(",\"dtype\":\"%s\",\"shape\":", axle_dtype_name(io->dtype));
    if (io->kind != AXLE_KIND_TENSOR) {
        printf("null,\"kind\":\"%s\"}", io->kind == AXLE_KIND_SEQUENCE
                                              ? "sequence" : "optional");
        return;
    }
    if (io->rank < 0) {
        printf("null}");
        return;
    }
    putchar('[');
    for (int d = 0; d < io->rank; d++) {
        if (d)
            putchar(',');
        if (io->dims[d] >= 0)
            printf("%lld", (long long)io->dims[d]);
        else if (io->dim_names[d])
            json_str(io->dim_names[d]);
        else
            printf("null");
    }
    printf("]}");
}

static void print_io_text(const char *kind, const struct axle_io_info *io)
{
    if (io->kind != AXLE_KIND_TENSOR) {
        printf("  %s %s %s(%s)\n", kind, io->name,
               io->kind == AXLE_KIND_SEQUENCE ? "sequence" : "optional",
               axle_dtype_name(io->dtype));
        return;
    }
    printf("  %s %s %s[", kind, io->name, axle_dtype_name(io->dtype));
    for (int d = 0; d < io->rank; d++) {
        if (d)
            putchar(',');
        if (io->dims[d] >= 0)
            printf("%lld", (long long)io->dims[d]);
        else
            printf("%s", io->dim_names[d] ? io->dim_names[d] : "?");
    }
    printf("%s\n", io->rank < 0 ? "?]" : "]");
}

static void print_op(const struct axle_op *op, void *ctx)
{
    (void)ctx;
    printf("%s\t%s\n", op->domain[0] ? op->domain : "ai.onnx", op->name);
}

int axle_cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"ops", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct axle_load_opts lo = {.no_optimize = 1};
    struct axle_model *m = NULL;
    struct axle_model_stats stats;
    struct axle_err err = {0};
    struct op_count *ops;
    const struct axle_ir_model *ir;
    enum axle_status st;
    int json = 0, list_ops = 0, c, n_ops;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'o': list_ops = 1; break;
        case 'h': inspect_usage(stdout); return AXLE_EXIT_OK;
        default: inspect_usage(stderr); return AXLE_EXIT_USAGE;
        }
    }
    if (list_ops && optind == argc) {
        axle_op_foreach(print_op, NULL);
        return AXLE_EXIT_OK;
    }
    if (list_ops || optind != argc - 1) {
        inspect_usage(stderr);
        return AXLE_EXIT_USAGE;
    }
    st = axle_model_load_file(argv[optind], &lo, &m, &err);
    if (st != AXLE_OK) {
        fprintf(stderr, "axle inspect: %s: %s\n", argv[optind], err.msg);
        return axle_cli_exit_code(st);
    }
    ir = m->ir;
    ops = axle_xcalloc((size_t)ir->graph->n_nodes + 1, sizeof(*ops));
    n_ops = histogram(ir->graph, ops);
    axle_engine_stats(m, &stats);

    if (json) {
        printf("{\"format\":");
        json_str(ir->format);
        printf(",\"producer\":");
        json_str(ir->producer_name);
        printf(",\"producer_version\":");
        json_str(ir->producer_version);
        printf(",\"ir_version\":%lld,\"opsets\":{", (long long)ir->ir_version);
        for (int i = 0; i < ir->n_opsets; i++) {
            if (i)
                putchar(',');
            json_str(ir->opsets[i].domain[0] ? ir->opsets[i].domain
                                             : "ai.onnx");
            printf(":%lld", (long long)ir->opsets[i].version);
        }
        printf("},\"inputs\":[");
        for (int i = 0; i < m->n_inputs; i++) {
            if (i)
                putchar(',');
            print_io_json(&m->inputs[i]);
        }
        printf("],\"outputs\":[");
        for (int i = 0; i < m->n_outputs; i++) {
            if (i)
                putchar(',');
            print_io_json(&m->outputs[i]);
        }
        printf("],\"ops\":{");
        for (int i = 0; i < n_ops; i++) {
            if (i)
                putchar(',');
            json_str(ops[i].name);
            printf(":%d", ops[i].n);
        }
        printf("},\"nodes\":%d,\"params\":%lld,\"param_bytes\":%lld,"
               "\"flops\":", ir->graph->n_nodes, (long long)stats.params,
               (long long)stats.param_bytes);
        if (stats.flops >= 0)
            printf("%lld}\n", (long long)stats.flops);
        else
            printf("null}\n");
    } else {
        printf("format:     %s (ir_version %lld)\n", ir->format,
               (long long)ir->ir_version);
        printf("producer:   %s %s\n", ir->producer_name, ir->producer_version);
        printf("opsets:    ");
        for (int i = 0; i < ir->n_opsets; i++)
            printf(" %s=%lld", ir->opsets[i].domain[0] ? ir->opsets[i].domain
                                                       : "ai.onnx",
                   (long long)ir->opsets[i].version);
        printf("\ninputs and outputs:\n");
        for (int i = 0; i < m->n_inputs; i++)
            print_io_text("input ", &m->inputs[i]);
        for (int i = 0; i < m->n_outputs; i++)
            print_io_text("output", &m->outputs[i]);
        printf("operators (%d nodes):\n", ir->graph->n_nodes);
        for (int i = 0; i < n_ops; i++)
            printf("  %-24s %d\n", ops[i].name, ops[i].n);
        printf("parameters: %lld (%.2f MB)\n", (long long)stats.params,
               (double)stats.param_bytes / 1e6);
        if (stats.flops >= 0)
            printf("flops:      %.4g per sample\n", (double)stats.flops);
        else
            printf("flops:      unknown (shapes depend on input values)\n");
    }
    axle_free(ops);
    axle_model_unref(m);
    return AXLE_EXIT_OK;
}
