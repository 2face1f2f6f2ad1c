/* The GPU executor's logic (tasks/gpu.c) on a simulated device
 * (tests/lib/simgpu.h), so that what the executor promises can be checked
 * on any machine: ordering along chains and joins, GPU successors enqueued
 * without waiting for their dependencies to finish (no host round trip),
 * CPU successors started only after the event fired, concurrency over the
 * stream pool, placement on devices, launch errors, asynchronous faults
 * (the device is lost, nothing hangs), cancellation with work in flight.
 * The same logic runs on real CUDA streams in the `cuda` suite
 * (tests/integration/test_cuda.c) when the machine has a GPU. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>
#include <weft/cuda.h>

#include "runtime/runtime.h"
#include "scheduler/scheduler.h"
#include "rt.h"
#include "simgpu.h"
#include "platform/device.h"
#include "testlib.h"

/* ==== ordering =================================================================== */

#define CHAIN 200

typedef struct chain {
    _Atomic int next;      /* kernels run so far */
    _Atomic int enqueued;  /* task functions called so far */
    _Atomic int bad;       /* a kernel ran out of order */
    int enqueued_at_first; /* functions called when the first kernel ended */
} chain_t;

typedef struct link {
    chain_t *c;
    int i;
} link_t;

static int chain_kernel(void *arg)
{
    link_t *l = arg;
    if (l->i == 0) {
        msleep(100); /* everything else is enqueued meanwhile */
        l->c->enqueued_at_first = atomic_load(&l->c->enqueued);
    }
    if (atomic_load(&l->c->next) != l->i)
        atomic_store(&l->c->bad, 1);
    atomic_store(&l->c->next, l->i + 1);
    return 0;
}

static int chain_fn(weft_ctx_t *ctx, void *arg)
{
    link_t *l = arg;
    atomic_fetch_add(&l->c->enqueued, 1);
    launch(ctx, chain_kernel, arg);
    return 0;
}

static int check_chain_done(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    chain_t *c = arg;
    /* a CPU successor starts only after the last event fired */
    return atomic_load(&c->next) == CHAIN ? 0 : 99;
}

