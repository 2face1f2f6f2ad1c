/* tasks — the task executors' cross-module header.
 *
 * The process executor: external commands as tasks.
 *
 * One launcher thread per executor spawns every process and reaps it, in
 * one epoll loop (requests through an eventfd, exits through pidfds,
 * timeouts as the loop's deadline), so that no worker ever blocks on a
 * child and thousands of short processes flow at full speed. Spawning from
 * that thread also makes binding exact: the thread binds itself to the
 * task's cores, spawns (the child inherits the binding before its first
 * instruction) and unbinds.
 *
 * Every process leads its own process group; the whole group is killed
 * when the leader ends, times out, or the executor is stopped, so a task
 * leaves no orphan behind (except one that starts a new session on
 * purpose with setsid). A watchdog process (watchdog.c), forked when the
 * executor is created, learns each group as it starts and ends and kills
 * the ones left when weft dies without doing it (SIGKILL).
 *
 * The done callback runs on the launcher thread, once per started process,
 * with the result; it must not block. */
#ifndef WEFT_TASKS_TASKS_H
#define WEFT_TASKS_TASKS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/topology.h"
#include "scheduler/scheduler.h"
#include "weft/error.h"
#include "weft/tensor.h"

typedef struct weft__procs weft__procs_t;
typedef struct weft__cores weft__cores_t;

/* ---- the output log (tasks/outlog.c) ----------------------------------------
 * An append-only segment file that captured outputs are copied into
 * (created at the first output). Any thread. */
typedef struct weft__outlog weft__outlog_t;
int weft__outlog_create(const char *path, weft__outlog_t **out);
void weft__outlog_destroy(weft__outlog_t *l);
const char *weft__outlog_path(const weft__outlog_t *l);
/* Appends [from, from + len) of fd; its offset in the log into *off.
 * 0 or an errno (nothing of it is kept then). */
int weft__outlog_append(weft__outlog_t *l, int fd, uint64_t from, uint64_t len, uint64_t *off);
/* Appends len bytes of data, as weft__outlog_append. */
int weft__outlog_append_mem(weft__outlog_t *l, const void *data, uint64_t len, uint64_t *off);
/* Reads back [off, off + len) into buf: 0 or an errno (EIO: past the end). */
int weft__outlog_read(weft__outlog_t *l, uint64_t off, uint64_t len, void *buf);
/* Copies [from, from + len) of fd to dst at *at (advanced): 0 or an errno. */
int weft__fd_copy(int dst, uint64_t *at, int fd, uint64_t from, uint64_t len);

typedef struct weft__proc_spec {
    /* What to run: argv[0] is looked up in PATH when it has no '/'.
     * Borrowed until weft__procs_start returns (it copies what it needs). */
    const char *const *argv;
    const char *const *envp; /* the whole environment; NULL = inherit */
    const char *cwd;         /* NULL = the launcher's */
    const char *stdout_path; /* created/truncated; NULL = /dev/null, or the log */
    const char *stderr_path; /* NULL = /dev/null, or the log */
    /* A stream without a path goes to memory (a memfd) and, when the
     * process ends, into this log (nothing when it is empty); one that
     * grows past WEFT__SPILL_BYTES moves to its spill file instead as it
     * runs. NULL: /dev/null. */
    weft__outlog_t *log;
    const char *stdout_spill, *stderr_spill;
    const weft__cpuset_t *cpus; /* bind to these; NULL = not bound */
    uint64_t timeout_ns;        /* 0 = none */
    uint64_t grace_ns;          /* SIGTERM..SIGKILL after a timeout; 0 = 2 s */
    void *src_priv;             /* a process task's source's own (weft__proc_source_t) */
} weft__proc_spec_t;

typedef struct weft__proc_result {
    int status;    /* 0 = exited 0; WEFT_ETASK = failed; WEFT_ECANCELED = stopped */
    int exit_code; /* when it exited; -1 otherwise */
    int signal;    /* the signal that ended it; 0 otherwise */
    bool timed_out;
    bool started; /* false: it never ran (see reason) */
    int pid;
    uint64_t wall_ns; /* spawn to exit */
    uint64_t user_ns, sys_ns;
    long maxrss_kb;
    char reason[PATH_MAX + 256]; /* "exited with status 3", "timed out after 90 s", ... */
    /* streams that went to the log (spec.log): where (len 0: empty), or
     * spilled: in the spill file; log_err: the errno that lost one */
    uint64_t out_off, out_len, err_off, err_len;
    bool out_spilled, err_spilled;
    int log_err;
    /* an attempt that ran on a remote node (remote.c): the node's name, and
     * what it said of the attempt (NULL for a local one); lost: the node was
     * lost while it held the attempt (retried whatever the exit codes
     * retry_on names) */
    const char *node, *cpus, *gpus, *results;
    bool lost;
} weft__proc_result_t;

