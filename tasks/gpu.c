/* The GPU (CUDA stream) executor: GPU tasks in the same graph as CPU and
 * process tasks.
 *
 * A GPU task is a scheduler task whose body (gpu_body) runs on a worker:
 * it places the task on a device and a stream, makes the stream wait for
 * the task's GPU dependencies that are not already ordered before it,
 * calls the user's function (which enqueues asynchronous work on the
 * stream and returns), records an event after that work, and then
 *  - releases at once the GPU successors that will run on the same device
 *    (weft__ctx_release_early): they are enqueued behind the event, on the
 *    same stream (a chain stays on one stream: no wait at all) or with a
 *    stream wait, never with a host round trip;
 *  - defers the task's completion (weft_ctx_defer) to the completion
 *    thread, which watches the events and completes each task when its
 *    event has fired: only then are CPU successors, process successors and
 *    GPU successors on other devices released, and the run ends only when
 *    every event has fired.
 *
 * Placement. GPU tasks joined by GPU→GPU dependencies form components
 * (computed when the graph changes); a component runs on one device in a
 * run: the device its tasks name (tasks naming different devices are not
 * joined), else the device with the least work in flight when its first
 * task is enqueued. On the device, a task continues the stream of a
 * same-component dependency when it is that stream's last task (so chains
 * need no waits), else takes the stream with the least work in flight.
 *
 * Errors. A non-zero return from the function fails the task with that
 * code. A launch error (the thread's last CUDA error after the function)
 * or a failed record fails it with WEFT_EDEVICE and the CUDA error text
 * (weft_task_error). An error reported by an event (an asynchronous fault,
 * e.g. an illegal address) fails the task, and — being fatal for the
 * device in CUDA — marks the device lost: every task on it whose event has
 * not fired fails with that error, GPU tasks placed on it later fail at
 * once, and the rest of the graph (CPU work, other devices) goes on. The
 * dependents of a failed task are cancelled as usual.
 *
 * Traces. When the runtime traces, a GPU task gets a second, timed event
 * recorded before its work (after its waits): the two give its time on
 * the device, put on the host's clock through an anchor event per device
 * (recorded on a stream of its own, so it fires at once, and re-recorded
 * every second), and recorded as a slice on its stream's track by the
 * completion thread. Untraced runs use events without timing. */
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
static _Thread_local gcur_t *tls_cur;

static inline gtask_t *gtask_of(const weft_task_t *t)
{
    return weft__task_arg(t);
}

static const weft__task_ops_t gpu_kind;

/* Whether t is a GPU task (of this kind). */
static inline int is_gpu(const weft_task_t *t)
{
    return weft__task_ops(t) == &gpu_kind;
}

/* ==== events: a process-wide cache per device =================================== */

#define EV_CACHE_MAX 65536

static struct {
    pthread_mutex_t lock;
    const weft__gpu_ops_t *ops;
    /* [timed][device] */
    void **ev[2][GPU_MAX_DEVICES];
    size_t n[2][GPU_MAX_DEVICES], cap[2][GPU_MAX_DEVICES];
} g_ev = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int event_take(const weft__gpu_ops_t *ops, int dev, int timed, void **out)
{
    pthread_mutex_lock(&g_ev.lock);
    if (g_ev.ops == ops && g_ev.n[timed][dev]) {
        *out = g_ev.ev[timed][dev][--g_ev.n[timed][dev]];
        pthread_mutex_unlock(&g_ev.lock);
        return 0;
    }
    pthread_mutex_unlock(&g_ev.lock);
    return timed ? ops->event_create_timed(dev, out) : ops->event_create(dev, out);
}

static void event_give(const weft__gpu_ops_t *ops, int dev, int timed, void *e)
{
    pthread_mutex_lock(&g_ev.lock);
    if (!g_ev.ops) {
        g_ev.ops = ops;
    }
    size_t *n = &g_ev.n[timed][dev], *cap = &g_ev.cap[timed][dev];
    if (g_ev.ops == ops && *n < EV_CACHE_MAX) {
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 256;
            void **a = weft__realloc(g_ev.ev[timed][dev], c * sizeof *a);
            if (a) {
                g_ev.ev[timed][dev] = a;
                *cap = c;
            }
        }
        if (*n < *cap) {
            g_ev.ev[timed][dev][(*n)++] = e;
            pthread_mutex_unlock(&g_ev.lock);
            return;
        }
    }
    pthread_mutex_unlock(&g_ev.lock);
    ops->event_destroy(dev, e);
}

/* Gives gt's events back to the cache. */
static void events_drop(gtask_t *gt)
{
    if (gt->ev)
        event_give(gt->ev_ops, gt->ev_dev, gt->ev_timed, gt->ev);
    if (gt->ev0)
        event_give(gt->ev_ops, gt->ev_dev, 1, gt->ev0);
    gt->ev = gt->ev0 = NULL;
}

/* gt's events for a run on device d (timed: for a traced run). */
static int events_get(const weft__gpu_ops_t *ops, gtask_t *gt, int d, int timed)
{
    if (gt->ev && (gt->ev_dev != d || gt->ev_ops != ops || gt->ev_timed != timed))
        events_drop(gt);
    gt->ev_dev = d;
    gt->ev_ops = ops;
    gt->ev_timed = timed;
    int err = 0;
    if (!gt->ev && (err = event_take(ops, d, timed, &gt->ev)) != 0)
        gt->ev = NULL;
    if (!err && timed && !gt->ev0 && (err = event_take(ops, d, 1, &gt->ev0)) != 0)
        gt->ev0 = NULL;
    return err;
}

/* ==== the executor ============================================================== */

