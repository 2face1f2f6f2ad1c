/* Placement of workers on the discovered machine, and the description
 * builder the backends fill. */
#include "platform/topology.h"

#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "weft/runtime.h"

int weft__cpuset_count(const weft__cpuset_t *s)
{
    int n = 0;
    for (size_t i = 0; i < sizeof s->bits / sizeof s->bits[0]; i++)
        if (s->bits[i]) /* most words are empty: no popcount call for them */
            n += __builtin_popcountll(s->bits[i]);
    return n;
}

int weft__cpuset_next(const weft__cpuset_t *s, int from)
{
    if (from < 0)
        from = 0;
    for (int w = from / 64; w < WEFT_MAX_CPUS / 64; w++) {
        uint64_t bits = s->bits[w];
        if (w == from / 64)
            bits &= ~UINT64_C(0) << (from % 64);
        if (bits)
            return w * 64 + __builtin_ctzll(bits);
    }
    return -1;
}

/* Appends the decimal v to buf at *len, keeping room for the '\0'. */
static void put_num(char *buf, size_t size, size_t *len, int v)
{
    char tmp[12];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n && *len + 1 < size)
        buf[(*len)++] = tmp[--n];
}

char *weft__cpuset_format(const weft__cpuset_t *s, char *buf, size_t size)
{
    if (!size)
        return buf;
    size_t len = 0;
    for (int cpu = weft__cpuset_next(s, 0); cpu >= 0 && len + 1 < size; cpu = weft__cpuset_next(s, cpu + 1)) {
        int last = cpu;
        while (last + 1 < WEFT_MAX_CPUS && weft__cpuset_isset(s, last + 1))
            last++;
        if (len && len + 1 < size)
            buf[len++] = ',';
        put_num(buf, size, &len, cpu);
        if (last > cpu && len + 1 < size) {
            buf[len++] = '-';
            put_num(buf, size, &len, last);
        }
        cpu = last;
    }
    buf[len] = '\0';
    return buf;
}

int weft__topo_new(const char *backend, weft__topo_t **out)
{
    weft__topo_t *t = weft__calloc(1, sizeof *t);
    if (!t)
        return WEFT_ENOMEM;
    t->backend = backend;
    *out = t;
    return 0;
}

static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *n = weft__realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return WEFT_ENOMEM;
    *arr = n;
    *cap = ncap;
    return 0;
}

int weft__topo_add_core(weft__topo_t *t, int package, int l3)
{
    if (grow((void **)&t->cores, &t->cap_cores, t->ncores + 1, sizeof *t->cores))
        return WEFT_ENOMEM;
    t->cores[t->ncores++] = (weft__topo_core_t){package, l3, t->npus, 0, 0};
    return 0;
}

void weft__topo_set_numa(weft__topo_t *t, int node)
{
    if (t->ncores > 0 && node >= 0)
        t->cores[t->ncores - 1].numa = node;
}

int weft__topo_numa_of(const weft__topo_t *t, const weft__cpuset_t *set)
{
    int cpu = set ? weft__cpuset_next(set, 0) : -1;
    for (int c = 0; cpu >= 0 && c < t->ncores; c++)
        for (int i = 0; i < t->cores[c].npus; i++)
            if (t->pus[t->cores[c].first_pu + i] == cpu)
                return t->cores[c].numa;
    return 0;
}

int weft__topo_add_pu(weft__topo_t *t, int os_index)
{
    if (t->ncores == 0 || os_index < 0 || os_index >= WEFT_MAX_CPUS)
        return WEFT_EINVAL;
    if (grow((void **)&t->pus, &t->cap_pus, t->npus + 1, sizeof *t->pus))
        return WEFT_ENOMEM;
    t->pus[t->npus++] = os_index;
    t->cores[t->ncores - 1].npus++;
    return 0;
}

/* Maps the ids in field (package or l3) to 0..k-1 in order of first
 * appearance; returns k. Quadratic in the number of distinct ids, which is
 * tiny (packages, L3 domains). */
static int densify(weft__topo_t *t, size_t off)
{
    int ids[256];
    int k = 0;
    for (int c = 0; c < t->ncores; c++) {
        int *v = (int *)((char *)&t->cores[c] + off);
        int j = 0;
        while (j < k && ids[j] != *v)
            j++;
        if (j == k && k < 256)
            ids[k++] = *v;
        *v = j < 256 ? j : 255;
    }
    return k;
}

