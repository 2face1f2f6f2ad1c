/* workloads/workflow — the cross-module header for workflow files: a TOML
 * workflow is loaded (schema checked, sweeps expanded, dependencies
 * resolved, cycles refused) into a plan, and a plan is run on a runtime
 * with the process executor and the built-in kernels.
 *
 * Every problem with the input is found by weft__flow_load, before
 * anything runs, and reported as "file:line:column: task 'x': key 'y':
 * what is wrong". */
#ifndef WEFT_WORKLOADS_WORKFLOW_H
#define WEFT_WORKLOADS_WORKFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/flow.h"
#include "weft/runtime.h"
#include "workloads/workflow/store.h"

typedef struct weft__flow weft__flow_t;

typedef struct weft__flow_opts {
    const char *const *sets; /* "name=value" or "name=v1,v2": replace a sweep list */
    size_t nsets;
    const char *const *only; /* globs: run these tasks and what they need */
    size_t nonly;
    int threads;    /* -1: from the file */
    int keep_going; /* -1: from the file; 0 = fail fast; 1 */
} weft__flow_opts_t;

void weft__flow_opts_init(weft__flow_opts_t *o);

/* Loads, expands and checks the workflow at path. On failure returns
 * WEFT_EPARSE (bad input; err holds the message, one line), WEFT_ENOENT,
 * WEFT_ESYS or WEFT_ENOMEM, and *out is NULL. */
int weft__flow_load(const char *path, const weft__flow_opts_t *o, weft__flow_t **out, char *err, size_t errlen);
void weft__flow_destroy(weft__flow_t *f);

const char *weft__flow_name(const weft__flow_t *f);
size_t weft__flow_ntasks(const weft__flow_t *f);
size_t weft__flow_nedges(const weft__flow_t *f);
/* The budget of cores (threads from the file or the options; 0 = all). */
int weft__flow_threads(const weft__flow_t *f);

/* What `weft run` checks against the machine before it starts (every
 * task's cpus within the run's core slots, GPUs), without running:
 * 0, WEFT_EPARSE (err: file:line:col and what), WEFT_ENOMEM, or another
 * error of the machine (err says which). */
int weft__flow_check(weft__flow_t *f, char *err, size_t errlen);

/* `weft graph`: the DAG in Graphviz DOT. */
void weft__flow_write_dot(const weft__flow_t *f, FILE *out);
/* `weft run --dry-run`: every task in an order that respects its
 * dependencies, with what it would run. */
void weft__flow_write_plan(const weft__flow_t *f, FILE *out);

/* JSON for what the store keeps: n bytes of s as a JSON string, and
 * "k=v" lines as an object of strings (a key twice: its first value). */
void weft__wf_json_text(FILE *fp, const char *s, size_t n);
void weft__wf_json_lines(FILE *fp, const char *lines);

/* ---- the plan: what runs, given earlier runs (the run store) ------------ */

/* How a run treats the earlier runs in the store (.weft/weft.db):
 * FRESH runs everything; RESUME runs only what is not done with the same
 * definition in the run resumed (failed, interrupted, never run, changed,
 * an output missing) and what runs after it; RERUN_FAILED only what did
 * not succeed there (a changed definition is kept) and what runs after. */
enum { WEFT_FLOW_FRESH = 0, WEFT_FLOW_RESUME, WEFT_FLOW_RERUN_FAILED };

typedef struct weft__flow_resume {
    int mode;
    const char *run;          /* the run resumed: id or name; NULL: this workflow's latest */
    const char *const *rerun; /* globs: these run whatever they did before (with RESUME) */
    size_t nrerun;
} weft__flow_resume_t;

/* Changes to the workflow's workdir (as a run does), hashes every task's
 * definition and, resuming, decides what runs (the
 * store is created unless dry; a dry plan without a store sees no earlier
 * run). Returns 0, WEFT_ENOENT (the run named is not in the store; err
 * says), WEFT_EINVAL (it is another workflow's), WEFT_ESYS (the store:
 * err says), WEFT_ENOMEM. A run plans itself (FRESH) when not planned. */
int weft__flow_plan(weft__flow_t *f, const weft__flow_resume_t *o, bool dry, char *err, size_t errlen);

/* Slices (shard.c): takes slice `index` (1-based) of `count` — a task by
 * its sweep point, or as its [[task]]'s `shard` says — out of what --only
 * kept; count 0: the whole workflow again. Before planning. WEFT_EINVAL
 * (index/count out of range), WEFT_EPARSE (a task whose dependency runs in
 * another slice or in none: err names both, file:line), WEFT_ENOMEM. */