int weft__gpu_create(int streams, int quiet, weft__gpu_t **out)
{
    if (streams < 1 || streams > GPU_MAX_STREAMS)
        return WEFT_EINVAL;
    weft__gpu_t *x = weft__calloc(1, sizeof *x);
    if (!x)
        return WEFT_ENOMEM;
    x->ops = weft__gpu_current_ops();
    x->nstreams = streams;
    x->quiet = quiet;
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->cond, NULL);
    pthread_mutex_init(&x->capture_lock, NULL);
    *out = x;
    return 0;
}

static void *completion_main(void *arg);

static void teardown_devices(weft__gpu_t *x)
{
    for (int d = 0; x->dev && d < x->ndev; d++) {
        gdev_t *v = &x->dev[d];
        if (!v->streams)
            continue;
        x->ops->set_device(d);
        for (int i = 0; i < x->nstreams; i++)
            if (v->streams[i].s)
                x->ops->stream_destroy(d, v->streams[i].s);
        if (v->anchor_ev)
            x->ops->event_destroy(d, v->anchor_ev);
        if (v->anchor_s)
            x->ops->stream_destroy(d, v->anchor_s);
        if (v->capture_s)
            x->ops->stream_destroy(d, v->capture_s);
        weft__free(v->streams);
    }
    weft__free(x->dev);
    x->dev = NULL;
}

/* Devices, streams and the completion thread, at the first GPU task. */
static int setup(weft__gpu_t *x)
{
    int st = atomic_load_explicit(&x->state, memory_order_acquire);
    if (st)
        return st;
    pthread_mutex_lock(&x->lock);
    st = atomic_load_explicit(&x->state, memory_order_relaxed);
    if (st) {
        pthread_mutex_unlock(&x->lock);
        return st;
    }
    int n = x->ops->devices(x->why, sizeof x->why);
    if (n > GPU_MAX_DEVICES)
        n = GPU_MAX_DEVICES;
    const char *fail = NULL;
    int err = 0;
    if (n > 0) {
        x->ndev = n;
        x->dev = weft__calloc((size_t)n, sizeof *x->dev);
        if (!x->dev)
            fail = "out of memory";
        for (int d = 0; !fail && d < n; d++) {
            gdev_t *v = &x->dev[d];
            v->streams = weft__calloc((size_t)x->nstreams, sizeof *v->streams);
            if (!v->streams) {
                fail = "out of memory";
                break;
            }
            if ((err = x->ops->set_device(d)) != 0) {
                fail = "cannot select the device";
                break;
            }
            for (int i = 0; i < x->nstreams && !fail; i++)
                if ((err = x->ops->stream_create(d, &v->streams[i].s)) != 0)
                    fail = "cannot create a stream";
        }
        if (!fail) {
            if (pthread_create(&x->thread, NULL, completion_main, x) == 0)
                x->have_thread = 1;
            else
                fail = "cannot start the completion thread";
        }
        if (fail) {
            char e[160] = "";
            if (err)
                x->ops->describe(err, e, sizeof e);
            snprintf(x->why, sizeof x->why, "GPU executor: %s%s%s", fail, err ? ": " : "", e);
            teardown_devices(x);
            n = 0;
        }
    }
    st = n > 0 ? 1 : -1;
    if (st < 0 && !x->quiet)
        weft__log("GPU tasks cannot run: %s", x->why);
    atomic_store_explicit(&x->state, st, memory_order_release);
    pthread_mutex_unlock(&x->lock);
    return st;
}

void weft__gpu_destroy(weft__gpu_t *x)
{
    if (!x)
        return;
    if (x->have_thread) {
        pthread_mutex_lock(&x->lock);
        x->stop = 1;
        pthread_cond_signal(&x->cond);
        pthread_mutex_unlock(&x->lock);
        pthread_join(x->thread, NULL);
    }
    teardown_devices(x);
    pthread_mutex_destroy(&x->lock);
    pthread_cond_destroy(&x->cond);
    pthread_mutex_destroy(&x->capture_lock);
    weft__free(x);
}

/* ==== completion ================================================================ */

static void lose_device(weft__gpu_t *x, int d, int err)
{
    gdev_t *v = &x->dev[d];
    pthread_mutex_lock(&x->lock);
    if (!atomic_load_explicit(&v->lost, memory_order_relaxed)) {
        char e[160];
        x->ops->describe(err, e, sizeof e);
        snprintf(v->lost_msg, sizeof v->lost_msg, "%s (device %d is lost)", e, d);
        atomic_store_explicit(&v->lost, err, memory_order_release);
        if (!x->quiet)
            weft__log("GPU device %d is lost: %s; GPU tasks placed on it fail from now on", d, e);
    }
    pthread_mutex_unlock(&x->lock);
}

/* gt's work is over (rc 0) or failed: hand it back to the scheduler.
 * gt may be freed as soon as the completion is delivered. */
static void complete(weft__gpu_t *x, gtask_t *gt, int rc)
{
    gdev_t *v = &x->dev[gt->dev];
    gstream_t *s = gt->stream;
    gtask_t *me = gt;
    atomic_compare_exchange_strong_explicit(&s->tail, &me, NULL, memory_order_relaxed, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&v->inflight, 1, memory_order_relaxed);
    if (!rc)
        atomic_store_explicit(&gt->fired_run, gt->run, memory_order_release);
    weft_defer_t *d = gt->defer;
    gt->defer = NULL;
    weft__defer_complete_own(d, rc);
}

/* gt failed with the backend's error err: its message says so, and a
 * fatal error marks its device lost. */
static int device_error(weft__gpu_t *x, gtask_t *gt, int err)
{
    if (x->ops->fatal(err))
        lose_device(x, gt->dev, err);
    gdev_t *v = &x->dev[gt->dev];
    if (atomic_load_explicit(&v->lost, memory_order_acquire)) {
        snprintf(gt->msg, sizeof gt->msg, "%s", v->lost_msg);
    } else {
        char e[160];
        x->ops->describe(err, e, sizeof e);
        snprintf(gt->msg, sizeof gt->msg, "%s (on device %d)", e, gt->dev);
    }
    return WEFT_EDEVICE;
}

