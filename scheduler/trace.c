/* Recording for the timing instrumentation: per-slot event chunks filled
 * without a lock, a locked chunk for everything else (executor lanes,
 * counters from outside tasks), the table of graph runs with a snapshot of
 * each graph, and the string table. runtime/trace*.c reads it back. */
#include "scheduler/internal.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* A chunk is 4 MiB, allocated for transparent huge pages: recording
 * touches fresh memory for every task, and 4 KiB page faults would cost
 * more than the rest of the recording. Clearing fresh pages is still the
 * largest cost of tracing (a VM clears them at under 1 GB/s), hence the
 * compact records below. */
#define CHUNK_BYTES ((size_t)4 << 20)

/* A worker slot's chunks hold compact records of 16 bytes: a task event is
 * one record; times are a delta from the slot's previous event; the run
 * is stated when it changes (R_RUN); what does not fit follows in payload
 * records (RF_X: the full t1 or a counter's value, and aux; RF_S: name and
 * args). weft__trace_read expands them into weft__tev_t. The lock-taking
 * chunk for other lanes (weft__trace_add) holds weft__tev_t as they are. */
typedef struct trec {
    int32_t dt;     /* t0 - the slot's previous t0 (R_BASE: the low half of t) */
    uint32_t dur;   /* t1 - t0 (R_BASE: the high half of t) */
    uint32_t index; /* the task's index (R_RUN: the run) */
    uint8_t kind;   /* TEV_* | lane kind << 4, or R_RUN / R_BASE */
    uint8_t state;
    uint16_t more; /* RF_* */
} trec_t;

typedef struct tpay {
    uint64_t a, b;
} tpay_t;

enum { R_RUN = 14, R_BASE = 15 };
enum { RF_X = 1, RF_S = 2 };
#define REC_MAX 5 /* R_RUN, R_BASE, the event, RF_X, RF_S */

typedef struct tchunk {
    _Atomic(struct tchunk *) next; /* the trace's list, in creation order */
    _Atomic uint32_t n;            /* records (or events) published */
    int32_t slot;                  /* the worker slot; -1: weft__tev_t */
    uint32_t streamed;             /* records a fresh read has passed on */
    uint32_t run0, st_run;         /* the run at the start / after streamed */
    uint64_t t0, st_t;             /* the time base likewise */
    union {
        weft__tev_t ev[1];
        trec_t rec[1];
    };
} tchunk_t;

#define CHUNK_HEAD (sizeof(tchunk_t) - sizeof(weft__tev_t))
#define TRACE_CHUNK ((uint32_t)((CHUNK_BYTES - CHUNK_HEAD) / sizeof(weft__tev_t)))
#define SLOT_CHUNK ((uint32_t)((CHUNK_BYTES - CHUNK_HEAD) / sizeof(trec_t)))

#define REGION_DEPTH 32
#define NAME_CACHE 16

typedef struct tslot {
    alignas(WEFT_CACHE_LINE) tchunk_t *cur;
    uint32_t n;
    _Atomic int want;          /* has filled a chunk: keep a spare ready */
    _Atomic(tchunk_t *) spare; /* weft__trace_prepare's, pages touched */
    uint32_t run;              /* of the last event recorded */
    uint64_t t;                /* its t0 */
    int depth;                 /* open user regions (may exceed REGION_DEPTH: not recorded) */
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
    weft_graph_t **live; /* by run: the graph whose shape runs[i].g lacks */
    size_t nruns, cap_runs;
    weft_graph_t **pend; /* graphs with trace_lazy == this trace */
    size_t npend, cap_pend;
    tsnap_t *snaps;
    weft__arena_t strings;
    const char **itab; /* interned strings: open addressing */
    size_t icap, icount;
    uint64_t *busy[4]; /* lane kinds: busy until */
    size_t nbusy[4];
    /* per lane of kind 1 (processes), its group and name (interned; NULL:
     * none) — a run over several ranks names a rank's lanes after it */
    const char **lgroup, **lname;
    size_t nlname;
    size_t dropped;
};

static _Atomic uint64_t next_uid = 1;
/* Orders a graph going (weft__trace_graph_detach) with a trace going:
 * taken before a trace's lock. */
static pthread_mutex_t link_lock = PTHREAD_MUTEX_INITIALIZER;

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
    for (int i = 0; i < lanes; i++)
        tr->slots[i].t = tr->start;
    *out = tr;
    return 0;
}

