/* scheduler — the cross-module header: the worker pool that runs graphs.
 * runtime/runtime.c creates one pool per runtime and forwards the public
 * graph-running calls to it. */
#ifndef WEFT_SCHEDULER_H
#define WEFT_SCHEDULER_H

#include "base/base.h"
#include "platform/topology.h"
#include "weft/graph.h"

typedef struct weft__pool weft__pool_t;

typedef struct weft__pool_config {
    int threads;                /* workers to start (>= 1) */
    unsigned flags;             /* WEFT_CONFIG_* */
    int spin_us;                /* idle spin before parking */
    weft__topo_t *topo;         /* borrowed, for binding; may be NULL */
    const weft__cpuset_t *sets; /* threads entries, empty = do not bind */
    void *owner;                /* returned by weft_ctx_runtime() */
} weft__pool_config_t;

/* Starts the workers and binds them. Errors: WEFT_ENOMEM, WEFT_ESYS (a
 * thread could not start, or binding failed). */
int weft__pool_create(const weft__pool_config_t *cfg, weft__pool_t **out);
/* Waits for submitted graphs, stops and joins the workers. */
void weft__pool_destroy(weft__pool_t *p);
/* 1 when the calling thread is one of p's workers, or a caller helping in
 * one of p's slots. */
int weft__pool_is_worker(const weft__pool_t *p);
/* The graph of the task the calling thread is running in p, or NULL. */
weft_graph_t *weft__pool_running_graph(const weft__pool_t *p);

/* The calling thread's slot in p, 0 .. weft__pool_slots(p) - 1 (workers,
 * then callers helping in a run), or -1 when it holds none. A slot is held
 * by one thread at a time, so per-slot data needs no lock. */
int weft__pool_slot(const weft__pool_t *p);
int weft__pool_slots(const weft__pool_t *p);
/* Slots 0 .. weft__pool_workers(p) - 1 belong to the pool's own threads for
 * their whole life; the rest are lent to callers helping in a run. */
int weft__pool_workers(const weft__pool_t *p);
/* The task the calling thread runs in p, or NULL. */
weft_task_t *weft__pool_running_task(const weft__pool_t *p);
/* The task the calling thread runs, in whichever pool (NULL: none). */
weft_task_t *weft__thread_task(void);
/* The crash reporter (crash.c): installs, once per process, handlers that
 * name the task a fault or abort happened in, then chain to the program's
 * own or the default action. */
void weft__crash_install(void);
/* An alternate signal stack for the calling thread (unless it has one);
 * returns what weft__crash_thread_end frees (may be NULL). */
void *weft__crash_thread_begin(void);
void weft__crash_thread_end(void *stack);
/* Where a worker of p keeps the task it runs (NULL between tasks), for
 * the calling thread when it is one of p's own workers (NULL otherwise):
 * valid, for that thread, until p is destroyed. */
weft_task_t *const *weft__pool_running_slot(const weft__pool_t *p);
/* A task's name, or "#<index>" written into buf (size >= 12) for an
 * unnamed one; no printf (the memory tracker calls it per allocation). */
const char *weft__task_label(const weft_task_t *t, char *buf, size_t size);
/* A word of the task's for the memory tracker (memory/track.c) to remember
 * what it made of the task; 0 when the task is added or spawned. Only the
 * thread running the task uses it. */
uint64_t *weft__task_mem_tag(weft_task_t *t);

/* The pool as the layers below see it (base/base.h's execution-context
 * record): its slots and the task-end hook (weft__task_hook_t), which must
 * outlive its use: until it is replaced and the runs going on then end,
 * or the pool is destroyed. */
weft__exec_owner_t *weft__pool_exec_owner(weft__pool_t *p);

/* weft_defer_complete for weft's own executors: rc is one of weft's codes
 * (WEFT_ETASK for a failed process, WEFT_EDEVICE, ...), which
 * weft_graph_error names instead of calling it the task's code. */
