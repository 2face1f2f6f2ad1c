/* Pinned host memory and CUDA device memory (memory/gpu.h): blocks,
 * statistics, the pinned cache and strided copies, over the GPU runtime's
 * calls (the GPU backend's memory ops, platform/device.h). */
#include "memory/gpu.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "platform/device.h"
#include "memory/memory.h"
#include "memory/ptrmap.h"
#include "base/base.h"

#define MAX_DEVICES 64
/* Freed pinned blocks kept for reuse (cudaHostAlloc costs milliseconds:
 * it maps and locks the pages), up to this many bytes. */
#define PINNED_CACHE_MAX ((size_t)256 << 20)

typedef struct gstat {
    size_t in_use, peak;
    uint64_t allocs, frees;
} gstat_t;

typedef struct gdev {
    int ready;    /* set up at its first block */
    int pools;    /* has the stream-ordered allocator */
    void *stream; /* allocations and frees outside GPU tasks */
    gstat_t st;
} gdev_t;

struct weft__gpumem {
    const weft__gpu_ops_t *raw;
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
/* The backend's text for err, for a log line (a buffer of the thread's). */
static const char *err_text(const weft__gpu_ops_t *raw, int err)
{
    static _Thread_local char buf[192];
    raw->describe(err, buf, sizeof buf);
    return buf;
}

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
        g->raw->host_free(p[i]);
    weft__free(p);
}

int weft__gpumem_create(weft__gpumem_t **out)
{
    weft__gpumem_t *g = weft__calloc(1, sizeof *g);
    if (!g)
        return WEFT_ENOMEM;
    g->raw = weft__gpu_current_ops();
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
    char why[200] = "";
    int n = g->raw->devices(why, sizeof why);
    if (n <= 0) {
        weft__log("pinned and device memory: %s", why);
        n = 0;
    }
    g->ndev = n < MAX_DEVICES ? n : MAX_DEVICES;
    return g->ndev;
}

/* Sets device d up for allocations (lock held): its stream-ordered pool
 * keeps what is freed (up to the release threshold) and a stream of its
 * own orders allocations made outside GPU tasks. */
static int device_ready(weft__gpumem_t *g, int d)
{
    gdev_t *v = &g->dev[d];
    if (v->ready)
        return 0;
    int e = g->raw->mem_prepare(d, &v->pools, &v->stream);
    if (e) {
        weft__log("device memory: CUDA device %d cannot be used: %s", d, err_text(g->raw, e));
        return WEFT_ENOTSUP;
    }
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
    void *stream = rc == 0 && kind == WEFT_MEM_DEVICE ? g->dev[device].stream : NULL;
    int pools = rc == 0 && kind == WEFT_MEM_DEVICE ? g->dev[device].pools : 0;
    pthread_mutex_unlock(&g->lock);
    if (rc)
        return rc;

    const weft__gpu_ops_t *raw = g->raw;
    void *p = NULL;
    int e = 0, cdev;
    void *cur = weft__stream_current(&cdev);
    /* inside a GPU task on this device: in its stream's order, for the
     * work enqueued on it from now on (and its GPU successors, which weft
     * orders after it) */
    int ordered = pools && cur && cdev == device;
    if (kind == WEFT_MEM_PINNED) {
        size_t size = pinned_size(bytes);
        pthread_mutex_lock(&g->lock);
        p = cache_take(g, size);
        pthread_mutex_unlock(&g->lock);
        if (!p)
            e = raw->host_alloc(size, &p);
    } else {
        e = raw->dev_alloc(device, pools, bytes, ordered ? cur : stream, !ordered, &p);
    }
    if (e) {
        weft__log("%s memory: %zu bytes%s: %s", kind == WEFT_MEM_PINNED ? "pinned" : "device", bytes,
                  kind == WEFT_MEM_PINNED ? "" : " on a CUDA device", err_text(raw, e));
        return raw->oom(e) ? WEFT_ENOMEM : WEFT_ENOTSUP;
    }
    pthread_mutex_lock(&g->lock);
    rc = weft__ptrmap_insert(&g->blocks, (weft__ptrent_t){p, bytes, (int)kind, kind == WEFT_MEM_DEVICE ? device : -1});
    if (rc == 0)
        count_alloc(kind == WEFT_MEM_PINNED ? &g->pinned : &g->dev[device].st, bytes);
    pthread_mutex_unlock(&g->lock);
    if (rc) {
        if (kind == WEFT_MEM_PINNED)
            raw->host_free(p);
        else
            raw->dev_free(device, pools, p, ordered ? cur : stream, !ordered);
        return rc;
    }
    *out = p;
    return 0;
}

/* Gives a block back to CUDA (lock not held). idle: no queued work uses
 * it any more, so no device synchronisation is needed. */
