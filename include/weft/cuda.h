/* weft — GPU tasks: CUDA work in the same graph as CPU and process tasks.
 *
 * A GPU task's function runs on a worker thread, enqueues asynchronous
 * work (kernel launches, cudaMemcpyAsync, cuBLAS calls, ...) on the stream
 * weft_ctx_stream(ctx) gives it, and returns at once, without
 * synchronising. weft records an event after that work:
 *  - GPU tasks that depend on it and run on the same device are enqueued
 *    right away behind it (the same stream, or a cudaStreamWaitEvent):
 *    no round trip through the host;
 *  - CPU tasks, process tasks and GPU tasks on other devices that depend
 *    on it start when the event has fired, seen by weft's completion
 *    thread (no worker waits);
 *  - the graph's run ends when every event has fired.
 *
 * This header needs no CUDA header: streams are passed as void *
 * (cast to cudaStream_t). Without CUDA (a build without it, or a machine
 * without a GPU or driver) GPU tasks fail with WEFT_ENOTSUP and
 * weft_task_error() says why; everything else runs. */
#ifndef WEFT_CUDA_H
#define WEFT_CUDA_H

#include "weft/export.h"

#include "weft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A GPU task not tied to a device: the scheduler places it. */
#define WEFT_DEVICE_ANY (-1)

/* Adds a GPU task running fn(ctx, arg) as described above. Returns 0 from
 * fn when the work was enqueued; non-zero fails the task with that code
 * (what it enqueued still runs; its dependents are cancelled). A launch
 * error left by fn (cudaGetLastError) fails the task with WEFT_EDEVICE.
 * name is copied; arg is borrowed. Returns the task, or NULL (see
 * weft_graph_add_cuda_ex for the reason as a code). */
WEFT_API weft_task_t *weft_graph_add_cuda(weft_graph_t *g, const char *name, weft_fn fn, void *arg);

/* The same with a device (0 .. devices-1, or WEFT_DEVICE_ANY) and a
 * return code. Errors: WEFT_EINVAL (g, fn or out NULL, device < -1 or
 * > 63), WEFT_EBUSY (g is running), WEFT_ENOMEM. A device the machine does
 * not have fails the task when it runs (WEFT_EDEVICE, "device 3 does not
 * exist (1 device)"). */
WEFT_API int weft_graph_add_cuda_ex(weft_graph_t *g, const char *name, weft_fn fn, void *arg, int device,
                                    weft_task_t **out);

/* Where a GPU task runs: a device number or WEFT_DEVICE_ANY.
 *
 * Placement rule: GPU tasks joined by dependencies form groups that run
 * on one device in a run (tasks naming two different devices are never
 * grouped); a group's device is the one its tasks name, else the device
 * with the least GPU work in flight when its first task is enqueued. On
 * the device a task continues the stream of a dependency in its group
 * when that dependency was the last task enqueued there (a chain stays on
 * one stream), else it takes the stream with the least work in flight
 * (weft_config_t.gpu_streams streams per device).
 * Errors: WEFT_EINVAL (not a GPU task, device out of -1..63), WEFT_EBUSY. */
WEFT_API int weft_task_set_device(weft_task_t *t, int device);

/* The device a GPU task ran on in its last run, -1 when it did not run on
 * one. WEFT_EINVAL when t is not a GPU task. */
WEFT_API int weft_task_device(const weft_task_t *t);

/* A CUDA graph task: one GPU task of g that runs the GPU tasks of `sub`
 * as one CUDA graph, captured once and replayed.
 *
 * At its first run (and the first run after sub changed: tasks, edges or
 * devices added or set, or after it moves to another device) each task of
 * sub has its function called once while its stream is being captured
 * (cudaStreamBeginCapture); each task's work becomes a node of one CUDA
 * graph, after the nodes of its dependencies, and the graph is
 * instantiated. Every run of the task — including that first one — then
 * launches it on the task's stream (cudaGraphLaunch): one launch instead
 * of one per task. In g the task is an ordinary GPU task (dependencies,
 * placement, errors and traces as above).
 *
 * The rule for capture (checked where it can be; the task fails with
 * WEFT_EINVAL or WEFT_EDEVICE and weft_task_error saying which task and
 * why, and nothing hangs):
 *  - sub holds GPU tasks only (no CPU or process task, no CUDA graph task),
 *    naming no device other than the one this task runs on;
 *  - their functions only enqueue stream-ordered work on weft_ctx_stream:
 *    kernel launches, cudaMemcpyAsync/cudaMemsetAsync, cudaMallocAsync/
 *    cudaFreeAsync, library calls bound to that stream; no synchronisation
 *    (cudaStreamSynchronize, cudaMemcpy, cudaMalloc...), no other stream;
 *  - functions are called at capture only: their work is replayed as it
 *    was recorded (the same kernels, arguments and pointers), so what
 *    changes from run to run must live in device memory the kernels read;
 *  - sub is not changed, run or destroyed while g runs; sub's own tasks
 *    keep their states (they are not run by the scheduler here).
 * sub is borrowed: it must outlive g (or the next weft_graph_add_cuda_graph
 * of it). Errors: WEFT_EINVAL (g, sub or out NULL, sub == g, device out of
 * -1..63), WEFT_EBUSY (g is running), WEFT_ENOMEM. Without CUDA the task
 * fails like any GPU task (WEFT_ENOTSUP). */
WEFT_API int weft_graph_add_cuda_graph(weft_graph_t *g, const char *name, weft_graph_t *sub, int device,
                                       weft_task_t **out);

/* Inside a GPU task's function: the cudaStream_t to enqueue on, and the
 * device (already current for the calling thread). NULL and -1 outside
 * a GPU task's function. */
WEFT_API void *weft_ctx_stream(const weft_ctx_t *ctx);
WEFT_API int weft_ctx_device(const weft_ctx_t *ctx);

#ifdef __cplusplus
}
#endif
#endif
