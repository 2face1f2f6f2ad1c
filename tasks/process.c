/* The process executor: one launcher thread that spawns, watches and reaps
 * child processes (see tasks/tasks.h for the contract).
 *
 * The loop waits in epoll on an eventfd (new requests, stop) and on one
 * pidfd per child (readable when it exits); the nearest timeout or kill
 * deadline is the epoll timeout. A child leads its own process group; when
 * it has exited (its pid is still reserved by the zombie) the rest of the
 * group is SIGKILLed before the zombie is reaped, so a pgid is never
 * signalled after its id could be reused. */
#include "tasks/tasks.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "tasks/spawn.h"
#include "tasks/watchdog.h"

extern char **environ;

/* A stream captured in memory (spec.log): its memfd, and once it grew
 * past WEFT__SPILL_BYTES, the spill file its content moves to. */
typedef struct cap {
    int fd;         /* the memfd (-1: none) */
    int spill_fd;   /* -1: not spilled */
    uint64_t moved; /* bytes moved to the spill file (holes in the memfd now) */
    const char *spill;
    int err; /* an errno that lost output */
} cap_t;

typedef struct proc {
    struct proc *next; /* in the request queue */
    char **argv, **envp;
    char *cwd, *out, *err;
    weft__outlog_t *log;
    cap_t cap[2]; /* stdout, stderr */
    weft__cpuset_t cpus;
    bool bind;
    uint64_t timeout_ns, grace_ns;
    weft__proc_done_fn done;
    void *ud;
    /* running */
    pid_t pid;
    int pidfd;
    int wd_slot; /* in the watchdog's table (-1: not watched) */
    uint64_t start_ns, deadline_ns, kill_ns;
    bool timed_out, canceled;
    size_t slot;
} proc_t;

struct weft__procs {
    pthread_t thread;
    int epfd, evfd;
    int devnull; /* every child's stdin (-1: opened for each) */
    weft__topo_t *topo;
    pthread_mutex_t lock; /* guards the queue and the cancel requests */
    proc_t *qhead, *qtail;
    struct cancel_req {
        const void *ud;
        uint64_t grace_ns;
    } * creq, *cdone; /* weft__procs_cancel's requests; cdone: the array handled last */
    size_t ncreq, capcreq, capcdone;
    /* weft__procs_after's timers (under lock); fired on the loop's thread */
    struct ptimer {
        uint64_t due_ns;
        void (*fn)(void *ud);
        void *ud;
    } * timers;
    size_t ntimers, captimers;
    /* stop and destroy can come from a signal handler: atomics + eventfd.
     * relaxed is enough: the eventfd write/read orders them for the loop. */
    atomic_int stopping, destroying;
    atomic_uint_fast64_t stop_grace_ns;
    atomic_uint stop_gen; /* one more per weft__procs_stop call */
    atomic_int nrunning;
    atomic_int ncancel;  /* cancel requests are waiting */
    weft__watchdog_t wd; /* ends the groups if weft dies without doing it */
    /* launcher-thread only */
    proc_t **running;
    size_t nrun, caprun;
    unsigned stop_handled; /* the stop_gen handled last */
};

static void wake(weft__procs_t *x)
{
    uint64_t one = 1;
    ssize_t r = write(x->evfd, &one, sizeof one);
    (void)r; /* the counter cannot overflow in practice; a full one still wakes */
}

/* ==== requests ============================================================ */

static size_t strv_size(const char *const *v, size_t *n)
{
    size_t bytes = 0;
    *n = 0;
    for (; v && v[*n]; (*n)++)
        bytes += strlen(v[*n]) + 1;
    return bytes;
}

static char **strv_copy(const char *const *v, size_t n, char ***slots, char **bytes)
{
    char **out = *slots;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]) + 1;
        memcpy(*bytes, v[i], len);
        out[i] = *bytes;
        *bytes += len;
    }
    out[n] = NULL;
    *slots += n + 1;
    return out;
}

