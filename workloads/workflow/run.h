/* workloads/workflow/run.h — what the files running a workflow share
 * (exec.c: the run's life and its graph; record.c: the journal, notes
 * and events; command.c: command tasks as process tasks; kernel.c: kernel
 * tasks as a task kind). Private to them. */
#ifndef WEFT_WORKLOADS_WORKFLOW_RUN_H
#define WEFT_WORKLOADS_WORKFLOW_RUN_H

#include "workloads/workflow/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "runtime/runtime.h"
#include "tasks/tasks.h"
#include "weft/graph.h"
#include "weft/runtime.h"

typedef struct note {
    struct note *next;
    uint32_t task;
    char *params, *text; /* results: params and "k=v" lines; failures: text = reason */
    char *tail;          /* failures: the last lines of its stderr (NULL: none) */
    char *where;         /* failures: where its stderr is (a file, or "weft log ...") */
} note_t;

struct weft__flow_run {
    weft__flow_t *f;
    weft__flow_run_opts_t o;
    char dir[PATH_MAX]; /* absolute run directory */
    weft__topo_t *topo;
    weft__cores_t *cores;  /* the runtime's budget (validation: one of its own) */
    bool own_cores;        /* cores is this run's to destroy */
    weft__proc_svc_t *svc; /* the runtime's task service */
    weft_runtime_t *rt;
    weft_graph_t *g;
    uint32_t *gidx;    /* per task of the flow, its graph task's number (UINT32_MAX: not in the
                       graph); NULL: task i is graph task i (weft__wf_gtask) */
    weft__trace_t *tr; /* NULL: not tracing */
    pthread_t waiter;
    bool waiter_started;
    uint8_t *state; /* per task, WEFT_FLOW_* */
    atomic_size_t nrunning, ndone, nfailed;
    atomic_int stopping;
    atomic_int interrupted; /* weft__flow_run_interrupt came */
    pthread_mutex_t lock;   /* notes */
    /* The journal: each finished attempt is a record appended to `jbuf`
     * under `jlock` (a memcpy); a flush swaps in the empty spare and
     * commits the full one to the run store as one group, then writes its
     * tasks.tsv lines, under `flush_lock` only, so no worker waits on the
     * database. What the store refused (a full disk) waits in `jpend` and
     * is committed first at the next flush; nothing is claimed stored that
     * is not. */
    struct weft__wf_store *store; /* the flow's (NULL: not recording) */
    int64_t run_id;               /* this run's row */
    int tsv;                      /* -1: none */
    char tsv_path[PATH_MAX + 16];
    pthread_mutex_t jlock, flush_lock;
    char *jbuf, *jspare, *jpend;
    size_t jlen, jcap, jspare_cap, jpend_len, jpend_cap;
    bool jwoken; /* the flusher was woken for this buffer (under jlock; apart from
                    the flags the flusher reads under flush_lock) */
    char *cbuf;  /* a commit's rows' params and parts (under flush_lock) */
    size_t clen, ccap;
    char *tbuf; /* a commit's tasks.tsv lines (under flush_lock) */
    size_t tcap;
    int tsv_err;       /* the errno of the last failed tasks.tsv write (0: none); under flush_lock */
    bool tsv_lost;     /* a tasks.tsv line could not be written */
    bool jerr_told;    /* the CLI was told about it (weft__flow_run_record_error) */
    atomic_bool jlost; /* a record could not be kept (out of memory; any thread) */
    int flush_fd;      /* eventfd the workers wake the flusher with (-1: none) */
    note_t *fails, *results, **results_tail;
    size_t nresults;
    note_t **result_index;
    uint64_t t0_ns;
    uint64_t t0_epoch_ns; /* the wall clock at t0_ns */
    size_t nenviron;      /* entries of the inherited environment, counted once */
    uint64_t id;          /* unique in the process, for the workers' memory of it */
    /* The run's GPUs: the task service's (GPU i is CUDA device
     * weft__proc_svc_gpu_dev(i) here, named as weft__proc_svc_gpu_list
     * says in a child's CUDA_VISIBLE_DEVICES). */
    int ngpus;
    int seen_gpus;           /* CUDA devices weft sees (asked only when a task may use one) */
    atomic_uchar *cpu_short; /* per [[task]]: its last kernel run was short */
    /* per [[task]]: its attempts' time and count, summed by whoever
     * commits the journal (under flush_lock) — for the too-small advice */
    uint64_t *fam_ns, *fam_n;
    weft__outlog_t *outlog;       /* the commands' captured output: <dir>/output.log */
    weft__kind_limits_t *klimits; /* per [[task]]: its kernel tasks' cpus, GPU, timeout, retries */
    bool agent;                   /* an agent's (cluster.c): it runs what rank 0 sends */
};

