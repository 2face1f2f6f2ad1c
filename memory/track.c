/* Allocation tracking (see memory/track.h): sites and tasks interned once
 * (remembered per thread, so that recording takes no lock), per-task
 * current/peak counters, and snapshots that aggregate the pool's records by
 * (task, site) and own copies of what they name. The records themselves
 * live in the pool, a word per block (memory/pool.c). */
#include "memory/track.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "memory/intern.h"
#include "base/base.h"

#define TASK_CHUNK 4096 /* tasks are found by id without a lock: chunks never move */
#define MAX_IDS 0xFFFFFF

typedef struct site {
    const char *file; /* the caller's literal */
    int line, ntrace;
    void *trace[WEFT__TRACK_MAX_DEPTH];
} site_t;

typedef struct task {
    alignas(64) _Atomic int64_t current, peak; /* a line each task: no false sharing */
    char *name;                                /* NULL: outside any task */
} task_t;

struct weft__track {
    weft__track_head_t head;    /* first: the inline accessors read it */
    pthread_mutex_t names_lock; /* sites and tasks */
    site_t *sites;
    size_t nsites, capsites;
    weft__intern_t site_ix;
    _Atomic(task_t **) chunks[MAX_IDS / TASK_CHUNK + 1]; /* task id -> task */
    size_t ntasks;
    weft__intern_t task_ix;
};

static task_t *task_at(const weft__track_t *t, uint32_t id)
{
    task_t **chunk = atomic_load_explicit(&((weft__track_t *)t)->chunks[id / TASK_CHUNK], memory_order_acquire);
    return chunk ? chunk[id % TASK_CHUNK] : NULL;
}

/* ---- hashing ------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return x;
}

static uint64_t hash_str(const char *s, uint64_t h)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return h;
}

static uint64_t site_hash(const site_t *s)
{
    uint64_t h = mix((uint64_t)(uintptr_t)s->file ^ ((uint64_t)s->line << 32));
    for (int i = 0; i < s->ntrace; i++)
        h = mix(h ^ (uint64_t)(uintptr_t)s->trace[i]);
    return h;
}

static bool site_eq(const site_t *a, const site_t *b)
{
    return a->file == b->file && a->line == b->line && a->ntrace == b->ntrace &&
           !memcmp(a->trace, b->trace, (size_t)a->ntrace * sizeof a->trace[0]);
}

static uint64_t site_hash_of(void *ctx, uint32_t id)
{
    return site_hash(&((weft__track_t *)ctx)->sites[id]);
}

static uint64_t task_hash_of(void *ctx, uint32_t id)
{
    return hash_str(task_at(ctx, id)->name, 1469598103934665603u);
}

/* names_lock held. */
static uint32_t site_id(weft__track_t *t, const site_t *key)
{
    uint64_t h = site_hash(key);
    if (t->site_ix.cap)
        for (size_t i = h & (t->site_ix.cap - 1); t->site_ix.slots[i]; i = (i + 1) & (t->site_ix.cap - 1))
            if (site_eq(&t->sites[t->site_ix.slots[i] - 1], key))
                return t->site_ix.slots[i] - 1;
    if (t->nsites >= MAX_IDS || weft__intern_grow(&t->site_ix, t->nsites, site_hash_of, t, weft__calloc, weft__free))
        return UINT32_MAX;
    if (WEFT__GROW(t->sites, t->capsites, t->nsites + 1, 64))
        return UINT32_MAX;
    uint32_t id = (uint32_t)t->nsites++;
    site_t *n = &t->sites[id];
    memset(n, 0, sizeof *n);
    n->file = key->file;
    n->line = key->line;
    n->ntrace = key->ntrace;
    memcpy(n->trace, key->trace, (size_t)key->ntrace * sizeof key->trace[0]);
    weft__intern_put(&t->site_ix, h, id);
    return id;
}

