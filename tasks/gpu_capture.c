/* CUDA graph tasks (weft_graph_add_cuda_graph): a subgraph of GPU tasks
 * captured once into a CUDA graph on the task's stream and replayed at
 * every run, captured again when the subgraph changed. */
#include "tasks/gpu_internal.h"

/* ==== CUDA graphs: a subgraph captured once, replayed at every run ================= */

typedef struct gcap {
    weft_graph_t *sub;
    const weft__gpu_ops_t *ops; /* of graph and exec */
    int dev;                    /* device they belong to, -1: none */
    uint32_t version;           /* sub's version when captured */
    void *graph, *exec;
} gcap_t;

static int capture_fn(weft_ctx_t *ctx, void *arg);

static void cap_release(gcap_t *c)
{
    if (c->exec)
        c->ops->exec_destroy(c->exec); /* freed once a launch in flight ends */
    if (c->graph)
        c->ops->graph_destroy(c->graph);
    c->exec = c->graph = NULL;
    c->dev = -1;
}

static const char *task_label(const weft_task_t *t, size_t i, char *buf, size_t size)
{
    const char *n = weft_task_name(t);
    if (n && n[0])
        return n;
    snprintf(buf, size, "#%zu", i);
    return buf;
}

/* Checks that every task of sub may be captured on device d; returns the
 * tasks in an order where each comes after its dependencies (NULL with
 * the reason in og->msg). */
static uint32_t *capture_order(gtask_t *og, weft_graph_t *sub, int d, int *rc)
{
    gx_t *sx = weft__graph_kind_state(sub, &weft__gpu_kind);
    size_t n = weft_graph_size(sub);
    char lb[32];
    *rc = WEFT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        weft_task_t *t = weft_graph_task(sub, i);
        const char *name = task_label(t, i, lb, sizeof lb);
        if (!sx || !is_gpu(t)) {
            snprintf(og->msg, sizeof og->msg,
                     "task '%s' of the captured graph is not a GPU task (a CUDA graph holds GPU tasks only)", name);
            return NULL;
        }
        const gtask_t *gt = gtask_of(t);
        if (gt->fn == capture_fn) {
            snprintf(og->msg, sizeof og->msg,
                     "task '%s' of the captured graph is a CUDA graph task itself "
                     "(captures do not nest)",
                     name);
            return NULL;
        }
        if (gt->want >= 0 && gt->want != d) {
            snprintf(og->msg, sizeof og->msg,
                     "task '%s' of the captured graph names device %d but the graph "
                     "runs on device %d",
                     name, gt->want, d);
            return NULL;
        }
    }
    /* every task is a GPU task: sx->t[gi] are all of them */
    uint32_t *order = weft__malloc((n ? n : 1) * sizeof *order), *left = weft__calloc(n ? n : 1, sizeof *left);
    *rc = WEFT_ENOMEM;
    if (!order || !left) {
        weft__free(order);
        weft__free(left);
        return NULL;
    }
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++) {
        left[i] = (uint32_t)weft__task_ndeps(sx->t[i]->task);
        if (!left[i])
            order[tail++] = (uint32_t)i;
    }
    while (head < tail) {
        weft_task_t *t = sx->t[order[head++]]->task;
        for (size_t k = 0, ns = weft__task_nsucc(t); k < ns; k++) {
            uint32_t s = gtask_of(weft__task_succ(t, k))->gi;
            if (--left[s] == 0)
                order[tail++] = s;
        }
    }
    weft__free(left);
    if (tail < n) {
        snprintf(og->msg, sizeof og->msg, "the captured graph has a cycle");
        weft__free(order);
        *rc = WEFT_ECYCLE;
        return NULL;
    }
    *rc = 0;
    return order;
}

/* Captures c->sub for device cur->dev: each task's function is called
 * once, with its work recorded on the device's capture stream into a
 * graph of its own, added as a child node after the nodes of its
 * dependencies; the whole is instantiated. */
