/*
 * cmd_pack.c - `axle pack PATH... -t NAME:TAG -o IMAGE.tar`: a runnable
 * container image of axle and its models, written without a container
 * engine.
 *
 * The image has one layer:
 *   usr/bin/axle             this very binary (/proc/self/exe)
 *   lib/axle/<soname>        every shared object this process has loaded
 *                            (dl_iterate_phdr: exactly what the dynamic
 *                            loader resolved for axle, no guessing)
 *   lib64/ld-linux-*.so.2    the loader named by PT_INTERP
 *   etc/passwd, etc/group    the non-root user 65532 "axle"
 *   models/MODEL/VERSION/... the repository
 *   tmp/                     (1777)
 * and nothing else: no shell, no package manager. LD_LIBRARY_PATH points
 * the loader at lib/axle. The entrypoint is `axle serve /models --host
 * 0.0.0.0`, user 65532, port 8080 exposed.
 *
 * Every model is loaded by the engine before anything is written: an image
 * never ships a model axle cannot serve. The layer tar is streamed once:
 * its sha256 is the diff_id, and for the OCI layout it goes straight into
 * the parallel gzip writer (pack_gzip.c; sha256 of its output is the blob
 * digest); the docker-archive keeps it uncompressed.
 * Tar entries are sorted, owned by 0:0 and dated --created (default
 * 1970-01-01T00:00:00Z), and gzip carries no name or time, so the same
 * inputs give the same digest.
 */
#include <dirent.h>
#include <stdarg.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "cli/cli.h"
#include "cli/pack_gzip.h"
#include "serve/buf.h"
#include "serve/json.h"
#include "serve/repo.h"

#define MAX_ENTRIES 4096
#define MAX_LABELS 64
#define MODEL_FILE_MAX (4ll << 30)

struct entry {
    char *name;     /* path in the image, no leading slash; dirs end in / */
    char *src;      /* file on this machine; NULL for dirs and made files */
    char *content;  /* made files (etc/passwd) */
    size_t content_len;
    int64_t size;
    unsigned mode;
    int is_dir;
    char sha256[65]; /* model files: for the labels */
};

struct pack {
    struct entry e[MAX_ENTRIES];
    int n;
    int64_t total;
    int64_t done;
    time_t created;
    time_t last_progress;
    struct axle_buf models; /* io.axle.models label: JSON array */
    int n_models;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: axle pack PATH... -t NAME:TAG -o IMAGE.tar [--format oci|docker]\n"
            "                 [--label K=V]... [--created TIME] [--dry-run] [--force]\n"
            "\n"
            "Build a container image that serves the models in PATH: a model file\n"
            "(served as a model named after the file) or a model repository\n"
            "(REPO/MODEL/VERSION/model.onnx). The image holds axle, the shared\n"
            "libraries it loads and their loader, the models under /models, and\n"
            "nothing else; it runs as user 65532 with the entrypoint\n"
            "`axle serve /models --host 0.0.0.0` and exposes 8080. No container\n"
            "engine is needed. Every model is loaded first: a model axle cannot serve\n"
            "is refused.\n"
            "\n"
            "options:\n"
            "  -t, --tag NAME:TAG   image reference (lower-case name, tag [A-Za-z0-9_.-])\n"
            "  -o, --output FILE    the image archive to write (refused if it exists)\n"
            "  --format oci|docker  OCI image layout tar (default) or docker-archive\n"
            "  --label K=V          an extra image label (repeatable)\n"
            "  --created TIME       image time, RFC 3339 UTC (2026-01-01T00:00:00Z) or\n"
            "                       unix seconds; default 0 (reproducible digests)\n"
            "  --dry-run            list the image's files with their sizes, write nothing\n"
            "  --force              overwrite FILE\n"
            "\n"
            "Labels: org.opencontainers.image.{title,version,created,source,revision}\n"
            "(source and revision from --label), io.axle.models (name, version,\n"
            "platform, inputs, outputs and sha256 of each model file, as JSON).\n"
            "\n"
            "Load it with `podman load -i FILE` or `skopeo copy oci-archive:FILE ...`.\n"
            "Exit status: 0 written, 1 write failed, 2 bad input.\n");
}

__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "axle pack: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return AXLE_EXIT_USAGE;
}

/* dir/leaf into out[PATH_MAX]; -1 when too long. */
static int join(char *out, const char *dir, const char *leaf)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, leaf);
    return n < 0 || n >= PATH_MAX ? -1 : 0;
}

