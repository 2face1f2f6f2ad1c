/* tests/lib/simgpu.h — a simulated GPU for the executor's tests.
 *
 * The GPU executor and the memory module talk to the GPU runtime through
 * one ops table (platform/device.h). Here it is a simulation made of host
 * threads —
 * one per stream, running what is enqueued on it in order: "kernels"
 * (host functions, which may sleep or fault), event records and event
 * waits, copies and frees; device memory is host memory — so that what
 * the executor promises can be checked on any machine. make_sim_rt
 * installs it and makes a runtime. Included by one test file each. */
#ifndef WEFT_TESTS_SIMGPU_H
#define WEFT_TESTS_SIMGPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

#include "platform/device.h"
#include "testlib.h"

static inline void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ==== the simulated device ===================================================== */

#define SIM_DEVICES 2
#define SIM_FAULT 700   /* fatal, like cudaErrorIllegalAddress */
#define SIM_BADLAUNCH 9 /* not fatal, like cudaErrorInvalidConfiguration */
#define SIM_WRONGDEV 101

typedef struct sim_event {
    int dev;
    int timed;
    _Atomic uint64_t recorded, done; /* generations */
    _Atomic uint64_t when_ns;        /* timed: when it last fired */
} sim_event_t;

typedef struct sim_op {
    struct sim_op *next;
    int kind; /* 0 kernel, 1 record, 2 wait, 3 graph launch, 4 memory */
    int (*fn)(void *);
    void *arg;
    sim_event_t *ev;
    uint64_t gen;
} sim_op_t;

/* A CUDA graph: nodes run in the order they were added (a topological
 * order), each its kernels in order. */
typedef struct sim_node {
    int nk;
    int (**fn)(void *);
    void **arg;
} sim_node_t;

typedef struct sim_graph {
    int n;
    sim_node_t *node;
    int bad; /* capture: something other than a kernel was enqueued */
} sim_graph_t;

typedef struct sim_stream {
    int dev;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    sim_op_t *head, *tail;
    int stop;
    sim_graph_t *cap; /* being captured */
} sim_stream_t;

#define SIM_CAPTURE_ERR 900 /* like cudaErrorStreamCaptureUnsupported */
static _Atomic int sim_captures, sim_graph_launches, sim_graph_kernels;

static void sim_node_add(sim_node_t *n, int (*fn)(void *), void *arg)
{
    n->fn = realloc(n->fn, (size_t)(n->nk + 1) * sizeof *n->fn);
    n->arg = realloc(n->arg, (size_t)(n->nk + 1) * sizeof *n->arg);
    n->fn[n->nk] = fn;
    n->arg[n->nk++] = arg;
}

static void sim_graph_free(sim_graph_t *g)
{
    for (int i = 0; i < g->n; i++) {
        free(g->node[i].fn);
        free(g->node[i].arg);
    }
    free(g->node);
    free(g);
}

static _Atomic int sim_fault[SIM_DEVICES];
static pthread_mutex_t sim_ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sim_ev_cond = PTHREAD_COND_INITIALIZER;
static _Thread_local int sim_cur = 0;
static _Thread_local int sim_last_error = 0;
static _Atomic int sim_streams_made, sim_events_made;

