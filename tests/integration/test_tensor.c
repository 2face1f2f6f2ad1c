/* Tensors: creation and accessors, views/slices/reshapes sharing storage,
 * reference counts (the storage goes back to the pool exactly once), fill
 * and element access for every dtype, copies (strided, overlapping), task
 * results released when the last consumer finishes, misuse. */
#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdint.h>

#include <weft.h>

#include "rt.h"
#include "testlib.h"

static size_t in_use(weft_runtime_t *rt)
{
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    return s.in_use;
}

static uint64_t frees(weft_runtime_t *rt)
{
    weft_mem_stats_t s;
    CHECK_EQ(weft_mem_stats(rt, &s), 0);
    return s.frees;
}

TEST(create_and_accessors)
{
    weft_runtime_t *rt = make_rt(1, 0);
    int64_t shape[] = {3, 4, 5};
    weft_tensor_t *t;
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 3, shape, WEFT_MEM_HOST, 0, &t), 0);
    CHECK_EQ(weft_tensor_ndim(t), 3);
    CHECK_EQ(weft_tensor_numel(t), 60);
    CHECK_EQ(weft_tensor_strides(t)[0], 20);
    CHECK_EQ(weft_tensor_strides(t)[1], 5);
    CHECK_EQ(weft_tensor_strides(t)[2], 1);
    CHECK_EQ(weft_tensor_dtype(t), WEFT_F32);
    CHECK_EQ(weft_tensor_kind(t), WEFT_MEM_HOST);
    CHECK(weft_tensor_is_contiguous(t));
    CHECK_EQ((uintptr_t)weft_tensor_data(t) % 64, 0);
    CHECK(in_use(rt) >= 240);
    CHECK_STR(weft_dtype_name(WEFT_BF16), "bf16");
    CHECK_EQ(weft_dtype_size(WEFT_F16), 2);
    CHECK_EQ(weft_dtype_size(WEFT_I64), 8);
    CHECK_EQ(weft_dtype_size(WEFT_BOOL), 1);
    CHECK_EQ(weft_dtype_size(WEFT_DTYPE_COUNT), 0);
    CHECK(weft_dtype_name((weft_dtype_t)99) == NULL);
    weft_tensor_release(t);
    CHECK_EQ(in_use(rt), 0);
    /* a scalar and an empty tensor */
    CHECK_EQ(weft_tensor_create(rt, WEFT_F64, 0, NULL, WEFT_MEM_HOST, 0, &t), 0);
    CHECK_EQ(weft_tensor_numel(t), 1);
    CHECK_EQ(weft_tensor_fill(t, 2.5), 0);
    double v;
    CHECK_EQ(weft_tensor_get(t, NULL, &v), 0);
    CHECK(v == 2.5);
    weft_tensor_release(t);
    int64_t empty[] = {4, 0};
    CHECK_EQ(weft_tensor_create(rt, WEFT_I32, 2, empty, WEFT_MEM_HOST, 0, &t), 0);
    CHECK_EQ(weft_tensor_numel(t), 0);
    CHECK_EQ(weft_tensor_fill(t, 1), 0);
    weft_tensor_release(t);
    CHECK_EQ(in_use(rt), 0);
    weft_runtime_destroy(rt);
}

static weft_tensor_t *grid(weft_runtime_t *rt, int64_t rows, int64_t cols)
{
    int64_t shape[] = {rows, cols};
    weft_tensor_t *t;
    CHECK_EQ(weft_tensor_create(rt, WEFT_F64, 2, shape, WEFT_MEM_HOST, 0, &t), 0);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            CHECK_EQ(weft_tensor_set(t, (int64_t[]){i, j}, (double)(i * 10 + j)), 0);
    return t;
}

static double at(const weft_tensor_t *t, int64_t i, int64_t j)
{
    double v = -1;
    CHECK_EQ(weft_tensor_get(t, (int64_t[]){i, j}, &v), 0);
    return v;
}