int weft__defer_complete_own(weft_defer_t *d, int rc);
/* Returns rc, noting that the running task's failure code rc is weft's
 * own (an executor's body that fails for weft's reasons). */
int weft__ctx_own_code(weft_ctx_t *ctx, int rc);

/* ---- task kinds (graph.c, ctx.c, run.c) -----------------------------------
 * The one contract every task kind other than a plain C function (a
 * process, a GPU task, later a remote one) gives the scheduler: an ops
 * table, set per task (weft__graph_add_kind). The scheduler sees every
 * kind the same way:
 *
 *   start    an attempt's body, run on a worker like a C function: it does
 *            the work, or starts it elsewhere and defers its completion
 *            (weft_ctx_defer) until the executor finishes it (a process's
 *            exit, a device's event). Timeouts and retries of the task
 *            (weft_task_set_timeout/_retries) wrap it as they wrap a C
 *            function; a kind that runs its own attempts (a process: TERM
 *            -> grace -> KILL) keeps them in its own spec instead.
 *   prepare  the graph changed since its last run: recompute what early()
 *            needs (once per graph and kind; NULL: nothing).
 *   early    two-step completion. start may call weft__ctx_release_early:
 *            the successors of the same kind for which early(task,
 *            successor) holds are released at once (their dependency is
 *            counted as met; they must order their work after the task's,
 *            e.g. on a stream); the others at the completion, as usual. A
 *            task that fails before it released anything releases every
 *            successor at its completion, with the failure's poison.
 *            early must give the same answer from the release to the
 *            completion (it may depend only on what prepare computed).
 *   describe the failure detail of a failed task (NULL: none), shown in
 *            weft_graph_error and weft_task_error after a weft_ctx_fail
 *            text.
 *   cancel   the run of g is cancelled (weft_graph_cancel,
 *            weft_ctx_cancel_run; not a fail-fast stop, which lets running
 *            work finish): end the kind's in-flight attempts soon (a
 *            process gets SIGTERM, then SIGKILL after its grace). Called
 *            once per run, from the thread that cancelled it (a worker,
 *            the caller); must not block.
 *   cleanup  g is destroyed: free the kind's state of g.
 *
 * A kind keeps one state pointer per graph (weft__graph_kind_state); the
 * hooks that take a graph get it. */
/* One attempt of a task whose attempts the scheduler runs (a timeout,
 * retries or cpus/gpus: weft_task_set_*), as the kind's attempt_end sees
 * it, after the scheduler's verdict. */
typedef struct weft__attempt {
    int attempt;               /* 1-based; 0: it never ran */
    int rc;                    /* its code (WEFT_ETIMEDOUT when it ran past its timeout) */
    uint64_t start_ns, end_ns; /* clock ns of the call */
    int retry;                 /* another attempt would follow */
    int not_run;               /* never ran: the run stopped while it waited for its resources */
    const char *why;           /* attempt 0: why it never ran */
} weft__attempt_t;

/* What a kind may give many of its tasks at once instead of a record per
 * task (weft_task_set_cpus and the like): the cores and GPUs to admit it
 * to, its timeout and retries. */
typedef struct weft__kind_limits {
    int32_t cpus, gpus, retries;
    uint64_t timeout_ns, retry_delay_ns;
    double retry_backoff; /* >= 1 */
} weft__kind_limits_t;

