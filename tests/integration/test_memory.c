/* The memory pool through the public API: sizes and alignment, exact stats
 * and peak, blocks allocated in one task and freed in another on all
 * workers, pointers the pool does not own, double frees (-Dmem_checks),
 * the cache limit and trim, misuse. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <weft.h>

#include "rt.h"
#include "testlib.h"

static const size_t sizes[] = {0, 1, 64, 65, 100, 4096, 5000, 65536, 65537, 1 << 20, (1 << 20) + 1, 16 << 20, 20 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void fill(unsigned char *p, size_t n, unsigned char v)
{
    memset(p, v, n);
}

static int all_are(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

TEST(sizes_alignment_and_exact_stats_outside_tasks)
{
    weft_runtime_t *rt = make_rt(2, 0);
    void *p[NSIZES];
    size_t total = 0;
    for (size_t i = 0; i < NSIZES; i++) {
        p[i] = weft_mem_alloc(rt, sizes[i]);
        CHECK(p[i] != NULL);
        CHECK_EQ((uintptr_t)p[i] % 64, 0);
        size_t got = weft_mem_size(rt, p[i]);
        CHECK(got >= sizes[i] && got >= 64);
        CHECK(got <= (sizes[i] < 256 ? 256 : sizes[i] + sizes[i] / 4 + 64));
        fill(p[i], got, (unsigned char)i);
        total += got;
    }
    for (size_t i = 0; i < NSIZES; i++)
        CHECK(all_are(p[i], weft_mem_size(rt, p[i]), (unsigned char)i));
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.in_use, total);
    CHECK_EQ(s.peak, total);
    CHECK_EQ(s.allocs, NSIZES);
    CHECK_EQ(s.frees, 0);
    CHECK(s.reserved >= total);
    for (size_t i = 0; i < NSIZES; i++)
        weft_mem_free(rt, p[i]);
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.in_use, 0);
    CHECK_EQ(s.peak, total);
    CHECK_EQ(s.frees, NSIZES);
    CHECK_EQ(weft_mem_reset_peak(rt), 0);
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.peak, 0);
    /* freed blocks come back */
    void *a = weft_mem_alloc(rt, 4096);
    weft_mem_free(rt, a);
    void *b = weft_mem_alloc(rt, 4000);
    CHECK(a == b);
    weft_mem_free(rt, b);
    weft_runtime_destroy(rt);
}

/* One task allocates and frees on its worker (the cache path): counts and
 * peak are exact. */
static int one_task(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_runtime_t *rt = weft_ctx_runtime(ctx);
    void *p[100];
    for (int i = 0; i < 100; i++) {
        p[i] = weft_mem_alloc(rt, 1000); /* class 1024 */
        if (!p[i])
            return -1;
    }
    for (int i = 0; i < 100; i++)
        weft_mem_free(rt, p[i]);
    void *big = weft_mem_alloc(rt, 3 << 20);
    weft_mem_free(rt, big);
    return 0;
}

TEST(exact_stats_from_one_task)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_graph_add(g, "t", one_task, NULL);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.in_use, 0);
    CHECK_EQ(s.allocs, 101);
    CHECK_EQ(s.frees, 101);
    CHECK_EQ(s.peak, (size_t)3 << 20); /* the 3 MiB block alone beats 100 x 1 KiB */
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* Producers allocate random sizes and fill them; each block's consumer (a
 * successor, on whatever worker) checks and frees it. */
#define PAIRS 2000
static struct {
    unsigned char *p;
    size_t n;
    unsigned char v;
} blocks[PAIRS];
static atomic_int bad;

static int produce(weft_ctx_t *ctx, void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    uint64_t x = 0x9E3779B97F4A7C15ull * (i + 1);
    x ^= x >> 29;
    size_t n = (size_t)(x % 5 == 0 ? x % (300 << 10) : x % 5000);
    blocks[i].p = weft_mem_alloc(weft_ctx_runtime(ctx), n);
    blocks[i].n = n;
    blocks[i].v = (unsigned char)(i * 7);
    if (!blocks[i].p)
        return -1;
    fill(blocks[i].p, n, blocks[i].v);
    return 0;
}

