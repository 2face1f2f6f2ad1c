/* The GPU backend on the CUDA runtime (platform/device.h): discovery, the
 * executor's streams, events and graphs, the memory module's allocations
 * and copies. The only C file of weft that includes <cuda_runtime.h>. */
#include "platform/device.h"

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/error.h"

int weft__device_probe(char *why, size_t size)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) { /* no driver or no device: a CPU-only machine */
        snprintf(why, size, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "the driver sees none");
        cudaGetLastError(); /* not sticky: clear it */
        return 0;
    }
    return n;
}

int weft__device_count(void)
{
    char why[160];
    return weft__device_probe(why, sizeof why);
}

int weft__device_select(int dev)
{
    if (cudaSetDevice(dev) == cudaSuccess)
        return 0;
    cudaGetLastError();
    return WEFT_EDEVICE;
}

const char *weft__device_backend(void)
{
    return "cuda";
}

/* ==== the executor: streams, events, graphs ==== */

static int set_device(int dev)
{
    return (int)cudaSetDevice(dev);
}

static int stream_create(int dev, void **out)
{
    (void)dev;
    cudaStream_t s;
    /* Non-blocking: no implicit synchronisation with the legacy default
     * stream that other code in the process may use. */
    cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    *out = e == cudaSuccess ? (void *)s : NULL;
    return (int)e;
}

static void stream_destroy(int dev, void *s)
{
    (void)dev;
    cudaStreamDestroy((cudaStream_t)s);
}

static int event_make(int dev, unsigned flags, void **out)
{
    int prev = -1;
    cudaGetDevice(&prev);
    cudaError_t e = prev == dev ? cudaSuccess : cudaSetDevice(dev);
    cudaEvent_t ev = NULL;
    if (e == cudaSuccess)
        e = cudaEventCreateWithFlags(&ev, flags);
    *out = e == cudaSuccess ? (void *)ev : NULL;
    return (int)e;
}

static int event_create(int dev, void **out)
{
    return event_make(dev, cudaEventDisableTiming, out);
}

static int event_create_timed(int dev, void **out)
{
    return event_make(dev, cudaEventDefault, out);
}

static int elapsed(void *e0, void *e1, float *ms)
{
    return (int)cudaEventElapsedTime(ms, (cudaEvent_t)e0, (cudaEvent_t)e1);
}

static void event_destroy(int dev, void *e)
{
    (void)dev;
    cudaEventDestroy((cudaEvent_t)e);
}

static int record(void *e, void *s)
{
    return (int)cudaEventRecord((cudaEvent_t)e, (cudaStream_t)s);
}

static int wait_event(void *s, void *e)
{
    return (int)cudaStreamWaitEvent((cudaStream_t)s, (cudaEvent_t)e, 0);
}

static int query(void *e)
{
    cudaError_t r = cudaEventQuery((cudaEvent_t)e);
    return r == cudaSuccess ? 0 : r == cudaErrorNotReady ? WEFT__GPU_PENDING : (int)r;
}

static int last_error(void)
{
    return (int)cudaGetLastError();
}

/* Errors after which the context is unusable (CUDA's sticky errors). */
static int fatal(int err)
{
    switch ((cudaError_t)err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDevicesUnavailable:
    case cudaErrorUnknown: return 1;
    default: return 0;
    }
}

static void describe(int err, char *buf, size_t size)
{
    cudaGetLastError(); /* not ours to keep (sticky errors stay anyway) */
    snprintf(buf, size, "CUDA error %d %s: %s", err, cudaGetErrorName((cudaError_t)err),
             cudaGetErrorString((cudaError_t)err));
}

/* ---- CUDA graphs ---- */

static int capture_begin(void *s)
{
    /* thread-local: other threads' CUDA calls are not affected */
    return (int)cudaStreamBeginCapture((cudaStream_t)s, cudaStreamCaptureModeThreadLocal);
}

static int capture_end(void *s, void **graph)
{
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture((cudaStream_t)s, &g);
    *graph = e == cudaSuccess ? (void *)g : NULL;
    if (e != cudaSuccess && g)
        cudaGraphDestroy(g);
    return (int)e;
}

static int graph_create(void **graph)
{
    cudaGraph_t g = NULL;
    cudaError_t e = cudaGraphCreate(&g, 0);
    *graph = e == cudaSuccess ? (void *)g : NULL;
    return (int)e;
}

static int graph_add_child(void *graph, void *child, void *const *deps, size_t ndeps, void **node)
{
    cudaGraphNode_t n = NULL;
    cudaError_t e =
        cudaGraphAddChildGraphNode(&n, (cudaGraph_t)graph, (const cudaGraphNode_t *)deps, ndeps, (cudaGraph_t)child);
    *node = e == cudaSuccess ? (void *)n : NULL;
    return (int)e;
}

static void graph_destroy(void *graph)
{
    cudaGraphDestroy((cudaGraph_t)graph);
}

static int graph_instantiate(void *graph, void **exec)
{
    cudaGraphExec_t x = NULL;
    cudaError_t e = cudaGraphInstantiate(&x, (cudaGraph_t)graph, 0);
    *exec = e == cudaSuccess ? (void *)x : NULL;
    return (int)e;
}

