/*
 * repo.c - model repository: scanning, config.json, loading, reference
 * counting, hot reload (see repo.h).
 */
#include "serve/repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/json.h"
#include "serve/monitor.h"

const char *const repo_model_files[] = {"model.onnx", "model.json", "model.ubj",
                                        "model.txt", NULL};

const char *repo_find_model_file(const char *dir, char *out, size_t out_len)
{
    for (int i = 0; repo_model_files[i]; i++) {
        struct stat sb;
        if (snprintf(out, out_len, "%s/%s", dir, repo_model_files[i]) >= (int)out_len)
            return NULL;
        /* a symlink counts as present: the load then refuses it by name */
        if (lstat(out, &sb) == 0 && !S_ISDIR(sb.st_mode))
            return repo_model_files[i];
    }
    return NULL;
}
#define CONFIG_MAX_BYTES (1u << 20)

const char *version_state_name(enum version_state s)
{
    switch (s) {
    case VS_LOADING: return "LOADING";
    case VS_READY: return "READY";
    case VS_UNAVAILABLE: return "UNAVAILABLE";
    case VS_UNLOADING: return "UNLOADING";
    default: return "UNKNOWN";
    }
}

static const struct {
    enum axle_dtype dt;
    const char *name;
} wire_names[] = {
    /* The common ones first: both look-ups below scan in order. */
    {AXLE_DTYPE_FLOAT32, "FP32"},    {AXLE_DTYPE_INT64, "INT64"},
    {AXLE_DTYPE_FLOAT64, "FP64"},    {AXLE_DTYPE_INT32, "INT32"},
    {AXLE_DTYPE_STRING, "BYTES"},    {AXLE_DTYPE_BOOL, "BOOL"},
    {AXLE_DTYPE_UINT8, "UINT8"},     {AXLE_DTYPE_UINT16, "UINT16"},
    {AXLE_DTYPE_UINT32, "UINT32"},   {AXLE_DTYPE_UINT64, "UINT64"},
    {AXLE_DTYPE_INT8, "INT8"},       {AXLE_DTYPE_INT16, "INT16"},
    {AXLE_DTYPE_FLOAT16, "FP16"},    {AXLE_DTYPE_BFLOAT16, "BF16"},
};

const char *wire_dtype_name(enum axle_dtype dt)
{
    for (size_t i = 0; i < sizeof(wire_names) / sizeof(wire_names[0]); i++)
        if (wire_names[i].dt == dt)
            return wire_names[i].name;
    return "INVALID";
}

enum axle_dtype wire_dtype_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(wire_names) / sizeof(wire_names[0]); i++)
        if (strcmp(wire_names[i].name, s) == 0)
            return wire_names[i].dt;
    if (strcmp(s, "STRING") == 0)
        return AXLE_DTYPE_STRING;
    return AXLE_DTYPE_UNDEFINED;
}

/* ------------------------------------------------------------------ */
/* Names (D10)                                                         */

int repo_valid_model_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    unsigned char c0 = (unsigned char)s[0];
    if (!((c0 >= 'A' && c0 <= 'Z') || (c0 >= 'a' && c0 <= 'z') || (c0 >= '0' && c0 <= '9')))
        return 0;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return strstr(s, "..") == NULL;
}

int repo_parse_version(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n < 1 || n > 10 || s[0] == '0')
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 1000000000)
        return 0;
    *out = v;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Confined opens (D11)                                                */

static int open_beneath(int dirfd, const char *rel, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    if (fd >= 0 || errno != ENOSYS)
        return (int)fd;
    /* Old kernel: walk one component at a time with O_NOFOLLOW. */
    char tmp[PATH_MAX];
    size_t rl = strlen(rel);
    if (rl >= sizeof(tmp))
        return -1;
    memcpy(tmp, rel, rl + 1);
    int cur = dup(dirfd);
    char *save = NULL;
    char *part = strtok_r(tmp, "/", &save);
    while (part && cur >= 0) {
        char *next = strtok_r(NULL, "/", &save);
        if (strcmp(part, "..") == 0 || strcmp(part, ".") == 0) {
            close(cur);
            errno = EXDEV;
            return -1;
        }
        int nfd = openat(cur, part, (next ? O_DIRECTORY | O_RDONLY : flags) | O_NOFOLLOW | O_CLOEXEC);
        close(cur);
        cur = nfd;
        part = next;
    }
    return cur;
}

/* Check that REL under the repository is a plain model file: regular, one
 * link, within the size cap. */
static enum axle_status check_model_file(struct repo *r, int rootfd, const char *rel,
                                         struct axle_err *err)
{
    int fd = open_beneath(rootfd, rel, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "load failed: not a regular file");
    struct stat sb;
    enum axle_status st = AXLE_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1)
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "load failed: not a regular file");
    else if (sb.st_size == 0)
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "load failed: empty model file");
    else if (sb.st_size > r->max_model_bytes)
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT, "load failed: model file too large");
    close(fd);
    return st;
}

/* ------------------------------------------------------------------ */
/* config.json (D31)                                                   */

void model_config_default(struct model_config *cfg, const char *name)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->name, sizeof(cfg->name), "%s", name);
    cfg->max_batch_size = -1; /* derived from the model */
    cfg->instance_count = 1;
    cfg->policy = POLICY_LATEST;
    cfg->latest_n = 1;
    cfg->queue_timeout_us = -1;
    cfg->priority_levels = 1;
    cfg->inline_max_us = -1;
}

static int get_int(const struct json_doc *d, uint32_t t, int64_t lo, int64_t hi, int64_t *out);
static void log_event(struct repo *r, const char *ev, const char *model, int64_t ver,
                      const char *detail);

/* The defaults of this repository (serve flags), named `name`. */
static void config_default(const struct repo *r, struct model_config *cfg, const char *name)
{
    if (r->defaults.instance_count > 0) {
        *cfg = r->defaults;
        snprintf(cfg->name, sizeof(cfg->name), "%s", name);
    } else {
        model_config_default(cfg, name);
    }
}

/* Priority levels, preferred sizes and the queue policy: keys that may sit
 * at the top level or (Triton's place) inside dynamic_batching. */
