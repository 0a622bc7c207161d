/*
 * deploy.h - private interfaces of `axle deploy` (cmd_deploy.c): the small
 * block-style YAML emitter its manifests are written with (deploy_yaml.c).
 *
 * The emitter streams: a caller opens maps and sequences, writes scalars and
 * closes what it opened, and the bytes come out in exactly that order, so
 * the same calls always give the same text. Strings are written plain only
 * when no YAML 1.1 or 1.2 reader (PyYAML, go-yaml as kubectl uses it) can
 * take them for anything but that string; everything else is double-quoted
 * (axle_yaml_plain_ok says which). Indentation is two spaces per level and
 * sequence items are indented under their key.
 *
 * Nothing here is used outside src/cli/; the emitter is also compiled into
 * its unit test (tests/unit/test_deploy_yaml.c).
 */
#ifndef AXLE_CLI_DEPLOY_H
#define AXLE_CLI_DEPLOY_H

#include "serve/buf.h"

#define AXLE_YAML_MAX_DEPTH 24
#define AXLE_YAML_MAX_KEY 128

struct axle_yaml_frame {
    char seq;          /* 1: a sequence, 0: a map */
    char item;         /* a map that is a sequence item: its first key takes "- " */
    char open;         /* its header line has been written */
    int n;             /* entries written */
    int indent;        /* column of its entries */
    char key[AXLE_YAML_MAX_KEY + 1]; /* key under its parent map; "" for an item */
};

struct axle_yaml {
    struct axle_buf *out; /* borrowed; appended to */
    int depth;            /* frames open; 0 between documents */
    int n_docs;
    int misuse;           /* a call out of place (a key in a sequence, ...) */
    struct axle_yaml_frame f[AXLE_YAML_MAX_DEPTH];
};

void axle_yaml_init(struct axle_yaml *y, struct axle_buf *out);
/* A "# text" line; only between documents. */
void axle_yaml_comment(struct axle_yaml *y, const char *text);
/* A document: its top level is a map. Documents after the first are
 * preceded by "---". */
void axle_yaml_doc_begin(struct axle_yaml *y);
void axle_yaml_doc_end(struct axle_yaml *y);

/* In a map, key names the entry; in a sequence, key must be NULL (an
 * item). A map or sequence that ends with no entries is written {} or []. */
void axle_yaml_map(struct axle_yaml *y, const char *key);
void axle_yaml_seq(struct axle_yaml *y, const char *key);
void axle_yaml_end(struct axle_yaml *y);
void axle_yaml_str(struct axle_yaml *y, const char *key, const char *value);
void axle_yaml_int(struct axle_yaml *y, const char *key, long long value);
void axle_yaml_bool(struct axle_yaml *y, const char *key, int value);

/* 0 when every call was in place, every document closed and the buffer
 * never ran out of memory; -1 otherwise. */
int axle_yaml_finish(const struct axle_yaml *y);

/* 1 if s may be written as a plain scalar (it reads back as this string
 * under YAML 1.1 and 1.2), 0 if it must be quoted. */
int axle_yaml_plain_ok(const char *s);

#endif
