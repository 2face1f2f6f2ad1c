/* Allocation tracking (tracemalloc-like): exact snapshots of a known
 * workload by task, by file:line and by site, differences between
 * snapshots, per-task current and peak, the leak report at destroy naming
 * the task and line, text and JSON output, many tasks at once, misuse. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft.h>

#include "rt.h"
#include "testlib.h"

static void *kept[32];
static int small_line, big_line;

static int alpha(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_runtime_t *rt = weft_ctx_runtime(ctx);
    for (int i = 0; i < 10; i++) {
        small_line = __LINE__ + 1;
        kept[i] = WEFT_MEM_ALLOC(rt, 1000); /* class 1024 */
    }
    for (int i = 0; i < 3; i++) {
        big_line = __LINE__ + 1;
        kept[10 + i] = WEFT_MEM_ALLOC(rt, 100000); /* class 114688 */
    }
    return 0;
}

static int beta(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_runtime_t *rt = weft_ctx_runtime(ctx);
    for (int i = 0; i < 5; i++)
        kept[13 + i] = weft_mem_alloc(rt, 64);
    void *t = weft_mem_alloc(rt, 4096); /* freed at once: not in snapshots */
    weft_mem_free(rt, t);
    return 0;
}

static weft_mem_entry_t *find_task(weft_mem_entry_t *e, size_t n, const char *task)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].task && !strcmp(e[i].task, task))
            return &e[i];
    return NULL;
}