/* ---- traces: GPU time ---------------------------------------------------------- */

#define ANCHOR_EVERY_NS 1000000000u  /* re-tie the clocks this often */
#define ANCHOR_GIVE_UP_NS 100000000u /* an empty stream's event fires in microseconds */

/* Ties device d's clock to the host's: records the anchor event on a
 * stream nothing else uses (so it fires at once) and spins until it has;
 * its host time is the middle of that span (a few microseconds). */
static int anchor(weft__gpu_t *x, int d)
{
    gdev_t *v = &x->dev[d];
    int r = x->ops->set_device(d);
    uint64_t t0 = weft__clock_ns(), t1;
    if (!r)
        r = x->ops->record(v->anchor_ev, v->anchor_s);
    if (!r)
        while ((r = x->ops->query(v->anchor_ev)) == WEFT__GPU_PENDING && weft__clock_ns() - t0 < ANCHOR_GIVE_UP_NS) {
        }
    t1 = weft__clock_ns();
    if (r)
        return r;
    v->anchor_ns = t0 + (t1 - t0) / 2;
    return 0;
}

/* Whether GPU work on device d can be timed (set up at the first traced
 * task on it). */
static int anchor_ready(weft__gpu_t *x, int d)
{
    gdev_t *v = &x->dev[d];
    int a = atomic_load_explicit(&v->anchored, memory_order_acquire);
    if (a)
        return a > 0;
    pthread_mutex_lock(&x->lock);
    a = atomic_load_explicit(&v->anchored, memory_order_relaxed);
    if (!a) {
        a = -1;
        if (x->ops->elapsed && x->ops->set_device(d) == 0 && x->ops->stream_create(d, &v->anchor_s) == 0 &&
            x->ops->event_create_timed(d, &v->anchor_ev) == 0 && anchor(x, d) == 0)
            a = 1;
        else if (!x->quiet)
            weft__log("GPU device %d: its tasks' GPU time cannot be traced", d);
        atomic_store_explicit(&v->anchored, a, memory_order_release);
    }
    pthread_mutex_unlock(&x->lock);
    return a > 0;
}

/* gt's work on the GPU as a slice on its stream's track (from its timed
 * events: ev0 before the work, ev after it). */
static void trace_slice(weft__gpu_t *x, gtask_t *gt)
{
    gdev_t *v = &x->dev[gt->dev];
    float a, b;
    if (x->ops->elapsed(v->anchor_ev, gt->ev0, &a) != 0 || x->ops->elapsed(gt->ev0, gt->ev, &b) != 0)
        return;
    int64_t t0 = (int64_t)v->anchor_ns + (int64_t)((double)a * 1e6);
    int si = (int)(gt->stream - v->streams), lane = gt->dev * x->nstreams + si;
    weft__tev_t ev = {.t0 = t0 > 0 ? (uint64_t)t0 : 0,
                      .kind = TEV_ATTEMPT,
                      .flags = TEV_F_NS,
                      .lane_kind = TLANE_GPU,
                      .lane = (uint16_t)lane,
                      .state = WEFT_TASK_DONE,
                      .aux = 1};
    ev.t1 = ev.t0 + (b > 0 ? (uint64_t)((double)b * 1e6) : 0);
    char args[64];
    snprintf(args, sizeof args, "\"device\":%d,\"stream\":%d", gt->dev, si);
    ev.args = weft__trace_intern(gt->tr, args);
    weft__trace_lane_use(gt->tr, TLANE_GPU, lane);
    weft__trace_add(gt->tr, gt->task, &ev);
}

/* Re-ties the clocks of traced devices now and then (float milliseconds
 * from an old anchor would lose precision). Completion thread. */
static void reanchor(weft__gpu_t *x)
{
    uint64_t now = weft__clock_ns();
    for (int d = 0; d < x->ndev; d++) {
        gdev_t *v = &x->dev[d];
        if (atomic_load_explicit(&v->anchored, memory_order_acquire) > 0 && now - v->anchor_ns > ANCHOR_EVERY_NS &&
            !atomic_load_explicit(&v->lost, memory_order_relaxed))
            anchor(x, d);
    }
}

/* Looks at gt's event; 1 when gt was completed. */
static int check(weft__gpu_t *x, gtask_t *gt)
{
    int r = x->ops->query(gt->ev);
    if (r == WEFT__GPU_PENDING && !atomic_load_explicit(&x->dev[gt->dev].lost, memory_order_acquire))
        return 0;
    if (r == 0) {
        if (gt->tr)
            trace_slice(x, gt);
        complete(x, gt, 0);
        return 1;
    }
    device_error(x, gt, r); /* an error, or still pending on a lost device */
    complete(x, gt, WEFT_EDEVICE);
    return 1;
}

