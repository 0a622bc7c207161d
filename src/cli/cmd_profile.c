/*
 * cmd_profile.c - `axle profile MODEL --data FILE -o PROFILE [--bins K]
 * [--input NAME] [--header|--no-header]`: the reference profile for drift
 * detection (docs/monitoring.md, "Reference profiles"), from training data
 * in CSV or .npy.
 *
 * The model names the input the profile is for and fixes its feature
 * count; the reading and binning are serve/profile.c. The profile is
 * written to a temporary file beside PROFILE, read back through
 * drift_profile_parse() -- the parser the server uses -- and only then
 * renamed into place, so a server polling the repository never sees a
 * half-written or unreadable profile.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "cli/cli.h"
#include "ir/tensor.h"
#include "serve/buf.h"
#include "serve/drift.h"
#include "serve/profile.h"

static void profile_usage(FILE *f)
{
    fprintf(f,
        "usage: axle profile MODEL --data FILE -o PROFILE [options]\n"
        "\n"
        "Writes the reference profile that `axle serve` compares live inputs\n"
        "against for drift (config.json: \"monitoring\": {\"profile\": ...}): per\n"
        "feature, quantile bin edges and the share of the training rows in each\n"
        "bin and missing.\n"
        "\n"
        "  --data FILE       training data: CSV (numbers, comma separated, an\n"
        "                    optional header row; empty or nan = missing) or a\n"
        "                    2-D float32/float64 .npy array [rows, features]\n"
        "  -o, --output FILE where to write the profile (JSON)\n"
        "  --bins K          quantile bins per feature, %d..%d (default %d);\n"
        "                    features with few distinct values get fewer\n"
        "  --input NAME      the model input to profile (default: its only\n"
        "                    float input)\n"
        "  --header          the CSV's first row is a header (feature names)\n"
        "  --no-header       it is data (default: a header when any of its\n"
        "                    fields is not a number)\n"
        "  --help            this text\n"
        "\n"
        "Feature names come from the CSV header, else f0, f1, ...; the data's\n"
        "columns must match the input's last dimension. Infinite values are\n"
        "rejected. Limits: %zu MiB of data, %lld rows, %d features.\n"
        "\n"
        "Exit status: 0 ok, 2 bad model, data or usage, 1 other failure.\n",
        DRIFT_MIN_BINS, DRIFT_MAX_BINS, PROFILE_DEFAULT_BINS, PROFILE_MAX_FILE_BYTES >> 20,
        (long long)PROFILE_MAX_ROWS, DRIFT_MAX_FEATURES);
}

/* The whole of a regular file of at most max bytes, NUL-terminated. */
static enum axle_status read_all(const char *path, size_t max, char **out, size_t *len,
                                 struct axle_err *err)
{
    struct stat sb;
    enum axle_status st = AXLE_OK;
    char *text = NULL;
    FILE *f;

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL)
        return axle_err_set(err, AXLE_NOT_FOUND, "cannot open '%.200s': %s", path,
                            strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "'%.200s' is not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > max) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "'%.200s' is %lld bytes, more than the limit of %zu", path,
                          (long long)sb.st_size, max);
        goto out;
    }
    *len = (size_t)sb.st_size;
    text = axle_try_malloc(*len + 1);
    if (text == NULL) {
        st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory reading '%.200s'",
                          path);
        goto out;
    }
    if (fread(text, 1, *len, f) != *len) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "cannot read '%.200s'", path);
        goto out;
    }
    text[*len] = '\0';
    *out = text;
    text = NULL;
out:
    axle_free(text);
    fclose(f);
    return st;
}

static int is_npy(const char *path)
{
    char magic[6];
    size_t n = strlen(path), got;
    FILE *f;
    if (n >= 4 && strcmp(path + n - 4, ".npy") == 0)
        return 1;
    f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    got = fread(magic, 1, sizeof(magic), f);
    fclose(f);
    return got == sizeof(magic) && memcmp(magic, "\x93NUMPY", 6) == 0;
}

static enum axle_status load_npy(const char *path, struct profile_data *d, struct axle_err *err)
{
    struct axle_tensor *t = NULL;
    struct stat sb;
    enum axle_status st;

