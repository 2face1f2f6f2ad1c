/* The runtime object: discovers the machine, places and starts the
 * workers, and forwards graph runs to the scheduler's pool. */
#include "runtime/runtime.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "memory/memory.h"
#include "base/base.h"
#include "platform/device.h"
#include "platform/topology.h"
#include "runtime/trace.h"
#include "scheduler/scheduler.h"
#include "tasks/tasks.h"

struct weft_runtime {
    weft__mem_owner_t mem_owner; /* first: memory/pool.c finds the pool here */
    weft_config_t cfg;
    weft__topo_t *topo;
    weft__cpuset_t *sets; /* one per worker */
    weft__pool_t *pool;
    _Atomic int gpus;        /* -1 until first asked: CUDA start-up is slow */
    weft__rtrace_t *trace;   /* NULL: tracing off */
    weft__gpu_t *gpu;        /* the GPU executor (tasks/gpu.c) */
    weft__proc_svc_t *procs; /* process tasks (tasks/proctask.c) */
};

weft__rtrace_t *weft__runtime_trace(const weft_runtime_t *rt)
{
    return rt->trace;
}

#define WEFT_MAX_THREADS 4096
#define KNOWN_FLAGS                                                                                                    \
    (WEFT_CONFIG_FAIL_FAST | WEFT_CONFIG_NO_CALLER_HELP | WEFT_CONFIG_QUIET | WEFT_CONFIG_NO_CRASH_HANDLER)

/* The smallest config a program can hand us: this version's, the first
 * with struct_size (older programs cannot exist: it came with 0.1). */
#define CONFIG_MIN_SIZE (offsetof(weft_config_t, struct_size) + sizeof(size_t))

static void config_defaults(weft_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->threads = 0;
    cfg->pin = WEFT_PIN_CORE;
    cfg->flags = 0;
    cfg->spin_us = 50;
    cfg->trace = 0;
    cfg->trace_file = NULL;
    cfg->trace_sample_us = 1000;
    cfg->gpu_streams = 8;
    cfg->struct_size = sizeof *cfg;
    cfg->gpus = -1;
    cfg->cores = 0;
    cfg->task_pin = -1;
}

void weft_config_init_sized(weft_config_t *cfg, size_t size)
{
    if (!cfg || size < CONFIG_MIN_SIZE)
        return;
    weft_config_t def;
    config_defaults(&def);
    /* a newer program's struct: zero what this version does not know */
    if (size > sizeof def)
        memset((char *)cfg + sizeof def, 0, size - sizeof def);
    memcpy(cfg, &def, size < sizeof def ? size : sizeof def);
    cfg->struct_size = size;
}

void(weft_config_init)(weft_config_t *cfg)
{
    weft_config_init_sized(cfg, sizeof *cfg);
}

/* The caller's config as this version's struct: what its size covers,
 * defaults for the rest; WEFT_EINVAL when it was not made by
 * weft_config_init (no plausible size). */
static int config_take(const weft_config_t *cfg, weft_config_t *out)
{
    config_defaults(out);
    size_t size = cfg->struct_size;
    if (size < CONFIG_MIN_SIZE || size > ((size_t)1 << 20))
        return WEFT_EINVAL;
    memcpy(out, cfg, size < sizeof *out ? size : sizeof *out);
    out->struct_size = sizeof *out;
    return 0;
}

static int check_config(const weft_config_t *c)
{
    if (c->threads < 0 || c->threads > WEFT_MAX_THREADS)
        return WEFT_EINVAL;
    if (c->pin != WEFT_PIN_NONE && c->pin != WEFT_PIN_CORE && c->pin != WEFT_PIN_PU)
        return WEFT_EINVAL;
    if (c->flags & ~(unsigned)KNOWN_FLAGS)
        return WEFT_EINVAL;
    if (c->spin_us < 0 || c->spin_us > 100000)
        return WEFT_EINVAL;
    if (c->trace < 0 || c->trace > 1 || (c->trace_file && (!c->trace || !*c->trace_file)) || c->trace_sample_us < 0 ||
        c->trace_sample_us > 10000000)
        return WEFT_EINVAL;
    if (c->gpu_streams < 0 || c->gpu_streams > 1024)
        return WEFT_EINVAL;
    if (c->gpus < -1 || c->gpus > 64)
        return WEFT_EINVAL;
    if (c->cores < 0 || c->cores > WEFT_MAX_CPUS)
        return WEFT_EINVAL;
    if (c->task_pin != -1 && c->task_pin != WEFT_PIN_NONE && c->task_pin != WEFT_PIN_CORE && c->task_pin != WEFT_PIN_PU)
        return WEFT_EINVAL;
    return 0;
}