static void *sim_stream_main(void *arg)
{
    sim_stream_t *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->stop)
            pthread_cond_wait(&s->cond, &s->lock);
        sim_op_t *op = s->head;
        if (!op) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        s->head = op->next;
        if (!s->head)
            s->tail = NULL;
        pthread_mutex_unlock(&s->lock);
        int faulted = atomic_load(&sim_fault[s->dev]) != 0;
        if (op->kind == 0 && !faulted) {
            if (op->fn(op->arg))
                atomic_store(&sim_fault[s->dev], SIM_FAULT);
        } else if (op->kind == 1 && !faulted) { /* after a fault, nothing completes */
            pthread_mutex_lock(&sim_ev_lock);
            if (atomic_load(&op->ev->done) < op->gen) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                atomic_store(&op->ev->when_ns, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
                atomic_store(&op->ev->done, op->gen);
            }
            pthread_cond_broadcast(&sim_ev_cond);
            pthread_mutex_unlock(&sim_ev_lock);
        } else if (op->kind == 3 && !faulted) { /* a graph launch */
            sim_graph_t *g = op->arg;
            int fault = 0;
            for (int i = 0; i < g->n && !fault; i++)
                for (int k = 0; k < g->node[i].nk && !fault; k++) {
                    fault = g->node[i].fn[k](g->node[i].arg[k]);
                    atomic_fetch_add(&sim_graph_kernels, 1);
                }
            if (fault)
                atomic_store(&sim_fault[s->dev], SIM_FAULT);
        } else if (op->kind == 4) { /* memory: copies and frees run even after a fault */
            op->fn(op->arg);
        } else if (op->kind == 2) {
            pthread_mutex_lock(&sim_ev_lock);
            while (atomic_load(&op->ev->done) < op->gen && !atomic_load(&sim_fault[op->ev->dev]))
                pthread_cond_wait(&sim_ev_cond, &sim_ev_lock);
            pthread_mutex_unlock(&sim_ev_lock);
        }
        if (atomic_load(&sim_fault[s->dev])) { /* wake waiters: they see the fault */
            pthread_mutex_lock(&sim_ev_lock);
            pthread_cond_broadcast(&sim_ev_cond);
            pthread_mutex_unlock(&sim_ev_lock);
        }
        free(op);
    }
    return NULL;
}