void weft__trace_destroy(weft__trace_t *tr)
{
    if (!tr)
        return;
    pthread_mutex_lock(&link_lock);
    pthread_mutex_lock(&tr->lock);
    for (size_t i = 0; i < tr->npend; i++)
        atomic_store_explicit(&tr->pend[i]->trace_lazy, NULL, memory_order_relaxed);
    pthread_mutex_unlock(&tr->lock);
    pthread_mutex_unlock(&link_lock);
    for (int i = 0; i < tr->nslots; i++)
        weft__aligned_free(atomic_load(&tr->slots[i].spare));
    for (tchunk_t *c = atomic_load(&tr->head); c;) {
        tchunk_t *n = atomic_load(&c->next);
        weft__aligned_free(c);
        c = n;
    }
    for (tsnap_t *s = tr->snaps; s;) {
        tsnap_t *n = s->next;
        weft__aligned_free(s);
        s = n;
    }
    for (int k = 0; k < 4; k++)
        weft__free(tr->busy[k]);
    weft__free((void *)tr->lgroup);
    weft__free((void *)tr->lname);
    weft__free(tr->runs);
    weft__free(tr->live);
    weft__free(tr->pend);
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

/* Puts c at the end of the list for slot `slot` (-1: events as they
 * are); lock held. */
static void chunk_link(weft__trace_t *tr, tchunk_t *c, int slot)
{
    atomic_init(&c->next, NULL);
    atomic_init(&c->n, 0);
    c->slot = slot;
    c->streamed = 0;
    c->run0 = c->st_run = slot >= 0 ? tr->slots[slot].run : 0;
    c->t0 = c->st_t = slot >= 0 ? tr->slots[slot].t : 0;
    if (tr->tail)
        atomic_store_explicit(&tr->tail->next, c, memory_order_release);
    else
        atomic_store_explicit(&tr->head, c, memory_order_release);
    tr->tail = c;
}

/* A new chunk at the end of the list; lock held. */
static tchunk_t *chunk_new(weft__trace_t *tr, int slot)
{
    tchunk_t *c = weft__alloc_large(CHUNK_BYTES);
    if (!c) {
        tr->dropped++;
        return NULL;
    }
    chunk_link(tr, c, slot);
    return c;
}

/* Room for k records in the slot's chunk, or NULL (out of memory: the
 * event is dropped and counted). */
static trec_t *slot_room(weft__trace_t *tr, tslot_t *s, uint32_t k)
{
    tchunk_t *c = s->cur;
    if (__builtin_expect(!c || s->n + k > SLOT_CHUNK, 0)) {
        int slot = (int)(s - tr->slots);
        tchunk_t *spare = atomic_exchange_explicit(&s->spare, NULL, memory_order_acquire);
        pthread_mutex_lock(&tr->lock);
        if (spare)
            chunk_link(tr, c = spare, slot);
        else
            c = chunk_new(tr, slot);
        pthread_mutex_unlock(&tr->lock);
        if (c && s->cur)
            atomic_store_explicit(&s->want, 1, memory_order_relaxed);
        if (!c)
            return NULL;
        s->cur = c;
        s->n = 0;
    }
    return &c->rec[s->n];
}

static void slot_publish(tslot_t *s, uint32_t k)
{
    s->n += k;
    /* release: a reader that sees n sees the records */
    atomic_store_explicit(&s->cur->n, s->n, memory_order_release);
}

void weft__trace_prepare(weft__trace_t *tr)
{
    for (int i = 0; i < tr->nslots; i++) {
        tslot_t *s = &tr->slots[i];
        if (!atomic_load_explicit(&s->want, memory_order_relaxed) ||
            atomic_load_explicit(&s->spare, memory_order_relaxed))
            continue;
        char *c = weft__alloc_large(CHUNK_BYTES);
        if (!c)
            return;
        for (size_t off = 0; off < CHUNK_BYTES; off += 4096)
            ((volatile char *)c)[off] = 0;
        atomic_store_explicit(&s->spare, (tchunk_t *)(void *)c, memory_order_release);
    }
}

/* Records ev (its lane is the slot) in compact form. */
static void slot_add(weft__trace_t *tr, tslot_t *s, const weft__tev_t *ev)
{
    int counter = ev->kind == TEV_COUNTER;
    int new_run = !counter && ev->run != s->run;
    int64_t dt = (int64_t)(ev->t0 - s->t);
    int base = dt < INT32_MIN || dt > INT32_MAX;
    int x = counter || ev->aux != 0 || ev->t1 < ev->t0 || ev->t1 - ev->t0 > UINT32_MAX;
    int str = ev->name || ev->args;
    uint32_t k = 1u + (uint32_t)(new_run + base + x + str);
    trec_t *r = slot_room(tr, s, k);
    if (!r)
        return;
    if (new_run) {
        *r++ = (trec_t){.index = ev->run, .kind = R_RUN};
        s->run = ev->run;
    }
    if (base) {
        *r++ = (trec_t){.dt = (int32_t)(uint32_t)ev->t0, .dur = (uint32_t)(ev->t0 >> 32), .kind = R_BASE};
        dt = 0;
    }
    s->t = ev->t0;
    *r = (trec_t){.dt = (int32_t)dt,
                  .dur = x ? 0 : (uint32_t)(ev->t1 - ev->t0),
                  .index = ev->index,
                  .kind = (uint8_t)(ev->kind | ev->lane_kind << 4),
                  .state = ev->state,
                  .more = (uint16_t)((x ? RF_X : 0) | (str ? RF_S : 0))};
    tpay_t *p = (tpay_t *)(r + 1);
    if (x)
        *p++ = (tpay_t){ev->t1, (uint64_t)(int64_t)ev->aux};
    if (str)
        *p = (tpay_t){(uint64_t)(uintptr_t)ev->name, (uint64_t)(uintptr_t)ev->args};
    slot_publish(s, k);
}

void weft__trace_task(weft__trace_t *tr, int slot, const weft_task_t *t, int kind, int state, uint64_t t0, uint64_t t1,
                      int aux)
{
    tslot_t *s = &tr->slots[slot];
    uint32_t run = t->graph->trace_run;
    int64_t dt = (int64_t)(t0 - s->t);
    /* the common case: one record */
    if (__builtin_expect(run == s->run && kind != TEV_CHILD && aux == 0 && dt >= INT32_MIN && dt <= INT32_MAX &&
                             t1 >= t0 && t1 - t0 <= UINT32_MAX && s->cur && s->n < SLOT_CHUNK,
                         1)) {
        s->cur->rec[s->n] = (trec_t){.dt = (int32_t)dt,
                                     .dur = (uint32_t)(t1 - t0),
                                     .index = t->index,
                                     .kind = (uint8_t)kind,
                                     .state = (uint8_t)state};
        s->t = t0;
        slot_publish(s, 1);
        return;
    }
    weft__tev_t ev;
    ev.t0 = t0;
    ev.t1 = t1;
    ev.name = NULL;
    ev.args = NULL;
    ev.run = run;
    ev.index = t->index;
    ev.lane = (uint16_t)slot;
    ev.kind = (uint8_t)kind;
    ev.state = (uint8_t)state;
    ev.lane_kind = TLANE_WORKER;
    ev.flags = 0;
    ev.aux = aux;
    if (kind == TEV_CHILD && !(t->flags & TASK_F_DEFERRED))
        ev.name = weft__trace_intern(tr, ((const struct weft_child *)t)->name);
    slot_add(tr, s, &ev);
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
        c = chunk_new(tr, -1);
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

void weft__trace_lane_use(weft__trace_t *tr, int k, int lane)
{
    if (k < 1 || k > 3 || lane < 0)
        return;
    pthread_mutex_lock(&tr->lock);
    if ((size_t)lane >= tr->nbusy[k]) {
        uint64_t *nb = weft__realloc(tr->busy[k], ((size_t)lane + 1) * sizeof *nb);
        if (nb) {
            memset(nb + tr->nbusy[k], 0, ((size_t)lane + 1 - tr->nbusy[k]) * sizeof *nb);
            tr->busy[k] = nb;
            tr->nbusy[k] = (size_t)lane + 1;
        }
    }
    pthread_mutex_unlock(&tr->lock);
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

/* Expands a slot chunk's records [from, n) starting from time base *t and
 * run *run, which it leaves as they are after them. */
static void read_slot(const tchunk_t *c, uint32_t from, uint32_t n, uint64_t *t, uint32_t *run,
                      void (*fn)(void *ud, const weft__tev_t *ev), void *ud)
{
    for (uint32_t i = from; i < n;) {
        const trec_t *r = &c->rec[i++];
        int kind = r->kind & 15;
        if (kind == R_BASE) {
            *t = (uint64_t)r->dur << 32 | (uint32_t)r->dt;
            continue;
        }
        if (kind == R_RUN) {
            *run = r->index;
            continue;
        }
        *t += (uint64_t)(int64_t)r->dt;
        weft__tev_t e = {.t0 = *t,
                         .t1 = *t + r->dur,
                         .run = kind == TEV_COUNTER ? 0 : *run,
                         .index = r->index,
                         .lane = (uint16_t)c->slot,
                         .kind = (uint8_t)kind,
                         .state = r->state,
                         .lane_kind = (uint8_t)(r->kind >> 4 & 3)};
        if (r->more & RF_X) {
            const tpay_t *p = (const tpay_t *)&c->rec[i++];
            e.t1 = p->a;
            e.aux = (int32_t)(int64_t)p->b;
        }
        if (r->more & RF_S) {
            const tpay_t *p = (const tpay_t *)&c->rec[i++];
            e.name = (const char *)(uintptr_t)p->a;
            e.args = (const char *)(uintptr_t)p->b;
        }
        fn(ud, &e);
    }
}

void weft__trace_read(weft__trace_t *tr, int fresh, void (*fn)(void *ud, const weft__tev_t *ev), void *ud)
{
    for (tchunk_t *c = atomic_load_explicit(&tr->head, memory_order_acquire); c;
         c = atomic_load_explicit(&c->next, memory_order_acquire)) {
        uint32_t n = atomic_load_explicit(&c->n, memory_order_acquire);
        uint32_t from = fresh ? c->streamed : 0;
        if (c->slot < 0) {
            for (uint32_t i = from; i < n; i++)
                fn(ud, &c->ev[i]);
        } else {
            uint64_t t = fresh ? c->st_t : c->t0;
            uint32_t run = fresh ? c->st_run : c->run0;
            read_slot(c, from, n, &t, &run, fn, ud);
            if (fresh) {
                c->st_t = t;
                c->st_run = run;
            }
        }
        if (fresh)
            c->streamed = n;
    }
}

size_t weft__trace_bound(weft__trace_t *tr)
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

int weft__trace_lane_pick_in(weft__trace_t *tr, const char *group, uint64_t t0, uint64_t t1)
{
    const int k = TLANE_PROC;
    pthread_mutex_lock(&tr->lock);
    const char *g = intern_locked(tr, group);
    size_t i = 0, nth = 0;
    for (; i < tr->nbusy[k]; i++) {
        bool mine = i < tr->nlname && tr->lgroup[i] == g;
        if (mine && tr->busy[k][i] <= t0)
            break;
        nth += mine;
    }
    if (i == tr->nbusy[k]) { /* a new lane of the group, named after it */
        uint64_t *nb = weft__realloc(tr->busy[k], (i + 1) * sizeof *nb);
        const char **ng = nb ? weft__realloc(tr->lgroup, (i + 1) * sizeof *ng) : NULL;
        if (ng)
            tr->lgroup = ng;
        const char **nn = ng ? weft__realloc(tr->lname, (i + 1) * sizeof *nn) : NULL;
        if (nn)
            tr->lname = nn;
        if (nb)
            tr->busy[k] = nb;
        if (!g || !nb || !ng || !nn) {
            pthread_mutex_unlock(&tr->lock);
            return 0;
        }
        for (size_t j = tr->nlname; j < i; j++)
            tr->lgroup[j] = tr->lname[j] = NULL;
        char name[160];
        snprintf(name, sizeof name, "%s slot %zu", group, nth);
        tr->lgroup[i] = g;
        tr->lname[i] = intern_locked(tr, name);
        tr->nlname = i + 1;
        tr->nbusy[k]++;
    }
    tr->busy[k][i] = t1;
    pthread_mutex_unlock(&tr->lock);
    return (int)i;
}

const char *weft__trace_lane_name(weft__trace_t *tr, int k, int lane)
{
    if (!tr || k != TLANE_PROC || lane < 0)
        return NULL;
    pthread_mutex_lock(&tr->lock);
    const char *n = (size_t)lane < tr->nlname ? tr->lname[lane] : NULL;
    pthread_mutex_unlock(&tr->lock);
    return n;
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
    weft__tev_t ev = {.t0 = s->region[d].t0,
                      .t1 = weft__tick(),
                      .name = s->region[d].name,
                      .lane = (uint16_t)slot,
                      .kind = TEV_REGION,
                      .lane_kind = TLANE_WORKER,
                      .aux = d};
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
    tsnap_t *s = weft__alloc_large(bytes); /* huge pages for big graphs */
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

/* A graph whose shape could not be copied (out of memory): its events
 * are dropped from exports. */
static const weft__tgraph_t empty_graph;

/* Copies g's shape for the runs that recorded it; lock held. */
static void settle_locked(weft__trace_t *tr, weft_graph_t *g)
{
    const weft__tgraph_t *snap = snapshot(tr, g);
    if (!snap)
        snap = &empty_graph;
    for (size_t i = 0; i < tr->nruns; i++)
        if (tr->live[i] == g) {
            tr->runs[i].g = snap;
            tr->live[i] = NULL;
        }
    for (size_t i = 0; i < tr->npend; i++)
        if (tr->pend[i] == g) {
            tr->pend[i] = tr->pend[--tr->npend];
            break;
        }
    g->trace_snap = snap == &empty_graph ? NULL : snap;
    atomic_store_explicit(&g->trace_lazy, NULL, memory_order_relaxed);
}

static void settle_all_locked(weft__trace_t *tr)
{
    while (tr->npend)
        settle_locked(tr, tr->pend[tr->npend - 1]);
}

void weft__trace_graph_detach(weft_graph_t *g)
{
    pthread_mutex_lock(&link_lock);
    weft__trace_t *tr = atomic_load_explicit(&g->trace_lazy, memory_order_relaxed);
    if (tr) {
        pthread_mutex_lock(&tr->lock);
        if (atomic_load_explicit(&g->trace_lazy, memory_order_relaxed) == tr)
            settle_locked(tr, g);
        pthread_mutex_unlock(&tr->lock);
    }
    pthread_mutex_unlock(&link_lock);
}

/* Registers a run of g. Its shape (names, notes, dependencies) is copied
 * when the trace is read or before g changes or goes, not here: a big
 * graph's copy would cost a run of short tasks more than its recording. */
void weft__trace_run_begin(weft__trace_t *tr, weft_graph_t *g)
{
    g->trace_run = 0;
    weft__trace_t *other = atomic_load_explicit(&g->trace_lazy, memory_order_relaxed);
    if (other && other != tr)
        weft__trace_graph_detach(g);
    pthread_mutex_lock(&tr->lock);
    int known = g->trace_uid == tr->uid && g->trace_ver == g->version &&
                (g->trace_snap || atomic_load_explicit(&g->trace_lazy, memory_order_relaxed) == tr);
    if (!known)
        (void)WEFT__GROW(tr->pend, tr->cap_pend, tr->npend + 1, 8); /* else: checked below */
    if (tr->nruns == tr->cap_runs && tr->nruns < UINT32_MAX - 1) {
        size_t cap = tr->cap_runs ? tr->cap_runs * 2 : 16;
        weft__trun_t *nr = weft__realloc(tr->runs, cap * sizeof *nr);
        if (nr)
            tr->runs = nr;
        weft_graph_t **nl = nr ? weft__realloc(tr->live, cap * sizeof *nl) : NULL;
        if (nl) {
            tr->live = nl;
            tr->cap_runs = cap;
        }
    }
    if ((known || tr->npend < tr->cap_pend) && tr->nruns < tr->cap_runs) {
        if (!known) {
            tr->pend[tr->npend++] = g;
            g->trace_snap = NULL;
            g->trace_uid = tr->uid;
            g->trace_ver = g->version;
            atomic_store_explicit(&g->trace_lazy, tr, memory_order_relaxed);
        }
        tr->runs[tr->nruns] = (weft__trun_t){g->trace_snap, weft__tick(), 0, 0};
        tr->live[tr->nruns] = g->trace_snap ? NULL : g;
        g->trace_run = (uint32_t)++tr->nruns;
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
    settle_all_locked(tr);
    size_t n = tr->nruns;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = tr->runs[i];
    pthread_mutex_unlock(&tr->lock);
    return n;
}
