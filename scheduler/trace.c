/* Recording for the timing instrumentation: per-slot event chunks filled
 * without a lock, a locked chunk for everything else (executor lanes,
 * counters from outside tasks), the table of graph runs with a snapshot of
 * each graph, and the string table. runtime/trace*.c reads it back. */
#include "scheduler/internal.h"

#include <stdlib.h>
#include <string.h>

/* A chunk is 4 MiB, allocated for transparent huge pages: recording
 * touches fresh memory at 56 bytes a task, and 4 KiB page faults would
 * cost more than the rest of the recording. */
#define CHUNK_BYTES ((size_t)4 << 20)

typedef struct tchunk {
    _Atomic(struct tchunk *) next; /* the trace's list, in creation order */
    _Atomic uint32_t n;            /* events published */
    uint32_t streamed;             /* events a fresh read has passed on */
    weft__tev_t ev[];
} tchunk_t;

#define TRACE_CHUNK ((uint32_t)((CHUNK_BYTES - sizeof(tchunk_t)) / sizeof(weft__tev_t)))

#define REGION_DEPTH 32
#define NAME_CACHE 16

typedef struct tslot {
    alignas(WEFT_CACHE_LINE) tchunk_t *cur;
    uint32_t n;
    int depth; /* open user regions (may exceed REGION_DEPTH: not recorded) */
    struct {
        const char *name;
        uint64_t t0;
    } region[REGION_DEPTH];
    struct {
        const char *src, *interned;
    } names[NAME_CACHE]; /* the caller's pointer -> the interned copy */
} tslot_t;

typedef struct tsnap {
    struct tsnap *next;
    weft__tgraph_t g;
} tsnap_t;

struct weft__trace {
    uint64_t uid;
    uint64_t start;
    int nslots;
    tslot_t *slots;
    pthread_mutex_t lock; /* everything below */
    _Atomic(tchunk_t *) head;
    tchunk_t *tail;
    tchunk_t *ext; /* events from weft__trace_add */
    weft__trun_t *runs;
    size_t nruns, cap_runs;
    tsnap_t *snaps;
    weft__arena_t strings;
    const char **itab; /* interned strings: open addressing */
    size_t icap, icount;
    uint64_t *busy[4]; /* lane kinds: busy until */
    size_t nbusy[4];
    size_t dropped;
};

static _Atomic uint64_t next_uid = 1;

int weft__trace_create(int lanes, weft__trace_t **out)
{
    weft__tick_init();
    weft__trace_t *tr = weft__calloc(1, sizeof *tr);
    if (!tr)
        return WEFT_ENOMEM;
    tr->slots = weft__aligned_alloc(WEFT_CACHE_LINE, (size_t)lanes * sizeof *tr->slots);
    if (!tr->slots) {
        weft__free(tr);
        return WEFT_ENOMEM;
    }
    memset(tr->slots, 0, (size_t)lanes * sizeof *tr->slots);
    tr->nslots = lanes;
    tr->uid = atomic_fetch_add(&next_uid, 1);
    pthread_mutex_init(&tr->lock, NULL);
    weft__arena_init(&tr->strings, 16 * 1024, false);
    tr->start = weft__tick();
    *out = tr;
    return 0;
}

void weft__trace_destroy(weft__trace_t *tr)
{
    if (!tr)
        return;
    for (tchunk_t *c = atomic_load(&tr->head); c;) {
        tchunk_t *n = atomic_load(&c->next);
        weft__aligned_free(c);
        c = n;
    }
    for (tsnap_t *s = tr->snaps; s;) {
        tsnap_t *n = s->next;
        weft__free(s);
        s = n;
    }
    for (int k = 0; k < 4; k++)
        weft__free(tr->busy[k]);
    weft__free(tr->runs);
    weft__free((void *)tr->itab);
    weft__arena_fini(&tr->strings);
    pthread_mutex_destroy(&tr->lock);
    weft__aligned_free(tr->slots);
    weft__free(tr);
}

uint64_t weft__trace_start(const weft__trace_t *tr)
{
    return tr->start;
}

/* ---- chunks -------------------------------------------------------------- */