static void runtime_free(weft_runtime_t *rt)
{
    /* (a runtime that fails after its process service was made) */
    weft__proc_svc_destroy(rt->procs);
    rt->procs = NULL;
    weft__gpu_destroy(rt->gpu);
    weft__topo_destroy(rt->topo);
    weft__free(rt->sets);
    weft__free(rt);
}

int weft_runtime_create(const weft_config_t *cfg, weft_runtime_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    weft_config_t def;
    if (!cfg)
        config_defaults(&def);
    else if (config_take(cfg, &def) != 0)
        return WEFT_EINVAL;
    cfg = &def;
    int rc = check_config(cfg);
    if (rc)
        return rc;
    if (!(cfg->flags & WEFT_CONFIG_NO_CRASH_HANDLER))
        weft__crash_install();
    weft_runtime_t *rt = weft__calloc(1, sizeof *rt);
    if (!rt)
        return WEFT_ENOMEM;
    rt->cfg = *cfg;
    atomic_init(&rt->gpus, -1);
    rc = weft__gpu_create(cfg->gpu_streams ? cfg->gpu_streams : 8, (cfg->flags & WEFT_CONFIG_QUIET) != 0, &rt->gpu);
    if (rc) {
        runtime_free(rt);
        return rc;
    }
    rc = weft__topo_discover(&rt->topo);
    if (rc) {
        runtime_free(rt);
        return rc;
    }
    if (rt->cfg.threads == 0)
        rt->cfg.threads = rt->topo->ncores;
    int n = rt->cfg.threads;
    rt->sets = weft__calloc((size_t)n, sizeof *rt->sets);
    if (!rt->sets) {
        runtime_free(rt);
        return WEFT_ENOMEM;
    }
    weft__topo_place(rt->topo, n, rt->cfg.pin, rt->sets);
    if (rt->cfg.pin != WEFT_PIN_NONE && !(rt->cfg.flags & WEFT_CONFIG_QUIET)) {
        int units = rt->cfg.pin == WEFT_PIN_PU ? rt->topo->npus : rt->topo->ncores;
        if (n > units)
            weft__log("%d workers pinned to %d %s: some share one", n, units,
                      rt->cfg.pin == WEFT_PIN_PU ? "PUs" : "cores");
    }
    weft__pool_config_t pc = {
        .threads = n,
        .flags = rt->cfg.flags,
        .spin_us = rt->cfg.spin_us,
        .topo = rt->topo,
        .sets = rt->sets,
        .owner = rt,
    };
    rc = weft__pool_create(&pc, &rt->pool);
    if (rc) {
        runtime_free(rt);
        return rc;
    }
    weft__pool_set_executor(rt->pool, WEFT__EXEC_GPU, rt->gpu);
    int task_pin = rt->cfg.task_pin >= 0 ? rt->cfg.task_pin : rt->cfg.pin;
    if ((rc = weft__proc_svc_create(rt->topo, task_pin, rt->cfg.cores, rt->cfg.gpus, &rt->procs)) != 0) {
        weft__pool_destroy(rt->pool);
        runtime_free(rt);
        return rc;
    }
    weft__pool_set_executor(rt->pool, WEFT__EXEC_PROC, rt->procs);
    weft__pool_set_admission(rt->pool, weft__proc_svc_admission(), rt->procs);
    int *numa = weft__calloc((size_t)n, sizeof *numa);
    if (!numa) {
        weft__pool_destroy(rt->pool);
        runtime_free(rt);
        return WEFT_ENOMEM;
    }
    for (int i = 0; i < n; i++)
        numa[i] = weft__topo_numa_of(rt->topo, &rt->sets[i]);
    rc = weft__mem_create(weft__pool_exec_owner(rt->pool), numa, rt->topo->nnuma, &rt->mem_owner.mem);
    weft__free(numa);
    if (rc == 0 && (rc = weft__mem_attach(rt->mem_owner.mem, rt)) != 0)
        weft__mem_destroy(rt->mem_owner.mem);
    if (rc) {
        weft__pool_destroy(rt->pool);
        runtime_free(rt);
        return rc;
    }
    if (rt->cfg.trace && (rc = weft__rtrace_create(rt, rt->pool, &rt->cfg, &rt->trace)) != 0) {
        weft__pool_destroy(rt->pool);
        weft__mem_destroy(rt->mem_owner.mem);
        runtime_free(rt);
        return rc;
    }
    rt->cfg.trace_file = NULL; /* the caller's string: not kept */
    *out = rt;
    return 0;
}

