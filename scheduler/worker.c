/* The worker loop: run a task, release its successors (keeping one to run
 * next), find more work (own deque, new graphs' sources, stealing), and
 * park on the eventcount when there is none. */
#include "scheduler/internal.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Thread_local weft__worker_t *tls_worker;

weft__worker_t *weft__worker_current(const weft__pool_t *p)
{
    weft__worker_t *w = tls_worker;
    return (w && w->pool == p) ? w : NULL;
}

int weft__pool_is_worker(const weft__pool_t *p)
{
    return weft__worker_current(p) != NULL;
}

int weft__pool_slot(const weft__pool_t *p)
{
    weft__worker_t *w = weft__worker_current(p);
    return w ? w->index : -1;
}

int weft__pool_slots(const weft__pool_t *p)
{
    return p->nslots;
}

int weft__pool_workers(const weft__pool_t *p)
{
    return p->nworkers;
}

weft_task_t *weft__pool_running_task(const weft__pool_t *p)
{
    weft__worker_t *w = weft__worker_current(p);
    return w ? w->ctx.task : NULL;
}

weft__exec_owner_t *weft__pool_exec_owner(weft__pool_t *p)
{
    return &p->exec;
}

weft_task_t *weft__thread_task(void)
{
    weft__worker_t *w = tls_worker;
    return w ? w->ctx.task : NULL;
}

weft_task_t *const *weft__pool_running_slot(const weft__pool_t *p)
{
    weft__worker_t *w = weft__worker_current(p);
    return w && w->index < p->nworkers ? &w->ctx.task : NULL;
}

weft__trace_t *weft__thread_trace(int *slot)
{
    weft__worker_t *w = tls_worker;
    if (!w || !w->trace)
        return NULL;
    *slot = w->index;
    return w->trace;
}

void weft__pool_set_executor(weft__pool_t *p, int kind, void *ex)
{
    if (kind >= 0 && kind < WEFT__EXEC_KINDS)
        p->executor[kind] = ex;
}

void weft__pool_set_admission(weft__pool_t *p, const weft__admit_ops_t *ops, void *ud)
{
    p->admit = ops;
    p->admit_ud = ud;
}

void *weft__pool_executor(const weft__pool_t *p, int kind)
{
    return p && kind >= 0 && kind < WEFT__EXEC_KINDS ? p->executor[kind] : NULL;
}

void weft__pool_set_trace(weft__pool_t *p, weft__trace_t *tr)
{
    p->trace = tr;
    for (int i = 0; i < p->nslots; i++)
        p->slots[i].trace = tr;
}

weft__trace_t *weft__pool_trace(const weft__pool_t *p)
{
    return p->trace;
}

weft_graph_t *weft__pool_running_graph(const weft__pool_t *p)
{
    weft__worker_t *w = weft__worker_current(p);
    return w && w->ctx.task ? w->ctx.task->graph : NULL;
}

