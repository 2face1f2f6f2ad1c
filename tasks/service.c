/* The runtime's task service (tasks/tasks.h): the one admission every
 * task kind asks — a cores budget, the GPUs in it and their names — and
 * the process executor. One per runtime, reached through the pool's
 * executor slot WEFT__EXEC_PROC and as the pool's admission. The budget and
 * the executor are made when the first task needs them, so a program that
 * never asks starts neither a launcher thread nor the watchdog; the GPUs
 * are counted when a task first asks for one (counting starts CUDA). */
#include "tasks/tasks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "platform/device.h"

struct weft__proc_svc {
    pthread_mutex_t lock; /* guards the lazy starts */
    weft__topo_t *topo;   /* borrowed from the runtime */
    int pin;
    int slots;      /* weft_config_t.cores (0: the machine's) */
    int gpus_cfg;   /* weft_config_t.gpus: -1 = count the devices */
    int gpus_known; /* the budget's GPUs are set, with their names */
    int seen;       /* CUDA devices this process sees (-1: not asked yet) */
    int started;    /* 1: cores and procs made; < 0: their error */
    weft__cores_t *cores;
    weft__procs_t *procs;
    weft__remote_t *remote; /* borrowed: attempts placed on remote nodes */
    /* GPU i of the budget: CUDA device dev[i] here, name[i] in a child's
     * CUDA_VISIBLE_DEVICES */
    int dev[64];
    char name[64][64];
};