static int graph_launch(void *exec, void *s)
{
    return (int)cudaGraphLaunch((cudaGraphExec_t)exec, (cudaStream_t)s);
}

static void exec_destroy(void *exec)
{
    cudaGraphExecDestroy((cudaGraphExec_t)exec);
}

/* ==== memory ==== */

/* Makes d current; *prev is the caller's device, made current again
 * with cudaSetDevice(*prev) when done. */
static cudaError_t enter(int d, int *prev)
{
    *prev = 0;
    cudaGetDevice(prev);
    return cudaSetDevice(d);
}

static int cuda_prepare(int d, int *pools, void **stream)
{
    int prev;
    cudaError_t e = enter(d, &prev);
    int has = 0;
    if (e == cudaSuccess)
        e = cudaDeviceGetAttribute(&has, cudaDevAttrMemoryPoolsSupported, d);
    if (e == cudaSuccess && has) {
        cudaMemPool_t mp;
        e = cudaDeviceGetDefaultMemPool(&mp, d);
        uint64_t keep = UINT64_C(1) << 30; /* like the host pool's default cache limit */
        if (e == cudaSuccess)
            e = cudaMemPoolSetAttribute(mp, cudaMemPoolAttrReleaseThreshold, &keep);
    }
    cudaStream_t s = NULL;
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cudaSetDevice(prev);
    *pools = has;
    *stream = s;
    return (int)e;
}

static void cuda_unprepare(int d, void *stream)
{
    int prev;
    cudaError_t e = enter(d, &prev);
    if (e == cudaSuccess)
        cudaStreamDestroy(stream);
    cudaSetDevice(prev);
}

static int cuda_dev_alloc(int d, int pools, size_t bytes, void *s, int sync, void **out)
{
    int prev;
    cudaError_t e = enter(d, &prev);
    if (e == cudaSuccess && pools && s) {
        e = cudaMallocAsync(out, bytes, s);
        if (e == cudaSuccess && sync)
            e = cudaStreamSynchronize(s); /* usable by any stream */
    } else if (e == cudaSuccess) {
        e = cudaMalloc(out, bytes);
    }
    cudaSetDevice(prev);
    return (int)e;
}

static int cuda_dev_free(int d, int pools, void *p, void *s, int sync)
{
    int prev;
    cudaError_t e = enter(d, &prev);
    /* with sync, like cudaFree: after the work queued on the device so far */
    if (e == cudaSuccess && sync)
        e = cudaDeviceSynchronize();
    if (e == cudaSuccess && pools && s) {
        e = cudaFreeAsync(p, s);
        if (e == cudaSuccess && sync)
            e = cudaStreamSynchronize(s);
    } else if (e == cudaSuccess) {
        e = cudaFree(p);
    }
    cudaSetDevice(prev);
    return (int)e;
}

static int cuda_host_alloc(size_t bytes, void **out)
{
    return (int)cudaHostAlloc(out, bytes, cudaHostAllocPortable);
}

static int cuda_host_free(void *p)
{
    return (int)cudaFreeHost(p);
}

static int cuda_reserved(int d, uint64_t *out)
{
    cudaMemPool_t mp;
    cudaError_t e = cudaDeviceGetDefaultMemPool(&mp, d);
    if (e == cudaSuccess)
        e = cudaMemPoolGetAttribute(mp, cudaMemPoolAttrReservedMemCurrent, out);
    return (int)e;
}

static int cuda_copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height, void *s)
{
    cudaError_t e;
    if (!s)
        e = cudaMemcpy2D(dst, dpitch, src, spitch, width, height, cudaMemcpyDefault);
    else if (height == 1)
        e = cudaMemcpyAsync(dst, src, width, cudaMemcpyDefault, s);
    else
        e = cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, cudaMemcpyDefault, s);
    return (int)e;
}

static int cuda_oom(int err)
{
    return err == cudaErrorMemoryAllocation;
}

const weft__gpu_ops_t weft__gpu_default_ops = {
    .name = "cuda",
    .devices = weft__device_probe,
    .set_device = set_device,
    .stream_create = stream_create,
    .stream_destroy = stream_destroy,
    .event_create = event_create,
    .event_create_timed = event_create_timed,
    .event_destroy = event_destroy,
    .elapsed = elapsed,
    .record = record,
    .wait = wait_event,
    .query = query,
    .last_error = last_error,
    .fatal = fatal,
    .describe = describe,
    .capture_begin = capture_begin,
    .capture_end = capture_end,
    .graph_create = graph_create,
    .graph_add_child = graph_add_child,
    .graph_destroy = graph_destroy,
    .graph_instantiate = graph_instantiate,
    .graph_launch = graph_launch,
    .exec_destroy = exec_destroy,
    .mem_prepare = cuda_prepare,
    .mem_unprepare = cuda_unprepare,
    .dev_alloc = cuda_dev_alloc,
    .dev_free = cuda_dev_free,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .pool_reserved = cuda_reserved,
    .copy2d = cuda_copy2d,
    .oom = cuda_oom,
};
