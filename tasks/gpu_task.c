/* GPU tasks: the body a worker runs for each (placement, waits, the
 * user's function on the stream, the event, early release, the deferred
 * completion), tensors between host and device memories, the GPU task
 * kind and the public calls (include/weft/cuda.h). See gpu.c for the
 * executor they run on. */
#include "tasks/gpu_internal.h"

_Thread_local gcur_t *weft__gpu_tls_cur;

/* ==== tensors between memories ================================================== */

static void mirror_drop(const void *owner, int device, void *ev)
{
    weft__gpu_event_give(owner, device, 0, ev);
}

/* A tensor result in device memory, of a GPU task with successors that
 * are not GPU tasks: copied to pinned host memory on its stream after its
 * work (and before its event), so that those successors read it on the
 * host when they start. */
static int result_to_host(gtask_t *gt, void *s)
{
    weft_task_t *t = gt->task;
    weft_tensor_t *r = weft__task_tensor(t);
    if (!r || weft_tensor_kind(r) != WEFT_MEM_DEVICE)
        return 0;
    size_t ns = weft__task_nsucc(t), i = 0;
    while (i < ns && is_gpu(weft__task_succ(t, i)))
        i++;
    if (i == ns)
        return 0;
    weft__mirror_t *m;
    weft__tensor_lock(r);
    int rc = weft__tensor_mirror(r, -1) ? 0 : weft__tensor_mirror_make(r, -1, s, &m);
    weft__tensor_unlock(r);
    if (rc) {
        char lb[32];
        snprintf(gt->msg, sizeof gt->msg, "cannot copy its tensor result to host memory for task '%s' (%s)",
                 weft__task_label(weft__task_succ(t, i), lb, sizeof lb), weft_strerror(rc));
    }
    return rc;
}

/* dep's tensor r on the running GPU task's device (cur): r itself when it
 * is there, else a copy made on its stream (the first consumer on the
 * device makes it; the others wait for its event). */
static int tensor_to_device(weft__gpu_t *x, gcur_t *cur, weft_task_t *dep, weft_tensor_t *r, weft_tensor_t **out)
{
    if (weft_tensor_kind(r) == WEFT_MEM_DEVICE && weft_tensor_device(r) == cur->dev) {
        *out = r;
        return 0;
    }
    const weft__gpu_ops_t *ops = x->ops;
    int rc = 0, err = 0;
    weft__tensor_lock(r);
    weft__mirror_t *m = weft__tensor_mirror(r, cur->dev);
    void *ev = NULL;
    if (m) {
        if (m->stream != cur->stream)
            err = ops->wait(cur->stream, m->ev);
    } else if ((err = weft__gpu_event_take(ops, cur->dev, 0, &ev)) == 0) {
        rc = weft__tensor_mirror_make(r, cur->dev, cur->stream, &m);
        if (rc == 0) {
            *m = (weft__mirror_t){m->copy, cur->dev, cur->stream, ev, ops, mirror_drop};
            if ((err = ops->record(ev, cur->stream)) != 0)
                m->device = -2; /* not ordered for other streams: no one's */
        } else {
            weft__gpu_event_give(ops, cur->dev, 0, ev);
        }
    }
    weft_tensor_t *copy = m && !rc ? m->copy : NULL; /* m moves when the list grows */
    weft__tensor_unlock(r);
    gtask_t *gt = cur->gt;
    char lb[32];
    if (rc) {
        snprintf(gt->msg, sizeof gt->msg, "cannot copy the tensor result of '%s' to device %d (%s)",
                 weft__task_label(dep, lb, sizeof lb), cur->dev, weft_strerror(rc));
        return rc;
    }
    if (err)
        return weft__gpu_device_error(x, gt, err);
    *out = copy;
    return 0;
}