    if (stat(path, &sb) == 0 && (uint64_t)sb.st_size > PROFILE_MAX_FILE_BYTES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "'%.200s' is %lld bytes, more than the limit of %zu", path,
                            (long long)sb.st_size, PROFILE_MAX_FILE_BYTES);
    st = axle_npy_read(path, &t, err);
    if (st != AXLE_OK)
        return st;
    if (t->rank != 2 || (t->dtype != AXLE_DTYPE_FLOAT32 && t->dtype != AXLE_DTYPE_FLOAT64) ||
        t->dims[1] > DRIFT_MAX_FEATURES) {
        char shape[128];
        axle_shape_format(t, NULL, 0, shape, sizeof(shape));
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "'%.200s' is %s %s; want a float32 or float64 [rows, features] "
                          "array with at most %d features", path, axle_dtype_name(t->dtype),
                          shape, DRIFT_MAX_FEATURES);
    } else {
        st = profile_data_from_rows(t->data, t->dtype == AXLE_DTYPE_FLOAT64, t->dims[0],
                                    (int)t->dims[1], NULL, d, err);
    }
    axle_tensor_free(t);
    return st;
}

/* The model input to profile: NAME, or the only float input. */
static enum axle_status pick_input(const struct axle_model *m, const char *name,
                                   struct axle_io_info *io, struct axle_err *err)
{
    int idx = -1, n_float = 0;

    if (name != NULL) {
        idx = axle_model_input_index(m, name);
        if (idx < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "the model has no input '%.200s'",
                                name);
    } else {
        for (int i = 0; i < axle_model_n_inputs(m); i++) {
            struct axle_io_info in;
            if (axle_model_input(m, i, &in) == AXLE_OK &&
                (in.dtype == AXLE_DTYPE_FLOAT32 || in.dtype == AXLE_DTYPE_FLOAT64)) {
                n_float++;
                idx = i;
            }
        }
        if (n_float != 1)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "the model has %d float inputs; name the one to profile "
                                "with --input", n_float);
    }
    enum axle_status st = axle_model_input(m, idx, io);
    if (st != AXLE_OK)
        return axle_err_set(err, st, "cannot describe input %d", idx);
    if (io->rank != 2 || (io->dtype != AXLE_DTYPE_FLOAT32 && io->dtype != AXLE_DTYPE_FLOAT64))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "input '%.200s' is %s of rank %d; drift is profiled on a float "
                            "input [N, features]", io->name, axle_dtype_name(io->dtype),
                            io->rank);
    return AXLE_OK;
}

/* Write json to path through path.tmp.PID, checked by the server's parser
 * before it is renamed into place. */
static int write_checked(const char *path, const struct axle_buf *json, int n_features,
                         struct axle_err *err)
{
    size_t n = strlen(path) + 32, len = 0;
    char *tmp = axle_xmalloc(n), *back = NULL;
    struct drift_profile *p = NULL;
    int rc = AXLE_EXIT_FAIL;
    FILE *f;

    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (f == NULL) {
        axle_err_set(err, AXLE_INVALID_ARGUMENT, "cannot write '%.200s': %s", tmp,
                     strerror(errno));
        rc = AXLE_EXIT_USAGE;
        goto out;
    }
    if (fwrite(json->data, 1, json->len, f) != json->len || fclose(f) != 0) {
        axle_err_set(err, AXLE_INTERNAL, "cannot write '%.200s': %s", tmp, strerror(errno));
        goto out;
    }
    if (read_all(tmp, DRIFT_MAX_PROFILE_BYTES, &back, &len, err) != AXLE_OK)
        goto out;
    if (drift_profile_parse(back, len, &p, err) != AXLE_OK) {
        axle_err_prefix(err, "self-check of the written profile failed: ");
        goto out;
    }
    if (drift_profile_features(p) != n_features) {
        axle_err_set(err, AXLE_INTERNAL, "self-check: %d features read back, %d written",
                     drift_profile_features(p), n_features);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        axle_err_set(err, AXLE_INTERNAL, "cannot rename '%.200s' to '%.200s': %s", tmp, path,
                     strerror(errno));
        goto out;
    }
    rc = AXLE_EXIT_OK;
out:
    if (rc != AXLE_EXIT_OK)
        remove(tmp);
    drift_profile_free(p);
    axle_free(back);
    axle_free(tmp);
    return rc;
}

