/* A tiny test runner: TEST(name) { ... } registers a test; main() runs each
 * in its own forked process with a time limit (a crash or hang fails that
 * test only). SKIP("why") ends a test as skipped; a binary whose tests were
 * all skipped exits 77, which meson reports as SKIP.
 *   ./test_x            run all tests
 *   ./test_x NAME...    run only these
 *   WEFT_TEST_NOFORK=1  run in-process (for gdb)
 *   WEFT_TEST_TIMEOUT=S per-test limit in seconds (default 60) */
#ifndef WEFT_TESTLIB_H
#define WEFT_TESTLIB_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*test_fn_t)(void);
struct test_entry {
    const char *name;
    test_fn_t fn;
};
static struct test_entry test_registry[256];
static int test_count;

#define TEST(tname)                                                                                                    \
    static void test_##tname(void);                                                                                    \
    __attribute__((constructor)) static void register_##tname(void)                                                    \
    {                                                                                                                  \
        test_registry[test_count].name = #tname;                                                                       \
        test_registry[test_count++].fn = test_##tname;                                                                 \
    }                                                                                                                  \
    static void test_##tname(void)

#define TEST_SKIP_CODE 77

#define SKIP(why)                                                                                                      \
    do {                                                                                                               \
        fprintf(stderr, "  skipped: %s\n", why);                                                                       \
        fflush(stderr);                                                                                                \
        _exit(TEST_SKIP_CODE);                                                                                         \
    } while (0)

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                                              \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fprintf(stderr, "\n");                                                                                         \
        fflush(stderr);                                                                                                \
        abort();                                                                                                       \
    } while (0)

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            FAIL("check failed: %s", #cond);                                                                           \
    } while (0)

#define CHECK_EQ(a, b)                                                                                                 \
    do {                                                                                                               \
        long long a_ = (long long)(a), b_ = (long long)(b);                                                            \
        if (a_ != b_)                                                                                                  \
            FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                                                                \
    do {                                                                                                               \
        const char *a_ = (a), *b_ = (b);                                                                               \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                                         \
            FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                        \
    } while (0)

static int test_run_one(const struct test_entry *t, int nofork, int timeout)
{
    if (nofork) {
        t->fn();
        return 0;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        alarm((unsigned)timeout);
        t->fn();
        fflush(NULL);
        _exit(0);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (time limit)" : "");
    return 1;
}

int main(int argc, char **argv)
{
    int nofork = getenv("WEFT_TEST_NOFORK") != NULL;
    int timeout = getenv("WEFT_TEST_TIMEOUT") ? atoi(getenv("WEFT_TEST_TIMEOUT")) : 60;
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < test_count; i++) {
        const struct test_entry *t = &test_registry[i];
        if (argc > 1) {
            int want = 0;
            for (int a = 1; a < argc; a++)
                want |= strcmp(argv[a], t->name) == 0;
            if (!want)
                continue;
        }
        fprintf(stderr, "[ RUN  ] %s\n", t->name);
        int rc = test_run_one(t, nofork, timeout);
        const char *tag = rc == 0 ? "  OK  " : rc == TEST_SKIP_CODE ? " SKIP " : " FAIL ";
        fprintf(stderr, "[%s] %s\n", tag, t->name);
        if (rc == 0)
            passed++;
        else if (rc == TEST_SKIP_CODE)
            skipped++;
        else
            failed++;
    }
    fprintf(stderr, "%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (failed)
        return 1;
    if (passed == 0 && skipped > 0)
        return TEST_SKIP_CODE;
    return 0;
}

#endif
