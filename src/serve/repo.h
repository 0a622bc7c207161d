/*
 * repo.h - the model repository: models, their versions, loading, reload.
 *
 * Layout: ROOT/MODEL/VERSION/model.onnx, with an optional ROOT/MODEL/
 * config.json. A single model file is served as a one-model repository
 * named after the file (version 1).
 *
 * Ownership: a struct model_version is reference-counted. Lookups take a
 * reference under the repository lock and requests release it when they are
 * done, so a version that is unloaded or replaced while a request runs
 * lives until that request finishes (SECURITY.md D19). Loads happen outside
 * the lock; the new version set is swapped in under it.
 *
 * Sessions: each I/O thread runs a version through its own session (slot
 * `thread_index`), created on the first request that thread serves.
 */
#ifndef AXLE_SERVE_REPO_H
#define AXLE_SERVE_REPO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "axle/axle.h"
#include "serve/sched.h"

#define REPO_MAX_NAME 64
#define REPO_MAX_VERSIONS 64
#define REPO_MAX_IO 64
#define REPO_MAX_BATCH_STATS 1025
#define METRIC_MAX_BUCKETS 32

struct monitor;

enum model_control { CONTROL_NONE, CONTROL_POLL, CONTROL_EXPLICIT };

enum version_state { VS_UNKNOWN, VS_LOADING, VS_READY, VS_UNAVAILABLE, VS_UNLOADING };
const char *version_state_name(enum version_state s);

struct io_override {
    char name[REPO_MAX_NAME + 1];
    enum axle_dtype dtype; /* UNDEFINED: keep */
    int rank;              /* -1: keep */
    int64_t dims[AXLE_MAX_RANK];
};

enum version_policy { POLICY_LATEST, POLICY_ALL, POLICY_SPECIFIC };

struct model_config {
    char name[REPO_MAX_NAME + 1];
    int64_t max_batch_size;  /* 0: no batching (shapes as declared) */
    int instance_count;
    enum version_policy policy;
    int latest_n;
    int n_specific;
    int64_t specific[REPO_MAX_VERSIONS];
    int n_input_overrides, n_output_overrides;
    struct io_override inputs[REPO_MAX_IO], outputs[REPO_MAX_IO];
    int warmup;              /* warm-up runs with zero inputs after load */
    int v1_instances_b64;
    /* Scheduling (sched.h). */
    int dynamic_batching;
    int64_t max_queue_delay_us;
    int n_preferred;
    int64_t preferred[SCHED_MAX_PREFERRED];
    int64_t max_queue_size;      /* 0: 4 x max_batch_size x instances, at least 64 */
    int64_t queue_timeout_us;    /* -1: the server default; 0: none */
    int priority_levels;
    int default_priority_level;  /* 0: the lowest level */
    int64_t inline_max_us;       /* -1: the server default; 0: never inline */
    /* Monitoring ("monitoring" in config.json; monitor.h). */
    int n_buckets;               /* 0: the server's latency buckets */
    double buckets[METRIC_MAX_BUCKETS];
    char mon_output[REPO_MAX_NAME + 1]; /* output compared with labels; "": derived */
    int mon_task;                /* enum mon_task; 0: derived from the output */
    int mon_off;                 /* "enabled": false - no quality or drift */
    char profile[129];           /* drift profile file in the model directory */
    int64_t drift_window;        /* rows; 0: default */
};

/* Statistics counters of one version (statistics extension and metrics);
 * see model_version.stats for how they are shared. */
struct duration_stat {
    atomic_uint_fast64_t count, ns;
};

/* Why a request failed (metrics `reason` label; PROTOCOLS.md section 14). */
enum fail_reason { FAIL_BAD_REQUEST, FAIL_REJECTED, FAIL_TIMEOUT, FAIL_CANCELED, FAIL_ERROR,
                   FAIL_N };
const char *fail_reason_name(enum fail_reason r);
enum fail_reason fail_reason_of(enum axle_status st);

