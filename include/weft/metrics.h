/* weft — timers, a named-metric registry and in-process benchmarking: the
 * profiling utilities solver authors otherwise write by hand. Usable
 * anywhere (no runtime needed). */
#ifndef WEFT_METRICS_H
#define WEFT_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A stopwatch: start, stop (returns the seconds of this lap), and the sum
 * of all laps. Zero-initialise or start it before use. */
typedef struct weft_timer {
    uint64_t t0;    /* private */
    double total_s; /* seconds over all laps */
    int running;
} weft_timer_t;
WEFT_API void weft_timer_start(weft_timer_t *t);
/* Seconds since the matching start (0 when not running). */
WEFT_API double weft_timer_stop(weft_timer_t *t);
/* Seconds on the clock now (CLOCK_MONOTONIC; for differences). */
WEFT_API double weft_seconds(void);

/* Named metrics: samples by name, thread-safe. */
typedef struct weft_metrics weft_metrics_t;
typedef struct weft_metric_stats {
    size_t count;
    double total, mean, min, median, p95, max;
} weft_metric_stats_t;

/* Errors: WEFT_EINVAL (out NULL), WEFT_ENOMEM. */
WEFT_API int weft_metrics_create(weft_metrics_t **out);
WEFT_API void weft_metrics_destroy(weft_metrics_t *m);
/* Adds one sample. Errors: WEFT_EINVAL (NULL, empty name, NaN), WEFT_ENOMEM. */
WEFT_API int weft_metrics_add(weft_metrics_t *m, const char *name, double value);
/* Stops t and adds the lap's seconds under name. Errors: as weft_metrics_add,
 * and WEFT_ESTATE when t was not running. */
WEFT_API int weft_metrics_add_timer(weft_metrics_t *m, const char *name, weft_timer_t *t);
/* Errors: WEFT_EINVAL, WEFT_ENOENT (no sample under name), WEFT_ENOMEM. */
WEFT_API int weft_metrics_get(weft_metrics_t *m, const char *name, weft_metric_stats_t *out);
/* How many names; the i-th name (in order of first use), or NULL. */
WEFT_API size_t weft_metrics_count(weft_metrics_t *m);
WEFT_API const char *weft_metrics_name(weft_metrics_t *m, size_t i);
/* A table: name, count, total, min, median, p95, max. Errors: WEFT_EINVAL,
 * WEFT_ESYS (out reported an error). */
WEFT_API int weft_metrics_write(weft_metrics_t *m, FILE *out);
WEFT_API void weft_metrics_reset(weft_metrics_t *m);

/* Statistics of n values (any order; not modified). Errors: WEFT_EINVAL
 * (NULL, n == 0), WEFT_ENOMEM. */
WEFT_API int weft_stats(const double *v, size_t n, weft_metric_stats_t *out);

/* ---- benchmarking ---------------------------------------------------------
 * Runs each alternative `warmup` times, then `runs` rounds in which every
 * alternative runs once, in turn (so that a noisy neighbour hurts all of
 * them alike). A function returning non-zero stops the benchmark with that
 * code. */
typedef int (*weft_bench_fn)(void *arg);
typedef struct weft_bench_alt {
    const char *name;
    weft_bench_fn fn;
    void *arg;
} weft_bench_alt_t;
typedef struct weft_bench_result {
    weft_metric_stats_t s; /* seconds per run */
    double ratio;          /* median / the first alternative's median */
} weft_bench_result_t;
/* out has n entries. When report is not NULL, prints a line per alternative
 * (min / median / max, ratio). Errors: WEFT_EINVAL (NULL, n < 1, runs < 1,
 * warmup < 0), WEFT_ENOMEM, or the first non-zero code an alternative
 * returned. */
WEFT_API int weft_bench(const weft_bench_alt_t *alts, int n, int warmup, int runs, weft_bench_result_t *out,
                        FILE *report);

#ifdef __cplusplus
}
#endif
#endif
