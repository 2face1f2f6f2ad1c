/* Tensors between memories, on the simulated device (tests/lib/simgpu.h):
 * weft_tensor_copy across host, pinned and device memory for any layout,
 * and weft_ctx_dep_tensor — a GPU task consuming a host tensor gets a copy
 * on its device made on its stream ahead of its work (one per device,
 * shared across streams through an event), CPU tasks consuming a GPU
 * task's device tensor get the host copy made on its stream before its
 * event; copies go with the tensor; errors fail the task saying why. */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <weft.h>
#include <weft/cuda.h>

#include "rt.h"
#include "simgpu.h"
#include "testlib.h"

static int64_t stat_of(weft_runtime_t *rt, weft_mem_kind_t kind, int dev, int what)
{
    weft_mem_stats_t st;
    CHECK_EQ(weft_mem_stats_kind(rt, kind, dev, &st), 0);
    return what == 0 ? (int64_t)st.in_use : (int64_t)st.allocs;
}

/* ==== copies ======================================================================= */

static weft_tensor_t *iota(weft_runtime_t *rt, int ndim, const int64_t *shape)
{
    weft_tensor_t *t;
    CHECK_EQ(weft_tensor_create(rt, WEFT_F64, ndim, shape, WEFT_MEM_HOST, 0, &t), 0);
    double *p = weft_tensor_data(t);
    for (int64_t i = 0; i < weft_tensor_numel(t); i++)
        p[i] = (double)i;
    return t;
}

/* v's elements, row-major, equal those of the contiguous host tensor c. */
static void check_same(const weft_tensor_t *v, const weft_tensor_t *c)
{
    CHECK_EQ(weft_tensor_numel(v), weft_tensor_numel(c));
    int nd = weft_tensor_ndim(v);
    const int64_t *sh = weft_tensor_shape(v);
    int64_t idx[WEFT_TENSOR_MAX_DIMS] = {0};
    const double *cp = weft_tensor_data(c);
    for (int64_t k = 0; k < weft_tensor_numel(v); k++) {
        double a;
        CHECK_EQ(weft_tensor_get(v, idx, &a), 0);
        CHECK_EQ(a, cp[k]);
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < sh[d])
                break;
            idx[d] = 0;
        }
    }
}

/* A view to device memory and back: the same elements, in as many 2-D
 * copies as the layout needs. */
static void round_trip(weft_runtime_t *rt, weft_tensor_t *v, int copies_there)
{
    weft_tensor_t *dev, *back;
    int nd = weft_tensor_ndim(v);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F64, nd, weft_tensor_shape(v), WEFT_MEM_DEVICE, 1, &dev), 0);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F64, nd, weft_tensor_shape(v), WEFT_MEM_PINNED, 0, &back), 0);
    atomic_store(&sim_copies, 0);
    CHECK_EQ(weft_tensor_copy(dev, v), 0);
    CHECK_EQ(atomic_load(&sim_copies), copies_there);
    CHECK_EQ(weft_tensor_copy(back, dev), 0);
    check_same(v, back);
    weft_tensor_release(dev);
    weft_tensor_release(back);
}