/* Histograms of one stats block: counts per bucket (the last one above the
 * highest bound) and the sum, in nanoseconds (rows for H_BATCH). */
enum hist_kind { H_REQUEST, H_QUEUE, H_INPUT, H_INFER, H_OUTPUT, H_BATCH, H_N };
struct hist {
    atomic_uint_fast64_t n[METRIC_MAX_BUCKETS + 1];
    atomic_uint_fast64_t sum;
};

struct version_stats {
    struct duration_stat success, fail, queue, compute_input, compute_infer,
        compute_output;
    atomic_uint_fast64_t fail_reason[FAIL_N];
    struct hist hist[H_N];
    atomic_uint_fast64_t inference_count, execution_count;
    atomic_uint_fast64_t last_inference_ms;
    struct duration_stat *batch; /* [REPO_MAX_BATCH_STATS]: compute_infer per batch size */
    struct duration_stat *batch_input, *batch_output;
};

/* A stats block is written by one thread only: a relaxed load and store,
 * no locked add on the request path; readers sum the blocks. */
static inline void stats_bump(atomic_uint_fast64_t *x, uint64_t d)
{
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

static inline void stats_add(struct duration_stat *s, uint64_t ns)
{
    stats_bump(&s->count, 1);
    stats_bump(&s->ns, ns);
}

/* Count value into histogram k of st (bounds of v: latency in ns, or batch
 * rows). */
struct model_version;
void stats_observe(struct model_version *v, struct version_stats *st, enum hist_kind k,
                   uint64_t value);
/* A failed request: the stats extension's fail duration and the reason. */
void stats_fail(struct version_stats *st, enum axle_status why, uint64_t ns);

/* last_inference: now, in milliseconds of the wall clock. */
void stats_touch(struct version_stats *st);

struct io_desc {
    char name[REPO_MAX_NAME * 4];
    enum axle_dtype dtype;
    int rank;
    int64_t dims[AXLE_MAX_RANK]; /* -1 variable */
};

struct model_version {
    atomic_int refs;
    struct served_model *model;
    int64_t version;
    char version_str[24];
    enum version_state state;
    struct axle_model *engine;
    int n_inputs, n_outputs;
    struct io_desc inputs[REPO_MAX_IO], outputs[REPO_MAX_IO];
    int64_t max_batch_size;
    double load_seconds;
    int64_t mem_bytes;               /* charged to *mem_used while loaded */
    atomic_int_fast64_t *mem_used;
    /* Inline runs on the I/O thread (models that take microseconds):
     * sessions [n_threads], lazily created. */
    struct axle_session **sessions;
    int n_sessions;
    uint64_t run_ns;        /* a batch-1 run at load; 0: unknown */
    uint64_t inline_max_ns; /* run inline when run_ns x batch is within this */
    /* Everything else goes through the scheduler. */
    struct sched *sched;
    int dynamic;            /* requests are stacked */
    int instances, instance_threads;
    int64_t max_queue;
    uint64_t queue_timeout_ns;
    /* One block per I/O thread, then one per instance, each written only by
     * its thread; readers add the blocks up. */
    struct version_stats *stats;
    int n_stats;
    /* Histogram bounds: latency in ns (config or server default), and
     * batch sizes 1, 2, 4, ... up to max_batch_size. */
    int n_bounds, n_batch_bounds;
    uint64_t bounds[METRIC_MAX_BUCKETS];
    uint64_t batch_bounds[METRIC_MAX_BUCKETS];
    struct monitor *mon;  /* quality and drift (monitor.h); NULL: none */
};

struct served_model {
    char name[REPO_MAX_NAME + 1];
    struct model_config cfg;
    int has_config;
    /* Serving set, newest first. */
    struct model_version *versions[REPO_MAX_VERSIONS];
    int n_versions;
    /* Index entries for versions that are not serving (failed loads). */
    int64_t failed_version;
    char reason[256];
    /* Identity (device, inode, size, times) of the file behind a failed
     * version or config.json: the poller retries only once it changes. */
    uint64_t failed_sig, config_failed_sig;
    enum version_state state; /* READY if any version serves */
    int loading;              /* a load is running (409 for another) */
    int unloaded;             /* explicitly unloaded */
    int from_startup;         /* counts for server readiness */
};

struct repo {
    char *root;          /* repository directory */
    char *single_file;   /* or: one model file */
    char *single_name;
    enum model_control control;
    int n_threads;       /* I/O threads: session slots per version */
    int intra_threads;   /* intra-op threads per instance session; 0: cores / instances */
    int n_cores;         /* cores this process may use; 0: every online CPU */
    /* Scheduling defaults for models whose config.json does not set them
     * (the serve command's flags). */
    struct model_config defaults;
    uint64_t queue_timeout_ns;  /* default queue timeout */
    uint64_t inline_max_ns;     /* default inline bound */
    int n_buckets;              /* default latency buckets (seconds) */
    double buckets[METRIC_MAX_BUCKETS];
    /* Memory budget: loaded model bytes are charged here, and request
     * bodies by the HTTP layer. */
    atomic_int_fast64_t mem_used;
    int64_t mem_budget;
    pthread_mutex_t mu;
    struct served_model **models;
    int n_models, cap_models;
    int64_t max_model_bytes;
    /* Poll thread. */
    double poll_interval;
    pthread_t poll_thread;
    int poll_running;
    atomic_int stop;
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
    void (*log)(const char *event, const char *model, const char *version,
                const char *detail);
};

enum axle_status repo_open(struct repo *r, struct axle_err *err);
/* Load everything the repository holds (startup). Failed models stay in the
 * index as UNAVAILABLE; returns the number that loaded. */
int repo_load_all(struct repo *r);
/* Rescan: new versions load, removed versions unload (poll mode). */
void repo_rescan(struct repo *r);
void repo_start_poll(struct repo *r);
void repo_close(struct repo *r);

/* Explicit model control. */
enum axle_status repo_load_model(struct repo *r, const char *name, struct axle_err *err);
enum axle_status repo_unload_model(struct repo *r, const char *name, struct axle_err *err);

/* Find a version to serve: version NULL picks the newest READY one. On
 * success returns a referenced version. NOT_FOUND for an unknown model or
 * version; UNAVAILABLE when the model exists but is not ready. */
enum axle_status repo_acquire(struct repo *r, const char *model, const char *version,
                              struct model_version **out, struct axle_err *err);
void version_release(struct model_version *v);
struct axle_session *version_session(struct model_version *v, int thread_index,
                                     struct axle_err *err);

/* Every startup model is READY. */
int repo_ready(struct repo *r);

/* Snapshot for listings: calls fn for each model under the lock. */
void repo_foreach(struct repo *r, void (*fn)(void *arg, struct served_model *m), void *arg);

/* Names (SECURITY.md D10). */
/* The model file names a version directory may hold, in the order they are
 * looked for: ONNX, XGBoost JSON and UBJSON, LightGBM text. NULL-terminated. */
extern const char *const repo_model_files[];
/* The first of repo_model_files present in dir (any entry but a
 * directory; symlinks are refused later, at load) (written
 * to out as "dir/name"); NULL when there is none. */
const char *repo_find_model_file(const char *dir, char *out, size_t out_len);
int repo_valid_model_name(const char *s);
int repo_parse_version(const char *s, int64_t *out);

/* config.json (D31): parse into cfg; fills cfg defaults first. */
enum axle_status model_config_parse(char *json, size_t len, struct model_config *cfg,
                                    struct axle_err *err);
void model_config_default(struct model_config *cfg, const char *name);
/* A JSON array of latency bucket bounds (seconds, increasing). 0 or -1. */
struct json_doc;
int parse_buckets(const struct json_doc *d, uint32_t t, double *out, int *n);

const char *wire_dtype_name(enum axle_dtype dt);
enum axle_dtype wire_dtype_parse(const char *s);

#endif
