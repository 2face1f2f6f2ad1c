/* Timers, the named-metric registry and in-process benchmarking. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "weft/error.h"
#include "weft/metrics.h"

/* ---- timers ---------------------------------------------------------------- */

double weft_seconds(void)
{
    return (double)weft__clock_ns() / 1e9;
}

void weft_timer_start(weft_timer_t *t)
{
    if (!t)
        return;
    t->t0 = weft__clock_ns();
    t->running = 1;
}

double weft_timer_stop(weft_timer_t *t)
{
    if (!t || !t->running)
        return 0;
    double s = (double)(weft__clock_ns() - t->t0) / 1e9;
    t->running = 0;
    t->total_s += s;
    return s;
}

/* ---- statistics ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Linear interpolation between the closest ranks. */
static double quantile(const double *sorted, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n)
        return sorted[n - 1];
    double f = pos - (double)i;
    return sorted[i] + (sorted[i + 1] - sorted[i]) * f;
}

int weft_stats(const double *v, size_t n, weft_metric_stats_t *out)
{
    if (!v || !n || !out)
        return WEFT_EINVAL;
    double *s = weft__malloc(n * sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += s[i];
    *out = (weft_metric_stats_t){.count = n,
                                 .total = total,
                                 .mean = total / (double)n,
                                 .min = s[0],
                                 .median = quantile(s, n, 0.5),
                                 .p95 = quantile(s, n, 0.95),
                                 .max = s[n - 1]};
    weft__free(s);
    return 0;
}

/* ---- the registry ---------------------------------------------------------- */

typedef struct metric {
    char *name;
    double *v;
    size_t n, cap;
} metric_t;

struct weft_metrics {
    pthread_mutex_t lock;
    metric_t *m;
    size_t n, cap;
};

int weft_metrics_create(weft_metrics_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    weft_metrics_t *m = weft__calloc(1, sizeof *m);
    if (!m)
        return WEFT_ENOMEM;
    pthread_mutex_init(&m->lock, NULL);
    *out = m;
    return 0;
}

void weft_metrics_reset(weft_metrics_t *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) {
        weft__free(m->m[i].name);
        weft__free(m->m[i].v);
    }
    weft__free(m->m);
    m->m = NULL;
    m->n = m->cap = 0;
    pthread_mutex_unlock(&m->lock);
}

void weft_metrics_destroy(weft_metrics_t *m)
{
    if (!m)
        return;
    weft_metrics_reset(m);
    pthread_mutex_destroy(&m->lock);
    weft__free(m);
}

/* lock held */
static metric_t *find(weft_metrics_t *m, const char *name, int make)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->m[i].name, name) == 0)
            return &m->m[i];
    if (!make)
        return NULL;
    if (WEFT__GROW(m->m, m->cap, m->n + 1, 16))
        return NULL;
    char *copy = weft__strdup(name);
    if (!copy)
        return NULL;
    m->m[m->n] = (metric_t){copy, NULL, 0, 0};
    return &m->m[m->n++];
}

int weft_metrics_add(weft_metrics_t *m, const char *name, double value)
{
    if (!m || !name || !*name || isnan(value))
        return WEFT_EINVAL;
    pthread_mutex_lock(&m->lock);
    metric_t *x = find(m, name, 1);
    int rc = x ? 0 : WEFT_ENOMEM;
    if (x && WEFT__GROW(x->v, x->cap, x->n + 1, 16))
        rc = WEFT_ENOMEM;
    if (rc == 0)
        x->v[x->n++] = value;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int weft_metrics_add_timer(weft_metrics_t *m, const char *name, weft_timer_t *t)
{
    if (!m || !name || !*name || !t)
        return WEFT_EINVAL;
    if (!t->running)
        return WEFT_ESTATE;
    return weft_metrics_add(m, name, weft_timer_stop(t));
}

int weft_metrics_get(weft_metrics_t *m, const char *name, weft_metric_stats_t *out)
{
    if (!m || !name || !out)
        return WEFT_EINVAL;
    pthread_mutex_lock(&m->lock);
    metric_t *x = find(m, name, 0);
    int rc = !x || !x->n ? WEFT_ENOENT : weft_stats(x->v, x->n, out);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

size_t weft_metrics_count(weft_metrics_t *m)
{
    if (!m)
        return 0;
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

const char *weft_metrics_name(weft_metrics_t *m, size_t i)
{
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->lock);
    const char *s = i < m->n ? m->m[i].name : NULL;
    pthread_mutex_unlock(&m->lock);
    return s;
}

int weft_metrics_write(weft_metrics_t *m, FILE *out)
{
    if (!m || !out)
        return WEFT_EINVAL;
    fprintf(out, "%-24s %8s %12s %12s %12s %12s %12s\n", "metric", "count", "total", "min", "median", "p95", "max");
    size_t n = weft_metrics_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *name = weft_metrics_name(m, i);
        weft_metric_stats_t s;
        if (weft_metrics_get(m, name, &s) != 0)
            continue;
        fprintf(out, "%-24s %8zu %12.6g %12.6g %12.6g %12.6g %12.6g\n", name, s.count, s.total, s.min, s.median, s.p95,
                s.max);
    }
    return ferror(out) ? WEFT_ESYS : 0;
}

/* ---- benchmarking ------------------------------------------------------------ */

int weft_bench(const weft_bench_alt_t *alts, int n, int warmup, int runs, weft_bench_result_t *out, FILE *report)
{
    if (!alts || n < 1 || runs < 1 || warmup < 0 || !out)
        return WEFT_EINVAL;
    for (int a = 0; a < n; a++)
        if (!alts[a].fn)
            return WEFT_EINVAL;
    double *t = weft__malloc((size_t)n * (size_t)runs * sizeof *t);
    if (!t)
        return WEFT_ENOMEM;
    int rc = 0;
    for (int w = 0; w < warmup && !rc; w++)
        for (int a = 0; a < n && !rc; a++)
            rc = alts[a].fn(alts[a].arg);
    for (int r = 0; r < runs && !rc; r++)
        for (int a = 0; a < n && !rc; a++) {
            uint64_t t0 = weft__clock_ns();
            rc = alts[a].fn(alts[a].arg);
            t[(size_t)a * (size_t)runs + (size_t)r] = (double)(weft__clock_ns() - t0) / 1e9;
        }
    for (int a = 0; a < n && !rc; a++)
        rc = weft_stats(t + (size_t)a * (size_t)runs, (size_t)runs, &out[a].s);
    weft__free(t);
    if (rc)
        return rc;
    for (int a = 0; a < n; a++) {
        out[a].ratio = out[0].s.median > 0 ? out[a].s.median / out[0].s.median : 0;
        if (report)
            fprintf(report, "%-24s min %10.6f s  median %10.6f s  max %10.6f s  %6.3fx\n",
                    alts[a].name ? alts[a].name : "?", out[a].s.min, out[a].s.median, out[a].s.max, out[a].ratio);
    }
    return 0;
}
