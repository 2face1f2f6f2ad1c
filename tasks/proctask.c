/* Process tasks in graphs (include/weft/process.h): the task kind that
 * lets a C program run external commands as a workflow file does.
 *
 * The task's body only asks the runtime's admission for its cores and
 * defers its completion; the process is spawned by the process executor
 * when they are granted, bound to them, and completes the task from the
 * executor's callback, so no worker waits for a child. Retries ask for
 * cores again. The runtime's service (one per runtime, reached through the
 * pool's executor slot) creates the cores budget and the executor on the
 * first process task, so a program that never runs one starts neither a
 * launcher thread nor the watchdog. */
#include "tasks/tasks.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "platform/device.h"
#include "scheduler/scheduler.h"
#include "weft/process.h"

extern char **environ;

struct weft__proc_svc {
    pthread_mutex_t lock; /* guards the lazy start */
    weft__topo_t *topo;   /* borrowed from the runtime */
    int pin;
    int gpus_cfg;   /* weft_config_t.gpus: -1 = count the devices */
    int gpus_known; /* the budget's GPUs are set (under lock) */
    int seen;       /* CUDA devices this process sees (-1: not asked yet; under lock) */
    int started;    /* 1: cores and procs made; < 0: their error */
    weft__cores_t *cores;
    weft__procs_t *procs;
};