TEST(views_share_storage_and_free_it_once)
{
    weft_runtime_t *rt = make_rt(1, 0);
    weft_tensor_t *t = grid(rt, 4, 6);
    uint64_t f0 = frees(rt);
    weft_tensor_t *rows, *cols, *flat, *rev;
    CHECK_EQ(weft_tensor_slice(t, 0, 1, 3, 1, &rows), 0); /* rows 1, 2 */
    CHECK_EQ(weft_tensor_shape(rows)[0], 2);
    CHECK(at(rows, 0, 0) == 10 && at(rows, 1, 5) == 25);
    CHECK_EQ(weft_tensor_slice(rows, 1, 1, 6, 2, &cols), 0); /* columns 1, 3, 5 */
    CHECK_EQ(weft_tensor_shape(cols)[1], 3);
    CHECK(at(cols, 0, 0) == 11 && at(cols, 1, 2) == 25);
    CHECK(!weft_tensor_is_contiguous(cols));
    CHECK(weft_tensor_shares_storage(t, cols));
    CHECK_EQ(weft_tensor_slice(t, 1, -1, -7, -1, &rev), 0); /* columns 5..0 */
    CHECK_EQ(weft_tensor_shape(rev)[1], 6);
    CHECK(at(rev, 3, 0) == 35 && at(rev, 3, 5) == 30);
    CHECK_EQ(weft_tensor_reshape(t, 1, (int64_t[]){24}, &flat), 0);
    CHECK_EQ(weft_tensor_numel(flat), 24);
    weft_tensor_t *bad = (weft_tensor_t *)1;
    CHECK_EQ(weft_tensor_reshape(cols, 1, (int64_t[]){6}, &bad), WEFT_EINVAL); /* not contiguous */
    CHECK(bad == NULL);
    CHECK_EQ(weft_tensor_reshape(t, 1, (int64_t[]){25}, &bad), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_view(t, 1, (int64_t[]){2}, (int64_t[]){1}, 23, &bad), WEFT_EINVAL); /* past the end */
    CHECK_EQ(weft_tensor_view(t, 1, (int64_t[]){3}, (int64_t[]){-1}, 1, &bad), WEFT_EINVAL); /* before the start */
    CHECK_EQ(weft_tensor_view(t, 1, (int64_t[]){3}, (int64_t[]){INT64_MAX}, 0, &bad), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_slice(t, 2, 0, 1, 1, &bad), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_slice(t, 0, 0, 1, 0, &bad), WEFT_EINVAL);
    /* writes through a view are seen by the others */
    CHECK_EQ(weft_tensor_fill(cols, -1), 0);
    CHECK(at(t, 1, 1) == -1 && at(t, 2, 5) == -1 && at(t, 1, 2) == 12);
    /* the base goes first: the views keep the storage */
    weft_tensor_release(t);
    CHECK(at(rows, 0, 0) == 10);
    CHECK_EQ(weft_tensor_retain(rows), 0);
    weft_tensor_release(rows);
    weft_tensor_release(rows);
    weft_tensor_release(cols);
    weft_tensor_release(rev);
    CHECK_EQ(frees(rt), f0); /* flat still holds it */
    CHECK(in_use(rt) > 0);
    weft_tensor_release(flat);
    CHECK_EQ(frees(rt), f0 + 1); /* freed once */
    CHECK_EQ(in_use(rt), 0);
    weft_runtime_destroy(rt);
}

