/* The model every export of a trace is built from: events with times in
 * microseconds, one entry per task of each run (ready, start, end, state),
 * and each run's critical path. */
#include "runtime/trace.h"

#include <stdio.h>
#include <string.h>

typedef struct collect {
    weft__tmodel_t *m;
    size_t cap;
} collect_t;

static double to_us(const weft__tmodel_t *m, const weft__tev_t *e, uint64_t v)
{
    double ns = (e->flags & TEV_F_NS) ? (double)v : weft__tick_to_ns(&m->map, v);
    return (ns - m->origin_ns) / 1000.0;
}

/* Events past the capacity (recorded after the export began) are left
 * out. */
static void collect_ev(void *ud, const weft__tev_t *e)
{
    collect_t *c = ud;
    weft__tmodel_t *m = c->m;
    if (m->nev == c->cap)
        return;
    wtm_ev_t *x = &m->ev[m->nev++];
    x->e = *e;
    x->t0 = to_us(m, e, e->t0);
    x->t1 = e->kind == TEV_COUNTER ? x->t0 : to_us(m, e, e->t1);
}

const char *weft__tmodel_state(int state)
{
    switch (state) {
    case WEFT_TASK_DONE: return "done";
    case WEFT_TASK_FAILED: return "failed";
    case WEFT_TASK_CANCELLED: return "cancelled";
    default: return "not run";
    }
}

void weft__tmodel_lane(weft__trace_t *rec, int kind, int lane, int nworkers, char *buf, size_t size)
{
    const char *name = weft__trace_lane_name(rec, kind, lane);
    if (name)
        snprintf(buf, size, "%s", name);
    else if (kind == TLANE_WORKER && lane < nworkers)
        snprintf(buf, size, "worker %d", lane);
    else if (kind == TLANE_WORKER)
        snprintf(buf, size, "caller %d", lane - nworkers);
    else if (kind == TLANE_PROC)
        snprintf(buf, size, "process slot %d", lane);
    else if (kind == TLANE_GPU)
        snprintf(buf, size, "cuda stream %d", lane);
    else
        snprintf(buf, size, "lane %d", lane);
}

int weft__tmodel_tid(int kind, int lane)
{
    return kind * 10000 + lane + 1;
}

const char *weft__tmodel_name(const weft__tmodel_t *m, uint32_t run, uint32_t index, char *buf, size_t size)
{
    if (run >= 1 && run <= m->nrun) {
        const weft__tgraph_t *g = m->run[run - 1].g;
        if (index < g->ntasks && g->name[index])
            return g->name[index];
    }
    char d[12];
    size_t n = 0;
    do
        d[n++] = (char)('0' + index % 10);
    while ((index /= 10) != 0 && n < sizeof d);
    if (size < n + 2)
        return "#";
    buf[0] = '#';
    for (size_t i = 0; i < n; i++)
        buf[1 + i] = d[n - 1 - i];
    buf[n + 1] = '\0';
    return buf;
}

const char *weft__tmodel_note(const weft__tmodel_t *m, uint32_t run, uint32_t index)
{
    if (run >= 1 && run <= m->nrun) {
        const weft__tgraph_t *g = m->run[run - 1].g;
        if (index < g->ntasks)
            return g->note[index];
    }
    return NULL;
}

/* The model task of (run, index), made on first sight (m->task has room
 * for one per event). */
static wtm_task_t *task_of(weft__tmodel_t *m, uint32_t run, uint32_t index)
{
    wtm_run_t *r = &m->run[run - 1];
    if (index >= r->g->ntasks)
        return NULL;
    int32_t k = r->map[index];
    if (k >= 0)
        return &m->task[k];
    wtm_task_t *t = &m->task[m->ntask];
    memset(t, 0, sizeof *t);
    t->run = run;
    t->index = index;
    t->start = 1e300;
    t->end = -1e300;
    t->state = -1;
    r->map[index] = (int32_t)m->ntask++;
    return t;
}

/* Folds one event into its task. `last` holds the end of the event that
 * decided the state so far. */
