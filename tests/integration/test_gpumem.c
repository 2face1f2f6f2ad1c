/* Pinned and device memory kinds (memory/gpu*.c) through the public API.
 * Without CUDA, a driver or a GPU: clear WEFT_ENOTSUP answers and host
 * memory unaffected (runs everywhere). With a GPU: real device and pinned
 * blocks, their statistics, a copy through them, misuse (skipped without
 * a GPU: exit 77). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>
#include <weft/cuda.h>
#ifdef WEFT_TEST_CUDA
#include <cuda_runtime.h>
#endif

#include "rt.h"
#include "testlib.h"

TEST(without_a_gpu_the_kinds_say_so)
{
    weft_runtime_t *rt = make_rt(1, 0);
    if (rt_gpus(rt) > 0)
        SKIP("this machine has a GPU");
    void *p = (void *)1;
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, 4096, &p), WEFT_ENOTSUP);
    CHECK(p == NULL);
    p = (void *)1;
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, 4096, &p), WEFT_ENOTSUP);
    CHECK(p == NULL);
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_PINNED, 0, &s), WEFT_ENOTSUP);
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_DEVICE, 0, &s), WEFT_ENOTSUP);
    /* misuse is still misuse */
    CHECK_EQ(weft_mem_alloc_kind(rt, (weft_mem_kind_t)7, 0, 64, &p), WEFT_EINVAL);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, 64, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_mem_alloc_kind(NULL, WEFT_MEM_DEVICE, 0, 64, &p), WEFT_EINVAL);
    /* host memory is unaffected */
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_HOST, 0, 4096, &p), 0);
    memset(p, 1, 4096);
    weft_mem_free(rt, p);
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_HOST, 0, &s), 0);
    CHECK_EQ(s.in_use, 0);
    weft_runtime_destroy(rt);
}

TEST(device_and_pinned_blocks)
{
    weft_runtime_t *rt = make_rt(1, 0);
    if (rt_gpus(rt) == 0)
        SKIP("no CUDA device");
    const size_t n = 1 << 20;
    void *d = NULL, *h = NULL, *h2 = NULL;
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, n, &d), 0);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, n, &h), 0);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, n, &h2), 0);
    CHECK(d && h && h2);
    CHECK_EQ(weft_mem_size(rt, d), n);
    CHECK_EQ(weft_mem_size(rt, h), n);
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_DEVICE, 0, &s), 0);
    CHECK_EQ(s.in_use, n);
    CHECK_EQ(s.allocs, 1);
    CHECK(s.reserved >= n);
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_PINNED, 0, &s), 0);
    CHECK_EQ(s.in_use, 2 * n);
    /* pinned memory is host memory */
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)h)[i] = (unsigned char)(i * 7);
#ifdef WEFT_TEST_CUDA
    /* and the device block is real: a round trip through it */
    CHECK_EQ(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice), cudaSuccess);
    CHECK_EQ(cudaMemcpy(h2, d, n, cudaMemcpyDeviceToHost), cudaSuccess);
    CHECK(memcmp(h, h2, n) == 0);
#endif
    weft_mem_free(rt, d);
    weft_mem_free(rt, h);
    weft_mem_free(rt, h2);
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_DEVICE, 0, &s), 0);
    CHECK_EQ(s.in_use, 0);
    CHECK_EQ(s.frees, 1);
    CHECK_EQ(s.peak, n);
    CHECK_EQ(weft_mem_reset_peak(rt), 0);
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_DEVICE, 0, &s), 0);
    CHECK_EQ(s.peak, 0);
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_PINNED, 0, &s), 0);
    CHECK_EQ(s.in_use, 0);
    /* no such device */
    void *p = (void *)1;
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, rt_gpus(rt), 64, &p), WEFT_EINVAL);
    CHECK(p == NULL);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, -1, 64, &p), WEFT_EINVAL);
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_DEVICE, rt_gpus(rt), &s), WEFT_EINVAL);
    /* a block left over is released with the runtime (and reported) */
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, 4096, &p), 0);
    weft_runtime_destroy(rt);
}