static void sim_push(sim_stream_t *s, sim_op_t *op)
{
    if (s->cap) { /* capturing (only the capturing thread uses s) */
        if (op->kind == 0)
            sim_node_add(&s->cap->node[0], op->fn, op->arg);
        else
            s->cap->bad = 1;
        free(op);
        return;
    }
    pthread_mutex_lock(&s->lock);
    op->next = NULL;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static int sim_devices(char *why, size_t size)
{
    (void)why;
    (void)size;
    return SIM_DEVICES;
}

static int sim_set_device(int dev)
{
    sim_cur = dev;
    return 0;
}

static int sim_stream_create(int dev, void **out)
{
    sim_stream_t *s = calloc(1, sizeof *s);
    s->dev = dev;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_create(&s->thread, NULL, sim_stream_main, s);
    atomic_fetch_add(&sim_streams_made, 1);
    *out = s;
    return 0;
}

static void sim_stream_destroy(int dev, void *h)
{
    (void)dev;
    sim_stream_t *s = h;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

static int sim_event_create(int dev, void **out)
{
    sim_event_t *e = calloc(1, sizeof *e);
    e->dev = dev;
    atomic_fetch_add(&sim_events_made, 1);
    *out = e;
    return 0;
}

static int sim_query(void *e);

static int sim_event_create_timed(int dev, void **out)
{
    sim_event_create(dev, out);
    ((sim_event_t *)*out)->timed = 1;
    return 0;
}

static int sim_elapsed(void *a, void *b, float *ms)
{
    sim_event_t *e0 = a, *e1 = b;
    if (!e0->timed || !e1->timed || sim_query(a) || sim_query(b))
        return SIM_BADLAUNCH;
    *ms = (float)((double)((int64_t)atomic_load(&e1->when_ns) - (int64_t)atomic_load(&e0->when_ns)) / 1e6);
    return 0;
}

static void sim_event_destroy(int dev, void *e)
{
    (void)dev;
    free(e);
}

static int sim_record(void *e, void *s)
{
    sim_event_t *ev = e;
    sim_stream_t *st = s;
    if (ev->dev != st->dev || st->dev != sim_cur)
        return SIM_WRONGDEV; /* as CUDA: an event is recorded on its own device */
    if (atomic_load(&sim_fault[st->dev]))
        return atomic_load(&sim_fault[st->dev]);
    sim_op_t *op = calloc(1, sizeof *op);
    op->kind = 1;
    op->ev = ev;
    op->gen = atomic_fetch_add(&ev->recorded, 1) + 1;
    sim_push(st, op);
    return 0;
}

static int sim_wait(void *s, void *e)
{
    sim_event_t *ev = e;
    sim_op_t *op = calloc(1, sizeof *op);
    op->kind = 2;
    op->ev = ev;
    op->gen = atomic_load(&ev->recorded);
    sim_push(s, op);
    return 0;
}

static int sim_query(void *e)
{
    sim_event_t *ev = e;
    if (atomic_load(&ev->done) >= atomic_load(&ev->recorded))
        return 0;
    int f = atomic_load(&sim_fault[ev->dev]);
    return f ? f : WEFT__GPU_PENDING;
}

static int sim_last(void)
{
    int e = sim_last_error;
    sim_last_error = 0;
    return e;
}

static int sim_fatal(int err)
{
    return err == SIM_FAULT;
}

static void sim_describe(int err, char *buf, size_t size)
{
    if (err == 2) /* SIM_OOM, below */
        snprintf(buf, size, "SIM out of memory");
    else
        snprintf(buf, size, "SIM error %d", err);
}

static int sim_capture_begin(void *s)
{
    sim_stream_t *st = s;
    if (st->cap)
        return SIM_CAPTURE_ERR;
    st->cap = calloc(1, sizeof *st->cap);
    st->cap->n = 1;
    st->cap->node = calloc(1, sizeof *st->cap->node);
    atomic_fetch_add(&sim_captures, 1);
    return 0;
}

static int sim_capture_end(void *s, void **graph)
{
    sim_stream_t *st = s;
    sim_graph_t *g = st->cap;
    st->cap = NULL;
    *graph = NULL;
    if (!g)
        return SIM_CAPTURE_ERR;
    if (g->bad) {
        sim_graph_free(g);
        return SIM_CAPTURE_ERR;
    }
    *graph = g;
    return 0;
}

static int sim_graph_create(void **graph)
{
    *graph = calloc(1, sizeof(sim_graph_t));
    return 0;
}

static int sim_graph_add_child(void *graph, void *child, void *const *deps, size_t ndeps, void **node)
{
    sim_graph_t *g = graph, *c = child;
    for (size_t i = 0; i < ndeps; i++) /* nodes are numbered from 1 */
        if (!deps[i] || (intptr_t)deps[i] > g->n)
            return SIM_BADLAUNCH;
    g->node = realloc(g->node, (size_t)(g->n + 1) * sizeof *g->node);
    sim_node_t *n = &g->node[g->n++];
    memset(n, 0, sizeof *n);
    for (int i = 0; i < c->n; i++)
        for (int k = 0; k < c->node[i].nk; k++)
            sim_node_add(n, c->node[i].fn[k], c->node[i].arg[k]);
    *node = (void *)(intptr_t)g->n;
    return 0;
}

static void sim_graph_destroy(void *graph)
{
    sim_graph_free(graph);
}

static int sim_graph_instantiate(void *graph, void **exec)
{
    sim_graph_t *g = graph, *x = calloc(1, sizeof *x);
    for (int i = 0; i < g->n; i++) {
        x->node = realloc(x->node, (size_t)(x->n + 1) * sizeof *x->node);
        sim_node_t *n = &x->node[x->n++];
        memset(n, 0, sizeof *n);
        for (int k = 0; k < g->node[i].nk; k++)
            sim_node_add(n, g->node[i].fn[k], g->node[i].arg[k]);
    }
    *exec = x;
    return 0;
}

static int sim_graph_launch(void *exec, void *s)
{
    sim_op_t *op = calloc(1, sizeof *op);
    op->kind = 3;
    op->arg = exec;
    atomic_fetch_add(&sim_graph_launches, 1);
    sim_push(s, op);
    return 0;
}

static void sim_exec_destroy(void *exec)
{
    sim_graph_free(exec);
}

/* What a GPU task's function does: enqueue a kernel on its stream. */
static inline void launch(weft_ctx_t *ctx, int (*fn)(void *), void *arg)
{
    sim_stream_t *s = weft_ctx_stream(ctx);
    CHECK(s != NULL);
    CHECK_EQ(s->dev, weft_ctx_device(ctx));
    sim_op_t *op = calloc(1, sizeof *op);
    op->fn = fn;
    op->arg = arg;
    sim_push(s, op);
}

/* ==== simulated device memory (the memory ops) ================================= */

/* Device memory is host memory here (so tests can look at it); copies and
 * stream-ordered frees are queued on the stream like kernels. Knobs: a
 * copy takes sim_copy_ms; allocations fail while sim_mem_fail is set,
 * pinned ones while sim_host_fail is. */
#define SIM_OOM 2 /* like cudaErrorMemoryAllocation */

static _Atomic int sim_copy_ms, sim_mem_fail, sim_host_fail, sim_copies;

static int simraw_prepare(int d, int *pools, void **stream)
{
    (void)d;
    *pools = 1;
    *stream = NULL;
    return 0;
}

static void simraw_unprepare(int d, void *stream)
{
    (void)d, (void)stream;
}

static int simraw_alloc(size_t bytes, void **out)
{
    *out = atomic_load(&sim_mem_fail) ? NULL : malloc(bytes);
    return *out ? 0 : SIM_OOM;
}

static int simraw_dev_alloc(int d, int pools, size_t bytes, void *s, int sync, void **out)
{
    (void)d, (void)pools, (void)s, (void)sync;
    return simraw_alloc(bytes, out);
}

static int simraw_host_alloc(size_t bytes, void **out)
{
    *out = NULL;
    return atomic_load(&sim_host_fail) ? SIM_OOM : simraw_alloc(bytes, out);
}

static int sim_free_op(void *p)
{
    free(p);
    return 0;
}

static void sim_push_memory(sim_stream_t *s, int (*fn)(void *), void *arg)
{
    sim_op_t *op = calloc(1, sizeof *op);
    op->kind = 4;
    op->fn = fn;
    op->arg = arg;
    sim_push(s, op);
}

static int simraw_dev_free(int d, int pools, void *p, void *s, int sync)
{
    (void)d, (void)pools;
    if (s && !sync)
        sim_push_memory(s, sim_free_op, p);
    else
        free(p);
    return 0;
}

static int simraw_host_free(void *p)
{
    free(p);
    return 0;
}

static int simraw_reserved(int d, uint64_t *out)
{
    (void)d, (void)out;
    return SIM_BADLAUNCH; /* unknown: in_use is reported */
}

typedef struct sim_copy {
    char *dst;
    const char *src;
    size_t dp, sp, width, height;
} sim_copy_t;

static int sim_copy_op(void *arg)
{
    sim_copy_t *c = arg;
    if (atomic_load(&sim_copy_ms))
        msleep(atomic_load(&sim_copy_ms));
    for (size_t r = 0; r < c->height; r++)
        memcpy(c->dst + r * c->dp, c->src + r * c->sp, c->width);
    free(c);
    return 0;
}

static int simraw_copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height, void *s)
{
    sim_copy_t *c = malloc(sizeof *c);
    *c = (sim_copy_t){dst, src, dpitch, spitch, width, height};
    atomic_fetch_add(&sim_copies, 1);
    if (s)
        sim_push_memory(s, sim_copy_op, c);
    else
        sim_copy_op(c);
    return 0;
}

static int simraw_oom(int err)
{
    return err == SIM_OOM;
}

/* The one backend table: the executor's calls and the memory module's. */
static const weft__gpu_ops_t sim_ops = {
    .name = "sim",
    .devices = sim_devices,
    .set_device = sim_set_device,
    .stream_create = sim_stream_create,
    .stream_destroy = sim_stream_destroy,
    .event_create = sim_event_create,
    .event_create_timed = sim_event_create_timed,
    .event_destroy = sim_event_destroy,
    .elapsed = sim_elapsed,
    .record = sim_record,
    .wait = sim_wait,
    .query = sim_query,
    .last_error = sim_last,
    .fatal = sim_fatal,
    .describe = sim_describe,
    .capture_begin = sim_capture_begin,
    .capture_end = sim_capture_end,
    .graph_create = sim_graph_create,
    .graph_add_child = sim_graph_add_child,
    .graph_destroy = sim_graph_destroy,
    .graph_instantiate = sim_graph_instantiate,
    .graph_launch = sim_graph_launch,
    .exec_destroy = sim_exec_destroy,
    .mem_prepare = simraw_prepare,
    .mem_unprepare = simraw_unprepare,
    .dev_alloc = simraw_dev_alloc,
    .dev_free = simraw_dev_free,
    .host_alloc = simraw_host_alloc,
    .host_free = simraw_host_free,
    .pool_reserved = simraw_reserved,
    .copy2d = simraw_copy2d,
    .oom = simraw_oom,
};

/* ==== helpers ====================================================================== */

static inline weft_runtime_t *make_sim_rt(int threads, int streams)
{
    weft__gpu_set_ops(&sim_ops);
    weft_config_t c;
    weft_config_init(&c);
    c.threads = threads;
    c.flags = WEFT_CONFIG_QUIET;
    c.gpu_streams = streams;
    weft_runtime_t *rt = NULL;
    CHECK_EQ(weft_runtime_create(&c, &rt), 0);
    return rt;
}

static inline int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