static void nap(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* Watches the events of enqueued tasks, oldest first, and completes the
 * ones that fired. With nothing to watch it sleeps on the condition
 * variable; while events are pending it polls, backing off from a few
 * microseconds to 200 us so that a long kernel costs little CPU and a
 * short one is seen soon. */
static void *completion_main(void *arg)
{
    weft__gpu_t *x = arg;
    gtask_t *head = NULL, *tail = NULL;
    unsigned backoff = 0;
    for (;;) {
        pthread_mutex_lock(&x->lock);
        while (!x->head && !head && !x->stop)
            pthread_cond_wait(&x->cond, &x->lock);
        if (x->head) { /* take the new ones, in order */
            if (tail)
                tail->next = x->head;
            else
                head = x->head;
            tail = x->tail;
            x->head = x->tail = NULL;
        }
        int stop = x->stop;
        pthread_mutex_unlock(&x->lock);
        if (!head && stop)
            break;
        int progress = 0;
        reanchor(x);
        gtask_t **pp = &head, *prev = NULL;
        while (*pp) {
            gtask_t *gt = *pp, *nx = gt->next;
            if (check(x, gt)) {
                *pp = nx;
                progress = 1;
                continue;
            }
            prev = gt;
            pp = &gt->next;
        }
        tail = prev;
        if (progress || !head) {
            backoff = 0;
        } else {
            backoff = backoff ? (backoff < 200 ? backoff * 2 : 200) : 2;
            nap(backoff);
        }
    }
    return NULL;
}

static void watch(weft__gpu_t *x, gtask_t *gt)
{
    gt->next = NULL;
    pthread_mutex_lock(&x->lock);
    if (x->tail)
        x->tail->next = gt;
    else
        x->head = gt;
    x->tail = gt;
    pthread_cond_signal(&x->cond);
    pthread_mutex_unlock(&x->lock);
}

/* ==== placement ================================================================= */

static int least_busy_device(weft__gpu_t *x)
{
    int best = -1, bi = 0;
    for (int d = 0; d < x->ndev; d++) {
        if (atomic_load_explicit(&x->dev[d].lost, memory_order_relaxed))
            continue;
        int n = atomic_load_explicit(&x->dev[d].inflight, memory_order_relaxed);
        if (best < 0 || n < bi) {
            best = d;
            bi = n;
        }
    }
    return best < 0 ? 0 : best; /* all lost: device 0 says so */
}

/* The device of gt's component in this run. */
static int place_device(weft__gpu_t *x, gx_t *gx, gtask_t *gt, uint32_t run)
{
    gcomp_t *c = &gx->comp[gt->comp];
    if (c->fixed >= 0)
        return c->fixed;
    uint64_t p = atomic_load_explicit(&c->placed, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(p >> 32) == run)
            return (int)(uint32_t)p - 1;
        uint64_t want = (uint64_t)run << 32 | (uint32_t)(least_busy_device(x) + 1);
        if (atomic_compare_exchange_weak_explicit(&c->placed, &p, want, memory_order_acq_rel, memory_order_acquire))
            return (int)(uint32_t)want - 1;
    }
}

/* The stream for gt on device d: a same-component dependency's stream when
 * that dependency is its last task, else the least busy one. */
static gstream_t *place_stream(weft__gpu_t *x, gtask_t *gt, int d)
{
    gdev_t *v = &x->dev[d];
    weft_task_t *t = gt->task;
    size_t nd = weft__task_ndeps(t);
    for (size_t i = 0; i < nd; i++) {
        weft_task_t *p = weft__task_pred(t, i);
        if (!is_gpu(p))
            continue;
        gtask_t *pg = gtask_of(p);
        if (pg->comp != gt->comp || !pg->stream || pg->dev != d)
            continue;
        gtask_t *expect = pg;
        if (atomic_compare_exchange_strong_explicit(&pg->stream->tail, &expect, gt, memory_order_relaxed,
                                                    memory_order_relaxed))
            return pg->stream;
    }
    unsigned start = atomic_fetch_add_explicit(&v->rr, 1, memory_order_relaxed);
    gstream_t *best = NULL;
    int bi = 0;
    for (int k = 0; k < x->nstreams; k++) {
        gstream_t *s = &v->streams[(start + (unsigned)k) % (unsigned)x->nstreams];
        int n = atomic_load_explicit(&s->inflight, memory_order_relaxed);
        if (!best || n < bi) {
            best = s;
            bi = n;
            if (!n)
                break;
        }
    }
    atomic_store_explicit(&best->tail, gt, memory_order_relaxed);
    return best;
}

/* ==== tensors between memories ================================================== */

static void mirror_drop(const void *owner, int device, void *ev)
{
    event_give(owner, device, 0, ev);
}

/* A tensor result in device memory, of a GPU task with successors that
 * are not GPU tasks: copied to pinned host memory on its stream after its
 * work (and before its event), so that those successors read it on the
 * host when they start. */
static int result_to_host(gtask_t *gt, void *s)
{
    weft_task_t *t = gt->task;
    weft_tensor_t *r = weft__task_tensor(t);
    if (!r || weft_tensor_kind(r) != WEFT_MEM_DEVICE)
        return 0;
    size_t ns = weft__task_nsucc(t), i = 0;
    while (i < ns && is_gpu(weft__task_succ(t, i)))
        i++;
    if (i == ns)
        return 0;
    weft__mirror_t *m;
    weft__tensor_lock(r);
    int rc = weft__tensor_mirror(r, -1) ? 0 : weft__tensor_mirror_make(r, -1, s, &m);
    weft__tensor_unlock(r);
    if (rc) {
        char lb[32];
        snprintf(gt->msg, sizeof gt->msg, "cannot copy its tensor result to host memory for task '%s' (%s)",
                 weft__task_label(weft__task_succ(t, i), lb, sizeof lb), weft_strerror(rc));
    }
    return rc;
}

/* dep's tensor r on the running GPU task's device (cur): r itself when it
 * is there, else a copy made on its stream (the first consumer on the
 * device makes it; the others wait for its event). */
static int tensor_to_device(weft__gpu_t *x, gcur_t *cur, weft_task_t *dep, weft_tensor_t *r, weft_tensor_t **out)
{
    if (weft_tensor_kind(r) == WEFT_MEM_DEVICE && weft_tensor_device(r) == cur->dev) {
        *out = r;
        return 0;
    }
    const weft__gpu_ops_t *ops = x->ops;
    int rc = 0, err = 0;
    weft__tensor_lock(r);
    weft__mirror_t *m = weft__tensor_mirror(r, cur->dev);
    void *ev = NULL;
    if (m) {
        if (m->stream != cur->stream)
            err = ops->wait(cur->stream, m->ev);
    } else if ((err = event_take(ops, cur->dev, 0, &ev)) == 0) {
        rc = weft__tensor_mirror_make(r, cur->dev, cur->stream, &m);
        if (rc == 0) {
            *m = (weft__mirror_t){m->copy, cur->dev, cur->stream, ev, ops, mirror_drop};
            if ((err = ops->record(ev, cur->stream)) != 0)
                m->device = -2; /* not ordered for other streams: no one's */
        } else {
            event_give(ops, cur->dev, 0, ev);
        }
    }
    weft_tensor_t *copy = m && !rc ? m->copy : NULL; /* m moves when the list grows */
    weft__tensor_unlock(r);
    gtask_t *gt = cur->gt;
    char lb[32];
    if (rc) {
        snprintf(gt->msg, sizeof gt->msg, "cannot copy the tensor result of '%s' to device %d (%s)",
                 weft__task_label(dep, lb, sizeof lb), cur->dev, weft_strerror(rc));
        return rc;
    }
    if (err)
        return device_error(x, gt, err);
    *out = copy;
    return 0;
}