/* A new chunk at the end of the list; lock held. */
static tchunk_t *chunk_new(weft__trace_t *tr)
{
    tchunk_t *c = weft__alloc_large(CHUNK_BYTES);
    if (!c) {
        tr->dropped++;
        return NULL;
    }
    atomic_init(&c->next, NULL);
    atomic_init(&c->n, 0);
    c->streamed = 0;
    if (tr->tail)
        atomic_store_explicit(&tr->tail->next, c, memory_order_release);
    else
        atomic_store_explicit(&tr->head, c, memory_order_release);
    tr->tail = c;
    return c;
}

static void slot_add(weft__trace_t *tr, tslot_t *s, const weft__tev_t *ev)
{
    tchunk_t *c = s->cur;
    if (__builtin_expect(!c || s->n == TRACE_CHUNK, 0)) {
        pthread_mutex_lock(&tr->lock);
        c = chunk_new(tr);
        pthread_mutex_unlock(&tr->lock);
        if (!c)
            return;
        s->cur = c;
        s->n = 0;
    }
    c->ev[s->n] = *ev;
    /* release: a reader that sees n sees the event */
    atomic_store_explicit(&c->n, ++s->n, memory_order_release);
}

void weft__trace_add_slot(weft__trace_t *tr, int slot, const weft__tev_t *ev)
{
    slot_add(tr, &tr->slots[slot], ev);
}

void weft__trace_task(weft__trace_t *tr, int slot, const weft_task_t *t, int kind, int state,
                      uint64_t t0, uint64_t t1, int aux)
{
    weft__tev_t ev;
    ev.t0 = t0;
    ev.t1 = t1;
    ev.name = NULL;
    ev.args = NULL;
    ev.run = t->graph->trace_run;
    ev.index = t->index;
    ev.lane = (uint16_t)slot;
    ev.kind = (uint8_t)kind;
    ev.state = (uint8_t)state;
    ev.lane_kind = TLANE_WORKER;
    ev.flags = 0;
    ev.aux = aux;
    if (kind == TEV_CHILD && !(t->flags & TASK_F_DEFERRED))
        ev.name = weft__trace_intern(tr, ((const struct weft_child *)t)->name);
    slot_add(tr, &tr->slots[slot], &ev);
}