TEST(snapshots_of_a_known_workload)
{
    weft_runtime_t *rt = make_rt(2, 0);
    CHECK_EQ(weft_mem_track_start(rt, 1), 0);
    CHECK_EQ(weft_mem_tracking(rt), 1);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_graph_add(g, "alpha", alpha, NULL);
    weft_graph_add(g, "beta", beta, NULL);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    void *outside = weft_mem_alloc(rt, 200);

    weft_mem_snapshot_t *a;
    CHECK_EQ(weft_mem_snapshot_take(rt, &a), 0);
    weft_mem_entry_t e[16];
    size_t n;
    CHECK_EQ(weft_mem_snapshot_top(a, NULL, WEFT_MEM_BY_TASK, e, 16, &n), 0);
    CHECK_EQ(n, 3);
    CHECK(e[0].task && !strcmp(e[0].task, "alpha")); /* biggest first */
    CHECK_EQ(e[0].size, 10 * 1024 + 3 * 114688);
    CHECK_EQ(e[0].count, 13);
    weft_mem_entry_t *b = find_task(e, n, "beta");
    CHECK(b && b->size == 5 * 64 && b->count == 5);
    CHECK(e[2].task == NULL && e[2].size == 256 && e[2].count == 1); /* outside any task */

    CHECK_EQ(weft_mem_snapshot_top(a, NULL, WEFT_MEM_BY_LINE, e, 16, &n), 0);
    CHECK_EQ(n, 3); /* two lines, and the allocations without one */
    CHECK(e[0].file && strstr(e[0].file, "test_track.c") && e[0].line == big_line && e[0].count == 3);
    CHECK(e[1].file && e[1].line == small_line && e[1].size == 10 * 1024);
    CHECK(e[2].file == NULL && e[2].count == 6);

    CHECK_EQ(weft_mem_snapshot_top(a, NULL, WEFT_MEM_BY_SITE, e, 16, &n), 0);
    CHECK_EQ(n, 4); /* the two lines, beta's call and the one outside */
    for (size_t i = 0; i < n; i++)
        CHECK(e[i].ntrace == 1 && e[i].trace[0] != NULL);

    size_t cur, peak;
    CHECK_EQ(weft_mem_task_usage(rt, "alpha", &cur, &peak), 0);
    CHECK_EQ(cur, 10 * 1024 + 3 * 114688);
    CHECK_EQ(weft_mem_task_usage(rt, "beta", &cur, &peak), 0);
    CHECK_EQ(cur, 320);
    CHECK_EQ(peak, 320 + 4096);
    CHECK_EQ(weft_mem_task_usage(rt, "nobody", &cur, &peak), 0);
    CHECK_EQ(cur, 0);

    /* alpha's small blocks go, beta gets one more */
    for (int i = 0; i < 10; i++)
        weft_mem_free(rt, kept[i]);
    weft_mem_free(rt, outside);
    weft_mem_snapshot_t *bsnap;
    CHECK_EQ(weft_mem_snapshot_take(rt, &bsnap), 0);
    CHECK_EQ(weft_mem_snapshot_top(bsnap, a, WEFT_MEM_BY_TASK, e, 16, &n), 0);
    CHECK_EQ(n, 3);
    CHECK(e[0].task && !strcmp(e[0].task, "alpha"));
    CHECK_EQ(e[0].size_diff, -10 * 1024);
    CHECK_EQ(e[0].count_diff, -10);
    CHECK(e[1].task == NULL && e[1].size == 0 && e[1].size_diff == -256); /* gone */
    CHECK(e[2].task && !strcmp(e[2].task, "beta") && e[2].size_diff == 0);
    CHECK_EQ(weft_mem_task_usage(rt, "alpha", &cur, &peak), 0);
    CHECK_EQ(cur, 3 * 114688);
    CHECK_EQ(peak, 10 * 1024 + 3 * 114688);

    /* text and JSON */
    FILE *f = tmpfile();
    CHECK_EQ(weft_mem_snapshot_write(bsnap, a, WEFT_MEM_BY_TASK, 0, 0, f), 0);
    CHECK_EQ(weft_mem_snapshot_write(a, NULL, WEFT_MEM_BY_LINE, 2, 1, f), 0);
    CHECK_EQ(weft_mem_snapshot_write(a, NULL, WEFT_MEM_BY_SITE, 0, 0, f), 0);
    rewind(f);
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    CHECK(strstr(text, "        344064         -10240         3       -10  alpha") != NULL);
    CHECK(strstr(text, "(outside any task)") != NULL);
    CHECK(strstr(text, "{\"group\": \"line\", \"compare\": false, \"entries\": [") != NULL);
    CHECK(strstr(text, "\"size\": 344064, \"count\": 3}") != NULL);
    CHECK(strstr(text, "test_track.c\", \"line\": ") != NULL);
    CHECK(strstr(text, "  at ") != NULL || strstr(text, "0x") != NULL);

    for (int i = 10; i < 18; i++)
        weft_mem_free(rt, kept[i]);
    weft_mem_snapshot_t *c;
    CHECK_EQ(weft_mem_snapshot_take(rt, &c), 0);
    CHECK_EQ(weft_mem_snapshot_top(c, NULL, WEFT_MEM_BY_TASK, e, 16, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(weft_mem_track_stop(rt), 0);
    CHECK_EQ(weft_mem_tracking(rt), 0);
    weft_mem_snapshot_destroy(c);
    weft_mem_snapshot_destroy(bsnap);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    /* a snapshot outlives its runtime */
    CHECK_EQ(weft_mem_snapshot_top(a, NULL, WEFT_MEM_BY_TASK, e, 16, &n), 0);
    CHECK(n == 3 && e[0].task && !strcmp(e[0].task, "alpha"));
    weft_mem_snapshot_destroy(a);
}

static int leaky(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return WEFT_MEM_ALLOC(weft_ctx_runtime(ctx), 4000) ? 0 : -1;
}
static const int leaky_line = __LINE__ - 2; /* the allocation's */

TEST(leaks_named_at_destroy)
{
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        weft_runtime_t *rt = make_rt(1, 0);
        weft_mem_track_start(rt, 4);
        weft_graph_t *g;
        weft_graph_create(&g);
        weft_graph_add(g, "leaky-7", leaky, NULL);
        weft_graph_run(rt, g);
        weft_graph_destroy(g);
        weft_runtime_destroy(rt);
        _exit(0);
    }
    close(fds[1]);
    char text[4096];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof text - 1 && (r = read(fds[0], text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)r;
    text[len] = '\0';
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char want[256];
    snprintf(want, sizeof want, "weft: memory leak: 4096 bytes in 1 block(s) allocated in task 'leaky-7' at ");
    CHECK(strstr(text, want) != NULL);
    snprintf(want, sizeof want, "test_track.c:%d\n", leaky_line);
    CHECK(strstr(text, want) != NULL);
    CHECK(strstr(text, "weft: memory leak: 1 block(s) of the pool still in use") != NULL);
}

/* A task's current and peak over several runs, whichever worker runs it,
 * read from inside the task (its bytes still pending on its worker) and
 * after, with a block freed by another thread. */
static void *held[8];
static int keeper_run;

static int keeper(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_runtime_t *rt = weft_ctx_runtime(ctx);
    int run = keeper_run++;
    held[run] = weft_mem_alloc(rt, 1000); /* class 1024, kept */
    void *tmp = weft_mem_alloc(rt, 4096);
    size_t cur, peak;
    if (!held[run] || !tmp || weft_mem_task_usage(rt, "keeper", &cur, &peak) != 0)
        return -1;
    weft_mem_free(rt, tmp);
    /* what the earlier runs kept, this run's block and the temporary */
    return cur == (size_t)(run + 1) * 1024 + 4096 && peak == cur ? 0 : -2;
}

static int other(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_runtime_t *rt = weft_ctx_runtime(ctx);
    void *p = weft_mem_alloc(rt, 20000);
    weft_mem_free(rt, p);
    return p ? 0 : -1;
}

TEST(task_usage_over_runs_and_threads)
{
    weft_runtime_t *rt = make_rt(2, 0);
    CHECK_EQ(weft_mem_track_start(rt, 1), 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    CHECK(weft_graph_add(g, "keeper", keeper, NULL) != NULL);
    char name[16];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "other-%d", i);
        CHECK(weft_graph_add(g, name, other, NULL) != NULL);
    }
    for (int r = 0; r < 6; r++)
        CHECK_EQ(weft_graph_run(rt, g), 0);
    size_t cur, peak;
    CHECK_EQ(weft_mem_task_usage(rt, "keeper", &cur, &peak), 0);
    CHECK_EQ(cur, 6 * 1024);
    CHECK_EQ(peak, 6 * 1024 + 4096);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "other-%d", i);
        CHECK_EQ(weft_mem_task_usage(rt, name, &cur, &peak), 0);
        CHECK_EQ(cur, 0);
        CHECK_EQ(peak, 20480); /* the class of 20000 */
    }
    weft_mem_free(rt, held[0]); /* from outside any task */
    CHECK_EQ(weft_mem_task_usage(rt, "keeper", &cur, &peak), 0);
    CHECK_EQ(cur, 5 * 1024);
    CHECK_EQ(peak, 6 * 1024 + 4096);
    for (int r = 1; r < 6; r++)
        weft_mem_free(rt, held[r]);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* Many tasks on all workers allocating and freeing while tracked. */
