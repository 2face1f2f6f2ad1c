/* workloads/workflow/store.h — the run store: one SQLite database per
 * workflow directory (.weft/weft.db) that every run writes and every
 * later command reads (resume, results, runs, logs, gc).
 *
 * Runs are rows of `runs`; every attempt of every task is a row of
 * `attempts` (with the task's definition hash and its parts, so that a
 * later run can say what changed). A run's rows are committed in groups
 * (weft__wf_store_commit, at each journal flush): the database is in WAL
 * mode with synchronous=NORMAL, so a crash of weft loses nothing
 * committed, and a crash of the machine at most the last commits. Several
 * weft processes may use one database at once (SQLite's locking; a busy
 * database is waited for). Private to the workflow files. */
#ifndef WEFT_WORKLOADS_WORKFLOW_STORE_H
#define WEFT_WORKLOADS_WORKFLOW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct weft__wf_store weft__wf_store_t;

/* Opens (creating it and .weft/ when missing) DIR/.weft/weft.db; create
 * false: only an existing one (WEFT_ENOENT when there is none). Errors:
 * WEFT_ESYS (err names the file and SQLite's reason), WEFT_ENOMEM. */
int weft__wf_store_open(const char *dir, bool create, weft__wf_store_t **out, char *err, size_t errlen);
void weft__wf_store_close(weft__wf_store_t *s);
const char *weft__wf_store_path(const weft__wf_store_t *s);
/* The last error's text (SQLite's message). */
const char *weft__wf_store_error(const weft__wf_store_t *s);

/* A run's row. */
typedef struct weft__wf_run_row {
    int64_t id;
    const char *flow, *name, *file, *dir;
    int64_t parent;     /* the run it resumed (0: none) */
    double start, end;  /* seconds since the epoch; end 0: did not end (running, or killed) */
    const char *status; /* "running", "done", "failed", "interrupted", "incomplete", "not started" */
    long pid;
    int64_t ntasks, ndone, nfailed, ncached, nrows;
    const char *shard; /* "2/4": the slice of the workflow it ran (NULL: all of it) */
    const char *host;  /* the machine it ran on (gethostname; NULL: not known) */
} weft__wf_run_row_t;

/* Adds this run's row (status "running"): its id into *id. */
int weft__wf_store_run_begin(weft__wf_store_t *s, const weft__wf_run_row_t *row, int64_t *id);
/* The run's end: its status and counts. */
int weft__wf_store_run_end(weft__wf_store_t *s, const weft__wf_run_row_t *row);

/* One attempt's row. Strings may be NULL (stored as NULL). Times in
 * seconds since the epoch. */
typedef struct weft__wf_attempt_row {
    int64_t run;
    const char *task, *params; /* params: "name=value" lines */
    int attempt;               /* 0: the task did not start (skipped, not run) */
    const char *status;        /* ok, failed, timeout, stopped, skipped, not-run */
    int exit_code;             /* -1: none */
    int signal;
    double start, end, wall, user, sys; /* user/sys < 0: not taken */
    long maxrss_kb;                     /* -1: not taken */
    const char *cpus, *gpus, *out, *err, *results, *reason;
    const char *node;                            /* over several ranks: the rank that ran it (NULL: this machine) */
    uint64_t out_off, out_len, err_off, err_len; /* output in the run's output.log (len 0: not there) */
    uint64_t hash;
    const void *parts; /* the definition's parts: 16 bytes each (name hash, value hash) */
    size_t parts_len;
} weft__wf_attempt_row_t;

/* A group of rows: begin, add..., commit (all or none are stored; a
 * failed group is rolled back and can be tried again). 0 or WEFT_ESYS.
 * add takes n rows at once (bound WEFT__STORE_BATCH to a statement). */
#define WEFT__STORE_BATCH 32
int weft__wf_store_begin(weft__wf_store_t *s);
int weft__wf_store_add(weft__wf_store_t *s, const weft__wf_attempt_row_t *rows, size_t n);
int weft__wf_store_commit(weft__wf_store_t *s);
void weft__wf_store_rollback(weft__wf_store_t *s);

/* The run RUN names (its id as a number, its name "flow-YYYYmmdd-HHMMSS",
 * or NULL/"latest": the newest run that started, of `flow` when flow is
 * not NULL and of shard `shard` when it is not NULL — "" for a run of the
 * whole workflow) into
 * *row (strings valid until the next call on s). WEFT_ENOENT: none. */
int weft__wf_store_find_run(weft__wf_store_t *s, const char *run, const char *flow, const char *shard,
                            weft__wf_run_row_t *row);

/* The latest run that started of each slice of workflow `flow` (and of
 * the whole of it), newest first, into *ids (freed by the caller). */
int weft__wf_store_latest_runs(weft__wf_store_t *s, const char *flow, int64_t **ids, size_t *n);

/* Each run, oldest first. fn returns nonzero to stop. */
int weft__wf_store_runs(weft__wf_store_t *s, int (*fn)(void *ud, const weft__wf_run_row_t *row), void *ud);

/* The rows a run sees: its own, then those of the run it resumed, and so
 * on up the chain; each run's newest first (the caller keeps the first
 * row it sees of a task: its last attempt). fn gets each row; with
 * parts: only its run, task, status, end, hash and parts (what a plan
 * needs; the rest is left unread). fn returns nonzero to stop. */
int weft__wf_store_view(weft__wf_store_t *s, int64_t run, bool with_parts,
                        int (*fn)(void *ud, const weft__wf_attempt_row_t *row), void *ud);

/* Every attempt row of task `task` in the run's view (all attempts of the
 * run that last ran it), oldest first. */
int weft__wf_store_task_attempts(weft__wf_store_t *s, int64_t run, const char *task,
                                 int (*fn)(void *ud, const weft__wf_attempt_row_t *row), void *ud);

/* Drops all but the newest `keep` runs of each workflow that no kept run
 * resumed from (their rows; the caller removes their directories, which
 * dirs gets: fn per dropped run). Then the database is vacuumed. */
int weft__wf_store_gc(weft__wf_store_t *s, int keep, int (*fn)(void *ud, const weft__wf_run_row_t *row), void *ud,
                      int64_t *ndropped);

/* The database's integrity ("ok" or SQLite's findings) into buf. */
int weft__wf_store_check(weft__wf_store_t *s, char *buf, size_t len);

/* 64-bit hashing for definition hashes (FNV-1a, then a finalizer). */
#define WEFT__HASH_INIT 0xcbf29ce484222325ull
static inline uint64_t weft__hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
static inline uint64_t weft__hash_str(uint64_t h, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    h = weft__hash_bytes(h, &n, sizeof n); /* length first: "ab","c" is not "a","bc" */
    return weft__hash_bytes(h, s, n);
}
static inline uint64_t weft__hash_u64(uint64_t h, uint64_t v)
{
    return weft__hash_bytes(h, &v, sizeof v);
}
static inline uint64_t weft__hash_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

#endif
