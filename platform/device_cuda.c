/* GPU discovery through the CUDA runtime. The only file (so far) that
 * includes <cuda_runtime.h>. */
#include "platform/device.h"

#include <cuda_runtime.h>
#include <stdio.h>

#include "weft/error.h"

int weft__device_probe(char *why, size_t size)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) { /* no driver or no device: a CPU-only machine */
        snprintf(why, size, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "the driver sees none");
        cudaGetLastError(); /* not sticky: clear it */
        return 0;
    }
    return n;
}

int weft__device_count(void)
{
    char why[160];
    return weft__device_probe(why, sizeof why);
}

int weft__device_select(int dev)
{
    if (cudaSetDevice(dev) == cudaSuccess)
        return 0;
    cudaGetLastError();
    return WEFT_EDEVICE;
}

const char *weft__device_backend(void)
{
    return "cuda";
}