TEST(chain_enqueued_ahead_in_order_then_cpu_successor)
{
    weft_runtime_t *rt = make_sim_rt(2, 4);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    chain_t c;
    memset(&c, 0, sizeof c);
    link_t links[CHAIN];
    weft_task_t *prev = NULL;
    for (int i = 0; i < CHAIN; i++) {
        links[i] = (link_t){&c, i};
        weft_task_t *t = weft_graph_add_cuda(g, "k", chain_fn, &links[i]);
        CHECK(t != NULL);
        if (prev)
            CHECK_EQ(weft_task_after(t, prev), 0);
        prev = t;
    }
    weft_task_t *cpu = weft_graph_add(g, "check", check_chain_done, &c);
    CHECK_EQ(weft_task_after(cpu, prev), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(atomic_load(&c.bad), 0);
    CHECK_EQ(atomic_load(&c.next), CHAIN);
    /* No host round trip: every task of the chain was enqueued while the
     * first kernel still ran. */
    CHECK_EQ(c.enqueued_at_first, CHAIN);
    CHECK_EQ(weft_task_state(cpu), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_device(prev), 0);
    /* again: the same graph runs again from a clean state */
    memset(&c, 0, sizeof c);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(atomic_load(&c.bad), 0);
    CHECK_EQ(c.enqueued_at_first, CHAIN);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

typedef struct diamond {
    _Atomic int a, b, c, d_ok;
    _Atomic int64_t b0, b1, c0, c1;
    void *sb, *sc;
} diamond_t;

static int k_a(void *arg)
{
    diamond_t *d = arg;
    msleep(30);
    atomic_store(&d->a, 1);
    return 0;
}
static int k_b(void *arg)
{
    diamond_t *d = arg;
    atomic_store(&d->b0, now_us());
    msleep(60);
    atomic_store(&d->b, atomic_load(&d->a) ? 1 : -1);
    atomic_store(&d->b1, now_us());
    return 0;
}
static int k_c(void *arg)
{
    diamond_t *d = arg;
    atomic_store(&d->c0, now_us());
    msleep(60);
    atomic_store(&d->c, atomic_load(&d->a) ? 1 : -1);
    atomic_store(&d->c1, now_us());
    return 0;
}
static int k_d(void *arg)
{
    diamond_t *d = arg;
    atomic_store(&d->d_ok, atomic_load(&d->b) == 1 && atomic_load(&d->c) == 1);
    return 0;
}
static int f_a(weft_ctx_t *ctx, void *arg)
{
    launch(ctx, k_a, arg);
    return 0;
}
static int f_b(weft_ctx_t *ctx, void *arg)
{
    ((diamond_t *)arg)->sb = weft_ctx_stream(ctx);
    launch(ctx, k_b, arg);
    return 0;
}
static int f_c(weft_ctx_t *ctx, void *arg)
{
    ((diamond_t *)arg)->sc = weft_ctx_stream(ctx);
    launch(ctx, k_c, arg);
    return 0;
}
static int f_d(weft_ctx_t *ctx, void *arg)
{
    launch(ctx, k_d, arg);
    return 0;
}

/* a -> (b, c) -> d, GPU tasks only */
static weft_graph_t *diamond_graph(diamond_t *d)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    memset(d, 0, sizeof *d);
    weft_task_t *a = weft_graph_add_cuda(g, "a", f_a, d);
    weft_task_t *b = weft_graph_add_cuda(g, "b", f_b, d);
    weft_task_t *c = weft_graph_add_cuda(g, "c", f_c, d);
    weft_task_t *j = weft_graph_add_cuda(g, "d", f_d, d);
    CHECK_EQ(weft_task_after(b, a), 0);
    CHECK_EQ(weft_task_after(c, a), 0);
    CHECK_EQ(weft_task_after(j, b), 0);
    CHECK_EQ(weft_task_after(j, c), 0);
    CHECK_STR(weft_task_kind(a), "gpu");
    CHECK_EQ(weft_task_set_timeout(a, 1), WEFT_EINVAL); /* device work cannot be stopped */
    CHECK_EQ(weft_task_set_retries(a, 1), WEFT_EINVAL);
    return g;
}

TEST(diamond_branches_overlap_on_two_streams_and_join)
{
    weft_runtime_t *rt = make_sim_rt(2, 4);
    diamond_t d;
    weft_graph_t *g = diamond_graph(&d);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(atomic_load(&d.b), 1);
    CHECK_EQ(atomic_load(&d.c), 1);
    CHECK_EQ(atomic_load(&d.d_ok), 1);
    CHECK(d.sb != d.sc);
    /* the two branches ran at the same time */
    CHECK(atomic_load(&d.b0) < atomic_load(&d.c1) && atomic_load(&d.c0) < atomic_load(&d.b1));
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ==== traces ===================================================================== */

typedef struct gslices {
    int n;
    weft__tev_t ev[16];
} gslices_t;

static void take_gpu_slice(void *ud, const weft__tev_t *ev)
{
    gslices_t *s = ud;
    if (ev->kind == TEV_ATTEMPT && ev->lane_kind == TLANE_GPU && s->n < 16)
        s->ev[s->n++] = *ev;
}

/* In a traced run, each GPU task's time on the device (between an event
 * before its work and the one after) is a slice on its stream's track, in
 * the host clock: the diamond's slices have the kernels' lengths, line up
 * with when the kernels really ran, overlap on two tracks and follow the
 * dependencies. The trace file names the tracks. */
TEST(gpu_time_is_traced_on_stream_tracks)
{
    weft__gpu_set_ops(&sim_ops);
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = 2;
    cfg.flags = WEFT_CONFIG_QUIET;
    cfg.gpu_streams = 4;
    cfg.trace = 1;
    weft_runtime_t *rt = NULL;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    diamond_t d;
    weft_graph_t *g = diamond_graph(&d);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(atomic_load(&d.d_ok), 1);
    gslices_t s = {0};
    weft__trace_read(weft__runtime_recorder(rt), 0, take_gpu_slice, &s);
    CHECK_EQ(s.n, 4);
    const weft__tev_t *by[4] = {0};
    for (int i = 0; i < s.n; i++) {
        CHECK(s.ev[i].index < 4);
        CHECK(s.ev[i].flags & TEV_F_NS);
        CHECK_EQ(s.ev[i].state, WEFT_TASK_DONE);
        by[s.ev[i].index] = &s.ev[i];
    }
    for (int i = 0; i < 4; i++)
        CHECK(by[i] != NULL);
    const uint64_t ms = 1000000;
    CHECK(by[0]->t1 - by[0]->t0 >= 29 * ms);
    CHECK(by[1]->t1 - by[1]->t0 >= 59 * ms && by[2]->t1 - by[2]->t0 >= 59 * ms);
    CHECK(by[1]->t0 + ms >= by[0]->t1 && by[2]->t0 + ms >= by[0]->t1);
    CHECK(by[3]->t0 + ms >= by[1]->t1 && by[3]->t0 + ms >= by[2]->t1);
    CHECK(by[1]->lane != by[2]->lane);
    CHECK(by[1]->t0 < by[2]->t1 && by[2]->t0 < by[1]->t1);
    /* in the host's clock: b's slice starts when its kernel did (within
     * 25 ms, less than any kernel here lasts: the simulated stream's
     * thread records the timed event, then starts the kernel, and on a
     * loaded 2-core machine it can be descheduled in between — 5 ms failed
     * about one run in 40 there) */
    int64_t skew = (int64_t)by[1]->t0 / 1000 - atomic_load(&d.b0);
    CHECK(skew > -25000 && skew < 25000);
    char *text = trace_text(rt);
    CHECK(strstr(text, "\"cuda stream ") != NULL);
    CHECK(strstr(text, "\"device\":0,\"stream\":") != NULL);
    free(text);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

#define FAN 64

typedef struct fan {
    void *stream[FAN];
    _Atomic int ran;
} fan_t;

typedef struct fan_arg {
    fan_t *f;
    int i;
} fan_arg_t;

static int k_fan(void *arg)
{
    fan_arg_t *a = arg;
    msleep(2);
    atomic_fetch_add(&a->f->ran, 1);
    return 0;
}

static int f_fan(weft_ctx_t *ctx, void *arg)
{
    fan_arg_t *a = arg;
    a->f->stream[a->i] = weft_ctx_stream(ctx);
    launch(ctx, k_fan, arg);
    return 0;
}

TEST(independent_tasks_spread_over_the_stream_pool)
{
    int made = atomic_load(&sim_streams_made);
    weft_runtime_t *rt = make_sim_rt(2, 8);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    fan_t f;
    memset(&f, 0, sizeof f);
    fan_arg_t args[FAN];
    for (int i = 0; i < FAN; i++) {
        args[i] = (fan_arg_t){&f, i};
        weft_task_t *t;
        CHECK_EQ(weft_graph_add_cuda_ex(g, "fan", f_fan, &args[i], 0, &t), 0);
    }
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(atomic_load(&f.ran), FAN);
    CHECK_EQ(atomic_load(&sim_streams_made) - made, 8 * SIM_DEVICES);
    int distinct = 0;
    for (int i = 0; i < FAN; i++) {
        int seen = 0;
        for (int k = 0; k < i; k++)
            seen |= f.stream[k] == f.stream[i];
        distinct += !seen;
    }
    CHECK(distinct >= 4);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ==== devices ==================================================================== */

typedef struct dev_seen {
    int dev[4];
    _Atomic int flag;
    _Atomic int order_ok;
} dev_seen_t;

static int k_slow_flag(void *arg)
{
    dev_seen_t *s = arg;
    msleep(40);
    atomic_store(&s->flag, 1);
    return 0;
}
static int k_check_flag(void *arg)
{
    dev_seen_t *s = arg;
    atomic_store(&s->order_ok, atomic_load(&s->flag) == 1);
    return 0;
}
static int f_dev0(weft_ctx_t *ctx, void *arg)
{
    dev_seen_t *s = arg;
    s->dev[0] = weft_ctx_device(ctx);
    launch(ctx, k_slow_flag, arg);
    return 0;
}
static int f_dev1(weft_ctx_t *ctx, void *arg)
{
    dev_seen_t *s = arg;
    s->dev[1] = weft_ctx_device(ctx);
    launch(ctx, k_check_flag, arg);
    return 0;
}
static int f_dev2(weft_ctx_t *ctx, void *arg)
{
    dev_seen_t *s = arg;
    s->dev[2] = weft_ctx_device(ctx);
    return 0;
}

TEST(named_devices_and_a_dependency_across_devices)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    dev_seen_t s;
    memset(&s, 0, sizeof s);
    weft_task_t *a, *b, *c;
    CHECK_EQ(weft_graph_add_cuda_ex(g, "on0", f_dev0, &s, 0, &a), 0);
    CHECK_EQ(weft_graph_add_cuda_ex(g, "on1", f_dev1, &s, 1, &b), 0);
    c = weft_graph_add_cuda(g, "follows1", f_dev2, &s); /* any: joins b's group */
    CHECK_EQ(weft_task_after(b, a), 0);
    CHECK_EQ(weft_task_after(c, b), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(s.dev[0], 0);
    CHECK_EQ(s.dev[1], 1);
    CHECK_EQ(s.dev[2], 1);
    CHECK_EQ(weft_task_device(c), 1);
    /* b (device 1) started after a's event (device 0) fired */
    CHECK_EQ(atomic_load(&s.order_ok), 1);
    /* a device this machine does not have */
    CHECK_EQ(weft_task_set_device(c, 5), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(c), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(c), WEFT_EDEVICE);
    CHECK_STR(weft_task_error(c), "device 5 does not exist (2 devices)");
    CHECK(strstr(weft_graph_error(g), "device 5 does not exist") != NULL);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ==== failures =================================================================== */

static _Atomic int cpu_ran;

static int cpu_task(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_fetch_add(&cpu_ran, 1);
    CHECK(weft_ctx_stream(ctx) == NULL);
    CHECK_EQ(weft_ctx_device(ctx), -1);
    return 0;
}

static int k_nop(void *arg)
{
    (void)arg;
    return 0;
}

static int f_nop(weft_ctx_t *ctx, void *arg)
{
    launch(ctx, k_nop, arg);
    return 0;
}

static int f_returns_5(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 5;
}

static int f_bad_launch(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    sim_last_error = SIM_BADLAUNCH; /* what a failed <<<>>> leaves */
    return 0;
}

static int k_fault(void *arg)
{
    (void)arg;
    msleep(20);
    return 1; /* an illegal address */
}

static int f_fault(weft_ctx_t *ctx, void *arg)
{
    launch(ctx, k_fault, arg);
    return 0;
}

/* gpu_fn fails; it has a GPU successor and a CPU successor; an unrelated
 * CPU task runs. */
static weft_graph_t *failing_graph(weft_fn gpu_fn, weft_task_t **bad, weft_task_t **gsucc, weft_task_t **csucc,
                                   weft_task_t **other)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    *bad = weft_graph_add_cuda(g, "bad", gpu_fn, NULL);
    *gsucc = weft_graph_add_cuda(g, "gpu-after", f_nop, NULL);
    *csucc = weft_graph_add(g, "cpu-after", cpu_task, NULL);
    *other = weft_graph_add(g, "cpu-other", cpu_task, NULL);
    CHECK_EQ(weft_task_after(*gsucc, *bad), 0);
    CHECK_EQ(weft_task_after(*csucc, *gsucc), 0);
    return g;
}

TEST(function_failure_cancels_dependents)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_task_t *bad, *gs, *cs, *other;
    weft_graph_t *g = failing_graph(f_returns_5, &bad, &gs, &cs, &other);
    atomic_store(&cpu_ran, 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(bad), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(bad), 5);
    CHECK_STR(weft_task_error(bad), "");
    CHECK_EQ(weft_task_state(gs), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(cs), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(other), WEFT_TASK_DONE);
    CHECK_EQ(atomic_load(&cpu_ran), 1);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(launch_error_fails_the_task_not_the_device)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_task_t *bad, *gs, *cs, *other;
    weft_graph_t *g = failing_graph(f_bad_launch, &bad, &gs, &cs, &other);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(bad), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(bad), WEFT_EDEVICE);
    CHECK_STR(weft_task_error(bad), "SIM error 9 (on device 0)");
    CHECK_STR(weft_graph_error(g), "task \"bad\" failed: WEFT_EDEVICE (SIM error 9 (on device 0)); "
                                   "1 task(s) failed, 2 cancelled, 0 not run");
    CHECK_EQ(weft_task_state(gs), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(other), WEFT_TASK_DONE);
    /* the device still works */
    weft_graph_t *g2;
    CHECK_EQ(weft_graph_create(&g2), 0);
    weft_task_t *ok = weft_graph_add_cuda(g2, "ok", f_nop, NULL);
    CHECK_EQ(weft_graph_run(rt, g2), 0);
    CHECK_EQ(weft_task_state(ok), WEFT_TASK_DONE);
    weft_graph_destroy(g2);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(asynchronous_fault_loses_the_device_and_nothing_hangs)
{
    atomic_store(&sim_fault[0], 0);
    atomic_store(&sim_fault[1], 0);
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_task_t *bad, *gs, *cs, *other;
    weft_graph_t *g = failing_graph(f_fault, &bad, &gs, &cs, &other);
    atomic_store(&cpu_ran, 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(bad), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(bad), WEFT_EDEVICE);
    CHECK_STR(weft_task_error(bad), "SIM error 700 (device 0 is lost)");
    /* the GPU successor had been enqueued behind it: it fails too */
    CHECK_EQ(weft_task_state(gs), WEFT_TASK_FAILED);
    CHECK_STR(weft_task_error(gs), "SIM error 700 (device 0 is lost)");
    CHECK_EQ(weft_task_state(cs), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(other), WEFT_TASK_DONE);
    /* later GPU tasks on device 0 fail at once; device 1 and CPU work go on */
    weft_graph_t *g2;
    CHECK_EQ(weft_graph_create(&g2), 0);
    weft_task_t *on0, *on1;
    CHECK_EQ(weft_graph_add_cuda_ex(g2, "on0", f_nop, NULL, 0, &on0), 0);
    CHECK_EQ(weft_graph_add_cuda_ex(g2, "on1", f_nop, NULL, 1, &on1), 0);
    weft_task_t *cpu = weft_graph_add(g2, "cpu", cpu_task, NULL);
    CHECK_EQ(weft_graph_run(rt, g2), WEFT_ETASK);
    CHECK_EQ(weft_task_state(on0), WEFT_TASK_FAILED);
    CHECK_STR(weft_task_error(on0), "SIM error 700 (device 0 is lost)");
    CHECK_EQ(weft_task_state(on1), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_state(cpu), WEFT_TASK_DONE);
    /* tasks placed freely avoid the lost device */
    CHECK_EQ(weft_task_set_device(on0, WEFT_DEVICE_ANY), 0);
    CHECK_EQ(weft_graph_run(rt, g2), 0);
    CHECK_EQ(weft_task_device(on0), 1);
    weft_graph_destroy(g2);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    atomic_store(&sim_fault[0], 0);
}

static int k_long(void *arg)
{
    _Atomic int *done = arg;
    msleep(150);
    atomic_store(done, 1);
    return 0;
}

static int f_long(weft_ctx_t *ctx, void *arg)
{
    launch(ctx, k_long, arg);
    return 0;
}

TEST(cancel_waits_for_work_in_flight)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    _Atomic int done = 0;
    weft_task_t *t = weft_graph_add_cuda(g, "long", f_long, &done);
    weft_task_t *after = weft_graph_add(g, "after", cpu_task, NULL);
    CHECK_EQ(weft_task_after(after, t), 0);
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    msleep(30);
    CHECK_EQ(weft_graph_cancel(g), 0);
    CHECK_EQ(weft_graph_wait(g), WEFT_ECANCELED);
    /* the run did not end before the kernel did */
    CHECK_EQ(atomic_load(&done), 1);
    CHECK_EQ(weft_task_state(t), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_state(after), WEFT_TASK_NOT_RUN);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(events_are_reused_across_graphs)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    int before = 0;
    for (int round = 0; round < 3; round++) {
        weft_graph_t *g;
        CHECK_EQ(weft_graph_create(&g), 0);
        for (int i = 0; i < 50; i++)
            CHECK(weft_graph_add_cuda_ex(g, "t", f_nop, NULL, 0, &(weft_task_t *){NULL}) == 0);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        weft_graph_destroy(g);
        if (round == 0)
            before = atomic_load(&sim_events_made);
    }
    CHECK_EQ(atomic_load(&sim_events_made), before);
    weft_runtime_destroy(rt);
}

/* ==== CUDA graphs ================================================================ */

#define SUB 50

typedef struct counted {
    _Atomic int calls; /* task functions called */
    _Atomic int ran;   /* kernels run */
    _Atomic int bad;   /* a kernel ran out of order */
} counted_t;

typedef struct step {
    counted_t *c;
    int i, n; /* kernel i of a chain of n */
} step_t;

static int k_step(void *arg)
{
    step_t *st = arg;
    if (atomic_load(&st->c->ran) % st->n != st->i)
        atomic_store(&st->c->bad, 1);
    atomic_fetch_add(&st->c->ran, 1);
    return 0;
}

static int f_step(weft_ctx_t *ctx, void *arg)
{
    step_t *st = arg;
    atomic_fetch_add(&st->c->calls, 1);
    launch(ctx, k_step, arg);
    return 0;
}

static int c_expect(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    int *want = arg;
    return *want;
}

typedef struct after_graph {
    counted_t *c;
    int want;
} after_graph_t;

static int c_after_graph(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    after_graph_t *a = arg;
    return atomic_load(&a->c->ran) == a->want ? 0 : 99;
}

/* A chain of 50 GPU tasks captured into one CUDA graph task between two
 * CPU tasks: its functions are called once, each run is one launch that
 * runs all 50 kernels in order before the CPU task after it starts; a
 * change to the subgraph is captured again at the next run. */
TEST(cuda_graph_captured_once_replayed_every_run)
{
    weft_runtime_t *rt = make_sim_rt(2, 4);
    counted_t c;
    memset(&c, 0, sizeof c);
    step_t steps[SUB + 1];
    weft_graph_t *sub;
    CHECK_EQ(weft_graph_create(&sub), 0);
    weft_task_t *prev = NULL;
    for (int i = 0; i < SUB; i++) {
        steps[i] = (step_t){&c, i, SUB};
        weft_task_t *t = weft_graph_add_cuda(sub, "step", f_step, &steps[i]);
        if (prev)
            CHECK_EQ(weft_task_after(t, prev), 0);
        prev = t;
    }
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    int zero = 0;
    after_graph_t ag = {&c, 0};
    weft_task_t *before = weft_graph_add(g, "before", c_expect, &zero);
    weft_task_t *cg;
    CHECK_EQ(weft_graph_add_cuda_graph(g, "solver", sub, WEFT_DEVICE_ANY, &cg), 0);
    weft_task_t *after = weft_graph_add(g, "after", c_after_graph, &ag);
    CHECK_EQ(weft_task_after(cg, before), 0);
    CHECK_EQ(weft_task_after(after, cg), 0);
    int launches0 = atomic_load(&sim_graph_launches), captures0 = atomic_load(&sim_captures);
    for (int run = 1; run <= 3; run++) {
        ag.want = run * SUB;
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(weft_task_state(after), WEFT_TASK_DONE);
    }
    CHECK_EQ(atomic_load(&c.calls), SUB);
    CHECK_EQ(atomic_load(&c.ran), 3 * SUB);
    CHECK_EQ(atomic_load(&c.bad), 0);
    CHECK_EQ(atomic_load(&sim_graph_launches) - launches0, 3);
    CHECK_EQ(atomic_load(&sim_captures) - captures0, SUB);
    CHECK_EQ(weft_task_device(cg), 0);
    CHECK_EQ(weft_task_state(prev), WEFT_TASK_NOT_RUN); /* sub's own tasks did not run */
    /* the subgraph changes: captured again */
    memset(&c, 0, sizeof c);
    for (int i = 0; i < SUB; i++)
        steps[i].n = SUB + 1;
    steps[SUB] = (step_t){&c, SUB, SUB + 1};
    weft_task_t *t = weft_graph_add_cuda(sub, "one more", f_step, &steps[SUB]);
    CHECK_EQ(weft_task_after(t, prev), 0);
    ag.want = SUB + 1;
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(atomic_load(&c.calls), SUB + 1);
    CHECK_EQ(atomic_load(&c.bad), 0);
    /* the subgraph still runs task by task on its own */
    memset(&c, 0, sizeof c);
    CHECK_EQ(weft_graph_run(rt, sub), 0);
    CHECK_EQ(atomic_load(&c.ran), SUB + 1);
    CHECK_EQ(atomic_load(&c.bad), 0);
    weft_graph_destroy(g);
    weft_graph_destroy(sub);
    weft_runtime_destroy(rt);
}

/* The diamond captured: its join waits for both branches. */
TEST(cuda_graph_keeps_the_dependencies)
{
    weft_runtime_t *rt = make_sim_rt(2, 4);
    diamond_t d;
    weft_graph_t *sub = diamond_graph(&d);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *cg;
    CHECK_EQ(weft_graph_add_cuda_graph(g, "diamond", sub, 1, &cg), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(atomic_load(&d.d_ok), 1);
    CHECK_EQ(weft_task_device(cg), 1);
    weft_graph_destroy(g);
    weft_graph_destroy(sub);
    weft_runtime_destroy(rt);
}

static int f_sync(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    /* like cudaStreamSynchronize during capture: an event record, not a kernel */
    void *e;
    sim_event_create(weft_ctx_device(ctx), &e);
    int rc = sim_record(e, weft_ctx_stream(ctx));
    sim_event_destroy(0, e);
    return rc;
}

/* What may not be captured fails the CUDA graph task with the reason;
 * its dependents are cancelled; the runtime goes on. */
static void bad_capture(weft_runtime_t *rt, weft_graph_t *sub, int device, int status, const char *msg)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *cg, *after = weft_graph_add(g, "after", cpu_task, NULL);
    CHECK_EQ(weft_graph_add_cuda_graph(g, "cg", sub, device, &cg), 0);
    CHECK_EQ(weft_task_after(after, cg), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_status(cg), status);
    CHECK_STR(weft_task_error(cg), msg);
    CHECK_EQ(weft_task_state(after), WEFT_TASK_CANCELLED);
    weft_graph_destroy(g);
    weft_graph_destroy(sub);
}

TEST(cuda_graph_capture_rule_is_enforced)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_graph_t *sub;
    CHECK_EQ(weft_graph_create(&sub), 0);
    weft_graph_add_cuda(sub, "gpu", f_nop, NULL);
    weft_graph_add(sub, "host", cpu_task, NULL);
    bad_capture(rt, sub, 0, WEFT_EINVAL,
                "task 'host' of the captured graph is not a GPU task (a CUDA graph holds GPU tasks only)");

    CHECK_EQ(weft_graph_create(&sub), 0);
    CHECK_EQ(weft_graph_add_cuda_ex(sub, "elsewhere", f_nop, NULL, 1, &(weft_task_t *){NULL}), 0);
    bad_capture(rt, sub, 0, WEFT_EINVAL,
                "task 'elsewhere' of the captured graph names device 1 but the graph runs on device 0");

    CHECK_EQ(weft_graph_create(&sub), 0);
    weft_task_t *a = weft_graph_add_cuda(sub, "fine", f_nop, NULL);
    weft_task_t *b = weft_graph_add_cuda(sub, "syncs", f_sync, NULL);
    CHECK_EQ(weft_task_after(b, a), 0);
    bad_capture(rt, sub, 0, WEFT_EDEVICE,
                "task 'syncs' cannot be captured (its function may only enqueue work on weft_ctx_stream): "
                "SIM error 900");

    CHECK_EQ(weft_graph_create(&sub), 0);
    weft_graph_add_cuda(sub, "five", f_returns_5, NULL);
    bad_capture(rt, sub, 0, 5, "task 'five' of the captured graph returned 5");

    weft_graph_t *inner;
    CHECK_EQ(weft_graph_create(&inner), 0);
    weft_graph_add_cuda(inner, "x", f_nop, NULL);
    CHECK_EQ(weft_graph_create(&sub), 0);
    CHECK_EQ(weft_graph_add_cuda_graph(sub, "nested", inner, 0, &(weft_task_t *){NULL}), 0);
    bad_capture(rt, sub, 0, WEFT_EINVAL,
                "task 'nested' of the captured graph is a CUDA graph task itself (captures do not nest)");
    weft_graph_destroy(inner);

    /* misuse */
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *t = (weft_task_t *)1;
    CHECK_EQ(weft_graph_add_cuda_graph(NULL, "x", g, 0, &t), WEFT_EINVAL);
    CHECK(t == NULL);
    CHECK_EQ(weft_graph_add_cuda_graph(g, "x", NULL, 0, &t), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_cuda_graph(g, "x", g, 0, &t), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_cuda_graph(g, "x", g, 64, &t), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_cuda_graph(g, "x", g, -2, &t), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_cuda_graph(g, "x", g, 0, NULL), WEFT_EINVAL);
    weft_graph_destroy(g);
    /* the device still works */
    diamond_t d;
    sub = diamond_graph(&d);
    CHECK_EQ(weft_graph_run(rt, sub), 0);
    CHECK_EQ(atomic_load(&d.d_ok), 1);
    weft_graph_destroy(sub);
    weft_runtime_destroy(rt);
}

/* ==== misuse ===================================================================== */

static int f_try_change(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    weft_task_t *self = *(weft_task_t **)arg; /* arg points at its own handle */
    CHECK_EQ(weft_task_set_device(self, 1), WEFT_EBUSY);
    return 0;
}

TEST(misuse_is_refused)
{
    weft_runtime_t *rt = make_sim_rt(1, 1);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *out = (weft_task_t *)1;
    CHECK(weft_graph_add_cuda(NULL, "x", f_nop, NULL) == NULL);
    CHECK(weft_graph_add_cuda(g, "x", NULL, NULL) == NULL);
    CHECK_EQ(weft_graph_add_cuda_ex(g, "x", f_nop, NULL, -2, &out), WEFT_EINVAL);
    CHECK(out == NULL);
    CHECK_EQ(weft_graph_add_cuda_ex(g, "x", f_nop, NULL, 64, &out), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_cuda_ex(g, "x", f_nop, NULL, 0, NULL), WEFT_EINVAL);
    weft_task_t *cpu = weft_graph_add(g, "cpu", cpu_task, NULL);
    CHECK_EQ(weft_task_set_device(cpu, 0), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_device(NULL, 0), WEFT_EINVAL);
    CHECK_EQ(weft_task_device(cpu), WEFT_EINVAL);
    CHECK_EQ(weft_task_device(NULL), WEFT_EINVAL);
    CHECK(weft_ctx_stream(NULL) == NULL);
    CHECK_EQ(weft_ctx_device(NULL), -1);
    weft_task_t *gt = weft_graph_add_cuda(g, "gpu", f_nop, NULL);
    CHECK(gt != NULL);
    CHECK_EQ(weft_task_set_device(gt, 64), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_device(gt, -2), WEFT_EINVAL);
    CHECK_EQ(weft_task_device(gt), -1); /* not run yet */
    CHECK_STR(weft_task_error(gt), "");
    /* changing a task while its graph runs */
    weft_graph_t *g2;
    CHECK_EQ(weft_graph_create(&g2), 0);
    weft_task_t *holder[1];
    CHECK_EQ(weft_graph_add_cuda_ex(g2, "self", f_try_change, holder, 0, &holder[0]), 0);
    CHECK_EQ(weft_graph_run(rt, g2), 0);
    CHECK_EQ(weft_task_state(holder[0]), WEFT_TASK_DONE);
    weft_graph_destroy(g2);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(config_gpu_streams_is_checked)
{
    weft__gpu_set_ops(&sim_ops);
    weft_config_t c;
    weft_config_init(&c);
    CHECK_EQ(c.gpu_streams, 8);
    c.threads = 1;
    weft_runtime_t *rt = NULL;
    c.gpu_streams = -1;
    CHECK_EQ(weft_runtime_create(&c, &rt), WEFT_EINVAL);
    c.gpu_streams = 1025;
    CHECK_EQ(weft_runtime_create(&c, &rt), WEFT_EINVAL);
    CHECK(rt == NULL);
    c.gpu_streams = 0; /* the default */
    CHECK_EQ(weft_runtime_create(&c, &rt), 0);
    weft_runtime_destroy(rt);
}
