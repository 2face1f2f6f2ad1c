/* Running a workflow: TOML -> one weft graph of command tasks (process
 * tasks of the runtime, command.c) and kernel tasks (a task kind of the
 * scheduler, kernel.c), the run directory and its record (record.c). The
 * runtime's task service admits and binds them and its process executor
 * runs the commands; this file only builds the graph, starts and stops
 * the run and answers questions about it. */
#include "workloads/workflow/run.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "platform/device.h"
#include "workloads/workflow/store.h"

/* ---- GPUs --------------------------------------------------------------------------------- */

/* The run's GPUs, when a task may use one (else CUDA is not started):
 * [workflow] gpus, else as many as weft sees (the task service names and
 * maps them: tasks/service.c). Then each task's need is checked. */
static int gpu_setup(weft__flow_run_t *r)
{
    weft__flow_t *f = r->f;
    bool wanted = false;
    for (uint32_t i = 0; i < f->ntmpls; i++)
        wanted |= f->tmpls[i].gpus > 0 || (f->tmpls[i].kind == WF_KERNEL && f->tmpls[i].device != WF_DEV_CPU);
    if (!wanted)
        return 0;
    r->seen_gpus = weft__device_count();
    char names[64][64];
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    int nnames = weft__gpu_names_parse(cvd, names, 64);
    int n = f->gpus >= 0 ? f->gpus : r->seen_gpus;
    if (cvd && nnames == 0 && n > 0)
        return weft__wf_error(f, AT(f->gpus_v), NULL, "workflow.gpus",
                              "%d GPUs, but CUDA_VISIBLE_DEVICES=\"%s\" leaves none to hand out", n, cvd);
    r->ngpus = n;
    int rc = weft__cores_set_gpus(r->cores, n);
    for (uint32_t i = 0; i < f->ntmpls && !rc; i++) {
        const wf_tmpl_t *t = &f->tmpls[i];
        char why[160];
        if (f->gpus >= 0)
            snprintf(why, sizeof why, "[workflow] gpus = %d", f->gpus);
        else if (r->seen_gpus > 0)
            snprintf(why, sizeof why, "weft sees %d CUDA device%s; [workflow] gpus can declare more", r->seen_gpus,
                     r->seen_gpus == 1 ? "" : "s");
        else
            snprintf(why, sizeof why, "weft sees no CUDA device%s; declare the GPUs with [workflow] gpus",
                     strcmp(weft__device_backend(), "none") == 0 ? " (built without CUDA)" : "");
        if (t->gpus > n)
            rc = weft__wf_error(f, AT(t->gpus_v), t->name, "gpus", "needs %d GPU%s but the run has %d (%s)", t->gpus,
                                t->gpus == 1 ? "" : "s", n, why);
        else if (t->kind == WF_KERNEL && t->device == WF_DEV_GPU && n == 0 && r->seen_gpus > 0)
            rc = weft__wf_error(f, AT(t->device_v), t->name, "device", "the run has no GPU (%s)", why);
    }
    return rc;
}

/* s without what would need escaping in a JSON string. */
static void json_safe(char *out, const char *s, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++)
        out[n++] = *s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ? '?' : *s;
    out[n] = '\0';
}

