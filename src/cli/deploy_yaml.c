/*
 * deploy_yaml.c - the block-style YAML emitter of `axle deploy` (contract
 * in deploy.h).
 *
 * Headers are written lazily: opening a map or sequence only records its
 * key, and the "key:" line appears when its first entry does, so a
 * collection that stays empty can still be written "key: {}" in one line.
 * A map that is a sequence item has no header of its own; its first entry
 * carries the item's "- ".
 *
 * Quoting is decided by a conservative rule rather than by the YAML
 * grammar: a plain scalar is allowed only for a small character set and
 * only when no resolver of YAML 1.1 (bools like y/on/no, sexagesimal
 * numbers, timestamps, 1_000) or YAML 1.2 (null, .inf, 0o17) could type it.
 * Quoting a string that did not need it costs two characters; the reverse
 * turns a Kubernetes name into a bool.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli/deploy.h"

void axle_yaml_init(struct axle_yaml *y, struct axle_buf *out)
{
    memset(y, 0, sizeof(*y));
    y->out = out;
}

/* Words that a YAML 1.1 reader takes for a bool or a null (YAML 1.2's
 * core schema has a subset); compared without case, which only adds a
 * few harmless quotes. */
static const char *const reserved[] = {"y", "n", "yes", "no", "true", "false",
                                       "on", "off", "null"};

static int numberish(const char *s)
{
    /* Digits, signs, radix and exponent letters, hex digits, the
     * sexagesimal ':' and the timestamp 'T'/'Z': a string made only of
     * these and starting with a digit may read as a number or a date. */
    return strspn(s, "0123456789_.:+-eExXoObBaAcCdDfFtTzZ") == strlen(s);
}

int axle_yaml_plain_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return 0;
    unsigned char c0 = (unsigned char)s[0];
    if (c0 == '-') {
        /* "-x" and "--x" only: never "- " (an item), "-1", "-.inf" or
         * "---" (a document marker). */
        if (!(isalpha((unsigned char)s[1]) ||
              (s[1] == '-' && isalpha((unsigned char)s[2]))))
            return 0;
    } else if (!(isalnum(c0) || c0 == '/' || c0 == '_')) {
        return 0; /* . @ = + : ~ and every indicator character */
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || strchr("._/-=+@:", c)))
            return 0;
    }
    if (s[n - 1] == ':')
        return 0;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(s, reserved[i]) == 0)
            return 0;
    if (isdigit(c0) && numberish(s))
        return 0;
    return 1;
}

static void put_scalar(struct axle_buf *b, const char *s)
{
    if (axle_yaml_plain_ok(s)) {
        buf_puts(b, s);
        return;
    }
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)*p);
        } else if (*p < 0x20 || *p == 0x7f) {
            buf_printf(b, "\\x%02X", *p);
        } else {
            buf_putc(b, (char)*p); /* UTF-8 passes through */
        }
    }
    buf_putc(b, '"');
}

static void spaces(struct axle_buf *b, int n)
{
    for (int i = 0; i < n; i++)
        buf_putc(b, ' ');
}

/* The start of a new entry of frame t: indentation and, for an item, "- ". */
static void entry_prefix(struct axle_yaml *y, struct axle_yaml_frame *t)
{
    if (t->seq) {
        spaces(y->out, t->indent);
        buf_puts(y->out, "- ");
    } else if (t->item && t->n == 0) {
        spaces(y->out, t->indent - 2);
        buf_puts(y->out, "- ");
    } else {
        spaces(y->out, t->indent);
    }
    t->n++;
}

/* Write the headers of frames 1..upto-1 that are not written yet. */
static void open_frames(struct axle_yaml *y, int upto)
{
    for (int i = 1; i < upto; i++) {
        struct axle_yaml_frame *f = &y->f[i], *p = &y->f[i - 1];
        if (f->open)
            continue;
        f->open = 1;
        if (p->seq) {
            p->n++; /* an item map: its first entry writes the "- " */
            continue;
        }
        entry_prefix(y, p);
        put_scalar(y->out, f->key);
        buf_puts(y->out, ":\n");
    }
}

