/* Built-in allocator backend: jemalloc's non-standard API (mallocx & co.),
 * chosen by -Djemalloc. The only file that includes <jemalloc/jemalloc.h>. */
#include "runtime/base/base.h"

#include <jemalloc/jemalloc.h>

static void *je_malloc_hook(size_t size, void *ud)
{
    (void)ud;
    return mallocx(size, 0);
}

static void *je_realloc_hook(void *ptr, size_t size, void *ud)
{
    (void)ud;
    return rallocx(ptr, size, 0);
}

static void je_free_hook(void *ptr, void *ud)
{
    (void)ud;
    dallocx(ptr, 0);
}

const weft_alloc_hooks_t weft__default_hooks = {je_malloc_hook, je_realloc_hook, je_free_hook, NULL};
const char weft__default_alloc_name[] = "jemalloc";
