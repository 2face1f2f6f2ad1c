/* Kernel tasks of a workflow run: built-in kernels (workloads/kernels) run
 * in-process as a task kind of the scheduler. */
#include "workloads/workflow/run.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- kernel tasks ------------------------------------------------------------------------- */

typedef struct kout {
    weft__flow_run_t *r;
    const wf_task_t *t;
    weft_ctx_t *ctx; /* NULL: an agent's attempt (stop says when to stop) */
    int (*stop)(void *ud);
    void *stop_ud;
    FILE *fp;
    int err;             /* errno: the file could not be made or written */
    bool told_stop;      /* the kernel was told to stop because the run stops */
    char path[PATH_MAX]; /* made when the kernel first prints */
    char results[1024];
    size_t rlen;
} kout_t;

static void kout_print(void *ud, const char *text, size_t len)
{
    kout_t *o = ud;
    if (!o->fp && !o->path[0]) {
        weft__wf_task_path(o->r, o->t, o->t->tmpl->out, "out", o->path, sizeof o->path);
        char dir[PATH_MAX];
        o->err = weft__wf_make_parent(o->path, dir, sizeof dir);
        if (!o->err && !(o->fp = fopen(o->path, "w")))
            o->err = errno;
    }
    if (o->fp && fwrite(text, 1, len, o->fp) != len && !o->err)
        o->err = errno ? errno : EIO;
}

static void kout_result(void *ud, const char *key, const char *value)
{
    kout_t *o = ud;
    if (o->rlen < sizeof o->results)
        o->rlen += (size_t)snprintf(o->results + o->rlen, sizeof o->results - o->rlen, "%s%s=%s", o->rlen ? "\n" : "",
                                    key, value);
}

/* What a kernel asks between sweeps: stop when the run stops or when the
 * attempt's timeout has passed (weft_ctx_should_stop: cooperative, a
 * kernel that never asks runs to its end, and is then timed out all the
 * same by the scheduler). */
static int kout_stopping(void *ud)
{
    kout_t *o = ud;
    if (!o->ctx)
        return o->stop(o->stop_ud);
    bool run_stops = weft_ctx_stopping(o->ctx) || atomic_load(&o->r->stopping);
    if (run_stops)
        o->told_stop = true;
    return run_stops || weft_ctx_should_stop(o->ctx);
}