static int capture(weft__gpu_t *x, gcap_t *c, weft_ctx_t *ctx, gcur_t *cur)
{
    const weft__gpu_ops_t *ops = x->ops;
    gtask_t *og = cur->gt;
    int d = cur->dev, rc;
    if (!ops->capture_begin) {
        snprintf(og->msg, sizeof og->msg, "CUDA graphs are not supported by the '%s' GPU backend", ops->name);
        return WEFT_ENOTSUP;
    }
    uint32_t *order = capture_order(og, c->sub, d, &rc);
    if (!order)
        return rc;
    gx_t *sx = weft__graph_kind_state(c->sub, &weft__gpu_kind);
    size_t n = weft_graph_size(c->sub), maxdeps = 1;
    for (size_t i = 0; i < n; i++)
        if (weft__task_ndeps(sx->t[i]->task) > maxdeps)
            maxdeps = weft__task_ndeps(sx->t[i]->task);
    void **node = weft__calloc(n ? n : 1, sizeof *node), **deps = weft__malloc(maxdeps * sizeof *deps);
    void *graph = NULL, *exec = NULL;
    int err = 0;
    rc = 0;
    pthread_mutex_lock(&x->capture_lock);
    gdev_t *v = &x->dev[d];
    if (!node || !deps)
        rc = WEFT_ENOMEM;
    else if ((!v->capture_s && (err = ops->stream_create(d, &v->capture_s)) != 0) ||
             (err = ops->graph_create(&graph)) != 0)
        snprintf(og->msg, sizeof og->msg, "cannot set a CUDA graph up: ");
    for (size_t k = 0; k < n && !rc && !err; k++) {
        gtask_t *gt = sx->t[order[k]];
        char lb[32];
        const char *name = task_label(gt->task, order[k], lb, sizeof lb);
        void *child = NULL;
        ops->last_error();
        if ((err = ops->capture_begin(v->capture_s)) != 0) {
            snprintf(og->msg, sizeof og->msg, "task '%s' cannot be captured: ", name);
            break;
        }
        gcur_t in = {ctx, gt, v->capture_s, d, 1};
        weft__gpu_tls_cur = &in;
        weft__stream_set(v->capture_s, d);
        int frc = gt->fn(ctx, gt->arg);
        weft__stream_set(cur->stream, d);
        weft__gpu_tls_cur = cur;
        int lerr = ops->last_error();
        err = ops->capture_end(v->capture_s, &child);
        ops->set_device(d);
        if (frc) {
            snprintf(og->msg, sizeof og->msg, "task '%s' of the captured graph returned %d", name, frc);
            rc = frc;
        } else if (lerr || err) {
            err = lerr ? lerr : err;
            snprintf(og->msg, sizeof og->msg,
                     "task '%s' cannot be captured (its function may only enqueue "
                     "work on weft_ctx_stream): ",
                     name);
        } else {
            weft_task_t *t = gt->task;
            size_t nd = weft__task_ndeps(t);
            for (size_t i = 0; i < nd; i++)
                deps[i] = node[gtask_of(weft__task_pred(t, i))->gi];
            if ((err = ops->graph_add_child(graph, child, deps, nd, &node[order[k]])) != 0)
                snprintf(og->msg, sizeof og->msg, "cannot add task '%s' to the CUDA graph: ", name);
        }
        if (child)
            ops->graph_destroy(child);
    }
    if (!rc && !err && (err = ops->graph_instantiate(graph, &exec)) != 0)
        snprintf(og->msg, sizeof og->msg, "cannot instantiate the CUDA graph: ");
    pthread_mutex_unlock(&x->capture_lock);
    ops->last_error();
    weft__free(order);
    weft__free(node);
    weft__free(deps);
    if (rc || err) {
        if (graph)
            ops->graph_destroy(graph);
        if (err) {
            size_t len = strlen(og->msg);
            ops->describe(err, og->msg + len, sizeof og->msg - len);
            return WEFT_EDEVICE;
        }
        return rc;
    }
    c->graph = graph;
    c->exec = exec;
    return 0;
}

/* The function of a CUDA graph task (run by gpu_body like any GPU task's):
 * captures the subgraph when it has none for this device or the subgraph
 * changed since, then launches it on the task's stream. */
static int capture_fn(weft_ctx_t *ctx, void *arg)
{
    gcap_t *c = arg;
    gcur_t *cur = weft__gpu_tls_cur;
    weft__gpu_t *x = weft__pool_executor(weft__ctx_pool(ctx), WEFT__EXEC_GPU);
    if (!cur || !x)
        return WEFT_EINVAL;
    uint32_t version = weft__graph_version(c->sub);
    if (!c->exec || c->dev != cur->dev || c->ops != x->ops || c->version != version) {
        if (c->ops)
            cap_release(c);
        c->ops = x->ops;
        int rc = capture(x, c, ctx, cur);
        if (rc)
            return rc;
        c->dev = cur->dev;
        c->version = version;
    }
    int err = x->ops->graph_launch(c->exec, cur->stream);
    return err ? weft__gpu_device_error(x, cur->gt, err) : 0;
}

/* What a CUDA graph task holds (its gcap_t), when gt is one: freed with
 * its graph (the GPU kind's cleanup). */
void weft__gpu_capture_drop(gtask_t *gt)
{
    if (gt->fn != capture_fn)
        return;
    gcap_t *c = gt->arg;
    if (c->ops)
        cap_release(c);
    weft__free(c);
}

int weft_graph_add_cuda_graph(weft_graph_t *g, const char *name, weft_graph_t *sub, int device, weft_task_t **out)
{
    if (out)
        *out = NULL;
    if (!g || !sub || sub == g || !out || device < WEFT_DEVICE_ANY || device >= GPU_MAX_DEVICES)
        return WEFT_EINVAL;
    gcap_t *c = weft__calloc(1, sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    c->sub = sub;
    c->dev = -1;
    int rc = weft_graph_add_cuda_ex(g, name, capture_fn, c, device, out);
    if (rc)
        weft__free(c);
    return rc;
}
