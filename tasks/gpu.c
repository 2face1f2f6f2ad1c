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
#include "tasks/gpu_internal.h"

/* ==== events: a process-wide cache per device =================================== */

#define EV_CACHE_MAX 65536

static struct {
    pthread_mutex_t lock;
    const weft__gpu_ops_t *ops;
    /* [timed][device] */
    void **ev[2][GPU_MAX_DEVICES];
    size_t n[2][GPU_MAX_DEVICES], cap[2][GPU_MAX_DEVICES];
} g_ev = {.lock = PTHREAD_MUTEX_INITIALIZER};

int weft__gpu_event_take(const weft__gpu_ops_t *ops, int dev, int timed, void **out)
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

void weft__gpu_event_give(const weft__gpu_ops_t *ops, int dev, int timed, void *e)
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
void weft__gpu_events_drop(gtask_t *gt)
{
    if (gt->ev)
        weft__gpu_event_give(gt->ev_ops, gt->ev_dev, gt->ev_timed, gt->ev);
    if (gt->ev0)
        weft__gpu_event_give(gt->ev_ops, gt->ev_dev, 1, gt->ev0);
    gt->ev = gt->ev0 = NULL;
}

/* gt's events for a run on device d (timed: for a traced run). */
int weft__gpu_events_get(const weft__gpu_ops_t *ops, gtask_t *gt, int d, int timed)
{
    if (gt->ev && (gt->ev_dev != d || gt->ev_ops != ops || gt->ev_timed != timed))
        weft__gpu_events_drop(gt);
    gt->ev_dev = d;
    gt->ev_ops = ops;
    gt->ev_timed = timed;
    int err = 0;
    if (!gt->ev && (err = weft__gpu_event_take(ops, d, timed, &gt->ev)) != 0)
        gt->ev = NULL;
    if (!err && timed && !gt->ev0 && (err = weft__gpu_event_take(ops, d, 1, &gt->ev0)) != 0)
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
int weft__gpu_setup(weft__gpu_t *x)
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
int weft__gpu_device_error(weft__gpu_t *x, gtask_t *gt, int err)
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
int weft__gpu_anchor_ready(weft__gpu_t *x, int d)
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
    weft__gpu_device_error(x, gt, r); /* an error, or still pending on a lost device */
    complete(x, gt, WEFT_EDEVICE);
    return 1;
}

void weft__gpu_nap(unsigned us)
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
            weft__gpu_nap(backoff);
        }
    }
    return NULL;
}

void weft__gpu_watch(weft__gpu_t *x, gtask_t *gt)
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
int weft__gpu_place_device(weft__gpu_t *x, gx_t *gx, gtask_t *gt, uint32_t run)
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
gstream_t *weft__gpu_place_stream(weft__gpu_t *x, gtask_t *gt, int d)
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
