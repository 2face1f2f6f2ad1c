/* Topology: placement spread on made-up machines, hwloc synthetic
 * topologies, discovery and binding on this machine. */
#include <pthread.h>
#include <sched.h>

#include "base/base.h"
#include "platform/topology.h"
#include "weft/runtime.h"
#include "cpus.h"
#include "testlib.h"

/* packages x l3-per-package x cores-per-l3 x pus-per-core, PUs numbered
 * densely. */
static weft__topo_t *machine(int pk, int l3, int co, int pu)
{
    weft__topo_t *t;
    CHECK_EQ(weft__topo_new("test", &t), 0);
    int os = 0;
    for (int p = 0; p < pk; p++)
        for (int l = 0; l < l3; l++)
            for (int c = 0; c < co; c++) {
                CHECK_EQ(weft__topo_add_core(t, p * 10, l), 0);
                for (int u = 0; u < pu; u++)
                    CHECK_EQ(weft__topo_add_pu(t, os++), 0);
            }
    weft__topo_finish(t);
    return t;
}

static int first_cpu(const weft__cpuset_t *s)
{
    for (int c = 0; c < WEFT_MAX_CPUS; c++)
        if (weft__cpuset_isset(s, c))
            return c;
    return -1;
}

TEST(finish_counts_domains)
{
    weft__topo_t *t = machine(2, 2, 4, 2);
    CHECK_EQ(t->ncores, 16);
    CHECK_EQ(t->npus, 32);
    CHECK_EQ(t->npackages, 2);
    CHECK_EQ(t->nl3, 4); /* L3 "0" of two packages are two domains */
    weft__topo_destroy(t);
}

TEST(core_pinning_spreads_over_packages_and_l3)
{
    weft__topo_t *t = machine(2, 2, 4, 2);
    weft__cpuset_t sets[16];
    weft__topo_place(t, 4, WEFT_PIN_CORE, sets);
    /* First four workers: one per L3 domain, alternating packages. */
    int pkg_seen[2] = {0, 0}, l3_seen[4] = {0, 0, 0, 0};
    for (int w = 0; w < 4; w++) {
        CHECK_EQ(weft__cpuset_count(&sets[w]), 2); /* both PUs of a core */
        int cpu = first_cpu(&sets[w]);
        pkg_seen[cpu / 16]++;
        l3_seen[cpu / 8]++;
    }
    CHECK_EQ(pkg_seen[0], 2);
    CHECK_EQ(pkg_seen[1], 2);
    for (int d = 0; d < 4; d++)
        CHECK_EQ(l3_seen[d], 1);
    CHECK(first_cpu(&sets[0]) / 16 != first_cpu(&sets[1]) / 16);
    /* 16 workers: every core exactly once. */
    weft__topo_place(t, 16, WEFT_PIN_CORE, sets);
    int used[16] = {0};
    for (int w = 0; w < 16; w++)
        used[first_cpu(&sets[w]) / 2]++;
    for (int c = 0; c < 16; c++)
        CHECK_EQ(used[c], 1);
    weft__topo_destroy(t);
}

TEST(pu_pinning_fills_cores_before_siblings)
{
    weft__topo_t *t = machine(1, 1, 4, 2);
    weft__cpuset_t sets[10];
    weft__topo_place(t, 10, WEFT_PIN_PU, sets);
    for (int w = 0; w < 10; w++)
        CHECK_EQ(weft__cpuset_count(&sets[w]), 1);
    for (int w = 0; w < 4; w++)
        CHECK_EQ(first_cpu(&sets[w]) % 2, 0); /* first PU of each core */
    for (int w = 4; w < 8; w++)
        CHECK_EQ(first_cpu(&sets[w]) % 2, 1);           /* then the siblings */
    CHECK_EQ(first_cpu(&sets[8]), first_cpu(&sets[0])); /* wraps */
    weft__topo_destroy(t);
}

