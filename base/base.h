/* base — the cross-module header of the base layer: allocation
 * through the hooks, the monotonic clock, logging. Every other module
 * allocates only through weft__malloc & co. */
#ifndef WEFT_BASE_H
#define WEFT_BASE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/alloc.h"
#include "weft/error.h"

#define WEFT_CACHE_LINE 64

/* ---- allocation (alloc.c) ---------------------------------------------- */
void *weft__malloc(size_t size);             /* NULL on failure or size 0 */
void *weft__calloc(size_t n, size_t size);   /* NULL on failure/overflow  */
void *weft__realloc(void *ptr, size_t size); /* NULL on failure; ptr kept */
void weft__free(void *ptr);                  /* NULL is a no-op           */
char *weft__strdup(const char *s);
/* Grow-by-doubling, written once: makes *cap >= need for the array whose
 * pointer is at `arrp` (elements of `size` bytes), doubling from `first`.
 * 0, or WEFT_ENOMEM with the array and *cap as they were. WEFT__GROW(v,
 * cap, need, first) passes &v and sizeof *v, and calls only when the
 * array must grow (it sits on graph-building paths). */
int weft__grow(void *arrp, size_t *cap, size_t need, size_t size, size_t first);
static inline int weft__grow_to(void *arrp, size_t *cap, size_t need, size_t size, size_t first)
{
    return __builtin_expect(need <= *cap, 1) ? 0 : weft__grow(arrp, cap, need, size, first);
}
#define WEFT__GROW(v, cap, need, first) weft__grow_to(&(v), &(cap), (need), sizeof *(v), (first))
/* Memory aligned to `align` (a power of two); release with
 * weft__aligned_free. */
void *weft__aligned_alloc(size_t align, size_t size);
void weft__aligned_free(void *ptr);
/* Large blocks that are filled right away (task slabs, arenas): cache-line
 * aligned, and blocks of 2 MiB or more are 2 MiB-aligned and marked for
 * transparent huge pages, because first-touch page faults otherwise cost
 * more than the tasks themselves. Release with weft__aligned_free. */
void *weft__alloc_large(size_t size);
/* Advises huge pages for the whole 2 MiB pages inside [p, p + size). */
void weft__advise_huge(void *p, size_t size);

/* ---- bump arena (arena.c) ---------------------------------------------- */
/* Objects that are freed together come from an arena; weft__arena_fini
 * frees them all. Not thread-safe: one owner at a time. */
typedef struct weft__arena_block weft__arena_block_t;
typedef struct weft__arena {
    weft__arena_block_t *head;
    size_t first; /* size of the first block, bytes */
    bool huge;    /* blocks from weft__alloc_large (see arena.c) */
} weft__arena_t;
void weft__arena_init(weft__arena_t *a, size_t first_block, bool huge);
/* size bytes aligned to align (a power of two, at most 16); NULL when the
 * hooks fail. Memory is not zeroed. */
void *weft__arena_alloc(weft__arena_t *a, size_t size, size_t align);
void weft__arena_fini(weft__arena_t *a);

/* The built-in allocator (alloc_default.c): jemalloc when the process has
 * it, the C library otherwise; its name, "jemalloc" or "libc". */
extern const weft_alloc_hooks_t weft__default_hooks;
const char *weft__default_alloc_name(void);

/* ---- jemalloc, looked up at run time (jemalloc.c) ------------------------ */
/* Never linked into libweft (it must stay dlopen-able); found with dlsym
 * when the program has it. WEFT_NO_JEMALLOC in the environment ignores it. */
