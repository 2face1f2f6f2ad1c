/* Process tasks from the C API (include/weft/process.h): in one graph with
 * C tasks, with cores, environment, output files, failures, timeouts,
 * retries, admission, and every misuse. Each test works in a fresh
 * temporary directory. */
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <weft.h>

#include "rt.h"
#include "testlib.h"
#include "util.h"

static char dir[64];

static void in_temp_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-proctask-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ(chdir(dir), 0);
}

#define slurp(path) test_slurp((path), 1)

static weft_task_t *add_sh(weft_graph_t *g, const char *name, const char *script, weft_process_spec_t *s)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    weft_process_spec_t def;
    if (!s) {
        weft_process_spec_init(&def);
        s = &def;
    }
    s->argv = argv;
    weft_task_t *t = NULL;
    CHECK_EQ(weft_graph_add_process(g, name, s, &t), 0);
    return t;
}

static int write_input(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    FILE *f = fopen("in.txt", "w");
    if (!f)
        return 1;
    fputs("from C\n", f);
    return fclose(f) != 0;
}

static atomic_int read_ok;
static int read_output(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    char *s = slurp("out.txt");
    atomic_store(&read_ok, s && strcmp(s, "from C, through sh") == 0);
    return 0;
}

TEST(c_and_process_tasks_in_one_graph)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *w = weft_graph_add(g, "write", write_input, NULL);
    weft_task_t *p = add_sh(g, "copy", "printf '%s, through sh\\n' \"$(cat in.txt)\" > out.txt", NULL);
    weft_task_t *r = weft_graph_add(g, "read", read_output, NULL);
    weft_task_after(p, w);
    weft_task_after(r, p);
    for (int rep = 0; rep < 3; rep++) { /* rerunnable */
        atomic_store(&read_ok, 0);
        unlink("out.txt");
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(atomic_load(&read_ok), 1);
        const weft_process_attempt_t *a;
        CHECK_EQ(weft_task_process_attempts(p, &a), 1);
        CHECK_EQ(a[0].status, 0);
        CHECK_EQ(a[0].started, 1);
        CHECK_EQ(a[0].exit_code, 0);
        CHECK_EQ(a[0].signal, 0);
        CHECK(a[0].wall_s > 0 && a[0].wall_s < 30);
        CHECK(a[0].maxrss_kb > 0);
        CHECK(a[0].cpus[0] != '\0'); /* bound (pin core by default) */
    }
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(environment_output_and_binding)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    const char *env[] = {"FOO=bar baz", "HOME=/nowhere", NULL};
    s.env = env;
    s.stdout_path = "out/log.txt"; /* relative to the current directory, which has out/ */
    mkdir("out", 0755);
    s.stderr_path = "err.txt";
    weft_task_t *t = add_sh(g, "env",
                            "echo \"$FOO|$HOME|$OMP_NUM_THREADS|$WEFT_ATTEMPT|$WEFT_CPUS|"
                            "$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)\"; echo oops >&2",
                            &s);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    const weft_process_attempt_t *a;
    CHECK_EQ(weft_task_process_attempts(t, &a), 1);
    char want[600];
    snprintf(want, sizeof want, "bar baz|/nowhere|1|1|%s|%s", a[0].cpus, a[0].cpus);
    CHECK_STR(slurp("out/log.txt"), want);
    CHECK_STR(slurp("err.txt"), "oops");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int never_runs(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

TEST(failures_say_why)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *bad = add_sh(g, "exit3", "exit 3", NULL);
    weft_task_t *dep = weft_graph_add(g, "after-exit3", never_runs, NULL);
    weft_task_after(dep, bad);
    weft_task_t *killed = add_sh(g, "killed", "kill -9 $$", NULL);
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    const char *missing_argv[] = {"/nonexistent/prog", NULL};
    s.argv = missing_argv;
    weft_task_t *missing;
    CHECK_EQ(weft_graph_add_process(g, "missing", &s, &missing), 0);
    weft_process_spec_init(&s);
    s.cpus = 4096; /* more than this machine: fails, the rest runs */
    weft_task_t *wide = add_sh(g, "wide", "true", &s);
    weft_task_t *fine = add_sh(g, "fine", "true", NULL);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_status(bad), WEFT_ETASK);
    CHECK_STR(weft_task_error(bad), "exited with status 3");
    CHECK_EQ(weft_task_state(dep), WEFT_TASK_CANCELLED);
    const weft_process_attempt_t *a;
    CHECK_EQ(weft_task_process_attempts(bad, &a), 1);
    CHECK_EQ(a[0].exit_code, 3);
    CHECK_STR(weft_task_error(killed), "killed by signal 9 (SIGKILL)");
    CHECK_EQ(weft_task_process_attempts(killed, &a), 1);
    CHECK_EQ(a[0].signal, 9);
    CHECK_EQ(a[0].exit_code, -1);
    CHECK_STR(weft_task_error(missing), "cannot run '/nonexistent/prog': No such file or directory");
    CHECK_EQ(weft_task_process_attempts(missing, &a), 1);
    CHECK_EQ(a[0].started, 0);
    CHECK_EQ(weft_task_status(wide), WEFT_EINVAL);
    weft_runtime_info_t info;
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    char want[128];
    snprintf(want, sizeof want, "needs 4096 cores but the runtime has %d", info.cores);
    CHECK_STR(weft_task_error(wide), want);
    CHECK_EQ(weft_task_process_attempts(wide, &a), 0);
    CHECK_EQ(weft_task_state(fine), WEFT_TASK_DONE);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

