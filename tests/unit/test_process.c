/* The process executor: exit codes, output files, cwd and env, failures to
 * start, timeouts that kill a whole process tree, no orphans when a task
 * leaves a background child, binding, many short processes, stop. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/base.h"
#include "tasks/tasks.h"
#include "testlib.h"
#include "util.h"

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    weft__proc_result_t last;
} waiter_t;

static waiter_t W = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}};

static void on_done(void *ud, const weft__proc_result_t *r)
{
    waiter_t *w = ud;
    pthread_mutex_lock(&w->lock);
    w->done++;
    w->last = *r;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void wait_for(waiter_t *w, int n)
{
    pthread_mutex_lock(&w->lock);
    while (w->done < n)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

/* Runs one process to its end and returns its result. */
static weft__proc_result_t run1(weft__procs_t *x, weft__proc_spec_t *s)
{
    int before = W.done;
    CHECK_EQ(weft__procs_start(x, s, on_done, &W), 0);
    wait_for(&W, before + 1);
    return W.last;
}

static weft__procs_t *executor(void)
{
    weft__procs_t *x;
    CHECK_EQ(weft__procs_create(NULL, &x), 0);
    return x;
}

#define slurp(path) test_slurp((path), 0)

static char dir[64];

static const char *tmp(const char *name)
{
    static char path[4][128];
    static int k;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/weft-proc-XXXXXX");
        CHECK(mkdtemp(dir) != NULL);
    }
    char *p = path[k++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

/* Removes the files tmp() named and its directory. */
static void tmp_cleanup(void)
{
    static const char *names[] = {"out", "err", "env", "tree", "orphan", "aff", "sig", "noexec"};
    for (size_t i = 0; dir[0] && i < sizeof names / sizeof names[0]; i++)
        unlink(tmp(names[i]));
    if (dir[0])
        CHECK_EQ(rmdir(dir), 0);
}

/* true when no process is left in group pgid */
static bool group_gone(pid_t pgid)
{
    for (int i = 0; i < 200; i++) {
        if (kill(-pgid, 0) != 0 && errno == ESRCH)
            return true;
        usleep(10000);
    }
    return false;
}

TEST(exit_codes_and_output)
{
    weft__procs_t *x = executor();
    const char *out = tmp("out"), *err = tmp("err");
    weft__proc_spec_t s = {.argv = (const char *[]){"sh", "-c", "echo hello; echo oops >&2; exit 3", NULL},
                           .stdout_path = out,
                           .stderr_path = err};
    weft__proc_result_t r = run1(x, &s);
    CHECK(r.started);
    CHECK_EQ(r.status, WEFT_ETASK);
    CHECK_EQ(r.exit_code, 3);
    CHECK_STR(r.reason, "exited with status 3");
    CHECK_STR(slurp(out), "hello\n");
    CHECK_STR(slurp(err), "oops\n");
    CHECK(r.wall_ns > 0 && r.maxrss_kb > 0);

    s = (weft__proc_spec_t){.argv = (const char *[]){"true", NULL}};
    r = run1(x, &s);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.exit_code, 0);

    s = (weft__proc_spec_t){.argv = (const char *[]){"sh", "-c", "kill -SEGV $$", NULL}};
    r = run1(x, &s);
    CHECK_EQ(r.status, WEFT_ETASK);
    CHECK_EQ(r.signal, SIGSEGV);
    CHECK_STR(r.reason, "killed by signal 11 (SIGSEGV)");
    weft__procs_destroy(x);
    tmp_cleanup();
}

TEST(cwd_env_and_stdin)
{
    weft__procs_t *x = executor();
    const char *out = tmp("env");
    weft__proc_spec_t s = {.argv = (const char *[]){"sh", "-c", "pwd; echo \"$WEFT_TASK $X\"; cat; echo end", NULL},
                           .envp = (const char *[]){"WEFT_TASK=t1", "X=a b", "PATH=/usr/bin:/bin", NULL},
                           .cwd = "/tmp",
                           .stdout_path = out};
    weft__proc_result_t r = run1(x, &s);
    CHECK_EQ(r.status, 0);
    CHECK_STR(slurp(out), "/tmp\nt1 a b\nend\n"); /* stdin is /dev/null */
    weft__procs_destroy(x);
    tmp_cleanup();
}

