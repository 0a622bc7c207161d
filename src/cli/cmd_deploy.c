/*
 * cmd_deploy.c - `axle deploy k8s PATH|IMAGE [options]`: Kubernetes
 * manifests for an axle server (docs/DEPLOYMENT.md).
 *
 * Without --kserve: a Deployment, a Service, a HorizontalPodAutoscaler and
 * a PodDisruptionBudget. With --kserve: a ServingRuntime and an
 * InferenceService that uses it (PROTOCOLS.md section 13). The manifests go
 * to stdout or to -o FILE as one multi-document YAML stream, written by the
 * emitter in deploy_yaml.c; the same inputs always give the same bytes.
 *
 * PATH is what `axle serve` takes (a model file, a directory holding
 * model.onnx, or a repository). It is loaded with the serving code, so a
 * model that would not load in the pod fails here, and it names the models
 * and their size (checked against the memory budget the pod will have). An
 * argument that is not an existing path is an image reference.
 *
 * The pod's numbers follow axle's own behaviour: the drain (cmd_serve.c,
 * SECURITY.md 3.5) sets terminationGracePeriodSeconds, the CPU quantity
 * sets --intra-op-threads (axle otherwise counts the node's CPUs, not the
 * container's), and the memory limit bounds the models (axle's default
 * budget is 70 % of the cgroup limit).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "cli/deploy.h"
#include "serve/buf.h"
#include "serve/repo.h"

#define HTTP_PORT 8080
#define HTTP_PORT_STR "8080"
#define RUN_AS_ID 65532           /* the user of the image axle pack builds */
#define AXLE_IN_IMAGE "/usr/bin/axle"
#define MODELS_IN_IMAGE "/models"
#define KSERVE_MODEL_DIR "/mnt/models" /* KServe's DefaultModelLocalMountPath */
#define DEFAULT_CPU "1"
#define DEFAULT_MEMORY "512Mi"
#define DEFAULT_DRAIN_DELAY 10.0   /* SECURITY.md 3.5: 10-15 s behind Kubernetes */
#define DEFAULT_DRAIN_TIMEOUT 15.0
#define DEFAULT_STARTUP_S 300.0
#define DEFAULT_CPU_TARGET 70
#define DEFAULT_MAX_REPLICAS 4
#define MAX_REPLICAS 10000
#define GRACE_MARGIN_S 5           /* log flush and unload after the drain */
#define KSERVE_GRACE_S 30          /* a KServe pod's grace period (RawDeployment) */
#define PROBE_PERIOD_S 5
#define MIN_MEMORY_BYTES (32ll << 20)
#define MODELS_LIST_MAX 1024

struct deploy {
    /* Options as given. */
    const char *target, *name_opt, *image_opt, *storage_uri, *output, *cpu, *memory;
    long replicas, min_replicas, max_replicas, cpu_target;
    int have_min, have_max, kserve, force;
    double drain_delay, drain_timeout, startup_s;
    /* Derived. */
    const char *image;
    char name[64];
    int64_t cpu_milli, memory_bytes, model_bytes;
    int intra_threads, grace_s, startup_failures, n_models;
    char models[MODELS_LIST_MAX]; /* model names, sorted, comma-separated */
};

static void deploy_usage(FILE *f)
{
    fprintf(f,
            "usage: axle deploy k8s PATH|IMAGE [options]\n"
            "\n"
            "Write the manifests that run an axle server on a cluster.\n"
            "\n"
            "targets:\n"
            "  k8s    Kubernetes: Deployment, Service, HorizontalPodAutoscaler and\n"
            "         PodDisruptionBudget, or with --kserve a KServe ServingRuntime and\n"
            "         InferenceService\n"
            "\n"
            "'axle deploy k8s --help' lists the options. Exit status: 0 written,\n"
            "2 bad usage or input, 1 other failure.\n");
}

