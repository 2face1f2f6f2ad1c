/* The memory pool: size classes, a cache per scheduler slot, a depot per
 * class shared by everyone, and a map from addresses to the regions the
 * pool owns.
 *
 * Blocks up to 64 KiB are carved from 1 MiB spans of one class each;
 * bigger ones are regions of their own. Every span and big block starts on
 * a 1 MiB boundary, so that `map` (a two-level table indexed by address /
 * 1 MiB) finds the region of any pointer in two loads: that is how free
 * learns a block's class, and how it refuses pointers the pool does not own
 * without ever reading them. Nothing is stored inside blocks (device memory
 * cannot be), except a marker in freed host blocks when built with
 * -Dmem_checks (debug builds), which is how a double free is caught.
 *
 * A slot's cache is used only by the thread holding the slot: no lock.
 * Counters a cache keeps are written by that thread alone (relaxed atomic
 * stores, no read-modify-write) and summed by weft_mem_stats. */
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

static void walk_records(void *wud, weft__track_visit_fn visit, void *vud);
static void task_ended(void *ud);

/* With checks: the runtimes alive, so that a call on a destroyed one is
 * reported instead of reading freed memory. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_runtime_t **live;
static size_t nlive, caplive;

static bool is_live(const weft_runtime_t *rt)
{
    pthread_mutex_lock(&live_lock);
    bool found = false;
    for (size_t i = 0; i < nlive && !found; i++)
        found = live[i] == rt;
    pthread_mutex_unlock(&live_lock);
    return found;
}

int weft__mem_attach(weft__mem_t *m, weft_runtime_t *rt)
{
    if (!CHECKS) {
        m->rt = rt;
        return 0;
    }
    pthread_mutex_lock(&live_lock);
    if (nlive == caplive) {
        size_t cap = caplive ? caplive * 2 : 8;
        weft_runtime_t **nl = weft__realloc(live, cap * sizeof *nl);
        if (!nl) {
            pthread_mutex_unlock(&live_lock);
            return WEFT_ENOMEM;
        }
        live = nl;
        caplive = cap;
    }
    live[nlive++] = rt;
    m->rt = rt;
    pthread_mutex_unlock(&live_lock);
    return 0;
}

static void detach(weft__mem_t *m)
{
    if (!CHECKS || !m->rt)
        return;
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < nlive; i++)
        if (live[i] == m->rt) {
            live[i] = live[--nlive];
            break;
        }
    if (!nlive) {
        weft__free(live);
        live = NULL;
        caplive = 0;
    }
    pthread_mutex_unlock(&live_lock);
}

/* The pool of rt; NULL (reported, with checks, when rt was destroyed) when
 * there is none. */
static weft__mem_t *mem_of_checked(weft_runtime_t *rt, const char *call)
{
    if (!rt)
        return NULL;
    if (CHECKS && !is_live(rt)) {
        weft__log("%s: runtime %p is not alive (destroyed already?); ignored", call, (void *)rt);
        return NULL;
    }
    return ((weft__mem_owner_t *)rt)->mem;
}
#define mem_of(rt) mem_of_checked((rt), __func__)

static void report(weft__mem_t *m, const char *call, const void *p, const char *why)
{
    weft_task_t *t = running_task(m->pool);
    char lb[32];
    if (t)
        weft__log("%s(%p) in task '%s': %s", call, p, weft__exec_task_label(t, lb, sizeof lb), why);
    else
        weft__log("%s(%p) outside any task: %s", call, p, why);
}

/* ---- the address map --------------------------------------------------- */

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

/* map_lock held. */
static int map_set(kind_t *k, uintptr_t base, region_t *r)
{
    uintptr_t key = base >> SPAN_SHIFT;
    if (key >> (2 * MAP_BITS))
        return WEFT_ENOMEM; /* beyond 2^48: cannot be told apart */
    region_t **leaf = atomic_load_explicit(&k->map[key >> MAP_BITS], memory_order_relaxed);
    if (!leaf) {
        leaf = weft__calloc((size_t)1 << MAP_BITS, sizeof *leaf);
        if (!leaf)
            return WEFT_ENOMEM;
        atomic_store_explicit(&k->map[key >> MAP_BITS], leaf, memory_order_release);
    }
    __atomic_store_n(&leaf[key & ((1u << MAP_BITS) - 1)], r, __ATOMIC_RELEASE);
    return 0;
}

/* A new region of `size` bytes for class cls, mapped; NULL when out of
 * memory. */