TEST(copies_between_memories_keep_every_layout)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    int64_t shape[3] = {3, 4, 5};
    weft_tensor_t *t = iota(rt, 3, shape), *v;
    round_trip(rt, t, 1); /* contiguous: one copy */
    /* rows 1..2 of each matrix: one 2-D copy (3 blocks of 2 rows, a pitch apart) */
    CHECK_EQ(weft_tensor_slice(t, 1, 1, 3, 1, &v), 0);
    round_trip(rt, v, 1);
    weft_tensor_release(v);
    /* every other matrix, whole: 2 contiguous blocks one pitch apart */
    CHECK_EQ(weft_tensor_slice(t, 0, 0, 3, 2, &v), 0);
    round_trip(rt, v, 1);
    weft_tensor_release(v);
    /* every other column: single elements, one 2-D copy per row */
    CHECK_EQ(weft_tensor_slice(t, 2, 0, 5, 2, &v), 0);
    round_trip(rt, v, 12);
    weft_tensor_release(v);
    /* rows reversed: negative pitch, a copy per row */
    CHECK_EQ(weft_tensor_slice(t, 1, -1, -5, -1, &v), 0);
    round_trip(rt, v, 12);
    weft_tensor_release(v);
    /* a transpose of the last two dimensions */
    int64_t tsh[3] = {3, 5, 4}, tst[3] = {20, 1, 5};
    CHECK_EQ(weft_tensor_view(t, 3, tsh, tst, 0, &v), 0);
    round_trip(rt, v, 15);
    weft_tensor_release(v);
    /* a scalar, and an empty tensor (no copy) */
    CHECK_EQ(weft_tensor_view(t, 0, NULL, NULL, 7, &v), 0);
    round_trip(rt, v, 1);
    weft_tensor_release(v);
    int64_t none[2] = {0, 3};
    weft_tensor_t *e = iota(rt, 2, none);
    round_trip(rt, e, 0);
    weft_tensor_release(e);

    /* device to device, overlapping views of one storage: as if through
     * a temporary */
    int64_t n8[1] = {8};
    weft_tensor_t *h = iota(rt, 1, n8), *d, *lo, *hi;
    CHECK_EQ(weft_tensor_create(rt, WEFT_F64, 1, n8, WEFT_MEM_DEVICE, 0, &d), 0);
    CHECK_EQ(weft_tensor_copy(d, h), 0);
    CHECK_EQ(weft_tensor_slice(d, 0, 0, 6, 1, &lo), 0);
    CHECK_EQ(weft_tensor_slice(d, 0, 2, 8, 1, &hi), 0);
    CHECK_EQ(weft_tensor_copy(hi, lo), 0);
    CHECK_EQ(weft_tensor_copy(h, d), 0);
    const double want[8] = {0, 1, 0, 1, 2, 3, 4, 5};
    CHECK_EQ(memcmp(weft_tensor_data(h), want, sizeof want), 0);
    /* device tensors are not read element by element on the host */
    double x;
    int64_t i0 = 0;
    CHECK_EQ(weft_tensor_get(d, &i0, &x), WEFT_ENOTSUP);
    CHECK_EQ(weft_tensor_fill(d, 1.0), WEFT_ENOTSUP);
    weft_tensor_release(lo);
    weft_tensor_release(hi);
    weft_tensor_release(d);
    weft_tensor_release(h);
    weft_tensor_release(t);
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 0, 0), 0);
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 1, 0), 0);
    weft_runtime_destroy(rt);
}

/* ==== a GPU task consuming a host tensor ================================================ */

#define N 4096

typedef struct use {
    _Atomic int calls;
    const double *host;     /* what the producer published */
    const double *seen[4];  /* the consumers' device pointers */
    _Atomic int64_t sum[4]; /* what their kernels summed */
    int kind[4], dev[4];
    double base;         /* the producer's first value */
    weft_tensor_t *keep; /* published again at every run, when set */
} use_t;

static int make_host(weft_ctx_t *ctx, void *arg)
{
    use_t *u = arg;
    weft_tensor_t *t = u->keep;
    int64_t n = N;
    if (t)
        weft_tensor_retain(t);
    else
        CHECK_EQ(weft_tensor_create(weft_ctx_runtime(ctx), WEFT_F64, 1, &n, WEFT_MEM_HOST, 0, &t), 0);
    double *p = weft_tensor_data(t);
    for (int i = 0; i < N; i++)
        p[i] = u->base + i;
    u->host = p;
    return weft_ctx_publish(ctx, t);
}

typedef struct sum_k {
    const double *p;
    _Atomic int64_t *out;
} sum_k_t;

static int sum_kernel(void *arg)
{
    sum_k_t *k = arg;
    double s = 0;
    for (int i = 0; i < N; i++)
        s += k->p[i];
    atomic_store(k->out, (int64_t)s);
    free(k);
    return 0;
}

static int use_on_gpu(weft_ctx_t *ctx, void *arg)
{
    use_t *u = arg;
    int me = atomic_fetch_add(&u->calls, 1);
    weft_tensor_t *t;
    int rc = weft_ctx_dep_tensor(ctx, 0, &t);
    if (rc)
        return rc;
    u->seen[me] = weft_tensor_data(t);
    u->kind[me] = weft_tensor_kind(t);
    u->dev[me] = weft_tensor_device(t);
    sum_k_t *k = malloc(sizeof *k);
    *k = (sum_k_t){weft_tensor_data(t), &u->sum[me]};
    launch(ctx, sum_kernel, k);
    return 0;
}

static int64_t expected_sum(double base)
{
    return (int64_t)(base * N + (double)N * (N - 1) / 2);
}