int weft_ctx_dep_tensor(const weft_ctx_t *ctx, size_t i, weft_tensor_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    gcur_t *cur = tls_cur;
    if (ctx && cur && cur->ctx == ctx && cur->capturing)
        return WEFT_ESTATE; /* a captured function's results are not passed */
    if (!ctx || i >= weft_ctx_ndeps(ctx))
        return WEFT_EINVAL;
    weft_task_t *dep = weft__task_pred(weft__ctx_task(ctx), i);
    weft_tensor_t *r = weft__task_tensor(dep);
    if (!r)
        return WEFT_EINVAL;
    if (cur && cur->ctx == ctx) {
        weft__gpu_t *x = weft__pool_executor(weft__ctx_pool(ctx), WEFT__EXEC_GPU);
        return tensor_to_device(x, cur, dep, r, out);
    }
    if (weft_tensor_kind(r) != WEFT_MEM_DEVICE) {
        *out = r;
        return 0;
    }
    /* a CPU task: the copy its GPU producer made after its work, or one
     * made now */
    weft__mirror_t *m;
    weft__tensor_lock(r);
    int rc = (m = weft__tensor_mirror(r, -1)) != NULL ? 0 : weft__tensor_mirror_make(r, -1, NULL, &m);
    if (rc == 0)
        *out = m->copy;
    weft__tensor_unlock(r);
    return rc;
}

/* ==== the task body ============================================================= */

/* Waits on this worker for gt's recorded event (rare paths only). */
static int wait_work(weft__gpu_t *x, gtask_t *gt)
{
    int r;
    while ((r = x->ops->query(gt->ev)) == WEFT__GPU_PENDING)
        nap(20);
    return r ? device_error(x, gt, r) : 0;
}

static int gpu_body_run(weft_ctx_t *ctx, void *arg, int *user);

/* A GPU task's body: what the task's own function returned is its code;
 * every other failure (no device, a launch error, ...) is one of weft's,
 * and said to be (weft_graph_error names it). */
static int gpu_body(weft_ctx_t *ctx, void *arg)
{
    int user = 0;
    int rc = gpu_body_run(ctx, arg, &user);
    return rc && !user ? weft__ctx_own_code(ctx, rc) : rc;
}

static int gpu_body_run(weft_ctx_t *ctx, void *arg, int *user)
{
    gtask_t *gt = arg;
    weft_task_t *t = gt->task;
    weft_graph_t *g = weft__task_graph(t);
    gx_t *gx = weft__graph_kind_state(g, &gpu_kind);
    weft__gpu_t *x = weft__pool_executor(weft__ctx_pool(ctx), WEFT__EXEC_GPU);
    uint32_t run = weft__graph_runs(g);
    gt->msg[0] = '\0';
    gt->dev = -1;
    gt->stream = NULL;
    gt->run = run;
    if (!x) {
        snprintf(gt->msg, sizeof gt->msg, "this runtime has no GPU executor");
        return WEFT_ENOTSUP;
    }
    if (setup(x) < 0) {
        snprintf(gt->msg, sizeof gt->msg, "%s", x->why);
        return WEFT_ENOTSUP;
    }
    int d = place_device(x, gx, gt, run);
    if (d >= x->ndev) {
        snprintf(gt->msg, sizeof gt->msg, "device %d does not exist (%d device%s)", d, x->ndev,
                 x->ndev == 1 ? "" : "s");
        return WEFT_EDEVICE;
    }
    gdev_t *v = &x->dev[d];
    if (atomic_load_explicit(&v->lost, memory_order_acquire)) {
        snprintf(gt->msg, sizeof gt->msg, "%s", v->lost_msg);
        return WEFT_EDEVICE;
    }
    gt->dev = d;
    const weft__gpu_ops_t *ops = x->ops;
    int err = ops->set_device(d);
    if (err)
        return device_error(x, gt, err);
    weft__trace_t *tr = weft__pool_trace(weft__ctx_pool(ctx));
    int timed = tr && anchor_ready(x, d);
    gt->tr = NULL;
    if ((err = events_get(ops, gt, d, timed)) != 0)
        return device_error(x, gt, err);
    gstream_t *s = place_stream(x, gt, d);
    /* Wait for same-component dependencies on other streams whose events
     * have not been seen to fire (the others are ordered already). */
    size_t nd = weft__task_ndeps(t);
    for (size_t i = 0; i < nd; i++) {
        weft_task_t *p = weft__task_pred(t, i);
        if (!is_gpu(p))
            continue;
        gtask_t *pg = gtask_of(p);
        if (pg->comp != gt->comp || pg->stream == s || !pg->ev ||
            atomic_load_explicit(&pg->fired_run, memory_order_acquire) == run)
            continue;
        if ((err = ops->wait(s->s, pg->ev)) != 0)
            return device_error(x, gt, err);
    }
    if (timed) {
        if ((err = ops->record(gt->ev0, s->s)) != 0)
            return device_error(x, gt, err);
        gt->tr = tr;
    }
    ops->last_error(); /* an earlier error of this thread is not ours */
    gcur_t cur = {ctx, gt, s->s, d, 0}, *saved = tls_cur;
    tls_cur = &cur;
    weft__stream_set(s->s, d);
    int rc = gt->fn(ctx, gt->arg);
    weft__stream_set(saved ? saved->stream : NULL, saved ? saved->dev : -1);
    tls_cur = saved;
    err = ops->last_error();
    if (!err)
        err = ops->set_device(d); /* the function may have switched devices */
    if (rc) {
        *user = 1;
        return rc;
    }
    if (!err && (rc = result_to_host(gt, s->s)) != 0) {
        /* its result goes when the task fails: after its work */
        if (ops->record(gt->ev, s->s) == 0)
            wait_work(x, gt);
        return rc;
    }
    if (err || (err = ops->record(gt->ev, s->s)) != 0)
        return device_error(x, gt, err);
    gt->stream = s;
    atomic_store_explicit(&s->tail, gt, memory_order_relaxed);
    int drc = weft_ctx_defer(ctx, &gt->defer);
    if (drc) {
        /* Stopping (or out of memory): nothing may outlive the run, so the
         * work is waited for here, on this worker (rare). */
        int r = wait_work(x, gt);
        if (r)
            return r;
        atomic_store_explicit(&gt->fired_run, run, memory_order_release);
        return drc == WEFT_ECANCELED ? 0 : drc;
    }
    atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&v->inflight, 1, memory_order_relaxed);
    watch(x, gt);
    weft__ctx_release_early(ctx);
    return 0;
}

