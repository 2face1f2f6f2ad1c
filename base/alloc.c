/* Allocation through the process-wide hooks (see include/weft/alloc.h).
 *
 * The hooks are read on every allocation by any thread, so they sit behind
 * an atomic pointer to an immutable copy; weft_alloc_set_hooks swaps the
 * copy in. Installing hooks while weft objects exist is a contract
 * violation (memory would be freed through the wrong hooks), not a race. */
#include "base/base.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

static weft_alloc_hooks_t installed[2];
static _Atomic(const weft_alloc_hooks_t *) hooks_ptr;
static atomic_int slot;

static const weft_alloc_hooks_t *hooks(void)
{
    /* acquire: pairs with the release in weft_alloc_set_hooks so that the
     * copied struct is visible before its pointer. */
    const weft_alloc_hooks_t *h = atomic_load_explicit(&hooks_ptr, memory_order_acquire);
    return h ? h : &weft__default_hooks;
}

int weft_alloc_set_hooks(const weft_alloc_hooks_t *h)
{
    if (!h) {
        atomic_store_explicit(&hooks_ptr, NULL, memory_order_release);
        return 0;
    }
    if (!h->malloc_fn || !h->realloc_fn || !h->free_fn)
        return WEFT_EINVAL;
    int s = atomic_fetch_add_explicit(&slot, 1, memory_order_relaxed) & 1;
    installed[s] = *h;
    atomic_store_explicit(&hooks_ptr, &installed[s], memory_order_release);
    return 0;
}

const char *weft_alloc_backend(void)
{
    return weft__default_alloc_name();
}

void *weft__malloc(size_t size)
{
    if (size == 0)
        return NULL;
    const weft_alloc_hooks_t *h = hooks();
    return h->malloc_fn(size, h->ud);
}

void *weft__calloc(size_t n, size_t size)
{
    if (n == 0 || size == 0 || n > SIZE_MAX / size)
        return NULL;
    void *p = weft__malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *weft__realloc(void *ptr, size_t size)
{
    if (!ptr)
        return weft__malloc(size);
    if (size == 0)
        return NULL;
    const weft_alloc_hooks_t *h = hooks();
    return h->realloc_fn(ptr, size, h->ud);
}

void weft__free(void *ptr)
{
    if (!ptr)
        return;
    const weft_alloc_hooks_t *h = hooks();
    h->free_fn(ptr, h->ud);
}

char *weft__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = weft__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Over-allocate and keep the raw pointer just below the aligned block, so
 * that aligned memory also goes through the hooks. */
void *weft__aligned_alloc(size_t align, size_t size)
{
    if (size == 0 || align < sizeof(void *) || (align & (align - 1)) || size > SIZE_MAX - align - sizeof(void *))
        return NULL;
    char *raw = weft__malloc(size + align + sizeof(void *));
    if (!raw)
        return NULL;
    uintptr_t p = ((uintptr_t)(raw + sizeof(void *)) + align - 1) & ~(uintptr_t)(align - 1);
    memcpy((void *)(p - sizeof(void *)), &raw, sizeof raw);
    return (void *)p;
}

void weft__aligned_free(void *ptr)
{
    if (!ptr)
        return;
    void *raw;
    memcpy(&raw, (char *)ptr - sizeof(void *), sizeof raw);
    weft__free(raw);
}

void weft__advise_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)p + size) & ~(huge - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* advice only */
#else
    (void)p;
    (void)size;
#endif
}

void *weft__alloc_large(size_t size)
{
    const size_t huge = (size_t)2 << 20;
    if (size < huge)
        return weft__aligned_alloc(WEFT_CACHE_LINE, size);
    void *p = weft__aligned_alloc(huge, size);
#ifdef MADV_HUGEPAGE
    if (p)
        madvise(p, size & ~(huge - 1), MADV_HUGEPAGE); /* advice only */
#endif
    return p;
}

int weft__grow(void *arrp, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : (first ? first : 1);
    while (c < need) {
        if (c > SIZE_MAX / 2 / size)
            return WEFT_ENOMEM;
        c *= 2;
    }
    /* the array pointer is read and written as bytes: it may have any
     * object pointer type */
    void *old;
    memcpy(&old, arrp, sizeof old);
    void *grown = weft__realloc(old, c * size);
    if (!grown)
        return WEFT_ENOMEM;
    memcpy(arrp, &grown, sizeof grown);
    *cap = c;
    return 0;
}
