/* runtime — the timing instrumentation's private header: the runtime's
 * trace state (runtime/trace.c) and the model every export is built from
 * (trace_model.c), shared with the writers (trace_json.c, trace_summary.c,
 * trace_html.c). */
#ifndef WEFT_RUNTIME_TRACE_H
#define WEFT_RUNTIME_TRACE_H

#include <stdio.h>

#include "base/base.h"
#include "scheduler/scheduler.h"
#include "weft/runtime.h"

/* ---- the runtime's side (trace.c) ---------------------------------------- */
typedef struct weft__rtrace weft__rtrace_t;
/* Starts recording into a new trace for rt's pool (streaming to
 * cfg->trace_file when set). Errors: WEFT_ENOMEM, WEFT_ESYS (the file). */
int weft__rtrace_create(weft_runtime_t *rt, weft__pool_t *pool, const weft_config_t *cfg, weft__rtrace_t **out);
/* Stops the background thread, completes the streamed file, frees. */
void weft__rtrace_destroy(weft__rtrace_t *t);
/* The runtime's trace state (NULL when tracing is off); runtime.c. */
weft__rtrace_t *weft__runtime_trace(const weft_runtime_t *rt);

/* ---- the model ------------------------------------------------------------ */
typedef struct wtm_ev {
    double t0, t1; /* microseconds since the trace started */
    weft__tev_t e;
} wtm_ev_t;

typedef struct wtm_task {
    uint32_t run, index;
    double ready, start, end; /* µs; ready: its last dependency's end, or the run's start */
    int32_t rc, attempts, lane;
    int8_t state;
    uint8_t lane_kind;    /* where it (last) ran: lane_kind, lane */
    uint8_t has_attempts; /* executor attempts recorded (the worker's slice only launched it) */
    uint8_t crit;         /* on its run's critical path */
    uint8_t stopped;      /* its last attempt was interrupted (the record's "stopped") */
    double run_us;        /* with attempts: their durations added up */
    double first_attempt; /* with attempts: when the first began */
    double last_attempt;  /* with attempts: when the last ended */
} wtm_task_t;

/* The time a task ran: its attempts' durations when the executor recorded
 * them (a process, a workflow kernel), else the time it held its worker.
 * What it spent waiting for cores or GPUs is wtm_wait. */
static inline double wtm_work(const wtm_task_t *t)
{
    return t->has_attempts ? t->run_us : t->end - t->start;
}

/* From the start of its body to its first attempt: the wait for the cores
 * and GPUs it asked for (0 without attempts). */
static inline double wtm_wait(const wtm_task_t *t)
{
    return t->has_attempts && t->first_attempt > t->start ? t->first_attempt - t->start : 0;
}

typedef struct wtm_run {
    const weft__tgraph_t *g;
    double submit, done; /* µs; done < 0 while running */
    int result;
    int32_t *map;  /* task index -> model task, -1 */
    int32_t *crit; /* critical path, first to last */
    size_t ncrit;
    double crit_len; /* sum of the work of its tasks */
} wtm_run_t;

typedef struct weft__tmodel {
    weft__tick_map_t map;
    double origin_ns;
    wtm_ev_t *ev;
    size_t nev;
    wtm_task_t *task;
    size_t ntask;
    wtm_run_t *run;
    size_t nrun;
    double t_first, t_last; /* earliest start, latest end (µs) */
    size_t lanes[4];        /* lanes used per kind (worker lanes: slots) */
    int longest;            /* the run with the longest span, -1: none */
    weft__trace_t *rec;     /* what it was built from (lane names) */
} weft__tmodel_t;

int weft__tmodel_build(weft__trace_t *tr, weft__tmodel_t *m);
void weft__tmodel_free(weft__tmodel_t *m);
/* The task's name ("#<index>" for an unnamed one, in buf). */
const char *weft__tmodel_name(const weft__tmodel_t *m, uint32_t run, uint32_t index, char *buf, size_t size);
const char *weft__tmodel_note(const weft__tmodel_t *m, uint32_t run, uint32_t index);
const char *weft__tmodel_state(int state);
/* "worker 3", "process slot 1", "gpu stream 0", or the name the
 * recorder rec (may be NULL) has for the lane ("rank2@n07 slot 0") */
void weft__tmodel_lane(weft__trace_t *rec, int kind, int lane, int nworkers, char *buf, size_t size);
/* The chrome trace tid of a lane. */
int weft__tmodel_tid(int kind, int lane);

/* ---- writers ---------------------------------------------------------------- */
typedef struct weft__tconf {
    const char *title;       /* the report's title */
    const char *config_json; /* object members describing the run's configuration */
    int nworkers;
    double bottleneck; /* percent: what the summary names as a bottleneck (weft_runtime_set_bottleneck) */
} weft__tconf_t;

/* Chrome trace events of one event (its lane's tid), as ",\n{...}" (or
 * "{...}" when first), appended to the growing buffer. */
typedef struct weft__sbuf {
    char *p;
    size_t len, cap;
    int oom;
} weft__sbuf_t;
void weft__sbuf_put(weft__sbuf_t *b, const char *s, size_t n);
void weft__sbuf_puts(weft__sbuf_t *b, const char *s);
void weft__sbuf_printf(weft__sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void weft__sbuf_json(weft__sbuf_t *b, const char *s); /* a quoted, escaped JSON string */
void weft__sbuf_us(weft__sbuf_t *b, double us);       /* microseconds, 3 decimals */

/* Writes the whole trace (JSON array, closed) to path via a temporary file
 * renamed over it. */
int weft__trace_write_json(const weft__tmodel_t *m, const weft__tconf_t *c, const char *path);
/* The metadata (track names) and one event, for the streamed file;
 * weft__trace_json_lane: one track's name and order. */
void weft__trace_json_lane(weft__sbuf_t *b, weft__trace_t *rec, int kind, int lane, int nworkers);
void weft__trace_json_meta(weft__sbuf_t *b, weft__trace_t *rec, int nworkers, size_t procs, size_t gpus);
void weft__trace_json_event(weft__sbuf_t *b, const weft__tmodel_t *m, const wtm_ev_t *ev, int cat_launch);
/* Writes data to path through a temporary file renamed over it; logs
 * "cannot write 'path': reason" on failure. Errors: WEFT_ESYS, WEFT_ENOMEM. */
int weft__write_file_atomic(const char *path, const char *data, size_t len);
int weft__trace_write_summary(const weft__tmodel_t *m, const weft__tconf_t *c, FILE *out);
int weft__trace_write_html(const weft__tmodel_t *m, const weft__tconf_t *c, const char *path);

#endif
