/*
 * pack_gzip.c - one gzip member from a byte stream, compressed in 1 MiB
 * chunks by a few threads.
 *
 * zlib's deflate is one thread and, at level 1, about 30 MB/s on float
 * weights on this project's machines: it was 78 % of `axle pack`'s time for
 * a 100 MB model (bench/pack.sh, BENCHMARKS.md "Packaging"). zlib stays the
 * compressor; this file only cuts the stream so that several deflate
 * streams run at once, as a parallel gzip does:
 *
 *   - each chunk is raw deflate primed with the last 32 KiB of the chunk
 *     before it (so LZ77 matches across the cut are not lost), ended with
 *     a sync flush (an empty stored block, which leaves it byte-aligned) so
 *     the chunks simply concatenate; the last one ends the stream;
 *   - the CRC-32 of each chunk is joined in order with crc32_combine;
 *   - the gzip header has no name and time 0, so the bytes depend only on
 *     the input and on the mode each chunk was given, never on timing or
 *     the thread count: an image's digest stays reproducible.
 *
 * The calling thread fills chunks and writes finished ones in order (and
 * hashes them); the workers compress. Slots are reused round robin, so
 * memory is about 2 MiB per slot, 2 slots per thread.
 */
#include "cli/pack_gzip.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "base/alloc.h"

#define PGZ_CHUNK (1u << 20)
#define PGZ_DICT 32768u
#define PGZ_MAX_THREADS 8

enum { SLOT_FREE, SLOT_QUEUED, SLOT_DONE };

struct slot {
    unsigned char *in, *out;
    size_t in_len, out_len, out_cap;
    unsigned char dict[PGZ_DICT];
    size_t dict_len;
    enum pgz_mode mode;
    int last, err, state;
    uLong crc;
};

struct pgz {
    FILE *dst;
    EVP_MD_CTX *md;
    int64_t bytes;
    int err;
    int n_threads; /* workers; 0: compress in the caller */
    pthread_t th[PGZ_MAX_THREADS];
    struct slot *slots;
    int n_slots;
    uint64_t next_fill, next_take, next_write;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int quit;
    int opened; /* the header is written: close ends the member */
    struct slot *cur;
    uLong crc;
    uint32_t isize;
    unsigned char tail[PGZ_DICT];
    size_t tail_len;
};

int pgz_threads(void)
{
    cpu_set_t set;
    int n = 1;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        n = CPU_COUNT(&set);
    return n < 1 ? 1 : n > PGZ_MAX_THREADS ? PGZ_MAX_THREADS : n;
}

static void put(struct pgz *z, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, z->dst) != n)
        z->err = 1;
    EVP_DigestUpdate(z->md, p, n);
    z->bytes += (int64_t)n;
}

static void compress_slot(struct slot *s)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    int level = s->mode == PGZ_BEST ? 6 : 1;
    int strategy = s->mode == PGZ_HUFFMAN ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY;
    s->crc = crc32(0, s->in, (uInt)s->in_len);
    s->out_len = 0;
    if (deflateInit2(&zs, level, Z_DEFLATED, -15, 8, strategy) != Z_OK) {
        s->err = 1;
        return;
    }
    if (s->dict_len && s->mode != PGZ_HUFFMAN)
        deflateSetDictionary(&zs, s->dict, (uInt)s->dict_len);
    zs.next_in = s->in;
    zs.avail_in = (uInt)s->in_len;
    zs.next_out = s->out;
    zs.avail_out = (uInt)s->out_cap;
    int zr = deflate(&zs, s->last ? Z_FINISH : Z_SYNC_FLUSH);
    /* out_cap is deflateBound plus room for the flush marker: one call
     * takes everything, or the chunk is an error. */
    if (s->last ? zr != Z_STREAM_END : (zr != Z_OK || zs.avail_in != 0 || zs.avail_out == 0))
        s->err = 1;
    s->out_len = s->out_cap - zs.avail_out;
    deflateEnd(&zs);
}

