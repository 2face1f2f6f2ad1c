/* Starting a child (spawn.h): vfork, the child's setup, exec.
 *
 * Why not posix_spawn: glibc's maps and unmaps a stack for every child
 * (an unmap in a process whose other threads run on other cores is a TLB
 * shootdown of each of them), and binding the child to its cpus had to
 * be done by binding the launcher before the spawn and back after it
 * (two migrations of the launcher per child). Here the child binds
 * itself, and runs on the launcher's stack until it execs.
 *
 * The child only makes system calls on memory prepared by the parent (no
 * malloc, no locks: the parent's other threads go on running in the same
 * memory). A failure is written to a close-on-exec pipe, which an exec
 * closes: the parent reads either the failure or nothing (this also holds
 * where vfork behaves as fork, as under ThreadSanitizer). */
#include "tasks/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { STAGE_EXEC, STAGE_CHDIR, STAGE_BIND, STAGE_SETUP };
static const char *const stage_names[] = {"exec", "chdir", "bind", "setup"};

typedef struct failure {
    int err, stage;
} failure_t;

static __attribute__((noreturn)) void child_fail(int fd, int stage)
{
    failure_t f = {.err = errno, .stage = stage};
    ssize_t n = write(fd, &f, sizeof f);
    (void)n;
    _exit(127);
}

/* fd as the child's descriptor `to` (kept open across the exec). */
static int place(int fd, int to)
{
    if (fd != to)
        return dup2(fd, to) < 0 ? -1 : 0;
    return fcntl(fd, F_SETFD, 0); /* already there: only its close-on-exec goes */
}

/* As execvp with the parent's PATH (path: its value, read before the
 * fork). */
static void exec_path(char *const *argv, char *const *envp, const char *path)
{
    const char *file = argv[0];
    if (strchr(file, '/')) {
        execve(file, argv, envp);
        return;
    }
    size_t flen = strlen(file);
    int seen_eacces = 0;
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        char buf[PATH_MAX];
        if (dlen + 1 + flen < sizeof buf) {
            if (dlen) { /* an empty entry is the current directory */
                memcpy(buf, p, dlen);
                buf[dlen] = '/';
                memcpy(buf + dlen + 1, file, flen + 1);
            } else {
                memcpy(buf, file, flen + 1);
            }
            execve(buf, argv, envp);
            if (errno == EACCES)
                seen_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG)
                return; /* found, but it cannot run: that is the error */
        }
        if (!end)
            break;
        p = end;
    }
    errno = seen_eacces ? EACCES : ENOENT;
}

/* The kernel's own sigaction (glibc's wrapper refuses its internal
 * signals 32 and 33, which an ignoring parent passes on too). */
struct ksigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

static void default_signal(int sig)
{
    struct ksigaction old, dfl = {.handler = SIG_DFL};
    if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof old.mask) == 0 && old.handler != SIG_DFL)
        syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}

static __attribute__((noreturn)) void child(const weft__spawn_t *s, const char *path, int fd)
{
    if (setpgid(0, 0) != 0)
        child_fail(fd, STAGE_SETUP);
    /* every signal's disposition default (an ignored one would stay
     * ignored in the command; a handler would be the parent's code), then
     * none blocked: while all are blocked no handler can run here */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            default_signal(sig);
    /* stdin, stdout, stderr: a source that is itself 0, 1 or 2 is first
     * moved out of the way of the others */
    int src[3] = {s->in, s->out, s->err};
    for (int i = 0; i < 3; i++)
        if (src[i] < 3 && src[i] != i && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0)
            child_fail(fd, STAGE_SETUP);
    for (int i = 0; i < 3; i++)
        if (place(src[i], i) != 0)
            child_fail(fd, STAGE_SETUP);
    if (s->cwd && chdir(s->cwd) != 0)
        child_fail(fd, STAGE_CHDIR);
    /* the mask's words as the kernel's (64-bit little-endian words) */
    if (s->cpus && sched_setaffinity(0, sizeof s->cpus->bits, (const cpu_set_t *)(const void *)s->cpus->bits) != 0)
        child_fail(fd, STAGE_BIND);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    exec_path(s->argv, s->envp, path);
    child_fail(fd, STAGE_EXEC);
}

/* vfork, the child going on in child(); kept apart so that nothing of
 * the caller's lives in registers across the vfork */
static __attribute__((noinline)) pid_t start(const weft__spawn_t *s, const char *path, int fd)
{
    pid_t p = vfork();
    if (p == 0)
        child(s, path, fd);
    return p;
}

int weft__spawn(const weft__spawn_t *s, pid_t *pid, const char **stage)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        *stage = stage_names[STAGE_SETUP];
        return errno;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin"; /* as glibc's execvp */
    pid_t p = start(s, path, pfd[1]);
    int e = errno;
    close(pfd[1]);
    if (p < 0) {
        close(pfd[0]);
        *stage = "fork";
        return e;
    }
    failure_t f;
    ssize_t n;
    while ((n = read(pfd[0], &f, sizeof f)) < 0 && errno == EINTR)
        ;
    close(pfd[0]);
    if (n == (ssize_t)sizeof f) { /* it did not exec: reaped here */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        *stage = f.stage >= 0 && f.stage <= STAGE_SETUP ? stage_names[f.stage] : "exec";
        return f.err ? f.err : EIO;
    }
    *pid = p;
    return 0;
}