static int sched_key(const struct json_doc *d, const char *key, uint32_t v,
                     struct model_config *cfg, int *bad)
{
    int64_t iv;
    *bad = 0;
    if (strcmp(key, "max_queue_size") == 0) {
        if (get_int(d, v, 1, 65536, &iv) != 0)
            *bad = 1;
        else
            cfg->max_queue_size = iv;
    } else if (strcmp(key, "queue_timeout_microseconds") == 0) {
        if (get_int(d, v, 0, 3600000000ll, &iv) != 0)
            *bad = 1;
        else
            cfg->queue_timeout_us = iv;
    } else if (strcmp(key, "priority_levels") == 0) {
        if (get_int(d, v, 1, SCHED_MAX_LEVELS, &iv) != 0)
            *bad = 1;
        else
            cfg->priority_levels = (int)iv;
    } else if (strcmp(key, "default_priority_level") == 0) {
        if (get_int(d, v, 0, SCHED_MAX_LEVELS, &iv) != 0)
            *bad = 1;
        else
            cfg->default_priority_level = (int)iv;
    } else if (strcmp(key, "default_queue_policy") == 0) {
        /* Triton: {"default_timeout_microseconds":n, "max_queue_size":n} */
        if (json_tok(d, v)->type != JSON_OBJECT) {
            *bad = 1;
            return 1;
        }
        for (uint32_t k = v + 1; k < json_next(d, v) && !*bad; k = json_next(d, k + 1)) {
            const char *pk = json_str(d, k);
            if (strcmp(pk, "default_timeout_microseconds") == 0)
                *bad = get_int(d, k + 1, 0, 3600000000ll, &iv) != 0;
            else if (strcmp(pk, "max_queue_size") == 0)
                *bad = get_int(d, k + 1, 1, 65536, &iv) != 0;
            else
                *bad = 1;
            if (*bad)
                break;
            if (pk[0] == 'd')
                cfg->queue_timeout_us = iv;
            else
                cfg->max_queue_size = iv;
        }
    } else if (strcmp(key, "preferred_batch_size") == 0) {
        if (json_tok(d, v)->type != JSON_ARRAY || json_tok(d, v)->size > SCHED_MAX_PREFERRED) {
            *bad = 1;
            return 1;
        }
        cfg->n_preferred = 0;
        for (uint32_t e = v + 1; e < json_next(d, v); e = json_next(d, e)) {
            if (get_int(d, e, 1, 1024, &iv) != 0 ||
                (cfg->n_preferred && iv <= cfg->preferred[cfg->n_preferred - 1])) {
                *bad = 1; /* ascending, no repeats */
                break;
            }
            cfg->preferred[cfg->n_preferred++] = iv;
        }
    } else {
        return 0;
    }
    return 1;
}

static enum axle_status bad_key(struct axle_err *err, const char *key)
{
    return axle_err_set(err, AXLE_INVALID_ARGUMENT, "invalid config: %s", key);
}