#define now_s test_now_s

TEST(timeout_and_retries)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    s.timeout_s = 0.2;
    s.grace_s = 0.5;
    /* a grandchild too: the whole group goes */
    weft_task_t *slow = add_sh(g, "slow", "sleep 30 & echo $! > gc.pid; wait", &s);
    weft_process_spec_init(&s);
    s.retries = 3;
    weft_task_t *flaky =
        add_sh(g, "flaky", "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; [ $n -ge 2 ]", &s);
    weft_process_spec_init(&s);
    s.retries = 1;
    weft_task_t *hopeless = add_sh(g, "hopeless", "exit 7", &s);
    double t0 = now_s();
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK(now_s() - t0 < 10);
    CHECK_EQ(weft_task_status(slow), WEFT_ETIMEDOUT);
    CHECK_STR(weft_task_error(slow), "timed out after 0.2 s");
    const weft_process_attempt_t *a;
    CHECK_EQ(weft_task_process_attempts(slow, &a), 1);
    CHECK_EQ(a[0].status, WEFT_ETIMEDOUT);
    CHECK_EQ(a[0].signal, SIGTERM);
    char *pid = slurp("gc.pid");
    CHECK(pid != NULL);
    for (int i = 0; i < 50 && kill(atoi(pid), 0) == 0; i++) /* reaped by nobody here: killed is enough */
        usleep(20000);
    char stat[64], st = 'X';
    snprintf(stat, sizeof stat, "/proc/%d/stat", atoi(pid));
    FILE *f = fopen(stat, "r");
    if (f) {
        CHECK(fscanf(f, "%*d %*s %c", &st) == 1);
        fclose(f);
        CHECK(st == 'Z'); /* a zombie at most: the grandchild died with its group */
    }
    CHECK_EQ(weft_task_state(flaky), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_process_attempts(flaky, &a), 3);
    CHECK(a[0].status == WEFT_ETASK && a[0].exit_code == 1 && a[1].exit_code == 1 && a[2].status == 0);
    CHECK_EQ(weft_task_attempts(flaky), 1); /* (C-task retries are another thing) */
    CHECK_EQ(weft_task_process_attempts(hopeless, &a), 2);
    CHECK_STR(weft_task_error(hopeless), "exited with status 7");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(admission_never_oversubscribes)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt(2, 0);
    weft_runtime_info_t info;
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    s.cpus = info.cores; /* each needs the whole machine: one at a time */
    weft_task_t *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = add_sh(g, NULL, "mkdir lock || exit 9; sleep 0.05; rmdir lock", &s);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(weft_task_state(t[i]), WEFT_TASK_DONE);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static atomic_int hold;
static int holder(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    while (atomic_load(&hold))
        usleep(1000);
    return 0;
}