/* names_lock held. */
static uint32_t task_id(weft__track_t *t, const char *name)
{
    uint64_t h = hash_str(name, 1469598103934665603u);
    if (t->task_ix.cap)
        for (size_t i = h & (t->task_ix.cap - 1); t->task_ix.slots[i]; i = (i + 1) & (t->task_ix.cap - 1)) {
            const char *n = task_at(t, t->task_ix.slots[i] - 1)->name;
            if (n == name || (n && name && !strcmp(n, name)))
                return t->task_ix.slots[i] - 1;
        }
    if (t->ntasks >= MAX_IDS || weft__intern_grow(&t->task_ix, t->ntasks, task_hash_of, t, weft__calloc, weft__free))
        return UINT32_MAX;
    uint32_t id = (uint32_t)t->ntasks;
    task_t **chunk = atomic_load_explicit(&t->chunks[id / TASK_CHUNK], memory_order_relaxed);
    if (!chunk) {
        chunk = weft__calloc(TASK_CHUNK, sizeof *chunk);
        if (!chunk)
            return UINT32_MAX;
        atomic_store_explicit(&t->chunks[id / TASK_CHUNK], chunk, memory_order_release);
    }
    task_t *k = weft__aligned_alloc(64, sizeof *k);
    if (!k)
        return UINT32_MAX;
    memset(k, 0, sizeof *k);
    if (name && !(k->name = weft__strdup(name))) {
        weft__aligned_free(k);
        return UINT32_MAX;
    }
    __atomic_store_n(&chunk[id % TASK_CHUNK], k, __ATOMIC_RELEASE);
    t->ntasks++;
    weft__intern_put(&t->task_ix, h, id);
    return id;
}

/* ---- lifetime -------------------------------------------------------------- */

int weft__track_create(int depth, unsigned gen, weft__track_t **out)
{
    if (depth < 0 || depth > WEFT__TRACK_MAX_DEPTH || gen == 0 || gen > 0xFFFF)
        return WEFT_EINVAL;
    weft__track_t *t = weft__calloc(1, sizeof *t);
    if (!t)
        return WEFT_ENOMEM;
    t->head.depth = depth;
    t->head.gen = gen;
    pthread_mutex_init(&t->names_lock, NULL);
    *out = t;
    return 0;
}

void weft__track_destroy(weft__track_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ntasks; i++) {
        task_t *k = task_at(t, (uint32_t)i);
        weft__free(k->name);
        weft__aligned_free(k);
    }
    for (size_t c = 0; c <= MAX_IDS / TASK_CHUNK; c++)
        weft__free(atomic_load_explicit(&t->chunks[c], memory_order_relaxed));
    weft__free(t->task_ix.slots);
    weft__free(t->sites);
    weft__free(t->site_ix.slots);
    pthread_mutex_destroy(&t->names_lock);
    weft__free(t);
}

/* ---- records ------------------------------------------------------------------ */

/* The id of `task` (NULL: outside any task): remembered in the task's own
 * word (its tracker generation and id + 1), or in the cache for outside. */
static uint32_t find_task(weft__track_t *t, weft__track_cache_t *c, weft_task_t *task)
{
    uint64_t *tag = task ? weft__exec_task_mem_tag(task) : NULL;
    uint32_t id;
    if (tag && *tag >> 32 == t->head.gen) {
        id = (uint32_t)*tag - 1;
    } else if (!task && c && c->outside) {
        id = c->outside - 1;
    } else {
        char label[16];
        pthread_mutex_lock(&t->names_lock);
        id = task_id(t, task ? weft__exec_task_label(task, label, sizeof label) : NULL);
        pthread_mutex_unlock(&t->names_lock);
        if (id == UINT32_MAX)
            return id;
        if (tag)
            *tag = (uint64_t)t->head.gen << 32 | (id + 1);
        else if (c)
            c->outside = id + 1;
    }
    __builtin_prefetch(task_at(t, id), 1); /* its counters, for when it ends */
    if (c) {                               /* the thread's task until it ends */
        c->task = task;
        c->task_id = id + 1;
    }
    return id;
}