static int get_int(const struct json_doc *d, uint32_t t, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v;
    if (json_tok(d, t)->type != JSON_NUMBER || json_to_int64(d, t, &v) != 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static enum axle_status parse_io_overrides(const struct json_doc *d, uint32_t arr,
                                           struct io_override *ov, int *n,
                                           const char *key, struct axle_err *err)
{
    if (json_tok(d, arr)->type != JSON_ARRAY || json_tok(d, arr)->size > REPO_MAX_IO)
        return bad_key(err, key);
    *n = 0;
    for (uint32_t t = arr + 1; t < json_next(d, arr); t = json_next(d, t)) {
        if (json_tok(d, t)->type != JSON_OBJECT)
            return bad_key(err, key);
        struct io_override *o = &ov[(*n)++];
        memset(o, 0, sizeof(*o));
        o->rank = -1;
        for (uint32_t k = t + 1; k < json_next(d, t); k = json_next(d, k + 1)) {
            uint32_t v = k + 1;
            const char *kn = json_str(d, k);
            if (strcmp(kn, "name") == 0 && json_tok(d, v)->type == JSON_STRING &&
                json_tok(d, v)->size <= REPO_MAX_NAME) {
                snprintf(o->name, sizeof(o->name), "%s", json_str(d, v));
            } else if ((strcmp(kn, "datatype") == 0 || strcmp(kn, "data_type") == 0) &&
                       json_tok(d, v)->type == JSON_STRING) {
                const char *s = json_str(d, v);
                if (strncmp(s, "TYPE_", 5) == 0)
                    s += 5;
                o->dtype = wire_dtype_parse(strcmp(s, "STRING") == 0 ? "BYTES" : s);
                if (o->dtype == AXLE_DTYPE_UNDEFINED)
                    return bad_key(err, "datatype");
            } else if ((strcmp(kn, "shape") == 0 || strcmp(kn, "dims") == 0) &&
                       json_tok(d, v)->type == JSON_ARRAY &&
                       json_tok(d, v)->size <= AXLE_MAX_RANK) {
                o->rank = 0;
                for (uint32_t e = v + 1; e < json_next(d, v); e = json_next(d, e)) {
                    int64_t dim;
                    if (get_int(d, e, -1, INT32_MAX, &dim) != 0)
                        return bad_key(err, "shape");
                    o->dims[o->rank++] = dim;
                }
            } else {
                return bad_key(err, kn[0] ? key : key);
            }
        }
        if (!o->name[0])
            return bad_key(err, "name");
    }
    return AXLE_OK;
}

/* Latency bucket bounds in seconds: 1..32 finite, positive, increasing. */
int parse_buckets(const struct json_doc *d, uint32_t t, double *out, int *n)
{
    if (json_tok(d, t)->type != JSON_ARRAY || json_tok(d, t)->size < 1 ||
        json_tok(d, t)->size > METRIC_MAX_BUCKETS)
        return -1;
    int k = 0;
    for (uint32_t e = t + 1; e < json_next(d, t); e = json_next(d, e)) {
        double x;
        if (json_tok(d, e)->type != JSON_NUMBER || json_to_double(d, e, &x) != 0 ||
            !(x > 0 && x <= 3600) || (k > 0 && x <= out[k - 1]))
            return -1;
        out[k++] = x;
    }
    *n = k;
    return 0;
}

/* "monitoring": {"enabled": bool, "latency_buckets_seconds": [...], "output": name,
 * "task": "classification"|"regression", "profile": file, "drift_window": n} */
static enum axle_status parse_monitoring(const struct json_doc *d, uint32_t v,
                                         struct model_config *cfg, struct axle_err *err)
{
    if (json_tok(d, v)->type != JSON_OBJECT)
        return bad_key(err, "monitoring");
    for (uint32_t k = v + 1; k < json_next(d, v); k = json_next(d, k + 1)) {
        const char *key = json_str(d, k);
        uint32_t x = k + 1;
        int64_t iv;
        if (strcmp(key, "enabled") == 0) {
            int t = json_tok(d, x)->type;
            if (t != JSON_TRUE && t != JSON_FALSE)
                return bad_key(err, key);
            cfg->mon_off = t == JSON_FALSE;
        } else if (strcmp(key, "latency_buckets_seconds") == 0) {
            if (parse_buckets(d, x, cfg->buckets, &cfg->n_buckets) != 0)
                return bad_key(err, key);
        } else if (strcmp(key, "output") == 0) {
            if (json_tok(d, x)->type != JSON_STRING || json_tok(d, x)->size == 0 ||
                json_tok(d, x)->size > REPO_MAX_NAME)
                return bad_key(err, key);
            snprintf(cfg->mon_output, sizeof(cfg->mon_output), "%s", json_str(d, x));
        } else if (strcmp(key, "task") == 0) {
            const char *t = json_tok(d, x)->type == JSON_STRING ? json_str(d, x) : "";
            if (strcmp(t, "classification") == 0)
                cfg->mon_task = 1;
            else if (strcmp(t, "regression") == 0)
                cfg->mon_task = 2;
            else
                return bad_key(err, key);
        } else if (strcmp(key, "profile") == 0) {
            /* One file name in the model directory (SECURITY.md D12). */
            const char *f = json_tok(d, x)->type == JSON_STRING ? json_str(d, x) : "";
            size_t n = strlen(f);
            if (n == 0 || n >= sizeof(cfg->profile) || strspn(f, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                 "abcdefghijklmnopqrstuvwxyz"
                                                                 "0123456789._-") != n ||
                strcmp(f, ".") == 0 || strcmp(f, "..") == 0)
                return bad_key(err, key);
            memcpy(cfg->profile, f, n + 1);
        } else if (strcmp(key, "drift_window") == 0) {
            if (get_int(d, x, 10, 1000000, &iv) != 0)
                return bad_key(err, key);
            cfg->drift_window = iv;
        } else {
            return bad_key(err, key);
        }
    }
    return AXLE_OK;
}

enum axle_status model_config_parse(char *json, size_t len, struct model_config *cfg,
                                    struct axle_err *err)
{
    struct json_doc d;
    json_doc_init(&d);
    d.max_depth = 16;
    enum axle_status st = json_parse(&d, json, len, err);
    if (st != AXLE_OK) {
        json_doc_free(&d);
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "invalid config: %s", err ? err->msg : "");
    }
    st = AXLE_OK;
    if (json_tok(&d, 0)->type != JSON_OBJECT) {
        st = bad_key(err, "root");
        goto out;
    }
    for (uint32_t k = 1; k < json_next(&d, 0) && st == AXLE_OK; k = json_next(&d, k + 1)) {
        uint32_t v = k + 1;
        const char *key = json_str(&d, k);
        int64_t iv;
        if (strcmp(key, "name") == 0) {
            if (json_tok(&d, v)->type != JSON_STRING || strcmp(json_str(&d, v), cfg->name) != 0)
                st = bad_key(err, "name");
        } else if (strcmp(key, "platform") == 0 || strcmp(key, "backend") == 0) {
            if (json_tok(&d, v)->type != JSON_STRING ||
                (strcmp(json_str(&d, v), "onnx_onnxv1") != 0 && strcmp(json_str(&d, v), "onnx") != 0 &&
                 strcmp(json_str(&d, v), "onnxruntime") != 0 && strcmp(json_str(&d, v), "axle") != 0))
                st = bad_key(err, key);
        } else if (strcmp(key, "max_batch_size") == 0) {
            if (get_int(&d, v, 0, 1024, &iv) != 0)
                st = bad_key(err, key);
            else
                cfg->max_batch_size = iv;
        } else if (strcmp(key, "instance_count") == 0) {
            if (get_int(&d, v, 1, 16, &iv) != 0)
                st = bad_key(err, key);
            else
                cfg->instance_count = (int)iv;
        } else if (strcmp(key, "inline_max_microseconds") == 0) {
            if (get_int(&d, v, 0, 1000000, &iv) != 0)
                st = bad_key(err, key);
            else
                cfg->inline_max_us = iv;
        } else if (strcmp(key, "warmup") == 0) {
            if (get_int(&d, v, 0, 100, &iv) != 0)
                st = bad_key(err, key);
            else
                cfg->warmup = (int)iv;
        } else if (strcmp(key, "v1_instances_b64") == 0) {
            uint8_t t = json_tok(&d, v)->type;
            if (t != JSON_TRUE && t != JSON_FALSE)
                st = bad_key(err, key);
            else
                cfg->v1_instances_b64 = t == JSON_TRUE;
        } else if (strcmp(key, "inputs") == 0 || strcmp(key, "input") == 0) {
            st = parse_io_overrides(&d, v, cfg->inputs, &cfg->n_input_overrides, key, err);
        } else if (strcmp(key, "outputs") == 0 || strcmp(key, "output") == 0) {
            st = parse_io_overrides(&d, v, cfg->outputs, &cfg->n_output_overrides, key, err);
        } else if (strcmp(key, "version_policy") == 0) {
            /* {"latest":{"num_versions":n}} | {"all":{}} | {"specific":{"versions":[..]}} */
            if (json_tok(&d, v)->type != JSON_OBJECT || json_tok(&d, v)->size != 1) {
                st = bad_key(err, key);
                continue;
            }
            const char *kind = json_str(&d, v + 1);
            uint32_t body = v + 2;
            if (json_tok(&d, body)->type != JSON_OBJECT) {
                st = bad_key(err, key);
            } else if (strcmp(kind, "latest") == 0) {
                uint32_t nv = json_get(&d, body, "num_versions");
                cfg->policy = POLICY_LATEST;
                cfg->latest_n = 1;
                if (json_tok(&d, body)->size > (nv ? 1u : 0u))
                    st = bad_key(err, key);
                else if (nv && get_int(&d, nv, 1, REPO_MAX_VERSIONS, &iv) != 0)
                    st = bad_key(err, key);
                else if (nv)
                    cfg->latest_n = (int)iv;
            } else if (strcmp(kind, "all") == 0) {
                cfg->policy = POLICY_ALL;
                if (json_tok(&d, body)->size != 0)
                    st = bad_key(err, key);
            } else if (strcmp(kind, "specific") == 0) {
                uint32_t vs = json_get(&d, body, "versions");
                cfg->policy = POLICY_SPECIFIC;
                if (!vs || json_tok(&d, body)->size != 1 || json_tok(&d, vs)->type != JSON_ARRAY ||
                    json_tok(&d, vs)->size > REPO_MAX_VERSIONS) {
                    st = bad_key(err, key);
                } else {
                    cfg->n_specific = 0;
                    for (uint32_t e = vs + 1; e < json_next(&d, vs) && st == AXLE_OK;
                         e = json_next(&d, e)) {
                        if (get_int(&d, e, 1, 1000000000, &iv) != 0)
                            st = bad_key(err, key);
                        else
                            cfg->specific[cfg->n_specific++] = iv;
                    }
                }
            } else {
                st = bad_key(err, key);
            }
        } else if (strcmp(key, "dynamic_batching") == 0) {
            if (json_tok(&d, v)->type != JSON_OBJECT) {
                st = bad_key(err, key);
                continue;
            }
            cfg->dynamic_batching = 1;
            for (uint32_t b = v + 1; b < json_next(&d, v) && st == AXLE_OK; b = json_next(&d, b + 1)) {
                const char *bk = json_str(&d, b);
                int bad;
                if (strcmp(bk, "max_queue_delay_microseconds") == 0) {
                    if (get_int(&d, b + 1, 0, 60000000, &iv) != 0)
                        st = bad_key(err, bk);
                    else
                        cfg->max_queue_delay_us = iv;
                } else if (!sched_key(&d, bk, b + 1, cfg, &bad) || bad) {
                    st = bad_key(err, bk);
                }
            }
        } else if (strcmp(key, "monitoring") == 0) {
            st = parse_monitoring(&d, v, cfg, err);
        } else if (strcmp(key, "parameters") == 0) {
            if (json_tok(&d, v)->type != JSON_OBJECT)
                st = bad_key(err, key);
        } else {
            int bad;
            if (!sched_key(&d, key, v, cfg, &bad) || bad)
                st = bad_key(err, key);
        }
    }
    if (st == AXLE_OK && cfg->default_priority_level > cfg->priority_levels)
        st = bad_key(err, "default_priority_level");
out:
    json_doc_free(&d);
    return st;
}

/* A small file REL beneath the repository root into a malloc'd,
 * NUL-terminated buffer. ENOENT leaves *buf NULL with AXLE_OK. */
static enum axle_status read_small(int rootfd, const char *rel, size_t max, char **buf,
                                   size_t *len, const char *what, struct axle_err *err)
{
    *buf = NULL;
    *len = 0;
    int fd = open_beneath(rootfd, rel, O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return AXLE_OK;
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "%s: not a regular file", what);
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max) {
        close(fd);
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "%s: not a regular file", what);
    }
    char *b = axle_xmalloc((size_t)sb.st_size + 1);
    ssize_t got = 0;
    while (got < sb.st_size) {
        ssize_t n = read(fd, b + got, (size_t)(sb.st_size - got));
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    b[got] = 0;
    *buf = b;
    *len = (size_t)got;
    return AXLE_OK;
}

