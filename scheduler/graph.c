/* Graph construction, validation (cycles) and the queries after a run.
 *
 * Tasks are carved from slabs that double in size (chunk k holds 64 << k
 * tasks), so that adding a task never calls malloc in the common case and
 * a task's index maps to its slot in O(1). Names and successor/predecessor
 * overflow arrays come from a bump arena; destroying the graph frees slabs
 * and arena blocks, never single nodes. */
#include "scheduler/internal.h"

#include <stdio.h>
#include <string.h>

/* ==== slabs ============================================================== */

#define chunk_size weft__chunk_size
#define chunk_of weft__chunk_of
#define task_at weft__task_at

/* Calls body(t) for every task, slab by slab (cache-friendly). */
#define FOR_EACH_TASK(g, t, body)                                                                                      \
    do {                                                                                                               \
        size_t left_ = (g)->ntasks;                                                                                    \
        for (size_t k_ = 0; left_ > 0; k_++) {                                                                         \
            size_t n_ = chunk_size(k_);                                                                                \
            if (n_ > left_)                                                                                            \
                n_ = left_;                                                                                            \
            for (size_t j_ = 0; j_ < n_; j_++) {                                                                       \
                weft_task_t *t = &(g)->chunk[k_][j_];                                                                  \
                body;                                                                                                  \
            }                                                                                                          \
            left_ -= n_;                                                                                               \
        }                                                                                                              \
    } while (0)

static int src_push(weft_graph_t *g, size_t lo, size_t hi)
{
    if (WEFT__GROW(g->src, g->cap_src, g->nsrc + 1, 8))
        return WEFT_ENOMEM;
    g->src[g->nsrc++] = (weft__src_range_t){lo, hi};
    return 0;
}

int weft_graph_create(weft_graph_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    weft_graph_t *g = weft__aligned_alloc(WEFT_CACHE_LINE, sizeof *g);
    if (!g)
        return WEFT_ENOMEM;
    memset(g, 0, sizeof *g);
    weft__arena_init(&g->arena, 64 * 1024, true);
    atomic_init(&g->phase, PHASE_IDLE);
    atomic_init(&g->trace_lazy, NULL);
    g->dirty = 1;
    g->version++;
    *out = g;
    return 0;
}

static void release_results(weft_graph_t *g)
{
    if (!atomic_load_explicit(&g->has_dtor, memory_order_relaxed))
        return;
    FOR_EACH_TASK(g, t, if (t->flags & TASK_F_RESULT) weft__graph_release_result(t));
}

/* A finished deferred completion's child, kept until the graph runs
 * again or goes (any worker, concurrently: a push-only stack). */
void weft__graph_retire(weft_graph_t *g, struct weft_child *c)
{
    struct weft_child *head = atomic_load_explicit(&g->retired, memory_order_relaxed);
    do
        c->retired_next = head;
    while (!atomic_compare_exchange_weak_explicit(&g->retired, &head, c, memory_order_relaxed, memory_order_relaxed));
}

/* The graph is idle (between runs, or being destroyed). */
void weft__graph_free_retired(weft_graph_t *g)
{
    struct weft_child *c = atomic_exchange_explicit(&g->retired, NULL, memory_order_acquire);
    while (c) {
        struct weft_child *next = c->retired_next;
        weft__aligned_free(c);
        c = next;
    }
}

