/* The execution-context record: what the calling thread is running, as
 * the scheduler says, for the layers below it (memory) that must not know
 * the scheduler. See base/base.h. */
#include "base/base.h"

#include <stdatomic.h>
#include <stdio.h>

static _Thread_local const weft__exec_t *current;
static _Atomic(const weft__exec_task_ops_t *) task_ops;

const weft__exec_t *weft__exec_current(void)
{
    return current;
}

const weft__exec_t *weft__exec_set(const weft__exec_t *e)
{
    const weft__exec_t *prev = current;
    current = e;
    return prev;
}

void weft__exec_set_task_ops(const weft__exec_task_ops_t *ops)
{
    atomic_store_explicit(&task_ops, ops, memory_order_release);
}

const char *weft__exec_task_label(const weft_task_t *t, char *buf, size_t size)
{
    const weft__exec_task_ops_t *o = atomic_load_explicit(&task_ops, memory_order_acquire);
    if (!o || !t) {
        snprintf(buf, size, "?");
        return buf;
    }
    return o->label(t, buf, size);
}

uint64_t *weft__exec_task_mem_tag(weft_task_t *t)
{
    const weft__exec_task_ops_t *o = atomic_load_explicit(&task_ops, memory_order_acquire);
    return o && t ? o->mem_tag(t) : NULL;
}