int weft_ctx_dep_tensor(const weft_ctx_t *ctx, size_t i, weft_tensor_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    gcur_t *cur = weft__gpu_tls_cur;
    if (ctx && cur && cur->ctx == ctx && cur->capturing)
        return WEFT_ESTATE; /* a captured function's results are not passed */
    if (!ctx || i >= weft_ctx_ndeps(ctx))
        return WEFT_EINVAL;
    weft_task_t *dep = weft__task_pred(weft__ctx_task(ctx), i);
    weft_tensor_t *r = weft__task_tensor(dep);
    if (!r)
        return WEFT_EINVAL;
    if (cur && cur->ctx == ctx) {
        weft__gpu_t *x = weft__pool_executor(weft__ctx_pool(ctx), WEFT__EXEC_GPU);
        return tensor_to_device(x, cur, dep, r, out);
    }
    if (weft_tensor_kind(r) != WEFT_MEM_DEVICE) {
        *out = r;
        return 0;
    }
    /* a CPU task: the copy its GPU producer made after its work, or one
     * made now */
    weft__mirror_t *m;
    weft__tensor_lock(r);
    int rc = (m = weft__tensor_mirror(r, -1)) != NULL ? 0 : weft__tensor_mirror_make(r, -1, NULL, &m);
    if (rc == 0)
        *out = m->copy;
    weft__tensor_unlock(r);
    return rc;
}

/* ==== the task body ============================================================= */

/* Waits on this worker for gt's recorded event (rare paths only). */
static int wait_work(weft__gpu_t *x, gtask_t *gt)
{
    int r;
    while ((r = x->ops->query(gt->ev)) == WEFT__GPU_PENDING)
        weft__gpu_nap(20);
    return r ? weft__gpu_device_error(x, gt, r) : 0;
}

static int gpu_body_run(weft_ctx_t *ctx, void *arg, int *user);

/* A GPU task's body: what the task's own function returned is its code;
 * every other failure (no device, a launch error, ...) is one of weft's,
 * and said to be (weft_graph_error names it). */
static int gpu_body(weft_ctx_t *ctx, void *arg)
{
    int user = 0;
    int rc = gpu_body_run(ctx, arg, &user);
    return rc && !user ? weft__ctx_own_code(ctx, rc) : rc;
}

static int gpu_body_run(weft_ctx_t *ctx, void *arg, int *user)
{
    gtask_t *gt = arg;
    weft_task_t *t = gt->task;
    weft_graph_t *g = weft__task_graph(t);
    gx_t *gx = weft__graph_kind_state(g, &weft__gpu_kind);
    weft__gpu_t *x = weft__pool_executor(weft__ctx_pool(ctx), WEFT__EXEC_GPU);
    uint32_t run = weft__graph_runs(g);
    gt->msg[0] = '\0';
    gt->dev = -1;
    gt->stream = NULL;
    gt->run = run;
    if (!x) {
        snprintf(gt->msg, sizeof gt->msg, "this runtime has no GPU executor");
        return WEFT_ENOTSUP;
    }
    if (weft__gpu_setup(x) < 0) {
        snprintf(gt->msg, sizeof gt->msg, "%s", x->why);
        return WEFT_ENOTSUP;
    }
    int d = weft__gpu_place_device(x, gx, gt, run);
    if (d >= x->ndev) {
        snprintf(gt->msg, sizeof gt->msg, "device %d does not exist (%d device%s)", d, x->ndev,
                 x->ndev == 1 ? "" : "s");
        return WEFT_EDEVICE;
    }
    gdev_t *v = &x->dev[d];
    if (atomic_load_explicit(&v->lost, memory_order_acquire)) {
        snprintf(gt->msg, sizeof gt->msg, "%s", v->lost_msg);
        return WEFT_EDEVICE;
    }
    gt->dev = d;
    const weft__gpu_ops_t *ops = x->ops;
    int err = ops->set_device(d);
    if (err)
        return weft__gpu_device_error(x, gt, err);
    weft__trace_t *tr = weft__pool_trace(weft__ctx_pool(ctx));
    int timed = tr && weft__gpu_anchor_ready(x, d);
    gt->tr = NULL;
    if ((err = weft__gpu_events_get(ops, gt, d, timed)) != 0)
        return weft__gpu_device_error(x, gt, err);
    gstream_t *s = weft__gpu_place_stream(x, gt, d);
    /* Wait for same-component dependencies on other streams whose events
     * have not been seen to fire (the others are ordered already). */
    size_t nd = weft__task_ndeps(t);
    for (size_t i = 0; i < nd; i++) {
        weft_task_t *p = weft__task_pred(t, i);
        if (!is_gpu(p))
            continue;
        gtask_t *pg = gtask_of(p);
        if (pg->comp != gt->comp || pg->stream == s || !pg->ev ||
            atomic_load_explicit(&pg->fired_run, memory_order_acquire) == run)
            continue;
        if ((err = ops->wait(s->s, pg->ev)) != 0)
            return weft__gpu_device_error(x, gt, err);
    }
    if (timed) {
        if ((err = ops->record(gt->ev0, s->s)) != 0)
            return weft__gpu_device_error(x, gt, err);
        gt->tr = tr;
    }
    ops->last_error(); /* an earlier error of this thread is not ours */
    gcur_t cur = {ctx, gt, s->s, d, 0}, *saved = weft__gpu_tls_cur;
    weft__gpu_tls_cur = &cur;
    weft__stream_set(s->s, d);
    int rc = gt->fn(ctx, gt->arg);
    weft__stream_set(saved ? saved->stream : NULL, saved ? saved->dev : -1);
    weft__gpu_tls_cur = saved;
    err = ops->last_error();
    if (!err)
        err = ops->set_device(d); /* the function may have switched devices */
    if (rc) {
        *user = 1;
        return rc;
    }
    if (!err && (rc = result_to_host(gt, s->s)) != 0) {
        /* its result goes when the task fails: after its work */
        if (ops->record(gt->ev, s->s) == 0)
            wait_work(x, gt);
        return rc;
    }
    if (err || (err = ops->record(gt->ev, s->s)) != 0)
        return weft__gpu_device_error(x, gt, err);
    gt->stream = s;
    atomic_store_explicit(&s->tail, gt, memory_order_relaxed);
    int drc = weft_ctx_defer(ctx, &gt->defer);
    if (drc) {
        /* Stopping (or out of memory): nothing may outlive the run, so the
         * work is waited for here, on this worker (rare). */
        int r = wait_work(x, gt);
        if (r)
            return r;
        atomic_store_explicit(&gt->fired_run, run, memory_order_release);
        return drc == WEFT_ECANCELED ? 0 : drc;
    }
    atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&v->inflight, 1, memory_order_relaxed);
    weft__gpu_watch(x, gt);
    weft__ctx_release_early(ctx);
    return 0;
}

