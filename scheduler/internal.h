/* scheduler — private structures shared by the scheduler's own files. */
#ifndef WEFT_SCHEDULER_INTERNAL_H
#define WEFT_SCHEDULER_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "scheduler/ecount.h"
#include "scheduler/scheduler.h"
#include "scheduler/wsq.h"

/* ---- tasks ---------------------------------------------------------------
 * Task nodes live in slabs owned by their graph (spawned children are
 * allocated one by one). The first cache line holds what the hot path
 * touches: the join counter, the body, and the successor list. */

enum {
    TASK_F_RESULT = 1u << 0,   /* result/dtor hold something to release */
    TASK_F_CHILD = 1u << 1,    /* a spawned child (struct weft_child) */
    TASK_F_SPAWNED = 1u << 2,  /* spawned children during this run */
    TASK_F_RC = 1u << 3,       /* rc holds a failure code to clear */
    TASK_F_DEFERRED = 1u << 4, /* a deferred completion: runs even when stopping */
    TASK_F_SHARED = 1u << 5,   /* the result goes when `consumers` reaches 0 */
    TASK_F_EARLY = 1u << 6,    /* this run: released its early successors itself */
    TASK_F_LIMITS = 1u << 7,   /* has limits: a record in graph->limits, or its kind's (ops->limits) */
    TASK_F_ALWAYS = 1u << 8,   /* runs whatever its dependencies' outcome (weft_task_set_always) */
};

/* A task's timeout and retries (weft_task_set_timeout/_retries), kept out
 * of the task node (few tasks have them): the graph's array, sorted by
 * task index. attempts: how many the last run made. */
typedef struct weft__limits {
    uint32_t index;
    int32_t retries;
    int32_t cpus;        /* cores to be admitted to and bound to (0: none) */
    int32_t gpus;        /* GPUs to be admitted to (0: none) */
    uint64_t timeout_ns; /* 0: none */
    uint64_t retry_delay_ns;
    double retry_backoff;
    _Atomic int32_t attempts;
} weft__limits_t;

enum { POISON_CANCEL = 1, POISON_STOP = 2 };

#define TASK_SUCC_INLINE 2
#define TASK_PRED_INLINE 1

struct weft_task {
    /* --- hot: first cache line --- */
    _Atomic int32_t join; /* dependencies left in this run */
    int32_t ndeps;        /* in-degree; join is reset to it */
    uint32_t nsucc;
    uint8_t state;          /* WEFT_TASK_* of the last run */
    _Atomic uint8_t poison; /* POISON_* left by finished dependencies */
    uint16_t flags;         /* TASK_F_* (owner thread only) */
    weft_fn fn;
    void *arg;
    weft_graph_t *graph;
    weft_task_t **succ; /* succ_inline or an arena block */
    weft_task_t *succ_inline[TASK_SUCC_INLINE];
    /* --- cold --- */
    weft_task_t **pred;
    weft_task_t *pred_inline[TASK_PRED_INLINE];
    const char *name; /* NULL = unnamed */
    /* the result: taken with an atomic exchange by whoever releases it (a
     * shared result's last consumer may run on another thread than the
     * producer's, which may still be finishing: see weft__graph_drop_result) */
    void *_Atomic result;
    void (*dtor)(void *); /* read and cleared by the result's taker only */
    _Atomic int32_t rc;   /* failure code (own, or a child's) */
    uint32_t index;
    weft_task_t *next;         /* intrusive lists (validation, overflow) */
    _Atomic int32_t pending;   /* 1 + live children while spawning */
    _Atomic int32_t consumers; /* a shared result: successors yet to finish (0: none shared) */
    uint64_t mem_tag;          /* the memory tracker's word (weft__task_mem_tag) */
};

_Static_assert(offsetof(struct weft_task, pred) == 64, "hot fields fill the first cache line");

struct weft_child {
    struct weft_task t;
    weft_task_t *parent;
    weft__pool_t *pool; /* deferred completions: where to hand the child */
    /* A deferred completion's handle: 1 once weft_defer_complete took it.
     * The child is kept (on its graph's `retired` list) until the graph
     * runs again or is destroyed, so that a second call finds the word
     * and is refused instead of freeing the child twice. */
    _Atomic int completed;
    int own_code; /* the completion's code is weft's own (weft__defer_complete_own) */
    struct weft_child *retired_next;
    char name[];
};