typedef struct weft__task_ops {
    const char *kind; /* "process", "gpu", ...: weft_task_kind() */
    /* The kind runs its attempts itself (a process: its spec's timeout,
     * retries, cores) or cannot be stopped (a GPU task): weft_task_set_
     * timeout/_retries/_cpus/_gpus refuse its tasks. */
    int own_attempts;
    /* A worker that ran one of its tasks with cpus stays bound to them
     * afterwards (it moves again only when the next task's cpus differ),
     * instead of returning to its own cpus: for kinds whose graphs hold
     * nothing else that runs on the worker's cpus (the workflow kernels,
     * beside process tasks whose bodies only ask for cores). */
    int stay_bound;
    weft_fn start;
    int (*prepare)(weft_graph_t *g, void *state);
    int (*early)(const weft_task_t *task, const weft_task_t *succ);
    const char *(*describe)(const weft_task_t *t);
    void (*cancel)(weft_graph_t *g, void *state);
    void (*cleanup)(weft_graph_t *g, void *state);
    /* After each attempt the scheduler runs for t (see weft__attempt_t),
     * on the worker, before its resources go back: returns whether a retry
     * may follow (a->retry is the scheduler's answer; the kind may say
     * no). NULL: nothing to tell. */
    int (*attempt_end)(weft_task_t *t, const weft__attempt_t *a);
    /* The limits of a task of this kind that has none of its own (no
     * weft_task_set_cpus/_gpus/_timeout/_retries/_retry_delay on it): the
     * same record may serve many tasks; NULL: none. With it, every task of
     * the kind goes through admission. */
    const weft__kind_limits_t *(*limits)(const weft_task_t *t);
} weft__task_ops_t;

/* Kinds one graph may hold besides C functions. */
#define WEFT__GRAPH_KINDS 8

/* Adds a task of kind ops whose body ops->start gets arg (flags as in
 * weft_graph_add_ex). Errors: those of weft_graph_add_ex; WEFT_ENOTSUP (a
 * graph holds WEFT__GRAPH_KINDS kinds at most). */
int weft__graph_add_kind(weft_graph_t *g, const char *name, const weft__task_ops_t *ops, void *arg, unsigned flags,
                         weft_task_t **out);
/* g's state for kind ops, or NULL (none set yet). */
void *weft__graph_kind_state(const weft_graph_t *g, const weft__task_ops_t *ops);
/* Sets it (ops->cleanup gets it when g goes). Errors: WEFT_EBUSY (g
 * runs), WEFT_ENOTSUP (too many kinds). */
int weft__graph_set_kind_state(weft_graph_t *g, const weft__task_ops_t *ops, void *state);
/* t's kind (NULL: a C function, or a spawned child). */
const weft__task_ops_t *weft__task_ops(const weft_task_t *t);
/* 1 once the running graph of t was told to stop (cancel, fail-fast). */
int weft__graph_stopping(const weft_graph_t *g);
/* g is about to change: WEFT_EBUSY while it runs; else 0, and g will be
 * prepared again before its next run. */
int weft__graph_change(weft_graph_t *g);
/* Bumped by every change to g (tasks, edges, weft__graph_change). */
uint32_t weft__graph_version(const weft_graph_t *g);
/* Runs of g submitted so far (1 during the first run). */
uint32_t weft__graph_runs(const weft_graph_t *g);
void *weft__task_arg(const weft_task_t *t);
weft_fn weft__task_fn(const weft_task_t *t);
/* size bytes (aligned to align) owned by g, freed with it; g idle. */
void *weft__graph_alloc(weft_graph_t *g, size_t size, size_t align);
/* 1 while g runs (or is submitted and not waited for). */
int weft__graph_busy(const weft_graph_t *g);
/* Why t's attempt failed (weft_task_error shows the last attempt's), from
 * an executor; any thread. */
void weft__task_fail_note(weft_task_t *t, int attempt, const char *text);
weft_graph_t *weft__task_graph(const weft_task_t *t);
size_t weft__task_ndeps(const weft_task_t *t);
weft_task_t *weft__task_pred(const weft_task_t *t, size_t i);
size_t weft__task_nsucc(const weft_task_t *t);
weft_task_t *weft__task_succ(const weft_task_t *t, size_t i);
/* t's result in this run (NULL: none) and its destructor into *dtor. */
void *weft__task_result(const weft_task_t *t, void (**dtor)(void *));
/* The task ctx runs. */
weft_task_t *weft__ctx_task(const weft_ctx_t *ctx);
/* The pool running the task ctx belongs to. */
weft__pool_t *weft__ctx_pool(const weft_ctx_t *ctx);
/* See above. */
void weft__ctx_release_early(weft_ctx_t *ctx);

