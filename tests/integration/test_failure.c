/* Failing tasks: dependents cancelled, independent tasks still run, the
 * report, fail-fast, cancellation from a task, and clean reruns. */
#include <stdatomic.h>
#include <stdint.h>

#include <weft.h>

#include "rt.h"
#include "testlib.h"
#include "util.h"

static atomic_int ran;
static int ok(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_fetch_add(&ran, 1);
    return 0;
}

static int fail_with(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    atomic_fetch_add(&ran, 1);
    return (int)(intptr_t)arg;
}

static void *boxed;
static void free_box(void *p)
{
    free(p);
}
static int ok_with_result(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
    return weft_ctx_set_result(ctx, malloc(16), free_box);
}

/*   a(fails 7) -> b -> c        d -> e       f(result)
 *                 \-> x (also after d) */
TEST(failure_cancels_dependents_only)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *a = weft_graph_add(g, "a", fail_with, (void *)(intptr_t)7);
    weft_task_t *b = weft_graph_add(g, "b", ok, NULL);
    weft_task_t *c = weft_graph_add(g, "c", ok, NULL);
    weft_task_t *d = weft_graph_add(g, "d", ok, NULL);
    weft_task_t *e = weft_graph_add(g, "e", ok, NULL);
    weft_task_t *x = weft_graph_add(g, "x", ok, NULL);
    weft_task_t *f = weft_graph_add(g, "f", ok_with_result, NULL);
    CHECK_EQ(weft_task_after(b, a), 0);
    CHECK_EQ(weft_task_after(c, b), 0);
    CHECK_EQ(weft_task_after(e, d), 0);
    CHECK_EQ(weft_task_after(x, b), 0);
    CHECK_EQ(weft_task_after(x, d), 0);
    atomic_store(&ran, 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(atomic_load(&ran), 4); /* a, d, e, f */
    CHECK_EQ(weft_task_state(a), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(a), 7);
    CHECK_EQ(weft_task_state(b), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(c), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(x), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_status(b), 0);
    CHECK_EQ(weft_task_state(d), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_state(e), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_state(f), WEFT_TASK_DONE);
    CHECK_STR(weft_graph_first_failure(g), "a");
    weft_run_stats_t st;
    CHECK_EQ(weft_graph_stats(g, &st), 0);
    CHECK_EQ(st.done, 3);
    CHECK_EQ(st.failed, 1);
    CHECK_EQ(st.cancelled, 3);
    CHECK_EQ(st.not_run, 0);
    CHECK_STR(weft_graph_error(g), "task \"a\" failed with code 7; 1 task(s) failed, 3 cancelled, 0 not run");
    /* A rerun starts clean: a fixed task makes everything run. */
    boxed = weft_task_result(f);
    CHECK(boxed != NULL);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int flaky_fails;
static int flaky(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_fetch_add(&ran, 1);
    return flaky_fails ? 3 : 0;
}

TEST(rerun_after_failure_is_clean)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *a = weft_graph_add(g, "flaky", flaky, NULL);
    weft_task_t *b = weft_graph_add(g, "after", ok_with_result, NULL);
    CHECK_EQ(weft_task_after(b, a), 0);
    flaky_fails = 0;
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK(weft_task_result(b) != NULL);
    flaky_fails = 1;
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK(weft_task_result(b) == NULL); /* stale result released */
    CHECK_EQ(weft_task_state(b), WEFT_TASK_CANCELLED);
    flaky_fails = 0;
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(weft_task_state(a), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_status(a), 0);
    CHECK_EQ(weft_task_state(b), WEFT_TASK_DONE);
    CHECK(weft_graph_first_failure(g) == NULL);
    CHECK_STR(weft_graph_error(g), "");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int slow_ok(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    usleep(1000);
    atomic_fetch_add(&ran, 1);
    return 0;
}

TEST(fail_fast_stops_starting_tasks)
{
    weft_runtime_t *rt = make_rt(2, WEFT_CONFIG_FAIL_FAST);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    /* A chain whose second task fails, next to 200 slow independent tasks:
     * with fail-fast most independent tasks never start. */
    weft_task_t *a = weft_graph_add(g, "first", ok, NULL);
    weft_task_t *b = weft_graph_add(g, "boom", fail_with, (void *)(intptr_t)-2);
    weft_task_t *c = weft_graph_add(g, "dependent", ok, NULL);
    CHECK_EQ(weft_task_after(b, a), 0);
    CHECK_EQ(weft_task_after(c, b), 0);
    for (int i = 0; i < 200; i++)
        CHECK(weft_graph_add(g, "slow", slow_ok, NULL));
    atomic_store(&ran, 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(b), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(b), -2);
    CHECK_EQ(weft_task_state(c), WEFT_TASK_CANCELLED);
    weft_run_stats_t st;
    CHECK_EQ(weft_graph_stats(g, &st), 0);
    CHECK(st.not_run > 100);
    CHECK_EQ(st.done + st.failed + st.cancelled + st.not_run, 203);
    CHECK_STR(weft_graph_first_failure(g), "boom");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int canceller(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    CHECK_EQ(weft_ctx_stopping(ctx), 0);
    CHECK_EQ(weft_ctx_cancel_run(ctx), 0);
    CHECK_EQ(weft_ctx_stopping(ctx), 1);
    CHECK_EQ(weft_ctx_spawn(ctx, "late", ok, NULL), WEFT_ECANCELED);
    return 0;
}

TEST(a_task_cancels_the_run)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *k = weft_graph_add(g, "cancel", canceller, NULL);
    weft_task_t *prev = k;
    for (int i = 0; i < 50; i++) {
        weft_task_t *t = weft_graph_add(g, "after", ok, NULL);
        CHECK_EQ(weft_task_after(t, prev), 0);
        prev = t;
    }
    atomic_store(&ran, 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ECANCELED);
    CHECK_EQ(atomic_load(&ran), 0);
    CHECK_EQ(weft_task_state(k), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_state(prev), WEFT_TASK_NOT_RUN);
    weft_run_stats_t st;
    CHECK_EQ(weft_graph_stats(g, &st), 0);
    CHECK_EQ(st.not_run, 50);
    CHECK_STR(weft_graph_error(g), "run canceled; 50 task(s) not run");
    CHECK(weft_graph_first_failure(g) == NULL);
    /* The next run is not canceled. */
    weft_graph_t *g2;
    CHECK_EQ(weft_graph_create(&g2), 0);
    CHECK(weft_graph_add(g2, "fine", ok, NULL));
    CHECK_EQ(weft_graph_run(rt, g2), 0);
    weft_graph_destroy(g2);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static atomic_int gate, gate_started;
static int wait_gate(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_store(&gate_started, 1);
    while (!atomic_load(&gate))
        ;
    return 0;
}

TEST(cancel_from_outside)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    CHECK_EQ(weft_graph_cancel(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_graph_cancel(g), WEFT_ESTATE); /* not submitted */
    weft_task_t *first = weft_graph_add(g, "first", wait_gate, NULL);
    weft_task_t *prev = first;
    for (int i = 0; i < 10; i++) {
        weft_task_t *t = weft_graph_add(g, "after", ok, NULL);
        CHECK_EQ(weft_task_after(t, prev), 0);
        prev = t;
    }
    atomic_store(&gate, 0);
    atomic_store(&ran, 0);
    atomic_store(&gate_started, 0);
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    while (!atomic_load(&gate_started))
        ;
    CHECK_EQ(weft_graph_cancel(g), 0);
    CHECK_EQ(weft_graph_cancel(g), 0); /* twice is harmless */
    atomic_store(&gate, 1);
    CHECK_EQ(weft_graph_wait(g), WEFT_ECANCELED);
    CHECK_EQ(atomic_load(&ran), 0);
    CHECK_EQ(weft_task_state(prev), WEFT_TASK_NOT_RUN);
    CHECK_STR(weft_graph_error(g), "run canceled; 10 task(s) not run");
    /* Once waited for, there is nothing to cancel. */
    CHECK_EQ(weft_graph_cancel(g), WEFT_ESTATE);
    CHECK_EQ(weft_task_state(prev), WEFT_TASK_NOT_RUN);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(many_failures_one_first)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    for (int i = 0; i < 500; i++)
        CHECK(weft_graph_add(g, "f", fail_with, (void *)(intptr_t)(i + 1)));
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    weft_run_stats_t st;
    CHECK_EQ(weft_graph_stats(g, &st), 0);
    CHECK_EQ(st.failed, 500);
    CHECK_STR(weft_graph_first_failure(g), "f");
    for (size_t i = 0; i < 500; i++)
        CHECK_EQ(weft_task_status(weft_graph_task(g, i)), (int)i + 1);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- weft_ctx_fail: a failing task says why -------------------------------- */

static int says_why(weft_ctx_t *ctx, void *arg)
{
    int mode = (int)(intptr_t)arg;
    if (mode == 0)
        return weft_ctx_fail(ctx, 3, "no file %s", "x.dat");
    if (mode == 1)
        return weft_ctx_fail(ctx, 0, "zero is no failure code");
    if (mode == 2) { /* a text but success: the task succeeds */
        weft_ctx_fail(ctx, 5, "changed its mind");
        return 0;
    }
    if (mode == 3) { /* a long text, kept whole; the first text stays */
        static char big[10001];
        memset(big, 'z', sizeof big - 1);
        weft_ctx_fail(ctx, 9, "%s", big);
        return weft_ctx_fail(ctx, 9, "a second text");
    }
    return 0;
}

static int child_fails(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_ctx_fail(ctx, 11, "the child broke");
}

static int parent_of_failing_child(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_ctx_spawn(ctx, "kid", child_fails, NULL);
}

TEST(ctx_fail_says_why)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *a = weft_graph_add(g, "a", says_why, (void *)0);
    weft_task_t *z = weft_graph_add(g, "z", says_why, (void *)1);
    weft_task_t *m = weft_graph_add(g, "m", says_why, (void *)2);
    weft_task_t *l = weft_graph_add(g, "l", says_why, (void *)3);
    weft_task_t *p = weft_graph_add(g, "p", parent_of_failing_child, NULL);
    weft_task_t *d = weft_graph_add(g, "after-a", ok, NULL);
    weft_task_after(d, a);
    weft_task_after(z, a); /* so that "a" is the first failure */
    weft_task_after(l, z);
    weft_task_after(p, l);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_status(a), 3);
    CHECK_STR(weft_task_error(a), "no file x.dat");
    CHECK_STR(weft_graph_error(g),
              "task \"a\" failed with code 3 (no file x.dat); 1 task(s) failed, 4 cancelled, 0 not run");
    CHECK_EQ(weft_task_state(m), WEFT_TASK_DONE);
    CHECK_STR(weft_task_error(m), "");
    CHECK_STR(weft_task_error(d), ""); /* cancelled */
    CHECK_STR(weft_task_error(NULL), "");
    weft_graph_destroy(g);

    /* no order this time: each failure on its own */
    CHECK_EQ(weft_graph_create(&g), 0);
    z = weft_graph_add(g, "z", says_why, (void *)1);
    l = weft_graph_add(g, "l", says_why, (void *)3);
    p = weft_graph_add(g, "p", parent_of_failing_child, NULL);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_status(z), WEFT_EINVAL);
    CHECK_STR(weft_task_error(z), "zero is no failure code");
    CHECK_EQ(strlen(weft_task_error(l)), 10000u);
    CHECK_EQ(weft_task_status(p), 11);
    CHECK_STR(weft_task_error(p), "the child broke");
    weft_graph_destroy(g);

    /* a rerun starts without the last run's texts */
    CHECK_EQ(weft_graph_create(&g), 0);
    a = weft_graph_add(g, "a", says_why, (void *)0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_STR(weft_task_error(a), "no file x.dat");
    weft_graph_destroy(g);
    CHECK_EQ(weft_ctx_fail(NULL, 4, "x"), 4);
    CHECK_EQ(weft_ctx_fail(NULL, 0, "x"), WEFT_EINVAL);
    weft_runtime_destroy(rt);
}

static int fails_then_not(weft_ctx_t *ctx, void *arg)
{
    _Atomic int *runs = arg;
    if (atomic_fetch_add(runs, 1) == 0)
        return weft_ctx_fail(ctx, 2, "first run only");
    return 0;
}

TEST(ctx_fail_text_cleared_by_a_rerun)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    static _Atomic int runs;
    weft_task_t *t = weft_graph_add(g, "t", fails_then_not, (void *)&runs);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_STR(weft_task_error(t), "first run only");
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_STR(weft_task_error(t), "");
    CHECK_STR(weft_graph_error(g), "");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- timeouts and retries of C tasks -------------------------------------- */

#include <math.h>
#include <time.h>

#define now_s test_now_s

static void nap_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Asks should_stop every millisecond, for up to 10 s. */
static int cooperative(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000 && !weft_ctx_should_stop(ctx); i++)
        nap_ms(1);
    return 0;
}

