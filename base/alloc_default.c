/* The built-in allocator behind the hooks: jemalloc's mallocx & co. when
 * the process has jemalloc (see jemalloc.c), the C library otherwise. The
 * choice is made once, at the first allocation, and cannot change: jemalloc
 * can only arrive with the program at start-up. */
#include "base/base.h"

#include <stdlib.h>

static void *default_malloc(size_t size, void *ud)
{
    (void)ud;
    const weft__je_t *je = weft__je();
    return je ? je->mallocx(size, 0) : malloc(size);
}

static void *default_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    const weft__je_t *je = weft__je();
    return je ? je->rallocx(ptr, size, 0) : realloc(ptr, size);
}

static void default_free(void *ptr, void *ud)
{
    (void)ud;
    const weft__je_t *je = weft__je();
    if (je)
        je->dallocx(ptr, 0);
    else
        free(ptr);
}

const weft_alloc_hooks_t weft__default_hooks = {default_malloc, default_realloc, default_free, NULL};

const char *weft__default_alloc_name(void)
{
    return weft__je() ? "jemalloc" : "libc";
}
