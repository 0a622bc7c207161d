/*
 * fuzz_config.c - config.json of a repository model (serve/repo.h
 * model_config_parse): bytes -> parse -> the configuration.
 *
 * Invariants: a clear status for every input; on success every value lies
 * in its documented range (batch sizes, instances, queue bounds, priority
 * levels, preferred sizes ascending and within 1..1024).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/repo.h"

#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c))                                                            \
            abort();                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    struct model_config cfg;
    struct axle_err err;
    model_config_default(&cfg, "m");
    enum axle_status st = model_config_parse(buf, size, &cfg, &err);
    if (st == AXLE_OK) {
        CHECK(cfg.max_batch_size >= -1 && cfg.max_batch_size <= 1024);
        CHECK(cfg.instance_count >= 1 && cfg.instance_count <= 16);
        CHECK(cfg.max_queue_size >= 0 && cfg.max_queue_size <= 65536);
        CHECK(cfg.queue_timeout_us >= -1);
        CHECK(cfg.priority_levels >= 1 && cfg.priority_levels <= SCHED_MAX_LEVELS);
        CHECK(cfg.default_priority_level >= 0 &&
              cfg.default_priority_level <= cfg.priority_levels);
        CHECK(cfg.n_preferred >= 0 && cfg.n_preferred <= SCHED_MAX_PREFERRED);
        for (int i = 0; i < cfg.n_preferred; i++) {
            CHECK(cfg.preferred[i] >= 1 && cfg.preferred[i] <= 1024);
            CHECK(i == 0 || cfg.preferred[i] > cfg.preferred[i - 1]);
        }
        CHECK(cfg.n_input_overrides >= 0 && cfg.n_input_overrides <= REPO_MAX_IO);
        CHECK(cfg.n_output_overrides >= 0 && cfg.n_output_overrides <= REPO_MAX_IO);
        CHECK(cfg.n_specific >= 0 && cfg.n_specific <= REPO_MAX_VERSIONS);
    } else {
        CHECK(err.msg[0] != 0);
    }
    free(buf);
    return 0;
}
