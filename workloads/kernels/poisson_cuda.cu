// poisson2d on a CUDA device: the same problem, iteration and stopping
// rule as the CPU kernel (poisson.c) — Jacobi sweeps on the five-point
// stencil until 4/h^2 * ||u_new - u||_2 / ||f||_2 <= tol — in double
// precision. Each sweep adds its squared update to a per-sweep slot, and
// the slots of a batch of sweeps are copied back at once, so the host
// waits once per batch, not per sweep: the reported iteration count is the
// first sweep that met the tolerance (as on the CPU); the grid went on to
// the end of its batch (at most BATCH - 1 more sweeps, which only shrink
// the residual). The maximum error against the exact solution is computed
// on the host from the final grid.
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "workloads/kernels/poisson_gpu.h"

#define BATCH 64
#define TILE 16

__global__ void weft_poisson_init(double *f, size_t w, double h)
{
    size_t i = blockIdx.y * blockDim.y + threadIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= w || j >= w)
        return;
    const double pi = 3.14159265358979323846;
    f[i * w + j] = 2 * pi * pi * sin(pi * (double)i * h) * sin(pi * (double)j * h);
}

__global__ void weft_poisson_sweep(const double *u, double *v, const double *f, size_t n, size_t w,
                                   double h2, double *sum)
{
    __shared__ double part[TILE * TILE];
    size_t i = 1 + blockIdx.y * blockDim.y + threadIdx.y, j = 1 + blockIdx.x * blockDim.x + threadIdx.x;
    unsigned t = threadIdx.y * blockDim.x + threadIdx.x;
    double d2 = 0;
    if (i <= n && j <= n) {
        size_t c = i * w + j;
        double nu = 0.25 * (u[c - w] + u[c + w] + u[c - 1] + u[c + 1] + h2 * f[c]);
        double d = nu - u[c];
        d2 = d * d;
        v[c] = nu;
    }
    part[t] = d2;
    __syncthreads();
    for (unsigned s = TILE * TILE / 2; s > 0; s >>= 1) {
        if (t < s)
            part[t] += part[t + s];
        __syncthreads();
    }
    if (t == 0)
        atomicAdd(sum, part[0]);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define TRY(call)                                                                                  \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            snprintf(out->msg, sizeof out->msg, "CUDA error %d %s: %s (device %d)", (int)e_,       \
                     cudaGetErrorName(e_), cudaGetErrorString(e_), device);                        \
            rc = -1;                                                                               \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

extern "C" int weft__poisson2d_gpu(long long n, double tol, long long max_iters, int device,
                                   int (*stopping)(void *), void *ud, weft__poisson_out_t *out)
{
    int rc = 0, ndev = 0;
    size_t w = (size_t)n + 2, bytes = w * w * sizeof(double);
    double *u = NULL, *v = NULL, *f = NULL, *sums = NULL, *host = NULL, *hsum = NULL;
    cudaStream_t s = NULL;
    out->msg[0] = '\0';
    out->iterations = 0;
    out->residual = INFINITY;
    out->error = 0;
    cudaError_t ce = cudaGetDeviceCount(&ndev);
    if (ce != cudaSuccess || ndev == 0) {
        cudaGetLastError();
        snprintf(out->msg, sizeof out->msg, "no CUDA device (%s)",
                 ce != cudaSuccess ? cudaGetErrorString(ce) : "the driver sees none");
        return -2;
    }
    if (device < 0 || device >= ndev) {
        snprintf(out->msg, sizeof out->msg, "device %d does not exist (%d devices)", device, ndev);
        return -2;
    }
    const double h = 1.0 / (double)(n + 1), h2 = h * h;
    double fnorm = 0, t0 = seconds();
    dim3 blk(TILE, TILE), grid((unsigned)((n + TILE - 1) / TILE), (unsigned)((n + TILE - 1) / TILE)),
        gridw((unsigned)((w + TILE - 1) / TILE), (unsigned)((w + TILE - 1) / TILE));
    TRY(cudaSetDevice(device));
    TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    TRY(cudaMalloc(&u, bytes));
    TRY(cudaMalloc(&v, bytes));
    TRY(cudaMalloc(&f, bytes));
    TRY(cudaMalloc(&sums, BATCH * sizeof(double)));
    TRY(cudaMallocHost(&hsum, BATCH * sizeof(double)));
    TRY(cudaMallocHost(&host, bytes));
    TRY(cudaMemsetAsync(u, 0, bytes, s));
    TRY(cudaMemsetAsync(v, 0, bytes, s));
    weft_poisson_init<<<gridw, blk, 0, s>>>(f, w, h);
    TRY(cudaGetLastError());
    /* ||f|| over the interior, from the host (as the CPU kernel) */
    TRY(cudaMemcpyAsync(host, f, bytes, cudaMemcpyDeviceToHost, s));
    TRY(cudaStreamSynchronize(s));
    for (size_t i = 1; i <= (size_t)n; i++)
        for (size_t j = 1; j <= (size_t)n; j++)
            fnorm += host[i * w + j] * host[i * w + j];
    fnorm = sqrt(fnorm);
    for (long long done_ = 0; done_ < max_iters && out->residual > tol;) {
        long long b = max_iters - done_ < BATCH ? max_iters - done_ : BATCH;
        TRY(cudaMemsetAsync(sums, 0, BATCH * sizeof(double), s));
        for (long long k = 0; k < b; k++) {
            weft_poisson_sweep<<<grid, blk, 0, s>>>(u, v, f, (size_t)n, w, h2, sums + k);
            double *t = u;
            u = v;
            v = t;
        }
        TRY(cudaGetLastError());
        TRY(cudaMemcpyAsync(hsum, sums, (size_t)b * sizeof(double), cudaMemcpyDeviceToHost, s));
        TRY(cudaStreamSynchronize(s));
        for (long long k = 0; k < b; k++) {
            out->iterations = done_ + k + 1;
            out->residual = 4 / h2 * sqrt(hsum[k]) / fnorm;
            if (out->residual <= tol)
                break;
        }
        done_ += b;
        if (stopping && stopping(ud))
            break;
    }
    TRY(cudaMemcpyAsync(host, u, bytes, cudaMemcpyDeviceToHost, s));
    TRY(cudaStreamSynchronize(s));
    {
        const double pi = 3.14159265358979323846;
        for (size_t i = 1; i <= (size_t)n; i++)
            for (size_t j = 1; j <= (size_t)n; j++) {
                double e = fabs(host[i * w + j] - sin(pi * (double)i * h) * sin(pi * (double)j * h));
                out->error = e > out->error ? e : out->error;
            }
    }
done:
    out->seconds = seconds() - t0;
    if (s)
        cudaStreamSynchronize(s);
    cudaFree(u);
    cudaFree(v);
    cudaFree(f);
    cudaFree(sums);
    cudaFreeHost(hsum);
    cudaFreeHost(host);
    if (s)
        cudaStreamDestroy(s);
    return rc;
}
