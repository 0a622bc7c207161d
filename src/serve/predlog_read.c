/*
 * predlog_read.c - reading the prediction log (predlog.h): CRC32C, the
 * record scanner, segment names and listing, lookup by request id.
 *
 * Everything here treats the bytes as hostile (a torn tail, a flipped bit,
 * a file someone wrote by hand): lengths are checked against the image
 * before anything is read, and a record is yielded only when its CRC holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/json.h"
#include "serve/predlog.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* ------------------------------------------------------------------ */
/* CRC32C                                                              */

static uint32_t crc_table[8][256];
static int crc_hw = -1;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (uint32_t i = 0; i < 256; i++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
    crc_hw = 0;
#endif
}

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

uint32_t axle_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *s = p;
    uint32_t c = ~crc;
    /* Slicing by 8. */
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + 4, 4);
        lo ^= c;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        s += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ crc_table[0][(c ^ *s++) & 0xff];
    return ~c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        c = _mm_crc32_u64(c, w);
        s += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = _mm_crc32_u8(c32, *s++);
    return ~c32;
}
#endif

uint32_t axle_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
    if (crc_hw)
        return crc_sse42(crc, p, n);
#endif
    return axle_crc32c_sw(crc, p, n);
}

/* ------------------------------------------------------------------ */
/* Records                                                             */

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* The record at off, or 0 when none valid starts there. */
static int record_at(const unsigned char *d, size_t len, size_t off, struct predlog_record *r)
{
    if (len - off < PREDLOG_FRAME_BYTES || memcmp(d + off, PREDLOG_MAGIC, 4) != 0)
        return 0;
    uint32_t n = rd32(d + off + 4);
    if (n > PREDLOG_MAX_PAYLOAD || n > len - off - PREDLOG_FRAME_BYTES)
        return 0;
    const unsigned char *h = d + off;
    if (h[17] | h[18] | h[19])
        return 0;
    uint32_t want = rd32(h + PREDLOG_HDR_BYTES + n);
    if (axle_crc32c(0, h + 4, PREDLOG_HDR_BYTES - 4 + n) != want)
        return 0;
    r->seq = rd64(h + 8);
    r->type = h[16];
    r->payload = (const char *)h + PREDLOG_HDR_BYTES;
    r->len = n;
    r->offset = off;
    return 1;
}

size_t predlog_scan(const void *data, size_t len,
                    int (*fn)(void *arg, const struct predlog_record *r), void *arg)
{
    const unsigned char *d = data;
    size_t off = 0;
    struct predlog_record r;
    while (off < len && record_at(d, len, off, &r)) {
        off += PREDLOG_FRAME_BYTES + r.len;
        if (fn && fn(arg, &r))
            break;
    }
    return off;
}

static int tail_fn(void *arg, const struct predlog_record *r)
{
    struct predlog_tail *t = arg;
    if (!t->n_records)
        t->first_seq = r->seq;
    t->n_records++;
    t->last_seq = r->seq;
    t->last_type = r->type;
    return 0;
}

void predlog_scan_tail(const void *data, size_t len, struct predlog_tail *t)
{
    memset(t, 0, sizeof(*t));
    t->valid = predlog_scan(data, len, tail_fn, t);
}

const char *predlog_type_name(int type)
{
    switch (type) {
    case PREDLOG_PREDICTION: return "prediction";
    case PREDLOG_FEEDBACK: return "feedback";
    case PREDLOG_GAP: return "gap";
    case PREDLOG_SEGMENT_START: return "segment_start";
    case PREDLOG_SHUTDOWN: return "shutdown";
    default: return "unknown";
    }
}

/* ------------------------------------------------------------------ */
/* Segments                                                            */

int predlog_segment_name_parse(const char *name, uint64_t *seq)
{
    if (strlen(name) != PREDLOG_NAME_LEN || strncmp(name, "predlog-", 8) != 0 ||
        strcmp(name + 28, ".log") != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 8; i < 28; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        unsigned dgt = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return -1;
        v = v * 10 + dgt;
    }
    *seq = v;
    return 0;
}

void predlog_segment_name(char out[PREDLOG_NAME_LEN + 1], uint64_t seq)
{
    snprintf(out, PREDLOG_NAME_LEN + 1, "predlog-%020llu.log", (unsigned long long)seq);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define MAX_SEGMENTS 1000000

enum axle_status predlog_segments(int dirfd, uint64_t **seqs, size_t *n, struct axle_err *err)
{
    *seqs = NULL;
    *n = 0;
    int fd = dup(dirfd);
    if (fd < 0)
        return axle_err_set(err, AXLE_UNAVAILABLE, "prediction log directory: %s",
                            strerror(errno));
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return axle_err_set(err, AXLE_UNAVAILABLE, "prediction log directory: %s",
                            strerror(errno));
    }
    rewinddir(dir);
    size_t cap = 0;
    uint64_t *v = NULL;
    struct dirent *e;
    while ((e = readdir(dir))) {
        uint64_t seq;
        if (predlog_segment_name_parse(e->d_name, &seq) != 0)
            continue;
        if (*n == MAX_SEGMENTS) {
            free(v);
            closedir(dir);
            *n = 0;
            return axle_err_set(err, AXLE_FAILED_PRECONDITION,
                                "prediction log: more than %d segments", MAX_SEGMENTS);
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            v = axle_xrealloc(v, cap * sizeof(*v));
        }
        v[(*n)++] = seq;
    }
    closedir(dir);
    if (*n)
        qsort(v, *n, sizeof(*v), cmp_u64);
    *seqs = v;
    return AXLE_OK;
}