void weft_graph_destroy(weft_graph_t *g)
{
    if (!g)
        return;
    if (atomic_load_explicit(&g->phase, memory_order_acquire) != PHASE_IDLE) {
        if (atomic_load_explicit(&g->phase, memory_order_acquire) == PHASE_RUNNING &&
            weft__pool_running_graph(g->pool) == g) {
            weft__log("weft_graph_destroy: refused, called from a task while the graph runs");
            return;
        }
        weft_graph_wait(g);
    }
    if (atomic_load_explicit(&g->trace_lazy, memory_order_relaxed))
        weft__trace_graph_detach(g);
    release_results(g);
    weft__graph_free_retired(g);
    weft__graph_free_msgs(g);
    weft__free(g->limits);
    for (int k = 0; k < g->nkinds; k++)
        if (g->kinds[k].ops->cleanup)
            g->kinds[k].ops->cleanup(g, g->kinds[k].state);
    for (size_t k = 0; k < g->nchunks; k++)
        weft__aligned_free(g->chunk[k]);
    weft__free(g->chunk);
    weft__arena_fini(&g->arena);
    weft__free(g->src);
    weft__free((void *)g->notes);
    weft__aligned_free(g);
}

static int graph_busy(const weft_graph_t *g)
{
    return atomic_load_explicit(&g->phase, memory_order_acquire) != PHASE_IDLE;
}

/* Before g changes (or goes): a trace that recorded a run of g and has
 * not copied its shape yet copies it now (scheduler/trace.c). */
static int graph_change(weft_graph_t *g)
{
    if (graph_busy(g))
        return WEFT_EBUSY;
    if (atomic_load_explicit(&g->trace_lazy, memory_order_relaxed))
        weft__trace_graph_detach(g);
    return 0;
}

int weft_graph_add_copy(weft_graph_t *g, const char *name, weft_fn fn, const void *arg, size_t size, weft_task_t **out)
{
    if (!g || !fn || !out || (size && !arg))
        return WEFT_EINVAL;
    int brc = graph_change(g);
    if (brc)
        return brc;
    void *copy = NULL;
    if (size) {
        copy = weft__arena_alloc(&g->arena, size, _Alignof(max_align_t));
        if (!copy)
            return WEFT_ENOMEM;
        memcpy(copy, arg, size);
    }
    /* (the copy stays in the arena if adding fails: freed with the graph) */
    return weft_graph_add_ex(g, name, fn, copy, 0, out);
}

/* The body of weft_graph_add_ex, inlined into weft_graph_add too (a
 * graph of a million tasks is built through one of them). */
static inline __attribute__((always_inline)) int add_task(weft_graph_t *g, const char *name, weft_fn fn, void *arg,
                                                          unsigned flags, weft_task_t **out)
{
    if (!g || !fn || !out || (flags & ~(unsigned)WEFT_ADD_NAME_BORROWED))
        return WEFT_EINVAL;
    int brc = graph_change(g);
    if (brc)
        return brc;
    size_t i = g->ntasks;
    if (i >= UINT32_MAX)
        return WEFT_ENOMEM;
    size_t off, k = chunk_of(i, &off);
    if (k >= g->nchunks) {
        if (WEFT__GROW(g->chunk, g->cap_chunks, k + 1, 16))
            return WEFT_ENOMEM;
        g->chunk[k] = weft__alloc_large(chunk_size(k) * sizeof(weft_task_t));
        if (!g->chunk[k])
            return WEFT_ENOMEM;
        g->nchunks = k + 1;
    }
    /* The task extends the last source range or starts a new one. */
    if (!(g->nsrc && g->src[g->nsrc - 1].hi == i) && src_push(g, i, i))
        return WEFT_ENOMEM;
    const char *copy = flags & WEFT_ADD_NAME_BORROWED ? name : NULL;
    if (name && !copy) {
        size_t n = strlen(name) + 1;
        char *c = weft__arena_alloc(&g->arena, n, 1);
        if (!c)
            return WEFT_ENOMEM;
        memcpy(c, name, n);
        copy = c;
    }
    weft_task_t *t = &g->chunk[k][off];
    /* Hot line first, written in order; the cold line only where needed. */
    atomic_init(&t->join, 0);
    t->ndeps = 0;
    t->nsucc = 0;
    t->state = WEFT_TASK_NOT_RUN;
    atomic_init(&t->poison, 0);
    t->flags = 0;
    t->fn = fn;
    t->arg = arg;
    t->graph = g;
    t->succ = t->succ_inline;
    t->pred = t->pred_inline;
    t->name = copy;
    atomic_init(&t->result, NULL);
    t->dtor = NULL;
    atomic_init(&t->rc, 0);
    t->index = (uint32_t)i;
    t->next = NULL;
    atomic_init(&t->pending, 0);
    atomic_init(&t->consumers, 0);
    t->mem_tag = 0;
    g->ntasks = i + 1;
    g->src[g->nsrc - 1].hi = i + 1;
    g->dirty = 1;
    g->version++;
    *out = t;
    return 0;
}

