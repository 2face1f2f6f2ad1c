/* GPU tasks through the public API (include/weft/cuda.h).
 * Without CUDA, a driver or a GPU: GPU tasks fail with WEFT_ENOTSUP and a
 * message saying why, their dependents are cancelled and CPU work runs
 * (runs everywhere). With a GPU (suite `cuda`): real streams — a chain of
 * copies and memsets checked by a CPU task, independent tasks over the
 * stream pool, a launch error, and (built with nvcc) empty kernels and an
 * illegal-address fault that loses the device without hanging. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>
#include <weft/cuda.h>
#ifdef WEFT_TEST_CUDA
#include <cuda_runtime.h>
#endif

#include "rt.h"
#include "testlib.h"

static int cpu_nop(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

static int gpu_nothing(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    CHECK(weft_ctx_stream(ctx) != NULL);
    return 0;
}

TEST(without_a_gpu_gpu_tasks_fail_clearly_and_cpu_work_runs)
{
    weft_runtime_t *rt = make_rt(2, 0);
    if (rt_gpus(rt) > 0)
        SKIP("this machine has a GPU");
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *gt = weft_graph_add_cuda(g, "gpu", gpu_nothing, NULL);
    weft_task_t *after = weft_graph_add(g, "after", cpu_nop, NULL);
    weft_task_t *other = weft_graph_add(g, "other", cpu_nop, NULL);
    CHECK(gt && after && other);
    CHECK_EQ(weft_task_after(after, gt), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(gt), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(gt), WEFT_ENOTSUP);
    CHECK_EQ(weft_task_device(gt), -1);
    const char *why = weft_task_error(gt);
#ifdef WEFT_TEST_CUDA
    CHECK(strncmp(why, "no CUDA device (", 16) == 0);
#else
    CHECK(strncmp(why, "weft was built without CUDA", 27) == 0);
#endif
    CHECK(strstr(weft_graph_error(g), why) != NULL);
    CHECK_EQ(weft_task_state(after), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(other), WEFT_TASK_DONE);
    /* again, and from a second graph: the same answer, no crash */
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_STR(weft_task_error(gt), why);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

#ifdef WEFT_TEST_CUDA

#define N (1 << 20)

typedef struct bufs {
    unsigned char *dev_a, *dev_b, *host;
} bufs_t;

static int g_memset(weft_ctx_t *ctx, void *arg)
{
    bufs_t *b = arg;
    return cudaMemsetAsync(b->dev_a, 7, N, (cudaStream_t)weft_ctx_stream(ctx)) == cudaSuccess ? 0 : 1;
}

static int g_d2d(weft_ctx_t *ctx, void *arg)
{
    bufs_t *b = arg;
    return cudaMemcpyAsync(b->dev_b, b->dev_a, N, cudaMemcpyDeviceToDevice, (cudaStream_t)weft_ctx_stream(ctx)) ==
                   cudaSuccess
               ? 0
               : 1;
}

static int g_d2h(weft_ctx_t *ctx, void *arg)
{
    bufs_t *b = arg;
    return cudaMemcpyAsync(b->host, b->dev_b, N, cudaMemcpyDeviceToHost, (cudaStream_t)weft_ctx_stream(ctx)) ==
                   cudaSuccess
               ? 0
               : 1;
}

static int c_check(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    bufs_t *b = arg;
    for (size_t i = 0; i < N; i += 4093)
        if (b->host[i] != 7)
            return 9;
    return b->host[N - 1] == 7 ? 0 : 9;
}

static void need_gpu(weft_runtime_t *rt)
{
    if (rt_gpus(rt) == 0) {
        weft_runtime_destroy(rt);
        SKIP("no GPU");
    }
}

/* memset -> device copy -> copy to the host (GPU tasks) -> check (CPU). */
static weft_graph_t *copy_chain(bufs_t *b, weft_task_t **d2h, weft_task_t **check)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *a = weft_graph_add_cuda(g, "memset", g_memset, b);
    weft_task_t *c = weft_graph_add_cuda(g, "d2d", g_d2d, b);
    *d2h = weft_graph_add_cuda(g, "d2h", g_d2h, b);
    *check = weft_graph_add(g, "check", c_check, b);
    CHECK_EQ(weft_task_after(c, a), 0);
    CHECK_EQ(weft_task_after(*d2h, c), 0);
    CHECK_EQ(weft_task_after(*check, *d2h), 0);
    return g;
}

TEST(gpu_chain_then_cpu_check)
{
    weft_runtime_t *rt = make_rt(2, 0);
    need_gpu(rt);
    bufs_t b;
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, N, (void **)&b.dev_a), 0);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, N, (void **)&b.dev_b), 0);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, N, (void **)&b.host), 0);
    for (int round = 0; round < 3; round++) {
        memset(b.host, 0, N);
        weft_task_t *d, *k;
        weft_graph_t *g = copy_chain(&b, &d, &k);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(weft_task_state(k), WEFT_TASK_DONE);
        CHECK_EQ(weft_task_device(d), 0);
        weft_graph_destroy(g);
    }
    weft_mem_free(rt, b.dev_a);
    weft_mem_free(rt, b.dev_b);
    weft_mem_free(rt, b.host);
    weft_runtime_destroy(rt);
}

