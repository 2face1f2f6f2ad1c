/* weft — task graphs: build a DAG of C function tasks, run it (again and
 * again) on a runtime, and read what happened to each task. */
#ifndef WEFT_GRAPH_H
#define WEFT_GRAPH_H

#include "weft/export.h"

#include <stddef.h>

#include "weft/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_graph weft_graph_t; /* opaque */
typedef struct weft_task weft_task_t;   /* handle owned by its graph */
typedef struct weft_ctx weft_ctx_t;     /* what a running task sees */

/* A task body: 0 = success; anything else marks the task failed with that
 * code (its dependents are then cancelled). */
typedef int (*weft_fn)(weft_ctx_t *ctx, void *arg);

/* What happened to a task in the graph's last run. */
enum weft_task_state {
    WEFT_TASK_NOT_RUN = 0,  /* never started: no run yet, fail-fast, or the
                                run was canceled */
    WEFT_TASK_DONE = 1,     /* its function returned 0 */
    WEFT_TASK_FAILED = 2,   /* its function (or one of its children)
                                returned non-zero; see weft_task_status() */
    WEFT_TASK_CANCELLED = 3 /* skipped because a dependency failed or
                                was cancelled */
};

/* ---- building ---------------------------------------------------------- */

/* Creates an empty graph; *out owns it. Errors: WEFT_EINVAL, WEFT_ENOMEM. */
WEFT_API int weft_graph_create(weft_graph_t **out);

/* Frees the graph, its tasks and their results (running each result's
 * destructor). If the graph was submitted and not yet waited for, waits for
 * it first. NULL is a no-op. Calling it from one of the graph's own tasks
 * is refused (a warning is printed and the graph is left alone). */
WEFT_API void weft_graph_destroy(weft_graph_t *g);

/* Adds a task running fn(ctx, arg). name is copied (NULL = unnamed, shown
 * as "#<index>"); arg is borrowed. Returns a handle owned by g, valid until
 * weft_graph_destroy, or NULL: g or fn NULL, g running (see
 * weft_graph_add_ex for the reason as a code), out of memory. */
WEFT_API weft_task_t *weft_graph_add(weft_graph_t *g, const char *name, weft_fn fn, void *arg);

/* Bits of weft_graph_add_ex's flags. */
enum weft_add_flag {
    /* name is not copied: the caller keeps it valid and unchanged until
     * weft_graph_destroy (saves a copy per task in very large graphs). */
    WEFT_ADD_NAME_BORROWED = 1u << 0
};

/* weft_graph_add with a return code and WEFT_ADD_* flags.
 * Errors: WEFT_EINVAL (g, fn or out NULL, unknown flag), WEFT_EBUSY (g is
 * running or not yet waited for), WEFT_ENOMEM. */
WEFT_API int weft_graph_add_ex(weft_graph_t *g, const char *name, weft_fn fn, void *arg, unsigned flags,
                               weft_task_t **out);

/* weft_graph_add whose task owns a copy of its argument: the `size` bytes
 * at `arg` are copied into the graph (aligned for any type) and the task
 * runs fn(ctx, copy), so the caller need not keep an array of argument
 * structs alive. The copy lives as long as the graph and is the same in
 * every run (a task may change it; the change is then seen by the next
 * run). size 0 passes NULL. Errors as weft_graph_add_ex, and WEFT_EINVAL
 * for arg NULL with size > 0. */
WEFT_API int weft_graph_add_copy(weft_graph_t *g, const char *name, weft_fn fn, const void *arg, size_t size,
                                 weft_task_t **out);

/* Records that `task` runs after `dep` has finished. Adding the same edge
 * twice records it twice, which is harmless.
 * Errors: WEFT_EINVAL (NULL, task == dep, tasks of two different graphs),
 * WEFT_EBUSY (the graph is running), WEFT_ENOMEM. Cycles are found by
 * weft_graph_run/submit (WEFT_ECYCLE). */