static uint32_t find_site(weft__track_t *t, weft__track_cache_t *c, const site_t *key)
{
    void *pc = key->ntrace ? key->trace[0] : NULL;
    if (key->ntrace > 1)
        c = NULL; /* deep traces are not remembered */
    unsigned slot = weft__track_site_slot(key->file, key->line, pc);
    if (c && c->sites[slot].id && c->sites[slot].file == key->file && c->sites[slot].line == key->line &&
        c->sites[slot].pc == pc)
        return c->sites[slot].id - 1;
    pthread_mutex_lock(&t->names_lock);
    uint32_t id = site_id(t, key);
    pthread_mutex_unlock(&t->names_lock);
    if (c && id != UINT32_MAX) {
        c->sites[slot].file = key->file;
        c->sites[slot].line = key->line;
        c->sites[slot].pc = pc;
        c->sites[slot].id = id + 1;
    }
    return id;
}

uint64_t weft__track_record(weft__track_t *t, weft__track_cache_t *cache, weft_task_t *task, const char *file, int line,
                            void *const *trace, int ntrace)
{
    if (cache && atomic_load_explicit(&cache->t, memory_order_relaxed) != t) { /* another tracker's: start afresh */
        atomic_store_explicit(&cache->acct, 0, memory_order_relaxed);
        atomic_store_explicit(&cache->delta, 0, memory_order_relaxed);
        atomic_store_explicit(&cache->delta_max, 0, memory_order_relaxed);
        cache->outside = 0;
        cache->task = NULL;
        cache->task_id = 0;
        memset(cache->sites, 0, sizeof cache->sites);
        atomic_store_explicit(&cache->t, t, memory_order_release);
    }
    site_t s;
    s.file = file;
    s.line = file ? line : 0;
    s.ntrace = ntrace < t->head.depth ? ntrace : t->head.depth;
    s.trace[0] = NULL; /* (only the first ntrace count) */
    if (s.ntrace > 0)
        memcpy(s.trace, trace, (size_t)s.ntrace * sizeof s.trace[0]);
    uint32_t site = find_site(t, cache, &s), tid = find_task(t, cache, task);
    if (site == UINT32_MAX || tid == UINT32_MAX)
        return 0;
    return ((uint64_t)t->head.gen << 48) | ((uint64_t)site << 24) | tid;
}

static void peak_at_least(task_t *k, int64_t v)
{
    int64_t peak = atomic_load_explicit(&k->peak, memory_order_relaxed);
    while (v > peak &&
           !atomic_compare_exchange_weak_explicit(&k->peak, &peak, v, memory_order_relaxed, memory_order_relaxed))
        ;
}

/* The cache's pending bytes added to their task's counters. */
static void publish(weft__track_t *t, weft__track_cache_t *c)
{
    uint32_t acct = atomic_load_explicit(&c->acct, memory_order_relaxed);
    task_t *k = acct ? task_at(t, acct - 1) : NULL;
    if (k) /* the peak as if the pending bytes came on top of everything else */
        peak_at_least(k, atomic_fetch_add_explicit(&k->current, atomic_load_explicit(&c->delta, memory_order_relaxed),
                                                   memory_order_relaxed) +
                             atomic_load_explicit(&c->delta_max, memory_order_relaxed));
    atomic_store_explicit(&c->delta, 0, memory_order_relaxed);
    atomic_store_explicit(&c->delta_max, 0, memory_order_relaxed);
}

void weft__track_task_end(weft__track_t *t, weft__track_cache_t *c)
{
    if (atomic_load_explicit(&c->t, memory_order_relaxed) != t)
        return;
    c->task = NULL;
    c->task_id = 0;
    if (!atomic_load_explicit(&c->acct, memory_order_relaxed))
        return;
    publish(t, c);
    atomic_store_explicit(&c->acct, 0, memory_order_relaxed);
}

void weft__track_account(weft__track_t *t, weft__track_cache_t *c, uint64_t rec, int64_t bytes)
{
    uint32_t id = WEFT__REC_TASK(rec);
    if (c && bytes > 0 && atomic_load_explicit(&c->t, memory_order_relaxed) == t &&
        atomic_load_explicit(&c->acct, memory_order_relaxed) != id + 1) { /* a new task allocating here */
        publish(t, c);
        atomic_store_explicit(&c->acct, id + 1, memory_order_relaxed);
    }
    if (c && weft__track_account_cached(t, c, rec, bytes))
        return;
    task_t *k = task_at(t, id);
    if (k)
        peak_at_least(k, atomic_fetch_add_explicit(&k->current, bytes, memory_order_relaxed) + bytes);
}