weft__worker_t *weft__worker_enter(weft__worker_t *w)
{
    weft__worker_t *prev = tls_worker;
    tls_worker = w;
    weft__exec_set(w ? &w->exec : NULL);
    return prev;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ==== completion counting ================================================
 * Every finished task of a run decrements the graph's `remaining`. Doing
 * that per task would make all workers fight over one cache line, so each
 * worker counts locally and subtracts in one go when it switches graphs or
 * runs out of work. The worker that brings it to zero completes the run. */

void weft__worker_flush(weft__worker_t *w)
{
    if (!w->cnt)
        return;
    weft_graph_t *g = w->cnt_graph;
    size_t n = w->cnt;
    w->cnt = 0;
    w->cnt_graph = NULL;
    /* acq_rel: the completer must see every task's effects (release by
     * each flusher, acquire by the last). */
    if (atomic_fetch_sub_explicit(&g->remaining, n, memory_order_acq_rel) == n)
        weft__graph_complete(g);
}

/* ==== queueing =========================================================== */

void weft__worker_push(weft__worker_t *w, weft_task_t *t)
{
    if (weft__wsq_push(&w->q, t) != 0) {
        /* The deque could not grow: keep the task on a private stack.
         * Nothing is lost; it is only not stealable. */
        t->next = w->overflow;
        w->overflow = t;
    }
}

/* Takes v's whole inbox and queues it on w's deque; returns one task. */
static weft_task_t *take_inbox(weft__worker_t *w, weft__worker_t *v)
{
    if (!atomic_load_explicit(&v->inbox, memory_order_relaxed))
        return NULL;
    /* acquire: pairs with the release CAS that published the list. */
    weft_task_t *list = atomic_exchange_explicit(&v->inbox, NULL, memory_order_acquire);
    if (!list)
        return NULL;
    weft_task_t *first = list;
    int more = 0;
    for (weft_task_t *t = list->next; t;) {
        weft_task_t *n = t->next;
        weft__worker_push(w, t);
        t = n;
        more = 1;
    }
    if (more)
        weft__ecount_notify(&w->pool->ec, 0);
    return first;
}

static inline weft_task_t *pop_local(weft__worker_t *w)
{
    if (w->overflow) {
        weft_task_t *t = w->overflow;
        w->overflow = t->next;
        t->next = NULL;
        return t;
    }
    weft_task_t *t = weft__wsq_pop(&w->q);
    return t ? t : take_inbox(w, w);
}

/* Hands the list first..last (n tasks, linked by next) to v's inbox. */
static void give(weft__worker_t *v, weft_task_t *first, weft_task_t *last)
{
    weft_task_t *head = atomic_load_explicit(&v->inbox, memory_order_relaxed);
    do
        last->next = head;
    /* release: the receiver sees the links and the tasks' state. */
    while (!atomic_compare_exchange_weak_explicit(&v->inbox, &head, first, memory_order_release, memory_order_relaxed));
}

/* From any thread (a deferred completion): t goes to the first worker's
 * inbox, where any worker looking for work finds it. Once t is given, its
 * run may end and the runtime be destroyed before the notify below is
 * done: `givers` (raised before the hand-off, so anyone who sees the run
 * end sees it raised) holds weft__pool_destroy back until we are out. */
void weft__pool_give(weft__pool_t *p, weft_task_t *t)
{
    atomic_fetch_add_explicit(&p->givers, 1, memory_order_relaxed);
    give(&p->slots[0], t, t);
    weft__ecount_notify(&p->ec, 0);
    atomic_fetch_sub_explicit(&p->givers, 1, memory_order_release);
}

/* Takes a chunk of a submitted graph's sources: runs the first, pushes the
 * rest on our deque where others can steal them. */
static weft_task_t *claim_sources(weft__worker_t *w)
{
    weft__pool_t *p = w->pool;
    if (!atomic_load_explicit(&p->inject_head, memory_order_acquire))
        return NULL;
    pthread_mutex_lock(&p->inject_lock);
    weft_graph_t *g = atomic_load_explicit(&p->inject_head, memory_order_relaxed);
    if (!g) {
        pthread_mutex_unlock(&p->inject_lock);
        return NULL;
    }
    weft__src_range_t *r = &g->src[g->src_ri];
    size_t lo = r->lo + g->src_pos;
    size_t n = r->hi - lo;
    if (n > g->src_chunk)
        n = g->src_chunk;
    g->src_pos += n;
    if (lo + n == r->hi) {
        g->src_pos = 0;
        if (++g->src_ri == g->nsrc) {
            atomic_store_explicit(&p->inject_head, g->inject_next, memory_order_relaxed);
            if (!g->inject_next)
                p->inject_tail = NULL;
            g->inject_next = NULL;
        }
    }
    pthread_mutex_unlock(&p->inject_lock);
    for (size_t k = lo + n - 1; k > lo; k--)
        weft__worker_push(w, weft__task_at(g, k));
    if (n > 1)
        weft__ecount_notify(&p->ec, 0);
    return weft__task_at(g, lo);
}

/* One pass over the other slots from a random start. Takes up to half of
 * a victim's queue (at most 16 tasks) in one visit. */
static weft_task_t *steal(weft__worker_t *w, int *contended)
{
    weft__pool_t *p = w->pool;
    int n = p->nslots;
    /* xorshift64: cheap, per-worker, good enough to spread victims. */
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    int start = (int)(w->rng % (uint64_t)n);
    for (int k = 0; k < n; k++) {
        weft__worker_t *v = &p->slots[(start + k) % n];
        if (v == w)
            continue;
        weft_task_t *in = take_inbox(w, v);
        if (in)
            return in;
        void *x;
        int r = weft__wsq_steal(&v->q, &x);
        if (r == WEFT_WSQ_ABORT) {
            *contended = 1;
            continue;
        }
        if (r != WEFT_WSQ_OK)
            continue;
        int64_t more = weft__wsq_size(&v->q) / 2;
        if (more > 16)
            more = 16;
        int got = 0;
        for (int64_t j = 0; j < more; j++) {
            void *y;
            if (weft__wsq_steal(&v->q, &y) != WEFT_WSQ_OK)
                break;
            weft__worker_push(w, y);
            got = 1;
        }
        if (got)
            weft__ecount_notify(&p->ec, 0);
        return x;
    }
    return NULL;
}

weft_task_t *weft__worker_find(weft__worker_t *w)
{
    weft_task_t *t = pop_local(w);
    if (t)
        return t;
    t = claim_sources(w);
    if (t)
        return t;
    int contended = 0;
    return steal(w, &contended);
}

/* Looks for work for about spin_us before giving up. */
int weft__worker_spin(weft__worker_t *w, weft_task_t **out)
{
    uint64_t deadline = 0;
    for (unsigned iter = 0;; iter++) {
        weft_task_t *t = claim_sources(w);
        int contended = 0;
        if (!t)
            t = steal(w, &contended);
        if (t) {
            *out = t;
            return 1;
        }
        if ((iter & 15) == 15) {
            uint64_t now = weft__clock_ns();
            if (!deadline)
                deadline = now + (uint64_t)w->pool->spin_us * 1000u;
            else if (now >= deadline && !contended)
                return 0;
            sched_yield();
        } else {
            for (int i = 0; i < 32; i++)
                cpu_relax();
        }
        if (w->pool->spin_us == 0 && !contended)
            return 0;
    }
}

/* Is anything runnable anywhere? seq_cst loads: see ecount.h. */
int weft__pool_has_work(weft__pool_t *p)
{
    if (atomic_load_explicit(&p->inject_head, memory_order_seq_cst))
        return 1;
    for (int i = 0; i < p->nslots; i++)
        if (weft__wsq_size(&p->slots[i].q) > 0 || atomic_load_explicit(&p->slots[i].inbox, memory_order_seq_cst))
            return 1;
    return 0;
}

/* ==== join combining =====================================================
 * When many tasks feed one wide join (fork-join), every finish would hit
 * the join's counter from every worker. Instead a worker owes the join its
 * decrements and pays them in one atomic when it runs anything that does
 * not feed that join, or before it looks for work elsewhere. The join
 * cannot become ready before the tasks feeding it finish, so holding the
 * decrements while running only such tasks delays nothing. */

#define JOIN_COMBINE_MIN 16

/* Pays what w owes; returns the join if that made it ready. */
static weft_task_t *pay_join(weft__worker_t *w)
{
    weft_task_t *j = w->join_task;
    if (!j)
        return NULL;
    int32_t n = w->join_owed;
    w->join_task = NULL;
    w->join_owed = 0;
    if (atomic_fetch_sub_explicit(&j->join, n, memory_order_acq_rel) == n) {
        atomic_store_explicit(&j->join, j->ndeps, memory_order_relaxed);
        return j;
    }
    return NULL;
}

void weft__worker_settle(weft__worker_t *w)
{
    weft_task_t *j = pay_join(w);
    if (j)
        weft__worker_execute(w, j);
}

static inline int feeds_owed_join(const weft__worker_t *w, const weft_task_t *t)
{
    return t->nsucc == 1 && t->succ[0] == w->join_task;
}

/* ==== running tasks ====================================================== */

static void count_state(weft_graph_t *g, int state)
{
    _Atomic size_t *c = state == WEFT_TASK_FAILED      ? &g->nfailed
                        : state == WEFT_TASK_CANCELLED ? &g->ncancelled
                                                       : &g->nnotrun;
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* A wide fan-out: the ready successors are split evenly between this
 * worker and the others, each share handed over with one atomic, instead
 * of being pushed one by one and stolen one by one. */
#define FANOUT_SPREAD 64

static weft_task_t *fan_out(weft__worker_t *w, weft_task_t *t)
{
    weft_task_t *head = NULL, *tail = NULL, *keep = NULL;
    size_t n = 0;
    for (uint32_t i = 0; i < t->nsucc; i++) {
        weft_task_t *s = t->succ[i];
        if (atomic_fetch_sub_explicit(&s->join, 1, memory_order_acq_rel) != 1)
            continue;
        atomic_store_explicit(&s->join, s->ndeps, memory_order_relaxed);
        if (!keep) {
            keep = s;
            continue;
        }
        weft__queue_append(&head, &tail, s);
        n++;
    }
    weft__pool_t *p = w->pool;
    int nw = p->nworkers;
    size_t share = n / (size_t)nw;
    if (share >= 8) {
        int v = w->index;
        for (int k = 1; k < nw; k++) {
            v = (v + 1) % nw;
            weft_task_t *first = head, *last = head;
            for (size_t j = 1; j < share; j++)
                last = last->next;
            head = last->next;
            give(&p->slots[v], first, last);
        }
    }
    int pushed = 0;
    while (head) {
        weft_task_t *nx = head->next;
        weft__worker_push(w, head);
        head = nx;
        pushed = 1;
    }
    if (pushed || share >= 8)
        weft__ecount_notify(&p->ec, 1);
    return keep;
}

/* The task (and its children) is finished with `state`: count it and
 * release its successors. Returns one successor that became ready, to run
 * next without a queue round trip; the others go on our deque. */
/* t has finished: shared results of its dependencies that it was the last
 * to need are released (weft_ctx_share_result). */
static void consume(weft_task_t *t)
{
    for (int32_t i = 0; i < t->ndeps; i++) {
        weft_task_t *p = t->pred[i];
        /* not p's flags: a GPU task's successors released early may finish
         * while its worker still writes them. acq_rel: the last consumer
         * sees the others done with the result. */
        if (atomic_load_explicit(&p->consumers, memory_order_relaxed) > 0 &&
            atomic_fetch_sub_explicit(&p->consumers, 1, memory_order_acq_rel) == 1)
            weft__graph_drop_result(p);
    }
}

/* s is ready: the first one found is kept to run next, the others pushed. */
static inline void keep_or_push(weft__worker_t *w, weft_task_t **keep, weft_task_t *s, int *pushed)
{
    if (!*keep) {
        *keep = s;
    } else {
        weft__worker_push(w, s);
        *pushed = 1;
    }
}

/* Decrements s's join; returns s when that made it ready. */
static inline weft_task_t *release(weft_task_t *s)
{
    /* acq_rel: the task that reaches zero sees all its dependencies'
     * effects (results, poison). */
    if (atomic_fetch_sub_explicit(&s->join, 1, memory_order_acq_rel) != 1)
        return NULL;
    /* No one else touches s->join in this run: re-arm it now so that the
     * next run needs no reset pass. */
    atomic_store_explicit(&s->join, s->ndeps, memory_order_relaxed);
    return s;
}

/* Pushes the ready tasks of succ[] selected by `early` (the ones a task of
 * a kind with early() releases itself, or the others), keeping one. */
static weft_task_t *release_some(weft__worker_t *w, const weft_task_t *t, int early, uint8_t poison)
{
    weft_task_t *keep = NULL;
    int pushed = 0;
    const weft__task_ops_t *o = weft__kind_of(t);
    for (uint32_t i = 0; i < t->nsucc; i++) {
        weft_task_t *s = t->succ[i];
        if ((o && o->early && s->fn == o->start && o->early(t, s)) != early)
            continue;
        if (poison)
            atomic_fetch_or_explicit(&s->poison, poison, memory_order_relaxed);
        if (release(s))
            keep_or_push(w, &keep, s, &pushed);
    }
    if (pushed)
        weft__ecount_notify(&w->pool->ec, 0);
    return keep;
}

/* The successors t did not release early (weft__ctx_release_early). */
static weft_task_t *finish_late(weft__worker_t *w, weft_task_t *t, uint8_t poison)
{
    t->flags &= (uint16_t)~TASK_F_EARLY;
    return release_some(w, t, 0, poison);
}

void weft__ctx_release_early(weft_ctx_t *ctx)
{
    weft_task_t *t = ctx ? ctx->task : NULL;
    const weft__task_ops_t *o = t && !(t->flags & (TASK_F_CHILD | TASK_F_EARLY)) ? weft__kind_of(t) : NULL;
    if (!o || !o->early)
        return;
    t->flags |= TASK_F_EARLY;
    weft_task_t *keep = release_some(ctx->w, t, 1, 0);
    if (keep) { /* the body is still running: queue it too */
        weft__worker_push(ctx->w, keep);
        weft__ecount_notify(&ctx->w->pool->ec, 0);
    }
}

static weft_task_t *finish(weft__worker_t *w, weft_task_t *t, int state)
{
    weft_graph_t *g = t->graph;
    t->state = (uint8_t)state;
    if (atomic_load_explicit(&g->has_shared, memory_order_relaxed))
        consume(t);
    if (w->cnt_graph != g) { /* a nested run inside the task switched it */
        weft__worker_flush(w);
        w->cnt_graph = g;
    }
    w->cnt++;
    uint8_t poison = 0;
    if (state != WEFT_TASK_DONE) {
        count_state(g, state);
        poison = state == WEFT_TASK_NOT_RUN ? POISON_STOP : POISON_CANCEL;
    }
    if (__builtin_expect(t->flags & TASK_F_EARLY, 0))
        return finish_late(w, t, poison);
    weft_task_t *keep = NULL;
    int pushed = 0;
    weft_task_t **succ = t->succ;
    if (t->nsucc >= FANOUT_SPREAD && w->pool->nworkers > 1 && !poison)
        return fan_out(w, t);
    for (uint32_t i = 0, n = t->nsucc; i < n; i++) {
        weft_task_t *s = succ[i];
        if (poison) /* relaxed: published by the release decrement below */
            atomic_fetch_or_explicit(&s->poison, poison, memory_order_relaxed);
        if (s->ndeps >= JOIN_COMBINE_MIN && !poison) {
            if (s != w->join_task) {
                weft_task_t *r = pay_join(w);
                if (r)
                    keep_or_push(w, &keep, r, &pushed);
                w->join_task = s;
            }
            w->join_owed++;
            continue;
        }
        if (release(s))
            keep_or_push(w, &keep, s, &pushed);
    }
    if (pushed)
        weft__ecount_notify(&w->pool->ec, 0);
    return keep;
}

/* A spawned child has finished: free it and, when it was the last one,
 * finish its parent. Returns what finishing the parent made ready. */
static weft_task_t *finish_child(weft__worker_t *w, weft_task_t *t, int state)
{
    struct weft_child *c = (struct weft_child *)t;
    weft_task_t *parent = c->parent;
    int rc = atomic_load_explicit(&t->rc, memory_order_relaxed);
    if (state == WEFT_TASK_FAILED) {
        int zero = 0; /* the parent's own code wins; else the first child's */
        atomic_compare_exchange_strong_explicit(&parent->rc, &zero, rc, memory_order_relaxed, memory_order_relaxed);
    }
    if (t->flags & TASK_F_DEFERRED)
        weft__graph_retire(t->graph, c);
    else
        weft__aligned_free(c);
    /* acq_rel: the last one to leave sees the others' rc updates. */
    if (atomic_fetch_sub_explicit(&parent->pending, 1, memory_order_acq_rel) != 1)
        return NULL;
    /* We are the last one touching the parent in this run. */
    if (atomic_load_explicit(&parent->rc, memory_order_relaxed))
        parent->flags |= TASK_F_RC;
    if (parent->flags & TASK_F_CHILD) {
        int pst = atomic_load_explicit(&parent->rc, memory_order_relaxed) ? WEFT_TASK_FAILED : WEFT_TASK_DONE;
        return finish_child(w, parent, pst);
    }
    return finish(w, parent,
                  atomic_load_explicit(&parent->rc, memory_order_relaxed) ? WEFT_TASK_FAILED : WEFT_TASK_DONE);
}

static __attribute__((noinline, cold)) void trace_ran(weft__trace_t *tr, weft__worker_t *w, const weft_task_t *t,
                                                      uint64_t t0, int rc)
{
    int kind = !(t->flags & TASK_F_CHILD) ? TEV_TASK : (t->flags & TASK_F_DEFERRED) ? TEV_DONE : TEV_CHILD;
    weft__trace_task(tr, w->index, t, kind, rc ? WEFT_TASK_FAILED : WEFT_TASK_DONE, t0, weft__tick(), rc);
}

/* Back on the worker's own cpus after a task with cpus moved it. */
static __attribute__((noinline)) void return_home(weft__worker_t *w)
{
    weft__pool_t *p = w->pool;
    w->moved = 0;
    if (p->topo)
        weft__topo_bind_self(p->topo, w->set ? w->set : &p->all_cpus);
}

/* Tells t's kind about an attempt (weft__task_ops_t.attempt_end); returns
 * whether a retry may follow. */
static int attempt_told(weft_task_t *t, weft__attempt_t *a)
{
    const weft__task_ops_t *o = weft__kind_of(t);
    if (!o || !o->attempt_end)
        return a->retry;
    return o->attempt_end(t, a) && a->retry;
}

enum { CALL_OWN = 1, CALL_NOT_RUN = 2 }; /* what call_limited leaves in ctx.own */

/* The pause before the retry of attempt k (weft_task_set_retry_delay), in
 * slices so that a stop ends it; 0 when the run stopped meanwhile. */
static int retry_pause(const weft_task_t *t, const weft__limits_t *l, int k)
{
    if (!l->retry_delay_ns)
        return 1;
    double d = (double)l->retry_delay_ns;
    for (int i = 1; i < k && d < 86400e9; i++)
        d *= l->retry_backoff;
    uint64_t end = weft__clock_ns() + (d > 86400e9 ? (uint64_t)86400e9 : (uint64_t)d);
    for (uint64_t now; (now = weft__clock_ns()) < end;) {
        if (atomic_load_explicit(&t->graph->stop, memory_order_relaxed) != STOP_NONE)
            return 0;
        uint64_t left = end - now, slice = left < 10000000u ? left : 10000000u;
        struct timespec ts = {(time_t)(slice / 1000000000u), (long)(slice % 1000000000u)};
        nanosleep(&ts, NULL);
    }
    return atomic_load_explicit(&t->graph->stop, memory_order_relaxed) == STOP_NONE;
}

/* A task with a timeout, retries, cpus or gpus: its resources first (the
 * worker waits for them and runs bound to the cpus; a worker keeps the
 * slots it had when it can and moves only when they change); then each
 * attempt runs with a deadline that weft_ctx_should_stop reports
 * (cooperative: a function that never asks runs to its end, and is then
 * timed out all the same); a failed or timed-out attempt is run again
 * while retries are left and the run is not stopping. Returns the last
 * attempt's code; ctx.own says whose code it is (CALL_OWN: weft's), or
 * that the task never ran (CALL_NOT_RUN: the run stopped while it
 * waited). */
static __attribute__((noinline)) int call_limited(weft__worker_t *w, weft_task_t *t)
{
    weft__limits_t *l = weft__graph_limits(t->graph, t), kl;
    if (!l) { /* none of its own: its kind's, in a copy (their attempts are not kept) */
        const weft__task_ops_t *o = weft__kind_of(t);
        const weft__kind_limits_t *k = o && o->limits ? o->limits(t) : NULL;
        if (!k)
            return t->fn(&w->ctx, t->arg);
        kl = (weft__limits_t){.index = t->index,
                              .retries = k->retries,
                              .cpus = k->cpus,
                              .gpus = k->gpus,
                              .timeout_ns = k->timeout_ns,
                              .retry_delay_ns = k->retry_delay_ns,
                              .retry_backoff = k->retry_backoff >= 1 ? k->retry_backoff : 1};
        atomic_init(&kl.attempts, 0);
        l = &kl;
    }
    weft__pool_t *p = w->pool;
    void *lease = NULL;
    if (l->cpus || l->gpus) {
        /* the service makes the first GPU the thread's current CUDA device */
        int err = WEFT_ENOTSUP;
        char why[160] = "no admission service in this pool";
        lease = p->admit ? p->admit->acquire(p->admit_ud, l->cpus, l->gpus, &w->grant, &err, why, sizeof why) : NULL;
        if (lease && atomic_load_explicit(&t->graph->stop, memory_order_relaxed) != STOP_NONE) {
            p->admit->release(p->admit_ud, lease); /* granted too late: the run stops */
            lease = NULL;
            err = WEFT_ECANCELED;
            snprintf(why, sizeof why, "not started: the run was stopping");
        }
        if (!lease) {
            atomic_store_explicit(&l->attempts, 0, memory_order_relaxed);
            weft__attempt_t a = {.rc = err, .not_run = err == WEFT_ECANCELED, .why = why};
            attempt_told(t, &a);
            if (err == WEFT_ECANCELED) {
                w->ctx.own = CALL_NOT_RUN;
                return 0;
            }
            weft__graph_fail_note(t->graph, t, 2, why);
            w->ctx.own = CALL_OWN;
            return err;
        }
        if (p->topo && !weft__cpuset_empty(&w->grant.set)) {
            if (!w->moved || memcmp(&w->bound, &w->grant.set, sizeof w->bound) != 0) {
                weft__topo_bind_self(p->topo, &w->grant.set);
                w->bound = w->grant.set;
            }
            w->moved = 1;
        } else if (w->moved) {
            return_home(w);
        }
        w->ctx.ngpus = l->gpus;
        w->ctx.grant = &w->grant;
    } else if (w->moved) {
        return_home(w);
    }
    uint64_t saved_deadline = w->ctx.deadline_ns;
    int saved_attempt = w->ctx.attempt, rc = 0;
    for (int attempt = 1;; attempt++) {
        atomic_store_explicit(&l->attempts, attempt, memory_order_relaxed);
        uint64_t start = weft__clock_ns();
        w->ctx.deadline_ns = l->timeout_ns ? start + l->timeout_ns : 0;
        w->ctx.attempt = attempt;
        w->ctx.own = 0; /* this attempt's word only */
        rc = t->fn(&w->ctx, t->arg);
        uint64_t end = weft__clock_ns();
        if (l->timeout_ns && end - start >= l->timeout_ns) {
            char text[96];
            snprintf(text, sizeof text, "timed out after %g s", (double)l->timeout_ns / 1e9);
            weft__graph_fail_note(t->graph, t, attempt * 2 + 1, text); /* above the task's own text */
            rc = WEFT_ETIMEDOUT;
        }
        /* a timeout is weft's code; else the function's own flag stands */
        if (rc == WEFT_ETIMEDOUT && l->timeout_ns != 0)
            w->ctx.own = CALL_OWN;
        weft__attempt_t a = {
            .attempt = attempt,
            .rc = rc,
            .start_ns = start,
            .end_ns = end,
            .retry = rc != 0 && attempt <= l->retries &&
                     atomic_load_explicit(&t->graph->stop, memory_order_relaxed) == STOP_NONE,
        };
        if (!attempt_told(t, &a) || !retry_pause(t, l, attempt))
            break;
        /* another attempt: what this one left behind does not count */
        if (t->flags & TASK_F_RESULT)
            weft__graph_release_result(t);
    }
    w->ctx.deadline_ns = saved_deadline;
    w->ctx.attempt = saved_attempt;
    if (lease) {
        w->ctx.ngpus = 0;
        w->ctx.grant = NULL;
        /* back on its own cpus, unless the kind keeps its workers where
         * they are (task after task on the same slots never moves them) */
        const weft__task_ops_t *o = w->moved ? weft__kind_of(t) : NULL;
        if (w->moved && !(o && o->stay_bound))
            return_home(w);
        p->admit->release(p->admit_ud, lease);
    }
    return rc;
}

/* A task's function when the run is traced or the task has limits (kept
 * out of run_one, whose plain path then keeps nothing live across the
 * call but what it had before). */
static __attribute__((noinline)) int call_slow(weft__worker_t *w, weft_task_t *t)
{
    weft__trace_t *tr = w->trace;
    uint64_t t0 = tr ? weft__tick() : 0;
    int rc = (t->flags & TASK_F_LIMITS) ? call_limited(w, t) : t->fn(&w->ctx, t->arg);
    if (tr && w->ctx.own != CALL_NOT_RUN)
        trace_ran(tr, w, t, t0, rc);
    return rc;
}

/* Runs t and returns the next task to run (a ready successor), if any. */
static weft_task_t *run_one(weft__worker_t *w, weft_task_t *t)
{
    weft_graph_t *g = t->graph;
    if (w->join_task && !feeds_owed_join(w, t)) {
        weft_task_t *j = pay_join(w);
        if (j)
            weft__worker_push(w, j);
    }
    if (w->cnt_graph != g) {
        weft__worker_flush(w);
        w->cnt_graph = g;
    }
    int state;
    uint8_t p = atomic_load_explicit(&t->poison, memory_order_relaxed);
    if (p)
        atomic_store_explicit(&t->poison, 0, memory_order_relaxed);
    if (t->flags & TASK_F_DEFERRED)
        p = 0; /* a completion that already happened: always delivered */
    if ((p & POISON_CANCEL) && !(t->flags & TASK_F_ALWAYS)) {
        state = WEFT_TASK_CANCELLED;
    } else if (!(t->flags & TASK_F_DEFERRED) &&
               ((p & POISON_STOP) || atomic_load_explicit(&g->stop, memory_order_relaxed))) {
        state = WEFT_TASK_NOT_RUN;
    } else {
        if (t->flags & (TASK_F_RESULT | TASK_F_RC)) {
            if (t->flags & TASK_F_RESULT)
                weft__graph_release_result(t);
            atomic_store_explicit(&t->rc, 0, memory_order_relaxed);
            t->flags &= (uint16_t)~TASK_F_RC;
        }
        weft_task_t *saved = w->ctx.task; /* nested runs reuse the ctx */
        w->ctx.task = t;
        int rc;
        if (__builtin_expect(!w->trace && !(t->flags & TASK_F_LIMITS), 1)) {
            rc = t->fn(&w->ctx, t->arg);
        } else {
            rc = call_slow(w, t);
            if (__builtin_expect(w->ctx.own == CALL_NOT_RUN, 0)) {
                /* the run stopped while it waited for its resources */
                w->ctx.own = 0;
                w->ctx.task = saved;
                state = WEFT_TASK_NOT_RUN;
                goto done;
            }
        }
        w->ctx.task = saved;
        const weft__task_hook_t *hook = atomic_load_explicit(&w->pool->exec.task_end, memory_order_acquire);
        if (__builtin_expect(hook != NULL, 0))
            hook->fn(hook->ud);
        if (rc) {
            /* whose code it is: only failures ask (weft__ctx_own_code sets
             * the flag together with a non-zero return, and it is cleared
             * here, so successes pay nothing) */
            int own = w->ctx.own;
            w->ctx.own = 0;
            if (t->flags & TASK_F_DEFERRED)
                own = ((const struct weft_child *)t)->own_code;
            atomic_store_explicit(&t->rc, rc, memory_order_relaxed);
            t->flags |= TASK_F_RC;
            weft__graph_record_failure(g, t, rc, own);
        }
        if (t->flags & TASK_F_SPAWNED) {
            t->flags &= (uint16_t)~TASK_F_SPAWNED;
            /* Drop the parent's own token; the last child finishes it. */
            if (atomic_fetch_sub_explicit(&t->pending, 1, memory_order_acq_rel) != 1)
                return NULL;
            rc = atomic_load_explicit(&t->rc, memory_order_relaxed);
        }
        state = rc ? WEFT_TASK_FAILED : WEFT_TASK_DONE;
    }
done:
    if (t->flags & TASK_F_CHILD)
        return finish_child(w, t, state);
    if (state != WEFT_TASK_DONE) {
        if (w->trace && state != WEFT_TASK_FAILED) {
            uint64_t now = weft__tick();
            weft__trace_task(w->trace, w->index, t, TEV_SKIP, state, now, now, 0);
        }
        /* no stale result from a past run; a shared one of this run (a
         * failed task's) goes with its last consumer, which may be running */
        if ((t->flags & TASK_F_RESULT) && !atomic_load_explicit(&t->consumers, memory_order_acquire))
            weft__graph_release_result(t);
        if (state != WEFT_TASK_FAILED) {
            atomic_store_explicit(&t->rc, 0, memory_order_relaxed);
            t->flags &= (uint16_t)~TASK_F_RC;
        }
    }
    return finish(w, t, state);
}

void weft__worker_execute(weft__worker_t *w, weft_task_t *t)
{
    do
        t = run_one(w, t);
    while (t);
}

/* ==== the pool thread ==================================================== */

void *weft__worker_main(void *arg)
{
    weft__worker_t *w = arg;
    weft__pool_t *p = w->pool;
    void *altstack = weft__crash_thread_begin();
    tls_worker = w;
    weft__exec_set(&w->exec);
    w->ctx.w = w;
    if (w->set && p->topo)
        w->bind_rc = weft__topo_bind_self(p->topo, w->set);

    pthread_mutex_lock(&p->start_lock);
    p->started++;
    pthread_cond_broadcast(&p->start_cond);
    pthread_mutex_unlock(&p->start_lock);

    for (;;) {
        weft_task_t *t = weft__worker_find(w);
        if (!t && w->join_task) {
            weft__worker_settle(w);
            continue;
        }
        if (!t) {
            weft__worker_flush(w);
            if (!weft__worker_spin(w, &t)) {
                uint32_t key = weft__ecount_prepare(&p->ec);
                if (atomic_load_explicit(&p->shutdown, memory_order_seq_cst)) {
                    weft__ecount_cancel(&p->ec);
                    break;
                }
                if (weft__pool_has_work(p)) {
                    weft__ecount_cancel(&p->ec);
                } else {
                    weft__ecount_commit(&p->ec, key);
                }
                continue;
            }
        }
        weft__worker_execute(w, t);
    }
    tls_worker = NULL;
    weft__exec_set(NULL);
    weft__crash_thread_end(altstack);
    return NULL;
}
