/* What a running task sees: who runs it, its dependencies' results, child
 * tasks, and the run's cancellation. */
#include "scheduler/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static inline weft_task_t *cur(const weft_ctx_t *ctx)
{
    return ctx ? ctx->task : NULL;
}

weft_task_t *weft__ctx_task(const weft_ctx_t *ctx)
{
    return cur(ctx);
}

int weft_ctx_worker(const weft_ctx_t *ctx)
{
    return ctx && ctx->w ? ctx->w->index : -1;
}

const char *weft_ctx_name(const weft_ctx_t *ctx)
{
    weft_task_t *t = cur(ctx);
    if (!t)
        return "";
    if (t->flags & TASK_F_CHILD)
        return ((struct weft_child *)t)->name;
    return weft_task_name(t);
}

weft_runtime_t *weft_ctx_runtime(const weft_ctx_t *ctx)
{
    return ctx && ctx->w ? (weft_runtime_t *)ctx->w->pool->owner : NULL;
}

int weft_ctx_set_result(weft_ctx_t *ctx, void *result, void (*dtor)(void *))
{
    weft_task_t *t = cur(ctx);
    if (!t || (t->flags & TASK_F_CHILD))
        return WEFT_EINVAL;
    if (t->flags & TASK_F_RESULT)
        weft__graph_release_result(t);
    t->dtor = dtor;
    atomic_store_explicit(&t->result, result, memory_order_release);
    t->flags |= TASK_F_RESULT;
    /* relaxed: read only after the run has completed (acquire on done). */
    if (!atomic_load_explicit(&t->graph->has_dtor, memory_order_relaxed))
        atomic_store_explicit(&t->graph->has_dtor, 1, memory_order_relaxed);
    return 0;
}

int weft_ctx_share_result(weft_ctx_t *ctx, void *result, void (*dtor)(void *))
{
    int rc = weft_ctx_set_result(ctx, result, dtor);
    if (rc)
        return rc;
    weft_task_t *t = cur(ctx);
    if (t->nsucc == 0)
        return 0; /* no one to wait for: kept like any result */
    t->flags |= TASK_F_SHARED;
    /* relaxed: successors read these after the join decrement (acq_rel) */
    atomic_store_explicit(&t->consumers, (int32_t)t->nsucc, memory_order_relaxed);
    if (!atomic_load_explicit(&t->graph->has_shared, memory_order_relaxed))
        atomic_store_explicit(&t->graph->has_shared, 1, memory_order_relaxed);
    return 0;
}

size_t weft_ctx_ndeps(const weft_ctx_t *ctx)
{
    weft_task_t *t = cur(ctx);
    return t ? (size_t)t->ndeps : 0;
}

int weft_ctx_dep_result(const weft_ctx_t *ctx, const weft_task_t *dep, void **out)
{
    weft_task_t *t = cur(ctx);
    if (!t || !dep || !out)
        return WEFT_EINVAL;
    for (int32_t i = 0; i < t->ndeps; i++)
        if (t->pred[i] == dep) {
            *out = atomic_load_explicit(&dep->result, memory_order_relaxed);
            return 0;
        }
    return WEFT_EINVAL;
}

int weft_ctx_dep_result_at(const weft_ctx_t *ctx, size_t i, void **out)
{
    weft_task_t *t = cur(ctx);
    if (!t || !out || i >= (size_t)t->ndeps)
        return WEFT_EINVAL;
    *out = atomic_load_explicit(&t->pred[i]->result, memory_order_relaxed);
    return 0;
}

/* A child of the running task, holding one of its pending tokens; not
 * queued yet. */