void weft__track_task_usage(weft__track_t *t, const char *task, const void *caches, size_t n, size_t stride,
                            size_t *current, size_t *peak)
{
    *current = *peak = 0;
    pthread_mutex_lock(&t->names_lock);
    uint32_t id = UINT32_MAX;
    for (size_t i = 0; i < t->ntasks && id == UINT32_MAX; i++) {
        const char *name = task_at(t, (uint32_t)i)->name;
        if (name == task || (name && task && !strcmp(name, task)))
            id = (uint32_t)i;
    }
    pthread_mutex_unlock(&t->names_lock);
    if (id == UINT32_MAX)
        return;
    task_t *k = task_at(t, id);
    int64_t cur = atomic_load_explicit(&k->current, memory_order_relaxed);
    int64_t pk = atomic_load_explicit(&k->peak, memory_order_relaxed), pending = 0;
    for (size_t i = 0; i < n; i++) {
        const weft__track_cache_t *c = (const void *)((const char *)caches + i * stride);
        if (atomic_load_explicit(&c->t, memory_order_acquire) != t ||
            atomic_load_explicit(&c->acct, memory_order_relaxed) != id + 1)
            continue;
        int64_t high = cur + atomic_load_explicit(&c->delta_max, memory_order_relaxed);
        if (high > pk)
            pk = high;
        pending += atomic_load_explicit(&c->delta, memory_order_relaxed);
    }
    cur += pending;
    *current = cur > 0 ? (size_t)cur : 0;
    *peak = pk > 0 ? (size_t)pk : 0;
}

/* ---- snapshots ------------------------------------------------------------------ */

typedef struct agg {
    uint32_t site, task;
    size_t size, count;
} agg_t;

struct weft_mem_snapshot {
    agg_t *aggs;
    size_t naggs;
    site_t *sites; /* copies */
    size_t nsites;
    char **tasks; /* copies (NULL entries: outside any task) */
    size_t ntasks;
};

static int by_site_task(const void *a, const void *b)
{
    const agg_t *x = a, *y = b;
    if (x->site != y->site)
        return x->site < y->site ? -1 : 1;
    return (x->task > y->task) - (x->task < y->task);
}

typedef struct collect {
    weft__track_t *t;
    agg_t *aggs;
    size_t n, cap;
    bool oom;
} collect_t;

static void collect(void *ud, uint64_t rec, size_t size)
{
    collect_t *c = ud;
    if (WEFT__REC_GEN(rec) != c->t->head.gen || c->oom)
        return;
    if (WEFT__GROW(c->aggs, c->cap, c->n + 1, 256)) {
        c->oom = true;
        return;
    }
    c->aggs[c->n++] = (agg_t){WEFT__REC_SITE(rec), WEFT__REC_TASK(rec), size, 1};
}