TEST(misuse)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    const char *argv[] = {"true", NULL}, *empty[] = {"", NULL}, *none[] = {NULL};
    const char *badenv[] = {"NOEQUALS", NULL}, *badenv2[] = {"=x", NULL};
    weft_task_t *t = NULL;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL); /* no argv */
    s.argv = argv;
    CHECK_EQ(weft_graph_add_process(NULL, "x", &s, &t), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_process(g, "x", NULL, &t), WEFT_EINVAL);
    CHECK_EQ(weft_graph_add_process(g, "x", &s, NULL), WEFT_EINVAL);
    s.argv = empty;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.argv = none;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.argv = argv;
    s.cpus = 0;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.cpus = 1;
    s.timeout_s = -1;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.timeout_s = NAN;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.timeout_s = 0;
    s.grace_s = -2;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.grace_s = 0;
    s.retries = -1;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.retries = 1001;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.retries = 0;
    s.env = badenv;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.env = badenv2;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.env = NULL;
    CHECK(t == NULL);
    weft_process_spec_init(NULL); /* no crash */
    const weft_process_attempt_t *a;
    CHECK_EQ(weft_task_process_attempts(NULL, &a), WEFT_EINVAL);
    weft_task_t *c = weft_graph_add(g, "c", holder, NULL);
    CHECK_EQ(weft_task_process_attempts(c, &a), WEFT_EINVAL); /* a C task */
    CHECK_EQ(weft_graph_add_process(g, "p", &s, &t), 0);
    CHECK_EQ(weft_task_process_attempts(t, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_task_process_attempts(t, &a), 0); /* not run yet */
    weft_runtime_t *rt = make_rt(2, 0);
    atomic_store(&hold, 1);
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    CHECK_EQ(weft_graph_add_process(g, "late", &s, &t), WEFT_EBUSY);
    CHECK_EQ(weft_task_process_attempts(t, &a), WEFT_EBUSY);
    atomic_store(&hold, 0);
    CHECK_EQ(weft_graph_wait(g), 0);
    CHECK_EQ(weft_task_process_attempts(t, &a), 1);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- C tasks with cpus: the same admission, bound while they run --------- */

#include <sched.h>

static atomic_int running_now, most_at_once, bound_ok;
static int wants_cores(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    int want = (int)(intptr_t)arg;
    int now = atomic_fetch_add(&running_now, 1) + 1;
    int m = atomic_load(&most_at_once);
    while (now > m && !atomic_compare_exchange_weak(&most_at_once, &m, now))
        ;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= want)
        atomic_fetch_add(&bound_ok, 1);
    /* also against the process tasks: the same lock they take */
    int locked = mkdir("lock", 0755) == 0;
    usleep(30000);
    if (locked)
        rmdir("lock");
    atomic_fetch_sub(&running_now, 1);
    return locked ? 0 : 9;
}