/* Per-pool executor state, set by the runtime (the scheduler keeps it,
 * without knowing what it is). */
enum { WEFT__EXEC_GPU = 0, WEFT__EXEC_PROC = 1, WEFT__EXEC_KINDS = 2 };

/* Admission of resources, a service of the layer above (the runtime's
 * cores budget): a C task with cpus or gpus (weft_task_set_cpus/_gpus)
 * asks it before each run of its function, on the worker, which waits for
 * the grant and is bound to the granted cpus (and its first GPU made the
 * thread's current CUDA device) while the function runs. acquire returns
 * a lease (NULL: refused; *err and why say why; WEFT_ECANCELED: the run
 * stops, and the task is reported not run) and fills *grant. */
/* The grant of one admission: filled by acquire. near/nnear come in as
 * the slots the worker held last (a hint: a worker that runs task after
 * task keeps its cores and need not move) and go out as the granted ones. */
typedef struct weft__grant {
    weft__cpuset_t set; /* where to bind (empty: do not bind) */
    int devs[64];       /* the CUDA devices of the granted GPUs */
    uint64_t gpu_mask;  /* which GPUs of the budget they are */
    int near[64];
    int nnear;
} weft__grant_t;

typedef struct weft__admit_ops {
    void *(*acquire)(void *ud, int cpus, int gpus, weft__grant_t *grant, int *err, char *why, size_t whylen);
    void (*release)(void *ud, void *lease);
} weft__admit_ops_t;
void weft__pool_set_admission(weft__pool_t *p, const weft__admit_ops_t *ops, void *ud);
/* What the running task was granted (weft_task_set_cpus/_gpus), or NULL. */
const weft__grant_t *weft__ctx_grant(const weft_ctx_t *ctx);
void weft__pool_set_executor(weft__pool_t *p, int kind, void *ex);
void *weft__pool_executor(const weft__pool_t *p, int kind);

/* ---- tracing (trace.c) ---------------------------------------------------
 * The recording side of the timing instrumentation: events go into
 * per-slot chunks (no lock, no allocation but one per TRACE_CHUNK events);
 * graph runs are registered with a snapshot of the graph (names, notes,
 * dependencies) so that everything can be exported after the graph is gone.
 * runtime/trace*.c reads it back and writes traces and reports. */
typedef struct weft__trace weft__trace_t;

enum weft__tev_kind {
    TEV_TASK = 1, /* a task's function ran on a worker (aux = its rc) */
    TEV_CHILD,    /* a spawned child ran (name = its name) */
    TEV_DONE,     /* a deferred completion was delivered (instant) */
    TEV_SKIP,     /* a task was cancelled or not run (instant; state) */
    TEV_REGION,   /* a user region inside a task (aux = depth) */
    TEV_COUNTER,  /* a counter sample (name; value in `value`) */
    TEV_ATTEMPT,  /* an attempt of a task on an executor lane (aux = attempt) */
};
enum { TEV_F_NS = 1 }; /* t0/t1 are clock ns rather than ticks */

/* Lanes: pool slots first, then these. */
enum weft__tlane_kind { TLANE_WORKER = 0, TLANE_PROC = 1, TLANE_GPU = 2, TLANE_OTHER = 3 };

typedef struct weft__tev {
    uint64_t t0;
    union {
        uint64_t t1;
        double value; /* TEV_COUNTER */
    };
    const char *name; /* interned (lives as long as the trace), or NULL */
    const char *args; /* JSON object members, interned, or NULL */
    uint32_t run;     /* 1 + run id; 0 = outside any run */
    uint32_t index;   /* task index in the run's graph */
    uint16_t lane;
    uint8_t kind, state;
    uint8_t lane_kind, flags;
    int32_t aux;
} weft__tev_t;