#define WEFT__SPILL_BYTES (4u << 20)

typedef void (*weft__proc_done_fn)(void *ud, const weft__proc_result_t *r);

/* Starts the launcher thread. topo (borrowed, may be NULL: no binding)
 * binds the children. Errors: WEFT_ENOMEM, WEFT_ESYS. */
int weft__procs_create(weft__topo_t *topo, weft__procs_t **out);

/* Queues one process; done(ud, result) is called exactly once, also when
 * it cannot be started (result.started false, status WEFT_ETASK, reason
 * says why: a missing command, a file that cannot be opened). Returns 0,
 * or WEFT_EINVAL (no argv, cpus without topo), WEFT_ENOMEM, WEFT_ESTATE
 * (the executor is stopping) — then done is never called. Any thread. */
int weft__procs_start(weft__procs_t *x, const weft__proc_spec_t *spec, weft__proc_done_fn done, void *ud);

/* Stops: queued processes are not started (done with WEFT_ECANCELED),
 * running groups get SIGTERM and, grace_ns later, SIGKILL (done with
 * WEFT_ECANCELED). A later call with a shorter grace shortens it (0:
 * SIGKILL now). Returns at once; weft__procs_destroy waits. Any thread,
 * also a signal handler (it only writes to an eventfd). */
void weft__procs_stop(weft__procs_t *x, uint64_t grace_ns);

/* Ends, as a stop does (SIGTERM, then SIGKILL grace_ns later; 0: SIGKILL
 * now), the running processes whose done callback gets ud; their results
 * say WEFT_ECANCELED. A process of ud queued but not running yet is not
 * touched. Errors: WEFT_EINVAL, WEFT_ENOMEM. Any thread but a signal
 * handler. */
int weft__procs_cancel(weft__procs_t *x, const void *ud, uint64_t grace_ns);

/* Calls fn(ud) on the launcher thread delay_ns from now (a retry's
 * delay); at once when weft__procs_cancel names ud or the executor stops
 * (fn then finds the stop itself). fn must not block. Errors: WEFT_EINVAL,
 * WEFT_ENOMEM, WEFT_ESTATE (stopping: fn is never called). Any thread. */
int weft__procs_after(weft__procs_t *x, uint64_t delay_ns, void (*fn)(void *ud), void *ud);

/* Processes started and not yet done. */
int weft__procs_running(weft__procs_t *x);

/* Appends to envp[0..n) the entries of the inherited environment whose
 * names envp does not have yet; returns the new count (the caller made
 * room for every inherited entry, and terminates the array). */
size_t weft__env_inherit(const char **envp, size_t n);

/* ==== the task service (service.c) ========================================
 *
 * One per runtime: the admission every task kind asks — a cores budget
 * (weft_config_t.cores slots, one per core of the process's cpuset by
 * default, per PU with pin "pu") and the GPUs in it — and the process
 * executor. Reached by process tasks through the pool's executor slot
 * WEFT__EXEC_PROC, by C tasks with cpus/gpus as the pool's admission
 * (weft__proc_svc_admission), by the workflow engine's kernels through
 * weft__runtime_procs. The budget and the executor are made on first use
 * (weft__proc_svc_start), the GPUs counted when first asked for. */
typedef struct weft__proc_svc weft__proc_svc_t;
/* topo borrowed (outlives the service); pin binds the tasks; slots 0: the
 * machine's; gpus -1: the CUDA devices weft sees. Errors: WEFT_ENOMEM. */
int weft__proc_svc_create(weft__topo_t *topo, int pin, int slots, int gpus, weft__proc_svc_t **out);
/* After the pool: every process task has completed. */
void weft__proc_svc_destroy(weft__proc_svc_t *s);
/* Makes the budget and the executor (once): 0 or their error. */
int weft__proc_svc_start(weft__proc_svc_t *s);
/* After a successful start. */
weft__cores_t *weft__proc_svc_cores(const weft__proc_svc_t *s);
weft__procs_t *weft__proc_svc_procs(const weft__proc_svc_t *s);
int weft__proc_svc_pin(const weft__proc_svc_t *s);
/* The GPUs in the budget (set on the first call; after a start). */
int weft__proc_svc_gpus(weft__proc_svc_t *s);
/* GPU i's CUDA device here; "0,1": the GPUs of mask as a child's
 * CUDA_VISIBLE_DEVICES names them. */
