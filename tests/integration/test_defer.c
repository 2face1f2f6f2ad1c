/* Deferred completion (weft_ctx_defer / weft_defer_complete): a task whose
 * function returns before the task is finished, completed later from
 * another thread, as the process executor does. Successors wait for the
 * completion; a failure code fails the task; a stopping run still waits
 * for every completion; many completions from several threads at once. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <weft.h>

#include "rt.h"
#include "testlib.h"

/* A completer thread: takes handles from a queue and completes them after
 * a short sleep, with the code stored next to the handle. */
#define MAXQ 20000
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    weft_defer_t *h[MAXQ];
    int rc[MAXQ];
    int head, tail, quit;
} Q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, {0}, 0, 0, 0};

static void enqueue(weft_defer_t *d, int rc)
{
    pthread_mutex_lock(&Q.lock);
    Q.h[Q.tail % MAXQ] = d;
    Q.rc[Q.tail % MAXQ] = rc;
    Q.tail++;
    pthread_cond_signal(&Q.cond);
    pthread_mutex_unlock(&Q.lock);
}

static void *completer(void *arg)
{
    long delay_us = (long)(intptr_t)arg;
    for (;;) {
        pthread_mutex_lock(&Q.lock);
        while (Q.head == Q.tail && !Q.quit)
            pthread_cond_wait(&Q.cond, &Q.lock);
        if (Q.head == Q.tail && Q.quit) {
            pthread_mutex_unlock(&Q.lock);
            return NULL;
        }
        weft_defer_t *d = Q.h[Q.head % MAXQ];
        int rc = Q.rc[Q.head % MAXQ];
        Q.head++;
        pthread_mutex_unlock(&Q.lock);
        if (delay_us)
            usleep((useconds_t)delay_us);
        weft_defer_complete(d, rc);
    }
}

static void stop_completers(pthread_t *th, int n)
{
    pthread_mutex_lock(&Q.lock);
    Q.quit = 1;
    pthread_cond_broadcast(&Q.cond);
    pthread_mutex_unlock(&Q.lock);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    Q.quit = 0;
}

static atomic_int finished_deferred, order_violations;

static int defer_ok(weft_ctx_t *ctx, void *arg)
{
    weft_defer_t *d;
    int rc = weft_ctx_defer(ctx, &d);
    if (rc)
        return rc;
    enqueue(d, (int)(intptr_t)arg);
    return 0;
}

static int after_fn(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    /* the deferred task must be completed by now: its completer has
     * dequeued it before completing, so head has moved past it */
    pthread_mutex_lock(&Q.lock);
    if (Q.head == 0)
        atomic_fetch_add(&order_violations, 1);
    pthread_mutex_unlock(&Q.lock);
    atomic_fetch_add(&finished_deferred, 1);
    return 0;
}