static int churn(weft_ctx_t *ctx, void *arg)
{
    weft_runtime_t *rt = weft_ctx_runtime(ctx);
    void *p[16];
    for (int r = 0; r < 20; r++) {
        for (int i = 0; i < 16; i++)
            if (!(p[i] = weft_mem_alloc(rt, (size_t)(64 + ((uintptr_t)arg * 37 + (unsigned)i * 101) % 9000))))
                return -1;
        for (int i = 0; i < 16; i++)
            weft_mem_free(rt, p[i]);
    }
    return 0;
}

TEST(many_tasks_tracked_at_once)
{
    weft_runtime_t *rt = make_rt(0, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    for (uintptr_t i = 0; i < 200; i++)
        weft_graph_add(g, NULL, churn, (void *)i);
    CHECK_EQ(weft_mem_track_start(rt, 3), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_mem_snapshot_t *s;
    CHECK_EQ(weft_mem_snapshot_take(rt, &s), 0);
    size_t n;
    CHECK_EQ(weft_mem_snapshot_top(s, NULL, WEFT_MEM_BY_TASK, NULL, 0, &n), 0);
    CHECK_EQ(n, 0);
    weft_mem_snapshot_destroy(s);
    CHECK_EQ(weft_mem_track_stop(rt), 0);
    CHECK_EQ(weft_mem_track_start(rt, 0), 0); /* again */
    CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(misuse)
{
    weft_runtime_t *rt = make_rt(1, 0);
    weft_mem_snapshot_t *s = (weft_mem_snapshot_t *)1;
    size_t a, b, n;
    CHECK_EQ(weft_mem_track_start(NULL, 1), WEFT_EINVAL);
    CHECK_EQ(weft_mem_track_start(rt, -1), WEFT_EINVAL);
    CHECK_EQ(weft_mem_track_start(rt, 17), WEFT_EINVAL);
    CHECK_EQ(weft_mem_track_stop(rt), WEFT_ESTATE);
    CHECK_EQ(weft_mem_snapshot_take(rt, &s), WEFT_ESTATE);
    CHECK(s == NULL);
    CHECK_EQ(weft_mem_task_usage(rt, "x", &a, &b), WEFT_ESTATE);
    CHECK_EQ(weft_mem_track_start(rt, 2), 0);
    CHECK_EQ(weft_mem_track_start(rt, 2), WEFT_ESTATE);
    CHECK_EQ(weft_mem_snapshot_take(rt, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_mem_snapshot_take(NULL, &s), WEFT_EINVAL);
    CHECK_EQ(weft_mem_task_usage(rt, "x", NULL, &b), WEFT_EINVAL);
    CHECK_EQ(weft_mem_snapshot_take(rt, &s), 0);
    CHECK_EQ(weft_mem_snapshot_top(NULL, NULL, WEFT_MEM_BY_TASK, NULL, 0, &n), WEFT_EINVAL);
    CHECK_EQ(weft_mem_snapshot_top(s, NULL, (weft_mem_group_t)9, NULL, 0, &n), WEFT_EINVAL);
    CHECK_EQ(weft_mem_snapshot_top(s, NULL, WEFT_MEM_BY_TASK, NULL, 3, &n), WEFT_EINVAL);
    CHECK_EQ(weft_mem_snapshot_write(s, NULL, WEFT_MEM_BY_TASK, 0, 0, NULL), WEFT_EINVAL);
    CHECK(weft_mem_alloc_at(NULL, 10, __FILE__, __LINE__) == NULL);
    weft_mem_snapshot_destroy(s);
    weft_mem_snapshot_destroy(NULL);
    CHECK_EQ(weft_mem_tracking(NULL), 0);
    weft_runtime_destroy(rt); /* tracking on, nothing live: no report */
}
