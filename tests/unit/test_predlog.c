/*
 * test_predlog.c - the prediction log (serve/predlog.h): CRC32C against the
 * standard check value and hardware against table, the writer's round trip
 * and seq numbering, recovery of a torn tail, rotation and retention, and
 * the failure paths of SECURITY.md 4.4 driven through the fault hook:
 * a failed write or fdatasync poisons the segment, loses (and reports) its
 * batch and writing resumes on a new segment behind a GAP record; a full
 * queue drops and says so; a segment that cannot be opened is retried.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "serve/predlog.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/axle-predlog-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void rmtree(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

static void quiet(void *arg, const char *level, const char *event, const char *detail)
{
    (void)arg, (void)level, (void)event, (void)detail;
}

/* Every record of every segment of dir, in segment order. */
struct rec {
    uint64_t seq;
    int type;
    char payload[256];
    uint64_t segment;
};
struct all {
    struct rec r[4096];
    int n;
    int n_segments;
    uint64_t segment;
};

static int collect_fn(void *arg, const struct predlog_record *r)
{
    struct all *a = arg;
    if (a->n < 4096) {
        struct rec *x = &a->r[a->n++];
        x->seq = r->seq;
        x->type = r->type;
        x->segment = a->segment;
        size_t n = r->len < sizeof(x->payload) - 1 ? r->len : sizeof(x->payload) - 1;
        memcpy(x->payload, r->payload, n);
        x->payload[n] = 0;
    }
    return 0;
}

/* Reads every segment; asserts each is whole (no torn bytes). */
static void read_all(const char *dir, struct all *a)
{
    memset(a, 0, sizeof(*a));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    uint64_t *seqs;
    size_t n;
    assert_int_equal(predlog_segments(dfd, &seqs, &n, NULL), AXLE_OK);
    for (size_t i = 0; i < n; i++) {
        char name[PREDLOG_NAME_LEN + 1];
        predlog_segment_name(name, seqs[i]);
        char *data;
        size_t len;
        assert_int_equal(predlog_read_file(dfd, name, 1u << 30, &data, &len, NULL), AXLE_OK);
        a->segment = seqs[i];
        size_t valid = predlog_scan(data, len, collect_fn, a);
        assert_int_equal(valid, len);
        free(data);
    }
    a->n_segments = (int)n;
    free(seqs);
    close(dfd);
}

static int count_type(const struct all *a, int type)
{
    int k = 0;
    for (int i = 0; i < a->n; i++)
        k += a->r[i].type == type;
    return k;
}

