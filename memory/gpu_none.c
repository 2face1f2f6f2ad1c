/* Pinned and device memory without CUDA: not in this build. */
#include "memory/gpu.h"

#include <stdatomic.h>

#include "runtime/base/base.h"

struct weft__gpumem {
    int unused;
};

static int no_cuda(void)
{
    static _Atomic int said;
    if (!atomic_exchange(&said, 1))
        weft__log("pinned and device memory: weft was built without CUDA");
    return WEFT_ENOTSUP;
}

int weft__gpumem_create(weft__gpumem_t **out)
{
    *out = weft__calloc(1, sizeof **out);
    return *out ? 0 : WEFT_ENOMEM;
}

void weft__gpumem_destroy(weft__gpumem_t *g)
{
    weft__free(g);
}

int weft__gpumem_alloc(weft__gpumem_t *g, weft_mem_kind_t kind, int device, size_t bytes, void **out)
{
    (void)g, (void)kind, (void)device, (void)bytes;
    *out = NULL;
    return no_cuda();
}

bool weft__gpumem_free(weft__gpumem_t *g, void *p)
{
    (void)g, (void)p;
    return false;
}

size_t weft__gpumem_size(weft__gpumem_t *g, const void *p)
{
    (void)g, (void)p;
    return 0;
}

int weft__gpumem_stats(weft__gpumem_t *g, weft_mem_kind_t kind, int device, weft_mem_stats_t *out)
{
    (void)g, (void)kind, (void)device, (void)out;
    return no_cuda();
}

uint64_t weft__gpumem_usage(weft__gpumem_t *g, size_t in_use[64], size_t *pinned)
{
    (void)g, (void)in_use;
    *pinned = 0;
    return 0;
}

void weft__gpumem_trim(weft__gpumem_t *g)
{
    (void)g;
}

int weft__gpumem_reset_peak(weft__gpumem_t *g)
{
    (void)g;
    return 0;
}
