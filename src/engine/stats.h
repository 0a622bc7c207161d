/*
 * stats.h - model statistics (see stats.c for the FLOP conventions).
 */
#ifndef AXLE_ENGINE_STATS_H
#define AXLE_ENGINE_STATS_H

#include <stdint.h>

struct axle_model;

struct axle_model_stats {
    int64_t params;      /* elements of all constant tensors */
    int64_t param_bytes;
    int64_t flops;       /* per sample (batch 1); -1 when not computable */
};

void axle_engine_stats(struct axle_model *m, struct axle_model_stats *st);

#endif
