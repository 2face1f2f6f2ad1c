/* The memory pool's public calls (include/weft/memory.h): allocation with
 * the inline fast path of a slot's cache, free, sizes, statistics, cache
 * limits and trimming. */
#include "memory/pool_internal.h"

/* ---- the calls (include/weft/memory.h) --------------------------------- */

void *weft_mem_alloc_at(weft_runtime_t *rt, size_t bytes, const char *file, int line)
{
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return NULL;
    if (atomic_load_explicit(&m->track, memory_order_relaxed))
        return weft__mem_tracked_alloc(m, bytes, file, line, __builtin_return_address(0));
    return weft_mem_alloc(rt, bytes);
}

/* The fast paths: a worker taking a block from its own bin, or putting one
 * back, with nothing else to do; everything else in weft__mem_kind_alloc/weft__mem_kind_free. */
void *weft_mem_alloc(weft_runtime_t *rt, size_t bytes)
{
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return NULL;
    kind_t *k = &m->host;
    if (__builtin_expect(atomic_load_explicit(&m->track, memory_order_relaxed) != NULL, 0))
        return weft__mem_tracked_alloc(m, bytes, NULL, 0, __builtin_return_address(0));
    void *p = weft__mem_mine.k == k ? bin_pop(k, weft__mem_mine.c, bytes) : NULL;
    return p ? p : weft__mem_kind_alloc(m, k, bytes);
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
    *out = weft__mem_kind_alloc(m, &m->host, bytes);
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
        weft__mem_report(m, "weft_mem_free", p, "not a block of this runtime's memory pool; ignored");
        return;
    }
    weft__track_t *t = atomic_load_explicit(&m->track, memory_order_acquire);
    if (__builtin_expect(t != NULL, 0)) {
        weft__mem_tracked_free(m, t, k, r, p);
        return;
    }
    if (weft__mem_mine.k != k || !bin_push(k, weft__mem_mine.c, r, p))
        weft__mem_kind_free(m, k, r, p);
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
                weft__mem_region_release(k, r);
        }
    }
}

int weft_mem_set_cache_limit(weft_runtime_t *rt, size_t bytes)
{
    weft__mem_t *m = mem_of(rt);
    if (!m)
        return WEFT_EINVAL;
    atomic_store_explicit(&m->cache_limit, bytes, memory_order_relaxed);
    trim_to(&m->host, weft__mem_depot_limit(m, &m->host));
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
