/* Host memory for the pool: big aligned regions. Below 4 MiB they come
 * from jemalloc's mallocx when the process has jemalloc (bypassing its
 * thread cache: the pool caches), from posix_memalign otherwise. From 4 MiB
 * up they are mapped directly, 2 MiB aligned, with MADV_HUGEPAGE: one
 * fault then fills 2 MiB instead of 4 KiB (a 4 KiB fault costs ~11 us on
 * the development machine), and munmap gives them back whole. */
#include "memory/internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "base/base.h"

#define MAP_MIN ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

static atomic_long fail_after = -1;

void weft__mem_fail_after(long n)
{
    atomic_store(&fail_after, n);
}

bool weft__mem_reserve_fails(void)
{
    long n = atomic_load(&fail_after);
    while (n >= 0) {
        if (n == 0)
            return true;
        if (atomic_compare_exchange_weak(&fail_after, &n, n - 1))
            return false;
    }
    return false;
}

static void *map_aligned(size_t bytes, size_t align)
{
    if (align < HUGE_PAGE)
        align = HUGE_PAGE;
    size_t len = bytes + align;
    char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    size_t tail = (size_t)(raw + len - (p + bytes));
    if (tail)
        munmap(p + bytes, tail);
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void *host_reserve(size_t bytes, size_t align, int arena)
{
    if (weft__mem_reserve_fails())
        return NULL;
    if (bytes >= MAP_MIN)
        return map_aligned(bytes, align);
    const weft__je_t *je = weft__je();
    if (je)
        return je->mallocx(bytes, weft__je_flags(align, arena, true));
    void *p = NULL; /* posix_memalign: aligned_alloc wants a size that is a multiple of align */
    return posix_memalign(&p, align, bytes) == 0 ? p : NULL;
}

static void host_release(void *p, size_t bytes, size_t align)
{
    if (bytes >= MAP_MIN) {
        munmap(p, bytes);
        return;
    }
    const weft__je_t *je = weft__je();
    if (je)
        je->sdallocx(p, bytes, weft__je_flags(align, -1, true));
    else
        free(p);
}

/* jemalloc arenas: one per NUMA node, so that the regions a node's workers
 * reserve (and first touch) are not mixed with other nodes' in one arena. */
static int host_arena_create(void)
{
    const weft__je_t *je = weft__je();
    unsigned idx;
    size_t len = sizeof idx;
    if (!je || je->mallctl("arenas.create", &idx, &len, NULL, 0) != 0)
        return -1;
    return (int)idx;
}

static void host_arena_destroy(int arena)
{
    const weft__je_t *je = weft__je();
    char name[64];
    if (!je || arena < 0)
        return;
    snprintf(name, sizeof name, "arena.%d.destroy", arena);
    je->mallctl(name, NULL, NULL, NULL, 0);
}

const weft__mem_backend_t weft__mem_host = {"host", host_reserve,      host_release,
                                            true,   host_arena_create, host_arena_destroy};
