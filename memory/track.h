/* memory/track — where the pool's memory went, like Python's tracemalloc:
 * every live block recorded with its size, the task that allocated it and
 * its call site (file:line when the caller passed them, and up to `depth`
 * return addresses). Internal to memory/ (the public calls are in
 * include/weft/memory.h and defined in pool.c). */
#ifndef WEFT_MEMORY_TRACK_H
#define WEFT_MEMORY_TRACK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/memory.h"

#define WEFT__TRACK_MAX_DEPTH 16

typedef struct weft__track weft__track_t;

/* What the pool reads on every tracked call, without a function call. */
typedef struct weft__track_head {
    int depth;
    unsigned gen;
} weft__track_head_t;

/* A block's record, kept by the pool next to the block's region (a word
 * per block): the tracker's generation (16 bits, never 0), the site and the
 * task (24 bits each); 0 = none. Records of another generation (an earlier
 * tracker) are ignored. */
#define WEFT__REC_GEN(r) ((unsigned)((r) >> 48))
#define WEFT__REC_SITE(r) ((uint32_t)(((r) >> 24) & 0xFFFFFF))
#define WEFT__REC_TASK(r) ((uint32_t)((r)&0xFFFFFF))

/* gen: 1..65535. Errors: WEFT_EINVAL (depth outside 0..16), WEFT_ENOMEM. */
int weft__track_create(int depth, unsigned gen, weft__track_t **out);
void weft__track_destroy(weft__track_t *t);

static inline int weft__track_depth(const weft__track_t *t)
{
    return ((const weft__track_head_t *)t)->depth;
}

static inline unsigned weft__track_gen(const weft__track_t *t)
{
    return ((const weft__track_head_t *)t)->gen;
}

/* One thread's tracking state, kept in the pool's slot caches (not in
 * thread-local storage: libweft's static TLS must stay tiny to be
 * dlopen-able): the sites it looked up last, and the bytes its running
 * task allocated and freed that are not yet added to the task's counters
 * (so that accounting takes no atomic read-modify-write). Only the owner
 * thread writes it; other threads read the pending bytes (atomics). The
 * bytes are added when the task ends (weft__track_task_end) or another
 * task allocates on the thread. */
#define WEFT__TRACK_CACHE_SITES 16
typedef struct weft__track_cache {
    _Atomic(const weft__track_t *) t;
    uint32_t outside;             /* the id of "outside any task" + 1; 0: not yet */
    const struct weft_task *task; /* the task running on the thread ... */
    uint32_t task_id;             /* ... and its id + 1 (0: not known), until it ends */
    _Atomic uint32_t acct;        /* the task whose bytes are pending, id + 1; 0: none */
    _Atomic int64_t delta;        /* its bytes since they were last added */
    _Atomic int64_t delta_max;    /* the highest delta since then */
    struct {
        const char *file;
        int line;
        void *pc;
        uint32_t id; /* + 1; 0: empty */
    } sites[WEFT__TRACK_CACHE_SITES];
} weft__track_cache_t;

struct weft_task;

static inline unsigned weft__track_site_slot(const char *file, int line, const void *pc)
{
    uint64_t h =
        ((uint64_t)(uintptr_t)file ^ (uint64_t)(uintptr_t)pc ^ (uint64_t)(unsigned)line) * UINT64_C(0x9E3779B97F4A7C15);
    return (unsigned)(h >> 60) % WEFT__TRACK_CACHE_SITES;
}

/* weft__track_record's answer when the cache holds it (task and site seen
 * on this thread since the task started, one return address or none);
 * 0: ask weft__track_record. */
static inline uint64_t weft__track_record_cached(const weft__track_t *t, const weft__track_cache_t *c,
                                                 const struct weft_task *task, const char *file, int line,
                                                 const void *pc)
{
    if (atomic_load_explicit(&c->t, memory_order_relaxed) != t || c->task != task || !c->task_id)
        return 0;
    if (!file)
        line = 0;
    unsigned i = weft__track_site_slot(file, line, pc);
    if (!c->sites[i].id || c->sites[i].file != file || c->sites[i].line != line || c->sites[i].pc != pc)
        return 0;
    return (uint64_t)weft__track_gen(t) << 48 | (uint64_t)(c->sites[i].id - 1) << 24 | (c->task_id - 1);
}

/* weft__track_account's work when it only adds to the cache's pending
 * bytes; false: call weft__track_account. */
static inline int weft__track_account_cached(const weft__track_t *t, weft__track_cache_t *c, uint64_t rec,
                                             int64_t bytes)
{
    if (atomic_load_explicit(&c->t, memory_order_relaxed) != t ||
        atomic_load_explicit(&c->acct, memory_order_relaxed) != WEFT__REC_TASK(rec) + 1)
        return 0;
    int64_t d = atomic_load_explicit(&c->delta, memory_order_relaxed) + bytes;
    atomic_store_explicit(&c->delta, d, memory_order_relaxed);
    if (d > atomic_load_explicit(&c->delta_max, memory_order_relaxed))
        atomic_store_explicit(&c->delta_max, d, memory_order_relaxed);
    return 1;
}

/* The record for a block allocated now by `task` (NULL: outside any task)
 * at file:line (file NULL: none) with `ntrace` return addresses; 0 when out
 * of memory (the block then goes unrecorded). With a cache (the calling
 * thread's own; NULL: none), recent sites and tasks seen before take no
 * lock. */
uint64_t weft__track_record(weft__track_t *t, weft__track_cache_t *cache, struct weft_task *task, const char *file,
                            int line, void *const *trace, int ntrace);
/* The task of rec now holds `bytes` more (negative: fewer). An allocation
 * (bytes > 0) makes rec's task the cache's own: its bytes stay pending in
 * the cache until another task's allocation there; a free of the cache's
 * task's block is pending too; anything else is added at once. */
void weft__track_account(weft__track_t *t, weft__track_cache_t *cache, uint64_t rec, int64_t bytes);

/* The calling thread's task ended: its pending bytes (cache: the thread's
 * own) are added to its counters. */
void weft__track_task_end(weft__track_t *t, weft__track_cache_t *cache);

/* The bytes the task's blocks hold now and at most (0, 0 for a task never
 * seen), counting what is pending in the n caches at `caches` (`stride`
 * bytes apart). Exact when each task's blocks come and go on the thread
 * running it while it runs; otherwise the peak counts a task's pending
 * bytes as if they came on top of all the others (a free by another thread
 * during the task may leave its peak that much low), and while tasks run a
 * task's figures may be off by what its thread is adding at that moment. */
void weft__track_task_usage(weft__track_t *t, const char *task, const void *caches, size_t n, size_t stride,
                            size_t *current, size_t *peak);

/* The pool's live records: calls visit(rec, size, vud) for each. */
typedef void (*weft__track_visit_fn)(void *vud, uint64_t rec, size_t size);
typedef void (*weft__track_walk_fn)(void *wud, weft__track_visit_fn visit, void *vud);

/* A copy of this tracker's records (walk enumerates the pool's),
 * aggregated by (task, site). */
int weft__track_snapshot(weft__track_t *t, weft__track_walk_fn walk, void *wud, weft_mem_snapshot_t **out);

/* The live blocks, grouped by task and site, written as a leak report
 * ("weft: memory leak: ..." lines); returns the number of blocks. */
size_t weft__track_report_leaks(weft__track_t *t, weft__track_walk_fn walk, void *wud, FILE *f);

#endif
