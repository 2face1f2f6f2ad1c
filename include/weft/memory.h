/* weft/memory.h — the runtime's memory pool.
 *
 * Numerical tasks allocate and free the same sizes over and over; the pool
 * keeps freed blocks in size classes, in a cache per worker (no lock when
 * a task allocates and frees on its worker) and a depot shared between
 * workers, so that page faults and allocator locks stay out of the loop.
 * Blocks are 64-byte aligned. Any thread may call these, inside a task or
 * not; threads that are not the runtime's workers go to the depot. */
#ifndef WEFT_MEMORY_H
#define WEFT_MEMORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/export.h"
#include "weft/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fixed: programs outside weft use these ---------------------------- */

/* Host memory, 64-byte aligned, at least `bytes` long (0 gives a minimal
 * block); NULL when rt is NULL or memory runs out. */
WEFT_API void *weft_mem_alloc(weft_runtime_t *rt, size_t bytes);
/* Gives p back to the pool. NULL is a no-op; a pointer the pool does not
 * own is reported on stderr and ignored (the pool is never corrupted). */
WEFT_API void weft_mem_free(weft_runtime_t *rt, void *p);

typedef struct weft_mem_stats {
    size_t in_use;   /* bytes in live blocks (block sizes, see weft_mem_size) */
    size_t reserved; /* bytes held from the system: live, cached and carved */
    size_t peak;     /* highest in_use since the start or the last reset */
    uint64_t allocs, frees;
} weft_mem_stats_t;

/* Host memory statistics. Exact when no thread allocates meanwhile; peak is
 * exact while one thread allocates at a time, and otherwise may be off by
 * up to 256 KiB (or twice the biggest block it handled) per worker: workers
 * batch their counts. Errors: WEFT_EINVAL (NULL). */
WEFT_API int weft_mem_stats(weft_runtime_t *rt, weft_mem_stats_t *out);
/* Starts a new peak from the bytes in use now (a worker allocating at that
 * very moment may keep its older high mark). Errors: WEFT_EINVAL. */
WEFT_API int weft_mem_reset_peak(weft_runtime_t *rt);

/* ---- more ----------------------------------------------------------------- */

typedef enum weft_mem_kind {
    WEFT_MEM_HOST = 0,   /* ordinary host memory */
    WEFT_MEM_PINNED = 1, /* page-locked host memory, for fast copies to GPUs */
    WEFT_MEM_DEVICE = 2  /* memory of one CUDA device */
} weft_mem_kind_t;

/* A block of `kind` (device: the CUDA device number, else ignored),
 * freed with weft_mem_free like any other. Pinned memory is page-locked
 * host memory usable with every device (cudaHostAlloc, portable); device
 * memory comes from the device's stream-ordered allocator (cudaMallocAsync
 * on its default memory pool, which keeps up to 1 GiB of freed memory for
 * reuse) and is usable by any stream when this returns. Freeing device
 * memory outside GPU tasks waits for the work queued on the device first,
 * as cudaFree does. Errors: WEFT_EINVAL (rt or out NULL, bad kind, too
 * large, no such device), WEFT_ENOMEM, WEFT_ENOTSUP (pinned and device
 * memory: weft built without CUDA, or no CUDA device or driver; a message
 * on stderr says which). */
WEFT_API int weft_mem_alloc_kind(weft_runtime_t *rt, weft_mem_kind_t kind, int device, size_t bytes, void **out);
/* Statistics of one kind (device: for WEFT_MEM_DEVICE; reserved is what
 * the device's memory pool holds). Errors as above. */
WEFT_API int weft_mem_stats_kind(weft_runtime_t *rt, weft_mem_kind_t kind, int device, weft_mem_stats_t *out);
/* The usable size of a block of the pool (its size class), 0 for a pointer
 * the pool does not own. */
WEFT_API size_t weft_mem_size(weft_runtime_t *rt, const void *p);

/* Freed blocks over 64 KiB are kept for reuse up to this many bytes in all
 * (default 1 GiB, or a quarter of physical memory if less); beyond it they
 * go back to the system at once. Lowering it trims. Errors: WEFT_EINVAL. */
