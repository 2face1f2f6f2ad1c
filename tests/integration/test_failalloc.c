/* Every public call under allocation failure: a scenario that uses the whole
 * API runs with allocation number N failing, for N = 1, 2, ... until a run
 * sees no injected failure. Each call must succeed or return WEFT_ENOMEM
 * (or, for a run, report the failing task), and after everything is
 * destroyed no block is left. */
#include <stdint.h>

#include "failalloc.h"
#include "testlib.h"

static void drop(void *p)
{
    free(p);
}

static int leaf(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    return weft_ctx_set_result(ctx, malloc(8), drop);
}

/* A tensor published to the task's successors (released by the last). */
static int publisher(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    weft_tensor_t *t;
    int rc = weft_tensor_create(weft_ctx_runtime(ctx), WEFT_F64, 1, (int64_t[]){300}, WEFT_MEM_HOST, 0, &t);
    if (rc)
        return rc;
    rc = weft_ctx_publish(ctx, t);
    if (rc)
        weft_tensor_release(t);
    return rc;
}

static int child(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

static int spawner(weft_ctx_t *ctx, void *arg)
{
    (void)arg;
    for (int i = 0; i < 4; i++) {
        int rc = weft_ctx_spawn(ctx, "child", child, NULL);
        if (rc)
            return rc; /* ENOMEM: this task fails, the run reports it */
    }
    return 0;
}

#define OK_OR_NOMEM(expr)                                                                                              \
    do {                                                                                                               \
        int rc_ = (expr);                                                                                              \
        if (rc_ == WEFT_ENOMEM)                                                                                        \
            goto out;                                                                                                  \
        if (rc_ != 0)                                                                                                  \
            FAIL("%s returned %s", #expr, weft_err_name(rc_));                                                         \
    } while (0)

/* Returns 1 when the scenario went through without an injected failure. */
static int scenario(void)
{
    weft_runtime_t *rt = NULL;
    weft_graph_t *g = NULL;
    weft_tensor_t *ta = NULL, *tb = NULL, *tc = NULL, *td = NULL; /* before any goto out */
    weft_mem_snapshot_t *snap = NULL;
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = 2;
    cfg.flags = WEFT_CONFIG_QUIET;
    OK_OR_NOMEM(weft_runtime_create(&cfg, &rt));
    OK_OR_NOMEM(weft_mem_track_start(rt, 1)); /* records made along the way can be lost, not the run */
    OK_OR_NOMEM(weft_graph_create(&g));
    weft_task_t *hub = NULL, *join = NULL, *t = NULL;
    OK_OR_NOMEM(weft_graph_add_ex(g, "hub", leaf, NULL, 0, &hub));
    OK_OR_NOMEM(weft_graph_add_ex(g, "join", leaf, NULL, 0, &join));
    char name[32];
    for (int i = 0; i < 300; i++) { /* names in the arena, wide edge lists */
        snprintf(name, sizeof name, "task-%d", i);
        OK_OR_NOMEM(weft_graph_add_ex(g, name, i % 10 ? i % 7 ? leaf : publisher : spawner, NULL, 0, &t));
        OK_OR_NOMEM(weft_task_after(t, hub));
        OK_OR_NOMEM(weft_task_after(join, t));
    }
    /* A backward edge forces full validation. */
    weft_task_t *late = NULL;
    OK_OR_NOMEM(weft_graph_add_ex(g, "late", leaf, NULL, 0, &late));
    OK_OR_NOMEM(weft_task_after(hub, late));
    for (int r = 0; r < 2; r++) {
        int rc = r == 0 ? weft_graph_run(rt, g) : weft_graph_submit(rt, g);
        if (r == 1 && rc == 0)
            rc = weft_graph_wait(g);
        if (rc == WEFT_ENOMEM)
            goto out;
        if (rc == WEFT_ETASK) { /* a spawn failed for lack of memory */
            CHECK(atomic_load(&fa_failed) > 0);
            goto out;
        }
        CHECK_EQ(rc, 0);
    }
    char buf[256];
    CHECK(weft_runtime_describe(rt, buf, sizeof buf) > 0);
    /* the memory pool and tensors */
    void *block = weft_mem_alloc(rt, 100000);
    if (!block)
        goto out;
    weft_mem_free(rt, block);
    OK_OR_NOMEM(weft_tensor_create(rt, WEFT_F32, 2, (int64_t[]){40, 50}, WEFT_MEM_HOST, 0, &ta));
    OK_OR_NOMEM(weft_tensor_slice(ta, 1, 0, 50, 2, &tb));
    OK_OR_NOMEM(weft_tensor_reshape(ta, 1, (int64_t[]){2000}, &tc));
    OK_OR_NOMEM(weft_tensor_fill(tb, 3));
    OK_OR_NOMEM(weft_tensor_create(rt, WEFT_F32, 2, (int64_t[]){40, 25}, WEFT_MEM_HOST, 0, &td));
    OK_OR_NOMEM(weft_tensor_copy(td, tb));
    OK_OR_NOMEM(weft_tensor_copy(tb, tb));
    OK_OR_NOMEM(weft_mem_snapshot_take(rt, &snap));
    size_t groups = 0;
    OK_OR_NOMEM(weft_mem_snapshot_top(snap, NULL, WEFT_MEM_BY_SITE, NULL, 0, &groups));
    FILE *null = fopen("/dev/null", "w");
    CHECK(null != NULL);
    int wrc = weft_mem_snapshot_write(snap, snap, WEFT_MEM_BY_TASK, 0, 1, null);
    fclose(null);
    OK_OR_NOMEM(wrc);
    OK_OR_NOMEM(weft_mem_track_stop(rt));
out:
    weft_mem_snapshot_destroy(snap);
    weft_tensor_release(ta);
    weft_tensor_release(tb);
    weft_tensor_release(tc);
    weft_tensor_release(td);
    weft_graph_destroy(g);
    weft_runtime_destroy(rt);
    return atomic_load(&fa_failed) == 0;
}

TEST(every_allocation_can_fail)
{
    long n;
    for (n = 1; n < 100000; n++) {
        fa_install(n);
        int clean = scenario();
        long live = atomic_load(&fa_live);
        fa_remove();
        if (live != 0)
            FAIL("failing allocation %ld leaked %ld block(s)", n, live);
        if (clean)
            break;
    }
    fprintf(stderr, "  scenario passed with each of its %ld allocations failing\n", n - 1);
    CHECK(n > 10);
}