int weft__proc_svc_gpu_dev(const weft__proc_svc_t *s, int i);
void weft__proc_svc_gpu_list(const weft__proc_svc_t *s, uint64_t mask, char *buf, size_t size);
/* Stops the budget (waiters fail with WEFT_ECANCELED) and the executor
 * (weft__procs_stop with grace_ns); nothing when not started. */
void weft__proc_svc_stop(weft__proc_svc_t *s, uint64_t grace_ns);
/* ==== remote nodes (remote.c) ============================================
 *
 * A run over several machines (the workflow engine over MPI ranks): the
 * attempts of process tasks whose source names them (remote_id) go to
 * remote nodes instead of this machine's budget and executor. A request
 * waits in one FIFO queue until a live node has room (a node holds up to
 * twice its cores and GPUs in attempts: running, and waiting there for
 * their turn), then goes to the one with the most room. ops->start sends
 * an attempt (ticket: its id in the results), ops->cancel asks a node to
 * end one, ops->stop tells every node the run stops. Any thread. */
typedef struct weft__remote weft__remote_t;
typedef struct weft__remote_ops {
    int (*start)(void *ud, int node, uint64_t ticket, uint32_t id, int attempt, int cpus, int gpus);
    void (*cancel)(void *ud, int node, uint64_t ticket, uint64_t grace_ns);
    void (*stop)(void *ud, uint64_t grace_ns);
} weft__remote_ops_t;
/* status 0: node has room for it (weft__remote_release gives it back);
 * WEFT_ECANCELED: the run stops; WEFT_ENOTSUP: no live node has that many
 * cores and GPUs (any more). */
typedef void (*weft__remote_grant_fn)(void *ud, int node, int status);
int weft__remote_create(const weft__remote_ops_t *ops, void *ud, weft__remote_t **out);
void weft__remote_destroy(weft__remote_t *rm);
/* A node (its number back, or WEFT_EINVAL / WEFT_ENOMEM). */
int weft__remote_add_node(weft__remote_t *rm, const char *name, int slots, int gpus);
int weft__remote_nodes(weft__remote_t *rm);
const char *weft__remote_node_name(weft__remote_t *rm, int node);
/* The live nodes' cores and GPUs in all, and the most of one node. */
void weft__remote_capacity(weft__remote_t *rm, int *slots, int *gpus, int *max_slots, int *max_gpus);
int weft__remote_request(weft__remote_t *rm, int cpus, int gpus, weft__remote_grant_fn grant, void *ud);
void weft__remote_release(weft__remote_t *rm, int node, int cpus, int gpus);
/* Sends attempt `attempt` of task `id` to node; done(ud, result) follows
 * once, from weft__remote_result or weft__remote_node_lost. Errors (done
 * then never called): WEFT_ESTATE (stopped, or the node is lost),
 * WEFT_ENOMEM, ops->start's. */
int weft__remote_start(weft__remote_t *rm, int node, uint32_t id, int attempt, int cpus, int gpus,
                       weft__proc_done_fn done, void *ud);
/* A node's result for ticket: 0, or WEFT_ENOENT (unknown or ended). */
int weft__remote_result(weft__remote_t *rm, uint64_t ticket, const weft__proc_result_t *r);
/* Asks the nodes to end ud's attempts (as weft__procs_cancel). */
void weft__remote_cancel(weft__remote_t *rm, const void *ud, uint64_t grace_ns);
/* The run stops: queued requests fail (WEFT_ECANCELED), ops->stop. */
void weft__remote_stop(weft__remote_t *rm, uint64_t grace_ns);
/* The node is gone: its attempts end as lost (why says how), requests
 * only it could take fail. Returns how many attempts it held. */
int weft__remote_node_lost(weft__remote_t *rm, int node, const char *why);
/* How long every node busy here can go on with what it holds queued
 * (its queued attempts by their mean time): how long a result may wait to
 * be noticed without anyone running out of work. 0 when a node is short,
 * or when no request waits (a result may be what the next tasks depend
 * on). */
uint64_t weft__remote_slack_ns(weft__remote_t *rm);
/* Node i's name, how many attempts ended there, whether it was lost
 * (NULL: no such node). */
const char *weft__remote_node_stats(weft__remote_t *rm, int node, uint64_t *attempts, bool *lost);
/* The service places process tasks of sources with remote_id on rm
 * (borrowed; NULL: on this machine again). */