TEST(every_dtype)
{
    weft_runtime_t *rt = make_rt(1, 0);
    static const struct {
        weft_dtype_t d;
        double in, out;
    } cases[] = {
        {WEFT_F16, 1.0 / 3, 0.333251953125},                      /* nearest binary16 */
        {WEFT_F16, 65520, INFINITY},                              /* rounds past the largest */
        {WEFT_F16, 5.9604644775390625e-8, 5.9604644775390625e-8}, /* smallest subnormal */
        {WEFT_BF16, 1.0 / 3, 0.333984375},
        {WEFT_BF16, -2.5, -2.5},
        {WEFT_F32, 0.1, (double)0.1f},
        {WEFT_F64, 0.1, 0.1},
        {WEFT_I8, 300, 127},
        {WEFT_I8, -7.9, -7},
        {WEFT_I32, 3e10, 2147483647},
        {WEFT_I64, -12345.6, -12345},
        {WEFT_U8, -5, 0},
        {WEFT_U8, 255.9, 255},
        {WEFT_BOOL, 0.5, 1},
        {WEFT_BOOL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_tensor_t *t;
        CHECK_EQ(weft_tensor_create(rt, cases[i].d, 1, (int64_t[]){3}, WEFT_MEM_HOST, 0, &t), 0);
        CHECK_EQ(weft_tensor_fill(t, cases[i].in), 0);
        double v;
        CHECK_EQ(weft_tensor_get(t, (int64_t[]){2}, &v), 0);
        if (v != cases[i].out)
            fprintf(stderr, "case %zu (%s): %.17g, expected %.17g\n", i, weft_dtype_name(cases[i].d), v, cases[i].out);
        CHECK(v == cases[i].out);
        weft_tensor_release(t);
    }
    weft_runtime_destroy(rt);
}

TEST(copies)
{
    weft_runtime_t *rt = make_rt(1, 0);
    weft_tensor_t *t = grid(rt, 4, 6), *cols, *dst, *a, *b;
    CHECK_EQ(weft_tensor_slice(t, 1, 0, 6, 2, &cols), 0); /* 4 x 3, strided */
    CHECK_EQ(weft_tensor_create(rt, WEFT_F64, 2, (int64_t[]){4, 3}, WEFT_MEM_HOST, 0, &dst), 0);
    CHECK_EQ(weft_tensor_copy(dst, cols), 0);
    CHECK(at(dst, 0, 1) == 2 && at(dst, 3, 2) == 34);
    /* overlapping: columns 0..4 <- columns 1..5 of the same rows */
    CHECK_EQ(weft_tensor_slice(t, 1, 0, 5, 1, &a), 0);
    CHECK_EQ(weft_tensor_slice(t, 1, 1, 6, 1, &b), 0);
    CHECK_EQ(weft_tensor_copy(a, b), 0);
    CHECK(at(t, 2, 0) == 21 && at(t, 2, 3) == 24 && at(t, 2, 4) == 25 && at(t, 2, 5) == 25);
    weft_tensor_t *f32;
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 2, (int64_t[]){4, 3}, WEFT_MEM_HOST, 0, &f32), 0);
    CHECK_EQ(weft_tensor_copy(f32, cols), WEFT_EINVAL); /* dtype */
    CHECK_EQ(weft_tensor_copy(dst, t), WEFT_EINVAL);    /* shape */
    CHECK_EQ(weft_tensor_copy(NULL, t), WEFT_EINVAL);
    weft_tensor_release(f32);
    weft_tensor_release(a);
    weft_tensor_release(b);
    weft_tensor_release(dst);
    weft_tensor_release(cols);
    weft_tensor_release(t);
    CHECK_EQ(in_use(rt), 0);
    weft_runtime_destroy(rt);
}

/* producer -> two consumers: the tensor goes back to the pool when the
 * second consumer finishes; a producer without consumers keeps its own. */
static atomic_int seen;

static int produce(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_tensor_t *t;
    int rc = weft_tensor_create(weft_ctx_runtime(ctx), WEFT_F32, 1, (int64_t[]){1000}, WEFT_MEM_HOST, 0, &t);
    if (rc)
        return rc;
    weft_tensor_fill(t, 7);
    rc = weft_ctx_publish(ctx, t);
    if (rc)
        weft_tensor_release(t);
    return rc;
}

static int consume(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    void *r = NULL;
    if (weft_ctx_dep_result_at(ctx, 0, &r) != 0 || !r)
        return -1;
    double v;
    if (weft_tensor_get(r, (int64_t[]){999}, &v) != 0 || v != 7)
        return -1;
    atomic_fetch_add(&seen, 1);
    return 0;
}

static int fail(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return -5;
}