/* ==== CUDA graphs: a subgraph captured once, replayed at every run ================= */

typedef struct gcap {
    weft_graph_t *sub;
    const weft__gpu_ops_t *ops; /* of graph and exec */
    int dev;                    /* device they belong to, -1: none */
    uint32_t version;           /* sub's version when captured */
    void *graph, *exec;
} gcap_t;

static int capture_fn(weft_ctx_t *ctx, void *arg);

static void cap_release(gcap_t *c)
{
    if (c->exec)
        c->ops->exec_destroy(c->exec); /* freed once a launch in flight ends */
    if (c->graph)
        c->ops->graph_destroy(c->graph);
    c->exec = c->graph = NULL;
    c->dev = -1;
}

static const char *task_label(const weft_task_t *t, size_t i, char *buf, size_t size)
{
    const char *n = weft_task_name(t);
    if (n && n[0])
        return n;
    snprintf(buf, size, "#%zu", i);
    return buf;
}

/* Checks that every task of sub may be captured on device d; returns the
 * tasks in an order where each comes after its dependencies (NULL with
 * the reason in og->msg). */
static uint32_t *capture_order(gtask_t *og, weft_graph_t *sub, int d, int *rc)
{
    gx_t *sx = weft__graph_kind_state(sub, &gpu_kind);
    size_t n = weft_graph_size(sub);
    char lb[32];
    *rc = WEFT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        weft_task_t *t = weft_graph_task(sub, i);
        const char *name = task_label(t, i, lb, sizeof lb);
        if (!sx || !is_gpu(t)) {
            snprintf(og->msg, sizeof og->msg,
                     "task '%s' of the captured graph is not a GPU task (a CUDA graph holds GPU tasks only)", name);
            return NULL;
        }
        const gtask_t *gt = gtask_of(t);
        if (gt->fn == capture_fn) {
            snprintf(og->msg, sizeof og->msg,
                     "task '%s' of the captured graph is a CUDA graph task itself "
                     "(captures do not nest)",
                     name);
            return NULL;
        }
        if (gt->want >= 0 && gt->want != d) {
            snprintf(og->msg, sizeof og->msg,
                     "task '%s' of the captured graph names device %d but the graph "
                     "runs on device %d",
                     name, gt->want, d);
            return NULL;
        }
    }
    /* every task is a GPU task: sx->t[gi] are all of them */
    uint32_t *order = weft__malloc((n ? n : 1) * sizeof *order), *left = weft__calloc(n ? n : 1, sizeof *left);
    *rc = WEFT_ENOMEM;
    if (!order || !left) {
        weft__free(order);
        weft__free(left);
        return NULL;
    }
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++) {
        left[i] = (uint32_t)weft__task_ndeps(sx->t[i]->task);
        if (!left[i])
            order[tail++] = (uint32_t)i;
    }
    while (head < tail) {
        weft_task_t *t = sx->t[order[head++]]->task;
        for (size_t k = 0, ns = weft__task_nsucc(t); k < ns; k++) {
            uint32_t s = gtask_of(weft__task_succ(t, k))->gi;
            if (--left[s] == 0)
                order[tail++] = s;
        }
    }
    weft__free(left);
    if (tail < n) {
        snprintf(og->msg, sizeof og->msg, "the captured graph has a cycle");
        weft__free(order);
        *rc = WEFT_ECYCLE;
        return NULL;
    }
    *rc = 0;
    return order;
}

/* Captures c->sub for device cur->dev: each task's function is called
 * once, with its work recorded on the device's capture stream into a
 * graph of its own, added as a child node after the nodes of its
 * dependencies; the whole is instantiated. */