static void fold(wtm_task_t *t, const wtm_ev_t *x, double *last)
{
    const weft__tev_t *e = &x->e;
    if (e->kind == TEV_SKIP) {
        if (t->state < 0) {
            t->state = e->state;
            t->start = t->end = x->t0;
        }
        return;
    }
    if (e->kind == TEV_TASK || e->kind == TEV_CHILD || e->kind == TEV_ATTEMPT) {
        if (x->t0 < t->start)
            t->start = x->t0;
    }
    if (x->t1 > t->end)
        t->end = x->t1;
    if (e->kind == TEV_ATTEMPT) {
        if (!t->has_attempts || x->t0 < t->first_attempt)
            t->first_attempt = x->t0;
        if (!t->has_attempts || x->t1 >= t->last_attempt) { /* events come in no particular order */
            t->last_attempt = x->t1;
            t->stopped = e->state == WEFT_TASK_NOT_RUN;
        }
        t->has_attempts = 1;
        t->attempts++;
        t->run_us += x->t1 - x->t0;
    }
    if (e->kind == TEV_TASK || e->kind == TEV_ATTEMPT) {
        if (!t->has_attempts || e->kind == TEV_ATTEMPT) {
            t->lane_kind = e->lane_kind;
            t->lane = e->lane;
        }
    }
    int failed = e->state == WEFT_TASK_FAILED;
    /* a failed function or child fails the task; an attempt may be retried */
    if (failed && e->kind != TEV_ATTEMPT && e->kind != TEV_DONE) {
        t->state = WEFT_TASK_FAILED;
        t->rc = e->aux;
        *last = 1e300;
        return;
    }
    if (x->t1 >= *last) {
        *last = x->t1;
        t->state = e->state;
        if (failed)
            t->rc = e->kind == TEV_DONE ? e->aux : t->rc;
    }
}

/* Follows the last-arriving dependency back from the run's last task. */
static int critical_path(weft__tmodel_t *m, wtm_run_t *r)
{
    int32_t best = -1;
    for (uint32_t i = 0; i < r->g->ntasks; i++) {
        int32_t k = r->map[i];
        if (k >= 0 && m->task[k].state == WEFT_TASK_DONE && (best < 0 || m->task[k].end > m->task[best].end))
            best = k;
    }
    size_t n = 0, cap = 0;
    int32_t *path = NULL;
    for (int32_t k = best; k >= 0;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            int32_t *np = weft__realloc(path, cap * sizeof *np);
            if (!np) {
                weft__free(path);
                return WEFT_ENOMEM;
            }
            path = np;
        }
        path[n++] = k;
        wtm_task_t *t = &m->task[k];
        t->crit = 1;
        r->crit_len += wtm_work(t);
        int32_t prev = -1;
        for (uint32_t e = r->g->pred_off[t->index]; e < r->g->pred_off[t->index + 1]; e++) {
            int32_t p = r->map[r->g->pred[e]];
            if (p >= 0 && !m->task[p].crit && (prev < 0 || m->task[p].end > m->task[prev].end))
                prev = p;
        }
        k = prev;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int32_t x = path[i];
        path[i] = path[n - 1 - i];
        path[n - 1 - i] = x;
    }
    r->crit = path;
    r->ncrit = n;
    return 0;
}