TEST(no_pinning_leaves_sets_empty)
{
    weft__topo_t *t = machine(1, 1, 2, 1);
    weft__cpuset_t sets[3];
    weft__topo_place(t, 3, WEFT_PIN_NONE, sets);
    for (int w = 0; w < 3; w++)
        CHECK_EQ(weft__cpuset_count(&sets[w]), 0);
    weft__topo_destroy(t);
}

TEST(bad_pu_index_is_refused)
{
    weft__topo_t *t;
    CHECK_EQ(weft__topo_new("test", &t), 0);
    CHECK_EQ(weft__topo_add_pu(t, 0), WEFT_EINVAL); /* no core yet */
    CHECK_EQ(weft__topo_add_core(t, 0, 0), 0);
    CHECK_EQ(weft__topo_add_pu(t, -1), WEFT_EINVAL);
    CHECK_EQ(weft__topo_add_pu(t, WEFT_MAX_CPUS), WEFT_EINVAL);
    weft__topo_destroy(t);
}

TEST(hwloc_synthetic_topology)
{
    weft__topo_t *t;
    int rc = weft__topo_synthetic("pack:2 l3:2 core:4 pu:2", &t);
    if (rc == WEFT_ENOTSUP)
        SKIP("built without hwloc");
    CHECK_EQ(rc, 0);
    CHECK_EQ(t->ncores, 16);
    CHECK_EQ(t->npus, 32);
    CHECK_EQ(t->npackages, 2);
    CHECK_EQ(t->nl3, 4);
    CHECK_EQ(t->nnuma, 1);
    weft__topo_destroy(t);
    /* NUMA nodes: 2 per package, 2 cores each */
    CHECK_EQ(weft__topo_synthetic("pack:2 numa:2 core:2 pu:1", &t), 0);
    CHECK_EQ(t->ncores, 8);
    CHECK_EQ(t->nnuma, 4);
    for (int c = 0; c < 8; c++)
        CHECK_EQ(t->cores[c].numa, c / 2);
    weft__cpuset_t one;
    memset(&one, 0, sizeof one);
    weft__cpuset_set(&one, t->pus[t->cores[5].first_pu]);
    CHECK_EQ(weft__topo_numa_of(t, &one), 2);
    memset(&one, 0, sizeof one);
    CHECK_EQ(weft__topo_numa_of(t, &one), 0);
    weft__topo_destroy(t);
    CHECK_EQ(weft__topo_synthetic("not a topology", &t), WEFT_EINVAL);
    CHECK_EQ(weft__topo_synthetic(NULL, &t), WEFT_EINVAL);
}

TEST(discovery_matches_affinity_and_binding_works)
{
    weft__topo_t *t;
    CHECK_EQ(weft__topo_discover(&t), 0);
    cpu_set_t cs;
    CHECK_EQ(sched_getaffinity(0, sizeof cs, &cs), 0);
    CHECK_EQ(t->npus, CPU_COUNT(&cs));
    CHECK(t->ncores >= 1 && t->ncores <= t->npus);
    for (int i = 0; i < t->npus; i++)
        CHECK(CPU_ISSET(t->pus[i], &cs));
    weft__cpuset_t one = {{0}};
    weft__cpuset_set(&one, t->pus[t->npus - 1]);
    CHECK_EQ(weft__topo_bind_self(t, &one), 0);
    cpu_set_t now;
    CHECK_EQ(pthread_getaffinity_np(pthread_self(), sizeof now, &now), 0);
    CHECK_EQ(CPU_COUNT(&now), 1);
    CHECK(CPU_ISSET(t->pus[t->npus - 1], &now));
    weft__topo_destroy(t);
}

TEST(discovery_respects_a_narrowed_affinity)
{
    int first = narrow_to_first_cpu(); /* as `taskset -c N` */
    weft__topo_t *t;
    CHECK_EQ(weft__topo_discover(&t), 0);
    CHECK_EQ(t->ncores, 1);
    CHECK_EQ(t->npus, 1);
    CHECK_EQ(t->pus[0], first);
    weft__topo_destroy(t);
}
