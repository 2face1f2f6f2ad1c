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
#include "memory/pool_internal.h"

__thread __attribute__((tls_model("initial-exec"))) weft__mem_mine_t weft__mem_mine;

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
weft__mem_t *weft__mem_of_checked(weft_runtime_t *rt, const char *call)
{
    if (!rt)
        return NULL;
    if (CHECKS && !is_live(rt)) {
        weft__log("%s: runtime %p is not alive (destroyed already?); ignored", call, (void *)rt);
        return NULL;
    }
    return ((weft__mem_owner_t *)rt)->mem;
}

void weft__mem_report(weft__mem_t *m, const char *call, const void *p, const char *why)
{
    weft_task_t *t = running_task(m->pool);
    char lb[32];
    if (t)
        weft__log("%s(%p) in task '%s': %s", call, p, weft__exec_task_label(t, lb, sizeof lb), why);
    else
        weft__log("%s(%p) outside any task: %s", call, p, why);
}

/* ---- the address map --------------------------------------------------- */

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
void weft__mem_region_release(kind_t *k, region_t *r)
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
void weft__mem_flush(kind_t *k, cache_t *c, int64_t delta, int64_t dmax)
{
    int64_t before = atomic_fetch_add_explicit(&k->in_use, delta, memory_order_relaxed);
    peak_at_least(k, before + dmax);
    atomic_store_explicit(&c->delta, 0, memory_order_relaxed);
    atomic_store_explicit(&c->delta_max, 0, memory_order_relaxed);
}

/* ---- alloc and free ---------------------------------------------------- */

static void mark_allocated(kind_t *k, void *p, size_t size)
{
    UNPOISON(p, size);
    if (CHECKS && k->be->host_access)
        memset(p, 0, 2 * sizeof(uint64_t));
}

__attribute__((noinline)) void *weft__mem_kind_alloc(weft__mem_t *m, kind_t *k, size_t bytes)
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

/* With checks: a freed host block carries MARK ^ address in its first two
 * words; finding it there on free means the block was freed already. */
static bool mark_freed(weft__mem_t *m, kind_t *k, void *p, size_t size)
{
    if (CHECKS && k->be->host_access) {
        uint64_t *w = p;
        uint64_t a = MARK ^ (uint64_t)(uintptr_t)p, b = ~MARK ^ (uint64_t)(uintptr_t)p;
        if (w[0] == a && w[1] == b) {
            weft__mem_report(m, "weft_mem_free", p, "freed already (a double free); ignored");
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
size_t weft__mem_depot_limit(weft__mem_t *m, const kind_t *k)
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
    size_t limit = weft__mem_depot_limit(m, k);
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
    weft__mem_region_release(k, r);
}

__attribute__((noinline)) void weft__mem_kind_free(weft__mem_t *m, kind_t *k, region_t *r, void *p)
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
    m->task_end = (weft__task_hook_t){weft__mem_task_ended, m};
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
        size_t n = weft__track_report_leaks(t, weft__mem_walk_records, &m->host, stderr);
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