static struct entry *add(struct pack *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->e[i].name, name) == 0)
            return &p->e[i];
    if (p->n == MAX_ENTRIES)
        return NULL;
    struct entry *e = &p->e[p->n++];
    memset(e, 0, sizeof(*e));
    e->name = strdup(name);
    return e;
}

static int add_dirs(struct pack *p, const char *name)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", name);
    for (char *s = strchr(tmp, '/'); s; s = strchr(s + 1, '/')) {
        char c = s[1];
        s[1] = 0;
        struct entry *e = add(p, tmp);
        if (!e)
            return -1;
        if (!e->is_dir) {
            e->is_dir = 1;
            e->mode = strcmp(tmp, "tmp/") == 0 ? 01777 : 0755;
        }
        s[1] = c;
    }
    return 0;
}

static int add_file(struct pack *p, const char *name, const char *src, unsigned mode)
{
    struct stat st;
    if (stat(src, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    if (add_dirs(p, name) != 0)
        return -1;
    struct entry *e = add(p, name);
    if (!e)
        return -1;
    e->src = strdup(src);
    e->size = st.st_size;
    e->mode = mode;
    p->total += st.st_size;
    return 0;
}

static int add_made(struct pack *p, const char *name, const char *text)
{
    if (add_dirs(p, name) != 0)
        return -1;
    struct entry *e = add(p, name);
    if (!e)
        return -1;
    e->content = strdup(text);
    e->content_len = strlen(text);
    e->size = (int64_t)e->content_len;
    e->mode = 0644;
    return 0;
}

/* Shared objects of this process, as the loader found them. */
struct libs {
    struct pack *p;
    int failed;
};

static int lib_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct libs *l = arg;
    const char *path = info->dlpi_name;
    if (!path || path[0] != '/')
        return 0; /* the executable itself, the vDSO */
    const char *base = strrchr(path, '/') + 1;
    char name[PATH_MAX];
    /* The loader must sit where PT_INTERP names it; the rest go to the
     * directory LD_LIBRARY_PATH names. */
    if (strncmp(base, "ld-linux", 8) == 0)
        snprintf(name, sizeof(name), "lib64/%s", base);
    else
        snprintf(name, sizeof(name), "lib/axle/%s", base);
    if (add_file(l->p, name, path, 0755) != 0)
        l->failed = 1;
    return 0;
}

/* A SHA-256 as 64 lower-case hex digits and a NUL. */
static void to_hex(const unsigned char md[32], char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[64] = 0;
}

static int hash_file(const char *path, char out[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    static unsigned char buf[1 << 20];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        EVP_DigestUpdate(c, buf, (size_t)n);
    close(fd);
    unsigned char md[32];
    EVP_DigestFinal_ex(c, md, NULL);
    EVP_MD_CTX_free(c);
    to_hex(md, out);
    return n < 0 ? -1 : 0;
}

/* A model's files, and its label entry. */
static int add_version_dir(struct pack *p, const char *model, const char *vdir_src,
                           const char *version)
{
    DIR *d = opendir(vdir_src);
    if (!d)
        return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char src[PATH_MAX], name[PATH_MAX];
        if (join(src, vdir_src, de->d_name) != 0 ||
            snprintf(name, sizeof(name), "models/%s/%s/%.200s", model, version, de->d_name) >=
                (int)sizeof(name)) {
            rc = -1;
            break;
        }
        struct stat st;
        if (lstat(src, &st) != 0 || !S_ISREG(st.st_mode))
            continue; /* links and subdirectories are not served */
        if (add_file(p, name, src, 0644) != 0) {
            rc = -1;
            break;
        }
        struct entry *e = add(p, name);
        if (hash_file(src, e->sha256) != 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

static int add_model_dir(struct pack *p, const char *model, const char *mdir)
{
    DIR *d = opendir(mdir);
    if (!d)
        return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) && rc == 0) {
        if (de->d_name[0] == '.')
            continue;
        char src[PATH_MAX], name[PATH_MAX];
        if (join(src, mdir, de->d_name) != 0) {
            rc = -1;
            break;
        }
        struct stat st;
        if (lstat(src, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = add_version_dir(p, model, src, de->d_name);
        } else if (S_ISREG(st.st_mode)) {
            snprintf(name, sizeof(name), "models/%s/%.200s", model, de->d_name);
            rc = add_file(p, name, src, 0644);
        }
    }
    closedir(d);
    return rc;
}

/* A model directory: a subdirectory named by digits (a version). */
static int is_model_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *de;
    int yes = 0;
    while ((de = readdir(d)) && !yes) {
        const char *c = de->d_name;
        if (!*c)
            continue;
        while (*c >= '0' && *c <= '9')
            c++;
        yes = !*c;
    }
    closedir(d);
    return yes;
}

static int validate(struct pack *p, const char *path, const char *single_name,
                    const char *only);

/* Model nm of the repository root (its siblings are loaded too, but only
 * nm is packed and checked). */
static int validate_one(struct pack *p, const char *root, const char *nm)
{
    return validate(p, root, NULL, nm);
}

/* Load what PATH holds with the serving code; describe it for the label. */
static int validate(struct pack *p, const char *path, const char *single_name,
                    const char *only)
{
    struct repo r;
    memset(&r, 0, sizeof(r));
    r.n_threads = 1;
    r.intra_threads = 1;
    r.mem_budget = INT64_MAX / 2;
    r.max_model_bytes = MODEL_FILE_MAX;
    if (single_name) {
        r.single_file = (char *)path;
        r.single_name = (char *)single_name;
    } else {
        r.root = (char *)path;
    }
    struct axle_err err;
    if (repo_open(&r, &err) != AXLE_OK) {
        fprintf(stderr, "axle pack: %s: %s\n", path, err.msg);
        return -1;
    }
    repo_load_all(&r);
    int ok = r.n_models > 0, seen = 0;
    if (!ok)
        fprintf(stderr, "axle pack: %s: no models found\n", path);
    for (int i = 0; i < r.n_models && ok; i++) {
        struct served_model *m = r.models[i];
        if (only && strcmp(m->name, only) != 0)
            continue;
        seen++;
        if (m->state != VS_READY || m->failed_version) {
            fprintf(stderr, "axle pack: model '%s' does not load: %s\n", m->name,
                    m->reason[0] ? m->reason : "not ready");
            ok = 0;
            break;
        }
        for (int k = 0; k < m->n_versions; k++) {
            struct model_version *v = m->versions[k];
            struct axle_buf *b = &p->models;
            buf_puts(b, p->n_models++ ? ",{\"name\":" : "{\"name\":");
            json_put_cstr(b, m->name);
            buf_puts(b, ",\"version\":");
            json_put_cstr(b, v->version_str);
            buf_puts(b, ",\"platform\":");
            json_put_cstr(b, axle_model_format(v->engine));
            buf_puts(b, ",\"inputs\":[");
            for (int j = 0; j < v->n_inputs; j++) {
                if (j)
                    buf_putc(b, ',');
                json_put_cstr(b, v->inputs[j].name);
            }
            buf_puts(b, "],\"outputs\":[");
            for (int j = 0; j < v->n_outputs; j++) {
                if (j)
                    buf_putc(b, ',');
                json_put_cstr(b, v->outputs[j].name);
            }
            buf_puts(b, "]");
            char prefix[PATH_MAX];
            snprintf(prefix, sizeof(prefix), "models/%s/%s/", m->name, v->version_str);
            /* The version's model file: models/M/V/model.* (not a sidecar). */
            size_t pl = strlen(prefix);
            for (int e = 0; e < p->n; e++)
                if (p->e[e].sha256[0] && strncmp(p->e[e].name, prefix, pl) == 0 &&
                    strncmp(p->e[e].name + pl, "model.", 6) == 0) {
                    buf_puts(b, ",\"sha256\":\"");
                    buf_puts(b, p->e[e].sha256);
                    buf_puts(b, "\"");
                    break;
                }
            buf_puts(b, "}");
        }
    }
    if (ok && !seen) {
        fprintf(stderr, "axle pack: %s: no loadable model\n", path);
        ok = 0;
    }
    repo_close(&r);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Writing: a stream that hashes what passes, optionally through gzip.  */

struct out {
    FILE *f;
    EVP_MD_CTX *md;
    int64_t bytes;
    int err;
    struct pgz *z;      /* set: the bytes go to the gzip writer, not f */
    enum pgz_mode mode; /* how the gzip writer compresses them */
};

static void out_init(struct out *o, FILE *f)
{
    memset(o, 0, sizeof(*o));
    o->f = f;
    o->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(o->md, EVP_sha256(), NULL);
}

static void out_write(struct out *o, const void *p, size_t n)
{
    if (o->z)
        pgz_write(o->z, p, n, o->mode);
    else if (n && fwrite(p, 1, n, o->f) != n)
        o->err = 1;
    EVP_DigestUpdate(o->md, p, n);
    o->bytes += (int64_t)n;
}

static void out_digest(struct out *o, char hex[65])
{
    unsigned char md[32];
    EVP_DigestFinal_ex(o->md, md, NULL);
    EVP_MD_CTX_free(o->md);
    to_hex(md, hex);
}

static void octal(char *dst, size_t w, uint64_t v)
{
    /* w-1 digits and a NUL, zero-padded (ustar). */
    for (size_t i = w - 1; i-- > 0;) {
        dst[i] = (char)('0' + (v & 7));
        v >>= 3;
    }
    dst[w - 1] = 0;
}

static int tar_header(struct out *o, const char *name, int64_t size, unsigned mode, int is_dir,
                      time_t mtime)
{
    char h[512];
    memset(h, 0, sizeof(h));
    size_t n = strlen(name);
    if (n <= 100) {
        memcpy(h, name, n);
    } else {
        /* ustar: prefix (155) '/' name (100). */
        const char *cut = NULL;
        for (const char *s = name; (s = strchr(s, '/')); s++)
            if ((size_t)(s - name) <= 155 && n - (size_t)(s - name) - 1 <= 100)
                cut = s;
        if (!cut)
            return -1;
        memcpy(h + 345, name, (size_t)(cut - name));
        memcpy(h, cut + 1, n - (size_t)(cut - name) - 1);
    }
    octal(h + 100, 8, mode);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, (uint64_t)size);
    octal(h + 136, 12, (uint64_t)mtime);
    memset(h + 148, ' ', 8);
    h[156] = is_dir ? '5' : '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    octal(h + 148, 7, sum);
    h[155] = ' ';
    out_write(o, h, 512);
    return 0;
}

static void tar_pad(struct out *o, int64_t size)
{
    static const char zero[512];
    if (size % 512)
        out_write(o, zero, (size_t)(512 - size % 512));
}

static void progress(struct pack *p, int force)
{
    if (p->total < (64ll << 20))
        return;
    time_t now = time(NULL);
    if (!force && now == p->last_progress)
        return;
    p->last_progress = now;
    fprintf(stderr, "axle pack: %lld / %lld MB%s", (long long)(p->done >> 20),
            (long long)(p->total >> 20), force ? "\n" : "\r");
}

static int tar_file_from(struct pack *p, struct out *o, const char *src)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        return -1;
    static char buf[1 << 20];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        out_write(o, buf, n);
        p->done += (int64_t)n;
        progress(p, 0);
    }
    int rc = ferror(f) ? -1 : 0;
    fclose(f);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The layer as a tar, into f uncompressed or (z set) into the gzip
 * writer; diff_id (sha256 of the tar) out. Past 64 MiB of content the
 * gzip trades size for time: model files (mostly float weights, where
 * Huffman coding alone compresses as well as LZ77 does) go Huffman-only,
 * the rest level 1; below it everything is level 6. */
static int write_layer(struct pack *p, FILE *f, struct pgz *z, char diff_id[65])
{
    struct out o;
    out_init(&o, f);
    o.z = z;
    int big = p->total > (64ll << 20);
    enum pgz_mode other = big ? PGZ_FAST : PGZ_BEST;
    for (int i = 0; i < p->n; i++) {
        struct entry *e = &p->e[i];
        o.mode = other;
        if (tar_header(&o, e->name, e->is_dir ? 0 : e->size, e->mode, e->is_dir, p->created) != 0) {
            fprintf(stderr, "axle pack: path too long for the image: %s\n", e->name);
            return -1;
        }
        if (e->is_dir)
            continue;
        if (e->content) {
            out_write(&o, e->content, e->content_len);
        } else {
            int64_t before = o.bytes;
            o.mode = big && e->sha256[0] ? PGZ_HUFFMAN : other;
            if (tar_file_from(p, &o, e->src) != 0 || o.bytes - before != e->size) {
                fprintf(stderr, "axle pack: %s: read failed or the file changed\n", e->src);
                return -1;
            }
            o.mode = other;
        }
        tar_pad(&o, e->size);
    }
    static const char zero[1024];
    out_write(&o, zero, sizeof(zero));
    out_digest(&o, diff_id);
    return o.err ? -1 : 0;
}

static int copy_into(struct out *o, FILE *src)
{
    static char buf[1 << 20];
    size_t n;
    rewind(src);
    while ((n = fread(buf, 1, sizeof(buf), src)) > 0)
        out_write(o, buf, n);
    return ferror(src) ? -1 : 0;
}

static void tar_blob(struct out *o, const char *name, const void *data, size_t len, time_t t)
{
    tar_header(o, name, (int64_t)len, 0644, 0, t);
    out_write(o, data, len);
    tar_pad(o, (int64_t)len);
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
    to_hex(md, hex);
}

static void iso_time(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int parse_created(const char *s, time_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end && !errno && v >= 0) {
        *out = (time_t)v;
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!rest || *rest)
        return -1;
    *out = timegm(&tm);
    return *out < 0 ? -1 : 0;
}

/* NAME:TAG: a lower-case repository path (registry host allowed), a tag of
 * [A-Za-z0-9_.-] up to 128 characters. */
static int valid_ref(const char *ref, const char **colon)
{
    const char *c = strrchr(ref, ':');
    if (!c || c == ref || strchr(c, '/'))
        return 0;
    size_t tl = strlen(c + 1);
    if (tl == 0 || tl > 128 || c[1] == '.' || c[1] == '-')
        return 0;
    for (const char *s = c + 1; *s; s++)
        if (!(((*s | 32) >= 'a' && (*s | 32) <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '.' || *s == '-'))
            return 0;
    if (c - ref > 255)
        return 0;
    char prev = '/';
    for (const char *s = ref; s < c; s++) {
        int alnum = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9');
        int sep = *s == '/' || *s == '.' || *s == '_' || *s == '-' || (*s == ':' && 0);
        if (!alnum && !sep)
            return 0;
        if (sep && (prev == '/' || prev == '.' || prev == '-') && *s != '_')
            return 0;
        prev = *s;
    }
    if (prev == '/' || prev == '.' || prev == '-' || prev == '_')
        return 0;
    *colon = c;
    return 1;
}

int axle_cmd_pack(int argc, char **argv)
{
    const char *tag = NULL, *output = NULL, *format = "oci", *created_s = NULL;
    const char *paths[64], *labels[MAX_LABELS];
    int n_paths = 0, n_labels = 0, dry = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--tag")) {
            if (!val)
                return bad("%s needs a value", a);
            tag = argv[++i];
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!val)
                return bad("%s needs a value", a);
            output = argv[++i];
        } else if (!strcmp(a, "--format")) {
            if (!val)
                return bad("%s needs a value", a);
            format = argv[++i];
        } else if (!strcmp(a, "--label")) {
            if (!val)
                return bad("%s needs a value", a);
            if (n_labels == MAX_LABELS)
                return bad("at most 64 labels%s", "");
            labels[n_labels++] = argv[++i];
        } else if (!strcmp(a, "--created")) {
            if (!val)
                return bad("%s needs a value", a);
            created_s = argv[++i];
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (a[0] == '-' && a[1]) {
            usage(stderr);
            return bad("unknown option %s", a);
        } else {
            if (n_paths == 64)
                return bad("at most 64 paths%s", "");
            paths[n_paths++] = a;
        }
    }
    if (!n_paths) {
        usage(stderr);
        return bad("no model path given%s", "");
    }
    const char *colon;
    if (!tag)
        return bad("-t NAME:TAG is required%s", "");
    if (!valid_ref(tag, &colon))
        return bad("invalid tag '%s': NAME:TAG, lower-case name, tag of [A-Za-z0-9_.-]", tag);
    if (strcmp(format, "oci") && strcmp(format, "docker"))
        return bad("--format is oci or docker, not '%s'", format);
    if (!dry && !output)
        return bad("-o IMAGE.tar is required%s", "");
    struct stat st;
    if (!dry && !force && lstat(output, &st) == 0)
        return bad("%s exists (use --force to overwrite)", output);
    for (int i = 0; i < n_labels; i++) {
        const char *eq = strchr(labels[i], '=');
        if (!eq || eq == labels[i])
            return bad("--label takes KEY=VALUE, not '%s'", labels[i]);
    }
    static struct pack p;
    memset(&p, 0, sizeof(p));
    if (created_s && parse_created(created_s, &p.created) != 0)
        return bad("--created: '%s' is not RFC 3339 UTC or unix seconds", created_s);

    /* The models: files first (and their labels), then loaded. */
    for (int i = 0; i < n_paths; i++) {
        const char *path = paths[i];
        if (stat(path, &st) != 0)
            return bad("%s: not found", path);
        if (access(path, R_OK) != 0)
            return bad("%s: not readable", path);
        if (S_ISREG(st.st_mode)) {
            char nm[REPO_MAX_NAME + 1];
            const char *base = strrchr(path, '/');
            snprintf(nm, sizeof(nm), "%s", base ? base + 1 : path);
            char *dot = strrchr(nm, '.');
            if (dot && dot != nm)
                *dot = 0;
            if (!repo_valid_model_name(nm))
                return bad("'%s' is not a valid model name (rename the file)", nm);
            if (st.st_size > MODEL_FILE_MAX)
                return bad("%s: larger than 4 GiB", path);
            char name[PATH_MAX];
            /* the file keeps its format's name (model.onnx, model.json...) */
            const char *ext = strrchr(base ? base + 1 : path, '.');
            const char *file = repo_model_files[0];
            for (int i = 0; ext && repo_model_files[i]; i++)
                if (strcmp(strrchr(repo_model_files[i], '.'), ext) == 0)
                    file = repo_model_files[i];
            snprintf(name, sizeof(name), "models/%s/1/%s", nm, file);
            if (add(&p, name) && p.e[p.n - 1].src)
                return bad("model '%s' is given twice", nm);
            p.n--;
            free(p.e[p.n].name);
            if (add_file(&p, name, path, 0644) != 0)
                return bad("%s: cannot be read", path);
            if (hash_file(path, add(&p, name)->sha256) != 0)
                return bad("%s: cannot be read", path);
            if (validate(&p, path, nm, NULL) != 0)
                return AXLE_EXIT_USAGE;
        } else if (S_ISDIR(st.st_mode) && is_model_dir(path)) {
            /* MODEL/VERSION/...: one model named after the directory. */
            char nm[REPO_MAX_NAME + 1], buf[PATH_MAX];
            snprintf(buf, sizeof(buf), "%s", path);
            size_t bl = strlen(buf);
            while (bl > 1 && buf[bl - 1] == '/')
                buf[--bl] = 0;
            const char *base = strrchr(buf, '/');
            snprintf(nm, sizeof(nm), "%.64s", base ? base + 1 : buf);
            if (!repo_valid_model_name(nm))
                return bad("'%s' is not a valid model name (rename the directory)", nm);
            char parent[PATH_MAX];
            snprintf(parent, sizeof(parent), "%.*s", base ? (int)(base - buf) : 1,
                     base ? buf : ".");
            if (add_model_dir(&p, nm, path) != 0)
                return bad("%s: cannot be read (or too many files)", path);
            if (validate_one(&p, parent[0] ? parent : "/", nm) != 0)
                return AXLE_EXIT_USAGE;
        } else if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(path);
            if (!d)
                return bad("%s: cannot be read", path);
            struct dirent *de;
            int rc = 0;
            while ((de = readdir(d)) && rc == 0) {
                if (de->d_name[0] == '.')
                    continue;
                char src[PATH_MAX];
                if (join(src, path, de->d_name) != 0)
                    continue;
                struct stat ms;
                if (lstat(src, &ms) != 0 || !S_ISDIR(ms.st_mode))
                    continue;
                if (!repo_valid_model_name(de->d_name))
                    continue;
                rc = add_model_dir(&p, de->d_name, src);
            }
            closedir(d);
            if (rc != 0)
                return bad("%s: cannot be read (or too many files)", path);
            if (validate(&p, path, NULL, NULL) != 0)
                return AXLE_EXIT_USAGE;
        } else {
            return bad("%s: not a file or directory", path);
        }
    }

    /* axle, its libraries and loader, users, /tmp. */
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0)
        return bad("cannot find the axle binary%s", "");
    self[sl] = 0;
    if (add_file(&p, "usr/bin/axle", self, 0755) != 0)
        return bad("%s: cannot be read", self);
    struct libs l = {&p, 0};
    dl_iterate_phdr(lib_cb, &l);
    if (l.failed)
        return bad("a shared library of axle cannot be read%s", "");
    add_made(&p, "etc/passwd", "root:x:0:0:root:/:/sbin/nologin\naxle:x:65532:65532:axle:/tmp:/sbin/nologin\n");
    add_made(&p, "etc/group", "root:x:0:\naxle:x:65532:\n");
    add_dirs(&p, "tmp/x");
    qsort(p.e, (size_t)p.n, sizeof(p.e[0]), cmp_entry);

    if (dry) {
        for (int i = 0; i < p.n; i++)
            printf("%12lld  /%s\n", (long long)(p.e[i].is_dir ? 0 : p.e[i].size), p.e[i].name);
        printf("%12lld  total (uncompressed)\n", (long long)p.total);
        return 0;
    }

    /* Layer, then the archive. */
    char tmpl[PATH_MAX], tmpz[PATH_MAX], tmpo[PATH_MAX];
    snprintf(tmpl, sizeof(tmpl), "%s.layer.XXXXXX", output);
    snprintf(tmpz, sizeof(tmpz), "%s.gz.XXXXXX", output);
    snprintf(tmpo, sizeof(tmpo), "%s.tmp.XXXXXX", output);
    int fl = mkstemp(tmpl), fz = mkstemp(tmpz), fo = mkstemp(tmpo);
    if (fl < 0 || fz < 0 || fo < 0) {
        fprintf(stderr, "axle pack: cannot write next to %s: %s\n", output, strerror(errno));
        return 1;
    }
    unlink(tmpl);
    unlink(tmpz);
    fchmod(fo, 0644);
    FILE *layer = fdopen(fl, "w+b"), *gz = fdopen(fz, "w+b"), *arch = fdopen(fo, "wb");
    int docker = !strcmp(format, "docker");
    char diff_id[65], digest[65];
    int64_t gz_size = 0;
    int rc = 1;
    if (docker) {
        if (write_layer(&p, layer, NULL, diff_id) != 0 || fflush(layer) != 0)
            goto out;
    } else {
        struct pgz *z = pgz_open(gz, pgz_threads());
        if (!z) {
            fprintf(stderr, "axle pack: no memory for the compressor\n");
            goto out;
        }
        int lr = write_layer(&p, NULL, z, diff_id);
        if (pgz_close(z, digest, &gz_size) != 0 || lr != 0 || fflush(gz) != 0) {
            if (lr == 0)
                fprintf(stderr, "axle pack: compressing the layer failed: %s\n", strerror(errno));
            goto out;
        }
    }
    progress(&p, 1);

    char when[32];
    iso_time(p.created, when);
    struct axle_buf cfg = {0}, lab = {0};
    /* Labels, sorted by key as they are written (JSON object order is
     * part of the digest). */
    buf_puts(&lab, "\"io.axle.models\":");
    buf_putc(&p.models, 0);
    {
        struct axle_buf arr = {0};
        buf_putc(&arr, '[');
        buf_puts(&arr, p.models.data);
        buf_putc(&arr, ']');
        buf_putc(&arr, 0);
        json_put_cstr(&lab, arr.data);
        buf_free(&arr);
    }
    buf_puts(&lab, ",\"org.opencontainers.image.created\":");
    json_put_cstr(&lab, when);
    char title[256];
    snprintf(title, sizeof(title), "%.*s", (int)(colon - tag), tag);
    buf_puts(&lab, ",\"org.opencontainers.image.title\":");
    json_put_cstr(&lab, title);
    buf_puts(&lab, ",\"org.opencontainers.image.version\":");
    json_put_cstr(&lab, colon + 1);
    for (int i = 0; i < n_labels; i++) {
        const char *eq = strchr(labels[i], '=');
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - labels[i]), labels[i]);
        buf_putc(&lab, ',');
        json_put_cstr(&lab, key);
        buf_putc(&lab, ':');
        json_put_cstr(&lab, eq + 1);
    }
    buf_puts(&cfg, "{\"architecture\":\"amd64\",\"config\":{\"Entrypoint\":[\"/usr/bin/axle\","
                   "\"serve\",\"/models\",\"--host\",\"0.0.0.0\"],\"Env\":[\"PATH=/usr/bin\","
                   "\"LD_LIBRARY_PATH=/lib/axle\",\"AXLE_INSECURE_NO_AUTH=1\"],"
                   "\"ExposedPorts\":{\"8080/tcp\":{}},\"Labels\":{");
    buf_put(&cfg, lab.data, lab.len);
    buf_puts(&cfg, "},\"User\":\"65532:65532\",\"WorkingDir\":\"/\"},\"created\":");
    json_put_cstr(&cfg, when);
    buf_puts(&cfg, ",\"history\":[{\"created\":");
    json_put_cstr(&cfg, when);
    buf_puts(&cfg, ",\"created_by\":\"axle pack\"}],\"os\":\"linux\",\"rootfs\":{\"diff_ids\":"
                   "[\"sha256:");
    buf_puts(&cfg, diff_id);
    buf_puts(&cfg, "\"],\"type\":\"layers\"}}");
    char cfg_digest[65];
    sha256_hex(cfg.data, cfg.len, cfg_digest);

    struct out o;
    out_init(&o, arch);
    struct axle_buf man = {0}, idx = {0};
    char name[256];
    if (!docker) {
        buf_printf(&man, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                         "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                         "\"digest\":\"sha256:%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
                         "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:%s\","
                         "\"size\":%lld}],\"annotations\":{",
                   cfg_digest, cfg.len, digest, (long long)gz_size);
        buf_put(&man, lab.data, lab.len);
        buf_puts(&man, "}}");
        char man_digest[65];
        sha256_hex(man.data, man.len, man_digest);
        buf_printf(&idx, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                         "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                         "\"digest\":\"sha256:%s\",\"size\":%zu,\"annotations\":{"
                         "\"org.opencontainers.image.ref.name\":",
                   man_digest, man.len);
        json_put_cstr(&idx, colon + 1);
        buf_puts(&idx, ",\"io.containerd.image.name\":");
        json_put_cstr(&idx, tag);
        buf_puts(&idx, "}}]}");
        tar_header(&o, "blobs/", 0, 0755, 1, p.created);
        tar_header(&o, "blobs/sha256/", 0, 0755, 1, p.created);
        /* Blobs in digest order, then index.json and oci-layout. */
        const char *hx[3] = {cfg_digest, digest, man_digest};
        for (int a = 0; a < 3; a++)
            for (int b = a + 1; b < 3; b++)
                if (strcmp(hx[a], hx[b]) > 0) {
                    const char *t = hx[a];
                    hx[a] = hx[b];
                    hx[b] = t;
                }
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof(name), "blobs/sha256/%s", hx[k]);
            if (hx[k] == cfg_digest) {
                tar_blob(&o, name, cfg.data, cfg.len, p.created);
            } else if (hx[k] == man_digest) {
                tar_blob(&o, name, man.data, man.len, p.created);
            } else {
                tar_header(&o, name, gz_size, 0644, 0, p.created);
                copy_into(&o, gz);
                tar_pad(&o, gz_size);
            }
        }
        tar_blob(&o, "index.json", idx.data, idx.len, p.created);
        const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
        tar_blob(&o, "oci-layout", layout, strlen(layout), p.created);
    } else {
        int64_t lsize = ftello(layer);
        buf_printf(&man, "[{\"Config\":\"%s.json\",\"RepoTags\":[", cfg_digest);
        json_put_cstr(&man, tag);
        buf_printf(&man, "],\"Layers\":[\"%s/layer.tar\"]}]", diff_id);
        snprintf(name, sizeof(name), "%s.json", cfg_digest);
        tar_blob(&o, name, cfg.data, cfg.len, p.created);
        snprintf(name, sizeof(name), "%s/", diff_id);
        tar_header(&o, name, 0, 0755, 1, p.created);
        snprintf(name, sizeof(name), "%s/layer.tar", diff_id);
        tar_header(&o, name, lsize, 0644, 0, p.created);
        copy_into(&o, layer);
        tar_pad(&o, lsize);
        tar_blob(&o, "manifest.json", man.data, man.len, p.created);
        memcpy(digest, diff_id, sizeof(digest));
    }
    static const char zero[1024];
    out_write(&o, zero, sizeof(zero));
    char arch_digest[65];
    out_digest(&o, arch_digest);
    if (o.err || fflush(arch) != 0 || fsync(fileno(arch)) != 0 || rename(tmpo, output) != 0) {
        fprintf(stderr, "axle pack: writing %s failed: %s\n", output, strerror(errno));
        goto out;
    }
    printf("{\"image\":\"%s\",\"format\":\"%s\",\"config\":\"sha256:%s\",\"layer\":\"sha256:%s\","
           "\"bytes\":%lld,\"models\":%d}\n",
           output, format, cfg_digest, digest, (long long)o.bytes, p.n_models);
    rc = 0;
    buf_free(&cfg);
    buf_free(&lab);
    buf_free(&man);
    buf_free(&idx);
out:
    fclose(layer);
    fclose(gz);
    fclose(arch);
    if (rc != 0)
        unlink(tmpo);
    return rc;
}