static int consume(weft_ctx_t *ctx, void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    if (!all_are(blocks[i].p, blocks[i].n, blocks[i].v))
        atomic_fetch_add(&bad, 1);
    weft_mem_free(weft_ctx_runtime(ctx), blocks[i].p);
    return 0;
}

TEST(alloc_in_one_task_free_in_another_on_all_workers)
{
    weft_runtime_t *rt = make_rt(0, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    for (size_t i = 0; i < PAIRS; i++) {
        weft_task_t *a = weft_graph_add(g, NULL, produce, (void *)(uintptr_t)i);
        weft_task_t *b = weft_graph_add(g, NULL, consume, (void *)(uintptr_t)i);
        CHECK_EQ(weft_task_after(b, a), 0);
    }
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(atomic_load(&bad), 0);
    }
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.in_use, 0);
    CHECK_EQ(s.allocs, 3 * PAIRS);
    CHECK_EQ(s.frees, 3 * PAIRS);
    CHECK(s.peak > 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(pointers_the_pool_does_not_own)
{
    weft_runtime_t *rt = make_rt(1, 0), *other = make_rt(1, 0);
    void *mine = weft_mem_alloc(rt, 256);
    void *theirs = weft_mem_alloc(other, 256);
    char *heap = malloc(64);
    char stack[64];
    weft_mem_stats_t before, after;
    CHECK_EQ(weft_mem_stats(rt, &before), 0);
    weft_mem_free(rt, heap);
    weft_mem_free(rt, stack);
    weft_mem_free(rt, theirs);
    weft_mem_free(rt, (char *)mine + 64); /* inside a block */
    weft_mem_free(rt, (void *)(uintptr_t)0xdead0000);
    weft_mem_free(rt, (void *)UINTPTR_MAX);
    weft_mem_free(rt, NULL);
    CHECK_EQ(weft_mem_size(rt, heap), 0);
    CHECK_EQ(weft_mem_size(rt, theirs), 0);
    CHECK_EQ(weft_mem_size(rt, (char *)mine + 64), 0);
    CHECK_EQ(weft_mem_stats(rt, &after), 0);
    CHECK_EQ(after.in_use, before.in_use);
    CHECK_EQ(after.frees, before.frees);
    /* the pool still works, and hands out nothing twice */
    void *x = weft_mem_alloc(rt, 256), *y = weft_mem_alloc(rt, 256);
    CHECK(x && y && x != y && x != mine && y != mine);
    weft_mem_free(rt, x);
    weft_mem_free(rt, y);
    weft_mem_free(rt, mine);
    weft_mem_free(other, theirs);
    free(heap);
    weft_runtime_destroy(other);
    weft_runtime_destroy(rt);
}

TEST(double_free_is_caught_with_checks)
{
#if !WEFT_MEM_CHECKS
    exit(TEST_SKIP_CODE); /* built without -Dmem_checks (CI's sanitizer builds have it) */
#else
    weft_runtime_t *rt = make_rt(1, 0);
    void *p = weft_mem_alloc(rt, 512);
    weft_mem_free(rt, p);
    weft_mem_free(rt, p); /* reported and ignored */
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.frees, 1);
    void *a = weft_mem_alloc(rt, 512), *b = weft_mem_alloc(rt, 512);
    CHECK(a != b);
    weft_mem_free(rt, a);
    weft_mem_free(rt, b);
    weft_runtime_destroy(rt);
#endif
}

/* With checks, calls on a destroyed runtime are reported and refused
 * instead of reading freed memory. */
TEST(destroyed_runtime_is_caught_with_checks)
{
#if !WEFT_MEM_CHECKS
    exit(TEST_SKIP_CODE);
#else
    weft_runtime_t *rt = make_rt(1, 0);
    void *p = weft_mem_alloc(rt, 100);
    CHECK(p != NULL);
    weft_mem_free(rt, p);
    weft_runtime_destroy(rt);
    weft_mem_stats_t s;
    CHECK(weft_mem_alloc(rt, 100) == NULL);
    weft_mem_free(rt, p);
    CHECK_EQ(weft_mem_stats(rt, &s), WEFT_EINVAL);
    CHECK_EQ(weft_mem_trim(rt), WEFT_EINVAL);
    CHECK_EQ(weft_mem_track_start(rt, 1), WEFT_EINVAL);
    weft_tensor_t *t = (weft_tensor_t *)1;
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 0, NULL, WEFT_MEM_HOST, 0, &t), WEFT_EINVAL);
    CHECK(t == NULL);
