/* Topology backend without hwloc: the allowed PUs come from
 * sched_getaffinity, their core and package from Linux sysfs, their L3
 * domain from the cache index3 id. Where sysfs is missing, every PU counts
 * as a core of package 0. Binding uses pthread_setaffinity_np. */
#include "platform/topology.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "base/base.h"

static int read_int(int cpu, const char *leaf, int fallback)
{
    char path[128];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/%s", cpu, leaf);
    FILE *f = fopen(path, "r");
    if (!f)
        return fallback;
    int v;
    if (fscanf(f, "%d", &v) != 1)
        v = fallback;
    fclose(f);
    return v;
}

int weft__topo_discover(weft__topo_t **out)
{
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long c = 0; c < n && c < CPU_SETSIZE; c++)
            CPU_SET((int)c, &allowed);
    }
    int ncpu = CPU_COUNT(&allowed);
    if (ncpu <= 0)
        return WEFT_ESYS;
    /* Key of each allowed PU: (package, core id). */
    struct {
        int cpu, pkg, core, l3;
    } pu[CPU_SETSIZE];
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && c < WEFT_MAX_CPUS; c++) {
        if (!CPU_ISSET(c, &allowed))
            continue;
        pu[n].cpu = c;
        pu[n].pkg = read_int(c, "topology/physical_package_id", 0);
        pu[n].core = read_int(c, "topology/core_id", -1 - c);
        pu[n].l3 = read_int(c, "cache/index3/id", pu[n].pkg);
        n++;
    }
    weft__topo_t *t;
    int rc = weft__topo_new("sysfs", &t);
    if (rc)
        return rc;
    char done[CPU_SETSIZE] = {0};
    for (int i = 0; i < n && rc == 0; i++) {
        if (done[i])
            continue;
        rc = weft__topo_add_core(t, pu[i].pkg, pu[i].l3);
        for (int j = i; j < n && rc == 0; j++) {
            if (!done[j] && pu[j].pkg == pu[i].pkg && pu[j].core == pu[i].core) {
                done[j] = 1;
                rc = weft__topo_add_pu(t, pu[j].cpu);
            }
        }
    }
    if (rc) {
        weft__topo_destroy(t);
        return rc;
    }
    weft__topo_finish(t);
    *out = t;
    return 0;
}

int weft__topo_synthetic(const char *desc, weft__topo_t **out)
{
    (void)desc;
    (void)out;
    return WEFT_ENOTSUP;
}

int weft__topo_bind_self(weft__topo_t *t, const weft__cpuset_t *set)
{
    (void)t;
    cpu_set_t cs;
    CPU_ZERO(&cs);
    for (int cpu = weft__cpuset_next(set, 0); cpu >= 0 && cpu < CPU_SETSIZE; cpu = weft__cpuset_next(set, cpu + 1))
        CPU_SET(cpu, &cs);
    return pthread_setaffinity_np(pthread_self(), sizeof cs, &cs) == 0 ? 0 : WEFT_ESYS;
}

void weft__topo_backend_fini(weft__topo_t *t)
{
    (void)t;
}
