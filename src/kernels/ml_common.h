/*
 * ml_common.h - what the ai.onnx.ml kernels (ml_*.c) share: reading any
 * numeric input element as float or double, the post transforms of the
 * linear and SVM classifiers as ONNX Runtime applies them, and attribute
 * lookups that check the attribute's type.
 */
#ifndef AXLE_KERNELS_ML_COMMON_H
#define AXLE_KERNELS_ML_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "axle/status.h"
#include "axle/tensor.h"

struct axle_node;
struct axle_err;

enum axle_ml_post {
    AXLE_ML_POST_NONE = 0,
    AXLE_ML_POST_LOGISTIC,
    AXLE_ML_POST_SOFTMAX,
    AXLE_ML_POST_SOFTMAX_ZERO,
    AXLE_ML_POST_PROBIT,
};

/* post_transform of node n (default NONE); an unknown name is an error. */
enum axle_status axle_ml_post_parse(const struct axle_node *n,
                                    enum axle_ml_post *out,
                                    struct axle_err *err);

float axle_ml_logistic(float v);
float axle_ml_probit(float v);
/* Softmax over n floats in place, shifted by the maximum (ONNX Runtime's
 * order of operations). */
void axle_ml_softmax(float *v, int64_t n);
/* SOFTMAX_ZERO: values within 1e-7 of zero are not exponentiated and stay
 * (almost) zero; an all-zero row divides by zero as in ONNX Runtime. */
void axle_ml_softmax_zero(float *v, int64_t n);
/* Applies post to the n scores of one row (n >= 2: element-wise or over the
 * row; n == 1: only PROBIT changes the value, as in ONNX Runtime). */
void axle_ml_post_row(enum axle_ml_post post, float *v, int64_t n);

/* Element i of a numeric tensor (float, double, float16, any integer, bool)
 * as double. */
double axle_ml_get(const struct axle_tensor *t, int64_t i);

/* True for the X types the ml kernels take: float, double, int32, int64. */
bool axle_ml_numeric_dtype(enum axle_dtype dt);

/* Typed attribute lookups: NULL/absent count 0 when missing; an attribute
 * present with another type is an error naming op and attribute. */
enum axle_status axle_ml_floats(const struct axle_node *n, const char *op,
                                const char *name, const float **v, int *len,
                                struct axle_err *err);
enum axle_status axle_ml_ints(const struct axle_node *n, const char *op,
                              const char *name, const int64_t **v, int *len,
                              struct axle_err *err);
enum axle_status axle_ml_strings(const struct axle_node *n, const char *op,
                                 const char *name, char *const **v, int *len,
                                 struct axle_err *err);

/* A copy of s the string output owns (NULL on allocation failure). */
char *axle_ml_strdup(const char *s);

/* Rows and columns of a [C] (one row) or [N, C] input; false otherwise. */
bool axle_ml_rows_cols(const struct axle_tensor *x, int64_t *rows,
                       int64_t *cols);

#endif