int weft_graph_add_ex(weft_graph_t *g, const char *name, weft_fn fn, void *arg, unsigned flags, weft_task_t **out)
{
    return add_task(g, name, fn, arg, flags, out);
}

weft_task_t *weft_graph_add(weft_graph_t *g, const char *name, weft_fn fn, void *arg)
{
    weft_task_t *t = NULL;
    return add_task(g, name, fn, arg, 0, &t) == 0 ? t : NULL;
}

/* Appends x to the list (*arr, n) whose first `inl` slots are inline.
 * Capacity is inl, then powers of two; a full list moves to a block twice
 * its size from the arena (the old block stays in the arena). */
static int list_append(weft_graph_t *g, weft_task_t ***arr, uint32_t n, uint32_t inl, weft_task_t *x)
{
    if (n >= inl && (n == inl || (n & (n - 1)) == 0)) {
        uint32_t cap = n == inl ? 4 : n * 2;
        while (cap <= n)
            cap *= 2;
        weft_task_t **na = weft__arena_alloc(&g->arena, (size_t)cap * sizeof *na, alignof(weft_task_t *));
        if (!na)
            return WEFT_ENOMEM;
        memcpy(na, *arr, (size_t)n * sizeof *na);
        *arr = na;
    }
    (*arr)[n] = x;
    return 0;
}

int weft_task_after(weft_task_t *task, weft_task_t *dep)
{
    if (!task || !dep || task == dep || task->graph != dep->graph || (task->flags & TASK_F_CHILD) ||
        (dep->flags & TASK_F_CHILD))
        return WEFT_EINVAL;
    weft_graph_t *g = task->graph;
    int brc = graph_change(g);
    if (brc)
        return brc;
    if (task->ndeps == INT32_MAX || dep->nsucc == UINT32_MAX)
        return WEFT_ENOMEM;
    /* Both lists grow first, then both counts, so a failure changes
     * nothing that is visible. */
    if (list_append(g, &dep->succ, dep->nsucc, TASK_SUCC_INLINE, task) ||
        list_append(g, &task->pred, (uint32_t)task->ndeps, TASK_PRED_INLINE, dep))
        return WEFT_ENOMEM;
    dep->nsucc++;
    if (task->ndeps++ == 0) {
        weft__src_range_t *last = g->nsrc ? &g->src[g->nsrc - 1] : NULL;
        if (last && last->hi == (size_t)task->index + 1) {
            if (--last->hi == last->lo)
                g->nsrc--;
        } else {
            g->stale_sources++;
        }
    }
    atomic_store_explicit(&task->join, task->ndeps, memory_order_relaxed);
    if (dep->index > task->index)
        g->maybe_cyclic = 1; /* creation order is no longer a topological order */
    g->dirty = 1;
    g->version++;
    return 0;
}

/* Appends s to b as JSON string contents (quotes and controls escaped). */
static size_t json_escape(char *b, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            if (b) {
                b[n] = '\\';
                b[n + 1] = (char)c;
            }
            n += 2;
        } else if (c < 0x20) {
            if (b)
                snprintf(b + n, 7, "\\u%04x", c);
            n += 6;
        } else {
            if (b)
                b[n] = (char)c;
            n++;
        }
    }
    return n;
}

