/* Tracking of the memory pool's blocks (memory/track.c does the
 * bookkeeping): each block's record, tracked allocations and frees, the
 * task-end hook, the public tracking calls and the snapshot walk. */
#include "memory/pool_internal.h"

/* ---- tracking (memory/track.c) ------------------------------------------ */

/* A task's function returned on this thread: what it allocated and freed
 * here goes to its counters. */
void weft__mem_task_ended(void *ud)
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
    return t ? weft__track_snapshot(t, weft__mem_walk_records, &m->host, out) : WEFT_ESTATE;
}

/* Where block p's tracking record lives (r: its region): its span's table
 * (made on first use when `make`), or its region's own word. NULL when
 * none can be had. Only the block's owner (whoever allocated or is freeing
 * it) writes it. */
_Atomic uint64_t *weft__mem_record_slot(region_t *r, const void *p, bool make)
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
void weft__mem_walk_records(void *wud, weft__track_visit_fn visit, void *vud)
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
__attribute__((noinline)) void *weft__mem_tracked_alloc(weft__mem_t *m, size_t bytes, const char *file, int line,
                                                        void *caller)
{
    kind_t *k = &m->host;
    weft_task_t *task;
    cache_t *c = current(m, k, &task);
    void *p = c ? bin_pop(k, c, bytes) : NULL;
    if (!p && !(p = weft__mem_kind_alloc(m, k, bytes)))
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
        if (!r || !(slot = weft__mem_record_slot(r, p, true)))
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
__attribute__((noinline)) void weft__mem_tracked_free(weft__mem_t *m, weft__track_t *t, kind_t *k, region_t *r, void *p)
{
    cache_t *c = slot_cache(m, k);
    _Atomic uint64_t *slot = weft__mem_record_slot(r, p, false);
    uint64_t rec = slot ? atomic_load_explicit(slot, memory_order_relaxed) : 0;
    if (rec) {
        atomic_store_explicit(slot, 0, memory_order_relaxed);
        weft__track_cache_t *tc = c ? &c->track : NULL;
        int64_t bytes = -(int64_t)r->block;
        if (WEFT__REC_GEN(rec) == weft__track_gen(t) && (!tc || !weft__track_account_cached(t, tc, rec, bytes)))
            weft__track_account(t, tc, rec, bytes);
    }
    if (!c || !bin_push(k, c, r, p))
        weft__mem_kind_free(m, k, r, p);
}