int weft__proc_svc_create(weft__topo_t *topo, int pin, int gpus, weft__proc_svc_t **out)
{
    weft__proc_svc_t *s = weft__calloc(1, sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    s->topo = topo;
    s->pin = pin;
    s->gpus_cfg = gpus;
    s->seen = -1;
    *out = s;
    return 0;
}

void weft__proc_svc_destroy(weft__proc_svc_t *s)
{
    if (!s)
        return;
    weft__procs_destroy(s->procs); /* waits for every process and callback */
    weft__cores_destroy(s->cores);
    pthread_mutex_destroy(&s->lock);
    weft__free(s);
}

/* The budget and the executor, made on first use; 0 or the error. */
/* The GPUs in the budget, set on first need (counting CUDA devices starts
 * CUDA, which a program without GPU tasks should not pay for). */
static int svc_gpus(weft__proc_svc_t *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->gpus_known) {
        int n = s->gpus_cfg >= 0 ? s->gpus_cfg : weft__device_count();
        weft__cores_set_gpus(s->cores, n < 0 ? 0 : n > 64 ? 64 : n);
        s->gpus_known = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return weft__cores_gpus(s->cores);
}

/* The CUDA devices this process sees (C tasks' GPUs map onto them). */
static int svc_seen(weft__proc_svc_t *s)
{
    pthread_mutex_lock(&s->lock);
    if (s->seen < 0)
        s->seen = weft__device_count();
    int n = s->seen;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static int svc_start(weft__proc_svc_t *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->started) {
        int rc = weft__cores_create(s->topo, 0, s->pin, &s->cores);
        if (rc == 0)
            rc = weft__procs_create(s->pin == WEFT_PIN_NONE ? NULL : s->topo, &s->procs);
        s->started = rc ? rc : 1;
    }
    int rc = s->started < 0 ? s->started : 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- admission of C tasks with cpus (weft__admit_ops_t) ------------------ */

static void *admit_acquire(void *ud, int cpus, int gpus, weft__cpuset_t *set, int *devs, int *err, char *why,
                           size_t whylen)
{
    weft__proc_svc_t *s = ud;
    int rc = svc_start(s);
    if (rc) {
        *err = rc;
        snprintf(why, whylen, "cannot start the cores budget: %s", weft_strerror(rc));
        return NULL;
    }
    int slots = weft__cores_slots(s->cores);
    if (cpus > slots) {
        *err = WEFT_EINVAL;
        snprintf(why, whylen, "needs %d cores but the runtime has %d", cpus, slots);
        return NULL;
    }
    int ngpus = gpus ? svc_gpus(s) : 0;
    if (gpus > ngpus) {
        *err = WEFT_EINVAL;
        snprintf(why, whylen, "needs %d GPU%s but the runtime has %d", gpus, gpus == 1 ? "" : "s", ngpus);
        return NULL;
    }
    weft__lease_t *lease;
    /* a task with GPUs only still takes one core slot (it runs on one),
     * but is not bound to it */
    if ((rc = weft__cores_acquire(s->cores, cpus ? cpus : 1, gpus, NULL, &lease)) != 0) {
        *err = rc;
        snprintf(why, whylen, "%s",
                 rc == WEFT_ECANCELED ? "not started: the runtime is stopping" : "cannot ask for its cores");
        return NULL;
    }
    if (s->pin == WEFT_PIN_NONE || !cpus)
        memset(set, 0, sizeof *set);
    else
        *set = lease->set;
    if (gpus) {
        /* GPU i of the budget: CUDA device i modulo those this process sees */
        int seen = svc_seen(s);
        int n = 0;
        for (uint64_t m = lease->gpus; m && n < gpus; m &= m - 1)
            devs[n++] = seen > 0 ? __builtin_ctzll(m) % seen : __builtin_ctzll(m);
        if (seen > 0)
            weft__device_select(devs[0]);
    }
    return lease;
}

static void admit_release(void *ud, void *lease)
{
    weft__proc_svc_t *s = ud;
    weft__cores_release(s->cores, lease);
}

static const weft__admit_ops_t admit_ops = {admit_acquire, admit_release};

const weft__admit_ops_t *weft__proc_svc_admission(void)
{
    return &admit_ops;
}

/* ---- the task --------------------------------------------------------------- */

/* Everything in the graph's memory: the spec's copies and, per run, the
 * attempts. */
typedef struct ptask {
    char **argv, **env;
    char *cwd, *out, *err;
    size_t nenv;
    uint64_t timeout_ns, grace_ns;
    int retries, cpus, gpus;
    weft_task_t *task;
    struct ptask *next_in_graph; /* the graph's process tasks (pkind_t) */
    /* this run */
    weft__proc_svc_t *svc;
    weft_defer_t *defer;
    weft__lease_t *lease;
    int attempt;
    _Atomic int inflight;             /* a process of this attempt was handed to the executor */
    weft_process_attempt_t *attempts; /* retries + 1 */
} ptask_t;

/* The kind's state of one graph: its process tasks (for cancel). */
typedef struct pkind {
    ptask_t *head;
} pkind_t;

static void grant(void *ud, weft__lease_t *lease, int status);
static const weft__task_ops_t process_kind;

static void complete(ptask_t *p, int rc, const char *why)
{
    if (why)
        weft__task_fail_note(p->task, p->attempt, why);
    weft__defer_complete_own(p->defer, rc);
}

static void done(void *ud, const weft__proc_result_t *r)
{
    ptask_t *p = ud;
    atomic_store(&p->inflight, 0);
    weft__cores_release(p->svc->cores, p->lease);
    p->lease = NULL;
    weft_process_attempt_t *a = &p->attempts[p->attempt - 1];
    a->status = r->status == WEFT_ETASK && r->timed_out ? WEFT_ETIMEDOUT : r->status;
    a->started = r->started;
    a->exit_code = r->exit_code;
    a->signal = r->signal;
    a->wall_s = (double)r->wall_ns / 1e9;
    a->user_s = (double)r->user_ns / 1e9;
    a->sys_s = (double)r->sys_ns / 1e9;
    a->maxrss_kb = r->maxrss_kb;
    if (r->status == 0) {
        complete(p, 0, NULL);
        return;
    }
    weft__task_fail_note(p->task, p->attempt, r->reason);
    if (r->status == WEFT_ETASK && p->attempt <= p->retries && !weft__graph_stopping(weft__task_graph(p->task))) {
        p->attempt++;
        if (weft__cores_request_ex(p->svc->cores, p->cpus, p->gpus, NULL, grant, p) == 0)
            return;
        p->attempt--;
    }
    weft__defer_complete_own(p->defer, a->status);
}

/* The environment of one attempt: the spec's entries, weft's, then the
 * inherited ones not overridden. One allocation; NULL when out of memory. */
static char **attempt_env(const ptask_t *p, const char *cpus, const char *gpus, char **texts)
{
    size_t ninh = 0;
    while (environ[ninh])
        ninh++;
    size_t n = p->nenv + 5;
    char **envp = weft__malloc((n + ninh + 1) * sizeof *envp);
    char *t = weft__malloc(64 + strlen(cpus) + 32 + 2 * (strlen(gpus) + 32));
    if (!envp || !t) {
        weft__free(envp);
        weft__free(t);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < p->nenv; i++)
        envp[k++] = p->env[i];
    int a = sprintf(t, "OMP_NUM_THREADS=%d", p->cpus) + 1;
    int b = sprintf(t + a, "WEFT_CPUS=%s", cpus) + 1;
    sprintf(t + a + b, "WEFT_ATTEMPT=%d", p->attempt);
    envp[k++] = t;
    envp[k++] = t + a;
    envp[k++] = t + a + b;
    if (p->gpus > 0) {
        char *g = t + a + b + strlen(t + a + b) + 1;
        int c = sprintf(g, "CUDA_VISIBLE_DEVICES=%s", gpus) + 1;
        sprintf(g + c, "WEFT_GPUS=%s", gpus);
        envp[k++] = g;
        envp[k++] = g + c;
    }
    k = weft__env_inherit((const char **)envp, k);
    envp[k] = NULL;
    *texts = t;
    return envp;
}

/* The granted GPUs as a child's CUDA_VISIBLE_DEVICES names them: through
 * weft's own CUDA_VISIBLE_DEVICES when it is set (GPU i is its i-th
 * entry, wrapping when more are declared than it lists), else by number. */
static void gpu_names(uint64_t mask, char *buf, size_t size)
{
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    size_t n = 0, nnames = 0;
    for (const char *c = cvd; c && *c; c++)
        nnames += *c == ',';
    nnames += cvd && *cvd ? 1 : 0;
    buf[0] = '\0';
    for (; mask && n + 1 < size; mask &= mask - 1) {
        int i = __builtin_ctzll(mask);
        if (n)
            buf[n++] = ',';
        if (!nnames) {
            n += (size_t)snprintf(buf + n, size - n, "%d", i);
        } else {
            const char *e = cvd; /* the (i mod nnames)-th entry */
            for (size_t k = (size_t)i % nnames; k > 0; k--)
                e = strchr(e, ',') + 1;
            size_t len = strcspn(e, ",");
            n += (size_t)snprintf(buf + n, size - n, "%.*s", (int)len, e);
        }
        if (n >= size)
            n = size - 1;
    }
}

static void grant(void *ud, weft__lease_t *lease, int status)
{
    ptask_t *p = ud;
    p->lease = lease;
    if (status != 0) {
        weft__cores_release(p->svc->cores, lease);
        p->lease = NULL;
        complete(p, WEFT_ECANCELED, "not started: the runtime is stopping");
        return;
    }
    weft_process_attempt_t *a = &p->attempts[p->attempt - 1];
    memset(a, 0, sizeof *a);
    a->exit_code = -1;
    /* announced before the stop check: a cancel (pkind_cancel) either sees
     * the attempt in flight or comes before the check (seq_cst fences on
     * both sides) */
    atomic_store(&p->inflight, 1);
    atomic_thread_fence(memory_order_seq_cst);
    if (weft__graph_stopping(weft__task_graph(p->task))) {
        atomic_store(&p->inflight, 0);
        weft__cores_release(p->svc->cores, lease);
        p->lease = NULL;
        a->status = WEFT_ECANCELED;
        complete(p, WEFT_ECANCELED, "not started: the run was stopping");
        return;
    }
    if (p->svc->pin != WEFT_PIN_NONE)
        weft__cpuset_format(&lease->set, a->cpus, sizeof a->cpus);
    gpu_names(lease->gpus, a->gpus, sizeof a->gpus);
    char *texts = NULL;
    char **envp = attempt_env(p, a->cpus, a->gpus, &texts);
    int rc = WEFT_ENOMEM;
    if (envp) {
        weft__proc_spec_t spec = {
            .argv = (const char *const *)p->argv,
            .envp = (const char *const *)envp,
            .cwd = p->cwd,
            .stdout_path = p->out,
            .stderr_path = p->err,
            .cpus = p->svc->pin == WEFT_PIN_NONE ? NULL : &lease->set,
            .timeout_ns = p->timeout_ns,
            .grace_ns = p->grace_ns,
        };
        rc = weft__procs_start(p->svc->procs, &spec, done, p); /* copies what it needs */
    }
    weft__free(envp);
    weft__free(texts);
    if (rc == 0)
        return;
    atomic_store(&p->inflight, 0);
    weft__cores_release(p->svc->cores, lease);
    p->lease = NULL;
    a->status = rc;
    complete(p, rc, rc == WEFT_ENOMEM ? "out of memory while starting it" : "not started: the runtime is stopping");
}

static int ptask_body(weft_ctx_t *ctx, void *arg)
{
    ptask_t *p = arg;
    p->svc = weft__pool_executor(weft__ctx_pool(ctx), WEFT__EXEC_PROC);
    p->attempt = 1;
    p->lease = NULL;
    memset(p->attempts, 0, (size_t)(p->retries + 1) * sizeof *p->attempts);
    if (!p->svc)
        return weft_ctx_fail(ctx, WEFT_ENOTSUP, "process tasks need a runtime");
    int rc = svc_start(p->svc);
    if (rc)
        return weft_ctx_fail(ctx, rc, "cannot start the process executor: %s", weft_strerror(rc));
    int slots = weft__cores_slots(p->svc->cores);
    if (p->cpus > slots)
        return weft_ctx_fail(ctx, WEFT_EINVAL, "needs %d cores but the runtime has %d", p->cpus, slots);
    int ngpus = p->gpus ? svc_gpus(p->svc) : 0;
    if (p->gpus > ngpus)
        return weft_ctx_fail(ctx, WEFT_EINVAL, "needs %d GPU%s but the runtime has %d", p->gpus,
                             p->gpus == 1 ? "" : "s", ngpus);
    if ((rc = weft_ctx_defer(ctx, &p->defer)) != 0)
        return rc;
    if ((rc = weft__cores_request_ex(p->svc->cores, p->cpus, p->gpus, NULL, grant, p)) != 0)
        complete(p, rc, "cannot ask for its cores");
    return 0;
}

/* The run stops: the attempts in flight end as a stop ends them (SIGTERM,
 * SIGKILL after the task's grace), so weft_graph_cancel and a fail-fast
 * failure do not wait for every running command to finish. */
static void pkind_cancel(weft_graph_t *g, void *state)
{
    (void)g;
    atomic_thread_fence(memory_order_seq_cst); /* pairs with grant's */
    for (ptask_t *p = state ? ((pkind_t *)state)->head : NULL; p; p = p->next_in_graph)
        if (atomic_load(&p->inflight) && p->svc)
            weft__procs_cancel(p->svc->procs, p, p->grace_ns ? p->grace_ns : 2000000000u);
}

/* The process task kind (scheduler.h): its body asks for cores and defers;
 * the executor's callback completes it. Its attempts are its own (the
 * spec's timeout and retries, TERM -> grace -> KILL), not the scheduler's. */
static const weft__task_ops_t process_kind = {
    .kind = "process",
    .start = ptask_body,
    .cancel = pkind_cancel,
};

/* ---- adding one ----------------------------------------------------------------- */

static char *graph_strdup(weft_graph_t *g, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = weft__graph_alloc(g, n, 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* A NULL-terminated copy of v (n entries) in g. */
static char **graph_strv(weft_graph_t *g, const char *const *v, size_t n)
{
    char **d = weft__graph_alloc(g, (n + 1) * sizeof *d, sizeof *d);
    for (size_t i = 0; d && i < n; i++)
        if (!(d[i] = graph_strdup(g, v[i])))
            return NULL;
    if (d)
        d[n] = NULL;
    return d;
}

static int valid_time(double s)
{
    return s >= 0 && s < 1e9; /* false for NaN */
}

void weft_process_spec_init(weft_process_spec_t *s)
{
    if (!s)
        return;
    memset(s, 0, sizeof *s);
    s->cpus = 1;
}

int weft_graph_add_process(weft_graph_t *g, const char *name, const weft_process_spec_t *spec, weft_task_t **out)
{
    if (!g || !spec || !out || !spec->argv || !spec->argv[0] || !spec->argv[0][0] || spec->cpus < 1 || spec->gpus < 0 ||
        spec->gpus > 64 || spec->cpus > WEFT_MAX_CPUS || !valid_time(spec->timeout_s) || !valid_time(spec->grace_s) ||
        spec->retries < 0 || spec->retries > 1000)
        return WEFT_EINVAL;
    for (size_t i = 0; spec->env && spec->env[i]; i++)
        if (!strchr(spec->env[i], '=') || spec->env[i][0] == '=')
            return WEFT_EINVAL;
    if (weft__graph_busy(g))
        return WEFT_EBUSY;
    size_t nargv = 0, nenv = 0;
    while (spec->argv[nargv])
        nargv++;
    while (spec->env && spec->env[nenv])
        nenv++;
    ptask_t *p = weft__graph_alloc(g, sizeof *p, _Alignof(ptask_t));
    if (!p)
        return WEFT_ENOMEM;
    memset(p, 0, sizeof *p);
    p->argv = graph_strv(g, spec->argv, nargv);
    p->env = graph_strv(g, spec->env ? spec->env : (const char *const[]){NULL}, nenv);
    p->nenv = nenv;
    p->cwd = graph_strdup(g, spec->cwd);
    p->out = graph_strdup(g, spec->stdout_path);
    p->err = graph_strdup(g, spec->stderr_path);
    p->attempts = weft__graph_alloc(g, (size_t)(spec->retries + 1) * sizeof *p->attempts, _Alignof(double));
    if (!p->argv || !p->env || (spec->cwd && !p->cwd) || (spec->stdout_path && !p->out) ||
        (spec->stderr_path && !p->err) || !p->attempts)
        return WEFT_ENOMEM; /* what was copied goes with the graph */
    p->timeout_ns = (uint64_t)(spec->timeout_s * 1e9 + 0.5);
    p->grace_ns = (uint64_t)(spec->grace_s * 1e9 + 0.5);
    p->retries = spec->retries;
    p->cpus = spec->cpus;
    p->gpus = spec->gpus;
    pkind_t *k = weft__graph_kind_state(g, &process_kind);
    if (!k) {
        if (!(k = weft__graph_alloc(g, sizeof *k, _Alignof(pkind_t))))
            return WEFT_ENOMEM;
        k->head = NULL;
        int rc = weft__graph_set_kind_state(g, &process_kind, k);
        if (rc)
            return rc;
    }
    int rc = weft__graph_add_kind(g, name, &process_kind, p, 0, &p->task);
    if (rc)
        return rc;
    p->next_in_graph = k->head;
    k->head = p;
    *out = p->task;
    return 0;
}

int weft_task_process_attempts(const weft_task_t *t, const weft_process_attempt_t **out)
{
    if (!t || !out || weft__task_ops(t) != &process_kind)
        return WEFT_EINVAL;
    if (weft__graph_busy(weft__task_graph(t)))
        return WEFT_EBUSY;
    const ptask_t *p = weft__task_arg(t);
    *out = p->attempts;
    int n = 0;
    while (n <= p->retries && (p->attempts[n].started || p->attempts[n].status))
        n++;
    return weft_task_state(t) == WEFT_TASK_DONE || weft_task_state(t) == WEFT_TASK_FAILED ? n : 0;
}