WEFT_API int weft_task_after(weft_task_t *task, weft_task_t *dep);

/* Attaches key = value to the task, shown with it in traces and reports
 * (the event's args, the report's task table): e.g. the sweep parameters
 * of a workflow task. Both are copied; a key given again adds another
 * entry. Errors: WEFT_EINVAL (NULL argument, empty key, a child task),
 * WEFT_EBUSY (the graph is running), WEFT_ENOMEM. */
WEFT_API int weft_task_annotate(weft_task_t *task, const char *key, const char *value);

/* Number of tasks in g (0 for NULL). */
WEFT_API size_t weft_graph_size(const weft_graph_t *g);

/* The task at creation index i (0-based), NULL when out of range. */
WEFT_API weft_task_t *weft_graph_task(const weft_graph_t *g, size_t i);

/* ---- running ----------------------------------------------------------- */

/* Runs g on rt and blocks until it has finished; the calling thread helps
 * run tasks meanwhile (unless WEFT_CONFIG_NO_CALLER_HELP). Each run starts
 * from a clean state; results of the previous run are released first.
 * Returns 0, or:
 *   WEFT_EINVAL  rt or g NULL
 *   WEFT_EBUSY   g is already running or submitted and not waited for
 *   WEFT_ECYCLE  g has a cycle; nothing ran; weft_graph_error() names it
 *   WEFT_ETASK   at least one task failed (the others that could run, ran)
 *   WEFT_ECANCELED a task canceled the run (weft_ctx_cancel_run)
 *   WEFT_ENOMEM  nothing ran
 * May be called from inside a task of another graph on the same runtime
 * (the worker helps until the inner graph is done). */
WEFT_API int weft_graph_run(weft_runtime_t *rt, weft_graph_t *g);

/* Starts g on rt and returns at once; collect the outcome with
 * weft_graph_wait(). Errors as weft_graph_run() for what is known before
 * anything runs (EINVAL, EBUSY, ECYCLE, ENOMEM); then nothing was started. */
WEFT_API int weft_graph_submit(weft_runtime_t *rt, weft_graph_t *g);

/* Waits for a submitted graph (helping to run tasks) and returns what
 * weft_graph_run() would have. Errors: WEFT_EINVAL (g NULL),
 * WEFT_ESTATE (g was not submitted, or already waited for). */
WEFT_API int weft_graph_wait(weft_graph_t *g);

/* Non-blocking: 1 if the submitted graph has finished, 0 if not, WEFT_EINVAL
 * for NULL, WEFT_ESTATE if not submitted. */
WEFT_API int weft_graph_done(const weft_graph_t *g);

/* Cancels a submitted graph from outside its tasks (another thread, a
 * signal-handling loop): no new task starts (they end WEFT_TASK_NOT_RUN),
 * running functions finish (weft_ctx_should_stop turns true for them),
 * running process tasks are ended (SIGTERM, SIGKILL after their grace;
 * weft/process.h), and weft_graph_wait() returns WEFT_ECANCELED. A
 * graph that has finished but not been waited for is left as it is. Not
 * async-signal-safe. Errors: WEFT_EINVAL (NULL), WEFT_ESTATE (not
 * submitted, or already waited for). */
WEFT_API int weft_graph_cancel(weft_graph_t *g);

/* ---- after a run ------------------------------------------------------- */

/* Detail of the last error or failed run of g — the tasks on a cycle
 * ("cycle: a -> b -> a"), or the first failure and how many tasks were
 * cancelled — or "" when there is none. Owned by g; valid until the next
 * call that changes or runs g. Never NULL ("" for a NULL g). */
WEFT_API const char *weft_graph_error(const weft_graph_t *g);

/* Name of the first task that failed in the last run (or of the child task
 * that failed), NULL when none did. Owned by g, valid until the next run. */
WEFT_API const char *weft_graph_first_failure(const weft_graph_t *g);