TEST(successor_waits_for_completion)
{
    weft_runtime_t *rt = make_rt(2, 0);
    pthread_t th;
    pthread_create(&th, NULL, completer, (void *)(intptr_t)200000);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *a = weft_graph_add(g, "a", defer_ok, NULL);
    weft_task_t *b = weft_graph_add(g, "b", after_fn, NULL);
    CHECK_EQ(weft_task_after(b, a), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    CHECK(s >= 0.19); /* the run waited for the completion */
    CHECK_EQ(weft_task_state(a), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_state(b), WEFT_TASK_DONE);
    CHECK_EQ(atomic_load(&order_violations), 0);
    weft_graph_destroy(g);
    stop_completers(&th, 1);
    weft_runtime_destroy(rt);
}

TEST(failure_code_fails_the_task)
{
    weft_runtime_t *rt = make_rt(2, 0);
    pthread_t th;
    pthread_create(&th, NULL, completer, (void *)(intptr_t)1000);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *a = weft_graph_add(g, "proc", defer_ok, (void *)(intptr_t)-42);
    weft_task_t *b = weft_graph_add(g, "after", after_fn, NULL);
    weft_task_t *c = weft_graph_add(g, "other", defer_ok, NULL);
    CHECK_EQ(weft_task_after(b, a), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(a), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(a), -42);
    CHECK_EQ(weft_task_state(b), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(c), WEFT_TASK_DONE);
    CHECK_STR(weft_graph_first_failure(g), "proc");
    weft_graph_destroy(g);
    stop_completers(&th, 1);
    weft_runtime_destroy(rt);
}

TEST(misuse)
{
    weft_defer_t *d = (weft_defer_t *)1;
    CHECK_EQ(weft_ctx_defer(NULL, &d), WEFT_EINVAL);
    CHECK(d == NULL);
    CHECK_EQ(weft_defer_complete(NULL, 0), WEFT_EINVAL);
}

/* Completes its own deferral twice at once (the second must be refused)
 * and keeps the handle for a third call after the run. */
static int defer_twice(weft_ctx_t *ctx, void *arg)
{
    weft_defer_t **keep = arg;
    weft_defer_t *d;
    if (weft_ctx_defer(ctx, &d) != 0)
        return -1;
    *keep = d;
    if (weft_defer_complete(d, 0) != 0)
        return -2;
    return weft_defer_complete(d, -7) == WEFT_ESTATE ? 0 : -3;
}

TEST(double_completion_is_refused)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_defer_t *kept[3] = {NULL, NULL, NULL};
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = weft_graph_add(g, "twice", defer_twice, &kept[i]);
    weft_task_after(t[2], t[1]);
    for (int rep = 0; rep < 3; rep++) { /* the handles of a finished run are refused until the next run */
        CHECK_EQ(weft_graph_run(rt, g), 0);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ(weft_task_state(t[i]), WEFT_TASK_DONE);
            CHECK_EQ(weft_defer_complete(kept[i], -9), WEFT_ESTATE);
        }
    }
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int defer_bad(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_ctx_defer(ctx, NULL) == WEFT_EINVAL ? 0 : -1;
}

TEST(misuse_inside_a_task)
{
    weft_runtime_t *rt = make_rt(1, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_graph_add(g, "x", defer_bad, NULL);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* fail-fast: one failure stops the run, and the run still waits for the
 * deferred completions already handed out (nothing is freed under them). */
TEST(stopping_run_waits_for_completions)
{
    weft_runtime_t *rt = make_rt(2, WEFT_CONFIG_FAIL_FAST);
    pthread_t th;
    pthread_create(&th, NULL, completer, (void *)(intptr_t)20000);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    for (int i = 0; i < 50; i++)
        weft_graph_add(g, NULL, defer_ok, (void *)(intptr_t)(i == 3 ? -7 : 0));
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    /* every handle handed out was completed before the run returned (ASan
     * would see a completion touching the destroyed graph otherwise) */
    pthread_mutex_lock(&Q.lock);
    int left = Q.tail - Q.head;
    pthread_mutex_unlock(&Q.lock);
    CHECK_EQ(left, 0);
    weft_graph_destroy(g);
    stop_completers(&th, 1);
    weft_runtime_destroy(rt);
}

/* 10,000 deferred tasks in a chain-free fan, completed by 3 threads, then a
 * join: the join runs once, after all of them; repeated 5 times on one graph. */
TEST(many_from_several_threads)
{
    weft_runtime_t *rt = make_rt(2, 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, completer, (void *)(intptr_t)0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *join = weft_graph_add(g, "join", after_fn, NULL);
    for (int i = 0; i < 10000; i++)
        CHECK_EQ(weft_task_after(join, weft_graph_add(g, NULL, defer_ok, NULL)), 0);
    for (int r = 0; r < 5; r++) {
        atomic_store(&finished_deferred, 0);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(atomic_load(&finished_deferred), 1);
    }
    weft_graph_destroy(g);
    stop_completers(th, 3);
    weft_runtime_destroy(rt);
}

/* The last completion ends the run; the caller then destroys the graph and
 * the runtime at once, while the completing thread may still be on its way
 * out of weft_defer_complete (ASan/TSan saw it touch the freed pool before
 * the pool waited for it). */
TEST(destroy_right_after_the_last_completion)
{
    pthread_t th;
    pthread_create(&th, NULL, completer, (void *)(intptr_t)0);
    for (int r = 0; r < 300; r++) {
        weft_runtime_t *rt = make_rt(2, 0);
        weft_graph_t *g;
        CHECK_EQ(weft_graph_create(&g), 0);
        weft_graph_add(g, NULL, defer_ok, NULL);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        weft_graph_destroy(g);
        weft_runtime_destroy(rt);
    }
    stop_completers(&th, 1);
}
