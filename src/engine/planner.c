/*
 * planner.c - activation memory planning.
 *
 * Every value a node produces gets a slot in one arena. Lifetimes are node
 * steps: a value lives from the step that produces it to the last step that
 * reads it (graph outputs to the end). View outputs (Reshape & co.) extend
 * the lifetime of the value they alias. Slots are placed greedily, largest
 * first, at the lowest offset that does not overlap a placed slot whose
 * lifetime intersects - the classic offset-assignment heuristic; O(n^2) in
 * the number of values, done once per plan.
 */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "engine/engine.h"

#define SLOT_ALIGN 64

void axle_plan_dispose(struct axle_plan *p)
{
    axle_free(p->size);
    axle_free(p->offset);
    axle_free(p->first);
    axle_free(p->last);
    memset(p, 0, sizeof(*p));
}

/* Follow view chains to the value that owns the bytes. */
static int view_root(const struct axle_graph *g, int v)
{
    for (int guard = 0; guard < g->n_nodes + 1; guard++) {
        int p = g->values[v].producer;
        if (p < 0 || !g->nodes[p].op->view || g->nodes[p].outputs[0] != v ||
            g->nodes[p].inputs[0] < 0)
            return v;
        v = g->nodes[p].inputs[0];
    }
    return v;
}

void axle_plan_lifetimes(const struct axle_graph *g, struct axle_plan *p)
{
    int n = g->n_values;

    p->n_values = n;
    p->size = axle_xcalloc((size_t)n + 1, sizeof(int64_t));
    p->offset = axle_xcalloc((size_t)n + 1, sizeof(int64_t));
    p->first = axle_xmalloc(((size_t)n + 1) * sizeof(int));
    p->last = axle_xmalloc(((size_t)n + 1) * sizeof(int));
    for (int v = 0; v < n; v++) {
        p->first[v] = g->values[v].producer;
        p->last[v] = g->values[v].producer;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const struct axle_node *nd = &g->nodes[i];
        for (int j = 0; j < nd->n_inputs; j++) {
            int v = nd->inputs[j];
            if (v < 0)
                continue;
            int r = view_root(g, v);
            if (p->last[v] < i)
                p->last[v] = i;
            if (p->last[r] < i)
                p->last[r] = i;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        p->last[v] = g->n_nodes;
        p->last[view_root(g, v)] = g->n_nodes;
    }
}

struct order {
    int v;
    int64_t size;
};

static int by_size_desc(const void *a, const void *b)
{
    const struct order *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->v - y->v;
}

void axle_plan_offsets(struct axle_plan *p)
{
    struct order *ord = axle_xmalloc(((size_t)p->n_values + 1) * sizeof(*ord));
    int *placed = axle_xmalloc(((size_t)p->n_values + 1) * sizeof(int));
    int n_ord = 0, n_placed = 0;

    for (int v = 0; v < p->n_values; v++) {
        if (p->size[v] > 0) {
            ord[n_ord].v = v;
            ord[n_ord].size = (p->size[v] + SLOT_ALIGN - 1) &
                              ~(int64_t)(SLOT_ALIGN - 1);
            n_ord++;
        }
    }
    qsort(ord, (size_t)n_ord, sizeof(*ord), by_size_desc);
    p->arena_bytes = 0;
    for (int i = 0; i < n_ord; i++) {
        int v = ord[i].v;
        int64_t off = 0;
        bool moved = true;
        /* Bump past every conflicting slot until none overlaps. */
        while (moved) {
            moved = false;
            for (int k = 0; k < n_placed; k++) {
                int u = placed[k];
                if (p->last[u] < p->first[v] || p->last[v] < p->first[u])
                    continue; /* lifetimes disjoint */
                int64_t us = (p->size[u] + SLOT_ALIGN - 1) &
                             ~(int64_t)(SLOT_ALIGN - 1);
                if (off < p->offset[u] + us && p->offset[u] < off + ord[i].size) {
                    off = p->offset[u] + us;
                    moved = true;
                }
            }
        }
        p->offset[v] = off;
        placed[n_placed++] = v;
        if (off + ord[i].size > p->arena_bytes)
            p->arena_bytes = off + ord[i].size;
    }
    axle_free(ord);
    axle_free(placed);
}
