/* Pinned and device memory kinds (memory/gpu*.c) through the public API.
 * Without CUDA, a driver or a GPU: clear WEFT_ENOTSUP answers and host
 * memory unaffected (runs everywhere). With a GPU: real device and pinned
 * blocks, their statistics, a copy through them, misuse (skipped without
 * a GPU: exit 77). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>
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
