/* tasks/gpu_internal.h — what the GPU executor's files share: the
 * executor (gpu.c: devices, streams, events, the completion thread,
 * placement), the task (gpu_task.c: the body, tensors between memories,
 * the task kind and the public calls) and CUDA graph tasks
 * (gpu_capture.c). Private to them. */
#ifndef WEFT_TASKS_GPU_INTERNAL_H
#define WEFT_TASKS_GPU_INTERNAL_H

#include "tasks/tasks.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "memory/memory.h"
#include "platform/device.h"
#include "base/base.h"
#include "scheduler/scheduler.h"
#include "weft/cuda.h"

#define GPU_MAX_DEVICES 64
#define GPU_MAX_STREAMS 1024

/* ==== structures ================================================================ */

typedef struct gtask gtask_t;

typedef struct gstream {
    void *s;
    _Atomic int inflight;
    _Atomic(gtask_t *) tail; /* the last task enqueued on it */
} gstream_t;

typedef struct gdev {
    gstream_t *streams;
    /* traces: a timed event recorded on a stream of its own ties the
     * device's clock to the host's (anchor_ns: host clock ns when it fired) */
    _Atomic int anchored; /* 0 not yet, 1 yes, -1 cannot */
    void *capture_s;      /* CUDA graph captures (under capture_lock) */
    void *anchor_s, *anchor_ev;
    uint64_t anchor_ns;
    _Atomic int inflight;
    _Atomic int lost;   /* 0, or the fatal error */
    char lost_msg[200]; /* written before lost is set */
    _Atomic unsigned rr;
} gdev_t;

struct weft__gpu {
    const weft__gpu_ops_t *ops;
    int nstreams;
    int quiet;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_mutex_t capture_lock;
    _Atomic int state; /* 0: not set up, 1: ready, -1: unusable (why) */
    char why[240];
    int ndev;
    gdev_t *dev;
    /* completion thread */
    pthread_t thread;
    int have_thread;
    int stop;
    gtask_t *head, *tail; /* enqueued, not yet watched (lock) */
};

/* Components of a graph's GPU tasks (see the top). */
typedef struct gcomp {
    int fixed;               /* the device its tasks name, or -1 */
    _Atomic uint64_t placed; /* run << 32 | (device + 1) */
} gcomp_t;

struct gtask {
    weft_fn fn;
    void *arg;
    weft_task_t *task;
    int want;      /* device asked for, or WEFT_DEVICE_ANY */
    uint32_t gi;   /* index in the graph's GPU tasks */
    uint32_t comp; /* index into the graph's components */
    uint32_t uf;   /* union-find parent (preparation) */
    /* the last run */
    int dev; /* device it was placed on, or -1 */
    gstream_t *stream;
    weft_defer_t *defer;
    _Atomic uint32_t fired_run; /* run whose event was seen complete */
    uint32_t run;
    char msg[256]; /* failure detail */
    /* its event (kept across runs and given back when the graph goes),
     * and when traced, a timed one recorded before its work */
    void *ev, *ev0;
    int ev_timed;
    weft__trace_t *tr; /* traced in the last run */
    int ev_dev;
    const weft__gpu_ops_t *ev_ops;
    gtask_t *next; /* completion list */
};

typedef struct gx {
    gtask_t **t;
    size_t n, cap;
    gcomp_t *comp;
    size_t ncomp;
} gx_t;

/* The function being called by the calling thread (weft_ctx_stream). */
typedef struct gcur {
    const weft_ctx_t *ctx;
    gtask_t *gt;
    void *stream;
    int dev;
    int capturing; /* a task of a CUDA graph task's subgraph, at capture */
} gcur_t;
extern _Thread_local gcur_t *weft__gpu_tls_cur;

static inline gtask_t *gtask_of(const weft_task_t *t)
{
    return weft__task_arg(t);
}

extern const weft__task_ops_t weft__gpu_kind;

/* Whether t is a GPU task (of this kind). */
static inline int is_gpu(const weft_task_t *t)
{
    return weft__task_ops(t) == &weft__gpu_kind;
}

/* ---- gpu.c ---- */
int weft__gpu_event_take(const weft__gpu_ops_t *ops, int dev, int timed, void **out);
void weft__gpu_event_give(const weft__gpu_ops_t *ops, int dev, int timed, void *e);
int weft__gpu_events_get(const weft__gpu_ops_t *ops, gtask_t *gt, int d, int timed);
void weft__gpu_events_drop(gtask_t *gt);
int weft__gpu_setup(weft__gpu_t *x);
int weft__gpu_device_error(weft__gpu_t *x, gtask_t *gt, int err);
int weft__gpu_place_device(weft__gpu_t *x, gx_t *gx, gtask_t *gt, uint32_t run);
gstream_t *weft__gpu_place_stream(weft__gpu_t *x, gtask_t *gt, int d);
void weft__gpu_nap(unsigned us);
int weft__gpu_anchor_ready(weft__gpu_t *x, int d);
void weft__gpu_watch(weft__gpu_t *x, gtask_t *gt);

/* ---- gpu_capture.c ---- */
void weft__gpu_capture_drop(gtask_t *gt);

#endif