void weft__topo_finish(weft__topo_t *t)
{
    /* Drop cores that ended up without PUs (all disallowed). */
    int w = 0;
    for (int c = 0; c < t->ncores; c++)
        if (t->cores[c].npus > 0)
            t->cores[w++] = t->cores[c];
    t->ncores = w;
    t->npackages = densify(t, offsetof(weft__topo_core_t, package));
    /* L3 ids are made unique per package first, so that two packages that
     * both call their cache "0" count as two domains. */
    for (int c = 0; c < t->ncores; c++)
        t->cores[c].l3 = t->cores[c].package * 4096 + (t->cores[c].l3 & 4095);
    t->nl3 = densify(t, offsetof(weft__topo_core_t, l3));
    t->nnuma = densify(t, offsetof(weft__topo_core_t, numa));
}

void weft__topo_destroy(weft__topo_t *t)
{
    if (!t)
        return;
    weft__topo_backend_fini(t);
    weft__free(t->cores);
    weft__free(t->pus);
    weft__free(t);
}

/* Spread order of cores: the r-th core of every L3 domain before the
 * (r+1)-th of any, and the domains themselves interleaved across packages
 * (first domain of each package, then the second of each, ...). Writes
 * ncores indices into order. L3 numbers are dense (weft__topo_finish). */
static void spread_cores(const weft__topo_t *t, int *order)
{
    int ndom = t->nl3 > 0 ? t->nl3 : 1;
    int dom_pkg[ndom], dom_rank[ndom], dom_order[ndom], dom_next[ndom];
    int pkg_seen[t->npackages > 0 ? t->npackages : 1];
    memset(pkg_seen, 0, sizeof pkg_seen);
    for (int d = 0; d < ndom; d++)
        dom_pkg[d] = -1;
    for (int c = 0; c < t->ncores; c++) {
        int d = t->cores[c].l3;
        if (dom_pkg[d] < 0) {
            dom_pkg[d] = t->cores[c].package;
            dom_rank[d] = pkg_seen[dom_pkg[d]]++;
        }
    }
    /* Domains sorted by (rank within package, package): insertion sort on
     * a handful of entries. */
    for (int d = 0; d < ndom; d++) {
        int j = d;
        while (j > 0 && (dom_rank[dom_order[j - 1]] > dom_rank[d] ||
                         (dom_rank[dom_order[j - 1]] == dom_rank[d] && dom_pkg[dom_order[j - 1]] > dom_pkg[d]))) {
            dom_order[j] = dom_order[j - 1];
            j--;
        }
        dom_order[j] = d;
        dom_next[d] = 0; /* next core index to scan from */
    }
    int n = 0;
    while (n < t->ncores) {
        for (int k = 0; k < ndom && n < t->ncores; k++) {
            int d = dom_order[k];
            int c = dom_next[d];
            while (c < t->ncores && t->cores[c].l3 != d)
                c++;
            if (c < t->ncores) {
                order[n++] = c;
                dom_next[d] = c + 1;
            } else {
                dom_next[d] = c;
            }
        }
    }
}

void weft__topo_place(const weft__topo_t *t, int nthreads, int pin, weft__cpuset_t *sets)
{
    memset(sets, 0, (size_t)nthreads * sizeof *sets);
    if (pin == WEFT_PIN_NONE || t->ncores == 0)
        return;
    int order[t->ncores];
    spread_cores(t, order);
    if (pin == WEFT_PIN_CORE) {
        for (int i = 0; i < nthreads; i++) {
            const weft__topo_core_t *c = &t->cores[order[i % t->ncores]];
            for (int p = 0; p < c->npus; p++)
                weft__cpuset_set(&sets[i], t->pus[c->first_pu + p]);
        }
        return;
    }
    /* WEFT_PIN_PU: PU k of every core (in spread order) before PU k+1. */
    int maxpu = 0;
    for (int c = 0; c < t->ncores; c++)
        if (t->cores[c].npus > maxpu)
            maxpu = t->cores[c].npus;
    int i = 0;
    while (i < nthreads) {
        for (int k = 0; k < maxpu && i < nthreads; k++)
            for (int j = 0; j < t->ncores && i < nthreads; j++) {
                const weft__topo_core_t *c = &t->cores[order[j]];
                if (k < c->npus)
                    weft__cpuset_set(&sets[i++], t->pus[c->first_pu + k]);
            }
    }
}