TEST(gpu_consumers_get_one_copy_on_their_device_ahead_of_their_work)
{
    weft_runtime_t *rt = make_sim_rt(2, 4);
    atomic_store(&sim_copy_ms, 30); /* a slow copy: unordered kernels would sum garbage */
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    use_t u = {.base = 1};
    weft_task_t *mk = weft_graph_add(g, "make", make_host, &u), *c[3];
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(weft_graph_add_cuda_ex(g, "use", use_on_gpu, &u, i < 2 ? 0 : 1, &c[i]), 0);
        CHECK_EQ(weft_task_after(c[i], mk), 0);
    }
    int64_t d0 = stat_of(rt, WEFT_MEM_DEVICE, 0, 1), d1 = stat_of(rt, WEFT_MEM_DEVICE, 1, 1);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    atomic_store(&sim_copy_ms, 0);
    CHECK_EQ(atomic_load(&u.calls), 3);
    /* the two consumers on device 0 (on two streams: they are independent)
     * share one copy; device 1 has its own; each kernel saw the whole data */
    int on0[2], k = 0, on1 = -1;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(u.kind[i], WEFT_MEM_DEVICE);
        CHECK(u.seen[i] != u.host);
        CHECK_EQ(atomic_load(&u.sum[i]), expected_sum(1));
        if (u.dev[i] == 0)
            on0[k++] = i;
        else
            on1 = i;
    }
    CHECK_EQ(k, 2);
    CHECK(on1 >= 0);
    CHECK(u.seen[on0[0]] == u.seen[on0[1]]);
    CHECK(u.seen[on1] != u.seen[on0[0]]);
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 0, 1) - d0, 1);
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 1, 1) - d1, 1);
    /* the copies went with the tensor, when its last consumer finished */
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 0, 0), 0);
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 1, 0), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* A tensor published again (here one kept across runs) is copied again:
 * no stale copy from the run before. */
TEST(a_tensor_published_again_is_copied_again)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    int64_t n = N;
    use_t u = {.base = 1};
    CHECK_EQ(weft_tensor_create(rt, WEFT_F64, 1, &n, WEFT_MEM_HOST, 0, &u.keep), 0);
    weft_task_t *mk = weft_graph_add(g, "make", make_host, &u), *c;
    CHECK_EQ(weft_graph_add_cuda_ex(g, "use", use_on_gpu, &u, 0, &c), 0);
    CHECK_EQ(weft_task_after(c, mk), 0);
    for (int run = 0; run < 3; run++) {
        atomic_store(&u.calls, 0);
        u.base = 10.0 * run;
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(atomic_load(&u.sum[0]), expected_sum(u.base));
    }
    /* the tensor is still held here, and so is its last copy */
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 0, 0), N * 8);
    weft_tensor_release(u.keep);
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 0, 0), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ==== CPU tasks consuming a GPU task's device tensor ===================================== */

typedef struct prod {
    double *dev;          /* the device tensor's data */
    const double *got[3]; /* what the consumers were given */
    int kind[3];
    _Atomic int ok[3];
    _Atomic int kernel_done;
    _Atomic int early;       /* a CPU consumer started before the kernel ended */
    _Atomic int copied_late; /* a CPU consumer's call made a copy */
} prod_t;

static int write_kernel(void *arg)
{
    prod_t *p = arg;
    msleep(30);
    for (int i = 0; i < N; i++)
        p->dev[i] = 0.5 * i;
    atomic_store(&p->kernel_done, 1);
    return 0;
}

static int produce_on_gpu(weft_ctx_t *ctx, void *arg)
{
    prod_t *p = arg;
    weft_tensor_t *t;
    int64_t n = N;
    int rc = weft_tensor_create(weft_ctx_runtime(ctx), WEFT_F64, 1, &n, WEFT_MEM_DEVICE, weft_ctx_device(ctx), &t);
    if (rc)
        return rc;
    p->dev = weft_tensor_data(t);
    launch(ctx, write_kernel, p);
    return weft_ctx_publish(ctx, t);
}

static int consume(weft_ctx_t *ctx, prod_t *p, int me)
{
    if (!atomic_load(&p->kernel_done))
        atomic_store(&p->early, 1);
    weft_tensor_t *t;
    int copies = atomic_load(&sim_copies);
    int rc = weft_ctx_dep_tensor(ctx, 0, &t);
    if (rc)
        return rc;
    if (atomic_load(&sim_copies) != copies)
        atomic_store(&p->copied_late, 1);
    const double *d = weft_tensor_data(t);
    p->got[me] = d;
    p->kind[me] = weft_tensor_kind(t);
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= d[i] == 0.5 * i;
    atomic_store(&p->ok[me], ok);
    return 0;
}

static int consume_cpu0(weft_ctx_t *ctx, void *arg)
{
    return consume(ctx, arg, 0);
}