int weft_task_annotate(weft_task_t *task, const char *key, const char *value)
{
    if (!task || !key || !*key || !value || (task->flags & TASK_F_CHILD))
        return WEFT_EINVAL;
    weft_graph_t *g = task->graph;
    int brc = graph_change(g);
    if (brc)
        return brc;
    if (task->index >= g->cap_notes) {
        size_t cap = g->cap_notes ? g->cap_notes : 64;
        while (cap <= task->index)
            cap *= 2;
        const char **n = weft__realloc((void *)g->notes, cap * sizeof *n);
        if (!n)
            return WEFT_ENOMEM;
        memset(n + g->cap_notes, 0, (cap - g->cap_notes) * sizeof *n);
        g->notes = n;
        g->cap_notes = cap;
    }
    /* The note is a list of JSON object members: "k":"v","k2":"v2". */
    const char *old = g->notes[task->index];
    size_t ol = old ? strlen(old) : 0;
    size_t len = ol + (old ? 1 : 0) + json_escape(NULL, key) + json_escape(NULL, value) + 5;
    char *c = weft__arena_alloc(&g->arena, len + 1, 1);
    if (!c)
        return WEFT_ENOMEM;
    size_t o = 0;
    if (old) {
        memcpy(c, old, ol);
        o = ol;
        c[o++] = ',';
    }
    c[o++] = '"';
    o += json_escape(c + o, key);
    c[o++] = '"';
    c[o++] = ':';
    c[o++] = '"';
    o += json_escape(c + o, value);
    c[o++] = '"';
    c[o] = '\0';
    g->notes[task->index] = c;
    g->version++;
    return 0;
}

size_t weft_graph_size(const weft_graph_t *g)
{
    return g ? g->ntasks : 0;
}

weft_task_t *weft_graph_task(const weft_graph_t *g, size_t i)
{
    if (!g || i >= g->ntasks)
        return NULL;
    return task_at(g, i);
}

/* ==== validation ========================================================= */

const char *weft__task_label(const weft_task_t *t, char *buf, size_t size)
{
    if (t->name)
        return t->name;
    char digits[12];
    size_t n = 0;
    uint32_t v = t->index;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (size < n + 2)
        return "#";
    buf[0] = '#';
    for (size_t i = 0; i < n; i++)
        buf[1 + i] = digits[n - 1 - i];
    buf[1 + n] = '\0';
    return buf;
}

uint64_t *weft__task_mem_tag(weft_task_t *t)
{
    return &t->mem_tag;
}

/* Appends "name" to g->errbuf at *off, truncating with "..." at the end. */
static void err_append(weft_graph_t *g, size_t *off, const char *s)
{
    size_t cap = sizeof g->errbuf;
    if (*off >= cap - 1)
        return;
    int n = snprintf(g->errbuf + *off, cap - *off, "%s", s);
    if (n < 0)
        return;
    if ((size_t)n >= cap - *off) {
        memcpy(g->errbuf + cap - 4, "...", 4);
        *off = cap - 1;
    } else {
        *off += (size_t)n;
    }
}

/* After Kahn's pass, tasks with join > 0 are on a cycle or downstream of
 * one. Walking predecessors that are themselves unfinished must revisit a
 * task: the loop from that task is a cycle. Reports it in dependency order
 * ("a -> b -> a" means b runs after a, a after b). */
static void report_cycle(weft_graph_t *g)
{
    weft_task_t *start = NULL;
    FOR_EACH_TASK(g, t, {
        t->next = NULL;
        if (!start && atomic_load_explicit(&t->join, memory_order_relaxed) > 0)
            start = t;
    });
    /* Walk backwards; `next` records the task we came from (its
     * successor on the walk). The first task seen twice closes a cycle. */
    weft_task_t *cur = start;
    cur->next = (weft_task_t *)g; /* "visited" sentinel, replaced below */
    for (;;) {
        weft_task_t *p = NULL;
        for (int32_t i = 0; i < cur->ndeps; i++)
            if (atomic_load_explicit(&cur->pred[i]->join, memory_order_relaxed) > 0) {
                p = cur->pred[i];
                break;
            }
        if (p->next) { /* seen: p -> cur -> ... -> p is the cycle */
            p->next = cur;
            start = p;
            break;
        }
        p->next = cur;
        cur = p;
    }
    /* From start, follow `next` (successor direction) until back. */
    size_t off = 0;
    char lb[32];
    err_append(g, &off, "cycle: ");
    err_append(g, &off, weft__task_label(start, lb, sizeof lb));
    for (weft_task_t *t = start->next;; t = t->next) {
        err_append(g, &off, " -> ");
        err_append(g, &off, weft__task_label(t, lb, sizeof lb));
        if (t == start)
            break;
    }
    FOR_EACH_TASK(g, t, t->next = NULL);
}