/* ---- graphs -------------------------------------------------------------- */

enum { PHASE_IDLE = 0, PHASE_RUNNING = 1, PHASE_DONE = 2 };
enum { STOP_NONE = 0, STOP_FAIL = 1, STOP_CANCEL = 2 };

/* Chunk k holds GRAPH_CHUNK0 << k tasks up to k = GRAPH_CHUNK_LOG; all
 * later chunks hold GRAPH_CHUNK0 << GRAPH_CHUNK_LOG (4 MiB): small enough
 * for the allocator to keep and reuse them for the next graph. */
#define GRAPH_CHUNK0 64
#define GRAPH_CHUNK_LOG 9

typedef struct weft__src_range {
    size_t lo, hi; /* task indices [lo, hi) */
} weft__src_range_t;

struct weft_graph {
    /* building */
    weft_task_t **chunk;
    size_t nchunks, cap_chunks;
    size_t ntasks;
    weft__arena_t arena;
    int dirty;              /* changed since the last validation */
    int maybe_cyclic;       /* an edge points from a later task to an earlier one */
    _Atomic int has_dtor;   /* some task may hold a result (set by tasks) */
    _Atomic int has_shared; /* some task shared its result (finish checks preds) */
    /* Sources (tasks without dependencies) are tracked while building, as
     * ranges of task indices: a new task extends the last range; a task
     * that gains its first dependency is cut from the end of the last
     * range (the usual add-then-after pattern) or else left stale and
     * split out by the next validation. 1M independent tasks are one
     * range; a chain is one range of one task. */
    weft__src_range_t *src;
    size_t nsrc, cap_src;
    size_t stale_sources;
    size_t nsources; /* tasks in the ranges, counted at validation */

    /* running */
    _Atomic int phase;
    struct weft_child *_Atomic retired;  /* finished deferred completions (see weft_child) */
    struct weft__fail_msg *_Atomic msgs; /* weft_ctx_fail texts of this run (ctx.c) */
    weft__limits_t *limits;              /* tasks with a timeout or retries, by index */
    size_t nlimits, cap_limits;
    int failfast;
    int result;
    size_t src_ri, src_pos, src_chunk; /* claimed under the inject lock */
    weft_graph_t *inject_next;
    weft__pool_t *pool;
    alignas(WEFT_CACHE_LINE) _Atomic size_t remaining;
    alignas(WEFT_CACHE_LINE) _Atomic int stop;
    _Atomic int done;
    _Atomic int has_failure;
    _Atomic size_t nfailed, ncancelled, nnotrun;
    int fail_rc;
    int fail_own; /* fail_rc is one of weft's codes (a timeout, an executor's), not the task's */
    char fail_name[128];
    char errbuf[512];
    /* notes for traces (weft_task_annotate), by task index; NULL = none */
    const char **notes;
    size_t cap_notes;
    /* tracing: a snapshot of this graph as of `version` in trace trace_uid */
    uint32_t version; /* bumped by every change */
    uint32_t trace_ver;
    uint64_t trace_uid;
    const weft__tgraph_t *trace_snap;
    /* the trace holding a run of this version with no copy of its shape
     * yet (made when the trace is read, or before g changes or goes) */
    _Atomic(weft__trace_t *) trace_lazy;
    uint32_t trace_run; /* 1 + the run's id in the pool's trace; 0 = none */
    /* the task kinds it holds besides C functions, with their state */
    struct {
        const weft__task_ops_t *ops;
        void *state;
    } kinds[WEFT__GRAPH_KINDS];
    int nkinds;
    uint32_t runs;                /* runs submitted so far */
    const weft_task_t *fail_task; /* the first failure's task (not a child) */
};

/* ---- workers ------------------------------------------------------------- */

struct weft_ctx {
    struct weft__worker *w;
    weft_task_t *task;
    /* the running attempt of a task with limits: its deadline (0: none)
     * and number (1-based); 0 and 1 otherwise */
    uint64_t deadline_ns;
    int attempt;
    int own; /* the running function's failure code is one of weft's (weft__ctx_own_code) */
    /* what the running attempt was granted (weft_task_set_cpus/_gpus) */
    int ngpus;
    const weft__grant_t *grant;
};

