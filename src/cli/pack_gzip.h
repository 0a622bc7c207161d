/*
 * pack_gzip.h - a gzip member written from a byte stream in parallel
 * chunks, for the layers of `axle pack`.
 */
#ifndef AXLE_CLI_PACK_GZIP_H
#define AXLE_CLI_PACK_GZIP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* How a chunk is compressed; a chunk takes the strongest mode of any byte
 * written into it (BEST > FAST > HUFFMAN). */
enum pgz_mode {
    PGZ_HUFFMAN = 0, /* Huffman codes only: fast, and as small as LZ77 on float weights */
    PGZ_FAST = 1,    /* deflate level 1 */
    PGZ_BEST = 2,    /* deflate level 6 */
};

struct pgz;

/* A writer of one gzip member into dst, compressing with up to n_threads
 * threads (1: in the calling thread). NULL when out of memory. */
struct pgz *pgz_open(FILE *dst, int n_threads);

/* Appends n bytes of the uncompressed stream. */
void pgz_write(struct pgz *z, const void *p, size_t n, enum pgz_mode mode);

/* Ends the member and frees z: sha256 of the compressed bytes (64 hex
 * digits) and their count out. 0 when every write succeeded, else -1. */
int pgz_close(struct pgz *z, char digest[65], int64_t *size);

/* Threads for pgz_open: the CPUs this process may run on, at most 8. */
int pgz_threads(void);

#endif