void weft_runtime_destroy(weft_runtime_t *rt)
{
    if (!rt)
        return;
    if (weft__pool_is_worker(rt->pool)) {
        weft__log("weft_runtime_destroy: refused, called from one of its own tasks");
        return;
    }
    weft__pool_destroy(rt->pool);
    weft__proc_svc_destroy(rt->procs); /* after the pool: every process task completed */
    rt->procs = NULL;
    weft__rtrace_destroy(rt->trace);
    weft__mem_destroy(rt->mem_owner.mem);
    runtime_free(rt);
}

static int gpu_count(const weft_runtime_t *rt)
{
    weft_runtime_t *m = (weft_runtime_t *)rt; /* a cache, not a change */
    int n = atomic_load_explicit(&m->gpus, memory_order_relaxed);
    if (n < 0) {
        n = weft__device_count();
        atomic_store_explicit(&m->gpus, n, memory_order_relaxed);
    }
    return n;
}

struct weft__proc_svc *weft__runtime_procs(const weft_runtime_t *rt)
{
    return rt->procs;
}

int weft_runtime_info(const weft_runtime_t *rt, weft_runtime_info_t *info)
{
    if (!rt || !info)
        return WEFT_EINVAL;
    memset(info, 0, sizeof *info);
    info->threads = rt->cfg.threads;
    info->pin = rt->cfg.pin;
    info->cores = rt->topo->ncores;
    info->pus = rt->topo->npus;
    info->packages = rt->topo->npackages;
    info->l3_domains = rt->topo->nl3 > 0 ? rt->topo->nl3 : 1;
    info->topology_backend = rt->topo->backend;
    info->alloc_backend = weft_alloc_backend();
    info->gpus = gpu_count(rt);
    info->gpu_backend = weft__device_backend();
    return 0;
}

int weft_runtime_worker_cpus(const weft_runtime_t *rt, int worker, int *cpus, int max)
{
    if (!rt || worker < 0 || worker >= rt->cfg.threads || max < 0 || (!cpus && max > 0))
        return WEFT_EINVAL;
    int n = 0;
    for (int c = 0; c < WEFT_MAX_CPUS; c++)
        if (weft__cpuset_isset(&rt->sets[worker], c)) {
            if (n < max)
                cpus[n] = c;
            n++;
        }
    return n;
}

static const char *pin_name(int pin)
{
    return pin == WEFT_PIN_NONE ? "none" : pin == WEFT_PIN_PU ? "pu" : "core";
}

/* snprintf at buf + *off, counting what would have been written. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*off < size ? buf + *off : NULL, *off < size ? size - *off : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *off += (size_t)n;
}

int weft_runtime_describe(const weft_runtime_t *rt, char *buf, size_t size)
{
    if (!rt || (!buf && size > 0))
        return WEFT_EINVAL;
    const weft__topo_t *t = rt->topo;
    size_t off = 0;
    append(buf, size, &off, "topology (%s): %d package(s), %d L3 domain(s), %d core(s), %d PU(s) allowed\n", t->backend,
           t->npackages, t->nl3 > 0 ? t->nl3 : 1, t->ncores, t->npus);
    append(buf, size, &off, "workers: %d, pin=%s, allocator=%s, gpus=%d (%s)\n", rt->cfg.threads, pin_name(rt->cfg.pin),
           weft_alloc_backend(), gpu_count(rt), weft__device_backend());
    for (int w = 0; w < rt->cfg.threads; w++) {
        int cpus[16];
        int n = weft_runtime_worker_cpus(rt, w, cpus, 16);
        append(buf, size, &off, "  worker %d: %s", w, n == 0 ? "unbound" : "");
        for (int i = 0; i < n && i < 16; i++)
            append(buf, size, &off, "%sPU %d", i ? ", " : "", cpus[i]);
        append(buf, size, &off, "%s\n", n > 16 ? ", ..." : "");
    }
    return (int)off;
}

/* ---- graph runs (forwarded to the scheduler) ---------------------------- */

int weft_graph_run(weft_runtime_t *rt, weft_graph_t *g)
{
    if (!rt || !g)
        return WEFT_EINVAL;
    return weft__pool_run(rt->pool, g);
}

int weft_graph_submit(weft_runtime_t *rt, weft_graph_t *g)
{
    if (!rt || !g)
        return WEFT_EINVAL;
    return weft__pool_submit(rt->pool, g);
}
