/* memory/pool_internal.h — what the memory pool's files share: its
 * structures and the inline fast paths (pool.c: the allocator — address
 * map, depots, accounting, alloc and free, lifetime; pool_track.c:
 * tracemalloc-style tracking of its blocks; pool_api.c: the public calls
 * of include/weft/memory.h). Private to them. */
#ifndef WEFT_MEMORY_POOL_INTERNAL_H
#define WEFT_MEMORY_POOL_INTERNAL_H

#include "memory/memory.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <execinfo.h>
#include <unistd.h>

#include "memory/gpu.h"
#include "memory/internal.h"
#include "memory/memtrace.h"
#include "memory/track.h"
#include "base/base.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* -Dmem_checks (on in debug builds): free markers, double frees reported. */
#define CHECKS WEFT_MEM_CHECKS

#define SPAN_SHIFT 20
#define SPAN ((size_t)1 << SPAN_SHIFT)
#define NCLASSES 156 /* weft__mem_class(WEFT_MEM_MAX_BYTES) + 1 */
#define NSMALL 36    /* classes up to 64 KiB: carved from spans */
#define SMALL_MAX ((size_t)64 << 10)
#define NCACHED 68 /* classes up to 16 MiB: kept in slot caches */
#define FLUSH_BYTES ((int64_t)256 << 10)
#define MAP_BITS 14                       /* two levels of 2^14: addresses below 2^48 */
#define MARK UINT64_C(0x5745465446524545) /* "WEFTFREE" */
/* Tracking records must not put two threads' blocks on one cache line
 * (each thread writes its own blocks' records): blocks of classes whose
 * bins take REC_GROUP or more at a time are carved in groups whose records
 * fill whole lines; bigger blocks get a line per record. */
#define REC_GROUP (WEFT_CACHE_LINE / sizeof(uint64_t))
#define REC_DENSE_MAX ((size_t)8 << 10) /* bins of up to this size take >= REC_GROUP */

typedef struct region {
    alignas(WEFT_CACHE_LINE) uintptr_t base; /* read on every call: lines of its own */
    size_t size;                             /* span or block bytes */
    size_t block;                            /* the class size */
    /* block = odd << shift: an offset is a multiple of block when its low
     * `shift` bits are 0 and (off >> shift) * inv <= lim (no division). */
    unsigned shift;
    uint64_t inv, lim;
    unsigned rstride; /* records: words from one block's to the next */
    unsigned cls;
    bool large;
    _Atomic size_t carved; /* spans: bytes handed out so far */
    struct region *next;   /* spare descriptors */
    /* tracking records (memory/track.h): one per block of a span (made
     * when first needed), or the big block's own */
    _Atomic(_Atomic uint64_t *) recs;
    _Atomic uint64_t rec;
} region_t;

typedef struct bin {
    alignas(WEFT_CACHE_LINE) uint32_t n, cap; /* a line each: the memo below comes with n */
    void **items;
    /* tracking: the span of the block taken last and what finds a block's
     * record there (region_t's), so that a tracked allocation needs neither
     * the address map nor the region */
    uintptr_t span;
    _Atomic uint64_t *recs; /* NULL: nothing remembered */
    uint64_t inv;
    unsigned shift, rstride;
} bin_t;

typedef struct cache {
    alignas(WEFT_CACHE_LINE) bin_t bins[NCACHED]; /* caches sit in one array: no line shared */
    _Atomic int64_t delta;                        /* in_use change not yet added to the kind */
    _Atomic int64_t delta_max;                    /* its highest value since then */
    _Atomic uint64_t allocs, frees;
    int64_t flush_at;          /* |delta| that publishes it: 256 KiB, or twice the biggest block */
    int numa;                  /* the slot's NUMA node (-1: unknown) */
    weft__track_cache_t track; /* tracking: the tasks and sites it saw last */
    size_t held;               /* bytes of big blocks in the bins */
    void **store;              /* the bins' items */
} cache_t;

typedef struct depot {
    pthread_mutex_t lock;
    void **items;
    size_t n, cap;
    region_t *span; /* small classes: the span being carved */
} depot_t;