TEST(many_device_blocks)
{
    weft_runtime_t *rt = make_rt(1, 0);
    if (rt_gpus(rt) == 0)
        SKIP("no CUDA device");
    enum { N = 1000 };
    static void *b[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, (size_t)(i % 37 + 1) * 256, &b[i]), 0);
    for (int i = 0; i < N; i += 2) /* every other one: the table shifts entries back */
        weft_mem_free(rt, b[i]);
    for (int i = 1; i < N; i += 2)
        CHECK_EQ(weft_mem_size(rt, b[i]), (size_t)(i % 37 + 1) * 256);
    for (int i = 1; i < N; i += 2)
        weft_mem_free(rt, b[i]);
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_DEVICE, 0, &s), 0);
    CHECK_EQ(s.in_use, 0);
    CHECK_EQ(s.allocs, N);
    CHECK_EQ(s.frees, N);
    weft_runtime_destroy(rt);
}

/* Freed pinned blocks are kept for reuse (cudaHostAlloc is slow): a block
 * of the same size class comes back, reserved counts the cache, and
 * weft_mem_trim gives it back. */
TEST(pinned_blocks_are_cached)
{
    weft_runtime_t *rt = make_rt(1, 0);
    if (rt_gpus(rt) == 0)
        SKIP("no CUDA device");
    void *a, *b, *c;
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, 100000, &a), 0);
    weft_mem_free(rt, a);
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_PINNED, 0, &s), 0);
    CHECK_EQ(s.in_use, 0);
    CHECK(s.reserved >= 100000);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, 99000, &b), 0); /* same class */
    CHECK(b == a);
    CHECK_EQ(weft_mem_size(rt, b), 99000);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, 100000, &c), 0); /* none cached: a new one */
    CHECK(c != b);
    weft_mem_free(rt, b);
    weft_mem_free(rt, c);
    CHECK_EQ(weft_mem_trim(rt), 0);
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_PINNED, 0, &s), 0);
    CHECK_EQ(s.reserved, 0);
    weft_runtime_destroy(rt);
}

#ifdef WEFT_TEST_CUDA
typedef struct scratch {
    weft_runtime_t *rt;
    unsigned char *host;
    int rc;
} scratch_t;

/* A GPU task that allocates device scratch memory, uses it and frees it,
 * all in its stream's order (no synchronisation). */
static int g_scratch(weft_ctx_t *ctx, void *arg)
{
    scratch_t *s = arg;
    void *d = NULL;
    cudaStream_t st = weft_ctx_stream(ctx);
    if ((s->rc = weft_mem_alloc_kind(s->rt, WEFT_MEM_DEVICE, weft_ctx_device(ctx), 1 << 20, &d)) != 0)
        return s->rc;
    cudaMemsetAsync(d, 0x5a, 1 << 20, st);
    cudaMemcpyAsync(s->host, d, 1 << 20, cudaMemcpyDeviceToHost, st);
    weft_mem_free(s->rt, d);
    return 0;
}

static int c_scratch_check(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    scratch_t *s = arg;
    for (int i = 0; i < 1 << 20; i++)
        if (s->host[i] != 0x5a)
            return 9;
    return 0;
}

TEST(device_memory_in_stream_order_inside_gpu_tasks)
{
    weft_runtime_t *rt = make_rt(2, 0);
    if (rt_gpus(rt) == 0)
        SKIP("no CUDA device");
    scratch_t s = {rt, NULL, 0};
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, 1 << 20, (void **)&s.host), 0);
    for (int round = 0; round < 20; round++) {
        memset(s.host, 0, 1 << 20);
        weft_graph_t *g;
        CHECK_EQ(weft_graph_create(&g), 0);
        weft_task_t *a = weft_graph_add_cuda(g, "scratch", g_scratch, &s);
        weft_task_t *c = weft_graph_add(g, "check", c_scratch_check, &s);
        CHECK_EQ(weft_task_after(c, a), 0);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(s.rc, 0);
        weft_graph_destroy(g);
    }
    weft_mem_stats_t st;
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_DEVICE, 0, &st), 0);
    CHECK_EQ(st.in_use, 0);
    CHECK_EQ(st.allocs, 20);
    CHECK_EQ(st.frees, 20);
    weft_mem_free(rt, s.host);
    weft_runtime_destroy(rt);
}
#endif