static void k8s_usage(FILE *f)
{
    fprintf(f,
        "usage: axle deploy k8s PATH|IMAGE [--name N] [--image REF] [--replicas R]\n"
        "                       [--min-replicas N] [--max-replicas N] [--cpu Q]\n"
        "                       [--memory Q] [--cpu-target PCT] [--drain-delay S]\n"
        "                       [--drain-timeout S] [--startup-timeout S]\n"
        "                       [--kserve --storage-uri URI] [-o FILE] [--force]\n"
        "\n"
        "Writes Kubernetes YAML (documents separated by ---) to stdout or FILE:\n"
        "a Deployment, a ClusterIP Service on port %d, a HorizontalPodAutoscaler\n"
        "(autoscaling/v2, CPU utilization) and a PodDisruptionBudget (policy/v1,\n"
        "maxUnavailable 1); with --kserve, a ServingRuntime (serving.kserve.io/\n"
        "v1alpha1) and an InferenceService (v1beta1) that uses it.\n"
        "\n"
        "PATH is a model file, a directory holding model.onnx, or a model\n"
        "repository (PATH/MODEL/VERSION/model.onnx), as `axle serve` takes it.\n"
        "Every model is loaded here: one that does not load is an error. The\n"
        "models' names go into the io.axle.models annotation. An argument that\n"
        "is not an existing path is an IMAGE reference, written in full:\n"
        "REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST] (registry host with a '.' or a\n"
        "port, or localhost; lowercase repository path; tag [A-Za-z0-9_.-], at\n"
        "most 128 characters, not starting with '.' or '-').\n"
        "\n"
        "options:\n"
        "  --name N            object names and the app.kubernetes.io/instance\n"
        "                      label: up to 63 of a-z, 0-9 and '-', starting with\n"
        "                      a letter, ending with a letter or digit (default:\n"
        "                      the model's name when PATH holds one model, else\n"
        "                      PATH's base name; for an IMAGE, its last path\n"
        "                      component; '_' and '.' become '-')\n"
        "  --image REF         the container image: the one `axle pack` built\n"
        "                      (needed with PATH; default: the IMAGE argument).\n"
        "                      The pod runs %s from it.\n"
        "  --replicas R        Deployment replicas (default 1, at most %d)\n"
        "  --min-replicas N    autoscaler minimum (default: R)\n"
        "  --max-replicas N    autoscaler maximum (default: the larger of the\n"
        "                      minimum and %d); R must lie between the two\n"
        "  --cpu Q             CPU request and limit: 500m, 1, 2.5 (default %s).\n"
        "                      Whole CPUs in it (at least 1) become\n"
        "                      --intra-op-threads.\n"
        "  --memory Q          memory request and limit: 256Mi, 1Gi, 512M (default\n"
        "                      %s; at least 32Mi). axle's memory budget is 70%% of\n"
        "                      it, and the models' files must fit in that.\n"
        "  --cpu-target PCT    autoscaler target CPU utilization, 1..100 (default\n"
        "                      %d)\n"
        "  --drain-delay S     seconds axle keeps accepting after SIGTERM while the\n"
        "                      endpoints drop the pod (default %g)\n"
        "  --drain-timeout S   seconds in-flight requests then get (default %g);\n"
        "                      terminationGracePeriodSeconds is the two, rounded\n"
        "                      up, plus %d\n"
        "  --startup-timeout S seconds the models may take to load before the\n"
        "                      startup probe gives up and the container restarts\n"
        "                      (default %g)\n"
        "  --kserve            KServe manifests instead (the scaling options set\n"
        "                      the predictor's minReplicas, maxReplicas and CPU\n"
        "                      target; the drain must fit the %d s grace period)\n"
        "  --storage-uri URI   with --kserve, and needed there: where KServe's\n"
        "                      storage initializer fetches the models from\n"
        "                      (s3://, gs://, pvc://, https://...) into %s\n"
        "  -o, --output FILE   write to FILE instead of stdout; an existing FILE is\n"
        "                      refused\n"
        "  --force             replace an existing FILE\n"
        "  --help              this text\n"
        "\n"
        "Quantities are plain decimals with a suffix (m for CPU; Ki Mi Gi Ti Pi Ei\n"
        "or k M G T P E for memory); exponents are not accepted. The pod runs as\n"
        "user %d with a read-only root file system, no capabilities, the\n"
        "RuntimeDefault seccomp profile and no service account token; it serves\n"
        "without a token (--insecure-no-auth) behind the ClusterIP Service.\n"
        "Probes: startup and readiness on /v2/health/ready, liveness on\n"
        "/v2/health/live; Prometheus scrapes /metrics on port %d.\n"
        "See docs/DEPLOYMENT.md.\n"
        "\n"
        "Exit status: 0 written, 2 bad usage, a bad value, a model that does not\n"
        "load or an existing FILE, 1 other failure.\n",
        HTTP_PORT, AXLE_IN_IMAGE, MAX_REPLICAS, DEFAULT_MAX_REPLICAS, DEFAULT_CPU,
        DEFAULT_MEMORY, DEFAULT_CPU_TARGET, DEFAULT_DRAIN_DELAY, DEFAULT_DRAIN_TIMEOUT,
        GRACE_MARGIN_S, DEFAULT_STARTUP_S, KSERVE_GRACE_S, KSERVE_MODEL_DIR, RUN_AS_ID,
        HTTP_PORT);
}

/* ------------------------------------------------------------------ */
/* Values                                                              */

static int parse_count(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!isdigit((unsigned char)*s) || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!(isdigit((unsigned char)*s) || *s == '.') || *end || errno || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* Digits, then an optional fraction of at most max_frac digits: the value
 * times 10^scale_digits in *scaled (no rounding: more digits than that are
 * refused). Returns the length consumed, or -1. */
static int parse_decimal(const char *s, int max_frac, int scale_digits, long double *scaled)
{
    size_t i = 0;
    long double v = 0;
    while (isdigit((unsigned char)s[i]) && i < 12)
        v = v * 10 + (s[i++] - '0');
    if (i == 0 || isdigit((unsigned char)s[i]))
        return -1;
    int frac = 0;
    if (s[i] == '.') {
        i++;
        while (isdigit((unsigned char)s[i])) {
            if (++frac > max_frac)
                return -1;
            v = v * 10 + (s[i++] - '0');
        }
        if (frac == 0)
            return -1;
    }
    for (int k = frac; k < scale_digits; k++)
        v *= 10;
    *scaled = v;
    return (int)i;
}

/* A CPU quantity: 500m, 1, 2.5 (at most millicore precision). */
static int parse_cpu(const char *s, int64_t *milli)
{
    long double v;
    int n = parse_decimal(s, 3, 3, &v);
    if (n < 0)
        return -1;
    if (s[n] == 'm' && s[n + 1] == 0 && !strchr(s, '.'))
        v /= 1000; /* "500m": the digits were millicores already */
    else if (s[n] != 0)
        return -1;
    if (v < 1 || v > 4096.0L * 1000)
        return -1;
    *milli = (int64_t)v;
    return 0;
}

/* A memory quantity in bytes: 256Mi, 1Gi, 512M, 1.5Gi, 1000000. */
static int parse_memory(const char *s, int64_t *bytes)
{
    static const struct { const char *suffix; long double mult; } suffixes[] = {
        {"Ki", 1024.0L}, {"Mi", 1048576.0L}, {"Gi", 1073741824.0L},
        {"Ti", 1099511627776.0L}, {"Pi", 1125899906842624.0L},
        {"Ei", 1152921504606846976.0L}, {"k", 1e3L}, {"M", 1e6L}, {"G", 1e9L},
        {"T", 1e12L}, {"P", 1e15L}, {"E", 1e18L}, {"", 1},
    };
    long double v;
    int n = parse_decimal(s, 6, 6, &v);
    if (n < 0)
        return -1;
    v /= 1e6L;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(s + n, suffixes[i].suffix) != 0)
            continue;
        long double b = ceill(v * suffixes[i].mult);
        if (b < 1 || b > 4.0L * 1152921504606846976.0L)
            return -1;
        *bytes = (int64_t)b;
        return 0;
    }
    return -1;
}

/* Object names: a DNS-1123 label, and starting with a letter because a
 * Service name must also be a DNS-1035 label. */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63 || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return s[n - 1] != '-';
}

/* A name from a model, file or image name: lowercase, '_', '.' and other
 * characters become '-', runs of '-' fold, the ends are trimmed. */