static void *worker(void *arg)
{
    struct pgz *z = arg;
    pthread_mutex_lock(&z->mu);
    for (;;) {
        while (!z->quit && z->next_take == z->next_fill)
            pthread_cond_wait(&z->work, &z->mu);
        if (z->next_take == z->next_fill)
            break; /* quit, and nothing left */
        struct slot *s = &z->slots[z->next_take++ % (uint64_t)z->n_slots];
        pthread_mutex_unlock(&z->mu);
        compress_slot(s);
        pthread_mutex_lock(&z->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&z->done);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

/* Writes the oldest queued chunk once it is compressed; frees its slot. */
static void write_one(struct pgz *z)
{
    struct slot *s = &z->slots[z->next_write % (uint64_t)z->n_slots];
    pthread_mutex_lock(&z->mu);
    while (s->state != SLOT_DONE)
        pthread_cond_wait(&z->done, &z->mu);
    pthread_mutex_unlock(&z->mu);
    put(z, s->out, s->out_len);
    z->err |= s->err;
    z->crc = crc32_combine(z->crc, s->crc, (z_off_t)s->in_len);
    z->isize += (uint32_t)s->in_len; /* ISIZE is the length mod 2^32 */
    s->state = SLOT_FREE;
    z->next_write++;
}

static void submit(struct pgz *z, int last)
{
    struct slot *s = z->cur;
    z->cur = NULL;
    s->last = last;
    /* The next chunk's dictionary: the last 32 KiB of the stream so far. */
    if (s->in_len >= PGZ_DICT) {
        memcpy(z->tail, s->in + s->in_len - PGZ_DICT, PGZ_DICT);
        z->tail_len = PGZ_DICT;
    } else {
        size_t keep = z->tail_len + s->in_len > PGZ_DICT ? PGZ_DICT - s->in_len : z->tail_len;
        memmove(z->tail, z->tail + z->tail_len - keep, keep);
        memcpy(z->tail + keep, s->in, s->in_len);
        z->tail_len = keep + s->in_len;
    }
    if (z->n_threads == 0) {
        compress_slot(s);
        s->state = SLOT_DONE;
        z->next_fill++;
        return;
    }
    pthread_mutex_lock(&z->mu);
    s->state = SLOT_QUEUED;
    z->next_fill++;
    pthread_cond_signal(&z->work);
    pthread_mutex_unlock(&z->mu);
}

/* The slot for the next chunk, writing out older chunks until it is free. */
static void take_slot(struct pgz *z)
{
    struct slot *s = &z->slots[z->next_fill % (uint64_t)z->n_slots];
    while (s->state != SLOT_FREE)
        write_one(z);
    s->in_len = 0;
    s->mode = PGZ_HUFFMAN;
    s->err = 0;
    memcpy(s->dict, z->tail, z->tail_len);
    s->dict_len = z->tail_len;
    z->cur = s;
}

struct pgz *pgz_open(FILE *dst, int n_threads)
{
    struct pgz *z = axle_try_calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    z->dst = dst;
    z->n_threads = n_threads <= 1 ? 0 : n_threads > PGZ_MAX_THREADS ? PGZ_MAX_THREADS : n_threads;
    z->n_slots = z->n_threads ? 2 * z->n_threads : 1;
    z->slots = axle_try_calloc((size_t)z->n_slots, sizeof(*z->slots));
    z->md = EVP_MD_CTX_new();
    int ok = z->slots && z->md;
    size_t cap = deflateBound(NULL, PGZ_CHUNK) + 64;
    for (int i = 0; ok && i < z->n_slots; i++) {
        z->slots[i].in = axle_try_malloc(PGZ_CHUNK);
        z->slots[i].out = axle_try_malloc(cap);
        z->slots[i].out_cap = cap;
        ok = z->slots[i].in && z->slots[i].out;
    }
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->work, NULL);
    pthread_cond_init(&z->done, NULL);
    int started = 0;
    for (; ok && started < z->n_threads; started++)
        ok = pthread_create(&z->th[started], NULL, worker, z) == 0;
    if (!ok) {
        z->n_threads = started;
        char hex[65];
        int64_t n;
        pgz_close(z, hex, &n);
        return NULL;
    }
    EVP_DigestInit_ex(z->md, EVP_sha256(), NULL);
    z->crc = crc32(0, NULL, 0);
    /* Magic, deflate, no flags, time 0, no extra flags, OS unix. */
    static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    put(z, hdr, sizeof(hdr));
    z->opened = 1;
    return z;
}

void pgz_write(struct pgz *z, const void *p, size_t n, enum pgz_mode mode)
{
    const unsigned char *b = p;
    while (n > 0) {
        if (!z->cur)
            take_slot(z);
        struct slot *s = z->cur;
        size_t k = PGZ_CHUNK - s->in_len < n ? PGZ_CHUNK - s->in_len : n;
        memcpy(s->in + s->in_len, b, k);
        s->in_len += k;
        if (mode > s->mode)
            s->mode = mode;
        b += k;
        n -= k;
        if (s->in_len == PGZ_CHUNK)
            submit(z, 0);
    }
}

int pgz_close(struct pgz *z, char digest[65], int64_t *size)
{
    if (z->opened) {
        if (!z->cur)
            take_slot(z); /* the last chunk may be empty: it ends the stream */
        submit(z, 1);
        while (z->next_write < z->next_fill)
            write_one(z);
        unsigned char tr[8];
        for (int i = 0; i < 4; i++) {
            tr[i] = (unsigned char)(z->crc >> (8 * i));
            tr[4 + i] = (unsigned char)(z->isize >> (8 * i));
        }
        put(z, tr, sizeof(tr));
        unsigned char md[32];
        EVP_DigestFinal_ex(z->md, md, NULL);
        for (int i = 0; i < 32; i++) {
            digest[2 * i] = "0123456789abcdef"[md[i] >> 4];
            digest[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
        }
        digest[64] = 0;
    } else {
        z->err = 1;
    }
    pthread_mutex_lock(&z->mu);
    z->quit = 1;
    pthread_cond_broadcast(&z->work);
    pthread_mutex_unlock(&z->mu);
    for (int i = 0; i < z->n_threads; i++)
        pthread_join(z->th[i], NULL);
    pthread_mutex_destroy(&z->mu);
    pthread_cond_destroy(&z->work);
    pthread_cond_destroy(&z->done);
    for (int i = 0; z->slots && i < z->n_slots; i++) {
        free(z->slots[i].in);
        free(z->slots[i].out);
    }
    free(z->slots);
    EVP_MD_CTX_free(z->md);
    int rc = z->err ? -1 : 0;
    *size = z->bytes;
    free(z);
    return rc;
}