/* Counts of the last run's task states. */
typedef struct weft_run_stats {
    size_t done, failed, cancelled, not_run;
} weft_run_stats_t;

/* Fills *st. Errors: WEFT_EINVAL (NULL), WEFT_EBUSY (running). */
WEFT_API int weft_graph_stats(const weft_graph_t *g, weft_run_stats_t *st);

/* A task's WEFT_TASK_* state in the last run (WEFT_EINVAL for NULL). */
WEFT_API int weft_task_state(const weft_task_t *t);

/* The non-zero code a failed task (or its failing child) returned, else 0. */
WEFT_API int weft_task_status(const weft_task_t *t);

/* Why a failed task failed, when more is known than the code: the text it
 * gave weft_ctx_fail (whole, however long), else what its executor knows:
 * a GPU task gives the CUDA error (its name, text and device), e.g.
 * "CUDA error 700 cudaErrorIllegalAddress: an illegal memory access was
 * encountered (device 0 is lost)". "" otherwise, for NULL, and while the
 * graph runs. Owned by the graph; valid until its next run. */
WEFT_API const char *weft_task_error(const weft_task_t *t);

/* The task's name as given, or "#<index>" if it was added unnamed.
 * Owned by the graph. "" for NULL. */
WEFT_API const char *weft_task_name(const weft_task_t *t);

/* What kind of task t is: "function" (weft_graph_add*), "process"
 * (weft/process.h), "gpu" (weft/cuda.h). NULL for NULL. A static string. */
WEFT_API const char *weft_task_kind(const weft_task_t *t);

/* The result the task set in the last run (NULL if none). Borrowed: owned by
 * the graph until the next run or weft_graph_destroy. */
WEFT_API void *weft_task_result(const weft_task_t *t);

/* ---- inside a task ----------------------------------------------------- */

/* Index of the thread running the task: 0..threads-1 for the runtime's
 * workers, threads and up for helping caller threads. -1 for NULL. */
WEFT_API int weft_ctx_worker(const weft_ctx_t *ctx);

/* The running task's name ("" for NULL). */
WEFT_API const char *weft_ctx_name(const weft_ctx_t *ctx);

/* The runtime running the task (NULL for NULL). */
WEFT_API weft_runtime_t *weft_ctx_runtime(const weft_ctx_t *ctx);

/* Sets the running task's result; its successors can read it and the
 * graph owns it from now on: dtor (may be NULL) is called on it when the
 * graph is run again or destroyed, or when it is replaced by another call.
 * Errors: WEFT_EINVAL (ctx NULL, or the task is a spawned child). */
WEFT_API int weft_ctx_set_result(weft_ctx_t *ctx, void *result, void (*dtor)(void *));

/* Like weft_ctx_set_result, but the result is released (dtor) as soon as
 * the last of the task's successors has finished (run, failed or skipped),
 * so that big intermediate results do not live until the graph is
 * destroyed. A task without successors keeps it like weft_ctx_set_result.
 * weft_task_result of a released result is NULL. Errors: as above. */
WEFT_API int weft_ctx_share_result(weft_ctx_t *ctx, void *result, void (*dtor)(void *));

/* Number of dependencies (weft_task_after edges) of the running task. */
WEFT_API size_t weft_ctx_ndeps(const weft_ctx_t *ctx);

/* The dependency `dep`'s result into *out (borrowed, valid while the task
 * runs). Errors: WEFT_EINVAL (NULL argument, or dep is not a dependency
 * of the running task). */
WEFT_API int weft_ctx_dep_result(const weft_ctx_t *ctx, const weft_task_t *dep, void **out);

/* The result of the i-th dependency, in the order weft_task_after was
 * called. Errors: WEFT_EINVAL (NULL, i out of range). */
WEFT_API int weft_ctx_dep_result_at(const weft_ctx_t *ctx, size_t i, void **out);