static int kahn(weft_graph_t *g)
{
    /* Queue through `next`, seeded with the sources (already collected). */
    weft_task_t *head = NULL, *tail = NULL;
    for (size_t r = 0; r < g->nsrc; r++)
        for (size_t i = g->src[r].lo; i < g->src[r].hi; i++) {
            weft__queue_append(&head, &tail, task_at(g, i));
        }
    size_t seen = 0;
    while (head) {
        weft_task_t *t = head;
        head = t->next;
        seen++;
        for (uint32_t i = 0; i < t->nsucc; i++) {
            weft_task_t *s = t->succ[i];
            int32_t j = atomic_load_explicit(&s->join, memory_order_relaxed) - 1;
            atomic_store_explicit(&s->join, j, memory_order_relaxed);
            if (j == 0)
                weft__queue_append(&head, &tail, s);
        }
    }
    int rc = 0;
    if (seen != g->ntasks) {
        report_cycle(g);
        rc = WEFT_ECYCLE;
    }
    FOR_EACH_TASK(g, t, {
        atomic_store_explicit(&t->join, t->ndeps, memory_order_relaxed);
        t->next = NULL;
    });
    return rc;
}

/* Rebuilds the source ranges without the tasks that gained dependencies.
 * On failure the old ranges stay (still a superset: tasks with
 * dependencies are skipped again next time). */
static int split_sources(weft_graph_t *g)
{
    weft__src_range_t *old = g->src;
    size_t nold = g->nsrc;
    g->src = NULL;
    g->nsrc = g->cap_src = 0;
    for (size_t r = 0; r < nold; r++) {
        size_t lo = old[r].lo;
        for (size_t i = old[r].lo; i <= old[r].hi; i++) {
            if (i < old[r].hi && task_at(g, i)->ndeps == 0)
                continue;
            if (i > lo && src_push(g, lo, i)) {
                weft__free(g->src);
                g->src = old;
                g->nsrc = g->cap_src = nold;
                return WEFT_ENOMEM;
            }
            lo = i + 1;
        }
    }
    weft__free(old);
    g->stale_sources = 0;
    return 0;
}

int weft__graph_prepare(weft_graph_t *g)
{
    g->errbuf[0] = '\0';
    if (!g->dirty)
        return 0;
    if (g->stale_sources && split_sources(g))
        return WEFT_ENOMEM;
    size_t n = 0;
    for (size_t r = 0; r < g->nsrc; r++)
        n += g->src[r].hi - g->src[r].lo;
    g->nsources = n;
    if (g->maybe_cyclic) {
        int rc = kahn(g);
        if (rc)
            return rc;
    }
    for (int k = 0; k < g->nkinds; k++) {
        int rc = g->kinds[k].ops->prepare ? g->kinds[k].ops->prepare(g, g->kinds[k].state) : 0;
        if (rc)
            return rc;
    }
    g->dirty = 0;
    return 0;
}

void weft__graph_drop_result(weft_task_t *t)
{
    void *r = atomic_exchange_explicit(&t->result, NULL, memory_order_acq_rel);
    if (!r)
        return;
    void (*d)(void *) = t->dtor;
    t->dtor = NULL;
    if (d)
        d(r);
}