/* Start an entry in the innermost frame: 0, or -1 (misuse) when key does
 * not fit the frame (a key in a sequence, none in a map, no document). */
static int entry_begin(struct axle_yaml *y, const char *key)
{
    if (y->depth == 0) {
        y->misuse = 1;
        return -1;
    }
    struct axle_yaml_frame *t = &y->f[y->depth - 1];
    if ((t->seq && key) || (!t->seq && !key)) {
        y->misuse = 1;
        return -1;
    }
    open_frames(y, y->depth);
    entry_prefix(y, t);
    if (key) {
        put_scalar(y->out, key);
        buf_putc(y->out, ':');
    }
    return 0;
}

static void push(struct axle_yaml *y, const char *key, int seq)
{
    if (y->depth == 0 || y->depth == AXLE_YAML_MAX_DEPTH) {
        y->misuse = 1;
        return;
    }
    struct axle_yaml_frame *p = &y->f[y->depth - 1];
    if ((p->seq && key) || (!p->seq && !key) || (p->seq && seq) ||
        (key && strlen(key) > AXLE_YAML_MAX_KEY)) {
        y->misuse = 1; /* sequences of sequences are not needed here */
        return;
    }
    struct axle_yaml_frame *f = &y->f[y->depth++];
    memset(f, 0, sizeof(*f));
    f->seq = (char)seq;
    f->item = (char)p->seq;
    f->indent = p->indent + 2;
    if (key)
        memcpy(f->key, key, strlen(key) + 1);
}

void axle_yaml_map(struct axle_yaml *y, const char *key)
{
    push(y, key, 0);
}

void axle_yaml_seq(struct axle_yaml *y, const char *key)
{
    push(y, key, 1);
}

void axle_yaml_end(struct axle_yaml *y)
{
    if (y->depth <= 1) {
        y->misuse = 1;
        return;
    }
    struct axle_yaml_frame *t = &y->f[y->depth - 1], *p = &y->f[y->depth - 2];
    if (t->n == 0) {
        open_frames(y, y->depth - 1);
        entry_prefix(y, p);
        if (!p->seq) {
            put_scalar(y->out, t->key);
            buf_puts(y->out, ": ");
        }
        buf_puts(y->out, t->seq ? "[]\n" : "{}\n");
    }
    y->depth--;
}

void axle_yaml_str(struct axle_yaml *y, const char *key, const char *value)
{
    if (entry_begin(y, key) != 0)
        return;
    if (key)
        buf_putc(y->out, ' ');
    put_scalar(y->out, value);
    buf_putc(y->out, '\n');
}

void axle_yaml_int(struct axle_yaml *y, const char *key, long long value)
{
    if (entry_begin(y, key) != 0)
        return;
    buf_printf(y->out, "%s%lld\n", key ? " " : "", value);
}

void axle_yaml_bool(struct axle_yaml *y, const char *key, int value)
{
    if (entry_begin(y, key) != 0)
        return;
    buf_printf(y->out, "%s%s\n", key ? " " : "", value ? "true" : "false");
}

void axle_yaml_comment(struct axle_yaml *y, const char *text)
{
    if (y->depth != 0 || strchr(text, '\n')) {
        y->misuse = 1;
        return;
    }
    buf_puts(y->out, "# ");
    buf_puts(y->out, text);
    buf_putc(y->out, '\n');
}

void axle_yaml_doc_begin(struct axle_yaml *y)
{
    if (y->depth != 0) {
        y->misuse = 1;
        return;
    }
    if (y->n_docs > 0)
        buf_puts(y->out, "---\n");
    struct axle_yaml_frame *f = &y->f[y->depth++];
    memset(f, 0, sizeof(*f));
    f->open = 1;
}

void axle_yaml_doc_end(struct axle_yaml *y)
{
    if (y->depth != 1) {
        y->misuse = 1;
        return;
    }
    if (y->f[0].n == 0)
        buf_puts(y->out, "{}\n");
    y->depth = 0;
    y->n_docs++;
}

int axle_yaml_finish(const struct axle_yaml *y)
{
    return y->misuse || y->depth != 0 || y->out->oom ? -1 : 0;
}