#endif
}

/* Under ASan, free blocks are poisoned: touching one is reported. */
TEST(use_after_free_is_seen_by_asan)
{
#if !defined(__SANITIZE_ADDRESS__)
    exit(TEST_SKIP_CODE);
#else
    weft_runtime_t *rt = make_rt(1, 0);
    char *p = weft_mem_alloc(rt, 1000);
    CHECK(p != NULL);
    p[999] = 1; /* fine while allocated */
    weft_mem_free(rt, p);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        ((volatile char *)p)[500] = 1; /* ASan stops here */
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 0));
    char *q = weft_mem_alloc(rt, 1000); /* the same block, usable again */
    CHECK(q == p);
    q[500] = 2;
    weft_mem_free(rt, q);
    weft_runtime_destroy(rt);
#endif
}

TEST(cache_limit_and_trim)
{
    weft_runtime_t *rt = make_rt(1, 0);
    weft_mem_stats_t s;
    void *p = weft_mem_alloc(rt, 8 << 20);
    CHECK(p != NULL);
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    size_t with = s.reserved;
    weft_mem_free(rt, p); /* kept for reuse */
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.reserved, with);
    void *q = weft_mem_alloc(rt, 8 << 20);
    CHECK(q == p);
    weft_mem_free(rt, q);
    CHECK_EQ(weft_mem_trim(rt), 0); /* given back */
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.reserved, with - (8u << 20));
    CHECK_EQ(weft_mem_set_cache_limit(rt, 0), 0);
    p = weft_mem_alloc(rt, 2 << 20);
    weft_mem_free(rt, p); /* over the limit: given back at once */
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.reserved, with - (8u << 20));
    CHECK_EQ(s.in_use, 0);
    weft_runtime_destroy(rt);
}

TEST(misuse)
{
    weft_runtime_t *rt = make_rt(1, 0);
    weft_mem_stats_t s;
    void *out = (void *)1;
    CHECK(weft_mem_alloc(NULL, 64) == NULL);
    weft_mem_free(NULL, NULL);
    CHECK_EQ(weft_mem_stats(NULL, &s), WEFT_EINVAL);
    CHECK_EQ(weft_mem_stats(rt, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_mem_reset_peak(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_mem_set_cache_limit(NULL, 0), WEFT_EINVAL);
    CHECK_EQ(weft_mem_trim(NULL), WEFT_EINVAL);
    CHECK_EQ(weft_mem_size(NULL, &s), 0);
    CHECK(weft_mem_alloc(rt, SIZE_MAX) == NULL);
    CHECK(weft_mem_alloc(rt, (size_t)1 << 47) == NULL);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_HOST, 0, SIZE_MAX, &out), WEFT_EINVAL);
    CHECK(out == NULL);
    CHECK_EQ(weft_mem_alloc_kind(rt, (weft_mem_kind_t)7, 0, 64, &out), WEFT_EINVAL);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_PINNED, 0, 64, &out), WEFT_ENOTSUP);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_DEVICE, 0, 64, &out), WEFT_ENOTSUP);
    CHECK_EQ(weft_mem_alloc_kind(NULL, WEFT_MEM_HOST, 0, 64, &out), WEFT_EINVAL);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_HOST, 0, 64, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_mem_stats_kind(rt, WEFT_MEM_DEVICE, 0, &s), WEFT_ENOTSUP);
    CHECK_EQ(weft_mem_stats_kind(rt, (weft_mem_kind_t)-1, 0, &s), WEFT_EINVAL);
    CHECK_EQ(weft_mem_alloc_kind(rt, WEFT_MEM_HOST, 0, 64, &out), 0);
    CHECK(out != NULL);
    weft_mem_free(rt, out);
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    CHECK_EQ(s.in_use, 0);
    weft_runtime_destroy(rt);
}
