/* memory/intern.h — what the tracker (memory/track.c) and the malloc
 * tracer (memory/memtrace.c, which links nothing of libweft's) share,
 * header-only: the open-addressing id table both intern with (the
 * allocator passed in; slots hold id + 1, 0: empty; the caller's lock
 * guards it), and the JSON string writer of their reports. */
#ifndef WEFT_MEMORY_INTERN_H
#define WEFT_MEMORY_INTERN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct weft__intern {
    uint32_t *slots;
    size_t cap; /* a power of two */
} weft__intern_t;

/* Room for one more id after the n there are (rehashed with hash_of):
 * 0, or -1 when calloc_fn fails (the table is then unchanged). */
static inline int weft__intern_grow(weft__intern_t *ix, size_t n, uint64_t (*hash_of)(void *ctx, uint32_t id),
                                    void *ctx, void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *))
{
    if (ix->cap && (n + 1) * 2 <= ix->cap)
        return 0;
    size_t cap = ix->cap ? ix->cap * 2 : 64;
    uint32_t *slots = calloc_fn(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (uint32_t id = 0; id < n; id++) {
        size_t i = hash_of(ctx, id) & (cap - 1);
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = id + 1;
    }
    free_fn(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    return 0;
}

/* Records id under hash h (room made by weft__intern_grow). */
static inline void weft__intern_put(weft__intern_t *ix, uint64_t h, uint32_t id)
{
    size_t i = h & (ix->cap - 1);
    while (ix->slots[i])
        i = (i + 1) & (ix->cap - 1);
    ix->slots[i] = id + 1;
}

/* s as a JSON string (NULL: null). */
static inline void weft__json_fputs(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

#endif