static enum axle_status read_config(int rootfd, const char *model, struct model_config *cfg,
                                    int *has, struct axle_err *err)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "%s/config.json", model);
    *has = 0;
    char *buf;
    size_t len;
    enum axle_status st = read_small(rootfd, rel, CONFIG_MAX_BYTES, &buf, &len,
                                     "invalid config", err);
    if (st != AXLE_OK || !buf)
        return st;
    st = model_config_parse(buf, len, cfg, err);
    free(buf);
    if (st == AXLE_OK)
        *has = 1;
    return st;
}

/* Quality and drift (monitor.h); the drift profile is a file named in
 * config.json, in the model's directory. */
#define PROFILE_MAX_BYTES (8u << 20)

static enum axle_status setup_monitor(struct repo *r, struct served_model *m,
                                      struct model_version *v, struct axle_err *err)
{
    char *prof = NULL;
    size_t plen = 0;
    if (m->cfg.mon_off) {
        v->mon = NULL; /* metrics only: no quality, drift or server-made ids */
        return AXLE_OK;
    }
    if (m->cfg.profile[0]) {
        if (!r->root)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid config: a profile needs a model repository");
        int rootfd = open(r->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
            return axle_err_set(err, AXLE_UNAVAILABLE, "load failed: repository unreadable");
        char rel[256];
        snprintf(rel, sizeof(rel), "%s/%s", m->name, m->cfg.profile);
        enum axle_status st = read_small(rootfd, rel, PROFILE_MAX_BYTES, &prof, &plen,
                                         "invalid profile", err);
        close(rootfd);
        if (st != AXLE_OK)
            return st;
        if (!prof)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "invalid profile: file not found");
    }
    enum axle_status st = monitor_new(v, &m->cfg, prof, plen, &v->mon, err);
    free(prof);
    return st;
}

/* ------------------------------------------------------------------ */
/* Versions                                                            */

void stats_touch(struct version_stats *st)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts); /* ms resolution is enough */
    atomic_store_explicit(&st->last_inference_ms,
                          (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
                          memory_order_relaxed);
}

const char *fail_reason_name(enum fail_reason r)
{
    static const char *const names[FAIL_N] = {"bad_request", "rejected", "timeout", "canceled",
                                              "error"};
    return (unsigned)r < FAIL_N ? names[r] : "error";
}

/* PROTOCOLS.md section 14's reason mapping, with the client's own
 * mistakes (400, 404, 413) apart from server errors. */
enum fail_reason fail_reason_of(enum axle_status st)
{
    switch (st) {
    case AXLE_INVALID_ARGUMENT: case AXLE_NOT_FOUND: case AXLE_OUT_OF_RANGE:
    case AXLE_FAILED_PRECONDITION: case AXLE_UNIMPLEMENTED: case AXLE_PERMISSION_DENIED:
    case AXLE_UNAUTHENTICATED:
        return FAIL_BAD_REQUEST;
    case AXLE_UNAVAILABLE: case AXLE_RESOURCE_EXHAUSTED:
        return FAIL_REJECTED;
    case AXLE_DEADLINE_EXCEEDED:
        return FAIL_TIMEOUT;
    case AXLE_CANCELLED:
        return FAIL_CANCELED;
    default:
        return FAIL_ERROR;
    }
}

void stats_observe(struct model_version *v, struct version_stats *st, enum hist_kind k,
                   uint64_t value)
{
    const uint64_t *b = k == H_BATCH ? v->batch_bounds : v->bounds;
    int n = k == H_BATCH ? v->n_batch_bounds : v->n_bounds;
    int i = 0;
    while (i < n && value > b[i])
        i++;
    stats_bump(&st->hist[k].n[i], 1);
    stats_bump(&st->hist[k].sum, value);
}

void stats_fail(struct version_stats *st, enum axle_status why, uint64_t ns)
{
    stats_add(&st->fail, ns);
    stats_bump(&st->fail_reason[fail_reason_of(why)], 1);
}

/* Default latency buckets, seconds (PROTOCOLS.md section 14). */
static const double default_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                         0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static void set_bounds(struct model_version *v, const struct repo *r, const struct model_config *c)
{
    const double *b = default_buckets;
    int n = (int)(sizeof(default_buckets) / sizeof(default_buckets[0]));
    if (c->n_buckets > 0) {
        b = c->buckets;
        n = c->n_buckets;
    } else if (r->n_buckets > 0) {
        b = r->buckets;
        n = r->n_buckets;
    }
    v->n_bounds = n;
    for (int i = 0; i < n; i++)
        v->bounds[i] = (uint64_t)(b[i] * 1e9 + 0.5);
    int64_t mb = v->max_batch_size > 0 ? v->max_batch_size : 1;
    v->n_batch_bounds = 0;
    for (int64_t x = 1; v->n_batch_bounds < METRIC_MAX_BUCKETS; x *= 2) {
        v->batch_bounds[v->n_batch_bounds++] = (uint64_t)(x < mb ? x : mb);
        if (x >= mb)
            break;
    }
}

static void version_free(struct model_version *v)
{
    sched_free(v->sched);
    monitor_free(v->mon);
    if (v->mem_used)
        atomic_fetch_sub(v->mem_used, v->mem_bytes);
    for (int i = 0; i < v->n_sessions; i++)
        axle_session_free(v->sessions[i]);
    free(v->sessions);
    axle_model_unref(v->engine);
    for (int i = 0; v->stats && i < v->n_stats; i++) {
        free(v->stats[i].batch);
        free(v->stats[i].batch_input);
        free(v->stats[i].batch_output);
    }
    free(v->stats);
    free(v);
}

void version_release(struct model_version *v)
{
    if (v && atomic_fetch_sub(&v->refs, 1) == 1)
        version_free(v);
}

struct axle_session *version_session(struct model_version *v, int thread_index,
                                     struct axle_err *err)
{
    if (thread_index < 0 || thread_index >= v->n_sessions)
        thread_index = 0;
    if (!v->sessions[thread_index]) {
        /* Inline runs take microseconds: one thread, no pool. */
        struct axle_session_opts so = {.n_threads = 1,
                                       .max_batch = v->max_batch_size > 0 ? v->max_batch_size : 1};
        if (axle_session_new(v->engine, &so, &v->sessions[thread_index], err) != AXLE_OK)
            return NULL;
    }
    return v->sessions[thread_index];
}

static void fill_io(struct io_desc *d, const struct axle_io_info *in)
{
    snprintf(d->name, sizeof(d->name), "%s", in->name);
    d->dtype = in->dtype;
    d->rank = in->rank < 0 ? 0 : in->rank;
    for (int i = 0; i < d->rank; i++)
        d->dims[i] = in->dims[i];
}

static enum axle_status apply_overrides(struct io_desc *io, int n, const struct io_override *ov,
                                        int n_ov, struct axle_err *err)
{
    for (int i = 0; i < n_ov; i++) {
        int found = -1;
        for (int j = 0; j < n; j++)
            if (strcmp(io[j].name, ov[i].name) == 0)
                found = j;
        if (found < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid config: unknown tensor '%s'", ov[i].name);
        struct io_desc *d = &io[found];
        if (ov[i].dtype != AXLE_DTYPE_UNDEFINED && ov[i].dtype != d->dtype)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid config: datatype of '%s' differs from the model", ov[i].name);
        if (ov[i].rank >= 0) {
            if (ov[i].rank != d->rank)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "invalid config: rank of '%s' differs from the model", ov[i].name);
            for (int k = 0; k < d->rank; k++) {
                if (d->dims[k] >= 0 && ov[i].dims[k] != d->dims[k])
                    return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                        "invalid config: shape of '%s' differs from the model",
                                        ov[i].name);
                d->dims[k] = ov[i].dims[k];
            }
        }
    }
    return AXLE_OK;
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Warm-up: `runs` runs with zero inputs at batch 1 on instance 0, at least
 * two; the last one's time is the version's run_ns. With runs == 0 a
 * failure only leaves run_ns unknown. */