static region_t *region_new(kind_t *k, size_t size, unsigned cls, bool large, int node)
{
    void *base = k->be->reserve(size, SPAN, node >= 0 && node < k->nnuma ? k->arenas[node] : -1);
    if (!base)
        return NULL;
    pthread_mutex_lock(&k->map_lock);
    region_t *r = k->spare;
    if (r)
        k->spare = r->next;
    else
        r = weft__aligned_alloc(WEFT_CACHE_LINE, sizeof *r);
    if (!r || map_set(k, (uintptr_t)base, r) != 0) {
        if (r) {
            r->next = k->spare;
            k->spare = r;
        }
        pthread_mutex_unlock(&k->map_lock);
        k->be->release(base, size, SPAN);
        return NULL;
    }
    r->base = (uintptr_t)base;
    r->size = size;
    r->cls = cls;
    r->block = weft__mem_class_size(cls);
    r->shift = (unsigned)__builtin_ctzll(r->block);
    uint64_t odd = r->block >> r->shift, inv = odd; /* Newton: inverse of odd mod 2^64 */
    for (int i = 0; i < 5; i++)
        inv *= 2 - odd * inv;
    r->inv = inv;
    r->rstride = r->block <= REC_DENSE_MAX ? 1 : REC_GROUP;
    r->lim = UINT64_MAX / odd;
    r->large = large;
    atomic_store_explicit(&r->carved, 0, memory_order_relaxed);
    atomic_store_explicit(&r->recs, NULL, memory_order_relaxed);
    atomic_store_explicit(&r->rec, 0, memory_order_relaxed);
    r->next = NULL;
    if (!large) {
        r->next = k->all_spans;
        k->all_spans = r;
    }
    pthread_mutex_unlock(&k->map_lock);
    atomic_fetch_add_explicit(&k->reserved, size, memory_order_relaxed);
    POISON(base, size);
    return r;
}

/* Gives a big block back to the system. */
static void region_release(kind_t *k, region_t *r)
{
    void *base = (void *)r->base;
    size_t size = r->size;
    pthread_mutex_lock(&k->map_lock);
    map_set(k, r->base, NULL);
    r->next = k->spare;
    k->spare = r;
    pthread_mutex_unlock(&k->map_lock);
    atomic_fetch_sub_explicit(&k->reserved, size, memory_order_relaxed);
    UNPOISON(base, size);
    k->be->release(base, size, SPAN);
}

/* ---- depot ------------------------------------------------------------- */

static bool depot_push(depot_t *d, void *p)
{
    if (WEFT__GROW(d->items, d->cap, d->n + 1, 64))
        return false;
    d->items[d->n++] = p;
    return true;
}

/* At least `want` (up to `room`) blocks of class cls into out (depot lock
 * held); returns how many. Takes freed blocks first, then carves (on to
 * the end of a group of REC_GROUP blocks, for dense records), then makes a
 * region. */
static uint32_t depot_take(kind_t *k, depot_t *d, unsigned cls, void **out, uint32_t want, uint32_t room, int node)
{
    uint32_t got = 0;
    while (got < want && d->n)
        out[got++] = d->items[--d->n];
    size_t size = weft__mem_class_size(cls);
    if (cls >= NSMALL) {
        if (got)
            atomic_fetch_sub_explicit(&k->cached, got * size, memory_order_relaxed);
        else {
            region_t *r = region_new(k, size, cls, true, node);
            if (r)
                out[got++] = (void *)r->base;
        }
        return got;
    }
    while (got < want) {
        region_t *s = d->span;
        size_t carved = s ? atomic_load_explicit(&s->carved, memory_order_relaxed) : 0;
        if (!s || carved + size > s->size) {
            s = region_new(k, SPAN, cls, false, node);
            if (!s)
                break;
            d->span = s;
            carved = 0;
        }
        do
            out[got++] = (void *)(s->base + carved);
        while ((carved += size) + size <= s->size && got < room &&
               (got < want || (s->rstride == 1 && (carved / size) % REC_GROUP)));
        atomic_store_explicit(&s->carved, carved, memory_order_release);
    }
    return got;
}

/* ---- accounting -------------------------------------------------------- */

static void peak_at_least(kind_t *k, int64_t v)
{
    int64_t cur = atomic_load_explicit(&k->peak, memory_order_relaxed);
    while (v > cur &&
           !atomic_compare_exchange_weak_explicit(&k->peak, &cur, v, memory_order_relaxed, memory_order_relaxed))
        ;
}

static void account_shared(kind_t *k, int64_t bytes)
{
    int64_t now = atomic_fetch_add_explicit(&k->in_use, bytes, memory_order_relaxed) + bytes;
    if (bytes > 0)
        peak_at_least(k, now);
    atomic_fetch_add_explicit(bytes > 0 ? &k->allocs : &k->frees, 1, memory_order_relaxed);
}

/* The owner's counters: plain loads and stores of atomics (no
 * read-modify-write); the kind's totals only when |delta| reaches flush_at. */
static void flush(kind_t *k, cache_t *c, int64_t delta, int64_t dmax)
{
    int64_t before = atomic_fetch_add_explicit(&k->in_use, delta, memory_order_relaxed);
    peak_at_least(k, before + dmax);
    atomic_store_explicit(&c->delta, 0, memory_order_relaxed);
    atomic_store_explicit(&c->delta_max, 0, memory_order_relaxed);
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
            flush(k, c, delta, atomic_load_explicit(&c->delta_max, memory_order_relaxed));
    }
}

static inline __attribute__((always_inline)) void count_free(kind_t *k, cache_t *c, int64_t bytes)
{
    int64_t delta = atomic_load_explicit(&c->delta, memory_order_relaxed) - bytes;
    atomic_store_explicit(&c->delta, delta, memory_order_relaxed);
    atomic_store_explicit(&c->frees, atomic_load_explicit(&c->frees, memory_order_relaxed) + 1, memory_order_relaxed);
    if (__builtin_expect(delta <= -c->flush_at, 0))
        flush(k, c, delta, atomic_load_explicit(&c->delta_max, memory_order_relaxed));
}

