/* Pinned host memory and CUDA device memory (memory/gpu.h). */
#include "memory/gpu.h"

#include <cuda_runtime.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "memory/memory.h"
#include "memory/ptrmap.h"
#include "runtime/base/base.h"

#define MAX_DEVICES 64
/* Freed pinned blocks kept for reuse (cudaHostAlloc costs milliseconds:
 * it maps and locks the pages), up to this many bytes. */
#define PINNED_CACHE_MAX ((size_t)256 << 20)


typedef struct gstat {
    size_t in_use, peak;
    uint64_t allocs, frees;
} gstat_t;

typedef struct gdev {
    int ready;           /* set up at its first block */
    int pools;           /* has the stream-ordered allocator */
    cudaStream_t stream; /* allocations and frees outside GPU tasks */
    gstat_t st;
} gdev_t;

struct weft__gpumem {
    pthread_mutex_t lock;
    int ndev; /* -1 until the first call */
    gdev_t dev[MAX_DEVICES];
    gstat_t pinned;
    weft__ptrmap_t blocks;
    /* freed pinned blocks, each of a size class's size */
    struct {
        void **p;
        size_t *size;
        size_t n, cap, bytes;
    } cache;
};

/* Pinned blocks are made a size class's size, so that a freed one serves
 * any later request of its class. */
static size_t pinned_size(size_t bytes)
{
    return bytes <= WEFT_MEM_MAX_BYTES ? weft__mem_class_size(weft__mem_class(bytes)) : bytes;
}

/* A cached pinned block of exactly `size` bytes, or NULL (lock held). */
static void *cache_take(weft__gpumem_t *g, size_t size)
{
    for (size_t i = g->cache.n; i-- > 0;)
        if (g->cache.size[i] == size) {
            void *p = g->cache.p[i];
            g->cache.n--;
            g->cache.p[i] = g->cache.p[g->cache.n];
            g->cache.size[i] = g->cache.size[g->cache.n];
            g->cache.bytes -= size;
            return p;
        }
    return NULL;
}

/* Keeps a freed pinned block; false when the cache is full (lock held). */
static bool cache_put(weft__gpumem_t *g, void *p, size_t size)
{
    if (g->cache.bytes + size > PINNED_CACHE_MAX)
        return false;
    if (g->cache.n == g->cache.cap) {
        size_t cap = g->cache.cap ? g->cache.cap * 2 : 16;
        void **np = weft__realloc(g->cache.p, cap * sizeof *np);
        if (np)
            g->cache.p = np;
        size_t *ns = np ? weft__realloc(g->cache.size, cap * sizeof *ns) : NULL;
        if (ns)
            g->cache.size = ns;
        if (!np || !ns)
            return false;
        g->cache.cap = cap;
    }
    g->cache.p[g->cache.n] = p;
    g->cache.size[g->cache.n++] = size;
    g->cache.bytes += size;
    return true;
}

void weft__gpumem_trim(weft__gpumem_t *g)
{
    pthread_mutex_lock(&g->lock);
    void **p = g->cache.p;
    size_t n = g->cache.n;
    g->cache.p = NULL;
    g->cache.n = g->cache.cap = g->cache.bytes = 0;
    weft__free(g->cache.size);
    g->cache.size = NULL;
    pthread_mutex_unlock(&g->lock);
    for (size_t i = 0; i < n; i++)
        cudaFreeHost(p[i]);
    weft__free(p);
}

int weft__gpumem_create(weft__gpumem_t **out)
{
    weft__gpumem_t *g = weft__calloc(1, sizeof *g);
    if (!g)
        return WEFT_ENOMEM;
    pthread_mutex_init(&g->lock, NULL);
    g->ndev = -1;
    *out = g;
    return 0;
}

/* ---- devices ------------------------------------------------------------------ */

/* The devices, counted once; 0 says why (once). Lock held. */
static int devices(weft__gpumem_t *g)
{
    if (g->ndev >= 0)
        return g->ndev;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) {
        weft__log("pinned and device memory: no CUDA device (%s)",
                  e != cudaSuccess ? cudaGetErrorString(e) : "the driver sees none");
        cudaGetLastError(); /* not sticky: clear it */
        n = 0;
    }
    g->ndev = n < MAX_DEVICES ? n : MAX_DEVICES;
    return g->ndev;
}

/* Sets device d up for allocations (lock held): its default memory pool
 * keeps what is freed (up to the release threshold) and a stream of its
 * own orders allocations made outside GPU tasks. */
