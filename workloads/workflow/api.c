/* The public face of workflow files (include/weft/flow.h): load, run,
 * stop and read back a workflow from C, over the same loader and
 * executor the `weft` command uses. */
#include "workloads/workflow/workflow.h"

#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/base.h"
#include "weft/flow.h"

#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(WEFT_FLOW_TASK_PENDING, WEFT_FLOW_PENDING) && SAME(WEFT_FLOW_TASK_RUNNING, WEFT_FLOW_RUNNING) &&
                   SAME(WEFT_FLOW_TASK_DONE, WEFT_FLOW_DONE) && SAME(WEFT_FLOW_TASK_FAILED, WEFT_FLOW_FAILED) &&
                   SAME(WEFT_FLOW_TASK_SKIPPED, WEFT_FLOW_SKIPPED) && SAME(WEFT_FLOW_TASK_NOT_RUN, WEFT_FLOW_NOT_RUN) &&
                   SAME(WEFT_FLOW_TASK_STOPPED, WEFT_FLOW_STOPPED) && SAME(WEFT_FLOW_TASK_CACHED, WEFT_FLOW_CACHED),
               "the public task states are the workflow's own");
_Static_assert(SAME(WEFT_FLOW_MODE_ALL, WEFT_FLOW_FRESH) && SAME(WEFT_FLOW_MODE_RESUME, WEFT_FLOW_RESUME) &&
                   SAME(WEFT_FLOW_MODE_RERUN_FAILED, WEFT_FLOW_RERUN_FAILED),
               "the public resume modes are the workflow's own");

struct weft_flow {
    weft__flow_t *f;
    weft__flow_run_t *run; /* the last run, kept for the queries */
    _Atomic(weft__flow_run_t *) running;
    atomic_int stopped; /* weft_flow_stop came during this run */
    weft_flow_event_fn on_event;
    void *ud;
    char *output; /* weft_flow_task_output's last answer */
    /* weft_flow_set_resume: copies */
    weft__flow_resume_t resume;
    char *resume_run;
    char **rerun;
    weft__cluster_t *cluster; /* weft_flow_run_over's rank 0: the tasks go to the other ranks */
    char err[PATH_MAX + 1024];
};

void weft_flow_options_init(weft_flow_options_t *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->threads = -1;
    o->keep_going = -1;
}

int weft_flow_load(const char *path, const weft_flow_options_t *o, weft_flow_t **out, char *err, size_t errlen)
{
    char scratch[8];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (!out || !path) {
        snprintf(err, errlen, "weft_flow_load: NULL %s", path ? "out" : "path");
        return WEFT_EINVAL;
    }
    *out = NULL;
    weft_flow_options_t def;
    if (!o) {
        weft_flow_options_init(&def);
        o = &def;
    }
    if (o->threads < -1 || o->keep_going < -1 || o->keep_going > 1 || (o->nsets && !o->sets) ||
        (o->nonly && !o->only)) {
        snprintf(err, errlen, "weft_flow_load: invalid options");
        return WEFT_EINVAL;
    }
    weft_flow_t *w = weft__calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return WEFT_ENOMEM;
    }
    weft__flow_opts_t fo;
    weft__flow_opts_init(&fo);
    fo.sets = o->sets;
    fo.nsets = o->nsets;
    fo.only = o->only;
    fo.nonly = o->nonly;
    fo.threads = o->threads;
    fo.keep_going = o->keep_going;
    int rc = weft__flow_load(path, &fo, &w->f, w->err, sizeof w->err);
    if (rc == 0)
        rc = weft__flow_check(w->f, w->err, sizeof w->err); /* the machine's checks, as run makes them */
    if (rc) {
        snprintf(err, errlen, "%s", w->err);
        weft_flow_destroy(w);
        return rc;
    }
    w->on_event = o->on_event;
    w->ud = o->ud;
    *out = w;
    return 0;
}

void weft_flow_destroy(weft_flow_t *w)
{
    if (!w)
        return;
    weft__flow_run_destroy(w->run);
    weft__flow_destroy(w->f);
    weft__free(w->output);
    weft__free(w->resume_run);
    for (size_t i = 0; i < w->resume.nrerun; i++)
        weft__free(w->rerun[i]);
    weft__free(w->rerun);
    weft__free(w);
}

static void on_event(void *ud, const weft__flow_event_t *e)
{
    weft_flow_t *w = ud;
    w->on_event(w->ud, e->task, e->state, e->attempt, e->wall_s, e->reason);
}