typedef struct kind {
    const weft__mem_backend_t *be;
    _Atomic(region_t **) map[1 << MAP_BITS];
    pthread_mutex_t map_lock; /* inserts, spare descriptors */
    region_t *spare;
    region_t *all_spans; /* every span, for destroy (linked by next) */
    depot_t depot[NCLASSES];
    cache_t *caches; /* one per pool slot */
    int ncaches;
    int *arenas, nnuma;     /* the backend's arena per NUMA node (-1: none) */
    _Atomic int64_t in_use; /* flushed part */
    _Atomic int64_t peak;
    _Atomic size_t reserved, cached; /* cached: free blocks over 64 KiB in the depots */
    _Atomic uint64_t allocs, frees;  /* from threads without a slot */
} kind_t;

/* The running task of a thread holding a slot of owner o (NULL: none). */
static inline weft_task_t *running_task(const weft__exec_owner_t *o)
{
    const weft__exec_t *e = o ? weft__exec_current() : NULL;
    return e && e->owner == o && e->task ? *e->task : NULL;
}

static inline int exec_slot(const weft__exec_owner_t *o)
{
    const weft__exec_t *e = o ? weft__exec_current() : NULL;
    return e && e->owner == o ? e->slot : -1;
}

struct weft__mem {
    weft__exec_owner_t *pool;       /* the scheduler's pool, as the record shows it */
    weft_runtime_t *rt;             /* the owner (weft__mem_attach) */
    int nworkers;                   /* slots owned by the pool's threads for life */
    _Atomic(weft__track_t *) track; /* tracking on (memory/track.c) */
    unsigned track_gen;             /* of the last tracker started */
    _Atomic size_t cache_limit;
    pthread_mutex_t track_lock; /* start/stop */
    weft__task_hook_t task_end; /* installed in the pool while tracking */
    weft__track_t **retired;    /* stopped trackers: threads may still hold them */
    size_t nretired;
    weft__gpumem_t *gpu; /* pinned and device memory (memory/gpu.h) */
    kind_t host;
};

/* ---- across the pool's files ----
 * pool_track.c: a tracked allocation / free (tracking on); a block's
 * tracking record; the task-end hook; the snapshot's walk. pool.c: a
 * misuse reported; the runtime's pool (reported when it is not alive);
 * the allocator's slow paths behind the inline fast ones. */
__attribute__((noinline)) void *weft__mem_tracked_alloc(weft__mem_t *m, size_t bytes, const char *file, int line,
                                                        void *caller);
__attribute__((noinline)) void weft__mem_tracked_free(weft__mem_t *m, weft__track_t *t, kind_t *k, region_t *r,
                                                      void *p);
void weft__mem_report(weft__mem_t *m, const char *call, const void *p, const char *why);
weft__mem_t *weft__mem_of_checked(weft_runtime_t *rt, const char *call);
void weft__mem_region_release(kind_t *k, region_t *r);
void weft__mem_flush(kind_t *k, cache_t *c, int64_t delta, int64_t dmax);
__attribute__((noinline)) void *weft__mem_kind_alloc(weft__mem_t *m, kind_t *k, size_t bytes);
__attribute__((noinline)) void weft__mem_kind_free(weft__mem_t *m, kind_t *k, region_t *r, void *p);
size_t weft__mem_depot_limit(weft__mem_t *m, const kind_t *k);
void weft__mem_walk_records(void *wud, weft__track_visit_fn visit, void *vud);
void weft__mem_task_ended(void *ud);
_Atomic uint64_t *weft__mem_record_slot(region_t *r, const void *p, bool make);

static inline region_t *lookup(kind_t *k, const void *p)
{
    uintptr_t key = (uintptr_t)p >> SPAN_SHIFT;
    if (key >> (2 * MAP_BITS))
        return NULL;
    region_t **leaf = atomic_load_explicit(&k->map[key >> MAP_BITS], memory_order_acquire);
    if (!leaf)
        return NULL;
    return __atomic_load_n(&leaf[key & ((1u << MAP_BITS) - 1)], __ATOMIC_ACQUIRE);
}

static inline __attribute__((always_inline)) void count_alloc(kind_t *k, cache_t *c, int64_t bytes)
{
    int64_t delta = atomic_load_explicit(&c->delta, memory_order_relaxed) + bytes;
    atomic_store_explicit(&c->delta, delta, memory_order_relaxed);
    if (delta > atomic_load_explicit(&c->delta_max, memory_order_relaxed))
        atomic_store_explicit(&c->delta_max, delta, memory_order_relaxed);
    atomic_store_explicit(&c->allocs, atomic_load_explicit(&c->allocs, memory_order_relaxed) + 1, memory_order_relaxed);
    if (__builtin_expect(delta >= c->flush_at, 0)) {
        if (bytes > c->flush_at / 2) /* a big block coming and going: do not publish each time */
            c->flush_at = 2 * bytes;
        else
            weft__mem_flush(k, c, delta, atomic_load_explicit(&c->delta_max, memory_order_relaxed));
    }
}