int weft__track_snapshot(weft__track_t *t, weft__track_walk_fn walk, void *wud, weft_mem_snapshot_t **out)
{
    weft_mem_snapshot_t *s = weft__calloc(1, sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    collect_t c = {.t = t};
    walk(wud, collect, &c);
    s->aggs = c.aggs;
    s->naggs = c.n;
    if (c.oom) {
        weft_mem_snapshot_destroy(s);
        return WEFT_ENOMEM;
    }
    /* one entry per (site, task) */
    if (s->naggs)
        qsort(s->aggs, s->naggs, sizeof *s->aggs, by_site_task);
    size_t w = 0;
    for (size_t i = 0; i < s->naggs; i++) {
        if (w && s->aggs[w - 1].site == s->aggs[i].site && s->aggs[w - 1].task == s->aggs[i].task) {
            s->aggs[w - 1].size += s->aggs[i].size;
            s->aggs[w - 1].count++;
        } else {
            s->aggs[w++] = s->aggs[i];
        }
    }
    s->naggs = w;
    pthread_mutex_lock(&t->names_lock);
    s->nsites = t->nsites;
    s->ntasks = t->ntasks;
    s->sites = weft__malloc((s->nsites ? s->nsites : 1) * sizeof *s->sites);
    s->tasks = weft__calloc(s->ntasks ? s->ntasks : 1, sizeof *s->tasks);
    bool oom = !s->sites || !s->tasks;
    if (!oom && s->nsites)
        memcpy(s->sites, t->sites, s->nsites * sizeof *s->sites);
    for (size_t i = 0; !oom && i < s->ntasks; i++)
        if (task_at(t, (uint32_t)i)->name && !(s->tasks[i] = weft__strdup(task_at(t, (uint32_t)i)->name)))
            oom = true;
    pthread_mutex_unlock(&t->names_lock);
    if (oom) {
        weft_mem_snapshot_destroy(s);
        return WEFT_ENOMEM;
    }
    *out = s;
    return 0;
}

void weft_mem_snapshot_destroy(weft_mem_snapshot_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->tasks && i < s->ntasks; i++)
        weft__free(s->tasks[i]);
    weft__free(s->tasks);
    weft__free(s->sites);
    weft__free(s->aggs);
    weft__free(s);
}

/* Groups of one snapshot, as entries (size/count filled). */
static int group(const weft_mem_snapshot_t *s, weft_mem_group_t by, weft_mem_entry_t **out, size_t *n)
{
    weft_mem_entry_t *e = weft__calloc(s->naggs ? s->naggs : 1, sizeof *e);
    if (!e)
        return WEFT_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < s->naggs; i++) {
        const agg_t *a = &s->aggs[i];
        const site_t *site = &s->sites[a->site];
        weft_mem_entry_t x = {0};
        if (by == WEFT_MEM_BY_TASK) {
            x.task = s->tasks[a->task];
        } else {
            x.file = site->file;
            x.line = site->line;
            if (by == WEFT_MEM_BY_SITE) {
                x.ntrace = site->ntrace;
                x.trace = site->trace;
            }
        }
        /* merge with an equal group (linear: groups are few) */
        size_t j = 0;
        for (; j < k; j++) {
            const weft_mem_entry_t *y = &e[j];
            bool same = by == WEFT_MEM_BY_TASK
                            ? (x.task == y->task || (x.task && y->task && !strcmp(x.task, y->task)))
                            : x.line == y->line &&
                                  (x.file == y->file || (x.file && y->file && !strcmp(x.file, y->file))) &&
                                  x.ntrace == y->ntrace &&
                                  (!x.ntrace || !memcmp(x.trace, y->trace, (size_t)x.ntrace * sizeof x.trace[0]));
            if (same)
                break;
        }
        if (j == k)
            e[k++] = x;
        e[j].size += a->size;
        e[j].count += a->count;
    }
    *out = e;
    *n = k;
    return 0;
}

static bool same_group(const weft_mem_entry_t *x, const weft_mem_entry_t *y, weft_mem_group_t by)
{
    if (by == WEFT_MEM_BY_TASK)
        return x->task == y->task || (x->task && y->task && !strcmp(x->task, y->task));
    return x->line == y->line && (x->file == y->file || (x->file && y->file && !strcmp(x->file, y->file))) &&
           (by != WEFT_MEM_BY_SITE ||
            (x->ntrace == y->ntrace && !memcmp(x->trace, y->trace, (size_t)x->ntrace * sizeof x->trace[0])));
}

static int by_size(const void *a, const void *b)
{
    const weft_mem_entry_t *x = a, *y = b;
    return (x->size < y->size) - (x->size > y->size);
}

static int by_diff(const void *a, const void *b)
{
    const weft_mem_entry_t *x = a, *y = b;
    uint64_t dx = (uint64_t)(x->size_diff < 0 ? -x->size_diff : x->size_diff);
    uint64_t dy = (uint64_t)(y->size_diff < 0 ? -y->size_diff : y->size_diff);
    if (dx != dy)
        return (dx < dy) - (dx > dy);
    return by_size(a, b);
}