typedef struct weft__worker {
    weft__wsq_t q;
    /* Tasks handed to this worker in one go by a wide fan-out: a Treiber
     * stack linked through task->next. Anyone may take the whole list. */
    alignas(WEFT_CACHE_LINE) _Atomic(weft_task_t *) inbox;
    alignas(WEFT_CACHE_LINE) weft__pool_t *pool;
    int index;
    int helper; /* a caller's slot rather than a pool thread */
    uint64_t rng;
    weft_graph_t *cnt_graph; /* finished tasks not yet subtracted ... */
    size_t cnt;              /* ... from cnt_graph->remaining */
    weft_task_t *overflow;   /* private stack when the deque cannot grow */
    weft_task_t *join_task;  /* decrements owed to a wide join ... */
    int32_t join_owed;       /* ... combined into one atomic (worker.c) */
    struct weft_ctx ctx;
    pthread_t thread;
    _Atomic int in_use;        /* helper slots: taken by a caller */
    const weft__cpuset_t *set; /* where to bind; NULL = unbound */
    int bind_rc;
    /* Admission (call_limited): what the worker was granted last (its
     * slots are asked for again) and whether it still sits on those cpus
     * (moved: after a task of a stay_bound kind). */
    weft__grant_t grant;
    int moved;
    weft__cpuset_t bound; /* where it sits while moved */
    weft__trace_t *trace; /* recording into; NULL = off */
    weft__exec_t exec;    /* this slot as the layers below see it (base.h) */
} weft__worker_t;

#define POOL_HELPERS 8

struct weft__pool {
    weft__ecount_t ec;      /* idle workers and helping callers park here */
    weft__ecount_t done_ec; /* callers that only wait for a run park here */
    alignas(WEFT_CACHE_LINE) _Atomic(weft_graph_t *) inject_head;
    weft_graph_t *inject_tail;
    pthread_mutex_t inject_lock;
    _Atomic int shutdown;
    _Atomic size_t active_runs;
    _Atomic int cond_waiters; /* slots parked on ec waiting for a run */
    _Atomic int givers;       /* threads inside weft__pool_give (destroy waits for them) */
    int nworkers, nslots;
    weft__worker_t *slots; /* nworkers pool threads, then POOL_HELPERS */
    unsigned flags;
    int spin_us;
    void *owner;
    weft__topo_t *topo;
    pthread_mutex_t start_lock;
    pthread_cond_t start_cond;
    int started;
    weft__exec_owner_t exec;          /* what the layers below see of it: slots, task-end hook */
    weft__trace_t *trace;             /* weft__pool_set_trace */
    void *executor[WEFT__EXEC_KINDS]; /* weft__pool_set_executor */
    const weft__admit_ops_t *admit;   /* weft__pool_set_admission (NULL: none) */
    weft__cpuset_t all_cpus;          /* every PU of topo: where an unbound worker returns */
    void *admit_ud;
};

/* ---- task slabs ---------------------------------------------------------- */

#define CHUNK_FIXED_BASE ((size_t)GRAPH_CHUNK0 * (((size_t)1 << GRAPH_CHUNK_LOG) - 1))
#define CHUNK_FIXED_SIZE ((size_t)GRAPH_CHUNK0 << GRAPH_CHUNK_LOG)

static inline size_t weft__chunk_size(size_t k)
{
    return k < GRAPH_CHUNK_LOG ? (size_t)GRAPH_CHUNK0 << k : CHUNK_FIXED_SIZE;
}

/* Chunk number and offset of task i. */
static inline size_t weft__chunk_of(size_t i, size_t *off)
{
    if (i >= CHUNK_FIXED_BASE) {
        size_t r = i - CHUNK_FIXED_BASE;
        *off = r % CHUNK_FIXED_SIZE;
        return GRAPH_CHUNK_LOG + r / CHUNK_FIXED_SIZE;
    }
    size_t q = i / GRAPH_CHUNK0 + 1;
    size_t k = (size_t)(63 - __builtin_clzll((unsigned long long)q));
    *off = i - (size_t)GRAPH_CHUNK0 * (((size_t)1 << k) - 1);
    return k;
}

static inline weft_task_t *weft__task_at(const weft_graph_t *g, size_t i)
{
    size_t off, k = weft__chunk_of(i, &off);
    return &g->chunk[k][off];
}

/* Appends t to the intrusive queue head..tail linked through next (head
 * NULL = empty; the consumer pops from head). */