static enum axle_status warm_up(struct model_version *v, int runs, struct axle_err *err)
{
    struct axle_session *s = sched_session(v->sched);
    int required = runs > 0;
    if (runs < 2)
        runs = 2;
    struct axle_tensor in[REPO_MAX_IO];
    void *bufs[REPO_MAX_IO] = {0};
    struct axle_tensor out[REPO_MAX_IO];
    enum axle_status st = AXLE_OK;
    for (int i = 0; i < v->n_inputs; i++) {
        struct io_desc *d = &v->inputs[i];
        memset(&in[i], 0, sizeof(in[i]));
        in[i].dtype = d->dtype;
        in[i].rank = d->rank;
        size_t n = 1;
        for (int k = 0; k < d->rank; k++) {
            in[i].dims[k] = d->dims[k] < 0 ? 1 : d->dims[k];
            n *= (size_t)in[i].dims[k];
        }
        size_t es = axle_dtype_size(d->dtype);
        bufs[i] = axle_try_calloc(n ? n : 1, es ? es : 1);
        if (!bufs[i]) {
            st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "load failed: out of memory");
            goto out;
        }
        if (d->dtype == AXLE_DTYPE_STRING) {
            char **sp = bufs[i];
            for (size_t k = 0; k < n; k++)
                sp[k] = (char *)"";
        }
        in[i].data = bufs[i];
    }
    for (int r = 0; r < runs && st == AXLE_OK; r++) {
        double t0 = mono_seconds();
        st = axle_session_run(s, v->n_inputs, in, v->n_outputs, out, err);
        v->run_ns = st == AXLE_OK ? (uint64_t)((mono_seconds() - t0) * 1e9) + 1 : 0;
    }
out:
    for (int i = 0; i < v->n_inputs; i++)
        free(bufs[i]);
    if (st != AXLE_OK && !required) {
        v->run_ns = 0;
        return AXLE_OK;
    }
    return st;
}

static enum axle_status load_version(struct repo *r, struct served_model *m, int64_t ver,
                                     const char *path_rel, struct model_version **out,
                                     struct axle_err *err)
{
    int rootfd = -1;
    char path[PATH_MAX];
    if (r->single_file) {
        snprintf(path, sizeof(path), "%s", r->single_file);
    } else {
        rootfd = open(r->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
            return axle_err_set(err, AXLE_UNAVAILABLE, "load failed: repository unreadable");
        enum axle_status st = check_model_file(r, rootfd, path_rel, err);
        close(rootfd);
        if (st != AXLE_OK)
            return st;
        if (snprintf(path, sizeof(path), "%s/%s", r->root, path_rel) >= (int)sizeof(path))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "load failed: path too long");
    }
    /* Memory budget (SECURITY.md D32): the file's bytes stand for the
     * weights it holds. */
    struct stat fsb;
    int64_t fbytes = stat(path, &fsb) == 0 ? (int64_t)fsb.st_size : 0;
    if (r->mem_budget > 0 && atomic_load(&r->mem_used) + fbytes > r->mem_budget)
        return axle_err_set(err, AXLE_UNAVAILABLE, "load failed: memory budget exceeded");
    double t0 = mono_seconds();
    struct model_version *v = axle_xcalloc(1, sizeof(*v));
    atomic_init(&v->refs, 1);
    v->model = m;
    v->version = ver;
    snprintf(v->version_str, sizeof(v->version_str), "%lld", (long long)ver);
    v->state = VS_LOADING;
    struct axle_load_opts lo = {.max_model_bytes = (size_t)r->max_model_bytes};
    struct axle_err lerr;
    if (axle_model_load_file(path, &lo, &v->engine, &lerr) != AXLE_OK) {
        /* The engine's message names the operator or the structure at
         * fault; it never carries the path (the load-file errno text
         * is replaced here). */
        const char *msg = lerr.msg;
        if (strncmp(msg, "cannot open", 11) == 0)
            msg = "cannot open model file";
        axle_err_set(err, AXLE_INVALID_ARGUMENT, "load failed: %s", msg);
        version_free(v);
        return AXLE_INVALID_ARGUMENT;
    }
    v->n_inputs = axle_model_n_inputs(v->engine);
    v->n_outputs = axle_model_n_outputs(v->engine);
    if (v->n_inputs > REPO_MAX_IO || v->n_outputs > REPO_MAX_IO) {
        version_free(v);
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "load failed: too many inputs or outputs");
    }
    /* The wire protocols carry tensors only: a model whose graph inputs or
     * outputs are ONNX sequences or optionals (inside it they are fine)
     * is refused here. */
    for (int i = 0; i < v->n_inputs + v->n_outputs; i++) {
        struct axle_io_info info;
        if (i < v->n_inputs)
            axle_model_input(v->engine, i, &info);
        else
            axle_model_output(v->engine, i - v->n_inputs, &info);
        if (info.kind != AXLE_KIND_TENSOR) {
            version_free(v);
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "load failed: sequence and optional model inputs and "
                                "outputs are not served");
        }
        fill_io(i < v->n_inputs ? &v->inputs[i] : &v->outputs[i - v->n_inputs], &info);
    }
    enum axle_status st = apply_overrides(v->inputs, v->n_inputs, m->cfg.inputs,
                                          m->cfg.n_input_overrides, err);
    if (st == AXLE_OK)
        st = apply_overrides(v->outputs, v->n_outputs, m->cfg.outputs, m->cfg.n_output_overrides, err);
    if (st != AXLE_OK) {
        version_free(v);
        return st;
    }
    /* max_batch_size: from config, else batching when every input's first
     * dimension is variable. */
    if (m->cfg.max_batch_size >= 0) {
        v->max_batch_size = m->cfg.max_batch_size;
    } else {
        int all_var = v->n_inputs > 0;
        for (int i = 0; i < v->n_inputs; i++)
            if (v->inputs[i].rank < 1 || v->inputs[i].dims[0] != -1)
                all_var = 0;
        v->max_batch_size = all_var ? 64 : 0;
    }
    if (v->max_batch_size > 0) {
        for (int i = 0; i < v->n_inputs; i++) {
            if (v->inputs[i].rank < 1 || (v->inputs[i].dims[0] != -1 && v->inputs[i].dims[0] != 1)) {
                version_free(v);
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "invalid config: max_batch_size needs a batch dimension on '%s'",
                                    v->inputs[i].name);
            }
        }
    }
    /* Scheduling. */
    const struct model_config *c = &m->cfg;
    v->dynamic = c->dynamic_batching && v->max_batch_size > 0;
    for (int o = 0; o < v->n_outputs && v->dynamic; o++)
        if (v->outputs[o].rank < 1 || v->outputs[o].dims[0] != -1) {
            v->dynamic = 0;
            log_event(r, "batching_off", m->name, ver,
                      "an output is not batched along dimension 0");
        }
    for (int p = 0; p < c->n_preferred && v->dynamic; p++)
        if (c->preferred[p] > v->max_batch_size) {
            version_free(v);
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid config: preferred_batch_size above max_batch_size");
        }
    long ncpu = r->n_cores > 0 ? r->n_cores : sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    v->instances = c->instance_count > 0 ? c->instance_count : 1;
    v->instance_threads = r->intra_threads > 0 ? r->intra_threads
                                               : (int)(ncpu / v->instances > 0 ? ncpu / v->instances : 1);
    int64_t mb = v->max_batch_size > 0 ? v->max_batch_size : 1;
    v->max_queue = c->max_queue_size > 0 ? c->max_queue_size : 4 * mb * v->instances;
    if (c->max_queue_size <= 0 && v->max_queue < 64)
        v->max_queue = 64;
    v->queue_timeout_ns = c->queue_timeout_us >= 0 ? (uint64_t)c->queue_timeout_us * 1000
                                                   : r->queue_timeout_ns;
    v->inline_max_ns = c->inline_max_us >= 0 ? (uint64_t)c->inline_max_us * 1000 : r->inline_max_ns;
    if (v->dynamic)
        v->inline_max_ns = 0;
    v->n_sessions = r->n_threads > 0 ? r->n_threads : 1;
    v->sessions = axle_xcalloc((size_t)v->n_sessions, sizeof(*v->sessions));
    set_bounds(v, r, c);
    v->n_stats = v->n_sessions + v->instances;
    v->stats = axle_xcalloc((size_t)v->n_stats, sizeof(*v->stats));
    for (int i = 0; i < v->n_stats; i++) {
        v->stats[i].batch = axle_xcalloc(REPO_MAX_BATCH_STATS, sizeof(struct duration_stat));
        v->stats[i].batch_input = axle_xcalloc(REPO_MAX_BATCH_STATS, sizeof(struct duration_stat));
        v->stats[i].batch_output = axle_xcalloc(REPO_MAX_BATCH_STATS, sizeof(struct duration_stat));
    }
    /* Instance sessions now (memory reserved at load), then warm-up. */
    struct sched_opts so = {
        .instances = v->instances,
        .intra_threads = v->instance_threads,
        .max_batch = v->max_batch_size,
        .dynamic = v->dynamic,
        .max_queue_delay_ns = (uint64_t)c->max_queue_delay_us * 1000,
        .n_preferred = c->n_preferred,
        .max_queue = v->max_queue,
        .queue_timeout_ns = v->queue_timeout_ns,
        .levels = c->priority_levels,
        .default_level = c->default_priority_level,
        .stats_base = v->n_sessions,
    };
    memcpy(so.preferred, c->preferred, sizeof(so.preferred));
    if (sched_new(v, v->engine, &so, &v->sched, err) != AXLE_OK) {
        axle_err_prefix(err, "load failed: ");
        version_free(v);
        return AXLE_INVALID_ARGUMENT;
    }
    st = warm_up(v, m->cfg.warmup, err);
    if (st != AXLE_OK) {
        axle_err_prefix(err, "load failed: warm-up: ");
        version_free(v);
        return AXLE_INVALID_ARGUMENT;
    }
    st = setup_monitor(r, m, v, err);
    if (st != AXLE_OK) {
        axle_err_prefix(err, "load failed: ");
        version_free(v);
        return AXLE_INVALID_ARGUMENT;
    }
    sched_start(v->sched);
    v->load_seconds = mono_seconds() - t0;
    v->mem_bytes = fbytes;
    v->mem_used = &r->mem_used;
    atomic_fetch_add(&r->mem_used, fbytes);
    v->state = VS_READY;
    *out = v;
    return AXLE_OK;
}

