/* The GPU executor's backend on the CUDA runtime (tasks/gpu_ops.h): the
 * only file of the module that includes its header. */
#include "tasks/gpu_ops.h"

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include "platform/device.h"

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
};