static int derive_name(const char *src, size_t len, char out[64])
{
    size_t o = 0;
    for (size_t i = 0; i < len && o < 63; i++) {
        unsigned char c = (unsigned char)tolower((unsigned char)src[i]);
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            c = '-';
        if (c == '-' && (o == 0 || out[o - 1] == '-'))
            continue;
        out[o++] = (char)c;
    }
    while (o > 0 && out[o - 1] == '-')
        o--;
    out[o] = 0;
    return valid_name(out) ? 0 : -1;
}

static int alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One repository path component: runs of [a-z0-9] joined by one '.',
 * one '_', '__' or a run of '-' (the distribution reference grammar). */
static const char *check_component(const char *s, size_t n)
{
    if (n == 0)
        return "has an empty path component";
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return "has uppercase letters in its repository path (it must be lowercase)";
    size_t i = 0;
    for (;;) {
        size_t run = 0;
        while (i < n && alnum_lower(s[i]))
            i++, run++;
        if (run == 0)
            return "has a path component that does not start and end with a-z or 0-9, or "
                   "two separators in a row";
        if (i == n)
            return NULL;
        size_t j = i;
        while (j < n && strchr("._-", s[j]))
            j++;
        size_t sn = j - i;
        int dashes = strspn(s + i, "-") >= sn;
        if (sn == 0 || !(dashes || (sn == 1) || (sn == 2 && s[i] == '_' && s[i + 1] == '_')))
            return "has a path component with characters other than a-z, 0-9 and the "
                   "separators '.', '_', '__' and '-'";
        i = j;
    }
}

/* REGISTRY[:PORT] */
static const char *check_registry(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t host_n = colon ? (size_t)(colon - s) : n;
    if (colon) {
        size_t pn = n - host_n - 1;
        if (pn < 1 || pn > 5 || strspn(colon + 1, "0123456789") < pn)
            return "has a registry port that is not 1 to 5 digits";
    }
    if (host_n == 0)
        return "has an empty registry host";
    size_t label = 0;
    for (size_t i = 0; i <= host_n; i++) {
        char c = i < host_n ? s[i] : '.';
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return "has a registry host with an empty label or one ending in '-'";
            label = 0;
        } else if (isalnum((unsigned char)c) || (c == '-' && label > 0)) {
            label++;
        } else {
            return "has a registry host with characters other than letters, digits, '-' "
                   "and '.'";
        }
    }
    return NULL;
}

/* Validate an image reference; on success *last (len *last_n) is its last
 * repository path component. Returns NULL or why it is invalid. */
static const char *check_image(const char *ref, const char **last, size_t *last_n)
{
    size_t n = strlen(ref);
    if (n == 0)
        return "is empty";
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)ref[i]))
            return "contains a space, a control or a non-ASCII character";
    const char *at = strchr(ref, '@');
    size_t name_end = at ? (size_t)(at - ref) : n;
    if (at) {
        const char *dg = at + 1;
        if (strncmp(dg, "sha256:", 7) != 0 || strlen(dg + 7) != 64 ||
            strspn(dg + 7, "0123456789abcdef") != 64)
            return "has a digest that is not sha256: and 64 lowercase hex digits";
    }
    const char *slash = memrchr(ref, '/', name_end);
    const char *colon = memrchr(ref, ':', name_end);
    size_t repo_end = name_end;
    if (colon && (!slash || colon > slash)) {
        const char *tag = colon + 1;
        size_t tn = name_end - (size_t)(tag - ref);
        if (tn < 1 || tn > 128)
            return "has a tag that is empty or longer than 128 characters";
        if (!(isalnum((unsigned char)tag[0]) || tag[0] == '_'))
            return "has a tag that does not start with a letter, digit or '_'";
        for (size_t i = 0; i < tn; i++)
            if (!(isalnum((unsigned char)tag[i]) || strchr("_.-", tag[i])))
                return "has a tag with characters other than A-Z, a-z, 0-9, '_', '.' and '-'";
        repo_end = (size_t)(colon - ref);
    }
    if (repo_end > 255)
        return "has a name longer than 255 characters";
    const char *first_slash = memchr(ref, '/', repo_end);
    if (!first_slash)
        return "names no registry (write it in full, e.g. docker.io/library/NAME:TAG)";
    size_t reg_n = (size_t)(first_slash - ref);
    if (!(memchr(ref, '.', reg_n) || memchr(ref, ':', reg_n) ||
          (reg_n == 9 && memcmp(ref, "localhost", 9) == 0)))
        return "names no registry: its first component is not a host (it needs a '.', "
               "a ':PORT' or to be localhost; e.g. docker.io/library/NAME:TAG)";
    const char *why = check_registry(ref, reg_n);
    if (why)
        return why;
    const char *p = first_slash + 1, *end = ref + repo_end;
    for (;;) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        size_t cn = q ? (size_t)(q - p) : (size_t)(end - p);
        if ((why = check_component(p, cn)) != NULL)
            return why;
        if (!q) {
            *last = p;
            *last_n = cn;
            return NULL;
        }
        p = q + 1;
    }
}