/* ==== the task kind ============================================================== */

static uint32_t uf_find(gx_t *gx, uint32_t i)
{
    while (gx->t[i]->uf != i) {
        gx->t[i]->uf = gx->t[gx->t[i]->uf]->uf;
        i = gx->t[i]->uf;
    }
    return i;
}

/* Components: GPU tasks joined by GPU→GPU edges, unless they name
 * different devices. */
static int kind_prepare(weft_graph_t *g, void *ud)
{
    (void)g;
    gx_t *gx = ud;
    int *fixed = weft__calloc(gx->n ? gx->n : 1, sizeof *fixed);
    if (!fixed)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < gx->n; i++) {
        gx->t[i]->uf = (uint32_t)i;
        fixed[i] = gx->t[i]->want;
    }
    for (size_t i = 0; i < gx->n; i++) {
        weft_task_t *t = gx->t[i]->task;
        size_t ns = weft__task_nsucc(t);
        for (size_t k = 0; k < ns; k++) {
            weft_task_t *s = weft__task_succ(t, k);
            if (!is_gpu(s))
                continue;
            uint32_t a = uf_find(gx, (uint32_t)i), b = uf_find(gx, gtask_of(s)->gi);
            if (a == b || (fixed[a] >= 0 && fixed[b] >= 0 && fixed[a] != fixed[b]))
                continue;
            gx->t[b]->uf = a;
            if (fixed[a] < 0)
                fixed[a] = fixed[b];
        }
    }
    size_t nc = 0;
    for (size_t i = 0; i < gx->n; i++)
        if (uf_find(gx, (uint32_t)i) == i)
            nc++;
    gcomp_t *comp = weft__calloc(nc ? nc : 1, sizeof *comp);
    if (!comp) {
        weft__free(fixed);
        return WEFT_ENOMEM;
    }
    /* root -> component number, kept in `fixed` of the root's slot once
     * its device is copied */
    size_t k = 0;
    for (size_t i = 0; i < gx->n; i++) {
        if (gx->t[i]->uf != i)
            continue;
        comp[k].fixed = fixed[i];
        atomic_init(&comp[k].placed, 0);
        fixed[i] = (int)k++;
    }
    for (size_t i = 0; i < gx->n; i++)
        gx->t[i]->comp = (uint32_t)fixed[uf_find(gx, (uint32_t)i)];
    weft__free(gx->comp);
    gx->comp = comp;
    gx->ncomp = nc;
    weft__free(fixed);
    return 0;
}