/* ------------------------------------------------------------------ */
/* Scanning                                                            */

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Versions present on disk for model m, filtered by its policy, newest
 * first. */
static int wanted_versions(struct repo *r, struct served_model *m, int64_t *out)
{
    if (r->single_file) {
        out[0] = 1;
        return 1;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", r->root, m->name);
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    int64_t all[REPO_MAX_VERSIONS * 4];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dp)) && n < (int)(sizeof(all) / sizeof(all[0]))) {
        int64_t v;
        if (!repo_parse_version(de->d_name, &v))
            continue;
        char vdir[PATH_MAX], rel[PATH_MAX];
        if (snprintf(vdir, sizeof(vdir), "%s/%s", dir, de->d_name) >= (int)sizeof(vdir) ||
            !repo_find_model_file(vdir, rel, sizeof(rel)))
            continue;
        all[n++] = v;
    }
    closedir(dp);
    qsort(all, (size_t)n, sizeof(all[0]), cmp_desc);
    int k = 0;
    const struct model_config *c = &m->cfg;
    for (int i = 0; i < n && k < REPO_MAX_VERSIONS; i++) {
        int keep = 0;
        if (c->policy == POLICY_ALL)
            keep = 1;
        else if (c->policy == POLICY_LATEST)
            keep = i < c->latest_n;
        else
            for (int j = 0; j < c->n_specific; j++)
                keep |= c->specific[j] == all[i];
        if (keep)
            out[k++] = all[i];
    }
    return k;
}

static struct served_model *find_model(struct repo *r, const char *name)
{
    for (int i = 0; i < r->n_models; i++)
        if (strcmp(r->models[i]->name, name) == 0)
            return r->models[i];
    return NULL;
}

static struct served_model *add_model(struct repo *r, const char *name)
{
    struct served_model *m = axle_xcalloc(1, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name);
    config_default(r, &m->cfg, name);
    m->state = VS_UNKNOWN;
    if (r->n_models == r->cap_models) {
        r->cap_models = r->cap_models ? r->cap_models * 2 : 8;
        r->models = axle_xrealloc(r->models, (size_t)r->cap_models * sizeof(*r->models));
    }
    r->models[r->n_models++] = m;
    return m;
}

/* Identity of REL under the repository root (device, inode, size, change
 * times), never 0; 0 when it cannot be stat'ed. A file that is replaced,
 * rewritten or touched gets a new signature. */
