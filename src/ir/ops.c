/*
 * ops.c - the operator registry built from ops.def.
 *
 * Declarations are weak so that the table can list operators before their
 * kernels exist; a missing one reads as "unsupported operator".
 */
#include <string.h>

#include "ir/op.h"

#define AXLE_OP(sym, dom, name) \
    extern const struct axle_op axle_op_##sym __attribute__((weak));
#include "ir/ops.def"
#undef AXLE_OP

static const struct axle_op *const registry[] = {
#define AXLE_OP(sym, dom, name) &axle_op_##sym,
#include "ir/ops.def"
#undef AXLE_OP
};

#define N_OPS (sizeof(registry) / sizeof(registry[0]))

const struct axle_op *axle_op_find(const char *domain, const char *name)
{
    if (domain == NULL || strcmp(domain, "ai.onnx") == 0)
        domain = "";
    for (size_t i = 0; i < N_OPS; i++) {
        const struct axle_op *op = registry[i];
        if (op != NULL && strcmp(op->name, name) == 0 &&
            strcmp(op->domain, domain) == 0)
            return op;
    }
    return NULL;
}

void axle_op_foreach(void (*fn)(const struct axle_op *op, void *ctx),
                     void *ctx)
{
    for (size_t i = 0; i < N_OPS; i++)
        if (registry[i] != NULL)
            fn(registry[i], ctx);
}
