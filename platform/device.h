/* platform/device — the GPU backend: discovery and every GPU runtime call
 * weft makes, as one ops table shared by the GPU executor (tasks/gpu.c:
 * streams, events, graphs) and the memory module (memory/gpu.c: pinned
 * and device memory, copies). One backend file, platform/device_cuda.c
 * (the CUDA runtime: the only file of weft's C code that includes its
 * header), plus a fallback, platform/device_none.c (no devices: "weft was
 * built without CUDA"). A test installs one simulated device for both
 * users with weft__gpu_set_ops (tests/lib/simgpu.h) before it creates a
 * runtime.
 *
 * Handles are the backend's (cudaStream_t, cudaEvent_t). Calls return 0
 * or the backend's own error code (> 0, a cudaError_t), which the users
 * turn into WEFT_EDEVICE (or WEFT_ENOMEM when oom() says so) with
 * describe()'s text. */
#ifndef WEFT_PLATFORM_DEVICE_H
#define WEFT_PLATFORM_DEVICE_H

#include <stddef.h>
#include <stdint.h>

/* Number of usable CUDA devices (0 without CUDA, a driver, or a GPU). */
int weft__device_count(void);
/* The same, and when there are none the reason into why ("no CUDA device
 * (...)", "weft was built without CUDA (...)"). */
int weft__device_probe(char *why, size_t size);
/* Makes CUDA device dev the calling thread's current one (cudaSetDevice):
 * 0, or WEFT_EDEVICE / WEFT_ENOTSUP (built without CUDA). */
int weft__device_select(int dev);
/* "cuda" or "none". */
const char *weft__device_backend(void);

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

    /* ---- memory (memory/gpu.c) ----
     * Sets device d up for allocations: *pools is 1 when it has a
     * stream-ordered allocator (its release threshold then raised so that
     * freed memory stays cached), and *stream a stream of weft's own for
     * allocations and frees made outside GPU tasks. */
    int (*mem_prepare)(int d, int *pools, void **stream);
    void (*mem_unprepare)(int d, void *stream);
    /* Device memory on d, in stream s's order (cudaMallocAsync; s NULL or
     * no pools: cudaMalloc), then, with sync, s synchronised so that any
     * stream may use it. */
    int (*dev_alloc)(int d, int pools, size_t bytes, void *s, int sync, void **out);
    /* Frees device memory of d in s's order (cudaFreeAsync; no pools:
     * cudaFree). With sync: after the work queued on the device so far
     * (cudaDeviceSynchronize), and s synchronised after. */
    int (*dev_free)(int d, int pools, void *p, void *s, int sync);
    int (*host_alloc)(size_t bytes, void **out); /* pinned, portable */
    int (*host_free)(void *p);
    /* What d's stream-ordered pool holds. */
    int (*pool_reserved)(int d, uint64_t *out);
    /* height rows of width bytes, rows dpitch / spitch bytes apart, any
     * memories (unified addressing tells which). Enqueued on s; s NULL:
     * done at return. */
    int (*copy2d)(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height, void *s);
    /* err is "out of memory". */
    int (*oom)(int err);
} weft__gpu_ops_t;

/* The compiled-in backend (device_cuda.c or device_none.c). */
extern const weft__gpu_ops_t weft__gpu_default_ops;

/* Replaces the backend for the runtimes created from now on (NULL: the
 * compiled-in one), for the executor and the memory module alike. For
 * tests. */
void weft__gpu_set_ops(const weft__gpu_ops_t *ops);
/* The backend a runtime created now uses. */
const weft__gpu_ops_t *weft__gpu_current_ops(void);

#endif