int weft_flow_run(weft_flow_t *w)
{
    if (!w)
        return WEFT_EINVAL;
    if (atomic_load(&w->running))
        return WEFT_EBUSY;
    weft__flow_run_destroy(w->run);
    w->run = NULL;
    w->err[0] = '\0';
    int efd = eventfd(0, EFD_CLOEXEC);
    if (efd < 0) {
        snprintf(w->err, sizeof w->err, "cannot make an eventfd");
        return WEFT_ESYS;
    }
    weft__flow_run_opts_t ro = {.on_event = w->on_event ? on_event : NULL,
                                .ud = w,
                                .notify_fd = efd,
                                .resume = &w->resume,
                                .cluster = w->cluster};
    weft__flow_run_t *r = NULL;
    int rc = weft__flow_run_start(w->f, &ro, &r, w->err, sizeof w->err);
    if (rc) {
        close(efd);
        return rc;
    }
    w->run = r;
    atomic_store(&w->stopped, 0);
    atomic_store(&w->running, r);
    /* the journal is written out as the run goes, as the command does */
    bool store_stop = false;
    for (;;) {
        struct pollfd p[2] = {{.fd = efd, .events = POLLIN}, {.fd = weft__flow_run_flush_fd(r), .events = POLLIN}};
        if (poll(p, 2, 250) > 0 && (p[0].revents & POLLIN))
            break;
        weft__flow_run_flush(r);
        if (!store_stop && weft__flow_run_store_failed(r)) {
            /* what finishes now could not be recorded: stop, as weft run does */
            store_stop = true;
            weft__flow_run_interrupt(r, weft__flow_grace_ns(w->f));
        }
    }
    int failed = weft__flow_run_wait(r);
    atomic_store(&w->running, NULL);
    close(efd);
    bool first;
    if (weft__flow_run_record_error(r, w->err, sizeof w->err, &first))
        return WEFT_ESYS;
    if (atomic_load(&w->stopped)) {
        snprintf(w->err, sizeof w->err, "stopped (weft_flow_stop)");
        return WEFT_ECANCELED;
    }
    if (!failed)
        return 0;
    snprintf(w->err, sizeof w->err, "some tasks did not finish (weft_flow_task says why; the record is %s/tasks.tsv)",
             weft__flow_run_dir(r));
    return WEFT_ETASK;
}

int weft_flow_run_over(weft_flow_t *w, weft_flow_link_t *l)
{
    if (!w || !l || !l->send || !l->listen || !l->quiet || l->size < 1 || l->rank < 0 || l->rank >= l->size)
        return WEFT_EINVAL;
    if (atomic_load(&w->running))
        return WEFT_EBUSY;
    if (l->size == 1)
        return weft_flow_run(w);
    w->err[0] = '\0';
    if (l->rank > 0) { /* runs what rank 0 sends (its exit code back: the command's) */
        bool finalize;
        int code = weft__cluster_agent(l, w->f, NULL, -1, &finalize);
        l->quiet(l);
        if (code == 0)
            return 0;
        snprintf(w->err, sizeof w->err, "%s",
                 code == 2     ? "rank 0 could not start the run"
                 : code >= 128 ? "the run was stopped"
                               : "rank 0's run did not succeed, or rank 0 was lost");
        return code == 2 ? WEFT_EPARSE : code >= 128 ? WEFT_ECANCELED : WEFT_ETASK;
    }
    weft__cluster_t *c = NULL;
    int rc = weft__cluster_open(l, w->f, 0, 120, &c, w->err, sizeof w->err);
    if (rc == 0) {
        w->cluster = c;
        rc = weft_flow_run(w);
        w->cluster = NULL;
        /* the other ranks' code: as the weft command would exit */
        weft__cluster_close(c, rc == 0                ? 0
                               : rc == WEFT_ETASK     ? 1
                               : rc == WEFT_ECANCELED ? 143
                               : rc == WEFT_ESYS      ? 3
                                                      : 2);
    }
    l->quiet(l); /* (nothing calls back into c after) */
    weft__cluster_destroy(c);
    return rc;
}

int weft_flow_stop(weft_flow_t *w)
{
    if (!w)
        return WEFT_EINVAL;
    weft__flow_run_t *r = atomic_load(&w->running);
    if (!r)
        return WEFT_ESTATE;
    atomic_store(&w->stopped, 1);
    weft__flow_run_interrupt(r, weft__flow_grace_ns(w->f));
    return 0;
}

const char *weft_flow_error(const weft_flow_t *w)
{
    return w ? w->err : "";
}

const char *weft_flow_name(const weft_flow_t *w)
{
    return w ? weft__flow_name(w->f) : "";
}

