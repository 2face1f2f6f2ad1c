/* weft — allocation hooks.
 *
 * Every byte weft allocates goes through these hooks, so that memory
 * instrumentation sees it and tests can inject failures. They are
 * process-wide (like libuv's uv_replace_allocator): install them before
 * creating any weft object, and keep them until every weft object is
 * destroyed — memory is always released through the hooks that allocated it. */
#ifndef WEFT_ALLOC_H
#define WEFT_ALLOC_H

#include "weft/export.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_alloc_hooks {
    /* Like malloc(3): NULL on failure. size is never 0. */
    void *(*malloc_fn)(size_t size, void *ud);
    /* Like realloc(3): NULL on failure, the old block then stays valid.
     * ptr is never NULL and size never 0. */
    void *(*realloc_fn)(void *ptr, size_t size, void *ud);
    /* Like free(3); ptr is never NULL. */
    void (*free_fn)(void *ptr, void *ud);
    void *ud; /* passed back to every hook, borrowed */
} weft_alloc_hooks_t;

/* Installs hooks (copied), or restores the built-in allocator when hooks is
 * NULL. Returns WEFT_EINVAL if any of the three functions is NULL. */
WEFT_API int weft_alloc_set_hooks(const weft_alloc_hooks_t *hooks);

/* Name of the built-in allocator backend: "jemalloc" or "libc". */
WEFT_API const char *weft_alloc_backend(void);

#ifdef __cplusplus
}
#endif
#endif
