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
 * up to 256 KiB per worker (workers batch their counts). Errors:
 * WEFT_EINVAL (NULL). */
WEFT_API int weft_mem_stats(weft_runtime_t *rt, weft_mem_stats_t *out);
/* Starts a new peak from the bytes in use now. Errors: WEFT_EINVAL. */
WEFT_API int weft_mem_reset_peak(weft_runtime_t *rt);

/* ---- more ----------------------------------------------------------------- */

typedef enum weft_mem_kind {
    WEFT_MEM_HOST = 0,   /* ordinary host memory */
    WEFT_MEM_PINNED = 1, /* page-locked host memory, for fast copies to GPUs */
    WEFT_MEM_DEVICE = 2  /* memory of one CUDA device */
} weft_mem_kind_t;

/* A block of `kind` (device: the CUDA device number, else ignored).
 * Errors: WEFT_EINVAL (rt or out NULL, bad kind, too large), WEFT_ENOMEM,
 * WEFT_ENOTSUP (pinned and device memory: not in this build yet). */
WEFT_API int weft_mem_alloc_kind(weft_runtime_t *rt, weft_mem_kind_t kind, int device, size_t bytes,
                                 void **out);
/* Statistics of one kind (device: for WEFT_MEM_DEVICE). Errors as above. */
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

#ifdef __cplusplus
}
#endif

#endif