static uint64_t file_sig(struct repo *r, const char *rel)
{
    char path[PATH_MAX];
    struct stat sb;
    if (!r->root || snprintf(path, sizeof(path), "%s/%s", r->root, rel) >= (int)sizeof(path) ||
        lstat(path, &sb) != 0)
        return 0;
    uint64_t v[7] = {(uint64_t)sb.st_dev, (uint64_t)sb.st_ino, (uint64_t)sb.st_size,
                     (uint64_t)sb.st_mtim.tv_sec, (uint64_t)sb.st_mtim.tv_nsec,
                     (uint64_t)sb.st_ctim.tv_sec, (uint64_t)sb.st_ctim.tv_nsec};
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    const unsigned char *b = (const unsigned char *)v;
    for (size_t i = 0; i < sizeof(v); i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h | 1;
}

/* REPO-relative path of version ver's model file (model.onnx when none of
 * the known names is present, so the load reports it missing). */
static void version_file(struct repo *r, const struct served_model *m, int64_t ver,
                         char *rel, size_t len)
{
    char dir[PATH_MAX], path[PATH_MAX];
    const char *name = NULL;
    if (r->root && snprintf(dir, sizeof(dir), "%s/%s/%lld", r->root, m->name,
                            (long long)ver) < (int)sizeof(dir))
        name = repo_find_model_file(dir, path, sizeof(path));
    snprintf(rel, len, "%s/%lld/%s", m->name, (long long)ver, name ? name : repo_model_files[0]);
}

static uint64_t version_sig(struct repo *r, const struct served_model *m, int64_t ver)
{
    char rel[PATH_MAX];
    version_file(r, m, ver, rel, sizeof(rel));
    return file_sig(r, rel);
}

static void log_event(struct repo *r, const char *ev, const char *model, int64_t ver,
                      const char *detail)
{
    if (!r->log)
        return;
    char vs[24] = "";
    if (ver > 0)
        snprintf(vs, sizeof(vs), "%lld", (long long)ver);
    r->log(ev, model, ver > 0 ? vs : NULL, detail);
}

/* Bring model `m` to the version set its directory and policy ask for.
 * Loads run without the repository lock; the swap takes it. Returns
 * AXLE_OK if the model serves afterwards. */
static enum axle_status sync_model(struct repo *r, struct served_model *m, int force,
                                   struct axle_err *err)
{
    struct model_config cfg;
    int has_cfg = 0;
    config_default(r, &cfg, m->name);
    if (!r->single_file) {
        int rootfd = open(r->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        enum axle_status st = rootfd < 0 ? axle_err_set(err, AXLE_UNAVAILABLE,
                                                        "load failed: repository unreadable")
                                         : read_config(rootfd, m->name, &cfg, &has_cfg, err);
        if (rootfd >= 0)
            close(rootfd);
        if (st != AXLE_OK) {
            /* The poller reports a bad config.json once, not every scan. */
            char rel[PATH_MAX];
            snprintf(rel, sizeof(rel), "%s/config.json", m->name);
            uint64_t sig = file_sig(r, rel);
            pthread_mutex_lock(&r->mu);
            int repeat = !force && sig && sig == m->config_failed_sig;
            m->config_failed_sig = sig;
            snprintf(m->reason, sizeof(m->reason), "%s", err->msg);
            if (m->n_versions == 0)
                m->state = VS_UNAVAILABLE;
            pthread_mutex_unlock(&r->mu);
            if (!repeat)
                log_event(r, "load_failed", m->name, 0, err->msg);
            return st;
        }
    }
    int64_t want[REPO_MAX_VERSIONS];
    pthread_mutex_lock(&r->mu);
    m->cfg = cfg;
    m->has_config = has_cfg;
    m->config_failed_sig = 0;
    int n_want = wanted_versions(r, m, want);
    /* Which wanted versions are not loaded yet? A version that failed is
     * tried again only when asked to (force) or once its file changed. */
    int64_t to_load[REPO_MAX_VERSIONS];
    uint64_t to_load_sig[REPO_MAX_VERSIONS];
    int n_load = 0;
    for (int i = 0; i < n_want; i++) {
        int have = 0;
        for (int j = 0; j < m->n_versions; j++)
            if (m->versions[j]->version == want[i])
                have = 1;
        if (have && !force)
            continue;
        uint64_t sig = version_sig(r, m, want[i]);
        if (!force && m->failed_version == want[i] && sig == m->failed_sig)
            continue;
        to_load_sig[n_load] = sig;
        to_load[n_load++] = want[i];
    }
    if (m->n_versions == 0 && n_load > 0)
        m->state = VS_LOADING;
    pthread_mutex_unlock(&r->mu);

    struct model_version *loaded[REPO_MAX_VERSIONS];
    int n_loaded = 0;
    enum axle_status result = AXLE_OK;
    for (int i = 0; i < n_load; i++) {
        char rel[PATH_MAX];
        version_file(r, m, to_load[i], rel, sizeof(rel));
        struct axle_err lerr;
        log_event(r, "loading", m->name, to_load[i], NULL);
        struct model_version *v = NULL;
        if (load_version(r, m, to_load[i], rel, &v, &lerr) == AXLE_OK) {
            loaded[n_loaded++] = v;
            char detail[64];
            snprintf(detail, sizeof(detail), "%.1f ms", v->load_seconds * 1e3);
            log_event(r, "ready", m->name, to_load[i], detail);
        } else {
            pthread_mutex_lock(&r->mu);
            m->failed_version = to_load[i];
            m->failed_sig = to_load_sig[i];
            snprintf(m->reason, sizeof(m->reason), "%s", lerr.msg);
            pthread_mutex_unlock(&r->mu);
            log_event(r, "load_failed", m->name, to_load[i], lerr.msg);
            if (err)
                *err = lerr;
            result = lerr.code;
        }
    }

    /* Swap: new set = wanted versions that are loaded (new or kept). */
    struct model_version *drop[REPO_MAX_VERSIONS];
    int n_drop = 0;
    pthread_mutex_lock(&r->mu);
    struct model_version *next[REPO_MAX_VERSIONS];
    int n_next = 0;
    for (int i = 0; i < n_want; i++) {
        struct model_version *pick = NULL;
        for (int j = 0; j < n_loaded; j++)
            if (loaded[j] && loaded[j]->version == want[i]) {
                pick = loaded[j];
                loaded[j] = NULL;
            }
        for (int j = 0; j < m->n_versions; j++) {
            if (m->versions[j] && m->versions[j]->version == want[i]) {
                if (pick) {
                    drop[n_drop++] = m->versions[j]; /* replaced (forced reload) */
                } else {
                    pick = m->versions[j];
                }
                m->versions[j] = NULL;
            }
        }
        if (pick)
            next[n_next++] = pick;
    }
    /* Versions no longer wanted drain, then unload. */
    for (int j = 0; j < m->n_versions; j++)
        if (m->versions[j]) {
            if (n_next == 0 && n_want > 0) {
                /* Nothing new could load: keep serving the old one. */
                next[n_next++] = m->versions[j];
            } else {
                m->versions[j]->state = VS_UNLOADING;
                drop[n_drop++] = m->versions[j];
            }
        }
    for (int j = 0; j < n_loaded; j++)
        if (loaded[j])
            drop[n_drop++] = loaded[j];
    memcpy(m->versions, next, (size_t)n_next * sizeof(next[0]));
    m->n_versions = n_next;
    /* A failure stays on record while its version is wanted and not
     * serving; it goes once the version loads or leaves the directory. */
    if (m->failed_version) {
        int wanted = 0, serving = 0;
        for (int i = 0; i < n_want; i++)
            wanted |= want[i] == m->failed_version;
        for (int i = 0; i < n_next; i++)
            serving |= next[i]->version == m->failed_version;
        if (!wanted || serving) {
            m->failed_version = 0;
            m->failed_sig = 0;
        }
    }
    if (n_next > 0) {
        m->state = VS_READY;
        if (!m->failed_version)
            m->reason[0] = 0;
    } else {
        m->state = VS_UNAVAILABLE;
        if (n_want == 0 && !m->reason[0])
            snprintf(m->reason, sizeof(m->reason), "no loadable version");
    }
    m->unloaded = 0;
    pthread_mutex_unlock(&r->mu);
    for (int j = 0; j < n_drop; j++) {
        log_event(r, "unloaded", m->name, drop[j]->version, NULL);
        version_release(drop[j]);
    }
    if (n_next == 0 && result == AXLE_OK) {
        result = axle_err_set(err, AXLE_INVALID_ARGUMENT, "load failed: no loadable version");
    }
    return result;
}

enum axle_status repo_open(struct repo *r, struct axle_err *err)
{
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->wait_mu, NULL);
    pthread_cond_init(&r->wait_cv, NULL);
    atomic_init(&r->stop, 0);
    if (r->max_model_bytes <= 0)
        r->max_model_bytes = (int64_t)2 << 30;
    if (r->single_file) {
        struct stat sb;
        if (stat(r->single_file, &sb) != 0 || !S_ISREG(sb.st_mode))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "model file not found");
        struct served_model *m = add_model(r, r->single_name);
        m->from_startup = 1;
        return AXLE_OK;
    }
    DIR *dp = opendir(r->root);
    if (!dp)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "model repository not found");
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", r->root, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0)
            continue;
        if (S_ISREG(sb.st_mode)) {
            /* A model file dropped at the top is a common slip: say where
             * it belongs rather than ignore it silently. */
            size_t n = strlen(de->d_name);
            if (n > 5 && strcmp(de->d_name + n - 5, ".onnx") == 0)
                log_event(r, "skipped", "-", 0,
                          "a model file at the top of a repository is not served: "
                          "move it to MODEL/1/model.onnx, or serve the file itself");
            continue;
        }
        if (!S_ISDIR(sb.st_mode))
            continue;
        if (!repo_valid_model_name(de->d_name)) {
            log_event(r, "skipped", "-", 0, "directory name is not a valid model name");
            continue;
        }
        struct served_model *m = add_model(r, de->d_name);
        m->from_startup = r->control != CONTROL_EXPLICIT;
    }
    closedir(dp);
    return AXLE_OK;
}