static inline void weft__queue_append(weft_task_t **head, weft_task_t **tail, weft_task_t *t)
{
    t->next = NULL;
    if (*head)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

/* t's kind (weft__task_ops_t), told by its function, which never changes
 * (so any thread may ask, while the task runs too: its flags may not be
 * read then): the graph's few kinds are looked through. NULL: a C
 * function, or a spawned child (whose function, the user's or the
 * deferred completion's, is never a kind's start). Never on a plain
 * task's hot path. */
static inline const weft__task_ops_t *weft__kind_of(const weft_task_t *t)
{
    const weft_graph_t *g = t->graph;
    for (int k = 0; k < g->nkinds; k++)
        if (g->kinds[k].ops->start == t->fn)
            return g->kinds[k].ops;
    return NULL;
}

/* ---- cross-file internals ------------------------------------------------ */

/* graph.c */
int weft__graph_prepare(weft_graph_t *g); /* validate + collect sources */
extern const weft__exec_task_ops_t weft__task_exec_ops;
void weft__graph_release_result(weft_task_t *t);
/* weft_ctx_fail's texts: one per failing task, pushed by any worker during
 * a run, read after it, freed when the graph runs again or goes (ctx.c). */
typedef struct weft__fail_msg {
    struct weft__fail_msg *next;
    const weft_task_t *task; /* the graph's task (a child's text goes to its root) */
    int attempt;             /* the last attempt's first text is the one shown */
    char text[];
} weft__fail_msg_t;
/* Records a failure text for t's attempt (the first of an attempt stays). */
void weft__graph_fail_note(weft_graph_t *g, const weft_task_t *t, int attempt, const char *text);
/* t's limits (TASK_F_LIMITS set), or NULL. */
weft__limits_t *weft__graph_limits(const weft_graph_t *g, const weft_task_t *t);
const char *weft__graph_fail_text(const weft_graph_t *g, const weft_task_t *t);
/* What is known of why t failed: its weft_ctx_fail text, else its
 * executor's message, else "". */
const char *weft__task_fail_text(const weft_task_t *t);
void weft__graph_free_msgs(weft_graph_t *g);
/* Deferred completions' children: kept after they finish (weft_child), freed
 * when the graph is idle again (next submit, destroy). */
void weft__graph_retire(weft_graph_t *g, struct weft_child *c);
void weft__graph_free_retired(weft_graph_t *g);
/* The same from any thread, without touching t's flags (the owner's). */
void weft__graph_drop_result(weft_task_t *t);

/* worker.c */
weft__worker_t *weft__worker_current(const weft__pool_t *p);
/* Makes w the calling thread's slot; returns the previous one. */
weft__worker_t *weft__worker_enter(weft__worker_t *w);
void weft__worker_execute(weft__worker_t *w, weft_task_t *t);
weft_task_t *weft__worker_find(weft__worker_t *w);
int weft__worker_spin(weft__worker_t *w, weft_task_t **out);
void weft__worker_flush(weft__worker_t *w);
/* Pays decrements owed to a join, running it if that made it ready. */
void weft__worker_settle(weft__worker_t *w);
void weft__worker_push(weft__worker_t *w, weft_task_t *t);
int weft__pool_has_work(weft__pool_t *p);
void weft__pool_give(weft__pool_t *p, weft_task_t *t);
void *weft__worker_main(void *arg);

/* trace.c */
/* Registers a run of g (snapshotting it when changed); sets g->trace_run. */
void weft__trace_run_begin(weft__trace_t *tr, weft_graph_t *g);
void weft__trace_run_end(weft__trace_t *tr, weft_graph_t *g);
/* g is about to change or go: the trace that recorded it copies it now. */
void weft__trace_graph_detach(weft_graph_t *g);
/* Records a task event on slot `slot` (the hot path: no lock). */
void weft__trace_task(weft__trace_t *tr, int slot, const weft_task_t *t, int kind, int state, uint64_t t0, uint64_t t1,
                      int aux);

/* run.c */
void weft__graph_complete(weft_graph_t *g);
void weft__graph_record_failure(weft_graph_t *g, const weft_task_t *t, int rc, int own);
/* Stops the run of g with `why` (STOP_FAIL: start nothing new;
 * STOP_CANCEL: that, and every kind's ops->cancel ends its in-flight work,
 * once per run, also after a STOP_FAIL). */
void weft__graph_stop(weft_graph_t *g, int why);

#endif
