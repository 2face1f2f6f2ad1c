/* Graph internals: slab indexing, edge lists past their inline slots,
 * source ranges, validation. */
#include "scheduler/internal.h"
#include "testlib.h"

static int noop(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    return 0;
}

TEST(slab_index_mapping)
{
    /* Every index maps into its chunk, consecutive indices are adjacent
     * within a chunk, and chunk k starts where k-1 ended. */
    size_t prev_k = 0, expect_off = 0;
    for (size_t i = 0; i < CHUNK_FIXED_BASE + 3 * CHUNK_FIXED_SIZE + 10; i++) {
        size_t off, k = weft__chunk_of(i, &off);
        if (k != prev_k) {
            CHECK_EQ(k, prev_k + 1);
            CHECK_EQ(expect_off, weft__chunk_size(prev_k));
            expect_off = 0;
            prev_k = k;
        }
        CHECK_EQ(off, expect_off);
        CHECK(off < weft__chunk_size(k));
        expect_off++;
    }
}

TEST(many_tasks_keep_their_identity)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    size_t n = CHUNK_FIXED_BASE + CHUNK_FIXED_SIZE + 100;
    for (size_t i = 0; i < n; i++) {
        weft_task_t *t = weft_graph_add(g, NULL, noop, (void *)i);
        CHECK(t);
        CHECK_EQ(t->index, i);
    }
    for (size_t i = 0; i < n; i += 997)
        CHECK(weft_graph_task(g, i)->arg == (void *)i);
    weft_graph_destroy(g);
}

TEST(edge_lists_grow_past_inline_slots)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *hub = weft_graph_add(g, "hub", noop, NULL);
    weft_task_t *sink = weft_graph_add(g, "sink", noop, NULL);
    weft_task_t *mid[300];
    for (int i = 0; i < 300; i++) {
        mid[i] = weft_graph_add(g, "m", noop, NULL);
        CHECK_EQ(weft_task_after(mid[i], hub), 0);
        CHECK_EQ(weft_task_after(sink, mid[i]), 0);
    }
    CHECK_EQ(hub->nsucc, 300);
    CHECK_EQ(sink->ndeps, 300);
    for (int i = 0; i < 300; i++) {
        CHECK(hub->succ[i] == mid[i]);
        CHECK(sink->pred[i] == mid[i]);
        CHECK(mid[i]->succ[0] == sink);
    }
    CHECK_EQ(atomic_load(&sink->join), 300);
    weft_graph_destroy(g);
}

TEST(source_ranges_follow_edges)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *t[10];
    for (int i = 0; i < 10; i++)
        t[i] = weft_graph_add(g, NULL, noop, NULL);
    CHECK_EQ(g->nsrc, 1);                     /* one range [0, 10) */
    CHECK_EQ(weft_task_after(t[9], t[0]), 0); /* cut from the end */
    CHECK_EQ(g->src[0].hi, 9);
    CHECK_EQ(weft_task_after(t[4], t[0]), 0); /* stale, split later */
    CHECK_EQ(weft_task_after(t[5], t[0]), 0);
    CHECK_EQ(g->stale_sources, 2);
    CHECK_EQ(weft__graph_prepare(g), 0);
    CHECK_EQ(g->nsources, 7);
    CHECK_EQ(g->nsrc, 2);
    CHECK_EQ(g->src[0].lo, 0);
    CHECK_EQ(g->src[0].hi, 4);
    CHECK_EQ(g->src[1].lo, 6);
    CHECK_EQ(g->src[1].hi, 9);
    CHECK(!g->maybe_cyclic);
    CHECK_EQ(weft_task_after(t[1], t[8]), 0); /* backward edge */
    CHECK(g->maybe_cyclic);
    CHECK_EQ(weft__graph_prepare(g), 0);
    CHECK_EQ(g->nsources, 6);
    weft_graph_destroy(g);
}

TEST(cycle_report_names_only_the_cycle)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t *a = weft_graph_add(g, "a", noop, NULL);
    weft_task_t *b = weft_graph_add(g, NULL, noop, NULL);
    weft_task_t *tail = weft_graph_add(g, "tail", noop, NULL);
    CHECK_EQ(weft_task_after(b, a), 0);
    CHECK_EQ(weft_task_after(a, b), 0);
    CHECK_EQ(weft_task_after(tail, b), 0);
    CHECK_EQ(weft__graph_prepare(g), WEFT_ECYCLE);
    const char *e = weft_graph_error(g);
    CHECK(strcmp(e, "cycle: a -> #1 -> a") == 0 || strcmp(e, "cycle: #1 -> a -> #1") == 0);
    /* Join counters are restored for a later fixed run. */
    CHECK_EQ(atomic_load(&a->join), 1);
    CHECK_EQ(atomic_load(&tail->join), 1);
    weft_graph_destroy(g);
}

TEST(long_cycle_message_is_truncated)
{
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    char name[64];
    memset(name, 'x', 60);
    name[60] = '\0';
    weft_task_t *first = NULL, *prev = NULL;
    for (int i = 0; i < 50; i++) {
        weft_task_t *t = weft_graph_add(g, name, noop, NULL);
        if (prev)
            CHECK_EQ(weft_task_after(t, prev), 0);
        else
            first = t;
        prev = t;
    }
    CHECK_EQ(weft_task_after(first, prev), 0);
    CHECK_EQ(weft__graph_prepare(g), WEFT_ECYCLE);
    const char *e = weft_graph_error(g);
    CHECK(strlen(e) < sizeof g->errbuf);
    CHECK(strcmp(e + strlen(e) - 3, "...") == 0);
    weft_graph_destroy(g);
}