TEST(cannot_start)
{
    weft__procs_t *x = executor();
    weft__proc_spec_t s = {.argv = (const char *[]){"weft-no-such-command", NULL}};
    weft__proc_result_t r = run1(x, &s);
    CHECK(!r.started);
    CHECK_EQ(r.status, WEFT_ETASK);
    CHECK_STR(r.reason, "cannot run 'weft-no-such-command': No such file or directory");

    s = (weft__proc_spec_t){.argv = (const char *[]){"true", NULL}, .stdout_path = "/nonexistent/dir/out"};
    r = run1(x, &s);
    CHECK(!r.started);
    CHECK_STR(r.reason, "cannot open the stdout file '/nonexistent/dir/out': No such file or directory");

    s = (weft__proc_spec_t){.argv = (const char *[]){"true", NULL}, .stderr_path = "/nonexistent/err"};
    r = run1(x, &s);
    CHECK_STR(r.reason, "cannot open the stderr file '/nonexistent/err': No such file or directory");

    s = (weft__proc_spec_t){.argv = (const char *[]){"true", NULL}, .cwd = "/nonexistent/cwd"};
    r = run1(x, &s);
    CHECK(!r.started);
    CHECK_STR(r.reason, "cannot change to the directory '/nonexistent/cwd': No such file or directory");

    /* misuse */
    CHECK_EQ(weft__procs_start(x, NULL, on_done, &W), WEFT_EINVAL);
    s = (weft__proc_spec_t){.argv = (const char *[]){NULL}};
    CHECK_EQ(weft__procs_start(x, &s, on_done, &W), WEFT_EINVAL);
    weft__cpuset_t cpus = {{1}};
    s = (weft__proc_spec_t){.argv = (const char *[]){"true", NULL}, .cpus = &cpus};
    CHECK_EQ(weft__procs_start(x, &s, on_done, &W), WEFT_EINVAL); /* no topology */
    s = (weft__proc_spec_t){.argv = (const char *[]){"true", NULL}};
    CHECK_EQ(weft__procs_start(x, &s, NULL, &W), WEFT_EINVAL);
    weft__procs_destroy(x);
}

static void on_usr1(int sig)
{
    (void)sig;
}

/* Whatever the parent ignores, handles or blocks, the command starts with
 * every signal default and none blocked. */
TEST(child_signals_are_default)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, on_usr1);
    /* as a parent that ignores glibc's internal signal 32 passes it on
     * (the kernel's call: glibc's refuses that signal) */
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        unsigned long mask;
    } ign = {.handler = SIG_IGN};
    CHECK_EQ(syscall(SYS_rt_sigaction, 32, &ign, NULL, sizeof ign.mask), 0);
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, NULL);
    weft__procs_t *x = executor();
    const char *out = tmp("sig");
    weft__proc_spec_t s = {.argv = (const char *[]){"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL},
                           .stdout_path = out};
    weft__proc_result_t r = run1(x, &s);
    CHECK_EQ(r.status, 0);
    CHECK_STR(slurp(out), "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    weft__procs_destroy(x);
    tmp_cleanup();
}

/* A file that is there but cannot be run: the exec's own error. */
TEST(cannot_exec)
{
    weft__procs_t *x = executor();
    const char *path = tmp("noexec");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("#!/bin/sh\necho never\n", f);
    fclose(f);
    CHECK_EQ(chmod(path, 0644), 0);
    weft__proc_spec_t s = {.argv = (const char *[]){path, NULL}};
    weft__proc_result_t r = run1(x, &s);
    CHECK(!r.started);
    char want[256];
    snprintf(want, sizeof want, "cannot run '%s': Permission denied", path);
    CHECK_STR(r.reason, want);
    weft__procs_destroy(x);
    tmp_cleanup();
}

/* weft itself started with stdin and stdout closed: the files it opens
 * for a child may be descriptors 0 and 1, and still end up as the
 * child's 1 and 2. */
TEST(parent_without_stdin_stdout)
{
    close(0);
    close(1);
    weft__procs_t *x = executor();
    const char *out = tmp("out"), *err = tmp("err");
    weft__proc_spec_t s = {.argv = (const char *[]){"sh", "-c", "echo to-out; echo to-err >&2; cat", NULL},
                           .stdout_path = out,
                           .stderr_path = err};
    weft__proc_result_t r = run1(x, &s);
    CHECK_EQ(r.status, 0);
    CHECK_STR(slurp(out), "to-out\n");
    CHECK_STR(slurp(err), "to-err\n");
    weft__procs_destroy(x);
    tmp_cleanup();
}

/* A task that forks a grandchild sleeping 1000 s: the timeout kills both. */
TEST(timeout_kills_the_tree)
{
    weft__procs_t *x = executor();
    const char *out = tmp("tree");
    weft__proc_spec_t s = {.argv = (const char *[]){"sh", "-c", "sleep 1000 & echo $!; sleep 1000", NULL},
                           .stdout_path = out,
                           .timeout_ns = 300000000,
                           .grace_ns = 200000000};
    uint64_t t0 = weft__clock_ns();
    weft__proc_result_t r = run1(x, &s);
    CHECK(weft__clock_ns() - t0 < 5000000000u);
    CHECK(r.timed_out);
    CHECK_EQ(r.status, WEFT_ETASK);
    CHECK_STR(r.reason, "timed out after 0.3 s");
    pid_t grandchild = (pid_t)atoi(slurp(out));
    CHECK(grandchild > 0);
    CHECK(group_gone(r.pid));
    CHECK(kill(grandchild, 0) != 0);

    /* a grandchild that ignores SIGTERM is SIGKILLed after the grace */
    s.argv = (const char *[]){"sh", "-c", "trap '' TERM; sleep 1000 & echo $!; wait", NULL};
    r = run1(x, &s);
    CHECK(r.timed_out);
    grandchild = (pid_t)atoi(slurp(out));
    CHECK(group_gone(r.pid));
    CHECK(kill(grandchild, 0) != 0);
    weft__procs_destroy(x);
    tmp_cleanup();
}

/* A task that exits and leaves a background child: the child is killed. */
TEST(no_orphans_after_exit)
{
    weft__procs_t *x = executor();
    const char *out = tmp("orphan");
    weft__proc_spec_t s = {.argv = (const char *[]){"sh", "-c", "sleep 1000 & echo $!", NULL}, .stdout_path = out};
    weft__proc_result_t r = run1(x, &s);
    CHECK_EQ(r.status, 0);
    pid_t bg = (pid_t)atoi(slurp(out));
    CHECK(bg > 0);
    CHECK(group_gone(r.pid));
    weft__procs_destroy(x);
    tmp_cleanup();
}

/* stop: running groups get TERM then KILL, queued ones never start */
TEST(stop_and_destroy)
{
    weft__procs_t *x = executor();
    waiter_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}};
    weft__proc_spec_t s = {.argv = (const char *[]){"sh", "-c", "trap '' TERM; sleep 1000", NULL}};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(weft__procs_start(x, &s, on_done, &w), 0);
    while (weft__procs_running(x) < 4)
        usleep(1000);
    usleep(100000);
    weft__procs_stop(x, 100000000);
    CHECK_EQ(weft__procs_start(x, &s, on_done, &w), WEFT_ESTATE);
    wait_for(&w, 4);
    CHECK_EQ(w.last.status, WEFT_ECANCELED);
    CHECK_EQ(w.last.signal, SIGKILL);
    CHECK_EQ(weft__procs_running(x), 0);
    weft__procs_destroy(x);

    /* destroy alone kills what is running */
    x = executor();
    w.done = 0;
    CHECK_EQ(weft__procs_start(x, &s, on_done, &w), 0);
    weft__procs_destroy(x);
    CHECK_EQ(w.done, 1);
    CHECK_EQ(w.last.status, WEFT_ECANCELED);
}