static int device_ready(weft__gpumem_t *g, int d)
{
    gdev_t *v = &g->dev[d];
    if (v->ready)
        return 0;
    int prev = 0;
    cudaGetDevice(&prev);
    cudaError_t e = cudaSetDevice(d);
    int pools = 0;
    if (e == cudaSuccess)
        e = cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, d);
    if (e == cudaSuccess && pools) {
        cudaMemPool_t mp;
        e = cudaDeviceGetDefaultMemPool(&mp, d);
        uint64_t keep = UINT64_C(1) << 30; /* like the host pool's default cache limit */
        if (e == cudaSuccess)
            e = cudaMemPoolSetAttribute(mp, cudaMemPoolAttrReleaseThreshold, &keep);
    }
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&v->stream, cudaStreamNonBlocking);
    cudaSetDevice(prev);
    if (e != cudaSuccess) {
        weft__log("device memory: CUDA device %d cannot be used: %s", d, cudaGetErrorString(e));
        return WEFT_ENOTSUP;
    }
    v->pools = pools;
    v->ready = 1;
    return 0;
}

static void count_alloc(gstat_t *s, size_t bytes)
{
    s->in_use += bytes;
    s->allocs++;
    if (s->in_use > s->peak)
        s->peak = s->in_use;
}

static int cuda_rc(cudaError_t e)
{
    return e == cudaErrorMemoryAllocation ? WEFT_ENOMEM : WEFT_ENOTSUP;
}

