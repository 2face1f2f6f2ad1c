/* The watchdog: task process groups die with weft, even when weft is
 * killed with SIGKILL and runs no code of its own.
 *
 * A small process forked when the process executor starts shares a table
 * with it (an anonymous shared mapping made before the fork) and holds one
 * end of a socket pair. The launcher writes each process group it starts
 * into a slot of the table (with its grace period) and clears the slot
 * when it has reaped the group: no message and no wake-up per task. The
 * watchdog only waits on the socket; at end-of-file — weft has exited,
 * however it died, or the executor was destroyed — it sends SIGTERM to
 * every group still in the table, SIGKILL after the grace period to those
 * that remain, and exits. A group's id cannot be reused while any process
 * of it is alive, so a group signalled late is either the task's or empty.
 *
 * The watchdog is forked from a process that may run threads, so it
 * calls only async-signal-safe functions (no malloc, no stdio). It starts its own session, so Ctrl-C in the
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

/* A slot of the shared table: pgid 0 = free. The grace is written first
 * and the pgid last (release), so the watchdog never sees a pgid without
 * its grace. */
struct weft__wd_entry {
    int32_t pgid;
    uint32_t grace_ms;
};

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

static __attribute__((noreturn)) void watch(int fd, struct weft__wd_entry *shared)
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
    char c;
    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* weft is gone (or let go of us) */
    }
    /* The groups weft left running: taken out of the shared table (weft
     * writes no more), TERM now, KILL after their grace. */
    static struct weft__wd_entry tab[WD_MAX];
    size_t n = 0;
    uint64_t grace = 0;
    for (size_t k = 0; k < WD_MAX; k++) {
        int32_t pgid = __atomic_load_n(&shared[k].pgid, __ATOMIC_ACQUIRE);
        if (pgid <= 0)
            continue;
        tab[n].pgid = pgid;
        tab[n].grace_ms = shared[k].grace_ms;
        grace = tab[n].grace_ms > grace ? tab[n].grace_ms : grace;
        kill(-pgid, SIGTERM);
        n++;
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
    wd->tab = NULL;
    wd->free_slots = NULL;
    wd->nfree = wd->used = 0;
    int sv[2];
    void *tab =
        mmap(NULL, WD_MAX * sizeof(struct weft__wd_entry), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tab == MAP_FAILED)
        return -1;
    int32_t *free_slots =
        mmap(NULL, WD_MAX * sizeof *free_slots, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (free_slots == MAP_FAILED) {
        munmap(tab, WD_MAX * sizeof(struct weft__wd_entry));
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        munmap(tab, WD_MAX * sizeof(struct weft__wd_entry));
        munmap(free_slots, WD_MAX * sizeof *free_slots);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        munmap(tab, WD_MAX * sizeof(struct weft__wd_entry));
        munmap(free_slots, WD_MAX * sizeof *free_slots);
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
        watch(3, tab);
    }
    close(sv[1]);
    wd->fd = sv[0];
    wd->pid = pid;
    wd->tab = tab;
    wd->free_slots = free_slots;
    return 0;
}

int weft__watchdog_add(weft__watchdog_t *wd, int pgid, uint64_t grace_ns)
{
    if (!wd->tab)
        return -1;
    int32_t slot;
    if (wd->nfree)
        slot = wd->free_slots[--wd->nfree];
    else if (wd->used < WD_MAX)
        slot = (int32_t)wd->used++;
    else
        return -1; /* more at once than the table holds: this one is not watched */
    uint64_t ms = grace_ns / 1000000u;
    wd->tab[slot].grace_ms = (uint32_t)(ms > 600000 ? 600000 : ms);
    __atomic_store_n(&wd->tab[slot].pgid, (int32_t)pgid, __ATOMIC_RELEASE);
    return slot;
}

void weft__watchdog_remove(weft__watchdog_t *wd, int slot)
{
    if (!wd->tab || slot < 0 || slot >= WD_MAX)
        return;
    __atomic_store_n(&wd->tab[slot].pgid, 0, __ATOMIC_RELEASE);
    wd->free_slots[wd->nfree++] = slot;
}

void weft__watchdog_stop(weft__watchdog_t *wd)
{
    if (wd->fd >= 0)
        close(wd->fd);
    if (wd->pid > 0)
        while (waitpid(wd->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    if (wd->tab)
        munmap(wd->tab, WD_MAX * sizeof(struct weft__wd_entry));
    if (wd->free_slots)
        munmap(wd->free_slots, WD_MAX * sizeof *wd->free_slots);
    wd->fd = -1;
    wd->pid = -1;
    wd->tab = NULL;
    wd->free_slots = NULL;
}