static void release(weft__gpumem_t *g, weft__ptrent_t b, int idle)
{
    const weft__gpu_ops_t *raw = g->raw;
    int e, cdev;
    void *cur = weft__stream_current(&cdev);
    if (b.kind == WEFT_MEM_PINNED) {
        /* pinned memory is only freed when every use of it is over, as
         * free() (the caller's promise) */
        size_t size = pinned_size(b.size);
        pthread_mutex_lock(&g->lock);
        bool kept = cache_put(g, b.p, size);
        pthread_mutex_unlock(&g->lock);
        e = kept ? 0 : raw->host_free(b.p);
    } else {
        gdev_t *v = &g->dev[b.device];
        /* inside a GPU task on its device: after the work enqueued on the
         * task's stream so far, without waiting; else like cudaFree, after
         * the work queued on the device so far (unless none uses it) */
        if (cur && cdev == b.device && v->pools)
            e = raw->dev_free(b.device, 1, b.p, cur, 0);
        else if (idle && v->pools)
            e = raw->dev_free(b.device, 1, b.p, v->stream, 0);
        else
            e = raw->dev_free(b.device, v->pools, b.p, v->stream, 1);
    }
    if (e)
        weft__log("weft_mem_free(%p): %s", b.p, err_text(raw, e));
}

static bool gpu_free(weft__gpumem_t *g, void *p, int idle)
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
    release(g, b, idle);
    return true;
}

bool weft__gpumem_free(weft__gpumem_t *g, void *p)
{
    return gpu_free(g, p, 0);
}

bool weft__gpumem_free_idle(weft__gpumem_t *g, void *p)
{
    return gpu_free(g, p, 1);
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
        uint64_t held = 0;
        if (kind == WEFT_MEM_DEVICE && g->dev[device].pools && g->raw->pool_reserved(device, &held) == 0)
            out->reserved = (size_t)held;
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
            release(g, g->blocks.tab[i], 0);
        }
    if (left)
        weft__log("runtime destroyed with %zu pinned or device block(s) (%zu bytes) not freed; released", left, bytes);
    for (int d = 0; d < MAX_DEVICES; d++)
        if (g->dev[d].ready)
            g->raw->mem_unprepare(d, g->dev[d].stream);
    weft__gpumem_trim(g);
    weft__free(g->blocks.tab);
    pthread_mutex_destroy(&g->lock);
    weft__free(g);
}

/* ---- copies ------------------------------------------------------------------------ */

#define MAX_PITCH ((int64_t)1 << 30) /* what every CUDA device takes for a 2-D copy */

int weft__gpumem_copy(weft__gpumem_t *g, int ndim, const int64_t *shape, char *dst, const int64_t *dstr,
                      const char *src, const int64_t *sstr, size_t es, void *s)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    if (n == 0)
        return 0;
    /* Rows: the innermost dimension when both sides step one element
     * along it, else single elements. */
    size_t width = es;
    int rows = ndim; /* dimensions walked row by row */
    if (ndim > 0 && dstr[ndim - 1] == (int64_t)es && sstr[ndim - 1] == (int64_t)es) {
        width = (size_t)shape[ndim - 1] * es;
        rows = ndim - 1;
    }
    /* Whole rows that follow each other on both sides are one row. */
    while (rows > 0 && dstr[rows - 1] == (int64_t)width && sstr[rows - 1] == (int64_t)width) {
        width *= (size_t)shape[rows - 1];
        rows--;
    }
    /* One 2-D copy per step of the outer dimensions: the innermost row
     * dimension is its height when both pitches allow. */
    size_t height = 1, dp = width, sp = width;
    int outer = rows;
    if (rows > 0) {
        int64_t a = dstr[rows - 1], b = sstr[rows - 1];
        if (a >= (int64_t)width && b >= (int64_t)width && a <= MAX_PITCH && b <= MAX_PITCH) {
            height = (size_t)shape[rows - 1];
            dp = (size_t)a;
            sp = (size_t)b;
            outer = rows - 1;
        }
    }
    int64_t idx[16] = {0};
    int64_t doff = 0, soff = 0;
    for (;;) {
        int e = g->raw->copy2d(dst + doff, dp, src + soff, sp, width, height, s);
        if (e) {
            weft__log("copy of %zu x %zu bytes: %s", height, width, err_text(g->raw, e));
            return g->raw->oom(e) ? WEFT_ENOMEM : WEFT_EDEVICE;
        }
        int d = outer - 1;
        for (; d >= 0; d--) {
            doff += dstr[d];
            soff += sstr[d];
            if (++idx[d] < shape[d])
                break;
            doff -= dstr[d] * shape[d];
            soff -= sstr[d] * shape[d];
            idx[d] = 0;
        }
        if (d < 0)
            return 0;
    }
}
