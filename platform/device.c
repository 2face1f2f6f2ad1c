/* Which GPU backend runtimes use (platform/device.h): the compiled-in one,
 * or a test's. */
#include "platform/device.h"

#include <stdatomic.h>

static _Atomic(const weft__gpu_ops_t *) g_ops;

void weft__gpu_set_ops(const weft__gpu_ops_t *ops)
{
    atomic_store(&g_ops, ops);
}

const weft__gpu_ops_t *weft__gpu_current_ops(void)
{
    const weft__gpu_ops_t *o = atomic_load(&g_ops);
    return o ? o : &weft__gpu_default_ops;
}