static char *str_copy(const char *s, char **bytes)
{
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    char *d = memcpy(*bytes, s, len);
    *bytes += len;
    return d;
}

/* One allocation holds the request and copies of everything it points to. */
static proc_t *proc_new(const weft__proc_spec_t *s)
{
    size_t na, ne, bytes = strv_size(s->argv, &na) + strv_size(s->envp, &ne);
    bytes += (s->cwd ? strlen(s->cwd) + 1 : 0) + (s->stdout_path ? strlen(s->stdout_path) + 1 : 0) +
             (s->stderr_path ? strlen(s->stderr_path) + 1 : 0) + (s->stdout_spill ? strlen(s->stdout_spill) + 1 : 0) +
             (s->stderr_spill ? strlen(s->stderr_spill) + 1 : 0);
    size_t nslots = na + 1 + (s->envp ? ne + 1 : 0);
    proc_t *p = weft__malloc(sizeof *p + nslots * sizeof(char *) + bytes);
    if (!p)
        return NULL;
    memset(p, 0, sizeof *p);
    char **slots = (char **)(p + 1);
    char *b = (char *)(slots + nslots);
    p->argv = strv_copy(s->argv, na, &slots, &b);
    p->envp = s->envp ? strv_copy(s->envp, ne, &slots, &b) : NULL;
    p->cwd = str_copy(s->cwd, &b);
    p->out = str_copy(s->stdout_path, &b);
    p->err = str_copy(s->stderr_path, &b);
    p->log = s->log;
    p->cap[0] = (cap_t){.fd = -1, .spill_fd = -1, .spill = str_copy(s->stdout_spill, &b)};
    p->cap[1] = (cap_t){.fd = -1, .spill_fd = -1, .spill = str_copy(s->stderr_spill, &b)};
    if (s->cpus) {
        p->cpus = *s->cpus;
        p->bind = true;
    }
    p->timeout_ns = s->timeout_ns;
    p->grace_ns = s->grace_ns ? s->grace_ns : 2000000000u;
    p->pidfd = -1;
    return p;
}

int weft__procs_start(weft__procs_t *x, const weft__proc_spec_t *spec, weft__proc_done_fn done, void *ud)
{
    if (!x || !spec || !spec->argv || !spec->argv[0] || !done || (spec->cpus && !x->topo))
        return WEFT_EINVAL;
    if (atomic_load_explicit(&x->stopping, memory_order_relaxed))
        return WEFT_ESTATE;
    proc_t *p = proc_new(spec);
    if (!p)
        return WEFT_ENOMEM;
    p->done = done;
    p->ud = ud;
    atomic_fetch_add_explicit(&x->nrunning, 1, memory_order_relaxed);
    pthread_mutex_lock(&x->lock);
    if (x->qtail)
        x->qtail->next = p;
    else
        x->qhead = p;
    x->qtail = p;
    pthread_mutex_unlock(&x->lock);
    /* From a done callback the loop is this thread, and it drains the
     * queue until it is empty before it waits again. */
    if (!pthread_equal(pthread_self(), x->thread))
        wake(x);
    return 0;
}

size_t weft__env_inherit(const char **envp, size_t n)
{
    size_t given = n;
    for (size_t i = 0; environ[i]; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool overridden = false;
        for (size_t k = 0; k < given && !overridden; k++)
            overridden = strncmp(envp[k], environ[i], klen) == 0 && envp[k][klen] == '=';
        if (!overridden)
            envp[n++] = environ[i];
    }
    return n;
}

int weft__procs_running(weft__procs_t *x)
{
    return atomic_load_explicit(&x->nrunning, memory_order_relaxed);
}

/* ==== finishing =========================================================== */

static void finish(weft__procs_t *x, proc_t *p, weft__proc_result_t *r)
{
    atomic_fetch_sub_explicit(&x->nrunning, 1, memory_order_relaxed);
    p->done(p->ud, r);
    weft__free(p);
}

