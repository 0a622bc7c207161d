/*
 * cli.h - subcommands of the axle binary and helpers they share.
 *
 * Exit statuses: 0 success, 1 internal failure, 2 bad usage or bad input
 * (a model that does not load, an input of the wrong shape, ...).
 */
#ifndef AXLE_CLI_H
#define AXLE_CLI_H

#include "axle/axle.h"

#define AXLE_EXIT_OK 0
#define AXLE_EXIT_FAIL 1
#define AXLE_EXIT_USAGE 2

int axle_cmd_run(int argc, char **argv);
int axle_cmd_inspect(int argc, char **argv);
int axle_cmd_serve(int argc, char **argv);
int axle_cmd_bench(int argc, char **argv);
int axle_cmd_log(int argc, char **argv);
int axle_cmd_pack(int argc, char **argv);
int axle_cmd_deploy(int argc, char **argv);
int axle_cmd_profile(int argc, char **argv);

/* NumPy .npy I/O (npy.c). */
enum axle_status axle_npy_read(const char *path, struct axle_tensor **out,
                               struct axle_err *err);
enum axle_status axle_npy_write(const char *path, const struct axle_tensor *t,
                                struct axle_err *err);

/* Status -> exit code: input/model problems are 2, the rest 1. */
int axle_cli_exit_code(enum axle_status st);

#endif