/* A graph as it was when a run of it started. */
typedef struct weft__tgraph {
    uint32_t ntasks;
    const char **name;  /* NULL entries: unnamed ("#<index>") */
    const char **note;  /* JSON object members (weft_task_annotate), or NULL */
    uint32_t *pred_off; /* ntasks + 1 */
    uint32_t *pred;
} weft__tgraph_t;

typedef struct weft__trun {
    const weft__tgraph_t *g;
    uint64_t t_submit, t_done; /* ticks; t_done 0 while running */
    int result;
} weft__trun_t;

/* lanes = pool slots. Errors: WEFT_ENOMEM. */
int weft__trace_create(int lanes, weft__trace_t **out);
void weft__trace_destroy(weft__trace_t *tr);
/* Makes the pool record into tr (NULL: stop recording). Only between runs. */
void weft__pool_set_trace(weft__pool_t *p, weft__trace_t *tr);
weft__trace_t *weft__pool_trace(const weft__pool_t *p);
/* The trace the calling thread records into through pool slot *slot
 * (NULL when it is not in a slot of a traced pool). */
weft__trace_t *weft__thread_trace(int *slot);

/* Copies s into the trace's string table (same pointer for equal strings;
 * NULL on ENOMEM). */
const char *weft__trace_intern(weft__trace_t *tr, const char *s);
/* Records an event from any thread (under a lock): for executors other
 * than the workers, counters from outside tasks, attempts. t is the graph
 * task it belongs to (NULL: none). */
void weft__trace_add(weft__trace_t *tr, const weft_task_t *t, const weft__tev_t *ev);
/* Gets the next event chunk ready (pages touched) for each worker slot
 * that has filled one, so that workers do not take the page faults. For a
 * background thread (runtime/trace.c calls it at every sample). */
void weft__trace_prepare(weft__trace_t *tr);
/* A user region on the calling thread's slot: begins one named `name`,
 * or with name NULL ends the innermost (t: the task running, or NULL). */
void weft__trace_region(weft__trace_t *tr, int slot, const weft_task_t *t, const char *name);
/* A counter sample, from slot `slot` (no lock) or, slot < 0, any thread. */
void weft__trace_counter(weft__trace_t *tr, int slot, const char *name, double value);
/* Picks the lowest lane of kind k free from t0 on and holds it until t1
 * (for process attempts: one track per concurrently running process). */
int weft__trace_lane_pick(weft__trace_t *tr, int k, uint64_t t0, uint64_t t1);
/* The same among the process lanes of `group` (a rank of a run over
 * several): a new one is named "<group> slot <n>". */
int weft__trace_lane_pick_in(weft__trace_t *tr, const char *group, uint64_t t0, uint64_t t1);
/* A lane's name from weft__trace_lane_pick_in, or NULL. */
const char *weft__trace_lane_name(weft__trace_t *tr, int k, int lane);
/* Makes lanes 0..lane of kind k exist (a lane kept by its owner, such as
 * a CUDA stream's). */
void weft__trace_lane_use(weft__trace_t *tr, int k, int lane);

/* Reading back (any time, from any thread): calls fn for every event
 * published so far; with `fresh`, only for those not passed to an earlier
 * fresh read (one such reader at a time: the trace file streamer). */
void weft__trace_read(weft__trace_t *tr, int fresh, void (*fn)(void *ud, const weft__tev_t *ev), void *ud);
/* At least the number of events a read would pass on now (records, which
 * may take more than one per event). */
size_t weft__trace_bound(weft__trace_t *tr);
/* Runs registered so far (a copy of the table's entries). */
size_t weft__trace_runs(weft__trace_t *tr, weft__trun_t *out, size_t max);
size_t weft__trace_nlanes(const weft__trace_t *tr, int kind);
uint64_t weft__trace_start(const weft__trace_t *tr); /* tick at creation */

int weft__pool_submit(weft__pool_t *p, weft_graph_t *g);
int weft__pool_run(weft__pool_t *p, weft_graph_t *g);

#endif