/* scheme://rest: a scheme as RFC 3986 has it, then something printable. */
static int valid_storage_uri(const char *s)
{
    size_t n = strlen(s);
    if (n > 2048 || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    size_t i = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
    if (strncmp(s + i, "://", 3) != 0 || s[i + 3] == 0)
        return 0;
    for (size_t k = 0; k < n; k++)
        if (!isgraph((unsigned char)s[k]))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Models                                                              */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load PATH as `axle serve` would (cmd_serve.c: a file, a directory with
 * model.onnx, or a repository); list the models, sorted, and their bytes. */
static int load_models(struct deploy *d, const char *path, const struct stat *sb)
{
    static const char me[] = "axle deploy k8s";
    struct repo *r = axle_xcalloc(1, sizeof(*r));
    char single_path[PATH_MAX] = "", single_name[REPO_MAX_NAME + 1] = "";
    char **names = NULL;
    struct axle_err err;
    int rc = AXLE_EXIT_USAGE;

    if (S_ISREG(sb->st_mode)) {
        snprintf(single_path, sizeof(single_path), "%s", path);
        const char *base = strrchr(path, '/');
        snprintf(single_name, sizeof(single_name), "%s", base ? base + 1 : path);
        char *dot = strrchr(single_name, '.');
        if (dot && dot != single_name)
            *dot = 0;
    } else if (S_ISDIR(sb->st_mode)) {
        char probe[PATH_MAX];
        if (repo_find_model_file(path, probe, sizeof(probe))) {
            snprintf(single_path, sizeof(single_path), "%s", probe);
            snprintf(single_name, sizeof(single_name), "model");
        }
    } else {
        fprintf(stderr, "%s: %s: not a model file or directory\n", me, path);
        goto out;
    }
    if (single_path[0]) {
        if (!repo_valid_model_name(single_name)) {
            fprintf(stderr, "%s: %s: '%s' is not a valid model name (letters, digits, "
                            "'_', '.', '-'); rename the file\n", me, path, single_name);
            goto out;
        }
        r->single_file = single_path;
        r->single_name = single_name;
    } else {
        r->root = (char *)path;
    }
    r->n_threads = 1;
    r->intra_threads = 1;
    if (repo_open(r, &err) != AXLE_OK) {
        fprintf(stderr, "%s: %s: %s\n", me, path, err.msg);
        goto out;
    }
    repo_load_all(r);
    if (r->n_models == 0) {
        fprintf(stderr, "%s: %s: no models found (want a model file, a directory holding "
                        "model.onnx, or PATH/MODEL/VERSION/model.onnx)\n", me, path);
        goto close;
    }
    names = axle_xcalloc((size_t)r->n_models, sizeof(*names));
    for (int i = 0; i < r->n_models; i++) {
        struct served_model *m = r->models[i];
        if (m->state != VS_READY || m->failed_version) {
            fprintf(stderr, "%s: %s: model '%s' does not load: %s\n", me, path, m->name,
                    m->reason[0] ? m->reason : "not ready");
            goto close;
        }
        for (int k = 0; k < m->n_versions; k++)
            d->model_bytes += m->versions[k]->mem_bytes;
        names[i] = m->name;
    }
    qsort(names, (size_t)r->n_models, sizeof(*names), cmp_str);
    size_t o = 0;
    for (int i = 0; i < r->n_models; i++) {
        size_t n = strlen(names[i]);
        if (o + n + 2 > sizeof(d->models)) {
            fprintf(stderr, "%s: %s: too many models to list (%d)\n", me, path, r->n_models);
            goto close;
        }
        if (i)
            d->models[o++] = ',';
        memcpy(d->models + o, names[i], n + 1);
        o += n;
    }
    d->n_models = r->n_models;
    /* The default name: the one model's, else the repository's. */
    if (!d->name_opt) {
        const char *src = names[0];
        char base[PATH_MAX];
        if (d->n_models > 1) {
            /* realpath: "." or "models/.." still have a name */
            if (!realpath(path, base))
                snprintf(base, sizeof(base), "%s", path);
            size_t bn = strlen(base);
            while (bn > 1 && base[bn - 1] == '/')
                base[--bn] = 0;
            const char *slash = strrchr(base, '/');
            src = slash && slash[1] ? slash + 1 : base;
        }
        if (derive_name(src, strlen(src), d->name) != 0) {
            fprintf(stderr, "%s: cannot make an object name from '%s'; give --name\n", me,
                    src);
            goto close;
        }
    }
    rc = AXLE_EXIT_OK;
close:
    repo_close(r);
out:
    axle_free(names);
    axle_free(r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Manifests                                                           */

static void labels(struct axle_yaml *y, const struct deploy *d, const char *key, int all)
{
    axle_yaml_map(y, key);
    axle_yaml_str(y, "app.kubernetes.io/name", "axle");
    axle_yaml_str(y, "app.kubernetes.io/instance", d->name);
    if (all)
        axle_yaml_str(y, "app.kubernetes.io/component", "model-server");
    axle_yaml_end(y);
}

static void models_annotation(struct axle_yaml *y, const struct deploy *d)
{
    if (d->n_models)
        axle_yaml_str(y, "io.axle.models", d->models);
}

static void head(struct axle_yaml *y, const struct deploy *d, const char *api,
                 const char *kind)
{
    axle_yaml_doc_begin(y);
    axle_yaml_str(y, "apiVersion", api);
    axle_yaml_str(y, "kind", kind);
    axle_yaml_map(y, "metadata");
    axle_yaml_str(y, "name", d->name);
    labels(y, d, "labels", 1);
}

static void probe(struct axle_yaml *y, const char *key, const char *path, int named_port,
                  int period_s, int failures)
{
    axle_yaml_map(y, key);
    axle_yaml_map(y, "httpGet");
    axle_yaml_str(y, "path", path);
    if (named_port)
        axle_yaml_str(y, "port", "http");
    else
        axle_yaml_int(y, "port", HTTP_PORT);
    axle_yaml_end(y);
    axle_yaml_int(y, "periodSeconds", period_s);
    axle_yaml_int(y, "timeoutSeconds", 3);
    axle_yaml_int(y, "failureThreshold", failures);
    axle_yaml_end(y);
}

static void resources(struct axle_yaml *y, const struct deploy *d)
{
    axle_yaml_map(y, "resources");
    axle_yaml_map(y, "requests");
    axle_yaml_str(y, "cpu", d->cpu);
    axle_yaml_str(y, "memory", d->memory);
    axle_yaml_end(y);
    axle_yaml_map(y, "limits");
    axle_yaml_str(y, "cpu", d->cpu);
    axle_yaml_str(y, "memory", d->memory);
    axle_yaml_end(y);
    axle_yaml_end(y);
}

static void security_context(struct axle_yaml *y)
{
    axle_yaml_map(y, "securityContext");
    axle_yaml_bool(y, "runAsNonRoot", 1);
    axle_yaml_int(y, "runAsUser", RUN_AS_ID);
    axle_yaml_int(y, "runAsGroup", RUN_AS_ID);
    axle_yaml_bool(y, "readOnlyRootFilesystem", 1);
    axle_yaml_bool(y, "allowPrivilegeEscalation", 0);
    axle_yaml_map(y, "capabilities");
    axle_yaml_seq(y, "drop");
    axle_yaml_str(y, NULL, "ALL");
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_map(y, "seccompProfile");
    axle_yaml_str(y, "type", "RuntimeDefault");
    axle_yaml_end(y);
    axle_yaml_end(y);
}

/* The options both kinds of pod pass after their model arguments. */
static void serve_args_tail(struct axle_yaml *y, const struct deploy *d)
{
    char a[64];
    axle_yaml_str(y, NULL, "--host=0.0.0.0");
    /* The Service (or KServe's router) is the way in; the pod has no token
     * unless the operator adds one (docs/DEPLOYMENT.md). */
    axle_yaml_str(y, NULL, "--insecure-no-auth");
    snprintf(a, sizeof(a), "--drain-delay=%g", d->drain_delay);
    axle_yaml_str(y, NULL, a);
    snprintf(a, sizeof(a), "--drain-timeout=%g", d->drain_timeout);
    axle_yaml_str(y, NULL, a);
    snprintf(a, sizeof(a), "--intra-op-threads=%d", d->intra_threads);
    axle_yaml_str(y, NULL, a);
}

static void emit_deployment(struct axle_yaml *y, const struct deploy *d)
{
    head(y, d, "apps/v1", "Deployment");
    if (d->n_models) {
        axle_yaml_map(y, "annotations");
        models_annotation(y, d);
        axle_yaml_end(y);
    }
    axle_yaml_end(y);
    axle_yaml_map(y, "spec");
    axle_yaml_int(y, "replicas", d->replicas);
    axle_yaml_map(y, "selector");
    labels(y, d, "matchLabels", 0);
    axle_yaml_end(y);
    /* A new pod is ready before an old one goes, even with one replica. */
    axle_yaml_map(y, "strategy");
    axle_yaml_str(y, "type", "RollingUpdate");
    axle_yaml_map(y, "rollingUpdate");
    axle_yaml_int(y, "maxSurge", 1);
    axle_yaml_int(y, "maxUnavailable", 0);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_map(y, "template");
    axle_yaml_map(y, "metadata");
    labels(y, d, "labels", 1);
    axle_yaml_end(y);
    axle_yaml_map(y, "spec");
    axle_yaml_bool(y, "automountServiceAccountToken", 0);
    /* Service links would put <SERVICE>_PORT=tcp://... variables into the
     * environment, and axle reads AXLE_* variables as options. */
    axle_yaml_bool(y, "enableServiceLinks", 0);
    axle_yaml_int(y, "terminationGracePeriodSeconds", d->grace_s);
    axle_yaml_seq(y, "containers");
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "name", "axle");
    axle_yaml_str(y, "image", d->image);
    axle_yaml_seq(y, "command");
    axle_yaml_str(y, NULL, AXLE_IN_IMAGE);
    axle_yaml_end(y);
    axle_yaml_seq(y, "args");
    axle_yaml_str(y, NULL, "serve");
    axle_yaml_str(y, NULL, MODELS_IN_IMAGE);
    axle_yaml_str(y, NULL, "--http-port=" HTTP_PORT_STR);
    serve_args_tail(y, d);
    axle_yaml_end(y);
    axle_yaml_seq(y, "ports");
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "name", "http");
    axle_yaml_int(y, "containerPort", HTTP_PORT);
    axle_yaml_str(y, "protocol", "TCP");
    axle_yaml_end(y);
    axle_yaml_end(y);
    probe(y, "startupProbe", "/v2/health/ready", 1, PROBE_PERIOD_S, d->startup_failures);
    probe(y, "readinessProbe", "/v2/health/ready", 1, PROBE_PERIOD_S, 2);
    probe(y, "livenessProbe", "/v2/health/live", 1, 10, 3);
    resources(y, d);
    security_context(y);
    axle_yaml_end(y); /* container */
    axle_yaml_end(y); /* containers */
    axle_yaml_end(y); /* pod spec */
    axle_yaml_end(y); /* template */
    axle_yaml_end(y); /* spec */
    axle_yaml_doc_end(y);
}

static void emit_service(struct axle_yaml *y, const struct deploy *d)
{
    head(y, d, "v1", "Service");
    axle_yaml_map(y, "annotations");
    axle_yaml_str(y, "prometheus.io/scrape", "true");
    axle_yaml_str(y, "prometheus.io/port", HTTP_PORT_STR);
    axle_yaml_str(y, "prometheus.io/path", "/metrics");
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_map(y, "spec");
    axle_yaml_str(y, "type", "ClusterIP");
    labels(y, d, "selector", 0);
    axle_yaml_seq(y, "ports");
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "name", "http");
    axle_yaml_int(y, "port", HTTP_PORT);
    axle_yaml_str(y, "targetPort", "http");
    axle_yaml_str(y, "protocol", "TCP");
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_doc_end(y);
}

static void emit_hpa(struct axle_yaml *y, const struct deploy *d)
{
    head(y, d, "autoscaling/v2", "HorizontalPodAutoscaler");
    axle_yaml_end(y);
    axle_yaml_map(y, "spec");
    axle_yaml_map(y, "scaleTargetRef");
    axle_yaml_str(y, "apiVersion", "apps/v1");
    axle_yaml_str(y, "kind", "Deployment");
    axle_yaml_str(y, "name", d->name);
    axle_yaml_end(y);
    axle_yaml_int(y, "minReplicas", d->min_replicas);
    axle_yaml_int(y, "maxReplicas", d->max_replicas);
    axle_yaml_seq(y, "metrics");
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "type", "Resource");
    axle_yaml_map(y, "resource");
    axle_yaml_str(y, "name", "cpu");
    axle_yaml_map(y, "target");
    axle_yaml_str(y, "type", "Utilization");
    axle_yaml_int(y, "averageUtilization", d->cpu_target);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_doc_end(y);
}