typedef struct weft__je {
    void *(*mallocx)(size_t size, int flags);
    void *(*rallocx)(void *ptr, size_t size, int flags);
    void (*dallocx)(void *ptr, int flags);
    void (*sdallocx)(void *ptr, size_t size, int flags);
    size_t (*nallocx)(size_t size, int flags);
    int (*mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
} weft__je_t;
const weft__je_t *weft__je(void); /* NULL without jemalloc */
/* mallocx flags: alignment (a power of two; <= 1 for none), arena (-1 for
 * the default), and whether to bypass the thread cache. */
int weft__je_flags(size_t align, int arena, bool no_tcache);

/* ---- the GPU stream of the running GPU task (stream.c) ------------------ */
/* Set by the GPU executor while a GPU task's function runs (NULL after);
 * the pool allocates and frees device memory of that device on it, in
 * stream order. */
void weft__stream_set(void *stream, int dev);
/* The stream (NULL: not in a GPU task's function) and its device. */
void *weft__stream_current(int *dev);

/* ---- clock (clock.c) --------------------------------------------------- */
uint64_t weft__clock_ns(void); /* CLOCK_MONOTONIC, nanoseconds */

/* A cheap timestamp for the hot path (traces, timers): the TSC on x86-64
 * when the CPU says it is invariant (about 10 ns a read instead of 25),
 * CLOCK_MONOTONIC nanoseconds otherwise. Ticks are turned into clock
 * nanoseconds with weft__tick_scale. weft__tick_init must have run once
 * (it is cheap to call again; libweft's constructor calls it). */
extern int weft__tick_tsc;
void weft__tick_init(void);
static inline uint64_t weft__tick(void)
{
#if defined(__x86_64__)
    if (__builtin_expect(weft__tick_tsc, 1))
        return __builtin_ia32_rdtsc();
#endif
    return weft__clock_ns();
}
/* The map ns = ns0 + (tick - tick0) * ns_per_tick, measured between the
 * first weft__tick_init and now (at least 2 ms apart: waits if needed).
 * Later calls refine it; take it once for one export. */
typedef struct weft__tick_map {
    uint64_t tick0, ns0;
    double ns_per_tick;
} weft__tick_map_t;
weft__tick_map_t weft__tick_scale(void);
static inline double weft__tick_to_ns(const weft__tick_map_t *m, uint64_t tick)
{
    return (double)m->ns0 + ((double)tick - (double)m->tick0) * m->ns_per_tick;
}

/* ---- locks (lock.c) --------------------------------------------------- */
/* Initializes m as a mutex for short, often contended sections (it spins
 * briefly before sleeping); destroy it with pthread_mutex_destroy. */
void weft__lock_init(pthread_mutex_t *m);

/* ---- logging (log.c) --------------------------------------------------- */
/* Prints "weft: <message>\n" to stderr (one write, so lines from several
 * threads do not interleave). */
void weft__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the execution-context record (exec.c) ---------------------------------
 *
 * What the calling thread runs, filled in by the scheduler and read by the
 * layers below it (the memory pool, the malloc tracer) so that they need
 * not know the scheduler: which pool of workers the thread serves (its
 * owner record), its slot there, where its running task is kept, the hook
 * to call after each task, and how to name and tag a task. */

typedef struct weft_task weft_task_t; /* the public handle (weft/graph.h); opaque here */

/* Called on the worker, in its slot, each time a task's function returns
 * (before its dependents can start). */
typedef struct weft__task_hook {
    void (*fn)(void *ud);
    void *ud;
} weft__task_hook_t;

/* A pool of workers as the lower layers see it (embedded in the pool). */
typedef struct weft__exec_owner {
    int nslots; /* workers, then helper slots lent to callers */
    int nworkers;
    _Atomic(const weft__task_hook_t *) task_end; /* NULL: none */
} weft__exec_owner_t;

/* A thread's record while it holds a slot of an owner. */
typedef struct weft__exec {
    weft__exec_owner_t *owner;
    int slot;
    weft_task_t *const *task; /* where its running task is (NULL between tasks) */
} weft__exec_t;

/* The calling thread's record, or NULL when it holds no slot. */
const weft__exec_t *weft__exec_current(void);
/* Sets it (NULL: none) and returns the previous one. */
const weft__exec_t *weft__exec_set(const weft__exec_t *e);

/* How tasks are named and tagged: set once by the scheduler. */
typedef struct weft__exec_task_ops {
    const char *(*label)(const weft_task_t *t, char *buf, size_t size);
    uint64_t *(*mem_tag)(weft_task_t *t);
} weft__exec_task_ops_t;
void weft__exec_set_task_ops(const weft__exec_task_ops_t *ops);
const char *weft__exec_task_label(const weft_task_t *t, char *buf, size_t size);
uint64_t *weft__exec_task_mem_tag(weft_task_t *t);

#endif
