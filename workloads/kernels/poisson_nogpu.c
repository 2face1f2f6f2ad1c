/* poisson2d's GPU version in a build without nvcc (poisson_gpu.h). */
#include "workloads/kernels/poisson_gpu.h"

#include <stdio.h>

int weft__poisson2d_gpu(long long n, double tol, long long max_iters, int device, int (*stopping)(void *), void *ud,
                        weft__poisson_out_t *out)
{
    (void)n;
    (void)tol;
    (void)max_iters;
    (void)device;
    (void)stopping;
    (void)ud;
    snprintf(out->msg, sizeof out->msg, "weft was built without CUDA (nvcc not found)");
    return -2;
}