/* A traced run: each GPU task's time on the device is a slice on its
 * CUDA stream's track, and device memory is a counter track. */
TEST(gpu_time_and_device_memory_in_the_trace)
{
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = 2;
    cfg.flags = WEFT_CONFIG_QUIET;
    cfg.trace = 1;
    cfg.trace_sample_us = 1000;
    weft_runtime_t *rt = NULL;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    need_gpu(rt);
    bufs_t b;
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, N, (void **)&b.dev_a), 0);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, N, (void **)&b.dev_b), 0);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, N, (void **)&b.host), 0);
    weft_task_t *d, *k;
    weft_graph_t *g = copy_chain(&b, &d, &k);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    char *text = trace_text(rt);
    CHECK(strstr(text, "\"cuda stream 0\"") != NULL);
    int slices = 0;
    for (const char *p = text; (p = strstr(p, "\"device\":0,\"stream\":")); p++)
        slices++;
    CHECK_EQ(slices, 3);
    CHECK(strstr(text, "device 0 memory in use (bytes)") != NULL);
    free(text);
    weft_graph_destroy(g);
    weft_mem_free(rt, b.dev_a);
    weft_mem_free(rt, b.dev_b);
    weft_mem_free(rt, b.host);
    weft_runtime_destroy(rt);
}

static int g_bad_memset(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    /* an invalid device pointer: the call fails at once, leaving the
     * thread's last error set (like a bad launch) */
    cudaMemsetAsync((void *)16, 0, 64, (cudaStream_t)weft_ctx_stream(ctx));
    return 0;
}

TEST(gpu_launch_error_fails_the_task_with_the_cuda_text)
{
    weft_runtime_t *rt = make_rt(2, 0);
    need_gpu(rt);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *bad = weft_graph_add_cuda(g, "bad", g_bad_memset, NULL);
    weft_task_t *after = weft_graph_add(g, "after", cpu_nop, NULL);
    CHECK_EQ(weft_task_after(after, bad), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_status(bad), WEFT_EDEVICE);
    CHECK(strncmp(weft_task_error(bad), "CUDA error ", 11) == 0);
    CHECK_EQ(weft_task_state(after), WEFT_TASK_CANCELLED);
    /* the device still works */
    weft_graph_t *g2;
    CHECK_EQ(weft_graph_create(&g2), 0);
    weft_task_t *ok = weft_graph_add_cuda(g2, "ok", gpu_nothing, NULL);
    CHECK_EQ(weft_graph_run(rt, g2), 0);
    CHECK_EQ(weft_task_state(ok), WEFT_TASK_DONE);
    weft_graph_destroy(g2);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

#ifdef WEFT_TEST_KERNELS
/* tests/integration/cuda_kernels.cu */
int weft_test_empty_kernel(void *stream);
int weft_test_fault_kernel(void *stream);
int weft_test_add_kernel(int *p, void *stream);

static int g_empty(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_test_empty_kernel(weft_ctx_stream(ctx));
}

static int g_fault(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_test_fault_kernel(weft_ctx_stream(ctx));
}

TEST(gpu_many_kernels_chains_and_fan_out)
{
    weft_runtime_t *rt = make_rt(2, 0);
    need_gpu(rt);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *prev = NULL;
    for (int i = 0; i < 2000; i++) {
        weft_task_t *t = weft_graph_add_cuda(g, "k", g_empty, NULL);
        if (prev && i % 2 == 0)
            CHECK_EQ(weft_task_after(t, prev), 0);
        prev = t;
    }
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int g_add(weft_ctx_t *ctx, void *arg)
{
    return weft_test_add_kernel(arg, weft_ctx_stream(ctx));
}

typedef struct counter {
    int *dev;
    int want;
} counter_t;

static int c_counter(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    counter_t *c = arg;
    int got = -1;
    if (cudaMemcpy(&got, c->dev, sizeof got, cudaMemcpyDeviceToHost) != cudaSuccess)
        return 98;
    return got == c->want ? 0 : 99;
}

/* 100 kernels in a chain captured once into a CUDA graph task and
 * replayed at every run of the graph holding it: each run adds 100. */
TEST(gpu_cuda_graph_replayed)
{
    weft_runtime_t *rt = make_rt(2, 0);
    need_gpu(rt);
    counter_t c = {NULL, 0};
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, sizeof(int), (void **)&c.dev), 0);
    CHECK_EQ(cudaMemset(c.dev, 0, sizeof(int)), cudaSuccess);
    weft_graph_t *sub, *g;
    CHECK_EQ(weft_graph_create(&sub), 0);
    weft_task_t *prev = NULL;
    for (int i = 0; i < 100; i++) {
        weft_task_t *t = weft_graph_add_cuda(sub, "add", g_add, c.dev);
        if (prev)
            CHECK_EQ(weft_task_after(t, prev), 0);
        prev = t;
    }
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *cg, *check = weft_graph_add(g, "check", c_counter, &c);
    CHECK_EQ(weft_graph_add_cuda_graph(g, "adds", sub, WEFT_DEVICE_ANY, &cg), 0);
    CHECK_EQ(weft_task_after(check, cg), 0);
    for (int run = 1; run <= 5; run++) {
        c.want = 100 * run;
        CHECK_EQ(weft_graph_run(rt, g), 0);
    }
    weft_graph_destroy(g);
    weft_graph_destroy(sub);
    weft_mem_free(rt, c.dev);
    weft_runtime_destroy(rt);
}