static int child_new(weft_ctx_t *ctx, const char *name, weft_fn fn, void *arg, struct weft_child **out)
{
    weft_task_t *parent = cur(ctx);
    weft_graph_t *g = parent->graph;
    if (atomic_load_explicit(&g->stop, memory_order_relaxed))
        return WEFT_ECANCELED;
    char lb[32];
    if (!name) {
        const char *pn = weft_ctx_name(ctx);
        size_t pl = strlen(pn);
        if (pl > 200)
            pl = 200;
        snprintf(lb, sizeof lb, "%.*s/child", (int)(pl < 24 ? pl : 24), pn);
        name = lb;
    }
    size_t nlen = strlen(name) + 1;
    struct weft_child *c = weft__aligned_alloc(WEFT_CACHE_LINE, sizeof *c + nlen);
    if (!c)
        return WEFT_ENOMEM;
    memset(&c->t, 0, sizeof c->t);
    c->t.fn = fn;
    c->t.arg = arg;
    c->t.graph = g;
    c->t.flags = TASK_F_CHILD;
    c->t.succ = c->t.succ_inline;
    c->t.pred = c->t.pred_inline;
    c->t.index = parent->index;
    c->parent = parent;
    c->pool = ctx->w->pool;
    memcpy(c->name, name, nlen);
    if (!(parent->flags & TASK_F_SPAWNED)) {
        /* First child of this run: the parent holds one token for itself,
         * dropped when its function returns. */
        parent->flags |= TASK_F_SPAWNED;
        atomic_store_explicit(&parent->pending, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&parent->pending, 1, memory_order_relaxed);
    *out = c;
    return 0;
}

int weft_ctx_spawn(weft_ctx_t *ctx, const char *name, weft_fn fn, void *arg)
{
    if (!cur(ctx) || !fn)
        return WEFT_EINVAL;
    struct weft_child *c;
    int rc = child_new(ctx, name, fn, arg, &c);
    if (rc)
        return rc;
    weft__worker_push(ctx->w, &c->t);
    weft__ecount_notify(&ctx->w->pool->ec, 0);
    return 0;
}

/* The deferred child runs on a worker once completed: it returns the
 * completion's code (so a failure is recorded and passed to the parent by
 * the ordinary child path, on a worker, never racing with the parent's own
 * bookkeeping) and drops the parent's token, so that finishing the parent
 * can push its successors. It runs even in a stopping run
 * (TASK_F_DEFERRED), so that a failure code is never lost. */
static int deferred_done(weft_ctx_t *ctx, void *arg)
{
    (void)ctx;
    return (int)(intptr_t)arg;
}

int weft_ctx_defer(weft_ctx_t *ctx, weft_defer_t **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!cur(ctx))
        return WEFT_EINVAL;
    struct weft_child *c;
    int rc = child_new(ctx, weft_ctx_name(ctx), deferred_done, NULL, &c);
    if (rc)
        return rc;
    c->t.flags |= TASK_F_DEFERRED;
    atomic_init(&c->completed, 0);
    c->own_code = 0;
    c->retired_next = NULL;
    *out = (weft_defer_t *)c;
    return 0;
}

static int defer_complete(weft_defer_t *d, int rc, int own)
{
    if (!d)
        return WEFT_EINVAL;
    struct weft_child *c = (struct weft_child *)d;
    /* relaxed: only one caller may win; what the winner wrote is published
     * by the release in the hand-off */
    if (atomic_exchange_explicit(&c->completed, 1, memory_order_relaxed)) {
        weft__log("weft_defer_complete: task '%s' was completed already; this second call is ignored", c->name);
        return WEFT_ESTATE;
    }
    c->t.arg = (void *)(intptr_t)rc;
    c->own_code = own;
    weft__pool_give(c->pool, &c->t);
    return 0;
}

int weft__ctx_own_code(weft_ctx_t *ctx, int rc)
{
    if (ctx)
        ctx->own = 1;
    return rc;
}

int weft_defer_complete(weft_defer_t *d, int rc)
{
    return defer_complete(d, rc, 0);
}

int weft__defer_complete_own(weft_defer_t *d, int rc)
{
    return defer_complete(d, rc, 1);
}

/* The graph's own task a (possibly nested) child belongs to. */
static const weft_task_t *root_of(const weft_task_t *t)
{
    while (t->flags & TASK_F_CHILD)
        t = ((const struct weft_child *)t)->parent;
    return t;
}

