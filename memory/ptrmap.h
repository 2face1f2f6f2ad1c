/* A table from block addresses to what the memory module knows of them
 * (size, kind, device), for blocks that the pool's address map does not
 * cover (pinned and device memory, memory/gpu.c). Open addressing
 * with linear probing and backward-shift deletion (no tombstones); the
 * caller serialises. Header-only so that tests/unit/test_ptrmap.c checks
 * it without a GPU. */
#ifndef WEFT_MEMORY_PTRMAP_H
#define WEFT_MEMORY_PTRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef struct weft__ptrent {
    void *p; /* NULL: an empty entry */
    size_t size;
    int kind, device;
} weft__ptrent_t;

typedef struct weft__ptrmap {
    weft__ptrent_t *tab; /* cap entries, a power of two; NULL when empty */
    size_t cap, count;
} weft__ptrmap_t;

static inline size_t weft__ptrmap_home(const weft__ptrmap_t *m, const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (m->cap - 1);
}

static inline weft__ptrent_t *weft__ptrmap_find(weft__ptrmap_t *m, const void *p)
{
    if (!m->cap || !p)
        return NULL;
    for (size_t i = weft__ptrmap_home(m, p);; i = (i + 1) & (m->cap - 1)) {
        if (m->tab[i].p == p)
            return &m->tab[i];
        if (!m->tab[i].p)
            return NULL;
    }
}

/* Adds e (e.p not NULL and not present). Errors: WEFT_ENOMEM (m unchanged). */
static inline int weft__ptrmap_insert(weft__ptrmap_t *m, weft__ptrent_t e)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        weft__ptrent_t *nt = weft__calloc(cap, sizeof *nt);
        if (!nt)
            return WEFT_ENOMEM;
        weft__ptrmap_t old = *m;
        m->tab = nt;
        m->cap = cap;
        m->count = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.tab[i].p)
                weft__ptrmap_insert(m, old.tab[i]);
        weft__free(old.tab);
    }
    size_t i = weft__ptrmap_home(m, e.p);
    while (m->tab[i].p)
        i = (i + 1) & (m->cap - 1);
    m->tab[i] = e;
    m->count++;
    return 0;
}

/* Removes the entry e points at, moving back the entries that probed past
 * it so that every entry stays reachable from its home slot. */
static inline void weft__ptrmap_erase(weft__ptrmap_t *m, weft__ptrent_t *e)
{
    size_t i = (size_t)(e - m->tab), j = i;
    m->tab[i].p = NULL;
    m->count--;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->tab[j].p)
            return;
        size_t k = weft__ptrmap_home(m, m->tab[j].p);
        /* j's entry stays unless its home lies cyclically outside (i, j] */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        m->tab[i] = m->tab[j];
        m->tab[j].p = NULL;
        i = j;
    }
}

#endif
