/*
 * strmap.c - see strmap.h.
 */
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "base/strmap.h"

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void axle_strmap_init(struct axle_strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void axle_strmap_dispose(struct axle_strmap *m)
{
    axle_free(m->keys);
    axle_free(m->vals);
    memset(m, 0, sizeof(*m));
}

static void put_nogrow(struct axle_strmap *m, const char *key, int val)
{
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] != NULL) {
        if (strcmp(m->keys[i], key) == 0) {
            m->vals[i] = val;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->len++;
}

void axle_strmap_put(struct axle_strmap *m, const char *key, int val)
{
    if ((m->len + 1) * 2 > m->cap) {
        struct axle_strmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 64;
        m->len = 0;
        m->keys = axle_xcalloc(m->cap, sizeof(*m->keys));
        m->vals = axle_xcalloc(m->cap, sizeof(*m->vals));
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i] != NULL)
                put_nogrow(m, old.keys[i], old.vals[i]);
        axle_free(old.keys);
        axle_free(old.vals);
    }
    put_nogrow(m, key, val);
}

int axle_strmap_get(const struct axle_strmap *m, const char *key)
{
    size_t i;
    if (m->cap == 0)
        return -1;
    i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] != NULL) {
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}