TEST(published_results_go_when_the_last_consumer_finishes)
{
    weft_runtime_t *rt = make_rt(2, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *p = weft_graph_add(g, "p", produce, NULL);
    weft_task_t *c1 = weft_graph_add(g, "c1", consume, NULL);
    weft_task_t *c2 = weft_graph_add(g, "c2", consume, NULL);
    weft_task_t *sink = weft_graph_add(g, "sink", produce, NULL);
    CHECK_EQ(weft_task_after(c1, p), 0);
    CHECK_EQ(weft_task_after(c2, p), 0);
    for (int run = 0; run < 3; run++) {
        atomic_store(&seen, 0);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(atomic_load(&seen), 2);
        CHECK(weft_task_result(p) == NULL); /* released */
        weft_tensor_t *kept = weft_task_result(sink);
        CHECK(kept != NULL);
        CHECK_EQ(weft_tensor_numel(kept), 1000);
        CHECK_EQ(in_use(rt), 4096); /* only the sink's 4000 bytes (class 4096) */
    }
    weft_graph_destroy(g);
    CHECK_EQ(in_use(rt), 0);

    /* consumers that never run (their other dependency failed) release too */
    CHECK_EQ(weft_graph_create(&g), 0);
    p = weft_graph_add(g, "p", produce, NULL);
    weft_task_t *f = weft_graph_add(g, "f", fail, NULL);
    c1 = weft_graph_add(g, "c1", consume, NULL);
    CHECK_EQ(weft_task_after(c1, p), 0);
    CHECK_EQ(weft_task_after(c1, f), 0);
    CHECK_EQ(weft_graph_run(rt, g), WEFT_ETASK);
    CHECK(weft_task_result(p) == NULL);
    CHECK_EQ(in_use(rt), 0);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

/* Many consumers finishing at once on all workers: exactly one of them
 * releases the tensor, every run. */
TEST(many_consumers_release_once)
{
    weft_runtime_t *rt = make_rt(0, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *p = weft_graph_add(g, "p", produce, NULL);
    for (int i = 0; i < 64; i++)
        CHECK_EQ(weft_task_after(weft_graph_add(g, NULL, consume, NULL), p), 0);
    uint64_t f0 = frees(rt);
    for (int run = 0; run < 50; run++) {
        atomic_store(&seen, 0);
        CHECK_EQ(weft_graph_run(rt, g), 0);
        CHECK_EQ(atomic_load(&seen), 64);
        CHECK_EQ(in_use(rt), 0);
        CHECK_EQ(frees(rt), f0 + (uint64_t)run + 1);
    }
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
}

TEST(misuse)
{
    weft_runtime_t *rt = make_rt(1, 0);
    weft_tensor_t *t = (weft_tensor_t *)1;
    int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_EQ(weft_tensor_create(NULL, WEFT_F32, 1, shape, WEFT_MEM_HOST, 0, &t), WEFT_EINVAL);
    CHECK(t == NULL);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 1, shape, WEFT_MEM_HOST, 0, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_create(rt, (weft_dtype_t)42, 1, shape, WEFT_MEM_HOST, 0, &t), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 9, shape, WEFT_MEM_HOST, 0, &t), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, -1, shape, WEFT_MEM_HOST, 0, &t), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 2, NULL, WEFT_MEM_HOST, 0, &t), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 1, (int64_t[]){-3}, WEFT_MEM_HOST, 0, &t), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F64, 2, (int64_t[]){INT64_MAX / 2, 4}, WEFT_MEM_HOST, 0, &t), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 1, shape, WEFT_MEM_PINNED, 0, &t), WEFT_ENOTSUP);
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 1, shape, WEFT_MEM_DEVICE, 0, &t), WEFT_ENOTSUP);
    CHECK_EQ(weft_tensor_retain(NULL), WEFT_EINVAL);
    weft_tensor_release(NULL);
    CHECK_EQ(weft_tensor_fill(NULL, 1), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_ndim(NULL), -1);
    CHECK(weft_tensor_data(NULL) == NULL);
    CHECK_EQ(weft_tensor_numel(NULL), 0);
    CHECK(!weft_tensor_is_contiguous(NULL));
    CHECK_EQ(weft_tensor_create(rt, WEFT_F32, 2, (int64_t[]){2, 2}, WEFT_MEM_HOST, 0, &t), 0);
    double v;
    CHECK_EQ(weft_tensor_get(t, (int64_t[]){2, 0}, &v), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_get(t, (int64_t[]){0, -1}, &v), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_get(t, NULL, &v), WEFT_EINVAL);
    CHECK_EQ(weft_tensor_set(t, (int64_t[]){0, 2}, 1), WEFT_EINVAL);
    weft_tensor_t *v9 = (weft_tensor_t *)1;
    CHECK_EQ(weft_tensor_view(t, 9, shape, shape, 0, &v9), WEFT_EINVAL);
    CHECK(v9 == NULL);
    CHECK_EQ(weft_ctx_publish(NULL, t), WEFT_EINVAL);
    weft_tensor_release(t);
    CHECK_EQ(in_use(rt), 0);
    weft_runtime_destroy(rt);
}