static int kind_early(const weft_task_t *t, const weft_task_t *s)
{
    return gtask_of(t)->comp == gtask_of(s)->comp;
}

static const char *kind_describe(const weft_task_t *t)
{
    const gtask_t *gt = gtask_of(t);
    return gt->msg[0] ? gt->msg : NULL;
}

static void kind_cleanup(weft_graph_t *g, void *ud)
{
    (void)g;
    gx_t *gx = ud;
    for (size_t i = 0; i < gx->n; i++) {
        gtask_t *gt = gx->t[i];
        weft__gpu_events_drop(gt);
        weft__gpu_capture_drop(gt);
        weft__free(gt);
    }
    weft__free(gx->t);
    weft__free(gx->comp);
    weft__free(gx);
}

/* The GPU task kind (scheduler.h): the body enqueues the function's work on
 * a stream, releases the same-component successors early and defers its
 * completion to the device's event; no cancel (work on a device cannot be
 * taken back: it is short, and its successors are not started). */
const weft__task_ops_t weft__gpu_kind = {
    .kind = "gpu",
    .own_attempts = 1,
    .start = gpu_body,
    .prepare = kind_prepare,
    .early = kind_early,
    .describe = kind_describe,
    .cleanup = kind_cleanup,
};

/* ==== public API ================================================================ */

int weft_graph_add_cuda_ex(weft_graph_t *g, const char *name, weft_fn fn, void *arg, int device, weft_task_t **out)
{
    if (out)
        *out = NULL;
    if (!g || !fn || !out || device < WEFT_DEVICE_ANY || device >= GPU_MAX_DEVICES)
        return WEFT_EINVAL;
    gx_t *gx = weft__graph_kind_state(g, &weft__gpu_kind);
    int fresh = 0;
    if (!gx) {
        gx = weft__calloc(1, sizeof *gx);
        if (!gx)
            return WEFT_ENOMEM;
        fresh = 1;
    }
    int rc = fresh ? weft__graph_set_kind_state(g, &weft__gpu_kind, gx) : weft__graph_change(g);
    if (rc) {
        if (fresh)
            weft__free(gx);
        return rc;
    }
    if (WEFT__GROW(gx->t, gx->cap, gx->n + 1, 16))
        return WEFT_ENOMEM;
    gtask_t *gt = weft__calloc(1, sizeof *gt);
    if (!gt)
        return WEFT_ENOMEM;
    gt->fn = fn;
    gt->arg = arg;
    gt->want = device;
    gt->dev = -1;
    gt->gi = (uint32_t)gx->n;
    gt->comp = gt->gi;
    weft_task_t *t;
    rc = weft__graph_add_kind(g, name, &weft__gpu_kind, gt, 0, &t);
    if (rc) {
        weft__free(gt);
        return rc;
    }
    gt->task = t;
    gx->t[gx->n++] = gt;
    *out = t;
    return 0;
}

weft_task_t *weft_graph_add_cuda(weft_graph_t *g, const char *name, weft_fn fn, void *arg)
{
    weft_task_t *t = NULL;
    return weft_graph_add_cuda_ex(g, name, fn, arg, WEFT_DEVICE_ANY, &t) == 0 ? t : NULL;
}

static gtask_t *gpu_task(const weft_task_t *t)
{
    if (!t || !is_gpu(t))
        return NULL;
    weft_graph_t *g = weft__task_graph(t);
    return weft__graph_kind_state(g, &weft__gpu_kind) ? gtask_of(t) : NULL;
}

int weft_task_set_device(weft_task_t *t, int device)
{
    gtask_t *gt = gpu_task(t);
    if (!gt || device < WEFT_DEVICE_ANY || device >= GPU_MAX_DEVICES)
        return WEFT_EINVAL;
    int rc = weft__graph_change(weft__task_graph(t));
    if (rc)
        return rc;
    gt->want = device;
    return 0;
}

int weft_task_device(const weft_task_t *t)
{
    gtask_t *gt = gpu_task(t);
    return gt ? gt->dev : WEFT_EINVAL;
}

void *weft_ctx_stream(const weft_ctx_t *ctx)
{
    gcur_t *c = weft__gpu_tls_cur;
    return c && ctx && c->ctx == ctx ? c->stream : NULL;
}

int weft_ctx_device(const weft_ctx_t *ctx)
{
    gcur_t *c = weft__gpu_tls_cur;
    return c && ctx && c->ctx == ctx ? c->dev : -1;
}
