/*
 * act.c - scalar reference for the activations kernels fuse into their
 * store loops (enum axle_act in ir/op.h).
 *
 * Definitions follow the ONNX operators of the same name: Relu-14,
 * LeakyRelu-16 (alpha), Clip-13 (min, max), Sigmoid-13, Tanh-13,
 * HardSigmoid-6 (max(0, min(1, alpha*x + beta))), HardSwish-14
 * (x * max(0, min(1, x/6 + 0.5))) and Gelu-20 with approximate="none"
 * (0.5 * x * (1 + erf(x / sqrt(2)))).
 */
#include <math.h>
#include <stddef.h>

#include "ir/op.h"

static float sigmoid1(float x)
{
    /* Written so that neither branch overflows expf. */
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* min(1, max(0, v)) letting NaN through (fminf/fmaxf would swallow it),
 * the same as the vector min/max sequences in the GEMM store loops. */
static float clamp01(float v)
{
    v = v > 1.0f ? 1.0f : v;
    return v < 0.0f ? 0.0f : v;
}

const char *axle_act_name(int act)
{
    switch (act) {
    case AXLE_ACT_RELU: return "Relu";
    case AXLE_ACT_LEAKY_RELU: return "LeakyRelu";
    case AXLE_ACT_CLIP: return "Clip";
    case AXLE_ACT_SIGMOID: return "Sigmoid";
    case AXLE_ACT_TANH: return "Tanh";
    case AXLE_ACT_HARD_SIGMOID: return "HardSigmoid";
    case AXLE_ACT_HARD_SWISH: return "HardSwish";
    case AXLE_ACT_GELU: return "Gelu";
    default: return NULL;
    }
}

void axle_act_apply(enum axle_act act, float alpha, float beta, float *x,
                    size_t n)
{
    size_t i;

    switch (act) {
    case AXLE_ACT_NONE:
        return;
    case AXLE_ACT_RELU:
        for (i = 0; i < n; i++)
            x[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN passes, like maxps */
        return;
    case AXLE_ACT_LEAKY_RELU:
        for (i = 0; i < n; i++)
            x[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
        return;
    case AXLE_ACT_CLIP:
        /* Clip-13: NaN passes through; min is applied before max. */
        for (i = 0; i < n; i++) {
            float v = x[i];
            v = v < alpha ? alpha : v;
            x[i] = v > beta ? beta : v;
        }
        return;
    case AXLE_ACT_SIGMOID:
        for (i = 0; i < n; i++)
            x[i] = sigmoid1(x[i]);
        return;
    case AXLE_ACT_TANH:
        for (i = 0; i < n; i++)
            x[i] = tanhf(x[i]);
        return;
    case AXLE_ACT_HARD_SIGMOID:
        for (i = 0; i < n; i++)
            x[i] = clamp01(alpha * x[i] + beta);
        return;
    case AXLE_ACT_HARD_SWISH:
        for (i = 0; i < n; i++)
            x[i] = x[i] * clamp01(x[i] / 6.0f + 0.5f);
        return;
    case AXLE_ACT_GELU:
        for (i = 0; i < n; i++)
            x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        return;
    }
}