int weft__gpumem_alloc(weft__gpumem_t *g, weft_mem_kind_t kind, int device, size_t bytes, void **out)
{
    *out = NULL;
    if (!bytes)
        bytes = 1;
    pthread_mutex_lock(&g->lock);
    int n = devices(g), rc = 0;
    if (n == 0)
        rc = WEFT_ENOTSUP;
    else if (kind == WEFT_MEM_DEVICE && (device < 0 || device >= n)) {
        weft__log("device memory: no CUDA device %d (this machine has %d)", device, n);
        rc = WEFT_EINVAL;
    } else if (kind == WEFT_MEM_DEVICE) {
        rc = device_ready(g, device);
    }
    cudaStream_t stream = rc == 0 && kind == WEFT_MEM_DEVICE ? g->dev[device].stream : NULL;
    int pools = rc == 0 && kind == WEFT_MEM_DEVICE ? g->dev[device].pools : 0;
    pthread_mutex_unlock(&g->lock);
    if (rc)
        return rc;

    void *p = NULL;
    cudaError_t e = cudaSuccess;
    int cdev;
    cudaStream_t cur = weft__stream_current(&cdev);
    if (kind == WEFT_MEM_PINNED) {
        size_t size = pinned_size(bytes);
        pthread_mutex_lock(&g->lock);
        p = cache_take(g, size);
        pthread_mutex_unlock(&g->lock);
        if (!p)
            e = cudaHostAlloc(&p, size, cudaHostAllocPortable);
    } else {
        int prev = 0;
        cudaGetDevice(&prev);
        e = cudaSetDevice(device);
        if (e == cudaSuccess && pools && cur && cdev == device) {
            /* inside a GPU task on this device: in its stream's order,
             * for the work enqueued on it from now on (and its GPU
             * successors, which weft orders after it) */
            e = cudaMallocAsync(&p, bytes, cur);
        } else if (e == cudaSuccess && pools) {
            e = cudaMallocAsync(&p, bytes, stream);
            if (e == cudaSuccess)
                e = cudaStreamSynchronize(stream); /* usable by any stream */
        } else if (e == cudaSuccess) {
            e = cudaMalloc(&p, bytes);
        }
        cudaSetDevice(prev);
    }
    if (e != cudaSuccess) {
        weft__log("%s memory: %zu bytes%s: %s", kind == WEFT_MEM_PINNED ? "pinned" : "device", bytes,
                  kind == WEFT_MEM_PINNED ? "" : " on a CUDA device", cudaGetErrorString(e));
        cudaGetLastError();
        return cuda_rc(e);
    }
    pthread_mutex_lock(&g->lock);
    rc = weft__ptrmap_insert(&g->blocks, (weft__ptrent_t){p, bytes, (int)kind, kind == WEFT_MEM_DEVICE ? device : -1});
    if (rc == 0)
        count_alloc(kind == WEFT_MEM_PINNED ? &g->pinned : &g->dev[device].st, bytes);
    pthread_mutex_unlock(&g->lock);
    if (rc) {
        if (kind == WEFT_MEM_PINNED)
            cudaFreeHost(p);
        else if (cur && cdev == device && pools)
            cudaFreeAsync(p, cur);
        else
            cudaFree(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* Gives a block back to CUDA (lock not held). */
static void release(weft__gpumem_t *g, weft__ptrent_t b)
{
    cudaError_t e;
    int cdev;
    cudaStream_t cur = weft__stream_current(&cdev);
    if (b.kind == WEFT_MEM_PINNED) {
        /* pinned memory is only freed when every use of it is over, as
         * free() (the caller's promise) */
        size_t size = pinned_size(b.size);
        pthread_mutex_lock(&g->lock);
        bool kept = cache_put(g, b.p, size);
        pthread_mutex_unlock(&g->lock);
        e = kept ? cudaSuccess : cudaFreeHost(b.p);
    } else if (cur && cdev == b.device && g->dev[b.device].pools) {
        /* inside a GPU task on its device: after the work enqueued on the
         * task's stream so far, without waiting */
        e = cudaFreeAsync(b.p, cur);
    } else {
        int prev = 0;
        cudaGetDevice(&prev);
        e = cudaSetDevice(b.device);
        /* like cudaFree: after the work queued on the device so far */
        if (e == cudaSuccess)
            e = cudaDeviceSynchronize();
        if (e == cudaSuccess && g->dev[b.device].pools) {
            e = cudaFreeAsync(b.p, g->dev[b.device].stream);
            if (e == cudaSuccess)
                e = cudaStreamSynchronize(g->dev[b.device].stream);
        } else if (e == cudaSuccess) {
            e = cudaFree(b.p);
        }
        cudaSetDevice(prev);
    }
    if (e != cudaSuccess) {
        weft__log("weft_mem_free(%p): %s", b.p, cudaGetErrorString(e));
        cudaGetLastError();
    }
}

bool weft__gpumem_free(weft__gpumem_t *g, void *p)
{
    pthread_mutex_lock(&g->lock);
    weft__ptrent_t *e = weft__ptrmap_find(&g->blocks, p), b = {0};
    if (e) {
        b = *e;
        weft__ptrmap_erase(&g->blocks, e);
        gstat_t *s = b.kind == WEFT_MEM_PINNED ? &g->pinned : &g->dev[b.device].st;
        s->in_use -= b.size;
        s->frees++;
    }
    pthread_mutex_unlock(&g->lock);
    if (!b.p)
        return false;
    release(g, b);
    return true;
}

size_t weft__gpumem_size(weft__gpumem_t *g, const void *p)
{
    pthread_mutex_lock(&g->lock);
    weft__ptrent_t *e = weft__ptrmap_find(&g->blocks, p);
    size_t n = e ? e->size : 0;
    pthread_mutex_unlock(&g->lock);
    return n;
}

int weft__gpumem_stats(weft__gpumem_t *g, weft_mem_kind_t kind, int device, weft_mem_stats_t *out)
{
    pthread_mutex_lock(&g->lock);
    int n = devices(g), rc = 0;
    if (n == 0) {
        rc = WEFT_ENOTSUP;
    } else if (kind == WEFT_MEM_DEVICE && (device < 0 || device >= n)) {
        weft__log("device memory: no CUDA device %d (this machine has %d)", device, n);
        rc = WEFT_EINVAL;
    } else {
        const gstat_t *s = kind == WEFT_MEM_PINNED ? &g->pinned : &g->dev[device].st;
        memset(out, 0, sizeof *out);
        out->in_use = s->in_use;
        out->peak = s->peak;
        out->allocs = s->allocs;
        out->frees = s->frees;
        out->reserved = s->in_use + (kind == WEFT_MEM_PINNED ? g->cache.bytes : 0);
        if (kind == WEFT_MEM_DEVICE && g->dev[device].pools) {
            cudaMemPool_t mp;
            uint64_t held = 0;
            if (cudaDeviceGetDefaultMemPool(&mp, device) == cudaSuccess &&
                cudaMemPoolGetAttribute(mp, cudaMemPoolAttrReservedMemCurrent, &held) == cudaSuccess)
                out->reserved = (size_t)held;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

uint64_t weft__gpumem_usage(weft__gpumem_t *g, size_t in_use[64], size_t *pinned)
{
    uint64_t used = 0;
    pthread_mutex_lock(&g->lock);
    for (int d = 0; d < MAX_DEVICES && d < g->ndev; d++)
        if (g->dev[d].ready) {
            used |= 1ull << d;
            in_use[d] = g->dev[d].st.in_use;
        }
    *pinned = g->pinned.in_use;
    pthread_mutex_unlock(&g->lock);
    return used;
}

int weft__gpumem_reset_peak(weft__gpumem_t *g)
{
    pthread_mutex_lock(&g->lock);
    g->pinned.peak = g->pinned.in_use;
    for (int d = 0; d < MAX_DEVICES; d++)
        g->dev[d].st.peak = g->dev[d].st.in_use;
    pthread_mutex_unlock(&g->lock);
    return 0;
}

void weft__gpumem_destroy(weft__gpumem_t *g)
{
    if (!g)
        return;
    size_t left = 0, bytes = 0;
    for (size_t i = 0; i < g->blocks.cap; i++)
        if (g->blocks.tab[i].p) {
            left++;
            bytes += g->blocks.tab[i].size;
            release(g, g->blocks.tab[i]);
        }
    if (left)
        weft__log("runtime destroyed with %zu pinned or device block(s) (%zu bytes) not freed; released", left,
                  bytes);
    for (int d = 0; d < MAX_DEVICES; d++)
        if (g->dev[d].ready) {
            int prev = 0;
            cudaGetDevice(&prev);
            cudaSetDevice(d);
            cudaStreamDestroy(g->dev[d].stream);
            cudaSetDevice(prev);
        }
    weft__gpumem_trim(g);
    weft__free(g->blocks.tab);
    pthread_mutex_destroy(&g->lock);
    weft__free(g);
}
