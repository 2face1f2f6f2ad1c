/* The GPU runtime's calls for memory/gpu.c: the CUDA runtime. */
#include "memory/gpu_raw.h"

#include <cuda_runtime.h>

#include "platform/device.h"

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

static const char *cuda_describe(int err)
{
    cudaGetLastError(); /* not ours to keep (sticky errors stay anyway) */
    return cudaGetErrorString((cudaError_t)err);
}

const weft__gpuraw_t weft__gpuraw_default = {
    .name = "cuda",
    .devices = weft__device_probe,
    .prepare = cuda_prepare,
    .unprepare = cuda_unprepare,
    .dev_alloc = cuda_dev_alloc,
    .dev_free = cuda_dev_free,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .reserved = cuda_reserved,
    .copy2d = cuda_copy2d,
    .oom = cuda_oom,
    .describe = cuda_describe,
};