static int capture(weft__gpu_t *x, gcap_t *c, weft_ctx_t *ctx, gcur_t *cur)
{
    const weft__gpu_ops_t *ops = x->ops;
    gtask_t *og = cur->gt;
    int d = cur->dev, rc;
    if (!ops->capture_begin) {
        snprintf(og->msg, sizeof og->msg, "CUDA graphs are not supported by the '%s' GPU backend", ops->name);
        return WEFT_ENOTSUP;
    }
    uint32_t *order = capture_order(og, c->sub, d, &rc);
    if (!order)
        return rc;
    gx_t *sx = weft__graph_kind_state(c->sub, &gpu_kind);
    size_t n = weft_graph_size(c->sub), maxdeps = 1;
    for (size_t i = 0; i < n; i++)
        if (weft__task_ndeps(sx->t[i]->task) > maxdeps)
            maxdeps = weft__task_ndeps(sx->t[i]->task);
    void **node = weft__calloc(n ? n : 1, sizeof *node), **deps = weft__malloc(maxdeps * sizeof *deps);
    void *graph = NULL, *exec = NULL;
    int err = 0;
    rc = 0;
    pthread_mutex_lock(&x->capture_lock);
    gdev_t *v = &x->dev[d];
    if (!node || !deps)
        rc = WEFT_ENOMEM;
    else if ((!v->capture_s && (err = ops->stream_create(d, &v->capture_s)) != 0) ||
             (err = ops->graph_create(&graph)) != 0)
        snprintf(og->msg, sizeof og->msg, "cannot set a CUDA graph up: ");
    for (size_t k = 0; k < n && !rc && !err; k++) {
        gtask_t *gt = sx->t[order[k]];
        char lb[32];
        const char *name = task_label(gt->task, order[k], lb, sizeof lb);
        void *child = NULL;
        ops->last_error();
        if ((err = ops->capture_begin(v->capture_s)) != 0) {
            snprintf(og->msg, sizeof og->msg, "task '%s' cannot be captured: ", name);
            break;
        }
        gcur_t in = {ctx, gt, v->capture_s, d, 1};
        tls_cur = &in;
        weft__stream_set(v->capture_s, d);
        int frc = gt->fn(ctx, gt->arg);
        weft__stream_set(cur->stream, d);
        tls_cur = cur;
        int lerr = ops->last_error();
        err = ops->capture_end(v->capture_s, &child);
        ops->set_device(d);
        if (frc) {
            snprintf(og->msg, sizeof og->msg, "task '%s' of the captured graph returned %d", name, frc);
            rc = frc;
        } else if (lerr || err) {
            err = lerr ? lerr : err;
            snprintf(og->msg, sizeof og->msg,
                     "task '%s' cannot be captured (its function may only enqueue "
                     "work on weft_ctx_stream): ",
                     name);
        } else {
            weft_task_t *t = gt->task;
            size_t nd = weft__task_ndeps(t);
            for (size_t i = 0; i < nd; i++)
                deps[i] = node[gtask_of(weft__task_pred(t, i))->gi];
            if ((err = ops->graph_add_child(graph, child, deps, nd, &node[order[k]])) != 0)
                snprintf(og->msg, sizeof og->msg, "cannot add task '%s' to the CUDA graph: ", name);
        }
        if (child)
            ops->graph_destroy(child);
    }
    if (!rc && !err && (err = ops->graph_instantiate(graph, &exec)) != 0)
        snprintf(og->msg, sizeof og->msg, "cannot instantiate the CUDA graph: ");
    pthread_mutex_unlock(&x->capture_lock);
    ops->last_error();
    weft__free(order);
    weft__free(node);
    weft__free(deps);
    if (rc || err) {
        if (graph)
            ops->graph_destroy(graph);
        if (err) {
            size_t len = strlen(og->msg);
            ops->describe(err, og->msg + len, sizeof og->msg - len);
            return WEFT_EDEVICE;
        }
        return rc;
    }
    c->graph = graph;
    c->exec = exec;
    return 0;
}

/* The function of a CUDA graph task (run by gpu_body like any GPU task's):
 * captures the subgraph when it has none for this device or the subgraph
 * changed since, then launches it on the task's stream. */
static int capture_fn(weft_ctx_t *ctx, void *arg)
{
    gcap_t *c = arg;
    gcur_t *cur = tls_cur;
    weft__gpu_t *x = weft__pool_executor(weft__ctx_pool(ctx), WEFT__EXEC_GPU);
    if (!cur || !x)
        return WEFT_EINVAL;
    uint32_t version = weft__graph_version(c->sub);
    if (!c->exec || c->dev != cur->dev || c->ops != x->ops || c->version != version) {
        if (c->ops)
            cap_release(c);
        c->ops = x->ops;
        int rc = capture(x, c, ctx, cur);
        if (rc)
            return rc;
        c->dev = cur->dev;
        c->version = version;
    }
    int err = x->ops->graph_launch(c->exec, cur->stream);
    return err ? device_error(x, cur->gt, err) : 0;
}

/* ==== the task kind ============================================================== */

static uint32_t uf_find(gx_t *gx, uint32_t i)
{
    while (gx->t[i]->uf != i) {
        gx->t[i]->uf = gx->t[gx->t[i]->uf]->uf;
        i = gx->t[i]->uf;
    }
    return i;
}

/* Components: GPU tasks joined by GPU→GPU edges, unless they name
 * different devices. */
static int kind_prepare(weft_graph_t *g, void *ud)
{
    (void)g;
    gx_t *gx = ud;
    int *fixed = weft__calloc(gx->n ? gx->n : 1, sizeof *fixed);
    if (!fixed)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < gx->n; i++) {
        gx->t[i]->uf = (uint32_t)i;
        fixed[i] = gx->t[i]->want;
    }
    for (size_t i = 0; i < gx->n; i++) {
        weft_task_t *t = gx->t[i]->task;
        size_t ns = weft__task_nsucc(t);
        for (size_t k = 0; k < ns; k++) {
            weft_task_t *s = weft__task_succ(t, k);
            if (!is_gpu(s))
                continue;
            uint32_t a = uf_find(gx, (uint32_t)i), b = uf_find(gx, gtask_of(s)->gi);
            if (a == b || (fixed[a] >= 0 && fixed[b] >= 0 && fixed[a] != fixed[b]))
                continue;
            gx->t[b]->uf = a;
            if (fixed[a] < 0)
                fixed[a] = fixed[b];
        }
    }
    size_t nc = 0;
    for (size_t i = 0; i < gx->n; i++)
        if (uf_find(gx, (uint32_t)i) == i)
            nc++;
    gcomp_t *comp = weft__calloc(nc ? nc : 1, sizeof *comp);
    if (!comp) {
        weft__free(fixed);
        return WEFT_ENOMEM;
    }
    /* root -> component number, kept in `fixed` of the root's slot once
     * its device is copied */
    size_t k = 0;
    for (size_t i = 0; i < gx->n; i++) {
        if (gx->t[i]->uf != i)
            continue;
        comp[k].fixed = fixed[i];
        atomic_init(&comp[k].placed, 0);
        fixed[i] = (int)k++;
    }
    for (size_t i = 0; i < gx->n; i++)
        gx->t[i]->comp = (uint32_t)fixed[uf_find(gx, (uint32_t)i)];
    weft__free(gx->comp);
    gx->comp = comp;
    gx->ncomp = nc;
    weft__free(fixed);
    return 0;
}