/* The sweep values a task uses, as notes on its graph task (traces). */
static int annotate_params(const weft__flow_t *f, const wf_task_t *t, weft_task_t *gt)
{
    for (uint32_t m = 0; m < t->tmpl->ndims; m++) {
        const wf_dim_t *d = &f->dims[t->tmpl->dims[m]];
        uint32_t digit = weft__wf_digit(f, t->tmpl, t->combo, t->tmpl->dims[m]);
        for (uint32_t p = 0; p < d->nparams; p++) {
            int rc = weft_task_annotate(gt, f->params[d->params[p]].name, f->params[d->params[p]].values[digit]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- the graph ------------------------------------------------------------------------------ */

static void *waiter_main(void *arg)
{
    weft__flow_run_t *r = arg;
    weft_graph_wait(r->g);
    if (r->o.notify_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(r->o.notify_fd, &one, sizeof one);
        (void)n;
    }
    return NULL;
}

/* .weft/<name>-<YYYYmmdd-HHMMSS>[-N], and .weft/latest pointing at it. */
static int make_run_dir(weft__flow_run_t *r, char *err, size_t errlen)
{
    const weft__flow_t *f = r->f;
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s/.weft", f->workdir);
    if (mkdir(base, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create '%s': %s", base, strerror(errno));
        return WEFT_ESYS;
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    char name[256 + 32]; /* a slice's runs say which: flow-shard2of4-... */
    int si = 0, sn = 0;
    if (f->shard && sscanf(f->shard, "%d/%d", &si, &sn) == 2)
        snprintf(name, sizeof name, "%s-shard%dof%d", f->name, si, sn);
    else
        snprintf(name, sizeof name, "%s", f->name);
    for (int i = 1;; i++) {
        int n = i == 1 ? snprintf(r->dir, sizeof r->dir, "%s/%s-%s", base, name, stamp)
                       : snprintf(r->dir, sizeof r->dir, "%s/%s-%s-%d", base, name, stamp, i);
        if (n >= (int)sizeof r->dir) {
            snprintf(err, errlen, "the path of the run directory is too long");
            return WEFT_ESYS;
        }
        if (mkdir(r->dir, 0755) == 0)
            break;
        if (errno != EEXIST || i == 1000) {
            snprintf(err, errlen, "cannot create '%s': %s", r->dir, strerror(errno));
            return WEFT_ESYS;
        }
    }
    char link[PATH_MAX + 16];
    snprintf(link, sizeof link, "%s/latest", base);
    unlink(link);
    if (symlink(strrchr(r->dir, '/') + 1, link) != 0) {
        /* only a convenience */
    }
    return 0;
}

/* A run object with nothing started yet. */
static weft__flow_run_t *run_new(weft__flow_t *f, char *err, size_t errlen)
{
    weft__flow_run_t *r = weft__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->f = f;
    r->tsv = -1;
    r->flush_fd = -1;
    r->results_tail = &r->results;
    weft__lock_init(&r->lock);
    weft__lock_init(&r->jlock);
    pthread_mutex_init(&r->flush_lock, NULL);
    f->err = err;
    f->errlen = errlen;
    return r;
}

/* What the machine decides (shared by run and validate): the core slots
 * (every task's cpus must fit) and the GPUs (gpu_setup's checks). */
static int run_resources(weft__flow_run_t *r, char *err, size_t errlen)
{
    weft__flow_t *f = r->f;
    int rc = weft__topo_discover(&r->topo);
    if (rc) {
        snprintf(err, errlen, "cannot discover the machine's cores: %s", weft_strerror(rc));
        return rc;
    }
    rc = weft__cores_create(r->topo, f->threads, f->pin, &r->cores);
    r->own_cores = rc == 0;
    if (rc) {
        snprintf(err, errlen, "cannot set up %d core slots: %s", f->threads, weft_strerror(rc));
        return rc;
    }
    if (r->o.cluster) { /* the tasks run on the other ranks: each must fit one of them */
        int max_slots = 0, max_gpus = 0;
        weft__remote_capacity(weft__wf_cluster_remote(r->o.cluster), NULL, NULL, &max_slots, &max_gpus);
        for (uint32_t i = 0; i < f->ntmpls; i++) {
            const wf_tmpl_t *t = &f->tmpls[i];
            if (t->cpus > max_slots)
                return weft__wf_error(f, AT(weft_toml_get(t->table, "cpus")), t->name, "cpus",
                                      "needs %d cores but the largest rank has %d", t->cpus, max_slots);
            if (t->gpus > max_gpus)
                return weft__wf_error(f, AT(t->gpus_v), t->name, "gpus", "needs %d GPU%s but the most a rank has is %d",
                                      t->gpus, t->gpus == 1 ? "" : "s", max_gpus);
            if (t->kind == WF_KERNEL && t->device == WF_DEV_GPU && max_gpus == 0)
                return weft__wf_error(f, AT(t->device_v), t->name, "device", "no rank of the run has a GPU");
        }
        return 0;
    }
    int slots = weft__cores_slots(r->cores), units = weft__flow_run_units(r);
    if (slots > units) /* threads above the machine: tasks share cores, each slower (run and validate say so) */
        weft__log("warning: threads = %d is more than the %d cores weft may use here: up to %d tasks at a time "
                  "share them, each at about %d%% of a core; threads = 0 uses every core, one task per core",
                  slots, units, slots, 100 * units / slots);
    for (uint32_t i = 0; i < f->ntmpls; i++) {
        const wf_tmpl_t *t = &f->tmpls[i];
        if (t->cpus > slots) {
            const weft_toml_value_t *v = weft_toml_get(t->table, "cpus");
            return weft__wf_error(f, AT(v), t->name, "cpus",
                                  "needs %d cores but the run has %d (raise threads, or lower cpus)", t->cpus, slots);
        }
    }
    if ((rc = gpu_setup(r)) == WEFT_ENOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}

int weft__flow_check(weft__flow_t *f, char *err, size_t errlen)
{
    weft__flow_run_t *r = run_new(f, err, errlen);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return WEFT_ENOMEM;
    }
    int rc = run_resources(r, err, errlen);
    weft__flow_run_destroy(r);
    return rc;
}

int weft__flow_run_start(weft__flow_t *f, const weft__flow_run_opts_t *o, weft__flow_run_t **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    weft__flow_run_t *r = run_new(f, err, errlen);
    if (!r)
        return WEFT_ENOMEM;
    r->o = *o;
    while (environ[r->nenviron])
        r->nenviron++;
    int rc = run_resources(r, err, errlen);
    if (rc)
        goto fail;
    int slots = weft__cores_slots(r->cores);
    static atomic_uint_least64_t next_id = 1;
    r->id = atomic_fetch_add(&next_id, 1);
    r->state = weft__calloc(f->ntasks ? f->ntasks : 1, 1);
    r->cpu_short = weft__calloc(f->ntmpls ? f->ntmpls : 1, sizeof *r->cpu_short);
    r->klimits = weft__calloc(f->ntmpls ? f->ntmpls : 1, sizeof *r->klimits);
    r->fam_ns = weft__calloc(f->ntmpls ? f->ntmpls : 1, sizeof *r->fam_ns);
    r->fam_n = weft__calloc(f->ntmpls ? f->ntmpls : 1, sizeof *r->fam_n);
    if (!r->state || !r->cpu_short || !r->klimits || !r->fam_ns || !r->fam_n) {
        rc = WEFT_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (chdir(f->workdir) != 0) {
        rc = WEFT_ESYS;
        snprintf(err, errlen, "cannot change to the working directory '%s': %s", f->workdir, strerror(errno));
        goto fail;
    }
    {
        weft__flow_resume_t fresh = {.mode = WEFT_FLOW_FRESH};
        if ((rc = weft__flow_plan(f, o->resume ? o->resume : &fresh, false, err, errlen)) != 0)
            goto fail;
    }
    if ((rc = make_run_dir(r, err, errlen)) != 0)
        goto fail;
    if (o->cluster && (rc = weft__wf_cluster_begin(o->cluster, r->dir)) != 0) {
        snprintf(err, errlen, "cannot reach the other ranks: %s", weft_strerror(rc));
        goto fail;
    }
    r->store = f->store;
    r->flush_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); /* -1: workers commit themselves */
    {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        char host[256];
        if (gethostname(host, sizeof host) != 0)
            host[0] = '\0';
        host[sizeof host - 1] = '\0';
        weft__wf_run_row_t row = {.flow = f->name,
                                  .name = strrchr(r->dir, '/') + 1,
                                  .file = f->path,
                                  .dir = r->dir,
                                  .parent = f->resumed,
                                  .start = (double)now.tv_sec + (double)now.tv_nsec / 1e9,
                                  .pid = (long)getpid(),
                                  .ntasks = (int64_t)weft__flow_ntasks(f),
                                  .shard = f->shard,
                                  .host = host};
        if ((rc = weft__wf_store_run_begin(r->store, &row, &r->run_id)) != 0) {
            snprintf(err, errlen, "%s", weft__wf_store_error(r->store));
            r->store = NULL;
            goto fail;
        }
    }
    {
        char log[PATH_MAX + 16];
        snprintf(log, sizeof log, "%s/output.log", r->dir);
        if ((rc = weft__outlog_create(log, &r->outlog)) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    snprintf(r->tsv_path, sizeof r->tsv_path, "%s/tasks.tsv", r->dir);
    r->tsv = open(r->tsv_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    /* (over several ranks, a last column says which ran each attempt) */
    static const char header[] = "task\tparams\tattempt\tstart\tend\tstatus\texit\tsignal\twall_s\tuser_s\t"
                                 "sys_s\tmaxrss_kb\tcpus\tgpus\tstdout\tstderr\tresults\treason\thash\tnode\n";
    size_t hlen = sizeof header - (o->cluster ? 1 : 6);
    char hbuf[sizeof header];
    memcpy(hbuf, header, hlen);
    hbuf[hlen - 1] = '\n';
    if (r->tsv < 0 || weft__wf_record_write(r, hbuf, hlen) != hlen) {
        rc = WEFT_ESYS;
        snprintf(err, errlen, "cannot create '%s': %s", r->tsv_path, strerror(r->tsv < 0 ? errno : r->tsv_err));
        goto fail;
    }
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.threads = slots;
    if (o->cluster) {
        /* the tasks run on the other ranks: the workers here only finish
         * them (their bookkeeping), and need not spin waiting for work */
        cfg.threads = slots < 2 ? slots : 2;
        cfg.spin_us = 0;
    }
    cfg.pin = WEFT_PIN_NONE; /* tasks are bound, not workers */
    cfg.task_pin = f->pin;
    cfg.cores = slots; /* the budget validated above */
    cfg.gpus = r->ngpus;
    cfg.flags = WEFT_CONFIG_NO_CALLER_HELP | (f->keep_going ? 0 : WEFT_CONFIG_FAIL_FAST);
    cfg.trace = o->trace ? 1 : 0;
    cfg.trace_file = o->trace ? o->trace_file : NULL;
    if ((rc = weft_runtime_create(&cfg, &r->rt)) != 0 || (rc = weft_graph_create(&r->g)) != 0) {
        if (rc == WEFT_ESYS && o->trace_file)
            snprintf(err, errlen, "not run: the trace file cannot be written");
        else
            snprintf(err, errlen, "cannot start the runtime: %s", weft_strerror(rc));
        goto fail;
    }
    /* from now on the runtime's budget: its process tasks and the kernels
     * share it */
    r->svc = weft__runtime_procs(r->rt);
    if ((rc = weft__proc_svc_start(r->svc)) != 0) {
        snprintf(err, errlen, "cannot start the process executor: %s", weft_strerror(rc));
        goto fail;
    }
    weft__cores_destroy(r->cores);
    r->cores = weft__proc_svc_cores(r->svc);
    r->own_cores = false;
    int cluster_gpus = 0;
    if (o->cluster) {
        weft__proc_svc_set_remote(r->svc, weft__wf_cluster_remote(o->cluster));
        weft__remote_capacity(weft__wf_cluster_remote(o->cluster), NULL, &cluster_gpus, NULL, NULL);
    }
    if (r->ngpus > 0)
        weft__proc_svc_gpus(r->svc);
    r->tr = weft__runtime_recorder(r->rt);
    if (r->tr) {
        char conf[3 * PATH_MAX], fpath[PATH_MAX], dir[PATH_MAX];
        json_safe(fpath, f->path, sizeof fpath);
        json_safe(dir, r->dir, sizeof dir);
        snprintf(
            conf, sizeof conf,
            "\"workflow\":\"%s\",\"file\":\"%s\",\"tasks\":%zu,\"core slots\":%d,\"keep_going\":%s,\"run dir\":\"%s\"",
            f->name, fpath, weft__flow_ntasks(f), slots, f->keep_going ? "true" : "false", dir);
        weft__runtime_trace_label(r->rt, f->name, conf);
    }
    /* The graph: kept tasks in file order, then their edges. */
    uint32_t *gidx = weft__malloc((size_t)(f->ntasks ? f->ntasks : 1) * sizeof *gidx);
    if (!gidx) {
        rc = WEFT_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0, k = 0; i < f->ntasks && !rc; i++) {
        gidx[i] = UINT32_MAX;
        if (!f->tasks[i].keep)
            continue;
        if (f->why[i] == WF_WHY_CACHED) {
            r->state[i] = WEFT_FLOW_CACHED;
            continue;
        }
        weft_task_t *gt = NULL;
        const wf_tmpl_t *tm = f->tasks[i].tmpl;
        /* named (tracking, failures) without a copy: the flow outlives the graph */
        if (tm->kind == WF_KERNEL && !o->cluster) {
            rc = weft__wf_add_kernel(r, &f->tasks[i], &gt);
        } else { /* (over several ranks, kernels too: a node runs them) */
            weft__proc_limits_t lim = {.cpus = tm->cpus,
                                       .gpus = tm->kind != WF_KERNEL                           ? tm->gpus
                                               : tm->device == WF_DEV_GPU                      ? 1
                                               : tm->device == WF_DEV_AUTO && cluster_gpus > 0 ? 1
                                                                                               : 0,
                                       .retries = tm->retries,
                                       .retry_on = tm->retry_on,
                                       .nretry_on = tm->nretry_on,
                                       .retry_delay_ns = tm->retry_delay_ns,
                                       .retry_backoff = tm->retry_backoff,
                                       .timeout_ns = tm->timeout_ns,
                                       .grace_ns = f->grace_ns};
            rc = weft__graph_add_process_src(r->g, f->tasks[i].name, &weft__wf_cmd_source, &f->tasks[i], &lim,
                                             WEFT_ADD_NAME_BORROWED, &gt);
        }
        if (rc == 0 && tm->always)
            rc = weft_task_set_always(gt, 1);
        gidx[i] = k++;
        if (rc == 0 && r->tr && f->tasks[i].tmpl->ndims)
            rc = annotate_params(f, &f->tasks[i], gt);
    }
    for (uint32_t i = 0; i < f->ntasks && !rc; i++) {
        if (gidx[i] == UINT32_MAX)
            continue;
        weft_task_t *gt = weft_graph_task(r->g, gidx[i]);
        for (uint32_t e = f->dep_off[i]; e < f->dep_off[i + 1] && !rc; e++)
            if (gidx[f->deps[e]] != UINT32_MAX) /* a cached one is done */
                rc = weft_task_after(gt, weft_graph_task(r->g, gidx[f->deps[e]]));
    }
    /* which graph task each flow task is: kept only when it is not the
     * same number (some left out by --only, or cached) */
    bool same = true;
    for (uint32_t i = 0; i < f->ntasks && same && !rc; i++)
        same = gidx[i] == i;
    if (same || rc)
        weft__free(gidx);
    else
        r->gidx = gidx;
    if (rc) {
        snprintf(err, errlen, "cannot build the task graph: %s", weft_strerror(rc));
        goto fail;
    }
    weft__wf_plan_hashed(f); /* the journal records them */
    f->run = r;
    r->t0_ns = weft__clock_ns();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->t0_epoch_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if ((rc = weft_graph_submit(r->rt, r->g)) != 0) {
        f->run = NULL;
        snprintf(err, errlen, "cannot start the run: %s", weft_strerror(rc));
        goto fail;
    }
    if (pthread_create(&r->waiter, NULL, waiter_main, r) != 0) {
        weft_graph_cancel(r->g);
        weft_graph_wait(r->g);
        f->run = NULL;
        rc = WEFT_ESYS;
        snprintf(err, errlen, "cannot start a thread");
        goto fail;
    }
    r->waiter_started = true;
    *out = r;
    return 0;
fail:
    if (r->store && r->run_id) { /* its row says it never started, not that it was killed */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        weft__wf_run_row_t end = {
            .id = r->run_id, .end = (double)now.tv_sec + (double)now.tv_nsec / 1e9, .status = "not started"};
        weft__wf_store_run_end(r->store, &end);
    }
    weft__flow_run_destroy(r);
    return rc;
}

weft_runtime_t *weft__flow_run_runtime(weft__flow_run_t *r)
{
    return r->rt;
}

const char *weft__flow_run_dir(const weft__flow_run_t *r)
{
    return r->dir;
}

int weft__flow_run_slots(const weft__flow_run_t *r)
{
    if (r->o.cluster) {
        int slots = 0;
        weft__remote_capacity(weft__wf_cluster_remote(r->o.cluster), &slots, NULL, NULL, NULL);
        return slots;
    }
    return weft__cores_slots(r->cores);
}

bool weft__flow_run_small_tasks(weft__flow_run_t *r, double elapsed_s, char *buf, size_t cap)
{
    /* weft's own time per task in this run: the cores' time not spent in
     * tasks, per attempt (idle waiting on dependencies counts too, so
     * this is said only when tasks are small against it) */
    const weft__flow_t *f = r->f;
    pthread_mutex_lock(&r->flush_lock);
    uint64_t n = 0, ns = 0;
    uint32_t worst = UINT32_MAX;
    for (uint32_t k = 0; k < f->ntmpls; k++) {
        n += r->fam_n[k];
        ns += r->fam_ns[k];
    }
    double busy = (double)ns / 1e9, cores = (double)weft__flow_run_slots(r) * elapsed_s;
    double own = n ? (cores - busy) / (double)n : 0; /* seconds per attempt */
    double worst_mean = 0;
    for (uint32_t k = 0; k < f->ntmpls; k++) {
        if (r->fam_n[k] < 1000 || r->fam_n[k] * 2 < n)
            continue; /* a family that is most of the run, and big */
        double mean = (double)r->fam_ns[k] / 1e9 / (double)r->fam_n[k];
        if (mean < 3 * own && (worst == UINT32_MAX || mean < worst_mean)) {
            worst = k;
            worst_mean = mean;
        }
    }
    pthread_mutex_unlock(&r->flush_lock);
    if (worst == UINT32_MAX || busy > 0.5 * cores)
        return false;
    char m[32], o[32];
    snprintf(m, sizeof m, worst_mean < 1e-3 ? "%.1f us" : "%.2f ms",
             worst_mean < 1e-3 ? worst_mean * 1e6 : worst_mean * 1e3);
    snprintf(o, sizeof o, own < 1e-3 ? "%.1f us" : "%.2f ms", own < 1e-3 ? own * 1e6 : own * 1e3);
    snprintf(buf, cap,
             "the %llu tasks of [[task]] '%s' ran %s each on average, while weft's own time per task in this run "
             "was about %s (the cores ran tasks %.0f%% of the time): most of this run was weft's, not the tasks'. "
             "Give each task more work (several sweep points per task)%s",
             (unsigned long long)r->fam_n[worst], f->tmpls[worst].name, m, o, 100 * busy / cores,
             f->tmpls[worst].kind == WF_KERNEL ? "" : ", or run work this small as a kernel (no process per task)");
    return true;
}

int weft__flow_run_units(const weft__flow_run_t *r)
{
    if (r->o.cluster)
        return weft__flow_run_slots(r);
    return r->f->pin == WEFT_PIN_PU ? r->topo->npus : r->topo->ncores;
}

void weft__flow_run_counts(weft__flow_run_t *r, weft__flow_counts_t *c)
{
    memset(c, 0, sizeof *c);
    c->total = weft__flow_ntasks(r->f);
    c->done = atomic_load(&r->ndone);
    c->cached = r->f->ncached;
    c->failed = atomic_load(&r->nfailed);
    c->running = atomic_load(&r->nrunning);
    if (!r->waiter_started) { /* after wait: the final count */
        for (uint32_t i = 0; i < r->f->ntasks; i++) {
            c->skipped += r->f->tasks[i].keep && r->state[i] == WEFT_FLOW_SKIPPED;
            c->not_run += r->f->tasks[i].keep && r->state[i] == WEFT_FLOW_NOT_RUN;
            c->stopped += r->f->tasks[i].keep && r->state[i] == WEFT_FLOW_STOPPED;
        }
    }
}

void weft__flow_run_interrupt(weft__flow_run_t *r, uint64_t grace_ns)
{
    atomic_store(&r->stopping, 1);
    atomic_store(&r->interrupted, 1);
    weft_graph_cancel(r->g);
    if (r->svc)
        weft__proc_svc_stop(r->svc, grace_ns);
}

/* The run's row at its end: its status and counts. */
static void run_end(weft__flow_run_t *r, int failed)
{
    weft__flow_counts_t c;
    weft__flow_run_counts(r, &c);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    bool incomplete = r->jpend_len || r->jlost;
    weft__wf_run_row_t row = {.id = r->run_id,
                              .end = (double)now.tv_sec + (double)now.tv_nsec / 1e9,
                              .status = incomplete                     ? "incomplete"
                                        : atomic_load(&r->interrupted) ? "interrupted"
                                        : failed                       ? "failed"
                                                                       : "done",
                              .ndone = (int64_t)c.done,
                              .nfailed = (int64_t)(c.failed + c.stopped),
                              .ncached = (int64_t)c.cached};
    if (weft__wf_store_run_end(r->store, &row) != 0 && !incomplete) {
        /* the attempts are stored; only the run's end is not: said, not fatal */
        r->jlost = true;
    }
}

int weft__flow_run_wait(weft__flow_run_t *r)
{
    if (r->waiter_started) {
        pthread_join(r->waiter, NULL);
        r->waiter_started = false;
    }
    int result = 0;
    for (uint32_t i = 0; i < r->f->ntasks; i++) {
        weft_task_t *gt = weft__wf_gtask(r, i);
        if (!gt)
            continue; /* left out, or cached */
        int gs = weft_task_state(gt);
        if (r->state[i] == WEFT_FLOW_PENDING || r->state[i] == WEFT_FLOW_RUNNING) {
            r->state[i] = gs == WEFT_TASK_CANCELLED ? WEFT_FLOW_SKIPPED : WEFT_FLOW_NOT_RUN;
            /* its row: why it did not run (a resume runs it) */
            attempt_t a = {.exit_code = -1,
                           .maxrss_kb = -1,
                           .no_cpu = true,
                           .status = r->state[i] == WEFT_FLOW_SKIPPED ? "skipped" : "not-run",
                           .reason = weft__flow_run_reason(r, i)};
            weft__wf_journal(r, i, &a);
        }
        result |= r->state[i] != WEFT_FLOW_DONE;
    }
    if (r->store) {
        weft__wf_record_sync(r);
        run_end(r, result);
    }
    return result;
}

int weft__flow_run_task(weft__flow_run_t *r, size_t i, const char **name)
{
    *name = r->f->tasks[i].name;
    return r->f->tasks[i].keep ? r->state[i] : -1;
}

const char *weft__flow_run_reason(weft__flow_run_t *r, size_t i)
{
    for (note_t *n = r->fails; n; n = n->next)
        if (n->task == i)
            return n->text ? n->text : "";
    if (r->state[i] == WEFT_FLOW_SKIPPED)
        return "skipped: a task it depends on failed";
    if (r->state[i] == WEFT_FLOW_NOT_RUN)
        return "not started: the run was stopping";
    if (r->state[i] == WEFT_FLOW_CACHED)
        return "cached: done in an earlier run with the same definition";
    return "";
}

void weft__flow_run_stderr(weft__flow_run_t *r, size_t i, const char **where, const char **tail)
{
    *where = *tail = "";
    for (note_t *n = r->fails; n; n = n->next)
        if (n->task == i) {
            *where = n->where ? n->where : "";
            *tail = n->tail ? n->tail : "";
            return;
        }
}

typedef struct last_out {
    int err;
    char path[PATH_MAX];
    uint64_t off, len;
    bool seen;
} last_out_t;

static int last_out_row(void *ud, const weft__wf_attempt_row_t *a)
{
    last_out_t *o = ud;
    if (a->attempt < 1)
        return 0;
    const char *f = o->err ? a->err : a->out;
    snprintf(o->path, sizeof o->path, "%s", f ? f : "");
    o->off = o->err ? a->err_off : a->out_off;
    o->len = o->err ? a->err_len : a->out_len;
    o->seen = true;
    return 0;
}

/* Reads [off, off + len) of the file at path (len UINT64_MAX: all of it). */
static int slurp(const char *path, uint64_t off, uint64_t len, char **data, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT && len == UINT64_MAX ? 0 : WEFT_ESYS; /* no file: it wrote nothing */
    struct stat st;
    if (len == UINT64_MAX)
        len = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    char *b = weft__malloc(len + 1);
    ssize_t got = b ? pread(fd, b, len, (off_t)off) : -1;
    close(fd);
    if (!b)
        return WEFT_ENOMEM;
    if (got < 0 || (uint64_t)got != len) {
        weft__free(b);
        return WEFT_ESYS;
    }
    b[len] = '\0';
    *data = b;
    *n = len;
    return 0;
}

int weft__flow_run_output(weft__flow_run_t *r, size_t i, bool err, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!r->store || i >= r->f->ntasks || r->waiter_started)
        return WEFT_EINVAL;
    last_out_t o = {.err = err};
    int rc = weft__wf_store_task_attempts(r->store, r->run_id, r->f->tasks[i].name, last_out_row, &o);
    if (rc)
        return rc;
    if (o.seen && o.len) {
        char seg[PATH_MAX + 16];
        snprintf(seg, sizeof seg, "%s/output.log", r->dir);
        rc = slurp(seg, o.off, o.len, data, len);
    } else if (o.seen && o.path[0]) {
        rc = slurp(o.path, 0, UINT64_MAX, data, len);
    }
    if (!rc && !*data && !(*data = weft__strdup("")))
        rc = WEFT_ENOMEM;
    return rc;
}

static int by_task(const void *a, const void *b)
{
    uint32_t x = (*(note_t *const *)a)->task, y = (*(note_t *const *)b)->task;
    return x < y ? -1 : x > y;
}

/* In file order (the order tasks are declared and expanded). */
size_t weft__flow_run_nresults(weft__flow_run_t *r)
{
    if (!r->result_index && r->nresults) {
        r->result_index = weft__malloc(r->nresults * sizeof *r->result_index);
        size_t k = 0;
        for (note_t *n = r->results; n && r->result_index; n = n->next)
            r->result_index[k++] = n;
        if (!r->result_index)
            return 0;
        qsort(r->result_index, r->nresults, sizeof *r->result_index, by_task);
    }
    return r->nresults;
}

void weft__flow_run_result(weft__flow_run_t *r, size_t k, size_t *task, const char **params, const char **results)
{
    note_t *n = r->result_index[k];
    *task = n->task;
    *params = n->params ? n->params : "";
    *results = n->text ? n->text : "";
}

void weft__flow_run_destroy(weft__flow_run_t *r)
{
    if (!r)
        return;
    if (r->waiter_started) {
        weft__flow_run_interrupt(r, 0);
        weft__flow_run_wait(r);
    }
    weft_graph_destroy(r->g);
    weft_runtime_destroy(r->rt); /* its task service: every process reaped */
    weft__outlog_destroy(r->outlog);
    if (r->own_cores)
        weft__cores_destroy(r->cores);
    weft__free(r->gidx);
    weft__topo_destroy(r->topo);
    if (r->tsv >= 0) {
        weft__flow_run_flush(r);
        close(r->tsv);
    }
    weft__free(r->jbuf);
    weft__free(r->jspare);
    weft__free(r->jpend);
    weft__free(r->cbuf);
    weft__free(r->tbuf);
    weft__wf_free_notes(r->fails);
    weft__wf_free_notes(r->results);
    weft__free(r->result_index);
    weft__free(r->state);
    weft__free(r->cpu_short);
    weft__free(r->fam_ns);
    weft__free(r->fam_n);
    weft__free(r->klimits);
    if (r->flush_fd >= 0)
        close(r->flush_fd);
    if (r->f->run == r)
        r->f->run = NULL;
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->jlock);
    pthread_mutex_destroy(&r->flush_lock);
    weft__free(r);
}

int weft__wf_agent_setup(weft__flow_t *f, weft__flow_run_t **out, char *err, size_t errlen)
{
    *out = NULL;
    weft__flow_run_t *r = run_new(f, err, errlen);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return WEFT_ENOMEM;
    }
    r->agent = true;
    int rc = weft__topo_discover(&r->topo);
    if (rc) {
        snprintf(err, errlen, "cannot discover the machine's cores: %s", weft_strerror(rc));
        goto fail;
    }
    bool wanted = false;
    for (uint32_t i = 0; i < f->ntmpls; i++)
        wanted |= f->tmpls[i].gpus > 0 || (f->tmpls[i].kind == WF_KERNEL && f->tmpls[i].device != WF_DEV_CPU);
    r->seen_gpus = wanted ? weft__device_count() : 0;
    r->ngpus = f->gpus >= 0 ? f->gpus : r->seen_gpus;
    r->state = weft__calloc(f->ntasks ? f->ntasks : 1, 1);
    r->cpu_short = weft__calloc(f->ntmpls ? f->ntmpls : 1, sizeof *r->cpu_short);
    if (!r->state || !r->cpu_short) {
        rc = WEFT_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((rc = weft__proc_svc_create(r->topo, f->pin, f->threads, r->ngpus, &r->svc)) != 0 ||
        (rc = weft__proc_svc_start(r->svc)) != 0) {
        snprintf(err, errlen, "cannot start the process executor: %s", weft_strerror(rc));
        goto fail;
    }
    r->cores = weft__proc_svc_cores(r->svc);
    if (chdir(f->workdir) != 0) { /* the tasks' relative paths, as rank 0's */
        rc = WEFT_ESYS;
        snprintf(err, errlen, "cannot change to the working directory '%s': %s", f->workdir, strerror(errno));
        goto fail;
    }
    if (r->ngpus > 0 && weft__proc_svc_gpus(r->svc) < r->ngpus) {
        rc = WEFT_EINVAL;
        snprintf(err, errlen, "cannot set up its %d GPUs", r->ngpus);
        goto fail;
    }
    f->run = r;
    *out = r;
    return 0;
fail:
    weft__wf_agent_teardown(r);
    return rc;
}

void weft__wf_agent_teardown(weft__flow_run_t *r)
{
    if (!r)
        return;
    weft__proc_svc_destroy(r->svc); /* every process reaped */
    r->svc = NULL;
    r->cores = NULL;
    weft__flow_run_destroy(r);
}