static void append_n(struct predlog *l, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char p[96];
        int k = snprintf(p, sizeof(p), "{\"request_id\":\"r%d\",\"i\":%d}", i, i);
        assert_int_equal(predlog_append(l, PREDLOG_PREDICTION, p, (size_t)k, NULL, NULL), 0);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until the writer has written `records` records (or 5 s pass). */
static void wait_records(struct predlog *l, uint64_t records)
{
    struct predlog_stats s;
    for (int i = 0; i < 500; i++) {
        predlog_get_stats(l, &s);
        if (s.records >= records)
            return;
        sleep_ms(10);
    }
}

/* ------------------------------------------------------------------ */
/* CRC32C                                                              */

static void crc32c_check_value_and_hw_matches_table(void **state)
{
    (void)state;
    assert_int_equal(axle_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(axle_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(axle_crc32c(0, "", 0), 0);
    unsigned char buf[1031];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof(buf); n += 37)
            assert_int_equal(axle_crc32c(0, buf + off, n), axle_crc32c_sw(0, buf + off, n));
    /* Chaining equals one pass. */
    uint32_t c = axle_crc32c(0, buf, 500);
    assert_int_equal(axle_crc32c(c, buf + 500, 531), axle_crc32c(0, buf, 1031));
}

/* ------------------------------------------------------------------ */
/* Scanner                                                             */

static void scan_stops_at_a_flipped_bit_and_never_yields_it(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct predlog_opts o = {.dir = dir, .log_fn = quiet};
    struct predlog *l;
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    append_n(l, 0, 10);
    predlog_close(l);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    char name[PREDLOG_NAME_LEN + 1];
    predlog_segment_name(name, 1);
    char *data;
    size_t len;
    assert_int_equal(predlog_read_file(dfd, name, 1u << 20, &data, &len, NULL), AXLE_OK);
    struct predlog_tail t;
    predlog_scan_tail(data, len, &t);
    assert_int_equal(t.valid, len);
    assert_int_equal(t.n_records, 12); /* start, 10, shutdown */
    assert_int_equal(t.first_seq, 1);
    assert_int_equal(t.last_seq, 12);
    assert_int_equal(t.last_type, PREDLOG_SHUTDOWN);
    /* Flip one payload bit of the 5th record: the scan ends before it. */
    struct all a;
    memset(&a, 0, sizeof(a));
    predlog_scan(data, len, collect_fn, &a);
    size_t off5 = 0;
    for (int i = 0; i < 4; i++)
        off5 += PREDLOG_FRAME_BYTES + strlen(a.r[i].payload);
    data[off5 + PREDLOG_HDR_BYTES + 3] ^= 0x10;
    predlog_scan_tail(data, len, &t);
    assert_int_equal(t.valid, off5);
    assert_int_equal(t.n_records, 4);
    /* A length past the image is not followed. */
    data[off5 + PREDLOG_HDR_BYTES + 3] ^= 0x10;
    data[off5 + 7] = 0x7f;
    predlog_scan_tail(data, len, &t);
    assert_int_equal(t.valid, off5);
    /* Nothing at all in a truncated header. */
    predlog_scan_tail(data, 10, &t);
    assert_int_equal(t.valid, 0);
    assert_int_equal(t.n_records, 0);
    free(data);
    close(dfd);
    rmtree(dir);
}

static void segment_names_parse_strictly(void **state)
{
    (void)state;
    char name[PREDLOG_NAME_LEN + 1];
    uint64_t s;
    predlog_segment_name(name, 42);
    assert_string_equal(name, "predlog-00000000000000000042.log");
    assert_int_equal(predlog_segment_name_parse(name, &s), 0);
    assert_int_equal(s, 42);
    assert_int_equal(predlog_segment_name_parse("predlog-00000000000000000042.log.torn", &s), -1);
    assert_int_equal(predlog_segment_name_parse("predlog-0000000000000000004x.log", &s), -1);
    assert_int_equal(predlog_segment_name_parse("predlog-99999999999999999999.log", &s), -1);
    assert_int_equal(predlog_segment_name_parse("predlog-42.log", &s), -1);
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */

static void round_trip_keeps_order_and_dense_seqs(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct predlog_opts o = {.dir = dir, .log_fn = quiet};
    struct predlog *l;
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    assert_true(predlog_healthy(l));
    append_n(l, 0, 1000);
    predlog_close(l);
    struct all a;
    read_all(dir, &a);
    assert_int_equal(a.n_segments, 1);
    assert_int_equal(a.n, 1002);
    assert_int_equal(a.r[0].type, PREDLOG_SEGMENT_START);
    assert_non_null(strstr(a.r[0].payload, "\"format_version\":1"));
    assert_int_equal(a.r[1001].type, PREDLOG_SHUTDOWN);
    for (int i = 0; i < a.n; i++)
        assert_int_equal(a.r[i].seq, (uint64_t)i + 1);
    for (int i = 0; i < 1000; i++) {
        char want[96];
        snprintf(want, sizeof(want), "{\"request_id\":\"r%d\",\"i\":%d}", i, i);
        assert_string_equal(a.r[i + 1].payload, want);
    }
    /* Segment file mode 0640. */
    char p[512];
    snprintf(p, sizeof(p), "%s/predlog-00000000000000000001.log", dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    /* A second run continues the seqs in a new segment. */
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    append_n(l, 1000, 5);
    predlog_close(l);
    read_all(dir, &a);
    assert_int_equal(a.n_segments, 2);
    assert_int_equal(a.r[1002].seq, 1003);
    assert_int_equal(a.r[1002].segment, 1003);
    assert_int_equal(a.r[a.n - 1].seq, 1009);

    char *payload;
    size_t len;
    assert_int_equal(predlog_lookup(dir, "r1003", 5, 1u << 30, &payload, &len, NULL), AXLE_OK);
    assert_string_equal(payload, "{\"request_id\":\"r1003\",\"i\":1003}");
    free(payload);
    assert_int_equal(predlog_lookup(dir, "r100", 4, 1u << 30, &payload, &len, NULL), AXLE_OK);
    free(payload);
    assert_int_equal(predlog_lookup(dir, "nope", 4, 1u << 30, &payload, &len, NULL),
                     AXLE_NOT_FOUND);
    rmtree(dir);
}

static void torn_tail_is_moved_aside_and_never_appended_to(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct predlog_opts o = {.dir = dir, .log_fn = quiet};
    struct predlog *l;
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    append_n(l, 0, 20);
    predlog_close(l);
    /* Cut the file inside the SHUTDOWN record and add garbage, as a kill -9
     * in mid-write leaves it. */
    char p[512];
    snprintf(p, sizeof(p), "%s/predlog-00000000000000000001.log", dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    off_t cut = st.st_size - 10;
    assert_int_equal(truncate(p, cut), 0);
    int fd = open(p, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "AXLRjunk", 8), 8);
    close(fd);
    off_t torn_len = 0;
    {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        char *data;
        size_t len;
        assert_int_equal(predlog_read_file(dfd, "predlog-00000000000000000001.log", 1u << 20,
                                           &data, &len, NULL), AXLE_OK);
        struct predlog_tail t;
        predlog_scan_tail(data, len, &t);
        assert_int_equal(t.n_records, 21); /* the SHUTDOWN is torn */
        torn_len = (off_t)(len - t.valid);
        free(data);
        close(dfd);
    }
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    append_n(l, 20, 3);
    predlog_close(l);
    char q[600];
    snprintf(q, sizeof(q), "%s.torn", p);
    assert_int_equal(stat(q, &st), 0);
    assert_int_equal(st.st_size, torn_len);
    struct all a;
    read_all(dir, &a); /* asserts every segment is now whole */
    assert_int_equal(a.n_segments, 2);
    assert_int_equal(a.r[21].type, PREDLOG_SEGMENT_START);
    assert_int_equal(a.r[21].seq, 22);
    assert_int_equal(a.r[21].segment, 22);
    rmtree(dir);
}

static void rotation_by_size_and_on_request_with_retention(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct predlog_opts o = {.dir = dir, .log_fn = quiet, .segment_bytes = 4096,
                             .retention_bytes = 3 * 4096};
    struct predlog *l;
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    for (int i = 0; i < 40; i++) {
        append_n(l, i * 25, 25);
        wait_records(l, (uint64_t)(i + 1) * 25);
    }
    struct predlog_stats s;
    predlog_get_stats(l, &s);
    assert_true(s.segments_deleted > 0);
    predlog_rotate(l);
    sleep_ms(100);
    predlog_close(l);
    struct all a;
    read_all(dir, &a);
    /* Sealed segments within retention plus the active one (and its
     * successor after the last rotation). */
    assert_true(a.n_segments >= 2);
    assert_true(a.n_segments <= 6);
    for (int i = 1; i < a.n; i++)
        assert_true(a.r[i].seq > a.r[i - 1].seq);
    /* Each segment begins with SEGMENT_START at its own name's seq. */
    for (int i = 0; i < a.n; i++)
        if (i == 0 || a.r[i].segment != a.r[i - 1].segment) {
            assert_int_equal(a.r[i].type, PREDLOG_SEGMENT_START);
            assert_int_equal(a.r[i].seq, a.r[i].segment);
        }
    /* The rotation sealed the segment holding the last prediction; the
     * new one holds only its start and the shutdown. */
    assert_int_equal(a.r[a.n - 1].type, PREDLOG_SHUTDOWN);
    assert_int_equal(a.r[a.n - 2].type, PREDLOG_SEGMENT_START);
    int last = a.n - 1;
    while (last > 0 && a.r[last].type != PREDLOG_PREDICTION)
        last--;
    assert_string_equal(a.r[last].payload, "{\"request_id\":\"r999\",\"i\":999}");
    rmtree(dir);
}

/* Fault hook state: how many more times each point fails. */
struct faults {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fail_open, fail_write, fail_sync;
    int err;
    int block_writes;   /* stall the writer until cleared */
    int blocked;        /* the writer is stalled */
};

static int take(int *n)
{
    if (*n > 0) {
        (*n)--;
        return 1;
    }
    return 0;
}

static int fault_fn(void *arg, const char *point, uint64_t seq)
{
    (void)seq;
    struct faults *f = arg;
    pthread_mutex_lock(&f->mu);
    int fail = 0;
    if (strcmp(point, "write") == 0) {
        while (f->block_writes) {
            f->blocked = 1;
            pthread_cond_wait(&f->cv, &f->mu);
        }
        f->blocked = 0;
        fail = take(&f->fail_write);
    } else if (strcmp(point, "open") == 0) {
        fail = take(&f->fail_open);
    } else if (strcmp(point, "fdatasync") == 0) {
        fail = take(&f->fail_sync);
    }
    int e = fail ? f->err : 0;
    pthread_mutex_unlock(&f->mu);
    return e;
}

static void faults_init(struct faults *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
}

static void faults_set(struct faults *f, int open_n, int write_n, int sync_n, int err)
{
    pthread_mutex_lock(&f->mu);
    f->fail_open = open_n;
    f->fail_write = write_n;
    f->fail_sync = sync_n;
    f->err = err;
    pthread_mutex_unlock(&f->mu);
}

static void failed_write_poisons_segment_and_gap_follows(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct faults f;
    faults_init(&f);
    struct predlog_opts o = {.dir = dir, .log_fn = quiet, .fault_fn = fault_fn, .fault_arg = &f};
    struct predlog *l;
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    append_n(l, 0, 10);
    wait_records(l, 10);
    faults_set(&f, 0, 1, 0, ENOSPC);
    append_n(l, 10, 1);
    struct predlog_stats s;
    for (int i = 0; i < 200; i++) {
        predlog_get_stats(l, &s);
        if (s.lost)
            break;
        sleep_ms(10);
    }
    assert_int_equal(s.write_errors, 1);
    assert_int_equal(s.lost, 1);
    sleep_ms(50);
    append_n(l, 11, 5);
    wait_records(l, 15);
    predlog_close(l);
    struct all a;
    read_all(dir, &a);
    assert_int_equal(a.n_segments, 2);
    assert_int_equal(count_type(&a, PREDLOG_GAP), 1);
    int gap = -1;
    for (int i = 0; i < a.n; i++)
        if (a.r[i].type == PREDLOG_GAP)
            gap = i;
    assert_non_null(strstr(a.r[gap].payload, "\"dropped\":0,\"lost\":1"));
    /* The GAP is the first record after the new segment's start. */
    assert_int_equal(a.r[gap - 1].type, PREDLOG_SEGMENT_START);
    assert_true(a.r[gap].segment > 1);
    /* The poisoned first segment has no SHUTDOWN: it was never touched
     * again after the failure. */
    assert_int_equal(a.r[10].type, PREDLOG_PREDICTION);
    assert_int_equal(a.r[11].type, PREDLOG_SEGMENT_START);
    assert_string_equal(a.r[gap + 1].payload, "{\"request_id\":\"r11\",\"i\":11}");
    rmtree(dir);
}

struct done_rec {
    pthread_mutex_t mu;
    int ok, failed;
};

static void done_fn(void *arg, int ok)
{
    struct done_rec *d = arg;
    pthread_mutex_lock(&d->mu);
    if (ok)
        d->ok++;
    else
        d->failed++;
    pthread_mutex_unlock(&d->mu);
}

static void sync_mode_reports_fsync_failure_to_the_request(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct faults f;
    faults_init(&f);
    struct predlog_opts o = {.dir = dir, .log_fn = quiet, .durability = PREDLOG_SYNC,
                             .fault_fn = fault_fn, .fault_arg = &f};
    struct predlog *l;
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    struct done_rec d = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    const char *p = "{\"request_id\":\"a\"}";
    assert_int_equal(predlog_append(l, PREDLOG_PREDICTION, p, strlen(p), done_fn, &d), 0);
    for (int i = 0; i < 200 && d.ok + d.failed < 1; i++)
        sleep_ms(5);
    assert_int_equal(d.ok, 1);
    faults_set(&f, 0, 0, 1, EIO);
    p = "{\"request_id\":\"b\"}";
    assert_int_equal(predlog_append(l, PREDLOG_PREDICTION, p, strlen(p), done_fn, &d), 0);
    for (int i = 0; i < 200 && d.ok + d.failed < 2; i++)
        sleep_ms(5);
    assert_int_equal(d.failed, 1);
    /* A new segment is open at once, and the next request is durable. */
    for (int i = 0; i < 200 && !predlog_healthy(l); i++)
        sleep_ms(5);
    assert_true(predlog_healthy(l));
    p = "{\"request_id\":\"c\"}";
    assert_int_equal(predlog_append(l, PREDLOG_PREDICTION, p, strlen(p), done_fn, &d), 0);
    for (int i = 0; i < 200 && d.ok + d.failed < 3; i++)
        sleep_ms(5);
    assert_int_equal(d.ok, 2);
    struct predlog_stats s;
    predlog_get_stats(l, &s);
    assert_int_equal(s.write_errors, 1);
    assert_int_equal(s.lost, 1);
    predlog_close(l);
    struct all a;
    read_all(dir, &a);
    assert_int_equal(a.n_segments, 2);
    int gap = -1;
    for (int i = 0; i < a.n; i++)
        if (a.r[i].type == PREDLOG_GAP)
            gap = i;
    assert_true(gap > 0);
    assert_non_null(strstr(a.r[gap].payload, "\"lost\":1"));
    assert_string_equal(a.r[gap + 1].payload, "{\"request_id\":\"c\"}");
    rmtree(dir);
}

static void full_queue_drops_counts_and_marks_a_gap(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct faults f;
    faults_init(&f);
    struct predlog_opts o = {.dir = dir, .log_fn = quiet, .queue_bytes = 8192,
                             .fault_fn = fault_fn, .fault_arg = &f};
    struct predlog *l;
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    pthread_mutex_lock(&f.mu);
    f.block_writes = 1;
    pthread_mutex_unlock(&f.mu);
    append_n(l, 0, 1); /* the writer takes it and stalls in write */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&f.mu);
        int b = f.blocked;
        pthread_mutex_unlock(&f.mu);
        if (b)
            break;
        sleep_ms(5);
    }
    int queued = 0, dropped = 0;
    for (int i = 1; i < 1000; i++) {
        char p[64];
        int k = snprintf(p, sizeof(p), "{\"request_id\":\"r%d\"}", i);
        if (predlog_append(l, PREDLOG_PREDICTION, p, (size_t)k, NULL, NULL) == 0)
            queued++;
        else
            dropped++;
    }
    assert_true(queued > 10);
    assert_true(dropped > 10);
    struct predlog_stats s;
    predlog_get_stats(l, &s);
    assert_int_equal(s.dropped, (uint64_t)dropped);
    assert_true(s.queue_bytes > 0);
    pthread_mutex_lock(&f.mu);
    f.block_writes = 0;
    pthread_cond_broadcast(&f.cv);
    pthread_mutex_unlock(&f.mu);
    predlog_close(l);
    struct all a;
    read_all(dir, &a);
    assert_int_equal(count_type(&a, PREDLOG_PREDICTION), 1 + queued);
    assert_int_equal(count_type(&a, PREDLOG_GAP), 1);
    char want[64];
    snprintf(want, sizeof(want), "\"dropped\":%d,", dropped);
    for (int i = 0; i < a.n; i++)
        if (a.r[i].type == PREDLOG_GAP)
            assert_non_null(strstr(a.r[i].payload, want));
    rmtree(dir);
}

static void unopenable_segment_is_retried_with_backoff(void **state)
{
    (void)state;
    char *dir = tmpdir();
    struct faults f;
    faults_init(&f);
    struct predlog_opts o = {.dir = dir, .log_fn = quiet, .fault_fn = fault_fn, .fault_arg = &f};
    struct predlog *l;
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    /* The write fails, and so do the immediate reopen and the first retry:
     * no healthy segment for about 1 + 2 s. */
    faults_set(&f, 2, 1, 0, ENOSPC);
    append_n(l, 0, 1);
    int unhealthy = 0;
    for (int i = 0; i < 200 && !unhealthy; i++) {
        unhealthy = !predlog_healthy(l);
        if (!unhealthy)
            sleep_ms(5);
    }
    assert_true(unhealthy);
    /* Async appends meanwhile are dropped and counted, never block. */
    char p[] = "{\"request_id\":\"x\"}";
    assert_int_equal(predlog_append(l, PREDLOG_PREDICTION, p, strlen(p), NULL, NULL), -1);
    int healthy = 0;
    for (int i = 0; i < 600 && !healthy; i++) {
        healthy = predlog_healthy(l);
        if (!healthy)
            sleep_ms(10);
    }
    assert_true(healthy);
    struct predlog_stats s;
    predlog_get_stats(l, &s);
    assert_int_equal(s.write_errors, 1);
    assert_int_equal(s.lost, 1);
    assert_int_equal(s.dropped, 1);
    append_n(l, 1, 3);
    wait_records(l, 3);
    predlog_close(l);
    struct all a;
    read_all(dir, &a);
    assert_int_equal(count_type(&a, PREDLOG_GAP), 1);
    for (int i = 0; i < a.n; i++)
        if (a.r[i].type == PREDLOG_GAP)
            assert_non_null(strstr(a.r[i].payload, "\"dropped\":1,\"lost\":1"));
    assert_string_equal(a.r[a.n - 2].payload, "{\"request_id\":\"r3\",\"i\":3}");
    rmtree(dir);
}

static void bad_directory_and_oversized_payload_are_errors(void **state)
{
    (void)state;
    struct predlog_opts o = {.dir = "/nonexistent/axle-predlog", .log_fn = quiet};
    struct predlog *l;
    struct axle_err e;
    assert_int_equal(predlog_open(&o, &l, &e), AXLE_NOT_FOUND);
    assert_null(l);
    assert_non_null(strstr(e.msg, "prediction log directory"));
    char *dir = tmpdir();
    o.dir = dir;
    o.queue_bytes = 4096;
    assert_int_equal(predlog_open(&o, &l, NULL), AXLE_OK);
    static char big[8192];
    memset(big, 'x', sizeof(big));
    assert_int_equal(predlog_append(l, PREDLOG_PREDICTION, big, sizeof(big), NULL, NULL), -1);
    predlog_close(l);
    predlog_close(NULL);
    rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_check_value_and_hw_matches_table),
        cmocka_unit_test(scan_stops_at_a_flipped_bit_and_never_yields_it),
        cmocka_unit_test(segment_names_parse_strictly),
        cmocka_unit_test(round_trip_keeps_order_and_dense_seqs),
        cmocka_unit_test(torn_tail_is_moved_aside_and_never_appended_to),
        cmocka_unit_test(rotation_by_size_and_on_request_with_retention),
        cmocka_unit_test(failed_write_poisons_segment_and_gap_follows),
        cmocka_unit_test(sync_mode_reports_fsync_failure_to_the_request),
        cmocka_unit_test(full_queue_drops_counts_and_marks_a_gap),
        cmocka_unit_test(unopenable_segment_is_retried_with_backoff),
        cmocka_unit_test(bad_directory_and_oversized_payload_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