static uint64_t tv_ns(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

/* Kernel tasks' user/sys times come from getrusage(RUSAGE_THREAD) before
 * and after, two system calls that cost more than a tiny kernel (about
 * 1.5 us each on a virtual machine). A [[task]] whose last kernel run took
 * under CPU_SHORT_NS skips them (the journal leaves user/sys empty) until
 * one of its runs takes over CPU_LONG_NS again. */
#define CPU_SHORT_NS 200000u
#define CPU_LONG_NS 1000000u

/* Whether a kernel task runs on a GPU: device = "gpu", or "auto" when the
 * run has GPUs and weft sees a CUDA device. */
static bool kernel_on_gpu(const weft__flow_run_t *r, const wf_tmpl_t *tm)
{
    return tm->device == WF_DEV_GPU || (tm->device == WF_DEV_AUTO && r->ngpus > 0 && r->seen_gpus > 0);
}

/* ---- kernel tasks: a task kind of the scheduler ------------------------------------------------
 *
 * A kernel task is a C task with the kind below: the scheduler admits it
 * (its cpus, and a GPU when it runs on one, from the task service's
 * budget), binds the worker to its cores (a worker asks for the slots it
 * held last and moves only when they change), runs its attempts with the
 * [[task]]'s timeout and retries, and tells attempt_end each one's
 * verdict; the body runs one attempt and leaves what it saw in `kcur`
 * (the worker's, read by attempt_end right after, on the same thread). */

typedef struct kcur {
    kout_t o;
    uint64_t start_ns, end_ns, user_ns, sys_ns;
    bool no_cpu;
    char error[PATH_MAX + 256]; /* the kernel's own text, or the stdout file's failure */
    char cpus[128], gpus[80];
    /* the worker's last cpus text, by the slots it was for */
    uint64_t cpus_run;
    int cpus_k, cpus_slots[64];
} kcur_t;

/* The worker's kcur: on the heap (5 KiB would not fit the static TLS of a
 * dlopen'ed libweft), freed when the thread ends. */
static pthread_key_t kcur_key;
static pthread_once_t kcur_once = PTHREAD_ONCE_INIT;
static __thread kcur_t *kcur_tls;

static void kcur_key_make(void)
{
    pthread_key_create(&kcur_key, weft__free);
}

static kcur_t *kcur_get(void)
{
    if (__builtin_expect(kcur_tls != NULL, 1))
        return kcur_tls;
    pthread_once(&kcur_once, kcur_key_make);
    kcur_t *k = weft__calloc(1, sizeof *k);
    if (k && pthread_setspecific(kcur_key, k) != 0) {
        weft__free(k);
        k = NULL;
    }
    return kcur_tls = k;
}

/* "0-3": the cpus of the attempt's grant (every cpu of the budget when
 * tasks are not bound), formatted once per change of slots. */
static const char *grant_cpus(kcur_t *kc, weft__flow_run_t *r, const weft__grant_t *g)
{
    if (kc->cpus_run == r->id && kc->cpus_k == g->nnear &&
        !memcmp(kc->cpus_slots, g->near, (size_t)g->nnear * sizeof g->near[0]))
        return kc->cpus;
    kc->cpus_run = r->id;
    kc->cpus_k = g->nnear;
    memcpy(kc->cpus_slots, g->near, (size_t)g->nnear * sizeof g->near[0]);
    weft__cpuset_format(r->f->pin == WEFT_PIN_NONE ? weft__cores_all(r->cores) : &g->set, kc->cpus, sizeof kc->cpus);
    return kc->cpus;
}

static int kernel_body(weft_ctx_t *ctx, void *arg)
{
    const wf_task_t *t = arg;
    weft__flow_run_t *r = weft__wf_run_of(t);
    const wf_tmpl_t *tm = t->tmpl;
    if (weft_ctx_attempt(ctx) <= 1) {
        r->state[t - r->f->tasks] = WEFT_FLOW_RUNNING;
        atomic_fetch_add(&r->nrunning, 1);
    }
    kcur_t *kc = kcur_get();
    if (!kc)
        return weft_ctx_fail(ctx, WEFT_ENOMEM, "out of memory while starting it");
    atomic_uchar *cpu_short = &r->cpu_short[tm - r->f->tmpls];
    const weft__grant_t *g = weft__ctx_grant(ctx);
    /* on a GPU: one of the run's (when it has none, weft sees no device
     * either, and the kernel fails saying why) */
    bool on_gpu = kernel_on_gpu(r, tm);
    int ngpus = on_gpu && r->ngpus > 0 ? 1 : 0;
    if (g) {
        grant_cpus(kc, r, g);
        weft__proc_svc_gpu_list(r->svc, g->gpu_mask, kc->gpus, sizeof kc->gpus);
    } else {
        kc->cpus[0] = kc->gpus[0] = '\0';
    }
    const char *keys[WEFT_KERNEL_MAX_ARGS], *vals[WEFT_KERNEL_MAX_ARGS];
    char argbuf[8192];
    kout_t *o = &kc->o; /* not zeroed whole: its buffers are 5 KiB and a noop takes less */
    o->r = r;
    o->t = t;
    o->ctx = ctx;
    o->stop = NULL;
    o->fp = NULL;
    o->err = 0;
    o->told_stop = false;
    o->path[0] = o->results[0] = '\0';
    o->rlen = 0;
    weft__kctx_t k = {.cpus = tm->cpus,
                      .gpu = !on_gpu      ? 0
                             : ngpus && g ? 1 + g->devs[0]
                                          : 1,
                      .keys = keys,
                      .vals = vals,
                      .print = kout_print,
                      .result = kout_result,
                      .stopping = kout_stopping,
                      .ud = o,
                      .bad_arg = -1};
    if (tm->outputs)
        weft__wf_outputs_clear(r, t);
    struct rusage ru0, ru1;
    bool no_cpu = atomic_load_explicit(cpu_short, memory_order_relaxed);
    if (!no_cpu)
        getrusage(RUSAGE_THREAD, &ru0);
    int rc = weft__wf_kargs(r->f, t, keys, vals, argbuf, sizeof argbuf, &k.nargs);
    if (rc == 0)
        rc = tm->kernel->fn(&k);
    if (!no_cpu)
        getrusage(RUSAGE_THREAD, &ru1);
    if (o->fp && fclose(o->fp) != 0 && !o->err)
        o->err = errno;
    o->fp = NULL;
    kc->error[0] = '\0';
    if (o->err && rc == 0) { /* what it printed is lost: the attempt failed */
        snprintf(kc->error, sizeof kc->error, "cannot write its stdout file '%s': %s", o->path, strerror(o->err));
        rc = WEFT_ESYS;
    } else if (rc != 0) {
        snprintf(kc->error, sizeof kc->error, "%s", k.error[0] ? k.error : weft_strerror(rc));
    }
    kc->no_cpu = no_cpu;
    kc->user_ns = no_cpu ? 0 : tv_ns(ru1.ru_utime) - tv_ns(ru0.ru_utime);
    kc->sys_ns = no_cpu ? 0 : tv_ns(ru1.ru_stime) - tv_ns(ru0.ru_stime);
    return rc;
}

/* The scheduler's verdict on an attempt: its journal line, trace slice,
 * results; then the task's final word, or the retry's event. */
static int kernel_attempt_end(weft_task_t *gt, const weft__attempt_t *a)
{
    const wf_task_t *t = weft__task_arg(gt);
    weft__flow_run_t *r = weft__wf_run_of(t);
    uint32_t ti = (uint32_t)(t - r->f->tasks);
    const wf_tmpl_t *tm = t->tmpl;
    if (a->attempt == 0) {                 /* never ran: its cores were not granted */
        atomic_fetch_add(&r->nrunning, 1); /* (settle counts it out) */
        weft__wf_settle(r, ti, 1, a->not_run ? WEFT_FLOW_NOT_RUN : WEFT_FLOW_FAILED, 0,
                        a->not_run ? "not started: the run was stopping" : a->why);
        return 0;
    }
    kcur_t *kc = kcur_get();
    if (!kc) { /* the body could not run for want of memory */
        bool retry = a->retry && !atomic_load(&r->stopping);
        if (!retry) {
            weft__wf_fail_fast(r);
            weft__wf_settle(r, ti, a->attempt, WEFT_FLOW_FAILED, 0, "out of memory while starting it");
        }
        return retry;
    }
    kout_t *o = &kc->o;
    int rc = a->rc;
    /* its run as the scheduler timed the call (not its wait for cores);
     * whether its template's next runs take their CPU times */
    kc->start_ns = a->start_ns;
    kc->end_ns = a->end_ns;
    uint64_t took = a->end_ns - a->start_ns;
    atomic_uchar *cpu_short = &r->cpu_short[tm - r->f->tmpls];
    if (kc->no_cpu != (took < (kc->no_cpu ? CPU_LONG_NS : CPU_SHORT_NS)))
        atomic_store_explicit(cpu_short, !kc->no_cpu, memory_order_relaxed);
    /* over its time, whether it noticed or not (as a process that exits
     * after its SIGTERM is still timed out) */
    bool timed_out = tm->timeout_ns && rc == WEFT_ETIMEDOUT;
    bool retry = a->retry && !atomic_load(&r->stopping);
    if (rc != 0 && !retry)
        weft__wf_fail_fast(r); /* before its cores go back (see fail_fast) */
    if (rc != 0 && tm->outputs)
        weft__wf_outputs_aside(r, t, a->attempt);
    char tout[64];
    if (timed_out)
        snprintf(tout, sizeof tout, "timed out after %g s", (double)tm->timeout_ns / 1e9);
    const char *reason = rc == 0 ? "" : timed_out ? tout : kc->error;
    attempt_t at = {.attempt = a->attempt,
                    .start_ns = kc->start_ns,
                    .end_ns = kc->end_ns,
                    .no_cpu = kc->no_cpu,
                    .user_ns = kc->user_ns,
                    .sys_ns = kc->sys_ns,
                    .maxrss_kb = -1,
                    .exit_code = -1,
                    .status = rc == 0        ? "ok"
                              : timed_out    ? "timeout"
                              : o->told_stop ? "stopped"
                                             : "failed",
                    .cpus = kc->cpus,
                    .gpus = kc->gpus,
                    .out = o->path[0] && !o->err ? o->path : "",
                    .err = "",
                    .results = o->results,
                    .reason = reason};
    weft__wf_journal(r, ti, &at);
    if (r->tr)
        weft__wf_trace_attempt(r, gt, &at, rc == 0, false);
    double wall = (double)(kc->end_ns - kc->start_ns) / 1e9; /* its run, not its wait for cores */
    if (rc == 0) {
        if (o->results[0])
            weft__wf_add_note(r, true, ti, o->results);
        weft__wf_settle(r, ti, a->attempt, WEFT_FLOW_DONE, wall, NULL);
        return 0;
    }
    char why[sizeof((weft__proc_result_t *)0)->reason + 64];
    if (retry) {
        snprintf(why, sizeof why, "%s; retrying", reason);
        weft__wf_event(r, ti, a->attempt, WEFT_FLOW_RUNNING, wall, why);
        return 1;
    }
    if (o->told_stop && !timed_out) {
        weft__wf_settle(r, ti, a->attempt, WEFT_FLOW_STOPPED, wall, "interrupted: stopped before it finished");
        return 0;
    }
    if (a->attempt > 1)
        snprintf(why, sizeof why, "%s (attempt %d of %d)", reason, a->attempt, tm->retries + 1);
    else
        snprintf(why, sizeof why, "%s", reason);
    weft__wf_settle(r, ti, a->attempt, WEFT_FLOW_FAILED, wall, why);
    return 0;
}

/* The limits of a kernel task: its [[task]]'s, one record per template
 * for all its tasks (no record per task). */
static const weft__kind_limits_t *kernel_limits(const weft_task_t *gt)
{
    const wf_task_t *t = weft__task_arg(gt);
    weft__flow_run_t *r = weft__wf_run_of(t);
    return &r->klimits[t->tmpl - r->f->tmpls];
}

static const weft__task_ops_t kernel_kind = {
    .kind = "kernel",
    .stay_bound = 1, /* a worker keeps its cores from kernel to kernel */
    .start = kernel_body,
    .attempt_end = kernel_attempt_end,
    .limits = kernel_limits,
};

/* A kernel task in g: its cpus, GPU, timeout and retries are the
 * scheduler's to apply, from its template's record (r->klimits, filled
 * here at its first task). */
int weft__wf_add_kernel(weft__flow_run_t *r, wf_task_t *t, weft_task_t **out)
{
    const wf_tmpl_t *tm = t->tmpl;
    weft__kind_limits_t *k = &r->klimits[tm - r->f->tmpls];
    if (!k->cpus) {
        k->cpus = tm->cpus;
        k->gpus = kernel_on_gpu(r, tm) && r->ngpus > 0 ? 1 : 0;
        k->timeout_ns = tm->timeout_ns;
        k->retries = tm->retries;
        k->retry_delay_ns = tm->retry_delay_ns;
        k->retry_backoff = tm->retry_backoff >= 1 ? tm->retry_backoff : 1;
    }
    return weft__graph_add_kind(r->g, t->name, &kernel_kind, t, WEFT_ADD_NAME_BORROWED, out);
}

int weft__wf_kernel_here(weft__flow_run_t *r, const wf_task_t *t, int gpu_dev, int (*stop)(void *), void *stop_ud,
                         weft__proc_result_t *res)
{
    const wf_tmpl_t *tm = t->tmpl;
    kout_t *o = weft__calloc(1, sizeof *o);
    if (!o) {
        snprintf(res->reason, sizeof res->reason, "out of memory while starting it");
        return WEFT_ENOMEM;
    }
    o->r = r;
    o->t = t;
    o->stop = stop;
    o->stop_ud = stop_ud;
    const char *keys[WEFT_KERNEL_MAX_ARGS], *vals[WEFT_KERNEL_MAX_ARGS];
    char argbuf[8192];
    weft__kctx_t k = {.cpus = tm->cpus,
                      .gpu = gpu_dev >= 0 ? 1 + gpu_dev : 0,
                      .keys = keys,
                      .vals = vals,
                      .print = kout_print,
                      .result = kout_result,
                      .stopping = kout_stopping,
                      .ud = o,
                      .bad_arg = -1};
    if (tm->outputs)
        weft__wf_outputs_clear(r, t);
    int rc = weft__wf_kargs(r->f, t, keys, vals, argbuf, sizeof argbuf, &k.nargs);
    if (rc == 0)
        rc = tm->kernel->fn(&k);
    if (o->fp && fclose(o->fp) != 0 && !o->err)
        o->err = errno;
    if (o->err && rc == 0) {
        snprintf(res->reason, sizeof res->reason, "cannot write its stdout file '%s': %s", o->path, strerror(o->err));
        rc = WEFT_ESYS;
    } else if (rc != 0) {
        snprintf(res->reason, sizeof res->reason, "%s", k.error[0] ? k.error : weft_strerror(rc));
    }
    res->out_spilled = o->path[0] && !o->err; /* it printed: its stdout file holds it */
    char *text = o->rlen ? weft__strdup(o->results) : NULL;
    res->results = text;
    weft__free(o);
    return rc;
}
