/* The GPU executor's backend on the CUDA runtime (tasks/gpu_ops.h): the
 * only file of the module that includes its header. */
#include "tasks/gpu_ops.h"

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

static int devices(char *why, size_t size)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) {
        snprintf(why, size, "no CUDA device (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "the driver sees none");
        cudaGetLastError(); /* not sticky: clear it */
        return 0;
    }
    return n;
}

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
    case cudaErrorUnknown:
        return 1;
    default:
        return 0;
    }
}

static void describe(int err, char *buf, size_t size)
{
    snprintf(buf, size, "CUDA error %d %s: %s", err, cudaGetErrorName((cudaError_t)err),
             cudaGetErrorString((cudaError_t)err));
}

const weft__gpu_ops_t weft__gpu_default_ops = {
    .name = "cuda",
    .devices = devices,
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
};