int repo_load_all(struct repo *r)
{
    int ok = 0;
    pthread_mutex_lock(&r->mu);
    int n = r->n_models;
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < n; i++) {
        struct axle_err err;
        if (sync_model(r, r->models[i], 0, &err) == AXLE_OK)
            ok++;
    }
    return ok;
}

void repo_rescan(struct repo *r)
{
    if (r->single_file)
        return;
    DIR *dp = opendir(r->root);
    if (!dp)
        return;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.' || !repo_valid_model_name(de->d_name))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", r->root, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        pthread_mutex_lock(&r->mu);
        if (!find_model(r, de->d_name))
            add_model(r, de->d_name);
        pthread_mutex_unlock(&r->mu);
    }
    closedir(dp);
    pthread_mutex_lock(&r->mu);
    int n = r->n_models;
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < n && !atomic_load(&r->stop); i++) {
        struct axle_err err;
        sync_model(r, r->models[i], 0, &err);
    }
}

static void *poll_main(void *arg)
{
    struct repo *r = arg;
    while (!atomic_load(&r->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double s = r->poll_interval > 0 ? r->poll_interval : 5;
        ts.tv_sec += (time_t)s;
        ts.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&r->wait_mu);
        if (!atomic_load(&r->stop))
            pthread_cond_timedwait(&r->wait_cv, &r->wait_mu, &ts);
        pthread_mutex_unlock(&r->wait_mu);
        if (!atomic_load(&r->stop))
            repo_rescan(r);
    }
    return NULL;
}

void repo_start_poll(struct repo *r)
{
    if (pthread_create(&r->poll_thread, NULL, poll_main, r) == 0)
        r->poll_running = 1;
}

void repo_close(struct repo *r)
{
    atomic_store(&r->stop, 1);
    if (r->poll_running) {
        pthread_mutex_lock(&r->wait_mu);
        pthread_cond_broadcast(&r->wait_cv);
        pthread_mutex_unlock(&r->wait_mu);
        pthread_join(r->poll_thread, NULL);
        r->poll_running = 0;
    }
    for (int i = 0; i < r->n_models; i++) {
        struct served_model *m = r->models[i];
        for (int j = 0; j < m->n_versions; j++)
            version_release(m->versions[j]);
        free(m);
    }
    free(r->models);
    r->models = NULL;
    r->n_models = 0;
}

enum axle_status repo_load_model(struct repo *r, const char *name, struct axle_err *err)
{
    if (!r->single_file) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", r->root, name);
        struct stat sb;
        if (lstat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return axle_err_set(err, AXLE_NOT_FOUND, "model not found");
    }
    pthread_mutex_lock(&r->mu);
    struct served_model *m = find_model(r, name);
    if (!m) {
        if (r->single_file) {
            pthread_mutex_unlock(&r->mu);
            return axle_err_set(err, AXLE_NOT_FOUND, "model not found");
        }
        m = add_model(r, name);
    }
    if (m->loading) {
        pthread_mutex_unlock(&r->mu);
        return axle_err_set(err, AXLE_ABORTED, "load in progress");
    }
    m->loading = 1;
    m->failed_version = 0;
    pthread_mutex_unlock(&r->mu);
    enum axle_status st = sync_model(r, m, 1, err);
    pthread_mutex_lock(&r->mu);
    m->loading = 0;
    pthread_mutex_unlock(&r->mu);
    return st;
}

enum axle_status repo_unload_model(struct repo *r, const char *name, struct axle_err *err)
{
    pthread_mutex_lock(&r->mu);
    struct served_model *m = find_model(r, name);
    if (!m) {
        pthread_mutex_unlock(&r->mu);
        return axle_err_set(err, AXLE_NOT_FOUND, "model not found");
    }
    if (m->loading) {
        pthread_mutex_unlock(&r->mu);
        return axle_err_set(err, AXLE_ABORTED, "load in progress");
    }
    struct model_version *drop[REPO_MAX_VERSIONS];
    int n = m->n_versions;
    memcpy(drop, m->versions, (size_t)n * sizeof(drop[0]));
    m->n_versions = 0;
    m->state = VS_UNAVAILABLE;
    m->unloaded = 1;
    m->from_startup = 0;
    snprintf(m->reason, sizeof(m->reason), "unloaded");
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < n; i++) {
        drop[i]->state = VS_UNLOADING;
        log_event(r, "unloaded", m->name, drop[i]->version, NULL);
        version_release(drop[i]);
    }
    return AXLE_OK;
}

enum axle_status repo_acquire(struct repo *r, const char *model, const char *version,
                              struct model_version **out, struct axle_err *err)
{
    int64_t want = 0;
    if (version && !repo_parse_version(version, &want))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "invalid version");
    pthread_mutex_lock(&r->mu);
    struct served_model *m = find_model(r, model);
    if (!m) {
        pthread_mutex_unlock(&r->mu);
        return axle_err_set(err, AXLE_NOT_FOUND, "model not found");
    }
    struct model_version *pick = NULL;
    for (int i = 0; i < m->n_versions && !pick; i++)
        if (!want || m->versions[i]->version == want)
            pick = m->versions[i];
    if (pick)
        atomic_fetch_add(&pick->refs, 1);
    enum axle_status st = AXLE_OK;
    if (!pick) {
        if (want && m->n_versions > 0 && m->failed_version != want)
            st = axle_err_set(err, AXLE_NOT_FOUND, "model version not found");
        else
            st = axle_err_set(err, AXLE_UNAVAILABLE, "model not ready");
    }
    pthread_mutex_unlock(&r->mu);
    *out = pick;
    return st;
}

int repo_ready(struct repo *r)
{
    int ok = 1;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n_models; i++)
        if (r->models[i]->from_startup && r->models[i]->n_versions == 0)
            ok = 0;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

void repo_foreach(struct repo *r, void (*fn)(void *arg, struct served_model *m), void *arg)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n_models; i++)
        fn(arg, r->models[i]);
    pthread_mutex_unlock(&r->mu);
}