int weft__proc_svc_create(weft__topo_t *topo, int pin, int slots, int gpus, weft__proc_svc_t **out)
{
    weft__proc_svc_t *s = weft__calloc(1, sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    s->topo = topo;
    s->pin = pin;
    s->slots = slots;
    s->gpus_cfg = gpus;
    s->seen = -1;
    *out = s;
    return 0;
}

void weft__proc_svc_destroy(weft__proc_svc_t *s)
{
    if (!s)
        return;
    weft__procs_destroy(s->procs); /* waits for every process and callback */
    weft__cores_destroy(s->cores);
    pthread_mutex_destroy(&s->lock);
    weft__free(s);
}

int weft__proc_svc_start(weft__proc_svc_t *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->started) {
        int rc = weft__cores_create(s->topo, s->slots, s->pin, &s->cores);
        if (rc == 0)
            rc = weft__procs_create(s->pin == WEFT_PIN_NONE ? NULL : s->topo, &s->procs);
        s->started = rc ? rc : 1;
    }
    int rc = s->started < 0 ? s->started : 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

weft__cores_t *weft__proc_svc_cores(const weft__proc_svc_t *s)
{
    return s->cores;
}

weft__procs_t *weft__proc_svc_procs(const weft__proc_svc_t *s)
{
    return s->procs;
}

int weft__proc_svc_pin(const weft__proc_svc_t *s)
{
    return s->pin;
}

void weft__proc_svc_stop(weft__proc_svc_t *s, uint64_t grace_ns)
{
    pthread_mutex_lock(&s->lock);
    int started = s->started == 1;
    pthread_mutex_unlock(&s->lock);
    if (!started)
        return;
    weft__cores_stop(s->cores);
    weft__procs_stop(s->procs, grace_ns);
    if (s->remote)
        weft__remote_stop(s->remote, grace_ns);
}

void weft__proc_svc_set_remote(weft__proc_svc_t *s, weft__remote_t *rm)
{
    s->remote = rm;
}

weft__remote_t *weft__proc_svc_remote(const weft__proc_svc_t *s)
{
    return s->remote;
}

int weft__gpu_names_parse(const char *cvd, char (*names)[64], int max)
{
    int n = 0;
    for (const char *p = cvd; p && *p && n < max;) {
        size_t len = strcspn(p, ",");
        while (len && p[len - 1] == ' ')
            len--;
        if (!len || len >= sizeof names[0])
            break;
        memcpy(names[n], p, len);
        names[n++][len] = '\0';
        p += strcspn(p, ",");
        p += *p == ',';
        p += strspn(p, " ");
    }
    return n;
}

static int seen_locked(weft__proc_svc_t *s)
{
    if (s->seen < 0)
        s->seen = weft__device_count();
    return s->seen;
}

/* CUDA devices this process sees (counted once). */
static int svc_seen(weft__proc_svc_t *s)
{
    pthread_mutex_lock(&s->lock);
    int n = seen_locked(s);
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* GPU i is CUDA device i % seen here; in a child, the i-th entry of weft's
 * own CUDA_VISIBLE_DEVICES when it is set (up to its first empty entry),
 * else its number, wrapping over the devices there are when more are
 * declared (shared, as threads above the core count are). */
int weft__proc_svc_gpus(weft__proc_svc_t *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->gpus_known) {
        int seen = seen_locked(s);
        int n = s->gpus_cfg >= 0 ? s->gpus_cfg : seen;
        n = n < 0 ? 0 : n > 64 ? 64 : n;
        char names[64][64];
        const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
        int nnames = weft__gpu_names_parse(cvd, names, 64);
        if (cvd && nnames == 0)
            cvd = NULL; /* nothing to name them by: numbers */
        int real = cvd ? nnames : seen;
        for (int i = 0; i < n; i++) {
            int d = real > 0 ? i % real : i;
            s->dev[i] = seen > 0 ? i % seen : i;
            if (cvd)
                memcpy(s->name[i], names[d], sizeof names[d]);
            else
                snprintf(s->name[i], sizeof s->name[i], "%d", d);
        }
        weft__cores_set_gpus(s->cores, n);
        s->gpus_known = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return weft__cores_gpus(s->cores);
}

int weft__proc_svc_gpu_dev(const weft__proc_svc_t *s, int i)
{
    return s->dev[i];
}

void weft__proc_svc_gpu_list(const weft__proc_svc_t *s, uint64_t mask, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (; mask && n < size; mask &= mask - 1)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "," : "", s->name[__builtin_ctzll(mask)]);
}

/* ---- admission of C tasks with cpus or gpus (weft__admit_ops_t) ----------- */

static void *admit_acquire(void *ud, int cpus, int gpus, weft__grant_t *g, int *err, char *why, size_t whylen)
{
    weft__proc_svc_t *s = ud;
    int rc = weft__proc_svc_start(s);
    if (rc) {
        *err = rc;
        snprintf(why, whylen, "cannot start the cores budget: %s", weft_strerror(rc));
        return NULL;
    }
    int slots = weft__cores_slots(s->cores);
    if (cpus > slots) {
        *err = WEFT_EINVAL;
        snprintf(why, whylen, "needs %d cores but the runtime has %d", cpus, slots);
        return NULL;
    }
    int ngpus = gpus ? weft__proc_svc_gpus(s) : 0;
    if (gpus > ngpus) {
        *err = WEFT_EINVAL;
        snprintf(why, whylen, "needs %d GPU%s but the runtime has %d", gpus, gpus == 1 ? "" : "s", ngpus);
        return NULL;
    }
    weft__lease_t *lease;
    /* a task with GPUs only still takes one core slot (it runs on one),
     * but is not bound to it; the slots the worker had last are preferred */
    int k = cpus ? cpus : 1;
    const int *near = g->nnear == k ? g->near : NULL;
    if ((rc = weft__cores_acquire(s->cores, k, gpus, near, &lease)) != 0) {
        *err = rc;
        snprintf(why, whylen, "%s",
                 rc == WEFT_ECANCELED ? "not started: the run was stopping" : "cannot ask for its cores");
        return NULL;
    }
    if (s->pin == WEFT_PIN_NONE || !cpus)
        memset(&g->set, 0, sizeof g->set);
    else
        g->set = lease->set;
    g->nnear = k <= 64 ? k : 0;
    memcpy(g->near, lease->slots, (size_t)g->nnear * sizeof g->near[0]);
    g->gpu_mask = lease->gpus;
    if (gpus) {
        int n = 0;
        for (uint64_t m = lease->gpus; m && n < gpus; m &= m - 1)
            g->devs[n++] = s->dev[__builtin_ctzll(m)];
        if (svc_seen(s) > 0)
            weft__device_select(g->devs[0]);
    }
    return lease;
}

static void admit_release(void *ud, void *lease)
{
    weft__proc_svc_t *s = ud;
    weft__cores_release(s->cores, lease);
}

static const weft__admit_ops_t admit_ops = {admit_acquire, admit_release};

const weft__admit_ops_t *weft__proc_svc_admission(void)
{
    return &admit_ops;
}
