/*
 * random.c - RandomUniform, RandomNormal (ONNX 1), RandomUniformLike,
 * RandomNormalLike (1) and Bernoulli (15).
 *
 * RandomUniform / RandomNormal take their shape from the `shape`
 * attribute, the *Like ops and Bernoulli from input 0. dtype (default
 * float32 for the first two, the input's type for the others) picks the
 * output type: float32, float64, float16 or bfloat16, and for Bernoulli
 * also the integer types and bool. Uniform values lie in [low, high)
 * (defaults 0, 1); normal ones have mean `mean` and standard deviation
 * `scale` (defaults 0, 1); Bernoulli gives 1 with the input's probability
 * (p <= 0 or NaN: never, p >= 1: always).
 *
 * Values are a counter-based stream: element i's bits are SplitMix64 of
 * key + i (normal: Box-Muller over draws 2i and 2i + 1), so the result
 * does not depend on the thread split and big tensors are filled over
 * k->pool. With the `seed` attribute the key comes from the seed and
 * every run of the node gives the same values; without it each run takes
 * a fresh key. numpy's generators (ONNX's reference values) are not
 * reproduced, so ONNX's backend cases for these ops cannot match. The
 * ops are marked nondeterministic so the optimizer never folds them.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"
#include "kernels/normred_util.h"

#define GOLDEN 0x9e3779b97f4a7c15ull

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Draw i of stream `key`, uniform in [0, 1) with 53 bits. */
static inline double uni(uint64_t key, uint64_t i)
{
    return (double)(mix64(key + (i + 1) * GOLDEN) >> 11) * 0x1.0p-53;
}

static _Atomic uint64_t run_counter;

