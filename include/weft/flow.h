/* weft — workflow files from C: load a TOML workflow (as `weft run`
 * does: schema, sweeps, dependencies and the machine checked before
 * anything runs) and run it on this machine, with its record in
 * .weft/<name>-<time>/ under the workflow's workdir (tasks.tsv, the
 * tasks' output files), so that a solver can embed a whole workflow.
 *
 * A run changes the process's current directory to the workflow's
 * workdir (its relative paths are relative to it) and starts its own
 * runtime (the workflow's threads, pin and GPUs); it installs no signal
 * handler: stop it with weft_flow_stop. */
#ifndef WEFT_FLOW_H
#define WEFT_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "weft/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_flow weft_flow_t;

/* A task's state after a run (weft_flow_task) or in an event. */
enum weft_flow_task_state {
    WEFT_FLOW_TASK_PENDING = 0,
    WEFT_FLOW_TASK_RUNNING = 1, /* in an event: failed, and will be retried */
    WEFT_FLOW_TASK_DONE = 2,
    WEFT_FLOW_TASK_FAILED = 3,
    WEFT_FLOW_TASK_SKIPPED = 4, /* a task it depends on failed */
    WEFT_FLOW_TASK_NOT_RUN = 5, /* the run stopped before it started */
    WEFT_FLOW_TASK_STOPPED = 6, /* the run stopped while it ran */
    WEFT_FLOW_TASK_CACHED = 7   /* not run: done before with the same definition (resume) */
};

/* Called as each task finishes (and for each retry), from any thread,
 * possibly concurrently; it must not call weft_flow_* on the same flow. */
typedef void (*weft_flow_event_fn)(void *ud, const char *task, int state, int attempt, double wall_s,
                                   const char *reason);

typedef struct weft_flow_options {
    const char *const *sets; /* "name=value" or "name=v1,v2": replace a sweep list (as --set) */
    size_t nsets;
    const char *const *only; /* globs: run these tasks and what they need (as --only) */
    size_t nonly;
    int threads;                 /* -1 (default): the file's */
    int keep_going;              /* -1 (default): the file's; 0 = fail fast; 1 */
    weft_flow_event_fn on_event; /* NULL: none */
    void *ud;
} weft_flow_options_t;

WEFT_API void weft_flow_options_init(weft_flow_options_t *o);

/* Loads and checks the workflow at path (o NULL = defaults; what o points
 * to is used during the call only). On failure returns WEFT_EPARSE (bad
 * input), WEFT_ENOENT, WEFT_ESYS or WEFT_ENOMEM, writes the message into
 * err ("flow.toml:7:10: task 'x': key 'cpus': ...", err may be NULL) and
 * leaves *out NULL. */
WEFT_API int weft_flow_load(const char *path, const weft_flow_options_t *o, weft_flow_t **out, char *err,
                            size_t errlen);
WEFT_API void weft_flow_destroy(weft_flow_t *f);

/* How the next weft_flow_run treats the earlier runs in the run store
 * (.weft/weft.db under the workdir, which every run writes), as
 * `weft run` does: WEFT_FLOW_MODE_ALL (the default) runs every task;
 * WEFT_FLOW_MODE_RESUME (--resume) only what is not done with the same
 * definition in the run resumed (failed, interrupted, new, changed, an
 * output missing) and what runs after it; WEFT_FLOW_MODE_RERUN_FAILED
 * (--rerun-failed) only what did not succeed there and what runs after
 * it. run: the run resumed, its name or number (NULL: this workflow's
 * latest); rerun: globs of tasks that run whatever they did before
 * (--rerun; with MODE_ALL they make it MODE_RESUME). What it is given is
 * copied. Errors: WEFT_EINVAL (NULL f, a bad mode, NULL globs),
 * WEFT_EBUSY (running), WEFT_ENOMEM. A run that is not found makes
 * weft_flow_run fail with WEFT_ENOENT, a glob that matches no task with
 * WEFT_EPARSE, before anything runs (weft_flow_error says). */
enum { WEFT_FLOW_MODE_ALL = 0, WEFT_FLOW_MODE_RESUME = 1, WEFT_FLOW_MODE_RERUN_FAILED = 2 };
WEFT_API int weft_flow_set_resume(weft_flow_t *f, int mode, const char *run, const char *const *rerun, size_t nrerun);
/* Which slice of the workflow the next weft_flow_run takes, as `weft run
 * --shard index/count`: a task goes by its sweep point (the k-th
 * combination of its [[task]]'s sweep values is in slice k mod count + 1)
 * unless its [[task]] says shard = "each" (every slice) or "skip" (none);
 * count 0 (or 1): the whole workflow again. Each slice's runs are their
 * own in the run store (a resume takes the latest run of the same
 * slice). Errors: WEFT_EINVAL (NULL f; not 1 <= index <= count <=
 * 1000000), WEFT_EBUSY (running), WEFT_EPARSE (a task runs after one
 * that runs in another slice or in none; weft_flow_error names both, with
 * the file and line), WEFT_ENOMEM. */
WEFT_API int weft_flow_set_shard(weft_flow_t *f, int index, int count);
/* After a run: how many of its tasks were cached (not run). */
WEFT_API size_t weft_flow_ncached(const weft_flow_t *f);

/* Runs the workflow and waits for it. Returns 0 (every task done),
 * WEFT_ETASK (some failed, were skipped or did not run), WEFT_ECANCELED
 * (weft_flow_stop), WEFT_ESYS (the run's record could not be written
 * whole), or the error that kept it from starting (nothing ran; see
 * weft_flow_error). A flow can run again; each run has its own record. */