/* Spawns a child task running fn(ctx, arg); the parent's successors run
 * only after all its children (and theirs) have finished. A failing child
 * fails its parent. name is copied. Errors: WEFT_EINVAL (ctx or fn NULL),
 * WEFT_ENOMEM, WEFT_ECANCELED (the run is stopping; fn will not run). */
WEFT_API int weft_ctx_spawn(weft_ctx_t *ctx, const char *name, weft_fn fn, void *arg);

/* Asynchronous completion. After weft_ctx_defer, the running task is not
 * finished when its function returns: it finishes (and its successors may
 * start) when weft_defer_complete(*out, rc) is called, from any thread,
 * exactly once — typically by an I/O or process callback, so that no
 * worker waits. rc != 0 fails the task with that code. The run (and
 * weft_graph_wait) waits for every deferred completion, also when it is
 * stopping. Errors: WEFT_EINVAL (NULL argument, not inside a task),
 * WEFT_ENOMEM, WEFT_ECANCELED (the run is stopping).
 *
 * The handle (owned by the graph) stays valid until the graph is run
 * again or destroyed. weft_defer_complete returns 0; WEFT_EINVAL for
 * NULL; WEFT_ESTATE, with a log line naming the task, when the handle was
 * completed already (the second call does nothing). */
typedef struct weft_defer weft_defer_t;
WEFT_API int weft_ctx_defer(weft_ctx_t *ctx, weft_defer_t **out);
WEFT_API int weft_defer_complete(weft_defer_t *d, int rc);

/* Cancels the whole run as weft_graph_cancel does: no new task starts
 * (they end WEFT_TASK_NOT_RUN), running functions finish, running
 * process tasks are ended, and the run returns WEFT_ECANCELED.
 * Errors: WEFT_EINVAL (NULL). */
WEFT_API int weft_ctx_cancel_run(weft_ctx_t *ctx);

/* 1 when the run is stopping (canceled, or fail-fast after a failure), so
 * that long tasks can return early. 0 otherwise or for NULL. */
WEFT_API int weft_ctx_stopping(const weft_ctx_t *ctx);

/* ---- timeouts and retries of in-process tasks ----------------------------
 *
 * A task may have a timeout and retries (set before the run). Each attempt
 * of its function then runs with a deadline: weft_ctx_should_stop turns
 * true when it passes (or the run is stopping), and a function that asks
 * it at least once per iteration can return early. Cancellation is
 * cooperative: a function that never asks runs to its end. Either way an
 * attempt that took longer than the timeout fails with WEFT_ETIMEDOUT and
 * the text "timed out after X s" (weft_task_error). A failed or timed-out
 * attempt is run again, on the same worker, while retries are left and
 * the run is not stopping; its result (weft_ctx_set_result) is dropped
 * first. Its dependents start after the last attempt. */

/* seconds: 0 = none (the default), else up to 1e9. These calls and
 * weft_task_set_cpus/_gpus are for C function tasks: a process task has
 * its timeout, retries, cpus and gpus in its spec (weft/process.h), and a
 * GPU task's work runs asynchronously on a device, where it cannot be
 * stopped: both refuse them (WEFT_EINVAL). Errors: WEFT_EINVAL (NULL, a
 * negative or NaN value, a process or GPU task), WEFT_EBUSY (the graph is
 * running), WEFT_ENOMEM. */
WEFT_API int weft_task_set_timeout(weft_task_t *t, double seconds);
/* retries: 0 (the default) .. 1000 runs after the first. Errors as
 * weft_task_set_timeout. */
WEFT_API int weft_task_set_retries(weft_task_t *t, int retries);
/* A pause before each retry: `seconds` after the first failed attempt,
 * times `backoff` (1..100; 0 = 1, constant) for each further one, at most a
 * day. The worker waits (it runs nothing else meanwhile, holding the
 * task's cores); a cancel or fail-fast stop ends the wait and the task
 * fails as its last attempt did. Errors: WEFT_EINVAL (NULL, a negative or
 * NaN delay, a backoff outside 0 or 1..100, a process or GPU task — a
 * process task has retry_delay_s in its spec), WEFT_EBUSY, WEFT_ENOMEM. */
