/* jemalloc, when the process has it: looked up at run time, never linked.
 *
 * Debian's libjemalloc.so.2 uses initial-exec TLS, so it can only be loaded
 * with the program at start-up; a libweft that listed it as a dependency
 * could not be dlopen()ed (ctypes, plugin hosts). So libweft does not: it
 * looks for jemalloc's non-standard entry points (mallocx & co.) in the
 * process, and uses them when the program was linked with jemalloc (the
 * weft command is; weft.pc links it after libc, so that it is loaded but
 * does not replace the program's malloc). Otherwise — or when the malloc
 * tracer is in the process — the C library. */
#include "base/base.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>

static weft__je_t je;
static const weft__je_t *found;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void look_up(void)
{
    if (getenv("WEFT_NO_JEMALLOC"))
        return;
    /* Under the malloc tracer (libweft-memtrace.so preloaded), weft's own
     * blocks must reach it: mallocx would go around malloc, so the C
     * library's allocator is used instead and every byte is attributed. */
    if (dlsym(RTLD_DEFAULT, "weft_memtrace_attach"))
        return;
    *(void **)&je.mallocx = dlsym(RTLD_DEFAULT, "mallocx");
    *(void **)&je.rallocx = dlsym(RTLD_DEFAULT, "rallocx");
    *(void **)&je.dallocx = dlsym(RTLD_DEFAULT, "dallocx");
    *(void **)&je.sdallocx = dlsym(RTLD_DEFAULT, "sdallocx");
    *(void **)&je.nallocx = dlsym(RTLD_DEFAULT, "nallocx");
    *(void **)&je.mallctl = dlsym(RTLD_DEFAULT, "mallctl");
    if (je.mallocx && je.rallocx && je.dallocx && je.sdallocx && je.nallocx && je.mallctl)
        found = &je;
}

const weft__je_t *weft__je(void)
{
    pthread_once(&once, look_up);
    return found;
}

/* jemalloc's flag encoding (part of its stable API, jemalloc.h). */
int weft__je_flags(size_t align, int arena, bool no_tcache)
{
    int f = 0;
    if (align > 1)
        f |= ffsl((long)align) - 1; /* MALLOCX_LG_ALIGN */
    if (arena >= 0)
        f |= (arena + 1) << 20; /* MALLOCX_ARENA */
    if (no_tcache)
        f |= 1 << 8; /* MALLOCX_TCACHE_NONE = MALLOCX_TCACHE(-1) */
    return f;
}