/* The stream key: from the seed attribute, or fresh per call. */
static uint64_t stream_key(const struct axle_node *n)
{
    const struct axle_attr *a = axle_node_attr(n, "seed");
    if (a != NULL) {
        double s = a->type == AXLE_ATTR_INT ? (double)a->i : (double)a->f;
        uint64_t bits;
        memcpy(&bits, &s, sizeof(bits));
        return mix64(bits ^ 0x5eedull);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t c = atomic_fetch_add_explicit(&run_counter, 1,
                                           memory_order_relaxed);
    return mix64(((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
                 mix64(c + ((uint64_t)getpid() << 32)));
}

enum rnd_kind { RND_UNIFORM, RND_NORMAL, RND_BERNOULLI };

struct rnd_job {
    enum rnd_kind kind;
    uint64_t key;
    double a, b; /* uniform: low, high; normal: mean, scale */
    const struct axle_tensor *p; /* Bernoulli probabilities */
    void *y;
    enum axle_dtype dt;
};

static void store(void *y, enum axle_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case AXLE_DTYPE_FLOAT32:
        ((float *)y)[i] = (float)v;
        break;
    case AXLE_DTYPE_FLOAT64:
        ((double *)y)[i] = v;
        break;
    case AXLE_DTYPE_FLOAT16:
        ((uint16_t *)y)[i] = axle_f32_to_f16((float)v);
        break;
    case AXLE_DTYPE_BFLOAT16:
        ((uint16_t *)y)[i] = axle_f32_to_bf16((float)v);
        break;
    default: /* Bernoulli's integer and bool outputs: v is 0 or 1 */
        memset((char *)y + (size_t)i * axle_dtype_size(dt), 0,
               axle_dtype_size(dt));
        if (v != 0) {
            switch (dt) {
            case AXLE_DTYPE_INT8: case AXLE_DTYPE_UINT8: case AXLE_DTYPE_BOOL:
                ((uint8_t *)y)[i] = 1;
                break;
            case AXLE_DTYPE_INT16: case AXLE_DTYPE_UINT16:
                ((uint16_t *)y)[i] = 1;
                break;
            case AXLE_DTYPE_INT32: case AXLE_DTYPE_UINT32:
                ((uint32_t *)y)[i] = 1;
                break;
            default:
                ((uint64_t *)y)[i] = 1;
                break;
            }
        }
        break;
    }
}

static void rnd_task(void *ctx, int64_t b, int64_t e, int tid)
{
    const struct rnd_job *j = ctx;
    (void)tid;
    for (int64_t i = b; i < e; i++) {
        double v;
        if (j->kind == RND_UNIFORM) {
            v = j->a + (j->b - j->a) * uni(j->key, (uint64_t)i);
            if (j->dt == AXLE_DTYPE_FLOAT32 && (float)v >= (float)j->b &&
                j->b > j->a)
                v = nextafterf((float)j->b, -INFINITY);
        } else if (j->kind == RND_NORMAL) {
            double u1 = uni(j->key, 2 * (uint64_t)i);
            double u2 = uni(j->key, 2 * (uint64_t)i + 1);
            v = j->a + j->b * sqrt(-2.0 * log(1.0 - u1)) * cos(2 * M_PI * u2);
        } else {
            double p = axle_tensor_get_f64(j->p, i);
            v = uni(j->key, (uint64_t)i) < p ? 1.0 : 0.0;
        }
        store(j->y, j->dt, i, v);
    }
}

static bool float_out(int64_t dt)
{
    return dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT64 ||
           dt == AXLE_DTYPE_FLOAT16 || dt == AXLE_DTYPE_BFLOAT16;
}

static bool bernoulli_out(int64_t dt)
{
    switch (dt) {
    case AXLE_DTYPE_INT8: case AXLE_DTYPE_UINT8: case AXLE_DTYPE_INT16:
    case AXLE_DTYPE_UINT16: case AXLE_DTYPE_INT32: case AXLE_DTYPE_UINT32:
    case AXLE_DTYPE_INT64: case AXLE_DTYPE_UINT64: case AXLE_DTYPE_BOOL:
        return true;
    default:
        return float_out(dt);
    }
}

/* Output dtype from the dtype attribute or `def`. */
static enum axle_status rnd_dtype(struct axle_kctx *k, const char *op,
                                  enum axle_dtype def, bool bernoulli,
                                  enum axle_dtype *dt)
{
    int64_t v = axle_node_attr_int(k->node, "dtype", def);
    if (v == AXLE_DTYPE_UNDEFINED) { /* input type not known yet */
        *dt = AXLE_DTYPE_UNDEFINED;
        return AXLE_OK;
    }
    if (!(bernoulli ? bernoulli_out(v) : float_out(v)))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: output type %lld is not supported", op,
                            (long long)v);
    *dt = (enum axle_dtype)v;
    return AXLE_OK;
}

static enum axle_status shape_attr_infer(struct axle_kctx *k, const char *op)
{
    struct axle_tensor *o = k->out[0];
    int n = 0;
    const int64_t *shape = axle_node_attr_ints(k->node, "shape", &n);
    enum axle_dtype dt;
    enum axle_status st = rnd_dtype(k, op, AXLE_DTYPE_FLOAT32, false, &dt);
    if (st != AXLE_OK)
        return st;
    if (shape == NULL && axle_node_attr(k->node, "shape") == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: attribute shape is required", op);
    if (n > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: shape has %d dims (at most %d)", op, n,
                            AXLE_MAX_RANK);
    for (int i = 0; i < n; i++)
        if (shape[i] < 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "%s: shape dim %d is negative", op, i);
    if (axle_shape_numel(n, shape) < 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: shape is too large", op);
    if (o == NULL)
        return AXLE_OK;
    o->dtype = dt;
    o->rank = n;
    if (n > 0)
        memcpy(o->dims, shape, sizeof(int64_t) * (size_t)n);
    return AXLE_OK;
}

static enum axle_status like_infer(struct axle_kctx *k, const char *op,
                                   bool bernoulli)
{
    const struct axle_tensor *x = AXLE_IN(k, 0);
    struct axle_tensor *o = k->out[0];
    enum axle_dtype dt;
    if (x == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: input is required", op);
    if (bernoulli && x->dtype != AXLE_DTYPE_UNDEFINED &&
        !nr_is_float(x->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "%s: probabilities must be a float tensor, got "
                            "%s", op, axle_dtype_name(x->dtype));
    enum axle_status st = rnd_dtype(k, op, x->dtype, bernoulli, &dt);
    if (st != AXLE_OK)
        return st;
    if (o == NULL)
        return AXLE_OK;
    o->dtype = dt;
    nr_copy_shape(o, x);
    return AXLE_OK;
}

static enum axle_status rnd_run(struct axle_kctx *k, enum rnd_kind kind)
{
    struct axle_tensor *o = k->out[0];
    struct rnd_job j;
    if (o == NULL)
        return AXLE_OK;
    memset(&j, 0, sizeof(j));
    j.kind = kind;
    j.key = stream_key(k->node);
    j.y = o->data;
    j.dt = o->dtype;
    if (kind == RND_UNIFORM) {
        j.a = axle_node_attr_float(k->node, "low", 0.0f);
        j.b = axle_node_attr_float(k->node, "high", 1.0f);
    } else if (kind == RND_NORMAL) {
        j.a = axle_node_attr_float(k->node, "mean", 0.0f);
        j.b = axle_node_attr_float(k->node, "scale", 1.0f);
    } else
        j.p = k->in[0];
    axle_pool_parallel_for(k->pool, axle_tensor_numel(o), 16384, rnd_task,
                           &j);
    return AXLE_OK;
}

static enum axle_status ru_infer(struct axle_kctx *k)
{
    return shape_attr_infer(k, "RandomUniform");
}
static enum axle_status rn_infer(struct axle_kctx *k)
{
    return shape_attr_infer(k, "RandomNormal");
}
static enum axle_status rul_infer(struct axle_kctx *k)
{
    return like_infer(k, "RandomUniformLike", false);
}
static enum axle_status rnl_infer(struct axle_kctx *k)
{
    return like_infer(k, "RandomNormalLike", false);
}
static enum axle_status bern_infer(struct axle_kctx *k)
{
    return like_infer(k, "Bernoulli", true);
}
static enum axle_status uniform_run(struct axle_kctx *k)
{
    return rnd_run(k, RND_UNIFORM);
}
static enum axle_status normal_run(struct axle_kctx *k)
{
    return rnd_run(k, RND_NORMAL);
}
static enum axle_status bern_run(struct axle_kctx *k)
{
    return rnd_run(k, RND_BERNOULLI);
}

const struct axle_op axle_op_random_uniform = {
    .name = "RandomUniform", .domain = "",
    .min_inputs = 0, .max_inputs = 0, .min_outputs = 1, .max_outputs = 1,
    .infer = ru_infer, .run = uniform_run, .nondeterministic = true,
};
const struct axle_op axle_op_random_normal = {
    .name = "RandomNormal", .domain = "",
    .min_inputs = 0, .max_inputs = 0, .min_outputs = 1, .max_outputs = 1,
    .infer = rn_infer, .run = normal_run, .nondeterministic = true,
};
const struct axle_op axle_op_random_uniform_like = {
    .name = "RandomUniformLike", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = rul_infer, .run = uniform_run, .nondeterministic = true,
};
const struct axle_op axle_op_random_normal_like = {
    .name = "RandomNormalLike", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = rnl_infer, .run = normal_run, .nondeterministic = true,
};
const struct axle_op axle_op_bernoulli = {
    .name = "Bernoulli", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = bern_infer, .run = bern_run, .nondeterministic = true,
};