/* Task i's graph task (NULL: left out by --only, or cached). */
static inline weft_task_t *weft__wf_gtask(const weft__flow_run_t *r, uint32_t i)
{
    uint32_t k = r->gidx ? r->gidx[i] : i;
    return k == UINT32_MAX ? NULL : weft_graph_task(r->g, k);
}

/* An agent's kernel attempt (cluster.c): task t's kernel on this thread
 * (bound already), on CUDA device gpu_dev (-1: none); stop(stop_ud) is
 * what the kernel asks between its sweeps. Returns 0 or the kernel's
 * error (res->reason says it); res->results: its key=value lines (heap,
 * NULL for none), res->out_spilled: it printed to its stdout file. */
int weft__wf_kernel_here(weft__flow_run_t *r, const wf_task_t *t, int gpu_dev, int (*stop)(void *), void *stop_ud,
                         weft__proc_result_t *res);

/* Over several ranks (cluster.c): rank 0's placement of attempts on the
 * other ranks. */
weft__remote_t *weft__wf_cluster_remote(weft__cluster_t *c);
/* Tells the agents the run directory (before the first attempt). */
int weft__wf_cluster_begin(weft__cluster_t *c, const char *dir);
/* An agent's run object (r->agent): its cores and GPUs (the task service
 * r->svc, its own), the tasks' states; the run directory is rank 0's, set
 * later. 0, or an error (err says it). */
int weft__wf_agent_setup(weft__flow_t *f, weft__flow_run_t **out, char *err, size_t errlen);
void weft__wf_agent_teardown(weft__flow_run_t *r);

static inline weft__flow_run_t *weft__wf_run_of(const wf_task_t *t)
{
    return t->tmpl->flow->run;
}

/* One journal line (or any text of unknown length) is built in a local
 * buffer that moves to the heap when it outgrows it, so nothing is cut;
 * a journal line is then written under the lock in one call, so that
 * workers finishing together wait on each other only for the copy. */
typedef struct line {
    char *buf; /* small, or the heap */
    size_t len, cap;
    bool oom; /* the heap said no: the text is cut (and said to be) */
    char small[4096];
} line_t;

static inline void line_init(line_t *l)
{
    l->buf = l->small;
    l->len = 0;
    l->cap = sizeof l->small;
    l->oom = false;
}

static inline void line_fini(line_t *l)
{
    if (l->buf != l->small)
        weft__free(l->buf);
}

bool weft__wf_line_grow(line_t *l);

static inline void put_char(line_t *l, char c)
{
    if (l->len + 1 < l->cap || weft__wf_line_grow(l)) /* the last byte is kept for the newline / NUL */
        l->buf[l->len++] = c;
}

