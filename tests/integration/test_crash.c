/* The crash reporter (issue 21, item 7): a C task that segfaults, aborts
 * or overflows its stack is named on stderr before the process ends the
 * way it would have without weft; a handler the program had is chained;
 * WEFT_CONFIG_NO_CRASH_HANDLER keeps weft out. Each case runs in a child
 * process whose stderr is read back. */
#include <weft.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static int segv(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    volatile int *volatile p = (int *)(uintptr_t)arg;
    *p = 1;
    return 0;
}

static int aborts(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    abort();
}

static int fine(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

static volatile int depth_sink;
static __attribute__((noinline)) int recurse(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    depth_sink = pad[0];
    if (n == -1) /* never: keeps the compiler from calling the recursion infinite */
        return 0;
    return recurse(n + 1) + pad[0];
}

static int overflow(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return recurse(0);
}

static void own_handler(int sig)
{
    static const char msg[] = "own handler ran\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(40 + (sig == SIGSEGV));
}

/* Runs `fn` as task "bad-task" after a task that succeeds, in a child
 * process; returns its wait status and its stderr in buf. */
static int crash_in_child(weft_fn fn, unsigned flags, int own, char *buf, size_t len)
{
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        if (own)
            signal(SIGSEGV, own_handler);
        weft_config_t cfg;
        weft_config_init(&cfg);
        cfg.threads = 2;
        cfg.pin = WEFT_PIN_NONE;
        cfg.flags = flags;
        weft_runtime_t *rt;
        weft_graph_t *g;
        if (weft_runtime_create(&cfg, &rt) || weft_graph_create(&g))
            _exit(3);
        weft_task_t *a = weft_graph_add(g, "fine-task", fine, NULL);
        /* segv's address: not NULL, which UBSan would catch before the fault */
        weft_task_t *b = weft_graph_add(g, "bad-task", fn, (void *)(uintptr_t)16);
        weft_task_after(b, a);
        weft_graph_run(rt, g);
        _exit(4); /* not reached */
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < len && (r = read(fds[0], buf + n, len - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fds[0]);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    return st;
}

TEST(segfault_names_the_task)
{
    char err[8192];
    int st = crash_in_child(segv, 0, 0, err, sizeof err);
    fprintf(stderr, "%s", err);
    CHECK(strstr(err, "weft: task 'bad-task' (graph 0x") != NULL);
    CHECK(strstr(err, "task #1, run 1) crashed: SIGSEGV (invalid memory access) at address 0x10") != NULL);
    CHECK(strstr(err, "fine-task") == NULL);
    if (!SANITIZED) /* the default action as without weft (a sanitizer reports and exits its own way) */
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    else
        CHECK(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0));
}

TEST(abort_names_the_task)
{
    char err[8192];
    int st = crash_in_child(aborts, 0, 0, err, sizeof err);
    fprintf(stderr, "%s", err);
    CHECK(strstr(err, "weft: task 'bad-task'") != NULL);
    CHECK(strstr(err, "crashed: SIGABRT (aborted)\n") != NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

TEST(stack_overflow_names_the_task)
{
    if (SANITIZED)
        SKIP("a sanitizer handles stack overflows itself");
    char err[8192];
    /* on a worker thread (a caller helping in a run has its own stack and
     * no alternate one from weft) */
    int st = crash_in_child(overflow, WEFT_CONFIG_NO_CALLER_HELP, 0, err, sizeof err);
    fprintf(stderr, "%s", err);
    CHECK(strstr(err, "weft: task 'bad-task'") != NULL);
    CHECK(strstr(err, "crashed: SIGSEGV") != NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}

TEST(the_programs_handler_is_chained)
{
    if (SANITIZED)
        SKIP("a sanitizer's own SEGV handler comes between");
    char err[8192];
    int st = crash_in_child(segv, 0, 1, err, sizeof err);
    fprintf(stderr, "%s", err);
    const char *ours = strstr(err, "weft: task 'bad-task'"), *theirs = strstr(err, "own handler ran");
    CHECK(ours && theirs && ours < theirs);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 41);
}

TEST(opt_out)
{
    char err[8192];
    int st = crash_in_child(aborts, WEFT_CONFIG_NO_CRASH_HANDLER, 0, err, sizeof err);
    CHECK(strstr(err, "weft: task") == NULL);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}