void weft__trace_add(weft__trace_t *tr, const weft_task_t *t, const weft__tev_t *ev)
{
    weft__tev_t e = *ev;
    if (t) {
        e.run = t->graph->trace_run;
        e.index = t->index;
    }
    pthread_mutex_lock(&tr->lock);
    tchunk_t *c = tr->ext;
    uint32_t n = c ? atomic_load_explicit(&c->n, memory_order_relaxed) : TRACE_CHUNK;
    if (n == TRACE_CHUNK) {
        c = chunk_new(tr);
        tr->ext = c;
        n = 0;
    }
    if (c) {
        c->ev[n] = e;
        atomic_store_explicit(&c->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&tr->lock);
}

int weft__trace_lane_pick(weft__trace_t *tr, int k, uint64_t t0, uint64_t t1)
{
    if (k < 0 || k > 3)
        return 0;
    pthread_mutex_lock(&tr->lock);
    size_t i = 0;
    while (i < tr->nbusy[k] && tr->busy[k][i] > t0)
        i++;
    if (i == tr->nbusy[k]) {
        uint64_t *nb = weft__realloc(tr->busy[k], (i + 1) * sizeof *nb);
        if (!nb) {
            pthread_mutex_unlock(&tr->lock);
            return 0;
        }
        tr->busy[k] = nb;
        tr->nbusy[k]++;
    }
    tr->busy[k][i] = t1;
    pthread_mutex_unlock(&tr->lock);
    return (int)i;
}

size_t weft__trace_nlanes(const weft__trace_t *tr, int kind)
{
    if (kind == TLANE_WORKER)
        return (size_t)tr->nslots;
    weft__trace_t *m = (weft__trace_t *)tr; /* a read under the lock */
    pthread_mutex_lock(&m->lock);
    size_t n = kind > 0 && kind < 4 ? m->nbusy[kind] : 0;
    pthread_mutex_unlock(&m->lock);
    return n;
}

void weft__trace_read(weft__trace_t *tr, int fresh, void (*fn)(void *ud, const weft__tev_t *ev),
                      void *ud)
{
    for (tchunk_t *c = atomic_load_explicit(&tr->head, memory_order_acquire); c;
         c = atomic_load_explicit(&c->next, memory_order_acquire)) {
        uint32_t n = atomic_load_explicit(&c->n, memory_order_acquire);
        for (uint32_t i = fresh ? c->streamed : 0; i < n; i++)
            fn(ud, &c->ev[i]);
        if (fresh)
            c->streamed = n;
    }
}

size_t weft__trace_events(weft__trace_t *tr)
{
    size_t n = 0;
    for (tchunk_t *c = atomic_load_explicit(&tr->head, memory_order_acquire); c;
         c = atomic_load_explicit(&c->next, memory_order_acquire))
        n += atomic_load_explicit(&c->n, memory_order_acquire);
    return n;
}

/* ---- strings --------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* lock held */
static const char *intern_locked(weft__trace_t *tr, const char *s)
{
    if (tr->icount * 2 >= tr->icap) {
        size_t cap = tr->icap ? tr->icap * 2 : 256;
        const char **nt = weft__calloc(cap, sizeof *nt);
        if (!nt)
            return NULL;
        for (size_t i = 0; i < tr->icap; i++)
            if (tr->itab[i]) {
                size_t j = hash_str(tr->itab[i]) & (cap - 1);
                while (nt[j])
                    j = (j + 1) & (cap - 1);
                nt[j] = tr->itab[i];
            }
        weft__free((void *)tr->itab);
        tr->itab = nt;
        tr->icap = cap;
    }
    size_t j = hash_str(s) & (tr->icap - 1);
    while (tr->itab[j]) {
        if (strcmp(tr->itab[j], s) == 0)
            return tr->itab[j];
        j = (j + 1) & (tr->icap - 1);
    }
    size_t n = strlen(s) + 1;
    char *c = weft__arena_alloc(&tr->strings, n, 1);
    if (!c)
        return NULL;
    memcpy(c, s, n);
    tr->itab[j] = c;
    tr->icount++;
    return c;
}

const char *weft__trace_intern(weft__trace_t *tr, const char *s)
{
    if (!s)
        return NULL;
    pthread_mutex_lock(&tr->lock);
    const char *r = intern_locked(tr, s);
    pthread_mutex_unlock(&tr->lock);
    return r;
}

/* The interned copy of a name a task passes again and again (a literal,
 * usually): a per-slot cache keyed by the pointer, checked by content. */
static const char *slot_name(weft__trace_t *tr, tslot_t *s, const char *name)
{
    size_t h = ((uintptr_t)name >> 3) % NAME_CACHE;
    if (s->names[h].src == name && strcmp(s->names[h].interned, name) == 0)
        return s->names[h].interned;
    const char *in = weft__trace_intern(tr, name);
    if (in) {
        s->names[h].src = name;
        s->names[h].interned = in;
    }
    return in;
}

void weft__trace_region(weft__trace_t *tr, int slot, const weft_task_t *t, const char *name)
{
    tslot_t *s = &tr->slots[slot];
    if (name) {
        if (s->depth < REGION_DEPTH) {
            s->region[s->depth].name = slot_name(tr, s, name);
            s->region[s->depth].t0 = weft__tick();
        }
        s->depth++;
        return;
    }
    if (s->depth == 0)
        return;
    int d = --s->depth;
    if (d >= REGION_DEPTH)
        return;
    weft__tev_t ev = {.t0 = s->region[d].t0, .t1 = weft__tick(), .name = s->region[d].name,
                      .lane = (uint16_t)slot, .kind = TEV_REGION, .lane_kind = TLANE_WORKER, .aux = d};
    if (t) {
        ev.run = t->graph->trace_run;
        ev.index = t->index;
    }
    slot_add(tr, s, &ev);
}

void weft__trace_counter(weft__trace_t *tr, int slot, const char *name, double value)
{
    weft__tev_t ev = {.t0 = weft__tick(), .kind = TEV_COUNTER, .lane_kind = TLANE_OTHER};
    ev.value = value;
    if (slot >= 0) {
        ev.name = slot_name(tr, &tr->slots[slot], name);
        ev.lane = (uint16_t)slot;
        slot_add(tr, &tr->slots[slot], &ev);
    } else {
        ev.name = weft__trace_intern(tr, name);
        weft__trace_add(tr, NULL, &ev);
    }
}

/* ---- runs ------------------------------------------------------------------ */

/* A copy of what the trace needs of g: names, notes, dependencies. Lock
 * held (strings go to the trace's arena). */
static const weft__tgraph_t *snapshot(weft__trace_t *tr, weft_graph_t *g)
{
    size_t n = g->ntasks, ne = 0;
    for (size_t i = 0; i < n; i++)
        ne += (size_t)weft__task_at(g, i)->ndeps;
    size_t bytes = sizeof(tsnap_t) + 2 * n * sizeof(char *) + (n + 1 + ne) * sizeof(uint32_t);
    tsnap_t *s = weft__malloc(bytes);
    if (!s)
        return NULL;
    s->g.ntasks = (uint32_t)n;
    s->g.name = (const char **)(s + 1);
    s->g.note = s->g.name + n;
    s->g.pred_off = (uint32_t *)(s->g.note + n);
    s->g.pred = s->g.pred_off + n + 1;
    size_t e = 0;
    for (size_t i = 0; i < n; i++) {
        const weft_task_t *t = weft__task_at(g, i);
        s->g.name[i] = NULL;
        if (t->name) {
            size_t l = strlen(t->name) + 1;
            char *c = weft__arena_alloc(&tr->strings, l, 1);
            if (c)
                memcpy(c, t->name, l);
            s->g.name[i] = c;
        }
        s->g.note[i] = i < g->cap_notes && g->notes[i] ? intern_locked(tr, g->notes[i]) : NULL;
        s->g.pred_off[i] = (uint32_t)e;
        for (int32_t k = 0; k < t->ndeps; k++)
            s->g.pred[e++] = t->pred[k]->index;
    }
    s->g.pred_off[n] = (uint32_t)e;
    s->next = tr->snaps;
    tr->snaps = s;
    return &s->g;
}

void weft__trace_run_begin(weft__trace_t *tr, weft_graph_t *g)
{
    g->trace_run = 0;
    pthread_mutex_lock(&tr->lock);
    if (g->trace_uid != tr->uid || g->trace_ver != g->version || !g->trace_snap) {
        g->trace_snap = snapshot(tr, g);
        g->trace_uid = tr->uid;
        g->trace_ver = g->version;
    }
    if (g->trace_snap && tr->nruns < UINT32_MAX - 1) {
        if (tr->nruns == tr->cap_runs) {
            size_t cap = tr->cap_runs ? tr->cap_runs * 2 : 16;
            weft__trun_t *nr = weft__realloc(tr->runs, cap * sizeof *nr);
            if (nr) {
                tr->runs = nr;
                tr->cap_runs = cap;
            }
        }
        if (tr->nruns < tr->cap_runs) {
            tr->runs[tr->nruns] = (weft__trun_t){g->trace_snap, weft__tick(), 0, 0};
            g->trace_run = (uint32_t)++tr->nruns;
        }
    }
    pthread_mutex_unlock(&tr->lock);
}

void weft__trace_run_end(weft__trace_t *tr, weft_graph_t *g)
{
    if (!g->trace_run)
        return;
    uint64_t now = weft__tick();
    pthread_mutex_lock(&tr->lock);
    tr->runs[g->trace_run - 1].t_done = now;
    tr->runs[g->trace_run - 1].result = g->result;
    pthread_mutex_unlock(&tr->lock);
}

size_t weft__trace_runs(weft__trace_t *tr, weft__trun_t *out, size_t max)
{
    pthread_mutex_lock(&tr->lock);
    size_t n = tr->nruns;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = tr->runs[i];
    pthread_mutex_unlock(&tr->lock);
    return n;
}
