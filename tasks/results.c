/* Tensors as task results: weft_ctx_publish (include/weft/tensor.h) puts
 * a tensor in the running task's shared result, released when its last
 * consumer finishes; weft__task_tensor finds it again (GPU tasks move it
 * between memories). The task layer joins the scheduler's results and the
 * memory module's tensors, which know nothing of each other. */
#include "tasks/tasks.h"

#include "memory/memory.h"
#include "scheduler/scheduler.h"
#include "weft/tensor.h"

static void release_result(void *p)
{
    weft_tensor_release(p);
}

int weft_ctx_publish(weft_ctx_t *ctx, weft_tensor_t *t)
{
    if (!ctx || !t)
        return WEFT_EINVAL;
    int rc = weft_ctx_share_result(ctx, t, release_result);
    if (rc == 0) { /* copies of what it held before are stale */
        weft__tensor_lock(t);
        weft__tensor_mirrors_drop(t);
        weft__tensor_unlock(t);
    }
    return rc;
}

weft_tensor_t *weft__task_tensor(const weft_task_t *t)
{
    void (*dtor)(void *);
    void *r = weft__task_result(t, &dtor);
    return dtor == release_result ? r : NULL;
}
