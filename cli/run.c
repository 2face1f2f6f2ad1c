/* `weft run`: starts the run, shows progress (a live line on a terminal,
 * a line per finished task otherwise), handles Ctrl-C / SIGTERM, and ends
 * with a summary naming every failed task, its reason, where its stderr is
 * and its last lines, then the table of results the tasks reported. */
#include "cli/cli.h"
#include "weft/trace.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "weft/error.h"
#include "weft/log.h"

typedef struct view {
    pthread_mutex_t lock; /* the terminal: events vs the progress line */
    bool tty, quiet, verbose, line_shown;
    weft__flow_run_t *run;
    double t0;
    atomic_size_t finished;
    size_t total;
} view_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fmt_time(double s, char *buf, size_t n)
{
    if (s < 60)
        snprintf(buf, n, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

static void clear_line(view_t *v)
{
    if (v->tty && v->line_shown) {
        fputs("\r\033[K", stdout);
        v->line_shown = false;
    }
}

static void progress(view_t *v)
{
    if (!v->tty)
        return;
    weft__flow_counts_t c;
    weft__flow_run_counts(v->run, &c);
    double el = now_s() - v->t0;
    char elapsed[32], eta[32] = "?";
    size_t fin = c.done + c.failed + c.cached;
    if (fin > 0 && fin < c.total)
        fmt_time(el / (double)fin * (double)(c.total - fin), eta, sizeof eta);
    else if (fin == c.total)
        snprintf(eta, sizeof eta, "0s");
    fmt_time(el, elapsed, sizeof elapsed);
    /* a bar of 20 cells, then the counts, the rate and the time left */
    char bar[24];
    size_t cells = c.total ? fin * 20 / c.total : 20;
    for (size_t k = 0; k < 20; k++)
        bar[k] = k < cells ? '#' : '.';
    bar[20] = '\0';
    size_t queued = c.total > fin + c.running ? c.total - fin - c.running : 0;
    double rate = el > 0 ? (double)(fin - c.cached) / el : 0;
    printf("\r\033[K[%s] %zu/%zu: %zu done, %zu running, %zu queued, %zu failed | %.*f tasks/s | %s, ETA %s", bar, fin,
           c.total, c.done, c.running, queued, c.failed, rate < 10 ? 1 : 0, rate, elapsed, eta);
    fflush(stdout);
    v->line_shown = true;
}

/* Called under the run's lock, on any thread. */
static void on_event(void *ud, const weft__flow_event_t *e)
{
    view_t *v = ud;
    bool retry = e->state == WEFT_FLOW_RUNNING;
    bool show = !v->quiet || (e->state != WEFT_FLOW_DONE && e->state != WEFT_FLOW_NOT_RUN);
    if (v->tty && !v->verbose) /* the live line says the rest */
        show = e->state != WEFT_FLOW_DONE && e->state != WEFT_FLOW_NOT_RUN;
    if (!show) {
        atomic_fetch_add(&v->finished, !retry);
        return;
    }
    pthread_mutex_lock(&v->lock);
    size_t finished = atomic_fetch_add(&v->finished, !retry) + !retry;
    clear_line(v);
    if (retry)
        printf("retry   %s: attempt %d of %d: %s\n", e->task, e->attempt, e->attempts, e->reason);
    else
        printf("[%*zu/%zu] %-7s %s (%.2fs)%s%s\n", (int)snprintf(NULL, 0, "%zu", v->total), finished, v->total,
               e->state == WEFT_FLOW_DONE     ? "done"
               : e->state == WEFT_FLOW_FAILED ? "FAILED"
                                              : "stopped",
               e->task, e->wall_s, e->reason[0] ? ": " : "", e->reason);
    /* (off a terminal the lines are flushed with the progress tick, every
     * 100 ms, not one write per task: a million-task run piped to a file) */
    pthread_mutex_unlock(&v->lock);
}

/* weft's warnings during the run (a lost rank, say): on their own line,
 * not in the middle of the progress line. */
static void on_log(void *ud, const char *msg)
{
    view_t *v = ud;
    pthread_mutex_lock(&v->lock);
    clear_line(v);
    fflush(stdout);
    fprintf(stderr, "weft: %s\n", msg);
    pthread_mutex_unlock(&v->lock);
}

/* "flow", or "flow (shard 2/4)" for a slice */
static const char *run_label(const weft__flow_t *f, char *buf, size_t cap)
{
    const char *shard = weft__flow_shard_text(f);
    if (shard)
        snprintf(buf, cap, "%s (shard %s)", weft__flow_name(f), shard);
    else
        snprintf(buf, cap, "%s", weft__flow_name(f));
    return buf;
}

static void summary(view_t *v, const weft__flow_t *f, double secs, int sig)
{
    weft__flow_run_t *r = v->run;
    weft__flow_counts_t c;
    weft__flow_run_counts(r, &c);
    char el[32];
    fmt_time(secs, el, sizeof el);
    char stopped[48] = "", cached[48] = ""; /* said only when there are some */
    if (c.stopped)
        snprintf(stopped, sizeof stopped, ", %zu stopped", c.stopped);
    if (c.cached)
        snprintf(cached, sizeof cached, ", %zu cached", c.cached);
    char label[320];
    printf("\n%s: %zu tasks: %zu done%s, %zu failed%s, %zu skipped, %zu not run, in %s%s\n",
           run_label(f, label, sizeof label), c.total, c.done, cached, c.failed, stopped, c.skipped, c.not_run, el,
           sig == SIGINT    ? " (interrupted)"
           : sig == SIGTERM ? " (terminated)"
                            : "");
    size_t nfail = 0, nskip = 0;
    for (size_t i = 0; i < weft__flow_ntasks_all(f); i++) {
        const char *name;
        int st = weft__flow_run_task(r, i, &name);
        if (st == WEFT_FLOW_SKIPPED || st == WEFT_FLOW_NOT_RUN) {
            nskip++;
            continue;
        }
        if (st != WEFT_FLOW_FAILED && st != WEFT_FLOW_STOPPED)
            continue;
        if (nfail++ == 20) {
            printf("  (more failures in tasks.tsv)\n");
            continue;
        }
        if (nfail > 20)
            continue;
        const char *where, *last;
        weft__flow_run_stderr(r, i, &where, &last);
        printf("  %s %s: %s\n", st == WEFT_FLOW_FAILED ? "FAILED" : "STOPPED", name, weft__flow_run_reason(r, i));
        if (where[0])
            printf("    stderr: %s\n", where);
        for (const char *l = last; *l;) {
            size_t n = strcspn(l, "\n");
            printf("    | %.*s\n", (int)n, l);
            l += n + (l[n] == '\n');
        }
    }
    if (nskip) {
        printf("  did not run:");
        size_t shown = 0;
        for (size_t i = 0; i < weft__flow_ntasks_all(f) && shown < 10; i++) {
            const char *name;
            int st = weft__flow_run_task(r, i, &name);
            if (st == WEFT_FLOW_SKIPPED || st == WEFT_FLOW_NOT_RUN)
                printf("%s %s", shown++ ? "," : "", name);
        }
        if (nskip > shown)
            printf(" and %zu more", nskip - shown);
        printf(" (%s)\n", c.skipped ? "a dependency failed or the run stopped" : "the run stopped");
    }
    char why[PATH_MAX + 512];
    bool first;
    if (weft__flow_run_record_error(r, why, sizeof why, &first))
        printf("  record: %s/tasks.tsv is INCOMPLETE: %s\n", weft__flow_run_dir(r), why);
    else
        printf("  record: %s/tasks.tsv (run %s in the run store: weft results, weft runs)\n", weft__flow_run_dir(r),
               strrchr(weft__flow_run_dir(r), '/') + 1);
}

/* Says at once (on stderr, above the progress line) that the run's record
 * cannot be written. When the run store refuses what finished, the run
 * stops: going on would do work nothing records. */
static void record_check(view_t *v, const weft__flow_t *f, bool stopping, bool ended)
{
    char why[PATH_MAX + 512];
    bool first;
    if (!weft__flow_run_record_error(v->run, why, sizeof why, &first) || !first)
        return;
    bool stop = weft__flow_run_store_failed(v->run) && !stopping;
    pthread_mutex_lock(&v->lock);
    clear_line(v);
    fflush(stdout);
    fprintf(stderr, "weft: %s%s\n", why,
            ended  ? ""
            : stop ? "; stopping the run (running tasks get SIGTERM)"
                   : "; the run goes on");
    pthread_mutex_unlock(&v->lock);
    if (stop)
        weft__flow_run_interrupt(v->run, weft__flow_grace_ns(f));
}

/* The results the tasks reported, as a table: task, its parameters, then
 * one column per result key in order of first appearance. */
static void results_table(weft__flow_run_t *r, const weft__flow_t *f)
{
    size_t n = weft__flow_run_nresults(r);
    if (!n)
        return;
    enum { MAXCOL = 16 };
    char keys[MAXCOL][64];
    size_t nkeys = 0, wtask = 4, wparams = 6, wcol[MAXCOL];
    for (size_t k = 0; k < n; k++) {
        size_t ti;
        const char *params, *res, *name;
        weft__flow_run_result(r, k, &ti, &params, &res);
        weft__flow_run_task(r, ti, &name);
        wtask = strlen(name) > wtask ? strlen(name) : wtask;
        wparams = strlen(params) > wparams ? strlen(params) : wparams;
        char *tmp = strdup(res);
        for (char *kv = tmp ? strtok(tmp, "\n") : NULL; kv; kv = strtok(NULL, "\n")) {
            char *eq = strchr(kv, '=');
            if (!eq)
                continue;
            *eq = '\0';
            size_t j = 0;
            while (j < nkeys && strcmp(keys[j], kv) != 0)
                j++;
            if (j == nkeys && nkeys < MAXCOL) {
                snprintf(keys[nkeys], sizeof keys[0], "%s", kv);
                wcol[nkeys++] = strlen(kv);
            }
            if (j < nkeys && strlen(eq + 1) > wcol[j])
                wcol[j] = strlen(eq + 1);
        }
        free(tmp);
    }
    printf("\nresults:\n  %-*s  %-*s", (int)wtask, "task", (int)wparams, "params");
    for (size_t j = 0; j < nkeys; j++)
        printf("  %*s", (int)wcol[j], keys[j]);
    putchar('\n');
    for (size_t k = 0; k < n; k++) {
        size_t ti;
        const char *params, *res, *name;
        weft__flow_run_result(r, k, &ti, &params, &res);
        weft__flow_run_task(r, ti, &name);
        printf("  %-*s  %-*s", (int)wtask, name, (int)wparams, params);
        for (size_t j = 0; j < nkeys; j++) {
            const char *val = "-";
            char *tmp = strdup(res);
            for (char *kv = tmp ? strtok(tmp, "\n") : NULL; kv; kv = strtok(NULL, "\n")) {
                char *eq = strchr(kv, '=');
                if (eq && (size_t)(eq - kv) == strlen(keys[j]) && strncmp(kv, keys[j], strlen(keys[j])) == 0) {
                    val = res + (eq + 1 - tmp);
                    break;
                }
            }
            free(tmp);
            size_t vlen = strcspn(val, "\n");
            printf("  %*s%.*s", (int)(wcol[j] - (vlen < wcol[j] ? vlen : wcol[j])), "", (int)vlen, val);
        }
        putchar('\n');
    }
}

/* --summary, --trace, --report after the run; 0, or -1 (reported). */
static int traces(weft__flow_run_t *r, const cli_run_opts_t *o)
{
    weft_runtime_t *rt = weft__flow_run_runtime(r);
    int bad = 0;
    if (o->summary) {
        putchar('\n');
        if (o->bottleneck > 0)
            weft_runtime_set_bottleneck(rt, o->bottleneck);
        bad |= weft_runtime_write_summary(rt, stdout) != 0;
    }
    if (o->trace[0]) {
        if (weft_runtime_write_trace(rt, o->trace) == 0)
            printf("trace: %s (open it in https://ui.perfetto.dev or chrome://tracing)\n", o->trace);
        else
            bad = 1;
    }
    if (o->report[0]) {
        if (weft_runtime_write_report(rt, o->report) == 0)
            printf("report: %s\n", o->report);
        else
            bad = 1;
    }
    return bad ? -1 : 0;
}

static void nothing_to_resume(const weft__flow_t *f, const cli_run_opts_t *o)
{
    if (o->resume.mode != WEFT_FLOW_FRESH && !weft__flow_resumed(f))
        fprintf(stderr, "weft: nothing to resume: no earlier run of '%s' in the run store; everything runs\n",
                weft__flow_name(f));
}

int weft__cli_run(weft__flow_t *f, const cli_run_opts_t *o)
{
    char err[1024];
    if (o->dry_run) {
        if (o->resume.mode == WEFT_FLOW_FRESH) {
            weft__flow_write_plan(f, stdout);
            return CLI_OK;
        }
        int prc = weft__flow_plan(f, &o->resume, true, err, sizeof err);
        if (prc) {
            fprintf(stderr, "weft: %s\n", err);
            return prc == WEFT_ENOMEM ? CLI_FAILED : CLI_BAD_INPUT;
        }
        nothing_to_resume(f, o);
        weft__flow_write_reasons(f, stdout);
        return CLI_OK;
    }
    /* SIGINT and SIGTERM arrive through a signalfd, in this loop; every
     * thread started from here on inherits the blocked mask (children get
     * default dispositions and an empty mask back at spawn). */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    int efd = eventfd(0, EFD_CLOEXEC);
    if (sfd < 0 || efd < 0) {
        fprintf(stderr, "weft: cannot set up signal handling: %s\n", strerror(errno));
        return CLI_FAILED;
    }
    view_t v = {.lock = PTHREAD_MUTEX_INITIALIZER,
                .tty = isatty(STDOUT_FILENO),
                .quiet = o->quiet,
                .verbose = o->verbose,
                .t0 = now_s(),
                .total = weft__flow_ntasks(f)};
    weft__flow_run_opts_t ro = {.on_event = on_event,
                                .ud = &v,
                                .notify_fd = efd,
                                .trace = o->trace[0] || o->report[0] || o->summary,
                                .trace_file = o->trace[0] ? o->trace : NULL,
                                .resume = &o->resume,
                                .cluster = o->cluster};
    weft__flow_run_t *r = NULL;
    weft_log_set_handler(on_log, &v);
    int rc = weft__flow_run_start(f, &ro, &r, err, sizeof err);
    if (rc) {
        weft_log_set_handler(NULL, NULL);
        fprintf(stderr, "weft: %s\n", err);
        close(sfd);
        close(efd);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return CLI_BAD_INPUT; /* nothing ran */
    }
    v.run = r;
    nothing_to_resume(f, o);
    size_t ncached = weft__flow_ncached(f);
    atomic_store(&v.finished, ncached);
    char label[320], cores[96];
    int slots = weft__flow_run_slots(r), units = weft__flow_run_units(r);
    if (o->cluster) {
        int nodes = weft__cluster_nodes(o->cluster, NULL, NULL);
        snprintf(cores, sizeof cores, "%d rank%s (%d cores)", nodes, nodes == 1 ? "" : "s", slots);
    } else if (slots > units) { /* (the run's start warned) */
        snprintf(cores, sizeof cores, "%d core slots on %d cores (oversubscribed)", slots, units);
    } else {
        snprintf(cores, sizeof cores, "%d cores", slots);
    }
    if (ncached)
        printf("%s: %zu tasks (%zu cached, %zu to run) on %s -> %s\n", run_label(f, label, sizeof label), v.total,
               ncached, v.total - ncached, cores, weft__flow_run_dir(r));
    else
        printf("%s: %zu tasks on %s -> %s\n", run_label(f, label, sizeof label), v.total, cores, weft__flow_run_dir(r));
    fflush(stdout);
    int sig = 0;
    double last_progress = 0;
    for (;;) {
        struct pollfd p[3] = {{.fd = sfd, .events = POLLIN},
                              {.fd = efd, .events = POLLIN},
                              {.fd = weft__flow_run_flush_fd(r), .events = POLLIN}};
        int n = poll(p, 3, v.tty ? 100 : 250);
        if (n > 0 && (p[1].revents & POLLIN))
            break;
        if (n > 0 && (p[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                bool again = sig != 0;
                sig = si.ssi_signo == SIGHUP ? SIGTERM : (int)si.ssi_signo;
                pthread_mutex_lock(&v.lock);
                clear_line(&v);
                if (!again)
                    printf("weft: %s: stopping; running tasks get SIGTERM, then SIGKILL after %.1fs "
                           "(again to kill at once)\n",
                           sig == SIGINT ? "interrupted" : "terminated", (double)weft__flow_grace_ns(f) / 1e9);
                fflush(stdout);
                pthread_mutex_unlock(&v.lock);
                weft__flow_run_interrupt(r, again ? 0 : weft__flow_grace_ns(f));
            }
        }
        weft__flow_run_flush(r); /* every 100/250 ms, and whenever the workers have a group ready */
        record_check(&v, f, sig != 0, false);
        double t = now_s();
        if (t - last_progress >= 0.1) {
            last_progress = t;
            pthread_mutex_lock(&v.lock);
            progress(&v);
            if (!v.tty)
                fflush(stdout);
            pthread_mutex_unlock(&v.lock);
        }
    }
    pthread_mutex_lock(&v.lock); /* (the last tasks' events may still be printing) */
    clear_line(&v);
    pthread_mutex_unlock(&v.lock);
    int failed = weft__flow_run_wait(r);
    weft_log_set_handler(NULL, NULL);
    record_check(&v, f, true, true);
    char why[PATH_MAX + 512];
    bool first;
    bool incomplete = weft__flow_run_record_error(r, why, sizeof why, &first);
    double took = now_s() - v.t0;
    summary(&v, f, took, sig);
    if (o->cluster)
        weft__cluster_write_nodes(o->cluster, stdout);
    char advice[1024];
    if (!sig && weft__flow_run_small_tasks(r, took, advice, sizeof advice))
        printf("  note: %s\n", advice);
    results_table(r, f);
    if (o->trace_malloc && weft__cli_memtrace_report(weft__flow_run_dir(r)) != 0 && failed == 0)
        failed = -1;
    if (traces(r, o) != 0 && failed == 0)
        failed = -1;
    fflush(stdout);
    weft__flow_run_destroy(r);
    close(sfd);
    close(efd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (sig)
        return sig == SIGINT ? CLI_SIGINT : CLI_SIGTERM;
    if (incomplete)
        return CLI_RECORD;
    return failed ? CLI_FAILED : CLI_OK;
}