void weft__proc_svc_set_remote(weft__proc_svc_t *s, weft__remote_t *rm);
weft__remote_t *weft__proc_svc_remote(const weft__proc_svc_t *s);
/* An attempt's environment: own (n_own entries), then OMP_NUM_THREADS,
 * WEFT_CPUS, WEFT_ATTEMPT, and with GPUs CUDA_VISIBLE_DEVICES and
 * WEFT_GPUS, then the inherited entries not named yet; NULL-terminated,
 * one allocation (free it and *texts with weft__free). NULL: no memory. */
char **weft__proc_attempt_env(const char *const *own, size_t n_own, int cpus, const char *cpus_text, int gpus,
                              const char *gpus_text, int attempt, char **texts);
/* The entries of a CUDA_VISIBLE_DEVICES value up to its first empty one
 * (spaces trimmed), at most max: their count (0 for NULL). */
int weft__gpu_names_parse(const char *cvd, char (*names)[64], int max);
/* The service as the pool's admission (weft__pool_set_admission): C tasks
 * with cpus or gpus take them from the same budget. */
const weft__admit_ops_t *weft__proc_svc_admission(void);

/* ==== process tasks in graphs (proctask.c, include/weft/process.h) ======
 *
 * A process task of a source: the workflow engine's command tasks, whose
 * argv and environment are built when an attempt starts (a sweep of a
 * million tasks keeps none of them in memory) and whose attempts it
 * journals. All hooks but build may be NULL; ud is the source's. */
typedef struct weft__proc_attempt_info {
    int attempt; /* 1-based */
    const weft__proc_result_t *r;
    uint64_t start_ns, end_ns; /* clock ns; both the failure's time for one that did not start */
    const char *cpus, *gpus;   /* its WEFT_CPUS and CUDA_VISIBLE_DEVICES */
    bool retry;                /* the task would run another attempt */
    uint64_t retry_in_ns;      /* ... after this delay */
} weft__proc_attempt_info_t;

typedef struct weft__proc_source {
    /* The task's body runs (before it waits for its cores). */
    void (*begin)(void *ud);
    /* Fills spec's argv, envp (the task's own entries; weft adds its own
     * and the inherited ones), cwd, stdout_path and stderr_path for
     * attempt `attempt`, valid until release. Returns 0; WEFT_ETASK: the
     * attempt cannot start (why says why; it fails as a process that could
     * not start, retries apply); WEFT_ENOMEM. */
    int (*build)(void *ud, int attempt, weft__proc_spec_t *spec, char *why, size_t whylen);
    void (*release)(void *ud, weft__proc_spec_t *spec);
    /* After each attempt (on the executor's thread, before its cores go
     * back): returns whether a retry may follow (info->retry is the
     * task's own answer; a source may say no). */
    bool (*attempt)(void *ud, const weft__proc_attempt_info_t *info);
    /* The task ends without an attempt: status and why (the run was
     * stopping, no memory, more cores than the budget). */
    void (*not_started)(void *ud, int status, const char *why);
    /* With a remote service (weft__proc_svc_set_remote): attempt
     * `attempt` goes to a remote node instead of build; the task's id
     * there into *id. 0, or as build. NULL: the task runs here. */
    int (*remote_id)(void *ud, int attempt, uint32_t *id, char *why, size_t whylen);
} weft__proc_source_t;

typedef struct weft__proc_limits {
    int cpus, gpus, retries;
    uint64_t timeout_ns, grace_ns; /* grace 0: 2 s */
    /* retry policy (weft_process_spec_t's): retry only after these exit
     * codes (n 0: any failure), after a delay growing by backoff */
    const int *retry_on;
    int nretry_on;
    uint64_t retry_delay_ns;
    double retry_backoff;
} weft__proc_limits_t;

/* Adds a process task of src (borrowed, as ud: both outlive g); flags as
 * weft_graph_add_ex's. Errors: WEFT_EINVAL, WEFT_EBUSY, WEFT_ENOMEM. */
int weft__graph_add_process_src(weft_graph_t *g, const char *name, const weft__proc_source_t *src, void *ud,
                                const weft__proc_limits_t *lim, unsigned flags, weft_task_t **out);

/* The tensor task t published (weft_ctx_publish) as its result in this
 * run, or NULL (results.c). */
weft_tensor_t *weft__task_tensor(const weft_task_t *t);

/* Stops (grace 0 unless weft__procs_stop came first), waits for every
 * process to be reaped and every callback to run, and frees x. */
void weft__procs_destroy(weft__procs_t *x);

