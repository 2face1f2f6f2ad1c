/* memory/gpu — pinned host memory and CUDA device memory for the pool's
 * WEFT_MEM_PINNED and WEFT_MEM_DEVICE kinds (memory/gpu.c), over the
 * GPU backend (platform/device.h: CUDA, or without it a fallback where
 * every call answers WEFT_ENOTSUP and says so once per runtime).
 *
 * Device memory comes from each device's stream-ordered allocator
 * (cudaMallocAsync on the device's default memory pool, its release
 * threshold raised so that freed memory stays cached for reuse); pinned
 * memory from cudaHostAlloc (portable: usable with every device). Blocks
 * are kept in a table (pointer -> size, kind, device) for weft_mem_free,
 * weft_mem_size and the statistics. */
#ifndef WEFT_MEMORY_GPU_H
#define WEFT_MEMORY_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft/memory.h>

typedef struct weft__gpumem weft__gpumem_t;

/* Errors: WEFT_ENOMEM. Touches no GPU (that happens at the first block). */
int weft__gpumem_create(weft__gpumem_t **out);
/* Releases every block still held (a leak: reported naming the count). */
void weft__gpumem_destroy(weft__gpumem_t *g);
/* A block of kind (WEFT_MEM_PINNED or WEFT_MEM_DEVICE on `device`),
 * usable at return by any stream and the host (pinned).
 * Errors: WEFT_ENOTSUP (built without CUDA, no CUDA device or driver: a
 * message says which), WEFT_EINVAL (no such device), WEFT_ENOMEM (the
 * device or the host is out of memory; the CUDA error is logged). */
int weft__gpumem_alloc(weft__gpumem_t *g, weft_mem_kind_t kind, int device, size_t bytes, void **out);
/* Frees p if it is one of g's blocks (device memory: once the device has
 * finished the work queued so far, as cudaFree does) and returns true;
 * false when it is not. */
bool weft__gpumem_free(weft__gpumem_t *g, void *p);
/* The same for a block that no queued work uses any more (every stream
 * that used it has been seen to finish): no device synchronisation. */
bool weft__gpumem_free_idle(weft__gpumem_t *g, void *p);
/* The size asked for p, or 0 when p is not one of g's blocks. */
size_t weft__gpumem_size(weft__gpumem_t *g, const void *p);
/* Statistics of one kind (device: for WEFT_MEM_DEVICE). reserved is what
 * the device's pool holds (device memory) or what is allocated (pinned).
 * Errors as weft__gpumem_alloc. */
int weft__gpumem_stats(weft__gpumem_t *g, weft_mem_kind_t kind, int device, weft_mem_stats_t *out);
int weft__gpumem_reset_peak(weft__gpumem_t *g);
/* Gives the cached pinned blocks back to CUDA. */
void weft__gpumem_trim(weft__gpumem_t *g);
/* Bytes in use without touching CUDA (for samplers): in_use[d] for each
 * device d that has held a block (bit d of the result), and *pinned. */
uint64_t weft__gpumem_usage(weft__gpumem_t *g, size_t in_use[64], size_t *pinned);

/* Copies an array of es-byte elements between any memories (host,
 * pinned, device): shape[ndim] (ndim <= 16), strides in bytes for each
 * side (any sign), as few 2-D copies as the layout allows. Enqueued on
 * stream s (the caller's device current), or done at return when s is
 * NULL. Errors: WEFT_EDEVICE (the CUDA error is logged), WEFT_ENOMEM. */
int weft__gpumem_copy(weft__gpumem_t *g, int ndim, const int64_t *shape, char *dst, const int64_t *dstr,
                      const char *src, const int64_t *sstr, size_t es, void *s);

#endif
