/* platform/topology — the cross-module header for machine discovery,
 * worker placement and thread binding.
 *
 * Discovery and binding live in one backend file (topology_hwloc.c, or
 * topology_sysfs.c without hwloc); placement and description are common
 * (topology.c) and work on the plain description below, so they can be
 * tested on made-up machines. */
#ifndef WEFT_PLATFORM_TOPOLOGY_H
#define WEFT_PLATFORM_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT_MAX_CPUS 4096

typedef struct weft__cpuset {
    uint64_t bits[WEFT_MAX_CPUS / 64];
} weft__cpuset_t;

static inline void weft__cpuset_set(weft__cpuset_t *s, int cpu)
{
    s->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}
static inline int weft__cpuset_isset(const weft__cpuset_t *s, int cpu)
{
    return (int)((s->bits[cpu / 64] >> (cpu % 64)) & 1);
}
int weft__cpuset_count(const weft__cpuset_t *s);
/* Whether s has no cpu (stops at the first word that has one: a grant's
 * cpus are low numbers, so this is one load per task, not 64). */
static inline bool weft__cpuset_empty(const weft__cpuset_t *s)
{
    for (size_t i = 0; i < sizeof s->bits / sizeof s->bits[0]; i++)
        if (s->bits[i])
            return false;
    return true;
}
/* The first cpu in s at or after `from`, or -1 (skips empty words, so a
 * walk over a sparse set costs its 64 words, not 4096 bits). */
int weft__cpuset_next(const weft__cpuset_t *s, int from);
/* Writes s as a cpu list ("0-3,8", "" when empty) into buf (truncated to
 * size, always terminated); returns buf. */
char *weft__cpuset_format(const weft__cpuset_t *s, char *buf, size_t size);

/* One core of the allowed cpuset: its PUs (OS indices) and where it sits. */
typedef struct weft__topo_core {
    int package;  /* package number (dense, from 0) */
    int l3;       /* L3 domain number (dense over the machine, from 0) */
    int first_pu; /* index into weft__topo_t.pus */
    int npus;
    int numa; /* NUMA node (dense, from 0; 0 when unknown) */
} weft__topo_core_t;

typedef struct weft__topo {
    int ncores, npus, npackages, nl3, nnuma;
    weft__topo_core_t *cores; /* in the backend's logical order */
    int *pus;                 /* OS PU indices, grouped per core */
    int cap_cores, cap_pus;
    const char *backend; /* "hwloc" or "sysfs" */
    void *impl;          /* the backend's own state */
} weft__topo_t;

/* ---- backend (topology_hwloc.c / topology_sysfs.c) --------------------- */

/* Discovers the cores and PUs the calling thread may run on.
 * Errors: WEFT_ENOMEM, WEFT_ESYS. */
int weft__topo_discover(weft__topo_t **out);

/* A made-up machine, hwloc synthetic syntax ("pack:2 l3:2 core:4 pu:2"),
 * for tests. Errors: WEFT_ENOTSUP without hwloc, WEFT_EINVAL, WEFT_ENOMEM. */
int weft__topo_synthetic(const char *desc, weft__topo_t **out);

/* Binds the calling thread to set. Errors: WEFT_ESYS. */
int weft__topo_bind_self(weft__topo_t *t, const weft__cpuset_t *set);

/* Releases t->impl (called by weft__topo_destroy). */
void weft__topo_backend_fini(weft__topo_t *t);

/* ---- common (topology.c) ----------------------------------------------- */

/* An empty description, for backends and tests to fill. */
int weft__topo_new(const char *backend, weft__topo_t **out);
/* Appends a core; its PUs follow with weft__topo_add_pu. */
int weft__topo_add_core(weft__topo_t *t, int package, int l3);
int weft__topo_add_pu(weft__topo_t *t, int os_index);
/* The NUMA node of the core added last (backends that know it). */
void weft__topo_set_numa(weft__topo_t *t, int node);
/* The NUMA node of the first cpu of set (0 when none is known). */
int weft__topo_numa_of(const weft__topo_t *t, const weft__cpuset_t *set);
/* Renumbers packages and L3 domains densely and counts them. */
void weft__topo_finish(weft__topo_t *t);
void weft__topo_destroy(weft__topo_t *t);

/* Chooses a cpuset for each of nthreads workers under pin
 * (WEFT_PIN_*): workers are spread round-robin over packages and L3
 * domains before two share one; WEFT_PIN_PU uses a core's second PU only
 * once every core has a worker. WEFT_PIN_NONE leaves every set empty.
 * sets has nthreads entries. */
void weft__topo_place(const weft__topo_t *t, int nthreads, int pin, weft__cpuset_t *sets);

#endif
