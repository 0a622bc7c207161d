/*
 * cmd_log.c - `axle log cat DIR`: the prediction log as JSON Lines.
 *
 * Each CRC-valid record of each segment, oldest first, becomes one line:
 * {"seq":N,"type":"prediction",...the record's own fields...}. GAP records
 * are printed (they are the holes); SEGMENT_START and SHUTDOWN only with
 * --all. A summary line on stderr reports records, segments, gaps, torn
 * tails (bytes after the last valid record of a segment) and *.torn files
 * left by recovery. The log is only read, never changed, so this is safe
 * on the directory of a running or crashed server.
 *
 * --verify also checks that seqs strictly increase across the log and
 * that each segment starts with SEGMENT_START at its own name's seq; it
 * exits 1 when anything but the newest segment has a torn tail (the
 * newest may: that is what a kill leaves, and the server moves it aside
 * at its next start), or the seqs or starts are wrong.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "serve/buf.h"
#include "serve/json.h"
#include "serve/predlog.h"

#define SEGMENT_MAX_BYTES (4ull << 30)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: axle log cat DIR [--model M] [--since T] [--all] [--verify]\n"
            "\n"
            "Print the prediction log in DIR (axle serve --prediction-log DIR) as JSON\n"
            "Lines, oldest first: one object per CRC-valid record, with its \"seq\" and\n"
            "\"type\" (prediction, feedback, gap) before the record's own fields.\n"
            "A summary goes to stderr: records, segments, gaps (records dropped or lost\n"
            "by the server) and torn tails (bytes after the last valid record, as a\n"
            "kill leaves them).\n"
            "\n"
            "options:\n"
            "  --model M    only records of model M (gaps are always printed)\n"
            "  --since T    only records at or after T: RFC 3339 UTC\n"
            "               (2026-12-06T10:00:00Z) or unix seconds\n"
            "  --all        also the segment_start and shutdown records\n"
            "  --verify     check seq order and segment starts; exit 1 when a segment\n"
            "               other than the newest is torn or anything is out of order\n"
            "\n"
            "Exit status: 0 fine, 1 verification failed or a segment unreadable,\n"
            "2 bad usage or no such directory.\n");
}

struct cat {
    const char *model;
    char since[40];
    int all, verify;
    struct axle_buf line;
    struct json_doc doc;
    char *copy;
    size_t copy_cap;
    /* Summary. */
    uint64_t n_records, n_printed, n_gaps, gap_dropped, gap_lost, last_seq;
    int have_last, bad_order, bad_start;
    uint64_t segment;
    int first_in_segment;
};

/* The value of a top-level string field of the parsed payload, or NULL. */
static const char *field(struct cat *c, const char *key, size_t *len)
{
    uint32_t t = json_get(&c->doc, 0, key);
    if (!t || json_tok(&c->doc, t)->type != JSON_STRING)
        return NULL;
    *len = json_tok(&c->doc, t)->size;
    return json_str(&c->doc, t);
}

static uint64_t u64_field(struct cat *c, const char *key)
{
    uint32_t t = json_get(&c->doc, 0, key);
    uint64_t v = 0;
    if (t && json_tok(&c->doc, t)->type == JSON_NUMBER)
        json_to_uint64(&c->doc, t, &v);
    return v;
}

static int record_fn(void *arg, const struct predlog_record *r)
{
    struct cat *c = arg;
    c->n_records++;
    if (c->have_last && r->seq <= c->last_seq)
        c->bad_order++;
    c->last_seq = r->seq;
    c->have_last = 1;
    if (c->first_in_segment) {
        if (r->type != PREDLOG_SEGMENT_START || r->seq != c->segment)
            c->bad_start++;
        c->first_in_segment = 0;
    }
    /* The payload parsed (a copy: the parser writes into its buffer). */
    if (c->copy_cap < (size_t)r->len + 1) {
        free(c->copy);
        c->copy_cap = (size_t)r->len + 1;
        c->copy = malloc(c->copy_cap);
        if (!c->copy) {
            c->copy_cap = 0;
            return 1;
        }
    }
    memcpy(c->copy, r->payload, r->len);
    struct axle_err err;
    int ok = json_parse(&c->doc, c->copy, r->len, &err) == AXLE_OK &&
             json_tok(&c->doc, 0)->type == JSON_OBJECT;
    if (r->type == PREDLOG_GAP) {
        c->n_gaps++;
        if (ok) {
            c->gap_dropped += u64_field(c, "dropped");
            c->gap_lost += u64_field(c, "lost");
        }
    }
    if ((r->type == PREDLOG_SEGMENT_START || r->type == PREDLOG_SHUTDOWN) && !c->all)
        return 0;
    if (ok && r->type != PREDLOG_GAP) {
        size_t n;
        const char *m;
        if (c->model && (!(m = field(c, "model", &n)) || n != strlen(c->model) ||
                         memcmp(m, c->model, n) != 0))
            return 0;
        const char *ts;
        if (c->since[0] && (ts = field(c, "ts", &n)) &&
            strncmp(ts, c->since, n < strlen(c->since) ? n : strlen(c->since)) < 0)
            return 0;
    }
    struct axle_buf *b = &c->line;
    buf_reset(b);
    buf_printf(b, "{\"seq\":%llu,\"type\":\"%s\"", (unsigned long long)r->seq,
               predlog_type_name(r->type));
    if (ok) {
        if (json_tok(&c->doc, 0)->size > 0) {
            buf_putc(b, ',');
            buf_put(b, r->payload + 1, r->len - 1); /* the object's members and '}' */
        } else {
            buf_putc(b, '}');
        }
    } else {
        buf_puts(b, ",\"invalid_payload\":true}");
    }
    buf_putc(b, '\n');
    fwrite(b->data, 1, b->len, stdout);
    c->n_printed++;
    return 0;
}