/* ---- alloc and free ---------------------------------------------------- */

/* A worker thread's cache, remembered (and where it keeps the task it
 * runs): its slot is its own until it exits (with its runtime), so one
 * thread-local read finds it. Slots lent to helping callers are looked up
 * each time. Initial-exec: a direct read (no resolver call); its 24 bytes
 * fit in the static TLS that glibc keeps for libraries loaded with dlopen
 * (tests/integration/test_dlopen.c), unlike jemalloc's 2.6 KiB. */
static __thread __attribute__((tls_model("initial-exec"))) struct {
    const kind_t *k;
    cache_t *c;
    weft_task_t *const *running;
} mine;

static inline cache_t *slot_cache(weft__mem_t *m, kind_t *k)
{
    if (mine.k == k)
        return mine.c;
    int slot = exec_slot(m->pool);
    if (slot < 0 || slot >= k->ncaches)
        return NULL;
    cache_t *c = &k->caches[slot];
    if (slot < m->nworkers && (mine.running = weft__exec_current()->task) != NULL) {
        mine.k = k;
        mine.c = c;
    }
    return c;
}

static void mark_allocated(kind_t *k, void *p, size_t size)
{
    UNPOISON(p, size);
    if (CHECKS && k->be->host_access)
        memset(p, 0, 2 * sizeof(uint64_t));
}