static inline __attribute__((always_inline)) void count_free(kind_t *k, cache_t *c, int64_t bytes)
{
    int64_t delta = atomic_load_explicit(&c->delta, memory_order_relaxed) - bytes;
    atomic_store_explicit(&c->delta, delta, memory_order_relaxed);
    atomic_store_explicit(&c->frees, atomic_load_explicit(&c->frees, memory_order_relaxed) + 1, memory_order_relaxed);
    if (__builtin_expect(delta <= -c->flush_at, 0))
        weft__mem_flush(k, c, delta, atomic_load_explicit(&c->delta_max, memory_order_relaxed));
}

/* A worker thread's cache, remembered (and where it keeps the task it
 * runs): its slot is its own until it exits (with its runtime), so one
 * thread-local read finds it. Slots lent to helping callers are looked up
 * each time. Initial-exec: a direct read (no resolver call); its 24 bytes
 * fit in the static TLS that glibc keeps for libraries loaded with dlopen
 * (tests/integration/test_dlopen.c), unlike jemalloc's 2.6 KiB. */
typedef struct weft__mem_mine {
    const kind_t *k;
    cache_t *c;
    weft_task_t *const *running;
} weft__mem_mine_t;
extern __thread __attribute__((tls_model("initial-exec"))) weft__mem_mine_t weft__mem_mine;

static inline cache_t *slot_cache(weft__mem_t *m, kind_t *k)
{
    if (weft__mem_mine.k == k)
        return weft__mem_mine.c;
    int slot = exec_slot(m->pool);
    if (slot < 0 || slot >= k->ncaches)
        return NULL;
    cache_t *c = &k->caches[slot];
    if (slot < m->nworkers && (weft__mem_mine.running = weft__exec_current()->task) != NULL) {
        weft__mem_mine.k = k;
        weft__mem_mine.c = c;
    }
    return c;
}

/* The region and class of p if it is a block the kind handed out. */
static inline __attribute__((always_inline)) region_t *owner(kind_t *k, const void *p)
{
    region_t *r = lookup(k, p);
    if (!r)
        return NULL;
    uintptr_t off = (uintptr_t)p - r->base;
    if (r->large)
        return off == 0 ? r : NULL;
    if ((off & (((uintptr_t)1 << r->shift) - 1)) || (uint64_t)(off >> r->shift) * r->inv > r->lim ||
        off + r->block > atomic_load_explicit(&r->carved, memory_order_acquire))
        return NULL;
    return r;
}

/* The fast paths (no lock): a block from the cache's own bin, or NULL; a
 * block back into it, or false when the bin is full (or checks are on). */
static inline __attribute__((always_inline)) void *bin_pop(kind_t *k, cache_t *c, size_t bytes)
{
    if (CHECKS || bytes > SMALL_MAX)
        return NULL;
    unsigned cls = weft__mem_class(bytes);
    bin_t *b = &c->bins[cls];
    if (!b->n)
        return NULL;
    void *p = b->items[--b->n];
    count_alloc(k, c, (int64_t)weft__mem_class_size(cls));
    UNPOISON(p, weft__mem_class_size(cls));
    return p;
}

static inline __attribute__((always_inline)) bool bin_push(kind_t *k, cache_t *c, region_t *r, void *p)
{
    if (CHECKS || r->cls >= NSMALL)
        return false;
    bin_t *b = &c->bins[r->cls];
    if (b->n == b->cap)
        return false;
    POISON(p, r->block);
    b->items[b->n++] = p;
    count_free(k, c, (int64_t)r->block);
    return true;
}

/* The calling thread's cache (NULL: it holds no slot) and, in *task, the
 * task it runs. */
static inline cache_t *current(weft__mem_t *m, kind_t *k, weft_task_t **task)
{
    if (weft__mem_mine.k == k) {
        *task = *weft__mem_mine.running;
        return weft__mem_mine.c;
    }
    *task = running_task(m->pool);
    return slot_cache(m, k);
}

#define mem_of(rt) weft__mem_of_checked((rt), __func__)

#endif