/* ==== cores: admission and placement of multi-core tasks =================
 *
 * A budget of `nslots` slots, each one core (pin "core" or "none") or one
 * PU (pin "pu") of the topology, in its logical order; more slots than the
 * machine has wrap around (oversubscription on purpose). A task needing k
 * slots waits in one FIFO queue until k are free, then gets the k free
 * slots that lie closest together (fewest L3 domains crossed, then the
 * shortest stretch), and the cpuset they make. Strict FIFO: a big task at
 * the head is never overtaken by small ones, so it cannot starve.
 *
 * The budget may also hold GPUs (weft__cores_set_gpus): a request for k
 * slots and g GPUs waits in the same queue until both are free, so a task
 * never holds cores while it waits for a GPU; it gets the g free GPUs with
 * the lowest numbers. */

typedef struct weft__lease weft__lease_t;

/* status 0: granted, lease->set holds the cpus (empty when pin is "none");
 * WEFT_ECANCELED: weft__cores_stop came first (release the lease anyway).
 * Called once, with no lock held, on the thread that made the slots free
 * (or the requester's, when they were free at once). */
typedef void (*weft__cores_grant_fn)(void *ud, weft__lease_t *lease, int status);

struct weft__lease {
    weft__lease_t *next; /* in the queue */
    weft__cores_grant_fn grant;
    void *ud;
    int k;
    int g; /* GPUs: how many, and which (bit n = GPU n) */
    uint64_t gpus;
    weft__cpuset_t set; /* the granted cpus */
    int slots[];        /* k slot numbers */
};

/* topo borrowed; nslots 0 = one per core (per PU for WEFT_PIN_PU).
 * Errors: WEFT_EINVAL (bad pin, nslots < 0 or > WEFT_MAX_CPUS), WEFT_ENOMEM. */
int weft__cores_create(weft__topo_t *topo, int nslots, int pin, weft__cores_t **out);
void weft__cores_destroy(weft__cores_t *c);
int weft__cores_slots(const weft__cores_t *c);
/* Every cpu of the budget (what an unbound task may use). */
const weft__cpuset_t *weft__cores_all(const weft__cores_t *c);

/* Asks for k slots; grant(ud, lease, status) follows, maybe before this
 * returns. Errors (grant then never called): WEFT_EINVAL (k < 1 or more
 * than the budget), WEFT_ENOMEM. Any thread. */
int weft__cores_request(weft__cores_t *c, int k, weft__cores_grant_fn grant, void *ud);
/* The same, preferring `near` (k slot numbers, say those the caller held
 * last; NULL for none): when its turn comes and they are all free, they are
 * the ones granted, so a worker that runs task after task keeps its cores
 * and need not move. Order stays FIFO; only the choice of slots changes. */
int weft__cores_request_near(weft__cores_t *c, int k, const int *near, weft__cores_grant_fn grant, void *ud);

/* GPUs in the budget, numbered 0 .. n-1 (0 by default). Before the first
 * request. WEFT_EINVAL when n is outside 0..64. */
int weft__cores_set_gpus(weft__cores_t *c, int n);
int weft__cores_gpus(const weft__cores_t *c);

/* weft__cores_request_near for k slots and g GPUs (0 .. the budget's). */
int weft__cores_request_ex(weft__cores_t *c, int k, int g, const int *near, weft__cores_grant_fn grant, void *ud);

/* weft__cores_request_ex that waits for the grant on the calling thread:
 * 0 with *out the lease; WEFT_ECANCELED when the budget was stopped (no
 * lease then); the request's own errors (WEFT_EINVAL, WEFT_ENOMEM). */
int weft__cores_acquire(weft__cores_t *c, int k, int g, const int *near, weft__lease_t **out);

/* Gives the lease's slots back (waiters may be granted on this thread) and
 * frees it. */
void weft__cores_release(weft__cores_t *c, weft__lease_t *lease);

/* Fails every waiter, now and later, with WEFT_ECANCELED. */
void weft__cores_stop(weft__cores_t *c);

/* ==== GPU tasks: the CUDA stream executor (gpu.c) ========================
 *
 * One per runtime, reached by GPU task bodies through the pool
 * (weft__pool_executor(pool, WEFT__EXEC_GPU)). Nothing touches the GPU
 * until the first GPU task runs: then the devices are counted, each gets
 * `streams` streams, and a completion thread starts. The public calls are
 * in include/weft/cuda.h. */

typedef struct weft__gpu weft__gpu_t;

/* Errors: WEFT_EINVAL (streams outside 1..1024), WEFT_ENOMEM. quiet: do
 * not log why GPU tasks cannot run or that a device was lost. */
int weft__gpu_create(int streams, int quiet, weft__gpu_t **out);
/* After the pool has no run left (every GPU completion delivered). */
void weft__gpu_destroy(weft__gpu_t *x);

#endif