WEFT_API int weft_flow_run(weft_flow_t *f);
/* One run over several processes (ranks), one per machine in real use:
 * every rank loads the same workflow (same file, same options) and calls
 * weft_flow_run_over with its end of a link; rank 0 owns the run (the
 * DAG, the run store, the output log, what this API reports after it) and
 * places every task on the other ranks, which run them on their own cores
 * and send back their outcome, output and results (the weft command's
 * `mpirun weft run`, docs/workflows.md). libweft-mpi's weft_flow_run_mpi
 * (weft/mpi.h) makes the link over MPI; another transport fills this in. */
typedef struct weft_flow_link weft_flow_link_t;
typedef void (*weft_flow_link_recv_fn)(void *ud, int from, const void *msg, size_t len);
typedef void (*weft_flow_link_lost_fn)(void *ud, int rank, double silent_s);
struct weft_flow_link {
    int rank, size; /* this process's number, and how many there are */
    char host[64];  /* its machine's name (the run names ranks "rank2@host") */
    /* Queues msg (copied) for rank `to`, delivered in order: 0,
     * WEFT_EINVAL, WEFT_ENOMEM, WEFT_ESTATE (quieted). Any thread. */
    int (*send)(weft_flow_link_t *l, int to, const void *msg, size_t len);
    /* From now on recv(ud, from, msg, len) for each message, and lost(ud,
     * rank, s) once for a peer silent past the link's timeout (rank 0
     * watches every rank, every rank watches rank 0; the link sends
     * something at least every 0.25 s), on the link's own thread. Once;
     * 0, WEFT_ESTATE or WEFT_ESYS. */
    int (*listen)(weft_flow_link_t *l, weft_flow_link_recv_fn recv, weft_flow_link_lost_fn lost, void *ud);
    /* Sends what is queued and stops calling back (the link stays the
     * caller's to free). */
    void (*quiet)(weft_flow_link_t *l);
    /* Set by weft before listen (a transport may ignore it): called on the
     * link's thread with listen's ud, how long a message may now wait to
     * be noticed without anyone running short of work (0: notice it at
     * once). A transport that polls can nap that long. */
    uint64_t (*calm_ns)(void *ud);
};
/* Rank 0: as weft_flow_run, with the tasks on the other ranks; it waits
 * (up to 2 minutes) for each to say it loaded the same workflow
 * (WEFT_EPARSE otherwise: weft_flow_error names the rank). A rank lost
 * during the run loses its running tasks (retried elsewhere when they
 * have retries, else failed). Other ranks: run what rank 0 sends until
 * it ends the run; 0 when rank 0's run succeeded, WEFT_ETASK when it did
 * not or rank 0 was lost, WEFT_ECANCELED when it was stopped. Both quiet
 * the link before they return. A size of 1: weft_flow_run. Errors:
 * WEFT_EINVAL (NULL f or l, a link without its functions, rank not in
 * 0..size-1), WEFT_EBUSY (running). */
WEFT_API int weft_flow_run_over(weft_flow_t *f, weft_flow_link_t *l);
/* From any other thread while weft_flow_run runs: nothing new starts,
 * running processes get SIGTERM, then SIGKILL after the workflow's
 * grace, kernels are told to stop. WEFT_ESTATE when it is not running. */
WEFT_API int weft_flow_stop(weft_flow_t *f);
/* Why the last load/run failed or was incomplete ("" when it did not).
 * Owned by f. */
WEFT_API const char *weft_flow_error(const weft_flow_t *f);

/* The workflow's name, its tasks (after expansion, in file order), and
 * after a run its record's directory ("" before). Owned by f. */
WEFT_API const char *weft_flow_name(const weft_flow_t *f);
WEFT_API size_t weft_flow_ntasks(const weft_flow_t *f);
WEFT_API const char *weft_flow_run_dir(const weft_flow_t *f);

/* Task i of the last run: its name, WEFT_FLOW_TASK_* state (a task that
 * --only left out: WEFT_FLOW_TASK_NOT_RUN) and why it failed or did not
 * run ("" when done); strings owned by f until its next run. Errors:
 * WEFT_EINVAL (NULL f or name, i out of range). */
WEFT_API int weft_flow_task(const weft_flow_t *f, size_t i, const char **name, int *state, const char **reason);

/* What task i's last attempt in the last run wrote to its stdout
 * (WEFT_FLOW_STDOUT) or stderr (WEFT_FLOW_STDERR), read back from the
 * run's output log or the task's file: *data is NUL-terminated and owned
 * by f until the next call or run ("" when it wrote nothing or was not
 * run then). Errors: WEFT_EINVAL (NULL, i or stream out of range, no
 * run yet), WEFT_EBUSY (running), WEFT_ESYS (cannot be read back),
 * WEFT_ENOMEM. */
enum { WEFT_FLOW_STDOUT = 1, WEFT_FLOW_STDERR = 2 };
WEFT_API int weft_flow_task_output(weft_flow_t *f, size_t i, unsigned stream, const char **data, size_t *len);

/* The results the tasks reported in the last run (kernels' results, and
 * the key=value lines commands wrote to $WEFT_RESULT), in file order;
 * results holds one key=value per line, as written. */
WEFT_API size_t weft_flow_nresults(const weft_flow_t *f);
WEFT_API int weft_flow_result(const weft_flow_t *f, size_t k, const char **task, const char **params,
                              const char **results);

#ifdef __cplusplus
}
#endif
#endif