int axle_cmd_profile(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},
        {"bins", required_argument, NULL, 'b'},
        {"input", required_argument, NULL, 'i'},
        {"header", no_argument, NULL, 'H'},
        {"no-header", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_path = NULL, *out_path = NULL, *input = NULL;
    enum profile_header header = PROFILE_HEADER_AUTO;
    struct axle_load_opts lo = {.no_optimize = 1};
    struct profile_data data = {0};
    struct axle_model *m = NULL;
    struct axle_io_info io;
    struct axle_err err = {0};
    struct axle_buf json;
    enum axle_status st;
    char *text = NULL, *end;
    size_t len = 0;
    long bins = PROFILE_DEFAULT_BINS;
    int rc = AXLE_EXIT_USAGE, c, n_header_flags = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'i': input = optarg; break;
        case 'H': header = PROFILE_HEADER_YES; n_header_flags++; break;
        case 'N': header = PROFILE_HEADER_NO; n_header_flags++; break;
        case 'b':
            bins = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || bins < DRIFT_MIN_BINS ||
                bins > DRIFT_MAX_BINS) {
                fprintf(stderr, "axle profile: --bins wants %d..%d, not '%s'\n",
                        DRIFT_MIN_BINS, DRIFT_MAX_BINS, optarg);
                return AXLE_EXIT_USAGE;
            }
            break;
        case 'h': profile_usage(stdout); return AXLE_EXIT_OK;
        default: profile_usage(stderr); return AXLE_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || data_path == NULL || out_path == NULL || n_header_flags > 1) {
        if (n_header_flags > 1)
            fprintf(stderr, "axle profile: --header and --no-header exclude each other\n");
        profile_usage(stderr);
        return AXLE_EXIT_USAGE;
    }
    buf_init(&json);

    st = axle_model_load_file(argv[optind], &lo, &m, &err);
    if (st != AXLE_OK) {
        fprintf(stderr, "axle profile: %s: %s\n", argv[optind], err.msg);
        rc = axle_cli_exit_code(st);
        goto out;
    }
    st = pick_input(m, input, &io, &err);
    if (st != AXLE_OK) {
        fprintf(stderr, "axle profile: %s: %s\n", argv[optind], err.msg);
        rc = axle_cli_exit_code(st);
        goto out;
    }

    if (is_npy(data_path)) {
        st = load_npy(data_path, &data, &err);
    } else {
        st = read_all(data_path, PROFILE_MAX_FILE_BYTES, &text, &len, &err);
        if (st == AXLE_OK)
            st = profile_csv_parse(text, len, header, NULL, &data, &err);
    }
    if (st != AXLE_OK) {
        fprintf(stderr, "axle profile: %s: %s\n", data_path, err.msg);
        rc = axle_cli_exit_code(st);
        goto out;
    }
    if (io.dims[1] >= 0 && io.dims[1] != data.n_features) {
        fprintf(stderr,
                "axle profile: %s has %d features (columns), but input '%s' of %s takes "
                "%lld\n", data_path, data.n_features, io.name, argv[optind],
                (long long)io.dims[1]);
        rc = AXLE_EXIT_USAGE;
        goto out;
    }

    st = profile_build(&data, io.name, (int)bins, io.dtype == AXLE_DTYPE_FLOAT32, &json, &err);
    if (st != AXLE_OK) {
        fprintf(stderr, "axle profile: %s: %s\n", data_path, err.msg);
        rc = axle_cli_exit_code(st);
        goto out;
    }
    rc = write_checked(out_path, &json, data.n_features, &err);
    if (rc != AXLE_EXIT_OK) {
        fprintf(stderr, "axle profile: %s\n", err.msg);
        goto out;
    }
    printf("wrote %s: input '%s', %d features, %lld rows, up to %ld bins\n", out_path, io.name,
           data.n_features, (long long)data.n_rows, bins);
out:
    buf_free(&json);
    profile_data_dispose(&data);
    axle_free(text);
    axle_model_unref(m);
    return rc;
}