static void emit_pdb(struct axle_yaml *y, const struct deploy *d)
{
    head(y, d, "policy/v1", "PodDisruptionBudget");
    axle_yaml_end(y);
    axle_yaml_map(y, "spec");
    /* Not minAvailable 1: with one replica that forbids every eviction and
     * a node drain would wait forever (docs/DEPLOYMENT.md). */
    axle_yaml_int(y, "maxUnavailable", 1);
    axle_yaml_map(y, "selector");
    labels(y, d, "matchLabels", 0);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_doc_end(y);
}

static void emit_serving_runtime(struct axle_yaml *y, const struct deploy *d)
{
    head(y, d, "serving.kserve.io/v1alpha1", "ServingRuntime");
    if (d->n_models) {
        axle_yaml_map(y, "annotations");
        models_annotation(y, d);
        axle_yaml_end(y);
    }
    axle_yaml_end(y);
    axle_yaml_map(y, "spec");
    axle_yaml_map(y, "annotations");
    axle_yaml_str(y, "prometheus.kserve.io/port", HTTP_PORT_STR);
    axle_yaml_str(y, "prometheus.kserve.io/path", "/metrics");
    axle_yaml_end(y);
    /* axle reads ONNX; "axle" is the format name of PROTOCOLS.md's
     * reference runtime. onnx is not auto-selected: this runtime belongs to
     * one InferenceService, which names it, and must not capture other
     * onnx models of the namespace. */
    axle_yaml_seq(y, "supportedModelFormats");
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "name", "onnx");
    axle_yaml_str(y, "version", "1");
    axle_yaml_bool(y, "autoSelect", 0);
    axle_yaml_end(y);
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "name", "xgboost");
    axle_yaml_str(y, "version", "1");
    axle_yaml_bool(y, "autoSelect", 0);
    axle_yaml_end(y);
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "name", "lightgbm");
    axle_yaml_str(y, "version", "4");
    axle_yaml_bool(y, "autoSelect", 0);
    axle_yaml_end(y);
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "name", "axle");
    axle_yaml_str(y, "version", "1");
    axle_yaml_bool(y, "autoSelect", 1);
    axle_yaml_int(y, "priority", 1);
    axle_yaml_end(y);
    axle_yaml_end(y);
    /* No grpc-v2: axle serve accepts --grpc_port but serves no gRPC. */
    axle_yaml_seq(y, "protocolVersions");
    axle_yaml_str(y, NULL, "v1");
    axle_yaml_str(y, NULL, "v2");
    axle_yaml_end(y);
    axle_yaml_bool(y, "multiModel", 0);
    axle_yaml_seq(y, "containers");
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "name", "kserve-container");
    axle_yaml_str(y, "image", d->image);
    /* The command replaces the image's entrypoint: its /models argument
     * would win over --model_dir. */
    axle_yaml_seq(y, "command");
    axle_yaml_str(y, NULL, AXLE_IN_IMAGE);
    axle_yaml_end(y);
    axle_yaml_seq(y, "args");
    axle_yaml_str(y, NULL, "serve");
    axle_yaml_str(y, NULL, "--model_name={{.Name}}");
    axle_yaml_str(y, NULL, "--model_dir=" KSERVE_MODEL_DIR);
    axle_yaml_str(y, NULL, "--http_port=" HTTP_PORT_STR);
    serve_args_tail(y, d);
    axle_yaml_end(y);
    /* Knative accepts only the port names http1 and h2c. */
    axle_yaml_seq(y, "ports");
    axle_yaml_map(y, NULL);
    axle_yaml_str(y, "name", "http1");
    axle_yaml_int(y, "containerPort", HTTP_PORT);
    axle_yaml_str(y, "protocol", "TCP");
    axle_yaml_end(y);
    axle_yaml_end(y);
    /* No startupProbe: Knative before 1.15 refuses one, and liveness does
     * not depend on the models, so nothing restarts a pod while it loads. */
    probe(y, "readinessProbe", "/v2/health/ready", 0, PROBE_PERIOD_S, 2);
    probe(y, "livenessProbe", "/v2/health/live", 0, 10, 3);
    resources(y, d);
    security_context(y);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_doc_end(y);
}

