/* scheduler — the cross-module header: the worker pool that runs graphs.
 * runtime/runtime.c creates one pool per runtime and forwards the public
 * graph-running calls to it. */
#ifndef WEFT_SCHEDULER_H
#define WEFT_SCHEDULER_H

#include "runtime/topology.h"
#include "weft/graph.h"

typedef struct weft_pool weft_pool_t;

typedef struct weft_pool_config {
    int threads;              /* workers to start (>= 1) */
    unsigned flags;           /* WEFT_CONFIG_* */
    int spin_us;              /* idle spin before parking */
    weft_topo_t *topo;        /* borrowed, for binding; may be NULL */
    const weft_cpuset_t *sets;/* threads entries, empty = do not bind */
    void *owner;              /* returned by weft_ctx_runtime() */
} weft_pool_config_t;

/* Starts the workers and binds them. Errors: WEFT_ENOMEM, WEFT_ESYS (a
 * thread could not start, or binding failed). */
int weft__pool_create(const weft_pool_config_t *cfg, weft_pool_t **out);
/* Waits for submitted graphs, stops and joins the workers. */
void weft__pool_destroy(weft_pool_t *p);
/* 1 when the calling thread is one of p's workers, or a caller helping in
 * one of p's slots. */
int weft__pool_is_worker(const weft_pool_t *p);
/* The graph of the task the calling thread is running in p, or NULL. */
weft_graph_t *weft__pool_running_graph(const weft_pool_t *p);

/* The calling thread's slot in p, 0 .. weft__pool_slots(p) - 1 (workers,
 * then callers helping in a run), or -1 when it holds none. A slot is held
 * by one thread at a time, so per-slot data needs no lock. */
int weft__pool_slot(const weft_pool_t *p);
int weft__pool_slots(const weft_pool_t *p);
/* Slots 0 .. weft__pool_workers(p) - 1 belong to the pool's own threads for
 * their whole life; the rest are lent to callers helping in a run. */
int weft__pool_workers(const weft_pool_t *p);
/* The task the calling thread runs in p, or NULL. */
weft_task_t *weft__pool_running_task(const weft_pool_t *p);
/* The task the calling thread runs, in whichever pool (NULL: none). */
weft_task_t *weft__thread_task(void);
/* Where a worker of p keeps the task it runs (NULL between tasks), for
 * the calling thread when it is one of p's own workers (NULL otherwise):
 * valid, for that thread, until p is destroyed. */
weft_task_t *const *weft__pool_running_slot(const weft_pool_t *p);
/* A task's name, or "#<index>" written into buf (size >= 12) for an
 * unnamed one; no printf (the memory tracker calls it per allocation). */
const char *weft__task_label(const weft_task_t *t, char *buf, size_t size);
/* A word of the task's for the memory tracker (memory/track.c) to remember
 * what it made of the task; 0 when the task is added or spawned. Only the
 * thread running the task uses it. */
uint64_t *weft__task_mem_tag(weft_task_t *t);

/* Called on the worker, in its slot, each time a task's function returns
 * (before its dependents can start). */
typedef struct weft__task_hook {
    void (*fn)(void *ud);
    void *ud;
} weft__task_hook_t;
/* Installs h (NULL: none); h must outlive its use: until another call
 * replaces it and the runs going on then end, or the pool is destroyed. */
void weft__pool_on_task_end(weft_pool_t *p, const weft__task_hook_t *h);

int weft__pool_submit(weft_pool_t *p, weft_graph_t *g);
int weft__pool_run(weft_pool_t *p, weft_graph_t *g);

#endif
