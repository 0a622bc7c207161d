/*
 * test_pack_gzip.c - the parallel gzip writer of `axle pack`
 * (src/cli/pack_gzip.c): what it writes is one valid gzip member that
 * zlib's inflate turns back into the input (empty, one byte, around the
 * 1 MiB chunk size, several chunks, mixed modes), with a CRC and length
 * inflate checks; the bytes are the same whatever the thread count; and the
 * digest and size it reports are those of what it wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "cli/pack_gzip.h"

#define MIB (1u << 20)

/* Compressible text, then float-like noise, so every mode has work. */
static unsigned char *make_input(size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        b[i] = (i / 4096) % 2 ? (unsigned char)(x >> 24) : (unsigned char)("model weights "[i % 14]);
    }
    return b;
}

/* Writes in[0..n) through a pgz of t threads in pieces of `piece` bytes,
 * the mode changing every 1.5 MiB; the file's bytes out. */
static unsigned char *run(const unsigned char *in, size_t n, int t, size_t piece, size_t *out_len,
                          char digest[65], int64_t *size)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    struct pgz *z = pgz_open(f, t);
    assert_non_null(z);
    for (size_t off = 0; off < n;) {
        /* Modes change every 1.5 MiB of the stream, whatever the pieces. */
        size_t edge = (off / (3 * MIB / 2) + 1) * (3 * MIB / 2);
        size_t k = n - off < piece ? n - off : piece;
        if (off + k > edge)
            k = edge - off;
        enum pgz_mode m = (enum pgz_mode)((off / (3 * MIB / 2)) % 3);
        pgz_write(z, in + off, k, m);
        off += k;
    }
    assert_int_equal(pgz_close(z, digest, size), 0);
    long len = ftell(f);
    assert_true(len >= 18);
    unsigned char *b = malloc((size_t)len);
    rewind(f);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *out_len = (size_t)len;
    return b;
}

static void inflate_all(const unsigned char *gz, size_t gz_len, const unsigned char *want,
                        size_t n)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK); /* gzip only */
    unsigned char *out = malloc(n + 1);
    zs.next_in = (unsigned char *)gz;
    zs.avail_in = (uInt)gz_len;
    zs.next_out = out;
    zs.avail_out = (uInt)n + 1;
    int zr = inflate(&zs, Z_FINISH);
    assert_int_equal(zr, Z_STREAM_END); /* CRC-32 and ISIZE checked by inflate */
    assert_int_equal(zs.avail_in, 0);    /* one member, nothing after it */
    assert_int_equal(zs.total_out, n);
    assert_memory_equal(out, want, n);
    inflateEnd(&zs);
    free(out);
}

static void sha256_hex(const unsigned char *p, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void round_trips_at_every_size(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 100, MIB - 1, MIB, MIB + 1, 2 * MIB, 3 * MIB + 12345};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *in = make_input(sizes[i]);
        char d1[65], d3[65], want[65];
        int64_t s1, s3;
        size_t l1, l3;
        unsigned char *g1 = run(in, sizes[i], 1, 70000, &l1, d1, &s1);
        unsigned char *g3 = run(in, sizes[i], 3, 333333, &l3, d3, &s3);
        inflate_all(g1, l1, in, sizes[i]);
        inflate_all(g3, l3, in, sizes[i]);
        /* The same bytes with 1 thread or 3, written in other pieces. */
        assert_int_equal(l1, l3);
        assert_memory_equal(g1, g3, l1);
        sha256_hex(g1, l1, want);
        assert_string_equal(d1, want);
        assert_string_equal(d3, want);
        assert_int_equal(s1, (int64_t)l1);
        free(g1);
        free(g3);
        free(in);
    }
}

static void compresses_what_can_be_compressed(void **state)
{
    (void)state;
    size_t n = 4 * MIB;
    unsigned char *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (unsigned char)("abcdefgh"[i % 8]);
    FILE *f = tmpfile();
    struct pgz *z = pgz_open(f, 2);
    pgz_write(z, in, n, PGZ_BEST);
    char d[65];
    int64_t size;
    assert_int_equal(pgz_close(z, d, &size), 0);
    assert_true(size < (int64_t)(n / 100)); /* 8-byte period: LZ77 across the chunks */
    fclose(f);
    free(in);
}

static void a_failed_write_is_reported(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "wb");
    if (!f) {
        print_message("skipped: /dev/full cannot be opened here\n");
        skip(); /* reason= /dev/full cannot be opened (printed above) */
    }
    setvbuf(f, NULL, _IONBF, 0);
    unsigned char *in = make_input(2 * MIB);
    struct pgz *z = pgz_open(f, 2);
    pgz_write(z, in, 2 * MIB, PGZ_FAST);
    char d[65];
    int64_t size;
    assert_int_equal(pgz_close(z, d, &size), -1);
    fclose(f);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips_at_every_size),
        cmocka_unit_test(compresses_what_can_be_compressed),
        cmocka_unit_test(a_failed_write_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
