/* The two trivial kernels: noop (the runtime's own overhead) and sleep. */
#include "workloads/kernels/kernels.h"

#include <errno.h>
#include <time.h>

int weft__kernel_noop(weft__kctx_t *k);
int weft__kernel_sleep(weft__kctx_t *k);

int weft__kernel_noop(weft__kctx_t *k)
{
    int rc = weft__kargs_check(k, weft__kernel_find("noop"));
    return rc < 0 ? rc : 0;
}

int weft__kernel_sleep(weft__kctx_t *k)
{
    double s = weft__karg_float(k, "seconds", -1, 0, 1e7);
    int rc = weft__kargs_check(k, weft__kernel_find("sleep"));
    if (rc)
        return rc < 0 ? rc : 0;
    /* In slices, so that a stopping run does not wait for a long sleep. */
    while (s > 0 && !weft__kstopping(k)) {
        double slice = s < 0.05 ? s : 0.05;
        struct timespec ts = {(time_t)slice, (long)((slice - (double)(time_t)slice) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        s -= slice;
    }
    if (s > 0)
        return weft__kfail(k, "stopped before it finished");
    return 0;
}