int weft__tmodel_build(weft__trace_t *tr, weft__tmodel_t *m)
{
    memset(m, 0, sizeof *m);
    m->rec = tr;
    m->longest = -1;
    m->map = weft__tick_scale();
    m->origin_ns = weft__tick_to_ns(&m->map, weft__trace_start(tr));
    size_t nr = weft__trace_runs(tr, NULL, 0);
    m->run = weft__calloc(nr ? nr : 1, sizeof *m->run);
    if (!m->run)
        return WEFT_ENOMEM;
    weft__trun_t *raw = weft__calloc(nr ? nr : 1, sizeof *raw);
    if (!raw)
        return WEFT_ENOMEM;
    nr = weft__trace_runs(tr, raw, nr);
    m->nrun = nr;
    int rc = 0;
    for (size_t i = 0; i < nr; i++) {
        wtm_run_t *r = &m->run[i];
        r->g = raw[i].g;
        r->result = raw[i].result;
        weft__tev_t probe = {0};
        r->submit = to_us(m, &probe, raw[i].t_submit);
        r->done = raw[i].t_done ? to_us(m, &probe, raw[i].t_done) : -1;
        r->map = weft__alloc_large((r->g->ntasks ? r->g->ntasks : 1) * sizeof *r->map);
        if (!r->map)
            rc = WEFT_ENOMEM;
        else
            memset(r->map, 0xff, r->g->ntasks * sizeof *r->map);
    }
    weft__free(raw);
    if (rc)
        return rc;
    /* one allocation each for the events (those recorded meanwhile are
     * left out) and the tasks, backed by huge pages: page faults would
     * cost more than filling them */
    collect_t c = {m, weft__trace_bound(tr)};
    m->ev = weft__alloc_large((c.cap ? c.cap : 1) * sizeof *m->ev);
    m->task = weft__alloc_large((c.cap ? c.cap : 1) * sizeof *m->task);
    double *last = weft__alloc_large((c.cap ? c.cap : 1) * sizeof *last);
    if (!m->ev || !m->task || !last) {
        weft__aligned_free(last);
        return WEFT_ENOMEM;
    }
    weft__trace_read(tr, 0, collect_ev, &c);
    /* tasks */
    m->t_first = 1e300;
    m->t_last = -1e300;
    for (size_t i = 0; i < m->nev; i++) {
        wtm_ev_t *x = &m->ev[i];
        const weft__tev_t *e = &x->e;
        if (e->kind != TEV_COUNTER) {
            if (x->t0 < m->t_first)
                m->t_first = x->t0;
            if (x->t1 > m->t_last)
                m->t_last = x->t1;
        }
        if (e->lane_kind < 4 && (size_t)e->lane + 1 > m->lanes[e->lane_kind] && e->kind != TEV_COUNTER)
            m->lanes[e->lane_kind] = (size_t)e->lane + 1;
        if (!e->run || e->run > m->nrun || e->kind == TEV_REGION || e->kind == TEV_COUNTER)
            continue;
        size_t before = m->ntask;
        wtm_task_t *t = task_of(m, e->run, e->index);
        if (!t)
            continue;
        size_t k = (size_t)(t - m->task);
        if (m->ntask != before)
            last[k] = -1e300;
        fold(t, x, &last[k]);
    }
    weft__aligned_free(last);
    /* an attempt's lane wins over the worker's launch slice; work and ready */
    for (size_t k = 0; k < m->ntask; k++) {
        wtm_task_t *t = &m->task[k];
        if (t->state < 0)
            t->state = WEFT_TASK_DONE;
        if (t->end < t->start)
            t->end = t->start;
        if (!t->attempts && (t->state == WEFT_TASK_DONE || t->state == WEFT_TASK_FAILED))
            t->attempts = 1;
        wtm_run_t *r = &m->run[t->run - 1];
        t->ready = r->submit;
        for (uint32_t e = r->g->pred_off[t->index]; e < r->g->pred_off[t->index + 1]; e++) {
            int32_t p = r->map[r->g->pred[e]];
            if (p >= 0 && m->task[p].end > t->ready)
                t->ready = m->task[p].end;
        }
        if (t->ready > t->start && t->state != WEFT_TASK_DONE && t->state != WEFT_TASK_FAILED)
            t->ready = t->start; /* a skipped task is marked when its dependency finishes */
    }
    double span = -1;
    for (size_t i = 0; i < m->nrun; i++) {
        wtm_run_t *r = &m->run[i];
        if ((rc = critical_path(m, r)) != 0)
            return rc;
        double end = r->done >= 0 ? r->done : m->t_last;
        if (end - r->submit > span) {
            span = end - r->submit;
            m->longest = (int)i;
        }
    }
    return 0;
}

void weft__tmodel_free(weft__tmodel_t *m)
{
    for (size_t i = 0; m->run && i < m->nrun; i++) {
        weft__aligned_free(m->run[i].map);
        weft__free(m->run[i].crit);
    }
    weft__free(m->run);
    weft__aligned_free(m->task);
    weft__aligned_free(m->ev);
    memset(m, 0, sizeof *m);
}