static void emit_inference_service(struct axle_yaml *y, const struct deploy *d)
{
    head(y, d, "serving.kserve.io/v1beta1", "InferenceService");
    axle_yaml_map(y, "annotations");
    axle_yaml_str(y, "serving.kserve.io/enable-prometheus-scraping", "true");
    models_annotation(y, d);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_map(y, "spec");
    axle_yaml_map(y, "predictor");
    axle_yaml_int(y, "minReplicas", d->min_replicas);
    axle_yaml_int(y, "maxReplicas", d->max_replicas);
    axle_yaml_str(y, "scaleMetric", "cpu");
    axle_yaml_int(y, "scaleTarget", d->cpu_target);
    axle_yaml_map(y, "model");
    axle_yaml_map(y, "modelFormat");
    axle_yaml_str(y, "name", "onnx");
    axle_yaml_end(y);
    axle_yaml_str(y, "runtime", d->name);
    axle_yaml_str(y, "protocolVersion", "v2");
    axle_yaml_str(y, "storageUri", d->storage_uri);
    resources(y, d);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_end(y);
    axle_yaml_doc_end(y);
}

static void emit(struct axle_yaml *y, const struct deploy *d)
{
    char line[MODELS_LIST_MAX + 64];
    snprintf(line, sizeof(line), "axle deploy k8s%s (axle %s): %s for '%s'",
             d->kserve ? " --kserve" : "", axle_version(),
             d->kserve ? "ServingRuntime, InferenceService"
                       : "Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget",
             d->name);
    axle_yaml_comment(y, line);
    if (d->n_models) {
        snprintf(line, sizeof(line), "models: %s", d->models);
        axle_yaml_comment(y, line);
    }
    if (d->kserve) {
        emit_serving_runtime(y, d);
        emit_inference_service(y, d);
    } else {
        emit_deployment(y, d);
        emit_service(y, d);
        emit_hpa(y, d);
        emit_pdb(y, d);
    }
}

/* ------------------------------------------------------------------ */
/* The command                                                         */

static int write_file(const struct deploy *d, const struct axle_buf *b)
{
    int fd = open(d->output, O_WRONLY | O_CREAT | O_CLOEXEC | (d->force ? O_TRUNC : O_EXCL),
                  0644);
    if (fd < 0) {
        if (errno == EEXIST)
            fprintf(stderr, "axle deploy k8s: %s exists (--force replaces it)\n", d->output);
        else
            fprintf(stderr, "axle deploy k8s: cannot create %s: %s\n", d->output,
                    strerror(errno));
        return AXLE_EXIT_USAGE;
    }
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->data + off, b->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "axle deploy k8s: cannot write %s: %s\n", d->output,
                    strerror(errno));
            close(fd);
            return AXLE_EXIT_FAIL;
        }
        off += (size_t)n;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "axle deploy k8s: cannot write %s: %s\n", d->output, strerror(errno));
        return AXLE_EXIT_FAIL;
    }
    return AXLE_EXIT_OK;
}

