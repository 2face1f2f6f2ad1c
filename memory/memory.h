/* memory — the cross-module header: the runtime's memory pool.
 *
 * One pool per runtime, with one part per memory kind (host now; pinned
 * host and CUDA device memory with the CUDA executor). runtime/runtime.c
 * creates it and forwards the public weft_mem_* calls (include/weft/memory.h)
 * to it. */
#ifndef WEFT_MEMORY_MEMORY_H
#define WEFT_MEMORY_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "platform/topology.h"
#include "weft/memory.h"
#include "weft/tensor.h"

typedef struct weft__mem weft__mem_t;

/* The first member of struct weft_runtime (runtime/runtime.c): the public
 * weft_mem_* calls are defined here, next to the pool, so that the fast
 * path is one function; they find the pool through it. */
typedef struct weft__mem_owner {
    weft__mem_t *mem;
} weft__mem_owner_t;

/* pool: the scheduler pool, through its execution-context owner record
 * (base/base.h): its slots get per-slot caches (its threads and helping
 * callers allocate without a lock), its task-end hook serves tracking.
 * slot_numa: the NUMA node of each of its worker slots (nworkers entries,
 * NULL: all 0), nnuma the number of nodes: each gets its own allocator
 * arena. Errors: WEFT_ENOMEM. */
int weft__mem_create(weft__exec_owner_t *pool, const int *slot_numa, int nnuma, weft__mem_t **out);
/* The runtime owning m (with -Dmem_checks, calls on it after its
 * destruction are then reported). Errors: WEFT_ENOMEM. */
int weft__mem_attach(weft__mem_t *m, weft_runtime_t *rt);
/* Returns every block to the system (blocks still in use included). */
void weft__mem_destroy(weft__mem_t *m);

/* The public calls (include/weft/memory.h) are implemented in pool.c. */

/* Pinned and device memory in use, without touching CUDA (the trace's
 * sampler): see weft__gpumem_usage. 0 when rt has no pool. */
uint64_t weft__mem_gpu_usage(weft_runtime_t *rt, size_t in_use[64], size_t *pinned);

/* Frees p (pinned or device memory) knowing that no queued work uses it
 * any more: no device synchronisation (weft_mem_free waits for the device
 * like cudaFree). Other blocks: as weft_mem_free. */
void weft__mem_free_idle(weft_runtime_t *rt, void *p);
/* Copies between any memories: see weft__gpumem_copy (memory/gpu.h). */
int weft__mem_copy(weft_runtime_t *rt, int ndim, const int64_t *shape, char *dst, const int64_t *dstr, const char *src,
                   const int64_t *sstr, size_t es, void *stream);

/* ---- tensors in other memories (tensor.c), for the GPU executor -------- */

/* A copy of a tensor in another memory (a mirror), made for the
 * consumers of a published tensor that run there: contiguous, in device
 * memory of `device`, or in pinned host memory (device -1). It lives as
 * long as the tensor, or until the tensor is published again. */
typedef struct weft__mirror {
    weft_tensor_t *copy;
    int device;
    void *stream; /* the stream its copy was enqueued on (NULL: done) */
    /* set by the maker: an event that fires after the copy, given back
     * with drop(owner, device, ev) when the mirror goes */
    void *ev;
    const void *owner;
    void (*drop)(const void *owner, int device, void *ev);
} weft__mirror_t;

/* Releases the copies of t in other memories (they are stale once t is
 * published again); t's lock held. */
void weft__tensor_mirrors_drop(weft_tensor_t *t);
/* t's mirrors are used under this lock (a spin lock: held for lookups
 * and for enqueuing one copy). */
void weft__tensor_lock(weft_tensor_t *t);
void weft__tensor_unlock(weft_tensor_t *t);
/* t's mirror on device (-1: host), or NULL. Lock held. */
weft__mirror_t *weft__tensor_mirror(weft_tensor_t *t, int device);
/* Makes t's mirror on device (-1: pinned host memory): allocates it (in
 * the running GPU task's stream order when there is one) and enqueues
 * the copy on stream s (NULL: copied at return). Lock held. Errors:
 * WEFT_ENOMEM, WEFT_ENOTSUP (no such memory), WEFT_EDEVICE (the copy). */
int weft__tensor_mirror_make(weft_tensor_t *t, int device, void *s, weft__mirror_t **out);

/* Size classes (classes.c): 64-byte steps up to 256 B, then four per
 * doubling; every class size is a multiple of 64. */
#define WEFT_MEM_MAX_BYTES ((size_t)1 << 46)

/* bytes in 0 .. WEFT_MEM_MAX_BYTES (0 is class 0) */
static inline unsigned weft__mem_class(size_t bytes)
{
    if (bytes <= 256)
        return bytes ? (unsigned)((bytes - 1) >> 6) : 0;
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(bytes - 1)); /* 2^k < bytes <= 2^(k+1) */
    return 4 + (k - 8) * 4 + (unsigned)((bytes - 1) >> (k - 2)) - 4;
}

static inline size_t weft__mem_class_size(unsigned cls)
{
    if (cls < 4)
        return (size_t)(cls + 1) << 6;
    unsigned k = 8 + (cls - 4) / 4;
    return (size_t)(5 + (cls - 4) % 4) << (k - 2);
}

#endif