int weft_ctx_fail(weft_ctx_t *ctx, int code, const char *fmt, ...)
{
    weft_task_t *t = cur(ctx);
    if (!t || !fmt)
        return code ? code : WEFT_EINVAL;
    if (code == 0)
        code = WEFT_EINVAL; /* a failure it is: the task must not read as a success */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return code;
    char small[256], *text = (size_t)n < sizeof small ? small : weft__malloc((size_t)n + 1);
    if (!text)
        return code; /* the code still fails the task; only the text is lost */
    va_start(ap, fmt);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    /* ranked by attempt; a timeout's note of the same attempt ranks above */
    weft__graph_fail_note(t->graph, root_of(t), (ctx->attempt ? ctx->attempt : 1) * 2, text);
    if (text != small)
        weft__free(text);
    return code;
}

void weft__graph_fail_note(weft_graph_t *g, const weft_task_t *t, int attempt, const char *text)
{
    size_t n = strlen(text);
    weft__fail_msg_t *m = weft__malloc(sizeof *m + n + 1);
    if (!m)
        return;
    m->task = t;
    m->attempt = attempt;
    memcpy(m->text, text, n + 1);
    /* release: a reader that finds m sees its text (runs are read after
     * the run completes anyway) */
    weft__fail_msg_t *head = atomic_load_explicit(&g->msgs, memory_order_relaxed);
    do
        m->next = head;
    while (!atomic_compare_exchange_weak_explicit(&g->msgs, &head, m, memory_order_release, memory_order_relaxed));
}

/* The text of t's last attempt that gave one, the first it gave (the list
 * is newest first). */
const char *weft__graph_fail_text(const weft_graph_t *g, const weft_task_t *t)
{
    const weft__fail_msg_t *best = NULL;
    for (const weft__fail_msg_t *m = atomic_load_explicit(&((weft_graph_t *)g)->msgs, memory_order_acquire); m;
         m = m->next)
        if (m->task == t && (!best || m->attempt >= best->attempt))
            best = m;
    return best ? best->text : NULL;
}

void weft__graph_free_msgs(weft_graph_t *g)
{
    weft__fail_msg_t *m = atomic_exchange_explicit(&g->msgs, NULL, memory_order_acquire);
    while (m) {
        weft__fail_msg_t *next = m->next;
        weft__free(m);
        m = next;
    }
}

int weft_ctx_cancel_run(weft_ctx_t *ctx)
{
    weft_task_t *t = cur(ctx);
    if (!t)
        return WEFT_EINVAL;
    weft__graph_stop(t->graph, STOP_CANCEL);
    return 0;
}

int weft_ctx_stopping(const weft_ctx_t *ctx)
{
    weft_task_t *t = cur(ctx);
    return t && atomic_load_explicit(&t->graph->stop, memory_order_relaxed) != STOP_NONE;
}

int weft_ctx_should_stop(const weft_ctx_t *ctx)
{
    if (!cur(ctx))
        return 0;
    if (ctx->deadline_ns && weft__clock_ns() >= ctx->deadline_ns)
        return 1;
    return weft_ctx_stopping(ctx);
}

const weft__grant_t *weft__ctx_grant(const weft_ctx_t *ctx)
{
    return cur(ctx) ? ctx->grant : NULL;
}

int weft_ctx_gpus(const weft_ctx_t *ctx, int *devices, int max)
{
    if (!cur(ctx) || !ctx->grant)
        return 0;
    for (int i = 0; devices && i < max && i < ctx->ngpus; i++)
        devices[i] = ctx->grant->devs[i];
    return ctx->ngpus;
}

int weft_ctx_attempt(const weft_ctx_t *ctx)
{
    return cur(ctx) ? (ctx->attempt ? ctx->attempt : 1) : 0;
}

weft__pool_t *weft__ctx_pool(const weft_ctx_t *ctx)
{
    return ctx && ctx->w ? ctx->w->pool : NULL;
}
