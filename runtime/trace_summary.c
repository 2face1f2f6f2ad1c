/* The text summary of a trace: totals, tasks by state, the slowest tasks,
 * the critical path, per-worker utilisation and idle time, and the
 * scheduling delay (ready -> start) percentiles. */
#include "runtime/trace.h"

#include <stdlib.h>
#include <string.h>

#define SLOWEST 10
#define CRIT_SHOWN 20

static void fmt_time(char *buf, size_t size, double us)
{
    if (us < 1000)
        snprintf(buf, size, "%.1f us", us);
    else if (us < 1e6)
        snprintf(buf, size, "%.2f ms", us / 1e3);
    else
        snprintf(buf, size, "%.3f s", us / 1e6);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* The most attempts on lanes of kind k that overlapped in time (the
 * tracks are picked as attempts end, so there may be more tracks). */
typedef struct edge {
    double t;
    int d; /* +1 a start, -1 an end */
} edge_t;

static int cmp_edge(const void *a, const void *b)
{
    const edge_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->d - y->d; /* an end first: back to back is not at once */
}

static size_t most_at_once(const weft__tmodel_t *m, int k)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nev; i++)
        n += m->ev[i].e.lane_kind == k && m->ev[i].e.kind == TEV_ATTEMPT;
    edge_t *at = weft__malloc((n ? 2 * n : 1) * sizeof *at);
    if (!at)
        return m->lanes[k];
    size_t j = 0;
    for (size_t i = 0; i < m->nev; i++)
        if (m->ev[i].e.lane_kind == k && m->ev[i].e.kind == TEV_ATTEMPT) {
            at[j++] = (edge_t){m->ev[i].t0, +1};
            at[j++] = (edge_t){m->ev[i].t1, -1};
        }
    qsort(at, j, sizeof *at, cmp_edge);
    size_t most = 0;
    long cur = 0;
    for (size_t i = 0; i < j; i++) {
        cur += at[i].d;
        if (cur > (long)most)
            most = (size_t)cur;
    }
    weft__free(at);
    return most;
}

typedef struct rdur {
    const char *name;
    double us;
} rdur_t;

static int cmp_rdur(const void *a, const void *b)
{
    const rdur_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->us > y->us) - (x->us < y->us);
}

typedef struct rgroup {
    const char *name;
    size_t n;
    double total, p50, p95;
} rgroup_t;

static int cmp_rgroup(const void *a, const void *b)
{
    const rgroup_t *x = a, *y = b;
    return (x->total < y->total) - (x->total > y->total); /* the largest first */
}

/* User regions (weft_region_begin/end, WEFT_TIME_SCOPE) by name: count,
 * total, mean, p50, p95 and their share of the time tasks ran. */
static int write_regions(const weft__tmodel_t *m, double task_us, FILE *out)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nev; i++)
        n += m->ev[i].e.kind == TEV_REGION && m->ev[i].t1 >= m->ev[i].t0;
    if (!n)
        return 0;
    rdur_t *d = weft__malloc(n * sizeof *d);
    rgroup_t *g = weft__malloc(n * sizeof *g);
    if (!d || !g) {
        weft__free(d);
        weft__free(g);
        return WEFT_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < m->nev; i++)
        if (m->ev[i].e.kind == TEV_REGION && m->ev[i].t1 >= m->ev[i].t0)
            d[k++] = (rdur_t){m->ev[i].e.name ? m->ev[i].e.name : "region", m->ev[i].t1 - m->ev[i].t0};
    qsort(d, n, sizeof *d, cmp_rdur);
    size_t ng = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double total = 0;
        while (j < n && strcmp(d[j].name, d[i].name) == 0)
            total += d[j++].us;
        size_t cnt = j - i;
        g[ng++] =
            (rgroup_t){d[i].name, cnt, total, d[i + (cnt - 1) / 2].us, d[i + (size_t)((double)(cnt - 1) * 0.95)].us};
        i = j;
    }
    qsort(g, ng, sizeof *g, cmp_rgroup);
    fprintf(out,
            "regions (by name; a nested one counts in its parent too):\n  %10s  %8s  %10s  %10s  %10s  %6s  region\n",
            "total", "count", "mean", "p50", "p95", "share");
    for (size_t i = 0; i < ng && i < 20; i++) {
        char t[32], mean[32], p50[32], p95[32];
        fmt_time(t, sizeof t, g[i].total);
        fmt_time(mean, sizeof mean, g[i].total / (double)g[i].n);
        fmt_time(p50, sizeof p50, g[i].p50);
        fmt_time(p95, sizeof p95, g[i].p95);
        fprintf(out, "  %10s  %8zu  %10s  %10s  %10s  %5.1f%%  %s\n", t, g[i].n, mean, p50, p95,
                task_us > 0 ? 100.0 * g[i].total / task_us : 0.0, g[i].name);
    }
    if (ng > 20)
        fprintf(out, "  ... %zu more region names\n", ng - 20);
    weft__free(d);
    weft__free(g);
    return 0;
}

