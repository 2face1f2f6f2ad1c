/* Allocation hooks for fault injection: count live blocks and fail the
 * Nth allocation. Used by the fail-at-Nth-allocation loops. */
#ifndef WEFT_TEST_FAILALLOC_H
#define WEFT_TEST_FAILALLOC_H

#include <stdatomic.h>
#include <stdlib.h>

#include <weft.h>

static atomic_long fa_live;    /* blocks allocated and not freed */
static atomic_long fa_count;   /* allocations attempted */
static atomic_long fa_fail_at; /* fail when count reaches this (0 = never) */
static atomic_long fa_failed;  /* injected failures */

static void *fa_malloc(size_t n, void *ud)
{
    (void)ud;
    long c = atomic_fetch_add(&fa_count, 1) + 1;
    long at = atomic_load(&fa_fail_at);
    if (at && c == at) {
        atomic_fetch_add(&fa_failed, 1);
        return NULL;
    }
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&fa_live, 1);
    return p;
}

static void *fa_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    long c = atomic_fetch_add(&fa_count, 1) + 1;
    long at = atomic_load(&fa_fail_at);
    if (at && c == at) {
        atomic_fetch_add(&fa_failed, 1);
        return NULL;
    }
    return realloc(p, n);
}

static void fa_free(void *p, void *ud)
{
    (void)ud;
    atomic_fetch_sub(&fa_live, 1);
    free(p);
}

/* Installs the hooks, failing allocation number `at` (1-based; 0 = none). */
static inline void fa_install(long at)
{
    atomic_store(&fa_count, 0);
    atomic_store(&fa_failed, 0);
    atomic_store(&fa_fail_at, at);
    weft_alloc_hooks_t h = {fa_malloc, fa_realloc, fa_free, NULL};
    weft_alloc_set_hooks(&h);
}

static inline void fa_remove(void)
{
    weft_alloc_set_hooks(NULL);
}

#endif