void weft__graph_release_result(weft_task_t *t)
{
    weft__graph_drop_result(t);
    t->flags &= (uint16_t) ~(TASK_F_RESULT | TASK_F_SHARED);
}

/* ==== task kinds (weft__task_ops_t) ====================================== */

static int kind_slot(const weft_graph_t *g, const weft__task_ops_t *ops)
{
    for (int k = 0; k < g->nkinds; k++)
        if (g->kinds[k].ops == ops)
            return k;
    return -1;
}

/* ops's slot in g, made when missing (g idle); -1 when g holds too many. */
static int kind_add(weft_graph_t *g, const weft__task_ops_t *ops)
{
    int k = kind_slot(g, ops);
    if (k >= 0 || g->nkinds == WEFT__GRAPH_KINDS)
        return k;
    k = g->nkinds++;
    g->kinds[k].ops = ops;
    g->kinds[k].state = NULL;
    g->dirty = 1;
    return k;
}

void *weft__graph_kind_state(const weft_graph_t *g, const weft__task_ops_t *ops)
{
    int k = kind_slot(g, ops);
    return k < 0 ? NULL : g->kinds[k].state;
}

int weft__graph_set_kind_state(weft_graph_t *g, const weft__task_ops_t *ops, void *state)
{
    int rc = graph_change(g);
    if (rc)
        return rc;
    int k = kind_add(g, ops);
    if (k < 0)
        return WEFT_ENOTSUP;
    g->kinds[k].state = state;
    return 0;
}

int weft__graph_add_kind(weft_graph_t *g, const char *name, const weft__task_ops_t *ops, void *arg, unsigned flags,
                         weft_task_t **out)
{
    if (out)
        *out = NULL;
    if (!g || !ops || !ops->start || !out)
        return WEFT_EINVAL;
    int rc = graph_change(g);
    if (rc)
        return rc;
    if (kind_add(g, ops) < 0)
        return WEFT_ENOTSUP;
    rc = weft_graph_add_ex(g, name, ops->start, arg, flags, out); /* its function tells its kind */
    if (rc == 0 && ops->limits)
        (*out)->flags |= TASK_F_LIMITS; /* the kind's limits (call_limited) */
    return rc;
}

const weft__task_ops_t *weft__task_ops(const weft_task_t *t)
{
    return weft__kind_of(t);
}

const char *weft_task_kind(const weft_task_t *t)
{
    if (!t)
        return NULL;
    const weft__task_ops_t *o = weft__kind_of(t);
    return o ? o->kind : "function";
}

int weft__graph_change(weft_graph_t *g)
{
    int rc = graph_change(g);
    if (!rc) {
        g->dirty = 1;
        g->version++;
    }
    return rc;
}

uint32_t weft__graph_version(const weft_graph_t *g)
{
    return g->version;
}

uint32_t weft__graph_runs(const weft_graph_t *g)
{
    return g->runs;
}

void *weft__task_arg(const weft_task_t *t)
{
    return t->arg;
}

weft_graph_t *weft__task_graph(const weft_task_t *t)
{
    return t->graph;
}

size_t weft__task_ndeps(const weft_task_t *t)
{
    return (size_t)t->ndeps;
}

weft_task_t *weft__task_pred(const weft_task_t *t, size_t i)
{
    return t->pred[i];
}

size_t weft__task_nsucc(const weft_task_t *t)
{
    return t->nsucc;
}

weft_task_t *weft__task_succ(const weft_task_t *t, size_t i)
{
    return t->succ[i];
}

/* How the layers below the scheduler name and tag tasks (base.h). */
const weft__exec_task_ops_t weft__task_exec_ops = {weft__task_label, weft__task_mem_tag};

weft_fn weft__task_fn(const weft_task_t *t)
{
    return t->fn;
}

void *weft__graph_alloc(weft_graph_t *g, size_t size, size_t align)
{
    return weft__arena_alloc(&g->arena, size, align);
}