/* --since: RFC 3339 as given, or unix seconds made into one. */
static int parse_since(const char *s, char out[40])
{
    char *end;
    double t = strtod(s, &end);
    if (*s && !*end) {
        if (!(t >= 0 && t < 1e11))
            return -1;
        time_t secs = (time_t)t;
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
        return 0;
    }
    size_t n = strlen(s);
    if (n < 10 || n > 35 || s[4] != '-' || s[7] != '-')
        return -1;
    /* Compare without the zone letter so that ...:00Z and ...:00.000Z
     * order as the same instant. */
    memcpy(out, s, n + 1);
    if (out[n - 1] == 'Z')
        out[n - 1] = 0;
    return 0;
}

static int count_torn_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "predlog-", 8) == 0 && strstr(e->d_name, ".log.torn"))
            n++;
    }
    closedir(d);
    return n;
}

static int cmd_cat(int argc, char **argv)
{
    struct cat c;
    memset(&c, 0, sizeof(c));
    const char *dir = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return AXLE_EXIT_OK;
        } else if (strcmp(a, "--model") == 0 && i + 1 < argc) {
            c.model = argv[++i];
        } else if (strcmp(a, "--since") == 0 && i + 1 < argc) {
            if (parse_since(argv[++i], c.since) != 0) {
                fprintf(stderr, "axle log cat: --since wants RFC 3339 UTC or unix seconds\n");
                return AXLE_EXIT_USAGE;
            }
        } else if (strcmp(a, "--all") == 0) {
            c.all = 1;
        } else if (strcmp(a, "--verify") == 0) {
            c.verify = 1;
        } else if (a[0] == '-' || dir) {
            fprintf(stderr, "axle log cat: unexpected argument '%s'\n", a);
            usage(stderr);
            return AXLE_EXIT_USAGE;
        } else {
            dir = a;
        }
    }
    if (!dir) {
        usage(stderr);
        return AXLE_EXIT_USAGE;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        fprintf(stderr, "axle log cat: %s: cannot open the directory\n", dir);
        return AXLE_EXIT_USAGE;
    }
    uint64_t *seqs;
    size_t n;
    struct axle_err err;
    if (predlog_segments(dfd, &seqs, &n, &err) != AXLE_OK) {
        fprintf(stderr, "axle log cat: %s\n", err.msg);
        close(dfd);
        return AXLE_EXIT_FAIL;
    }
    buf_init(&c.line);
    json_doc_init(&c.doc);
    int rc = AXLE_EXIT_OK, torn_old = 0;
    struct axle_buf sum;
    buf_init(&sum);
    buf_puts(&sum, "\"torn_tails\":[");
    int n_torn = 0;
    for (size_t i = 0; i < n; i++) {
        char name[PREDLOG_NAME_LEN + 1];
        predlog_segment_name(name, seqs[i]);
        char *data;
        size_t len;
        if (predlog_read_file(dfd, name, SEGMENT_MAX_BYTES, &data, &len, &err) != AXLE_OK) {
            fprintf(stderr, "axle log cat: %s\n", err.msg);
            rc = AXLE_EXIT_FAIL;
            continue;
        }
        c.segment = seqs[i];
        c.first_in_segment = 1;
        size_t valid = predlog_scan(data, len, record_fn, &c);
        if (valid < len) {
            buf_printf(&sum, "%s{\"segment\":\"%s\",\"offset\":%zu,\"bytes\":%zu}",
                       n_torn++ ? "," : "", name, valid, len - valid);
            if (i + 1 < n)
                torn_old++;
        }
        free(data);
    }
    fflush(stdout);
    buf_putc(&sum, ']');
    int verified = !torn_old && !c.bad_order && !c.bad_start;
    fprintf(stderr,
            "{\"segments\":%zu,\"records\":%llu,\"printed\":%llu,\"gaps\":%llu,"
            "\"dropped\":%llu,\"lost\":%llu,%.*s,\"torn_files\":%d",
            n, (unsigned long long)c.n_records, (unsigned long long)c.n_printed,
            (unsigned long long)c.n_gaps, (unsigned long long)c.gap_dropped,
            (unsigned long long)c.gap_lost, (int)sum.len, sum.data, count_torn_files(dir));
    if (c.verify)
        fprintf(stderr, ",\"seq_out_of_order\":%d,\"bad_segment_starts\":%d,\"verified\":%s",
                c.bad_order, c.bad_start, verified ? "true" : "false");
    fprintf(stderr, "}\n");
    if (c.verify && !verified)
        rc = AXLE_EXIT_FAIL;
    buf_free(&sum);
    buf_free(&c.line);
    json_doc_free(&c.doc);
    free(c.copy);
    free(seqs);
    close(dfd);
    return rc;
}

int axle_cmd_log(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? AXLE_EXIT_USAGE : AXLE_EXIT_OK;
    }
    if (strcmp(argv[1], "cat") == 0)
        return cmd_cat(argc - 2, argv + 2);
    fprintf(stderr, "axle log: unknown command '%s' (only: cat)\n", argv[1]);
    return AXLE_EXIT_USAGE;
}
