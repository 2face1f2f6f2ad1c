/* workloads/kernels — the GPU version of poisson2d (poisson_cuda.cu,
 * compiled by nvcc; poisson_nogpu.c when weft is built without nvcc).
 * Module-private: poisson.c calls it for `device = "gpu"`. */
#ifndef WEFT_WORKLOADS_POISSON_GPU_H
#define WEFT_WORKLOADS_POISSON_GPU_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft__poisson_out {
    long long iterations;
    double residual, error, seconds;
    char msg[256]; /* why it failed */
} weft__poisson_out_t;

/* Solves on `device`; stopping(ud) is asked between batches of sweeps.
 * 0: solved or ran out of iterations (see residual); -1: a CUDA error;
 * -2: no such device or no CUDA (msg says which). */
int weft__poisson2d_gpu(long long n, double tol, long long max_iters, int device, int (*stopping)(void *), void *ud,
                        weft__poisson_out_t *out);

#ifdef __cplusplus
}
#endif
#endif