#define BAD(...)                                                  \
    do {                                                          \
        fprintf(stderr, "axle deploy k8s: " __VA_ARGS__);         \
        return AXLE_EXIT_USAGE;                                   \
    } while (0)

/* Every option that needs no model: values, defaults, the image. */
static int check_options(struct deploy *d, int *is_path, struct stat *sb)
{
    if (parse_cpu(d->cpu, &d->cpu_milli) != 0)
        BAD("--cpu '%s' is not a CPU quantity: 500m, 1, 2.5 (more than 0, at most 3 "
            "decimals or whole millicores, no exponent)\n", d->cpu);
    if (parse_memory(d->memory, &d->memory_bytes) != 0)
        BAD("--memory '%s' is not a memory quantity: 256Mi, 1Gi, 512M (digits, an optional "
            "fraction, then Ki Mi Gi Ti Pi Ei or k M G T P E; no exponent)\n", d->memory);
    if (d->memory_bytes < MIN_MEMORY_BYTES)
        BAD("--memory %s is below the 32Mi axle needs to start\n", d->memory);
    if (!d->have_min)
        d->min_replicas = d->replicas;
    if (!d->have_max)
        d->max_replicas = d->min_replicas > DEFAULT_MAX_REPLICAS ? d->min_replicas
                                                                  : DEFAULT_MAX_REPLICAS;
    if (d->min_replicas > d->max_replicas)
        BAD("--min-replicas %ld%s is above --max-replicas %ld\n", d->min_replicas,
            d->have_min ? "" : " (from --replicas)", d->max_replicas);
    if (d->replicas < d->min_replicas || d->replicas > d->max_replicas)
        BAD("--replicas %ld is outside --min-replicas..--max-replicas (%ld..%ld): the "
            "autoscaler would change it at once\n", d->replicas, d->min_replicas,
            d->max_replicas);
    d->grace_s = (int)ceil(d->drain_delay + d->drain_timeout) + GRACE_MARGIN_S;
    if (d->kserve && d->grace_s > KSERVE_GRACE_S)
        BAD("with --kserve, --drain-delay + --drain-timeout (%g + %g s) must leave %d s of "
            "the %d s a KServe pod gets after SIGTERM\n", d->drain_delay, d->drain_timeout,
            GRACE_MARGIN_S, KSERVE_GRACE_S);
    d->startup_failures = (int)ceil(d->startup_s / PROBE_PERIOD_S);
    if (d->startup_failures < 1)
        d->startup_failures = 1;
    d->intra_threads = d->cpu_milli >= 2000 ? (int)(d->cpu_milli / 1000) : 1;
    if (d->kserve && !d->storage_uri)
        BAD("--kserve needs --storage-uri URI: where KServe fetches the models from "
            "(s3://, gs://, pvc://, https://...)\n");
    if (!d->kserve && d->storage_uri)
        BAD("--storage-uri is for --kserve\n");
    if (d->storage_uri && !valid_storage_uri(d->storage_uri))
        BAD("--storage-uri '%s' is not a URI: want SCHEME://... (s3://bucket/path, "
            "gs://..., pvc://claim/path, https://...) without spaces\n", d->storage_uri);
    if (d->name_opt && !valid_name(d->name_opt))
        BAD("--name '%s' is not a valid name: up to 63 of a-z, 0-9 and '-', starting with a "
            "letter and ending with a letter or digit (a DNS-1035 label, as a Service name "
            "must be)\n", d->name_opt);
    if (d->name_opt)
        snprintf(d->name, sizeof(d->name), "%s", d->name_opt);
    if (d->output && !d->force && access(d->output, F_OK) == 0)
        BAD("%s exists (--force replaces it)\n", d->output);

    const char *why, *last = NULL;
    size_t last_n = 0;
    *is_path = stat(d->target, sb) == 0;
    if (*is_path) {
        if (!d->image_opt)
            BAD("%s is a path, so --image REF is needed: the image `axle pack` built from "
                "it, as the cluster pulls it\n", d->target);
        if ((why = check_image(d->image_opt, &last, &last_n)) != NULL)
            BAD("--image '%s' %s\n", d->image_opt, why);
        d->image = d->image_opt;
    } else {
        if ((why = check_image(d->target, &last, &last_n)) != NULL)
            BAD("%s: no such file or directory, and not an image reference either: it %s\n",
                d->target, why);
        size_t tn = strlen(d->target);
        if (tn > 5 && strcmp(d->target + tn - 5, ".onnx") == 0)
            BAD("%s: no such file or directory\n", d->target);
        if (d->image_opt)
            BAD("%s is an image reference (it is not an existing path), so --image is not "
                "needed\n", d->target);
        d->image = d->target;
        if (!d->name_opt && derive_name(last, last_n, d->name) != 0)
            BAD("cannot make an object name from '%.*s'; give --name\n", (int)last_n, last);
    }
    const char *tail = strrchr(d->image, '/');
    if (!strchr(d->image, '@') && !strchr(tail ? tail : d->image, ':'))
        fprintf(stderr, "axle deploy k8s: warning: image %s has neither a tag nor a digest; "
                        "the cluster pulls :latest\n", d->image);
    return AXLE_EXIT_OK;
}

