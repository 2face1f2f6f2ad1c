/* Randomized DAGs of 1 to 10,000 tasks at 1, 2, 4 and 8 workers: every task
 * runs exactly once and never before all its dependencies have finished.
 * WEFT_STRESS_REPS sets the repetitions per worker count (default 40). */
#include <stdatomic.h>
#include <stdint.h>

#include <weft.h>

#include "testlib.h"

typedef struct node {
    atomic_int runs;
    atomic_int finished;
    int ndeps;
    int *deps;
    struct shared *sh;
} node_t;

typedef struct shared {
    node_t *nodes;
    atomic_int violations;
} shared_t;

static int body(weft_ctx_t *ctx, void *arg)
{
    node_t *n = arg;
    for (int i = 0; i < n->ndeps; i++)
        if (!atomic_load(&n->sh->nodes[n->deps[i]].finished))
            atomic_fetch_add(&n->sh->violations, 1);
    if (atomic_fetch_add(&n->runs, 1) != 0)
        atomic_fetch_add(&n->sh->violations, 1);
    if (weft_ctx_ndeps(ctx) != (size_t)n->ndeps)
        atomic_fetch_add(&n->sh->violations, 1);
    atomic_store(&n->finished, 1);
    return 0;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void one_dag(weft_runtime_t *rt, int n)
{
    shared_t sh;
    sh.nodes = calloc((size_t)n, sizeof *sh.nodes);
    atomic_store(&sh.violations, 0);
    weft_graph_t *g;
    CHECK_EQ(weft_graph_create(&g), 0);
    weft_task_t **t = malloc((size_t)n * sizeof *t);
    /* Shapes vary: sparse random, dense local, wide fan-in/out hubs. */
    int kind = (int)(rnd() % 3);
    for (int i = 0; i < n; i++) {
        node_t *nd = &sh.nodes[i];
        nd->sh = &sh;
        int want = i == 0 ? 0 : (int)(rnd() % (kind == 1 ? 6 : 3));
        if (kind == 2 && i > 0 && rnd() % 50 == 0)
            want = i < 200 ? i : 200; /* a wide join */
        nd->deps = malloc((size_t)(want + 1) * sizeof(int));
        nd->ndeps = 0;
        t[i] = weft_graph_add(g, NULL, body, nd);
        CHECK(t[i]);
        for (int k = 0; k < want; k++) {
            int d;
            if (kind == 1)
                d = i - 1 - (int)(rnd() % (uint64_t)(i < 16 ? i : 16));
            else if (kind == 2 && want > 8)
                d = i - 1 - k;
            else
                d = (int)(rnd() % (uint64_t)i);
            int dup = 0;
            for (int m = 0; m < nd->ndeps; m++)
                dup |= nd->deps[m] == d;
            if (dup)
                continue;
            nd->deps[nd->ndeps++] = d;
            CHECK_EQ(weft_task_after(t[i], t[d]), 0);
        }
    }
    int reps = 1 + (int)(rnd() % 3); /* reruns of the same graph */
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) {
            atomic_store(&sh.nodes[i].runs, 0);
            atomic_store(&sh.nodes[i].finished, 0);
        }
        CHECK_EQ(weft_graph_run(rt, g), 0);
        for (int i = 0; i < n; i++)
            if (atomic_load(&sh.nodes[i].runs) != 1)
                FAIL("task %d of %d ran %d times", i, n, atomic_load(&sh.nodes[i].runs));
        CHECK_EQ(atomic_load(&sh.violations), 0);
    }
    weft_graph_destroy(g);
    for (int i = 0; i < n; i++)
        free(sh.nodes[i].deps);
    free(sh.nodes);
    free(t);
}

static void stress(int threads, unsigned flags)
{
    int reps = getenv("WEFT_STRESS_REPS") ? atoi(getenv("WEFT_STRESS_REPS")) : 200;
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = threads;
    cfg.flags = flags | WEFT_CONFIG_QUIET;
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    rng_state = 88172645463325252ull * (uint64_t)(threads + 1);
    for (int r = 0; r < reps; r++) {
        int n = r % 4 == 0 ? 1 + (int)(rnd() % 10) : 1 + (int)(rnd() % 10000);
        one_dag(rt, n);
    }
    weft_runtime_destroy(rt);
}

TEST(stress_1_worker)
{
    stress(1, 0);
}
TEST(stress_2_workers)
{
    stress(2, 0);
}
TEST(stress_4_workers)
{
    stress(4, 0);
}
TEST(stress_8_workers)
{
    stress(8, 0);
}
TEST(stress_4_workers_no_caller_help)
{
    stress(4, WEFT_CONFIG_NO_CALLER_HELP);
}
TEST(stress_unpinned_zero_spin)
{
    int reps = getenv("WEFT_STRESS_REPS") ? atoi(getenv("WEFT_STRESS_REPS")) : 200;
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = 3;
    cfg.pin = WEFT_PIN_NONE;
    cfg.spin_us = 0; /* every idle moment parks: exercises the eventcount */
    weft_runtime_t *rt;
    CHECK_EQ(weft_runtime_create(&cfg, &rt), 0);
    for (int r = 0; r < reps; r++)
        one_dag(rt, 1 + (int)(rnd() % 3000));
    weft_runtime_destroy(rt);
}