typedef struct fam {
    char name[64];
    double work, crit;
    size_t n;
} fam_t;

static int cmp_fam_name(const void *a, const void *b)
{
    return strcmp(((const fam_t *)a)->name, ((const fam_t *)b)->name);
}

/* A family's share: the larger of its share of the tasks' time and of the
 * critical path. */
static double fam_share(const fam_t *f, double total, double crit)
{
    double a = total > 0 ? f->work / total : 0, b = crit > 0 ? f->crit / crit : 0;
    return a > b ? a : b;
}

static int cmp_fam_share(const void *a, const void *b, void *arg)
{
    const double *tc = arg; /* the tasks' time, the critical path's */
    double x = fam_share(a, tc[0], tc[1]), y = fam_share(b, tc[0], tc[1]);
    return (x < y) - (x > y);
}

/* Families of tasks (their names with each run of digits as '#') and
 * tasks whose share of the tasks' run time or of the longest run's
 * critical path is at least c->bottleneck percent. */
static int write_bottlenecks(const weft__tmodel_t *m, const weft__tconf_t *c, double task_us, FILE *out)
{
    if (!m->ntask)
        return 0;
    double crit_us = 0;
    if (m->longest >= 0) {
        const wtm_run_t *r = &m->run[m->longest];
        for (size_t i = 0; i < r->ncrit; i++)
            crit_us += wtm_work(&m->task[r->crit[i]]);
    }
    fam_t *f = weft__malloc(m->ntask * sizeof *f);
    if (!f)
        return WEFT_ENOMEM;
    size_t n = 0;
    char lb[24];
    for (size_t k = 0; k < m->ntask; k++) {
        const wtm_task_t *t = &m->task[k];
        if (t->state != WEFT_TASK_DONE && t->state != WEFT_TASK_FAILED)
            continue;
        const char *name = weft__tmodel_name(m, t->run, t->index, lb, sizeof lb);
        fam_t *x = &f[n++];
        size_t j = 0;
        for (const char *p = name; *p && j + 1 < sizeof x->name; p++) {
            if (*p >= '0' && *p <= '9') {
                if (j == 0 || x->name[j - 1] != '#')
                    x->name[j++] = '#';
            } else {
                x->name[j++] = *p;
            }
        }
        x->name[j] = '\0';
        x->work = wtm_work(t);
        x->crit = t->crit && (int)t->run == m->longest + 1 ? x->work : 0;
        x->n = 1;
    }
    qsort(f, n, sizeof *f, cmp_fam_name);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        if (ng && strcmp(f[ng - 1].name, f[i].name) == 0) {
            f[ng - 1].work += f[i].work;
            f[ng - 1].crit += f[i].crit;
            f[ng - 1].n++;
        } else {
            f[ng++] = f[i];
        }
    }
    double tc[2] = {task_us, crit_us};
    qsort_r(f, ng, sizeof *f, cmp_fam_share, tc);
    double th = c->bottleneck / 100.0;
    fprintf(out, "bottlenecks (%g%% or more of the tasks' run time or of the critical path):\n", c->bottleneck);
    size_t shown = 0;
    for (size_t i = 0; i < ng && shown < 10 && fam_share(&f[i], task_us, crit_us) >= th; i++, shown++) {
        char a[32];
        fmt_time(a, sizeof a, f[i].work);
        fprintf(out, "  %5.1f%% of the run time, %5.1f%% of the critical path: %s (%zu task%s, %s)\n",
                task_us > 0 ? 100.0 * f[i].work / task_us : 0.0, crit_us > 0 ? 100.0 * f[i].crit / crit_us : 0.0,
                f[i].name, f[i].n, f[i].n == 1 ? "" : "s", a);
    }
    if (!shown)
        fprintf(out, "  none: no family of tasks takes %g%% of the run time or of the critical path\n", c->bottleneck);
    weft__free(f);
    return 0;
}

