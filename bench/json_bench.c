/*
 * json_bench.c - serve/json.c against jansson on the request path: parse a
 * V2 inference request and walk its tensor data to doubles.
 *
 *   iris   the ~90-byte V2 request {"inputs":[{"name":"input","shape":[1,4],
 *          "datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}
 *   large  a V2 request carrying 262,144 FP32 values printed like the
 *          iris ones (%.2g of values in [0, 10): "5.1", "0.37"), about 1 MiB
 *
 * axle: memcpy of the body into the parse buffer (json_parse decodes in
 * place, so each round needs a fresh copy; the server parses the body it
 * received and pays no copy, so this side is charged extra) + json_parse
 * with a json_doc reused across rounds (as a connection does) + json_get for
 * inputs/name/datatype/shape/data + json_to_double per element.
 * jansson 2.14: json_loadb(..., JSON_REJECT_DUPLICATES) (the same duplicate
 * policy) + json_object_get / json_array_get / json_number_value + decref.
 * Both sum the values, and the sums are compared before timing. The
 * jansson side lives in json_bench_jansson.c: jansson.h and serve/json.h
 * both define JSON_OBJECT, JSON_ARRAY, ... so they cannot share a file.
 *
 * Timing: best of 7 windows of ~0.2 s per variant, interleaved A B B A.
 * Prints one JSON line per input: ns per parse for each and the ratio.
 *
 * Usage: json_bench [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/json.h"

static int g_windows = 7;
static double g_window_s = 0.2;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct input {
    const char *name;
    char *text;
    size_t len;
    char *work; /* len + 1 bytes for json_parse */
    struct json_doc doc;
    long n_values;
};

/* json_bench_jansson.c */
double json_bench_jansson(const char *text, size_t len);

static double run_jansson(struct input *in)
{
    return json_bench_jansson(in->text, in->len);
}

static double run_axle(struct input *in)
{
    struct axle_err err;
    double sum = 0;

    memcpy(in->work, in->text, in->len);
    if (json_parse(&in->doc, in->work, in->len, &err) != AXLE_OK) {
        fprintf(stderr, "json_bench: axle: %s\n", err.msg);
        exit(1);
    }
    const struct json_doc *d = &in->doc;
    uint32_t inputs = json_get(d, 0, "inputs");
    if (!inputs || json_tok(d, inputs)->type != JSON_ARRAY)
        exit(1);
    uint32_t t = inputs + 1;
    for (uint32_t i = 0; i < json_tok(d, inputs)->size; i++, t = json_next(d, t)) {
        uint32_t name = json_get(d, t, "name"), dt = json_get(d, t, "datatype");
        uint32_t shape = json_get(d, t, "shape"), data = json_get(d, t, "data");
        if (!name || !dt || !shape || !data || !json_streq(d, dt, "FP32"))
            exit(1);
        int64_t dim;
        uint32_t s = shape + 1;
        for (uint32_t k = 0; k < json_tok(d, shape)->size; k++, s = json_next(d, s))
            if (json_to_int64(d, s, &dim) != 0)
                exit(1);
        uint32_t e = data + 1, end = json_next(d, data);
        while (e < end) {
            double v;
            if (json_to_double(d, e, &v) != 0)
                exit(1);
            sum += v;
            e = json_next(d, e);
        }
    }
    return sum;
}

typedef double (*run_fn)(struct input *in);

struct timer {
    run_fn fn;
    struct input *in;
    long reps;
    double best_s;
};

static volatile double g_sink;

static void calibrate(struct timer *t)
{
    long reps = 1;

    for (int i = 0; i < 5; i++)
        g_sink = t->fn(t->in);
    for (;;) {
        double t0 = now_s();
        for (long r = 0; r < reps; r++)
            g_sink = t->fn(t->in);
        double dt = now_s() - t0;
        if (dt >= g_window_s * 0.25 || reps > (1L << 28)) {
            t->reps = (long)((double)reps * g_window_s / (dt > 0 ? dt : 1e-9));
            if (t->reps < 1)
                t->reps = 1;
            break;
        }
        reps *= 2;
    }
    t->best_s = 1e30;
}

static void window(struct timer *t)
{
    double t0 = now_s();

    for (long r = 0; r < t->reps; r++)
        g_sink = t->fn(t->in);
    double per = (now_s() - t0) / (double)t->reps;
    if (per < t->best_s)
        t->best_s = per;
}

static void bench(struct input *in)
{
    struct timer ts[2] = {{run_axle, in, 0, 0}, {run_jansson, in, 0, 0}};
    double a = run_axle(in), j = run_jansson(in);

    if (a != j) {
        fprintf(stderr, "json_bench: %s: sums differ: %.17g vs %.17g\n", in->name, a, j);
        exit(1);
    }
    for (int i = 0; i < 2; i++)
        calibrate(&ts[i]);
    for (int w = 0; w < g_windows; w++) {
        if (w % 2 == 0)
            for (int i = 0; i < 2; i++)
                window(&ts[i]);
        else
            for (int i = 1; i >= 0; i--)
                window(&ts[i]);
    }
    double ax = ts[0].best_s * 1e9, ja = ts[1].best_s * 1e9;
    printf("{\"input\":\"%s\",\"bytes\":%zu,\"values\":%ld,\"axle_ns\":%.1f,"
           "\"jansson_ns\":%.1f,\"jansson_over_axle\":%.2f,"
           "\"axle_mb_s\":%.1f,\"jansson_mb_s\":%.1f}\n",
           in->name, in->len, in->n_values, ax, ja, ja / ax,
           (double)in->len / ax * 1e3, (double)in->len / ja * 1e3);
    fflush(stdout);
}

static void input_init(struct input *in, const char *name, char *text, size_t len,
                       long n_values)
{
    in->name = name;
    in->text = text;
    in->len = len;
    in->n_values = n_values;
    in->work = malloc(len + 1);
    if (in->work == NULL)
        exit(1);
    json_doc_init(&in->doc);
}

static void input_free(struct input *in)
{
    json_doc_free(&in->doc);
    free(in->work);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            g_windows = 3;
            g_window_s = 0.05;
        } else {
            fprintf(stderr, "usage: json_bench [--quick]\n");
            return 2;
        }
    }

    static char iris[] = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,4],"
                         "\"datatype\":\"FP32\",\"data\":[5.1,3.5,1.4,0.2]}]}";
    struct input small;
    input_init(&small, "iris", iris, strlen(iris), 4);
    bench(&small);
    input_free(&small);

    /* 262,144 values printed like the iris features: %.2g of values in
     * [0, 10) from a fixed generator. */
    const long n = 262144;
    size_t cap = (size_t)n * 20 + 256, len = 0;
    char *text = malloc(cap);
    if (text == NULL)
        return 1;
    len += (size_t)snprintf(text, cap, "{\"inputs\":[{\"name\":\"input\",\"shape\":"
                                       "[1,%ld],\"datatype\":\"FP32\",\"data\":[", n);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        float v = (float)((double)(x >> 11) / (double)(1ull << 53) * 10.0);
        len += (size_t)snprintf(text + len, cap - len, "%s%.2g", i ? "," : "", (double)v);
    }
    len += (size_t)snprintf(text + len, cap - len, "]}]}");
    struct input large;
    input_init(&large, "large", text, len, n);
    bench(&large);
    input_free(&large);
    free(text);
    return 0;
}