static __attribute__((noinline)) void *kind_alloc(weft__mem_t *m, kind_t *k, size_t bytes)
{
    if (bytes > WEFT_MEM_MAX_BYTES)
        return NULL;
    unsigned cls = weft__mem_class(bytes);
    size_t size = weft__mem_class_size(cls);
    cache_t *c = cls < NCACHED ? slot_cache(m, k) : NULL;
    void *p = NULL;
    if (c) {
        bin_t *b = &c->bins[cls];
        if (b->n == 0) {
            depot_t *d = &k->depot[cls];
            pthread_mutex_lock(&d->lock);
            b->n = depot_take(k, d, cls, b->items, (b->cap + 1) / 2, b->cap, c->numa);
            pthread_mutex_unlock(&d->lock);
            if (b->n == 0)
                return NULL;
            if (cls >= NSMALL)
                c->held += b->n * size;
        }
        p = b->items[--b->n];
        if (cls >= NSMALL)
            c->held -= size;
        count_alloc(k, c, (int64_t)size);
    } else {
        depot_t *d = &k->depot[cls];
        pthread_mutex_lock(&d->lock);
        uint32_t got = depot_take(k, d, cls, &p, 1, 1, -1);
        pthread_mutex_unlock(&d->lock);
        if (!got)
            return NULL;
        account_shared(k, (int64_t)size);
    }
    mark_allocated(k, p, size);
    return p;
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

/* With checks: a freed host block carries MARK ^ address in its first two
 * words; finding it there on free means the block was freed already. */
static bool mark_freed(weft__mem_t *m, kind_t *k, void *p, size_t size)
{
    if (CHECKS && k->be->host_access) {
        uint64_t *w = p;
        uint64_t a = MARK ^ (uint64_t)(uintptr_t)p, b = ~MARK ^ (uint64_t)(uintptr_t)p;
        if (w[0] == a && w[1] == b) {
            report(m, "weft_mem_free", p, "freed already (a double free); ignored");
            return false;
        }
        w[0] = a;
        w[1] = b;
    }
    POISON((char *)p + (CHECKS && k->be->host_access ? 2 * sizeof(uint64_t) : 0),
           size - (CHECKS && k->be->host_access ? 2 * sizeof(uint64_t) : 0));
    return true;
}

/* The cache limit is split: half for the depots, half shared out between
 * the slots' own bins (all of it for the depots without slots). */
static size_t depot_limit(weft__mem_t *m, const kind_t *k)
{
    size_t limit = atomic_load_explicit(&m->cache_limit, memory_order_relaxed);
    return k->ncaches ? limit / 2 : limit;
}

static size_t slot_limit(weft__mem_t *m, const kind_t *k)
{
    return atomic_load_explicit(&m->cache_limit, memory_order_relaxed) / 2 / (size_t)k->ncaches;
}

/* Counts a free big block as cached in a depot if the limit allows. */
static bool cache_room(weft__mem_t *m, kind_t *k, size_t size)
{
    size_t limit = depot_limit(m, k);
    if (atomic_fetch_add_explicit(&k->cached, size, memory_order_relaxed) + size <= limit)
        return true;
    atomic_fetch_sub_explicit(&k->cached, size, memory_order_relaxed);
    return false;
}

/* A freed big block: kept in the depot if the limit allows, else given
 * back to the system. */
static void keep_or_release(weft__mem_t *m, kind_t *k, depot_t *d, region_t *r, void *p)
{
    size_t size = weft__mem_class_size(r->cls);
    if (cache_room(m, k, size)) {
        pthread_mutex_lock(&d->lock);
        bool kept = depot_push(d, p);
        pthread_mutex_unlock(&d->lock);
        if (kept)
            return;
        atomic_fetch_sub_explicit(&k->cached, size, memory_order_relaxed);
    }
    region_release(k, r);
}

static __attribute__((noinline)) void kind_free(weft__mem_t *m, kind_t *k, region_t *r, void *p)
{
    unsigned cls = r->cls;
    size_t size = weft__mem_class_size(cls);
    if (!mark_freed(m, k, p, size))
        return;
    cache_t *c = cls < NCACHED ? slot_cache(m, k) : NULL;
    depot_t *d = &k->depot[cls];
    if (c) {
        bin_t *b = &c->bins[cls];
        count_free(k, c, (int64_t)size);
        if (cls >= NSMALL) { /* big blocks count against the limit wherever they wait */
            if (b->n < b->cap && c->held + size <= slot_limit(m, k)) {
                b->items[b->n++] = p;
                c->held += size;
            } else {
                keep_or_release(m, k, d, r, p);
            }
            return;
        }
        if (b->n == b->cap) { /* half of the bin to the depot */
            uint32_t half = b->cap / 2;
            pthread_mutex_lock(&d->lock);
            uint32_t moved = 0;
            while (moved < half && depot_push(d, b->items[b->n - 1 - moved]))
                moved++;
            pthread_mutex_unlock(&d->lock);
            b->n -= moved;
            if (b->n == b->cap) { /* the depot could not grow: keep p out */
                pthread_mutex_lock(&d->lock);
                depot_push(d, p);
                pthread_mutex_unlock(&d->lock);
                return;
            }
        }
        b->items[b->n++] = p;
        return;
    }
    account_shared(k, -(int64_t)size);
    if (cls >= NSMALL) {
        keep_or_release(m, k, d, r, p);
        return;
    }
    pthread_mutex_lock(&d->lock);
    depot_push(d, p); /* out of memory for the depot: the block is lost, not the pool */
    pthread_mutex_unlock(&d->lock);
}

/* ---- lifetime ---------------------------------------------------------- */

static uint32_t bin_cap(unsigned cls)
{
    if (cls >= NSMALL)
        return 2;
    size_t n = ((size_t)128 << 10) / weft__mem_class_size(cls);
    return n > 64 ? 64 : n < 4 ? 4 : (uint32_t)n;
}

static int kind_init(kind_t *k, const weft__mem_backend_t *be, int ncaches, int nworkers, const int *slot_numa,
                     int nnuma)
{
    memset(k, 0, sizeof *k);
    k->be = be;
    pthread_mutex_init(&k->map_lock, NULL);
    for (int i = 0; i < NCLASSES; i++)
        weft__lock_init(&k->depot[i].lock);
    k->nnuma = nnuma > 0 ? nnuma : 1;
    k->arenas = weft__malloc((size_t)k->nnuma * sizeof *k->arenas);
    if (!k->arenas) {
        k->nnuma = 0;
        return WEFT_ENOMEM;
    }
    for (int n = 0; n < k->nnuma; n++)
        k->arenas[n] = be->arena_create ? be->arena_create() : -1;
    k->ncaches = ncaches;
    if (!ncaches)
        return 0;
    k->caches = weft__aligned_alloc(WEFT_CACHE_LINE, (size_t)ncaches * sizeof *k->caches);
    if (!k->caches)
        return WEFT_ENOMEM;
    memset(k->caches, 0, (size_t)ncaches * sizeof *k->caches);
    size_t per = 0;
    for (unsigned c = 0; c < NCACHED; c++)
        per += bin_cap(c);
    for (int i = 0; i < ncaches; i++) {
        cache_t *c = &k->caches[i];
        c->flush_at = FLUSH_BYTES;
        c->numa = i < nworkers ? (slot_numa ? slot_numa[i] : 0) : -1;
        /* lines of its own: written on every call, by one thread */
        c->store = weft__aligned_alloc(WEFT_CACHE_LINE,
                                       (per * sizeof *c->store + WEFT_CACHE_LINE - 1) & ~(size_t)(WEFT_CACHE_LINE - 1));
        if (!c->store)
            return WEFT_ENOMEM;
        void **at = c->store;
        for (unsigned b = 0; b < NCACHED; b++) {
            c->bins[b].cap = bin_cap(b);
            c->bins[b].items = at;
            at += c->bins[b].cap;
        }
    }
    return 0;
}

static void kind_fini(kind_t *k)
{
    /* Big blocks: those in the caches and the depots, and those still in
     * use (found through the map). Spans: the list. */
    for (int i = 0; i < (1 << MAP_BITS); i++) {
        region_t **leaf = atomic_load_explicit(&k->map[i], memory_order_relaxed);
        if (!leaf)
            continue;
        for (int j = 0; j < (1 << MAP_BITS); j++) {
            region_t *r = leaf[j];
            if (r && r->large) {
                UNPOISON((void *)r->base, r->size);
                k->be->release((void *)r->base, r->size, SPAN);
                weft__aligned_free(r);
            }
        }
        weft__free(leaf);
    }
    for (region_t *r = k->all_spans, *n; r; r = n) {
        n = r->next;
        weft__aligned_free((void *)atomic_load_explicit(&r->recs, memory_order_relaxed));
        UNPOISON((void *)r->base, r->size);
        k->be->release((void *)r->base, r->size, SPAN);
        weft__aligned_free(r);
    }
    for (region_t *r = k->spare, *n; r; r = n) {
        n = r->next;
        weft__aligned_free(r);
    }
    for (int i = 0; i < NCLASSES; i++) {
        weft__free(k->depot[i].items);
        pthread_mutex_destroy(&k->depot[i].lock);
    }
    for (int i = 0; k->caches && i < k->ncaches; i++)
        weft__aligned_free(k->caches[i].store);
    weft__aligned_free(k->caches);
    for (int n = 0; n < k->nnuma; n++)
        if (k->arenas[n] >= 0 && k->be->arena_destroy)
            k->be->arena_destroy(k->arenas[n]); /* every region is released by now */
    weft__free(k->arenas);
    pthread_mutex_destroy(&k->map_lock);
}

static size_t default_cache_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t quarter = pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 4 : (size_t)1 << 30;
    return quarter < ((size_t)1 << 30) ? quarter : (size_t)1 << 30;
}