TEST(c_tasks_with_cpus)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt(2, 0);
    weft_runtime_info_t info;
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    int all = info.cores;
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = weft_graph_add(g, NULL, wants_cores, (void *)(intptr_t)all);
        CHECK_EQ(weft_task_set_cpus(c[i], all), 0); /* the whole machine: one at a time */
    }
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    s.cpus = all;
    weft_task_t *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = add_sh(g, NULL, "mkdir lock || exit 9; sleep 0.03; rmdir lock", &s);
    weft_task_t *wide = weft_graph_add(g, "wide", wants_cores, (void *)1);
    CHECK_EQ(weft_task_set_cpus(wide, 4096), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK); /* only "wide" fails */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(weft_task_state(c[i]), WEFT_TASK_DONE);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(weft_task_state(p[i]), WEFT_TASK_DONE);
    CHECK_EQ(atomic_load(&most_at_once), 1);
    CHECK_EQ(atomic_load(&bound_ok), 4);
    CHECK_EQ(weft_task_status(wide), WEFT_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "needs 4096 cores but the runtime has %d", all);
    CHECK_STR(weft_task_error(wide), want);
    /* misuse */
    CHECK_EQ(weft_task_set_cpus(NULL, 1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_cpus(wide, -1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_cpus(wide, 5000), WEFT_EINVAL);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int count_cpus(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    *(int *)arg = CPU_COUNT(&set);
    return 0;
}

TEST(c_task_bound_to_exactly_its_cores)
{
    /* only pinned workers run tasks (a helping caller keeps its affinity) */
    weft_runtime_t *rt = make_rt(2, WEFT_CONFIG_NO_CALLER_HELP);
    weft_runtime_info_t info;
    CHECK_EQ(weft_runtime_info(rt, &info), 0);
    if (info.cores < 2 || info.pus != info.cores)
        SKIP("needs 2 or more cores without SMT siblings (one PU per core)");
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    int got = 0, after = 0;
    weft_task_t *t = weft_graph_add(g, "one", count_cpus, &got);
    CHECK_EQ(weft_task_set_cpus(t, 1), 0);
    weft_task_t *u = weft_graph_add(g, "plain", count_cpus, &after);
    weft_task_after(u, t);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(got, 1);
    CHECK_EQ(after, 1); /* a pinned worker is back on its own core */
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(graph_error_names_weft_codes)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    add_sh(g, "exit3", "exit 3", NULL);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_STR(weft_graph_error(g),
              "task \"exit3\" failed: WEFT_ETASK (exited with status 3); 1 task(s) failed, 0 cancelled, 0 not run");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ---- GPUs for process tasks: declared with weft_config_t.gpus here ------- */

TEST(process_tasks_with_gpus)
{
    in_temp_dir();
    unsetenv("CUDA_VISIBLE_DEVICES");
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = 2;
    cfg.flags = WEFT_CONFIG_QUIET;
    cfg.gpus = 2; /* declared: no GPU needed to hand them out */
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    s.gpus = 1;
    /* both at once (2 cores, 2 GPUs): each its own GPU */
    weft_task_t *a = add_sh(g, "a", "echo \"$CUDA_VISIBLE_DEVICES $WEFT_GPUS\" > a.txt; sleep 0.3", &s);
    weft_task_t *b = add_sh(g, "b", "echo \"$CUDA_VISIBLE_DEVICES $WEFT_GPUS\" > b.txt; sleep 0.3", &s);
    weft_process_spec_init(&s);
    s.gpus = 3;
    weft_task_t *many = add_sh(g, "many", "true", &s);
    weft_task_t *none = add_sh(g, "none", "echo \"${CUDA_VISIBLE_DEVICES-unset}\" > none.txt", NULL);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK(test_slurp("a.txt", 1) != NULL);
    char *ga = strdup(test_slurp("a.txt", 1));
    CHECK(test_slurp("b.txt", 1) != NULL);
    char *gb = strdup(test_slurp("b.txt", 1));
    CHECK((strcmp(ga, "0 0") == 0 && strcmp(gb, "1 1") == 0) || (strcmp(ga, "1 1") == 0 && strcmp(gb, "0 0") == 0));
    const weft_process_attempt_t *at;
    CHECK_EQ(weft_task_process_attempts(a, &at), 1);
    CHECK(strcmp(at[0].gpus, "0") == 0 || strcmp(at[0].gpus, "1") == 0);
    free(ga);
    free(gb);
    CHECK_EQ(weft_task_process_attempts(b, &at), 1);
    CHECK_EQ(weft_task_status(many), WEFT_EINVAL);
    CHECK_STR(weft_task_error(many), "needs 3 GPUs but the runtime has 2");
    CHECK_STR(test_slurp("none.txt", 1), "unset");
    CHECK_EQ(weft_task_state(none), WEFT_TASK_DONE);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    /* names through weft's own CUDA_VISIBLE_DEVICES */
    setenv("CUDA_VISIBLE_DEVICES", "GPU-aaa,GPU-bbb", 1);
    cfg.gpus = 1;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_init(&s);
    s.gpus = 1;
    a = add_sh(g, "a", "echo \"$CUDA_VISIBLE_DEVICES\" > a.txt", &s);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_STR(test_slurp("a.txt", 1), "GPU-aaa");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    unsetenv("CUDA_VISIBLE_DEVICES");
    /* misuse */
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_init(&s);
    const char *argv[] = {"true", NULL};
    s.argv = argv;
    s.gpus = -1;
    weft_task_t *t;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.gpus = 65;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    weft_graph_destroy(g);
    weft_config_init(&cfg);
    cfg.gpus = 65;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    cfg.gpus = -2;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
}

static int fails_soon(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    usleep(100000);
    return weft_ctx_fail(ctx, 3, "gave up");
}

/* weft_graph_cancel ends the running processes (TERM, then KILL after
 * their grace) instead of waiting for them, and a cancelled task is not
 * retried; a fail-fast stop lets them finish. */
TEST(stopping_a_run_ends_its_processes)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    s.retries = 3;
    s.grace_s = 0.2;
    weft_task_t *slow = add_sh(g, "slow", "sleep 30", &s);
    weft_process_spec_init(&s);
    s.grace_s = 0.2;
    /* ignores SIGTERM: KILL after the grace */
    weft_task_t *stubborn = add_sh(g, "stubborn", "trap '' TERM; sleep 30", &s);
    CHECK_STR(weft_task_kind(slow), "process");
    /* its limits are its spec's: the C-task setters refuse it */
    CHECK_EQ(weft_task_set_timeout(slow, 1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_retries(slow, 1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_cpus(slow, 1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_gpus(slow, 1), WEFT_EINVAL);
    double t0 = now_s();
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    usleep(300000);
    CHECK_EQ(weft_graph_cancel(g), 0);
    CHECK_EQ(weft_graph_wait(g), WEFT_ETASK);
    CHECK(now_s() - t0 < 5);
    const weft_process_attempt_t *a;
    CHECK_EQ(weft_task_process_attempts(slow, &a), 1); /* not retried */
    CHECK_EQ(a[0].status, WEFT_ECANCELED);
    CHECK_EQ(a[0].signal, SIGTERM);
    CHECK_EQ(weft_task_process_attempts(stubborn, &a), 1);
    CHECK_EQ(a[0].signal, SIGKILL);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);

    /* fail-fast starts nothing new but lets running commands finish */
    rt = make_rt(2, WEFT_CONFIG_FAIL_FAST | WEFT_CONFIG_NO_CALLER_HELP);
    CHECK_EQ(weft_graph_create(&g), 0);
    slow = add_sh(g, "slow", "sleep 0.6", NULL);
    weft_task_t *c;
    CHECK_EQ(weft_graph_add_ex(g, "c", fails_soon, NULL, 0, &c), 0);
    CHECK_STR(weft_task_kind(c), "function");
    weft_task_t *later = add_sh(g, "later", "true", NULL);
    CHECK_EQ(weft_task_after(later, c), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(slow), WEFT_TASK_DONE);
    CHECK(weft_task_state(later) != WEFT_TASK_DONE);
    CHECK(strstr(weft_graph_error(g), "\"c\"") != NULL);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    CHECK(weft_task_kind(NULL) == NULL);
}

/* GPUs for C tasks: each takes one GPU of the runtime's budget; two hold
 * different ones at once, never more than the budget, the same budget as
 * the process tasks' (a process task holding both GPUs excludes them). */
static atomic_int gpu_holders, gpu_most, gpu_bad;
static int wants_gpu(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    int devs[4] = {-1, -1, -1, -1};
    int n = weft_ctx_gpus(ctx, devs, 4);
    if (n != 1 || devs[0] < 0 || devs[1] != -1 || weft_ctx_gpus(ctx, NULL, 0) != 1)
        atomic_fetch_add(&gpu_bad, 1);
    int now = atomic_fetch_add(&gpu_holders, 1) + 1;
    int m = atomic_load(&gpu_most);
    while (now > m && !atomic_compare_exchange_weak(&gpu_most, &m, now))
        ;
    /* two holders of one GPU at once would find its lock taken */
    int locked = mkdir(devs[0] == 0 ? "gpu0" : "gpu1", 0755) == 0;
    usleep(50000);
    if (locked)
        rmdir(devs[0] == 0 ? "gpu0" : "gpu1");
    atomic_fetch_sub(&gpu_holders, 1);
    return locked ? 0 : 9;
}

static int no_gpu(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_ctx_gpus(ctx, NULL, 0) == 0 ? 0 : 5;
}

TEST(c_tasks_with_gpus)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt_gpus(4, 2); /* declared: no GPU needed to hand them out */
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *t[6];
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(weft_graph_add_ex(g, NULL, wants_gpu, NULL, 0, &t[i]), 0);
        CHECK_EQ(weft_task_set_gpus(t[i], 1), 0);
    }
    /* a process task holding both GPUs: no C task runs beside it */
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    s.gpus = 2;
    weft_task_t *both = add_sh(g, "both", "mkdir gpu0 && mkdir gpu1 && sleep 0.1; r=$?; rmdir gpu0 gpu1; exit $r", &s);
    weft_task_t *plain, *many;
    CHECK_EQ(weft_graph_add_ex(g, "plain", no_gpu, NULL, 0, &plain), 0);
    CHECK_EQ(weft_graph_add_ex(g, "many", no_gpu, NULL, 0, &many), 0);
    CHECK_EQ(weft_task_set_gpus(many, 3), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(weft_task_state(t[i]), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_state(both), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_state(plain), WEFT_TASK_DONE);
    CHECK_EQ(atomic_load(&gpu_bad), 0);
    CHECK(atomic_load(&gpu_most) <= 2);
    CHECK_EQ(weft_task_status(many), WEFT_EINVAL);
    CHECK_STR(weft_task_error(many), "needs 3 GPUs but the runtime has 2");
    weft_graph_destroy(g);
    /* misuse */
    CHECK_EQ(weft_task_set_gpus(NULL, 1), WEFT_EINVAL);
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *x;
    CHECK_EQ(weft_graph_add_ex(g, "x", no_gpu, NULL, 0, &x), 0);
    CHECK_EQ(weft_task_set_gpus(x, -1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_gpus(x, 65), WEFT_EINVAL);
    CHECK_EQ(weft_ctx_gpus(NULL, NULL, 0), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* weft_config_t.cores sizes the budget (more than the machine: shared on
 * purpose), task_pin binds the tasks apart from the workers. */
TEST(budget_size_and_task_pin)
{
    in_temp_dir();
    weft_config_t cfg;
    weft_config_init(&cfg);
    CHECK_EQ(cfg.cores, 0);
    CHECK_EQ(cfg.task_pin, -1);
    cfg.threads = 2;
    cfg.flags = WEFT_CONFIG_QUIET;
    cfg.cores = 3;
    cfg.task_pin = WEFT_PIN_NONE;
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    s.cpus = 3;
    weft_task_t *three = add_sh(g, "three", "echo $OMP_NUM_THREADS > n.txt", &s);
    s.cpus = 4;
    weft_task_t *four = add_sh(g, "four", "true", &s);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(three), WEFT_TASK_DONE);
    CHECK_STR(test_slurp("n.txt", 1), "3");
    const weft_process_attempt_t *a;
    CHECK_EQ(weft_task_process_attempts(three, &a), 1);
    CHECK_STR(a[0].cpus, ""); /* admitted, not bound */
    CHECK_STR(weft_task_error(four), "needs 4 cores but the runtime has 3");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    weft_config_init(&cfg);
    cfg.cores = -1;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    cfg.cores = 4097;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    weft_config_init(&cfg);
    cfg.task_pin = 7;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
    cfg.task_pin = -2;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), WEFT_EINVAL);
}

/* Output kept in memory: stdout and stderr of the last attempt, cut at
 * capture_max, empty for a task that printed nothing; misuse refused. */
TEST(captured_output)
{
    in_temp_dir();
    setenv("TMPDIR", dir, 1); /* where the attempts' files go */
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    s.capture = WEFT_CAPTURE_STDOUT | WEFT_CAPTURE_STDERR;
    s.retries = 1;
    /* the first attempt fails: only the second one's output is kept */
    weft_task_t *both = add_sh(
        g, "both", "if [ -e once ]; then echo second; echo oops >&2; else touch once; echo first; exit 1; fi", &s);
    weft_process_spec_init(&s);
    s.capture = WEFT_CAPTURE_STDOUT;
    s.capture_max = 10;
    weft_task_t *cut = add_sh(g, "cut", "printf 0123456789abcdef", &s);
    weft_task_t *quiet = add_sh(g, "quiet", "true", &s);
    weft_task_t *plain = add_sh(g, "plain", "echo to /dev/null", NULL);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    const char *d;
    size_t n;
    CHECK_EQ(weft_task_process_output(both, WEFT_CAPTURE_STDOUT, &d, &n), 0);
    CHECK_STR(d, "second\n");
    CHECK_EQ(n, 7);
    CHECK_EQ(weft_task_process_output(both, WEFT_CAPTURE_STDERR, &d, &n), 0);
    CHECK_STR(d, "oops\n");
    CHECK_EQ(weft_task_process_output(cut, WEFT_CAPTURE_STDOUT, &d, &n), 1); /* cut */
    CHECK_STR(d, "0123456789");
    CHECK_EQ(weft_task_process_output(quiet, WEFT_CAPTURE_STDOUT, &d, &n), 0);
    CHECK_STR(d, "");
    CHECK_EQ(n, 0);
    /* misuse */
    CHECK_EQ(weft_task_process_output(quiet, WEFT_CAPTURE_STDERR, &d, &n), WEFT_EINVAL); /* not captured */
    CHECK_EQ(weft_task_process_output(plain, WEFT_CAPTURE_STDOUT, &d, &n), WEFT_EINVAL);
    CHECK_EQ(weft_task_process_output(both, 3, &d, &n), WEFT_EINVAL);
    CHECK_EQ(weft_task_process_output(NULL, WEFT_CAPTURE_STDOUT, &d, &n), WEFT_EINVAL);
    CHECK_EQ(weft_task_process_output(both, WEFT_CAPTURE_STDOUT, NULL, &n), WEFT_EINVAL);
    weft_process_spec_init(&s);
    const char *argv[] = {"true", NULL};
    s.argv = argv;
    s.capture = 4;
    weft_task_t *t;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    s.capture = WEFT_CAPTURE_STDOUT;
    s.stdout_path = "out.txt";
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &t), WEFT_EINVAL);
    /* no temporary file is left behind */
    CHECK_EQ(system("ls weft-out-* >/dev/null 2>&1"), 256 * 2);
    unsetenv("TMPDIR");
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* Retry policy: retry_on limits retries to exit codes, retry_delay_s and
 * retry_backoff space them (no cores held meanwhile), a cancel ends the
 * wait; misuse refused. */
TEST(retry_policy)
{
    in_temp_dir();
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    static const int tempfail[] = {75};
    weft_process_spec_t s;
    weft_process_spec_init(&s);
    s.retries = 3;
    s.retry_on = tempfail;
    s.nretry_on = 1;
    weft_task_t *hard = add_sh(g, "hard", "exit 3", &s);
    weft_task_t *soft = add_sh(g, "soft", "[ -e soft.1 ] && exit 0; touch soft.1; exit 75", &s);
    s.timeout_s = 0.1;
    weft_task_t *slow = add_sh(g, "slow", "sleep 5", &s);
    weft_process_spec_init(&s);
    s.retries = 2;
    s.retry_delay_s = 0.2;
    s.retry_backoff = 2;
    weft_task_t *spaced = add_sh(g, "spaced", "date +%s%N >> times; exit 1", &s);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    const weft_process_attempt_t *a;
    CHECK_EQ(weft_task_process_attempts(hard, &a), 1); /* 3 is not in retry_on */
    CHECK_EQ(weft_task_process_attempts(soft, &a), 2);
    CHECK_EQ(weft_task_state(soft), WEFT_TASK_DONE);
    CHECK_EQ(weft_task_process_attempts(slow, &a), 1); /* a timeout has no exit code */
    CHECK_EQ(weft_task_status(slow), WEFT_ETIMEDOUT);
    CHECK_EQ(weft_task_process_attempts(spaced, &a), 3);
    FILE *f = fopen("times", "r");
    CHECK(f != NULL);
    long long t[3] = {0};
    CHECK(fscanf(f, "%lld %lld %lld", &t[0], &t[1], &t[2]) == 3);
    fclose(f);
    CHECK(t[1] - t[0] >= 200000000LL); /* 0.2 s, then 0.4 s (lower bounds only) */
    CHECK(t[2] - t[1] >= 400000000LL);
    weft_graph_destroy(g);

    /* a cancel ends a long wait: the task fails as its attempt did */
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_process_spec_init(&s);
    s.retries = 1;
    s.retry_delay_s = 30;
    weft_task_t *waits = add_sh(g, "waits", "exit 4", &s);
    double t0 = now_s();
    CHECK_EQ(weft_graph_submit(rt, g), 0);
    usleep(300000);
    CHECK_EQ(weft_graph_cancel(g), 0);
    CHECK_EQ(weft_graph_wait(g), WEFT_ETASK);
    CHECK(now_s() - t0 < 5);
    CHECK_EQ(weft_task_process_attempts(waits, &a), 1);
    CHECK_STR(weft_task_error(waits), "exited with status 4");

    /* misuse */
    const char *argv[] = {"true", NULL};
    weft_task_t *x;
    static const int bad_code[] = {300};
    weft_process_spec_init(&s);
    s.argv = argv;
    s.retry_on = bad_code;
    s.nretry_on = 1;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &x), WEFT_EINVAL);
    s.retry_on = NULL;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &x), WEFT_EINVAL);
    s.nretry_on = 65;
    s.retry_on = tempfail;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &x), WEFT_EINVAL);
    weft_process_spec_init(&s);
    s.argv = argv;
    s.retry_backoff = 0.5;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &x), WEFT_EINVAL);
    s.retry_backoff = 1;
    s.retry_delay_s = -1;
    CHECK_EQ(weft_graph_add_process(g, "x", &s, &x), WEFT_EINVAL);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static double stamps[3];