size_t weft_flow_ntasks(const weft_flow_t *w)
{
    return w ? weft__flow_ntasks_all(w->f) : 0;
}

const char *weft_flow_run_dir(const weft_flow_t *w)
{
    return w && w->run ? weft__flow_run_dir(w->run) : "";
}

int weft_flow_task(const weft_flow_t *w, size_t i, const char **name, int *state, const char **reason)
{
    if (!w || !name || i >= weft__flow_ntasks_all(w->f))
        return WEFT_EINVAL;
    if (atomic_load(&((weft_flow_t *)w)->running))
        return WEFT_EBUSY;
    int st = WEFT_FLOW_PENDING;
    if (w->run) {
        st = weft__flow_run_task(w->run, i, name);
        if (st < 0)
            st = WEFT_FLOW_NOT_RUN; /* left out by `only` */
    } else {
        *name = weft__flow_task_name(w->f, i);
    }
    if (state)
        *state = st;
    if (reason)
        *reason = w->run && st != WEFT_FLOW_DONE ? weft__flow_run_reason(w->run, i) : "";
    return 0;
}

size_t weft_flow_nresults(const weft_flow_t *w)
{
    return w && w->run && !atomic_load(&((weft_flow_t *)w)->running) ? weft__flow_run_nresults(w->run) : 0;
}

int weft_flow_result(const weft_flow_t *w, size_t k, const char **task, const char **params, const char **results)
{
    if (!w || !task || !params || !results || k >= weft_flow_nresults(w))
        return WEFT_EINVAL;
    size_t ti;
    weft__flow_run_result(w->run, k, &ti, params, results);
    weft__flow_run_task(w->run, ti, task);
    return 0;
}

int weft_flow_task_output(weft_flow_t *w, size_t i, unsigned stream, const char **data, size_t *len)
{
    if (!w || !data || (stream != WEFT_FLOW_STDOUT && stream != WEFT_FLOW_STDERR) || i >= weft__flow_ntasks_all(w->f) ||
        !w->run)
        return WEFT_EINVAL;
    if (atomic_load(&w->running))
        return WEFT_EBUSY;
    weft__free(w->output);
    w->output = NULL;
    size_t n = 0;
    int rc = weft__flow_run_output(w->run, i, stream == WEFT_FLOW_STDERR, &w->output, &n);
    if (rc)
        return rc;
    *data = w->output;
    if (len)
        *len = n;
    return 0;
}

int weft_flow_set_shard(weft_flow_t *w, int index, int count)
{
    if (!w || count < 0 || count > WEFT__SHARD_MAX || (count > 1 && (index < 1 || index > count)) ||
        (count == 1 && index != 1))
        return WEFT_EINVAL;
    if (atomic_load(&w->running))
        return WEFT_EBUSY;
    return weft__flow_shard(w->f, index, count > 1 ? count : 0, w->err, sizeof w->err);
}

int weft_flow_set_resume(weft_flow_t *w, int mode, const char *run, const char *const *rerun, size_t nrerun)
{
    if (!w || mode < WEFT_FLOW_MODE_ALL || mode > WEFT_FLOW_MODE_RERUN_FAILED || (nrerun && !rerun))
        return WEFT_EINVAL;
    for (size_t i = 0; i < nrerun; i++)
        if (!rerun[i])
            return WEFT_EINVAL;
    if (atomic_load(&w->running))
        return WEFT_EBUSY;
    char *r = run ? weft__strdup(run) : NULL;
    char **g = nrerun ? weft__calloc(nrerun, sizeof *g) : NULL;
    bool oom = (run && !r) || (nrerun && !g);
    for (size_t i = 0; i < nrerun && !oom; i++)
        oom = !(g[i] = weft__strdup(rerun[i]));
    if (oom) {
        for (size_t i = 0; g && i < nrerun; i++)
            weft__free(g[i]);
        weft__free(g);
        weft__free(r);
        return WEFT_ENOMEM;
    }
    weft__free(w->resume_run);
    for (size_t i = 0; i < w->resume.nrerun; i++)
        weft__free(w->rerun[i]);
    weft__free(w->rerun);
    w->resume_run = r;
    w->rerun = g;
    w->resume.mode = mode == WEFT_FLOW_MODE_ALL && nrerun ? WEFT_FLOW_RESUME : mode;
    w->resume.run = r;
    w->resume.rerun = (const char *const *)g;
    w->resume.nrerun = nrerun;
    return 0;
}

size_t weft_flow_ncached(const weft_flow_t *w)
{
    return w && w->run ? weft__flow_ncached(w->f) : 0;
}