int weft__mem_create(weft__exec_owner_t *pool, const int *slot_numa, int nnuma, weft__mem_t **out)
{
    weft__memtrace_attach(); /* the malloc tracer, when preloaded (memory/memtrace.h) */
    weft__mem_t *m = weft__aligned_alloc(WEFT_CACHE_LINE, sizeof *m);
    if (!m)
        return WEFT_ENOMEM;
    memset(m, 0, sizeof *m);
    m->pool = pool;
    m->nworkers = pool ? pool->nworkers : 0;
    pthread_mutex_init(&m->track_lock, NULL);
    m->task_end = (weft__task_hook_t){task_ended, m};
    atomic_store(&m->cache_limit, default_cache_limit());
    if (weft__gpumem_create(&m->gpu) != 0 ||
        kind_init(&m->host, &weft__mem_host, pool ? pool->nslots : 0, m->nworkers, slot_numa, nnuma) != 0) {
        weft__mem_destroy(m);
        return WEFT_ENOMEM;
    }
    *out = m;
    return 0;
}

void weft__mem_destroy(weft__mem_t *m)
{
    if (!m)
        return;
    weft__track_t *t = atomic_load_explicit(&m->track, memory_order_acquire);
    if (t) {
        size_t n = weft__track_report_leaks(t, walk_records, &m->host, stderr);
        if (n)
            weft__log("memory leak: %zu block(s) of the pool still in use when the runtime was destroyed", n);
        weft__track_destroy(t);
    }
    for (size_t i = 0; i < m->nretired; i++)
        weft__track_destroy(m->retired[i]);
    weft__free(m->retired);
    pthread_mutex_destroy(&m->track_lock);
    detach(m);
    weft__gpumem_destroy(m->gpu);
    kind_fini(&m->host);
    weft__aligned_free(m);
}

/* ---- tracking (memory/track.c) ------------------------------------------ */

/* A task's function returned on this thread: what it allocated and freed
 * here goes to its counters. */
static void task_ended(void *ud)
{
    weft__mem_t *m = ud;
    weft__track_t *t = atomic_load_explicit(&m->track, memory_order_acquire);
    cache_t *c = t ? slot_cache(m, &m->host) : NULL;
    if (c)
        weft__track_task_end(t, &c->track);
}

int weft_mem_track_start(weft_runtime_t *rt, int depth)
{
    weft__mem_t *m = mem_of(rt);
    if (!m || depth < 0 || depth > WEFT__TRACK_MAX_DEPTH)
        return WEFT_EINVAL;
    pthread_mutex_lock(&m->track_lock);
    int rc = WEFT_ESTATE;
    weft__track_t *t = NULL;
    unsigned gen = m->track_gen % 0xFFFF + 1; /* 1..65535, a new one each start */
    if (!atomic_load_explicit(&m->track, memory_order_relaxed) && (rc = weft__track_create(depth, gen, &t)) == 0) {
        m->track_gen = gen;
        atomic_store_explicit(&m->track, t, memory_order_release);
        if (m->pool)
            atomic_store_explicit(&m->pool->task_end, &m->task_end, memory_order_release);
    }
    pthread_mutex_unlock(&m->track_lock);
    return rc;
}

