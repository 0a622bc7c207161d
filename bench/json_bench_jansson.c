/*
 * json_bench_jansson.c - the jansson side of json_bench.c (a file of its
 * own because jansson.h and serve/json.h both define JSON_OBJECT, ...):
 * json_loadb with JSON_REJECT_DUPLICATES, then the same walk as the axle
 * side (inputs -> name, datatype, shape, data -> sum of the values).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double json_bench_jansson(const char *text, size_t len);

double json_bench_jansson(const char *text, size_t len)
{
    json_error_t jerr;
    double sum = 0;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        fprintf(stderr, "json_bench: jansson: %s\n", jerr.text);
        exit(1);
    }
    json_t *inputs = json_object_get(root, "inputs");
    if (!json_is_array(inputs))
        exit(1);
    for (size_t i = 0; i < json_array_size(inputs); i++) {
        json_t *t = json_array_get(inputs, i);
        json_t *name = json_object_get(t, "name"), *dt = json_object_get(t, "datatype");
        json_t *shape = json_object_get(t, "shape"), *data = json_object_get(t, "data");
        if (!json_is_string(name) || !json_is_string(dt) || !json_is_array(shape) ||
            !json_is_array(data) || strcmp(json_string_value(dt), "FP32") != 0)
            exit(1);
        for (size_t k = 0; k < json_array_size(shape); k++)
            if (!json_is_integer(json_array_get(shape, k)))
                exit(1);
        for (size_t k = 0; k < json_array_size(data); k++) {
            json_t *v = json_array_get(data, k);
            if (!json_is_number(v))
                exit(1);
            sum += json_number_value(v);
        }
    }
    json_decref(root);
    return sum;
}