static int consume_cpu1(weft_ctx_t *ctx, void *arg)
{
    return consume(ctx, arg, 1);
}

static int consume_gpu(weft_ctx_t *ctx, void *arg)
{
    prod_t *p = arg;
    weft_tensor_t *t;
    int rc = weft_ctx_dep_tensor(ctx, 0, &t);
    p->got[2] = rc ? NULL : weft_tensor_data(t);
    p->kind[2] = rc ? -1 : (int)weft_tensor_kind(t);
    return rc;
}

TEST(cpu_consumers_find_the_host_copy_made_before_the_event)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    prod_t p;
    memset(&p, 0, sizeof p);
    weft_task_t *pr, *gc;
    CHECK_EQ(weft_graph_add_cuda_ex(g, "produce", produce_on_gpu, &p, 1, &pr), 0);
    weft_task_t *c0 = weft_graph_add(g, "cpu0", consume_cpu0, &p), *c1 = weft_graph_add(g, "cpu1", consume_cpu1, &p);
    CHECK_EQ(weft_graph_add_cuda_ex(g, "gpu", consume_gpu, &p, 1, &gc), 0);
    CHECK_EQ(weft_task_after(c0, pr), 0);
    CHECK_EQ(weft_task_after(c1, pr), 0);
    CHECK_EQ(weft_task_after(gc, pr), 0);
    int64_t pinned = stat_of(rt, WEFT_MEM_PINNED, 0, 1);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(atomic_load(&p.early), 0);
    CHECK_EQ(atomic_load(&p.copied_late), 0); /* the producer's stream made it */
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(atomic_load(&p.ok[i]), 1);
        CHECK_EQ(p.kind[i], WEFT_MEM_PINNED);
    }
    CHECK(p.got[0] == p.got[1]); /* one host copy, made by the producer */
    CHECK_EQ(stat_of(rt, WEFT_MEM_PINNED, 0, 1) - pinned, 1);
    /* the GPU consumer on the same device reads the tensor itself */
    CHECK(p.got[2] == p.dev);
    CHECK_EQ(p.kind[2], WEFT_MEM_DEVICE);
    CHECK_EQ(stat_of(rt, WEFT_MEM_PINNED, 0, 0), 0);
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 1, 0), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* Only GPU successors: no host copy. */
TEST(no_host_copy_without_cpu_consumers)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    prod_t p;
    memset(&p, 0, sizeof p);
    weft_task_t *pr, *gc;
    CHECK_EQ(weft_graph_add_cuda_ex(g, "produce", produce_on_gpu, &p, 0, &pr), 0);
    CHECK_EQ(weft_graph_add_cuda_ex(g, "gpu", consume_gpu, &p, 0, &gc), 0);
    CHECK_EQ(weft_task_after(gc, pr), 0);
    int64_t pinned = stat_of(rt, WEFT_MEM_PINNED, 0, 1);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(stat_of(rt, WEFT_MEM_PINNED, 0, 1), pinned);
    CHECK(p.got[2] == p.dev);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* ==== errors ============================================================================= */

static int publish_plain(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_ctx_set_result(ctx, (void *)"not a tensor", NULL);
}

static int nothing(weft_ctx_t *ctx, void *arg)
{
    (void)ctx, (void)arg;
    return 0;
}

static int misuse_cpu(weft_ctx_t *ctx, void *arg)
{
    int *bad = arg;
    weft_tensor_t *t = (weft_tensor_t *)1;
    if (weft_ctx_dep_tensor(ctx, 0, NULL) != WEFT_EINVAL)
        (*bad)++;
    if (weft_ctx_dep_tensor(ctx, 0, &t) != WEFT_EINVAL || t) /* a plain result */
        (*bad)++;
    if (weft_ctx_dep_tensor(ctx, 1, &t) != WEFT_EINVAL) /* no result */
        (*bad)++;
    if (weft_ctx_dep_tensor(ctx, 3, &t) != WEFT_EINVAL) /* out of range */
        (*bad)++;
    void *r = NULL;
    weft_ctx_dep_result_at(ctx, 2, &r);
    if (weft_ctx_dep_tensor(ctx, 2, &t) != 0 || t != r) /* a host tensor, in a CPU task: itself */
        (*bad)++;
    return 0;
}

static int make_small(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_tensor_t *t;
    int64_t n = 4;
    CHECK_EQ(weft_tensor_create(weft_ctx_runtime(ctx), WEFT_F32, 1, &n, WEFT_MEM_HOST, 0, &t), 0);
    return weft_ctx_publish(ctx, t);
}

