/* Built-in allocator backend: the C library (used without jemalloc). */
#include "runtime/base/base.h"

#include <stdlib.h>

static void *libc_malloc(size_t size, void *ud)
{
    (void)ud;
    return malloc(size);
}

static void *libc_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    return realloc(ptr, size);
}

static void libc_free(void *ptr, void *ud)
{
    (void)ud;
    free(ptr);
}

const weft_alloc_hooks_t weft__default_hooks = {libc_malloc, libc_realloc, libc_free, NULL};
const char weft__default_alloc_name[] = "libc";
