/* The watchdog: task process groups die with weft, even when weft is
 * killed with SIGKILL and runs no code of its own.
 *
 * A small process forked when the process executor starts holds one end
 * of a socket pair; the launcher tells it each process group it starts
 * ("+", with its grace period) and each one it has reaped ("-"). When the
 * socket reaches end-of-file — weft has exited, however it died, or the
 * executor was destroyed — the watchdog sends SIGTERM to every group it
 * still knows, SIGKILL after the grace period to those that remain, and
 * exits. A group's id cannot be reused while any process of it is alive,
 * so a group signalled late is either the task's or empty.
 *
 * The watchdog is forked from a process that may run threads, so it
 * calls only async-signal-safe functions (no malloc, no stdio): its table
 * is a fixed mmap'd array. It starts its own session, so Ctrl-C in the
 * terminal and signals to weft's process group leave it to do its job;
 * stdin/stdout/stderr go to /dev/null and every other descriptor is closed,
 * so it holds no pipe of the caller's open. */
#include "tasks/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WD_MAX 65536 /* process groups watched at once (more are not watched) */

typedef struct msg {
    int32_t pgid; /* > 0: started; < 0: -pgid was reaped */
    uint32_t grace_ms;
} msg_t;

typedef struct entry {
    int32_t pgid;
    uint32_t grace_ms;
} entry_t;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static __attribute__((noreturn)) void watch(int fd)
{
    /* ignore what is aimed at the terminal's or weft's group */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGTERM, &ign, NULL);
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGQUIT, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    entry_t *tab = mmap(NULL, WD_MAX * sizeof *tab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t n = 0;
    if (tab == MAP_FAILED)
        _exit(1);
    msg_t buf[256];
    size_t have = 0; /* bytes in buf */
    for (;;) {
        ssize_t r = read(fd, (char *)buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* weft is gone (or let go of us) */
        have += (size_t)r;
        size_t whole = have / sizeof(msg_t);
        for (size_t i = 0; i < whole; i++) {
            if (buf[i].pgid > 0 && n < WD_MAX) {
                tab[n].pgid = buf[i].pgid;
                tab[n++].grace_ms = buf[i].grace_ms;
            } else if (buf[i].pgid < 0) {
                for (size_t k = 0; k < n; k++)
                    if (tab[k].pgid == -buf[i].pgid) {
                        tab[k] = tab[--n];
                        break;
                    }
            }
        }
        have -= whole * sizeof(msg_t);
        memmove(buf, (char *)buf + whole * sizeof(msg_t), have);
    }
    /* The groups weft left running: TERM now, KILL after their grace. */
    uint64_t grace = 0;
    for (size_t k = 0; k < n; k++) {
        kill(-tab[k].pgid, SIGTERM);
        grace = tab[k].grace_ms > grace ? tab[k].grace_ms : grace;
    }
    uint64_t until = now_ms() + grace;
    while (n > 0 && now_ms() < until) {
        nap_ms(50);
        for (size_t k = 0; k < n;) {
            /* ESRCH: nobody left in the group (zombies aside, which are
             * gone in every way that matters once their parent is) */
            if (kill(-tab[k].pgid, 0) != 0 && errno == ESRCH)
                tab[k] = tab[--n];
            else
                k++;
        }
    }
    for (size_t k = 0; k < n; k++)
        kill(-tab[k].pgid, SIGKILL);
    _exit(0);
}

int weft__watchdog_start(weft__watchdog_t *wd)
{
    wd->fd = -1;
    wd->pid = -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        setsid();
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        if (dup2(sv[1], 3) != 3)
            _exit(1);
        /* everything else weft had open (fds of the caller's, the other end) */
        if (syscall(SYS_close_range, 4u, ~0u, 0u) != 0)
            for (int f = 4; f < 65536; f++)
                close(f);
        watch(3);
    }
    close(sv[1]);
    wd->fd = sv[0];
    wd->pid = pid;
    return 0;
}

static void tell(const weft__watchdog_t *wd, int32_t pgid, uint64_t grace_ns)
{
    if (wd->fd < 0)
        return;
    uint64_t ms = grace_ns / 1000000u;
    msg_t m = {pgid, (uint32_t)(ms > 600000 ? 600000 : ms)};
    /* one 8-byte message: never split; MSG_NOSIGNAL: a watchdog that is
     * gone raises no SIGPIPE (the groups are then only killed by weft) */
    while (send(wd->fd, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

void weft__watchdog_add(const weft__watchdog_t *wd, int pgid, uint64_t grace_ns)
{
    tell(wd, pgid, grace_ns);
}

void weft__watchdog_remove(const weft__watchdog_t *wd, int pgid)
{
    tell(wd, -pgid, 0);
}

void weft__watchdog_stop(weft__watchdog_t *wd)
{
    if (wd->fd >= 0)
        close(wd->fd);
    if (wd->pid > 0)
        while (waitpid(wd->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    wd->fd = -1;
    wd->pid = -1;
}