int weft__graph_busy(const weft_graph_t *g)
{
    return graph_busy(g);
}

void weft__task_fail_note(weft_task_t *t, int attempt, const char *text)
{
    weft__graph_fail_note(t->graph, t, attempt * 2, text);
}

void *weft__task_result(const weft_task_t *t, void (**dtor)(void *))
{
    void *r = atomic_load_explicit(&t->result, memory_order_acquire);
    *dtor = r ? t->dtor : NULL;
    return r;
}

/* ==== per-task limits: timeout and retries ================================= */

weft__limits_t *weft__graph_limits(const weft_graph_t *g, const weft_task_t *t)
{
    size_t lo = 0, hi = g->nlimits;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->limits[mid].index < t->index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->nlimits && g->limits[lo].index == t->index ? &g->limits[lo] : NULL;
}

/* t's entry, made (in index order) when it has none. */
static weft__limits_t *limits_of(weft_task_t *t)
{
    weft_graph_t *g = t->graph;
    weft__limits_t *l = weft__graph_limits(g, t);
    if (l)
        return l;
    if (WEFT__GROW(g->limits, g->cap_limits, g->nlimits + 1, 16))
        return NULL;
    size_t at = g->nlimits;
    while (at > 0 && g->limits[at - 1].index > t->index)
        at--;
    memmove(&g->limits[at + 1], &g->limits[at], (g->nlimits - at) * sizeof *g->limits);
    g->nlimits++;
    l = &g->limits[at];
    l->index = t->index;
    l->retries = 0;
    l->cpus = 0;
    l->gpus = 0;
    l->timeout_ns = 0;
    l->retry_delay_ns = 0;
    l->retry_backoff = 1;
    atomic_init(&l->attempts, 0);
    t->flags |= TASK_F_LIMITS;
    return l;
}

static int limits_change(weft_task_t *t)
{
    if (!t || (t->flags & TASK_F_CHILD))
        return WEFT_EINVAL;
    const weft__task_ops_t *o = weft__kind_of(t);
    if (o && o->own_attempts)
        return WEFT_EINVAL;
    return graph_change(t->graph);
}

int weft_task_set_timeout(weft_task_t *t, double seconds)
{
    int rc = limits_change(t);
    if (rc)
        return rc;
    if (!(seconds >= 0 && seconds < 1e9)) /* NaN too */
        return WEFT_EINVAL;
    weft__limits_t *l = limits_of(t);
    if (!l)
        return WEFT_ENOMEM;
    l->timeout_ns = (uint64_t)(seconds * 1e9 + 0.5);
    return 0;
}

int weft_task_set_retries(weft_task_t *t, int retries)
{
    int rc = limits_change(t);
    if (rc)
        return rc;
    if (retries < 0 || retries > 1000)
        return WEFT_EINVAL;
    weft__limits_t *l = limits_of(t);
    if (!l)
        return WEFT_ENOMEM;
    l->retries = retries;
    return 0;
}

int weft_task_set_always(weft_task_t *t, int always)
{
    if (!t || (t->flags & TASK_F_CHILD) || (always != 0 && always != 1))
        return WEFT_EINVAL;
    int rc = graph_change(t->graph);
    if (rc)
        return rc;
    t->flags = (uint16_t)(always ? t->flags | TASK_F_ALWAYS : t->flags & ~TASK_F_ALWAYS);
    return 0;
}

int weft_task_set_cpus(weft_task_t *t, int cpus)
{
    int rc = limits_change(t);
    if (rc)
        return rc;
    if (cpus < 0 || cpus > WEFT_MAX_CPUS)
        return WEFT_EINVAL;
    weft__limits_t *l = limits_of(t);
    if (!l)
        return WEFT_ENOMEM;
    l->cpus = cpus;
    return 0;
}