int weft_mem_track_stop(weft_runtime_t *rt)
{
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return WEFT_EINVAL;
    pthread_mutex_lock(&m->track_lock);
    weft__track_t *t = atomic_load_explicit(&m->track, memory_order_relaxed);
    int rc = WEFT_ESTATE;
    if (t) {
        /* Threads inside an allocation may still hold it: it is kept until
         * the runtime goes (records and all; they are few by then). */
        weft__track_t **nr = weft__realloc(m->retired, (m->nretired + 1) * sizeof *nr);
        rc = WEFT_ENOMEM;
        if (nr) {
            m->retired = nr;
            m->retired[m->nretired++] = t;
            atomic_store_explicit(&m->track, NULL, memory_order_release);
            if (m->pool)
                atomic_store_explicit(&m->pool->task_end, NULL, memory_order_release);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&m->track_lock);
    return rc;
}

int weft_mem_tracking(weft_runtime_t *rt)
{
    weft__mem_t *m = mem_of(rt);
    return m && atomic_load_explicit(&m->track, memory_order_acquire) != NULL;
}

int weft_mem_task_usage(weft_runtime_t *rt, const char *task, size_t *current, size_t *peak)
{
    weft__mem_t *m = mem_of(rt);
    if (!m || !current || !peak)
        return WEFT_EINVAL;
    weft__track_t *t = atomic_load_explicit(&m->track, memory_order_acquire);
    if (!t)
        return WEFT_ESTATE;
    kind_t *k = &m->host;
    weft__track_task_usage(t, task, k->caches ? &k->caches[0].track : NULL, (size_t)k->ncaches, sizeof(cache_t),
                           current, peak);
    return 0;
}

int weft_mem_snapshot_take(weft_runtime_t *rt, weft_mem_snapshot_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return WEFT_EINVAL;
    weft__track_t *t = atomic_load_explicit(&m->track, memory_order_acquire);
    return t ? weft__track_snapshot(t, walk_records, &m->host, out) : WEFT_ESTATE;
}

/* ---- the calls (include/weft/memory.h) --------------------------------- */

/* Where block p's tracking record lives (r: its region): its span's table
 * (made on first use when `make`), or its region's own word. NULL when
 * none can be had. Only the block's owner (whoever allocated or is freeing
 * it) writes it. */
static _Atomic uint64_t *record_slot(region_t *r, const void *p, bool make)
{
    if (r->large)
        return &r->rec;
    _Atomic uint64_t *recs = atomic_load_explicit(&r->recs, memory_order_acquire);
    if (__builtin_expect(!recs, 0)) {
        if (!make)
            return NULL;
        size_t bytes =
            (r->size / r->block * r->rstride * sizeof *recs + WEFT_CACHE_LINE - 1) & ~(size_t)(WEFT_CACHE_LINE - 1);
        _Atomic uint64_t *fresh = weft__aligned_alloc(WEFT_CACHE_LINE, bytes);
        if (!fresh)
            return NULL;
        memset((void *)fresh, 0, bytes);
        if (atomic_compare_exchange_strong_explicit(&r->recs, &recs, fresh, memory_order_acq_rel, memory_order_acquire))
            recs = fresh;
        else
            weft__aligned_free((void *)fresh); /* another thread's came first */
    }
    uint64_t index = (uint64_t)(((uintptr_t)p - r->base) >> r->shift) * r->inv; /* exact division */
    return &recs[index * r->rstride];
}

/* The pool's live records for a snapshot: every region in the map. */
static void walk_records(void *wud, weft__track_visit_fn visit, void *vud)
{
    kind_t *k = wud;
    pthread_mutex_lock(&k->map_lock);
    for (int i = 0; i < (1 << MAP_BITS); i++) {
        region_t **leaf = atomic_load_explicit(&k->map[i], memory_order_acquire);
        for (int j = 0; leaf && j < (1 << MAP_BITS); j++) {
            region_t *r = __atomic_load_n(&leaf[j], __ATOMIC_ACQUIRE);
            if (!r)
                continue;
            if (r->large) {
                uint64_t rec = atomic_load_explicit(&r->rec, memory_order_relaxed);
                if (rec)
                    visit(vud, rec, r->size);
                continue;
            }
            _Atomic uint64_t *recs = atomic_load_explicit(&r->recs, memory_order_acquire);
            size_t n = atomic_load_explicit(&r->carved, memory_order_acquire) / r->block;
            for (size_t b = 0; recs && b < n; b++) {
                uint64_t rec = atomic_load_explicit(&recs[b * r->rstride], memory_order_relaxed);
                if (rec)
                    visit(vud, rec, r->block);
            }
        }
    }
    pthread_mutex_unlock(&k->map_lock);
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
    if (mine.k == k) {
        *task = *mine.running;
        return mine.c;
    }
    *task = running_task(m->pool);
    return slot_cache(m, k);
}

/* A record the long way: return addresses (the caller's, and more from
 * backtrace() when depth asks for them), then the tracker's tables. */
static __attribute__((noinline)) uint64_t record_slow(weft__track_t *t, weft__track_cache_t *tc, weft_task_t *task,
                                                      const char *file, int line, void *caller)
{
    void *trace[WEFT__TRACK_MAX_DEPTH + 3];
    int depth = weft__track_depth(t), n = 0;
    if (depth == 1) {
        trace[0] = caller;
        n = 1;
    } else if (depth > 1) {
        /* frames: record_slow, tracked_alloc, weft_mem_alloc(_at), then the caller's */
        n = backtrace(trace, depth + 3);
        int skip = 0;
        while (skip < n && trace[skip] != caller)
            skip++;
        if (skip == n) { /* frames folded away (tail calls): the caller alone */
            trace[0] = caller;
            n = 1;
        } else {
            n -= skip;
            memmove(trace, trace + skip, (size_t)n * sizeof trace[0]);
        }
    }
    return weft__track_record(t, tc, task, file, line, trace, n);
}

/* Tracking: the block, then its record (task, file:line, return addresses)
 * and the task's bytes; what the thread saw last is remembered in its
 * slot's cache. */
static __attribute__((noinline)) void *tracked_alloc(weft__mem_t *m, size_t bytes, const char *file, int line,
                                                     void *caller)
{
    kind_t *k = &m->host;
    weft_task_t *task;
    cache_t *c = current(m, k, &task);
    void *p = c ? bin_pop(k, c, bytes) : NULL;
    if (!p && !(p = kind_alloc(m, k, bytes)))
        return NULL;
    weft__track_t *t = atomic_load_explicit(&m->track, memory_order_acquire);
    if (!t)
        return p;
    bin_t *memo = c && bytes <= SMALL_MAX ? &c->bins[weft__mem_class(bytes)] : NULL;
    _Atomic uint64_t *slot;
    int64_t size;
    if (memo && memo->recs && (uintptr_t)p - memo->span < SPAN) {
        slot = &memo->recs[(((uintptr_t)p - memo->span) >> memo->shift) * memo->inv * memo->rstride];
        size = (int64_t)weft__mem_class_size(weft__mem_class(bytes));
    } else {
        region_t *r = lookup(k, p);
        if (!r || !(slot = record_slot(r, p, true)))
            return p;
        size = (int64_t)r->block;
        if (memo && !r->large) { /* spans stay until the pool goes */
            memo->span = r->base;
            memo->recs = atomic_load_explicit(&r->recs, memory_order_relaxed);
            memo->inv = r->inv;
            memo->shift = r->shift;
            memo->rstride = r->rstride;
        }
    }
    weft__track_cache_t *tc = c ? &c->track : NULL;
    int depth = weft__track_depth(t);
    uint64_t rec = tc && depth <= 1 ? weft__track_record_cached(t, tc, task, file, line, depth ? caller : NULL) : 0;
    if (!rec && !(rec = record_slow(t, tc, task, file, line, caller)))
        return p;
    atomic_store_explicit(slot, rec, memory_order_relaxed);
    if (!tc || !weft__track_account_cached(t, tc, rec, size))
        weft__track_account(t, tc, rec, size);
    return p;
}

/* Tracking: the block's record cleared (before the block can be handed out
 * again) and its task's bytes, then the block freed. */
static __attribute__((noinline)) void tracked_free(weft__mem_t *m, weft__track_t *t, kind_t *k, region_t *r, void *p)
{
    cache_t *c = slot_cache(m, k);
    _Atomic uint64_t *slot = record_slot(r, p, false);
    uint64_t rec = slot ? atomic_load_explicit(slot, memory_order_relaxed) : 0;
    if (rec) {
        atomic_store_explicit(slot, 0, memory_order_relaxed);
        weft__track_cache_t *tc = c ? &c->track : NULL;
        int64_t bytes = -(int64_t)r->block;
        if (WEFT__REC_GEN(rec) == weft__track_gen(t) && (!tc || !weft__track_account_cached(t, tc, rec, bytes)))
            weft__track_account(t, tc, rec, bytes);
    }
    if (!c || !bin_push(k, c, r, p))
        kind_free(m, k, r, p);
}

void *weft_mem_alloc_at(weft_runtime_t *rt, size_t bytes, const char *file, int line)
{
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return NULL;
    if (atomic_load_explicit(&m->track, memory_order_relaxed))
        return tracked_alloc(m, bytes, file, line, __builtin_return_address(0));
    return weft_mem_alloc(rt, bytes);
}

/* The fast paths: a worker taking a block from its own bin, or putting one
 * back, with nothing else to do; everything else in kind_alloc/kind_free. */
void *weft_mem_alloc(weft_runtime_t *rt, size_t bytes)
{
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return NULL;
    kind_t *k = &m->host;
    if (__builtin_expect(atomic_load_explicit(&m->track, memory_order_relaxed) != NULL, 0))
        return tracked_alloc(m, bytes, NULL, 0, __builtin_return_address(0));
    void *p = mine.k == k ? bin_pop(k, mine.c, bytes) : NULL;
    return p ? p : kind_alloc(m, k, bytes);
}

int weft_mem_alloc_kind(weft_runtime_t *rt, weft_mem_kind_t kind, int device, size_t bytes, void **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return WEFT_EINVAL;
    if ((kind == WEFT_MEM_PINNED || kind == WEFT_MEM_DEVICE) && bytes <= WEFT_MEM_MAX_BYTES)
        return weft__gpumem_alloc(m->gpu, kind, device, bytes, out);
    if (kind != WEFT_MEM_HOST || bytes > WEFT_MEM_MAX_BYTES)
        return WEFT_EINVAL;
    *out = kind_alloc(m, &m->host, bytes);
    return *out ? 0 : WEFT_ENOMEM;
}

void weft_mem_free(weft_runtime_t *rt, void *p)
{
    if (!p)
        return;
    if (!rt) {
        weft__log("weft_mem_free(%p): NULL runtime; ignored", p);
        return;
    }
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return; /* reported (with checks) */
    kind_t *k = &m->host;
    region_t *r = owner(k, p);
    if (!r) {
        if (weft__gpumem_free(m->gpu, p))
            return;
        report(m, "weft_mem_free", p, "not a block of this runtime's memory pool; ignored");
        return;
    }
    weft__track_t *t = atomic_load_explicit(&m->track, memory_order_acquire);
    if (__builtin_expect(t != NULL, 0)) {
        tracked_free(m, t, k, r, p);
        return;
    }
    if (mine.k != k || !bin_push(k, mine.c, r, p))
        kind_free(m, k, r, p);
}

void weft__mem_free_idle(weft_runtime_t *rt, void *p)
{
    weft__mem_t *m = p && rt ? mem_of(rt) : NULL;
    if (m && !owner(&m->host, p) && weft__gpumem_free_idle(m->gpu, p))
        return;
    weft_mem_free(rt, p);
}

int weft__mem_copy(weft_runtime_t *rt, int ndim, const int64_t *shape, char *dst, const int64_t *dstr, const char *src,
                   const int64_t *sstr, size_t es, void *stream)
{
    weft__mem_t *m = mem_of(rt);
    return m ? weft__gpumem_copy(m->gpu, ndim, shape, dst, dstr, src, sstr, es, stream) : WEFT_EINVAL;
}

size_t weft_mem_size(weft_runtime_t *rt, const void *p)
{
    weft__mem_t *m = p ? mem_of(rt) : NULL;
    region_t *r = m ? owner(&m->host, p) : NULL;
    return r ? r->block : m ? weft__gpumem_size(m->gpu, p) : 0;
}

static void kind_stats(kind_t *k, weft_mem_stats_t *out)
{
    int64_t flushed = atomic_load_explicit(&k->in_use, memory_order_relaxed), deltas = 0, maxes = 0;
    uint64_t allocs = atomic_load_explicit(&k->allocs, memory_order_relaxed);
    uint64_t frees = atomic_load_explicit(&k->frees, memory_order_relaxed);
    for (int i = 0; i < k->ncaches; i++) {
        cache_t *c = &k->caches[i];
        int64_t d = atomic_load_explicit(&c->delta, memory_order_relaxed);
        int64_t dm = atomic_load_explicit(&c->delta_max, memory_order_relaxed);
        deltas += d;
        maxes += dm > d ? dm : d;
        allocs += atomic_load_explicit(&c->allocs, memory_order_relaxed);
        frees += atomic_load_explicit(&c->frees, memory_order_relaxed);
    }
    int64_t in_use = flushed + deltas, peak = atomic_load_explicit(&k->peak, memory_order_relaxed);
    if (flushed + maxes > peak)
        peak = flushed + maxes;
    out->in_use = in_use > 0 ? (size_t)in_use : 0;
    out->peak = peak > 0 ? (size_t)peak : 0;
    if (out->peak < out->in_use)
        out->peak = out->in_use;
    out->reserved = atomic_load_explicit(&k->reserved, memory_order_relaxed);
    out->allocs = allocs;
    out->frees = frees;
}

int weft_mem_stats_kind(weft_runtime_t *rt, weft_mem_kind_t kind, int device, weft_mem_stats_t *out)
{
    weft__mem_t *m = out ? mem_of(rt) : NULL;
    if (!m)
        return WEFT_EINVAL;
    if (kind == WEFT_MEM_PINNED || kind == WEFT_MEM_DEVICE)
        return weft__gpumem_stats(m->gpu, kind, device, out);
    if (kind != WEFT_MEM_HOST)
        return WEFT_EINVAL;
    kind_stats(&m->host, out);
    return 0;
}

uint64_t weft__mem_gpu_usage(weft_runtime_t *rt, size_t in_use[64], size_t *pinned)
{
    weft__mem_t *m = mem_of(rt);
    *pinned = 0;
    return m ? weft__gpumem_usage(m->gpu, in_use, pinned) : 0;
}

int weft_mem_stats(weft_runtime_t *rt, weft_mem_stats_t *out)
{
    return weft_mem_stats_kind(rt, WEFT_MEM_HOST, 0, out);
}

int weft_mem_reset_peak(weft_runtime_t *rt)
{
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return WEFT_EINVAL;
    /* Each cache's high mark restarts from where it is. A worker counting
     * at this very moment may put its old mark back: under concurrent
     * allocation the peak is approximate anyway (weft/memory.h). */
    weft__gpumem_reset_peak(m->gpu);
    kind_t *k = &m->host;
    for (int i = 0; i < k->ncaches; i++)
        atomic_store_explicit(&k->caches[i].delta_max, atomic_load_explicit(&k->caches[i].delta, memory_order_relaxed),
                              memory_order_relaxed);
    weft_mem_stats_t s;
    kind_stats(k, &s);
    atomic_store_explicit(&k->peak, (int64_t)s.in_use, memory_order_relaxed);
    return 0;
}

/* Big blocks in the depots back to the system (those in slot caches, at
 * most two per class and slot, go when the limit next refuses them). */
static void trim_to(kind_t *k, size_t limit)
{
    for (unsigned cls = NSMALL; cls < NCLASSES; cls++) {
        depot_t *d = &k->depot[cls];
        size_t size = weft__mem_class_size(cls);
        for (;;) {
            if (atomic_load_explicit(&k->cached, memory_order_relaxed) <= limit)
                return;
            pthread_mutex_lock(&d->lock);
            void *p = d->n ? d->items[--d->n] : NULL;
            pthread_mutex_unlock(&d->lock);
            if (!p)
                break;
            atomic_fetch_sub_explicit(&k->cached, size, memory_order_relaxed);
            region_t *r = lookup(k, p);
            if (r)
                region_release(k, r);
        }
    }
}

int weft_mem_set_cache_limit(weft_runtime_t *rt, size_t bytes)
{
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return WEFT_EINVAL;
    atomic_store_explicit(&m->cache_limit, bytes, memory_order_relaxed);
    trim_to(&m->host, depot_limit(m, &m->host));
    return 0;
}

int weft_mem_trim(weft_runtime_t *rt)
{
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return WEFT_EINVAL;
    trim_to(&m->host, 0);
    weft__gpumem_trim(m->gpu);
    return 0;
}
