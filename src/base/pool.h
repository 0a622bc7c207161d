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

#include <stdatomic.h>
#include <stdbool.h>
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

/* Owned shares of n_items work items among n_slots pool tasks (one per
 * thread, the task index as the slot): slot t owns the contiguous items
 * [t n / T, (t + 1) n / T), takes them first and the others' only when its
 * own have run out. Kernels whose thread t reads back what thread t wrote
 * in the layer before use it (a slowed thread still gets helped). One
 * cache line per slot. */
struct axle_share {
    _Atomic int64_t next;
    int64_t end;
    int64_t pad[6];
};

void axle_shares_init(struct axle_share *sh, int n_slots, int64_t n_items);
/* The next item for slot `slot`; false when every share is taken. */
bool axle_shares_next(struct axle_share *sh, int n_slots, int slot,
                      int64_t *item);

#endif