/* Never asks: 300 ms of work. */
static int oblivious(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    nap_ms(300);
    return 0;
}

static atomic_int seen_attempts[8];

/* Attempt 1 fails, attempt 2 times out (cooperatively), attempt 3 succeeds. */
static int third_time_lucky(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    int a = weft_ctx_attempt(ctx);
    if (a >= 1 && a < 8)
        atomic_fetch_add(&seen_attempts[a], 1);
    if (a == 1)
        return weft_ctx_fail(ctx, 5, "attempt one breaks");
    if (a == 2)
        return cooperative(ctx, NULL);
    return 0;
}

static int always_fails(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_ctx_fail(ctx, 7, "attempt %d failed", weft_ctx_attempt(ctx));
}

TEST(timeouts_and_retries)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *coop = weft_graph_add(g, "coop", cooperative, NULL);
    weft_task_t *after = weft_graph_add(g, "after-coop", ok, NULL);
    weft_task_t *obl = weft_graph_add(g, "oblivious", oblivious, NULL);
    weft_task_t *lucky = weft_graph_add(g, "lucky", third_time_lucky, NULL);
    weft_task_t *hopeless = weft_graph_add(g, "hopeless", always_fails, NULL);
    weft_task_t *plain = weft_graph_add(g, "plain", ok, NULL);
    weft_task_after(after, coop);
    CHECK_EQ(weft_task_set_timeout(coop, 0.1), 0);
    CHECK_EQ(weft_task_set_timeout(obl, 0.1), 0);
    CHECK_EQ(weft_task_set_timeout(lucky, 0.1), 0);
    CHECK_EQ(weft_task_set_retries(lucky, 2), 0);
    CHECK_EQ(weft_task_set_retries(hopeless, 2), 0);
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < 8; i++)
            atomic_store(&seen_attempts[i], 0);
        double t0 = now_s();
        CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
        double took = now_s() - t0;
        CHECK(took < 5); /* the cooperative tasks stopped at their deadline, not after 10 s */
        CHECK_EQ(weft_task_state(coop), WEFT_TASK_FAILED);
        CHECK_EQ(weft_task_status(coop), WEFT_ETIMEDOUT);
        CHECK_STR(weft_task_error(coop), "timed out after 0.1 s");
        CHECK_EQ(weft_task_attempts(coop), 1);
        CHECK_EQ(weft_task_state(after), WEFT_TASK_CANCELLED);
        CHECK_EQ(weft_task_attempts(after), 0);
        /* never asked: ran its 300 ms, then timed out all the same */
        CHECK_EQ(weft_task_status(obl), WEFT_ETIMEDOUT);
        CHECK_STR(weft_task_error(obl), "timed out after 0.1 s");
        CHECK_EQ(weft_task_state(lucky), WEFT_TASK_DONE);
        CHECK_EQ(weft_task_attempts(lucky), 3);
        CHECK_STR(weft_task_error(lucky), "");
        CHECK(atomic_load(&seen_attempts[1]) == 1 && atomic_load(&seen_attempts[2]) == 1 &&
              atomic_load(&seen_attempts[3]) == 1);
        CHECK_EQ(weft_task_status(hopeless), 7);
        CHECK_EQ(weft_task_attempts(hopeless), 3);
        CHECK_STR(weft_task_error(hopeless), "attempt 3 failed");
        CHECK_EQ(weft_task_attempts(plain), 1);
    }
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static atomic_int release_blocker;
static int blocker(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    while (!atomic_load(&release_blocker))
        nap_ms(1);
    return 0;
}