int weft_task_set_retry_delay(weft_task_t *t, double seconds, double backoff)
{
    int rc = limits_change(t);
    if (rc)
        return rc;
    if (!(seconds >= 0 && seconds < 1e9) || !(backoff == 0 || (backoff >= 1 && backoff <= 100)))
        return WEFT_EINVAL;
    weft__limits_t *l = limits_of(t);
    if (!l)
        return WEFT_ENOMEM;
    l->retry_delay_ns = (uint64_t)(seconds * 1e9 + 0.5);
    l->retry_backoff = backoff > 0 ? backoff : 1;
    return 0;
}

int weft_task_set_gpus(weft_task_t *t, int gpus)
{
    int rc = limits_change(t);
    if (rc)
        return rc;
    if (gpus < 0 || gpus > 64)
        return WEFT_EINVAL;
    weft__limits_t *l = limits_of(t);
    if (!l)
        return WEFT_ENOMEM;
    l->gpus = gpus;
    return 0;
}

int weft_task_attempts(const weft_task_t *t)
{
    if (!t || (t->flags & TASK_F_CHILD))
        return WEFT_EINVAL;
    if (graph_busy(t->graph))
        return WEFT_EBUSY;
    if (t->state != WEFT_TASK_DONE && t->state != WEFT_TASK_FAILED)
        return 0;
    const weft__limits_t *l = (t->flags & TASK_F_LIMITS) ? weft__graph_limits(t->graph, t) : NULL;
    return l ? atomic_load_explicit(&l->attempts, memory_order_relaxed) : 1;
}

const char *weft_task_error(const weft_task_t *t)
{
    if (!t || (t->flags & TASK_F_CHILD) || graph_busy(t->graph) || t->state != WEFT_TASK_FAILED)
        return "";
    return weft__task_fail_text(t);
}

const char *weft__task_fail_text(const weft_task_t *t)
{
    const weft_graph_t *g = t->graph;
    const char *m = weft__graph_fail_text(g, t);
    const weft__task_ops_t *o = m ? NULL : weft__kind_of(t);
    if (o && o->describe)
        m = o->describe(t);
    return m ? m : "";
}

/* ==== queries ============================================================ */

const char *weft_graph_error(const weft_graph_t *g)
{
    return g ? g->errbuf : "";
}

const char *weft_graph_first_failure(const weft_graph_t *g)
{
    if (!g || graph_busy(g) || !atomic_load_explicit(&g->has_failure, memory_order_acquire))
        return NULL;
    return g->fail_name;
}

int weft_graph_stats(const weft_graph_t *g, weft_run_stats_t *st)
{
    if (!g || !st)
        return WEFT_EINVAL;
    if (atomic_load_explicit(&g->phase, memory_order_acquire) == PHASE_RUNNING)
        return WEFT_EBUSY;
    st->failed = atomic_load_explicit(&g->nfailed, memory_order_relaxed);
    st->cancelled = atomic_load_explicit(&g->ncancelled, memory_order_relaxed);
    st->not_run = atomic_load_explicit(&g->nnotrun, memory_order_relaxed);
    if (!g->pool) /* never ran */
        st->not_run = g->ntasks;
    st->done = g->ntasks - st->failed - st->cancelled - st->not_run;
    return 0;
}

int weft_task_state(const weft_task_t *t)
{
    return t ? t->state : WEFT_EINVAL;
}

int weft_task_status(const weft_task_t *t)
{
    return t ? atomic_load_explicit(&t->rc, memory_order_relaxed) : WEFT_EINVAL;
}

const char *weft_task_name(const weft_task_t *t)
{
    if (!t)
        return "";
    if (t->name)
        return t->name;
    /* Unnamed: render "#<index>" once into the arena on demand would need
     * the graph to be mutable; a per-thread buffer is enough for display. */
    static _Thread_local char buf[32];
    snprintf(buf, sizeof buf, "#%u", t->index);
    return buf;
}

void *weft_task_result(const weft_task_t *t)
{
    return t ? atomic_load_explicit(&t->result, memory_order_relaxed) : NULL;
}