static int cmd_k8s(int argc, char **argv)
{
    enum { O_NAME = 256, O_IMAGE, O_REPLICAS, O_MIN, O_MAX, O_CPU, O_MEMORY, O_CPU_TARGET,
           O_DRAIN_DELAY, O_DRAIN_TIMEOUT, O_STARTUP, O_KSERVE, O_STORAGE, O_FORCE };
    static const struct option opts[] = {
        {"name", required_argument, NULL, O_NAME},
        {"image", required_argument, NULL, O_IMAGE},
        {"replicas", required_argument, NULL, O_REPLICAS},
        {"min-replicas", required_argument, NULL, O_MIN},
        {"max-replicas", required_argument, NULL, O_MAX},
        {"cpu", required_argument, NULL, O_CPU},
        {"memory", required_argument, NULL, O_MEMORY},
        {"cpu-target", required_argument, NULL, O_CPU_TARGET},
        {"drain-delay", required_argument, NULL, O_DRAIN_DELAY},
        {"drain-timeout", required_argument, NULL, O_DRAIN_TIMEOUT},
        {"startup-timeout", required_argument, NULL, O_STARTUP},
        {"kserve", no_argument, NULL, O_KSERVE},
        {"storage-uri", required_argument, NULL, O_STORAGE},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, O_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct deploy d;
    memset(&d, 0, sizeof(d));
    d.cpu = DEFAULT_CPU;
    d.memory = DEFAULT_MEMORY;
    d.replicas = 1;
    d.cpu_target = DEFAULT_CPU_TARGET;
    d.drain_delay = DEFAULT_DRAIN_DELAY;
    d.drain_timeout = DEFAULT_DRAIN_TIMEOUT;
    d.startup_s = DEFAULT_STARTUP_S;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        const char *flag = argv[optind - 1];
        switch (c) {
        case O_NAME: d.name_opt = optarg; break;
        case O_IMAGE: d.image_opt = optarg; break;
        case O_CPU: d.cpu = optarg; break;
        case O_MEMORY: d.memory = optarg; break;
        case O_STORAGE: d.storage_uri = optarg; break;
        case 'o': d.output = optarg; break;
        case O_KSERVE: d.kserve = 1; break;
        case O_FORCE: d.force = 1; break;
        case O_REPLICAS:
            if (parse_count(optarg, 1, MAX_REPLICAS, &d.replicas) != 0)
                BAD("--replicas wants 1..%d, not '%s'\n", MAX_REPLICAS, optarg);
            break;
        case O_MIN:
            if (parse_count(optarg, 1, MAX_REPLICAS, &d.min_replicas) != 0)
                BAD("--min-replicas wants 1..%d, not '%s'\n", MAX_REPLICAS, optarg);
            d.have_min = 1;
            break;
        case O_MAX:
            if (parse_count(optarg, 1, MAX_REPLICAS, &d.max_replicas) != 0)
                BAD("--max-replicas wants 1..%d, not '%s'\n", MAX_REPLICAS, optarg);
            d.have_max = 1;
            break;
        case O_CPU_TARGET:
            if (parse_count(optarg, 1, 100, &d.cpu_target) != 0)
                BAD("--cpu-target wants a percentage 1..100, not '%s'\n", optarg);
            break;
        case O_DRAIN_DELAY:
            if (parse_seconds(optarg, 0, 3600, &d.drain_delay) != 0)
                BAD("--drain-delay wants seconds 0..3600, not '%s'\n", optarg);
            break;
        case O_DRAIN_TIMEOUT:
            if (parse_seconds(optarg, 0, 3600, &d.drain_timeout) != 0)
                BAD("--drain-timeout wants seconds 0..3600, not '%s'\n", optarg);
            break;
        case O_STARTUP:
            if (parse_seconds(optarg, 1, 86400, &d.startup_s) != 0)
                BAD("--startup-timeout wants seconds 1..86400, not '%s'\n", optarg);
            break;
        case 'h': k8s_usage(stdout); return AXLE_EXIT_OK;
        case ':': BAD("%s needs a value (see axle deploy k8s --help)\n", flag);
        default:
            if (optopt)
                BAD("unknown option '-%c' (see axle deploy k8s --help)\n", optopt);
            BAD("unknown option '%s' (see axle deploy k8s --help)\n", flag);
        }
    }
    if (optind != argc - 1) {
        if (optind < argc - 1)
            fprintf(stderr, "axle deploy k8s: one PATH or IMAGE; got '%s' and '%s'\n",
                    argv[optind], argv[optind + 1]);
        else
            fprintf(stderr, "axle deploy k8s: PATH or IMAGE is missing\n\n");
        k8s_usage(stderr);
        return AXLE_EXIT_USAGE;
    }
    d.target = argv[optind];

    struct stat sb;
    int is_path = 0;
    int rc = check_options(&d, &is_path, &sb);
    if (rc != AXLE_EXIT_OK)
        return rc;
    if (is_path) {
        if ((rc = load_models(&d, d.target, &sb)) != AXLE_EXIT_OK)
            return rc;
        /* axle's default memory budget (cmd_serve.c) is 70 % of the cgroup
         * limit, and it refuses loads beyond it. */
        int64_t budget = d.memory_bytes / 10 * 7;
        if (d.model_bytes > budget)
            BAD("the models take %lld bytes, more than axle's memory budget in a --memory %s "
                "container (70%% of it: %lld bytes); raise --memory\n",
                (long long)d.model_bytes, d.memory, (long long)budget);
    }

    struct axle_buf out;
    struct axle_yaml y;
    buf_init(&out);
    axle_yaml_init(&y, &out);
    emit(&y, &d);
    if (axle_yaml_finish(&y) != 0) {
        fprintf(stderr, "axle deploy k8s: %s\n",
                out.oom ? "out of memory" : "internal error: YAML emitter misuse");
        buf_free(&out);
        return AXLE_EXIT_FAIL;
    }
    if (d.output) {
        rc = write_file(&d, &out);
        if (rc == AXLE_EXIT_OK)
            printf("wrote %s: %s for '%s'\n", d.output,
                   d.kserve ? "ServingRuntime, InferenceService"
                            : "Deployment, Service, HorizontalPodAutoscaler, "
                              "PodDisruptionBudget",
                   d.name);
    } else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        fprintf(stderr, "axle deploy k8s: cannot write to stdout\n");
        rc = AXLE_EXIT_FAIL;
    }
    buf_free(&out);
    return rc;
}

#undef BAD

int axle_cmd_deploy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        deploy_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? AXLE_EXIT_USAGE : AXLE_EXIT_OK;
    }
    if (strcmp(argv[1], "k8s") == 0)
        return cmd_k8s(argc - 1, argv + 1);
    fprintf(stderr, "axle deploy: unknown target '%s' (only: k8s)\n", argv[1]);
    return AXLE_EXIT_USAGE;
}
