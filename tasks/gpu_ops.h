/* tasks/gpu_ops — what the GPU executor (tasks/gpu.c) needs from a GPU
 * runtime: streams, events and errors, behind one ops table. The backend
 * is tasks/gpu_cuda.c (the CUDA runtime; the only file of the module that
 * includes its header) or, in builds without CUDA, tasks/gpu_none.c (no
 * devices: "weft was built without CUDA"). A test may install another
 * backend with weft__gpu_set_ops before creating a runtime
 * (tests/unit/test_gpuexec.c drives the executor's logic with a simulated
 * device made of host threads).
 *
 * Handles are the backend's (cudaStream_t, cudaEvent_t). Calls return 0
 * or the backend's own error code (> 0, a cudaError_t), which the
 * executor turns into WEFT_EDEVICE with ops->describe's text. */
#ifndef WEFT_TASKS_GPU_OPS_H
#define WEFT_TASKS_GPU_OPS_H

#include <stddef.h>

enum { WEFT__GPU_PENDING = -1 }; /* query: not complete yet */

typedef struct weft__gpu_ops {
    const char *name; /* "cuda", "none", ... */
    /* Usable devices (may be more than the executor uses); 0 with the
     * reason written to why (e.g. "no CUDA device (...)"). Called once per
     * executor, when its first GPU task runs. */
    int (*devices)(char *why, size_t size);
    /* Makes dev current for the calling thread (streams, events and
     * launches it makes next belong to dev). */
    int (*set_device)(int dev);
    int (*stream_create)(int dev, void **out);
    void (*stream_destroy)(int dev, void *s);
    int (*event_create)(int dev, void **out); /* no timing: cheaper */
    /* An event that keeps the time it fired, for elapsed (traces). */
    int (*event_create_timed)(int dev, void **out);
    void (*event_destroy)(int dev, void *e);
    /* e completes when the work enqueued on s so far has. */
    int (*record)(void *e, void *s);
    /* Work enqueued on s from now on waits for e's last record. */
    int (*wait)(void *s, void *e);
    /* Milliseconds from e0's firing to e1's (timed events of one device,
     * both fired); negative when e1 fired first. */
    int (*elapsed)(void *e0, void *e1, float *ms);
    /* 0: complete; WEFT__GPU_PENDING; else the error that ended it. */
    int (*query)(void *e);
    /* The calling thread's last launch error (0: none), cleared. */
    int (*last_error)(void);
    /* 1 when err leaves the device unusable until the process ends (an
     * asynchronous fault: CUDA's "sticky" errors). */
    int (*fatal)(int err);
    /* "CUDA error 700 cudaErrorIllegalAddress: an illegal memory access
     * was encountered" into buf. */
    void (*describe)(int err, char *buf, size_t size);

    /* CUDA graphs (NULL: not supported). Work enqueued on s between
     * capture_begin and capture_end (by the calling thread only) is not
     * run but recorded into a new graph. */
    int (*capture_begin)(void *s);
    int (*capture_end)(void *s, void **graph);
    int (*graph_create)(void **graph);
    /* Adds a copy of child to graph, after the nodes deps[0..ndeps). */
    int (*graph_add_child)(void *graph, void *child, void *const *deps, size_t ndeps, void **node);
    void (*graph_destroy)(void *graph);
    int (*graph_instantiate)(void *graph, void **exec);
    /* Enqueues one run of exec on s. */
    int (*graph_launch)(void *exec, void *s);
    void (*exec_destroy)(void *exec);
} weft__gpu_ops_t;

/* The compiled-in backend (gpu_cuda.c or gpu_none.c). */
extern const weft__gpu_ops_t weft__gpu_default_ops;

/* Replaces the backend used by executors created from now on (NULL: the
 * compiled-in one). For tests. */
void weft__gpu_set_ops(const weft__gpu_ops_t *ops);

#endif