/* ---- tensors between host and device (weft_ctx_dep_tensor) ---- */

int weft_test_axpb_kernel(float *out, const float *in, int n, float a, float b, void *stream);

#define TN (1 << 20)

static int t_make(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_tensor_t *t;
    int64_t n = TN;
    int rc = weft_tensor_create(weft_ctx_runtime(ctx), WEFT_F32, 1, &n, WEFT_MEM_HOST, 0, &t);
    if (rc)
        return rc;
    float *p = weft_tensor_data(t);
    for (int i = 0; i < TN; i++)
        p[i] = (float)(i % 1000);
    return weft_ctx_publish(ctx, t);
}

/* out = 2 in + 1 on the device, in copied there by weft */
static int t_scale(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_tensor_t *in, *out;
    int rc = weft_ctx_dep_tensor(ctx, 0, &in);
    if (rc)
        return rc;
    if (weft_tensor_kind(in) != WEFT_MEM_DEVICE || weft_tensor_device(in) != weft_ctx_device(ctx))
        return 97;
    int64_t n = TN;
    rc = weft_tensor_create(weft_ctx_runtime(ctx), WEFT_F32, 1, &n, WEFT_MEM_DEVICE, weft_ctx_device(ctx), &out);
    if (rc)
        return rc;
    weft_test_axpb_kernel(weft_tensor_data(out), weft_tensor_data(in), TN, 2.0f, 1.0f, weft_ctx_stream(ctx));
    return weft_ctx_publish(ctx, out);
}

static int t_check(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_tensor_t *r;
    int rc = weft_ctx_dep_tensor(ctx, 0, &r);
    if (rc)
        return rc;
    if (weft_tensor_kind(r) != WEFT_MEM_PINNED)
        return 98;
    const float *p = weft_tensor_data(r);
    for (int i = 0; i < TN; i++)
        if (p[i] != 2.0f * (float)(i % 1000) + 1.0f)
            return 99;
    return 0;
}

/* host tensor -> GPU task (copied in on its stream) -> device tensor ->
 * CPU task (copied out before the GPU task's event), three runs; the
 * copies go with the tensors. */
TEST(gpu_tensors_move_between_host_and_device)
{
    weft_runtime_t *rt = make_rt(2, 0);
    need_gpu(rt);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *mk = weft_graph_add(g, "make", t_make, NULL), *sc;
    CHECK_EQ(weft_graph_add_cuda_ex(g, "scale", t_scale, NULL, 0, &sc), 0);
    weft_task_t *ck = weft_graph_add(g, "check", t_check, NULL);
    CHECK_EQ(weft_task_after(sc, mk), 0);
    CHECK_EQ(weft_task_after(ck, sc), 0);
    for (int run = 0; run < 3; run++) {
        CHECK_EQ(weft_graph_run(rt, g), 0);
        weft_mem_stats_t st;
        CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_DEVICE, 0, &st), 0);
        CHECK_EQ(st.in_use, 0);
    }
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* Runs in a child process: the fault makes the device unusable for the
 * rest of the process. */
TEST(gpu_fault_loses_the_device_without_hanging)
{
    weft_runtime_t *rt = make_rt(2, 0);
    need_gpu(rt);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *bad = weft_graph_add_cuda(g, "bad", g_fault, NULL);
    weft_task_t *gafter = weft_graph_add_cuda(g, "gpu-after", g_empty, NULL);
    weft_task_t *cafter = weft_graph_add(g, "cpu-after", cpu_nop, NULL);
    weft_task_t *other = weft_graph_add(g, "other", cpu_nop, NULL);
    CHECK_EQ(weft_task_after(gafter, bad), 0);
    CHECK_EQ(weft_task_after(cafter, gafter), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_state(bad), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_status(bad), WEFT_EDEVICE);
    CHECK(strstr(weft_task_error(bad), "cudaErrorIllegalAddress") != NULL);
    CHECK(strstr(weft_task_error(bad), "device 0 is lost") != NULL);
    CHECK_EQ(weft_task_state(gafter), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_state(cafter), WEFT_TASK_CANCELLED);
    CHECK_EQ(weft_task_state(other), WEFT_TASK_DONE);
    /* later GPU tasks fail at once; CPU work goes on */
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK(strstr(weft_task_error(bad), "device 0 is lost") != NULL);
    CHECK_EQ(weft_task_state(other), WEFT_TASK_DONE);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}
#endif /* WEFT_TEST_KERNELS */
#endif /* WEFT_TEST_CUDA */