#define WEFT__SHARD_MAX 1000000
int weft__flow_shard(weft__flow_t *f, int index, int count, char *err, size_t errlen);
/* "i/N" as given to --shard or WEFT_SHARD: 0, or WEFT_EINVAL. */
int weft__wf_shard_parse(const char *s, int *index, int *count);
/* "2/4" while a slice is taken, else NULL. */
const char *weft__flow_shard_text(const weft__flow_t *f);
/* After a plan: the run resumed (0: none), how many tasks are cached. */
int64_t weft__flow_resumed(const weft__flow_t *f);
size_t weft__flow_ncached(const weft__flow_t *f);
/* `weft run --dry-run --resume`: each task in order, cached or why it runs. */
void weft__flow_write_reasons(const weft__flow_t *f, FILE *out);

/* ---- running ------------------------------------------------------------ */

typedef struct weft__flow_run weft__flow_run_t;
typedef struct weft__cluster weft__cluster_t; /* a run over several ranks (below) */

enum weft__flow_state {
    WEFT_FLOW_PENDING = 0,
    WEFT_FLOW_RUNNING,
    WEFT_FLOW_DONE,
    WEFT_FLOW_FAILED,
    WEFT_FLOW_SKIPPED, /* a dependency failed */
    WEFT_FLOW_NOT_RUN, /* stopped (fail-fast, Ctrl-C) before it started */
    WEFT_FLOW_STOPPED, /* interrupted while it ran (Ctrl-C, fail-fast): the record's "stopped" */
    WEFT_FLOW_CACHED   /* not run: done in an earlier run with the same definition (resume) */
};

/* What a finished attempt looked like (event callback, summary). */
typedef struct weft__flow_event {
    const char *task;
    int attempt, attempts; /* 1-based; attempts = retries + 1 */
    int state;             /* WEFT_FLOW_DONE, _FAILED, _STOPPED (interrupted), _NOT_RUN
                              (never started); WEFT_FLOW_RUNNING when it will be retried */
    double wall_s;         /* the run time of its last attempt (not the wait for cores) */
    const char *reason;    /* "" on success */
} weft__flow_event_t;

typedef void (*weft__flow_event_fn)(void *ud, const weft__flow_event_t *e);

typedef struct weft__flow_run_opts {
    weft__flow_event_fn on_event; /* any thread, concurrently (it locks what it shares); may be NULL */
    void *ud;
    int notify_fd;                     /* written (8 bytes, eventfd style) when the run ends */
    int trace;                         /* record a trace (weft__flow_run_runtime, weft/trace.h) */
    const char *trace_file;            /* with trace: streamed there as the run goes */
    const weft__flow_resume_t *resume; /* NULL: a fresh run (everything runs) */
    weft__cluster_t *cluster;          /* rank 0 of a run over several ranks: the tasks run on its nodes */
} weft__flow_run_opts_t;

typedef struct weft__flow_counts {
    size_t total, done, running, failed, skipped, not_run, stopped, cached;
} weft__flow_counts_t;

/* Creates the run directory .weft/<name>-<time> under the workdir (which
 * becomes the current directory), starts the runtime, the process
 * executor and the run. Errors: WEFT_ESYS, WEFT_ENOMEM (err says what). */
int weft__flow_run_start(weft__flow_t *f, const weft__flow_run_opts_t *o, weft__flow_run_t **out, char *err,
                         size_t errlen);
const char *weft__flow_run_dir(const weft__flow_run_t *r);
int weft__flow_run_slots(const weft__flow_run_t *r);
/* The cores (hardware threads with pin = "pu") this process may run on:
 * fewer than the slots means tasks share them. */
int weft__flow_run_units(const weft__flow_run_t *r);
/* After the run (elapsed_s: its wall time): when a family of tasks (one
 * [[task]], most of the run) ran shorter than about three times weft's own
 * time per task and the cores ran tasks less than half of the run, the
 * advice to make tasks coarser, in buf; false when there is nothing to
 * say. */
bool weft__flow_run_small_tasks(weft__flow_run_t *r, double elapsed_s, char *buf, size_t cap);
void weft__flow_run_counts(weft__flow_run_t *r, weft__flow_counts_t *c);
/* Readable when the workers have buffered enough for a flush: a loop
 * that flushes polls it too (-1: none; the workers then flush). */
int weft__flow_run_flush_fd(const weft__flow_run_t *r);
/* Flushes the journal (tasks.tsv) so far. What cannot be written (a full
 * disk) is kept and tried again first at the next flush. */
void weft__flow_run_flush(weft__flow_run_t *r);
/* Whether the record is incomplete now (a write failed and its lines are
 * not on disk yet, or a line was lost): the message into buf, and *first
 * true the first time this says so. Any thread. */
bool weft__flow_run_record_error(weft__flow_run_t *r, char *buf, size_t len, bool *first);
/* Whether the run store refused finished attempts (they wait to be
 * committed; the run should stop). */
bool weft__flow_run_store_failed(weft__flow_run_t *r);
/* Stops: nothing new starts, running processes get SIGTERM and, after the
 * grace period (0 = at once), SIGKILL. Not async-signal-safe. */
