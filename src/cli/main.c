/*
 * main.c - the axle command line: dispatch to subcommands, --help and
 * --version. The only place in the project that exits the process.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct subcommand {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"run", axle_cmd_run, "run a model once on .npy inputs, write .npy outputs"},
    {"inspect", axle_cmd_inspect, "describe a model: inputs, outputs, ops, size"},
    {"serve", axle_cmd_serve, "serve models over HTTP (Open Inference Protocol, KServe V1)"},
    {"profile", axle_cmd_profile, "reference profile of training data for drift detection"},
    {"bench", axle_cmd_bench, "load-test a model server: open- or closed-loop, latency percentiles"},
    {"log", axle_cmd_log, "read a prediction log: `axle log cat DIR` prints it as JSON Lines"},
    {"pack", axle_cmd_pack, "build a container image (OCI or docker-archive) of axle and models"},
    {"deploy", axle_cmd_deploy, "write Kubernetes or KServe manifests: `axle deploy k8s PATH|IMAGE`"},
};

#define N_SUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
    fprintf(f,
            "usage: axle [--help] [--version] COMMAND [ARGS]\n"
            "\n"
            "axle loads trained models (ONNX), runs them on its own engine and serves\n"
            "them over HTTP.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\n'axle COMMAND --help' describes a command.\n");
}

int axle_cli_exit_code(enum axle_status st)
{
    switch (st) {
    case AXLE_OK:
        return AXLE_EXIT_OK;
    case AXLE_INVALID_ARGUMENT: case AXLE_NOT_FOUND: case AXLE_UNIMPLEMENTED:
    case AXLE_OUT_OF_RANGE: case AXLE_FAILED_PRECONDITION:
    case AXLE_RESOURCE_EXHAUSTED: case AXLE_PERMISSION_DENIED:
        return AXLE_EXIT_USAGE;
    default:
        return AXLE_EXIT_FAIL;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return AXLE_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return AXLE_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("axle %s\n", axle_version());
        return AXLE_EXIT_OK;
    }
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "axle: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return AXLE_EXIT_USAGE;
}