TEST(limits_misuse)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *t = weft_graph_add(g, "t", blocker, NULL);
    CHECK_EQ(weft_task_set_timeout(NULL, 1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_timeout(t, -1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_timeout(t, NAN), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_timeout(t, 1e10), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_retries(NULL, 1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_retries(t, -1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_retries(t, 1001), WEFT_EINVAL);
    CHECK_EQ(weft_task_attempts(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_task_attempts(t), 0); /* never ran */
    CHECK_EQ(weft_ctx_should_stop(NULL), 0);
    CHECK_EQ(weft_ctx_attempt(NULL), 0);
    atomic_store(&release_blocker, 0);
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    CHECK_EQ(weft_task_set_timeout(t, 1), WEFT_EBUSY);
    CHECK_EQ(weft_task_set_retries(t, 1), WEFT_EBUSY);
    CHECK_EQ(weft_task_attempts(t), WEFT_EBUSY);
    atomic_store(&release_blocker, 1);
    CHECK_EQ(weft_graph_wait(g), 0);
    CHECK_EQ(weft_task_set_timeout(t, 0), 0); /* 0: none */
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(weft_task_attempts(t), 1);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- weft_graph_error: a task's own code is never read as one of weft's -- */

TEST(own_codes_and_weft_codes_are_told_apart)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_graph_add(g, "minus4", fail_with, (void *)(intptr_t)-4);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_STR(
        weft_graph_error(g),
        "task \"minus4\" failed with code -4 (its own, not WEFT_ETASK); 1 task(s) failed, 0 cancelled, 0 not run");
    weft_graph_destroy(g);
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *t = weft_graph_add(g, "slow", cooperative, NULL);
    CHECK_EQ(weft_task_set_timeout(t, 0.05), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_STR(weft_graph_error(g), "task \"slow\" failed: WEFT_ETIMEDOUT (timed out after 0.05 s); 1 task(s) failed, "
                                   "0 cancelled, 0 not run");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}