int weft__trace_write_summary(const weft__tmodel_t *m, const weft__tconf_t *c, FILE *out)
{
    char a[32], b[32], lb[24];
    double span = m->ntask || m->nev ? m->t_last - m->t_first : 0;
    if (span < 0)
        span = 0;
    size_t st[4] = {0}, attempts = 0, stopped = 0;
    for (size_t k = 0; k < m->ntask; k++) {
        int s = m->task[k].state;
        if (s == WEFT_TASK_FAILED && m->task[k].stopped) /* interrupted: "stopped", as the record says */
            stopped++;
        else
            st[s >= 0 && s < 4 ? s : 3]++;
        attempts += (size_t)m->task[k].attempts;
    }
    fmt_time(a, sizeof a, span);
    fprintf(out, "== trace summary%s%s ==\n", c->title ? ": " : "", c->title ? c->title : "");
    fprintf(out, "total: %s over %zu run(s), %zu task(s), %zu attempt(s), %zu event(s)\n", a, m->nrun, m->ntask,
            attempts, m->nev);
    char stopped_text[48] = "";
    if (stopped)
        snprintf(stopped_text, sizeof stopped_text, ", %zu stopped", stopped);
    fprintf(out, "tasks: %zu done, %zu failed%s, %zu cancelled, %zu not run\n", st[WEFT_TASK_DONE],
            st[WEFT_TASK_FAILED], stopped_text, st[WEFT_TASK_CANCELLED], st[WEFT_TASK_NOT_RUN]);

    /* slowest */
    int32_t top[SLOWEST];
    size_t ntop = 0;
    for (size_t k = 0; k < m->ntask; k++) {
        if (m->task[k].state != WEFT_TASK_DONE && m->task[k].state != WEFT_TASK_FAILED)
            continue;
        double w = wtm_work(&m->task[k]);
        size_t i = ntop < SLOWEST ? ntop++ : SLOWEST;
        if (i == SLOWEST) {
            if (w <= wtm_work(&m->task[top[SLOWEST - 1]]))
                continue;
            i = SLOWEST - 1;
        }
        while (i > 0 && wtm_work(&m->task[top[i - 1]]) < w) {
            top[i] = top[i - 1];
            i--;
        }
        top[i] = (int32_t)k;
    }
    if (ntop) {
        /* run: what its attempts took (or its time on a worker); wait:
         * from its start to its first attempt, for cores and GPUs */
        fprintf(out, "slowest tasks:\n  %10s  %10s  task\n", "run", "wait");
        for (size_t i = 0; i < ntop; i++) {
            const wtm_task_t *t = &m->task[top[i]];
            char lane[160];
            weft__tmodel_lane(m->rec, t->lane_kind, t->lane, c->nworkers, lane, sizeof lane);
            fmt_time(a, sizeof a, wtm_work(t));
            if (t->has_attempts)
                fmt_time(b, sizeof b, wtm_wait(t));
            else
                snprintf(b, sizeof b, "-");
            fprintf(out, "  %10s  %10s  %s  (%s, run %u%s)\n", a, b,
                    weft__tmodel_name(m, t->run, t->index, lb, sizeof lb), lane, t->run,
                    t->state != WEFT_TASK_FAILED ? ""
                    : t->stopped                 ? ", stopped"
                                                 : ", failed");
        }
    }

    /* critical path of the longest run */
    if (m->longest >= 0) {
        const wtm_run_t *r = &m->run[m->longest];
        double rspan = (r->done >= 0 ? r->done : m->t_last) - r->submit;
        fmt_time(a, sizeof a, r->crit_len);
        fmt_time(b, sizeof b, rspan);
        fprintf(out, "critical path (run %d%s): %zu task(s), %s of the run's %s (%.1f%%)\n", m->longest + 1,
                m->nrun > 1 ? ", the longest" : "", r->ncrit, a, b, rspan > 0 ? 100.0 * r->crit_len / rspan : 0.0);
        for (size_t i = 0; i < r->ncrit; i++) {
            if (i == CRIT_SHOWN / 2 && r->ncrit > CRIT_SHOWN) {
                fprintf(out, "  ... %zu more ...\n", r->ncrit - CRIT_SHOWN);
                i = r->ncrit - CRIT_SHOWN / 2;
            }
            const wtm_task_t *t = &m->task[r->crit[i]];
            fmt_time(a, sizeof a, t->start - r->submit);
            fmt_time(b, sizeof b, wtm_work(t));
            fprintf(out, "  at %10s  %10s  %s\n", a, b, weft__tmodel_name(m, t->run, t->index, lb, sizeof lb));
        }
    }

    /* lanes */
    size_t nl = m->lanes[TLANE_WORKER];
    if (nl) {
        double *busy = weft__calloc(nl, sizeof *busy);
        size_t *cnt = weft__calloc(nl, sizeof *cnt);
        if (busy && cnt) {
            for (size_t i = 0; i < m->nev; i++) {
                const wtm_ev_t *x = &m->ev[i];
                if (x->e.lane_kind == TLANE_WORKER && (x->e.kind == TEV_TASK || x->e.kind == TEV_CHILD) &&
                    x->e.lane < nl) {
                    busy[x->e.lane] += x->t1 - x->t0;
                    cnt[x->e.lane]++;
                }
            }
            fmt_time(a, sizeof a, span);
            fprintf(out, "workers (busy running tasks over the %s traced):\n", a);
            for (size_t i = 0; i < nl; i++) {
                if (i >= (size_t)c->nworkers && !cnt[i])
                    continue;
                char lane[160];
                weft__tmodel_lane(m->rec, TLANE_WORKER, (int)i, c->nworkers, lane, sizeof lane);
                fmt_time(a, sizeof a, busy[i]);
                fmt_time(b, sizeof b, span > busy[i] ? span - busy[i] : 0);
                fprintf(out, "  %-12s busy %10s (%5.1f%%)  idle %10s  %zu task(s)\n", lane, a,
                        span > 0 ? 100.0 * busy[i] / span : 0.0, b, cnt[i]);
            }
        }
        weft__free(busy);
        weft__free(cnt);
    }
    if (m->lanes[TLANE_PROC])
        fprintf(out, "process slots: %zu used at most at once\n", most_at_once(m, TLANE_PROC));

    /* user regions, against the time tasks ran */
    double task_us = 0;
    for (size_t k = 0; k < m->ntask; k++)
        if (m->task[k].state == WEFT_TASK_DONE || m->task[k].state == WEFT_TASK_FAILED)
            task_us += wtm_work(&m->task[k]);
    if (write_regions(m, task_us, out) != 0 || write_bottlenecks(m, c, task_us, out) != 0)
        return WEFT_ENOMEM;

    /* scheduling delay */
    double *d = weft__malloc((m->ntask ? m->ntask : 1) * sizeof *d);
    if (!d)
        return WEFT_ENOMEM;
    size_t nd = 0;
    for (size_t k = 0; k < m->ntask; k++)
        if (m->task[k].state == WEFT_TASK_DONE || m->task[k].state == WEFT_TASK_FAILED)
            d[nd++] = m->task[k].start > m->task[k].ready ? m->task[k].start - m->task[k].ready : 0;
    if (nd) {
        qsort(d, nd, sizeof *d, cmp_double);
        char p50[32], p90[32], p99[32], mx[32];
        fmt_time(p50, sizeof p50, pct(d, nd, 0.5));
        fmt_time(p90, sizeof p90, pct(d, nd, 0.9));
        fmt_time(p99, sizeof p99, pct(d, nd, 0.99));
        fmt_time(mx, sizeof mx, d[nd - 1]);
        fprintf(out, "scheduling delay (ready -> start): p50 %s, p90 %s, p99 %s, max %s\n", p50, p90, p99, mx);
    }
    weft__free(d);
    return ferror(out) ? WEFT_ESYS : 0;
}
