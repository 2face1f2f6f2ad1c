/* The runtime's side of tracing: creates the recorder for the pool, runs
 * the background thread that samples the pool's memory in use and streams
 * the trace file, and the public calls (exports, regions, counters). */
#include "runtime/trace.h"
#include "runtime/runtime.h"
#include "memory/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weft/memory.h"
#include "weft/trace.h"

#define STREAM_EVERY_NS 100000000u /* the streamed file gets new events this often */
#define MEM_COUNTER "memory in use (bytes)"

struct weft__rtrace {
    weft__trace_t *rec;
    weft_runtime_t *rt;
    int nworkers;
    int sample_us;
    char *file;
    int fd;                       /* the streamed file, -1 = none */
    size_t meta_procs, meta_gpus; /* track names written so far */
    pthread_t thread;
    int has_thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    pthread_mutex_t mem_lock; /* the two below: sampled by the thread and by exports */
    size_t last_mem;
    int have_mem;
    /* device memory (bit d) and pinned memory (bit 64 lives in have_pinned) */
    uint64_t have_dev;
    size_t last_dev[64];
    int have_pinned;
    size_t last_pinned;
    double bottleneck; /* percent; 0: the default, 5 */
    char config[512];
    char title[128];
    char extra[3 * 4096 + 512];
    char conf[3 * 4096 + 1100];
};

/* ---- the background thread ------------------------------------------------------ */

static void sample_memory(weft__rtrace_t *t)
{
    weft_mem_stats_t s;
    if (weft_mem_stats(t->rt, &s) != 0)
        return;
    pthread_mutex_lock(&t->mem_lock);
    if (!t->have_mem || s.in_use != t->last_mem) {
        t->have_mem = 1;
        t->last_mem = s.in_use;
        weft__trace_counter(t->rec, -1, MEM_COUNTER, (double)s.in_use);
    }
    /* pinned and device memory, once a block of them has been used */
    size_t dev[64], pinned;
    uint64_t used = weft__mem_gpu_usage(t->rt, dev, &pinned);
    for (uint64_t m = used; m; m &= m - 1) {
        int d = __builtin_ctzll(m);
        if (!(t->have_dev >> d & 1) || dev[d] != t->last_dev[d]) {
            char name[64];
            snprintf(name, sizeof name, "device %d memory in use (bytes)", d);
            t->have_dev |= 1ull << d;
            t->last_dev[d] = dev[d];
            weft__trace_counter(t->rec, -1, name, (double)dev[d]);
        }
    }
    if ((used || pinned || t->have_pinned) && (!t->have_pinned || pinned != t->last_pinned)) {
        t->have_pinned = 1;
        t->last_pinned = pinned;
        weft__trace_counter(t->rec, -1, "pinned memory in use (bytes)", (double)pinned);
    }
    pthread_mutex_unlock(&t->mem_lock);
}

typedef struct stream {
    weft__sbuf_t b;
    weft__tmodel_t m; /* runs only (for names) */
    weft__rtrace_t *t;
} stream_t;

static void stream_ev(void *ud, const weft__tev_t *e)
{
    stream_t *s = ud;
    wtm_ev_t x = {.e = *e};
    double ns0 = e->flags & TEV_F_NS ? (double)e->t0 : weft__tick_to_ns(&s->m.map, e->t0);
    double ns1 = e->kind == TEV_COUNTER ? ns0
                 : e->flags & TEV_F_NS  ? (double)e->t1
                                        : weft__tick_to_ns(&s->m.map, e->t1);
    x.t0 = (ns0 - s->m.origin_ns) / 1000.0;
    x.t1 = (ns1 - s->m.origin_ns) / 1000.0;
    weft__trace_json_event(&s->b, &s->m, &x, 0);
}

