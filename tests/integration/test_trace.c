/* Timing instrumentation through the public API: configuration and call
 * misuse, recorded times consistent with the graph (checked on the written
 * trace by tests/lib/check_trace.py), the critical path of a graph with
 * known durations, regions, counters, reruns, children, the streamed file,
 * and the timer / metric / bench utilities. */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "testlib.h"

static weft_runtime_t *traced_rt(int threads, const char *file)
{
    weft_config_t c;
    weft_config_init(&c);
    c.threads = threads;
    c.flags = WEFT_CONFIG_QUIET;
    c.trace = 1;
    c.trace_file = file;
    weft_runtime_t *rt = NULL;
    CHECK_EQ(weft_runtime_create(&c, &rt), 0);
    return rt;
}

static const char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "/tmp/weft-test-trace-%d-%s", (int)getpid(), name);
    return p;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    CHECK(s != NULL);
    CHECK_EQ(fread(s, 1, (size_t)n, f), n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* Runs the checker on a trace; skips when python3 is missing. */
static void check_trace(const char *path, const char *opts)
{
    if (system("python3 -c 'import json' 2>/dev/null") != 0)
        SKIP("python3 is not installed");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 %s %s %s", WEFT_CHECK_TRACE, path, opts);
    int rc = system(cmd);
    if (rc != 0)
        FAIL("%s failed (%d)", cmd, rc);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int sleeper(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    sleep_us((long)(intptr_t)arg);
    return 0;
}

static int failing(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 5;
}

/* ---- misuse ------------------------------------------------------------ */

TEST(config_misuse)
{
    weft_config_t c;
    weft_runtime_t *rt = NULL;
    weft_config_init(&c);
    CHECK_EQ(c.trace, 0);
    CHECK(c.trace_file == NULL);
    CHECK_EQ(c.trace_sample_us, 1000);
    c.flags = WEFT_CONFIG_QUIET;
    c.trace = 2;
    CHECK_EQ(weft_runtime_create(&c, &rt), WEFT_EINVAL);
    c.trace = -1;
    CHECK_EQ(weft_runtime_create(&c, &rt), WEFT_EINVAL);
    c.trace = 0;
    c.trace_file = tmp_path("never.json");
    CHECK_EQ(weft_runtime_create(&c, &rt), WEFT_EINVAL); /* a file without trace */
    c.trace = 1;
    c.trace_file = "";
    CHECK_EQ(weft_runtime_create(&c, &rt), WEFT_EINVAL);
    c.trace_file = NULL;
    c.trace_sample_us = -1;
    CHECK_EQ(weft_runtime_create(&c, &rt), WEFT_EINVAL);
    c.trace_sample_us = 10000001;
    CHECK_EQ(weft_runtime_create(&c, &rt), WEFT_EINVAL);
    c.trace_sample_us = 1000;
    c.trace_file = "/nonexistent-dir/trace.json";
    CHECK_EQ(weft_runtime_create(&c, &rt), WEFT_ESYS);
    CHECK(rt == NULL);
}

TEST(call_misuse)
{
    weft_runtime_t *plain;
    weft_config_t c;
    weft_config_init(&c);
    c.flags = WEFT_CONFIG_QUIET;
    c.threads = 1;
    CHECK_EQ(weft_runtime_create(&c, &plain), 0);
    CHECK_EQ(weft_runtime_write_trace(plain, tmp_path("x.json")), WEFT_ESTATE);
    CHECK_EQ(weft_runtime_write_report(plain, tmp_path("x.html")), WEFT_ESTATE);
    CHECK_EQ(weft_runtime_write_summary(plain, stderr), WEFT_ESTATE);
    CHECK_EQ(weft_runtime_set_bottleneck(plain, 5), WEFT_ESTATE);
    CHECK_EQ(weft_runtime_counter(plain, "x", 1), 0); /* off: records nothing */
    weft_runtime_destroy(plain);

    weft_runtime_t *rt = traced_rt(1, NULL);
    CHECK_EQ(weft_runtime_write_trace(NULL, "x"), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_write_trace(rt, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_write_trace(rt, ""), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_write_report(rt, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_write_summary(rt, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_set_bottleneck(NULL, 5), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_set_bottleneck(rt, 0), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_set_bottleneck(rt, 100.5), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_set_bottleneck(rt, 0.0 / 0.0), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_set_bottleneck(rt, 20), 0);
    CHECK_EQ(weft_runtime_write_trace(rt, "/nonexistent-dir/t.json"), WEFT_ESYS);
    CHECK_EQ(weft_runtime_write_report(rt, "/nonexistent-dir/t.html"), WEFT_ESYS);
    CHECK_EQ(weft_runtime_counter(NULL, "x", 1), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_counter(rt, NULL, 1), WEFT_EINVAL);
    CHECK_EQ(weft_runtime_counter(rt, "", 1), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_counter(NULL, "x", 1), WEFT_EINVAL);
    /* regions outside tasks do nothing; an end without a begin is ignored */
    weft_region_end();
    weft_region_begin("outside");
    weft_region_end();
    weft_region_begin(NULL);
    /* an empty trace is still a valid one */
    const char *p = tmp_path("empty.json");
    CHECK_EQ(weft_runtime_write_trace(rt, p), 0);
    check_trace(p, "--tasks 0");
    CHECK_EQ(weft_runtime_write_summary(rt, stderr), 0);
    unlink(p);

    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *t = weft_graph_add(g, "t", sleeper, NULL);
    CHECK_EQ(weft_task_annotate(NULL, "k", "v"), WEFT_EINVAL);
    CHECK_EQ(weft_task_annotate(t, NULL, "v"), WEFT_EINVAL);
    CHECK_EQ(weft_task_annotate(t, "", "v"), WEFT_EINVAL);
    CHECK_EQ(weft_task_annotate(t, "k", NULL), WEFT_EINVAL);
    CHECK_EQ(weft_task_annotate(t, "quote\"d", "back\\slash\nnewline"), 0);
    weft_task_t *slow = weft_graph_add(g, "slow", sleeper, (void *)(intptr_t)20000);
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    CHECK_EQ(weft_task_annotate(slow, "k", "v"), WEFT_EBUSY);
    CHECK_EQ(weft_graph_wait(g), 0);
    p = tmp_path("escaped.json");
    CHECK_EQ(weft_runtime_write_trace(rt, p), 0);
    check_trace(p, "--tasks 2");
    char *s = slurp(p);
    CHECK(strstr(s, "\"quote\\\"d\":\"back\\\\slash\\u000anewline\"") != NULL);
    free(s);
    unlink(p);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- times and the critical path --------------------------------------- */

/* a(10ms) -> b(60ms) -> d(10ms), a -> c(5ms) -> d, e(2ms) alone; f fails and
 * g after it is cancelled. */
TEST(diamond_times_and_critical_path)
{
    weft_runtime_t *rt = traced_rt(2, NULL);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *a = weft_graph_add(g, "a", sleeper, (void *)(intptr_t)10000);
    weft_task_t *b = weft_graph_add(g, "b", sleeper, (void *)(intptr_t)60000);
    weft_task_t *c = weft_graph_add(g, "c", sleeper, (void *)(intptr_t)5000);
    weft_task_t *d = weft_graph_add(g, "d", sleeper, (void *)(intptr_t)10000);
    weft_graph_add(g, "e", sleeper, (void *)(intptr_t)2000);
    weft_task_t *f = weft_graph_add(g, "f", failing, NULL);
    weft_task_t *gg = weft_graph_add(g, "g", sleeper, NULL);
    weft_task_after(b, a);
    weft_task_after(c, a);
    weft_task_after(d, b);
    weft_task_after(d, c);
    weft_task_after(gg, f);
    CHECK_EQ(weft_task_annotate(b, "n", "64"), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    const char *p = tmp_path("diamond.json");
    CHECK_EQ(weft_runtime_write_trace(rt, p), 0);
    check_trace(p, "--tasks 6"); /* g never ran */
    char *s = slurp(p);
    CHECK_EQ(count(s, "\"cat\":\"skipped\""), 1);
    CHECK(strstr(s, "\"state\":\"failed\",\"rc\":5") != NULL);
    CHECK(strstr(s, "\"n\":\"64\"") != NULL);
    CHECK_EQ(count(s, "\"ph\":\"f\""), 4); /* a->b a->c b->d c->d (f->g: g never ran) */
    free(s);
    unlink(p);

    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    CHECK_EQ(weft_runtime_write_summary(rt, mem), 0);
    fclose(mem);
    fputs(text, stderr);
    CHECK(strstr(text, "tasks: 5 done, 1 failed, 1 cancelled, 0 not run") != NULL);
    const char *cp = strstr(text, "critical path (run 1): 3 task(s)");
    CHECK(cp != NULL);
    const char *pa = strstr(cp, "  a\n"), *pb = strstr(cp, "  b\n"), *pd = strstr(cp, "  d\n");
    CHECK(pa && pb && pd && pa < pb && pb < pd);
    CHECK(strstr(cp, "  c\n") == NULL || strstr(cp, "  c\n") > strstr(cp, "workers"));
    /* the path is a + b + d: at least their 80 ms of sleep (on a loaded
     * machine the run may take longer than the path) */
    double plen = 0;
    char unit[8] = "";
    CHECK(sscanf(cp, "critical path (run 1): 3 task(s), %lf %7s", &plen, unit) == 2);
    CHECK_STR(unit, "ms");
    CHECK(plen >= 79.9 && plen < 5000);
    CHECK(strstr(text, "slowest tasks:\n") != NULL);
    const char *slow = strstr(text, "slowest tasks:\n") + 15;
    CHECK(strstr(slow, "  b  (") != NULL && strstr(slow, "  b  (") < strstr(slow, "  a  ("));
    CHECK(strstr(text, "scheduling delay (ready -> start): p50 ") != NULL);
    CHECK(strstr(text, "worker 0") != NULL && strstr(text, "worker 1") != NULL);
    free(text);

    const char *h = tmp_path("diamond.html");
    CHECK_EQ(weft_runtime_write_report(rt, h), 0);
    s = slurp(h);
    CHECK(strstr(s, "<!DOCTYPE html>") && strstr(s, "data-rendered"));
    CHECK(strstr(s, "src=\"http") == NULL && strstr(s, "href=\"http") == NULL); /* self-contained */
    CHECK(strstr(s, "\"b\",") != NULL);
    free(s);
    unlink(h);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- regions, counters, memory ------------------------------------------ */

static atomic_int allocated, release;

static int regions(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    WEFT_TIME_SCOPE("assemble");
    {
        WEFT_TIME_SCOPE("inner");
        sleep_us(500);
    }
    CHECK_EQ(weft_ctx_counter(ctx, "residual", 0.25), 0);
    CHECK_EQ(weft_ctx_counter(ctx, "", 1), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_counter(ctx, NULL, 1), WEFT_EINVAL);
    void *p = weft_mem_alloc(weft_ctx_runtime(ctx), 1 << 20);
    CHECK(p != NULL);
    /* held until the test has exported a trace (exports sample memory) */
    atomic_store(&allocated, 1);
    for (int i = 0; i < 10000 && !atomic_load(&release); i++)
        sleep_us(1000);
    weft_mem_free(weft_ctx_runtime(ctx), p);
    return 0;
}

TEST(regions_counters_memory)
{
    weft_runtime_t *rt = traced_rt(1, NULL);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_graph_add(g, "r", regions, NULL);
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    while (!atomic_load(&allocated))
        sleep_us(1000);
    const char *mid = tmp_path("mid.json");
    CHECK_EQ(weft_runtime_write_trace(rt, mid), 0); /* while the MiB is held */
    atomic_store(&release, 1);
    CHECK_EQ(weft_graph_wait(g), 0);
    unlink(mid);
    CHECK_EQ(weft_runtime_counter(rt, "outside", 3), 0);
    const char *p = tmp_path("regions.json");
    CHECK_EQ(weft_runtime_write_trace(rt, p), 0);
    check_trace(p, "--tasks 1");
    char *s = slurp(p);
    CHECK(strstr(s, "{\"name\":\"assemble\",\"cat\":\"region\"") != NULL);
    CHECK(strstr(s, "{\"name\":\"inner\",\"cat\":\"region\"") != NULL);
    CHECK(strstr(s, "\"args\":{\"depth\":1}") != NULL);
    CHECK(strstr(s, "{\"name\":\"residual\",\"ph\":\"C\"") != NULL);
    CHECK(strstr(s, "\"args\":{\"value\":0.25}") != NULL);
    CHECK(strstr(s, "{\"name\":\"outside\",\"ph\":\"C\"") != NULL);
    CHECK(strstr(s, "\"args\":{\"value\":1048576}") != NULL); /* the pool's MiB in use */
    free(s);
    unlink(p);
    /* the summary aggregates the regions by name */
    const char *sp = tmp_path("regions.txt");
    FILE *out = fopen(sp, "w");
    CHECK(out != NULL);
    CHECK_EQ(weft_runtime_write_summary(rt, out), 0);
    fclose(out);
    s = slurp(sp);
    CHECK(strstr(s, "regions (by name; a nested one counts in its parent too):") != NULL);
    const char *inner = strstr(s, "  inner\n"), *assemble = strstr(s, "  assemble\n");
    CHECK(inner && assemble);
    /* one each; "assemble" holds "inner", so it comes first (the largest total) */
    CHECK(assemble < inner);
    const char *line = inner;
    while (line > s && line[-1] != '\n')
        line--;
    CHECK(strstr(line, "         1  ") != NULL); /* count 1 */
    free(s);
    unlink(sp);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- reruns, children, deferred ------------------------------------------ */

static int child(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    sleep_us((long)(intptr_t)arg);
    return 0;
}

static int parent(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    CHECK_EQ(weft_ctx_spawn(ctx, "kid-1", child, (void *)(intptr_t)1000), 0);
    CHECK_EQ(weft_ctx_spawn(ctx, "kid-2", child, (void *)(intptr_t)2000), 0);
    return 0;
}

TEST(reruns_and_children)
{
    weft_runtime_t *rt = traced_rt(2, NULL);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *p = weft_graph_add(g, "parent", parent, NULL);
    weft_task_t *after = weft_graph_add(g, "after", sleeper, (void *)(intptr_t)100);
    weft_task_after(after, p);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_graph_add(g, "added", sleeper, NULL); /* a changed graph: a new snapshot */
    CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_graph_destroy(g); /* the trace keeps what it needs */
    const char *path = tmp_path("reruns.json");
    CHECK_EQ(weft_runtime_write_trace(rt, path), 0);
    check_trace(path, "--tasks 9");
    char *s = slurp(path);
    CHECK_EQ(count(s, "{\"name\":\"kid-1\",\"cat\":\"child\""), 4);
    CHECK_EQ(count(s, "{\"name\":\"added\""), 1);
    CHECK_EQ(count(s, "\"run\":4,"), 5); /* parent, 2 kids, after, added */
    free(s);
    unlink(path);
    weft_runtime_destroy(rt);
}

/* A graph's shape is copied into the trace lazily: when the trace is read,
 * or before the graph changes or goes. Each run keeps the shape it ran
 * with, across two runtimes and a runtime that goes first. */
TEST(graph_shape_copied_when_needed)
{
    weft_runtime_t *a = traced_rt(1, NULL), *b = traced_rt(1, NULL);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *x = weft_graph_add(g, "x", sleeper, NULL);
    CHECK_EQ(weft_graph_run(a, g), 0);             /* a: no note */
    CHECK_EQ(weft_task_annotate(x, "k", "v1"), 0); /* a copies before the change */
    CHECK_EQ(weft_graph_run(a, g), 0);             /* a: v1 */
    CHECK_EQ(weft_graph_run(b, g), 0);             /* b: v1 */
    CHECK_EQ(weft_graph_run(a, g), 0);             /* b copies; a: v1 */
    CHECK_EQ(weft_task_annotate(x, "k", "v2"), 0);
    CHECK_EQ(weft_graph_run(b, g), 0); /* b: v1, v2 */
    const char *pa = tmp_path("lazy-a.json"), *pb = tmp_path("lazy-b.json");
    CHECK_EQ(weft_runtime_write_trace(a, pa), 0);
    CHECK_EQ(weft_runtime_write_trace(b, pb), 0);
    check_trace(pa, "--tasks 3");
    check_trace(pb, "--tasks 2");
    char *sa = slurp(pa), *sb = slurp(pb);
    CHECK_EQ(count(sa, "{\"name\":\"x\""), 3);
    CHECK_EQ(count(sa, "\"k\":\"v1\""), 2);
    CHECK_EQ(count(sa, "\"k\":\"v2\""), 0);
    CHECK_EQ(count(sb, "\"k\":\"v1\""), 2);
    CHECK_EQ(count(sb, "\"k\":\"v2\""), 1);
    free(sa);
    free(sb);
    unlink(pa);
    unlink(pb);
    /* a run a never copied: a goes first, then the graph changes and goes */
    CHECK_EQ(weft_graph_run(a, g), 0);
    weft_runtime_destroy(a);
    CHECK_EQ(weft_task_annotate(x, "k", "v3"), 0);
    CHECK(weft_graph_add(g, "y", sleeper, NULL) != NULL);
    CHECK_EQ(weft_graph_run(b, g), 0);
    weft_graph_destroy(g);
    CHECK_EQ(weft_runtime_write_trace(b, pb), 0);
    check_trace(pb, "--tasks 4");
    sb = slurp(pb);
    CHECK_EQ(count(sb, "{\"name\":\"y\""), 1);
    CHECK_EQ(count(sb, "\"k\":\"v3\""), 1);
    free(sb);
    unlink(pb);
    weft_runtime_destroy(b);
}

static int nothing(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

/* Enough events to fill several chunks per worker slot, with spare chunks
 * prepared by the sampler thread: every task is read back. */
TEST(many_events_over_chunks)
{
    weft_runtime_t *rt = traced_rt(1, NULL);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *prev = NULL;
    for (int i = 0; i < 300000; i++) {
        weft_task_t *t = weft_graph_add(g, NULL, nothing, NULL);
        CHECK(t != NULL);
        if (i % 1000 && prev) /* chains of 1000: both slots get work */
            CHECK_EQ(weft_task_after(t, prev), 0);
        prev = t;
    }
    for (int r = 0; r < 4; r++) {
        CHECK_EQ(weft_graph_run(rt, g), 0);
        sleep_us(20000); /* the sampler prepares spares meanwhile */
    }
    const char *path = tmp_path("many.txt");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK_EQ(weft_runtime_write_summary(rt, f), 0);
    fclose(f);
    char *s = slurp(path);
    if (!strstr(s, "over 4 run(s), 1200000 task(s)") || !strstr(s, "tasks: 1200000 done, 0 failed"))
        FAIL("summary does not count every task:\n%s", s);
    free(s);
    unlink(path);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- the streamed file ---------------------------------------------------- */

TEST(streamed_file)
{
    const char *p = tmp_path("stream.json");
    weft_runtime_t *rt = traced_rt(2, p);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    for (int i = 0; i < 20; i++)
        weft_graph_add(g, "quick", sleeper, (void *)(intptr_t)100);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_task_t *slow = weft_graph_add(g, "slow", sleeper, (void *)(intptr_t)600000);
    (void)slow;
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    sleep_us(350000); /* the streamer writes every 100 ms */
    /* mid-run the file is a valid prefix: what has been recorded so far */
    check_trace(p, "--partial --min-tasks 20");
    char *s = slurp(p);
    CHECK(s[strlen(s) - 1] != ']');
    free(s);
    CHECK_EQ(weft_graph_wait(g), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt); /* completes it */
    check_trace(p, "--tasks 41");
    unlink(p);
}

/* ---- timers, metrics, bench ------------------------------------------------- */

static int bench_sleep(void *arg)
{
    sleep_us((long)(intptr_t)arg);
    return 0;
}

static int bench_fail(void *arg)
{
    (void)arg;
    return -42;
}

TEST(metrics_and_bench)
{
    weft_timer_t t = {0};
    CHECK(weft_timer_stop(&t) == 0); /* not running */
    weft_timer_start(&t);
    sleep_us(2000);
    double lap = weft_timer_stop(&t);
    CHECK(lap >= 0.002 && lap < 1.0);
    CHECK(t.total_s == lap);

    weft_metrics_t *m;
    CHECK_EQ(weft_metrics_create(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_metrics_create(&m), 0);
    for (int i = 1; i <= 100; i++)
        CHECK_EQ(weft_metrics_add(m, "x", (double)i), 0);
    weft_metric_stats_t st;
    CHECK_EQ(weft_metrics_get(m, "x", &st), 0);
    CHECK_EQ(st.count, 100);
    CHECK(st.min == 1 && st.max == 100 && st.total == 5050 && st.mean == 50.5);
    CHECK(fabs(st.median - 50.5) < 1e-9);
    CHECK(fabs(st.p95 - 95.05) < 1e-9);
    CHECK_EQ(weft_metrics_get(m, "nope", &st), WEFT_ENOENT);
    CHECK_EQ(weft_metrics_add(m, "", 1), WEFT_EINVAL);
    CHECK_EQ(weft_metrics_add(m, NULL, 1), WEFT_EINVAL);
    CHECK_EQ(weft_metrics_add(NULL, "x", 1), WEFT_EINVAL);
    CHECK_EQ(weft_metrics_add(m, "x", NAN), WEFT_EINVAL);
    weft_timer_t t2 = {0};
    CHECK_EQ(weft_metrics_add_timer(m, "lap", &t2), WEFT_ESTATE);
    weft_timer_start(&t2);
    CHECK_EQ(weft_metrics_add_timer(m, "lap", &t2), 0);
    CHECK_EQ(weft_metrics_count(m), 2);
    CHECK_STR(weft_metrics_name(m, 1), "lap");
    CHECK(weft_metrics_name(m, 2) == NULL);
    CHECK_EQ(weft_metrics_write(m, stderr), 0);
    weft_metrics_reset(m);
    CHECK_EQ(weft_metrics_count(m), 0);
    weft_metrics_destroy(m);
    CHECK_EQ(weft_stats(NULL, 1, &st), WEFT_EINVAL);

    weft_bench_alt_t alts[2] = {{"fast", bench_sleep, (void *)(intptr_t)1000},
                                {"slow", bench_sleep, (void *)(intptr_t)4000}};
    weft_bench_result_t r[2];
    CHECK_EQ(weft_bench(alts, 2, 1, 5, r, stderr), 0);
    CHECK_EQ(r[0].s.count, 5);
    CHECK(r[0].ratio == 1.0);
    CHECK(r[1].ratio > 1.5); /* 4 ms against 1 ms, with sleep overheads */
    CHECK(r[0].s.min <= r[0].s.median && r[0].s.median <= r[0].s.max);
    weft_bench_alt_t bad[1] = {{"bad", bench_fail, NULL}};
    CHECK_EQ(weft_bench(bad, 1, 0, 3, r, NULL), -42);
    CHECK_EQ(weft_bench(alts, 0, 0, 3, r, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_bench(alts, 2, -1, 3, r, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_bench(alts, 2, 0, 0, r, NULL), WEFT_EINVAL);
    weft_bench_alt_t nofn[1] = {{"none", NULL, NULL}};
    CHECK_EQ(weft_bench(nofn, 1, 0, 1, r, NULL), WEFT_EINVAL);
}