static atomic_int ok_count;

static void count_ok(void *ud, const weft__proc_result_t *r)
{
    (void)ud;
    if (r->status == 0)
        atomic_fetch_add(&ok_count, 1);
}

TEST(many_short_processes)
{
    weft__procs_t *x = executor();
    weft__proc_spec_t s = {.argv = (const char *[]){"true", NULL}};
    for (int i = 0; i < 500; i++)
        CHECK_EQ(weft__procs_start(x, &s, count_ok, NULL), 0);
    weft__procs_stop(x, 0); /* nothing new; what is queued... */
    weft__procs_destroy(x);
    /* ...was either run or canceled: every callback ran exactly once */
    CHECK(atomic_load(&ok_count) <= 500);

    atomic_store(&ok_count, 0);
    x = executor();
    for (int i = 0; i < 500; i++)
        CHECK_EQ(weft__procs_start(x, &s, count_ok, NULL), 0);
    while (weft__procs_running(x) > 0)
        usleep(1000);
    CHECK_EQ(atomic_load(&ok_count), 500);
    weft__procs_destroy(x);
}

TEST(binding)
{
    weft__topo_t *topo;
    CHECK_EQ(weft__topo_discover(&topo), 0);
    weft__procs_t *x;
    CHECK_EQ(weft__procs_create(topo, &x), 0);
    const char *out = tmp("aff");
    int cpu = topo->pus[topo->npus - 1];
    weft__cpuset_t set;
    memset(&set, 0, sizeof set);
    weft__cpuset_set(&set, cpu);
    weft__proc_spec_t s = {.argv = (const char *[]){"sh", "-c", "grep Cpus_allowed_list /proc/self/status", NULL},
                           .stdout_path = out,
                           .cpus = &set};
    weft__proc_result_t r = run1(x, &s);
    CHECK_EQ(r.status, 0);
    char want[64];
    snprintf(want, sizeof want, "Cpus_allowed_list:\t%d\n", cpu);
    CHECK_STR(slurp(out), want);
    /* a cpu this machine does not have: the child cannot bind itself */
    weft__cpuset_t none;
    memset(&none, 0, sizeof none);
    weft__cpuset_set(&none, WEFT_MAX_CPUS - 1);
    s.cpus = &none;
    r = run1(x, &s);
    CHECK(!r.started);
    CHECK_STR(r.reason, "cannot bind 'sh' to its cpus: Invalid argument");
    /* unbound tasks are not narrowed by the previous one */
    s.cpus = NULL;
    r = run1(x, &s);
    if (topo->npus > 1)
        CHECK(strcmp(slurp(out), want) != 0);
    weft__procs_destroy(x);
    weft__topo_destroy(topo);
    tmp_cleanup();
}
