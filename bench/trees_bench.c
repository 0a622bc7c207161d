/*
 * trees_bench.c - one XGBoost model, two predictors, one process: axle's
 * tree engine (public API: load, session, run) and XGBoost's own C API
 * (XGBoosterPredictFromDense, libxgboost from Debian), on the same rows,
 * with the same thread count.
 *
 *   trees_bench MODEL.json N_TREES ROWS THREADS
 *
 * Prints one line per engine: median wall time over repeated runs, ns per
 * tree-row and rows/s, then the max |difference| of their outputs (the
 * probabilities of class 1 / the predictions), which must be ~0.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xgboost/c_api.h>

#include "axle/axle.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define XGB_CHECK(call)                                                      \
    do {                                                                     \
        if ((call) != 0) {                                                   \
            fprintf(stderr, "xgboost: %s\n", XGBGetLastError());             \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

/* Runs fn until ~0.6 s have passed (at least 5 times); median seconds. */
#define MEASURE(out, body)                                                   \
    do {                                                                     \
        double t_[4096];                                                     \
        int n_ = 0;                                                          \
        double start_ = now();                                               \
        body; /* warm-up */                                                  \
        while (n_ < 4096 && (n_ < 5 || now() - start_ < 0.6)) {              \
            double t0_ = now();                                              \
            body;                                                            \
            t_[n_++] = now() - t0_;                                          \
        }                                                                    \
        qsort(t_, (size_t)n_, sizeof(double), cmp_d);                        \
        out = t_[n_ / 2];                                                    \
    } while (0)

int main(int argc, char **argv)
{
    const char *path;
    int64_t n_trees, rows;
    int threads, nf;
    struct axle_model *m;
    struct axle_session *s;
    struct axle_err err;
    struct axle_tensor in, outs[2];
    struct axle_io_info info;
    BoosterHandle bst;
    float *x;
    const float *xres = NULL;
    const bst_ulong *shape;
    bst_ulong dim;
    char arr[256], cfg[256], nth[16];
    double t_axle, t_xgb, maxdiff = 0;
    int out_prob;
    uint64_t seed = 42;

    if (argc != 5) {
        fprintf(stderr, "usage: trees_bench MODEL.json N_TREES ROWS THREADS\n");
        return 2;
    }
    path = argv[1];
    n_trees = atoll(argv[2]);
    rows = atoll(argv[3]);
    threads = atoi(argv[4]);

    if (axle_model_load_file(path, NULL, &m, &err) != AXLE_OK) {
        fprintf(stderr, "axle: %s\n", err.msg);
        return 1;
    }
    axle_model_input(m, 0, &info);
    nf = (int)info.dims[1];
    x = malloc((size_t)rows * nf * sizeof(float));
    for (int64_t i = 0; i < rows * nf; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((seed >> 40) / 16777216.0 * 4.0 - 2.0);
        if ((seed >> 20) % 100 == 0)
            x[i] = NAN; /* 1 % missing */
    }

    {
        struct axle_session_opts so = {.n_threads = threads, .max_batch = rows};
        if (axle_session_new(m, &so, &s, &err) != AXLE_OK) {
            fprintf(stderr, "axle: %s\n", err.msg);
            return 1;
        }
    }
    memset(&in, 0, sizeof(in));
    in.dtype = AXLE_DTYPE_FLOAT32;
    in.rank = 2;
    in.dims[0] = rows;
    in.dims[1] = nf;
    in.data = x;
    out_prob = axle_model_n_outputs(m) == 2;
    MEASURE(t_axle, axle_session_run(s, 1, &in, axle_model_n_outputs(m), outs,
                                     &err));

    XGB_CHECK(XGBoosterCreate(NULL, 0, &bst));
    XGB_CHECK(XGBoosterLoadModel(bst, path));
    snprintf(nth, sizeof(nth), "%d", threads);
    XGB_CHECK(XGBoosterSetParam(bst, "nthread", nth));
    snprintf(arr, sizeof(arr),
             "{\"data\": [%llu, true], \"shape\": [%lld, %d], "
             "\"typestr\": \"<f4\", \"version\": 3}",
             (unsigned long long)(uintptr_t)x, (long long)rows, nf);
    snprintf(cfg, sizeof(cfg),
             "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
             "\"iteration_end\": 0, \"strict_shape\": false, "
             "\"missing\": NaN, \"cache_id\": 0}");
    MEASURE(t_xgb, XGB_CHECK(XGBoosterPredictFromDense(bst, arr, cfg, NULL,
                                                       &shape, &dim, &xres)));

    /* Same answers: class-1 probability (binary) or the predictions. */
    axle_session_run(s, 1, &in, axle_model_n_outputs(m), outs, &err);
    for (int64_t r = 0; r < rows; r++) {
        const float *a = outs[0].data;
        double av = out_prob ? a[2 * r + 1] : a[r];
        double d = fabs(av - xres[r]);
        if (d > maxdiff)
            maxdiff = d;
    }
    printf("axle     rows=%lld threads=%d  %10.1f us  %6.2f ns/tree-row  "
           "%12.0f rows/s\n", (long long)rows, threads, t_axle * 1e6,
           t_axle * 1e9 / (double)(rows * n_trees), rows / t_axle);
    printf("xgboost  rows=%lld threads=%d  %10.1f us  %6.2f ns/tree-row  "
           "%12.0f rows/s\n", (long long)rows, threads, t_xgb * 1e6,
           t_xgb * 1e9 / (double)(rows * n_trees), rows / t_xgb);
    printf("ratio    rows=%lld threads=%d  axle is %.2fx xgboost's rows/s; "
           "max |diff| %.3g\n", (long long)rows, threads, t_xgb / t_axle,
           maxdiff);
    XGBoosterFree(bst);
    axle_session_free(s);
    axle_model_unref(m);
    free(x);
    return 0;
}
