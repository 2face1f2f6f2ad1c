/* The crash reporter: when a task's code faults (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL) or aborts (SIGABRT), say which task did it before the process
 * goes the way it would have gone without weft.
 *
 * Signal dispositions are process-wide, so this is the one piece of
 * process-wide state weft keeps: installed once (the first runtime that
 * does not opt out with WEFT_CONFIG_NO_CRASH_HANDLER) and never removed.
 * The handler only reads the crashing thread's worker record (a TLS
 * pointer set long before) and writes with write(2): async-signal-safe.
 * It then chains to the handler the program had before weft's (called as
 * it asked to be: sa_handler or sa_sigaction), or, when there was none,
 * restores the default action and re-raises, so the exit status and core
 * dump are what they would have been. Worker threads get an alternate
 * signal stack, so a task that overflows its stack is reported too. */
#include "scheduler/internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NSIG_CRASH (sizeof crash_signals / sizeof crash_signals[0])
static struct sigaction previous[NSIG_CRASH];
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* ---- async-signal-safe output ---------------------------------------------------- */

typedef struct {
    char buf[512];
    size_t n;
} out_t;

static void put(out_t *o, const char *s)
{
    for (; s && *s && o->n < sizeof o->buf - 1; s++)
        o->buf[o->n++] = *s;
}

static void put_num(out_t *o, uintptr_t v, unsigned base)
{
    char tmp[24];
    int k = 0;
    do
        tmp[k++] = "0123456789abcdef"[v % base];
    while ((v /= base) != 0 && k < (int)sizeof tmp);
    if (base == 16)
        put(o, "0x");
    while (k && o->n < sizeof o->buf - 1)
        o->buf[o->n++] = tmp[--k];
}

static const char *signame(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic error)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (aborted)";
    default: return "a signal";
    }
}

/* ---- the handler ----------------------------------------------------------------- */

static void report(int sig, const siginfo_t *si)
{
    weft_task_t *t = weft__thread_task();
    if (!t)
        return; /* not inside a weft task: not ours to name */
    const char *name = (t->flags & TASK_F_CHILD) ? ((const struct weft_child *)t)->name : t->name;
    out_t o;
    o.n = 0;
    put(&o, "weft: task '");
    if (name) {
        put(&o, name);
    } else {
        put(&o, "#");
        put_num(&o, t->index, 10);
    }
    put(&o, "' (graph ");
    put_num(&o, (uintptr_t)t->graph, 16);
    put(&o, ", task #");
    put_num(&o, t->index, 10);
    put(&o, ", run ");
    put_num(&o, t->graph ? t->graph->runs : 0, 10);
    put(&o, ") crashed: ");
    put(&o, signame(sig));
    if (sig != SIGABRT && si && si->si_code > 0) { /* raised by the CPU: where */
        put(&o, " at address ");
        put_num(&o, (uintptr_t)si->si_addr, 16);
    }
    put(&o, "\n");
    size_t off = 0;
    while (off < o.n) {
        ssize_t w = write(STDERR_FILENO, o.buf + off, o.n - off);
        if (w <= 0 && errno != EINTR)
            break;
        if (w > 0)
            off += (size_t)w;
    }
}

static void on_crash(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    report(sig, si);
    size_t k = 0;
    while (k < NSIG_CRASH && crash_signals[k] != sig)
        k++;
    const struct sigaction *prev = k < NSIG_CRASH ? &previous[k] : NULL;
    if (prev && (prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
        errno = saved;
        prev->sa_sigaction(sig, si, uc);
        return;
    }
    if (prev && !(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        errno = saved;
        prev->sa_handler(sig);
        return;
    }
    /* No handler before ours: the default action, as if weft had not been
     * there (the signal is blocked in here and delivered on return; a
     * fault re-executes and faults again under the default action). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
    errno = saved;
}

static void install(void)
{
    for (size_t k = 0; k < NSIG_CRASH; k++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_crash;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(crash_signals[k], NULL, &previous[k]) != 0)
            continue;
        /* a program that ignores a signal keeps ignoring it */
        if (!(previous[k].sa_flags & SA_SIGINFO) && previous[k].sa_handler == SIG_IGN)
            continue;
        sigaction(crash_signals[k], &sa, NULL);
    }
}

void weft__crash_install(void)
{
    pthread_once(&install_once, install);
}

/* ---- alternate stacks for the workers ------------------------------------------- */

#define ALT_STACK_BYTES (64u << 10)

void *weft__crash_thread_begin(void)
{
    stack_t ss, old;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
        return NULL; /* the thread has one already */
    void *mem = mmap(NULL, ALT_STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return NULL;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = mem;
    ss.ss_size = ALT_STACK_BYTES;
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, ALT_STACK_BYTES);
        return NULL;
    }
    return mem;
}

void weft__crash_thread_end(void *stack)
{
    if (!stack)
        return;
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    munmap(stack, ALT_STACK_BYTES);
}