TEST(dep_tensor_misuse_is_refused)
{
    weft_tensor_t *t = (weft_tensor_t *)1;
    CHECK_EQ(weft_ctx_dep_tensor(NULL, 0, &t), WEFT_EINVAL);
    CHECK(t == NULL);
    CHECK_EQ(weft_ctx_dep_tensor(NULL, 0, NULL), WEFT_EINVAL);
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    int bad = 0;
    weft_task_t *a = weft_graph_add(g, "plain", publish_plain, NULL), *b = weft_graph_add(g, "none", nothing, NULL);
    weft_task_t *c = weft_graph_add(g, "small", make_small, NULL);
    weft_task_t *m = weft_graph_add(g, "misuse", misuse_cpu, &bad);
    CHECK_EQ(weft_task_after(m, a), 0);
    CHECK_EQ(weft_task_after(m, b), 0);
    CHECK_EQ(weft_task_after(m, c), 0);
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(bad, 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

static int reads_in_capture(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_tensor_t *t;
    return weft_ctx_dep_tensor(ctx, 0, &t);
}

/* Functions captured into a CUDA graph task are not passed results. */
TEST(dep_tensor_is_refused_in_a_captured_function)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    weft_graph_t *sub, *g;
    CHECK_EQ(weft_graph_create(&sub), 0);
    CHECK_EQ(weft_graph_create(&g), 0);
    CHECK(weft_graph_add_cuda(sub, "reads", reads_in_capture, NULL) != NULL);
    weft_task_t *mk = weft_graph_add(g, "small", make_small, NULL), *cg;
    CHECK_EQ(weft_graph_add_cuda_graph(g, "captured", sub, 0, &cg), 0);
    CHECK_EQ(weft_task_after(cg, mk), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK_EQ(weft_task_status(cg), WEFT_ESTATE);
    CHECK_STR(weft_task_error(cg), "task 'reads' of the captured graph returned -9");
    weft_graph_destroy(g);
    weft_graph_destroy(sub);
    weft_runtime_destroy(rt);
}

TEST(a_copy_that_cannot_be_made_fails_the_task_saying_why)
{
    weft_runtime_t *rt = make_sim_rt(2, 2);
    /* to a GPU consumer */
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    use_t u = {.base = 1};
    weft_task_t *mk = weft_graph_add(g, "make", make_host, &u), *c, *after;
    CHECK_EQ(weft_graph_add_cuda_ex(g, "use", use_on_gpu, &u, 0, &c), 0);
    CHECK_EQ(weft_task_after(c, mk), 0);
    after = weft_graph_add(g, "after", nothing, NULL);
    CHECK_EQ(weft_task_after(after, c), 0);
    atomic_store(&sim_mem_fail, 1);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    atomic_store(&sim_mem_fail, 0);
    CHECK_EQ(weft_task_state(c), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_state(after), WEFT_TASK_CANCELLED);
    CHECK_STR(weft_task_error(c), "cannot copy the tensor result of 'make' to device 0 (out of memory)");
    /* it runs once memory is there again */
    CHECK_EQ(weft_graph_run(rt, g), 0);
    CHECK_EQ(atomic_load(&u.sum[1]), expected_sum(1));
    weft_graph_destroy(g);

    /* to a CPU consumer: the producer fails, its work still runs and its
     * memory goes back */
    CHECK_EQ(weft_graph_create(&g), 0);
    prod_t p;
    memset(&p, 0, sizeof p);
    weft_task_t *pr;
    CHECK_EQ(weft_graph_add_cuda_ex(g, "produce", produce_on_gpu, &p, 0, &pr), 0);
    weft_task_t *c0 = weft_graph_add(g, "cpu0", consume_cpu0, &p);
    CHECK_EQ(weft_task_after(c0, pr), 0);
    /* a first run leaves its pinned block cached: give it back, then fail
     * pinned allocations only */
    CHECK_EQ(weft_graph_run(rt, g), 0);
    weft_mem_trim(rt);
    atomic_store(&sim_host_fail, 1);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    atomic_store(&sim_host_fail, 0);
    CHECK_EQ(weft_task_state(pr), WEFT_TASK_FAILED);
    CHECK_EQ(weft_task_state(c0), WEFT_TASK_CANCELLED);
    CHECK_STR(weft_task_error(pr), "cannot copy its tensor result to host memory for task 'cpu0' (out of memory)");
    CHECK_EQ(stat_of(rt, WEFT_MEM_DEVICE, 0, 0), 0);
    CHECK_EQ(stat_of(rt, WEFT_MEM_PINNED, 0, 0), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}