/* Appends what was recorded since the last call to the streamed file. */
static void stream_flush(weft__rtrace_t *t)
{
    stream_t s = {.t = t};
    s.m.map = weft__tick_scale();
    s.m.origin_ns = weft__tick_to_ns(&s.m.map, weft__trace_start(t->rec));
    size_t nr = weft__trace_runs(t->rec, NULL, 0);
    weft__trun_t *raw = weft__calloc(nr ? nr : 1, sizeof *raw);
    s.m.run = weft__calloc(nr ? nr : 1, sizeof *s.m.run);
    if (raw && s.m.run) {
        nr = weft__trace_runs(t->rec, raw, nr);
        for (size_t i = 0; i < nr; i++)
            s.m.run[i].g = raw[i].g;
        s.m.nrun = nr;
        size_t procs = weft__trace_nlanes(t->rec, TLANE_PROC), gpus = weft__trace_nlanes(t->rec, TLANE_GPU);
        for (; t->meta_procs < procs; t->meta_procs++)
            weft__trace_json_lane(&s.b, t->rec, TLANE_PROC, (int)t->meta_procs, t->nworkers);
        for (; t->meta_gpus < gpus; t->meta_gpus++)
            weft__trace_json_lane(&s.b, t->rec, TLANE_GPU, (int)t->meta_gpus, t->nworkers);
        weft__trace_read(t->rec, 1, stream_ev, &s);
        /* one write per flush, ending after a whole event: the file is a
         * valid array prefix whenever the process dies */
        const char *p = s.b.p;
        size_t n = s.b.oom ? 0 : s.b.len;
        while (n) {
            ssize_t w = write(t->fd, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            p += w;
            n -= (size_t)w;
        }
    }
    weft__free(raw);
    weft__free(s.m.run);
    weft__free(s.b.p);
}

static void *trace_main(void *arg)
{
    weft__rtrace_t *t = arg;
    uint64_t next_stream = weft__clock_ns() + STREAM_EVERY_NS;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        uint64_t period = t->sample_us > 0 ? (uint64_t)t->sample_us * 1000u : STREAM_EVERY_NS;
        if (t->fd < 0 && t->sample_us <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t at = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + period;
        ts.tv_sec = (time_t)(at / 1000000000u);
        ts.tv_nsec = (long)(at % 1000000000u);
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->lock);
        if (t->sample_us > 0)
            sample_memory(t);
        weft__trace_prepare(t->rec);
        if (t->fd >= 0 && weft__clock_ns() >= next_stream) {
            stream_flush(t);
            next_stream = weft__clock_ns() + STREAM_EVERY_NS;
        }
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---- life cycle --------------------------------------------------------------- */

int weft__rtrace_create(weft_runtime_t *rt, weft__pool_t *pool, const weft_config_t *cfg, weft__rtrace_t **out)
{
    weft__rtrace_t *t = weft__calloc(1, sizeof *t);
    if (!t)
        return WEFT_ENOMEM;
    t->rt = rt;
    t->fd = -1;
    t->nworkers = cfg->threads;
    t->sample_us = cfg->trace_sample_us;
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->mem_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    static const char *pins[] = {"none", "core", "pu"};
    snprintf(t->config, sizeof t->config,
             "\"threads\":%d,\"pin\":\"%s\",\"spin_us\":%d,\"flags\":%u,\"trace_sample_us\":%d", cfg->threads,
             cfg->pin >= 0 && cfg->pin <= 2 ? pins[cfg->pin] : "?", cfg->spin_us, cfg->flags, cfg->trace_sample_us);
    int rc = weft__trace_create(weft__pool_slots(pool), &t->rec);
    if (rc) {
        weft__rtrace_destroy(t);
        return rc;
    }
    if (cfg->trace_file) {
        t->file = weft__strdup(cfg->trace_file);
        if (!t->file) {
            weft__rtrace_destroy(t);
            return WEFT_ENOMEM;
        }
        t->fd = open(t->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (t->fd < 0) {
            weft__log("cannot write the trace file '%s': %s", t->file, strerror(errno));
            weft__rtrace_destroy(t);
            return WEFT_ESYS;
        }
        weft__sbuf_t b = {0};
        weft__sbuf_puts(&b, "[\n");
        weft__trace_json_meta(&b, t->rec, t->nworkers, 0, 0);
        ssize_t w = b.oom ? -1 : write(t->fd, b.p, b.len);
        weft__free(b.p);
        if (w < 0 || (size_t)w != b.len) {
            weft__log("cannot write the trace file '%s': %s", t->file, w < 0 ? strerror(errno) : "short write");
            weft__rtrace_destroy(t);
            return WEFT_ESYS;
        }
    }
    if (t->fd >= 0 || t->sample_us > 0) {
        if (pthread_create(&t->thread, NULL, trace_main, t) != 0) {
            weft__rtrace_destroy(t);
            return WEFT_ESYS;
        }
        t->has_thread = 1;
    }
    weft__pool_set_trace(pool, t->rec);
    *out = t;
    return 0;
}

static void conf_of(weft__rtrace_t *t, weft__tconf_t *c)
{
    snprintf(t->conf, sizeof t->conf, "%s%s%s", t->extra, t->extra[0] ? "," : "", t->config);
    c->title = t->title[0] ? t->title : "weft runtime";
    c->config_json = t->conf;
    c->nworkers = t->nworkers;
    c->bottleneck = t->bottleneck > 0 ? t->bottleneck : 5.0;
}

weft__trace_t *weft__runtime_recorder(const weft_runtime_t *rt)
{
    weft__rtrace_t *t = weft__runtime_trace(rt);
    return t ? t->rec : NULL;
}

void weft__runtime_trace_label(weft_runtime_t *rt, const char *title, const char *config_json)
{
    weft__rtrace_t *t = weft__runtime_trace(rt);
    if (!t)
        return;
    snprintf(t->title, sizeof t->title, "%s", title ? title : "");
    /* cut at a member boundary when too long */
    size_t n = config_json ? strlen(config_json) : 0;
    if (n >= sizeof t->extra)
        n = 0;
    memcpy(t->extra, config_json ? config_json : "", n);
    t->extra[n] = '\0';
}

void weft__rtrace_destroy(weft__rtrace_t *t)
{
    if (!t)
        return;
    if (t->has_thread) {
        pthread_mutex_lock(&t->lock);
        t->stop = 1;
        pthread_cond_signal(&t->cond);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
    }
    if (t->fd >= 0) {
        /* the complete trace (flows, all events) replaces the streamed one */
        weft__tmodel_t m;
        weft__tconf_t c;
        conf_of(t, &c);
        if (weft__tmodel_build(t->rec, &m) != 0 || weft__trace_write_json(&m, &c, t->file) != 0) {
            stream_flush(t);
            (void)!write(t->fd, "\n]\n", 3);
        }
        weft__tmodel_free(&m);
        close(t->fd);
    }
    weft__trace_destroy(t->rec);
    weft__free(t->file);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->mem_lock);
    pthread_cond_destroy(&t->cond);
    weft__free(t);
}

/* ---- public calls ------------------------------------------------------------ */

typedef int (*export_fn)(const weft__tmodel_t *m, const weft__tconf_t *c, void *arg);

static int with_model(weft_runtime_t *rt, export_fn fn, void *arg)
{
    weft__rtrace_t *t = weft__runtime_trace(rt);
    if (!t)
        return WEFT_ESTATE;
    if (t->sample_us > 0)
        sample_memory(t);
    weft__tmodel_t m;
    weft__tconf_t c;
    conf_of(t, &c);
    int rc = weft__tmodel_build(t->rec, &m);
    if (rc == 0)
        rc = fn(&m, &c, arg);
    weft__tmodel_free(&m);
    return rc;
}

static int do_json(const weft__tmodel_t *m, const weft__tconf_t *c, void *arg)
{
    return weft__trace_write_json(m, c, arg);
}

static int do_html(const weft__tmodel_t *m, const weft__tconf_t *c, void *arg)
{
    return weft__trace_write_html(m, c, arg);
}

static int do_summary(const weft__tmodel_t *m, const weft__tconf_t *c, void *arg)
{
    return weft__trace_write_summary(m, c, arg);
}

int weft_runtime_write_trace(weft_runtime_t *rt, const char *path)
{
    if (!rt || !path || !*path)
        return WEFT_EINVAL;
    return with_model(rt, do_json, (void *)path);
}

int weft_runtime_write_report(weft_runtime_t *rt, const char *path)
{
    if (!rt || !path || !*path)
        return WEFT_EINVAL;
    return with_model(rt, do_html, (void *)path);
}

int weft_runtime_set_bottleneck(weft_runtime_t *rt, double percent)
{
    if (!rt || !(percent > 0 && percent <= 100))
        return WEFT_EINVAL;
    weft__rtrace_t *t = weft__runtime_trace(rt);
    if (!t)
        return WEFT_ESTATE;
    t->bottleneck = percent;
    return 0;
}

int weft_runtime_write_summary(weft_runtime_t *rt, FILE *out)
{
    if (!rt || !out)
        return WEFT_EINVAL;
    return with_model(rt, do_summary, out);
}

void weft_region_begin(const char *name)
{
    int slot;
    weft__trace_t *tr = weft__thread_trace(&slot);
    if (tr && name)
        weft__trace_region(tr, slot, weft__thread_task(), name);
}

void weft_region_end(void)
{
    int slot;
    weft__trace_t *tr = weft__thread_trace(&slot);
    if (tr)
        weft__trace_region(tr, slot, weft__thread_task(), NULL);
}

int weft_ctx_counter(weft_ctx_t *ctx, const char *name, double value)
{
    if (!ctx || !name || !*name)
        return WEFT_EINVAL;
    int slot;
    weft__trace_t *tr = weft__thread_trace(&slot);
    if (tr && slot == weft_ctx_worker(ctx))
        weft__trace_counter(tr, slot, name, value);
    return 0;
}

int weft_runtime_counter(weft_runtime_t *rt, const char *name, double value)
{
    if (!rt || !name || !*name)
        return WEFT_EINVAL;
    weft__rtrace_t *t = weft__runtime_trace(rt);
    if (t)
        weft__trace_counter(t->rec, -1, name, value);
    return 0;
}