static void not_started(weft__procs_t *x, proc_t *p, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void not_started(weft__procs_t *x, proc_t *p, int status, const char *fmt, ...)
{
    weft__proc_result_t r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.exit_code = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.reason, sizeof r.reason, fmt, ap);
    va_end(ap);
    finish(x, p, &r);
}

static void describe_signal(char *buf, size_t size, int sig)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, size, "killed by signal %d (SIG%s)", sig, abbrev);
    else
        snprintf(buf, size, "killed by signal %d", sig);
}

/* ==== captured output ===================================================== */

/* Moves what c holds past `moved` to its spill file (created at the first
 * move) and frees that memory (a hole in the memfd; the child writes on
 * at its own offset). Returns 0 or an errno. */
static int spill(cap_t *c, uint64_t size)
{
    if (!c->spill)
        return 0; /* nowhere to move it: it stays in memory */
    if (c->spill_fd < 0 && (c->spill_fd = open(c->spill, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return errno;
    uint64_t at = c->moved;
    int e = weft__fd_copy(c->spill_fd, &at, c->fd, c->moved, size - c->moved);
    if (e)
        return e;
    fallocate(c->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)c->moved, (off_t)(size - c->moved));
    c->moved = size;
    return 0;
}

/* Running processes whose captured output grew past the spill size:
 * moved out of memory. Returns whether any process captures (then the
 * loop looks again within a second). */
static bool spill_check(weft__procs_t *x)
{
    bool any = false;
    for (size_t i = 0; i < x->nrun; i++)
        for (int k = 0; k < 2; k++) {
            cap_t *c = &x->running[i]->cap[k];
            struct stat st;
            if (c->fd < 0 || c->err)
                continue;
            any = true;
            if (fstat(c->fd, &st) == 0 && (uint64_t)st.st_size - c->moved >= WEFT__SPILL_BYTES)
                c->err = spill(c, (uint64_t)st.st_size);
        }
    return any;
}

/* At the end: the stream's output into the log (or the rest of it into
 * its spill file), and its memfd closed. */
static void collect(proc_t *p, int k, weft__proc_result_t *r)
{
    cap_t *c = &p->cap[k];
    if (c->fd < 0)
        return;
    struct stat st;
    uint64_t size = fstat(c->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    uint64_t off = 0, len = 0;
    int e = c->err;
    if (!e && c->spill_fd >= 0) {
        e = spill(c, size);
    } else if (!e && size > 0) {
        e = weft__outlog_append(p->log, c->fd, 0, size, &off);
        len = e ? 0 : size;
    }
    if (c->spill_fd >= 0 && close(c->spill_fd) != 0 && !e)
        e = errno;
    close(c->fd);
    c->fd = c->spill_fd = -1;
    if (k == 0) {
        r->out_off = off, r->out_len = len, r->out_spilled = c->moved > 0;
    } else {
        r->err_off = off, r->err_len = len, r->err_spilled = c->moved > 0;
    }
    if (e && !r->log_err)
        r->log_err = e;
}

static void caps_close(proc_t *p)
{
    for (int k = 0; k < 2; k++) {
        if (p->cap[k].fd >= 0)
            close(p->cap[k].fd);
        if (p->cap[k].spill_fd >= 0)
            close(p->cap[k].spill_fd);
        p->cap[k].fd = p->cap[k].spill_fd = -1;
    }
}

static void reap(weft__procs_t *x, proc_t *p)
{
    /* The leader has exited (its pidfd is readable) and is a zombie, so its
     * pid, the group's id, cannot be reused yet: kill what is left of the
     * group, then reap. */
    kill(-p->pid, SIGKILL);
    weft__watchdog_remove(&x->wd, p->wd_slot);
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(p->pid, &st, 0, &ru) < 0 && errno == EINTR)
        ;
    weft__proc_result_t r;
    memset(&r, 0, sizeof r);
    r.started = true;
    r.pid = p->pid;
    r.wall_ns = weft__clock_ns() - p->start_ns;
    r.user_ns = (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u;
    r.sys_ns = (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
    r.maxrss_kb = ru.ru_maxrss;
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    r.timed_out = p->timed_out;
    collect(p, 0, &r);
    collect(p, 1, &r);
    if (p->canceled) {
        r.status = WEFT_ECANCELED;
        snprintf(r.reason, sizeof r.reason, "stopped before it finished");
    } else if (p->timed_out) {
        r.status = WEFT_ETASK;
        snprintf(r.reason, sizeof r.reason, "timed out after %g s", (double)p->timeout_ns / 1e9);
    } else if (r.exit_code == 0) {
        r.status = 0;
        snprintf(r.reason, sizeof r.reason, "exited with status 0");
    } else if (r.exit_code > 0) {
        r.status = WEFT_ETASK;
        snprintf(r.reason, sizeof r.reason, "exited with status %d", r.exit_code);
    } else {
        r.status = WEFT_ETASK;
        describe_signal(r.reason, sizeof r.reason, r.signal);
    }
    epoll_ctl(x->epfd, EPOLL_CTL_DEL, p->pidfd, NULL);
    close(p->pidfd);
    /* swap-remove from the running array */
    proc_t *last = x->running[--x->nrun];
    x->running[p->slot] = last;
    last->slot = p->slot;
    finish(x, p, &r);
}

/* ==== spawning ============================================================ */

/* A stream's fd for the child: its file, a memfd (captured into the log),
 * or /dev/null. */
static int open_output(proc_t *p, const char *path, int k)
{
    if (!path && p->log) {
        int fd = memfd_create(k ? "weft-stderr" : "weft-stdout", MFD_CLOEXEC);
        if (fd >= 0)
            p->cap[k].fd = fd;
        return fd;
    }
    return open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static void spawn(weft__procs_t *x, proc_t *p)
{
    if (WEFT__GROW(x->running, x->caprun, x->nrun + 1, 64)) {
        not_started(x, p, WEFT_ENOMEM, "out of memory");
        return;
    }
    int out = open_output(p, p->out, 0);
    if (out < 0) {
        not_started(x, p, WEFT_ETASK, "cannot open the stdout file '%s': %s", p->out ? p->out : "(memory)",
                    strerror(errno));
        return;
    }
    int err = open_output(p, p->err, 1);
    if (err < 0) {
        int e = errno;
        if (p->cap[0].fd < 0)
            close(out);
        caps_close(p);
        not_started(x, p, WEFT_ETASK, "cannot open the stderr file '%s': %s", p->err ? p->err : "(memory)",
                    strerror(e));
        return;
    }
    int in = x->devnull >= 0 ? x->devnull : open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* its own process group, default signal dispositions and an empty
     * mask whatever weft itself set up for SIGINT, SIGTERM or SIGPIPE,
     * bound to its cpus by itself (spawn.c) */
    weft__spawn_t sp = {.argv = p->argv,
                        .envp = p->envp ? p->envp : environ,
                        .cwd = p->cwd,
                        .in = in,
                        .out = out,
                        .err = err,
                        .cpus = p->bind ? &p->cpus : NULL};
    pid_t pid = 0;
    const char *stage = "exec";
    int rc = in < 0 ? errno : weft__spawn(&sp, &pid, &stage);
    if (in >= 0 && in != x->devnull)
        close(in);
    if (p->cap[0].fd < 0) /* a memfd stays open: its content is read at the end */
        close(out);
    if (p->cap[1].fd < 0)
        close(err);
    if (rc) {
        caps_close(p);
        if (strcmp(stage, "chdir") == 0)
            not_started(x, p, WEFT_ETASK, "cannot change to the directory '%s': %s", p->cwd, strerror(rc));
        else if (strcmp(stage, "exec") == 0)
            not_started(x, p, WEFT_ETASK, "cannot run '%s': %s", p->argv[0], strerror(rc));
        else if (strcmp(stage, "bind") == 0)
            not_started(x, p, WEFT_ETASK, "cannot bind '%s' to its cpus: %s", p->argv[0], strerror(rc));
        else
            not_started(x, p, WEFT_ETASK, "cannot start '%s' (%s): %s", p->argv[0], stage, strerror(rc));
        return;
    }
    p->wd_slot = weft__watchdog_add(&x->wd, pid, p->grace_ns);
    p->pid = pid;
    p->start_ns = weft__clock_ns();
    p->deadline_ns = p->timeout_ns ? p->start_ns + p->timeout_ns : 0;
    p->pidfd = pidfd_open(pid, 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
    if (p->pidfd < 0 || epoll_ctl(x->epfd, EPOLL_CTL_ADD, p->pidfd, &ev) != 0) {
        /* Without a pidfd the loop cannot see it exit: end it now. */
        int e = errno;
        kill(-pid, SIGKILL);
        weft__watchdog_remove(&x->wd, p->wd_slot);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (p->pidfd >= 0)
            close(p->pidfd);
        caps_close(p);
        not_started(x, p, WEFT_ESYS, "cannot watch the process: %s", strerror(e));
        return;
    }
    p->slot = x->nrun;
    x->running[x->nrun++] = p;
}

/* ==== the loop ============================================================ */

static void signal_group(proc_t *p, int sig)
{
    kill(-p->pid, sig);
}

/* Timeouts and kill deadlines; returns the epoll timeout in ms (-1: none). */
static int deadlines(weft__procs_t *x)
{
    uint64_t now = weft__clock_ns(), next = UINT64_MAX;
    for (size_t i = 0; i < x->nrun; i++) {
        proc_t *p = x->running[i];
        if (p->deadline_ns && now >= p->deadline_ns && !p->timed_out && !p->canceled) {
            p->timed_out = true;
            signal_group(p, SIGTERM);
            p->kill_ns = now + p->grace_ns;
        }
        if (p->kill_ns && now >= p->kill_ns) {
            signal_group(p, SIGKILL);
            p->kill_ns = 0;
        }
        if (p->deadline_ns && !p->timed_out && !p->canceled && p->deadline_ns < next)
            next = p->deadline_ns;
        if (p->kill_ns && p->kill_ns < next)
            next = p->kill_ns;
    }
    if (next == UINT64_MAX)
        return -1;
    uint64_t ms = (next - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

/* Ends p as a stop does: SIGTERM now and SIGKILL after the grace period,
 * or SIGKILL at once; a shorter grace than p's pending one wins. */
static void cancel_proc(proc_t *p, uint64_t now, uint64_t grace)
{
    p->canceled = true;
    if (!grace) {
        signal_group(p, SIGKILL);
        p->kill_ns = 0;
    } else if (!p->kill_ns || now + grace < p->kill_ns) {
        if (!p->kill_ns)
            signal_group(p, SIGTERM);
        p->kill_ns = now + grace;
    }
}

/* weft__procs_cancel's requests: every running process of each ud. */
static void handle_cancels(weft__procs_t *x)
{
    pthread_mutex_lock(&x->lock);
    struct cancel_req *c = x->creq;
    size_t n = x->ncreq, cap = x->capcreq;
    x->creq = x->cdone; /* the two arrays swap: no allocation per request */
    x->capcreq = x->capcdone;
    x->ncreq = 0;
    x->cdone = c;
    x->capcdone = cap;
    pthread_mutex_unlock(&x->lock);
    uint64_t now = weft__clock_ns();
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < x->nrun; i++)
            if (x->running[i]->ud == c[k].ud)
                cancel_proc(x->running[i], now, c[k].grace_ns);
    /* a timer of a cancelled ud fires now (its callback sees the stop) */
    pthread_mutex_lock(&x->lock);
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < x->ntimers; i++)
            if (x->timers[i].ud == c[k].ud)
                x->timers[i].due_ns = 0;
    pthread_mutex_unlock(&x->lock);
}

/* Fires the due timers (all of them when stopping); returns the next due
 * time (UINT64_MAX: none). */
static uint64_t fire_timers(weft__procs_t *x, bool all)
{
    for (;;) {
        uint64_t now = weft__clock_ns(), next = UINT64_MAX;
        struct ptimer due = {0};
        bool found = false;
        pthread_mutex_lock(&x->lock);
        for (size_t i = 0; i < x->ntimers; i++) {
            if (all || x->timers[i].due_ns <= now) {
                due = x->timers[i];
                x->timers[i] = x->timers[--x->ntimers];
                found = true;
                break;
            }
            if (x->timers[i].due_ns < next)
                next = x->timers[i].due_ns;
        }
        pthread_mutex_unlock(&x->lock);
        if (!found)
            return next;
        due.fn(due.ud); /* may queue a request or another timer */
    }
}

/* A stop (or a second one with a shorter grace: Ctrl-C twice). */
static void handle_stop(weft__procs_t *x)
{
    x->stop_handled = atomic_load_explicit(&x->stop_gen, memory_order_relaxed);
    uint64_t now = weft__clock_ns();
    uint64_t grace = atomic_load_explicit(&x->stop_grace_ns, memory_order_relaxed);
    for (size_t i = 0; i < x->nrun; i++)
        cancel_proc(x->running[i], now, grace);
}

/* Starts the queued processes until none is left (one that cannot start
 * calls its done callback, which may queue another). */
static void drain(weft__procs_t *x)
{
    for (;;) {
        pthread_mutex_lock(&x->lock);
        proc_t *q = x->qhead;
        x->qhead = x->qtail = NULL;
        pthread_mutex_unlock(&x->lock);
        if (!q)
            break;
        bool stopping = atomic_load_explicit(&x->stopping, memory_order_relaxed);
        while (q) {
            proc_t *n = q->next;
            if (stopping)
                not_started(x, q, WEFT_ECANCELED, "not started: stopped");
            else
                spawn(x, q);
            q = n;
        }
    }
}

static void *loop(void *arg)
{
    weft__procs_t *x = arg;
    struct epoll_event evs[64];
    for (;;) {
        /* Requests, until none is left: a process that cannot start calls
         * its done callback here, which may free cores and queue the next
         * request from this very thread (without a wake-up, see
         * weft__procs_start), so the queue is looked at again before the
         * loop may sleep. */
        drain(x);
        if (atomic_load_explicit(&x->ncancel, memory_order_acquire)) {
            atomic_store_explicit(&x->ncancel, 0, memory_order_relaxed);
            handle_cancels(x);
        }
        bool stopping = atomic_load_explicit(&x->stopping, memory_order_relaxed);
        if (stopping && x->stop_handled != atomic_load_explicit(&x->stop_gen, memory_order_relaxed))
            handle_stop(x);
        uint64_t next_timer = fire_timers(x, stopping);
        pthread_mutex_lock(&x->lock);
        bool requests = x->qhead != NULL; /* a timer's callback queued one */
        pthread_mutex_unlock(&x->lock);
        if (requests)
            continue;
        int timeout = deadlines(x);
        if (spill_check(x) && (timeout < 0 || timeout > 1000))
            timeout = 1000; /* a process that captures: its output looked at each second */
        if (next_timer != UINT64_MAX) {
            uint64_t now = weft__clock_ns();
            uint64_t ms = next_timer > now ? (next_timer - now + 999999) / 1000000 : 0;
            if (timeout < 0 || ms < (uint64_t)timeout)
                timeout = ms > 60000 ? 60000 : (int)ms;
        }
        if (atomic_load_explicit(&x->destroying, memory_order_relaxed) && x->nrun == 0) {
            pthread_mutex_lock(&x->lock);
            bool empty = x->qhead == NULL && x->ntimers == 0;
            pthread_mutex_unlock(&x->lock);
            if (empty)
                return NULL;
            continue;
        }
        int n = epoll_wait(x->epfd, evs, 64, timeout);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                ssize_t r = read(x->evfd, &v, sizeof v);
                (void)r;
            } else {
                reap(x, evs[i].data.ptr);
            }
        }
    }
}

/* ==== lifetime ============================================================ */

int weft__procs_create(weft__topo_t *topo, weft__procs_t **out)
{
    weft__procs_t *x = weft__calloc(1, sizeof *x);
    if (!x)
        return WEFT_ENOMEM;
    x->topo = topo;
    x->epfd = epoll_create1(EPOLL_CLOEXEC);
    x->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (x->epfd < 0 || x->evfd < 0 || epoll_ctl(x->epfd, EPOLL_CTL_ADD, x->evfd, &ev) != 0)
        goto fail;
    pthread_mutex_init(&x->lock, NULL);
    /* Before the launcher thread: the watchdog is forked with as few
     * threads around as possible. Without it (fork failed) processes are
     * still ended by weft itself, only not after a SIGKILL of weft. */
    if (weft__watchdog_start(&x->wd) != 0)
        weft__log("cannot start the watchdog process (%s): task processes will not be ended "
                  "if weft is killed with SIGKILL",
                  strerror(errno));
    x->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* The launcher blocks every signal: a handler of the embedding program
     * (weft's Ctrl-C one included) never runs on it mid-spawn. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&x->thread, NULL, loop, x);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        weft__watchdog_stop(&x->wd);
        pthread_mutex_destroy(&x->lock);
        if (x->devnull >= 0)
            close(x->devnull);
        goto fail;
    }
    *out = x;
    return 0;
fail:
    if (x->epfd >= 0)
        close(x->epfd);
    if (x->evfd >= 0)
        close(x->evfd);
    weft__free(x);
    return WEFT_ESYS;
}

void weft__procs_stop(weft__procs_t *x, uint64_t grace_ns)
{
    if (!atomic_exchange_explicit(&x->stopping, 1, memory_order_relaxed) ||
        grace_ns < atomic_load_explicit(&x->stop_grace_ns, memory_order_relaxed))
        atomic_store_explicit(&x->stop_grace_ns, grace_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&x->stop_gen, 1, memory_order_relaxed);
    wake(x);
}

int weft__procs_after(weft__procs_t *x, uint64_t delay_ns, void (*fn)(void *ud), void *ud)
{
    if (!x || !fn)
        return WEFT_EINVAL;
    if (atomic_load_explicit(&x->stopping, memory_order_relaxed))
        return WEFT_ESTATE;
    pthread_mutex_lock(&x->lock);
    int rc = WEFT__GROW(x->timers, x->captimers, x->ntimers + 1, 8);
    if (rc == 0)
        x->timers[x->ntimers++] = (struct ptimer){weft__clock_ns() + delay_ns, fn, ud};
    pthread_mutex_unlock(&x->lock);
    if (rc)
        return WEFT_ENOMEM;
    if (!pthread_equal(pthread_self(), x->thread))
        wake(x);
    return 0;
}

int weft__procs_cancel(weft__procs_t *x, const void *ud, uint64_t grace_ns)
{
    if (!x)
        return WEFT_EINVAL;
    pthread_mutex_lock(&x->lock);
    int rc = WEFT__GROW(x->creq, x->capcreq, x->ncreq + 1, 16);
    if (rc == 0)
        x->creq[x->ncreq++] = (struct cancel_req){ud, grace_ns};
    pthread_mutex_unlock(&x->lock);
    if (rc)
        return WEFT_ENOMEM;
    atomic_store_explicit(&x->ncancel, 1, memory_order_release);
    /* from a done callback the loop is this thread: it looks again */
    if (!pthread_equal(pthread_self(), x->thread))
        wake(x);
    return 0;
}

void weft__procs_destroy(weft__procs_t *x)
{
    if (!x)
        return;
    weft__procs_stop(x, 0);
    atomic_store_explicit(&x->destroying, 1, memory_order_relaxed);
    wake(x);
    pthread_join(x->thread, NULL);
    weft__watchdog_stop(&x->wd);
    close(x->epfd);
    close(x->evfd);
    if (x->devnull >= 0)
        close(x->devnull);
    pthread_mutex_destroy(&x->lock);
    weft__free(x->running);
    weft__free(x->creq);
    weft__free(x->cdone);
    weft__free(x->timers);
    weft__free(x);
}