WEFT_API int weft_mem_set_cache_limit(weft_runtime_t *rt, size_t bytes);
/* Returns every cached block over 64 KiB to the system. Errors: WEFT_EINVAL. */
WEFT_API int weft_mem_trim(weft_runtime_t *rt);

/* ---- tracking, like Python's tracemalloc ---------------------------------- */

/* Starts recording every block the pool hands out: its size, the task that
 * allocated it (its name, which carries a workflow's sweep values) and its
 * call site: file:line when allocated through WEFT_MEM_ALLOC, and `depth`
 * return addresses (0..16; 1 costs nothing more than 0, more walk the
 * stack). Blocks allocated before the start are not known. Errors:
 * WEFT_EINVAL (NULL, depth out of range), WEFT_ESTATE (already on). */
WEFT_API int weft_mem_track_start(weft_runtime_t *rt, int depth);
/* Stops and forgets the records. Errors: WEFT_EINVAL, WEFT_ESTATE (off). */
WEFT_API int weft_mem_track_stop(weft_runtime_t *rt);
/* 1 while tracking is on, 0 otherwise (and for NULL). */
WEFT_API int weft_mem_tracking(weft_runtime_t *rt);

/* weft_mem_alloc with the caller's file and line for tracking. */
WEFT_API void *weft_mem_alloc_at(weft_runtime_t *rt, size_t bytes, const char *file, int line);
#define WEFT_MEM_ALLOC(rt, bytes) weft_mem_alloc_at((rt), (bytes), __FILE__, __LINE__)

/* The bytes that blocks allocated by the task named `task` (NULL: outside
 * any task) hold now, and their highest total, since tracking started.
 * Errors: WEFT_EINVAL (NULL rt or outputs), WEFT_ESTATE (not tracking). */
WEFT_API int weft_mem_task_usage(weft_runtime_t *rt, const char *task, size_t *current, size_t *peak);

typedef struct weft_mem_snapshot weft_mem_snapshot_t;

typedef enum weft_mem_group {
    WEFT_MEM_BY_TASK = 0, /* the allocating task */
    WEFT_MEM_BY_LINE = 1, /* file:line */
    WEFT_MEM_BY_SITE = 2  /* file:line and the return addresses */
} weft_mem_group_t;

typedef struct weft_mem_entry {
    const char *task; /* BY_TASK; NULL: outside any task */
    const char *file; /* BY_LINE, BY_SITE; NULL: not given */
    int line;
    int ntrace; /* BY_SITE: return addresses, innermost first */
    void *const *trace;
    size_t size, count;
    int64_t size_diff, count_diff; /* against the older snapshot (else 0) */
} weft_mem_entry_t;

/* The live blocks now. Errors: WEFT_EINVAL (NULL), WEFT_ESTATE (not
 * tracking), WEFT_ENOMEM. A snapshot outlives the runtime. */
WEFT_API int weft_mem_snapshot_take(weft_runtime_t *rt, weft_mem_snapshot_t **out);
WEFT_API void weft_mem_snapshot_destroy(weft_mem_snapshot_t *s);
/* Up to `cap` groups into out, biggest first; with `older`, the difference
 * (groups that grew or shrank most first, by |size_diff|, gone ones with
 * size 0). *n gets how many there are in all. Entries point into the
 * snapshots (valid while they live). Errors: WEFT_EINVAL, WEFT_ENOMEM. */
WEFT_API int weft_mem_snapshot_top(const weft_mem_snapshot_t *s, const weft_mem_snapshot_t *older, weft_mem_group_t by,
                                   weft_mem_entry_t *out, size_t cap, size_t *n);
/* The same as a table (json 0) or a JSON object (json 1) on f, at most
 * `limit` groups (0: all); return addresses resolved to symbols. Errors:
 * WEFT_EINVAL, WEFT_ENOMEM, WEFT_ESYS (write error). */
WEFT_API int weft_mem_snapshot_write(const weft_mem_snapshot_t *s, const weft_mem_snapshot_t *older,
                                     weft_mem_group_t by, size_t limit, int json, FILE *f);

#ifdef __cplusplus
}
#endif

#endif