static atomic_int nstamps;
static int fails_twice(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    int k = atomic_fetch_add(&nstamps, 1);
    if (k < 3)
        stamps[k] = now_s();
    return weft_ctx_attempt(ctx) < 3 ? 5 : 0;
}

/* weft_task_set_retry_delay: C tasks (and workflow kernels) pause before
 * each retry, the pause growing by the backoff; misuse refused. */
TEST(c_task_retry_delay)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *t;
    CHECK_EQ(weft_graph_add_ex(g, "t", fails_twice, NULL, 0, &t), 0);
    CHECK_EQ(weft_task_set_retries(t, 2), 0);
    CHECK_EQ(weft_task_set_retry_delay(t, 0.1, 2), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(weft_task_attempts(t), 3);
    CHECK(stamps[1] - stamps[0] >= 0.1 && stamps[2] - stamps[1] >= 0.2);
    CHECK_EQ(weft_task_set_retry_delay(t, -1, 1), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_retry_delay(t, 1, 0.5), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_retry_delay(t, 1, 101), WEFT_EINVAL);
    CHECK_EQ(weft_task_set_retry_delay(NULL, 1, 1), WEFT_EINVAL);
    weft_task_t *p = add_sh(g, "p", "true", NULL);
    CHECK_EQ(weft_task_set_retry_delay(p, 1, 1), WEFT_EINVAL); /* its spec has retry_delay_s */
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int returns_arg(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    return (int)(intptr_t)arg;
}

/* weft_task_set_always: a fan-in runs after failed and cancelled
 * dependencies too (and its own dependents after it); a fail-fast stop
 * still keeps it from starting. */
TEST(always_runs_after_failures)
{
    for (int ff = 0; ff < 2; ff++) {
        weft_runtime_t *rt = make_rt(2, ff ? WEFT_CONFIG_FAIL_FAST : 0);
        weft_graph_t *g;
        CHECK_EQ(weft_graph_create(&g), 0);
        weft_task_t *bad, *skipped, *good, *fanin, *after;
        CHECK_EQ(weft_graph_add_ex(g, "bad", returns_arg, (void *)(intptr_t)3, 0, &bad), 0);
        CHECK_EQ(weft_graph_add_ex(g, "skipped", returns_arg, NULL, 0, &skipped), 0);
        CHECK_EQ(weft_graph_add_ex(g, "good", returns_arg, NULL, 0, &good), 0);
        CHECK_EQ(weft_graph_add_ex(g, "fanin", returns_arg, NULL, 0, &fanin), 0);
        CHECK_EQ(weft_graph_add_ex(g, "after", returns_arg, NULL, 0, &after), 0);
        CHECK_EQ(weft_task_after(skipped, bad), 0);
        CHECK_EQ(weft_task_after(fanin, skipped), 0); /* cancelled upstream too */
        CHECK_EQ(weft_task_after(fanin, good), 0);
        CHECK_EQ(weft_task_after(after, fanin), 0);
        CHECK_EQ(weft_task_set_always(fanin, 1), 0);
        CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
        CHECK_EQ(weft_task_state(skipped), WEFT_TASK_CANCELLED);
        CHECK_EQ(weft_task_state(fanin), (ff ? WEFT_TASK_NOT_RUN : WEFT_TASK_DONE));
        CHECK_EQ(weft_task_state(after), (ff ? WEFT_TASK_NOT_RUN : WEFT_TASK_DONE));
        /* off again: cancelled with its dependencies */
        CHECK_EQ(weft_task_set_always(fanin, 0), 0);
        CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
        CHECK(weft_task_state(fanin) != WEFT_TASK_DONE);
        CHECK_EQ(weft_task_set_always(fanin, 2), WEFT_EINVAL);
        CHECK_EQ(weft_task_set_always(NULL, 1), WEFT_EINVAL);
        weft_graph_destroy(g);
        weft_runtime_destroy(rt);
    }
}