enum axle_status predlog_read_file(int dirfd, const char *name, uint64_t max_bytes, char **data,
                                   size_t *len, struct axle_err *err)
{
    *data = NULL;
    *len = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return axle_err_set(err, errno == ENOENT ? AXLE_NOT_FOUND : AXLE_UNAVAILABLE, "%s: %s",
                            name, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return axle_err_set(err, AXLE_FAILED_PRECONDITION, "%s: not a regular file", name);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return axle_err_set(err, AXLE_FAILED_PRECONDITION, "%s: larger than %llu bytes", name,
                            (unsigned long long)max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = n ? axle_try_malloc(n) : NULL;
    if (n && !buf) {
        close(fd);
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "%s: no memory", name);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break; /* shrank meanwhile: what was read */
        got += (size_t)k;
    }
    close(fd);
    *data = buf;
    *len = got;
    return AXLE_OK;
}

/* ------------------------------------------------------------------ */
/* Lookup                                                              */

struct find {
    const char *id;
    size_t id_len;
    size_t off, len; /* newest match within the image */
    int found;
    int fb_after;    /* a FEEDBACK record for id follows the newest match */
};

/* Is r's "request_id" exactly id? */
static int record_has_id(const struct predlog_record *r, const char *id, size_t id_len)
{
    /* Cheap filter first: the id must appear as a JSON string. */
    if (r->len < id_len + 2 || !memmem(r->payload, r->len, id, id_len))
        return 0;
    char *copy = axle_try_malloc((size_t)r->len + 1); /* json_parse writes buf[len] */
    if (!copy)
        return 0;
    memcpy(copy, r->payload, r->len);
    struct json_doc d;
    json_doc_init(&d);
    struct axle_err e;
    int yes = 0;
    if (json_parse(&d, copy, r->len, &e) == AXLE_OK) {
        uint32_t t = json_get(&d, 0, "request_id");
        yes = t && json_tok(&d, t)->type == JSON_STRING && json_tok(&d, t)->size == id_len &&
              memcmp(json_str(&d, t), id, id_len) == 0;
    }
    json_doc_free(&d);
    free(copy);
    return yes;
}

static int find_fn(void *arg, const struct predlog_record *r)
{
    struct find *f = arg;
    if (r->type != PREDLOG_PREDICTION && r->type != PREDLOG_FEEDBACK)
        return 0;
    if (!record_has_id(r, f->id, f->id_len))
        return 0;
    if (r->type == PREDLOG_FEEDBACK) {
        f->fb_after = 1;
        return 0;
    }
    f->found = 1; /* a later match overwrites: the newest wins */
    f->fb_after = 0;
    f->off = (size_t)r->offset + PREDLOG_HDR_BYTES;
    f->len = r->len;
    return 0;
}

enum axle_status predlog_lookup(const char *dir, const char *id, size_t id_len,
                                uint64_t max_bytes, char **payload, size_t *len,
                                struct axle_err *err)
{
    *payload = NULL;
    *len = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return axle_err_set(err, errno == ENOENT ? AXLE_NOT_FOUND : AXLE_UNAVAILABLE,
                            "prediction log directory: %s", strerror(errno));
    uint64_t *seqs;
    size_t n;
    enum axle_status st = predlog_segments(dfd, &seqs, &n, err);
    uint64_t left = max_bytes;
    int fb_newer = 0; /* feedback seen in a newer segment than any match */
    for (size_t i = n; st == AXLE_OK && i-- > 0 && left > 0;) {
        char name[PREDLOG_NAME_LEN + 1];
        predlog_segment_name(name, seqs[i]);
        char *data;
        size_t dlen;
        struct axle_err e2;
        if (predlog_read_file(dfd, name, left, &data, &dlen, &e2) != AXLE_OK)
            continue; /* too large for what is left, or gone: skip */
        left -= dlen;
        struct find f = {id, id_len, 0, 0, 0, 0};
        predlog_scan(data, dlen, find_fn, &f);
        int dup = f.found && (f.fb_after || fb_newer);
        fb_newer |= f.fb_after;
        if (f.found) {
            size_t off = f.off;
            char *p = axle_try_malloc(f.len + 1);
            if (!p) {
                free(data);
                st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "no memory");
                break;
            }
            memcpy(p, data + off, f.len);
            p[f.len] = 0;
            *payload = p;
            *len = f.len;
            free(data);
            free(seqs);
            close(dfd);
            return dup ? axle_err_set(err, AXLE_ABORTED, "feedback already recorded") : AXLE_OK;
        }
        free(data);
    }
    free(seqs);
    close(dfd);
    if (st != AXLE_OK)
        return st;
    if (fb_newer) /* labelled here; its prediction is in another directory, or gone */
        return axle_err_set(err, AXLE_ABORTED, "feedback already recorded");
    return axle_err_set(err, AXLE_NOT_FOUND, "unknown request id");
}
