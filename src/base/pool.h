/*
 * pool.h - the one thread pool axle owns for intra-op parallelism.
 *
 * A pool of n threads is the caller plus n-1 workers. parallel_for splits
 * [0, n) into chunks of at least `grain` items and runs fn on them; the
 * calling thread takes part and the call returns when every chunk is done.
 * Workers spin briefly, then sleep. Calls with pool == NULL, n <= grain or
 * from inside a pool task run inline on the caller (with tid 0 when pool
 * is NULL, wherever the caller runs).
 *
 * Thread-safety: one parallel_for at a time per pool (a session owns its
 * pool for the duration of a run); nested calls from a task run inline.
 */
#ifndef AXLE_BASE_POOL_H
#define AXLE_BASE_POOL_H

#include <stdint.h>

#include "axle/status.h"

struct axle_pool;

/* fn processes items [begin, end); tid is 0..n_threads-1 (0 = caller). */
typedef void (*axle_pool_fn)(void *ctx, int64_t begin, int64_t end, int tid);

enum axle_status axle_pool_new(int n_threads, struct axle_pool **out);
void axle_pool_free(struct axle_pool *pool);
int axle_pool_size(const struct axle_pool *pool);
void axle_pool_parallel_for(struct axle_pool *pool, int64_t n, int64_t grain,
                            axle_pool_fn fn, void *ctx);

#endif
