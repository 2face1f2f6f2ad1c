/* Runs of graphs: the pool's life cycle, submit / wait / complete, and the
 * slots through which threads outside the pool help while they wait. */
#include "scheduler/internal.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>

/* ==== pool =============================================================== */

static void stop_workers(weft__pool_t *p, int n)
{
    atomic_store_explicit(&p->shutdown, 1, memory_order_seq_cst);
    weft__ecount_notify(&p->ec, 1);
    for (int i = 0; i < n; i++)
        pthread_join(p->slots[i].thread, NULL);
}

static void pool_free(weft__pool_t *p)
{
    for (int i = 0; p->slots && i < p->nslots; i++)
        if (atomic_load_explicit(&p->slots[i].q.buf, memory_order_relaxed))
            weft__wsq_fini(&p->slots[i].q);
    weft__aligned_free(p->slots);
    pthread_mutex_destroy(&p->inject_lock);
    pthread_mutex_destroy(&p->start_lock);
    pthread_cond_destroy(&p->start_cond);
    weft__aligned_free(p);
}

int weft__pool_create(const weft__pool_config_t *cfg, weft__pool_t **out)
{
    weft__pool_t *p = weft__aligned_alloc(WEFT_CACHE_LINE, sizeof *p);
    if (!p)
        return WEFT_ENOMEM;
    memset(p, 0, sizeof *p);
    weft__ecount_init(&p->ec);
    weft__ecount_init(&p->done_ec);
    pthread_mutex_init(&p->inject_lock, NULL);
    pthread_mutex_init(&p->start_lock, NULL);
    pthread_cond_init(&p->start_cond, NULL);
    p->nworkers = cfg->threads;
    p->nslots = cfg->threads + POOL_HELPERS;
    p->exec.nworkers = p->nworkers;
    p->exec.nslots = p->nslots;
    weft__exec_set_task_ops(&weft__task_exec_ops);
    p->flags = cfg->flags;
    p->spin_us = cfg->spin_us;
    p->owner = cfg->owner;
    p->topo = cfg->topo;
    for (int i = 0; p->topo && i < p->topo->npus; i++)
        weft__cpuset_set(&p->all_cpus, p->topo->pus[i]);
    p->slots = weft__aligned_alloc(WEFT_CACHE_LINE, (size_t)p->nslots * sizeof *p->slots);
    if (!p->slots) {
        pool_free(p);
        return WEFT_ENOMEM;
    }
    memset(p->slots, 0, (size_t)p->nslots * sizeof *p->slots);
    for (int i = 0; i < p->nslots; i++) {
        weft__worker_t *w = &p->slots[i];
        w->pool = p;
        w->index = i;
        w->helper = i >= p->nworkers;
        w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        w->ctx.w = w;
        w->exec = (weft__exec_t){&p->exec, i, &w->ctx.task};
        if (i < p->nworkers && cfg->sets && !weft__cpuset_empty(&cfg->sets[i]))
            w->set = &cfg->sets[i];
        if (weft__wsq_init(&w->q, 256)) {
            pool_free(p);
            return WEFT_ENOMEM;
        }
    }
    int started = 0, rc = 0;
    for (; started < p->nworkers; started++) {
        if (pthread_create(&p->slots[started].thread, NULL, weft__worker_main, &p->slots[started])) {
            rc = WEFT_ESYS;
            break;
        }
    }
    pthread_mutex_lock(&p->start_lock);
    while (p->started < started)
        pthread_cond_wait(&p->start_cond, &p->start_lock);
    pthread_mutex_unlock(&p->start_lock);
    for (int i = 0; i < started && rc == 0; i++)
        if (p->slots[i].bind_rc)
            rc = p->slots[i].bind_rc;
    if (rc) {
        stop_workers(p, started);
        pool_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* Parks the calling thread until cond(arg) holds, helping with the pool's
 * work through slot w meanwhile (w NULL: just sleep). */
static void wait_until(weft__pool_t *p, weft__worker_t *w, int (*cond)(void *), void *arg)
{
    /* seq_cst: Dekker with weft__graph_complete (done, then cond_waiters). */
    if (w)
        atomic_fetch_add_explicit(&p->cond_waiters, 1, memory_order_seq_cst);
    for (;;) {
        if (cond(arg))
            break;
        weft_task_t *t = NULL;
        if (w) {
            t = weft__worker_find(w);
            if (!t && w->join_task) {
                weft__worker_settle(w);
                continue;
            }
            if (!t) {
                weft__worker_flush(w);
                if (cond(arg))
                    break;
                if (!weft__worker_spin(w, &t))
                    t = NULL;
            }
            if (t) {
                weft__worker_execute(w, t);
                continue;
            }
        }
        /* A helper sleeps with the workers (woken for work and for run
         * completions); a mere waiter only on completions. */
        weft__ecount_t *ec = w ? &p->ec : &p->done_ec;
        uint32_t key = weft__ecount_prepare(ec);
        if (cond(arg) || (w && weft__pool_has_work(p)))
            weft__ecount_cancel(ec);
        else
            weft__ecount_commit(ec, key);
    }
    if (w)
        atomic_fetch_sub_explicit(&p->cond_waiters, 1, memory_order_relaxed);
}

static int no_active_runs(void *arg)
{
    weft__pool_t *p = arg;
    return atomic_load_explicit(&p->active_runs, memory_order_seq_cst) == 0;
}

void weft__pool_destroy(weft__pool_t *p)
{
    if (!p)
        return;
    wait_until(p, NULL, no_active_runs, p);
    stop_workers(p, p->nworkers);
    while (atomic_load_explicit(&p->givers, memory_order_acquire) != 0)
        sched_yield(); /* a deferred completion still leaving weft__pool_give */
    pool_free(p);
}

/* ==== graph runs ========================================================= */

void weft__graph_record_failure(weft_graph_t *g, const weft_task_t *t, int rc, int own)
{
    int expected = 0;
    /* Only the first failure is recorded; acq_rel so that readers that see
     * has_failure == 2 see the name. */
    if (atomic_compare_exchange_strong_explicit(&g->has_failure, &expected, 1, memory_order_acq_rel,
                                                memory_order_relaxed)) {
        char lb[32];
        const char *name =
            (t->flags & TASK_F_CHILD) ? ((const struct weft_child *)t)->name : weft__task_label(t, lb, sizeof lb);
        snprintf(g->fail_name, sizeof g->fail_name, "%s", name);
        g->fail_rc = rc;
        g->fail_own = own;
        g->fail_task = (t->flags & TASK_F_CHILD) ? ((const struct weft_child *)t)->parent : t;
        atomic_store_explicit(&g->has_failure, 2, memory_order_release);
    }
    if (g->failfast)
        weft__graph_stop(g, STOP_FAIL);
}

void weft__graph_stop(weft_graph_t *g, int why)
{
    /* A fail-fast stop starts nothing new and lets running work finish; a
     * cancel (also after a fail-fast stop) ends in-flight work too. */
    int cur = atomic_load_explicit(&g->stop, memory_order_relaxed);
    do {
        if (cur == STOP_CANCEL || (cur == STOP_FAIL && why == STOP_FAIL))
            return;
    } while (!atomic_compare_exchange_weak_explicit(&g->stop, &cur, why, memory_order_relaxed, memory_order_relaxed));
    if (why != STOP_CANCEL)
        return;
    /* the kinds table does not change while g runs */
    for (int k = 0; k < g->nkinds; k++)
        if (g->kinds[k].ops->cancel)
            g->kinds[k].ops->cancel(g, g->kinds[k].state);
}

int weft__graph_stopping(const weft_graph_t *g)
{
    return atomic_load_explicit(&g->stop, memory_order_relaxed) != STOP_NONE;
}

/* Called once per run by whoever finished its last task. After `done` is
 * set the graph may be freed by its waiter: touch only the pool after it. */
void weft__graph_complete(weft_graph_t *g)
{
    weft__pool_t *p = g->pool;
    size_t nf = atomic_load_explicit(&g->nfailed, memory_order_relaxed);
    size_t nc = atomic_load_explicit(&g->ncancelled, memory_order_relaxed);
    size_t nn = atomic_load_explicit(&g->nnotrun, memory_order_relaxed);
    int stop = atomic_load_explicit(&g->stop, memory_order_relaxed);
    if (atomic_load_explicit(&g->has_failure, memory_order_acquire)) {
        g->result = WEFT_ETASK;
        const weft_task_t *ft = g->fail_task;
        const char *m = ft ? weft__task_fail_text(ft) : "";
        /* a task's own code is what it returned; one of weft's is named,
         * so that a task returning -4 does not read as WEFT_ETASK */
        char what[96];
        if (g->fail_own)
            snprintf(what, sizeof what, "failed: WEFT_%s", weft_err_name(g->fail_rc));
        else if (g->fail_rc < 0 && strcmp(weft_err_name(g->fail_rc), "UNKNOWN") != 0)
            snprintf(what, sizeof what, "failed with code %d (its own, not WEFT_%s)", g->fail_rc,
                     weft_err_name(g->fail_rc));
        else
            snprintf(what, sizeof what, "failed with code %d", g->fail_rc);
        snprintf(g->errbuf, sizeof g->errbuf, "task \"%s\" %s%s%s%s; %zu task(s) failed, %zu cancelled, %zu not run",
                 g->fail_name, what, m[0] ? " (" : "", m, m[0] ? ")" : "", nf, nc, nn);
    } else if (stop == STOP_CANCEL) {
        g->result = WEFT_ECANCELED;
        snprintf(g->errbuf, sizeof g->errbuf, "run canceled; %zu task(s) not run", nn);
    } else {
        g->result = 0;
    }
    if (p->trace)
        weft__trace_run_end(p->trace, g);
    atomic_store_explicit(&g->phase, PHASE_DONE, memory_order_release);
    atomic_store_explicit(&g->done, 1, memory_order_seq_cst);
    atomic_fetch_sub_explicit(&p->active_runs, 1, memory_order_seq_cst);
    weft__ecount_notify(&p->done_ec, 1);
    if (atomic_load_explicit(&p->cond_waiters, memory_order_seq_cst))
        weft__ecount_notify(&p->ec, 1);
}

int weft__pool_submit(weft__pool_t *p, weft_graph_t *g)
{
    int idle = PHASE_IDLE;
    if (!atomic_compare_exchange_strong_explicit(&g->phase, &idle, PHASE_RUNNING, memory_order_acq_rel,
                                                 memory_order_acquire))
        return WEFT_EBUSY;
    int rc = weft__graph_prepare(g);
    if (rc) {
        atomic_store_explicit(&g->phase, PHASE_IDLE, memory_order_release);
        return rc;
    }
    weft__graph_free_retired(g); /* the last run's deferred handles are no longer valid */
    weft__graph_free_msgs(g);
    g->pool = p;
    g->trace_run = 0;
    if (p->trace)
        weft__trace_run_begin(p->trace, g);
    g->failfast = (p->flags & WEFT_CONFIG_FAIL_FAST) != 0;
    g->result = 0;
    g->fail_name[0] = '\0';
    g->fail_rc = 0;
    g->fail_own = 0;
    g->fail_task = NULL;
    g->runs++;
    atomic_store_explicit(&g->stop, STOP_NONE, memory_order_relaxed);
    atomic_store_explicit(&g->has_failure, 0, memory_order_relaxed);
    atomic_store_explicit(&g->nfailed, 0, memory_order_relaxed);
    atomic_store_explicit(&g->ncancelled, 0, memory_order_relaxed);
    atomic_store_explicit(&g->nnotrun, 0, memory_order_relaxed);
    atomic_store_explicit(&g->done, 0, memory_order_relaxed);
    atomic_store_explicit(&g->remaining, g->ntasks, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->active_runs, 1, memory_order_relaxed);
    if (g->ntasks == 0) {
        weft__graph_complete(g);
        return 0;
    }
    /* Spread the sources: workers claim them in chunks of about a quarter
     * of a worker's share, at most 256. */
    size_t chunk = g->nsources / (4 * (size_t)p->nworkers);
    g->src_chunk = chunk < 1 ? 1 : chunk > 256 ? 256 : chunk;
    g->src_ri = 0;
    g->src_pos = 0;
    g->inject_next = NULL;
    pthread_mutex_lock(&p->inject_lock);
    if (p->inject_tail)
        p->inject_tail->inject_next = g;
    else
        atomic_store_explicit(&p->inject_head, g, memory_order_relaxed);
    p->inject_tail = g;
    pthread_mutex_unlock(&p->inject_lock);
    weft__ecount_notify(&p->ec, g->nsources > 1);
    return 0;
}

static int graph_done(void *arg)
{
    weft_graph_t *g = arg;
    return atomic_load_explicit(&g->done, memory_order_seq_cst) != 0;
}

static weft__worker_t *helper_acquire(weft__pool_t *p)
{
    for (int i = p->nworkers; i < p->nslots; i++) {
        int free_ = 0;
        /* acquire: ownership of the slot's deque passes from its previous
         * owner (released below) to us. */
        if (atomic_compare_exchange_strong_explicit(&p->slots[i].in_use, &free_, 1, memory_order_acquire,
                                                    memory_order_relaxed))
            return &p->slots[i];
    }
    return NULL;
}

static void helper_release(weft__worker_t *w)
{
    /* Run whatever we queued (tasks of other graphs) before leaving. */
    for (;;) {
        weft_task_t *t;
        while ((t = w->overflow ? w->overflow : weft__wsq_pop(&w->q)) != NULL) {
            if (t == w->overflow)
                w->overflow = t->next;
            weft__worker_execute(w, t);
        }
        if (!w->join_task)
            break;
        weft__worker_settle(w);
    }
    weft__worker_flush(w);
    atomic_store_explicit(&w->in_use, 0, memory_order_release);
}

int weft_graph_wait(weft_graph_t *g)
{
    if (!g)
        return WEFT_EINVAL;
    if (atomic_load_explicit(&g->phase, memory_order_acquire) == PHASE_IDLE)
        return WEFT_ESTATE;
    /* A finished run needs nothing from the pool, which may be gone
     * (weft_runtime_destroy waits for submitted graphs, then frees it). */
    if (!graph_done(g)) {
        weft__pool_t *p = g->pool;
        weft__worker_t *w = weft__worker_current(p);
        int helper = 0;
        weft__worker_t *prev = NULL;
        if (!w && !(p->flags & WEFT_CONFIG_NO_CALLER_HELP)) {
            w = helper_acquire(p);
            helper = w != NULL;
            if (helper)
                prev = weft__worker_enter(w);
        }
        wait_until(p, w, graph_done, g);
        if (helper) {
            helper_release(w);
            weft__worker_enter(prev);
        }
    }
    int rc = g->result;
    int done = PHASE_DONE;
    if (!atomic_compare_exchange_strong_explicit(&g->phase, &done, PHASE_IDLE, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return WEFT_ESTATE; /* another thread waited first */
    return rc;
}

int weft_graph_done(const weft_graph_t *g)
{
    if (!g)
        return WEFT_EINVAL;
    int ph = atomic_load_explicit(&g->phase, memory_order_acquire);
    if (ph == PHASE_IDLE)
        return WEFT_ESTATE;
    return ph == PHASE_DONE;
}

int weft_graph_cancel(weft_graph_t *g)
{
    if (!g)
        return WEFT_EINVAL;
    if (atomic_load_explicit(&g->phase, memory_order_acquire) == PHASE_IDLE)
        return WEFT_ESTATE;
    weft__graph_stop(g, STOP_CANCEL);
    return 0;
}

int weft__pool_run(weft__pool_t *p, weft_graph_t *g)
{
    int rc = weft__pool_submit(p, g);
    if (rc)
        return rc;
    return weft_graph_wait(g);
}