static int kind_early(const weft_task_t *t, const weft_task_t *s)
{
    return gtask_of(t)->comp == gtask_of(s)->comp;
}

static const char *kind_describe(const weft_task_t *t)
{
    const gtask_t *gt = gtask_of(t);
    return gt->msg[0] ? gt->msg : NULL;
}

static void kind_cleanup(weft_graph_t *g, void *ud)
{
    (void)g;
    gx_t *gx = ud;
    for (size_t i = 0; i < gx->n; i++) {
        gtask_t *gt = gx->t[i];
        events_drop(gt);
        if (gt->fn == capture_fn) {
            gcap_t *c = gt->arg;
            if (c->ops)
                cap_release(c);
            weft__free(c);
        }
        weft__free(gt);
    }
    weft__free(gx->t);
    weft__free(gx->comp);
    weft__free(gx);
}

/* The GPU task kind (scheduler.h): the body enqueues the function's work on
 * a stream, releases the same-component successors early and defers its
 * completion to the device's event; no cancel (work on a device cannot be
 * taken back: it is short, and its successors are not started). */
static const weft__task_ops_t gpu_kind = {
    .kind = "gpu",
    .start = gpu_body,
    .prepare = kind_prepare,
    .early = kind_early,
    .describe = kind_describe,
    .cleanup = kind_cleanup,
};

/* ==== public API ================================================================ */

int weft_graph_add_cuda_ex(weft_graph_t *g, const char *name, weft_fn fn, void *arg, int device, weft_task_t **out)
{
    if (out)
        *out = NULL;
    if (!g || !fn || !out || device < WEFT_DEVICE_ANY || device >= GPU_MAX_DEVICES)
        return WEFT_EINVAL;
    gx_t *gx = weft__graph_kind_state(g, &gpu_kind);
    int fresh = 0;
    if (!gx) {
        gx = weft__calloc(1, sizeof *gx);
        if (!gx)
            return WEFT_ENOMEM;
        fresh = 1;
    }
    int rc = fresh ? weft__graph_set_kind_state(g, &gpu_kind, gx) : weft__graph_change(g);
    if (rc) {
        if (fresh)
            weft__free(gx);
        return rc;
    }
    if (WEFT__GROW(gx->t, gx->cap, gx->n + 1, 16))
        return WEFT_ENOMEM;
    gtask_t *gt = weft__calloc(1, sizeof *gt);
    if (!gt)
        return WEFT_ENOMEM;
    gt->fn = fn;
    gt->arg = arg;
    gt->want = device;
    gt->dev = -1;
    gt->gi = (uint32_t)gx->n;
    gt->comp = gt->gi;
    weft_task_t *t;
    rc = weft__graph_add_kind(g, name, &gpu_kind, gt, 0, &t);
    if (rc) {
        weft__free(gt);
        return rc;
    }
    gt->task = t;
    gx->t[gx->n++] = gt;
    *out = t;
    return 0;
}

weft_task_t *weft_graph_add_cuda(weft_graph_t *g, const char *name, weft_fn fn, void *arg)
{
    weft_task_t *t = NULL;
    return weft_graph_add_cuda_ex(g, name, fn, arg, WEFT_DEVICE_ANY, &t) == 0 ? t : NULL;
}

int weft_graph_add_cuda_graph(weft_graph_t *g, const char *name, weft_graph_t *sub, int device, weft_task_t **out)
{
    if (out)
        *out = NULL;
    if (!g || !sub || sub == g || !out || device < WEFT_DEVICE_ANY || device >= GPU_MAX_DEVICES)
        return WEFT_EINVAL;
    gcap_t *c = weft__calloc(1, sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    c->sub = sub;
    c->dev = -1;
    int rc = weft_graph_add_cuda_ex(g, name, capture_fn, c, device, out);
    if (rc)
        weft__free(c);
    return rc;
}

static gtask_t *gpu_task(const weft_task_t *t)
{
    if (!t || !is_gpu(t))
        return NULL;
    weft_graph_t *g = weft__task_graph(t);
    return weft__graph_kind_state(g, &gpu_kind) ? gtask_of(t) : NULL;
}

int weft_task_set_device(weft_task_t *t, int device)
{
    gtask_t *gt = gpu_task(t);
    if (!gt || device < WEFT_DEVICE_ANY || device >= GPU_MAX_DEVICES)
        return WEFT_EINVAL;
    int rc = weft__graph_change(weft__task_graph(t));
    if (rc)
        return rc;
    gt->want = device;
    return 0;
}

int weft_task_device(const weft_task_t *t)
{
    gtask_t *gt = gpu_task(t);
    return gt ? gt->dev : WEFT_EINVAL;
}

void *weft_ctx_stream(const weft_ctx_t *ctx)
{
    gcur_t *c = tls_cur;
    return c && ctx && c->ctx == ctx ? c->stream : NULL;
}

int weft_ctx_device(const weft_ctx_t *ctx)
{
    gcur_t *c = tls_cur;
    return c && ctx && c->ctx == ctx ? c->dev : -1;
}
