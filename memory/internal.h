/* memory/ internals: where a kind's memory comes from. */
#ifndef WEFT_MEMORY_INTERNAL_H
#define WEFT_MEMORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* A kind's supplier of big aligned regions (1 MiB spans and blocks over
 * 64 KiB); the pool does the rest. */
typedef struct weft__mem_backend {
    const char *name;
    /* NULL when out of memory; arena: from arena_create, or -1 */
    void *(*reserve)(size_t bytes, size_t align, int arena);
    void (*release)(void *p, size_t bytes, size_t align); /* as reserved */
    bool host_access;                                     /* the host may read and write it (free markers) */
    /* A separate arena (one per NUMA node), -1 when the backend has none;
     * destroy it once every region reserved from it is released. */
    int (*arena_create)(void);
    void (*arena_destroy)(int arena);
} weft__mem_backend_t;

/* host.c: jemalloc (mallocx, when the process has it) or posix_memalign;
 * regions of 4 MiB and more straight from mmap, with transparent huge
 * pages asked for. */
extern const weft__mem_backend_t weft__mem_host;

/* Test hook: the next n reservations succeed, then they fail (n < 0: never
 * fail, the default). */
void weft__mem_fail_after(long n);
bool weft__mem_reserve_fails(void);

#endif
