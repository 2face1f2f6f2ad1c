/* Process tasks in graphs: the task kind that runs external commands, for
 * a C program (include/weft/process.h) and for workflow files (their
 * command tasks, through a source: weft__graph_add_process_src).
 *
 * The task's body only asks the runtime's task service (service.c) for its
 * cores and GPUs and defers its completion; the process is spawned by the
 * process executor when they are granted, bound to them, and completes the
 * task from the executor's callback, so no worker waits for a child.
 * Attempts are the task's own: its timeout (TERM -> grace -> KILL) and its
 * retries, each asking for cores again. A cancelled run ends the attempts
 * in flight (the kind's cancel hook). */
#include "tasks/tasks.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "scheduler/scheduler.h"
#include "weft/process.h"

extern char **environ;

/* In the graph's memory: the spec's copies (or the source) and, per run,
 * the attempts. */
typedef struct ptask {
    /* what to run: a copy of the spec, or a source that builds each attempt */
    char **argv, **env;
    char *cwd, *out, *err;
    const weft__proc_source_t *src;
    void *src_ud;
    uint64_t timeout_ns, grace_ns;
    int retries, cpus, gpus;
    int *retry_on, nretry_on;
    uint64_t retry_delay_ns;
    double retry_backoff;
    weft_task_t *task;
    struct ptask *next_in_graph; /* the graph's process tasks (pkind_t) */
    /* this run */
    weft__proc_svc_t *svc;
    weft_defer_t *defer;
    weft__lease_t *lease;
    int rnode; /* the remote node that holds this attempt's room (-1: none) */
    int attempt;
    _Atomic int inflight;             /* a process of this attempt was handed to the executor */
    _Atomic int waiting;              /* a retry's delay is running (cancel ends it) */
    int last_status;                  /* of the attempt before the delay */
    char *last_reason;                /* its reason, while the delay runs (heap) */
    weft_process_attempt_t *attempts; /* retries + 1 (NULL for a source's task) */
    /* captured output (WEFT_CAPTURE_*): the attempt's temporary file, and
     * the last attempt's text (freed when the graph runs again or goes) */
    unsigned capture;
    size_t capture_max;
    char cap_path[2][96];
    char *cap_data[2];
    size_t cap_len[2];
    int cap_cut[2], cap_err[2];
    char cpus_env[256], gpus_env[256]; /* the attempt's WEFT_CPUS / WEFT_GPUS */
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

/* Never attempted (the run stops, no memory): the task ends with rc. */
static void not_started(ptask_t *p, int rc, const char *why)
{
    if (p->src && p->src->not_started)
        p->src->not_started(p->src_ud, rc, why);
    complete(p, rc, why);
}

/* ---- captured output --------------------------------------------------------- */

static void cap_free(ptask_t *p)
{
    weft__free(p->last_reason); /* (a retry's wait that never ended: the graph goes) */
    p->last_reason = NULL;
    for (int s = 0; s < 2; s++) {
        weft__free(p->cap_data[s]);
        p->cap_data[s] = NULL;
        p->cap_len[s] = 0;
        p->cap_cut[s] = p->cap_err[s] = 0;
    }
}

/* A temporary file for each captured stream of this attempt: 0, or
 * WEFT_ETASK with why. */
static int cap_open(ptask_t *p, char *why, size_t whylen)
{
    const char *tmp = getenv("TMPDIR");
    for (int s = 0; s < 2; s++) {
        p->cap_path[s][0] = '\0';
        if (!(p->capture & (1u << s)))
            continue;
        if (snprintf(p->cap_path[s], sizeof p->cap_path[s], "%s/weft-out-XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
            (int)sizeof p->cap_path[s])
            snprintf(p->cap_path[s], sizeof p->cap_path[s], "/tmp/weft-out-XXXXXX");
        int fd = mkstemp(p->cap_path[s]);
        if (fd < 0) {
            snprintf(why, whylen, "cannot create a file for its captured %s ('%s'): %s", s ? "stderr" : "stdout",
                     p->cap_path[s], strerror(errno));
            p->cap_path[s][0] = '\0';
            return WEFT_ETASK;
        }
        close(fd);
    }
    return 0;
}

/* The attempt is over: its captured output is read back (keep) and its
 * files removed. */
static void cap_close(ptask_t *p, bool keep)
{
    for (int s = 0; s < 2; s++) {
        if (!p->cap_path[s][0])
            continue;
        if (keep) {
            weft__free(p->cap_data[s]);
            p->cap_data[s] = NULL;
            p->cap_len[s] = 0;
            p->cap_cut[s] = p->cap_err[s] = 0;
            size_t max = p->capture_max ? p->capture_max : (size_t)1 << 20;
            FILE *f = fopen(p->cap_path[s], "rb");
            struct stat st;
            if (f && fstat(fileno(f), &st) == 0) {
                size_t n = (size_t)st.st_size < max ? (size_t)st.st_size : max;
                p->cap_cut[s] = (size_t)st.st_size > max;
                if ((p->cap_data[s] = weft__malloc(n + 1)) != NULL) {
                    p->cap_len[s] = fread(p->cap_data[s], 1, n, f);
                    p->cap_data[s][p->cap_len[s]] = '\0';
                } else {
                    p->cap_err[s] = ENOMEM;
                }
            } else {
                p->cap_err[s] = errno ? errno : EIO;
            }
            if (f)
                fclose(f);
        }
        unlink(p->cap_path[s]);
        p->cap_path[s][0] = '\0';
    }
}

/* Whether the failed attempt r may be retried by its exit code. */
static bool retry_allowed(const ptask_t *p, const weft__proc_result_t *r)
{
    if (!p->nretry_on || r->lost) /* a lost node's attempt did not fail by itself */
        return true;
    for (int i = 0; r->started && r->exit_code >= 0 && i < p->nretry_on; i++)
        if (p->retry_on[i] == r->exit_code)
            return true;
    return false;
}

/* The delay before the retry of attempt p->attempt: delay x backoff^(k-1),
 * at most a day. */
static uint64_t retry_delay(const ptask_t *p)
{
    double d = (double)p->retry_delay_ns;
    for (int k = 1; k < p->attempt && d < 86400e9; k++)
        d *= p->retry_backoff > 0 ? p->retry_backoff : 1;
    return d > 86400e9 ? (uint64_t)86400e9 : (uint64_t)d;
}

static void retry_now(void *ud);
static void rgrant(void *ud, int node, int status);

/* The remote nodes that take p's attempts (NULL: this machine's). */
static weft__remote_t *remote_of(const ptask_t *p)
{
    return p->src && p->src->remote_id ? weft__proc_svc_remote(p->svc) : NULL;
}

/* Asks the budget (or the remote nodes) for the attempt's cores and GPUs;
 * grant() (rgrant()) follows. */
static int request_cores(ptask_t *p)
{
    weft__remote_t *rm = remote_of(p);
    if (rm)
        return weft__remote_request(rm, p->cpus, p->gpus, rgrant, p);
    return weft__cores_request_ex(weft__proc_svc_cores(p->svc), p->cpus, p->gpus, NULL, grant, p);
}

static void release_lease(ptask_t *p)
{
    if (p->rnode >= 0) {
        int node = p->rnode;
        p->rnode = -1;
        weft__remote_release(remote_of(p), node, p->cpus, p->gpus);
        return;
    }
    if (p->lease)
        weft__cores_release(weft__proc_svc_cores(p->svc), p->lease);
    p->lease = NULL;
}

static void done(void *ud, const weft__proc_result_t *r)
{
    ptask_t *p = ud;
    atomic_store(&p->inflight, 0);
    cap_close(p, true);
    if (r->cpus) /* a remote node's: where it ran there */
        snprintf(p->cpus_env, sizeof p->cpus_env, "%s", r->cpus);
    if (r->gpus)
        snprintf(p->gpus_env, sizeof p->gpus_env, "%s", r->gpus);
    int status = r->status == WEFT_ETASK && r->timed_out ? WEFT_ETIMEDOUT : r->status;
    if (p->attempts) {
        weft_process_attempt_t *a = &p->attempts[p->attempt - 1];
        a->status = status;
        a->started = r->started;
        a->exit_code = r->exit_code;
        a->signal = r->signal;
        a->wall_s = (double)r->wall_ns / 1e9;
        a->user_s = (double)r->user_ns / 1e9;
        a->sys_s = (double)r->sys_ns / 1e9;
        a->maxrss_kb = r->maxrss_kb;
        if (r->cpus)
            snprintf(a->cpus, sizeof a->cpus, "%s", r->cpus);
        if (r->gpus)
            snprintf(a->gpus, sizeof a->gpus, "%s", r->gpus);
    }
    bool retry = r->status == WEFT_ETASK && p->attempt <= p->retries &&
                 !weft__graph_stopping(weft__task_graph(p->task)) && retry_allowed(p, r);
    uint64_t delay = retry ? retry_delay(p) : 0;
    if (p->src && p->src->attempt) {
        /* before the cores go back: a source that stops its run on a
         * failure does so before they can be granted to the next task */
        uint64_t now = weft__clock_ns();
        weft__proc_attempt_info_t info = {
            .attempt = p->attempt,
            .r = r,
            .start_ns = r->started ? now - r->wall_ns : now,
            .end_ns = now,
            .cpus = p->cpus_env,
            .gpus = p->gpus_env,
            .retry = retry,
            .retry_in_ns = delay,
        };
        retry = p->src->attempt(p->src_ud, &info) && retry;
    }
    release_lease(p);
    if (r->status == 0) {
        complete(p, 0, NULL);
        return;
    }
    weft__task_fail_note(p->task, p->attempt, r->reason);
    if (retry) {
        p->attempt++;
        p->last_status = status;
        if (delay) {
            weft__free(p->last_reason);
            p->last_reason = weft__strdup(r->reason); /* (NULL: said without it) */
            atomic_store(&p->waiting, 1);
            if (weft__procs_after(weft__proc_svc_procs(p->svc), delay, retry_now, p) == 0)
                return;
            atomic_store(&p->waiting, 0);
        } else if (request_cores(p) == 0) {
            return;
        }
        p->attempt--;
    }
    weft__defer_complete_own(p->defer, status);
}

/* A retry's delay is over (or cut short by a cancel or a stop): ask for
 * cores again, unless the run stops — then the task ends with the failed
 * attempt's status. */
static void retry_now(void *ud)
{
    ptask_t *p = ud;
    atomic_store(&p->waiting, 0);
    char *reason = p->last_reason;
    p->last_reason = NULL;
    if (!weft__graph_stopping(weft__task_graph(p->task)) && request_cores(p) == 0) {
        weft__free(reason);
        return;
    }
    /* the run stopped during the wait: the task fails as its last attempt
     * did, which the source is told as the task's end */
    p->attempt--;
    if (p->src && p->src->not_started) {
        char why[PATH_MAX + 320];
        snprintf(why, sizeof why, "%s (not retried: the run was stopping)", reason ? reason : "failed");
        p->src->not_started(p->src_ud, p->last_status, why);
    }
    weft__free(reason);
    weft__defer_complete_own(p->defer, p->last_status);
}

/* The environment of one attempt (tasks.h). */
char **weft__proc_attempt_env(const char *const *own, size_t n_own, int cpus, const char *cpus_text, int gpus,
                              const char *gpus_text, int attempt, char **texts)
{
    size_t ninh = 0;
    while (environ[ninh])
        ninh++;
    char **envp = weft__malloc((n_own + 5 + ninh + 1) * sizeof *envp);
    char *t = weft__malloc(64 + strlen(cpus_text) + 32 + 2 * (strlen(gpus_text) + 32));
    if (!envp || !t) {
        weft__free(envp);
        weft__free(t);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_own; i++)
        envp[k++] = (char *)own[i];
    int a = sprintf(t, "OMP_NUM_THREADS=%d", cpus) + 1;
    int b = sprintf(t + a, "WEFT_CPUS=%s", cpus_text) + 1;
    sprintf(t + a + b, "WEFT_ATTEMPT=%d", attempt);
    envp[k++] = t;
    envp[k++] = t + a;
    envp[k++] = t + a + b;
    if (gpus > 0) {
        char *g = t + a + b + strlen(t + a + b) + 1;
        int c = sprintf(g, "CUDA_VISIBLE_DEVICES=%s", gpus_text) + 1;
        sprintf(g + c, "WEFT_GPUS=%s", gpus_text);
        envp[k++] = g;
        envp[k++] = g + c;
    }
    k = weft__env_inherit((const char **)envp, k);
    envp[k] = NULL;
    *texts = t;
    return envp;
}

/* Hands the attempt to the executor: 0, WEFT_ETASK (it cannot start: why
 * says why; the result goes through done() as a process that could not
 * start, so retries apply), WEFT_ENOMEM or WEFT_ESTATE. */
static int spawn(ptask_t *p, char *why, size_t whylen)
{
    weft__proc_spec_t spec = {
        .argv = (const char *const *)p->argv,
        .envp = (const char *const *)p->env,
        .cwd = p->cwd,
        .stdout_path = p->out,
        .stderr_path = p->err,
    };
    if (p->src) {
        int rc = p->src->build(p->src_ud, p->attempt, &spec, why, whylen);
        if (rc) {
            if (p->src->release)
                p->src->release(p->src_ud, &spec);
            return rc;
        }
    }
    if (p->capture) {
        int rc = cap_open(p, why, whylen);
        if (rc) {
            if (p->src && p->src->release)
                p->src->release(p->src_ud, &spec);
            return rc;
        }
        if (p->cap_path[0][0])
            spec.stdout_path = p->cap_path[0];
        if (p->cap_path[1][0])
            spec.stderr_path = p->cap_path[1];
    }
    size_t n_own = 0;
    while (spec.envp && spec.envp[n_own])
        n_own++;
    char *texts = NULL;
    char **envp =
        weft__proc_attempt_env(spec.envp, n_own, p->cpus, p->cpus_env, p->gpus, p->gpus_env, p->attempt, &texts);
    int rc = WEFT_ENOMEM;
    if (envp) {
        spec.envp = (const char *const *)envp;
        spec.cpus = weft__proc_svc_pin(p->svc) == WEFT_PIN_NONE ? NULL : &p->lease->set;
        spec.timeout_ns = p->timeout_ns;
        spec.grace_ns = p->grace_ns;
        rc = weft__procs_start(weft__proc_svc_procs(p->svc), &spec, done, p); /* copies what it needs */
    }
    weft__free(envp);
    weft__free(texts);
    if (p->src && p->src->release)
        p->src->release(p->src_ud, &spec);
    return rc;
}

static void grant(void *ud, weft__lease_t *lease, int status)
{
    ptask_t *p = ud;
    p->lease = lease;
    if (status != 0) {
        release_lease(p);
        not_started(p, WEFT_ECANCELED, "not started: the run was stopping");
        return;
    }
    if (p->attempts) {
        weft_process_attempt_t *a = &p->attempts[p->attempt - 1];
        memset(a, 0, sizeof *a);
        a->exit_code = -1;
    }
    /* announced before the stop check: a cancel (pkind_cancel) either sees
     * the attempt in flight or comes before the check (seq_cst fences on
     * both sides) */
    atomic_store(&p->inflight, 1);
    atomic_thread_fence(memory_order_seq_cst);
    if (weft__graph_stopping(weft__task_graph(p->task))) {
        atomic_store(&p->inflight, 0);
        release_lease(p);
        if (p->attempts)
            p->attempts[p->attempt - 1].status = WEFT_ECANCELED;
        not_started(p, WEFT_ECANCELED, "not started: the run was stopping");
        return;
    }
    /* WEFT_CPUS: the cpus it is bound to, or every cpu of the budget when
     * tasks are not bound; the attempt's record keeps "" for not bound */
    int bound = weft__proc_svc_pin(p->svc) != WEFT_PIN_NONE;
    weft__cpuset_format(bound ? &lease->set : weft__cores_all(weft__proc_svc_cores(p->svc)), p->cpus_env,
                        sizeof p->cpus_env);
    weft__proc_svc_gpu_list(p->svc, lease->gpus, p->gpus_env, sizeof p->gpus_env);
    if (p->attempts) {
        weft_process_attempt_t *a = &p->attempts[p->attempt - 1];
        if (bound)
            snprintf(a->cpus, sizeof a->cpus, "%s", p->cpus_env);
        snprintf(a->gpus, sizeof a->gpus, "%s", p->gpus_env);
    }
    weft__proc_result_t res = {0}; /* its reason: why it could not start */
    int rc = spawn(p, res.reason, sizeof res.reason);
    if (rc == 0)
        return;
    atomic_store(&p->inflight, 0);
    if (rc == WEFT_ETASK) { /* fails like a process that could not start: retries apply */
        res.status = WEFT_ETASK;
        res.exit_code = -1;
        done(p, &res);
        return;
    }
    cap_close(p, false);
    release_lease(p);
    if (p->attempts)
        p->attempts[p->attempt - 1].status = rc;
    not_started(p, rc, rc == WEFT_ENOMEM ? "out of memory while starting it" : "not started: the run was stopping");
}

/* A remote node has room for the attempt: it goes there (the source says
 * which task it is; the node builds and runs it, the result comes back
 * through done()). */
static void rgrant(void *ud, int node, int status)
{
    ptask_t *p = ud;
    p->lease = NULL;
    p->rnode = status == 0 ? node : -1;
    if (status != 0) {
        char why[160];
        if (status == WEFT_ENOTSUP)
            snprintf(why, sizeof why, "no rank left with %d core%s%s to run it", p->cpus, p->cpus == 1 ? "" : "s",
                     p->gpus ? " and its GPUs" : "");
        else
            snprintf(why, sizeof why, "not started: the run was stopping");
        not_started(p, status == WEFT_ENOTSUP ? WEFT_ETASK : WEFT_ECANCELED, why);
        return;
    }
    if (p->attempts) {
        weft_process_attempt_t *a = &p->attempts[p->attempt - 1];
        memset(a, 0, sizeof *a);
        a->exit_code = -1;
    }
    atomic_store(&p->inflight, 1); /* (as in grant) */
    atomic_thread_fence(memory_order_seq_cst);
    if (weft__graph_stopping(weft__task_graph(p->task))) {
        atomic_store(&p->inflight, 0);
        release_lease(p);
        not_started(p, WEFT_ECANCELED, "not started: the run was stopping");
        return;
    }
    p->cpus_env[0] = p->gpus_env[0] = '\0';
    weft__proc_result_t res = {0};
    uint32_t id = 0;
    int rc = p->src->remote_id(p->src_ud, p->attempt, &id, res.reason, sizeof res.reason);
    if (rc == 0)
        rc = weft__remote_start(remote_of(p), node, id, p->attempt, p->cpus, p->gpus, done, p);
    if (rc == 0)
        return;
    atomic_store(&p->inflight, 0);
    if (rc == WEFT_ETASK) { /* fails like a process that could not start */
        res.status = WEFT_ETASK;
        res.exit_code = -1;
        done(p, &res);
        return;
    }
    release_lease(p);
    if (rc == WEFT_ESTATE && !weft__graph_stopping(weft__task_graph(p->task)) && request_cores(p) == 0)
        return; /* the node was lost in between: another one takes it */
    not_started(p, rc == WEFT_ENOMEM ? WEFT_ENOMEM : WEFT_ECANCELED,
                rc == WEFT_ENOMEM ? "out of memory while starting it" : "not started: the run was stopping");
}

static int ptask_body(weft_ctx_t *ctx, void *arg)
{
    ptask_t *p = arg;
    p->svc = weft__pool_executor(weft__ctx_pool(ctx), WEFT__EXEC_PROC);
    p->attempt = 1;
    p->lease = NULL;
    p->rnode = -1;
    cap_free(p); /* the last run's output */
    if (p->attempts)
        memset(p->attempts, 0, (size_t)(p->retries + 1) * sizeof *p->attempts);
    if (p->src && p->src->begin)
        p->src->begin(p->src_ud);
    const char *why = NULL;
    char text[160];
    int rc = 0;
    if (!p->svc) {
        rc = WEFT_ENOTSUP;
        why = "process tasks need a runtime";
    } else if ((rc = weft__proc_svc_start(p->svc)) != 0) {
        snprintf(text, sizeof text, "cannot start the process executor: %s", weft_strerror(rc));
        why = text;
    } else if (remote_of(p)) {
        /* the nodes say whether they can take it (rgrant) */
    } else if (p->cpus > weft__cores_slots(weft__proc_svc_cores(p->svc))) {
        rc = WEFT_EINVAL;
        snprintf(text, sizeof text, "needs %d cores but the runtime has %d", p->cpus,
                 weft__cores_slots(weft__proc_svc_cores(p->svc)));
        why = text;
    } else {
        int ngpus = p->gpus ? weft__proc_svc_gpus(p->svc) : 0;
        if (p->gpus > ngpus) {
            rc = WEFT_EINVAL;
            snprintf(text, sizeof text, "needs %d GPU%s but the runtime has %d", p->gpus, p->gpus == 1 ? "" : "s",
                     ngpus);
            why = text;
        }
    }
    if (rc) {
        if (p->src && p->src->not_started)
            p->src->not_started(p->src_ud, rc, why);
        return weft_ctx_fail(ctx, rc, "%s", why);
    }
    if ((rc = weft_ctx_defer(ctx, &p->defer)) != 0) {
        if (p->src && p->src->not_started)
            p->src->not_started(p->src_ud, rc, "not started: the run was stopping");
        return rc;
    }
    if ((rc = request_cores(p)) != 0)
        not_started(p, rc, "cannot get its cores");
    return 0;
}

/* The run is cancelled: the attempts in flight end as a stop ends them
 * (SIGTERM, SIGKILL after the task's grace), so weft_graph_cancel does not
 * wait for every running command to finish. */
static void pkind_cancel(weft_graph_t *g, void *state)
{
    (void)g;
    atomic_thread_fence(memory_order_seq_cst); /* pairs with grant's */
    for (ptask_t *p = state ? ((pkind_t *)state)->head : NULL; p; p = p->next_in_graph)
        if ((atomic_load(&p->inflight) || atomic_load(&p->waiting)) && p->svc) {
            weft__procs_cancel(weft__proc_svc_procs(p->svc), p, p->grace_ns ? p->grace_ns : 2000000000u);
            if (remote_of(p))
                weft__remote_cancel(remote_of(p), p, p->grace_ns ? p->grace_ns : 2000000000u);
        }
}

/* The process task kind (scheduler.h): its body asks for cores and defers;
 * the executor's callback completes it. Its attempts are its own (the
 * spec's timeout and retries, TERM -> grace -> KILL), not the scheduler's. */
/* The graph goes: its tasks' captured output with it. */
static void pkind_cleanup(weft_graph_t *g, void *state)
{
    (void)g;
    for (ptask_t *p = state ? ((pkind_t *)state)->head : NULL; p; p = p->next_in_graph)
        cap_free(p);
}

static const weft__task_ops_t process_kind = {
    .kind = "process",
    .own_attempts = 1,
    .start = ptask_body,
    .cancel = pkind_cancel,
    .cleanup = pkind_cleanup,
};

/* ---- adding one ----------------------------------------------------------------- */

/* p's retry policy, its codes copied into g. */
static int set_retry_policy(weft_graph_t *g, ptask_t *p, const int *on, int n, uint64_t delay_ns, double backoff)
{
    if (n > 0) {
        if (!(p->retry_on = weft__graph_alloc(g, (size_t)n * sizeof *on, _Alignof(int))))
            return WEFT_ENOMEM;
        memcpy(p->retry_on, on, (size_t)n * sizeof *on);
    }
    p->nretry_on = n;
    p->retry_delay_ns = delay_ns;
    p->retry_backoff = backoff;
    return 0;
}

/* A new task of the kind in g, for p (in g's memory, filled by the
 * caller). */
static int add_ptask(weft_graph_t *g, const char *name, ptask_t *p, unsigned flags, weft_task_t **out)
{
    pkind_t *k = weft__graph_kind_state(g, &process_kind);
    if (!k) {
        if (!(k = weft__graph_alloc(g, sizeof *k, _Alignof(pkind_t))))
            return WEFT_ENOMEM;
        k->head = NULL;
        int rc = weft__graph_set_kind_state(g, &process_kind, k);
        if (rc)
            return rc;
    }
    int rc = weft__graph_add_kind(g, name, &process_kind, p, flags, &p->task);
    if (rc)
        return rc;
    p->next_in_graph = k->head;
    k->head = p;
    *out = p->task;
    return 0;
}

int weft__graph_add_process_src(weft_graph_t *g, const char *name, const weft__proc_source_t *src, void *ud,
                                const weft__proc_limits_t *lim, unsigned flags, weft_task_t **out)
{
    if (!g || !src || !src->build || !lim || !out || lim->cpus < 1 || lim->gpus < 0 || lim->gpus > 64 ||
        lim->retries < 0)
        return WEFT_EINVAL;
    if (weft__graph_busy(g))
        return WEFT_EBUSY;
    ptask_t *p = weft__graph_alloc(g, sizeof *p, _Alignof(ptask_t));
    if (!p)
        return WEFT_ENOMEM;
    memset(p, 0, sizeof *p);
    p->src = src;
    p->src_ud = ud;
    p->timeout_ns = lim->timeout_ns;
    p->grace_ns = lim->grace_ns;
    p->retries = lim->retries;
    p->cpus = lim->cpus;
    p->gpus = lim->gpus;
    int rc = set_retry_policy(g, p, lim->retry_on, lim->nretry_on, lim->retry_delay_ns, lim->retry_backoff);
    return rc ? rc : add_ptask(g, name, p, flags, out);
}

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
        spec->retries < 0 || spec->retries > 1000 ||
        (spec->capture & ~(unsigned)(WEFT_CAPTURE_STDOUT | WEFT_CAPTURE_STDERR)) ||
        ((spec->capture & WEFT_CAPTURE_STDOUT) && spec->stdout_path) ||
        ((spec->capture & WEFT_CAPTURE_STDERR) && spec->stderr_path) || !valid_time(spec->retry_delay_s) ||
        !(spec->retry_backoff == 0 || (spec->retry_backoff >= 1 && spec->retry_backoff <= 100)) ||
        spec->nretry_on < 0 || spec->nretry_on > 64 || (spec->nretry_on && !spec->retry_on))
        return WEFT_EINVAL;
    for (int i = 0; i < spec->nretry_on; i++)
        if (spec->retry_on[i] < 0 || spec->retry_on[i] > 255)
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
    p->capture = spec->capture;
    p->capture_max = spec->capture_max;
    int rc = set_retry_policy(g, p, spec->retry_on, spec->nretry_on, (uint64_t)(spec->retry_delay_s * 1e9 + 0.5),
                              spec->retry_backoff);
    return rc ? rc : add_ptask(g, name, p, 0, out);
}

int weft_task_process_attempts(const weft_task_t *t, const weft_process_attempt_t **out)
{
    if (!t || !out || weft__task_ops(t) != &process_kind || !((const ptask_t *)weft__task_arg(t))->attempts)
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

int weft_task_process_output(const weft_task_t *t, unsigned stream, const char **data, size_t *len)
{
    if (!t || !data || !len || weft__task_ops(t) != &process_kind ||
        (stream != WEFT_CAPTURE_STDOUT && stream != WEFT_CAPTURE_STDERR))
        return WEFT_EINVAL;
    const ptask_t *p = weft__task_arg(t);
    if (!(p->capture & stream))
        return WEFT_EINVAL;
    if (weft__graph_busy(weft__task_graph(t)))
        return WEFT_EBUSY;
    int s = stream == WEFT_CAPTURE_STDERR;
    if (p->cap_err[s]) {
        *data = strerror(p->cap_err[s]);
        *len = strlen(*data);
        return WEFT_ESYS;
    }
    *data = p->cap_data[s] ? p->cap_data[s] : "";
    *len = p->cap_len[s];
    return p->cap_cut[s];
}
