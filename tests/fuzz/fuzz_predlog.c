/*
 * fuzz_predlog.c - prediction log recovery (SECURITY.md F14): bytes as the
 * newest segment of a log directory -> the scanner, then predlog_open's
 * recovery and a clean close.
 *
 * Invariants: the scanner yields only records whose CRC holds, in
 * increasing offsets, never past the input; recovery keeps exactly the
 * valid prefix in the segment and moves the rest, byte for byte, into the
 * .torn file; the directory then holds only whole segments, and the new
 * segment starts past every seq kept.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/predlog.h"

#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c))                                                            \
            abort();                                                         \
    } while (0)

struct walk {
    const unsigned char *base;
    size_t len;
    uint64_t next_off;
    uint64_t max_seq;
};

static int walk_fn(void *arg, const struct predlog_record *r)
{
    struct walk *w = arg;
    CHECK(r->offset == w->next_off);
    CHECK(r->offset + PREDLOG_FRAME_BYTES + r->len <= w->len);
    const unsigned char *h = w->base + r->offset;
    CHECK(memcmp(h, PREDLOG_MAGIC, 4) == 0);
    uint32_t crc;
    memcpy(&crc, h + PREDLOG_HDR_BYTES + r->len, 4);
    CHECK(axle_crc32c(0, h + 4, PREDLOG_HDR_BYTES - 4 + r->len) == crc);
    CHECK(axle_crc32c_sw(0, h + 4, PREDLOG_HDR_BYTES - 4 + r->len) == crc);
    w->next_off = r->offset + PREDLOG_FRAME_BYTES + r->len;
    if (r->seq > w->max_seq)
        w->max_seq = r->seq;
    return 0;
}

static void quiet(void *arg, const char *level, const char *event, const char *detail)
{
    (void)arg, (void)level, (void)event, (void)detail;
}

static int write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0)
        return -1;
    int ok = n == 0 || write(fd, p, n) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : (size_t)-1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct walk w = {data, size, 0, 0};
    size_t valid = predlog_scan(data, size, walk_fn, &w);
    CHECK(valid == w.next_off && valid <= size);

    /* Recovery on a real directory (tmpfs when there is one). */
    char dir[] = "/dev/shm/axle-fuzz-predlog-XXXXXX";
    char dir2[] = "/tmp/axle-fuzz-predlog-XXXXXX";
    char *d = mkdtemp(dir);
    if (!d)
        d = mkdtemp(dir2);
    if (!d)
        return 0;
    char seg[256], torn[300];
    snprintf(seg, sizeof(seg), "%s/predlog-00000000000000000001.log", d);
    snprintf(torn, sizeof(torn), "%s.torn", seg);
    if (write_file(seg, data, size) == 0) {
        struct predlog_opts o = {.dir = d, .log_fn = quiet, .queue_bytes = 4096};
        struct predlog *l;
        if (predlog_open(&o, &l, NULL) == AXLE_OK) {
            predlog_close(l);
            CHECK(file_size(seg) == valid);
            if (valid < size) {
                CHECK(file_size(torn) == size - valid);
                int fd = open(torn, O_RDONLY);
                CHECK(fd >= 0);
                unsigned char *t = malloc(size - valid);
                CHECK(t && read(fd, t, size - valid) == (ssize_t)(size - valid));
                CHECK(memcmp(t, data + valid, size - valid) == 0);
                free(t);
                close(fd);
            } else {
                CHECK(file_size(torn) == (size_t)-1);
            }
            /* Exactly one new segment, past every kept seq, and whole. */
            int dfd = open(d, O_RDONLY | O_DIRECTORY);
            uint64_t *seqs;
            size_t n;
            CHECK(predlog_segments(dfd, &seqs, &n, NULL) == AXLE_OK);
            CHECK(n == 2 && seqs[0] == 1 && seqs[1] > w.max_seq && seqs[1] > 1);
            char name[PREDLOG_NAME_LEN + 1];
            predlog_segment_name(name, seqs[1]);
            char *img;
            size_t len;
            CHECK(predlog_read_file(dfd, name, 1u << 20, &img, &len, NULL) == AXLE_OK);
            struct predlog_tail t;
            predlog_scan_tail(img, len, &t);
            CHECK(t.valid == len && t.n_records == 2 && t.first_seq == seqs[1] &&
                  t.last_type == PREDLOG_SHUTDOWN);
            free(img);
            free(seqs);
            close(dfd);
        }
    }
    DIR *dd = opendir(d);
    struct dirent *e;
    while (dd && (e = readdir(dd))) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
        unlink(p);
    }
    if (dd)
        closedir(dd);
    rmdir(d);
    return 0;
}