WEFT_API int weft_task_set_retry_delay(weft_task_t *t, double seconds, double backoff);
/* Cores for a C task: before each run of its function the worker asks the
 * runtime for `cpus` cores (the same first-come-first-served budget as
 * process tasks, weft/process.h), waits for them, and runs the function
 * bound to them (unless the runtime was created with WEFT_PIN_NONE), so
 * that a function that starts its own threads (OpenMP, say) has exactly
 * those cores; a worker waiting for cores does not run other tasks. More
 * cores than the runtime has fails the task ("needs 8 cores but the
 * runtime has 2"). 0 (the default): none asked. Errors: WEFT_EINVAL
 * (NULL, cpus outside 0..4096), WEFT_EBUSY (the graph is running),
 * WEFT_ENOMEM. */
WEFT_API int weft_task_set_cpus(weft_task_t *t, int cpus);

/* Asks for `gpus` GPUs from the runtime's budget (weft_config_t.gpus, the
 * same the process tasks share) before each run of the task's function:
 * the worker waits until they are free (and its cores, when it has
 * weft_task_set_cpus; a task with GPUs only takes one core slot, not
 * bound), runs the function with the first one as the thread's current
 * CUDA device, and gives them back after it. weft_ctx_gpus tells the
 * function which CUDA devices it got. More GPUs than the runtime has fails
 * the task ("needs 2 GPUs but the runtime has 1"). 0 (the default): none.
 * Errors: WEFT_EINVAL (NULL, gpus outside 0..64), WEFT_EBUSY, WEFT_ENOMEM. */
WEFT_API int weft_task_set_gpus(weft_task_t *t, int gpus);

/* The CUDA devices granted to the running task (weft_task_set_gpus): the
 * count, with up to max of them copied to devices (may be NULL with max
 * 0). 0 for a task without GPUs and for NULL. GPU i of the budget is CUDA
 * device i modulo the devices this process sees (more declared than
 * there are share them). */
WEFT_API int weft_ctx_gpus(const weft_ctx_t *ctx, int *devices, int max);

/* always = 1: the task runs once its dependencies have finished, whatever
 * their outcome — failed or cancelled ones too (a fan-in that collects
 * what a sweep produced, a cleanup) — instead of being cancelled with
 * them; it is still not run when the run stops (weft_graph_cancel, a
 * fail-fast stop). always = 0 (the default): only after they all
 * succeeded. Errors: WEFT_EINVAL (NULL, a spawned child, always not 0 or
 * 1), WEFT_EBUSY (the graph is running). */
WEFT_API int weft_task_set_always(weft_task_t *t, int always);

/* How many attempts the task's last run made (0: it did not run; 1 for a
 * task without retries), WEFT_EINVAL for NULL, WEFT_EBUSY while running. */
WEFT_API int weft_task_attempts(const weft_task_t *t);

/* 1 when the running task should stop: its attempt's deadline has passed,
 * or the run is stopping (weft_ctx_stopping). 0 otherwise or for NULL. */
WEFT_API int weft_ctx_should_stop(const weft_ctx_t *ctx);
/* The running attempt, 1-based (0 for NULL). */
WEFT_API int weft_ctx_attempt(const weft_ctx_t *ctx);

/* Says why the running task fails: the text (printf-style, copied) is what
 * weft_task_error returns for it after the run, and weft_graph_error
 * quotes it when it is the run's first failure. Returns `code`, so that a
 * task ends with `return weft_ctx_fail(ctx, 3, "no file %s", path);`; a
 * code of 0 becomes WEFT_EINVAL (a failure must not read as success). The
 * first text of an attempt stays, and the last attempt that gave one is
 * shown; a child's text is its parent's. Only the
 * return value fails the task: calling this and returning 0 succeeds. */
WEFT_API int weft_ctx_fail(weft_ctx_t *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