/* All groups of s (against older), sorted; *out to free. */
static int groups(const weft_mem_snapshot_t *s, const weft_mem_snapshot_t *older, weft_mem_group_t by,
                  weft_mem_entry_t **out, size_t *n)
{
    weft_mem_entry_t *now, *then = NULL;
    size_t nnow, nthen = 0;
    int rc = group(s, by, &now, &nnow);
    if (rc)
        return rc;
    if (older && (rc = group(older, by, &then, &nthen)) != 0) {
        weft__free(now);
        return rc;
    }
    if (older) {
        weft_mem_entry_t *all = weft__realloc(now, (nnow + nthen + 1) * sizeof *all);
        bool *matched = weft__calloc(nthen + 1, sizeof *matched);
        if (!all || !matched) {
            weft__free(all ? all : now);
            weft__free(then);
            weft__free(matched);
            return WEFT_ENOMEM;
        }
        now = all;
        for (size_t i = 0; i < nnow; i++) {
            size_t j = 0;
            while (j < nthen && (matched[j] || !same_group(&now[i], &then[j], by)))
                j++;
            int64_t size0 = j < nthen ? (int64_t)then[j].size : 0, count0 = j < nthen ? (int64_t)then[j].count : 0;
            if (j < nthen)
                matched[j] = true;
            now[i].size_diff = (int64_t)now[i].size - size0; /* new groups: all of it */
            now[i].count_diff = (int64_t)now[i].count - count0;
        }
        size_t total = nnow;
        for (size_t j = 0; j < nthen; j++)
            if (!matched[j]) { /* gone */
                weft_mem_entry_t g = then[j];
                g.size_diff = -(int64_t)g.size;
                g.count_diff = -(int64_t)g.count;
                g.size = g.count = 0;
                now[total++] = g;
            }
        nnow = total;
        weft__free(then);
        weft__free(matched);
        qsort(now, nnow, sizeof *now, by_diff);
    } else if (nnow) {
        qsort(now, nnow, sizeof *now, by_size);
    }
    *out = now;
    *n = nnow;
    return 0;
}

int weft_mem_snapshot_top(const weft_mem_snapshot_t *s, const weft_mem_snapshot_t *older, weft_mem_group_t by,
                          weft_mem_entry_t *out, size_t cap, size_t *n)
{
    if (!s || !n || (cap && !out) || (unsigned)by > WEFT_MEM_BY_SITE)
        return WEFT_EINVAL;
    weft_mem_entry_t *all;
    size_t nall;
    int rc = groups(s, older, by, &all, &nall);
    if (rc)
        return rc;
    if (cap)
        memcpy(out, all, (nall < cap ? nall : cap) * sizeof *out);
    *n = nall;
    weft__free(all);
    return 0;
}

/* ---- output ---------------------------------------------------------------------- */

/* "symbol+0x1f (libfoo.so.1)" or "0x7f..." */
static void frame_text(void *addr, char *buf, size_t cap)
{
    Dl_info info;
    if (dladdr(addr, &info) && info.dli_sname) {
        const char *obj = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
        snprintf(buf, cap, "%s+0x%" PRIxPTR " (%s)", info.dli_sname, (uintptr_t)addr - (uintptr_t)info.dli_saddr,
                 obj              ? obj + 1
                 : info.dli_fname ? info.dli_fname
                                  : "?");
    } else {
        snprintf(buf, cap, "%p", addr);
    }
}

static void place_text(const weft_mem_entry_t *e, weft_mem_group_t by, char *buf, size_t cap)
{
    if (by == WEFT_MEM_BY_TASK)
        snprintf(buf, cap, "%s", e->task ? e->task : "(outside any task)");
    else if (e->file)
        snprintf(buf, cap, "%s:%d", e->file, e->line);
    else if (e->ntrace)
        frame_text(e->trace[0], buf, cap);
    else
        snprintf(buf, cap, "(unknown site)");
}

