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

#include "runtime/topology.h"
#include "scheduler/scheduler.h"
#include "weft/memory.h"

typedef struct weft__mem weft__mem_t;

/* pool: the scheduler pool whose slots get per-slot caches (its threads and
 * helping callers allocate without a lock). Errors: WEFT_ENOMEM. */
int weft__mem_create(weft_pool_t *pool, weft__mem_t **out);
/* Returns every block to the system (blocks still in use included). */
void weft__mem_destroy(weft__mem_t *m);

void *weft__mem_alloc(weft__mem_t *m, size_t bytes);
int weft__mem_alloc_kind(weft__mem_t *m, weft_mem_kind_t kind, int device, size_t bytes, void **out);
void weft__mem_free(weft__mem_t *m, void *p);
size_t weft__mem_size(weft__mem_t *m, const void *p);
int weft__mem_stats(weft__mem_t *m, weft_mem_kind_t kind, int device, weft_mem_stats_t *out);
void weft__mem_reset_peak(weft__mem_t *m);
void weft__mem_set_cache_limit(weft__mem_t *m, size_t bytes);
size_t weft__mem_cache_limit(weft__mem_t *m);
void weft__mem_trim(weft__mem_t *m);

/* Size classes (classes.c): 64-byte steps up to 256 B, then four per
 * doubling; every class size is a multiple of 64. */
#define WEFT_MEM_MAX_BYTES ((size_t)1 << 46)
unsigned weft__mem_class(size_t bytes); /* bytes in 1 .. WEFT_MEM_MAX_BYTES */
size_t weft__mem_class_size(unsigned cls);

#endif