void weft__flow_run_interrupt(weft__flow_run_t *r, uint64_t grace_ns);
/* Waits for the end, fills the final states, and returns 0 (all done),
 * 1 (some task failed, was skipped or did not run). */
int weft__flow_run_wait(weft__flow_run_t *r);
/* After wait. Tasks are numbered 0 .. weft__flow_ntasks_all() - 1 in file
 * order. The final WEFT_FLOW_* state of task i and its name, or -1 when
 * --only left it out. */
size_t weft__flow_ntasks_all(const weft__flow_t *f);
/* Task i's name (any time). */
const char *weft__flow_task_name(const weft__flow_t *f, size_t i);
int weft__flow_run_task(weft__flow_run_t *r, size_t i, const char **name);
/* Why task i failed or did not run ("" when it did not fail). */
const char *weft__flow_run_reason(weft__flow_run_t *r, size_t i);
/* A failed task's stderr: where it is (its file, or the weft log command
 * that prints it; "" when it wrote none) and its last lines (""). */
void weft__flow_run_stderr(weft__flow_run_t *r, size_t i, const char **where, const char **tail);
/* After wait: what task i's last attempt in this run wrote to stdout (or
 * stderr): a weft__malloc'd copy into *data ("" when it wrote nothing or
 * did not run here). Errors: WEFT_EINVAL, WEFT_ESYS (the log cannot be
 * read), WEFT_ENOMEM. */
int weft__flow_run_output(weft__flow_run_t *r, size_t i, bool err, char **data, size_t *len);
/* Results the tasks reported (kernels, or `key=value` lines a command
 * writes to $WEFT_RESULT), in the order they finished: the k-th one. */
size_t weft__flow_run_nresults(weft__flow_run_t *r);
void weft__flow_run_result(weft__flow_run_t *r, size_t k, size_t *task, const char **params, const char **results);
/* The grace period of the workflow (SIGTERM to SIGKILL). */
uint64_t weft__flow_grace_ns(const weft__flow_t *f);
/* ---- one run over several ranks (cluster.c) ------------------------------------
 *
 * Rank 0 owns the run: the DAG, the admission, the run store, the output
 * log. Every other rank is an agent: it loads the same workflow (the same
 * file and options), says how many cores and GPUs it has, and runs the
 * attempts rank 0 sends it — by task number, built there as rank 0 would —
 * on its own cores, then sends back each attempt's result, output and
 * results. Messages travel on a link the caller gives (the weft command's
 * is MPI: tasks/mpi_link.c): */
typedef weft_flow_link_t weft__link_t; /* (weft/flow.h) */

/* Rank 0, before weft__flow_run_start: listens, waits (up to wait_s) for
 * every agent's hello and checks that each loaded the same workflow. f
 * NULL: the workflow could not be loaded here: the agents are told to go
 * (exit code `code`) and this returns WEFT_ESTATE. Errors: WEFT_EPARSE
 * (an agent could not load it or loaded another one), WEFT_ETIMEDOUT,
 * WEFT_ENOMEM; err names the rank and why. */
int weft__cluster_open(weft__link_t *l, weft__flow_t *f, int code, double wait_s, weft__cluster_t **out, char *err,
                       size_t errlen);
/* Rank 0, after the run: tells the agents it is over (exit code `code`),
 * frees c. The link is the caller's to close. */
void weft__cluster_close(weft__cluster_t *c, int code);
/* Whether a rank was lost during the run (then MPI is not finalized). */
bool weft__cluster_lost(weft__cluster_t *c);
/* After the link is closed (nothing calls back any more). */
void weft__cluster_destroy(weft__cluster_t *c);
/* "  ranks: rank1@a 40 attempts, rank2@b 38 attempts (lost)\n" */
void weft__cluster_write_nodes(weft__cluster_t *c, FILE *out);
/* The nodes (agents) of the run, their cores and GPUs in all. */
int weft__cluster_nodes(weft__cluster_t *c, int *slots, int *gpus);
/* An agent (rank > 0): says hello (or, f NULL, that it could not load the
 * workflow: load_err), then runs what rank 0 sends until it says the run
 * is over, rank 0 is lost, or stop_fd is readable (a signal: everything
 * running is ended, TERM then KILL after grace_ns). Returns the exit code
 * for the process: rank 0's, or 1 (rank 0 lost), 2 (could not start),
 * 143 (stopped by a signal); *finalize false when a rank was lost (MPI
 * cannot be finalized then). */
int weft__cluster_agent(weft__link_t *l, weft__flow_t *f, const char *load_err, int stop_fd, bool *finalize);

/* The runtime the run uses (for the trace exports, after wait). */
weft_runtime_t *weft__flow_run_runtime(weft__flow_run_t *r);
void weft__flow_run_destroy(weft__flow_run_t *r);

#endif
