/* memory/gpu_raw — the GPU runtime calls behind memory/gpu.c (pinned and
 * device memory, copies), as one ops table. The backend is
 * memory/gpu_raw_cuda.c (the CUDA runtime: the only file of the module
 * that includes its header) or, in builds without CUDA,
 * memory/gpu_raw_none.c (no devices: "weft was built without CUDA").
 * Everything else — the block table, statistics, the pinned cache,
 * strided copies — is memory/gpu.c, the same in every build, so that a
 * test can drive it with a simulated device (weft__gpumem_set_raw).
 *
 * Streams are the backend's (cudaStream_t). Calls return 0 or the
 * backend's own error code (> 0, a cudaError_t). */
#ifndef WEFT_MEMORY_GPU_RAW_H
#define WEFT_MEMORY_GPU_RAW_H

#include <stddef.h>
#include <stdint.h>

typedef struct weft__gpuraw {
    const char *name;
    /* Usable devices; 0 with the reason written to why. */
    int (*devices)(char *why, size_t size);
    /* Sets device d up for allocations: *pools is 1 when it has a
     * stream-ordered allocator (its release threshold then raised so that
     * freed memory stays cached), and *stream a stream of weft's own for
     * allocations and frees made outside GPU tasks. */
    int (*prepare)(int d, int *pools, void **stream);
    void (*unprepare)(int d, void *stream);
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
    int (*reserved)(int d, uint64_t *out);
    /* height rows of width bytes, rows dpitch / spitch bytes apart, any
     * memories (unified addressing tells which). Enqueued on s; s NULL:
     * done at return. */
    int (*copy2d)(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height, void *s);
    /* err is "out of memory". */
    int (*oom)(int err);
    /* The error's text; clears it where it is not sticky. */
    const char *(*describe)(int err);
} weft__gpuraw_t;

/* The compiled-in backend. */
extern const weft__gpuraw_t weft__gpuraw_default;

/* Replaces the backend for runtimes created from now on (NULL: the
 * compiled-in one). For tests. */
void weft__gpumem_set_raw(const weft__gpuraw_t *raw);

#endif