/* n bytes at once (what does not fit when memory runs out is cut). */
static inline void put_mem(line_t *l, const char *s, size_t n)
{
    while (l->len + n + 1 > l->cap && weft__wf_line_grow(l))
        ;
    if (l->len + n + 1 > l->cap)
        n = l->cap > l->len + 1 ? l->cap - l->len - 1 : 0;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static inline void put_text(line_t *l, const char *s)
{
    put_mem(l, s, strlen(s));
}

typedef struct attempt {
    int attempt;
    uint64_t start_ns, end_ns, user_ns, sys_ns;
    uint64_t out_off, out_len, err_off, err_len; /* output in the run's log (len 0: none there) */
    bool no_cpu;                                 /* user/sys not taken */
    long maxrss_kb;
    int exit_code, signal;
    const char *status, *cpus, *gpus, *out, *err, *results, *reason;
    const char *node; /* over several ranks: the rank that ran it ("rank2@host") */
} attempt_t;

/* ---- record.c ---- */
/* "n=10 tol=1e-6": the sweep values task t uses, separated by sep,
 * NUL-terminated in l. */
void weft__wf_params_text(const weft__flow_t *f, const wf_task_t *t, line_t *l, char sep);
/* Appends an attempt's record to the journal (committed to the store and
 * written to tasks.tsv at the next flush). attempt 0: a task that did
 * not start. */
void weft__wf_journal(weft__flow_run_t *r, uint32_t ti, const attempt_t *a);
/* Writes b to tasks.tsv; returns what was written. */
size_t weft__wf_record_write(weft__flow_run_t *r, const char *b, size_t len);
/* Flushes and fsyncs tasks.tsv: 0, or the errno of what kept the record
 * from being whole. */
int weft__wf_record_sync(weft__flow_run_t *r);
/* A result ("k=v k=v") or a failure's reason of task ti. */
void weft__wf_add_note(weft__flow_run_t *r, bool result, uint32_t ti, const char *text);
void weft__wf_free_notes(note_t *n);
/* Task ti's failure note gets where its stderr is and its last lines. */
void weft__wf_note_stderr(weft__flow_run_t *r, uint32_t ti, const char *where, const char *tail);
/* The run's event callback (weft__flow_run_opts_t.on_event). */
void weft__wf_event(weft__flow_run_t *r, uint32_t ti, int attempt, int state, double wall, const char *reason);
/* After a task's last failed attempt, without keep_going: nothing new
 * starts. Called before the failed task's cores go back. */
void weft__wf_fail_fast(weft__flow_run_t *r);
/* The final word on task ti (any thread). */
void weft__wf_settle(weft__flow_run_t *r, uint32_t ti, int attempt, int state, double wall, const char *reason);
/* An attempt on the run's trace: a process on the lowest free process
 * slot track, a kernel on its worker's track. */
void weft__wf_trace_attempt(weft__flow_run_t *r, const weft_task_t *gt, const attempt_t *a, int ok, bool proc);

/* ---- command.c ---- */
/* A task's file: v expanded, or <run dir>/<task>.<ext> without v. */
void weft__wf_task_path(weft__flow_run_t *r, const wf_task_t *t, const weft_toml_value_t *v, const char *ext, char *buf,
                        size_t cap);
/* mkdir -p of the folder holding path: 0, or the errno of the folder that
 * could not be made (named in dir). */
int weft__wf_make_parent(const char *path, char *dir, size_t dirlen);
/* Declared outputs: removed before an attempt; what a failed or stopped
 * attempt left moved to <run dir>/<task>.failed-<attempt>/. */
void weft__wf_outputs_clear(weft__flow_run_t *r, const wf_task_t *t);
void weft__wf_outputs_aside(weft__flow_run_t *r, const wf_task_t *t, int attempt);
/* Command tasks: the source of their process tasks. */
extern const weft__proc_source_t weft__wf_cmd_source;

/* ---- points.c ---- */
/* Before a `when = "always"` command task starts: the tasks it runs after
 * (params, status, results) as JSON in <run dir>/<task>.points.json (its
 * path into path) and <run dir>/points.json. 0, WEFT_ETASK or
 * WEFT_ENOMEM (why says). */
int weft__wf_points_write(weft__flow_run_t *r, const wf_task_t *t, char *path, size_t cap, char *why, size_t whylen);

/* ---- kernel.c ---- */
/* Adds kernel task t to r's graph (the scheduler applies its cpus, GPU,
 * timeout and retries). */
int weft__wf_add_kernel(weft__flow_run_t *r, wf_task_t *t, weft_task_t **out);

#endif
