/* An idle runtime parks its workers: over one second it must use less than
 * 5% of one CPU (process CPU time), after real work has run on it. */
#include <time.h>

#include <weft.h>

#include "testlib.h"

static int busy(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    volatile double x = 0;
    for (int i = 0; i < 20000; i++)
        x += i * 0.5;
    (void)arg;
    return 0;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void idle_check(int threads)
{
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = threads;
    cfg.flags = WEFT_CONFIG_QUIET;
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    for (int i = 0; i < 2000; i++)
        CHECK(weft_graph_add(g, "busy", busy, NULL));
    CHECK_EQ(weft_graph_run(rt, g), 0);
    usleep(100000); /* let the spin phase end */
    double c0 = cpu_seconds();
    sleep(1);
    double used = cpu_seconds() - c0;
    fprintf(stderr, "  %d worker(s) idle for 1 s used %.4f s of CPU\n", threads, used);
    CHECK(used < 0.05);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(idle_default_runtime_sleeps)
{
    idle_check(0);
}
TEST(idle_eight_workers_sleep)
{
    idle_check(8);
}
