/* weft — process tasks: external commands in the same graph as C and GPU
 * tasks, with the cores they need, a timeout and retries, as a workflow
 * file's command tasks have them.
 *
 * A process task asks the runtime for `cpus` cores (one admission queue
 * per runtime, first come first served, shared by every graph it runs),
 * is spawned into its own process group bound to them (unless the runtime
 * was created with WEFT_PIN_NONE), and completes when it exits — no worker
 * waits for it. A timeout sends SIGTERM to the whole group, then SIGKILL
 * after `grace`; a failed or timed-out attempt is run again while retries
 * are left. If weft itself is killed (even with SIGKILL) the groups are
 * ended by a watchdog process. Every attempt is recorded: exit status,
 * signal, wall/user/sys time, maximum RSS, the cpus it had. */
#ifndef WEFT_PROCESS_H
#define WEFT_PROCESS_H

#include <stddef.h>

#include "weft/export.h"
#include "weft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_process_spec {
    /* The program and its arguments, NULL-terminated; argv[0] is looked
     * up in PATH when it has no '/'. Required. */
    const char *const *argv;
    /* "NAME=value" entries added to the inherited environment (replacing
     * variables of the same name), NULL-terminated; NULL = none. The task
     * also gets OMP_NUM_THREADS (its cpus), WEFT_CPUS (their list) and
     * WEFT_ATTEMPT. */
    const char *const *env;
    const char *cwd;         /* NULL: the program's current directory */
    const char *stdout_path; /* created/truncated each attempt; NULL: /dev/null */
    const char *stderr_path; /* NULL: /dev/null */
    double timeout_s;        /* 0: none (the default) */
    double grace_s;          /* SIGTERM -> SIGKILL after a timeout; 0: 2 s */
    int retries;             /* runs after a failed or timed-out one: 0..1000 */
    int cpus;                /* cores it is started on and bound to (default 1) */
    int gpus;                /* GPUs it is given (default 0): started when they are
                                free too; named in CUDA_VISIBLE_DEVICES and WEFT_GPUS
                                (through weft's own CUDA_VISIBLE_DEVICES when set) */
    /* Output kept in memory instead of a file: WEFT_CAPTURE_STDOUT and/or
     * WEFT_CAPTURE_STDERR (the stream's *_path must then be NULL); read
     * with weft_task_process_output after the run. Each attempt starts
     * empty; the last attempt's output is kept, up to capture_max bytes
     * (0: 1 MiB; the rest is dropped and reported as truncated). */
    unsigned capture;
    size_t capture_max;
    /* Retries: only after an attempt that exited with one of these codes
     * (nretry_on of them, copied; 0: after any failure, timeouts and
     * signals too), and retry_delay_s after the failed attempt, times
     * retry_backoff for each further one (0: 1, a constant delay). The
     * task holds no cores while it waits; a cancel ends the wait. */
    const int *retry_on;
    int nretry_on;
    double retry_delay_s;
    double retry_backoff;
} weft_process_spec_t;

enum { WEFT_CAPTURE_STDOUT = 1u << 0, WEFT_CAPTURE_STDERR = 1u << 1 };

/* Fills s with the defaults (no program: set argv). */
WEFT_API void weft_process_spec_init(weft_process_spec_t *s);

/* Adds a process task. Everything spec points to is copied into the
 * graph. The task fails (weft_task_status WEFT_ETASK, WEFT_ETIMEDOUT, or
 * WEFT_ECANCELED when the run was stopped) with the reason in
 * weft_task_error: "exited with status 3", "killed by signal 9
 * (SIGKILL)", "timed out after 2 s", "cannot run 'x': No such file or
 * directory", "needs 8 cores but the runtime has 2", "needs 2 GPUs but
 * the runtime has 1" (the runtime's GPUs: weft_config_t.gpus).
 * Errors: WEFT_EINVAL (g, spec, argv, argv[0] or out NULL or empty,
 * cpus < 1, gpus outside 0..64, a negative or NaN time, retries outside
 * 0..1000, an unknown capture bit, a captured stream with a path too,
 * retry_on codes outside 0..255 or more than 64 of them, a negative delay,
 * a backoff outside 0 or 1..100),
 * WEFT_EBUSY
 * (g is running), WEFT_ENOMEM. */
WEFT_API int weft_graph_add_process(weft_graph_t *g, const char *name, const weft_process_spec_t *spec,
                                    weft_task_t **out);

/* One attempt of a process task. */
typedef struct weft_process_attempt {
    int status;    /* 0: exited 0; WEFT_ETASK: failed; WEFT_ETIMEDOUT; WEFT_ECANCELED: stopped */
    int started;   /* 0: it could not be started (see weft_task_error) */
    int exit_code; /* its exit status; -1 when it did not exit by itself */
    int signal;    /* the signal that ended it, else 0 */
    double wall_s; /* spawn to exit */
    double user_s, sys_s;
    long maxrss_kb;
    char cpus[256]; /* the cpus it was bound to ("2-3"); "" when not bound */
    char gpus[256]; /* the GPUs it was given, as its CUDA_VISIBLE_DEVICES; "" for none */
} weft_process_attempt_t;

/* The attempts of the last run of process task t: *out points at them
 * (owned by the graph, valid until it runs again or is destroyed) and the
 * count is returned (0: it did not run). Errors: WEFT_EINVAL (NULL, not a
 * process task), WEFT_EBUSY (the graph is running). */
WEFT_API int weft_task_process_attempts(const weft_task_t *t, const weft_process_attempt_t **out);

/* What the last attempt of process task t wrote to a captured stream
 * (WEFT_CAPTURE_STDOUT or WEFT_CAPTURE_STDERR): *data (NUL-terminated,
 * owned by the graph, valid until it runs again or is destroyed; "" when
 * nothing was written or the task did not run) and *len. Returns 1 when
 * the output was longer than capture_max and cut, else 0. Errors:
 * WEFT_EINVAL (NULL, not a process task, a stream it does not capture),
 * WEFT_EBUSY (the graph is running), WEFT_ESYS (the output could not be
 * read back; *data says why). */
WEFT_API int weft_task_process_output(const weft_task_t *t, unsigned stream, const char **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
