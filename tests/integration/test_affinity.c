/* Pinning: with WEFT_PIN_CORE every task runs on a thread bound to exactly
 * the PUs of one core (checked with pthread_getaffinity_np); WEFT_PIN_PU
 * binds to one PU; WEFT_PIN_NONE leaves threads alone; a process narrowed
 * to one CPU (what `taskset -c 0` does) gets one worker by default. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <weft.h>

#include "cpus.h"
#include "testlib.h"

enum { TASKS = 400 };
typedef struct seen {
    weft_runtime_t *rt;
    atomic_int bad, on_workers;
    cpu_set_t process;
    int pin;
} seen_t;

static int check_binding(weft_ctx_t *ctx, void *arg)
{
    seen_t *s = arg;
    int w = weft_ctx_worker(ctx);
    weft_runtime_info_t info;
    weft_runtime_info(s->rt, &info);
    if (w >= info.threads)
        return 0; /* a helping caller thread keeps its own affinity */
    atomic_fetch_add(&s->on_workers, 1);
    cpu_set_t cs;
    if (pthread_getaffinity_np(pthread_self(), sizeof cs, &cs) != 0) {
        atomic_fetch_add(&s->bad, 1);
        return 0;
    }
    int cpus[64];
    int n = weft_runtime_worker_cpus(s->rt, w, cpus, 64);
    if (s->pin == WEFT_PIN_NONE) {
        if (n != 0 || !CPU_EQUAL(&cs, &s->process))
            atomic_fetch_add(&s->bad, 1);
        return 0;
    }
    if (n < 1 || CPU_COUNT(&cs) != n || (s->pin == WEFT_PIN_PU && n != 1))
        atomic_fetch_add(&s->bad, 1);
    for (int i = 0; i < n && i < 64; i++)
        if (!CPU_ISSET(cpus[i], &cs))
            atomic_fetch_add(&s->bad, 1);
    /* All PUs of the set belong to one core (sysfs core id + package). */
    int core = -2, pkg = -2;
    for (int i = 0; i < n && i < 64; i++) {
        char path[128];
        int c = -1, p = -1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpus[i]);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &c) != 1)
                c = -1;
            fclose(f);
        }
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpus[i]);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &p) != 1)
                p = -1;
            fclose(f);
        }
        if ((core != -2 && c != core) || (pkg != -2 && p != pkg))
            atomic_fetch_add(&s->bad, 1);
        core = c;
        pkg = p;
    }
    return 0;
}

static void run_pinned(int pin, unsigned flags)
{
    seen_t s;
    memset(&s, 0, sizeof s);
    s.pin = pin;
    CHECK_EQ(sched_getaffinity(0, sizeof s.process, &s.process), 0);
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.pin = pin;
    cfg.flags = flags | WEFT_CONFIG_QUIET;
    CHECK_EQ(weft_runtime_create(&cfg, &s.rt), 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    for (int i = 0; i < TASKS; i++)
        CHECK(weft_graph_add(g, "probe", check_binding, &s));
    for (int r = 0; r < 5; r++)
        CHECK_EQ(weft_graph_run(s.rt, g), 0);
    CHECK_EQ(atomic_load(&s.bad), 0);
    /* A helping caller may legitimately run every task itself. */
    if (flags & WEFT_CONFIG_NO_CALLER_HELP)
        CHECK_EQ(atomic_load(&s.on_workers), 5 * TASKS);
    weft_graph_destroy(g);
    weft_runtime_destroy(s.rt);
}

TEST(pin_core_binds_each_worker_to_one_core)
{
    run_pinned(WEFT_PIN_CORE, WEFT_CONFIG_NO_CALLER_HELP);
}
TEST(pin_core_with_helping_caller)
{
    run_pinned(WEFT_PIN_CORE, 0);
}
TEST(pin_pu_binds_each_worker_to_one_pu)
{
    run_pinned(WEFT_PIN_PU, WEFT_CONFIG_NO_CALLER_HELP);
}
TEST(pin_none_leaves_affinity_alone)
{
    run_pinned(WEFT_PIN_NONE, WEFT_CONFIG_NO_CALLER_HELP);
}

TEST(one_cpu_process_gets_one_worker)
{
    int first = narrow_to_first_cpu(); /* as `taskset -c N` */
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(NULL, &rt), 0);
    weft_runtime_info_t info;
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    CHECK_EQ(info.threads, 1);
    CHECK_EQ(info.cores, 1);
    int cpus[4];
    CHECK_EQ(weft_runtime_worker_cpus(rt, 0, cpus, 4), 1);
    CHECK_EQ(cpus[0], first);
    weft_runtime_destroy(rt);
}

TEST(taskset_command_gives_one_worker)
{
    if (system("command -v taskset >/dev/null 2>&1") != 0)
        SKIP("taskset not installed");
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n] = '\0';
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' one_cpu_process_gets_one_worker >/dev/null 2>&1", self);
    CHECK_EQ(system(cmd), 0);
}

TEST(more_workers_than_cores_share)
{
    weft_runtime_info_t info;
    weft_runtime_t *rt;
    weft_config_t cfg;
    weft_config_init(&cfg);
    CHECK_EQ(weft_runtime_create(NULL, &rt), 0);
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    weft_runtime_destroy(rt);
    cfg.threads = info.cores * 2 + 1;
    cfg.flags = WEFT_CONFIG_QUIET;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    int a[8], b[8];
    int na = weft_runtime_worker_cpus(rt, 0, a, 8);
    int nb = weft_runtime_worker_cpus(rt, info.cores, b, 8);
    CHECK(na >= 1 && na == nb && a[0] == b[0]); /* wrapped around */
    weft_runtime_destroy(rt);
}