int weft_mem_snapshot_write(const weft_mem_snapshot_t *s, const weft_mem_snapshot_t *older, weft_mem_group_t by,
                            size_t limit, int json, FILE *f)
{
    if (!s || !f || (unsigned)by > WEFT_MEM_BY_SITE)
        return WEFT_EINVAL;
    weft_mem_entry_t *all;
    size_t n;
    int rc = groups(s, older, by, &all, &n);
    if (rc)
        return rc;
    if (limit && limit < n)
        n = limit;
    static const char *const names[] = {"task", "line", "site"};
    char where[512], frame[512];
    if (json) {
        fprintf(f, "{\"group\": \"%s\", \"compare\": %s, \"entries\": [", names[by], older ? "true" : "false");
        for (size_t i = 0; i < n; i++) {
            const weft_mem_entry_t *e = &all[i];
            fprintf(f, "%s\n  {", i ? "," : "");
            if (by == WEFT_MEM_BY_TASK) {
                fputs("\"task\": ", f);
                weft__json_fputs(f, e->task);
            } else {
                fputs("\"file\": ", f);
                weft__json_fputs(f, e->file);
                fprintf(f, ", \"line\": %d", e->line);
            }
            fprintf(f, ", \"size\": %zu, \"count\": %zu", e->size, e->count);
            if (older)
                fprintf(f, ", \"size_diff\": %" PRId64 ", \"count_diff\": %" PRId64, e->size_diff, e->count_diff);
            if (by == WEFT_MEM_BY_SITE) {
                fputs(", \"traceback\": [", f);
                for (int k = 0; k < e->ntrace; k++) {
                    frame_text(e->trace[k], frame, sizeof frame);
                    if (k)
                        fputs(", ", f);
                    weft__json_fputs(f, frame);
                }
                fputc(']', f);
            }
            fputc('}', f);
        }
        fputs("\n]}\n", f);
    } else {
        if (older)
            fprintf(f, "%14s %14s %9s %9s  %s\n", "size", "diff", "count", "diff", names[by]);
        else
            fprintf(f, "%14s %9s  %s\n", "size", "count", names[by]);
        for (size_t i = 0; i < n; i++) {
            const weft_mem_entry_t *e = &all[i];
            place_text(e, by, where, sizeof where);
            if (older)
                fprintf(f, "%14zu %+14" PRId64 " %9zu %+9" PRId64 "  %s\n", e->size, e->size_diff, e->count,
                        e->count_diff, where);
            else
                fprintf(f, "%14zu %9zu  %s\n", e->size, e->count, where);
            for (int k = by == WEFT_MEM_BY_SITE ? 0 : e->ntrace; k < e->ntrace; k++) {
                frame_text(e->trace[k], frame, sizeof frame);
                fprintf(f, "%*s  at %s\n", older ? 49 : 24, "", frame);
            }
        }
    }
    weft__free(all);
    return ferror(f) ? WEFT_ESYS : 0;
}

size_t weft__track_report_leaks(weft__track_t *t, weft__track_walk_fn walk, void *wud, FILE *f)
{
    weft_mem_snapshot_t *s;
    if (weft__track_snapshot(t, walk, wud, &s) != 0)
        return 0;
    size_t blocks = 0;
    for (size_t i = 0; i < s->naggs; i++) {
        const agg_t *a = &s->aggs[i];
        const site_t *site = &s->sites[a->site];
        char where[512] = "(unknown site)", frame[512];
        if (site->file)
            snprintf(where, sizeof where, "%s:%d", site->file, site->line);
        else if (site->ntrace)
            frame_text(site->trace[0], where, sizeof where);
        fprintf(f, "weft: memory leak: %zu bytes in %zu block(s) allocated in %s%s%s at %s\n", a->size, a->count,
                s->tasks[a->task] ? "task '" : "", s->tasks[a->task] ? s->tasks[a->task] : "no task",
                s->tasks[a->task] ? "'" : "", where);
        for (int k = site->file ? 0 : 1; k < site->ntrace; k++) {
            frame_text(site->trace[k], frame, sizeof frame);
            fprintf(f, "weft:     from %s\n", frame);
        }
        blocks += a->count;
    }
    weft_mem_snapshot_destroy(s);
    return blocks;
}
