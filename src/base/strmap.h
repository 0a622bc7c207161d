/*
 * strmap.h - string -> int open-addressing hash map (FNV-1a, linear probe).
 * Keys are borrowed: they must outlive the map. Used by importers to resolve
 * tensor names in O(1).
 */
#ifndef AXLE_BASE_STRMAP_H
#define AXLE_BASE_STRMAP_H

#include <stddef.h>

struct axle_strmap {
    size_t cap, len;
    const char **keys;
    int *vals;
};

void axle_strmap_init(struct axle_strmap *m);
void axle_strmap_dispose(struct axle_strmap *m);
/* Insert or overwrite. */
void axle_strmap_put(struct axle_strmap *m, const char *key, int val);
/* Returns the value, or -1 when absent. */
int axle_strmap_get(const struct axle_strmap *m, const char *key);

#endif
