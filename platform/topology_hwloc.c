/* Topology backend: hwloc. The only file that includes <hwloc.h>.
 *
 * The allowed PUs are the intersection of what hwloc reports (which already
 * honours cgroup cpusets) with the calling thread's current binding (which
 * is what `taskset` changes). */
#include "platform/topology.h"

#include <hwloc.h>

#include "base/base.h"

static int fill(weft__topo_t *t, hwloc_topology_t topo, hwloc_const_bitmap_t allowed)
{
    int ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    hwloc_obj_type_t unit = HWLOC_OBJ_CORE;
    if (ncores <= 0) { /* no core level: every PU is a core */
        unit = HWLOC_OBJ_PU;
        ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    }
    for (int i = 0; i < ncores; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, unit, (unsigned)i);
        if (!core || !core->cpuset || !hwloc_bitmap_intersects(core->cpuset, allowed))
            continue;
        hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, core);
        hwloc_obj_t l3 = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_L3CACHE, core);
        int pkg_id = pkg ? (int)pkg->logical_index : 0;
        int rc = weft__topo_add_core(t, pkg_id, l3 ? (int)l3->logical_index : 0);
        if (rc)
            return rc;
        int nnodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
        for (int n = 0; n < nnodes; n++) {
            hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)n);
            if (node && node->cpuset && hwloc_bitmap_isincluded(core->cpuset, node->cpuset)) {
                weft__topo_set_numa(t, (int)node->logical_index);
                break;
            }
        }
        unsigned pu;
        hwloc_bitmap_foreach_begin(pu, core->cpuset)
        {
            if (hwloc_bitmap_isset(allowed, pu) && pu < WEFT_MAX_CPUS && (rc = weft__topo_add_pu(t, (int)pu)))
                return rc;
        }
        hwloc_bitmap_foreach_end();
    }
    weft__topo_finish(t);
    return 0;
}

static int make(const char *synthetic, weft__topo_t **out)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) < 0)
        return WEFT_ENOMEM;
    if (synthetic && hwloc_topology_set_synthetic(topo, synthetic) < 0) {
        hwloc_topology_destroy(topo);
        return WEFT_EINVAL;
    }
    if (hwloc_topology_load(topo) < 0) {
        hwloc_topology_destroy(topo);
        return WEFT_ESYS;
    }
    hwloc_bitmap_t allowed = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));
    hwloc_bitmap_t bound = hwloc_bitmap_alloc();
    if (!allowed || !bound) {
        hwloc_bitmap_free(allowed);
        hwloc_bitmap_free(bound);
        hwloc_topology_destroy(topo);
        return WEFT_ENOMEM;
    }
    if (!synthetic && hwloc_get_cpubind(topo, bound, HWLOC_CPUBIND_THREAD) == 0 &&
        hwloc_bitmap_intersects(bound, allowed))
        hwloc_bitmap_and(allowed, allowed, bound);
    hwloc_bitmap_free(bound);

    weft__topo_t *t;
    int rc = weft__topo_new("hwloc", &t);
    if (rc == 0) {
        t->impl = topo;
        rc = fill(t, topo, allowed);
        if (rc == 0 && t->ncores == 0)
            rc = WEFT_ESYS;
        if (rc) {
            weft__topo_destroy(t);
            topo = NULL;
        }
    }
    hwloc_bitmap_free(allowed);
    if (rc) {
        if (topo)
            hwloc_topology_destroy(topo);
        return rc;
    }
    *out = t;
    return 0;
}

int weft__topo_discover(weft__topo_t **out)
{
    return make(NULL, out);
}

int weft__topo_synthetic(const char *desc, weft__topo_t **out)
{
    if (!desc)
        return WEFT_EINVAL;
    return make(desc, out);
}

int weft__topo_bind_self(weft__topo_t *t, const weft__cpuset_t *set)
{
    hwloc_bitmap_t bm = hwloc_bitmap_alloc();
    if (!bm)
        return WEFT_ENOMEM;
    for (int cpu = weft__cpuset_next(set, 0); cpu >= 0; cpu = weft__cpuset_next(set, cpu + 1))
        hwloc_bitmap_set(bm, (unsigned)cpu);
    int rc = hwloc_set_cpubind((hwloc_topology_t)t->impl, bm, HWLOC_CPUBIND_THREAD);
    hwloc_bitmap_free(bm);
    return rc == 0 ? 0 : WEFT_ESYS;
}

void weft__topo_backend_fini(weft__topo_t *t)
{
    if (t->impl)
        hwloc_topology_destroy((hwloc_topology_t)t->impl);
    t->impl = NULL;
}
